-- V5: the audit log, and the database roles.
--
-- Why: every change to the registry must be answerable (who, when, what before, what after),
-- whether it came through the API, a site script or an admin's psql session. Triggers write
-- the log, so nothing can change the registry without leaving a row; the actor is the session
-- setting purser.actor that the API and CLI set, else the database user. The log itself is
-- append-only: a trigger refuses UPDATE, DELETE and TRUNCATE for everyone, and application
-- roles are not even granted them.
--
-- Inserts are logged by statement triggers (one INSERT … SELECT over the transition table);
-- updates and deletes, which are rare, by row triggers. Not logged: the ledger tables
-- (registry.usage, registry.allocation_diff), which refuse updates and deletes and carry their
-- own actor and transaction on every row, so each row is its own audit record (logging every
-- charge again made a bulk charge 3.5 times slower: docs/benchmarks.md); and the running sums
-- (registry.allocation_total, member_total), which are derived from the ledger.
--
-- Roles are group roles without login; deployments grant them to login users:
--   purser_owner   owns the schema and runs migrations;
--   purser_api     the REST front-end: reads and writes the registry, enqueues tasks;
--   purser_daemon  site daemons: the queue and provision, reads the registry;
--   purser_reader  reporting: reads everything, writes nothing.
-- They are created if missing (roles belong to the whole server, so several Purser databases
-- on one server share them).

CREATE TABLE audit.event (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    table_name text NOT NULL,
    row_key jsonb NOT NULL,
    operation text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    before jsonb,
    after jsonb,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    CHECK ((operation = 'INSERT') = (before IS NULL)),
    CHECK ((operation = 'DELETE') = (after IS NULL))
);
CREATE INDEX event_row ON audit.event (table_name, row_key);
CREATE INDEX event_actor ON audit.event (actor, at);
CREATE INDEX event_at ON audit.event USING brin (at);
COMMENT ON TABLE audit.event IS
    'Every change to a registry table, append-only: written by triggers, so a direct UPDATE in psql is logged like an API call.';
COMMENT ON COLUMN audit.event.id IS 'Event id, in the order events were written.';
COMMENT ON COLUMN audit.event.at IS 'When: the time of the transaction that made the change.';
COMMENT ON COLUMN audit.event.actor IS 'Who: the session setting purser.actor, else the database user.';
COMMENT ON COLUMN audit.event.table_name IS 'The table changed, schema-qualified (registry.allocation).';
COMMENT ON COLUMN audit.event.row_key IS 'The changed row''s primary key as JSON, e.g. {"id": "…"}.';
COMMENT ON COLUMN audit.event.operation IS 'INSERT, UPDATE or DELETE.';
COMMENT ON COLUMN audit.event.before IS 'The row before the change (UPDATE, DELETE).';
COMMENT ON COLUMN audit.event.after IS 'The row after the change (INSERT, UPDATE).';
COMMENT ON COLUMN audit.event.transaction_id IS 'The transaction that made the change: events of one transaction share it.';

CREATE FUNCTION audit.key_of(row_data jsonb, key_columns text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_object_agg(k, row_data -> k) FROM unnest(key_columns) AS k
$$;
COMMENT ON FUNCTION audit.key_of(jsonb, text[]) IS 'The primary key columns of a row (as JSON) as a JSON object.';

CREATE FUNCTION audit.record_inserts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit.event (actor, table_name, row_key, operation, after)
    SELECT registry.current_actor(), TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
           audit.key_of(to_jsonb(n), TG_ARGV), 'INSERT', to_jsonb(n)
    FROM inserted_rows n;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION audit.record_inserts() IS
    'Statement trigger: logs each inserted row. Its arguments name the table''s primary key columns.';

CREATE FUNCTION audit.record_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD IS NOT DISTINCT FROM NEW THEN
            RETURN NULL;
        END IF;
        INSERT INTO audit.event (actor, table_name, row_key, operation, before, after)
        VALUES (registry.current_actor(), TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
                audit.key_of(to_jsonb(NEW), TG_ARGV), 'UPDATE', to_jsonb(OLD), to_jsonb(NEW));
    ELSE
        INSERT INTO audit.event (actor, table_name, row_key, operation, before)
        VALUES (registry.current_actor(), TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
                audit.key_of(to_jsonb(OLD), TG_ARGV), 'DELETE', to_jsonb(OLD));
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION audit.record_change() IS
    'Row trigger: logs an update (when something changed) or a delete. Its arguments name the table''s primary key columns.';

CREATE FUNCTION audit.refuse_tampering() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.event is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
COMMENT ON FUNCTION audit.refuse_tampering() IS 'Trigger: refuses UPDATE, DELETE and TRUNCATE on audit.event.';
CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON audit.event
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_tampering();
CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON audit.event
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_tampering();

-- Attach the audit triggers to every registry table but the ledger and its sums.
DO $$
DECLARE
    audited record;
BEGIN
    FOR audited IN
        SELECT c.relname AS table_name,
               array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum)) AS key_columns
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'registry'
        JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
        WHERE c.relkind = 'r' AND c.relname NOT IN ('usage', 'allocation_diff', 'allocation_total', 'member_total')
        GROUP BY c.relname
    LOOP
        EXECUTE format(
            'CREATE TRIGGER audit_inserts AFTER INSERT ON registry.%I REFERENCING NEW TABLE AS inserted_rows '
            'FOR EACH STATEMENT EXECUTE FUNCTION audit.record_inserts(%s)',
            audited.table_name,
            (SELECT string_agg(quote_literal(k), ', ') FROM unnest(audited.key_columns) k));
        EXECUTE format(
            'CREATE TRIGGER audit_changes AFTER UPDATE OR DELETE ON registry.%I '
            'FOR EACH ROW EXECUTE FUNCTION audit.record_change(%s)',
            audited.table_name,
            (SELECT string_agg(quote_literal(k), ', ') FROM unnest(audited.key_columns) k));
    END LOOP;
END;
$$;

-- Roles --------------------------------------------------------------------------------------

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['purser_owner', 'purser_api', 'purser_daemon', 'purser_reader'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        END IF;
    END LOOP;
END;
$$;
COMMENT ON ROLE purser_owner IS 'Purser: owns the schema and runs migrations.';
COMMENT ON ROLE purser_api IS 'Purser: the REST front-end; reads and writes the registry, enqueues tasks; cannot rewrite the audit log.';
COMMENT ON ROLE purser_daemon IS 'Purser: site daemons; claim and complete tasks, record provisioned state, read the registry; cannot rewrite the audit log.';
COMMENT ON ROLE purser_reader IS 'Purser: reporting; reads every schema, writes nothing.';

GRANT USAGE ON SCHEMA registry, queue, provision, audit, report TO purser_api, purser_daemon, purser_reader;

GRANT SELECT ON ALL TABLES IN SCHEMA registry, queue, provision, audit, report TO purser_reader, purser_api, purser_daemon;

GRANT INSERT, UPDATE ON ALL TABLES IN SCHEMA registry TO purser_api;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA registry TO purser_api;
GRANT EXECUTE ON FUNCTION queue.enqueue(text, text, jsonb, integer, timestamptz, integer, text, text, bigint[]),
                          queue.cancel(bigint), queue.retry(bigint) TO purser_api;
GRANT INSERT, UPDATE ON queue.task TO purser_api;

GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA queue, provision TO purser_daemon;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA queue TO purser_daemon;
GRANT EXECUTE ON FUNCTION registry.current_actor(), registry.charge_usage(uuid, text, timestamptz, timestamptz, uuid, uuid, uuid, numeric),
                          registry.rate_at(uuid, timestamptz) TO purser_daemon;
GRANT INSERT ON registry.usage TO purser_daemon;
GRANT INSERT, UPDATE ON registry.allocation_total, registry.member_total TO purser_daemon;

-- Triggers write the audit log with the privileges of whoever changed the registry: they may
-- insert events, and nothing else.
GRANT INSERT ON audit.event TO purser_api, purser_daemon;
REVOKE UPDATE, DELETE, TRUNCATE ON audit.event FROM PUBLIC, purser_api, purser_daemon, purser_reader;
