//! Nobody gets in who should not, through real clients against `eddy serve`:
//!
//! - psql with a password over TLS (`sslmode=require`, channel binding required, a
//!   self-signed certificate made with the `openssl` command), a wrong password and an
//!   unknown user refused with 28P01, `EDDY_PASSWORD`, `--tls-required`, and SSLRequest
//!   still refused without a certificate;
//! - psycopg 3 with a password over TLS;
//! - the refusal to listen beyond loopback without a password (and `--insecure-no-auth`);
//! - `--max-connections` (53300) and the idle timeouts (57P05, 25P03).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{config, eddy_binary, psql_command};
use eddy_testkit::Eddy;
use tempfile::TempDir;
use tokio_postgres::error::SqlState;

/// A self-signed certificate for `localhost` and its key, in `dir`.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running openssl");
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

/// Files a server test needs beside the server: certificate, key, password file.
struct Secrets {
    dir: TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Secrets {
    fn new() -> Secrets {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path());
        Secrets { dir, cert, key }
    }

    fn password_file(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("passwords");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn tls_args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }
}

fn start(extra_args: Vec<String>, env: Vec<(&str, &str)>) -> Eddy {
    let mut config = config(1);
    config.extra_args = extra_args;
    config.env = env
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Eddy::start(config).unwrap_or_else(|e| panic!("starting eddy: {e:#}"))
}

/// psql as `user` with `password` (none: never prompt) and `sslmode`, running `sql`.
fn psql(eddy: &Eddy, user: &str, password: Option<&str>, sslmode: &str, sql: &str) -> Output {
    let mut cmd = psql_command(eddy);
    cmd.args(["-U", user, "-w", "-c", sql])
        .env("PGSSLMODE", sslmode)
        .stdin(Stdio::null());
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    cmd.output().expect("running psql")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "psql failed: {}{}",
        stdout(output),
        stderr(output)
    );
}

fn assert_refused(output: &Output, message: &str) {
    assert!(
        !output.status.success(),
        "psql succeeded: {}",
        stdout(output)
    );
    assert!(
        stderr(output).contains(message),
        "expected {message:?} in psql's error:\n{}",
        stderr(output)
    );
}

/// The SQLSTATE and message of the FATAL error a tokio-postgres login gets.
async fn login_error(eddy: &Eddy, user: &str, password: &str) -> (SqlState, String) {
    let conn_str = format!(
        "host=127.0.0.1 port={} user={user} password={password} dbname=eddy",
        eddy.pg_port()
    );
    match tokio_postgres::connect(&conn_str, tokio_postgres::NoTls).await {
        Ok(_) => panic!("logging in as {user} with {password:?} succeeded"),
        Err(err) => {
            let db = err
                .as_db_error()
                .unwrap_or_else(|| panic!("expected a server error, got {err:?}"));
            assert_eq!(db.severity(), "FATAL");
            (db.code().clone(), db.message().to_string())
        }
    }
}

#[tokio::test]
async fn psql_logs_in_with_a_password_over_tls() {
    let secrets = Secrets::new();
    let passwords = secrets.password_file("# who may log in\neddy:pencil\nalice:a:b c\n");
    let mut args = vec!["--password-file".into(), passwords.display().to_string()];
    args.extend(secrets.tls_args());
    let eddy = start(args, vec![]);

    // TLS, and SCRAM-SHA-256-PLUS bound to the server's certificate.
    let mut cmd = psql_command(&eddy);
    let output = cmd
        .args([
            "-w",
            "-c",
            "CREATE TABLE t (x int)",
            "-c",
            "INSERT INTO t VALUES (1)",
        ])
        .args(["-c", "SELECT x * 7 AS x FROM t", "-c", "\\conninfo"])
        .env("PGSSLMODE", "require")
        .env("PGCHANNELBINDING", "require")
        .env("PGPASSWORD", "pencil")
        .output()
        .unwrap();
    assert_ok(&output);
    assert!(stdout(&output).contains("\n 7\n"), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("SSL connection (protocol: TLSv1."),
        "{}",
        stdout(&output)
    );

    // Another user of the file; a password may hold colons and spaces. Plain
    // connections still work unless --tls-required.
    assert_ok(&psql(&eddy, "alice", Some("a:b c"), "disable", "SELECT 1"));

    // A wrong password, a user that does not exist, and no password at all.
    assert_refused(
        &psql(&eddy, "eddy", Some("pen"), "require", "SELECT 1"),
        "FATAL:  password authentication failed for user \"eddy\"",
    );
    assert_refused(
        &psql(&eddy, "mallory", Some("pencil"), "require", "SELECT 1"),
        "FATAL:  password authentication failed for user \"mallory\"",
    );
    assert_refused(
        &psql(&eddy, "alice", None, "require", "SELECT 1"),
        "no password supplied",
    );
    // The SQLSTATE, which psql does not show.
    assert_eq!(
        login_error(&eddy, "eddy", "pen").await,
        (
            SqlState::INVALID_PASSWORD,
            "password authentication failed for user \"eddy\"".into()
        )
    );
}

#[tokio::test]
async fn eddy_password_is_the_password_of_user_eddy() {
    let eddy = start(vec![], vec![("EDDY_PASSWORD", "s3cret")]);
    assert_ok(&psql(&eddy, "eddy", Some("s3cret"), "prefer", "SELECT 1"));
    assert_refused(
        &psql(&eddy, "eddy", Some("nope"), "prefer", "SELECT 1"),
        "password authentication failed for user \"eddy\"",
    );
    assert_refused(
        &psql(&eddy, "postgres", Some("s3cret"), "prefer", "SELECT 1"),
        "password authentication failed for user \"postgres\"",
    );
    // Without a certificate, SSLRequest is refused as before.
    assert_refused(
        &psql(&eddy, "eddy", Some("s3cret"), "require", "SELECT 1"),
        "server does not support SSL",
    );
}

#[test]
fn tls_required_refuses_plain_connections() {
    let secrets = Secrets::new();
    let mut args = secrets.tls_args();
    args.push("--tls-required".into());
    let eddy = start(args, vec![]);
    assert_ok(&psql(&eddy, "eddy", None, "require", "SELECT 1"));
    assert_refused(
        &psql(&eddy, "eddy", None, "disable", "SELECT 1"),
        "FATAL:  connection for user \"eddy\", database \"eddy\" refused: no encryption",
    );
}

#[test]
fn psycopg_logs_in_with_a_password_over_tls() {
    const SCRIPT: &str = r#"
import sys
import psycopg

port = int(sys.argv[1])
args = dict(host="127.0.0.1", port=port, user="eddy", dbname="eddy", sslmode="require")
with psycopg.connect(password="pencil", autocommit=True, **args) as conn:
    assert conn.info.pgconn.ssl_in_use, "a TLS connection"
    assert conn.execute("SELECT %s::int + 1", [41]).fetchone() == (42,)
try:
    psycopg.connect(password="wrong", **args)
    raise AssertionError("a wrong password must fail")
except psycopg.OperationalError as e:
    assert 'password authentication failed for user "eddy"' in str(e), str(e)
print("psycopg ok")
"#;
    let secrets = Secrets::new();
    let passwords = secrets.password_file("eddy:pencil\n");
    let mut args = vec!["--password-file".into(), passwords.display().to_string()];
    args.extend(secrets.tls_args());
    let eddy = start(args, vec![]);
    let output = Command::new("python3")
        .args(["-c", SCRIPT, &eddy.pg_port().to_string()])
        .env_remove("PGPASSWORD")
        .output()
        .expect("running python3 (scripts/test.sh installs psycopg)");
    assert!(
        output.status.success() && stdout(&output).contains("psycopg ok"),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
}

/// `eddy serve` with `args` on a fresh data directory: the output of a server that
/// exits within 30 s, or `None` once it has printed that it listens (then it is
/// killed).
fn serve_outcome(args: &[&str], env: &[(&str, &str)]) -> Option<Output> {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(eddy_binary())
        .arg("serve")
        .arg("--data-dir")
        .arg(data.path())
        .args(["--http-addr", "127.0.0.1:0", "--workers", "1"])
        .args(args)
        .env_remove("EDDY_PASSWORD")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("eddy listening") {
                let _ = tx.send(line);
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if rx.try_recv().is_ok() {
            child.kill().unwrap();
            child.wait().unwrap();
            return None;
        }
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("eddy serve {args:?} neither exited nor listened within 30 s");
}

#[test]
fn beyond_loopback_a_password_is_required() {
    let refused = serve_outcome(&["--pg-addr", "0.0.0.0:0"], &[])
        .expect("eddy refuses to start on 0.0.0.0 without a password");
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains("refusing to listen on --pg-addr 0.0.0.0:0 without a password")
            && message.contains("--password-file FILE or EDDY_PASSWORD")
            && message.contains("--insecure-no-auth"),
        "{message}"
    );
    assert!(
        serve_outcome(&["--pg-addr", "0.0.0.0:0"], &[("EDDY_PASSWORD", "x")]).is_none(),
        "with a password, eddy starts on 0.0.0.0"
    );
    assert!(
        serve_outcome(&["--pg-addr", "0.0.0.0:0", "--insecure-no-auth"], &[]).is_none(),
        "with --insecure-no-auth, eddy starts on 0.0.0.0"
    );
    // A bad password file stops the start with the line at fault.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwords");
    std::fs::write(&file, "eddy:ok\njust-a-password\n").unwrap();
    let refused = serve_outcome(&["--password-file", file.to_str().unwrap()], &[])
        .expect("a bad password file stops the start");
    assert!(
        stderr(&refused).contains("line 2: expected user:password"),
        "{}",
        stderr(&refused)
    );
}

#[tokio::test]
async fn connections_past_the_limit_get_53300() {
    let eddy = start(vec!["--max-connections".into(), "2".into()], vec![]);
    let first = eddy.connect().await.unwrap();
    let second = eddy.connect().await.unwrap();
    assert_refused(
        &psql(&eddy, "eddy", None, "disable", "SELECT 1"),
        "FATAL:  sorry, too many clients already",
    );
    let conn_str = format!(
        "host=127.0.0.1 port={} user=eddy dbname=eddy",
        eddy.pg_port()
    );
    let err = tokio_postgres::connect(&conn_str, tokio_postgres::NoTls)
        .await
        .err()
        .expect("a third connection is refused");
    assert_eq!(
        err.as_db_error().map(|db| db.code()),
        Some(&SqlState::TOO_MANY_CONNECTIONS)
    );
    first.simple_query("SELECT 1").await.unwrap();
    second.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn idle_sessions_are_closed() {
    let eddy = start(
        vec![
            "--idle-session-timeout".into(),
            "500ms".into(),
            "--idle-in-transaction-session-timeout".into(),
            "1s".into(),
        ],
        vec![],
    );
    // Idle outside a transaction block: tokio-postgres sees the FATAL error.
    let conn_str = format!(
        "host=127.0.0.1 port={} user=eddy dbname=eddy",
        eddy.pg_port()
    );
    let (client, connection) = tokio_postgres::connect(&conn_str, tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    client.simple_query("SELECT 1").await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the idle session is closed")
        .unwrap();
    let err = ended.expect_err("the connection ends with the server's error");
    let db = err.as_db_error().expect("a server error");
    assert_eq!(
        (db.severity(), db.code(), db.message()),
        (
            "FATAL",
            &SqlState::IDLE_SESSION_TIMEOUT,
            "terminating connection due to idle-session timeout"
        )
    );

    // Idle inside one: psql's next statement finds the connection closed.
    let output = psql_command(&eddy)
        .args([
            "-c",
            "BEGIN",
            "-c",
            "SELECT 1",
            "-c",
            "\\! sleep 2",
            "-c",
            "SELECT 2",
        ])
        .output()
        .unwrap();
    assert_refused(
        &output,
        "FATAL:  terminating connection due to idle-in-transaction timeout",
    );
}
