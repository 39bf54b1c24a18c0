//! The endpoints, one module per resource. Each handler takes a [`crate::auth::Caller`], names
//! the roles it allows, and reads with the caller's scope or writes through
//! [`crate::write::write`].
//!
//! Handlers bind statements by name with [`purser_sql::bind!`]. The helpers here bind the
//! parameters every list or scoped read shares themselves, so the handler leaves them to the
//! helper by name: `bind!(API_ALLOCATION_LIST, status = &filter.status, …, ..PagedInScope)`
//! for [`list_in_scope`] ([`Paged`] for [`list`], [`IdInScope`] for [`get_in_scope`] and
//! [`one_in_scope`]); the compiler checks that the handler and the helper together bind exactly
//! the statement's parameters.

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
use purser_sql::bind::{Binding, Deferred, PartialBinding};
use purser_sql::pool::query_items;
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

/// The parameters [`list`] binds: `after`, the key after which the page starts (decoded from
/// the cursor; a JSON array for a composite key), and `fetch`, how many rows to read.
pub enum Paged {}

impl Deferred for Paged {
    const NAMES: &'static [&'static str] = &["after", "fetch"];
}

/// The parameters [`list_in_scope`] binds: those of [`Paged`], then the caller's scope
/// (`scoped`, `scope_pi`, `scope_person`: [`crate::auth::Scope`]).
pub enum PagedInScope {}

impl Deferred for PagedInScope {
    const NAMES: &'static [&'static str] =
        &["after", "fetch", "scoped", "scope_pi", "scope_person"];
}

/// The parameters [`one_in_scope`] and [`get_in_scope`] bind: the row's `id`, then the caller's
/// scope, as in [`PagedInScope`].
pub enum IdInScope {}

impl Deferred for IdInScope {
    const NAMES: &'static [&'static str] = &["id", "scoped", "scope_pi", "scope_person"];
}

/// A page as the client asked for it: its size, and the values of a list statement's `after`
/// and `fetch`.
struct PageRequest<K> {
    limit: u32,
    after: Option<K>,
    fetch: i64,
}

impl<K: DeserializeOwned + ToSql + Sync> PageRequest<K> {
    /// Checks the page size and decodes the cursor.
    fn new(cursor: Option<&str>, limit: Option<u32>) -> Result<Self, ApiError> {
        let limit = page::limit(limit);
        Ok(Self {
            limit,
            after: page::decode(cursor)?,
            fetch: page::fetch_count(limit),
        })
    }

    /// Runs the list statement, bound, and makes the page; `key` gives a row's key, from which
    /// the next page's cursor is made.
    async fn read<T: DeserializeOwned>(
        &self,
        state: &AppState,
        statement: Binding<'_>,
        key: impl Fn(&T) -> K,
    ) -> Result<axum::Json<Page<T>>, ApiError>
    where
        K: Serialize,
    {
        let client = state.connection().await?;
        let rows = query_items(&*client, statement).await?;
        Ok(axum::Json(page::page(rows, self.limit, key)?))
    }
}

/// One page of a list. The caller binds the statement's filters, and `list` the page
/// ([`Paged`]) from `cursor` and `limit`. `key` gives a row's key, from which the next page's
/// cursor is made.
pub async fn list<T, K>(
    state: &AppState,
    statement: PartialBinding<'_, Paged>,
    cursor: Option<&str>,
    limit: Option<u32>,
    key: impl Fn(&T) -> K,
) -> Result<axum::Json<Page<T>>, ApiError>
where
    T: DeserializeOwned,
    K: Serialize + DeserializeOwned + ToSql + Sync,
{
    let request = PageRequest::<K>::new(cursor, limit)?;
    let statement = statement.complete([&request.after, &request.fetch]);
    request.read(state, statement, key).await
}

/// One page of a list PIs and members may read: as [`list`], and the caller's scope too
/// ([`PagedInScope`]).
pub async fn list_in_scope<T, K>(
    state: &AppState,
    caller: &Caller,
    statement: PartialBinding<'_, PagedInScope>,
    cursor: Option<&str>,
    limit: Option<u32>,
    key: impl Fn(&T) -> K,
) -> Result<axum::Json<Page<T>>, ApiError>
where
    T: DeserializeOwned,
    K: Serialize + DeserializeOwned + ToSql + Sync,
{
    let request = PageRequest::<K>::new(cursor, limit)?;
    let scope = caller.scope();
    let statement = statement.complete([
        &request.after,
        &request.fetch,
        &scope.scoped,
        &scope.pi,
        &scope.person,
    ]);
    request.read(state, statement, key).await
}

/// The row with this id, if the caller's scope holds it ([`IdInScope`]).
pub async fn one_in_scope<T: DeserializeOwned>(
    client: &impl GenericClient,
    caller: &Caller,
    statement: PartialBinding<'_, IdInScope>,
    id: Uuid,
    what: &str,
) -> Result<T, ApiError> {
    let scope = caller.scope();
    let statement = statement.complete([&id, &scope.scoped, &scope.pi, &scope.person]);
    let rows = query_items(client, statement).await?;
    one(rows, what, id).map(|axum::Json(row)| row)
}

/// Answers a GET of one row in the caller's scope.
pub async fn get_in_scope<T: DeserializeOwned>(
    state: &AppState,
    caller: &Caller,
    statement: PartialBinding<'_, IdInScope>,
    id: Uuid,
    what: &str,
) -> Result<axum::Json<T>, ApiError> {
    let client = state.connection().await?;
    one_in_scope(&*client, caller, statement, id, what)
        .await
        .map(axum::Json)
}

/// Answers a POST that inserts one row and returns it: 201, with `location` of the row.
pub async fn create<T: Serialize + DeserializeOwned>(
    state: &AppState,
    caller: &Caller,
    idempotency: &Idempotency,
    request: &impl Serialize,
    statement: Binding<'_>,
    location: impl Fn(&T) -> String + Sync,
) -> Result<Response, ApiError> {
    write_created(state, caller, idempotency, request, location, async |tx| {
        created::<T>(query_items(tx, statement).await?)
    })
    .await
}
