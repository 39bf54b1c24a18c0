//! `purser migrate`, `purser schema` and configuration, run as the real binary.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::process::{Command, Output};

use purser_sql::test_harness::TestDatabase;

fn purser(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(args)
        .env_remove("PURSER_DATABASE_URL")
        .env_remove("PURSER_CONFIG")
        .env("PURSER_DEV_DB_DIR", "/nonexistent/purser-dev-db")
        .output()
        .expect("the purser binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A one-line `error: …` and a non-zero exit, never a panic or a backtrace.
fn assert_one_line_error(output: &Output, expected: &str) {
    let text = stderr(output);
    assert!(
        !output.status.success(),
        "expected failure, got success: {text}"
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert_eq!(text.lines().count(), 1, "expected one line, got: {text}");
    assert!(text.starts_with("error: "), "{text}");
    assert!(text.contains(expected), "expected {expected:?} in: {text}");
    assert!(
        !text.contains("panicked") && !text.contains("backtrace"),
        "{text}"
    );
}

#[test]
fn migrate_against_an_unreachable_database_exits_non_zero_with_a_one_line_reason() {
    let output = purser(&[
        "migrate",
        "--database-url",
        "postgresql://purser@127.0.0.1:1/purser",
    ]);
    assert_one_line_error(
        &output,
        "cannot connect to PostgreSQL at purser@127.0.0.1:1/purser",
    );
}

#[test]
fn migrate_with_a_malformed_url_names_the_problem() {
    let output = purser(&[
        "migrate",
        "--database-url",
        "postgresql://purser@host:notaport/x",
    ]);
    assert_one_line_error(&output, "invalid database URL");
}

#[test]
fn migrate_with_no_database_configured_says_how_to_configure_one() {
    let output = purser(&["migrate"]);
    assert_one_line_error(&output, "no database configured");
}

#[test]
fn a_config_file_with_an_unknown_key_is_rejected_naming_the_key_and_line() {
    let directory = std::env::temp_dir().join(format!("purser-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let file = directory.join("purser.toml");
    std::fs::write(
        &file,
        "database_pool_size = 4\ndatabse_url = \"postgresql://x/y\"\n",
    )
    .unwrap();
    let output = purser(&["migrate", "--config", file.to_str().unwrap()]);
    assert_one_line_error(&output, "line 2: unknown field `databse_url`");
    std::fs::remove_dir_all(directory).unwrap();
}

#[tokio::test]
async fn migrate_lists_then_applies_then_does_nothing() {
    let database = TestDatabase::empty().await;
    let url = database.url();

    let dry_run = purser(&["migrate", "--dry-run", "--database-url", url]);
    assert!(dry_run.status.success(), "{}", stderr(&dry_run));
    assert!(
        stdout(&dry_run).contains("Would apply"),
        "{}",
        stdout(&dry_run)
    );
    assert!(stdout(&dry_run).contains("V1__schemas"));
    let client = database.pool().connection().await.unwrap();
    let history: Option<String> = client
        .query_one(
            "SELECT to_regclass('public.refinery_schema_history')::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(history, None, "--dry-run must change nothing");

    let first = purser(&["migrate", "--database-url", url]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).contains("Applied"), "{}", stdout(&first));
    assert!(stdout(&first).contains("V1__schemas"));

    let second = purser(&["migrate", "--database-url", url]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stdout(&second).starts_with("Nothing to apply"),
        "{}",
        stdout(&second)
    );
}

#[tokio::test]
async fn migrate_refuses_a_database_from_a_newer_purser() {
    let database = TestDatabase::new().await;
    database.pretend_a_newer_purser_migrated().await;
    let output = purser(&["migrate", "--database-url", database.url()]);
    assert_one_line_error(&output, "V9999__from_the_future");
}

#[tokio::test]
async fn the_environment_overrides_the_config_file() {
    let database = TestDatabase::new().await;
    let directory = std::env::temp_dir().join(format!("purser-env-test-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let file = directory.join("purser.toml");
    std::fs::write(
        &file,
        "database_url = \"postgresql://nobody@127.0.0.1:1/nothing\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(["schema", "--config", file.to_str().unwrap()])
        .env("PURSER_DATABASE_URL", database.url())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("queue: The task queue"),
        "{}",
        stdout(&output)
    );
    std::fs::remove_dir_all(directory).unwrap();
}
