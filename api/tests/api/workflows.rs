//! What the API writes: each write is one transaction with its audit actor, so a failure
//! anywhere leaves nothing, and a registry write enqueues no task (the sites' reconcilers plan
//! what it needs); and the stories portals run through it.

use serde_json::json;

use crate::support::{ADA, ALAN, BARBARA, spawn_app};

#[tokio::test]
async fn a_write_whose_response_cannot_be_stored_leaves_no_row_behind() {
    let app = spawn_app().await;
    // Make storing an idempotent response fail, the write's last statement, as a full disk
    // would.
    let client = app.db.pool().connection().await.unwrap();
    client
        .batch_execute(
            "CREATE FUNCTION pg_temp_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'the disk is full'; END $$; \
             CREATE TRIGGER refuse BEFORE UPDATE ON api.idempotency_key FOR EACH ROW \
             EXECUTE FUNCTION pg_temp_refuse();",
        )
        .await
        .unwrap();
    let body = json!({"allocation_id": app.allocation("che260001").await, "person_id": app.person(BARBARA).await});
    let reply = app
        .call_with(
            Some("pi"),
            reqwest::Method::POST,
            "/v1/memberships",
            Some(body),
            &[("Idempotency-Key", "add-barbara")],
        )
        .await
        .expect(500);
    assert_eq!(reply.content_type, "application/problem+json");
    assert!(
        !reply.field("detail").as_str().unwrap().contains("disk"),
        "internal errors stay in the log"
    );
    let barbara = app.person(BARBARA).await;
    let rows: i64 = app
        .scalar(
            "SELECT count(*) FROM registry.membership WHERE person_id::text = $1",
            &barbara.to_string(),
        )
        .await;
    assert_eq!(rows, 0);
    assert_eq!(app.count("SELECT count(*) FROM audit.event WHERE table_name = 'registry.membership' AND actor LIKE 'test pi%'").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM api.idempotency_key").await,
        0,
        "a request that failed holds no key"
    );
}

#[tokio::test]
async fn a_write_the_database_refuses_enqueues_nothing() {
    let app = spawn_app().await;
    let body = json!({"allocation_id": app.allocation("che260001").await, "person_id": app.person(ALAN).await});
    app.post("pi", "/v1/memberships", body).await.expect(409);
    assert_eq!(app.count("SELECT count(*) FROM queue.task").await, 0);
}

#[tokio::test]
async fn adding_a_member_writes_the_membership_and_its_audit_record_and_enqueues_no_task() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    let barbara = app.person(BARBARA).await;
    let reply = app
        .post(
            "pi",
            "/v1/memberships",
            json!({"allocation_id": allocation, "person_id": barbara, "cap_su": "250.5"}),
        )
        .await
        .expect(201);
    assert_eq!(reply.field("cap_su"), "250.5");
    assert_eq!(reply.field("person_id"), &json!(barbara));
    let membership_id = reply.field("id").as_str().unwrap();
    assert_eq!(
        reply.headers.get("location").unwrap(),
        &format!("/v1/memberships/{membership_id}")
    );
    assert_eq!(app.count("SELECT count(*) FROM queue.task").await, 0);
    let audit = app
        .get(
            "reader",
            &format!("/v1/audit?table=registry.membership&row_id={membership_id}"),
        )
        .await
        .expect(200);
    let events = audit.field("items").as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert!(
        events[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("test pi (token ")
    );
    // Changing the cap is a second audited change, and enqueues no task either.
    let changed = app
        .call(
            Some("pi"),
            reqwest::Method::PATCH,
            &format!("/v1/memberships/{membership_id}"),
            Some(json!({"cap_su": null})),
        )
        .await
        .expect(200);
    assert_eq!(changed.field("id"), membership_id);
    assert_eq!(changed.field("cap_su"), &serde_json::Value::Null);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit.event WHERE table_name = 'registry.membership' \
             AND row_key->>'id' = '{membership_id}'"
        ))
        .await,
        2
    );
    assert_eq!(app.count("SELECT count(*) FROM queue.task").await, 0);
}

#[tokio::test]
async fn an_approved_supplement_raises_the_balance_and_enqueues_no_task() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    let submitted = app
        .post("pi", "/v1/change-requests",
              json!({"allocation_id": allocation, "kind": "supplement", "requested_su": "1234.5", "justification": "a bigger run"}))
        .await
        .expect(201);
    assert_eq!(submitted.field("state"), "PENDING");
    assert_eq!(
        submitted.field("requester_id"),
        &json!(app.person(ADA).await)
    );
    let id = submitted.field("id").as_str().unwrap();
    let decided = app
        .post(
            "admin",
            &format!("/v1/change-requests/{id}/approve"),
            json!({"comment": "approved by the committee"}),
        )
        .await
        .expect(200);
    assert_eq!(decided.field("change_request")["state"], "APPROVED");
    let events = decided.field("change_request")["events"]
        .as_array()
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["comment"], "approved by the committee");
    assert!(decided.field("diff_id").is_string());
    let balance = app
        .get("member", &format!("/v1/allocations/{allocation}/balance"))
        .await
        .expect(200);
    assert_eq!(balance.field("granted_su"), "1234.5");
    assert_eq!(balance.field("balance_su"), "51234.5");
    assert!(decided.body.get("task_ids").is_none(), "{:#}", decided.body);
    assert_eq!(app.count("SELECT count(*) FROM queue.task").await, 0);
}

#[tokio::test]
async fn a_usage_batch_charges_each_record_once_and_rejects_bad_ones_alone() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    let expanse = app.cluster("expanse").await;
    let delta = app.cluster("delta").await;
    let cpu: uuid::Uuid = app
        .scalar("SELECT id FROM registry.resource WHERE name = 'CPU' AND cluster_id = (SELECT id FROM registry.cluster WHERE name = $1)", "expanse")
        .await;
    let alan = app.person(ALAN).await;
    let record = |job: &str, cluster: uuid::Uuid, raw: &str| {
        json!({"cluster_id": cluster, "job_id": job, "submit_time": "2026-11-01T00:00:00Z",
               "end_time": "2026-11-01T02:00:00Z", "resource_id": cpu, "allocation_id": allocation,
               "person_id": alan, "raw_amount": raw})
    };
    let batch = json!({"records": [record("1", expanse, "64"), record("2", delta, "1"), record("1", expanse, "64"),
                                   record("3", expanse, "-1")]});
    let receipt = app.post("daemon", "/v1/usage", batch).await.expect(200);
    assert_eq!(
        (receipt.field("charged"), receipt.field("rejected")),
        (&json!(1), &json!(3))
    );
    let results = receipt.field("results").as_array().unwrap();
    assert_eq!(results[0]["su_amount"], "64.000000");
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .contains("is not site expanse")
    );
    assert!(results[2]["error"].as_str().unwrap().contains("repeats"));
    assert!(
        results[3]["error"]
            .as_str()
            .unwrap()
            .contains("zero or more")
    );
    let again = app
        .post(
            "admin",
            "/v1/usage",
            json!({"records": [record("1", expanse, "64")]}),
        )
        .await
        .expect(200);
    assert_eq!(again.field("already_charged"), 1);
    let balance = app
        .get("pi", &format!("/v1/allocations/{allocation}/balance"))
        .await
        .expect(200);
    assert_eq!(balance.field("charged_su"), "64.000000");
    assert_eq!(
        app.count("SELECT count(*) FROM report.ledger_violations")
            .await,
        0
    );
    let membership: uuid::Uuid = app
        .scalar("SELECT id FROM registry.membership WHERE person_id = (SELECT id FROM registry.person WHERE email = $1) \
                 AND allocation_id = (SELECT id FROM registry.allocation WHERE account_name = 'che260001')", ALAN)
        .await;
    let member = app
        .get("member", &format!("/v1/memberships/{membership}/balance"))
        .await
        .expect(200);
    assert_eq!(member.field("remaining_su"), "4936.000000");
}

#[tokio::test]
async fn pis_and_members_see_only_their_own() {
    let app = spawn_app().await;
    // Pages are in id order, which says nothing of the accounts: compare them sorted.
    let accounts = |reply: &crate::support::Reply| -> Vec<String> {
        let mut names: Vec<String> = reply
            .field("items")
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["account_name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    let all = app.get("reader", "/v1/allocations").await.expect(200);
    assert_eq!(accounts(&all).len(), 3);
    let ada = app.get("pi", "/v1/allocations").await.expect(200);
    assert_eq!(accounts(&ada), ["bio7", "che260001"]);
    let grace = app.get("other_pi", "/v1/allocations").await.expect(200);
    assert_eq!(accounts(&grace), ["phy260002"]);
    let alan = app.get("member", "/v1/memberships").await.expect(200);
    assert_eq!(alan.field("items").as_array().unwrap().len(), 1);
    let ada_members = app.get("pi", "/v1/memberships").await.expect(200);
    assert_eq!(ada_members.field("items").as_array().unwrap().len(), 5);
    let explained = app.get("member", "/v1/access/explain").await.expect(200);
    let rows = explained.field("items").as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["granted"], true);
    assert_eq!(rows[0]["username"], "alan");
}

#[tokio::test]
async fn a_daemon_sees_and_acts_on_its_own_sites_tasks_only() {
    let app = spawn_app().await;
    let delta_task = app
        .post(
            "admin",
            "/v1/tasks",
            json!({"site": "delta", "kind": "noop"}),
        )
        .await
        .expect(201);
    let own = app
        .post(
            "daemon",
            "/v1/tasks",
            json!({"site": "expanse", "kind": "noop", "dedupe_key": "k"}),
        )
        .await
        .expect(201);
    let same = app
        .post(
            "daemon",
            "/v1/tasks",
            json!({"site": "expanse", "kind": "noop", "dedupe_key": "k"}),
        )
        .await
        .expect(201);
    assert_eq!(
        own.field("id"),
        same.field("id"),
        "a dedupe key yields one task"
    );
    app.post(
        "daemon",
        "/v1/tasks",
        json!({"site": "delta", "kind": "noop"}),
    )
    .await
    .expect(403);
    let listed = app.get("daemon", "/v1/tasks").await.expect(200);
    assert!(
        listed
            .field("items")
            .as_array()
            .unwrap()
            .iter()
            .all(|task| task["site"] == "expanse")
    );
    let delta_id = delta_task.field("id").as_i64().unwrap();
    app.get("daemon", &format!("/v1/tasks/{delta_id}"))
        .await
        .expect(404);
    let own_id = own.field("id").as_i64().unwrap();
    let cancelled = app
        .call(
            Some("daemon"),
            reqwest::Method::POST,
            &format!("/v1/tasks/{own_id}/cancel"),
            None,
        )
        .await
        .expect(200);
    assert_eq!(cancelled.field("state"), "cancelled");
    let twice = app
        .call(
            Some("daemon"),
            reqwest::Method::POST,
            &format!("/v1/tasks/{own_id}/cancel"),
            None,
        )
        .await;
    assert_eq!(twice.status.as_u16(), 409, "{:#}", twice.body);
}
