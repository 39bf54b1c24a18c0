//! `/v1/organizations`: the universities and institutes people and projects belong to. Anyone
//! authenticated reads them; admins create them.

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use purser_sql::bind;
use purser_sql::pool::query_items;
use purser_sql::statements::{
    API_ORGANIZATION_CREATE, API_ORGANIZATION_GET, API_ORGANIZATION_LIST,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{Body, Id, Params};
use crate::openapi::Problems;
use crate::page::Page;
use crate::problem::ApiError;
use crate::routes::{EVERYONE, Paged, create, list, one};
use crate::write::Idempotency;

/// An organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    /// Its id.
    pub id: Uuid,
    /// Its name, unique.
    pub name: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// A new organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    /// Its name, unique.
    #[schema(pattern = r"\\S")]
    pub name: String,
}

/// Which organizations to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganizationFilter {
    /// Only the one with this exact name.
    pub name: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The organization routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_organizations, create_organization))
        .routes(routes!(get_organization))
}

/// Lists organizations.
#[utoipa::path(get, path = "/v1/organizations", tag = "organizations", params(OrganizationFilter),
    responses((status = 200, body = Page<Organization>), Problems))]
async fn list_organizations(
    State(state): State<AppState>,
    caller: Caller,
    Params(filter): Params<OrganizationFilter>,
) -> Result<axum::Json<Page<Organization>>, ApiError> {
    caller.allow(EVERYONE)?;
    let cursor = filter.cursor.as_deref();
    list(
        &state,
        bind!(API_ORGANIZATION_LIST, name = &filter.name, ..Paged),
        cursor,
        filter.limit,
        |row: &Organization| row.id,
    )
    .await
}

/// Shows one organization.
#[utoipa::path(get, path = "/v1/organizations/{id}", tag = "organizations",
    params(("id" = Uuid, Path, description = "Organization id")),
    responses((status = 200, body = Organization), Problems))]
async fn get_organization(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
) -> Result<axum::Json<Organization>, ApiError> {
    caller.allow(EVERYONE)?;
    let client = state.pool.connection().await?;
    one(
        query_items(&client, bind!(API_ORGANIZATION_GET, id = &id)).await?,
        "organization",
        id,
    )
}

/// Creates an organization (admin).
#[utoipa::path(post, path = "/v1/organizations", tag = "organizations", request_body = NewOrganization,
    params(crate::routes::IdempotencyHeader),
    responses((status = 201, body = Organization), Problems))]
async fn create_organization(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Body(new): Body<NewOrganization>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    create::<Organization>(
        &state,
        &caller,
        &idempotency,
        &new,
        bind!(API_ORGANIZATION_CREATE, name = &new.name),
    )
    .await
}
