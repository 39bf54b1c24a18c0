-- Adds person $2 to allocation $1 with cap $3 (none when NULL) from $4 (now when NULL) until $5.
-- Inserts one row.
INSERT INTO registry.membership AS m (allocation_id, person_id, cap_su, starts_at, ends_at)
VALUES ($1, $2, $3::numeric, coalesce($4, now()), $5::timestamptz)
RETURNING api.membership_item(m) AS item
