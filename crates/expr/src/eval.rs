//! Evaluation of scalar functions with Postgres semantics.

use eddy_repr::Datum;

use crate::error::EvalError;
use crate::func::{BinaryFunc, UnaryFunc, VariadicFunc};
use crate::scalar::MirScalarExpr;

pub fn eval_unary(func: &UnaryFunc, arg: Datum) -> Result<Datum, EvalError> {
    Err(EvalError::Internal(format!(
        "{func:?} on {arg:?} is not implemented"
    )))
}

pub fn eval_binary(
    func: &BinaryFunc,
    expr1: &MirScalarExpr,
    expr2: &MirScalarExpr,
    datums: &[Datum],
) -> Result<Datum, EvalError> {
    let _ = (expr1, expr2, datums);
    Err(EvalError::Internal(format!("{func:?} is not implemented")))
}

pub fn eval_variadic(
    func: &VariadicFunc,
    exprs: &[MirScalarExpr],
    datums: &[Datum],
) -> Result<Datum, EvalError> {
    let _ = (exprs, datums);
    Err(EvalError::Internal(format!("{func:?} is not implemented")))
}
