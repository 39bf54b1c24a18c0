//! Bad input gets a 4xx problem document naming what was wrong, never a 5xx, and writes
//! nothing.

use reqwest::Method;
use serde_json::json;

use crate::support::{Reply, spawn_app};

#[track_caller]
fn assert_problem(reply: &Reply, status: u16) {
    assert_eq!(reply.status.as_u16(), status, "{:#}", reply.body);
    assert_eq!(reply.content_type, "application/problem+json");
    assert_eq!(reply.field("status"), status);
    assert!(reply.field("title").is_string());
    assert!(!reply.field("detail").as_str().unwrap().is_empty());
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    let reply = app
        .send_raw(
            "admin",
            Method::POST,
            "/v1/organizations",
            "application/json",
            b"{\"name\": ".to_vec(),
        )
        .await;
    assert_problem(&reply, 400);
    let trailing = app
        .send_raw(
            "admin",
            Method::POST,
            "/v1/organizations",
            "application/json",
            b"{\"name\": \"A\"} x".to_vec(),
        )
        .await;
    assert_problem(&trailing, 400);
    assert_eq!(
        app.count("SELECT count(*) FROM registry.organization WHERE name = 'A'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_wrong_type_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    let person = app.person(crate::support::BARBARA).await;
    let reply = app
        .post(
            "admin",
            "/v1/memberships",
            json!({"allocation_id": allocation, "person_id": person, "cap_su": "lots"}),
        )
        .await;
    assert_problem(&reply, 422);
    assert_eq!(reply.field("errors")[0]["pointer"], "/cap_su");
    let reply = app
        .post("admin", "/v1/organizations", json!({"name": 5}))
        .await;
    assert_problem(&reply, 422);
    assert_eq!(reply.field("errors")[0]["pointer"], "/name");
}

#[tokio::test]
async fn an_unknown_field_is_a_422_naming_it() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "admin",
            "/v1/organizations",
            json!({"name": "X", "colour": "red"}),
        )
        .await;
    assert_problem(&reply, 422);
    assert_eq!(reply.field("errors")[0]["pointer"], "/colour");
    assert_eq!(
        app.count("SELECT count(*) FROM registry.organization WHERE name = 'X'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_missing_field_is_a_422() {
    let app = spawn_app().await;
    let reply = app
        .post("admin", "/v1/clusters", json!({"description": "no name"}))
        .await;
    assert_problem(&reply, 422);
}

#[tokio::test]
async fn an_oversize_body_is_a_413() {
    let app = spawn_app().await;
    let name = "x".repeat(purser_api::BODY_LIMIT + 1);
    let reply = app
        .post("admin", "/v1/organizations", json!({ "name": name }))
        .await;
    assert_problem(&reply, 413);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let app = spawn_app().await;
    let reply = app
        .send_raw(
            "admin",
            Method::POST,
            "/v1/organizations",
            "text/plain",
            b"name=X".to_vec(),
        )
        .await;
    assert_problem(&reply, 415);
}

#[tokio::test]
async fn bad_paths_and_query_parameters_are_400s_and_422s() {
    let app = spawn_app().await;
    assert_problem(&app.get("admin", "/v1/allocations/not-a-uuid").await, 400);
    assert_problem(&app.get("admin", "/v1/allocations?limit=many").await, 400);
    assert_problem(&app.get("admin", "/v1/allocations?limit=0").await, 422);
    assert_problem(&app.get("admin", "/v1/allocations?limit=501").await, 422);
    assert_problem(&app.get("admin", "/v1/allocations?cursor=%%%").await, 422);
    assert_problem(&app.get("admin", "/v1/usage").await, 400);
    assert_problem(&app.get("admin", "/v1/nothing-here").await, 404);
}

#[tokio::test]
async fn what_the_database_refuses_is_a_4xx_naming_the_rule() {
    let app = spawn_app().await;
    // A duplicate: 409.
    let duplicate = app
        .post("admin", "/v1/clusters", json!({"name": "expanse"}))
        .await;
    assert_problem(&duplicate, 409);
    assert!(
        duplicate
            .field("detail")
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    // A broken CHECK: 422.
    assert_problem(
        &app.post(
            "admin",
            "/v1/clusters",
            json!({"name": "no spaces allowed"}),
        )
        .await,
        422,
    );
    // A missing reference: 422.
    let missing = json!({"title": "T", "pi_id": uuid::Uuid::nil(), "origination": "LOCAL", "originated_id": "T-1"});
    assert_problem(&app.post("admin", "/v1/projects", missing).await, 422);
    // A deciding twice: 409.
    let request = app
        .post(
            "pi",
            "/v1/change-requests",
            json!({"allocation_id": app.allocation("che260001").await, "kind": "supplement",
                   "requested_su": "10", "justification": "more"}),
        )
        .await
        .expect(201);
    let id = request.field("id").as_str().unwrap().to_string();
    app.post(
        "admin",
        &format!("/v1/change-requests/{id}/reject"),
        json!({}),
    )
    .await
    .expect(200);
    assert_problem(
        &app.post(
            "admin",
            &format!("/v1/change-requests/{id}/approve"),
            json!({}),
        )
        .await,
        409,
    );
}

#[tokio::test]
async fn a_method_the_path_does_not_take_is_a_405_problem() {
    let app = spawn_app().await;
    let reply = app
        .call(Some("admin"), Method::DELETE, "/v1/organizations", None)
        .await;
    assert_problem(&reply, 405);
}

#[tokio::test]
async fn a_request_past_the_deadline_is_a_503_and_its_write_is_rolled_back() {
    let app = crate::support::spawn_app_with(crate::support::AppOptions {
        request_timeout: Some(std::time::Duration::from_millis(300)),
        ..Default::default()
    })
    .await;
    // Hold a lock the insert needs, so the request cannot finish in time.
    let mut blocker = app.db.pool().connection().await.unwrap();
    let lock = blocker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE registry.organization IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let reply = app
        .post("admin", "/v1/organizations", json!({"name": "Too Slow"}))
        .await;
    assert_problem(&reply, 503);
    lock.rollback().await.unwrap();
    // Had the timed-out insert committed, the same name would now be a 409.
    app.post("admin", "/v1/organizations", json!({"name": "Too Slow"}))
        .await
        .expect(201);
}
