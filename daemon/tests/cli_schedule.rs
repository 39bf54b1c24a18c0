//! `purser schedule add|list|remove`, run as the real binary: a schedule added is listed, a
//! second add changes it, remove removes it; bad input fails with one sentence naming the field.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use purser_sql::test_harness::TestDatabase;
use support::{add_cluster, purser, stdout};

/// The stderr of a command that must fail.
fn refusal(output: &std::process::Output) -> String {
    assert!(!output.status.success(), "it should have failed");
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}

/// `purser schedule list --json ARGS…`, one object per schedule.
fn listed(database: &TestDatabase, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["schedule", "list", "--json"];
    all.extend_from_slice(args);
    stdout(&purser(database, &all))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn schedules_are_added_listed_changed_and_removed_from_the_command_line() {
    let database = TestDatabase::new().await;
    add_cluster(&database, "expanse").await;
    add_cluster(&database, "delta").await;
    let added = stdout(&purser(
        &database,
        &[
            "schedule",
            "add",
            "nightly-sync",
            "--site",
            "expanse",
            "--kind",
            "site.sync",
            "--every",
            "1d",
            "--payload",
            r#"{"full": true}"#,
            "--first-run-at",
            "2027-01-01T02:00:00Z",
        ],
    ));
    assert_eq!(
        added,
        "schedule nightly-sync enqueues site.sync on expanse every 1day, next at 2027-01-01 02:00:00 UTC"
    );
    stdout(&purser(
        &database,
        &[
            "schedule",
            "add",
            "delta-hourly",
            "--site",
            "delta",
            "--kind",
            "site.sync",
            "--every",
            "1h",
        ],
    ));

    let expanse = listed(&database, &["--site", "expanse"]);
    assert_eq!(expanse.len(), 1);
    assert_eq!(expanse[0]["name"], "nightly-sync");
    assert_eq!(expanse[0]["every_seconds"], 86_400.0);
    assert_eq!(expanse[0]["payload"], serde_json::json!({"full": true}));
    assert_eq!(expanse[0]["next_run_at"], "2027-01-01T02:00:00Z");
    assert_eq!(listed(&database, &[]).len(), 2);
    let table = stdout(&purser(&database, &["schedule", "list"]));
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("nightly-sync"), "{table}");

    // Adding again changes it, keeping its next run.
    stdout(&purser(
        &database,
        &[
            "schedule",
            "add",
            "nightly-sync",
            "--site",
            "expanse",
            "--kind",
            "site.sync",
            "--every",
            "12h",
        ],
    ));
    let changed = &listed(&database, &["--site", "expanse"])[0];
    assert_eq!(changed["every"], "12h");
    assert_eq!(changed["next_run_at"], "2027-01-01T02:00:00Z");

    assert_eq!(
        stdout(&purser(&database, &["schedule", "remove", "nightly-sync"])),
        "schedule nightly-sync is removed"
    );
    assert_eq!(
        refusal(&purser(&database, &["schedule", "remove", "nightly-sync"])),
        "error: schedule nightly-sync does not exist (purser schedule list shows them)"
    );
    assert!(listed(&database, &["--site", "expanse"]).is_empty());
}

#[tokio::test]
async fn a_bad_duration_payload_period_or_site_is_refused_in_one_sentence_naming_the_field() {
    let database = TestDatabase::new().await;
    add_cluster(&database, "expanse").await;
    let add = |extra: &[&str]| {
        let mut all = vec!["schedule", "add", "sync", "--kind", "site.sync"];
        all.extend_from_slice(extra);
        purser(&database, &all)
    };
    assert_eq!(
        refusal(&add(&["--site", "expanse", "--every", "fortnightly"])),
        "error: --every \"fortnightly\" is not a duration: write it like 30s, 15m, 1h or 1d"
    );
    assert_eq!(
        refusal(&add(&[
            "--site",
            "expanse",
            "--every",
            "1h",
            "--payload",
            "{nope"
        ])),
        "error: --payload is not valid JSON: give a JSON object such as '{\"key\": 1}'"
    );
    assert_eq!(
        refusal(&add(&["--site", "expanse", "--every", "500ms"])),
        "error: cannot add schedule sync: schedule_every failed: every must be from 1 second to 10 years, not 00:00:00.5"
    );
    assert!(
        refusal(&add(&["--site", "nowhere", "--every", "1h"]))
            .starts_with("error: unknown site \"nowhere\""),
        "an unknown site is named"
    );
    assert!(listed(&database, &[]).is_empty());
}
