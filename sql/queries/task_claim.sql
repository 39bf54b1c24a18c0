-- Claims up to $5 ready tasks of site $1 for worker $2, in order of priority, run_at, id, taking
-- only what the worker can start now: any number (up to $5) of the kinds $4, which it runs with
-- no limit of their own, and at most $8[i] of each kind $7[i], which it runs under a per-kind
-- limit with $8[i] slots free. A task of a lane is ready only at the head of its lane, which
-- is the site's own: another site's task in a lane of the same name never holds it up.
-- $3 is the clock (NULL: the database's now()), $6 the lease in milliseconds.
--
-- Locks: candidates are taken FOR UPDATE SKIP LOCKED, so concurrent claimers of one site pass
-- over each other's rows instead of queueing behind them. Each group of kinds (the unlimited
-- kinds together, then each limited kind alone) takes its own candidates with its own LIMIT,
-- so a burst of one limited kind neither fills the claim nor hides the other kinds behind it;
-- the groups' candidates are then cut to the first $5 in claim order. Rows a group locked
-- beyond that cut (at most the limited kinds' free slots) stay queued and are unlocked when
-- the statement ends. The MATERIALIZED CTE fences the candidate set: the planner cannot turn
-- it into a semi-join that re-runs the LIMIT subqueries and claims more than $5 rows. The
-- update finds the rows by `id = ANY (ARRAY(...))`, which keeps it on primary-key lookups
-- whatever the statistics say (a join against the CTE can be planned as a nested loop that
-- rescans it for every row).
WITH slots (kinds, free) AS (
    SELECT $4::text[], $5::bigint
    UNION ALL
    SELECT ARRAY[limited.kind], limited.free
    FROM unnest($7::text[], $8::bigint[]) AS limited (kind, free)
    WHERE limited.free > 0
), candidates AS MATERIALIZED (
    SELECT ready.id
    FROM slots
    CROSS JOIN LATERAL (
        SELECT t.id, t.priority, t.run_at
        FROM queue.task t
        WHERE t.site = $1
          AND t.state = 'queued'
          AND t.run_at <= coalesce($3::timestamptz, now())
          AND t.kind = ANY (slots.kinds)
          AND (t.lane IS NULL OR NOT EXISTS (
                  SELECT 1 FROM queue.task earlier
                  WHERE earlier.site = t.site AND earlier.lane = t.lane AND earlier.id < t.id
                    AND earlier.state IN ('waiting', 'queued', 'running')))
        ORDER BY t.priority, t.run_at, t.id
        LIMIT slots.free
        FOR UPDATE SKIP LOCKED
    ) AS ready
    ORDER BY ready.priority, ready.run_at, ready.id
    LIMIT $5
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
