//! Accumulable aggregates: `count`, `sum` over integers and numerics, `bool_and` and
//! `bool_or`, maintained in the diff of a single record per group.
//!
//! Each input row contributes an [`Accum`], a sparse vector of 128-bit integer
//! slots (row count, non-NULL counts, sums, counts of true and false), multiplied by
//! the row's diff. Differential sums the diffs of equal records, so a group's record
//! carries the exact totals of all its rows at every time; an update costs O(1)
//! regardless of the group's size, and a retraction subtracts exactly what the
//! insertion added. A numeric sum keeps, per scale, the sums of the high and of the
//! low 64 bits of the coefficients of values with that many fractional digits (so a
//! slot never overflows 128 bits short of 2^63 rows), and it *counts* NaNs rather
//! than absorbing them: the sum is NaN while the count is positive, and deleting the
//! NaN row brings the number back, exactly.
//!
//! Slot layout: slot 0 counts rows; aggregate `j` uses slots
//! `1 + j * SLOTS_PER_AGGREGATE ..`, the first of which is its non-NULL count (then,
//! for integer sums, the sum as the low sum of scale 0; for numeric sums, the NaN count and per scale `s` the
//! high sum, the low sum and the count of values at `2 + 3s ..`; for booleans, the
//! counts of true and false);
//! [`UNEXPECTED_SLOT`] counts datums of a type the aggregate cannot take.

use differential_dataflow::difference::{Abelian, IsZero, Monoid, Semigroup};
use eddy_expr::AggregateFunc;
use eddy_repr::numeric::{sum_of_parts, NUMERIC_MAX_SCALE};
use eddy_repr::{Datum, Diff, Numeric, Row, ScalarType};
use serde::{Deserialize, Serialize};

use super::reduce::{AggPlan, ERROR_NONE, ERROR_OVERFLOW, ERROR_UNEXPECTED};

/// A numeric sum's slots: the non-NULL count, the NaN count, and per scale the high
/// and low coefficient sums and a count of values (the result has the largest scale
/// among its current values, as in Postgres).
const SLOTS_PER_AGGREGATE: u32 = 2 + 3 * (NUMERIC_MAX_SCALE + 1);
const NAN_SLOT: u32 = 1;
const SCALE_SLOTS: u32 = 2;
const UNEXPECTED_SLOT: u32 = u32::MAX;

/// Whether `plan`'s aggregate can be maintained in an [`Accum`].
pub(crate) fn is_accumulable(plan: &AggPlan) -> bool {
    match plan.func {
        AggregateFunc::Count | AggregateFunc::BoolAnd | AggregateFunc::BoolOr => true,
        AggregateFunc::Sum => matches!(
            plan.input_type,
            ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64 | ScalarType::Numeric { .. }
        ),
        AggregateFunc::Min | AggregateFunc::Max => false,
        // The collecting aggregates.
        _ => false,
    }
}

/// A sparse vector of integer slots, sorted by slot, with no zero values (so equal
/// accumulations are equal values and the zero accumulation is empty). Sums wrap on
/// overflow of 128 bits rather than panic; a numeric slot sums 64-bit halves of
/// coefficients, so that needs more than 2^63 rows.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct Accum(Vec<(u32, i128)>);

impl IsZero for Accum {
    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }
}

impl Semigroup for Accum {
    fn plus_equals(&mut self, rhs: &Self) {
        if rhs.0.is_empty() {
            return;
        }
        if self.0.is_empty() {
            self.0.clone_from(&rhs.0);
            return;
        }
        // The same slots (rows of one group under the same aggregates, the common
        // case when differential consolidates): add in place, no new vector.
        if self.0.len() == rhs.0.len() && self.0.iter().zip(&rhs.0).all(|(a, b)| a.0 == b.0) {
            for (a, b) in self.0.iter_mut().zip(&rhs.0) {
                a.1 = a.1.wrapping_add(b.1);
            }
            self.0.retain(|(_, v)| *v != 0);
            return;
        }
        let mut merged = Vec::with_capacity(self.0.len().max(rhs.0.len()));
        let (mut a, mut b) = (self.0.iter().peekable(), rhs.0.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some((sa, va)), Some((sb, vb))) => match sa.cmp(sb) {
                    std::cmp::Ordering::Less => {
                        merged.push((*sa, *va));
                        a.next();
                    }
                    std::cmp::Ordering::Greater => {
                        merged.push((*sb, *vb));
                        b.next();
                    }
                    std::cmp::Ordering::Equal => {
                        let v = va.wrapping_add(*vb);
                        if v != 0 {
                            merged.push((*sa, v));
                        }
                        a.next();
                        b.next();
                    }
                },
                (Some(x), None) => {
                    merged.push(**x);
                    a.next();
                }
                (None, Some(y)) => {
                    merged.push(**y);
                    b.next();
                }
                (None, None) => break,
            }
        }
        self.0 = merged;
    }
}

impl Monoid for Accum {
    fn zero() -> Self {
        Accum::default()
    }
}

impl Abelian for Accum {
    fn negate(&mut self) {
        for (_, v) in &mut self.0 {
            *v = v.wrapping_neg();
        }
    }
}

impl Accum {
    fn get(&self, slot: u32) -> i128 {
        self.0
            .binary_search_by_key(&slot, |(s, _)| *s)
            .map(|i| self.0[i].1)
            .unwrap_or(0)
    }

    /// The numeric sum of the aggregate at `base`, at the largest scale among its
    /// current values. Reads only the slots present (a sparse range).
    fn numeric_sum(&self, base: u32) -> Result<Numeric, eddy_repr::NumericError> {
        let first = base + SCALE_SLOTS;
        let start = self.0.partition_point(|(slot, _)| *slot < first);
        let end = self
            .0
            .partition_point(|(slot, _)| *slot < base + SLOTS_PER_AGGREGATE);
        let mut parts: Vec<(u32, i128, i128)> = Vec::new();
        let mut result_scale = 0;
        for &(slot, v) in &self.0[start..end] {
            let (scale, which) = ((slot - first) / 3, (slot - first) % 3);
            if parts.last().is_none_or(|p| p.0 != scale) {
                parts.push((scale, 0, 0));
            }
            let part = parts.last_mut().expect("pushed above");
            match which {
                0 => part.1 = v,
                1 => part.2 = v,
                _ if v > 0 => result_scale = scale,
                _ => {}
            }
        }
        sum_of_parts(parts, result_scale)
    }

    /// The contribution of one row with aggregate arguments `values` (one per plan)
    /// and multiplicity `diff`.
    pub(crate) fn of_row(plans: &[AggPlan], values: &[Datum], diff: Diff) -> Accum {
        if diff == 0 {
            return Accum::default();
        }
        let diff = diff as i128;
        let mut slots: Vec<(u32, i128)> = Vec::with_capacity(1 + 2 * plans.len());
        let mut unexpected = 0;
        slots.push((0, diff));
        for (j, (plan, value)) in plans.iter().zip(values).enumerate() {
            let base = 1 + j as u32 * SLOTS_PER_AGGREGATE;
            if value.is_null() {
                continue;
            }
            match (&plan.func, value) {
                (AggregateFunc::Count, _) => slots.push((base, diff)),
                (AggregateFunc::Sum, Datum::Int16(v)) => {
                    int_sum(&mut slots, base, *v as i128, diff)
                }
                (AggregateFunc::Sum, Datum::Int32(v)) => {
                    int_sum(&mut slots, base, *v as i128, diff)
                }
                (AggregateFunc::Sum, Datum::Int64(v)) => {
                    int_sum(&mut slots, base, *v as i128, diff)
                }
                (AggregateFunc::Sum, Datum::Numeric(d)) if d.is_nan() => {
                    slots.push((base, diff));
                    slots.push((base + NAN_SLOT, diff));
                }
                (AggregateFunc::Sum, Datum::Numeric(d)) => {
                    slots.push((base, diff));
                    let at = base + SCALE_SLOTS + 3 * d.scale();
                    let (high, low) = d.split();
                    for (slot, v) in [(at, high), (at + 1, low)] {
                        let v = v.wrapping_mul(diff);
                        if v != 0 {
                            slots.push((slot, v));
                        }
                    }
                    slots.push((at + 2, diff));
                }
                (AggregateFunc::BoolAnd | AggregateFunc::BoolOr, Datum::Bool(b)) => {
                    slots.push((base + u32::from(!*b), diff))
                }
                // Kept beside the slots, by an `AppendAccum`.
                (AggregateFunc::Min | AggregateFunc::Max, _) => {}
                _ => unexpected += diff,
            }
        }
        if unexpected != 0 {
            slots.push((UNEXPECTED_SLOT, unexpected));
        }
        Accum(slots)
    }

    /// The partial-state row `[rows, error, state per aggregate...]` of a group, as
    /// `reduce` collates and finalizes it; `None` if the group has no rows.
    pub(crate) fn to_state(&self, plans: &[AggPlan]) -> Option<Row> {
        self.state_datums(plans).map(Row::from_datums)
    }

    /// The datums of [`Accum::to_state`]'s row.
    fn state_datums(&self, plans: &[AggPlan]) -> Option<Vec<Datum>> {
        let rows = self.get(0);
        if rows <= 0 {
            return None;
        }
        let mut error = if self.get(UNEXPECTED_SLOT) != 0 {
            ERROR_UNEXPECTED
        } else {
            ERROR_NONE
        };
        let mut datums = vec![Datum::Int64(saturate(rows)), Datum::Null];
        for (j, plan) in plans.iter().enumerate() {
            let base = 1 + j as u32 * SLOTS_PER_AGGREGATE;
            // bool_and/bool_or count trues at `base` and falses at `base + 1`.
            let non_null = match plan.func {
                AggregateFunc::BoolAnd | AggregateFunc::BoolOr => {
                    self.get(base) + self.get(base + 1)
                }
                _ => self.get(base),
            };
            let datum = match plan.func {
                AggregateFunc::Count => Datum::Int64(saturate(non_null)),
                _ if non_null <= 0 => Datum::Null,
                AggregateFunc::Sum if self.get(base + NAN_SLOT) > 0 => Datum::Numeric(Numeric::NAN),
                AggregateFunc::Sum => match self.numeric_sum(base) {
                    Ok(sum) => Datum::Numeric(sum),
                    Err(_) => {
                        error = error.max(ERROR_OVERFLOW);
                        Datum::Null
                    }
                },
                AggregateFunc::BoolAnd => Datum::Bool(self.get(base + 1) == 0),
                AggregateFunc::BoolOr => Datum::Bool(self.get(base) > 0),
                // Not accumulable: never on this path.
                _ => Datum::Null,
            };
            datums.push(datum);
        }
        datums[1] = Datum::Int64(error);
        Some(datums)
    }
}

/// The diff of a group's record over an append-only input: an [`Accum`] for the
/// accumulable aggregates, and beside it the least (for `min`) or greatest (for `max`)
/// value seen by each `min` and `max` aggregate. Over an input whose rows are only
/// ever inserted a group's extremes only move one way, so adding two records keeps the
/// better of their extremes, and a group costs one record however many values it has
/// seen (the general path arranges every value, to find the next minimum when the
/// minimum is deleted). A retraction cannot be undone here: it is counted, and makes
/// the group an error rather than a wrong value.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct AppendAccum {
    accum: Accum,
    /// One per aggregate of the path (empty for the zero record, and for a path
    /// without `min` or `max`).
    extremes: Vec<Extreme>,
    /// Rows retracted (never, over an append-only input).
    retracted: i64,
}

/// What an [`AppendAccum`] keeps for one aggregate: nothing (its value is in the
/// slots), or the least or greatest value seen (`None` before any non-NULL value).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Extreme {
    InSlots,
    Min(Option<Datum>),
    Max(Option<Datum>),
}

impl IsZero for AppendAccum {
    fn is_zero(&self) -> bool {
        self.accum.is_zero() && self.retracted == 0 && self.extremes.is_empty()
    }
}

impl Semigroup for AppendAccum {
    fn plus_equals(&mut self, rhs: &Self) {
        self.accum.plus_equals(&rhs.accum);
        self.retracted = self.retracted.saturating_add(rhs.retracted);
        if self.extremes.is_empty() {
            self.extremes.clone_from(&rhs.extremes);
            return;
        }
        for (mine, theirs) in self.extremes.iter_mut().zip(&rhs.extremes) {
            match (mine, theirs) {
                (Extreme::Min(m), Extreme::Min(Some(t)))
                    if m.as_ref().is_none_or(|m| t.sql_cmp(m).is_lt()) =>
                {
                    *m = Some(t.clone())
                }
                (Extreme::Max(m), Extreme::Max(Some(t)))
                    if m.as_ref().is_none_or(|m| t.sql_cmp(m).is_gt()) =>
                {
                    *m = Some(t.clone())
                }
                _ => {}
            }
        }
    }
}

impl AppendAccum {
    /// The contribution of one row with aggregate arguments `values` (one per plan)
    /// and multiplicity `diff`.
    pub(crate) fn of_row(plans: &[AggPlan], values: &[Datum], diff: Diff) -> AppendAccum {
        if diff == 0 {
            return AppendAccum::default();
        }
        let value = |v: &Datum| (!v.is_null() && diff > 0).then(|| v.clone());
        let is_extreme =
            |plan: &AggPlan| matches!(plan.func, AggregateFunc::Min | AggregateFunc::Max);
        // Without a `min` or `max` there is nothing beside the slots to keep.
        let extremes = if plans.iter().any(is_extreme) {
            plans
                .iter()
                .zip(values)
                .map(|(plan, v)| match plan.func {
                    AggregateFunc::Min => Extreme::Min(value(v)),
                    AggregateFunc::Max => Extreme::Max(value(v)),
                    _ => Extreme::InSlots,
                })
                .collect()
        } else {
            Vec::new()
        };
        AppendAccum {
            accum: Accum::of_row(plans, values, diff),
            extremes,
            retracted: (-diff).max(0),
        }
    }

    /// The partial-state row of the group, as [`Accum::to_state`] makes it, with each
    /// `min` and `max` in its place; a group that saw a retraction is an error.
    pub(crate) fn to_state(&self, plans: &[AggPlan]) -> Option<Row> {
        let mut datums = self.accum.state_datums(plans)?;
        if self.retracted > 0 {
            datums[1] = Datum::Int64(ERROR_UNEXPECTED);
        }
        for (j, extreme) in self.extremes.iter().enumerate() {
            if let Extreme::Min(Some(v)) | Extreme::Max(Some(v)) = extreme {
                datums[2 + j] = v.clone();
            }
        }
        Some(Row::from_datums(datums))
    }
}

/// Records one integer summand: the non-NULL count and the sum (in the low slot of
/// scale 0, where [`Accum::numeric_sum`] reads it).
fn int_sum(slots: &mut Vec<(u32, i128)>, base: u32, value: i128, diff: i128) {
    slots.push((base, diff));
    let v = value.wrapping_mul(diff);
    if v != 0 {
        slots.push((base + SCALE_SLOTS + 1, v));
    }
}

fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(func: AggregateFunc, input_type: ScalarType) -> AggPlan {
        AggPlan::new(func, input_type.nullable(true))
    }

    #[test]
    fn accumulations_add_and_retract_exactly() {
        let plans = vec![
            plan(AggregateFunc::Count, ScalarType::Int32),
            plan(
                AggregateFunc::Sum,
                ScalarType::Numeric {
                    precision: None,
                    scale: None,
                },
            ),
            plan(AggregateFunc::BoolAnd, ScalarType::Bool),
        ];
        let a = Accum::of_row(
            &plans,
            &[
                Datum::Int32(1),
                Datum::Numeric("1.5".parse().unwrap()),
                Datum::Bool(true),
            ],
            2,
        );
        let b = Accum::of_row(
            &plans,
            &[
                Datum::Null,
                Datum::Numeric("0.25".parse().unwrap()),
                Datum::Bool(false),
            ],
            1,
        );
        let mut total = a.clone();
        total.plus_equals(&b);
        let state = total.to_state(&plans).unwrap();
        assert_eq!(
            state.unpack(),
            vec![
                Datum::Int64(3),
                Datum::Int64(ERROR_NONE),
                Datum::Int64(2),
                Datum::Numeric("3.25".parse().unwrap()),
                Datum::Bool(false),
            ]
        );
        let mut minus_b = b.clone();
        minus_b.negate();
        total.plus_equals(&minus_b);
        assert_eq!(total, a);
        let mut minus_a = a;
        minus_a.negate();
        total.plus_equals(&minus_a);
        assert!(total.is_zero());
        assert_eq!(total.to_state(&plans), None);
    }

    /// A NaN makes the sum NaN while it is there; retracting it brings the exact
    /// number back (the accumulation counts NaNs instead of absorbing them).
    #[test]
    fn numeric_sums_count_nans_and_retract_them() {
        let plans = vec![plan(
            AggregateFunc::Sum,
            ScalarType::Numeric {
                precision: None,
                scale: None,
            },
        )];
        let row =
            |v: &str, diff| Accum::of_row(&plans, &[Datum::Numeric(v.parse().unwrap())], diff);
        let sum = |a: &Accum| a.to_state(&plans).unwrap().unpack()[2].clone();
        let mut total = row("12345678901234567890123456789012345678", 1);
        total.plus_equals(&row("0.50", 2));
        total.plus_equals(&row("-12345678901234567890123456789012345000", 1));
        assert_eq!(format!("{:?}", sum(&total)), "Numeric(679.00)");
        let nan = row("NaN", 1);
        total.plus_equals(&nan);
        assert_eq!(format!("{:?}", sum(&total)), "Numeric(NaN)");
        let mut minus_nan = nan;
        minus_nan.negate();
        total.plus_equals(&minus_nan);
        assert_eq!(format!("{:?}", sum(&total)), "Numeric(679.00)");
        // Four values of 38 digits do not fit a numeric (an overflow error for the
        // group); retracting three of them brings the exact value back.
        let mut big = row("99999999999999999999999999999999999999", 4);
        assert_eq!(
            big.to_state(&plans).unwrap().unpack()[1],
            Datum::Int64(ERROR_OVERFLOW)
        );
        big.plus_equals(&row("-99999999999999999999999999999999999999", 3));
        assert_eq!(
            format!("{:?}", sum(&big)),
            "Numeric(99999999999999999999999999999999999999)"
        );
    }

    #[test]
    fn sums_over_the_same_slots_add_in_place_and_drop_zeros() {
        let plans = vec![
            plan(AggregateFunc::Count, ScalarType::Int32),
            plan(AggregateFunc::Sum, ScalarType::Int64),
        ];
        let row = |v: i64, diff| Accum::of_row(&plans, &[Datum::Int32(1), Datum::Int64(v)], diff);
        let mut total = row(5, 1);
        total.plus_equals(&row(7, 1));
        assert_eq!(total, {
            let mut merged = row(12, 1);
            merged.plus_equals(&row(0, 1));
            merged
        });
        // Equal slots, one of which cancels (the sum, 12 - 12): it goes, the rest stay.
        let slots = total.0.len();
        total.plus_equals(&row(-12, 1));
        assert_eq!(total.0.len(), slots - 1, "{total:?}");
        assert!(total.0.iter().all(|(_, v)| *v != 0));
        total.plus_equals(&{
            let mut back = total.clone();
            back.negate();
            back
        });
        assert!(total.is_zero());
    }

    /// Over an append-only input: counts and sums add up, `min` and `max` keep the
    /// extremes (NULLs ignored, text in SQL order), in any order of adding; a
    /// retraction makes the group an error.
    #[test]
    fn append_only_records_keep_extremes_beside_the_slots() {
        let plans = vec![
            plan(AggregateFunc::Count, ScalarType::Int32),
            plan(AggregateFunc::Min, ScalarType::Int32),
            plan(AggregateFunc::Max, ScalarType::Text),
            plan(AggregateFunc::Sum, ScalarType::Int32),
        ];
        let row = |v: Option<i32>, t: Option<&str>, diff| {
            let v = v.map_or(Datum::Null, Datum::Int32);
            let t = t.map_or(Datum::Null, |t| Datum::String(t.into()));
            AppendAccum::of_row(&plans, &[v.clone(), v, t, Datum::Int32(1)], diff)
        };
        let rows = [
            row(Some(5), Some("b"), 1),
            row(None, Some("c"), 2),
            row(Some(-3), None, 1),
            row(Some(7), Some("a"), 1),
        ];
        let expected = vec![
            Datum::Int64(5),
            Datum::Int64(ERROR_NONE),
            Datum::Int64(3),
            Datum::Int32(-3),
            Datum::String("c".into()),
            Datum::Numeric(5.into()),
        ];
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]] {
            let mut total = AppendAccum::default();
            assert!(total.is_zero());
            for i in order {
                total.plus_equals(&rows[i]);
            }
            assert_eq!(total.to_state(&plans).unwrap().unpack(), expected);
        }
        let only_nulls = row(None, None, 1);
        let state = only_nulls.to_state(&plans).unwrap().unpack();
        assert_eq!((&state[3], &state[4]), (&Datum::Null, &Datum::Null));
        let mut retracted = rows[0].clone();
        retracted.plus_equals(&rows[3]);
        retracted.plus_equals(&row(Some(7), Some("a"), -1));
        assert_eq!(
            retracted.to_state(&plans).unwrap().unpack()[1],
            Datum::Int64(ERROR_UNEXPECTED)
        );
    }

    #[test]
    fn bool_aggregates_of_only_false_values_are_false() {
        let plans = vec![
            plan(AggregateFunc::BoolAnd, ScalarType::Bool),
            plan(AggregateFunc::BoolOr, ScalarType::Bool),
        ];
        let row = [Datum::Bool(false), Datum::Bool(false)];
        let state = Accum::of_row(&plans, &row, 2).to_state(&plans).unwrap();
        assert_eq!(
            state.unpack(),
            vec![
                Datum::Int64(2),
                Datum::Int64(ERROR_NONE),
                Datum::Bool(false),
                Datum::Bool(false)
            ]
        );
    }
}
