-- Marks import $1 finished and releases the session-level advisory lock its importer took at
-- the start (on this connection). Locks the import's row.
UPDATE registry.usage_import SET finished_at = now() WHERE id = $1
RETURNING pg_advisory_unlock(registry.usage_import_lock_key(id))
