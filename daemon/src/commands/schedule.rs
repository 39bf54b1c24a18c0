//! `purser schedule list|add|remove`: time-driven work. A schedule enqueues a task of its site
//! every period, exactly once per period however many daemons serve the site; periods missed
//! while no daemon ran are skipped, not caught up (`queue.schedule`, docs/queue.md). The same
//! operations are plain SQL: `queue.schedule_every(...)`, `queue.unschedule(name)`.
//!
//! Run `add` and `remove` as an admin (the schema's owner): no application role may create or
//! remove schedules.

use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use humantime_serde::re::humantime;
use purser_sql::DbPool;
use purser_sql::schedule::{self, NewSchedule, Schedule};
use serde_json::json;

use crate::config::Config;

/// Options of `purser schedule`.
#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    #[command(subcommand)]
    action: ScheduleAction,
}

#[derive(Debug, clap::Subcommand)]
enum ScheduleAction {
    /// List the schedules, by site and when each is next due.
    List {
        /// Only this site's.
        #[arg(long)]
        site: Option<String>,
        /// Print JSON, one object per line.
        #[arg(long)]
        json: bool,
    },
    /// Create a schedule, or change the one of that name (its next run stays unless
    /// --first-run-at is given).
    Add {
        /// The schedule's name (letters, digits, _ . : -).
        name: String,
        /// The site whose daemons fire it: a cluster's name, or a `[sites.NAME]` of the config file.
        #[arg(long)]
        site: String,
        /// The kind of task it enqueues, e.g. site.sync.
        #[arg(long)]
        kind: String,
        /// The period, e.g. 30s, 15m, 1h, 1d (1 second to 10 years; a day is 24 hours).
        #[arg(long, value_name = "DURATION")]
        every: String,
        /// The task's payload, a JSON object.
        #[arg(long, default_value = "{}")]
        payload: String,
        /// When it is first due (RFC 3339, e.g. 2026-12-01T02:00:00Z); default now.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        first_run_at: Option<DateTime<Utc>>,
    },
    /// Remove a schedule; the tasks it already enqueued stay.
    Remove {
        /// The schedule's name, as `list` shows it.
        name: String,
    },
}

/// `--every` as a duration, or one sentence saying what is wrong with it. Months and years
/// are refused: humantime reads them as 30.44 and 365.25 days, which no calendar period is.
fn parse_every(text: &str) -> anyhow::Result<Duration> {
    let calendar_unit = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .find(|unit| matches!(*unit, "y" | "year" | "years" | "M" | "month" | "months"));
    if let Some(unit) = calendar_unit {
        anyhow::bail!(
            "--every {text:?} uses {unit:?}: months and years have no fixed length; write days, such as 30d or 365d"
        );
    }
    humantime::parse_duration(text).map_err(|_| {
        anyhow::anyhow!("--every {text:?} is not a duration: write it like 30s, 15m, 1h or 1d")
    })
}

/// `--first-run-at` as a time, or one sentence saying how to write it.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| {
            format!("{text:?} is not a time: write it as RFC 3339, such as 2026-12-01T02:00:00Z")
        })
}

/// A schedule as `list --json` prints it.
fn schedule_json(schedule: &Schedule) -> serde_json::Value {
    json!({
        "name": schedule.name,
        "site": schedule.site,
        "kind": schedule.kind,
        "payload": schedule.payload,
        "every": humantime::format_duration(schedule.every).to_string(),
        "every_seconds": schedule.every.as_secs_f64(),
        "next_run_at": schedule.next_run_at,
        "created_at": schedule.created_at,
        "last_enqueued_at": schedule.last_enqueued_at,
        "last_period_start": schedule.last_period_start,
        "last_task_id": schedule.last_task_id,
    })
}

/// Runs a `schedule` action.
pub async fn run(config: &Config, pool: &DbPool, args: ScheduleArgs) -> anyhow::Result<()> {
    match args.action {
        ScheduleAction::List { site, json } => {
            let client = pool.connection().await?;
            let schedules = schedule::list(&client, site.as_deref()).await?;
            if json {
                for schedule in &schedules {
                    println!("{}", schedule_json(schedule));
                }
            } else {
                println!(
                    "{:<32} {:<16} {:<32} {:>10} {:<20} LAST TASK",
                    "NAME", "SITE", "KIND", "EVERY", "NEXT RUN"
                );
                for schedule in &schedules {
                    println!(
                        "{:<32} {:<16} {:<32} {:>10} {:<20} {}",
                        schedule.name,
                        schedule.site,
                        schedule.kind,
                        humantime::format_duration(schedule.every).to_string(),
                        schedule.next_run_at.format("%Y-%m-%d %H:%M:%S"),
                        schedule
                            .last_task_id
                            .map(|id| id.to_string())
                            .unwrap_or_else(|| "-".to_string())
                    );
                }
            }
        }
        ScheduleAction::Add {
            name,
            site,
            kind,
            every,
            payload,
            first_run_at,
        } => {
            let every = parse_every(&every)?;
            let payload = super::parse_payload(&payload)?;
            config.ensure_known_site(pool, &site).await?;
            let client = pool.connection().await?;
            let saved = schedule::schedule_every(
                &client,
                &NewSchedule {
                    name: name.clone(),
                    site,
                    kind,
                    payload,
                    every,
                    first_run_at,
                },
            )
            .await
            .context("cannot add the schedule")?;
            println!(
                "schedule {} enqueues {} on {} every {}, next at {}",
                saved.name,
                saved.kind,
                saved.site,
                humantime::format_duration(saved.every),
                saved.next_run_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
        ScheduleAction::Remove { name } => {
            let client = pool.connection().await?;
            if !schedule::unschedule(&client, &name)
                .await
                .with_context(|| format!("cannot remove schedule {name}"))?
            {
                bail!("schedule {name} does not exist (purser schedule list shows them)");
            }
            println!("schedule {name} is removed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_every;

    #[test]
    fn every_reads_humane_durations_and_refuses_others_in_one_sentence() {
        assert_eq!(parse_every("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_every("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(
            parse_every("fortnightly").unwrap_err().to_string(),
            "--every \"fortnightly\" is not a duration: write it like 30s, 15m, 1h or 1d"
        );
        for calendar in ["1month", "1M", "1 month", "2months", "1y", "1year 2d"] {
            let refused = parse_every(calendar).unwrap_err().to_string();
            assert!(
                refused.contains("months and years have no fixed length"),
                "{calendar}: {refused}"
            );
        }
        assert_eq!(parse_every("1w").unwrap(), Duration::from_secs(7 * 86_400));
    }
}
