//! docs/schema.md is generated from the database's comments; this test fails when it is stale.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use purser_sql::catalog::schema_overview;
use purser_sql::test_harness::TestDatabase;

#[tokio::test]
async fn docs_schema_md_matches_the_migrated_schema() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let generated = purser::commands::schema::markdown(&schema_overview(&client).await.unwrap());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema.md");
    let kept = std::fs::read_to_string(&path).unwrap();
    assert!(
        kept == generated,
        "docs/schema.md is stale: run `purser migrate && purser schema --markdown > docs/schema.md` against a fresh database"
    );
    assert!(generated.contains("### view `report.allocation_balance`"));
}
