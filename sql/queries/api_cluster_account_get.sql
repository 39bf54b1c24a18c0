-- Person $1's cluster account $2. Plain read.
SELECT to_jsonb(ca) AS item FROM registry.cluster_account ca WHERE ca.person_id = $1 AND ca.id = $2
