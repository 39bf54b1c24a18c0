-- Changes project $1's title ($2) and status ($3), each when given. Locks the project's row.
UPDATE registry.project p
SET title = coalesce($2, p.title), status = coalesce($3, p.status)
WHERE p.id = $1
RETURNING to_jsonb(p) AS item
