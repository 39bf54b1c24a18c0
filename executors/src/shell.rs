//! `shell`: the escape hatch. Runs a program configured per task kind in the site's TOML,
//! with the task as JSON on stdin and its id and attempt in the environment:
//!
//! ```toml
//! [sites.expanse.shell."site.user.created"]
//! program = "/opt/purser/hooks/user-created"
//! args = ["--quiet"]
//! timeout = "2m"
//! env = { LDAP_BASE = "dc=example,dc=org" }
//! ```
//!
//! | the program…              | the task…                                                 |
//! |---------------------------|-----------------------------------------------------------|
//! | exits 0                   | succeeds; stdout, if any, must be JSON and is the result  |
//! | exits 75 (EX_TEMPFAIL)    | is retried after a backoff                                |
//! | exits otherwise, or dies  | is dead (failed permanently)                              |
//! | outlives its timeout      | is retried; the program's whole process group is killed   |
//! | cannot be started         | is retried: a missing or non-executable program is the    |
//! |                           | site's to fix, not the task's fault                        |
//!
//! A daemon checks every configured program before it starts ([`ShellConfig::check_program`]),
//! so a typo in a path stops it at once instead of failing its first task.
//!
//! stderr (its last 8 KiB) is the error kept on the task. stdout is read up to 1 MiB (more
//! fails the task). Both are decoded as UTF-8, invalid bytes becoming U+FFFD; the engine then
//! makes the outcome storable (`crate::output`: NUL becomes U+FFFD, lengths are bounded). A
//! JSON object on stdout may carry `"applied": [{"subject": "...", "state": {...}}]`: what the
//! program applied, recorded exactly once with the task's completion.
//!
//! The program runs in a process group of its own. Its outcome is its exit status: once it
//! exits, anything it started in the background and left holding stdout or stderr gets
//! [`PIPE_GRACE`] (1 s) to finish writing, then the whole group is killed and what the pipes
//! held is read. The group is killed on every path (success, failure, timeout, a lost lease, a
//! shutdown), so nothing the program started outlives its task, unless it left the group
//! itself (`setsid`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::{Applied, DuplicateKind, ExecutionError, Executor, Registry, Success, Task};

/// The exit status that asks for a retry (sysexits.h `EX_TEMPFAIL`).
pub const EXIT_RETRY: i32 = 75;
/// Most stdout kept; more is an error.
const STDOUT_LIMIT: usize = 1 << 20;
/// The tail of stderr kept as the error.
const STDERR_LIMIT: usize = 8 << 10;
/// How long a program's stdout and stderr may stay open after it exited, held by something it
/// started in the background, before its process group is killed.
pub const PIPE_GRACE: Duration = Duration::from_secs(1);

fn default_timeout() -> Duration {
    Duration::from_secs(300)
}

/// How one kind's program is run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellConfig {
    /// The program to run.
    pub program: PathBuf,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// How long it may run before its process group is killed (default 5m).
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Its working directory (default: the daemon's).
    pub working_directory: Option<PathBuf>,
}

/// Why a configured program cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    /// Nothing is at the path.
    #[error("program {0} does not exist")]
    Missing(PathBuf),
    /// A bare name found in no directory of the PATH.
    #[error("program {name} is not in any directory of the PATH ({path})")]
    NotOnPath {
        /// The program's name.
        name: String,
        /// The PATH searched.
        path: String,
    },
    /// The path is a directory or another non-file.
    #[error("program {0} is not a file")]
    NotAFile(PathBuf),
    /// The daemon's user may not execute it.
    #[error("program {0} is not executable by this user")]
    NotExecutable(PathBuf),
    /// Looking at the path failed (a directory on the way the daemon may not search).
    #[error("program {path} cannot be looked at: {reason}")]
    Inaccessible {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl ShellConfig {
    /// Finds the program as starting it will, and checks that it is a file this process may
    /// execute; returns the path found. A name without a slash is looked up in the PATH (the
    /// configured `env`'s, else the daemon's); a relative path is taken from the working
    /// directory when one is configured, else from the daemon's.
    pub fn check_program(&self) -> Result<PathBuf, ProgramError> {
        let program = &self.program;
        if program.components().count() == 1 && !program.has_root() {
            let path = self
                .env
                .get("PATH")
                .map(OsString::from)
                .or_else(|| std::env::var_os("PATH"))
                .unwrap_or_default();
            return std::env::split_paths(&path)
                .map(|directory| directory.join(program))
                .find(|candidate| candidate.is_file())
                .ok_or_else(|| ProgramError::NotOnPath {
                    name: program.display().to_string(),
                    path: path.to_string_lossy().into_owned(),
                })
                .and_then(|found| check_executable(&found));
        }
        match &self.working_directory {
            Some(directory) if program.is_relative() => check_executable(&directory.join(program)),
            _ => check_executable(program),
        }
    }
}

fn check_executable(path: &Path) -> Result<PathBuf, ProgramError> {
    let metadata = std::fs::metadata(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => ProgramError::Missing(path.to_path_buf()),
        _ => ProgramError::Inaccessible {
            path: path.to_path_buf(),
            reason: error.to_string(),
        },
    })?;
    if !metadata.is_file() {
        return Err(ProgramError::NotAFile(path.to_path_buf()));
    }
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK)
        .map_err(|_| ProgramError::NotExecutable(path.to_path_buf()))?;
    Ok(path.to_path_buf())
}

/// Runs a configured program for one task kind.
#[derive(Debug, Clone)]
pub struct Shell {
    config: ShellConfig,
    stdout_limit: usize,
}

impl Shell {
    /// A shell executor running `config`, reading at most 1 MiB of its stdout.
    pub fn new(config: ShellConfig) -> Self {
        Self {
            config,
            stdout_limit: STDOUT_LIMIT,
        }
    }

    /// The same, reading at most `limit` bytes of stdout (a connector's observe program
    /// prints a whole site).
    pub fn with_stdout_limit(config: ShellConfig, limit: usize) -> Self {
        Self {
            config,
            stdout_limit: limit,
        }
    }

    /// Registers one shell executor per configured kind.
    pub fn register_all(
        registry: &mut Registry,
        kinds: &BTreeMap<String, ShellConfig>,
    ) -> Result<(), DuplicateKind> {
        for (kind, config) in kinds {
            registry.register(kind.clone(), Arc::new(Shell::new(config.clone())))?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Executor for Shell {
    async fn execute(&self, task: &Task) -> Result<Success, ExecutionError> {
        let program = self.config.program.display().to_string();
        let mut command = tokio::process::Command::new(&self.config.program);
        command
            .args(&self.config.args)
            .envs(&self.config.env)
            .env("PURSER_TASK_ID", task.id.to_string())
            .env("PURSER_TASK_ATTEMPT", task.attempt.to_string())
            .env("PURSER_TASK_MAX_ATTEMPTS", task.max_attempts.to_string())
            .env("PURSER_TASK_KIND", &task.kind)
            .env("PURSER_SITE", &task.site)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(directory) = &self.config.working_directory {
            command.current_dir(directory);
        }
        // The program never ran, so the task is not at fault: a missing or non-executable
        // program, or one being replaced as we start it, is the site's to fix. Try again later.
        let mut child = command
            .spawn()
            .map_err(|error| ExecutionError::Retryable(format!("cannot run {program}: {error}")))?;
        // Killed when the program is done with, or on drop (a lost lease, a shutdown).
        let mut group = ProcessGroup::new(child.id());

        let input = json!({
            "id": task.id,
            "site": task.site,
            "kind": task.kind,
            "payload": task.payload,
            "attempt": task.attempt,
            "max_attempts": task.max_attempts,
        });
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let mut stdout_captured = Captured::default();
        let mut stderr_captured = Captured::default();
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        let status = {
            let feed = async {
                if let Some(mut stdin) = stdin {
                    // A program that does not read its input is not an error.
                    let _ = stdin.write_all(input.to_string().as_bytes()).await;
                    let _ = stdin.shutdown().await;
                }
            };
            let mut streams = std::pin::pin!(async {
                tokio::join!(
                    feed,
                    read_bounded(stdout, self.stdout_limit, Keep::Head, &mut stdout_captured),
                    read_bounded(stderr, STDERR_LIMIT, Keep::Tail, &mut stderr_captured),
                )
            });
            let mut streams_closed = false;
            // `None`: the program outlived its timeout.
            let status = loop {
                tokio::select! {
                    _ = &mut streams, if !streams_closed => streams_closed = true,
                    status = child.wait() => break Some(status),
                    () = tokio::time::sleep_until(deadline) => break None,
                }
            };
            if status.is_some() && !streams_closed {
                // It exited, but something it started still holds its pipes: a short grace
                // to finish writing.
                streams_closed = tokio::time::timeout(PIPE_GRACE, &mut streams).await.is_ok();
            }
            // Nothing the program started outlives its task. (Its leader may be reaped by
            // now; the group's id is not reused while any member lives.)
            group.kill();
            if !streams_closed {
                // The group's ends of the pipes are closed now; read what they still hold. A
                // process that left the group may hold them still: not for longer than this.
                let _ = tokio::time::timeout(PIPE_GRACE, &mut streams).await;
            }
            status
        };
        let Some(status) = status else {
            return Err(ExecutionError::Retryable(format!(
                "{program} ran longer than its timeout of {}; its process group was killed",
                humantime_serde::re::humantime::format_duration(self.config.timeout)
            )));
        };
        let status = status.map_err(|error| {
            ExecutionError::Retryable(format!("cannot wait for {program}: {error}"))
        })?;
        let stderr_text = String::from_utf8_lossy(&stderr_captured.bytes)
            .trim()
            .to_string();
        match status.code() {
            Some(0) => parse_output(&program, &stdout_captured, self.stdout_limit),
            Some(EXIT_RETRY) => Err(ExecutionError::Retryable(describe_failure(
                &program,
                "exited 75 (temporary failure)",
                &stderr_text,
            ))),
            Some(code) => Err(ExecutionError::Permanent(describe_failure(
                &program,
                &format!("exited {code}"),
                &stderr_text,
            ))),
            None => {
                use std::os::unix::process::ExitStatusExt;
                let signal = status.signal().unwrap_or_default();
                Err(ExecutionError::Permanent(describe_failure(
                    &program,
                    &format!("was killed by signal {signal}"),
                    &stderr_text,
                )))
            }
        }
    }
}

fn describe_failure(program: &str, what: &str, stderr: &str) -> String {
    if stderr.is_empty() {
        format!("{program} {what}")
    } else {
        format!("{program} {what}: {stderr}")
    }
}

/// Turns a successful program's stdout into the task's result and what it applied.
fn parse_output(program: &str, stdout: &Captured, limit: usize) -> Result<Success, ExecutionError> {
    if stdout.truncated {
        return Err(ExecutionError::Permanent(format!(
            "{program} exited 0 but wrote more than {} KiB to stdout",
            limit >> 10
        )));
    }
    let text = String::from_utf8_lossy(&stdout.bytes);
    if text.trim().is_empty() {
        return Ok(Success::default());
    }
    let result: Value = serde_json::from_str(&text).map_err(|error| {
        let start: String = text.trim().chars().take(120).collect();
        ExecutionError::Permanent(format!(
            "{program} exited 0 but its stdout is not JSON ({error}); it began: {start}"
        ))
    })?;
    let applied = match result.get("applied") {
        None => Vec::new(),
        Some(list) => parse_applied(list).ok_or_else(|| {
            ExecutionError::Permanent(format!(
                "{program} exited 0 but its \"applied\" is not a list of {{\"subject\": string, \"state\": any}}"
            ))
        })?,
    };
    Ok(Success {
        result: Some(result),
        applied,
        observation: None,
    })
}

fn parse_applied(list: &Value) -> Option<Vec<Applied>> {
    list.as_array()?
        .iter()
        .map(|entry| {
            // Whether the subject can be stored is the engine's check (crate::output), for
            // every executor.
            let subject = entry.get("subject")?.as_str()?;
            Some(Applied {
                subject: subject.to_string(),
                state: entry.get("state")?.clone(),
            })
        })
        .collect()
}

/// Which end of an over-long stream to keep.
#[derive(Debug, Clone, Copy)]
enum Keep {
    Head,
    Tail,
}

#[derive(Debug, Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

/// Reads a stream to its end into `captured`, keeping at most `limit` bytes of it: draining the
/// rest so the program never blocks on a full pipe. What it read so far stays in `captured`
/// if it is stopped before the end.
async fn read_bounded(
    stream: Option<impl AsyncRead + Unpin>,
    limit: usize,
    keep: Keep,
    captured: &mut Captured,
) {
    let Some(mut stream) = stream else {
        return;
    };
    let mut buffer = [0_u8; 8192];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                captured.bytes.extend_from_slice(&buffer[..read]);
                if captured.bytes.len() > limit {
                    captured.truncated = true;
                    match keep {
                        Keep::Head => captured.bytes.truncate(limit),
                        Keep::Tail => {
                            let excess = captured.bytes.len() - limit;
                            captured.bytes.drain(..excess);
                        }
                    }
                }
            }
        }
    }
}

/// The program's process group, killed once, when asked or on drop.
struct ProcessGroup {
    leader: Option<i32>,
}

impl ProcessGroup {
    fn new(pid: Option<u32>) -> Self {
        Self {
            leader: pid.and_then(|pid| i32::try_from(pid).ok()),
        }
    }

    fn kill(&mut self) {
        if let Some(leader) = self.leader.take() {
            // The group may be gone already; nothing to do then.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(leader),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}
