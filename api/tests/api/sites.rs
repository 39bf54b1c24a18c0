//! Sites do not interfere through the API: a daemon token of site delta can neither hold up
//! one of expanse's lanes nor take one of its dedupe keys, and learns nothing of expanse's
//! tasks, whether it asks for one or names one as a dependency.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Duration as TimeDelta, Utc};
use purser_sql::auth::{NewToken, create_token};
use purser_sql::queue::{self, ClaimRequest, Clock};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, spawn_app};

const LANE: &str = "account:expanse/che260001";

/// The app, with a daemon token of site delta as caller `delta` (`daemon` is expanse's).
async fn app_with_a_delta_daemon() -> TestApp {
    let mut app = spawn_app().await;
    let client = app.db.pool().connection().await.unwrap();
    let (_, secret) = create_token(
        &client,
        &NewToken {
            name: "test delta daemon".to_string(),
            role: "daemon".to_string(),
            person_id: None,
            site: Some("delta".to_string()),
            expires_at: Utc::now() + TimeDelta::days(1),
        },
    )
    .await
    .unwrap();
    app.tokens.insert("delta", secret);
    app
}

/// A problem's detail with `id` written as N, to compare answers about different ids.
fn detail_without(reply: &Value, id: i64) -> String {
    reply.to_string().replace(&id.to_string(), "N")
}

#[tokio::test]
async fn a_daemon_of_another_site_neither_holds_up_a_lane_nor_takes_a_dedupe_key() {
    let app = app_with_a_delta_daemon().await;
    let far_future = (Utc::now() + TimeDelta::days(3650)).to_rfc3339();
    let delta = app
        .post(
            "delta",
            "/v1/tasks",
            json!({"site": "delta", "kind": "noop", "lane": LANE, "dedupe_key": LANE, "run_at": far_future}),
        )
        .await
        .expect(201);
    let expanse = app
        .post(
            "daemon",
            "/v1/tasks",
            json!({"site": "expanse", "kind": "noop", "lane": LANE, "dedupe_key": LANE}),
        )
        .await
        .expect(201);
    assert_eq!(expanse.field("site"), "expanse", "{:#}", expanse.body);
    assert_ne!(expanse.field("id"), delta.field("id"));

    let client = app.db.pool().connection().await.unwrap();
    let kinds = vec!["noop".to_string()];
    let claimed = queue::claim(
        &client,
        &ClaimRequest {
            site: "expanse",
            worker_id: Uuid::now_v7(),
            kinds: &kinds,
            limited_kinds: &BTreeMap::new(),
            limit: 10,
            lease: Duration::from_secs(30),
        },
        &Clock::manual(Utc::now() + TimeDelta::seconds(5)),
    )
    .await
    .unwrap();
    assert_eq!(
        claimed.iter().map(|task| task.id).collect::<Vec<_>>(),
        vec![expanse.field("id").as_i64().unwrap()],
        "delta's task that never runs does not hold up expanse's lane"
    );
}

#[tokio::test]
async fn a_daemons_dependency_on_another_sites_task_is_refused_as_an_unknown_one_is() {
    let app = app_with_a_delta_daemon().await;
    let expanse = app
        .post(
            "admin",
            "/v1/tasks",
            json!({"site": "expanse", "kind": "noop"}),
        )
        .await
        .expect(201)
        .field("id")
        .as_i64()
        .unwrap();
    app.call(
        Some("admin"),
        Method::POST,
        &format!("/v1/tasks/{expanse}/cancel"),
        None,
    )
    .await
    .expect(200);
    let unknown = expanse + 1000;

    let foreign = app
        .post(
            "delta",
            "/v1/tasks",
            json!({"site": "delta", "kind": "noop", "depends_on": [expanse]}),
        )
        .await
        .expect(422);
    assert_eq!(
        foreign.field("errors"),
        &json!([{
            "pointer": "/depends_on",
            "detail": format!("depends_on names task {expanse}, which does not exist on site delta (a task depends only on tasks of its own site)"),
        }])
    );
    let missing = app
        .post(
            "delta",
            "/v1/tasks",
            json!({"site": "delta", "kind": "noop", "depends_on": [unknown]}),
        )
        .await
        .expect(422);
    assert_eq!(
        detail_without(&foreign.body, expanse),
        detail_without(&missing.body, unknown),
        "a cancelled task of another site reads as a task that does not exist"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM queue.task WHERE site = 'delta'")
            .await,
        0
    );
}

#[tokio::test]
async fn another_sites_task_answers_a_daemon_as_an_unknown_id_does() {
    let app = app_with_a_delta_daemon().await;
    let expanse = app
        .post(
            "admin",
            "/v1/tasks",
            json!({"site": "expanse", "kind": "noop"}),
        )
        .await
        .expect(201)
        .field("id")
        .as_i64()
        .unwrap();
    let unknown = expanse + 1000;
    for (method, path) in [
        (Method::GET, "/v1/tasks/{}"),
        (Method::POST, "/v1/tasks/{}/retry"),
        (Method::POST, "/v1/tasks/{}/cancel"),
    ] {
        let at = |id: i64| path.replace("{}", &id.to_string());
        let foreign = app
            .call(Some("delta"), method.clone(), &at(expanse), None)
            .await
            .expect(404);
        let missing = app
            .call(Some("delta"), method.clone(), &at(unknown), None)
            .await
            .expect(404);
        assert_eq!(
            detail_without(&foreign.body, expanse),
            detail_without(&missing.body, unknown),
            "{method} {path}"
        );
    }
    let task = app
        .get("admin", &format!("/v1/tasks/{expanse}"))
        .await
        .expect(200);
    assert_eq!(
        task.field("task")["state"],
        "queued",
        "delta changed nothing"
    );
}
