//! Charging usage in bulk: what an import needs to map jobs to allocations, people and
//! resources, the cluster's time zone and bounds, and the statements that record an import, its
//! charges (through `registry.charge_usage_batch`, the one charging path) and its rejections.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::bind;
use crate::error::DbError;
use crate::pool::{execute, query, query_one};
use crate::statements::{
    IMPORT_ACCOUNTS, IMPORT_ALLOCATIONS, IMPORT_CLUSTER, IMPORT_RESOURCES, USAGE_CHARGE_BATCH,
    USAGE_IMPORT_FAIL, USAGE_IMPORT_FINISH, USAGE_IMPORT_PROGRESS, USAGE_IMPORT_START,
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

/// The bounds past which a job record is absurd (registry.cluster's `max_tres_count`,
/// `elapsed_margin`, `future_end_margin`): the importer rejects such a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageBounds {
    /// The largest TRES count a record may hold.
    pub max_tres_count: Decimal,
    /// How many seconds longer than End − Start ElapsedRaw may be.
    pub elapsed_margin_seconds: i64,
    /// How many seconds past now End may be.
    pub future_end_margin_seconds: i64,
}

/// Everything needed to map one cluster's jobs, loaded once per import.
#[derive(Debug, Clone)]
pub struct ClusterMaps {
    /// The cluster's id.
    pub cluster_id: Uuid,
    /// The time zone its sacct times are in (an IANA name).
    pub time_zone: String,
    /// Its bounds on job records.
    pub bounds: UsageBounds,
    /// Its allocations.
    pub allocations: Vec<AllocationWindow>,
    /// Usernames to people.
    pub accounts: HashMap<String, Uuid>,
    /// Its resources.
    pub resources: Vec<ResourceMapping>,
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
    let time_zone: String = row.get("time_zone");
    let bounds = UsageBounds {
        max_tres_count: row.get("max_tres_count"),
        elapsed_margin_seconds: row.get("elapsed_margin_seconds"),
        future_end_margin_seconds: row.get("future_end_margin_seconds"),
    };
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
    Ok(Some(ClusterMaps {
        cluster_id,
        time_zone,
        bounds,
        allocations,
        accounts,
        resources,
    }))
}

/// One usage row to charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCharge {
    /// The record it comes from: its index in the batch's records.
    pub record: usize,
    /// The job's id.
    pub job_id: String,
    /// When it was submitted.
    pub submit_time: DateTime<Utc>,
    /// When it ended; the rate in force then applies.
    pub end_time: DateTime<Utc>,
    /// The resource charged.
    pub resource_id: Uuid,
    /// The allocation charged.
    pub allocation_id: Uuid,
    /// Who ran it.
    pub person_id: Uuid,
    /// Raw usage in the resource's unit.
    pub raw_amount: Decimal,
}

/// One job record to charge, as `registry.charge_usage_batch` takes it.
#[derive(Debug, Clone)]
pub struct ChargeRecord<'a> {
    /// The cluster it ran on.
    pub cluster_id: Uuid,
    /// The job's id.
    pub job_id: &'a str,
    /// When it was submitted.
    pub submit_time: DateTime<Utc>,
    /// When it ended; the rate in force then applies.
    pub end_time: DateTime<Utc>,
    /// The resource charged.
    pub resource_id: Uuid,
    /// The allocation charged.
    pub allocation_id: Uuid,
    /// Who ran it.
    pub person_id: Uuid,
    /// Raw usage in the resource's unit.
    pub raw_amount: Decimal,
}

/// What the charging function said of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeOutcome {
    /// The record's index in the batch, from 0.
    pub index: usize,
    /// The SUs charged now (a decimal string), if it was.
    pub su_amount: Option<String>,
    /// Whether an earlier charge had it.
    pub already_charged: bool,
    /// Why it was rejected, if it was.
    pub rejected: Option<String>,
}

/// Which records' outcomes [`charge`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcomes {
    /// Every record's.
    All,
    /// Only the records rejected or charged earlier: every other one was charged now.
    Exceptions,
}

/// Charges `records` through `registry.charge_usage_batch`, the one charging path, in the
/// caller's transaction. `site`, when given, is the caller's: a record of another site's
/// cluster is rejected. Outcomes come back in input order.
pub async fn charge<'a>(
    client: &impl GenericClient,
    records: impl IntoIterator<Item = ChargeRecord<'a>>,
    site: Option<&str>,
    outcomes: Outcomes,
) -> Result<Vec<ChargeOutcome>, DbError> {
    let records: Vec<ChargeRecord<'a>> = records.into_iter().collect();
    let column = |pick: fn(&ChargeRecord<'a>) -> Uuid| records.iter().map(pick).collect::<Vec<_>>();
    let clusters = column(|record| record.cluster_id);
    let resources = column(|record| record.resource_id);
    let allocations = column(|record| record.allocation_id);
    let people = column(|record| record.person_id);
    let jobs: Vec<&str> = records.iter().map(|record| record.job_id).collect();
    let submits: Vec<DateTime<Utc>> = records.iter().map(|record| record.submit_time).collect();
    let ends: Vec<DateTime<Utc>> = records.iter().map(|record| record.end_time).collect();
    let amounts: Vec<Decimal> = records.iter().map(|record| record.raw_amount).collect();
    let only_exceptions = outcomes == Outcomes::Exceptions;
    let rows = query(
        client,
        bind!(
            USAGE_CHARGE_BATCH,
            cluster_ids = &clusters,
            job_ids = &jobs,
            submit_times = &submits,
            end_times = &ends,
            resource_ids = &resources,
            allocation_ids = &allocations,
            person_ids = &people,
            raw_amounts = &amounts,
            site = &site,
            only_exceptions = &only_exceptions,
        ),
    )
    .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let position: i64 = row.get("record");
            Some(ChargeOutcome {
                index: usize::try_from(position - 1).ok()?,
                su_amount: row.get("su_amount"),
                already_charged: row.get("already_charged"),
                rejected: row.get("rejected"),
            })
        })
        .collect())
}

/// A record of an import's file, as a rejection would name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedRecord {
    /// Its line (or position), from 1.
    pub line: i64,
    /// The job id, when it could be read.
    pub job_id: Option<String>,
    /// The record as read.
    pub record: String,
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

impl Rejection {
    /// Rejects a record for a reason.
    pub fn of(record: ImportedRecord, reason: String) -> Self {
        Self {
            line: record.line,
            job_id: record.job_id,
            reason,
            record: record.record,
        }
    }
}

/// Records the start of an import and takes its advisory lock on this connection, which must
/// stay open until [`finish_import`] or [`fail_import`]; returns the import's id. Imports whose
/// importer died are marked failed first.
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
    /// Records rejected, by the importer or by the charging function.
    pub rejected: u64,
}

/// Charges a batch through `registry.charge_usage_batch` and records the batch's rejections
/// (`rejections`, found before SQL, and those the charging function returns: it returns only
/// the records it rejected or found charged earlier, so the rest count as charged now)
/// and counts, in one transaction. `records` are the batch's records, which `charges` and
/// `rejections` come from.
pub async fn record_batch(
    client: &mut deadpool_postgres::Client,
    import_id: Uuid,
    cluster_id: Uuid,
    records: Vec<ImportedRecord>,
    charges: &[UsageCharge],
    mut rejections: Vec<Rejection>,
) -> Result<BatchOutcome, DbError> {
    let read = (records.len() + rejections.len()) as u64;
    let transaction = crate::pool::begin(client).await?;
    let mut outcome = BatchOutcome::default();
    if !charges.is_empty() {
        let exceptions = charge(
            &transaction,
            charges.iter().map(|c| ChargeRecord {
                cluster_id,
                job_id: &c.job_id,
                submit_time: c.submit_time,
                end_time: c.end_time,
                resource_id: c.resource_id,
                allocation_id: c.allocation_id,
                person_id: c.person_id,
                raw_amount: c.raw_amount,
            }),
            None,
            Outcomes::Exceptions,
        )
        .await?;
        outcome.charged = (charges.len() - exceptions.len()) as u64;
        let mut rejected_by_sql: HashMap<usize, String> = HashMap::new();
        for exception in exceptions {
            let Some(source) = charges.get(exception.index) else {
                continue;
            };
            match exception.rejected {
                // The function rejects every row of a job alike; the first reason is kept.
                Some(reason) => {
                    rejected_by_sql.entry(source.record).or_insert(reason);
                }
                None => outcome.already_charged += 1,
            }
        }
        let mut records: Vec<Option<ImportedRecord>> = records.into_iter().map(Some).collect();
        for (index, reason) in rejected_by_sql {
            if let Some(record) = records.get_mut(index).and_then(Option::take) {
                rejections.push(Rejection::of(record, reason));
            }
        }
    }
    outcome.rejected = rejections.len() as u64;
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
    let count = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    execute(
        &transaction,
        bind!(
            USAGE_IMPORT_PROGRESS,
            id = &import_id,
            records = &count(read),
            charged = &count(outcome.charged),
            already_charged = &count(outcome.already_charged),
            rejected = &count(outcome.rejected),
        ),
    )
    .await?;
    crate::pool::commit(transaction).await?;
    Ok(outcome)
}

/// Marks an import finished and releases its lock (on the connection that started it).
pub async fn finish_import(client: &impl GenericClient, import_id: Uuid) -> Result<(), DbError> {
    execute(client, bind!(USAGE_IMPORT_FINISH, id = &import_id))
        .await
        .map(drop)
}

/// Marks an import failed with the reason and releases its lock (on the connection that
/// started it).
pub async fn fail_import(
    client: &impl GenericClient,
    import_id: Uuid,
    reason: &str,
) -> Result<(), DbError> {
    execute(
        client,
        bind!(USAGE_IMPORT_FAIL, id = &import_id, failure = &reason),
    )
    .await
    .map(drop)
}
