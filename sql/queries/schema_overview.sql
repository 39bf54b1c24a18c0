-- What the schema holds: each schema but the system ones and public (where refinery keeps
-- its history) with its comment, and each table, view, domain and
-- function in it with its comment and, for tables, the planner's row estimate (never a
-- count(*), so it stays instant on a big database). Reads the catalog only.
SELECT n.nspname::text AS schema_name,
       obj.kind,
       obj.name,
       obj.estimated_rows,
       coalesce(obj.description, '') AS description,
       coalesce(obj_description(n.oid, 'pg_namespace'), '') AS schema_description
FROM pg_namespace n
LEFT JOIN LATERAL (
    SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                          WHEN 'm' THEN 'materialized view' END AS kind,
           c.relname::text AS name,
           CASE WHEN c.relkind IN ('r', 'p') THEN greatest(c.reltuples, 0)::bigint END AS estimated_rows,
           obj_description(c.oid, 'pg_class') AS description
    FROM pg_class c
    WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
    UNION ALL
    SELECT 'domain', t.typname::text || ' (' || format_type(t.typbasetype, t.typtypmod) || ')', NULL,
           obj_description(t.oid, 'pg_type')
    FROM pg_type t
    WHERE t.typnamespace = n.oid AND t.typtype = 'd'
    UNION ALL
    SELECT 'function', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           NULL, obj_description(p.oid, 'pg_proc')
    FROM pg_proc p
    WHERE p.pronamespace = n.oid AND p.prokind IN ('f', 'p')
) obj ON true
WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname NOT IN ('information_schema', 'public')
ORDER BY n.nspname, obj.kind NULLS FIRST, obj.name
