-- Who should have access where now (report.desired_access), by membership key after the
-- cursor $1 (a JSON array: allocation, person), at most $2, filtered by cluster $3, person $4
-- and allocation $5. Scoped callers ($6) see themselves ($8) and the allocations they lead
-- ($7). Plain read.
SELECT to_jsonb(d) AS item
FROM report.desired_access d
WHERE ($1::jsonb IS NULL OR (d.allocation_id, d.person_id) > (($1->>0)::uuid, ($1->>1)::uuid))
  AND ($3::uuid IS NULL OR d.cluster_id = $3)
  AND ($4::uuid IS NULL OR d.person_id = $4)
  AND ($5::uuid IS NULL OR d.allocation_id = $5)
  AND (NOT $6::boolean OR d.person_id = $8::uuid OR api.sees_allocation(d.allocation_id, $7, NULL))
ORDER BY d.allocation_id, d.person_id
LIMIT $2
