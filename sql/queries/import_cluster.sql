-- The id of a cluster, by name (usage import). Plain read.
SELECT id FROM registry.cluster WHERE name = $1
