-- Person $3's identities by id after cursor $1, at most $2, optionally from source $4.
-- Plain read.
SELECT to_jsonb(i) AS item
FROM registry.identity i
WHERE i.person_id = $3
  AND i.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($4::text IS NULL OR i.source = $4)
ORDER BY i.id
LIMIT $2
