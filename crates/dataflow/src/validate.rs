//! Checks that a plan is well formed before it is rendered: every column reference is
//! within its input's arity and union inputs agree on arity. Rendering indexes rows
//! by these positions, so a malformed plan (a planner bug) must be caught here rather
//! than panic a worker; the dataflow then reports an error instead of rows.

use eddy_expr::{MirRelationExpr, MirScalarExpr};

/// `Ok` if `expr` is well formed.
pub(crate) fn validate(expr: &MirRelationExpr) -> Result<(), String> {
    arity(expr).map(|_| ())
}

fn check_scalar(expr: &MirScalarExpr, arity: usize, what: &str) -> Result<(), String> {
    match expr.support().last() {
        Some(c) if *c >= arity => Err(format!(
            "{what} reads column {c} of an input with {arity} columns"
        )),
        _ => Ok(()),
    }
}

fn arity(expr: &MirRelationExpr) -> Result<usize, String> {
    match expr {
        MirRelationExpr::Constant { rows, typ } => {
            if let Some((row, _)) = rows.iter().find(|(row, _)| row.iter().count() != typ.len()) {
                return Err(format!(
                    "constant row {row:?} does not have {} columns",
                    typ.len()
                ));
            }
            Ok(typ.len())
        }
        MirRelationExpr::Get { typ, .. } => Ok(typ.len()),
        MirRelationExpr::Map { input, scalars } => {
            let a = arity(input)?;
            for (i, s) in scalars.iter().enumerate() {
                check_scalar(s, a + i, "map")?;
            }
            Ok(a + scalars.len())
        }
        MirRelationExpr::Filter { input, predicates } => {
            let a = arity(input)?;
            for p in predicates {
                check_scalar(p, a, "filter")?;
            }
            Ok(a)
        }
        MirRelationExpr::Project { input, outputs } => {
            let a = arity(input)?;
            match outputs.iter().find(|c| **c >= a) {
                Some(c) => Err(format!(
                    "project reads column {c} of an input with {a} columns"
                )),
                None => Ok(outputs.len()),
            }
        }
        MirRelationExpr::Join {
            inputs,
            equivalences,
        } => {
            let mut total = 0;
            for i in inputs {
                total += arity(i)?;
            }
            for e in equivalences.iter().flatten() {
                check_scalar(e, total, "join")?;
            }
            Ok(total)
        }
        MirRelationExpr::Reduce {
            input,
            group_key,
            aggregates,
        } => {
            let a = arity(input)?;
            for k in group_key {
                check_scalar(k, a, "group key")?;
            }
            for agg in aggregates {
                check_scalar(&agg.expr, a, "aggregate")?;
            }
            Ok(group_key.len() + aggregates.len())
        }
        MirRelationExpr::TopK {
            input,
            group_key,
            order_key,
            ..
        } => {
            let a = arity(input)?;
            let columns = group_key.iter().chain(order_key.iter().map(|o| &o.column));
            match columns.into_iter().find(|c| **c >= a) {
                Some(c) => Err(format!(
                    "topk reads column {c} of an input with {a} columns"
                )),
                None => Ok(a),
            }
        }
        MirRelationExpr::Negate { input } | MirRelationExpr::Threshold { input } => arity(input),
        MirRelationExpr::Union { base, inputs } => {
            let a = arity(base)?;
            for i in inputs {
                let b = arity(i)?;
                if a != b {
                    return Err(format!("union of inputs with {a} and {b} columns"));
                }
            }
            Ok(a)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_repr::{GlobalId, ScalarType};

    #[test]
    fn rejects_out_of_range_columns() {
        let get = MirRelationExpr::Get {
            id: GlobalId::User(1),
            typ: vec![ScalarType::Int32.nullable(false)],
            name: "t".into(),
        };
        assert!(validate(&get.clone().project(vec![0])).is_ok());
        assert!(validate(&get.clone().project(vec![1])).is_err());
        assert!(validate(&get.filter(vec![MirScalarExpr::Column(3)])).is_err());
    }
}
