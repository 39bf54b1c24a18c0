//! Sites do not interfere with each other: lanes and dedupe keys are a site's own, a task
//! depends only on its own site's tasks, and a login role bound to a site (`queue.site_role`)
//! sees and changes only that site's queue rows, however it asks: plain SQL, the queue's
//! statements, the queue's functions, `SET ROLE`, or a SECURITY DEFINER function of the owner.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use purser_sql::DbPool;
use purser_sql::queue::{
    self, AppliedState, ClaimRequest, ClaimedTask, Clock, Completion, Failure, FailureOutcome,
    NewTask,
};
use purser_sql::site_role;
use purser_sql::test_harness::TestDatabase;
use serde_json::json;
use support::BoundRole;
use uuid::Uuid;

const LEASE: Duration = Duration::from_secs(30);
const LANE: &str = "account:expanse/che260001";

fn clock() -> Clock {
    // Ahead of the database's now(), so tasks enqueued with the default run_at are due.
    Clock::manual(Utc::now() + chrono::Duration::seconds(5))
}

async fn enqueue(pool: &DbPool, task: NewTask) -> i64 {
    let client = pool.connection().await.unwrap();
    queue::enqueue(&client, &task).await.unwrap()
}

async fn claim(pool: &DbPool, site: &str, clock: &Clock) -> Vec<ClaimedTask> {
    let client = pool.connection().await.unwrap();
    let kinds = vec!["noop".to_string()];
    let request = ClaimRequest {
        site,
        worker_id: Uuid::now_v7(),
        kinds: &kinds,
        limited_kinds: &BTreeMap::new(),
        limit: 100,
        lease: LEASE,
    };
    queue::claim(&client, &request, clock).await.unwrap()
}

async fn state_of(database: &TestDatabase, id: i64) -> String {
    let client = database.pool().connection().await.unwrap();
    queue::get(&client, id).await.unwrap().unwrap().state
}

/// What PostgreSQL said to `sql`, which must fail.
async fn refusal(pool: &DbPool, sql: &str) -> String {
    let client = pool.connection().await.unwrap();
    let error = client.batch_execute(sql).await.unwrap_err();
    error.as_db_error().unwrap().message().to_string()
}

/// How many rows `sql` changed or returned.
async fn rows(pool: &DbPool, sql: &str) -> u64 {
    let client = pool.connection().await.unwrap();
    client.execute(sql, &[]).await.unwrap()
}

#[tokio::test]
async fn another_sites_task_that_never_runs_does_not_hold_up_a_lane_of_the_same_name() {
    let database = TestDatabase::new().await;
    let clock = clock();
    // Delta's task sits at the head of a lane named like one of expanse's, and never runs.
    enqueue(
        database.pool(),
        NewTask {
            lane: Some(LANE.to_string()),
            run_at: Some(Utc::now() + chrono::Duration::days(3650)),
            ..NewTask::new("delta", "noop")
        },
    )
    .await;
    let first = enqueue(
        database.pool(),
        NewTask {
            lane: Some(LANE.to_string()),
            ..NewTask::new("expanse", "noop")
        },
    )
    .await;
    let second = enqueue(
        database.pool(),
        NewTask {
            lane: Some(LANE.to_string()),
            ..NewTask::new("expanse", "noop")
        },
    )
    .await;

    let claimed: Vec<i64> = claim(database.pool(), "expanse", &clock)
        .await
        .iter()
        .map(|task| task.id)
        .collect();
    assert_eq!(
        claimed,
        vec![first],
        "expanse's lane runs, one task at a time"
    );
    let client = database.pool().connection().await.unwrap();
    let task = claim(database.pool(), "expanse", &clock).await;
    assert!(task.is_empty(), "the second waits for the first: {task:?}");
    let completion = Completion {
        id: first,
        attempt: 1,
        result: None,
        applied: Vec::new(),
        observation: None,
    };
    queue::complete(&client, &[completion], &clock)
        .await
        .unwrap();
    let next: Vec<i64> = claim(database.pool(), "expanse", &clock)
        .await
        .iter()
        .map(|task| task.id)
        .collect();
    assert_eq!(next, vec![second]);
}

#[tokio::test]
async fn a_dedupe_key_another_site_took_first_gives_this_site_a_task_of_its_own() {
    let database = TestDatabase::new().await;
    let keyed = |site: &str| NewTask {
        dedupe_key: Some("account:che260001".to_string()),
        ..NewTask::new(site, "noop")
    };
    let delta = enqueue(database.pool(), keyed("delta")).await;
    let expanse = enqueue(database.pool(), keyed("expanse")).await;
    assert_ne!(
        expanse, delta,
        "expanse's work is queued, not answered with delta's task"
    );
    let client = database.pool().connection().await.unwrap();
    let task = queue::get(&client, expanse).await.unwrap().unwrap();
    assert_eq!(
        (task.site.as_str(), task.state.as_str()),
        ("expanse", "queued")
    );
    assert_eq!(
        enqueue(database.pool(), keyed("expanse")).await,
        expanse,
        "within a site the key still yields one task"
    );
    assert_eq!(enqueue(database.pool(), keyed("delta")).await, delta);
}

#[tokio::test]
async fn a_dependency_on_another_sites_task_is_refused_in_the_words_of_a_missing_one() {
    let database = TestDatabase::new().await;
    let expanse = enqueue(database.pool(), NewTask::new("expanse", "noop")).await;
    let client = database.pool().connection().await.unwrap();
    queue::cancel(&client, expanse).await.unwrap();
    let missing = expanse + 1000;

    let foreign = refusal(
        database.pool(),
        &format!("SELECT queue.enqueue(site => 'delta', kind => 'noop', depends_on => ARRAY[{expanse}]::bigint[])"),
    )
    .await;
    let unknown = refusal(
        database.pool(),
        &format!("SELECT queue.enqueue(site => 'delta', kind => 'noop', depends_on => ARRAY[{missing}]::bigint[])"),
    )
    .await;
    assert_eq!(
        foreign,
        format!(
            "queue.enqueue: depends_on names task {expanse}, which does not exist on site delta \
             (a task depends only on tasks of its own site)"
        )
    );
    assert_eq!(
        foreign.replace(&expanse.to_string(), "N"),
        unknown.replace(&missing.to_string(), "N"),
        "another site's task, even a cancelled one, is answered as a missing one"
    );
    let delta_tasks: i64 = client
        .query_one("SELECT count(*) FROM queue.task WHERE site = 'delta'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        delta_tasks, 0,
        "nothing was enqueued, not even a cancelled task"
    );
}

#[tokio::test]
async fn a_role_bound_to_a_site_sees_and_changes_only_that_sites_queue_rows() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let expanse = enqueue(database.pool(), NewTask::new("expanse", "noop")).await;
    let expanse_running = enqueue(database.pool(), NewTask::new("expanse", "noop")).await;
    let owner = database.pool().connection().await.unwrap();
    owner
        .batch_execute(&format!(
            "UPDATE queue.task SET state = 'running', attempts = 1, lease_expires_at = now() - interval '1 hour' \
             WHERE id = {expanse_running};
             INSERT INTO provision.applied_state (site, subject, state, task_id)
             VALUES ('expanse', 'slurm.account:che260001', '{{}}', {expanse})"
        ))
        .await
        .unwrap();
    let delta = BoundRole::create(&database, "delta").await;

    // Plain SQL: another site's rows are not there to read, change or remove.
    let role = &delta.pool;
    assert_eq!(rows(role, "SELECT 1 FROM queue.task").await, 0);
    assert_eq!(rows(role, "UPDATE queue.task SET priority = -100").await, 0);
    assert_eq!(rows(role, "DELETE FROM queue.task").await, 0);
    assert_eq!(rows(role, "SELECT 1 FROM queue.task_history").await, 0);
    assert_eq!(rows(role, "SELECT 1 FROM provision.applied_state").await, 0);
    assert_eq!(rows(role, "DELETE FROM provision.applied_state").await, 0);
    for insert in [
        "INSERT INTO queue.task (site, kind) VALUES ('expanse', 'noop')",
        "INSERT INTO queue.worker (id, site, hostname, pid, version) VALUES (gen_random_uuid(), 'expanse', 'h', 1, 'v')",
        "INSERT INTO provision.applied_state (site, subject, state, task_id) VALUES ('expanse', 's', '{}', 1)",
    ] {
        assert!(
            refusal(role, insert).await.contains("row-level security"),
            "{insert}"
        );
    }
    // SET ROLE changes current_user, not the role that logged in: the binding holds.
    let client = role.connection().await.unwrap();
    client
        .batch_execute("SET ROLE purser_daemon")
        .await
        .unwrap();
    assert_eq!(
        client
            .execute("UPDATE queue.task SET priority = -100", &[])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        client.execute("DELETE FROM queue.task", &[]).await.unwrap(),
        0
    );
    client.batch_execute("RESET ROLE").await.unwrap();
    drop(client);

    // The queue's statements: nothing of expanse's to claim, complete, fail or rescue.
    assert!(claim(role, "expanse", &clock).await.is_empty());
    let client = role.connection().await.unwrap();
    let completion = Completion {
        id: expanse_running,
        attempt: 1,
        result: None,
        applied: vec![AppliedState {
            subject: "slurm.account:che260001".to_string(),
            state: json!({"forged": true}),
        }],
        observation: None,
    };
    assert!(
        queue::complete(&client, &[completion], &clock)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        queue::heartbeat(&client, &[(expanse_running, 1)], LEASE, &clock)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        queue::release(&client, &[(expanse_running, 1)], &clock)
            .await
            .unwrap()
            .is_empty()
    );
    let mut client = role.connection().await.unwrap();
    let failure = Failure {
        id: expanse_running,
        attempt: 1,
        retryable: false,
        backoff: Duration::ZERO,
        error: "forged".to_string(),
    };
    assert_eq!(
        queue::fail(&mut client, &failure, &clock).await.unwrap(),
        FailureOutcome::FencedOut
    );
    let rescued = queue::rescue_expired(&mut client, "expanse", &clock)
        .await
        .unwrap();
    assert!(rescued.requeued.is_empty() && rescued.dead.is_empty());
    assert_eq!(
        queue::prune(
            &client,
            "expanse",
            Utc::now() + chrono::Duration::days(1),
            100
        )
        .await
        .unwrap(),
        0
    );

    assert_eq!(state_of(&database, expanse).await, "queued");
    assert_eq!(state_of(&database, expanse_running).await, "running");
    let recorded: serde_json::Value = owner
        .query_one(
            "SELECT state FROM provision.applied_state WHERE site = 'expanse'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, json!({}), "what expanse applied is untouched");
    delta.drop(&database).await;
}

#[tokio::test]
async fn the_queue_functions_refuse_a_bound_role_another_sites_tasks() {
    let database = TestDatabase::new().await;
    let expanse = enqueue(database.pool(), NewTask::new("expanse", "noop")).await;
    let waiting = enqueue(
        database.pool(),
        NewTask {
            depends_on: vec![expanse],
            ..NewTask::new("expanse", "noop")
        },
    )
    .await;
    let delta = BoundRole::create(&database, "delta").await;
    let role = &delta.pool;

    assert_eq!(
        refusal(
            role,
            "SELECT queue.enqueue(site => 'expanse', kind => 'noop')"
        )
        .await,
        format!(
            "queue.enqueue: database role {} serves site delta, so it may not enqueue for site expanse",
            delta.name
        )
    );
    assert!(
        refusal(
            role,
            &format!("SELECT queue.enqueue(site => 'delta', kind => 'noop', depends_on => ARRAY[{expanse}]::bigint[])")
        )
        .await
        .contains(&format!("task {expanse}, which does not exist on site delta"))
    );
    for function in ["cancel", "retry"] {
        assert_eq!(
            refusal(role, &format!("SELECT queue.{function}({expanse})")).await,
            format!("queue.{function}: task {expanse} does not exist"),
            "another site's task is answered as a missing one"
        );
    }
    let client = role.connection().await.unwrap();
    let cancelled: i32 = client
        .query_one(
            "SELECT queue.cancel_dependents(ARRAY[$1::bigint], 'forged')",
            &[&expanse],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(cancelled, 0);
    assert_eq!(state_of(&database, expanse).await, "queued");
    assert_eq!(state_of(&database, waiting).await, "waiting");

    // Its own site's work runs: enqueue, dedupe, dependencies, claim, complete.
    let clock = clock();
    let first = enqueue(role, NewTask::new("delta", "noop")).await;
    let keyed = NewTask {
        dedupe_key: Some("k".to_string()),
        depends_on: vec![first],
        ..NewTask::new("delta", "noop")
    };
    let second = enqueue(role, keyed.clone()).await;
    assert_eq!(enqueue(role, keyed).await, second);
    let claimed = claim(role, "delta", &clock).await;
    assert_eq!(
        claimed.iter().map(|task| task.id).collect::<Vec<_>>(),
        vec![first]
    );
    let completion = Completion {
        id: first,
        attempt: 1,
        result: None,
        applied: vec![AppliedState {
            subject: "slurm.account:bio7".to_string(),
            state: json!({"ok": true}),
        }],
        observation: None,
    };
    assert_eq!(
        queue::complete(&client, &[completion], &clock)
            .await
            .unwrap(),
        vec![first]
    );
    assert_eq!(
        state_of(&database, second).await,
        "queued",
        "its dependent was counted down"
    );
    delta.drop(&database).await;
}

#[tokio::test]
async fn a_security_definer_function_of_the_owner_acts_only_on_the_callers_site() {
    let database = TestDatabase::new().await;
    let expanse = enqueue(database.pool(), NewTask::new("expanse", "noop")).await;
    let owner = database.pool().connection().await.unwrap();
    // As a deployment migrates: purser_owner owns the queue, and a function of its own runs
    // with its rights for whoever calls it.
    owner
        .batch_execute(
            "ALTER TABLE queue.task OWNER TO purser_owner;
             GRANT USAGE ON SCHEMA queue TO purser_owner;
             CREATE FUNCTION queue.test_cancel_everything() RETURNS bigint
             LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
                 WITH cancelled AS (
                     UPDATE queue.task SET state = 'cancelled', finished_at = now() RETURNING 1)
                 SELECT count(*) FROM cancelled
             $$;
             ALTER FUNCTION queue.test_cancel_everything() OWNER TO purser_owner;
             GRANT EXECUTE ON FUNCTION queue.test_cancel_everything() TO purser_daemon;",
        )
        .await
        .unwrap();
    let delta = BoundRole::create(&database, "delta").await;
    let mine = enqueue(&delta.pool, NewTask::new("delta", "noop")).await;

    let client = delta.pool.connection().await.unwrap();
    let cancelled: i64 = client
        .query_one("SELECT queue.test_cancel_everything()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(cancelled, 1, "only the caller's own site's task");
    assert_eq!(state_of(&database, mine).await, "cancelled");
    assert_eq!(state_of(&database, expanse).await, "queued");
    delta.drop(&database).await;
}

#[tokio::test]
async fn a_session_bound_to_no_site_still_serves_every_site() {
    let database = TestDatabase::new().await;
    let clock = clock();
    enqueue(database.pool(), NewTask::new("expanse", "noop")).await;
    enqueue(database.pool(), NewTask::new("delta", "noop")).await;
    // A delta role exists, so the policies have a binding to tell apart.
    let delta = BoundRole::create(&database, "delta").await;
    let separator = if database.url().contains('?') {
        '&'
    } else {
        '?'
    };
    let daemon = purser_sql::connect_pool(
        &format!(
            "{}{separator}options=-c%20role%3Dpurser_daemon",
            database.url()
        ),
        2,
    )
    .unwrap();
    assert_eq!(rows(&daemon, "SELECT 1 FROM queue.task").await, 2);
    assert_eq!(claim(&daemon, "expanse", &clock).await.len(), 1);
    assert_eq!(claim(&daemon, "delta", &clock).await.len(), 1);
    let client = daemon.connection().await.unwrap();
    let binding = site_role::session_binding(&client).await.unwrap();
    assert_eq!(binding.site, None);
    let client = delta.pool.connection().await.unwrap();
    let binding = site_role::session_binding(&client).await.unwrap();
    assert_eq!(
        (binding.role_name.as_str(), binding.site.as_deref()),
        (delta.name.as_str(), Some("delta"))
    );
    drop(client);
    delta.drop(&database).await;
}

#[tokio::test]
async fn a_site_role_is_refused_a_bad_name_a_taken_name_and_a_plain_password() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let message = |error: purser_sql::DbError| error.to_string();
    assert!(
        message(
            site_role::create(&client, "Bad Name", "delta", None)
                .await
                .unwrap_err()
        )
        .contains("the role name must be lower-case letters, digits and _")
    );
    assert!(
        message(
            site_role::create(&client, "site_ok", "not a site", None)
                .await
                .unwrap_err()
        )
        .contains("the site must be 1 to 63 letters")
    );
    assert!(
        message(
            site_role::create(&client, "purser_daemon", "delta", None)
                .await
                .unwrap_err()
        )
        .contains("a role named purser_daemon already exists on this server")
    );
    // A role dropped with plain SQL keeps its binding: creating it again says what to do.
    let name = format!(
        "site_gone_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    site_role::create(&client, &name, "delta", Some("pw"))
        .await
        .unwrap();
    client
        .batch_execute(&format!("DROP ROLE {name}"))
        .await
        .unwrap();
    let still_bound = message(
        site_role::create(&client, &name, "expanse", None)
            .await
            .unwrap_err(),
    );
    assert!(
        still_bound.contains(&format!(
            "{name} is still bound to site delta (its role was dropped outside purser); run purser site-role drop {name} first"
        )),
        "{still_bound}"
    );
    site_role::drop_role(&client, &name).await.unwrap();
    let plain = client
        .batch_execute(
            "SELECT queue.create_site_role(role_name => 'site_plain', site => 'delta', password_verifier => 'hunter2')",
        )
        .await
        .unwrap_err();
    assert!(
        plain
            .as_db_error()
            .unwrap()
            .message()
            .contains("must be a SCRAM-SHA-256 verifier, never a password")
    );
    assert!(
        message(
            site_role::drop_role(&client, "site_never_made")
                .await
                .unwrap_err()
        )
        .contains("site_never_made is not a site role of this database")
    );
}

#[tokio::test]
async fn purser_sessions_never_compile_a_statement_just_in_time() {
    // Under row-level security a claim's generic plan is costed past jit_above_cost, and
    // compiling it took 60 to 200 ms of a statement that runs in under 1 ms.
    let database = TestDatabase::new().await;
    let delta = BoundRole::create(&database, "delta").await;
    for pool in [database.pool(), &delta.pool] {
        let client = pool.connection().await.unwrap();
        let jit: String = client.query_one("SHOW jit", &[]).await.unwrap().get(0);
        assert_eq!(jit, "off");
    }
    delta.drop(&database).await;
}

/// What the charging function answers a bound role for one job of `account`'s PI on its
/// cluster's CPU, naming `site` (or none).
async fn charge_as(
    role: &BoundRole,
    account: &str,
    job: &str,
    site: Option<&str>,
) -> Option<String> {
    let client = role.pool.connection().await.unwrap();
    let row = client
        .query_one(
            "SELECT rejected FROM registry.charge_usage_batch(
                 ARRAY[(SELECT cluster_id FROM registry.allocation WHERE account_name = $1)],
                 ARRAY[$2::text], ARRAY[now() - interval '2 hours'], ARRAY[now() - interval '1 hour'],
                 ARRAY[(SELECT r.id FROM registry.resource r JOIN registry.allocation a USING (cluster_id)
                        WHERE a.account_name = $1 AND r.name = 'CPU')],
                 ARRAY[(SELECT id FROM registry.allocation WHERE account_name = $1)],
                 ARRAY[(SELECT p.pi_id FROM registry.project p JOIN registry.allocation a ON a.project_id = p.id
                        WHERE a.account_name = $1)],
                 ARRAY[3600::numeric], $3)",
            &[&account, &job, &site],
        )
        .await
        .unwrap();
    row.get("rejected")
}

#[tokio::test]
async fn a_role_bound_to_a_site_charges_only_its_own_sites_clusters() {
    let database = TestDatabase::new().await;
    purser_sql::seed::demo_centre(&database.pool().connection().await.unwrap())
        .await
        .unwrap();
    let delta = BoundRole::create(&database, "delta").await;
    for site in [None, Some("expanse")] {
        let refused = charge_as(&delta, "che260001", "expanse-job", site).await;
        assert_eq!(
            refused.as_deref(),
            Some(
                format!(
                    "cluster expanse is not site delta, which database role {} serves",
                    delta.name
                )
                .as_str()
            ),
            "naming site {site:?}"
        );
    }
    assert_eq!(charge_as(&delta, "bio7", "delta-job", None).await, None);
    let charged = rows(
        database.pool(),
        "SELECT 1 FROM registry.usage WHERE job_id IN ('expanse-job', 'delta-job')",
    )
    .await;
    assert_eq!(charged, 1, "only delta's job is charged");
    delta.drop(&database).await;
}
