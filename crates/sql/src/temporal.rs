//! Temporal filters in view definitions: the WHERE conjuncts that compare an
//! expression over the row with `now()`, planned as a `TemporalFilter` (see
//! [`eddy_expr::temporal`]) so rows leave a maintained view as wall-clock time passes.
//!
//! A conjunct is temporal when it has one of the forms
//! - `e <cmp> now() [± c ...]` or `now() [± c ...] <cmp> e`, with `<cmp>` one of
//!   `=`, `<`, `<=`, `>`, `>=`, and `e`, `c` free of `now()`;
//! - `e BETWEEN lo AND hi` where `lo` and `hi` are of that shape (`ts BETWEEN now() -
//!   INTERVAL '1 hour' AND now()`), or `now() BETWEEN lo AND hi`.
//!
//! The offsets move to the row's side: `ts > now() - INTERVAL '1 hour'` becomes `now() <
//! ts + INTERVAL '1 hour'`, so the bound is computed once per row (exact for intervals
//! without months, whose addition is not invertible at month ends). `now()` is also
//! spelled `current_timestamp`. Any other use of `now()` in a view is refused where it
//! is planned ("only allowed in temporal filters").

use std::ops::ControlFlow;

use eddy_expr::temporal::TemporalPredicate;
use eddy_expr::BinaryFunc;
use eddy_repr::{ScalarType, SqlError, SqlState};
use sqlparser::ast::{BinaryOperator, Expr, FunctionArguments, Visit, Visitor};

use crate::context::CExpr;
use crate::expr::{self, ExprContext};
use crate::names::normalize_ident;

/// Splits a view's WHERE clause into its temporal conjuncts and the rest (`None` when
/// every conjunct is temporal).
pub fn split_where(selection: &Expr) -> (Vec<Expr>, Option<Expr>) {
    let mut conjuncts = vec![];
    flatten_and(selection, &mut conjuncts);
    let (temporal, rest): (Vec<Expr>, Vec<Expr>) = conjuncts
        .into_iter()
        .partition(|c| mentions_now(c) && temporal_comparisons(c).is_some());
    let rest = rest.into_iter().reduce(|a, b| Expr::BinaryOp {
        left: Box::new(a),
        op: BinaryOperator::And,
        right: Box::new(b),
    });
    (temporal, rest)
}

/// Plans the temporal conjuncts `split_where` found.
pub fn plan_temporal(
    ecx: &ExprContext,
    conjuncts: &[Expr],
) -> Result<Vec<TemporalPredicate>, SqlError> {
    let mut predicates = vec![];
    for conjunct in conjuncts {
        let comparisons = temporal_comparisons(conjunct)
            .ok_or_else(|| SqlError::internal("not a temporal filter"))?;
        for (cmp, bound) in comparisons {
            let bound = match expr::plan_expr(ecx, &bound)? {
                CExpr::Typed(t)
                    if matches!(
                        t.scalar_type(),
                        ScalarType::Timestamp | ScalarType::TimestampTz
                    ) =>
                {
                    t.expr
                }
                other => {
                    let shown = other
                        .scalar_type()
                        .map(|t| t.sql_name())
                        .unwrap_or_else(|| "unknown".into());
                    return Err(SqlError::new(
                        SqlState::DATATYPE_MISMATCH,
                        format!("a temporal filter compares now() with a timestamp, not {shown}"),
                    ));
                }
            };
            predicates.push(TemporalPredicate { cmp, bound });
        }
    }
    Ok(predicates)
}

fn flatten_and(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            flatten_and(left, out);
            flatten_and(right, out);
        }
        Expr::Nested(inner) => flatten_and(inner, out),
        other => out.push(other.clone()),
    }
}

/// True for `now()`, `current_timestamp` and their synonyms, without arguments.
fn is_now(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) => is_now(inner),
        Expr::Function(f) => {
            let no_args = match &f.args {
                FunctionArguments::None => true,
                FunctionArguments::List(list) => list.args.is_empty(),
                FunctionArguments::Subquery(_) => false,
            };
            let [part] = f.name.0.as_slice() else {
                return false;
            };
            no_args
                && part.as_ident().is_some_and(|i| {
                    matches!(
                        normalize_ident(i).as_str(),
                        "now"
                            | "current_timestamp"
                            | "transaction_timestamp"
                            | "statement_timestamp"
                    )
                })
        }
        _ => false,
    }
}

/// True if `e` calls `now()` anywhere.
pub fn mentions_now(e: &Expr) -> bool {
    struct Finder;
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if is_now(e) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    e.visit(&mut Finder).is_break()
}

/// `now() ± c ...` as its offsets (`+ c` as `(true, c)`), or `None` if `e` is not of
/// that shape.
fn now_offsets(e: &Expr) -> Option<Vec<(bool, Expr)>> {
    if is_now(e) {
        return Some(vec![]);
    }
    match e {
        Expr::Nested(inner) => now_offsets(inner),
        Expr::BinaryOp { left, op, right } => {
            let plus = match op {
                BinaryOperator::Plus => true,
                BinaryOperator::Minus => false,
                _ => return None,
            };
            if !mentions_now(right) {
                let mut offsets = now_offsets(left)?;
                offsets.push((plus, (**right).clone()));
                Some(offsets)
            } else if plus && !mentions_now(left) {
                let mut offsets = now_offsets(right)?;
                offsets.push((true, (**left).clone()));
                Some(offsets)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A temporal conjunct as `now() <cmp> bound` comparisons, or `None` if it is not one.
fn temporal_comparisons(e: &Expr) -> Option<Vec<(BinaryFunc, Expr)>> {
    match e {
        Expr::Nested(inner) => temporal_comparisons(inner),
        Expr::Between {
            expr,
            negated: false,
            low,
            high,
        } => {
            let ge = Expr::BinaryOp {
                left: expr.clone(),
                op: BinaryOperator::GtEq,
                right: low.clone(),
            };
            let le = Expr::BinaryOp {
                left: expr.clone(),
                op: BinaryOperator::LtEq,
                right: high.clone(),
            };
            let mut out = temporal_comparisons(&ge)?;
            out.extend(temporal_comparisons(&le)?);
            Some(out)
        }
        Expr::BinaryOp { left, op, right } => {
            let cmp = match op {
                BinaryOperator::Eq => BinaryFunc::Eq,
                BinaryOperator::Lt => BinaryFunc::Lt,
                BinaryOperator::LtEq => BinaryFunc::Lte,
                BinaryOperator::Gt => BinaryFunc::Gt,
                BinaryOperator::GtEq => BinaryFunc::Gte,
                _ => return None,
            };
            // Bring `now()` to the left: `row_side <cmp> now() ± c` is
            // `now() ± c <flipped cmp> row_side`.
            let (now_side, row_side, cmp) = match (mentions_now(left), mentions_now(right)) {
                (true, false) => (left, right, cmp),
                (false, true) => (right, left, TemporalPredicate::flip(cmp)),
                _ => return None,
            };
            // `now() + c <cmp> e` is `now() <cmp> e - c`.
            let mut bound = (**row_side).clone();
            for (plus, offset) in now_offsets(now_side)? {
                bound = Expr::BinaryOp {
                    left: Box::new(bound),
                    op: if plus {
                        BinaryOperator::Minus
                    } else {
                        BinaryOperator::Plus
                    },
                    right: Box::new(offset),
                };
            }
            Some(vec![(cmp, bound)])
        }
        _ => None,
    }
}
