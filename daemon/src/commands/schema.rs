//! `purser schema`: what the database holds, read from the catalog and its comments.

use purser_sql::DbPool;
use purser_sql::catalog::schema_overview;

/// Prints each schema with its tables, views and functions and what they are for.
pub async fn run(pool: &DbPool) -> anyhow::Result<()> {
    let client = pool.connection().await?;
    let schemas = schema_overview(&client).await?;
    if schemas.is_empty() {
        println!(
            "The database at {} holds no Purser schemas: run `purser migrate`.",
            pool.target()
        );
        return Ok(());
    }
    for schema in schemas {
        println!("{}: {}", schema.name, schema.description);
        if schema.objects.is_empty() {
            println!("    (empty)");
        }
        for object in schema.objects {
            let rows = object
                .estimated_rows
                .map(|rows| format!(", ~{rows} rows"))
                .unwrap_or_default();
            println!(
                "    {} {}.{}{rows}: {}",
                object.kind, schema.name, object.name, object.description
            );
        }
        println!();
    }
    Ok(())
}
