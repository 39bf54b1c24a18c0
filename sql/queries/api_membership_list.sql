-- Memberships by id after cursor $1, at most $2, filtered by allocation $3, person $4 and
-- status $5. Scoped callers ($6) see their own ($8) and those of allocations they lead as PI
-- ($7). Plain read.
SELECT api.membership_item(m) AS item
FROM registry.membership m
WHERE m.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($3::uuid IS NULL OR m.allocation_id = $3)
  AND ($4::uuid IS NULL OR m.person_id = $4)
  AND ($5::text IS NULL OR m.status = $5)
  AND (NOT $6::boolean OR m.person_id = $8::uuid OR api.sees_allocation(m.allocation_id, $7, NULL))
ORDER BY m.id
LIMIT $2
