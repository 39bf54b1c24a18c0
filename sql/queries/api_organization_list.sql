-- Organizations by id after cursor $1, at most $2, optionally named $3, from origination $4,
-- with originated id $5. Plain read.
SELECT to_jsonb(o) AS item
FROM registry.organization o
WHERE o.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($3::text IS NULL OR o.name = $3)
  AND ($4::text IS NULL OR o.origination = $4)
  AND ($5::text IS NULL OR o.originated_id = $5)
ORDER BY o.id
LIMIT $2
