//! Joins: a left-deep chain of binary joins over arrangements keyed by the
//! equivalence-class expressions that connect the inputs joined so far (the prefix)
//! to the next input.
//!
//! Semantics (those of `MirRelationExpr::Join`): the cross product of the inputs,
//! restricted to rows where every expression of every equivalence class is equal to
//! the others and not NULL. Expressions read the concatenation of the inputs' columns.
//!
//! Plan: each class keeps a representative, the first of its expressions whose
//! columns are available. At each step, a class with a representative over the
//! prefix and an expression over the next input alone contributes one key column
//! (representative on the prefix side, expression on the input side). Every other
//! expression becomes a filter where its columns first exist: on an input before it
//! is arranged when it reads that input alone, after the join step otherwise. A key
//! with a NULL matches nothing; an input with no key column is a cross join.

use std::cmp::Ordering;

use eddy_expr::{EvalError, MirScalarExpr};
use eddy_repr::{Datum, Row};

use differential_dataflow::VecCollection;
use eddy_repr::Diff;

use super::half_join::half_join;
use super::operators::{
    flat_map_fallible, metered, pack_join_key, ByteMeter, ErrCollection, KeyedArranged, Rendered,
    RowCollection, Time,
};
use super::pairs::{join_pairs, PairResult};

/// A condition an equivalence class imposes on the rows that have its columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Constraint {
    /// Both sides are non-NULL and equal.
    Equal(MirScalarExpr, MirScalarExpr),
    /// The expression is not NULL (a class of one expression).
    NotNull(MirScalarExpr),
}

impl Constraint {
    pub(crate) fn holds(&self, datums: &[Datum]) -> Result<bool, EvalError> {
        match self {
            Constraint::Equal(a, b) => {
                let a = a.eval(datums)?;
                if a.is_null() {
                    return Ok(false);
                }
                let b = b.eval(datums)?;
                Ok(!b.is_null() && a.sql_cmp(&b) == Ordering::Equal)
            }
            Constraint::NotNull(a) => Ok(!a.eval(datums)?.is_null()),
        }
    }
}

/// Whether every constraint holds on `datums`.
pub(crate) fn all_hold(constraints: &[Constraint], datums: &[Datum]) -> Result<bool, EvalError> {
    for c in constraints {
        if !c.holds(datums)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One binary join of the chain: the prefix (inputs `0..j`) with input `j`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JoinStage {
    /// Key expressions over the prefix's columns.
    pub prefix_key: Vec<MirScalarExpr>,
    /// Key expressions over the input's own columns (rebased to start at 0).
    pub input_key: Vec<MirScalarExpr>,
    /// Constraints over the input's own columns, applied before arranging it.
    pub input_filters: Vec<Constraint>,
    /// Constraints over the joined columns, applied after the join.
    pub post_filters: Vec<Constraint>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JoinPlan {
    /// Constraints over input 0 alone.
    pub initial_filters: Vec<Constraint>,
    /// One stage per input after the first.
    pub stages: Vec<JoinStage>,
}

struct ClassState {
    representative: Option<MirScalarExpr>,
    pending: Vec<MirScalarExpr>,
    singleton: bool,
}

impl ClassState {
    /// Places every pending expression whose columns are all below `bound`.
    fn place_bound(&mut self, bound: usize, filters: &mut Vec<Constraint>) {
        let (ready, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|e| e.support().iter().all(|c| *c < bound));
        self.pending = pending;
        for expr in ready {
            match &self.representative {
                Some(rep) => filters.push(Constraint::Equal(expr, rep.clone())),
                None => {
                    if self.singleton {
                        filters.push(Constraint::NotNull(expr.clone()));
                    }
                    self.representative = Some(expr);
                }
            }
        }
    }
}

impl JoinPlan {
    pub(crate) fn new(arities: &[usize], equivalences: &[Vec<MirScalarExpr>]) -> JoinPlan {
        let mut classes: Vec<ClassState> = equivalences
            .iter()
            .map(|class| ClassState {
                representative: None,
                pending: class.clone(),
                singleton: class.len() == 1,
            })
            .collect();
        let mut initial_filters = Vec::new();
        let mut bound = arities.first().copied().unwrap_or(0);
        for class in &mut classes {
            class.place_bound(bound, &mut initial_filters);
        }
        let mut stages = Vec::new();
        for arity in arities.iter().skip(1) {
            let (lo, hi) = (bound, bound + arity);
            let mut stage = JoinStage {
                prefix_key: Vec::new(),
                input_key: Vec::new(),
                input_filters: Vec::new(),
                post_filters: Vec::new(),
            };
            for class in &mut classes {
                let (local, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut class.pending)
                    .into_iter()
                    .partition(|e| {
                        let support = e.support();
                        !support.is_empty() && support.iter().all(|c| *c >= lo && *c < hi)
                    });
                class.pending = pending;
                let Some((first, rest)) = local.split_first() else {
                    continue;
                };
                let rebase = |e: &MirScalarExpr| {
                    let mut e = e.clone();
                    e.permute(&|c| c - lo);
                    e
                };
                let first_local = rebase(first);
                for other in rest {
                    stage
                        .input_filters
                        .push(Constraint::Equal(rebase(other), first_local.clone()));
                }
                match &class.representative {
                    Some(rep) => {
                        stage.prefix_key.push(rep.clone());
                        stage.input_key.push(first_local);
                    }
                    None => {
                        if class.singleton {
                            stage.input_filters.push(Constraint::NotNull(first_local));
                        }
                        class.representative = Some(first.clone());
                    }
                }
            }
            bound = hi;
            for class in &mut classes {
                class.place_bound(bound, &mut stage.post_filters);
            }
            stages.push(stage);
        }
        JoinPlan {
            initial_filters,
            stages,
        }
    }
}

/// The rows of `rows` that pass `constraints`, and the errors evaluating them.
fn filter_rows<'s>(
    name: &str,
    rows: RowCollection<'s>,
    constraints: Vec<Constraint>,
) -> (RowCollection<'s>, ErrCollection<'s>) {
    flat_map_fallible(rows, name, move |row: Row| {
        match all_hold(&constraints, &row.unpack()) {
            Ok(true) => Some(Ok(row)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    })
}

/// Filters `input` by `constraints` in one operator (or returns it unchanged).
fn filter<'s>(name: &str, input: Rendered<'s>, constraints: Vec<Constraint>) -> Rendered<'s> {
    if constraints.is_empty() {
        return input;
    }
    let (oks, errs) = filter_rows(name, input.oks, constraints);
    Rendered {
        oks,
        errs: input.errs.concat(errs),
    }
}

/// `(key, row)` for every row of `rows` that passes `filters`; rows with a NULL key
/// are dropped.
fn key_by<'s>(
    name: &str,
    rows: RowCollection<'s>,
    key: Vec<MirScalarExpr>,
    filters: Vec<Constraint>,
) -> (VecCollection<'s, Time, (Row, Row), Diff>, ErrCollection<'s>) {
    flat_map_fallible(rows, name, move |row: Row| {
        let datums = row.unpack();
        match all_hold(&filters, &datums) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => return Some(Err(e)),
        }
        let mut key_datums = Vec::with_capacity(key.len());
        for k in &key {
            match k.eval(&datums) {
                Ok(d) => key_datums.push(d),
                Err(e) => return Some(Err(e)),
            }
        }
        pack_join_key(key_datums).map(|k| Ok((k, row)))
    })
}

/// Arranges `rows` by `key` after checking `filters`; rows with a NULL key are dropped.
fn arrange_by<'s>(
    name: &str,
    rows: RowCollection<'s>,
    key: Vec<MirScalarExpr>,
    filters: Vec<Constraint>,
) -> (KeyedArranged<'s>, ErrCollection<'s>) {
    let (keyed, errs) = key_by(&format!("{name}Key"), rows, key, filters);
    (keyed.arrange_by_key_named(&format!("{name}Arrange")), errs)
}

/// What a join step makes of a pair of rows: their concatenation, if it passes
/// `post_filters` (which read the concatenated columns).
fn pair_logic(post_filters: Vec<Constraint>) -> impl FnMut(&Row, &Row) -> PairResult + 'static {
    move |prefix_row: &Row, input_row: &Row| {
        if !post_filters.is_empty() {
            let mut datums = prefix_row.unpack();
            datums.extend(input_row.iter());
            match all_hold(&post_filters, &datums) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(prefix_row.concat(input_row)))
    }
}

/// Renders the join of `first` and `rest` (with the given arities, `first`'s first)
/// as a left-deep chain.
pub(crate) fn render_join<'s>(
    name: &str,
    first: Rendered<'s>,
    rest: Vec<Rendered<'s>>,
    arities: Vec<usize>,
    equivalences: &[Vec<MirScalarExpr>],
    meter: &ByteMeter,
) -> Rendered<'s> {
    let plan = JoinPlan::new(&arities, equivalences);
    let inputs = rest.into_iter();
    let mut prefix = filter(&format!("{name}/JoinFilter0"), first, plan.initial_filters);
    for ((step, stage), input) in plan.stages.into_iter().enumerate().zip(inputs) {
        let step = step + 1;
        let (left, left_errs) = arrange_by(
            &format!("{name}/Join{step}Prefix"),
            metered(prefix.oks, meter),
            stage.prefix_key,
            Vec::new(),
        );
        let (right, right_errs) = arrange_by(
            &format!("{name}/Join{step}Input"),
            metered(input.oks, meter),
            stage.input_key,
            stage.input_filters,
        );
        let (joined, join_errs) = join_pairs(
            &format!("{name}/Join{step}"),
            left,
            right,
            pair_logic(stage.post_filters),
        );
        prefix = Rendered {
            oks: joined,
            errs: prefix
                .errs
                .concat(input.errs)
                .concat(left_errs)
                .concat(right_errs)
                .concat(join_errs),
        };
    }
    prefix
}

/// An input arranged for the lookups of a delta join: the input, its key and the
/// filters on its own columns (the same for every path that looks it up by that key).
type ArrangementKey = (usize, Vec<MirScalarExpr>, Vec<Constraint>);

/// Renders a join as a delta join (see `eddy_expr::join_order::JoinImplementation`):
/// one path per input, whose changes look up the other inputs in the order
/// `eddy_expr::join_order::delta_paths` gives, each through its own arrangement by
/// the key of that step. Every input must be connected to the others by equalities
/// (else a step would have no key).
pub(crate) fn render_delta_join<'s>(
    name: &str,
    inputs: Vec<Rendered<'s>>,
    arities: Vec<usize>,
    equivalences: &[Vec<MirScalarExpr>],
) -> Rendered<'s> {
    let paths = eddy_expr::join_order::delta_paths(&arities, equivalences);
    let mut offsets = Vec::with_capacity(arities.len());
    let mut total = 0;
    for a in &arities {
        offsets.push(total);
        total += a;
    }
    let input_of = |col: usize| offsets.iter().rposition(|o| *o <= col).unwrap_or(0);

    let mut errs = inputs[0].errs.clone();
    for input in &inputs[1..] {
        errs = errs.concat(input.errs.clone());
    }
    let mut arrangements: Vec<(ArrangementKey, KeyedArranged<'s>)> = Vec::new();
    let mut oks: Option<RowCollection<'s>> = None;
    for (start, order) in paths.iter().enumerate() {
        // The path's rows hold the inputs' columns in the path's order.
        let mut path_offset = vec![0; arities.len()];
        let mut at = 0;
        for i in order {
            path_offset[*i] = at;
            at += arities[*i];
        }
        let to_path = |c: usize| {
            let k = input_of(c);
            path_offset[k] + (c - offsets[k])
        };
        let path_arities: Vec<usize> = order.iter().map(|i| arities[*i]).collect();
        let path_equivalences: Vec<Vec<MirScalarExpr>> = equivalences
            .iter()
            .map(|class| {
                class
                    .iter()
                    .map(|e| {
                        let mut e = e.clone();
                        e.permute(&to_path);
                        e
                    })
                    .collect()
            })
            .collect();
        let plan = JoinPlan::new(&path_arities, &path_equivalences);

        let path_name = format!("{name}/Delta{start}");
        let (mut rows, filter_errs) = filter_rows(
            &format!("{path_name}Filter"),
            inputs[start].oks.clone(),
            plan.initial_filters,
        );
        errs = errs.concat(filter_errs);
        for (step, (stage, input)) in plan.stages.into_iter().zip(&order[1..]).enumerate() {
            let step_name = format!("{path_name}/Lookup{step}");
            let arrangement_key = (*input, stage.input_key, stage.input_filters);
            let arranged = match arrangements.iter().find(|(k, _)| *k == arrangement_key) {
                Some((_, arranged)) => arranged.clone(),
                None => {
                    let (arranged, arrange_errs) = arrange_by(
                        &format!("{name}/DeltaInput{input}"),
                        inputs[*input].oks.clone(),
                        arrangement_key.1.clone(),
                        arrangement_key.2.clone(),
                    );
                    errs = errs.concat(arrange_errs);
                    arrangements.push((arrangement_key, arranged.clone()));
                    arranged
                }
            };
            let (keyed, key_errs) = key_by(
                &format!("{step_name}Key"),
                rows,
                stage.prefix_key,
                Vec::new(),
            );
            // Inputs before the path's own see only earlier times, so that changes at
            // one time are paired once.
            let strict = *input < start;
            let (joined, join_errs) = half_join(
                &step_name,
                keyed,
                arranged,
                strict,
                pair_logic(stage.post_filters),
            );
            errs = errs.concat(key_errs).concat(join_errs);
            rows = joined;
        }
        // Back to the join's column order.
        let positions: Vec<usize> = (0..total).map(to_path).collect();
        if positions.iter().enumerate().any(|(c, p)| c != *p) {
            rows = rows.map(move |row: Row| {
                let datums = row.unpack();
                Row::from_datums(positions.iter().map(|p| datums[*p].clone()).collect())
            });
        }
        oks = Some(match oks {
            Some(oks) => oks.concat(rows),
            None => rows,
        });
    }
    Rendered {
        oks: oks.expect("a delta join has inputs"),
        errs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(c: usize) -> MirScalarExpr {
        MirScalarExpr::Column(c)
    }

    #[test]
    fn two_way_equijoin_keys_on_both_sides() {
        // a(0,1) JOIN b(2,3) ON a.1 = b.2
        let plan = JoinPlan::new(&[2, 2], &[vec![col(1), col(2)]]);
        assert!(plan.initial_filters.is_empty());
        assert_eq!(plan.stages[0].prefix_key, vec![col(1)]);
        assert_eq!(plan.stages[0].input_key, vec![col(0)]);
        assert!(plan.stages[0].post_filters.is_empty());
    }

    #[test]
    fn same_input_members_become_filters() {
        // a(0,1) b(2,3): class {a.0, a.1, b.3}
        let plan = JoinPlan::new(&[2, 2], &[vec![col(0), col(1), col(3)]]);
        assert_eq!(
            plan.initial_filters,
            vec![Constraint::Equal(col(1), col(0))]
        );
        assert_eq!(plan.stages[0].prefix_key, vec![col(0)]);
        assert_eq!(plan.stages[0].input_key, vec![col(1)]);
    }

    #[test]
    fn unconnected_input_is_a_cross_join() {
        // a(0) b(1) c(2): class {a.0, c.2}; b joins with an empty key.
        let plan = JoinPlan::new(&[1, 1, 1], &[vec![col(0), col(2)]]);
        assert!(plan.stages[0].prefix_key.is_empty());
        assert_eq!(plan.stages[1].prefix_key, vec![col(0)]);
        assert_eq!(plan.stages[1].input_key, vec![col(0)]);
    }

    #[test]
    fn class_of_expressions_over_two_inputs_filters_after_the_join() {
        // a(0) b(1) c(2): class {a.0, c.2, (a.0 if b.1 else a.0)}: the last reads a and b.
        let mixed = MirScalarExpr::If {
            cond: Box::new(col(1)),
            then: Box::new(col(0)),
            els: Box::new(col(0)),
        };
        let plan = JoinPlan::new(&[1, 1, 1], &[vec![col(0), col(2), mixed.clone()]]);
        assert_eq!(
            plan.stages[0].post_filters,
            vec![Constraint::Equal(mixed, col(0))]
        );
    }
}
