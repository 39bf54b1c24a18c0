//! The completer: records outcomes. Successes are written in batches, one statement for as
//! many as have arrived (up to [`MAX_BATCH`]), with what their executors applied; failures
//! and hand-backs one by one. A limited kind's slot is freed only once its task's outcome is
//! written.
//!
//! The retry policy of a write: only a transient error ([`DbError::is_transient`]: the
//! connection failed, the server is going away, a serialization failure or a deadlock) is
//! retried, with backoff, until the write lands, so no outcome is dropped while the database is
//! away; writes are compare-and-sets, so a retry of a write that did land changes nothing. Any
//! other error is the database refusing the write itself, which would fail again forever: a
//! refused batch of completions is written in halves, and halves of those, until the tasks
//! whose own writes are refused are found. Each of those is failed alone, as retryable (its
//! attempts and backoff decide whether it runs again), with the reason "the executor's output
//! could not be stored: …" in a sentence; every other task of the batch is completed once.
//! A batch never applies one subject twice (the upsert could not), so a subject that two
//! finished tasks applied splits the batch in order instead.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use purser_sql::DbError;
use purser_sql::constraints::{Refusal, refusal};
use purser_sql::error::flatten_pg_error;
use purser_sql::queue::{self, AppliedState, Completion, Failure, FailureOutcome, ObservedState};
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

/// The reason kept on a task whose outcome the database would not store.
pub(super) fn unstorable(why: &dyn std::fmt::Display) -> String {
    format!("the executor's output could not be stored: {why}")
}

/// A failed attempt, for [`record_failure`].
struct FailedAttempt<'a> {
    id: i64,
    attempt: i32,
    kind: &'a str,
    duration_ms: f64,
    retryable: bool,
    error: String,
    /// What the database said when it refused the task's outcome, for the log.
    refused_with: Option<String>,
}

/// A success waiting to be written, with what its log line needs.
struct Succeeded<'a> {
    kind: &'a str,
    duration_ms: f64,
}

async fn record(shared: &Shared, batch: &mut [Finished]) {
    let mut completions = Vec::new();
    let mut succeeded = Vec::new();
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
                    observation: success.observation.take().map(|observation| ObservedState {
                        connector: observation.connector,
                        snapshot: observation.snapshot,
                        subjects: observation
                            .subjects
                            .into_iter()
                            .map(|observed| (observed.subject, observed.state, observed.managed))
                            .collect(),
                    }),
                });
                succeeded.push(Succeeded {
                    kind: &finished.kind,
                    duration_ms: finished.duration_ms,
                });
            }
            Outcome::Failed(error) => {
                record_failure(
                    shared,
                    FailedAttempt {
                        id: finished.id,
                        attempt: finished.attempt,
                        kind: &finished.kind,
                        duration_ms: finished.duration_ms,
                        retryable: matches!(error, purser_executors::ExecutionError::Retryable(_)),
                        error: error.to_string(),
                        refused_with: None,
                    },
                )
                .await;
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
    for run in runs_without_repeated_subjects(&completions) {
        if !record_completions(shared, &completions, &succeeded, run).await {
            // Given up at the end of a shutdown: the rest stay running until their leases lapse.
            break;
        }
    }
    if !released.is_empty() {
        let claims: Vec<(i64, i32)> = released
            .iter()
            .map(|(id, attempt, _)| (*id, *attempt))
            .collect();
        let written = until_written(shared, "hand back unfinished tasks", || async {
            let client = shared.pool.connection().await?;
            queue::release(&client, &claims, &shared.config.clock).await
        })
        .await;
        if let Written::Refused(error) = written {
            tracing::error!(
                error = %database_said(&error),
                "the database refused to take back unfinished tasks: they run again once their leases lapse"
            );
        }
        for (id, _, kind) in released {
            tracing::info!(task.id = id, task.kind = %kind, "task handed back at shutdown");
            shared.metrics.outcome(kind, "released");
        }
    }
}

/// Splits the completions, in order, into runs in which no subject is applied twice and no
/// connector observed twice: the completion statement upserts applied and observed states, and
/// one statement cannot touch a row twice (a snapshot replaces every row of its connector).
fn runs_without_repeated_subjects(completions: &[Completion]) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut subjects: HashSet<&str> = HashSet::new();
    let mut connectors: HashSet<&str> = HashSet::new();
    for (index, completion) in completions.iter().enumerate() {
        let observed = completion
            .observation
            .as_ref()
            .map(|observation| observation.connector.as_str());
        let repeats = completion
            .applied
            .iter()
            .any(|applied| subjects.contains(applied.subject.as_str()))
            || observed.is_some_and(|connector| connectors.contains(connector));
        if repeats {
            runs.push(start..index);
            start = index;
            subjects.clear();
            connectors.clear();
        }
        subjects.extend(
            completion
                .applied
                .iter()
                .map(|applied| applied.subject.as_str()),
        );
        connectors.extend(observed);
    }
    if start < completions.len() {
        runs.push(start..completions.len());
    }
    runs
}

/// Writes the completions in `run`; when the database refuses the write, writes it in halves
/// until each refused task is found, and fails those. Returns false when the engine gave up
/// writing at the end of a shutdown.
async fn record_completions(
    shared: &Shared,
    completions: &[Completion],
    succeeded: &[Succeeded<'_>],
    run: Range<usize>,
) -> bool {
    let whole = run.len();
    let mut pending = vec![run];
    while let Some(part) = pending.pop() {
        let started = std::time::Instant::now();
        let written = until_written(shared, "record completions", || async {
            let client = shared.pool.connection().await?;
            queue::complete(&client, &completions[part.clone()], &shared.config.clock).await
        })
        .await;
        match written {
            Written::Done(accepted) => {
                tracing::debug!(
                    tasks = part.len(),
                    duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "recorded completions"
                );
                let accepted: HashSet<i64> = accepted.into_iter().collect();
                for index in part {
                    let (completion, Succeeded { kind, duration_ms }) =
                        (&completions[index], &succeeded[index]);
                    if accepted.contains(&completion.id) {
                        tracing::debug!(task.id = completion.id, task.kind = %kind, duration_ms, "task succeeded");
                        shared.metrics.outcome(kind, "succeeded");
                    } else {
                        tracing::warn!(task.id = completion.id, task.kind = %kind, "completion fenced out: the task was cancelled or its lease lost");
                        shared.metrics.outcome(kind, "fenced_out");
                    }
                }
            }
            Written::GaveUp => return false,
            Written::Refused(error) if part.len() == 1 => {
                let (completion, Succeeded { kind, duration_ms }) =
                    (&completions[part.start], &succeeded[part.start]);
                record_failure(
                    shared,
                    FailedAttempt {
                        id: completion.id,
                        attempt: completion.attempt,
                        kind,
                        duration_ms: *duration_ms,
                        retryable: true,
                        error: unstorable(&refusal_sentence(&error)),
                        refused_with: Some(database_said(&error)),
                    },
                )
                .await;
            }
            Written::Refused(error) => {
                if part.len() == whole {
                    tracing::warn!(
                        tasks = part.len(),
                        error = %database_said(&error),
                        "the database refused a batch of completions: writing it in parts to find the tasks at fault"
                    );
                }
                let middle = part.start + part.len() / 2;
                pending.push(middle..part.end);
                pending.push(part.start..middle);
            }
        }
    }
    true
}

/// Records a failed attempt and logs it once: a dead task at warn, a retry at info.
async fn record_failure(shared: &Shared, failed: FailedAttempt<'_>) {
    let failure = Failure {
        id: failed.id,
        attempt: failed.attempt,
        retryable: failed.retryable,
        backoff: shared
            .config
            .retry_policy(failed.kind)
            .backoff(failed.attempt),
        error: failed.error,
    };
    let written = until_written(shared, "record a failure", || async {
        let mut client = shared.pool.connection().await?;
        queue::fail(&mut client, &failure, &shared.config.clock).await
    })
    .await;
    let refused_with = failed.refused_with.as_deref();
    let label = match written {
        Written::Done(FailureOutcome::Dead) => {
            tracing::warn!(
                task.id = failed.id,
                task.kind = %failed.kind,
                task.attempt = failed.attempt,
                duration_ms = failed.duration_ms,
                error = %failure.error,
                refused_with,
                "task dead"
            );
            "dead"
        }
        Written::Done(FailureOutcome::Retrying) => {
            tracing::info!(
                task.id = failed.id,
                task.kind = %failed.kind,
                task.attempt = failed.attempt,
                duration_ms = failed.duration_ms,
                error = %failure.error,
                refused_with,
                "task failed; it will be retried"
            );
            "retrying"
        }
        Written::Done(FailureOutcome::FencedOut) => {
            tracing::info!(
                task.id = failed.id,
                task.kind = %failed.kind,
                task.attempt = failed.attempt,
                error = %failure.error,
                "task failed, but it was no longer this daemon's (cancelled, or its lease lost)"
            );
            "fenced_out"
        }
        Written::Refused(error) => {
            tracing::error!(
                task.id = failed.id,
                task.kind = %failed.kind,
                task.attempt = failed.attempt,
                error = %database_said(&error),
                "the database refused to record a task's failure: it runs again once its lease lapses"
            );
            "unrecorded"
        }
        Written::GaveUp => "unrecorded",
    };
    shared.metrics.outcome(failed.kind, label);
}

/// What the database's refusal of a task's outcome means, in a sentence for the task's reason:
/// a Purser function's message, else what kind of refusal it was and its SQLSTATE, never
/// PostgreSQL's own text (which names constraints and dumps rows).
fn refusal_sentence(error: &DbError) -> String {
    let DbError::Statement { error, .. } = error else {
        return "the database refused it".to_string();
    };
    let Some(db) = error.as_db_error() else {
        return "the database client could not send it".to_string();
    };
    if let Some(Refusal::Raised { message, .. }) = refusal(db) {
        return message;
    }
    let code = db.code().code();
    let what = match code.get(..2) {
        Some("22") => "PostgreSQL refused a value in it",
        Some("23") => "PostgreSQL refused it as breaking a rule of the table it goes to",
        Some("54") => "it is larger than PostgreSQL can hold",
        _ => "PostgreSQL refused it",
    };
    format!("{what} (SQLSTATE {code})")
}

/// The database's own words, for the log: the statement, the message, its detail and hint.
fn database_said(error: &DbError) -> String {
    match error {
        DbError::Statement { statement, error } => {
            format!("{} failed: {}", statement.name, flatten_pg_error(error))
        }
        other => other.to_string(),
    }
}

/// How a write ended.
enum Written<T> {
    /// It landed.
    Done(T),
    /// The database refused it: trying again would fail the same way.
    Refused(DbError),
    /// It could not land before the engine gave up at the end of a shutdown; the tasks stay
    /// running and run again once their leases lapse.
    GaveUp,
}

/// Retries a write while its error is transient ([`DbError::is_transient`]) until it lands,
/// the database refuses it, or the engine gives up at the end of a shutdown.
async fn until_written<T, F, Fut>(shared: &Shared, what: &'static str, write: F) -> Written<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, DbError>>,
{
    let mut outage = Outage::new(what);
    loop {
        match write().await {
            Ok(value) => {
                outage.succeeded();
                return Written::Done(value);
            }
            Err(error) if !error.is_transient() => {
                // The database answered, if only to refuse.
                outage.succeeded();
                return Written::Refused(error);
            }
            Err(error) => {
                let backoff = outage.failed(&error);
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shared.give_up.cancelled() => {
                        tracing::error!(%error, "gave up trying to {what}: those tasks will run again once their leases lapse");
                        return Written::GaveUp;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn completion(id: i64, subjects: &[&str]) -> Completion {
        Completion {
            id,
            attempt: 1,
            result: None,
            applied: subjects
                .iter()
                .map(|subject| AppliedState {
                    subject: subject.to_string(),
                    state: json!({}),
                })
                .collect(),
            observation: None,
        }
    }

    #[test]
    fn a_subject_applied_again_starts_a_new_run_and_runs_keep_their_order() {
        let completions = [
            completion(1, &["a:1", "a:2"]),
            completion(2, &[]),
            completion(3, &["a:3"]),
            completion(4, &["a:2"]),
            completion(5, &["a:1", "a:2"]),
            completion(6, &["a:4"]),
        ];
        assert_eq!(
            runs_without_repeated_subjects(&completions),
            vec![0..3, 3..4, 4..6]
        );
        assert_eq!(
            runs_without_repeated_subjects(&[]),
            Vec::<Range<usize>>::new()
        );
    }
}
