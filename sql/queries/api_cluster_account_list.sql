-- Person $1's cluster accounts by id after cursor $2, optionally on cluster $3, at most $4.
-- Plain read.
SELECT to_jsonb(ca) AS item
FROM registry.cluster_account ca
WHERE ca.person_id = $1
  AND ca.id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($3::uuid IS NULL OR ca.cluster_id = $3)
ORDER BY ca.id
LIMIT $4
