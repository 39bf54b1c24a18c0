-- Serialises `purser migrate` runs: a session-level advisory lock held by the migrating
-- connection, released when it unlocks or disconnects, so two concurrent migrates never
-- apply the same migration twice. Blocks until the other migrator is done.
SELECT pg_advisory_lock(hashtextextended('purser.migrate', 0))
