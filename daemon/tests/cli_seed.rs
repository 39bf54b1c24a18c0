//! `purser seed demo` loads a consistent sample centre, once.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::process::{Command, Output};

use purser_sql::test_harness::TestDatabase;

fn seed(database: &TestDatabase) -> Output {
    Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(["seed", "demo"])
        .env("PURSER_DATABASE_URL", database.url())
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_demo_centre_loads_once_and_is_consistent() {
    let database = TestDatabase::new().await;
    let output = seed(&database);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("3 allocations"));

    let client = database.pool().connection().await.unwrap();
    let count = |sql: &'static str| {
        let client = &client;
        async move { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(count("SELECT count(*) FROM registry.cluster").await, 2);
    assert_eq!(count("SELECT count(*) FROM report.desired_access").await, 7);
    assert_eq!(
        count("SELECT count(*) FROM report.allocations_expiring").await,
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM report.ledger_violations").await,
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM registry.resource_rate").await,
        4
    );

    // A second load is refused whole: one line, nothing added.
    let again = seed(&database);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is it loaded already?"), "{stderr}");
    assert_eq!(count("SELECT count(*) FROM registry.person").await, 6);
}
