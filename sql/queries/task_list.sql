-- Tasks newest first, optionally of one site $1, state $2 and kind $3, with ids below $4
-- (keyset pagination), at most $5. Plain read.
SELECT id, site, kind, payload, state::text AS state, priority::integer AS priority, run_at,
       attempts, max_attempts, dedupe_key, lane, depends_on, pending_dependencies, worker_id,
       lease_expires_at, started_at, created_at, finished_at, result, last_error
FROM queue.task
WHERE ($1::text IS NULL OR site = $1)
  AND ($2::text IS NULL OR state = $2::queue.task_state)
  AND ($3::text IS NULL OR kind = $3)
  AND ($4::bigint IS NULL OR id < $4)
ORDER BY id DESC
LIMIT $5
