-- Enqueues membership.sync for each membership in $1 (uuid[]), in id order
-- (registry.enqueue_membership_sync); returns the task ids. Inserts one task each.
SELECT registry.enqueue_membership_sync(id) AS task_id FROM unnest($1::uuid[]) AS id ORDER BY id
