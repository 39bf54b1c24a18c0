//! `purser migrate`: apply the schema migrations this binary carries.

use purser_sql::DbPool;
use purser_sql::migrations::{self, MigrationId};

/// Options of `purser migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// List what would be applied, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Applies (or, with `--dry-run`, lists) the pending migrations.
pub async fn run(pool: &DbPool, args: MigrateArgs) -> anyhow::Result<()> {
    if args.dry_run {
        let client = pool.connection().await?;
        let plan = migrations::plan(&client).await?;
        if plan.pending.is_empty() {
            println!("Nothing to apply: {}.", describe_version(&plan.applied));
        } else {
            println!(
                "Would apply {} to {}:",
                count(plan.pending.len()),
                pool.target()
            );
            print_list(&plan.pending);
        }
        return Ok(());
    }
    let applied = migrations::apply(pool).await?;
    let client = pool.connection().await?;
    let now = migrations::plan(&client).await?;
    if applied.is_empty() {
        println!("Nothing to apply: {}.", describe_version(&now.applied));
    } else {
        println!("Applied {} to {}:", count(applied.len()), pool.target());
        print_list(&applied);
        println!("The {}.", describe_version(&now.applied));
    }
    Ok(())
}

fn describe_version(applied: &[MigrationId]) -> String {
    match applied.last() {
        Some(last) => format!("database is at {last}, the latest this purser knows"),
        None => "database has no migrations and this purser knows none".to_string(),
    }
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 migration".to_string()
    } else {
        format!("{n} migrations")
    }
}

fn print_list(migrations: &[MigrationId]) {
    for migration in migrations {
        println!("  {migration}");
    }
}
