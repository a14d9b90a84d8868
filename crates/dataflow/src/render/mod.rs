//! Rendering: turns a [`DataflowDesc`]'s plan into timely/differential operators on one
//! worker and arranges its output.
//!
//! Every IR node renders to a [`Rendered`] pair of collections, `oks` (rows) and
//! `errs` (evaluation errors). Errors flow alongside rows through every operator and
//! are unioned at the output, so a bad row never stops a dataflow and never panics a
//! worker; a peek reports the smallest error instead of rows.
//!
//! Invariants:
//! - `Get` imports the registered arrangements of the collection it reads (never
//!   recomputes it), with every update's time advanced to the dataflow's `as_of`.
//! - Constants are introduced on worker 0 only, at `as_of`, so each row appears once.
//! - Operators are named `"<dataflow name>/<operator>"`, so logs say which view is slow.
//! - Every worker renders the same plan in the same order; nothing here depends on
//!   the worker's index except where constants enter.

mod accum;
mod half_join;
mod join;
mod mfp;
pub(crate) mod operators;
mod pairs;
mod recursive;
mod reduce;
mod running;
mod top_k;
mod watermark;
mod window;

use std::collections::BTreeMap;

use differential_dataflow::operators::arrange::ShutdownButton;
use differential_dataflow::{AsCollection, VecCollection};
use eddy_expr::join_order::{choose_implementation, JoinImplementation};
use eddy_expr::{EvalError, MirRelationExpr, WindowStrategy};
use eddy_repr::{Diff, GlobalId, Row, ScalarType};
use operators::{flat_map_delayed_fallible, flat_map_fallible, group_row, metered};
use timely::dataflow::operators::generic::operator::empty;
use timely::dataflow::operators::{CapabilitySet, ToStream};
use timely::dataflow::Scope;
use timely::progress::Antichain;

use crate::api::{DataflowDesc, RowLayout};
use crate::history::RowStore;
pub(crate) use mfp::{arity_mismatch, CompiledMfp};
pub use operators::Flow;
pub(crate) use operators::{
    compact_trace, counted, hold_trace_at, trace_upper, ByteMeter, ErrTrace, FlowMeter, Rendered,
    RowTrace, Time,
};
pub(crate) use watermark::expire_by_watermark;

/// What a dataflow may import: every registered collection's rows (an arrangement, or
/// a stream's history) and errors.
pub(crate) trait TraceSource {
    /// The oks and errs traces registered under `id`, if any.
    fn traces_mut(&mut self, id: GlobalId) -> Option<(&mut RowStore, &mut ErrTrace)>;
    /// Whether `id` is a table whose rows are only ever inserted.
    fn is_append_only(&self, id: GlobalId) -> bool;
}

/// What building a dataflow leaves behind: its output arrangements and the shutdown
/// buttons of its imports.
pub(crate) struct BuiltDataflow {
    pub oks: RowTrace,
    pub errs: ErrTrace,
    pub buttons: Vec<ShutdownButton<CapabilitySet<Time>>>,
    /// The bytes its arrangements took in, for a one-off dataflow.
    pub bytes: ByteMeter,
    /// What its output has carried.
    pub flow: FlowMeter,
}

/// Renders `desc` into `scope` and arranges its output.
pub(crate) fn build_dataflow<'s>(
    scope: Scope<'s, Time>,
    worker_index: usize,
    desc: &DataflowDesc,
    traces: &mut dyn TraceSource,
) -> BuiltDataflow {
    let maintained = !matches!(desc.id, GlobalId::Transient(_));
    let mut ctx = Context::new(
        scope,
        &desc.name,
        desc.as_of,
        worker_index,
        traces,
        maintained,
    );
    let rendered = ctx.render_plan(&desc.plan);
    let flow = FlowMeter::default();
    let oks = match desc.layout {
        RowLayout::Compact => rendered.oks,
        RowLayout::Sorted { key_arity } => rendered
            .oks
            .map(move |row| Row::pack_sorted(key_arity, &row.unpack())),
    };
    let oks = counted(metered(oks, &ctx.meter), &flow)
        .arrange_by_self_named(&format!("{}/ArrangeOks", desc.name));
    let errs = match &desc.view {
        Some(view) => {
            let view = view.clone();
            rendered
                .errs
                .map(move |e| e.in_view(&view))
                .arrange_by_self_named(&format!("{}/ArrangeErrs", desc.name))
        }
        None => rendered
            .errs
            .arrange_by_self_named(&format!("{}/ArrangeErrs", desc.name)),
    };
    BuiltDataflow {
        oks: oks.trace,
        errs: errs.trace,
        buttons: ctx.buttons,
        bytes: ctx.meter,
        flow,
    }
}

/// Renders a subscription's plan into `scope` and captures its changes into `sender`
/// (see `subscribe.rs`); returns the shutdown buttons of its imports.
pub(crate) fn build_subscribe<'s>(
    scope: Scope<'s, Time>,
    worker_index: usize,
    desc: &crate::subscribe::SubscribeDesc,
    traces: &mut dyn TraceSource,
    sender: crate::subscribe::SubscribeSender,
) -> Vec<ShutdownButton<CapabilitySet<Time>>> {
    // A subscription is kept up to date for as long as it runs.
    let mut ctx = Context::new(scope, &desc.name, desc.as_of, worker_index, traces, true);
    let rendered = ctx.render_plan(&desc.plan);
    let name = ctx.op_name("Subscribe");
    crate::subscribe::capture(
        rendered,
        &name,
        desc.as_of,
        desc.snapshot,
        worker_index,
        sender,
    );
    ctx.buttons
}

/// The state of rendering one dataflow.
struct Context<'a, 's> {
    scope: Scope<'s, Time>,
    name: String,
    as_of: Time,
    worker_index: usize,
    traces: &'a mut dyn TraceSource,
    /// Collections already imported into this dataflow, reused when read twice.
    imports: BTreeMap<GlobalId, Rendered<'s>>,
    /// Joins, reductions and top-k already rendered in this dataflow: a plan that
    /// holds the same one twice (a global aggregate's plan holds its input twice, to
    /// answer an empty input with one row) computes and arranges it once.
    shared: Vec<(MirRelationExpr, Rendered<'s>)>,
    buttons: Vec<ShutdownButton<CapabilitySet<Time>>>,
    /// Whether the dataflow is kept up to date (a view), not computed once for a
    /// one-off query: it decides how joins are rendered.
    maintained: bool,
    /// Counts the bytes a one-off dataflow's arrangements take in (see `memory.rs`).
    meter: ByteMeter,
}

impl<'a, 's> Context<'a, 's> {
    fn new(
        scope: Scope<'s, Time>,
        name: &str,
        as_of: Time,
        worker_index: usize,
        traces: &'a mut dyn TraceSource,
        maintained: bool,
    ) -> Self {
        Context {
            scope,
            name: name.to_string(),
            as_of,
            worker_index,
            traces,
            imports: BTreeMap::new(),
            shared: Vec::new(),
            buttons: Vec::new(),
            maintained,
            meter: (!maintained).then(Default::default),
        }
    }

    /// Renders a whole plan, once it passes validation; an invalid plan renders as one
    /// error row, never a panic.
    fn render_plan(&mut self, plan: &MirRelationExpr) -> Rendered<'s> {
        match crate::validate::validate(plan) {
            Ok(()) => self.render(plan),
            Err(message) => {
                tracing::error!(dataflow = %self.name, %message, "invalid plan");
                let err = EvalError::Internal(format!("invalid plan: {message}"));
                Rendered {
                    oks: self.empty(),
                    errs: self.constant(vec![(err, 1)]),
                }
            }
        }
    }

    /// Renders `expr`, whose rows an arrangement is about to take in: they count
    /// towards a one-off dataflow's bytes.
    fn render_metered(&mut self, expr: &MirRelationExpr) -> Rendered<'s> {
        let rendered = self.render(expr);
        Rendered {
            oks: metered(rendered.oks, &self.meter),
            errs: rendered.errs,
        }
    }

    fn op_name(&self, op: &str) -> String {
        format!("{}/{}", self.name, op)
    }

    /// Renders `expr`, reusing an identical join, reduction or top-k rendered before.
    fn render(&mut self, expr: &MirRelationExpr) -> Rendered<'s> {
        let shareable = matches!(
            expr,
            MirRelationExpr::Join { .. }
                | MirRelationExpr::Reduce { .. }
                | MirRelationExpr::TopK { .. }
                | MirRelationExpr::Window { .. }
        );
        if shareable {
            if let Some((_, rendered)) = self.shared.iter().find(|(e, _)| e == expr) {
                return rendered.clone();
            }
        }
        let rendered = self.render_operator(expr);
        if shareable {
            self.shared.push((expr.clone(), rendered.clone()));
        }
        rendered
    }

    fn render_operator(&mut self, expr: &MirRelationExpr) -> Rendered<'s> {
        match expr {
            MirRelationExpr::Constant { rows, .. } => Rendered {
                oks: self.constant(rows.clone()),
                errs: self.empty(),
            },
            MirRelationExpr::Get { id, .. } => self.import(*id),
            MirRelationExpr::Map { .. }
            | MirRelationExpr::Filter { .. }
            | MirRelationExpr::Project { .. } => {
                let (mfp, input) = eddy_expr::mfp::MapFilterProject::extract(expr);
                let types = input.typ().iter().map(|t| t.scalar_type).collect();
                let input = self.render(input);
                mfp::render_mfp(&self.op_name("Mfp"), input, mfp, types)
            }
            MirRelationExpr::FlatMap { input, calls } => {
                let input = self.render(input);
                let calls = calls.clone();
                let (oks, errs) =
                    flat_map_fallible(input.oks, &self.op_name("FlatMap"), move |row: Row| {
                        let datums = row.unpack();
                        match eddy_expr::table_func::eval_calls(&calls, &datums, usize::MAX) {
                            Ok(appended) => appended
                                .unwrap_or_default()
                                .into_iter()
                                .map(|a| Ok(Row::pack(datums.iter().chain(a.iter()))))
                                .collect(),
                            Err(e) => vec![Err(e)],
                        }
                    });
                Rendered {
                    oks,
                    errs: input.errs.concat(errs),
                }
            }
            MirRelationExpr::TemporalFilter { input, predicates } => {
                let input = self.render(input);
                let predicates = predicates.clone();
                let (oks, errs) = flat_map_delayed_fallible(
                    input.oks,
                    &self.op_name("TemporalFilter"),
                    move |row: Row, time, diff| {
                        let datums = row.unpack();
                        match eddy_expr::temporal::validity(&predicates, &datums) {
                            Ok(Some(v)) => eddy_expr::temporal::updates_for(v, time)
                                .into_iter()
                                .map(|(t, insert)| {
                                    Ok((row.clone(), t, if insert { diff } else { -diff }))
                                })
                                .collect(),
                            Ok(None) => vec![],
                            Err(e) => vec![Err(e)],
                        }
                    },
                );
                Rendered {
                    oks,
                    errs: input.errs.concat(errs),
                }
            }
            MirRelationExpr::Join {
                inputs,
                equivalences,
            } => {
                let arities: Vec<usize> = inputs.iter().map(|i| i.arity()).collect();
                let mut rendered: Vec<_> = inputs.iter().map(|i| self.render(i)).collect();
                if rendered.is_empty() {
                    // The product of no relations: one empty row.
                    return Rendered {
                        oks: self.constant(vec![(Row::empty(), 1)]),
                        errs: self.empty(),
                    };
                }
                let (implementation, _why) =
                    choose_implementation(&arities, equivalences, self.maintained);
                match implementation {
                    JoinImplementation::Delta => {
                        join::render_delta_join(&self.name, rendered, arities, equivalences)
                    }
                    JoinImplementation::Linear => {
                        let first = rendered.remove(0);
                        let meter = &self.meter;
                        join::render_join(&self.name, first, rendered, arities, equivalences, meter)
                    }
                }
            }
            MirRelationExpr::Reduce {
                input,
                group_key,
                aggregates,
            } => {
                let input_typ = input.typ();
                let append_only = input.is_append_only(&|id| self.traces.is_append_only(id));
                let rendered = self.render_metered(input);
                reduce::render_reduce(
                    &self.name,
                    rendered,
                    &input_typ,
                    group_key,
                    aggregates,
                    append_only,
                )
            }
            MirRelationExpr::TopK {
                input,
                group_key,
                order_key,
                limit,
                offset,
            } => {
                let rendered = self.render_metered(input);
                top_k::render_top_k(
                    &self.name,
                    rendered,
                    group_key.clone(),
                    order_key.clone(),
                    *limit,
                    *offset,
                )
            }
            MirRelationExpr::Window {
                input,
                partition_key,
                order_key,
                functions,
            } => {
                let input_typ = input.typ();
                let rendered = self.render_metered(input);
                let strategy = WindowStrategy::choose(&input_typ, order_key, functions);
                let render = match strategy {
                    WindowStrategy::PrefixSums => running::render_running,
                    WindowStrategy::Partition => window::render_window,
                };
                render(
                    &self.name,
                    rendered,
                    &input_typ,
                    partition_key.clone(),
                    order_key.clone(),
                    functions,
                )
            }
            MirRelationExpr::Negate { input } => {
                let input = self.render(input);
                Rendered {
                    oks: input.oks.negate(),
                    errs: input.errs,
                }
            }
            MirRelationExpr::Watermarked {
                input,
                watermark,
                bound_column,
                offset_us,
                mode,
            } => {
                let input = self.render(input);
                let watermark = self.render(watermark);
                watermark::render_watermarked(
                    &self.op_name(&format!("Watermarked({})", mode.name())),
                    input,
                    watermark,
                    *bound_column,
                    *offset_us,
                    mode.clone(),
                )
            }
            MirRelationExpr::Threshold { input } => {
                // Only a float column can hold a -0 to make 0 (a pass per row otherwise).
                let has_floats = input
                    .typ()
                    .iter()
                    .any(|t| matches!(t.scalar_type, ScalarType::Float32 | ScalarType::Float64));
                let input = self.render_metered(input);
                let rows = if has_floats {
                    input.oks.map(group_row)
                } else {
                    input.oks
                };
                let oks = rows.threshold_named(&self.op_name("Threshold"), |_row, count: &Diff| {
                    (*count).max(0)
                });
                Rendered {
                    oks,
                    errs: input.errs,
                }
            }
            MirRelationExpr::Union { base, inputs } => {
                let mut rendered = self.render(base);
                for input in inputs {
                    let other = self.render(input);
                    rendered.oks = rendered.oks.concat(other.oks);
                    rendered.errs = rendered.errs.concat(other.errs);
                }
                rendered
            }
            MirRelationExpr::Recursive {
                id,
                name,
                base,
                step,
                distinct,
                max_iterations,
            } => self.render_recursive(*id, name, base, step, *distinct, *max_iterations),
            MirRelationExpr::GetRecursive { name, .. } => {
                // Reads of a binding are rendered inside its loop (see `recursive.rs`).
                tracing::error!(dataflow = %self.name, recursive = %name, "read outside its loop");
                let err = EvalError::Internal(format!(
                    "recursive query \"{name}\" read outside its recursion"
                ));
                Rendered {
                    oks: self.empty(),
                    errs: self.constant(vec![(err, 1)]),
                }
            }
        }
    }

    /// Imports the arrangements registered under `id`, advancing times to `as_of`.
    fn import(&mut self, id: GlobalId) -> Rendered<'s> {
        if let Some(rendered) = self.imports.get(&id) {
            return rendered.clone();
        }
        let scope = self.scope;
        let since = Antichain::from_elem(self.as_of);
        let oks_name = self.op_name(&format!("Import {id}"));
        let errs_name = self.op_name(&format!("ImportErrs {id}"));
        let Some((oks_store, errs_trace)) = self.traces.traces_mut(id) else {
            tracing::error!(dataflow = %self.name, %id, "dataflow reads an unknown collection");
            let err = EvalError::Internal(format!("collection {id} does not exist"));
            return Rendered {
                oks: self.empty(),
                errs: self.constant(vec![(err, 1)]),
            };
        };
        if oks_store.since() > self.as_of {
            tracing::warn!(dataflow = %self.name, %id, as_of = self.as_of,
                "as_of is before the input's compaction frontier; early times are inexact");
        }
        let (oks, oks_button) = match oks_store {
            RowStore::Arranged(trace) => {
                let (oks, button) =
                    trace.import_frontier_core(scope, &oks_name, since.clone(), Antichain::new());
                (oks.flat_map_ref(|row, _unit| Some(row.clone())), button)
            }
            RowStore::Appended(history) => history.replay(scope, &oks_name, self.as_of),
        };
        let (errs, errs_button) =
            errs_trace.import_frontier_core(scope, &errs_name, since, Antichain::new());
        self.buttons.push(oks_button);
        self.buttons.push(errs_button);
        let rendered = Rendered {
            oks,
            errs: errs.flat_map_ref(|err, _unit| Some(err.clone())),
        };
        self.imports.insert(id, rendered.clone());
        rendered
    }

    /// A collection of `data` at `as_of`, introduced on worker 0 only.
    fn constant<D: differential_dataflow::Data>(
        &self,
        data: Vec<(D, Diff)>,
    ) -> VecCollection<'s, Time, D, Diff> {
        let as_of = self.as_of;
        let data = if self.worker_index == 0 {
            data
        } else {
            Vec::new()
        };
        data.into_iter()
            .map(move |(d, diff)| (d, as_of, diff))
            .to_stream(self.scope)
            .as_collection()
    }

    fn empty<D: differential_dataflow::Data>(&self) -> VecCollection<'s, Time, D, Diff> {
        empty::<Time, Vec<(D, Time, Diff)>>(self.scope).as_collection()
    }
}
