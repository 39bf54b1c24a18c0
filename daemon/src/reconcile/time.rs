//! The site's time-driven registry work as a task (`registry.advance_time`), which the
//! scheduler fires every minute for each site: allocations past their end are closed by an
//! automated status diff, due top-ups are written once per period, and accounts whose windows
//! opened or closed are marked dirty for the reconciler. It writes the registry, so it runs in
//! the daemon (the executors crate has no database); it is idempotent, so a second run of one
//! period changes nothing.

use purser_executors::{ExecutionError, Executor, Success, Task};
use purser_sql::DbPool;
use purser_sql::provision;
use purser_sql::queue::Clock;
use serde_json::json;

/// The task kind.
pub const KIND: &str = "registry.advance_time";

/// Runs `registry.advance_time` for the task's site.
pub struct AdvanceTime {
    pool: DbPool,
    clock: Clock,
}

impl AdvanceTime {
    /// The executor, deciding at `clock`.
    pub fn new(pool: DbPool, clock: Clock) -> Self {
        Self { pool, clock }
    }
}

#[async_trait::async_trait]
impl Executor for AdvanceTime {
    async fn execute(&self, task: &Task) -> Result<Success, ExecutionError> {
        let retry = |error: purser_sql::DbError| ExecutionError::Retryable(error.to_string());
        let mut client = self.pool.connection().await.map_err(retry)?;
        let done = provision::advance_time(&mut client, &task.site, &self.clock)
            .await
            .map_err(retry)?;
        for work in &done {
            tracing::info!(site = %task.site, allocation.id = %work.allocation_id, what = %work.what, detail = %work.detail, "time-driven registry work");
        }
        Ok(Success {
            result: Some(json!({
                "closed": done.iter().filter(|work| work.what == "closed").count(),
                "topped_up": done.iter().filter(|work| work.what == "topped_up").count(),
            })),
            ..Success::default()
        })
    }
}
