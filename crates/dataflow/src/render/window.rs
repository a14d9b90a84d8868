//! Window: per partition, the rows in window order with one value per window function
//! appended (semantics in `eddy_expr::window` and `MirRelationExpr::Window`).
//!
//! Strategy: one reduction keyed by the partition key. Its logic sorts the partition's
//! rows by the order key (peers in encoding order, as `TopK` breaks ties), repeats each
//! row as often as its multiplicity, and computes every function over that sequence:
//! ranking functions, `ntile` and `lag`/`lead` from positions and peer groups;
//! frame-reading functions in one pass when the frame starts at UNBOUNDED PRECEDING
//! (a running fold) or ends at UNBOUNDED FOLLOWING (a fold from the end), and frame by
//! frame otherwise. `ROWS` bounds are positions, `GROUPS` bounds peer groups, and
//! `RANGE` offset bounds are found by binary search on the sorted order values.
//! `session_start`/`session_end` (`SESSION` in FROM) are one pass that cuts the sorted
//! partition where the gap between neighbours reaches the session gap, and one back. A
//! change re-evaluates the changed row's partition; differential emits only the
//! output rows that differ.
//!
//! Errors (`ntile(0)`, `nth_value(x, 0)`, a sum that overflows) are data: a partition
//! whose evaluation fails yields one marker row, `arity + 1` datums ending in an error
//! code, which becomes an error of the dataflow instead of the partition's rows.

use std::cmp::Ordering;

use eddy_expr::{
    BinaryFunc, ColumnOrder, EvalError, FrameBound, FrameUnits, WindowExpr, WindowFrame, WindowFunc,
};
use eddy_repr::zone::TimeZone;
use eddy_repr::{ColumnType, Datum, Diff, Interval, Row};

use super::operators::{flat_map_fallible, group_key, reduce_keyed, Rendered};
use super::reduce::{finish_value, Acc, AggPlan, ERROR_NONE, ERROR_OVERFLOW};

/// Why a partition failed, carried in its marker row.
const ERROR_NTILE: i64 = 10;
const ERROR_NTH_VALUE: i64 = 11;
const ERROR_BIGINT_RANGE: i64 = 12;
const ERROR_INTERNAL: i64 = 13;
const ERROR_TIMESTAMP_RANGE: i64 = 14;

fn error_of(code: i64) -> EvalError {
    match code {
        ERROR_OVERFLOW => EvalError::NumericOverflow,
        ERROR_NTILE => EvalError::InvalidArgumentForNtile,
        ERROR_NTH_VALUE => EvalError::InvalidArgumentForNthValue,
        ERROR_BIGINT_RANGE => EvalError::OutOfRange("bigint".into()),
        ERROR_TIMESTAMP_RANGE => EvalError::DatetimeFieldOverflow("timestamp out of range".into()),
        other => EvalError::Internal(format!("window function failed with code {other}")),
    }
}

/// A window function with what evaluating it needs beyond the plan.
struct Function {
    func: WindowFunc,
    frame: WindowFrame,
    /// For an aggregate: how it folds.
    agg: Option<AggPlan>,
}

/// Renders a `Window`.
pub(crate) fn render_window<'s>(
    name: &str,
    input: Rendered<'s>,
    input_typ: &[ColumnType],
    partition_key: Vec<usize>,
    order_key: Vec<ColumnOrder>,
    functions: &[WindowExpr],
) -> Rendered<'s> {
    let arity = input_typ.len() + functions.len();
    let functions: Vec<Function> = functions
        .iter()
        .map(|f| Function {
            agg: match &f.func {
                WindowFunc::Aggregate { func, value } => {
                    Some(AggPlan::new(func.clone(), input_typ[*value]))
                }
                _ => None,
            },
            func: f.func.clone(),
            frame: f.frame.clone(),
        })
        .collect();
    let keyed = input.oks.map(move |row: Row| {
        let key = group_key(&row, &partition_key);
        (key, row)
    });
    let rows = reduce_keyed(
        keyed.arrange_by_key_named(&format!("{name}/WindowArrange")),
        &format!("{name}/Window"),
        move |vals, out| {
            if let Err(code) = evaluate(&order_key, &functions, vals, out) {
                out.clear();
                let mut marker = vec![Datum::Null; arity];
                marker.push(Datum::Int64(code));
                out.push((Row::from_datums(marker), 1));
            }
        },
    )
    .as_collection(|_key, row| row.clone());
    let (oks, errs) = flat_map_fallible(rows, &format!("{name}/WindowErrors"), move |row: Row| {
        if row.iter().count() == arity {
            return Some(Ok(row));
        }
        let code = match row.iter().last() {
            Some(Datum::Int64(code)) => code,
            _ => ERROR_INTERNAL,
        };
        Some(Err(error_of(code)))
    });
    Rendered {
        oks,
        errs: input.errs.concat(errs),
    }
}

/// A partition's rows in window order, each repeated by its multiplicity, with the
/// bounds of every row's peer group.
struct Partition {
    rows: Vec<Vec<Datum>>,
    /// Position of the first and last peer of each row.
    peer_first: Vec<usize>,
    peer_last: Vec<usize>,
    /// The peer group of each row (0, 1, ...), and each group's first and last row.
    group_of: Vec<usize>,
    groups: Vec<(usize, usize)>,
    /// The order key when it is one column (what `RANGE` offsets bound), and the rows
    /// where it is not NULL (`lo..hi`: NULLs sort all first or all last).
    range_key: Option<ColumnOrder>,
    non_null: (usize, usize),
}

/// A `RANGE` offset bound on the order value: past every value on one side when
/// `value ± offset` overflows.
enum ValueBound {
    Below,
    At(Datum),
    Above,
}

impl Partition {
    fn new(order: &[ColumnOrder], vals: &[(&Row, Diff)]) -> Partition {
        let mut sorted: Vec<(Vec<Datum>, Diff)> = vals
            .iter()
            .filter(|(_, count)| *count > 0)
            .map(|(row, count)| (row.unpack(), *count))
            .collect();
        // Stable: peers stay in encoding order, as `TopK` keeps them.
        sorted.sort_by(|a, b| ColumnOrder::compare_rows(order, &a.0, &b.0));
        let mut rows = Vec::new();
        for (datums, count) in sorted {
            for _ in 1..count {
                rows.push(datums.clone());
            }
            rows.push(datums);
        }
        let n = rows.len();
        let mut peer_first = vec![0; n];
        let mut peer_last = vec![0; n];
        let mut first = 0;
        for i in 0..n {
            let peer = i > 0
                && ColumnOrder::compare_rows(order, &rows[i - 1], &rows[i]) == Ordering::Equal;
            if !peer {
                first = i;
            }
            peer_first[i] = first;
        }
        let mut last = n.saturating_sub(1);
        for i in (0..n).rev() {
            if i + 1 < n && peer_first[i + 1] != peer_first[i] {
                last = i;
            }
            peer_last[i] = last;
        }
        let mut group_of = Vec::with_capacity(n);
        let mut groups: Vec<(usize, usize)> = Vec::new();
        for i in 0..n {
            if peer_first[i] == i {
                groups.push((i, peer_last[i]));
            }
            group_of.push(groups.len() - 1);
        }
        let range_key = match order {
            [key] => Some(*key),
            _ => None,
        };
        let non_null = match range_key {
            Some(key) => {
                let is_null = |row: &Vec<Datum>| row[key.column].is_null();
                let nulls = rows.iter().filter(|r| is_null(r)).count();
                if key.nulls_last {
                    (0, n - nulls)
                } else {
                    (nulls, n)
                }
            }
            None => (0, n),
        };
        Partition {
            rows,
            peer_first,
            peer_last,
            group_of,
            groups,
            range_key,
            non_null,
        }
    }

    /// For a `RANGE` offset bound of row `i`: the position of the first row whose
    /// order value is not before `value ∓ offset` (`start`), or one past the last row
    /// whose value is not after `value ± offset` (`!start`). `preceding` says which
    /// side of the current row the offset points to. A NULL current value bounds the
    /// frame by its peers; NULL values are never within an offset of a value.
    fn value_bound(
        &self,
        i: usize,
        offset: &Datum,
        zone: Option<&TimeZone>,
        preceding: bool,
        start: bool,
    ) -> usize {
        let Some(key) = self.range_key else {
            return if start {
                self.peer_first[i]
            } else {
                self.peer_last[i] + 1
            };
        };
        let current = self.datum(i, key.column);
        if current.is_null() {
            return if start {
                self.peer_first[i]
            } else {
                self.peer_last[i] + 1
            };
        }
        // Toward smaller values: preceding ascending, or following descending.
        let subtract = preceding != key.desc;
        // With a zone (a `timestamptz` key, offsets with days or months): the
        // wall-clock time moves in it, as `timestamptz + interval` does.
        let func = match (subtract, zone) {
            (true, None) => eddy_expr::BinaryFunc::Sub,
            (false, None) => eddy_expr::BinaryFunc::Add,
            (true, Some(zone)) => eddy_expr::BinaryFunc::SubTimestampTzIntervalIn(*zone),
            (false, Some(zone)) => eddy_expr::BinaryFunc::AddTimestampTzIntervalIn(*zone),
        };
        let bound = match eddy_expr::eval::eval_binary_datums(&func, current, offset.clone()) {
            Ok(d) if !d.is_null() => ValueBound::At(d),
            _ if subtract => ValueBound::Below,
            _ => ValueBound::Above,
        };
        // Whether `v` comes before the bound in window order (`start`), or not after it.
        let cmp = |v: &Datum| -> Ordering {
            let ord = match &bound {
                ValueBound::Below => Ordering::Greater,
                ValueBound::Above => Ordering::Less,
                ValueBound::At(b) => eddy_expr::eval::compare(v, b).unwrap_or(Ordering::Equal),
            };
            if key.desc {
                ord.reverse()
            } else {
                ord
            }
        };
        let (lo, hi) = self.non_null;
        let rows = &self.rows[lo..hi];
        lo + if start {
            rows.partition_point(|r| cmp(&r[key.column]) == Ordering::Less)
        } else {
            rows.partition_point(|r| cmp(&r[key.column]) != Ordering::Greater)
        }
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn datum(&self, i: usize, column: usize) -> Datum {
        self.rows[i].get(column).cloned().unwrap_or(Datum::Null)
    }

    /// The rows of row `i`'s frame, inclusive; `None` if it is empty.
    fn frame(&self, frame: &WindowFrame, i: usize) -> Option<(usize, usize)> {
        let n = self.len();
        let offset = |k: &u64| usize::try_from(*k).unwrap_or(usize::MAX);
        // Offsets count rows, or peer groups from the row's own.
        let g = self.group_of[i];
        let last_group = self.groups.len() - 1;
        let zone = frame.zone.as_deref().and_then(TimeZone::from_name);
        let zone = zone.as_ref();
        let start = match (frame.units, &frame.start) {
            (_, FrameBound::ValuePreceding(d)) => self.value_bound(i, d, zone, true, true),
            (_, FrameBound::ValueFollowing(d)) => self.value_bound(i, d, zone, false, true),
            (_, FrameBound::UnboundedPreceding) => 0,
            (_, FrameBound::UnboundedFollowing) => n,
            (FrameUnits::Rows, FrameBound::Preceding(k)) => i.saturating_sub(offset(k)),
            (FrameUnits::Rows, FrameBound::CurrentRow) => i,
            (FrameUnits::Rows, FrameBound::Following(k)) => i.saturating_add(offset(k)),
            (_, FrameBound::CurrentRow) => self.peer_first[i],
            (_, FrameBound::Preceding(k)) => self.groups[g.saturating_sub(offset(k))].0,
            (_, FrameBound::Following(k)) => match self.groups.get(g.saturating_add(offset(k))) {
                Some((first, _)) => *first,
                None => n,
            },
        };
        let end = match (frame.units, &frame.end) {
            (_, FrameBound::ValuePreceding(d)) => {
                self.value_bound(i, d, zone, true, false).checked_sub(1)?
            }
            (_, FrameBound::ValueFollowing(d)) => {
                self.value_bound(i, d, zone, false, false).checked_sub(1)?
            }
            (_, FrameBound::UnboundedFollowing) => n - 1,
            (_, FrameBound::UnboundedPreceding) => return None,
            (FrameUnits::Rows, FrameBound::Following(k)) => i.saturating_add(offset(k)).min(n - 1),
            (FrameUnits::Rows, FrameBound::CurrentRow) => i,
            (FrameUnits::Rows, FrameBound::Preceding(k)) => i.checked_sub(offset(k))?,
            (_, FrameBound::CurrentRow) => self.peer_last[i],
            (_, FrameBound::Following(k)) => {
                self.groups[g.saturating_add(offset(k)).min(last_group)].1
            }
            (_, FrameBound::Preceding(k)) => self.groups[g.checked_sub(offset(k))?].1,
        };
        (start <= end && start < n).then_some((start, end))
    }
}

/// Evaluates every function over one partition and pushes its output rows.
fn evaluate(
    order: &[ColumnOrder],
    functions: &[Function],
    vals: &[(&Row, Diff)],
    out: &mut Vec<(Row, Diff)>,
) -> Result<(), i64> {
    let partition = Partition::new(order, vals);
    let n = partition.len();
    if n == 0 {
        return Ok(());
    }
    let mut columns: Vec<Vec<Datum>> = Vec::with_capacity(functions.len());
    let mut sessions = SessionCache::default();
    for f in functions {
        columns.push(evaluate_function(&partition, f, &mut sessions)?);
    }
    let mut rows: Vec<Row> = (0..n)
        .map(|i| {
            Row::pack(
                partition.rows[i]
                    .iter()
                    .chain(columns.iter().map(|c| &c[i])),
            )
        })
        .collect();
    rows.sort();
    for row in rows {
        match out.last_mut() {
            Some((last, count)) if *last == row => *count += 1,
            _ => out.push((row, 1)),
        }
    }
    Ok(())
}

fn int_arg(d: &Datum) -> Option<i64> {
    match d {
        Datum::Int16(v) => Some(i64::from(*v)),
        Datum::Int32(v) => Some(i64::from(*v)),
        Datum::Int64(v) => Some(*v),
        _ => None,
    }
}

/// The sessions of a partition, cut once for its `session_start` and `session_end`.
#[derive(Default)]
struct SessionCache {
    cut: Option<((usize, Interval), Sessions)>,
}

impl SessionCache {
    fn get(&mut self, p: &Partition, ts: usize, gap: Interval) -> Result<&Sessions, i64> {
        if self.cut.as_ref().is_none_or(|(at, _)| *at != (ts, gap)) {
            self.cut = Some(((ts, gap), sessions(p, ts, gap)?));
        }
        match &self.cut {
            Some((_, cut)) => Ok(cut),
            None => Err(ERROR_INTERNAL),
        }
    }
}

/// Every row's session start and end.
struct Sessions {
    starts: Vec<Datum>,
    ends: Vec<Datum>,
}

/// One function's value for every row of `p`.
fn evaluate_function(
    p: &Partition,
    f: &Function,
    sessions: &mut SessionCache,
) -> Result<Vec<Datum>, i64> {
    let n = p.len();
    let count = |v: usize| Datum::Int64(i64::try_from(v).unwrap_or(i64::MAX));
    Ok(match &f.func {
        WindowFunc::RowNumber => (0..n).map(|i| count(i + 1)).collect(),
        WindowFunc::Rank => (0..n).map(|i| count(p.peer_first[i] + 1)).collect(),
        WindowFunc::DenseRank => {
            let mut rank = 0;
            (0..n)
                .map(|i| {
                    if p.peer_first[i] == i {
                        rank += 1;
                    }
                    count(rank)
                })
                .collect()
        }
        WindowFunc::PercentRank => (0..n)
            .map(|i| {
                let r = if n > 1 {
                    p.peer_first[i] as f64 / (n - 1) as f64
                } else {
                    0.0
                };
                Datum::from(r)
            })
            .collect(),
        WindowFunc::CumeDist => (0..n)
            .map(|i| Datum::from((p.peer_last[i] + 1) as f64 / n as f64))
            .collect(),
        WindowFunc::Ntile { buckets } => {
            let Some(buckets) = int_arg(&p.datum(0, *buckets)) else {
                return Ok(vec![Datum::Null; n]);
            };
            if buckets <= 0 {
                return Err(ERROR_NTILE);
            }
            let buckets = usize::try_from(buckets).unwrap_or(usize::MAX);
            let per = n / buckets;
            let larger = n % buckets;
            let big = larger * (per + 1);
            (0..n)
                .map(|i| {
                    let bucket = if i < big {
                        i / (per + 1) + 1
                    } else {
                        larger + (i - big) / per.max(1) + 1
                    };
                    Datum::Int32(i32::try_from(bucket).unwrap_or(i32::MAX))
                })
                .collect()
        }
        WindowFunc::Lag {
            value,
            offset,
            default,
        }
        | WindowFunc::Lead {
            value,
            offset,
            default,
        } => {
            let lag = matches!(f.func, WindowFunc::Lag { .. });
            (0..n)
                .map(|i| {
                    let Some(k) = int_arg(&p.datum(i, *offset)) else {
                        return Datum::Null;
                    };
                    let k = if lag { k.saturating_neg() } else { k };
                    let target = i64::try_from(i).unwrap_or(i64::MAX).saturating_add(k);
                    match usize::try_from(target) {
                        Ok(j) if j < n => p.datum(j, *value),
                        _ => p.datum(i, *default),
                    }
                })
                .collect()
        }
        WindowFunc::FirstValue { value } => (0..n)
            .map(|i| match p.frame(&f.frame, i) {
                Some((s, _)) => p.datum(s, *value),
                None => Datum::Null,
            })
            .collect(),
        WindowFunc::LastValue { value } => (0..n)
            .map(|i| match p.frame(&f.frame, i) {
                Some((_, e)) => p.datum(e, *value),
                None => Datum::Null,
            })
            .collect(),
        WindowFunc::NthValue { value, n: nth } => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let Some(k) = int_arg(&p.datum(i, *nth)) else {
                    out.push(Datum::Null);
                    continue;
                };
                if k <= 0 {
                    return Err(ERROR_NTH_VALUE);
                }
                let k = usize::try_from(k - 1).unwrap_or(usize::MAX);
                out.push(match p.frame(&f.frame, i) {
                    Some((s, e)) if s.saturating_add(k) <= e => p.datum(s + k, *value),
                    _ => Datum::Null,
                });
            }
            out
        }
        WindowFunc::Aggregate { value, .. } => {
            let Some(plan) = &f.agg else {
                return Err(ERROR_INTERNAL);
            };
            aggregate(p, &f.frame, plan, *value)?
        }
        WindowFunc::SessionStart { ts, gap } => sessions.get(p, *ts, *gap)?.starts.clone(),
        WindowFunc::SessionEnd { ts, gap } => sessions.get(p, *ts, *gap)?.ends.clone(),
    })
}

/// The session start and end of every row of `p`, whose order key is the time column
/// `ts` ascending: a row opens a session when its `ts` is not before the previous
/// row's `ts + gap`; a session ends at its last `ts + gap`. One pass forward, one
/// back. A NULL `ts` (the planner filters them out) is in no session.
fn sessions(p: &Partition, ts: usize, gap: Interval) -> Result<Sessions, i64> {
    let n = p.len();
    let plus_gap = |d: Datum| -> Result<Datum, i64> {
        if d.is_null() {
            return Ok(Datum::Null);
        }
        eddy_expr::eval::eval_binary_datums(&BinaryFunc::Add, d, Datum::Interval(gap))
            .map_err(|_| ERROR_TIMESTAMP_RANGE)
    };
    // Each row's `ts + gap`, then where sessions begin.
    let mut reach = Vec::with_capacity(n);
    for i in 0..n {
        reach.push(plus_gap(p.datum(i, ts))?);
    }
    let mut starts = Vec::with_capacity(n);
    for i in 0..n {
        let here = p.datum(i, ts);
        let opens = i == 0
            || here.is_null()
            || reach[i - 1].is_null()
            || eddy_expr::eval::compare(&here, &reach[i - 1]).map_err(|_| ERROR_INTERNAL)?
                != Ordering::Less;
        starts.push(match (opens, starts.last()) {
            (false, Some(first)) => Datum::clone(first),
            _ => here,
        });
    }
    let mut ends = vec![Datum::Null; n];
    for i in (0..n).rev() {
        ends[i] = if i + 1 < n && starts[i + 1] == starts[i] && !starts[i].is_null() {
            ends[i + 1].clone()
        } else {
            reach[i].clone()
        };
    }
    Ok(Sessions { starts, ends })
}

/// An aggregate of column `value` over every row's frame.
fn aggregate(
    p: &Partition,
    frame: &WindowFrame,
    plan: &AggPlan,
    value: usize,
) -> Result<Vec<Datum>, i64> {
    let n = p.len();
    if plan.func.is_collecting() {
        return Err(ERROR_INTERNAL);
    }
    let mut error = ERROR_NONE;
    let mut states: Vec<Datum> = Vec::with_capacity(n);
    let empty = || Acc::new(plan, false);
    if frame.start == FrameBound::UnboundedPreceding {
        // Frame ends never move back: fold forward once.
        let mut acc = empty();
        let mut next = 0;
        for i in 0..n {
            if let Some((_, e)) = p.frame(frame, i) {
                while next <= e {
                    acc.add(p.datum(next, value), 1, &mut error);
                    next += 1;
                }
                states.push(acc.clone().into_state(&mut error));
            } else {
                states.push(empty().into_state(&mut error));
            }
        }
    } else if frame.end == FrameBound::UnboundedFollowing {
        // Frame starts never move back: fold from the end once.
        let mut acc = empty();
        let mut next = n;
        for i in (0..n).rev() {
            if let Some((s, _)) = p.frame(frame, i) {
                while next > s {
                    next -= 1;
                    acc.add(p.datum(next, value), 1, &mut error);
                }
                states.push(acc.clone().into_state(&mut error));
            } else {
                states.push(empty().into_state(&mut error));
            }
        }
        states.reverse();
    } else {
        for i in 0..n {
            let mut acc = empty();
            if let Some((s, e)) = p.frame(frame, i) {
                for j in s..=e {
                    acc.add(p.datum(j, value), 1, &mut error);
                }
            }
            states.push(acc.into_state(&mut error));
        }
    }
    if error != ERROR_NONE {
        return Err(error);
    }
    states
        .into_iter()
        .map(|state| finish_value(plan, state).map_err(|_| ERROR_BIGINT_RANGE))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_expr::AggregateFunc;

    fn ints(values: &[Option<i32>]) -> Vec<Row> {
        values
            .iter()
            .map(|v| Row::pack([v.map(Datum::Int32).unwrap_or(Datum::Null)].iter()))
            .collect()
    }

    fn run(funcs: Vec<WindowFunc>, frame: WindowFrame, rows: &[Row]) -> Vec<Vec<Datum>> {
        let order = [ColumnOrder {
            column: 0,
            desc: false,
            nulls_last: true,
        }];
        let typ = [eddy_repr::ScalarType::Int32.nullable(true)];
        let functions: Vec<Function> = funcs
            .into_iter()
            .map(|func| Function {
                agg: match &func {
                    WindowFunc::Aggregate { func, value } => {
                        Some(AggPlan::new(func.clone(), typ[*value]))
                    }
                    _ => None,
                },
                func,
                frame: frame.clone(),
            })
            .collect();
        let vals: Vec<(&Row, Diff)> = rows.iter().map(|r| (r, 1)).collect();
        let mut out = Vec::new();
        evaluate(&order, &functions, &vals, &mut out).unwrap();
        let mut got: Vec<Vec<Datum>> = out
            .into_iter()
            .flat_map(|(r, c)| std::iter::repeat_n(r.unpack(), c as usize))
            .collect();
        got.sort_by(|a, b| ColumnOrder::compare_rows(&order, a, b).then(a.cmp(b)));
        got
    }

    #[test]
    fn ranks_with_ties_and_nulls_last() {
        let rows = ints(&[Some(2), None, Some(1), Some(2)]);
        let got = run(
            vec![WindowFunc::Rank, WindowFunc::DenseRank],
            WindowFrame::default_frame(),
            &rows,
        );
        let ranks: Vec<(Datum, Datum)> = got.iter().map(|r| (r[1].clone(), r[2].clone())).collect();
        let i = Datum::Int64;
        assert_eq!(
            ranks,
            vec![(i(1), i(1)), (i(2), i(2)), (i(2), i(2)), (i(4), i(3))]
        );
    }

    #[test]
    fn running_sum_includes_peers_and_sliding_rows_frame() {
        let rows = ints(&[Some(1), Some(2), Some(2), Some(5)]);
        let sum = WindowFunc::Aggregate {
            func: AggregateFunc::Sum,
            value: 0,
        };
        let got = run(vec![sum.clone()], WindowFrame::default_frame(), &rows);
        let sums: Vec<Datum> = got.iter().map(|r| r[1].clone()).collect();
        let i = Datum::Int64;
        assert_eq!(sums, vec![i(1), i(5), i(5), i(10)]);
        let sliding = WindowFrame {
            units: FrameUnits::Rows,
            start: FrameBound::Preceding(1),
            end: FrameBound::Following(1),
            zone: None,
        };
        let got = run(vec![sum], sliding, &rows);
        let sums: Vec<Datum> = got.iter().map(|r| r[1].clone()).collect();
        assert_eq!(sums, vec![i(3), i(5), i(9), i(7)]);
    }

    #[test]
    fn sessions_merge_within_the_gap_and_split_at_it() {
        let at = |m: i64| {
            Datum::Timestamp(
                chrono::DateTime::from_timestamp(m * 60, 0)
                    .unwrap()
                    .naive_utc(),
            )
        };
        // Minutes 0, 10, 39 (within 30 of 10), 69 (exactly 30 after 39: a new session),
        // 69 again (a peer), and a NULL time.
        let rows: Vec<Row> = [Some(0), Some(10), Some(39), Some(69), Some(69), None]
            .iter()
            .map(|m| Row::pack([m.map(at).unwrap_or(Datum::Null)].iter()))
            .collect();
        let gap = Interval {
            months: 0,
            days: 0,
            micros: 30 * 60_000_000,
        };
        let got = run(
            vec![
                WindowFunc::SessionStart { ts: 0, gap },
                WindowFunc::SessionEnd { ts: 0, gap },
            ],
            WindowFrame::default_frame(),
            &rows,
        );
        let bounds: Vec<(Datum, Datum)> =
            got.iter().map(|r| (r[1].clone(), r[2].clone())).collect();
        assert_eq!(
            bounds,
            vec![
                (at(0), at(69)),
                (at(0), at(69)),
                (at(0), at(69)),
                (at(69), at(99)),
                (at(69), at(99)),
                (Datum::Null, Datum::Null),
            ]
        );
    }

    #[test]
    fn ntile_splits_larger_buckets_first() {
        let p = Partition::new(&[], &[]);
        assert_eq!(p.len(), 0);
        let rows = ints(&[Some(1), Some(2), Some(3), Some(4), Some(5)]);
        // ntile reads its argument from column 0 of the first row: 1 bucket.
        let got = run(
            vec![WindowFunc::Ntile { buckets: 0 }],
            WindowFrame::default_frame(),
            &rows,
        );
        assert!(got.iter().all(|r| r[1] == Datum::Int32(1)));
    }
}
