//! Logging set-up: readable text, or one JSON object per line for collectors. Text is coloured
//! only when stderr is a terminal: a file, a pipe or journald gets plain lines.
//! The level comes from `PURSER_LOG` (an `EnvFilter` directive), `info` for Purser by default.
//!
//! An event is always one line, whatever its fields hold: a site program's stderr or a
//! database's message may carry newlines or terminal escapes (`\x1b[31m`). In text, every
//! control character of a field is written escaped as Rust writes it (`\n`, `\u{1b}`); in
//! JSON, as JSON escapes (`\n`, `\u001b`), DEL and the C1 controls included.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::{FormatFields, MakeWriter};
use tracing_subscriber::util::SubscriberInitExt;

/// Our own events at info; the libraries' chatter (refinery's per-migration lines, server
/// notices) only when it is a warning.
const DEFAULT_FILTER: &str = "info,refinery_core=warn,tokio_postgres=warn";

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with every field searchable.
    Json,
}

/// Installs the global subscriber, writing to stderr so stdout stays for command output.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("PURSER_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    subscriber(
        format,
        filter,
        std::io::stderr,
        std::io::stderr().is_terminal(),
    )
    .init();
}

/// The subscriber [`init`] installs, writing to `writer`.
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => Box::new(
            builder
                .with_writer(writer)
                .with_ansi(ansi)
                .fmt_fields(EscapedFields)
                .finish(),
        ),
        LogFormat::Json => Box::new(
            builder
                .with_writer(EscapedJson(writer))
                .with_ansi(false)
                .json()
                .flatten_event(true)
                .finish(),
        ),
    }
}

/// Text fields as tracing writes them by default, with every control character escaped.
struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut plain = String::new();
        DefaultFields::new().format_fields(Writer::new(&mut plain), fields)?;
        writer.write_str(&escape_controls(&plain))
    }
}

/// `text` with each control character written as Rust escapes it (`\n`, `\t`, `\u{1b}`).
fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for character in text.chars() {
        if character.is_control() {
            escaped.extend(character.escape_debug());
        } else {
            escaped.push(character);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// JSON lines with the control characters JSON leaves raw (DEL, U+0080–U+009F) written as
/// `\u` escapes too; JSON escapes the others itself. Such characters can only be inside a
/// JSON string, where the escape means the same character.
struct EscapedJson<W>(W);

impl<'writer, W: MakeWriter<'writer>> MakeWriter<'writer> for EscapedJson<W> {
    type Writer = EscapedJsonWriter<W::Writer>;

    fn make_writer(&'writer self) -> Self::Writer {
        EscapedJsonWriter(self.0.make_writer())
    }
}

/// One event's writer for [`EscapedJson`].
struct EscapedJsonWriter<W>(W);

impl<W: std::io::Write> std::io::Write for EscapedJsonWriter<W> {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        // The formatter hands over a whole event at once; a buffer that is not UTF-8 (it
        // never is) passes unchanged.
        match std::str::from_utf8(buffer) {
            Ok(text) if text.chars().any(|c| c.is_control() && u32::from(c) >= 0x7f) => {
                let mut escaped = String::with_capacity(text.len() + 16);
                for character in text.chars() {
                    if character.is_control() && u32::from(character) >= 0x7f {
                        escaped.push_str(&format!("\\u{:04x}", u32::from(character)));
                    } else {
                        escaped.push(character);
                    }
                }
                self.0.write_all(escaped.as_bytes())?;
            }
            _ => self.0.write_all(buffer)?,
        }
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buffer);
            Ok(buffer.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What one warning with a hostile error field is logged as, in `format`.
    fn log_a_hostile_warning(format: LogFormat) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = subscriber(
            format,
            EnvFilter::new("info"),
            move || writer.clone(),
            false,
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                task.id = 7,
                error = %"exited 1: first line\nsecond \u{1b}[31mred\u{1b}[0m\r\u{7f}\u{9b}2J",
                "task dead\nforged line"
            );
        });
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_text_line_escapes_every_control_character_of_its_fields() {
        let logged = log_a_hostile_warning(LogFormat::Text);
        assert_eq!(logged.lines().count(), 1, "{logged}");
        assert!(logged.ends_with('\n'));
        assert!(
            !logged.trim_end_matches('\n').chars().any(char::is_control),
            "{logged:?}"
        );
        assert!(logged.contains(r"WARN"), "{logged}");
        assert!(logged.contains(r"task dead\nforged line"), "{logged}");
        assert!(
            logged.contains(
                r"error=exited 1: first line\nsecond \u{1b}[31mred\u{1b}[0m\r\u{7f}\u{9b}2J"
            ),
            "{logged}"
        );
    }

    #[test]
    fn a_json_line_escapes_every_control_character_and_still_parses_to_the_same_text() {
        let logged = log_a_hostile_warning(LogFormat::Json);
        assert_eq!(logged.lines().count(), 1, "{logged}");
        assert!(
            !logged.trim_end_matches('\n').chars().any(char::is_control),
            "{logged:?}"
        );
        let event: serde_json::Value = serde_json::from_str(&logged).unwrap();
        assert_eq!(event["level"], "WARN");
        assert_eq!(event["message"], "task dead\nforged line");
        assert_eq!(
            event["error"],
            "exited 1: first line\nsecond \u{1b}[31mred\u{1b}[0m\r\u{7f}\u{9b}2J"
        );
    }
}
