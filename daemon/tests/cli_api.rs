//! `purser api` as an operator runs it: it serves on the address it is given, answers the
//! health checks, refuses an address it cannot bind or a database it cannot reach, and stops
//! cleanly on SIGTERM.

#![allow(clippy::unwrap_used)]

mod support;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use purser_sql::test_harness::TestDatabase;

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn the_api_serves_health_checks_and_stops_on_sigterm() {
    let database = TestDatabase::new().await;
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(["api", "--listen", &format!("127.0.0.1:{port}")])
        .env("PURSER_DATABASE_URL", database.url())
        .env_remove("PURSER_CONFIG")
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    support::wait_until("the API answers /readyz", || async {
        http.get(&ready)
            .send()
            .await
            .is_ok_and(|response| response.status() == 200)
    })
    .await;
    let unauthenticated = http
        .get(format!("http://127.0.0.1:{port}/v1/clusters"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    kill(
        Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = tokio::time::timeout(support::DEADLINE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn an_address_in_use_is_a_one_line_error() {
    let database = TestDatabase::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = support::purser(&database, &["api", "--listen", &address]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains(&format!("cannot listen on {address}")),
        "{error}"
    );
}

#[tokio::test]
async fn the_api_listens_on_a_host_name() {
    let database = TestDatabase::new().await;
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(["api", "--listen", &format!("localhost:{port}")])
        .env("PURSER_DATABASE_URL", database.url())
        .env_remove("PURSER_CONFIG")
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let ready = format!("http://localhost:{port}/readyz");
    support::wait_until("the API answers on localhost", || async {
        http.get(&ready)
            .send()
            .await
            .is_ok_and(|response| response.status() == 200)
    })
    .await;
    child.kill().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_database_stops_the_api_at_start_with_one_line() {
    // Nothing listens on this port: the connection is refused at once.
    let database_port = free_port();
    let database_url = format!("postgresql://purser@127.0.0.1:{database_port}/purser");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(["api", "--listen", &format!("127.0.0.1:{}", free_port())])
        .env("PURSER_DATABASE_URL", &database_url)
        .env_remove("PURSER_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(support::DEADLINE, child.wait_with_output())
        .await
        .expect("the API exits by itself when it cannot reach its database")
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error = String::from_utf8_lossy(&output.stderr);
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(
        error.starts_with(&format!(
            "error: the API cannot start without its database: cannot connect to PostgreSQL at purser@127.0.0.1:{database_port}/purser"
        )),
        "{error}"
    );
}
