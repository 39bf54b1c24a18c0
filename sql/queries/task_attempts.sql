-- The attempt history of task $1, oldest first (queue.task_history). Plain read.
SELECT attempt, worker_id, started_at, finished_at, outcome, error
FROM queue.task_history
WHERE task_id = $1
ORDER BY attempt, finished_at NULLS LAST
