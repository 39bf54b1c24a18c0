-- Adds a batch's counts to an import ($1), in the batch's transaction. Locks the import's row.
UPDATE registry.usage_import
   SET records = records + $2, charges = charges + $3, already_charged = already_charged + $4, rejected = rejected + $5
 WHERE id = $1
