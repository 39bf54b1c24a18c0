//! The queue's SQL contract against a real PostgreSQL: enqueue, claim order and limits,
//! fencing, backoff, attempts, dedupe, dependencies, lanes, cancel, retry, transactional
//! completion, pruning and wake-ups. Time comes from a manual clock: nothing sleeps.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use purser_sql::DbError;
use purser_sql::notify::{Channel, Listener};
use purser_sql::queue::{
    self, AppliedState, ClaimRequest, ClaimedTask, Clock, Completion, Failure, FailureOutcome,
    NewTask,
};
use purser_sql::test_harness::TestDatabase;
use serde_json::json;
use uuid::Uuid;

const SITE: &str = "expanse";
const LEASE: Duration = Duration::from_secs(30);

fn clock() -> Clock {
    // Ahead of the database's now(), so tasks enqueued with the default run_at are due.
    Clock::manual(Utc::now() + chrono::Duration::seconds(5))
}

/// A `noop` task for the test site, with the defaults.
fn noop() -> NewTask {
    NewTask::new(SITE, "noop")
}

fn kinds() -> Vec<String> {
    vec!["noop".to_string(), "slurm.account.ensure".to_string()]
}

async fn enqueue(database: &TestDatabase, task: NewTask) -> i64 {
    let client = database.pool().connection().await.unwrap();
    queue::enqueue(&client, &task).await.unwrap()
}

async fn claim_as(
    database: &TestDatabase,
    worker: Uuid,
    limit: i64,
    clock: &Clock,
) -> Vec<ClaimedTask> {
    let client = database.pool().connection().await.unwrap();
    let kinds = kinds();
    let request = ClaimRequest {
        site: SITE,
        worker_id: worker,
        kinds: &kinds,
        limited_kinds: &BTreeMap::new(),
        limit,
        lease: LEASE,
    };
    queue::claim(&client, &request, clock).await.unwrap()
}

async fn claim(database: &TestDatabase, limit: i64, clock: &Clock) -> Vec<ClaimedTask> {
    claim_as(database, Uuid::now_v7(), limit, clock).await
}

async fn complete(database: &TestDatabase, task: &ClaimedTask, clock: &Clock) -> Vec<i64> {
    let client = database.pool().connection().await.unwrap();
    let completion = Completion {
        id: task.id,
        attempt: task.attempt,
        result: Some(json!({"ok": true})),
        applied: Vec::new(),
        observation: None,
    };
    queue::complete(&client, &[completion], clock)
        .await
        .unwrap()
}

async fn fail(
    database: &TestDatabase,
    task: &ClaimedTask,
    retryable: bool,
    clock: &Clock,
) -> FailureOutcome {
    let mut client = database.pool().connection().await.unwrap();
    let failure = Failure {
        id: task.id,
        attempt: task.attempt,
        retryable,
        backoff: Duration::from_secs(60),
        error: "slurmdbd unreachable".to_string(),
    };
    queue::fail(&mut client, &failure, clock).await.unwrap()
}

/// Enqueues a task allowed a single attempt, and claims it.
async fn claim_one_attempt_task(database: &TestDatabase, clock: &Clock) -> (i64, ClaimedTask) {
    let id = enqueue(
        database,
        NewTask {
            max_attempts: Some(1),
            ..noop()
        },
    )
    .await;
    let task = claim(database, 1, clock).await.remove(0);
    assert_eq!(task.id, id);
    (id, task)
}

async fn state_of(database: &TestDatabase, id: i64) -> String {
    let client = database.pool().connection().await.unwrap();
    queue::get(&client, id).await.unwrap().unwrap().state
}

async fn sql_error(database: &TestDatabase, sql: &str) -> String {
    let client = database.pool().connection().await.unwrap();
    let error = client.batch_execute(sql).await.unwrap_err();
    error.as_db_error().unwrap().message().to_string()
}

#[tokio::test]
async fn enqueue_by_plain_sql_returns_the_task_id_with_named_arguments() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let id: i64 = client
        .query_one(
            "SELECT queue.enqueue(site => 'expanse', kind => 'slurm.account.ensure', payload => '{\"account\": \"abc123\"}', priority => 5, lane => 'abc123')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let task = queue::get(&client, id).await.unwrap().unwrap();
    assert_eq!(task.site, "expanse");
    assert_eq!(task.kind, "slurm.account.ensure");
    assert_eq!(task.payload, json!({"account": "abc123"}));
    assert_eq!(task.priority, 5);
    assert_eq!(task.lane.as_deref(), Some("abc123"));
    assert_eq!(task.state, "queued");
    assert_eq!(task.max_attempts, 10);
}

#[tokio::test]
async fn enqueue_rejects_bad_arguments_with_a_message_naming_them() {
    let database = TestDatabase::new().await;
    let cases = [
        ("SELECT queue.enqueue(site => '', kind => 'noop')", "site"),
        (
            "SELECT queue.enqueue(site => 'expanse', kind => 'Not A Kind')",
            "kind",
        ),
        (
            "SELECT queue.enqueue(site => 'expanse', kind => 'noop', payload => '[1, 2]')",
            "payload must be a JSON object",
        ),
        (
            "SELECT queue.enqueue(site => 'expanse', kind => 'noop', max_attempts => 0)",
            "max_attempts",
        ),
        (
            "SELECT queue.enqueue(site => 'expanse', kind => 'noop', priority => 99999)",
            "priority",
        ),
        (
            "SELECT queue.enqueue(site => 'expanse', kind => 'noop', depends_on => ARRAY[987654]::bigint[])",
            "task 987654, which does not exist",
        ),
    ];
    for (sql, expected) in cases {
        let message = sql_error(&database, sql).await;
        assert!(message.contains(expected), "{sql}: {message}");
    }
    let client = database.pool().connection().await.unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM queue.task", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "nothing half-written");
}

#[tokio::test]
async fn enqueue_commits_or_rolls_back_with_the_callers_transaction() {
    let database = TestDatabase::new().await;
    let mut client = database.pool().connection().await.unwrap();
    let transaction = client.transaction().await.unwrap();
    queue::enqueue(&transaction, &noop()).await.unwrap();
    transaction.rollback().await.unwrap();
    let transaction = client.transaction().await.unwrap();
    let kept = queue::enqueue(&transaction, &noop()).await.unwrap();
    transaction.commit().await.unwrap();
    let ids: Vec<i64> = client
        .query("SELECT id FROM queue.task", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(ids, vec![kept]);
}

#[tokio::test]
async fn claims_follow_priority_then_run_at_then_id_and_wait_for_run_at() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let now = clock.now().unwrap();
    let later = enqueue(
        &database,
        NewTask {
            run_at: Some(now + chrono::Duration::minutes(10)),
            ..noop()
        },
    )
    .await;
    let normal_first = enqueue(&database, noop()).await;
    let normal_second = enqueue(&database, noop()).await;
    let urgent = enqueue(
        &database,
        NewTask {
            priority: -1,
            ..noop()
        },
    )
    .await;
    let earlier_run_at = enqueue(
        &database,
        NewTask {
            run_at: Some(now - chrono::Duration::hours(1)),
            ..noop()
        },
    )
    .await;
    enqueue(&database, NewTask::new("other-site", "noop")).await;
    enqueue(&database, NewTask::new(SITE, "ldap.user.ensure")).await;

    let order: Vec<i64> = claim(&database, 100, &clock)
        .await
        .iter()
        .map(|task| task.id)
        .collect();
    assert_eq!(
        order,
        vec![urgent, earlier_run_at, normal_first, normal_second]
    );

    assert!(claim(&database, 100, &clock).await.is_empty());
    clock.advance(Duration::from_secs(601));
    let due: Vec<i64> = claim(&database, 100, &clock)
        .await
        .iter()
        .map(|task| task.id)
        .collect();
    assert_eq!(due, vec![later]);
}

#[tokio::test]
async fn concurrent_claims_never_take_one_task_twice_nor_more_than_their_limit() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let payloads = vec![json!({}); 500];
    queue::enqueue_many(&client, SITE, "noop", &payloads)
        .await
        .unwrap();
    let clock = clock();
    let claims = (0..6).map(|_| claim(&database, 37, &clock));
    let results = futures_util::future::join_all(claims).await;
    let mut seen = std::collections::HashSet::new();
    for claimed in &results {
        assert!(claimed.len() <= 37, "a claim took {} rows", claimed.len());
        for task in claimed {
            assert!(seen.insert(task.id), "task {} claimed twice", task.id);
            assert_eq!(task.attempt, 1);
        }
    }
    assert_eq!(seen.len(), 6 * 37);
}

#[tokio::test]
async fn a_claim_takes_no_more_of_a_limited_kind_than_its_free_slots_and_the_other_kinds_behind_it()
{
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let limited: Vec<i64> =
        queue::enqueue_many(&client, SITE, "slurm.account.ensure", &vec![json!({}); 20])
            .await
            .unwrap();
    let others: Vec<i64> = queue::enqueue_many(&client, SITE, "noop", &vec![json!({}); 5])
        .await
        .unwrap();
    let unlimited = vec!["noop".to_string()];
    let clock = clock();
    let claim_with = |free: i64, limit: i64| {
        let unlimited = unlimited.clone();
        let clock = clock.clone();
        let database = &database;
        async move {
            let client = database.pool().connection().await.unwrap();
            let limited_kinds = BTreeMap::from([("slurm.account.ensure".to_string(), free)]);
            let request = ClaimRequest {
                site: SITE,
                worker_id: Uuid::now_v7(),
                kinds: &unlimited,
                limited_kinds: &limited_kinds,
                limit,
                lease: LEASE,
            };
            queue::claim(&client, &request, &clock)
                .await
                .unwrap()
                .iter()
                .map(|task| task.id)
                .collect::<Vec<i64>>()
        }
    };

    // One slot free: the first limited task, then the other kind's tasks queued behind the burst.
    let mut expected = vec![limited[0]];
    expected.extend(&others);
    assert_eq!(claim_with(1, 100).await, expected);
    // No slot free: none of that kind.
    assert!(claim_with(0, 100).await.is_empty());
    // Three free, but the claim's own limit is smaller: the first two in order.
    assert_eq!(claim_with(3, 2).await, limited[1..3].to_vec());
}

#[tokio::test]
async fn a_fenced_out_workers_completion_failure_and_heartbeat_are_rejected() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let id = enqueue(&database, noop()).await;
    let first = claim(&database, 1, &clock).await.remove(0);

    // The first worker goes silent; its lease lapses and the task is rescued and re-claimed.
    clock.advance(LEASE + Duration::from_secs(1));
    let mut client = database.pool().connection().await.unwrap();
    let rescued = queue::rescue_expired(&mut client, SITE, &clock)
        .await
        .unwrap();
    assert_eq!(rescued.requeued, vec![id]);
    let second = claim(&database, 1, &clock).await.remove(0);
    assert_eq!((second.id, second.attempt), (id, 2));

    // The first worker comes back: everything it says is refused.
    assert!(complete(&database, &first, &clock).await.is_empty());
    assert_eq!(
        fail(&database, &first, true, &clock).await,
        FailureOutcome::FencedOut
    );
    let held = queue::heartbeat(&client, &[(first.id, first.attempt)], LEASE, &clock)
        .await
        .unwrap();
    assert!(held.is_empty());
    assert_eq!(state_of(&database, id).await, "running");

    // The new owner's word stands.
    assert_eq!(complete(&database, &second, &clock).await, vec![id]);
    let history = queue::attempts(&client, id).await.unwrap();
    let outcomes: Vec<&str> = history
        .iter()
        .map(|attempt| attempt.outcome.as_str())
        .collect();
    assert_eq!(outcomes, vec!["lease_expired", "succeeded"]);
}

#[tokio::test]
async fn a_heartbeat_keeps_a_lease_alive_past_its_first_expiry() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let id = enqueue(&database, noop()).await;
    let task = claim(&database, 1, &clock).await.remove(0);
    let mut client = database.pool().connection().await.unwrap();
    clock.advance(LEASE - Duration::from_secs(1));
    assert_eq!(
        queue::heartbeat(&client, &[(id, task.attempt)], LEASE, &clock)
            .await
            .unwrap(),
        vec![id]
    );
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        queue::rescue_expired(&mut client, SITE, &clock)
            .await
            .unwrap(),
        queue::Rescued::default()
    );
    assert_eq!(state_of(&database, id).await, "running");
}

#[tokio::test]
async fn a_retryable_failure_backs_off_and_the_last_attempt_dies_with_its_error_kept() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let id = enqueue(
        &database,
        NewTask {
            max_attempts: Some(2),
            ..noop()
        },
    )
    .await;
    let first = claim(&database, 1, &clock).await.remove(0);
    assert_eq!(
        fail(&database, &first, true, &clock).await,
        FailureOutcome::Retrying
    );
    assert_eq!(state_of(&database, id).await, "queued");

    // Not before the backoff (60 s) has passed.
    clock.advance(Duration::from_secs(59));
    assert!(claim(&database, 1, &clock).await.is_empty());
    clock.advance(Duration::from_secs(2));
    let second = claim(&database, 1, &clock).await.remove(0);
    assert_eq!(second.attempt, 2);

    assert_eq!(
        fail(&database, &second, true, &clock).await,
        FailureOutcome::Dead
    );
    let client = database.pool().connection().await.unwrap();
    let task = queue::get(&client, id).await.unwrap().unwrap();
    assert_eq!(task.state, "dead");
    assert_eq!(task.last_error.as_deref(), Some("slurmdbd unreachable"));
    assert!(task.finished_at.is_some());
    let history = queue::attempts(&client, id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert!(
        history
            .iter()
            .all(|attempt| attempt.outcome == "failed" && attempt.worker_id.is_some())
    );
}

#[tokio::test]
async fn a_permanent_failure_is_dead_at_once() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let id = enqueue(&database, noop()).await;
    let task = claim(&database, 1, &clock).await.remove(0);
    assert_eq!(
        fail(&database, &task, false, &clock).await,
        FailureOutcome::Dead
    );
    assert_eq!(state_of(&database, id).await, "dead");
}

#[tokio::test]
async fn a_dedupe_key_yields_one_unfinished_task() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let keyed = || NewTask {
        dedupe_key: Some("account:abc123".to_string()),
        ..noop()
    };
    let first = enqueue(&database, keyed()).await;
    assert_eq!(enqueue(&database, keyed()).await, first);
    let task = claim(&database, 1, &clock).await.remove(0);
    assert_eq!(
        enqueue(&database, keyed()).await,
        first,
        "still unfinished while running"
    );
    complete(&database, &task, &clock).await;
    let second = enqueue(&database, keyed()).await;
    assert_ne!(second, first, "a finished task frees its key");
}

#[tokio::test]
async fn a_task_waits_for_its_dependencies_and_runs_when_all_succeeded() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let account = enqueue(&database, noop()).await;
    let user = enqueue(&database, noop()).await;
    let association = enqueue(
        &database,
        NewTask {
            depends_on: vec![account, user],
            ..noop()
        },
    )
    .await;
    assert_eq!(state_of(&database, association).await, "waiting");

    let claimed = claim(&database, 10, &clock).await;
    assert_eq!(
        claimed.iter().map(|task| task.id).collect::<Vec<_>>(),
        vec![account, user]
    );
    complete(&database, &claimed[0], &clock).await;
    assert_eq!(state_of(&database, association).await, "waiting");
    complete(&database, &claimed[1], &clock).await;
    assert_eq!(state_of(&database, association).await, "queued");
    assert_eq!(claim(&database, 10, &clock).await[0].id, association);

    // Depending on finished tasks only: ready at once.
    let late = enqueue(
        &database,
        NewTask {
            depends_on: vec![account],
            ..noop()
        },
    )
    .await;
    assert_eq!(state_of(&database, late).await, "queued");
}

#[tokio::test]
async fn a_dead_dependency_cancels_its_dependents_transitively_and_says_why() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let account = enqueue(&database, noop()).await;
    let association = enqueue(
        &database,
        NewTask {
            depends_on: vec![account],
            ..noop()
        },
    )
    .await;
    let notice = enqueue(
        &database,
        NewTask {
            depends_on: vec![association],
            ..noop()
        },
    )
    .await;
    let task = claim(&database, 1, &clock).await.remove(0);
    fail(&database, &task, false, &clock).await;

    let client = database.pool().connection().await.unwrap();
    for id in [association, notice] {
        let task = queue::get(&client, id).await.unwrap().unwrap();
        assert_eq!(task.state, "cancelled", "task {id}");
        assert!(task.last_error.unwrap().contains("is dead"));
    }
    // A task enqueued on a dead dependency is cancelled at once, never run.
    let orphan = enqueue(
        &database,
        NewTask {
            depends_on: vec![account],
            ..noop()
        },
    )
    .await;
    let orphan = queue::get(&client, orphan).await.unwrap().unwrap();
    assert_eq!(orphan.state, "cancelled");
    assert!(
        orphan
            .last_error
            .unwrap()
            .contains(&format!("dependency {account} is dead"))
    );
    assert!(claim(&database, 10, &clock).await.is_empty());
}

#[tokio::test]
async fn tasks_of_one_lane_run_one_at_a_time_in_order_while_other_lanes_proceed() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let in_lane = |lane: &str| NewTask {
        lane: Some(lane.to_string()),
        ..noop()
    };
    let a1 = enqueue(&database, in_lane("a")).await;
    let a2 = enqueue(&database, in_lane("a")).await;
    let b1 = enqueue(&database, in_lane("b")).await;
    let free = enqueue(&database, noop()).await;

    let first: Vec<i64> = claim(&database, 10, &clock)
        .await
        .iter()
        .map(|task| task.id)
        .collect();
    assert_eq!(first, vec![a1, b1, free]);
    assert!(
        claim(&database, 10, &clock).await.is_empty(),
        "a2 waits while a1 runs"
    );

    // A retry keeps its place at the head of the lane.
    let client = database.pool().connection().await.unwrap();
    let a1_task = ClaimedTask {
        id: a1,
        kind: "noop".into(),
        payload: json!({}),
        attempt: 1,
        max_attempts: 10,
    };
    fail(&database, &a1_task, true, &clock).await;
    clock.advance(Duration::from_secs(120));
    let retried: Vec<i64> = claim(&database, 10, &clock)
        .await
        .iter()
        .map(|task| task.id)
        .collect();
    assert_eq!(retried, vec![a1]);
    let a1_task = ClaimedTask {
        attempt: 2,
        ..a1_task
    };
    complete(&database, &a1_task, &clock).await;
    let next: Vec<i64> = claim(&database, 10, &clock)
        .await
        .iter()
        .map(|task| task.id)
        .collect();
    assert_eq!(next, vec![a2]);
    drop(client);
}

#[tokio::test]
async fn cancel_stops_an_unfinished_task_and_refuses_a_finished_one() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let client = database.pool().connection().await.unwrap();
    let queued = enqueue(&database, noop()).await;
    let dependent = enqueue(
        &database,
        NewTask {
            depends_on: vec![queued],
            ..noop()
        },
    )
    .await;
    assert_eq!(queue::cancel(&client, queued).await.unwrap(), "cancelled");
    assert_eq!(state_of(&database, dependent).await, "cancelled");

    let running = enqueue(&database, noop()).await;
    let task = claim(&database, 1, &clock).await.remove(0);
    assert_eq!(task.id, running);
    queue::cancel(&client, running).await.unwrap();
    assert!(
        complete(&database, &task, &clock).await.is_empty(),
        "the worker's outcome is discarded"
    );

    let error = queue::cancel(&client, running).await.unwrap_err();
    assert!(error.to_string().contains("already cancelled"), "{error}");
    let error = queue::cancel(&client, 424242).await.unwrap_err();
    assert!(
        error.to_string().contains("task 424242 does not exist"),
        "{error}"
    );
}

#[tokio::test]
async fn retry_runs_a_dead_or_cancelled_task_again_with_one_more_attempt() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let client = database.pool().connection().await.unwrap();
    let (id, task) = claim_one_attempt_task(&database, &clock).await;
    assert_eq!(
        fail(&database, &task, true, &clock).await,
        FailureOutcome::Dead
    );
    assert_eq!(queue::retry(&client, id).await.unwrap(), "queued");
    let record = queue::get(&client, id).await.unwrap().unwrap();
    assert_eq!((record.max_attempts, record.finished_at), (2, None));
    let again = claim(&database, 1, &clock).await.remove(0);
    assert_eq!(again.attempt, 2);
    complete(&database, &again, &clock).await;
    let error = queue::retry(&client, id).await.unwrap_err();
    assert!(error.to_string().contains("is succeeded"), "{error}");

    let cancelled = enqueue(&database, noop()).await;
    queue::cancel(&client, cancelled).await.unwrap();
    assert_eq!(queue::retry(&client, cancelled).await.unwrap(), "queued");
}

#[tokio::test]
async fn a_completion_records_what_was_applied_once_and_a_fenced_one_records_nothing() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let client = database.pool().connection().await.unwrap();
    let id = enqueue(&database, noop()).await;
    let stale = claim(&database, 1, &clock).await.remove(0);
    clock.advance(LEASE * 2);
    let mut rescuer = database.pool().connection().await.unwrap();
    queue::rescue_expired(&mut rescuer, SITE, &clock)
        .await
        .unwrap();
    let current = claim(&database, 1, &clock).await.remove(0);

    let applying = |task: &ClaimedTask| Completion {
        id: task.id,
        attempt: task.attempt,
        result: None,
        applied: vec![AppliedState {
            subject: "slurm.account:abc123".into(),
            state: json!({"fairshare": 1}),
        }],
        observation: None,
    };
    assert!(
        queue::complete(&client, &[applying(&stale)], &clock)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        queue::complete(&client, &[applying(&current)], &clock)
            .await
            .unwrap(),
        vec![id]
    );
    // Replaying the same completion (a retry after a lost reply) changes nothing.
    assert!(
        queue::complete(&client, &[applying(&current)], &clock)
            .await
            .unwrap()
            .is_empty()
    );

    let row = client
        .query_one("SELECT revision, task_id, state FROM provision.applied_state WHERE site = $1 AND subject = 'slurm.account:abc123'", &[&SITE])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>("revision"), 1);
    assert_eq!(row.get::<_, i64>("task_id"), id);
}

#[tokio::test]
async fn prune_deletes_old_finished_tasks_but_keeps_what_a_waiting_task_needs() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let client = database.pool().connection().await.unwrap();
    let done = enqueue(&database, noop()).await;
    let needed = enqueue(&database, noop()).await;
    let blocker = enqueue(&database, noop()).await;
    let waiting = enqueue(
        &database,
        NewTask {
            depends_on: vec![needed, blocker],
            ..noop()
        },
    )
    .await;
    let claimed = claim(&database, 3, &clock).await;
    complete(&database, &claimed[0], &clock).await;
    complete(&database, &claimed[1], &clock).await;
    let recent = enqueue(&database, noop()).await;

    let cutoff = clock.now().unwrap() + chrono::Duration::seconds(1);
    assert_eq!(queue::prune(&client, SITE, cutoff, 100).await.unwrap(), 1);
    for (id, present) in [
        (done, false),
        (needed, true),
        (blocker, true),
        (waiting, true),
        (recent, true),
    ] {
        assert_eq!(
            queue::get(&client, id).await.unwrap().is_some(),
            present,
            "task {id}"
        );
    }
}

#[tokio::test]
async fn release_hands_a_task_back_without_using_up_its_attempts() {
    let database = TestDatabase::new().await;
    let clock = clock();
    let client = database.pool().connection().await.unwrap();
    let (id, task) = claim_one_attempt_task(&database, &clock).await;
    assert_eq!(
        queue::release(&client, &[(id, task.attempt)], &clock)
            .await
            .unwrap(),
        vec![id]
    );
    let again = claim(&database, 1, &clock).await.remove(0);
    assert_eq!((again.id, again.attempt, again.max_attempts), (id, 2, 2));
    let history = queue::attempts(&client, id).await.unwrap();
    assert_eq!(history[0].outcome, "released");
}

#[tokio::test]
async fn a_burst_of_inserts_sends_one_wake_up_per_site_and_statement() {
    let database = TestDatabase::new().await;
    let mut listener = Listener::connect(database.url(), Channel::Queue)
        .await
        .unwrap();
    let client = database.pool().connection().await.unwrap();
    queue::enqueue_many(&client, SITE, "noop", &vec![json!({}); 200])
        .await
        .unwrap();
    queue::enqueue(&client, &NewTask::new("marker", "noop"))
        .await
        .unwrap();
    let mut before_marker = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let site = tokio::time::timeout_at(deadline, listener.next())
            .await
            .unwrap()
            .unwrap();
        if site == "marker" {
            break;
        }
        before_marker.push(site);
    }
    assert_eq!(before_marker, vec![SITE.to_string()]);
}

#[tokio::test]
async fn states_and_transitions_violating_the_schema_are_refused() {
    let database = TestDatabase::new().await;
    let message = sql_error(
        &database,
        "INSERT INTO queue.task (site, kind, state) VALUES ('expanse', 'noop', 'running')",
    )
    .await;
    assert!(message.contains("violates check constraint"), "{message}");
    let error: DbError = {
        let client = database.pool().connection().await.unwrap();
        queue::enqueue(
            &client,
            &NewTask {
                payload: json!("text"),
                ..noop()
            },
        )
        .await
        .unwrap_err()
    };
    assert!(
        error.to_string().contains("payload must be a JSON object"),
        "{error}"
    );
}

#[test]
fn the_manual_clock_moves_only_when_told() {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let clock = Clock::manual(start);
    assert_eq!(clock.now(), Some(start));
    clock.advance(Duration::from_secs(90));
    assert_eq!(clock.now(), Some(start + chrono::Duration::seconds(90)));
    assert_eq!(Clock::Database.now(), None);
}
