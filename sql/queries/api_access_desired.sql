-- Who should have access where now (report.desired_access), by membership key after the
-- cursor ($1 allocation, $2 person), filtered by cluster $3, person $4 and allocation $5, at
-- most $6. Scoped callers ($7) see themselves ($9) and the allocations they lead ($8).
-- Plain read.
SELECT to_jsonb(d) AS item
FROM report.desired_access d
WHERE ($1::uuid IS NULL OR (d.allocation_id, d.person_id) > ($1, $2::uuid))
  AND ($3::uuid IS NULL OR d.cluster_id = $3)
  AND ($4::uuid IS NULL OR d.person_id = $4)
  AND ($5::uuid IS NULL OR d.allocation_id = $5)
  AND (NOT $7::boolean OR d.person_id = $9::uuid OR api.sees_allocation(d.allocation_id, $8, NULL))
ORDER BY d.allocation_id, d.person_id
LIMIT $6
