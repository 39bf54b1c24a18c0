-- The person an external identity ($1 source, $2 external id) belongs to, for OIDC callers.
-- Plain read.
SELECT person_id FROM registry.identity WHERE source = $1 AND external_id = $2
