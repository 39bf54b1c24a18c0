-- Gives person $1 the account $3 (uid $4) on cluster $2. Inserts one row.
INSERT INTO registry.cluster_account AS ca (person_id, cluster_id, username, uid) VALUES ($1, $2, $3, $4)
RETURNING to_jsonb(ca) AS item
