//! Maintenance: on a timer, rescues the site's tasks whose lease lapsed (their daemon died or
//! was cut off) and prunes its finished tasks past the retention period, in small batches.

use std::sync::Arc;

use chrono::Utc;
use purser_sql::queue;
use tokio_util::sync::CancellationToken;

use super::Shared;

/// Tasks deleted per prune statement.
const PRUNE_BATCH: i64 = 5000;

pub(super) async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let period = shared.config.maintenance_interval;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        if let Err(error) = rescue(&shared).await {
            tracing::warn!(%error, "cannot rescue lapsed tasks this round");
        }
        if let Err(error) = prune(&shared).await {
            tracing::warn!(%error, "cannot prune finished tasks this round");
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
    Ok(())
}
