//! The ledger, its sums and the audit log against the application roles (purser_api,
//! purser_daemon, purser_reader): each write they could once make directly is refused; the
//! functions that write them run as purser_owner and still serve the roles that need them; and
//! every audit record keeps the database login beside the actor it claims.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use chrono::{Duration, Utc};
use purser_sql::auth::{NewToken, create_token, revoke_token};
use purser_sql::migrations;
use purser_sql::test_harness::TestDatabase;
use serde_json::Value;
use support::{Centre, centre, decimal};
use tokio_postgres::error::SqlState;

const APPLICATION_ROLES: [&str; 3] = ["purser_api", "purser_daemon", "purser_reader"];

/// What the application roles must never write themselves: (table, the writes refused).
const PROTECTED: &[(&str, &[&str])] = &[
    ("registry.allocation_total", &["INSERT", "UPDATE", "DELETE"]),
    ("registry.member_total", &["INSERT", "UPDATE", "DELETE"]),
    (
        "registry.allocation_resource_total",
        &["INSERT", "UPDATE", "DELETE"],
    ),
    ("registry.usage", &["INSERT", "UPDATE", "DELETE"]),
    ("registry.allocation_diff", &["INSERT", "UPDATE", "DELETE"]),
    ("registry.change_request", &["INSERT", "UPDATE", "DELETE"]),
    (
        "registry.change_request_event",
        &["INSERT", "UPDATE", "DELETE"],
    ),
    ("registry.allocation", &["UPDATE", "DELETE"]),
    ("audit.event", &["INSERT", "UPDATE", "DELETE"]),
    ("auth.token", &["INSERT", "UPDATE", "DELETE"]),
];

/// A centre with something in every protected table: a charge, a supplement, a pending
/// change request, a token (revoked once, so it has an UPDATE event) and audit events.
async fn furnished_centre(database: &TestDatabase) -> Centre {
    let centre = centre(database).await;
    let client = database.pool().connection().await.unwrap();
    client
        .execute(
            "SELECT registry.charge_usage($1, 'job-1', '2026-03-01', '2026-03-02', $2, $3, $4, 100)",
            &[&centre.cluster, &centre.cpu, &centre.allocation, &centre.member],
        )
        .await
        .unwrap();
    client
        .execute(
            "SELECT registry.apply_diff($1, 'supplement', 'renewal', su_delta => 50)",
            &[&centre.allocation],
        )
        .await
        .unwrap();
    client
        .execute(
            "SELECT registry.submit_change_request($1, $2, 'supplement', 'more work', requested_su => 10)",
            &[&centre.allocation, &centre.pi],
        )
        .await
        .unwrap();
    let (token, _) = create_token(
        &client,
        &NewToken {
            name: "gateway".to_string(),
            role: "admin".to_string(),
            person_id: None,
            site: None,
            expires_at: Utc::now() + Duration::days(1),
        },
    )
    .await
    .unwrap();
    assert!(revoke_token(&client, token).await.unwrap());
    centre
}

/// Runs `sql` as `role` in a transaction that is rolled back; the error, if it failed.
async fn as_role(
    client: &deadpool_postgres::Client,
    role: &str,
    sql: &str,
) -> Option<tokio_postgres::Error> {
    let outcome = client
        .batch_execute(&format!("BEGIN; SET LOCAL ROLE {role}; {sql}"))
        .await;
    client.batch_execute("ROLLBACK").await.unwrap();
    outcome.err()
}

#[tokio::test]
async fn no_application_role_can_write_the_sums_the_ledger_the_audit_log_or_api_tokens() {
    let database = TestDatabase::new().await;
    furnished_centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let writes = [
        // A balance grown by a million, a member's charges forgotten, a resource's limit reset.
        "UPDATE registry.allocation_total SET granted_su = granted_su + 1000000",
        "INSERT INTO registry.allocation_total (allocation_id) SELECT registry.uuid_v7()",
        "DELETE FROM registry.allocation_total",
        "TRUNCATE registry.allocation_total CASCADE",
        "UPDATE registry.member_total SET charged_su = 0",
        "DELETE FROM registry.member_total",
        "UPDATE registry.allocation_resource_total SET charged_su = 0",
        "INSERT INTO registry.allocation_resource_total (allocation_id, resource_id) \
         SELECT allocation_id, resource_id FROM registry.usage",
        // Forged, rewritten and erased history.
        "INSERT INTO audit.event (actor, table_name, row_key, operation, after) \
         VALUES ('alice@admin', 'registry.project', '{}', 'INSERT', '{}')",
        "UPDATE audit.event SET actor = 'nobody'",
        "DELETE FROM audit.event",
        "TRUNCATE audit.event",
        // A charge whose SUs are not raw ÷ rate, and charges rewritten or erased.
        "INSERT INTO registry.usage (cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, \
                                     person_id, raw_amount, rate, su_amount) \
         SELECT cluster_id, 'forged', submit_time, end_time, resource_id, allocation_id, person_id, 1000, 10, 0 \
         FROM registry.usage",
        "UPDATE registry.usage SET su_amount = 0",
        "DELETE FROM registry.usage",
        "TRUNCATE registry.usage",
        // SUs granted without a function, diffs rewritten or erased.
        "INSERT INTO registry.allocation_diff (allocation_id, kind, su_delta, reason, source) \
         SELECT id, 'supplement', 1000000, 'forged', 'admin' FROM registry.allocation",
        "UPDATE registry.allocation_diff SET su_delta = 0",
        "DELETE FROM registry.allocation_diff",
        "UPDATE registry.allocation SET initial_su = initial_su + 1000000",
        "UPDATE registry.allocation SET status = 'active', ends_at = ends_at + interval '10 years'",
        // An approval without its diff, a forged step.
        "UPDATE registry.change_request SET state = 'APPROVED', decided_at = now(), decided_by = 'alice'",
        "INSERT INTO registry.change_request_event (change_request_id, from_state, to_state, actor) \
         SELECT id, 'PENDING', 'APPROVED', 'alice' FROM registry.change_request",
        // A token stolen, promoted, minted or erased.
        "UPDATE auth.token SET secret_sha256 = sha256('mine'), revoked_at = NULL",
        "UPDATE auth.token SET role = 'admin'",
        "INSERT INTO auth.token (name, secret_sha256, role, expires_at) \
         VALUES ('mine', sha256('mine'), 'admin', now() + interval '1 day')",
        "DELETE FROM auth.token",
    ];
    let mut allowed = Vec::new();
    for role in APPLICATION_ROLES {
        for sql in writes {
            match as_role(&client, role, sql).await {
                Some(error)
                    if error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE)
                        && support::message(&error).starts_with("permission denied") => {}
                Some(error) => allowed.push(format!(
                    "{role}: {sql}: not refused by privileges: {}",
                    support::message(&error)
                )),
                None => allowed.push(format!("{role}: {sql}: it was allowed")),
            }
        }
    }
    assert!(allowed.is_empty(), "{}", allowed.join("\n"));
}

#[tokio::test]
async fn only_the_roles_that_need_them_may_call_the_functions_that_write_the_ledger() {
    let database = TestDatabase::new().await;
    let centre = furnished_centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let allocation = centre.allocation;
    let charge = format!(
        "SELECT registry.charge_usage('{}', 'job-2', '2026-03-01', '2026-03-02', '{}', '{allocation}', '{}', 100)",
        centre.cluster, centre.cpu, centre.member
    );
    let adjust = format!(
        "SELECT registry.apply_diff('{allocation}', 'adjustment', 'forged', su_delta => 1000000)"
    );
    let transfer =
        format!("SELECT registry.transfer_su('{allocation}', registry.uuid_v7(), 1, 'forged')");
    let submit = format!(
        "SELECT registry.submit_change_request('{allocation}', '{}', 'supplement', 'forged', requested_su => 1000000)",
        centre.pi
    );
    let approve =
        "SELECT registry.approve_change_request(id) FROM registry.change_request".to_string();
    let merge = format!(
        "SELECT registry.merge_person('{}', '{}')",
        centre.pi, centre.member
    );
    let lock = format!("SELECT registry.refuse_withdrawal('{allocation}', 1)");
    let refused: Vec<(&str, &String)> = vec![
        ("purser_reader", &charge),
        ("purser_reader", &adjust),
        ("purser_reader", &transfer),
        ("purser_reader", &submit),
        ("purser_reader", &approve),
        ("purser_reader", &merge),
        ("purser_reader", &lock),
        ("purser_daemon", &adjust),
        ("purser_daemon", &transfer),
        ("purser_daemon", &submit),
        ("purser_daemon", &approve),
        ("purser_daemon", &merge),
        ("purser_daemon", &lock),
        ("purser_api", &lock),
    ];
    let mut allowed = Vec::new();
    for (role, sql) in refused {
        match as_role(&client, role, sql).await {
            Some(error) if error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {}
            Some(error) => allowed.push(format!("{role}: {sql}: {}", support::message(&error))),
            None => allowed.push(format!("{role}: {sql}: it was allowed")),
        }
    }
    assert!(allowed.is_empty(), "{}", allowed.join("\n"));
}

#[tokio::test]
async fn the_api_and_daemon_roles_charge_adjust_and_decide_through_the_functions() {
    let database = TestDatabase::new().await;
    let centre = furnished_centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    let other: uuid::Uuid = client
        .query_one(
            "INSERT INTO registry.allocation (project_id, cluster_id, account_name, initial_su, starts_at, ends_at)
             SELECT project_id, cluster_id, 'che260002', 0, starts_at, ends_at FROM registry.allocation WHERE id = $1
             RETURNING id",
            &[&centre.allocation],
        )
        .await
        .unwrap()
        .get(0);
    let allocation = centre.allocation;
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL ROLE purser_api; SET LOCAL purser.actor = 'api:admin';
             SELECT registry.apply_diff('{allocation}', 'adjustment', 'correction', su_delta => -5);
             SELECT registry.transfer_su('{allocation}', '{other}', 20, 'share');
             SELECT registry.approve_change_request(id) FROM registry.change_request;
             SELECT * FROM registry.charge_usage_batch(ARRAY['{cluster}']::uuid[], ARRAY['job-api'], ARRAY['2026-03-01']::timestamptz[],
                 ARRAY['2026-03-02']::timestamptz[], ARRAY['{cpu}']::uuid[], ARRAY['{allocation}']::uuid[],
                 ARRAY['{member}']::uuid[], ARRAY[30]::numeric[], 'expanse');
             COMMIT;
             BEGIN; SET LOCAL ROLE purser_daemon; SET LOCAL purser.actor = 'daemon:expanse';
             SELECT registry.charge_usage('{cluster}', 'job-daemon', '2026-03-01', '2026-03-02', '{cpu}', '{allocation}', '{member}', 70);
             COMMIT",
            cluster = centre.cluster,
            cpu = centre.cpu,
            member = centre.member,
        ))
        .await
        .unwrap();
    let balance = client
        .query_one(
            "SELECT granted_su, charged_su, balance_su FROM report.allocation_balance WHERE allocation_id = $1",
            &[&allocation],
        )
        .await
        .unwrap();
    // Granted: +50 supplement, −5 adjustment, −20 transfer, +10 approved request. Charged:
    // 100 + 30 + 70 raw at rate 10.
    assert_eq!(balance.get::<_, rust_decimal::Decimal>(0), decimal("35"));
    assert_eq!(balance.get::<_, rust_decimal::Decimal>(1), decimal("20"));
    assert_eq!(balance.get::<_, rust_decimal::Decimal>(2), decimal("1015"));
    let member_charged: rust_decimal::Decimal = client
        .query_one(
            "SELECT charged_su FROM registry.member_total WHERE allocation_id = $1 AND person_id = $2",
            &[&allocation, &centre.member],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(member_charged, decimal("20"));
    let violations: i64 = client
        .query_one("SELECT count(*) FROM report.ledger_violations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(violations, 0);
    // The rows name the actor each session claimed, not the functions' owner.
    let actors: Vec<String> = client
        .query(
            "SELECT DISTINCT actor FROM registry.usage WHERE job_id IN ('job-api', 'job-daemon')
             UNION SELECT DISTINCT actor FROM registry.allocation_diff WHERE reason IN ('correction', 'share')
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(actors, vec!["api:admin", "daemon:expanse"]);
}

#[tokio::test]
async fn without_a_claimed_actor_the_role_the_session_acts_as_is_the_actor() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL ROLE purser_api;
             SELECT registry.apply_diff('{}', 'supplement', 'renewal', su_delta => 1);
             UPDATE registry.project SET title = 'Protein folding II';
             COMMIT",
            centre.allocation
        ))
        .await
        .unwrap();
    let row = client
        .query_one(
            "SELECT (SELECT actor FROM registry.allocation_diff),
                    (SELECT actor FROM audit.event WHERE table_name = 'registry.project' AND operation = 'UPDATE')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "purser_api");
    assert_eq!(row.get::<_, String>(1), "purser_api");
}

#[tokio::test]
async fn a_claimed_actor_is_recorded_beside_the_database_login_that_claimed_it() {
    let database = TestDatabase::new().await;
    let centre = centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    // A login of the API's role, as a deployment makes one (roles belong to the server, so it
    // may exist from an earlier run).
    client
        .batch_execute(
            "DO $$ BEGIN
                 CREATE ROLE purser_test_api_login LOGIN PASSWORD 'api-login' IN ROLE purser_api;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$",
        )
        .await
        .unwrap();
    let mut config: tokio_postgres::Config = database.url().parse().unwrap();
    config.user("purser_test_api_login").password("api-login");
    let (login, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    login
        .batch_execute(&format!(
            "BEGIN; SET LOCAL purser.actor = 'alice@admin';
             UPDATE registry.project SET status = 'suspended';
             SELECT registry.apply_diff('{allocation}', 'supplement', 'renewal', su_delta => 1);
             SELECT registry.charge_usage('{cluster}', 'job-1', '2026-03-01', '2026-03-02', '{cpu}', '{allocation}', '{member}', 10);
             COMMIT",
            allocation = centre.allocation,
            cluster = centre.cluster,
            cpu = centre.cpu,
            member = centre.member,
        ))
        .await
        .unwrap();
    let recorded: Vec<(String, String, String)> = client
        .query(
            "SELECT 'audit.event', actor, db_user FROM audit.event WHERE table_name = 'registry.project' AND operation = 'UPDATE'
             UNION ALL SELECT 'registry.allocation_diff', actor, db_user FROM registry.allocation_diff
             UNION ALL SELECT 'registry.usage', actor, db_user FROM registry.usage
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let expected: Vec<(String, String, String)> =
        ["audit.event", "registry.allocation_diff", "registry.usage"]
            .into_iter()
            .map(|table| {
                (
                    table.to_string(),
                    "alice@admin".to_string(),
                    "purser_test_api_login".to_string(),
                )
            })
            .collect();
    assert_eq!(recorded, expected);
    // What the harness's own login did when it made the centre names that login.
    let furnished: bool = client
        .query_one(
            "SELECT db_user = session_user FROM audit.event WHERE table_name = 'registry.allocation'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(furnished);
}

#[tokio::test]
async fn token_rows_are_audited_without_their_secret_hash() {
    let database = TestDatabase::new().await;
    furnished_centre(&database).await;
    let client = database.pool().connection().await.unwrap();
    client
        .batch_execute("BEGIN; SET LOCAL ROLE purser_reader")
        .await
        .unwrap();
    let events: Vec<(String, Option<Value>, Option<Value>)> = client
        .query(
            "SELECT operation, before, after FROM audit.event WHERE table_name = 'auth.token' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    client.batch_execute("ROLLBACK").await.unwrap();
    let operations: Vec<&str> = events.iter().map(|event| event.0.as_str()).collect();
    assert_eq!(operations, vec!["INSERT", "UPDATE"]);
    for (operation, before, after) in &events {
        for image in [before, after].into_iter().flatten() {
            assert_eq!(image["name"], "gateway", "{operation}: {image}");
            assert!(
                image.get("secret_sha256").is_none(),
                "{operation} keeps the hash: {image}"
            );
        }
    }
}

#[tokio::test]
async fn the_migration_scrubs_the_secret_hashes_the_audit_log_already_held() {
    let database = TestDatabase::empty().await;
    migrations::apply_through(database.pool(), 13)
        .await
        .unwrap();
    let client = database.pool().connection().await.unwrap();
    create_token(
        &client,
        &NewToken {
            name: "before the fix".to_string(),
            role: "reader".to_string(),
            person_id: None,
            site: None,
            expires_at: Utc::now() + Duration::days(1),
        },
    )
    .await
    .unwrap();
    let held = "SELECT count(*) FROM audit.event WHERE table_name = 'auth.token' AND after ? 'secret_sha256'";
    let before: i64 = client.query_one(held, &[]).await.unwrap().get(0);
    assert_eq!(before, 1, "the event holds the hash before the migration");
    migrations::apply(database.pool()).await.unwrap();
    let after: i64 = client.query_one(held, &[]).await.unwrap().get(0);
    assert_eq!(after, 0);
    let kept: String = client
        .query_one(
            "SELECT after->>'name' FROM audit.event WHERE table_name = 'auth.token'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, "before the fix", "the rest of the event stays");
}

/// The functions of Purser's schemas that fail the rule, each with why.
async fn definer_rule_breaches(client: &deadpool_postgres::Client) -> Vec<String> {
    let tables: Vec<String> = PROTECTED
        .iter()
        .map(|(table, _)| regex_escape(table))
        .collect();
    let table = format!("({})", tables.join("|"));
    // Writes (INSERT INTO, UPDATE, DELETE FROM) a protected table, or locks its rows.
    let writes = format!(
        r"(insert\s+into|update|delete\s+from)\s+(only\s+)?{table}\y|from\s+{table}\y[^;]*\yfor\s+update\y"
    );
    client
        .query(
            "WITH ours AS (
                 SELECT p.oid, p.oid::regprocedure::text AS function, p.prosecdef, p.proconfig, p.proacl,
                        pg_get_userbyid(p.proowner) AS owner,
                        p.prorettype = 'trigger'::regtype AS is_trigger,
                        p.prosrc ~* $1 AS writes_protected
                 FROM pg_proc p
                 JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT IN ('information_schema', 'public'))
             SELECT function || ': ' || concat_ws(', ',
                        CASE WHEN NOT prosecdef THEN
                            CASE WHEN is_trigger THEN 'a trigger function' ELSE 'it writes a protected table' END
                            || ' that is not SECURITY DEFINER' END,
                        CASE WHEN proconfig IS DISTINCT FROM ARRAY['search_path=pg_catalog, pg_temp'] THEN
                            'its search_path is not pinned to pg_catalog, pg_temp' END,
                        CASE WHEN owner <> 'purser_owner' THEN 'it is owned by ' || owner || ', not purser_owner' END,
                        CASE WHEN proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(proacl) a WHERE a.grantee = 0) THEN
                            'PUBLIC may execute it' END)
             FROM ours
             WHERE (is_trigger OR writes_protected OR prosecdef)
               AND (NOT prosecdef OR proconfig IS DISTINCT FROM ARRAY['search_path=pg_catalog, pg_temp']
                    OR owner <> 'purser_owner'
                    OR proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(proacl) a WHERE a.grantee = 0))
             ORDER BY 1",
            &[&writes],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn regex_escape(name: &str) -> String {
    name.replace('.', r"\.")
}

#[tokio::test]
async fn every_trigger_function_and_every_function_that_writes_the_ledger_is_security_definer_with_a_pinned_search_path()
 {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let breaches = definer_rule_breaches(&client).await;
    assert!(
        breaches.is_empty(),
        "functions that write what the application roles may not must be SECURITY DEFINER, owned by purser_owner, \
         with SET search_path = pg_catalog, pg_temp and no EXECUTE for PUBLIC (CREATE OR REPLACE FUNCTION resets \
         the first two: give them again):\n{}",
        breaches.join("\n")
    );
    // The rule has teeth: a function re-created without the attributes is caught.
    client
        .batch_execute(
            "CREATE OR REPLACE FUNCTION registry.refuse_ledger_rewrite() RETURNS trigger
             LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'append-only'; END; $$",
        )
        .await
        .unwrap();
    let caught = definer_rule_breaches(&client).await;
    assert_eq!(
        caught,
        vec![
            "registry.refuse_ledger_rewrite(): a trigger function that is not SECURITY DEFINER, \
             its search_path is not pinned to pg_catalog, pg_temp"
                .to_string()
        ]
    );
}

#[tokio::test]
async fn the_protected_tables_grant_no_write_to_any_application_role() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let mut granted = Vec::new();
    for (table, writes) in PROTECTED {
        for role in APPLICATION_ROLES {
            for write in *writes {
                let may: bool = client
                    .query_one(
                        "SELECT has_schema_privilege($1::text::name, split_part($2::text, '.', 1), 'USAGE')
                            AND CASE WHEN $3::text IN ('INSERT', 'UPDATE')
                                     THEN has_any_column_privilege($1::text::name, $2::text, $3::text)
                                     ELSE has_table_privilege($1::text::name, $2::text, $3::text) END",
                        &[&role, table, write],
                    )
                    .await
                    .unwrap()
                    .get(0);
                if may {
                    granted.push(format!("{role} may {write} {table}"));
                }
            }
        }
    }
    // The one write left: the API notes when a token was last used.
    let noted: bool = client
        .query_one(
            "SELECT has_column_privilege('purser_api', 'auth.token', 'last_used_at', 'UPDATE')
                AND NOT has_column_privilege('purser_api', 'auth.token', 'secret_sha256', 'UPDATE')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(noted);
    granted.retain(|grant| grant != "purser_api may UPDATE auth.token");
    assert!(granted.is_empty(), "{}", granted.join("\n"));
}
