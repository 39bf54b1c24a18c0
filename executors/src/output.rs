//! What an executor returns, made storable before it reaches SQL.
//!
//! PostgreSQL's `text` refuses the NUL character and `jsonb` refuses `\u0000` in a string; a
//! site's program can print either, and invalid UTF-8 too. An output the database refuses
//! would fail the write of every outcome it is batched with, so the daemon passes every
//! outcome through here first:
//!
//! - **NUL becomes U+FFFD** (the replacement character, `�`) in an error message and in every
//!   string and object key of a result or an applied state. Invalid UTF-8 becomes U+FFFD
//!   where bytes are read (the shell executor decodes its program's stdout and stderr
//!   lossily), so every string here is UTF-8 already.
//! - **Lengths are bounded.** An error message keeps its first [`MAX_ERROR_BYTES`] (the rest is
//!   cut, and the cut said); a result is at most [`MAX_RESULT_BYTES`] of JSON and the applied
//!   states together at most [`MAX_APPLIED_BYTES`], else the output is refused.
//! - **The applied list is checked**: each subject non-empty, at most [`MAX_SUBJECT_BYTES`]
//!   (a subject is a key of `provision.applied_state`, and PostgreSQL's index refuses long
//!   keys), without NUL (a key is not altered silently), and named once per task (the
//!   completion's upsert cannot apply one subject twice in a statement).
//!
//! A refused output fails its task alone, with an [`InvalidOutput`] sentence saying what was
//! wrong.

use serde_json::Value;

use crate::{Applied, ExecutionError, Observation, Observed, Success};

/// The longest error message kept on a task, in bytes (the shell executor keeps the last
/// 8 KiB of stderr, so its messages fit).
pub const MAX_ERROR_BYTES: usize = 16 << 10;
/// The largest result kept on a task, in bytes of JSON (the shell executor reads at most 1 MiB
/// of stdout).
pub const MAX_RESULT_BYTES: usize = 1 << 20;
/// The most a task's applied states may take together, in bytes of JSON.
pub const MAX_APPLIED_BYTES: usize = 1 << 20;
/// The most a task's observed states may take together, in bytes of JSON: a full snapshot of
/// a large site (100,000 subjects of a few hundred bytes each).
pub const MAX_OBSERVED_BYTES: usize = 256 << 20;
/// The longest applied or observed subject, in bytes of UTF-8.
pub const MAX_SUBJECT_BYTES: usize = 1024;

/// What the character NUL is stored as: U+FFFD, the replacement character.
const NUL_REPLACEMENT: &str = "\u{FFFD}";

/// Why an executor's output cannot be stored, as a sentence. Entries of `applied` are
/// numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOutput {
    /// A result larger than [`MAX_RESULT_BYTES`].
    #[error(
        "its result is {bytes} bytes of JSON, more than the {} a task keeps",
        describe_bytes(MAX_RESULT_BYTES)
    )]
    ResultTooLarge {
        /// The result's size.
        bytes: usize,
    },
    /// Applied states larger than [`MAX_APPLIED_BYTES`] together.
    #[error(
        "its applied states are {bytes} bytes of JSON together, more than the {} a task may record",
        describe_bytes(MAX_APPLIED_BYTES)
    )]
    AppliedTooLarge {
        /// Their size.
        bytes: usize,
    },
    /// An empty subject.
    #[error("{list} entry {entry} has an empty subject")]
    EmptySubject {
        /// Which list: applied or observed.
        list: &'static str,
        /// Which entry.
        entry: usize,
    },
    /// A subject longer than [`MAX_SUBJECT_BYTES`].
    #[error(
        "{list} entry {entry} has a subject of {bytes} bytes, more than the {MAX_SUBJECT_BYTES} a subject may have"
    )]
    SubjectTooLong {
        /// Which list: applied or observed.
        list: &'static str,
        /// Which entry.
        entry: usize,
        /// The subject's length.
        bytes: usize,
    },
    /// A subject with a NUL character.
    #[error("{list} entry {entry} has a subject containing a NUL character")]
    SubjectWithNul {
        /// Which list: applied or observed.
        list: &'static str,
        /// Which entry.
        entry: usize,
    },
    /// Two entries with one subject.
    #[error(
        "{list} entries {first} and {second} both have the subject {subject:?}; a task names each subject once"
    )]
    DuplicateSubject {
        /// Which list: applied or observed.
        list: &'static str,
        /// The first entry with it.
        first: usize,
        /// The next.
        second: usize,
        /// The subject.
        subject: String,
    },
    /// Observed states larger than [`MAX_OBSERVED_BYTES`] together.
    #[error(
        "its observed states are {bytes} bytes of JSON together, more than the {} a task may record",
        describe_bytes(MAX_OBSERVED_BYTES)
    )]
    ObservedTooLarge {
        /// Their size.
        bytes: usize,
    },
    /// An observed state that is not a JSON object.
    #[error("observed entry {entry} has a state that is neither a JSON object nor null")]
    ObservedNotAnObject {
        /// Which entry.
        entry: usize,
    },
}

fn describe_bytes(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

impl Success {
    /// The output as the database can store it: NULs replaced in the result and the applied
    /// states, then sizes and subjects checked.
    pub fn into_storable(self) -> Result<Self, InvalidOutput> {
        let result = self.result.map(storable_json);
        if let Some(result) = &result {
            let bytes = json_bytes(result);
            if bytes > MAX_RESULT_BYTES {
                return Err(InvalidOutput::ResultTooLarge { bytes });
            }
        }
        check_subjects(
            "applied",
            self.applied.iter().map(|applied| applied.subject.as_str()),
        )?;
        let applied: Vec<Applied> = self
            .applied
            .into_iter()
            .map(|applied| Applied {
                subject: applied.subject,
                state: storable_json(applied.state),
            })
            .collect();
        let bytes = applied
            .iter()
            .map(|applied| json_bytes(&applied.state))
            .sum();
        if bytes > MAX_APPLIED_BYTES {
            return Err(InvalidOutput::AppliedTooLarge { bytes });
        }
        let observation = self.observation.map(storable_observation).transpose()?;
        Ok(Self {
            result,
            applied,
            observation,
        })
    }
}

/// An observation as the database can store it: subjects checked like applied ones, states
/// objects or nothing, NULs replaced, the whole bounded.
fn storable_observation(observation: Observation) -> Result<Observation, InvalidOutput> {
    check_subjects(
        "observed",
        observation
            .subjects
            .iter()
            .map(|observed| observed.subject.as_str()),
    )?;
    let mut bytes = 0;
    let mut subjects = Vec::with_capacity(observation.subjects.len());
    for (index, observed) in observation.subjects.into_iter().enumerate() {
        let state = match observed.state {
            Some(Value::Null) | None => None,
            Some(state @ Value::Object(_)) => Some(storable_json(state)),
            Some(_) => return Err(InvalidOutput::ObservedNotAnObject { entry: index + 1 }),
        };
        bytes += state.as_ref().map_or(0, json_bytes);
        subjects.push(Observed { state, ..observed });
    }
    if bytes > MAX_OBSERVED_BYTES {
        return Err(InvalidOutput::ObservedTooLarge { bytes });
    }
    Ok(Observation {
        subjects,
        ..observation
    })
}

/// Each subject non-empty, not too long, without NUL, and named once.
fn check_subjects<'a>(
    list: &'static str,
    subjects: impl Iterator<Item = &'a str>,
) -> Result<(), InvalidOutput> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (index, subject) in subjects.enumerate() {
        let entry = index + 1;
        if subject.is_empty() {
            return Err(InvalidOutput::EmptySubject { list, entry });
        }
        if subject.len() > MAX_SUBJECT_BYTES {
            return Err(InvalidOutput::SubjectTooLong {
                list,
                entry,
                bytes: subject.len(),
            });
        }
        if subject.contains('\0') {
            return Err(InvalidOutput::SubjectWithNul { list, entry });
        }
        if let Some(first) = seen.insert(subject, entry) {
            return Err(InvalidOutput::DuplicateSubject {
                list,
                first,
                second: entry,
                subject: subject.to_string(),
            });
        }
    }
    Ok(())
}

impl ExecutionError {
    /// The error with its message as the database can store it ([`storable_text`]).
    pub fn into_storable(self) -> Self {
        match self {
            Self::Retryable(message) => Self::Retryable(storable_text(&message)),
            Self::Permanent(message) => Self::Permanent(storable_text(&message)),
        }
    }
}

/// Text as a `text` column can hold it: NUL replaced by U+FFFD, and at most
/// [`MAX_ERROR_BYTES`], cut at a character boundary with the cut said.
pub fn storable_text(text: &str) -> String {
    let replaced = replace_nul(text);
    if replaced.len() <= MAX_ERROR_BYTES {
        return replaced;
    }
    let marker_room = 64;
    let mut end = MAX_ERROR_BYTES - marker_room;
    while !replaced.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… ({} more bytes cut)",
        &replaced[..end],
        replaced.len() - end
    )
}

/// A JSON value as `jsonb` can hold it: NUL replaced by U+FFFD in every string and key.
pub fn storable_json(value: Value) -> Value {
    match value {
        Value::String(text) if text.contains('\0') => Value::String(replace_nul(&text)),
        Value::Array(items) => Value::Array(items.into_iter().map(storable_json).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| {
                    let key = if key.contains('\0') {
                        replace_nul(&key)
                    } else {
                        key
                    };
                    (key, storable_json(value))
                })
                .collect(),
        ),
        other => other,
    }
}

fn replace_nul(text: &str) -> String {
    text.replace('\0', NUL_REPLACEMENT)
}

/// The length of a value's JSON text.
fn json_bytes(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
            self.0 += buffer.len();
            Ok(buffer.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a Value to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

    use serde_json::json;

    use super::*;

    fn applied(subject: &str) -> Applied {
        Applied {
            subject: subject.to_string(),
            state: json!({}),
        }
    }

    #[test]
    fn nul_in_a_result_string_or_key_or_an_applied_state_becomes_the_replacement_character() {
        let success = Success {
            result: Some(json!({"name": "a\u{0}b", "list": ["\u{0}"], "k\u{0}ey": 1})),
            applied: vec![Applied {
                subject: "ldap.user:jdoe".to_string(),
                state: json!({"shell": "/bin/\u{0}sh"}),
            }],
            observation: None,
        }
        .into_storable()
        .unwrap();
        assert_eq!(
            success.result,
            Some(json!({"name": "a\u{FFFD}b", "list": ["\u{FFFD}"], "k\u{FFFD}ey": 1}))
        );
        assert_eq!(
            success.applied[0].state,
            json!({"shell": "/bin/\u{FFFD}sh"})
        );
    }

    #[test]
    fn an_error_message_loses_its_nuls_and_is_cut_to_its_bound_at_a_character_boundary() {
        assert_eq!(storable_text("bad\u{0}byte"), "bad\u{FFFD}byte");
        let long = "é".repeat(MAX_ERROR_BYTES);
        let stored = storable_text(&long);
        assert!(stored.len() <= MAX_ERROR_BYTES, "{} bytes", stored.len());
        assert!(stored.ends_with("more bytes cut)"), "{stored}");
        let message = ExecutionError::Permanent("x\u{0}".to_string()).into_storable();
        assert_eq!(message, ExecutionError::Permanent("x\u{FFFD}".to_string()));
    }

    #[test]
    fn applied_subjects_empty_too_long_with_nul_or_named_twice_are_refused_with_a_sentence() {
        let refused = |applied: Vec<Applied>| {
            Success {
                result: None,
                applied,
                observation: None,
            }
            .into_storable()
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            refused(vec![applied("a:1"), applied("")]),
            "applied entry 2 has an empty subject"
        );
        assert_eq!(
            refused(vec![applied(&"s".repeat(MAX_SUBJECT_BYTES + 1))]),
            "applied entry 1 has a subject of 1025 bytes, more than the 1024 a subject may have"
        );
        assert_eq!(
            refused(vec![applied("a:\u{0}")]),
            "applied entry 1 has a subject containing a NUL character"
        );
        assert_eq!(
            refused(vec![applied("a:1"), applied("b:2"), applied("a:1")]),
            "applied entries 1 and 3 both have the subject \"a:1\"; a task names each subject once"
        );
        let subject = "s".repeat(MAX_SUBJECT_BYTES);
        assert!(
            Success {
                result: None,
                applied: vec![applied(&subject)],
                observation: None,
            }
            .into_storable()
            .is_ok(),
            "a subject of exactly the bound is kept"
        );
    }

    #[test]
    fn results_and_applied_states_beyond_their_bounds_are_refused() {
        let big = "x".repeat(MAX_RESULT_BYTES);
        let refused = Success {
            result: Some(json!(big)),
            applied: Vec::new(),
            observation: None,
        }
        .into_storable()
        .unwrap_err();
        assert_eq!(
            refused.to_string(),
            format!(
                "its result is {} bytes of JSON, more than the 1 MiB a task keeps",
                MAX_RESULT_BYTES + 2
            )
        );
        let half = "x".repeat(MAX_APPLIED_BYTES / 2);
        let refused = Success {
            result: None,
            applied: vec![
                Applied {
                    subject: "a:1".to_string(),
                    state: json!(half),
                },
                Applied {
                    subject: "a:2".to_string(),
                    state: json!(half),
                },
            ],
            observation: None,
        }
        .into_storable()
        .unwrap_err();
        assert!(
            matches!(refused, InvalidOutput::AppliedTooLarge { bytes } if bytes == MAX_APPLIED_BYTES + 4),
            "{refused:?}"
        );
    }
}
