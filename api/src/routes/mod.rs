//! The endpoints, one module per resource. Each handler takes a [`crate::auth::Caller`], names
//! the roles it allows, and reads with the caller's scope or writes through
//! [`crate::write::write`].

pub mod access;
pub mod allocations;
pub mod audit;
pub mod change_requests;
pub mod clusters;
pub mod health;
pub mod ledger;
pub mod memberships;
pub mod organizations;
pub mod people;
pub mod projects;
pub mod tasks;
pub mod usage;

use axum::response::Response;
use deadpool_postgres::GenericClient;
use purser_sql::pool::query_items;
use purser_sql::statements::Statement;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::types::ToSql;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::page::{self, Page};
use crate::problem::ApiError;
use crate::write::{Idempotency, write_created};

/// A statement's parameters.
pub type SqlParams<'a> = [&'a (dyn ToSql + Sync)];

/// Every role: for the catalogue (organizations, clusters, resources, rates).
pub const EVERYONE: &[Role] = &[
    Role::Admin,
    Role::Reader,
    Role::Daemon,
    Role::Pi,
    Role::Member,
];

/// The roles that read the registry, PIs and members within their scope.
pub const REGISTRY_READERS: &[Role] = &[Role::Admin, Role::Reader, Role::Pi, Role::Member];

/// The `Idempotency-Key` header every POST and PATCH accepts, as the OpenAPI document shows it.
/// Never built: `crate::write::Idempotency` reads the header.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyHeader {
    /// Makes the request safe to retry: a repeat with the same key returns the first response
    /// (within 24 hours) instead of writing again.
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255)]
    #[allow(dead_code)] // read by utoipa's derive, never by code
    idempotency_key: Option<String>,
}

/// The single row a lookup found, or 404 naming what was looked for.
pub fn one<T>(
    rows: Vec<T>,
    what: &str,
    id: impl std::fmt::Display,
) -> Result<axum::Json<T>, ApiError> {
    rows.into_iter()
        .next()
        .map(axum::Json)
        .ok_or_else(|| ApiError::NotFound(format!("there is no {what} {id} that you may see")))
}

/// The row an INSERT … RETURNING gave.
pub fn created<T: DeserializeOwned>(rows: Vec<T>) -> Result<T, ApiError> {
    rows.into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("the insert returned no row".to_string()))
}

/// One page of a list. The statement's first two parameters are the key after which to start
/// (decoded from `cursor`) and how many rows to fetch; `params` follow. `key` gives a row's key,
/// from which the next page's cursor is made.
pub async fn list<T, K>(
    state: &AppState,
    statement: Statement,
    cursor: Option<&str>,
    limit: Option<u32>,
    params: &SqlParams<'_>,
    key: impl Fn(&T) -> K,
) -> Result<axum::Json<Page<T>>, ApiError>
where
    T: DeserializeOwned,
    K: Serialize + DeserializeOwned + ToSql + Sync,
{
    let limit = page::limit(limit);
    let after: Option<K> = page::decode(cursor)?;
    let fetch = page::fetch_count(limit);
    let mut all: Vec<&(dyn ToSql + Sync)> = vec![&after, &fetch];
    all.extend_from_slice(params);
    let client = state.pool.connection().await?;
    let rows = query_items(&client, statement, &all).await?;
    Ok(axum::Json(page::page(rows, limit, key)?))
}

/// One page of a list PIs and members may read: as [`list`], with the caller's scope
/// (scoped, PI, person) appended to `filters` as the statement's last three parameters.
pub async fn list_in_scope<T, K>(
    state: &AppState,
    caller: &Caller,
    statement: Statement,
    cursor: Option<&str>,
    limit: Option<u32>,
    filters: &SqlParams<'_>,
    key: impl Fn(&T) -> K,
) -> Result<axum::Json<Page<T>>, ApiError>
where
    T: DeserializeOwned,
    K: Serialize + DeserializeOwned + ToSql + Sync,
{
    let scope = caller.scope();
    let mut params = filters.to_vec();
    params.extend_from_slice(&[&scope.scoped, &scope.pi, &scope.person]);
    list(state, statement, cursor, limit, &params, key).await
}

/// The row with this id, if the caller's scope holds it: the statement's parameters are the id,
/// then the scope (scoped, PI, person).
pub async fn one_in_scope<T: DeserializeOwned>(
    client: &impl GenericClient,
    caller: &Caller,
    statement: Statement,
    id: Uuid,
    what: &str,
) -> Result<T, ApiError> {
    let scope = caller.scope();
    let rows = query_items(
        client,
        statement,
        &[&id, &scope.scoped, &scope.pi, &scope.person],
    )
    .await?;
    one(rows, what, id).map(|axum::Json(row)| row)
}

/// Answers a GET of one row in the caller's scope.
pub async fn get_in_scope<T: DeserializeOwned>(
    state: &AppState,
    caller: &Caller,
    statement: Statement,
    id: Uuid,
    what: &str,
) -> Result<axum::Json<T>, ApiError> {
    let client = state.pool.connection().await?;
    one_in_scope(&client, caller, statement, id, what)
        .await
        .map(axum::Json)
}

/// Answers a POST that inserts one row and returns it: 201, with `location` of the row.
pub async fn create<T: Serialize + DeserializeOwned>(
    state: &AppState,
    caller: &Caller,
    idempotency: &Idempotency,
    request: &impl Serialize,
    statement: Statement,
    params: &SqlParams<'_>,
    location: impl Fn(&T) -> String + Sync,
) -> Result<Response, ApiError> {
    write_created(state, caller, idempotency, request, location, async |tx| {
        created::<T>(query_items(tx, statement, params).await?)
    })
    .await
}

/// Enqueues the sync task a registry row implies (`registry.enqueue_*_sync`, through
/// `statement`) in the caller's transaction; 404 when the row does not exist.
pub async fn enqueue_sync(
    client: &impl GenericClient,
    statement: Statement,
    id: Uuid,
    what: &str,
) -> Result<i64, ApiError> {
    let row = purser_sql::pool::query_one(client, statement, &[&id]).await?;
    row.get::<_, Option<i64>>("task_id")
        .ok_or_else(|| ApiError::NotFound(format!("there is no {what} {id}")))
}
