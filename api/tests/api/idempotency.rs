//! `Idempotency-Key`: a retried POST returns the first response and writes nothing more; the
//! same key with another request is refused; keys belong to their caller.

use reqwest::Method;
use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn a_retried_post_with_the_same_key_returns_the_first_response_and_writes_once() {
    let app = spawn_app().await;
    let body = json!({"name": "Once University"});
    let headers = [("Idempotency-Key", "create-once")];
    let first = app
        .call_with(
            Some("admin"),
            Method::POST,
            "/v1/organizations",
            Some(body.clone()),
            &headers,
        )
        .await
        .expect(201);
    let second = app
        .call_with(
            Some("admin"),
            Method::POST,
            "/v1/organizations",
            Some(body),
            &headers,
        )
        .await
        .expect(201);
    assert_eq!(first.body, second.body);
    assert!(first.headers.get("idempotent-replayed").is_none());
    assert_eq!(second.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(
        app.count("SELECT count(*) FROM registry.organization WHERE name = 'Once University'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_retried_membership_writes_one_row_and_enqueues_no_task() {
    let app = spawn_app().await;
    let barbara = app.person(crate::support::BARBARA).await;
    let body = json!({"allocation_id": app.allocation("che260001").await, "person_id": barbara});
    let headers = [("Idempotency-Key", "add-barbara")];
    let mut locations = Vec::new();
    for _ in 0..3 {
        let reply = app
            .call_with(
                Some("pi"),
                Method::POST,
                "/v1/memberships",
                Some(body.clone()),
                &headers,
            )
            .await
            .expect(201);
        locations.push(reply.headers.get("location").unwrap().clone());
    }
    assert!(
        locations.iter().all(|location| *location == locations[0]),
        "a replay answers with the first row's Location: {locations:?}"
    );
    let rows: i64 = app
        .scalar(
            "SELECT count(*) FROM registry.membership WHERE person_id::text = $1",
            &barbara.to_string(),
        )
        .await;
    assert_eq!(rows, 1);
    assert_eq!(app.count("SELECT count(*) FROM queue.task").await, 0);
}

#[tokio::test]
async fn the_same_key_with_a_different_request_is_refused() {
    let app = spawn_app().await;
    let headers = [("Idempotency-Key", "k")];
    app.call_with(
        Some("admin"),
        Method::POST,
        "/v1/organizations",
        Some(json!({"name": "A"})),
        &headers,
    )
    .await
    .expect(201);
    let reused = app
        .call_with(
            Some("admin"),
            Method::POST,
            "/v1/organizations",
            Some(json!({"name": "B"})),
            &headers,
        )
        .await
        .expect(422);
    assert_eq!(reused.field("errors")[0]["pointer"], "Idempotency-Key");
    assert_eq!(
        app.count("SELECT count(*) FROM registry.organization WHERE name = 'B'")
            .await,
        0
    );
}

#[tokio::test]
async fn concurrent_requests_with_one_key_write_once() {
    let app = spawn_app().await;
    let headers = [("Idempotency-Key", "race")];
    let body = json!({"name": "Raced Institute"});
    let calls = (0..8).map(|_| {
        app.call_with(
            Some("admin"),
            Method::POST,
            "/v1/organizations",
            Some(body.clone()),
            &headers,
        )
    });
    let replies = futures_util::future::join_all(calls).await;
    let ids: std::collections::BTreeSet<String> = replies
        .iter()
        .map(|reply| {
            assert_eq!(reply.status.as_u16(), 201, "{:#}", reply.body);
            reply.body["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM registry.organization WHERE name = 'Raced Institute'")
            .await,
        1
    );
}

#[tokio::test]
async fn keys_belong_to_their_caller() {
    let app = spawn_app().await;
    let headers = [("Idempotency-Key", "shared")];
    let allocation = app.allocation("che260001").await;
    let request = |justification: &str| {
        json!({"allocation_id": allocation, "kind": "supplement", "requested_su": "1",
               "justification": justification, "requester_id": null})
    };
    app.call_with(
        Some("pi"),
        Method::POST,
        "/v1/change-requests",
        Some(request("pi's")),
        &headers,
    )
    .await
    .expect(201);
    let mut admin_request = request("admin's");
    admin_request["requester_id"] = json!(app.person(crate::support::ADA).await);
    let admins = app
        .call_with(
            Some("admin"),
            Method::POST,
            "/v1/change-requests",
            Some(admin_request),
            &headers,
        )
        .await
        .expect(201);
    assert!(admins.headers.get("idempotent-replayed").is_none());
    assert_eq!(
        app.count("SELECT count(*) FROM registry.change_request")
            .await,
        2
    );
}

#[tokio::test]
async fn a_failed_request_does_not_hold_its_key() {
    let app = spawn_app().await;
    let headers = [("Idempotency-Key", "retry-after-fix")];
    app.call_with(
        Some("admin"),
        Method::POST,
        "/v1/clusters",
        Some(json!({"name": "expanse"})),
        &headers,
    )
    .await
    .expect(409);
    assert_eq!(
        app.count("SELECT count(*) FROM api.idempotency_key").await,
        0
    );
}

#[tokio::test]
async fn a_field_sent_as_null_is_another_request_than_the_field_left_out() {
    let app = spawn_app().await;
    let membership: uuid::Uuid = app
        .scalar(
            "SELECT m.id FROM registry.membership m JOIN registry.person p ON p.id = m.person_id \
             WHERE p.email = $1",
            crate::support::ALAN,
        )
        .await;
    let path = format!("/v1/memberships/{membership}");
    let headers = [("Idempotency-Key", "patch-1")];
    app.call_with(
        Some("admin"),
        Method::PATCH,
        &path,
        Some(json!({"status": "active"})),
        &headers,
    )
    .await
    .expect(200);
    let removing_the_cap = app
        .call_with(
            Some("admin"),
            Method::PATCH,
            &path,
            Some(json!({"status": "active", "cap_su": null})),
            &headers,
        )
        .await
        .expect(422);
    assert_eq!(
        removing_the_cap.field("errors")[0]["pointer"],
        "Idempotency-Key"
    );
    let capped: bool = app
        .scalar(
            "SELECT cap_su = 5000 FROM registry.membership WHERE id = $1::text::uuid",
            &membership.to_string(),
        )
        .await;
    assert!(capped, "the cap is still there");
}
