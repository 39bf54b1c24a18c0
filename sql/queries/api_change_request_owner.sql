-- Change request $1's requester and allocation, for the API's authorization before a decision.
-- Plain read.
SELECT requester_id, allocation_id FROM registry.change_request WHERE id = $1
