//! The registry and the SU ledger against a real PostgreSQL: rates, charges, diffs, change
//! requests and the running totals, exact in numeric, under concurrency.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use purser_sql::test_harness::TestDatabase;
use rand::{RngExt, SeedableRng};
use rust_decimal::Decimal;
use support::{Centre, centre, decimal};
use uuid::Uuid;

async fn totals(database: &TestDatabase, allocation: Uuid) -> (Decimal, Decimal) {
    let client = database.pool().connection().await.unwrap();
    let row = client
        .query_one(
            "SELECT granted_su, charged_su FROM registry.allocation_total WHERE allocation_id = $1",
            &[&allocation],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn charge(
    database: &TestDatabase,
    centre: &Centre,
    job: &str,
    end: &str,
    raw: &str,
) -> Option<Decimal> {
    let client = database.pool().connection().await.unwrap();
    client
        .query_one(
            "SELECT registry.charge_usage($1, $2, '2026-03-01', $3::text::timestamptz, $4, $5, $6, $7::text::numeric)",
            &[&centre.cluster, &job, &end, &centre.cpu, &centre.allocation, &centre.member, &raw],
        )
        .await
        .unwrap()
        .get(0)
}

async fn sql_error(database: &TestDatabase, sql: &str) -> String {
    let client = database.pool().connection().await.unwrap();
    support::message(&client.batch_execute(sql).await.unwrap_err())
}

#[tokio::test]
async fn ids_are_time_ordered_version_7_uuids() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let ids: Vec<Uuid> = client
        .query(
            "SELECT registry.uuid_v7() FROM generate_series(1, 3) ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    for id in &ids {
        assert_eq!(id.get_version_num(), 7, "{id}");
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122, "{id}");
    }
    let (seconds, _) = ids[0].get_timestamp().unwrap().to_unix();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(seconds) < 60, "the timestamp is now");
}

#[tokio::test]
async fn a_charge_uses_the_rate_in_force_at_the_jobs_end_and_a_job_is_charged_once() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    // 25 core-hours at rate 10 before the boundary, at rate 20 from it (windows are [from, until)).
    assert!(
        charge(&database, &centre, "1001", "2026-06-30 23:59:59+00", "25")
            .await
            .is_some()
    );
    assert!(
        charge(&database, &centre, "1002", "2026-07-01 00:00:00+00", "25")
            .await
            .is_some()
    );
    assert_eq!(
        totals(&database, centre.allocation).await.1,
        decimal("3.75")
    );
    // Charging the same job again changes nothing.
    assert!(
        charge(&database, &centre, "1001", "2026-06-30 23:59:59+00", "25")
            .await
            .is_none()
    );
    assert_eq!(
        totals(&database, centre.allocation).await.1,
        decimal("3.75")
    );
    // A third of an SU is kept to 6 decimals.
    charge(
        &database,
        &centre,
        "1003",
        "2026-03-01 12:00:00+00",
        "3.333333",
    )
    .await;
    assert_eq!(
        totals(&database, centre.allocation).await.1,
        decimal("4.083333")
    );
}

#[tokio::test]
async fn bad_charges_and_amounts_are_refused_with_a_clear_error() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let charge_sql = |job: &str, submit: &str, end: &str, raw: &str| {
        format!(
            "SELECT registry.charge_usage('{}', '{job}', '{submit}', '{end}', '{}', '{}', '{}', {raw})",
            centre.cluster, centre.cpu, centre.allocation, centre.member
        )
    };
    let negative = sql_error(
        &database,
        &charge_sql("x", "2026-03-01", "2026-03-02", "-1"),
    )
    .await;
    assert!(
        negative.contains("raw_amount must be zero or more"),
        "{negative}"
    );
    let before_rates =
        sql_error(&database, &charge_sql("y", "2025-03-01", "2025-03-02", "1")).await;
    assert!(
        before_rates.contains("has no rate in force"),
        "{before_rates}"
    );
    let bad_supplement = sql_error(
        &database,
        &format!(
            "SELECT registry.apply_diff('{}', 'supplement', 'oops', su_delta => -5)",
            centre.allocation
        ),
    )
    .await;
    assert!(
        bad_supplement.contains("allocation_diff_check"),
        "{bad_supplement}"
    );
    let negative_award = sql_error(
        &database,
        &format!(
            "INSERT INTO registry.allocation (project_id, cluster_id, account_name, initial_su, starts_at, ends_at) \
             SELECT project_id, cluster_id, 'other', -1, starts_at, ends_at FROM registry.allocation WHERE id = '{}'",
            centre.allocation
        ),
    )
    .await;
    assert!(negative_award.contains("initial_su"), "{negative_award}");
    assert_eq!(
        totals(&database, centre.allocation).await,
        (Decimal::ZERO, Decimal::ZERO)
    );
}

#[tokio::test]
async fn overlapping_rate_windows_are_refused_and_adjacent_ones_allowed() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let overlap = sql_error(
        &database,
        &format!("INSERT INTO registry.resource_rate (resource_id, rate, valid_during) VALUES ('{}', 5, '[2026-06-01, 2026-08-01)')", centre.cpu),
    )
    .await;
    assert!(
        overlap.contains("conflicting key value violates exclusion constraint"),
        "{overlap}"
    );
    let client = database.pool().connection().await.unwrap();
    client
        .execute(
            "INSERT INTO registry.resource_rate (resource_id, rate, valid_during) VALUES ($1, 5, '[2025-01-01, 2026-01-01)')",
            &[&centre.cpu],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn the_ledger_is_append_only() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    charge(&database, &centre, "1", "2026-03-02", "10").await;
    let client = database.pool().connection().await.unwrap();
    client
        .query_one(
            "SELECT registry.apply_diff($1, 'supplement', 'startup', su_delta => 50)",
            &[&centre.allocation],
        )
        .await
        .unwrap();
    for sql in [
        "UPDATE registry.usage SET su_amount = 0",
        "DELETE FROM registry.usage",
        "TRUNCATE registry.usage CASCADE",
        "UPDATE registry.allocation_diff SET su_delta = 1000",
        "DELETE FROM registry.allocation_diff",
    ] {
        let message = sql_error(&database, sql).await;
        assert!(message.contains("append-only"), "{sql}: {message}");
    }
    assert_eq!(
        totals(&database, centre.allocation).await,
        (decimal("50"), decimal("1"))
    );
}

#[tokio::test]
async fn approving_a_change_request_creates_one_diff_and_approving_again_is_an_error() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let request: Uuid = client
        .query_one(
            "SELECT registry.submit_change_request($1, $2, 'supplement', 'the folding runs need more', requested_su => 250)",
            &[&centre.allocation, &centre.pi],
        )
        .await
        .unwrap()
        .get(0);
    // Two admins approve at once: one wins, the other gets a clear error.
    let approve = || async {
        let client = database.pool().connection().await.unwrap();
        client
            .query_one("SELECT registry.approve_change_request($1)", &[&request])
            .await
            .map(|row| row.get::<_, Uuid>(0))
    };
    let (first, second) = tokio::join!(approve(), approve());
    let (won, lost) = match (first, second) {
        (Ok(diff), Err(error)) | (Err(error), Ok(diff)) => (diff, error),
        other => panic!("expected one approval and one refusal, got {other:?}"),
    };
    assert!(
        lost.as_db_error()
            .unwrap()
            .message()
            .contains("is already APPROVED"),
        "{lost}"
    );
    let diffs: i64 = client
        .query_one(
            "SELECT count(*) FROM registry.allocation_diff WHERE change_request_id = $1",
            &[&request],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(diffs, 1);
    let kind: String = client
        .query_one(
            "SELECT kind FROM registry.allocation_diff WHERE id = $1",
            &[&won],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kind, "supplement");
    assert_eq!(totals(&database, centre.allocation).await.0, decimal("250"));
    let steps: Vec<String> = client
        .query(
            "SELECT coalesce(from_state, '-') || '>' || to_state FROM registry.change_request_event \
             WHERE change_request_id = $1 ORDER BY at, id",
            &[&request],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(steps, vec!["->PENDING", "PENDING>APPROVED"]);
    let rejected_too_late = sql_error(
        &database,
        &format!("SELECT registry.reject_change_request('{request}')"),
    )
    .await;
    assert!(
        rejected_too_late.contains("is already APPROVED"),
        "{rejected_too_late}"
    );
}

#[tokio::test]
async fn status_and_end_date_diffs_set_the_allocation_and_transfers_move_sus() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    client
        .query_one(
            "SELECT registry.apply_diff($1, 'status', 'PI left', new_status => 'suspended')",
            &[&centre.allocation],
        )
        .await
        .unwrap();
    let request: Uuid = client
        .query_one(
            "SELECT registry.submit_change_request($1, $2, 'extension', 'paper revisions', requested_ends_at => '2027-06-01')",
            &[&centre.allocation, &centre.pi],
        )
        .await
        .unwrap()
        .get(0);
    client
        .query_one("SELECT registry.approve_change_request($1)", &[&request])
        .await
        .unwrap();
    let row = client
        .query_one(
            "SELECT status, ends_at::date::text FROM registry.allocation WHERE id = $1",
            &[&centre.allocation],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("suspended".to_string(), "2027-06-01".to_string())
    );

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
    client
        .query_one(
            "SELECT registry.transfer_su($1, $2, 125.5, 'rebalance')",
            &[&centre.allocation, &second],
        )
        .await
        .unwrap();
    assert_eq!(
        totals(&database, centre.allocation).await.0,
        decimal("-125.5")
    );
    assert_eq!(totals(&database, second).await.0, decimal("125.5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_connections_charging_one_allocation_at_once_add_up_exactly() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let workers = (0..8).map(|worker| {
        let database = &database;
        let centre = &centre;
        async move {
            let client = database.pool().connection().await.unwrap();
            for job in 0..100 {
                client
                    .query_one(
                        "SELECT registry.charge_usage($1, $2, '2026-03-01', '2026-03-02', $3, $4, $5, 0.7)",
                        &[&centre.cluster, &format!("{worker}-{job}"), &centre.cpu, &centre.allocation, &centre.member],
                    )
                    .await
                    .unwrap();
            }
        }
    });
    futures_util::future::join_all(workers).await;
    // 800 charges of 0.7 core-hours at rate 10: 0.07 SU each.
    assert_eq!(
        totals(&database, centre.allocation).await.1,
        decimal("56.00")
    );
    let client = database.pool().connection().await.unwrap();
    let member: Decimal = client
        .query_one(
            "SELECT charged_su FROM registry.member_total WHERE allocation_id = $1 AND person_id = $2",
            &[&centre.allocation, &centre.member],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(member, decimal("56.00"));
}

#[tokio::test]
async fn random_diffs_and_charges_keep_the_balance_identity_exactly() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261122);
    let mut granted = Decimal::ZERO;
    let mut charged = Decimal::ZERO;
    for step in 0..300 {
        // Amounts with up to 4 decimals, as awards and adjustments are written.
        let amount = Decimal::new(rng.random_range(1..10_000_000_i64), 4);
        match rng.random_range(0..3) {
            0 => {
                client
                    .query_one(
                        "SELECT registry.apply_diff($1, 'supplement', 'grant', su_delta => $2::numeric)",
                        &[&centre.allocation, &amount],
                    )
                    .await
                    .unwrap();
                granted += amount;
            }
            1 => {
                client
                    .query_one("SELECT registry.apply_diff($1, 'adjustment', 'correction', su_delta => $2::numeric)", &[&centre.allocation, &-amount])
                    .await
                    .unwrap();
                granted -= amount;
            }
            _ => {
                let raw = amount * Decimal::from(10);
                let charge: Option<Decimal> = client
                    .query_one(
                        "SELECT registry.charge_usage($1, $2, '2026-03-01', '2026-03-02', $3, $4, $5, $6::numeric)",
                        &[&centre.cluster, &format!("job-{step}"), &centre.cpu, &centre.allocation, &centre.member, &raw],
                    )
                    .await
                    .unwrap()
                    .get(0);
                assert!(charge.is_some());
                charged += amount;
            }
        }
        let (total_granted, total_charged) = totals(&database, centre.allocation).await;
        assert_eq!(
            (total_granted, total_charged),
            (granted, charged),
            "after step {step}"
        );
    }
    let sums = client
        .query_one(
            "SELECT (SELECT coalesce(sum(su_delta), 0) FROM registry.allocation_diff WHERE allocation_id = $1), \
                    (SELECT coalesce(sum(su_amount), 0) FROM registry.usage WHERE allocation_id = $1)",
            &[&centre.allocation],
        )
        .await
        .unwrap();
    assert_eq!(
        (sums.get::<_, Decimal>(0), sums.get::<_, Decimal>(1)),
        (granted, charged)
    );
}

#[tokio::test]
async fn merging_a_duplicate_person_moves_everything_to_the_survivor() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let duplicate: Uuid = client
        .query_one("INSERT INTO registry.person (name, email) VALUES ('Bo M.', 'bo.m@campus.example') RETURNING id", &[])
        .await
        .unwrap()
        .get(0);
    client
        .batch_execute(&format!(
            "INSERT INTO registry.identity (person_id, source, external_id) VALUES ('{duplicate}', 'campus', 'bm42');
             INSERT INTO registry.cluster_account (cluster_id, person_id, username) VALUES ('{c}', '{duplicate}', 'bm42');
             INSERT INTO registry.membership (allocation_id, person_id) VALUES ('{a}', '{duplicate}');
             UPDATE registry.project SET pi_id = '{duplicate}';",
            c = centre.cluster,
            a = centre.allocation
        ))
        .await
        .unwrap();
    client
        .query_one(
            "SELECT registry.merge_person($1, $2)",
            &[&centre.member, &duplicate],
        )
        .await
        .unwrap();
    let moved = client
        .query_one(
            "SELECT (SELECT person_id FROM registry.identity WHERE external_id = 'bm42'),
                    (SELECT person_id FROM registry.cluster_account WHERE username = 'bm42'),
                    (SELECT person_id FROM registry.membership WHERE allocation_id = $1),
                    (SELECT pi_id FROM registry.project),
                    (SELECT status || ':' || merged_into FROM registry.person WHERE id = $2)",
            &[&centre.allocation, &duplicate],
        )
        .await
        .unwrap();
    for column in 0..4 {
        assert_eq!(
            moved.get::<_, Uuid>(column),
            centre.member,
            "column {column}"
        );
    }
    assert_eq!(
        moved.get::<_, String>(4),
        format!("merged:{}", centre.member)
    );

    // A merge needing a judgement is refused whole.
    let third: Uuid = client
        .query_one("INSERT INTO registry.person (name, email) VALUES ('Bo again', 'bo3@example.edu') RETURNING id", &[])
        .await
        .unwrap()
        .get(0);
    client
        .execute(
            "INSERT INTO registry.cluster_account (cluster_id, person_id, username) VALUES ($1, $2, 'bo3')",
            &[&centre.cluster, &third],
        )
        .await
        .unwrap();
    let refused = client
        .query_one(
            "SELECT registry.merge_person($1, $2)",
            &[&centre.member, &third],
        )
        .await
        .unwrap_err();
    let message = refused.as_db_error().unwrap().message().to_string();
    assert!(
        message.contains("both people have an account on expanse (bm42 and bo3)"),
        "{message}"
    );
    let status: String = client
        .query_one(
            "SELECT status FROM registry.person WHERE id = $1",
            &[&third],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "active");
}

#[tokio::test]
async fn an_allocation_of_chosen_resources_rejects_usage_of_others_and_a_reached_limit_denies_access()
 {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    // A GPU resource the allocation does not include; the CPU included with a limit of 3 SUs.
    let gpu: Uuid = client
        .query_one(
            "WITH gpu AS (INSERT INTO registry.resource (cluster_id, name, resource_type, unit, slurm_tres)
                          VALUES ($1, 'GPU', 'gpu', 'gpu-hours', 'gres/gpu') RETURNING id),
                  rate AS (INSERT INTO registry.resource_rate (resource_id, rate, valid_during)
                           SELECT id, 1, '[2026-01-01,)' FROM gpu)
             SELECT id FROM gpu",
            &[&centre.cluster],
        )
        .await
        .unwrap()
        .get(0);
    client
        .execute(
            "INSERT INTO registry.allocation_resource (allocation_id, resource_id, cluster_id, amount_su) VALUES ($1, $2, $3, 3)",
            &[&centre.allocation, &centre.cpu, &centre.cluster],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO registry.membership (allocation_id, person_id) VALUES ($1, $2)",
            &[&centre.allocation, &centre.member],
        )
        .await
        .unwrap();
    let granted = async || -> (bool, bool) {
        let row = client
            .query_one(
                "SELECT under_resource_limits, granted FROM report.access_explain WHERE person_id = $1",
                &[&centre.member],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(granted().await, (true, true));

    let outcomes = client
        .query(
            "SELECT record, su_amount, rejected FROM registry.charge_usage_batch(
                 ARRAY[$1, $1]::uuid[], ARRAY['1', '2'], ARRAY['2026-03-01', '2026-03-01']::timestamptz[],
                 ARRAY['2026-03-02', '2026-03-02']::timestamptz[], ARRAY[$2, $3]::uuid[], ARRAY[$4, $4]::uuid[],
                 ARRAY[$5, $5]::uuid[], ARRAY[20, 20]::numeric[])",
            &[&centre.cluster, &centre.cpu, &gpu, &centre.allocation, &centre.member],
        )
        .await
        .unwrap();
    assert_eq!(outcomes[0].get::<_, Option<Decimal>>(1), Some(decimal("2")));
    assert_eq!(
        outcomes[1].get::<_, Option<String>>(2).as_deref(),
        Some("allocation che260001 does not include resource GPU")
    );
    let balance = |resource: Uuid| {
        let client = &client;
        async move {
            let row = client
                .query_one(
                    "SELECT limit_su, charged_su, remaining_su FROM report.allocation_resource_balance
                     WHERE allocation_id = $1 AND resource_id = $2",
                    &[&centre.allocation, &resource],
                )
                .await
                .unwrap();
            (
                row.get::<_, Option<Decimal>>(0),
                row.get::<_, Decimal>(1),
                row.get::<_, Option<Decimal>>(2),
            )
        }
    };
    assert_eq!(
        balance(centre.cpu).await,
        (Some(decimal("3")), decimal("2"), Some(decimal("1")))
    );
    let gpu_rows: i64 = client
        .query_one(
            "SELECT count(*) FROM report.allocation_resource_balance WHERE resource_id = $1",
            &[&gpu],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(gpu_rows, 0, "a resource it does not include has no balance");
    assert_eq!(granted().await, (true, true), "under the limit");

    charge(&database, &centre, "3", "2026-03-02", "10").await;
    assert_eq!(
        balance(centre.cpu).await,
        (Some(decimal("3")), decimal("3"), Some(decimal("0")))
    );
    assert_eq!(
        granted().await,
        (false, false),
        "the limit reached denies access, as a cap does"
    );
    let violations: i64 = client
        .query_one("SELECT count(*) FROM report.ledger_violations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(violations, 0);
}

#[tokio::test]
async fn an_allocation_without_chosen_resources_includes_every_resource_of_its_cluster() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let rows: Vec<(Uuid, Option<Decimal>)> = client
        .query(
            "SELECT resource_id, limit_su FROM report.allocation_resource_balance WHERE allocation_id = $1",
            &[&centre.allocation],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(rows, vec![(centre.cpu, None)]);
    assert!(
        charge(&database, &centre, "1", "2026-03-02", "10")
            .await
            .is_some()
    );
}

#[test]
fn usage_is_inserted_and_priced_only_by_the_one_charging_function() {
    // The SU formula (round(raw / rate, 6)) and the rate lookup (resource_rate by window) live
    // in V11's registry.su_of and registry.rate_in_force; every statement charges through
    // registry.charge_usage_batch. (bench_seed_usage fills the ledger with constant rows for the
    // balance benchmark, at rate 1 and SU 1, without pricing anything.)
    let queries = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    for entry in std::fs::read_dir(&queries).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let sql = std::fs::read_to_string(&path).unwrap();
        let code: String = sql
            .lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!code.contains("round("), "{name} computes SUs itself");
        assert!(!code.contains("rate_at("), "{name} looks rates up itself");
        if name != "bench_seed_usage.sql" {
            assert!(
                !code.contains("INSERT INTO registry.usage "),
                "{name} charges usage without registry.charge_usage_batch"
            );
        }
        assert!(
            !(code.contains("registry.resource_rate") && code.contains("usage")),
            "{name} reads rates for usage itself"
        );
    }
}

/// Every outcome of a batch of one CPU job record each, ending 2026-03-02 (rate 10).
async fn charge_batch(
    database: &TestDatabase,
    centre: &Centre,
    jobs: &[&str],
    raws: &[&str],
) -> Vec<(i64, Option<Decimal>, bool, Option<String>)> {
    let client = database.pool().connection().await.unwrap();
    let count = i32::try_from(jobs.len()).unwrap();
    client
        .query(
            "SELECT record, su_amount, already_charged, rejected FROM registry.charge_usage_batch(
                 array_fill($1::uuid, ARRAY[$5::int]), $6::text[],
                 array_fill('2026-03-01'::timestamptz, ARRAY[$5::int]), array_fill('2026-03-02'::timestamptz, ARRAY[$5::int]),
                 array_fill($2::uuid, ARRAY[$5::int]), array_fill($3::uuid, ARRAY[$5::int]), array_fill($4::uuid, ARRAY[$5::int]),
                 $7::text[]::numeric[], NULL, false)",
            &[&centre.cluster, &centre.cpu, &centre.allocation, &centre.member, &count, &jobs, &raws],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect()
}

#[tokio::test]
async fn a_record_charged_before_or_repeated_among_new_ones_is_judged_as_any_other() {
    // The charging function first takes a batch to be all new (V18): a record charged before, or
    // repeated, between new ones makes that attempt fail and be rolled back. Nothing of it stays.
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    charge(&database, &centre, "B", "2026-03-02", "10").await;
    let repeat = Some("repeats an earlier record of this batch".to_string());
    assert_eq!(
        charge_batch(
            &database,
            &centre,
            &["A", "B", "C", "C", "D"],
            &["10", "20", "30", "30", "40"]
        )
        .await,
        vec![
            (1, Some(decimal("1")), false, None),
            (2, None, true, None),
            (3, Some(decimal("3")), false, None),
            (4, None, false, repeat.clone()),
            (5, Some(decimal("4")), false, None),
        ]
    );
    assert_eq!(
        charge_batch(
            &database,
            &centre,
            &["E", "F", "F", "G"],
            &["10", "10", "10", "10"]
        )
        .await,
        vec![
            (1, Some(decimal("1")), false, None),
            (2, Some(decimal("1")), false, None),
            (3, None, false, repeat),
            (4, Some(decimal("1")), false, None),
        ]
    );
    let client = database.pool().connection().await.unwrap();
    let (rows, charged): (i64, Decimal) = {
        let row = client
            .query_one("SELECT count(*), sum(su_amount) FROM registry.usage", &[])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((rows, charged), (7, decimal("12")), "A to G, each once");
    assert_eq!(
        totals(&database, centre.allocation).await.1,
        decimal("12"),
        "the running sums count each charge once"
    );
}

#[tokio::test]
async fn a_batch_charged_for_its_exceptions_returns_only_rejected_and_earlier_charged_records() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    charge(&database, &centre, "C", "2026-03-02", "10").await;
    let client = database.pool().connection().await.unwrap();
    let outcomes: Vec<(i64, bool, Option<String>)> = client
        .query(
            "SELECT record, already_charged, rejected FROM registry.charge_usage_batch(
                 array_fill($1::uuid, ARRAY[5]), ARRAY['A', 'A', 'B', 'B', 'C'],
                 array_fill('2026-03-01'::timestamptz, ARRAY[5]), array_fill('2026-03-02'::timestamptz, ARRAY[5]),
                 array_fill($2::uuid, ARRAY[5]), array_fill($3::uuid, ARRAY[5]), array_fill($4::uuid, ARRAY[5]),
                 ARRAY[10, -1, 10, 10, 10]::numeric[], NULL, true)",
            &[&centre.cluster, &centre.cpu, &centre.allocation, &centre.member],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let rejected = |reason: &str| Some(reason.to_string());
    assert_eq!(
        outcomes,
        vec![
            (
                1,
                false,
                rejected("another record of job A was rejected: raw_amount must be zero or more")
            ),
            (2, false, rejected("raw_amount must be zero or more")),
            (
                4,
                false,
                rejected("repeats an earlier record of this batch")
            ),
            (5, true, None),
        ],
        "record 3 was charged now, so it does not come back"
    );
    let charged: i64 = client
        .query_one(
            "SELECT count(*) FROM registry.usage WHERE job_id = 'B' AND su_amount = 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(charged, 1, "B charged once, at rate 10");
    assert_eq!(totals(&database, centre.allocation).await.1, decimal("2"));
}
