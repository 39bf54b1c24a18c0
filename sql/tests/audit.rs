//! The audit log and the database roles against a real PostgreSQL.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use purser_sql::test_harness::TestDatabase;
use serde_json::{Value, json};
use uuid::Uuid;

async fn new_project(client: &deadpool_postgres::Client) -> Uuid {
    client
        .query_one(
            "WITH pi AS (INSERT INTO registry.person (name, email) VALUES ('Ada PI', 'ada@example.edu') RETURNING id)
             INSERT INTO registry.project (title, pi_id, origination, originated_id)
             SELECT 'Protein folding', id, 'ACCESS', 'CHE260001' FROM pi RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// The audit events of one row, oldest first: (operation, actor, before, after).
async fn events_of(
    client: &deadpool_postgres::Client,
    table: &str,
    id: Uuid,
) -> Vec<(String, String, Option<Value>, Option<Value>)> {
    client
        .query(
            "SELECT operation, actor, before, after FROM audit.event WHERE table_name = $1 AND row_key = $2 ORDER BY id",
            &[&table, &json!({"id": id})],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect()
}

#[tokio::test]
async fn a_direct_sql_update_is_audited_with_the_actor_the_session_set() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let project = new_project(&client).await;
    client
        .batch_execute(&format!(
            "SET purser.actor = 'alice@admin'; UPDATE registry.project SET status = 'suspended' WHERE id = '{project}'; RESET purser.actor"
        ))
        .await
        .unwrap();
    // Without a session actor, the database user is the actor.
    client
        .batch_execute(&format!(
            "UPDATE registry.project SET title = 'Protein folding II' WHERE id = '{project}'"
        ))
        .await
        .unwrap();
    // An update that changes nothing leaves no event.
    client
        .batch_execute(&format!(
            "UPDATE registry.project SET title = title WHERE id = '{project}'"
        ))
        .await
        .unwrap();

    let events = events_of(&client, "registry.project", project).await;
    assert_eq!(events.len(), 3, "{events:?}");
    let (operation, actor, before, after) = &events[0];
    assert_eq!((operation.as_str(), before), ("INSERT", &None));
    assert_eq!(after.as_ref().unwrap()["title"], "Protein folding");
    assert_eq!(actor, "postgres");
    let (operation, actor, before, after) = &events[1];
    assert_eq!(
        (operation.as_str(), actor.as_str()),
        ("UPDATE", "alice@admin")
    );
    assert_eq!(before.as_ref().unwrap()["status"], "active");
    assert_eq!(after.as_ref().unwrap()["status"], "suspended");
    assert_eq!(events[2].1, "postgres");
    assert_eq!(events[2].3.as_ref().unwrap()["title"], "Protein folding II");
}

#[tokio::test]
async fn a_delete_is_audited_with_the_row_as_it_was() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let organization: Uuid = client
        .query_one(
            "INSERT INTO registry.organization (name) VALUES ('Example University') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    client
        .execute(
            "DELETE FROM registry.organization WHERE id = $1",
            &[&organization],
        )
        .await
        .unwrap();
    let events = events_of(&client, "registry.organization", organization).await;
    let operations: Vec<&str> = events.iter().map(|event| event.0.as_str()).collect();
    assert_eq!(operations, vec!["INSERT", "DELETE"]);
    assert_eq!(events[1].2.as_ref().unwrap()["name"], "Example University");
    assert_eq!(events[1].3, None);
}

#[tokio::test]
async fn tampering_with_the_audit_log_is_refused_even_to_its_owner() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    new_project(&client).await;
    for sql in [
        "UPDATE audit.event SET actor = 'nobody'",
        "DELETE FROM audit.event",
        "TRUNCATE audit.event",
    ] {
        let error = client.batch_execute(sql).await.unwrap_err();
        let message = error.as_db_error().unwrap().message().to_string();
        assert!(message.contains("append-only"), "{sql}: {message}");
    }
    let count: i64 = client
        .query_one("SELECT count(*) FROM audit.event", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2, "the person and the project are still logged");
}

#[tokio::test]
async fn application_roles_cannot_rewrite_the_audit_log_and_the_reader_cannot_write() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    new_project(&client).await;
    for (role, sql) in [
        ("purser_api", "UPDATE audit.event SET actor = 'nobody'"),
        ("purser_api", "DELETE FROM audit.event"),
        ("purser_daemon", "TRUNCATE audit.event"),
        (
            "purser_reader",
            "INSERT INTO registry.organization (name) VALUES ('Sneaky')",
        ),
        (
            "purser_reader",
            "SELECT queue.enqueue(site => 'expanse', kind => 'noop')",
        ),
    ] {
        let error = client
            .batch_execute(&format!("BEGIN; SET LOCAL ROLE {role}; {sql}; COMMIT"))
            .await
            .unwrap_err();
        client.batch_execute("ROLLBACK").await.unwrap();
        let message = error.as_db_error().unwrap().message().to_string();
        assert!(
            message.contains("permission denied"),
            "{role}: {sql}: {message}"
        );
    }
    // The API role may change the registry, and its change is logged with its actor.
    client
        .batch_execute(
            "BEGIN; SET LOCAL ROLE purser_api; SET LOCAL purser.actor = 'api:token-7';
             UPDATE registry.project SET status = 'closed'; COMMIT",
        )
        .await
        .unwrap();
    let actor: String = client
        .query_one(
            "SELECT actor FROM audit.event WHERE operation = 'UPDATE'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(actor, "api:token-7");
}

#[tokio::test]
async fn ledger_rows_carry_their_own_actor_and_transaction() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let project = new_project(&client).await;
    let allocation: Uuid = client
        .query_one(
            "WITH cluster AS (INSERT INTO registry.cluster (name) VALUES ('expanse') RETURNING id)
             INSERT INTO registry.allocation (project_id, cluster_id, account_name, initial_su, starts_at, ends_at)
             SELECT $1, id, 'che260001', 10, '2026-01-01', '2027-01-01' FROM cluster RETURNING id",
            &[&project],
        )
        .await
        .unwrap()
        .get(0);
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL purser.actor = 'workflow:renewals';
             SELECT registry.apply_diff('{allocation}', 'supplement', 'renewal', su_delta => 100); COMMIT"
        ))
        .await
        .unwrap();
    let row = client
        .query_one(
            "SELECT actor, transaction_id::text::bigint > 0 FROM registry.allocation_diff WHERE allocation_id = $1",
            &[&allocation],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "workflow:renewals");
    assert!(row.get::<_, bool>(1));
    let logged_again: i64 = client
        .query_one(
            "SELECT count(*) FROM audit.event WHERE table_name = 'registry.allocation_diff'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(logged_again, 0, "the ledger is its own record");
}
