//! `purser reconcile`, run as the real binary on the demo centre: a dry run prints the plan and
//! changes nothing; a plan is enqueued and a second one finds it already on its way; a mass
//! delete is refused with one sentence and exit 1 until allowed; an unknown site or a site
//! without a connector is one sentence.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use purser_sql::seed;
use purser_sql::test_harness::TestDatabase;
use support::{purser, scalar, stdout};

async fn centre_with_connector() -> TestDatabase {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    seed::demo_centre(&client).await.unwrap();
    client
        .batch_execute("SELECT provision.register_connector('expanse', 'script')")
        .await
        .unwrap();
    database
}

fn refusal(output: &std::process::Output) -> String {
    assert!(!output.status.success(), "it should have failed");
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}

#[tokio::test]
async fn a_dry_run_prints_the_plan_with_why_and_enqueues_nothing() {
    let database = centre_with_connector().await;
    let printed = stdout(&purser(
        &database,
        &["reconcile", "--site", "expanse", "--dry-run"],
    ));
    assert!(
        printed.starts_with("site expanse, connector script: 7 subject(s) differ; would enqueue 7"),
        "{printed}"
    );
    assert!(
        printed.contains("create   account/che260001  nothing → {"),
        "{printed}"
    );
    assert!(printed.contains("why: granted"), "{printed}");
    assert_eq!(
        scalar(database.pool(), "SELECT count(*) FROM queue.task").await,
        0
    );
    assert_eq!(
        scalar(database.pool(), "SELECT count(*) FROM provision.plan").await,
        0
    );
}

#[tokio::test]
async fn a_plan_is_enqueued_once_and_its_json_names_each_tasks_outcome() {
    let database = centre_with_connector().await;
    let first = stdout(&purser(
        &database,
        &["reconcile", "--site", "expanse", "--json"],
    ));
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    let actions = first["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 7);
    assert!(
        actions
            .iter()
            .all(|a| a["outcome"] == "enqueued" && a["task_id"].is_i64())
    );
    let again = stdout(&purser(
        &database,
        &["reconcile", "--site", "expanse", "--json"],
    ));
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert!(
        again["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["outcome"] == "already_enqueued")
    );
    assert_eq!(
        scalar(
            database.pool(),
            "SELECT count(*) FROM queue.task WHERE kind = 'script.apply'"
        )
        .await,
        7
    );
}

#[tokio::test]
async fn a_mass_delete_is_refused_with_one_sentence_and_exit_1_until_allowed() {
    let database = centre_with_connector().await;
    let client = database.pool().connection().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO provision.observed (site, connector, subject, state, task_id)
             SELECT 'expanse', 'script', 'association/old/u' || n, '{\"status\": \"active\"}', 0
             FROM generate_series(1, 6) n",
        )
        .await
        .unwrap();
    let refused = refusal(&purser(&database, &["reconcile", "--site", "expanse"]));
    assert!(
        refused.starts_with("error: the plan deletes 6 of the 6 subjects connector script manages on site expanse, more than its threshold of 5"),
        "{refused}"
    );
    assert!(!refused.contains('\n'), "{refused}");
    assert_eq!(
        scalar(database.pool(), "SELECT count(*) FROM queue.task").await,
        0
    );
    stdout(&purser(
        &database,
        &["reconcile", "--site", "expanse", "--allow-mass-delete"],
    ));
    assert_eq!(
        scalar(
            database.pool(),
            "SELECT count(*) FROM queue.task WHERE payload ->> 'action' = 'delete'"
        )
        .await,
        6
    );
}

#[tokio::test]
async fn an_unknown_site_or_a_site_without_a_connector_is_one_sentence() {
    let database = centre_with_connector().await;
    let unknown = refusal(&purser(&database, &["reconcile", "--site", "expanze"]));
    assert!(
        unknown.starts_with("error: unknown site \"expanze\""),
        "{unknown}"
    );
    let none = refusal(&purser(&database, &["reconcile", "--site", "delta"]));
    assert_eq!(
        none,
        "error: site delta has no connector: configure one in [sites.delta] (docs/reconciler.md) and start its daemon, or pass that --config here"
    );
}
