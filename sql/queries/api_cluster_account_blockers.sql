-- Cluster account $2 of person $1: its cluster's name, and the Slurm accounts of the person's
-- memberships on that cluster that are not removed (which keep the account from being
-- removed). No row when the person has no such account. Plain read.
SELECT c.name AS cluster,
       array_remove(array_agg(DISTINCT a.account_name), NULL) AS accounts
FROM registry.cluster_account ca
JOIN registry.cluster c ON c.id = ca.cluster_id
LEFT JOIN registry.membership m ON m.person_id = ca.person_id AND m.status <> 'removed'
LEFT JOIN registry.allocation a ON a.id = m.allocation_id AND a.cluster_id = ca.cluster_id
WHERE ca.id = $2 AND ca.person_id = $1
GROUP BY c.name
