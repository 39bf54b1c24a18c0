//! Every SQL statement the Rust code runs, one per file under `sql/queries/`.
//!
//! Each file holds one statement with a comment on what it does and how it locks rows. The
//! `statements!` list below is the only way code reaches them, so [`ALL`] is complete by
//! construction and one test prepares every entry against the migrated schema.

/// One named SQL statement from `sql/queries/NAME.sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement {
    /// The file's stem, used in errors and logs.
    pub name: &'static str,
    /// The statement text, comment included.
    pub text: &'static str,
}

macro_rules! statements {
    ($($constant:ident = $file:literal;)*) => {
        $(
            #[doc = concat!("`sql/queries/", $file, ".sql`")]
            pub const $constant: Statement = Statement {
                name: $file,
                text: include_str!(concat!("../queries/", $file, ".sql")),
            };
        )*
        /// Every statement above, for the test that prepares them all.
        pub const ALL: &[Statement] = &[$($constant),*];
    };
}

statements! {
    MIGRATION_LOCK = "migration_lock";
    MIGRATION_UNLOCK = "migration_unlock";
    MIGRATION_HISTORY_EXISTS = "migration_history_exists";
    MIGRATION_HISTORY = "migration_history";
    SCHEMA_OVERVIEW = "schema_overview";
    SCHEMA_COLUMNS = "schema_columns";
    DATABASE_EXISTS = "database_exists";
    TASK_ENQUEUE = "task_enqueue";
    TASK_ENQUEUE_MANY = "task_enqueue_many";
    TASK_CLAIM = "task_claim";
    TASK_COMPLETE = "task_complete";
    TASK_FAIL = "task_fail";
    TASK_CANCEL_DEPENDENTS = "task_cancel_dependents";
    TASK_HEARTBEAT = "task_heartbeat";
    TASK_RESCUE_EXPIRED = "task_rescue_expired";
    TASK_RELEASE = "task_release";
    TASK_PRUNE = "task_prune";
    TASK_CANCEL = "task_cancel";
    TASK_RETRY = "task_retry";
    TASK_GET = "task_get";
    TASK_LIST = "task_list";
    TASK_ATTEMPTS = "task_attempts";
    TASK_STATS = "task_stats";
    WORKER_REGISTER = "worker_register";
    WORKER_SEEN = "worker_seen";
    WORKER_STOPPED = "worker_stopped";
    WORKER_RUNNING = "worker_running";
    SITE_CLUSTERS = "site_clusters";
    LISTEN_QUEUE = "listen_queue";
    IMPORT_CLUSTER = "import_cluster";
    IMPORT_ALLOCATIONS = "import_allocations";
    IMPORT_ACCOUNTS = "import_accounts";
    IMPORT_RESOURCES = "import_resources";
    USAGE_IMPORT_FAIL = "usage_import_fail";
    USAGE_IMPORT_START = "usage_import_start";
    USAGE_IMPORT_PROGRESS = "usage_import_progress";
    USAGE_IMPORT_FINISH = "usage_import_finish";
    USAGE_CHARGE_BATCH = "usage_charge_batch";
    USAGE_REJECTIONS_INSERT = "usage_rejections_insert";
    BENCH_SEED_CENTRE = "bench_seed_centre";
    BENCH_SEED_USAGE = "bench_seed_usage";
    ALLOCATION_BALANCE_GET = "allocation_balance_get";
    BENCH_ANY_ALLOCATION = "bench_any_allocation";
    SEED_DEMO = "seed_demo";
    TOKEN_CREATE = "token_create";
    TOKEN_LIST = "token_list";
    TOKEN_REVOKE = "token_revoke";
    PERSON_BY_EMAIL = "person_by_email";
    API_ACCESS_DESIRED = "api_access_desired";
    API_ACCESS_EXPLAIN = "api_access_explain";
    API_ADJUSTMENT_APPLY = "api_adjustment_apply";
    API_ALLOCATION_BALANCE = "api_allocation_balance";
    API_ALLOCATION_CREATE = "api_allocation_create";
    API_ALLOCATION_GET = "api_allocation_get";
    API_ALLOCATION_LIST = "api_allocation_list";
    API_ALLOCATION_SCOPE = "api_allocation_scope";
    API_ALLOCATION_SYNC = "api_allocation_sync";
    API_AUDIT_LIST = "api_audit_list";
    API_CHANGE_REQUEST_DECIDE = "api_change_request_decide";
    API_CHANGE_REQUEST_GET = "api_change_request_get";
    API_CHANGE_REQUEST_LIST = "api_change_request_list";
    API_CHANGE_REQUEST_OWNER = "api_change_request_owner";
    API_CHANGE_REQUEST_SUBMIT = "api_change_request_submit";
    API_CLUSTER_ACCOUNT_BLOCKERS = "api_cluster_account_blockers";
    API_CLUSTER_ACCOUNT_CREATE = "api_cluster_account_create";
    API_CLUSTER_ACCOUNT_DELETE = "api_cluster_account_delete";
    API_CLUSTER_ACCOUNT_GET = "api_cluster_account_get";
    API_CLUSTER_ACCOUNT_LIST = "api_cluster_account_list";
    API_CLUSTER_CREATE = "api_cluster_create";
    API_CLUSTER_GET = "api_cluster_get";
    API_CLUSTER_LIST = "api_cluster_list";
    API_DIFF_GET = "api_diff_get";
    API_DIFF_LIST = "api_diff_list";
    API_IDEMPOTENCY_CLAIM = "api_idempotency_claim";
    API_IDEMPOTENCY_GET = "api_idempotency_get";
    API_IDEMPOTENCY_PRUNE = "api_idempotency_prune";
    API_IDEMPOTENCY_STORE = "api_idempotency_store";
    API_IDENTITY_CREATE = "api_identity_create";
    API_IDENTITY_GET = "api_identity_get";
    API_IDENTITY_LIST = "api_identity_list";
    API_MEMBER_BALANCE = "api_member_balance";
    API_MEMBERSHIP_ALLOCATION = "api_membership_allocation";
    API_MEMBERSHIP_CREATE = "api_membership_create";
    API_MEMBERSHIP_GET = "api_membership_get";
    API_MEMBERSHIP_LIST = "api_membership_list";
    API_MEMBERSHIP_SYNC = "api_membership_sync";
    API_MEMBERSHIP_SYNC_MANY = "api_membership_sync_many";
    API_MEMBERSHIP_UPDATE = "api_membership_update";
    API_ORGANIZATION_CREATE = "api_organization_create";
    API_ORGANIZATION_GET = "api_organization_get";
    API_ORGANIZATION_LIST = "api_organization_list";
    API_PERSON_BY_IDENTITY = "api_person_by_identity";
    API_PERSON_CREATE = "api_person_create";
    API_PERSON_DEACTIVATE = "api_person_deactivate";
    API_PERSON_GET = "api_person_get";
    API_PERSON_LIST = "api_person_list";
    API_PERSON_MEMBERSHIPS = "api_person_memberships";
    API_PERSON_MERGE = "api_person_merge";
    API_PROJECT_CREATE = "api_project_create";
    API_PROJECT_GET = "api_project_get";
    API_PROJECT_LIST = "api_project_list";
    API_PROJECT_UPDATE = "api_project_update";
    API_RATE_CREATE = "api_rate_create";
    API_RATE_GET = "api_rate_get";
    API_RATE_LIST = "api_rate_list";
    API_READINESS = "api_readiness";
    API_RESOURCE_CREATE = "api_resource_create";
    API_RESOURCE_GET = "api_resource_get";
    API_RESOURCE_LIST = "api_resource_list";
    API_SET_ACTOR = "api_set_actor";
    API_TOKEN_AUTHENTICATE = "api_token_authenticate";
    API_TRANSFER = "api_transfer";
    API_TRANSFER_DIFFS = "api_transfer_diffs";
    API_USAGE_LIST = "api_usage_list";
    API_USAGE_SUBMIT = "api_usage_submit";
    API_WITHDRAWAL_REFUSAL = "api_withdrawal_refusal";
}
