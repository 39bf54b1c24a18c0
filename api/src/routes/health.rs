//! `/healthz` (the process is up) and `/readyz` (the database answers and has exactly the
//! migrations this binary expects), for load balancers and orchestrators; and the pruning of
//! old idempotency keys, which the API runs in the background.

use std::time::Duration;

use axum::http::StatusCode;
use purser_sql::bind;
use purser_sql::pool::{execute, query_one};
use purser_sql::statements::{API_IDEMPOTENCY_PRUNE, API_READINESS};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::problem::ApiError;

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// The health routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".to_string(),
    })
}

/// What `/readyz` answers, to anyone, when the database cannot be reached: nothing of where it
/// is or whom Purser logs in as. The log has the detail.
pub const DATABASE_UNAVAILABLE: &str = "database unavailable";

/// The database answers and is migrated to this binary's schema.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, body = Health), (status = 503, body = crate::problem::Problem,
        content_type = "application/problem+json", description = "Not ready")))]
async fn readyz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<(StatusCode, axum::Json<Health>), ApiError> {
    let applied = applied_migration(&state).await.map_err(|error| {
        tracing::warn!(database = %state.pool.target(), error = %error, "not ready: {DATABASE_UNAVAILABLE}");
        ApiError::Unavailable(DATABASE_UNAVAILABLE.to_string())
    })?;
    let expected = purser_sql::migrations::known()
        .last()
        .map(|migration| migration.version);
    if applied != expected {
        tracing::warn!(
            applied = applied.map_or("none".to_string(), |version| version.to_string()),
            expected = expected.map_or("none".to_string(), |version| version.to_string()),
            "not ready: the database's migrations differ from this purser's: run purser migrate"
        );
        return Err(ApiError::Unavailable(
            "the database's migrations differ from this purser's".to_string(),
        ));
    }
    Ok((
        StatusCode::OK,
        axum::Json(Health {
            status: "ok".to_string(),
        }),
    ))
}

/// The highest migration the database has applied. (A failure's detail is logged where it is
/// turned into an [`ApiError`].)
async fn applied_migration(state: &AppState) -> Result<Option<i64>, ApiError> {
    let client = state.connection().await?;
    let row = query_one(&*client, bind!(API_READINESS)).await?;
    Ok(row.get("version"))
}

/// How often old idempotency keys are pruned, and how many per statement.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
const PRUNE_BATCH: i64 = 1000;

/// Deletes idempotency keys older than 24 hours, in small batches, every ten minutes.
pub async fn prune_idempotency_keys(state: AppState) {
    let mut ticks = tokio::time::interval(PRUNE_EVERY);
    loop {
        ticks.tick().await;
        let Ok(client) = state.connection().await else {
            continue;
        };
        loop {
            match execute(&*client, bind!(API_IDEMPOTENCY_PRUNE, limit = &PRUNE_BATCH)).await {
                Ok(deleted) if deleted == u64::try_from(PRUNE_BATCH).unwrap_or(0) => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(error = %error, "cannot prune idempotency keys");
                    break;
                }
            }
        }
    }
}
