//! The scheduler: on a timer, fires the site's due schedules (`queue.schedule`,
//! `purser_sql::schedule::fire`), one task per schedule for the latest period begun. Every
//! daemon of a site runs it; the firing statement's row locks make each period's task enqueued
//! exactly once however many do. The task's insert notifies the site's daemons, so it is
//! claimed at once.

use std::sync::Arc;

use purser_sql::schedule;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::outage::Outage;

/// Schedules fired per statement; a site with more due at once fires the rest at once after.
const FIRE_BATCH: i64 = 500;

pub(super) async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let period = shared.config.schedule_interval;
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The next tick is the retry; an error that repeats is logged once, and its end once.
    let mut outage = Outage::new("fire due schedules");
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        match fire_due(&shared).await {
            Ok(()) => outage.succeeded(),
            Err(error) => {
                outage.failed(&error);
            }
        }
    }
}

async fn fire_due(shared: &Shared) -> Result<(), purser_sql::DbError> {
    let client = shared.pool.connection().await?;
    loop {
        let fired = schedule::fire(
            &client,
            &shared.config.site,
            &shared.config.clock,
            FIRE_BATCH,
        )
        .await?;
        for one in &fired {
            tracing::info!(
                schedule = %one.name,
                period = %one.period_start,
                task.id = one.task_id,
                "fired a schedule"
            );
        }
        if i64::try_from(fired.len()).unwrap_or(i64::MAX) < FIRE_BATCH {
            return Ok(());
        }
    }
}
