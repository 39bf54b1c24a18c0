-- Releases the lock taken by migration_lock.
SELECT pg_advisory_unlock(hashtextextended('purser.migrate', 0))
