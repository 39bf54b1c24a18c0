//! The queue engine: what `purser daemon --site NAME` runs.
//!
//! ```text
//!             wake-ups (LISTEN)      poll timer
//!                     └──────┬───────┘
//!                      claim loop ──claim batch──▶ PostgreSQL
//!                            │ one tokio task per claimed task (bounded by permits)
//!                            ▼
//!                       executors ──outcomes──▶ completer ──batched complete / fail──▶ PostgreSQL
//!   heartbeat: extends the leases of everything in flight; a lease it cannot extend was lost,
//!              and that task's executor is stopped
//!   maintenance: rescues the site's tasks whose lease lapsed, prunes finished tasks
//!   scheduler: fires the site's due schedules, one task per period however many daemons
//! ```
//!
//! An executor's outcome is made storable (`purser_executors::output`) in its task's own tokio
//! task, before the completer sees it, so no output can make a batch's write fail.
//!
//! A task is in flight from its claim until its outcome is recorded; the heartbeat keeps its
//! lease alive all that time. Every write after the claim is a compare-and-set on the claim's
//! (id, attempt), so a worker that lost a task can never overwrite what its new owner does.

mod completer;
mod heartbeat;
mod maintenance;
pub mod metrics;
pub(crate) mod outage;
pub mod retry;
mod scheduler;
pub(crate) mod wakeup;

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::FutureExt;
use purser_executors::{ExecutionError, Registry, Success, Task};
use purser_sql::DbPool;
use purser_sql::queue::{self, ClaimRequest, ClaimedTask, Clock, WorkerIdentity};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use self::metrics::Metrics;
use self::outage::Outage;
use self::retry::RetryPolicy;

/// How a daemon runs its site's queue.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The site whose tasks it claims.
    pub site: String,
    /// The database URL, for the LISTEN connection (the pool serves everything else).
    pub database_url: String,
    /// Tasks run at once, in all.
    pub concurrency: usize,
    /// Tasks run at once, per kind, where limited.
    pub kind_concurrency: BTreeMap<String, usize>,
    /// Backoff per kind, where not the default.
    pub retry: BTreeMap<String, RetryPolicy>,
    /// Backoff for the other kinds.
    pub default_retry: RetryPolicy,
    /// How long a claim holds without a heartbeat; heartbeats come every third of it.
    pub lease: Duration,
    /// How often to look for ready tasks when no wake-up comes (tasks that became due).
    pub poll_interval: Duration,
    /// Most tasks taken in one claim.
    pub claim_batch: usize,
    /// How long running tasks may finish after a shutdown signal before they are handed back.
    pub shutdown_grace: Duration,
    /// How often to rescue tasks whose lease lapsed and prune finished ones.
    pub maintenance_interval: Duration,
    /// How long finished tasks are kept.
    pub retention: Duration,
    /// How often to fire the site's due schedules: the finest period a schedule keeps.
    pub schedule_interval: Duration,
    /// Where "now" comes from.
    pub clock: Clock,
}

impl EngineConfig {
    /// The defaults for a site.
    pub fn new(site: impl Into<String>, database_url: impl Into<String>) -> Self {
        Self {
            site: site.into(),
            database_url: database_url.into(),
            concurrency: 32,
            kind_concurrency: BTreeMap::new(),
            retry: BTreeMap::new(),
            default_retry: RetryPolicy::default(),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            claim_batch: 500,
            shutdown_grace: Duration::from_secs(30),
            maintenance_interval: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 24 * 3600),
            schedule_interval: Duration::from_secs(1),
            clock: Clock::Database,
        }
    }

    fn retry_policy(&self, kind: &str) -> RetryPolicy {
        self.retry.get(kind).copied().unwrap_or(self.default_retry)
    }
}

/// A claimed task until its outcome is recorded.
#[derive(Debug)]
struct InFlight {
    attempt: i32,
    /// Cancelled when the heartbeat finds the lease lost: the executor stops.
    lost: CancellationToken,
    /// Set when the completer takes its outcome: a heartbeat miss then is not a loss.
    completing: bool,
}

/// What an execution ended with.
#[derive(Debug)]
enum Outcome {
    Succeeded(Success),
    Failed(ExecutionError),
    /// The lease was lost; someone else may own the task now. Nothing to record.
    LeaseLost,
    /// Shutdown's grace period ran out; hand the task back.
    Aborted,
}

/// An execution's end, for the completer.
#[derive(Debug)]
struct Finished {
    id: i64,
    attempt: i32,
    kind: String,
    outcome: Outcome,
    /// How long the executor ran, for the logs.
    duration_ms: f64,
    /// The slot of its kind, for a limited kind: held until the outcome is recorded, so no
    /// more of the kind are `running` in the database than its limit.
    kind_slot: Option<OwnedSemaphorePermit>,
}

/// State the engine's parts share.
struct Shared {
    config: EngineConfig,
    pool: DbPool,
    registry: Registry,
    metrics: Arc<Metrics>,
    worker_id: Uuid,
    in_flight: Mutex<HashMap<i64, InFlight>>,
    /// Nudges the claim loop: a wake-up arrived or tasks were rescued.
    wake: Notify,
    /// Cancelled when shutdown's grace period is over: running executors stop.
    abort: CancellationToken,
    /// Cancelled when outcomes still cannot be written a grace period after that: the
    /// completer stops retrying and the daemon exits.
    give_up: CancellationToken,
}

impl Shared {
    fn in_flight(&self) -> MutexGuard<'_, HashMap<i64, InFlight>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs the engine until `shutdown` is cancelled, then stops claiming, lets running tasks
/// finish within the grace period, hands back the rest, and returns.
pub async fn run(
    config: EngineConfig,
    pool: DbPool,
    registry: Registry,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    anyhow::ensure!(config.concurrency > 0, "concurrency must be at least 1");
    anyhow::ensure!(config.claim_batch > 0, "the claim batch must be at least 1");
    anyhow::ensure!(
        !config.lease.is_zero(),
        "the lease must be longer than zero"
    );
    anyhow::ensure!(
        !config.schedule_interval.is_zero(),
        "schedule_interval must be longer than zero"
    );
    let identity = WorkerIdentity {
        id: Uuid::now_v7(),
        site: config.site.clone(),
        hostname: nix::unistd::gethostname()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".to_string()),
        pid: i32::try_from(std::process::id()).unwrap_or(0),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let client = pool.connection().await.context("cannot start the daemon")?;
    queue::register_worker(&client, &identity).await?;
    drop(client);
    tracing::info!(
        site = %config.site,
        worker.id = %identity.id,
        kinds = %registry.kinds().join(", "),
        concurrency = config.concurrency,
        "daemon started"
    );

    let shared = Arc::new(Shared {
        config,
        pool,
        registry,
        metrics,
        worker_id: identity.id,
        in_flight: Mutex::new(HashMap::new()),
        wake: Notify::new(),
        abort: CancellationToken::new(),
        give_up: CancellationToken::new(),
    });
    let background_stop = CancellationToken::new();
    let wakeup = tokio::spawn(wakeup::run(shared.clone(), background_stop.clone()));
    let heartbeat = tokio::spawn(heartbeat::run(shared.clone(), background_stop.clone()));
    let maintenance = tokio::spawn(maintenance::run(shared.clone(), background_stop.clone()));
    let scheduler = tokio::spawn(scheduler::run(shared.clone(), background_stop.clone()));
    let (outcomes, outcomes_received) =
        mpsc::channel(shared.config.concurrency + shared.config.claim_batch);
    let completer = tokio::spawn(completer::run(shared.clone(), outcomes_received));

    let permits = Arc::new(Semaphore::new(shared.config.concurrency));
    claim_loop(&shared, &permits, &outcomes, &shutdown).await;

    tracing::info!(
        running = shared.metrics.running.get(),
        "shutting down: no more claims"
    );
    let all = u32::try_from(shared.config.concurrency).unwrap_or(u32::MAX);
    if tokio::time::timeout(shared.config.shutdown_grace, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = shared.config.shutdown_grace.as_millis(),
            "tasks still running after the grace period: stopping them and handing them back"
        );
        shared.abort.cancel();
        let _ = permits.acquire_many(all).await;
    }
    drop(outcomes);
    let mut completer = completer;
    let completed = match tokio::time::timeout(shared.config.shutdown_grace, &mut completer).await {
        Ok(completed) => completed,
        Err(_) => {
            shared.give_up.cancel();
            completer.await
        }
    };
    if let Err(error) = completed {
        tracing::error!(%error, "the completer stopped abnormally");
    }
    background_stop.cancel();
    let _ = tokio::join!(wakeup, heartbeat, maintenance, scheduler);
    match shared.pool.connection().await {
        Ok(client) => queue::worker_stopped(&client, shared.worker_id).await?,
        Err(error) => tracing::warn!(%error, "could not mark the worker stopped"),
    }
    tracing::info!(worker.id = %shared.worker_id, "daemon stopped");
    Ok(())
}

/// Claims while there is room, until shutdown.
///
/// Room is counted before each claim: the free slots of the daemon's concurrency, and of each
/// kind with a limit of its own. The claim takes only what those slots allow (`task_claim.sql`),
/// so every task claimed starts at once: none sits `running` waiting for its kind's turn.
async fn claim_loop(
    shared: &Arc<Shared>,
    permits: &Arc<Semaphore>,
    outcomes: &mpsc::Sender<Finished>,
    shutdown: &CancellationToken,
) {
    // Limits of kinds this daemon runs: it claims no other kind.
    let kind_permits: BTreeMap<String, Arc<Semaphore>> = shared
        .config
        .kind_concurrency
        .iter()
        .filter(|(kind, _)| shared.registry.get(kind).is_some())
        .map(|(kind, limit)| (kind.clone(), Arc::new(Semaphore::new(*limit))))
        .collect();
    let unlimited_kinds: Vec<String> = shared
        .registry
        .kinds()
        .into_iter()
        .filter(|kind| !kind_permits.contains_key(kind))
        .collect();
    let mut outage = Outage::new("claim tasks");
    loop {
        let first = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let mut held = vec![first];
        take_free_permits(permits, shared.config.claim_batch, &mut held);
        let limit = held.len();
        // Each limited kind's free slots, up to the claim's size: what the claim takes of that
        // kind starts with one of them. A kind at its limit sits this claim out.
        let mut kind_held: BTreeMap<&str, Vec<OwnedSemaphorePermit>> = BTreeMap::new();
        for (kind, kind_limit) in &kind_permits {
            let mut free = Vec::new();
            take_free_permits(kind_limit, limit, &mut free);
            if !free.is_empty() {
                kind_held.insert(kind.as_str(), free);
            }
        }
        if shutdown.is_cancelled() {
            return;
        }
        let claimed = if unlimited_kinds.is_empty() && kind_held.is_empty() {
            Ok(Vec::new())
        } else {
            let limited_kinds = kind_held
                .iter()
                .map(|(kind, free)| {
                    (
                        (*kind).to_string(),
                        i64::try_from(free.len()).unwrap_or(i64::MAX),
                    )
                })
                .collect();
            claim(shared, &unlimited_kinds, &limited_kinds, limit).await
        };
        let claimed = match claimed {
            Ok(claimed) => {
                outage.succeeded();
                claimed
            }
            Err(error) => {
                drop(held);
                drop(kind_held);
                let backoff = outage.failed(&error);
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.cancelled() => return,
                }
                continue;
            }
        };
        let full = claimed.len() == limit;
        for task in claimed {
            let Some(permit) = held.pop() else { break };
            let kind_permit = kind_held.get_mut(task.kind.as_str()).and_then(Vec::pop);
            start(shared, task, permit, kind_permit, outcomes.clone());
        }
        drop(held);
        drop(kind_held);
        if !full {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = shared.wake.notified() => {}
                () = tokio::time::sleep(shared.config.poll_interval) => {}
            }
        }
    }
}

/// An executor's result as the database can store it (`purser_executors::output`): an output
/// that cannot be stored fails its task alone, permanently (the executor would return it again),
/// saying what was wrong.
fn storable(result: Result<Success, ExecutionError>) -> Outcome {
    match result {
        Ok(success) => match success.into_storable() {
            Ok(success) => Outcome::Succeeded(success),
            Err(invalid) => Outcome::Failed(
                ExecutionError::Permanent(completer::unstorable(&invalid)).into_storable(),
            ),
        },
        Err(error) => Outcome::Failed(error.into_storable()),
    }
}

/// Adds to `held` the permits `semaphore` has free now, until `held` has `most`.
fn take_free_permits(
    semaphore: &Arc<Semaphore>,
    most: usize,
    held: &mut Vec<OwnedSemaphorePermit>,
) {
    while held.len() < most {
        match semaphore.clone().try_acquire_owned() {
            Ok(permit) => held.push(permit),
            Err(_) => break,
        }
    }
}

/// One claim: registers what it got as in flight before anything else can look.
async fn claim(
    shared: &Shared,
    kinds: &[String],
    limited_kinds: &BTreeMap<String, i64>,
    limit: usize,
) -> Result<Vec<ClaimedTask>, purser_sql::DbError> {
    let client = shared.pool.connection().await?;
    let request = ClaimRequest {
        site: &shared.config.site,
        worker_id: shared.worker_id,
        kinds,
        limited_kinds,
        limit: i64::try_from(limit).unwrap_or(i64::MAX),
        lease: shared.config.lease,
    };
    let started = Instant::now();
    let claimed = queue::claim(&client, &request, &shared.config.clock).await?;
    tracing::debug!(
        tasks = claimed.len(),
        limit,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "claimed"
    );
    shared.metrics.claimed.inc_by(claimed.len() as u64);
    Ok(claimed)
}

/// Runs one claimed task in a tokio task of its own and sends its outcome to the completer.
fn start(
    shared: &Arc<Shared>,
    claimed: ClaimedTask,
    permit: OwnedSemaphorePermit,
    kind_permit: Option<OwnedSemaphorePermit>,
    outcomes: mpsc::Sender<Finished>,
) {
    let lost = CancellationToken::new();
    shared.in_flight().insert(
        claimed.id,
        InFlight {
            attempt: claimed.attempt,
            lost: lost.clone(),
            completing: false,
        },
    );
    shared.metrics.running.inc();
    let shared = shared.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let task = Task {
            id: claimed.id,
            site: shared.config.site.clone(),
            kind: claimed.kind,
            payload: claimed.payload,
            attempt: claimed.attempt,
            max_attempts: claimed.max_attempts,
        };
        let started = Instant::now();
        let outcome = match shared.registry.get(&task.kind) {
            None => Outcome::Failed(ExecutionError::Permanent(format!(
                "no executor for kind {}",
                task.kind
            ))),
            Some(executor) => {
                let execution = AssertUnwindSafe(executor.execute(&task)).catch_unwind();
                tokio::select! {
                    biased;
                    () = lost.cancelled() => Outcome::LeaseLost,
                    () = shared.abort.cancelled() => Outcome::Aborted,
                    result = execution => match result {
                        Ok(result) => storable(result),
                        Err(_) => Outcome::Failed(ExecutionError::Permanent("the executor panicked".to_string())),
                    },
                }
            }
        };
        let duration = started.elapsed().as_secs_f64();
        shared
            .metrics
            .durations
            .get_or_create(&metrics::KindLabels {
                kind: task.kind.clone(),
            })
            .observe(duration);
        shared.metrics.running.dec();
        let finished = Finished {
            id: task.id,
            attempt: task.attempt,
            kind: task.kind,
            outcome,
            duration_ms: duration * 1000.0,
            kind_slot: kind_permit,
        };
        // The completer outlives every execution; if it is gone, the lease lapses and the
        // task runs again elsewhere.
        let _ = outcomes.send(finished).await;
    });
}
