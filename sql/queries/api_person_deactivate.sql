-- Marks person $1 inactive, if they are active; returns them, or no row when they are not
-- active (or do not exist). Locks the person's row.
UPDATE registry.person p SET status = 'inactive' WHERE p.id = $1 AND p.status = 'active' RETURNING to_jsonb(p) AS item
