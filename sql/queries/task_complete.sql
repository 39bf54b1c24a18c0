-- Marks a batch of tasks succeeded: ids $1, the attempt each was claimed under $2, results $3
-- (NULL for none); $4 is the clock. In the same statement, and so the same transaction:
-- records what the executors applied ($5 task ids, $6 subjects, $7 states) for the tasks whose
-- completion was accepted, counts down the tasks waiting on them and wakes their sites.
-- Records, too, what connectors observed ($8–$12: task ids, connectors, subjects, states, NULL
-- for a subject the system no longer holds, and whether the connector manages it; $13, $14:
-- the tasks whose observation is a full snapshot of their connector, which replaces every row
-- of the site's connector), and wakes the reconcilers of sites with a new snapshot.
-- Returns the accepted ids; the others were fenced out (cancelled, or their lease was lost).
--
-- Plan: a nested loop over the input, one primary-key lookup per task. Purser's sessions use
-- generic plans (pool.rs), so the plan does not flip to a scan of the table when the first
-- batches' sizes and stale statistics make the scan look cheap.
--
-- Locks: each task row by primary key, compare-and-set on (id, attempts, state = running), so
-- an outdated completion changes nothing. Waiting dependents are updated by row too: two
-- completions counting down one dependent serialise on its row, and the second re-reads the
-- count the first left. Observed rows are upserted and deleted by key; a batch never holds two
-- observations of one connector (the completer splits it), so no row is touched twice.
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
), observations AS MATERIALIZED (
    SELECT done.site, i.task_id, i.connector, i.subject, i.state, i.managed
    FROM unnest($8::bigint[], $9::text[], $10::text[], $11::jsonb[], $12::boolean[])
         AS i(task_id, connector, subject, state, managed)
    JOIN (SELECT id, site FROM done) done ON done.id = i.task_id
), snapshots AS MATERIALIZED (
    SELECT done.site, s.task_id, s.connector
    FROM unnest($13::bigint[], $14::text[]) AS s(task_id, connector)
    JOIN (SELECT id, site FROM done) done ON done.id = s.task_id
), unseen AS (
    DELETE FROM provision.observed o
     USING snapshots s
     WHERE o.site = s.site AND o.connector = s.connector
       AND NOT EXISTS (SELECT 1 FROM observations i
                       WHERE i.task_id = s.task_id AND i.subject = o.subject AND i.state IS NOT NULL)
    RETURNING 1
), gone AS (
    DELETE FROM provision.observed o
     USING observations i
     WHERE i.state IS NULL AND o.site = i.site AND o.connector = i.connector AND o.subject = i.subject
    RETURNING 1
), seen AS (
    INSERT INTO provision.observed AS o (site, connector, subject, state, managed, observed_at, task_id)
    SELECT i.site, i.connector, i.subject, i.state, i.managed, coalesce($4::timestamptz, now()), i.task_id
    FROM observations i
    WHERE i.state IS NOT NULL
    ON CONFLICT (site, connector, subject) DO UPDATE
       SET state = excluded.state, managed = excluded.managed, observed_at = excluded.observed_at,
           task_id = excluded.task_id
    RETURNING 1
), snapshot_recorded AS (
    INSERT INTO provision.observation AS r (site, connector, observed_at, subjects, task_id)
    SELECT s.site, s.connector, coalesce($4::timestamptz, now()),
           (SELECT count(*) FROM observations i WHERE i.task_id = s.task_id AND i.state IS NOT NULL),
           s.task_id
    FROM snapshots s
    ON CONFLICT (site, connector) DO UPDATE
       SET observed_at = excluded.observed_at, subjects = excluded.subjects, task_id = excluded.task_id
    RETURNING r.site
), snapshot_woken AS (
    SELECT pg_notify('purser_reconcile', site) FROM (SELECT DISTINCT site FROM snapshot_recorded) s
)
SELECT coalesce((SELECT array_agg(id) FROM done), '{}') AS accepted,
       (SELECT count(*) FROM recorded) AS recorded,
       (SELECT count(*) FROM woken) AS woken,
       (SELECT count(*) FROM unseen) + (SELECT count(*) FROM gone) + (SELECT count(*) FROM seen)
           + (SELECT count(*) FROM snapshot_woken) AS observed
