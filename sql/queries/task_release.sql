-- Hands back tasks a stopping worker could not finish within its grace period: ids $1 with
-- attempts $2 return to queued at once, and the interrupted attempt does not use up the
-- task's budget (max_attempts grows by one). $3 is the clock. Returns the released ids.
--
-- Locks: each row by primary key (one lookup per input row, as in task_complete.sql),
-- compare-and-set on (id, attempts, state = running).
WITH released AS (
    UPDATE queue.task t
       SET state = 'queued', run_at = coalesce($3::timestamptz, now()), lease_expires_at = NULL,
           max_attempts = t.max_attempts + 1,
           last_error = 'released: its worker shut down before it finished'
      FROM unnest($1::bigint[], $2::integer[]) AS r(id, attempt)
     WHERE t.id = r.id AND t.attempts = r.attempt AND t.state = 'running'
    RETURNING t.id, t.attempts, t.worker_id, t.started_at, t.site
), attempt AS (
    INSERT INTO queue.task_attempt (task_id, attempt, worker_id, started_at, finished_at, outcome, error)
    SELECT id, attempts, worker_id, started_at, coalesce($3::timestamptz, now()), 'released',
           'its worker shut down before it finished'
    FROM released
), woken AS (
    SELECT pg_notify('purser_queue', site) FROM (SELECT DISTINCT site FROM released) s
)
SELECT id, (SELECT count(*) FROM woken) AS woken FROM released
