-- Creates cluster $1 with description $2. Inserts one row.
INSERT INTO registry.cluster AS c (name, description) VALUES ($1, $2) RETURNING to_jsonb(c) AS item
