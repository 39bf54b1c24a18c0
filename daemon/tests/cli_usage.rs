//! `purser usage import` with real sacct output from Slurm 22.05 (tests/fixtures), run as the
//! binary against a real PostgreSQL.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use purser_sql::test_harness::TestDatabase;
use rust_decimal::Decimal;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn import(database: &TestDatabase, format: &str, file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(["usage", "import", "--cluster", "c", "--format", format])
        .arg(file)
        .env("PURSER_DATABASE_URL", database.url())
        .output()
        .unwrap()
}

fn summary(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The fixture's cluster `c`: a CPU resource at rate 0.5 (SU = raw ÷ rate, so a core-hour is
/// 2 SU), alice and bob with accounts, and an allocation for che260001 only: bob's job under
/// phy260002 has nowhere to go.
async fn centre(database: &TestDatabase) {
    let client = database.pool().connection().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO registry.cluster (name) VALUES ('c');
             INSERT INTO registry.resource (cluster_id, name, resource_type, unit, slurm_tres)
                 SELECT id, 'CPU', 'cpu', 'core-hours', 'cpu' FROM registry.cluster;
             INSERT INTO registry.resource_rate (resource_id, rate, valid_during)
                 SELECT id, 0.5, '[2026-01-01,)' FROM registry.resource;
             INSERT INTO registry.person (name, email) VALUES ('Alice', 'alice@example.edu'), ('Bob', 'bob@example.edu');
             INSERT INTO registry.cluster_account (cluster_id, person_id, username)
                 SELECT c.id, p.id, split_part(p.email, '@', 1) FROM registry.cluster c, registry.person p;
             INSERT INTO registry.project (title, pi_id, origination, originated_id)
                 SELECT 'Chemistry', id, 'ACCESS', 'CHE260001' FROM registry.person WHERE email = 'alice@example.edu';
             INSERT INTO registry.allocation (project_id, cluster_id, account_name, initial_su, starts_at, ends_at)
                 SELECT p.id, c.id, 'che260001', 100, '2026-01-01', '2027-06-01' FROM registry.project p, registry.cluster c;",
        )
        .await
        .unwrap();
}

async fn charged(database: &TestDatabase) -> Decimal {
    let client = database.pool().connection().await.unwrap();
    client
        .query_one("SELECT charged_su FROM report.allocation_balance", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn importing_real_sacct_output_charges_each_job_once_in_either_format() {
    let database = TestDatabase::new().await;
    centre(&database).await;

    let first = summary(&import(
        &database,
        "parsable2",
        &fixture("sacct-22.05.parsable2"),
    ));
    assert!(
        first.contains("4 records, 3 charges, 0 already charged, 1 rejected"),
        "{first}"
    );
    // 1 + 2 + 2 CPUs for 1 second each: 5/3600 core-hours, at rate 0.5.
    let expected =
        Decimal::new(278, 6) * Decimal::from(2) + Decimal::new(556, 6) * Decimal::from(4);
    assert_eq!(charged(&database).await, expected);

    let again = summary(&import(
        &database,
        "parsable2",
        &fixture("sacct-22.05.parsable2"),
    ));
    assert!(
        again.contains("4 records, 0 charges, 3 already charged, 1 rejected"),
        "{again}"
    );
    let as_json = summary(&import(&database, "json", &fixture("sacct-22.05.json")));
    assert!(
        as_json.contains("4 records, 0 charges, 3 already charged, 1 rejected"),
        "{as_json}"
    );
    assert_eq!(
        charged(&database).await,
        expected,
        "re-imports change nothing"
    );

    let client = database.pool().connection().await.unwrap();
    let reasons: Vec<String> = client
        .query("SELECT DISTINCT reason FROM registry.usage_rejection", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].starts_with("no allocation on c for account phy260002"),
        "{reasons:?}"
    );
    let imports: i64 = client
        .query_one("SELECT count(*) FROM registry.usage_import WHERE finished_at IS NOT NULL AND records = 4", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(imports, 3);
    let violations: i64 = client
        .query_one("SELECT count(*) FROM report.ledger_violations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(violations, 0);
}

#[tokio::test]
async fn malformed_and_unmappable_records_are_rejected_with_reasons_and_never_stop_the_batch() {
    let database = TestDatabase::new().await;
    centre(&database).await;
    let dir = std::env::temp_dir().join(format!("purser-usage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mixed.txt");
    std::fs::write(
        &file,
        "JobIDRaw|User|Account|Partition|Submit|Start|End|ElapsedRaw|AllocTRES|State\n\
         101|alice|che260001|debug|2026-11-22T01:00:00|2026-11-22T01:00:00|2026-11-22T02:00:00|3600|cpu=4|COMPLETED\n\
         102|alice|che260001\n\
         103|carol|che260001|debug|2026-11-22T01:00:00|2026-11-22T01:00:00|2026-11-22T02:00:00|3600|cpu=4|COMPLETED\n\
         104|alice|che260001|debug|2026-11-22T01:00:00|2026-11-22T01:00:00|Unknown|60|cpu=4|RUNNING\n\
         105|alice|che260001|debug|2026-11-22T01:00:00|2026-11-22T01:00:00|2026-11-22T02:00:00|3600|node=1|COMPLETED\n\
         106|alice|che260001|debug|2026-11-22T01:00:00|2026-11-22T01:00:00|2026-11-22T02:00:00|3600|cpu=1|COMPLETED\n",
    )
    .unwrap();
    let result = summary(&import(&database, "parsable2", &file));
    assert!(
        result.contains("6 records, 2 charges, 0 already charged, 4 rejected"),
        "{result}"
    );
    // 4 core-hours and 1 core-hour at rate 0.5.
    assert_eq!(charged(&database).await, Decimal::from(10));
    let client = database.pool().connection().await.unwrap();
    let rejected: Vec<(i64, String)> = client
        .query(
            "SELECT line, reason FROM registry.usage_rejection ORDER BY line",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let lines: Vec<i64> = rejected.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6]);
    assert!(rejected[0].1.contains("expected 10 fields"), "{rejected:?}");
    assert!(
        rejected[1]
            .1
            .contains("user carol has no cluster account on c"),
        "{rejected:?}"
    );
    assert!(rejected[2].1.contains("has not ended"), "{rejected:?}");
    assert!(
        rejected[3]
            .1
            .contains("no resource on c counts this job's TRES (node)"),
        "{rejected:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn an_unknown_cluster_or_missing_file_is_a_one_line_error() {
    let database = TestDatabase::new().await;
    let output = import(&database, "parsable2", &fixture("sacct-22.05.parsable2"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no cluster named \"c\""), "{stderr}");
    centre(&database).await;
    let output = import(&database, "json", Path::new("/nonexistent/sacct.json"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot open /nonexistent/sacct.json"),
        "{stderr}"
    );
}
