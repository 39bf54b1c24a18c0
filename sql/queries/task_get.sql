-- One task, whole. Plain read.
SELECT id, site, kind, payload, state::text AS state, priority::integer AS priority, run_at,
       attempts, max_attempts, dedupe_key, lane, depends_on, pending_dependencies, worker_id,
       lease_expires_at, started_at, created_at, finished_at, result, last_error
FROM queue.task
WHERE id = $1
