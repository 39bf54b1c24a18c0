-- One person, if the caller may see them (scope as in api_person_list: $2 scoped, $3 PI,
-- $4 self). Plain read.
SELECT to_jsonb(p) AS item
FROM registry.person p
WHERE p.id = $1
  AND (NOT $2::boolean OR p.id = $4::uuid
       OR EXISTS (SELECT 1 FROM registry.membership m
                  JOIN registry.allocation a ON a.id = m.allocation_id
                  JOIN registry.project pr ON pr.id = a.project_id
                  WHERE m.person_id = p.id AND pr.pi_id = $3::uuid))
