-- Runs dead, cancelled or delayed task $1 again now (queue.retry). Locks the task row.
SELECT queue.retry($1::bigint)::text AS state
