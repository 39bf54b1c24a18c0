//! Resources of an allocation: `POST /v1/allocations` with a chosen subset of its cluster's
//! resources and their SU limits, and usage of the others rejected.

use serde_json::json;

use crate::support::{ALAN, spawn_app};

#[tokio::test]
async fn an_allocation_of_chosen_resources_with_limits_rejects_usage_of_the_others() {
    let app = spawn_app().await;
    let expanse = app.cluster("expanse").await;
    let project: uuid::Uuid = app
        .scalar(
            "SELECT id FROM registry.project WHERE originated_id = $1",
            "CHE260001",
        )
        .await;
    let resource = |name: &str| {
        let name = name.to_string();
        let app = &app;
        async move {
            app.scalar::<uuid::Uuid>(
                "SELECT id FROM registry.resource WHERE name = $1 AND cluster_id = (SELECT id FROM registry.cluster WHERE name = 'expanse')",
                &name,
            )
            .await
        }
    };
    let (cpu, gpu) = (resource("CPU").await, resource("GPU H200").await);
    let delta_cpu: uuid::Uuid = app
        .scalar("SELECT id FROM registry.resource WHERE name = 'CPU' AND cluster_id = (SELECT id FROM registry.cluster WHERE name = $1)", "delta")
        .await;
    let new = |resources: serde_json::Value| {
        json!({"project_id": project, "cluster_id": expanse, "account_name": "cpuonly",
               "initial_su": "1000", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z",
               "resources": resources})
    };

    let foreign = app
        .post(
            "admin",
            "/v1/allocations",
            new(json!([{"resource_id": delta_cpu}])),
        )
        .await
        .expect(422);
    assert_eq!(
        foreign.field("errors")[0]["pointer"],
        "/resources/0/resource_id"
    );
    let twice = app
        .post(
            "admin",
            "/v1/allocations",
            new(json!([{"resource_id": cpu}, {"resource_id": cpu}])),
        )
        .await
        .expect(422);
    assert_eq!(
        twice.field("errors")[0]["pointer"],
        "/resources/1/resource_id"
    );
    app.post("admin", "/v1/allocations", new(json!([])))
        .await
        .expect(422);
    assert_eq!(
        app.count("SELECT count(*) FROM registry.allocation WHERE account_name = 'cpuonly'")
            .await,
        0
    );

    let created = app
        .post(
            "admin",
            "/v1/allocations",
            new(json!([{"resource_id": cpu, "limit_su": "100"}])),
        )
        .await
        .expect(201);
    let allocation = created.field("id").as_str().unwrap().to_string();
    let cpu_with_its_limit = app
        .count(&format!(
            "SELECT count(*) FROM report.allocation_resource_balance WHERE allocation_id = '{allocation}' \
             AND resource_id = '{cpu}' AND limit_su = 100 AND remaining_su = 100"
        ))
        .await;
    assert_eq!(cpu_with_its_limit, 1, "the CPU, with its limit");
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM report.allocation_resource_balance WHERE allocation_id = '{allocation}'"))
            .await,
        1,
        "and nothing else"
    );

    let alan = app.person(ALAN).await;
    let record = |job: &str, resource: uuid::Uuid| {
        json!({"cluster_id": expanse, "job_id": job, "submit_time": "2026-11-01T00:00:00Z",
               "end_time": "2026-11-01T02:00:00Z", "resource_id": resource, "allocation_id": allocation,
               "person_id": alan, "raw_amount": "2"})
    };
    let receipt = app
        .post(
            "admin",
            "/v1/usage",
            json!({"records": [record("1", cpu), record("2", gpu)]}),
        )
        .await
        .expect(200);
    assert_eq!(
        (receipt.field("charged"), receipt.field("rejected")),
        (&json!(1), &json!(1))
    );
    assert_eq!(
        receipt.field("results")[1]["error"],
        "allocation cpuonly does not include resource GPU H200"
    );

    // Without a list, an allocation includes every resource of its cluster, without limits.
    let mut every = new(json!(null));
    every["account_name"] = json!("everything");
    every.as_object_mut().unwrap().remove("resources");
    let created = app
        .post("admin", "/v1/allocations", every)
        .await
        .expect(201);
    let allocation = created.field("id").as_str().unwrap().to_string();
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM report.allocation_resource_balance WHERE allocation_id = '{allocation}' AND limit_su IS NULL"
        ))
        .await,
        2
    );
}
