-- Fires up to $3 schedules of site $1 that are due by the clock $2 (NULL: now()): for each,
-- enqueues one task through queue.enqueue for the latest period that has begun, with the
-- dedupe key schedule:NAME:PERIOD (the period's start, UTC, to the microsecond), and moves
-- next_run_at to the first period that begins after the clock. Periods missed while no daemon
-- ran are skipped, not caught up: one task, then the next future period. Returns each
-- schedule fired, its period and its task.
--
-- Locks: FOR UPDATE SKIP LOCKED on the due rows, so of several daemons of the site one takes
-- each due schedule and the others pass it by. A row another daemon advanced and committed
-- after this statement's snapshot is re-read under the lock and no longer due, so it is
-- dropped. The advance and the enqueue are one statement, so they commit together: each
-- period is enqueued exactly once.
WITH due AS MATERIALIZED (
    SELECT s.name,
           s.next_run_at + s.every * floor(extract(epoch FROM coalesce($2::timestamptz, now()) - s.next_run_at)
                                           / extract(epoch FROM s.every))::bigint AS period_start
    FROM queue.schedule s
    WHERE s.site = $1 AND s.next_run_at <= coalesce($2::timestamptz, now())
    ORDER BY s.next_run_at, s.name
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE queue.schedule s
   SET next_run_at = due.period_start + s.every,
       last_enqueued_at = coalesce($2::timestamptz, now()),
       last_period_start = due.period_start,
       last_task_id = queue.enqueue(
           s.site, s.kind, s.payload,
           run_at => coalesce($2::timestamptz, now()),
           dedupe_key => format('schedule:%s:%s', s.name,
                                to_char(due.period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))
  FROM due
 WHERE s.name = due.name
RETURNING s.name, s.last_period_start AS period_start, s.last_task_id AS task_id
