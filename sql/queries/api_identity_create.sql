-- Links person $1 to external identity $3 at source $2. Inserts one row.
INSERT INTO registry.identity AS i (person_id, source, external_id) VALUES ($1, $2, $3)
RETURNING to_jsonb(i) AS item
