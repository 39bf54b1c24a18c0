-- Allocation $3's diffs by id (oldest first) after cursor $1, at most $2, optionally of kind
-- $4. Scoped callers ($5) see them when they lead ($6) or belong to ($7) the allocation
-- (api.sees_allocation). Plain read.
SELECT api.diff_item(d) AS item
FROM registry.allocation_diff d
WHERE d.allocation_id = $3
  AND d.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($4::text IS NULL OR d.kind = $4)
  AND (NOT $5::boolean OR api.sees_allocation(d.allocation_id, $6, $7))
ORDER BY d.id
LIMIT $2
