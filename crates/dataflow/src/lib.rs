//! Renders the IR onto timely/differential dataflow and serves reads (peeks) of the
//! resulting arrangements.
//!
//! The public face is [`Compute`], a handle owned by the coordinator. It starts `W`
//! timely worker threads and sends every worker the same sequence of commands; each
//! worker owns a shard (by key hash) of every arrangement.
//!
//! Code map:
//! - `api`: the controller ([`Compute`]) and the types the coordinator uses.
//! - `command`: the commands sent to workers and the collection of peek answers.
//! - `worker`: the worker loop: commands, registry of arrangements, peeks, compaction.
//! - `render`: the IR rendered as operators: fused map/filter/project, left-deep
//!   joins, reductions (accumulated in diffs, or hierarchical for min/max), top-k,
//!   union, negate, threshold.
//! - `history`: the rows of an append-only stream, kept in arrival order rather than
//!   arranged, and replayed into the dataflows that read them.
//! - `validate`: plan checks that keep malformed plans from panicking a worker.
//! - `subscribe`: subscriptions: a relation's changes captured as batches in time
//!   order, for `SUBSCRIBE` and sinks.
//! - `memory`: records held in each dataflow's arrangements, for the one-off query
//!   budget.
//!
//! Invariants:
//! - Workers never block on I/O; they only read their command channel and step timely.
//! - Errors in user data become rows of a dataflow's error collection, never panics.
//! - A peek at time `t` answers only once every worker's arrangement is complete
//!   through `t`, and compaction never advances past a pending peek's time.
//! - A one-off dataflow (a SELECT's, [`GlobalId::Transient`]) that holds more than
//!   its budget of records in its arrangements is stopped, and its peek fails with
//!   [`PeekError::ResourceExhausted`]; tables and views are never stopped.
//! - A subscription's batches leave worker 0 in time order, each complete on every
//!   worker and consolidated; a subscriber that falls behind is failed, never waited
//!   for (`subscribe`).
//! - A peek's [`PeekSpec`] (key prefix, map/filter/project) runs on the workers as
//!   they scan, so a read costs the rows it touches and only its answer is copied out.

pub mod api;
mod command;
mod history;
mod memory;
mod render;
pub mod subscribe;
mod validate;
mod worker;

pub use api::{
    Compute, ComputeConfig, DataflowDesc, PeekError, PeekResult, PeekSpec, Retention, RowLayout,
};
pub use render::Flow;
pub use subscribe::{SubscribeBatch, SubscribeDesc, SubscribeError, SubscribeReceiver};
