//! The thin REST front-end: validates, authorizes, writes the registry (or a task a caller
//! enqueues) with its audit actor in one transaction, then returns. A registry write enqueues
//! no task: each site's reconciler plans what the site needs from it. It never calls an
//! external system itself.
//!
//! - [`auth`] and [`oidc`]: who is calling (API tokens, OIDC JWTs) and the roles they hold.
//! - [`deadline`]: every request's deadline, and the statements it cancels.
//! - [`mod@write`]: the one-transaction write path, with `Idempotency-Key` replay.
//! - [`page`]: cursor pagination; [`extract`]: request parsing whose errors are problems;
//!   [`validate`]: requests checked against the OpenAPI document; [`rules`]: the field rules
//!   (patterns, enumerations) the document states; [`problem`]: RFC 9457 errors and how
//!   database errors map to statuses.
//! - [`routes`]: the endpoints under `/v1`, one module per resource.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the handlers' annotations;
//!   [`reference`]: the markdown endpoint reference rendered from it (docs/api-reference.md).

pub mod auth;
pub mod deadline;
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
use axum::extract::DefaultBodyLimit;
use purser_sql::{DbError, DbPool};

use crate::deadline::Connection;
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

impl AppState {
    /// The state of an API on the database at `url`, with a pool of `pool_size` connections
    /// whose statements are limited to just under `request_timeout`
    /// ([`deadline::statement_limit`]).
    pub fn connect(
        url: &str,
        pool_size: usize,
        oidc: Option<Arc<OidcVerifier>>,
        request_timeout: Duration,
    ) -> Result<Self, DbError> {
        let statement_limit = deadline::statement_limit(request_timeout);
        Ok(Self {
            pool: purser_sql::connect_pool_bounded(url, pool_size, statement_limit)?,
            oidc,
            request_timeout,
        })
    }

    /// A connection for the request this task serves, given up if the request's deadline
    /// passes while it is in use ([`deadline::Connection`]).
    pub async fn connection(&self) -> Result<Connection, ApiError> {
        Connection::take(&self.pool).await
    }
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
        deadline::enforce,
    ))
    .with_state(state)
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
