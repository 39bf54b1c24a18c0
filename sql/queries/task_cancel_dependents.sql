-- Cancels the tasks waiting, directly or not, on the dead tasks $1, with the reason $2.
-- Locks: the dependents' rows, by update.
SELECT queue.cancel_dependents($1::bigint[], $2::text) AS cancelled
