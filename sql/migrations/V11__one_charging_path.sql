-- V11: one charging path, imports that always end in a recorded state, clusters' time zones
-- and usage bounds, and the resources of an allocation.
--
-- Why:
-- * Usage was charged by three statements (the importer's batch, the API's batch and
--   registry.charge_usage), each with its own copy of the SU formula, and the importer looked
--   rates up in Rust with its own idea of a window's bounds. Now registry.charge_usage_batch is
--   the one way usage is charged (set-based, one row of outcome per record, a bad record
--   rejected with its reason instead of failing the batch); registry.su_of holds the formula
--   and registry.rate_in_force the rate lookup, and everything else calls them.
-- * An import that failed or whose connection was lost stayed "running" (finished_at NULL)
--   forever. The importer now holds a session-level advisory lock on its import for as long as
--   it runs, records a failure's reason in usage_import.failure, and the next import marks any
--   import whose lock is gone as failed; report.usage_imports tells the states apart meanwhile.
-- * sacct prints a cluster's local time unless it runs with TZ=UTC: registry.cluster.time_zone
--   (default UTC) says which zone the importer reads parsable2 times in. Per-cluster bounds
--   reject records no real job produces (a TRES count of 1e23, a job that ran longer than it
--   existed, a job ending in the future) instead of billing them.
-- * An allocation includes a chosen subset of its cluster's resources, each with an optional
--   SU limit (registry.allocation_resource, landed in V4 but never read). An allocation without
--   rows there includes every resource of its cluster, without limits, as before; the rows V10's
--   API wrote to mean exactly that are removed, so a resource added to the cluster later is
--   included too, as it was. Usage of a resource an allocation does not include is rejected;
--   a resource whose limit is used up denies access, as a member's cap does.
--
-- Locks: ALTER TABLE on registry.cluster and registry.usage_import (small tables); the
-- backfill of registry.allocation_resource_total reads registry.usage once.

-- One formula, one rate lookup ----------------------------------------------------------------

CREATE FUNCTION registry.su_of(raw_amount numeric, rate numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT round(raw_amount / rate, 6) $$;
COMMENT ON FUNCTION registry.su_of(numeric, numeric) IS
    'The SU formula, its one home: raw ÷ rate, rounded to 6 decimals (rate 10: 10 raw hours make 1 SU).';

CREATE FUNCTION registry.rate_in_force(resource_id uuid, at timestamptz) RETURNS TABLE (rate numeric)
LANGUAGE sql STABLE AS $$
    SELECT r.rate FROM registry.resource_rate r WHERE r.resource_id = $1 AND r.valid_during @> $2
$$;
COMMENT ON FUNCTION registry.rate_in_force(uuid, timestamptz) IS
    'The rate lookup, its one home: the rate of a resource in force at a time (the window contains it, whatever its bounds), as a row, or no row. Inlined by the planner into set-based charging.';

CREATE OR REPLACE FUNCTION registry.rate_at(resource_id uuid, at timestamptz) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT f.rate FROM registry.rate_in_force(rate_at.resource_id, rate_at.at) f
$$;

-- Resources of an allocation ------------------------------------------------------------------

-- Rows that include every resource of the cluster without a limit are what V10's API wrote for
-- "every resource": no rows now says so, including resources the cluster gains later.
DELETE FROM registry.allocation_resource ar
USING registry.allocation a
WHERE a.id = ar.allocation_id
  AND NOT EXISTS (SELECT 1 FROM registry.allocation_resource x
                  WHERE x.allocation_id = a.id AND x.amount_su IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM registry.resource r
                  WHERE r.cluster_id = a.cluster_id
                    AND NOT EXISTS (SELECT 1 FROM registry.allocation_resource x
                                    WHERE x.allocation_id = a.id AND x.resource_id = r.id));

COMMENT ON TABLE registry.allocation_resource IS
    'The resources an allocation includes, on its own cluster, each with an optional SU limit. An allocation without rows here includes every resource of its cluster, without limits.';
COMMENT ON COLUMN registry.allocation_resource.resource_id IS 'A resource it includes: its usage may be charged to the allocation.';
COMMENT ON COLUMN registry.allocation_resource.amount_su IS
    'The most SUs the allocation may charge for this resource (limit_su in report.allocation_resource_balance); NULL: no limit of its own. Reaching it denies access, as a member''s cap does.';

CREATE VIEW registry.allocation_included_resource AS
SELECT ar.allocation_id, ar.resource_id, ar.amount_su AS limit_su
FROM registry.allocation_resource ar
UNION ALL
SELECT a.id, r.id, NULL::numeric
FROM registry.allocation a
JOIN registry.resource r ON r.cluster_id = a.cluster_id
WHERE NOT EXISTS (SELECT 1 FROM registry.allocation_resource ar WHERE ar.allocation_id = a.id);
COMMENT ON VIEW registry.allocation_included_resource IS
    'The inclusion rule, its one home: the resources each allocation includes (its allocation_resource rows, or every resource of its cluster when it has none) and their SU limits.';
COMMENT ON COLUMN registry.allocation_included_resource.allocation_id IS 'The allocation.';
COMMENT ON COLUMN registry.allocation_included_resource.resource_id IS 'A resource it includes.';
COMMENT ON COLUMN registry.allocation_included_resource.limit_su IS 'The most SUs it may charge for the resource; NULL: no limit.';

CREATE TABLE registry.allocation_resource_total (
    allocation_id uuid NOT NULL REFERENCES registry.allocation (id),
    resource_id uuid NOT NULL REFERENCES registry.resource (id),
    charged_su numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (allocation_id, resource_id)
);
COMMENT ON TABLE registry.allocation_resource_total IS
    'Running sum of what each allocation charged for each resource, kept by the trigger on usage (registry.add_usage_to_totals); part of the ledger''s sums, so not audited.';
COMMENT ON COLUMN registry.allocation_resource_total.allocation_id IS 'The allocation.';
COMMENT ON COLUMN registry.allocation_resource_total.resource_id IS 'The resource.';
COMMENT ON COLUMN registry.allocation_resource_total.charged_su IS 'Σ usage.su_amount for this allocation and resource.';

INSERT INTO registry.allocation_resource_total (allocation_id, resource_id, charged_su)
SELECT allocation_id, resource_id, sum(su_amount) FROM registry.usage GROUP BY allocation_id, resource_id;

CREATE OR REPLACE FUNCTION registry.add_usage_to_totals() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    -- References, checked once per statement (set-based) instead of a foreign key per row.
    SELECT u.job_id, u.allocation_id, u.person_id, u.resource_id, u.cluster_id INTO bad
    FROM new_usage u
    LEFT JOIN registry.allocation a ON a.id = u.allocation_id
    LEFT JOIN registry.resource r ON r.id = u.resource_id
    LEFT JOIN registry.person p ON p.id = u.person_id
    WHERE a.id IS NULL OR r.id IS NULL OR p.id IS NULL
       OR a.cluster_id <> u.cluster_id OR r.cluster_id <> u.cluster_id
    LIMIT 1;
    IF FOUND THEN
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
COMMENT ON FUNCTION registry.add_usage_to_totals() IS
    'Statement trigger: adds new charges to allocation_total, member_total and allocation_resource_total, one update per key per statement.';

CREATE VIEW report.allocation_resource_balance AS
SELECT inc.allocation_id,
       inc.resource_id,
       inc.limit_su,
       coalesce(t.charged_su, 0) AS charged_su,
       inc.limit_su - coalesce(t.charged_su, 0) AS remaining_su
FROM registry.allocation_included_resource inc
LEFT JOIN registry.allocation_resource_total t
       ON t.allocation_id = inc.allocation_id AND t.resource_id = inc.resource_id;
COMMENT ON VIEW report.allocation_resource_balance IS
    'What each allocation charged for each resource it includes, against the resource''s SU limit. Reads the running sums.';
COMMENT ON COLUMN report.allocation_resource_balance.allocation_id IS 'The allocation.';
COMMENT ON COLUMN report.allocation_resource_balance.resource_id IS 'A resource it includes.';
COMMENT ON COLUMN report.allocation_resource_balance.limit_su IS 'The most SUs it may charge for the resource; NULL: no limit.';
COMMENT ON COLUMN report.allocation_resource_balance.charged_su IS 'What it charged for the resource.';
COMMENT ON COLUMN report.allocation_resource_balance.remaining_su IS 'limit_su − charged_su; NULL without a limit.';

-- The access policy gains the resource limits (appended: the view's columns keep their order).
CREATE OR REPLACE VIEW report.access_explain AS
SELECT m.person_id,
       m.allocation_id,
       a.cluster_id,
       c.name AS cluster_name,
       a.account_name,
       ca.username,
       pe.status = 'active' AS person_active,
       p.status = 'active' AS project_active,
       a.status = 'active' AS allocation_active,
       now() >= a.starts_at AND now() < a.ends_at AS allocation_in_window,
       m.status = 'active' AS membership_active,
       now() >= m.starts_at AND (m.ends_at IS NULL OR now() < m.ends_at) AS membership_in_window,
       a.initial_su + t.granted_su - t.charged_su > 0 AS balance_positive,
       m.cap_su IS NULL OR coalesce(mt.charged_su, 0) < m.cap_su AS under_cap,
       pe.status = 'active' AND p.status = 'active' AND a.status = 'active'
           AND now() >= a.starts_at AND now() < a.ends_at
           AND m.status = 'active' AND now() >= m.starts_at AND (m.ends_at IS NULL OR now() < m.ends_at)
           AND a.initial_su + t.granted_su - t.charged_su > 0
           AND (m.cap_su IS NULL OR coalesce(mt.charged_su, 0) < m.cap_su)
           AND NOT limits.reached AS granted,
       NOT limits.reached AS under_resource_limits
FROM registry.membership m
JOIN registry.person pe ON pe.id = m.person_id
JOIN registry.allocation a ON a.id = m.allocation_id
JOIN registry.allocation_total t ON t.allocation_id = a.id
JOIN registry.project p ON p.id = a.project_id
JOIN registry.cluster c ON c.id = a.cluster_id
LEFT JOIN registry.member_total mt ON mt.allocation_id = m.allocation_id AND mt.person_id = m.person_id
LEFT JOIN registry.cluster_account ca ON ca.cluster_id = a.cluster_id AND ca.person_id = m.person_id
CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM registry.allocation_resource ar
                                   LEFT JOIN registry.allocation_resource_total rt
                                          ON rt.allocation_id = ar.allocation_id AND rt.resource_id = ar.resource_id
                                   WHERE ar.allocation_id = a.id AND ar.amount_su IS NOT NULL
                                     AND coalesce(rt.charged_su, 0) >= ar.amount_su) AS reached) limits;
COMMENT ON COLUMN report.access_explain.granted IS 'All of the conditions: the person should have access under this allocation now.';
COMMENT ON COLUMN report.access_explain.under_resource_limits IS
    'The allocation has charged less than the SU limit of every resource it includes with one (report.allocation_resource_balance).';

-- Clusters: time zone and usage bounds --------------------------------------------------------

CREATE FUNCTION registry.is_time_zone(name text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    -- An IANA name PostgreSQL knows (America/Chicago, UTC); not an abbreviation or a POSIX offset.
    IF name !~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$' THEN
        RETURN false;
    END IF;
    PERFORM timestamptz '2000-01-01 00:00:00+00' AT TIME ZONE name;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END;
$$;
COMMENT ON FUNCTION registry.is_time_zone(text) IS 'Whether a name is a time zone PostgreSQL knows by its IANA name (UTC, America/Chicago).';

ALTER TABLE registry.cluster
    ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC' CHECK (registry.is_time_zone(time_zone)),
    ADD COLUMN max_tres_count numeric NOT NULL DEFAULT 1000000000000 CHECK (max_tres_count > 0),
    ADD COLUMN elapsed_margin interval NOT NULL DEFAULT '1 hour' CHECK (elapsed_margin >= interval '0'),
    ADD COLUMN future_end_margin interval NOT NULL DEFAULT '1 hour' CHECK (future_end_margin >= interval '0');
COMMENT ON COLUMN registry.cluster.time_zone IS
    'The time zone of the times sacct prints on this cluster (its local time unless sacct runs with TZ=UTC), by IANA name; the usage importer reads parsable2 times in it.';
COMMENT ON COLUMN registry.cluster.max_tres_count IS
    'The largest TRES count (cpu, gres/gpu, mem in MB …) a job record may hold; the usage importer rejects a record with more. The default, 10^12, no real job reaches.';
COMMENT ON COLUMN registry.cluster.elapsed_margin IS
    'How much longer than End − Start a job record''s ElapsedRaw may be before the usage importer rejects it.';
COMMENT ON COLUMN registry.cluster.future_end_margin IS
    'How far past the importer''s clock a job''s End may be (clock skew) before the usage importer rejects it.';

-- Imports end in a recorded state -------------------------------------------------------------

ALTER TABLE registry.usage_import ADD COLUMN failure text CHECK (failure IS NULL OR finished_at IS NOT NULL);
COMMENT ON COLUMN registry.usage_import.failure IS
    'Why the import failed (finished_at is when); NULL when it succeeded or is still running.';
COMMENT ON COLUMN registry.usage_import.finished_at IS
    'When it finished or failed; NULL while running, or when its importer died (report.usage_imports says abandoned; the next import marks it failed).';

CREATE FUNCTION registry.usage_import_lock_key(import_id uuid) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtextextended('purser.usage_import ' || import_id::text, 0) $$;
COMMENT ON FUNCTION registry.usage_import_lock_key(uuid) IS
    'The session-level advisory lock (bigint key) an importer holds on its import while it runs.';

CREATE FUNCTION registry.usage_import_alive(import_id uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1
        FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
          AND l.classid = ((registry.usage_import_lock_key($1) >> 32) & 4294967295)::oid
          AND l.objid = (registry.usage_import_lock_key($1) & 4294967295)::oid)
$$;
COMMENT ON FUNCTION registry.usage_import_alive(uuid) IS
    'Whether an importer still holds the import''s advisory lock, i.e. is still connected and running it.';

CREATE VIEW report.usage_imports AS
SELECT i.id AS import_id,
       i.cluster_id,
       c.name AS cluster_name,
       i.source,
       i.format,
       i.actor,
       i.started_at,
       i.finished_at,
       CASE
           WHEN i.failure IS NOT NULL THEN 'failed'
           WHEN i.finished_at IS NOT NULL THEN 'finished'
           WHEN registry.usage_import_alive(i.id) THEN 'running'
           ELSE 'abandoned'
       END AS state,
       i.failure,
       i.records,
       i.charges,
       i.already_charged,
       i.rejected
FROM registry.usage_import i
JOIN registry.cluster c ON c.id = i.cluster_id;
COMMENT ON VIEW report.usage_imports IS
    'Every usage import and its state: running (its importer holds the import''s lock), finished, failed (with why), or abandoned (unfinished and nobody holds its lock: the importer died; the next import marks it failed).';
COMMENT ON COLUMN report.usage_imports.import_id IS 'The import.';
COMMENT ON COLUMN report.usage_imports.cluster_id IS 'The cluster.';
COMMENT ON COLUMN report.usage_imports.cluster_name IS 'Its name.';
COMMENT ON COLUMN report.usage_imports.source IS 'The file imported.';
COMMENT ON COLUMN report.usage_imports.format IS 'parsable2 or json.';
COMMENT ON COLUMN report.usage_imports.actor IS 'Who ran it.';
COMMENT ON COLUMN report.usage_imports.started_at IS 'When it started.';
COMMENT ON COLUMN report.usage_imports.finished_at IS 'When it finished or failed.';
COMMENT ON COLUMN report.usage_imports.state IS 'running, finished, failed or abandoned.';
COMMENT ON COLUMN report.usage_imports.failure IS 'Why it failed.';
COMMENT ON COLUMN report.usage_imports.records IS 'Job records read.';
COMMENT ON COLUMN report.usage_imports.charges IS 'Usage rows charged.';
COMMENT ON COLUMN report.usage_imports.already_charged IS 'Usage rows an earlier import had charged.';
COMMENT ON COLUMN report.usage_imports.rejected IS 'Records rejected.';

-- The one charging function ---------------------------------------------------------------------

CREATE FUNCTION registry.charge_usage_batch(
    cluster_ids uuid[],
    job_ids text[],
    submit_times timestamptz[],
    end_times timestamptz[],
    resource_ids uuid[],
    allocation_ids uuid[],
    person_ids uuid[],
    raw_amounts numeric[],
    site text DEFAULT NULL
) RETURNS TABLE (record bigint, su_amount numeric, already_charged boolean, rejected text)
LANGUAGE sql VOLATILE AS $$
    WITH input AS (
        SELECT *
        FROM unnest($1, $2, $3, $4, $5, $6, $7, $8)
             WITH ORDINALITY AS i(cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id,
                                  raw_amount, position)
    ), checked AS (
        SELECT i.*, rate.rate,
               CASE
                   WHEN c.id IS NULL THEN 'cluster ' || coalesce(i.cluster_id::text, 'NULL') || ' does not exist'
                   WHEN $9 IS NOT NULL AND c.name <> $9 THEN 'cluster ' || c.name || ' is not site ' || $9
                   WHEN a.id IS NULL THEN 'allocation ' || coalesce(i.allocation_id::text, 'NULL') || ' does not exist on cluster ' || c.name
                   WHEN r.id IS NULL THEN 'resource ' || coalesce(i.resource_id::text, 'NULL') || ' does not exist on cluster ' || c.name
                   WHEN p.id IS NULL THEN 'person ' || coalesce(i.person_id::text, 'NULL') || ' does not exist'
                   WHEN i.job_id IS NULL OR btrim(i.job_id) = '' THEN 'job_id is empty'
                   WHEN i.submit_time IS NULL OR i.end_time IS NULL THEN 'submit_time and end_time are required'
                   WHEN i.raw_amount IS NULL OR i.raw_amount < 0 THEN 'raw_amount must be zero or more'
                   WHEN i.end_time < i.submit_time THEN 'end_time is before submit_time'
                   WHEN inc.resource_id IS NULL THEN 'allocation ' || a.account_name || ' does not include resource ' || r.name
                   WHEN rate.rate IS NULL THEN 'resource ' || r.name || ' has no rate in force at ' || i.end_time
               END AS own_reason,
               CASE
                   WHEN row_number() OVER (PARTITION BY i.cluster_id, i.job_id, i.submit_time, i.resource_id
                                           ORDER BY i.position) > 1 THEN 'repeats an earlier record of this batch'
               END AS repeat_reason
        FROM input i
        LEFT JOIN registry.cluster c ON c.id = i.cluster_id
        LEFT JOIN registry.allocation a ON a.id = i.allocation_id AND a.cluster_id = i.cluster_id
        LEFT JOIN registry.resource r ON r.id = i.resource_id AND r.cluster_id = i.cluster_id
        LEFT JOIN registry.person p ON p.id = i.person_id
        LEFT JOIN registry.allocation_included_resource inc
               ON inc.allocation_id = i.allocation_id AND inc.resource_id = i.resource_id
        LEFT JOIN LATERAL registry.rate_in_force(i.resource_id, i.end_time) rate ON true
    ), judged AS (
        -- A job is charged for all its resources or none: one rejected record rejects its job's others.
        SELECT k.*,
               coalesce(k.own_reason,
                        'another record of job ' || k.job_id || ' was rejected: '
                            || first_value(k.own_reason) OVER (PARTITION BY k.cluster_id, k.job_id, k.submit_time
                                                               ORDER BY k.own_reason IS NULL, k.position),
                        k.repeat_reason) AS reason
        FROM checked k
    ), charged AS (
        INSERT INTO registry.usage (cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id,
                                    raw_amount, rate, su_amount)
        SELECT j.cluster_id, j.job_id, j.submit_time, j.end_time, j.resource_id, j.allocation_id, j.person_id,
               j.raw_amount, j.rate, registry.su_of(j.raw_amount, j.rate)
        FROM judged j
        WHERE j.reason IS NULL
        ON CONFLICT (cluster_id, job_id, submit_time, resource_id) DO NOTHING
        RETURNING cluster_id, job_id, submit_time, resource_id, su_amount
    )
    SELECT j.position, ch.su_amount, j.reason IS NULL AND ch.job_id IS NULL, j.reason
    FROM judged j
    LEFT JOIN charged ch ON j.reason IS NULL AND ch.cluster_id = j.cluster_id AND ch.job_id = j.job_id
                        AND ch.submit_time = j.submit_time AND ch.resource_id = j.resource_id
    ORDER BY j.position
$$;
COMMENT ON FUNCTION registry.charge_usage_batch(uuid[], text[], timestamptz[], timestamptz[], uuid[], uuid[], uuid[], numeric[], text) IS
    'The one way usage is charged (the API, the importer and registry.charge_usage call it): records as parallel arrays, each charged at the rate in force at its end (registry.rate_in_force, registry.su_of). '
    'A record naming a missing or foreign cluster, allocation, resource or person, a resource its allocation does not include, with no rate, a negative amount, an end before its submission, or (site given) another site''s cluster is rejected with the reason, '
    'as are the other records of its job (a job is charged for all its resources or none). One row per record, in input order: its position from 1, the SUs charged now, whether an earlier charge had it, and why it was rejected.';

CREATE OR REPLACE FUNCTION registry.charge_usage(
    cluster_id uuid,
    job_id text,
    submit_time timestamptz,
    end_time timestamptz,
    resource_id uuid,
    allocation_id uuid,
    person_id uuid,
    raw_amount numeric
) RETURNS numeric
LANGUAGE plpgsql AS $$
DECLARE
    outcome record;
BEGIN
    SELECT b.su_amount, b.rejected INTO outcome
    FROM registry.charge_usage_batch(ARRAY[charge_usage.cluster_id], ARRAY[charge_usage.job_id],
                                     ARRAY[charge_usage.submit_time], ARRAY[charge_usage.end_time],
                                     ARRAY[charge_usage.resource_id], ARRAY[charge_usage.allocation_id],
                                     ARRAY[charge_usage.person_id], ARRAY[charge_usage.raw_amount]) b;
    IF outcome.rejected IS NOT NULL THEN
        RAISE EXCEPTION 'registry.charge_usage: %', outcome.rejected USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN outcome.su_amount;
END;
$$;
COMMENT ON FUNCTION registry.charge_usage(uuid, text, timestamptz, timestamptz, uuid, uuid, uuid, numeric) IS
    'Charges one job''s use of one resource through registry.charge_usage_batch. Returns the SUs charged, or NULL when the job was already charged; a rejected record is an error with the reason.';

-- The ledger check uses the one formula, and checks the new running sums.
CREATE OR REPLACE VIEW report.ledger_violations AS
SELECT 'granted_su differs from the sum of diffs' AS violation, t.allocation_id,
       format('granted_su %s, Σ diffs %s', t.granted_su, coalesce(d.total, 0)) AS detail
FROM registry.allocation_total t
LEFT JOIN (SELECT allocation_id, sum(su_delta) AS total FROM registry.allocation_diff GROUP BY allocation_id) d
       ON d.allocation_id = t.allocation_id
WHERE t.granted_su <> coalesce(d.total, 0)
UNION ALL
SELECT 'charged_su differs from the sum of usage', t.allocation_id,
       format('charged_su %s, Σ usage %s', t.charged_su, coalesce(u.total, 0))
FROM registry.allocation_total t
LEFT JOIN (SELECT allocation_id, sum(su_amount) AS total FROM registry.usage GROUP BY allocation_id) u
       ON u.allocation_id = t.allocation_id
WHERE t.charged_su <> coalesce(u.total, 0)
UNION ALL
SELECT 'a member''s charged_su differs from the sum of their usage', coalesce(t.allocation_id, u.allocation_id),
       format('person %s: charged_su %s, Σ usage %s', coalesce(t.person_id, u.person_id), coalesce(t.charged_su, 0), coalesce(u.total, 0))
FROM registry.member_total t
FULL JOIN (SELECT allocation_id, person_id, sum(su_amount) AS total FROM registry.usage GROUP BY allocation_id, person_id) u
       ON u.allocation_id = t.allocation_id AND u.person_id = t.person_id
WHERE coalesce(t.charged_su, 0) <> coalesce(u.total, 0)
UNION ALL
SELECT 'an allocation has no running sums', a.id, 'no registry.allocation_total row'
FROM registry.allocation a
WHERE NOT EXISTS (SELECT 1 FROM registry.allocation_total t WHERE t.allocation_id = a.id)
UNION ALL
SELECT 'a transfer does not balance', min(d.allocation_id::text)::uuid,
       format('transfer %s: %s diffs summing to %s', d.transfer_id, count(*), sum(d.su_delta))
FROM registry.allocation_diff d
WHERE d.transfer_id IS NOT NULL
GROUP BY d.transfer_id
HAVING count(*) <> 2 OR sum(d.su_delta) <> 0
UNION ALL
SELECT 'an approved change request has no diff', r.allocation_id, format('change request %s', r.id)
FROM registry.change_request r
WHERE r.state = 'APPROVED'
  AND NOT EXISTS (SELECT 1 FROM registry.allocation_diff d WHERE d.change_request_id = r.id)
UNION ALL
SELECT 'a diff comes from a change request that is not approved', d.allocation_id,
       format('diff %s, change request %s is %s', d.id, r.id, r.state)
FROM registry.allocation_diff d
JOIN registry.change_request r ON r.id = d.change_request_id
WHERE r.state <> 'APPROVED'
UNION ALL
SELECT 'a charge does not equal raw ÷ rate', u.allocation_id,
       format('job %s on resource %s: %s ≠ %s ÷ %s', u.job_id, u.resource_id, u.su_amount, u.raw_amount, u.rate)
FROM registry.usage u
WHERE u.su_amount <> registry.su_of(u.raw_amount, u.rate)
UNION ALL
SELECT 'a charge refers to a missing allocation, resource or person', u.allocation_id,
       format('job %s', u.job_id)
FROM registry.usage u
WHERE NOT EXISTS (SELECT 1 FROM registry.allocation a WHERE a.id = u.allocation_id AND a.cluster_id = u.cluster_id)
   OR NOT EXISTS (SELECT 1 FROM registry.resource r WHERE r.id = u.resource_id AND r.cluster_id = u.cluster_id)
   OR NOT EXISTS (SELECT 1 FROM registry.person p WHERE p.id = u.person_id)
UNION ALL
SELECT 'a resource''s charged_su differs from the sum of its usage', coalesce(t.allocation_id, u.allocation_id),
       format('resource %s: charged_su %s, Σ usage %s', coalesce(t.resource_id, u.resource_id), coalesce(t.charged_su, 0), coalesce(u.total, 0))
FROM registry.allocation_resource_total t
FULL JOIN (SELECT allocation_id, resource_id, sum(su_amount) AS total FROM registry.usage GROUP BY allocation_id, resource_id) u
       ON u.allocation_id = t.allocation_id AND u.resource_id = t.resource_id
WHERE coalesce(t.charged_su, 0) <> coalesce(u.total, 0);

-- Grants ----------------------------------------------------------------------------------------

GRANT SELECT ON registry.allocation_included_resource, registry.allocation_resource_total,
                report.allocation_resource_balance, report.usage_imports
    TO purser_api, purser_daemon, purser_reader;
GRANT INSERT, UPDATE ON registry.allocation_resource_total TO purser_api, purser_daemon;
GRANT INSERT ON registry.allocation_resource TO purser_api;
GRANT EXECUTE ON FUNCTION registry.su_of(numeric, numeric), registry.rate_in_force(uuid, timestamptz),
                          registry.is_time_zone(text), registry.usage_import_lock_key(uuid),
                          registry.usage_import_alive(uuid)
    TO purser_api, purser_daemon, purser_reader;
GRANT EXECUTE ON FUNCTION registry.charge_usage_batch(uuid[], text[], timestamptz[], timestamptz[], uuid[], uuid[], uuid[], numeric[], text)
    TO purser_api, purser_daemon;
