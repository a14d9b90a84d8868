//! Interval joins of two streams: state bounded by the streams' watermarks.
//!
//! An inner join whose condition bounds the difference of two streams' event times,
//! `lo <= a - b <= hi` (from conjuncts such as `a BETWEEN b AND b + INTERVAL '1
//! second'`, `a >= b - x`, `a < b + y`; `a` a column of the left stream, `b` of the
//! right), can forget a row once nothing still to come can match it:
//! - a right row `b` matches left rows with `a <= b + hi`; left events still to come
//!   are at or after the left watermark, so `b` is done once that watermark reaches
//!   `b + hi + 1µs`;
//! - a left row `a` is done once the right watermark reaches `a - lo + 1µs`.
//!
//! A side whose rows come from its stream alone (nothing else in that input can
//! change a row) then gets an `ExpireArrivals` by that bound (its rows leave the join's
//! arrangement), and the join's output a `KeepExpired` by the same bound, which drops
//! the retractions the expiry causes and so keeps every pair
//! (`eddy_expr::watermark`). Without a finite bound on its side, or with a table in
//! its input, a side keeps its rows; without any, the join is planned as before.
//!
//! Only in maintained views (a one-off query is computed once), and not over a stream
//! with a `RETENTION`: there pairs leave with their rows, as everything read from
//! such a stream does, so that a restart computes them again from what it holds.

use eddy_expr::{BinaryFunc, MirRelationExpr, MirScalarExpr, WatermarkMode};
use eddy_repr::{Datum, GlobalId};

use crate::context::StatementContext;
use crate::scope::Scope;

/// The bounds found on `a - b` for one pair of event-time columns.
#[derive(Debug, Default, PartialEq, Eq)]
struct Interval {
    lo: Option<i64>,
    hi: Option<i64>,
}

/// One side's expiry: its column, the offset of its bound, and the other stream's
/// watermark.
struct Expiry {
    column: usize,
    offset_us: i64,
    watermark: MirRelationExpr,
}

impl Expiry {
    fn wrap(&self, input: MirRelationExpr, column: usize, mode: WatermarkMode) -> MirRelationExpr {
        input.watermarked(&self.watermark, column, self.offset_us, mode)
    }
}

/// Bounds the state of an inner join of `left` and `right` (`left_arity` columns, then
/// the right's, named by `scope`) under `predicates` when they make it an interval
/// join of two streams: expires the inputs that can be (see the module docs) and
/// returns the `KeepExpired` to put over the join's output.
pub(crate) fn bound(
    scx: &StatementContext,
    scope: &Scope,
    left: &mut MirRelationExpr,
    right: &mut MirRelationExpr,
    left_arity: usize,
    predicates: &[MirScalarExpr],
) -> KeepPairs {
    let mut expiries: Vec<Expiry> = vec![];
    if scx.in_view.get() {
        if let Some((a, b, interval)) = find_interval(scope, left_arity, predicates) {
            // Both are event-time columns (`find_interval` checked).
            let stream = |c: usize| scope.items.get(c)?.event_bound.map(|e| e.source);
            let (Some(left_stream), Some(right_stream)) = (stream(a), stream(b)) else {
                return KeepPairs::default();
            };
            let alone = |input: &MirRelationExpr, stream: GlobalId| {
                input.depends_on().into_iter().eq([stream])
            };
            if let (Some(lo), true) = (interval.lo, alone(left, left_stream)) {
                if let Some(watermark) = crate::window::watermark_of(scx, right_stream) {
                    let e = Expiry {
                        column: a,
                        offset_us: 1i64.saturating_sub(lo),
                        watermark,
                    };
                    *left = e.wrap(take(left), a, WatermarkMode::ExpireArrivals);
                    expiries.push(e);
                }
            }
            if let (Some(hi), true) = (interval.hi, alone(right, right_stream)) {
                if let Some(watermark) = crate::window::watermark_of(scx, left_stream) {
                    let e = Expiry {
                        column: b,
                        offset_us: hi.saturating_add(1),
                        watermark,
                    };
                    *right = e.wrap(take(right), b - left_arity, WatermarkMode::ExpireArrivals);
                    expiries.push(e);
                }
            }
        }
    }
    KeepPairs(expiries)
}

/// What keeps an interval join's pairs when its inputs expire: one `KeepExpired` per
/// expiring side (none for a join that is not an interval join of streams).
#[derive(Default)]
pub(crate) struct KeepPairs(Vec<Expiry>);

impl KeepPairs {
    /// `joined` (the join's output) under the `KeepExpired`s.
    pub(crate) fn apply(self, mut joined: MirRelationExpr) -> MirRelationExpr {
        for e in &self.0 {
            joined = e.wrap(joined, e.column, WatermarkMode::KeepExpired);
        }
        joined
    }
}

fn take(rel: &mut MirRelationExpr) -> MirRelationExpr {
    std::mem::replace(
        rel,
        MirRelationExpr::Constant {
            rows: vec![],
            typ: vec![],
        },
    )
}

/// The first pair of event-time columns (`a` on the left, `b` on the right) that
/// `predicates` bound the difference of, with the bounds.
fn find_interval(
    scope: &Scope,
    left_arity: usize,
    predicates: &[MirScalarExpr],
) -> Option<(usize, usize, Interval)> {
    // Raw event-time columns: bounded by themselves plus a microsecond.
    let event_time = |c: usize| {
        scope
            .items
            .get(c)
            .and_then(|i| i.event_bound)
            .is_some_and(|b| b.offset_us == 1 && !b.session && b.retention_us.is_none())
    };
    let mut found: Option<(usize, usize, Interval)> = None;
    for p in predicates {
        let Some((a, b, cmp, k)) = difference_bound(p, left_arity) else {
            continue;
        };
        if !event_time(a) || !event_time(b) {
            continue;
        }
        let entry = found.get_or_insert((a, b, Interval::default()));
        if (entry.0, entry.1) != (a, b) {
            continue;
        }
        let interval = &mut entry.2;
        match cmp {
            BinaryFunc::Gte => interval.lo = Some(interval.lo.map_or(k, |l| l.max(k))),
            BinaryFunc::Gt => {
                let k = k.saturating_add(1);
                interval.lo = Some(interval.lo.map_or(k, |l| l.max(k)));
            }
            BinaryFunc::Lte => interval.hi = Some(interval.hi.map_or(k, |h| h.min(k))),
            BinaryFunc::Lt => {
                let k = k.saturating_sub(1);
                interval.hi = Some(interval.hi.map_or(k, |h| h.min(k)));
            }
            _ => {}
        }
    }
    found
}

/// `p` as `a - b <cmp> k` (µs) with `a` a left column and `b` a right one, when it
/// compares a column plus or minus a constant interval with another.
fn difference_bound(
    p: &MirScalarExpr,
    left_arity: usize,
) -> Option<(usize, usize, BinaryFunc, i64)> {
    let MirScalarExpr::CallBinary { func, expr1, expr2 } = p else {
        return None;
    };
    if !matches!(
        func,
        BinaryFunc::Gte | BinaryFunc::Gt | BinaryFunc::Lte | BinaryFunc::Lt
    ) {
        return None;
    }
    let (p, x) = shifted_column(expr1)?;
    let (q, y) = shifted_column(expr2)?;
    // p + x <cmp> q + y  ⟺  p - q <cmp> y - x.
    let k = y.checked_sub(x)?;
    if p < left_arity && q >= left_arity {
        Some((p, q, func.clone(), k))
    } else if q < left_arity && p >= left_arity {
        // q - p <cmp'> x - y, with the comparison turned around.
        let flipped = eddy_expr::temporal::TemporalPredicate::flip(func.clone());
        Some((q, p, flipped, k.checked_neg()?))
    } else {
        None
    }
}

/// `e` as a column plus a constant number of microseconds: `#c`, `#c + interval` or
/// `#c - interval` (intervals without months).
fn shifted_column(e: &MirScalarExpr) -> Option<(usize, i64)> {
    match e {
        MirScalarExpr::Column(c) => Some((*c, 0)),
        MirScalarExpr::CallBinary { func, expr1, expr2 } => {
            let MirScalarExpr::Column(c) = expr1.as_ref() else {
                return None;
            };
            let Datum::Interval(interval) = expr2.as_literal()? else {
                return None;
            };
            if interval.months != 0 {
                return None;
            }
            let us = interval.fixed_micros()?;
            match func {
                BinaryFunc::Add => Some((*c, us)),
                BinaryFunc::Sub => Some((*c, us.checked_neg()?)),
                _ => None,
            }
        }
        _ => None,
    }
}
