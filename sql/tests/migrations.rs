//! The migrations against a real PostgreSQL: they apply, they apply once, and a database a
//! binary does not understand is refused.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use purser_sql::DbError;
use purser_sql::migrations::{self, MigrationId};
use purser_sql::test_harness::TestDatabase;

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_a_second_run_changes_nothing() {
    let database = TestDatabase::empty().await;
    let client = database.pool().connection().await.unwrap();
    let before = migrations::plan(&client).await.unwrap();
    assert!(before.applied.is_empty());
    assert_eq!(before.pending, migrations::known());

    let first = migrations::apply(database.pool()).await.unwrap();
    assert_eq!(first, migrations::known());

    let schema_before = schema_snapshot(&client).await;
    let second = migrations::apply(database.pool()).await.unwrap();
    assert_eq!(second, Vec::<MigrationId>::new());
    let after = migrations::plan(&client).await.unwrap();
    assert_eq!(after.applied, migrations::known());
    assert!(after.pending.is_empty());
    assert_eq!(schema_snapshot(&client).await, schema_before);
}

#[tokio::test]
async fn concurrent_migrates_apply_each_migration_once() {
    let database = TestDatabase::empty().await;
    let (first, second) = tokio::join!(
        migrations::apply(database.pool()),
        migrations::apply(database.pool())
    );
    let mut all = first.unwrap();
    all.extend(second.unwrap());
    assert_eq!(all, migrations::known());
}

#[tokio::test]
async fn a_database_with_a_migration_this_binary_does_not_know_is_refused() {
    let database = TestDatabase::new().await;
    database.pretend_a_newer_purser_migrated().await;
    let refused = migrations::apply(database.pool()).await.unwrap_err();
    assert!(
        matches!(&refused, DbError::UnknownMigrations(names) if names == &["V9999__from_the_future"])
    );
    assert!(refused.to_string().contains("upgrade purser"), "{refused}");
}

#[tokio::test]
async fn a_database_whose_applied_migration_was_edited_is_refused() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    client
        .batch_execute("UPDATE refinery_schema_history SET checksum = '42' WHERE version = 1")
        .await
        .unwrap();
    let refused = migrations::plan(&client).await.unwrap_err();
    assert!(
        matches!(refused, DbError::DivergentMigration { version: 1, .. }),
        "{refused}"
    );
}

#[test]
fn the_fingerprint_is_stable_and_names_every_migration() {
    assert_eq!(migrations::fingerprint(), migrations::fingerprint());
    assert_eq!(migrations::fingerprint().len(), 16);
    let known = migrations::known();
    assert_eq!(known.first().map(|m| m.version), Some(1));
    for pair in known.windows(2) {
        assert_eq!(
            pair[1].version,
            pair[0].version + 1,
            "migration versions have a gap: {known:?}"
        );
    }
}

/// Every relation, column and function with its type: what a re-run must not change.
async fn schema_snapshot(client: &deadpool_postgres::Client) -> Vec<String> {
    client
        .query(
            "SELECT format('%s.%s %s', table_schema, table_name, column_name || ' ' || data_type) \
             FROM information_schema.columns \
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
             UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p \
             JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
            &[],
        )
        .await
        .expect("the catalog is readable")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn every_schema_table_column_view_and_function_has_a_comment() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let missing: Vec<String> = client
        .query(
            "WITH ours AS (SELECT oid, nspname FROM pg_namespace \
                           WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('information_schema', 'public')) \
             SELECT 'schema ' || nspname FROM ours WHERE obj_description(oid, 'pg_namespace') IS NULL \
             UNION ALL \
             SELECT 'relation ' || ours.nspname || '.' || c.relname FROM pg_class c JOIN ours ON ours.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'v', 'm', 'p') AND obj_description(c.oid, 'pg_class') IS NULL \
             UNION ALL \
             SELECT 'column ' || ours.nspname || '.' || c.relname || '.' || a.attname \
             FROM pg_class c JOIN ours ON ours.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE c.relkind IN ('r', 'v', 'm', 'p') AND col_description(c.oid, a.attnum) IS NULL \
             UNION ALL \
             SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p JOIN ours ON ours.oid = p.pronamespace \
             WHERE obj_description(p.oid, 'pg_proc') IS NULL \
             UNION ALL \
             SELECT 'type ' || ours.nspname || '.' || t.typname FROM pg_type t JOIN ours ON ours.oid = t.typnamespace \
             WHERE t.typtype = 'e' AND obj_description(t.oid, 'pg_type') IS NULL \
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        missing.is_empty(),
        "COMMENT ON is missing for:\n{}",
        missing.join("\n")
    );
}
