//! `purser schema`: what the database holds, read from the catalog and its comments; with
//! `--markdown`, the reference in docs/schema.md.

use std::fmt::Write;

use purser_sql::DbPool;
use purser_sql::catalog::{SchemaSummary, schema_overview};

/// Options of `purser schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Print the full reference (every column) as Markdown, as kept in docs/schema.md.
    #[arg(long)]
    markdown: bool,
}

/// Prints each schema with its tables, views and functions and what they are for.
pub async fn run(pool: &DbPool, args: SchemaArgs) -> anyhow::Result<()> {
    let client = pool.connection().await?;
    let schemas = schema_overview(&client).await?;
    if args.markdown {
        print!("{}", markdown(&schemas));
        return Ok(());
    }
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

/// The schema reference in Markdown: every schema, table, view, column and function with its
/// comment. Deterministic, so a test can tell when docs/schema.md is stale.
pub fn markdown(schemas: &[SchemaSummary]) -> String {
    let mut text = String::from(
        "# Schema reference\n\n\
         Generated from the database's comments by `purser schema --markdown > docs/schema.md`;\n\
         do not edit by hand. In psql, `\\d+ schema.table` shows the same.\n",
    );
    // Writing to a String cannot fail.
    for schema in schemas {
        let _ = write!(text, "\n## {}\n\n{}\n", schema.name, schema.description);
        for object in &schema.objects {
            let _ = write!(
                text,
                "\n### {} `{}.{}`\n\n{}\n",
                object.kind,
                schema.name,
                object.name,
                escape(&object.description)
            );
            if !object.columns.is_empty() {
                text.push_str("\n| column | type | description |\n| --- | --- | --- |\n");
                for column in &object.columns {
                    let null = if column.not_null { " not null" } else { "" };
                    let _ = writeln!(
                        text,
                        "| `{}` | {}{} | {} |",
                        column.name,
                        column.data_type,
                        null,
                        escape(&column.description)
                    );
                }
            }
        }
    }
    text
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
