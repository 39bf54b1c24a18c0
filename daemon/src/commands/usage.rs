//! `purser usage import`: charge jobs from Slurm's sacct output (see `usage_import::sacct` for
//! the exact sacct command). A progress bar on a terminal; a summary at the end.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use purser_sql::DbPool;

use crate::usage_import::{self, Format};

/// Options of `purser usage`.
#[derive(Debug, clap::Args)]
pub struct UsageArgs {
    #[command(subcommand)]
    action: UsageAction,
}

#[derive(Debug, clap::Subcommand)]
enum UsageAction {
    /// Charge the jobs of a sacct file to their allocations; re-importing charges only what is
    /// missing, and records that cannot be charged are kept with their reason.
    Import {
        /// The cluster the jobs ran on (registry.cluster.name).
        #[arg(long)]
        cluster: String,
        /// Its format: sacct --parsable2 (read by its header; times in the cluster's time_zone), or sacct --json. See docs/usage.md.
        #[arg(long, value_enum, default_value = "parsable2")]
        format: Format,
        /// The file.
        file: PathBuf,
    },
}

/// Runs a `usage` action.
pub async fn run(pool: &DbPool, args: UsageArgs) -> anyhow::Result<()> {
    let UsageAction::Import {
        cluster,
        format,
        file,
    } = args.action;
    let size = std::fs::metadata(&file).map(|meta| meta.len()).unwrap_or(0);
    // Drawn only on a terminal: indicatif hides itself when stderr is not one.
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} [{bar:30}] {percent}% {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = usage_import::import(pool, &cluster, &file, format, |bytes| {
        bar.set_position(bytes)
    })
    .await;
    bar.finish_and_clear();
    let summary = summary?;
    println!(
        "Imported {} for {cluster}: {} records, {} charges, {} already charged, {} rejected (import {}).",
        file.display(),
        summary.records,
        summary.charged,
        summary.already_charged,
        summary.rejected,
        summary.import_id
    );
    if summary.rejected > 0 {
        println!(
            "See why: SELECT line, job_id, reason FROM registry.usage_rejection WHERE import_id = '{}' ORDER BY line;",
            summary.import_id
        );
    }
    Ok(())
}
