//! The admins' reports (the `report` schema) against a real PostgreSQL.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use purser_sql::test_harness::TestDatabase;
use rust_decimal::Decimal;
use support::{Centre, centre, decimal};
use uuid::Uuid;

async fn run(database: &TestDatabase, sql: &str) {
    let client = database.pool().connection().await.unwrap();
    client.batch_execute(sql).await.unwrap();
}

async fn charge(database: &TestDatabase, centre: &Centre, person: Uuid, job: &str, raw: &str) {
    let client = database.pool().connection().await.unwrap();
    client
        .query_one(
            "SELECT registry.charge_usage($1, $2, '2026-03-01', '2026-03-02', $3, $4, $5, $6::text::numeric)",
            &[&centre.cluster, &job, &centre.cpu, &centre.allocation, &person, &raw],
        )
        .await
        .unwrap();
}

/// The access verdict and the conditions that are false, for one membership.
async fn explain(database: &TestDatabase, centre: &Centre, person: Uuid) -> (bool, Vec<String>) {
    let client = database.pool().connection().await.unwrap();
    let row = client
        .query_one(
            "SELECT granted, array_remove(ARRAY[
                 CASE WHEN NOT person_active THEN 'person_active' END,
                 CASE WHEN NOT project_active THEN 'project_active' END,
                 CASE WHEN NOT allocation_active THEN 'allocation_active' END,
                 CASE WHEN NOT allocation_in_window THEN 'allocation_in_window' END,
                 CASE WHEN NOT membership_active THEN 'membership_active' END,
                 CASE WHEN NOT membership_in_window THEN 'membership_in_window' END,
                 CASE WHEN NOT balance_positive THEN 'balance_positive' END,
                 CASE WHEN NOT under_cap THEN 'under_cap' END], NULL)
             FROM report.access_explain WHERE person_id = $1 AND allocation_id = $2",
            &[&person, &centre.allocation],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn desired(database: &TestDatabase) -> Vec<Uuid> {
    let client = database.pool().connection().await.unwrap();
    client
        .query(
            "SELECT person_id FROM report.desired_access ORDER BY person_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn the_balance_is_initial_plus_grants_minus_charges() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    run(
        &database,
        &format!(
            "SELECT registry.apply_diff('{}', 'supplement', 'startup', su_delta => 250.25)",
            centre.allocation
        ),
    )
    .await;
    charge(&database, &centre, centre.member, "1", "100").await;
    charge(&database, &centre, centre.pi, "2", "5.5").await;
    let client = database.pool().connection().await.unwrap();
    let row = client
        .query_one(
            "SELECT initial_su, granted_su, charged_su, balance_su FROM report.allocation_balance WHERE allocation_id = $1",
            &[&centre.allocation],
        )
        .await
        .unwrap();
    let values: Vec<Decimal> = (0..4).map(|column| row.get(column)).collect();
    assert_eq!(
        values,
        vec![
            decimal("1000"),
            decimal("250.25"),
            decimal("10.55"),
            decimal("1239.70")
        ]
    );
}

#[tokio::test]
async fn access_is_explained_condition_by_condition_and_desired_access_follows_the_verdict() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    run(
        &database,
        &format!(
            "INSERT INTO registry.membership (allocation_id, person_id, cap_su, starts_at) VALUES
                 ('{a}', '{pi}', NULL, '2026-01-01'), ('{a}', '{member}', 2, '2026-01-01')",
            a = centre.allocation,
            pi = centre.pi,
            member = centre.member
        ),
    )
    .await;
    assert_eq!(
        explain(&database, &centre, centre.member).await,
        (true, vec![])
    );
    assert_eq!(desired(&database).await.len(), 2);

    // The member spends past their cap: denied for that reason alone; the PI is not affected.
    charge(&database, &centre, centre.member, "1", "25").await;
    assert_eq!(
        explain(&database, &centre, centre.member).await,
        (false, vec!["under_cap".to_string()])
    );
    assert_eq!(desired(&database).await, vec![centre.pi]);
    let client = database.pool().connection().await.unwrap();
    let over: Decimal = client
        .query_one(
            "SELECT over_by_su FROM report.members_over_cap WHERE person_id = $1",
            &[&centre.member],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(over, decimal("0.5"));

    // Suspending the project denies everyone, and says so.
    run(
        &database,
        "UPDATE registry.project SET status = 'suspended'",
    )
    .await;
    assert_eq!(
        explain(&database, &centre, centre.pi).await,
        (false, vec!["project_active".to_string()])
    );
    assert!(desired(&database).await.is_empty());

    // An exhausted allocation denies too.
    run(&database, "UPDATE registry.project SET status = 'active'").await;
    run(
        &database,
        &format!(
            "SELECT registry.apply_diff('{}', 'adjustment', 'clawback', su_delta => -997.5)",
            centre.allocation
        ),
    )
    .await;
    assert_eq!(
        explain(&database, &centre, centre.pi).await,
        (false, vec!["balance_positive".to_string()])
    );
}

#[tokio::test]
async fn the_ledger_has_no_violations_until_someone_edits_the_running_sums() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    charge(&database, &centre, centre.member, "1", "10").await;
    run(
        &database,
        &format!(
            "SELECT registry.apply_diff('{}', 'supplement', 'grant', su_delta => 5)",
            centre.allocation
        ),
    )
    .await;
    let client = database.pool().connection().await.unwrap();
    let count = || async {
        let client = database.pool().connection().await.unwrap();
        client
            .query_one("SELECT count(*) FROM report.ledger_violations", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    assert_eq!(count().await, 0);
    client
        .execute("UPDATE registry.allocation_total SET charged_su = charged_su + 1 WHERE allocation_id = $1", &[&centre.allocation])
        .await
        .unwrap();
    let violation: String = client
        .query_one("SELECT violation FROM report.ledger_violations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(violation, "charged_su differs from the sum of usage");
}

#[tokio::test]
async fn expiring_allocations_pending_requests_and_monthly_usage_are_listed() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    run(
        &database,
        &format!(
            "UPDATE registry.allocation SET ends_at = now() + interval '10 days' WHERE id = '{}'",
            centre.allocation
        ),
    )
    .await;
    run(
        &database,
        &format!(
            "SELECT registry.submit_change_request('{}', '{}', 'extension', 'the paper is under review', requested_ends_at => now() + interval '1 year')",
            centre.allocation, centre.pi
        ),
    )
    .await;
    charge(&database, &centre, centre.member, "1", "10").await;
    charge(&database, &centre, centre.member, "2", "30").await;
    let client = database.pool().connection().await.unwrap();
    let expiring: Vec<Uuid> = client
        .query("SELECT allocation_id FROM report.allocations_expiring", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(expiring, vec![centre.allocation]);
    let pending: String = client
        .query_one("SELECT kind FROM report.pending_change_requests", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pending, "extension");
    let month = client
        .query_one(
            "SELECT jobs, su_amount FROM report.usage_by_month WHERE person_id = $1",
            &[&centre.member],
        )
        .await
        .unwrap();
    assert_eq!(
        (month.get::<_, i64>(0), month.get::<_, Decimal>(1)),
        (2, decimal("4"))
    );
}
