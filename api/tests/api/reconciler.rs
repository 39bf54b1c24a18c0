//! Registry changes made through the API reach the site through the reconciler: random
//! sequences of API writes (caps, statuses, adjustments, supplements, deactivations) mixed
//! with plain SQL edits and drift injected into what the site was seen holding; after the
//! site's passes, observed equals desired for every subject. The managed system is the
//! harness's test connector.

use purser_sql::provision::{self, ConnectorRegistration, PlanRequest};
use purser_sql::queue::Clock;
use purser_sql::test_harness;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::support::{TestApp, spawn_app};

const SITE: &str = "expanse";

async fn register(app: &TestApp) {
    let client = app.db.pool().connection().await.unwrap();
    provision::register_connector(
        &client,
        &ConnectorRegistration {
            site: SITE.to_string(),
            connector: "script".to_string(),
            model: provision::ACCOUNTS_MODEL.to_string(),
            mass_delete_percent: 100,
            mass_delete_minimum: 1000,
        },
    )
    .await
    .unwrap();
}

/// Full plans and the test connector until nothing is left to do; a subject backing off (its
/// target did not hold lately) waits out its backoff: time passes then.
async fn converge(app: &TestApp, clock: &Clock) {
    for _ in 0..20 {
        let mut client = app.db.pool().connection().await.unwrap();
        provision::reconcile(
            &mut client,
            &PlanRequest {
                site: SITE,
                connector: "script",
                scopes: None,
                allow_mass_delete: false,
                dry_run: false,
            },
            clock,
        )
        .await
        .unwrap();
        let ran = test_harness::apply_actions(app.db.pool(), SITE, "script", clock)
            .await
            .unwrap();
        if ran == 0 {
            if app
                .count("SELECT count(*) FROM report.drift WHERE site = 'expanse'")
                .await
                == 0
            {
                return;
            }
            clock.advance(std::time::Duration::from_secs(3600));
        }
    }
    panic!("the site did not converge");
}

/// The site's on-change pass, then the test connector.
async fn on_change(app: &TestApp, clock: &Clock) {
    let mut client = app.db.pool().connection().await.unwrap();
    provision::reconcile_dirty(&mut client, SITE, 1000, clock)
        .await
        .unwrap();
    test_harness::apply_actions(app.db.pool(), SITE, "script", clock)
        .await
        .unwrap();
}

/// One value of a query without parameters.
async fn one<T: for<'a> tokio_postgres::types::FromSql<'a>>(app: &TestApp, sql: &str) -> T {
    let client = app.db.pool().connection().await.unwrap();
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn api_writes_sql_edits_and_injected_drift_in_any_order_end_with_the_site_matching_the_registry()
 {
    for seed in 0..3_u32 {
        let app = spawn_app().await;
        let clock = Clock::manual(chrono::Utc::now());
        register(&app).await;
        converge(&app, &clock).await;
        let mut state = 0x9E37_79B9_u32.wrapping_mul(seed + 1);
        let mut next = |n: u32| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state % n
        };
        for _ in 0..20 {
            let membership = one::<Uuid>(
                &app,
                "SELECT m.id FROM registry.membership m JOIN registry.allocation a ON a.id = m.allocation_id
                 JOIN registry.cluster c ON c.id = a.cluster_id WHERE c.name = 'expanse' ORDER BY random() LIMIT 1",
            )
            .await;
            let allocation = one::<Uuid>(
                &app,
                "SELECT a.id FROM registry.allocation a JOIN registry.cluster c ON c.id = a.cluster_id
                 WHERE c.name = 'expanse' ORDER BY random() LIMIT 1",
            )
            .await;
            match next(7) {
                0 => {
                    let cap = ["0", "10.5", "100000"][next(3) as usize];
                    app.call(
                        Some("admin"),
                        Method::PATCH,
                        &format!("/v1/memberships/{membership}"),
                        Some(json!({"cap_su": cap})),
                    )
                    .await
                    .expect(200);
                }
                1 => {
                    let status = ["active", "suspended", "removed"][next(3) as usize];
                    app.call(
                        Some("admin"),
                        Method::PATCH,
                        &format!("/v1/memberships/{membership}"),
                        Some(json!({"status": status})),
                    )
                    .await
                    .expect(200);
                }
                2 => {
                    let balance: String = one(
                        &app,
                        &format!(
                            "SELECT balance_su::text FROM report.allocation_balance WHERE allocation_id = '{allocation}'"
                        ),
                    )
                    .await;
                    let su = if balance.starts_with('-') || balance == "0" {
                        "5000".to_string()
                    } else {
                        format!("-{balance}")
                    };
                    app.post(
                        "admin",
                        &format!("/v1/allocations/{allocation}/adjustments"),
                        json!({"su_delta": su, "reason": "reconciler property test"}),
                    )
                    .await
                    .expect(201);
                }
                3 => {
                    let person = one::<Uuid>(
                        &app,
                        &format!(
                            "SELECT person_id FROM registry.membership WHERE id = '{membership}'"
                        ),
                    )
                    .await;
                    let reply = app
                        .post(
                            "admin",
                            &format!("/v1/people/{person}/deactivate"),
                            json!({}),
                        )
                        .await;
                    assert!(
                        reply.status.is_success() || reply.status.as_u16() == 409,
                        "{:?}",
                        reply
                    );
                }
                4 => {
                    let client = app.db.pool().connection().await.unwrap();
                    client
                        .batch_execute(
                            "UPDATE registry.project SET status = CASE status WHEN 'active' THEN 'suspended' ELSE 'active' END
                             WHERE id = (SELECT id FROM registry.project ORDER BY random() LIMIT 1)",
                        )
                        .await
                        .unwrap();
                }
                5 => {
                    let client = app.db.pool().connection().await.unwrap();
                    client
                        .batch_execute(
                            "DELETE FROM provision.observed
                             WHERE ctid = (SELECT ctid FROM provision.observed ORDER BY random() LIMIT 1)",
                        )
                        .await
                        .unwrap();
                }
                _ => {
                    let client = app.db.pool().connection().await.unwrap();
                    client
                        .batch_execute(
                            "UPDATE provision.observed SET state = state || '{\"status\": \"tampered\"}'
                             WHERE ctid = (SELECT ctid FROM provision.observed ORDER BY random() LIMIT 1)",
                        )
                        .await
                        .unwrap();
                }
            }
            if next(2) == 0 {
                on_change(&app, &clock).await;
            }
        }
        converge(&app, &clock).await;
        assert_eq!(
            app.count("SELECT count(*) FROM report.drift WHERE site = 'expanse'")
                .await,
            0,
            "seed {seed}: observed equals desired for every subject"
        );
    }
}
