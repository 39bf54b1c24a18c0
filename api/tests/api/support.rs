//! `spawn_app()`: the API on a free loopback port over a fresh test database holding the demo
//! centre, with a token for each role and helpers to call it as any of them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as TimeDelta, Utc};
use purser_api::AppState;
use purser_api::oidc::OidcVerifier;
use purser_sql::auth::{NewToken, create_token, person_by_email};
use purser_sql::test_harness::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

/// The demo centre's people the tests act as.
pub const ADA: &str = "ada@esu.example"; // PI of che260001 (expanse) and bio7 (delta)
pub const ALAN: &str = "alan@esu.example"; // member of che260001, cap 5000
pub const GRACE: &str = "grace@cit.example"; // PI of phy260002 (expanse)
pub const BARBARA: &str = "barbara@cit.example"; // no memberships

/// A running API and what the tests need to call it.
pub struct TestApp {
    /// http://127.0.0.1:PORT
    pub address: String,
    /// The test's database.
    pub db: TestDatabase,
    /// Secrets by caller name: admin, reader, daemon (site expanse), pi (Ada), member (Alan),
    /// other_pi (Grace).
    pub tokens: HashMap<&'static str, String>,
    /// The HTTP client.
    pub http: reqwest::Client,
}

/// A response: status, headers and JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The body's field, for chaining.
    pub fn field(&self, name: &str) -> &Value {
        &self.body[name]
    }

    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected reply: {:#}",
            self.body
        );
        self
    }
}

/// Options of the app under test.
#[derive(Default)]
pub struct AppOptions {
    pub oidc: Option<purser_api::oidc::OidcConfig>,
    pub request_timeout: Option<Duration>,
    /// More `-c name=value` settings for the API's sessions.
    pub session_options: Option<&'static str>,
}

/// Starts the API over a new database with the demo centre and a token per role.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

/// Starts the API with options.
pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let db = TestDatabase::new().await;
    let client = db.pool().connection().await.unwrap();
    purser_sql::seed::demo_centre(&client).await.unwrap();
    let mut tokens = HashMap::new();
    for (name, role, email, site) in [
        ("admin", "admin", None, None),
        ("reader", "reader", None, None),
        ("daemon", "daemon", None, Some("expanse")),
        ("pi", "pi", Some(ADA), None),
        ("member", "member", Some(ALAN), None),
        ("other_pi", "pi", Some(GRACE), None),
    ] {
        let person_id = match email {
            Some(email) => person_by_email(&client, email).await.unwrap(),
            None => None,
        };
        let (_, secret) = create_token(
            &client,
            &NewToken {
                name: format!("test {name}"),
                role: role.to_string(),
                person_id,
                site: site.map(str::to_string),
                expires_at: Utc::now() + TimeDelta::days(1),
            },
        )
        .await
        .unwrap();
        tokens.insert(name, secret);
    }
    let oidc = match options.oidc {
        Some(config) => Some(Arc::new(OidcVerifier::load(config).await.unwrap())),
        None => None,
    };
    // The API runs as the purser_api role, as a deployment grants it, so every test also
    // checks that the role's grants suffice. Fixtures and checks use the owner's pool.
    let separator = if db.url().contains('?') { '&' } else { '?' };
    let more_options = options
        .session_options
        .map(|more| format!(" {more}").replace(' ', "%20").replace('=', "%3D"))
        .unwrap_or_default();
    let api_url = format!(
        "{}{separator}options=-c%20role%3Dpurser_api%20-c%20plan_cache_mode%3Dforce_generic_plan{more_options}",
        db.url()
    );
    let request_timeout = options.request_timeout.unwrap_or(Duration::from_secs(30));
    let state = AppState::connect(&api_url, 8, oidc, request_timeout).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(purser_api::serve(listener, state, std::future::pending()));
    TestApp {
        address,
        db,
        tokens,
        http: reqwest::Client::new(),
    }
}

impl TestApp {
    /// Calls the API as `caller` (a key of `tokens`, or a raw `Bearer` credential when it is not
    /// one; None for no credentials) with an optional JSON body.
    pub async fn call(
        &self,
        caller: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        self.call_with(caller, method, path, body, &[]).await
    }

    /// Calls with extra headers.
    pub async fn call_with(
        &self,
        caller: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.address));
        if let Some(caller) = caller {
            let credential = self.tokens.get(caller).map_or(caller, String::as_str);
            request = request.bearer_auth(credential);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        reply(request.send().await.unwrap()).await
    }

    /// Sends raw bytes with a content type.
    pub async fn send_raw(
        &self,
        caller: &str,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let request = self
            .http
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(&self.tokens[caller])
            .header("content-type", content_type)
            .body(body);
        reply(request.send().await.unwrap()).await
    }

    pub async fn get(&self, caller: &str, path: &str) -> Reply {
        self.call(Some(caller), Method::GET, path, None).await
    }

    pub async fn post(&self, caller: &str, path: &str, body: Value) -> Reply {
        self.call(Some(caller), Method::POST, path, Some(body))
            .await
    }

    /// A person's id by email.
    pub async fn person(&self, email: &str) -> Uuid {
        let client = self.db.pool().connection().await.unwrap();
        person_by_email(&client, email).await.unwrap().unwrap()
    }

    /// The id of the allocation with this account name.
    pub async fn allocation(&self, account: &str) -> Uuid {
        self.scalar(
            "SELECT id FROM registry.allocation WHERE account_name = $1",
            account,
        )
        .await
    }

    /// The id of the cluster with this name.
    pub async fn cluster(&self, name: &str) -> Uuid {
        self.scalar("SELECT id FROM registry.cluster WHERE name = $1", name)
            .await
    }

    /// One value from the database, for fixtures and for checking what an API call wrote.
    pub async fn scalar<T: for<'a> tokio_postgres::types::FromSql<'a>>(
        &self,
        sql: &str,
        arg: &str,
    ) -> T {
        let client = self.db.pool().connection().await.unwrap();
        client.query_one(sql, &[&arg]).await.unwrap().get(0)
    }

    /// How many rows a query counts.
    pub async fn count(&self, sql: &str) -> i64 {
        let client = self.db.pool().connection().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        content_type,
        headers,
        body,
    }
}

pub use purser_sql::test_harness::wait_until;
