//! The session's `TimeZone` through real clients: set by the startup message (psql's
//! `PGTZ`, a driver's `options=-c TimeZone=...`), refused there with Postgres' FATAL for
//! an unknown zone; `timestamptz` printed in the zone by text results, COPY TO and
//! SUBSCRIBE, read in it by COPY FROM; binary results stay UTC instants. The expected
//! values are what Postgres 15 prints for the same statements.

mod common;

use chrono::{DateTime, Utc};
use futures::{pin_mut, SinkExt, TryStreamExt};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// Connects with `options` in the startup message; the connection runs on a task.
async fn connect_with_options(
    eddy: &eddy_testkit::Eddy,
    options: &str,
) -> Result<Client, tokio_postgres::Error> {
    let config = format!(
        "host=127.0.0.1 port={} user=eddy dbname=eddy connect_timeout=10 options='{options}'",
        eddy.pg_port()
    );
    let (client, connection) = tokio_postgres::connect(&config, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The text of the first row's columns of a simple query.
async fn simple_row(client: &Client, sql: &str) -> Vec<String> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", common::describe_error(&e)));
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

#[test]
fn psql_sends_pgtz_at_startup() {
    let eddy = common::start_eddy(1);
    let out = common::psql_command(&eddy)
        .env("PGTZ", "America/New_York")
        .args([
            "-Atq",
            "-c",
            "SHOW TimeZone",
            "-c",
            "SELECT TIMESTAMPTZ '2024-03-10 06:30:00+00', TIMESTAMPTZ '2024-03-10 07:30:00+00'",
            // RESET goes back to the startup message's zone, as in Postgres.
            "-c",
            "SET TimeZone = 'Asia/Tokyo'",
            "-c",
            "RESET TimeZone",
            "-c",
            "SHOW TimeZone",
        ])
        .output()
        .expect("running psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "America/New_York\n2024-03-10 01:30:00-05|2024-03-10 03:30:00-04\nAmerica/New_York\n"
    );

    let out = common::psql_command(&eddy)
        .env("PGTZ", "Mars/Base")
        .args(["-c", "SELECT 1"])
        .output()
        .expect("running psql");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FATAL:  invalid value for parameter \"TimeZone\": \"Mars/Base\""),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_driver_sets_the_zone_in_options_and_every_output_follows_it() {
    let eddy = common::start_eddy(1);
    let client = connect_with_options(&eddy, "-c TimeZone=Europe/Berlin")
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    assert_eq!(
        simple_row(&client, "SHOW TimeZone").await,
        ["Europe/Berlin"]
    );
    client
        .batch_execute("CREATE TABLE ev (id integer, at timestamptz)")
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));

    // COPY FROM reads a time without an offset in the zone: 02:30 on 2024-03-31 does
    // not exist in Berlin and is read with the offset before the jump.
    let sink = client
        .copy_in("COPY ev FROM STDIN")
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    pin_mut!(sink);
    sink.send(&b"1\t2024-03-31 02:30\n2\t2024-10-27 00:30:00+00\n"[..])
        .await
        .expect("send");
    assert_eq!(sink.finish().await.expect("copy in"), 2);

    let copied: Vec<u8> = client
        .copy_out("COPY (SELECT id, at FROM ev ORDER BY id) TO STDOUT")
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)))
        .try_fold(Vec::new(), |mut text, chunk| async move {
            text.extend_from_slice(&chunk);
            Ok(text)
        })
        .await
        .expect("copy out");
    assert_eq!(
        String::from_utf8_lossy(&copied),
        "1\t2024-03-31 03:30:00+02\n2\t2024-10-27 02:30:00+02\n"
    );

    // Binary results are the instant, whatever the zone.
    let rows = client
        .query("SELECT at FROM ev ORDER BY id", &[])
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    let instants: Vec<DateTime<Utc>> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        instants.iter().map(|t| t.to_rfc3339()).collect::<Vec<_>>(),
        ["2024-03-31T01:30:00+00:00", "2024-10-27T00:30:00+00:00"]
    );

    // A subscription prints its rows in the zone too.
    let stream = client
        .simple_query_raw("SUBSCRIBE (SELECT id, at FROM ev WHERE id = 2)")
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    pin_mut!(stream);
    let row = loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(30), stream.try_next())
            .await
            .expect("a row within the wait")
            .expect("no error")
            .expect("the stream goes on");
        if let SimpleQueryMessage::Row(row) = message {
            break row;
        }
    };
    // eddy_timestamp, eddy_diff, id, at
    assert_eq!(row.get(2), Some("2"));
    assert_eq!(row.get(3), Some("2024-10-27 02:30:00+02"));
}

#[tokio::test]
async fn an_unknown_zone_in_the_startup_message_is_fatal() {
    let eddy = common::start_eddy(1);
    let err = connect_with_options(&eddy, "-c timezone=Mars/Base")
        .await
        .expect_err("refused");
    let db = err.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "22023");
    assert_eq!(
        db.message(),
        "invalid value for parameter \"TimeZone\": \"Mars/Base\""
    );
    // The server goes on.
    let client = eddy.connect().await.expect("connect");
    assert_eq!(simple_row(&client, "SHOW TimeZone").await, ["UTC"]);
}

/// A view created in a session with another zone is planned in UTC: its rows are the
/// same for every reader and after a restart (which re-plans it without a session).
#[tokio::test]
async fn a_view_is_planned_in_utc_and_keeps_its_plan_across_a_restart() {
    let mut eddy = common::start_eddy(1);
    let berlin = connect_with_options(&eddy, "-c TimeZone=Europe/Berlin")
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    berlin
        .batch_execute(
            "CREATE TABLE ev (id integer, at timestamptz);
             INSERT INTO ev VALUES (1, '2024-03-31 00:30'), (2, '2024-03-31 12:00');
             CREATE MATERIALIZED VIEW days AS
                 SELECT id, at::date AS day, extract(hour FROM at) AS hour, at::text AS shown
                 FROM ev WHERE at >= '2024-03-31'",
        )
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    let sql = "SELECT * FROM days";
    let expected = ["2 2024-03-31 10 2024-03-31 10:00:00+00".to_string()];
    assert_eq!(common::flat_rows(&berlin, sql).await.unwrap(), expected);
    let utc = eddy.connect().await.expect("connect");
    assert_eq!(common::flat_rows(&utc, sql).await.unwrap(), expected);

    eddy.restart().unwrap_or_else(|e| panic!("restart: {e:#}"));
    let berlin = connect_with_options(&eddy, "-c TimeZone=Europe/Berlin")
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    assert_eq!(common::flat_rows(&berlin, sql).await.unwrap(), expected);
}

/// In one query string, each statement's rows print in the zone in force when it ran.
#[tokio::test]
async fn a_query_string_that_sets_the_zone_prints_each_result_in_its_zone() {
    let eddy = common::start_eddy(1);
    let client = eddy.connect().await.expect("connect");
    let messages = client
        .simple_query(
            "SELECT TIMESTAMPTZ '2024-07-01 03:00:00+00';
             SET TimeZone = 'Asia/Tokyo';
             SELECT TIMESTAMPTZ '2024-07-01 03:00:00+00'",
        )
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    let rows: Vec<&str> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        })
        .collect();
    assert_eq!(rows, ["2024-07-01 03:00:00+00", "2024-07-01 12:00:00+09"]);
}
