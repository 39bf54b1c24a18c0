-- Organizations by id after cursor $1, at most $2, optionally named $3. Plain read.
SELECT to_jsonb(o) AS item
FROM registry.organization o
WHERE o.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($3::text IS NULL OR o.name = $3)
ORDER BY o.id
LIMIT $2
