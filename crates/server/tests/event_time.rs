//! Event time on a real broker (`eddy_testkit::Kafka`): a stream declares its event
//! time column and lateness; events out of order within the lateness count in their
//! tumbling windows, late ones are left out of the view and recorded in
//! `eddy_source_errors`, `/metrics` and `SHOW SOURCES`; and across `kill -9` (after a
//! batch, and in the middle of reading) every event is decided late or on time exactly
//! as a reader that never stopped would decide it: the view equals a recomputation from
//! the accepted events. Also: the record timestamp as event time, and the options'
//! errors.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use eddy_testkit::{Kafka, TestRecord};
use tokio_postgres::Client;

const LATENESS_S: i64 = 30;
const WINDOW_S: i64 = 600;

use common::wait_for_lines as wait_for;

fn start_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 1)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap()
}

fn format_ts(ts: NaiveDateTime) -> String {
    ts.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// One click as produced: who, and when it happened.
#[derive(Clone, Debug)]
struct Click {
    user: String,
    ts: NaiveDateTime,
}

impl Click {
    fn record(&self, i: usize) -> TestRecord {
        TestRecord::value(format!(
            r#"{{"user_id": "{}", "url": "/p{}", "ts": "{}"}}"#,
            self.user,
            i % 7,
            format_ts(self.ts)
        ))
    }
}

/// Clicks `from..to` of an endless, deterministic sequence: time moves on by 0 to 20 s
/// per click, and every click is shifted back by up to 45 s, so many arrive out of
/// order; the ones more than 30 s behind the newest are late.
fn clicks(from: usize, to: usize) -> Vec<Click> {
    (from..to)
        .map(|i| {
            let i64_i = i as i64;
            let base = (i64_i * 13) % 21 + i64_i * 10; // mostly forward
            let shift = if i % 5 == 3 { (i64_i * 7) % 46 } else { 0 };
            Click {
                user: format!("u{}", i % 4),
                ts: start_time() + TimeDelta::seconds(base - shift),
            }
        })
        .collect()
}

/// What the stream accepts from `clicks` read in order (one partition), computed
/// independently of Eddy: an event is late when it is before the newest accepted event
/// time minus the lateness. Returns the accepted clicks and the indexes of late ones.
fn accepted(clicks: &[Click]) -> (Vec<Click>, Vec<usize>, Option<NaiveDateTime>) {
    let mut newest: Option<NaiveDateTime> = None;
    let mut ok = Vec::new();
    let mut late = Vec::new();
    for (i, c) in clicks.iter().enumerate() {
        let watermark = newest.map(|n| n - TimeDelta::seconds(LATENESS_S));
        if watermark.is_some_and(|w| c.ts < w) {
            late.push(i);
            continue;
        }
        newest = Some(newest.map_or(c.ts, |n| n.max(c.ts)));
        ok.push(c.clone());
    }
    let watermark = newest.map(|n| n - TimeDelta::seconds(LATENESS_S));
    (ok, late, watermark)
}

/// `user window_start window_end n` per user and 10-minute window, as the view orders
/// them.
fn windows(clicks: &[Click]) -> Vec<String> {
    let mut counts: BTreeMap<(String, NaiveDateTime), usize> = BTreeMap::new();
    for c in clicks {
        let secs = c.ts.and_utc().timestamp();
        let start = secs - secs.rem_euclid(WINDOW_S);
        let start = chrono::DateTime::from_timestamp(start, 0)
            .unwrap()
            .naive_utc();
        *counts.entry((c.user.clone(), start)).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((user, start), n)| {
            let end = start + TimeDelta::seconds(WINDOW_S);
            format!("{user} {} {} {n}", format_ts(start), format_ts(end))
        })
        .collect()
}

const VIEW_SQL: &str =
    "SELECT user_id, window_start, window_end, n FROM clicks_per_user_10m ORDER BY 1, 2";
const ERRORS_SQL: &str =
    "SELECT kafka_offset FROM eddy_source_errors WHERE source = 'clicks' ORDER BY 1";

/// The row of `name` in SHOW SOURCES, by column name.
async fn show_source(client: &Client, name: &str) -> BTreeMap<String, Option<String>> {
    let messages = client.simple_query("SHOW SOURCES").await.expect("show");
    messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) if row.get("name") == Some(name) => Some(
                row.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name().to_string(), row.get(i).map(str::to_string)))
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no source {name} in SHOW SOURCES"))
}

/// Clicks per user per 10-minute tumbling window, with out-of-order and late events,
/// through two `kill -9`s: one between batches, one in the middle of reading.
#[tokio::test]
async fn tumbling_windows_over_late_and_out_of_order_events_across_kill_9() {
    let kafka = Kafka::shared().expect("kafka");
    let topic = kafka.unique_topic("clicks");
    // One partition: the order events are read in, and so which are late, is the
    // order they were produced in.
    kafka.create_topic(&topic, 1).await.expect("topic");
    let mut eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(&format!(
            "CREATE STREAM clicks (user_id text, url text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts', \
                     LATENESS = '{LATENESS_S} seconds');
             CREATE MATERIALIZED VIEW clicks_per_user_10m AS \
               SELECT user_id, window_start, window_end, count(*) AS n \
               FROM TUMBLE(clicks, ts, INTERVAL '10 minutes') \
               GROUP BY user_id, window_start, window_end;"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    // No event yet: no watermark.
    let row = show_source(&client, "clicks").await;
    assert_eq!(row["watermark"], None, "{row:?}");
    assert_eq!(row["late"].as_deref(), Some("0"), "{row:?}");

    // 1. A first batch, with hand-made edge cases at its end: one exactly at the
    //    watermark (on time), one a second before it (late), one far in the past.
    const FIRST: usize = 400;
    let mut produced = clicks(0, FIRST);
    let (_, _, watermark) = accepted(&produced);
    let watermark = watermark.unwrap();
    for (user, ts) in [
        ("edge", watermark),
        ("edge", watermark - TimeDelta::seconds(1)),
        ("edge", start_time() - TimeDelta::days(1)),
    ] {
        produced.push(Click {
            user: user.into(),
            ts,
        });
    }
    let records: Vec<TestRecord> = produced
        .iter()
        .enumerate()
        .map(|(i, c)| c.record(i))
        .collect();
    kafka.produce(&topic, records).await.expect("produce");
    let (ok, late, watermark) = accepted(&produced);
    assert!(
        late.len() > 10 && ok.len() > 300,
        "the sequence has late events: {} late, {} on time",
        late.len(),
        ok.len()
    );
    let out_of_order = ok.windows(2).filter(|w| w[1].ts < w[0].ts).count();
    assert!(out_of_order > 20, "and out-of-order ones: {out_of_order}");
    assert_eq!(
        late[late.len() - 2..],
        [FIRST + 1, FIRST + 2],
        "the edge cases: at the watermark on time, before it late"
    );
    wait_for(&client, VIEW_SQL, &windows(&ok)).await;
    let late_offsets: Vec<String> = late.iter().map(|i| i.to_string()).collect();
    wait_for(&client, ERRORS_SQL, &late_offsets).await;
    // The error says what was late, against what.
    let message = common::lines(
        &client,
        &format!(
            "SELECT partition, error FROM eddy_source_errors WHERE kafka_offset = {}",
            FIRST + 1
        ),
    )
    .await;
    let edge = watermark.unwrap();
    assert_eq!(
        message,
        [format!(
            "0 late event: ts {} is before the watermark {} (lateness {LATENESS_S} seconds)",
            format_ts(edge - TimeDelta::seconds(1)),
            format_ts(edge)
        )]
    );
    // Counted in SHOW SOURCES (late, and among the errors) and in /metrics.
    let row = show_source(&client, "clicks").await;
    assert_eq!(row["late"], Some(late.len().to_string()), "{row:?}");
    assert_eq!(row["errors"], Some(late.len().to_string()), "{row:?}");
    assert_eq!(row["watermark"], Some(format_ts(edge)), "{row:?}");
    let metrics = eddy.http_get("/metrics").expect("metrics").body;
    let series = format!(
        "eddy_source_late_messages_total{{source=\"clicks\"}} {}",
        late.len()
    );
    assert!(metrics.contains(&series), "{series} not in:\n{metrics}");

    // 2. Kill -9 after the batch, produce while the server is down (among them events
    //    that would be on time if the watermark were lost), restart.
    drop(client);
    eddy.kill9().expect("kill");
    const SECOND: usize = 600;
    let mut more = vec![
        Click {
            user: "edge".into(),
            ts: edge - TimeDelta::seconds(5),
        },
        Click {
            user: "edge".into(),
            ts: edge,
        },
    ];
    more.extend(clicks(FIRST, SECOND));
    let records: Vec<TestRecord> = more
        .iter()
        .enumerate()
        .map(|(i, c)| c.record(produced.len() + i))
        .collect();
    kafka.produce(&topic, records).await.expect("produce");
    let late_before_restart = late.len();
    produced.extend(more);
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    let (ok, late, watermark) = accepted(&produced);
    assert_eq!(
        late[late_before_restart],
        FIRST + 3,
        "5 s before the recorded watermark is late after the restart"
    );
    wait_for(&client, VIEW_SQL, &windows(&ok)).await;
    let late_offsets: Vec<String> = late.iter().map(|i| i.to_string()).collect();
    wait_for(&client, ERRORS_SQL, &late_offsets).await;
    let row = show_source(&client, "clicks").await;
    // The counters start again with the process; the watermark is durable.
    assert_eq!(
        row["late"],
        Some((late.len() - late_before_restart).to_string()),
        "{row:?}"
    );
    assert_eq!(row["watermark"], Some(format_ts(watermark.unwrap())));

    // 3. Kill -9 in the middle of reading a larger batch: whatever the log held when
    //    the server died, the rest is read again and decided the same way.
    const TOTAL: usize = 6_000;
    let start = produced.len();
    let rest = clicks(SECOND, TOTAL);
    let records: Vec<TestRecord> = rest
        .iter()
        .enumerate()
        .map(|(i, c)| c.record(start + i))
        .collect();
    produced.extend(rest);
    let producer = {
        let kafka = std::sync::Arc::clone(&kafka);
        let topic = topic.clone();
        tokio::spawn(async move {
            let mut records = records.into_iter().peekable();
            while records.peek().is_some() {
                let chunk: Vec<TestRecord> = records.by_ref().take(500).collect();
                kafka.produce(&topic, chunk).await.expect("produce");
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(client);
    eddy.kill9().expect("kill");
    producer.await.expect("producer");
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    let (ok, late, watermark) = accepted(&produced);
    wait_for(&client, VIEW_SQL, &windows(&ok)).await;
    let late_offsets: Vec<String> = late.iter().map(|i| i.to_string()).collect();
    wait_for(&client, ERRORS_SQL, &late_offsets).await;
    // The stream holds every accepted event once, and nothing else.
    wait_for(
        &client,
        "SELECT count(*) FROM clicks",
        &[ok.len().to_string()],
    )
    .await;
    let row = show_source(&client, "clicks").await;
    assert_eq!(row["watermark"], Some(format_ts(watermark.unwrap())));
}

/// Without `TIMESTAMP`, the Kafka record timestamp is the event time; a stream without
/// event time has no watermark and never drops an event; the options' errors.
#[tokio::test]
async fn record_timestamps_as_event_time_and_option_errors() {
    let kafka = Kafka::shared().expect("kafka");
    let topic = kafka.unique_topic("events");
    kafka.create_topic(&topic, 1).await.expect("topic");
    let mut eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(&format!(
            "CREATE STREAM events (id int, _kafka_timestamp timestamp) \
               WITH (KAFKA_TOPIC = '{topic}', LATENESS = '1 minute');
             CREATE STREAM all_events (id int) WITH (KAFKA_TOPIC = '{topic}');"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    let t0 = start_time().and_utc().timestamp_millis();
    let minute = 60_000;
    // Record times: 0, +10 min, +9.5 min (within the minute), +8 min (late), +10 min.
    let times = [0, 10 * minute, 19 * minute / 2, 8 * minute, 10 * minute];
    let records = times
        .iter()
        .enumerate()
        .map(|(i, t)| TestRecord::value(format!(r#"{{"id": {i}}}"#)).at(t0 + t));
    kafka.produce(&topic, records).await.expect("produce");
    wait_for(
        &client,
        "SELECT id FROM events ORDER BY id",
        &["0", "1", "2", "4"].map(String::from),
    )
    .await;
    wait_for(
        &client,
        "SELECT count(*) FROM all_events",
        &["5".to_string()],
    )
    .await;
    let at = |ms: i64| {
        format_ts(
            chrono::DateTime::from_timestamp_millis(t0 + ms)
                .unwrap()
                .naive_utc(),
        )
    };
    wait_for(
        &client,
        "SELECT source, kafka_offset, error FROM eddy_source_errors ORDER BY 1, 2",
        &[format!(
            "events 3 late event: kafka timestamp {} is before the watermark {} (lateness 1 minute)",
            at(8 * minute),
            at(9 * minute)
        )],
    )
    .await;
    let row = show_source(&client, "events").await;
    assert_eq!(row["watermark"], Some(at(9 * minute)), "{row:?}");
    assert_eq!(row["late"].as_deref(), Some("1"), "{row:?}");
    let row = show_source(&client, "all_events").await;
    assert_eq!(
        row["watermark"], None,
        "no event time, no watermark: {row:?}"
    );
    assert_eq!(row["late"].as_deref(), Some("0"), "{row:?}");

    // A clean restart compacts the log into a snapshot, which keeps the watermark: an
    // event half a minute before it is still late, one at it on time.
    drop(client);
    eddy.restart().expect("restart");
    assert!(
        std::fs::read_to_string(eddy.log_path())
            .unwrap_or_default()
            .contains("compacted the log into a snapshot"),
        "the restart went through a snapshot"
    );
    let client = eddy.connect().await.expect("connect");
    let records = [(5, 17 * minute / 2), (6, 9 * minute)]
        .map(|(id, t)| TestRecord::value(format!(r#"{{"id": {id}}}"#)).at(t0 + t));
    kafka.produce(&topic, records).await.expect("produce");
    wait_for(
        &client,
        "SELECT id FROM events ORDER BY id",
        &["0", "1", "2", "4", "6"].map(String::from),
    )
    .await;
    wait_for(
        &client,
        "SELECT kafka_offset FROM eddy_source_errors ORDER BY 1",
        &["3", "5"].map(String::from),
    )
    .await;

    // Errors: which option, and why.
    let cases = [
        ("TIMESTAMP = 'at'", "42703", "column \"at\" does not exist"),
        (
            "TIMESTAMP = 'id'",
            "42804",
            "TIMESTAMP column \"id\" is of type integer, not timestamp or timestamptz",
        ),
        (
            "LATENESS = 'a little'",
            "22023",
            "invalid value for option \"LATENESS\": \"a little\"",
        ),
        (
            "LATENESS = '1 month'",
            "22023",
            "invalid value for option \"LATENESS\": \"1 month\"",
        ),
    ];
    let mut seen = BTreeSet::new();
    for (option, code, message) in cases {
        let sql = format!(
            "CREATE STREAM bad (id int, ts timestamptz) WITH (KAFKA_TOPIC = '{topic}', {option})"
        );
        let err = client.batch_execute(&sql).await.expect_err(option);
        let db = err.as_db_error().expect("a database error");
        assert_eq!(
            (db.code().code(), db.message()),
            (code, message),
            "{option}"
        );
        seen.insert(code);
    }
    assert_eq!(seen.len(), 3);
    let err = client
        .batch_execute(&format!(
            "CREATE TABLE t (id int PRIMARY KEY, ts timestamp) \
               WITH (KAFKA_TOPIC = '{topic}', TIMESTAMP = 'ts')"
        ))
        .await
        .expect_err("a table has no event time");
    assert_eq!(
        err.as_db_error().map(|e| e.code().code()),
        Some("0A000"),
        "{}",
        common::describe_error(&err)
    );
}
