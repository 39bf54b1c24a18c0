-- The rate windows of a cluster's resources (usage import). Plain read.
SELECT r.resource_id, lower(r.valid_during) AS valid_from, upper(r.valid_during) AS valid_until, r.rate
FROM registry.resource_rate r
JOIN registry.resource res ON res.id = r.resource_id
WHERE res.cluster_id = $1
