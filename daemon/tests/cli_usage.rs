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

/// Writes a file into a directory of its own for the test.
fn scratch_file(test: &str, name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("purser-usage-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, contents).unwrap();
    file
}

const HEADER: &str =
    "JobIDRaw|User|Account|Partition|Submit|Start|End|ElapsedRaw|AllocTRES|State\n";

async fn scalar<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    database: &TestDatabase,
    sql: &str,
) -> T {
    let client = database.pool().connection().await.unwrap();
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn an_import_with_one_negative_elapsed_charges_every_other_job() {
    let database = TestDatabase::new().await;
    centre(&database).await;
    let mut text = String::from(HEADER);
    for job in 1..=12_000 {
        // Line 11,502 (the header is line 1) is job 11,501.
        let elapsed = if job == 11_501 { -36 } else { 36 };
        text.push_str(&format!(
            "{job}|alice|che260001|debug|2026-11-22T01:00:00|2026-11-22T01:00:00|2026-11-22T01:01:00|{elapsed}|cpu=1|COMPLETED\n"
        ));
    }
    let file = scratch_file("negative", "jobs.txt", text.as_bytes());
    let result = summary(&import(&database, "parsable2", &file));
    assert!(
        result.contains("12000 records, 11999 charges, 0 already charged, 1 rejected"),
        "{result}"
    );
    let client = database.pool().connection().await.unwrap();
    let row = client
        .query_one(
            "SELECT line, job_id, reason FROM registry.usage_rejection",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 11_502);
    assert_eq!(row.get::<_, String>(1), "11501");
    assert_eq!(row.get::<_, String>(2), "ElapsedRaw -36 is negative");
    // 11,999 jobs of 36 CPU-seconds (0.01 core-hours) at rate 0.5.
    assert_eq!(charged(&database).await, Decimal::new(23998, 2));
}

#[tokio::test]
async fn absurd_records_are_rejected_with_reasons_by_bounds_each_cluster_sets() {
    let database = TestDatabase::new().await;
    centre(&database).await;
    let line = |job: u32, start: &str, end: &str, elapsed: i64, tres: &str| {
        format!(
            "{job}|alice|che260001|debug|2026-11-22T01:00:00|{start}|{end}|{elapsed}|{tres}|COMPLETED\n"
        )
    };
    let text = [
        HEADER.to_string(),
        line(
            1,
            "2026-11-22T01:00:00",
            "2026-11-22T02:00:00",
            3600,
            "cpu=99999999999999999999999",
        ),
        line(2, "2026-11-22T02:00:00", "2026-11-22T01:00:00", 0, "cpu=1"),
        line(
            3,
            "2026-11-22T01:00:00",
            "2026-11-22T02:00:00",
            3600 * 5,
            "cpu=1",
        ),
        line(
            4,
            "2026-11-22T01:00:00",
            "2099-11-22T02:00:00",
            3600,
            "cpu=1",
        ),
        line(
            5,
            "2026-11-22T01:00:00",
            "2026-11-22T02:00:00",
            3600,
            "cpu=64",
        ),
    ]
    .concat();
    let file = scratch_file("bounds", "jobs.txt", text.as_bytes());
    let result = summary(&import(&database, "parsable2", &file));
    assert!(
        result.contains("5 records, 1 charges, 0 already charged, 4 rejected"),
        "{result}"
    );
    assert_eq!(
        charged(&database).await,
        Decimal::from(128),
        "only the 64-CPU hour, at rate 0.5"
    );
    let client = database.pool().connection().await.unwrap();
    let reasons: Vec<String> = client
        .query(
            "SELECT reason FROM registry.usage_rejection ORDER BY line",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        reasons[0].contains("cpu=99999999999999999999999 is more than any job on c can hold"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("is before Start"), "{reasons:?}");
    assert!(
        reasons[2].contains("ElapsedRaw 18000 s is longer than End − Start (3600 s)"),
        "{reasons:?}"
    );
    assert!(reasons[3].contains("is in the future"), "{reasons:?}");

    // A site with small nodes sets a tighter bound: the 64-CPU job is now absurd there.
    client
        .batch_execute("UPDATE registry.cluster SET max_tres_count = 32")
        .await
        .unwrap();
    let file = scratch_file(
        "bounds",
        "again.txt",
        [
            HEADER,
            &line(
                6,
                "2026-11-22T01:00:00",
                "2026-11-22T02:00:00",
                3600,
                "cpu=64",
            ),
        ]
        .concat()
        .as_bytes(),
    );
    let result = summary(&import(&database, "parsable2", &file));
    assert!(
        result.contains("1 records, 0 charges, 0 already charged, 1 rejected"),
        "{result}"
    );
}

#[tokio::test]
async fn files_purser_cannot_read_are_refused_whole_charging_nothing_and_recorded_failed() {
    let database = TestDatabase::new().await;
    centre(&database).await;
    let good = "1|alice|che260001|debug|2026-11-22T01:00:00|2026-11-22T01:00:00|2026-11-22T02:00:00|3600|cpu=1|COMPLETED\n";
    let fixed_width = "JobID           JobName  Partition    Account  AllocCPUS      State ExitCode\n\
                       ------------ ---------- ---------- ---------- ---------- ---------- --------\n\
                       1                  test      debug  che260001          1  COMPLETED      0:0\n";
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "parsable2",
            scratch_file("refused", "fixed.txt", fixed_width.as_bytes()),
            "plain sacct output",
        ),
        (
            "parsable2",
            scratch_file(
                "refused",
                "jobs.csv",
                b"JobIDRaw,User,Account\n1,alice,che260001\n",
            ),
            "it is CSV",
        ),
        (
            "parsable2",
            scratch_file(
                "refused",
                "parsable.txt",
                format!(
                    "{}{}",
                    HEADER.replace('\n', "|\n"),
                    good.replace('\n', "|\n")
                )
                .as_bytes(),
            ),
            "sacct --parsable",
        ),
        (
            "parsable2",
            scratch_file(
                "refused",
                "short.txt",
                b"JobIDRaw|User|Partition|Submit|Start|End|AllocTRES\n1|alice|debug|x|x|x|cpu=1\n",
            ),
            "its header lacks Account, ElapsedRaw",
        ),
        (
            "parsable2",
            scratch_file(
                "refused",
                "binary.bin",
                b"\x7fELF\x02\x01\x01\x00\x00\x00|\xff\n",
            ),
            "binary file",
        ),
        ("parsable2", std::env::temp_dir(), "is a directory"),
        (
            "json",
            scratch_file("refused", "text.txt", format!("{HEADER}{good}").as_bytes()),
            "not sacct --json output",
        ),
    ];
    for (format, file, what) in &cases {
        let output = import(&database, format, file);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{file:?} was imported: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(what), "{file:?}: {stderr}");
    }
    assert_eq!(
        charged(&database).await,
        Decimal::ZERO,
        "nothing is charged"
    );
    let client = database.pool().connection().await.unwrap();
    let states: Vec<(String, Option<String>)> = client
        .query(
            "SELECT state, failure FROM report.usage_imports ORDER BY started_at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(states.len(), cases.len());
    for ((state, failure), (_, _, what)) in states.iter().zip(&cases) {
        assert_eq!(state, "failed");
        assert!(
            failure.as_deref().unwrap_or_default().contains(what),
            "{failure:?}"
        );
    }
    let unfinished: i64 = scalar(
        &database,
        "SELECT count(*) FROM registry.usage_import WHERE finished_at IS NULL",
    )
    .await;
    assert_eq!(unfinished, 0);
}

#[tokio::test]
async fn an_import_whose_connection_is_lost_shows_abandoned_and_the_next_import_marks_it_failed() {
    let database = TestDatabase::new().await;
    centre(&database).await;
    let importer = database.pool().connection().await.unwrap();
    let cluster: uuid::Uuid = scalar(&database, "SELECT id FROM registry.cluster").await;
    let dead = purser_sql::usage::start_import(&importer, cluster, "november.txt", "parsable2")
        .await
        .unwrap();
    let state = |database: &TestDatabase| {
        let pool = database.pool().clone();
        async move {
            let client = pool.connection().await.unwrap();
            client
                .query_one(
                    "SELECT state FROM report.usage_imports WHERE import_id = $1",
                    &[&dead],
                )
                .await
                .unwrap()
                .get::<_, String>(0)
        }
    };
    assert_eq!(
        state(&database).await,
        "running",
        "its importer holds the lock"
    );
    let pid: i32 = importer
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let admin = database.pool().connection().await.unwrap();
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    purser_sql::test_harness::wait_until("the dead import to show abandoned", || async {
        state(&database).await == "abandoned"
    })
    .await;

    summary(&import(
        &database,
        "parsable2",
        &fixture("sacct-22.05.parsable2"),
    ));
    let row = admin
        .query_one(
            "SELECT state, failure FROM report.usage_imports WHERE import_id = $1",
            &[&dead],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(
        row.get::<_, String>(1)
            .contains("connection to the database was lost")
    );
    let finished: i64 = scalar(
        &database,
        "SELECT count(*) FROM report.usage_imports WHERE state = 'finished'",
    )
    .await;
    assert_eq!(finished, 1, "the new import finished and released its lock");
}

#[tokio::test]
async fn parsable2_in_a_sites_own_format_and_time_zone_is_read_by_its_header() {
    let database = TestDatabase::new().await;
    centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    client
        .batch_execute("UPDATE registry.cluster SET time_zone = 'America/Los_Angeles'")
        .await
        .unwrap();
    // XDMoD-like: more fields, another order, CPUs in AllocCPUS only; times in Pacific time.
    let text = "JobID|JobIDRaw|Cluster|Partition|Account|Group|User|Submit|Start|End|ElapsedRaw|AllocCPUS|AllocTRES|State\n\
                41_2|42|c|debug|che260001|chem|alice|2026-11-22T01:00:00|2026-11-22T01:00:00|2026-11-22T02:00:00|3600|4|mem=4G,node=1|COMPLETED\n";
    let file = scratch_file("header", "xdmod.txt", text.as_bytes());
    let result = summary(&import(&database, "parsable2", &file));
    assert!(result.contains("1 records, 1 charges"), "{result}");
    let row = client
        .query_one(
            "SELECT job_id, end_time, raw_amount FROM registry.usage",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "42");
    assert_eq!(
        row.get::<_, chrono::DateTime<chrono::Utc>>(1).to_rfc3339(),
        "2026-11-22T10:00:00+00:00",
        "02:00 in Los Angeles (PST, UTC−8)"
    );
    assert_eq!(row.get::<_, Decimal>(2), Decimal::from(4));
}

#[tokio::test]
async fn an_import_charges_at_the_rate_sql_finds_even_when_a_window_includes_its_end() {
    let database = TestDatabase::new().await;
    centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    // A window closed at its upper bound: a job ending exactly then is in it.
    client
        .batch_execute(
            "DELETE FROM registry.resource_rate;
             INSERT INTO registry.resource_rate (resource_id, rate, valid_during)
                 SELECT id, 0.5, '[2026-01-01, 2026-11-22 02:00:00+00]' FROM registry.resource;",
        )
        .await
        .unwrap();
    let text = format!(
        "{HEADER}1|alice|che260001|debug|2026-11-22T01:00:00|2026-11-22T01:00:00|2026-11-22T02:00:00|3600|cpu=1|COMPLETED\n"
    );
    let file = scratch_file("window", "jobs.txt", text.as_bytes());
    let result = summary(&import(&database, "parsable2", &file));
    assert!(result.contains("1 records, 1 charges"), "{result}");
    assert_eq!(charged(&database).await, Decimal::from(2));
}
