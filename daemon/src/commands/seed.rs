//! `purser seed demo`: loads a realistic sample centre, for the demo, the docs and trying
//! Purser out.

use anyhow::Context;
use purser_sql::DbPool;

/// Options of `purser seed`.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    #[command(subcommand)]
    what: SeedWhat,
}

#[derive(Debug, clap::Subcommand)]
enum SeedWhat {
    /// Two organizations, six people, clusters expanse and delta with CPU and GPU resources
    /// and rates, three projects with allocations, memberships (some capped), cluster accounts.
    Demo,
}

/// Loads the chosen sample.
pub async fn run(pool: &DbPool, args: SeedArgs) -> anyhow::Result<()> {
    let SeedWhat::Demo = args.what;
    let client = pool.connection().await?;
    let allocations = purser_sql::seed::demo_centre(&client)
        .await
        .context("cannot load the demo centre (is it loaded already?)")?;
    println!("Loaded the demo centre: {allocations} allocations on clusters expanse and delta.");
    Ok(())
}
