-- The person an external identity ($1 source, $2 external id) belongs to, for OIDC callers,
-- with the person's status (an inactive or merged person's subject is refused). Plain read.
SELECT i.person_id, p.status AS person_status
FROM registry.identity i
JOIN registry.person p ON p.id = i.person_id
WHERE i.source = $1 AND i.external_id = $2
