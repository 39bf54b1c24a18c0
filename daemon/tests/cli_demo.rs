//! `purser demo`, the README's main job, run as a user runs it: the whole story through the API
//! with daemons running the example site scripts, on a database of the test's own.

#![allow(clippy::unwrap_used)]

mod support;

use purser_sql::test_harness::TestDatabase;

/// Runs `purser demo` from the repository root, where its examples are.
fn demo(database: &TestDatabase) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_purser"))
        .arg("demo")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env("PURSER_DATABASE_URL", database.url())
        .env_remove("PURSER_CONFIG")
        .output()
        .expect("the purser binary runs")
}

#[tokio::test]
async fn the_demo_walks_the_story_through_the_api_and_the_site_scripts() {
    let database = TestDatabase::empty().await;
    let output = demo(&database);
    let story = support::stdout(&output);
    for line in [
        "change request",
        "APPROVED: diff",
        "allocation.sync on expanse: succeeded after 1 attempt(s), applied account:che260001",
        "membership.sync on expanse: succeeded after 1 attempt(s), applied association:che260001/barbara",
        "7 records: 6 charges, 1 rejected",
        "Barbara on che260001: charged 16.000000 of her 1000 SU cap",
        "denied: not under cap",
    ] {
        assert!(
            story.contains(line),
            "the demo's output lacks {line:?}:\n{story}"
        );
    }
    let balance = story
        .lines()
        .find(|line| line.trim_start().starts_with("che260001"))
        .unwrap();
    let columns: Vec<&str> = balance.split_whitespace().collect();
    assert_eq!(
        columns,
        [
            "che260001",
            "50000",
            "10000",
            "12016.000000",
            "47984.000000"
        ]
    );
    let client = database.pool().connection().await.unwrap();
    let violations: i64 = client
        .query_one("SELECT count(*) FROM report.ledger_violations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(violations, 0);
}

#[tokio::test]
async fn the_demo_refuses_a_database_that_already_holds_the_demo_centre() {
    let database = TestDatabase::empty().await;
    support::stdout(&demo(&database));
    let again = demo(&database);
    assert!(!again.status.success());
    let error = String::from_utf8_lossy(&again.stderr);
    assert!(
        error.contains("the demo needs a database without it"),
        "{error}"
    );
}
