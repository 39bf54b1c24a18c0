-- Records the start of a usage import of cluster $1 from source $2 in format $3; returns its
-- id. The connection takes the import's session-level advisory lock
-- (registry.usage_import_lock_key) in the same statement, and holds it until the import
-- finishes or fails, or the connection is lost. Imports left unfinished whose lock nobody holds
-- (their importer died) are marked failed first. Inserts one row; updates the abandoned ones.
WITH abandoned AS (
    UPDATE registry.usage_import i
       SET finished_at = now(),
           failure = 'the importer stopped before the import finished (its connection to the database was lost); import the file again'
     WHERE i.finished_at IS NULL AND NOT registry.usage_import_alive(i.id)
), started AS (
    INSERT INTO registry.usage_import (cluster_id, source, format) VALUES ($1, $2, $3) RETURNING id
)
SELECT id, pg_advisory_lock(registry.usage_import_lock_key(id))::text AS locked FROM started
