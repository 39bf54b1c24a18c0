-- Removes schedule $1 through queue.unschedule; returns whether it existed. Locks: deletes the
-- row (waiting for a daemon firing it to commit).
SELECT queue.unschedule($1) AS existed
