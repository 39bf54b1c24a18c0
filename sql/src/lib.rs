//! Purser's SQL contract: the migrations that build the schema, every statement the code
//! runs, the connection pool, and a private PostgreSQL cluster for development and tests.
//!
//! This is the one crate that holds SQL text and talks to PostgreSQL; the others call the
//! typed functions here.

pub mod auth;
pub mod bind;
pub mod catalog;
pub mod constraints;
pub mod error;
pub mod ledger;
pub mod local_cluster;
pub mod migrations;
pub mod notify;
pub mod pool;
pub mod provision;
pub mod queue;
pub mod schedule;
pub mod seed;
pub mod site_role;
pub mod statements;
pub mod storable;
#[cfg(feature = "test-harness")]
pub mod test_harness;
pub mod usage;

pub use error::DbError;
pub use pool::{DbPool, connect_pool, connect_pool_bounded};
