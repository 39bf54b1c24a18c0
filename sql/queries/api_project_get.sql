-- One project, if the caller may see it (scope as in api_project_list: $2 scoped, $3 PI,
-- $4 self). Plain read.
SELECT to_jsonb(p) AS item
FROM registry.project p
WHERE p.id = $1
  AND (NOT $2::boolean OR p.pi_id = $3::uuid
       OR EXISTS (SELECT 1 FROM registry.allocation a JOIN registry.membership m ON m.allocation_id = a.id
                  WHERE a.project_id = p.id AND m.person_id = $4::uuid))
