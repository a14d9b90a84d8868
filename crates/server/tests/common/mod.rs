//! Shared by the server's integration tests: which binary to run and how to start it.
//!
//! The tests run `env!("CARGO_BIN_EXE_eddy")` unless `EDDY_TEST_BINARY` names another
//! binary with the same command line (for example a release build, or an older version
//! to compare against).

#![allow(dead_code)]

use std::path::PathBuf;

use eddy_testkit::{Eddy, EddyConfig};

/// The server binary under test.
pub fn eddy_binary() -> PathBuf {
    match std::env::var_os("EDDY_TEST_BINARY") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_eddy")),
    }
}

/// The config for a server with `workers` workers and a temporary data directory.
pub fn config(workers: usize) -> EddyConfig {
    EddyConfig::new(eddy_binary()).workers(workers)
}

/// Starts a server with 2 workers whose sources and sinks use `kafka`'s brokers.
pub fn start_with_kafka(kafka: &eddy_testkit::Kafka) -> Eddy {
    let mut config = config(2);
    config.extra_args = vec![
        "--kafka-brokers".into(),
        kafka.bootstrap_servers().to_string(),
    ];
    Eddy::start(config).unwrap_or_else(|e| panic!("starting eddy: {e:#}"))
}

/// New topics of one partition on `kafka`, one per prefix (made unique).
pub async fn new_topics<const N: usize>(
    kafka: &eddy_testkit::Kafka,
    prefixes: [&str; N],
) -> [String; N] {
    let topics = prefixes.map(|p| kafka.unique_topic(p));
    for topic in &topics {
        kafka.create_topic(topic, 1).await.expect("topic");
    }
    topics
}

/// A server reading from `kafka` ([`start_with_kafka`]) and a client of it.
pub async fn eddy_with_kafka(kafka: &eddy_testkit::Kafka) -> (Eddy, tokio_postgres::Client) {
    let eddy = start_with_kafka(kafka);
    let client = eddy.connect().await.expect("connect");
    (eddy, client)
}

/// Starts a server with `workers` workers and a temporary data directory.
pub fn start_eddy(workers: usize) -> Eddy {
    Eddy::start(config(workers)).unwrap_or_else(|e| panic!("starting eddy: {e:#}"))
}

/// `psql -X -h 127.0.0.1 -p PORT -U eddy -d eddy -v ON_ERROR_STOP=1`, ready for the
/// test's own arguments; `-X` skips any `~/.psqlrc`, and no password or options come
/// from the environment.
pub fn psql_command(eddy: &Eddy) -> std::process::Command {
    let bins = eddy_testkit::PgBinaries::locate().unwrap_or_else(|e| panic!("finding psql: {e:#}"));
    let port = eddy.pg_port().to_string();
    let mut cmd = bins.psql();
    cmd.args([
        "-X",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-U",
        "eddy",
        "-d",
        "eddy",
    ])
    .args(["-v", "ON_ERROR_STOP=1"])
    .env("PGCONNECT_TIMEOUT", "10")
    .env_remove("PGPASSWORD")
    .env_remove("PGOPTIONS");
    cmd
}

/// Formats a client error with its SQLSTATE, detail and hint, for assertion messages.
pub fn describe_error(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => {
            let mut text = format!(
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            );
            if let Some(detail) = db.detail() {
                text.push_str(&format!("\nDETAIL: {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("\nHINT: {hint}"));
            }
            text
        }
        None => err.to_string(),
    }
}

/// The rows of `sql` in the order the server sends them, each as its columns joined by
/// spaces (NULL as `NULL`); panics on an error.
pub async fn lines(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", describe_error(&e)))
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ => None,
        })
        .collect()
}

/// Waits until [`lines`] of `sql` are `expected`; panics with the last rows after 60 s.
pub async fn wait_for_lines<S>(client: &tokio_postgres::Client, sql: &str, expected: &[S])
where
    S: AsRef<str> + std::fmt::Debug,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let got = lines(client, sql).await;
        if got
            .iter()
            .map(String::as_str)
            .eq(expected.iter().map(AsRef::as_ref))
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{sql}:\n got {got:#?}\nwant {expected:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The rows of `sql` as lines, columns separated by a space, NULL as `NULL` (sorted, as
/// `query_rows` gives them).
pub async fn flat_rows(client: &tokio_postgres::Client, sql: &str) -> Result<Vec<String>, String> {
    let rows = eddy_testkit::query_rows(client, sql)
        .await
        .map_err(|e| format!("{e:#}"))?;
    Ok(rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect())
}

/// Runs `command` (a driver's probe, a compiler); panics with its output when it
/// cannot run or fails. Returns its stdout and stderr.
pub fn run_command(command: &mut std::process::Command, what: &str) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

/// The value of series `series` (a name with its labels, as `/metrics` prints it,
/// e.g. `eddy_view_rows{view="v"}`) in `/metrics`, if it is there.
pub fn metric(eddy: &Eddy, series: &str) -> Option<u64> {
    let metrics = eddy.http_get("/metrics").expect("GET /metrics").body;
    metrics.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.trim().parse().ok())?
    })
}

/// The records materialized view `view`'s arrangements hold, from `/metrics`.
pub fn arrangement_records(eddy: &Eddy, view: &str) -> Option<u64> {
    metric(
        eddy,
        &format!("eddy_view_arrangement_records{{view=\"{view}\"}}"),
    )
}
