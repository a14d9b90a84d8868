//! Join planning on the IR: nested inner joins become one n-ary join, and the inputs
//! of every n-ary join are put in an order that never forms a cross product while a
//! connecting equality exists.
//!
//! The join graph: inputs are nodes; two inputs are connected when an equivalence
//! class has an expression over each of them alone (`a.x = b.y`). The dataflow renders
//! a join as a left-deep chain in input order (`dataflow/render/join.rs`), so the
//! order is the plan: each input after the first should share a class with the inputs
//! before it, and then that step is keyed on it.
//!
//! Invariants:
//! - Reordering never changes what a join denotes: the inputs are permuted, every
//!   equivalence is rewritten to the new column positions, and a `Project` restores
//!   the original column order above the join.
//! - The order depends on the graph alone (connectivity first, then the order the
//!   query wrote), never on chance: plans and EXPLAIN output are deterministic.
//! - Ordering an already ordered join changes nothing (the pass is idempotent).

use std::collections::BTreeSet;

use eddy_repr::GlobalId;

use crate::relation::MirRelationExpr;
use crate::scalar::MirScalarExpr;

/// Splices every input of `inputs` that is itself a join into this join: its inputs
/// take its place, and its equivalences move up, shifted to their columns here. The
/// columns of the join are unchanged.
pub fn flatten(inputs: &mut Vec<MirRelationExpr>, equivalences: &mut Vec<Vec<MirScalarExpr>>) {
    if !inputs
        .iter()
        .any(|i| matches!(i, MirRelationExpr::Join { .. }))
    {
        return;
    }
    let mut flat = Vec::with_capacity(inputs.len());
    let mut offset = 0;
    for input in inputs.drain(..) {
        let arity = input.arity();
        match input {
            MirRelationExpr::Join {
                inputs: inner,
                equivalences: inner_equivalences,
            } => {
                for mut class in inner_equivalences {
                    class.iter_mut().for_each(|e| e.permute(&|c| c + offset));
                    equivalences.push(class);
                }
                flat.extend(inner);
            }
            other => flat.push(other),
        }
        offset += arity;
    }
    *inputs = flat;
}

/// The order in which to join `inputs`: start with the first input that has a
/// connection (the first input if none has), then repeatedly take the first input (in
/// the query's order) connected to those already taken; only when none is connected,
/// the first remaining input (a cross product the query asked for).
pub fn choose_order(arities: &[usize], equivalences: &[Vec<MirScalarExpr>]) -> Vec<usize> {
    choose_order_by_size(arities, equivalences, &vec![None; arities.len()])
}

/// As [`choose_order`], with what is known of the inputs' sizes (rows): among the
/// inputs that qualify at each step, the smallest known first (unknown ones after
/// every known one), then the query's order. Starting small and growing by the
/// smallest connected input keeps the intermediate results of a chain small when the
/// equalities are selective; without sizes this is [`choose_order`].
pub fn choose_order_by_size(
    arities: &[usize],
    equivalences: &[Vec<MirScalarExpr>],
    sizes: &[Option<u64>],
) -> Vec<usize> {
    let edges = connections(arities, equivalences);
    let n = arities.len();
    let rank = |i: usize| (sizes.get(i).copied().flatten().unwrap_or(u64::MAX), i);
    let start = (0..n)
        .filter(|i| edges.iter().any(|(a, b)| a == i || b == i))
        .min_by_key(|i| rank(*i))
        .unwrap_or(0);
    grow_order(start, n, &edges, rank)
}

/// From `start`, repeatedly the first input connected to those taken, else the first
/// remaining one.
fn order_from(start: usize, n: usize, edges: &BTreeSet<(usize, usize)>) -> Vec<usize> {
    grow_order(start, n, edges, |i| (0, i))
}

/// From `start`, repeatedly the connected input of least `rank`, else (a cross
/// product) the first remaining one.
fn grow_order(
    start: usize,
    n: usize,
    edges: &BTreeSet<(usize, usize)>,
    rank: impl Fn(usize) -> (u64, usize),
) -> Vec<usize> {
    let connected = |i: usize, taken: &[usize]| {
        taken
            .iter()
            .any(|t| edges.contains(&(i.min(*t), i.max(*t))))
    };
    let mut order = vec![start];
    while order.len() < n {
        let remaining = || (0..n).filter(|i| !order.contains(i));
        let next = remaining()
            .filter(|i| connected(*i, &order))
            .min_by_key(|i| rank(*i))
            .or_else(|| remaining().next())
            .expect("an input remains");
        order.push(next);
    }
    order
}

/// How a join is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinImplementation {
    /// A left-deep chain of binary joins in input order: each step arranges its
    /// input and the result so far (an intermediate arrangement per step after the
    /// first). Cheapest to compute once.
    Linear,
    /// One path per input: a change of that input looks up the matching rows of the
    /// others, one arrangement after another, at the change's time (strictly before
    /// it for inputs earlier in the list, so that simultaneous changes count once).
    /// Arranges every input by each key it is looked up by, and nothing else: no
    /// intermediate result is ever arranged, and a change costs lookups, not a pass
    /// through every later join step.
    Delta,
}

/// How to render a join of inputs with these arities and equivalences, and why (the
/// reason EXPLAIN prints). `maintained` is true for a dataflow kept up to date (a
/// materialized view), false for a one-off query.
pub fn choose_implementation(
    arities: &[usize],
    equivalences: &[Vec<MirScalarExpr>],
    maintained: bool,
) -> (JoinImplementation, &'static str) {
    if !maintained {
        return (JoinImplementation::Linear, "one-off query: computed once");
    }
    if arities.len() < 3 {
        return (
            JoinImplementation::Linear,
            "two inputs: no intermediate result to save",
        );
    }
    let edges = connections(arities, equivalences);
    let reached = order_from(0, arities.len(), &edges);
    let all_connected = reached.iter().enumerate().skip(1).all(|(k, i)| {
        reached[..k]
            .iter()
            .any(|t| edges.contains(&((*i).min(*t), (*i).max(*t))))
    });
    if !all_connected {
        return (
            JoinImplementation::Linear,
            "a cross product: some input shares no equality with the others",
        );
    }
    (
        JoinImplementation::Delta,
        "every input shares an equality with the others: changes look up arranged inputs, no intermediate result is arranged",
    )
}

/// For a delta join, the order in which the path that starts at each input looks up
/// the others: `paths[i][0] == i`, then along the join graph (query order among the
/// connected ones).
pub fn delta_paths(arities: &[usize], equivalences: &[Vec<MirScalarExpr>]) -> Vec<Vec<usize>> {
    let edges = connections(arities, equivalences);
    (0..arities.len())
        .map(|start| order_from(start, arities.len(), &edges))
        .collect()
}

/// Pairs of inputs `(a, b)` with `a < b` that some equivalence class connects.
fn connections(arities: &[usize], equivalences: &[Vec<MirScalarExpr>]) -> BTreeSet<(usize, usize)> {
    let mut offsets = Vec::with_capacity(arities.len());
    let mut total = 0;
    for a in arities {
        offsets.push(total);
        total += a;
    }
    let input_of = |col: usize| offsets.iter().rposition(|o| *o <= col).unwrap_or(0);
    let mut edges = BTreeSet::new();
    for class in equivalences {
        // The inputs that an expression of this class reads alone.
        let alone: BTreeSet<usize> = class
            .iter()
            .filter_map(|e| {
                let inputs: BTreeSet<usize> = e.support().into_iter().map(input_of).collect();
                (inputs.len() == 1).then(|| *inputs.iter().next().expect("one input"))
            })
            .collect();
        for a in &alone {
            for b in &alone {
                if a < b {
                    edges.insert((*a, *b));
                }
            }
        }
    }
    edges
}

/// Reorders the inputs of every join in `expr` (see [`choose_order`]), bottom up.
pub fn order_joins(expr: &mut MirRelationExpr) {
    order_joins_by_size(expr, &|_| None);
}

/// The rows an input of a join reads, as far as `sizes` (of stored relations) tells:
/// a relation's size bounds any map, filter or projection of it.
fn input_size(expr: &MirRelationExpr, sizes: &dyn Fn(GlobalId) -> Option<u64>) -> Option<u64> {
    match expr {
        MirRelationExpr::Get { id, .. } => sizes(*id),
        MirRelationExpr::Map { input, .. }
        | MirRelationExpr::Filter { input, .. }
        | MirRelationExpr::Project { input, .. } => input_size(input, sizes),
        MirRelationExpr::Constant { rows, .. } => Some(rows.len() as u64),
        _ => None,
    }
}

/// As [`order_joins`], ordering by the sizes of the stored relations the inputs read
/// (see [`choose_order_by_size`]).
pub fn order_joins_by_size(expr: &mut MirRelationExpr, sizes: &dyn Fn(GlobalId) -> Option<u64>) {
    for child in expr.children_mut() {
        order_joins_by_size(child, sizes);
    }
    let MirRelationExpr::Join {
        inputs,
        equivalences,
    } = expr
    else {
        return;
    };
    let arities: Vec<usize> = inputs.iter().map(|i| i.arity()).collect();
    let input_sizes: Vec<Option<u64>> = inputs.iter().map(|i| input_size(i, sizes)).collect();
    let order = choose_order_by_size(&arities, equivalences, &input_sizes);
    if order.iter().enumerate().all(|(position, i)| position == *i) {
        return;
    }
    let mut old_offsets = Vec::with_capacity(arities.len());
    let mut total = 0;
    for a in &arities {
        old_offsets.push(total);
        total += a;
    }
    // new_position[old column] = its column in the reordered join.
    let mut new_position = vec![0; total];
    let mut next = 0;
    for &i in &order {
        for c in 0..arities[i] {
            new_position[old_offsets[i] + c] = next;
            next += 1;
        }
    }
    let mut old_inputs: Vec<Option<MirRelationExpr>> =
        std::mem::take(inputs).into_iter().map(Some).collect();
    let reordered: Vec<MirRelationExpr> = order
        .iter()
        .map(|i| old_inputs[*i].take().expect("each input once"))
        .collect();
    let mut classes = std::mem::take(equivalences);
    for e in classes.iter_mut().flatten() {
        e.permute(&|c| new_position[c]);
    }
    let join = MirRelationExpr::Join {
        inputs: reordered,
        equivalences: classes,
    };
    *expr = join.project(new_position);
}

#[cfg(test)]
mod tests {
    use eddy_repr::{GlobalId, ScalarType};

    use super::*;
    use crate::func::BinaryFunc;
    use crate::optimize::optimize;

    fn get(n: u64) -> MirRelationExpr {
        MirRelationExpr::Get {
            id: GlobalId::User(n),
            typ: vec![ScalarType::Int32.nullable(true); 2],
            name: format!("t{n}"),
        }
    }

    fn col_eq(a: usize, b: usize) -> MirScalarExpr {
        MirScalarExpr::column(a).call_binary(MirScalarExpr::column(b), BinaryFunc::Eq)
    }

    #[test]
    fn nested_joins_flatten_and_follow_the_graph() {
        // `FROM t1, t3, t2 WHERE t1.b = t2.a AND t2.b = t3.a`, planned as nested
        // binary joins in FROM order: t1 and t3 share nothing.
        let from = MirRelationExpr::Join {
            inputs: vec![
                MirRelationExpr::Join {
                    inputs: vec![get(1), get(3)],
                    equivalences: vec![],
                },
                get(2),
            ],
            equivalences: vec![],
        };
        let plan = optimize(from.filter(vec![col_eq(1, 4), col_eq(5, 2)]));
        let expected = MirRelationExpr::Join {
            inputs: vec![get(1), get(2), get(3)],
            equivalences: vec![eq(1, 2), eq(3, 4)],
        }
        .project(vec![0, 1, 4, 5, 2, 3]);
        assert_eq!(plan, expected);
        // Optimizing again changes nothing.
        assert_eq!(optimize(plan.clone()), plan);
    }

    fn eq(a: usize, b: usize) -> Vec<MirScalarExpr> {
        vec![MirScalarExpr::Column(a), MirScalarExpr::Column(b)]
    }

    #[test]
    fn a_chain_written_out_of_order_is_joined_along_the_chain() {
        // Inputs of arity 2: t0 - t2 - t1 - t3 is the chain (columns 2k, 2k+1).
        let arities = [2, 2, 2, 2];
        let classes = [eq(1, 4), eq(5, 2), eq(3, 6)];
        assert_eq!(choose_order(&arities, &classes), vec![0, 2, 1, 3]);
    }

    #[test]
    fn disconnected_inputs_come_last_and_isolated_starts_are_skipped() {
        let arities = [1, 1, 1, 1];
        // t0 is isolated; t1 - t3; t2 isolated.
        let classes = [eq(1, 3)];
        assert_eq!(choose_order(&arities, &classes), vec![1, 3, 0, 2]);
        assert_eq!(choose_order(&arities, &[]), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_class_of_three_connects_every_pair() {
        let arities = [1, 1, 1];
        let classes = [vec![
            MirScalarExpr::Column(0),
            MirScalarExpr::Column(2),
            MirScalarExpr::Column(1),
        ]];
        assert_eq!(choose_order(&arities, &classes), vec![0, 1, 2]);
    }

    #[test]
    fn known_sizes_start_small_and_grow_by_the_smallest_neighbour() {
        // A star: input 0 (the fact) joins each of 1, 2, 3.
        let arities = [4, 1, 1, 1];
        let classes = vec![eq(1, 4), eq(2, 5), eq(3, 6)];
        assert_eq!(choose_order(&arities, &classes), vec![0, 1, 2, 3]);
        let sizes = [Some(1_000_000), Some(500), Some(20), Some(90)];
        assert_eq!(
            choose_order_by_size(&arities, &classes, &sizes),
            vec![2, 0, 3, 1]
        );
        // Unknown sizes come after known ones; without any, the query's order holds.
        let sizes = [None, None, Some(7), None];
        assert_eq!(
            choose_order_by_size(&arities, &classes, &sizes),
            vec![2, 0, 1, 3]
        );
        assert_eq!(
            choose_order_by_size(&arities, &classes, &[None; 4]),
            choose_order(&arities, &classes)
        );
    }
}
