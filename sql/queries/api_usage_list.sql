-- Allocation $3's charges by end time, after the cursor $1 (a JSON array: end time, job,
-- submit time, resource), at most $2, optionally of person $4, ending from $5 and before $6.
-- Uses the (allocation_id, end_time) index. Scoped callers ($7) see the allocations they lead
-- ($8) and their own charges ($9). Plain read.
SELECT api.usage_item(u) AS item
FROM registry.usage u
WHERE u.allocation_id = $3
  AND ($1::jsonb IS NULL
       OR (u.end_time, u.job_id, u.submit_time, u.resource_id)
          > (($1->>0)::timestamptz, $1->>1, ($1->>2)::timestamptz, ($1->>3)::uuid))
  AND ($4::uuid IS NULL OR u.person_id = $4)
  AND ($5::timestamptz IS NULL OR u.end_time >= $5)
  AND ($6::timestamptz IS NULL OR u.end_time < $6)
  AND (NOT $7::boolean OR u.person_id = $9::uuid OR api.sees_allocation(u.allocation_id, $8, NULL))
ORDER BY u.end_time, u.job_id, u.submit_time, u.resource_id
LIMIT $2
