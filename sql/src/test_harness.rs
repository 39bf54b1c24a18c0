//! Databases for tests: each test gets its own, cloned from a template migrated once.
//!
//! One private cluster serves a whole test run (every test binary and, under nextest, every
//! test process): the first process to need it starts it under a file lock, the others find
//! it running. Its directory is `PURSER_TEST_CLUSTER_DIR`, by default
//! `$TMPDIR/purser-test-cluster-UID`; `deployments/dev/test` gives each run a fresh one and
//! stops it at the end. `PURSER_TEST_DATABASE_URL` points the harness at an existing server
//! instead (it needs the right to create databases).
//!
//! The template is named by the migrations' fingerprint, so a changed migration gets a new
//! template and an unchanged one is reused. A test's database is
//! `CREATE DATABASE … TEMPLATE …`, which copies files and takes milliseconds. A passing test
//! drops its database; a failing one keeps it and prints its URL for a look in psql.
//!
//! [`wait_until`] is how tests wait: on a condition, with a deadline, never a bare sleep.
//! [`apply_actions`] is the reconciler's test connector: the managed system, in process.

use std::path::PathBuf;

use tokio::sync::OnceCell;

use crate::catalog;
use crate::local_cluster::{ClusterSettings, LocalCluster, RunningCluster};
use crate::pool::{DbPool, connect_pool};

/// Connections each test's pool may hold.
const TEST_POOL_SIZE: usize = 8;

/// The server the harness uses, found or started once per process.
#[derive(Debug)]
struct TestServer {
    /// A URL template for a database on it: `{database}` is replaced by a database name.
    url_pattern: String,
    /// The template database every test database is cloned from.
    template: String,
    /// The cluster, when the harness started its own.
    cluster: Option<LocalCluster>,
}

impl TestServer {
    fn url(&self, database: &str) -> String {
        self.url_pattern.replace("{database}", database)
    }
}

static SERVER: OnceCell<TestServer> = OnceCell::const_new();

/// A database of a test's own, dropped when the test passes and kept when it fails.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    pool: DbPool,
    admin_url: String,
}

impl TestDatabase {
    /// Creates a fresh, migrated database for the calling test.
    ///
    /// # Panics
    /// When no PostgreSQL can be started or reached: tests cannot run without one.
    pub async fn new() -> Self {
        Self::create(true).await
    }

    /// Creates a fresh database with nothing in it, not even migrations.
    ///
    /// # Panics
    /// As [`TestDatabase::new`].
    pub async fn empty() -> Self {
        Self::create(false).await
    }

    async fn create(migrated: bool) -> Self {
        let server = SERVER
            .get_or_init(|| async {
                match prepare_server().await {
                    Ok(server) => server,
                    Err(message) => panic!("test harness: {message}"),
                }
            })
            .await;
        let name = database_name_for_current_test();
        let admin_url = server.url("postgres");
        let admin = admin_pool(&admin_url);
        let created = if migrated {
            catalog::create_database_from_template(&admin, &name, &server.template).await
        } else {
            catalog::ensure_database(&admin, &name).await
        };
        created.unwrap_or_else(|error| panic!("test harness: {error}"));
        admin.close();
        let url = server.url(&name);
        let pool = connect_pool(&url, TEST_POOL_SIZE)
            .unwrap_or_else(|error| panic!("test harness: cannot make a pool for {name}: {error}"));
        Self {
            name,
            url,
            pool,
            admin_url,
        }
    }

    /// The pool for this test's database.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// The URL of this test's database, for a `purser` child process or psql.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL of this test's database for logging in as `role` with `password` (the private
    /// cluster trusts its socket and ignores the password; another server checks it).
    ///
    /// # Panics
    /// When the database's URL is not a `postgresql://` URL.
    pub fn url_as(&self, role: &str, password: &str) -> String {
        url_with_user(&self.url, role, password)
            .unwrap_or_else(|| panic!("test harness: {} is not a URL", self.url))
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes the database look migrated by a newer purser: its history gains a migration this
    /// binary does not know, `V9999__from_the_future`.
    ///
    /// # Panics
    /// When the database cannot be written.
    pub async fn pretend_a_newer_purser_migrated(&self) {
        let client = self
            .pool
            .connection()
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        client
            .batch_execute(
                "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
                 VALUES (9999, 'from_the_future', '2030-01-01T00:00:00Z', '1')",
            )
            .await
            .unwrap_or_else(|error| panic!("cannot add a migration from the future: {error}"));
    }

    /// The private cluster the harness started, when it started one (not with
    /// `PURSER_TEST_DATABASE_URL`): for tests that restart the server.
    pub fn cluster() -> Option<&'static LocalCluster> {
        SERVER.get().and_then(|server| server.cluster.as_ref())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test database kept for inspection: psql '{}'", self.url);
            return;
        }
        self.pool.close();
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop cannot await, and the test's runtime may be single-threaded: use a thread of our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let admin = admin_pool(&admin_url);
                catalog::drop_database(&admin, &name).await?;
                admin.close();
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!(
                "test harness: could not drop {}; it is left behind",
                self.name
            );
        }
    }
}

async fn prepare_server() -> Result<TestServer, String> {
    let (url_pattern, cluster) = match std::env::var("PURSER_TEST_DATABASE_URL") {
        Ok(url) => (url_pattern_from(&url)?, None),
        Err(_) => {
            let (cluster, running) = start_test_cluster().await?;
            (running.url("{database}"), Some(cluster))
        }
    };
    let template = format!("purser_template_{}", crate::migrations::fingerprint());
    let server = TestServer {
        url_pattern,
        template,
        cluster,
    };
    ensure_template(&server).await?;
    Ok(server)
}

async fn start_test_cluster() -> Result<(LocalCluster, RunningCluster), String> {
    let root = std::env::var_os("PURSER_TEST_CLUSTER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("purser-test-cluster-{}", nix::unistd::geteuid()))
        });
    tokio::task::spawn_blocking(move || {
        let cluster = LocalCluster::new(root).map_err(|error| error.to_string())?;
        let running = cluster
            .start(ClusterSettings::TESTING, false)
            .map_err(|error| error.to_string())?;
        Ok((cluster, running))
    })
    .await
    .map_err(|error| error.to_string())?
}

/// Turns a URL for some database into a pattern with `{database}` in the database's place.
fn url_pattern_from(url: &str) -> Result<String, String> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|error| format!("PURSER_TEST_DATABASE_URL is not a PostgreSQL URL: {error}"))?;
    let (before_query, query) = url
        .split_once('?')
        .map_or((url, None), |(base, query)| (base, Some(query)));
    let base = match config.get_dbname() {
        Some(dbname) if before_query.ends_with(&format!("/{dbname}")) => {
            before_query[..before_query.len() - dbname.len()].to_string()
        }
        _ if before_query.ends_with('/') => before_query.to_string(),
        _ => format!("{before_query}/"),
    };
    Ok(match query {
        Some(query) => format!("{base}{{database}}?{query}"),
        None => format!("{base}{{database}}"),
    })
}

/// `url` with `role` and `password` in place of its user; `None` when it is not a URL.
fn url_with_user(url: &str, role: &str, password: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host_start = rest[..authority_end].rfind('@').map_or(0, |at| at + 1);
    Some(format!(
        "{scheme}://{role}:{password}@{}",
        &rest[host_start..]
    ))
}

/// Makes the template database if no earlier process did: migrate a database of our own, then
/// rename it into place, so the template appears complete or not at all.
async fn ensure_template(server: &TestServer) -> Result<(), String> {
    let admin = admin_pool(&server.url("postgres"));
    let client = admin
        .connection()
        .await
        .map_err(|error| error.to_string())?;
    if catalog::database_exists(&client, &server.template)
        .await
        .map_err(|error| error.to_string())?
    {
        return Ok(());
    }
    drop(client);
    let building = format!("{}_{}", server.template, std::process::id());
    catalog::drop_database(&admin, &building)
        .await
        .map_err(|error| error.to_string())?;
    catalog::ensure_database(&admin, &building)
        .await
        .map_err(|error| error.to_string())?;
    let pool = connect_pool(&server.url(&building), 1).map_err(|error| error.to_string())?;
    crate::migrations::apply(&pool)
        .await
        .map_err(|error| format!("cannot migrate the template database: {error}"))?;
    pool.close();
    if let Err(rename_error) = catalog::rename_database(&admin, &building, &server.template).await {
        // Another process may have made the template first, so ours is surplus.
        catalog::drop_database(&admin, &building)
            .await
            .map_err(|error| error.to_string())?;
        let client = admin
            .connection()
            .await
            .map_err(|error| error.to_string())?;
        let made_elsewhere = catalog::database_exists(&client, &server.template)
            .await
            .map_err(|error| error.to_string())?;
        if !made_elsewhere {
            return Err(format!(
                "cannot put the template database in place: {rename_error}"
            ));
        }
    }
    admin.close();
    Ok(())
}

fn admin_pool(url: &str) -> DbPool {
    connect_pool(url, 1).unwrap_or_else(|error| panic!("test harness: {error}"))
}

/// `purser_test_<test name>_<random>`, within PostgreSQL's 63-byte limit.
fn database_name_for_current_test() -> String {
    let thread = std::thread::current();
    let test_name = thread.name().unwrap_or("test");
    let last_segment = test_name.rsplit("::").next().unwrap_or(test_name);
    let cleaned: String = last_segment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(36)
        .collect();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..10];
    format!("purser_test_{cleaned}_{suffix}")
}

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(180);

/// Waits until `condition` holds, polling it, and fails the test at [`DEADLINE`].
pub async fn wait_until<F, Fut>(what: &str, condition: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The reconciler's test connector: runs every ready `CONNECTOR.apply` task of `site`, one
/// claim after another (its lane lets one run at a time), as a connector that applied the
/// action and read the site back would: the task's target is reported observed (nothing, for
/// a delete). Returns how many it ran.
pub async fn apply_actions(
    pool: &DbPool,
    site: &str,
    connector: &str,
    clock: &crate::queue::Clock,
) -> Result<usize, crate::DbError> {
    use crate::queue::{self, ClaimRequest, Completion, ObservedState, WorkerIdentity};
    let client = pool.connection().await?;
    let worker = WorkerIdentity {
        id: uuid::Uuid::now_v7(),
        site: site.to_string(),
        hostname: "test connector".to_string(),
        pid: 0,
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    queue::register_worker(&client, &worker).await?;
    let kinds = vec![format!("{connector}.apply")];
    let limited = std::collections::BTreeMap::new();
    let mut ran = 0;
    loop {
        let claimed = queue::claim(
            &client,
            &ClaimRequest {
                site,
                worker_id: worker.id,
                kinds: &kinds,
                limited_kinds: &limited,
                limit: 100,
                lease: std::time::Duration::from_secs(30),
            },
            clock,
        )
        .await?;
        if claimed.is_empty() {
            return Ok(ran);
        }
        for task in claimed {
            let subject = task.payload["subject"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let target = task.payload["to"].clone();
            let completion = Completion {
                id: task.id,
                attempt: task.attempt,
                result: None,
                applied: Vec::new(),
                observation: Some(ObservedState {
                    connector: connector.to_string(),
                    snapshot: false,
                    subjects: vec![(subject, (!target.is_null()).then_some(target), true)],
                }),
            };
            queue::complete(&client, &[completion], clock).await?;
            ran += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{url_pattern_from, url_with_user};

    #[test]
    fn a_url_for_another_role_replaces_the_user_and_keeps_the_rest() {
        assert_eq!(
            url_with_user(
                "postgresql://postgres@/db?host=/tmp/x&port=5432",
                "site_a",
                "pw"
            )
            .unwrap(),
            "postgresql://site_a:pw@/db?host=/tmp/x&port=5432"
        );
        assert_eq!(
            url_with_user(
                "postgresql://ci:secret@db.example.org:5433/ci",
                "site_a",
                "pw"
            )
            .unwrap(),
            "postgresql://site_a:pw@db.example.org:5433/ci"
        );
        assert_eq!(
            url_with_user("postgresql://localhost/ci", "site_a", "pw").unwrap(),
            "postgresql://site_a:pw@localhost/ci"
        );
        assert!(url_with_user("host=/tmp dbname=ci", "site_a", "pw").is_none());
    }

    #[test]
    fn an_existing_servers_url_becomes_a_pattern_for_any_database() {
        assert_eq!(
            url_pattern_from("postgresql://ci@db.example.org:5433/ci_database?sslmode=disable")
                .unwrap(),
            "postgresql://ci@db.example.org:5433/{database}?sslmode=disable"
        );
        assert_eq!(
            url_pattern_from("postgresql://ci@/postgres?host=/run/postgresql").unwrap(),
            "postgresql://ci@/{database}?host=/run/postgresql"
        );
        assert_eq!(
            url_pattern_from("postgresql://ci@localhost").unwrap(),
            "postgresql://ci@localhost/{database}"
        );
        assert!(url_pattern_from("not a url at all ===").is_err());
    }
}
