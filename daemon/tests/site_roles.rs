//! `purser site-role`: a login role made by the command serves one site. Logged in as it, a
//! client cannot update, delete, claim or complete another site's task, while a real
//! `purser daemon` connected as it runs its own site's tasks; a daemon refuses a site its
//! role does not serve.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use chrono::Utc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use purser_sql::queue::{self, ClaimRequest, Clock, Completion, NewTask};
use purser_sql::test_harness::TestDatabase;
use support::{DEADLINE, add_cluster, purser, stdout, wait_until};
use uuid::Uuid;

/// A role name of this test's own: roles belong to the whole server, which tests share.
fn role_name() -> String {
    format!("site_cli_{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// A scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("purser-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `purser ARGS…` connected as `url`, its stderr going to `log`.
fn spawn_as(url: &str, args: &[&str], log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(args)
        .env("PURSER_DATABASE_URL", url)
        .env("PURSER_LOG", "info")
        .env_remove("PURSER_CONFIG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

async fn wait_for_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "purser did not exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "it should have failed");
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[tokio::test]
async fn a_site_role_made_by_the_command_runs_its_own_sites_tasks_and_no_other_sites() {
    let database = TestDatabase::new().await;
    add_cluster(&database, "expanse").await;
    add_cluster(&database, "delta").await;
    let dir = scratch("site-role");
    let role = role_name();
    let password = "correct horse battery staple";
    let password_file = dir.join("password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let made = stdout(&purser(
        &database,
        &[
            "site-role",
            "create",
            "--site",
            "delta",
            "--role",
            &role,
            "--password-file",
            password_file.to_str().unwrap(),
        ],
    ));
    assert_eq!(made, "", "a password from a file is not printed");
    let owner = database.pool().connection().await.unwrap();
    let stored: String = owner
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&role],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        stored.starts_with("SCRAM-SHA-256$") && !stored.contains(password),
        "only a verifier is kept: {stored}"
    );

    // Expanse's work: one task queued, one running under a claim of expanse's daemon.
    let queued = queue::enqueue(&owner, &NewTask::new("expanse", "noop"))
        .await
        .unwrap();
    let running = queue::enqueue(&owner, &NewTask::new("expanse", "noop"))
        .await
        .unwrap();
    owner
        .execute(
            "UPDATE queue.task SET state = 'running', attempts = 1, lease_expires_at = now() + interval '1 hour' WHERE id = $1",
            &[&running],
        )
        .await
        .unwrap();

    let url = database.url_as(&role, password);
    let as_role = purser_sql::connect_pool(&url, 2).unwrap();
    let client = as_role.connection().await.unwrap();
    for sql in [
        "UPDATE queue.task SET state = 'cancelled', finished_at = now() WHERE site = 'expanse'",
        "DELETE FROM queue.task WHERE site = 'expanse'",
    ] {
        assert_eq!(client.execute(sql, &[]).await.unwrap(), 0, "{sql}");
    }
    let kinds = vec!["noop".to_string()];
    let clock = Clock::manual(Utc::now() + chrono::Duration::seconds(5));
    let claimed = queue::claim(
        &client,
        &ClaimRequest {
            site: "expanse",
            worker_id: Uuid::now_v7(),
            kinds: &kinds,
            limited_kinds: &BTreeMap::new(),
            limit: 10,
            lease: Duration::from_secs(30),
        },
        &clock,
    )
    .await
    .unwrap();
    assert!(claimed.is_empty(), "{claimed:?}");
    let completion = Completion {
        id: running,
        attempt: 1,
        result: None,
        applied: Vec::new(),
        observation: None,
    };
    assert!(
        queue::complete(&client, &[completion], &clock)
            .await
            .unwrap()
            .is_empty()
    );
    let refused = client
        .query_one(
            "SELECT queue.enqueue(site => 'expanse', kind => 'noop')",
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        refused
            .as_db_error()
            .unwrap()
            .message()
            .contains("serves site delta, so it may not enqueue for site expanse")
    );

    // Its own site's work runs: a real daemon, connected as the role.
    let own = queue::enqueue(&client, &NewTask::new("delta", "noop"))
        .await
        .unwrap();
    drop(client);
    as_role.close();
    let mut daemon = spawn_as(
        &url,
        &["daemon", "--site", "delta"],
        &dir.join("daemon.log"),
    );
    wait_until("delta's task succeeded", || async {
        queue::get(&owner, own).await.unwrap().unwrap().state == "succeeded"
    })
    .await;
    kill(
        Pid::from_raw(i32::try_from(daemon.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    assert!(wait_for_exit(&mut daemon).await.success());
    assert_eq!(
        queue::get(&owner, queued).await.unwrap().unwrap().state,
        "queued"
    );
    assert_eq!(
        queue::get(&owner, running).await.unwrap().unwrap().state,
        "running"
    );

    let listed = stdout(&purser(&database, &["site-role", "list"]));
    let line = listed.lines().find(|line| line.contains(&role)).unwrap();
    assert!(
        line.contains("delta") && line.ends_with("active"),
        "{listed}"
    );
    let dropped = stdout(&purser(&database, &["site-role", "drop", &role]));
    assert_eq!(dropped, format!("role {role} of site delta is dropped"));
    let left: i64 = owner
        .query_one("SELECT count(*) FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    let recorded: Vec<String> = owner
        .query(
            "SELECT operation FROM audit.event WHERE table_name = 'queue.site_role' AND row_key->>'role_name' = $1 ORDER BY id",
            &[&role],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        recorded,
        ["INSERT", "DELETE"],
        "the binding's life is in the audit log"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_daemon_refuses_a_site_its_database_role_does_not_serve() {
    let database = TestDatabase::new().await;
    add_cluster(&database, "expanse").await;
    add_cluster(&database, "delta").await;
    let dir = scratch("site-role-refused");
    let role = role_name();
    let password = stdout(&purser(
        &database,
        &["site-role", "create", "--site", "delta", "--role", &role],
    ));
    assert_eq!(
        password.len(),
        43,
        "256 random bits, printed once: {password}"
    );

    let log = dir.join("refused.log");
    let mut daemon = spawn_as(
        &database.url_as(&role, &password),
        &["daemon", "--site", "expanse"],
        &log,
    );
    assert!(!wait_for_exit(&mut daemon).await.success());
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains(&format!(
            "the database role {role} serves site delta only, so it cannot run site expanse's tasks"
        )),
        "{said}"
    );
    stdout(&purser(&database, &["site-role", "drop", &role]));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn site_role_create_refuses_an_unknown_site_a_taken_name_and_an_empty_password() {
    let database = TestDatabase::new().await;
    add_cluster(&database, "delta").await;
    let unknown = failure(&purser(
        &database,
        &["site-role", "create", "--site", "deltaa"],
    ));
    assert!(unknown.contains("unknown site \"deltaa\""), "{unknown}");
    let taken = failure(&purser(
        &database,
        &[
            "site-role",
            "create",
            "--site",
            "delta",
            "--role",
            "purser_daemon",
        ],
    ));
    assert!(
        taken.contains("a role named purser_daemon already exists on this server"),
        "{taken}"
    );
    let empty = std::env::temp_dir().join(format!("purser-empty-password-{}", std::process::id()));
    std::fs::write(&empty, "\n").unwrap();
    let no_password = failure(&purser(
        &database,
        &[
            "site-role",
            "create",
            "--site",
            "delta",
            "--password-file",
            empty.to_str().unwrap(),
        ],
    ));
    assert!(
        no_password.contains("has an empty first line"),
        "{no_password}"
    );
    std::fs::remove_file(empty).unwrap();
    let not_bound = failure(&purser(&database, &["site-role", "drop", "purser_daemon"]));
    assert!(
        not_bound.contains("purser_daemon is not a site role of this database"),
        "{not_bound}"
    );
}
