//! Helpers shared by the daemon's integration tests.

#![allow(dead_code, unused_imports)] // Each test file uses the parts it needs.

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
