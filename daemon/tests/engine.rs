//! The queue engine in-process against a real PostgreSQL: exclusive execution across
//! daemons, wake-ups, per-kind limits, failures, lost leases, shutdown and reconnection.
//! Waits are on conditions with deadlines, never bare sleeps.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use purser::engine::metrics::Metrics;
use purser::engine::{self, EngineConfig};
use purser_executors::{ExecutionError, Executor, Noop, Registry, Success, Task};
use purser_sql::DbPool;
use purser_sql::local_cluster::{ClusterSettings, LocalCluster};
use purser_sql::queue::{self, Clock, NewTask};
use purser_sql::test_harness::TestDatabase;
use serde_json::json;
use support::{DEADLINE, wait_until};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const SITE: &str = "expanse";

/// An executor that watches how it is used: it fails the test's invariants if one task runs
/// twice at once, counts runs, and can be told to block, fail or sleep through the payload.
#[derive(Default)]
struct Probe {
    running: Mutex<HashSet<i64>>,
    overlaps: AtomicUsize,
    runs: Mutex<Vec<i64>>,
    concurrent: AtomicUsize,
    most_concurrent: AtomicUsize,
    release: Notify,
    stopped: AtomicUsize,
}

/// Counts a run that was dropped before it finished (a lost lease or a shutdown).
struct DropWatch<'a>(&'a Probe, bool);

impl Drop for DropWatch<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.stopped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait::async_trait]
impl Executor for Probe {
    async fn execute(&self, task: &Task) -> Result<Success, ExecutionError> {
        if !self.running.lock().unwrap().insert(task.id) {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        let now = self.concurrent.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_concurrent.fetch_max(now, Ordering::SeqCst);
        let mut watch = DropWatch(self, false);
        if task.payload.get("block").is_some() {
            self.release.notified().await;
        }
        if let Some(delay) = task
            .payload
            .get("delay_ms")
            .and_then(|delay| delay.as_u64())
        {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        watch.1 = true;
        self.concurrent.fetch_sub(1, Ordering::SeqCst);
        self.running.lock().unwrap().remove(&task.id);
        self.runs.lock().unwrap().push(task.id);
        match task.payload.get("fail").and_then(|fail| fail.as_str()) {
            Some("permanent") => Err(ExecutionError::Permanent("refused by the site".into())),
            Some("retryable") => Err(ExecutionError::Retryable("site busy".into())),
            _ => Ok(Success::default()),
        }
    }
}

struct RunningEngine {
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
    metrics: Arc<Metrics>,
}

impl RunningEngine {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(DEADLINE, self.handle)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

fn config(url: &str) -> EngineConfig {
    let mut config = EngineConfig::new(SITE, url);
    config.concurrency = 16;
    config.poll_interval = Duration::from_millis(200);
    config.maintenance_interval = Duration::from_millis(200);
    config.shutdown_grace = Duration::from_secs(10);
    config
}

fn start(config: EngineConfig, pool: DbPool, probe: &Arc<Probe>) -> RunningEngine {
    let mut registry = Registry::new();
    Noop::register(&mut registry).unwrap();
    registry.register("probe", probe.clone()).unwrap();
    registry.register("probe.limited", probe.clone()).unwrap();
    let shutdown = CancellationToken::new();
    let metrics = Arc::new(Metrics::new(&config.site));
    let handle = tokio::spawn(engine::run(
        config,
        pool,
        registry,
        metrics.clone(),
        shutdown.clone(),
    ));
    RunningEngine {
        shutdown,
        handle,
        metrics,
    }
}

async fn count_in_state(pool: &DbPool, state: &str) -> i64 {
    let client = pool.connection().await.unwrap();
    client
        .query_one(
            "SELECT count(*) FROM queue.task WHERE state = $1::text::queue.task_state",
            &[&state],
        )
        .await
        .unwrap()
        .get(0)
}

async fn enqueue(pool: &DbPool, task: NewTask) -> i64 {
    let client = pool.connection().await.unwrap();
    queue::enqueue(&client, &task).await.unwrap()
}

fn probe_task(payload: serde_json::Value) -> NewTask {
    NewTask {
        payload,
        ..NewTask::new(SITE, "probe")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_never_run_one_task_at_once_and_run_every_task_once() {
    let database = TestDatabase::new().await;
    let probe = Arc::new(Probe::default());
    let first = start(config(database.url()), database.pool().clone(), &probe);
    let second = start(config(database.url()), database.pool().clone(), &probe);
    let client = database.pool().connection().await.unwrap();
    let payloads = vec![json!({"delay_ms": 1}); 2000];
    queue::enqueue_many(&client, SITE, "probe", &payloads)
        .await
        .unwrap();

    wait_until("all tasks succeeded", || async {
        count_in_state(database.pool(), "succeeded").await == 2000
    })
    .await;
    assert_eq!(probe.overlaps.load(Ordering::SeqCst), 0);
    let runs = probe.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 2000, "every task ran exactly once");
    assert_eq!(runs.iter().collect::<HashSet<_>>().len(), 2000);
    let first_claims = first.metrics.claimed.get();
    let second_claims = second.metrics.claimed.get();
    assert_eq!(first_claims + second_claims, 2000);
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_new_task_wakes_the_daemon_at_once_without_waiting_for_a_poll() {
    let database = TestDatabase::new().await;
    let probe = Arc::new(Probe::default());
    let mut config = config(database.url());
    config.poll_interval = Duration::from_secs(3600);
    let engine = start(config, database.pool().clone(), &probe);
    // Let the engine finish its first (empty) claim and start listening.
    wait_until("the daemon is listening", || async {
        let client = database.pool().connection().await.unwrap();
        let listeners: i64 = client
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%LISTEN purser_queue%'", &[])
            .await
            .unwrap()
            .get(0);
        listeners == 1
    })
    .await;
    for _ in 0..3 {
        let id = enqueue(database.pool(), probe_task(json!({}))).await;
        wait_until("the task ran", || async {
            probe.runs.lock().unwrap().contains(&id)
        })
        .await;
    }
    engine.stop().await;
}

#[tokio::test]
async fn a_kind_limit_caps_how_many_of_that_kind_run_at_once() {
    let database = TestDatabase::new().await;
    let probe = Arc::new(Probe::default());
    let mut config = config(database.url());
    config.kind_concurrency = BTreeMap::from([("probe.limited".to_string(), 2)]);
    let engine = start(config, database.pool().clone(), &probe);
    let client = database.pool().connection().await.unwrap();
    queue::enqueue_many(
        &client,
        SITE,
        "probe.limited",
        &vec![json!({"delay_ms": 20}); 20],
    )
    .await
    .unwrap();
    wait_until("all ran", || async {
        count_in_state(database.pool(), "succeeded").await == 20
    })
    .await;
    assert!(probe.most_concurrent.load(Ordering::SeqCst) <= 2);
    engine.stop().await;
}

async fn running_of_kind(pool: &DbPool, kind: &str) -> i64 {
    let client = pool.connection().await.unwrap();
    client
        .query_one(
            "SELECT count(*) FROM queue.task WHERE state = 'running' AND kind = $1",
            &[&kind],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_kind_limited_to_one_is_claimed_one_at_a_time_and_other_kinds_run_meanwhile() {
    let database = TestDatabase::new().await;
    let probe = Arc::new(Probe::default());
    let mut config = config(database.url());
    config.kind_concurrency = BTreeMap::from([("probe.limited".to_string(), 1)]);
    let engine = start(config, database.pool().clone(), &probe);
    let client = database.pool().connection().await.unwrap();
    // Twenty limited tasks that run until released, ahead of five others in the queue.
    queue::enqueue_many(
        &client,
        SITE,
        "probe.limited",
        &vec![json!({"block": true}); 20],
    )
    .await
    .unwrap();
    queue::enqueue_many(&client, SITE, "probe", &vec![json!({}); 5])
        .await
        .unwrap();

    wait_until("a limited task runs", || async {
        !probe.running.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        running_of_kind(database.pool(), "probe.limited").await,
        1,
        "only what can start is claimed"
    );
    wait_until("the other kind's tasks succeeded", || async {
        count_in_state(database.pool(), "succeeded").await == 5
    })
    .await;
    assert_eq!(running_of_kind(database.pool(), "probe.limited").await, 1);

    let most_running = AtomicI64::new(0);
    wait_until("every limited task ran, one at a time", || async {
        most_running.fetch_max(
            running_of_kind(database.pool(), "probe.limited").await,
            Ordering::SeqCst,
        );
        probe.release.notify_waiters();
        count_in_state(database.pool(), "succeeded").await == 25
    })
    .await;
    assert_eq!(most_running.load(Ordering::SeqCst), 1);
    engine.stop().await;
}

#[tokio::test]
async fn executor_failures_are_recorded_as_retries_or_deaths() {
    let database = TestDatabase::new().await;
    let probe = Arc::new(Probe::default());
    let mut config = config(database.url());
    // Long enough that the retry is still waiting when the test looks.
    config.default_retry = purser::engine::retry::RetryPolicy {
        base: Duration::from_secs(3600),
        max: Duration::from_secs(7200),
    };
    let engine = start(config, database.pool().clone(), &probe);
    let permanent = enqueue(database.pool(), probe_task(json!({"fail": "permanent"}))).await;
    let retryable = enqueue(database.pool(), probe_task(json!({"fail": "retryable"}))).await;
    wait_until("both failed", || async {
        let client = database.pool().connection().await.unwrap();
        let dead = queue::get(&client, permanent).await.unwrap().unwrap().state == "dead";
        let retrying = queue::get(&client, retryable).await.unwrap().unwrap();
        let retrying = retrying.state == "queued" && retrying.attempts == 1;
        dead && retrying
    })
    .await;
    let client = database.pool().connection().await.unwrap();
    let task = queue::get(&client, retryable).await.unwrap().unwrap();
    assert_eq!(task.state, "queued");
    assert!(
        task.run_at > task.started_at.unwrap(),
        "a retry waits for its backoff"
    );
    assert_eq!(task.last_error.as_deref(), Some("site busy"));
    let dead = queue::get(&client, permanent).await.unwrap().unwrap();
    assert_eq!(dead.last_error.as_deref(), Some("refused by the site"));
    engine.stop().await;
}

#[tokio::test]
async fn a_lost_lease_stops_the_executor_and_its_late_outcome_is_not_recorded() {
    let database = TestDatabase::new().await;
    let probe = Arc::new(Probe::default());
    let clock = Clock::manual(chrono::Utc::now() + chrono::Duration::seconds(5));
    let mut config = config(database.url());
    config.clock = clock.clone();
    config.lease = Duration::from_millis(600);
    // This daemon neither rescues nor polls: the test plays the other daemon, and the task it
    // rescues must not go back to this one.
    config.maintenance_interval = Duration::from_secs(3600);
    config.poll_interval = Duration::from_secs(3600);
    let engine = start(config, database.pool().clone(), &probe);
    let id = enqueue(database.pool(), probe_task(json!({"block": true}))).await;
    wait_until("the task runs", || async {
        probe.running.lock().unwrap().contains(&id)
    })
    .await;

    // Another daemon, whose clock is past the lease (and past anything this daemon's heartbeat
    // can extend it to), rescues the task and claims it.
    clock.advance(Duration::from_secs(3600));
    let other_daemon_clock = Clock::manual(clock.now().unwrap() + chrono::Duration::hours(2));
    // (A heartbeat holding the row's lock makes the rescue pass over it; then try again.)
    wait_until("the other daemon rescued the task", || async {
        let mut client = database.pool().connection().await.unwrap();
        let rescued = queue::rescue_expired(&mut client, SITE, &other_daemon_clock)
            .await
            .unwrap();
        rescued.requeued == vec![id]
    })
    .await;
    let client = database.pool().connection().await.unwrap();
    let kinds = vec!["probe".to_string()];
    let request = queue::ClaimRequest {
        site: SITE,
        worker_id: uuid::Uuid::now_v7(),
        kinds: &kinds,
        limited_kinds: &BTreeMap::new(),
        limit: 1,
        lease: Duration::from_secs(3600),
    };
    let stolen = queue::claim(&client, &request, &other_daemon_clock)
        .await
        .unwrap();
    assert_eq!(stolen.len(), 1);

    // The first daemon's next heartbeat finds the lease gone and stops its executor.
    wait_until("the executor was stopped", || async {
        probe.stopped.load(Ordering::SeqCst) == 1
    })
    .await;
    wait_until("the loss was counted", || async {
        engine.metrics.lease_losses.get() == 1
    })
    .await;
    let task = queue::get(&client, id).await.unwrap().unwrap();
    assert_eq!((task.state.as_str(), task.attempts), ("running", 2));
    assert_eq!(task.worker_id, Some(request.worker_id));
    engine.stop().await;
}

#[tokio::test]
async fn shutdown_lets_running_tasks_finish_within_the_grace_period() {
    let database = TestDatabase::new().await;
    let probe = Arc::new(Probe::default());
    let engine = start(config(database.url()), database.pool().clone(), &probe);
    let id = enqueue(database.pool(), probe_task(json!({"block": true}))).await;
    wait_until("the task runs", || async {
        probe.running.lock().unwrap().contains(&id)
    })
    .await;
    engine.shutdown.cancel();
    probe.release.notify_waiters();
    tokio::time::timeout(DEADLINE, engine.handle)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let client = database.pool().connection().await.unwrap();
    assert_eq!(
        queue::get(&client, id).await.unwrap().unwrap().state,
        "succeeded"
    );
    let stopped: Option<chrono::DateTime<chrono::Utc>> = client
        .query_one("SELECT stopped_at FROM queue.worker", &[])
        .await
        .unwrap()
        .get(0);
    assert!(stopped.is_some(), "a clean stop is recorded");
}

#[tokio::test]
async fn shutdown_past_the_grace_period_hands_unfinished_tasks_back() {
    let database = TestDatabase::new().await;
    let probe = Arc::new(Probe::default());
    let mut config = config(database.url());
    config.shutdown_grace = Duration::from_millis(300);
    let engine = start(config, database.pool().clone(), &probe);
    let id = enqueue(
        database.pool(),
        NewTask {
            max_attempts: Some(1),
            ..probe_task(json!({"block": true}))
        },
    )
    .await;
    wait_until("the task runs", || async {
        probe.running.lock().unwrap().contains(&id)
    })
    .await;
    engine.stop().await;
    assert_eq!(
        probe.stopped.load(Ordering::SeqCst),
        1,
        "the executor was stopped"
    );
    let client = database.pool().connection().await.unwrap();
    let task = queue::get(&client, id).await.unwrap().unwrap();
    assert_eq!(task.state, "queued", "handed back, not lost and not dead");
    assert_eq!(
        task.max_attempts, 2,
        "the interrupted attempt does not count"
    );
    let history = queue::attempts(&client, id).await.unwrap();
    assert_eq!(history[0].outcome, "released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_survives_a_postgresql_restart_and_reconnects_by_itself() {
    // A cluster of this test's own: restarting the shared one would disturb other tests.
    let root = std::env::temp_dir().join(format!("purser-restart-{}", std::process::id()));
    let cluster = LocalCluster::new(&root).unwrap();
    let running = cluster.start(ClusterSettings::TESTING, false).unwrap();
    let url = running.url("postgres");
    let pool = purser_sql::connect_pool(&url, 8).unwrap();
    purser_sql::migrations::apply(&pool).await.unwrap();

    let probe = Arc::new(Probe::default());
    let engine = start(config(&url), pool.clone(), &probe);
    let before = enqueue(&pool, probe_task(json!({}))).await;
    wait_until("the first task ran", || async {
        probe.runs.lock().unwrap().contains(&before)
    })
    .await;

    let restarting = cluster.clone();
    tokio::task::spawn_blocking(move || {
        restarting.stop().unwrap();
        restarting.start(ClusterSettings::TESTING, false).unwrap();
    })
    .await
    .unwrap();
    // Another client enqueues once the server is back.
    let other_client = purser_sql::connect_pool(&url, 1).unwrap();
    let after = enqueue(&other_client, probe_task(json!({}))).await;
    wait_until("a task enqueued after the restart ran", || async {
        probe.runs.lock().unwrap().contains(&after)
            && count_in_state(&other_client, "succeeded").await == 2
    })
    .await;
    engine.stop().await;
    pool.close();
    tokio::task::spawn_blocking(move || cluster.stop().unwrap())
        .await
        .unwrap();
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_of_a_site_enqueue_and_run_each_period_of_a_schedule_once() {
    let database = TestDatabase::new().await;
    let probe = Arc::new(Probe::default());
    let start_time = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 0);
    let clock = Clock::manual(start_time);
    let client = database.pool().connection().await.unwrap();
    purser_sql::schedule::schedule_every(
        &client,
        &purser_sql::schedule::NewSchedule {
            name: "probe-every-second".to_string(),
            site: SITE.to_string(),
            kind: "probe".to_string(),
            payload: json!({}),
            every: Duration::from_secs(1),
            first_run_at: Some(start_time),
        },
    )
    .await
    .unwrap();
    let engines: Vec<RunningEngine> = (0..3)
        .map(|_| {
            let mut config = config(database.url());
            config.schedule_interval = Duration::from_millis(20);
            config.clock = clock.clone();
            start(config, database.pool().clone(), &probe)
        })
        .collect();
    // Each period is fired by one of the three, its task run, and only then does the clock
    // move on: a second firing of any period would leave one task too many.
    const PERIODS: i64 = 20;
    for period in 1..=PERIODS {
        wait_until("the period's task ran", || async {
            count_in_state(database.pool(), "succeeded").await == period
        })
        .await;
        if period < PERIODS {
            clock.advance(Duration::from_secs(1));
        }
    }
    for engine in engines {
        engine.stop().await;
    }
    let keys: Vec<String> = client
        .query("SELECT dedupe_key FROM queue.task ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let expected: Vec<String> = (0..PERIODS)
        .map(|second| {
            let period = start_time + chrono::Duration::seconds(second);
            format!(
                "schedule:probe-every-second:{}",
                period.format("%Y-%m-%dT%H:%M:%S%.6fZ")
            )
        })
        .collect();
    assert_eq!(keys, expected);
    assert_eq!(probe.runs.lock().unwrap().len(), PERIODS as usize);
}
