//! The subcommands of `purser`, one module each, and the global options they share.

pub mod api;
mod bench;
pub mod daemon;
pub mod demo;
pub mod dev_db;
mod migrate;
mod reconcile;
mod schedule;
pub mod schema;
mod seed;
mod site_role;
mod task;
mod token;
mod usage;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use purser_sql::DbPool;

use crate::config::{self, Config};
use crate::logging::LogFormat;

/// Purser: allocations and access for research computing, run from PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "purser", version, about)]
pub struct Cli {
    /// Options every subcommand takes.
    #[command(flatten)]
    pub global: GlobalOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct GlobalOptions {
    /// A TOML configuration file; environment variables and flags override it.
    #[arg(long, global = true, env = "PURSER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The PostgreSQL URL, e.g. postgresql://user@host/purser.
    #[arg(
        long,
        global = true,
        env = "PURSER_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// How log lines are written to stderr.
    #[arg(
        long,
        global = true,
        env = "PURSER_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    pub log_format: LogFormat,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending schema migrations.
    Migrate(migrate::MigrateArgs),
    /// Show what the schema holds: schemas, tables, views and functions with their comments.
    Schema(schema::SchemaArgs),
    /// Run a private PostgreSQL for trying Purser, with no set-up.
    DevDb(dev_db::DevDbArgs),
    /// Run Purser's main job end to end: the demo centre, the API and daemons, a story.
    Demo(demo::DemoArgs),
    /// Serve the REST API.
    Api(api::ApiArgs),
    /// Run a site's tasks: claim them from the queue and run their executors.
    Daemon(daemon::DaemonArgs),
    /// Enqueue, inspect, retry and cancel tasks.
    Task(task::TaskArgs),
    /// Plan a site against what its systems hold, and enqueue the actions (or print them).
    Reconcile(reconcile::ReconcileArgs),
    /// List, add and remove schedules: tasks enqueued every period.
    Schedule(schedule::ScheduleArgs),
    /// Charge usage: import Slurm's sacct output.
    Usage(usage::UsageArgs),
    /// Load sample data.
    Seed(seed::SeedArgs),
    /// Make, list and revoke API tokens.
    Token(token::TokenArgs),
    /// Make, list and drop database roles bound to one site's daemons.
    SiteRole(site_role::SiteRoleArgs),
    /// Measure how fast Purser runs on this machine.
    Bench(bench::BenchArgs),
}

/// Runs the chosen subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate(args) => migrate::run(&connect(&cli.global)?.1, args).await,
        Command::Schema(args) => schema::run(&connect(&cli.global)?.1, args).await,
        Command::DevDb(args) => dev_db::run(args).await,
        Command::Daemon(args) => {
            let (config, pool) = connect(&cli.global)?;
            daemon::run(&config, pool, args).await
        }
        Command::Demo(args) => demo::run(&cli.global, args).await,
        Command::Api(args) if args.openapi => api::print_openapi(),
        Command::Api(args) if args.reference => api::print_reference(),
        Command::Api(args) => {
            let config = config::resolve(
                cli.global.config.as_ref(),
                cli.global.database_url.as_deref(),
            )?;
            api::run(&config, args).await
        }
        Command::Task(args) => {
            let (config, pool) = connect(&cli.global)?;
            task::run(&config, &pool, args).await
        }
        Command::Reconcile(args) => {
            let (config, pool) = connect(&cli.global)?;
            reconcile::run(&config, &pool, args).await
        }
        Command::Schedule(args) => {
            let (config, pool) = connect(&cli.global)?;
            schedule::run(&config, &pool, args).await
        }
        Command::Usage(args) => usage::run(&connect(&cli.global)?.1, args).await,
        Command::Seed(args) => seed::run(&connect(&cli.global)?.1, args).await,
        Command::Token(args) => token::run(&connect(&cli.global)?.1, args).await,
        Command::SiteRole(args) => {
            let (config, pool) = connect(&cli.global)?;
            site_role::run(&config, &pool, args).await
        }
        Command::Bench(args) => bench::run(cli.global.database_url, args).await,
    }
}

/// A `--payload` flag's JSON, or one sentence saying what is wrong with it.
pub fn parse_payload(text: &str) -> anyhow::Result<serde_json::Value> {
    let Ok(payload) = serde_json::from_str::<serde_json::Value>(text) else {
        anyhow::bail!("--payload is not valid JSON: give a JSON object such as '{{\"key\": 1}}'");
    };
    if let Some(pointer) = purser_sql::storable::nul_at(&payload) {
        anyhow::bail!(
            "--payload holds the NUL character (\\u0000) at {pointer:?}, which the database cannot store"
        );
    }
    Ok(payload)
}

/// Resolves the configuration and builds the pool (connections are made on first use).
fn connect(global: &GlobalOptions) -> anyhow::Result<(Config, DbPool)> {
    let config = config::resolve(global.config.as_ref(), global.database_url.as_deref())?;
    let pool = purser_sql::connect_pool(&config.database_url, config.database_pool_size)
        .context("cannot use the database")?;
    Ok((config, pool))
}

/// Cancels `token` on the first SIGTERM or SIGINT, logging which came.
pub fn cancel_on_signals(token: &tokio_util::sync::CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?;
    let token = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
        }
        token.cancel();
    });
    Ok(())
}
