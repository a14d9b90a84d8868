//! [`KafkaSourceSpec`]: what a Kafka-backed stream or table reads and how, parsed once
//! from the `WITH (...)` options of its DDL.
//!
//! Options (names case-insensitive, each at most once):
//!
//! | option | values | default |
//! | --- | --- | --- |
//! | `KAFKA_TOPIC` | a topic name | required |
//! | `KAFKA_BROKERS` | `host:port[,host:port...]` | the server's default brokers |
//! | `VALUE_FORMAT` | `JSON`, `DELIMITED` (CSV), `KAFKA` (raw), `DEBEZIUM_JSON` | `JSON` |
//! | `KEY_FORMAT` | `KAFKA` (raw text), `JSON` | `KAFKA` |
//! | `VALUE_DELIMITER` | one character, for `DELIMITED` | `,` |
//! | `START` | `earliest`, `latest`, a timestamp or epoch milliseconds | `earliest` |
//! | `ON_ERROR` | `SKIP`, `FAIL` | `SKIP` |
//! | `TIMESTAMP` | a `timestamp` or `timestamptz` column: the stream's event time | the Kafka record timestamp, when `LATENESS` is given |
//! | `LATENESS` | an interval: how late an event may arrive ([`crate::event_time`]) | `0 seconds`, when `TIMESTAMP` is given |
//! | `RETENTION` | an interval: a stream's events leave once its watermark is that far past them (needs the event time in a column) | none: every event stays |
//!
//! A stream with `TIMESTAMP` or `LATENESS` has an event time and a watermark; late
//! events are not applied ([`crate::event_time`]). One with neither has no event time.
//! Tables have none (`0A000`).
//!
//! The envelope follows from what is declared: a stream is `NONE` (every message is one
//! appended row); a table with `VALUE_FORMAT = 'DEBEZIUM_JSON'` is `DEBEZIUM`; any other
//! table is `UPSERT`. Tables need a primary key: it is what a new value replaces.
//!
//! Columns named `_partition`, `_offset`, `_kafka_timestamp` and `_key` are filled from
//! the message's metadata, never from its value ([`MetadataColumn`]).
//!
//! Errors are Postgres-style [`SqlError`]s: an unknown or repeated option is `42601` (as
//! Postgres' COPY reports them), a bad value `22023`, a combination Eddy does not
//! support (yet) `0A000`, a table without a primary key `42P16`, a `TIMESTAMP` column
//! that is not declared `42703`, or not a timestamp `42804`.

use std::fmt;

use eddy_repr::strconv::parse_timestamptz;
use eddy_repr::{RelationDesc, ScalarType, SqlError, SqlState};

use crate::event_time::{parse_lateness, EventTime, EventTimeColumn, DEFAULT_LATENESS};

/// Whether the relation is a stream (append-only) or a table (keyed by its primary key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKind {
    /// `CREATE STREAM`: every message is one appended row.
    Stream,
    /// `CREATE TABLE ... WITH (KAFKA_TOPIC ...)`: the current row per primary key.
    Table,
}

/// How a message value becomes column values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ValueFormat {
    /// A JSON object; fields matched to columns by name (case-insensitive).
    Json,
    /// One CSV record; fields matched to columns by position.
    Delimited { delimiter: u8 },
    /// The raw value as the one value column (text or bytea).
    Kafka,
    /// A Debezium change event in JSON, with or without the `schema`/`payload` wrapper.
    DebeziumJson,
}

/// How a message key becomes the primary key columns (tables) or `_key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyFormat {
    /// The raw key as text, cast to the one primary key column.
    Kafka,
    /// A JSON object (primary key columns by name) or, for a one-column key, a scalar.
    Json,
}

/// How decoded messages become updates of the collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Envelope {
    /// Each message is `+1` of its row.
    None,
    /// The key's new value retracts its previous row; a null value deletes it.
    Upsert,
    /// Debezium `before`/`after`, kept as an upsert on the primary key so a replayed
    /// event does not count twice.
    Debezium,
}

/// Where a source without recorded progress starts reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StartOffset {
    /// Every partition from its first retained message.
    Earliest,
    /// Only messages produced after the source starts.
    Latest,
    /// The first message at or after this time (milliseconds since the epoch).
    Timestamp { epoch_ms: i64 },
}

/// What a message that does not decode does to the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OnError {
    /// Report it as a [`crate::SourceError`] and go on.
    Skip,
    /// Report it and stop the source with that error.
    Fail,
}

/// A column filled from the message instead of its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetadataColumn {
    /// `_partition`: the partition number.
    Partition,
    /// `_offset`: the message's offset in its partition.
    Offset,
    /// `_kafka_timestamp`: the message timestamp (create or log-append time).
    Timestamp,
    /// `_key`: the raw key, as text (or bytea when declared so).
    Key,
}

impl MetadataColumn {
    /// The metadata column a declared column name stands for, if any.
    pub fn from_name(name: &str) -> Option<MetadataColumn> {
        match name.to_ascii_lowercase().as_str() {
            "_partition" => Some(MetadataColumn::Partition),
            "_offset" => Some(MetadataColumn::Offset),
            "_kafka_timestamp" => Some(MetadataColumn::Timestamp),
            "_key" => Some(MetadataColumn::Key),
            _ => None,
        }
    }

    /// Whether a column of type `typ` can hold this metadata.
    fn accepts(self, typ: &ScalarType) -> bool {
        match self {
            MetadataColumn::Partition | MetadataColumn::Offset => matches!(
                typ,
                ScalarType::Int32 | ScalarType::Int64 | ScalarType::Numeric { .. }
            ),
            MetadataColumn::Timestamp => {
                matches!(typ, ScalarType::Timestamp | ScalarType::TimestampTz)
            }
            MetadataColumn::Key => typ.is_string() || *typ == ScalarType::Bytea,
        }
    }

    fn expected_types(self) -> &'static str {
        match self {
            MetadataColumn::Partition | MetadataColumn::Offset => "integer, bigint or numeric",
            MetadataColumn::Timestamp => "timestamp or timestamptz",
            MetadataColumn::Key => "text or bytea",
        }
    }
}

impl fmt::Display for ValueFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueFormat::Json => "JSON",
            ValueFormat::Delimited { .. } => "DELIMITED",
            ValueFormat::Kafka => "KAFKA",
            ValueFormat::DebeziumJson => "DEBEZIUM_JSON",
        })
    }
}

/// Everything a Kafka source needs, validated against the declared columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaSourceSpec {
    /// `bootstrap.servers`.
    pub brokers: String,
    pub topic: String,
    pub kind: SourceKind,
    /// The declared columns, metadata columns included.
    pub desc: RelationDesc,
    /// Positions in `desc` of the primary key (empty for streams).
    pub primary_key: Vec<usize>,
    pub value_format: ValueFormat,
    pub key_format: KeyFormat,
    pub envelope: Envelope,
    pub start: StartOffset,
    pub on_error: OnError,
    /// The stream's event time and lateness (`TIMESTAMP`, `LATENESS`); `None` for
    /// tables and for streams that declare neither.
    pub event_time: Option<EventTime>,
    /// `RETENTION` of a stream: its rows leave once its watermark is this far (µs)
    /// past their event time.
    pub retention_us: Option<i64>,
}

/// The options [`KafkaSourceSpec::from_options`] knows, in the order of its hint.
const OPTIONS: [&str; 10] = [
    "KAFKA_TOPIC",
    "KAFKA_BROKERS",
    "VALUE_FORMAT",
    "KEY_FORMAT",
    "VALUE_DELIMITER",
    "START",
    "ON_ERROR",
    "TIMESTAMP",
    "LATENESS",
    "RETENTION",
];

impl KafkaSourceSpec {
    /// Parses the `WITH (name = value, ...)` options of `CREATE STREAM` / `CREATE TABLE`
    /// for a relation with columns `desc` and primary key `primary_key` (positions in
    /// `desc`; empty for streams). `default_brokers` is the server's `--kafka-brokers`.
    pub fn from_options(
        kind: SourceKind,
        desc: RelationDesc,
        primary_key: Vec<usize>,
        options: &[(String, String)],
        default_brokers: Option<&str>,
    ) -> Result<KafkaSourceSpec, SqlError> {
        let values = option_values(options, &OPTIONS, "")?;
        let [topic, brokers, value_format, key_format, delimiter, start, on_error, timestamp, lateness, retention] =
            values;

        let (topic, brokers) = topic_and_brokers(topic, brokers, default_brokers)?;
        let delimiter = match delimiter {
            None => b',',
            Some(d) if d.len() == 1 && d.is_ascii() && d != "\"" && d != "\n" => d.as_bytes()[0],
            Some(d) => {
                return Err(invalid_value(
                    "VALUE_DELIMITER",
                    d,
                    "one ASCII character other than a quote or a newline",
                ))
            }
        };
        let value_format = match value_format.map(str::to_ascii_uppercase).as_deref() {
            None | Some("JSON") => ValueFormat::Json,
            Some("DELIMITED") | Some("CSV") => ValueFormat::Delimited { delimiter },
            Some("KAFKA") | Some("RAW") => ValueFormat::Kafka,
            Some("DEBEZIUM_JSON") => ValueFormat::DebeziumJson,
            Some("AVRO") | Some("PROTOBUF") | Some("DEBEZIUM_AVRO") => {
                return Err(SqlError::unsupported(format!(
                    "VALUE_FORMAT = '{}'",
                    value_format.unwrap_or_default()
                )))
            }
            Some(_) => {
                return Err(invalid_value(
                    "VALUE_FORMAT",
                    value_format.unwrap_or_default(),
                    "JSON, DELIMITED, KAFKA or DEBEZIUM_JSON",
                ))
            }
        };
        if delimiter != b',' && !matches!(value_format, ValueFormat::Delimited { .. }) {
            return Err(SqlError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                "VALUE_DELIMITER is only valid with VALUE_FORMAT = 'DELIMITED'",
            ));
        }
        let key_format = match key_format.map(str::to_ascii_uppercase).as_deref() {
            None | Some("KAFKA") | Some("RAW") => KeyFormat::Kafka,
            Some("JSON") => KeyFormat::Json,
            Some(_) => {
                return Err(invalid_value(
                    "KEY_FORMAT",
                    key_format.unwrap_or_default(),
                    "KAFKA or JSON",
                ))
            }
        };
        let start = match start.map(str::trim) {
            None => StartOffset::Earliest,
            Some(s) => parse_start(s)?,
        };
        let on_error = match on_error.map(str::to_ascii_uppercase).as_deref() {
            None | Some("SKIP") => OnError::Skip,
            Some("FAIL") => OnError::Fail,
            Some(_) => {
                return Err(invalid_value(
                    "ON_ERROR",
                    on_error.unwrap_or_default(),
                    "SKIP or FAIL",
                ))
            }
        };
        let envelope = match (kind, value_format) {
            (SourceKind::Stream, ValueFormat::DebeziumJson) => {
                return Err(
                    SqlError::unsupported("a stream with VALUE_FORMAT = 'DEBEZIUM_JSON'")
                        .with_hint(
                            "Declare a table with a primary key to read Debezium change events.",
                        ),
                )
            }
            (SourceKind::Stream, _) => Envelope::None,
            (SourceKind::Table, ValueFormat::DebeziumJson) => Envelope::Debezium,
            (SourceKind::Table, _) => Envelope::Upsert,
        };

        let event_time = match kind {
            SourceKind::Stream => event_time(&desc, timestamp, lateness)?,
            SourceKind::Table if timestamp.is_some() || lateness.is_some() => {
                return Err(SqlError::unsupported("event time on a table").with_hint(
                    "TIMESTAMP and LATENESS are options of a STREAM, whose messages are events.",
                ))
            }
            SourceKind::Table => None,
        };

        let retention_us = match retention {
            None => None,
            Some(text) => {
                if kind != SourceKind::Stream {
                    return Err(SqlError::unsupported("RETENTION on a table").with_hint(
                        "A table keeps its current rows; RETENTION is how long a STREAM keeps its events.",
                    ));
                }
                if event_time_index(&desc, event_time.as_ref()).is_none() {
                    return Err(SqlError::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        "RETENTION needs the stream's event time in a column",
                    )
                    .with_hint("Give the stream WITH (TIMESTAMP = 'column'), or LATENESS and a _kafka_timestamp column: events leave when its watermark is RETENTION past them."));
                }
                Some(parse_interval_option("RETENTION", text)?)
            }
        };
        let spec = KafkaSourceSpec {
            brokers,
            topic,
            kind,
            desc,
            primary_key,
            value_format,
            key_format,
            envelope,
            start,
            on_error,
            event_time,
            retention_us,
        };
        spec.validate_columns()?;
        Ok(spec)
    }

    /// The declared columns that are filled from the value, in declaration order.
    pub fn value_columns(&self) -> Vec<usize> {
        (0..self.desc.arity())
            .filter(|&i| MetadataColumn::from_name(&self.desc.names[i]).is_none())
            .collect()
    }

    /// Checks the columns against the format and envelope.
    fn validate_columns(&self) -> Result<(), SqlError> {
        for (name, typ) in self.desc.iter() {
            if let Some(meta) = MetadataColumn::from_name(name) {
                if !meta.accepts(&typ.scalar_type) {
                    return Err(SqlError::datatype_mismatch(format!(
                        "column \"{name}\" is of type {} but kafka metadata column {name} needs {}",
                        typ.scalar_type.sql_name(),
                        meta.expected_types()
                    )));
                }
            }
        }
        let value_columns = self.value_columns();
        if self.value_format == ValueFormat::Kafka {
            let ok = value_columns.len() == 1 && {
                let typ = self.desc.types[value_columns[0]].scalar_type;
                typ.is_string() || typ == ScalarType::Bytea
            };
            if !ok {
                return Err(SqlError::new(
                    SqlState::INVALID_TABLE_DEFINITION,
                    "VALUE_FORMAT = 'KAFKA' needs exactly one text or bytea column besides the metadata columns",
                ));
            }
        }
        if self.kind == SourceKind::Table {
            if self.primary_key.is_empty() {
                return Err(SqlError::new(
                    SqlState::INVALID_TABLE_DEFINITION,
                    "a table read from a kafka topic needs a primary key",
                )
                .with_hint("Declare the key columns with PRIMARY KEY, or create a STREAM."));
            }
            for &i in &self.primary_key {
                let name = self.desc.names.get(i).ok_or_else(|| {
                    SqlError::internal(format!("primary key column {i} out of range"))
                })?;
                if MetadataColumn::from_name(name).is_some() {
                    return Err(SqlError::unsupported(format!(
                        "kafka metadata column \"{name}\" in a primary key"
                    )));
                }
            }
            if self.envelope == Envelope::Upsert
                && self.key_format == KeyFormat::Kafka
                && self.primary_key.len() != 1
            {
                return Err(SqlError::new(
                    SqlState::INVALID_TABLE_DEFINITION,
                    "KEY_FORMAT = 'KAFKA' needs a one-column primary key",
                )
                .with_hint("Use KEY_FORMAT = 'JSON' for a key of several columns."));
            }
        }
        Ok(())
    }
}

/// The column of a stream's rows that holds its event time (the column views can
/// bound windows by, see `eddy_expr::watermark`): the `TIMESTAMP` column, or, with
/// only `LATENESS`, a declared `_kafka_timestamp` column; and its `RETENTION` (µs), if
/// any. `None` when the stream has no event time, when its rows do not hold it, or when
/// its options do not parse. One reading of the options for both.
pub fn stream_event_time(
    desc: &RelationDesc,
    options: &[(String, String)],
) -> Option<(usize, Option<i64>)> {
    let values = option_values(options, &OPTIONS, "").ok()?;
    let [.., timestamp, lateness, retention] = values;
    let column = event_time_index(desc, event_time(desc, timestamp, lateness).ok()?.as_ref())?;
    let retention = retention.and_then(|text| parse_interval_option("RETENTION", text).ok());
    Some((column, retention))
}

/// A stream's `RETENTION` (µs) and the column of the event time it is counted from.
pub fn stream_retention(desc: &RelationDesc, options: &[(String, String)]) -> Option<(usize, i64)> {
    let (column, retention) = stream_event_time(desc, options)?;
    Some((column, retention?))
}

/// The column holding `event_time` (see [`stream_event_time`]).
fn event_time_index(desc: &RelationDesc, event_time: Option<&EventTime>) -> Option<usize> {
    match event_time?.column {
        EventTimeColumn::Column(index) => Some(index),
        EventTimeColumn::RecordTimestamp => {
            desc.names.iter().zip(&desc.types).position(|(n, t)| {
                MetadataColumn::from_name(n) == Some(MetadataColumn::Timestamp)
                    && matches!(
                        t.scalar_type,
                        ScalarType::Timestamp | ScalarType::TimestampTz
                    )
            })
        }
    }
}

/// An option holding an interval of days, hours, minutes and seconds, not negative
/// (`22023` otherwise).
fn parse_interval_option(name: &str, text: &str) -> Result<i64, SqlError> {
    crate::event_time::parse_lateness(text).map_err(|_| {
        invalid_value(
            name,
            text,
            "an interval such as '1 hour' or '7 days' (no months)",
        )
    })
}

fn event_time(
    desc: &RelationDesc,
    timestamp: Option<&str>,
    lateness: Option<&str>,
) -> Result<Option<EventTime>, SqlError> {
    if timestamp.is_none() && lateness.is_none() {
        return Ok(None);
    }
    let (column, column_name) = match timestamp.map(str::trim) {
        None => (
            EventTimeColumn::RecordTimestamp,
            "kafka timestamp".to_string(),
        ),
        Some(name) => {
            let index = desc
                .names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    SqlError::undefined_column(name)
                        .with_hint("TIMESTAMP names the column that holds the event time.")
                })?;
            let typ = desc.types[index].scalar_type;
            if !matches!(typ, ScalarType::Timestamp | ScalarType::TimestampTz) {
                return Err(SqlError::datatype_mismatch(format!(
                    "TIMESTAMP column \"{}\" is of type {}, not timestamp or timestamptz",
                    desc.names[index],
                    typ.sql_name()
                )));
            }
            (EventTimeColumn::Column(index), desc.names[index].clone())
        }
    };
    let lateness_text = lateness.unwrap_or(DEFAULT_LATENESS).trim().to_string();
    let lateness_us = parse_lateness(lateness.unwrap_or(DEFAULT_LATENESS))?;
    Ok(Some(EventTime {
        column,
        column_name,
        lateness_us,
        lateness_text,
    }))
}

/// The `KAFKA_TOPIC` (required) and the brokers (`KAFKA_BROKERS`, else the server's
/// `default_brokers`) of a source or sink.
pub(crate) fn topic_and_brokers(
    topic: Option<&str>,
    brokers: Option<&str>,
    default_brokers: Option<&str>,
) -> Result<(String, String), SqlError> {
    let topic = match topic.map(str::trim) {
        Some(t) if !t.is_empty() => t.to_string(),
        Some(_) => return Err(invalid_value("KAFKA_TOPIC", "", "a topic name")),
        None => return Err(SqlError::syntax("option \"KAFKA_TOPIC\" is required")),
    };
    let brokers = match brokers.or(default_brokers).map(str::trim) {
        Some(b) if !b.is_empty() => b.to_string(),
        _ => {
            return Err(
                SqlError::new(SqlState::INVALID_PARAMETER_VALUE, "no kafka brokers given")
                    .with_hint(
                        "Set KAFKA_BROKERS = 'host:port' or start the server with --kafka-brokers.",
                    ),
            )
        }
    };
    Ok((topic, brokers))
}

/// `22023` for a bad option value, with what was expected.
pub(crate) fn invalid_value(option: &str, value: &str, expected: &str) -> SqlError {
    SqlError::new(
        SqlState::INVALID_PARAMETER_VALUE,
        format!("invalid value for option \"{option}\": \"{value}\""),
    )
    .with_hint(format!("Expected {expected}."))
}

/// `earliest`, `latest`, epoch milliseconds, or a timestamp (UTC unless it has an offset).
fn parse_start(s: &str) -> Result<StartOffset, SqlError> {
    match s.to_ascii_lowercase().as_str() {
        "earliest" => return Ok(StartOffset::Earliest),
        "latest" => return Ok(StartOffset::Latest),
        _ => {}
    }
    if let Ok(epoch_ms) = s.parse::<i64>() {
        if epoch_ms >= 0 {
            return Ok(StartOffset::Timestamp { epoch_ms });
        }
    }
    match parse_timestamptz(s) {
        Ok(ts) => Ok(StartOffset::Timestamp {
            epoch_ms: ts.timestamp_millis(),
        }),
        Err(_) => Err(invalid_value(
            "START",
            s,
            "'earliest', 'latest', a timestamp or milliseconds since the epoch",
        )),
    }
}

/// The values of `options` (names as written, case-insensitive) by their position in
/// `names`: `42601` for an option not in `names` (the hint lists them, and `more`) or
/// one given twice.
pub(crate) fn option_values<'a, const N: usize>(
    options: &'a [(String, String)],
    names: &[&str; N],
    more: &str,
) -> Result<[Option<&'a str>; N], SqlError> {
    let mut values: [Option<&str>; N] = [None; N];
    for (name, value) in options {
        let upper = name.to_ascii_uppercase();
        let Some(index) = names.iter().position(|o| *o == upper) else {
            return Err(
                SqlError::syntax(format!("option \"{name}\" not recognized"))
                    .with_hint(format!("Valid options are {}{more}.", names.join(", "))),
            );
        };
        if values[index].replace(value.as_str()).is_some() {
            return Err(SqlError::syntax("conflicting or redundant options")
                .with_detail(format!("Option \"{upper}\" is given more than once.")));
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(cols: &[(&str, ScalarType)]) -> RelationDesc {
        RelationDesc::new(
            cols.iter().map(|(n, _)| n.to_string()).collect(),
            cols.iter().map(|(_, t)| t.nullable(true)).collect(),
        )
    }

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_derived_envelope() {
        let d = desc(&[("id", ScalarType::Int64), ("name", ScalarType::Text)]);
        let spec = KafkaSourceSpec::from_options(
            SourceKind::Stream,
            d.clone(),
            vec![],
            &opts(&[("kafka_topic", "t")]),
            Some("127.0.0.1:9092"),
        )
        .unwrap();
        assert_eq!(spec.value_format, ValueFormat::Json);
        assert_eq!(spec.envelope, Envelope::None);
        assert_eq!(spec.start, StartOffset::Earliest);
        assert_eq!(spec.on_error, OnError::Skip);
        let table = KafkaSourceSpec::from_options(
            SourceKind::Table,
            d,
            vec![0],
            &opts(&[
                ("KAFKA_TOPIC", "t"),
                ("VALUE_FORMAT", "debezium_json"),
                ("START", "2024-01-01 00:00:01+00"),
                ("KAFKA_BROKERS", "b:1"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(table.envelope, Envelope::Debezium);
        assert_eq!(table.brokers, "b:1");
        assert_eq!(
            table.start,
            StartOffset::Timestamp {
                epoch_ms: 1_704_067_201_000
            }
        );
    }

    #[test]
    fn errors_have_postgres_codes() {
        let d = desc(&[("id", ScalarType::Int64)]);
        let err = |kind, pk: Vec<usize>, o: &[(&str, &str)]| {
            KafkaSourceSpec::from_options(kind, d.clone(), pk, &opts(o), Some("b:1")).unwrap_err()
        };
        let e = err(
            SourceKind::Stream,
            vec![],
            &[("KAFKA_TOPIC", "t"), ("colour", "x")],
        );
        assert_eq!(e.sqlstate, "42601");
        assert_eq!(e.message, "option \"colour\" not recognized");
        let e = err(
            SourceKind::Stream,
            vec![],
            &[("KAFKA_TOPIC", "t"), ("kafka_topic", "u")],
        );
        assert_eq!(e.message, "conflicting or redundant options");
        let e = err(SourceKind::Stream, vec![], &[]);
        assert_eq!(e.message, "option \"KAFKA_TOPIC\" is required");
        let e = err(
            SourceKind::Stream,
            vec![],
            &[("KAFKA_TOPIC", "t"), ("VALUE_FORMAT", "xml")],
        );
        assert_eq!(e.sqlstate, "22023");
        assert_eq!(
            e.message,
            "invalid value for option \"VALUE_FORMAT\": \"xml\""
        );
        let e = err(
            SourceKind::Stream,
            vec![],
            &[("KAFKA_TOPIC", "t"), ("VALUE_FORMAT", "avro")],
        );
        assert_eq!(e.sqlstate, "0A000");
        let e = err(
            SourceKind::Stream,
            vec![],
            &[("KAFKA_TOPIC", "t"), ("START", "soon")],
        );
        assert_eq!(e.sqlstate, "22023");
        let e = err(SourceKind::Table, vec![], &[("KAFKA_TOPIC", "t")]);
        assert_eq!(e.sqlstate, "42P16");
        let e = err(
            SourceKind::Stream,
            vec![],
            &[("KAFKA_TOPIC", "t"), ("VALUE_FORMAT", "DEBEZIUM_JSON")],
        );
        assert_eq!(e.sqlstate, "0A000");
        let e = KafkaSourceSpec::from_options(
            SourceKind::Stream,
            d.clone(),
            vec![],
            &opts(&[("KAFKA_TOPIC", "t")]),
            None,
        )
        .unwrap_err();
        assert_eq!(e.message, "no kafka brokers given");
    }

    #[test]
    fn metadata_columns_are_typed() {
        let d = desc(&[("_offset", ScalarType::Text), ("v", ScalarType::Text)]);
        let e = KafkaSourceSpec::from_options(
            SourceKind::Stream,
            d,
            vec![],
            &opts(&[("KAFKA_TOPIC", "t")]),
            Some("b:1"),
        )
        .unwrap_err();
        assert_eq!(e.sqlstate, "42804");
        let d = desc(&[
            ("_partition", ScalarType::Int32),
            ("line", ScalarType::Text),
            ("_key", ScalarType::Text),
        ]);
        let spec = KafkaSourceSpec::from_options(
            SourceKind::Stream,
            d,
            vec![],
            &opts(&[("KAFKA_TOPIC", "t"), ("VALUE_FORMAT", "KAFKA")]),
            Some("b:1"),
        )
        .unwrap();
        assert_eq!(spec.value_columns(), vec![1]);
    }

    #[test]
    fn event_time_options() {
        let d = desc(&[
            ("user_id", ScalarType::Text),
            ("ts", ScalarType::Timestamp),
            ("n", ScalarType::Int64),
        ]);
        let spec = |kind, o: &[(&str, &str)]| {
            KafkaSourceSpec::from_options(kind, d.clone(), vec![0], &opts(o), Some("b:1"))
        };
        let stream = |o: &[(&str, &str)]| spec(SourceKind::Stream, o);
        // Neither option: no event time.
        assert_eq!(stream(&[("KAFKA_TOPIC", "t")]).unwrap().event_time, None);
        let et = stream(&[
            ("KAFKA_TOPIC", "t"),
            ("timestamp", "TS"),
            ("LATENESS", "30 seconds"),
        ])
        .unwrap()
        .event_time
        .unwrap();
        assert_eq!(et.column, EventTimeColumn::Column(1));
        assert_eq!(et.column_name, "ts");
        assert_eq!(et.lateness_us, 30_000_000);
        assert_eq!(et.lateness_text, "30 seconds");
        // TIMESTAMP alone: no lateness.
        let et = stream(&[("KAFKA_TOPIC", "t"), ("TIMESTAMP", "ts")])
            .unwrap()
            .event_time
            .unwrap();
        assert_eq!(
            (et.lateness_us, et.lateness_text.as_str()),
            (0, "0 seconds")
        );
        // LATENESS alone: the record timestamp.
        let et = stream(&[("KAFKA_TOPIC", "t"), ("LATENESS", "1 minute")])
            .unwrap()
            .event_time
            .unwrap();
        assert_eq!(et.column, EventTimeColumn::RecordTimestamp);
        assert_eq!(et.lateness_us, 60_000_000);

        let e = stream(&[("KAFKA_TOPIC", "t"), ("TIMESTAMP", "at")]).unwrap_err();
        assert_eq!(e.sqlstate, "42703");
        assert_eq!(e.message, "column \"at\" does not exist");
        let e = stream(&[("KAFKA_TOPIC", "t"), ("TIMESTAMP", "n")]).unwrap_err();
        assert_eq!(e.sqlstate, "42804");
        assert_eq!(
            e.message,
            "TIMESTAMP column \"n\" is of type bigint, not timestamp or timestamptz"
        );
        let e = stream(&[("KAFKA_TOPIC", "t"), ("LATENESS", "a while")]).unwrap_err();
        assert_eq!(e.sqlstate, "22023");
        assert_eq!(
            e.message,
            "invalid value for option \"LATENESS\": \"a while\""
        );
        let e = stream(&[("KAFKA_TOPIC", "t"), ("LATENESS", "-1 second")]).unwrap_err();
        assert_eq!(e.sqlstate, "22023");
        let e = spec(
            SourceKind::Table,
            &[("KAFKA_TOPIC", "t"), ("TIMESTAMP", "ts")],
        )
        .unwrap_err();
        assert_eq!(e.sqlstate, "0A000");
        assert_eq!(e.message, "event time on a table is not supported yet");

        // RETENTION: an interval, counted from the event time in a column.
        let with = |extra: &[(&str, &str)]| {
            let mut o = vec![("KAFKA_TOPIC", "t")];
            o.extend_from_slice(extra);
            stream(&o)
        };
        let s = with(&[("TIMESTAMP", "ts"), ("RETENTION", "1 hour")]).unwrap();
        assert_eq!(s.retention_us, Some(3_600_000_000));
        let options = opts(&[("TIMESTAMP", "ts"), ("RETENTION", "1 hour")]);
        assert_eq!(stream_retention(&d, &options), Some((1, 3_600_000_000)));
        let e = with(&[("RETENTION", "1 hour")]).unwrap_err();
        assert_eq!(e.sqlstate, "22023");
        assert_eq!(
            e.message,
            "RETENTION needs the stream's event time in a column"
        );
        let e = with(&[("LATENESS", "1 minute"), ("RETENTION", "1 hour")]).unwrap_err();
        assert_eq!(
            e.sqlstate, "22023",
            "the record timestamp is in no column here"
        );
        let e = with(&[("TIMESTAMP", "ts"), ("RETENTION", "1 month")]).unwrap_err();
        assert_eq!(e.sqlstate, "22023");
        let e = spec(
            SourceKind::Table,
            &[("KAFKA_TOPIC", "t"), ("RETENTION", "1 hour")],
        )
        .unwrap_err();
        assert_eq!(e.sqlstate, "0A000");
    }
}
