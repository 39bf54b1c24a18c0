//! `purser bench queue|import|balance|reconcile`: how fast Purser runs on this machine.
//!
//! Against a fresh private cluster (durable: fsync on), or the `--database-url` given.
//! `purser bench queue` measures, in one run:
//! 1. the enqueue rate: `--tasks` tasks through `queue.enqueue`, a thousand per statement;
//! 2. the drain rate: the engine, in-process, running them all with `noop`;
//! 3. enqueue-to-start latency under light load: one task at a time, from just before the
//!    enqueue to the moment its executor starts;
//! 4. a real `purser daemon` process's resident memory, idle and at its peak while draining.
//!
//! `purser bench reconcile` measures the reconciler on a synthetic centre:
//! full plans, a full pass with nothing to do, and a membership change to its enqueued action.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use purser_executors::{ExecutionError, Executor, Noop, Registry, Success, Task};
use purser_sql::DbPool;
use purser_sql::local_cluster::{ClusterSettings, LocalCluster};
use purser_sql::queue;
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::metrics::Metrics;
use crate::engine::{self, EngineConfig};

/// Options of `purser bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Debug, clap::Subcommand)]
enum BenchWhat {
    /// Enqueue rate, drain rate with noop, enqueue-to-start latency and daemon memory.
    Queue(QueueBenchArgs),
    /// `purser usage import` of a synthetic sacct file: records per second and peak memory.
    Import(ImportBenchArgs),
    /// `report.allocation_balance` for one allocation with millions of charges present.
    Balance(BalanceBenchArgs),
    /// The reconciler on a synthetic centre: full plans, a pass with nothing to do, and a
    /// membership change to its enqueued action.
    Reconcile(ReconcileBenchArgs),
}

/// Options of `purser bench import`.
#[derive(Debug, Clone, clap::Args)]
struct ImportBenchArgs {
    /// sacct records in the file.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Options of `purser bench balance`.
#[derive(Debug, Clone, clap::Args)]
struct BalanceBenchArgs {
    /// Usage rows present.
    #[arg(long, default_value_t = 10_000_000)]
    usage_rows: i64,
    /// Balance queries timed.
    #[arg(long, default_value_t = 10_000)]
    queries: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Options of `purser bench queue`.
#[derive(Debug, Clone, clap::Args)]
struct QueueBenchArgs {
    /// Tasks to enqueue and drain.
    #[arg(long, default_value_t = 100_000)]
    tasks: usize,
    /// Tasks run at once by the draining engine.
    #[arg(long, default_value_t = 2000)]
    concurrency: usize,
    /// Most tasks per claim.
    #[arg(long, default_value_t = 1000)]
    claim_batch: usize,
    /// The site to enqueue to and drain (default: a new one, `bench-` and 8 hex digits). Give
    /// the site of a role bound by `purser site-role` to measure as that role.
    #[arg(long)]
    site: Option<String>,
    /// Latency samples, one task at a time.
    #[arg(long, default_value_t = 2000)]
    latency_samples: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// What one run measured.
#[derive(Debug, Serialize)]
struct QueueBenchReport {
    tasks: usize,
    concurrency: usize,
    claim_batch: usize,
    database: String,
    enqueue_per_second: f64,
    drain_per_second: f64,
    drain_seconds: f64,
    latency_samples: usize,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
    daemon_idle_rss_mb: f64,
    daemon_peak_rss_mb: f64,
}

/// Runs a benchmark.
pub async fn run(database_url: Option<String>, args: BenchArgs) -> anyhow::Result<()> {
    let (url, cluster) = match database_url {
        Some(url) => (url, None),
        None => {
            let root = std::env::temp_dir().join(format!("purser-bench-{}", std::process::id()));
            let cluster = LocalCluster::new(&root)?;
            let running = tokio::task::spawn_blocking({
                let cluster = cluster.clone();
                move || cluster.start(ClusterSettings::DEVELOPMENT, false)
            })
            .await??;
            (running.url("postgres"), Some(cluster))
        }
    };
    let outcome = match args.what {
        BenchWhat::Queue(args) => match bench_queue(&url, &args).await {
            Ok(report) => print_queue_report(&report, args.json),
            Err(error) => Err(error),
        },
        BenchWhat::Import(args) => bench_import(&url, &args).await,
        BenchWhat::Balance(args) => bench_balance(&url, &args).await,
        BenchWhat::Reconcile(args) => bench_reconcile(&url, &args).await,
    };
    if let Some(cluster) = cluster {
        let root = cluster.root().to_path_buf();
        tokio::task::spawn_blocking(move || cluster.stop()).await??;
        std::fs::remove_dir_all(&root)
            .with_context(|| format!("cannot remove {}", root.display()))?;
    }
    outcome
}

fn print_queue_report(report: &QueueBenchReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    println!(
        "purser bench queue: {} tasks against {}",
        report.tasks, report.database
    );
    println!("  enqueue:  {:>9.0} tasks/s", report.enqueue_per_second);
    println!(
        "  drain:    {:>9.0} tasks/s  (noop, concurrency {}, claim batch {}, {:.2} s)",
        report.drain_per_second, report.concurrency, report.claim_batch, report.drain_seconds
    );
    println!(
        "  latency:  p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms  (enqueue to start, {} tasks one at a time)",
        report.latency_p50_ms, report.latency_p99_ms, report.latency_max_ms, report.latency_samples
    );
    println!(
        "  daemon:   {:.1} MB resident idle, {:.1} MB at its peak while draining",
        report.daemon_idle_rss_mb, report.daemon_peak_rss_mb
    );
    Ok(())
}

/// Writes a synthetic sacct file and times `purser usage import` of it in a child process,
/// whose peak resident memory the kernel reports when it is reaped.
async fn bench_import(url: &str, args: &ImportBenchArgs) -> anyhow::Result<()> {
    const PEOPLE: i32 = 1000;
    const ALLOCATIONS: i32 = 200;
    let pool = purser_sql::connect_pool(url, 4)?;
    purser_sql::migrations::apply(&pool).await?;
    let cluster = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let client = pool.connection().await?;
    purser_sql::seed::synthetic_centre(&client, &cluster, PEOPLE, ALLOCATIONS).await?;
    let file = std::env::temp_dir().join(format!("purser-bench-sacct-{}.txt", std::process::id()));
    write_sacct_file(&file, args.records, PEOPLE, ALLOCATIONS)?;
    let size_mb = std::fs::metadata(&file)?.len() as f64 / 1e6;

    let started = Instant::now();
    let output = tokio::process::Command::new(std::env::current_exe()?)
        .args(["usage", "import", "--cluster", &cluster])
        .arg(&file)
        .env("PURSER_DATABASE_URL", url)
        .output()
        .await
        .context("cannot run purser usage import")?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&file);
    anyhow::ensure!(
        output.status.success(),
        "the import failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    // ru_maxrss of reaped children, in kilobytes on Linux: this benchmark reaps only the import.
    let peak_mb = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?
        .max_rss() as f64
        / 1024.0;
    let report = serde_json::json!({
        "records": args.records,
        "file_mb": size_mb,
        "seconds": seconds,
        "records_per_second": args.records as f64 / seconds,
        "peak_rss_mb": peak_mb,
        "summary": String::from_utf8_lossy(&output.stdout).trim(),
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "purser bench import: {} records ({size_mb:.0} MB) in {seconds:.2} s: {:.0} records/s, peak resident memory {peak_mb:.1} MB",
            args.records,
            args.records as f64 / seconds
        );
    }
    Ok(())
}

/// A parsable2 file of `records` finished jobs, one or two TRES each, spread over the synthetic
/// centre's users and accounts.
fn write_sacct_file(
    path: &std::path::Path,
    records: u64,
    people: i32,
    allocations: i32,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "JobIDRaw|User|Account|Partition|Submit|Start|End|ElapsedRaw|AllocTRES|State"
    )?;
    let start = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")?.to_utc();
    for job in 0..records {
        let submit = start + chrono::Duration::seconds(i64::try_from(job)?);
        let elapsed = 60 + job % 7200;
        let end = submit + chrono::Duration::seconds(i64::try_from(elapsed)?);
        let user = 1 + job % u64::try_from(people)?;
        let account = 1 + job % u64::try_from(allocations)?;
        let tres = if job % 10 == 0 {
            "billing=8,cpu=8,gres/gpu=1,mem=32G,node=1".to_string()
        } else {
            format!("billing={0},cpu={0},mem={0}G,node=1", 1 + job % 64)
        };
        writeln!(
            out,
            "{job}|user{user}|acct{account}|debug|{}|{}|{}|{elapsed}|{tres}|COMPLETED",
            submit.format("%Y-%m-%dT%H:%M:%S"),
            submit.format("%Y-%m-%dT%H:%M:%S"),
            end.format("%Y-%m-%dT%H:%M:%S"),
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Fills the ledger with `usage_rows` charges, then times `report.allocation_balance` for one
/// allocation, one query at a time.
async fn bench_balance(url: &str, args: &BalanceBenchArgs) -> anyhow::Result<()> {
    let pool = purser_sql::connect_pool(url, 4)?;
    purser_sql::migrations::apply(&pool).await?;
    let cluster_name = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let client = pool.connection().await?;
    let cluster = purser_sql::seed::synthetic_centre(&client, &cluster_name, 1000, 200).await?;
    let started = Instant::now();
    let chunk = 1_000_000;
    let mut first = 1;
    while first <= args.usage_rows {
        let last = (first + chunk - 1).min(args.usage_rows);
        purser_sql::seed::synthetic_usage(&client, cluster, first, last).await?;
        first = last + 1;
    }
    let fill_seconds = started.elapsed().as_secs_f64();
    let allocation = purser_sql::seed::any_allocation(&client, cluster)
        .await?
        .context("the synthetic centre has no allocation")?;
    let mut latencies = Vec::with_capacity(args.queries);
    for _ in 0..args.queries {
        let before = Instant::now();
        let balance = purser_sql::ledger::allocation_balance(&client, allocation).await?;
        latencies.push(before.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(balance.is_some(), "the allocation has no balance");
    }
    latencies.sort_by(f64::total_cmp);
    let report = serde_json::json!({
        "usage_rows": args.usage_rows,
        "fill_seconds": fill_seconds,
        "queries": args.queries,
        "p50_ms": percentile(&latencies, 0.50),
        "p99_ms": percentile(&latencies, 0.99),
        "max_ms": percentile(&latencies, 1.0),
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "purser bench balance: {} usage rows (filled in {fill_seconds:.0} s); one allocation's balance: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} queries",
            args.usage_rows,
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0),
            args.queries
        );
    }
    Ok(())
}

async fn bench_queue(url: &str, args: &QueueBenchArgs) -> anyhow::Result<QueueBenchReport> {
    let pool = purser_sql::connect_pool(url, 8)?;
    purser_sql::migrations::apply(&pool).await?;
    let site = args.site.clone().unwrap_or_else(|| {
        let run = uuid::Uuid::new_v4().simple().to_string();
        format!("bench-{}", &run[..8])
    });

    // 1. Enqueue.
    let client = pool.connection().await?;
    let started = Instant::now();
    enqueue_noops(&client, &site, args.tasks).await?;
    let enqueue_per_second = args.tasks as f64 / started.elapsed().as_secs_f64();
    drop(client);

    // 2. Drain.
    let mut config = EngineConfig::new(&site, url);
    config.concurrency = args.concurrency;
    config.claim_batch = args.claim_batch;
    let metrics = Arc::new(Metrics::new(&site));
    let mut registry = Registry::new();
    Noop::register(&mut registry)?;
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let drainer = tokio::spawn(engine::run(
        config,
        pool.clone(),
        registry,
        metrics.clone(),
        shutdown.clone(),
    ));
    let succeeded = || {
        metrics
            .outcomes
            .get_or_create(&crate::engine::metrics::OutcomeLabels {
                kind: "noop".to_string(),
                outcome: "succeeded",
            })
            .get()
    };
    while succeeded() < args.tasks as u64 {
        if drainer.is_finished() {
            bail!("the engine stopped before the drain finished");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let drain_seconds = started.elapsed().as_secs_f64();
    shutdown.cancel();
    drainer.await??;

    // 3. Latency under light load.
    let latencies = measure_latency(url, &pool, &site, args.latency_samples).await?;

    // 4. A daemon process's memory.
    let (daemon_idle_rss_mb, daemon_peak_rss_mb) =
        measure_daemon_memory(url, &pool, &site, args).await?;

    Ok(QueueBenchReport {
        tasks: args.tasks,
        concurrency: args.concurrency,
        claim_batch: args.claim_batch,
        database: pool.target().to_string(),
        enqueue_per_second,
        drain_per_second: args.tasks as f64 / drain_seconds,
        drain_seconds,
        latency_samples: latencies.len(),
        latency_p50_ms: percentile(&latencies, 0.50),
        latency_p99_ms: percentile(&latencies, 0.99),
        latency_max_ms: percentile(&latencies, 1.0),
        daemon_idle_rss_mb,
        daemon_peak_rss_mb,
    })
}

/// Enqueues `tasks` noop tasks for `site` through `queue.enqueue`, a thousand per statement.
async fn enqueue_noops(
    client: &deadpool_postgres::Client,
    site: &str,
    tasks: usize,
) -> anyhow::Result<()> {
    let payloads = vec![json!({}); 1000];
    let mut enqueued = 0;
    while enqueued < tasks {
        let batch = (tasks - enqueued).min(payloads.len());
        queue::enqueue_many(client, site, "noop", &payloads[..batch]).await?;
        enqueued += batch;
    }
    Ok(())
}

/// Reports when each task's executor starts.
struct StartSignal(mpsc::UnboundedSender<(i64, Instant)>);

#[async_trait::async_trait]
impl Executor for StartSignal {
    async fn execute(&self, task: &Task) -> Result<Success, ExecutionError> {
        let _ = self.0.send((task.id, Instant::now()));
        Ok(Success::default())
    }
}

/// Enqueues one task at a time and times it from just before the enqueue to its start.
async fn measure_latency(
    url: &str,
    pool: &DbPool,
    site: &str,
    samples: usize,
) -> anyhow::Result<Vec<f64>> {
    let (sender, mut starts) = mpsc::unbounded_channel();
    let mut registry = Registry::new();
    registry.register("bench.latency", Arc::new(StartSignal(sender)))?;
    let config = EngineConfig::new(site, url);
    let shutdown = CancellationToken::new();
    let engine = tokio::spawn(engine::run(
        config,
        pool.clone(),
        registry,
        Arc::new(Metrics::new(site)),
        shutdown.clone(),
    ));
    let client = pool.connection().await?;
    // Warm up: the engine is listening once a first task runs.
    let task = queue::NewTask::new(site, "bench.latency");
    queue::enqueue(&client, &task).await?;
    tokio::time::timeout(Duration::from_secs(30), starts.recv())
        .await
        .context("the benchmark daemon did not start")?;
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let before = Instant::now();
        let id = queue::enqueue(&client, &task).await?;
        let (started_id, started_at) = tokio::time::timeout(Duration::from_secs(30), starts.recv())
            .await
            .context("a latency task did not start within 30 s")?
            .context("the benchmark daemon stopped")?;
        anyhow::ensure!(started_id == id, "tasks started out of order");
        latencies.push(started_at.duration_since(before).as_secs_f64() * 1000.0);
    }
    shutdown.cancel();
    engine.await??;
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Starts `purser daemon` for the site, reads its resident memory once it idles, then drains
/// the same number of tasks through it and reads its peak.
async fn measure_daemon_memory(
    url: &str,
    pool: &DbPool,
    site: &str,
    args: &QueueBenchArgs,
) -> anyhow::Result<(f64, f64)> {
    let config_file =
        std::env::temp_dir().join(format!("purser-bench-{}.toml", std::process::id()));
    std::fs::write(
        &config_file,
        format!(
            "[sites.\"{site}\"]\nconcurrency = {}\nclaim_batch = {}\n",
            args.concurrency, args.claim_batch
        ),
    )?;
    let mut daemon = tokio::process::Command::new(std::env::current_exe()?)
        .args(["daemon", "--site", site, "--config"])
        .arg(&config_file)
        .env("PURSER_DATABASE_URL", url)
        .env("PURSER_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .context("cannot start a purser daemon")?;
    let pid = daemon.id().context("the daemon exited at once")?;
    let client = pool.connection().await?;
    let measured = async {
        // Idle: registered and waiting, with nothing to do for a moment.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !queue::worker_running(&client, i32::try_from(pid)?).await? {
            anyhow::ensure!(Instant::now() < deadline, "the daemon did not register");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = resident_megabytes(pid, "VmRSS")?;
        enqueue_noops(&client, site, args.tasks).await?;
        let deadline = Instant::now() + Duration::from_secs(600);
        while unfinished(&client, site).await? > 0 {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the daemon did not drain its tasks"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok((idle, resident_megabytes(pid, "VmHWM")?))
    }
    .await;
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid)?),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = daemon.wait().await;
    let _ = std::fs::remove_file(&config_file);
    measured
}

async fn unfinished(client: &deadpool_postgres::Client, site: &str) -> anyhow::Result<i64> {
    Ok(queue::stats(client, &queue::Clock::Database)
        .await?
        .iter()
        .filter(|count| count.site == site && count.kind == "noop" && count.state != "succeeded")
        .map(|count| count.tasks)
        .sum())
}

/// A process's resident memory in MB, from `/proc/PID/status` (`VmRSS` now, `VmHWM` peak).
fn resident_megabytes(pid: u32, field: &str) -> anyhow::Result<f64> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let status = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let kilobytes: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .with_context(|| format!("no {field} in {}", path.display()))?;
    Ok(kilobytes / 1024.0)
}

/// Options of `purser bench reconcile`.
#[derive(Debug, Clone, clap::Args)]
struct ReconcileBenchArgs {
    /// Allocations (one project and account each), split over the sites.
    #[arg(long, default_value_t = 10_000)]
    allocations: i32,
    /// Memberships, spread evenly over the allocations.
    #[arg(long, default_value_t = 100_000)]
    memberships: i32,
    /// People, each with an account on every site's cluster.
    #[arg(long, default_value_t = 20_000)]
    people: i32,
    /// Sites, one cluster each, one `script` connector each.
    #[arg(long, default_value_t = 2)]
    sites: i32,
    /// Membership changes timed from commit to their enqueued action.
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// Times each full pass with nothing to do is run (wall time and EXPLAIN ANALYZE).
    #[arg(long, default_value_t = 3)]
    idle_passes: usize,
    /// The reconciler loop's poll interval, in milliseconds (it also wakes on NOTIFY).
    #[arg(long, default_value_t = 100)]
    poll_interval_ms: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The connector every benchmark site registers.
const BENCH_CONNECTOR: &str = "script";

/// One site's full plans, as `purser bench reconcile` measured them.
#[derive(Debug, Serialize)]
struct SitePlans {
    site: String,
    /// Subjects in the site's desired state (the actions of its first full plan).
    dry_run_actions: usize,
    dry_run_ms: f64,
    /// The first real full plan: every subject created, each action a task.
    enqueued: usize,
    enqueue_ms: f64,
    /// Settling the site (tasks succeeded, observed = desired), not part of any target.
    settle_ms: f64,
    /// Full passes with nothing to do: wall time from the client, each run.
    idle_wall_ms: Vec<f64>,
    /// The same passes' execution time in the database (`EXPLAIN (ANALYZE, BUFFERS)`).
    idle_database_ms: Vec<f64>,
    /// A dry run of the settled site (nothing to do), wall time.
    idle_dry_run_ms: f64,
}

/// What one run of `purser bench reconcile` measured.
#[derive(Debug, Serialize)]
struct ReconcileBenchReport {
    database: String,
    allocations: i64,
    memberships: i64,
    cluster_accounts: i64,
    sites: Vec<SitePlans>,
    seed_seconds: f64,
    /// Every site's first full plan, dry run, summed.
    full_plan_dry_run_ms: f64,
    /// Every site's first full plan that enqueued the creates, summed.
    full_plan_enqueue_ms: f64,
    /// A full pass with nothing to do on every site: the median of each site's runs, summed.
    idle_pass_wall_ms: f64,
    idle_pass_database_ms: f64,
    changes: usize,
    change_to_enqueued_p50_ms: f64,
    change_to_enqueued_p99_ms: f64,
    change_to_enqueued_max_ms: f64,
}

/// Seeds a centre, registers a connector per site, and times full plans, full passes with
/// nothing to do, and membership changes to their enqueued actions through the reconciler loop.
async fn bench_reconcile(url: &str, args: &ReconcileBenchArgs) -> anyhow::Result<()> {
    use purser_sql::provision::{self, ConnectorRegistration, PlanRequest};
    anyhow::ensure!(args.sites >= 1, "--sites must be at least 1");
    anyhow::ensure!(
        args.allocations >= args.sites,
        "--allocations must be at least --sites"
    );
    let pool = purser_sql::connect_pool(url, 8)?;
    purser_sql::migrations::apply(&pool).await?;
    let prefix = format!("rb{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut client = pool.connection().await?;

    let started = Instant::now();
    let centre = purser_sql::seed::reconcile_centre(
        &client,
        &prefix,
        args.sites,
        args.people,
        args.allocations,
        args.memberships,
    )
    .await?;
    purser_sql::seed::analyze(&client).await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    let sites: Vec<String> = (1..=args.sites).map(|n| format!("{prefix}-{n}")).collect();
    for site in &sites {
        provision::register_connector(
            &client,
            &ConnectorRegistration {
                site: site.clone(),
                connector: BENCH_CONNECTOR.to_string(),
                model: provision::ACCOUNTS_MODEL.to_string(),
                mass_delete_percent: 10,
                mass_delete_minimum: 5,
            },
        )
        .await?;
    }

    // (a) Full plans: a dry run, then the real one that enqueues every create; then the site
    // is made to look as if it applied them all.
    let clock = queue::Clock::Database;
    let mut plans = Vec::new();
    for site in &sites {
        let full = |dry_run| PlanRequest {
            site,
            connector: BENCH_CONNECTOR,
            scopes: None,
            allow_mass_delete: false,
            dry_run,
        };
        let started = Instant::now();
        let dry = provision::reconcile(&mut client, &full(true), &clock).await?;
        let dry_run_ms = started.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        let real = provision::reconcile(&mut client, &full(false), &clock).await?;
        let enqueue_ms = started.elapsed().as_secs_f64() * 1000.0;
        let enqueued = real
            .iter()
            .filter(|action| action.task_id.is_some())
            .count();
        anyhow::ensure!(
            enqueued == dry.len(),
            "site {site}: the dry run planned {} actions, the real plan enqueued {enqueued}",
            dry.len()
        );
        let started = Instant::now();
        purser_sql::seed::settle_site(&client, site).await?;
        let settle_ms = started.elapsed().as_secs_f64() * 1000.0;
        plans.push(SitePlans {
            site: site.clone(),
            dry_run_actions: dry.len(),
            dry_run_ms,
            enqueued,
            enqueue_ms,
            settle_ms,
            idle_wall_ms: Vec::new(),
            idle_database_ms: Vec::new(),
            idle_dry_run_ms: f64::NAN,
        });
    }
    purser_sql::seed::analyze(&client).await?;

    // (b) Full passes with nothing to do: wall time through provision::reconcile, database
    // time from EXPLAIN ANALYZE of the same call, alternating.
    for plan in &mut plans {
        let site = plan.site.as_str();
        let request = |dry_run| PlanRequest {
            site,
            connector: BENCH_CONNECTOR,
            scopes: None,
            allow_mass_delete: false,
            dry_run,
        };
        let started = Instant::now();
        let dry = provision::reconcile(&mut client, &request(true), &clock).await?;
        plan.idle_dry_run_ms = started.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(
            dry.is_empty(),
            "site {site}: a settled site has {} actions to do",
            dry.len()
        );
        for _ in 0..args.idle_passes {
            let started = Instant::now();
            let actions = provision::reconcile(&mut client, &request(false), &clock).await?;
            plan.idle_wall_ms
                .push(started.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(
                actions.is_empty(),
                "site {site}: an idle pass planned {} actions",
                actions.len()
            );
            let (database_ms, _) =
                purser_sql::seed::explain_full_plan(&client, site, BENCH_CONNECTOR, false).await?;
            plan.idle_database_ms.push(database_ms);
        }
    }
    drop(client);

    // (c) One membership change to its enqueued action, through the reconciler loop of the
    // first site, in-process.
    let latencies = measure_change_latency(url, &pool, &sites[0], args).await?;

    let median = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        percentile(&sorted, 0.5)
    };
    let report = ReconcileBenchReport {
        database: pool.target().to_string(),
        allocations: centre.allocations,
        memberships: centre.memberships,
        cluster_accounts: centre.cluster_accounts,
        seed_seconds,
        full_plan_dry_run_ms: plans.iter().map(|plan| plan.dry_run_ms).sum(),
        full_plan_enqueue_ms: plans.iter().map(|plan| plan.enqueue_ms).sum(),
        idle_pass_wall_ms: plans.iter().map(|plan| median(&plan.idle_wall_ms)).sum(),
        idle_pass_database_ms: plans
            .iter()
            .map(|plan| median(&plan.idle_database_ms))
            .sum(),
        changes: latencies.len(),
        change_to_enqueued_p50_ms: percentile(&latencies, 0.50),
        change_to_enqueued_p99_ms: percentile(&latencies, 0.99),
        change_to_enqueued_max_ms: percentile(&latencies, 1.0),
        sites: plans,
    };
    print_reconcile_report(&report, args.json)
}

fn print_reconcile_report(report: &ReconcileBenchReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    println!(
        "purser bench reconcile: {} allocations, {} memberships, {} cluster accounts on {} sites against {} (seeded in {:.1} s)",
        report.allocations,
        report.memberships,
        report.cluster_accounts,
        report.sites.len(),
        report.database,
        report.seed_seconds
    );
    for site in &report.sites {
        println!(
            "  {}: full plan {} actions: dry run {:.0} ms, enqueued {} in {:.0} ms; nothing to do: dry run {:.0} ms, passes {} ms wall, {} ms in the database",
            site.site,
            site.dry_run_actions,
            site.dry_run_ms,
            site.enqueued,
            site.enqueue_ms,
            site.idle_dry_run_ms,
            site.idle_wall_ms
                .iter()
                .map(|ms| format!("{ms:.0}"))
                .collect::<Vec<_>>()
                .join(" · "),
            site.idle_database_ms
                .iter()
                .map(|ms| format!("{ms:.0}"))
                .collect::<Vec<_>>()
                .join(" · "),
        );
    }
    println!(
        "  every site: full plan {:.0} ms (dry run), {:.0} ms (enqueueing); a pass with nothing to do {:.0} ms wall, {:.0} ms in the database",
        report.full_plan_dry_run_ms,
        report.full_plan_enqueue_ms,
        report.idle_pass_wall_ms,
        report.idle_pass_database_ms
    );
    println!(
        "  a membership change to its enqueued action: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} changes)",
        report.change_to_enqueued_p50_ms,
        report.change_to_enqueued_p99_ms,
        report.change_to_enqueued_max_ms,
        report.changes
    );
    Ok(())
}

/// Runs the site's reconciler loop in-process and, `args.changes` times, suspends one member
/// of another account in a transaction of its own, timing from just before its COMMIT to the
/// moment its block action's task exists: woken by the queue's NOTIFY for the site, confirmed
/// by reading the action (and, should a wake-up be missed, read again every 20 ms).
async fn measure_change_latency(
    url: &str,
    pool: &DbPool,
    site: &str,
    args: &ReconcileBenchArgs,
) -> anyhow::Result<Vec<f64>> {
    use purser_sql::notify::{Channel, Listener};
    let mut config = crate::reconcile::ReconcilerConfig::new(
        site,
        url,
        vec![crate::reconcile::ConnectorSettings {
            name: BENCH_CONNECTOR.to_string(),
            observes: false,
            // No full pass during the measurement: its last one has just run.
            reconcile_every: Duration::from_secs(86_400),
        }],
    );
    config.poll_interval = Duration::from_millis(args.poll_interval_ms);
    crate::reconcile::register(&config, pool).await?;
    let mut tasks = Listener::connect(url, Channel::Queue).await?;
    let shutdown = CancellationToken::new();
    let reconciler = tokio::spawn(crate::reconcile::run(
        config,
        pool.clone(),
        shutdown.clone(),
    ));

    let measured = async {
        let mut client = pool.connection().await?;
        // The site's accounts are acct{n} with n ≡ the site's index (mod sites); site 1 has
        // acct1, acct(1 + sites), …. The first change warms the loop up and is not counted.
        let accounts_of_site = usize::try_from(args.allocations / args.sites)?.max(1);
        let mut latencies = Vec::with_capacity(args.changes);
        for sample in 0..=args.changes {
            let account = format!(
                "acct{}",
                1 + (sample % accounts_of_site) * usize::try_from(args.sites)?
            );
            let transaction = purser_sql::pool::begin(&mut client).await?;
            let subject = purser_sql::seed::suspend_one_membership(&transaction, site, &account)
                .await?
                .with_context(|| format!("account {account} has no active member left"))?;
            let before = Instant::now();
            purser_sql::pool::commit(transaction).await?;
            let deadline = before + Duration::from_secs(30);
            let enqueued_at = loop {
                let woken = tokio::time::timeout(Duration::from_millis(20), tasks.next()).await;
                let at = Instant::now();
                if let Ok(None) = woken {
                    bail!("the queue's wake-up connection was lost");
                }
                if purser_sql::seed::action_task(&client, site, BENCH_CONNECTOR, &subject, "block")
                    .await?
                    .is_some()
                {
                    break at;
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "no block action for {subject} within 30 s of its change"
                );
            };
            if sample > 0 {
                latencies.push(enqueued_at.duration_since(before).as_secs_f64() * 1000.0);
            }
        }
        latencies.sort_by(f64::total_cmp);
        Ok(latencies)
    }
    .await;
    shutdown.cancel();
    reconciler.await?;
    measured
}

/// The value at `fraction` of a sorted list (nearest rank); NaN when empty.
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}
