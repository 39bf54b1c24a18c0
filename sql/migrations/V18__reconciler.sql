-- V18: the reconciler. Desired state, observed state, the plan, and the marks that make a
-- site re-plan within seconds of a change.
--
-- Why: Purser decided who should have access (report.access_explain) but told a site only
-- when some API writes enqueued a membership.sync or allocation.sync task. A project suspended,
-- a member passing her cap in a usage import, an allocation running out or reaching its end, a
-- person made inactive, an admin's UPDATE in psql: the reports said "denied" and no site heard
-- of it; a member added before her cluster account left a task that retrying could not fix.
-- Edge-triggered tasks are replaced by a level-triggered loop, as a Kubernetes controller runs:
--
-- * provision.desired (a view over the registry) is the state each managed system should hold,
--   one row per (site, connector, subject), with why. The decision stays in report's views:
--   report.allocation_access (new: the allocation's own conditions) and report.access_explain
--   (which now reads it, and names its verdict: granted, blocked or revoked).
-- * provision.observed is what a connector last saw the managed system hold, written only
--   through the completion of a connector's task (a full snapshot per site and connector, or the
--   read-back of the subjects an action touched), so a fenced-out task records nothing.
-- * report.drift and provision.reconcile: the plan is desired minus observed, as actions
--   (create, update, block, unblock, delete; conflict for what the site holds outside the
--   connector's ownership, never acted on), each with from → to and why. provision.reconcile
--   enqueues them as tasks of one lane per (site, connector), deduplicated by subject and target,
--   and records each in provision.action with the plan that caused it.
-- * Guard rails live in provision.reconcile, the only thing that enqueues actions: only
--   subjects the connector reports as managed are changed or deleted; an empty desired set never
--   deletes; a plan deleting more than a site's threshold (default 10% of the managed subjects,
--   at least 5) applies nothing unless the caller allows a mass delete.
-- * Statement triggers on every registry table that feeds desired state mark the affected
--   accounts dirty in provision.dirty (an append-only log: marking never waits on another
--   marker) and NOTIFY purser_reconcile with the site; the site's daemon re-plans just those.
-- * registry.now() is the time the decision is taken at: now(), or purser.now when a session
--   sets it (the tests' and the daemon's injectable clock). The views read it once per query.
-- * Time-driven registry work: registry.advance_time ends allocations past their end with an
--   automated status diff, writes the supplements of registry.topup_rule once per period, and
--   marks what a passing start or end changed. The daemons run it on the scheduler (V17).
-- * registry.enqueue_membership_sync and registry.enqueue_allocation_sync are dropped: the
--   reconciler's script connector replaces the tasks they enqueued (docs/reconciler.md says how a
--   site migrates its scripts).
--
-- Locks: CREATE OR REPLACE VIEW on report.access_explain (an ACCESS EXCLUSIVE lock on the view
-- only, held to the end of the migration); new tables and statement triggers on registry tables
-- (SHARE ROW EXCLUSIVE on each while the trigger is created); no table is rewritten or scanned.

-- The clock of a decision -------------------------------------------------------------------

CREATE FUNCTION registry.now() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(nullif(current_setting('purser.now', true), '')::timestamptz, now())
$$;
COMMENT ON FUNCTION registry.now() IS
    'The time access is decided at: the session''s purser.now when set (a test''s or daemon''s injectable clock), else now(). Views call it as (SELECT registry.now()), once per query.';

-- The decision: an allocation's own conditions, then a membership's --------------------------

CREATE VIEW report.allocation_access AS
SELECT a.id AS allocation_id,
       a.cluster_id,
       c.name AS cluster_name,
       a.account_name,
       a.project_id,
       a.starts_at,
       a.ends_at,
       a.initial_su + t.granted_su AS awarded_su,
       t.charged_su,
       a.initial_su + t.granted_su - t.charged_su AS balance_su,
       p.status = 'active' AS project_active,
       a.status = 'active' AS allocation_active,
       clock.now >= a.starts_at AND clock.now < a.ends_at AS allocation_in_window,
       a.initial_su + t.granted_su - t.charged_su > 0 AS balance_positive,
       NOT limits.reached AS under_resource_limits,
       CASE WHEN p.status = 'active' AND a.status = 'active'
                 AND clock.now >= a.starts_at AND clock.now < a.ends_at
                 AND a.initial_su + t.granted_su - t.charged_su > 0
                 AND NOT limits.reached
            THEN 'granted' ELSE 'blocked' END AS access
FROM registry.allocation a
CROSS JOIN (SELECT (SELECT registry.now()) AS now) clock
JOIN registry.allocation_total t ON t.allocation_id = a.id
JOIN registry.project p ON p.id = a.project_id
JOIN registry.cluster c ON c.id = a.cluster_id
CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM registry.allocation_resource ar
                                   LEFT JOIN registry.allocation_resource_total rt
                                          ON rt.allocation_id = ar.allocation_id AND rt.resource_id = ar.resource_id
                                   WHERE ar.allocation_id = a.id AND ar.amount_su IS NOT NULL
                                     AND coalesce(rt.charged_su, 0) >= ar.amount_su) AS reached) limits;
COMMENT ON VIEW report.allocation_access IS
    'For every allocation, the conditions that decide whether its account may run jobs, and the verdict (granted or blocked). The allocation''s half of the access policy; report.access_explain adds the member''s.';
COMMENT ON COLUMN report.allocation_access.allocation_id IS 'The allocation.';
COMMENT ON COLUMN report.allocation_access.cluster_id IS 'Its cluster.';
COMMENT ON COLUMN report.allocation_access.cluster_name IS 'The cluster''s name: the site its account lives on.';
COMMENT ON COLUMN report.allocation_access.account_name IS 'Its account on the cluster.';
COMMENT ON COLUMN report.allocation_access.project_id IS 'Its project.';
COMMENT ON COLUMN report.allocation_access.starts_at IS 'When it opens.';
COMMENT ON COLUMN report.allocation_access.ends_at IS 'When it closes (exclusive).';
COMMENT ON COLUMN report.allocation_access.awarded_su IS 'SUs awarded in all: initial_su + every diff (supplements, adjustments, transfers). What a limit that the site''s scheduler counts usage against takes.';
COMMENT ON COLUMN report.allocation_access.charged_su IS 'SUs charged to it by Purser.';
COMMENT ON COLUMN report.allocation_access.balance_su IS 'awarded_su − charged_su.';
COMMENT ON COLUMN report.allocation_access.project_active IS 'The project is active.';
COMMENT ON COLUMN report.allocation_access.allocation_active IS 'The allocation is active (not suspended or closed).';
COMMENT ON COLUMN report.allocation_access.allocation_in_window IS 'registry.now() is inside its start and end.';
COMMENT ON COLUMN report.allocation_access.balance_positive IS 'It has SUs left.';
COMMENT ON COLUMN report.allocation_access.under_resource_limits IS 'It charged less than the SU limit of every resource it includes with one.';
COMMENT ON COLUMN report.allocation_access.access IS 'granted when every condition holds, else blocked: its account takes no new jobs, running jobs finish.';

-- access_explain reads the allocation's conditions from allocation_access and appends its
-- verdict as a word (columns keep their order: CREATE OR REPLACE VIEW only appends).
CREATE OR REPLACE VIEW report.access_explain AS
SELECT m.person_id,
       m.allocation_id,
       x.cluster_id,
       x.cluster_name,
       x.account_name,
       ca.username,
       pe.status = 'active' AS person_active,
       x.project_active,
       x.allocation_active,
       x.allocation_in_window,
       m.status = 'active' AS membership_active,
       member.in_window AS membership_in_window,
       x.balance_positive,
       member.under_cap AS under_cap,
       x.access = 'granted' AND pe.status = 'active' AND m.status = 'active' AND member.in_window
           AND member.under_cap AS granted,
       x.under_resource_limits,
       CASE WHEN pe.status <> 'active' OR m.status = 'removed' OR NOT member.in_window THEN 'revoked'
            WHEN x.access = 'granted' AND m.status = 'active' AND member.under_cap THEN 'granted'
            ELSE 'blocked' END AS access,
       m.id AS membership_id,
       m.cap_su,
       coalesce(mt.charged_su, 0) AS member_charged_su
FROM registry.membership m
CROSS JOIN (SELECT (SELECT registry.now()) AS now) clock
JOIN registry.person pe ON pe.id = m.person_id
JOIN report.allocation_access x ON x.allocation_id = m.allocation_id
LEFT JOIN registry.member_total mt ON mt.allocation_id = m.allocation_id AND mt.person_id = m.person_id
LEFT JOIN registry.cluster_account ca ON ca.cluster_id = x.cluster_id AND ca.person_id = m.person_id
CROSS JOIN LATERAL (SELECT clock.now >= m.starts_at AND (m.ends_at IS NULL OR clock.now < m.ends_at) AS in_window,
                           m.cap_su IS NULL OR coalesce(mt.charged_su, 0) < m.cap_su AS under_cap) member;
COMMENT ON VIEW report.access_explain IS
    'For every membership (person × allocation), each access condition as a boolean and the verdict, so an admin sees why access is granted, blocked or revoked. The access policy, in SQL, with report.allocation_access.';
COMMENT ON COLUMN report.access_explain.allocation_in_window IS 'registry.now() is inside the allocation''s start and end.';
COMMENT ON COLUMN report.access_explain.membership_in_window IS 'registry.now() is inside the membership''s start and end.';
COMMENT ON COLUMN report.access_explain.membership_id IS 'The membership.';
COMMENT ON COLUMN report.access_explain.cap_su IS 'The member''s cap; NULL: none of her own.';
COMMENT ON COLUMN report.access_explain.member_charged_su IS 'What she charged to the allocation.';
COMMENT ON COLUMN report.access_explain.access IS
    'granted; blocked (the allocation is blocked, the membership suspended or the member at her cap: no new jobs, running jobs finish); or revoked (the person is inactive, the membership removed, not yet begun or ended: access is removed).';

-- Connectors ----------------------------------------------------------------------------------

CREATE TABLE provision.connector (
    site text NOT NULL CHECK (site ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    connector text NOT NULL CHECK (connector ~ '^[a-z][a-z0-9_]{0,62}$'),
    model text NOT NULL CHECK (model IN ('accounts')),
    mass_delete_percent integer NOT NULL DEFAULT 10 CHECK (mass_delete_percent BETWEEN 0 AND 100),
    mass_delete_minimum integer NOT NULL DEFAULT 5 CHECK (mass_delete_minimum >= 0),
    registered_at timestamptz NOT NULL DEFAULT now(),
    last_full_plan_at timestamptz,
    PRIMARY KEY (site, connector)
);
COMMENT ON TABLE provision.connector IS
    'The connectors that manage each site''s systems, registered by the site''s daemons from their configuration. A connector''s row is the lock its plans take: one plan at a time per site and connector.';
COMMENT ON COLUMN provision.connector.site IS 'The site (a cluster''s tasks go to the site named like the cluster).';
COMMENT ON COLUMN provision.connector.connector IS 'The connector''s name, e.g. script or slurm; its tasks are CONNECTOR.apply and CONNECTOR.observe.';
COMMENT ON COLUMN provision.connector.model IS 'Which subjects it manages: accounts = account/ACCOUNT and association/ACCOUNT/USER (provision.desired_accounts).';
COMMENT ON COLUMN provision.connector.mass_delete_percent IS 'A plan deleting more than this share of the connector''s managed subjects (and more than mass_delete_minimum) applies nothing without allow_mass_delete.';
COMMENT ON COLUMN provision.connector.mass_delete_minimum IS 'Deletes a plan may always make, whatever the share.';
COMMENT ON COLUMN provision.connector.registered_at IS 'When a daemon last registered it.';
COMMENT ON COLUMN provision.connector.last_full_plan_at IS 'When its last full plan ran (registry.now() of that plan).';

CREATE FUNCTION provision.register_connector(
    site text,
    connector text,
    model text DEFAULT 'accounts',
    mass_delete_percent integer DEFAULT 10,
    mass_delete_minimum integer DEFAULT 5
) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO provision.connector AS k (site, connector, model, mass_delete_percent, mass_delete_minimum)
    VALUES (register_connector.site, register_connector.connector, register_connector.model,
            register_connector.mass_delete_percent, register_connector.mass_delete_minimum)
    ON CONFLICT (site, connector) DO UPDATE
       SET model = excluded.model, mass_delete_percent = excluded.mass_delete_percent,
           mass_delete_minimum = excluded.mass_delete_minimum, registered_at = now()
$$;
COMMENT ON FUNCTION provision.register_connector(text, text, text, integer, integer) IS
    'Registers (or updates) a connector of a site with its model and mass-delete threshold. A daemon calls it at start for each connector it is configured with.';

CREATE FUNCTION provision.unregister_other_connectors(site text, keep text[]) RETURNS SETOF text
LANGUAGE sql AS $$
    DELETE FROM provision.connector k
    WHERE k.site = unregister_other_connectors.site AND NOT (k.connector = ANY (unregister_other_connectors.keep))
    RETURNING k.connector
$$;
COMMENT ON FUNCTION provision.unregister_other_connectors(text, text[]) IS
    'Removes the connectors of a site other than KEEP, with what they observed, and returns their names: a daemon starting with its configuration drops the connectors it no longer runs, whose plans nobody would carry out.';

-- Desired state -------------------------------------------------------------------------------

-- One allocation per account: two allocations of a cluster share an account name only in
-- windows that do not overlap (V4), and the account follows the latest one begun, else the
-- first one to come.
CREATE VIEW provision.account_allocation AS
SELECT DISTINCT ON (a.cluster_id, a.account_name) a.cluster_id, a.account_name, a.id AS allocation_id
FROM registry.allocation a
ORDER BY a.cluster_id, a.account_name, a.starts_at <= (SELECT registry.now()) DESC,
         CASE WHEN a.starts_at <= (SELECT registry.now()) THEN a.starts_at END DESC, a.starts_at;
COMMENT ON VIEW provision.account_allocation IS
    'The allocation each account of a cluster follows: the latest begun, else the first to come (an account''s allocations never overlap in time).';
COMMENT ON COLUMN provision.account_allocation.cluster_id IS 'The cluster.';
COMMENT ON COLUMN provision.account_allocation.account_name IS 'The account.';
COMMENT ON COLUMN provision.account_allocation.allocation_id IS 'The allocation it follows now.';

CREATE INDEX allocation_account ON registry.allocation (account_name);

-- An account's subject and scope name it as provision.account_allocation does (the same
-- value as its allocation's), so a partial plan's accounts reach that view's DISTINCT ON and
-- the account index instead of ordering every allocation.
CREATE VIEW provision.desired_accounts AS
SELECT x.cluster_name AS site,
       'account/' || aa.account_name AS subject,
       aa.account_name AS scope,
       x.allocation_id,
       jsonb_build_object(
           'account', x.account_name,
           'status', CASE x.access WHEN 'granted' THEN 'active' ELSE 'blocked' END,
           'description', p.title,
           'organization', o.name,
           'awarded_su', x.awarded_su::text) AS state,
       jsonb_build_object(
           'allocation_id', x.allocation_id,
           'project_id', x.project_id,
           'used_su', x.charged_su::text,
           'balance_su', x.balance_su::text,
           'starts_at', x.starts_at,
           'ends_at', x.ends_at) AS context,
       jsonb_build_object(
           'access', x.access,
           'project_active', x.project_active,
           'allocation_active', x.allocation_active,
           'allocation_in_window', x.allocation_in_window,
           'balance_positive', x.balance_positive,
           'under_resource_limits', x.under_resource_limits) AS why,
       '{}'::text[] AS requires
FROM provision.account_allocation aa
JOIN report.allocation_access x ON x.allocation_id = aa.allocation_id
JOIN registry.project p ON p.id = x.project_id
LEFT JOIN registry.organization o ON o.id = p.organization_id
UNION ALL
SELECT e.cluster_name,
       'association/' || e.account_name || '/' || e.username,
       e.account_name,
       e.allocation_id,
       CASE WHEN e.access <> 'revoked' THEN jsonb_build_object(
           'account', e.account_name,
           'user', e.username,
           'status', CASE e.access WHEN 'granted' THEN 'active' ELSE 'blocked' END,
           'cap_su', e.cap_su::text) END,
       jsonb_build_object(
           'membership_id', e.membership_id,
           'person_id', e.person_id,
           'used_su', e.member_charged_su::text),
       jsonb_build_object(
           'access', e.access,
           'person_active', e.person_active,
           'project_active', e.project_active,
           'allocation_active', e.allocation_active,
           'allocation_in_window', e.allocation_in_window,
           'membership_active', e.membership_active,
           'membership_in_window', e.membership_in_window,
           'balance_positive', e.balance_positive,
           'under_cap', e.under_cap,
           'under_resource_limits', e.under_resource_limits),
       ARRAY['account/' || e.account_name]
FROM provision.account_allocation aa
JOIN report.access_explain e ON e.allocation_id = aa.allocation_id
WHERE e.username IS NOT NULL;
COMMENT ON VIEW provision.desired_accounts IS
    'The accounts model: what an account system (Slurm accounting, or a site''s script) should hold on each site. '
    'account/ACCOUNT per account (following provision.account_allocation), active or blocked; association/ACCOUNT/USER per member with a cluster account, active, blocked, or (state NULL) revoked. '
    'A member without a cluster account has no association yet: it appears when the account is made.';
COMMENT ON COLUMN provision.desired_accounts.site IS 'The site (the cluster''s name).';
COMMENT ON COLUMN provision.desired_accounts.subject IS 'account/ACCOUNT or association/ACCOUNT/USER.';
COMMENT ON COLUMN provision.desired_accounts.scope IS 'The account: what a change marks dirty (provision.dirty) and a partial plan re-plans.';
COMMENT ON COLUMN provision.desired_accounts.allocation_id IS 'The allocation it follows.';
COMMENT ON COLUMN provision.desired_accounts.state IS
    'What the site should hold, compared with provision.observed: an account''s status (active or blocked), description, organization and awarded_su (the SUs awarded in all: a limit the site''s scheduler counts its own usage against takes this, not the balance); '
    'an association''s status and cap_su. NULL: the subject must not exist (revoked).';
COMMENT ON COLUMN provision.desired_accounts.context IS 'Facts sent with an action but not compared: ids, used_su (what Purser charged), balance_su, the window.';
COMMENT ON COLUMN provision.desired_accounts.why IS 'The conditions that decided the state (report.allocation_access, report.access_explain).';
COMMENT ON COLUMN provision.desired_accounts.requires IS 'Subjects that must exist first: an association requires its account.';

CREATE VIEW provision.desired AS
SELECT k.site, k.connector, d.subject, d.scope, d.allocation_id, d.state, d.context, d.why, d.requires
FROM provision.connector k
JOIN provision.desired_accounts d ON d.site = k.site
WHERE k.model = 'accounts';
COMMENT ON VIEW provision.desired IS
    'Desired state: one row per (site, connector, subject) with the state the managed system should hold (NULL: it must not exist), why, and what it requires. Each connector contributes the rows of its model.';
COMMENT ON COLUMN provision.desired.site IS 'The site.';
COMMENT ON COLUMN provision.desired.connector IS 'The connector that enacts it.';
COMMENT ON COLUMN provision.desired.subject IS 'A stable name: account/che260001, association/che260001/alan.';
COMMENT ON COLUMN provision.desired.scope IS 'What a change marks dirty and a partial plan re-plans (the account).';
COMMENT ON COLUMN provision.desired.allocation_id IS 'The allocation it derives from.';
COMMENT ON COLUMN provision.desired.state IS 'What the managed system should hold (jsonb); NULL: must not exist.';
COMMENT ON COLUMN provision.desired.context IS 'Facts sent with an action, not compared.';
COMMENT ON COLUMN provision.desired.why IS 'The access conditions that decided it.';
COMMENT ON COLUMN provision.desired.requires IS 'Subjects that must exist before it.';

-- Observed state ------------------------------------------------------------------------------

CREATE TABLE provision.observed (
    site text NOT NULL,
    connector text NOT NULL,
    subject text NOT NULL CHECK (subject <> '' AND octet_length(subject) <= 1024),
    state jsonb NOT NULL CHECK (jsonb_typeof(state) = 'object'),
    managed boolean NOT NULL DEFAULT true,
    observed_at timestamptz NOT NULL DEFAULT now(),
    task_id bigint NOT NULL,
    -- The accounts model names subjects KIND/ACCOUNT[/…]: their account is the second part.
    scope text GENERATED ALWAYS AS (split_part(subject, '/', 2)) STORED,
    PRIMARY KEY (site, connector, subject),
    FOREIGN KEY (site, connector) REFERENCES provision.connector (site, connector) ON DELETE CASCADE
);
CREATE INDEX observed_scope ON provision.observed (site, connector, scope);
COMMENT ON TABLE provision.observed IS
    'What each managed system was last seen to hold, per subject: a connector''s full snapshot (which replaces the site''s and connector''s rows) or the read-back of what an action touched, written in the transaction that completes the connector''s task. A connector unregistered takes its rows with it.';
COMMENT ON COLUMN provision.observed.site IS 'The site.';
COMMENT ON COLUMN provision.observed.connector IS 'The connector that observed it.';
COMMENT ON COLUMN provision.observed.subject IS 'The subject, named as in provision.desired.';
COMMENT ON COLUMN provision.observed.state IS 'What the system holds, in the vocabulary of provision.desired.state (it may hold more keys; only desired keys are compared).';
COMMENT ON COLUMN provision.observed.managed IS 'Whether the connector owns it (e.g. a Slurm account under Purser''s parent account). The plan never changes or deletes what is not managed.';
COMMENT ON COLUMN provision.observed.observed_at IS 'When it was observed.';
COMMENT ON COLUMN provision.observed.task_id IS 'The task whose completion recorded it (not a foreign key: finished tasks are pruned).';
COMMENT ON COLUMN provision.observed.scope IS 'The account a subject belongs to (the second part of its name: account/ACCOUNT, association/ACCOUNT/USER), which a partial plan covers.';

CREATE TABLE provision.observation (
    site text NOT NULL,
    connector text NOT NULL,
    observed_at timestamptz NOT NULL,
    subjects integer NOT NULL CHECK (subjects >= 0),
    task_id bigint NOT NULL,
    PRIMARY KEY (site, connector),
    FOREIGN KEY (site, connector) REFERENCES provision.connector (site, connector) ON DELETE CASCADE
);
COMMENT ON TABLE provision.observation IS 'The last full snapshot of each site''s connector: when, how many subjects, and by which task.';
COMMENT ON COLUMN provision.observation.site IS 'The site.';
COMMENT ON COLUMN provision.observation.connector IS 'The connector.';
COMMENT ON COLUMN provision.observation.observed_at IS 'When the snapshot was recorded.';
COMMENT ON COLUMN provision.observation.subjects IS 'How many subjects it held.';
COMMENT ON COLUMN provision.observation.task_id IS 'The observe task that took it.';

-- The plan --------------------------------------------------------------------------------------

-- The drift rule, in one place: what to do about a subject given its desired state (NULL:
-- must not exist), whether it was observed, its observed state, and whether the connector
-- manages it. NULL: nothing. An observed state holding every desired key with the same value
-- matches (a connector may report more than Purser compares).
CREATE FUNCTION provision.drift_action(desired jsonb, observed boolean, observed_state jsonb, managed boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN desired IS NOT NULL AND NOT observed THEN 'create'
        WHEN desired IS NOT NULL AND NOT managed THEN 'conflict'
        WHEN desired IS NOT NULL AND observed_state @> desired THEN NULL
        WHEN desired IS NOT NULL AND desired ->> 'status' = 'blocked'
             AND observed_state ->> 'status' IS DISTINCT FROM 'blocked' THEN 'block'
        WHEN desired IS NOT NULL AND desired ->> 'status' = 'active'
             AND observed_state ->> 'status' = 'blocked' THEN 'unblock'
        WHEN desired IS NOT NULL THEN 'update'
        WHEN observed AND managed THEN 'delete'
    END
$$;
COMMENT ON FUNCTION provision.drift_action(jsonb, boolean, jsonb, boolean) IS
    'The drift rule: create (desired, not observed), conflict (desired, held outside the connector''s ownership: never acted on), block or unblock (the status differs), update (another desired key differs), delete (observed and managed, not desired), or NULL (nothing to do).';

CREATE TABLE provision.plan (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site text NOT NULL,
    connector text NOT NULL,
    full_pass boolean NOT NULL,
    scopes text[],
    planned_at timestamptz NOT NULL,
    actions integer NOT NULL CHECK (actions >= 0),
    refused text,
    deletes_withheld integer NOT NULL DEFAULT 0,
    actor text NOT NULL DEFAULT registry.current_actor(),
    db_user text NOT NULL DEFAULT session_user
);
CREATE INDEX plan_site ON provision.plan (site, connector, id);
COMMENT ON TABLE provision.plan IS 'Every plan that enqueued an action or was refused: its site and connector, whether it covered every subject or the dirty accounts, and why it applied nothing when refused.';
COMMENT ON COLUMN provision.plan.id IS 'Plan id.';
COMMENT ON COLUMN provision.plan.site IS 'The site.';
COMMENT ON COLUMN provision.plan.connector IS 'The connector.';
COMMENT ON COLUMN provision.plan.full_pass IS 'True: every subject; false: the accounts in scopes only.';
COMMENT ON COLUMN provision.plan.scopes IS 'The accounts a partial plan covered.';
COMMENT ON COLUMN provision.plan.planned_at IS 'registry.now() when it was made.';
COMMENT ON COLUMN provision.plan.actions IS 'Actions it enqueued.';
COMMENT ON COLUMN provision.plan.refused IS 'Why it applied nothing (a mass delete not allowed); NULL: it applied its actions.';
COMMENT ON COLUMN provision.plan.deletes_withheld IS 'Deletes it withheld because the desired set was empty.';
COMMENT ON COLUMN provision.plan.actor IS 'Who made it (purser.actor, else the database role).';
COMMENT ON COLUMN provision.plan.db_user IS 'The database login that made it.';

CREATE TABLE provision.action (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id bigint NOT NULL REFERENCES provision.plan (id) ON DELETE CASCADE,
    site text NOT NULL,
    connector text NOT NULL,
    subject text NOT NULL,
    scope text,
    action text NOT NULL CHECK (action IN ('create', 'update', 'block', 'unblock', 'delete')),
    planned_at timestamptz NOT NULL,
    from_state jsonb,
    to_state jsonb,
    why jsonb NOT NULL,
    task_id bigint NOT NULL,
    target text NOT NULL
);
CREATE INDEX action_subject ON provision.action (site, connector, subject, id);
CREATE INDEX action_scope ON provision.action (site, connector, scope, id);
CREATE INDEX action_plan ON provision.action (plan_id);
COMMENT ON TABLE provision.action IS 'Every action a plan enqueued: the subject, from → to, why, and its task. The record that ties what a connector applied to the plan that caused it.';
COMMENT ON COLUMN provision.action.id IS 'Action id.';
COMMENT ON COLUMN provision.action.plan_id IS 'The plan that enqueued it.';
COMMENT ON COLUMN provision.action.site IS 'The site.';
COMMENT ON COLUMN provision.action.connector IS 'The connector.';
COMMENT ON COLUMN provision.action.subject IS 'The subject.';
COMMENT ON COLUMN provision.action.scope IS 'The account it belongs to, when known.';
COMMENT ON COLUMN provision.action.action IS 'create, update, block, unblock or delete.';
COMMENT ON COLUMN provision.action.planned_at IS 'registry.now() when its plan was made.';
COMMENT ON COLUMN provision.action.from_state IS 'What the site was observed to hold.';
COMMENT ON COLUMN provision.action.to_state IS 'What it should hold; NULL for a delete.';
COMMENT ON COLUMN provision.action.why IS 'Why.';
COMMENT ON COLUMN provision.action.task_id IS 'Its task (queue.task.id; not a foreign key: finished tasks are pruned).';
COMMENT ON COLUMN provision.action.target IS 'The task''s dedupe key: the same subject and target make one task however often they are planned.';

-- Dirty marks ---------------------------------------------------------------------------------

CREATE TABLE provision.dirty (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site text NOT NULL,
    scope text NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dirty_site ON provision.dirty (site, id);
COMMENT ON TABLE provision.dirty IS
    'Accounts whose desired state a registry change may have changed, for their site''s daemon to re-plan: appended by statement triggers on the registry (so a marker never waits on another), consumed by provision.reconcile_dirty.';
COMMENT ON COLUMN provision.dirty.id IS 'Mark id.';
COMMENT ON COLUMN provision.dirty.site IS 'The site.';
COMMENT ON COLUMN provision.dirty.scope IS 'The account to re-plan.';
COMMENT ON COLUMN provision.dirty.marked_at IS 'When it was marked.';

-- Marks the accounts of a set of allocations dirty and wakes their sites' daemons (one NOTIFY
-- per site and transaction: PostgreSQL folds repeats).
CREATE FUNCTION provision.mark_allocations(allocation_ids uuid[]) RETURNS void
LANGUAGE sql AS $$
    WITH marked AS (
        -- Only sites some connector manages: a cluster without one would collect marks nobody
        -- consumes (a connector registered later begins with a full plan).
        INSERT INTO provision.dirty (site, scope)
        SELECT DISTINCT c.name, a.account_name
        FROM registry.allocation a
        JOIN registry.cluster c ON c.id = a.cluster_id
        WHERE a.id = ANY (mark_allocations.allocation_ids)
          AND EXISTS (SELECT 1 FROM provision.connector k WHERE k.site = c.name)
        RETURNING site
    )
    SELECT pg_notify('purser_reconcile', site) FROM (SELECT DISTINCT site FROM marked) s
$$;
COMMENT ON FUNCTION provision.mark_allocations(uuid[]) IS
    'Marks the accounts of these allocations dirty (provision.dirty) and notifies purser_reconcile with each site, so its daemon re-plans them.';

-- One trigger function for the registry tables that feed desired state: TG_ARGV[0] names the
-- table's rule for finding the allocations its changed rows touch. Statement-level, with
-- transition tables: one mark per account per statement, whatever the number of rows. Each
-- branch names only the transition tables its event has (PL/pgSQL plans a statement when it
-- first runs it, and keeps a compiled copy per trigger).
CREATE FUNCTION provision.mark_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    touched uuid[];
BEGIN
    IF TG_ARGV[0] = 'allocation_id' THEN
        -- Rows that carry allocation_id, or are the allocation (TG_ARGV[1] names the column).
        IF TG_OP = 'INSERT' THEN
            EXECUTE format('SELECT array_agg(DISTINCT r.%I) FROM changed_new r', TG_ARGV[1]) INTO touched;
        ELSIF TG_OP = 'DELETE' THEN
            EXECUTE format('SELECT array_agg(DISTINCT r.%I) FROM changed_old r', TG_ARGV[1]) INTO touched;
        ELSE
            EXECUTE format('SELECT array_agg(DISTINCT x) FROM (SELECT r.%1$I AS x FROM changed_new r UNION SELECT r.%1$I FROM changed_old r) s', TG_ARGV[1])
                INTO touched;
        END IF;
    ELSIF TG_ARGV[0] = 'project' THEN
        IF TG_OP = 'UPDATE' THEN
            SELECT array_agg(a.id) INTO touched FROM registry.allocation a
            WHERE a.project_id IN (SELECT n.id FROM changed_new n JOIN changed_old o ON o.id = n.id
                                   WHERE (n.status, n.title, n.organization_id) IS DISTINCT FROM (o.status, o.title, o.organization_id));
        END IF;
    ELSIF TG_ARGV[0] = 'organization' THEN
        IF TG_OP = 'UPDATE' THEN
            SELECT array_agg(a.id) INTO touched FROM registry.allocation a
            JOIN registry.project p ON p.id = a.project_id
            WHERE p.organization_id IN (SELECT n.id FROM changed_new n JOIN changed_old o ON o.id = n.id WHERE n.name <> o.name);
        END IF;
    ELSIF TG_ARGV[0] = 'person' THEN
        IF TG_OP = 'UPDATE' THEN
            SELECT array_agg(DISTINCT m.allocation_id) INTO touched FROM registry.membership m
            WHERE m.person_id IN (SELECT n.id FROM changed_new n JOIN changed_old o ON o.id = n.id WHERE n.status <> o.status);
        END IF;
    ELSIF TG_ARGV[0] = 'cluster_account' THEN
        IF TG_OP = 'INSERT' THEN
            SELECT array_agg(DISTINCT m.allocation_id) INTO touched
            FROM changed_new ca
            JOIN registry.membership m ON m.person_id = ca.person_id
            JOIN registry.allocation a ON a.id = m.allocation_id AND a.cluster_id = ca.cluster_id;
        ELSIF TG_OP = 'DELETE' THEN
            SELECT array_agg(DISTINCT m.allocation_id) INTO touched
            FROM changed_old ca
            JOIN registry.membership m ON m.person_id = ca.person_id
            JOIN registry.allocation a ON a.id = m.allocation_id AND a.cluster_id = ca.cluster_id;
        ELSE
            SELECT array_agg(DISTINCT m.allocation_id) INTO touched
            FROM (SELECT person_id, cluster_id FROM changed_new UNION SELECT person_id, cluster_id FROM changed_old) ca
            JOIN registry.membership m ON m.person_id = ca.person_id
            JOIN registry.allocation a ON a.id = m.allocation_id AND a.cluster_id = ca.cluster_id;
        END IF;
    END IF;
    IF touched IS NOT NULL THEN
        PERFORM provision.mark_allocations(touched);
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION provision.mark_changed() IS
    'Statement trigger on the registry tables that feed desired state: marks the accounts the changed rows touch dirty (provision.mark_allocations). Charges are marked by registry.add_usage_to_totals, only when they change access.';

-- A trigger with transition tables has one event, so each table gets one per event. The
-- running sums have none: every charge updates them, and capturing their rows cost an import
-- an eighth of its speed; registry.add_usage_to_totals marks what a charge changes instead,
-- and a diff (which changes the awarded SUs, or the status) is marked where it is written.
DO $$
DECLARE
    fed record;
BEGIN
    FOR fed IN
        SELECT * FROM (VALUES
            ('allocation', 'allocation_id', 'id'),
            ('allocation_resource', 'allocation_id', 'allocation_id'),
            ('membership', 'allocation_id', 'allocation_id'),
            ('project', 'project', ''),
            ('organization', 'organization', ''),
            ('person', 'person', ''),
            ('cluster_account', 'cluster_account', '')
        ) AS t(table_name, rule, key_column)
    LOOP
        EXECUTE format('CREATE TRIGGER reconcile_inserts AFTER INSERT ON registry.%I REFERENCING NEW TABLE AS changed_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION provision.mark_changed(%L, %L)', fed.table_name, fed.rule, fed.key_column);
        EXECUTE format('CREATE TRIGGER reconcile_updates AFTER UPDATE ON registry.%I REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION provision.mark_changed(%L, %L)', fed.table_name, fed.rule, fed.key_column);
        EXECUTE format('CREATE TRIGGER reconcile_deletes AFTER DELETE ON registry.%I REFERENCING OLD TABLE AS changed_old '
                       'FOR EACH STATEMENT EXECUTE FUNCTION provision.mark_changed(%L, %L)', fed.table_name, fed.rule, fed.key_column);
    END LOOP;
END;
$$;

CREATE TRIGGER reconcile_inserts AFTER INSERT ON registry.allocation_diff REFERENCING NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION provision.mark_changed('allocation_id', 'allocation_id');

-- The usage trigger as V16 made it, and then: the charges that change access (a balance that
-- reaches zero, a member who reaches her cap, a resource that reaches its limit) mark their
-- accounts. Only when some site has a connector (else nothing would consume the marks), and
-- from the statement's own sums, so a charge that changes nothing costs one EXISTS.
CREATE OR REPLACE FUNCTION registry.add_usage_to_totals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad record;
    crossed uuid[];
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

    IF EXISTS (SELECT 1 FROM provision.connector) THEN
        SELECT array_agg(DISTINCT x.allocation_id) INTO crossed
        FROM (SELECT d.allocation_id
              FROM (SELECT u.allocation_id, sum(u.su_amount) AS su FROM new_usage u GROUP BY u.allocation_id) d
              JOIN registry.allocation a ON a.id = d.allocation_id
              JOIN registry.allocation_total t ON t.allocation_id = d.allocation_id
              WHERE a.initial_su + t.granted_su - t.charged_su <= 0
                AND a.initial_su + t.granted_su - t.charged_su + d.su > 0
              UNION ALL
              SELECT d.allocation_id
              FROM (SELECT u.allocation_id, u.person_id, sum(u.su_amount) AS su FROM new_usage u
                    GROUP BY u.allocation_id, u.person_id) d
              JOIN registry.membership ms ON ms.allocation_id = d.allocation_id AND ms.person_id = d.person_id
              JOIN registry.member_total mt ON mt.allocation_id = d.allocation_id AND mt.person_id = d.person_id
              WHERE ms.cap_su IS NOT NULL AND mt.charged_su >= ms.cap_su AND mt.charged_su - d.su < ms.cap_su
              UNION ALL
              SELECT d.allocation_id
              FROM (SELECT u.allocation_id, u.resource_id, sum(u.su_amount) AS su FROM new_usage u
                    GROUP BY u.allocation_id, u.resource_id) d
              JOIN registry.allocation_resource ar ON ar.allocation_id = d.allocation_id AND ar.resource_id = d.resource_id
              JOIN registry.allocation_resource_total art ON art.allocation_id = d.allocation_id AND art.resource_id = d.resource_id
              WHERE ar.amount_su IS NOT NULL AND art.charged_su >= ar.amount_su AND art.charged_su - d.su < ar.amount_su) x;
        IF crossed IS NOT NULL THEN
            PERFORM provision.mark_allocations(crossed);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION registry.add_usage_to_totals() IS
    'Statement trigger on registry.usage: checks the statement''s references once, adds its charges to the running sums in key order, and marks for the reconciler the accounts whose access the charges changed (a balance reaching zero, a member her cap, a resource its limit).';

-- Planning and enqueueing -----------------------------------------------------------------------

CREATE TYPE provision.planned_action AS (
    subject text,
    scope text,
    allocation_id uuid,
    action text,
    from_state jsonb,
    to_state jsonb,
    context jsonb,
    why jsonb,
    requires text[],
    observed_at timestamptz
);
COMMENT ON TYPE provision.planned_action IS 'One row of a plan, as provision.reconcile computes it.';

-- The plan of one connector of a site: every drifted subject (scopes NULL) or those of the
-- given accounts. Deletes come after everything else, deepest names first (associations
-- before their account); the rest in the order of what they require (accounts first).
CREATE TYPE provision.drifted_subject AS (
    subject text,
    scope text,
    action text,
    from_state jsonb,
    to_state jsonb,
    observed_at timestamptz
);
COMMENT ON TYPE provision.drifted_subject IS 'A subject whose desired and observed states differ, before its why is looked up (provision.plan_of).';

CREATE FUNCTION provision.plan_of(site text, connector text, scopes text[] DEFAULT NULL)
RETURNS SETOF provision.planned_action
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    drifted provision.drifted_subject[];
BEGIN
    -- First the states alone: most subjects match, and building every subject's context and
    -- why (more than half the cost of a pass over a site) is wasted on them.
    IF scopes IS NULL THEN
        SELECT array_agg(ROW(coalesce(d.subject, o.subject), coalesce(d.scope, o.scope),
                             provision.drift_action(d.state, o.subject IS NOT NULL, o.state, coalesce(o.managed, true)),
                             o.state, d.state, o.observed_at)::provision.drifted_subject)
          INTO drifted
        FROM (SELECT x.subject, x.scope, x.state FROM provision.desired x
              WHERE x.site = plan_of.site AND x.connector = plan_of.connector) d
        FULL JOIN (SELECT y.subject, y.scope, y.state, y.managed, y.observed_at FROM provision.observed y
                   WHERE y.site = plan_of.site AND y.connector = plan_of.connector) o
               ON o.subject = d.subject
        WHERE provision.drift_action(d.state, o.subject IS NOT NULL, o.state, coalesce(o.managed, true)) IS NOT NULL;
    ELSE
        -- The same comparison, restricted: a branch of its own, so each has a plan that reads
        -- only its rows (the daemons' sessions use generic plans, where "scopes IS NULL OR
        -- scope = ANY (scopes)" would read every account's). A partial plan covers the
        -- accounts' subjects on both sides: what the registry derives for them, and what the
        -- site holds under them (an association whose member lost her cluster account or
        -- changed her username is no longer derived, but still held).
        SELECT array_agg(ROW(coalesce(d.subject, o.subject), coalesce(d.scope, o.scope),
                             provision.drift_action(d.state, o.subject IS NOT NULL, o.state, coalesce(o.managed, true)),
                             o.state, d.state, o.observed_at)::provision.drifted_subject)
          INTO drifted
        FROM (SELECT x.subject, x.scope, x.state FROM provision.desired x
              WHERE x.site = plan_of.site AND x.connector = plan_of.connector AND x.scope = ANY (plan_of.scopes)) d
        FULL JOIN (SELECT y.subject, y.scope, y.state, y.managed, y.observed_at FROM provision.observed y
                   WHERE y.site = plan_of.site AND y.connector = plan_of.connector AND y.scope = ANY (plan_of.scopes)) o
               ON o.subject = d.subject
        WHERE provision.drift_action(d.state, o.subject IS NOT NULL, o.state, coalesce(o.managed, true)) IS NOT NULL;
    END IF;
    IF drifted IS NULL THEN
        RETURN;
    END IF;
    -- Then why, and what an action carries, for the accounts that drifted only.
    RETURN QUERY
    SELECT dr.subject, dr.scope, d.allocation_id, dr.action, dr.from_state, dr.to_state, d.context,
           coalesce(d.why, jsonb_build_object('access', 'unknown', 'note', 'the registry has nothing that grants it')),
           d.requires, dr.observed_at
    FROM unnest(drifted) dr
    LEFT JOIN (SELECT x.subject, x.allocation_id, x.context, x.why, x.requires FROM provision.desired x
               WHERE x.site = plan_of.site AND x.connector = plan_of.connector
                 AND x.scope = ANY (ARRAY(SELECT DISTINCT y.scope FROM unnest(drifted) y))) d
           ON d.subject = dr.subject;
END;
$$;
COMMENT ON FUNCTION provision.plan_of(text, text, text[]) IS
    'The drift of one connector of a site (report.drift''s rows for it), all of it or that of some accounts, without enqueueing anything.';

-- The drift of every connector of every site: plan_of is the one place the comparison is
-- written (a site's filter reaches it through the connector's row).
CREATE VIEW report.drift AS
SELECT k.site,
       k.connector,
       p.subject,
       p.action,
       p.from_state,
       p.to_state,
       p.why,
       p.scope,
       p.allocation_id,
       p.observed_at
FROM provision.connector k
CROSS JOIN LATERAL provision.plan_of(k.site, k.connector) p;
COMMENT ON VIEW report.drift IS
    'The plan: every subject where desired and observed state differ, with the action that would fix it, from → to, and why. '
    'What action is needed at site X, and why: SELECT subject, action, why FROM report.drift WHERE site = ''X''. provision.reconcile enqueues it (purser reconcile).';
COMMENT ON COLUMN report.drift.site IS 'The site.';
COMMENT ON COLUMN report.drift.connector IS 'The connector that would act.';
COMMENT ON COLUMN report.drift.subject IS 'The subject.';
COMMENT ON COLUMN report.drift.action IS 'create, update, block, unblock, delete, or conflict (held by the site outside the connector''s ownership: reported, never acted on).';
COMMENT ON COLUMN report.drift.from_state IS 'What the site was observed to hold; NULL: nothing.';
COMMENT ON COLUMN report.drift.to_state IS 'What it should hold; NULL: nothing (delete).';
COMMENT ON COLUMN report.drift.why IS 'The conditions that decided the desired state.';
COMMENT ON COLUMN report.drift.scope IS 'The account it belongs to, when the registry knows it.';
COMMENT ON COLUMN report.drift.allocation_id IS 'The allocation it derives from, when the registry knows it.';
COMMENT ON COLUMN report.drift.observed_at IS 'When the site was observed holding from_state.';


CREATE FUNCTION provision.reconcile(
    site text,
    connector text,
    scopes text[] DEFAULT NULL,
    allow_mass_delete boolean DEFAULT false,
    dry_run boolean DEFAULT false
) RETURNS TABLE (plan_id bigint, subject text, action text, from_state jsonb, to_state jsonb, why jsonb,
                 task_id bigint, run_at timestamptz, outcome text, note text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    k provision.connector;
    clock timestamptz := registry.now();
    planned provision.planned_action[];
    p provision.planned_action;
    deletes integer;
    managed integer;
    threshold integer;
    refusal text;
    withheld integer := 0;
    new_plan bigint;
    new_target text;
    pending_task bigint;
    pending_state queue.task_state;
    open_tasks jsonb;
    recent jsonb;
    stale record;
    current_state queue.task_state;
    repeats integer;
    due timestamptz;
    depends bigint[];
    new_task bigint;
    enqueued integer := 0;
    task_lane text := 'reconcile:' || reconcile.connector;
BEGIN
    -- One plan at a time per site and connector: two planners would cancel each other's tasks.
    SELECT * INTO k FROM provision.connector c
    WHERE c.site = reconcile.site AND c.connector = reconcile.connector
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'provision.reconcile: site % has no connector % (a daemon registers the connectors it is configured with; see provision.connector)',
            quote_nullable(reconcile.site), quote_nullable(reconcile.connector)
            USING ERRCODE = 'no_data_found';
    END IF;

    -- Each subject's latest unfinished task, read before the drift: a task that finishes in
    -- between is then either still open here, or already observed there, never neither (which
    -- would enqueue its target twice).
    -- (Two statements, not "scopes IS NULL OR …": under a generic plan that reads every
    -- action of the connector for a partial plan of one account.)
    IF reconcile.scopes IS NULL THEN
        SELECT coalesce(jsonb_object_agg(o.subject, jsonb_build_object('task_id', o.task_id, 'target', o.target)), '{}')
          INTO open_tasks
        FROM (SELECT DISTINCT ON (a.subject) a.subject, a.task_id, a.target
              FROM provision.action a
              JOIN queue.task t ON t.id = a.task_id
              WHERE a.site = reconcile.site AND a.connector = reconcile.connector
                AND t.state IN ('waiting', 'queued', 'running')
              ORDER BY a.subject, a.id DESC) o;
    ELSE
        SELECT coalesce(jsonb_object_agg(o.subject, jsonb_build_object('task_id', o.task_id, 'target', o.target)), '{}')
          INTO open_tasks
        FROM (SELECT DISTINCT ON (a.subject) a.subject, a.task_id, a.target
              FROM provision.action a
              JOIN queue.task t ON t.id = a.task_id
              WHERE a.site = reconcile.site AND a.connector = reconcile.connector AND a.scope = ANY (reconcile.scopes)
                AND t.state IN ('waiting', 'queued', 'running')
              ORDER BY a.subject, a.id DESC) o;
    END IF;

    SELECT array_agg(x ORDER BY x.action = 'delete',
                     CASE WHEN x.action = 'delete' THEN -cardinality(string_to_array(x.subject, '/'))
                          ELSE coalesce(cardinality(x.requires), 0) END,
                     x.subject)
      INTO planned
    FROM provision.plan_of(reconcile.site, reconcile.connector, reconcile.scopes) x;
    planned := coalesce(planned, '{}');

    -- Guard rails.
    SELECT count(*) INTO deletes FROM unnest(planned) x WHERE x.action = 'delete';
    IF deletes > 0 AND NOT EXISTS (SELECT 1 FROM provision.desired d
                                   WHERE d.site = reconcile.site AND d.connector = reconcile.connector
                                     AND d.state IS NOT NULL) THEN
        withheld := deletes;
        deletes := 0;
    END IF;
    -- Counted only when the plan deletes: no threshold refuses a plan without deletes, and
    -- counting a site's subjects would cost a partial plan more than its own work.
    IF deletes > 0 THEN
        SELECT count(*) INTO managed FROM provision.observed o
        WHERE o.site = reconcile.site AND o.connector = reconcile.connector AND o.managed;
        threshold := greatest(k.mass_delete_minimum, floor(k.mass_delete_percent::numeric / 100 * managed)::integer);
    END IF;
    IF deletes > 0 AND deletes > threshold AND NOT allow_mass_delete THEN
        refusal := format('the plan deletes %s of the %s subjects connector %s manages on site %s, more than its threshold of %s (%s%%, at least %s), so nothing was applied: '
                          'check report.drift, then run purser reconcile --site %s --allow-mass-delete to apply it',
                          deletes, managed, reconcile.connector, reconcile.site, threshold, k.mass_delete_percent, k.mass_delete_minimum, reconcile.site);
    END IF;

    -- A plan is recorded when it enqueues something, is refused or withholds deletes: passes
    -- with nothing to do (most of them) write nothing.
    IF NOT dry_run AND (refusal IS NOT NULL OR withheld > 0) THEN
        INSERT INTO provision.plan (site, connector, full_pass, scopes, planned_at, actions, refused, deletes_withheld)
        VALUES (reconcile.site, reconcile.connector, reconcile.scopes IS NULL, reconcile.scopes, clock, 0, refusal, withheld)
        RETURNING id INTO new_plan;
    END IF;

    -- A queued action of a subject in this plan's reach that no longer drifts (the registry
    -- changed back before it ran, or the site was seen holding its target) is cancelled: it
    -- would undo what is now right. Its dependents go with it and are planned below if needed.
    IF NOT dry_run AND refusal IS NULL THEN
        FOR stale IN
            SELECT (o.value ->> 'task_id')::bigint AS task_id
            FROM jsonb_each(open_tasks) o
            WHERE o.key NOT IN (SELECT x.subject FROM unnest(planned) x)
        LOOP
            -- Read now: cancelling one task may have cancelled another that waited on it.
            SELECT t.state INTO current_state FROM queue.task t WHERE t.id = stale.task_id;
            IF current_state IN ('waiting', 'queued') THEN
                PERFORM queue.cancel(stale.task_id);
            END IF;
        END LOOP;
    END IF;

    -- Each target planned in the last day: how often, and when last. Read once, looked up per
    -- action (a first plan has none).
    SELECT coalesce(jsonb_object_agg(r.target, jsonb_build_object('count', r.count, 'last', r.last)), '{}')
      INTO recent
    FROM (SELECT a.target, count(*) AS count, max(a.planned_at) AS last
          FROM provision.action a
          LEFT JOIN queue.task t ON t.id = a.task_id
          WHERE a.site = reconcile.site AND a.connector = reconcile.connector
            AND a.subject IN (SELECT x.subject FROM unnest(planned) x)
            AND a.planned_at > clock - interval '1 day'
            -- A superseded action never ran: it proves nothing about the site.
            AND t.state IS DISTINCT FROM 'cancelled'
          GROUP BY a.target) r;

    FOREACH p IN ARRAY planned LOOP
        plan_id := new_plan;
        subject := p.subject;
        action := p.action;
        from_state := p.from_state;
        to_state := p.to_state;
        why := p.why;
        task_id := NULL;
        run_at := NULL;
        note := NULL;
        IF p.action = 'conflict' THEN
            outcome := 'left alone';
            note := 'the site holds it outside what connector ' || reconcile.connector || ' manages: Purser leaves it alone';
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF p.action = 'delete' AND withheld > 0 THEN
            outcome := 'withheld';
            note := 'the desired set of connector ' || reconcile.connector || ' on site ' || reconcile.site || ' is empty, and an empty desired set never deletes';
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF refusal IS NOT NULL THEN
            outcome := 'refused';
            note := refusal;
            RETURN NEXT;
            CONTINUE;
        END IF;

        new_target := 'reconcile:' || reconcile.connector || ':'
                  || md5(p.subject || E'\n' || p.action || E'\n' || coalesce(p.to_state::text, ''));
        -- The subject's open task: the same target is already on its way (unless a
        -- cancellation above took it); another one not yet running is superseded (its
        -- dependents go with it and are planned again below); a running one finishes first,
        -- the lane keeping the order.
        pending_task := (open_tasks -> p.subject ->> 'task_id')::bigint;
        pending_state := NULL;
        IF pending_task IS NOT NULL THEN
            SELECT t.state INTO pending_state FROM queue.task t WHERE t.id = pending_task;
            IF open_tasks -> p.subject ->> 'target' = new_target AND pending_state IS DISTINCT FROM 'cancelled' THEN
                task_id := pending_task;
                outcome := 'already enqueued';
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;

        -- The same target planned again within a day means the last try did not hold (the
        -- site reported another state back, or the task died): back off, 1 minute doubling
        -- to an hour from the last try, so a connector that cannot converge does not spin. A
        -- subject backing off is not enqueued at all (a task waiting at the head of the lane
        -- would hold up every other action of the site); a later pass enqueues it when due.
        repeats := coalesce((recent -> new_target ->> 'count')::integer, 0);
        due := CASE WHEN repeats = 0 THEN clock
                    ELSE (recent -> new_target ->> 'last')::timestamptz
                         + least(interval '1 minute' * power(2, least(repeats - 1, 10)), interval '1 hour') END;
        run_at := due;
        IF due > clock THEN
            outcome := 'backing off';
            note := format('the same target did not hold %s time(s) in the last day: planned again from %s', repeats, due);
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF dry_run THEN
            plan_id := NULL;
            outcome := 'would enqueue';
            note := CASE WHEN pending_state IN ('waiting', 'queued') THEN 'would supersede task ' || pending_task END;
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF new_plan IS NULL THEN
            INSERT INTO provision.plan (site, connector, full_pass, scopes, planned_at, actions, refused, deletes_withheld)
            VALUES (reconcile.site, reconcile.connector, reconcile.scopes IS NULL, reconcile.scopes, clock, 0, NULL, withheld)
            RETURNING id INTO new_plan;
            plan_id := new_plan;
        END IF;
        IF pending_state IN ('waiting', 'queued') THEN
            PERFORM queue.cancel(pending_task);
            note := 'supersedes task ' || pending_task;
        END IF;
        depends := NULL;
        IF p.action <> 'delete' AND p.requires IS NOT NULL AND cardinality(p.requires) > 0 THEN
            -- A required subject's latest action with its task unfinished: this plan's
            -- (requirements come first) or an earlier one's.
            SELECT array_agg(DISTINCT open.task_id) INTO depends
            FROM unnest(p.requires) r
            CROSS JOIN LATERAL (SELECT a.task_id FROM provision.action a
                                WHERE a.site = reconcile.site AND a.connector = reconcile.connector AND a.subject = r
                                ORDER BY a.id DESC LIMIT 1) open
            JOIN queue.task t ON t.id = open.task_id
            WHERE t.state IN ('waiting', 'queued', 'running');
        END IF;
        new_task := queue.enqueue(
            site => reconcile.site,
            kind => reconcile.connector || '.apply',
            payload => jsonb_build_object(
                'connector', reconcile.connector, 'plan_id', new_plan, 'action', p.action, 'subject', p.subject,
                'from', p.from_state, 'to', p.to_state, 'context', p.context, 'why', p.why),
            run_at => clock,
            dedupe_key => new_target,
            lane => task_lane,
            depends_on => depends);
        INSERT INTO provision.action (plan_id, site, connector, subject, scope, action, planned_at, from_state, to_state, why, task_id, target)
        VALUES (new_plan, reconcile.site, reconcile.connector, p.subject, p.scope, p.action, clock, p.from_state, p.to_state, p.why, new_task, new_target);
        enqueued := enqueued + 1;
        task_id := new_task;
        outcome := 'enqueued';
        RETURN NEXT;
    END LOOP;

    IF new_plan IS NOT NULL THEN
        UPDATE provision.plan SET actions = enqueued WHERE id = new_plan;
    END IF;
    IF reconcile.scopes IS NULL AND NOT dry_run THEN
        UPDATE provision.connector c SET last_full_plan_at = clock
        WHERE c.site = reconcile.site AND c.connector = reconcile.connector;
    END IF;
END;
$$;
COMMENT ON FUNCTION provision.reconcile(text, text, text[], boolean, boolean) IS
    'Plans one connector of a site (every subject, or those of the given accounts) and enqueues the actions, CONNECTOR.apply tasks in lane reconcile:CONNECTOR, deduplicated by subject and target; '
    'returns each action with its task and outcome: enqueued, already enqueued, would enqueue (dry run), backing off (its target did not hold lately; run_at says from when), left alone (a conflict), withheld (an empty desired set) or refused (a mass delete), with a note saying why or what it superseded. '
    'Guard rails: conflicts are never acted on; an empty desired set deletes nothing; more deletes than the connector''s threshold apply nothing unless allow_mass_delete. '
    'dry_run returns the plan and changes nothing. purser reconcile and the site''s daemon call it.';

-- The daemon's on-change pass: consumes a site's dirty marks and plans their accounts for each
-- connector of the site, in one transaction (a pass that fails leaves the marks for the next).
CREATE FUNCTION provision.reconcile_dirty(site text, most integer DEFAULT 1000)
RETURNS TABLE (connector text, marks integer, accounts integer, actions integer, refused text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    scopes text[];
    taken integer;
    k record;
BEGIN
    -- SKIP LOCKED: marks another daemon of the site is consuming are its to plan.
    WITH consumed AS (
        DELETE FROM provision.dirty d
        WHERE d.id IN (SELECT x.id FROM provision.dirty x WHERE x.site = reconcile_dirty.site
                       ORDER BY x.id LIMIT reconcile_dirty.most FOR UPDATE SKIP LOCKED)
        RETURNING d.scope
    )
    SELECT array_agg(DISTINCT scope), count(*) INTO scopes, taken FROM consumed;
    IF taken = 0 THEN
        RETURN;
    END IF;
    FOR k IN SELECT c.connector FROM provision.connector c WHERE c.site = reconcile_dirty.site ORDER BY c.connector LOOP
        RETURN QUERY
        SELECT k.connector, taken, cardinality(scopes),
               (count(*) FILTER (WHERE r.outcome = 'enqueued'))::integer,
               max(r.note) FILTER (WHERE r.outcome = 'refused')
        FROM provision.reconcile(reconcile_dirty.site, k.connector, scopes) r;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION provision.reconcile_dirty(text, integer) IS
    'Consumes up to MOST of a site''s dirty marks and plans their accounts for each of its connectors (provision.reconcile), in the caller''s transaction. Returns, per connector, the marks taken, the accounts planned, the actions enqueued and a refusal if any.';

-- Time-driven registry work -------------------------------------------------------------------

CREATE TABLE registry.topup_rule (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    allocation_id uuid NOT NULL REFERENCES registry.allocation (id),
    su registry.su_amount NOT NULL CHECK (su > 0),
    every interval NOT NULL CHECK (every >= interval '1 minute' AND extract(year FROM every) = 0 AND extract(month FROM every) = 0),
    next_at registry.instant NOT NULL,
    until registry.instant,
    created_at registry.instant NOT NULL DEFAULT now()
);
CREATE INDEX topup_rule_due ON registry.topup_rule (next_at);
COMMENT ON TABLE registry.topup_rule IS
    'Periodic top-ups: every EVERY from next_at until UNTIL, an automated supplement diff of SU to the allocation, exactly once per period (registry.advance_time).';
COMMENT ON COLUMN registry.topup_rule.id IS 'Rule id.';
COMMENT ON COLUMN registry.topup_rule.allocation_id IS 'The allocation topped up.';
COMMENT ON COLUMN registry.topup_rule.su IS 'SUs added each period.';
COMMENT ON COLUMN registry.topup_rule.every IS 'The period: a fixed length (minutes, hours, days), at least a minute.';
COMMENT ON COLUMN registry.topup_rule.next_at IS 'When the next top-up is due; advanced by one period with each top-up, in its transaction.';
COMMENT ON COLUMN registry.topup_rule.until IS 'No top-up is due at or after this; NULL: while the allocation is active.';
COMMENT ON COLUMN registry.topup_rule.created_at IS 'When it was recorded.';

CREATE TRIGGER audit_inserts AFTER INSERT ON registry.topup_rule REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit.record_inserts('id');
CREATE TRIGGER audit_changes AFTER UPDATE OR DELETE ON registry.topup_rule
    FOR EACH ROW EXECUTE FUNCTION audit.record_change('id');

CREATE TABLE provision.time_mark (
    site text PRIMARY KEY,
    advanced_to timestamptz NOT NULL
);
COMMENT ON TABLE provision.time_mark IS 'How far registry.advance_time has brought each site: windows that open or close after this are still to mark.';
COMMENT ON COLUMN provision.time_mark.site IS 'The site.';
COMMENT ON COLUMN provision.time_mark.advanced_to IS 'registry.now() of its last run.';

CREATE FUNCTION registry.advance_time(site text)
RETURNS TABLE (what text, allocation_id uuid, detail text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    clock timestamptz := registry.now();
    since timestamptz;
    ended record;
    rule record;
    periods integer;
BEGIN
    -- Allocations past their end are closed by an automated status diff (the seed's words).
    FOR ended IN
        SELECT a.id FROM registry.allocation a JOIN registry.cluster c ON c.id = a.cluster_id
        WHERE c.name = advance_time.site AND a.status <> 'closed' AND a.ends_at <= clock
        ORDER BY a.id
        FOR UPDATE OF a SKIP LOCKED
    LOOP
        PERFORM registry.apply_diff(ended.id, 'status', 'Allocation marked as INACTIVE due to end time reached',
                                    new_status => 'closed', source => 'automated');
        RETURN QUERY SELECT 'closed'::text, ended.id, 'its end passed'::text;
    END LOOP;

    -- Top-ups: each due period once. The rule's row lock makes two daemons write it once; a
    -- period missed while no daemon ran is written when one runs again.
    FOR rule IN
        SELECT r.* FROM registry.topup_rule r
        JOIN registry.allocation a ON a.id = r.allocation_id
        JOIN registry.cluster c ON c.id = a.cluster_id
        WHERE c.name = advance_time.site AND r.next_at <= clock AND (r.until IS NULL OR r.next_at < r.until)
        ORDER BY r.next_at
        FOR UPDATE OF r SKIP LOCKED
    LOOP
        periods := 0;
        WHILE rule.next_at <= clock AND (rule.until IS NULL OR rule.next_at < rule.until) LOOP
            IF (SELECT a.status FROM registry.allocation a WHERE a.id = rule.allocation_id) = 'active' THEN
                PERFORM registry.apply_diff(rule.allocation_id, 'supplement',
                                            format('Periodic top-up of %s SU for the period from %s (rule %s)', rule.su, rule.next_at, rule.id),
                                            su_delta => rule.su, source => 'automated');
                periods := periods + 1;
            END IF;
            rule.next_at := rule.next_at + rule.every;
        END LOOP;
        UPDATE registry.topup_rule r SET next_at = rule.next_at WHERE r.id = rule.id;
        RETURN QUERY SELECT 'topped_up'::text, rule.allocation_id, format('%s period(s) of %s SU', periods, rule.su);
    END LOOP;

    -- Windows that opened or closed since the last run change access with no row changing:
    -- mark their accounts.
    SELECT m.advanced_to INTO since FROM provision.time_mark m WHERE m.site = advance_time.site FOR UPDATE;
    INSERT INTO provision.time_mark AS m (site, advanced_to) VALUES (advance_time.site, clock)
    ON CONFLICT (site) DO UPDATE SET advanced_to = excluded.advanced_to;
    -- A first run marks nothing: a connector's first full plan covers every account.
    since := coalesce(since, clock);
    PERFORM provision.mark_allocations(array_agg(DISTINCT x.id))
    FROM (SELECT a.id FROM registry.allocation a JOIN registry.cluster c ON c.id = a.cluster_id
          WHERE c.name = advance_time.site
            AND ((a.starts_at > since AND a.starts_at <= clock) OR (a.ends_at > since AND a.ends_at <= clock))
          UNION ALL
          SELECT m.allocation_id FROM registry.membership m
          JOIN registry.allocation a ON a.id = m.allocation_id
          JOIN registry.cluster c ON c.id = a.cluster_id
          WHERE c.name = advance_time.site
            AND ((m.starts_at > since AND m.starts_at <= clock) OR (m.ends_at > since AND m.ends_at <= clock))) x
    HAVING count(*) > 0;
END;
$$;
COMMENT ON FUNCTION registry.advance_time(text) IS
    'Time-driven registry work of a site, at registry.now(): closes allocations past their end (an automated status diff), writes due top-ups (registry.topup_rule) once per period, and marks the accounts whose allocation or membership windows opened or closed since its last run. '
    'The site''s daemons run it on the scheduler (task registry.advance_time).';

-- The reconciler's own schedules -------------------------------------------------------------

-- A daemon makes its site's schedules at start: the time-driven registry work and each
-- connector's observe step. The application roles may not create schedules (V17: admins
-- make theirs with queue.schedule_every), so this function, running as purser_owner, makes
-- exactly these, named purser:SITE:…, and a role bound to a site only its own site's.
CREATE FUNCTION provision.ensure_schedule(site text, name_suffix text, kind text, payload jsonb, every interval) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    bound text := queue.session_site();
BEGIN
    IF ensure_schedule.kind <> 'registry.advance_time' AND ensure_schedule.kind !~ '^[a-z][a-z0-9_]{0,62}\.observe$' THEN
        RAISE EXCEPTION 'provision.ensure_schedule: kind % is not one of the reconciler''s (registry.advance_time, CONNECTOR.observe)',
            quote_nullable(ensure_schedule.kind)
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF bound IS NOT NULL AND ensure_schedule.site IS DISTINCT FROM bound THEN
        RAISE EXCEPTION 'provision.ensure_schedule: database role % serves site %, so it may not schedule for site %', session_user, bound, ensure_schedule.site
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM queue.schedule_every('purser:' || ensure_schedule.site || ':' || ensure_schedule.name_suffix,
                                 ensure_schedule.site, ensure_schedule.kind, ensure_schedule.payload, ensure_schedule.every);
END;
$$;
COMMENT ON FUNCTION provision.ensure_schedule(text, text, text, jsonb, interval) IS
    'Creates or changes the reconciler''s schedule purser:SITE:NAME_SUFFIX (registry.advance_time, or a connector''s observe step) through queue.schedule_every; a daemon calls it at start. A role bound to a site may make only its own site''s.';
ALTER FUNCTION provision.ensure_schedule(text, text, text, jsonb, interval) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION provision.ensure_schedule(text, text, text, jsonb, interval) OWNER TO purser_owner;
REVOKE ALL ON FUNCTION provision.ensure_schedule(text, text, text, jsonb, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION provision.ensure_schedule(text, text, text, jsonb, interval) TO purser_daemon;
GRANT EXECUTE ON FUNCTION queue.schedule_every(text, text, text, jsonb, interval, timestamptz) TO purser_owner;
GRANT SELECT, INSERT, UPDATE ON queue.schedule TO purser_owner;

-- The tasks the registry implied are the reconciler's now --------------------------------------

DROP FUNCTION registry.enqueue_membership_sync(uuid);
DROP FUNCTION registry.enqueue_allocation_sync(uuid);

-- Who may do what -----------------------------------------------------------------------------

GRANT USAGE ON SCHEMA provision TO purser_owner;
GRANT SELECT ON ALL TABLES IN SCHEMA provision TO purser_owner;
GRANT INSERT ON provision.dirty TO purser_owner;
GRANT SELECT, INSERT, UPDATE ON provision.time_mark TO purser_owner;
GRANT SELECT ON report.allocation_access TO purser_owner, purser_api, purser_daemon, purser_reader;
GRANT SELECT ON provision.connector, provision.desired, provision.desired_accounts, provision.account_allocation,
                provision.observed, provision.observation, provision.plan, provision.action, provision.dirty,
                provision.time_mark, report.drift
    TO purser_api, purser_daemon, purser_reader;
GRANT SELECT ON registry.topup_rule TO purser_api, purser_daemon, purser_reader;
GRANT INSERT, UPDATE, DELETE ON registry.topup_rule TO purser_api;
GRANT INSERT, UPDATE, DELETE ON provision.connector, provision.observed, provision.observation, provision.plan,
                                provision.action, provision.dirty
    TO purser_daemon;

-- Bound roles (V15) see and change only their own site's rows.
DO $$
DECLARE
    table_name text;
BEGIN
    FOREACH table_name IN ARRAY ARRAY['connector', 'observed', 'observation', 'plan', 'action', 'dirty', 'time_mark'] LOOP
        EXECUTE format('ALTER TABLE provision.%I ENABLE ROW LEVEL SECURITY', table_name);
        EXECUTE format('ALTER TABLE provision.%I FORCE ROW LEVEL SECURITY', table_name);
        EXECUTE format('CREATE POLICY rows_of_the_sessions_site ON provision.%I '
                       'USING (site = coalesce((SELECT queue.session_site()), site)) '
                       'WITH CHECK (site = coalesce((SELECT queue.session_site()), site))', table_name);
        EXECUTE format('COMMENT ON POLICY rows_of_the_sessions_site ON provision.%I IS %L', table_name,
                       'A session bound to a site sees and changes only that site''s rows; any other session every site''s.');
    END LOOP;
END;
$$;

-- A full plan of a large site joins tens of thousands of subjects: with the default work_mem
-- (4 MB) its hashes spill to disk. The planning functions get room of their own.
ALTER FUNCTION provision.plan_of(text, text, text[]) SET work_mem = '64MB';
ALTER FUNCTION provision.reconcile(text, text, text[], boolean, boolean) SET work_mem = '64MB';

-- V14's rule: trigger functions and what writes the ledger run as purser_owner with a pinned
-- search_path, executable only by those who call them.
ALTER FUNCTION provision.mark_changed() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION provision.mark_changed() OWNER TO purser_owner;
REVOKE ALL ON FUNCTION provision.mark_changed() FROM PUBLIC;
ALTER FUNCTION registry.advance_time(text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION registry.advance_time(text) OWNER TO purser_owner;
REVOKE ALL ON FUNCTION registry.advance_time(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION registry.advance_time(text) TO purser_daemon;
REVOKE ALL ON FUNCTION provision.mark_allocations(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION provision.mark_allocations(uuid[]) TO purser_owner, purser_api, purser_daemon;
REVOKE ALL ON FUNCTION provision.reconcile(text, text, text[], boolean, boolean), provision.reconcile_dirty(text, integer),
                       provision.register_connector(text, text, text, integer, integer),
                       provision.unregister_other_connectors(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION provision.reconcile(text, text, text[], boolean, boolean), provision.reconcile_dirty(text, integer),
                          provision.register_connector(text, text, text, integer, integer),
                          provision.unregister_other_connectors(text, text[]) TO purser_daemon;
