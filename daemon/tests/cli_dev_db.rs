//! `purser dev-db`: a private, durable PostgreSQL started from the installed binaries.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::process::{Command, Output};

fn purser(dev_db_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(args)
        .env("PURSER_DEV_DB_DIR", dev_db_dir)
        .env_remove("PURSER_DATABASE_URL")
        .env_remove("PURSER_CONFIG")
        .output()
        .expect("the purser binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[tokio::test]
async fn dev_db_starts_serves_tcp_with_a_password_is_used_by_default_stops_saying_so_and_status_fails_when_stopped()
 {
    let dir = std::env::temp_dir().join(format!("purser-devdb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    let started = purser(&dir, &["dev-db", "start", "--tcp"]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let tcp_url = stdout(&started);
    assert!(tcp_url.contains("@127.0.0.1:"), "{tcp_url}");
    assert_eq!(stdout(&purser(&dir, &["dev-db", "url", "--tcp"])), tcp_url);

    // A second start finds it running and hands out the same socket URL `url` does.
    let socket_url = stdout(&purser(&dir, &["dev-db", "start"]));
    assert!(
        socket_url.starts_with("postgresql://postgres@/purser?host="),
        "{socket_url}"
    );
    assert_eq!(stdout(&purser(&dir, &["dev-db", "url"])), socket_url);
    let (client, connection) = tokio_postgres::connect(&tcp_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let fsync: String = client.query_one("SHOW fsync", &[]).await.unwrap().get(0);
    assert_eq!(fsync, "on", "the dev database is durable");
    drop(client);

    // Without a password, TCP is refused.
    let without_password = tcp_url.replacen(
        &tcp_url[tcp_url.find(':').unwrap() + 3..tcp_url.find('@').unwrap()],
        "postgres",
        1,
    );
    assert!(
        tokio_postgres::connect(&without_password, tokio_postgres::NoTls)
            .await
            .is_err()
    );

    // Commands with no database configured use the running dev database.
    let migrated = purser(&dir, &["migrate"]);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(stdout(&migrated).contains("V1__schemas"));

    let status = purser(&dir, &["dev-db", "status"]);
    assert!(status.status.success());
    assert!(
        stdout(&status).starts_with("running (pid "),
        "{}",
        stdout(&status)
    );

    let stopped = purser(&dir, &["dev-db", "stop"]);
    assert!(stopped.status.success());
    assert_eq!(
        stdout(&stopped),
        format!("stopped the dev database in {}", dir.display())
    );
    let stopped_again = purser(&dir, &["dev-db", "stop"]);
    assert!(stopped_again.status.success(), "stopping is idempotent");
    assert_eq!(
        stdout(&stopped_again),
        format!(
            "the dev database in {} was not running: nothing to stop",
            dir.display()
        )
    );
    let status = purser(&dir, &["dev-db", "status"]);
    assert_eq!(
        status.status.code(),
        Some(1),
        "status fails when it is not running"
    );
    assert_eq!(
        String::from_utf8_lossy(&status.stderr).trim(),
        format!(
            "error: the dev database in {} is not running: start it with `purser dev-db start`",
            dir.display()
        )
    );
    let url_when_stopped = purser(&dir, &["dev-db", "url"]);
    assert!(!url_when_stopped.status.success());

    std::fs::remove_dir_all(&dir).unwrap();
}
