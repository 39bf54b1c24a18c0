-- Resources by id after cursor $1, at most $2, optionally of cluster $3. Plain read.
SELECT to_jsonb(r) AS item
FROM registry.resource r
WHERE r.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($3::uuid IS NULL OR r.cluster_id = $3)
ORDER BY r.id
LIMIT $2
