//! What the registry cannot hold is a 422 naming the field (amounts of 10^15 or more, or with
//! more than 6 decimals; names and ids over 256 characters, email addresses over 320), what a
//! script or a daemon's credential writes around the API is refused where it enters, so every
//! list still answers, and amounts are listed exactly as the database holds them.

use serde_json::json;
use uuid::Uuid;

use crate::support::{ALAN, BARBARA, TestApp, spawn_app};

/// The CPU resource of a cluster.
async fn cpu(app: &TestApp, cluster: &str) -> Uuid {
    app.scalar(
        "SELECT r.id FROM registry.resource r JOIN registry.cluster c ON c.id = r.cluster_id
         WHERE c.name = $1 AND r.name = 'CPU'",
        cluster,
    )
    .await
}

/// One usage record for Alan's jobs on che260001's CPU.
async fn usage_record(app: &TestApp, job_id: &str, raw_amount: &str) -> serde_json::Value {
    json!({"cluster_id": app.cluster("expanse").await, "job_id": job_id,
           "submit_time": "2026-11-01T00:00:00Z", "end_time": "2026-11-01T02:00:00Z",
           "resource_id": cpu(app, "expanse").await, "allocation_id": app.allocation("che260001").await,
           "person_id": app.person(ALAN).await, "raw_amount": raw_amount})
}

/// Asserts a 422 whose one field error is at `pointer` and begins with the field's name.
async fn assert_refused_naming(
    app: &TestApp,
    caller: &str,
    path: &str,
    body: serde_json::Value,
    pointer: &str,
) {
    let refused = app.post(caller, path, body).await.expect(422);
    let errors = refused.field("errors").as_array().unwrap();
    assert_eq!(errors.len(), 1, "{path}: {errors:?}");
    assert_eq!(errors[0]["pointer"], pointer, "{path}: {errors:?}");
    let name = pointer.trim_start_matches('/').replace("/0/", "[0].");
    assert!(
        errors[0]["detail"].as_str().unwrap().starts_with(&name),
        "{path}: {errors:?}"
    );
}

#[tokio::test]
async fn amounts_beyond_what_the_ledger_holds_are_422s_naming_the_field() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    let barbara = app.person(BARBARA).await;
    let membership =
        |cap: &str| json!({"allocation_id": allocation, "person_id": barbara, "cap_su": cap});
    for cap in ["1000000000000000", "NaN", "Infinity", "0.0000001", "1e3"] {
        assert_refused_naming(&app, "admin", "/v1/memberships", membership(cap), "/cap_su").await;
    }
    let adjustments = format!("/v1/allocations/{allocation}/adjustments");
    for delta in ["Infinity", "-1000000000000000", "1.0000001"] {
        assert_refused_naming(
            &app,
            "admin",
            &adjustments,
            json!({"su_delta": delta, "reason": "correction"}),
            "/su_delta",
        )
        .await;
    }
    assert_refused_naming(
        &app,
        "pi",
        "/v1/change-requests",
        json!({"allocation_id": allocation, "kind": "supplement", "requested_su": "1000000000000000",
               "justification": "everything"}),
        "/requested_su",
    )
    .await;
    assert_refused_naming(
        &app,
        "admin",
        &format!("/v1/resources/{}/rates", cpu(&app, "expanse").await),
        json!({"rate": "0.0000001", "valid_from": "2030-01-01T00:00:00Z"}),
        "/rate",
    )
    .await;
    assert_refused_naming(
        &app,
        "daemon",
        "/v1/usage",
        json!({"records": [usage_record(&app, "1", "79228162514264337593543950335").await]}),
        "/records/0/raw_amount",
    )
    .await;
    // Nothing was written.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM registry.membership WHERE cap_su IS NOT NULL AND cap_su > 5000"
        )
        .await,
        0
    );
    assert_eq!(app.count("SELECT count(*) FROM registry.usage").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM registry.allocation_diff")
            .await,
        0
    );
}

#[tokio::test]
async fn over_long_keys_are_422s_naming_the_field() {
    let app = spawn_app().await;
    let long = "x".repeat(10_000);
    let alan = app.person(ALAN).await;
    let cases = [
        (
            "/v1/organizations",
            json!({"name": long}),
            "/name",
            "at most 256 characters",
        ),
        (
            "/v1/people",
            json!({"name": "Ann", "email": format!("{long}@example.edu")}),
            "/email",
            "at most 320 characters",
        ),
        (
            &format!("/v1/people/{alan}/identities"),
            json!({"source": "access", "external_id": long}),
            "/external_id",
            "at most 256 characters",
        ),
        (
            "/v1/tasks",
            json!({"site": "expanse", "kind": "noop", "dedupe_key": long}),
            "/dedupe_key",
            "at most 256 characters",
        ),
        (
            "/v1/tasks",
            json!({"site": "expanse", "kind": "noop", "lane": long}),
            "/lane",
            "at most 256 characters",
        ),
    ];
    for (path, body, pointer, limit) in cases {
        let refused = app.post("admin", path, body).await.expect(422);
        assert_eq!(refused.field("errors")[0]["pointer"], pointer, "{path}");
        assert_eq!(
            refused.field("errors")[0]["detail"],
            format!("{} must be {limit}", pointer.trim_start_matches('/')),
            "{path}"
        );
    }
    let refused = app
        .post(
            "daemon",
            "/v1/usage",
            json!({"records": [usage_record(&app, &long, "1").await]}),
        )
        .await
        .expect(422);
    assert_eq!(refused.field("errors")[0]["pointer"], "/records/0/job_id");
    assert_eq!(
        refused.field("errors")[0]["detail"],
        "records[0].job_id must be at most 256 characters"
    );
    assert_eq!(app.count("SELECT count(*) FROM queue.task").await, 0);
}

#[tokio::test]
async fn values_written_around_the_api_are_refused_where_they_enter_and_every_list_still_answers() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    let expanse = app.cluster("expanse").await;
    let cpu = cpu(&app, "expanse").await;
    let alan = app.person(ALAN).await;
    let client = app.db.pool().connection().await.unwrap();
    let charge = |raw: &str, submit: &str, end: &str| {
        format!(
            "SELECT registry.charge_usage('{expanse}', 'script-job', '{submit}', '{end}', '{cpu}', '{allocation}', '{alan}', {raw})"
        )
    };
    for (role, sql) in [
        (
            Some("purser_daemon"),
            charge(
                "79228162514264337593543950335",
                "2026-11-01",
                "2026-11-01 02:00",
            ),
        ),
        (
            Some("purser_daemon"),
            charge("10", "200000-01-01", "200000-01-01 02:00"),
        ),
        // A script with the owner's connection (an allocation's end changes only through diffs).
        (
            None,
            format!(
                "UPDATE registry.allocation SET ends_at = 'infinity' WHERE id = '{allocation}'"
            ),
        ),
        (
            Some("purser_api"),
            "UPDATE registry.membership SET cap_su = 'NaN'".to_string(),
        ),
        (
            Some("purser_api"),
            "SELECT queue.enqueue(site => 'expanse', kind => 'noop', run_at => 'infinity')"
                .to_string(),
        ),
    ] {
        let set_role = role.map_or_else(String::new, |role| format!("SET LOCAL ROLE {role};"));
        let outcome = client
            .batch_execute(&format!("BEGIN; {set_role} {sql}; COMMIT"))
            .await;
        client.batch_execute("ROLLBACK").await.unwrap();
        let refused = outcome.expect_err(&format!("{role:?} wrote {sql}"));
        // Refused by a bound (a check, or the charging function's reason), not by a grant.
        assert!(
            refused
                .as_db_error()
                .and_then(purser_sql::constraints::refusal)
                .is_some(),
            "{role:?}: {sql}: {refused:?}"
        );
    }
    for path in [
        format!("/v1/usage?allocation_id={allocation}"),
        "/v1/allocations".to_string(),
        format!("/v1/allocations/{allocation}"),
        format!("/v1/allocations/{allocation}/balance"),
        format!("/v1/allocations/{allocation}/diffs"),
        "/v1/memberships".to_string(),
        "/v1/access/explain".to_string(),
        "/v1/tasks".to_string(),
        "/v1/organizations".to_string(),
    ] {
        app.get("admin", &path).await.expect(200);
    }
}

#[tokio::test]
async fn the_largest_amounts_the_ledger_holds_are_listed_exactly_as_stored() {
    let app = spawn_app().await;
    let allocation = app.allocation("che260001").await;
    let receipt = app
        .post(
            "daemon",
            "/v1/usage",
            json!({"records": [usage_record(&app, "1", "999999999999999.999999").await]}),
        )
        .await
        .expect(200);
    assert_eq!(
        receipt.field("results")[0]["su_amount"],
        "999999999999999.999999"
    );
    let listed = app
        .get("admin", &format!("/v1/usage?allocation_id={allocation}"))
        .await
        .expect(200);
    let charge = &listed.field("items")[0];
    assert_eq!(
        (&charge["raw_amount"], &charge["rate"], &charge["su_amount"]),
        (
            &json!("999999999999999.999999"),
            &json!("1.0"),
            &json!("999999999999999.999999")
        )
    );
    let balance = app
        .get("admin", &format!("/v1/allocations/{allocation}/balance"))
        .await
        .expect(200);
    assert_eq!(balance.field("balance_su"), "-999999999949999.999999");
}

#[tokio::test]
async fn a_nul_character_anywhere_in_a_body_is_a_422_pointing_at_it() {
    let app = spawn_app().await;
    for (body, pointer) in [
        (
            json!({"site": "expanse", "kind": "noop", "payload": {"a": "x\u{0}"}}),
            "/payload/a",
        ),
        (
            json!({"site": "expanse", "kind": "noop", "payload": {"list": [1, "\u{0}"]}}),
            "/payload/list/1",
        ),
    ] {
        let refused = app.post("admin", "/v1/tasks", body).await.expect(422);
        let errors = refused.field("errors").as_array().unwrap();
        assert_eq!(errors[0]["pointer"], pointer, "{errors:?}");
        assert!(
            errors[0]["detail"]
                .as_str()
                .unwrap()
                .contains("NUL character"),
            "{errors:?}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM queue.task").await, 0);
}

#[tokio::test]
async fn times_outside_1970_to_9999_are_422s_naming_the_field() {
    let app = spawn_app().await;
    let membership: Uuid = app
        .scalar(
            "SELECT m.id FROM registry.membership m JOIN registry.person p ON p.id = m.person_id \
             WHERE p.email = $1",
            ALAN,
        )
        .await;
    for ends_at in ["1960-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00"] {
        let refused = app
            .call(
                Some("admin"),
                reqwest::Method::PATCH,
                &format!("/v1/memberships/{membership}"),
                Some(json!({ "ends_at": ends_at })),
            )
            .await
            .expect(422);
        let errors = refused.field("errors").as_array().unwrap();
        assert_eq!(errors[0]["pointer"], "/ends_at", "{ends_at}: {errors:?}");
        assert_eq!(
            errors[0]["detail"], "ends_at must be from 1970-01-01 to 9999-12-31 UTC",
            "{ends_at}"
        );
    }
}
