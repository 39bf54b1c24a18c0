//! The `purser` binary's library: the subcommands (`commands/`), the queue engine the daemon
//! runs (`engine/`), the usage importer (`usage_import/`), configuration and logging. A library so tests can run the engine
//! in-process; `main.rs` only calls [`main`].

pub mod commands;
mod config;
pub mod engine;
mod logging;
pub mod reconcile;
pub mod usage_import;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Cli;

/// Parses the command line, sets up logging, runs the command, and turns any error into one
/// line on stderr and exit status 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain of context on one line, without a backtrace.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
