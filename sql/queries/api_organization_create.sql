-- Creates an organization named $1, from origination $2 with originated id $3 (both NULL
-- when it has no outside id). Inserts one row.
INSERT INTO registry.organization AS o (name, origination, originated_id) VALUES ($1, $2, $3) RETURNING to_jsonb(o) AS item
