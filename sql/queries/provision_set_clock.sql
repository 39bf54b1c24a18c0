-- Sets the time this transaction decides access at (registry.now(), which the views and the
-- planning functions read): $1, or the database's now() when NULL. Local to the transaction.
-- Locks: none.
SELECT set_config('purser.now', coalesce($1::timestamptz::text, ''), true) AS now
