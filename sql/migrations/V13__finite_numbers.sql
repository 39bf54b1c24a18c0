-- V13: numbers, times and keys the ledger can hold, and every client can render.
--
-- Why:
-- * PostgreSQL's numeric takes NaN and ±Infinity, and NaN is greater than every number (so
--   NaN > 0 is true). registry.charge_usage(raw_amount => 'NaN') or apply_diff(su_delta =>
--   'Infinity') made a balance NaN for good (the running sums are append-only), left
--   report.ledger_violations empty and turned access decisions around. Every column and function
--   parameter that holds SUs or raw amounts now has the domain registry.su_amount (finite, below
--   10^15 in magnitude, at most 6 decimals: the scale the SU formula rounds charges to), and every
--   rate registry.su_rate (the same, and more than 0). The rules live in registry.is_su_amount and
--   registry.is_su_rate; report.ledger_violations flags any stored amount that breaks them.
-- * A value stored beyond what a client can parse broke every list that showed it, for every
--   role: a raw amount of 79228162514264337593543950335, a usage row in the year 200000, an
--   allocation ending 'infinity'. Every time the registry keeps now has the domain
--   registry.instant (finite, 1970-01-01 to 9999-12-31 UTC: registry.is_instant), as do the
--   bounds of a rate's window, a task's run_at and a token's expiry. 'infinity' is refused
--   everywhere: where a column means an open end it says so with NULL (a membership's ends_at,
--   a rate's open upper bound), and an allocation always has an end (an extension moves it).
-- * A 10,000-character name, email, external id, job id, dedupe key or lane failed with
--   "index row requires 10016 bytes" (a 500). Names and ids are at most 256 characters
--   (registry.fits_name), email addresses 320.
-- * registry.charge_usage_batch rejects a record whose raw amount, times, job id or resulting SUs
--   break these rules, with its reason, instead of failing the batch on the column's domain: V16
--   restates it once, with this and V15's site check.
--
-- A database holding a value that breaks a new rule (only possible by writing SQL around the API)
-- is refused before anything changes, with the columns and counts named; correct those rows, then
-- migrate again.
--
-- Functions whose parameters change type are dropped and created again with their grants and
-- comments: registry.su_of, charge_usage, apply_diff, transfer_su, submit_change_request,
-- withdrawal_refusal, refuse_withdrawal. The views over the registry are dropped and created
-- again from their current definitions (pg_get_viewdef), with their owners, options, grants and
-- comments; a view of your own over them makes the migration fail (drop it first).
--
-- Locks: rewrites every registry table with a time or an amount (ACCESS EXCLUSIVE), registry.usage
-- included: minutes for tens of millions of charges. Run it when nothing else writes.

-- The rules ------------------------------------------------------------------------------------

CREATE FUNCTION registry.is_su_amount(amount numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- NaN sorts above every number, so the two bounds refuse it as they refuse ±Infinity; two
    -- comparisons cost a seventh of testing for the three values apart (it runs on every charge).
    SELECT amount > -1e15 AND amount < 1e15 AND scale(amount) <= 6
$$;
COMMENT ON FUNCTION registry.is_su_amount(numeric) IS
    'The rule of an amount the ledger holds (SUs, raw usage), its one home: finite, less than 10^15 in magnitude, at most 6 decimals. NULL for NULL.';

CREATE FUNCTION registry.is_su_rate(rate numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT registry.is_su_amount(rate) AND rate > 0
$$;
COMMENT ON FUNCTION registry.is_su_rate(numeric) IS
    'The rule of a rate (raw units per SU), its one home: an amount the ledger holds (registry.is_su_amount) and more than 0.';

CREATE FUNCTION registry.is_instant(at timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT at >= '1970-01-01 00:00:00+00'::timestamptz AND at < '10000-01-01 00:00:00+00'::timestamptz
$$;
COMMENT ON FUNCTION registry.is_instant(timestamptz) IS
    'The rule of a time the registry keeps, its one home: finite, from 1970-01-01 to 9999-12-31 UTC, so every client can parse it. NULL for NULL.';

CREATE FUNCTION registry.fits_name(name text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT length(name) <= 256
$$;
COMMENT ON FUNCTION registry.fits_name(text) IS
    'The length rule of names and ids (of people, organizations, resources, jobs, identities, task keys), its one home: at most 256 characters. NULL for NULL.';

CREATE DOMAIN registry.su_amount AS numeric CONSTRAINT su_amount_check CHECK (registry.is_su_amount(VALUE));
COMMENT ON DOMAIN registry.su_amount IS
    'An amount of SUs, or of raw usage: finite, less than 10^15 in magnitude, at most 6 decimals (registry.is_su_amount).';

CREATE DOMAIN registry.su_rate AS numeric CONSTRAINT su_rate_check CHECK (registry.is_su_rate(VALUE));
COMMENT ON DOMAIN registry.su_rate IS
    'A rate, raw units per SU: more than 0, less than 10^15, at most 6 decimals (registry.is_su_rate).';

CREATE DOMAIN registry.instant AS timestamptz CONSTRAINT instant_check CHECK (registry.is_instant(VALUE));
COMMENT ON DOMAIN registry.instant IS
    'A time the registry keeps: finite, from 1970-01-01 to 9999-12-31 UTC (registry.is_instant).';

-- The columns that take the domains: every amount and rate, and every time of the registry's
-- tables (registry.cluster.max_tres_count is a count, bounded below instead).
CREATE TEMPORARY TABLE v13_bounded_column (
    table_name regclass NOT NULL,
    column_name name NOT NULL,
    domain regtype NOT NULL,
    rule text NOT NULL
) ON COMMIT DROP;
INSERT INTO v13_bounded_column
SELECT table_name::regclass, column_name, 'registry.su_amount'::regtype, 'registry.is_su_amount'
FROM (VALUES ('registry.allocation', 'initial_su'),
             ('registry.allocation_resource', 'amount_su'),
             ('registry.allocation_resource_total', 'charged_su'),
             ('registry.allocation_total', 'granted_su'),
             ('registry.allocation_total', 'charged_su'),
             ('registry.member_total', 'charged_su'),
             ('registry.change_request', 'requested_su'),
             ('registry.allocation_diff', 'su_delta'),
             ('registry.membership', 'cap_su'),
             ('registry.usage', 'raw_amount'),
             ('registry.usage', 'su_amount')) AS amounts(table_name, column_name)
UNION ALL
SELECT table_name::regclass, column_name, 'registry.su_rate'::regtype, 'registry.is_su_rate'
FROM (VALUES ('registry.resource_rate', 'rate'),
             ('registry.usage', 'rate')) AS rates(table_name, column_name)
UNION ALL
SELECT c.oid::regclass, a.attname, 'registry.instant'::regtype, 'registry.is_instant'
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = 'registry'::regnamespace AND c.relkind = 'r' AND a.atttypid = 'timestamptz'::regtype;

-- Refuse a database holding a value that breaks a rule, before changing anything.
DO $$
DECLARE
    bounded record;
    offending bigint;
    faults text[] := '{}';
BEGIN
    FOR bounded IN SELECT * FROM v13_bounded_column ORDER BY table_name::text, column_name LOOP
        EXECUTE format('SELECT count(*) FROM %s WHERE NOT %s(%I)', bounded.table_name, bounded.rule, bounded.column_name)
            INTO offending;
        IF offending > 0 THEN
            faults := faults || format('%s.%s: %s rows', bounded.table_name, bounded.column_name, offending);
        END IF;
    END LOOP;
    IF cardinality(faults) > 0 THEN
        RAISE EXCEPTION 'V13: these columns hold values the registry can no longer keep: %', array_to_string(faults, '; ')
            USING HINT = 'Amounts must be finite, below 10^15 in magnitude, with at most 6 decimals (rates also above 0); '
                         'times finite, from 1970 to 9999. Correct those rows, then migrate again.';
    END IF;
END;
$$;

-- Save the views over the registry, then drop them: a column's type cannot change under a view.
CREATE TEMPORARY TABLE v13_saved_view ON COMMIT DROP AS
SELECT c.oid,
       format('%I.%I', n.nspname, c.relname) AS name,
       pg_get_viewdef(c.oid) AS definition,
       c.reloptions AS options,
       c.relowner::regrole::text AS owner,
       c.relacl AS acl,
       obj_description(c.oid, 'pg_class') AS comment,
       (SELECT coalesce(jsonb_object_agg(a.attname, col_description(c.oid, a.attnum)), '{}')
        FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND col_description(c.oid, a.attnum) IS NOT NULL) AS column_comments,
       ARRAY(SELECT DISTINCT d.refobjid
             FROM pg_rewrite r
             JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                             AND d.refclassid = 'pg_class'::regclass
             WHERE r.ev_class = c.oid AND d.refobjid <> c.oid) AS uses,
       false AS restored
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'v' AND n.nspname IN ('registry', 'report');

DO $$
BEGIN
    -- One statement: views that use each other go together; anything else using them stops it.
    EXECUTE (SELECT 'DROP VIEW ' || string_agg(name, ', ') FROM v13_saved_view);
END;
$$;

-- The functions whose parameters take the domains go too (a view uses registry.su_of).
DROP FUNCTION registry.su_of(numeric, numeric);
DROP FUNCTION registry.charge_usage(uuid, text, timestamptz, timestamptz, uuid, uuid, uuid, numeric);
DROP FUNCTION registry.apply_diff(uuid, text, text, numeric, text, timestamptz, text);
DROP FUNCTION registry.transfer_su(uuid, uuid, numeric, text);
DROP FUNCTION registry.submit_change_request(uuid, uuid, text, text, numeric, text, timestamptz);
DROP FUNCTION registry.refuse_withdrawal(uuid, numeric);
DROP FUNCTION registry.withdrawal_refusal(uuid, numeric);

-- The columns: one ALTER TABLE per table, so each table is rewritten once.
DO $$
DECLARE
    bounded_table record;
BEGIN
    FOR bounded_table IN
        SELECT table_name, string_agg(format('ALTER COLUMN %I TYPE %s', column_name, domain), ', ' ORDER BY column_name) AS changes
        FROM v13_bounded_column
        GROUP BY table_name
        ORDER BY table_name::text
    LOOP
        EXECUTE format('ALTER TABLE %s %s', bounded_table.table_name, bounded_table.changes);
    END LOOP;
END;
$$;

-- The SU formula, taking the domains (the views use it).
CREATE FUNCTION registry.su_of(raw_amount registry.su_amount, rate registry.su_rate) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT round(raw_amount / rate, 6) $$;
COMMENT ON FUNCTION registry.su_of(registry.su_amount, registry.su_rate) IS
    'The SU formula, its one home: raw ÷ rate, rounded to 6 decimals (rate 10: 10 raw hours make 1 SU).';

-- The views again, each once the views it uses are back.
DO $$
DECLARE
    saved record;
    restored_some boolean := true;
    grant_line record;
    column_comment record;
BEGIN
    WHILE restored_some LOOP
        restored_some := false;
        FOR saved IN
            SELECT s.* FROM v13_saved_view s
            WHERE NOT s.restored
              AND NOT EXISTS (SELECT 1 FROM v13_saved_view o WHERE o.oid = ANY (s.uses) AND NOT o.restored)
            ORDER BY s.oid
        LOOP
            EXECUTE format('CREATE VIEW %s%s AS %s', saved.name,
                           CASE WHEN saved.options IS NULL THEN ''
                                ELSE format(' WITH (%s)', array_to_string(saved.options, ', ')) END,
                           saved.definition);
            IF saved.owner <> current_user::text THEN
                EXECUTE format('ALTER VIEW %s OWNER TO %I', saved.name, saved.owner);
            END IF;
            FOR grant_line IN
                SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(x.grantee::regrole::text) END AS grantee,
                       string_agg(x.privilege_type, ', ') AS privileges
                FROM aclexplode(saved.acl) x
                WHERE x.grantee <> saved.owner::regrole
                GROUP BY x.grantee
            LOOP
                EXECUTE format('GRANT %s ON %s TO %s', grant_line.privileges, saved.name, grant_line.grantee);
            END LOOP;
            IF saved.comment IS NOT NULL THEN
                EXECUTE format('COMMENT ON VIEW %s IS %L', saved.name, saved.comment);
            END IF;
            FOR column_comment IN SELECT key, value FROM jsonb_each_text(saved.column_comments) LOOP
                EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', saved.name, column_comment.key, column_comment.value);
            END LOOP;
            UPDATE v13_saved_view SET restored = true WHERE oid = saved.oid;
            restored_some := true;
        END LOOP;
    END LOOP;
    IF EXISTS (SELECT 1 FROM v13_saved_view WHERE NOT restored) THEN
        RAISE EXCEPTION 'V13: views could not be created again: %',
            (SELECT string_agg(name, ', ') FROM v13_saved_view WHERE NOT restored);
    END IF;
END;
$$;

-- The ledger check flags any amount the ledger cannot hold (appended: the columns keep their order).
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
WHERE coalesce(t.charged_su, 0) <> coalesce(u.total, 0)
UNION ALL
-- The domains refuse such values; this finds any written while a rule was lifted.
SELECT 'an amount is not one the ledger can hold (not finite, 10^15 or more, more than 6 decimals, or a rate not above 0)',
       x.allocation_id, x.detail
FROM (SELECT a.id AS allocation_id, format('initial_su %s', a.initial_su) AS detail
      FROM registry.allocation a WHERE NOT registry.is_su_amount(a.initial_su)
      UNION ALL
      SELECT t.allocation_id, format('allocation_total: granted_su %s, charged_su %s', t.granted_su, t.charged_su)
      FROM registry.allocation_total t
      WHERE NOT (registry.is_su_amount(t.granted_su) AND registry.is_su_amount(t.charged_su))
      UNION ALL
      SELECT t.allocation_id, format('member_total of person %s: charged_su %s', t.person_id, t.charged_su)
      FROM registry.member_total t WHERE NOT registry.is_su_amount(t.charged_su)
      UNION ALL
      SELECT t.allocation_id, format('allocation_resource_total of resource %s: charged_su %s', t.resource_id, t.charged_su)
      FROM registry.allocation_resource_total t WHERE NOT registry.is_su_amount(t.charged_su)
      UNION ALL
      SELECT d.allocation_id, format('diff %s: su_delta %s', d.id, d.su_delta)
      FROM registry.allocation_diff d WHERE NOT registry.is_su_amount(d.su_delta)
      UNION ALL
      SELECT u.allocation_id, format('job %s on resource %s: raw_amount %s, rate %s, su_amount %s',
                                     u.job_id, u.resource_id, u.raw_amount, u.rate, u.su_amount)
      FROM registry.usage u
      WHERE NOT (registry.is_su_amount(u.raw_amount) AND registry.is_su_rate(u.rate) AND registry.is_su_amount(u.su_amount))) x;
COMMENT ON VIEW report.ledger_violations IS
    'Rows that break a ledger invariant: running sums that differ from their rows, unbalanced transfers, approvals without their diff, miscalculated or dangling charges, amounts the ledger cannot hold (not finite, too large, too many decimals). Expected empty, always. Scans the whole ledger.';

-- The write paths, taking the domains -----------------------------------------------------------

CREATE FUNCTION registry.withdrawal_refusal(allocation_id uuid, su registry.su_amount) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT format('the allocation has %s SUs left, fewer than the %s to take: its balance may not go below zero',
                  trim_scale(b.balance_su), trim_scale(withdrawal_refusal.su))
    FROM report.allocation_balance b
    WHERE b.allocation_id = withdrawal_refusal.allocation_id
      AND b.balance_su < withdrawal_refusal.su
$$;
COMMENT ON FUNCTION registry.withdrawal_refusal(uuid, registry.su_amount) IS
    'Why su SUs may not be taken from an allocation (by a reduction or a transfer out): its balance would go below zero. NULL when they may be taken. The one place that rule lives.';

CREATE FUNCTION registry.refuse_withdrawal(allocation_id uuid, su registry.su_amount) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    refusal text;
BEGIN
    -- Lock the running sums: a charge (which updates them) waits until this transaction ends,
    -- so the balance read next cannot change before the withdrawal's diff is written.
    PERFORM 1 FROM registry.allocation_total t WHERE t.allocation_id = refuse_withdrawal.allocation_id FOR UPDATE;
    refusal := registry.withdrawal_refusal(refuse_withdrawal.allocation_id, refuse_withdrawal.su);
    IF refusal IS NOT NULL THEN
        RAISE EXCEPTION '%', refusal USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END;
$$;
COMMENT ON FUNCTION registry.refuse_withdrawal(uuid, registry.su_amount) IS
    'Locks an allocation''s running sums and raises registry.withdrawal_refusal''s reason, if any: the guard before a reduction or transfer out.';

CREATE FUNCTION registry.charge_usage(
    cluster_id uuid,
    job_id text,
    submit_time timestamptz,
    end_time timestamptz,
    resource_id uuid,
    allocation_id uuid,
    person_id uuid,
    raw_amount registry.su_amount
) RETURNS numeric
LANGUAGE plpgsql AS $$
DECLARE
    outcome record;
BEGIN
    SELECT b.su_amount, b.rejected INTO outcome
    FROM registry.charge_usage_batch(ARRAY[charge_usage.cluster_id], ARRAY[charge_usage.job_id],
                                     ARRAY[charge_usage.submit_time], ARRAY[charge_usage.end_time],
                                     ARRAY[charge_usage.resource_id], ARRAY[charge_usage.allocation_id],
                                     ARRAY[charge_usage.person_id], ARRAY[charge_usage.raw_amount::numeric]) b;
    IF outcome.rejected IS NOT NULL THEN
        RAISE EXCEPTION 'registry.charge_usage: %', outcome.rejected USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN outcome.su_amount;
END;
$$;
COMMENT ON FUNCTION registry.charge_usage(uuid, text, timestamptz, timestamptz, uuid, uuid, uuid, registry.su_amount) IS
    'Charges one job''s use of one resource through registry.charge_usage_batch. Returns the SUs charged, or NULL when the job was already charged; a rejected record is an error with the reason.';

CREATE FUNCTION registry.apply_diff(
    allocation_id uuid,
    kind text,
    reason text,
    su_delta registry.su_amount DEFAULT 0,
    new_status text DEFAULT NULL,
    new_ends_at timestamptz DEFAULT NULL,
    source text DEFAULT 'automated'
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    diff_id uuid;
BEGIN
    IF apply_diff.kind = 'transfer' THEN
        RAISE EXCEPTION 'registry.apply_diff: use registry.transfer_su for transfers' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF apply_diff.source = 'change_request' THEN
        RAISE EXCEPTION 'registry.apply_diff: change requests are applied by registry.approve_change_request'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO registry.allocation_diff (allocation_id, kind, su_delta, new_status, new_ends_at, reason, source, actor)
    VALUES (apply_diff.allocation_id, apply_diff.kind, coalesce(apply_diff.su_delta, 0), apply_diff.new_status,
            apply_diff.new_ends_at, apply_diff.reason, apply_diff.source, registry.current_actor())
    RETURNING id INTO diff_id;
    RETURN diff_id;
END;
$$;
COMMENT ON FUNCTION registry.apply_diff(uuid, text, text, registry.su_amount, text, timestamptz, text) IS
    'Records a change to an allocation made by a workflow or an admin (supplement, adjustment, status, end_date), with the current actor. Returns the diff id.';

CREATE FUNCTION registry.transfer_su(from_allocation uuid, to_allocation uuid, su registry.su_amount, reason text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    pair uuid := registry.uuid_v7();
BEGIN
    IF su IS NULL OR su <= 0 THEN
        RAISE EXCEPTION 'registry.transfer_su: su must be more than zero, not %', quote_nullable(su)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF from_allocation = to_allocation THEN
        RAISE EXCEPTION 'registry.transfer_su: an allocation cannot transfer to itself' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM registry.refuse_withdrawal(from_allocation, su);
    INSERT INTO registry.allocation_diff (allocation_id, kind, su_delta, transfer_id, reason, source, actor)
    VALUES (from_allocation, 'transfer', -su, pair, reason, 'admin', registry.current_actor()),
           (to_allocation, 'transfer', su, pair, reason, 'admin', registry.current_actor());
    RETURN pair;
END;
$$;
COMMENT ON FUNCTION registry.transfer_su(uuid, uuid, registry.su_amount, text) IS
    'Moves SUs between allocations: two transfer diffs sharing one transfer_id, in one transaction. Refused when the source''s balance would go below zero. Returns the transfer id.';

CREATE FUNCTION registry.submit_change_request(
    allocation_id uuid,
    requester_id uuid,
    kind text,
    justification text,
    requested_su registry.su_amount DEFAULT NULL,
    requested_status text DEFAULT NULL,
    requested_ends_at timestamptz DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    request_id uuid;
    refusal text;
BEGIN
    IF submit_change_request.kind = 'reduction' THEN
        refusal := registry.withdrawal_refusal(submit_change_request.allocation_id, submit_change_request.requested_su);
        IF refusal IS NOT NULL THEN
            RAISE EXCEPTION '%', refusal USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END IF;
    INSERT INTO registry.change_request (allocation_id, requester_id, kind, justification, requested_su,
                                         requested_status, requested_ends_at)
    VALUES (submit_change_request.allocation_id, submit_change_request.requester_id, submit_change_request.kind,
            submit_change_request.justification, submit_change_request.requested_su,
            submit_change_request.requested_status, submit_change_request.requested_ends_at)
    RETURNING id INTO request_id;
    INSERT INTO registry.change_request_event (change_request_id, from_state, to_state, actor)
    VALUES (request_id, NULL, 'PENDING', registry.current_actor());
    RETURN request_id;
END;
$$;
COMMENT ON FUNCTION registry.submit_change_request(uuid, uuid, text, text, registry.su_amount, text, timestamptz) IS
    'Submits a change request (PENDING) and records the submission event. Returns its id. A reduction that would take the balance below zero is refused.';

-- Bounds where a domain does not fit -------------------------------------------------------------

ALTER TABLE registry.resource_rate ADD CONSTRAINT resource_rate_valid_during_bounded
    CHECK (registry.is_instant(lower(valid_during)) AND (upper_inf(valid_during) OR registry.is_instant(upper(valid_during))));
ALTER TABLE registry.cluster ADD CONSTRAINT cluster_max_tres_count_bounded CHECK (max_tres_count < 1e15);
ALTER TABLE queue.task ADD CONSTRAINT task_run_at_bounded CHECK (registry.is_instant(run_at));
ALTER TABLE auth.token ADD CONSTRAINT token_expires_at_bounded CHECK (registry.is_instant(expires_at));
COMMENT ON COLUMN registry.resource_rate.valid_during IS
    'When it applies: [from, until), until open-ended when unbounded (never ''infinity''); both bounds from 1970 to 9999. A job is charged at the rate in force at its end.';
COMMENT ON COLUMN registry.cluster.max_tres_count IS
    'The largest TRES count (cpu, gres/gpu, mem in MB …) a job record may hold, less than 10^15; the usage importer rejects a record with more. The default, 10^12, no real job reaches.';
COMMENT ON COLUMN queue.task.run_at IS 'Not claimed before this time (from 1970 to 9999); a retry moves it later by the backoff.';
COMMENT ON COLUMN auth.token.expires_at IS 'After this it is refused; before the year 10000.';

-- Names and ids: at most 256 characters (registry.fits_name); email addresses 320 -----------------

ALTER TABLE registry.organization
    ADD CONSTRAINT organization_name_length CHECK (registry.fits_name(name)),
    ADD CONSTRAINT organization_originated_id_length CHECK (registry.fits_name(originated_id));
ALTER TABLE registry.person
    ADD CONSTRAINT person_name_length CHECK (registry.fits_name(name)),
    ADD CONSTRAINT person_first_name_length CHECK (registry.fits_name(first_name)),
    ADD CONSTRAINT person_middle_name_length CHECK (registry.fits_name(middle_name)),
    ADD CONSTRAINT person_last_name_length CHECK (registry.fits_name(last_name)),
    ADD CONSTRAINT person_email_length CHECK (length(email) <= 320);
ALTER TABLE registry.identity
    ADD CONSTRAINT identity_source_length CHECK (registry.fits_name(source)),
    ADD CONSTRAINT identity_external_id_length CHECK (registry.fits_name(external_id));
ALTER TABLE registry.project
    ADD CONSTRAINT project_originated_id_length CHECK (registry.fits_name(originated_id));
ALTER TABLE registry.resource
    ADD CONSTRAINT resource_name_length CHECK (registry.fits_name(name)),
    ADD CONSTRAINT resource_unit_length CHECK (registry.fits_name(unit)),
    ADD CONSTRAINT resource_slurm_partition_length CHECK (registry.fits_name(slurm_partition)),
    ADD CONSTRAINT resource_slurm_tres_length CHECK (registry.fits_name(slurm_tres));
ALTER TABLE registry.usage
    ADD CONSTRAINT usage_job_id_length CHECK (registry.fits_name(job_id));
ALTER TABLE queue.task
    ADD CONSTRAINT task_dedupe_key_length CHECK (registry.fits_name(dedupe_key)),
    ADD CONSTRAINT task_lane_length CHECK (registry.fits_name(lane));
ALTER TABLE auth.token
    ADD CONSTRAINT token_name_length CHECK (registry.fits_name(name));

-- Grants ----------------------------------------------------------------------------------------

GRANT EXECUTE ON FUNCTION registry.is_su_amount(numeric), registry.is_su_rate(numeric), registry.is_instant(timestamptz),
                          registry.fits_name(text), registry.su_of(registry.su_amount, registry.su_rate)
    TO purser_api, purser_daemon, purser_reader;
GRANT EXECUTE ON FUNCTION registry.charge_usage(uuid, text, timestamptz, timestamptz, uuid, uuid, uuid, registry.su_amount)
    TO purser_api, purser_daemon;
GRANT EXECUTE ON FUNCTION registry.apply_diff(uuid, text, text, registry.su_amount, text, timestamptz, text),
                          registry.transfer_su(uuid, uuid, registry.su_amount, text),
                          registry.submit_change_request(uuid, uuid, text, text, registry.su_amount, text, timestamptz),
                          registry.withdrawal_refusal(uuid, registry.su_amount),
                          registry.refuse_withdrawal(uuid, registry.su_amount)
    TO purser_api;
