//! The relational IR that views are planned into and rendered from, its scalar
//! expressions, their evaluation, optimizer passes and EXPLAIN text.
//!
//! Invariants:
//! - Expressions are typed by construction: the `sql` crate inserts every cast, so
//!   evaluation never meets a datum of an unexpected type on valid plans.
//! - Evaluation never panics on user data: a failure is an [`EvalError`], which the
//!   dataflow carries as data and a SELECT reports.
//! - EXPLAIN output is deterministic for a given plan.

pub mod error;
pub mod eval;
pub mod explain;
pub mod func;
pub mod join_order;
pub mod keys;
pub mod keywords;
pub mod mfp;
pub mod optimize;
pub mod relation;
pub mod scalar;
pub mod table_func;
pub mod temporal;
pub mod watermark;
pub mod window;
pub use eddy_repr::zone;

pub use error::EvalError;
pub use func::{AggregateFunc, BinaryFunc, UnaryFunc, VariadicFunc};
pub use mfp::MapFilterProject;
pub use relation::{
    AggregateExpr, AggregateOrder, ColumnOrder, MirRelationExpr, AGGREGATES_IN_RECURSION,
};
pub use scalar::MirScalarExpr;
pub use table_func::{TableCall, TableFunc};
pub use watermark::WatermarkMode;
pub use window::{FrameBound, FrameUnits, WindowExpr, WindowFrame, WindowFunc, WindowStrategy};
