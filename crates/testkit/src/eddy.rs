//! An Eddy server process for end-to-end tests.
//!
//! [`Eddy::start`] runs `eddy serve --data-dir D --pg-addr 127.0.0.1:P --http-addr
//! 127.0.0.1:H --workers N [--views V]` on two free ports and returns once
//! `GET /health` answers 200. Its stdout and stderr are appended to one log file, kept
//! for the whole life of the [`Eddy`] value (across restarts); a failed start shows the
//! log's tail, and so does a test that panics while the server is running.
//!
//! The data directory is a temporary one unless [`EddyConfig::data_dir`] names one; both
//! survive [`Eddy::kill9`], [`Eddy::stop`] and [`Eddy::restart`], which is what restart
//! tests need. Each (re)start picks new ports, so clients must reconnect with the new
//! [`Eddy::pg_port`]. Dropping an `Eddy` sends SIGTERM, then SIGKILL after a grace
//! period.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;
use tokio_postgres::Client;

use crate::net::{free_port, http_get, HttpResponse};
use crate::postgres::connect;
use crate::process::{file_tail, send_signal};

/// How long a start may take until `/health` answers 200.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Eddy::stop`] waits for the process to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long dropping an `Eddy` waits after SIGTERM before SIGKILL.
const DROP_GRACE: Duration = Duration::from_secs(5);
/// How often the readiness and exit checks poll.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How many starts are tried when the server dies because a port was taken.
const PORT_ATTEMPTS: usize = 5;
/// What the server prints once it has bound its ports and is ready.
const LISTENING: &str = "eddy listening:";
/// Lines of the log shown in errors.
const LOG_TAIL_LINES: usize = 40;

/// How to run an Eddy server.
#[derive(Clone, Debug)]
pub struct EddyConfig {
    /// Timely worker threads (`--workers`).
    pub workers: usize,
    /// The data directory; a temporary one (kept across restarts) when `None`.
    pub data_dir: Option<PathBuf>,
    /// A directory of view files (`--views`).
    pub views_dir: Option<PathBuf>,
    /// The `eddy` binary (`env!("CARGO_BIN_EXE_eddy")` in the server's tests).
    pub binary: PathBuf,
    /// More `eddy serve` arguments (for example `--snapshot-rows 50`).
    pub extra_args: Vec<String>,
    /// Environment variables of the server process (for example `EDDY_PASSWORD`).
    pub env: Vec<(String, String)>,
}

impl EddyConfig {
    /// One worker, temporary data directory, no views directory.
    pub fn new(binary: impl Into<PathBuf>) -> EddyConfig {
        EddyConfig {
            workers: 1,
            data_dir: None,
            views_dir: None,
            binary: binary.into(),
            extra_args: vec![],
            env: vec![],
        }
    }

    /// The same config with `workers` workers.
    pub fn workers(mut self, workers: usize) -> EddyConfig {
        self.workers = workers;
        self
    }
}

/// A running (or stopped, between restarts) Eddy server.
pub struct Eddy {
    config: EddyConfig,
    data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    pg_port: u16,
    http_port: u16,
    /// Holds the log and, unless configured, the data directory; deleted last.
    _scratch: TempDir,
}

impl Eddy {
    /// Starts the server and waits until it is ready.
    pub fn start(config: EddyConfig) -> Result<Eddy> {
        let scratch = tempfile::Builder::new()
            .prefix("eddy-test-")
            .tempdir()
            .context("creating a temporary directory for eddy")?;
        let data_dir = match &config.data_dir {
            Some(dir) => dir.clone(),
            None => scratch.path().join("data"),
        };
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let log_path = scratch.path().join("eddy.log");
        let mut eddy = Eddy {
            config,
            data_dir,
            log_path,
            child: None,
            pg_port: 0,
            http_port: 0,
            _scratch: scratch,
        };
        eddy.spawn_until_ready()?;
        Ok(eddy)
    }

    /// The pgwire port on 127.0.0.1 (changes on restart).
    pub fn pg_port(&self) -> u16 {
        self.pg_port
    }

    /// The HTTP port on 127.0.0.1 (changes on restart).
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The data directory, kept across restarts.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file that receives the server's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log_path, lines)
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `postgres://eddy@127.0.0.1:PORT/eddy`.
    pub fn url(&self) -> String {
        format!("postgres://eddy@127.0.0.1:{}/eddy", self.pg_port)
    }

    /// Connects over pgwire as user `eddy` to database `eddy` (no TLS); the connection
    /// runs on a spawned tokio task.
    pub async fn connect(&self) -> Result<Client> {
        connect(&format!(
            "host=127.0.0.1 port={} user=eddy dbname=eddy connect_timeout=10",
            self.pg_port
        ))
        .await
        .with_context(|| {
            format!(
                "connecting to eddy on port {}\nlog tail:\n{}",
                self.pg_port,
                self.log_tail(20)
            )
        })
    }

    /// `GET path` on the HTTP port.
    pub fn http_get(&self, path: &str) -> Result<HttpResponse> {
        http_get(self.http_port, path, Duration::from_secs(10))
    }

    /// Kills the server with SIGKILL and reaps it; a no-op when it is not running.
    pub fn kill9(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("sending SIGKILL to eddy")?;
            child.wait().context("waiting for eddy after SIGKILL")?;
            self.note("killed with SIGKILL");
        }
        Ok(())
    }

    /// Stops the server with SIGTERM; it must exit with status 0 within 10 s (it is
    /// killed otherwise, and this returns an error with the log tail).
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        send_signal(child.id(), "TERM")?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().context("waiting for eddy")? {
                self.note(&format!("exited after SIGTERM with {status}"));
                if !status.success() {
                    bail!(
                        "eddy exited with {status} after SIGTERM (expected 0)\nlog tail ({}):\n{}",
                        self.log_path.display(),
                        self.log_tail(LOG_TAIL_LINES)
                    );
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "eddy did not exit within {STOP_TIMEOUT:?} after SIGTERM; killed it\nlog tail ({}):\n{}",
                    self.log_path.display(),
                    self.log_tail(LOG_TAIL_LINES)
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Starts the server again on the same data directory (new ports). A server that is
    /// still running is stopped with [`Eddy::stop`] first.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.spawn_until_ready()
    }

    /// Appends a harness note to the log, so the log shows where restarts happened.
    fn note(&self, what: &str) {
        if let Ok(mut log) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
        {
            let _ = writeln!(log, "---- eddy-testkit: {what} ----");
        }
    }

    /// Spawns the server and waits for readiness, retrying on new ports when it dies
    /// because a port was taken by someone else in the meantime.
    fn spawn_until_ready(&mut self) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.spawn_once()? {
                Readiness::Ready => return Ok(()),
                Readiness::PortTaken if attempt < PORT_ATTEMPTS => continue,
                Readiness::PortTaken | Readiness::Exited => {
                    bail!(
                        "eddy exited before it was ready\ncommand: {}\nlog tail ({}):\n{}",
                        self.command_line(),
                        self.log_path.display(),
                        self.log_tail(LOG_TAIL_LINES)
                    )
                }
            }
        }
    }

    fn command_line(&self) -> String {
        let mut line = format!(
            "{} serve --data-dir {} --pg-addr 127.0.0.1:{} --http-addr 127.0.0.1:{} --workers {}",
            self.config.binary.display(),
            self.data_dir.display(),
            self.pg_port,
            self.http_port,
            self.config.workers
        );
        if let Some(views) = &self.config.views_dir {
            line.push_str(&format!(" --views {}", views.display()));
        }
        line
    }

    fn spawn_once(&mut self) -> Result<Readiness> {
        self.pg_port = free_port()?;
        self.http_port = loop {
            let port = free_port()?;
            if port != self.pg_port {
                break port;
            }
        };
        self.note(&format!("starting: {}", self.command_line()));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening {}", self.log_path.display()))?;
        let log_err: File = log.try_clone()?;
        let mut cmd = Command::new(&self.config.binary);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--pg-addr")
            .arg(format!("127.0.0.1:{}", self.pg_port))
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{}", self.http_port))
            .arg("--workers")
            .arg(self.config.workers.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        if let Some(views) = &self.config.views_dir {
            cmd.arg("--views").arg(views);
        }
        cmd.args(&self.config.extra_args);
        // Only what the config sets: a password in the test's own environment must
        // not change how every other test's server starts.
        cmd.env_remove("EDDY_PASSWORD");
        cmd.envs(self.config.env.iter().map(|(k, v)| (k, v)));
        // Plain text in the log file, whatever the terminal.
        cmd.env("NO_COLOR", "1");
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let log_len_before = std::fs::metadata(&self.log_path)
            .map(|m| m.len())
            .unwrap_or(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", self.config.binary.display()))?;
        self.child = Some(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        // What this start has written to the log so far.
        let this_run = |log_path: &Path| {
            let log = std::fs::read(log_path).unwrap_or_default();
            String::from_utf8_lossy(&log[(log_len_before as usize).min(log.len())..]).into_owned()
        };
        loop {
            let child = self.child.as_mut().expect("spawned above");
            if let Some(status) = child.try_wait().context("polling eddy")? {
                self.child = None;
                self.note(&format!("exited during start-up with {status}"));
                let this_run = this_run(&self.log_path);
                let port_taken =
                    this_run.contains("Address already in use") || this_run.contains("AddrInUse");
                return Ok(if port_taken {
                    Readiness::PortTaken
                } else {
                    Readiness::Exited
                });
            }
            // A 200 counts only once this server says it listens: the port may have been
            // taken meanwhile by another test's server, which answers too (and this one
            // then exits, unable to listen).
            if let Ok(response) = http_get(self.http_port, "/health", Duration::from_secs(1)) {
                if response.status == 200 && this_run(&self.log_path).contains(LISTENING) {
                    self.note("ready");
                    return Ok(Readiness::Ready);
                }
            }
            if Instant::now() >= deadline {
                let _ = self.kill9();
                bail!(
                    "eddy was not ready (GET /health == 200) within {READY_TIMEOUT:?}\ncommand: {}\nlog tail ({}):\n{}",
                    self.command_line(),
                    self.log_path.display(),
                    self.log_tail(LOG_TAIL_LINES)
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

enum Readiness {
    Ready,
    PortTaken,
    Exited,
}

impl Drop for Eddy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- eddy log tail ({}) ----\n{}\n---- end of eddy log ----",
                self.log_path.display(),
                self.log_tail(LOG_TAIL_LINES)
            );
        }
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = send_signal(child.id(), "TERM");
        let deadline = Instant::now() + DROP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
