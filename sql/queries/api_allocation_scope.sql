-- Who leads allocation $1's project, and whether person $2 is a member of it, so the API can
-- tell "not yours" (403) from "no such allocation" (404) before a write. Plain read.
SELECT p.pi_id,
       EXISTS (SELECT 1 FROM registry.membership m WHERE m.allocation_id = a.id AND m.person_id = $2::uuid) AS is_member
FROM registry.allocation a
JOIN registry.project p ON p.id = a.project_id
WHERE a.id = $1
