-- Every membership's access conditions and verdict (report.access_explain), by membership key
-- after the cursor $1 (a JSON array: allocation, person), at most $2, filtered by cluster $3,
-- person $4, allocation $5 and verdict $6. Scoped callers ($7) see themselves ($9) and the
-- allocations they lead ($8). Plain read.
SELECT to_jsonb(x) AS item
FROM report.access_explain x
WHERE ($1::jsonb IS NULL OR (x.allocation_id, x.person_id) > (($1->>0)::uuid, ($1->>1)::uuid))
  AND ($3::uuid IS NULL OR x.cluster_id = $3)
  AND ($4::uuid IS NULL OR x.person_id = $4)
  AND ($5::uuid IS NULL OR x.allocation_id = $5)
  AND ($6::boolean IS NULL OR x.granted = $6)
  AND (NOT $7::boolean OR x.person_id = $9::uuid OR api.sees_allocation(x.allocation_id, $8, NULL))
ORDER BY x.allocation_id, x.person_id
LIMIT $2
