-- The allocation membership $1 belongs to, for the API's authorization before an update.
-- Plain read.
SELECT allocation_id FROM registry.membership WHERE id = $1
