-- Creates a project: title $1, PI $2, organization $3, origination $4 and its id there $5.
-- Inserts one row.
INSERT INTO registry.project AS p (title, pi_id, organization_id, origination, originated_id)
VALUES ($1, $2, $3, $4, $5)
RETURNING to_jsonb(p) AS item
