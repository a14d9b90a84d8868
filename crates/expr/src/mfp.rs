//! [`MapFilterProject`]: a fused map, filter and project over single rows, the shape
//! of per-row work that can run wherever rows are (in a dataflow or inside a peek).
//!
//! Semantics: given input columns `0..input_arity`, append `expressions` in order (each
//! may read earlier ones), keep the row if every predicate is `true`, then output the
//! `projection` columns.

use std::cmp::Ordering;
use std::ops::Bound;

use eddy_repr::{ColumnType, Datum, Row, ScalarType};
use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::func::{BinaryFunc, VariadicFunc};
use crate::relation::MirRelationExpr;
use crate::scalar::MirScalarExpr;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MapFilterProject {
    pub input_arity: usize,
    pub expressions: Vec<MirScalarExpr>,
    pub predicates: Vec<MirScalarExpr>,
    pub projection: Vec<usize>,
}

impl MapFilterProject {
    /// The identity on rows of `arity` columns.
    pub fn identity(arity: usize) -> Self {
        MapFilterProject {
            input_arity: arity,
            expressions: vec![],
            predicates: vec![],
            projection: (0..arity).collect(),
        }
    }

    pub fn is_identity(&self) -> bool {
        self.expressions.is_empty()
            && self.predicates.is_empty()
            && self.projection.iter().copied().eq(0..self.input_arity)
    }

    /// Splits `expr` into an MFP over a non-MFP input: `expr = mfp(input)`.
    pub fn extract(expr: &MirRelationExpr) -> (MapFilterProject, &MirRelationExpr) {
        match expr {
            MirRelationExpr::Map { input, scalars } => {
                let (mut mfp, inner) = Self::extract(input);
                // Scalars read the current output columns; rewrite them to the full
                // (input + expressions) column space.
                let projection = mfp.projection.clone();
                let base = mfp.input_arity + mfp.expressions.len();
                for (i, s) in scalars.iter().enumerate() {
                    let mut s = s.clone();
                    let width = projection.len();
                    s.permute(&|c| {
                        if c < width {
                            projection[c]
                        } else {
                            base + (c - width)
                        }
                    });
                    mfp.expressions.push(s);
                    mfp.projection.push(base + i);
                }
                (mfp, inner)
            }
            MirRelationExpr::Filter { input, predicates } => {
                let (mut mfp, inner) = Self::extract(input);
                let projection = mfp.projection.clone();
                for p in predicates {
                    let mut p = p.clone();
                    p.permute(&|c| projection[c]);
                    mfp.predicates.push(p);
                }
                (mfp, inner)
            }
            MirRelationExpr::Project { input, outputs } => {
                let (mut mfp, inner) = Self::extract(input);
                mfp.projection = outputs.iter().map(|c| mfp.projection[*c]).collect();
                (mfp, inner)
            }
            other => (MapFilterProject::identity(other.arity()), other),
        }
    }

    /// Applies the MFP to one row's datums: `Ok(None)` if a predicate rejects it.
    pub fn apply(&self, mut datums: Vec<Datum>) -> Result<Option<Row>, EvalError> {
        let mut evaluated = 0;
        // Evaluate expressions lazily: only as far as the predicates and projection need.
        for p in &self.predicates {
            let need = p.support().into_iter().max().map(|c| c + 1).unwrap_or(0);
            while datums.len() < need {
                let d = self.expressions[evaluated].eval(&datums)?;
                datums.push(d);
                evaluated += 1;
            }
            if p.eval(&datums)? != Datum::Bool(true) {
                return Ok(None);
            }
        }
        while evaluated < self.expressions.len() {
            let d = self.expressions[evaluated].eval(&datums)?;
            datums.push(d);
            evaluated += 1;
        }
        Ok(Some(Row::pack(self.projection.iter().map(|c| &datums[*c]))))
    }

    pub fn apply_row(&self, row: &Row) -> Result<Option<Row>, EvalError> {
        self.apply(row.unpack())
    }

    /// The datums that every row this MFP keeps has in its leading input columns: for
    /// the longest run of columns `0..k` that predicates of the form `#c = literal` (or
    /// `literal = #c`, also inside an `AND`) pin to a non-null literal. `input_types`
    /// are the input's column types.
    ///
    /// A column counts only if its type's row encoding is canonical for equality (SQL
    /// equal values have equal bytes: integers, text and varchar, bool, date,
    /// timestamp, timestamptz, oid; not numeric, where `1.5 = 1.50`, nor floats or
    /// intervals) and the literal has that same type, so a row is kept only if its
    /// packed bytes start with `Row::pack` of the returned datums. This lets a reader
    /// of an arrangement keyed by whole rows seek to that prefix instead of scanning.
    pub fn literal_key_prefix(&self, input_types: &[ColumnType]) -> Vec<Datum> {
        let mut pinned: Vec<Option<Datum>> = vec![None; self.input_arity.min(input_types.len())];
        let mut conjuncts: Vec<&MirScalarExpr> = self.predicates.iter().collect();
        while let Some(p) = conjuncts.pop() {
            match p {
                MirScalarExpr::CallVariadic {
                    func: VariadicFunc::And,
                    exprs,
                } => conjuncts.extend(exprs),
                MirScalarExpr::CallBinary {
                    func: BinaryFunc::Eq,
                    expr1,
                    expr2,
                } => {
                    let (column, literal) = match (expr1.as_ref(), expr2.as_ref()) {
                        (MirScalarExpr::Column(c), MirScalarExpr::Literal(Ok(d), t))
                        | (MirScalarExpr::Literal(Ok(d), t), MirScalarExpr::Column(c)) => {
                            (*c, (d, t))
                        }
                        _ => continue,
                    };
                    let (datum, literal_type) = literal;
                    let Some(slot) = pinned.get_mut(column) else {
                        continue;
                    };
                    let column_type = &input_types[column].scalar_type;
                    if slot.is_none()
                        && equality_is_bytewise(column_type, datum)
                        && same_encoding_class(column_type, &literal_type.scalar_type)
                    {
                        *slot = Some(datum.clone());
                    }
                }
                _ => {}
            }
        }
        pinned.into_iter().map_while(|d| d).collect()
    }
}

/// The values one column of the rows an MFP keeps lies between: what its predicates
/// `#c < literal`, `#c <= literal`, `#c > literal` and `#c >= literal` (either way
/// round, also inside an `AND`; `BETWEEN` is planned as two of them) allow, the
/// tightest of each side. Rows with NULL there are never kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiteralRange {
    pub lower: Bound<Datum>,
    pub upper: Bound<Datum>,
}

impl MapFilterProject {
    /// The range the predicates hold input column `column` to, if they bound it on
    /// some side. `input_types` are the input's column types.
    ///
    /// Only a column whose type has a sorted row encoding
    /// ([`eddy_repr::row::has_sorted_encoding`]: not numeric) counts, compared with a
    /// non-null literal of that same type (text and varchar alike), so that the rows
    /// in the range are those of a byte range of an index sorted by that column (the
    /// predicates stay, and decide each row).
    pub fn literal_range(&self, column: usize, input_types: &[ColumnType]) -> Option<LiteralRange> {
        let column_type = &input_types.get(column)?.scalar_type;
        if column >= self.input_arity || !eddy_repr::row::has_sorted_encoding(column_type) {
            return None;
        }
        let mut range = LiteralRange {
            lower: Bound::Unbounded,
            upper: Bound::Unbounded,
        };
        let mut conjuncts: Vec<&MirScalarExpr> = self.predicates.iter().collect();
        while let Some(p) = conjuncts.pop() {
            let (func, expr1, expr2) = match p {
                MirScalarExpr::CallVariadic {
                    func: VariadicFunc::And,
                    exprs,
                } => {
                    conjuncts.extend(exprs);
                    continue;
                }
                MirScalarExpr::CallBinary { func, expr1, expr2 } => (func, expr1, expr2),
                _ => continue,
            };
            // `#c op literal`, or `literal op #c` read the other way round.
            let (func, literal) = match (expr1.as_ref(), expr2.as_ref()) {
                (MirScalarExpr::Column(c), MirScalarExpr::Literal(Ok(d), t)) if *c == column => {
                    (func.clone(), (d, t))
                }
                (MirScalarExpr::Literal(Ok(d), t), MirScalarExpr::Column(c)) if *c == column => {
                    let flipped = match func {
                        BinaryFunc::Lt => BinaryFunc::Gt,
                        BinaryFunc::Lte => BinaryFunc::Gte,
                        BinaryFunc::Gt => BinaryFunc::Lt,
                        BinaryFunc::Gte => BinaryFunc::Lte,
                        _ => continue,
                    };
                    (flipped, (d, t))
                }
                _ => continue,
            };
            let (datum, literal_type) = literal;
            if datum.is_null() || !same_encoding_class(column_type, &literal_type.scalar_type) {
                continue;
            }
            match func {
                BinaryFunc::Gt => {
                    tighten(&mut range.lower, Bound::Excluded(datum), Ordering::Greater)
                }
                BinaryFunc::Gte => {
                    tighten(&mut range.lower, Bound::Included(datum), Ordering::Greater)
                }
                BinaryFunc::Lt => tighten(&mut range.upper, Bound::Excluded(datum), Ordering::Less),
                BinaryFunc::Lte => {
                    tighten(&mut range.upper, Bound::Included(datum), Ordering::Less)
                }
                _ => {}
            }
        }
        let unbounded = |b: &Bound<Datum>| matches!(b, Bound::Unbounded);
        (!unbounded(&range.lower) || !unbounded(&range.upper)).then_some(range)
    }
}

/// Keeps in `bound` the tighter of it and `new`: the one further in direction
/// `inward` (`Greater` for a lower bound), or the exclusive one of two equal values.
fn tighten(bound: &mut Bound<Datum>, new: Bound<&Datum>, inward: Ordering) {
    let tighter = match (&*bound, new) {
        (_, Bound::Unbounded) => false,
        (Bound::Unbounded, _) => true,
        (Bound::Included(old) | Bound::Excluded(old), Bound::Included(value)) => {
            value.sql_cmp(old) == inward
        }
        (Bound::Included(old), Bound::Excluded(value)) => value.sql_cmp(old) != inward.reverse(),
        (Bound::Excluded(old), Bound::Excluded(value)) => value.sql_cmp(old) == inward,
    };
    if tighter {
        *bound = new.cloned();
    }
}

/// Whether `datum` is a non-null value of `typ`'s row representation, and equal values
/// of `typ` always pack to equal bytes.
fn equality_is_bytewise(typ: &ScalarType, datum: &Datum) -> bool {
    matches!(
        (typ, datum),
        (ScalarType::Bool, Datum::Bool(_))
            | (ScalarType::Int16, Datum::Int16(_))
            | (ScalarType::Int32, Datum::Int32(_))
            | (ScalarType::Int64, Datum::Int64(_))
            | (
                ScalarType::Text | ScalarType::Varchar { .. },
                Datum::String(_)
            )
            | (ScalarType::Date, Datum::Date(_))
            | (ScalarType::Timestamp, Datum::Timestamp(_))
            | (ScalarType::TimestampTz, Datum::TimestampTz(_))
            | (ScalarType::Oid, Datum::Oid(_))
    )
}

/// Whether two types compare by the same equality on the same representation: the
/// same type, or text and varchar of any length (both compare strings bytewise).
fn same_encoding_class(a: &ScalarType, b: &ScalarType) -> bool {
    let strings = |t: &ScalarType| matches!(t, ScalarType::Text | ScalarType::Varchar { .. });
    a == b || (strings(a) && strings(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::func::UnaryFunc;

    fn eq(a: MirScalarExpr, b: MirScalarExpr) -> MirScalarExpr {
        MirScalarExpr::CallBinary {
            func: BinaryFunc::Eq,
            expr1: Box::new(a),
            expr2: Box::new(b),
        }
    }

    fn lit(d: Datum, t: ScalarType) -> MirScalarExpr {
        MirScalarExpr::literal(d, t.nullable(false))
    }

    fn filter(arity: usize, predicates: Vec<MirScalarExpr>) -> MapFilterProject {
        MapFilterProject {
            predicates,
            ..MapFilterProject::identity(arity)
        }
    }

    #[test]
    fn key_prefix_from_leading_equalities() {
        let types = vec![
            ScalarType::Int64.nullable(false),
            ScalarType::Text.nullable(true),
            ScalarType::Numeric {
                precision: None,
                scale: None,
            }
            .nullable(true),
        ];
        let id = || lit(Datum::Int64(10), ScalarType::Int64);
        let name = || lit(Datum::String("a".into()), ScalarType::Text);
        let col = MirScalarExpr::Column;
        // Either operand order.
        let mfp = filter(3, vec![eq(col(0), id())]);
        assert_eq!(mfp.literal_key_prefix(&types), vec![Datum::Int64(10)]);
        let mfp = filter(3, vec![eq(id(), col(0))]);
        assert_eq!(mfp.literal_key_prefix(&types), vec![Datum::Int64(10)]);
        // Two columns, in separate predicates or inside an AND.
        let both = vec![Datum::Int64(10), Datum::String("a".into())];
        let mfp = filter(3, vec![eq(col(1), name()), eq(col(0), id())]);
        assert_eq!(mfp.literal_key_prefix(&types), both);
        let and = MirScalarExpr::CallVariadic {
            func: VariadicFunc::And,
            exprs: vec![eq(col(0), id()), eq(name(), col(1))],
        };
        assert_eq!(filter(3, vec![and]).literal_key_prefix(&types), both);
        // A gap at column 0 gives no prefix.
        let mfp = filter(3, vec![eq(col(1), name())]);
        assert!(mfp.literal_key_prefix(&types).is_empty());
        // Numeric is not canonical: stop before it.
        let num = lit(
            Datum::Numeric("1.50".parse().unwrap()),
            ScalarType::Numeric {
                precision: None,
                scale: None,
            },
        );
        let mfp = filter(
            3,
            vec![eq(col(0), id()), eq(col(1), name()), eq(col(2), num)],
        );
        assert_eq!(mfp.literal_key_prefix(&types), both);
    }

    #[test]
    fn no_key_prefix_without_an_exact_literal() {
        let types = vec![ScalarType::Int64.nullable(false)];
        let col = MirScalarExpr::Column;
        // An int4 literal against an int8 column encodes differently.
        let mfp = filter(
            1,
            vec![eq(col(0), lit(Datum::Int32(10), ScalarType::Int32))],
        );
        assert!(mfp.literal_key_prefix(&types).is_empty());
        // NULL, an error literal, an expression of the column, and other comparisons.
        let null = MirScalarExpr::literal_null(ScalarType::Int64);
        assert!(filter(1, vec![eq(col(0), null)])
            .literal_key_prefix(&types)
            .is_empty());
        let error = MirScalarExpr::Literal(
            Err(EvalError::DivisionByZero),
            ScalarType::Int64.nullable(false),
        );
        assert!(filter(1, vec![eq(col(0), error)])
            .literal_key_prefix(&types)
            .is_empty());
        let negated = MirScalarExpr::CallUnary {
            func: UnaryFunc::Neg,
            expr: Box::new(col(0)),
        };
        let ten = || lit(Datum::Int64(10), ScalarType::Int64);
        assert!(filter(1, vec![eq(negated, ten())])
            .literal_key_prefix(&types)
            .is_empty());
        let lt = MirScalarExpr::CallBinary {
            func: BinaryFunc::Lt,
            expr1: Box::new(col(0)),
            expr2: Box::new(ten()),
        };
        assert!(filter(1, vec![lt]).literal_key_prefix(&types).is_empty());
        // A column computed by the MFP is not an input column.
        let mut mapped = filter(1, vec![eq(col(1), ten())]);
        mapped.expressions.push(col(0));
        assert!(mapped.literal_key_prefix(&types).is_empty());
        // Floats are not canonical here.
        let floats = vec![ScalarType::Float64.nullable(false)];
        let f = lit(Datum::from(1.0f64), ScalarType::Float64);
        assert!(filter(1, vec![eq(col(0), f)])
            .literal_key_prefix(&floats)
            .is_empty());
    }

    #[test]
    fn literal_range_keeps_the_tightest_bounds() {
        let types = vec![
            ScalarType::Int32.nullable(true),
            ScalarType::Numeric {
                precision: None,
                scale: None,
            }
            .nullable(true),
        ];
        let col = MirScalarExpr::Column;
        let int = |v| lit(Datum::Int32(v), ScalarType::Int32);
        let cmp = |a: MirScalarExpr, b: MirScalarExpr, f: BinaryFunc| a.call_binary(b, f);
        let range = |lower, upper| Some(LiteralRange { lower, upper });
        let mfp = filter(2, vec![cmp(col(0), int(5), BinaryFunc::Gt)]);
        assert_eq!(
            mfp.literal_range(0, &types),
            range(Bound::Excluded(Datum::Int32(5)), Bound::Unbounded)
        );
        // `literal op column` reads the other way round; BETWEEN is an AND of two.
        let between = MirScalarExpr::CallVariadic {
            func: VariadicFunc::And,
            exprs: vec![
                cmp(int(-3), col(0), BinaryFunc::Lte),
                cmp(col(0), int(9), BinaryFunc::Lte),
            ],
        };
        assert_eq!(
            filter(2, vec![between]).literal_range(0, &types),
            range(
                Bound::Included(Datum::Int32(-3)),
                Bound::Included(Datum::Int32(9))
            )
        );
        // The tightest of each side; of equal values the exclusive one.
        let mfp = filter(
            2,
            vec![
                cmp(col(0), int(5), BinaryFunc::Gte),
                cmp(col(0), int(7), BinaryFunc::Gt),
                cmp(col(0), int(7), BinaryFunc::Gte),
                cmp(col(0), int(20), BinaryFunc::Lt),
                cmp(col(0), int(20), BinaryFunc::Lte),
                cmp(col(0), int(30), BinaryFunc::Lt),
            ],
        );
        assert_eq!(
            mfp.literal_range(0, &types),
            range(
                Bound::Excluded(Datum::Int32(7)),
                Bound::Excluded(Datum::Int32(20))
            )
        );
        // Not: another column, a literal of another type, NULL, numeric, an equality.
        assert_eq!(
            filter(2, vec![cmp(col(0), int(5), BinaryFunc::Gt)]).literal_range(1, &types),
            None
        );
        let wide = lit(Datum::Int64(5), ScalarType::Int64);
        assert_eq!(
            filter(2, vec![cmp(col(0), wide, BinaryFunc::Gt)]).literal_range(0, &types),
            None
        );
        let null = MirScalarExpr::literal_null(ScalarType::Int32);
        assert_eq!(
            filter(2, vec![cmp(col(0), null, BinaryFunc::Gt)]).literal_range(0, &types),
            None
        );
        let numeric = lit(Datum::Numeric(5.into()), types[1].scalar_type);
        assert_eq!(
            filter(2, vec![cmp(col(1), numeric, BinaryFunc::Gt)]).literal_range(1, &types),
            None
        );
        assert_eq!(
            filter(2, vec![eq(col(0), int(5))]).literal_range(0, &types),
            None
        );
    }
}
