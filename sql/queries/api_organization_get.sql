-- One organization. Plain read.
SELECT to_jsonb(o) AS item FROM registry.organization o WHERE o.id = $1
