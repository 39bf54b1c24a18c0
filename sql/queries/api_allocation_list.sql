-- Allocations by id after cursor $1, at most $2, filtered by project $3, cluster $4 and status
-- $5. Scoped callers ($6) see those of projects they lead ($7) or belong to ($8). Plain read.
SELECT api.allocation_item(a) AS item
FROM registry.allocation a
WHERE a.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($3::uuid IS NULL OR a.project_id = $3)
  AND ($4::uuid IS NULL OR a.cluster_id = $4)
  AND ($5::text IS NULL OR a.status = $5)
  AND (NOT $6::boolean OR api.sees_allocation(a.id, $7, $8))
ORDER BY a.id
LIMIT $2
