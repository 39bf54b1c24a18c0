//! Retry policy: exponential backoff with jitter, per task kind.

use std::time::Duration;

use rand::RngExt;
use serde::Deserialize;

/// How long a failed task waits before its next attempt: `base · 2^(attempt−1)`, capped at
/// `max`, then scaled by a random factor in [½, 1] so that tasks failing together (a service
/// went down) do not all come back at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// The first backoff.
    #[serde(with = "humantime_serde", default = "default_base")]
    pub base: Duration,
    /// The longest backoff.
    #[serde(with = "humantime_serde", default = "default_max")]
    pub max: Duration,
}

fn default_base() -> Duration {
    Duration::from_secs(1)
}

fn default_max() -> Duration {
    Duration::from_secs(3600)
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: default_base(),
            max: default_max(),
        }
    }
}

impl RetryPolicy {
    /// The backoff after the given failed attempt (1 for the first).
    pub fn backoff(&self, attempt: i32) -> Duration {
        let exponent = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(32);
        let full = self
            .base
            .saturating_mul(2_u32.saturating_pow(exponent))
            .min(self.max);
        full.mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_attempt_within_its_jitter_and_stops_at_the_cap() {
        let policy = RetryPolicy {
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
        };
        for (attempt, full) in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (40, 60)] {
            let full = Duration::from_secs(full);
            for _ in 0..50 {
                let backoff = policy.backoff(attempt);
                assert!(
                    backoff >= full / 2 && backoff <= full,
                    "attempt {attempt}: {backoff:?} not in [{:?}, {full:?}]",
                    full / 2
                );
            }
        }
    }

    #[test]
    fn backoff_is_jittered() {
        let policy = RetryPolicy::default();
        let samples: std::collections::HashSet<Duration> =
            (0..20).map(|_| policy.backoff(4)).collect();
        assert!(samples.len() > 1);
    }
}
