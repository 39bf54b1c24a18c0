//! Charging usage in bulk: what an import needs to map jobs to allocations, people, resources
//! and rates, and the statements that record an import, its charges and its rejections.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::bind;
use crate::error::DbError;
use crate::pool::{execute, query, query_one};
use crate::statements::{
    IMPORT_ACCOUNTS, IMPORT_ALLOCATIONS, IMPORT_CLUSTER, IMPORT_RATES, IMPORT_RESOURCES,
    USAGE_CHARGE_BATCH, USAGE_IMPORT_FINISH, USAGE_IMPORT_PROGRESS, USAGE_IMPORT_START,
    USAGE_REJECTIONS_INSERT,
};

/// An allocation as the importer maps jobs to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationWindow {
    /// Allocation id.
    pub id: Uuid,
    /// Its Slurm account.
    pub account_name: String,
    /// When it opens.
    pub starts_at: DateTime<Utc>,
    /// When it closes (exclusive).
    pub ends_at: DateTime<Utc>,
}

/// A resource and how usage maps to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMapping {
    /// Resource id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The partition whose jobs use it; `None` for any partition without its own resource.
    pub slurm_partition: Option<String>,
    /// The TRES it counts.
    pub slurm_tres: String,
}

/// A rate over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateWindow {
    /// From (inclusive).
    pub valid_from: DateTime<Utc>,
    /// Until (exclusive); `None` when open-ended.
    pub valid_until: Option<DateTime<Utc>>,
    /// Raw units per SU.
    pub rate: Decimal,
}

/// Everything needed to map one cluster's jobs, loaded once per import.
#[derive(Debug, Clone, Default)]
pub struct ClusterMaps {
    /// The cluster's id.
    pub cluster_id: Uuid,
    /// Its allocations.
    pub allocations: Vec<AllocationWindow>,
    /// Usernames to people.
    pub accounts: HashMap<String, Uuid>,
    /// Its resources.
    pub resources: Vec<ResourceMapping>,
    /// Rate windows by resource.
    pub rates: HashMap<Uuid, Vec<RateWindow>>,
}

/// Loads a cluster's mapping data; `None` when no cluster has that name.
pub async fn cluster_maps(
    client: &impl GenericClient,
    cluster_name: &str,
) -> Result<Option<ClusterMaps>, DbError> {
    let Some(row) = query(client, bind!(IMPORT_CLUSTER, name = &cluster_name))
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let cluster_id: Uuid = row.get("id");
    let allocations = query(client, bind!(IMPORT_ALLOCATIONS, cluster_id = &cluster_id))
        .await?
        .iter()
        .map(|row| AllocationWindow {
            id: row.get("id"),
            account_name: row.get("account_name"),
            starts_at: row.get("starts_at"),
            ends_at: row.get("ends_at"),
        })
        .collect();
    let accounts = query(client, bind!(IMPORT_ACCOUNTS, cluster_id = &cluster_id))
        .await?
        .iter()
        .map(|row| (row.get("username"), row.get("person_id")))
        .collect();
    let resources = query(client, bind!(IMPORT_RESOURCES, cluster_id = &cluster_id))
        .await?
        .iter()
        .map(|row| ResourceMapping {
            id: row.get("id"),
            name: row.get("name"),
            slurm_partition: row.get("slurm_partition"),
            slurm_tres: row.get("slurm_tres"),
        })
        .collect();
    let mut rates: HashMap<Uuid, Vec<RateWindow>> = HashMap::new();
    for row in query(client, bind!(IMPORT_RATES, cluster_id = &cluster_id)).await? {
        rates
            .entry(row.get("resource_id"))
            .or_default()
            .push(RateWindow {
                valid_from: row.get("valid_from"),
                valid_until: row.get("valid_until"),
                rate: row.get("rate"),
            });
    }
    Ok(Some(ClusterMaps {
        cluster_id,
        allocations,
        accounts,
        resources,
        rates,
    }))
}

/// One usage row to charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCharge {
    /// The job's id.
    pub job_id: String,
    /// When it was submitted.
    pub submit_time: DateTime<Utc>,
    /// When it ended.
    pub end_time: DateTime<Utc>,
    /// The resource charged.
    pub resource_id: Uuid,
    /// The allocation charged.
    pub allocation_id: Uuid,
    /// Who ran it.
    pub person_id: Uuid,
    /// Raw usage in the resource's unit.
    pub raw_amount: Decimal,
    /// The rate in force at its end.
    pub rate: Decimal,
}

/// A record an import could not charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Its line (or position), from 1.
    pub line: i64,
    /// The job id, when it could be read.
    pub job_id: Option<String>,
    /// Why.
    pub reason: String,
    /// The record as read.
    pub record: String,
}

/// Records the start of an import; returns its id.
pub async fn start_import(
    client: &impl GenericClient,
    cluster_id: Uuid,
    source: &str,
    format: &str,
) -> Result<Uuid, DbError> {
    Ok(query_one(
        client,
        bind!(
            USAGE_IMPORT_START,
            cluster_id = &cluster_id,
            source = &source,
            format = &format,
        ),
    )
    .await?
    .get("id"))
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Usage rows charged now.
    pub charged: u64,
    /// Usage rows charged by an earlier import.
    pub already_charged: u64,
}

/// Charges a batch of usage rows and records its rejections and counts, in one transaction.
pub async fn record_batch(
    client: &mut deadpool_postgres::Client,
    import_id: Uuid,
    cluster_id: Uuid,
    records: i64,
    charges: &[UsageCharge],
    rejections: &[Rejection],
) -> Result<BatchOutcome, DbError> {
    let transaction = crate::pool::begin(client).await?;
    let charged = if charges.is_empty() {
        0
    } else {
        let clusters = vec![cluster_id; charges.len()];
        let job_ids: Vec<&str> = charges.iter().map(|c| c.job_id.as_str()).collect();
        let submits: Vec<DateTime<Utc>> = charges.iter().map(|c| c.submit_time).collect();
        let ends: Vec<DateTime<Utc>> = charges.iter().map(|c| c.end_time).collect();
        let resources: Vec<Uuid> = charges.iter().map(|c| c.resource_id).collect();
        let allocations: Vec<Uuid> = charges.iter().map(|c| c.allocation_id).collect();
        let people: Vec<Uuid> = charges.iter().map(|c| c.person_id).collect();
        let raws: Vec<Decimal> = charges.iter().map(|c| c.raw_amount).collect();
        let rates: Vec<Decimal> = charges.iter().map(|c| c.rate).collect();
        execute(
            &transaction,
            bind!(
                USAGE_CHARGE_BATCH,
                cluster_ids = &clusters,
                job_ids = &job_ids,
                submit_times = &submits,
                end_times = &ends,
                resource_ids = &resources,
                allocation_ids = &allocations,
                person_ids = &people,
                raw_amounts = &raws,
                rates = &rates,
            ),
        )
        .await?
    };
    if !rejections.is_empty() {
        let lines: Vec<i64> = rejections.iter().map(|r| r.line).collect();
        let job_ids: Vec<Option<&str>> = rejections.iter().map(|r| r.job_id.as_deref()).collect();
        let reasons: Vec<&str> = rejections.iter().map(|r| r.reason.as_str()).collect();
        let raw_records: Vec<&str> = rejections.iter().map(|r| r.record.as_str()).collect();
        execute(
            &transaction,
            bind!(
                USAGE_REJECTIONS_INSERT,
                import_id = &import_id,
                lines = &lines,
                job_ids = &job_ids,
                reasons = &reasons,
                records = &raw_records,
            ),
        )
        .await?;
    }
    let outcome = BatchOutcome {
        charged,
        already_charged: charges.len() as u64 - charged,
    };
    let counts = [
        records,
        i64::try_from(outcome.charged).unwrap_or(i64::MAX),
        i64::try_from(outcome.already_charged).unwrap_or(i64::MAX),
        i64::try_from(rejections.len()).unwrap_or(i64::MAX),
    ];
    execute(
        &transaction,
        bind!(
            USAGE_IMPORT_PROGRESS,
            id = &import_id,
            records = &counts[0],
            charged = &counts[1],
            already_charged = &counts[2],
            rejected = &counts[3],
        ),
    )
    .await?;
    crate::pool::commit(transaction).await?;
    Ok(outcome)
}

/// Marks an import finished.
pub async fn finish_import(client: &impl GenericClient, import_id: Uuid) -> Result<(), DbError> {
    execute(client, bind!(USAGE_IMPORT_FINISH, id = &import_id))
        .await
        .map(drop)
}
