-- Creates an allocation of project $1 on cluster $2 under Slurm account $3 with $4 SUs from $5
-- to $6. $7 (resource ids) and $8 (their SU limits, NULL for none) are the resources it
-- includes; $7 NULL includes every resource of the cluster, without limits (no
-- allocation_resource rows: registry.allocation_included_resource). Inserts the allocation, its
-- running sums (by trigger) and its allocation_resource rows, in one statement; a resource of
-- another cluster fails the allocation_resource foreign key.
WITH created AS (
    INSERT INTO registry.allocation AS a (project_id, cluster_id, account_name, initial_su, starts_at, ends_at)
    VALUES ($1, $2, $3, $4::numeric, $5::timestamptz, $6::timestamptz)
    RETURNING a.*
), included AS (
    INSERT INTO registry.allocation_resource (allocation_id, resource_id, cluster_id, amount_su)
    SELECT created.id, chosen.resource_id, created.cluster_id, chosen.limit_su
    FROM created, unnest($7::uuid[], $8::numeric[]) AS chosen(resource_id, limit_su)
)
SELECT api.allocation_item(created::registry.allocation) AS item FROM created
