-- Changes membership $1: its cap ($3, or removes it when $2), status ($4) and end ($6, or
-- clears it when $5), each when given. Locks the membership's row.
UPDATE registry.membership m
SET cap_su = CASE WHEN $2::boolean THEN NULL ELSE coalesce($3, m.cap_su) END,
    status = coalesce($4, m.status),
    ends_at = CASE WHEN $5::boolean THEN NULL ELSE coalesce($6, m.ends_at) END
WHERE m.id = $1
RETURNING api.membership_item(m) AS item
