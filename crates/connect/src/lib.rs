//! Eddy's connectors. This crate owns sources and sinks: it reads and writes Kafka
//! topics and reads Postgres databases by logical replication ([`postgres`]). For
//! Kafka, transport, format and envelope are kept apart:
//!
//! - **transport** ([`source`]): a librdkafka consumer on its own thread, explicit
//!   partition assignment, resume from recorded offsets, retries with backoff;
//! - **format** ([`format`]): a message value (and key) becomes the declared columns:
//!   `JSON`, `DELIMITED` (CSV), `KAFKA` (raw), `DEBEZIUM_JSON`;
//! - **envelope** ([`envelope`]): decoded messages become updates: `NONE` (streams),
//!   `UPSERT` (tables keyed by the message key), `DEBEZIUM` (CDC tables);
//! - **sinks** ([`sink`]): a relation's changelog written to a topic (`UPSERT` or
//!   `DEBEZIUM`, JSON) in Kafka transactions, exactly once across restarts: the topic
//!   read back is the sink's durable state (see the module's docs).
//!
//! # Using it
//!
//! ```text
//! // Planning (pure): the WITH (...) options of CREATE STREAM / CREATE TABLE.
//! let spec = KafkaSourceSpec::from_options(
//!     SourceKind::Table,                 // or SourceKind::Stream
//!     desc,                              // RelationDesc of the declared columns
//!     primary_key,                       // Vec<usize>, positions in desc (empty for streams)
//!     &[("KAFKA_TOPIC".into(), "users".into()), ("VALUE_FORMAT".into(), "JSON".into())],
//!     Some("127.0.0.1:9092"),            // the server's --kafka-brokers
//! )?;                                    // Err(SqlError): 42601, 22023, 0A000, 42P16, 42804
//!
//! // Running: a new source starts at START; a restarted one from what was recorded.
//! let resume = Resume { progress, current_rows, watermark_us };  // Resume::default() when new
//! let mut source = KafkaSource::start(spec, SourceConfig::new("users"), resume)?;
//! while let Some(batch) = source.next_batch().await {  // or blocking_next_batch()
//!     // batch.updates: Vec<(Row, Diff)>     -> the collection, at one new timestamp
//!     // batch.errors: Vec<SourceError>      -> eddy_source_errors (partition, offset, message)
//!     // batch.progress: BTreeMap<i32, i64>  -> record durably with that timestamp
//!     // batch.watermark_us: Option<i64>     -> likewise (streams with an event time)
//! }
//! // None: the source stopped; source.status().state says why (Failed { error }).
//! source.status();                           // state (Running / Retrying { last_error, .. }),
//!                                            // progress, messages, bytes, errors
//! ```
//!
//! Invariants:
//! - Applying every batch in order gives exactly the collection the messages define, and
//!   a source restarted with `Resume { progress: <the last applied batch's progress>,
//!   current_rows: <the collection then>, watermark_us: <its watermark> }` continues it:
//!   nothing read twice, nothing lost, and every late / on-time decision the same. So the coordinator gets exactly-once by recording `progress` in the same
//!   durable step as the batch's updates.
//! - A message that cannot be read is a [`SourceError`] with its partition and offset,
//!   never a panic and never a stopped source, unless `ON_ERROR = 'FAIL'`.
//! - Nothing here blocks a timely worker: the consumer runs on its own thread and hands
//!   batches over a bounded channel ([`SourceConfig::channel_batches_max`] batches of at
//!   most [`SourceConfig::batch_messages_max`] messages).
//!
//! # Postgres CDC ([`postgres`])
//!
//! ```text
//! // Planning (pure): CREATE SOURCE s FROM POSTGRES WITH (...) [FOR TABLES (...)].
//! let spec = PgSourceSpec::from_options(&options, for_tables)?;  // 42601, 22023, 0A000, 42712
//! // Before planning the tables (I/O): the publication's tables, types, keys.
//! let tables: Vec<PgTable> = postgres::discover(&spec).await?;   // 08001, 55000, 42501, 42704, ...
//! // One Eddy table per PgTable (name, desc(), primary_key); keep `tables` and the slot
//! // name in the catalog: a restarted source is given the same ones.
//!
//! // Running: snapshot at the slot's consistent point, then one batch per transaction.
//! let config = PgSourceConfig::new("shop", "eddy_shop_17");   // name, replication slot
//! let resume = PgResume { progress, current_rows };           // PgResume::default() when new
//! let mut source = PgSource::start(spec, tables, config, resume)?;
//! while let Some(batch) = source.next_batch().await {
//!     // batch.updates: Vec<(table, Row, Diff)>  -> the tables, at one new timestamp
//!     // batch.errors: Vec<PgTableError>         -> that table stopped (schema change, bad value)
//!     // batch.progress: PgProgress              -> record with the updates, durably; then
//!     if let Some(lsn) = batch.progress.lsn() { source.confirm(lsn) }  // lets the slot advance
//! }
//! source.status();          // state, snapshot_rows, confirmed_lsn, lag_bytes(), per-table errors
//! postgres::drop_slot(&spec, "eddy_shop_17").await?;          // DROP SOURCE
//! ```
//!
//! Batches whose progress is `PgProgress::Snapshot` are an unfinished snapshot: the
//! snapshot is whole only with the batch whose progress is the first `PgProgress::Lsn`.
//!
//! Not here yet: consumer-group offset commits (informational only, by design
//! never used to resume), per-partition lag in [`SourceStatus`], Avro.

pub mod envelope;
pub mod event_time;
pub mod format;
pub mod postgres;
pub mod sink;
pub mod source;
pub mod spec;

pub use envelope::{Decoder, UpsertState};
pub use event_time::{EventTime, EventTimeColumn, Watermark};
pub use format::{json_to_datum, KafkaMessage};
pub use sink::{
    Encoder, KafkaSink, SinkBatch, SinkConfig, SinkEnvelope, SinkKeyFormat, SinkMessage, SinkSpec,
    SinkState, SinkStatus, SinkStatusHandle,
};
pub use source::{
    KafkaSource, Resume, SourceBatch, SourceConfig, SourceError, SourceState, SourceStatus,
    StatusHandle,
};
pub use spec::{
    stream_event_time, stream_retention, Envelope, KafkaSourceSpec, KeyFormat, MetadataColumn,
    OnError, SourceKind, StartOffset, ValueFormat,
};
