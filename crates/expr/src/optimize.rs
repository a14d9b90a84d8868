//! Optimizer passes over the IR. Each pass preserves the multiset a plan denotes,
//! including which rows produce errors: a pass may drop work, never change results.
//!
//! Passes, in order: scalar constant folding; relation constant folding (Map, FlatMap, Filter,
//! Project, Union and Negate over constants); fusion of stacked Filters and Projects and
//! of nested inner joins into one n-ary join; pushing filters into join inputs and
//! turning cross-input equalities into join equivalences (so `FROM a, b WHERE a.x =
//! b.y` joins on a key, not a cross product); a `TopK` under a window filtered on its
//! `row_number()` (see [`limit_window`]); and, once those reach a fixed point,
//! ordering each join's inputs along its join graph (`join_order.rs`).

use eddy_repr::{Datum, Diff, Row};

use crate::error::EvalError;
use crate::func::{BinaryFunc, VariadicFunc};
use crate::relation::MirRelationExpr;
use crate::scalar::MirScalarExpr;

/// Runs every pass to a fixed point (bounded).
pub fn optimize(expr: MirRelationExpr) -> MirRelationExpr {
    optimize_with_sizes(expr, &|_| None)
}

/// As [`optimize`], ordering joins by what `sizes` tells of the stored relations they
/// read (rows; `None` when unknown).
pub fn optimize_with_sizes(
    mut expr: MirRelationExpr,
    sizes: &dyn Fn(eddy_repr::GlobalId) -> Option<u64>,
) -> MirRelationExpr {
    for _ in 0..8 {
        let before = expr.clone();
        fold_scalars(&mut expr);
        fuse_and_push(&mut expr);
        fold_constants(&mut expr);
        if expr == before {
            break;
        }
    }
    crate::join_order::order_joins_by_size(&mut expr, sizes);
    fuse_and_push(&mut expr);
    expr
}

/// Folds every column-free scalar sub-expression into a literal (keeping errors as
/// error literals, which fail only when a row reaches them).
#[recursive::recursive]
pub fn fold_scalar(expr: &mut MirScalarExpr, input_typ: &[eddy_repr::ColumnType]) {
    // A cast that only drops a type modifier (`numeric(10,2)` to `numeric`) leaves
    // every value as it is.
    if let MirScalarExpr::CallUnary {
        func: crate::func::UnaryFunc::Cast { to, .. },
        expr: inner,
    } = expr
    {
        let from = inner.typ(input_typ).scalar_type;
        if from != *to && *to == to.without_modifiers() && from.without_modifiers() == *to {
            let inner = std::mem::replace(inner.as_mut(), MirScalarExpr::Column(0));
            *expr = inner;
        }
    }
    // A field of a record built right there is the value put in it; a field of a
    // CASE is the CASE of the field of each branch (so a select list's
    // `(srf(x)).n`, a NULL record past the call's last row, reads its column).
    if let MirScalarExpr::CallUnary {
        func: crate::func::UnaryFunc::RecordField { index, typ },
        expr: inner,
    } = expr
    {
        let func = crate::func::UnaryFunc::RecordField {
            index: *index,
            typ: *typ,
        };
        let index = *index;
        match inner.as_mut() {
            MirScalarExpr::CallVariadic {
                func: crate::func::VariadicFunc::RecordCreate,
                exprs,
            } if index < exprs.len() => *expr = exprs.swap_remove(index),
            MirScalarExpr::If { cond, then, els } => {
                let field = |e: &mut Box<MirScalarExpr>| {
                    let e = std::mem::replace(e.as_mut(), MirScalarExpr::Column(0));
                    Box::new(e.call_unary(func.clone()))
                };
                *expr = MirScalarExpr::If {
                    cond: std::mem::replace(cond, Box::new(MirScalarExpr::Column(0))),
                    then: field(then),
                    els: field(els),
                };
            }
            _ => {}
        }
    }
    match expr {
        MirScalarExpr::Column(_) | MirScalarExpr::Literal(..) => return,
        MirScalarExpr::CallUnary { expr: e, .. } => fold_scalar(e, input_typ),
        MirScalarExpr::CallBinary { expr1, expr2, .. } => {
            fold_scalar(expr1, input_typ);
            fold_scalar(expr2, input_typ);
        }
        MirScalarExpr::CallVariadic { exprs, .. } => {
            exprs.iter_mut().for_each(|e| fold_scalar(e, input_typ));
        }
        MirScalarExpr::If { cond, then, els } => {
            fold_scalar(cond, input_typ);
            fold_scalar(then, input_typ);
            fold_scalar(els, input_typ);
        }
    }
    if let MirScalarExpr::If { cond, .. } = expr {
        if let MirScalarExpr::Literal(Ok(d), _) = cond.as_ref() {
            let cond_true = *d == Datum::Bool(true);
            let typ = expr.typ(input_typ);
            let MirScalarExpr::If { then, els, .. } = expr else {
                unreachable!()
            };
            let taken = if cond_true { then } else { els };
            let mut taken = std::mem::replace(taken.as_mut(), MirScalarExpr::Column(0));
            // Keep the CASE's type (a NULL branch takes the other branch's type).
            if let MirScalarExpr::Literal(res, _) = &mut taken {
                taken = MirScalarExpr::Literal(res.clone(), typ);
            }
            *expr = taken;
        }
        return;
    }
    // A strict operator with a NULL operand is NULL, whatever the other operand would
    // give, errors included (`x / 0 = NULL` is NULL, as in Postgres, which folds it
    // before reading a row).
    if let MirScalarExpr::CallBinary { func, expr1, expr2 } = expr {
        let is_null = |e: &MirScalarExpr| matches!(e, MirScalarExpr::Literal(Ok(Datum::Null), _));
        if func.is_strict() && (is_null(expr1) || is_null(expr2)) {
            let typ = expr.typ(input_typ).scalar_type.nullable(true);
            *expr = MirScalarExpr::Literal(Ok(Datum::Null), typ);
            return;
        }
    }
    if expr.support().is_empty() && !expr.is_volatile() {
        let typ = expr.typ(input_typ);
        let result = expr.eval(&[]);
        *expr = MirScalarExpr::Literal(result, typ);
    }
}

fn fold_scalars(expr: &mut MirRelationExpr) {
    for child in expr.children_mut() {
        fold_scalars(child);
    }
    match expr {
        MirRelationExpr::Map { input, scalars } => {
            let mut typ = input.typ();
            for s in scalars.iter_mut() {
                fold_scalar(s, &typ);
                typ.push(s.typ(&typ));
            }
        }
        MirRelationExpr::FlatMap { input, calls } => {
            let typ = input.typ();
            calls
                .iter_mut()
                .flat_map(|c| c.exprs.iter_mut())
                .for_each(|e| fold_scalar(e, &typ));
        }
        MirRelationExpr::Filter { input, predicates } => {
            let typ = input.typ();
            predicates.iter_mut().for_each(|p| fold_scalar(p, &typ));
            // A literal `true` predicate filters nothing.
            predicates.retain(|p| p.as_literal() != Some(&Datum::Bool(true)));
            if predicates.is_empty() {
                *expr = std::mem::replace(input.as_mut(), empty_like(&[]));
            }
        }
        MirRelationExpr::Reduce {
            input,
            group_key,
            aggregates,
        } => {
            let typ = input.typ();
            group_key.iter_mut().for_each(|k| fold_scalar(k, &typ));
            for a in aggregates.iter_mut() {
                fold_scalar(&mut a.expr, &typ);
                a.order_by
                    .iter_mut()
                    .for_each(|o| fold_scalar(&mut o.expr, &typ));
            }
        }
        MirRelationExpr::Join {
            inputs,
            equivalences,
        } => {
            let typ: Vec<_> = inputs.iter().flat_map(|i| i.typ()).collect();
            equivalences
                .iter_mut()
                .flatten()
                .for_each(|e| fold_scalar(e, &typ));
        }
        _ => {}
    }
}

fn empty_like(typ: &[eddy_repr::ColumnType]) -> MirRelationExpr {
    MirRelationExpr::Constant {
        rows: vec![],
        typ: typ.to_vec(),
    }
}

/// Evaluates a plan that reads no collection (only constants), e.g. the rows of an
/// `INSERT ... VALUES`. `None` if the plan reads a collection or uses an operator this
/// evaluator does not handle; `Some(Err)` if a row's evaluation fails.
pub fn eval_constant(expr: &MirRelationExpr) -> Option<Result<Vec<(Row, Diff)>, EvalError>> {
    Some(match expr {
        MirRelationExpr::Constant { rows, .. } => Ok(rows.clone()),
        MirRelationExpr::Map { input, scalars } => eval_constant(input)?.and_then(|rows| {
            rows.into_iter()
                .map(|(row, diff)| {
                    let mut datums = row.unpack();
                    for s in scalars {
                        let d = s.eval(&datums)?;
                        datums.push(d);
                    }
                    Ok((Row::pack(&datums), diff))
                })
                .collect()
        }),
        MirRelationExpr::FlatMap { input, calls } => {
            let rows = match eval_constant(input)? {
                Ok(rows) => rows,
                Err(e) => return Some(Err(e)),
            };
            // A long series is left to the dataflow, off the caller's thread.
            let mut out = Vec::new();
            for (row, diff) in rows {
                let datums = row.unpack();
                let limit = FOLDED_ROWS_MAX.saturating_sub(out.len());
                match crate::table_func::eval_calls(calls, &datums, limit) {
                    Ok(Some(appended)) => out.extend(
                        appended
                            .into_iter()
                            .map(|a| (Row::pack(datums.iter().chain(a.iter())), diff)),
                    ),
                    Ok(None) => return None,
                    Err(e) => return Some(Err(e)),
                }
            }
            Ok(out)
        }
        MirRelationExpr::Filter { input, predicates } => eval_constant(input)?.and_then(|rows| {
            let mut out = Vec::new();
            for (row, diff) in rows {
                let datums = row.unpack();
                let mut keep = true;
                for p in predicates {
                    if p.eval(&datums)? != Datum::Bool(true) {
                        keep = false;
                        break;
                    }
                }
                if keep {
                    out.push((row, diff));
                }
            }
            Ok(out)
        }),
        MirRelationExpr::Project { input, outputs } => eval_constant(input)?.map(|rows| {
            rows.into_iter()
                .map(|(row, diff)| {
                    let datums = row.unpack();
                    (Row::pack(outputs.iter().map(|c| &datums[*c])), diff)
                })
                .collect()
        }),
        MirRelationExpr::Union { base, inputs } => {
            let mut all = match eval_constant(base)? {
                Ok(rows) => rows,
                Err(e) => return Some(Err(e)),
            };
            for input in inputs {
                match eval_constant(input)? {
                    Ok(rows) => all.extend(rows),
                    Err(e) => return Some(Err(e)),
                }
            }
            Ok(all)
        }
        MirRelationExpr::Negate { input } => {
            eval_constant(input)?.map(|rows| rows.into_iter().map(|(r, d)| (r, -d)).collect())
        }
        _ => return None,
    })
}

/// Rows a set-returning function may add to a constant: a larger result (a long
/// `generate_series`) is left to the dataflow rather than computed in the plan.
const FOLDED_ROWS_MAX: usize = 10_000;

fn fold_constants(expr: &mut MirRelationExpr) {
    for child in expr.children_mut() {
        fold_constants(child);
    }
    let foldable = matches!(
        expr,
        MirRelationExpr::Map { .. }
            | MirRelationExpr::FlatMap { .. }
            | MirRelationExpr::Filter { .. }
            | MirRelationExpr::Project { .. }
            | MirRelationExpr::Union { .. }
            | MirRelationExpr::Negate { .. }
    ) && expr
        .children()
        .iter()
        .all(|c| matches!(c, MirRelationExpr::Constant { .. }));
    if foldable {
        if let Some(Ok(mut rows)) = eval_constant(expr) {
            consolidate(&mut rows);
            *expr = MirRelationExpr::Constant {
                rows,
                typ: expr.typ(),
            };
        }
    }
}

/// Sorts updates and sums the diffs of equal rows, dropping zeros.
pub fn consolidate(rows: &mut Vec<(Row, Diff)>) {
    // In place: the copies of a row are merged into its first, without a second vector
    // (loads consolidate millions of rows).
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut kept = 0;
    for i in 0..rows.len() {
        if kept > 0 && rows[kept - 1].0 == rows[i].0 {
            rows[kept - 1].1 += rows[i].1;
        } else {
            rows.swap(kept, i);
            kept += 1;
        }
    }
    rows.truncate(kept);
    rows.retain(|(_, d)| *d != 0);
}

fn fuse_and_push(expr: &mut MirRelationExpr) {
    for child in expr.children_mut() {
        fuse_and_push(child);
    }
    match expr {
        MirRelationExpr::Filter { input, predicates } => {
            // Filter(Filter(x)) → one Filter.
            if let MirRelationExpr::Filter {
                input: inner,
                predicates: inner_preds,
            } = input.as_mut()
            {
                let mut all = std::mem::take(inner_preds);
                all.append(predicates);
                let inner = std::mem::replace(inner.as_mut(), empty_like(&[]));
                *expr = MirRelationExpr::Filter {
                    input: Box::new(inner),
                    predicates: all,
                };
                return;
            }
            // Split conjunctions so each conjunct can move on its own.
            let mut split = Vec::new();
            for p in predicates.drain(..) {
                flatten_and(p, &mut split);
            }
            *predicates = split;
            for p in predicates.iter() {
                limit_window(input, p);
            }
            if let MirRelationExpr::FlatMap {
                input: flat_input, ..
            } = input.as_mut()
            {
                push_below_flat_map(flat_input, predicates);
                if predicates.is_empty() {
                    *expr = std::mem::replace(input.as_mut(), empty_like(&[]));
                    return;
                }
            }
            if let MirRelationExpr::Join {
                inputs,
                equivalences,
            } = input.as_mut()
            {
                push_into_join(inputs, equivalences, predicates);
                if predicates.is_empty() {
                    *expr = std::mem::replace(input.as_mut(), empty_like(&[]));
                }
            }
        }
        MirRelationExpr::Join {
            inputs,
            equivalences,
        } => crate::join_order::flatten(inputs, equivalences),
        MirRelationExpr::Project { input, outputs } => {
            if let MirRelationExpr::Project {
                input: inner,
                outputs: inner_outputs,
            } = input.as_mut()
            {
                let fused: Vec<usize> = outputs.iter().map(|c| inner_outputs[*c]).collect();
                let inner = std::mem::replace(inner.as_mut(), empty_like(&[]));
                *expr = MirRelationExpr::Project {
                    input: Box::new(inner),
                    outputs: fused,
                };
            }
        }
        _ => {}
    }
}

/// Moves the conjuncts that read only a `FlatMap`'s input columns below it, so the
/// set-returning functions run only on the rows that pass them. As in Postgres, a
/// function then never sees a row the filter drops: `FROM t, jsonb_each(t.j) WHERE
/// jsonb_typeof(t.j) = 'object'` raises no error for a `t.j` that is an array.
fn push_below_flat_map(flat_input: &mut Box<MirRelationExpr>, predicates: &mut Vec<MirScalarExpr>) {
    let arity = flat_input.arity();
    let (below, above): (Vec<_>, Vec<_>) = std::mem::take(predicates)
        .into_iter()
        .partition(|p| !p.is_volatile() && p.support().iter().all(|c| *c < arity));
    *predicates = above;
    if below.is_empty() {
        return;
    }
    let inner = std::mem::replace(flat_input.as_mut(), empty_like(&[]));
    **flat_input = MirRelationExpr::Filter {
        input: Box::new(inner),
        predicates: below,
    };
}

/// The top-K pattern: under a filter `rn <= k` (or `rn < k`, `rn = k`), where `rn`
/// is the `row_number()` of a `Window` reached through Maps and Projects, and every
/// function of that window reads only the rows before the current one, the window's
/// input is cut to each partition's first `k` rows by a `TopK` with the window's
/// partition and order. The TopK breaks ties among peers as the window numbers them
/// (by row encoding), so the rows kept are exactly those numbered `1..=k`; the filter
/// stays. A change then re-evaluates at most `k` rows of a partition.
fn limit_window(input: &mut MirRelationExpr, predicate: &MirScalarExpr) {
    let MirScalarExpr::CallBinary { func, expr1, expr2 } = predicate else {
        return;
    };
    let (column, bound, func) = match (expr1.as_ref(), expr2.as_ref()) {
        (MirScalarExpr::Column(c), other) => (*c, other, func.clone()),
        (other, MirScalarExpr::Column(c)) => {
            let flipped = match func {
                BinaryFunc::Gte => BinaryFunc::Lte,
                BinaryFunc::Gt => BinaryFunc::Lt,
                BinaryFunc::Eq => BinaryFunc::Eq,
                _ => return,
            };
            (*c, other, flipped)
        }
        _ => return,
    };
    let bound = match bound.as_literal() {
        Some(Datum::Int64(k)) => *k,
        Some(Datum::Int32(k)) => i64::from(*k),
        Some(Datum::Int16(k)) => i64::from(*k),
        _ => return,
    };
    let limit = match func {
        BinaryFunc::Lte | BinaryFunc::Eq => bound,
        BinaryFunc::Lt => bound - 1,
        _ => return,
    };
    let Ok(limit) = usize::try_from(limit) else {
        return;
    };
    let mut node = input;
    let mut column = column;
    loop {
        match node {
            MirRelationExpr::Map { input, .. } | MirRelationExpr::Filter { input, .. } => {
                if column >= input.arity() {
                    return;
                }
                node = input;
            }
            MirRelationExpr::Project { input, outputs } => {
                column = outputs[column];
                node = input;
            }
            MirRelationExpr::Window {
                input,
                partition_key,
                order_key,
                functions,
            } => {
                let arity = input.arity();
                if column < arity {
                    node = input;
                    continue;
                }
                let numbers_rows = matches!(
                    functions.get(column - arity).map(|f| &f.func),
                    Some(crate::window::WindowFunc::RowNumber)
                );
                let prefix_safe = functions
                    .iter()
                    .all(|f| f.func.reads_only_preceding(&f.frame));
                let limited = matches!(
                    input.as_ref(),
                    MirRelationExpr::TopK { group_key, order_key: o, limit: Some(l), offset: 0, .. }
                        if group_key == partition_key && o == order_key && *l <= limit
                );
                if numbers_rows && prefix_safe && !limited {
                    let inner = std::mem::replace(input.as_mut(), empty_like(&[]));
                    **input = MirRelationExpr::TopK {
                        input: Box::new(inner),
                        group_key: partition_key.clone(),
                        order_key: order_key.clone(),
                        limit: Some(limit),
                        offset: 0,
                    };
                }
                return;
            }
            _ => return,
        }
    }
}

fn flatten_and(p: MirScalarExpr, out: &mut Vec<MirScalarExpr>) {
    match p {
        MirScalarExpr::CallVariadic {
            func: VariadicFunc::And,
            exprs,
        } => {
            for e in exprs {
                flatten_and(e, out);
            }
        }
        other => out.push(other),
    }
}

/// Moves predicates that read one join input into that input, and equalities between
/// expressions of different inputs into the join's equivalences. Predicates that stay
/// are left in `predicates`.
fn push_into_join(
    inputs: &mut [MirRelationExpr],
    equivalences: &mut Vec<Vec<MirScalarExpr>>,
    predicates: &mut Vec<MirScalarExpr>,
) {
    let arities: Vec<usize> = inputs.iter().map(|i| i.arity()).collect();
    let mut offsets = vec![0];
    for a in &arities {
        offsets.push(offsets.last().unwrap() + a);
    }
    let input_of = |col: usize| {
        offsets
            .iter()
            .rposition(|o| *o <= col)
            .unwrap()
            .min(arities.len() - 1)
    };
    let mut remaining = Vec::new();
    for p in predicates.drain(..) {
        // A volatile predicate stays where it is, evaluated once per joined row.
        if p.is_volatile() {
            remaining.push(p);
            continue;
        }
        let support = p.support();
        let owners: std::collections::BTreeSet<usize> =
            support.iter().map(|c| input_of(*c)).collect();
        if owners.len() == 1 {
            let i = *owners.iter().next().unwrap();
            let mut local = p;
            let offset = offsets[i];
            local.permute(&|c| c - offset);
            let input = std::mem::replace(&mut inputs[i], empty_like(&[]));
            inputs[i] = input.filter(vec![local]);
            continue;
        }
        if let MirScalarExpr::CallBinary {
            func: BinaryFunc::Eq,
            expr1,
            expr2,
        } = &p
        {
            let left: std::collections::BTreeSet<usize> =
                expr1.support().iter().map(|c| input_of(*c)).collect();
            let right: std::collections::BTreeSet<usize> =
                expr2.support().iter().map(|c| input_of(*c)).collect();
            if left.len() == 1 && right.len() == 1 && left != right {
                equivalences.push(vec![(**expr1).clone(), (**expr2).clone()]);
                continue;
            }
        }
        remaining.push(p);
    }
    *predicates = remaining;
}

#[cfg(test)]
mod tests {
    use super::consolidate;
    use eddy_repr::{Datum, Row};

    #[test]
    fn consolidate_merges_copies_and_drops_zeros() {
        let row = |i: i64| Row::pack(&[Datum::Int64(i)]);
        let mut rows = vec![
            (row(3), 1),
            (row(1), 2),
            (row(3), -1),
            (row(2), 1),
            (row(1), 1),
            (row(4), 1),
            (row(2), 1),
        ];
        consolidate(&mut rows);
        assert_eq!(rows, vec![(row(1), 3), (row(2), 2), (row(4), 1)]);
        let mut none: Vec<(Row, i64)> = vec![];
        consolidate(&mut none);
        assert!(none.is_empty());
    }
}
