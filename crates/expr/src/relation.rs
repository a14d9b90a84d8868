//! The relational IR. Every view, and every one-off SELECT, is planned into a
//! [`MirRelationExpr`], optimized, and rendered as a dataflow.
//!
//! Semantics: each expression denotes a multiset of rows (a collection of
//! `(row, diff)`); `Negate` and `Union` can express differences, and `Threshold`
//! clamps negative multiplicities to zero. Column positions are the only names here.

use std::cmp::Ordering;

use eddy_repr::{ColumnType, Datum, Diff, GlobalId, Row};
use serde::{Deserialize, Serialize};

use crate::func::AggregateFunc;
use crate::scalar::MirScalarExpr;
use crate::table_func::TableCall;
use crate::temporal::TemporalPredicate;
use crate::window::WindowExpr;

/// An aggregate in a `Reduce`: `func(expr)` or `func(DISTINCT expr)`, with the
/// `ORDER BY` of an order-sensitive aggregate (`array_agg`, `string_agg`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AggregateExpr {
    pub func: AggregateFunc,
    pub expr: MirScalarExpr,
    pub distinct: bool,
    pub order_by: Vec<AggregateOrder>,
}

/// One `ORDER BY` key inside an aggregate call, over the `Reduce`'s input.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AggregateOrder {
    pub expr: MirScalarExpr,
    pub desc: bool,
    pub nulls_last: bool,
}

/// One ORDER BY key of a `TopK` (or of a SELECT's final ordering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ColumnOrder {
    pub column: usize,
    pub desc: bool,
    pub nulls_last: bool,
}

impl ColumnOrder {
    /// Compares two values of this key: NULLs first or last as asked, others in SQL
    /// order, reversed when descending.
    pub fn compare(&self, x: &Datum, y: &Datum) -> Ordering {
        match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) if self.nulls_last => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, true) if self.nulls_last => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) if self.desc => y.sql_cmp(x),
            (false, false) => x.sql_cmp(y),
        }
    }

    /// Compares two rows (as datums) by the columns `order` names, in order.
    pub fn compare_rows(order: &[ColumnOrder], a: &[Datum], b: &[Datum]) -> Ordering {
        order
            .iter()
            .map(|o| o.compare(&a[o.column], &b[o.column]))
            .find(|ord| ord.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MirRelationExpr {
    /// Literal rows.
    Constant {
        rows: Vec<(Row, Diff)>,
        typ: Vec<ColumnType>,
    },
    /// The contents of a table, view or materialized view. Renders as an import of that
    /// item's arrangement when it has one.
    Get {
        id: GlobalId,
        typ: Vec<ColumnType>,
        /// The item's name, for EXPLAIN only.
        name: String,
    },
    /// Appends one column per scalar; each scalar may read earlier appended columns.
    Map {
        input: Box<MirRelationExpr>,
        scalars: Vec<MirScalarExpr>,
    },
    /// Appends one column per call of a set-returning function: each input row is
    /// repeated once per row the calls yield, in lockstep (see [`crate::table_func`]);
    /// a row for which they yield nothing is dropped.
    FlatMap {
        input: Box<MirRelationExpr>,
        calls: Vec<TableCall>,
    },
    /// Keeps the rows for which every predicate is true (not false, not NULL).
    Filter {
        input: Box<MirRelationExpr>,
        predicates: Vec<MirScalarExpr>,
    },
    /// Keeps each row while `now()` (the dataflow's time) satisfies every predicate: a
    /// row enters when it becomes valid and leaves when it stops being valid, as time
    /// passes (see [`crate::temporal`]). Only maintained views have one; `now()`
    /// elsewhere in a view is refused when it is planned.
    TemporalFilter {
        input: Box<MirRelationExpr>,
        predicates: Vec<TemporalPredicate>,
    },
    /// Keeps (and may repeat or reorder) the listed columns.
    Project {
        input: Box<MirRelationExpr>,
        outputs: Vec<usize>,
    },
    /// The cross product of `inputs`, restricted to rows where, for each equivalence
    /// class, every expression is equal and not NULL. Expressions are over the
    /// concatenation of the inputs' columns.
    Join {
        inputs: Vec<MirRelationExpr>,
        equivalences: Vec<Vec<MirScalarExpr>>,
    },
    /// Groups by `group_key` and computes `aggregates`; the output is the key columns
    /// followed by one column per aggregate. With no aggregates this is DISTINCT on the
    /// key. With an empty key it yields one row when the input is non-empty and none
    /// otherwise (the planner adds the row for an empty input).
    Reduce {
        input: Box<MirRelationExpr>,
        group_key: Vec<MirScalarExpr>,
        aggregates: Vec<AggregateExpr>,
    },
    /// Per group of `group_key` columns, the rows at positions `offset..offset+limit`
    /// in `order_key` order.
    TopK {
        input: Box<MirRelationExpr>,
        group_key: Vec<usize>,
        order_key: Vec<ColumnOrder>,
        limit: Option<usize>,
        offset: usize,
    },
    /// Window functions (see [`crate::window`]): rows are partitioned by the
    /// `partition_key` columns and ordered by `order_key`; each of `functions` appends
    /// one column with its value for the row. A row of multiplicity `n` is `n` rows
    /// (numbered apart).
    ///
    /// Rendering ([`crate::WindowStrategy`]): when every function is a running
    /// aggregate (`UNBOUNDED PRECEDING` to `CURRENT ROW` with an ORDER BY, see
    /// `dataflow/src/render/running.rs`), prefix sums over a tree of partial
    /// aggregates: a change costs O(log P) plus the output rows whose value it changes.
    /// Otherwise (`dataflow/src/render/window.rs`): one reduction keyed by the
    /// partition, which sorts the partition and computes every function in one pass.
    /// Cost per change: the changed row's whole partition is re-sorted and re-evaluated,
    /// O(P log P) for a partition of P rows (plus O(P · W) for a frame of bounded width
    /// W that starts after UNBOUNDED PRECEDING and ends before UNBOUNDED FOLLOWING; a
    /// running frame from UNBOUNDED PRECEDING, or one to UNBOUNDED FOLLOWING, is one
    /// pass; a RANGE offset bound costs O(log P) per row); only the output rows whose
    /// values changed flow downstream. The state is
    /// the input rows and output rows of every partition. The exception is the
    /// top-K pattern: a filter `row_number() <= k` over a window whose functions read
    /// only preceding rows puts a `TopK` (limit k) under the window
    /// ([`crate::optimize`]), so a change re-evaluates only the partition's first k
    /// rows, and the TopK's own cost (a two-level reduction) is what the partition size
    /// weighs on.
    Window {
        input: Box<MirRelationExpr>,
        partition_key: Vec<usize>,
        order_key: Vec<ColumnOrder>,
        functions: Vec<WindowExpr>,
    },
    /// Event-time finality by a stream's watermark (see [`crate::watermark`]): each
    /// row's bound is its `bound_column` (a `timestamp` or `timestamptz`) plus
    /// `offset_us`, and `mode` expires, finalizes or emits rows once `watermark` (a
    /// relation of one `timestamptz` column, one row at a time) reaches their bound.
    /// Only maintained views have one.
    Watermarked {
        input: Box<MirRelationExpr>,
        watermark: Box<MirRelationExpr>,
        bound_column: usize,
        offset_us: i64,
        mode: crate::WatermarkMode,
    },
    /// Every multiplicity negated.
    Negate { input: Box<MirRelationExpr> },
    /// Negative multiplicities clamped to zero.
    Threshold { input: Box<MirRelationExpr> },
    /// The multiset sum of `base` and `inputs`.
    Union {
        base: Box<MirRelationExpr>,
        inputs: Vec<MirRelationExpr>,
    },
    /// `WITH RECURSIVE`: the fixed point of `R = base ∪ step(R)`, where `step` reads `R`
    /// through [`MirRelationExpr::GetRecursive`] with this node's `id`. With `distinct`
    /// (SQL `UNION`) each round is made distinct; without it (`UNION ALL`) the rows of
    /// every round are kept, which reaches a fixed point only when the step eventually
    /// yields nothing. `step` must be linear in `R` (SQL requires the recursive
    /// reference to appear once, outside aggregates), so `base ∪ step(R)` iterated is
    /// the union of the working tables SQL's evaluation produces. A recursion still
    /// changing after `max_iterations` rounds stops there with an error.
    Recursive {
        id: u64,
        /// The CTE's name, for EXPLAIN and errors.
        name: String,
        base: Box<MirRelationExpr>,
        step: Box<MirRelationExpr>,
        distinct: bool,
        max_iterations: u64,
    },
    /// The rows of the enclosing [`MirRelationExpr::Recursive`] binding `id`; only
    /// valid inside that node's `step`.
    GetRecursive {
        id: u64,
        typ: Vec<ColumnType>,
        name: String,
    },
}

/// What [`MirRelationExpr::recursion_unsupported`] says of an aggregate over the
/// recursive query in its recursive term (which Postgres refuses too, with `42P19`).
pub const AGGREGATES_IN_RECURSION: &str =
    "aggregate functions in a recursive query's recursive term";

impl MirRelationExpr {
    /// The column types of the output.
    pub fn typ(&self) -> Vec<ColumnType> {
        match self {
            MirRelationExpr::Constant { typ, .. }
            | MirRelationExpr::Get { typ, .. }
            | MirRelationExpr::GetRecursive { typ, .. } => typ.clone(),
            MirRelationExpr::Map { input, scalars } => {
                let mut typ = input.typ();
                for s in scalars {
                    let t = s.typ(&typ);
                    typ.push(t);
                }
                typ
            }
            MirRelationExpr::FlatMap { input, calls } => {
                let mut typ = input.typ();
                let lockstep = calls.len() > 1;
                typ.extend(calls.iter().flat_map(|c| {
                    c.func
                        .output_types()
                        .into_iter()
                        .map(move |t| t.scalar_type.nullable(t.nullable || lockstep))
                }));
                typ
            }
            MirRelationExpr::Filter { input, .. }
            | MirRelationExpr::TemporalFilter { input, .. }
            | MirRelationExpr::Watermarked { input, .. } => input.typ(),
            MirRelationExpr::Project { input, outputs } => {
                let typ = input.typ();
                outputs.iter().map(|i| typ[*i]).collect()
            }
            MirRelationExpr::Join { inputs, .. } => inputs.iter().flat_map(|i| i.typ()).collect(),
            MirRelationExpr::Reduce {
                input,
                group_key,
                aggregates,
            } => {
                let input_typ = input.typ();
                let mut typ: Vec<_> = group_key.iter().map(|k| k.typ(&input_typ)).collect();
                typ.extend(
                    aggregates
                        .iter()
                        .map(|a| a.func.output_type(a.expr.typ(&input_typ))),
                );
                typ
            }
            MirRelationExpr::TopK { input, .. }
            | MirRelationExpr::Negate { input }
            | MirRelationExpr::Threshold { input } => input.typ(),
            MirRelationExpr::Window {
                input, functions, ..
            } => {
                let mut typ = input.typ();
                let appended: Vec<ColumnType> =
                    functions.iter().map(|f| f.func.output_type(&typ)).collect();
                typ.extend(appended);
                typ
            }
            MirRelationExpr::Union { base, inputs } => {
                let mut typ = base.typ();
                for input in inputs {
                    for (t, u) in typ.iter_mut().zip(input.typ()) {
                        t.nullable |= u.nullable;
                    }
                }
                typ
            }
            MirRelationExpr::Recursive { base, step, .. } => {
                let mut typ = base.typ();
                for (t, u) in typ.iter_mut().zip(step.typ()) {
                    t.nullable |= u.nullable;
                }
                typ
            }
        }
    }

    /// Whether this expression reads the recursive binding `id`.
    pub fn reads_recursive(&self, id: u64) -> bool {
        let mut found = false;
        self.visit(&mut |e| {
            if matches!(e, MirRelationExpr::GetRecursive { id: i, .. } if *i == id) {
                found = true;
            }
        });
        found
    }

    /// Why the step of the recursive binding `id` cannot be iterated: the first node
    /// between the root of `self` and a read of the binding that the dataflow cannot
    /// render inside a loop, named for an error message; `None` if every one can.
    pub fn recursion_unsupported(&self, id: u64) -> Option<&'static str> {
        if !self.reads_recursive(id) {
            return None;
        }
        match self {
            MirRelationExpr::Reduce { aggregates, .. } if !aggregates.is_empty() => {
                Some(AGGREGATES_IN_RECURSION)
            }
            MirRelationExpr::TopK { .. } => {
                Some("ORDER BY, LIMIT or OFFSET in a recursive query's recursive term")
            }
            MirRelationExpr::Window { .. } => {
                Some("window functions in a recursive query's recursive term")
            }
            MirRelationExpr::FlatMap { .. } => {
                Some("set-returning functions in a recursive query's recursive term")
            }
            MirRelationExpr::TemporalFilter { .. } => Some("now() in a recursive query"),
            MirRelationExpr::Watermarked { .. } => {
                Some("event-time windows in a recursive query's recursive term")
            }
            MirRelationExpr::Recursive { .. } => {
                Some("a recursive query that reads an enclosing recursive query")
            }
            _ => self
                .children()
                .into_iter()
                .find_map(|c| c.recursion_unsupported(id)),
        }
    }

    pub fn arity(&self) -> usize {
        self.typ().len()
    }

    pub fn map(self, scalars: Vec<MirScalarExpr>) -> Self {
        if scalars.is_empty() {
            return self;
        }
        MirRelationExpr::Map {
            input: Box::new(self),
            scalars,
        }
    }

    pub fn filter(self, predicates: Vec<MirScalarExpr>) -> Self {
        if predicates.is_empty() {
            return self;
        }
        MirRelationExpr::Filter {
            input: Box::new(self),
            predicates,
        }
    }

    pub fn project(self, outputs: Vec<usize>) -> Self {
        MirRelationExpr::Project {
            input: Box::new(self),
            outputs,
        }
    }

    /// `self` under a [`MirRelationExpr::Watermarked`] of `mode`, by `watermark`
    /// (cloned), each row bounded by its `bound_column` plus `offset_us`.
    pub fn watermarked(
        self,
        watermark: &MirRelationExpr,
        bound_column: usize,
        offset_us: i64,
        mode: crate::WatermarkMode,
    ) -> Self {
        MirRelationExpr::Watermarked {
            input: Box::new(self),
            watermark: Box::new(watermark.clone()),
            bound_column,
            offset_us,
            mode,
        }
    }

    pub fn negate(self) -> Self {
        MirRelationExpr::Negate {
            input: Box::new(self),
        }
    }

    pub fn threshold(self) -> Self {
        MirRelationExpr::Threshold {
            input: Box::new(self),
        }
    }

    pub fn union(self, other: Self) -> Self {
        MirRelationExpr::Union {
            base: Box::new(self),
            inputs: vec![other],
        }
    }

    /// DISTINCT over all columns.
    pub fn distinct(self) -> Self {
        let arity = self.arity();
        MirRelationExpr::Reduce {
            input: Box::new(self),
            group_key: (0..arity).map(MirScalarExpr::Column).collect(),
            aggregates: vec![],
        }
    }

    /// Whether every update of this relation is an insertion (none retracts a row),
    /// given which of the items it reads are append-only: then a reduction over it
    /// may keep `min` and `max` in one record per group. Maps, filters, projections,
    /// set-returning functions, joins and unions of append-only inputs are
    /// append-only; a reduction, top-k, window, negation, threshold, temporal filter,
    /// watermark or recursion may retract, so it is not.
    pub fn is_append_only(&self, append_only: &dyn Fn(GlobalId) -> bool) -> bool {
        match self {
            MirRelationExpr::Constant { rows, .. } => rows.iter().all(|(_, diff)| *diff > 0),
            MirRelationExpr::Get { id, .. } => append_only(*id),
            MirRelationExpr::Map { input, .. }
            | MirRelationExpr::FlatMap { input, .. }
            | MirRelationExpr::Filter { input, .. }
            | MirRelationExpr::Project { input, .. } => input.is_append_only(append_only),
            MirRelationExpr::Join { inputs, .. } => {
                inputs.iter().all(|i| i.is_append_only(append_only))
            }
            MirRelationExpr::Union { base, inputs } => {
                base.is_append_only(append_only)
                    && inputs.iter().all(|i| i.is_append_only(append_only))
            }
            _ => false,
        }
    }

    /// The ids of every item this expression reads, sorted and distinct.
    pub fn depends_on(&self) -> std::collections::BTreeSet<GlobalId> {
        let mut out = std::collections::BTreeSet::new();
        self.visit(&mut |e| {
            if let MirRelationExpr::Get { id, .. } = e {
                out.insert(*id);
            }
        });
        out
    }

    /// Calls `f` on this expression and every sub-expression, children first.
    pub fn visit(&self, f: &mut impl FnMut(&MirRelationExpr)) {
        for child in self.children() {
            child.visit(f);
        }
        f(self);
    }

    pub fn children(&self) -> Vec<&MirRelationExpr> {
        match self {
            MirRelationExpr::Constant { .. }
            | MirRelationExpr::Get { .. }
            | MirRelationExpr::GetRecursive { .. } => vec![],
            MirRelationExpr::Map { input, .. }
            | MirRelationExpr::FlatMap { input, .. }
            | MirRelationExpr::Filter { input, .. }
            | MirRelationExpr::TemporalFilter { input, .. }
            | MirRelationExpr::Project { input, .. }
            | MirRelationExpr::Reduce { input, .. }
            | MirRelationExpr::TopK { input, .. }
            | MirRelationExpr::Window { input, .. }
            | MirRelationExpr::Negate { input }
            | MirRelationExpr::Threshold { input } => vec![input],
            MirRelationExpr::Join { inputs, .. } => inputs.iter().collect(),
            MirRelationExpr::Watermarked {
                input, watermark, ..
            } => vec![input, watermark],
            MirRelationExpr::Union { base, inputs } => std::iter::once(base.as_ref())
                .chain(inputs.iter())
                .collect(),
            MirRelationExpr::Recursive { base, step, .. } => vec![base, step],
        }
    }

    pub fn children_mut(&mut self) -> Vec<&mut MirRelationExpr> {
        match self {
            MirRelationExpr::Constant { .. }
            | MirRelationExpr::Get { .. }
            | MirRelationExpr::GetRecursive { .. } => vec![],
            MirRelationExpr::Map { input, .. }
            | MirRelationExpr::FlatMap { input, .. }
            | MirRelationExpr::Filter { input, .. }
            | MirRelationExpr::TemporalFilter { input, .. }
            | MirRelationExpr::Project { input, .. }
            | MirRelationExpr::Reduce { input, .. }
            | MirRelationExpr::TopK { input, .. }
            | MirRelationExpr::Window { input, .. }
            | MirRelationExpr::Negate { input }
            | MirRelationExpr::Threshold { input } => vec![input],
            MirRelationExpr::Join { inputs, .. } => inputs.iter_mut().collect(),
            MirRelationExpr::Watermarked {
                input, watermark, ..
            } => vec![input, watermark],
            MirRelationExpr::Union { base, inputs } => std::iter::once(base.as_mut())
                .chain(inputs.iter_mut())
                .collect(),
            MirRelationExpr::Recursive { base, step, .. } => vec![base, step],
        }
    }
}

#[cfg(test)]
mod tests {
    use eddy_repr::{GlobalId, ScalarType};

    use super::MirRelationExpr;
    use crate::MirScalarExpr;

    fn get(id: u64) -> MirRelationExpr {
        MirRelationExpr::Get {
            id: GlobalId::User(id),
            typ: vec![ScalarType::Int64.nullable(true)],
            name: format!("t{id}"),
        }
    }

    #[test]
    fn append_only_through_maps_filters_joins_and_unions_only() {
        let streams = |id: GlobalId| id == GlobalId::User(1) || id == GlobalId::User(2);
        let shaped = get(1)
            .map(vec![MirScalarExpr::Column(0)])
            .filter(vec![MirScalarExpr::Column(0)])
            .project(vec![1]);
        assert!(shaped.is_append_only(&streams));
        let join = MirRelationExpr::Join {
            inputs: vec![get(1), get(2)],
            equivalences: vec![],
        };
        assert!(join.clone().union(get(2)).is_append_only(&streams));
        // A table read anywhere, or anything that may retract, is not.
        assert!(!get(3).is_append_only(&streams));
        assert!(!join.union(get(3)).is_append_only(&streams));
        assert!(!get(1).negate().is_append_only(&streams));
        assert!(!get(1).distinct().is_append_only(&streams));
        assert!(!get(1).union(get(2).negate()).is_append_only(&streams));
    }
}
