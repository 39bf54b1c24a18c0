//! `purser`: the one binary admins learn. See the library for the subcommands.

fn main() -> std::process::ExitCode {
    purser::main()
}
