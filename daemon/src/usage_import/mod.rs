//! Importing usage: sacct records in, charges out. A reader thread parses the file one record
//! at a time into a bounded channel; the importer checks each job against the cluster's bounds
//! and maps it to its allocation, person and resources (all loaded once); a record that cannot
//! be charged is rejected with its reason here, before SQL. The rest are charged in batches
//! through `registry.charge_usage_batch` (which finds the rates and may reject a record too),
//! each batch one transaction with its rejections and counts. Memory stays bounded whatever the
//! file's size, and an interrupted import leaves whole batches: running it again charges only
//! what is missing. Every import ends finished or failed in `registry.usage_import`.

pub mod sacct;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use purser_sql::DbPool;
use purser_sql::usage::{self, ClusterMaps, ImportedRecord, Rejection, UsageBounds, UsageCharge};
use rust_decimal::{Decimal, RoundingStrategy};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use self::sacct::{SacctJob, SacctRecord};

/// Records per batch (one transaction). Each batch pays once for what does not grow with it:
/// the running sums' upserts (one per allocation and member it charges), the call and the
/// commit; 10,000 records cost about 7 % less database time per record than 5,000
/// (docs/benchmarks.md), and two batches in flight stay well within the memory bound.
const BATCH: usize = 10_000;
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

/// Imports a sacct file for a cluster. `progress` is told the bytes read so far. The import is
/// recorded from its start: it ends finished, or failed with the reason (a file Purser cannot
/// read is refused whole, nothing charged); if this process dies, the import's advisory lock
/// goes with its connection, and the next import marks it failed.
pub async fn import(
    pool: &DbPool,
    cluster: &str,
    path: &Path,
    format: Format,
    progress: impl Fn(u64),
) -> anyhow::Result<ImportSummary> {
    let client = pool.connection().await?;
    let maps = usage::cluster_maps(&client, cluster)
        .await?
        .with_context(|| format!("no cluster named {cluster:?}"))?;
    let zone: Tz = maps.time_zone.parse().map_err(|_| {
        anyhow::anyhow!(
            "cluster {cluster}'s time zone {:?} (registry.cluster.time_zone) is not an IANA time zone Purser knows",
            maps.time_zone
        )
    })?;
    let import_id = usage::start_import(
        &client,
        maps.cluster_id,
        &path.display().to_string(),
        format.name(),
    )
    .await?;
    let source = Source {
        path,
        format,
        zone,
        cluster,
    };
    match charge_file(pool, &maps, import_id, &source, progress).await {
        Ok(summary) => {
            usage::finish_import(&client, import_id).await?;
            Ok(summary)
        }
        Err(error) => {
            let reason = format!("{error:#}");
            match usage::fail_import(&client, import_id, &reason).await {
                Ok(()) => Err(error),
                Err(recording) => Err(anyhow::anyhow!(
                    "{reason}; import {import_id} could not be marked failed ({recording}), so the next import will"
                )),
            }
        }
    }
}

/// The file an import reads, and how.
struct Source<'a> {
    path: &'a Path,
    format: Format,
    zone: Tz,
    cluster: &'a str,
}

/// Reads the file and charges its records in batches; any error fails the import.
async fn charge_file(
    pool: &DbPool,
    maps: &ClusterMaps,
    import_id: Uuid,
    source: &Source<'_>,
    progress: impl Fn(u64),
) -> anyhow::Result<ImportSummary> {
    let path = source.path;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    if file.metadata().is_ok_and(|meta| meta.is_dir()) {
        anyhow::bail!(
            "cannot import {}: it is a directory, not a sacct file",
            path.display()
        );
    }
    let mapper = Mapper::new(maps, source.cluster);

    let bytes_read = Arc::new(AtomicU64::new(0));
    let counted = CountingReader {
        inner: file,
        bytes: bytes_read.clone(),
    };
    let (sender, mut received) = mpsc::channel::<SacctRecord>(BATCH * 2);
    let (format, zone) = (source.format, source.zone);
    let reader = std::thread::spawn(move || read_records(counted, format, zone, sender));

    let mut summary = ImportSummary {
        import_id,
        ..ImportSummary::default()
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut writes = JoinSet::new();
    while received.recv_many(&mut batch, BATCH).await > 0 {
        summary.records += batch.len() as u64;
        let mut records = Vec::with_capacity(batch.len());
        let mut charges = Vec::new();
        let mut rejections = Vec::new();
        for record in batch.drain(..) {
            let mapped = mapper.charges(&record, records.len());
            let source = ImportedRecord {
                line: record.position,
                job_id: record.job_id(),
                record: record.raw,
            };
            match mapped {
                Ok(mut job_charges) => {
                    charges.append(&mut job_charges);
                    records.push(source);
                }
                Err(reason) => rejections.push(Rejection::of(source, reason)),
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
            usage::record_batch(
                &mut client,
                import_id,
                cluster_id,
                records,
                &charges,
                rejections,
            )
            .await
        });
    }
    while let Some(written) = writes.join_next().await {
        add_batch(&mut summary, written?)?;
        progress(bytes_read.load(Ordering::Relaxed));
    }
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the sacct reader stopped abnormally"))?
        .with_context(|| format!("cannot import {}", path.display()))?;
    Ok(summary)
}

/// Adds a written batch's counts to the summary.
fn add_batch(
    summary: &mut ImportSummary,
    written: Result<usage::BatchOutcome, purser_sql::DbError>,
) -> anyhow::Result<()> {
    let outcome = written.context("cannot charge a batch")?;
    summary.charged += outcome.charged;
    summary.already_charged += outcome.already_charged;
    summary.rejected += outcome.rejected;
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
    zone: Tz,
    sender: mpsc::Sender<SacctRecord>,
) -> anyhow::Result<()> {
    let input = std::io::BufReader::with_capacity(1 << 16, input);
    let send = |record| sender.blocking_send(record).is_ok();
    match format {
        Format::Parsable2 => sacct::read_parsable2(input, zone, send)?,
        Format::Json => sacct::read_json(input, send).map_err(|error| anyhow::anyhow!(error))?,
    }
    Ok(())
}

/// Maps jobs to charges with a cluster's allocations, accounts and resources, rejecting the
/// records its bounds say no real job produces.
struct Mapper<'a> {
    maps: &'a ClusterMaps,
    cluster: &'a str,
    /// The clock the bounds compare End with, read once per import.
    now: DateTime<Utc>,
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
            now: Utc::now(),
            allocations_by_account,
            resources_by_partition,
            resources_elsewhere,
        }
    }

    /// The charges of one record (the batch's `record`-th chargeable one), or why it cannot be
    /// charged. A job is charged for all its resources or none; its rates are found by the
    /// charging function, at its end.
    fn charges(&self, record: &SacctRecord, index: usize) -> Result<Vec<UsageCharge>, String> {
        let job = record.job.as_ref().map_err(Clone::clone)?;
        let end = job.end.ok_or("the job has not ended (End is Unknown)")?;
        within_bounds(job, end, &self.maps.bounds, self.now, self.cluster)?;
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
            charges.push(UsageCharge {
                record: index,
                job_id: job.job_id.clone(),
                submit_time: job.submit,
                end_time: end,
                resource_id: resource.id,
                allocation_id: allocation.id,
                person_id: *person,
                raw_amount: raw_hours(*count, job.elapsed_seconds).ok_or_else(|| {
                    format!(
                        "{} {count} for {} s is too large to charge",
                        resource.slurm_tres, job.elapsed_seconds
                    )
                })?,
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
}

/// Rejects a job no real one could be: a negative or impossible elapsed time, a TRES count
/// beyond the cluster's bound, an end before its start or in the future.
fn within_bounds(
    job: &SacctJob,
    end: DateTime<Utc>,
    bounds: &UsageBounds,
    now: DateTime<Utc>,
    cluster: &str,
) -> Result<(), String> {
    if job.elapsed_seconds < 0 {
        return Err(format!("ElapsedRaw {} is negative", job.elapsed_seconds));
    }
    if let Some((name, count)) = job
        .allocated_tres
        .iter()
        .find(|(_, count)| count.is_sign_negative() || *count > bounds.max_tres_count)
    {
        return Err(if count.is_sign_negative() {
            format!("AllocTRES {name}={count} is negative")
        } else {
            format!(
                "AllocTRES {name}={count} is more than any job on {cluster} can hold (registry.cluster.max_tres_count is {})",
                bounds.max_tres_count
            )
        });
    }
    let ran_for = match job.start {
        Some(start) if end < start => {
            return Err(format!("End {end} is before Start {start}"));
        }
        Some(start) => (end - start).num_seconds(),
        None => 0,
    };
    if job.elapsed_seconds > ran_for.saturating_add(bounds.elapsed_margin_seconds) {
        return Err(format!(
            "ElapsedRaw {} s is longer than End − Start ({ran_for} s) plus {cluster}'s margin of {} s (registry.cluster.elapsed_margin)",
            job.elapsed_seconds, bounds.elapsed_margin_seconds
        ));
    }
    if end > now + chrono::Duration::seconds(bounds.future_end_margin_seconds) {
        return Err(format!(
            "End {end} is in the future (more than {} s past now, registry.cluster.future_end_margin)",
            bounds.future_end_margin_seconds
        ));
    }
    Ok(())
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

/// count × elapsed seconds ÷ 3600, in hours, to 6 decimals; `None` past what a decimal holds.
fn raw_hours(count: Decimal, elapsed_seconds: i64) -> Option<Decimal> {
    Some(
        (count.checked_mul(Decimal::from(elapsed_seconds))? / Decimal::from(3600))
            .round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero),
    )
}
