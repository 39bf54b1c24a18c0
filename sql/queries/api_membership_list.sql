-- Memberships by id after cursor $1, filtered by allocation $2, person $3 and status $4, at
-- most $5. Scoped callers ($6) see their own ($8) and those of allocations they lead as PI
-- ($7). Plain read.
SELECT api.membership_item(m) AS item
FROM registry.membership m
WHERE m.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($2::uuid IS NULL OR m.allocation_id = $2)
  AND ($3::uuid IS NULL OR m.person_id = $3)
  AND ($4::text IS NULL OR m.status = $4)
  AND (NOT $6::boolean OR m.person_id = $8::uuid OR api.sees_allocation(m.allocation_id, $7, NULL))
ORDER BY m.id
LIMIT $5
