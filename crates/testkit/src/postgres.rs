//! Private Postgres clusters for tests.
//!
//! [`PgBinaries`] finds `initdb`, `pg_ctl` and `postgres` (on `PATH`, then the newest
//! `/usr/lib/postgresql/*/bin`) and, when they are missing and we are root, installs
//! them with `apt-get` under a lock file, so parallel test binaries install once. Postgres
//! refuses to run as root, so as root every server-side program runs as the `postgres`
//! user through `runuser` (the user is created when missing) on directories chowned to it.
//!
//! [`Cluster`] is one cluster in a directory: `data/` (the data directory), the Unix
//! socket and `postgres.log` beside it. It listens on 127.0.0.1 only, on a free port
//! (retried on a new port when another process takes it first), with `wal_level=logical`,
//! `fsync=off`, `TimeZone=UTC`, trust authentication and superuser `postgres`.
//!
//! [`Postgres`] is a cluster in a temporary directory that is stopped with
//! `pg_ctl stop -m immediate` and deleted on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;
use tokio_postgres::{Client, NoTls};

use crate::net::free_port;
use crate::process::{file_tail, is_root, run_checked};

/// How many times a start is retried when its port was taken in the meantime.
const PORT_ATTEMPTS: usize = 10;
/// How long `pg_ctl start -w` may wait for the server, in seconds.
const START_TIMEOUT_S: u32 = 60;
/// The lock file that serializes `apt-get` across processes.
const INSTALL_LOCK: &str = "/tmp/eddy-testkit-apt.lock";

/// Serializes installs within this process (the lock file covers other processes).
static INSTALL_MUTEX: Mutex<()> = Mutex::new(());

/// The Postgres server programs and how to run them.
#[derive(Clone, Debug)]
pub struct PgBinaries {
    bin_dir: PathBuf,
    /// True when we are root: programs run as the `postgres` user.
    as_postgres_user: bool,
}

impl PgBinaries {
    /// Finds the binaries, installing Postgres with `apt-get` when they are missing and
    /// this process is root.
    pub fn locate() -> Result<PgBinaries> {
        let as_postgres_user = is_root();
        let bin_dir = match find_bin_dir() {
            Some(dir) => dir,
            None if as_postgres_user => {
                install_postgres()?;
                find_bin_dir().ok_or_else(|| {
                    anyhow!("installed postgresql, but initdb is still not on PATH nor in /usr/lib/postgresql/*/bin")
                })?
            }
            None => bail!(
                "postgres server binaries not found (initdb on PATH or in /usr/lib/postgresql/*/bin); \
                 install postgresql, or run as root to let the test harness install it"
            ),
        };
        if as_postgres_user {
            ensure_postgres_user()?;
        }
        Ok(PgBinaries {
            bin_dir,
            as_postgres_user,
        })
    }

    /// The directory holding `initdb`, `pg_ctl` and `postgres`.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// A command for one of the server programs, run as `postgres` when we are root, with
    /// `cwd` as its working directory (the programs fail when they cannot read theirs).
    pub fn command(&self, program: &str, cwd: &Path) -> Command {
        let path = self.bin_dir.join(program);
        let mut cmd = if self.as_postgres_user {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        };
        cmd.current_dir(cwd);
        cmd
    }

    /// The `psql` client: the one beside the server binaries if there is one, else `psql`
    /// on PATH. Clients may run as any user, so this is a plain command.
    pub fn psql(&self) -> Command {
        let beside = self.bin_dir.join("psql");
        if beside.is_file() {
            Command::new(beside)
        } else {
            Command::new("psql")
        }
    }

    /// Makes `dir` (recursively) owned by the user the server programs run as.
    pub fn hand_over(&self, dir: &Path) -> Result<()> {
        if self.as_postgres_user {
            run_checked(
                Command::new("chown").args(["-R", "postgres:"]).arg(dir),
                "chown",
            )?;
        }
        Ok(())
    }
}

/// The directory of `initdb` on PATH (symlinks resolved) if `pg_ctl` and `postgres` are
/// beside it, else the newest `/usr/lib/postgresql/<version>/bin`.
fn find_bin_dir() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|p| dir.join(p).is_file())
    };
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if let Ok(real) = std::fs::canonicalize(&initdb) {
                if let Some(parent) = real.parent() {
                    if complete(parent) {
                        return Some(parent.to_path_buf());
                    }
                }
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| complete(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// `apt-get install postgresql`, serialized by a mutex in this process and by `flock` on
/// a lock file across processes; the command re-checks for `initdb` once it holds the
/// lock, so only the first of several waiting processes installs.
fn install_postgres() -> Result<()> {
    let _guard = INSTALL_MUTEX
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if find_bin_dir().is_some() {
        return Ok(());
    }
    eprintln!("eddy-testkit: postgres binaries missing; installing postgresql with apt-get");
    let script = "ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
                  { apt-get update && apt-get install -y --no-install-recommends postgresql postgresql-client; }";
    run_checked(
        Command::new("flock")
            .arg(INSTALL_LOCK)
            .args(["sh", "-c", script])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        "apt-get install postgresql",
    )?;
    Ok(())
}

/// Creates the `postgres` system user when it does not exist.
fn ensure_postgres_user() -> Result<()> {
    let exists = Command::new("id")
        .arg("postgres")
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false);
    if !exists {
        // Two processes may race here; the loser's useradd fails, which is fine if the
        // user exists afterwards.
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/bin/sh",
                "postgres",
            ])
            .output();
        run_checked(
            Command::new("id").arg("postgres"),
            "creating the postgres user",
        )?;
    }
    Ok(())
}

/// One Postgres cluster living in a directory (`root/data`, the socket and the log in
/// `root`). Dropping a `Cluster` does not stop it; see [`Postgres`] for that.
#[derive(Debug)]
pub struct Cluster {
    bins: PgBinaries,
    root: PathBuf,
    port: u16,
}

impl Cluster {
    /// Creates a cluster in `root/data` (`root` is created and handed to the server user).
    pub fn init(bins: &PgBinaries, root: &Path) -> Result<()> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        bins.hand_over(root)?;
        let data = root.join("data");
        run_checked(
            bins.command("initdb", root).arg("-D").arg(&data).args([
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]),
            "initdb",
        )?;
        let config = format!(
            "\n# eddy-testkit\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             wal_level = logical\nmax_wal_senders = 10\nmax_replication_slots = 10\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             shared_buffers = 32MB\nmax_connections = 100\nTimeZone = 'UTC'\n\
             log_min_messages = warning\n",
            root.display()
        );
        let conf_path = data.join("postgresql.conf");
        let mut conf = std::fs::read_to_string(&conf_path)
            .with_context(|| format!("reading {}", conf_path.display()))?;
        conf.push_str(&config);
        std::fs::write(&conf_path, conf)
            .with_context(|| format!("writing {}", conf_path.display()))?;
        bins.hand_over(root)?;
        Ok(())
    }

    /// Starts the cluster in `root` on a free port and waits until it accepts
    /// connections; a start that lost its port to another process is retried.
    pub fn start(bins: &PgBinaries, root: &Path) -> Result<Cluster> {
        let log = root.join("postgres.log");
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let out = bins
                .command("pg_ctl", root)
                .arg("-D")
                .arg(root.join("data"))
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", &START_TIMEOUT_S.to_string()])
                .args(["-o", &format!("-p {port}")])
                .arg("start")
                .output()
                .context("spawning pg_ctl start")?;
            if out.status.success() {
                return Ok(Cluster {
                    bins: bins.clone(),
                    root: root.to_path_buf(),
                    port,
                });
            }
            let tail = file_tail(&log, 30);
            let message = format!(
                "pg_ctl start failed with {}\nstderr: {}\nlog tail ({}):\n{tail}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                log.display()
            );
            if tail.contains("could not bind") || tail.contains("Address already in use") {
                last_error = Some(message);
                continue;
            }
            bail!(message);
        }
        bail!(
            "postgres did not find a free port in {PORT_ATTEMPTS} attempts; last error: {}",
            last_error.unwrap_or_default()
        )
    }

    /// The cluster in `root` if its postmaster is running (for example after the process
    /// that started it was killed), with the port from `postmaster.pid`.
    pub fn attach(bins: &PgBinaries, root: &Path) -> Result<Option<Cluster>> {
        let data = root.join("data");
        let pid_file = data.join("postmaster.pid");
        if !pid_file.exists() {
            return Ok(None);
        }
        let running = bins
            .command("pg_ctl", root)
            .arg("-D")
            .arg(&data)
            .arg("status")
            .output()
            .context("spawning pg_ctl status")?
            .status
            .success();
        if !running {
            return Ok(None);
        }
        // postmaster.pid: pid, data directory, start time, port, socket directory, ...
        let contents = std::fs::read_to_string(&pid_file)
            .with_context(|| format!("reading {}", pid_file.display()))?;
        let port = contents
            .lines()
            .nth(3)
            .and_then(|line| line.trim().parse::<u16>().ok())
            .ok_or_else(|| anyhow!("no port in {}", pid_file.display()))?;
        Ok(Some(Cluster {
            bins: bins.clone(),
            root: root.to_path_buf(),
            port,
        }))
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding `data/`, the socket and the log.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The server log.
    pub fn log_path(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    /// A connection URL for `user` and `database`.
    pub fn url_for(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }

    /// Connects as `user` to `database`; the connection runs on a spawned tokio task.
    pub async fn connect_as(&self, user: &str, database: &str) -> Result<Client> {
        connect(&format!(
            "host=127.0.0.1 port={} user={user} dbname={database} connect_timeout=10",
            self.port
        ))
        .await
        .with_context(|| format!("connecting to postgres on port {}", self.port))
    }

    /// Stops the cluster (`pg_ctl stop -m <mode>`) and starts it again on the same port,
    /// waiting until it accepts connections: what clients see of a Postgres restart.
    pub fn restart(&self, mode: &str) -> Result<()> {
        self.stop(mode)?;
        let log = self.log_path();
        run_checked(
            self.bins
                .command("pg_ctl", &self.root)
                .arg("-D")
                .arg(self.root.join("data"))
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", &START_TIMEOUT_S.to_string()])
                .args(["-o", &format!("-p {}", self.port)])
                .arg("start"),
            "pg_ctl start",
        )
        .with_context(|| format!("restarting postgres; log tail:\n{}", file_tail(&log, 30)))?;
        Ok(())
    }

    /// `pg_ctl stop -m <mode>` (`immediate`, `fast` or `smart`), waiting for the exit.
    pub fn stop(&self, mode: &str) -> Result<()> {
        run_checked(
            self.bins
                .command("pg_ctl", &self.root)
                .arg("-D")
                .arg(self.root.join("data"))
                .args(["-m", mode, "-w", "stop"]),
            "pg_ctl stop",
        )?;
        Ok(())
    }
}

/// Connects with a libpq-style config string; the connection runs on a spawned task.
pub(crate) async fn connect(config: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(config, NoTls).await?;
    tokio::spawn(async move {
        // The error, if any, surfaces on the client's next call.
        let _ = connection.await;
    });
    Ok(client)
}

/// A private, throw-away Postgres cluster: superuser `postgres`, database `postgres`.
pub struct Postgres {
    cluster: Cluster,
    /// Deleted after the cluster is stopped (fields drop after `Drop::drop`).
    _dir: TempDir,
}

impl Postgres {
    /// Runs `initdb` into a new temporary directory and starts the cluster.
    pub fn start() -> Result<Postgres> {
        let bins = PgBinaries::locate()?;
        let mut builder = tempfile::Builder::new();
        builder.prefix("eddy-pg-");
        // As root the directory must be reachable by the postgres user: /tmp always is.
        let dir = if is_root() {
            builder.tempdir_in("/tmp")
        } else {
            builder.tempdir()
        }
        .context("creating a temporary directory for postgres")?;
        Cluster::init(&bins, dir.path())?;
        let cluster = Cluster::start(&bins, dir.path())?;
        Ok(Postgres { cluster, _dir: dir })
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.cluster.port()
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        self.cluster.url_for("postgres", "postgres")
    }

    /// The underlying cluster (log path, other users and databases).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Connects as `postgres` to database `postgres`.
    pub async fn connect(&self) -> Result<Client> {
        self.cluster.connect_as("postgres", "postgres").await
    }

    /// Connects as `postgres` to `database`.
    pub async fn connect_to(&self, database: &str) -> Result<Client> {
        self.cluster.connect_as("postgres", database).await
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Err(e) = self.cluster.stop("immediate") {
            eprintln!(
                "eddy-testkit: stopping postgres on port {} failed: {e:#}",
                self.port()
            );
        }
    }
}
