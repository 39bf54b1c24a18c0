-- Creates a person (name $1, email $2, organization $3, first $4, middle $5 and last $6
-- names; with no name parts, registry.fill_name_parts takes them from the name). Inserts one
-- row.
INSERT INTO registry.person AS p (name, email, organization_id, first_name, middle_name, last_name)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING to_jsonb(p) AS item
