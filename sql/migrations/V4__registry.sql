-- V4: the registry and the SU ledger.
--
-- Why: this is the allocation data model a research computing centre runs on: who the people
-- and projects are, which clusters and resources exist at what rate, which allocations hold how
-- many service units (SUs), who may use them, and every change and charge against them. It is
-- plain SQL with its integrity in the database, because admins and site scripts write here
-- directly as well as the API.
--
-- Shape:
-- * Ids are time-ordered UUIDs (v7, registry.uuid_v7()), times are timestamptz, SU amounts are
--   numeric: never floating point.
-- * The ledger is append-only: allocation_diff (grants, adjustments, transfers, status and end
--   date changes) and usage (charges) are never updated or deleted; a correction is a new
--   adjustment. So a balance is always initial_su + Σ diffs − Σ usage. Each ledger row carries
--   its actor and transaction, so it is its own audit record.
-- * The sums are kept, exactly, in registry.allocation_total and registry.member_total by
--   statement triggers on the two ledger tables, one row update per allocation per statement,
--   so a balance is one row read however many jobs were charged. report.ledger_violations
--   (a later migration) checks them against the sums.
-- * Status is independent at project, allocation and membership level.
-- * SU = raw ÷ rate: a rate of 10 means 10 raw hours make 1 SU.

CREATE EXTENSION IF NOT EXISTS btree_gist;  -- uuid and text equality in the exclusion constraints

CREATE FUNCTION registry.uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    -- A random (v4) UUID with its first 48 bits replaced by the Unix time in milliseconds and
    -- its version nibble set to 7 (RFC 9562).
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;
COMMENT ON FUNCTION registry.uuid_v7() IS
    'A time-ordered UUID (version 7): the default id of every registry table, so ids sort by creation and index well.';

CREATE FUNCTION registry.current_actor() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('purser.actor', true), ''), current_user::text)
$$;
COMMENT ON FUNCTION registry.current_actor() IS
    'Who is acting: the session setting purser.actor (set by the API and CLI: SET LOCAL purser.actor = ''…''), else the database user.';

CREATE TABLE registry.organization (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    name text NOT NULL UNIQUE CHECK (btrim(name) <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE registry.organization IS 'An institution people and projects belong to (a university, a lab, a company).';
COMMENT ON COLUMN registry.organization.id IS 'Organization id.';
COMMENT ON COLUMN registry.organization.name IS 'Its name, unique.';
COMMENT ON COLUMN registry.organization.created_at IS 'When it was recorded.';

CREATE TABLE registry.person (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    name text NOT NULL CHECK (btrim(name) <> ''),
    email text NOT NULL CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    organization_id uuid REFERENCES registry.organization (id),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'merged')),
    merged_into uuid REFERENCES registry.person (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'merged') = (merged_into IS NOT NULL)),
    CHECK (merged_into IS DISTINCT FROM id)
);
CREATE UNIQUE INDEX person_email_unique ON registry.person (lower(email));
COMMENT ON TABLE registry.person IS 'A person: a PI, a project member, an admin. A merged duplicate stays, pointing at its survivor.';
COMMENT ON COLUMN registry.person.id IS 'Person id.';
COMMENT ON COLUMN registry.person.name IS 'Full name.';
COMMENT ON COLUMN registry.person.email IS 'Email address, unique regardless of case.';
COMMENT ON COLUMN registry.person.organization_id IS 'Home organization, if known.';
COMMENT ON COLUMN registry.person.status IS 'active, inactive, or merged (into merged_into).';
COMMENT ON COLUMN registry.person.merged_into IS 'For a merged duplicate: the person who survived the merge.';
COMMENT ON COLUMN registry.person.created_at IS 'When the person was recorded.';

CREATE TABLE registry.identity (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    person_id uuid NOT NULL REFERENCES registry.person (id),
    source text NOT NULL CHECK (source ~ '^[a-z0-9][a-z0-9_.-]*$'),
    external_id text NOT NULL CHECK (btrim(external_id) <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, external_id)
);
CREATE INDEX identity_person ON registry.identity (person_id);
COMMENT ON TABLE registry.identity IS 'A person''s id in an outside system: an ACCESS global id, a campus directory id. One per (source, external id).';
COMMENT ON COLUMN registry.identity.id IS 'Identity id.';
COMMENT ON COLUMN registry.identity.person_id IS 'Whose identity it is.';
COMMENT ON COLUMN registry.identity.source IS 'The system, lower case: access, campus-ldap, orcid, …';
COMMENT ON COLUMN registry.identity.external_id IS 'The id in that system.';
COMMENT ON COLUMN registry.identity.created_at IS 'When it was recorded.';

CREATE TABLE registry.cluster (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    name text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    description text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE registry.cluster IS 'A compute cluster. Its name is also its site in the task queue (queue.task.site).';
COMMENT ON COLUMN registry.cluster.id IS 'Cluster id.';
COMMENT ON COLUMN registry.cluster.name IS 'Short name, unique; the site name its daemons serve.';
COMMENT ON COLUMN registry.cluster.description IS 'What it is, for people.';
COMMENT ON COLUMN registry.cluster.created_at IS 'When it was recorded.';

CREATE TABLE registry.cluster_account (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    cluster_id uuid NOT NULL REFERENCES registry.cluster (id),
    person_id uuid NOT NULL REFERENCES registry.person (id),
    username text NOT NULL CHECK (username ~ '^[a-z_][a-z0-9_.-]{0,31}$'),
    uid integer CHECK (uid > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cluster_id, username),
    UNIQUE (cluster_id, uid),
    UNIQUE (cluster_id, person_id)
);
CREATE INDEX cluster_account_person ON registry.cluster_account (person_id);
COMMENT ON TABLE registry.cluster_account IS 'A person''s local account on a cluster: one per person and cluster; username and uid unique per cluster.';
COMMENT ON COLUMN registry.cluster_account.id IS 'Account id.';
COMMENT ON COLUMN registry.cluster_account.cluster_id IS 'The cluster.';
COMMENT ON COLUMN registry.cluster_account.person_id IS 'Whose account it is.';
COMMENT ON COLUMN registry.cluster_account.username IS 'The POSIX username on the cluster (also Slurm''s user name).';
COMMENT ON COLUMN registry.cluster_account.uid IS 'The POSIX uid on the cluster, once assigned.';
COMMENT ON COLUMN registry.cluster_account.created_at IS 'When it was recorded.';

CREATE TABLE registry.project (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    title text NOT NULL CHECK (btrim(title) <> ''),
    pi_id uuid NOT NULL REFERENCES registry.person (id),
    organization_id uuid REFERENCES registry.organization (id),
    origination text NOT NULL CHECK (origination IN ('ACCESS', 'NAIRR', 'XRAS', 'LOCAL')),
    originated_id text NOT NULL CHECK (btrim(originated_id) <> ''),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (origination, originated_id)
);
CREATE INDEX project_pi ON registry.project (pi_id);
COMMENT ON TABLE registry.project IS 'A research project, led by its PI, holding allocations on clusters.';
COMMENT ON COLUMN registry.project.id IS 'Project id.';
COMMENT ON COLUMN registry.project.title IS 'Its title.';
COMMENT ON COLUMN registry.project.pi_id IS 'Its principal investigator.';
COMMENT ON COLUMN registry.project.organization_id IS 'The organization it belongs to, if known.';
COMMENT ON COLUMN registry.project.origination IS 'Where it came from: ACCESS, NAIRR, XRAS or LOCAL.';
COMMENT ON COLUMN registry.project.originated_id IS 'Its id where it came from (e.g. an ACCESS project number), unique per origination.';
COMMENT ON COLUMN registry.project.status IS 'active, suspended or closed; independent of its allocations'' status.';
COMMENT ON COLUMN registry.project.created_at IS 'When it was recorded.';

CREATE TABLE registry.resource (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    cluster_id uuid NOT NULL REFERENCES registry.cluster (id),
    name text NOT NULL CHECK (btrim(name) <> ''),
    resource_type text NOT NULL CHECK (resource_type IN ('cpu', 'gpu', 'memory', 'storage', 'other')),
    unit text NOT NULL CHECK (btrim(unit) <> ''),
    slurm_partition text CHECK (slurm_partition <> ''),
    slurm_tres text NOT NULL CHECK (slurm_tres ~ '^[a-z]+(/[A-Za-z0-9_:.-]+)?$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cluster_id, name),
    UNIQUE (id, cluster_id)
);
CREATE UNIQUE INDEX resource_usage_mapping ON registry.resource (cluster_id, coalesce(slurm_partition, ''), slurm_tres);
COMMENT ON TABLE registry.resource IS
    'A kind of computing unit on a cluster ("CPU", "GPU H200") and how job usage maps to it: jobs in slurm_partition (any partition when NULL) count their slurm_tres.';
COMMENT ON COLUMN registry.resource.id IS 'Resource id.';
COMMENT ON COLUMN registry.resource.cluster_id IS 'The cluster it is on.';
COMMENT ON COLUMN registry.resource.name IS 'Its name, unique per cluster.';
COMMENT ON COLUMN registry.resource.resource_type IS 'cpu, gpu, memory, storage or other.';
COMMENT ON COLUMN registry.resource.unit IS 'What a raw amount counts, e.g. core-hours, gpu-hours.';
COMMENT ON COLUMN registry.resource.slurm_partition IS 'The Slurm partition whose jobs use it; NULL for any partition without a resource of its own.';
COMMENT ON COLUMN registry.resource.slurm_tres IS 'The Slurm TRES counted, e.g. cpu or gres/gpu.';
COMMENT ON COLUMN registry.resource.created_at IS 'When it was recorded.';

CREATE TABLE registry.resource_rate (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    resource_id uuid NOT NULL REFERENCES registry.resource (id),
    rate numeric NOT NULL CHECK (rate > 0),
    valid_during tstzrange NOT NULL CHECK (NOT isempty(valid_during) AND NOT lower_inf(valid_during)),
    created_at timestamptz NOT NULL DEFAULT now(),
    EXCLUDE USING gist (resource_id WITH =, valid_during WITH &&)
);
COMMENT ON TABLE registry.resource_rate IS
    'A resource''s rate over a time window: SU = raw ÷ rate (rate 10: 10 raw hours make 1 SU). Windows of one resource never overlap.';
COMMENT ON COLUMN registry.resource_rate.id IS 'Rate id.';
COMMENT ON COLUMN registry.resource_rate.resource_id IS 'The resource.';
COMMENT ON COLUMN registry.resource_rate.rate IS 'Raw units per SU, above zero.';
COMMENT ON COLUMN registry.resource_rate.valid_during IS 'When it applies: [from, until), until open-ended when unbounded. A job is charged at the rate in force at its end.';
COMMENT ON COLUMN registry.resource_rate.created_at IS 'When it was recorded.';

CREATE TABLE registry.allocation (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    project_id uuid NOT NULL REFERENCES registry.project (id),
    cluster_id uuid NOT NULL REFERENCES registry.cluster (id),
    account_name text NOT NULL CHECK (account_name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
    initial_su numeric NOT NULL CHECK (initial_su >= 0),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    UNIQUE (id, cluster_id),
    EXCLUDE USING gist (cluster_id WITH =, account_name WITH =, tstzrange(starts_at, ends_at) WITH &&)
);
CREATE INDEX allocation_project ON registry.allocation (project_id);
COMMENT ON TABLE registry.allocation IS
    'A project''s SU budget on a cluster, under a Slurm account, for a time window. Two allocations of one cluster never share an account name in overlapping windows.';
COMMENT ON COLUMN registry.allocation.id IS 'Allocation id.';
COMMENT ON COLUMN registry.allocation.project_id IS 'The project it belongs to.';
COMMENT ON COLUMN registry.allocation.cluster_id IS 'The cluster it is on.';
COMMENT ON COLUMN registry.allocation.account_name IS 'The Slurm account its jobs run under.';
COMMENT ON COLUMN registry.allocation.status IS 'active, suspended or closed; changes are recorded as status diffs.';
COMMENT ON COLUMN registry.allocation.initial_su IS 'SUs awarded at the start; later grants are diffs.';
COMMENT ON COLUMN registry.allocation.starts_at IS 'When it opens.';
COMMENT ON COLUMN registry.allocation.ends_at IS 'When it closes (exclusive); extensions are end_date diffs.';
COMMENT ON COLUMN registry.allocation.created_at IS 'When it was recorded.';

CREATE TABLE registry.allocation_resource (
    allocation_id uuid NOT NULL,
    resource_id uuid NOT NULL,
    cluster_id uuid NOT NULL,
    amount_su numeric CHECK (amount_su >= 0),
    PRIMARY KEY (allocation_id, resource_id),
    FOREIGN KEY (allocation_id, cluster_id) REFERENCES registry.allocation (id, cluster_id),
    FOREIGN KEY (resource_id, cluster_id) REFERENCES registry.resource (id, cluster_id)
);
COMMENT ON TABLE registry.allocation_resource IS 'The resources an allocation may be charged for, on its own cluster, with an optional SU amount each.';
COMMENT ON COLUMN registry.allocation_resource.allocation_id IS 'The allocation.';
COMMENT ON COLUMN registry.allocation_resource.resource_id IS 'A resource it includes.';
COMMENT ON COLUMN registry.allocation_resource.cluster_id IS 'Their common cluster (the foreign keys make both agree).';
COMMENT ON COLUMN registry.allocation_resource.amount_su IS 'The SUs set aside for this resource, when the award says; NULL: the allocation''s pool.';

CREATE TABLE registry.change_request (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    allocation_id uuid NOT NULL REFERENCES registry.allocation (id),
    requester_id uuid NOT NULL REFERENCES registry.person (id),
    kind text NOT NULL CHECK (kind IN ('supplement', 'extension', 'status')),
    requested_su numeric CHECK (requested_su > 0),
    requested_status text CHECK (requested_status IN ('active', 'suspended', 'closed')),
    requested_ends_at timestamptz,
    justification text NOT NULL CHECK (btrim(justification) <> ''),
    state text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'APPROVED', 'REJECTED', 'CANCELLED')),
    created_at timestamptz NOT NULL DEFAULT now(),
    decided_at timestamptz,
    decided_by text,
    CHECK ((kind = 'supplement') = (requested_su IS NOT NULL)),
    CHECK ((kind = 'status') = (requested_status IS NOT NULL)),
    CHECK ((kind = 'extension') = (requested_ends_at IS NOT NULL)),
    CHECK ((state = 'PENDING') = (decided_at IS NULL)),
    CHECK ((decided_at IS NULL) = (decided_by IS NULL))
);
CREATE INDEX change_request_allocation ON registry.change_request (allocation_id);
CREATE INDEX change_request_pending ON registry.change_request (created_at) WHERE state = 'PENDING';
COMMENT ON TABLE registry.change_request IS
    'A request to change an allocation: more SUs, a later end date, or a status. PENDING until approved (which creates its diff in the same transaction), rejected or cancelled.';
COMMENT ON COLUMN registry.change_request.id IS 'Change request id.';
COMMENT ON COLUMN registry.change_request.allocation_id IS 'The allocation to change.';
COMMENT ON COLUMN registry.change_request.requester_id IS 'Who asked (usually the PI).';
COMMENT ON COLUMN registry.change_request.kind IS 'supplement (requested_su), extension (requested_ends_at) or status (requested_status).';
COMMENT ON COLUMN registry.change_request.requested_su IS 'For a supplement: the SUs asked for.';
COMMENT ON COLUMN registry.change_request.requested_status IS 'For a status change: the status asked for.';
COMMENT ON COLUMN registry.change_request.requested_ends_at IS 'For an extension: the end date asked for.';
COMMENT ON COLUMN registry.change_request.justification IS 'Why, in the requester''s words.';
COMMENT ON COLUMN registry.change_request.state IS 'PENDING, APPROVED, REJECTED or CANCELLED; each step is a change_request_event.';
COMMENT ON COLUMN registry.change_request.created_at IS 'When it was submitted.';
COMMENT ON COLUMN registry.change_request.decided_at IS 'When it left PENDING.';
COMMENT ON COLUMN registry.change_request.decided_by IS 'Who decided (the audit actor).';

CREATE TABLE registry.change_request_event (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    change_request_id uuid NOT NULL REFERENCES registry.change_request (id),
    from_state text CHECK (from_state IN ('PENDING', 'APPROVED', 'REJECTED', 'CANCELLED')),
    to_state text NOT NULL CHECK (to_state IN ('PENDING', 'APPROVED', 'REJECTED', 'CANCELLED')),
    actor text NOT NULL,
    comment text,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX change_request_event_request ON registry.change_request_event (change_request_id, at);
COMMENT ON TABLE registry.change_request_event IS 'Each step of a change request: submitted (from NULL to PENDING), then approved, rejected or cancelled.';
COMMENT ON COLUMN registry.change_request_event.id IS 'Event id.';
COMMENT ON COLUMN registry.change_request_event.change_request_id IS 'The change request.';
COMMENT ON COLUMN registry.change_request_event.from_state IS 'The state before; NULL at submission.';
COMMENT ON COLUMN registry.change_request_event.to_state IS 'The state after.';
COMMENT ON COLUMN registry.change_request_event.actor IS 'Who took the step.';
COMMENT ON COLUMN registry.change_request_event.comment IS 'What they said, if anything.';
COMMENT ON COLUMN registry.change_request_event.at IS 'When.';

CREATE TABLE registry.allocation_diff (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    allocation_id uuid NOT NULL REFERENCES registry.allocation (id),
    kind text NOT NULL CHECK (kind IN ('supplement', 'adjustment', 'transfer', 'status', 'end_date')),
    su_delta numeric NOT NULL DEFAULT 0,
    new_status text CHECK (new_status IN ('active', 'suspended', 'closed')),
    new_ends_at timestamptz,
    transfer_id uuid,
    reason text NOT NULL CHECK (btrim(reason) <> ''),
    source text NOT NULL CHECK (source IN ('change_request', 'automated', 'admin')),
    change_request_id uuid REFERENCES registry.change_request (id),
    actor text NOT NULL DEFAULT registry.current_actor() CHECK (btrim(actor) <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    CHECK (kind <> 'supplement' OR su_delta > 0),
    CHECK (kind <> 'adjustment' OR su_delta <> 0),
    CHECK ((kind = 'transfer') = (transfer_id IS NOT NULL)),
    CHECK (kind <> 'transfer' OR su_delta <> 0),
    CHECK (kind NOT IN ('status', 'end_date') OR su_delta = 0),
    CHECK ((kind = 'status') = (new_status IS NOT NULL)),
    CHECK ((kind = 'end_date') = (new_ends_at IS NOT NULL)),
    CHECK ((source = 'change_request') = (change_request_id IS NOT NULL))
);
CREATE INDEX allocation_diff_allocation ON registry.allocation_diff (allocation_id, created_at);
-- A change request makes at most one diff: approving twice cannot grant twice.
CREATE UNIQUE INDEX allocation_diff_change_request ON registry.allocation_diff (change_request_id)
    WHERE change_request_id IS NOT NULL;
COMMENT ON TABLE registry.allocation_diff IS
    'Every change to an allocation, append-only: SU supplements, adjustments (±), transfers (a pair sharing transfer_id), status and end-date changes, with reason, source and actor.';
COMMENT ON COLUMN registry.allocation_diff.id IS 'Diff id.';
COMMENT ON COLUMN registry.allocation_diff.allocation_id IS 'The allocation changed.';
COMMENT ON COLUMN registry.allocation_diff.kind IS 'supplement (+SUs), adjustment (±SUs), transfer (±SUs, paired), status or end_date.';
COMMENT ON COLUMN registry.allocation_diff.su_delta IS 'SUs granted (positive) or taken (negative); 0 for status and end_date.';
COMMENT ON COLUMN registry.allocation_diff.new_status IS 'For a status diff: the status set.';
COMMENT ON COLUMN registry.allocation_diff.new_ends_at IS 'For an end_date diff: the end date set.';
COMMENT ON COLUMN registry.allocation_diff.transfer_id IS 'For a transfer: shared by its two halves (out of one allocation, into another).';
COMMENT ON COLUMN registry.allocation_diff.reason IS 'Why, for the record.';
COMMENT ON COLUMN registry.allocation_diff.source IS 'change_request, automated (a workflow) or admin.';
COMMENT ON COLUMN registry.allocation_diff.change_request_id IS 'The approved change request it came from, when its source is change_request.';
COMMENT ON COLUMN registry.allocation_diff.actor IS 'Who made it (the audit actor).';
COMMENT ON COLUMN registry.allocation_diff.created_at IS 'When it took effect.';
COMMENT ON COLUMN registry.allocation_diff.transaction_id IS 'The transaction that made it: with actor and created_at, a diff is its own audit record.';

CREATE TABLE registry.membership (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    allocation_id uuid NOT NULL REFERENCES registry.allocation (id),
    person_id uuid NOT NULL REFERENCES registry.person (id),
    cap_su numeric CHECK (cap_su >= 0),
    starts_at timestamptz NOT NULL DEFAULT now(),
    ends_at timestamptz,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'removed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR ends_at > starts_at),
    UNIQUE (allocation_id, person_id)
);
CREATE INDEX membership_person ON registry.membership (person_id);
COMMENT ON TABLE registry.membership IS 'A person''s right to charge an allocation, with an optional SU cap that partitions its pool.';
COMMENT ON COLUMN registry.membership.id IS 'Membership id.';
COMMENT ON COLUMN registry.membership.allocation_id IS 'The allocation.';
COMMENT ON COLUMN registry.membership.person_id IS 'The member.';
COMMENT ON COLUMN registry.membership.cap_su IS 'Most SUs this member may use from the allocation; NULL: no cap of their own.';
COMMENT ON COLUMN registry.membership.starts_at IS 'When the membership opens.';
COMMENT ON COLUMN registry.membership.ends_at IS 'When it closes (exclusive); NULL: with the allocation.';
COMMENT ON COLUMN registry.membership.status IS 'active, suspended or removed; independent of the allocation''s and project''s status.';
COMMENT ON COLUMN registry.membership.created_at IS 'When it was recorded.';

CREATE TABLE registry.usage (
    cluster_id uuid NOT NULL,
    job_id text NOT NULL CHECK (btrim(job_id) <> ''),
    submit_time timestamptz NOT NULL,
    resource_id uuid NOT NULL,
    end_time timestamptz NOT NULL CHECK (end_time >= submit_time),
    allocation_id uuid NOT NULL,
    person_id uuid NOT NULL,
    raw_amount numeric NOT NULL CHECK (raw_amount >= 0),
    rate numeric NOT NULL CHECK (rate > 0),
    su_amount numeric NOT NULL CHECK (su_amount >= 0),
    calculated_at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL DEFAULT registry.current_actor(),
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    -- The natural key is the primary key: a job is chargeable once, and one index fewer to
    -- maintain per charge (imports write millions of rows).
    PRIMARY KEY (cluster_id, job_id, submit_time, resource_id)
);
CREATE INDEX usage_allocation ON registry.usage (allocation_id, end_time);
CREATE INDEX usage_end_time ON registry.usage USING brin (end_time);
COMMENT ON TABLE registry.usage IS
    'Charges, append-only: per job, per user, per resource, the raw amount, the rate applied and the SUs charged. A job is charged once: (cluster, job id, submit time, resource) is the key. '
    'References are checked once per statement by registry.add_usage_to_totals rather than by a foreign key per row, which would halve the import rate.';
COMMENT ON COLUMN registry.usage.cluster_id IS 'The cluster the job ran on.';
COMMENT ON COLUMN registry.usage.job_id IS 'Slurm''s job id.';
COMMENT ON COLUMN registry.usage.submit_time IS 'When the job was submitted (with the job id, tells reused ids apart).';
COMMENT ON COLUMN registry.usage.end_time IS 'When it ended; the rate in force then applies.';
COMMENT ON COLUMN registry.usage.resource_id IS 'The resource charged.';
COMMENT ON COLUMN registry.usage.allocation_id IS 'The allocation charged (by the job''s account).';
COMMENT ON COLUMN registry.usage.person_id IS 'Who ran the job (by its user''s cluster account).';
COMMENT ON COLUMN registry.usage.raw_amount IS 'Raw usage in the resource''s unit (e.g. core-hours).';
COMMENT ON COLUMN registry.usage.rate IS 'The rate applied: raw units per SU.';
COMMENT ON COLUMN registry.usage.su_amount IS 'SUs charged: raw_amount ÷ rate, rounded to 6 decimals.';
COMMENT ON COLUMN registry.usage.calculated_at IS 'When the charge was calculated.';
COMMENT ON COLUMN registry.usage.actor IS 'Who charged it (registry.current_actor()): with transaction_id, a charge is its own audit record.';
COMMENT ON COLUMN registry.usage.transaction_id IS 'The transaction that charged it.';

-- The ledger's running sums ---------------------------------------------------------------

CREATE TABLE registry.allocation_total (
    allocation_id uuid PRIMARY KEY REFERENCES registry.allocation (id),
    granted_su numeric NOT NULL DEFAULT 0,
    charged_su numeric NOT NULL DEFAULT 0
);
COMMENT ON TABLE registry.allocation_total IS
    'Running sums of an allocation''s ledger, kept by triggers on allocation_diff and usage in the same transaction: a balance is one row read.';
COMMENT ON COLUMN registry.allocation_total.allocation_id IS 'The allocation (a row is made with it).';
COMMENT ON COLUMN registry.allocation_total.granted_su IS 'Σ allocation_diff.su_delta: SUs granted after the initial award, net.';
COMMENT ON COLUMN registry.allocation_total.charged_su IS 'Σ usage.su_amount: SUs charged.';

CREATE TABLE registry.member_total (
    allocation_id uuid NOT NULL REFERENCES registry.allocation (id),
    person_id uuid NOT NULL REFERENCES registry.person (id),
    charged_su numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (allocation_id, person_id)
);
COMMENT ON TABLE registry.member_total IS 'Running sum of what each person charged to each allocation, kept by a trigger on usage.';
COMMENT ON COLUMN registry.member_total.allocation_id IS 'The allocation.';
COMMENT ON COLUMN registry.member_total.person_id IS 'The person who ran the jobs.';
COMMENT ON COLUMN registry.member_total.charged_su IS 'Σ usage.su_amount for this person and allocation.';

CREATE FUNCTION registry.open_allocation_total() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A charge or diff made earlier in the same statement may have opened it already.
    INSERT INTO registry.allocation_total (allocation_id)
    SELECT id FROM new_allocations
    ON CONFLICT (allocation_id) DO NOTHING;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION registry.open_allocation_total() IS 'Statement trigger: gives each new allocation its allocation_total row.';
CREATE TRIGGER allocation_opens_total AFTER INSERT ON registry.allocation
    REFERENCING NEW TABLE AS new_allocations FOR EACH STATEMENT EXECUTE FUNCTION registry.open_allocation_total();

CREATE FUNCTION registry.refuse_ledger_rewrite() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: record a correction as an adjustment instead of % ', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
COMMENT ON FUNCTION registry.refuse_ledger_rewrite() IS 'Trigger: refuses UPDATE, DELETE and TRUNCATE on the append-only ledger tables.';
CREATE TRIGGER allocation_diff_append_only BEFORE UPDATE OR DELETE ON registry.allocation_diff
    FOR EACH ROW EXECUTE FUNCTION registry.refuse_ledger_rewrite();
CREATE TRIGGER allocation_diff_no_truncate BEFORE TRUNCATE ON registry.allocation_diff
    FOR EACH STATEMENT EXECUTE FUNCTION registry.refuse_ledger_rewrite();
CREATE TRIGGER usage_append_only BEFORE UPDATE OR DELETE ON registry.usage
    FOR EACH ROW EXECUTE FUNCTION registry.refuse_ledger_rewrite();
CREATE TRIGGER usage_no_truncate BEFORE TRUNCATE ON registry.usage
    FOR EACH STATEMENT EXECUTE FUNCTION registry.refuse_ledger_rewrite();

CREATE FUNCTION registry.add_diffs_to_totals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Upserted in allocation order, so concurrent statements lock sums in one order and never
    -- deadlock; upserted, not updated, in case the allocation came in this very statement.
    INSERT INTO registry.allocation_total AS t (allocation_id, granted_su)
    SELECT allocation_id, sum(su_delta) FROM new_diffs GROUP BY allocation_id ORDER BY allocation_id
    ON CONFLICT (allocation_id) DO UPDATE SET granted_su = t.granted_su + excluded.granted_su;
    -- Status and end-date diffs set the allocation's current values.
    UPDATE registry.allocation a
       SET status = d.new_status
      FROM (SELECT DISTINCT ON (allocation_id) allocation_id, new_status
            FROM new_diffs WHERE kind = 'status' ORDER BY allocation_id, id DESC) d
     WHERE a.id = d.allocation_id;
    UPDATE registry.allocation a
       SET ends_at = d.new_ends_at
      FROM (SELECT DISTINCT ON (allocation_id) allocation_id, new_ends_at
            FROM new_diffs WHERE kind = 'end_date' ORDER BY allocation_id, id DESC) d
     WHERE a.id = d.allocation_id;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION registry.add_diffs_to_totals() IS
    'Statement trigger: adds new diffs'' SUs to allocation_total and applies status and end-date diffs to their allocation.';
CREATE TRIGGER allocation_diff_totals AFTER INSERT ON registry.allocation_diff
    REFERENCING NEW TABLE AS new_diffs FOR EACH STATEMENT EXECUTE FUNCTION registry.add_diffs_to_totals();

CREATE FUNCTION registry.add_usage_to_totals() RETURNS trigger
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
    -- Upserted in allocation order (see registry.add_diffs_to_totals).
    INSERT INTO registry.allocation_total AS t (allocation_id, charged_su)
    SELECT allocation_id, sum(su_amount) FROM new_usage GROUP BY allocation_id ORDER BY allocation_id
    ON CONFLICT (allocation_id) DO UPDATE SET charged_su = t.charged_su + excluded.charged_su;
    INSERT INTO registry.member_total AS m (allocation_id, person_id, charged_su)
    SELECT allocation_id, person_id, sum(su_amount)
    FROM new_usage
    GROUP BY allocation_id, person_id
    ORDER BY allocation_id, person_id
    ON CONFLICT (allocation_id, person_id) DO UPDATE SET charged_su = m.charged_su + excluded.charged_su;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION registry.add_usage_to_totals() IS
    'Statement trigger: adds new charges to allocation_total and member_total, one update per allocation and member per statement.';
CREATE TRIGGER usage_totals AFTER INSERT ON registry.usage
    REFERENCING NEW TABLE AS new_usage FOR EACH STATEMENT EXECUTE FUNCTION registry.add_usage_to_totals();

-- The write paths that must be atomic --------------------------------------------------------

CREATE FUNCTION registry.rate_at(resource_id uuid, at timestamptz) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT r.rate FROM registry.resource_rate r
    WHERE r.resource_id = rate_at.resource_id AND r.valid_during @> rate_at.at
$$;
COMMENT ON FUNCTION registry.rate_at(uuid, timestamptz) IS 'The rate of a resource in force at a time, or NULL when none is.';

CREATE FUNCTION registry.charge_usage(
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
#variable_conflict use_column
DECLARE
    applied_rate numeric;
    charged numeric;
BEGIN
    IF charge_usage.raw_amount IS NULL OR charge_usage.raw_amount < 0 THEN
        RAISE EXCEPTION 'registry.charge_usage: raw_amount must be zero or more, not %', quote_nullable(charge_usage.raw_amount)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    applied_rate := registry.rate_at(charge_usage.resource_id, charge_usage.end_time);
    IF applied_rate IS NULL THEN
        RAISE EXCEPTION 'registry.charge_usage: resource % has no rate in force at %', charge_usage.resource_id, charge_usage.end_time
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO registry.usage (cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id,
                                raw_amount, rate, su_amount)
    VALUES (charge_usage.cluster_id, charge_usage.job_id, charge_usage.submit_time, charge_usage.end_time,
            charge_usage.resource_id, charge_usage.allocation_id, charge_usage.person_id,
            charge_usage.raw_amount, applied_rate, round(charge_usage.raw_amount / applied_rate, 6))
    ON CONFLICT (cluster_id, job_id, submit_time, resource_id) DO NOTHING
    RETURNING su_amount INTO charged;
    RETURN charged;
END;
$$;
COMMENT ON FUNCTION registry.charge_usage(uuid, text, timestamptz, timestamptz, uuid, uuid, uuid, numeric) IS
    'Charges one job''s use of one resource at the rate in force at its end (SU = raw ÷ rate, 6 decimals). Returns the SUs charged, or NULL when the job was already charged.';

CREATE FUNCTION registry.apply_diff(
    allocation_id uuid,
    kind text,
    reason text,
    su_delta numeric DEFAULT 0,
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
COMMENT ON FUNCTION registry.apply_diff(uuid, text, text, numeric, text, timestamptz, text) IS
    'Records a change to an allocation made by a workflow or an admin (supplement, adjustment, status, end_date), with the current actor. Returns the diff id.';

CREATE FUNCTION registry.transfer_su(from_allocation uuid, to_allocation uuid, su numeric, reason text) RETURNS uuid
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
    INSERT INTO registry.allocation_diff (allocation_id, kind, su_delta, transfer_id, reason, source, actor)
    VALUES (from_allocation, 'transfer', -su, pair, reason, 'admin', registry.current_actor()),
           (to_allocation, 'transfer', su, pair, reason, 'admin', registry.current_actor());
    RETURN pair;
END;
$$;
COMMENT ON FUNCTION registry.transfer_su(uuid, uuid, numeric, text) IS
    'Moves SUs between allocations: two transfer diffs sharing one transfer_id, in one transaction. Returns the transfer id.';

CREATE FUNCTION registry.submit_change_request(
    allocation_id uuid,
    requester_id uuid,
    kind text,
    justification text,
    requested_su numeric DEFAULT NULL,
    requested_status text DEFAULT NULL,
    requested_ends_at timestamptz DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    request_id uuid;
BEGIN
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
COMMENT ON FUNCTION registry.submit_change_request(uuid, uuid, text, text, numeric, text, timestamptz) IS
    'Submits a change request (PENDING) and records the submission event. Returns its id.';

CREATE FUNCTION registry.decide_change_request(request_id uuid, decision text, comment text DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    request registry.change_request;
    diff_id uuid;
BEGIN
    IF decision NOT IN ('APPROVED', 'REJECTED', 'CANCELLED') THEN
        RAISE EXCEPTION 'registry.decide_change_request: decision must be APPROVED, REJECTED or CANCELLED, not %', quote_nullable(decision)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The row lock makes a second decision wait for the first, then see it.
    SELECT * INTO request FROM registry.change_request r WHERE r.id = request_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'change request % does not exist', request_id USING ERRCODE = 'no_data_found';
    END IF;
    IF request.state <> 'PENDING' THEN
        RAISE EXCEPTION 'change request % is already %', request_id, request.state
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE registry.change_request r
       SET state = decision, decided_at = now(), decided_by = registry.current_actor()
     WHERE r.id = request_id;
    INSERT INTO registry.change_request_event (change_request_id, from_state, to_state, actor, comment)
    VALUES (request_id, 'PENDING', decision, registry.current_actor(), decide_change_request.comment);
    IF decision = 'APPROVED' THEN
        INSERT INTO registry.allocation_diff (allocation_id, kind, su_delta, new_status, new_ends_at, reason, source,
                                              change_request_id, actor)
        VALUES (request.allocation_id,
                CASE request.kind WHEN 'supplement' THEN 'supplement' WHEN 'extension' THEN 'end_date' ELSE 'status' END,
                coalesce(request.requested_su, 0), request.requested_status, request.requested_ends_at,
                coalesce(decide_change_request.comment, request.justification), 'change_request', request_id,
                registry.current_actor())
        RETURNING id INTO diff_id;
    END IF;
    RETURN diff_id;
END;
$$;
COMMENT ON FUNCTION registry.decide_change_request(uuid, text, text) IS
    'Approves, rejects or cancels a PENDING change request, with its event; approval creates the diff in the same transaction and returns its id. Deciding twice is an error.';

CREATE FUNCTION registry.approve_change_request(request_id uuid, comment text DEFAULT NULL) RETURNS uuid
LANGUAGE sql AS $$ SELECT registry.decide_change_request(request_id, 'APPROVED', comment) $$;
COMMENT ON FUNCTION registry.approve_change_request(uuid, text) IS
    'Approves a PENDING change request and returns the diff it created (registry.decide_change_request).';

CREATE FUNCTION registry.reject_change_request(request_id uuid, comment text DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$ SELECT registry.decide_change_request(request_id, 'REJECTED', comment) $$;
COMMENT ON FUNCTION registry.reject_change_request(uuid, text) IS 'Rejects a PENDING change request (registry.decide_change_request).';

CREATE FUNCTION registry.cancel_change_request(request_id uuid, comment text DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$ SELECT registry.decide_change_request(request_id, 'CANCELLED', comment) $$;
COMMENT ON FUNCTION registry.cancel_change_request(uuid, text) IS 'Cancels a PENDING change request (registry.decide_change_request).';
