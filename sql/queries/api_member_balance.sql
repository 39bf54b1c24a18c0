-- Membership $1's balance against its cap (report.member_balance), if the caller may see it
-- ($2 scoped, $3 PI, $4 self). Plain read.
SELECT jsonb_build_object('membership_id', m.id, 'allocation_id', b.allocation_id, 'person_id', b.person_id,
                          'cap_su', b.cap_su::text, 'charged_su', b.charged_su::text,
                          'remaining_su', b.remaining_su::text) AS item
FROM registry.membership m
JOIN report.member_balance b ON b.allocation_id = m.allocation_id AND b.person_id = m.person_id
WHERE m.id = $1 AND (NOT $2::boolean OR m.person_id = $4::uuid OR api.sees_allocation(m.allocation_id, $3, NULL))
