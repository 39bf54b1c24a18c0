//! Sample data: the demo centre (`purser seed demo`), and synthetic centres for the
//! benchmarks (many people, allocations, memberships and charges, fast), with the
//! benchmark-only statements that stand in for a site (`settle_site`) or an admin
//! (`suspend_one_membership`).

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::bind;
use crate::error::DbError;
use crate::pool::{execute, query, query_one};
use crate::statements::{
    BENCH_ACTION_TASK, BENCH_ANALYZE, BENCH_ANY_ALLOCATION, BENCH_EXPLAIN_RECONCILE,
    BENCH_MEMBERSHIP_CHANGE, BENCH_SEED_CENTRE, BENCH_SEED_RECONCILE_CENTRE, BENCH_SEED_USAGE,
    BENCH_SETTLE_SITE, SEED_DEMO,
};

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

/// What [`reconcile_centre`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileCentre {
    /// Allocations (one project and account each).
    pub allocations: i64,
    /// Memberships.
    pub memberships: i64,
    /// Cluster accounts (every person on every cluster).
    pub cluster_accounts: i64,
}

/// Creates clusters `PREFIX-1` … `PREFIX-SITES` (one site each), `people` people with an
/// account `userI` on every cluster, `allocations` allocations `acctI` split round-robin over
/// the clusters, and `memberships` memberships spread evenly over them, in one statement.
pub async fn reconcile_centre(
    client: &impl GenericClient,
    prefix: &str,
    sites: i32,
    people: i32,
    allocations: i32,
    memberships: i32,
) -> Result<ReconcileCentre, DbError> {
    let row = query_one(
        client,
        bind!(
            BENCH_SEED_RECONCILE_CENTRE,
            cluster_prefix = &prefix,
            sites = &sites,
            people = &people,
            allocations = &allocations,
            memberships = &memberships,
        ),
    )
    .await?;
    Ok(ReconcileCentre {
        allocations: row.get("allocations"),
        memberships: row.get("memberships"),
        cluster_accounts: row.get("accounts"),
    })
}

/// Benchmark only: makes `site` look as if its connectors had applied everything (its
/// unfinished tasks succeeded, `provision.observed` equal to `provision.desired`); returns the
/// tasks and the subjects settled.
pub async fn settle_site(client: &impl GenericClient, site: &str) -> Result<(i64, i64), DbError> {
    let row = query_one(client, bind!(BENCH_SETTLE_SITE, site = &site)).await?;
    Ok((row.get("tasks"), row.get("subjects")))
}

/// Benchmark only: suspends one active membership of `account` on `site`; returns its
/// association's subject, or `None` when the account has no active member left.
pub async fn suspend_one_membership(
    client: &impl GenericClient,
    site: &str,
    account: &str,
) -> Result<Option<String>, DbError> {
    Ok(query(
        client,
        bind!(
            BENCH_MEMBERSHIP_CHANGE,
            site = &site,
            account_name = &account
        ),
    )
    .await?
    .first()
    .map(|row| row.get("subject")))
}

/// The task of the latest action a connector planned for a subject, if that action is `action`.
pub async fn action_task(
    client: &impl GenericClient,
    site: &str,
    connector: &str,
    subject: &str,
    action: &str,
) -> Result<Option<i64>, DbError> {
    Ok(query(
        client,
        bind!(
            BENCH_ACTION_TASK,
            site = &site,
            connector = &connector,
            subject = &subject,
            action = &action,
        ),
    )
    .await?
    .first()
    .map(|row| row.get("task_id")))
}

/// Benchmark only: a full plan of a connector under `EXPLAIN (ANALYZE, BUFFERS)`; returns the
/// database's execution time in milliseconds and the plan as JSON. Not a dry run, it enqueues
/// what it finds.
pub async fn explain_full_plan(
    client: &impl GenericClient,
    site: &str,
    connector: &str,
    dry_run: bool,
) -> Result<(f64, serde_json::Value), DbError> {
    let row = query_one(
        client,
        bind!(
            BENCH_EXPLAIN_RECONCILE,
            site = &site,
            connector = &connector,
            dry_run = &dry_run,
        ),
    )
    .await?;
    let plan: serde_json::Value = row.get(0);
    let milliseconds = plan
        .pointer("/0/Execution Time")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(f64::NAN);
    Ok((milliseconds, plan))
}

/// Refreshes the planner's statistics of the tables the reconciler reads.
pub async fn analyze(client: &impl GenericClient) -> Result<(), DbError> {
    execute(client, bind!(BENCH_ANALYZE)).await?;
    Ok(())
}

/// Loads the demo centre in one statement; returns how many allocations it made. Fails, and
/// loads nothing, when its clusters already exist.
pub async fn demo_centre(client: &impl GenericClient) -> Result<i64, DbError> {
    Ok(query_one(client, bind!(SEED_DEMO))
        .await?
        .get("allocations"))
}
