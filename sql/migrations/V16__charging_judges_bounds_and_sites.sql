-- V16: the one charging function judges what the ledger can hold and whose site a record is.
--
-- Why:
-- * V13 bounded amounts, times and keys with domains. A batch holding one record the domains
--   refuse would fail whole on the insert; registry.charge_usage_batch now judges each record by
--   the same rules (registry.is_su_amount for the raw amount and the SUs, registry.is_instant,
--   registry.fits_name for the job id) and rejects the bad one with its reason, charging the rest.
--   Its raw amounts stay numeric[]: a domain array would refuse the whole call for one element.
-- * V15 bound login roles to sites. A bound role charges only its own site's clusters, whatever
--   site the call names: the function runs as purser_owner (V14), so the check is its own, and a
--   record of another site's cluster is rejected with the reason like any other.
--
-- * It becomes PL/pgSQL running one query (RETURN QUERY): a SQL function's body is parsed and
--   planned again at every call, while PL/pgSQL keeps the plan for the session. Per call of
--   5,500 records already charged, in psql: 195 ms as V13 left it, 92 ms now (docs/benchmarks.md).
--
-- * Changes first written into V11 after it had landed (a landed migration is never edited, so
--   they are made here, and V11 is as it landed): the function finds the repeats and a job's
--   first rejection by hashing instead of two window sorts of the whole batch; it takes
--   only_exceptions, so the importer gets back only the records rejected or charged earlier
--   (the signature changes, so the function is dropped and created, and V14's owner, SECURITY
--   DEFINER, search_path and grants are given again); and the usage trigger
--   (registry.add_usage_to_totals) checks the distinct references of a statement, not every row.
--
-- Locks: none beyond replacing the two functions.

DROP FUNCTION registry.charge_usage_batch(uuid[], text[], timestamptz[], timestamptz[], uuid[], uuid[], uuid[], numeric[], text);

CREATE FUNCTION registry.charge_usage_batch(
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
BEGIN
    RETURN QUERY
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
    ), charged AS (
        INSERT INTO registry.usage (cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id,
                                    raw_amount, rate, su_amount)
        SELECT j.cluster_id, j.job_id, j.submit_time, j.end_time, j.resource_id, j.allocation_id, j.person_id,
               j.raw_amount, j.rate, j.su
        FROM judged j
        WHERE j.reason IS NULL
        ON CONFLICT (cluster_id, job_id, submit_time, resource_id) DO NOTHING
        RETURNING cluster_id, job_id, submit_time, resource_id, su_amount
    )
    SELECT j.position, ch.su_amount::numeric, j.reason IS NULL AND ch.job_id IS NULL, j.reason
    FROM judged j
    LEFT JOIN charged ch ON j.reason IS NULL AND ch.cluster_id = j.cluster_id AND ch.job_id = j.job_id
                        AND ch.submit_time = j.submit_time AND ch.resource_id = j.resource_id
    WHERE NOT $10 OR j.reason IS NOT NULL OR ch.job_id IS NULL
    ORDER BY j.position;
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

-- The usage trigger: the distinct references of a statement are checked, not every row (about
-- 14 ms less per 5,500-row batch). CREATE OR REPLACE keeps its owner (V14); SECURITY DEFINER and
-- its search_path are given again.
CREATE OR REPLACE FUNCTION registry.add_usage_to_totals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad record;
BEGIN
    -- References, checked once per statement (set-based) instead of a foreign key per row: the
    -- distinct (cluster, allocation, resource) and people of the statement's rows, far fewer than
    -- its rows; only when one is wrong is a row naming it looked for, for the message.
    IF EXISTS (SELECT 1
               FROM (SELECT DISTINCT u.cluster_id, u.allocation_id, u.resource_id FROM new_usage u) k
               LEFT JOIN registry.allocation a ON a.id = k.allocation_id
               LEFT JOIN registry.resource r ON r.id = k.resource_id
               WHERE a.id IS NULL OR r.id IS NULL OR a.cluster_id <> k.cluster_id OR r.cluster_id <> k.cluster_id)
       OR EXISTS (SELECT 1
                  FROM (SELECT DISTINCT u.person_id FROM new_usage u) k
                  LEFT JOIN registry.person p ON p.id = k.person_id
                  WHERE p.id IS NULL) THEN
        SELECT u.job_id, u.allocation_id, u.person_id, u.resource_id, u.cluster_id INTO bad
        FROM new_usage u
        LEFT JOIN registry.allocation a ON a.id = u.allocation_id
        LEFT JOIN registry.resource r ON r.id = u.resource_id
        LEFT JOIN registry.person p ON p.id = u.person_id
        WHERE a.id IS NULL OR r.id IS NULL OR p.id IS NULL
           OR a.cluster_id <> u.cluster_id OR r.cluster_id <> u.cluster_id
        LIMIT 1;
        RAISE EXCEPTION 'usage of job % refers to an allocation, resource or person that does not exist, or to another cluster''s',
            bad.job_id
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('allocation %s, resource %s, person %s, cluster %s',
                                  bad.allocation_id, bad.resource_id, bad.person_id, bad.cluster_id);
    END IF;
    -- Upserted in key order, so concurrent statements lock sums in one order and never deadlock.
    INSERT INTO registry.allocation_total AS t (allocation_id, charged_su)
    SELECT allocation_id, sum(su_amount) FROM new_usage GROUP BY allocation_id ORDER BY allocation_id
    ON CONFLICT (allocation_id) DO UPDATE SET charged_su = t.charged_su + excluded.charged_su;
    INSERT INTO registry.member_total AS m (allocation_id, person_id, charged_su)
    SELECT allocation_id, person_id, sum(su_amount)
    FROM new_usage
    GROUP BY allocation_id, person_id
    ORDER BY allocation_id, person_id
    ON CONFLICT (allocation_id, person_id) DO UPDATE SET charged_su = m.charged_su + excluded.charged_su;
    INSERT INTO registry.allocation_resource_total AS rt (allocation_id, resource_id, charged_su)
    SELECT allocation_id, resource_id, sum(su_amount)
    FROM new_usage
    GROUP BY allocation_id, resource_id
    ORDER BY allocation_id, resource_id
    ON CONFLICT (allocation_id, resource_id) DO UPDATE SET charged_su = rt.charged_su + excluded.charged_su;
    RETURN NULL;
END;
$$;
