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
async fn bad_paths_and_query_parameters_are_400s() {
    let app = spawn_app().await;
    assert_problem(&app.get("admin", "/v1/allocations/not-a-uuid").await, 400);
    assert_problem(&app.get("admin", "/v1/allocations?limit=many").await, 400);
    assert_problem(&app.get("admin", "/v1/allocations?limit=0").await, 400);
    assert_problem(&app.get("admin", "/v1/allocations?limit=501").await, 400);
    assert_problem(&app.get("admin", "/v1/allocations?cursor=%%%").await, 400);
    assert_problem(
        &app.get("admin", "/v1/allocations?project_id=42").await,
        400,
    );
    assert_problem(&app.get("admin", "/v1/audit?since=yesterday").await, 400);
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

/// Asserts a reply holds no PostgreSQL text: no constraint name, failing row or key detail.
#[track_caller]
fn assert_no_database_text(reply: &Reply) {
    let text = reply.body.to_string();
    for leak in [
        "constraint",
        "Failing row",
        "Key (",
        "_check",
        "_fkey",
        "_key",
        "_excl",
        "violates",
        "relation",
        "queue.task_state",
    ] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
}

/// The pointers of a problem's errors, in order.
fn pointers(reply: &Reply) -> Vec<String> {
    reply
        .field("errors")
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["pointer"].as_str().unwrap().to_string())
        .collect()
}

/// The error sentence for a pointer.
fn sentence<'a>(reply: &'a Reply, pointer: &str) -> &'a str {
    reply
        .field("errors")
        .as_array()
        .unwrap()
        .iter()
        .find(|error| error["pointer"] == pointer)
        .unwrap_or_else(|| panic!("no error for {pointer}: {:#}", reply.body))["detail"]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn every_invalid_field_of_a_body_is_listed_with_a_sentence_naming_it() {
    let app = spawn_app().await;
    let project: uuid::Uuid = app
        .scalar(
            "SELECT project_id FROM registry.allocation WHERE account_name = $1",
            "che260001",
        )
        .await;
    let reply = app
        .post(
            "admin",
            "/v1/allocations",
            json!({"project_id": project, "cluster_id": app.cluster("expanse").await,
                   "account_name": "UPPER", "initial_su": "-100",
                   "starts_at": "2030-01-01T00:00:00Z", "ends_at": "soon", "colour": "red"}),
        )
        .await;
    assert_problem(&reply, 422);
    assert_no_database_text(&reply);
    assert_eq!(
        pointers(&reply),
        ["/account_name", "/colour", "/ends_at", "/initial_su"]
    );
    assert!(sentence(&reply, "/initial_su").starts_with("initial_su must be zero or more"));
    assert!(
        sentence(&reply, "/account_name").starts_with("account_name must be a Slurm account name")
    );
    assert!(sentence(&reply, "/ends_at").starts_with("ends_at must be a time"));
    assert!(sentence(&reply, "/colour").contains("its fields are"));
    assert_eq!(
        app.count("SELECT count(*) FROM registry.allocation WHERE initial_su < 0")
            .await,
        0
    );
}

#[tokio::test]
async fn negative_and_blank_values_are_refused_with_the_rule_they_break() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    let requested = app
        .post(
            "pi",
            "/v1/change-requests",
            json!({"allocation_id": allocation, "kind": "supplement", "requested_su": "-5000",
                   "justification": "more"}),
        )
        .await;
    assert_problem(&requested, 422);
    assert_no_database_text(&requested);
    assert!(sentence(&requested, "/requested_su").starts_with("requested_su must be more than 0"));
    let capped = app
        .post(
            "admin",
            "/v1/memberships",
            json!({"allocation_id": allocation, "person_id": app.person(crate::support::BARBARA).await,
                   "cap_su": "-1"}),
        )
        .await;
    assert_problem(&capped, 422);
    assert!(sentence(&capped, "/cap_su").starts_with("cap_su must be zero or more"));
    let blank = app
        .post("admin", "/v1/organizations", json!({"name": "   "}))
        .await;
    assert_problem(&blank, 422);
    assert_eq!(sentence(&blank, "/name"), "name must not be blank");
    let spaced = app
        .post(
            "admin",
            "/v1/organizations",
            json!({"name": "Acme University"}),
        )
        .await;
    spaced.expect(201);
}

#[tokio::test]
async fn decimal_fields_take_decimal_strings_only() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    for wrong in [json!(1000), json!("1e3"), json!("1,000"), json!(" 10")] {
        let reply = app
            .post(
                "pi",
                "/v1/change-requests",
                json!({"allocation_id": allocation, "kind": "supplement", "requested_su": wrong,
                       "justification": "more"}),
            )
            .await;
        assert_problem(&reply, 422);
        assert!(
            sentence(&reply, "/requested_su").contains("as a decimal string"),
            "{wrong}: {:#}",
            reply.body
        );
    }
    app.post(
        "pi",
        "/v1/change-requests",
        json!({"allocation_id": allocation, "kind": "supplement", "requested_su": "1000.5",
               "justification": "more"}),
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn a_change_request_names_the_field_its_kind_needs() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "pi",
            "/v1/change-requests",
            json!({"allocation_id": app.allocation("che260001").await, "kind": "supplement",
                   "requested_status": "closed", "justification": "more"}),
        )
        .await;
    assert_problem(&reply, 422);
    assert_eq!(pointers(&reply), ["/requested_su", "/requested_status"]);
    assert_no_database_text(&reply);
}

#[tokio::test]
async fn what_the_database_refuses_names_the_field_without_row_data() {
    let app = spawn_app().await;
    let project: uuid::Uuid = app
        .scalar(
            "SELECT project_id FROM registry.allocation WHERE account_name = $1",
            "che260001",
        )
        .await;
    let expanse = app.cluster("expanse").await;
    let allocation = |cluster: uuid::Uuid, account: &str| {
        json!({"project_id": project, "cluster_id": cluster, "account_name": account,
               "initial_su": "10", "starts_at": "2000-01-01T00:00:00Z",
               "ends_at": "2100-01-01T00:00:00Z"})
    };
    let unknown = app
        .post(
            "admin",
            "/v1/allocations",
            allocation(uuid::Uuid::nil(), "fresh"),
        )
        .await;
    assert_problem(&unknown, 422);
    assert_no_database_text(&unknown);
    assert_eq!(
        sentence(&unknown, "/cluster_id"),
        "cluster_id names no cluster"
    );
    let overlapping = app
        .post("admin", "/v1/allocations", allocation(expanse, "che260001"))
        .await;
    assert_problem(&overlapping, 409);
    assert_no_database_text(&overlapping);
    assert!(sentence(&overlapping, "/account_name").contains("overlaps"));
    let duplicate = app
        .post("admin", "/v1/clusters", json!({"name": "expanse"}))
        .await;
    assert_problem(&duplicate, 409);
    assert_no_database_text(&duplicate);
    assert_eq!(
        sentence(&duplicate, "/name"),
        "a cluster with this name already exists"
    );
    let orphan = app
        .post(
            "admin",
            &format!("/v1/people/{}/identities", uuid::Uuid::nil()),
            json!({"source": "campus", "external_id": "x"}),
        )
        .await;
    assert_problem(&orphan, 404);
    assert_no_database_text(&orphan);
}

#[tokio::test]
async fn an_unknown_query_parameter_is_a_400_naming_it_and_the_valid_ones() {
    let app = spawn_app().await;
    for (path, unknown, valid) in [
        (
            "/v1/allocations?account_name=x",
            "account_name",
            "project_id, cluster_id, status",
        ),
        ("/v1/tasks?stat=dead", "stat", "site, state, kind"),
        ("/v1/audit?acter=x", "acter", "table, row_id, actor"),
    ] {
        let reply = app.get("admin", path).await;
        assert_problem(&reply, 400);
        assert_eq!(pointers(&reply), [unknown]);
        let detail = sentence(&reply, unknown);
        assert!(
            detail.starts_with(&format!("{unknown} is not a parameter")),
            "{detail}"
        );
        assert!(detail.contains(valid), "{detail}");
    }
}

#[tokio::test]
async fn an_invalid_enum_value_lists_the_valid_values() {
    let app = spawn_app().await;
    let reply = app.get("admin", "/v1/tasks?state=failed").await;
    assert_problem(&reply, 400);
    assert_no_database_text(&reply);
    assert_eq!(
        sentence(&reply, "state"),
        "state must be one of waiting, queued, running, succeeded, dead, cancelled"
    );
    let statuses = app
        .get("admin", "/v1/allocations?status=open&limit=0")
        .await;
    assert_problem(&statuses, 400);
    assert_eq!(pointers(&statuses), ["status", "limit"]);
    app.get("admin", "/v1/tasks?state=dead&limit=5")
        .await
        .expect(200);
}

#[tokio::test]
async fn a_created_row_is_at_its_location() {
    let app = spawn_app().await;
    let barbara = app.person(crate::support::BARBARA).await;
    let unrated = app
        .post("admin", "/v1/resources", json!({"cluster_id": app.cluster("delta").await,
            "name": "Unrated", "resource_type": "other", "unit": "units", "slurm_tres": "fs/unrated"}))
        .await
        .expect(201);
    let unrated = unrated.field("id").as_str().unwrap().to_string();
    let project: uuid::Uuid = app
        .scalar(
            "SELECT project_id FROM registry.allocation WHERE account_name = $1",
            "che260001",
        )
        .await;
    let creations = [
        (
            "/v1/organizations".to_string(),
            json!({"name": "Located University"}),
        ),
        (
            "/v1/people".to_string(),
            json!({"name": "Lo Cated", "email": "lo@cated.example"}),
        ),
        (
            format!("/v1/people/{barbara}/identities"),
            json!({"source": "campus", "external_id": "b-1"}),
        ),
        (
            format!("/v1/people/{barbara}/cluster-accounts"),
            json!({"cluster_id": app.cluster("delta").await, "username": "barbara"}),
        ),
        ("/v1/clusters".to_string(), json!({"name": "located"})),
        (
            "/v1/resources".to_string(),
            json!({"cluster_id": app.cluster("expanse").await, "name": "Scratch",
            "resource_type": "storage", "unit": "TB-days", "slurm_tres": "fs/scratch"}),
        ),
        (
            format!("/v1/resources/{unrated}/rates"),
            json!({"rate": "2", "valid_from": "2026-01-01T00:00:00Z"}),
        ),
        (
            "/v1/projects".to_string(),
            json!({"title": "Located", "pi_id": barbara, "origination": "LOCAL",
            "originated_id": "LOC-1"}),
        ),
        (
            "/v1/allocations".to_string(),
            json!({"project_id": project, "cluster_id": app.cluster("delta").await,
            "account_name": "located", "initial_su": "10", "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": "2027-01-01T00:00:00Z"}),
        ),
        (
            "/v1/memberships".to_string(),
            json!({"allocation_id": app.allocation("che260001").await,
            "person_id": barbara}),
        ),
        (
            "/v1/change-requests".to_string(),
            json!({"allocation_id": app.allocation("che260001").await,
            "kind": "status", "requested_status": "suspended", "justification": "pause",
            "requester_id": app.person(crate::support::ADA).await}),
        ),
        (
            "/v1/tasks".to_string(),
            json!({"site": "expanse", "kind": "noop"}),
        ),
    ];
    for (path, body) in creations {
        let headers = [("Idempotency-Key", path.as_str())];
        let created = app
            .call_with(
                Some("admin"),
                Method::POST,
                &path,
                Some(body.clone()),
                &headers,
            )
            .await
            .expect(201);
        let location = created.headers["location"].to_str().unwrap().to_string();
        let shown = app.get("admin", &location).await.expect(200);
        let id = |value: &serde_json::Value| {
            ["id", "allocation", "membership", "task"]
                .iter()
                .find_map(|key| match key {
                    &"id" => value.get("id").cloned(),
                    other => value.get(*other).and_then(|inner| inner.get("id")).cloned(),
                })
                .unwrap()
        };
        assert_eq!(id(&shown.body), id(&created.body), "{path} -> {location}");
        let replayed = app
            .call_with(Some("admin"), Method::POST, &path, Some(body), &headers)
            .await
            .expect(201);
        assert_eq!(replayed.headers["location"].to_str().unwrap(), location);
    }
}
