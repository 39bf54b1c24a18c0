//! Every endpoint × every role: what each may do. `o`: allowed (2xx); `f`: refused for the role
//! (403); `h`: hidden, as if it did not exist (404), because it is outside the caller's scope.
//! Without credentials every endpoint is 401. A test checks the table names every operation in
//! the OpenAPI document, so a new endpoint cannot skip it.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{ADA, ALAN, BARBARA, GRACE, TestApp, spawn_app};

/// The callers, in the order of the outcome strings below.
const CALLERS: [&str; 6] = ["admin", "reader", "daemon", "pi", "member", "other_pi"];

/// Endpoint, then the outcome for admin, reader, daemon (site expanse), pi (Ada, PI of
/// che260001), member (Alan, member of che260001) and other_pi (Grace, PI of another project).
const MATRIX: &[(&str, &str)] = &[
    ("GET /v1/organizations", "oooooo"),
    ("POST /v1/organizations", "offfff"),
    ("GET /v1/organizations/{id}", "oooooo"),
    ("GET /v1/people", "oofooo"),
    ("POST /v1/people", "offfff"),
    ("GET /v1/people/{id}", "oofooh"),
    ("POST /v1/people/{id}/merge", "offfff"),
    ("POST /v1/people/{id}/deactivate", "offfff"),
    ("GET /v1/people/{id}/identities", "oofooh"),
    ("POST /v1/people/{id}/identities", "offfff"),
    ("GET /v1/people/{id}/identities/{identity_id}", "oofooh"),
    ("GET /v1/people/{id}/cluster-accounts", "oofooh"),
    ("POST /v1/people/{id}/cluster-accounts", "offfff"),
    (
        "GET /v1/people/{id}/cluster-accounts/{account_id}",
        "oofooh",
    ),
    (
        "DELETE /v1/people/{id}/cluster-accounts/{account_id}",
        "offfff",
    ),
    ("GET /v1/clusters", "oooooo"),
    ("POST /v1/clusters", "offfff"),
    ("GET /v1/clusters/{id}", "oooooo"),
    ("GET /v1/resources", "oooooo"),
    ("POST /v1/resources", "offfff"),
    ("GET /v1/resources/{id}", "oooooo"),
    ("GET /v1/resources/{id}/rates", "oooooo"),
    ("POST /v1/resources/{id}/rates", "offfff"),
    ("GET /v1/resources/{id}/rates/{rate_id}", "oooooo"),
    ("GET /v1/projects", "oofooo"),
    ("POST /v1/projects", "offfff"),
    ("GET /v1/projects/{id}", "oofooh"),
    ("PATCH /v1/projects/{id}", "offfff"),
    ("GET /v1/allocations", "oofooo"),
    ("POST /v1/allocations", "offfff"),
    ("GET /v1/allocations/{id}", "oofooh"),
    ("GET /v1/allocations/{id}/balance", "oofooh"),
    ("GET /v1/allocations/{id}/diffs", "oofooh"),
    ("GET /v1/allocations/{id}/diffs/{diff_id}", "oofooh"),
    ("POST /v1/allocations/{id}/adjustments", "offfff"),
    ("POST /v1/transfers", "offfff"),
    ("GET /v1/memberships", "oofooo"),
    ("POST /v1/memberships", "offofh"),
    ("GET /v1/memberships/{id}", "oofooh"),
    ("PATCH /v1/memberships/{id}", "offofh"),
    ("GET /v1/memberships/{id}/balance", "oofooh"),
    ("GET /v1/change-requests", "oofooo"),
    ("POST /v1/change-requests", "offofh"),
    ("GET /v1/change-requests/{id}", "oofohh"),
    ("POST /v1/change-requests/{id}/approve", "offfff"),
    ("POST /v1/change-requests/{id}/reject", "offfff"),
    ("POST /v1/change-requests/{id}/cancel", "offofh"),
    ("GET /v1/usage", "oofooo"),
    ("POST /v1/usage", "ofofff"),
    ("GET /v1/access", "oofooo"),
    ("GET /v1/access/explain", "oofooo"),
    ("GET /v1/tasks", "ooofff"),
    ("POST /v1/tasks", "ofofff"),
    ("GET /v1/tasks/{id}", "ooofff"),
    ("POST /v1/tasks/{id}/retry", "ofofff"),
    ("POST /v1/tasks/{id}/cancel", "ofofff"),
    ("GET /v1/audit", "ooffff"),
];

/// The demo centre's rows the requests name.
struct Fixture {
    organization: Uuid,
    alan: Uuid,
    barbara: Uuid,
    expanse: Uuid,
    delta: Uuid,
    cpu: Uuid,
    storage: Uuid,
    project: Uuid,
    allocation: Uuid,
    diff: Uuid,
    alan_membership: Uuid,
    alan_identity: Uuid,
    alan_account: Uuid,
    cpu_rate: Uuid,
    ada_request: Uuid,
    task: i64,
}

async fn fixture(app: &TestApp) -> Fixture {
    let expanse = app.cluster("expanse").await;
    let storage = app
        .post(
            "admin",
            "/v1/resources",
            json!({"cluster_id": expanse, "name": "Scratch", "resource_type": "storage",
                   "unit": "TB-days", "slurm_tres": "fs/scratch"}),
        )
        .await
        .expect(201);
    let allocation = app.allocation("che260001").await;
    let diff = app
        .post(
            "admin",
            &format!("/v1/allocations/{allocation}/adjustments"),
            json!({"su_delta": "1", "reason": "a fixture"}),
        )
        .await
        .expect(201);
    let alan_identity = app
        .post(
            "admin",
            &format!("/v1/people/{}/identities", app.person(ALAN).await),
            json!({"source": "campus", "external_id": "alan-fixture"}),
        )
        .await
        .expect(201);
    let ada_request = app
        .post(
            "pi",
            "/v1/change-requests",
            json!({"allocation_id": allocation, "kind": "supplement", "requested_su": "100",
                   "justification": "a bigger run"}),
        )
        .await
        .expect(201);
    let task = app
        .post(
            "admin",
            "/v1/tasks",
            json!({"site": "expanse", "kind": "noop"}),
        )
        .await
        .expect(201);
    Fixture {
        organization: app
            .scalar("SELECT id FROM registry.organization WHERE name = $1", "Example State University")
            .await,
        alan: app.person(ALAN).await,
        barbara: app.person(BARBARA).await,
        expanse,
        delta: app.cluster("delta").await,
        cpu: app
            .scalar("SELECT r.id FROM registry.resource r JOIN registry.cluster c ON c.id = r.cluster_id \
                     WHERE c.name = $1 AND r.name = 'CPU'", "expanse")
            .await,
        storage: uuid(&storage.body["id"]),
        project: app
            .scalar("SELECT project_id FROM registry.allocation WHERE account_name = $1", "che260001")
            .await,
        allocation,
        diff: uuid(&diff.body["id"]),
        alan_membership: app
            .scalar("SELECT m.id FROM registry.membership m JOIN registry.person p ON p.id = m.person_id \
                     WHERE p.email = $1 AND m.allocation_id = (SELECT id FROM registry.allocation WHERE account_name = 'che260001')", ALAN)
            .await,
        alan_identity: uuid(&alan_identity.body["id"]),
        alan_account: app
            .scalar("SELECT ca.id FROM registry.cluster_account ca JOIN registry.person p ON p.id = ca.person_id \
                     WHERE p.email = $1 LIMIT 1", ALAN)
            .await,
        cpu_rate: app
            .scalar("SELECT rr.id FROM registry.resource_rate rr JOIN registry.resource r ON r.id = rr.resource_id \
                     JOIN registry.cluster c ON c.id = r.cluster_id WHERE c.name = $1 AND r.name = 'CPU' LIMIT 1", "expanse")
            .await,
        ada_request: uuid(&ada_request.body["id"]),
        task: task.body["id"].as_i64().unwrap(),
    }
}

fn uuid(value: &Value) -> Uuid {
    value.as_str().unwrap().parse().unwrap()
}

/// The request `caller` makes for `endpoint`: unique names per caller, so that two allowed
/// callers do not collide, and fresh objects where a call uses one up (deciding a request,
/// retrying a task).
async fn request(
    app: &TestApp,
    fixture: &Fixture,
    endpoint: &str,
    caller: &str,
) -> (Method, String, Option<Value>) {
    let (method, template) = endpoint.split_once(' ').unwrap();
    let method: Method = method.parse().unwrap();
    let fresh_request = || async {
        let created = app
            .post(
                "admin",
                "/v1/change-requests",
                json!({"allocation_id": fixture.allocation, "kind": "extension",
                       "requested_ends_at": "2030-01-01T00:00:00Z", "justification": "more time",
                       "requester_id": app.person(ADA).await}),
            )
            .await
            .expect(201);
        uuid(&created.body["id"])
    };
    let fresh_person = || async {
        let created = app
            .post(
                "admin",
                "/v1/people",
                json!({"name": "Fresh Person", "email": format!("{}@fresh.example", Uuid::new_v4())}),
            )
            .await
            .expect(201);
        uuid(&created.body["id"])
    };
    let delayed_task = || async {
        let created = app
            .post(
                "admin",
                "/v1/tasks",
                json!({"site": "expanse", "kind": "noop", "run_at": "2099-01-01T00:00:00Z"}),
            )
            .await
            .expect(201);
        created.body["id"].as_i64().unwrap()
    };
    let (path, body) = match endpoint {
        "POST /v1/organizations" => (
            template.to_string(),
            Some(json!({"name": format!("Org of {caller}")})),
        ),
        "GET /v1/organizations/{id}" => {
            (format!("/v1/organizations/{}", fixture.organization), None)
        }
        "POST /v1/people" => (
            template.to_string(),
            Some(json!({"name": "New Person", "email": format!("{caller}@new.example")})),
        ),
        "GET /v1/people/{id}"
        | "GET /v1/people/{id}/identities"
        | "GET /v1/people/{id}/cluster-accounts" => {
            (template.replace("{id}", &fixture.alan.to_string()), None)
        }
        "GET /v1/people/{id}/identities/{identity_id}" => (
            format!(
                "/v1/people/{}/identities/{}",
                fixture.alan, fixture.alan_identity
            ),
            None,
        ),
        "GET /v1/people/{id}/cluster-accounts/{account_id}" => (
            format!(
                "/v1/people/{}/cluster-accounts/{}",
                fixture.alan, fixture.alan_account
            ),
            None,
        ),
        "GET /v1/resources/{id}/rates/{rate_id}" => (
            format!("/v1/resources/{}/rates/{}", fixture.cpu, fixture.cpu_rate),
            None,
        ),
        "POST /v1/people/{id}/identities" => (
            template.replace("{id}", &fixture.barbara.to_string()),
            Some(json!({"source": "campus", "external_id": format!("barbara-{caller}")})),
        ),
        "POST /v1/people/{id}/cluster-accounts" => (
            template.replace("{id}", &fixture.barbara.to_string()),
            Some(json!({"cluster_id": fixture.delta, "username": "barbara", "uid": 20003})),
        ),
        "POST /v1/clusters" => (
            template.to_string(),
            Some(json!({"name": format!("cluster-{caller}")})),
        ),
        "GET /v1/clusters/{id}" => (format!("/v1/clusters/{}", fixture.expanse), None),
        "POST /v1/resources" => (
            template.to_string(),
            Some(
                json!({"cluster_id": fixture.expanse, "name": format!("A100 {caller}"), "resource_type": "gpu",
                        "unit": "gpu-hours", "slurm_partition": format!("a100-{caller}"), "slurm_tres": "gres/gpu"}),
            ),
        ),
        "GET /v1/resources/{id}" | "GET /v1/resources/{id}/rates" => {
            (template.replace("{id}", &fixture.cpu.to_string()), None)
        }
        "POST /v1/resources/{id}/rates" => (
            template.replace("{id}", &fixture.storage.to_string()),
            Some(json!({"rate": "4", "valid_from": "2026-01-01T00:00:00Z"})),
        ),
        "POST /v1/projects" => (
            template.to_string(),
            Some(
                json!({"title": "New", "pi_id": fixture.barbara, "origination": "LOCAL",
                        "originated_id": format!("NEW-{caller}")}),
            ),
        ),
        "GET /v1/projects/{id}" => (format!("/v1/projects/{}", fixture.project), None),
        "PATCH /v1/projects/{id}" => (
            format!("/v1/projects/{}", fixture.project),
            Some(json!({"status": "active"})),
        ),
        "POST /v1/allocations" => (
            template.to_string(),
            Some(
                json!({"project_id": fixture.project, "cluster_id": fixture.expanse,
                        "account_name": format!("new-{caller}"), "initial_su": "10",
                        "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}),
            ),
        ),
        "POST /v1/people/{id}/merge" => (
            template.replace("{id}", &fixture.barbara.to_string()),
            Some(json!({"duplicate_id": fresh_person().await})),
        ),
        "POST /v1/people/{id}/deactivate" => (
            template.replace("{id}", &fresh_person().await.to_string()),
            None,
        ),
        "DELETE /v1/people/{id}/cluster-accounts/{account_id}" => {
            let person = fresh_person().await;
            let account = app
                .post(
                    "admin",
                    &format!("/v1/people/{person}/cluster-accounts"),
                    json!({"cluster_id": fixture.delta, "username": format!("u{}", &person.simple().to_string()[..16])}),
                )
                .await
                .expect(201);
            (
                template
                    .replace("{id}", &person.to_string())
                    .replace("{account_id}", account.body["id"].as_str().unwrap()),
                None,
            )
        }
        "POST /v1/allocations/{id}/adjustments" => (
            template.replace("{id}", &fixture.allocation.to_string()),
            Some(json!({"su_delta": "-1", "reason": "correction"})),
        ),
        "POST /v1/transfers" => (
            template.to_string(),
            Some(json!({"from_allocation_id": fixture.allocation,
                        "to_allocation_id": app.allocation("phy260002").await,
                        "su": "1", "reason": "rebalance"})),
        ),
        "GET /v1/allocations/{id}/diffs/{diff_id}" => (
            template
                .replace("{id}", &fixture.allocation.to_string())
                .replace("{diff_id}", &fixture.diff.to_string()),
            None,
        ),
        "GET /v1/allocations/{id}"
        | "GET /v1/allocations/{id}/balance"
        | "GET /v1/allocations/{id}/diffs" => (
            template.replace("{id}", &fixture.allocation.to_string()),
            None,
        ),
        "POST /v1/memberships" => {
            let person = match caller {
                "admin" => BARBARA,
                "pi" => "edsger@cit.example",
                _ => GRACE,
            };
            (
                template.to_string(),
                Some(
                    json!({"allocation_id": fixture.allocation, "person_id": app.person(person).await, "cap_su": "100"}),
                ),
            )
        }
        "GET /v1/memberships/{id}" | "GET /v1/memberships/{id}/balance" => (
            template.replace("{id}", &fixture.alan_membership.to_string()),
            None,
        ),
        "PATCH /v1/memberships/{id}" => (
            template.replace("{id}", &fixture.alan_membership.to_string()),
            Some(json!({"cap_su": "6000"})),
        ),
        "POST /v1/change-requests" => (
            template.to_string(),
            Some(
                json!({"allocation_id": fixture.allocation, "kind": "supplement", "requested_su": "5",
                        "justification": "a little more",
                        "requester_id": if caller == "admin" { Some(app.person(ADA).await) } else { None }}),
            ),
        ),
        "GET /v1/change-requests/{id}" => {
            (format!("/v1/change-requests/{}", fixture.ada_request), None)
        }
        "POST /v1/change-requests/{id}/approve"
        | "POST /v1/change-requests/{id}/reject"
        | "POST /v1/change-requests/{id}/cancel" => (
            template.replace("{id}", &fresh_request().await.to_string()),
            Some(json!({})),
        ),
        "GET /v1/usage" => (
            format!("/v1/usage?allocation_id={}", fixture.allocation),
            None,
        ),
        "POST /v1/usage" => (
            template.to_string(),
            Some(
                json!({"records": [{"cluster_id": fixture.expanse, "job_id": format!("job-{caller}"),
                "submit_time": "2026-11-01T00:00:00Z", "end_time": "2026-11-01T01:00:00Z",
                "resource_id": fixture.cpu, "allocation_id": fixture.allocation,
                "person_id": fixture.alan, "raw_amount": "16"}]}),
            ),
        ),
        "POST /v1/tasks" => (
            template.to_string(),
            Some(json!({"site": "expanse", "kind": "noop"})),
        ),
        "GET /v1/tasks/{id}" => (format!("/v1/tasks/{}", fixture.task), None),
        "POST /v1/tasks/{id}/retry" | "POST /v1/tasks/{id}/cancel" => (
            template.replace("{id}", &delayed_task().await.to_string()),
            None,
        ),
        _ => (template.to_string(), None),
    };
    (method, path, body)
}

#[tokio::test]
async fn every_endpoint_allows_exactly_the_roles_the_matrix_names() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut wrong = Vec::new();
    for (endpoint, outcomes) in MATRIX {
        for (caller, expected) in CALLERS.iter().zip(outcomes.chars()) {
            let (method, path, body) = request(&app, &fixture, endpoint, caller).await;
            let reply = app.call(Some(caller), method, &path, body).await;
            let status = reply.status.as_u16();
            let fits = match expected {
                'o' => (200..300).contains(&status),
                'f' => status == 403,
                'h' => status == 404,
                other => panic!("unknown outcome {other}"),
            };
            if !fits {
                wrong.push(format!(
                    "{endpoint} as {caller}: expected {expected}, got {status} {}",
                    reply.body
                ));
            }
        }
        let (method, path, body) = request(&app, &fixture, endpoint, "admin").await;
        let anonymous = app.call(None, method, &path, body).await;
        if anonymous.status.as_u16() != 401 {
            wrong.push(format!(
                "{endpoint} without a token: expected 401, got {}",
                anonymous.status
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_matrix_names_every_operation_of_the_api() {
    let document = serde_json::to_value(purser_api::openapi::document()).unwrap();
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if path.starts_with("/v1/") {
                operations.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let named: BTreeSet<String> = MATRIX
        .iter()
        .map(|(endpoint, _)| endpoint.to_string())
        .collect();
    assert_eq!(
        operations, named,
        "the matrix and the OpenAPI document name different operations"
    );
}
