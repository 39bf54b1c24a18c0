//! `/v1/projects`: research projects and their PIs. Admins and readers see all; a PI sees the
//! projects they lead, a member those they have a membership in. Admins write.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use purser_sql::bind;
use purser_sql::pool::query_items;
use purser_sql::statements::{
    API_PROJECT_CREATE, API_PROJECT_GET, API_PROJECT_LIST, API_PROJECT_UPDATE,
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
use crate::problem::ApiError;
use crate::routes::{
    IdInScope, IdempotencyHeader, PagedInScope, REGISTRY_READERS, create, get_in_scope,
    list_in_scope, one,
};
use crate::rules::{Limit, Name, NonBlank, Origination, ProjectStatus};
use crate::write::{Idempotency, write};

/// A project.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Project {
    /// Its id.
    pub id: Uuid,
    /// Its title.
    pub title: String,
    /// Its principal investigator.
    pub pi_id: Uuid,
    /// Its organization.
    pub organization_id: Option<Uuid>,
    /// Where it was awarded: ACCESS, NAIRR, XRAS or LOCAL.
    pub origination: String,
    /// Its id there (e.g. CHE260001).
    pub originated_id: String,
    /// active, suspended or closed.
    pub status: String,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// A new project.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// Its title.
    #[schema(value_type = NonBlank)]
    pub title: String,
    /// Its principal investigator.
    pub pi_id: Uuid,
    /// Its organization.
    pub organization_id: Option<Uuid>,
    /// ACCESS, NAIRR, XRAS or LOCAL.
    #[schema(value_type = Origination)]
    pub origination: String,
    /// Its id there; unique per origination.
    #[schema(value_type = Name)]
    pub originated_id: String,
}

impl Checked for NewProject {}

/// Changes to a project; absent fields stay as they are.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectChange {
    /// A new title.
    #[schema(value_type = Option<NonBlank>)]
    pub title: Option<String>,
    /// active, suspended or closed.
    #[schema(value_type = Option<ProjectStatus>)]
    pub status: Option<String>,
}

impl Checked for ProjectChange {}

/// Which projects to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProjectFilter {
    /// Only those this person leads.
    pub pi_id: Option<Uuid>,
    /// Only this status.
    #[param(value_type = Option<ProjectStatus>, inline)]
    pub status: Option<String>,
    /// Only this organization's.
    pub organization_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// The project routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, update_project))
}

/// Lists projects.
#[utoipa::path(get, path = "/v1/projects", tag = "projects", params(ProjectFilter),
    responses((status = 200, body = Page<Project>), Problems))]
async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
    Params(filter): Params<ProjectFilter>,
) -> Result<axum::Json<Page<Project>>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    let cursor = filter.cursor.as_deref();
    list_in_scope(
        &state,
        &caller,
        bind!(
            API_PROJECT_LIST,
            pi_id = &filter.pi_id,
            status = &filter.status,
            organization_id = &filter.organization_id,
            ..PagedInScope,
        ),
        cursor,
        filter.limit,
        |row: &Project| row.id,
    )
    .await
}

/// Shows one project.
#[utoipa::path(get, path = "/v1/projects/{id}", tag = "projects",
    params(("id" = Uuid, Path, description = "Project id")),
    responses((status = 200, body = Project), Problems))]
async fn get_project(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
) -> Result<axum::Json<Project>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    get_in_scope(
        &state,
        &caller,
        bind!(API_PROJECT_GET, ..IdInScope),
        id,
        "project",
    )
    .await
}

/// Records a project (admin).
#[utoipa::path(post, path = "/v1/projects", tag = "projects", request_body = NewProject,
    params(IdempotencyHeader), responses((status = 201, body = Project), Problems))]
async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Body(new): Body<NewProject>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    create::<Project>(
        &state,
        &caller,
        &idempotency,
        &new,
        bind!(
            API_PROJECT_CREATE,
            title = &new.title,
            pi_id = &new.pi_id,
            organization_id = &new.organization_id,
            origination = &new.origination,
            originated_id = &new.originated_id,
        ),
        |row: &Project| format!("/v1/projects/{}", row.id),
    )
    .await
}

/// Changes a project's title or status (admin).
#[utoipa::path(patch, path = "/v1/projects/{id}", tag = "projects", request_body = ProjectChange,
    params(("id" = Uuid, Path, description = "Project id"), IdempotencyHeader),
    responses((status = 200, body = Project), Problems))]
async fn update_project(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id(id): Id<Uuid>,
    Body(change): Body<ProjectChange>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    write(
        &state,
        &caller,
        &idempotency,
        &change,
        StatusCode::OK,
        async |tx| {
            let rows = query_items(
                tx,
                bind!(
                    API_PROJECT_UPDATE,
                    id = &id,
                    title = &change.title,
                    status = &change.status,
                ),
            )
            .await?;
            one::<Project>(rows, "project", id).map(|axum::Json(project)| project)
        },
    )
    .await
}
