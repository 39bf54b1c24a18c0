//! The test harness itself: each test's database is its own, kept when the test fails.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use purser_sql::queue::{self, NewTask};
use purser_sql::test_harness::TestDatabase;

/// Writes tasks of its own site one transaction at a time, checking after each that the
/// table holds exactly its own rows.
async fn write_alone(site: &str) {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    for written in 1..=100_i64 {
        queue::enqueue(&client, &NewTask::new(site, "noop"))
            .await
            .unwrap();
        let rows = client
            .query("SELECT site, count(*) FROM queue.task GROUP BY site", &[])
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "another test's rows are visible");
        assert_eq!(rows[0].get::<_, String>(0), site);
        assert_eq!(rows[0].get::<_, i64>(1), written);
    }
}

#[tokio::test]
async fn two_tests_writing_the_same_table_in_parallel_do_not_see_each_others_rows_first() {
    write_alone("first").await;
}

#[tokio::test]
async fn two_tests_writing_the_same_table_in_parallel_do_not_see_each_others_rows_second() {
    write_alone("second").await;
}

async fn database_exists(name: &str) -> bool {
    let probe = TestDatabase::new().await;
    let client = probe.pool().connection().await.unwrap();
    purser_sql::catalog::database_exists(&client, name)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_passing_tests_database_is_dropped_and_a_failing_ones_kept() {
    let passing = TestDatabase::new().await;
    let passing_name = passing.name().to_string();
    assert!(database_exists(&passing_name).await);
    drop(passing);
    assert!(!database_exists(&passing_name).await);

    // A "test" that fails while holding its database, in a thread of its own.
    let failing = std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let database = TestDatabase::new().await;
            let name = database.name().to_string();
            std::panic::panic_any(name);
        })
    })
    .join();
    let kept_name = *failing.unwrap_err().downcast::<String>().unwrap();
    assert!(
        database_exists(&kept_name).await,
        "the failing test's database was dropped"
    );

    let cleanup = TestDatabase::new().await;
    let admin =
        purser_sql::connect_pool(&cleanup.url().replace(cleanup.name(), "postgres"), 1).unwrap();
    purser_sql::catalog::drop_database(&admin, &kept_name)
        .await
        .unwrap();
}
