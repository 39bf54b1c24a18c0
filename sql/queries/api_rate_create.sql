-- Sets resource $1's rate $2 from $3 until $4 (open-ended when NULL); refused when it overlaps
-- another window of the resource. Inserts one row.
INSERT INTO registry.resource_rate AS r (resource_id, rate, valid_during)
VALUES ($1, $2::numeric, tstzrange($3, $4))
RETURNING api.rate_item(r) AS item
