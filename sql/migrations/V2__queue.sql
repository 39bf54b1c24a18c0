-- V2: the task queue between front-ends and site daemons.
--
-- Why: every action Purser takes on a managed system (a Slurm account, an LDAP entry, a site
-- script) is a row here, written in the same transaction as the registry change that implies
-- it, and claimed by a daemon of the task's site. One table keeps the contract plain: scripts
-- enqueue with `SELECT queue.enqueue(...)`, admins inspect and retry with SQL.
--
-- Shape, chosen for a fast and boring hot path:
-- * A task row carries its whole current state; the success path writes nothing else (no
--   attempt row), so a claim and a completion are one UPDATE each, batched by the daemon.
--   Failed, expired and released attempts are kept in queue.task_attempt.
-- * Every transition is a compare-and-set on (id, attempts, state): `attempts` grows by one
--   at each claim, so it names the claim, and a worker that lost its lease can never
--   overwrite a newer attempt's outcome.
-- * Indexes are partial, so a row only pays for those that concern it: the claim index holds
--   queued rows only; dedupe and lane indexes hold unfinished rows that use them; the
--   dependency index holds waiting rows only.
-- * fillfactor 80 leaves room on each page for a row's next version.

CREATE TYPE queue.task_state AS ENUM ('waiting', 'queued', 'running', 'succeeded', 'dead', 'cancelled');
COMMENT ON TYPE queue.task_state IS
    'waiting: dependencies not yet succeeded; queued: ready at run_at; running: claimed under a lease; '
    'succeeded, dead (failed permanently or out of attempts), cancelled: finished.';

CREATE TABLE queue.task (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site text NOT NULL CHECK (site ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    kind text NOT NULL CHECK (kind ~ '^[a-z0-9_]+(\.[a-z0-9_]+)*$' AND length(kind) <= 100),
    payload jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    state queue.task_state NOT NULL DEFAULT 'queued',
    priority smallint NOT NULL DEFAULT 0,
    run_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL DEFAULT 10 CHECK (max_attempts >= 1),
    dedupe_key text CHECK (dedupe_key <> ''),
    lane text CHECK (lane <> ''),
    depends_on bigint[],
    pending_dependencies integer NOT NULL DEFAULT 0 CHECK (pending_dependencies >= 0),
    worker_id uuid,
    lease_expires_at timestamptz,
    started_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    result jsonb,
    last_error text,
    CHECK ((state = 'running') = (lease_expires_at IS NOT NULL)),
    CHECK ((state IN ('succeeded', 'dead', 'cancelled')) = (finished_at IS NOT NULL)),
    CHECK ((state = 'waiting') = (pending_dependencies > 0))
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);

COMMENT ON TABLE queue.task IS
    'One row per task: an executor action for one site. Written by queue.enqueue (API, scripts), '
    'claimed and completed by the site''s daemons. Finished rows are pruned after the retention period.';
COMMENT ON COLUMN queue.task.id IS 'Task id, in enqueue order.';
COMMENT ON COLUMN queue.task.site IS 'The site whose daemons run this task (e.g. a cluster name).';
COMMENT ON COLUMN queue.task.kind IS 'The executor action, dotted lower case, e.g. slurm.account.ensure.';
COMMENT ON COLUMN queue.task.payload IS 'The action''s arguments, a JSON object the executor reads.';
COMMENT ON COLUMN queue.task.state IS 'waiting, queued, running, succeeded, dead or cancelled (see the type queue.task_state).';
COMMENT ON COLUMN queue.task.priority IS 'Smaller runs first among ready tasks of a site; default 0, negative for urgent.';
COMMENT ON COLUMN queue.task.run_at IS 'Not claimed before this time; a retry moves it later by the backoff.';
COMMENT ON COLUMN queue.task.attempts IS 'How many times the task was claimed; also names the current claim for fencing.';
COMMENT ON COLUMN queue.task.max_attempts IS 'After this many failed attempts the task is dead.';
COMMENT ON COLUMN queue.task.dedupe_key IS 'Optional key unique among unfinished tasks: enqueueing it again returns the existing task.';
COMMENT ON COLUMN queue.task.lane IS 'Optional ordering key: tasks sharing a lane run one at a time, in id order.';
COMMENT ON COLUMN queue.task.depends_on IS 'Tasks that must succeed before this one runs.';
COMMENT ON COLUMN queue.task.pending_dependencies IS 'How many of depends_on have not yet succeeded; the task is waiting while above zero.';
COMMENT ON COLUMN queue.task.worker_id IS 'The daemon process (queue.worker.id) that claimed the task last.';
COMMENT ON COLUMN queue.task.lease_expires_at IS 'While running: when the claim lapses unless its worker heartbeats. Then the task is rescued and runs again.';
COMMENT ON COLUMN queue.task.started_at IS 'When the latest attempt was claimed.';
COMMENT ON COLUMN queue.task.created_at IS 'When the task was enqueued.';
COMMENT ON COLUMN queue.task.finished_at IS 'When the task succeeded, died or was cancelled.';
COMMENT ON COLUMN queue.task.result IS 'What the executor returned on success (JSON), if anything.';
COMMENT ON COLUMN queue.task.last_error IS 'The latest error: a failed attempt''s message, a lapsed lease, or why it was cancelled.';

-- The claim path: ready tasks of one site in claim order. Holds queued rows only.
CREATE INDEX task_claim_order ON queue.task (site, priority, run_at, id) WHERE state = 'queued';
-- Dedupe: one unfinished task per key. ON CONFLICT in queue.enqueue infers this index.
CREATE UNIQUE INDEX task_dedupe_key ON queue.task (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('waiting', 'queued', 'running');
-- Lanes: the unfinished tasks of a lane in order, to find its head.
CREATE INDEX task_lane_order ON queue.task (lane, id)
    WHERE lane IS NOT NULL AND state IN ('waiting', 'queued', 'running');
-- Dependencies: the waiting tasks that depend on a given task.
CREATE INDEX task_waiting_dependencies ON queue.task USING gin (depends_on) WHERE state = 'waiting';

CREATE TABLE queue.task_attempt (
    task_id bigint NOT NULL REFERENCES queue.task (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    worker_id uuid,
    started_at timestamptz,
    finished_at timestamptz NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('failed', 'lease_expired', 'released')),
    error text NOT NULL,
    PRIMARY KEY (task_id, attempt, finished_at)
);
COMMENT ON TABLE queue.task_attempt IS
    'Every attempt that did not succeed: the success path writes none, the task row itself is the record of its last attempt. '
    'queue.task_history joins both into the full history.';
COMMENT ON COLUMN queue.task_attempt.task_id IS 'The task.';
COMMENT ON COLUMN queue.task_attempt.attempt IS 'The task''s attempts count when this attempt was claimed.';
COMMENT ON COLUMN queue.task_attempt.worker_id IS 'The daemon process that ran it.';
COMMENT ON COLUMN queue.task_attempt.started_at IS 'When it was claimed.';
COMMENT ON COLUMN queue.task_attempt.finished_at IS 'When it failed, lapsed or was released.';
COMMENT ON COLUMN queue.task_attempt.outcome IS 'failed: the executor returned an error; lease_expired: its worker stopped heartbeating; released: its worker shut down before it finished.';
COMMENT ON COLUMN queue.task_attempt.error IS 'What went wrong.';

CREATE TABLE queue.worker (
    id uuid PRIMARY KEY,
    site text NOT NULL,
    hostname text NOT NULL,
    pid integer NOT NULL,
    version text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    stopped_at timestamptz
);
COMMENT ON TABLE queue.worker IS 'Daemon processes, one row per boot: a fresh id each start, so a restarted daemon never inherits an old claim.';
COMMENT ON COLUMN queue.worker.id IS 'The worker id, a UUIDv7 made at boot.';
COMMENT ON COLUMN queue.worker.site IS 'The site it serves.';
COMMENT ON COLUMN queue.worker.hostname IS 'The host it runs on.';
COMMENT ON COLUMN queue.worker.pid IS 'Its process id on that host.';
COMMENT ON COLUMN queue.worker.version IS 'The purser version it runs.';
COMMENT ON COLUMN queue.worker.started_at IS 'When it booted.';
COMMENT ON COLUMN queue.worker.last_seen_at IS 'Its latest heartbeat.';
COMMENT ON COLUMN queue.worker.stopped_at IS 'When it shut down cleanly; NULL while running or after a crash.';

CREATE VIEW queue.task_history AS
SELECT a.task_id, a.attempt, a.worker_id, a.started_at, a.finished_at, a.outcome, a.error
FROM queue.task_attempt a
UNION ALL
SELECT t.id, t.attempts, t.worker_id, t.started_at,
       CASE WHEN t.state = 'succeeded' THEN t.finished_at END,
       t.state::text,
       NULL
FROM queue.task t
WHERE t.state IN ('running', 'succeeded');
COMMENT ON VIEW queue.task_history IS
    'Every attempt of every task, oldest first by attempt: the failed ones from queue.task_attempt, '
    'and the running or successful one from the task row.';
COMMENT ON COLUMN queue.task_history.task_id IS 'The task.';
COMMENT ON COLUMN queue.task_history.attempt IS 'The attempt number.';
COMMENT ON COLUMN queue.task_history.worker_id IS 'The daemon process that ran it.';
COMMENT ON COLUMN queue.task_history.started_at IS 'When it was claimed.';
COMMENT ON COLUMN queue.task_history.finished_at IS 'When it ended; NULL while running.';
COMMENT ON COLUMN queue.task_history.outcome IS 'running, succeeded, failed, lease_expired or released.';
COMMENT ON COLUMN queue.task_history.error IS 'What went wrong, for attempts that did not succeed.';

-- Wake-up: one NOTIFY per site per statement, whatever the number of rows, and PostgreSQL
-- folds identical notifications within a transaction, so a burst of inserts costs one.
CREATE FUNCTION queue.notify_new_tasks() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('purser_queue', s.site)
    FROM (SELECT DISTINCT site FROM new_tasks WHERE state = 'queued') s;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION queue.notify_new_tasks() IS
    'Statement trigger: notifies channel purser_queue with each site that got ready tasks, once per statement.';
CREATE TRIGGER task_inserted_notify AFTER INSERT ON queue.task
    REFERENCING NEW TABLE AS new_tasks FOR EACH STATEMENT EXECUTE FUNCTION queue.notify_new_tasks();

CREATE FUNCTION queue.enqueue(
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
    initial_state queue.task_state := 'queued';
BEGIN
    IF enqueue.site IS NULL OR enqueue.site !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'queue.enqueue: site % is not a site name (letters, digits, _ . -, up to 63)', quote_nullable(enqueue.site)
            USING ERRCODE = 'invalid_parameter_value';
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
        SELECT d INTO missing
        FROM unnest(enqueue.depends_on) d
        WHERE NOT EXISTS (SELECT 1 FROM queue.task t WHERE t.id = d)
        LIMIT 1;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'queue.enqueue: depends_on names task %, which does not exist', missing
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
        ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND state IN ('waiting', 'queued', 'running')
        DO NOTHING
        RETURNING t.id INTO new_id;
        IF new_id IS NOT NULL THEN
            RETURN new_id;
        END IF;
        SELECT t.id INTO new_id FROM queue.task t
        WHERE t.dedupe_key = enqueue.dedupe_key AND t.state IN ('waiting', 'queued', 'running');
        IF new_id IS NOT NULL THEN
            RETURN new_id;
        END IF;
        -- The task holding the key finished between our insert and our look: try again.
    END LOOP;
END;
$$;
COMMENT ON FUNCTION queue.enqueue(text, text, jsonb, integer, timestamptz, integer, text, text, bigint[]) IS
    'Enqueues a task and returns its id; runs in the caller''s transaction, so a registry change and its task commit together. '
    'With a dedupe_key held by an unfinished task, returns that task''s id instead. '
    'With depends_on, the task waits until they all succeed, or is cancelled at once if one is dead or cancelled.';

CREATE FUNCTION queue.cancel_dependents(finished_ids bigint[], reason text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    frontier bigint[] := finished_ids;
    total integer := 0;
    step integer;
BEGIN
    -- Walk the dependency graph breadth first: the dependents of a cancelled task are cancelled too.
    WHILE cardinality(frontier) > 0 LOOP
        WITH cancelled AS (
            UPDATE queue.task t
               SET state = 'cancelled', finished_at = now(), pending_dependencies = 0,
                   last_error = format('not run: %s', reason)
             WHERE t.state = 'waiting' AND t.depends_on && frontier
            RETURNING t.id
        )
        SELECT coalesce(array_agg(id), '{}'), count(*) INTO frontier, step FROM cancelled;
        total := total + step;
    END LOOP;
    RETURN total;
END;
$$;
COMMENT ON FUNCTION queue.cancel_dependents(bigint[], text) IS
    'Cancels every waiting task that depends, directly or through others, on the given tasks, saying why. Returns how many.';

CREATE FUNCTION queue.cancel(task_id bigint) RETURNS queue.task_state
LANGUAGE plpgsql AS $$
DECLARE
    current queue.task_state;
BEGIN
    SELECT t.state INTO current FROM queue.task t WHERE t.id = task_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue.cancel: task % does not exist', task_id USING ERRCODE = 'no_data_found';
    END IF;
    IF current IN ('succeeded', 'dead', 'cancelled') THEN
        RAISE EXCEPTION 'queue.cancel: task % is already %', task_id, current USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- A running task's worker is fenced out: its completion no longer matches state 'running'.
    UPDATE queue.task t
       SET state = 'cancelled', finished_at = now(), lease_expires_at = NULL, pending_dependencies = 0,
           last_error = format('cancelled by %s', current_user)
     WHERE t.id = task_id;
    PERFORM queue.cancel_dependents(ARRAY[task_id], format('dependency %s was cancelled', task_id));
    RETURN 'cancelled';
END;
$$;
COMMENT ON FUNCTION queue.cancel(bigint) IS
    'Cancels an unfinished task, and the tasks waiting on it. A running task''s executor may still finish, but its outcome is discarded.';

CREATE FUNCTION queue.retry(task_id bigint) RETURNS queue.task_state
LANGUAGE plpgsql AS $$
DECLARE
    task queue.task;
    pending integer;
    blocked_by bigint;
    next_state queue.task_state;
BEGIN
    SELECT * INTO task FROM queue.task t WHERE t.id = task_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue.retry: task % does not exist', task_id USING ERRCODE = 'no_data_found';
    END IF;
    IF task.state IN ('running', 'succeeded', 'waiting') THEN
        RAISE EXCEPTION 'queue.retry: task % is %; only dead, cancelled or queued tasks can be retried', task_id, task.state
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM 1 FROM queue.task t WHERE t.id = ANY (task.depends_on) FOR SHARE;
    SELECT count(*) FILTER (WHERE t.state <> 'succeeded'), min(t.id) FILTER (WHERE t.state IN ('dead', 'cancelled'))
      INTO pending, blocked_by
    FROM queue.task t WHERE t.id = ANY (task.depends_on);
    IF blocked_by IS NOT NULL THEN
        RAISE EXCEPTION 'queue.retry: task % depends on task %, which is dead or cancelled; retry that one first', task_id, blocked_by
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    next_state := CASE WHEN pending > 0 THEN 'waiting' ELSE 'queued' END;
    UPDATE queue.task t
       SET state = next_state, run_at = now(), finished_at = NULL, pending_dependencies = pending,
           max_attempts = greatest(t.max_attempts, t.attempts + 1)
     WHERE t.id = task_id;
    IF next_state = 'queued' THEN
        PERFORM pg_notify('purser_queue', task.site);
    END IF;
    RETURN next_state;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'queue.retry: task % has dedupe_key %, which another unfinished task now holds', task_id, task.dedupe_key
        USING ERRCODE = 'unique_violation';
END;
$$;
COMMENT ON FUNCTION queue.retry(bigint) IS
    'Runs a dead, cancelled or delayed task again now, with one more attempt allowed; it waits first if its dependencies have not all succeeded.';
