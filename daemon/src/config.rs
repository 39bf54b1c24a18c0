//! Configuration: a TOML file (`--config`), overridden by environment variables, overridden
//! by command-line flags. Where no database is configured, a running `purser dev-db` is used.
//!
//! ```toml
//! database_url = "postgresql://purser@db.example.org/purser"
//! database_pool_size = 16
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::commands::dev_db;

/// The settings file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The PostgreSQL URL (overridden by `PURSER_DATABASE_URL` and `--database-url`).
    pub database_url: Option<String>,
    /// Connections in the pool (overridden by `PURSER_DATABASE_POOL_SIZE`).
    pub database_pool_size: Option<usize>,
}

/// Settings after file, environment and flags are merged.
#[derive(Debug)]
pub struct Config {
    /// The PostgreSQL URL to use.
    pub database_url: String,
    /// Connections in the pool.
    pub database_pool_size: usize,
}

const DEFAULT_POOL_SIZE: usize = 16;

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
        database_url,
        database_pool_size,
    })
}
