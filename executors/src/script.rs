//! `script`: the reconciler's connector for a site without a built-in one. The site's own
//! programs enact the plan: an apply program gets one action (a subject's desired state) and
//! reports what the site holds for it afterwards; an optional observe program reports
//! everything the site holds, which the reconciler compares with desired state.
//!
//! ```toml
//! [sites.expanse.script]
//! apply = { program = "/opt/purser/hooks/apply", timeout = "2m" }
//! observe = { program = "/opt/purser/hooks/observe" }   # optional
//! reconcile_every = "5m"                                  # a full observe and plan this often
//! ```
//!
//! Both run as the shell executor runs a program ([`crate::shell`]: the task as JSON on stdin,
//! exit 0 done, 75 retry, anything else dead). The apply program's task payload is
//! `{"connector", "plan_id", "action", "subject", "from", "to", "context", "why"}`: `action`
//! is create, update, block, unblock or delete, `to` the state to hold (null for a delete),
//! `from` what the site was seen holding; the environment has `PURSER_ACTION`,
//! `PURSER_SUBJECT` and `PURSER_TARGET` (`to` as compact JSON) too, so a shell script needs no
//! JSON parser. It prints, after reading the site back,
//!
//! ```json
//! {"applied": [{"subject": "account/che260001", "state": {"status": "blocked", ...}}]}
//! ```
//!
//! with `"state": null` for a subject it removed. Purser records each entry as applied
//! (`provision.applied_state`, subject `script:SUBJECT`) and as observed
//! (`provision.observed`). An apply that reports nothing for its subject leaves it observed as
//! before, so the next plan tries again (after a backoff): an exit status alone proves nothing.
//!
//! The observe program prints `{"observed": [{"subject", "state", "managed"?}]}`: every
//! subject the site holds that the connector may manage (`managed` false for one it must
//! leave alone, e.g. an account outside Purser's), as a full snapshot.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::shell::{Shell, ShellConfig};
use crate::{
    Applied, DuplicateKind, ExecutionError, Executor, Observation, Observed, Registry, Success,
    Task,
};

/// The connector's name: its tasks are `script.apply` and `script.observe`.
pub const CONNECTOR: &str = "script";
/// The most an observe program may print: a whole site.
const OBSERVE_STDOUT_LIMIT: usize = 256 << 20;

/// The apply step: one action on one subject.
struct Apply {
    config: ShellConfig,
}

/// The observe step: a full snapshot.
struct Observe {
    shell: Shell,
}

/// Registers `script.apply`, and `script.observe` when an observe program is configured.
pub fn register(
    registry: &mut Registry,
    apply: &ShellConfig,
    observe: Option<&ShellConfig>,
) -> Result<(), DuplicateKind> {
    registry.register(
        format!("{CONNECTOR}.apply"),
        Arc::new(Apply {
            config: apply.clone(),
        }),
    )?;
    if let Some(observe) = observe {
        registry.register(
            format!("{CONNECTOR}.observe"),
            Arc::new(Observe {
                shell: Shell::with_stdout_limit(observe.clone(), OBSERVE_STDOUT_LIMIT),
            }),
        )?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Executor for Apply {
    async fn execute(&self, task: &Task) -> Result<Success, ExecutionError> {
        // The action in the environment too, so a shell script needs no JSON parser.
        let mut config = self.config.clone();
        for (variable, key) in [("PURSER_ACTION", "action"), ("PURSER_SUBJECT", "subject")] {
            let value = task
                .payload
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default();
            config.env.insert(variable.to_string(), value.to_string());
        }
        let target = task.payload.get("to").cloned().unwrap_or(Value::Null);
        config
            .env
            .insert("PURSER_TARGET".to_string(), target.to_string());
        let ran = Shell::new(config).execute(task).await?;
        let mut applied = Vec::with_capacity(ran.applied.len());
        let mut subjects = Vec::with_capacity(ran.applied.len());
        for entry in ran.applied {
            let state = match entry.state {
                Value::Null => None,
                state @ Value::Object(_) => Some(state),
                _ => {
                    return Err(ExecutionError::Permanent(format!(
                        "the apply program reported subject {:?} with a state that is neither a JSON object nor null",
                        entry.subject
                    )));
                }
            };
            applied.push(Applied {
                subject: format!("{CONNECTOR}:{}", entry.subject),
                state: state.clone().unwrap_or(Value::Null),
            });
            subjects.push(Observed {
                subject: entry.subject,
                state,
                managed: true,
            });
        }
        Ok(Success {
            result: Some(json!({"observed": subjects.len()})),
            applied,
            observation: Some(Observation {
                connector: CONNECTOR.to_string(),
                snapshot: false,
                subjects,
            }),
        })
    }
}

#[async_trait::async_trait]
impl Executor for Observe {
    async fn execute(&self, task: &Task) -> Result<Success, ExecutionError> {
        let ran = self.shell.execute(task).await?;
        let printed = ran.result.unwrap_or(Value::Null);
        let subjects = parse_observed(&printed).ok_or_else(|| {
            ExecutionError::Permanent(
                "the observe program exited 0 but did not print {\"observed\": [{\"subject\": string, \"state\": object or null, \"managed\": boolean (optional)}]}"
                    .to_string(),
            )
        })?;
        Ok(Success {
            result: Some(json!({"observed": subjects.len()})),
            applied: Vec::new(),
            observation: Some(Observation {
                connector: CONNECTOR.to_string(),
                snapshot: true,
                subjects,
            }),
        })
    }
}

/// The observe program's list; `None` when it is not one. Whether each entry can be stored
/// is the engine's check (`crate::output`), for every connector.
fn parse_observed(printed: &Value) -> Option<Vec<Observed>> {
    printed
        .get("observed")?
        .as_array()?
        .iter()
        .map(|entry| {
            let state = match entry.get("state") {
                None | Some(Value::Null) => None,
                Some(state) => Some(state.clone()),
            };
            let managed = match entry.get("managed") {
                None => true,
                Some(managed) => managed.as_bool()?,
            };
            Some(Observed {
                subject: entry.get("subject")?.as_str()?.to_string(),
                state,
                managed,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observed_list_is_read_with_managed_true_unless_it_says_otherwise() {
        let printed = json!({"observed": [
            {"subject": "account/a", "state": {"status": "active"}},
            {"subject": "account/root", "state": {"status": "active"}, "managed": false},
            {"subject": "account/gone", "state": null},
        ]});
        let observed = parse_observed(&printed).unwrap();
        assert_eq!(observed.len(), 3);
        assert!(observed[0].managed);
        assert!(!observed[1].managed);
        assert_eq!(observed[2].state, None);
        assert_eq!(parse_observed(&json!({"observed": [{"state": {}}]})), None);
        assert_eq!(parse_observed(&json!({"applied": []})), None);
    }
}
