//! Eddy's own system relations. They live in `pg_catalog`, so that unqualified names
//! find them (`SELECT * FROM eddy_source_errors`). Their rows are not derived from the
//! catalog (their builder has none): the coordinator writes them as things happen.

use super::{no_rows, table, Builtin, PG_CATALOG};

/// The messages sources could not read, with where they are: `source` (the stream or
/// table), `partition`, `kafka_offset`, `error`. Written by `sources.rs` with the batch
/// that skipped them, durable in that batch's log record, and gone with the source.
pub const EDDY_SOURCE_ERRORS: Builtin = table(
    PG_CATALOG,
    "eddy_source_errors",
    15901,
    "source text!, partition int4!, kafka_offset int8!, error text!",
    no_rows,
);

/// Each stream's event-time watermark (`eddy_connect::event_time`): `source` (the
/// stream), `source_oid` (its `pg_class` oid) and `watermark`, one row per stream
/// with an event time once its first event is read. Written by `sources.rs` in the
/// batch that moves it (at that batch's time), restored on restart from the log.
/// Views read it to know which event-time windows are final
/// (`eddy_expr::watermark`).
pub const EDDY_WATERMARKS: Builtin = table(
    PG_CATALOG,
    "eddy_watermarks",
    15902,
    "source text!, source_oid oid!, watermark timestamptz!",
    no_rows,
);
