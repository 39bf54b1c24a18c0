-- Creates a person (name $1, email $2, organization $3). Inserts one row.
INSERT INTO registry.person AS p (name, email, organization_id) VALUES ($1, $2, $3)
RETURNING to_jsonb(p) AS item
