-- The connectors registered for site $1 (every site when NULL), by site and name, with when
-- their last full snapshot was recorded. Plain read.
SELECT k.site, k.connector, k.model, k.mass_delete_percent, k.mass_delete_minimum,
       k.registered_at, k.last_full_plan_at, o.observed_at AS last_observed_at
FROM provision.connector k
LEFT JOIN provision.observation o ON o.site = k.site AND o.connector = k.connector
WHERE $1::text IS NULL OR k.site = $1
ORDER BY k.site, k.connector
