//! Logging set-up: readable text, or one JSON object per line for collectors. Text is coloured
//! only when stderr is a terminal: a file, a pipe or journald gets plain lines.
//! The level comes from `PURSER_LOG` (an `EnvFilter` directive), `info` for Purser by default.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
