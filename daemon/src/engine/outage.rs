//! A run of failures of one kind of database work (claiming, recording, listening, extending
//! leases): the first failure and the recovery are each logged once, where they are handled,
//! and retries are spaced out exponentially up to a few seconds.

use std::time::Duration;

/// How long the first retry waits; each failure doubles it, up to 64 times this.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Tracks failures of one activity, named for the log: "claim tasks", "record completions".
#[derive(Debug)]
pub(crate) struct Outage {
    what: &'static str,
    failures: u32,
}

impl Outage {
    pub(crate) fn new(what: &'static str) -> Self {
        Self { what, failures: 0 }
    }

    /// Records a failure; returns how long to wait before trying again.
    pub(crate) fn failed(&mut self, error: &dyn std::fmt::Display) -> Duration {
        self.failures += 1;
        if self.failures == 1 {
            tracing::warn!(%error, "cannot {}; retrying until the database answers", self.what);
        }
        FIRST_BACKOFF * 2_u32.pow(self.failures.min(6))
    }

    /// Records a success, logging the recovery if there was an outage.
    pub(crate) fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "can {} again", self.what);
            self.failures = 0;
        }
    }
}
