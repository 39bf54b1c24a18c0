//! The completer: records outcomes. Successes are written in batches, one statement for as
//! many as have arrived (up to [`MAX_BATCH`]), with what their executors applied; failures
//! and hand-backs one by one. A write that fails for want of the database is retried until it
//! succeeds, so no outcome is dropped while the daemon runs; writes are compare-and-sets, so a
//! retry of a write that did land changes nothing. A limited kind's slot is freed only once its
//! task's outcome is written.

use std::collections::HashSet;
use std::sync::Arc;

use purser_sql::DbError;
use purser_sql::queue::{self, AppliedState, Completion, Failure, FailureOutcome};
use tokio::sync::mpsc;

use super::outage::Outage;
use super::{Finished, Outcome, Shared};

/// Most outcomes in one write.
const MAX_BATCH: usize = 1000;

/// Receives outcomes until every sender is gone, and records them.
pub(super) async fn run(shared: Arc<Shared>, mut received: mpsc::Receiver<Finished>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while received.recv_many(&mut batch, MAX_BATCH).await > 0 {
        {
            let mut in_flight = shared.in_flight();
            for finished in &batch {
                if let Some(entry) = in_flight.get_mut(&finished.id) {
                    entry.completing = true;
                }
            }
        }
        record(&shared, &mut batch).await;
        let freed_kind_slot = batch.iter().any(|finished| finished.kind_slot.is_some());
        {
            let mut in_flight = shared.in_flight();
            for finished in batch.drain(..) {
                in_flight.remove(&finished.id);
            }
        }
        if freed_kind_slot {
            // A limited kind may have sat out claims while at its limit: look again now.
            shared.wake.notify_one();
        }
    }
}

async fn record(shared: &Shared, batch: &mut [Finished]) {
    let mut completions = Vec::new();
    let mut completion_kinds = Vec::new();
    let mut released = Vec::new();
    for finished in batch.iter_mut() {
        match &mut finished.outcome {
            Outcome::Succeeded(success) => {
                completions.push(Completion {
                    id: finished.id,
                    attempt: finished.attempt,
                    result: success.result.take(),
                    applied: std::mem::take(&mut success.applied)
                        .into_iter()
                        .map(|applied| AppliedState {
                            subject: applied.subject,
                            state: applied.state,
                        })
                        .collect(),
                });
                completion_kinds.push((finished.kind.as_str(), finished.duration_ms));
            }
            Outcome::Failed(error) => {
                let failure = Failure {
                    id: finished.id,
                    attempt: finished.attempt,
                    retryable: matches!(error, purser_executors::ExecutionError::Retryable(_)),
                    backoff: shared
                        .config
                        .retry_policy(&finished.kind)
                        .backoff(finished.attempt),
                    error: error.to_string(),
                };
                let outcome = until_written(shared, "record a failure", || async {
                    let mut client = shared.pool.connection().await?;
                    queue::fail(&mut client, &failure, &shared.config.clock).await
                })
                .await;
                let label = match outcome {
                    Some(FailureOutcome::Retrying) => "retrying",
                    Some(FailureOutcome::Dead) => "dead",
                    Some(FailureOutcome::FencedOut) => "fenced_out",
                    None => "unrecorded",
                };
                tracing::info!(
                    task.id = finished.id,
                    task.kind = %finished.kind,
                    task.attempt = finished.attempt,
                    duration_ms = finished.duration_ms,
                    outcome = label,
                    error = %failure.error,
                    "task failed"
                );
                shared.metrics.outcome(&finished.kind, label);
            }
            Outcome::LeaseLost => {
                tracing::warn!(
                    task.id = finished.id,
                    task.kind = %finished.kind,
                    duration_ms = finished.duration_ms,
                    "lease lost; the task was stopped"
                );
                shared.metrics.outcome(&finished.kind, "lease_lost");
            }
            Outcome::Aborted => {
                released.push((finished.id, finished.attempt, finished.kind.as_str()))
            }
        }
    }
    if !completions.is_empty() {
        let started = std::time::Instant::now();
        let written = until_written(shared, "record completions", || async {
            let client = shared.pool.connection().await?;
            queue::complete(&client, &completions, &shared.config.clock).await
        })
        .await;
        tracing::debug!(
            tasks = completions.len(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "recorded completions"
        );
        let Some(accepted) = written else {
            return;
        };
        let accepted: HashSet<i64> = accepted.into_iter().collect();
        for (completion, (kind, duration_ms)) in completions.iter().zip(&completion_kinds) {
            if accepted.contains(&completion.id) {
                tracing::debug!(task.id = completion.id, task.kind = %kind, duration_ms, "task succeeded");
                shared.metrics.outcome(kind, "succeeded");
            } else {
                tracing::warn!(task.id = completion.id, task.kind = %kind, "completion fenced out: the task was cancelled or its lease lost");
                shared.metrics.outcome(kind, "fenced_out");
            }
        }
    }
    if !released.is_empty() {
        let claims: Vec<(i64, i32)> = released
            .iter()
            .map(|(id, attempt, _)| (*id, *attempt))
            .collect();
        let _ = until_written(shared, "hand back unfinished tasks", || async {
            let client = shared.pool.connection().await?;
            queue::release(&client, &claims, &shared.config.clock).await
        })
        .await;
        for (id, _, kind) in released {
            tracing::info!(task.id = id, task.kind = %kind, "task handed back at shutdown");
            shared.metrics.outcome(kind, "released");
        }
    }
}

/// Retries a write until it lands, or until the engine gives up at the end of a shutdown
/// (`None`: the tasks stay running and run again once their leases lapse).
async fn until_written<T, F, Fut>(shared: &Shared, what: &'static str, write: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, DbError>>,
{
    let mut outage = Outage::new(what);
    loop {
        match write().await {
            Ok(value) => {
                outage.succeeded();
                return Some(value);
            }
            Err(error) => {
                let backoff = outage.failed(&error);
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shared.give_up.cancelled() => {
                        tracing::error!(%error, "gave up trying to {what}: those tasks will run again once their leases lapse");
                        return None;
                    }
                }
            }
        }
    }
}
