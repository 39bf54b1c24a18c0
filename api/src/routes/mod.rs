//! The endpoints, one module per resource. Each handler takes a [`crate::auth::Caller`], names
//! the roles it allows, and reads with the caller's scope or writes through
//! [`crate::write::write`].

pub mod access;
pub mod allocations;
pub mod audit;
pub mod change_requests;
pub mod clusters;
pub mod health;
pub mod memberships;
pub mod organizations;
pub mod people;
pub mod projects;
pub mod tasks;
pub mod usage;

use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use crate::auth::Role;
use crate::problem::ApiError;

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

/// The `Idempotency-Key` header every POST accepts, for the document.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyHeader {
    /// Makes the POST safe to retry: a repeat with the same key returns the first response
    /// (within 24 hours) instead of writing again.
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255)]
    #[allow(dead_code)]
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
