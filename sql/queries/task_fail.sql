-- Records a failed attempt of task $1 claimed under attempt $2: with $3 (retryable) and
-- attempts left, the task returns to queued at now + $4 milliseconds of backoff; otherwise it
-- is dead. $5 is the error, $6 the clock. The attempt is kept in queue.task_attempt. Returns
-- the new state, or no row when the completion was fenced out.
--
-- Locks: the task row by primary key, compare-and-set on (id, attempts, state = running).
WITH failed AS (
    UPDATE queue.task t
       SET state = CASE WHEN $3::boolean AND t.attempts < t.max_attempts
                        THEN 'queued'::queue.task_state ELSE 'dead'::queue.task_state END,
           run_at = CASE WHEN $3::boolean AND t.attempts < t.max_attempts
                         THEN coalesce($6::timestamptz, now()) + $4::bigint * interval '1 millisecond'
                         ELSE t.run_at END,
           finished_at = CASE WHEN $3::boolean AND t.attempts < t.max_attempts
                              THEN NULL ELSE coalesce($6::timestamptz, now()) END,
           last_error = $5::text,
           lease_expires_at = NULL
     WHERE t.id = $1 AND t.attempts = $2 AND t.state = 'running'
    RETURNING t.id, t.attempts, t.worker_id, t.started_at, t.state
), attempt AS (
    INSERT INTO queue.task_attempt (task_id, attempt, worker_id, started_at, finished_at, outcome, error)
    SELECT id, attempts, worker_id, started_at, coalesce($6::timestamptz, now()), 'failed', $5::text
    FROM failed
)
SELECT state::text AS state FROM failed
