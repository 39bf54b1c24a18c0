-- Creates an organization named $1. Inserts one row.
INSERT INTO registry.organization AS o (name) VALUES ($1) RETURNING to_jsonb(o) AS item
