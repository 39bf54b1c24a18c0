-- Marks a batch of tasks succeeded: ids $1, the attempt each was claimed under $2, results $3
-- (NULL for none); $4 is the clock. In the same statement, and so the same transaction:
-- records what the executors applied ($5 task ids, $6 subjects, $7 states) for the tasks whose
-- completion was accepted, counts down the tasks waiting on them and wakes their sites.
-- Returns the accepted ids; the others were fenced out (cancelled, or their lease was lost).
--
-- Plan: a nested loop over the input, one primary-key lookup per task. Purser's sessions use
-- generic plans (pool.rs), so the plan does not flip to a scan of the table when the first
-- batches' sizes and stale statistics make the scan look cheap.
--
-- Locks: each task row by primary key, compare-and-set on (id, attempts, state = running), so
-- an outdated completion changes nothing. Waiting dependents are updated by row too: two
-- completions counting down one dependent serialise on its row, and the second re-reads the
-- count the first left.
WITH done AS (
    UPDATE queue.task t
       SET state = 'succeeded',
           finished_at = coalesce($4::timestamptz, now()),
           result = i.result,
           lease_expires_at = NULL
      FROM unnest($1::bigint[], $2::integer[], $3::jsonb[]) AS i(id, attempt, result)
     WHERE t.id = i.id AND t.attempts = i.attempt AND t.state = 'running'
    RETURNING t.id, t.site
), recorded AS (
    INSERT INTO provision.applied_state AS a (site, subject, state, task_id, recorded_at)
    SELECT done.site, r.subject, r.state, r.task_id, coalesce($4::timestamptz, now())
    FROM unnest($5::bigint[], $6::text[], $7::jsonb[]) AS r(task_id, subject, state)
    JOIN (SELECT id, site FROM done) done ON done.id = r.task_id
    ON CONFLICT (site, subject) DO UPDATE
       SET state = excluded.state, task_id = excluded.task_id, recorded_at = excluded.recorded_at,
           revision = a.revision + 1
    RETURNING 1
), dependents AS MATERIALIZED (
    -- One probe of the dependency index for the whole batch (a join would probe it per task).
    SELECT w.id, w.depends_on
    FROM queue.task w
    WHERE w.state = 'waiting' AND w.depends_on && (SELECT array_agg(id) FROM done)
), finished AS (
    SELECT dependents.id, count(*)::integer AS count
    FROM dependents, unnest(dependents.depends_on) AS dependency(id)
    WHERE dependency.id IN (SELECT id FROM done)
    GROUP BY dependents.id
), counted_down AS (
    UPDATE queue.task d
       SET pending_dependencies = d.pending_dependencies - finished.count,
           state = CASE WHEN d.pending_dependencies = finished.count THEN 'queued'::queue.task_state
                        ELSE 'waiting'::queue.task_state END
      FROM finished
     WHERE d.id = finished.id AND d.state = 'waiting'
    RETURNING d.site, d.state
), woken AS (
    SELECT pg_notify('purser_queue', site)
    FROM (SELECT DISTINCT site FROM counted_down WHERE state = 'queued') s
)
SELECT coalesce((SELECT array_agg(id) FROM done), '{}') AS accepted,
       (SELECT count(*) FROM recorded) AS recorded,
       (SELECT count(*) FROM woken) AS woken
