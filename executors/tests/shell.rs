//! The shell executor against real programs: exit codes, output, timeouts and process groups.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use purser_executors::shell::{ProgramError, Shell, ShellConfig};
use purser_executors::{ExecutionError, Executor, Task};
use serde_json::json;

/// Writes an executable script into a directory of the test's own.
fn script(test: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("purser-shell-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let path = dir.join("hook");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("the script is written");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("the script is executable");
    path
}

/// Runs the script through /bin/sh: executing a file this process just wrote can fail with
/// "text file busy" when another test thread forks while the write is open.
fn shell(script: PathBuf, timeout: Duration) -> Shell {
    Shell::new(ShellConfig {
        program: PathBuf::from("/bin/sh"),
        args: vec![script.display().to_string(), "first-arg".to_string()],
        timeout,
        env: BTreeMap::from([("HOOK_SETTING".to_string(), "from-config".to_string())]),
        working_directory: None,
    })
}

fn task() -> Task {
    Task {
        id: 42,
        site: "expanse".to_string(),
        kind: "site.user.created".to_string(),
        payload: json!({"user": "jdoe"}),
        attempt: 2,
        max_attempts: 5,
    }
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn exit_zero_with_json_succeeds_and_sees_the_task_on_stdin_and_in_the_environment() {
    let program = script(
        "ok",
        r#"input=$(cat)
printf '{"input": %s, "id": "%s", "attempt": "%s", "kind": "%s", "site": "%s", "arg": "%s", "setting": "%s"}' \
  "$input" "$PURSER_TASK_ID" "$PURSER_TASK_ATTEMPT" "$PURSER_TASK_KIND" "$PURSER_SITE" "$1" "$HOOK_SETTING""#,
    );
    let success = shell(program, MINUTE).execute(&task()).await.unwrap();
    let result = success.result.unwrap();
    assert_eq!(result["input"]["payload"], json!({"user": "jdoe"}));
    assert_eq!(result["input"]["attempt"], json!(2));
    assert_eq!(result["id"], "42");
    assert_eq!(result["attempt"], "2");
    assert_eq!(result["kind"], "site.user.created");
    assert_eq!(result["site"], "expanse");
    assert_eq!(result["arg"], "first-arg");
    assert_eq!(result["setting"], "from-config");
    assert!(success.applied.is_empty());
}

#[tokio::test]
async fn exit_zero_with_no_output_succeeds_without_a_result() {
    let success = shell(script("silent", "cat >/dev/null"), MINUTE)
        .execute(&task())
        .await
        .unwrap();
    assert_eq!(success.result, None);
}

#[tokio::test]
async fn applied_entries_on_stdout_are_returned_for_recording() {
    let program = script(
        "applied",
        r#"echo '{"applied": [{"subject": "ldap.user:jdoe", "state": {"uid": 1001}}]}'"#,
    );
    let success = shell(program, MINUTE).execute(&task()).await.unwrap();
    assert_eq!(success.applied.len(), 1);
    assert_eq!(success.applied[0].subject, "ldap.user:jdoe");
    assert_eq!(success.applied[0].state, json!({"uid": 1001}));
}

#[tokio::test]
async fn exit_75_is_retryable_with_stderr_as_the_error() {
    let program = script("tempfail", "echo 'ldap server busy' >&2; exit 75");
    let error = shell(program, MINUTE).execute(&task()).await.unwrap_err();
    assert!(
        matches!(&error, ExecutionError::Retryable(message) if message.contains("ldap server busy")),
        "{error:?}"
    );
}

#[tokio::test]
async fn any_other_exit_status_is_permanent() {
    let program = script("fail", "echo 'no such group' >&2; exit 3");
    let error = shell(program, MINUTE).execute(&task()).await.unwrap_err();
    assert!(
        matches!(&error, ExecutionError::Permanent(message) if message.contains("exited 3") && message.contains("no such group")),
        "{error:?}"
    );
}

#[tokio::test]
async fn malformed_output_on_success_is_a_permanent_error_naming_it() {
    let program = script("malformed", "echo 'created user jdoe'");
    let error = shell(program, MINUTE).execute(&task()).await.unwrap_err();
    assert!(
        matches!(&error, ExecutionError::Permanent(message) if message.contains("not JSON") && message.contains("created user jdoe")),
        "{error:?}"
    );
    let program = script("bad-applied", r#"echo '{"applied": [{"state": 1}]}'"#);
    let error = shell(program, MINUTE).execute(&task()).await.unwrap_err();
    assert!(
        matches!(&error, ExecutionError::Permanent(message) if message.contains("applied")),
        "{error:?}"
    );
}

#[tokio::test]
async fn stderr_is_kept_bounded_to_its_tail() {
    let program = script(
        "noisy",
        "i=0; while [ $i -lt 5000 ]; do echo \"line $i of noise\" >&2; i=$((i+1)); done; exit 1",
    );
    let ExecutionError::Permanent(message) =
        shell(program, MINUTE).execute(&task()).await.unwrap_err()
    else {
        panic!("expected a permanent error");
    };
    assert!(message.len() < 9 * 1024, "{} bytes kept", message.len());
    assert!(message.contains("line 4999 of noise"));
    assert!(!message.contains("line 1 of noise\n"));
}

fn config_for(program: PathBuf) -> ShellConfig {
    ShellConfig {
        program,
        args: Vec::new(),
        timeout: MINUTE,
        env: BTreeMap::new(),
        working_directory: None,
    }
}

#[tokio::test]
async fn a_program_missing_or_not_executable_at_run_time_is_retryable_for_the_site_to_fix() {
    let missing = Shell::new(config_for(PathBuf::from("/nonexistent/hook")));
    let error = missing.execute(&task()).await.unwrap_err();
    assert!(
        matches!(&error, ExecutionError::Retryable(message) if message.contains("cannot run /nonexistent/hook")),
        "{error:?}"
    );

    let not_executable = script("not-executable", "exit 0");
    std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = Shell::new(config_for(not_executable.clone()))
        .execute(&task())
        .await
        .unwrap_err();
    // As root, a file with no execute bit at all is still refused by exec.
    assert!(
        matches!(&error, ExecutionError::Retryable(message) if message.contains(&format!("cannot run {}", not_executable.display()))),
        "{error:?}"
    );
}

#[test]
fn check_program_finds_programs_as_starting_them_does_and_names_what_is_wrong() {
    let hook = script("check", "exit 0");
    let directory = hook.parent().unwrap().to_path_buf();
    assert_eq!(config_for(hook.clone()).check_program(), Ok(hook.clone()));
    // A bare name is looked up in the PATH, the configured one first.
    assert_eq!(
        config_for(PathBuf::from("sh"))
            .check_program()
            .unwrap()
            .file_name(),
        Some(std::ffi::OsStr::new("sh"))
    );
    let mut on_configured_path = config_for(PathBuf::from("hook"));
    on_configured_path.env =
        BTreeMap::from([("PATH".to_string(), directory.display().to_string())]);
    assert_eq!(on_configured_path.check_program(), Ok(hook.clone()));
    // A relative path is taken from the working directory.
    let mut relative = config_for(PathBuf::from("./hook"));
    relative.working_directory = Some(directory.clone());
    assert_eq!(relative.check_program(), Ok(directory.join("./hook")));

    assert_eq!(
        config_for(PathBuf::from("/nonexistent/hook")).check_program(),
        Err(ProgramError::Missing(PathBuf::from("/nonexistent/hook")))
    );
    assert!(matches!(
        config_for(PathBuf::from("no-such-program-anywhere")).check_program(),
        Err(ProgramError::NotOnPath { name, .. }) if name == "no-such-program-anywhere"
    ));
    assert_eq!(
        config_for(directory.clone()).check_program(),
        Err(ProgramError::NotAFile(directory.clone()))
    );
    let not_executable = directory.join("not-executable");
    std::fs::write(&not_executable, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        config_for(not_executable.clone()).check_program(),
        Err(ProgramError::NotExecutable(not_executable))
    );
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group_and_is_retryable() {
    let dir = std::env::temp_dir().join(format!("purser-shell-timeout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("grandchild.pid");
    // The hook starts a grandchild in the background and waits on it; the grandchild never ends.
    let program = script(
        "timeout",
        &format!("sleep 1000 &\necho $! > {}\nwait", pid_file.display()),
    );
    let started = Instant::now();
    let error = shell(program, Duration::from_millis(500))
        .execute(&task())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ExecutionError::Retryable(message) if message.contains("timeout")),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let grandchild: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The group was sent SIGKILL; wait (with a deadline) for the kernel to reap the grandchild.
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_alive(grandchild) {
        assert!(
            Instant::now() < deadline,
            "grandchild {grandchild} survived the timeout"
        );
        std::thread::yield_now();
    }
}

fn process_alive(pid: i32) -> bool {
    // A zombie (killed, not yet reaped by init) counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .split_whitespace()
            .nth(2)
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

/// Waits, with a deadline, until the process whose pid a script wrote to `pid_file` is gone.
fn wait_until_gone(pid_file: &std::path::Path) {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_alive(pid) {
        assert!(
            Instant::now() < deadline,
            "background child {pid} outlived its task"
        );
        std::thread::yield_now();
    }
}

#[tokio::test]
async fn a_script_exiting_0_while_its_background_child_holds_stdout_succeeds_with_what_it_wrote() {
    let dir = std::env::temp_dir().join(format!("purser-shell-holder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("child.pid");
    // The background sleep inherits stdout and would hold it open for five minutes.
    let program = script(
        "holder",
        &format!(
            "echo '{{\"ok\": true}}'\nsleep 300 &\necho $! > {}\nexit 0",
            pid_file.display()
        ),
    );
    let started = Instant::now();
    let success = shell(program, MINUTE).execute(&task()).await.unwrap();
    assert_eq!(success.result, Some(json!({"ok": true})));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited {:?} for a pipe the script no longer wrote to",
        started.elapsed()
    );
    wait_until_gone(&pid_file);
}

#[tokio::test]
async fn a_background_child_with_closed_stdio_is_killed_when_its_script_succeeds_or_fails() {
    let dir = std::env::temp_dir().join(format!("purser-shell-detached-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, exit) in [("succeeds", 0), ("fails", 3)] {
        let pid_file = dir.join(format!("{name}.pid"));
        let program = script(
            &format!("detached-{name}"),
            &format!(
                "sleep 300 >/dev/null 2>&1 </dev/null &\necho $! > {}\nexit {exit}",
                pid_file.display()
            ),
        );
        let outcome = shell(program, MINUTE).execute(&task()).await;
        assert_eq!(outcome.is_ok(), exit == 0, "{outcome:?}");
        wait_until_gone(&pid_file);
    }
}
