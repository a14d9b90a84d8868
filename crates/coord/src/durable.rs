//! What the coordinator writes to the durable log, and how it is read back.
//!
//! The log holds, in order, every catalog change and every table write. Replaying it
//! from the start (or from a snapshot) rebuilds the catalog and every table exactly;
//! views are re-planned from their `CREATE` text and rebuilt by the dataflow.

use std::collections::BTreeMap;

use eddy_connect::postgres::{PgProgress, PgTable};
use eddy_repr::{Diff, GlobalId, RelationDesc, Row, Timestamp};
use eddy_repr::{SqlError, SqlState};
use serde::{Deserialize, Serialize};

/// One durable record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum LogRecord {
    CreateTable {
        id: GlobalId,
        name: String,
        desc: RelationDesc,
        create_sql: String,
        /// The PRIMARY KEY columns, empty without one.
        primary_key: Vec<usize>,
    },
    /// A view or materialized view, re-planned from `create_sql` on replay.
    CreateView {
        id: GlobalId,
        create_sql: String,
    },
    Drop {
        ids: Vec<GlobalId>,
    },
    /// All table writes of one timestamp (one statement or one transaction).
    Write {
        time: Timestamp,
        updates: Vec<(GlobalId, Vec<(Row, Diff)>)>,
    },
    /// Seed data of a views file was applied (the name is its key: file and statement
    /// text), so it is not applied again.
    ViewsFileApplied {
        name: String,
        hash: u64,
    },
    /// A stream or table read from a Kafka topic: its columns, key and options (with
    /// the brokers resolved), so a restart reads the same topic the same way.
    CreateSource {
        id: GlobalId,
        name: String,
        desc: RelationDesc,
        create_sql: String,
        primary_key: Vec<usize>,
        stream: bool,
        options: Vec<(String, String)>,
    },
    /// What a source read, at one time: its updates, the messages it could not read,
    /// and the offsets it reached (partition → next offset), recorded together so that
    /// a restart resumes exactly after what the log holds.
    SourceWrite {
        time: Timestamp,
        id: GlobalId,
        updates: Vec<(Row, Diff)>,
        errors: Vec<SourceErrorRecord>,
        progress: BTreeMap<i32, i64>,
    },
    /// A sink, re-planned from `create_sql` on replay. Only its definition is here:
    /// what it has written is in its topic, which a restarted sink reads back (see
    /// `sinks.rs`).
    CreateSink {
        id: GlobalId,
        create_sql: String,
    },
    /// A schema made with `CREATE SCHEMA`.
    CreateSchema {
        id: GlobalId,
        name: String,
    },
    /// A schema dropped (a `Drop` record before it removed what it held).
    DropSchema {
        name: String,
    },
    /// A Postgres source and its tables (in schema `name`), as found upstream when it
    /// was created: a restart reads the same tables from the same slot.
    CreatePgSource {
        id: GlobalId,
        name: String,
        create_sql: String,
        options: Vec<(String, String)>,
        tables: Vec<PgTable>,
        table_ids: Vec<GlobalId>,
        slot: String,
    },
    /// What a Postgres source read, at one time: its tables' updates, the tables that
    /// stopped (with why), and how far it read, recorded together so that a restart
    /// resumes exactly after what the log holds.
    PgSourceWrite {
        time: Timestamp,
        id: GlobalId,
        updates: Vec<(GlobalId, Vec<(Row, Diff)>)>,
        errors: Vec<(GlobalId, String)>,
        progress: PgProgress,
    },
    /// The table or source `id` (created by the record before) lives in `schema`, not
    /// in `public`. Views and sinks need none: the text they are re-planned from names
    /// their schema.
    ItemSchema {
        id: GlobalId,
        schema: String,
    },
    /// The watermark (microseconds since the epoch) of stream `id`, which has an event
    /// time, after the `SourceWrite` just before it. Always appended in the same log
    /// batch as that write (batches are atomic), so the watermark and the offsets a
    /// restart resumes from are of the same message: see `eddy_connect::event_time`.
    /// (A record of its own rather than a field of `SourceWrite`, so that logs written
    /// before event time existed still decode.)
    SourceWatermark {
        id: GlobalId,
        watermark_us: i64,
    },
    /// `CREATE SEQUENCE`, or a `serial` column's sequence (owned by table `owner`,
    /// dropped with it). New variants go last, so older logs still decode.
    CreateSequence {
        schema: String,
        name: String,
        start: i64,
        increment: i64,
        owner: Option<GlobalId>,
    },
    /// A sequence's state as a restart takes it on (see `sequences.rs`).
    SequenceValue {
        schema: String,
        name: String,
        last: i64,
        is_called: bool,
    },
    DropSequence {
        schema: String,
        name: String,
    },
    /// `ALTER TABLE`: table `id` (created by an earlier record) has this definition
    /// now, and each of `readers` (views reading it, by id) this text, re-planned on
    /// replay. When a column came or went, a `Write` in the same append retracts every
    /// row in its old shape and inserts it in its new one. Its defaults and constraints
    /// are in `create_sql`, as a `CreateTable`'s are.
    AlterTable {
        id: GlobalId,
        name: String,
        desc: RelationDesc,
        create_sql: String,
        primary_key: Vec<usize>,
        readers: Vec<(GlobalId, String)>,
    },
}

/// A message a source could not read, as the log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceErrorRecord {
    pub partition: i32,
    pub offset: i64,
    pub message: String,
}

impl LogRecord {
    /// The records that recreate `entry` on replay (tables keep their `desc`, views are
    /// re-planned from their text): its record, and where it lives when that is not
    /// `public`.
    pub fn create(entry: &crate::catalog::CatalogEntry) -> Vec<LogRecord> {
        let mut records: Vec<LogRecord> = Self::create_item(entry).into_iter().collect();
        if entry.schema != eddy_sql::PUBLIC_SCHEMA && !records.is_empty() {
            records.push(LogRecord::ItemSchema {
                id: entry.id,
                schema: entry.schema.clone(),
            });
        }
        records
    }

    fn create_item(entry: &crate::catalog::CatalogEntry) -> Option<LogRecord> {
        use eddy_sql::ItemKind;
        match entry.kind {
            ItemKind::Table => Some(LogRecord::CreateTable {
                id: entry.id,
                name: entry.name.clone(),
                desc: entry.desc.clone(),
                create_sql: entry.create_sql.clone(),
                primary_key: entry.primary_key.clone(),
            }),
            // An index is re-planned from its text as a view is.
            ItemKind::View | ItemKind::MaterializedView | ItemKind::Index => {
                Some(LogRecord::CreateView {
                    id: entry.id,
                    create_sql: entry.create_sql.clone(),
                })
            }
            ItemKind::Source => {
                let source = entry.source.as_ref()?;
                Some(LogRecord::CreateSource {
                    id: entry.id,
                    name: entry.name.clone(),
                    desc: entry.desc.clone(),
                    create_sql: entry.create_sql.clone(),
                    primary_key: entry.primary_key.clone(),
                    stream: source.stream,
                    options: source.options.clone(),
                })
            }
            ItemKind::PgSource => {
                let def = entry.pg.as_ref()?;
                Some(LogRecord::CreatePgSource {
                    id: entry.id,
                    name: entry.name.clone(),
                    create_sql: entry.create_sql.clone(),
                    options: def.options.clone(),
                    tables: def.tables.clone(),
                    table_ids: def.table_ids.clone(),
                    slot: def.slot.clone(),
                })
            }
            ItemKind::Sink => Some(LogRecord::CreateSink {
                id: entry.id,
                create_sql: entry.create_sql.clone(),
            }),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        bincode::serialize(self).expect("log records serialize")
    }

    pub fn decode(bytes: &[u8]) -> Result<LogRecord, String> {
        bincode::deserialize(bytes).map_err(|e| e.to_string())
    }
}

/// The coordinator's view of the durable log: typed records in, typed records out.
pub struct Storage {
    log: eddy_log::Log,
}

fn storage_error(e: impl std::fmt::Display) -> SqlError {
    SqlError::new(
        SqlState::IO_ERROR,
        format!("could not write to the durable log: {e}"),
    )
}

impl Storage {
    /// Opens (or creates) the log under `data_dir/log` and decodes every record.
    pub fn open(data_dir: &std::path::Path) -> Result<(Storage, Vec<LogRecord>), SqlError> {
        std::fs::create_dir_all(data_dir).map_err(storage_error)?;
        let (log, recovered) =
            eddy_log::Log::open(&data_dir.join("log"), eddy_log::LogConfig::default()).map_err(
                |e| SqlError::new(e.sqlstate(), format!("could not open the durable log: {e}")),
            )?;
        let mut records = Vec::with_capacity(recovered.records.len());
        if let Some(snapshot) = recovered.snapshot {
            let state: Vec<LogRecord> = bincode::deserialize(&snapshot.data).map_err(|e| {
                SqlError::new(
                    SqlState::DATA_CORRUPTED,
                    format!(
                        "the snapshot up to log record {} does not decode: {e}",
                        snapshot.upto_seq
                    ),
                )
            })?;
            records.extend(state);
        }
        for record in recovered.records {
            let decoded = LogRecord::decode(&record.payload).map_err(|e| {
                SqlError::new(
                    SqlState::DATA_CORRUPTED,
                    format!("log record {} does not decode: {e}", record.seq),
                )
            })?;
            records.push(decoded);
        }
        Ok((Storage { log }, records))
    }

    /// The sequence number of the last record appended (0 for an empty log).
    pub fn last_seq(&self) -> u64 {
        self.log.last_seq()
    }

    /// The sequence number the current snapshot covers, if there is one.
    pub fn snapshot_seq(&self) -> Option<u64> {
        self.log.snapshot_seq()
    }

    /// Durably replaces every record up to `upto_seq` by `state`: records that, replayed
    /// in order, rebuild exactly what those records did (catalog items, then each
    /// table's contents as one write). Segments the snapshot covers are deleted.
    pub fn write_snapshot(&mut self, upto_seq: u64, state: &[LogRecord]) -> Result<(), SqlError> {
        let bytes = bincode::serialize(state).map_err(storage_error)?;
        self.log
            .write_snapshot(upto_seq, &bytes)
            .map_err(storage_error)
    }

    /// Appends records and fsyncs them before returning.
    pub fn append(&mut self, records: &[LogRecord]) -> Result<(), SqlError> {
        let encoded: Vec<Vec<u8>> = records.iter().map(LogRecord::encode).collect();
        let slices: Vec<&[u8]> = encoded.iter().map(|v| v.as_slice()).collect();
        self.log.append(&slices).map_err(storage_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bincode tags a variant by its position: logs written before a variant was added
    /// decode only if the variants before it keep their places (new ones go last).
    #[test]
    fn variants_keep_their_tags() {
        let tag = |record: &LogRecord| u32::from_le_bytes(record.encode()[..4].try_into().unwrap());
        assert_eq!(tag(&LogRecord::Drop { ids: vec![] }), 2);
        assert_eq!(
            tag(&LogRecord::DropSequence {
                schema: String::new(),
                name: String::new()
            }),
            16
        );
        let alter = LogRecord::AlterTable {
            id: GlobalId::User(1),
            name: "t".into(),
            desc: RelationDesc::empty(),
            create_sql: "CREATE TABLE t ()".into(),
            primary_key: vec![],
            readers: vec![(GlobalId::User(2), "CREATE VIEW v AS SELECT 1".into())],
        };
        assert_eq!(tag(&alter), 17);
        let decoded = LogRecord::decode(&alter.encode()).unwrap();
        assert_eq!(format!("{decoded:?}"), format!("{alter:?}"));
    }
}
