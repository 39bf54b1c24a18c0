//! What the database holds, read from the catalog: schemas, tables, views and functions with
//! their comments (`purser schema`, and later the generated `docs/schema.md`); and the
//! databases on a server, for `purser dev-db` and the test harness.

use deadpool_postgres::GenericClient;

use crate::bind;
use crate::error::DbError;
use crate::pool::{DbPool, query, query_one};
use crate::statements::{DATABASE_EXISTS, SCHEMA_COLUMNS, SCHEMA_OVERVIEW};

/// One schema and what is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaSummary {
    /// The schema's name.
    pub name: String,
    /// Its `COMMENT ON SCHEMA`.
    pub description: String,
    /// Its tables, views and functions, by kind then name.
    pub objects: Vec<SchemaObject>,
}

/// A table, view or function in a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaObject {
    /// `table`, `view`, `materialized view` or `function`.
    pub kind: String,
    /// Its name; a function's includes its argument types.
    pub name: String,
    /// The planner's row estimate, for tables.
    pub estimated_rows: Option<i64>,
    /// Its `COMMENT ON`.
    pub description: String,
    /// Its columns, in order (tables and views).
    pub columns: Vec<SchemaColumn>,
}

/// A column of a table or view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaColumn {
    /// Its name.
    pub name: String,
    /// Its type, as `format_type` writes it.
    pub data_type: String,
    /// Whether it is `NOT NULL`.
    pub not_null: bool,
    /// Its `COMMENT ON COLUMN`.
    pub description: String,
}

/// Every non-system schema (but `public`) and what it holds.
pub async fn schema_overview(client: &impl GenericClient) -> Result<Vec<SchemaSummary>, DbError> {
    let mut schemas: Vec<SchemaSummary> = Vec::new();
    for row in query(client, bind!(SCHEMA_OVERVIEW)).await? {
        let schema_name: String = row.get("schema_name");
        if schemas.last().is_none_or(|last| last.name != schema_name) {
            schemas.push(SchemaSummary {
                name: schema_name,
                description: row.get("schema_description"),
                objects: Vec::new(),
            });
        }
        let Some(kind) = row.get::<_, Option<String>>("kind") else {
            continue;
        };
        if let Some(schema) = schemas.last_mut() {
            schema.objects.push(SchemaObject {
                kind,
                name: row.get("name"),
                estimated_rows: row.get("estimated_rows"),
                description: row.get("description"),
                columns: Vec::new(),
            });
        }
    }
    for row in query(client, bind!(SCHEMA_COLUMNS)).await? {
        let schema_name: String = row.get("schema_name");
        let object_name: String = row.get("object_name");
        let object = schemas
            .iter_mut()
            .filter(|schema| schema.name == schema_name)
            .flat_map(|schema| schema.objects.iter_mut())
            .find(|object| object.kind != "function" && object.name == object_name);
        if let Some(object) = object {
            object.columns.push(SchemaColumn {
                name: row.get("column_name"),
                data_type: row.get("data_type"),
                not_null: row.get("not_null"),
                description: row.get("description"),
            });
        }
    }
    Ok(schemas)
}

/// Whether the server has a database of this name.
pub async fn database_exists(client: &impl GenericClient, name: &str) -> Result<bool, DbError> {
    Ok(query_one(client, bind!(DATABASE_EXISTS, name = &name))
        .await?
        .get("present"))
}

/// Creates a database unless it exists, optionally as a copy of `template`.
///
/// Database DDL takes no parameters, so the names are quoted as identifiers here; they are
/// names Purser chooses, never user input.
pub async fn ensure_database(pool: &DbPool, name: &str) -> Result<(), DbError> {
    let client = pool.connection().await?;
    if database_exists(&client, name).await? {
        return Ok(());
    }
    run_ddl(
        &client,
        &format!("CREATE DATABASE {}", quote_identifier(name)),
    )
    .await
}

/// Creates a database as a copy of `template` (files are copied: milliseconds for a schema).
pub async fn create_database_from_template(
    pool: &DbPool,
    name: &str,
    template: &str,
) -> Result<(), DbError> {
    let client = pool.connection().await?;
    let ddl = format!(
        "CREATE DATABASE {} TEMPLATE {}",
        quote_identifier(name),
        quote_identifier(template)
    );
    run_ddl(&client, &ddl).await
}

/// Renames a database (nobody may be connected to it).
pub async fn rename_database(pool: &DbPool, from: &str, to: &str) -> Result<(), DbError> {
    let client = pool.connection().await?;
    let ddl = format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_identifier(from),
        quote_identifier(to)
    );
    run_ddl(&client, &ddl).await
}

/// Drops a database if it exists, ending any sessions still in it.
pub async fn drop_database(pool: &DbPool, name: &str) -> Result<(), DbError> {
    let client = pool.connection().await?;
    run_ddl(
        &client,
        &format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_identifier(name)
        ),
    )
    .await
}

async fn run_ddl(client: &impl GenericClient, ddl: &str) -> Result<(), DbError> {
    client
        .batch_execute(ddl)
        .await
        .map_err(|source| DbError::Ddl {
            ddl: ddl.to_string(),
            reason: crate::error::flatten_pg_error(&source),
        })
}

/// Quotes an identifier: `"name"`, with inner quotes doubled.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
