-- The columns of every table and view in Purser's schemas (all but the system ones and
-- public), with their types and comments, in column order. Reads the catalog only.
SELECT n.nspname::text AS schema_name,
       c.relname::text AS object_name,
       a.attname::text AS column_name,
       format_type(a.atttypid, a.atttypmod) AS data_type,
       a.attnotnull AS not_null,
       coalesce(col_description(c.oid, a.attnum), '') AS description
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname NOT IN ('information_schema', 'public')
  AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
ORDER BY n.nspname, c.relname, a.attnum
