//! The registry's data model from V12 against a real PostgreSQL: reductions by request and the
//! rule that no withdrawal takes a balance below zero, organizations' originated ids, and
//! people's name parts (with the migration of existing rows).

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use purser_sql::test_harness::TestDatabase;
use rust_decimal::Decimal;
use support::{centre, decimal, message};
use uuid::Uuid;

async fn balance(client: &deadpool_postgres::Client, allocation: Uuid) -> Decimal {
    client
        .query_one(
            "SELECT balance_su FROM report.allocation_balance WHERE allocation_id = $1",
            &[&allocation],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn an_approved_reduction_writes_a_negative_adjustment_and_lowers_the_balance() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let request: Uuid = client
        .query_one(
            "SELECT registry.submit_change_request($1, $2, 'reduction', 'the project is complete', requested_su => 400.25)",
            &[&centre.allocation, &centre.pi],
        )
        .await
        .unwrap()
        .get(0);
    let diff: Uuid = client
        .query_one("SELECT registry.approve_change_request($1)", &[&request])
        .await
        .unwrap()
        .get(0);
    let row = client
        .query_one(
            "SELECT kind, su_delta, source, change_request_id FROM registry.allocation_diff WHERE id = $1",
            &[&diff],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "adjustment");
    assert_eq!(row.get::<_, Decimal>(1), decimal("-400.25"));
    assert_eq!(row.get::<_, String>(2), "change_request");
    assert_eq!(row.get::<_, Option<Uuid>>(3), Some(request));
    assert_eq!(balance(&client, centre.allocation).await, decimal("599.75"));
    let violations: i64 = client
        .query_one("SELECT count(*) FROM report.ledger_violations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(violations, 0);
}

#[tokio::test]
async fn a_reduction_below_a_zero_balance_is_refused_at_submission_and_at_approval() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let too_much = client
        .query_one(
            "SELECT registry.submit_change_request($1, $2, 'reduction', 'done', requested_su => 1000.5)",
            &[&centre.allocation, &centre.pi],
        )
        .await
        .unwrap_err();
    assert_eq!(
        message(&too_much),
        "the allocation has 1000 SUs left, fewer than the 1000.5 to take: its balance may not go below zero"
    );
    // Submitted while the SUs were there, approved after jobs used them.
    let request: Uuid = client
        .query_one(
            "SELECT registry.submit_change_request($1, $2, 'reduction', 'done', requested_su => 900)",
            &[&centre.allocation, &centre.pi],
        )
        .await
        .unwrap()
        .get(0);
    client
        .query_one(
            "SELECT registry.charge_usage($1, 'job-1', '2026-03-01', '2026-03-02', $2, $3, $4, 2000)",
            &[&centre.cluster, &centre.cpu, &centre.allocation, &centre.member],
        )
        .await
        .unwrap();
    let refused = client
        .query_one("SELECT registry.approve_change_request($1)", &[&request])
        .await
        .unwrap_err();
    assert!(
        message(&refused).contains("has 800 SUs left, fewer than the 900 to take"),
        "{}",
        message(&refused)
    );
    let state: String = client
        .query_one(
            "SELECT state FROM registry.change_request WHERE id = $1",
            &[&request],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "PENDING");
    assert_eq!(balance(&client, centre.allocation).await, decimal("800"));
}

#[tokio::test]
async fn a_reduction_needs_its_amount_like_a_supplement() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let refused = client
        .query_one(
            "SELECT registry.submit_change_request($1, $2, 'reduction', 'done')",
            &[&centre.allocation, &centre.pi],
        )
        .await
        .unwrap_err();
    assert!(
        message(&refused).contains("change_request_requested_su_kind"),
        "{}",
        message(&refused)
    );
}

#[tokio::test]
async fn a_transfer_may_not_take_its_source_below_zero() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let second: Uuid = client
        .query_one(
            "INSERT INTO registry.allocation (project_id, cluster_id, account_name, initial_su, starts_at, ends_at) \
             SELECT project_id, cluster_id, 'che260001-gpu', 0, starts_at, ends_at FROM registry.allocation WHERE id = $1 \
             RETURNING id",
            &[&centre.allocation],
        )
        .await
        .unwrap()
        .get(0);
    let refused = client
        .query_one(
            "SELECT registry.transfer_su($1, $2, 1000.01, 'rebalance')",
            &[&centre.allocation, &second],
        )
        .await
        .unwrap_err();
    assert!(
        message(&refused).contains("fewer than the 1000.01 to take"),
        "{}",
        message(&refused)
    );
    client
        .query_one(
            "SELECT registry.transfer_su($1, $2, 1000, 'everything')",
            &[&centre.allocation, &second],
        )
        .await
        .unwrap();
    assert_eq!(balance(&client, centre.allocation).await, decimal("0"));
    assert_eq!(balance(&client, second).await, decimal("1000"));
}

#[tokio::test]
async fn an_organizations_originated_id_is_unique_per_origination() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO registry.organization (name, origination, originated_id) VALUES
                 ('Example State University', 'ACCESS', '1234'),
                 ('Example State University, NAIRR', 'NAIRR', '1234'),
                 ('A local lab', NULL, NULL),
                 ('Another local lab', NULL, NULL)",
        )
        .await
        .unwrap();
    let duplicate = client
        .batch_execute(
            "INSERT INTO registry.organization (name, origination, originated_id) VALUES ('ESU again', 'ACCESS', '1234')",
        )
        .await
        .unwrap_err();
    assert_eq!(
        duplicate.code(),
        Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
    );
    let half = client
        .batch_execute(
            "INSERT INTO registry.organization (name, originated_id) VALUES ('Half', '99')",
        )
        .await
        .unwrap_err();
    assert_eq!(
        half.code(),
        Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION)
    );
}

#[tokio::test]
async fn a_new_person_given_no_name_parts_takes_them_from_the_display_name() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let rows = client
        .query(
            "INSERT INTO registry.person (name, email) VALUES
                 ('  Mary Ann  Evans ', 'mary@example.edu'), ('Plato', 'plato@example.edu'), ('Ada Lovelace', 'ada@example.edu')
             RETURNING coalesce(first_name, '-'), coalesce(middle_name, '-'), last_name",
            &[],
        )
        .await
        .unwrap();
    let parts: Vec<(String, String, String)> = rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    assert_eq!(
        parts,
        vec![
            ("Mary".into(), "Ann".into(), "Evans".into()),
            ("-".into(), "-".into(), "Plato".into()),
            ("Ada".into(), "-".into(), "Lovelace".into()),
        ]
    );
    // Parts given are kept as given.
    let given: (Option<String>, String) = client
        .query_one(
            "INSERT INTO registry.person (name, email, first_name, last_name) \
             VALUES ('Gabriel García Márquez', 'gabo@example.edu', 'Gabriel', 'García Márquez') \
             RETURNING middle_name, last_name",
            &[],
        )
        .await
        .map(|row| (row.get(0), row.get(1)))
        .unwrap();
    assert_eq!(given, (None, "García Márquez".to_string()));
}

/// The migration files, in version order, as (version, text).
fn migration_files() -> Vec<(u32, String)> {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<(u32, String)> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_string();
            let version = name.strip_prefix('V')?.split_once("__")?.0.parse().ok()?;
            Some((version, std::fs::read_to_string(&path).unwrap()))
        })
        .collect();
    files.sort_by_key(|(version, _)| *version);
    files
}

#[tokio::test]
async fn people_recorded_before_v12_get_their_name_parts_from_their_display_name() {
    let database = TestDatabase::empty().await;
    let mut client = database.pool().connection().await.unwrap();
    let files = migration_files();
    let run = async |client: &mut deadpool_postgres::Client, text: &str| {
        let transaction = client.transaction().await.unwrap();
        transaction.batch_execute(text).await.unwrap();
        transaction.commit().await.unwrap();
    };
    // V10 grants on refinery's history table, which refinery would have made.
    client
        .batch_execute(
            "CREATE TABLE refinery_schema_history (version int4 PRIMARY KEY, name varchar(255), \
             applied_on varchar(255), checksum varchar(255))",
        )
        .await
        .unwrap();
    for (_, text) in files.iter().filter(|(version, _)| *version < 12) {
        run(&mut client, text).await;
    }
    client
        .batch_execute(
            "INSERT INTO registry.person (name, email) VALUES
                 ('Katherine Coleman Goble Johnson', 'katherine@example.edu'), ('Ada Lovelace', 'ada@example.edu'),
                 ('Hypatia', 'hypatia@example.edu')",
        )
        .await
        .unwrap();
    let (_, v12) = files.iter().find(|(version, _)| *version == 12).unwrap();
    run(&mut client, v12).await;
    let rows = client
        .query(
            "SELECT email, coalesce(first_name, '-'), coalesce(middle_name, '-'), last_name FROM registry.person ORDER BY email",
            &[],
        )
        .await
        .unwrap();
    let parts: Vec<String> = rows
        .iter()
        .map(|row| {
            format!(
                "{} {}|{}|{}",
                row.get::<_, String>(0),
                row.get::<_, String>(1),
                row.get::<_, String>(2),
                row.get::<_, String>(3)
            )
        })
        .collect();
    assert_eq!(
        parts,
        vec![
            "ada@example.edu Ada|-|Lovelace",
            "hypatia@example.edu -|-|Hypatia",
            "katherine@example.edu Katherine|Coleman Goble|Johnson",
        ]
    );
}
