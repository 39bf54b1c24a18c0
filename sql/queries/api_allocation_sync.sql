-- Enqueues allocation.sync for allocation $1 (registry.enqueue_allocation_sync); returns the
-- task id. Inserts one task.
SELECT registry.enqueue_allocation_sync($1) AS task_id
