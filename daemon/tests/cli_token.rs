//! `purser token`: secrets shown once and stored only as hashes; roles, subjects, revocation.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod support;

use purser_sql::test_harness::TestDatabase;
use support::{purser, stdout};

#[tokio::test]
async fn a_token_secret_is_shown_once_and_only_its_hash_is_kept() {
    let database = TestDatabase::new().await;
    stdout(&purser(&database, &["seed", "demo"]));
    let secret = stdout(&purser(
        &database,
        &[
            "token",
            "create",
            "--name",
            "ada's laptop",
            "--role",
            "pi",
            "--person",
            "ADA@esu.example",
            "--expires-in",
            "30d",
        ],
    ));
    assert!(
        secret.starts_with("purser_") && secret.len() > 40,
        "{secret}"
    );

    let client = database.pool().connection().await.unwrap();
    let row = client
        .query_one(
            "SELECT secret_sha256, role, expires_at > now() + interval '29 days' FROM auth.token",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Vec<u8>>(0),
        purser_sql::auth::secret_hash(&secret)
    );
    assert_eq!(row.get::<_, String>(1), "pi");
    assert!(row.get::<_, bool>(2));
    // The secret appears nowhere in the database, audit log included.
    let leaked: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM auth.token WHERE to_jsonb(token)::text LIKE '%' || $1 || '%')
                  + (SELECT count(*) FROM audit.event WHERE after::text LIKE '%' || $1 || '%')",
            &[&secret],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leaked, 0);
    let listed = stdout(&purser(&database, &["token", "list"]));
    assert!(
        listed.contains("ada@esu.example")
            && listed.contains("active")
            && !listed.contains(&secret),
        "{listed}"
    );

    let id = listed
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(stdout(&purser(&database, &["token", "revoke", &id])).contains("revoked"));
    assert!(stdout(&purser(&database, &["token", "list"])).contains("revoked"));
    let again = purser(&database, &["token", "revoke", &id]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no unrevoked token"));
}

#[tokio::test]
async fn tokens_need_the_subject_their_role_acts_for() {
    let database = TestDatabase::new().await;
    for (args, expected) in [
        (&["--role", "member"][..], "act for a person"),
        (&["--role", "daemon"][..], "need --site"),
        (
            &["--role", "reader", "--site", "expanse"][..],
            "need --site",
        ),
        (
            &["--role", "pi", "--person", "nobody@example.edu"][..],
            "no person has the email",
        ),
    ] {
        let mut all = vec!["token", "create", "--name", "x"];
        all.extend_from_slice(args);
        let output = purser(&database, &all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let daemon = stdout(&purser(
        &database,
        &[
            "token",
            "create",
            "--name",
            "expanse daemon",
            "--role",
            "daemon",
            "--site",
            "expanse",
        ],
    ));
    assert!(daemon.starts_with("purser_"));
}

#[tokio::test]
async fn a_refused_token_says_why_in_a_sentence_without_database_text() {
    let database = TestDatabase::new().await;
    for (args, expected) in [
        (
            &["--role", "admin", "--expires-in", "0s"][..],
            "--expires-in must be more than 0s",
        ),
        (
            &["--role", "daemon", "--site", "no such/site"][..],
            "the token's site must be 1 to 63 letters",
        ),
    ] {
        let mut all = vec!["token", "create", "--name", "refused"];
        all.extend_from_slice(args);
        let output = purser(&database, &all);
        assert!(!output.status.success());
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(error.contains(expected), "{error}");
        for leak in ["constraint", "Failing row", "token_", "\\x"] {
            assert!(
                !error.replace("token_create failed", "").contains(leak),
                "{leak} in {error}"
            );
        }
    }
}
