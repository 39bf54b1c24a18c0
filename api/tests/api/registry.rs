//! The registry's data model through the API: reductions by request, allocation diffs,
//! adjustments and transfers, person merge and deactivation, cluster-account removal,
//! organizations' originated ids and people's name parts. Each write is one transaction with
//! its audit rows, and enqueues no task: the sites' reconcilers plan what it needs.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{ADA, ALAN, BARBARA, TestApp, spawn_app};

fn id(value: &Value) -> Uuid {
    value.as_str().unwrap().parse().unwrap()
}

/// How many tasks the queue holds.
async fn tasks(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM queue.task").await
}

async fn balance(app: &TestApp, allocation: Uuid) -> String {
    let reply = app
        .get("admin", &format!("/v1/allocations/{allocation}/balance"))
        .await
        .expect(200);
    reply.field("balance_su").as_str().unwrap().to_string()
}

/// Charges `raw` core-hours of Alan's to che260001 on expanse's CPU (rate 1).
async fn charge(app: &TestApp, allocation: Uuid, raw: &str) {
    let cpu: Uuid = app
        .scalar(
            "SELECT r.id FROM registry.resource r JOIN registry.cluster c ON c.id = r.cluster_id \
             WHERE c.name = $1 AND r.name = 'CPU'",
            "expanse",
        )
        .await;
    app.post(
        "admin",
        "/v1/usage",
        json!({"records": [{"cluster_id": app.cluster("expanse").await, "job_id": "big-run",
               "submit_time": "2026-11-01T00:00:00Z", "end_time": "2026-11-02T00:00:00Z",
               "resource_id": cpu, "allocation_id": allocation, "person_id": app.person(ALAN).await,
               "raw_amount": raw}]}),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn a_pis_approved_reduction_writes_a_negative_adjustment_and_enqueues_no_task() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    let submitted = app
        .post(
            "pi",
            "/v1/change-requests",
            json!({"allocation_id": allocation, "kind": "reduction", "requested_su": "20000.5",
                   "justification": "the project is complete"}),
        )
        .await
        .expect(201);
    assert_eq!(submitted.field("kind"), "reduction");
    assert_eq!(submitted.field("requested_su"), "20000.5");
    let request = submitted.field("id").as_str().unwrap();
    let decided = app
        .post(
            "admin",
            &format!("/v1/change-requests/{request}/approve"),
            json!({}),
        )
        .await
        .expect(200);
    let diff_id = decided.field("diff_id").as_str().unwrap();
    let diffs = app
        .get("pi", &format!("/v1/allocations/{allocation}/diffs"))
        .await
        .expect(200);
    let items = diffs.field("items").as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], diff_id);
    assert_eq!(items[0]["kind"], "adjustment");
    assert_eq!(items[0]["su_delta"], "-20000.5");
    assert_eq!(items[0]["source"], "change_request");
    assert_eq!(items[0]["change_request_id"], request);
    assert_eq!(items[0]["reason"], "the project is complete");
    assert_eq!(balance(&app, allocation).await, "29999.5");
    assert_eq!(tasks(&app).await, 0);
}

#[tokio::test]
async fn a_reduction_that_would_take_the_balance_below_zero_is_refused_with_the_reason() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    let refused = app
        .post(
            "pi",
            "/v1/change-requests",
            json!({"allocation_id": allocation, "kind": "reduction", "requested_su": "50000.01",
                   "justification": "too much"}),
        )
        .await
        .expect(422);
    assert_eq!(refused.field("errors")[0]["pointer"], "/requested_su");
    assert_eq!(
        refused.field("errors")[0]["detail"],
        "requested_su is more than the balance allows: the allocation has 50000 SUs left, fewer \
         than the 50000.01 to take: its balance may not go below zero"
    );
    for (body, detail) in [
        (
            json!({"allocation_id": allocation, "kind": "reduction", "justification": "done"}),
            "requested_su is required for a reduction request",
        ),
        (
            json!({"allocation_id": allocation, "kind": "reduction", "requested_su": "0", "justification": "done"}),
            "requested_su must be more than 0 and less than 10^15, with at most 6 decimals, as a \
             decimal string such as \"1000.5\"",
        ),
    ] {
        let refused = app
            .post("pi", "/v1/change-requests", body)
            .await
            .expect(422);
        assert_eq!(refused.field("errors")[0]["pointer"], "/requested_su");
        assert_eq!(refused.field("errors")[0]["detail"], detail);
    }
    assert_eq!(
        app.count("SELECT count(*) FROM registry.change_request")
            .await,
        0
    );
    // Submitted while the SUs were there; jobs used them before the approval.
    let submitted = app
        .post(
            "pi",
            "/v1/change-requests",
            json!({"allocation_id": allocation, "kind": "reduction", "requested_su": "45000",
                   "justification": "done soon"}),
        )
        .await
        .expect(201);
    charge(&app, allocation, "10000").await;
    let request = submitted.field("id").as_str().unwrap();
    let conflict = app
        .post(
            "admin",
            &format!("/v1/change-requests/{request}/approve"),
            json!({}),
        )
        .await
        .expect(409);
    assert_eq!(
        conflict.field("detail"),
        &json!(format!(
            "change request {request} cannot be approved: the allocation has 40000 SUs left, \
             fewer than the 45000 to take: its balance may not go below zero"
        ))
    );
    assert_eq!(balance(&app, allocation).await, "40000.000000");
    assert_eq!(
        app.count("SELECT count(*) FROM registry.allocation_diff")
            .await,
        0
    );
}

#[tokio::test]
async fn an_allocations_diffs_are_read_in_the_callers_scope() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    app.post(
        "admin",
        &format!("/v1/allocations/{allocation}/adjustments"),
        json!({"su_delta": "10", "reason": "goodwill"}),
    )
    .await
    .expect(201);
    for caller in ["admin", "reader", "pi", "member"] {
        let reply = app
            .get(caller, &format!("/v1/allocations/{allocation}/diffs"))
            .await
            .expect(200);
        assert_eq!(
            reply.field("items").as_array().unwrap().len(),
            1,
            "{caller}"
        );
    }
    app.get("other_pi", &format!("/v1/allocations/{allocation}/diffs"))
        .await
        .expect(404);
    let none = app
        .get(
            "admin",
            &format!("/v1/allocations/{allocation}/diffs?kind=transfer"),
        )
        .await
        .expect(200);
    assert!(none.field("items").as_array().unwrap().is_empty());
}

#[tokio::test]
async fn an_admins_adjustment_answers_its_diff_enqueues_no_task_and_a_zero_one_is_refused() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    let written = app
        .post(
            "admin",
            &format!("/v1/allocations/{allocation}/adjustments"),
            json!({"su_delta": "-60000", "reason": "a billing error last year"}),
        )
        .await
        .expect(201);
    assert_eq!(written.field("kind"), "adjustment");
    assert_eq!(written.field("su_delta"), "-60000");
    assert_eq!(written.field("source"), "admin");
    assert!(
        written
            .field("actor")
            .as_str()
            .unwrap()
            .starts_with("test admin (token ")
    );
    let diff = id(written.field("id"));
    assert_eq!(
        written.headers.get("location").unwrap(),
        &format!("/v1/allocations/{allocation}/diffs/{diff}")
    );
    // A correction, unlike a reduction, may take the balance below zero.
    assert_eq!(balance(&app, allocation).await, "-10000");
    assert_eq!(tasks(&app).await, 0);
    let zero = app
        .post(
            "admin",
            &format!("/v1/allocations/{allocation}/adjustments"),
            json!({"su_delta": "0", "reason": "nothing"}),
        )
        .await
        .expect(422);
    assert_eq!(zero.field("errors")[0]["pointer"], "/su_delta");
    app.post(
        "admin",
        &format!("/v1/allocations/{}/adjustments", Uuid::nil()),
        json!({"su_delta": "5", "reason": "nowhere"}),
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn a_transfer_moves_sus_with_two_paired_diffs_and_enqueues_no_task() {
    let app = spawn_app().await;
    let from = app.allocation("che260001").await;
    let to = app.allocation("phy260002").await;
    let written = app
        .post(
            "admin",
            "/v1/transfers",
            json!({"from_allocation_id": from, "to_allocation_id": to, "su": "1500.25",
                   "reason": "shared campaign"}),
        )
        .await
        .expect(201);
    let transfer_id = written.field("transfer_id").clone();
    let diffs = written.field("diffs").as_array().unwrap();
    assert_eq!(diffs.len(), 2);
    assert_eq!(
        (&diffs[0]["allocation_id"], &diffs[0]["su_delta"]),
        (&json!(from), &json!("-1500.25"))
    );
    assert_eq!(
        (&diffs[1]["allocation_id"], &diffs[1]["su_delta"]),
        (&json!(to), &json!("1500.25"))
    );
    assert!(diffs.iter().all(|diff| diff["transfer_id"] == transfer_id));
    assert_eq!(balance(&app, from).await, "48499.75");
    assert_eq!(balance(&app, to).await, "21500.25");
    assert_eq!(tasks(&app).await, 0);

    let too_much = app
        .post(
            "admin",
            "/v1/transfers",
            json!({"from_allocation_id": to, "to_allocation_id": from, "su": "30000",
                   "reason": "all of it"}),
        )
        .await
        .expect(422);
    assert_eq!(too_much.field("errors")[0]["pointer"], "/su");
    assert!(
        too_much.field("errors")[0]["detail"]
            .as_str()
            .unwrap()
            .contains("has 21500.25 SUs left, fewer than the 30000 to take")
    );
    let to_itself = app
        .post(
            "admin",
            "/v1/transfers",
            json!({"from_allocation_id": to, "to_allocation_id": to, "su": "1", "reason": "loop"}),
        )
        .await
        .expect(422);
    assert_eq!(to_itself.field("errors")[0]["pointer"], "/to_allocation_id");
    assert_eq!(
        app.count("SELECT count(*) FROM registry.allocation_diff")
            .await,
        2
    );
}

#[tokio::test]
async fn merging_a_duplicate_moves_their_membership_to_the_survivor_and_enqueues_no_task() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    let barbara = app.person(BARBARA).await;
    let duplicate = app
        .post(
            "admin",
            "/v1/people",
            json!({"name": "B. Liskov", "email": "liskov@campus.example"}),
        )
        .await
        .expect(201);
    let duplicate = id(duplicate.field("id"));
    let membership = app
        .post(
            "admin",
            "/v1/memberships",
            json!({"allocation_id": allocation, "person_id": duplicate}),
        )
        .await
        .expect(201);
    let membership = id(membership.field("id"));
    let merged = app
        .post(
            "admin",
            &format!("/v1/people/{barbara}/merge"),
            json!({"duplicate_id": duplicate}),
        )
        .await
        .expect(200);
    assert_eq!(merged.field("id"), &json!(barbara));
    let moved = app
        .get("admin", &format!("/v1/memberships/{membership}"))
        .await
        .expect(200);
    assert_eq!(moved.field("person_id"), &json!(barbara));
    assert_eq!(tasks(&app).await, 0);
    let gone = app
        .get("admin", &format!("/v1/people/{duplicate}"))
        .await
        .expect(200);
    assert_eq!(gone.field("status"), "merged");
    assert_eq!(gone.field("merged_into"), &json!(barbara));
    let audit = app
        .get(
            "reader",
            &format!("/v1/audit?table=registry.person&row_id={duplicate}"),
        )
        .await
        .expect(200);
    let operations: Vec<&str> = audit
        .field("items")
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["operation"].as_str().unwrap())
        .collect();
    assert_eq!(operations.len(), 2, "{operations:?}");
    assert!(operations.contains(&"UPDATE"), "{operations:?}");
    // Merging into oneself, or a person again, is refused.
    app.post(
        "admin",
        &format!("/v1/people/{barbara}/merge"),
        json!({"duplicate_id": barbara}),
    )
    .await
    .expect(422);
    app.post(
        "admin",
        &format!("/v1/people/{barbara}/merge"),
        json!({"duplicate_id": duplicate}),
    )
    .await
    .expect(409);
}

#[tokio::test]
async fn deactivating_a_person_ends_their_access_everywhere_and_enqueues_no_task() {
    let app = spawn_app().await;
    let katherine = app.person("katherine@esu.example").await;
    let reply = app
        .post(
            "admin",
            &format!("/v1/people/{katherine}/deactivate"),
            json!(null),
        )
        .await
        .expect(200);
    assert_eq!(reply.field("status"), "inactive");
    assert_eq!(tasks(&app).await, 0);
    let access = app
        .get(
            "admin",
            &format!("/v1/access/explain?person_id={katherine}"),
        )
        .await
        .expect(200);
    let items = access.field("items").as_array().unwrap();
    let mut accounts: Vec<&str> = items
        .iter()
        .map(|item| item["account_name"].as_str().unwrap())
        .collect();
    accounts.sort_unstable();
    assert_eq!(
        accounts,
        ["bio7", "che260001"],
        "a membership on expanse and one on delta"
    );
    assert!(items.iter().all(|item| item["granted"] == false));
    assert!(
        items.iter().all(|item| item["access"] == "revoked"),
        "a person made inactive loses access, not just new jobs"
    );
    let events = app
        .count(&format!(
            "SELECT count(*) FROM audit.event WHERE table_name = 'registry.person' \
             AND operation = 'UPDATE' AND row_key->>'id' = '{katherine}' AND after->>'status' = 'inactive'"
        ))
        .await;
    assert_eq!(events, 1);
    // Again: already inactive, it stays so, with no second audit record.
    let again = app
        .post(
            "admin",
            &format!("/v1/people/{katherine}/deactivate"),
            json!(null),
        )
        .await
        .expect(200);
    assert_eq!(again.field("status"), "inactive");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit.event WHERE table_name = 'registry.person' \
             AND operation = 'UPDATE' AND row_key->>'id' = '{katherine}' AND after->>'status' = 'inactive'"
        ))
        .await,
        1
    );
    assert_eq!(tasks(&app).await, 0);
}

#[tokio::test]
async fn a_cluster_account_is_removed_only_once_its_memberships_on_that_cluster_are() {
    let app = spawn_app().await;
    let alan = app.person(ALAN).await;
    let account: Uuid = app
        .scalar(
            "SELECT ca.id FROM registry.cluster_account ca JOIN registry.person p ON p.id = ca.person_id \
             WHERE p.email = $1",
            ALAN,
        )
        .await;
    let path = format!("/v1/people/{alan}/cluster-accounts/{account}");
    let refused = app
        .call(Some("admin"), Method::DELETE, &path, None)
        .await
        .expect(409);
    assert_eq!(
        refused.field("detail"),
        &json!(format!(
            "person {alan} is still a member of che260001 on expanse; remove those memberships first"
        ))
    );
    let membership: Uuid = app
        .scalar(
            "SELECT m.id FROM registry.membership m JOIN registry.person p ON p.id = m.person_id WHERE p.email = $1",
            ALAN,
        )
        .await;
    app.call(
        Some("admin"),
        Method::PATCH,
        &format!("/v1/memberships/{membership}"),
        Some(json!({"status": "removed"})),
    )
    .await
    .expect(200);
    let removed = app
        .call(Some("admin"), Method::DELETE, &path, None)
        .await
        .expect(200);
    assert_eq!(removed.field("username"), "alan");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit.event WHERE table_name = 'registry.cluster_account' \
             AND operation = 'DELETE' AND row_key->>'id' = '{account}'"
        ))
        .await,
        1
    );
    app.call(Some("admin"), Method::DELETE, &path, None)
        .await
        .expect(404);
    // Another person's account is not theirs to remove.
    let ada = app.person(ADA).await;
    app.call(
        Some("admin"),
        Method::DELETE,
        &format!("/v1/people/{ada}/cluster-accounts/{account}"),
        None,
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn an_organization_keeps_its_originated_id_unique_per_origination() {
    let app = spawn_app().await;
    let created = app
        .post(
            "admin",
            "/v1/organizations",
            json!({"name": "Purdue University", "origination": "ACCESS", "originated_id": "1234"}),
        )
        .await
        .expect(201);
    assert_eq!(created.field("origination"), "ACCESS");
    assert_eq!(created.field("originated_id"), "1234");
    let found = app
        .get(
            "member",
            "/v1/organizations?origination=ACCESS&originated_id=1234",
        )
        .await
        .expect(200);
    let items = found.field("items").as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "Purdue University");
    app.post(
        "admin",
        "/v1/organizations",
        json!({"name": "Purdue (NAIRR)", "origination": "NAIRR", "originated_id": "1234"}),
    )
    .await
    .expect(201);
    app.post(
        "admin",
        "/v1/organizations",
        json!({"name": "Purdue again", "origination": "ACCESS", "originated_id": "1234"}),
    )
    .await
    .expect(409);
    let half = app
        .post(
            "admin",
            "/v1/organizations",
            json!({"name": "Half", "originated_id": "77"}),
        )
        .await
        .expect(422);
    assert_eq!(half.field("errors")[0]["pointer"], "/origination");
    let unknown = app
        .post(
            "admin",
            "/v1/organizations",
            json!({"name": "Odd", "origination": "MARS", "originated_id": "1"}),
        )
        .await
        .expect(422);
    assert_eq!(unknown.field("errors")[0]["pointer"], "/origination");
    let local = app
        .post("admin", "/v1/organizations", json!({"name": "A local lab"}))
        .await
        .expect(201);
    assert_eq!(local.field("origination"), &Value::Null);
}

#[tokio::test]
async fn a_person_is_recorded_and_read_with_first_middle_and_last_names() {
    let app = spawn_app().await;
    let given = app
        .post(
            "admin",
            "/v1/people",
            json!({"name": "Gabo", "email": "gabo@example.edu", "first_name": "Gabriel",
                   "middle_name": "José", "last_name": "García Márquez"}),
        )
        .await
        .expect(201);
    let read = app
        .get("admin", &format!("/v1/people/{}", id(given.field("id"))))
        .await
        .expect(200);
    assert_eq!(read.field("name"), "Gabo");
    assert_eq!(read.field("first_name"), "Gabriel");
    assert_eq!(read.field("middle_name"), "José");
    assert_eq!(read.field("last_name"), "García Márquez");
    let derived = app
        .post(
            "admin",
            "/v1/people",
            json!({"name": "Mary Ann Evans", "email": "mary@example.edu"}),
        )
        .await
        .expect(201);
    assert_eq!(
        (
            derived.field("first_name"),
            derived.field("middle_name"),
            derived.field("last_name")
        ),
        (&json!("Mary"), &json!("Ann"), &json!("Evans"))
    );
    // The demo centre's people, recorded without parts, have them.
    let ada = app
        .get("pi", &format!("/v1/people/{}", app.person(ADA).await))
        .await
        .expect(200);
    assert_eq!(
        (ada.field("first_name"), ada.field("last_name")),
        (&json!("Ada"), &json!("Lovelace"))
    );
    let no_last = app
        .post(
            "admin",
            "/v1/people",
            json!({"name": "Cher", "email": "cher@example.edu", "first_name": "Cher"}),
        )
        .await
        .expect(422);
    assert_eq!(no_last.field("errors")[0]["pointer"], "/last_name");
}
