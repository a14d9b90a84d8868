//! Kafka topics as sources, end to end on a real broker (`eddy_testkit::Kafka`): a
//! topic read as an upsert table feeds a materialized view that follows every update
//! and tombstone; writes into it are refused; `SHOW SOURCES` reports it; and after
//! `kill -9` the restarted server resumes from the offsets it logged, so the view
//! equals the topic read once, message for message.

mod common;

use std::time::{Duration, Instant};

use eddy_testkit::{Kafka, TestRecord};

use common::wait_for_lines as wait_for;

#[tokio::test]
async fn an_upsert_table_from_a_topic_follows_updates_and_tombstones_across_kill_9() {
    let kafka = Kafka::shared().expect("kafka");
    let topic = kafka.unique_topic("users");
    kafka.create_topic(&topic, 2).await.expect("topic");
    let mut eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(&format!(
            "CREATE TABLE users (userid text PRIMARY KEY, region text, visits int) \
             WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON');
             CREATE MATERIALIZED VIEW by_region AS \
               SELECT region, count(*) AS n, sum(visits) AS visits FROM users GROUP BY region;"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));

    kafka
        .produce(
            &topic,
            [
                TestRecord::keyed("u1", r#"{"region": "north", "visits": 1}"#),
                TestRecord::keyed("u2", r#"{"region": "south", "visits": 2}"#),
                TestRecord::keyed("u3", r#"{"region": "north", "visits": 3}"#),
                TestRecord::keyed("u1", r#"{"region": "south", "visits": 4}"#),
                TestRecord::tombstone("u3"),
                TestRecord::tombstone("nobody"),
                TestRecord::keyed("u4", "not json"),
            ],
        )
        .await
        .expect("produce");
    wait_for(
        &client,
        "SELECT region, n, visits FROM by_region ORDER BY region",
        &["south 2 6"],
    )
    .await;
    wait_for(
        &client,
        "SELECT userid, region FROM users ORDER BY userid",
        &["u1 south", "u2 south"],
    )
    .await;

    // Only the topic writes the table.
    let err = client
        .execute("INSERT INTO users VALUES ('u9', 'east', 1)", &[])
        .await
        .expect_err("a source is not written with INSERT");
    assert_eq!(
        err.as_db_error().map(|e| e.code().code()),
        Some("42809"),
        "{}",
        common::describe_error(&err)
    );
    let sources = client.simple_query("SHOW SOURCES").await.expect("show");
    let row = sources
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .expect("one source");
    assert_eq!(row.get("name"), Some("users"));
    assert_eq!(row.get("type"), Some("table"));
    assert_eq!(row.get("topic"), Some(topic.as_str()));
    assert_eq!(row.get("errors"), Some("1"), "the message that is not JSON");
    wait_for(&client, "SHOW TABLES", &["users"]).await;
    let error_row = "users 1";
    wait_for(
        &client,
        "SELECT source, count(*) FROM eddy_source_errors WHERE error <> '' GROUP BY source",
        &[error_row],
    )
    .await;

    // Kill -9, produce while the server is down, restart: nothing read twice, nothing
    // lost.
    drop(client);
    eddy.kill9().expect("kill");
    kafka
        .produce(
            &topic,
            [
                TestRecord::keyed("u5", r#"{"region": "east", "visits": 5}"#),
                TestRecord::keyed("u2", r#"{"region": "east", "visits": 6}"#),
            ],
        )
        .await
        .expect("produce");
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    wait_for(
        &client,
        "SELECT region, n, visits FROM by_region ORDER BY region",
        &["east 2 11", "south 1 4"],
    )
    .await;
    // The unreadable message is still recorded after the restart.
    wait_for(
        &client,
        "SELECT source, count(*) FROM eddy_source_errors WHERE error <> '' GROUP BY source",
        &[error_row],
    )
    .await;
    kafka
        .produce(&topic, [TestRecord::tombstone("u1")])
        .await
        .expect("produce");
    wait_for(
        &client,
        "SELECT region, n, visits FROM by_region ORDER BY region",
        &["east 2 11"],
    )
    .await;

    client
        .batch_execute("DROP TABLE users CASCADE")
        .await
        .expect("drop");
    let sources = client.simple_query("SHOW SOURCES").await.expect("show");
    assert!(!sources
        .iter()
        .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_))));
    wait_for(&client, "SELECT count(*) FROM eddy_source_errors", &["0"]).await;
}

/// 1,000 malformed messages mixed into 10,000 good ones: every good one is counted,
/// every bad one is recorded with its partition and offset, and the source goes on.
#[tokio::test]
async fn malformed_messages_are_recorded_and_the_rest_is_counted() {
    let kafka = Kafka::shared().expect("kafka");
    let topic = kafka.unique_topic("events");
    kafka.create_topic(&topic, 2).await.expect("topic");
    let eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(&format!(
            "CREATE STREAM events (id bigint, kind text, amount numeric) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON');
             CREATE MATERIALIZED VIEW totals AS \
               SELECT count(*) AS n, sum(amount) AS amount, count(DISTINCT id) AS ids FROM events;"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    let records = (0..11_000).map(|i| {
        let value: Vec<u8> = match i % 11 {
            // Malformed in five ways: not JSON, not UTF-8, a wrong type, not an object,
            // and an unterminated document.
            0 => match (i / 11) % 5 {
                0 => b"not json".to_vec(),
                1 => vec![0xff, 0xfe, b'{', b'}'],
                2 => format!(r#"{{"id": "x{i}", "kind": "a", "amount": 1}}"#).into_bytes(),
                3 => b"[1, 2, 3]".to_vec(),
                _ => br#"{"id": 1, "kind": "#.to_vec(),
            },
            _ => format!(r#"{{"id": {i}, "kind": "k{}", "amount": 1.5}}"#, i % 3).into_bytes(),
        };
        TestRecord::keyed(format!("k{i}"), value)
    });
    kafka.produce(&topic, records).await.expect("produce");
    wait_for(
        &client,
        "SELECT n, amount, ids FROM totals",
        &["10000 15000.0 10000"],
    )
    .await;
    wait_for(
        &client,
        "SELECT count(*), count(DISTINCT partition::bigint * 1000000000 + kafka_offset) \
         FROM eddy_source_errors WHERE source = 'events'",
        &["1000 1000"],
    )
    .await;
    // The source is still running.
    let show = client.simple_query("SHOW SOURCES").await.expect("show");
    let row = show
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .expect("one source");
    assert_eq!(row.get("state"), Some("running"));
    assert_eq!(row.get("errors"), Some("1000"));
    // Caught up: no lag, in SHOW SOURCES and in /metrics.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let show = client.simple_query("SHOW SOURCES").await.expect("show");
        let lag = show.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get("lag").map(str::to_string),
            _ => None,
        });
        if lag.as_deref() == Some("0") {
            break;
        }
        assert!(Instant::now() < deadline, "lag: {lag:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    loop {
        let metrics = eddy.http_get("/metrics").expect("metrics").body;
        let lag_zero = metrics
            .lines()
            .filter(|l| l.starts_with("eddy_source_lag_messages{source=\"events\""))
            .count()
            == 2
            && metrics
                .lines()
                .filter(|l| l.starts_with("eddy_source_lag_messages{source=\"events\""))
                .all(|l| l.ends_with(" 0"));
        if lag_zero && metrics.contains("eddy_source_messages_total{source=\"events\"} 11000") {
            break;
        }
        assert!(Instant::now() < deadline, "metrics: {metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A stream joined with a table, while the server is killed in the middle of reading:
/// every message is counted exactly once after the restart (a stream re-read from
/// the start, or from before what was logged, would count twice).
#[tokio::test]
async fn a_stream_joined_with_a_table_counts_every_message_once_across_kill_9() {
    let kafka = Kafka::shared().expect("kafka");
    let views = kafka.unique_topic("pageviews");
    let users = kafka.unique_topic("users");
    kafka.create_topic(&views, 4).await.expect("topic");
    kafka.create_topic(&users, 1).await.expect("topic");
    let regions = ["north", "south", "east", "west", "north"];
    kafka
        .produce(
            &users,
            regions.iter().enumerate().map(|(i, region)| {
                TestRecord::keyed(format!("u{i}"), format!(r#"{{"region": "{region}"}}"#))
            }),
        )
        .await
        .expect("produce users");
    let mut eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(&format!(
            "CREATE STREAM pageviews (viewtime bigint, userid text, pageid text) \
               WITH (KAFKA_TOPIC = '{views}', VALUE_FORMAT = 'JSON');
             CREATE TABLE users (userid text PRIMARY KEY, region text) \
               WITH (KAFKA_TOPIC = '{users}', VALUE_FORMAT = 'JSON');
             CREATE MATERIALIZED VIEW views_by_region AS \
               SELECT u.region, count(*) AS n FROM pageviews p \
               LEFT JOIN users u ON u.userid = p.userid GROUP BY u.region;"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    let err = client
        .execute("INSERT INTO pageviews VALUES (1, 'u1', 'home')", &[])
        .await
        .expect_err("a stream is not written with INSERT");
    assert_eq!(err.as_db_error().map(|e| e.code().code()), Some("42809"));

    let view = |i: usize| {
        TestRecord::keyed(
            format!("u{}", i % 6),
            format!(
                r#"{{"viewtime": {i}, "userid": "u{}", "pageid": "p{}"}}"#,
                i % 6,
                i % 13
            ),
        )
    };
    const FIRST: usize = 2_000;
    const TOTAL: usize = 8_000;
    kafka
        .produce(&views, (0..FIRST).map(view))
        .await
        .expect("produce");
    // The rest is produced while the server reads, and is killed.
    let producer = {
        let kafka = std::sync::Arc::clone(&kafka);
        let views = views.clone();
        tokio::spawn(async move {
            for chunk in (FIRST..TOTAL).collect::<Vec<_>>().chunks(500) {
                kafka
                    .produce(&views, chunk.iter().copied().map(view))
                    .await
                    .expect("produce");
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(client);
    eddy.kill9().expect("kill");
    producer.await.expect("producer");
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");

    // Expected: users u0..u4 have regions, u5 has none (NULL after the LEFT JOIN).
    let mut expected: std::collections::BTreeMap<String, usize> = Default::default();
    for i in 0..TOTAL {
        let region = regions.get(i % 6).copied().unwrap_or("NULL");
        *expected.entry(region.to_string()).or_default() += 1;
    }
    let expected: Vec<String> = expected.iter().map(|(r, n)| format!("{r} {n}")).collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    wait_for(
        &client,
        "SELECT coalesce(region, 'NULL') AS r, n FROM views_by_region ORDER BY r",
        &expected,
    )
    .await;
    wait_for(
        &client,
        "SELECT count(*), count(DISTINCT viewtime) FROM pageviews",
        &[&format!("{TOTAL} {TOTAL}")],
    )
    .await;
}

/// A Debezium topic (change events with and without the schema wrapper) read as a CDC
/// table: inserts, updates (one of the primary key), deletes with their tombstones, and
/// a connector restart that replays events already applied.
#[tokio::test]
async fn a_debezium_topic_is_a_cdc_table_and_replayed_events_count_once() {
    let kafka = Kafka::shared().expect("kafka");
    let topic = kafka.unique_topic("dbserver1.inventory.customers");
    kafka.create_topic(&topic, 1).await.expect("topic");
    let eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(&format!(
            "CREATE TABLE customers (id bigint PRIMARY KEY, name text, region text) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'DEBEZIUM_JSON');
             CREATE MATERIALIZED VIEW per_region AS \
               SELECT region, count(*) AS n FROM customers GROUP BY region;"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    let image = |id: i64, name: &str, region: &str| {
        format!(r#"{{"id": {id}, "name": "{name}", "region": "{region}"}}"#)
    };
    let event = |op: &str, before: Option<String>, after: Option<String>| {
        let before = before.unwrap_or_else(|| "null".into());
        let after = after.unwrap_or_else(|| "null".into());
        format!(r#"{{"before": {before}, "after": {after}, "op": "{op}", "ts_ms": 1}}"#)
    };
    let wrapped =
        |payload: String| format!(r#"{{"schema": {{"type": "struct"}}, "payload": {payload}}}"#);
    let events = [
        event("r", None, Some(image(1, "ann", "north"))),
        wrapped(event("c", None, Some(image(2, "bob", "south")))),
        event("c", None, Some(image(3, "cy", "north"))),
        event(
            "u",
            Some(image(1, "ann", "north")),
            Some(image(1, "ann", "east")),
        ),
        // The primary key changes: 3 becomes 30.
        wrapped(event(
            "u",
            Some(image(3, "cy", "north")),
            Some(image(30, "cy", "west")),
        )),
        event("d", Some(image(2, "bob", "south")), None),
    ];
    let mut records: Vec<TestRecord> = events
        .iter()
        .map(|e| TestRecord::keyed("k", e.as_str()))
        .collect();
    records.push(TestRecord::tombstone("k"));
    // The connector restarts and replays its last events.
    records.extend(
        events[3..]
            .iter()
            .map(|e| TestRecord::keyed("k", e.as_str())),
    );
    kafka.produce(&topic, records).await.expect("produce");
    wait_for(
        &client,
        "SELECT id, name, region FROM customers ORDER BY id",
        &["1 ann east", "30 cy west"],
    )
    .await;
    wait_for(
        &client,
        "SELECT region, n FROM per_region ORDER BY region",
        &["east 1", "west 1"],
    )
    .await;
}

/// Debezium's default `decimal.handling.mode=precise`: numeric columns arrive as base64
/// of their unscaled value, read with the scale of the event's schema, or without one
/// the column's declared scale, and as `{scale, value}` objects for a Postgres
/// `numeric` without a scale; 38 digits stay exact through a view's sum.
#[tokio::test]
async fn a_debezium_topic_with_precise_decimals_reads_them_exactly() {
    let kafka = Kafka::shared().expect("kafka");
    let topic = kafka.unique_topic("dbserver1.bank.accounts");
    kafka.create_topic(&topic, 1).await.expect("topic");
    let eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(&format!(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, balance numeric(38,2), rate numeric) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'DEBEZIUM_JSON');
             CREATE MATERIALIZED VIEW total AS SELECT sum(balance) AS s, count(*) AS n FROM accounts;"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    // 1250 is "BOI=", -1250 "+x4=", and 12345678901234567890123456789012345678 the
    // 16 bytes below.
    let schema = r#"{"type":"struct","fields":[{"type":"struct","field":"after","fields":[
        {"type":"int64","field":"id"},
        {"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","field":"balance","parameters":{"scale":"2"}},
        {"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","field":"rate","parameters":{"scale":"4"}}]}]}"#;
    let events = [
        r#"{"op":"c","after":{"id":1,"balance":"BOI=","rate":{"scale":3,"value":"BOI="}}}"#.to_string(),
        format!(
            r#"{{"schema":{schema},"payload":{{"op":"c","after":{{"id":2,"balance":"CUmw9vACMxPESZBQ3jjzTg==","rate":"BOI="}}}}}}"#
        ),
        r#"{"op":"u","before":{"id":1,"balance":"BOI=","rate":null},"after":{"id":1,"balance":"+x4=","rate":"0.5"}}"#.to_string(),
    ];
    kafka
        .produce(
            &topic,
            events.iter().map(|e| TestRecord::keyed("k", e.as_str())),
        )
        .await
        .expect("produce");
    wait_for(
        &client,
        "SELECT id, balance, rate FROM accounts ORDER BY id",
        &[
            "1 -12.50 0.5",
            "2 123456789012345678901234567890123456.78 0.1250",
        ],
    )
    .await;
    wait_for(
        &client,
        "SELECT s, n FROM total",
        &["123456789012345678901234567890123444.28 2"],
    )
    .await;
}

/// With `ON_ERROR = 'FAIL'` a source stops at the first message it cannot read: what
/// came before it stays, reads of the source and of the views over it report the
/// error (55000), and every other relation keeps serving.
#[tokio::test]
async fn a_source_that_fails_on_error_is_reported_by_its_views_only() {
    let kafka = Kafka::shared().expect("kafka");
    let topic = kafka.unique_topic("strict");
    kafka.create_topic(&topic, 1).await.expect("topic");
    let eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(&format!(
            "CREATE STREAM strict (n int) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', ON_ERROR = 'FAIL');
             CREATE MATERIALIZED VIEW strict_total AS SELECT count(*) AS c FROM strict;
             CREATE TABLE other (x int);
             INSERT INTO other VALUES (1);"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    kafka
        .produce(
            &topic,
            [
                TestRecord::value(r#"{"n": 1}"#),
                TestRecord::value(r#"{"n": 2}"#),
                TestRecord::value("oops"),
                TestRecord::value(r#"{"n": 3}"#),
            ],
        )
        .await
        .expect("produce");
    let deadline = Instant::now() + Duration::from_secs(60);
    let err = loop {
        match client.query_one("SELECT c FROM strict_total", &[]).await {
            Err(e) => break e,
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Ok(row) => panic!("still readable: {:?}", row.get::<_, i64>(0)),
        }
    };
    let db = err.as_db_error().expect("a server error");
    assert_eq!(
        db.code().code(),
        "55000",
        "{}",
        common::describe_error(&err)
    );
    assert!(
        db.message().starts_with("source \"strict\" has stopped"),
        "{}",
        db.message()
    );
    assert!(client.query("SELECT * FROM strict", &[]).await.is_err());
    let n: i32 = client
        .query_one("SELECT x FROM other", &[])
        .await
        .expect("other relations keep serving")
        .get(0);
    assert_eq!(n, 1);
    let show = client.simple_query("SHOW SOURCES").await.expect("show");
    let state = show
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get("state").map(str::to_string),
            _ => None,
        })
        .expect("one source");
    assert!(state.starts_with("failed: "), "{state}");
    // Dropping it clears the way.
    client
        .batch_execute("DROP STREAM strict CASCADE")
        .await
        .expect("drop");
}

/// A steady trickle of messages, one every millisecond or two, is logged in batches at
/// least 5 ms apart (the source's pace), not one batch per message: each batch costs
/// an fsync, a timestamp and a step of every view over the source, and a time per
/// message would run the timestamps ahead of the clock.
#[tokio::test]
async fn a_steady_trickle_of_messages_is_logged_in_paced_batches() {
    let kafka = Kafka::shared().expect("kafka");
    let topic = kafka.unique_topic("trickle");
    kafka.create_topic(&topic, 1).await.expect("topic");
    let eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(&format!(
            "CREATE STREAM trickle (n bigint) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON');
             CREATE MATERIALIZED VIEW trickle_total AS SELECT count(*) AS c, sum(n) AS s FROM trickle;"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    let started = Instant::now();
    let messages = 600;
    kafka
        .produce_spaced(
            &topic,
            (0..messages).map(|n| TestRecord::value(format!(r#"{{"n": {n}}}"#))),
            Duration::from_millis(1),
        )
        .await
        .expect("produce");
    let produced = started.elapsed();
    wait_for(
        &client,
        "SELECT c, s FROM trickle_total",
        &[&format!("{messages} {}", messages * (messages - 1) / 2)],
    )
    .await;
    let elapsed = started.elapsed();
    let writes = common::metric(&eddy, "eddy_source_writes_total{source=\"trickle\"}")
        .expect("a write count for the source in /metrics");
    // Batches go at least 5 ms apart, the first at once.
    let most = elapsed.as_millis() as u64 / 5 + 2;
    assert!(
        writes <= most,
        "{messages} messages in {produced:?} were logged in {writes} batches; \
         at most {most} fit in the {elapsed:?} until all were visible"
    );
}

/// Over a stream, whose rows are only ever inserted, `min` and `max` are kept with the
/// counts and sums in one record per group: the view's arrangements hold a few
/// records per group, where the same view over a table (whose rows may be deleted)
/// arranges every value to find the next minimum; so do those of a view over a view that
/// only filters the stream. The results are the same, NULLs, text and a global
/// aggregate included.
#[tokio::test]
async fn min_and_max_over_a_stream_keep_one_record_per_group() {
    let kafka = Kafka::shared().expect("kafka");
    let topic = kafka.unique_topic("readings");
    kafka.create_topic(&topic, 2).await.expect("topic");
    let eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    let stats = |view: &str, from: &str| {
        format!(
            "CREATE MATERIALIZED VIEW {view} AS SELECT sensor, count(*) AS n, count(v) AS nv, \
               sum(v) AS s, min(v) AS lo, max(v) AS hi, min(label) AS first_label, \
               max(label) AS last_label, avg(v) AS mean FROM {from} GROUP BY sensor;
             CREATE MATERIALIZED VIEW {view}_all AS SELECT min(v) AS lo, max(v) AS hi, \
               count(*) AS n FROM {from} WHERE v > -400;
             CREATE MATERIALIZED VIEW {view}_positive AS SELECT * FROM {from} WHERE v > 0;
             CREATE MATERIALIZED VIEW {view}_over_view AS SELECT sensor, min(v) AS lo, \
               max(label) AS hi, count(*) AS n FROM {view}_positive GROUP BY sensor;"
        )
    };
    client
        .batch_execute(&format!(
            "CREATE STREAM readings (sensor text, v int, label text) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON');
             CREATE TABLE readings_t (sensor text, v int, label text);
             {}
             {}",
            stats("stream_stats", "readings"),
            stats("table_stats", "readings_t")
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    let rows = 3000u64;
    let reading = |i: u64| {
        let sensor = format!("s{}", i % 5);
        let v = (!i.is_multiple_of(13)).then(|| (i * 7919 % 1000) as i64 - 500);
        let label = (!i.is_multiple_of(17)).then(|| format!("l{:04}", i * 31 % 1000));
        (sensor, v, label)
    };
    let json = |v: Option<String>| v.map_or("null".to_string(), |v| v);
    kafka
        .produce(
            &topic,
            (0..rows).map(|i| {
                let (sensor, v, label) = reading(i);
                TestRecord::value(format!(
                    r#"{{"sensor": "{sensor}", "v": {}, "label": {}}}"#,
                    json(v.map(|v| v.to_string())),
                    json(label.map(|l| format!("\"{l}\"")))
                ))
            }),
        )
        .await
        .expect("produce");
    let sql = |v: Option<String>| v.unwrap_or_else(|| "NULL".to_string());
    for chunk in (0..rows).collect::<Vec<_>>().chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|&i| {
                let (sensor, v, label) = reading(i);
                format!(
                    "('{sensor}', {}, {})",
                    sql(v.map(|v| v.to_string())),
                    sql(label.map(|l| format!("'{l}'")))
                )
            })
            .collect();
        client
            .batch_execute(&format!(
                "INSERT INTO readings_t VALUES {}",
                values.join(", ")
            ))
            .await
            .expect("insert");
    }
    for (view, order) in [
        ("stats", " ORDER BY sensor"),
        ("stats_all", ""),
        ("stats_over_view", " ORDER BY sensor"),
    ] {
        let expected = common::lines(&client, &format!("SELECT * FROM table_{view}{order}")).await;
        assert!(!expected.is_empty());
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        wait_for(
            &client,
            &format!("SELECT * FROM stream_{view}{order}"),
            &expected,
        )
        .await;
    }
    // One record per group (and a few not yet compacted), against every value.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stream = common::arrangement_records(&eddy, "stream_stats");
        let table = common::arrangement_records(&eddy, "table_stats");
        // Through a view that only filters the stream, too.
        let over_view = common::arrangement_records(&eddy, "stream_stats_over_view");
        if stream.is_some_and(|s| s <= 100)
            && table.is_some_and(|t| t >= rows)
            && over_view.is_some_and(|s| s <= 100)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "records: over the stream {stream:?}, over the table {table:?}, \
             over a view of the stream {over_view:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A stream keeps its messages in arrival order rather than arranged: a view created
/// after the messages were read replays them all, one-off reads (a count, a filtered
/// `SELECT`) scan them, and every answer equals the same query over a table holding
/// the same rows, duplicates included, before and after more messages arrive.
#[tokio::test]
async fn views_created_after_a_stream_was_read_see_every_message() {
    let kafka = Kafka::shared().expect("kafka");
    let topic = kafka.unique_topic("late-views");
    kafka.create_topic(&topic, 3).await.expect("topic");
    let eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(&format!(
            "CREATE STREAM events (k int, v int, tag text) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON');
             CREATE TABLE events_t (k int, v int, tag text);"
        ))
        .await
        .expect("create");
    // Every value twice: a stream is a multiset.
    let event = |i: u64| (i % 7, (i / 2) % 500, format!("t{}", i % 3));
    let mut loaded = 0u64;
    for total in [3000u64, 4000] {
        kafka
            .produce(
                &topic,
                (loaded..total).map(|i| {
                    let (k, v, tag) = event(i);
                    TestRecord::value(format!(r#"{{"k": {k}, "v": {v}, "tag": "{tag}"}}"#))
                }),
            )
            .await
            .expect("produce");
        let values: Vec<String> = (loaded..total)
            .map(|i| {
                let (k, v, tag) = event(i);
                format!("({k}, {v}, '{tag}')")
            })
            .collect();
        for chunk in values.chunks(500) {
            client
                .batch_execute(&format!("INSERT INTO events_t VALUES {}", chunk.join(", ")))
                .await
                .expect("insert");
        }
        loaded = total;
        let total_text = total.to_string();
        wait_for(&client, "SELECT count(*) FROM events", &[&total_text]).await;
        if total == 3000 {
            // Created once the stream holds 3000 messages.
            client
                .batch_execute(
                    "CREATE MATERIALIZED VIEW late AS SELECT k, tag, count(*) AS n, \
                       sum(v) AS s, count(DISTINCT v) AS d FROM events GROUP BY k, tag;
                     CREATE MATERIALIZED VIEW late_t AS SELECT k, tag, count(*) AS n, \
                       sum(v) AS s, count(DISTINCT v) AS d FROM events_t GROUP BY k, tag;",
                )
                .await
                .expect("views");
        }
        for (stream_query, table_query) in [
            (
                "SELECT * FROM late ORDER BY k, tag",
                "SELECT * FROM late_t ORDER BY k, tag",
            ),
            (
                "SELECT * FROM events WHERE k = 3 AND v < 40 ORDER BY v, tag",
                "SELECT * FROM events_t WHERE k = 3 AND v < 40 ORDER BY v, tag",
            ),
            (
                "SELECT tag, count(*), max(v) FROM events GROUP BY tag ORDER BY tag",
                "SELECT tag, count(*), max(v) FROM events_t GROUP BY tag ORDER BY tag",
            ),
        ] {
            let expected = common::lines(&client, table_query).await;
            assert!(!expected.is_empty(), "{table_query}");
            let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
            wait_for(&client, stream_query, &expected).await;
        }
    }
}
