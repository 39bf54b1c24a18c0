-- One membership, if the caller may see it ($2 scoped, $3 PI, $4 self). Plain read.
SELECT api.membership_item(m) AS item
FROM registry.membership m
WHERE m.id = $1 AND (NOT $2::boolean OR m.person_id = $4::uuid OR api.sees_allocation(m.allocation_id, $3, NULL))
