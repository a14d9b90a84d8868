//! The Kafka source against a real broker (eddy-testkit's Apache Kafka): formats,
//! envelopes, partitions, resume, bad input and an unreachable broker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eddy_connect::{
    KafkaSource, KafkaSourceSpec, Resume, SourceBatch, SourceConfig, SourceError, SourceKind,
    SourceState,
};
use eddy_repr::strconv::format_datum;
use eddy_repr::{Diff, RelationDesc, Row, ScalarType};
use eddy_testkit::{free_port, Kafka, TestRecord};

const WAIT: Duration = Duration::from_secs(60);

fn broker() -> Arc<Kafka> {
    Kafka::shared().expect("kafka starts")
}

fn desc(cols: &[(&str, ScalarType)]) -> RelationDesc {
    RelationDesc::new(
        cols.iter().map(|(n, _)| n.to_string()).collect(),
        cols.iter().map(|(_, t)| t.nullable(true)).collect(),
    )
}

fn spec(
    kafka: &Kafka,
    kind: SourceKind,
    desc: RelationDesc,
    primary_key: Vec<usize>,
    options: &[(&str, &str)],
) -> KafkaSourceSpec {
    let options: Vec<(String, String)> = options
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    KafkaSourceSpec::from_options(
        kind,
        desc,
        primary_key,
        &options,
        Some(kafka.bootstrap_servers()),
    )
    .unwrap()
}

fn config(name: &str) -> SourceConfig {
    let mut config = SourceConfig::new(name);
    config.metadata_refresh = Duration::from_millis(200);
    config
}

/// Everything a source sent, applied in order.
#[derive(Default)]
struct Collected {
    /// Row (as its datums' text, `NULL` for null, joined with `|`) → count.
    rows: BTreeMap<String, Diff>,
    updates: Vec<(String, Diff)>,
    errors: Vec<SourceError>,
    progress: BTreeMap<i32, i64>,
    batches: usize,
}

fn row_text(row: &Row) -> String {
    row.unpack()
        .iter()
        .map(|d| {
            if d.is_null() {
                "NULL".to_string()
            } else {
                format_datum(d, &ScalarType::Text)
            }
        })
        .collect::<Vec<_>>()
        .join("|")
}

impl Collected {
    fn apply(&mut self, batch: SourceBatch) {
        for (row, diff) in batch.updates {
            let text = row_text(&row);
            *self.rows.entry(text.clone()).or_default() += diff;
            self.rows.retain(|_, d| *d != 0);
            self.updates.push((text, diff));
        }
        self.errors.extend(batch.errors);
        // Progress never goes back, and covers every partition it covered before.
        for (partition, offset) in &self.progress {
            assert!(batch.progress[partition] >= *offset, "progress went back");
        }
        self.progress = batch.progress;
        self.batches += 1;
    }

    /// Reads batches until the progress reaches `target` in every partition.
    async fn read_until(&mut self, source: &mut KafkaSource, target: &BTreeMap<i32, i64>) {
        let deadline = Instant::now() + WAIT;
        while !target
            .iter()
            .all(|(p, o)| self.progress.get(p).is_some_and(|at| at >= o))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, source.next_batch()).await {
                Ok(Some(batch)) => self.apply(batch),
                Ok(None) => panic!("source stopped: {:?}", source.status()),
                Err(_) => panic!(
                    "progress {:?} did not reach {target:?}; status {:?}",
                    self.progress,
                    source.status()
                ),
            }
        }
    }

    fn rows(&self) -> Vec<(&str, Diff)> {
        self.rows.iter().map(|(r, d)| (r.as_str(), *d)).collect()
    }
}

/// Partition → next offset after the produced messages.
fn ends(positions: &[(i32, i64)]) -> BTreeMap<i32, i64> {
    let mut ends = BTreeMap::new();
    for &(partition, offset) in positions {
        let end = ends.entry(partition).or_insert(0);
        *end = (*end).max(offset + 1);
    }
    ends
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_stream_decodes_by_column_name() {
    let kafka = broker();
    let topic = kafka.unique_topic("json");
    kafka.create_topic(&topic, 1).await.unwrap();
    let positions = kafka
        .produce(
            &topic,
            [
                TestRecord::keyed(
                    "k1",
                    r#"{"id": 1, "NAME": "ann", "amount": 12.50, "seen": "2024-01-02T03:04:05Z"}"#,
                )
                .at(1_700_000_000_000),
                TestRecord::value(r#"{"id": "2", "amount": 3, "seen": 1704164645678, "x": []}"#)
                    .at(1_700_000_000_001),
                TestRecord::value(r#"{"id": 3, "amount": "lots"}"#),
                TestRecord::value(r#"{"id": 4"#),
            ],
        )
        .await
        .unwrap();
    let desc = desc(&[
        ("id", ScalarType::Int64),
        ("name", ScalarType::Text),
        (
            "amount",
            ScalarType::Numeric {
                precision: None,
                scale: None,
            },
        ),
        ("seen", ScalarType::Timestamp),
        ("_partition", ScalarType::Int32),
        ("_offset", ScalarType::Int64),
        ("_kafka_timestamp", ScalarType::TimestampTz),
        ("_key", ScalarType::Text),
    ]);
    let spec = spec(
        &kafka,
        SourceKind::Stream,
        desc,
        vec![],
        &[("KAFKA_TOPIC", &topic)],
    );
    let mut source = KafkaSource::start(spec, config("json"), Resume::default()).unwrap();
    let mut got = Collected::default();
    got.read_until(&mut source, &ends(&positions)).await;
    assert_eq!(
        got.rows(),
        vec![
            (
                "1|ann|12.50|2024-01-02 03:04:05|0|0|2023-11-14 22:13:20+00|k1",
                1
            ),
            (
                "2|NULL|3|2024-01-02 03:04:05.678|0|1|2023-11-14 22:13:20.001+00|NULL",
                1
            ),
        ]
    );
    let errors: Vec<_> = got
        .errors
        .iter()
        .map(|e| (e.partition, e.offset, e.message.as_str()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (
                0,
                2,
                "column \"amount\": invalid input syntax for type numeric: \"lots\""
            ),
            (
                0,
                3,
                "invalid input syntax for type json: The input string ended unexpectedly."
            ),
        ]
    );
    assert_eq!(source.status().state, SourceState::Running);
    assert_eq!(source.status().messages_total, 4);
    assert_eq!(source.status().errors_total, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delimited_and_raw_values() {
    let kafka = broker();
    let csv_topic = kafka.unique_topic("csv");
    let raw_topic = kafka.unique_topic("raw");
    kafka.create_topic(&csv_topic, 1).await.unwrap();
    kafka.create_topic(&raw_topic, 1).await.unwrap();
    let csv_positions = kafka
        .produce(
            &csv_topic,
            [
                TestRecord::value("1,plain\n"),
                TestRecord::value("2,\"quoted, with \"\"quotes\"\"\""),
                TestRecord::value("3,"),
                TestRecord::value("x,y"),
                TestRecord::value("4,a,extra"),
            ],
        )
        .await
        .unwrap();
    let raw_positions = kafka
        .produce(
            &raw_topic,
            [
                TestRecord::value("the quick brown fox"),
                TestRecord::value(b"\xc3\x28 not utf-8"),
                TestRecord::keyed("k", ""),
            ],
        )
        .await
        .unwrap();

    let csv = spec(
        &kafka,
        SourceKind::Stream,
        desc(&[("n", ScalarType::Int32), ("s", ScalarType::Text)]),
        vec![],
        &[("KAFKA_TOPIC", &csv_topic), ("VALUE_FORMAT", "DELIMITED")],
    );
    let mut source = KafkaSource::start(csv, config("csv"), Resume::default()).unwrap();
    let mut got = Collected::default();
    got.read_until(&mut source, &ends(&csv_positions)).await;
    assert_eq!(
        got.rows(),
        vec![
            ("1|plain", 1),
            ("2|quoted, with \"quotes\"", 1),
            ("3|NULL", 1)
        ]
    );
    let errors: Vec<_> = got
        .errors
        .iter()
        .map(|e| (e.offset, e.message.as_str()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (
                3,
                "column \"n\": invalid input syntax for type integer: \"x\""
            ),
            (4, "expected 2 fields, found 3"),
        ]
    );

    let raw = spec(
        &kafka,
        SourceKind::Stream,
        desc(&[("line", ScalarType::Text), ("_key", ScalarType::Text)]),
        vec![],
        &[("KAFKA_TOPIC", &raw_topic), ("VALUE_FORMAT", "KAFKA")],
    );
    let mut source = KafkaSource::start(raw, config("raw"), Resume::default()).unwrap();
    let mut got = Collected::default();
    got.read_until(&mut source, &ends(&raw_positions)).await;
    assert_eq!(got.rows(), vec![("the quick brown fox|NULL", 1), ("|k", 1)]);
    assert_eq!(got.errors.len(), 1);
    assert_eq!(
        got.errors[0].message,
        "invalid byte sequence for encoding \"UTF8\": 0xc3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_table_updates_deletes_and_resumes() {
    let kafka = broker();
    let topic = kafka.unique_topic("users");
    kafka.create_topic(&topic, 2).await.unwrap();
    let positions = kafka
        .produce(
            &topic,
            [
                TestRecord::keyed("u1", r#"{"region": "north"}"#),
                TestRecord::keyed("u2", r#"{"region": "south"}"#),
                TestRecord::keyed("u1", r#"{"region": "east"}"#),
                TestRecord::tombstone("u2"),
                TestRecord::tombstone("nobody"),
                TestRecord::keyed("u3", r#"{"region": "west"}"#),
            ],
        )
        .await
        .unwrap();
    let desc = desc(&[("userid", ScalarType::Text), ("region", ScalarType::Text)]);
    let users = spec(
        &kafka,
        SourceKind::Table,
        desc,
        vec![0],
        &[("KAFKA_TOPIC", &topic)],
    );
    let mut source = KafkaSource::start(users.clone(), config("users"), Resume::default()).unwrap();
    let mut got = Collected::default();
    got.read_until(&mut source, &ends(&positions)).await;
    assert_eq!(got.rows(), vec![("u1|east", 1), ("u3|west", 1)]);
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    // The update of u1 retracted north before inserting east.
    let u1: Vec<_> = got
        .updates
        .iter()
        .filter(|(r, _)| r.starts_with("u1"))
        .collect();
    assert_eq!(
        u1,
        vec![
            &("u1|north".to_string(), 1),
            &("u1|north".to_string(), -1),
            &("u1|east".to_string(), 1)
        ]
    );
    source.stop();

    // Restart from the recorded progress and current rows: an update of u1 retracts
    // the row the first run left, and a tombstone of u3 deletes it.
    let current_rows = got
        .rows
        .keys()
        .map(|text| {
            let (userid, region) = text.split_once('|').unwrap();
            Row::pack(&[userid.into(), region.into()])
        })
        .collect();
    let resume = Resume {
        progress: got.progress.clone(),
        current_rows,
        watermark_us: None,
    };
    let more = kafka
        .produce(
            &topic,
            [
                TestRecord::keyed("u1", r#"{"region": "up"}"#),
                TestRecord::tombstone("u3"),
            ],
        )
        .await
        .unwrap();
    let mut source = KafkaSource::start(users, config("users2"), resume).unwrap();
    let mut again = Collected::default();
    again.read_until(&mut source, &ends(&more)).await;
    let mut updates = again.updates.clone();
    updates.sort();
    assert_eq!(
        updates,
        vec![
            ("u1|east".to_string(), -1),
            ("u1|up".to_string(), 1),
            ("u3|west".to_string(), -1)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debezium_table_counts_replayed_events_once() {
    let kafka = broker();
    let topic = kafka.unique_topic("dbserver1.inventory.customers");
    kafka.create_topic(&topic, 1).await.unwrap();
    let event = |op: &str, before: &str, after: &str| {
        format!(
            r#"{{"before": {before}, "after": {after}, "op": "{op}", "source": {{"db": "inventory"}}}}"#
        )
    };
    let wrapped =
        |inner: String| format!(r#"{{"schema": {{"type": "struct"}}, "payload": {inner}}}"#);
    let alice = r#"{"id": 1, "name": "alice", "email": "a@x"}"#;
    let alice2 = r#"{"id": 1, "name": "alice", "email": "alice@x"}"#;
    let bob = r#"{"id": 2, "name": "bob", "email": "b@x"}"#;
    let records = vec![
        TestRecord::keyed(r#"{"id":1}"#, event("r", "null", alice)),
        TestRecord::keyed(r#"{"id":2}"#, wrapped(event("c", "null", bob))),
        TestRecord::keyed(r#"{"id":1}"#, event("u", alice, alice2)),
        TestRecord::keyed(r#"{"id":2}"#, event("d", bob, "null")),
        TestRecord::tombstone(r#"{"id":2}"#),
        // The connector restarted and replays the last events.
        TestRecord::keyed(r#"{"id":1}"#, wrapped(event("u", alice, alice2))),
        TestRecord::keyed(r#"{"id":2}"#, event("d", bob, "null")),
        TestRecord::keyed(r#"{"id":2}"#, event("x", "null", "null")),
        // TRUNCATE upstream: every row goes.
        TestRecord::value(event("t", "null", "null")),
    ];
    let positions = kafka.produce(&topic, records).await.unwrap();
    let desc = desc(&[
        ("id", ScalarType::Int64),
        ("name", ScalarType::Text),
        ("email", ScalarType::Text),
    ]);
    let customers = spec(
        &kafka,
        SourceKind::Table,
        desc,
        vec![0],
        &[("KAFKA_TOPIC", &topic), ("VALUE_FORMAT", "DEBEZIUM_JSON")],
    );
    let mut source = KafkaSource::start(customers, config("customers"), Resume::default()).unwrap();
    let mut got = Collected::default();
    got.read_until(&mut source, &ends(&positions)).await;
    assert_eq!(got.rows(), vec![]);
    assert_eq!(
        got.updates,
        vec![
            ("1|alice|a@x".to_string(), 1),
            ("2|bob|b@x".to_string(), 1),
            ("1|alice|a@x".to_string(), -1),
            ("1|alice|alice@x".to_string(), 1),
            ("2|bob|b@x".to_string(), -1),
            ("1|alice|alice@x".to_string(), -1),
        ]
    );
    assert_eq!(got.errors.len(), 1);
    assert_eq!(got.errors[0].offset, 7);
    assert_eq!(got.errors[0].message, "unsupported Debezium op \"x\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_partitions_are_read_including_ones_added_later() {
    let kafka = broker();
    let topic = kafka.unique_topic("four");
    kafka.create_topic(&topic, 4).await.unwrap();
    let records =
        (0..400).map(|i| TestRecord::value(format!(r#"{{"n": {i}}}"#)).to_partition(i % 4));
    let positions = kafka.produce(&topic, records).await.unwrap();
    let desc = desc(&[("n", ScalarType::Int32), ("_partition", ScalarType::Int32)]);
    let stream = spec(
        &kafka,
        SourceKind::Stream,
        desc,
        vec![],
        &[("KAFKA_TOPIC", &topic)],
    );
    let mut source = KafkaSource::start(stream, config("four"), Resume::default()).unwrap();
    let mut got = Collected::default();
    got.read_until(&mut source, &ends(&positions)).await;
    assert_eq!(got.rows.len(), 400);
    assert!(got.rows.iter().all(|(row, diff)| {
        let (n, p) = row.split_once('|').unwrap();
        *diff == 1 && n.parse::<i32>().unwrap() % 4 == p.parse::<i32>().unwrap()
    }));
    assert_eq!(
        got.progress,
        BTreeMap::from([(0, 100), (1, 100), (2, 100), (3, 100)])
    );

    // Two more partitions: the running source finds them and reads them from the start.
    kafka.add_partitions(&topic, 6).await.unwrap();
    let records =
        (400..460).map(|i| TestRecord::value(format!(r#"{{"n": {i}}}"#)).to_partition(4 + i % 2));
    let more = kafka.produce(&topic, records).await.unwrap();
    got.read_until(&mut source, &ends(&more)).await;
    assert_eq!(got.rows.len(), 460);
    assert_eq!(got.progress[&4], 30);
    assert_eq!(got.progress[&5], 30);
    assert!(got.errors.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_reads_nothing_twice_and_loses_nothing() {
    let kafka = broker();
    let topic = kafka.unique_topic("resume");
    kafka.create_topic(&topic, 3).await.unwrap();
    let batch = |range: std::ops::Range<i32>| {
        range
            .map(|i| TestRecord::keyed(format!("k{i}"), format!(r#"{{"n": {i}}}"#)))
            .collect::<Vec<_>>()
    };
    let first = kafka.produce(&topic, batch(0..300)).await.unwrap();
    let desc = desc(&[("n", ScalarType::Int32)]);
    let stream = spec(
        &kafka,
        SourceKind::Stream,
        desc,
        vec![],
        &[("KAFKA_TOPIC", &topic)],
    );
    let mut source =
        KafkaSource::start(stream.clone(), config("resume"), Resume::default()).unwrap();
    let mut got = Collected::default();
    got.read_until(&mut source, &ends(&first)).await;
    source.stop();
    let recorded = got.progress.clone();

    let second = kafka.produce(&topic, batch(300..600)).await.unwrap();
    let resume = Resume {
        progress: recorded,
        current_rows: vec![],
        watermark_us: None,
    };
    let mut source = KafkaSource::start(stream.clone(), config("resume2"), resume).unwrap();
    got.read_until(&mut source, &ends(&second)).await;
    let expected: BTreeMap<String, Diff> = (0..600).map(|i| (i.to_string(), 1)).collect();
    assert_eq!(got.rows, expected, "every message exactly once");
    assert_eq!(got.updates.len(), 600);

    // A new source with START = 'latest' reads only what comes after it started.
    let latest = spec(
        &kafka,
        SourceKind::Stream,
        stream.desc.clone(),
        vec![],
        &[("KAFKA_TOPIC", &topic), ("START", "latest")],
    );
    let mut source = KafkaSource::start(latest, config("latest"), Resume::default()).unwrap();
    let mut late = Collected::default();
    late.read_until(&mut source, &ends(&second)).await;
    assert!(late.updates.is_empty());
    let third = kafka.produce(&topic, batch(600..603)).await.unwrap();
    late.read_until(&mut source, &ends(&third)).await;
    assert_eq!(late.rows(), vec![("600", 1), ("601", 1), ("602", 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_reported_and_skipped() {
    let kafka = broker();
    let topic = kafka.unique_topic("mixed");
    kafka.create_topic(&topic, 2).await.unwrap();
    let mut records = Vec::new();
    let mut bad_kinds = Vec::new();
    let mut good = 0;
    for i in 0..11_000 {
        if i % 11 == 10 {
            let kind = (i / 11) % 4;
            let value: Vec<u8> = match kind {
                0 => b"{\"n\": 1, ".to_vec(),
                1 => b"{\"n\": \"\xff\"}".to_vec(),
                2 => br#"{"n": "one"}"#.to_vec(),
                _ => format!(r#"{{"n": 1, "pad": "{}"}}"#, "x".repeat(5000)).into_bytes(),
            };
            bad_kinds.push(kind);
            records.push(TestRecord::value(value).to_partition(i % 2));
        } else {
            records.push(TestRecord::value(format!(r#"{{"n": {good}}}"#)).to_partition(i % 2));
            good += 1;
        }
    }
    let positions = kafka.produce(&topic, records).await.unwrap();
    let bad_positions: Vec<(i32, i64)> = positions
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 11 == 10)
        .map(|(_, p)| *p)
        .collect();
    let desc = desc(&[("n", ScalarType::Int32)]);
    let stream = spec(
        &kafka,
        SourceKind::Stream,
        desc,
        vec![],
        &[("KAFKA_TOPIC", &topic)],
    );
    let mut config = config("mixed");
    config.message_bytes_max = 4096;
    let mut source = KafkaSource::start(stream, config, Resume::default()).unwrap();
    let mut got = Collected::default();
    got.read_until(&mut source, &ends(&positions)).await;
    let expected: BTreeMap<String, Diff> = (0..10_000).map(|i| (i.to_string(), 1)).collect();
    assert_eq!(got.rows, expected);
    let mut reported: Vec<(i32, i64)> =
        got.errors.iter().map(|e| (e.partition, e.offset)).collect();
    reported.sort();
    let mut bad_sorted = bad_positions.clone();
    bad_sorted.sort();
    assert_eq!(reported, bad_sorted);
    assert_eq!(got.errors.len(), 1_000);
    for error in &got.errors {
        assert!(
            error
                .message
                .starts_with("invalid input syntax for type json")
                || error.message.starts_with("invalid byte sequence")
                || error
                    .message
                    .starts_with("column \"n\": invalid input syntax")
                || error.message.starts_with("message of "),
            "{error:?}"
        );
    }
    let status = source.status();
    assert_eq!(status.state, SourceState::Running);
    assert_eq!(status.messages_total, 11_000);
    assert_eq!(status.errors_total, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_error_fail_stops_the_source_at_the_bad_message() {
    let kafka = broker();
    let topic = kafka.unique_topic("fail");
    kafka.create_topic(&topic, 1).await.unwrap();
    kafka
        .produce(
            &topic,
            ["{\"n\": 1}", "{\"n\": 2}", "oops", "{\"n\": 4}"].map(TestRecord::value),
        )
        .await
        .unwrap();
    let desc = desc(&[("n", ScalarType::Int32)]);
    let stream = spec(
        &kafka,
        SourceKind::Stream,
        desc,
        vec![],
        &[("KAFKA_TOPIC", &topic), ("ON_ERROR", "fail")],
    );
    let mut source = KafkaSource::start(stream, config("fail"), Resume::default()).unwrap();
    let mut got = Collected::default();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, source.next_batch()).await {
            Ok(Some(batch)) => got.apply(batch),
            Ok(None) => break,
            Err(_) => panic!("the source did not stop: {:?}", source.status()),
        }
    }
    assert_eq!(got.rows(), vec![("1", 1), ("2", 1)]);
    assert_eq!(got.errors.len(), 1);
    assert_eq!(
        got.progress,
        BTreeMap::from([(0, 2)]),
        "resumes at the bad message"
    );
    match source.status().state {
        SourceState::Failed { error } => assert!(
            error.starts_with(
                "message at partition 0, offset 2: invalid input syntax for type json"
            ),
            "{error}"
        ),
        other => panic!("expected a failed source, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_is_retried() {
    // Nothing listens on this port.
    let port = free_port().unwrap();
    let options = [
        ("KAFKA_TOPIC".to_string(), "nowhere".to_string()),
        ("KAFKA_BROKERS".to_string(), format!("127.0.0.1:{port}")),
    ];
    let stream = KafkaSourceSpec::from_options(
        SourceKind::Stream,
        desc(&[("n", ScalarType::Int32)]),
        vec![],
        &options,
        None,
    )
    .unwrap();
    let mut config = config("nowhere");
    config.request_timeout = Duration::from_millis(500);
    let mut source = KafkaSource::start(stream, config, Resume::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match source.status().state {
            SourceState::Retrying {
                last_error,
                attempts,
            } if attempts >= 2 => {
                assert!(last_error.contains("nowhere"), "{last_error}");
                break;
            }
            SourceState::Starting | SourceState::Retrying { .. } => {}
            other => panic!("unexpected state {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "never retried: {:?}",
            source.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(source.try_next_batch().is_none());
    source.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_a_timestamp() {
    let kafka = broker();
    let topic = kafka.unique_topic("start-ts");
    kafka.create_topic(&topic, 2).await.unwrap();
    let base = 1_700_000_000_000i64;
    let records = (0..6).map(|i| {
        TestRecord::value(format!(r#"{{"n": {i}}}"#))
            .to_partition(i % 2)
            .at(base + i as i64 * 1000)
    });
    let positions = kafka.produce(&topic, records).await.unwrap();
    let desc = desc(&[("n", ScalarType::Int32)]);
    let stream = spec(
        &kafka,
        SourceKind::Stream,
        desc,
        vec![],
        &[("KAFKA_TOPIC", &topic), ("START", "2023-11-14 22:13:23+00")],
    );
    let mut source = KafkaSource::start(stream, config("start-ts"), Resume::default()).unwrap();
    let mut got = Collected::default();
    got.read_until(&mut source, &ends(&positions)).await;
    // 22:13:23 is base + 3 s: messages 3, 4 and 5.
    assert_eq!(got.rows(), vec![("3", 1), ("4", 1), ("5", 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_that_goes_away_is_retried_until_it_is_back() {
    // This test kills its own broker, so it never shares one.
    let mut kafka = Kafka::start().unwrap();
    if kafka.log_path().is_none() {
        eprintln!("EDDY_TEST_KAFKA names an external broker, which this test cannot kill");
        return;
    }
    let topic = kafka.unique_topic("outage");
    kafka.create_topic(&topic, 1).await.unwrap();
    let values = |range: std::ops::Range<i32>| {
        range
            .map(|i| TestRecord::value(format!(r#"{{"n": {i}}}"#)))
            .collect::<Vec<_>>()
    };
    let first = kafka.produce(&topic, values(0..10)).await.unwrap();
    let stream = spec(
        &kafka,
        SourceKind::Stream,
        desc(&[("n", ScalarType::Int32)]),
        vec![],
        &[("KAFKA_TOPIC", &topic)],
    );
    let mut config = config("outage");
    config.request_timeout = Duration::from_millis(500);
    config.backoff_max = Duration::from_millis(500);
    let mut source = KafkaSource::start(stream, config, Resume::default()).unwrap();
    let mut got = Collected::default();
    got.read_until(&mut source, &ends(&first)).await;

    kafka.kill().unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        match source.status().state {
            SourceState::Retrying { .. } => break,
            SourceState::Running => {}
            other => panic!("unexpected state {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "never noticed the broker was gone"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    kafka.restart().unwrap();
    let second = kafka.produce(&topic, values(10..20)).await.unwrap();
    got.read_until(&mut source, &ends(&second)).await;
    let expected: BTreeMap<String, Diff> = (0..20).map(|i| (i.to_string(), 1)).collect();
    assert_eq!(got.rows, expected);
    assert_eq!(source.status().state, SourceState::Running);
}

/// Messages the broker deleted (retention, or `DeleteRecords`) before a resumed source
/// read them are reported as an error with where they were, and the source goes on
/// from the first message the broker still has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_left_by_retention_is_reported_on_resume() {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::{Offset, TopicPartitionList};

    let kafka = broker();
    let topic = kafka.unique_topic("gap");
    kafka.create_topic(&topic, 1).await.unwrap();
    let batch = |range: std::ops::Range<i32>| {
        range
            .map(|i| TestRecord::value(format!(r#"{{"n": {i}}}"#)))
            .collect::<Vec<_>>()
    };
    let first = kafka.produce(&topic, batch(0..10)).await.unwrap();
    let stream = spec(
        &kafka,
        SourceKind::Stream,
        desc(&[("n", ScalarType::Int32)]),
        vec![],
        &[("KAFKA_TOPIC", &topic)],
    );
    let mut source = KafkaSource::start(stream.clone(), config("gap"), Resume::default()).unwrap();
    let mut got = Collected::default();
    got.read_until(&mut source, &ends(&first)).await;
    source.stop();
    let recorded = got.progress.clone();
    assert_eq!(recorded.get(&0), Some(&10));

    // While the source is away, ten more arrive and the first fifteen are deleted.
    let second = kafka.produce(&topic, batch(10..20)).await.unwrap();
    let admin: AdminClient<DefaultClientContext> = kafka.client_config().create().unwrap();
    let mut upto = TopicPartitionList::new();
    upto.add_partition_offset(&topic, 0, Offset::Offset(15))
        .unwrap();
    admin
        .delete_records(&upto, &AdminOptions::new())
        .await
        .expect("delete records");

    let resume = Resume {
        progress: recorded,
        current_rows: vec![],
        watermark_us: None,
    };
    let mut source = KafkaSource::start(stream, config("gap2"), resume).unwrap();
    got.read_until(&mut source, &ends(&second)).await;
    let expected: BTreeMap<String, Diff> =
        (0..10).chain(15..20).map(|i| (i.to_string(), 1)).collect();
    assert_eq!(got.rows, expected);
    assert_eq!(got.errors.len(), 1, "{:?}", got.errors);
    assert_eq!((got.errors[0].partition, got.errors[0].offset), (0, 10));
    assert!(
        got.errors[0]
            .message
            .contains("offsets 10 to 14 were deleted"),
        "{}",
        got.errors[0].message
    );
}
