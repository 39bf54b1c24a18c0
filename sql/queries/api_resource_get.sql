-- One resource. Plain read.
SELECT to_jsonb(r) AS item FROM registry.resource r WHERE r.id = $1
