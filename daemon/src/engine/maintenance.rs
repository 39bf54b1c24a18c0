//! Maintenance: on a timer, rescues the site's tasks whose lease lapsed (their daemon died or
//! was cut off) and prunes its finished tasks past the retention period, and the reconciler's
//! plans with them, in small batches.

use std::sync::Arc;

use chrono::Utc;
use purser_sql::{provision, queue};
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::outage::Outage;

/// Tasks deleted per prune statement.
const PRUNE_BATCH: i64 = 5000;

pub(super) async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let period = shared.config.maintenance_interval;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Maintenance keeps its own rhythm: the next round is the retry. An error that repeats
    // round after round is logged once, and its end once.
    let mut rescue_outage = Outage::new("rescue lapsed tasks");
    let mut prune_outage = Outage::new("prune finished tasks");
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        match rescue(&shared).await {
            Ok(()) => rescue_outage.succeeded(),
            Err(error) => {
                rescue_outage.failed(&error);
            }
        }
        match prune(&shared).await {
            Ok(()) => prune_outage.succeeded(),
            Err(error) => {
                prune_outage.failed(&error);
            }
        }
    }
}

async fn rescue(shared: &Shared) -> Result<(), purser_sql::DbError> {
    let mut client = shared.pool.connection().await?;
    let rescued =
        queue::rescue_expired(&mut client, &shared.config.site, &shared.config.clock).await?;
    if !rescued.requeued.is_empty() || !rescued.dead.is_empty() {
        tracing::warn!(
            requeued = ?rescued.requeued,
            dead = ?rescued.dead,
            "rescued tasks whose lease lapsed"
        );
        shared.wake.notify_one();
    }
    Ok(())
}

async fn prune(shared: &Shared) -> Result<(), purser_sql::DbError> {
    let now = shared.config.clock.now().unwrap_or_else(Utc::now);
    let cutoff = chrono::Duration::from_std(shared.config.retention)
        .ok()
        .and_then(|retention| now.checked_sub_signed(retention))
        .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
    let client = shared.pool.connection().await?;
    let mut total = 0;
    loop {
        let deleted = queue::prune(&client, &shared.config.site, cutoff, PRUNE_BATCH).await?;
        total += deleted;
        if deleted < PRUNE_BATCH {
            break;
        }
    }
    if total > 0 {
        tracing::info!(deleted = total, "pruned finished tasks");
    }
    // The reconciler's plans and their actions go with the tasks they enqueued.
    let mut plans = 0;
    loop {
        let deleted =
            provision::prune_plans(&client, &shared.config.site, cutoff, PRUNE_BATCH).await?;
        plans += deleted;
        if deleted < PRUNE_BATCH {
            break;
        }
    }
    if plans > 0 {
        tracing::info!(deleted = plans, "pruned the reconciler's plans");
    }
    Ok(())
}
