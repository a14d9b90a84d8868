//! Renders the IR onto timely/differential dataflow and serves reads (peeks) of the
//! resulting arrangements.
//!
//! The public face is [`Compute`], a handle owned by the coordinator. It starts `W`
//! timely worker threads and sends every worker the same sequence of commands; each
//! worker owns a shard (by key hash) of every arrangement.
//!
//! Invariants:
//! - Workers never block on I/O; they only read their command channel and step timely.
//! - Errors in user data become rows of a dataflow's error collection, never panics.
//! - A peek at time `t` answers only once every worker's arrangement is complete
//!   through `t`, and compaction never advances past a pending peek's time.

pub mod api;

pub use api::{Compute, ComputeConfig, DataflowDesc, PeekError, PeekResult};
