-- The ids of the memberships of the people in $1 (uuid[]) that are not removed: those a merge
-- or deactivation changes, whose sites must hear of it. Plain read.
SELECT m.id FROM registry.membership m WHERE m.person_id = ANY($1::uuid[]) AND m.status <> 'removed' ORDER BY m.id
