//! `purser`: the one binary admins learn. See the library for the subcommands.

/// mimalloc instead of the system allocator: the usage importer allocates records on one thread
/// and frees them on another, where glibc's malloc spent nearly half the importer's CPU
/// (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    purser::main()
}
