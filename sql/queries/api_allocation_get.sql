-- One allocation, if the caller may see it ($2 scoped, $3 PI, $4 self). Plain read.
SELECT api.allocation_item(a) AS item
FROM registry.allocation a
WHERE a.id = $1 AND (NOT $2::boolean OR api.sees_allocation(a.id, $3, $4))
