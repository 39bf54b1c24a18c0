//! The thin REST front-end: validates, authorizes, writes the registry and enqueues tasks in
//! one transaction, then returns. It never calls an external system itself.
//!
//! - [`auth`] and [`oidc`]: who is calling (API tokens, OIDC JWTs) and the roles they hold.
//! - [`mod@write`]: the one-transaction write path, with `Idempotency-Key` replay.
//! - [`page`]: cursor pagination; [`extract`]: request parsing whose errors are problems;
//!   [`validate`]: requests checked against the OpenAPI document; [`rules`]: the field rules
//!   (patterns, enumerations) the document states; [`problem`]: RFC 9457 errors and how
//!   database errors map to statuses.
//! - [`routes`]: the endpoints under `/v1`, one module per resource.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the handlers' annotations;
//!   [`reference`]: the markdown endpoint reference rendered from it (docs/api-reference.md).

pub mod auth;
pub mod extract;
pub mod oidc;
pub mod openapi;
pub mod page;
pub mod problem;
pub mod reference;
pub mod routes;
pub mod rules;
pub mod validate;
pub mod write;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use purser_sql::DbPool;

use crate::oidc::OidcVerifier;
use crate::problem::ApiError;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub pool: DbPool,
    /// OIDC verification, when configured.
    pub oidc: Option<Arc<OidcVerifier>>,
    /// How long a request may take before it is answered 503.
    pub request_timeout: Duration,
}

/// The largest body most endpoints accept.
pub const BODY_LIMIT: usize = 64 * 1024;
/// The largest usage batch body.
pub const USAGE_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// The whole API: `/v1/…`, `/healthz`, `/readyz` and `/v1/openapi.json`.
pub fn router(state: AppState) -> Router {
    let (api, document) = openapi::routes().split_for_parts();
    let document = Arc::new(document);
    api.route(
        "/v1/openapi.json",
        axum::routing::get(move || {
            let document = Arc::clone(&document);
            async move { axum::Json(document.as_ref().clone()) }
        }),
    )
    .fallback(not_found)
    .method_not_allowed_fallback(method_not_allowed)
    .layer(DefaultBodyLimit::max(BODY_LIMIT))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        deadline,
    ))
    .with_state(state)
}

/// Answers 503 when a request runs past the configured timeout (its transaction, if any, is
/// rolled back as its future is dropped), and logs each request at debug level.
async fn deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
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

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed(
        "this path does not take that method; see /v1/openapi.json".to_string(),
    )
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see /v1/openapi.json".to_string())
}

/// Serves the API on `listener` until `shutdown` completes, then finishes the requests in
/// flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let prune = tokio::spawn(routes::health::prune_idempotency_keys(state.clone()));
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    prune.abort();
    served
}
