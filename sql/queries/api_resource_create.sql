-- Creates a resource on cluster $1: name $2, type $3, unit $4, Slurm partition $5 and TRES $6.
-- Inserts one row.
INSERT INTO registry.resource AS r (cluster_id, name, resource_type, unit, slurm_partition, slurm_tres)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING to_jsonb(r) AS item
