-- V14: the ledger and the audit log hold against the application roles.
--
-- Why: a red-team run showed that anyone holding an application's database credential (the
-- API's, or a daemon's, which lives on every site host) could rewrite what Purser exists to
-- keep true. purser_api and purser_daemon could UPDATE registry.allocation_total and
-- member_total (a balance grew by 1,000,000 SUs with no audit row; members over their cap
-- regained access), INSERT forged audit.event rows in anyone's name, and insert usage rows
-- whose SUs were not raw ÷ rate; purser_api could also mint or re-point API tokens, and every
-- token's secret hash sat in the audit log, readable by the reporting role. Now:
--
-- * The application roles write none of these directly. The running sums
--   (allocation_total, member_total, allocation_resource_total), the ledger (usage,
--   allocation_diff), the change-request records (change_request, change_request_event, whose
--   approval must come with its diff), an allocation once made (its initial SUs, status and end
--   change only through diffs), and audit.event are written only by Purser's functions and
--   triggers. Those run as purser_owner (SECURITY DEFINER), whatever role calls them: the
--   trigger functions that keep the sums and write the audit log; registry.charge_usage_batch,
--   which computes every charge's SUs itself; apply_diff, transfer_su,
--   submit_change_request, decide_change_request, merge_person, and refuse_withdrawal (which
--   locks the sums). Each is executable only by the roles that need it (the EXECUTE grant is
--   the authorization check: a SECURITY DEFINER function open to PUBLIC would hand its rights
--   to the reporting role), and each runs with search_path pinned to pg_catalog, pg_temp, so a
--   caller cannot slip in an object of its own; their bodies name Purser's objects with their
--   schema. Every trigger function is SECURITY DEFINER too, so the audit log and the sums are
--   written the same way whoever changed the registry. These attributes are set by name from
--   the catalog, so a function an earlier migration re-created (with new parameter types) gets
--   them as well. CREATE OR REPLACE FUNCTION resets them: a later migration that re-creates one
--   of these functions must give them again (sql/tests/application_roles.rs fails until it
--   does).
-- * purser_owner is the role the schema documents as its owner. It owns these functions and is
--   granted what their bodies do (the migrator, which owns the tables, keeps owning them). A
--   migrator that is neither a superuser nor a member of purser_owner is made a member: giving
--   a function to a role needs that membership, and the README already says purser_owner runs
--   migrations.
-- * The actor (registry.current_actor()) falls back to the role the session acts as (SET ROLE
--   or its login) rather than current_user, which inside a SECURITY DEFINER function is the
--   function's owner.
-- * Every audit record keeps the database login that made it (session_user) beside the actor it
--   claims (purser.actor, which any session may set): audit.event.db_user, and, for the ledger
--   rows that are their own audit record, registry.usage.db_user and
--   registry.allocation_diff.db_user; usage imports too (registry.usage_import.db_user, shown by
--   report.usage_imports). A spoofed actor is visible beside the login that claimed it. Rows
--   written before this migration have NULL there: who logged in then was not recorded.
-- * purser_api may read API tokens and note their use (UPDATE of last_used_at), nothing else:
--   tokens are made and revoked by `purser token` with the owner's connection.
-- * Token rows are audited without secret_sha256 (audit.without_secrets). The events already
--   logged are scrubbed of it here: the audit log is append-only, but a credential's hash must
--   not stay readable by the reporting role and by GET /v1/audit, and nothing else in those
--   events changes. The append-only trigger is disabled for that one UPDATE, inside this
--   migration's transaction, and enabled again before it commits.
--
-- Locks: ALTER TABLE on audit.event, registry.usage, registry.allocation_diff and
-- registry.usage_import (new nullable columns and NOT VALID checks: no rewrite, no scan); the
-- scrub updates only the events of auth.token.

-- Who acts ---------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION registry.current_actor() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('purser.actor', true), ''),
                    nullif(current_setting('role'), 'none'),
                    session_user::text)
$$;
COMMENT ON FUNCTION registry.current_actor() IS
    'Who is acting: the session setting purser.actor (set by the API and CLI: SET LOCAL purser.actor = ''…''), else the role the session acts as (SET ROLE, else its login). Unlike current_user, the same inside SECURITY DEFINER functions.';

-- The audit log, without secrets ------------------------------------------------------------------

CREATE FUNCTION audit.without_secrets(row_data jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT row_data - 'secret_sha256' $$;
COMMENT ON FUNCTION audit.without_secrets(jsonb) IS
    'A row as the audit log keeps it: without the columns that hold credentials (auth.token.secret_sha256), which the log''s readers must never see. The one list of them.';

CREATE OR REPLACE FUNCTION audit.record_inserts() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO audit.event (actor, table_name, row_key, operation, after)
    SELECT registry.current_actor(), TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
           audit.key_of(to_jsonb(n), TG_ARGV), 'INSERT', audit.without_secrets(to_jsonb(n))
    FROM inserted_rows n;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION audit.record_inserts() IS
    'Statement trigger: logs each inserted row (without secrets), as purser_owner. Its arguments name the table''s primary key columns.';

CREATE OR REPLACE FUNCTION audit.record_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD IS NOT DISTINCT FROM NEW THEN
            RETURN NULL;
        END IF;
        INSERT INTO audit.event (actor, table_name, row_key, operation, before, after)
        VALUES (registry.current_actor(), TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
                audit.key_of(to_jsonb(NEW), TG_ARGV), 'UPDATE',
                audit.without_secrets(to_jsonb(OLD)), audit.without_secrets(to_jsonb(NEW)));
    ELSE
        INSERT INTO audit.event (actor, table_name, row_key, operation, before)
        VALUES (registry.current_actor(), TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
                audit.key_of(to_jsonb(OLD), TG_ARGV), 'DELETE', audit.without_secrets(to_jsonb(OLD)));
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION audit.record_change() IS
    'Row trigger: logs an update (when something changed) or a delete (without secrets), as purser_owner. Its arguments name the table''s primary key columns.';

-- The events logged so far lose the secret hashes they hold (see the top of this file).
ALTER TABLE audit.event DISABLE TRIGGER event_append_only;
UPDATE audit.event
   SET before = audit.without_secrets(before), after = audit.without_secrets(after)
 WHERE table_name = 'auth.token' AND (before ? 'secret_sha256' OR after ? 'secret_sha256');
ALTER TABLE audit.event ENABLE TRIGGER event_append_only;

-- The database login beside every claimed actor ------------------------------------------------

ALTER TABLE audit.event
    ADD COLUMN db_user text,
    ADD CONSTRAINT event_db_user_recorded CHECK (db_user IS NOT NULL) NOT VALID;
ALTER TABLE audit.event ALTER COLUMN db_user SET DEFAULT session_user;
COMMENT ON COLUMN audit.event.actor IS
    'Who, as the session claimed: its setting purser.actor, else the role it acts as (registry.current_actor()).';
COMMENT ON COLUMN audit.event.db_user IS
    'The database login that made the change (session_user), which no session setting changes: beside actor, which the session claims, it shows a spoofed actor. NULL for events logged before V14.';

ALTER TABLE registry.usage
    ADD COLUMN db_user text,
    ADD CONSTRAINT usage_db_user_recorded CHECK (db_user IS NOT NULL) NOT VALID;
ALTER TABLE registry.usage ALTER COLUMN db_user SET DEFAULT session_user;
COMMENT ON COLUMN registry.usage.db_user IS
    'The database login that charged it (session_user), beside the actor it claimed. NULL for charges made before V14.';

ALTER TABLE registry.allocation_diff
    ADD COLUMN db_user text,
    ADD CONSTRAINT allocation_diff_db_user_recorded CHECK (db_user IS NOT NULL) NOT VALID;
ALTER TABLE registry.allocation_diff ALTER COLUMN db_user SET DEFAULT session_user;
COMMENT ON COLUMN registry.allocation_diff.db_user IS
    'The database login that made it (session_user), beside the actor it claimed. NULL for diffs made before V14.';

ALTER TABLE registry.usage_import
    ADD COLUMN db_user text,
    ADD CONSTRAINT usage_import_db_user_recorded CHECK (db_user IS NOT NULL) NOT VALID;
ALTER TABLE registry.usage_import ALTER COLUMN db_user SET DEFAULT session_user;
COMMENT ON COLUMN registry.usage_import.db_user IS
    'The database login that ran it (session_user), beside the actor it claimed. NULL for imports run before V14.';

CREATE OR REPLACE VIEW report.usage_imports AS
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
       i.rejected,
       i.db_user
FROM registry.usage_import i
JOIN registry.cluster c ON c.id = i.cluster_id;
COMMENT ON COLUMN report.usage_imports.actor IS 'Who ran it, as the session claimed.';
COMMENT ON COLUMN report.usage_imports.db_user IS 'The database login that ran it; NULL for imports run before V14.';

-- purser_owner: the role the functions run as ----------------------------------------------------

DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'purser_owner', 'MEMBER') THEN
        EXECUTE format('GRANT purser_owner TO %I', current_user);
    END IF;
END;
$$;

-- CREATE: giving a function to a role needs that role to be able to create in its schema.
GRANT USAGE, CREATE ON SCHEMA registry, audit, queue TO purser_owner;
GRANT USAGE ON SCHEMA report TO purser_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA registry TO purser_owner;
GRANT SELECT, INSERT ON audit.event TO purser_owner;
GRANT SELECT ON ALL TABLES IN SCHEMA report TO purser_owner;
-- Tables the migrator adds later to these schemas, likewise.
ALTER DEFAULT PRIVILEGES IN SCHEMA registry GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO purser_owner;
ALTER DEFAULT PRIVILEGES IN SCHEMA report GRANT SELECT ON TABLES TO purser_owner;

-- The functions that write what the application roles may not -----------------------------------

-- Every trigger function, and the write paths of the ledger, become SECURITY DEFINER owned by
-- purser_owner with search_path pinned, executable only by the roles listed (none: only
-- through another function or a trigger). Found by name, whatever their parameter types.
DO $$
DECLARE
    definer record;
BEGIN
    FOR definer IN
        SELECT p.oid::regprocedure AS function, coalesce(callers.roles, '{}') AS roles
        FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        LEFT JOIN (VALUES ('charge_usage_batch', ARRAY['purser_api', 'purser_daemon']),
                          ('apply_diff', ARRAY['purser_api']),
                          ('transfer_su', ARRAY['purser_api']),
                          ('submit_change_request', ARRAY['purser_api']),
                          ('decide_change_request', ARRAY['purser_api']),
                          ('merge_person', ARRAY['purser_api']),
                          ('refuse_withdrawal', ARRAY[]::text[])) AS callers(function_name, roles)
               ON n.nspname = 'registry' AND callers.function_name = p.proname
        WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname NOT IN ('information_schema', 'public')
          AND (p.prorettype = 'trigger'::regtype OR callers.function_name IS NOT NULL)
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', definer.function);
        EXECUTE format('ALTER FUNCTION %s OWNER TO purser_owner', definer.function);
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, purser_api, purser_daemon, purser_reader', definer.function);
        IF cardinality(definer.roles) > 0 THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', definer.function,
                           (SELECT string_agg(quote_ident(role_name), ', ') FROM unnest(definer.roles) AS role_name));
        END IF;
    END LOOP;
END;
$$;

-- What the application roles may no longer write ------------------------------------------------

REVOKE INSERT, UPDATE, DELETE, TRUNCATE
    ON registry.allocation_total, registry.member_total, registry.allocation_resource_total,
       registry.usage, registry.allocation_diff,
       registry.change_request, registry.change_request_event,
       audit.event
    FROM PUBLIC, purser_api, purser_daemon, purser_reader;
-- An allocation is made by the API; its SUs, status and end then change only through diffs.
REVOKE UPDATE, DELETE, TRUNCATE ON registry.allocation FROM PUBLIC, purser_api, purser_daemon, purser_reader;

REVOKE ALL ON auth.token FROM PUBLIC, purser_api, purser_daemon, purser_reader;
GRANT SELECT, UPDATE (last_used_at) ON auth.token TO purser_api;

COMMENT ON ROLE purser_api IS
    'Purser: the REST front-end; reads the registry, writes it where no function must, charges and changes the ledger only through its functions, enqueues tasks; reads API tokens and notes their use; cannot write the audit log.';
COMMENT ON ROLE purser_daemon IS
    'Purser: site daemons; claim and complete tasks, record provisioned state, read the registry, charge usage only through registry.charge_usage_batch; cannot write the audit log.';
COMMENT ON ROLE purser_owner IS
    'Purser: owns the schema and runs migrations; the functions that write the ledger, its sums and the audit log run as it (SECURITY DEFINER).';
