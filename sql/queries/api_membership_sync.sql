-- Enqueues membership.sync for membership $1 (registry.enqueue_membership_sync); returns the
-- task id. Inserts one task.
SELECT registry.enqueue_membership_sync($1) AS task_id
