-- Allocation $1's charges by end time, after the cursor ($2 end time, $3 job, $4 submit time,
-- $5 resource), optionally of person $6, ending from $7 and before $8, at most $9. Uses the
-- (allocation_id, end_time) index. Scoped callers ($10) see the allocations they lead ($11)
-- and their own charges ($12). Plain read.
SELECT api.usage_item(u) AS item
FROM registry.usage u
WHERE u.allocation_id = $1
  AND ($2::timestamptz IS NULL
       OR (u.end_time, u.job_id, u.submit_time, u.resource_id) > ($2, $3::text, $4::timestamptz, $5::uuid))
  AND ($6::uuid IS NULL OR u.person_id = $6)
  AND ($7::timestamptz IS NULL OR u.end_time >= $7)
  AND ($8::timestamptz IS NULL OR u.end_time < $8)
  AND (NOT $10::boolean OR u.person_id = $12::uuid OR api.sees_allocation(u.allocation_id, $11, NULL))
ORDER BY u.end_time, u.job_id, u.submit_time, u.resource_id
LIMIT $9
