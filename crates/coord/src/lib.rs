//! The coordinator: the durable catalog, the timestamp oracle, and the sequencing of
//! every statement (DDL, writes, reads) against the dataflow workers.
//!
//! Invariants:
//! - One task owns the catalog and the oracle; sessions talk to it through [`Client`],
//!   so statements are applied in one total order.
//! - A write is durable in the log and has its timestamp before its statement returns;
//!   a later read by any session chooses a time at or after it (read-your-writes).
//! - A SELECT reads every input at one timestamp.
//! - The catalog holds nothing the log cannot rebuild.

pub mod builtins;
pub mod cancel;
pub mod catalog;
pub mod client;
pub mod command;
pub mod coord;
pub mod copy_load;
pub mod durable;
pub mod keys;
pub mod metrics;
mod pg_sources;
mod recovery;
mod sequence;
mod sequences;
pub mod session;
mod sinks;
mod sources;
pub mod subscribe;
pub mod timestamp;
pub mod txn;

pub use client::Client;
pub use command::{CopyIn, ExecuteResponse, PreparedStatement, SessionHandle, StatementDesc};
pub use coord::{start, CoordConfig, Started};
pub use copy_load::CopyLoad;
pub use metrics::Metrics;
pub use subscribe::{SubscribeOutput, Subscription};
