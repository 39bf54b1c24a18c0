//! One bad output must not stop a site: real `purser daemon` processes running real site
//! scripts that print NULs, invalid UTF-8, JSON PostgreSQL cannot store, applied lists it would
//! refuse, or leave children behind. Every healthy task around them completes exactly once,
//! each poison one ends with its real reason, nothing stays `running`, and the completer does
//! not retry what the database refuses.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use purser_sql::DbPool;
use purser_sql::queue::{self, NewTask};
use purser_sql::test_harness::TestDatabase;
use serde_json::{Value, json};
use support::{Daemons, scalar, scratch, spawn_daemon, wait_until, write_script};

/// A task's state, attempts, last error and result.
async fn task_row(pool: &DbPool, id: i64) -> (String, i32, Option<String>, Option<Value>) {
    let client = pool.connection().await.unwrap();
    let task = queue::get(&client, id).await.unwrap().unwrap();
    (task.state, task.attempts, task.last_error, task.result)
}

async fn unfinished(pool: &DbPool) -> i64 {
    scalar(
        pool,
        "SELECT count(*) FROM queue.task WHERE state IN ('queued', 'running', 'waiting')",
    )
    .await
}

/// The lines of the daemons' logs that say `task dead` for the task.
fn dead_lines(dir: &Path, logs: &[&str], id: i64) -> Vec<String> {
    logs.iter()
        .flat_map(|log| {
            std::fs::read_to_string(dir.join(log))
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|line| line.contains("task dead") && line.contains(&format!("task.id={id} ")))
        .collect()
}

/// The site scripts: one healthy kind that records each execution, and one kind per poison.
const POISONS: &[(&str, &str)] = &[
    (
        "nul_stderr",
        r"printf 'bad\000byte\n\033[31mred\n' >&2; exit 1",
    ),
    ("nul_stdout", r"printf 'not json\000here'"),
    ("json_nul", r#"printf '{"name": "a\\u0000b"}'"#),
    ("invalid_utf8_stdout", r#"printf '{"name": "caf\351"}'"#),
    (
        "invalid_utf8_stderr",
        r"printf 'caf\351 failed\n' >&2; exit 1",
    ),
    (
        "duplicate_subject",
        r#"echo '{"applied": [{"subject": "dup:1", "state": {}}, {"subject": "dup:1", "state": {"again": true}}]}'"#,
    ),
    (
        "long_subject",
        r#"s=$(head -c 4000 /dev/urandom | od -An -tx1 | tr -d ' \n'); printf '{"applied": [{"subject": "long:%s", "state": {}}]}' "$s""#,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_survive_every_poison_output_and_complete_each_healthy_task_once() {
    const HEALTHY: usize = 40;
    let database = TestDatabase::new().await;
    let pool = database.pool();
    let dir = scratch("poison");
    let executions = dir.join("executions.log");
    let mut config = String::from(
        "[sites.poison]\nconcurrency = 8\npoll_interval = \"100ms\"\nmaintenance_interval = \"200ms\"\n",
    );
    let healthy = dir.join("healthy");
    write_script(
        &healthy,
        &format!(
            "echo \"$PURSER_TASK_ID\" >> {}\nprintf '{{\"applied\": [{{\"subject\": \"healthy:%s\", \"state\": {{\"id\": %s}}}}]}}' \"$PURSER_TASK_ID\" \"$PURSER_TASK_ID\"",
            executions.display()
        ),
    );
    config.push_str(&format!(
        "[sites.poison.shell.\"site.healthy\"]\nprogram = \"{}\"\n",
        healthy.display()
    ));
    for (name, body) in POISONS {
        let program = dir.join(name);
        write_script(&program, body);
        config.push_str(&format!(
            "[sites.poison.shell.\"site.{name}\"]\nprogram = \"{}\"\n",
            program.display()
        ));
    }
    let config_path = dir.join("purser.toml");
    std::fs::write(&config_path, config).unwrap();
    let logs = ["first.log", "second.log"];
    let daemons = Daemons(
        logs.iter()
            .map(|log| spawn_daemon(&database, &config_path, "poison", log))
            .collect(),
    );
    wait_until("both daemons are up", || async {
        scalar(
            pool,
            "SELECT count(*) FROM queue.worker WHERE site = 'poison'",
        )
        .await
            == 2
    })
    .await;

    // The poisons interleaved with the healthy tasks, one every six.
    let client = pool.connection().await.unwrap();
    let mut healthy_ids = BTreeSet::new();
    let mut poison_ids = BTreeMap::new();
    let mut poisons = POISONS.iter();
    for position in 0..HEALTHY + POISONS.len() {
        let poison = if position % 6 == 3 {
            poisons.next()
        } else {
            None
        };
        let kind = poison.map_or("site.healthy".to_string(), |(name, _)| {
            format!("site.{name}")
        });
        let id = queue::enqueue(&client, &NewTask::new("poison", kind))
            .await
            .unwrap();
        match poison {
            Some((name, _)) => {
                poison_ids.insert(*name, id);
            }
            None => {
                healthy_ids.insert(id);
            }
        }
    }
    assert_eq!(poison_ids.len(), POISONS.len());
    assert_eq!(healthy_ids.len(), HEALTHY);

    wait_until("every task finished", || async {
        unfinished(pool).await == 0
    })
    .await;

    // Every healthy task ran once and was recorded once, with what it applied.
    let ran: Vec<i64> = std::fs::read_to_string(&executions)
        .unwrap()
        .lines()
        .map(|line| line.parse().unwrap())
        .collect();
    assert_eq!(ran.len(), HEALTHY, "a healthy task ran twice: {ran:?}");
    assert_eq!(ran.iter().copied().collect::<BTreeSet<_>>(), healthy_ids);
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM queue.task WHERE kind = 'site.healthy' AND state = 'succeeded' AND attempts = 1"
        )
        .await,
        HEALTHY as i64
    );
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM provision.applied_state a JOIN queue.task t ON t.id = a.task_id \
             WHERE a.subject = 'healthy:' || t.id AND a.revision = 1 AND a.state = jsonb_build_object('id', t.id)"
        )
        .await,
        HEALTHY as i64
    );
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM queue.task WHERE state = 'running'"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            pool,
            "SELECT count(DISTINCT worker_id) FROM queue.task WHERE kind = 'site.healthy'"
        )
        .await,
        2,
        "both daemons ran healthy tasks"
    );

    // Each poison ended with its real reason, on its first attempt.
    let program = |name: &str| dir.join(name).display().to_string();
    let unstorable = "the executor's output could not be stored: ";
    let expected_dead = [
        (
            "nul_stderr",
            format!(
                "{} exited 1: bad\u{FFFD}byte\n\u{1b}[31mred",
                program("nul_stderr")
            ),
        ),
        (
            "invalid_utf8_stderr",
            format!(
                "{} exited 1: caf\u{FFFD} failed",
                program("invalid_utf8_stderr")
            ),
        ),
        (
            "duplicate_subject",
            format!(
                "{unstorable}applied entries 1 and 2 both have the subject \"dup:1\"; a task names each subject once"
            ),
        ),
        (
            "long_subject",
            format!(
                "{unstorable}applied entry 1 has a subject of 8005 bytes, more than the 1024 a subject may have"
            ),
        ),
    ];
    for (name, reason) in &expected_dead {
        let (state, attempts, error, _) = task_row(pool, poison_ids[name]).await;
        assert_eq!(
            (state.as_str(), attempts, error.as_deref()),
            ("dead", 1, Some(reason.as_str())),
            "{name}"
        );
    }
    let (state, attempts, error, _) = task_row(pool, poison_ids["nul_stdout"]).await;
    let error = error.unwrap();
    assert_eq!((state.as_str(), attempts), ("dead", 1), "{error}");
    assert!(
        error.starts_with(&format!(
            "{} exited 0 but its stdout is not JSON",
            program("nul_stdout")
        )) && error.ends_with("it began: not json\u{FFFD}here"),
        "{error}"
    );
    for (name, result) in [
        ("json_nul", json!({"name": "a\u{FFFD}b"})),
        ("invalid_utf8_stdout", json!({"name": "caf\u{FFFD}"})),
    ] {
        let (state, attempts, _, stored) = task_row(pool, poison_ids[name]).await;
        assert_eq!(
            (state.as_str(), attempts, stored),
            ("succeeded", 1, Some(result)),
            "{name}: its NUL or invalid byte is stored as U+FFFD"
        );
    }

    // Each dead task is logged once, at warn, on one line, its control characters escaped.
    for name in [
        "nul_stderr",
        "nul_stdout",
        "invalid_utf8_stderr",
        "duplicate_subject",
        "long_subject",
    ] {
        let lines = dead_lines(&dir, &logs, poison_ids[name]);
        assert_eq!(lines.len(), 1, "{name}: {lines:?}");
        assert!(lines[0].contains(" WARN "), "{}", lines[0]);
    }
    let nul_stderr = &dead_lines(&dir, &logs, poison_ids["nul_stderr"])[0];
    assert!(
        nul_stderr.contains(r"bad�byte\n\u{1b}[31mred"),
        "{nul_stderr}"
    );
    for log in logs {
        let text = std::fs::read_to_string(dir.join(log)).unwrap();
        assert!(
            !text.contains('\u{0}') && !text.contains('\u{1b}'),
            "{log} holds a raw NUL or escape"
        );
    }

    // Neither daemon is stuck: both still take new work.
    let more = vec![json!({}); 10];
    queue::enqueue_many(&client, "poison", "site.healthy", &more)
        .await
        .unwrap();
    wait_until("the next tasks finished", || async {
        unfinished(pool).await == 0
    })
    .await;
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM queue.task WHERE kind = 'site.healthy' AND state = 'succeeded' AND attempts = 1"
        )
        .await,
        HEALTHY as i64 + 10
    );
    daemons.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_the_database_refuses_fails_its_task_alone_well_within_a_lease() {
    const HEALTHY: i64 = 30;
    const LEASE: Duration = Duration::from_secs(60);
    let database = TestDatabase::new().await;
    let pool = database.pool();
    // A rule the executor's output cannot know of: PostgreSQL refuses the refused subject.
    let client = pool.connection().await.unwrap();
    client
        .batch_execute(
            "ALTER TABLE provision.applied_state ADD CONSTRAINT no_refused_subjects \
             CHECK (subject NOT LIKE 'refused:%')",
        )
        .await
        .unwrap();
    let dir = scratch("refused");
    let config = dir.join("purser.toml");
    std::fs::write(
        &config,
        format!(
            "[sites.refusal]\nconcurrency = 64\nlease = \"{}s\"\npoll_interval = \"100ms\"\n",
            LEASE.as_secs()
        ),
    )
    .unwrap();
    // All claimed at once and finishing together, so their outcomes share batches.
    let mut payloads: Vec<Value> = (0..HEALTHY)
        .map(|i| json!({"delay_ms": 300, "apply": {"subject": format!("ok:{i}"), "state": {"i": i}}}))
        .collect();
    payloads.insert(
        HEALTHY as usize / 2,
        json!({"delay_ms": 300, "apply": {"subject": "refused:1", "state": {}}}),
    );
    let ids = queue::enqueue_many(&client, "refusal", "noop", &payloads)
        .await
        .unwrap();
    let refused = ids[HEALTHY as usize / 2];
    client
        .execute(
            "UPDATE queue.task SET max_attempts = 2 WHERE id = $1",
            &[&refused],
        )
        .await
        .unwrap();

    let started = Instant::now();
    let daemons = Daemons(vec![spawn_daemon(
        &database,
        &config,
        "refusal",
        "daemon.log",
    )]);
    wait_until("every task finished", || async {
        unfinished(pool).await == 0
    })
    .await;
    let took = started.elapsed();
    assert!(
        took < LEASE / 3,
        "took {took:?}: the completer retried what the database refused"
    );

    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM queue.task WHERE state = 'succeeded' AND attempts = 1"
        )
        .await,
        HEALTHY
    );
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM provision.applied_state WHERE subject LIKE 'ok:%' AND revision = 1"
        )
        .await,
        HEALTHY
    );
    // Retryable, per its policy: two attempts, each refused, then dead.
    let (state, attempts, error, _) = task_row(pool, refused).await;
    assert_eq!((state.as_str(), attempts), ("dead", 2));
    assert_eq!(
        error.as_deref(),
        Some(
            "the executor's output could not be stored: PostgreSQL refused it as breaking a rule \
             of the table it goes to (SQLSTATE 23514)"
        )
    );
    let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap();
    assert_eq!(
        log.lines()
            .filter(
                |line| line.contains("task dead") && line.contains(&format!("task.id={refused} "))
            )
            .count(),
        1,
        "{log}"
    );
    // A refused batch is logged once, however many parts it is written in: at most once for
    // each of the two attempts.
    let refused_batches = log
        .lines()
        .filter(|line| line.contains("the database refused a batch of completions"))
        .count();
    assert!(refused_batches <= 2, "{log}");
    daemons.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_applying_one_subject_in_one_batch_all_complete_and_each_application_counts() {
    const TASKS: usize = 200;
    const SUBJECTS: usize = 20;
    let database = TestDatabase::new().await;
    let pool = database.pool();
    let dir = scratch("shared-subjects");
    let config = dir.join("purser.toml");
    std::fs::write(
        &config,
        "[sites.shared]\nconcurrency = 200\npoll_interval = \"100ms\"\n",
    )
    .unwrap();
    let client = pool.connection().await.unwrap();
    let payloads: Vec<Value> = (0..TASKS)
        .map(|i| json!({"delay_ms": 300, "apply": {"subject": format!("shared:{}", i % SUBJECTS), "state": {"i": i}}}))
        .collect();
    queue::enqueue_many(&client, "shared", "noop", &payloads)
        .await
        .unwrap();
    let daemons = Daemons(vec![spawn_daemon(
        &database,
        &config,
        "shared",
        "daemon.log",
    )]);
    wait_until("every task finished", || async {
        unfinished(pool).await == 0
    })
    .await;
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM queue.task WHERE state = 'succeeded' AND attempts = 1"
        )
        .await,
        TASKS as i64
    );
    // Each subject was applied by ten tasks, and each application was recorded once.
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM provision.applied_state WHERE revision = 10"
        )
        .await,
        SUBJECTS as i64
    );
    daemons.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_script_leaving_a_child_on_stdout_succeeds_once_and_its_child_does_not_outlive_it() {
    let database = TestDatabase::new().await;
    let pool = database.pool();
    let dir = scratch("holder");
    let effects = dir.join("effects.log");
    let pid_file = dir.join("child.pid");
    let hook = dir.join("holder");
    write_script(
        &hook,
        &format!(
            "echo applied >> {}\necho '{{\"ok\": true}}'\nsleep 300 &\necho $! > {}\nexit 0",
            effects.display(),
            pid_file.display()
        ),
    );
    let config = dir.join("purser.toml");
    std::fs::write(
        &config,
        format!(
            "[sites.holder]\npoll_interval = \"100ms\"\n[sites.holder.shell.\"site.hold\"]\nprogram = \"{}\"\ntimeout = \"10s\"\n",
            hook.display()
        ),
    )
    .unwrap();
    let daemons = Daemons(vec![spawn_daemon(
        &database,
        &config,
        "holder",
        "daemon.log",
    )]);
    let client = pool.connection().await.unwrap();
    let id = queue::enqueue(&client, &NewTask::new("holder", "site.hold"))
        .await
        .unwrap();
    // Done, or run a second time (a timeout taken for the outcome would retry it).
    wait_until("the task finished or ran again", || async {
        let ran = std::fs::read_to_string(&effects).unwrap_or_default();
        task_row(pool, id).await.0 == "succeeded" || ran.lines().count() > 1
    })
    .await;
    let (state, attempts, error, result) = task_row(pool, id).await;
    assert_eq!(
        (state.as_str(), attempts, result),
        ("succeeded", 1, Some(json!({"ok": true}))),
        "{error:?}"
    );
    assert_eq!(std::fs::read_to_string(&effects).unwrap(), "applied\n");
    let child = std::fs::read_to_string(&pid_file).unwrap();
    let stat = format!("/proc/{}/stat", child.trim());
    // A killed child not yet reaped is a zombie: gone as far as the site is concerned.
    wait_until("the background child is gone", || async {
        std::fs::read_to_string(&stat)
            .map(|stat| stat.split_whitespace().nth(2) == Some("Z"))
            .unwrap_or(true)
    })
    .await;
    daemons.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_statement_the_database_refuses_is_not_transient_and_a_lost_connection_is() {
    let database = TestDatabase::new().await;
    let pool = database.pool();
    let client = pool.connection().await.unwrap();
    let refused = queue::enqueue(&client, &NewTask::new("", "noop"))
        .await
        .unwrap_err();
    assert!(!refused.is_transient(), "{refused}");

    // The server ends the connection (SQLSTATE 57P01, then a closed connection).
    let victim = pool.connection().await.unwrap();
    let backend: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    client
        .execute("SELECT pg_terminate_backend($1)", &[&backend])
        .await
        .unwrap();
    let lost = queue::get(&victim, 1).await.unwrap_err();
    assert!(lost.is_transient(), "{lost}");

    let unreachable = purser_sql::connect_pool("postgresql://nobody@127.0.0.1:1/none", 1)
        .unwrap()
        .connection()
        .await
        .unwrap_err();
    assert!(unreachable.is_transient(), "{unreachable}");
}

#[tokio::test]
async fn a_maintenance_error_repeating_every_round_is_logged_once_and_its_end_once() {
    let database = TestDatabase::new().await;
    let pool = database.pool();
    let dir = scratch("rounds");
    let config = dir.join("purser.toml");
    std::fs::write(
        &config,
        "[sites.rounds]\nmaintenance_interval = \"50ms\"\npoll_interval = \"100ms\"\n",
    )
    .unwrap();
    let daemons = Daemons(vec![spawn_daemon(
        &database,
        &config,
        "rounds",
        "daemon.log",
    )]);
    wait_until("the daemon is up", || async {
        scalar(pool, "SELECT count(*) FROM queue.worker").await == 1
    })
    .await;
    let rollbacks = "SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()";
    let before = scalar(pool, rollbacks).await;
    // Every round's rescue and prune now fail (and so do claims, with a growing backoff).
    let client = pool.connection().await.unwrap();
    client
        .batch_execute("ALTER TABLE queue.task RENAME TO task_away")
        .await
        .unwrap();
    wait_until("a few dozen statements failed", || async {
        scalar(pool, rollbacks).await > before + 40
    })
    .await;
    client
        .batch_execute("ALTER TABLE queue.task_away RENAME TO task")
        .await
        .unwrap();
    let log = dir.join("daemon.log");
    wait_until("the daemon says maintenance works again", || async {
        let text = std::fs::read_to_string(&log).unwrap();
        text.contains("can rescue lapsed tasks again")
            && text.contains("can prune finished tasks again")
    })
    .await;
    daemons.stop().await;

    let text = std::fs::read_to_string(&log).unwrap();
    for what in ["rescue lapsed tasks", "prune finished tasks"] {
        let failures: Vec<&str> = text
            .lines()
            .filter(|line| line.contains(&format!("cannot {what}")))
            .collect();
        assert_eq!(failures.len(), 1, "{text}");
        assert!(failures[0].contains(" WARN "), "{}", failures[0]);
        let recovery = text
            .lines()
            .find(|line| line.contains(&format!("can {what} again")))
            .unwrap();
        let count: u32 = recovery
            .split("failures=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(count >= 2, "{what} failed only {count} times: {recovery}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
