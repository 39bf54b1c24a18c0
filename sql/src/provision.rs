//! The reconciler's SQL (`V18__reconciler.sql`): connectors registered per site, plans
//! (`provision.reconcile`: desired minus observed, enqueued as the connector's tasks), the
//! on-change pass over a site's dirty marks, and the time-driven registry work.
//!
//! Every call here takes the clock it decides at: the views and functions read
//! `registry.now()`, which is the transaction's `purser.now` when a manual clock sets it, so a
//! test moves the registry's time the same way it moves the queue's.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::bind;
use crate::error::DbError;
use crate::pool::{begin, commit, execute, query, query_one};
use crate::queue::Clock;
use crate::statements::{
    PLAN_PRUNE, PROVISION_CONNECTORS, PROVISION_DRIFT, PROVISION_ENSURE_SCHEDULE,
    PROVISION_RECONCILE, PROVISION_RECONCILE_DIRTY, PROVISION_REGISTER_CONNECTOR,
    PROVISION_SET_CLOCK, PROVISION_SUBJECTS, PROVISION_UNREGISTER_OTHERS, REGISTRY_ADVANCE_TIME,
    REPORT_ACCESS_VERDICTS,
};

/// The subjects a connector manages (`provision.connector.model`).
pub const ACCOUNTS_MODEL: &str = "accounts";

/// A connector of a site, as a daemon registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorRegistration {
    /// The site.
    pub site: String,
    /// The connector's name; its tasks are `NAME.apply` and `NAME.observe`.
    pub connector: String,
    /// Which subjects it manages ([`ACCOUNTS_MODEL`]).
    pub model: String,
    /// A plan deleting more than this percentage of its managed subjects applies nothing…
    pub mass_delete_percent: i32,
    /// …unless it deletes at most this many.
    pub mass_delete_minimum: i32,
}

/// A registered connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connector {
    /// The site.
    pub site: String,
    /// The connector.
    pub connector: String,
    /// Its model.
    pub model: String,
    /// Its mass-delete threshold, in percent of its managed subjects.
    pub mass_delete_percent: i32,
    /// The deletes a plan may always make.
    pub mass_delete_minimum: i32,
    /// When a daemon last registered it.
    pub registered_at: DateTime<Utc>,
    /// When its last full plan ran.
    pub last_full_plan_at: Option<DateTime<Utc>>,
    /// When its last full snapshot was recorded.
    pub last_observed_at: Option<DateTime<Utc>>,
}

/// One action of a plan, enqueued or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedAction {
    /// The plan that enqueued it (`provision.plan`); `None` in a dry run or when nothing was
    /// enqueued.
    pub plan_id: Option<i64>,
    /// The subject, e.g. `association/che260001/alan`.
    pub subject: String,
    /// create, update, block, unblock, delete or conflict.
    pub action: String,
    /// What the site was observed to hold.
    pub from: Option<Value>,
    /// What it should hold.
    pub to: Option<Value>,
    /// The conditions that decided it.
    pub why: Value,
    /// Its task, when enqueued (or already on its way).
    pub task_id: Option<i64>,
    /// When it is due: now, or later while it backs off (its target did not hold lately).
    pub run_at: Option<DateTime<Utc>>,
    /// What became of it.
    pub outcome: Outcome,
    /// Why it was not enqueued, or what it superseded.
    pub note: Option<String>,
}

/// Why a plan applied nothing, when it was refused (every action then carries the reason).
pub fn refusal(actions: &[PlannedAction]) -> Option<&str> {
    actions
        .iter()
        .find(|action| action.outcome == Outcome::Refused)
        .and_then(|action| action.note.as_deref())
}

/// What a plan did with an action (`provision.reconcile`'s `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// This plan enqueued its task.
    Enqueued,
    /// A task for the same target was already on its way.
    AlreadyEnqueued,
    /// A dry run: it would be enqueued.
    WouldEnqueue,
    /// Its target did not hold lately: planned again from `run_at`.
    BackingOff,
    /// A conflict: the site holds the subject outside the connector's ownership.
    LeftAlone,
    /// A delete withheld because the desired set is empty.
    Withheld,
    /// The plan deletes more than its threshold allows: nothing was applied.
    Refused,
}

impl Outcome {
    fn from_sql(text: &str) -> Self {
        match text {
            "enqueued" => Self::Enqueued,
            "already enqueued" => Self::AlreadyEnqueued,
            "would enqueue" => Self::WouldEnqueue,
            "backing off" => Self::BackingOff,
            "left alone" => Self::LeftAlone,
            "withheld" => Self::Withheld,
            // "refused": the one outcome left that provision.reconcile returns.
            _ => Self::Refused,
        }
    }
}

impl PlannedAction {
    fn from_row(row: &Row) -> Self {
        Self {
            plan_id: row.get("plan_id"),
            subject: row.get("subject"),
            action: row.get("action"),
            from: row.get("from_state"),
            to: row.get("to_state"),
            why: row.get("why"),
            task_id: row.get("task_id"),
            run_at: row.get("run_at"),
            outcome: Outcome::from_sql(row.get("outcome")),
            note: row.get("note"),
        }
    }
}

/// What a plan should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRequest<'a> {
    /// The site.
    pub site: &'a str,
    /// The connector.
    pub connector: &'a str,
    /// The accounts to plan; `None`: every subject (a full plan).
    pub scopes: Option<&'a [String]>,
    /// Apply a plan that deletes more than the connector's threshold.
    pub allow_mass_delete: bool,
    /// Return the plan, change nothing.
    pub dry_run: bool,
}

/// The on-change pass of one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyPass {
    /// The connector.
    pub connector: String,
    /// Marks consumed.
    pub marks: i32,
    /// Accounts planned.
    pub accounts: i32,
    /// Actions enqueued.
    pub actions: i32,
    /// Why the plan applied nothing, when it was refused.
    pub refused: Option<String>,
}

/// Something the time-driven registry work did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWork {
    /// closed or topped_up.
    pub what: String,
    /// The allocation.
    pub allocation_id: Uuid,
    /// A few words on it.
    pub detail: String,
}

/// Registers (or updates) a connector of a site.
pub async fn register_connector(
    client: &impl GenericClient,
    registration: &ConnectorRegistration,
) -> Result<(), DbError> {
    execute(
        client,
        bind!(
            PROVISION_REGISTER_CONNECTOR,
            site = &registration.site,
            connector = &registration.connector,
            model = &registration.model,
            mass_delete_percent = &registration.mass_delete_percent,
            mass_delete_minimum = &registration.mass_delete_minimum,
        ),
    )
    .await?;
    Ok(())
}

/// One of the reconciler's schedules of a site (`provision.ensure_schedule`): named
/// `purser:SITE:NAME_SUFFIX`, of kind `registry.advance_time` or `CONNECTOR.observe`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcilerSchedule<'a> {
    /// The site.
    pub site: &'a str,
    /// What follows `purser:SITE:` in its name.
    pub name_suffix: &'a str,
    /// The task kind it enqueues.
    pub kind: &'a str,
    /// The task's payload.
    pub payload: &'a Value,
    /// Its period.
    pub every: std::time::Duration,
}

/// Creates or changes one of the reconciler's schedules of a site; the application roles may
/// make no other schedule, and a role bound to a site only its own site's.
pub async fn ensure_schedule(
    client: &impl GenericClient,
    schedule: &ReconcilerSchedule<'_>,
) -> Result<(), DbError> {
    let every_microseconds = i64::try_from(schedule.every.as_micros()).unwrap_or(i64::MAX);
    query_one(
        client,
        bind!(
            PROVISION_ENSURE_SCHEDULE,
            site = &schedule.site,
            name_suffix = &schedule.name_suffix,
            kind = &schedule.kind,
            payload = schedule.payload,
            every_microseconds = &every_microseconds,
        ),
    )
    .await?;
    Ok(())
}

/// Removes a site's connectors other than `keep`, with what they observed; returns their
/// names.
pub async fn unregister_other_connectors(
    client: &impl GenericClient,
    site: &str,
    keep: &[String],
) -> Result<Vec<String>, DbError> {
    let rows = query(
        client,
        bind!(PROVISION_UNREGISTER_OTHERS, site = &site, keep = &keep),
    )
    .await?;
    Ok(rows.iter().map(|row| row.get("connector")).collect())
}

/// The connectors registered for a site (every site when `None`).
pub async fn connectors(
    client: &impl GenericClient,
    site: Option<&str>,
) -> Result<Vec<Connector>, DbError> {
    let rows = query(client, bind!(PROVISION_CONNECTORS, site = &site)).await?;
    Ok(rows
        .iter()
        .map(|row| Connector {
            site: row.get("site"),
            connector: row.get("connector"),
            model: row.get("model"),
            mass_delete_percent: row.get("mass_delete_percent"),
            mass_delete_minimum: row.get("mass_delete_minimum"),
            registered_at: row.get("registered_at"),
            last_full_plan_at: row.get("last_full_plan_at"),
            last_observed_at: row.get("last_observed_at"),
        })
        .collect())
}

/// Plans one connector of a site and, unless a dry run, enqueues the actions, in one
/// transaction decided at `clock`.
pub async fn reconcile(
    client: &mut deadpool_postgres::Client,
    request: &PlanRequest<'_>,
    clock: &Clock,
) -> Result<Vec<PlannedAction>, DbError> {
    let transaction = begin(client).await?;
    set_clock(&transaction, clock).await?;
    let rows = query(
        &transaction,
        bind!(
            PROVISION_RECONCILE,
            site = &request.site,
            connector = &request.connector,
            scopes = &request.scopes,
            allow_mass_delete = &request.allow_mass_delete,
            dry_run = &request.dry_run,
        ),
    )
    .await?;
    commit(transaction).await?;
    Ok(rows.iter().map(PlannedAction::from_row).collect())
}

/// Consumes up to `most` of a site's dirty marks and plans their accounts for each of its
/// connectors, in one transaction decided at `clock`. Empty when there were no marks.
pub async fn reconcile_dirty(
    client: &mut deadpool_postgres::Client,
    site: &str,
    most: i32,
    clock: &Clock,
) -> Result<Vec<DirtyPass>, DbError> {
    let transaction = begin(client).await?;
    set_clock(&transaction, clock).await?;
    let rows = query(
        &transaction,
        bind!(PROVISION_RECONCILE_DIRTY, site = &site, most = &most),
    )
    .await?;
    commit(transaction).await?;
    Ok(rows
        .iter()
        .map(|row| DirtyPass {
            connector: row.get("connector"),
            marks: row.get("marks"),
            accounts: row.get("accounts"),
            actions: row.get("actions"),
            refused: row.get("refused"),
        })
        .collect())
}

/// The time-driven registry work of a site at `clock` (`registry.advance_time`), in one
/// transaction.
pub async fn advance_time(
    client: &mut deadpool_postgres::Client,
    site: &str,
    clock: &Clock,
) -> Result<Vec<TimeWork>, DbError> {
    let transaction = begin(client).await?;
    set_clock(&transaction, clock).await?;
    let rows = query(&transaction, bind!(REGISTRY_ADVANCE_TIME, site = &site)).await?;
    commit(transaction).await?;
    Ok(rows
        .iter()
        .map(|row| TimeWork {
            what: row.get("what"),
            allocation_id: row.get("allocation_id"),
            detail: row.get("detail"),
        })
        .collect())
}

/// Deletes up to `limit` of a site's plans made before `before`, with their actions, keeping
/// those whose tasks are unfinished; returns how many were deleted.
pub async fn prune_plans(
    client: &impl GenericClient,
    site: &str,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<i64, DbError> {
    Ok(query_one(
        client,
        bind!(PLAN_PRUNE, site = &site, before = &before, limit = &limit),
    )
    .await?
    .get("deleted"))
}

/// One subject of a site's drift (`report.drift`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// The connector that would act.
    pub connector: String,
    /// The subject.
    pub subject: String,
    /// create, update, block, unblock, delete or conflict.
    pub action: String,
    /// What the site was observed to hold.
    pub from: Option<Value>,
    /// What it should hold.
    pub to: Option<Value>,
    /// The conditions that decided it.
    pub why: Value,
}

/// A site's drift, by connector and subject: empty when every connector's last observation
/// matches what the registry wants. Read at the database's clock.
pub async fn drift(client: &impl GenericClient, site: &str) -> Result<Vec<Drift>, DbError> {
    let rows = query(client, bind!(PROVISION_DRIFT, site = &site)).await?;
    Ok(rows
        .iter()
        .map(|row| Drift {
            connector: row.get("connector"),
            subject: row.get("subject"),
            action: row.get("action"),
            from: row.get("from_state"),
            to: row.get("to_state"),
            why: row.get("why"),
        })
        .collect())
}

/// One subject of a site, as the registry wants it and as its connector last saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subject {
    /// The connector.
    pub connector: String,
    /// The subject, e.g. `association/che260001/alan`.
    pub subject: String,
    /// Whether the registry derives it (`provision.desired` has a row for it).
    pub derived: bool,
    /// What the registry wants it to hold; `None`: nothing (it must not exist, or it is not
    /// derived).
    pub desired: Option<Value>,
    /// What the connector last saw it hold (`provision.observed`); `None`: not observed.
    pub observed: Option<Value>,
    /// When it was observed.
    pub observed_at: Option<DateTime<Utc>>,
}

/// Every subject of a site that the registry derives or a connector observed, by connector and
/// subject. Read at the database's clock.
pub async fn subjects(client: &impl GenericClient, site: &str) -> Result<Vec<Subject>, DbError> {
    let rows = query(client, bind!(PROVISION_SUBJECTS, site = &site)).await?;
    Ok(rows
        .iter()
        .map(|row| Subject {
            connector: row.get("connector"),
            subject: row.get("subject"),
            derived: row.get("derived"),
            desired: row.get("desired_state"),
            observed: row.get("observed_state"),
            observed_at: row.get("observed_at"),
        })
        .collect())
}

/// Sets the time the transaction decides access at (`registry.now()`).
async fn set_clock(client: &impl GenericClient, clock: &Clock) -> Result<(), DbError> {
    query_one(client, bind!(PROVISION_SET_CLOCK, now = &clock.now())).await?;
    Ok(())
}

/// Every membership's row of `report.access_explain`, as JSON: its conditions and its verdict
/// (`access`: granted, blocked or revoked), by cluster, account and user name.
pub async fn access_verdicts(client: &impl GenericClient) -> Result<Vec<Value>, DbError> {
    let rows = query(client, bind!(REPORT_ACCESS_VERDICTS)).await?;
    Ok(rows.iter().map(|row| row.get("item")).collect())
}
