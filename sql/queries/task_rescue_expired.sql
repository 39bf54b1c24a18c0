-- Rescues up to 1000 running tasks of site $1 whose lease lapsed before the clock $2 (their
-- worker died or lost the database): back to queued at once, or dead when out of attempts.
-- The lapsed attempt is kept in queue.task_attempt. Returns the rescued ids and new states.
--
-- Locks: FOR UPDATE SKIP LOCKED on the lapsed rows, so a completion or heartbeat in flight
-- wins and the rescue passes over it; the UPDATE re-checks state and lease under the lock.
WITH lapsed AS MATERIALIZED (
    SELECT t.id
    FROM queue.task t
    WHERE t.site = $1 AND t.state = 'running' AND t.lease_expires_at < coalesce($2::timestamptz, now())
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
), rescued AS (
    UPDATE queue.task t
       SET state = CASE WHEN t.attempts < t.max_attempts
                        THEN 'queued'::queue.task_state ELSE 'dead'::queue.task_state END,
           run_at = coalesce($2::timestamptz, now()),
           finished_at = CASE WHEN t.attempts < t.max_attempts THEN NULL ELSE coalesce($2::timestamptz, now()) END,
           last_error = format('lease expired: worker %s stopped heartbeating', t.worker_id),
           lease_expires_at = NULL
      FROM lapsed
     WHERE t.id = lapsed.id AND t.state = 'running' AND t.lease_expires_at < coalesce($2::timestamptz, now())
    RETURNING t.id, t.attempts, t.worker_id, t.started_at, t.state, t.last_error
), attempt AS (
    INSERT INTO queue.task_attempt (task_id, attempt, worker_id, started_at, finished_at, outcome, error)
    SELECT id, attempts, worker_id, started_at, coalesce($2::timestamptz, now()), 'lease_expired', last_error
    FROM rescued
)
SELECT id, state::text AS state FROM rescued
