//! Checks that a plan is well formed before it is rendered: every column reference is
//! within its input's arity and union inputs agree on arity. Rendering indexes rows
//! by these positions, so a malformed plan (a planner bug) must be caught here rather
//! than panic a worker; the dataflow then reports an error instead of rows.

use eddy_expr::{MapFilterProject, MirRelationExpr, MirScalarExpr};

/// `Ok` if `expr` is well formed.
pub(crate) fn validate(expr: &MirRelationExpr) -> Result<(), String> {
    arity(expr).map(|_| ())
}

/// `Ok` if `mfp` is well formed: each expression reads only the input and earlier
/// expressions, and predicates and projection read only existing columns. (That its
/// input arity is the rows' arity is checked row by row where it is applied.)
pub(crate) fn validate_mfp(mfp: &MapFilterProject) -> Result<(), String> {
    let width = mfp.input_arity + mfp.expressions.len();
    for (i, e) in mfp.expressions.iter().enumerate() {
        check_scalar(e, mfp.input_arity + i, "map")?;
    }
    for p in &mfp.predicates {
        check_scalar(p, width, "filter")?;
    }
    match mfp.projection.iter().find(|c| **c >= width) {
        Some(c) => Err(format!(
            "project reads column {c} of an input with {width} columns"
        )),
        None => Ok(()),
    }
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
        MirRelationExpr::FlatMap { input, calls } => {
            let a = arity(input)?;
            for e in calls.iter().flat_map(|c| &c.exprs) {
                check_scalar(e, a, "flat map")?;
            }
            Ok(a + calls.iter().map(|c| c.func.arity()).sum::<usize>())
        }
        MirRelationExpr::Filter { input, predicates } => {
            let a = arity(input)?;
            for p in predicates {
                check_scalar(p, a, "filter")?;
            }
            Ok(a)
        }
        MirRelationExpr::Watermarked {
            input,
            watermark,
            bound_column,
            ..
        } => {
            let a = arity(input)?;
            if *bound_column >= a {
                return Err(format!(
                    "watermarked bound reads column {bound_column} of an input with {a} columns"
                ));
            }
            match arity(watermark)? {
                1 => Ok(a),
                n => Err(format!("a watermark relation has {n} columns, not 1")),
            }
        }
        MirRelationExpr::TemporalFilter { input, predicates } => {
            let a = arity(input)?;
            for p in predicates {
                check_scalar(&p.bound, a, "temporal filter")?;
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
                for o in &agg.order_by {
                    check_scalar(&o.expr, a, "aggregate order")?;
                }
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
        MirRelationExpr::Window {
            input,
            partition_key,
            order_key,
            functions,
        } => {
            let a = arity(input)?;
            let columns = partition_key
                .iter()
                .copied()
                .chain(order_key.iter().map(|o| o.column))
                .chain(functions.iter().flat_map(|f| f.func.columns()));
            match columns.into_iter().find(|c| *c >= a) {
                Some(c) => Err(format!(
                    "window reads column {c} of an input with {a} columns"
                )),
                None => Ok(a + functions.len()),
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
        MirRelationExpr::Recursive { base, step, .. } => {
            let a = arity(base)?;
            let b = arity(step)?;
            if a != b {
                return Err(format!(
                    "recursion of a base with {a} and a step with {b} columns"
                ));
            }
            Ok(a)
        }
        MirRelationExpr::GetRecursive { typ, .. } => Ok(typ.len()),
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

    #[test]
    fn rejects_malformed_mfps() {
        let mut mfp = MapFilterProject::identity(2);
        assert!(validate_mfp(&mfp).is_ok());
        mfp.expressions.push(MirScalarExpr::Column(1));
        mfp.predicates.push(MirScalarExpr::Column(2));
        mfp.projection = vec![2, 0];
        assert!(validate_mfp(&mfp).is_ok());
        let mut reads_itself = mfp.clone();
        reads_itself.expressions[0] = MirScalarExpr::Column(2);
        assert!(validate_mfp(&reads_itself).is_err());
        let mut bad_filter = mfp.clone();
        bad_filter.predicates.push(MirScalarExpr::Column(3));
        assert!(validate_mfp(&bad_filter).is_err());
        let mut bad_projection = mfp;
        bad_projection.projection.push(3);
        assert!(validate_mfp(&bad_projection).is_err());
    }
}
