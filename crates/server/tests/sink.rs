//! Sinks end to end on a real broker (`eddy_testkit::Kafka`): a view sunk with
//! ENVELOPE UPSERT and read back as an upsert table equals the view (the round-trip
//! law), and so does one sunk with ENVELOPE DEBEZIUM and read back as a
//! `DEBEZIUM_JSON` table, through inserts, updates and deletes; `SHOW SINKS` reports
//! them; a view with a sink is dropped only with CASCADE; and after `kill -9` in the
//! middle of the sink's output, the topic read with `read_committed` holds every
//! change once: folded, it equals the view, and replaying it message by message, each
//! message changes its key from the state the previous one left.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use eddy_testkit::{Isolation, Kafka, ReadRecord};
use serde_json::Value;
use tokio_postgres::{Client, SimpleQueryMessage};

/// Waits until `query` and `expected_query` return the same rows (and some); panics
/// with both after 60 s.
async fn wait_equal(client: &Client, query: &str, expected_query: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (got, expected) = (
            common::lines(client, query).await,
            common::lines(client, expected_query).await,
        );
        if got == expected && !got.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("{query}: {got:?}\n{expected_query}: {expected:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sqlstate_of(client: &Client, sql: &str) -> String {
    let err = client
        .batch_execute(sql)
        .await
        .expect_err(&format!("{sql} should fail"));
    err.as_db_error()
        .map(|e| e.code().code().to_string())
        .unwrap_or_else(|| common::describe_error(&err))
}

#[tokio::test]
async fn upsert_and_debezium_sinks_read_back_as_tables_equal_the_view() {
    let kafka = Kafka::shared().expect("kafka");
    let upsert_topic = kafka.unique_topic("totals-upsert");
    let cdc_topic = kafka.unique_topic("totals-cdc");
    let eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(&format!(
            "CREATE TABLE orders (id int PRIMARY KEY, region text, amount numeric);
             INSERT INTO orders VALUES (1, 'north', 10.50), (2, 'south', 3), (3, 'north', 1);
             CREATE MATERIALIZED VIEW totals AS
               SELECT region, count(*) AS n, sum(amount) AS total FROM orders GROUP BY region;
             CREATE SINK totals_upsert FROM totals WITH (KAFKA_TOPIC = '{upsert_topic}',
               VALUE_FORMAT = 'JSON', ENVELOPE = 'UPSERT', KEY = (region));
             CREATE SINK totals_cdc FROM totals WITH (KAFKA_TOPIC = '{cdc_topic}',
               VALUE_FORMAT = 'JSON', ENVELOPE = 'DEBEZIUM', KEY = (region));"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    // The sinks create their topics; a source needs them to exist.
    let deadline = Instant::now() + Duration::from_secs(60);
    while kafka
        .read_all(&upsert_topic, Isolation::ReadCommitted)
        .await
        .is_err()
        || kafka
            .read_all(&cdc_topic, Isolation::ReadCommitted)
            .await
            .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the sinks never created their topics"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client
        .batch_execute(&format!(
            "CREATE TABLE upsert_back (region text PRIMARY KEY, n bigint, total numeric)
               WITH (KAFKA_TOPIC = '{upsert_topic}', VALUE_FORMAT = 'JSON', KEY_FORMAT = 'JSON');
             CREATE TABLE cdc_back (region text PRIMARY KEY, n bigint, total numeric)
               WITH (KAFKA_TOPIC = '{cdc_topic}', VALUE_FORMAT = 'DEBEZIUM_JSON');"
        ))
        .await
        .unwrap_or_else(|e| panic!("read back: {}", common::describe_error(&e)));
    let view = "SELECT region, n, total FROM totals ORDER BY region";
    let upsert_back = "SELECT region, n, total FROM upsert_back ORDER BY region";
    let cdc_back = "SELECT region, n, total FROM cdc_back ORDER BY region";
    wait_equal(&client, upsert_back, view).await;
    wait_equal(&client, cdc_back, view).await;

    // Inserts, updates, deletes: a region appears, one changes, one disappears.
    for step in [
        "INSERT INTO orders VALUES (4, 'east', 7.25), (5, 'west', 2)",
        "UPDATE orders SET amount = amount * 2 WHERE region = 'north'",
        "DELETE FROM orders WHERE region = 'south'",
        "UPDATE orders SET region = 'east' WHERE id = 5",
        "BEGIN; DELETE FROM orders WHERE id = 4; INSERT INTO orders VALUES (6, 'east', 1); COMMIT",
    ] {
        client
            .batch_execute(step)
            .await
            .unwrap_or_else(|e| panic!("{step}: {}", common::describe_error(&e)));
        wait_equal(&client, upsert_back, view).await;
        wait_equal(&client, cdc_back, view).await;
    }
    assert_eq!(
        common::lines(&client, view).await,
        vec!["east 2 3", "north 2 23.00"]
    );

    // What each sink wrote: the UPSERT topic's last message of "south" is a tombstone;
    // every DEBEZIUM message has before and after.
    let upsert = kafka
        .read_all(&upsert_topic, Isolation::ReadCommitted)
        .await
        .expect("read");
    let south = upsert
        .iter()
        .rfind(|r| r.key.as_deref() == Some(br#"{"region":"south"}"#.as_slice()))
        .expect("south was written");
    assert_eq!(south.value, None, "a deleted key ends with a tombstone");
    let cdc = kafka
        .read_all(&cdc_topic, Isolation::ReadCommitted)
        .await
        .expect("read");
    let north_update = cdc
        .iter()
        .map(|r| json(r.value.as_deref().expect("a debezium value")))
        .find(|v| v["before"]["region"] == "north" && v["after"]["region"] == "north")
        .expect("an update of north is one message with before and after");
    assert_eq!(north_update["before"]["n"], 2);

    // /metrics: each sink's committed messages (as many as the topic holds), its last
    // time, and that it runs; refreshed every second.
    let upsert_line = format!(
        "eddy_sink_messages_total{{sink=\"totals_upsert\"}} {}",
        upsert.len()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let metrics = eddy.http_get("/metrics").expect("metrics").body;
        if metrics.lines().any(|l| l == upsert_line) || Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for expected in [
        upsert_line.as_str(),
        "eddy_sink_up{sink=\"totals_upsert\"} 1",
        "eddy_sink_up{sink=\"totals_cdc\"} 1",
        "eddy_sink_failures{sink=\"totals_cdc\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == expected),
            "{expected} not in\n{metrics}"
        );
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("eddy_sink_last_committed_timestamp_ms{sink=\"totals_cdc\"} ")),
        "{metrics}"
    );

    // SHOW SINKS.
    let show = client.simple_query("SHOW SINKS").await.expect("show");
    let sinks: Vec<_> = show
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .collect();
    assert_eq!(sinks.len(), 2);
    assert_eq!(sinks[0].get("name"), Some("totals_cdc"));
    assert_eq!(sinks[1].get("name"), Some("totals_upsert"));
    assert_eq!(sinks[1].get("relation"), Some("totals"));
    assert_eq!(sinks[1].get("topic"), Some(upsert_topic.as_str()));
    assert_eq!(sinks[1].get("envelope"), Some("upsert"));
    assert_eq!(sinks[0].get("envelope"), Some("debezium"));
    assert_eq!(sinks[1].get("state"), Some("running"));
    assert!(sinks[1].get("last_time").is_some());
    let messages: usize = sinks[1].get("messages").unwrap().parse().unwrap();
    assert_eq!(messages, upsert.len());

    // A sink is not a relation; what it writes out is dropped only with CASCADE.
    assert_eq!(
        sqlstate_of(&client, "SELECT * FROM totals_upsert").await,
        "42809"
    );
    assert_eq!(
        sqlstate_of(&client, "DROP MATERIALIZED VIEW totals").await,
        "2BP01"
    );
    assert_eq!(sqlstate_of(&client, "DROP TABLE orders").await, "2BP01");
    assert_eq!(
        sqlstate_of(
            &client,
            "CREATE SINK totals_upsert FROM totals WITH (KAFKA_TOPIC = 'x', ENVELOPE = 'UPSERT')"
        )
        .await,
        "42P07"
    );
    assert_eq!(
        sqlstate_of(
            &client,
            "CREATE SINK s FROM totals WITH (KAFKA_TOPIC = 'x', ENVELOPE = 'APPEND')"
        )
        .await,
        "22023"
    );
    // An UPSERT key that is not known to be unique would fold rows together: refused,
    // with the keys that are known, unless the user vouches for it.
    let not_unique = client
        .batch_execute(
            "CREATE SINK by_n FROM totals WITH (KAFKA_TOPIC = 'x', ENVELOPE = 'UPSERT', KEY = (n))",
        )
        .await
        .expect_err("a key that is not unique");
    let db = not_unique.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "42P10", "{db:?}");
    assert_eq!(db.detail(), Some("Keys known to be unique: (region)."));
    client
        .batch_execute(&format!(
            "CREATE SINK by_n FROM totals WITH (KAFKA_TOPIC = '{}', ENVELOPE = 'UPSERT', \
               KEY = (n) NOT ENFORCED);
             DROP SINK by_n;",
            kafka.unique_topic("by-n")
        ))
        .await
        .expect("NOT ENFORCED takes the user's word");
    client
        .batch_execute("DROP SINK totals_cdc")
        .await
        .expect("drop sink");
    assert_eq!(common::lines(&client, "SHOW SINKS").await.len(), 1);
    client
        .batch_execute("DROP MATERIALIZED VIEW totals CASCADE")
        .await
        .expect("drop cascade");
    assert!(common::lines(&client, "SHOW SINKS").await.is_empty());
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Replays an UPSERT topic: key → value. Panics if a message leaves its key as it
/// was (a change written twice).
fn replay_upsert(records: &[ReadRecord]) -> BTreeMap<String, Value> {
    let mut state: BTreeMap<String, Option<Value>> = BTreeMap::new();
    for r in records {
        let key = String::from_utf8(r.key.clone().expect("a key")).unwrap();
        let value = r.value.as_deref().map(json);
        let previous = state.insert(key.clone(), value.clone());
        assert_ne!(
            previous.flatten(),
            value,
            "message at offset {} repeats the state of {key}",
            r.offset
        );
    }
    state
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
}

/// Replays a DEBEZIUM topic: key → row. Panics if a message's `before` is not the
/// key's row at that point (a change written twice, or one lost).
fn replay_debezium(records: &[ReadRecord]) -> BTreeMap<String, Value> {
    let mut state: BTreeMap<String, Value> = BTreeMap::new();
    for r in records {
        let key = String::from_utf8(r.key.clone().expect("a key")).unwrap();
        let event = json(r.value.as_deref().expect("a value"));
        let current = state.get(&key).cloned().unwrap_or(Value::Null);
        assert_eq!(
            event["before"], current,
            "message at offset {} does not follow the state of {key}",
            r.offset
        );
        match &event["after"] {
            Value::Null => state.remove(&key),
            after => state.insert(key, after.clone()),
        };
    }
    state
}

/// The view's rows as the sinks write them: `{"k":..}` → `{"k":..,"v":..,"w":..}`.
async fn view_as_json(client: &Client) -> BTreeMap<String, Value> {
    common::lines(client, "SELECT k, v, w FROM counted ORDER BY k")
        .await
        .into_iter()
        .map(|row| {
            let parts: Vec<i64> = row.split(' ').map(|p| p.parse().unwrap()).collect();
            (
                format!(r#"{{"k":{}}}"#, parts[0]),
                serde_json::json!({"k": parts[0], "v": parts[1], "w": parts[2]}),
            )
        })
        .collect()
}

/// Waits until both topics, replayed, equal the view.
async fn wait_topics_equal_view(kafka: &Kafka, client: &Client, upsert: &str, cdc: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let expected = view_as_json(client).await;
        let u = kafka.read_all(upsert, Isolation::ReadCommitted).await;
        let c = kafka.read_all(cdc, Isolation::ReadCommitted).await;
        if let (Ok(u), Ok(c)) = (u, c) {
            let (u, c) = (replay_upsert(&u), replay_debezium(&c));
            if u == expected && c == expected {
                return;
            }
            if Instant::now() > deadline {
                panic!("upsert topic {u:?}\ndebezium topic {c:?}\nview {expected:?}");
            }
        }
        assert!(Instant::now() < deadline, "the topics cannot be read");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_sink_killed_mid_output_writes_every_change_once_after_restart() {
    let kafka = Kafka::shared().expect("kafka");
    let upsert_topic = kafka.unique_topic("counted-upsert");
    let cdc_topic = kafka.unique_topic("counted-cdc");
    kafka.create_topic(&upsert_topic, 2).await.expect("topic");
    kafka.create_topic(&cdc_topic, 2).await.expect("topic");
    let mut eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    let keys = 20;
    client
        .batch_execute(&format!(
            "CREATE TABLE counters (k int PRIMARY KEY, v int);
             INSERT INTO counters SELECT g, 0 FROM generate_series(1, {keys}) AS g;
             CREATE MATERIALIZED VIEW counted AS SELECT k, v, v * 2 AS w FROM counters;
             CREATE SINK counted_upsert FROM counted WITH (KAFKA_TOPIC = '{upsert_topic}',
               ENVELOPE = 'UPSERT', KEY = (k));
             CREATE SINK counted_cdc FROM counted WITH (KAFKA_TOPIC = '{cdc_topic}',
               ENVELOPE = 'DEBEZIUM', KEY = (k));"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));

    // Updates run while the server is killed: the sinks are in the middle of writing.
    let writer = {
        let writer_client = eddy.connect().await.expect("connect");
        tokio::spawn(async move {
            for i in 0.. {
                let sql = format!("UPDATE counters SET v = v + 1 WHERE k = {}", i % keys + 1);
                if writer_client.batch_execute(&sql).await.is_err() {
                    return i;
                }
            }
            unreachable!()
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(client);
    eddy.kill9().expect("kill");
    let written = writer.await.expect("writer");
    assert!(written > 20, "only {written} updates before the kill");
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    // The restarted sinks catch up (the difference since their last commit) ...
    wait_topics_equal_view(&kafka, &client, &upsert_topic, &cdc_topic).await;
    // ... and go on with every later change, a delete included.
    for i in 0..100 {
        client
            .batch_execute(&format!(
                "UPDATE counters SET v = v + 1 WHERE k = {}",
                i % keys + 1
            ))
            .await
            .expect("update");
    }
    client
        .batch_execute("DELETE FROM counters WHERE k = 1")
        .await
        .expect("delete");
    wait_topics_equal_view(&kafka, &client, &upsert_topic, &cdc_topic).await;

    // A second restart with nothing new: the sinks write nothing.
    let before = kafka
        .read_all(&cdc_topic, Isolation::ReadCommitted)
        .await
        .expect("read")
        .len();
    drop(client);
    eddy.kill9().expect("kill");
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let show = common::lines(&client, "SHOW SINKS").await;
        if show.iter().all(|r| r.contains(" running ")) {
            break;
        }
        assert!(Instant::now() < deadline, "sinks not running: {show:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = kafka
        .read_all(&cdc_topic, Isolation::ReadCommitted)
        .await
        .expect("read")
        .len();
    assert_eq!(after, before, "a restart with nothing new wrote messages");
    wait_topics_equal_view(&kafka, &client, &upsert_topic, &cdc_topic).await;
}
