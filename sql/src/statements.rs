//! Every SQL statement the Rust code runs, one per file under `sql/queries/`, with its
//! parameters.
//!
//! Each file holds one statement with a comment on what it does and how it locks rows. The
//! `statements!` list below is the only way code reaches them, so [`ALL`] is complete by
//! construction. Each entry declares the statement's parameters, in the order of `$1`, `$2`,
//! …, by name and PostgreSQL type:
//!
//! ```text
//! API_ORGANIZATION_LIST = "api_organization_list" (after: UUID, fetch: INT8, name: TEXT);
//! ```
//!
//! Code binds values to them by name with [`bind!`](crate::bind!), checked at compile time
//! (see [`crate::bind`]); one test prepares every statement against the migrated schema and
//! checks the declared types against the ones PostgreSQL infers.

use tokio_postgres::types::Type;

/// One named SQL statement from `sql/queries/NAME.sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement {
    /// The file's stem, used in errors and logs.
    pub name: &'static str,
    /// The statement text, comment included.
    pub text: &'static str,
    /// Its parameters, in the order of `$1`, `$2`, ….
    pub params: &'static [Param],
}

/// One parameter of a [`Statement`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The name code binds it by.
    pub name: &'static str,
    /// The PostgreSQL type the statement takes, as PostgreSQL infers it.
    pub sql_type: Type,
}

macro_rules! statements {
    ($($constant:ident = $file:literal ($($param:ident : $sql_type:ident),* $(,)?);)*) => {
        $(
            #[doc = concat!("`sql/queries/", $file, ".sql`")]
            pub const $constant: Statement = Statement {
                name: $file,
                text: include_str!(concat!("../queries/", $file, ".sql")),
                params: &[$(Param { name: stringify!($param), sql_type: Type::$sql_type }),*],
            };
        )*
        /// Every statement above, for the test that prepares them all.
        pub const ALL: &[Statement] = &[$($constant),*];
    };
}

statements! {
    MIGRATION_LOCK = "migration_lock" ();
    MIGRATION_UNLOCK = "migration_unlock" ();
    MIGRATION_HISTORY_EXISTS = "migration_history_exists" ();
    MIGRATION_HISTORY = "migration_history" ();
    SCHEMA_OVERVIEW = "schema_overview" ();
    SCHEMA_COLUMNS = "schema_columns" ();
    DATABASE_EXISTS = "database_exists" (name: NAME);
    TASK_ENQUEUE = "task_enqueue" (
        site: TEXT,
        kind: TEXT,
        payload: JSONB,
        priority: INT4,
        run_at: TIMESTAMPTZ,
        max_attempts: INT4,
        dedupe_key: TEXT,
        lane: TEXT,
        depends_on: INT8_ARRAY,
    );
    TASK_ENQUEUE_MANY = "task_enqueue_many" (site: TEXT, kind: TEXT, payloads: JSONB_ARRAY);
    TASK_CLAIM = "task_claim" (
        site: TEXT,
        worker_id: UUID,
        now: TIMESTAMPTZ,
        kinds: TEXT_ARRAY,
        limit: INT8,
        lease_ms: INT8,
        limited_kinds: TEXT_ARRAY,
        limited_slots: INT8_ARRAY,
    );
    TASK_COMPLETE = "task_complete" (
        ids: INT8_ARRAY,
        attempts: INT4_ARRAY,
        results: JSONB_ARRAY,
        now: TIMESTAMPTZ,
        applied_task_ids: INT8_ARRAY,
        applied_subjects: TEXT_ARRAY,
        applied_states: JSONB_ARRAY,
        observed_task_ids: INT8_ARRAY,
        observed_connectors: TEXT_ARRAY,
        observed_subjects: TEXT_ARRAY,
        observed_states: JSONB_ARRAY,
        observed_managed: BOOL_ARRAY,
        snapshot_task_ids: INT8_ARRAY,
        snapshot_connectors: TEXT_ARRAY,
    );
    TASK_FAIL = "task_fail" (
        id: INT8,
        attempt: INT4,
        retryable: BOOL,
        backoff_ms: INT8,
        error: TEXT,
        now: TIMESTAMPTZ,
    );
    TASK_CANCEL_DEPENDENTS = "task_cancel_dependents" (ids: INT8_ARRAY, reason: TEXT);
    TASK_HEARTBEAT = "task_heartbeat" (
        ids: INT8_ARRAY,
        attempts: INT4_ARRAY,
        now: TIMESTAMPTZ,
        lease_ms: INT8,
    );
    TASK_RESCUE_EXPIRED = "task_rescue_expired" (site: TEXT, now: TIMESTAMPTZ);
    TASK_RELEASE = "task_release" (ids: INT8_ARRAY, attempts: INT4_ARRAY, now: TIMESTAMPTZ);
    TASK_PRUNE = "task_prune" (site: TEXT, before: TIMESTAMPTZ, limit: INT8);
    TASK_CANCEL = "task_cancel" (id: INT8);
    TASK_RETRY = "task_retry" (id: INT8);
    TASK_GET = "task_get" (id: INT8);
    TASK_LIST = "task_list" (site: TEXT, state: TEXT, kind: TEXT, before_id: INT8, limit: INT8);
    TASK_ATTEMPTS = "task_attempts" (id: INT8);
    TASK_STATS = "task_stats" (now: TIMESTAMPTZ);
    WORKER_REGISTER = "worker_register" (
        id: UUID,
        site: TEXT,
        hostname: TEXT,
        pid: INT4,
        version: TEXT,
    );
    WORKER_SEEN = "worker_seen" (id: UUID);
    WORKER_STOPPED = "worker_stopped" (id: UUID);
    WORKER_RUNNING = "worker_running" (pid: INT4);
    SITE_CLUSTERS = "site_clusters" ();
    SCHEDULE_EVERY = "schedule_every" (
        name: TEXT,
        site: TEXT,
        kind: TEXT,
        payload: JSONB,
        every_microseconds: INT8,
        first_run_at: TIMESTAMPTZ,
    );
    SCHEDULE_LIST = "schedule_list" (site: TEXT);
    SCHEDULE_FIRE = "schedule_fire" (site: TEXT, now: TIMESTAMPTZ, limit: INT8);
    PROVISION_SET_CLOCK = "provision_set_clock" (now: TIMESTAMPTZ);
    PROVISION_REGISTER_CONNECTOR = "provision_register_connector" (site: TEXT, connector: TEXT, model: TEXT, mass_delete_percent: INT4, mass_delete_minimum: INT4);
    PROVISION_ENSURE_SCHEDULE = "provision_ensure_schedule" (site: TEXT, name_suffix: TEXT, kind: TEXT, payload: JSONB, every_microseconds: INT8);
    PROVISION_UNREGISTER_OTHERS = "provision_unregister_others" (site: TEXT, keep: TEXT_ARRAY);
    PROVISION_CONNECTORS = "provision_connectors" (site: TEXT);
    PROVISION_RECONCILE = "provision_reconcile" (site: TEXT, connector: TEXT, scopes: TEXT_ARRAY, allow_mass_delete: BOOL, dry_run: BOOL);
    PLAN_PRUNE = "plan_prune" (site: TEXT, before: TIMESTAMPTZ, limit: INT8);
    PROVISION_RECONCILE_DIRTY = "provision_reconcile_dirty" (site: TEXT, most: INT4);
    PROVISION_DRIFT = "provision_drift" (site: TEXT);
    PROVISION_SUBJECTS = "provision_subjects" (site: TEXT);
    REPORT_ACCESS_VERDICTS = "report_access_verdicts" ();
    REGISTRY_ADVANCE_TIME = "registry_advance_time" (site: TEXT);
    UNSCHEDULE = "unschedule" (name: TEXT);
    SITE_ROLE_CREATE = "site_role_create" (role_name: TEXT, site: TEXT, password_verifier: TEXT);
    SITE_ROLE_DROP = "site_role_drop" (role_name: TEXT);
    SITE_ROLE_LIST = "site_role_list" ();
    SESSION_BINDING = "session_binding" ();
    LISTEN_QUEUE = "listen_queue" ();
    LISTEN_RECONCILE = "listen_reconcile" ();
    IMPORT_CLUSTER = "import_cluster" (name: TEXT);
    IMPORT_ALLOCATIONS = "import_allocations" (cluster_id: UUID);
    IMPORT_ACCOUNTS = "import_accounts" (cluster_id: UUID);
    IMPORT_RESOURCES = "import_resources" (cluster_id: UUID);
    USAGE_IMPORT_FAIL = "usage_import_fail" (id: UUID, failure: TEXT);
    USAGE_IMPORT_START = "usage_import_start" (cluster_id: UUID, source: TEXT, format: TEXT);
    USAGE_IMPORT_PROGRESS = "usage_import_progress" (
        id: UUID,
        records: INT8,
        charged: INT8,
        already_charged: INT8,
        rejected: INT8,
    );
    USAGE_IMPORT_FINISH = "usage_import_finish" (id: UUID);
    USAGE_CHARGE_BATCH = "usage_charge_batch" (
        cluster_ids: UUID_ARRAY,
        job_ids: TEXT_ARRAY,
        submit_times: TIMESTAMPTZ_ARRAY,
        end_times: TIMESTAMPTZ_ARRAY,
        resource_ids: UUID_ARRAY,
        allocation_ids: UUID_ARRAY,
        person_ids: UUID_ARRAY,
        raw_amounts: NUMERIC_ARRAY,
        site: TEXT,
        only_exceptions: BOOL,
    );
    USAGE_REJECTIONS_INSERT = "usage_rejections_insert" (
        import_id: UUID,
        lines: INT8_ARRAY,
        job_ids: TEXT_ARRAY,
        reasons: TEXT_ARRAY,
        records: TEXT_ARRAY,
    );
    BENCH_SEED_CENTRE = "bench_seed_centre" (cluster_name: TEXT, people: INT4, allocations: INT4);
    BENCH_SEED_USAGE = "bench_seed_usage" (cluster_id: UUID, first_job: INT8, last_job: INT8);
    ALLOCATION_BALANCE_GET = "allocation_balance_get" (id: UUID);
    BENCH_ANY_ALLOCATION = "bench_any_allocation" (cluster_id: UUID);
    BENCH_SEED_RECONCILE_CENTRE = "bench_seed_reconcile_centre" (
        cluster_prefix: TEXT,
        sites: INT4,
        people: INT4,
        allocations: INT4,
        memberships: INT4,
    );
    BENCH_SETTLE_SITE = "bench_settle_site" (site: TEXT);
    BENCH_MEMBERSHIP_CHANGE = "bench_membership_change" (site: TEXT, account_name: TEXT);
    BENCH_ACTION_TASK = "bench_action_task" (site: TEXT, connector: TEXT, subject: TEXT, action: TEXT);
    BENCH_EXPLAIN_RECONCILE = "bench_explain_reconcile" (site: TEXT, connector: TEXT, dry_run: BOOL);
    BENCH_ANALYZE = "bench_analyze" ();
    SEED_DEMO = "seed_demo" ();
    TOKEN_CREATE = "token_create" (
        name: TEXT,
        secret_hash: BYTEA,
        role: TEXT,
        person_id: UUID,
        site: TEXT,
        expires_at: TIMESTAMPTZ,
    );
    TOKEN_LIST = "token_list" ();
    TOKEN_REVOKE = "token_revoke" (id: UUID);
    PERSON_BY_EMAIL = "person_by_email" (email: TEXT);
    API_ACCESS_DESIRED = "api_access_desired" (
        after: JSONB,
        fetch: INT8,
        cluster_id: UUID,
        person_id: UUID,
        allocation_id: UUID,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_ACCESS_EXPLAIN = "api_access_explain" (
        after: JSONB,
        fetch: INT8,
        cluster_id: UUID,
        person_id: UUID,
        allocation_id: UUID,
        granted: BOOL,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_ADJUSTMENT_APPLY = "api_adjustment_apply" (
        allocation_id: UUID,
        reason: TEXT,
        su_delta: NUMERIC,
    );
    API_ALLOCATION_BALANCE = "api_allocation_balance" (
        id: UUID,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_ALLOCATION_CREATE = "api_allocation_create" (
        project_id: UUID,
        cluster_id: UUID,
        account_name: TEXT,
        initial_su: NUMERIC,
        starts_at: TIMESTAMPTZ,
        ends_at: TIMESTAMPTZ,
        resource_ids: UUID_ARRAY,
        limits_su: NUMERIC_ARRAY,
    );
    API_ALLOCATION_GET = "api_allocation_get" (
        id: UUID,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_ALLOCATION_LIST = "api_allocation_list" (
        after: UUID,
        fetch: INT8,
        project_id: UUID,
        cluster_id: UUID,
        status: TEXT,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_ALLOCATION_SCOPE = "api_allocation_scope" (allocation_id: UUID, person_id: UUID);
    API_AUDIT_LIST = "api_audit_list" (
        after: INT8,
        fetch: INT8,
        table: TEXT,
        row_id: TEXT,
        actor: TEXT,
        since: TIMESTAMPTZ,
        until: TIMESTAMPTZ,
    );
    API_CHANGE_REQUEST_DECIDE = "api_change_request_decide" (
        id: UUID,
        decision: TEXT,
        comment: TEXT,
    );
    API_CHANGE_REQUEST_GET = "api_change_request_get" (
        id: UUID,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_CHANGE_REQUEST_LIST = "api_change_request_list" (
        after: UUID,
        fetch: INT8,
        allocation_id: UUID,
        state: TEXT,
        requester_id: UUID,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_CHANGE_REQUEST_OWNER = "api_change_request_owner" (id: UUID);
    API_CHANGE_REQUEST_SUBMIT = "api_change_request_submit" (
        allocation_id: UUID,
        requester_id: UUID,
        kind: TEXT,
        justification: TEXT,
        requested_su: NUMERIC,
        requested_status: TEXT,
        requested_ends_at: TIMESTAMPTZ,
    );
    API_CLUSTER_ACCOUNT_BLOCKERS = "api_cluster_account_blockers" (person_id: UUID, id: UUID);
    API_CLUSTER_ACCOUNT_CREATE = "api_cluster_account_create" (
        person_id: UUID,
        cluster_id: UUID,
        username: TEXT,
        uid: INT4,
    );
    API_CLUSTER_ACCOUNT_DELETE = "api_cluster_account_delete" (person_id: UUID, id: UUID);
    API_CLUSTER_ACCOUNT_GET = "api_cluster_account_get" (person_id: UUID, id: UUID);
    API_CLUSTER_ACCOUNT_LIST = "api_cluster_account_list" (
        after: UUID,
        fetch: INT8,
        person_id: UUID,
        cluster_id: UUID,
    );
    API_CLUSTER_CREATE = "api_cluster_create" (name: TEXT, description: TEXT);
    API_CLUSTER_GET = "api_cluster_get" (id: UUID);
    API_CLUSTER_LIST = "api_cluster_list" (after: UUID, fetch: INT8, name: TEXT);
    API_DIFF_GET = "api_diff_get" (allocation_id: UUID, id: UUID);
    API_DIFF_LIST = "api_diff_list" (
        after: UUID,
        fetch: INT8,
        allocation_id: UUID,
        kind: TEXT,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_IDEMPOTENCY_CLAIM = "api_idempotency_claim" (
        caller_key: TEXT,
        key: TEXT,
        request_sha256: BYTEA,
    );
    API_IDEMPOTENCY_GET = "api_idempotency_get" (caller_key: TEXT, key: TEXT);
    API_IDEMPOTENCY_PRUNE = "api_idempotency_prune" (limit: INT8);
    API_IDEMPOTENCY_STORE = "api_idempotency_store" (
        caller_key: TEXT,
        key: TEXT,
        status: INT2,
        response: JSONB,
    );
    API_IDENTITY_CREATE = "api_identity_create" (person_id: UUID, source: TEXT, external_id: TEXT);
    API_IDENTITY_GET = "api_identity_get" (person_id: UUID, id: UUID);
    API_IDENTITY_LIST = "api_identity_list" (
        after: UUID,
        fetch: INT8,
        person_id: UUID,
        source: TEXT,
    );
    API_MEMBER_BALANCE = "api_member_balance" (
        id: UUID,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_MEMBERSHIP_ALLOCATION = "api_membership_allocation" (id: UUID);
    API_MEMBERSHIP_CREATE = "api_membership_create" (
        allocation_id: UUID,
        person_id: UUID,
        cap_su: NUMERIC,
        starts_at: TIMESTAMPTZ,
        ends_at: TIMESTAMPTZ,
    );
    API_MEMBERSHIP_GET = "api_membership_get" (
        id: UUID,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_MEMBERSHIP_LIST = "api_membership_list" (
        after: UUID,
        fetch: INT8,
        allocation_id: UUID,
        person_id: UUID,
        status: TEXT,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_MEMBERSHIP_UPDATE = "api_membership_update" (
        id: UUID,
        clear_cap: BOOL,
        cap_su: NUMERIC,
        status: TEXT,
        clear_ends_at: BOOL,
        ends_at: TIMESTAMPTZ,
    );
    API_ORGANIZATION_CREATE = "api_organization_create" (
        name: TEXT,
        origination: TEXT,
        originated_id: TEXT,
    );
    API_ORGANIZATION_GET = "api_organization_get" (id: UUID);
    API_ORGANIZATION_LIST = "api_organization_list" (
        after: UUID,
        fetch: INT8,
        name: TEXT,
        origination: TEXT,
        originated_id: TEXT,
    );
    API_PERSON_BY_IDENTITY = "api_person_by_identity" (source: TEXT, external_id: TEXT);
    API_PERSON_CREATE = "api_person_create" (
        name: TEXT,
        email: TEXT,
        organization_id: UUID,
        first_name: TEXT,
        middle_name: TEXT,
        last_name: TEXT,
    );
    API_PERSON_DEACTIVATE = "api_person_deactivate" (id: UUID);
    API_PERSON_GET = "api_person_get" (id: UUID, scoped: BOOL, scope_pi: UUID, scope_person: UUID);
    API_PERSON_LIST = "api_person_list" (
        after: UUID,
        fetch: INT8,
        email: TEXT,
        organization_id: UUID,
        status: TEXT,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_PERSON_MERGE = "api_person_merge" (survivor_id: UUID, duplicate_id: UUID);
    API_PROJECT_CREATE = "api_project_create" (
        title: TEXT,
        pi_id: UUID,
        organization_id: UUID,
        origination: TEXT,
        originated_id: TEXT,
    );
    API_PROJECT_GET = "api_project_get" (
        id: UUID,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_PROJECT_LIST = "api_project_list" (
        after: UUID,
        fetch: INT8,
        pi_id: UUID,
        status: TEXT,
        organization_id: UUID,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_PROJECT_UPDATE = "api_project_update" (id: UUID, title: TEXT, status: TEXT);
    API_RATE_CREATE = "api_rate_create" (
        resource_id: UUID,
        rate: NUMERIC,
        valid_from: TIMESTAMPTZ,
        valid_until: TIMESTAMPTZ,
    );
    API_RATE_GET = "api_rate_get" (resource_id: UUID, id: UUID);
    API_RATE_LIST = "api_rate_list" (after: UUID, fetch: INT8, resource_id: UUID, at: TIMESTAMPTZ);
    API_READINESS = "api_readiness" ();
    API_RESOURCE_CREATE = "api_resource_create" (
        cluster_id: UUID,
        name: TEXT,
        resource_type: TEXT,
        unit: TEXT,
        slurm_partition: TEXT,
        slurm_tres: TEXT,
    );
    API_RESOURCE_GET = "api_resource_get" (id: UUID);
    API_RESOURCE_LIST = "api_resource_list" (after: UUID, fetch: INT8, cluster_id: UUID);
    API_SET_ACTOR = "api_set_actor" (actor: TEXT);
    API_TOKEN_AUTHENTICATE = "api_token_authenticate" (secret_hash: BYTEA);
    API_TRANSFER = "api_transfer" (
        from_allocation_id: UUID,
        to_allocation_id: UUID,
        su: NUMERIC,
        reason: TEXT,
    );
    API_TRANSFER_DIFFS = "api_transfer_diffs" (transfer_id: UUID);
    API_USAGE_LIST = "api_usage_list" (
        after: JSONB,
        fetch: INT8,
        allocation_id: UUID,
        person_id: UUID,
        since: TIMESTAMPTZ,
        until: TIMESTAMPTZ,
        scoped: BOOL,
        scope_pi: UUID,
        scope_person: UUID,
    );
    API_WITHDRAWAL_REFUSAL = "api_withdrawal_refusal" (allocation_id: UUID, su: NUMERIC);
}
