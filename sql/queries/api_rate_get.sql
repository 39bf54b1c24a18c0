-- Resource $1's rate $2. Plain read.
SELECT api.rate_item(r) AS item FROM registry.resource_rate r WHERE r.resource_id = $1 AND r.id = $2
