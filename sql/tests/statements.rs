//! Every statement the code runs is valid SQL against the migrated schema.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use purser_sql::statements::ALL;
use purser_sql::test_harness::TestDatabase;

#[tokio::test]
async fn every_statement_prepares_against_the_migrated_schema() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let mut failures = Vec::new();
    for statement in ALL {
        if let Err(error) = client.prepare(statement.text).await {
            failures.push(format!(
                "{}: {}",
                statement.name,
                purser_sql::error::flatten_pg_error(&error)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "statements that do not prepare:\n{}",
        failures.join("\n")
    );
    assert!(ALL.len() >= 5);
}

#[test]
fn every_query_file_is_in_the_statement_list() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    let mut on_disk: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "sql"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = ALL
        .iter()
        .map(|statement| statement.name.to_string())
        .collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "sql/queries/*.sql and statements! must list the same files"
    );
}
