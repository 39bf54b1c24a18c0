-- Cancels task $1 and the tasks waiting on it (queue.cancel). Locks the task row.
SELECT queue.cancel($1::bigint)::text AS state
