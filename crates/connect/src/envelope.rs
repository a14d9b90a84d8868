//! Envelopes: decoded messages become updates `(row, diff)` of the source's collection.
//!
//! - `NONE` (streams): each message is `+1` of its row.
//! - `UPSERT` (tables): the message key gives the primary key. A value replaces the
//!   key's current row (`-1` old, `+1` new; nothing when they are equal); a tombstone
//!   deletes it (`-1`); deleting a key that has no row is a no-op.
//! - `DEBEZIUM` (CDC tables): `after` is upserted and a delete removes `before`'s key,
//!   each keyed by the primary key of the image, so a replayed duplicate event changes
//!   nothing. An update that changes the primary key deletes `before`'s key first. A
//!   Kafka tombstone (Debezium's compaction marker after a delete) is ignored. A
//!   truncate event (`op` `t`) deletes every row.
//!
//! [`UpsertState`] is the current row of every key. It lives in the source, and a
//! restarted source rebuilds it from the collection's current rows
//! ([`Decoder::new`] takes them), so restarting changes nothing.
//!
//! Invariant: [`Decoder::decode`] is atomic. It either appends all updates of a message
//! and changes the state, or it returns an error and appends and changes nothing. So the
//! sum of all appended updates always equals the current rows in the state.

use std::collections::HashMap;

use eddy_repr::{Datum, Diff, Row};

use crate::format::{Decoded, Format, KafkaMessage};
use crate::spec::{Envelope, KafkaSourceSpec};

/// The current row of every primary key of an upsert or Debezium table.
#[derive(Clone, Debug, Default)]
pub struct UpsertState {
    /// Primary key datums → the full current row.
    rows: HashMap<Row, Row>,
}

impl UpsertState {
    /// The number of keys with a current row.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Makes `row` the current row of `key`.
    fn upsert(&mut self, key: Row, row: Row, updates: &mut Vec<(Row, Diff)>) {
        match self.rows.insert(key, row.clone()) {
            Some(old) if old == row => {}
            Some(old) => {
                updates.push((old, -1));
                updates.push((row, 1));
            }
            None => updates.push((row, 1)),
        }
    }

    /// Removes `key`'s current row, if it has one.
    fn delete(&mut self, key: &Row, updates: &mut Vec<(Row, Diff)>) {
        if let Some(old) = self.rows.remove(key) {
            updates.push((old, -1));
        }
    }

    /// Removes every row.
    fn clear(&mut self, updates: &mut Vec<(Row, Diff)>) {
        updates.extend(self.rows.drain().map(|(_, old)| (old, -1)));
    }
}

/// A message's effect on the collection, computed before anything is applied.
enum Effect {
    Insert(Row),
    Upsert {
        key: Row,
        row: Row,
    },
    Delete {
        key: Row,
    },
    /// A Debezium update whose primary key changed.
    Move {
        from: Row,
        key: Row,
        row: Row,
    },
    /// A Debezium truncate: every row goes.
    Truncate,
    Nothing,
}

/// Format and envelope of one source: turns messages into updates.
#[derive(Clone, Debug)]
pub struct Decoder {
    format: Format,
    envelope: Envelope,
    primary_key: Vec<usize>,
    names: Vec<String>,
    state: UpsertState,
    message_bytes_max: usize,
}

impl Decoder {
    /// A decoder for `spec` whose upsert state holds `current_rows` (the collection as
    /// recorded when the source last stopped; empty for a new source). Messages whose key
    /// and value together exceed `message_bytes_max` bytes are errors.
    pub fn new(
        spec: &KafkaSourceSpec,
        current_rows: impl IntoIterator<Item = Row>,
        message_bytes_max: usize,
    ) -> Decoder {
        let mut decoder = Decoder {
            format: Format::new(spec),
            envelope: spec.envelope,
            primary_key: spec.primary_key.clone(),
            names: spec.desc.names.clone(),
            state: UpsertState::default(),
            message_bytes_max,
        };
        if decoder.envelope != Envelope::None {
            for row in current_rows {
                let datums = row.unpack();
                let key = Row::pack(decoder.primary_key.iter().map(|&i| &datums[i]));
                decoder.state.rows.insert(key, row);
            }
        }
        decoder
    }

    /// The upsert state (empty for streams).
    pub fn state(&self) -> &UpsertState {
        &self.state
    }

    /// Appends the updates `msg` makes to `updates`, or returns why it cannot be read
    /// (and appends nothing).
    pub fn decode(
        &mut self,
        msg: &KafkaMessage<'_>,
        updates: &mut Vec<(Row, Diff)>,
    ) -> Result<(), String> {
        let size = msg.key.map_or(0, <[u8]>::len) + msg.value.map_or(0, <[u8]>::len);
        if size > self.message_bytes_max {
            return Err(format!(
                "message of {size} bytes exceeds the limit of {} bytes",
                self.message_bytes_max
            ));
        }
        let decoded = self.format.decode_value(msg)?;
        let effect = match (self.envelope, decoded) {
            (Envelope::None, Decoded::Row(datums)) => Effect::Insert(Row::pack(&datums)),
            (Envelope::None, Decoded::Tombstone) => Effect::Nothing,
            (Envelope::Upsert, decoded) => {
                let key_bytes = msg
                    .key
                    .ok_or_else(|| "a message without a key in an upsert table".to_string())?;
                let key_datums = self.format.decode_key(key_bytes)?;
                let key = self.key_row(key_datums.iter())?;
                match decoded {
                    Decoded::Tombstone => Effect::Delete { key },
                    Decoded::Row(mut datums) => {
                        for (&column, datum) in self.primary_key.iter().zip(key_datums) {
                            datums[column] = datum;
                        }
                        Effect::Upsert {
                            key,
                            row: Row::pack(&datums),
                        }
                    }
                    Decoded::Change { .. } | Decoded::Truncate => {
                        unreachable!("only DEBEZIUM_JSON decodes changes")
                    }
                }
            }
            (Envelope::Debezium, Decoded::Change { before, after }) => {
                let before_key = match &before {
                    Some(datums) => Some(self.key_of(datums)?),
                    None => None,
                };
                match after {
                    Some(datums) => {
                        let key = self.key_of(&datums)?;
                        let row = Row::pack(&datums);
                        match before_key {
                            Some(from) if from != key => Effect::Move { from, key, row },
                            _ => Effect::Upsert { key, row },
                        }
                    }
                    None => Effect::Delete {
                        key: before_key.expect("a Debezium delete has a before image"),
                    },
                }
            }
            (Envelope::Debezium, Decoded::Tombstone) => Effect::Nothing,
            (Envelope::Debezium, Decoded::Truncate) => Effect::Truncate,
            (envelope, decoded) => {
                unreachable!("envelope {envelope:?} with decoded value {decoded:?}")
            }
        };
        match effect {
            Effect::Insert(row) => updates.push((row, 1)),
            Effect::Upsert { key, row } => self.state.upsert(key, row, updates),
            Effect::Delete { key } => self.state.delete(&key, updates),
            Effect::Move { from, key, row } => {
                self.state.delete(&from, updates);
                self.state.upsert(key, row, updates);
            }
            Effect::Truncate => self.state.clear(updates),
            Effect::Nothing => {}
        }
        Ok(())
    }

    /// The primary key of a full row's datums.
    fn key_of(&self, datums: &[Datum]) -> Result<Row, String> {
        self.key_row(self.primary_key.iter().map(|&i| &datums[i]))
    }

    /// Packs primary key datums, refusing NULL (as Postgres refuses it in a key column).
    fn key_row<'a>(&self, datums: impl Iterator<Item = &'a Datum> + Clone) -> Result<Row, String> {
        for (datum, &column) in datums.clone().zip(&self.primary_key) {
            if datum.is_null() {
                return Err(format!(
                    "null value in primary key column \"{}\"",
                    self.names[column]
                ));
            }
        }
        Ok(Row::pack(datums))
    }
}

#[cfg(test)]
mod tests {
    use eddy_repr::{RelationDesc, ScalarType};

    use super::*;
    use crate::spec::SourceKind;

    fn spec(kind: SourceKind, format: &str, key_format: &str) -> KafkaSourceSpec {
        let desc = RelationDesc::new(
            vec!["id".into(), "name".into()],
            vec![
                ScalarType::Int64.nullable(false),
                ScalarType::Text.nullable(true),
            ],
        );
        let pk = if kind == SourceKind::Table {
            vec![0]
        } else {
            vec![]
        };
        let options = [
            ("KAFKA_TOPIC", "t"),
            ("VALUE_FORMAT", format),
            ("KEY_FORMAT", key_format),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()));
        KafkaSourceSpec::from_options(kind, desc, pk, &options, Some("b:1")).unwrap()
    }

    fn msg<'a>(offset: i64, key: Option<&'a str>, value: Option<&'a str>) -> KafkaMessage<'a> {
        KafkaMessage {
            partition: 0,
            offset,
            timestamp_ms: None,
            key: key.map(str::as_bytes),
            value: value.map(str::as_bytes),
        }
    }

    fn row(id: i64, name: &str) -> Row {
        Row::pack(&[Datum::Int64(id), Datum::String(name.into())])
    }

    #[test]
    fn upsert_replaces_and_deletes_by_key() {
        let mut d = Decoder::new(&spec(SourceKind::Table, "JSON", "KAFKA"), [], 1 << 20);
        let mut out = Vec::new();
        d.decode(&msg(0, Some("1"), Some(r#"{"name":"a"}"#)), &mut out)
            .unwrap();
        d.decode(&msg(1, Some("1"), Some(r#"{"name":"b"}"#)), &mut out)
            .unwrap();
        // The same value again changes nothing.
        d.decode(&msg(2, Some("1"), Some(r#"{"name":"b"}"#)), &mut out)
            .unwrap();
        d.decode(&msg(3, Some("2"), None), &mut out).unwrap();
        d.decode(&msg(4, Some("1"), None), &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                (row(1, "a"), 1),
                (row(1, "a"), -1),
                (row(1, "b"), 1),
                (row(1, "b"), -1)
            ]
        );
        assert!(d.state().is_empty());
        // A key that is not a bigint, and a message without a key, are errors that leave
        // the state alone.
        let err = d
            .decode(&msg(5, Some("x"), Some("{}")), &mut out)
            .unwrap_err();
        assert_eq!(
            err,
            "key column \"id\": invalid input syntax for type bigint: \"x\""
        );
        assert!(d.decode(&msg(6, None, Some("{}")), &mut out).is_err());
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn upsert_state_is_rebuilt_from_current_rows() {
        let s = spec(SourceKind::Table, "JSON", "JSON");
        let mut d = Decoder::new(&s, [row(1, "a"), row(2, "b")], 1 << 20);
        let mut out = Vec::new();
        d.decode(
            &msg(0, Some(r#"{"id": 1}"#), Some(r#"{"name":"c"}"#)),
            &mut out,
        )
        .unwrap();
        d.decode(&msg(1, Some("2"), None), &mut out).unwrap();
        assert_eq!(
            out,
            vec![(row(1, "a"), -1), (row(1, "c"), 1), (row(2, "b"), -1)]
        );
    }

    #[test]
    fn debezium_events_count_once() {
        let mut d = Decoder::new(
            &spec(SourceKind::Table, "DEBEZIUM_JSON", "KAFKA"),
            [],
            1 << 20,
        );
        let mut out = Vec::new();
        let create = r#"{"before":null,"after":{"id":1,"name":"a"},"op":"c"}"#;
        let wrapped_update = r#"{"schema":{"type":"struct"},"payload":
            {"before":{"id":1,"name":"a"},"after":{"id":1,"name":"b"},"op":"u","ts_ms":1}}"#;
        let delete = r#"{"before":{"id":1,"name":"b"},"after":null,"op":"d"}"#;
        for (offset, value) in [create, create, wrapped_update, wrapped_update]
            .into_iter()
            .enumerate()
        {
            d.decode(&msg(offset as i64, None, Some(value)), &mut out)
                .unwrap();
        }
        // A tombstone after the delete, and a replayed delete, change nothing.
        d.decode(&msg(4, Some("1"), Some(delete)), &mut out)
            .unwrap();
        d.decode(&msg(5, Some("1"), None), &mut out).unwrap();
        d.decode(&msg(6, Some("1"), Some(delete)), &mut out)
            .unwrap();
        assert_eq!(
            out,
            vec![
                (row(1, "a"), 1),
                (row(1, "a"), -1),
                (row(1, "b"), 1),
                (row(1, "b"), -1)
            ]
        );
        // A key change moves the row.
        out.clear();
        d.decode(&msg(7, None, Some(create)), &mut out).unwrap();
        let moved = r#"{"before":{"id":1,"name":"a"},"after":{"id":2,"name":"a"},"op":"u"}"#;
        d.decode(&msg(8, None, Some(moved)), &mut out).unwrap();
        assert_eq!(
            out,
            vec![(row(1, "a"), 1), (row(1, "a"), -1), (row(2, "a"), 1)]
        );
        // A truncate empties the table, wrapped or not; a replayed one changes nothing.
        out.clear();
        let truncate = r#"{"schema":{},"payload":{"before":null,"after":null,"op":"t"}}"#;
        d.decode(&msg(9, None, Some(truncate)), &mut out).unwrap();
        d.decode(&msg(10, None, Some(r#"{"op":"t"}"#)), &mut out)
            .unwrap();
        assert_eq!(out, vec![(row(2, "a"), -1)]);
        assert!(d.state().is_empty());
        d.decode(&msg(11, None, Some(create)), &mut out).unwrap();
        out.clear();
        for (bad, error) in [
            (r#"{"op":"x"}"#, "unsupported Debezium op \"x\""),
            (
                r#"{"after":{"id":1}}"#,
                "a Debezium change event needs an \"op\" field",
            ),
            (
                r#"{"op":"c","after":{"id":null}}"#,
                "null value in primary key column \"id\"",
            ),
            (
                r#"{"op":"d"}"#,
                "Debezium op \"d\" without a \"before\" image",
            ),
        ] {
            assert_eq!(
                d.decode(&msg(9, None, Some(bad)), &mut out),
                Err(error.into())
            );
        }
        assert!(out.is_empty());
    }

    #[test]
    fn stream_errors_name_the_problem() {
        let mut d = Decoder::new(&spec(SourceKind::Stream, "JSON", "KAFKA"), [], 64);
        let mut out = Vec::new();
        d.decode(
            &msg(0, None, Some(r#"{"ID": 1, "Name": "x", "extra": 1}"#)),
            &mut out,
        )
        .unwrap();
        d.decode(&msg(1, None, Some(r#"{"id": 2}"#)), &mut out)
            .unwrap();
        assert_eq!(
            out,
            vec![
                (row(1, "x"), 1),
                (Row::pack(&[Datum::Int64(2), Datum::Null]), 1)
            ]
        );
        let cases: [(&[u8], &str); 4] = [
            (
                b"{\"id\": ",
                "invalid input syntax for type json: The input string ended unexpectedly.",
            ),
            (b"[1]", "expected a JSON object, found a JSON array"),
            (
                b"{\"id\": true}",
                "column \"id\": cannot cast JSON boolean to type bigint",
            ),
            (
                b"\xff{}",
                "invalid byte sequence for encoding \"UTF8\": 0xff",
            ),
        ];
        for (value, error) in cases {
            let m = KafkaMessage {
                value: Some(value),
                ..msg(2, None, None)
            };
            assert_eq!(d.decode(&m, &mut out), Err(error.into()));
        }
        let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(100));
        assert_eq!(
            d.decode(&msg(3, None, Some(&big)), &mut out),
            Err("message of 112 bytes exceeds the limit of 64 bytes".into())
        );
        assert_eq!(out.len(), 2);
    }
}
