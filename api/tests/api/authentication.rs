//! Who gets in: tokens that are missing, unknown, revoked or expired are refused with 401 and a
//! problem document; tokens of people made inactive or merged with 403; the health checks need
//! no token.

use reqwest::Method;
use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn a_request_without_credentials_is_refused_with_a_problem() {
    let app = spawn_app().await;
    let reply = app
        .call(None, Method::GET, "/v1/organizations", None)
        .await
        .expect(401);
    assert_eq!(reply.content_type, "application/problem+json");
    assert_eq!(reply.field("status"), 401);
    assert!(reply.headers.get("www-authenticate").is_some());
}

#[tokio::test]
async fn an_unknown_token_is_refused() {
    let app = spawn_app().await;
    app.call(
        Some("purser_not-a-real-secret"),
        Method::GET,
        "/v1/organizations",
        None,
    )
    .await
    .expect(401);
    app.call(
        Some("eyJ.not.configured"),
        Method::GET,
        "/v1/organizations",
        None,
    )
    .await
    .expect(401);
}

#[tokio::test]
async fn a_revoked_token_is_refused_from_then_on() {
    let app = spawn_app().await;
    app.get("reader", "/v1/organizations").await.expect(200);
    let client = app.db.pool().connection().await.unwrap();
    client
        .execute(
            "UPDATE auth.token SET revoked_at = now() WHERE name = 'test reader'",
            &[],
        )
        .await
        .unwrap();
    app.get("reader", "/v1/organizations").await.expect(401);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let client = app.db.pool().connection().await.unwrap();
    client
        .execute(
            "UPDATE auth.token SET created_at = now() - interval '2 days', expires_at = now() - interval '1 second' \
             WHERE name = 'test reader'",
            &[],
        )
        .await
        .unwrap();
    app.get("reader", "/v1/organizations").await.expect(401);
}

#[tokio::test]
async fn a_token_records_when_it_was_last_used() {
    let app = spawn_app().await;
    app.get("reader", "/v1/organizations").await.expect(200);
    let used = app
        .count("SELECT count(*) FROM auth.token WHERE name = 'test reader' AND last_used_at IS NOT NULL")
        .await;
    assert_eq!(used, 1);
}

#[tokio::test]
async fn health_checks_need_no_token_and_readiness_checks_the_migrations() {
    let app = spawn_app().await;
    let health = app
        .call(None, Method::GET, "/healthz", None)
        .await
        .expect(200);
    assert_eq!(health.field("status"), "ok");
    app.call(None, Method::GET, "/readyz", None)
        .await
        .expect(200);
    app.db.pretend_a_newer_purser_migrated().await;
    let not_ready = app
        .call(None, Method::GET, "/readyz", None)
        .await
        .expect(503);
    assert!(
        not_ready
            .field("detail")
            .as_str()
            .unwrap()
            .contains("migration")
    );
}

#[tokio::test]
async fn tokens_of_a_person_made_inactive_or_merged_are_refused() {
    let app = spawn_app().await;
    app.get("pi", "/v1/allocations").await.expect(200);
    app.get("member", "/v1/memberships").await.expect(200);
    let ada = app.person(crate::support::ADA).await;
    app.call(
        Some("admin"),
        Method::POST,
        &format!("/v1/people/{ada}/deactivate"),
        None,
    )
    .await
    .expect(200);
    let refused = app.get("pi", "/v1/allocations").await.expect(403);
    assert!(
        refused
            .field("detail")
            .as_str()
            .unwrap()
            .contains("inactive"),
        "{:#}",
        refused.body
    );
    let alan = app.person(crate::support::ALAN).await;
    let barbara = app.person(crate::support::BARBARA).await;
    app.post(
        "admin",
        &format!("/v1/people/{barbara}/merge"),
        json!({"duplicate_id": alan}),
    )
    .await
    .expect(200);
    let refused = app.get("member", "/v1/memberships").await.expect(403);
    assert!(
        refused.field("detail").as_str().unwrap().contains("merged"),
        "{:#}",
        refused.body
    );
    app.get("other_pi", "/v1/allocations").await.expect(200);
}
