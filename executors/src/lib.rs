//! Executors: the connector actions a site daemon runs for each task kind. Three exist:
//! [`Noop`], [`shell`], which runs a site's own program per kind, and [`script`], the
//! reconciler's connector for sites without a built-in one (a site's programs apply a
//! subject's desired state and observe what the site holds). Slurm accounting, LDAP, webhook
//! and ACCESS AMIE connectors are planned, not written (README.md lists them).
//!
//! An [`Executor`] gets a [`Task`] and returns a [`Success`] (an optional result, and what it
//! applied, which the daemon records in the transaction that completes the task) or an
//! [`ExecutionError`] saying whether another attempt may help. Each module registers the kinds
//! it handles by name in a [`Registry`]. Executors never touch the queue tables: claiming,
//! leases, retries and recording are the daemon's engine's work. Before it records an outcome,
//! the engine makes it storable with [`output`] (NULs replaced, lengths bounded, the applied
//! list checked), so no output an executor returns can stop the writes of others. A
//! connector's [`Observation`] of its managed system is recorded the same way, in the
//! completing transaction.

mod noop;
pub mod output;
mod registry;
pub mod script;
pub mod shell;

use serde_json::Value;

pub use noop::Noop;
pub use registry::{DuplicateKind, Registry};

/// A claimed task, as an executor sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Task id.
    pub id: i64,
    /// The site it runs on.
    pub site: String,
    /// The action.
    pub kind: String,
    /// Its arguments, a JSON object.
    pub payload: Value,
    /// Which attempt this is, from 1.
    pub attempt: i32,
    /// How many attempts it gets in all.
    pub max_attempts: i32,
}

/// Something an executor applied on its site, e.g. subject `slurm.account:abc123`.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// What it applied to, as kind-of-thing:key.
    pub subject: String,
    /// What it applied.
    pub state: Value,
}

/// What a connector saw its managed system hold, recorded in `provision.observed` with the
/// task's completion: the reconciler's observed state.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The connector that observed it.
    pub connector: String,
    /// A full snapshot: the system holds nothing of the connector's beyond `subjects`. Else
    /// the read-back of the subjects an action touched.
    pub snapshot: bool,
    /// What was seen.
    pub subjects: Vec<Observed>,
}

/// One subject as a connector saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The subject, named as in `provision.desired` (e.g. `account/che260001`).
    pub subject: String,
    /// Its state, a JSON object; `None`: the system does not hold it.
    pub state: Option<Value>,
    /// Whether the connector owns it; the reconciler never changes what it does not own.
    pub managed: bool,
}

/// A task done.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Success {
    /// What to keep as the task's result.
    pub result: Option<Value>,
    /// What it applied; recorded exactly once, with the task's completion.
    pub applied: Vec<Applied>,
    /// What its connector observed; recorded with the task's completion.
    pub observation: Option<Observation>,
}

/// Why a task failed, and whether to try again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionError {
    /// Another attempt may succeed (a timeout, a service down): retry after a backoff.
    #[error("{0}")]
    Retryable(String),
    /// Another attempt would fail the same way (bad payload, refused): the task is dead.
    #[error("{0}")]
    Permanent(String),
}

/// A connector action. Implementations are idempotent: a task may run more than once.
#[async_trait::async_trait]
pub trait Executor: Send + Sync + 'static {
    /// Carries out the task. Dropping the future abandons it (a lost lease, a shutdown past
    /// its grace period), so anything started must stop on drop.
    async fn execute(&self, task: &Task) -> Result<Success, ExecutionError>;
}
