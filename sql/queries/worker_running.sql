-- Whether a daemon process with pid $1 is registered and not cleanly stopped. Plain read.
SELECT EXISTS (SELECT 1 FROM queue.worker WHERE pid = $1 AND stopped_at IS NULL) AS running
