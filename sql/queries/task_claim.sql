-- Claims up to $5 ready tasks of site $1, of the kinds $4 this worker runs, for worker $2,
-- in order of priority, run_at, id; a task of a lane is ready only at the head of its lane.
-- $3 is the clock (NULL: the database's now()), $6 the lease in milliseconds.
--
-- Locks: candidates are taken FOR UPDATE SKIP LOCKED, so concurrent claimers of one site pass
-- over each other's rows instead of queueing behind them. The MATERIALIZED CTE fences the
-- candidate set: the planner cannot turn it into a semi-join that re-runs the LIMIT subquery
-- and claims more than $5 rows. The update finds the rows by `id = ANY (ARRAY(...))`, which
-- keeps it on primary-key lookups whatever the statistics say (a join against the CTE can be
-- planned as a nested loop that rescans it for every row).
WITH candidates AS MATERIALIZED (
    SELECT t.id
    FROM queue.task t
    WHERE t.site = $1
      AND t.state = 'queued'
      AND t.run_at <= coalesce($3::timestamptz, now())
      AND t.kind = ANY ($4::text[])
      AND (t.lane IS NULL OR NOT EXISTS (
              SELECT 1 FROM queue.task earlier
              WHERE earlier.lane = t.lane AND earlier.id < t.id
                AND earlier.state IN ('waiting', 'queued', 'running')))
    ORDER BY t.priority, t.run_at, t.id
    LIMIT $5
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE queue.task t
       SET state = 'running',
           attempts = t.attempts + 1,
           worker_id = $2,
           started_at = coalesce($3::timestamptz, now()),
           lease_expires_at = coalesce($3::timestamptz, now()) + $6::bigint * interval '1 millisecond'
    WHERE t.id = ANY (ARRAY(SELECT id FROM candidates))
    RETURNING t.id, t.kind, t.payload, t.attempts, t.max_attempts, t.priority, t.run_at
)
SELECT id, kind, payload, attempts, max_attempts
FROM claimed
ORDER BY priority, run_at, id
