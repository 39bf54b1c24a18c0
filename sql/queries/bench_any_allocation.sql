-- One allocation of cluster $1, for the balance benchmark. Plain read.
SELECT id FROM registry.allocation WHERE cluster_id = $1 ORDER BY id LIMIT 1
