//! `WITH RECURSIVE`: a [`MirRelationExpr::Recursive`] rendered as a loop in an
//! iterative scope, whose timestamp is the dataflow's time paired with a round
//! counter (`Product<Time, u64>`).
//!
//! Semantics: the loop variable `R` starts as `base`; each round computes
//! `next = base ∪ step(R)` (made distinct for `UNION`) and feeds it back as the next
//! round's `R`. Differential maintains the rounds incrementally: a change to an input
//! flows only through the rounds and rows it affects, and a deleted edge retracts every
//! row whose derivations needed it. The loop's output is `next` at the fixed point.
//!
//! Invariants:
//! - Only the nodes between the step's root and its reads of `R` run inside the loop
//!   (see [`MirRelationExpr::recursion_unsupported`] for which kinds may). Every other
//!   part of the step is rendered once, outside, and entered: it does not change from
//!   round to round.
//! - Changes at round `max_iterations` or later are not fed back, so the loop always
//!   stops. Rows that still changed there become one `RecursionLimit` error, which a
//!   read reports instead of rows; it is retracted if a later input change lets the
//!   recursion finish in time.
//! - Evaluation errors inside the loop are the errors of the final round (errors are
//!   data here too); they leave the loop without being fed back.

use differential_dataflow::operators::iterate::Variable;
use differential_dataflow::{AsCollection, VecCollection};
use eddy_expr::{EvalError, MirRelationExpr, MirScalarExpr};
use eddy_repr::{Datum, Diff, Row};
use timely::dataflow::operators::generic::operator::empty;
use timely::dataflow::operators::vec::Filter;
use timely::dataflow::operators::ToStream;
use timely::dataflow::Scope;
use timely::order::Product;

use super::join::{all_hold, JoinPlan};
use super::operators::{group_datum, group_row, pack_join_key};
use super::{CompiledMfp, Context, Rendered, Time};

/// The time inside the loop: the dataflow's time and the round.
type IterTime = Product<Time, u64>;
type InnerRows<'i> = VecCollection<'i, IterTime, Row, Diff>;
type InnerErrs<'i> = VecCollection<'i, IterTime, EvalError, Diff>;

/// A relation rendered inside the loop.
#[derive(Clone)]
struct Inner<'i> {
    oks: InnerRows<'i>,
    errs: InnerErrs<'i>,
}

/// What rendering the step needs: the loop variable, the parts rendered outside (in
/// the order [`Context::render_invariant`] visits them) and names for operators.
struct StepContext<'i, 's> {
    id: u64,
    scope: Scope<'i, IterTime>,
    variable: InnerRows<'i>,
    outside: std::vec::IntoIter<Rendered<'s>>,
    name: String,
    as_of: Time,
    worker_index: usize,
}

impl<'a, 's> Context<'a, 's> {
    /// Renders a `Recursive` node (see the module docs).
    pub(super) fn render_recursive(
        &mut self,
        id: u64,
        name: &str,
        base: &MirRelationExpr,
        step: &MirRelationExpr,
        distinct: bool,
        max_iterations: u64,
    ) -> Rendered<'s> {
        if let Some(what) = step.recursion_unsupported(id) {
            tracing::error!(dataflow = %self.name, recursive = name, what, "invalid plan");
            let err = EvalError::Internal(format!("cannot iterate {what}"));
            return Rendered {
                oks: self.empty(),
                errs: self.constant(vec![(err, 1)]),
            };
        }
        let base = self.render(base);
        let mut outside = Vec::new();
        self.render_invariant(step, id, &mut outside);
        let op_name = self.op_name(&format!("Recursive {name}"));
        let outer = self.scope;
        let meter = self.meter.clone();
        let (oks, step_errs, late) = outer.iterative::<u64, _, _>(|inner| {
            let base_oks = base.oks.clone().enter(inner);
            let (variable, rows) =
                Variable::new_from(base_oks.clone(), Product::new(Default::default(), 1));
            let mut scx = StepContext {
                id,
                scope: inner,
                variable: rows,
                outside: outside.into_iter(),
                name: op_name.clone(),
                as_of: self.as_of,
                worker_index: self.worker_index,
            };
            let stepped = render_step(&mut scx, step);
            let mut next = base_oks.concat(stepped.oks);
            if distinct {
                next = next.map(group_row).threshold_named(
                    &format!("{op_name}/Distinct"),
                    |_row, count: &Diff| if *count > 0 { 1 } else { 0 },
                );
            }
            // A one-off query's rows count towards its bytes at every round, so a
            // recursion that grows fast meets the query's budget before the limit.
            if let Some(meter) = meter.clone() {
                next = next.inspect(move |(row, _time, _diff)| {
                    meter.set(meter.get().saturating_add(row.byte_len() as i64));
                });
            }
            let limit = max_iterations;
            let kept = next
                .inner
                .clone()
                .filter(move |(_, t, _)| t.inner < limit)
                .as_collection();
            let late = next
                .inner
                .filter(move |(_, t, _)| t.inner >= limit)
                .as_collection();
            variable.set(kept.clone());
            (
                kept.leave(outer),
                stepped.errs.leave(outer),
                late.leave(outer),
            )
        });
        // Rows that still changed at the limit (net of retractions, row by row) mean
        // the recursion did not finish: one error while any is left.
        let error = EvalError::RecursionLimit {
            name: name.to_string(),
            limit: max_iterations,
        };
        let limit_errs =
            late.threshold_named(&format!("{op_name}/LateRows"), |_row, count: &Diff| {
                if *count != 0 {
                    1
                } else {
                    0
                }
            })
            .map(move |_row| error.clone())
            .threshold_named(
                &format!("{op_name}/LimitError"),
                |_err, count: &Diff| if *count > 0 { 1 } else { 0 },
            );
        Rendered {
            oks,
            errs: base.errs.concat(step_errs).concat(limit_errs),
        }
    }

    /// Renders, outside the loop, every largest part of `expr` that does not read the
    /// binding `id`, in pre-order; [`render_step`] enters them in the same order.
    fn render_invariant(&mut self, expr: &MirRelationExpr, id: u64, out: &mut Vec<Rendered<'s>>) {
        if !expr.reads_recursive(id) {
            out.push(self.render(expr));
            return;
        }
        if let MirRelationExpr::Map { .. }
        | MirRelationExpr::Filter { .. }
        | MirRelationExpr::Project { .. } = expr
        {
            let (_, input) = eddy_expr::mfp::MapFilterProject::extract(expr);
            return self.render_invariant(input, id, out);
        }
        for child in expr.children() {
            self.render_invariant(child, id, out);
        }
    }
}

/// Renders `expr`, a part of the step, inside the loop.
fn render_step<'i, 's>(scx: &mut StepContext<'i, 's>, expr: &MirRelationExpr) -> Inner<'i> {
    if !expr.reads_recursive(scx.id) {
        return match scx.outside.next() {
            Some(rendered) => Inner {
                oks: rendered.oks.enter(scx.scope),
                errs: rendered.errs.enter(scx.scope),
            },
            None => internal(scx, "a part of the step was not rendered"),
        };
    }
    match expr {
        MirRelationExpr::GetRecursive { .. } => Inner {
            oks: scx.variable.clone(),
            errs: empty_errs(scx),
        },
        MirRelationExpr::Map { .. }
        | MirRelationExpr::Filter { .. }
        | MirRelationExpr::Project { .. } => {
            let (mfp, input) = eddy_expr::mfp::MapFilterProject::extract(expr);
            let input = render_step(scx, input);
            let mfp = CompiledMfp::new(mfp);
            let results = input.oks.flat_map(move |row| mfp.apply(&row));
            split(input.errs, results)
        }
        MirRelationExpr::Join {
            inputs,
            equivalences,
        } => {
            let arities: Vec<usize> = inputs.iter().map(|i| i.arity()).collect();
            let plan = JoinPlan::new(&arities, equivalences);
            let mut rendered = inputs.iter().map(|i| render_step(scx, i));
            let Some(first) = rendered.next() else {
                return internal(scx, "a join of no inputs");
            };
            let mut prefix = filter(first, plan.initial_filters.clone());
            for (stage, input) in plan.stages.iter().zip(rendered) {
                let prefix_keyed = key_by(prefix, stage.prefix_key.clone(), vec![]);
                let input_keyed =
                    key_by(input, stage.input_key.clone(), stage.input_filters.clone());
                let joined = prefix_keyed
                    .oks
                    .join_map(input_keyed.oks, |_key, p: &Row, i: &Row| p.concat(i));
                let errs = prefix_keyed.errs.concat(input_keyed.errs);
                prefix = filter(Inner { oks: joined, errs }, stage.post_filters.clone());
            }
            prefix
        }
        MirRelationExpr::Union { base, inputs } => {
            let mut out = render_step(scx, base);
            for input in inputs {
                let other = render_step(scx, input);
                out.oks = out.oks.concat(other.oks);
                out.errs = out.errs.concat(other.errs);
            }
            out
        }
        MirRelationExpr::Negate { input } => {
            let input = render_step(scx, input);
            Inner {
                oks: input.oks.negate(),
                errs: input.errs,
            }
        }
        MirRelationExpr::Threshold { input } => {
            let input = render_step(scx, input);
            let name = format!("{}/Threshold", scx.name);
            Inner {
                oks: input
                    .oks
                    .map(group_row)
                    .threshold_named(&name, |_row, count: &Diff| (*count).max(0)),
                errs: input.errs,
            }
        }
        MirRelationExpr::Reduce {
            input, group_key, ..
        } => {
            // Only DISTINCT reaches here (`recursion_unsupported` refuses aggregates).
            let input = render_step(scx, input);
            let group_key = group_key.clone();
            let results = input.oks.map(move |row| {
                let datums = row.unpack();
                group_key
                    .iter()
                    .map(|k| k.eval(&datums).map(group_datum))
                    .collect::<Result<Vec<Datum>, EvalError>>()
                    .map(|key| Row::pack(&key))
            });
            let keyed = split(input.errs, results);
            let name = format!("{}/Distinct", scx.name);
            Inner {
                oks: keyed
                    .oks
                    .threshold_named(&name, |_row, count: &Diff| if *count > 0 { 1 } else { 0 }),
                errs: keyed.errs,
            }
        }
        _ => internal(scx, "a node that cannot be iterated"),
    }
}

/// Splits results into rows and errors, adding the errors to `errs`.
fn split<'i>(
    errs: InnerErrs<'i>,
    results: VecCollection<'i, IterTime, Result<Row, EvalError>, Diff>,
) -> Inner<'i> {
    Inner {
        oks: results.clone().flat_map(Result::ok),
        errs: errs.concat(results.flat_map(Result::err)),
    }
}

/// The rows of `input` that pass `constraints`.
fn filter(input: Inner<'_>, constraints: Vec<super::join::Constraint>) -> Inner<'_> {
    if constraints.is_empty() {
        return input;
    }
    let results = input
        .oks
        .flat_map(move |row| match all_hold(&constraints, &row.unpack()) {
            Ok(true) => Some(Ok(row)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        });
    split(input.errs, results)
}

/// A relation keyed for a join: `(key, row)` pairs and errors.
struct Keyed<'i> {
    oks: VecCollection<'i, IterTime, (Row, Row), Diff>,
    errs: InnerErrs<'i>,
}

/// `(key, row)` for every row of `input` that passes `filters`; a NULL key matches
/// nothing, so its row is dropped.
fn key_by<'i>(
    input: Inner<'i>,
    key: Vec<MirScalarExpr>,
    filters: Vec<super::join::Constraint>,
) -> Keyed<'i> {
    let results = input.oks.flat_map(move |row: Row| {
        let datums = row.unpack();
        match all_hold(&filters, &datums) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => return Some(Err(e)),
        }
        let key_datums: Result<Vec<Datum>, EvalError> =
            key.iter().map(|k| k.eval(&datums)).collect();
        match key_datums {
            Ok(k) => pack_join_key(k).map(|k| Ok((k, row))),
            Err(e) => Some(Err(e)),
        }
    });
    Keyed {
        oks: results.clone().flat_map(Result::ok),
        errs: input.errs.concat(results.flat_map(Result::err)),
    }
}

fn empty_errs<'i>(scx: &StepContext<'i, '_>) -> InnerErrs<'i> {
    empty::<IterTime, Vec<(EvalError, IterTime, Diff)>>(scx.scope).as_collection()
}

/// An internal error as the step's result (a planner bug, never a panic).
fn internal<'i>(scx: &StepContext<'i, '_>, what: &str) -> Inner<'i> {
    tracing::error!(operator = %scx.name, what, "invalid recursive plan");
    let err = EvalError::Internal(format!("invalid recursive plan: {what}"));
    // Introduced on worker 0 only, so it appears once.
    let data = if scx.worker_index == 0 {
        vec![(err, Product::new(scx.as_of, 0), 1)]
    } else {
        vec![]
    };
    let errs = data.to_stream(scx.scope).as_collection();
    Inner {
        oks: empty::<IterTime, Vec<(Row, IterTime, Diff)>>(scx.scope).as_collection(),
        errs,
    }
}
