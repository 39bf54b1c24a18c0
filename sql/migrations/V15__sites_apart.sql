-- V15: sites apart. One site's daemon, token or database credential can no longer hold up,
-- take over or look into another site's work.
--
-- Why: lanes and dedupe keys were global, so a daemon of site delta could enqueue a task that
-- never runs in lane `account:expanse/che260001` and freeze expanse's provisioning of that
-- account, or take a dedupe key first so that expanse's queue.enqueue returned delta's task
-- and expanse's work was never queued. A dependency on another site's task revealed its state
-- (the new task was cancelled at once when it was dead). And every daemon shared one database
-- role, purser_daemon, which may update or delete any site's tasks: the credential on every
-- site host could stop every other site.
--
-- What changes:
-- * Lanes and dedupe keys belong to a site: the lane index and the dedupe unique index lead
--   with the site, and queue.enqueue (replaced below, same signature and grants) looks a key
--   up within its site. task_claim.sql's lane check compares sites as well.
-- * A task depends only on tasks of its own site: queue.enqueue refuses any other id with
--   one sentence, the same whether the task is another site's or does not exist, so it
--   reveals nothing. (Completing a task counts down its dependents in the same statement, as
--   the completing daemon; a dependent of another site would be out of that daemon's sight.)
-- * Per-site login roles. queue.site_role binds a login role to one site;
--   queue.create_site_role makes such a role, a member of purser_daemon, and binds it in one
--   transaction (`purser site-role create`). Row-level security on queue.task,
--   queue.task_attempt, queue.worker and provision.applied_state lets a bound role see and
--   change only its own site's rows, and queue.enqueue refuses it another site's task.
--
-- Who is bound: the policies read the binding of session_user, the role that logged in, never
-- current_user or a setting. SET ROLE purser_daemon changes current_user but not
-- session_user, so a bound role cannot shed its binding, and a client cannot choose a site by
-- setting anything. Roles that are not bound (purser_daemon's own login users, purser_api,
-- purser_reader, admins) see every site's rows, as before: a single-site install, or one
-- whose daemons all share one credential, keeps working unchanged. The API enforces a daemon
-- token's site itself (api/src/routes/tasks.rs), since it connects as purser_api.
--
-- FORCE ROW LEVEL SECURITY makes the policies hold for the tables' owner too, so a SECURITY
-- DEFINER function owned by purser_owner that a bound role calls still sees only that role's
-- site (session_user does not change inside such a function). A superuser bypasses
-- row-level security whatever FORCE says: functions owned by a superuser must check
-- queue.session_site() themselves, as queue.enqueue does.
--
-- Cost: the policy's binding is looked up once per statement (an InitPlan), then compared per
-- row. The policies also keep the planner from using non-leakproof conditions (enum
-- equality, now(), array overlap) in an index before them, so a generic plan of a claim is
-- costed far higher than it runs; Purser's sessions turn JIT off (sql/src/pool.rs), which
-- such a cost would otherwise trigger. docs/benchmarks.md has the queue's figures for a
-- bound role, an unbound one and the owner.
--
-- Operators: pg_dump and pg_restore run as the owner of these tables (not a superuser) now
-- need --enable-row-security; they then see every row, as the owner is bound to no site.
-- The index rebuilds below lock queue.task against writes while they run (retention keeps
-- the table small). Dependencies between sites that existed before this migration are left
-- as they are; a bound daemon does not see, so does not count down, a dependent of another
-- site, which then waits until an unbound daemon completes its dependency or an admin
-- cancels it (`purser task cancel`).

-- Lanes and dedupe keys per site -------------------------------------------------------------

DROP INDEX queue.task_dedupe_key;
-- Dedupe: one unfinished task per site and key. ON CONFLICT in queue.enqueue infers this index.
CREATE UNIQUE INDEX task_dedupe_key ON queue.task (site, dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('waiting', 'queued', 'running');
DROP INDEX queue.task_lane_order;
-- Lanes: the unfinished tasks of a site's lane in order, to find its head.
CREATE INDEX task_lane_order ON queue.task (site, lane, id)
    WHERE lane IS NOT NULL AND state IN ('waiting', 'queued', 'running');

COMMENT ON COLUMN queue.task.dedupe_key IS
    'Optional key unique among the site''s unfinished tasks: enqueueing it again for the same site returns the existing task. Another site''s key is another key.';
COMMENT ON COLUMN queue.task.lane IS
    'Optional ordering key within the site: the site''s tasks sharing a lane run one at a time, in id order. Another site''s lane of the same name is another lane.';
COMMENT ON COLUMN queue.task.depends_on IS
    'Tasks of the same site that must succeed before this one runs.';

-- Which login role serves which site ---------------------------------------------------------

CREATE TABLE queue.site_role (
    role_name text PRIMARY KEY CONSTRAINT site_role_role_name_check CHECK (role_name ~ '^[a-z_][a-z0-9_]{0,62}$'),
    site text NOT NULL CONSTRAINT site_role_site_check CHECK (site ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE queue.site_role IS
    'Login roles bound to one site: a session that logged in as one of them sees and changes only that site''s rows of queue.task, queue.task_attempt, queue.worker and provision.applied_state, and enqueues only for that site. '
    'Written by queue.create_site_role and queue.drop_site_role (purser site-role); a role not listed here is bound to no site.';
COMMENT ON COLUMN queue.site_role.role_name IS 'The login role (lower-case letters, digits and _, up to 63), as session_user names it.';
COMMENT ON COLUMN queue.site_role.site IS 'The only site whose queue rows it may see and change.';
COMMENT ON COLUMN queue.site_role.created_at IS 'When it was bound.';

CREATE TRIGGER audit_inserts AFTER INSERT ON queue.site_role REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit.record_inserts('role_name');
CREATE TRIGGER audit_changes AFTER UPDATE OR DELETE ON queue.site_role
    FOR EACH ROW EXECUTE FUNCTION audit.record_change('role_name');

-- PL/pgSQL rather than SQL: the policies call it once per statement, and a SQL function that
-- cannot be inlined (SECURITY DEFINER) is planned again at every statement that calls it,
-- while PL/pgSQL keeps its plan for the session.
CREATE FUNCTION queue.session_site() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT s.site FROM queue.site_role s WHERE s.role_name = session_user::text);
END;
$$;
COMMENT ON FUNCTION queue.session_site() IS
    'The site the session''s login role (session_user) is bound to in queue.site_role, or NULL when it is bound to none and may see every site. '
    'SET ROLE does not change it. The queue''s row-level security policies and queue.enqueue read it.';

-- Row-level security on what a daemon writes -------------------------------------------------

ALTER TABLE queue.task ENABLE ROW LEVEL SECURITY;
ALTER TABLE queue.task FORCE ROW LEVEL SECURITY;
CREATE POLICY task_of_the_sessions_site ON queue.task
    USING (site = coalesce((SELECT queue.session_site()), site))
    WITH CHECK (site = coalesce((SELECT queue.session_site()), site));
COMMENT ON POLICY task_of_the_sessions_site ON queue.task IS
    'A session bound to a site (queue.session_site()) sees, enqueues, updates and deletes only that site''s tasks; any other session every site''s.';

ALTER TABLE queue.task_attempt ENABLE ROW LEVEL SECURITY;
ALTER TABLE queue.task_attempt FORCE ROW LEVEL SECURITY;
CREATE POLICY attempt_of_a_visible_task ON queue.task_attempt
    USING (EXISTS (SELECT 1 FROM queue.task t WHERE t.id = task_attempt.task_id))
    WITH CHECK (EXISTS (SELECT 1 FROM queue.task t WHERE t.id = task_attempt.task_id));
COMMENT ON POLICY attempt_of_a_visible_task ON queue.task_attempt IS
    'An attempt is seen and written with its task: a session bound to a site, only the attempts of that site''s tasks.';

ALTER TABLE queue.worker ENABLE ROW LEVEL SECURITY;
ALTER TABLE queue.worker FORCE ROW LEVEL SECURITY;
CREATE POLICY worker_of_the_sessions_site ON queue.worker
    USING (site = coalesce((SELECT queue.session_site()), site))
    WITH CHECK (site = coalesce((SELECT queue.session_site()), site));
COMMENT ON POLICY worker_of_the_sessions_site ON queue.worker IS
    'A session bound to a site registers and sees only that site''s daemon processes; any other session every site''s.';

ALTER TABLE provision.applied_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE provision.applied_state FORCE ROW LEVEL SECURITY;
CREATE POLICY state_of_the_sessions_site ON provision.applied_state
    USING (site = coalesce((SELECT queue.session_site()), site))
    WITH CHECK (site = coalesce((SELECT queue.session_site()), site));
COMMENT ON POLICY state_of_the_sessions_site ON provision.applied_state IS
    'A session bound to a site records and sees only what was applied on that site; any other session every site''s.';

-- The history view reads its tables as the caller, so a bound role sees its own site's history.
ALTER VIEW queue.task_history SET (security_invoker = true);

-- queue.enqueue: the caller's site, dependencies of the same site, dedupe within the site ----

CREATE OR REPLACE FUNCTION queue.enqueue(
    site text,
    kind text,
    payload jsonb DEFAULT '{}',
    priority integer DEFAULT 0,
    run_at timestamptz DEFAULT NULL,
    max_attempts integer DEFAULT NULL,
    dedupe_key text DEFAULT NULL,
    lane text DEFAULT NULL,
    depends_on bigint[] DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    new_id bigint;
    pending integer := 0;
    blocked_by bigint;
    missing bigint;
    bound_site text := queue.session_site();
    initial_state queue.task_state := 'queued';
BEGIN
    IF enqueue.site IS NULL OR enqueue.site !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'queue.enqueue: site % is not a site name (letters, digits, _ . -, up to 63)', quote_nullable(enqueue.site)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF bound_site IS NOT NULL AND enqueue.site <> bound_site THEN
        RAISE EXCEPTION 'queue.enqueue: database role % serves site %, so it may not enqueue for site %', session_user, bound_site, enqueue.site
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF enqueue.kind IS NULL OR enqueue.kind !~ '^[a-z0-9_]+(\.[a-z0-9_]+)*$' OR length(enqueue.kind) > 100 THEN
        RAISE EXCEPTION 'queue.enqueue: kind % is not a task kind (dotted lower-case words, e.g. slurm.account.ensure)', quote_nullable(enqueue.kind)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF enqueue.payload IS NULL OR jsonb_typeof(enqueue.payload) <> 'object' THEN
        RAISE EXCEPTION 'queue.enqueue: payload must be a JSON object, not %', coalesce(jsonb_typeof(enqueue.payload), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF enqueue.priority IS NULL OR enqueue.priority NOT BETWEEN -32768 AND 32767 THEN
        RAISE EXCEPTION 'queue.enqueue: priority % is out of range (-32768 to 32767)', quote_nullable(enqueue.priority)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF enqueue.max_attempts IS NOT NULL AND enqueue.max_attempts < 1 THEN
        RAISE EXCEPTION 'queue.enqueue: max_attempts must be at least 1, not %', enqueue.max_attempts
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF enqueue.dedupe_key = '' OR enqueue.lane = '' THEN
        RAISE EXCEPTION 'queue.enqueue: dedupe_key and lane must be NULL or non-empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF enqueue.depends_on IS NOT NULL AND cardinality(enqueue.depends_on) > 0 THEN
        -- Another site's task is refused in the words used for a missing one: the answer
        -- tells the caller nothing about other sites.
        SELECT d INTO missing
        FROM unnest(enqueue.depends_on) d
        WHERE NOT EXISTS (SELECT 1 FROM queue.task t WHERE t.id = d AND t.site = enqueue.site)
        LIMIT 1;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'queue.enqueue: depends_on names task %, which does not exist on site % (a task depends only on tasks of its own site)', missing, enqueue.site
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        -- FOR SHARE: a dependency completing concurrently waits for us to commit, so its
        -- completion then sees this task and counts it down; or we wait for it and see it done.
        PERFORM 1 FROM queue.task t WHERE t.id = ANY (enqueue.depends_on) FOR SHARE;
        SELECT count(*) FILTER (WHERE t.state <> 'succeeded'),
               min(t.id) FILTER (WHERE t.state IN ('dead', 'cancelled'))
          INTO pending, blocked_by
        FROM queue.task t WHERE t.id = ANY (enqueue.depends_on);
        IF pending > 0 THEN
            initial_state := 'waiting';
        END IF;
    END IF;

    IF blocked_by IS NOT NULL THEN
        INSERT INTO queue.task AS t (site, kind, payload, priority, run_at, max_attempts, dedupe_key,
                                     lane, depends_on, state, finished_at, last_error)
        VALUES (enqueue.site, enqueue.kind, enqueue.payload, enqueue.priority::smallint,
                coalesce(enqueue.run_at, now()), coalesce(enqueue.max_attempts, 10), enqueue.dedupe_key,
                enqueue.lane,
                enqueue.depends_on, 'cancelled', now(),
                format('not run: dependency %s is %s', blocked_by,
                       (SELECT d.state FROM queue.task d WHERE d.id = blocked_by)))
        RETURNING t.id INTO new_id;
        RETURN new_id;
    END IF;

    LOOP
        INSERT INTO queue.task AS t (site, kind, payload, priority, run_at, max_attempts,
                                     dedupe_key, lane, depends_on, pending_dependencies, state)
        VALUES (enqueue.site, enqueue.kind, enqueue.payload, enqueue.priority::smallint,
                coalesce(enqueue.run_at, now()), coalesce(enqueue.max_attempts, 10),
                enqueue.dedupe_key, enqueue.lane, enqueue.depends_on, pending, initial_state)
        ON CONFLICT (site, dedupe_key) WHERE dedupe_key IS NOT NULL AND state IN ('waiting', 'queued', 'running')
        DO NOTHING
        RETURNING t.id INTO new_id;
        IF new_id IS NOT NULL THEN
            RETURN new_id;
        END IF;
        SELECT t.id INTO new_id FROM queue.task t
        WHERE t.site = enqueue.site AND t.dedupe_key = enqueue.dedupe_key
          AND t.state IN ('waiting', 'queued', 'running');
        IF new_id IS NOT NULL THEN
            RETURN new_id;
        END IF;
        -- The task holding the key finished between our insert and our look: try again.
    END LOOP;
END;
$$;
COMMENT ON FUNCTION queue.enqueue(text, text, jsonb, integer, timestamptz, integer, text, text, bigint[]) IS
    'Enqueues a task and returns its id; runs in the caller''s transaction, so a registry change and its task commit together. '
    'With a dedupe_key held by an unfinished task of the same site, returns that task''s id instead. '
    'With depends_on (tasks of the same site only), the task waits until they all succeed, or is cancelled at once if one is dead or cancelled. '
    'A session bound to a site (queue.session_site()) may enqueue only for that site.';

-- Making and removing per-site roles ---------------------------------------------------------

CREATE FUNCTION queue.create_site_role(role_name text, site text, password_verifier text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = create_site_role.role_name) THEN
        RAISE EXCEPTION 'queue.create_site_role: a role named % already exists on this server; choose another name', create_site_role.role_name
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF EXISTS (SELECT 1 FROM queue.site_role s WHERE s.role_name = create_site_role.role_name) THEN
        RAISE EXCEPTION 'queue.create_site_role: % is still bound to site % (its role was dropped outside purser); run purser site-role drop % first',
            create_site_role.role_name,
            (SELECT s.site FROM queue.site_role s WHERE s.role_name = create_site_role.role_name),
            create_site_role.role_name
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF password_verifier IS NOT NULL AND password_verifier !~ '^SCRAM-SHA-256\$' THEN
        RAISE EXCEPTION 'queue.create_site_role: password_verifier must be a SCRAM-SHA-256 verifier, never a password'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The binding first: its checks refuse a bad role or site name before any role exists.
    INSERT INTO queue.site_role (role_name, site) VALUES (create_site_role.role_name, create_site_role.site);
    EXECUTE format('CREATE ROLE %I LOGIN IN ROLE purser_daemon PASSWORD %L', create_site_role.role_name, password_verifier);
    EXECUTE format('COMMENT ON ROLE %I IS %L', create_site_role.role_name,
                   format('Purser: a daemon of site %s only; sees and changes that site''s queue rows alone (queue.site_role).', create_site_role.site));
END;
$$;
COMMENT ON FUNCTION queue.create_site_role(text, text, text) IS
    'Creates a login role that is a member of purser_daemon, with the given SCRAM-SHA-256 password verifier (none: it logs in by another method), and binds it to the site in queue.site_role, in the caller''s transaction: '
    'no session of the role can start before it is bound. Needs CREATEROLE; purser site-role create calls it.';

CREATE FUNCTION queue.drop_site_role(role_name text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    bound_to text;
BEGIN
    -- The role goes first, so that no session of it outlives its binding while holding rights.
    IF NOT EXISTS (SELECT 1 FROM queue.site_role s WHERE s.role_name = drop_site_role.role_name) THEN
        RAISE EXCEPTION 'queue.drop_site_role: % is not a site role of this database', drop_site_role.role_name
            USING ERRCODE = 'no_data_found';
    END IF;
    BEGIN
        EXECUTE format('DROP ROLE IF EXISTS %I', drop_site_role.role_name);
    EXCEPTION WHEN dependent_objects_still_exist THEN
        RAISE EXCEPTION 'queue.drop_site_role: role % still owns objects or holds privileges (in this database or another); reassign or drop them first (REASSIGN OWNED, DROP OWNED)', drop_site_role.role_name
            USING ERRCODE = 'dependent_objects_still_exist';
    END;
    DELETE FROM queue.site_role s WHERE s.role_name = drop_site_role.role_name RETURNING s.site INTO bound_to;
    RETURN bound_to;
END;
$$;
COMMENT ON FUNCTION queue.drop_site_role(text) IS
    'Drops a role queue.create_site_role made, and its binding; returns the site it served. Needs CREATEROLE; purser site-role drop calls it.';

-- Grants ------------------------------------------------------------------------------------

-- The policies' site lookup runs as purser_owner, as every SECURITY DEFINER function does (V14),
-- and only the roles that read queue tables call it. Every session that reads a queue table
-- evaluates the policies, so runs queue.session_site().
ALTER FUNCTION queue.session_site() OWNER TO purser_owner;
GRANT SELECT ON queue.site_role TO purser_owner;
REVOKE EXECUTE ON FUNCTION queue.session_site() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION queue.session_site() TO purser_api, purser_daemon, purser_reader;
GRANT SELECT ON queue.site_role TO purser_reader;
-- Only an admin with CREATEROLE makes and drops roles.
REVOKE EXECUTE ON FUNCTION queue.create_site_role(text, text, text), queue.drop_site_role(text)
    FROM PUBLIC, purser_api, purser_daemon, purser_reader;
