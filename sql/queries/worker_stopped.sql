-- Marks worker $1 cleanly stopped. Locks its row.
UPDATE queue.worker SET stopped_at = now(), last_seen_at = now() WHERE id = $1
