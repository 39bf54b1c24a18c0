//! Every constraint of the tables the API and the CLI write has a sentence for users, and what
//! the database refuses reads as that sentence, never as PostgreSQL's own text.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use purser_sql::constraints::{
    CONSTRAINTS, ConstraintKind, GUARDED_DOMAINS, GUARDED_TABLES, Refusal, refusal,
};
use purser_sql::test_harness::TestDatabase;

#[tokio::test]
async fn every_constraint_of_the_written_tables_has_a_sentence() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let tables: Vec<String> = GUARDED_TABLES
        .iter()
        .map(|table| table.to_string())
        .collect();
    let domains: Vec<String> = GUARDED_DOMAINS
        .iter()
        .map(|domain| domain.to_string())
        .collect();
    let rows = client
        .query(
            "SELECT conname AS name FROM pg_constraint
              WHERE (conrelid <> 0 AND conrelid::regclass::text = ANY($1) AND contype <> 'p')
                 OR (contypid <> 0 AND contypid::regtype::text = ANY($2))
             UNION
             SELECT indexrelid::regclass::text FROM pg_index
              WHERE indrelid::regclass::text = ANY($1) AND indisunique
                AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = indexrelid)
             ORDER BY 1",
            &[&tables, &domains],
        )
        .await
        .unwrap();
    let in_schema: Vec<String> = rows
        .iter()
        .map(|row| {
            let name: String = row.get("name");
            // An index outside the search path is shown schema-qualified.
            name.rsplit('.').next().unwrap_or_default().to_string()
        })
        .collect();
    let missing: Vec<&String> = in_schema
        .iter()
        .filter(|name| purser_sql::constraints::constraint(name).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "constraints without a sentence in purser_sql::constraints::CONSTRAINTS: {missing:?}"
    );
    let stale: Vec<&str> = CONSTRAINTS
        .iter()
        .map(|constraint| constraint.name)
        .filter(|name| !in_schema.iter().any(|found| found == name))
        .collect();
    assert!(
        stale.is_empty(),
        "CONSTRAINTS names constraints the schema does not have: {stale:?}"
    );
}

#[tokio::test]
async fn a_broken_check_reads_as_its_sentence_without_the_failing_row() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let error = client
        .execute(
            "INSERT INTO registry.organization (name) VALUES ('   ')",
            &[],
        )
        .await
        .unwrap_err();
    let refused = refusal(error.as_db_error().unwrap()).unwrap();
    assert_eq!(
        refused,
        Refusal::Constraint {
            kind: ConstraintKind::Check,
            field: Some("name"),
            sentence: "name must not be blank",
            known: true,
        }
    );
    let described = purser_sql::constraints::describe(&error);
    assert_eq!(described, "name must not be blank");
}

#[tokio::test]
async fn a_purser_function_raise_is_its_message_without_the_function_name() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let error = client
        .query(
            "SELECT queue.enqueue(site => 'not a site', kind => 'noop')",
            &[],
        )
        .await
        .unwrap_err();
    match refusal(error.as_db_error().unwrap()).unwrap() {
        Refusal::Raised { message, .. } => {
            assert!(message.starts_with("site "), "{message}");
            assert!(!message.contains("queue.enqueue"), "{message}");
        }
        other => panic!("not a raise: {other:?}"),
    }
}

#[tokio::test]
async fn postgresql_text_that_is_not_a_refusal_is_not_one() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let error = client.query("SELECT 'x'::integer", &[]).await.unwrap_err();
    assert_eq!(refusal(error.as_db_error().unwrap()), None);
}

#[tokio::test]
async fn a_value_too_long_to_store_reads_as_too_long_naming_the_field_its_index_guards() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    // A key over its btree's row size (SQLSTATE 54000) names the index, here one whose field is
    // known; a string over its type's length (22001) names nothing.
    client
        .batch_execute(
            "CREATE TEMPORARY TABLE organization (name text CONSTRAINT organization_name_key UNIQUE, code varchar(3))",
        )
        .await
        .unwrap();
    let over_the_index = client
        .execute(
            "INSERT INTO organization (name) SELECT string_agg(md5(i::text), '') FROM generate_series(1, 100) i",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        refusal(over_the_index.as_db_error().unwrap()),
        Some(Refusal::TooLong {
            field: Some("name")
        })
    );
    assert_eq!(
        purser_sql::constraints::describe(&over_the_index),
        "name is too long to store"
    );
    let over_the_type = client
        .execute("INSERT INTO organization (code) VALUES ('ABCD')", &[])
        .await
        .unwrap_err();
    assert_eq!(
        refusal(over_the_type.as_db_error().unwrap()),
        Some(Refusal::TooLong { field: None })
    );
    assert_eq!(
        purser_sql::constraints::describe(&over_the_type),
        "a value is too long to store"
    );
}
