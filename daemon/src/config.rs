//! Configuration: a TOML file (`--config`), overridden by environment variables, overridden
//! by command-line flags. Where no database is configured, a running `purser dev-db` is used.
//!
//! ```toml
//! database_url = "postgresql://purser@db.example.org/purser"
//! database_pool_size = 16
//!
//! [sites.expanse]                 # what `purser daemon --site expanse` runs
//! concurrency = 32                # tasks at once
//! lease = "30s"                   # a claim lapses this long after the last heartbeat
//! poll_interval = "1s"            # look for due tasks this often without a wake-up
//! claim_batch = 500               # most tasks per claim
//! shutdown_grace = "30s"          # running tasks may finish this long after SIGTERM
//! maintenance_interval = "10s"    # rescue lapsed tasks and prune finished ones this often
//! retention = "7d"                # keep finished tasks this long
//! schedule_interval = "1s"        # fire due schedules this often (queue.schedule)
//! mass_delete_percent = 10        # a plan deleting more of a connector's subjects needs
//! mass_delete_minimum = 5         #   purser reconcile --allow-mass-delete (at least 5 may go)
//!
//! [sites.expanse.kinds."site.user.created"]
//! concurrency = 4                 # at most 4 of this kind at once
//! retry = { base = "5s", max = "1h" }
//!
//! [sites.expanse.shell."site.user.created"]
//! program = "/opt/purser/hooks/user-created"
//! timeout = "2m"
//!
//! [sites.expanse.script]          # the reconciler's script connector (docs/reconciler.md)
//! apply = { program = "/opt/purser/hooks/apply", timeout = "2m" }
//! observe = { program = "/opt/purser/hooks/observe" }   # optional
//! reconcile_every = "5m"          # a full observe and plan this often
//!
//! [api]                           # what `purser api` serves
//! listen = "127.0.0.1:8080"
//! request_timeout = "30s"
//!
//! [api.oidc]                      # optional: OIDC JWTs (docs/api.md)
//! issuer = "https://idp.example.edu"
//! audience = "purser"
//! jwks_url = "https://idp.example.edu/certs"   # or jwks_file = "/etc/purser/jwks.json"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use purser_executors::shell::ShellConfig;
use purser_sql::DbPool;
use purser_sql::queue;
use serde::Deserialize;

use crate::commands::dev_db;
use crate::engine::EngineConfig;
use crate::engine::retry::RetryPolicy;
use crate::reconcile::{ConnectorSettings, DEFAULT_RECONCILE_EVERY, ReconcilerConfig};

/// The settings file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The PostgreSQL URL (overridden by `PURSER_DATABASE_URL` and `--database-url`).
    pub database_url: Option<String>,
    /// Connections in the pool (overridden by `PURSER_DATABASE_POOL_SIZE`).
    pub database_pool_size: Option<usize>,
    /// Per-site daemon settings.
    #[serde(default)]
    pub sites: BTreeMap<String, SiteConfig>,
    /// The REST API's settings.
    #[serde(default)]
    pub api: ApiConfig,
}

/// How `purser api` serves (`[api]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Where to listen when `--listen` is not given.
    pub listen: Option<crate::commands::api::ListenAddress>,
    /// How long a request may run before it is answered 503 (default 30 s).
    #[serde(default, with = "humantime_serde")]
    pub request_timeout: Option<Duration>,
    /// OIDC bearer tokens, checked against a JWKS file (`[api.oidc]`).
    pub oidc: Option<purser_api::oidc::OidcConfig>,
}

/// How a site's daemons run; unset values take the engine's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Tasks run at once.
    pub concurrency: Option<usize>,
    /// How long a claim holds without a heartbeat.
    #[serde(default, with = "humantime_serde")]
    pub lease: Option<Duration>,
    /// How often to look for due tasks without a wake-up.
    #[serde(default, with = "humantime_serde")]
    pub poll_interval: Option<Duration>,
    /// Most tasks per claim.
    pub claim_batch: Option<usize>,
    /// How long running tasks may finish after a shutdown signal.
    #[serde(default, with = "humantime_serde")]
    pub shutdown_grace: Option<Duration>,
    /// How often to rescue lapsed tasks and prune finished ones.
    #[serde(default, with = "humantime_serde")]
    pub maintenance_interval: Option<Duration>,
    /// How long finished tasks are kept.
    #[serde(default, with = "humantime_serde")]
    pub retention: Option<Duration>,
    /// How often to fire the site's due schedules.
    #[serde(default, with = "humantime_serde")]
    pub schedule_interval: Option<Duration>,
    /// Per-kind policy.
    #[serde(default)]
    pub kinds: BTreeMap<String, KindPolicy>,
    /// Kinds run by the shell executor, and how.
    #[serde(default)]
    pub shell: BTreeMap<String, ShellConfig>,
    /// The script connector: the site's programs enact the reconciler's plans.
    pub script: Option<ScriptConnectorConfig>,
    /// A plan deleting more than this percentage of a connector's managed subjects applies
    /// nothing without `purser reconcile --allow-mass-delete` (default 10)…
    pub mass_delete_percent: Option<i32>,
    /// …unless it deletes at most this many (default 5).
    pub mass_delete_minimum: Option<i32>,
}

/// `[sites.NAME.script]`: the programs of the script connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptConnectorConfig {
    /// Applies one action (`script.apply`).
    pub apply: ShellConfig,
    /// Reports everything the site holds (`script.observe`), optional.
    pub observe: Option<ShellConfig>,
    /// A full observe and plan this often (default 5 minutes).
    #[serde(default, with = "humantime_serde")]
    pub reconcile_every: Option<Duration>,
}

/// Policy for one task kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindPolicy {
    /// At most this many at once.
    pub concurrency: Option<usize>,
    /// Its backoff.
    pub retry: Option<RetryPolicy>,
}

impl SiteConfig {
    /// The reconciler's settings for this site: one connector per configured one.
    pub fn reconciler_config(&self, site: &str, database_url: &str) -> ReconcilerConfig {
        let connectors = self
            .script
            .iter()
            .map(|script| ConnectorSettings {
                name: purser_executors::script::CONNECTOR.to_string(),
                observes: script.observe.is_some(),
                reconcile_every: script.reconcile_every.unwrap_or(DEFAULT_RECONCILE_EVERY),
            })
            .collect();
        let mut config = ReconcilerConfig::new(site, database_url, connectors);
        config.mass_delete_percent = self
            .mass_delete_percent
            .unwrap_or(config.mass_delete_percent);
        config.mass_delete_minimum = self
            .mass_delete_minimum
            .unwrap_or(config.mass_delete_minimum);
        if let Some(poll) = self.poll_interval {
            config.poll_interval = poll;
        }
        config
    }

    /// The engine's settings for this site.
    pub fn engine_config(&self, site: &str, database_url: &str) -> EngineConfig {
        let mut config = EngineConfig::new(site, database_url);
        config.concurrency = self.concurrency.unwrap_or(config.concurrency);
        config.lease = self.lease.unwrap_or(config.lease);
        config.poll_interval = self.poll_interval.unwrap_or(config.poll_interval);
        config.claim_batch = self.claim_batch.unwrap_or(config.claim_batch);
        config.shutdown_grace = self.shutdown_grace.unwrap_or(config.shutdown_grace);
        config.maintenance_interval = self
            .maintenance_interval
            .unwrap_or(config.maintenance_interval);
        config.retention = self.retention.unwrap_or(config.retention);
        config.schedule_interval = self.schedule_interval.unwrap_or(config.schedule_interval);
        for (kind, policy) in &self.kinds {
            if let Some(limit) = policy.concurrency {
                config.kind_concurrency.insert(kind.clone(), limit);
            }
            if let Some(retry) = policy.retry {
                config.retry.insert(kind.clone(), retry);
            }
        }
        config
    }
}

/// Settings after file, environment and flags are merged.
#[derive(Debug)]
pub struct Config {
    /// The configuration file read, if one was given.
    pub file: Option<PathBuf>,
    /// The PostgreSQL URL to use.
    pub database_url: String,
    /// Connections in the pool.
    pub database_pool_size: usize,
    /// Per-site daemon settings.
    pub sites: BTreeMap<String, SiteConfig>,
    /// The REST API's settings.
    pub api: ApiConfig,
}

const DEFAULT_POOL_SIZE: usize = 16;

impl Config {
    /// Fails, naming the sites it knows, unless `site` is one: a `[sites.NAME]` in the
    /// configuration file, or a cluster of that name in `registry.cluster` (a cluster's tasks
    /// go to the site of its name). A typo in `--site` would otherwise run, or enqueue for,
    /// a site no daemon serves, silently.
    pub async fn ensure_known_site(&self, pool: &DbPool, site: &str) -> anyhow::Result<()> {
        if self.sites.contains_key(site) {
            return Ok(());
        }
        let client = pool
            .connection()
            .await
            .context("cannot look up the registry's clusters")?;
        let clusters = queue::cluster_sites(&client)
            .await
            .context("cannot look up the registry's clusters")?;
        if clusters.iter().any(|cluster| cluster == site) {
            return Ok(());
        }
        let where_not = match &self.file {
            Some(file) => format!("{} has no [sites.{site}]", file.display()),
            None => format!("no --config file gives [sites.{site}]"),
        };
        let known: BTreeSet<&str> = self
            .sites
            .keys()
            .chain(&clusters)
            .map(String::as_str)
            .collect();
        let known = if known.is_empty() {
            "no site is known yet: add a cluster to the registry or a [sites.NAME] section"
                .to_string()
        } else {
            format!(
                "known sites: {}",
                known.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        bail!(
            "unknown site {site:?}: {where_not} and registry.cluster has no cluster of that name ({known})"
        )
    }
}

impl FileConfig {
    /// Reads and parses the file; a missing file or an unknown key is an error naming it.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).map_err(|error| {
            let line = error
                .span()
                .map(|span| text[..span.start].matches('\n').count() + 1)
                .map(|line| format!(", line {line}"))
                .unwrap_or_default();
            anyhow::anyhow!(
                "invalid config file {}{line}: {}",
                path.display(),
                error.message()
            )
        })
    }
}

/// Merges the file (if any) with the environment and the `--database-url` flag (which clap
/// has already merged with `PURSER_DATABASE_URL`).
pub fn resolve(
    config_file: Option<&PathBuf>,
    database_url_flag: Option<&str>,
) -> anyhow::Result<Config> {
    let file = match config_file {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    let database_pool_size = match std::env::var("PURSER_DATABASE_POOL_SIZE") {
        Ok(value) => value.parse().with_context(|| {
            format!("PURSER_DATABASE_POOL_SIZE must be a whole number, not {value:?}")
        })?,
        Err(_) => file.database_pool_size.unwrap_or(DEFAULT_POOL_SIZE),
    };
    if database_pool_size == 0 {
        bail!("database_pool_size must be at least 1");
    }
    let database_url = match database_url_flag.map(str::to_string).or(file.database_url) {
        Some(url) => url,
        None => match dev_db::running_url()? {
            Some(url) => url,
            None => bail!(
                "no database configured: pass --database-url, set PURSER_DATABASE_URL, \
                 put database_url in a --config file, or start the private one with `purser dev-db start`"
            ),
        },
    };
    Ok(Config {
        file: config_file.cloned(),
        database_url,
        database_pool_size,
        sites: file.sites,
        api: file.api,
    })
}
