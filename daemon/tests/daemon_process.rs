//! `purser daemon` as real processes: a killed daemon's task runs again elsewhere once its
//! lease lapses, SIGTERM stops it cleanly, its shell executor runs configured programs, and
//! the chaos test: three daemons, one SIGKILLed about every half second, 20,000 tasks.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use purser_sql::queue::{self, NewTask};
use purser_sql::test_harness::TestDatabase;
use rand::RngExt;
use serde_json::json;
use support::{
    DEADLINE, scalar, scratch, signal, spawn_daemon, spawn_purser, wait_for_exit, wait_until,
    write_script,
};

/// Runs `purser ARGS…`, which must exit by itself; returns its status and its stderr.
async fn run_to_exit(
    database: &TestDatabase,
    args: &[&str],
    dir: &Path,
) -> (std::process::ExitStatus, String) {
    let log = dir.join("refused.log");
    let mut child = spawn_purser(database, args, &log);
    let status = wait_for_exit(&mut child).await;
    (status, std::fs::read_to_string(log).unwrap())
}

#[tokio::test]
async fn a_killed_daemons_task_runs_again_elsewhere_after_its_lease_expires() {
    let database = TestDatabase::new().await;
    let dir = scratch("killed");
    let hook = dir.join("provision");
    let pid_file = dir.join("first-attempt.pid");
    // The first attempt hangs (its daemon will be killed under it); later ones succeed.
    write_script(
        &hook,
        &format!(
            "if [ \"$PURSER_TASK_ATTEMPT\" = 1 ]; then echo $$ > {}; exec sleep 60; fi\necho '{{\"ok\": true}}'",
            pid_file.display()
        ),
    );
    let config = dir.join("purser.toml");
    std::fs::write(
        &config,
        format!(
            "[sites.killed]\nlease = \"1s\"\nmaintenance_interval = \"200ms\"\npoll_interval = \"100ms\"\n\
             [sites.killed.shell.\"site.provision\"]\nprogram = \"{}\"\n",
            hook.display()
        ),
    )
    .unwrap();
    let mut first = spawn_daemon(&database, &config, "killed", "first.log");
    let client = database.pool().connection().await.unwrap();
    let id = queue::enqueue(&client, &NewTask::new("killed", "site.provision"))
        .await
        .unwrap();
    wait_until("the first attempt runs", || async { pid_file.exists() }).await;

    signal(&first, Signal::SIGKILL);
    wait_for_exit(&mut first).await;
    let mut second = spawn_daemon(&database, &config, "killed", "second.log");
    wait_until("the task succeeded on the second daemon", || async {
        queue::get(&client, id).await.unwrap().unwrap().state == "succeeded"
    })
    .await;
    let task = queue::get(&client, id).await.unwrap().unwrap();
    assert_eq!(task.attempts, 2);
    assert_eq!(task.result, Some(json!({"ok": true})));
    let history = queue::attempts(&client, id).await.unwrap();
    let outcomes: Vec<&str> = history
        .iter()
        .map(|attempt| attempt.outcome.as_str())
        .collect();
    assert_eq!(outcomes, vec!["lease_expired", "succeeded"]);
    assert_ne!(
        history[0].worker_id, history[1].worker_id,
        "each boot has a fresh worker id"
    );

    signal(&second, Signal::SIGTERM);
    assert!(wait_for_exit(&mut second).await.success());
    // The orphaned first attempt is no longer anyone's; end it.
    if let Ok(pid) = std::fs::read_to_string(&pid_file) {
        let _ = kill(Pid::from_raw(pid.trim().parse().unwrap()), Signal::SIGKILL);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn sigterm_lets_the_running_task_finish_then_exits_cleanly() {
    let database = TestDatabase::new().await;
    let dir = scratch("sigterm");
    let hook = dir.join("slow");
    let started = dir.join("started");
    let proceed = dir.join("proceed");
    // Runs until the test lets it finish.
    write_script(
        &hook,
        &format!(
            "touch {}\nwhile [ ! -e {} ]; do sleep 0.05; done\necho '{{\"finished\": true}}'",
            started.display(),
            proceed.display()
        ),
    );
    let config = dir.join("purser.toml");
    std::fs::write(
        &config,
        format!("[sites.term]\nshutdown_grace = \"60s\"\n[sites.term.shell.\"site.slow\"]\nprogram = \"{}\"\n", hook.display()),
    )
    .unwrap();
    let mut daemon = spawn_daemon(&database, &config, "term", "daemon.log");
    let client = database.pool().connection().await.unwrap();
    let id = queue::enqueue(&client, &NewTask::new("term", "site.slow"))
        .await
        .unwrap();
    wait_until("the task runs", || async { started.exists() }).await;

    signal(&daemon, Signal::SIGTERM);
    let log = dir.join("daemon.log");
    wait_until("the daemon stopped claiming", || async {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("shutting down: no more claims")
    })
    .await;
    // Enqueued once claiming stopped: left for another daemon.
    let queued_after_signal = queue::enqueue(&client, &NewTask::new("term", "site.slow"))
        .await
        .unwrap();
    // Still running its task: the daemon waits for it.
    assert!(daemon.try_wait().unwrap().is_none());
    std::fs::write(&proceed, "").unwrap();
    let status = wait_for_exit(&mut daemon).await;
    assert!(status.success(), "{status:?}");
    let task = queue::get(&client, id).await.unwrap().unwrap();
    assert_eq!(task.state, "succeeded");
    assert_eq!(task.result, Some(json!({"finished": true})));
    assert_eq!(
        queue::get(&client, queued_after_signal)
            .await
            .unwrap()
            .unwrap()
            .state,
        "queued"
    );
    let stopped = scalar(
        database.pool(),
        "SELECT count(*) FROM queue.worker WHERE stopped_at IS NOT NULL",
    )
    .await;
    assert_eq!(stopped, 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_three_daemons_one_killed_every_half_second_lose_nothing_and_apply_each_effect_once()
{
    const TASKS: usize = 20_000;
    let database = TestDatabase::new().await;
    let dir = scratch("chaos");
    let config = dir.join("purser.toml");
    std::fs::write(
        &config,
        "[sites.chaos]\nconcurrency = 32\nlease = \"1s\"\nmaintenance_interval = \"250ms\"\npoll_interval = \"100ms\"\n",
    )
    .unwrap();
    let client = database.pool().connection().await.unwrap();
    let payloads: Vec<serde_json::Value> = (0..TASKS)
        .map(|i| json!({"delay_ms": 40, "apply": {"subject": format!("chaos:{i}"), "state": {"i": i}}}))
        .collect();
    for chunk in payloads.chunks(5000) {
        queue::enqueue_many(&client, "chaos", "noop", chunk)
            .await
            .unwrap();
    }

    let mut daemons: Vec<Child> = (0..3)
        .map(|n| spawn_daemon(&database, &config, "chaos", &format!("daemon-{n}-0.log")))
        .collect();
    let mut kills = 0;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while scalar(
        database.pool(),
        "SELECT count(*) FROM queue.task WHERE state <> 'succeeded'",
    )
    .await
        > 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "tasks still unfinished after {DEADLINE:?}"
        );
        // The chaos schedule: about every half second, kill a daemon at random and restart it.
        let pause = rand::rng().random_range(300..700);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let victim = rand::rng().random_range(0..daemons.len());
        signal(&daemons[victim], Signal::SIGKILL);
        wait_for_exit(&mut daemons[victim]).await;
        kills += 1;
        daemons[victim] = spawn_daemon(
            &database,
            &config,
            "chaos",
            &format!("daemon-{victim}-{kills}.log"),
        );
    }
    for daemon in &daemons {
        // A daemon killed before it set up its signal handlers would die of the signal.
        wait_until("the daemon is up", || async {
            let client = database.pool().connection().await.unwrap();
            let pid = i32::try_from(daemon.id()).unwrap();
            client
                .query_opt(
                    "SELECT 1 FROM queue.worker WHERE pid = $1 AND stopped_at IS NULL",
                    &[&pid],
                )
                .await
                .unwrap()
                .is_some()
        })
        .await;
        signal(daemon, Signal::SIGTERM);
    }
    for daemon in &mut daemons {
        assert!(wait_for_exit(daemon).await.success());
    }

    let pool = database.pool();
    assert!(
        kills >= 5,
        "only {kills} kills: the run was too short to mean anything"
    );
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM queue.task WHERE state = 'succeeded'"
        )
        .await,
        TASKS as i64
    );
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM provision.applied_state WHERE site = 'chaos'"
        )
        .await,
        TASKS as i64
    );
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM provision.applied_state WHERE revision <> 1"
        )
        .await,
        0,
        "an effect was recorded twice"
    );
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM queue.task t JOIN provision.applied_state a \
             ON a.subject = 'chaos:' || (t.payload->'apply'->'state'->>'i') AND a.task_id = t.id"
        )
        .await,
        TASKS as i64,
        "each effect was recorded by its own task"
    );
    let lapsed = scalar(
        pool,
        "SELECT count(*) FROM queue.task_attempt WHERE outcome = 'lease_expired'",
    )
    .await;
    assert!(lapsed > 0, "no kill caught a task in flight");
    eprintln!("chaos: {kills} kills, {lapsed} attempts lost with their daemon and run again");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_daemon_for_an_unknown_site_refuses_to_start_in_one_line_naming_the_known_sites() {
    let database = TestDatabase::new().await;
    support::add_cluster(&database, "delta").await;
    let dir = scratch("unknown-site");
    let config = dir.join("purser.toml");
    std::fs::write(&config, "[sites.expanse]\n").unwrap();
    let config = config.to_str().unwrap();

    let (status, log) = run_to_exit(
        &database,
        &["daemon", "--site", "expanze", "--config", config],
        &dir,
    )
    .await;
    assert_eq!(status.code(), Some(1), "{log}");
    assert_eq!(
        log.trim(),
        format!(
            "error: unknown site \"expanze\": {config} has no [sites.expanze] and registry.cluster \
             has no cluster of that name (known sites: delta, expanse)"
        )
    );

    let (status, log) = run_to_exit(&database, &["daemon", "--site", "expanze"], &dir).await;
    assert_eq!(status.code(), Some(1), "{log}");
    assert_eq!(
        log.trim(),
        "error: unknown site \"expanze\": no --config file gives [sites.expanze] and \
         registry.cluster has no cluster of that name (known sites: delta)"
    );
    assert_eq!(
        scalar(database.pool(), "SELECT count(*) FROM queue.worker").await,
        0,
        "no daemon registered"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_missing_or_non_executable_site_program_stops_the_daemon_before_it_claims_anything() {
    let database = TestDatabase::new().await;
    let dir = scratch("bad-program");
    let not_executable = dir.join("not-executable");
    std::fs::write(&not_executable, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = dir.join("purser.toml");
    for (program, problem) in [
        (dir.join("no-such-hook"), "does not exist"),
        (not_executable, "is not executable by this user"),
    ] {
        std::fs::write(
            &config,
            format!(
                "[sites.hooks.shell.\"site.provision\"]\nprogram = \"{}\"\n",
                program.display()
            ),
        )
        .unwrap();
        let (status, log) = run_to_exit(
            &database,
            &[
                "daemon",
                "--site",
                "hooks",
                "--config",
                config.to_str().unwrap(),
            ],
            &dir,
        )
        .await;
        assert_eq!(status.code(), Some(1), "{log}");
        assert_eq!(
            log.trim(),
            format!(
                "error: cannot serve site hooks: shell kind \"site.provision\": program {} {problem}",
                program.display()
            )
        );
    }
    assert_eq!(
        scalar(database.pool(), "SELECT count(*) FROM queue.worker").await,
        0,
        "no daemon registered"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_daemon_for_a_cluster_without_configuration_runs_noop_says_so_and_logs_without_colour_codes()
 {
    let database = TestDatabase::new().await;
    support::add_cluster(&database, "lonely").await;
    let dir = scratch("lonely");
    let log = dir.join("daemon.log");
    let mut daemon = spawn_purser(&database, &["daemon", "--site", "lonely"], &log);
    let client = database.pool().connection().await.unwrap();
    let id = queue::enqueue(&client, &NewTask::new("lonely", "noop"))
        .await
        .unwrap();
    wait_until("the noop task succeeded", || async {
        queue::get(&client, id).await.unwrap().unwrap().state == "succeeded"
    })
    .await;
    signal(&daemon, Signal::SIGTERM);
    assert!(wait_for_exit(&mut daemon).await.success());

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("the configuration has no [sites.lonely]: this daemon runs only noop tasks"),
        "{text}"
    );
    assert!(text.contains("kinds=noop"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "a log written to a file has colour codes:\n{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
