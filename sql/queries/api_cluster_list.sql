-- Clusters by id after cursor $1, at most $2, optionally named $3. Plain read.
SELECT to_jsonb(c) AS item
FROM registry.cluster c
WHERE c.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($3::text IS NULL OR c.name = $3)
ORDER BY c.id
LIMIT $2
