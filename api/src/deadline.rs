//! Request deadlines. Every request runs under one ([`enforce`], the middleware): past it the
//! request is answered 503, and a statement it still has running is cancelled and its
//! connection discarded, so a stuck statement (one waiting on a lock an admin's psql holds, say)
//! never goes back to the pool to stall the requests after it. The API's sessions also carry a
//! `statement_timeout` and `lock_timeout` just under the deadline ([`statement_limit`]), so
//! PostgreSQL gives up by itself first whenever one statement is the slow part.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use purser_sql::DbPool;

use crate::AppState;
use crate::problem::ApiError;

tokio::task_local! {
    /// The deadline of the request this task is serving.
    static REQUEST: Arc<Deadline>;
}

/// Whether a request's deadline has passed; shared by the middleware and the request's
/// connections.
#[derive(Debug, Default)]
struct Deadline {
    passed: AtomicBool,
}

/// How long one statement of a request may run, or wait for a lock: a tenth (at most a second)
/// under the request's deadline, so the statement's own error arrives before the deadline does.
pub fn statement_limit(request_timeout: Duration) -> Duration {
    request_timeout.saturating_sub((request_timeout / 10).min(Duration::from_secs(1)))
}

/// A pooled connection taken for a request. Dropped after its request's deadline has passed
/// (the request's future is dropped with a statement possibly still running), it cancels what
/// the session is running and leaves the pool, closed: it is never handed to another request.
pub struct Connection {
    client: Option<deadpool_postgres::Client>,
    deadline: Option<Arc<Deadline>>,
}

impl Connection {
    /// Takes a connection from `pool` for the request this task serves (outside a request, such
    /// as in a background task, a plain pooled connection).
    pub async fn take(pool: &DbPool) -> Result<Self, ApiError> {
        let client = pool.connection().await?;
        Ok(Self {
            client: Some(client),
            deadline: REQUEST.try_with(Arc::clone).ok(),
        })
    }
}

impl Deref for Connection {
    type Target = deadpool_postgres::Client;

    fn deref(&self) -> &Self::Target {
        // The client is taken only in `drop`.
        self.client.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.client.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let expired = self
            .deadline
            .as_ref()
            .is_some_and(|deadline| deadline.passed.load(Ordering::Acquire));
        if !expired {
            return; // back to the pool
        }
        let cancel = client.cancel_token();
        let detached = deadpool_postgres::Client::take(client);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // closing the connection is all that is left to do
        };
        runtime.spawn(async move {
            if let Err(error) = cancel.cancel_query(tokio_postgres::NoTls).await {
                tracing::warn!(error = %error, "cannot cancel the statement of a timed-out request");
            }
            drop(detached);
        });
    }
}

/// Answers 503 when a request runs past the configured timeout (its transaction, if any, is
/// rolled back and its statement cancelled as its future is dropped), and logs each request at
/// debug level.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let deadline = Arc::new(Deadline::default());
    let mut running = Box::pin(REQUEST.scope(Arc::clone(&deadline), next.run(request)));
    let response = match tokio::time::timeout(state.request_timeout, &mut running).await {
        Ok(response) => response,
        Err(_) => {
            deadline.passed.store(true, Ordering::Release);
            drop(running);
            let detail = format!(
                "the request took longer than {} ms",
                state.request_timeout.as_millis()
            );
            tracing::warn!(http.method = %method, http.path = %path, "{detail}");
            ApiError::Unavailable(detail).into_response()
        }
    };
    tracing::debug!(
        http.method = %method,
        http.path = %path,
        http.status = response.status().as_u16(),
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    response
}
