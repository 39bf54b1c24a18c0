//! `noop`: succeeds at once with no result. Always registered; for demos, smoke tests and
//! the queue benchmark.

use crate::{ExecutionError, Executor, Registry, Success, Task};

/// The task kind `noop` handles.
pub const KIND: &str = "noop";

/// Does nothing, successfully.
#[derive(Debug, Clone, Copy, Default)]
pub struct Noop;

#[async_trait::async_trait]
impl Executor for Noop {
    async fn execute(&self, _task: &Task) -> Result<Success, ExecutionError> {
        Ok(Success::default())
    }
}

impl Noop {
    /// Registers `noop`.
    pub fn register(registry: &mut Registry) -> Result<(), crate::DuplicateKind> {
        registry.register(KIND, std::sync::Arc::new(Noop))
    }
}
