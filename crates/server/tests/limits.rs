//! One user's query must never take the server down: a query that would run for days
//! is stopped by `statement_timeout`, by a driver's cancel and by psql's Ctrl-C, each
//! with 57014; a cross-join bomb that would fill the memory fails with 53200 once its
//! dataflow outgrows `--query-max-records`, and the memory goes back. Meanwhile other
//! sessions keep reading and writing and views keep updating.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{describe_error, start_eddy};
use eddy_testkit::Eddy;
use tokio_postgres::Client;

/// A four-way join of 300,000-row inputs: seconds of work, spread over many keys (so
/// the workers can stop it between steps) and in bounded memory.
const SLOW: &str = "SELECT count(*) FROM wide a JOIN wide b ON a.x = b.x \
    JOIN wide c ON c.x = b.x + 1 JOIN wide d ON d.x = c.x + 1";

/// 10^12 rows, with 10^9 of them arranged on the way: it would fill any memory.
const BOMB: &str = "SELECT count(*) FROM big a, big b, big c, big d";

const ROWS: i64 = 1000;

async fn setup(eddy: &Eddy) -> Client {
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE big (x int);
             INSERT INTO big SELECT * FROM generate_series(1, 1000);
             CREATE TABLE wide (x int);
             INSERT INTO wide SELECT * FROM generate_series(1, 300000);
             CREATE MATERIALIZED VIEW n AS SELECT count(*) AS n FROM big;",
        )
        .await
        .expect("setup");
    client
}

/// The view still answers and follows a new write.
async fn still_serving(client: &Client, expected_before: i64) {
    let n: i64 = client
        .query_one("SELECT n FROM n", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, expected_before);
    client
        .execute("INSERT INTO big VALUES (0)", &[])
        .await
        .unwrap();
    let n: i64 = client
        .query_one("SELECT n FROM n", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, expected_before + 1);
}

/// The server error of `err`, which must be 53200 (a query or subscription over its
/// budget).
fn out_of_memory(err: &tokio_postgres::Error) -> &tokio_postgres::error::DbError {
    let db = err
        .as_db_error()
        .unwrap_or_else(|| panic!("{}", describe_error(err)));
    assert_eq!(db.code().code(), "53200", "{}", describe_error(err));
    db
}

fn assert_canceled(result: Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>, why: &str) {
    let err = result.expect_err("the query cannot finish");
    let db = err
        .as_db_error()
        .unwrap_or_else(|| panic!("not a server error: {}", describe_error(&err)));
    assert_eq!(db.code().code(), "57014", "{}", describe_error(&err));
    assert_eq!(db.message(), format!("canceling statement due to {why}"));
}

#[tokio::test]
async fn statement_timeout_stops_a_long_query() {
    let eddy = start_eddy(2);
    let client = setup(&eddy).await;
    let bomber = eddy.connect().await.unwrap();
    bomber
        .batch_execute("SET statement_timeout = '300ms'")
        .await
        .unwrap();
    let started = Instant::now();
    assert_canceled(bomber.query(SLOW, &[]).await, "statement timeout");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The session goes on; a bad value is refused as Postgres refuses it.
    let err = bomber
        .batch_execute("SET statement_timeout = 'soon'")
        .await
        .unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "22023");
    bomber
        .batch_execute("SET statement_timeout = 0")
        .await
        .unwrap();
    assert_eq!(
        bomber
            .query_one("SELECT count(*) FROM big", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        ROWS
    );
    still_serving(&client, ROWS).await;
}

/// Joins that pair 300,000 rows with 1,000 under one key (a cross join) or two (hot
/// keys): 10^8 pairs and more examined for a handful of rows. The arrangements stay within the budget, so only a join that
/// yields inside one key's product lets the timeout stop it, and only a join that
/// filters each pair as it forms it keeps the memory flat meanwhile.
#[tokio::test]
async fn a_huge_product_under_one_key_is_stopped_in_bounded_memory() {
    let eddy = start_eddy(2);
    let client = setup(&eddy).await;
    let pid = eddy.pid().expect("running");
    let bomber = eddy.connect().await.unwrap();
    bomber
        .batch_execute("SET statement_timeout = '2s'")
        .await
        .unwrap();
    for (query, shape) in [
        (
            "SELECT count(*) FROM wide a, big b WHERE a.x + b.x = 7",
            "cross join",
        ),
        (
            "SELECT count(*) FROM big a JOIN big b ON a.x % 1 = b.x % 1 \
             JOIN big c ON c.x % 1 = b.x % 1 WHERE a.x + b.x + c.x = 7",
            "hot key",
        ),
    ] {
        let before = rss_bytes(pid);
        let started = Instant::now();
        assert_canceled(bomber.query(query, &[]).await, "statement timeout");
        let elapsed = started.elapsed();
        // The workers are free again: a view read answers at once (a join that cannot
        // stop inside one key's product holds the workers until it has formed it all).
        let n: i64 = tokio::time::timeout(
            Duration::from_secs(10),
            client.query_one("SELECT n FROM n", &[]),
        )
        .await
        .unwrap_or_else(|_| panic!("{shape}: the workers are still busy 10 s after the timeout"))
        .unwrap()
        .get(0);
        assert_eq!(n, ROWS);
        let after = rss_bytes(pid);
        eprintln!(
            "{shape}: stopped after {elapsed:?}; resident memory {} MiB before, {} MiB after",
            before >> 20,
            after >> 20
        );
        assert!(elapsed < Duration::from_secs(15), "{shape}: {elapsed:?}");
        assert!(
            after < before + 1024 * 1024 * 1024,
            "{shape}: resident memory grew from {before} to {after} bytes"
        );
    }
    still_serving(&client, ROWS).await;
}

/// Wide rows under the record budget: a DISTINCT over a million rows of a kilobyte
/// fails with 53200 once its arrangements have taken in `--query-max-bytes`.
#[tokio::test]
async fn wide_rows_fail_on_the_byte_budget() {
    let mut config = common::config(2);
    config.extra_args = vec!["--query-max-bytes".into(), "100000000".into()];
    let eddy = Eddy::start(config).expect("eddy starts");
    let client = setup(&eddy).await;
    let started = Instant::now();
    let err = client
        .query(
            "SELECT count(DISTINCT pad) FROM \
             (SELECT a.x::text || '-' || b.x::text || repeat('x', 1000) AS pad FROM big a, big b) s",
            &[],
        )
        .await
        .expect_err("over the byte budget");
    eprintln!("wide query failed after {:?}", started.elapsed());
    let db = out_of_memory(&err);
    assert_eq!(
        db.detail(),
        Some("The query held more than 100000000 bytes in its dataflow's arrangements.")
    );
    still_serving(&client, ROWS).await;
    // Narrow rows are within both budgets.
    let started = Instant::now();
    let n: i64 = client
        .query_one(
            "SELECT count(DISTINCT a.x * 10000 + b.x) FROM big a, big b WHERE a.x <= 100",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 101 * (ROWS + 1));
    eprintln!("narrow query: {:?}", started.elapsed());
}

/// A subscription is a user's query too: one over a cross-join bomb fails with 53200
/// at `--query-max-records` instead of taking the server down.
#[tokio::test]
async fn a_subscription_runs_under_the_record_budget() {
    let mut config = common::config(2);
    config.extra_args = vec!["--query-max-records".into(), "2000000".into()];
    let eddy = Eddy::start(config).expect("eddy starts");
    let client = setup(&eddy).await;
    let subscriber = eddy.connect().await.unwrap();
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        subscriber.simple_query("SUBSCRIBE (SELECT count(*) FROM big a, big b, big c)"),
    )
    .await
    .expect("the subscription is stopped within a minute")
    .expect_err("the bomb cannot be maintained");
    let db = out_of_memory(&err);
    assert_eq!(
        db.detail(),
        Some("The subscription held more than 2000000 records in its dataflow's arrangements.")
    );
    still_serving(&client, ROWS).await;
}

#[tokio::test]
async fn a_driver_cancel_stops_a_running_query() {
    let eddy = start_eddy(2);
    let client = setup(&eddy).await;
    let bomber = eddy.connect().await.unwrap();
    let token = bomber.cancel_token();
    let slow = tokio::spawn(async move { bomber.query(SLOW, &[]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    token
        .cancel_query(tokio_postgres::NoTls)
        .await
        .expect("cancel request");
    let result = tokio::time::timeout(Duration::from_secs(20), slow)
        .await
        .expect("the query stops after the cancel")
        .unwrap();
    assert_canceled(result, "user request");
    still_serving(&client, ROWS).await;
}

#[tokio::test]
async fn psql_ctrl_c_cancels_the_running_query() {
    let eddy = start_eddy(1);
    let client = setup(&eddy).await;
    let mut psql = common::psql_command(&eddy)
        .args(["-c", SLOW])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql starts");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // What the terminal sends psql on Ctrl-C.
    let status = std::process::Command::new("kill")
        .args(["-INT", &psql.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exited = loop {
        if let Some(status) = psql.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "psql still waiting after Ctrl-C");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let output = psql.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!exited.success());
    assert!(
        stderr.contains("canceling statement due to user request"),
        "psql printed: {stderr}"
    );
    still_serving(&client, ROWS).await;
}

/// Resident memory of a process, from `/proc`.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

#[tokio::test]
async fn a_cross_join_bomb_fails_with_out_of_memory_and_the_memory_goes_back() {
    let mut config = common::config(2);
    config.extra_args = vec![
        "--query-max-records".into(),
        "2000000".into(),
        "--purge-freed-memory".into(),
    ];
    let eddy = Eddy::start(config).expect("eddy starts");
    let client = setup(&eddy).await;
    let pid = eddy.pid().expect("running");
    let before = rss_bytes(pid);
    let started = Instant::now();
    let err = client
        .query(BOMB, &[])
        .await
        .expect_err("the bomb cannot finish");
    let db = out_of_memory(&err);
    assert_eq!(db.message(), "out of memory");
    assert!(started.elapsed() < Duration::from_secs(60));
    // The stopped dataflow's memory goes back (give the allocator a moment).
    let mut after = rss_bytes(pid);
    for _ in 0..50 {
        if after < before + 64 * 1024 * 1024 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = rss_bytes(pid);
    }
    eprintln!(
        "resident memory: {} MiB before the bomb, {} MiB after",
        before >> 20,
        after >> 20
    );
    assert!(
        after < before + 64 * 1024 * 1024,
        "resident memory grew from {before} to {after} bytes"
    );
    still_serving(&client, ROWS).await;
    // A query within the budget still runs.
    let n: i64 = client
        .query_one("SELECT count(*) FROM big a, big b WHERE a.x = b.x", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, ROWS + 1);
}
