//! Reductions: `GROUP BY` with aggregates, and `DISTINCT`.
//!
//! Semantics (those of `MirRelationExpr::Reduce`): rows are grouped by the values of
//! `group_key`; each group with a positive number of rows yields one row of its key
//! followed by one value per aggregate. `count` counts non-NULL values; `sum`, `min`,
//! `max`, `bool_and` and `bool_or` ignore NULLs and are NULL when a group has no
//! non-NULL value. `sum` follows Postgres' output types (`smallint`/`integer` sum to
//! `bigint`, `bigint` and `numeric` to `numeric`, floats keep their type). A
//! `DISTINCT` aggregate sees each distinct value once. With no aggregates the
//! reduction is `DISTINCT` on the key.
//!
//! Strategy: aggregates are split into paths, each reduced on its own, and a final
//! reduction collates the paths' states into one row per group (skipped when there
//! is a single path):
//! - `count`, integer and numeric `sum`, `bool_and` and `bool_or` accumulate in the
//!   diff of one record per group (see `accum`): an update costs O(1) whatever the
//!   group's size.
//! - `min`, `max` and float or interval sums use a two-level (hierarchical)
//!   reduction, so a change to a group of any size rescans only a bucket of it.
//!   Level 1 groups by `(key, bucket)`, the bucket being a hash of the aggregate
//!   arguments modulo [`BUCKETS`], and folds each bucket into a partial state; level
//!   2 groups by key and merges at most [`BUCKETS`] partial states. States are
//!   recomputed from the values of their bucket, so retractions are exact
//!   (deleting the minimum finds the next one; float sums do not drift).
//! - Over an append-only input (a stream without retention, and maps, filters,
//!   joins and unions of such; `MirRelationExpr::is_append_only`), `min` and `max`
//!   join the accumulable aggregates in the diff of one record per group
//!   ([`AppendAccum`]): a group's extremes only move one way, so the group costs one
//!   record and an update O(1), where the hierarchical path arranges every value.
//! - Each DISTINCT argument gets its own path over its distinct `(key, value)`
//!   pairs (DISTINCT changes nothing for `min` and `max`, which stay in the shared
//!   hierarchical path).
//! - `array_agg` and `string_agg` each get a path that collects the group's values
//!   with their `ORDER BY` keys and sorts them (ties in value order, so the result is
//!   deterministic): a change rebuilds the group's value, O(group size).
//!
//! A partial state is a row `[rows: int8, error: int8, state per aggregate...]`;
//! `error` is non-zero when a sum overflowed or met an unexpected datum, and turns
//! into an error of the group at the end.

use eddy_expr::{AggregateExpr, AggregateFunc, ColumnOrder, EvalError, MirScalarExpr};
use eddy_repr::{ColumnType, Datum, Diff, Interval, Row, ScalarType};

use super::accum::{is_accumulable, Accum, AppendAccum};
use super::operators::{
    append_datum, explode_fallible, explode_named, flat_map_fallible, group_datum, key_datum,
    reduce_keyed, row_hash, row_prefix, ErrCollection, KeyedArranged, KeyedBuilder, KeyedSpine,
    Rendered, RowCollection,
};
use super::top_k::compare_order_keys;

/// Buckets per group at level 1: a change rescans about `group size / BUCKETS` rows
/// at level 1 and at most `BUCKETS` partial states at level 2.
pub(crate) const BUCKETS: u64 = 256;

pub(crate) const ERROR_NONE: i64 = 0;
pub(crate) const ERROR_OVERFLOW: i64 = 1;
pub(crate) const ERROR_UNEXPECTED: i64 = 2;

/// How one aggregate is computed.
#[derive(Clone, Debug)]
pub(crate) struct AggPlan {
    pub func: AggregateFunc,
    pub input_type: ScalarType,
    pub output_type: ScalarType,
}

impl AggPlan {
    pub(crate) fn new(func: AggregateFunc, input_type: ColumnType) -> AggPlan {
        AggPlan {
            output_type: func.output_type(input_type).scalar_type,
            input_type: input_type.scalar_type,
            func,
        }
    }
}

/// The running value of one aggregate over a bucket (or over merged partial states,
/// or a window frame).
#[derive(Clone, Debug)]
pub(crate) enum Acc {
    /// `count` over input values.
    Count(i64),
    /// `count` over partial states (which hold counts).
    CountStates(i64),
    SumInt {
        sum: i128,
        any: bool,
    },
    SumNumeric(Option<eddy_repr::Numeric>),
    SumFloat(Option<f64>),
    SumInterval(Option<Interval>),
    Min(Option<Datum>),
    Max(Option<Datum>),
    And(Option<bool>),
    Or(Option<bool>),
    /// An aggregate that is not computed by folding (a collecting one): reaching it
    /// is a planning bug, reported as an error of the group.
    NotFoldable,
}

impl Acc {
    /// The accumulator for input values (`merging == false`) or partial states.
    pub(crate) fn new(plan: &AggPlan, merging: bool) -> Acc {
        match plan.func {
            AggregateFunc::Count if merging => Acc::CountStates(0),
            AggregateFunc::Count => Acc::Count(0),
            AggregateFunc::Sum => match plan.input_type {
                ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64 if !merging => {
                    Acc::SumInt { sum: 0, any: false }
                }
                ScalarType::Float32 | ScalarType::Float64 => Acc::SumFloat(None),
                ScalarType::Interval => Acc::SumInterval(None),
                _ => Acc::SumNumeric(None),
            },
            AggregateFunc::Min => Acc::Min(None),
            AggregateFunc::Max => Acc::Max(None),
            AggregateFunc::BoolAnd => Acc::And(None),
            AggregateFunc::BoolOr => Acc::Or(None),
            // The collecting aggregates.
            _ => Acc::NotFoldable,
        }
    }

    /// Adds `datum` with multiplicity `mult` (positive). Sets `error` on overflow or on
    /// a datum this aggregate cannot take.
    pub(crate) fn add(&mut self, datum: Datum, mult: i64, error: &mut i64) {
        if datum.is_null() {
            return;
        }
        let fail = |error: &mut i64, code: i64| *error = (*error).max(code);
        match self {
            Acc::Count(n) => *n = n.saturating_add(mult),
            Acc::CountStates(n) => match datum {
                Datum::Int64(c) => *n = n.saturating_add(c.saturating_mul(mult)),
                _ => fail(error, ERROR_UNEXPECTED),
            },
            Acc::SumInt { sum, any } => {
                let v = match datum {
                    Datum::Int16(v) => v as i128,
                    Datum::Int32(v) => v as i128,
                    Datum::Int64(v) => v as i128,
                    _ => return fail(error, ERROR_UNEXPECTED),
                };
                match sum.checked_add(v * mult as i128) {
                    Some(s) => *sum = s,
                    None => fail(error, ERROR_OVERFLOW),
                }
                *any = true;
            }
            Acc::SumNumeric(sum) => {
                use eddy_repr::Numeric;
                let v = match datum {
                    Datum::Numeric(d) => d,
                    Datum::Int16(v) => Numeric::from(v),
                    Datum::Int32(v) => Numeric::from(v),
                    Datum::Int64(v) => Numeric::from(v),
                    _ => return fail(error, ERROR_UNEXPECTED),
                };
                // Exact, and with the largest scale of its values, as in Postgres; a
                // NaN makes the sum NaN (this fold starts over on every change, so a
                // retracted NaN is simply not folded in).
                let next = v
                    .checked_mul(Numeric::from(mult))
                    .and_then(|v| v.checked_add(sum.unwrap_or(Numeric::ZERO)));
                match next {
                    Ok(s) => *sum = Some(s),
                    Err(_) => fail(error, ERROR_OVERFLOW),
                }
            }
            Acc::SumFloat(sum) => {
                let v = match datum {
                    Datum::Float32(f) => f.0 as f64,
                    Datum::Float64(f) => f.0,
                    _ => return fail(error, ERROR_UNEXPECTED),
                };
                *sum = Some(sum.unwrap_or(0.0) + v * mult as f64);
            }
            Acc::SumInterval(sum) => {
                let Datum::Interval(v) = datum else {
                    return fail(error, ERROR_UNEXPECTED);
                };
                let prev = sum.unwrap_or_default();
                let m = i32::try_from(mult).ok();
                let next = m.and_then(|m| {
                    Some(Interval {
                        months: prev.months.checked_add(v.months.checked_mul(m)?)?,
                        days: prev.days.checked_add(v.days.checked_mul(m)?)?,
                        micros: prev.micros.checked_add(v.micros.checked_mul(mult)?)?,
                    })
                });
                match next {
                    Some(s) => *sum = Some(s),
                    None => fail(error, ERROR_OVERFLOW),
                }
            }
            Acc::Min(min) => {
                if min.as_ref().is_none_or(|m| datum.sql_cmp(m).is_lt()) {
                    *min = Some(datum);
                }
            }
            Acc::Max(max) => {
                if max.as_ref().is_none_or(|m| datum.sql_cmp(m).is_gt()) {
                    *max = Some(datum);
                }
            }
            Acc::And(acc) => match datum {
                Datum::Bool(b) => *acc = Some(acc.unwrap_or(true) && b),
                _ => fail(error, ERROR_UNEXPECTED),
            },
            Acc::Or(acc) => match datum {
                Datum::Bool(b) => *acc = Some(acc.unwrap_or(false) || b),
                _ => fail(error, ERROR_UNEXPECTED),
            },
            Acc::NotFoldable => fail(error, ERROR_UNEXPECTED),
        }
    }

    /// The partial state as a datum.
    pub(crate) fn into_state(self, error: &mut i64) -> Datum {
        match self {
            Acc::Count(n) | Acc::CountStates(n) => Datum::Int64(n),
            Acc::SumInt { any: false, .. } => Datum::Null,
            Acc::SumInt { sum, any: true } => match eddy_repr::Numeric::from_i128(sum) {
                Ok(d) => Datum::Numeric(d),
                Err(_) => {
                    *error = (*error).max(ERROR_OVERFLOW);
                    Datum::Null
                }
            },
            Acc::SumNumeric(s) => s.map(Datum::Numeric).unwrap_or(Datum::Null),
            Acc::SumFloat(s) => s.map(Datum::from).unwrap_or(Datum::Null),
            Acc::SumInterval(s) => s.map(Datum::Interval).unwrap_or(Datum::Null),
            Acc::Min(d) | Acc::Max(d) => d.unwrap_or(Datum::Null),
            Acc::And(b) | Acc::Or(b) => b.map(Datum::Bool).unwrap_or(Datum::Null),
            Acc::NotFoldable => Datum::Null,
        }
    }
}

/// Folds `(value row, count)` pairs into a partial state row. With `distinct`, each
/// value with a positive count counts once. `columns[j]` is the datum of the value row
/// that aggregate `j` reads. `None` if no row has a positive count.
fn fold_values(
    plans: &[AggPlan],
    columns: &[usize],
    distinct: bool,
    vals: &[(&Row, Diff)],
) -> Option<Row> {
    let mut total: i64 = 0;
    let mut error = ERROR_NONE;
    let mut accs: Vec<Acc> = plans.iter().map(|p| Acc::new(p, false)).collect();
    for (row, count) in vals {
        if *count <= 0 {
            continue;
        }
        total = total.saturating_add(*count);
        let mult = if distinct { 1 } else { *count };
        let datums = row.unpack();
        for (acc, column) in accs.iter_mut().zip(columns) {
            let datum = datums.get(*column).cloned().unwrap_or(Datum::Null);
            acc.add(datum, mult, &mut error);
        }
    }
    (total > 0).then(|| state_row(total, error, accs))
}

/// Merges `(partial state, count)` pairs into one partial state.
fn merge_states(plans: &[AggPlan], states: &[(&Row, Diff)]) -> Option<Row> {
    let mut total: i64 = 0;
    let mut error = ERROR_NONE;
    let mut accs: Vec<Acc> = plans.iter().map(|p| Acc::new(p, true)).collect();
    for (state, count) in states {
        if *count <= 0 {
            continue;
        }
        let mut datums = state.iter();
        let rows = match datums.next() {
            Some(Datum::Int64(n)) => n,
            _ => 0,
        };
        if let Some(Datum::Int64(code)) = datums.next() {
            error = error.max(code);
        }
        total = total.saturating_add(rows.saturating_mul(*count));
        for (acc, datum) in accs.iter_mut().zip(datums) {
            acc.add(datum, *count, &mut error);
        }
    }
    (total > 0).then(|| state_row(total, error, accs))
}

/// The state of a collecting aggregate over `(value row, count)` pairs, each value
/// row holding the argument followed by the `ORDER BY` keys. With `distinct`, each
/// value row with a positive count counts once. `None` if no row has a positive count.
fn collect_values(
    plan: &AggPlan,
    order: &[ColumnOrder],
    distinct: bool,
    vals: &[(&Row, Diff)],
) -> Option<Row> {
    let mut total: i64 = 0;
    let mut items: Vec<Vec<Datum>> = Vec::new();
    for (row, count) in vals {
        if *count <= 0 {
            continue;
        }
        total = total.saturating_add(*count);
        let datums = row.unpack();
        let copies = if distinct { 1 } else { *count };
        for _ in 1..copies {
            items.push(datums.clone());
        }
        items.push(datums);
    }
    if total == 0 {
        return None;
    }
    items.sort_by(|a, b| {
        compare_order_keys(order, &a[1..], &b[1..]).then_with(|| a[0].sql_cmp(&b[0]))
    });
    let values = items.into_iter().map(|mut item| item.swap_remove(0));
    if plan.func.is_ordered_set() {
        let sorted: Vec<Datum> = values.filter(|d| !d.is_null()).collect();
        // The planner checked the fraction, so no error is expected here.
        let (datum, error) = match plan.func.eval_ordered_set(&sorted) {
            Some(Ok(datum)) => (datum, ERROR_NONE),
            _ => (Datum::Null, ERROR_UNEXPECTED),
        };
        return Some(Row::pack(
            [Datum::Int64(total), Datum::Int64(error), datum].iter(),
        ));
    }
    let (datum, error) = match &plan.func {
        AggregateFunc::ArrayAgg => (Datum::Array(values.collect()), ERROR_NONE),
        AggregateFunc::JsonbAgg => {
            match eddy_expr::eval::jsonb_build_array(&values.collect::<Vec<_>>()) {
                Ok(array) => (array, ERROR_NONE),
                Err(_) => (Datum::Null, ERROR_UNEXPECTED),
            }
        }
        AggregateFunc::StringAgg { delimiter } => {
            let mut out: Option<String> = None;
            for value in values {
                match value {
                    Datum::Null => {}
                    Datum::String(v) => match &mut out {
                        None => out = Some(v.to_string()),
                        Some(s) => {
                            s.push_str(delimiter.as_deref().unwrap_or(""));
                            s.push_str(&v);
                        }
                    },
                    _ => return Some(state_row(total, ERROR_UNEXPECTED, vec![])),
                }
            }
            (out.map(Datum::from).unwrap_or(Datum::Null), ERROR_NONE)
        }
        _ => (Datum::Null, ERROR_UNEXPECTED),
    };
    Some(Row::pack(
        [Datum::Int64(total), Datum::Int64(error), datum].iter(),
    ))
}

fn state_row(total: i64, mut error: i64, accs: Vec<Acc>) -> Row {
    let states: Vec<Datum> = accs.into_iter().map(|a| a.into_state(&mut error)).collect();
    Row::pack(
        [Datum::Int64(total), Datum::Int64(error)]
            .iter()
            .chain(states.iter()),
    )
}

/// Turns a group's final state into its output row (key, then aggregates).
fn finalize(plans: &[AggPlan], key: &Row, state: &Row) -> Result<Row, EvalError> {
    let mut datums = state.iter();
    let _rows = datums.next();
    match datums.next() {
        Some(Datum::Int64(ERROR_NONE)) => {}
        Some(Datum::Int64(ERROR_OVERFLOW)) => return Err(EvalError::NumericOverflow),
        other => {
            return Err(EvalError::Internal(format!(
                "unexpected datum in aggregate state: {other:?}"
            )))
        }
    }
    let mut out = key.unpack();
    for (plan, datum) in plans.iter().zip(datums) {
        out.push(finish_value(plan, datum)?);
    }
    Ok(Row::from_datums(out))
}

/// An aggregate's value from its final state datum, in the aggregate's output type.
pub(crate) fn finish_value(plan: &AggPlan, state: Datum) -> Result<Datum, EvalError> {
    Ok(match (&plan.func, state) {
        (AggregateFunc::Sum, Datum::Numeric(d)) => match plan.output_type {
            ScalarType::Int64 => match d.trunc_to_i128().map(i64::try_from) {
                Some(Ok(v)) if d.scale() == 0 => Datum::Int64(v),
                _ => return Err(EvalError::OutOfRange("bigint".into())),
            },
            _ => Datum::Numeric(d),
        },
        (AggregateFunc::Sum, Datum::Float64(f)) if plan.output_type == ScalarType::Float32 => {
            Datum::Float32(eddy_repr::OrdF32(f.0 as f32))
        }
        (_, datum) => datum,
    })
}

/// One level of reduction of `(key, value)` pairs, arranged and reduced by `logic`,
/// which maps a key's values to at most one output value.
fn reduce_level<'s, L>(name: &str, input: VecCollectionKeyed<'s>, mut logic: L) -> KeyedArranged<'s>
where
    L: FnMut(&[(&Row, Diff)]) -> Option<Row> + 'static,
{
    reduce_keyed(
        input.arrange_by_key_named(&format!("{name}Arrange")),
        name,
        move |vals, out| {
            if let Some(row) = logic(vals) {
                out.push((row, 1));
            }
        },
    )
}

type VecCollectionKeyed<'s> =
    differential_dataflow::VecCollection<'s, super::operators::Time, (Row, Row), Diff>;

/// How a reduction path computes its aggregates.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PathKind {
    /// In the diff of one record per group ([`Accum`]).
    Accumulate,
    /// Over an input whose rows are only ever inserted: the accumulable aggregates
    /// with `min` and `max`, in the diff of one record per group ([`AppendAccum`]).
    AppendOnly,
    /// Hierarchically, from the values of buckets of the group.
    Hierarchical,
    /// From all of the group's values, sorted ([`collect_values`]); one aggregate.
    Collect,
}

/// One reduction path: some aggregates, reduced together.
struct Path {
    kind: PathKind,
    /// Indices of the aggregates this path computes.
    aggregates: Vec<usize>,
    /// For a DISTINCT path, the expression whose distinct values it aggregates.
    distinct: Option<MirScalarExpr>,
}

/// Assigns aggregates to paths: accumulable ones share one path, the others (min, max,
/// float sums) a hierarchical one, and DISTINCT aggregates get a path per expression
/// (DISTINCT changes nothing for min and max).
fn plan_paths(aggregates: &[AggregateExpr], plans: &[AggPlan], append_only: bool) -> Vec<Path> {
    let mut paths: Vec<Path> = Vec::new();
    for (i, (agg, plan)) in aggregates.iter().zip(plans).enumerate() {
        if plan.func.is_collecting() {
            paths.push(Path {
                kind: PathKind::Collect,
                aggregates: vec![i],
                distinct: agg.distinct.then(|| agg.expr.clone()),
            });
            continue;
        }
        let min_or_max = matches!(plan.func, AggregateFunc::Min | AggregateFunc::Max);
        let distinct = (agg.distinct && !min_or_max).then(|| agg.expr.clone());
        let kind = if append_only && distinct.is_none() && (is_accumulable(plan) || min_or_max) {
            PathKind::AppendOnly
        } else if is_accumulable(plan) {
            PathKind::Accumulate
        } else {
            PathKind::Hierarchical
        };
        match paths
            .iter_mut()
            .find(|p| p.kind == kind && p.kind != PathKind::Collect && p.distinct == distinct)
        {
            Some(path) => path.aggregates.push(i),
            None => paths.push(Path {
                kind,
                aggregates: vec![i],
                distinct,
            }),
        }
    }
    paths
}

/// Renders a `Reduce`.
pub(crate) fn render_reduce<'s>(
    name: &str,
    input: Rendered<'s>,
    input_typ: &[ColumnType],
    group_key: &[MirScalarExpr],
    aggregates: &[AggregateExpr],
    append_only: bool,
) -> Rendered<'s> {
    let key_arity = group_key.len();
    if aggregates.is_empty() {
        let group_key = group_key.to_vec();
        let read = columns_read(&group_key);
        let (keys, errs) = flat_map_fallible(input.oks, &format!("{name}/DistinctKey"), {
            move |row: Row| Some(eval_key(&group_key, &unpack_prefix(&row, read)))
        });
        let oks = keys.threshold_named(&format!("{name}/Distinct"), |_key, count: &Diff| {
            Diff::from(*count > 0)
        });
        return Rendered {
            oks,
            errs: input.errs.concat(errs),
        };
    }

    let plans: Vec<AggPlan> = aggregates
        .iter()
        .map(|a| AggPlan::new(a.func.clone(), a.expr.typ(input_typ)))
        .collect();
    let paths = plan_paths(aggregates, &plans, append_only);
    // Every aggregate's argument, then every aggregate's ORDER BY keys.
    let exprs: Vec<MirScalarExpr> = aggregates
        .iter()
        .map(|a| a.expr.clone())
        .chain(
            aggregates
                .iter()
                .flat_map(|a| a.order_by.iter().map(|o| o.expr.clone())),
        )
        .collect();

    // One path that sums (the common case: `count`, `sum`, `avg`, and on append-only
    // input `min` and `max` too): each row goes straight to its group's contribution.
    if let [path] = paths.as_slice() {
        type Summing<'s> = fn(
            &str,
            RowCollection<'s>,
            Vec<MirScalarExpr>,
            Vec<MirScalarExpr>,
            Vec<AggPlan>,
        ) -> (KeyedArranged<'s>, ErrCollection<'s>);
        let summing: Option<Summing<'s>> = match (&path.kind, &path.distinct) {
            (PathKind::AppendOnly, _) => Some(accumulate_rows::<AppendAccum>),
            (PathKind::Accumulate, None) => Some(accumulate_rows::<Accum>),
            _ => None,
        };
        if let Some(summing) = summing {
            // The ORDER BY keys are evaluated for their errors only, as below.
            let (summed, eval_errs) = summing(
                &format!("{name}/Reduce0"),
                input.oks.clone(),
                group_key.to_vec(),
                exprs.clone(),
                plans.clone(),
            );
            let states = summed.as_collection(|key, state| (key.clone(), state.clone()));
            let (oks, final_errs) = finalize_states(name, states, plans);
            return Rendered {
                oks,
                errs: input.errs.concat(eval_errs).concat(final_errs),
            };
        }
    }

    // Evaluate the key and `exprs` once per row; `order_columns[j]` are the positions of
    // aggregate `j`'s ORDER BY keys among them.
    let mut order_columns: Vec<Vec<usize>> = Vec::with_capacity(aggregates.len());
    let mut next_column = aggregates.len();
    for a in aggregates {
        order_columns.push((next_column..next_column + a.order_by.len()).collect());
        next_column += a.order_by.len();
    }
    let (evaluated, eval_errs) = {
        let group_key = group_key.to_vec();
        let read = columns_read(group_key.iter().chain(&exprs));
        flat_map_fallible(input.oks, &format!("{name}/ReduceEval"), move |row: Row| {
            let datums = unpack_prefix(&row, read);
            let key = match eval_key(&group_key, &datums) {
                Ok(key) => key,
                Err(e) => return Some(Err(e)),
            };
            let mut values = Vec::with_capacity(exprs.len());
            for e in &exprs {
                match e.eval(&datums) {
                    Ok(d) => values.push(d),
                    Err(e) => return Some(Err(e)),
                }
            }
            Some(Ok((key, Row::from_datums(values))))
        })
    };

    let mut outputs: Vec<KeyedArranged<'s>> = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        let op = format!("{name}/Reduce{index}");
        let path_plans: Vec<AggPlan> = path.aggregates.iter().map(|i| plans[*i].clone()).collect();
        let output = match (&path.kind, &path.distinct) {
            (PathKind::Accumulate, None) => {
                accumulate_values::<Accum>(&op, evaluated.clone(), &path.aggregates, path_plans)
            }
            (PathKind::AppendOnly, _) => accumulate_values::<AppendAccum>(
                &op,
                evaluated.clone(),
                &path.aggregates,
                path_plans,
            ),
            (PathKind::Accumulate, Some(_)) => {
                // The distinct (key, value) pairs, then their accumulation.
                let column = path.aggregates[0];
                let pairs = evaluated.clone().map(move |(key, values): (Row, Row)| {
                    let value = values
                        .iter()
                        .nth(column)
                        .map(key_datum)
                        .unwrap_or(Datum::Null);
                    append_datum(&key, &value)
                });
                let distinct = pairs
                    .threshold_named(&format!("{op}Distinct"), |_, count: &Diff| {
                        Diff::from(*count > 0)
                    });
                let accum_plans = path_plans.clone();
                let exploded =
                    explode_named(distinct, &format!("{op}Explode"), move |pair: Row, diff| {
                        let mut datums = pair.unpack();
                        let value = datums.pop().unwrap_or(Datum::Null);
                        let values = vec![value; accum_plans.len()];
                        Some((
                            Row::from_datums(datums),
                            Accum::of_row(&accum_plans, &values, diff),
                        ))
                    });
                accumulate(&op, exploded, path_plans)
            }
            (PathKind::Collect, distinct) => {
                let agg = path.aggregates[0];
                let columns: Vec<usize> = std::iter::once(agg)
                    .chain(order_columns[agg].iter().copied())
                    .collect();
                let keyed = evaluated.clone().map(move |(key, values): (Row, Row)| {
                    let values = values.unpack();
                    (key, Row::pack(columns.iter().map(|c| &values[*c])))
                });
                let order: Vec<ColumnOrder> = aggregates[agg]
                    .order_by
                    .iter()
                    .enumerate()
                    .map(|(column, o)| ColumnOrder {
                        column,
                        desc: o.desc,
                        nulls_last: o.nulls_last,
                    })
                    .collect();
                let plan = path_plans[0].clone();
                let distinct = distinct.is_some();
                reduce_level(&format!("{op}Collect"), keyed, move |vals| {
                    collect_values(&plan, &order, distinct, vals)
                })
            }
            (PathKind::Hierarchical, distinct) => {
                let distinct = distinct.is_some();
                let columns = path.aggregates.clone();
                let keyed = evaluated.clone().map(move |(key, values): (Row, Row)| {
                    let values = values.unpack();
                    let selected: Row = if distinct {
                        Row::pack([key_datum(values[columns[0]].clone())].iter())
                    } else {
                        Row::pack(columns.iter().map(|c| &values[*c]))
                    };
                    let bucket = Datum::Int64((row_hash(&selected) % BUCKETS) as i64);
                    (append_datum(&key, &bucket), selected)
                });
                let value_columns: Vec<usize> = if distinct {
                    vec![0; path_plans.len()]
                } else {
                    (0..path_plans.len()).collect()
                };
                let level1_plans = path_plans.clone();
                let level1 = reduce_level(&format!("{op}Level1"), keyed, move |vals| {
                    fold_values(&level1_plans, &value_columns, distinct, vals)
                });
                let level2_input = level1
                    .as_collection(move |key, state| (row_prefix(key, key_arity), state.clone()));
                reduce_level(&format!("{op}Level2"), level2_input, move |states| {
                    merge_states(&path_plans, states)
                })
            }
        };
        outputs.push(output);
    }

    // The final state of every group, with the aggregates in their original order.
    let states: VecCollectionKeyed<'s> = if outputs.len() == 1 {
        outputs
            .remove(0)
            .as_collection(|key, state| (key.clone(), state.clone()))
    } else {
        let mut tagged = outputs
            .into_iter()
            .enumerate()
            .map(|(index, arranged)| {
                arranged.as_collection(move |key, state| {
                    (
                        key.clone(),
                        Row::pack([Datum::Int64(index as i64)].iter()).concat(state),
                    )
                })
            })
            .collect::<Vec<_>>();
        let first = tagged.remove(0);
        let all = tagged.into_iter().fold(first, |acc, c| acc.concat(c));
        let path_aggregates: Vec<Vec<usize>> = paths.iter().map(|p| p.aggregates.clone()).collect();
        let count = aggregates.len();
        reduce_level(&format!("{name}/ReduceCollate"), all, move |vals| {
            collate(&path_aggregates, count, vals)
        })
        .as_collection(|key, state| (key.clone(), state.clone()))
    };

    let (oks, final_errs) = finalize_states(name, states, plans);
    Rendered {
        oks,
        errs: input.errs.concat(eval_errs).concat(final_errs),
    }
}

/// The output rows of a reduction from every group's final state.
fn finalize_states<'s>(
    name: &str,
    states: VecCollectionKeyed<'s>,
    plans: Vec<AggPlan>,
) -> (RowCollection<'s>, ErrCollection<'s>) {
    flat_map_fallible(
        states,
        &format!("{name}/ReduceFinalize"),
        move |(key, state)| Some(finalize(&plans, &key, &state)),
    )
}

/// A group's record's diff that holds its aggregates (see `accum`).
trait GroupAccum:
    differential_dataflow::difference::Semigroup + differential_dataflow::ExchangeData + Default
{
    /// The contribution of one row with aggregate arguments `values` (one per plan)
    /// and multiplicity `diff`.
    fn of_row(plans: &[AggPlan], values: &[Datum], diff: Diff) -> Self;

    /// The group's partial state; `None` if it has no rows.
    fn state(&self, plans: &[AggPlan]) -> Option<Row>;
}

impl GroupAccum for Accum {
    fn of_row(plans: &[AggPlan], values: &[Datum], diff: Diff) -> Self {
        Accum::of_row(plans, values, diff)
    }

    fn state(&self, plans: &[AggPlan]) -> Option<Row> {
        self.to_state(plans)
    }
}

impl GroupAccum for AppendAccum {
    fn of_row(plans: &[AggPlan], values: &[Datum], diff: Diff) -> Self {
        AppendAccum::of_row(plans, values, diff)
    }

    fn state(&self, plans: &[AggPlan]) -> Option<Row> {
        self.to_state(plans)
    }
}

/// The accumulation of the `(key, values)` pairs: each pair's diff becomes the
/// contribution of its values in `columns` (one per plan), summed per key.
fn accumulate_values<'s, R: GroupAccum>(
    name: &str,
    evaluated: VecCollectionKeyed<'s>,
    columns: &[usize],
    plans: Vec<AggPlan>,
) -> KeyedArranged<'s> {
    let columns = columns.to_vec();
    // The path's values are the leading ones (the common case of a single path).
    let leading = columns.iter().enumerate().all(|(i, c)| i == *c);
    let accum_plans = plans.clone();
    let exploded = explode_named(
        evaluated,
        &format!("{name}Explode"),
        move |(key, values): (Row, Row), diff| {
            let mut values = values.unpack();
            let selected = if leading {
                values.truncate(columns.len());
                values
            } else {
                columns.iter().map(|c| values[*c].clone()).collect()
            };
            Some((key, R::of_row(&accum_plans, &selected, diff)))
        },
    );
    accumulate(name, exploded, plans)
}

/// The accumulation of a reduction's single path that sums, straight from its input
/// rows: each row's key and `args` (the aggregates' arguments, one per plan, then any
/// expressions evaluated for their errors only) are evaluated and turned into its
/// group's contribution in one step, with no `(key, values)` row packed and unpacked
/// again in between. Errors of the evaluation are the second output.
fn accumulate_rows<'s, R: GroupAccum>(
    name: &str,
    rows: RowCollection<'s>,
    group_key: Vec<MirScalarExpr>,
    args: Vec<MirScalarExpr>,
    plans: Vec<AggPlan>,
) -> (KeyedArranged<'s>, ErrCollection<'s>) {
    let accum_plans = plans.clone();
    let read = columns_read(group_key.iter().chain(&args));
    let (exploded, errs) =
        explode_fallible(rows, &format!("{name}Explode"), move |row: Row, diff| {
            let datums = unpack_prefix(&row, read);
            let contribution = eval_key(&group_key, &datums).and_then(|key| {
                let mut values = args
                    .iter()
                    .map(|e| e.eval(&datums))
                    .collect::<Result<Vec<_>, _>>()?;
                values.truncate(accum_plans.len());
                Ok((key, R::of_row(&accum_plans, &values, diff)))
            });
            Some(contribution)
        });
    (accumulate(name, exploded, plans), errs)
}

/// Sums the diffs of each group ([`Accum`] or [`AppendAccum`]) and turns each total
/// into a partial state.
fn accumulate<'s, R: GroupAccum>(
    name: &str,
    exploded: differential_dataflow::VecCollection<'s, super::operators::Time, Row, R>,
    plans: Vec<AggPlan>,
) -> KeyedArranged<'s> {
    exploded
        .arrange_by_self_named(&format!("{name}Arrange"))
        .reduce_abelian::<_, KeyedBuilder, KeyedSpine, _, _>(
            name,
            move |_key, vals, out| {
                if let Some(state) = vals.first().and_then(|(_, acc)| acc.state(&plans)) {
                    out.push((state, 1));
                }
            },
            super::operators::keyed_output,
        )
}

/// Combines the final states of several paths (each tagged with its path index) into
/// one state with every aggregate in its original position.
fn collate(path_aggregates: &[Vec<usize>], count: usize, vals: &[(&Row, Diff)]) -> Option<Row> {
    let mut total: i64 = 0;
    let mut error = ERROR_NONE;
    let mut slots = vec![Datum::Null; count];
    for (tagged, diff) in vals {
        if *diff <= 0 {
            continue;
        }
        let mut datums = tagged.iter();
        let Some(Datum::Int64(path)) = datums.next() else {
            continue;
        };
        let Some(aggs) = usize::try_from(path)
            .ok()
            .and_then(|p| path_aggregates.get(p))
        else {
            continue;
        };
        if let Some(Datum::Int64(rows)) = datums.next() {
            total = total.max(rows);
        }
        if let Some(Datum::Int64(code)) = datums.next() {
            error = error.max(code);
        }
        for (agg, datum) in aggs.iter().zip(datums) {
            slots[*agg] = datum;
        }
    }
    (total > 0).then(|| {
        Row::pack(
            [Datum::Int64(total), Datum::Int64(error)]
                .iter()
                .chain(slots.iter()),
        )
    })
}

/// How many leading columns of a row `exprs` read: the prefix a row is unpacked to
/// for them (the columns after it, long strings for example, are not decoded).
fn columns_read<'a>(exprs: impl IntoIterator<Item = &'a MirScalarExpr>) -> usize {
    let mut read = 0;
    for e in exprs {
        e.visit_columns(&mut |c| read = read.max(c + 1));
    }
    read
}

/// The first `n` datums of `row`.
fn unpack_prefix(row: &Row, n: usize) -> Vec<Datum> {
    row.iter().take(n).collect()
}

/// Evaluates the group key on a row's datums.
fn eval_key(group_key: &[MirScalarExpr], datums: &[Datum]) -> Result<Row, EvalError> {
    let mut key = Vec::with_capacity(group_key.len());
    for k in group_key {
        key.push(group_datum(k.eval(datums)?));
    }
    Ok(Row::from_datums(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(func: AggregateFunc, input_type: ScalarType) -> AggPlan {
        AggPlan::new(func, input_type.nullable(true))
    }

    fn row(datums: &[Datum]) -> Row {
        Row::pack(datums)
    }

    #[test]
    fn folding_then_merging_gives_postgres_results() {
        let plans = vec![
            plan(AggregateFunc::Count, ScalarType::Int32),
            plan(AggregateFunc::Sum, ScalarType::Int32),
            plan(AggregateFunc::Min, ScalarType::Int32),
            plan(AggregateFunc::Max, ScalarType::Int32),
        ];
        let a = row(&[
            Datum::Int32(5),
            Datum::Int32(5),
            Datum::Int32(5),
            Datum::Int32(5),
        ]);
        let b = row(&[Datum::Null, Datum::Null, Datum::Null, Datum::Null]);
        let c = row(&[
            Datum::Int32(-2),
            Datum::Int32(-2),
            Datum::Int32(-2),
            Datum::Int32(-2),
        ]);
        let s1 = fold_values(&plans, &[0, 1, 2, 3], false, &[(&a, 2), (&b, 1)]).unwrap();
        let s2 = fold_values(&plans, &[0, 1, 2, 3], false, &[(&c, 1)]).unwrap();
        // The same state twice (two buckets with equal contents) counts twice.
        let merged = merge_states(&plans, &[(&s1, 1), (&s2, 2)]).unwrap();
        let out = finalize(&plans, &Row::empty(), &merged).unwrap();
        assert_eq!(
            out.unpack(),
            vec![
                Datum::Int64(4),
                Datum::Int64(6),
                Datum::Int32(-2),
                Datum::Int32(5)
            ]
        );
    }

    #[test]
    fn sum_of_nothing_is_null_and_empty_groups_vanish() {
        let plans = vec![plan(AggregateFunc::Sum, ScalarType::Int64)];
        let n = row(&[Datum::Null]);
        let s = fold_values(&plans, &[0], false, &[(&n, 3)]).unwrap();
        let out = finalize(&plans, &Row::empty(), &s).unwrap();
        assert_eq!(out.unpack(), vec![Datum::Null]);
        assert!(fold_values(&plans, &[0], false, &[(&n, -1)]).is_none());
    }

    #[test]
    fn sum_of_integers_out_of_bigint_range_is_an_error() {
        let plans = vec![plan(AggregateFunc::Sum, ScalarType::Int32)];
        let big = row(&[Datum::Int32(i32::MAX)]);
        let s = fold_values(&plans, &[0], false, &[(&big, i64::MAX / 2)]).unwrap();
        assert_eq!(
            finalize(&plans, &Row::empty(), &s),
            Err(EvalError::OutOfRange("bigint".into()))
        );
    }
}
