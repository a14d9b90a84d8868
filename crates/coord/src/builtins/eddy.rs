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
