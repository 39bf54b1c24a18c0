//! Schedules (`queue.schedule`, V17): created, changed and removed through their functions; a
//! due schedule enqueued exactly once per period however many daemons fire at once; missed
//! periods skipped, not caught up; a role bound to a site sees and fires only its own.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use purser_sql::queue::Clock;
use purser_sql::schedule::{self, NewSchedule};
use purser_sql::test_harness::TestDatabase;
use serde_json::json;
use support::BoundRole;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
}

fn every_second(name: &str, site: &str) -> NewSchedule {
    NewSchedule {
        name: name.to_string(),
        site: site.to_string(),
        kind: "registry.end_dates".to_string(),
        payload: json!({"what": "ends"}),
        every: Duration::from_secs(1),
        first_run_at: Some(start()),
    }
}

/// The dedupe keys of the site's tasks, in id order.
async fn dedupe_keys(database: &TestDatabase, site: &str) -> Vec<String> {
    let client = database.pool().connection().await.unwrap();
    client
        .query(
            "SELECT dedupe_key FROM queue.task WHERE site = $1 ORDER BY id",
            &[&site],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn scheduling_creates_a_schedule_a_change_keeps_its_rhythm_and_unscheduling_says_whether_it_existed()
 {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let created = schedule::schedule_every(
        &client,
        &NewSchedule {
            every: Duration::from_secs(2 * 86_400),
            ..every_second("nightly", "expanse")
        },
    )
    .await
    .unwrap();
    assert_eq!(created.every, Duration::from_secs(2 * 86_400));
    assert_eq!(created.next_run_at, start());
    assert_eq!(created.last_task_id, None);
    // Days are stored as hours: one length whatever the time zone.
    let stored: String = client
        .query_one(
            "SELECT every::text FROM queue.schedule WHERE name = 'nightly'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, "48:00:00");

    let changed = schedule::schedule_every(
        &client,
        &NewSchedule {
            kind: "site.sync".to_string(),
            every: Duration::from_secs(3600),
            first_run_at: None,
            ..every_second("nightly", "expanse")
        },
    )
    .await
    .unwrap();
    assert_eq!(changed.kind, "site.sync");
    assert_eq!(changed.every, Duration::from_secs(3600));
    assert_eq!(changed.next_run_at, start(), "a change keeps next_run_at");
    assert_eq!(changed.created_at, created.created_at);
    assert_eq!(schedule::list(&client, None).await.unwrap(), vec![changed]);

    let audited: i64 = client
        .query_one(
            "SELECT count(*) FROM audit.event WHERE table_name = 'queue.schedule' AND row_key = '{\"name\": \"nightly\"}'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 2, "the creation and the change are audited");

    assert!(schedule::unschedule(&client, "nightly").await.unwrap());
    assert!(!schedule::unschedule(&client, "nightly").await.unwrap());
    assert!(schedule::list(&client, None).await.unwrap().is_empty());
    let removal: i64 = client
        .query_one(
            "SELECT count(*) FROM audit.event WHERE table_name = 'queue.schedule' AND operation = 'DELETE'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(removal, 1, "the removal is audited");
}

#[tokio::test]
async fn a_period_in_months_or_under_a_second_and_a_bad_name_are_refused_with_a_sentence() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let refused = |error: purser_sql::DbError| error.to_string();
    let months = client
        .query_one(
            "SELECT queue.schedule_every('monthly', 'expanse', 'site.sync', '{}', interval '1 month')",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        purser_sql::constraints::describe(&months),
        "every must be a fixed length (seconds, minutes, hours or days), not '1 mon'"
    );
    let short = schedule::schedule_every(
        &client,
        &NewSchedule {
            every: Duration::from_millis(500),
            ..every_second("fast", "expanse")
        },
    )
    .await
    .unwrap_err();
    assert!(
        refused(short).ends_with("every must be from 1 second to 10 years, not 00:00:00.5"),
        "a period under a second is refused"
    );
    let bad_name = schedule::schedule_every(&client, &every_second("no spaces", "expanse"))
        .await
        .unwrap_err();
    assert!(refused(bad_name).contains("name 'no spaces' is not a schedule name"));
    let bad_payload = schedule::schedule_every(
        &client,
        &NewSchedule {
            payload: json!([1, 2]),
            ..every_second("array", "expanse")
        },
    )
    .await
    .unwrap_err();
    assert!(refused(bad_payload).ends_with("payload must be a JSON object, not array"));
    assert!(schedule::list(&client, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn three_daemons_firing_at_once_over_a_simulated_hour_enqueue_each_of_3600_periods_exactly_once()
 {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    schedule::schedule_every(&client, &every_second("every-second", "expanse"))
        .await
        .unwrap();
    // Three daemons: three connections, one clock they share, firing concurrently each second.
    let daemons = [
        database.pool().connection().await.unwrap(),
        database.pool().connection().await.unwrap(),
        database.pool().connection().await.unwrap(),
    ];
    let clock = Clock::manual(start());
    let mut fired = 0;
    for _ in 0..3600 {
        let (first, second, third) = tokio::join!(
            schedule::fire(&daemons[0], "expanse", &clock, 100),
            schedule::fire(&daemons[1], "expanse", &clock, 100),
            schedule::fire(&daemons[2], "expanse", &clock, 100),
        );
        fired += first.unwrap().len() + second.unwrap().len() + third.unwrap().len();
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(fired, 3600);
    let expected: Vec<String> = (0..3600)
        .map(|second| {
            let period = start() + chrono::Duration::seconds(second);
            format!(
                "schedule:every-second:{}",
                period.format("%Y-%m-%dT%H:%M:%S%.6fZ")
            )
        })
        .collect();
    assert_eq!(dedupe_keys(&database, "expanse").await, expected);
    let after = &schedule::list(&client, Some("expanse")).await.unwrap()[0];
    assert_eq!(after.next_run_at, start() + chrono::Duration::seconds(3600));
    let audited: i64 = client
        .query_one(
            "SELECT count(*) FROM audit.event WHERE table_name = 'queue.schedule'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1, "firings are not audited, the creation is");
}

#[tokio::test]
async fn a_schedule_that_missed_many_periods_fires_once_and_moves_to_the_next_future_period() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    schedule::schedule_every(
        &client,
        &NewSchedule {
            every: Duration::from_secs(60),
            ..every_second("minutely", "expanse")
        },
    )
    .await
    .unwrap();
    // Down for ten and a half minutes: periods 0 to 10 have begun.
    let clock = Clock::manual(start() + chrono::Duration::seconds(630));
    let fired = schedule::fire(&client, "expanse", &clock, 100)
        .await
        .unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(
        fired[0].period_start,
        start() + chrono::Duration::seconds(600)
    );
    assert!(
        schedule::fire(&client, "expanse", &clock, 100)
            .await
            .unwrap()
            .is_empty(),
        "nothing more is due until the next period"
    );
    let after = &schedule::list(&client, None).await.unwrap()[0];
    assert_eq!(after.next_run_at, start() + chrono::Duration::seconds(660));
    assert_eq!(after.last_task_id, Some(fired[0].task_id));
    assert_eq!(
        dedupe_keys(&database, "expanse").await,
        vec!["schedule:minutely:2027-01-01T00:10:00.000000Z".to_string()]
    );
}

#[tokio::test]
async fn a_role_bound_to_a_site_sees_and_fires_only_its_sites_schedules_and_cannot_create_any() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    schedule::schedule_every(&client, &every_second("expanse-sync", "expanse"))
        .await
        .unwrap();
    schedule::schedule_every(&client, &every_second("delta-sync", "delta"))
        .await
        .unwrap();
    let delta = BoundRole::create(&database, "delta").await;
    {
        let bound = delta.pool.connection().await.unwrap();
        let seen: Vec<String> = schedule::list(&bound, None)
            .await
            .unwrap()
            .into_iter()
            .map(|found| found.name)
            .collect();
        assert_eq!(seen, vec!["delta-sync".to_string()]);
        assert!(
            schedule::list(&bound, Some("expanse"))
                .await
                .unwrap()
                .is_empty()
        );
        let clock = Clock::manual(start());
        // Asking for another site's schedules fires nothing: row-level security hides them.
        assert!(
            schedule::fire(&bound, "expanse", &clock, 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            schedule::fire(&bound, "delta", &clock, 100)
                .await
                .unwrap()
                .len(),
            1
        );
        let updated = bound
            .execute(
                "UPDATE queue.schedule SET next_run_at = next_run_at + interval '1 day'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(updated, 1, "only its own site's schedule is updated");
        let refused = schedule::schedule_every(&bound, &every_second("mine", "delta"))
            .await
            .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("permission denied for function schedule_every"),
            "{refused}"
        );
        let removed = schedule::unschedule(&bound, "delta-sync")
            .await
            .unwrap_err();
        assert!(
            removed
                .to_string()
                .contains("permission denied for function unschedule")
        );
    }
    delta.drop(&database).await;
    let names: Vec<String> = schedule::list(&client, None)
        .await
        .unwrap()
        .into_iter()
        .map(|found| found.name)
        .collect();
    assert_eq!(names, vec!["delta-sync", "expanse-sync"]);
    assert_eq!(
        dedupe_keys(&database, "expanse").await,
        Vec::<String>::new()
    );
}
