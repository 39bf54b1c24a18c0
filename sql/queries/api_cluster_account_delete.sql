-- Removes person $1's cluster account $2; returns it as it was. Deletes one row (its audit
-- trigger records it).
DELETE FROM registry.cluster_account ca WHERE ca.id = $2 AND ca.person_id = $1 RETURNING to_jsonb(ca) AS item
