//! `purser schedule add|list|remove`, run as the real binary: a schedule added is listed, a
//! second add changes it, remove removes it; bad input fails with one sentence naming the field;
//! two `purser daemon` processes of the site, configured with `schedule_interval`, fire an
//! added schedule.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use purser_sql::test_harness::TestDatabase;
use support::{Daemons, add_cluster, purser, scalar, scratch, spawn_daemon, stdout, wait_until};

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
        "error: cannot add the schedule: schedule_every failed: every must be from 1 second to 10 years, not 00:00:00.5"
    );
    assert!(
        refusal(&add(&["--site", "expanse", "--every", "1month"]))
            .contains("months and years have no fixed length"),
        "a month is refused"
    );
    assert!(
        refusal(&add(&[
            "--site",
            "expanse",
            "--every",
            "1h",
            "--first-run-at",
            "2026-12-01"
        ]))
        .contains("write it as RFC 3339, such as 2026-12-01T02:00:00Z"),
        "a date without a time is refused saying how to write one"
    );
    let long_name = "n".repeat(10_000);
    let refused = refusal(&purser(
        &database,
        &[
            "schedule",
            "add",
            &long_name,
            "--kind",
            "site.sync",
            "--site",
            "expanse",
            "--every",
            "1h",
        ],
    ));
    assert!(
        refused.len() < 400 && refused.contains("up to 200"),
        "an over-long name is refused without echoing it: {refused}"
    );
    assert!(
        refusal(&add(&["--site", "nowhere", "--every", "1h"]))
            .starts_with("error: unknown site \"nowhere\""),
        "an unknown site is named"
    );
    assert!(listed(&database, &[]).is_empty());
}

#[tokio::test]
async fn two_daemons_fire_a_schedule_added_from_the_command_line_and_run_its_task_once() {
    let database = TestDatabase::new().await;
    add_cluster(&database, "expanse").await;
    let dir = scratch("schedule-daemons");
    let config = dir.join("purser.toml");
    std::fs::write(
        &config,
        "[sites.expanse]\nschedule_interval = \"50ms\"\npoll_interval = \"100ms\"\n",
    )
    .unwrap();
    stdout(&purser(
        &database,
        &[
            "schedule", "add", "tick", "--site", "expanse", "--kind", "noop", "--every", "1h",
        ],
    ));
    let daemons = Daemons(vec![
        spawn_daemon(&database, &config, "expanse", "first.log"),
        spawn_daemon(&database, &config, "expanse", "second.log"),
    ]);
    wait_until("both daemons started", || async {
        ["first.log", "second.log"].iter().all(|log| {
            std::fs::read_to_string(dir.join(log)).is_ok_and(|text| text.contains("daemon started"))
        })
    })
    .await;
    wait_until("the schedule's task ran", || async {
        scalar(
            database.pool(),
            "SELECT count(*) FROM queue.task WHERE kind = 'noop' AND state = 'succeeded'",
        )
        .await
            == 1
    })
    .await;
    daemons.stop().await;
    assert_eq!(
        scalar(database.pool(), "SELECT count(*) FROM queue.task").await,
        1,
        "one period, one task"
    );
    let fired = &listed(&database, &[])[0];
    assert!(fired["last_task_id"].is_i64(), "{fired}");
}
