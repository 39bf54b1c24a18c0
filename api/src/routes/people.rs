//! `/v1/people`: people, the external identities that name them (ACCESS, campus SSO, OIDC
//! subjects) and their accounts on clusters. Admins and readers see everyone; a PI sees
//! themselves and their allocations' members; a member sees themselves. Admins write.

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use purser_sql::pool::query_items;
use purser_sql::statements::{
    API_CLUSTER_ACCOUNT_CREATE, API_CLUSTER_ACCOUNT_GET, API_CLUSTER_ACCOUNT_LIST,
    API_IDENTITY_CREATE, API_IDENTITY_GET, API_IDENTITY_LIST, API_PERSON_CREATE, API_PERSON_GET,
    API_PERSON_LIST,
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
    IdempotencyHeader, REGISTRY_READERS, SqlParams, create, get_in_scope, list, list_in_scope, one,
};
use crate::rules::{Email, IdentitySource, Limit, NonBlank, PersonStatus, PosixUsername};
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
    #[schema(value_type = NonBlank)]
    pub name: String,
    /// Their email.
    #[schema(value_type = Email)]
    pub email: String,
    /// Their organization.
    pub organization_id: Option<Uuid>,
}

impl Checked for NewPerson {}

/// Which people to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PersonFilter {
    /// Only the one with this email (any case).
    pub email: Option<String>,
    /// Only this organization's.
    pub organization_id: Option<Uuid>,
    /// Only this status (active, inactive, merged).
    #[param(value_type = Option<PersonStatus>, inline)]
    pub status: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
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
    #[schema(value_type = IdentitySource)]
    pub source: String,
    /// The id there.
    #[schema(value_type = NonBlank)]
    pub external_id: String,
}

impl Checked for NewIdentity {}

/// Which identities to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdentityFilter {
    /// Only from this source.
    pub source: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
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
    #[schema(value_type = PosixUsername)]
    pub username: String,
    /// The POSIX uid.
    #[schema(minimum = 1)]
    pub uid: Option<i32>,
}

impl Checked for NewClusterAccount {}

/// Which cluster accounts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClusterAccountFilter {
    /// Only on this cluster.
    pub cluster_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// The people routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_people, create_person))
        .routes(routes!(get_person))
        .routes(routes!(list_identities, create_identity))
        .routes(routes!(list_cluster_accounts, create_cluster_account))
        .routes(routes!(get_identity))
        .routes(routes!(get_cluster_account))
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
    let filters: &SqlParams = &[&filter.email, &filter.organization_id, &filter.status];
    let cursor = filter.cursor.as_deref();
    list_in_scope(
        &state,
        &caller,
        API_PERSON_LIST,
        cursor,
        filter.limit,
        filters,
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
    get_in_scope(&state, &caller, API_PERSON_GET, id, "person").await
}

/// Refuses a request about a person the caller may not see.
async fn require_visible(state: &AppState, caller: &Caller, id: Uuid) -> Result<(), ApiError> {
    get_in_scope::<Person>(state, caller, API_PERSON_GET, id, "person")
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
    let params: &SqlParams = &[&new.name, &new.email, &new.organization_id];
    create::<Person>(
        &state,
        &caller,
        &idempotency,
        &new,
        API_PERSON_CREATE,
        params,
        |row: &Person| format!("/v1/people/{}", row.id),
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
    let params: &SqlParams = &[&id, &filter.source];
    list(
        &state,
        API_IDENTITY_LIST,
        cursor,
        filter.limit,
        params,
        |row: &Identity| row.id,
    )
    .await
}

/// Shows one of a person's external identities.
#[utoipa::path(get, path = "/v1/people/{id}/identities/{identity_id}", tag = "people",
    params(("id" = Uuid, Path, description = "Person id"),
        ("identity_id" = Uuid, Path, description = "Identity id")),
    responses((status = 200, body = Identity), Problems))]
async fn get_identity(
    State(state): State<AppState>,
    caller: Caller,
    Id((id, identity_id)): Id<(Uuid, Uuid)>,
) -> Result<axum::Json<Identity>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    require_visible(&state, &caller, id).await?;
    let client = state.pool.connection().await?;
    let rows = query_items(&client, API_IDENTITY_GET, &[&id, &identity_id]).await?;
    one(rows, "identity", identity_id)
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
    let params: &SqlParams = &[&id, &new.source, &new.external_id];
    create::<Identity>(
        &state,
        &caller,
        &idempotency,
        &new,
        API_IDENTITY_CREATE,
        params,
        |row: &Identity| format!("/v1/people/{}/identities/{}", row.person_id, row.id),
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
    let params: &SqlParams = &[&id, &filter.cluster_id];
    list(
        &state,
        API_CLUSTER_ACCOUNT_LIST,
        cursor,
        filter.limit,
        params,
        |row: &ClusterAccount| row.id,
    )
    .await
}

/// Shows one of a person's cluster accounts.
#[utoipa::path(get, path = "/v1/people/{id}/cluster-accounts/{account_id}", tag = "people",
    params(("id" = Uuid, Path, description = "Person id"),
        ("account_id" = Uuid, Path, description = "Cluster account id")),
    responses((status = 200, body = ClusterAccount), Problems))]
async fn get_cluster_account(
    State(state): State<AppState>,
    caller: Caller,
    Id((id, account_id)): Id<(Uuid, Uuid)>,
) -> Result<axum::Json<ClusterAccount>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    require_visible(&state, &caller, id).await?;
    let client = state.pool.connection().await?;
    let rows = query_items(&client, API_CLUSTER_ACCOUNT_GET, &[&id, &account_id]).await?;
    one(rows, "cluster account", account_id)
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
    let params: &SqlParams = &[&id, &new.cluster_id, &new.username, &new.uid];
    create::<ClusterAccount>(
        &state,
        &caller,
        &idempotency,
        &new,
        API_CLUSTER_ACCOUNT_CREATE,
        params,
        |row: &ClusterAccount| format!("/v1/people/{}/cluster-accounts/{}", row.person_id, row.id),
    )
    .await
}
