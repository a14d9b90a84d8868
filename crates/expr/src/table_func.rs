//! Set-returning functions, as `MirRelationExpr::FlatMap` calls them: each call maps
//! its argument values (evaluated on one input row) to zero or more output values.
//!
//! Semantics follow Postgres:
//! - `generate_series(start, stop [, step])` over `integer` or `bigint` counts from
//!   `start` by `step` (default 1) while not past `stop`; any NULL argument gives no
//!   rows, a zero step is an error (22023).
//! - `unnest(array)` yields the elements in order, NULLs included; a NULL array gives
//!   no rows.
//! - `generate_subscripts(array, dim [, reverse])` yields the subscripts of dimension
//!   `dim`: Eddy's arrays have one dimension with lower bound 1, so `dim = 1` gives
//!   `1..=n` (descending with `reverse`) and any other dimension no rows.
//! - `HOP(...)` in FROM (Eddy's own) yields the starts of the hopping windows that hold a
//!   timestamp ([`TableFunc::HopWindowStarts`]).
//! - `jsonb_each(_text)`, `jsonb_array_elements(_text)` and `jsonb_object_keys` yield an
//!   object's `(key, value)` pairs (two columns), an array's elements, an object's keys,
//!   in storage order; a NULL gives no rows, a value of the wrong shape is an error
//!   (22023) as in Postgres.
//!
//! A call appends [`TableFunc::arity`] columns (one for most functions); its values
//! come flattened, `arity` per output row. Several calls in one select list run in
//! lockstep (Postgres 10 and later): the `k`-th output row holds each call's `k`-th
//! row, NULLs for a call that has fewer, and there are as many rows as the longest
//! call yields.

use eddy_repr::{ColumnType, Datum, ScalarType};
use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::scalar::MirScalarExpr;

/// Output rows one call may produce; a longer series is an error rather than an
/// unbounded allocation.
pub const MAX_ROWS_PER_CALL: i64 = 100_000_000;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TableFunc {
    /// `generate_series` over `integer` (`Int32`) or `bigint` (`Int64`) arguments.
    GenerateSeries(ScalarType),
    /// `unnest(array)`, yielding elements of the given type.
    Unnest(ScalarType),
    GenerateSubscripts,
    /// `regexp_split_to_table(text, pattern [, flags])`: the pieces of `text` between
    /// the matches of `pattern` (flags: `i` case-insensitive, `c` case-sensitive).
    RegexpSplitToTable,
    /// The starts of the hopping windows that hold a timestamp (`HOP` in FROM): windows
    /// of `size_micros`, one starting every `slide_micros`, aligned to the Unix epoch;
    /// yields values of `typ` (`timestamp` or `timestamptz`, as the argument), none for
    /// NULL.
    HopWindowStarts {
        typ: ScalarType,
        size_micros: i64,
        slide_micros: i64,
    },
    /// `jsonb_each(j)` (`as_text == false`) or `jsonb_each_text(j)`: two columns,
    /// `key` and `value`.
    JsonbEach {
        as_text: bool,
    },
    /// `jsonb_array_elements(j)` or `jsonb_array_elements_text(j)`.
    JsonbArrayElements {
        as_text: bool,
    },
    /// `jsonb_object_keys(j)`.
    JsonbObjectKeys,
    /// `regexp_matches(text, pattern [, flags])`: the captured groups of the first
    /// match, or of every match with flag `g`, as `text[]`.
    RegexpMatches,
    /// `information_schema._pg_expandarray(array)`, which drivers' catalog queries
    /// call: each element `x` of an array of `elem`s with its 1-based position `n`.
    ExpandArray(ScalarType),
    /// `pg_get_keywords()`: Postgres' SQL keywords ([`crate::keywords`]).
    PgGetKeywords,
}

/// One call of a set-returning function on scalar arguments over the input row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TableCall {
    pub func: TableFunc,
    pub exprs: Vec<MirScalarExpr>,
}

impl TableFunc {
    pub fn name(&self) -> &'static str {
        match self {
            TableFunc::GenerateSeries(_) => "generate_series",
            TableFunc::Unnest(_) => "unnest",
            TableFunc::GenerateSubscripts => "generate_subscripts",
            TableFunc::RegexpSplitToTable => "regexp_split_to_table",
            TableFunc::HopWindowStarts { .. } => "hop",
            TableFunc::JsonbEach { as_text: false } => "jsonb_each",
            TableFunc::JsonbEach { as_text: true } => "jsonb_each_text",
            TableFunc::JsonbArrayElements { as_text: false } => "jsonb_array_elements",
            TableFunc::JsonbArrayElements { as_text: true } => "jsonb_array_elements_text",
            TableFunc::JsonbObjectKeys => "jsonb_object_keys",
            TableFunc::RegexpMatches => "regexp_matches",
            TableFunc::ExpandArray(_) => "_pg_expandarray",
            TableFunc::PgGetKeywords => "pg_get_keywords",
        }
    }

    /// The types of the columns each call appends.
    pub fn output_types(&self) -> Vec<ColumnType> {
        let one = match self {
            TableFunc::GenerateSeries(t) => t.nullable(false),
            TableFunc::Unnest(elem) => elem.nullable(true),
            TableFunc::GenerateSubscripts => ScalarType::Int32.nullable(false),
            TableFunc::RegexpSplitToTable => ScalarType::Text.nullable(false),
            TableFunc::HopWindowStarts { typ, .. } => typ.nullable(false),
            TableFunc::ExpandArray(elem) => {
                return vec![elem.nullable(true), ScalarType::Int32.nullable(false)]
            }
            TableFunc::PgGetKeywords => {
                return vec![
                    ScalarType::Text.nullable(false),
                    ScalarType::PgChar.nullable(false),
                    ScalarType::Bool.nullable(false),
                    ScalarType::Text.nullable(false),
                    ScalarType::Text.nullable(false),
                ]
            }
            TableFunc::JsonbEach { as_text } => {
                let value = if *as_text {
                    ScalarType::Text.nullable(true)
                } else {
                    ScalarType::Jsonb.nullable(false)
                };
                return vec![ScalarType::Text.nullable(false), value];
            }
            TableFunc::JsonbArrayElements { as_text: false } => ScalarType::Jsonb.nullable(false),
            TableFunc::JsonbArrayElements { as_text: true } => ScalarType::Text.nullable(true),
            TableFunc::JsonbObjectKeys => ScalarType::Text.nullable(false),
            TableFunc::RegexpMatches => ScalarType::TextArray.nullable(false),
        };
        vec![one]
    }

    /// The number of columns each call appends.
    pub fn arity(&self) -> usize {
        match self {
            TableFunc::JsonbEach { .. } | TableFunc::ExpandArray(_) => 2,
            TableFunc::PgGetKeywords => 5,
            _ => 1,
        }
    }

    /// The names Postgres gives the columns (its OUT parameters), which an alias
    /// without a column list does not replace; `None` for a function whose one column
    /// takes the alias or the function's name.
    pub fn column_names(&self) -> Option<&'static [&'static str]> {
        match self {
            TableFunc::JsonbEach { .. } => Some(&["key", "value"]),
            TableFunc::JsonbArrayElements { .. } => Some(&["value"]),
            TableFunc::ExpandArray(_) => Some(&["x", "n"]),
            TableFunc::PgGetKeywords => {
                Some(&["word", "catcode", "barelabel", "catdesc", "baredesc"])
            }
            _ => None,
        }
    }

    /// The values this function yields for `args`, [`TableFunc::arity`] per row, or
    /// `None` if there would be more than `limit` rows.
    pub fn eval(&self, args: &[Datum], limit: usize) -> Result<Option<Vec<Datum>>, EvalError> {
        let values = self.eval_unlimited(args, limit)?;
        let arity = self.arity();
        Ok(values.filter(|v| v.len() / arity <= limit))
    }

    fn eval_unlimited(
        &self,
        args: &[Datum],
        limit: usize,
    ) -> Result<Option<Vec<Datum>>, EvalError> {
        Ok(Some(match self {
            TableFunc::GenerateSeries(typ) => return generate_series(*typ, args, limit),
            TableFunc::Unnest(_) => match args {
                [Datum::Null] => vec![],
                [Datum::Array(elems)] => elems.clone(),
                _ => return Err(unexpected(self, args)),
            },
            TableFunc::PgGetKeywords => crate::keywords::keywords()
                .flat_map(|(word, category, bare)| {
                    [
                        Datum::String(word.into()),
                        Datum::String(category.into()),
                        Datum::Bool(bare),
                        Datum::String(crate::keywords::category_description(category).into()),
                        Datum::String(
                            if bare {
                                "can be bare label"
                            } else {
                                "requires AS"
                            }
                            .into(),
                        ),
                    ]
                })
                .collect(),
            TableFunc::ExpandArray(_) => match args {
                [Datum::Null] => vec![],
                [Datum::Array(elems)] => {
                    let n = i32::try_from(elems.len())
                        .map_err(|_| EvalError::OutOfRange("integer".into()))?;
                    elems
                        .iter()
                        .zip(1..=n)
                        .flat_map(|(x, n)| [x.clone(), Datum::Int32(n)])
                        .collect()
                }
                _ => return Err(unexpected(self, args)),
            },
            TableFunc::GenerateSubscripts => {
                let (array, dim, reverse) = match args {
                    [array, dim] => (array, dim, &Datum::Bool(false)),
                    [array, dim, reverse] => (array, dim, reverse),
                    _ => return Err(unexpected(self, args)),
                };
                let (Datum::Array(elems), Datum::Int32(1)) = (array, dim) else {
                    return Ok(Some(vec![]));
                };
                let n = i32::try_from(elems.len())
                    .map_err(|_| EvalError::OutOfRange("integer".into()))?;
                let mut subscripts: Vec<Datum> = (1..=n).map(Datum::Int32).collect();
                if *reverse == Datum::Bool(true) {
                    subscripts.reverse();
                }
                subscripts
            }
            TableFunc::HopWindowStarts {
                size_micros,
                slide_micros,
                ..
            } => match args {
                [ts] => crate::eval::datetime::hop_window_starts(ts, *size_micros, *slide_micros)?,
                _ => return Err(unexpected(self, args)),
            },
            TableFunc::RegexpSplitToTable => {
                if args.iter().any(Datum::is_null) {
                    return Ok(Some(vec![]));
                }
                let (Some(Datum::String(s)), Some(Datum::String(pattern))) =
                    (args.first(), args.get(1))
                else {
                    return Err(unexpected(self, args));
                };
                let flags = match args.get(2) {
                    Some(Datum::String(flags)) => crate::eval::string::RegexFlags::parse(
                        "regexp_split_to_table",
                        flags,
                        false,
                    )?,
                    _ => Default::default(),
                };
                let regex = crate::eval::string::compile_regex(pattern, flags.case_insensitive)?;
                crate::eval::string::regexp_split(s, &regex)
                    .into_iter()
                    .map(Datum::String)
                    .collect()
            }
            TableFunc::RegexpMatches => crate::eval::string::regexp_matches(args)?,
            TableFunc::JsonbEach { .. }
            | TableFunc::JsonbArrayElements { .. }
            | TableFunc::JsonbObjectKeys => match args {
                [Datum::Null] => vec![],
                [Datum::Jsonb(s)] => match self {
                    TableFunc::JsonbEach { as_text } => crate::eval::jsonb::each(s, *as_text)?,
                    TableFunc::JsonbArrayElements { as_text } => {
                        crate::eval::jsonb::array_elements(s, *as_text)?
                    }
                    _ => crate::eval::jsonb::object_keys(s)?,
                },
                _ => return Err(unexpected(self, args)),
            },
        }))
    }
}

impl TableCall {
    /// This call's values on an input row (`None` if more than `limit`).
    pub fn eval(&self, datums: &[Datum], limit: usize) -> Result<Option<Vec<Datum>>, EvalError> {
        let args = self
            .exprs
            .iter()
            .map(|e| e.eval(datums))
            .collect::<Result<Vec<_>, _>>()?;
        self.func.eval(&args, limit)
    }
}

/// The rows `calls` append to one input row, in lockstep: one inner vector per
/// output row, holding each call's columns. `None` if a call yields more than `limit`
/// rows.
pub fn eval_calls(
    calls: &[TableCall],
    datums: &[Datum],
    limit: usize,
) -> Result<Option<Vec<Vec<Datum>>>, EvalError> {
    let mut columns = Vec::with_capacity(calls.len());
    for call in calls {
        match call.eval(datums, limit)? {
            Some(values) => columns.push((call.func.arity(), values)),
            None => return Ok(None),
        }
    }
    Ok(Some(lockstep(columns)))
}

/// The rows of several calls' values run in lockstep: each call gives its arity and
/// its values, that many per row; row `k` holds each call's `k`-th row, NULLs for a
/// call with fewer; as many rows as the longest call has.
pub fn lockstep(mut calls: Vec<(usize, Vec<Datum>)>) -> Vec<Vec<Datum>> {
    if let [(1, values)] = calls.as_mut_slice() {
        return std::mem::take(values)
            .into_iter()
            .map(|d| vec![d])
            .collect();
    }
    let rows = calls
        .iter()
        .map(|(arity, values)| values.len() / arity)
        .max()
        .unwrap_or(0);
    let width = calls.iter().map(|(arity, _)| arity).sum();
    (0..rows)
        .map(|r| {
            let mut row = Vec::with_capacity(width);
            for (arity, values) in &calls {
                match values.get(r * arity..(r + 1) * arity) {
                    Some(part) => row.extend_from_slice(part),
                    None => row.extend(std::iter::repeat_n(Datum::Null, *arity)),
                }
            }
            row
        })
        .collect()
}

fn generate_series(
    typ: ScalarType,
    args: &[Datum],
    limit: usize,
) -> Result<Option<Vec<Datum>>, EvalError> {
    if args.iter().any(Datum::is_null) {
        return Ok(Some(vec![]));
    }
    let int = |d: &Datum| match d {
        Datum::Int32(v) => Some(i64::from(*v)),
        Datum::Int64(v) => Some(*v),
        _ => None,
    };
    let values: Option<Vec<i64>> = args.iter().map(int).collect();
    let (start, stop, step) = match values.as_deref() {
        Some([start, stop]) => (*start, *stop, 1),
        Some([start, stop, step]) => (*start, *stop, *step),
        _ => return Err(unexpected(&TableFunc::GenerateSeries(typ), args)),
    };
    if step == 0 {
        return Err(EvalError::InvalidParameterValue(
            "step size cannot equal zero".into(),
        ));
    }
    let count = if (step > 0 && start > stop) || (step < 0 && start < stop) {
        0
    } else {
        (i128::from(stop) - i128::from(start)) / i128::from(step) + 1
    };
    if count > i128::from(MAX_ROWS_PER_CALL) {
        return Err(EvalError::FeatureNotSupported {
            message: format!("generate_series with more than {MAX_ROWS_PER_CALL} rows"),
            detail: None,
        });
    }
    if count > limit as i128 {
        return Ok(None);
    }
    let datum = |v: i64| match typ {
        ScalarType::Int32 => Datum::Int32(v as i32),
        _ => Datum::Int64(v),
    };
    Ok(Some(
        (0..count as i64).map(|i| datum(start + i * step)).collect(),
    ))
}

fn unexpected(func: &TableFunc, args: &[Datum]) -> EvalError {
    EvalError::Internal(format!("{} got unexpected arguments {args:?}", func.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i32s(values: &[i32]) -> Vec<Datum> {
        values.iter().map(|v| Datum::Int32(*v)).collect()
    }

    #[test]
    fn series_count_like_postgres() {
        let f = TableFunc::GenerateSeries(ScalarType::Int32);
        let all = |args: &[Datum]| f.eval(args, usize::MAX).map(Option::unwrap);
        assert_eq!(all(&i32s(&[1, 4])).unwrap(), i32s(&[1, 2, 3, 4]));
        assert_eq!(all(&i32s(&[1, 10, 4])).unwrap(), i32s(&[1, 5, 9]));
        assert_eq!(all(&i32s(&[5, 1, -2])).unwrap(), i32s(&[5, 3, 1]));
        assert_eq!(all(&i32s(&[5, 1])).unwrap(), vec![]);
        assert_eq!(all(&[Datum::Int32(1), Datum::Null]).unwrap(), vec![]);
        assert_eq!(f.eval(&i32s(&[1, 4]), 3), Ok(None));
        assert_eq!(
            all(&i32s(&[1, 2, 0])),
            Err(EvalError::InvalidParameterValue(
                "step size cannot equal zero".into()
            ))
        );
        let big = TableFunc::GenerateSeries(ScalarType::Int64);
        let last = big
            .eval(&[Datum::Int64(i64::MAX - 1), Datum::Int64(i64::MAX)], 10)
            .unwrap()
            .unwrap();
        assert_eq!(
            last,
            vec![Datum::Int64(i64::MAX - 1), Datum::Int64(i64::MAX)]
        );
    }

    #[test]
    fn calls_run_in_lockstep() {
        let array = MirScalarExpr::literal(
            Datum::Array(vec![Datum::Int16(7), Datum::Null, Datum::Int16(9)]),
            ScalarType::Int16Array.nullable(false),
        );
        let calls = vec![
            TableCall {
                func: TableFunc::Unnest(ScalarType::Int16),
                exprs: vec![array.clone()],
            },
            TableCall {
                func: TableFunc::GenerateSubscripts,
                exprs: vec![
                    array,
                    MirScalarExpr::literal(Datum::Int32(1), ScalarType::Int32.nullable(false)),
                ],
            },
            TableCall {
                func: TableFunc::GenerateSeries(ScalarType::Int32),
                exprs: vec![
                    MirScalarExpr::literal(Datum::Int32(1), ScalarType::Int32.nullable(false)),
                    MirScalarExpr::literal(Datum::Int32(4), ScalarType::Int32.nullable(false)),
                ],
            },
        ];
        let rows = eval_calls(&calls, &[], 10).unwrap().unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Datum::Int16(7), Datum::Int32(1), Datum::Int32(1)],
                vec![Datum::Null, Datum::Int32(2), Datum::Int32(2)],
                vec![Datum::Int16(9), Datum::Int32(3), Datum::Int32(3)],
                vec![Datum::Null, Datum::Null, Datum::Int32(4)],
            ]
        );
    }

    #[test]
    fn regexp_split_to_table_splits_as_postgres_does() {
        let split = |s: &str, p: &str| {
            TableFunc::RegexpSplitToTable
                .eval(&[Datum::from(s), Datum::from(p)], usize::MAX)
                .unwrap()
                .unwrap()
        };
        let texts = |v: &[&str]| v.iter().map(|s| Datum::from(*s)).collect::<Vec<_>>();
        assert_eq!(split("hello", ""), texts(&["h", "e", "l", "l", "o"]));
        assert_eq!(split("the cat.", "\\W+"), texts(&["the", "cat", ""]));
        assert_eq!(split(",a,", ","), texts(&["", "a", ""]));
        assert_eq!(split("a b", "\\s*"), texts(&["a", "b"]));
        assert_eq!(split("", ","), texts(&[""]));
    }
}
