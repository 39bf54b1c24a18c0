-- Marks worker $1 alive now. Locks its row; the update is HOT.
UPDATE queue.worker SET last_seen_at = now() WHERE id = $1
