//! `/v1/audit`: the append-only change log, newest first, by table, row, actor and time.
//! Admins and readers only.

use axum::extract::State;
use chrono::{DateTime, Utc};
use purser_sql::bind;
use purser_sql::statements::API_AUDIT_LIST;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::Params;
use crate::openapi::Problems;
use crate::page::Page;
use crate::problem::ApiError;
use crate::routes::{Paged, list};
use crate::rules::Limit;

/// One change to a row.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    /// Its id, increasing.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: the API caller, the CLI's user or the database user, as the session claimed.
    pub actor: String,
    /// The database login that made the change, which no session setting changes: beside
    /// `actor`, it shows a claimed actor for what it is. Null for events logged before it was
    /// recorded.
    pub db_user: Option<String>,
    /// The table, as schema.table.
    pub table_name: String,
    /// The row's primary key.
    pub row_key: serde_json::Value,
    /// INSERT, UPDATE or DELETE.
    pub operation: String,
    /// The row before (absent for an insert).
    pub before: Option<serde_json::Value>,
    /// The row after (absent for a delete).
    pub after: Option<serde_json::Value>,
    /// The transaction, a decimal string: events of one transaction share it.
    pub transaction_id: String,
}

/// Which events to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only this table (schema.table, e.g. registry.membership).
    pub table: Option<String>,
    /// Only the row with this id.
    pub row_id: Option<String>,
    /// Only this actor's.
    pub actor: Option<String>,
    /// Only at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only before this time.
    pub until: Option<DateTime<Utc>>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// The audit routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_events))
}

/// Lists changes, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditFilter),
    responses((status = 200, body = Page<AuditEvent>), Problems))]
async fn list_audit_events(
    State(state): State<AppState>,
    caller: Caller,
    Params(filter): Params<AuditFilter>,
) -> Result<axum::Json<Page<AuditEvent>>, ApiError> {
    caller.allow(&[Role::Admin, Role::Reader])?;
    let cursor = filter.cursor.as_deref();
    list(
        &state,
        bind!(
            API_AUDIT_LIST,
            table = &filter.table,
            row_id = &filter.row_id,
            actor = &filter.actor,
            since = &filter.since,
            until = &filter.until,
            ..Paged,
        ),
        cursor,
        filter.limit,
        |row: &AuditEvent| row.id,
    )
    .await
}
