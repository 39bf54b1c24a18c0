//! The heartbeat: every third of a lease, extends the leases of every task in flight and
//! marks the worker alive. A lease it cannot extend was lost (the task was rescued by another
//! daemon after we were cut off, or cancelled): that task's executor is stopped at once.

use std::collections::HashSet;
use std::sync::Arc;

use purser_sql::queue;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::outage::Outage;

pub(super) async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let period = shared.config.lease / 3;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Heartbeats keep their own rhythm: the next tick is the retry.
    let mut outage =
        Outage::new("extend leases (tasks are lost if this lasts longer than a lease)");
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        match beat(&shared).await {
            Ok(()) => outage.succeeded(),
            Err(error) => {
                outage.failed(&error);
            }
        }
    }
}

async fn beat(shared: &Shared) -> Result<(), purser_sql::DbError> {
    let claims: Vec<(i64, i32)> = shared
        .in_flight()
        .iter()
        .filter(|(_, entry)| !entry.completing)
        .map(|(id, entry)| (*id, entry.attempt))
        .collect();
    let client = shared.pool.connection().await?;
    queue::worker_seen(&client, shared.worker_id).await?;
    if claims.is_empty() {
        return Ok(());
    }
    let held: HashSet<i64> =
        queue::heartbeat(&client, &claims, shared.config.lease, &shared.config.clock)
            .await?
            .into_iter()
            .collect();
    let in_flight = shared.in_flight();
    for (id, attempt) in claims {
        if held.contains(&id) {
            continue;
        }
        // Gone or being completed since the snapshot: not a loss.
        if let Some(entry) = in_flight
            .get(&id)
            .filter(|entry| !entry.completing && entry.attempt == attempt)
        {
            tracing::warn!(
                task.id = id,
                task.attempt = attempt,
                "lease lost: stopping the task"
            );
            shared.metrics.lease_losses.inc();
            entry.lost.cancel();
        }
    }
    Ok(())
}
