//! `purser dev-db`: a private PostgreSQL for trying Purser, started from the installed server
//! binaries into a directory of ours, with a `purser` database in it. Durable (fsync on), so
//! benchmarks against it mean something. Other commands use it when no database is configured.

use std::path::PathBuf;

use anyhow::Context;
use purser_sql::local_cluster::{ClusterSettings, LocalCluster, RunningCluster};

/// The database `dev-db` creates and hands out.
const DATABASE: &str = "purser";

/// Options of `purser dev-db`.
#[derive(Debug, clap::Args)]
pub struct DevDbArgs {
    /// The cluster's directory [default: /var/lib/purser/dev-db as root, else
    /// ~/.local/share/purser/dev-db].
    #[arg(long, env = "PURSER_DEV_DB_DIR", value_name = "DIR", global = true)]
    dir: Option<PathBuf>,
    /// What to do with it.
    #[command(subcommand)]
    action: DevDbAction,
}

/// What `purser dev-db` can do.
#[derive(Debug, clap::Subcommand)]
enum DevDbAction {
    /// Create the cluster if needed, start it, and print its URL.
    Start {
        /// Also listen on 127.0.0.1 on a free port (password-protected).
        #[arg(long)]
        tcp: bool,
    },
    /// Stop the cluster (data is kept), and say whether it was running.
    Stop,
    /// Say whether it runs, and where; exits non-zero when it does not.
    Status,
    /// Print the URL of its `purser` database.
    Url {
        /// The TCP URL (the cluster must have been started with --tcp).
        #[arg(long)]
        tcp: bool,
    },
}

/// Runs a `dev-db` action.
pub async fn run(args: DevDbArgs) -> anyhow::Result<()> {
    let cluster = LocalCluster::new(args.dir.unwrap_or_else(default_dir))?;
    match args.action {
        DevDbAction::Start { tcp } => {
            let running = start(&cluster, tcp).await?;
            ensure_database(&running).await?;
            println!("{}", url_of(&running, tcp)?);
        }
        DevDbAction::Stop => {
            let root = cluster.root().display().to_string();
            let was_running = tokio::task::spawn_blocking(move || cluster.stop())
                .await
                .context("the stop was interrupted")??;
            if was_running {
                println!("stopped the dev database in {root}");
            } else {
                println!("the dev database in {root} was not running: nothing to stop");
            }
        }
        DevDbAction::Status => match cluster.running()? {
            Some(running) => println!(
                "running (pid {}) in {}: {}",
                running.pid,
                cluster.root().display(),
                running.url(DATABASE)
            ),
            None => anyhow::bail!(
                "the dev database in {} is not running: start it with `purser dev-db start`",
                cluster.root().display()
            ),
        },
        DevDbAction::Url { tcp } => match cluster.running()? {
            Some(running) => println!("{}", url_of(&running, tcp)?),
            None => anyhow::bail!(
                "the dev database is not running: start it with `purser dev-db start`"
            ),
        },
    }
    Ok(())
}

/// Creates the cluster if needed and starts it (a no-op when it runs).
async fn start(cluster: &LocalCluster, tcp: bool) -> anyhow::Result<RunningCluster> {
    let cluster = cluster.clone();
    tokio::task::spawn_blocking(move || cluster.start(ClusterSettings::DEVELOPMENT, tcp))
        .await
        .context("the start was interrupted")?
        .map_err(Into::into)
}

/// Starts the default dev cluster (as `purser dev-db start` does) and makes `database` on it
/// afresh, dropping any earlier one: for `purser demo`, which must start from a known state.
/// Returns the new database's URL.
pub async fn fresh_database(database: &str) -> anyhow::Result<String> {
    let dir = std::env::var_os("PURSER_DEV_DB_DIR").map_or_else(default_dir, PathBuf::from);
    let running = start(&LocalCluster::new(dir)?, false).await?;
    let admin = purser_sql::connect_pool(&running.url("postgres"), 1)?;
    purser_sql::catalog::drop_database(&admin, database).await?;
    purser_sql::catalog::ensure_database(&admin, database).await?;
    admin.close();
    Ok(running.url(database))
}

/// The URL of the default dev database, when it is running: the fallback for commands that
/// were given no database. Never fails for want of server binaries.
pub fn running_url() -> anyhow::Result<Option<String>> {
    let dir = std::env::var_os("PURSER_DEV_DB_DIR").map_or_else(default_dir, PathBuf::from);
    if !dir.exists() {
        return Ok(None);
    }
    let Ok(cluster) = LocalCluster::new(dir) else {
        return Ok(None);
    };
    Ok(cluster.running()?.map(|running| running.url(DATABASE)))
}

fn url_of(running: &RunningCluster, tcp: bool) -> anyhow::Result<String> {
    if tcp {
        running
            .tcp_url(DATABASE)
            .context("the dev database is not listening on TCP: restart it with `purser dev-db stop; purser dev-db start --tcp`")
    } else {
        Ok(running.url(DATABASE))
    }
}

/// `/var/lib/purser/dev-db` as root (the server's own account must reach it, and root's home
/// is closed to it), else `$XDG_DATA_HOME/purser/dev-db` or `~/.local/share/purser/dev-db`.
fn default_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/purser/dev-db");
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    data_home.join("purser/dev-db")
}

/// Creates the `purser` database on first start.
async fn ensure_database(running: &RunningCluster) -> anyhow::Result<()> {
    let admin = purser_sql::connect_pool(&running.url("postgres"), 1)?;
    purser_sql::catalog::ensure_database(&admin, DATABASE).await?;
    admin.close();
    Ok(())
}
