-- A cluster by name, with the time zone its sacct times are in and its usage bounds (margins in
-- whole seconds) (usage import). Plain read.
SELECT id, time_zone, max_tres_count,
       extract(epoch FROM elapsed_margin)::bigint AS elapsed_margin_seconds,
       extract(epoch FROM future_end_margin)::bigint AS future_end_margin_seconds
FROM registry.cluster
WHERE name = $1
