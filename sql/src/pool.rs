//! The connection pool every part of Purser uses, and the helpers that run a named statement
//! with its parameters bound by name ([`crate::bind!`]).
//!
//! Connections are checked on the way out of the pool, so after a PostgreSQL restart the
//! broken ones are dropped and new ones made: a pool never stays dead.

use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};

use crate::bind::Binding;
use crate::error::{DbError, flatten_pg_error};
use crate::statements::Statement;

/// How long a new connection may take before we give up on the server.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of connections to one database, which knows where it points for its messages.
#[derive(Debug, Clone)]
pub struct DbPool {
    pool: Pool,
    target: String,
}

impl DbPool {
    /// Takes a connection, turning a failure into a one-line [`DbError::Connect`].
    pub async fn connection(&self) -> Result<deadpool_postgres::Client, DbError> {
        self.pool.get().await.map_err(|error| {
            let reason = match &error {
                deadpool_postgres::PoolError::Backend(pg) => flatten_pg_error(pg),
                other => other.to_string(),
            };
            DbError::Connect {
                target: self.target.clone(),
                reason,
            }
        })
    }

    /// Where the pool points: user, host, port and database, never the password.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Closes the pool: idle connections are dropped now, busy ones when they come back.
    pub fn close(&self) {
        self.pool.close();
    }
}

/// Parses a PostgreSQL URL (or libpq key=value string) and builds a pool of at most `max_size`
/// connections. No connection is made until one is asked for.
pub fn connect_pool(url: &str, max_size: usize) -> Result<DbPool, DbError> {
    build_pool(url, max_size, None)
}

/// Builds a pool as [`connect_pool`] does, whose sessions give up on any statement that runs,
/// or waits for a lock, longer than `statement_limit` (`statement_timeout` and `lock_timeout`):
/// for callers that answer within a deadline, so PostgreSQL stops the work nobody waits for. A
/// URL whose `options` set either setting keeps its own.
pub fn connect_pool_bounded(
    url: &str,
    max_size: usize,
    statement_limit: Duration,
) -> Result<DbPool, DbError> {
    build_pool(url, max_size, Some(statement_limit))
}

fn build_pool(
    url: &str,
    max_size: usize,
    statement_limit: Option<Duration>,
) -> Result<DbPool, DbError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|error| DbError::InvalidUrl(flatten_pg_error(&error)))?;
    if config.get_application_name().is_none() {
        config.application_name("purser");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    // Every statement Purser prepares is a short lookup or update whose right plan does not
    // depend on its parameters. Custom plans for the first executions would be costed with the
    // real array sizes against statistics that may be stale (a queue's `running` rows come and
    // go between ANALYZEs) and can pick a scan of the whole table. Generic plans are stable;
    // admins' own queries in psql are not affected. Options a URL gives replace these.
    let mut options = config
        .get_options()
        .unwrap_or("-c plan_cache_mode=force_generic_plan")
        .to_string();
    if let Some(limit) = statement_limit {
        let milliseconds = limit.as_millis().max(1);
        for setting in ["statement_timeout", "lock_timeout"] {
            if !options.contains(setting) {
                options.push_str(&format!(" -c {setting}={milliseconds}"));
            }
        }
    }
    config.options(&options);
    let target = describe_target(&config);
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(DEFAULT_CONNECT_TIMEOUT * 2))
        .build()
        .map_err(|error| DbError::Connect {
            target: target.clone(),
            reason: error.to_string(),
        })?;
    Ok(DbPool { pool, target })
}

/// Where a config points, for messages: user, host, port and database, never the password.
fn describe_target(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_string());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("(default user)");
    let dbname = config.get_dbname().unwrap_or("(default database)");
    format!("{user}@{host}:{port}/{dbname}")
}

/// Runs a statement and returns its rows.
pub async fn query(client: &impl GenericClient, binding: Binding<'_>) -> Result<Vec<Row>, DbError> {
    let statement = binding.statement();
    let prepared = prepare(client, statement).await?;
    client
        .query(&prepared, binding.values())
        .await
        .map_err(|error| DbError::Statement { statement, error })
}

/// Runs a statement that returns exactly one row.
pub async fn query_one(client: &impl GenericClient, binding: Binding<'_>) -> Result<Row, DbError> {
    let statement = binding.statement();
    let prepared = prepare(client, statement).await?;
    client
        .query_one(&prepared, binding.values())
        .await
        .map_err(|error| DbError::Statement { statement, error })
}

/// Runs a statement and returns how many rows it touched.
pub async fn execute(client: &impl GenericClient, binding: Binding<'_>) -> Result<u64, DbError> {
    let statement = binding.statement();
    let prepared = prepare(client, statement).await?;
    client
        .execute(&prepared, binding.values())
        .await
        .map_err(|error| DbError::Statement { statement, error })
}

/// Prepares a statement once per connection (the pool caches it).
pub async fn prepare(
    client: &impl GenericClient,
    statement: Statement,
) -> Result<tokio_postgres::Statement, DbError> {
    client
        .prepare_cached(statement.text)
        .await
        .map_err(|error| DbError::Statement { statement, error })
}

/// Begins a transaction on a pooled connection.
pub async fn begin(
    client: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>, DbError> {
    client
        .transaction()
        .await
        .map_err(|error| DbError::Transaction {
            action: "begin",
            error,
        })
}

/// Commits a transaction.
pub async fn commit(transaction: deadpool_postgres::Transaction<'_>) -> Result<(), DbError> {
    transaction
        .commit()
        .await
        .map_err(|error| DbError::Transaction {
            action: "commit",
            error,
        })
}

/// Runs a statement whose rows carry one JSON column `item` and deserializes each into `T`:
/// the API's statements render their rows in SQL, so the representation lives beside the query.
pub async fn query_items<T: serde::de::DeserializeOwned>(
    client: &impl GenericClient,
    binding: Binding<'_>,
) -> Result<Vec<T>, DbError> {
    let statement = binding.statement();
    query(client, binding)
        .await?
        .iter()
        .map(|row| {
            row.try_get::<_, tokio_postgres::types::Json<T>>("item")
                .map(|json| json.0)
                .map_err(|error| DbError::Statement { statement, error })
        })
        .collect()
}
