//! Scalar expressions over the columns of one input row.

use eddy_repr::{ColumnType, Datum};
use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::func::{BinaryFunc, UnaryFunc, VariadicFunc};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MirScalarExpr {
    /// The value of the input column at this position.
    Column(usize),
    /// A constant (or a constant error, e.g. from folding `1/0`).
    Literal(Result<Datum, EvalError>, ColumnType),
    CallUnary {
        func: UnaryFunc,
        expr: Box<MirScalarExpr>,
    },
    CallBinary {
        func: BinaryFunc,
        expr1: Box<MirScalarExpr>,
        expr2: Box<MirScalarExpr>,
    },
    CallVariadic {
        func: VariadicFunc,
        exprs: Vec<MirScalarExpr>,
    },
    /// `CASE WHEN cond THEN then ELSE els END`; only the branch taken is evaluated.
    If {
        cond: Box<MirScalarExpr>,
        then: Box<MirScalarExpr>,
        els: Box<MirScalarExpr>,
    },
}

impl MirScalarExpr {
    pub fn column(i: usize) -> Self {
        MirScalarExpr::Column(i)
    }

    pub fn literal(datum: Datum, typ: ColumnType) -> Self {
        MirScalarExpr::Literal(Ok(datum), typ)
    }

    pub fn literal_null(typ: eddy_repr::ScalarType) -> Self {
        MirScalarExpr::Literal(Ok(Datum::Null), typ.nullable(true))
    }

    pub fn literal_true() -> Self {
        MirScalarExpr::Literal(
            Ok(Datum::Bool(true)),
            eddy_repr::ScalarType::Bool.nullable(false),
        )
    }

    pub fn call_unary(self, func: UnaryFunc) -> Self {
        MirScalarExpr::CallUnary {
            func,
            expr: Box::new(self),
        }
    }

    pub fn call_binary(self, other: Self, func: BinaryFunc) -> Self {
        MirScalarExpr::CallBinary {
            func,
            expr1: Box::new(self),
            expr2: Box::new(other),
        }
    }

    pub fn and(exprs: Vec<MirScalarExpr>) -> Self {
        MirScalarExpr::CallVariadic {
            func: VariadicFunc::And,
            exprs,
        }
    }

    /// The type of this expression over an input with column types `input`.
    #[recursive::recursive]
    pub fn typ(&self, input: &[ColumnType]) -> ColumnType {
        match self {
            MirScalarExpr::Column(i) => input[*i],
            MirScalarExpr::Literal(_, typ) => *typ,
            MirScalarExpr::CallUnary { func, expr } => func.output_type(expr.typ(input)),
            MirScalarExpr::CallBinary { func, expr1, expr2 } => {
                func.output_type(expr1.typ(input), expr2.typ(input))
            }
            MirScalarExpr::CallVariadic { func, exprs } => {
                let types: Vec<_> = exprs.iter().map(|e| e.typ(input)).collect();
                func.output_type(&types)
            }
            MirScalarExpr::If { cond: _, then, els } => {
                let t = then.typ(input);
                let e = els.typ(input);
                let scalar_type =
                    if matches!(then.as_ref(), MirScalarExpr::Literal(Ok(Datum::Null), _)) {
                        e.scalar_type
                    } else {
                        t.scalar_type
                    };
                scalar_type.nullable(t.nullable || e.nullable)
            }
        }
    }

    /// Evaluates the expression on one row's datums. Like every recursion over an
    /// expression, it grows the stack when nesting needs more (`recursive`).
    #[recursive::recursive]
    pub fn eval(&self, datums: &[Datum]) -> Result<Datum, EvalError> {
        match self {
            MirScalarExpr::Column(i) => Ok(datums[*i].clone()),
            MirScalarExpr::Literal(res, _) => res.clone(),
            MirScalarExpr::CallUnary { func, expr } => {
                crate::eval::eval_unary(func, expr.eval(datums)?)
            }
            MirScalarExpr::CallBinary { func, expr1, expr2 } => {
                crate::eval::eval_binary(func, expr1, expr2, datums)
            }
            MirScalarExpr::CallVariadic { func, exprs } => {
                crate::eval::eval_variadic(func, exprs, datums)
            }
            MirScalarExpr::If { cond, then, els } => match cond.eval(datums)? {
                Datum::Bool(true) => then.eval(datums),
                _ => els.eval(datums),
            },
        }
    }

    /// True if this expression reads no column.
    pub fn is_literal(&self) -> bool {
        matches!(self, MirScalarExpr::Literal(..))
    }

    /// The literal datum, if this is a non-error literal.
    pub fn as_literal(&self) -> Option<&Datum> {
        match self {
            MirScalarExpr::Literal(Ok(d), _) => Some(d),
            _ => None,
        }
    }

    /// Calls `f` on every column this expression reads.
    #[recursive::recursive]
    pub fn visit_columns(&self, f: &mut impl FnMut(usize)) {
        match self {
            MirScalarExpr::Column(i) => f(*i),
            MirScalarExpr::Literal(..) => {}
            MirScalarExpr::CallUnary { expr, .. } => expr.visit_columns(f),
            MirScalarExpr::CallBinary { expr1, expr2, .. } => {
                expr1.visit_columns(f);
                expr2.visit_columns(f);
            }
            MirScalarExpr::CallVariadic { exprs, .. } => {
                exprs.iter().for_each(|e| e.visit_columns(f))
            }
            MirScalarExpr::If { cond, then, els } => {
                cond.visit_columns(f);
                then.visit_columns(f);
                els.visit_columns(f);
            }
        }
    }

    /// Whether the expression calls a volatile function (see
    /// [`VariadicFunc::is_volatile`]): then it is not a constant even without columns.
    ///
    /// [`VariadicFunc::is_volatile`]: crate::func::VariadicFunc::is_volatile
    #[recursive::recursive]
    pub fn is_volatile(&self) -> bool {
        match self {
            MirScalarExpr::Column(_) | MirScalarExpr::Literal(..) => false,
            MirScalarExpr::CallUnary { expr, .. } => expr.is_volatile(),
            MirScalarExpr::CallBinary { expr1, expr2, .. } => {
                expr1.is_volatile() || expr2.is_volatile()
            }
            MirScalarExpr::CallVariadic { func, exprs } => {
                func.is_volatile() || exprs.iter().any(MirScalarExpr::is_volatile)
            }
            MirScalarExpr::If { cond, then, els } => {
                cond.is_volatile() || then.is_volatile() || els.is_volatile()
            }
        }
    }

    /// The columns read, sorted and distinct.
    pub fn support(&self) -> std::collections::BTreeSet<usize> {
        let mut set = std::collections::BTreeSet::new();
        self.visit_columns(&mut |c| {
            set.insert(c);
        });
        set
    }

    /// Rewrites every column reference with `f`.
    #[recursive::recursive]
    pub fn permute(&mut self, f: &impl Fn(usize) -> usize) {
        match self {
            MirScalarExpr::Column(i) => *i = f(*i),
            MirScalarExpr::Literal(..) => {}
            MirScalarExpr::CallUnary { expr, .. } => expr.permute(f),
            MirScalarExpr::CallBinary { expr1, expr2, .. } => {
                expr1.permute(f);
                expr2.permute(f);
            }
            MirScalarExpr::CallVariadic { exprs, .. } => {
                exprs.iter_mut().for_each(|e| e.permute(f))
            }
            MirScalarExpr::If { cond, then, els } => {
                cond.permute(f);
                then.permute(f);
                els.permute(f);
            }
        }
    }
}
