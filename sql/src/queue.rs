//! The task queue's operations: enqueue, claim, heartbeat, complete, fail, rescue, release,
//! prune, and what the CLI and metrics read. Each is one statement from `sql/queries/task_*.sql`;
//! the daemon's engine decides when to call them.
//!
//! Every transition after the claim is a compare-and-set on (id, attempt, state = running), so
//! a worker that lost its lease can never overwrite a newer attempt's outcome.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use uuid::Uuid;

use crate::bind;
use crate::error::DbError;
use crate::pool::{begin, commit, execute, query, query_one};
use crate::statements::{
    SITE_CLUSTERS, TASK_ATTEMPTS, TASK_CANCEL, TASK_CANCEL_DEPENDENTS, TASK_CLAIM, TASK_COMPLETE,
    TASK_ENQUEUE, TASK_ENQUEUE_MANY, TASK_FAIL, TASK_GET, TASK_HEARTBEAT, TASK_LIST, TASK_PRUNE,
    TASK_RELEASE, TASK_RESCUE_EXPIRED, TASK_RETRY, TASK_STATS, WORKER_REGISTER, WORKER_RUNNING,
    WORKER_SEEN, WORKER_STOPPED,
};

/// Where the queue's notion of "now" comes from.
///
/// In production it is the database's `now()`, one clock for every host. Tests use a manual
/// clock they move forward, so leases lapse and backoffs pass without sleeping.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The database's transaction time.
    #[default]
    Database,
    /// A time the test sets.
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    /// A manual clock starting at `start`.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Self::Manual(Arc::new(Mutex::new(start)))
    }

    /// Moves a manual clock forward; does nothing to the database clock.
    pub fn advance(&self, by: Duration) {
        if let Self::Manual(time) = self {
            let mut time = time.lock().unwrap_or_else(PoisonError::into_inner);
            *time += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        }
    }

    /// The time to pass to a statement: `None` means the database's `now()`.
    pub fn now(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Database => None,
            Self::Manual(time) => Some(*time.lock().unwrap_or_else(PoisonError::into_inner)),
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A task to enqueue; [`NewTask::new`] fills the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    /// The site whose daemons run it.
    pub site: String,
    /// The executor action.
    pub kind: String,
    /// Its arguments, a JSON object.
    pub payload: Value,
    /// Smaller runs first; default 0.
    pub priority: i32,
    /// Not before this time; default now.
    pub run_at: Option<DateTime<Utc>>,
    /// Attempts before it is dead; default 10.
    pub max_attempts: Option<i32>,
    /// Unique among the site's unfinished tasks.
    pub dedupe_key: Option<String>,
    /// The site's tasks sharing a lane run one at a time, in order.
    pub lane: Option<String>,
    /// Tasks of the same site that must succeed first.
    pub depends_on: Vec<i64>,
}

impl NewTask {
    /// A task with the defaults: empty payload, priority 0, now, no key, lane or dependencies.
    pub fn new(site: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            site: site.into(),
            kind: kind.into(),
            payload: Value::Object(serde_json::Map::new()),
            priority: 0,
            run_at: None,
            max_attempts: None,
            dedupe_key: None,
            lane: None,
            depends_on: Vec::new(),
        }
    }
}

/// Enqueues a task through `queue.enqueue` and returns its id (the existing task's id when
/// the site's dedupe key is taken). Runs in the caller's transaction when given one.
pub async fn enqueue(client: &impl GenericClient, task: &NewTask) -> Result<i64, DbError> {
    let depends_on = (!task.depends_on.is_empty()).then_some(&task.depends_on);
    let row = query_one(
        client,
        bind!(
            TASK_ENQUEUE,
            site = &task.site,
            kind = &task.kind,
            payload = &task.payload,
            priority = &task.priority,
            run_at = &task.run_at,
            max_attempts = &task.max_attempts,
            dedupe_key = &task.dedupe_key,
            lane = &task.lane,
            depends_on = &depends_on,
        ),
    )
    .await?;
    Ok(row.get("id"))
}

/// Enqueues one task of `site` and `kind` per payload, in one statement; returns the ids.
pub async fn enqueue_many(
    client: &impl GenericClient,
    site: &str,
    kind: &str,
    payloads: &[Value],
) -> Result<Vec<i64>, DbError> {
    let rows = query(
        client,
        bind!(
            TASK_ENQUEUE_MANY,
            site = &site,
            kind = &kind,
            payloads = &payloads,
        ),
    )
    .await?;
    Ok(rows.iter().map(|row| row.get("id")).collect())
}

/// A task as a worker claimed it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedTask {
    /// Task id.
    pub id: i64,
    /// The executor action.
    pub kind: String,
    /// Its arguments.
    pub payload: Value,
    /// The attempt this claim is (1 for the first); names the claim for fencing.
    pub attempt: i32,
    /// Attempts allowed in all.
    pub max_attempts: i32,
}

/// What a claim asks for.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    /// The site.
    pub site: &'a str,
    /// The claiming worker.
    pub worker_id: Uuid,
    /// The kinds it runs with no limit of their own: any number of them, up to `limit`.
    pub kinds: &'a [String],
    /// The kinds it runs under a limit of their own, each with how many more of it it can
    /// start now: at most that many of each (none of a kind with 0).
    pub limited_kinds: &'a BTreeMap<String, i64>,
    /// At most this many in all.
    pub limit: i64,
    /// How long the claim holds without a heartbeat.
    pub lease: Duration,
}

/// Claims up to `request.limit` ready tasks, no more of a limited kind than its free slots
/// (see `task_claim.sql` for order and locking).
pub async fn claim(
    client: &impl GenericClient,
    request: &ClaimRequest<'_>,
    clock: &Clock,
) -> Result<Vec<ClaimedTask>, DbError> {
    let (limited_kinds, free_slots): (Vec<&str>, Vec<i64>) = request
        .limited_kinds
        .iter()
        .map(|(kind, free)| (kind.as_str(), *free))
        .unzip();
    let rows = query(
        client,
        bind!(
            TASK_CLAIM,
            site = &request.site,
            worker_id = &request.worker_id,
            now = &clock.now(),
            kinds = &request.kinds,
            limit = &request.limit,
            lease_ms = &millis(request.lease),
            limited_kinds = &limited_kinds,
            limited_slots = &free_slots,
        ),
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| ClaimedTask {
            id: row.get("id"),
            kind: row.get("kind"),
            payload: row.get("payload"),
            attempt: row.get("attempts"),
            max_attempts: row.get("max_attempts"),
        })
        .collect())
}

/// Something an executor applied on its site, recorded when its task succeeds.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedState {
    /// What it applied to, e.g. `slurm.account:abc123`.
    pub subject: String,
    /// What it applied.
    pub state: Value,
}

/// A successful attempt, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Task id.
    pub id: i64,
    /// The attempt it was claimed under.
    pub attempt: i32,
    /// What the executor returned.
    pub result: Option<Value>,
    /// What it applied, recorded in the same transaction.
    pub applied: Vec<AppliedState>,
    /// What its connector observed, recorded in the same transaction (`provision.observed`).
    pub observation: Option<ObservedState>,
}

/// What a connector's task observed its managed system hold.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedState {
    /// The connector.
    pub connector: String,
    /// A full snapshot: subjects it does not name are gone from the system.
    pub snapshot: bool,
    /// Each subject seen: its state (`None`: the system does not hold it) and whether the
    /// connector manages it.
    pub subjects: Vec<(String, Option<Value>, bool)>,
}

/// Marks a batch of tasks succeeded and records what they applied, in one statement; counts
/// down and wakes their dependents. Returns the ids accepted; the rest were fenced out.
pub async fn complete(
    client: &impl GenericClient,
    completions: &[Completion],
    clock: &Clock,
) -> Result<Vec<i64>, DbError> {
    let ids: Vec<i64> = completions.iter().map(|c| c.id).collect();
    let attempts: Vec<i32> = completions.iter().map(|c| c.attempt).collect();
    let results: Vec<Option<&Value>> = completions.iter().map(|c| c.result.as_ref()).collect();
    let mut applied_task_ids = Vec::new();
    let mut applied_subjects = Vec::new();
    let mut applied_states = Vec::new();
    let mut observed_task_ids = Vec::new();
    let mut observed_connectors = Vec::new();
    let mut observed_subjects = Vec::new();
    let mut observed_states = Vec::new();
    let mut observed_managed = Vec::new();
    let mut snapshot_task_ids = Vec::new();
    let mut snapshot_connectors = Vec::new();
    for completion in completions {
        for applied in &completion.applied {
            applied_task_ids.push(completion.id);
            applied_subjects.push(applied.subject.as_str());
            applied_states.push(&applied.state);
        }
        if let Some(observation) = &completion.observation {
            if observation.snapshot {
                snapshot_task_ids.push(completion.id);
                snapshot_connectors.push(observation.connector.as_str());
            }
            for (subject, state, managed) in &observation.subjects {
                observed_task_ids.push(completion.id);
                observed_connectors.push(observation.connector.as_str());
                observed_subjects.push(subject.as_str());
                observed_states.push(state.as_ref());
                observed_managed.push(*managed);
            }
        }
    }
    let row = query_one(
        client,
        bind!(
            TASK_COMPLETE,
            ids = &ids,
            attempts = &attempts,
            results = &results,
            now = &clock.now(),
            applied_task_ids = &applied_task_ids,
            applied_subjects = &applied_subjects,
            applied_states = &applied_states,
            observed_task_ids = &observed_task_ids,
            observed_connectors = &observed_connectors,
            observed_subjects = &observed_subjects,
            observed_states = &observed_states,
            observed_managed = &observed_managed,
            snapshot_task_ids = &snapshot_task_ids,
            snapshot_connectors = &snapshot_connectors,
        ),
    )
    .await?;
    Ok(row.get("accepted"))
}

/// A failed attempt, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Task id.
    pub id: i64,
    /// The attempt it was claimed under.
    pub attempt: i32,
    /// Whether another attempt may succeed.
    pub retryable: bool,
    /// How long to wait before it, when retryable.
    pub backoff: Duration,
    /// What went wrong.
    pub error: String,
}

/// Where a failed task went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Back in the queue for another attempt after the backoff.
    Retrying,
    /// Out of attempts, or failed permanently; its dependents were cancelled.
    Dead,
    /// The attempt had been fenced out (lease lost, cancelled): nothing changed.
    FencedOut,
}

/// Records a failed attempt; when the task dies, cancels what waits on it. One transaction.
pub async fn fail(
    client: &mut deadpool_postgres::Client,
    failure: &Failure,
    clock: &Clock,
) -> Result<FailureOutcome, DbError> {
    let transaction = begin(client).await?;
    let rows = query(
        &transaction,
        bind!(
            TASK_FAIL,
            id = &failure.id,
            attempt = &failure.attempt,
            retryable = &failure.retryable,
            backoff_ms = &millis(failure.backoff),
            error = &failure.error,
            now = &clock.now(),
        ),
    )
    .await?;
    let outcome = match rows.first().map(|row| row.get::<_, String>("state")) {
        None => FailureOutcome::FencedOut,
        Some(state) if state == "dead" => {
            let reason = format!("dependency {} is dead", failure.id);
            query_one(
                &transaction,
                bind!(
                    TASK_CANCEL_DEPENDENTS,
                    ids = &vec![failure.id],
                    reason = &reason,
                ),
            )
            .await?;
            FailureOutcome::Dead
        }
        Some(_) => FailureOutcome::Retrying,
    };
    commit(transaction).await?;
    Ok(outcome)
}

/// Extends the leases of the given (id, attempt) claims; returns the ids still held.
pub async fn heartbeat(
    client: &impl GenericClient,
    claims: &[(i64, i32)],
    lease: Duration,
    clock: &Clock,
) -> Result<Vec<i64>, DbError> {
    let ids: Vec<i64> = claims.iter().map(|(id, _)| *id).collect();
    let attempts: Vec<i32> = claims.iter().map(|(_, attempt)| *attempt).collect();
    let rows = query(
        client,
        bind!(
            TASK_HEARTBEAT,
            ids = &ids,
            attempts = &attempts,
            now = &clock.now(),
            lease_ms = &millis(lease),
        ),
    )
    .await?;
    Ok(rows.iter().map(|row| row.get("id")).collect())
}

/// Tasks a rescue put back in the queue or declared dead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rescued {
    /// Back in the queue.
    pub requeued: Vec<i64>,
    /// Out of attempts.
    pub dead: Vec<i64>,
}

/// Rescues a site's running tasks whose lease lapsed, and cancels what waited on those that
/// died. One transaction.
pub async fn rescue_expired(
    client: &mut deadpool_postgres::Client,
    site: &str,
    clock: &Clock,
) -> Result<Rescued, DbError> {
    let transaction = begin(client).await?;
    let rows = query(
        &transaction,
        bind!(TASK_RESCUE_EXPIRED, site = &site, now = &clock.now()),
    )
    .await?;
    let mut rescued = Rescued::default();
    for row in &rows {
        let id: i64 = row.get("id");
        if row.get::<_, String>("state") == "dead" {
            rescued.dead.push(id);
        } else {
            rescued.requeued.push(id);
        }
    }
    if !rescued.dead.is_empty() {
        let reason = "a dependency is dead (out of attempts after its lease lapsed)".to_string();
        query_one(
            &transaction,
            bind!(
                TASK_CANCEL_DEPENDENTS,
                ids = &rescued.dead,
                reason = &reason,
            ),
        )
        .await?;
    }
    commit(transaction).await?;
    Ok(rescued)
}

/// Hands back unfinished claims of a stopping worker; returns the ids released.
pub async fn release(
    client: &impl GenericClient,
    claims: &[(i64, i32)],
    clock: &Clock,
) -> Result<Vec<i64>, DbError> {
    let ids: Vec<i64> = claims.iter().map(|(id, _)| *id).collect();
    let attempts: Vec<i32> = claims.iter().map(|(_, attempt)| *attempt).collect();
    let rows = query(
        client,
        bind!(
            TASK_RELEASE,
            ids = &ids,
            attempts = &attempts,
            now = &clock.now(),
        ),
    )
    .await?;
    Ok(rows.iter().map(|row| row.get("id")).collect())
}

/// Deletes up to `batch` of a site's tasks that finished before `cutoff`; returns how many.
pub async fn prune(
    client: &impl GenericClient,
    site: &str,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<i64, DbError> {
    Ok(query_one(
        client,
        bind!(TASK_PRUNE, site = &site, before = &cutoff, limit = &batch),
    )
    .await?
    .get("deleted"))
}

/// Cancels a task and what waits on it; a clear error when it is missing or finished.
pub async fn cancel(client: &impl GenericClient, id: i64) -> Result<String, DbError> {
    Ok(query_one(client, bind!(TASK_CANCEL, id = &id))
        .await?
        .get("state"))
}

/// Runs a dead, cancelled or delayed task again now; returns its new state.
pub async fn retry(client: &impl GenericClient, id: i64) -> Result<String, DbError> {
    Ok(query_one(client, bind!(TASK_RETRY, id = &id))
        .await?
        .get("state"))
}

/// A task row, whole, for `task show` and `task list`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskRecord {
    /// Task id.
    pub id: i64,
    /// Site.
    pub site: String,
    /// Kind.
    pub kind: String,
    /// Payload.
    pub payload: Value,
    /// State.
    pub state: String,
    /// Priority.
    pub priority: i32,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// Claims so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Dedupe key.
    pub dedupe_key: Option<String>,
    /// Lane.
    pub lane: Option<String>,
    /// Dependencies.
    pub depends_on: Option<Vec<i64>>,
    /// Dependencies not yet succeeded.
    pub pending_dependencies: i32,
    /// Last claiming worker.
    pub worker_id: Option<Uuid>,
    /// Lease end while running.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Latest claim.
    pub started_at: Option<DateTime<Utc>>,
    /// Enqueued.
    pub created_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Result on success.
    pub result: Option<Value>,
    /// Latest error.
    pub last_error: Option<String>,
}

impl TaskRecord {
    fn from_row(row: &tokio_postgres::Row) -> Self {
        Self {
            id: row.get("id"),
            site: row.get("site"),
            kind: row.get("kind"),
            payload: row.get("payload"),
            state: row.get("state"),
            priority: row.get("priority"),
            run_at: row.get("run_at"),
            attempts: row.get("attempts"),
            max_attempts: row.get("max_attempts"),
            dedupe_key: row.get("dedupe_key"),
            lane: row.get("lane"),
            depends_on: row.get("depends_on"),
            pending_dependencies: row.get("pending_dependencies"),
            worker_id: row.get("worker_id"),
            lease_expires_at: row.get("lease_expires_at"),
            started_at: row.get("started_at"),
            created_at: row.get("created_at"),
            finished_at: row.get("finished_at"),
            result: row.get("result"),
            last_error: row.get("last_error"),
        }
    }
}

/// One task, if it exists.
pub async fn get(client: &impl GenericClient, id: i64) -> Result<Option<TaskRecord>, DbError> {
    let rows = query(client, bind!(TASK_GET, id = &id)).await?;
    Ok(rows.first().map(TaskRecord::from_row))
}

/// Which tasks `list` returns.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only this site.
    pub site: Option<String>,
    /// Only this state.
    pub state: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only ids below this (the last id of the previous page).
    pub before_id: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// Tasks newest first.
pub async fn list(
    client: &impl GenericClient,
    filter: &TaskFilter,
) -> Result<Vec<TaskRecord>, DbError> {
    let rows = query(
        client,
        bind!(
            TASK_LIST,
            site = &filter.site,
            state = &filter.state,
            kind = &filter.kind,
            before_id = &filter.before_id,
            limit = &filter.limit,
        ),
    )
    .await?;
    Ok(rows.iter().map(TaskRecord::from_row).collect())
}

/// One attempt of a task.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AttemptRecord {
    /// Attempt number.
    pub attempt: i32,
    /// Worker that ran it.
    pub worker_id: Option<Uuid>,
    /// Claimed.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// running, succeeded, failed, lease_expired or released.
    pub outcome: String,
    /// What went wrong.
    pub error: Option<String>,
}

/// A task's attempts, oldest first.
pub async fn attempts(client: &impl GenericClient, id: i64) -> Result<Vec<AttemptRecord>, DbError> {
    let rows = query(client, bind!(TASK_ATTEMPTS, id = &id)).await?;
    Ok(rows
        .iter()
        .map(|row| AttemptRecord {
            attempt: row.get("attempt"),
            worker_id: row.get("worker_id"),
            started_at: row.get("started_at"),
            finished_at: row.get("finished_at"),
            outcome: row.get("outcome"),
            error: row.get("error"),
        })
        .collect())
}

/// Task counts for one site, kind and state.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskCount {
    /// Site.
    pub site: String,
    /// Kind.
    pub kind: String,
    /// State.
    pub state: String,
    /// How many.
    pub tasks: i64,
    /// Age of the oldest ready one, for queued.
    pub oldest_ready_seconds: Option<f64>,
}

/// Task counts by site, kind and state.
pub async fn stats(client: &impl GenericClient, clock: &Clock) -> Result<Vec<TaskCount>, DbError> {
    let rows = query(client, bind!(TASK_STATS, now = &clock.now())).await?;
    Ok(rows
        .iter()
        .map(|row| TaskCount {
            site: row.get("site"),
            kind: row.get("kind"),
            state: row.get("state"),
            tasks: row.get("tasks"),
            oldest_ready_seconds: row.get("oldest_ready_seconds"),
        })
        .collect())
}

/// A daemon process, as recorded at boot.
#[derive(Debug, Clone)]
pub struct WorkerIdentity {
    /// Fresh per boot.
    pub id: Uuid,
    /// The site it serves.
    pub site: String,
    /// Its host.
    pub hostname: String,
    /// Its pid.
    pub pid: i32,
    /// Its purser version.
    pub version: String,
}

/// Records a daemon process at boot.
pub async fn register_worker(
    client: &impl GenericClient,
    worker: &WorkerIdentity,
) -> Result<(), DbError> {
    execute(
        client,
        bind!(
            WORKER_REGISTER,
            id = &worker.id,
            site = &worker.site,
            hostname = &worker.hostname,
            pid = &worker.pid,
            version = &worker.version,
        ),
    )
    .await
    .map(drop)
}

/// Whether a daemon process with this pid is registered and has not stopped cleanly (on this
/// host, as far as the caller knows: pids are per host).
pub async fn worker_running(client: &impl GenericClient, pid: i32) -> Result<bool, DbError> {
    Ok(query_one(client, bind!(WORKER_RUNNING, pid = &pid))
        .await?
        .get("running"))
}

/// Marks a worker alive.
pub async fn worker_seen(client: &impl GenericClient, id: Uuid) -> Result<(), DbError> {
    execute(client, bind!(WORKER_SEEN, id = &id))
        .await
        .map(drop)
}

/// Marks a worker cleanly stopped.
pub async fn worker_stopped(client: &impl GenericClient, id: Uuid) -> Result<(), DbError> {
    execute(client, bind!(WORKER_STOPPED, id = &id))
        .await
        .map(drop)
}

/// The sites the registry's clusters name, sorted: a cluster's tasks go to the site of its name.
pub async fn cluster_sites(client: &impl GenericClient) -> Result<Vec<String>, DbError> {
    Ok(query(client, bind!(SITE_CLUSTERS))
        .await?
        .iter()
        .map(|row| row.get("name"))
        .collect())
}
