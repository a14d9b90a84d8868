//! Temporal filters: predicates on `now()`, the oracle's time, that make rows enter and
//! leave a maintained view as wall-clock time passes.
//!
//! A [`TemporalPredicate`] is `now() <cmp> bound(row)`. Processing time is the
//! dataflow's own time (milliseconds since the Unix epoch, the oracle's clock), so a
//! conjunction of such predicates gives each row an interval of times `[lower, upper)`
//! in which it is in the result. A `TemporalFilter` renders an update `(row, t, d)` as
//! `(row, max(t, lower), d)` and, when `upper` is finite, `(row, max(t, upper), -d)`:
//! the row is inserted when it becomes valid and retracted, at a future time the
//! dataflow holds until the clock reaches it, when it stops being valid. Nothing is
//! kept per row besides that pending retraction, and once it applies the row leaves
//! the arrangement's state too.
//!
//! Bounds are `timestamp` (read as UTC) or `timestamptz` values in microseconds,
//! compared with `now()` in milliseconds: `now() > b` holds from the first millisecond
//! after `b`, `now() >= b` from the first millisecond at or after it. A NULL bound is
//! never satisfied; an error in a bound is the row's error.

use eddy_repr::{Datum, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::func::BinaryFunc;
use crate::scalar::MirScalarExpr;

/// `now() <cmp> bound`, with `cmp` one of `=`, `<`, `<=`, `>`, `>=`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TemporalPredicate {
    pub cmp: BinaryFunc,
    pub bound: MirScalarExpr,
}

/// The times `[lower, upper)` in which a row is valid; `upper` is `None` when it stays
/// valid for ever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub lower: Timestamp,
    pub upper: Option<Timestamp>,
}

impl TemporalPredicate {
    /// The comparison with the sides swapped: `a < now()` is `now() > a`.
    pub fn flip(cmp: BinaryFunc) -> BinaryFunc {
        match cmp {
            BinaryFunc::Lt => BinaryFunc::Gt,
            BinaryFunc::Lte => BinaryFunc::Gte,
            BinaryFunc::Gt => BinaryFunc::Lt,
            BinaryFunc::Gte => BinaryFunc::Lte,
            other => other,
        }
    }
}

/// The validity of the row `datums` under every predicate of `predicates`, or `None`
/// when it is never valid.
pub fn validity(
    predicates: &[TemporalPredicate],
    datums: &[Datum],
) -> Result<Option<Validity>, EvalError> {
    // In milliseconds, signed until the end (bounds before 1970 are possible).
    let mut lower = i64::MIN;
    let mut upper = i64::MAX;
    for p in predicates {
        let micros = match p.bound.eval(datums)? {
            Datum::Null => return Ok(None),
            Datum::Timestamp(ts) => ts.and_utc().timestamp_micros(),
            Datum::TimestampTz(ts) => ts.timestamp_micros(),
            other => {
                return Err(EvalError::Internal(format!(
                    "temporal filter bound is not a timestamp: {other:?}"
                )))
            }
        };
        // `now_ms * 1000 > micros` ⟺ `now_ms >= floor(micros / 1000) + 1`, and so on.
        let floor = micros.div_euclid(1000);
        let ceil = floor + i64::from(micros.rem_euclid(1000) != 0);
        let (at_least, below) = match &p.cmp {
            BinaryFunc::Gt => (Some(floor + 1), None),
            BinaryFunc::Gte => (Some(ceil), None),
            BinaryFunc::Lt => (None, Some(ceil)),
            BinaryFunc::Lte => (None, Some(floor + 1)),
            BinaryFunc::Eq => (Some(ceil), Some(floor + 1)),
            other => {
                return Err(EvalError::Internal(format!(
                    "temporal filter comparison {other:?}"
                )))
            }
        };
        lower = lower.max(at_least.unwrap_or(i64::MIN));
        upper = upper.min(below.unwrap_or(i64::MAX));
    }
    let lower = Timestamp::try_from(lower.max(0)).unwrap_or(0);
    if upper <= 0 || upper != i64::MAX && (upper as Timestamp) <= lower {
        return Ok(None);
    }
    Ok(Some(Validity {
        lower,
        upper: (upper != i64::MAX).then_some(upper as Timestamp),
    }))
}

/// The updates a temporal filter emits for `(row, time, diff)` valid in `v`: the
/// insertion at `max(time, lower)` and the retraction at `max(time, upper)`, or
/// nothing when both fall at the same time.
pub fn updates_for(v: Validity, time: Timestamp) -> Vec<(Timestamp, bool)> {
    let start = time.max(v.lower);
    match v.upper {
        Some(upper) if time.max(upper) <= start => vec![],
        Some(upper) => vec![(start, true), (time.max(upper), false)],
        None => vec![(start, true)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use eddy_repr::ScalarType;

    fn at(ms: i64, micros: i64) -> MirScalarExpr {
        let ts = DateTime::from_timestamp_micros(ms * 1000 + micros).unwrap();
        MirScalarExpr::literal(
            Datum::TimestampTz(ts),
            ScalarType::TimestampTz.nullable(false),
        )
    }

    fn pred(cmp: BinaryFunc, bound: MirScalarExpr) -> TemporalPredicate {
        TemporalPredicate { cmp, bound }
    }

    #[test]
    fn bounds_round_to_the_millisecond_the_comparison_needs() {
        let v = |preds: Vec<TemporalPredicate>| validity(&preds, &[]).unwrap();
        // now() > 1000 ms: valid from 1001; now() >= 1000.5 ms: from 1001.
        assert_eq!(
            v(vec![pred(BinaryFunc::Gt, at(1000, 0))]).unwrap().lower,
            1001
        );
        assert_eq!(
            v(vec![pred(BinaryFunc::Gte, at(1000, 0))]).unwrap().lower,
            1000
        );
        assert_eq!(
            v(vec![pred(BinaryFunc::Gte, at(1000, 500))]).unwrap().lower,
            1001
        );
        // now() < 2000 ms: valid before 2000; now() <= 2000 ms: through 2000.
        let lt = v(vec![pred(BinaryFunc::Lt, at(2000, 0))]).unwrap();
        assert_eq!((lt.lower, lt.upper), (0, Some(2000)));
        assert_eq!(
            v(vec![pred(BinaryFunc::Lte, at(2000, 0))]).unwrap().upper,
            Some(2001)
        );
        assert_eq!(
            v(vec![pred(BinaryFunc::Lt, at(2000, 1))]).unwrap().upper,
            Some(2001)
        );
        // An empty interval, a bound before the epoch, a NULL bound.
        assert_eq!(
            v(vec![
                pred(BinaryFunc::Gt, at(3000, 0)),
                pred(BinaryFunc::Lt, at(3001, 0))
            ]),
            None
        );
        assert_eq!(v(vec![pred(BinaryFunc::Lt, at(-5, 0))]), None);
        assert_eq!(v(vec![pred(BinaryFunc::Gt, at(-5, 0))]).unwrap().lower, 0);
        let null = MirScalarExpr::literal_null(ScalarType::TimestampTz);
        assert_eq!(v(vec![pred(BinaryFunc::Gt, null)]), None);
    }

    #[test]
    fn updates_insert_when_valid_and_retract_when_not() {
        let v = Validity {
            lower: 100,
            upper: Some(200),
        };
        assert_eq!(updates_for(v, 50), vec![(100, true), (200, false)]);
        assert_eq!(updates_for(v, 150), vec![(150, true), (200, false)]);
        assert_eq!(updates_for(v, 250), vec![]);
        let open = Validity {
            lower: 100,
            upper: None,
        };
        assert_eq!(updates_for(open, 120), vec![(120, true)]);
    }
}
