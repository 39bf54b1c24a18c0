//! Helpers shared by the daemon's integration tests.

#![allow(dead_code)] // Each test file uses the parts it needs.

use std::time::Duration;

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(180);

/// Waits until `condition` holds, polling it, and fails the test at the deadline.
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
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

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
