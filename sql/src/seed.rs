//! Sample data: the demo centre (`purser seed demo`), and synthetic centres for the
//! benchmarks (many people, allocations and charges, fast).

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::bind;
use crate::error::DbError;
use crate::pool::{execute, query, query_one};
use crate::statements::{BENCH_ANY_ALLOCATION, BENCH_SEED_CENTRE, BENCH_SEED_USAGE, SEED_DEMO};

/// Creates cluster `name` with CPU (rate 1) and GPU (rate 0.1) resources, `people` people with
/// accounts `user1…`, and `allocations` allocations `acct1…`; returns the cluster's id.
pub async fn synthetic_centre(
    client: &impl GenericClient,
    name: &str,
    people: i32,
    allocations: i32,
) -> Result<Uuid, DbError> {
    Ok(query_one(
        client,
        bind!(
            BENCH_SEED_CENTRE,
            cluster_name = &name,
            people = &people,
            allocations = &allocations,
        ),
    )
    .await?
    .get("cluster_id"))
}

/// Charges jobs `first..=last` of one CPU hour each on the cluster; returns how many.
pub async fn synthetic_usage(
    client: &impl GenericClient,
    cluster_id: Uuid,
    first: i64,
    last: i64,
) -> Result<u64, DbError> {
    execute(
        client,
        bind!(
            BENCH_SEED_USAGE,
            cluster_id = &cluster_id,
            first_job = &first,
            last_job = &last,
        ),
    )
    .await
}

/// One allocation of the cluster.
pub async fn any_allocation(
    client: &impl GenericClient,
    cluster_id: Uuid,
) -> Result<Option<Uuid>, DbError> {
    Ok(query(
        client,
        bind!(BENCH_ANY_ALLOCATION, cluster_id = &cluster_id),
    )
    .await?
    .first()
    .map(|row| row.get("id")))
}

/// Loads the demo centre in one statement; returns how many allocations it made. Fails, and
/// loads nothing, when its clusters already exist.
pub async fn demo_centre(client: &impl GenericClient) -> Result<i64, DbError> {
    Ok(query_one(client, bind!(SEED_DEMO))
        .await?
        .get("allocations"))
}
