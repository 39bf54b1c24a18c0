//! The reconciler in real `purser daemon` processes, with the script connector running a site
//! program: a new site is made to match the registry, a registry change made with plain SQL
//! reaches the site within seconds with nobody calling anything, and a daemon killed with
//! SIGKILL while an action runs leaves nothing half done: its successor converges, and no
//! target is applied by two tasks.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use purser_sql::seed;
use purser_sql::test_harness::TestDatabase;
use support::{
    Daemons, scalar, scratch, signal, spawn_daemon, spawn_purser_at, wait_for_exit, wait_until,
    write_script,
};

/// The site program: logs each run (task, attempt, subject, action) and reports the target as
/// what the site holds. With `HANG_ONCE` set, the first run of that subject hangs (its daemon
/// is killed under it).
fn site_program(dir: &Path) -> PathBuf {
    let program = dir.join("apply");
    write_script(
        &program,
        &format!(
            "cat > /dev/null\n\
             echo \"$PURSER_TASK_ID $PURSER_TASK_ATTEMPT $PURSER_SUBJECT $PURSER_ACTION\" >> {log}\n\
             if [ -n \"$HANG_ONCE\" ] && [ \"$PURSER_SUBJECT\" = \"$HANG_ONCE\" ] && [ ! -e {hung} ]; then\n\
                 touch {hung}; exec sleep 120\n\
             fi\n\
             printf '{{\"applied\": [{{\"subject\": \"%s\", \"state\": %s}}]}}\\n' \"$PURSER_SUBJECT\" \"$PURSER_TARGET\"",
            log = dir.join("applied.log").display(),
            hung = dir.join("hung").display(),
        ),
    );
    program
}

fn config(dir: &Path, hang_once: Option<&str>) -> PathBuf {
    let program = site_program(dir);
    let env = hang_once
        .map(|subject| format!(", env = {{ HANG_ONCE = \"{subject}\" }}"))
        .unwrap_or_default();
    let path = dir.join("purser.toml");
    std::fs::write(
        &path,
        format!(
            "[sites.expanse]\nlease = \"1s\"\nmaintenance_interval = \"200ms\"\npoll_interval = \"100ms\"\n\
             [sites.expanse.script]\napply = {{ program = \"{}\", timeout = \"2m\"{env} }}\n",
            program.display()
        ),
    )
    .unwrap();
    path
}

async fn drift(database: &TestDatabase) -> i64 {
    scalar(
        database.pool(),
        "SELECT count(*) FROM report.drift WHERE site = 'expanse'",
    )
    .await
}

/// Waits until the site holds the demo centre's 7 subjects and nothing drifts.
async fn wait_until_the_site_matches(database: &TestDatabase) {
    wait_until("the site holds what the registry says", || async {
        scalar(
            database.pool(),
            "SELECT count(*) FROM provision.observed WHERE site = 'expanse'",
        )
        .await
            == 7
            && drift(database).await == 0
    })
    .await;
}

async fn observed_status(database: &TestDatabase, subject: &str) -> Option<String> {
    let client = database.pool().connection().await.unwrap();
    client
        .query_opt(
            "SELECT state ->> 'status' FROM provision.observed WHERE site = 'expanse' AND subject = $1",
            &[&subject],
        )
        .await
        .unwrap()
        .map(|row| row.get(0))
}

async fn centre() -> TestDatabase {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    seed::demo_centre(&client).await.unwrap();
    database
}

#[tokio::test]
async fn a_daemon_makes_a_new_site_match_and_a_plain_sql_change_reaches_it_within_seconds() {
    let database = centre().await;
    let dir = scratch("reconcile-site");
    let daemons = Daemons(vec![spawn_daemon(
        &database,
        &config(&dir, None),
        "expanse",
        "daemon.log",
    )]);
    wait_until_the_site_matches(&database).await;

    // An admin suspends a membership in psql: the trigger marks the account, the daemon hears
    // of it and blocks the association. Nobody calls anything.
    let started = std::time::Instant::now();
    database
        .pool()
        .connection()
        .await
        .unwrap()
        .batch_execute(
            "UPDATE registry.membership m SET status = 'suspended'
             FROM registry.cluster_account ca
             WHERE ca.person_id = m.person_id AND ca.username = 'alan'",
        )
        .await
        .unwrap();
    wait_until("alan is blocked at the site", || async {
        observed_status(&database, "association/che260001/alan")
            .await
            .as_deref()
            == Some("blocked")
    })
    .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(drift(&database).await, 0);
    daemons.stop().await;
}

#[tokio::test]
async fn a_daemon_killed_while_an_action_runs_leaves_its_successor_to_converge_with_each_target_applied_by_one_task()
 {
    let database = centre().await;
    let dir = scratch("reconcile-crash");
    let config = config(&dir, Some("account/che260001"));
    let mut first = spawn_daemon(&database, &config, "expanse", "first.log");
    wait_until("the first action hangs in the site program", || async {
        dir.join("hung").exists()
    })
    .await;
    signal(&first, Signal::SIGKILL);
    wait_for_exit(&mut first).await;

    let daemons = Daemons(vec![spawn_daemon(
        &database,
        &config,
        "expanse",
        "second.log",
    )]);
    wait_until_the_site_matches(&database).await;
    daemons.stop().await;

    // Each subject was applied under one task: the successor's plans found the first daemon's
    // task and re-ran it (a second attempt) instead of enqueueing the target again.
    let log = std::fs::read_to_string(dir.join("applied.log")).unwrap();
    let mut tasks_by_subject: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
        std::collections::BTreeMap::new();
    for line in log.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        tasks_by_subject
            .entry(fields[2])
            .or_default()
            .insert(fields[0]);
    }
    assert_eq!(tasks_by_subject.len(), 7, "{log}");
    for (subject, tasks) in &tasks_by_subject {
        assert_eq!(
            tasks.len(),
            1,
            "{subject} was applied by tasks {tasks:?}:\n{log}"
        );
    }
    let hung_runs = log
        .lines()
        .filter(|line| line.contains(" account/che260001 "))
        .count();
    assert_eq!(hung_runs, 2, "the killed attempt and its retry:\n{log}");
    assert_eq!(
        scalar(
            database.pool(),
            "SELECT count(*) FROM queue.task WHERE site = 'expanse' AND kind = 'script.apply' AND state <> 'succeeded'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_daemon_logged_in_as_its_sites_own_role_reconciles_its_site() {
    let database = centre().await;
    let dir = scratch("reconcile-site-role");
    let role = format!(
        "site_reconcile_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let owner = database.pool().connection().await.unwrap();
    purser_sql::site_role::create(&owner, &role, "expanse", Some("a password"))
        .await
        .unwrap();
    let config = config(&dir, None);
    let daemons = Daemons(vec![spawn_purser_at(
        &database.url_as(&role, "a password"),
        &[
            "daemon",
            "--site",
            "expanse",
            "--config",
            config.to_str().unwrap(),
        ],
        &dir.join("daemon.log"),
    )]);
    wait_until_the_site_matches(&database).await;
    assert_eq!(
        scalar(
            database.pool(),
            "SELECT count(*) FROM queue.schedule WHERE name = 'purser:expanse:time'"
        )
        .await,
        1,
        "the daemon made its site's schedule without the right to make any other"
    );
    daemons.stop().await;
    purser_sql::site_role::drop_role(&owner, &role)
        .await
        .unwrap();
}
