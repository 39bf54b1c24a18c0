//! Helpers shared by the daemon's integration tests.

#![allow(dead_code, unused_imports)] // Each test file uses the parts it needs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use purser_sql::DbPool;
use purser_sql::test_harness::TestDatabase;

pub use purser_sql::test_harness::{DEADLINE, wait_until};

/// Runs the purser binary against a test's database.
pub fn purser(
    database: &purser_sql::test_harness::TestDatabase,
    args: &[&str],
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(args)
        .env("PURSER_DATABASE_URL", database.url())
        .env_remove("PURSER_CONFIG")
        .output()
        .expect("the purser binary runs")
}

/// A successful command's stdout, trimmed; fails the test with its stderr otherwise.
pub fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Adds a cluster to the registry, which makes its name a known site.
pub async fn add_cluster(database: &purser_sql::test_harness::TestDatabase, name: &str) {
    let client = database.pool().connection().await.expect("a connection");
    client
        .execute("INSERT INTO registry.cluster (name) VALUES ($1)", &[&name])
        .await
        .expect("the cluster is added");
}

/// A scratch directory for one test: config, scripts, daemon logs.
pub fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("purser-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Writes an executable shell script at `path`.
pub fn write_script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("the script is written");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .expect("the script is executable");
}

/// Starts `purser daemon`, logging to a file in `dir` (a pipe nobody reads could block it).
pub fn spawn_daemon(database: &TestDatabase, config: &Path, site: &str, log_name: &str) -> Child {
    let config = config.to_str().expect("a UTF-8 path");
    spawn_purser(
        database,
        &["daemon", "--site", site, "--config", config],
        &Path::new(config).with_file_name(log_name),
    )
}

/// Starts `purser ARGS…` with no configuration file but what `args` give, its stderr (the log)
/// going to `log`.
pub fn spawn_purser(database: &TestDatabase, args: &[&str], log: &Path) -> Child {
    spawn_purser_at(database.url(), args, log)
}

/// The same, connecting to `url` (e.g. the test's database as another role).
pub fn spawn_purser_at(url: &str, args: &[&str], log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("a log file");
    Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(args)
        .env("PURSER_DATABASE_URL", url)
        .env("PURSER_LOG", "info")
        .env_remove("PURSER_CONFIG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the daemon starts")
}

/// Sends `signal` to a child process.
pub fn signal(child: &Child, signal: Signal) {
    kill(
        Pid::from_raw(i32::try_from(child.id()).expect("a pid")),
        signal,
    )
    .expect("the signal is sent");
}

/// The one value of a one-row, one-column query.
pub async fn scalar(pool: &DbPool, sql: &str) -> i64 {
    let client = pool.connection().await.expect("a connection");
    client
        .query_one(sql, &[])
        .await
        .expect("the query runs")
        .get(0)
}

/// Waits, with the deadline, for a child process to exit.
pub async fn wait_for_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited on") {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the daemon did not exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Daemon processes of one test: stopped with SIGTERM by [`Daemons::stop`], or killed if the
/// test fails first, so no daemon outlives its test.
pub struct Daemons(pub Vec<Child>);

impl Daemons {
    /// Sends SIGTERM to each daemon and waits for each to exit cleanly.
    pub async fn stop(mut self) {
        for daemon in &self.0 {
            signal(daemon, Signal::SIGTERM);
        }
        for daemon in &mut self.0 {
            let status = wait_for_exit(daemon).await;
            assert!(status.success(), "{status:?}");
        }
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        for daemon in &mut self.0 {
            if matches!(daemon.try_wait(), Ok(None)) {
                let _ = daemon.kill();
                let _ = daemon.wait();
            }
        }
    }
}
