//! SUBSCRIBE end to end, against a real `eddy serve` and real clients:
//!
//! - tokio-postgres streams a subscription (extended protocol, `query_raw`) and the
//!   simple protocol (`simple_query_raw`), seeing the snapshot, then inserts,
//!   updates and deletes from another session as `(eddy_timestamp, eddy_diff, ...)`
//!   rows in time order;
//! - psql writes `COPY (SUBSCRIBE ...) TO STDOUT` as it comes, and Ctrl-C cancels it;
//! - psycopg 3 streams a few rows with `cursor.stream()` and closes;
//! - a driver's cancel ends a subscription with 57014, DROP of the view ends it with
//!   42P01, and a client that goes away has its subscription dropped;
//! - a client that does not read is dropped once more than
//!   `--subscribe-max-buffered-records` updates wait for it, and the server stays
//!   healthy.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::start_eddy;
use eddy_testkit::Eddy;
use futures::{pin_mut, StreamExt, TryStreamExt};
use tokio_postgres::{Client, SimpleQueryMessage};

/// How long a test waits for a row that should come.
const WAIT: Duration = Duration::from_secs(20);

async fn setup(eddy: &Eddy) -> Client {
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE t (k int, v text);
             INSERT INTO t VALUES (1, 'a'), (2, 'b'), (2, 'b');
             CREATE MATERIALIZED VIEW v AS SELECT k, v FROM t WHERE k > 0;",
        )
        .await
        .expect("setup");
    client
}

/// One subscription row: `(timestamp, diff, k, v)`.
type Change = (i64, i64, i32, String);

/// The running subscriptions, from `/metrics`.
fn running_subscribes(eddy: &Eddy) -> u64 {
    let metrics = eddy.http_get("/metrics").expect("GET /metrics");
    metrics
        .body
        .lines()
        .find_map(|l| l.strip_prefix("eddy_subscribes "))
        .and_then(|v| v.trim().parse().ok())
        .expect("eddy_subscribes in /metrics")
}

async fn wait_for_subscribes(eddy: &Eddy, expected: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let running = running_subscribes(eddy);
        if running == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{running} subscriptions running, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Takes the next `n` rows of a stream (each within [`WAIT`]).
async fn take<S>(rows: &mut S, n: usize) -> Vec<Change>
where
    S: futures::Stream<Item = Result<tokio_postgres::Row, tokio_postgres::Error>> + Unpin,
{
    let mut out = Vec::new();
    for _ in 0..n {
        let row = tokio::time::timeout(WAIT, rows.next())
            .await
            .expect("a row within the wait")
            .expect("the stream goes on")
            .expect("a row");
        let names: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["eddy_timestamp", "eddy_diff", "k", "v"]);
        out.push((row.get(0), row.get(1), row.get(2), row.get(3)));
    }
    out
}

/// The changes without their times, sorted (the order within one time is not
/// specified), after checking that all of them share one time.
fn at_one_time(changes: &[Change]) -> Vec<(i64, i32, String)> {
    let time = changes[0].0;
    assert!(changes.iter().all(|c| c.0 == time), "{changes:?}");
    let mut out: Vec<_> = changes.iter().map(|c| (c.1, c.2, c.3.clone())).collect();
    out.sort();
    out
}

#[tokio::test]
async fn tokio_postgres_streams_the_snapshot_then_every_change() {
    let eddy = start_eddy(2);
    let writer = setup(&eddy).await;
    let reader = eddy.connect().await.unwrap();
    let stream = reader
        .query_raw("SUBSCRIBE TO v", std::iter::empty::<i32>())
        .await
        .expect("subscribe");
    pin_mut!(stream);
    let snapshot = take(&mut stream, 2).await;
    assert_eq!(
        at_one_time(&snapshot),
        vec![(1, 1, "a".into()), (2, 2, "b".into())]
    );
    writer
        .execute("INSERT INTO t VALUES (3, 'c'), (-1, 'hidden')", &[])
        .await
        .unwrap();
    let inserted = take(&mut stream, 1).await;
    assert_eq!(at_one_time(&inserted), vec![(1, 3, "c".into())]);
    assert!(inserted[0].0 > snapshot[0].0, "times go forward");
    writer
        .execute("UPDATE t SET v = 'z' WHERE k = 1", &[])
        .await
        .unwrap();
    let updated = take(&mut stream, 2).await;
    assert_eq!(
        at_one_time(&updated),
        vec![(-1, 1, "a".into()), (1, 1, "z".into())]
    );
    writer
        .execute("DELETE FROM t WHERE k = 2", &[])
        .await
        .unwrap();
    let deleted = take(&mut stream, 1).await;
    assert_eq!(at_one_time(&deleted), vec![(-2, 2, "b".into())]);
    assert!(deleted[0].0 > updated[0].0);
    // A transaction's writes arrive at one time.
    writer
        .batch_execute(
            "BEGIN; INSERT INTO t VALUES (5, 'e'); INSERT INTO t VALUES (6, 'f'); COMMIT;",
        )
        .await
        .unwrap();
    let committed = take(&mut stream, 2).await;
    assert_eq!(
        at_one_time(&committed),
        vec![(1, 5, "e".into()), (1, 6, "f".into())]
    );

    // DROP of the view ends the subscription with an error naming it.
    writer
        .batch_execute("DROP MATERIALIZED VIEW v")
        .await
        .unwrap();
    let err = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("the subscription ends")
        .expect("with an error")
        .expect_err("an error");
    let db = err.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "42P01", "{db:?}");
    assert_eq!(db.message(), "subscribe ended: relation \"v\" was dropped");
    // The session goes on.
    let n: i64 = reader
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5);
    wait_for_subscribes(&eddy, 0).await;
}

#[tokio::test]
async fn the_simple_protocol_streams_without_snapshot_and_a_query_can_be_subscribed() {
    let eddy = start_eddy(1);
    let writer = setup(&eddy).await;
    let reader = eddy.connect().await.unwrap();
    let stream = reader
        .simple_query_raw("SUBSCRIBE (SELECT k * 10 AS k10 FROM t) WITH (SNAPSHOT = false)")
        .await
        .expect("subscribe");
    pin_mut!(stream);
    // Without a snapshot, only what is written after the subscription starts shows.
    wait_for_subscribes(&eddy, 1).await;
    writer
        .execute("INSERT INTO t VALUES (7, 'g')", &[])
        .await
        .unwrap();
    let row = loop {
        let message = tokio::time::timeout(WAIT, stream.try_next())
            .await
            .expect("a message within the wait")
            .expect("no error")
            .expect("the stream goes on");
        match message {
            SimpleQueryMessage::Row(row) => break row,
            SimpleQueryMessage::RowDescription(columns) => {
                let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
                assert_eq!(names, ["eddy_timestamp", "eddy_diff", "k10"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(row.get(1), Some("1"));
    assert_eq!(row.get(2), Some("70"));
}

#[tokio::test]
async fn a_cancel_ends_a_subscription_with_57014_and_the_server_goes_on() {
    let eddy = start_eddy(2);
    let writer = setup(&eddy).await;
    let reader = eddy.connect().await.unwrap();
    let token = reader.cancel_token();
    let stream = reader
        .query_raw("SUBSCRIBE v", std::iter::empty::<i32>())
        .await
        .expect("subscribe");
    pin_mut!(stream);
    take(&mut stream, 2).await;
    wait_for_subscribes(&eddy, 1).await;
    token
        .cancel_query(tokio_postgres::NoTls)
        .await
        .expect("cancel request");
    let err = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("the subscription ends")
        .expect("with an error")
        .expect_err("an error");
    assert_eq!(err.as_db_error().unwrap().code().code(), "57014");
    wait_for_subscribes(&eddy, 0).await;
    writer
        .execute("INSERT INTO t VALUES (8, 'h')", &[])
        .await
        .unwrap();
    let n: i64 = reader
        .query_one("SELECT count(*) FROM v", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 4);
}

#[tokio::test]
async fn a_client_that_goes_away_has_its_subscription_dropped() {
    let eddy = start_eddy(1);
    let _writer = setup(&eddy).await;
    // A connection whose task the test owns: tokio-postgres keeps a connection open
    // while a request is unanswered, so the client "goes away" by aborting it.
    let config = format!(
        "host=127.0.0.1 port={} user=eddy dbname=eddy",
        eddy.pg_port()
    );
    let (reader, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let task = tokio::spawn(connection);
    let mut stream = Box::pin(
        reader
            .query_raw("SUBSCRIBE v", std::iter::empty::<i32>())
            .await
            .expect("subscribe"),
    );
    take(&mut stream, 2).await;
    wait_for_subscribes(&eddy, 1).await;
    task.abort();
    let _ = task.await;
    // No change comes: the server notices the closed socket on its keepalive.
    wait_for_subscribes(&eddy, 0).await;
}

/// Reads stdout lines on a thread of their own, so the test can wait with a deadline.
fn line_reader(stdout: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `[diff, k, v]` of the next `n` COPY lines, sorted; they share one timestamp.
fn copy_lines(lines: &std::sync::mpsc::Receiver<String>, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut time = None;
    for _ in 0..n {
        let line = lines.recv_timeout(WAIT).expect("a COPY line from psql");
        let (ts, rest) = line.split_once('\t').expect("tab-separated");
        assert!(ts.parse::<i64>().is_ok(), "{line}");
        assert!(time.as_deref().is_none_or(|t| t == ts), "one time: {line}");
        time = Some(ts.to_string());
        out.push(rest.to_string());
    }
    out.sort();
    out
}

#[tokio::test]
async fn psql_copies_a_subscription_as_it_comes_and_ctrl_c_cancels_it() {
    let eddy = start_eddy(2);
    let writer = setup(&eddy).await;
    // psql writes COPY data with stdio, which a pipe buffers fully; line buffering is
    // what a terminal gets.
    let bins = eddy_testkit::PgBinaries::locate().expect("psql");
    let psql_path = bins.psql().get_program().to_owned();
    let mut args: Vec<std::ffi::OsString> = vec!["-oL".into(), psql_path];
    args.extend(common::psql_command(&eddy).get_args().map(|a| a.to_owned()));
    args.push("-c".into());
    args.push("COPY (SUBSCRIBE TO v) TO STDOUT".into());
    let mut psql = Command::new("stdbuf")
        .args(&args)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql starts");
    let lines = line_reader(psql.stdout.take().unwrap());
    assert_eq!(copy_lines(&lines, 2), ["1\t1\ta", "2\t2\tb"]);
    writer
        .execute("UPDATE t SET v = 'tab\there' WHERE k = 1", &[])
        .await
        .unwrap();
    assert_eq!(copy_lines(&lines, 2), ["-1\t1\ta", "1\t1\ttab\\there"]);
    writer
        .execute("INSERT INTO t VALUES (NULL, 'x'), (9, NULL)", &[])
        .await
        .unwrap();
    assert_eq!(copy_lines(&lines, 1), ["1\t9\t\\N"]);
    // Ctrl-C: psql sends a cancel request and reports the error.
    let status = Command::new("kill")
        .args(["-INT", &psql.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + WAIT;
    let exited = loop {
        if let Some(status) = psql.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "psql still running after Ctrl-C");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    psql.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!exited.success());
    assert!(
        stderr.contains("canceling statement due to user request"),
        "psql printed: {stderr}"
    );
    wait_for_subscribes(&eddy, 0).await;
    let n: i64 = writer
        .query_one("SELECT count(*) FROM v", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 4);
}

const PSYCOPG_SCRIPT: &str = r#"
import sys
import psycopg

port = int(sys.argv[1])
conn = psycopg.connect(host="127.0.0.1", port=port, user="eddy", dbname="eddy", autocommit=True)
writer = psycopg.connect(host="127.0.0.1", port=port, user="eddy", dbname="eddy", autocommit=True)
cur = conn.cursor()
seen = []
for row in cur.stream("SUBSCRIBE TO v"):
    seen.append(row[1:])
    if len(seen) == 2:
        assert sorted(seen) == [(1, 1, "a"), (2, 2, "b")], seen
        writer.execute("INSERT INTO t VALUES (%s, %s)", (4, "d"))
    if len(seen) == 3:
        assert seen[2] == (1, 4, "d"), seen
        break
conn.close()
writer.close()
print("psycopg subscribe ok")
"#;

#[tokio::test]
async fn psycopg_streams_a_few_rows_and_closes() {
    let eddy = start_eddy(1);
    let _writer = setup(&eddy).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("subscribe.py");
    std::fs::write(&path, PSYCOPG_SCRIPT).unwrap();
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("python3")
            .arg(&path)
            .arg(eddy.pg_port().to_string())
            .env_remove("PGOPTIONS")
            .env_remove("PGPASSWORD")
            .output(),
    )
    .await
    .expect("the script finishes")
    .expect("python3 runs (scripts/test.sh installs the drivers)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("psycopg subscribe ok"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    wait_for_subscribes(&eddy, 0).await;
}

/// A client that sends `SUBSCRIBE` over the simple protocol and then never reads.
fn silent_subscriber(port: u16, query: &str) -> std::net::TcpStream {
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut params = Vec::new();
    for s in ["user", "eddy", "database", "eddy"] {
        params.extend_from_slice(s.as_bytes());
        params.push(0);
    }
    params.push(0);
    let mut startup = Vec::new();
    startup.extend_from_slice(&((8 + params.len()) as u32).to_be_bytes());
    startup.extend_from_slice(&196_608u32.to_be_bytes());
    startup.extend_from_slice(&params);
    socket.write_all(&startup).unwrap();
    let mut message = vec![b'Q'];
    message.extend_from_slice(&((4 + query.len() + 1) as u32).to_be_bytes());
    message.extend_from_slice(query.as_bytes());
    message.push(0);
    socket.write_all(&message).unwrap();
    socket
}

#[tokio::test]
async fn a_subscriber_that_does_not_read_is_dropped_and_the_server_stays_healthy() {
    let mut config = common::config(2);
    config.extra_args = vec!["--subscribe-max-buffered-records".into(), "1000".into()];
    let eddy = Eddy::start(config).expect("eddy starts");
    let writer = setup(&eddy).await;
    let socket = silent_subscriber(eddy.pg_port(), "SUBSCRIBE t");
    wait_for_subscribes(&eddy, 1).await;
    // Each insert is 2,000 rows of 1 kB: far more than the socket buffers hold.
    let mut inserts = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while running_subscribes(&eddy) > 0 {
        assert!(
            Instant::now() < deadline,
            "the silent subscriber is never dropped"
        );
        writer
            .execute(
                "INSERT INTO t SELECT g, repeat('x', 1000) FROM generate_series(1, 2000) AS g",
                &[],
            )
            .await
            .unwrap();
        inserts += 1;
    }
    eprintln!("silent subscriber dropped after {inserts} inserts");
    // The server closed the connection: reading drains what was sent, then ends.
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut drained = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match (&socket).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) => panic!("the connection is not closed: {e} after {drained} bytes"),
        }
    }
    // The server goes on: reads, writes, and a new subscription work.
    let n: i64 = writer
        .query_one("SELECT count(*) FROM t WHERE k = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1 + inserts);
    let reader = eddy.connect().await.unwrap();
    let stream = reader
        .query_raw("SUBSCRIBE v", std::iter::empty::<i32>())
        .await
        .unwrap();
    pin_mut!(stream);
    take(&mut stream, 2).await;
}
