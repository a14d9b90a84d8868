//! Window functions: the functions a [`crate::MirRelationExpr::Window`] appends, and
//! their frames.
//!
//! Semantics are Postgres': rows are split into partitions and sorted by the window's
//! order key; rows equal on the order key are *peers*. Rows that are peers are
//! numbered in the order of their encoding, so the numbering is the same on every run
//! and worker count, and the same as a `TopK` over the same key picks. Ranking
//! functions and `lag`/`lead`/`ntile` ignore the frame; aggregates and
//! `first_value`/`last_value`/`nth_value` read the rows of the frame.
//!
//! Session windows (`SESSION` in FROM) are two window functions over a partition
//! ordered by the event time `ts`: consecutive rows belong to one session while the
//! next row's `ts` is before the previous row's `ts + gap`; `session_start` is the
//! first `ts` of the row's session and `session_end` its last `ts` plus the gap (the
//! session is the half-open `[start, end)`, as Flink and ksqlDB define it). A row whose
//! `ts` is exactly `gap` after the previous one opens a new session.
//!
//! Invariant: every column a function names is a column of the `Window`'s input (the
//! planner maps arguments into columns first), so evaluating a window function never
//! evaluates a scalar expression.
//!
//! Rendering ([`WindowStrategy`], chosen here so that EXPLAIN and the renderer agree):
//! a window whose functions are all running aggregates (`count`, `sum` of an exact
//! type, `min`, `max`, `bool_and`, `bool_or` over `UNBOUNDED PRECEDING` to `CURRENT
//! ROW`, with an ORDER BY) is rendered as prefix sums over a tree of partial
//! aggregates, so a change costs O(log P) plus the output rows it changes; every
//! other window re-evaluates the changed row's whole partition.

use serde::{Deserialize, Serialize};

use eddy_repr::{ColumnType, Datum, Interval, ScalarType};

use crate::func::AggregateFunc;
use crate::relation::ColumnOrder;

/// How a `Window` is rendered (see `dataflow/src/render/window.rs` and
/// `dataflow/src/render/running.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowStrategy {
    /// One reduction per partition: a change sorts and re-evaluates the changed row's
    /// partition, O(P log P) for a partition of P rows.
    Partition,
    /// Running aggregates as prefix sums over a tree of partial aggregates keyed by
    /// the partition and a prefix of the first order column's position: a change
    /// updates one path of the tree (O(log P)) and re-emits only the rows whose value
    /// changed.
    PrefixSums,
}

impl WindowStrategy {
    /// The strategy for a window over rows of types `input`, ordered by `order_key`,
    /// computing `functions`. Prefix sums need an ORDER BY (without one every row is
    /// a peer and the frame is the whole partition) and every function a running
    /// aggregate whose partial states combine exactly: float sums are left to the
    /// partition's sequential fold, whose rounding is Postgres'.
    pub fn choose(
        input: &[ColumnType],
        order_key: &[ColumnOrder],
        functions: &[WindowExpr],
    ) -> WindowStrategy {
        let running = |f: &WindowExpr| {
            let WindowFunc::Aggregate { func, value } = &f.func else {
                return false;
            };
            let exact = match func {
                AggregateFunc::Count
                | AggregateFunc::Min
                | AggregateFunc::Max
                | AggregateFunc::BoolAnd
                | AggregateFunc::BoolOr => true,
                AggregateFunc::Sum => !matches!(
                    input.get(*value).map(|t| t.scalar_type),
                    Some(ScalarType::Float32 | ScalarType::Float64) | None
                ),
                _ => false,
            };
            exact
                && f.frame.start == FrameBound::UnboundedPreceding
                && f.frame.end == FrameBound::CurrentRow
        };
        if !order_key.is_empty() && !functions.is_empty() && functions.iter().all(running) {
            WindowStrategy::PrefixSums
        } else {
            WindowStrategy::Partition
        }
    }

    /// As EXPLAIN names it.
    pub fn name(self) -> &'static str {
        match self {
            WindowStrategy::Partition => "partition",
            WindowStrategy::PrefixSums => "prefix_sums",
        }
    }
}

/// One window function call: what it computes and over which frame.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WindowExpr {
    pub func: WindowFunc,
    pub frame: WindowFrame,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WindowFunc {
    /// The row's position in its partition, from 1.
    RowNumber,
    /// 1 + the number of rows before the row's first peer.
    Rank,
    /// The number of distinct peer groups up to and including the row's.
    DenseRank,
    /// `(rank - 1) / (rows - 1)`, 0 for a partition of one row.
    PercentRank,
    /// (rows up to and including the row's last peer) / rows.
    CumeDist,
    /// The bucket (1..=n) of the row when the partition is split into `n` buckets as
    /// equal as possible, the first ones one row larger; `n` is read from the column
    /// `buckets` of the row (NULL gives NULL, a non-positive one an error).
    Ntile { buckets: usize },
    /// `lag(value, offset, default)`: the `value` column of the row `offset` rows
    /// before (`lead`: after) the current one, or the `default` column of the current
    /// row when there is none. A NULL offset gives NULL.
    Lag {
        value: usize,
        offset: usize,
        default: usize,
    },
    Lead {
        value: usize,
        offset: usize,
        default: usize,
    },
    /// The `value` column of the frame's first row (NULL for an empty frame).
    FirstValue { value: usize },
    /// The `value` column of the frame's last row (NULL for an empty frame).
    LastValue { value: usize },
    /// The `value` column of the frame's `n`-th row (column `n`, from 1), NULL if the
    /// frame is shorter; a non-positive `n` is an error.
    NthValue { value: usize, n: usize },
    /// An aggregate (`count`, `sum`, `min`, `max`, `bool_and`, `bool_or`) of the
    /// `value` column over the frame, with the aggregate's NULL rules.
    Aggregate { func: AggregateFunc, value: usize },
    /// The first `ts` of the row's session (see the module docs); the window's order
    /// key is `ts` ascending.
    SessionStart { ts: usize, gap: Interval },
    /// The last `ts` of the row's session plus `gap`.
    SessionEnd { ts: usize, gap: Interval },
}

impl WindowFunc {
    pub fn name(&self) -> String {
        match self {
            WindowFunc::RowNumber => "row_number".into(),
            WindowFunc::Rank => "rank".into(),
            WindowFunc::DenseRank => "dense_rank".into(),
            WindowFunc::PercentRank => "percent_rank".into(),
            WindowFunc::CumeDist => "cume_dist".into(),
            WindowFunc::Ntile { .. } => "ntile".into(),
            WindowFunc::Lag { .. } => "lag".into(),
            WindowFunc::Lead { .. } => "lead".into(),
            WindowFunc::FirstValue { .. } => "first_value".into(),
            WindowFunc::LastValue { .. } => "last_value".into(),
            WindowFunc::NthValue { .. } => "nth_value".into(),
            WindowFunc::Aggregate { func, .. } => func.name().to_string(),
            WindowFunc::SessionStart { .. } => "session_start".into(),
            WindowFunc::SessionEnd { .. } => "session_end".into(),
        }
    }

    /// The columns of the input it reads.
    pub fn columns(&self) -> Vec<usize> {
        match self {
            WindowFunc::RowNumber
            | WindowFunc::Rank
            | WindowFunc::DenseRank
            | WindowFunc::PercentRank
            | WindowFunc::CumeDist => vec![],
            WindowFunc::Ntile { buckets } => vec![*buckets],
            WindowFunc::Lag {
                value,
                offset,
                default,
            }
            | WindowFunc::Lead {
                value,
                offset,
                default,
            } => vec![*value, *offset, *default],
            WindowFunc::FirstValue { value }
            | WindowFunc::LastValue { value }
            | WindowFunc::Aggregate { value, .. } => vec![*value],
            WindowFunc::NthValue { value, n } => vec![*value, *n],
            WindowFunc::SessionStart { ts, .. } | WindowFunc::SessionEnd { ts, .. } => vec![*ts],
        }
    }

    /// Its constant parameters as EXPLAIN shows them, if it has any.
    pub fn params_text(&self) -> Option<String> {
        match self {
            WindowFunc::SessionStart { gap, .. } | WindowFunc::SessionEnd { gap, .. } => Some(
                format!("gap={}", crate::explain::datum_text(&Datum::Interval(*gap))),
            ),
            _ => None,
        }
    }

    /// The type of its result over an input of types `input`.
    pub fn output_type(&self, input: &[ColumnType]) -> ColumnType {
        match self {
            WindowFunc::RowNumber | WindowFunc::Rank | WindowFunc::DenseRank => {
                ScalarType::Int64.nullable(false)
            }
            WindowFunc::PercentRank | WindowFunc::CumeDist => ScalarType::Float64.nullable(false),
            WindowFunc::Ntile { .. } => ScalarType::Int32.nullable(true),
            WindowFunc::Lag { value, .. }
            | WindowFunc::Lead { value, .. }
            | WindowFunc::FirstValue { value }
            | WindowFunc::LastValue { value }
            | WindowFunc::NthValue { value, .. } => input[*value].scalar_type.nullable(true),
            WindowFunc::SessionStart { ts, .. } | WindowFunc::SessionEnd { ts, .. } => input[*ts],
            WindowFunc::Aggregate {
                func: AggregateFunc::Count,
                value,
            } => AggregateFunc::Count.output_type(input[*value]),
            WindowFunc::Aggregate { func, value } => {
                func.output_type(input[*value]).scalar_type.nullable(true)
            }
        }
    }

    /// Whether it reads its frame (the others ignore it).
    pub fn uses_frame(&self) -> bool {
        matches!(
            self,
            WindowFunc::FirstValue { .. }
                | WindowFunc::LastValue { .. }
                | WindowFunc::NthValue { .. }
                | WindowFunc::Aggregate { .. }
        )
    }

    /// Whether its value for a row depends only on that row and the rows before it in
    /// the window's order, so it is the same over the first `k` rows of a partition
    /// as over the whole partition: then a filter `row_number() <= k` may cut the
    /// partition to its first `k` rows before the window is computed.
    pub fn reads_only_preceding(&self, frame: &WindowFrame) -> bool {
        match self {
            WindowFunc::RowNumber | WindowFunc::Rank | WindowFunc::DenseRank => true,
            // A session's start is decided by the rows before; its end by those after.
            WindowFunc::SessionStart { .. } => true,
            WindowFunc::SessionEnd { .. } => false,
            // `lag(x, -1)` reads the next row: the offset is a column, of unknown sign.
            WindowFunc::PercentRank
            | WindowFunc::CumeDist
            | WindowFunc::Ntile { .. }
            | WindowFunc::Lag { .. }
            | WindowFunc::Lead { .. } => false,
            WindowFunc::FirstValue { .. }
            | WindowFunc::LastValue { .. }
            | WindowFunc::NthValue { .. }
            | WindowFunc::Aggregate { .. } => {
                frame.units == FrameUnits::Rows
                    && matches!(frame.end, FrameBound::CurrentRow | FrameBound::Preceding(_))
            }
        }
    }
}

/// A frame: the rows, relative to the current one, that a frame-reading function sees.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WindowFrame {
    pub units: FrameUnits,
    pub start: FrameBound,
    pub end: FrameBound,
    /// For `RANGE` offsets with days or months over a `timestamptz` order key: the
    /// time zone (by name) in which they move the wall-clock time, as `timestamptz +
    /// interval` does in the session's zone (`None`: UTC, or offsets without days and
    /// months, which are the same in every zone).
    pub zone: Option<String>,
}

impl WindowFrame {
    /// Postgres' default: `RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`, which
    /// is the whole partition when the window has no ORDER BY (every row is a peer).
    pub fn default_frame() -> WindowFrame {
        WindowFrame {
            units: FrameUnits::Range,
            start: FrameBound::UnboundedPreceding,
            end: FrameBound::CurrentRow,
            zone: None,
        }
    }

    /// The frame as SQL, for EXPLAIN.
    pub fn text(&self) -> String {
        let units = match self.units {
            FrameUnits::Rows => "rows",
            FrameUnits::Range => "range",
            FrameUnits::Groups => "groups",
        };
        let zone = match &self.zone {
            Some(zone) => format!(" in zone {zone}"),
            None => String::new(),
        };
        format!("{units} {} to {}{zone}", self.start.text(), self.end.text())
    }
}

/// `ROWS` counts rows; `RANGE` (without offsets) extends `CURRENT ROW` to its peers;
/// `GROUPS` counts peer groups (`CURRENT ROW` is the row's peer group).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FrameUnits {
    Rows,
    Range,
    Groups,
}

/// One end of a frame. `Preceding`/`Following` count rows (`ROWS`) or peer groups
/// (`GROUPS`); `ValuePreceding`/`ValueFollowing` (`RANGE` only, over a window with one
/// ORDER BY column) bound the order value: the rows whose value lies within the offset
/// (a non-negative number, or interval for date and time keys) before or after the
/// current row's, in the window's direction.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FrameBound {
    UnboundedPreceding,
    Preceding(u64),
    ValuePreceding(Datum),
    CurrentRow,
    Following(u64),
    ValueFollowing(Datum),
    UnboundedFollowing,
}

impl FrameBound {
    fn text(&self) -> String {
        match self {
            FrameBound::UnboundedPreceding => "unbounded preceding".into(),
            FrameBound::Preceding(n) => format!("{n} preceding"),
            FrameBound::CurrentRow => "current row".into(),
            FrameBound::Following(n) => format!("{n} following"),
            FrameBound::ValuePreceding(d) => format!("{} preceding", crate::explain::datum_text(d)),
            FrameBound::ValueFollowing(d) => format!("{} following", crate::explain::datum_text(d)),
            FrameBound::UnboundedFollowing => "unbounded following".into(),
        }
    }
}
