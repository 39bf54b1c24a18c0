//! `purser daemon --site NAME`: claims the site's tasks and runs them with the executors
//! registered for it, until SIGTERM or SIGINT; then finishes or hands back what it runs.

use std::net::SocketAddr;
use std::sync::Arc;

use purser_executors::shell::Shell;
use purser_executors::{Noop, Registry};
use purser_sql::DbPool;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SiteConfig};
use crate::engine::{self, metrics::Metrics};

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

/// The executors a site's daemon runs: `noop`, and the site's shell kinds.
pub fn registry_for(site: &SiteConfig) -> anyhow::Result<Registry> {
    let mut registry = Registry::new();
    Noop::register(&mut registry)?;
    Shell::register_all(&mut registry, &site.shell)?;
    for kind in site.kinds.keys() {
        anyhow::ensure!(
            registry.get(kind).is_some(),
            "[sites.*.kinds.\"{kind}\"] sets a policy for a kind no executor handles here"
        );
    }
    Ok(registry)
}

/// Runs the daemon until a shutdown signal.
pub async fn run(config: &Config, pool: DbPool, args: DaemonArgs) -> anyhow::Result<()> {
    let site = config.sites.get(&args.site).cloned().unwrap_or_default();
    let registry = registry_for(&site)?;
    let mut engine_config = site.engine_config(&args.site, &config.database_url);
    if let Some(concurrency) = args.concurrency {
        engine_config.concurrency = concurrency;
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
    engine::run(engine_config, pool, registry, metrics, shutdown).await
}
