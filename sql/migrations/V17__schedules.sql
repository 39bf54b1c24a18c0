-- V17: schedules, for time-driven work. A schedule enqueues a task of a site every so often,
-- once per period, however many daemons serve the site.
--
-- Why: some work is driven by the clock rather than by a change (ending what has passed its
-- end date, periodic top-ups, a site's nightly sync). Each site's daemons already run a
-- maintenance loop; with the schedule in the database, every daemon of a site looks for due
-- schedules and the first to lock one fires it, so adding daemons never adds tasks.
--
-- What it adds:
-- * queue.schedule: one row per schedule, with when it is next due. Admins write it through
--   queue.schedule_every and queue.unschedule (`purser schedule add|remove`); daemons read it
--   and advance next_run_at as they fire (sql/queries/schedule_fire.sql).
-- * Firing is one statement: it locks the due rows FOR UPDATE SKIP LOCKED, enqueues one task
--   per schedule with the dedupe key `schedule:NAME:PERIOD` (the period's start, UTC), and
--   moves next_run_at past the clock, all in one transaction: a period is enqueued exactly
--   once, and a second daemon either skips the locked row or, once it is committed, finds it
--   no longer due.
-- * Missed periods are skipped, not caught up: a schedule that was due several times while no
--   daemon ran is fired once, for the latest period that has begun, and next_run_at moves to
--   the first period after the clock. A storm of stale tasks after an outage helps no one.
-- * A period has a fixed length (`every` is stored in hours, minutes and seconds): a month is
--   not a fixed length, and a day of the session's time zone is 23 or 25 hours twice a year,
--   so `every` in months or years is refused and days are counted as 24 hours.
-- * Row-level security as V15's: a daemon bound to a site sees and fires only that site's
--   schedules.
-- * Audit: creating, changing and removing a schedule are logged; a firing (which sets
--   last_enqueued_at) is not, since its task is its record and a schedule due every second
--   would otherwise write 86,400 audit rows a day.

CREATE TABLE queue.schedule (
    name text PRIMARY KEY
        CONSTRAINT schedule_name_check CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$'),
    site text NOT NULL
        CONSTRAINT schedule_site_check CHECK (site ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    kind text NOT NULL
        CONSTRAINT schedule_kind_check CHECK (kind ~ '^[a-z0-9_]+(\.[a-z0-9_]+)*$' AND length(kind) <= 100),
    payload jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT schedule_payload_check CHECK (jsonb_typeof(payload) = 'object'),
    every interval NOT NULL
        CONSTRAINT schedule_every_check CHECK (
            every >= interval '1 second' AND every <= interval '87600 hours'
            AND extract(year FROM every) = 0 AND extract(month FROM every) = 0 AND extract(day FROM every) = 0),
    next_run_at timestamptz NOT NULL
        CONSTRAINT schedule_next_run_at_bounded CHECK (registry.is_instant(next_run_at)),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_enqueued_at timestamptz,
    last_period_start timestamptz,
    last_task_id bigint
);
COMMENT ON TABLE queue.schedule IS
    'Time-driven work: each row enqueues a task of its site every period, exactly once per period however many daemons serve the site. '
    'Written by queue.schedule_every and queue.unschedule (purser schedule add|remove); fired by the site''s daemons (schedule_fire.sql), '
    'which skip periods missed while none ran rather than catch them up.';
COMMENT ON COLUMN queue.schedule.name IS 'The schedule''s name, unique: letters, digits, _ . : -, up to 200, starting with a letter or digit.';
COMMENT ON COLUMN queue.schedule.site IS 'The site whose daemons fire it and run its tasks.';
COMMENT ON COLUMN queue.schedule.kind IS 'The kind of the task it enqueues (see queue.task.kind).';
COMMENT ON COLUMN queue.schedule.payload IS 'The payload of the task it enqueues, a JSON object.';
COMMENT ON COLUMN queue.schedule.every IS 'The period: a fixed length from 1 second to 10 years, stored in hours, minutes and seconds (never months or days).';
COMMENT ON COLUMN queue.schedule.next_run_at IS 'The start of the next period: when it is next due.';
COMMENT ON COLUMN queue.schedule.created_at IS 'When the schedule was created.';
COMMENT ON COLUMN queue.schedule.last_enqueued_at IS 'When a daemon last fired it (by the daemon''s clock); NULL until then.';
COMMENT ON COLUMN queue.schedule.last_period_start IS 'The start of the period it last fired for, which its task''s dedupe key names; NULL until then.';
COMMENT ON COLUMN queue.schedule.last_task_id IS 'The task it last enqueued (which may since have been pruned); NULL until then.';

-- The firing path: a site's schedules in the order they fall due.
CREATE INDEX schedule_due ON queue.schedule (site, next_run_at);

CREATE TRIGGER audit_inserts AFTER INSERT ON queue.schedule REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit.record_inserts('name');
CREATE TRIGGER audit_changes AFTER UPDATE ON queue.schedule
    FOR EACH ROW WHEN (OLD.last_enqueued_at IS NOT DISTINCT FROM NEW.last_enqueued_at)
    EXECUTE FUNCTION audit.record_change('name');
CREATE TRIGGER audit_deletes AFTER DELETE ON queue.schedule
    FOR EACH ROW EXECUTE FUNCTION audit.record_change('name');

ALTER TABLE queue.schedule ENABLE ROW LEVEL SECURITY;
ALTER TABLE queue.schedule FORCE ROW LEVEL SECURITY;
CREATE POLICY schedule_of_the_sessions_site ON queue.schedule
    USING (site = coalesce((SELECT queue.session_site()), site))
    WITH CHECK (site = coalesce((SELECT queue.session_site()), site));
COMMENT ON POLICY schedule_of_the_sessions_site ON queue.schedule IS
    'A session bound to a site (queue.session_site()) sees and fires only that site''s schedules; any other session every site''s.';

-- Creating, changing and removing ----------------------------------------------------------

CREATE FUNCTION queue.schedule_every(
    name text,
    site text,
    kind text,
    payload jsonb,
    every interval,
    first_run_at timestamptz DEFAULT NULL
) RETURNS queue.schedule
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    period interval;
    saved queue.schedule;
BEGIN
    IF schedule_every.name IS NULL OR schedule_every.name !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$' THEN
        -- The message shows at most 40 characters of the name: an over-long one is its own fault.
        RAISE EXCEPTION 'queue.schedule_every: name % is not a schedule name (letters, digits, _ . : -, up to 200, starting with a letter or digit)',
            quote_nullable(CASE WHEN length(schedule_every.name) > 40 THEN left(schedule_every.name, 40) || '…' ELSE schedule_every.name END)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF schedule_every.site IS NULL OR schedule_every.site !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'queue.schedule_every: site % is not a site name (letters, digits, _ . -, up to 63)', quote_nullable(schedule_every.site)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF schedule_every.kind IS NULL OR schedule_every.kind !~ '^[a-z0-9_]+(\.[a-z0-9_]+)*$' OR length(schedule_every.kind) > 100 THEN
        RAISE EXCEPTION 'queue.schedule_every: kind % is not a task kind (dotted lower-case words, e.g. slurm.account.ensure)', quote_nullable(schedule_every.kind)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF schedule_every.payload IS NULL OR jsonb_typeof(schedule_every.payload) <> 'object' THEN
        RAISE EXCEPTION 'queue.schedule_every: payload must be a JSON object, not %', coalesce(jsonb_typeof(schedule_every.payload), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF schedule_every.every IS NULL OR extract(year FROM schedule_every.every) <> 0 OR extract(month FROM schedule_every.every) <> 0 THEN
        RAISE EXCEPTION 'queue.schedule_every: every must be a fixed length (seconds, minutes, hours or days), not %', quote_nullable(schedule_every.every)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Days become 24 hours: a period has one length whatever the session's time zone.
    period := (extract(epoch FROM schedule_every.every) * 1000000)::bigint * interval '1 microsecond';
    IF period < interval '1 second' OR period > interval '87600 hours' THEN
        RAISE EXCEPTION 'queue.schedule_every: every must be from 1 second to 10 years, not %', schedule_every.every
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF schedule_every.first_run_at IS NOT NULL AND NOT registry.is_instant(schedule_every.first_run_at) THEN
        RAISE EXCEPTION 'queue.schedule_every: first_run_at must be from 1970-01-01 to 9999-12-31 UTC'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO queue.schedule AS s (name, site, kind, payload, every, next_run_at)
    VALUES (schedule_every.name, schedule_every.site, schedule_every.kind, schedule_every.payload,
            period, coalesce(schedule_every.first_run_at, now()))
    ON CONFLICT (name) DO UPDATE
       SET site = excluded.site, kind = excluded.kind, payload = excluded.payload, every = excluded.every,
           -- An update keeps the schedule's rhythm unless it is given a new first run.
           next_run_at = coalesce(schedule_every.first_run_at, s.next_run_at)
    RETURNING s.* INTO saved;
    RETURN saved;
END;
$$;
COMMENT ON FUNCTION queue.schedule_every(text, text, text, jsonb, interval, timestamptz) IS
    'Creates schedule NAME, or changes it when it exists, and returns its row: a task of KIND with PAYLOAD for SITE every EVERY (a fixed length, 1 second to 10 years; days count as 24 hours), '
    'first due at FIRST_RUN_AT (default now). Changing a schedule keeps its next_run_at unless FIRST_RUN_AT is given. purser schedule add calls it.';

CREATE FUNCTION queue.unschedule(name text) RETURNS boolean
LANGUAGE sql AS $$
    WITH removed AS (DELETE FROM queue.schedule s WHERE s.name = unschedule.name RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM removed)
$$;
COMMENT ON FUNCTION queue.unschedule(text) IS
    'Removes schedule NAME; returns whether it existed. Tasks it already enqueued stay. purser schedule remove calls it.';

-- Grants ------------------------------------------------------------------------------------

-- Daemons read schedules and advance them as they fire; admins create and remove them through
-- the functions above, which no application role may call.
GRANT SELECT ON queue.schedule TO purser_api, purser_daemon, purser_reader;
GRANT UPDATE (next_run_at, last_enqueued_at, last_period_start, last_task_id) ON queue.schedule TO purser_daemon;
REVOKE EXECUTE ON FUNCTION queue.schedule_every(text, text, text, jsonb, interval, timestamptz), queue.unschedule(text)
    FROM PUBLIC, purser_api, purser_daemon, purser_reader;
