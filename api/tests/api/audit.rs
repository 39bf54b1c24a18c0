//! `/v1/audit`, and the ledger's own records: what they show of who acted, and what they never
//! show (a token's secret hash).

use serde_json::{Value, json};

use crate::support::{ALAN, spawn_app};

#[tokio::test]
async fn token_rows_reach_admins_and_readers_of_the_audit_log_without_their_secret_hash() {
    let app = spawn_app().await;
    // One token revoked, so the log has an update of a token as well as its inserts.
    let client = app.db.pool().connection().await.unwrap();
    let other_pi: uuid::Uuid = app
        .scalar("SELECT id FROM auth.token WHERE name = $1", "test other_pi")
        .await;
    assert!(
        purser_sql::auth::revoke_token(&client, other_pi)
            .await
            .unwrap()
    );
    for caller in ["admin", "reader"] {
        let page = app
            .get(caller, "/v1/audit?table=auth.token&limit=100")
            .await
            .expect(200);
        let events = page.field("items").as_array().unwrap();
        let operations: Vec<&str> = events
            .iter()
            .map(|event| event["operation"].as_str().unwrap())
            .collect();
        assert_eq!(operations.first(), Some(&"UPDATE"), "newest first");
        assert_eq!(
            operations
                .iter()
                .filter(|operation| **operation == "INSERT")
                .count(),
            6,
            "one per token the test made"
        );
        for event in events {
            for image in [&event["before"], &event["after"]] {
                if image.is_null() {
                    continue;
                }
                assert!(image["name"].is_string(), "{image}");
                assert!(
                    image.get("secret_sha256").is_none(),
                    "{caller} sees a token's hash: {event}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_audit_log_diffs_and_charges_show_the_database_login_beside_the_claimed_actor() {
    let app = spawn_app().await;
    // The API's pool logs in as the harness's login and acts as purser_api (SET ROLE).
    let login: String = app
        .db
        .pool()
        .connection()
        .await
        .unwrap()
        .query_one("SELECT session_user::text", &[])
        .await
        .unwrap()
        .get(0);
    let created = app
        .post(
            "admin",
            "/v1/organizations",
            json!({"name": "Audited University"}),
        )
        .await
        .expect(201);
    let events = app
        .get(
            "admin",
            &format!(
                "/v1/audit?table=registry.organization&row_id={}",
                created.field("id").as_str().unwrap()
            ),
        )
        .await
        .expect(200);
    let event = &events.field("items")[0];
    assert!(
        event["actor"]
            .as_str()
            .unwrap()
            .starts_with("test admin (token ")
    );
    assert_eq!(event["db_user"], Value::from(login.clone()));

    let allocation = app.allocation("che260001").await;
    let adjusted = app
        .post(
            "admin",
            &format!("/v1/allocations/{allocation}/adjustments"),
            json!({"su_delta": "5", "reason": "a correction"}),
        )
        .await
        .expect(201);
    let diff = app
        .get(
            "admin",
            &format!(
                "/v1/allocations/{allocation}/diffs/{}",
                adjusted.field("id").as_str().unwrap()
            ),
        )
        .await
        .expect(200);
    assert_eq!(diff.field("db_user"), &Value::from(login.clone()));

    let expanse = app.cluster("expanse").await;
    let cpu: uuid::Uuid = app
        .scalar("SELECT id FROM registry.resource WHERE name = 'CPU' AND cluster_id = (SELECT id FROM registry.cluster WHERE name = $1)", "expanse")
        .await;
    let alan = app.person(ALAN).await;
    app.post(
        "daemon",
        "/v1/usage",
        json!({"records": [{"cluster_id": expanse, "job_id": "audited-1", "submit_time": "2026-11-01T00:00:00Z",
                            "end_time": "2026-11-01T02:00:00Z", "resource_id": cpu, "allocation_id": allocation,
                            "person_id": alan, "raw_amount": "8"}]}),
    )
    .await
    .expect(200);
    let charges = app
        .get("admin", &format!("/v1/usage?allocation_id={allocation}"))
        .await
        .expect(200);
    let charge = charges
        .field("items")
        .as_array()
        .unwrap()
        .iter()
        .find(|charge| charge["job_id"] == "audited-1")
        .unwrap();
    assert!(
        charge["actor"]
            .as_str()
            .unwrap()
            .starts_with("test daemon (token ")
    );
    assert_eq!(charge["db_user"], Value::from(login));
}
