//! The coordinator: the durable catalog, the timestamp oracle, and the sequencing of
//! every statement (DDL, writes, reads) against the dataflow workers.
//!
//! Invariants:
//! - One task owns the catalog and the oracle; sessions talk to it through [`Client`],
//!   so statements are applied in one total order.
//! - A write is durable in the log and has its timestamp before its statement returns;
//!   a later read by any session chooses a time at or after it (read-your-writes).
//! - A SELECT reads every input at one timestamp.

pub mod client;
pub mod error;

pub use client::{Client, ExecuteResponse, SessionHandle, StatementDesc};
pub use error::AdapterError;
