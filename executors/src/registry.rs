//! The registry of executors by task kind: a daemon runs exactly the kinds registered here.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Executor;

/// Executors by the task kind they handle.
#[derive(Clone, Default)]
pub struct Registry {
    executors: BTreeMap<String, Arc<dyn Executor>>,
}

/// Two executors claimed one kind.
#[derive(Debug, thiserror::Error)]
#[error("task kind {0} is registered twice")]
pub struct DuplicateKind(pub String);

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `executor` for `kind`; a kind has one executor.
    pub fn register(
        &mut self,
        kind: impl Into<String>,
        executor: Arc<dyn Executor>,
    ) -> Result<(), DuplicateKind> {
        let kind = kind.into();
        if self.executors.contains_key(&kind) {
            return Err(DuplicateKind(kind));
        }
        self.executors.insert(kind, executor);
        Ok(())
    }

    /// The executor for a kind.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn Executor>> {
        self.executors.get(kind)
    }

    /// The kinds registered, sorted.
    pub fn kinds(&self) -> Vec<String> {
        self.executors.keys().cloned().collect()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Registry")
            .field("kinds", &self.kinds())
            .finish()
    }
}
