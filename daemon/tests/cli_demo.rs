//! `purser demo`, the README's main job, run as a user runs it: the whole story through the API
//! with daemons reconciling the sites through the example site programs of the script
//! connector, on a database of the test's own.

#![allow(clippy::unwrap_used)]

mod support;

use purser_sql::test_harness::TestDatabase;

/// Runs `purser demo` from the repository root, where its examples are.
fn demo(database: &TestDatabase) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_purser"))
        .arg("demo")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env("PURSER_DATABASE_URL", database.url())
        .env_remove("PURSER_CONFIG")
        .output()
        .expect("the purser binary runs")
}

#[tokio::test]
async fn the_demo_walks_the_story_through_the_api_and_the_reconciler() {
    let database = TestDatabase::empty().await;
    let output = demo(&database);
    let story = support::stdout(&output);
    for line in [
        "expanse: 2 account(s) and 5 association(s) created",
        "delta: 1 account(s) and 2 association(s) created",
        "expanse would run: sacctmgr -i add account name=che260001 parent=purser",
        "change request",
        "APPROVED: diff",
        "che260001 on expanse: updated (awarded_su 60000)",
        "barbara on che260001: waits (no cluster account, so no association in provision.desired; no task failed)",
        "barbara on che260001: created (cap_su 1000)",
        "expanse would run: sacctmgr -i add user name=barbara account=che260001 GrpTRESMins=billing=60000",
        "7 records: 6 charges, 1 rejected",
        "alan on che260001: blocked (under_cap false)",
        "expanse would run: sacctmgr -i modify user name=alan where account=che260001 set GrpTRESMins=billing=300000 GrpSubmitJobs=0",
        "alan on che260001: unblocked (under_cap true)",
        "bio7 on delta: blocked (balance_positive false), with its 2 associations",
        "delta would run: sacctmgr -i modify account name=bio7 set",
        "bio7 on delta: unblocked (awarded_su 2000), with its 2 associations",
        "Barbara on che260001: charged 16 of her 1000 SU cap",
        "alan       che260001    on expanse  granted",
    ] {
        assert!(
            story.contains(line),
            "the demo's output lacks {line:?}:\n{story}"
        );
    }
    // The steps come in the story's order.
    let steps: Vec<usize> = [
        "created",
        "updated (awarded_su 60000)",
        "barbara on che260001: waits",
        "barbara on che260001: created",
        "alan on che260001: blocked",
        "alan on che260001: unblocked",
        "bio7 on delta: blocked",
        "bio7 on delta: unblocked",
    ]
    .iter()
    .map(|step| story.find(step).unwrap())
    .collect();
    assert!(steps.is_sorted(), "{story}");
    let client = database.pool().connection().await.unwrap();
    let violations: i64 = client
        .query_one("SELECT count(*) FROM report.ledger_violations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(violations, 0);
    let dead: i64 = client
        .query_one("SELECT count(*) FROM queue.task WHERE state = 'dead'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(dead, 0, "{story}");
    // The sites hold what the registry wants.
    let drift: i64 = client
        .query_one("SELECT count(*) FROM report.drift", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(drift, 0, "{story}");
}

#[tokio::test]
async fn the_demo_prints_balances_by_account_with_dearer_gpus_after_july() {
    let database = TestDatabase::empty().await;
    let story = support::stdout(&demo(&database));
    let table: Vec<Vec<&str>> = story
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("account"))
        .skip(1)
        .take(3)
        .map(|line| line.split_whitespace().collect())
        .collect();
    // che260001 pays 48 GPU-hours at 50 SUs an hour in June (2,400) and 48 at 80 SUs an hour
    // in November (3,840), besides 1,536 + 6,144 + 16 core-hours at one SU each.
    assert_eq!(
        table,
        [
            ["bio7", "5000", "-3000", "0", "2000"],
            ["che260001", "50000", "10000", "13936", "46064"],
            ["phy260002", "20000", "0", "64", "19936"],
        ],
        "{story}"
    );
}

/// The demo's output with what differs between runs masked: ids, the API's address, the
/// database's URL.
fn masked(story: &str, database: &TestDatabase) -> String {
    story
        .replace(database.url(), "DATABASE")
        .lines()
        .map(|line| {
            line.split(' ')
                .map(|word| {
                    let bare = word.trim_end_matches([',', ';']);
                    if bare.parse::<uuid::Uuid>().is_ok() {
                        word.replace(bare, "ID")
                    } else if bare.starts_with("http://127.0.0.1:") {
                        word.replace(bare, "ADDRESS")
                    } else {
                        word.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn two_runs_of_the_demo_print_the_same_story_but_for_ids_and_addresses() {
    let first = TestDatabase::empty().await;
    let second = TestDatabase::empty().await;
    let first_story = masked(&support::stdout(&demo(&first)), &first);
    let second_story = masked(&support::stdout(&demo(&second)), &second);
    assert_eq!(first_story, second_story);
}

#[tokio::test]
async fn the_demo_ends_with_commands_that_work_as_printed() {
    let database = TestDatabase::empty().await;
    let story = support::stdout(&demo(&database));
    let commands: Vec<&str> = story
        .lines()
        .skip_while(|line| !line.starts_with("==> Done."))
        .skip(1)
        .map(str::trim)
        .collect();
    assert_eq!(commands.len(), 3, "{story}");
    assert!(commands[0].starts_with("psql '"), "{story}");
    let binary = std::fs::canonicalize(env!("CARGO_BIN_EXE_purser")).unwrap();
    for command in &commands[1..] {
        let program = command.split(' ').next().unwrap();
        assert_eq!(std::fs::canonicalize(program).unwrap(), binary, "{command}");
        assert!(command.contains(database.url()), "{command}");
    }
    // The token command, run by a shell as printed, makes a token in the demo's database.
    let token = std::process::Command::new("sh")
        .args(["-c", commands[1]])
        .env_remove("PURSER_DATABASE_URL")
        .env_remove("PURSER_CONFIG")
        .output()
        .unwrap();
    assert!(
        support::stdout(&token).starts_with("purser_"),
        "{}",
        String::from_utf8_lossy(&token.stdout)
    );
}

#[tokio::test]
async fn the_demo_refuses_a_database_that_already_holds_the_demo_centre() {
    let database = TestDatabase::empty().await;
    support::stdout(&demo(&database));
    let again = demo(&database);
    assert!(!again.status.success());
    let error = String::from_utf8_lossy(&again.stderr);
    assert!(
        error.contains("the demo needs a database without it"),
        "{error}"
    );
}
