//! Row constructors: `ROW(a, b)` and `(a, b)`.
//!
//! A row constructor on its own is a `record` value (`VariadicFunc::RecordCreate`),
//! which prints as `(1,x)`. Compared with another row constructor (`(a, b) < (1, 2)`,
//! `(a, b) IN ((1, 2), (3, 4))`, `ROW(a, b) IS NULL`) it is taken apart field by field
//! at plan time, which gives Postgres' three-valued semantics: `=` holds when every
//! pair is equal, `<` and the other orderings decide at the first pair that is unequal
//! or NULL (NULL then), `IS NULL` holds when every field is NULL and `IS NOT NULL`
//! when none is. Comparing two `record` values that are not constructors uses the
//! record's total order instead, where NULL fields are equal and sort last, as
//! Postgres does for composite values.

use sqlparser::ast::{BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments};

use eddy_expr::{BinaryFunc, UnaryFunc, VariadicFunc};
use eddy_repr::{SqlError, SqlState};

use crate::context::{CExpr, Typed};
use crate::expr::{self, ExprContext};

/// The fields of a row constructor: `ROW(...)` (any number of fields) or `(a, b, ...)`
/// (two or more); `None` for any other expression.
pub fn row_constructor(e: &Expr) -> Option<Vec<&Expr>> {
    match e {
        Expr::Tuple(items) => Some(items.iter().collect()),
        Expr::Nested(inner) => row_constructor(inner),
        Expr::Function(f)
            if f.name.0.len() == 1
                && f.name.0[0].as_ident().is_some_and(|i| {
                    i.quote_style.is_none() && i.value.eq_ignore_ascii_case("row")
                })
                && f.over.is_none()
                && f.filter.is_none() =>
        {
            match &f.args {
                FunctionArguments::None => Some(vec![]),
                FunctionArguments::List(list) if list.clauses.is_empty() => list
                    .args
                    .iter()
                    .map(|arg| match arg {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                        _ => None,
                    })
                    .collect(),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A row constructor as a value: a `record` of its fields (unknown literals as text).
pub fn plan_row(ecx: &ExprContext, fields: &[&Expr]) -> Result<CExpr, SqlError> {
    let fields = fields
        .iter()
        .map(|f| Ok(ecx.scx.finalize(expr::plan_expr(ecx, f)?)))
        .collect::<Result<Vec<Typed>, SqlError>>()?;
    Ok(Typed::variadic(VariadicFunc::RecordCreate, fields).into())
}

/// `left op right` for two row constructors, field by field; `None` when `op` is not a
/// comparison.
pub fn plan_row_comparison(
    ecx: &ExprContext,
    left: &[&Expr],
    op: &BinaryOperator,
    right: &[&Expr],
) -> Result<Option<Typed>, SqlError> {
    let (func, strict, opname) = match op {
        BinaryOperator::Eq => (BinaryFunc::Eq, BinaryFunc::Eq, "="),
        BinaryOperator::NotEq => (BinaryFunc::NotEq, BinaryFunc::NotEq, "<>"),
        BinaryOperator::Lt => (BinaryFunc::Lt, BinaryFunc::Lt, "<"),
        BinaryOperator::LtEq => (BinaryFunc::Lte, BinaryFunc::Lt, "<="),
        BinaryOperator::Gt => (BinaryFunc::Gt, BinaryFunc::Gt, ">"),
        BinaryOperator::GtEq => (BinaryFunc::Gte, BinaryFunc::Gt, ">="),
        _ => return Ok(None),
    };
    let pairs = planned_pairs(ecx, left, right)?;
    let scx = ecx.scx;
    let compare = |f: BinaryFunc, name: &str, (l, r): &(CExpr, CExpr)| {
        expr::compare(scx, f, name, l.clone(), r.clone())
    };
    Ok(Some(match func {
        BinaryFunc::Eq | BinaryFunc::NotEq => {
            let terms = pairs
                .iter()
                .map(|pair| compare(func.clone(), opname, pair))
                .collect::<Result<Vec<_>, _>>()?;
            let all = if func == BinaryFunc::Eq {
                VariadicFunc::And
            } else {
                VariadicFunc::Or
            };
            Typed::variadic(all, terms)
        }
        _ => {
            // From the last pair back: `l < r OR (l = r AND <the rest>)`.
            let (last, leading) = pairs.split_last().ok_or_else(|| {
                SqlError::unsupported("ordering comparisons of rows without fields")
            })?;
            let mut acc = compare(func, opname, last)?;
            for pair in leading.iter().rev() {
                let decided = compare(strict.clone(), opname, pair)?;
                let equal = compare(BinaryFunc::Eq, "=", pair)?;
                let rest = Typed::variadic(VariadicFunc::And, vec![equal, acc]);
                acc = Typed::variadic(VariadicFunc::Or, vec![decided, rest]);
            }
            acc
        }
    }))
}

/// `a IS [NOT] DISTINCT FROM b` for two row constructors: distinct when any pair is.
pub fn plan_row_distinct(
    ecx: &ExprContext,
    left: &[&Expr],
    right: &[&Expr],
    negated: bool,
) -> Result<Typed, SqlError> {
    let terms = planned_pairs(ecx, left, right)?
        .into_iter()
        .map(|(l, r)| {
            let (l, r) = expr::unify_for_comparison(ecx.scx, l, r, "IS DISTINCT FROM")?;
            Ok(l.binary(r, BinaryFunc::IsDistinctFrom))
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
    let distinct = Typed::variadic(VariadicFunc::Or, terms);
    Ok(if negated {
        distinct.unary(UnaryFunc::Not)
    } else {
        distinct
    })
}

/// `ROW(...) IS NULL` (every field NULL) or `IS NOT NULL` (no field NULL).
pub fn plan_row_is_null(
    ecx: &ExprContext,
    fields: &[&Expr],
    negated: bool,
) -> Result<Typed, SqlError> {
    let terms = fields
        .iter()
        .map(|f| {
            let is_null = expr::plan_typed(ecx, f)?.unary(UnaryFunc::IsNull);
            Ok(if negated {
                is_null.unary(UnaryFunc::Not)
            } else {
                is_null
            })
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
    Ok(Typed::variadic(VariadicFunc::And, terms))
}

fn planned_pairs(
    ecx: &ExprContext,
    left: &[&Expr],
    right: &[&Expr],
) -> Result<Vec<(CExpr, CExpr)>, SqlError> {
    if left.len() != right.len() {
        return Err(SqlError::new(
            SqlState::SYNTAX_ERROR,
            "unequal number of entries in row expressions",
        ));
    }
    left.iter()
        .zip(right)
        .map(|(l, r)| Ok((expr::plan_expr(ecx, l)?, expr::plan_expr(ecx, r)?)))
        .collect()
}
