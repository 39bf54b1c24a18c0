-- Projects by id after cursor $1, at most $2, filtered by PI $3, status $4 and organization $5.
-- Scoped callers ($6) see the projects they lead ($7) or have a membership in ($8). Plain read.
SELECT to_jsonb(p) AS item
FROM registry.project p
WHERE p.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($3::uuid IS NULL OR p.pi_id = $3)
  AND ($4::text IS NULL OR p.status = $4)
  AND ($5::uuid IS NULL OR p.organization_id = $5)
  AND (NOT $6::boolean OR p.pi_id = $7::uuid
       OR EXISTS (SELECT 1 FROM registry.allocation a JOIN registry.membership m ON m.allocation_id = a.id
                  WHERE a.project_id = p.id AND m.person_id = $8::uuid))
ORDER BY p.id
LIMIT $2
