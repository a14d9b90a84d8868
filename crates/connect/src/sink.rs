//! Kafka sinks: a relation's changelog written to a topic, exactly once.
//!
//! As for sources, the three concerns are kept apart:
//! - **spec** ([`SinkSpec::from_options`]): the `WITH (...)` options of `CREATE SINK`;
//! - **format + envelope** ([`Encoder`]): a time's consolidated updates become
//!   messages. The key is the `KEY = (...)` columns (the whole row without `KEY`) as a
//!   JSON object (or, with `KEY_FORMAT = 'KAFKA'`, the one key column's text); a row is
//!   a JSON object of its columns (integers, floats and numerics as JSON numbers —
//!   numerics with their exact digits —, booleans, `jsonb` as is, arrays as arrays,
//!   every other type as its Postgres text form). `UPSERT`: one message per key and
//!   time, the key's new row, or a tombstone (null value) when it has none left.
//!   `DEBEZIUM`: `{"before": row | null, "after": row | null, "op": "c" | "u" | "d"}`;
//!   a retraction and an insertion of one key at one time are one message (an update,
//!   `op` `u`), others stand alone.
//! - **transport** ([`KafkaSink`]): a transactional producer on its own thread.
//!
//! # Exactly once
//!
//! The topic itself is the sink's durable state; Eddy's log holds only the sink's
//! definition.
//! - Each transaction holds the changes of one or more complete times (every message
//!   carries its time in the header `eddy_time`). So the committed messages of the
//!   topic, folded (per key the last value for UPSERT; after minus before for
//!   DEBEZIUM), are the relation at the last committed time `T_c`.
//! - A sink (new, restarted after a crash or `kill -9`, or retried after a failure)
//!   first calls `init_transactions` with its fixed `transactional.id`
//!   (`eddy-sink-<id>`): that fences any older producer of the same sink and aborts
//!   (or completes) its open transaction. It then reads the topic back with
//!   `read_committed` and folds it: the state at `T_c`.
//! - Its subscription starts at a time `as_of` the inputs still hold, with the
//!   snapshot. The first transaction writes the difference between the relation at
//!   `as_of` and the folded state (nothing, if they agree), every later one the
//!   changes of later times. So a change committed before a crash is never written
//!   again, and one that was not is in the difference: the folded topic equals the
//!   relation at every committed time, and every message changes its key's state. The
//!   changes between `T_c` and `as_of` are collapsed into the one net change at
//!   `as_of` (the inputs no longer hold the times between).
//! - Nothing is ever read from the topic but the sink's own messages: a message that
//!   is not (a value that is not a JSON object, a DEBEZIUM value without
//!   `before`/`after`) is ignored by the fold.
//!
//! Invariants:
//! - A batch is acknowledged ([`SinkStatus::last_time`]) only after its transaction
//!   committed; a failure aborts the open transaction and stops the sink
//!   ([`SinkState::Failed`]): its owner starts a new one (fold, difference, go on).
//! - No timely worker and no coordinator task waits on Kafka: the producer runs on its
//!   own thread, fed over a channel of [`SinkConfig::channel_batches_max`] batches.
//! - A key must identify one row of the relation for UPSERT (the coordinator refuses a
//!   `KEY` not known to be unique, unless `NOT ENFORCED`); a key with several rows
//!   writes one of them (a whole-row key always identifies one row; multiplicities
//!   above one are written once).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use eddy_repr::strconv::json::write_json_string;
use eddy_repr::strconv::{format_datum, JsonbValue};
use eddy_repr::{Datum, Diff, RelationDesc, Row, ScalarType, SqlError, SqlState, Timestamp};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::spec::{invalid_value, option_values, topic_and_brokers};

/// The header holding a message's time (decimal milliseconds).
pub const TIME_HEADER: &str = "eddy_time";

/// How a sink writes changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SinkEnvelope {
    /// Key + the key's latest row; a tombstone when the key has no row left.
    Upsert,
    /// `{"before": ..., "after": ...}` per change.
    Debezium,
}

impl SinkEnvelope {
    pub fn name(self) -> &'static str {
        match self {
            SinkEnvelope::Upsert => "upsert",
            SinkEnvelope::Debezium => "debezium",
        }
    }
}

/// How the message key is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SinkKeyFormat {
    /// A JSON object of the key columns.
    Json,
    /// The one key column's text (what a source's default `KEY_FORMAT = 'KAFKA'` reads).
    Kafka,
}

/// Everything a Kafka sink needs, validated against the relation's columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkSpec {
    /// `bootstrap.servers`.
    pub brokers: String,
    pub topic: String,
    /// The relation's columns.
    pub desc: RelationDesc,
    pub envelope: SinkEnvelope,
    /// Positions in `desc` of the key columns; every column without `KEY`.
    pub key: Vec<usize>,
    pub key_format: SinkKeyFormat,
    /// Partitions of the topic when the sink creates it.
    pub partitions: i32,
}

/// The options [`SinkSpec::from_options`] knows, in the order of its hint.
const OPTIONS: [&str; 6] = [
    "KAFKA_TOPIC",
    "KAFKA_BROKERS",
    "VALUE_FORMAT",
    "ENVELOPE",
    "KEY_FORMAT",
    "TOPIC_PARTITIONS",
];

impl SinkSpec {
    /// Parses the `WITH (name = value, ...)` options and `KEY = (...)` columns of
    /// `CREATE SINK` for a relation with columns `desc`. `default_brokers` is the
    /// server's `--kafka-brokers`. Errors: an unknown, repeated or missing option
    /// `42601`, a bad value `22023`, an unsupported format `0A000`, an unknown key
    /// column `42703`.
    pub fn from_options(
        desc: RelationDesc,
        options: &[(String, String)],
        key: Option<&[String]>,
        default_brokers: Option<&str>,
    ) -> Result<SinkSpec, SqlError> {
        let values = option_values(options, &OPTIONS, ", KEY")?;
        let [topic, brokers, value_format, envelope, key_format, partitions] = values;
        let (topic, brokers) = topic_and_brokers(topic, brokers, default_brokers)?;
        match value_format.map(str::to_ascii_uppercase).as_deref() {
            None | Some("JSON") => {}
            Some(other) => {
                return Err(
                    SqlError::unsupported(format!("a sink with VALUE_FORMAT = '{other}'"))
                        .with_hint("Sinks write JSON."),
                )
            }
        }
        let envelope = match envelope.map(str::to_ascii_uppercase).as_deref() {
            Some("UPSERT") => SinkEnvelope::Upsert,
            Some("DEBEZIUM") => SinkEnvelope::Debezium,
            Some(other) => return Err(invalid_value("ENVELOPE", other, "UPSERT or DEBEZIUM")),
            None => {
                return Err(SqlError::syntax("option \"ENVELOPE\" is required")
                    .with_hint("ENVELOPE = 'UPSERT' or ENVELOPE = 'DEBEZIUM'."))
            }
        };
        let key_columns = match key {
            None => (0..desc.arity()).collect(),
            Some(names) => {
                let mut positions = Vec::with_capacity(names.len());
                for name in names {
                    let Some(i) = desc.names.iter().position(|n| n == name) else {
                        return Err(SqlError::new(
                            SqlState::UNDEFINED_COLUMN,
                            format!("column \"{name}\" named in KEY does not exist"),
                        ));
                    };
                    if positions.contains(&i) {
                        return Err(SqlError::syntax(format!(
                            "column \"{name}\" appears twice in KEY"
                        )));
                    }
                    positions.push(i);
                }
                positions
            }
        };
        let key_format = match key_format.map(str::to_ascii_uppercase).as_deref() {
            None | Some("JSON") => SinkKeyFormat::Json,
            Some("KAFKA") if key_columns.len() == 1 => SinkKeyFormat::Kafka,
            Some("KAFKA") => {
                return Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    "KEY_FORMAT = 'KAFKA' needs a key of one column",
                )
                .with_hint("Name it with KEY = (column), or use KEY_FORMAT = 'JSON'."))
            }
            Some(other) => return Err(invalid_value("KEY_FORMAT", other, "JSON or KAFKA")),
        };
        let partitions = match partitions {
            None => 1,
            Some(p) => match p.trim().parse::<i32>() {
                Ok(n) if (1..=10_000).contains(&n) => n,
                _ => {
                    return Err(invalid_value(
                        "TOPIC_PARTITIONS",
                        p,
                        "a number from 1 to 10000",
                    ))
                }
            },
        };
        Ok(SinkSpec {
            brokers,
            topic,
            desc,
            envelope,
            key: key_columns,
            key_format,
            partitions,
        })
    }
}

/// One message to write: `value` `None` is a tombstone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkMessage {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// A change of one row as the envelope sees it: its key, its JSON object, and the
/// change of its multiplicity.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Change {
    key: Vec<u8>,
    value: String,
    diff: Diff,
}

/// Rows and keys as JSON, and changes as messages (see the module docs).
#[derive(Clone, Debug)]
pub struct Encoder {
    desc: RelationDesc,
    envelope: SinkEnvelope,
    key: Vec<usize>,
    key_format: SinkKeyFormat,
}

impl Encoder {
    pub fn new(spec: &SinkSpec) -> Encoder {
        Encoder {
            desc: spec.desc.clone(),
            envelope: spec.envelope,
            key: spec.key.clone(),
            key_format: spec.key_format,
        }
    }

    /// The row as a JSON object of its columns, in column order.
    pub fn row_json(&self, datums: &[Datum]) -> String {
        let mut out = String::from("{");
        for (i, (name, datum)) in self.desc.names.iter().zip(datums).enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write_json_string(&mut out, name);
            out.push(':');
            write_datum(&mut out, datum, &self.desc.types[i].scalar_type);
        }
        out.push('}');
        out
    }

    /// The message key of a row.
    pub fn key_bytes(&self, datums: &[Datum]) -> Vec<u8> {
        match self.key_format {
            SinkKeyFormat::Kafka => {
                let i = self.key[0];
                match &datums[i] {
                    Datum::Null => Vec::new(),
                    d => format_datum(d, &self.desc.types[i].scalar_type).into_bytes(),
                }
            }
            SinkKeyFormat::Json => {
                let mut out = String::from("{");
                for (n, &i) in self.key.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    let _ = write_json_string(&mut out, &self.desc.names[i]);
                    out.push(':');
                    write_datum(&mut out, &datums[i], &self.desc.types[i].scalar_type);
                }
                out.push('}');
                out.into_bytes()
            }
        }
    }

    fn changes(&self, updates: &[(Row, Diff)]) -> Vec<Change> {
        updates
            .iter()
            .map(|(row, diff)| {
                let datums = row.unpack();
                Change {
                    key: self.key_bytes(&datums),
                    value: self.row_json(&datums),
                    diff: *diff,
                }
            })
            .collect()
    }

    /// The messages of one time's consolidated updates, in key order.
    pub fn encode(&self, updates: &[(Row, Diff)]) -> Vec<SinkMessage> {
        self.messages(self.changes(updates))
    }

    /// Changes grouped by key, as the envelope writes them.
    fn messages(&self, changes: Vec<Change>) -> Vec<SinkMessage> {
        let mut by_key: BTreeMap<Vec<u8>, (Vec<String>, Vec<String>)> = BTreeMap::new();
        for Change { key, value, diff } in changes {
            let (before, after) = by_key.entry(key).or_default();
            let copies = usize::try_from(diff.unsigned_abs()).unwrap_or(usize::MAX);
            let side = if diff < 0 { before } else { after };
            match self.envelope {
                // Only the last row of a key matters.
                SinkEnvelope::Upsert => side.push(value),
                SinkEnvelope::Debezium => side.extend(std::iter::repeat_n(value, copies)),
            }
        }
        let mut messages = Vec::new();
        for (key, (before, after)) in by_key {
            match self.envelope {
                SinkEnvelope::Upsert => messages.push(SinkMessage {
                    key,
                    value: after.into_iter().last().map(String::into_bytes),
                }),
                SinkEnvelope::Debezium => {
                    let pairs = before.len().max(after.len());
                    let mut before = before.into_iter();
                    let mut after = after.into_iter();
                    for _ in 0..pairs {
                        let (b, a) = (before.next(), after.next());
                        // Debezium's operation: create, update or delete.
                        let op = match (&b, &a) {
                            (None, _) => "c",
                            (Some(_), Some(_)) => "u",
                            (Some(_), None) => "d",
                        };
                        let value = format!(
                            "{{\"before\":{},\"after\":{},\"op\":\"{op}\"}}",
                            b.as_deref().unwrap_or("null"),
                            a.as_deref().unwrap_or("null")
                        );
                        messages.push(SinkMessage {
                            key: key.clone(),
                            value: Some(value.into_bytes()),
                        });
                    }
                }
            }
        }
        messages
    }
}

/// Writes a datum as JSON: numbers as numbers (exact numeric digits), booleans, jsonb
/// as is, arrays element by element, everything else as its Postgres text.
fn write_datum(out: &mut String, datum: &Datum, typ: &ScalarType) {
    match datum {
        Datum::Null => out.push_str("null"),
        Datum::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) | Datum::Oid(_) => {
            out.push_str(&format_datum(datum, typ))
        }
        Datum::Float32(_) | Datum::Float64(_) | Datum::Numeric(_) => {
            let text = format_datum(datum, typ);
            // NaN and the infinities have no JSON number.
            if text
                .bytes()
                .all(|b| b.is_ascii_digit() || b"-.e+".contains(&b))
            {
                out.push_str(&text);
            } else {
                let _ = write_json_string(out, &text);
            }
        }
        Datum::Jsonb(text) => out.push_str(text),
        Datum::Array(elements) => {
            let element_type = typ.array_element().unwrap_or(ScalarType::Text);
            out.push('[');
            for (i, e) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_datum(out, e, &element_type);
            }
            out.push(']');
        }
        other => {
            let _ = write_json_string(out, &format_datum(other, typ));
        }
    }
}

/// The state the committed messages of a sink's topic fold to: per key and row (as
/// canonical JSON), its multiplicity, and the row's JSON as written.
#[derive(Debug, Default)]
pub struct FoldedTopic {
    rows: BTreeMap<(Vec<u8>, String), (String, Diff)>,
    /// The latest `eddy_time` header seen: the last committed time.
    pub last_time: Option<Timestamp>,
    /// Messages read.
    pub messages: u64,
}

/// A row's JSON in one canonical form (`jsonb`'s), so that equal rows compare equal
/// however their text was laid out.
fn canonical(value: &JsonbValue) -> String {
    value.to_string()
}

impl FoldedTopic {
    fn add(&mut self, key: &[u8], value: &JsonbValue, diff: Diff) {
        if !matches!(value, JsonbValue::Object(_)) {
            return;
        }
        let text = canonical(value);
        let entry = self
            .rows
            .entry((key.to_vec(), text.clone()))
            .or_insert((text, 0));
        entry.1 += diff;
        if entry.1 == 0 {
            self.rows.remove(&(key.to_vec(), canonical(value)));
        }
    }

    /// Applies one committed message of the topic (in offset order per partition).
    pub fn apply(&mut self, envelope: SinkEnvelope, key: &[u8], value: Option<&[u8]>) {
        self.messages += 1;
        match envelope {
            SinkEnvelope::Upsert => {
                // The key's previous row goes, its new one (if any) comes.
                let old: Vec<(Vec<u8>, String)> = self
                    .rows
                    .range((key.to_vec(), String::new())..)
                    .take_while(|((k, _), _)| k == key)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in old {
                    self.rows.remove(&k);
                }
                let parsed = value
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|v| JsonbValue::parse(v).ok());
                if let Some(row) = parsed {
                    self.add(key, &row, 1);
                }
            }
            SinkEnvelope::Debezium => {
                let Some(event) = value
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|v| JsonbValue::parse(v).ok())
                else {
                    return;
                };
                if let Some(before) = event.get_key("before") {
                    self.add(key, before, -1);
                }
                if let Some(after) = event.get_key("after") {
                    self.add(key, after, 1);
                }
            }
        }
    }

    /// The messages that bring the folded topic to `snapshot` (the relation's
    /// contents): every row whose multiplicity differs, as one change at one time.
    pub fn difference(&self, encoder: &Encoder, snapshot: &[(Row, Diff)]) -> Vec<SinkMessage> {
        let mut wanted: BTreeMap<(Vec<u8>, String), (String, Diff)> = BTreeMap::new();
        for change in encoder.changes(snapshot) {
            let text = JsonbValue::parse(&change.value)
                .map(|v| canonical(&v))
                .unwrap_or_else(|_| change.value.clone());
            let multiplicity = match encoder.envelope {
                SinkEnvelope::Upsert => 1,
                SinkEnvelope::Debezium => change.diff,
            };
            wanted
                .entry((change.key, text))
                .or_insert((change.value, 0))
                .1 += multiplicity;
        }
        let mut changes = Vec::new();
        for (k, (value, n)) in &wanted {
            let had = self.rows.get(k).map_or(0, |(_, d)| *d);
            if *n != had {
                changes.push(Change {
                    key: k.0.clone(),
                    value: value.clone(),
                    diff: n - had,
                });
            }
        }
        for (k, (value, had)) in &self.rows {
            if !wanted.contains_key(k) {
                changes.push(Change {
                    key: k.0.clone(),
                    value: value.clone(),
                    diff: -had,
                });
            }
        }
        encoder.messages(changes)
    }
}

/// One complete time's consolidated changes, as the sink receives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkBatch {
    pub time: Timestamp,
    pub updates: Vec<(Row, Diff)>,
}

/// How a sink runs.
#[derive(Clone, Debug)]
pub struct SinkConfig {
    /// For the thread's and the client's names.
    pub name: String,
    /// `transactional.id`: fixed per sink, so a new producer fences its predecessors.
    pub transactional_id: String,
    /// The time of the subscription's first batch, which holds the relation's
    /// contents (the snapshot) and may be empty: the first batch sent must be at it.
    pub as_of: Timestamp,
    /// Batches waiting for the producer before [`KafkaSink::send`] waits.
    pub channel_batches_max: usize,
    /// Updates written in one transaction at most (whole times: a larger time is one
    /// transaction of its own).
    pub transaction_updates_max: usize,
    /// How long starting, reading the topic back, or committing may take.
    pub timeout: Duration,
}

impl SinkConfig {
    pub fn new(name: impl Into<String>, transactional_id: impl Into<String>, as_of: u64) -> Self {
        SinkConfig {
            name: name.into(),
            transactional_id: transactional_id.into(),
            as_of,
            channel_batches_max: 64,
            transaction_updates_max: 100_000,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Where a sink stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkState {
    /// Fencing older producers and reading the topic back.
    Starting,
    Running,
    /// Stopped with this error; its owner may start it again.
    Failed {
        error: String,
    },
}

impl std::fmt::Display for SinkState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkState::Starting => f.write_str("starting"),
            SinkState::Running => f.write_str("running"),
            SinkState::Failed { error } => write!(f, "failed: {error}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkStatus {
    pub state: SinkState,
    /// The last time committed to the topic (read back at start, then written).
    pub last_time: Option<Timestamp>,
    /// Messages committed by this sink since it started.
    pub messages_total: u64,
}

/// A sink's status, readable from anywhere.
#[derive(Clone, Debug)]
pub struct SinkStatusHandle(Arc<Mutex<SinkStatus>>);

impl SinkStatusHandle {
    pub fn get(&self) -> SinkStatus {
        lock(&self.0).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running sink: batches go in with [`KafkaSink::send`]; dropping it stops the
/// producer thread (aborting an open transaction, which a successor would anyway).
pub struct KafkaSink {
    batches: Option<mpsc::Sender<SinkBatch>>,
    status: Arc<Mutex<SinkStatus>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl KafkaSink {
    /// Starts the producer thread. Returns at once; fencing, creating the topic if
    /// needed and reading it back happen on the thread (see [`KafkaSink::status`]).
    pub fn start(spec: SinkSpec, config: SinkConfig) -> Result<KafkaSink, SqlError> {
        let (sender, batches) = mpsc::channel(config.channel_batches_max.max(1));
        let status = Arc::new(Mutex::new(SinkStatus {
            state: SinkState::Starting,
            last_time: None,
            messages_total: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            encoder: Encoder::new(&spec),
            spec,
            config: config.clone(),
            batches,
            status: Arc::clone(&status),
            stop: Arc::clone(&stop),
        };
        let thread = std::thread::Builder::new()
            .name(format!("sink:{}", config.name))
            .spawn(move || writer.run())
            .map_err(|e| SqlError::internal(format!("cannot spawn a kafka sink thread: {e}")))?;
        Ok(KafkaSink {
            batches: Some(sender),
            status,
            stop,
            thread: Some(thread),
        })
    }

    /// Hands a complete time's changes to the producer, waiting while
    /// [`SinkConfig::channel_batches_max`] batches are waiting. `Err` once the sink
    /// has stopped (see [`KafkaSink::status`]).
    pub async fn send(&self, batch: SinkBatch) -> Result<(), SinkState> {
        let sent = match &self.batches {
            Some(tx) => tx.send(batch).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(lock(&self.status).state.clone())
        }
    }

    /// Resolves once the producer thread has stopped (its state says why).
    pub async fn stopped(&self) {
        if let Some(tx) = &self.batches {
            tx.closed().await;
        }
    }

    pub fn status(&self) -> SinkStatus {
        lock(&self.status).clone()
    }

    pub fn status_handle(&self) -> SinkStatusHandle {
        SinkStatusHandle(Arc::clone(&self.status))
    }
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.batches = None;
        // The thread notices within a poll interval; it is not joined here, so the
        // dropping task never waits on Kafka.
        drop(self.thread.take());
    }
}

/// The producer thread.
struct Writer {
    spec: SinkSpec,
    config: SinkConfig,
    encoder: Encoder,
    batches: mpsc::Receiver<SinkBatch>,
    status: Arc<Mutex<SinkStatus>>,
    stop: Arc<AtomicBool>,
}

/// How long the producer thread waits for its next batch before checking `stop`.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

impl Writer {
    fn run(mut self) {
        let result = self.run_inner();
        if let Err(error) = result {
            if !self.stop.load(Ordering::Relaxed) {
                tracing::warn!(sink = %self.config.name, %error, "sink stopped");
            }
            lock(&self.status).state = SinkState::Failed { error };
        }
        self.batches.close();
    }

    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.spec.brokers)
            .set("client.id", format!("eddy-sink-{}", self.config.name));
        config
    }

    fn run_inner(&mut self) -> Result<(), String> {
        let timeout = self.config.timeout;
        self.ensure_topic()?;
        let producer: BaseProducer = self
            .client_config()
            .set("transactional.id", &self.config.transactional_id)
            .set("enable.idempotence", "true")
            .set("transaction.timeout.ms", "60000")
            .set("message.max.bytes", "10000000")
            .create()
            .map_err(|e| format!("cannot create a kafka producer: {e}"))?;
        producer
            .init_transactions(timeout)
            .map_err(|e| format!("init_transactions: {e}"))?;
        let folded = self.read_back()?;
        {
            let mut status = lock(&self.status);
            status.last_time = folded.last_time;
            status.state = SinkState::Running;
        }
        tracing::info!(
            sink = %self.config.name,
            messages_read = folded.messages,
            last_time = ?folded.last_time,
            "sink read its topic back"
        );
        let mut folded = Some(folded);
        let mut pending: Option<SinkBatch> = None;
        loop {
            let first = match pending.take() {
                Some(batch) => batch,
                None => match self.next_batch() {
                    Some(batch) => batch,
                    None => return Ok(()),
                },
            };
            // Whole times, up to the transaction's bound.
            let mut times = vec![first];
            let mut updates: usize = times[0].updates.len();
            while updates < self.config.transaction_updates_max {
                match self.batches.try_recv() {
                    Ok(batch) => {
                        updates += batch.updates.len();
                        times.push(batch);
                    }
                    Err(_) => break,
                }
            }
            if updates > self.config.transaction_updates_max && times.len() > 1 {
                pending = times.pop();
            }
            let mut messages: Vec<(Timestamp, SinkMessage)> = Vec::new();
            for batch in &times {
                let encoded = match folded.take() {
                    // The first batch: the relation's contents at `as_of`, written as
                    // their difference from what the topic already holds.
                    Some(topic) => {
                        if batch.time != self.config.as_of {
                            return Err(format!(
                                "the first batch is at {}, not at the snapshot time {}",
                                batch.time, self.config.as_of
                            ));
                        }
                        topic.difference(&self.encoder, &batch.updates)
                    }
                    None => self.encoder.encode(&batch.updates),
                };
                messages.extend(encoded.into_iter().map(|m| (batch.time, m)));
            }
            let last_time = times.last().map(|b| b.time);
            if !messages.is_empty() {
                self.write_transaction(&producer, &messages)?;
            }
            let mut status = lock(&self.status);
            status.messages_total += messages.len() as u64;
            if !messages.is_empty() {
                status.last_time = last_time.max(status.last_time);
            }
        }
    }

    /// The next batch, or `None` once the sink is dropped.
    fn next_batch(&mut self) -> Option<SinkBatch> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            match self.batches.try_recv() {
                Ok(batch) => return Some(batch),
                Err(mpsc::error::TryRecvError::Disconnected) => return None,
                Err(mpsc::error::TryRecvError::Empty) => std::thread::sleep(POLL_INTERVAL / 10),
            }
        }
    }

    /// One transaction holding `messages`; aborted on any failure.
    fn write_transaction(
        &self,
        producer: &BaseProducer,
        messages: &[(Timestamp, SinkMessage)],
    ) -> Result<(), String> {
        producer
            .begin_transaction()
            .map_err(|e| format!("begin_transaction: {e}"))?;
        let written = self.produce_all(producer, messages).and_then(|()| {
            producer
                .commit_transaction(self.config.timeout)
                .map_err(|e| format!("commit_transaction: {e}"))
        });
        if let Err(error) = written {
            let _ = producer.abort_transaction(self.config.timeout);
            return Err(error);
        }
        Ok(())
    }

    fn produce_all(
        &self,
        producer: &BaseProducer,
        messages: &[(Timestamp, SinkMessage)],
    ) -> Result<(), String> {
        for (time, message) in messages {
            let time_text = time.to_string();
            loop {
                if self.stop.load(Ordering::Relaxed) {
                    return Err("the sink was stopped".into());
                }
                let headers = OwnedHeaders::new().insert(Header {
                    key: TIME_HEADER,
                    value: Some(time_text.as_bytes()),
                });
                let mut record = BaseRecord::<[u8], [u8]>::to(&self.spec.topic)
                    .key(&message.key[..])
                    .headers(headers);
                if let Some(value) = &message.value {
                    record = record.payload(&value[..]);
                }
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        producer.poll(POLL_INTERVAL);
                    }
                    Err((e, _)) => return Err(format!("producing to {}: {e}", self.spec.topic)),
                }
            }
            producer.poll(Duration::ZERO);
        }
        Ok(())
    }

    /// Creates the topic if it does not exist (compacted for UPSERT).
    fn ensure_topic(&self) -> Result<(), String> {
        let consumer: BaseConsumer = self
            .client_config()
            .create()
            .map_err(|e| format!("cannot create a kafka client: {e}"))?;
        let metadata = consumer
            .fetch_metadata(Some(&self.spec.topic), self.config.timeout)
            .map_err(|e| format!("fetching metadata of {}: {e}", self.spec.topic))?;
        let exists = metadata
            .topics()
            .iter()
            .any(|t| t.name() == self.spec.topic && t.error().is_none());
        if exists {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = self
            .client_config()
            .create()
            .map_err(|e| format!("cannot create a kafka admin client: {e}"))?;
        let mut topic = NewTopic::new(
            &self.spec.topic,
            self.spec.partitions,
            TopicReplication::Fixed(-1),
        );
        if self.spec.envelope == SinkEnvelope::Upsert {
            topic = topic.set("cleanup.policy", "compact");
        }
        let options = AdminOptions::new().operation_timeout(Some(self.config.timeout));
        let results = futures::executor::block_on(admin.create_topics([&topic], &options))
            .map_err(|e| format!("creating topic {}: {e}", self.spec.topic))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => return Err(format!("creating topic {name}: {code}")),
            }
        }
        Ok(())
    }

    /// Every committed message of the topic, folded.
    fn read_back(&self) -> Result<FoldedTopic, String> {
        let topic = &self.spec.topic;
        let consumer: BaseConsumer = self
            .client_config()
            .set("group.id", format!("eddy-sink-{}", self.config.name))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", "read_committed")
            .create()
            .map_err(|e| format!("cannot create a kafka consumer: {e}"))?;
        let deadline = Instant::now() + self.config.timeout;
        // The topic may have been created a moment ago: wait for its partitions.
        let partitions: Vec<i32> = loop {
            let metadata = consumer
                .fetch_metadata(Some(topic), self.config.timeout)
                .map_err(|e| format!("fetching metadata of {topic}: {e}"))?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic && t.error().is_none())
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            if !partitions.is_empty() {
                break partitions;
            }
            if Instant::now() > deadline {
                return Err(format!("topic {topic} has no partitions"));
            }
            std::thread::sleep(POLL_INTERVAL);
        };
        let mut assignment = TopicPartitionList::new();
        let mut pending = BTreeMap::new();
        for partition in partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, self.config.timeout)
                .map_err(|e| format!("fetching watermarks of {topic}/{partition}: {e}"))?;
            if high > low {
                assignment
                    .add_partition_offset(topic, partition, Offset::Beginning)
                    .map_err(|e| e.to_string())?;
                pending.insert(partition, high);
            }
        }
        let mut folded = FoldedTopic::default();
        if pending.is_empty() {
            return Ok(folded);
        }
        consumer.assign(&assignment).map_err(|e| e.to_string())?;
        // Reading is bounded by the topic's size, not by the timeout: the deadline
        // moves on with every message.
        let mut deadline = Instant::now() + self.config.timeout;
        while !pending.is_empty() {
            if self.stop.load(Ordering::Relaxed) {
                return Err("the sink was stopped".into());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "reading {topic} back timed out with partitions {pending:?} unfinished"
                ));
            }
            match consumer.poll(POLL_INTERVAL) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    pending.remove(&partition);
                }
                Some(Err(e)) => return Err(format!("reading {topic} back: {e}")),
                Some(Ok(message)) => {
                    deadline = Instant::now() + self.config.timeout;
                    let time = message.headers().and_then(|headers| {
                        headers
                            .iter()
                            .find(|h| h.key == TIME_HEADER)
                            .and_then(|h| h.value)
                            .and_then(|v| std::str::from_utf8(v).ok())
                            .and_then(|v| v.parse::<Timestamp>().ok())
                    });
                    folded.last_time = folded.last_time.max(time);
                    folded.apply(
                        self.spec.envelope,
                        message.key().unwrap_or_default(),
                        message.payload(),
                    );
                    let partition = message.partition();
                    if pending
                        .get(&partition)
                        .is_some_and(|&end| message.offset() + 1 >= end)
                    {
                        pending.remove(&partition);
                    }
                }
            }
        }
        Ok(folded)
    }
}

#[cfg(test)]
mod tests {
    use eddy_repr::ScalarType;

    use super::*;

    fn desc() -> RelationDesc {
        RelationDesc::empty()
            .with_column("id", ScalarType::Int32.nullable(false))
            .with_column("name", ScalarType::Text.nullable(true))
            .with_column(
                "amount",
                ScalarType::Numeric {
                    precision: None,
                    scale: None,
                }
                .nullable(true),
            )
    }

    fn spec(envelope: &str, key: Option<&[&str]>) -> SinkSpec {
        let key: Option<Vec<String>> = key.map(|k| k.iter().map(|s| s.to_string()).collect());
        SinkSpec::from_options(
            desc(),
            &[
                ("KAFKA_TOPIC".into(), "out".into()),
                ("ENVELOPE".into(), envelope.into()),
            ],
            key.as_deref(),
            Some("localhost:9092"),
        )
        .unwrap()
    }

    fn row(id: i32, name: &str, amount: &str) -> Row {
        Row::pack(&[
            Datum::Int32(id),
            Datum::String(name.into()),
            Datum::Numeric(amount.parse().unwrap()),
        ])
    }

    fn text(messages: &[SinkMessage]) -> Vec<(String, Option<String>)> {
        messages
            .iter()
            .map(|m| {
                (
                    String::from_utf8(m.key.clone()).unwrap(),
                    m.value.clone().map(|v| String::from_utf8(v).unwrap()),
                )
            })
            .collect()
    }

    #[test]
    fn options_are_checked() {
        let s = spec("upsert", Some(&["id"]));
        assert_eq!(s.key, vec![0]);
        assert_eq!(s.envelope, SinkEnvelope::Upsert);
        assert_eq!(spec("DEBEZIUM", None).key, vec![0, 1, 2]);
        let err = |options: &[(&str, &str)], key: Option<&[String]>| {
            let options: Vec<(String, String)> = options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            SinkSpec::from_options(desc(), &options, key, Some("b:1"))
                .unwrap_err()
                .sqlstate
        };
        assert_eq!(err(&[("ENVELOPE", "UPSERT")], None), "42601");
        assert_eq!(err(&[("KAFKA_TOPIC", "t")], None), "42601");
        assert_eq!(
            err(&[("KAFKA_TOPIC", "t"), ("ENVELOPE", "append")], None),
            "22023"
        );
        assert_eq!(
            err(
                &[
                    ("KAFKA_TOPIC", "t"),
                    ("ENVELOPE", "upsert"),
                    ("VALUE_FORMAT", "AVRO")
                ],
                None
            ),
            "0A000"
        );
        assert_eq!(
            err(
                &[("KAFKA_TOPIC", "t"), ("ENVELOPE", "upsert")],
                Some(&["nope".to_string()])
            ),
            "42703"
        );
        assert_eq!(
            err(
                &[
                    ("KAFKA_TOPIC", "t"),
                    ("ENVELOPE", "upsert"),
                    ("KEY_FORMAT", "KAFKA")
                ],
                None
            ),
            "22023"
        );
        assert_eq!(
            err(
                &[("KAFKA_TOPIC", "t"), ("ENVELOPE", "upsert"), ("x", "1")],
                None
            ),
            "42601"
        );
    }

    #[test]
    fn upsert_writes_the_last_row_per_key_or_a_tombstone() {
        let encoder = Encoder::new(&spec("upsert", Some(&["id"])));
        let messages = encoder.encode(&[
            (row(1, "a", "1.50"), -1),
            (row(1, "b", "2"), 1),
            (row(2, "c", "3"), -1),
            (row(3, "d\"q", "-0.1"), 1),
        ]);
        assert_eq!(
            text(&messages),
            vec![
                (
                    r#"{"id":1}"#.into(),
                    Some(r#"{"id":1,"name":"b","amount":2}"#.into())
                ),
                (r#"{"id":2}"#.into(), None),
                (
                    r#"{"id":3}"#.into(),
                    Some(r#"{"id":3,"name":"d\"q","amount":-0.1}"#.into())
                ),
            ]
        );
    }

    #[test]
    fn debezium_pairs_retractions_and_insertions_of_a_key() {
        let encoder = Encoder::new(&spec("debezium", Some(&["id"])));
        let messages = encoder.encode(&[
            (row(1, "a", "1.50"), -1),
            (row(1, "b", "2"), 1),
            (row(2, "c", "3"), 1),
        ]);
        assert_eq!(
            text(&messages),
            vec![
                (
                    r#"{"id":1}"#.into(),
                    Some(
                        r#"{"before":{"id":1,"name":"a","amount":1.50},"after":{"id":1,"name":"b","amount":2},"op":"u"}"#
                            .into()
                    )
                ),
                (
                    r#"{"id":2}"#.into(),
                    Some(r#"{"before":null,"after":{"id":2,"name":"c","amount":3},"op":"c"}"#.into())
                ),
            ]
        );
        // Without KEY, the whole row is the key: an update is two messages, and a row
        // twice is written twice.
        let encoder = Encoder::new(&spec("debezium", None));
        let messages = encoder.encode(&[(row(1, "a", "1"), -1), (row(1, "b", "1"), 2)]);
        assert_eq!(messages.len(), 3);
    }

    /// Folding what was written, then taking the difference from the contents, writes
    /// only what changed; a topic that already holds the contents gets nothing.
    #[test]
    fn restart_writes_the_difference_from_the_folded_topic() {
        for envelope in [SinkEnvelope::Upsert, SinkEnvelope::Debezium] {
            let encoder = Encoder::new(&spec(envelope.name(), Some(&["id"])));
            let mut topic = FoldedTopic::default();
            let write = |topic: &mut FoldedTopic, updates: &[(Row, Diff)]| {
                for m in encoder.encode(updates) {
                    topic.apply(envelope, &m.key, m.value.as_deref());
                }
            };
            write(&mut topic, &[(row(1, "a", "1"), 1), (row(2, "b", "2"), 1)]);
            write(
                &mut topic,
                &[(row(1, "a", "1"), -1), (row(1, "c", "1.0"), 1)],
            );
            let contents = [(row(1, "c", "1.0"), 1), (row(2, "b", "2"), 1)];
            assert_eq!(
                topic.difference(&encoder, &contents),
                vec![],
                "{envelope:?}"
            );
            // Row 2 deleted, row 3 inserted, row 1 updated since.
            let contents = [(row(1, "d", "1.0"), 1), (row(3, "e", "3"), 1)];
            let difference = text(&topic.difference(&encoder, &contents));
            let expected: Vec<(String, Option<String>)> = match envelope {
                SinkEnvelope::Upsert => vec![
                    (
                        r#"{"id":1}"#.into(),
                        Some(r#"{"id":1,"name":"d","amount":1.0}"#.into()),
                    ),
                    (r#"{"id":2}"#.into(), None),
                    (
                        r#"{"id":3}"#.into(),
                        Some(r#"{"id":3,"name":"e","amount":3}"#.into()),
                    ),
                ],
                SinkEnvelope::Debezium => vec![
                    (
                        r#"{"id":1}"#.into(),
                        Some(
                            r#"{"before":{"id": 1, "name": "c", "amount": 1.0},"after":{"id":1,"name":"d","amount":1.0},"op":"u"}"#
                                .into(),
                        ),
                    ),
                    (
                        r#"{"id":2}"#.into(),
                        Some(r#"{"before":{"id": 2, "name": "b", "amount": 2},"after":null,"op":"d"}"#.into()),
                    ),
                    (
                        r#"{"id":3}"#.into(),
                        Some(r#"{"before":null,"after":{"id":3,"name":"e","amount":3},"op":"c"}"#.into()),
                    ),
                ],
            };
            assert_eq!(difference, expected, "{envelope:?}");
        }
    }
}
