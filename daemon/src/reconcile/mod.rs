//! The reconciler: what makes a site's managed systems match the registry, level-triggered.
//!
//! ```text
//!   registry change ──statement trigger──▶ provision.dirty + NOTIFY purser_reconcile
//!                                                 │
//!   LISTEN / poll ──▶ on-change pass: provision.reconcile_dirty (the dirty accounts only)
//!   timer ─────────▶ full pass per connector every reconcile_every, and after a new snapshot
//!                        │ provision.reconcile: desired − observed → CONNECTOR.apply tasks
//!                        ▼
//!                 the engine runs them; each apply reads back what it touched, the
//!                 scheduled CONNECTOR.observe takes a full snapshot (provision.observed)
//! ```
//!
//! Every daemon of a site runs it. The plans themselves serialise on their connector's row,
//! and a dirty mark is consumed by one daemon (`FOR UPDATE SKIP LOCKED`), so two daemons never
//! enqueue one action twice; a plan and its marks commit together, so a daemon that dies
//! mid-pass leaves its marks for the next. The plan is computed from state, not from what
//! tasks did: an action whose task died is planned again by the next pass.
//!
//! At start it registers the site's connectors (`provision.connector`) and the schedules of
//! their observe steps and of the site's time-driven registry work ([`time`]).

pub mod time;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use purser_sql::DbPool;
use purser_sql::notify::Channel;
use purser_sql::provision::{
    self, ConnectorRegistration, Outcome, PlanRequest, ReconcilerSchedule,
};
use purser_sql::queue::Clock;
use purser_sql::schedule;
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::engine::outage::Outage;
use crate::engine::wakeup;

/// Dirty marks consumed per pass; more are taken by the next pass at once.
const DIRTY_BATCH: i32 = 1000;

/// One connector of the site, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorSettings {
    /// Its name (`script`, …): its tasks are `NAME.apply` and `NAME.observe`.
    pub name: String,
    /// Whether it has an observe step (a scheduled full snapshot).
    pub observes: bool,
    /// A full observe and plan this often.
    pub reconcile_every: Duration,
}

/// How a site's reconciler runs.
#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    /// The site.
    pub site: String,
    /// The database URL, for the LISTEN connection.
    pub database_url: String,
    /// The site's connectors.
    pub connectors: Vec<ConnectorSettings>,
    /// A plan deleting more than this percentage of a connector's managed subjects applies
    /// nothing…
    pub mass_delete_percent: i32,
    /// …unless it deletes at most this many.
    pub mass_delete_minimum: i32,
    /// How often to look for dirty marks without a wake-up.
    pub poll_interval: Duration,
    /// How often the site's time-driven registry work runs.
    pub time_every: Duration,
    /// Where "now" comes from.
    pub clock: Clock,
}

/// The default period of a connector's full observe and plan.
pub const DEFAULT_RECONCILE_EVERY: Duration = Duration::from_secs(300);

impl ReconcilerConfig {
    /// The defaults for a site and its connectors.
    pub fn new(
        site: impl Into<String>,
        database_url: impl Into<String>,
        connectors: Vec<ConnectorSettings>,
    ) -> Self {
        Self {
            site: site.into(),
            database_url: database_url.into(),
            connectors,
            mass_delete_percent: 10,
            mass_delete_minimum: 5,
            poll_interval: Duration::from_secs(1),
            time_every: Duration::from_secs(60),
            clock: Clock::Database,
        }
    }
}

/// Reconciles until `shutdown`; [`register`] first.
pub async fn run(config: ReconcilerConfig, pool: DbPool, shutdown: CancellationToken) {
    tracing::info!(
        site = %config.site,
        connectors = %config.connectors.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
        "reconciler started"
    );
    let wake = Arc::new(Notify::new());
    let listening = tokio::spawn({
        let (url, site, wake, stop) = (
            config.database_url.clone(),
            config.site.clone(),
            wake.clone(),
            shutdown.clone(),
        );
        async move { wakeup::listen(&url, Channel::Reconcile, &site, &wake, stop).await }
    });
    let mut outage = Outage::new("reconcile");
    loop {
        match pass(&config, &pool).await {
            Ok(()) => outage.succeeded(),
            Err(error) => {
                outage.failed(&error);
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = wake.notified() => {}
            () = tokio::time::sleep(config.poll_interval) => {}
        }
    }
    let _ = listening.await;
}

/// Registers the connectors, and makes the schedules of their observe steps and of the site's
/// time-driven work (when it has a connector), leaving schedules that are already as they should be alone (a change is
/// audited, and every daemon of a site starts with the same settings).
pub async fn register(config: &ReconcilerConfig, pool: &DbPool) -> anyhow::Result<()> {
    use anyhow::Context;
    let client = pool
        .connection()
        .await
        .context("cannot register the site's connectors")?;
    for connector in &config.connectors {
        provision::register_connector(
            &client,
            &ConnectorRegistration {
                site: config.site.clone(),
                connector: connector.name.clone(),
                model: provision::ACCOUNTS_MODEL.to_string(),
                mass_delete_percent: config.mass_delete_percent,
                mass_delete_minimum: config.mass_delete_minimum,
            },
        )
        .await
        .with_context(|| format!("cannot register connector {}", connector.name))?;
    }
    // A site whose daemons run no connector has nothing to enact: its time-driven work waits
    // for one (the registry's decisions already read the clock).
    let configured: Vec<String> = config.connectors.iter().map(|c| c.name.clone()).collect();
    for dropped in provision::unregister_other_connectors(&client, &config.site, &configured)
        .await
        .context("cannot drop the connectors the site no longer runs")?
    {
        tracing::warn!(site = %config.site, connector = %dropped, "unregistered a connector this site's configuration no longer names");
    }
    // (name suffix, kind, payload, period): what follows purser:SITE: in each name.
    let mut wanted = Vec::new();
    if !config.connectors.is_empty() {
        wanted.push((
            "time".to_string(),
            time::KIND.to_string(),
            json!({}),
            config.time_every,
        ));
    }
    for connector in config.connectors.iter().filter(|c| c.observes) {
        wanted.push((
            format!("{}:observe", connector.name),
            format!("{}.observe", connector.name),
            json!({"connector": connector.name}),
            connector.reconcile_every,
        ));
    }
    let existing: BTreeMap<String, schedule::Schedule> =
        schedule::list(&client, Some(&config.site))
            .await
            .context("cannot read the site's schedules")?
            .into_iter()
            .map(|existing| (existing.name.clone(), existing))
            .collect();
    for (name_suffix, kind, payload, every) in &wanted {
        let name = format!("purser:{}:{name_suffix}", config.site);
        let unchanged = existing.get(&name).is_some_and(|existing| {
            existing.kind == *kind && existing.payload == *payload && existing.every == *every
        });
        if !unchanged {
            provision::ensure_schedule(
                &client,
                &ReconcilerSchedule {
                    site: &config.site,
                    name_suffix,
                    kind,
                    payload,
                    every: *every,
                },
            )
            .await
            .with_context(|| format!("cannot make schedule {name}"))?;
        }
    }
    Ok(())
}

/// One round: the dirty accounts first (until none are left), then any connector whose full
/// plan is due: never run, older than its period, or older than its last snapshot.
async fn pass(config: &ReconcilerConfig, pool: &DbPool) -> Result<(), purser_sql::DbError> {
    let mut client = pool.connection().await?;
    loop {
        let started = std::time::Instant::now();
        let passes =
            provision::reconcile_dirty(&mut client, &config.site, DIRTY_BATCH, &config.clock)
                .await?;
        let Some(first) = passes.first() else { break };
        let marks = first.marks;
        for done in &passes {
            if let Some(refused) = &done.refused {
                tracing::warn!(site = %config.site, connector = %done.connector, %refused, "a plan was refused");
            }
            tracing::info!(
                site = %config.site,
                connector = %done.connector,
                marks = done.marks,
                accounts = done.accounts,
                actions = done.actions,
                duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                "planned the accounts that changed"
            );
        }
        if marks < DIRTY_BATCH {
            break;
        }
    }
    let now = config.clock.now().unwrap_or_else(Utc::now);
    for registered in provision::connectors(&client, Some(&config.site)).await? {
        let Some(settings) = config
            .connectors
            .iter()
            .find(|c| c.name == registered.connector)
        else {
            continue;
        };
        let every =
            chrono::Duration::from_std(settings.reconcile_every).unwrap_or(chrono::Duration::MAX);
        let due = match registered.last_full_plan_at {
            None => true,
            Some(last) => {
                last + every <= now
                    || registered
                        .last_observed_at
                        .is_some_and(|observed| observed > last)
            }
        };
        if due {
            full_plan(config, &mut client, &registered.connector).await?;
        }
    }
    Ok(())
}

/// A full plan of one connector, logged.
async fn full_plan(
    config: &ReconcilerConfig,
    client: &mut deadpool_postgres::Client,
    connector: &str,
) -> Result<(), purser_sql::DbError> {
    let started = std::time::Instant::now();
    let actions = provision::reconcile(
        client,
        &PlanRequest {
            site: &config.site,
            connector,
            scopes: None,
            allow_mass_delete: false,
            dry_run: false,
        },
        &config.clock,
    )
    .await?;
    let enqueued = actions
        .iter()
        .filter(|action| action.outcome == Outcome::Enqueued)
        .count();
    if let Some(refused) = provision::refusal(&actions) {
        tracing::warn!(site = %config.site, connector, refused, "a full plan was refused");
    }
    tracing::info!(
        site = %config.site,
        connector,
        drifted = actions.len(),
        enqueued,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "full plan"
    );
    Ok(())
}
