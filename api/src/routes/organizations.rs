//! `/v1/organizations`: the universities and institutes people and projects belong to, with
//! the id each has where it came from (an ACCESS record id), unique per origination. Anyone
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
use crate::extract::{Body, Checked, Id, Params};
use crate::openapi::Problems;
use crate::page::Page;
use crate::problem::{ApiError, FieldError};
use crate::routes::{EVERYONE, Paged, create, list, one};
use crate::rules::{Limit, Name, Origination};
use crate::write::Idempotency;

/// An organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    /// Its id.
    pub id: Uuid,
    /// Its name, unique.
    pub name: String,
    /// Where it came from: ACCESS, NAIRR, XRAS or LOCAL (absent when it has no outside id).
    pub origination: Option<String>,
    /// Its id where it came from, e.g. an ACCESS record id; unique per origination.
    pub originated_id: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// A new organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    /// Its name, unique.
    #[schema(value_type = Name)]
    pub name: String,
    /// Where it came from: ACCESS, NAIRR, XRAS or LOCAL; give it with `originated_id`.
    #[schema(value_type = Option<Origination>)]
    pub origination: Option<String>,
    /// Its id where it came from (e.g. an ACCESS record id), unique per origination; give it
    /// with `origination`.
    #[schema(value_type = Option<Name>)]
    pub originated_id: Option<String>,
}

impl Checked for NewOrganization {
    /// An origination and an originated id come together.
    fn check(&self) -> Vec<FieldError> {
        match (&self.origination, &self.originated_id) {
            (Some(_), None) => vec![FieldError::new(
                "/originated_id",
                "is required when origination is given",
            )],
            (None, Some(_)) => vec![FieldError::new(
                "/origination",
                "is required when originated_id is given",
            )],
            _ => Vec::new(),
        }
    }
}

/// Which organizations to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganizationFilter {
    /// Only the one with this exact name.
    pub name: Option<String>,
    /// Only those from this origination (ACCESS, NAIRR, XRAS, LOCAL).
    #[param(value_type = Option<Origination>, inline)]
    pub origination: Option<String>,
    /// Only the one with this originated id (with `origination`, at most one).
    pub originated_id: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
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
        bind!(
            API_ORGANIZATION_LIST,
            name = &filter.name,
            origination = &filter.origination,
            originated_id = &filter.originated_id,
            ..Paged,
        ),
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
    let client = state.connection().await?;
    one(
        query_items(&*client, bind!(API_ORGANIZATION_GET, id = &id)).await?,
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
        bind!(
            API_ORGANIZATION_CREATE,
            name = &new.name,
            origination = &new.origination,
            originated_id = &new.originated_id,
        ),
        |row: &Organization| format!("/v1/organizations/{}", row.id),
    )
    .await
}
