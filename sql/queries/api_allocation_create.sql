-- Creates an allocation of project $1 on cluster $2 under Slurm account $3 with $4 SUs from $5
-- to $6, covering every resource of the cluster. Inserts the allocation, its running sums
-- (by trigger) and one allocation_resource row per resource, in one statement.
WITH created AS (
    INSERT INTO registry.allocation AS a (project_id, cluster_id, account_name, initial_su, starts_at, ends_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING a.*
), covered AS (
    INSERT INTO registry.allocation_resource (allocation_id, resource_id, cluster_id)
    SELECT created.id, r.id, r.cluster_id FROM created JOIN registry.resource r ON r.cluster_id = created.cluster_id
)
SELECT api.allocation_item(created::registry.allocation) AS item FROM created
