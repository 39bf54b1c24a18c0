//! Black-box tests of the REST API: each starts the API on a loopback port over its own test
//! database (`support::spawn_app`) and talks HTTP to it.

#![allow(clippy::unwrap_used)]

mod support;

mod allocation_resources;
mod audit;
mod authentication;
mod authorization_matrix;
mod bounds;
mod errors;
mod idempotency;
mod oidc;
mod openapi;
mod pagination;
mod reconciler;
mod reference;
mod registry;
mod resilience;
mod sites;
mod workflows;
