-- V19: the charging function charges a batch of new records faster, judging them as before.
--
-- Why: `purser bench import` fell from about 105,000 records/s before V11 (the importer's own
-- INSERT) to about 84,000 with every record judged by registry.charge_usage_batch (V16). Of the
-- function's time for a batch of 5,500 new records, ON CONFLICT DO NOTHING (a probe of the
-- primary key before each row), its RETURNING and the join of what it returned back to the
-- records were about a fifth: the cost of telling apart records charged before, which a new
-- batch does not hold. Measurements in docs/benchmarks.md.
--
-- What changes: registry.charge_usage_batch first charges a batch with a plain INSERT, taking
-- every record to be new and none repeated; the primary key refuses one charged before or
-- repeated (unique_violation), and the attempt is then rolled back (a subtransaction) and the
-- batch charged as V16 did, repeats looked for and ON CONFLICT DO NOTHING. Every check is made
-- as before, in the same order, with the same reasons; a job is charged for all its records or
-- none, a repeat within the batch is rejected, a record charged before is reported so and
-- charged once. The signature, its owner, SECURITY DEFINER, the pinned search_path and the
-- EXECUTE grants stay as V14 and V16 set them (given again here).
--
-- Locks: none beyond replacing the function. A call takes what V16's took: the new usage rows
-- (and, on a conflict with an uncommitted charge of the same record, it waits for that
-- transaction as ON CONFLICT did), and the running sums' rows through the usage trigger.

CREATE OR REPLACE FUNCTION registry.charge_usage_batch(
    cluster_ids uuid[],
    job_ids text[],
    submit_times timestamptz[],
    end_times timestamptz[],
    resource_ids uuid[],
    allocation_ids uuid[],
    person_ids uuid[],
    raw_amounts numeric[],
    site text DEFAULT NULL,
    only_exceptions boolean DEFAULT false
) RETURNS TABLE (record bigint, su_amount numeric, already_charged boolean, rejected text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
-- The output columns are named like the usage table's; a name in the query means the column.
#variable_conflict use_column
DECLARE
    -- Whether this attempt takes every record to be new: none charged before (see below).
    assume_new boolean;
    -- The rows to return, gathered before any is returned, so that an attempt rolled back
    -- returns nothing.
    positions bigint[];
    charged_sus numeric[];
    earlier boolean[];
    reasons text[];
BEGIN
    -- Most batches hold only new records, none repeated. The first attempt takes them to be, and
    -- charges them with a plain INSERT: without ON CONFLICT's probe of the primary key before
    -- each row, its RETURNING, the join of what it returned back to the records, and the
    -- grouping that finds repeats (about a fifth of the call, docs/benchmarks.md). The primary
    -- key still refuses a record charged before or repeated (unique_violation, also when a
    -- concurrent import charged it first and committed): the attempt's subtransaction is then
    -- rolled back, trigger and sums included, and the batch is judged again as V16 did, repeats
    -- rejected and ON CONFLICT DO NOTHING telling the records charged before apart. Either way
    -- the records, their reasons and the rows charged are the same. A batch whose first or last
    -- record was charged before (an import run again) starts with the second way, so it is not
    -- inserted twice; a batch only partly charged before, or with a repeat, costs one
    -- rolled-back attempt.
    assume_new := NOT EXISTS (SELECT 1 FROM registry.usage u
                              WHERE u.cluster_id = $1[1] AND u.job_id = $2[1] AND u.submit_time = $3[1]
                                AND u.resource_id = $5[1])
              AND NOT EXISTS (SELECT 1 FROM registry.usage u
                              WHERE u.cluster_id = $1[cardinality($1)] AND u.job_id = $2[cardinality($1)]
                                AND u.submit_time = $3[cardinality($1)] AND u.resource_id = $5[cardinality($1)]);
    LOOP
        BEGIN
            -- Set-based, and without window functions: sorting the whole batch by job (twice, for the
            -- repeats and for a job's first rejection) cost more than checking it. The repeats and the
            -- rejected jobs are found by hashing instead, and are few; see docs/benchmarks.md.
            WITH checked AS (
                SELECT i.*, rate.rate, charge.su,
                       CASE
                           WHEN c.id IS NULL THEN 'cluster ' || coalesce(i.cluster_id::text, 'NULL') || ' does not exist'
                           WHEN $9 IS NOT NULL AND c.name <> $9 THEN 'cluster ' || c.name || ' is not site ' || $9
                           -- (SELECT …): the site the session's login role is bound to (NULL: every
                           -- site), looked up once per call (an InitPlan), not once per record.
                           WHEN c.name <> coalesce((SELECT queue.session_site()), c.name)
                               THEN 'cluster ' || c.name || ' is not site ' || (SELECT queue.session_site()) || ', which database role ' || session_user || ' serves'
                           WHEN a.id IS NULL THEN 'allocation ' || coalesce(i.allocation_id::text, 'NULL') || ' does not exist on cluster ' || c.name
                           WHEN r.id IS NULL THEN 'resource ' || coalesce(i.resource_id::text, 'NULL') || ' does not exist on cluster ' || c.name
                           WHEN p.id IS NULL THEN 'person ' || coalesce(i.person_id::text, 'NULL') || ' does not exist'
                           WHEN i.job_id IS NULL OR btrim(i.job_id) = '' THEN 'job_id is empty'
                           WHEN NOT registry.fits_name(i.job_id) THEN 'job_id is longer than 256 characters'
                           WHEN i.submit_time IS NULL OR i.end_time IS NULL THEN 'submit_time and end_time are required'
                           WHEN NOT (registry.is_instant(i.submit_time) AND registry.is_instant(i.end_time))
                               THEN 'submit_time and end_time must be from 1970 to 9999'
                           WHEN i.raw_amount IS NULL OR i.raw_amount < 0 THEN 'raw_amount must be zero or more'
                           WHEN NOT registry.is_su_amount(i.raw_amount)
                               THEN 'raw_amount must be less than 10^15, with at most 6 decimals'
                           WHEN i.end_time < i.submit_time THEN 'end_time is before submit_time'
                           WHEN inc.resource_id IS NULL THEN 'allocation ' || a.account_name || ' does not include resource ' || r.name
                           WHEN rate.rate IS NULL THEN 'resource ' || r.name || ' has no rate in force at ' || i.end_time
                           WHEN NOT registry.is_su_amount(charge.su)
                               THEN 'raw_amount ÷ rate is ' || charge.su || ' SUs, more than the ledger holds (less than 10^15)'
                       END AS own_reason
                FROM unnest($1, $2, $3, $4, $5, $6, $7, $8)
                     WITH ORDINALITY AS i(cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id,
                                          raw_amount, position)
                LEFT JOIN registry.cluster c ON c.id = i.cluster_id
                LEFT JOIN registry.allocation a ON a.id = i.allocation_id AND a.cluster_id = i.cluster_id
                LEFT JOIN registry.resource r ON r.id = i.resource_id AND r.cluster_id = i.cluster_id
                LEFT JOIN registry.person p ON p.id = i.person_id
                LEFT JOIN registry.allocation_included_resource inc
                       ON inc.allocation_id = i.allocation_id AND inc.resource_id = i.resource_id
                LEFT JOIN LATERAL registry.rate_in_force(i.resource_id, i.end_time) rate ON true
                -- The SUs, for amounts the formula may take, computed once: OFFSET 0 keeps the planner
                -- from pulling the subquery up, which would compute them again for every use (the
                -- bound below and the row), about 12 ms a batch of 5,500.
                CROSS JOIN LATERAL (SELECT CASE WHEN i.raw_amount >= 0 AND registry.is_su_amount(i.raw_amount)
                                                THEN registry.su_of(i.raw_amount, rate.rate) END AS su
                                    OFFSET 0) charge
            ), first_rejected AS (
                -- Each job with a rejected record, and the reason of its first one.
                SELECT DISTINCT ON (k.cluster_id, k.job_id, k.submit_time) k.cluster_id, k.job_id, k.submit_time, k.own_reason
                FROM checked k
                WHERE k.own_reason IS NOT NULL
                ORDER BY k.cluster_id, k.job_id, k.submit_time, k.position
            ), repeated AS (
                -- Each job and resource the batch names more than once, and where it first does.
                SELECT k.cluster_id, k.job_id, k.submit_time, k.resource_id, min(k.position) AS first_position
                FROM checked k
                -- (The first attempt leaves them to the primary key, like records charged before.)
                WHERE NOT assume_new
                GROUP BY k.cluster_id, k.job_id, k.submit_time, k.resource_id
                HAVING count(*) > 1
            ), judged AS (
                -- A job is charged for all its resources or none: one rejected record rejects its job's others.
                -- (A record whose job, submission or cluster is NULL has a reason of its own.)
                SELECT k.*,
                       coalesce(k.own_reason,
                                'another record of job ' || k.job_id || ' was rejected: ' || f.own_reason,
                                CASE WHEN k.position > d.first_position THEN 'repeats an earlier record of this batch' END) AS reason
                FROM checked k
                LEFT JOIN first_rejected f
                       ON f.cluster_id = k.cluster_id AND f.job_id = k.job_id AND f.submit_time = k.submit_time
                LEFT JOIN repeated d
                       ON d.cluster_id = k.cluster_id AND d.job_id = k.job_id AND d.submit_time = k.submit_time
                      AND d.resource_id = k.resource_id
            ), inserted AS (
                -- The first attempt: every record taken to be new (the other insert then has no rows).
                INSERT INTO registry.usage (cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id,
                                            raw_amount, rate, su_amount)
                SELECT j.cluster_id, j.job_id, j.submit_time, j.end_time, j.resource_id, j.allocation_id, j.person_id,
                       j.raw_amount, j.rate, j.su
                FROM judged j
                WHERE assume_new AND j.reason IS NULL
            ), charged AS (
                -- Some record may have been charged before: those are skipped and reported.
                INSERT INTO registry.usage (cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id,
                                            raw_amount, rate, su_amount)
                SELECT j.cluster_id, j.job_id, j.submit_time, j.end_time, j.resource_id, j.allocation_id, j.person_id,
                       j.raw_amount, j.rate, j.su
                FROM judged j
                WHERE NOT assume_new AND j.reason IS NULL
                ON CONFLICT (cluster_id, job_id, submit_time, resource_id) DO NOTHING
                RETURNING cluster_id, job_id, submit_time, resource_id, su_amount
            )
            SELECT array_agg(j.position ORDER BY j.position),
                   array_agg(CASE WHEN assume_new AND j.reason IS NULL THEN j.su ELSE ch.su_amount::numeric END
                             ORDER BY j.position),
                   array_agg(NOT assume_new AND j.reason IS NULL AND ch.job_id IS NULL ORDER BY j.position),
                   array_agg(j.reason ORDER BY j.position)
            INTO positions, charged_sus, earlier, reasons
            FROM judged j
            LEFT JOIN charged ch ON j.reason IS NULL AND ch.cluster_id = j.cluster_id AND ch.job_id = j.job_id
                                AND ch.submit_time = j.submit_time AND ch.resource_id = j.resource_id
            WHERE NOT $10 OR j.reason IS NOT NULL OR (NOT assume_new AND ch.job_id IS NULL);
            EXIT;
        EXCEPTION WHEN unique_violation THEN
            -- Only the first attempt may meet a charged record (ON CONFLICT skips it after).
            IF NOT assume_new THEN
                RAISE;
            END IF;
            assume_new := false;
        END;
    END LOOP;
    RETURN QUERY
    SELECT o.position, o.su, o.earlier, o.reason
    FROM unnest(positions, charged_sus, earlier, reasons) AS o(position, su, earlier, reason);
END;
$$;
COMMENT ON FUNCTION registry.charge_usage_batch(uuid[], text[], timestamptz[], timestamptz[], uuid[], uuid[], uuid[], numeric[], text, boolean) IS
    'The one way usage is charged (the API, the importer and registry.charge_usage call it): records as parallel arrays, each charged at the rate in force at its end (registry.rate_in_force, registry.su_of). '
    'A record naming a missing or foreign cluster, allocation, resource or person, a resource its allocation does not include, with no rate, an amount that is negative or one the ledger cannot hold (registry.is_su_amount, for the raw amount and the SUs), a time outside 1970 to 9999, a job id over 256 characters, an end before its submission, or another site''s cluster (the site given, or the one the session''s login role is bound to: queue.session_site) is rejected with the reason, '
    'as are the other records of its job (a job is charged for all its resources or none). One row per record, in input order: its position from 1, the SUs charged now, whether an earlier charge had it, and why it was rejected; with only_exceptions, rows only for the records rejected or charged earlier (the importer counts the rest as charged now).';
ALTER FUNCTION registry.charge_usage_batch(uuid[], text[], timestamptz[], timestamptz[], uuid[], uuid[], uuid[], numeric[], text, boolean)
    OWNER TO purser_owner;
REVOKE ALL ON FUNCTION registry.charge_usage_batch(uuid[], text[], timestamptz[], timestamptz[], uuid[], uuid[], uuid[], numeric[], text, boolean)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION registry.charge_usage_batch(uuid[], text[], timestamptz[], timestamptz[], uuid[], uuid[], uuid[], numeric[], text, boolean)
    TO purser_api, purser_daemon;
