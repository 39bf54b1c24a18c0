//! A lost database: while PostgreSQL is down the API answers 503 problem documents and writes
//! nothing; when it is back, the API reconnects by itself.

use std::time::Duration;

use chrono::Utc;
use purser_api::AppState;
use purser_sql::auth::{NewToken, create_token};
use purser_sql::local_cluster::{ClusterSettings, LocalCluster};
use serde_json::json;

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
    for detail in ["database unavailable", "purser_secret_user", "purser_secret_db", &port] {
        assert!(logged.contains(detail), "the log lacks {detail}: {logged}");
    }
}
