//! `noop`: does nothing, successfully. Always registered; for demos, smoke tests and the
//! queue benchmark. Two optional payload fields let it stand in for real work:
//!
//! - `"delay_ms": 50` waits that long first, like an executor talking to a slow service;
//! - `"apply": {"subject": "demo:1", "state": {...}}` reports that state as applied, so it is
//!   recorded in `provision.applied_state` with the task's completion, exactly once.

use std::time::Duration;

use crate::{Applied, ExecutionError, Executor, Registry, Success, Task};

/// The task kind `noop` handles.
pub const KIND: &str = "noop";

/// Does nothing, successfully.
#[derive(Debug, Clone, Copy, Default)]
pub struct Noop;

#[async_trait::async_trait]
impl Executor for Noop {
    async fn execute(&self, task: &Task) -> Result<Success, ExecutionError> {
        if let Some(delay) = task.payload.get("delay_ms") {
            let delay = delay.as_u64().ok_or_else(|| {
                ExecutionError::Permanent(
                    "noop: delay_ms must be a whole number of milliseconds".to_string(),
                )
            })?;
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let applied = match task.payload.get("apply") {
            None => Vec::new(),
            Some(apply) => {
                let subject = apply
                    .get("subject")
                    .and_then(|subject| subject.as_str())
                    .filter(|s| !s.is_empty());
                let (Some(subject), Some(state)) = (subject, apply.get("state")) else {
                    return Err(ExecutionError::Permanent(
                        "noop: apply must be {\"subject\": non-empty string, \"state\": any}"
                            .to_string(),
                    ));
                };
                vec![Applied {
                    subject: subject.to_string(),
                    state: state.clone(),
                }]
            }
        };
        Ok(Success {
            result: None,
            applied,
            observation: None,
        })
    }
}

impl Noop {
    /// Registers `noop`.
    pub fn register(registry: &mut Registry) -> Result<(), crate::DuplicateKind> {
        registry.register(KIND, std::sync::Arc::new(Noop))
    }
}
