//! `purser task …` and the daemon's metrics endpoint, run as the real binary.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use purser_sql::queue;
use purser_sql::test_harness::TestDatabase;
use support::{add_cluster, purser, stdout, wait_until};

/// `purser task enqueue --site expanse ARGS…`, returning the new task's id.
fn enqueue(database: &TestDatabase, args: &[&str]) -> i64 {
    let mut all = vec!["task", "enqueue", "--site", "expanse"];
    all.extend_from_slice(args);
    stdout(&purser(database, &all)).parse().expect("an id")
}

#[tokio::test]
async fn task_commands_enqueue_list_show_cancel_retry_and_count() {
    let database = TestDatabase::new().await;
    add_cluster(&database, "expanse").await;
    let first = enqueue(
        &database,
        &[
            "--kind",
            "slurm.account.ensure",
            "--payload",
            r#"{"account": "abc123"}"#,
        ],
    );
    let second = enqueue(
        &database,
        &[
            "--kind",
            "noop",
            "--depends-on",
            &first.to_string(),
            "--priority",
            "-5",
        ],
    );

    let listed = stdout(&purser(
        &database,
        &["task", "list", "--site", "expanse", "--json"],
    ));
    let ids: Vec<i64> = listed
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, vec![second, first], "newest first");
    let waiting = stdout(&purser(&database, &["task", "list", "--state", "waiting"]));
    assert!(waiting.contains(&second.to_string()) && !waiting.contains("slurm.account.ensure"));

    let shown = stdout(&purser(&database, &["task", "show", &second.to_string()]));
    assert!(
        shown.contains("waiting") && shown.contains(&format!("[{first}]")),
        "{shown}"
    );
    assert!(shown.contains("attempts:"), "{shown}");

    assert!(
        stdout(&purser(&database, &["task", "cancel", &first.to_string()])).contains("cancelled")
    );
    let dependent = stdout(&purser(
        &database,
        &["task", "show", &second.to_string(), "--json"],
    ));
    let dependent: serde_json::Value = serde_json::from_str(&dependent).unwrap();
    assert_eq!(dependent["state"], "cancelled");
    assert!(
        dependent["last_error"]
            .as_str()
            .unwrap()
            .contains("was cancelled")
    );

    assert!(stdout(&purser(&database, &["task", "retry", &first.to_string()])).contains("queued"));
    let stats = stdout(&purser(&database, &["task", "stats"]));
    assert!(
        stats.contains("slurm.account.ensure") && stats.contains("queued"),
        "{stats}"
    );
}

#[tokio::test]
async fn task_commands_reject_bad_input_with_one_line_naming_it() {
    let database = TestDatabase::new().await;
    add_cluster(&database, "expanse").await;
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "task",
                "enqueue",
                "--site",
                "expanse",
                "--kind",
                "noop",
                "--payload",
                "{\"a\": \"\\u0000\"}",
            ],
            "--payload holds the NUL character (\\u0000) at \"/a\"",
        ),
        (
            &[
                "task",
                "enqueue",
                "--site",
                "expanse",
                "--kind",
                "noop",
                "--payload",
                "{not json",
            ],
            "--payload is not valid JSON",
        ),
        (
            &["task", "enqueue", "--site", "expanse", "--kind", "Bad Kind"],
            "kind",
        ),
        (&["task", "show", "999999"], "task 999999 does not exist"),
        (&["task", "cancel", "999999"], "task 999999 does not exist"),
    ];
    for (args, expected) in cases {
        let output = purser(&database, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let client = database.pool().connection().await.unwrap();
    assert!(
        queue::list(
            &client,
            &queue::TaskFilter {
                limit: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .is_empty()
    );
}

#[tokio::test]
async fn enqueue_for_an_unknown_site_says_the_site_is_unknown_and_enqueues_nothing() {
    let database = TestDatabase::new().await;
    add_cluster(&database, "expanse").await;
    let output = purser(
        &database,
        &["task", "enqueue", "--site", "nosuchsite", "--kind", "noop"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(r#"unknown site "nosuchsite""#) && stderr.contains("known sites: expanse"),
        "{stderr}"
    );

    // A site of the config file is known too, with no cluster of its name.
    let config = std::env::temp_dir().join(format!("purser-enqueue-{}.toml", std::process::id()));
    std::fs::write(&config, "[sites.scripts]\n").unwrap();
    let configured = purser(
        &database,
        &[
            "task",
            "enqueue",
            "--site",
            "scripts",
            "--kind",
            "noop",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    stdout(&configured);
    std::fs::remove_file(config).unwrap();

    let client = database.pool().connection().await.unwrap();
    let tasks = queue::list(
        &client,
        &queue::TaskFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let sites: Vec<&str> = tasks.iter().map(|task| task.site.as_str()).collect();
    assert_eq!(sites, vec!["scripts"]);
}

#[tokio::test]
async fn the_daemon_serves_prometheus_metrics_with_queue_depth_and_outcomes() {
    let database = TestDatabase::new().await;
    add_cluster(&database, "metrics").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(["daemon", "--site", "metrics", "--metrics-addr", &address])
        .env("PURSER_DATABASE_URL", database.url())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    stdout(&purser(
        &database,
        &["task", "enqueue", "--site", "metrics", "--kind", "noop"],
    ));
    stdout(&purser(
        &database,
        &[
            "task",
            "enqueue",
            "--site",
            "metrics",
            "--kind",
            "unknown.kind",
        ],
    ));

    let scrape = || {
        let mut stream = std::net::TcpStream::connect(&address).ok()?;
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response)
    };
    wait_until("the noop task's success shows in the metrics", || async {
        scrape().is_some_and(|text| {
            text.contains(
                r#"purser_task_outcomes_total{site="metrics",kind="noop",outcome="succeeded"} 1"#,
            )
        })
    })
    .await;
    let text = scrape().unwrap();
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );
    assert!(
        text.contains(r#"purser_queue_tasks{site="metrics",kind="unknown.kind",state="queued"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"purser_tasks_claimed_total{site="metrics"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("purser_task_duration_seconds_count"),
        "{text}"
    );
    assert!(
        text.contains(r#"purser_lease_losses_total{site="metrics"} 0"#),
        "{text}"
    );

    kill(
        Pid::from_raw(i32::try_from(daemon.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    assert!(daemon.wait().unwrap().success());
}

#[tokio::test]
async fn an_over_long_dedupe_key_or_lane_is_refused_with_one_line_naming_it() {
    let database = TestDatabase::new().await;
    add_cluster(&database, "expanse").await;
    let long = "x".repeat(10_000);
    for (flag, expected) in [
        ("--dedupe-key", "dedupe_key must be at most 256 characters"),
        ("--lane", "lane must be at most 256 characters"),
    ] {
        let output = purser(
            &database,
            &[
                "task", "enqueue", "--site", "expanse", "--kind", "noop", flag, &long,
            ],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{flag}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{flag}: {stderr}");
        assert!(stderr.contains(expected), "{flag}: {stderr}");
        assert!(!stderr.contains("_length"), "no constraint name: {stderr}");
    }
}
