//! Every SQL statement the Rust code runs, one per file under `sql/queries/`.
//!
//! Each file holds one statement with a comment on what it does and how it locks rows. The
//! [`statements!`] list below is the only way code reaches them, so [`ALL`] is complete by
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
    LISTEN_QUEUE = "listen_queue";
    IMPORT_CLUSTER = "import_cluster";
    IMPORT_ALLOCATIONS = "import_allocations";
    IMPORT_ACCOUNTS = "import_accounts";
    IMPORT_RESOURCES = "import_resources";
    IMPORT_RATES = "import_rates";
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
}
