-- Change requests by id after cursor $1, at most $2, filtered by allocation $3, state $4 and
-- requester $5. Scoped callers ($6) see their own requests ($8) and those on allocations they
-- lead ($7). Plain read.
SELECT api.change_request_item(r) AS item
FROM registry.change_request r
WHERE r.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($3::uuid IS NULL OR r.allocation_id = $3)
  AND ($4::text IS NULL OR r.state = $4)
  AND ($5::uuid IS NULL OR r.requester_id = $5)
  AND (NOT $6::boolean OR r.requester_id = $8::uuid OR api.sees_allocation(r.allocation_id, $7, NULL))
ORDER BY r.id
LIMIT $2
