//! Cursor pagination: walking a list page by page yields every row once, in order, whatever
//! the key (uuids, task ids newest first, usage's composite key).

use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app};

/// Follows `next_cursor` from `path` (which has a `?`) with `limit` per page; returns the
/// items and how many pages there were.
async fn walk(app: &TestApp, caller: &str, path: &str, limit: usize) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(cursor) => format!("{path}&limit={limit}&cursor={cursor}"),
            None => format!("{path}&limit={limit}"),
        };
        let page = app.get(caller, &url).await.expect(200);
        let batch = page.field("items").as_array().unwrap().clone();
        assert!(batch.len() <= limit);
        pages += 1;
        items.extend(batch);
        match page.field("next_cursor").as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return (items, pages),
        }
    }
}

#[tokio::test]
async fn walking_pages_yields_every_organization_once_in_id_order() {
    let app = spawn_app().await;
    for number in 0..9 {
        app.post(
            "admin",
            "/v1/organizations",
            json!({"name": format!("Org {number}")}),
        )
        .await
        .expect(201);
    }
    let (all, pages) = walk(&app, "admin", "/v1/organizations?", 500).await;
    assert_eq!((all.len(), pages), (11, 1));
    let (paged, pages) = walk(&app, "admin", "/v1/organizations?", 3).await;
    assert_eq!(pages, 4);
    assert_eq!(paged, all);
    let ids: Vec<&str> = paged
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
}

#[tokio::test]
async fn a_filter_holds_across_pages() {
    let app = spawn_app().await;
    let expanse = app.cluster("expanse").await;
    let (items, _) = walk(
        &app,
        "admin",
        &format!("/v1/allocations?cluster_id={expanse}"),
        1,
    )
    .await;
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|item| item["cluster_id"] == json!(expanse))
    );
}

#[tokio::test]
async fn tasks_page_newest_first() {
    let app = spawn_app().await;
    for _ in 0..5 {
        app.post(
            "admin",
            "/v1/tasks",
            json!({"site": "expanse", "kind": "noop"}),
        )
        .await
        .expect(201);
    }
    let (tasks, pages) = walk(&app, "admin", "/v1/tasks?site=expanse", 2).await;
    assert_eq!((tasks.len(), pages), (5, 3));
    let ids: Vec<i64> = tasks
        .iter()
        .map(|task| task["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] > pair[1]), "{ids:?}");
}

#[tokio::test]
async fn usage_pages_by_job_end_across_a_composite_key() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    let expanse = app.cluster("expanse").await;
    let cpu: uuid::Uuid = app
        .scalar("SELECT id FROM registry.resource WHERE name = 'CPU' AND cluster_id = (SELECT id FROM registry.cluster WHERE name = $1)", "expanse")
        .await;
    let alan = app.person(crate::support::ALAN).await;
    // Seven jobs, three ending at the same moment: the key's later columns order them.
    let records: Vec<Value> = (0..7)
        .map(|job| {
            json!({"cluster_id": expanse, "job_id": format!("{job}"), "submit_time": "2026-11-01T00:00:00Z",
                   "end_time": format!("2026-11-0{}T00:00:00Z", 2 + job.min(4)), "resource_id": cpu,
                   "allocation_id": allocation, "person_id": alan, "raw_amount": "1"})
        })
        .collect();
    app.post("admin", "/v1/usage", json!({ "records": records }))
        .await
        .expect(200);
    let (all, _) = walk(
        &app,
        "pi",
        &format!("/v1/usage?allocation_id={allocation}"),
        500,
    )
    .await;
    let (paged, pages) = walk(
        &app,
        "pi",
        &format!("/v1/usage?allocation_id={allocation}"),
        2,
    )
    .await;
    assert_eq!((all.len(), pages), (7, 4));
    assert_eq!(paged, all);
}
