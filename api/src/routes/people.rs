//! `/v1/people`: people (a display name and the first, middle and last names AMIE and LDAP
//! need), the external identities that name them (ACCESS, campus SSO, OIDC subjects) and their
//! accounts on clusters. Admins and readers see everyone; a PI sees themselves and their
//! allocations' members; a member sees themselves. Admins write: they record people, merge a
//! duplicate into its survivor, deactivate a person and remove a cluster account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use purser_sql::bind;
use purser_sql::pool::{query, query_items};
use purser_sql::statements::{
    API_CLUSTER_ACCOUNT_BLOCKERS, API_CLUSTER_ACCOUNT_CREATE, API_CLUSTER_ACCOUNT_DELETE,
    API_CLUSTER_ACCOUNT_GET, API_CLUSTER_ACCOUNT_LIST, API_IDENTITY_CREATE, API_IDENTITY_GET,
    API_IDENTITY_LIST, API_PERSON_CREATE, API_PERSON_DEACTIVATE, API_PERSON_GET, API_PERSON_LIST,
    API_PERSON_MERGE,
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
use crate::routes::{
    IdInScope, IdempotencyHeader, Paged, PagedInScope, REGISTRY_READERS, create, created,
    get_in_scope, list, list_in_scope, one, one_in_scope,
};
use crate::rules::{Email, IdentitySource, Limit, Name, PersonStatus, PosixUsername};
use crate::write::{Idempotency, write};

/// A person.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Person {
    /// Their id.
    pub id: Uuid,
    /// Their display name.
    pub name: String,
    /// Their first (given) name, if they have one.
    pub first_name: Option<String>,
    /// Their middle name or names, if any.
    pub middle_name: Option<String>,
    /// Their last (family) name.
    pub last_name: String,
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

/// A new person. Without name parts, they are taken from the display name: its last word is
/// the last name, its first word the first name, the words between the middle name (a one-word
/// name is a last name only).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    /// Their display name.
    #[schema(value_type = Name)]
    pub name: String,
    /// Their email.
    #[schema(value_type = Email)]
    pub email: String,
    /// Their organization.
    pub organization_id: Option<Uuid>,
    /// Their first (given) name; with it or `middle_name`, give `last_name` too.
    #[schema(value_type = Option<Name>)]
    pub first_name: Option<String>,
    /// Their middle name or names.
    #[schema(value_type = Option<Name>)]
    pub middle_name: Option<String>,
    /// Their last (family) name: required when another name part is given.
    #[schema(value_type = Option<Name>)]
    pub last_name: Option<String>,
}

impl Checked for NewPerson {
    /// First or middle names come with a last name.
    fn check(&self) -> Vec<FieldError> {
        let without_last_name =
            self.last_name.is_none() && (self.first_name.is_some() || self.middle_name.is_some());
        without_last_name
            .then(|| {
                FieldError::new(
                    "/last_name",
                    "is required when first_name or middle_name is given",
                )
            })
            .into_iter()
            .collect()
    }
}

/// A merge: the duplicate whose records move to the person named in the path.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    /// The duplicate: it stays, as merged into the survivor.
    pub duplicate_id: Uuid,
}

impl Checked for Merge {}

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
    #[schema(value_type = Name)]
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
        .routes(routes!(merge_person))
        .routes(routes!(deactivate_person))
        .routes(routes!(list_identities, create_identity))
        .routes(routes!(list_cluster_accounts, create_cluster_account))
        .routes(routes!(get_identity))
        .routes(routes!(get_cluster_account))
        .routes(routes!(remove_cluster_account))
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
            first_name = &new.first_name,
            middle_name = &new.middle_name,
            last_name = &new.last_name,
        ),
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
    let client = state.connection().await?;
    let rows = query_items(
        &*client,
        bind!(API_IDENTITY_GET, person_id = &id, id = &identity_id),
    )
    .await?;
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
    let client = state.connection().await?;
    let rows = query_items(
        &*client,
        bind!(API_CLUSTER_ACCOUNT_GET, person_id = &id, id = &account_id),
    )
    .await?;
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
        |row: &ClusterAccount| format!("/v1/people/{}/cluster-accounts/{}", row.person_id, row.id),
    )
    .await
}

/// Merges a duplicate into this person: the duplicate's identities, cluster accounts,
/// memberships, projects and change requests move to the survivor, and the duplicate stays as
/// merged (admin); answers with the survivor. Refused, whole, when both have an account on one
/// cluster.
#[utoipa::path(post, path = "/v1/people/{id}/merge", tag = "people", request_body = Merge,
    params(("id" = Uuid, Path, description = "The survivor's id"), IdempotencyHeader),
    responses((status = 200, body = Person), Problems))]
async fn merge_person(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id(id): Id<Uuid>,
    Body(merge): Body<Merge>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    if merge.duplicate_id == id {
        return Err(ApiError::invalid_field(
            "/duplicate_id",
            "must be another person than the survivor",
        ));
    }
    write(
        &state,
        &caller,
        &idempotency,
        &merge,
        StatusCode::OK,
        async |tx| {
            for person in [id, merge.duplicate_id] {
                one_in_scope::<Person>(
                    tx,
                    &caller,
                    bind!(API_PERSON_GET, ..IdInScope),
                    person,
                    "person",
                )
                .await?;
            }
            query(
                tx,
                bind!(
                    API_PERSON_MERGE,
                    survivor_id = &id,
                    duplicate_id = &merge.duplicate_id,
                ),
            )
            .await?;
            one_in_scope::<Person>(
                tx,
                &caller,
                bind!(API_PERSON_GET, ..IdInScope),
                id,
                "person",
            )
            .await
        },
    )
    .await
}

/// Deactivates a person: access under every membership of theirs ends (admin). A person
/// already inactive stays so; a merged person is refused (deactivate the survivor).
#[utoipa::path(post, path = "/v1/people/{id}/deactivate", tag = "people",
    params(("id" = Uuid, Path, description = "Person id"), IdempotencyHeader),
    responses((status = 200, body = Person), Problems))]
async fn deactivate_person(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id(id): Id<Uuid>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    write(
        &state,
        &caller,
        &idempotency,
        &(),
        StatusCode::OK,
        async |tx| {
            let deactivated: Vec<Person> =
                query_items(tx, bind!(API_PERSON_DEACTIVATE, id = &id)).await?;
            if let Some(person) = deactivated.into_iter().next() {
                return Ok(person);
            }
            let person: Person = one_in_scope(
                tx,
                &caller,
                bind!(API_PERSON_GET, ..IdInScope),
                id,
                "person",
            )
            .await?;
            match person.merged_into {
                Some(survivor) => Err(ApiError::Conflict(format!(
                    "person {id} was merged into {survivor}; deactivate {survivor} instead",
                ))),
                None => Ok(person),
            }
        },
    )
    .await
}

/// Removes a person's cluster account (admin). Refused while the person has memberships that
/// are not removed on allocations of that cluster: remove those first, so the account goes only
/// once nothing on the cluster needs it.
#[utoipa::path(delete, path = "/v1/people/{id}/cluster-accounts/{account_id}", tag = "people",
    params(("id" = Uuid, Path, description = "Person id"),
           ("account_id" = Uuid, Path, description = "Cluster account id"), IdempotencyHeader),
    responses((status = 200, body = ClusterAccount), Problems))]
async fn remove_cluster_account(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id((id, account_id)): Id<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    write(
        &state,
        &caller,
        &idempotency,
        &(),
        StatusCode::OK,
        async |tx| {
            let rows = query(tx, bind!(API_CLUSTER_ACCOUNT_BLOCKERS, person_id = &id, id = &account_id)).await?;
            let row = rows.first().ok_or_else(|| {
                ApiError::NotFound(format!(
                    "person {id} has no cluster account {account_id}"
                ))
            })?;
            let accounts: Vec<String> = row.get("accounts");
            if !accounts.is_empty() {
                let cluster: String = row.get("cluster");
                return Err(ApiError::Conflict(format!(
                    "person {id} is still a member of {} on {cluster}; remove those memberships first",
                    accounts.join(", ")
                )));
            }
            created::<ClusterAccount>(
                query_items(tx, bind!(API_CLUSTER_ACCOUNT_DELETE, person_id = &id, id = &account_id)).await?,
            )
        },
    )
    .await
}
