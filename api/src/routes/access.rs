//! `/v1/access`: who should have access to which cluster account now (report.desired_access),
//! and, per membership, every condition of the access policy with its verdict
//! (report.access_explain). PIs see their allocations, members themselves.

use axum::extract::State;
use purser_sql::bind;
use purser_sql::statements::{API_ACCESS_DESIRED, API_ACCESS_EXPLAIN};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::extract::Params;
use crate::openapi::Problems;
use crate::page::Page;
use crate::problem::ApiError;
use crate::routes::{PagedInScope, REGISTRY_READERS, list_in_scope};
use crate::rules::{AccessVerdict, Limit};

/// A grant: this person should have access under this allocation's account on this cluster.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DesiredAccess {
    /// The person.
    pub person_id: Uuid,
    /// The allocation.
    pub allocation_id: Uuid,
    /// Its cluster.
    pub cluster_id: Uuid,
    /// The cluster's name (its site).
    pub cluster_name: String,
    /// The Slurm account.
    pub account_name: String,
    /// Their user name there, if they have an account.
    pub username: Option<String>,
}

/// Every condition of the access policy for one membership, and the verdict.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessExplanation {
    /// The person.
    pub person_id: Uuid,
    /// The allocation.
    pub allocation_id: Uuid,
    /// Its cluster.
    pub cluster_id: Uuid,
    /// The cluster's name.
    pub cluster_name: String,
    /// The Slurm account.
    pub account_name: String,
    /// Their user name there, if they have an account.
    pub username: Option<String>,
    /// The person is active.
    pub person_active: bool,
    /// The project is active.
    pub project_active: bool,
    /// The allocation is active.
    pub allocation_active: bool,
    /// Now is inside the allocation's window.
    pub allocation_in_window: bool,
    /// The membership is active.
    pub membership_active: bool,
    /// Now is inside the membership's window.
    pub membership_in_window: bool,
    /// The allocation has SUs left.
    pub balance_positive: bool,
    /// The member is under their cap (or has none).
    pub under_cap: bool,
    /// The allocation is under the SU limit of every resource it includes with one.
    pub under_resource_limits: bool,
    /// All of the above: access is granted.
    pub granted: bool,
    /// The verdict the site enacts: granted; blocked (the allocation is blocked, the
    /// membership suspended or the member at her cap); revoked (the person is inactive, the
    /// membership removed, not yet begun or ended).
    #[schema(value_type = AccessVerdict)]
    pub access: String,
}

/// Which grants to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessFilter {
    /// Only on this cluster.
    pub cluster_id: Option<Uuid>,
    /// Only this person's.
    pub person_id: Option<Uuid>,
    /// Only under this allocation.
    pub allocation_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// Which explanations to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExplanationFilter {
    /// Only on this cluster.
    pub cluster_id: Option<Uuid>,
    /// Only this person's.
    pub person_id: Option<Uuid>,
    /// Only under this allocation.
    pub allocation_id: Option<Uuid>,
    /// Only granted (true) or only denied (false).
    pub granted: Option<bool>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// The access routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_desired_access))
        .routes(routes!(explain_access))
}

/// A grant's or an explanation's key, (allocation, person), passed to SQL as a JSON array.
fn membership_key(allocation_id: Uuid, person_id: Uuid) -> serde_json::Value {
    serde_json::json!([allocation_id, person_id])
}

/// Lists who should have access where now.
#[utoipa::path(get, path = "/v1/access", tag = "access", params(AccessFilter),
    responses((status = 200, body = Page<DesiredAccess>), Problems))]
async fn list_desired_access(
    State(state): State<AppState>,
    caller: Caller,
    Params(filter): Params<AccessFilter>,
) -> Result<axum::Json<Page<DesiredAccess>>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    let key = |row: &DesiredAccess| membership_key(row.allocation_id, row.person_id);
    list_in_scope(
        &state,
        &caller,
        bind!(
            API_ACCESS_DESIRED,
            cluster_id = &filter.cluster_id,
            person_id = &filter.person_id,
            allocation_id = &filter.allocation_id,
            ..PagedInScope,
        ),
        filter.cursor.as_deref(),
        filter.limit,
        key,
    )
    .await
}

/// Explains, per membership, why access is granted or denied.
#[utoipa::path(get, path = "/v1/access/explain", tag = "access", params(ExplanationFilter),
    responses((status = 200, body = Page<AccessExplanation>), Problems))]
async fn explain_access(
    State(state): State<AppState>,
    caller: Caller,
    Params(filter): Params<ExplanationFilter>,
) -> Result<axum::Json<Page<AccessExplanation>>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    let key = |row: &AccessExplanation| membership_key(row.allocation_id, row.person_id);
    list_in_scope(
        &state,
        &caller,
        bind!(
            API_ACCESS_EXPLAIN,
            cluster_id = &filter.cluster_id,
            person_id = &filter.person_id,
            allocation_id = &filter.allocation_id,
            granted = &filter.granted,
            ..PagedInScope,
        ),
        filter.cursor.as_deref(),
        filter.limit,
        key,
    )
    .await
}
