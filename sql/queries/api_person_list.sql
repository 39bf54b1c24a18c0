-- People by id after cursor $1, at most $2, filtered by email $3 (any case), organization $4
-- and status $5. Scoped callers ($6) see themselves ($8) and, as PI ($7), their allocations'
-- members. Plain read.
SELECT to_jsonb(p) AS item
FROM registry.person p
WHERE p.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($3::text IS NULL OR lower(p.email) = lower($3))
  AND ($4::uuid IS NULL OR p.organization_id = $4)
  AND ($5::text IS NULL OR p.status = $5)
  AND (NOT $6::boolean OR p.id = $8::uuid
       OR EXISTS (SELECT 1 FROM registry.membership m
                  JOIN registry.allocation a ON a.id = m.allocation_id
                  JOIN registry.project pr ON pr.id = a.project_id
                  WHERE m.person_id = p.id AND pr.pi_id = $7::uuid))
ORDER BY p.id
LIMIT $2
