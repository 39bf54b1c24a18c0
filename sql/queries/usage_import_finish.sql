-- Marks an import finished. Locks the import's row.
UPDATE registry.usage_import SET finished_at = now() WHERE id = $1
