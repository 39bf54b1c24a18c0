//! Importing usage: sacct records in, charges out. A reader thread parses the file one record
//! at a time into a bounded channel; the importer maps each job to its allocation, person,
//! resources and rates (all loaded once), and charges them in batches, each batch one
//! transaction with its rejections and counts. Memory stays bounded whatever the file's size,
//! and an interrupted import leaves whole batches: running it again charges only what is
//! missing.

pub mod sacct;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use chrono::{DateTime, Utc};
use purser_sql::DbPool;
use purser_sql::usage::{self, ClusterMaps, Rejection, UsageCharge};
use rust_decimal::{Decimal, RoundingStrategy};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use self::sacct::{SacctJob, SacctRecord};

/// Records per batch (one transaction).
const BATCH: usize = 5000;
/// Batches written at once: the database inserts one while the next is mapped and sent, and
/// uses both cores. The running sums serialise only their short final update.
const CONCURRENT_BATCHES: usize = 2;

/// The two sacct formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `sacct --parsable2` with the documented `--format` list.
    Parsable2,
    /// `sacct --json`.
    Json,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Self::Parsable2 => "parsable2",
            Self::Json => "json",
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// The import's id (registry.usage_import).
    pub import_id: Uuid,
    /// Records read.
    pub records: u64,
    /// Usage rows charged.
    pub charged: u64,
    /// Usage rows an earlier import had charged.
    pub already_charged: u64,
    /// Records rejected.
    pub rejected: u64,
}

/// Imports a sacct file for a cluster. `progress` is told the bytes read so far.
pub async fn import(
    pool: &DbPool,
    cluster: &str,
    path: &Path,
    format: Format,
    progress: impl Fn(u64),
) -> anyhow::Result<ImportSummary> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let client = pool.connection().await?;
    let maps = usage::cluster_maps(&client, cluster)
        .await?
        .with_context(|| format!("no cluster named {cluster:?}"))?;
    let import_id = usage::start_import(
        &client,
        maps.cluster_id,
        &path.display().to_string(),
        format.name(),
    )
    .await?;
    let mapper = Mapper::new(&maps, cluster);

    let bytes_read = Arc::new(AtomicU64::new(0));
    let counted = CountingReader {
        inner: file,
        bytes: bytes_read.clone(),
    };
    let (sender, mut received) = mpsc::channel::<SacctRecord>(BATCH * 2);
    let reader = std::thread::spawn(move || read_records(counted, format, sender));

    let mut summary = ImportSummary {
        import_id,
        ..ImportSummary::default()
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut writes = JoinSet::new();
    while received.recv_many(&mut batch, BATCH).await > 0 {
        let records = batch.len();
        let mut charges = Vec::new();
        let mut rejections = Vec::new();
        for record in batch.drain(..) {
            match mapper.charges(&record) {
                Ok(mut job_charges) => charges.append(&mut job_charges),
                Err(reason) => rejections.push(Rejection {
                    line: record.position,
                    job_id: record.job_id(),
                    reason,
                    record: record.raw,
                }),
            }
        }
        if writes.len() >= CONCURRENT_BATCHES
            && let Some(written) = writes.join_next().await
        {
            add_batch(&mut summary, written?)?;
            progress(bytes_read.load(Ordering::Relaxed));
        }
        let pool = pool.clone();
        let cluster_id = maps.cluster_id;
        writes.spawn(async move {
            let mut client = pool.connection().await?;
            let outcome = usage::record_batch(
                &mut client,
                import_id,
                cluster_id,
                i64::try_from(records).unwrap_or(i64::MAX),
                &charges,
                &rejections,
            )
            .await?;
            Ok::<_, purser_sql::DbError>((records, rejections.len(), outcome))
        });
    }
    while let Some(written) = writes.join_next().await {
        add_batch(&mut summary, written?)?;
        progress(bytes_read.load(Ordering::Relaxed));
    }
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the sacct reader stopped abnormally"))?
        .with_context(|| format!("cannot read {}", path.display()))?;
    usage::finish_import(&client, import_id).await?;
    Ok(summary)
}

/// Adds a written batch's counts to the summary.
fn add_batch(
    summary: &mut ImportSummary,
    written: Result<(usize, usize, usage::BatchOutcome), purser_sql::DbError>,
) -> anyhow::Result<()> {
    let (records, rejected, outcome) = written.context("cannot charge a batch")?;
    summary.records += records as u64;
    summary.charged += outcome.charged;
    summary.already_charged += outcome.already_charged;
    summary.rejected += rejected as u64;
    Ok(())
}

/// Counts the bytes read, for the progress bar.
struct CountingReader<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.bytes.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

/// Parses the file on this (blocking) thread into the channel; stops early if the importer
/// has gone.
fn read_records(
    input: impl Read,
    format: Format,
    sender: mpsc::Sender<SacctRecord>,
) -> anyhow::Result<()> {
    let input = std::io::BufReader::with_capacity(1 << 16, input);
    let send = |record| sender.blocking_send(record).is_ok();
    match format {
        Format::Parsable2 => sacct::read_parsable2(input, send)?,
        Format::Json => sacct::read_json(input, send).map_err(|error| anyhow::anyhow!(error))?,
    }
    Ok(())
}

/// Maps jobs to charges with a cluster's allocations, accounts, resources and rates.
struct Mapper<'a> {
    maps: &'a ClusterMaps,
    cluster: &'a str,
    allocations_by_account: HashMap<&'a str, Vec<&'a usage::AllocationWindow>>,
    /// Each partition's own resources.
    resources_by_partition: HashMap<&'a str, Vec<&'a usage::ResourceMapping>>,
    /// The resources of partitions without their own.
    resources_elsewhere: Vec<&'a usage::ResourceMapping>,
}

impl<'a> Mapper<'a> {
    fn new(maps: &'a ClusterMaps, cluster: &'a str) -> Self {
        let mut allocations_by_account: HashMap<&str, Vec<&usage::AllocationWindow>> =
            HashMap::new();
        for allocation in &maps.allocations {
            allocations_by_account
                .entry(allocation.account_name.as_str())
                .or_default()
                .push(allocation);
        }
        let mut resources_by_partition: HashMap<&str, Vec<&usage::ResourceMapping>> =
            HashMap::new();
        let mut resources_elsewhere = Vec::new();
        for resource in &maps.resources {
            match resource.slurm_partition.as_deref() {
                Some(partition) => resources_by_partition
                    .entry(partition)
                    .or_default()
                    .push(resource),
                None => resources_elsewhere.push(resource),
            }
        }
        Self {
            maps,
            cluster,
            allocations_by_account,
            resources_by_partition,
            resources_elsewhere,
        }
    }

    /// The charges of one record, or why it cannot be charged. A job is charged for all its
    /// resources or none.
    fn charges(&self, record: &SacctRecord) -> Result<Vec<UsageCharge>, String> {
        let job = record.job.as_ref().map_err(Clone::clone)?;
        let end = job.end.ok_or("the job has not ended (End is Unknown)")?;
        let allocation = self
            .allocations_by_account
            .get(job.account.as_str())
            .and_then(|windows| {
                windows
                    .iter()
                    .find(|a| a.starts_at <= end && end < a.ends_at)
            })
            .ok_or_else(|| {
                format!(
                    "no allocation on {} for account {} at {end}",
                    self.cluster, job.account
                )
            })?;
        let person = self.maps.accounts.get(&job.user).ok_or_else(|| {
            format!(
                "user {} has no cluster account on {}",
                job.user, self.cluster
            )
        })?;
        let mut charges = Vec::new();
        for resource in self.resources_for(&job.partition) {
            let Some((_, count)) = job
                .allocated_tres
                .iter()
                .find(|(name, _)| *name == resource.slurm_tres)
            else {
                continue;
            };
            if count.is_zero() {
                continue;
            }
            let rate = self.rate_at(resource.id, end).ok_or_else(|| {
                format!("resource {} has no rate in force at {end}", resource.name)
            })?;
            charges.push(UsageCharge {
                job_id: job.job_id.clone(),
                submit_time: job.submit,
                end_time: end,
                resource_id: resource.id,
                allocation_id: allocation.id,
                person_id: *person,
                raw_amount: raw_hours(*count, job.elapsed_seconds),
                rate,
            });
        }
        if charges.is_empty() {
            return Err(no_resource_reason(job, self.cluster));
        }
        Ok(charges)
    }

    /// The partition's own resources, or those for any partition when it has none.
    fn resources_for(&self, partition: &str) -> &[&'a usage::ResourceMapping] {
        self.resources_by_partition
            .get(partition)
            .map_or(&self.resources_elsewhere, |own| own)
    }

    fn rate_at(&self, resource: Uuid, at: DateTime<Utc>) -> Option<Decimal> {
        self.maps.rates.get(&resource)?.iter().find_map(|window| {
            let started = window.valid_from <= at;
            let not_ended = window.valid_until.is_none_or(|until| at < until);
            (started && not_ended).then_some(window.rate)
        })
    }
}

fn no_resource_reason(job: &SacctJob, cluster: &str) -> String {
    let tres: Vec<&str> = job
        .allocated_tres
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    format!(
        "no resource on {cluster} counts this job's TRES ({}) in partition {}",
        tres.join(", "),
        job.partition
    )
}

/// count × elapsed seconds ÷ 3600, in hours, to 6 decimals.
fn raw_hours(count: Decimal, elapsed_seconds: i64) -> Decimal {
    (count * Decimal::from(elapsed_seconds) / Decimal::from(3600))
        .round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero)
}
