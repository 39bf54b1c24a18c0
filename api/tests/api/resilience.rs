//! A lost database: while PostgreSQL is down the API answers 503 problem documents and writes
//! nothing; when it is back, the API reconnects by itself. A request stuck behind a lock
//! answers 503 at its deadline and leaves nothing running that would stall the requests after
//! it.

use std::time::Duration;

use chrono::Utc;
use purser_api::AppState;
use purser_sql::auth::{NewToken, create_token};
use purser_sql::local_cluster::{ClusterSettings, LocalCluster};
use purser_sql::test_harness::wait_until;
use reqwest::Method;
use serde_json::json;

use crate::support::{ALAN, AppOptions, TestApp, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_503_while_postgresql_is_down_and_recovers_by_itself() {
    // A cluster of this test's own: stopping the shared one would disturb other tests.
    let root = std::env::temp_dir().join(format!("purser-api-restart-{}", uuid::Uuid::new_v4()));
    let cluster = LocalCluster::new(&root).unwrap();
    let url = cluster
        .start(ClusterSettings::TESTING, false)
        .unwrap()
        .url("postgres");
    let pool = purser_sql::connect_pool(&url, 4).unwrap();
    purser_sql::migrations::apply(&pool).await.unwrap();
    let (_, secret) = create_token(
        &pool.connection().await.unwrap(),
        &NewToken {
            name: "restart test".to_string(),
            role: "admin".to_string(),
            person_id: None,
            site: None,
            expires_at: Utc::now() + chrono::Duration::hours(1),
        },
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState {
        pool: pool.clone(),
        oidc: None,
        request_timeout: Duration::from_secs(30),
    };
    tokio::spawn(purser_api::serve(listener, state, std::future::pending()));
    let http = reqwest::Client::new();
    let create = || {
        http.post(format!("{base}/v1/organizations"))
            .bearer_auth(&secret)
            .json(&json!({"name": "Written Once"}))
            .send()
    };
    let status = |response: reqwest::Result<reqwest::Response>| response.unwrap().status().as_u16();
    let ready = || http.get(format!("{base}/readyz")).send();
    assert_eq!(status(ready().await), 200);

    let stopping = cluster.clone();
    tokio::task::spawn_blocking(move || stopping.stop().unwrap())
        .await
        .unwrap();
    let refused = create().await.unwrap();
    assert_eq!(refused.status().as_u16(), 503);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(status(ready().await), 503);

    let starting = cluster.clone();
    tokio::task::spawn_blocking(move || starting.start(ClusterSettings::TESTING, false).unwrap())
        .await
        .unwrap();
    crate::support::wait_until("the API is ready again", || async {
        ready().await.is_ok_and(|response| response.status() == 200)
    })
    .await;
    // Had the refused write landed, the same name would now be a 409.
    assert_eq!(status(create().await), 201);

    pool.close();
    tokio::task::spawn_blocking(move || cluster.stop().unwrap())
        .await
        .unwrap();
    std::fs::remove_dir_all(root).unwrap();
}

/// Log lines written while it is alive, for tests that check what is logged. The API runs on
/// the test's own (current-thread) runtime, so the thread's subscriber sees its events.
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLog {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn readyz_with_the_database_unreachable_answers_database_unavailable_and_logs_where() {
    let log = CapturedLog::default();
    let writer = log.clone();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    );
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://purser_secret_user@127.0.0.1:{port}/purser_secret_db");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState {
        pool: purser_sql::connect_pool(&url, 2).unwrap(),
        oidc: None,
        request_timeout: Duration::from_secs(30),
    };
    tokio::spawn(purser_api::serve(listener, state, std::future::pending()));
    let response = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let text = response.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["detail"], "database unavailable");
    let port = port.to_string();
    for secret in ["purser_secret_user", "purser_secret_db", "127.0.0.1", &port] {
        assert!(!text.contains(secret), "the answer names {secret}: {text}");
    }
    // The operator finds the detail in the log.
    let logged = log.text();
    for detail in [
        "database unavailable",
        "purser_secret_user",
        "purser_secret_db",
        &port,
    ] {
        assert!(logged.contains(detail), "the log lacks {detail}: {logged}");
    }
}

/// Alan's membership, locked by an open transaction as an admin's psql would hold it: returns
/// the connection holding the lock and the membership's path.
async fn lock_alans_membership(app: &TestApp) -> (deadpool_postgres::Client, String) {
    let membership: uuid::Uuid = app
        .scalar(
            "SELECT m.id FROM registry.membership m JOIN registry.person p ON p.id = m.person_id \
             WHERE p.email = $1",
            ALAN,
        )
        .await;
    let holder = app.db.pool().connection().await.unwrap();
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM registry.membership WHERE id = '{membership}' FOR UPDATE"
        ))
        .await
        .unwrap();
    (holder, format!("/v1/memberships/{membership}"))
}

/// A write to the locked membership answers 503; then reads, one at a time, all answer 200
/// while the lock is still held.
async fn a_stuck_write_then_reads(app: &TestApp, path: &str) {
    app.call(
        Some("admin"),
        Method::PATCH,
        path,
        Some(json!({"cap_su": "10"})),
    )
    .await
    .expect(503);
    for _ in 0..4 {
        app.get("reader", path).await.expect(200);
        app.get("reader", "/v1/organizations").await.expect(200);
    }
}

/// Backends of the test's database waiting for a lock.
async fn waiting_for_locks(app: &TestApp) -> i64 {
    app.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
        app.db.name(),
    )
    .await
}

#[tokio::test]
async fn a_write_stuck_behind_a_held_lock_gives_up_and_the_reads_after_it_all_answer() {
    let app = spawn_app_with(AppOptions {
        request_timeout: Some(Duration::from_secs(1)),
        ..AppOptions::default()
    })
    .await;
    let (holder, path) = lock_alans_membership(&app).await;
    a_stuck_write_then_reads(&app, &path).await;
    assert_eq!(waiting_for_locks(&app).await, 0);
    drop(holder);
}

#[tokio::test]
async fn a_request_past_its_deadline_has_its_statement_cancelled_and_its_connection_discarded() {
    // The sessions' own statement and lock timeouts are off: only the deadline acts.
    let app = spawn_app_with(AppOptions {
        request_timeout: Some(Duration::from_secs(1)),
        session_options: Some("-c statement_timeout=0 -c lock_timeout=0"),
        ..AppOptions::default()
    })
    .await;
    let (holder, path) = lock_alans_membership(&app).await;
    a_stuck_write_then_reads(&app, &path).await;
    wait_until(
        "the timed-out statement no longer waits for the lock",
        || async { waiting_for_locks(&app).await == 0 },
    )
    .await;
    drop(holder);
    let unchanged: bool = app
        .scalar(
            "SELECT cap_su = 5000 FROM registry.membership WHERE id = $1::text::uuid",
            path.trim_start_matches("/v1/memberships/"),
        )
        .await;
    assert!(unchanged, "the timed-out write left nothing behind");
}
