//! The ledger holds only what it can keep and every client can render (V13): NaN, ±Infinity,
//! amounts of 10^15 or more or with more than 6 decimals, times outside 1970 to 9999 or
//! infinite, and names and ids over 256 characters are refused where they enter, from the
//! application roles as from anyone, with a sentence for users; the one charging function
//! rejects such a record alone, with its reason.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use deadpool_postgres::Client;
use purser_sql::constraints::{Refusal, refusal};
use purser_sql::test_harness::TestDatabase;
use support::{Centre, centre, decimal};
use tokio_postgres::error::SqlState;

/// Runs `sql` as `role` (None: the owner, as a script would) in a transaction that is rolled
/// back, and returns what the database refused.
async fn refused(client: &Client, role: Option<&str>, sql: &str) -> tokio_postgres::Error {
    let set_role = role.map_or_else(String::new, |role| format!("SET LOCAL ROLE {role};"));
    let outcome = client
        .batch_execute(&format!("BEGIN; {set_role} {sql}; COMMIT"))
        .await;
    client.batch_execute("ROLLBACK").await.unwrap();
    match outcome {
        Ok(()) => panic!("accepted as {role:?}: {sql}"),
        Err(error) => error,
    }
}

/// The constraint a refusal names, and its sentence for users.
fn constraint_and_sentence(error: &tokio_postgres::Error) -> (String, String) {
    let db = error.as_db_error().unwrap_or_else(|| panic!("{error}"));
    (
        db.constraint().unwrap_or_default().to_string(),
        purser_sql::constraints::describe(error),
    )
}

/// A membership of the centre's member, for caps.
async fn membership(client: &Client, centre: &Centre) -> uuid::Uuid {
    client
        .query_one(
            "INSERT INTO registry.membership (allocation_id, person_id, cap_su) VALUES ($1, $2, 100) RETURNING id",
            &[&centre.allocation, &centre.member],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn the_application_roles_cannot_charge_grant_or_cap_an_amount_the_ledger_cannot_hold() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let membership = membership(&client, &centre).await;
    let charge = |raw: &str| {
        format!(
            "SELECT registry.charge_usage('{}', 'job-1', '2026-03-01', '2026-03-02', '{}', '{}', '{}', raw_amount => {raw})",
            centre.cluster, centre.cpu, centre.allocation, centre.member
        )
    };
    let diff = |kind: &str, delta: &str| {
        format!(
            "SELECT registry.apply_diff('{}', '{kind}', 'why', su_delta => {delta})",
            centre.allocation
        )
    };
    let cases = [
        (Some("purser_daemon"), charge("'NaN'"), "su_amount_check"),
        (
            Some("purser_daemon"),
            charge("'Infinity'"),
            "su_amount_check",
        ),
        (
            Some("purser_daemon"),
            charge("1000000000000000"),
            "su_amount_check",
        ),
        (
            Some("purser_daemon"),
            charge("1.0000001"),
            "su_amount_check",
        ),
        (
            Some("purser_api"),
            diff("supplement", "'Infinity'"),
            "su_amount_check",
        ),
        (
            Some("purser_api"),
            diff("adjustment", "'-Infinity'"),
            "su_amount_check",
        ),
        (
            Some("purser_api"),
            diff("adjustment", "'NaN'"),
            "su_amount_check",
        ),
        (
            Some("purser_api"),
            format!(
                "SELECT registry.transfer_su('{}', '{}', 'NaN', 'why')",
                centre.allocation, centre.allocation
            ),
            "su_amount_check",
        ),
        (
            Some("purser_api"),
            format!(
                "SELECT registry.submit_change_request('{}', '{}', 'supplement', 'more', requested_su => 'Infinity')",
                centre.allocation, centre.pi
            ),
            "su_amount_check",
        ),
        (
            Some("purser_api"),
            format!("UPDATE registry.membership SET cap_su = 'NaN' WHERE id = '{membership}'"),
            "su_amount_check",
        ),
        (
            Some("purser_api"),
            format!("UPDATE registry.membership SET cap_su = 1e15 WHERE id = '{membership}'"),
            "su_amount_check",
        ),
        // An allocation's SUs change only through diffs: a script with the owner's connection.
        (
            None,
            "UPDATE registry.allocation SET initial_su = 'Infinity'".to_string(),
            "su_amount_check",
        ),
        (
            Some("purser_api"),
            format!(
                "INSERT INTO registry.resource_rate (resource_id, rate, valid_during) VALUES ('{}', 'NaN', '[2030-01-01,)')",
                centre.cpu
            ),
            "su_rate_check",
        ),
    ];
    for (role, sql, constraint) in &cases {
        let error = refused(&client, *role, sql).await;
        assert_eq!(
            error.code(),
            Some(&SqlState::CHECK_VIOLATION),
            "{role:?}: {sql}: {error}"
        );
        let (named, sentence) = constraint_and_sentence(&error);
        assert_eq!(&named, constraint, "{role:?}: {sql}");
        assert!(
            !sentence.contains("violates") && !sentence.contains(constraint),
            "{sentence}"
        );
    }
    // Nothing changed: the balance is the award, finite, and the ledger checks out.
    let row = client
        .query_one(
            "SELECT balance_su::text, (SELECT count(*) FROM report.ledger_violations)
             FROM report.allocation_balance WHERE allocation_id = $1",
            &[&centre.allocation],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "1000");
    assert_eq!(row.get::<_, i64>(1), 0);
}

/// A record for the charging function, and why it is rejected (None: charged).
struct Record<'a> {
    job: &'a str,
    submit: &'a str,
    end: &'a str,
    resource: uuid::Uuid,
    raw: &'a str,
    rejected: Option<&'a str>,
}

impl<'a> Record<'a> {
    fn new(
        job: &'a str,
        submit: &'a str,
        end: &'a str,
        resource: uuid::Uuid,
        raw: &'a str,
        rejected: Option<&'a str>,
    ) -> Self {
        Self {
            job,
            submit,
            end,
            resource,
            raw,
            rejected,
        }
    }
}

#[tokio::test]
async fn the_charging_function_rejects_each_record_the_ledger_cannot_hold_and_charges_the_rest() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    // A resource so cheap that a legal raw amount would be more SUs than the ledger holds.
    let cheap: uuid::Uuid = client
        .query_one(
            "WITH r AS (INSERT INTO registry.resource (cluster_id, name, resource_type, unit, slurm_tres)
                        VALUES ($1, 'Scratch', 'storage', 'GB-hours', 'fs/disk') RETURNING id),
                  rate AS (INSERT INTO registry.resource_rate (resource_id, rate, valid_during)
                           SELECT id, 0.000001, '[2026-01-01,)' FROM r)
             SELECT id FROM r",
            &[&centre.cluster],
        )
        .await
        .unwrap()
        .get(0);
    let long_job = "9".repeat(300);
    let raw_rule = Some("raw_amount must be less than 10^15, with at most 6 decimals");
    let time_rule = Some("submit_time and end_time must be from 1970 to 9999");
    let records = [
        Record::new("ok", "2026-03-01", "2026-03-02", centre.cpu, "10", None),
        Record::new(
            "huge",
            "2026-03-01",
            "2026-03-02",
            centre.cpu,
            "79228162514264337593543950335",
            raw_rule,
        ),
        Record::new(
            "nan",
            "2026-03-01",
            "2026-03-02",
            centre.cpu,
            "NaN",
            raw_rule,
        ),
        Record::new(
            "fine-grained",
            "2026-03-01",
            "2026-03-02",
            centre.cpu,
            "1.0000001",
            raw_rule,
        ),
        Record::new(
            "far-future",
            "200000-01-01",
            "200000-01-02",
            centre.cpu,
            "10",
            time_rule,
        ),
        Record::new(
            "never-ends",
            "2026-03-01",
            "infinity",
            centre.cpu,
            "10",
            time_rule,
        ),
        Record::new(
            &long_job,
            "2026-03-01",
            "2026-03-02",
            centre.cpu,
            "10",
            Some("job_id is longer than 256 characters"),
        ),
        Record::new(
            "too-many-sus",
            "2026-03-01",
            "2026-03-02",
            cheap,
            "1000000000",
            Some(
                "raw_amount ÷ rate is 1000000000000000.000000 SUs, more than the ledger holds (less than 10^15)",
            ),
        ),
    ];
    let jobs: Vec<&str> = records.iter().map(|r| r.job).collect();
    let submits: Vec<&str> = records.iter().map(|r| r.submit).collect();
    let ends: Vec<&str> = records.iter().map(|r| r.end).collect();
    let resources: Vec<uuid::Uuid> = records.iter().map(|r| r.resource).collect();
    let raws: Vec<&str> = records.iter().map(|r| r.raw).collect();
    let count = records.len();
    client
        .batch_execute("BEGIN; SET LOCAL ROLE purser_daemon")
        .await
        .unwrap();
    let rows = client
        .query(
            "SELECT b.record, b.su_amount::text, b.rejected
             FROM registry.charge_usage_batch(array_fill($1::uuid, ARRAY[$6::int]), $2, $3::text[]::timestamptz[],
                                              $4::text[]::timestamptz[], $5, array_fill($7::uuid, ARRAY[$6::int]),
                                              array_fill($8::uuid, ARRAY[$6::int]), $9::text[]::numeric[]) b
             ORDER BY b.record",
            &[
                &centre.cluster,
                &jobs,
                &submits,
                &ends,
                &resources,
                &i32::try_from(count).unwrap(),
                &centre.allocation,
                &centre.member,
                &raws,
            ],
        )
        .await
        .unwrap();
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(rows.len(), count);
    for (row, record) in rows.iter().zip(&records) {
        let rejected: Option<String> = row.get(2);
        assert_eq!(rejected.as_deref(), record.rejected, "job {}", record.job);
    }
    assert_eq!(
        rows[0].get::<_, Option<String>>(1).as_deref(),
        Some("1.000000")
    );
    let row = client
        .query_one(
            "SELECT charged_su, (SELECT count(*) FROM registry.usage), (SELECT count(*) FROM report.ledger_violations)
             FROM registry.allocation_total WHERE allocation_id = $1",
            &[&centre.allocation],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, rust_decimal::Decimal>(0), decimal("1"));
    assert_eq!(row.get::<_, i64>(1), 1);
    assert_eq!(row.get::<_, i64>(2), 0);
}

#[tokio::test]
async fn times_outside_1970_to_9999_are_refused_where_they_enter() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let membership = membership(&client, &centre).await;
    let cases = [
        (
            None,
            "UPDATE registry.allocation SET ends_at = 'infinity'".to_string(),
            "instant_check",
        ),
        (
            Some("purser_api"),
            format!(
                "UPDATE registry.membership SET ends_at = '200000-01-01' WHERE id = '{membership}'"
            ),
            "instant_check",
        ),
        (
            Some("purser_api"),
            "INSERT INTO registry.organization (name, created_at) VALUES ('Timeless', 'infinity')"
                .to_string(),
            "instant_check",
        ),
        (
            Some("purser_api"),
            format!(
                "SELECT registry.apply_diff('{}', 'end_date', 'forever', new_ends_at => 'infinity')",
                centre.allocation
            ),
            "instant_check",
        ),
        (
            Some("purser_api"),
            format!(
                "SELECT registry.submit_change_request('{}', '{}', 'extension', 'forever', requested_ends_at => '1900-01-01')",
                centre.allocation, centre.pi
            ),
            "instant_check",
        ),
        (
            Some("purser_api"),
            format!(
                "INSERT INTO registry.resource_rate (resource_id, rate, valid_during) VALUES ('{}', 5, '[2030-01-01, infinity)')",
                centre.cpu
            ),
            "resource_rate_valid_during_bounded",
        ),
        (
            Some("purser_api"),
            "SELECT queue.enqueue(site => 'expanse', kind => 'noop', run_at => 'infinity')"
                .to_string(),
            "task_run_at_bounded",
        ),
        (
            None,
            "INSERT INTO auth.token (name, secret_sha256, role, expires_at)
             VALUES ('forever', sha256('x'), 'admin', '20000-01-01')"
                .to_string(),
            "token_expires_at_bounded",
        ),
    ];
    for (role, sql, constraint) in &cases {
        let error = refused(&client, *role, sql).await;
        let (named, sentence) = constraint_and_sentence(&error);
        assert_eq!(&named, constraint, "{role:?}: {sql}: {error}");
        assert!(
            sentence.contains("1970") || sentence.contains("10000"),
            "{sentence}"
        );
    }
}

#[tokio::test]
async fn names_and_ids_over_their_length_are_refused_with_a_sentence_naming_the_field() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let long = "x".repeat(10_000);
    let cases = [
        (
            format!("INSERT INTO registry.organization (name) VALUES ('{long}')"),
            "name",
            "name must be at most 256 characters",
        ),
        (
            format!(
                "INSERT INTO registry.person (name, email) VALUES ('Ann', '{long}@example.edu')"
            ),
            "email",
            "email must be at most 320 characters",
        ),
        (
            format!(
                "INSERT INTO registry.identity (person_id, source, external_id) VALUES ('{}', 'access', '{long}')",
                centre.member
            ),
            "external_id",
            "external_id must be at most 256 characters",
        ),
        (
            format!(
                "INSERT INTO registry.resource (cluster_id, name, resource_type, unit, slurm_tres) VALUES ('{}', '{long}', 'cpu', 'core-hours', 'gres/x')",
                centre.cluster
            ),
            "name",
            "name must be at most 256 characters",
        ),
        (
            format!(
                "SELECT queue.enqueue(site => 'expanse', kind => 'noop', dedupe_key => '{long}')"
            ),
            "dedupe_key",
            "dedupe_key must be at most 256 characters",
        ),
        (
            format!("SELECT queue.enqueue(site => 'expanse', kind => 'noop', lane => '{long}')"),
            "lane",
            "lane must be at most 256 characters",
        ),
    ];
    for (sql, field, sentence) in &cases {
        let error = refused(&client, Some("purser_api"), sql).await;
        match refusal(error.as_db_error().unwrap()) {
            Some(Refusal::Constraint {
                field: Some(named),
                sentence: said,
                known: true,
                ..
            }) => {
                assert_eq!(named, *field, "{sql:.80}");
                assert_eq!(said, *sentence, "{sql:.80}");
            }
            other => panic!("{sql:.80}: {other:?} ({error})"),
        }
    }
    // A charge's job id: the charging function says why.
    let error = refused(
        &client,
        Some("purser_daemon"),
        &format!(
            "SELECT registry.charge_usage('{}', '{long}', '2026-03-01', '2026-03-02', '{}', '{}', '{}', 10)",
            centre.cluster, centre.cpu, centre.allocation, centre.member
        ),
    )
    .await;
    assert_eq!(
        purser_sql::constraints::describe(&error),
        "job_id is longer than 256 characters"
    );
}

#[tokio::test]
async fn every_amount_rate_and_time_of_the_registry_takes_its_domain() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    // Columns of the registry's tables whose type is numeric or timestamptz itself, not a domain.
    let plain_columns: Vec<String> = client
        .query(
            "SELECT c.relname || '.' || a.attname
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
             WHERE c.relnamespace = 'registry'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
               AND a.atttypid IN ('numeric'::regtype, 'timestamptz'::regtype)
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    // A count of TRES, not an amount of SUs: bounded by its own check.
    assert_eq!(plain_columns, vec!["cluster.max_tres_count"]);
    // Functions of the registry taking a plain numeric: the rules themselves, and the batch
    // charge, which judges each raw amount by the rule so one bad record is rejected alone.
    let plain_parameters: Vec<String> = client
        .query(
            "SELECT p.oid::regprocedure::text
             FROM pg_proc p
             WHERE p.pronamespace = 'registry'::regnamespace
               AND p.proargtypes::oid[] && ARRAY['numeric'::regtype::oid, 'numeric[]'::regtype::oid]
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        plain_parameters,
        vec![
            "registry.charge_usage_batch(uuid[],text[],timestamp with time zone[],timestamp with time zone[],uuid[],uuid[],uuid[],numeric[],text,boolean)",
            "registry.is_su_amount(numeric)",
            "registry.is_su_rate(numeric)",
        ]
    );
}

#[tokio::test]
async fn the_ledger_check_flags_an_amount_written_while_its_rule_was_lifted() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    // The owner lifts the rule (where there is one), then a NaN adjustment goes in.
    client
        .batch_execute(
            "DO $$ BEGIN
                 IF to_regtype('registry.su_amount') IS NOT NULL THEN
                     ALTER DOMAIN registry.su_amount DROP CONSTRAINT su_amount_check;
                 END IF;
             END $$",
        )
        .await
        .unwrap();
    client
        .query_one(
            "SELECT registry.apply_diff($1, 'adjustment', 'a NaN slipped in', su_delta => 'NaN')",
            &[&centre.allocation],
        )
        .await
        .unwrap();
    let flagged: Vec<String> = client
        .query(
            "SELECT detail FROM report.ledger_violations WHERE violation LIKE 'an amount is not one the ledger can hold%' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(flagged.len(), 2, "{flagged:?}");
    assert!(
        flagged[0].starts_with("allocation_total: granted_su NaN"),
        "{flagged:?}"
    );
    assert!(flagged[1].ends_with("su_delta NaN"), "{flagged:?}");
}
