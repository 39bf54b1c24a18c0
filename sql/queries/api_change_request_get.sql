-- One change request with its events, if the caller may see it ($2 scoped, $3 PI, $4 self).
-- Plain read.
SELECT api.change_request_item(r) AS item
FROM registry.change_request r
WHERE r.id = $1 AND (NOT $2::boolean OR r.requester_id = $4::uuid OR api.sees_allocation(r.allocation_id, $3, NULL))
