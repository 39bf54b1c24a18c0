//! A private PostgreSQL cluster that Purser starts itself from the installed server binaries.
//!
//! It serves the test harness (one cluster per test run) and `purser dev-db` (a database for
//! trying Purser with no set-up). Everything lives in one directory of ours:
//!
//! ```text
//! ROOT/data/           the cluster (initdb)
//! ROOT/.s.PGSQL.PORT   the unix socket: the socket directory is ROOT itself
//! ROOT/postgres.log    the server log
//! ROOT/tcp-password    the superuser's password for TCP (mode 0600), made at initdb
//! ROOT/cluster.lock    serialises processes that start or stop this cluster
//! ```
//!
//! The unix socket takes only our own user (mode 0700) and trusts it; TCP, when asked for,
//! listens on 127.0.0.1 only and wants the password. PostgreSQL refuses to run as root, so
//! when we are root every server binary runs as the `postgres` user through `runuser`, and
//! ROOT belongs to that user.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The default port: it only names the socket file when TCP is off.
const SOCKET_PORT: u16 = 5432;
/// The superuser initdb creates.
pub const SUPERUSER: &str = "postgres";
/// The unprivileged account the server runs as when we are root.
const SERVER_ACCOUNT: &str = "postgres";
/// Longest path a unix socket may have on Linux (`sun_path` is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Why a private cluster could not be set up, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No usable server binaries were found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; looked in {searched}. \
         Install them with `sudo apt-get install -y postgresql` (Debian, Ubuntu) or set PG_BINDIR to their directory"
    )]
    BinariesNotFound {
        /// Where we looked, for the message.
        searched: String,
    },
    /// The server is older than the schema needs.
    #[error("PostgreSQL {found} at {bin_dir} is too old: Purser needs 15 or newer")]
    TooOld {
        /// The version `postgres --version` printed.
        found: String,
        /// Where it is.
        bin_dir: PathBuf,
    },
    /// We are root and there is no unprivileged account to run the server as.
    #[error(
        "running as root, but there is no `postgres` user to run the server as; \
         create it (`useradd --system postgres`) or run as an ordinary user"
    )]
    NoServerAccount,
    /// The directory is unusable for a cluster.
    #[error("cannot use {path} for a PostgreSQL cluster: {reason}")]
    BadDirectory {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A server program failed.
    #[error("{program} failed: {output}")]
    CommandFailed {
        /// What we ran.
        program: String,
        /// Its last lines of output, and of the server log where that says more.
        output: String,
    },
    /// It is running, but not the way we were asked to start it.
    #[error(
        "the cluster at {path} is already running without TCP; stop it first (`purser dev-db stop`)"
    )]
    RunningWithoutTcp {
        /// The cluster's directory.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error("{action} {path}: {error}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The error (in the message, so not a `source` too).
        error: std::io::Error,
    },
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ClusterError + 'a {
    move |error| ClusterError::Io {
        action,
        path: path.to_path_buf(),
        error,
    }
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
#[derive(Debug, Clone)]
pub struct ServerBinaries {
    bin_dir: PathBuf,
}

impl ServerBinaries {
    /// Finds the server binaries: `PG_BINDIR`, then `pg_config --bindir`, then the newest
    /// `/usr/lib/postgresql/*/bin`, then the directory of `pg_ctl` on `PATH`.
    pub fn locate() -> Result<Self, ClusterError> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(dir) = std::env::var_os("PG_BINDIR") {
            candidates.push(PathBuf::from(dir));
        }
        if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
            && output.status.success()
        {
            candidates.push(PathBuf::from(
                String::from_utf8_lossy(&output.stdout).trim(),
            ));
        }
        candidates.extend(debian_server_dirs());
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path));
        }
        let found = candidates.iter().find(|dir| {
            ["initdb", "pg_ctl", "postgres"]
                .iter()
                .all(|program| is_executable(&dir.join(program)))
        });
        let Some(bin_dir) = found else {
            return Err(ClusterError::BinariesNotFound {
                searched: "PG_BINDIR, pg_config --bindir, /usr/lib/postgresql/*/bin and PATH"
                    .to_string(),
            });
        };
        let binaries = Self {
            bin_dir: bin_dir.clone(),
        };
        binaries.check_version()?;
        Ok(binaries)
    }

    /// The directory the binaries are in.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    fn program(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    fn check_version(&self) -> Result<(), ClusterError> {
        let program = self.program("postgres");
        let output = Command::new(&program)
            .arg("--version")
            .output()
            .map_err(io_error("cannot run", &program))?;
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        let major = text
            .split_whitespace()
            .nth(2)
            .and_then(|version| version.split('.').next())
            .and_then(|major| major.parse::<u32>().ok());
        match major {
            Some(major) if major >= 15 => Ok(()),
            _ => Err(ClusterError::TooOld {
                found: text.trim().to_string(),
                bin_dir: self.bin_dir.clone(),
            }),
        }
    }
}

/// `/usr/lib/postgresql/*/bin`, newest major version first.
fn debian_server_dirs() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir("/usr/lib/postgresql") else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// How a new cluster is configured at initdb.
#[derive(Debug, Clone, Copy)]
pub struct ClusterSettings {
    /// Whether the server fsyncs. On for anything measured or kept; off for throwaway tests.
    pub durable: bool,
    /// `max_connections`.
    pub max_connections: u32,
}

impl ClusterSettings {
    /// For `purser dev-db` and benchmarks: durable, like production.
    pub const DEVELOPMENT: Self = Self {
        durable: true,
        max_connections: 100,
    };
    /// For the test harness: fast and throwaway, with room for many parallel tests.
    pub const TESTING: Self = Self {
        durable: false,
        max_connections: 300,
    };
}

/// A running cluster: where to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningCluster {
    /// The server's process id.
    pub pid: i32,
    /// The port (names the socket file; also the TCP port when TCP is on).
    pub port: u16,
    /// The socket directory.
    pub socket_dir: PathBuf,
    /// Whether it listens on 127.0.0.1.
    pub tcp: bool,
    tcp_password: Option<String>,
}

impl RunningCluster {
    /// A URL for `database` over the unix socket, as the superuser.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}@/{database}?host={}&port={}",
            self.socket_dir.display(),
            self.port
        )
    }

    /// A URL for `database` over TCP on 127.0.0.1, with the password, when TCP is on.
    pub fn tcp_url(&self, database: &str) -> Option<String> {
        let password = self.tcp_password.as_ref()?;
        self.tcp.then(|| {
            format!(
                "postgresql://{SUPERUSER}:{password}@127.0.0.1:{}/{database}",
                self.port
            )
        })
    }
}

/// A private cluster in a directory of ours.
#[derive(Debug, Clone)]
pub struct LocalCluster {
    root: PathBuf,
    binaries: ServerBinaries,
}

impl LocalCluster {
    /// A cluster in `root` (created when started), using the installed server binaries.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, ClusterError> {
        let root = root.into();
        let root = std::path::absolute(&root).map_err(io_error("cannot resolve", &root))?;
        let socket_path_length = root
            .join(format!(".s.PGSQL.{}", u16::MAX))
            .as_os_str()
            .len();
        if socket_path_length > MAX_SOCKET_PATH || root.to_string_lossy().contains(['\'', '"', ' '])
        {
            return Err(ClusterError::BadDirectory {
                path: root,
                reason: format!(
                    "the path must be under {} bytes and hold no quotes or spaces, for the unix socket",
                    MAX_SOCKET_PATH - 17
                ),
            });
        }
        Ok(Self {
            root,
            binaries: ServerBinaries::locate()?,
        })
    }

    /// The cluster's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The server log.
    pub fn log_file(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    fn password_file(&self) -> PathBuf {
        self.root.join("tcp-password")
    }

    /// Starts the cluster, creating it first if needed, and returns where it listens. Safe to
    /// call from several processes at once: the first creates and starts it, the others find
    /// it running. `tcp` also listens on 127.0.0.1 on a free port.
    pub fn start(
        &self,
        settings: ClusterSettings,
        tcp: bool,
    ) -> Result<RunningCluster, ClusterError> {
        let _lock = self.lock()?;
        if let Some(running) = self.running()? {
            if tcp && !running.tcp {
                return Err(ClusterError::RunningWithoutTcp {
                    path: self.root.clone(),
                });
            }
            return Ok(running);
        }
        if !self.data_dir().join("PG_VERSION").exists() {
            self.initialize(settings)?;
        }
        let port = if tcp { free_tcp_port()? } else { SOCKET_PORT };
        let listen = if tcp { "127.0.0.1" } else { "" };
        let data_dir = self.data_dir();
        let log_file = self.log_file();
        let options = format!("-p {port} -c listen_addresses='{listen}'");
        self.run_server_program(
            "pg_ctl",
            &[
                "start".as_ref(),
                "--wait".as_ref(),
                "--timeout=60".as_ref(),
                "--silent".as_ref(),
                "-D".as_ref(),
                data_dir.as_os_str(),
                "-l".as_ref(),
                log_file.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
            ],
        )?;
        self.running()?.ok_or_else(|| ClusterError::CommandFailed {
            program: "pg_ctl start".to_string(),
            output: format!(
                "the server did not stay up; see {}",
                self.log_file().display()
            ),
        })
    }

    /// Stops the cluster if it runs (fast shutdown: sessions are ended, nothing is lost).
    /// Returns whether it was running.
    pub fn stop(&self) -> Result<bool, ClusterError> {
        if !self.root.exists() {
            return Ok(false);
        }
        let _lock = self.lock()?;
        if self.running()?.is_none() {
            return Ok(false);
        }
        let data_dir = self.data_dir();
        self.run_server_program(
            "pg_ctl",
            &[
                "stop".as_ref(),
                "--wait".as_ref(),
                "--silent".as_ref(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-D".as_ref(),
                data_dir.as_os_str(),
            ],
        )?;
        Ok(true)
    }

    /// Where the cluster listens, if it is running. Reads `postmaster.pid`, whose lines are the
    /// server's pid, data directory, start time, port, socket directory and listen address.
    pub fn running(&self) -> Result<Option<RunningCluster>, ClusterError> {
        let pid_file = self.data_dir().join("postmaster.pid");
        let text = match fs::read_to_string(&pid_file) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error("cannot read", &pid_file)(error)),
        };
        let lines: Vec<&str> = text.lines().collect();
        let field = |index: usize| lines.get(index).map(|line| line.trim()).unwrap_or("");
        let (Ok(pid), Ok(port)) = (field(0).parse::<i32>(), field(3).parse::<u16>()) else {
            return Ok(None);
        };
        if !process_exists(pid) {
            return Ok(None);
        }
        let tcp = !field(5).is_empty();
        Ok(Some(RunningCluster {
            pid,
            port,
            socket_dir: PathBuf::from(field(4)),
            tcp,
            tcp_password: fs::read_to_string(self.password_file())
                .ok()
                .map(|password| password.trim().to_string()),
        }))
    }

    fn initialize(&self, settings: ClusterSettings) -> Result<(), ClusterError> {
        let data_dir = self.data_dir();
        if data_dir.exists() {
            fs::remove_dir_all(&data_dir)
                .map_err(io_error("cannot clear a half-made cluster in", &data_dir))?;
        }
        let password = random_password();
        write_private_file(&self.password_file(), &password)?;
        // initdb reads the password from a file it must be able to open as the server account.
        let initdb_password_file = self.root.join("initdb-password");
        write_private_file(&initdb_password_file, &password)?;
        self.hand_to_server_account(&initdb_password_file)?;
        let initialized = self.run_server_program(
            "initdb",
            &[
                "--pgdata".as_ref(),
                data_dir.as_os_str(),
                "--username".as_ref(),
                SUPERUSER.as_ref(),
                "--pwfile".as_ref(),
                initdb_password_file.as_os_str(),
                "--auth-local=trust".as_ref(),
                "--auth-host=scram-sha-256".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--locale=C.UTF-8".as_ref(),
                "--no-instructions".as_ref(),
            ],
        );
        fs::remove_file(&initdb_password_file)
            .map_err(io_error("cannot remove", &initdb_password_file))?;
        initialized?;
        let durable = if settings.durable { "on" } else { "off" };
        let config = format!(
            "\n# Purser's private cluster\n\
             unix_socket_directories = '{socket_dir}'\n\
             unix_socket_permissions = 0700\n\
             max_connections = {max_connections}\n\
             fsync = {durable}\n\
             synchronous_commit = {durable}\n\
             full_page_writes = {durable}\n\
             log_min_messages = warning\n\
             log_line_prefix = '%m [%p] %q%u@%d '\n",
            socket_dir = self.root.display(),
            max_connections = settings.max_connections,
        );
        let config_file = data_dir.join("postgresql.conf");
        OpenOptions::new()
            .append(true)
            .open(&config_file)
            .and_then(|mut file| file.write_all(config.as_bytes()))
            .map_err(io_error("cannot write", &config_file))
    }

    /// Takes the cluster's lock file, creating the directory first.
    fn lock(&self) -> Result<File, ClusterError> {
        fs::create_dir_all(&self.root).map_err(io_error("cannot create", &self.root))?;
        self.hand_to_server_account(&self.root)?;
        let lock_path = self.root.join("cluster.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error("cannot open", &lock_path))?;
        file.lock().map_err(io_error("cannot lock", &lock_path))?;
        Ok(file)
    }

    /// When we are root, gives `path` to the account the server runs as.
    fn hand_to_server_account(&self, path: &Path) -> Result<(), ClusterError> {
        let Some(account) = server_account()? else {
            return Ok(());
        };
        std::os::unix::fs::chown(path, Some(account.uid.as_raw()), Some(account.gid.as_raw()))
            .map_err(io_error("cannot give to the postgres user", path))
    }

    fn run_server_program(
        &self,
        name: &str,
        args: &[&std::ffi::OsStr],
    ) -> Result<Output, ClusterError> {
        let program = self.binaries.program(name);
        let mut command = if server_account()?.is_some() {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", SERVER_ACCOUNT, "--"]).arg(&program);
            runuser
        } else {
            Command::new(&program)
        };
        command.args(args).current_dir(&self.root);
        let output = command.output().map_err(io_error("cannot run", &program))?;
        if output.status.success() {
            return Ok(output);
        }
        let mut text = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if text.is_empty() {
            text = String::from_utf8_lossy(&output.stdout).trim().to_string();
        }
        if let Ok(log) = fs::read_to_string(self.log_file()) {
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            if !tail.is_empty() {
                text.push_str("; server log: ");
                text.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join(" | "));
            }
        }
        Err(ClusterError::CommandFailed {
            program: name.to_string(),
            output: text.replace('\n', " | "),
        })
    }
}

/// The account to run the server as: `Some` only when we are root.
fn server_account() -> Result<Option<nix::unistd::User>, ClusterError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name(SERVER_ACCOUNT) {
        Ok(Some(user)) => Ok(Some(user)),
        _ => Err(ClusterError::NoServerAccount),
    }
}

fn process_exists(pid: i32) -> bool {
    use nix::errno::Errno;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// Asks the kernel for a free loopback port. Another process could take it before the server
/// binds it; then the start fails with a clear message and a second try picks another.
fn free_tcp_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io_error(
        "cannot find a free port on",
        Path::new("127.0.0.1"),
    ))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(io_error(
            "cannot find a free port on",
            Path::new("127.0.0.1"),
        ))
}

fn random_password() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn write_private_file(path: &Path, contents: &str) -> Result<(), ClusterError> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .map_err(io_error("cannot write", path))
}
