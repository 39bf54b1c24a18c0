//! `/v1/people`: people, the external identities that name them (ACCESS, campus SSO, OIDC
//! subjects) and their accounts on clusters. Admins and readers see everyone; a PI sees
//! themselves and their allocations' members; a member sees themselves. Admins write.

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use purser_sql::bind;
use purser_sql::statements::{
    API_CLUSTER_ACCOUNT_CREATE, API_CLUSTER_ACCOUNT_LIST, API_IDENTITY_CREATE, API_IDENTITY_LIST,
    API_PERSON_CREATE, API_PERSON_GET, API_PERSON_LIST,
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
use crate::routes::{
    IdInScope, IdempotencyHeader, Paged, PagedInScope, REGISTRY_READERS, create, get_in_scope,
    list, list_in_scope,
};
use crate::write::Idempotency;

/// A person.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Person {
    /// Their id.
    pub id: Uuid,
    /// Their name.
    pub name: String,
    /// Their email, unique regardless of case.
    pub email: String,
    /// Their organization.
    pub organization_id: Option<Uuid>,
    /// active, inactive or merged.
    pub status: String,
    /// When merged: the record they were merged into.
    pub merged_into: Option<Uuid>,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// A new person.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    /// Their name.
    #[schema(pattern = r"\\S")]
    pub name: String,
    /// Their email.
    #[schema(pattern = r"^[^@\s]+@[^@\s]+$")]
    pub email: String,
    /// Their organization.
    pub organization_id: Option<Uuid>,
}

/// Which people to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PersonFilter {
    /// Only the one with this email (any case).
    pub email: Option<String>,
    /// Only this organization's.
    pub organization_id: Option<Uuid>,
    /// Only this status (active, inactive, merged).
    #[param(pattern = r"^(active|inactive|merged)$")]
    pub status: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// An external identity of a person.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Identity {
    /// Its id.
    pub id: Uuid,
    /// Whose it is.
    pub person_id: Uuid,
    /// Where it comes from (access, campus, oidc, …).
    pub source: String,
    /// The id there.
    pub external_id: String,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// A new identity.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIdentity {
    /// Where it comes from: lower-case letters, digits, `_ . -`.
    #[schema(pattern = r"^[a-z0-9][a-z0-9_.-]*$")]
    pub source: String,
    /// The id there.
    #[schema(pattern = r"\\S")]
    pub external_id: String,
}

/// Which identities to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdentityFilter {
    /// Only from this source.
    pub source: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// A person's account on a cluster.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterAccount {
    /// Its id.
    pub id: Uuid,
    /// The cluster.
    pub cluster_id: Uuid,
    /// Whose it is.
    pub person_id: Uuid,
    /// The POSIX user name.
    pub username: String,
    /// The POSIX uid.
    pub uid: Option<i32>,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// A new cluster account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClusterAccount {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The POSIX user name.
    #[schema(pattern = r"^[a-z_][a-z0-9_.-]{0,31}$")]
    pub username: String,
    /// The POSIX uid.
    #[schema(minimum = 1)]
    pub uid: Option<i32>,
}

/// Which cluster accounts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClusterAccountFilter {
    /// Only on this cluster.
    pub cluster_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The people routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_people, create_person))
        .routes(routes!(get_person))
        .routes(routes!(list_identities, create_identity))
        .routes(routes!(list_cluster_accounts, create_cluster_account))
}

/// Lists people.
#[utoipa::path(get, path = "/v1/people", tag = "people", params(PersonFilter),
    responses((status = 200, body = Page<Person>), Problems))]
async fn list_people(
    State(state): State<AppState>,
    caller: Caller,
    Params(filter): Params<PersonFilter>,
) -> Result<axum::Json<Page<Person>>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    let cursor = filter.cursor.as_deref();
    list_in_scope(
        &state,
        &caller,
        bind!(
            API_PERSON_LIST,
            email = &filter.email,
            organization_id = &filter.organization_id,
            status = &filter.status,
            ..PagedInScope,
        ),
        cursor,
        filter.limit,
        |row: &Person| row.id,
    )
    .await
}

/// Shows one person.
#[utoipa::path(get, path = "/v1/people/{id}", tag = "people",
    params(("id" = Uuid, Path, description = "Person id")),
    responses((status = 200, body = Person), Problems))]
async fn get_person(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
) -> Result<axum::Json<Person>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    get_in_scope(
        &state,
        &caller,
        bind!(API_PERSON_GET, ..IdInScope),
        id,
        "person",
    )
    .await
}

/// Refuses a request about a person the caller may not see.
async fn require_visible(state: &AppState, caller: &Caller, id: Uuid) -> Result<(), ApiError> {
    get_in_scope::<Person>(
        state,
        caller,
        bind!(API_PERSON_GET, ..IdInScope),
        id,
        "person",
    )
    .await
    .map(|_| ())
}

/// Records a person (admin).
#[utoipa::path(post, path = "/v1/people", tag = "people", request_body = NewPerson,
    params(IdempotencyHeader), responses((status = 201, body = Person), Problems))]
async fn create_person(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Body(new): Body<NewPerson>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    create::<Person>(
        &state,
        &caller,
        &idempotency,
        &new,
        bind!(
            API_PERSON_CREATE,
            name = &new.name,
            email = &new.email,
            organization_id = &new.organization_id,
        ),
    )
    .await
}

/// Lists a person's external identities.
#[utoipa::path(get, path = "/v1/people/{id}/identities", tag = "people",
    params(("id" = Uuid, Path, description = "Person id"), IdentityFilter),
    responses((status = 200, body = Page<Identity>), Problems))]
async fn list_identities(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
    Params(filter): Params<IdentityFilter>,
) -> Result<axum::Json<Page<Identity>>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    require_visible(&state, &caller, id).await?;
    let cursor = filter.cursor.as_deref();
    list(
        &state,
        bind!(
            API_IDENTITY_LIST,
            person_id = &id,
            source = &filter.source,
            ..Paged,
        ),
        cursor,
        filter.limit,
        |row: &Identity| row.id,
    )
    .await
}

/// Links a person to an external identity (admin).
#[utoipa::path(post, path = "/v1/people/{id}/identities", tag = "people", request_body = NewIdentity,
    params(("id" = Uuid, Path, description = "Person id"), IdempotencyHeader),
    responses((status = 201, body = Identity), Problems))]
async fn create_identity(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id(id): Id<Uuid>,
    Body(new): Body<NewIdentity>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    create::<Identity>(
        &state,
        &caller,
        &idempotency,
        &new,
        bind!(
            API_IDENTITY_CREATE,
            person_id = &id,
            source = &new.source,
            external_id = &new.external_id,
        ),
    )
    .await
}

/// Lists a person's cluster accounts.
#[utoipa::path(get, path = "/v1/people/{id}/cluster-accounts", tag = "people",
    params(("id" = Uuid, Path, description = "Person id"), ClusterAccountFilter),
    responses((status = 200, body = Page<ClusterAccount>), Problems))]
async fn list_cluster_accounts(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
    Params(filter): Params<ClusterAccountFilter>,
) -> Result<axum::Json<Page<ClusterAccount>>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    require_visible(&state, &caller, id).await?;
    let cursor = filter.cursor.as_deref();
    list(
        &state,
        bind!(
            API_CLUSTER_ACCOUNT_LIST,
            person_id = &id,
            cluster_id = &filter.cluster_id,
            ..Paged,
        ),
        cursor,
        filter.limit,
        |row: &ClusterAccount| row.id,
    )
    .await
}

/// Gives a person an account on a cluster (admin).
#[utoipa::path(post, path = "/v1/people/{id}/cluster-accounts", tag = "people",
    request_body = NewClusterAccount,
    params(("id" = Uuid, Path, description = "Person id"), IdempotencyHeader),
    responses((status = 201, body = ClusterAccount), Problems))]
async fn create_cluster_account(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id(id): Id<Uuid>,
    Body(new): Body<NewClusterAccount>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    create::<ClusterAccount>(
        &state,
        &caller,
        &idempotency,
        &new,
        bind!(
            API_CLUSTER_ACCOUNT_CREATE,
            person_id = &id,
            cluster_id = &new.cluster_id,
            username = &new.username,
            uid = &new.uid,
        ),
    )
    .await
}
