-- Change request $1's requester, allocation, kind and SUs, for the API's authorization and
-- checks before a decision. Plain read.
SELECT requester_id, allocation_id, kind, requested_su FROM registry.change_request WHERE id = $1
