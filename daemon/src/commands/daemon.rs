//! `purser daemon --site NAME`: claims the site's tasks and runs them with the executors
//! registered for it, until SIGTERM or SIGINT; then finishes or hands back what it runs.
//!
//! It refuses to start on a configuration that cannot work: a site nobody knows (a typo in
//! `--site`), a database role bound to another site (`purser site-role`), or a site program
//! that is missing or not executable. It logs the kinds it runs, and warns when the site has
//! no `[sites.NAME]`, so it runs only `noop`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use purser_executors::shell::Shell;
use purser_executors::{Noop, Registry};
use purser_sql::DbPool;
use purser_sql::site_role;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SiteConfig};
use crate::engine::{self, EngineConfig, metrics::Metrics};
use crate::reconcile::{self, ReconcilerConfig, time};
use purser_sql::queue::Clock;

/// Options of `purser daemon`.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The site whose tasks to run (its settings are `[sites.NAME]` in the config file).
    #[arg(long, env = "PURSER_SITE")]
    site: String,
    /// Tasks run at once (overrides the site's `concurrency`).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
}

/// The executors a site's daemon runs: `noop`, the site's shell kinds and its script
/// connector, each of whose programs must exist and be executable, and the site's
/// time-driven registry work.
pub fn registry_for(site: &SiteConfig, pool: &DbPool, clock: &Clock) -> anyhow::Result<Registry> {
    for (kind, shell) in &site.shell {
        let program = shell
            .check_program()
            .with_context(|| format!("shell kind {kind:?}"))?;
        tracing::info!(kind, program = %program.display(), "shell kind");
    }
    if let Some(script) = &site.script {
        for (step, program) in [
            ("apply", Some(&script.apply)),
            ("observe", script.observe.as_ref()),
        ] {
            if let Some(program) = program {
                let found = program
                    .check_program()
                    .with_context(|| format!("the script connector's {step} program"))?;
                tracing::info!(step, program = %found.display(), "script connector");
            }
        }
    }
    let mut registry = Registry::new();
    Noop::register(&mut registry)?;
    Shell::register_all(&mut registry, &site.shell)?;
    if let Some(script) = &site.script {
        purser_executors::script::register(&mut registry, &script.apply, script.observe.as_ref())?;
    }
    registry.register(
        time::KIND,
        Arc::new(time::AdvanceTime::new(pool.clone(), clock.clone())),
    )?;
    for kind in site.kinds.keys() {
        anyhow::ensure!(
            registry.get(kind).is_some(),
            "[sites.*.kinds.\"{kind}\"] sets a policy for a kind no executor handles here"
        );
    }
    Ok(registry)
}

/// Refuses a database role bound to another site than `site`: row-level security would show
/// it none of the site's tasks, and the daemon would idle without saying why.
async fn ensure_role_serves(pool: &DbPool, site: &str) -> anyhow::Result<()> {
    let client = pool
        .connection()
        .await
        .context("cannot look up the database role's site")?;
    let binding = site_role::session_binding(&client)
        .await
        .context("cannot look up the database role's site")?;
    match binding.site {
        Some(bound) if bound != site => bail!(
            "the database role {} serves site {bound} only, so it cannot run site {site}'s tasks: \
             connect as a role of site {site} (purser site-role list)",
            binding.role_name
        ),
        _ => Ok(()),
    }
}

/// Runs the daemon until a shutdown signal.
pub async fn run(config: &Config, pool: DbPool, args: DaemonArgs) -> anyhow::Result<()> {
    config.ensure_known_site(&pool, &args.site).await?;
    ensure_role_serves(&pool, &args.site).await?;
    let site = match config.sites.get(&args.site) {
        Some(site) => site.clone(),
        None => {
            tracing::warn!(
                site = %args.site,
                "the configuration has no [sites.{}]: this daemon runs only noop tasks, and the \
                 site's other tasks wait for a daemon configured to run them",
                args.site
            );
            SiteConfig::default()
        }
    };
    let mut daemon = SiteDaemon::new(&args.site, &site, &config.database_url, &pool)
        .with_context(|| format!("cannot serve site {}", args.site))?;
    if let Some(concurrency) = args.concurrency {
        daemon.engine.concurrency = concurrency;
    }
    let shutdown = CancellationToken::new();
    let metrics = Arc::new(Metrics::new(&args.site));
    if let Some(address) = args.metrics_addr {
        let server =
            crate::engine::metrics::serve(address, metrics.clone(), pool.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::error!(%error, "the metrics endpoint failed");
            }
        });
    }
    super::cancel_on_signals(&shutdown)?;
    daemon.run(pool, metrics, shutdown).await
}

/// What one site's daemon runs: the queue engine with its executors, and the reconciler.
pub struct SiteDaemon {
    /// The engine's settings.
    pub engine: EngineConfig,
    /// The reconciler's settings.
    pub reconciler: ReconcilerConfig,
    registry: Registry,
}

impl SiteDaemon {
    /// The daemon of `site` as configured, its programs checked.
    pub fn new(
        site: &str,
        config: &SiteConfig,
        database_url: &str,
        pool: &DbPool,
    ) -> anyhow::Result<Self> {
        let engine = config.engine_config(site, database_url);
        let registry = registry_for(config, pool, &engine.clock)?;
        let reconciler = config.reconciler_config(site, database_url);
        Ok(Self {
            engine,
            reconciler,
            registry,
        })
    }

    /// Registers the site's connectors and schedules, then runs the engine and the reconciler
    /// until `shutdown`; returns once both have stopped.
    pub async fn run(
        mut self,
        pool: DbPool,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        // One clock for both: a test's manual clock moves the registry's time with the queue's.
        self.reconciler.clock = self.engine.clock.clone();
        reconcile::register(&self.reconciler, &pool)
            .await
            .with_context(|| format!("cannot serve site {}", self.engine.site))?;
        let reconciler = tokio::spawn(reconcile::run(
            self.reconciler,
            pool.clone(),
            shutdown.clone(),
        ));
        let ran = engine::run(self.engine, pool, self.registry, metrics, shutdown.clone()).await;
        shutdown.cancel();
        if let Err(error) = reconciler.await {
            tracing::error!(%error, "the reconciler stopped abnormally");
        }
        ran
    }
}
