//! Schedules: time-driven work (`queue.schedule`, `V17__schedules.sql`). An admin creates and
//! removes them (`queue.schedule_every`, `queue.unschedule`; `purser schedule add|remove`); each
//! daemon of a site fires its site's due schedules on its maintenance loop ([`fire`]), and the
//! statement's row locks make each period's task enqueued exactly once, however many daemons
//! serve the site. Periods missed while no daemon ran are skipped, not caught up.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::Row;

use crate::bind;
use crate::error::DbError;
use crate::pool::{query, query_one};
use crate::queue::Clock;
use crate::statements::{SCHEDULE_EVERY, SCHEDULE_FIRE, SCHEDULE_LIST, UNSCHEDULE};

/// A schedule, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Its unique name.
    pub name: String,
    /// The site whose daemons fire it.
    pub site: String,
    /// The kind of the task it enqueues.
    pub kind: String,
    /// The payload of the task it enqueues.
    pub payload: Value,
    /// The period.
    pub every: Duration,
    /// When it is next due.
    pub next_run_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When a daemon last fired it.
    pub last_enqueued_at: Option<DateTime<Utc>>,
    /// The start of the period it last fired for.
    pub last_period_start: Option<DateTime<Utc>>,
    /// The task it last enqueued.
    pub last_task_id: Option<i64>,
}

impl Schedule {
    fn from_row(row: &Row) -> Self {
        let every_microseconds: i64 = row.get("every_microseconds");
        Self {
            name: row.get("name"),
            site: row.get("site"),
            kind: row.get("kind"),
            payload: row.get("payload"),
            every: Duration::from_micros(u64::try_from(every_microseconds).unwrap_or(0)),
            next_run_at: row.get("next_run_at"),
            created_at: row.get("created_at"),
            last_enqueued_at: row.get("last_enqueued_at"),
            last_period_start: row.get("last_period_start"),
            last_task_id: row.get("last_task_id"),
        }
    }
}

/// A schedule to create or change.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSchedule {
    /// Its unique name; an existing schedule of this name is changed.
    pub name: String,
    /// The site whose daemons fire it.
    pub site: String,
    /// The kind of the task it enqueues.
    pub kind: String,
    /// The payload of the task it enqueues, a JSON object.
    pub payload: Value,
    /// The period: 1 second to 10 years.
    pub every: Duration,
    /// When it is first due; `None`: now for a new schedule, unchanged for an existing one.
    pub first_run_at: Option<DateTime<Utc>>,
}

/// A schedule fired for one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The schedule.
    pub name: String,
    /// The start of the period the task is for (its dedupe key names it).
    pub period_start: DateTime<Utc>,
    /// The task enqueued.
    pub task_id: i64,
}

/// Creates a schedule, or changes the one of that name, through `queue.schedule_every`;
/// returns it as stored. The function refuses bad input with a sentence naming the field.
pub async fn schedule_every(
    client: &impl GenericClient,
    schedule: &NewSchedule,
) -> Result<Schedule, DbError> {
    let every_microseconds = i64::try_from(schedule.every.as_micros()).unwrap_or(i64::MAX);
    let row = query_one(
        client,
        bind!(
            SCHEDULE_EVERY,
            name = &schedule.name,
            site = &schedule.site,
            kind = &schedule.kind,
            payload = &schedule.payload,
            every_microseconds = &every_microseconds,
            first_run_at = &schedule.first_run_at,
        ),
    )
    .await?;
    Ok(Schedule::from_row(&row))
}

/// Removes a schedule through `queue.unschedule`; returns whether it existed.
pub async fn unschedule(client: &impl GenericClient, name: &str) -> Result<bool, DbError> {
    Ok(query_one(client, bind!(UNSCHEDULE, name = &name))
        .await?
        .get("existed"))
}

/// The schedules, of one site when given, by site and next due time.
pub async fn list(
    client: &impl GenericClient,
    site: Option<&str>,
) -> Result<Vec<Schedule>, DbError> {
    let rows = query(client, bind!(SCHEDULE_LIST, site = &site)).await?;
    Ok(rows.iter().map(Schedule::from_row).collect())
}

/// Fires up to `limit` of the site's schedules due by `clock`: one task each, for the latest
/// period begun, and each moved to its first period after the clock, in one statement (so one
/// transaction). Daemons of the same site may call it at once: each period is enqueued once.
pub async fn fire(
    client: &impl GenericClient,
    site: &str,
    clock: &Clock,
    limit: i64,
) -> Result<Vec<Fired>, DbError> {
    let rows = query(
        client,
        bind!(
            SCHEDULE_FIRE,
            site = &site,
            now = &clock.now(),
            limit = &limit
        ),
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| Fired {
            name: row.get("name"),
            period_start: row.get("period_start"),
            task_id: row.get("task_id"),
        })
        .collect())
}
