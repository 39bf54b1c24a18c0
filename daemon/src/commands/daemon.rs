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

/// The executors a site's daemon runs: `noop`, and the site's shell kinds, each of whose
/// programs must exist and be executable.
pub fn registry_for(site: &SiteConfig) -> anyhow::Result<Registry> {
    for (kind, shell) in &site.shell {
        let program = shell
            .check_program()
            .with_context(|| format!("shell kind {kind:?}"))?;
        tracing::info!(kind, program = %program.display(), "shell kind");
    }
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
    let registry =
        registry_for(&site).with_context(|| format!("cannot serve site {}", args.site))?;
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
