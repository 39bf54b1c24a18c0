-- Person $1's identities by id after cursor $2, optionally from source $3, at most $4.
-- Plain read.
SELECT to_jsonb(i) AS item
FROM registry.identity i
WHERE i.person_id = $1
  AND i.id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($3::text IS NULL OR i.source = $3)
ORDER BY i.id
LIMIT $4
