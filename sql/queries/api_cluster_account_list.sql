-- Person $3's cluster accounts by id after cursor $1, at most $2, optionally on cluster $4.
-- Plain read.
SELECT to_jsonb(ca) AS item
FROM registry.cluster_account ca
WHERE ca.person_id = $3
  AND ca.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($4::uuid IS NULL OR ca.cluster_id = $4)
ORDER BY ca.id
LIMIT $2
