//! The reconciler's model (V18): desired state from the registry, observed state recorded with
//! completions, the plan between them, its guard rails, the dirty marks registry changes leave,
//! and the time-driven registry work. The managed system is an in-process test connector: it
//! claims the plan's `script.apply` tasks and completes them reporting the target as observed,
//! as a connector that read the site back would.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use purser_sql::provision::{self, ConnectorRegistration, Outcome, PlanRequest, PlannedAction};
use purser_sql::queue::Clock;
use purser_sql::seed;
use purser_sql::test_harness::{self, TestDatabase};
use serde_json::{Value, json};
use support::BoundRole;
use uuid::Uuid;

const SITE: &str = "expanse";
const CONNECTOR: &str = "script";

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 12, 0, 0).unwrap()
}

/// The demo centre with the script connector registered for expanse.
async fn centre() -> TestDatabase {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    seed::demo_centre(&client).await.unwrap();
    provision::register_connector(
        &client,
        &ConnectorRegistration {
            site: SITE.to_string(),
            connector: CONNECTOR.to_string(),
            model: provision::ACCOUNTS_MODEL.to_string(),
            mass_delete_percent: 10,
            mass_delete_minimum: 5,
        },
    )
    .await
    .unwrap();
    database
}

async fn plan(database: &TestDatabase, clock: &Clock, dry_run: bool) -> Vec<PlannedAction> {
    plan_with(database, clock, dry_run, false).await
}

async fn plan_with(
    database: &TestDatabase,
    clock: &Clock,
    dry_run: bool,
    allow_mass_delete: bool,
) -> Vec<PlannedAction> {
    let mut client = database.pool().connection().await.unwrap();
    provision::reconcile(
        &mut client,
        &PlanRequest {
            site: SITE,
            connector: CONNECTOR,
            scopes: None,
            allow_mass_delete,
            dry_run,
        },
        clock,
    )
    .await
    .unwrap()
}

async fn apply_all(database: &TestDatabase, clock: &Clock) -> usize {
    test_harness::apply_actions(database.pool(), SITE, CONNECTOR, clock)
        .await
        .unwrap()
}

/// The daemon's on-change pass over the site's dirty marks, then the test connector.
async fn on_change(database: &TestDatabase, clock: &Clock) {
    let mut connection = database.pool().connection().await.unwrap();
    provision::reconcile_dirty(&mut connection, SITE, 1000, clock)
        .await
        .unwrap();
    apply_all(database, clock).await;
}

/// The status the site was last seen holding for a subject.
async fn observed_status(database: &TestDatabase, subject: &str) -> String {
    observed(database, subject).await.unwrap()["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Plans and applies until nothing is left to do; returns the actions applied. An action
/// planned again for a target that did not hold waits out its backoff: time passes then.
async fn converge(database: &TestDatabase, clock: &Clock) -> usize {
    let mut applied = 0;
    for _ in 0..20 {
        plan(database, clock, false).await;
        let ran = apply_all(database, clock).await;
        applied += ran;
        if ran == 0 {
            // A conflict stays: the site holds it outside what the connector manages.
            if drift(database, clock)
                .await
                .iter()
                .all(|(_, action)| action == "conflict")
            {
                return applied;
            }
            clock.advance(Duration::from_secs(3600));
        }
    }
    panic!("the site did not converge in 20 rounds");
}

async fn drift(database: &TestDatabase, clock: &Clock) -> Vec<(String, String)> {
    let mut client = database.pool().connection().await.unwrap();
    let transaction = client.transaction().await.unwrap();
    transaction
        .execute(
            "SELECT set_config('purser.now', coalesce($1::timestamptz::text, ''), true)",
            &[&clock.now()],
        )
        .await
        .unwrap();
    let rows = transaction
        .query(
            "SELECT subject, action FROM report.drift WHERE site = $1 ORDER BY subject",
            &[&SITE],
        )
        .await
        .unwrap();
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

async fn observed(database: &TestDatabase, subject: &str) -> Option<Value> {
    let client = database.pool().connection().await.unwrap();
    client
        .query_opt(
            "SELECT state FROM provision.observed WHERE site = $1 AND connector = $2 AND subject = $3",
            &[&SITE, &CONNECTOR, &subject],
        )
        .await
        .unwrap()
        .map(|row| row.get(0))
}

async fn sql(database: &TestDatabase, statement: &str) {
    let client = database.pool().connection().await.unwrap();
    client.batch_execute(statement).await.unwrap();
}

#[tokio::test]
async fn a_new_site_is_planned_accounts_first_and_converges_to_an_empty_drift() {
    let database = centre().await;
    let clock = Clock::manual(start());
    let planned = plan(&database, &clock, true).await;
    let actions: Vec<(&str, &str)> = planned
        .iter()
        .map(|a| (a.action.as_str(), a.subject.as_str()))
        .collect();
    assert_eq!(actions.len(), 7, "{actions:?}");
    assert!(
        actions[..2]
            .iter()
            .all(|(action, subject)| *action == "create" && subject.starts_with("account/"))
    );
    assert!(
        planned.iter().all(|a| a.task_id.is_none()),
        "a dry run enqueues nothing"
    );
    assert_eq!(apply_all(&database, &clock).await, 0);

    assert_eq!(converge(&database, &clock).await, 7);
    assert!(drift(&database, &clock).await.is_empty());
    assert_eq!(
        observed_status(&database, "association/che260001/alan").await,
        "active"
    );
    // Planned again: nothing to do, and nothing recorded.
    assert!(plan(&database, &clock, false).await.is_empty());
}

#[tokio::test]
async fn a_member_past_her_cap_is_blocked_and_a_cap_raise_unblocks_her_through_dirty_marks() {
    let database = centre().await;
    let clock = Clock::manual(start());
    converge(&database, &clock).await;
    sql(&database, "DELETE FROM provision.dirty").await;
    // Alan's cap falls below what he charged: the trigger marks che260001.
    sql(
        &database,
        "UPDATE registry.membership m SET cap_su = 0
         FROM registry.cluster_account ca
         WHERE ca.person_id = m.person_id AND ca.username = 'alan'",
    )
    .await;
    let client = database.pool().connection().await.unwrap();
    let marks: Vec<String> = client
        .query(
            "SELECT scope FROM provision.dirty WHERE site = $1",
            &[&SITE],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(marks, vec!["che260001".to_string()]);
    let mut connection = database.pool().connection().await.unwrap();
    let passes = provision::reconcile_dirty(&mut connection, SITE, 1000, &clock)
        .await
        .unwrap();
    assert_eq!(passes.len(), 1);
    assert_eq!(passes[0].actions, 1, "{passes:?}");
    apply_all(&database, &clock).await;
    assert_eq!(
        observed_status(&database, "association/che260001/alan").await,
        "blocked"
    );
    sql(
        &database,
        "UPDATE registry.membership m SET cap_su = NULL
         FROM registry.cluster_account ca
         WHERE ca.person_id = m.person_id AND ca.username = 'alan'",
    )
    .await;
    on_change(&database, &clock).await;
    assert_eq!(
        observed_status(&database, "association/che260001/alan").await,
        "active"
    );
    assert!(drift(&database, &clock).await.is_empty());
}

#[tokio::test]
async fn a_plan_that_would_delete_more_than_the_threshold_applies_nothing_until_allowed() {
    let database = centre().await;
    let clock = Clock::manual(start());
    converge(&database, &clock).await;
    // Eight stray subjects the site holds and Purser manages: over the threshold of 5.
    sql(
        &database,
        "INSERT INTO provision.observed (site, connector, subject, state, task_id)
         SELECT 'expanse', 'script', 'association/che260001/stray' || n, '{\"status\": \"active\"}', 0
         FROM generate_series(1, 8) n",
    )
    .await;
    let refused = plan(&database, &clock, false).await;
    assert_eq!(refused.len(), 8);
    assert!(refused.iter().all(|a| a.task_id.is_none()));
    let note = refused[0].note.as_deref().unwrap();
    assert!(
        note.starts_with("the plan deletes 8 of the 15 subjects connector script manages on site expanse, more than its threshold of 5"),
        "{note}"
    );
    assert_eq!(apply_all(&database, &clock).await, 0);
    let client = database.pool().connection().await.unwrap();
    let refusal: Option<String> = client
        .query_one(
            "SELECT refused FROM provision.plan ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(refusal.as_deref(), Some(note));

    let allowed = plan_with(&database, &clock, false, true).await;
    assert!(
        allowed
            .iter()
            .all(|a| a.action == "delete" && a.task_id.is_some())
    );
    assert_eq!(apply_all(&database, &clock).await, 8);
    assert!(drift(&database, &clock).await.is_empty());
}

#[tokio::test]
async fn an_empty_desired_set_deletes_nothing_and_unmanaged_subjects_are_never_touched() {
    let database = centre().await;
    let clock = Clock::manual(start());
    // The site holds an account Purser does not manage under a name the registry wants, and
    // one it does not want at all.
    sql(
        &database,
        "INSERT INTO provision.observed (site, connector, subject, state, managed, task_id) VALUES
         ('expanse', 'script', 'account/che260001', '{\"status\": \"active\"}', false, 0),
         ('expanse', 'script', 'account/root', '{\"status\": \"active\"}', false, 0)",
    )
    .await;
    let planned = plan(&database, &clock, false).await;
    let conflict = planned
        .iter()
        .find(|a| a.subject == "account/che260001")
        .unwrap();
    assert_eq!(conflict.action, "conflict");
    assert!(conflict.task_id.is_none());
    assert!(planned.iter().all(|a| a.subject != "account/root"));
    converge(&database, &clock).await;
    assert_eq!(
        observed(&database, "account/che260001").await.unwrap(),
        json!({"status": "active"}),
        "the unmanaged account is left as it was"
    );

    // Every allocation of the site leaves the registry's desired set (their cluster is
    // renamed away): the managed subjects stay, deletes are withheld.
    sql(
        &database,
        "INSERT INTO provision.observed (site, connector, subject, state, task_id)
         VALUES ('expanse', 'script', 'account/old1', '{\"status\": \"active\"}', 0)",
    )
    .await;
    sql(
        &database,
        "UPDATE registry.cluster SET name = 'renamed' WHERE name = 'expanse'",
    )
    .await;
    let planned = plan(&database, &clock, false).await;
    assert!(!planned.is_empty());
    assert!(
        planned
            .iter()
            .all(|a| a.action == "delete" && a.task_id.is_none())
    );
    assert!(
        planned[0]
            .note
            .as_deref()
            .unwrap()
            .contains("an empty desired set never deletes")
    );
}

#[tokio::test]
async fn a_superseded_action_is_cancelled_before_it_runs_and_a_dead_one_is_planned_again_after_a_backoff()
 {
    let database = centre().await;
    let clock = Clock::manual(start());
    converge(&database, &clock).await;
    let set_status = |status: &'static str| {
        format!(
            "UPDATE registry.membership m SET status = '{status}'
             FROM registry.cluster_account ca
             WHERE ca.person_id = m.person_id AND ca.username = 'alan'"
        )
    };
    sql(&database, &set_status("suspended")).await;
    let blocked = plan(&database, &clock, false).await;
    let block_task = blocked[0].task_id.unwrap();
    // Before it runs, the membership is active again: the block is cancelled, not applied.
    sql(&database, &set_status("active")).await;
    assert!(plan(&database, &clock, false).await.is_empty());
    let client = database.pool().connection().await.unwrap();
    let state: String = client
        .query_one(
            "SELECT state::text FROM queue.task WHERE id = $1",
            &[&block_task],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        state, "cancelled",
        "a queued action whose subject no longer drifts is cancelled"
    );
    assert_eq!(apply_all(&database, &clock).await, 0);

    // An action whose task died is planned again from state, after a backoff.
    sql(&database, &set_status("suspended")).await;
    let first = plan(&database, &clock, false).await;
    let task = first[0].task_id.unwrap();
    client
        .execute(
            "UPDATE queue.task SET state = 'dead', finished_at = now() WHERE id = $1",
            &[&task],
        )
        .await
        .unwrap();
    // It backs off a minute from the last try, not enqueued meanwhile (a task waiting at the
    // head of the lane would hold up the site's other actions)…
    let backing_off = plan(&database, &clock, false).await;
    assert_eq!(backing_off.len(), 1);
    assert_eq!(backing_off[0].outcome, Outcome::BackingOff);
    assert_eq!(backing_off[0].task_id, None);
    assert_eq!(
        backing_off[0].run_at,
        Some(start() + chrono::Duration::minutes(1))
    );
    // …and is enqueued by the first plan after that.
    clock.advance(Duration::from_secs(60));
    let again = plan(&database, &clock, false).await;
    assert_eq!(again[0].outcome, Outcome::Enqueued);
    assert_ne!(again[0].task_id, Some(task));
}

/// A small deterministic generator for the property test (xorshift64*).
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[tokio::test]
async fn after_any_sequence_of_changes_charges_clock_jumps_and_drift_reconciling_leaves_no_drift() {
    for seed_value in [1_u64, 7, 42, 2026] {
        let database = centre().await;
        let clock = Clock::manual(start());
        let mut random = Random(seed_value);
        converge(&database, &clock).await;
        let client = database.pool().connection().await.unwrap();
        for step in 0..25 {
            let change = random.below(9);
            let statement = match change {
                0 => "UPDATE registry.membership SET cap_su = (random() * 100)::numeric(10,2)
                      WHERE id = (SELECT id FROM registry.membership ORDER BY random() LIMIT 1)"
                    .to_string(),
                1 => "UPDATE registry.membership SET status = (ARRAY['active','suspended','removed'])[1 + floor(random() * 3)::int]
                      WHERE id = (SELECT id FROM registry.membership ORDER BY random() LIMIT 1)"
                    .to_string(),
                2 => "UPDATE registry.person SET status = (ARRAY['active','inactive'])[1 + floor(random() * 2)::int]
                      WHERE id = (SELECT id FROM registry.person WHERE status <> 'merged' ORDER BY random() LIMIT 1)"
                    .to_string(),
                3 => "UPDATE registry.project SET status = (ARRAY['active','suspended'])[1 + floor(random() * 2)::int]
                      WHERE id = (SELECT id FROM registry.project ORDER BY random() LIMIT 1)"
                    .to_string(),
                4 => "SELECT registry.apply_diff(a.id, 'adjustment', 'property test',
                                                su_delta => -least(b.balance_su, 100000) - 1)
                      FROM registry.allocation a JOIN report.allocation_balance b ON b.allocation_id = a.id
                      WHERE b.balance_su > 0 ORDER BY random() LIMIT 1"
                    .to_string(),
                5 => "SELECT registry.apply_diff(a.id, 'supplement', 'property test', su_delta => 50000)
                      FROM registry.allocation a ORDER BY random() LIMIT 1"
                    .to_string(),
                6 => {
                    clock.advance(Duration::from_secs(86_400 * (1 + random.below(60))));
                    String::new()
                }
                7 => "DELETE FROM provision.observed
                      WHERE ctid = (SELECT ctid FROM provision.observed ORDER BY random() LIMIT 1)"
                    .to_string(),
                _ => "UPDATE provision.observed SET state = state || '{\"status\": \"tampered\"}'
                      WHERE ctid = (SELECT ctid FROM provision.observed ORDER BY random() LIMIT 1)"
                    .to_string(),
            };
            if !statement.is_empty() {
                client
                    .batch_execute(&statement)
                    .await
                    .unwrap_or_else(|error| panic!("seed {seed_value} step {step}: {error}"));
            }
            if random.below(3) == 0 {
                // Now and then the daemon's on-change pass runs between changes.
                let mut connection = database.pool().connection().await.unwrap();
                provision::reconcile_dirty(&mut connection, SITE, 1000, &clock)
                    .await
                    .unwrap();
                apply_all(&database, &clock).await;
            }
        }
        converge(&database, &clock).await;
        assert_eq!(
            drift(&database, &clock).await,
            Vec::<(String, String)>::new(),
            "seed {seed_value}: observed equals desired for every subject"
        );
    }
}

#[tokio::test]
async fn time_closes_allocations_at_their_end_and_tops_up_once_per_period() {
    let database = centre().await;
    let clock = Clock::manual(start());
    let client = database.pool().connection().await.unwrap();
    let allocation: Uuid = client
        .query_one(
            "SELECT id FROM registry.allocation WHERE account_name = 'che260001'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    client
        .execute(
            "INSERT INTO registry.topup_rule (allocation_id, su, every, next_at)
             VALUES ($1, 100, interval '1 day', $2::timestamptz)",
            &[&allocation, &start()],
        )
        .await
        .unwrap();
    let mut connection = database.pool().connection().await.unwrap();
    // Three days pass: three top-ups, however often the work runs.
    clock.advance(Duration::from_secs(3 * 86_400 - 1));
    for _ in 0..3 {
        provision::advance_time(&mut connection, SITE, &clock)
            .await
            .unwrap();
    }
    let topups: i64 = client
        .query_one(
            "SELECT count(*) FROM registry.allocation_diff WHERE allocation_id = $1 AND kind = 'supplement' AND source = 'automated'",
            &[&allocation],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(topups, 3);

    // Past the allocation's end: closed by an automated status diff, its account blocked.
    let ends: DateTime<Utc> = client
        .query_one(
            "SELECT ends_at FROM registry.allocation WHERE id = $1",
            &[&allocation],
        )
        .await
        .unwrap()
        .get(0);
    let clock = Clock::manual(ends + chrono::Duration::minutes(1));
    let done = provision::advance_time(&mut connection, SITE, &clock)
        .await
        .unwrap();
    assert!(
        done.iter()
            .any(|work| work.what == "closed" && work.allocation_id == allocation)
    );
    let reason: String = client
        .query_one(
            "SELECT reason FROM registry.allocation_diff WHERE allocation_id = $1 AND kind = 'status'",
            &[&allocation],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        reason,
        "Allocation marked as INACTIVE due to end time reached"
    );
    converge(&database, &clock).await;
    assert_eq!(
        observed_status(&database, "account/che260001").await,
        "blocked"
    );
}

#[tokio::test]
async fn an_on_change_pass_removes_the_association_of_a_username_that_changed() {
    let database = centre().await;
    let clock = Clock::manual(start());
    converge(&database, &clock).await;
    sql(
        &database,
        "UPDATE registry.cluster_account SET username = 'aturing' WHERE username = 'alan'",
    )
    .await;
    on_change(&database, &clock).await;
    assert_eq!(
        observed(&database, "association/che260001/alan").await,
        None
    );
    assert_eq!(
        observed_status(&database, "association/che260001/aturing").await,
        "active"
    );
    assert!(drift(&database, &clock).await.is_empty());
}

#[tokio::test]
async fn a_charge_marks_its_account_only_when_it_takes_a_member_to_her_cap() {
    let database = centre().await;
    let clock = Clock::manual(start());
    converge(&database, &clock).await;
    sql(&database, "DELETE FROM provision.dirty").await;
    let client = database.pool().connection().await.unwrap();
    let charge = |job: &'static str| {
        format!(
            "SELECT r.rejected FROM registry.cluster c
             JOIN registry.resource res ON res.cluster_id = c.id
             JOIN registry.allocation a ON a.cluster_id = c.id AND a.account_name = 'che260001'
             JOIN registry.cluster_account ca ON ca.cluster_id = c.id AND ca.username = 'alan'
             CROSS JOIN LATERAL registry.charge_usage_batch(
                 ARRAY[c.id], ARRAY['{job}'], ARRAY[now() - interval '2 hours'], ARRAY[now() - interval '1 hour'],
                 ARRAY[res.id], ARRAY[a.id], ARRAY[ca.person_id], ARRAY[1]::numeric[]) r
             WHERE c.name = 'expanse' AND res.name = (SELECT min(name) FROM registry.resource WHERE cluster_id = c.id)"
        )
    };
    let marks = || async {
        client
            .query_one("SELECT count(*) FROM provision.dirty", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    // Far below a cap of 100,000: nothing changes for access, nothing is marked.
    client
        .batch_execute(
            "UPDATE registry.membership m SET cap_su = 100000 FROM registry.cluster_account ca
             WHERE ca.person_id = m.person_id AND ca.username = 'alan'",
        )
        .await
        .unwrap();
    client
        .batch_execute("DELETE FROM provision.dirty")
        .await
        .unwrap();
    let rejected: Option<String> = client.query_one(&charge("j1"), &[]).await.unwrap().get(0);
    assert_eq!(rejected, None);
    assert_eq!(
        marks().await,
        0,
        "a charge that changes no access marks nothing"
    );
    // A cap just above what Alan has charged: the next charge takes him to it.
    client
        .batch_execute(
            "UPDATE registry.membership m SET cap_su = mt.charged_su + 0.000001
             FROM registry.cluster_account ca, registry.member_total mt
             WHERE ca.person_id = m.person_id AND ca.username = 'alan'
               AND mt.allocation_id = m.allocation_id AND mt.person_id = m.person_id",
        )
        .await
        .unwrap();
    client
        .batch_execute("DELETE FROM provision.dirty")
        .await
        .unwrap();
    let rejected: Option<String> = client.query_one(&charge("j2"), &[]).await.unwrap().get(0);
    assert_eq!(rejected, None);
    assert_eq!(
        marks().await,
        1,
        "the charge that reaches the cap marks che260001"
    );
    on_change(&database, &clock).await;
    assert_eq!(
        observed_status(&database, "association/che260001/alan").await,
        "blocked"
    );
}

#[tokio::test]
async fn a_role_bound_to_a_site_registers_its_connector_makes_its_reconciler_schedules_and_plans_its_site_only()
 {
    let database = centre().await;
    let expanse = BoundRole::create(&database, "expanse").await;
    {
        let bound = expanse.pool.connection().await.unwrap();
        provision::register_connector(
            &bound,
            &ConnectorRegistration {
                site: SITE.to_string(),
                connector: CONNECTOR.to_string(),
                model: provision::ACCOUNTS_MODEL.to_string(),
                mass_delete_percent: 10,
                mass_delete_minimum: 5,
            },
        )
        .await
        .unwrap();
        let observe = json!({"connector": "script"});
        let schedule = |site, name_suffix, kind| provision::ReconcilerSchedule {
            site,
            name_suffix,
            kind,
            payload: &observe,
            every: Duration::from_secs(300),
        };
        provision::ensure_schedule(&bound, &schedule(SITE, "script:observe", "script.observe"))
            .await
            .unwrap();
        provision::ensure_schedule(&bound, &schedule(SITE, "time", "registry.advance_time"))
            .await
            .unwrap();
        let other_site =
            provision::ensure_schedule(&bound, &schedule("delta", "time", "registry.advance_time"))
                .await
                .unwrap_err()
                .to_string();
        assert!(
            other_site.contains("serves site expanse, so it may not schedule for site delta"),
            "{other_site}"
        );
        let other_kind = provision::ensure_schedule(&bound, &schedule(SITE, "x", "site.sync"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            other_kind.contains("is not one of the reconciler's"),
            "{other_kind}"
        );
        let mut planning = expanse.pool.connection().await.unwrap();
        let planned = provision::reconcile(
            &mut planning,
            &PlanRequest {
                site: SITE,
                connector: CONNECTOR,
                scopes: None,
                allow_mass_delete: false,
                dry_run: false,
            },
            &Clock::manual(start()),
        )
        .await
        .unwrap();
        assert_eq!(planned.len(), 7);
        assert!(
            planned
                .iter()
                .all(|action| action.outcome == Outcome::Enqueued)
        );
    }
    let client = database.pool().connection().await.unwrap();
    let names: Vec<String> = client
        .query("SELECT name FROM queue.schedule ORDER BY name", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        names,
        vec!["purser:expanse:script:observe", "purser:expanse:time"]
    );
    expanse.drop(&database).await;
}
