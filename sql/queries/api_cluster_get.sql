-- One cluster. Plain read.
SELECT to_jsonb(c) AS item FROM registry.cluster c WHERE c.id = $1
