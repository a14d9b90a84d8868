//! One timely worker: applies the controller's commands, steps its dataflows, serves
//! peeks from its shard of each arrangement, and manages compaction.
//!
//! Invariants:
//! - The worker never blocks on anything but `step_or_park` (with a timeout); the
//!   controller unparks it after each command.
//! - The registry holds one oks and one errs trace handle per collection. Their
//!   compaction follows `AllowCompaction`, never earlier than the collection's own
//!   `as_of`. A pending peek holds its own handles at the peek's time, so compaction
//!   never passes a time that a pending peek will read.
//! - A dropped collection leaves the registry at once, but its dataflow is torn down
//!   only after the peeks already pending on it are answered, or abandoned by their
//!   readers (a cancelled or timed-out SELECT): then it goes at once.
//! - A subscription's dataflow (`subscribe.rs`) registers no collection; it is kept
//!   by id beside the registry and dropped like any dataflow (`Drop` with its id).
//! - A peek at time `t` is answered once both traces' upper frontiers are beyond `t`,
//!   from all updates at times `<= t`. Its errors (the collection's error rows) take
//!   precedence over its rows; its key prefix bounds the scan of the rows, and its MFP
//!   runs on each row read with a nonzero count.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use differential_dataflow::input::{Input, InputSession};
use differential_dataflow::operators::arrange::ShutdownButton;
use differential_dataflow::trace::cursor::cursor_list;
use differential_dataflow::trace::{Cursor, TraceReader};
use differential_dataflow::AsCollection;
use eddy_expr::EvalError;
use eddy_repr::{Diff, GlobalId, Row, Timestamp};
use timely::dataflow::operators::generic::operator::empty;
use timely::dataflow::operators::CapabilitySet;
use timely::progress::Antichain;
use timely::worker::Worker;

use crate::api::{PeekError, PeekResult, PeekSpec};
use crate::command::{Command, PeekResponder};
use crate::history::{History, RowStore};
use crate::memory::ArrangementSizes;
use crate::render::{
    arity_mismatch, build_dataflow, build_subscribe, compact_trace, counted, hold_trace_at,
    trace_upper, ByteMeter, CompiledMfp, ErrTrace, Flow, FlowMeter, Time, TraceSource,
};
use crate::subscribe::{SubscribeDesc, SubscribeError, SubscribeFailer, SubscribeSender};

/// How long an idle worker parks before looking at its commands again, should an
/// unpark be missed.
const PARK_TIMEOUT: Duration = Duration::from_millis(20);

/// How often a worker publishes the records each collection's arrangements hold.
pub(crate) const PUBLISH_INTERVAL: Duration = Duration::from_millis(200);

/// Commands applied between two steps, so a burst of commands cannot starve the
/// dataflows.
const COMMANDS_PER_STEP: usize = 64;

/// A registered collection: a table or a dataflow's output.
struct CollectionState {
    name: String,
    dataflow_index: usize,
    /// The ids of the dataflow's operators (see `memory.rs`).
    operators: std::ops::Range<usize>,
    oks: RowStore,
    errs: ErrTrace,
    /// The earliest time at which the contents are exact.
    as_of: Timestamp,
    /// The input of a table.
    input: Option<InputSession<Time, Row, Diff>>,
    /// The watermark input of a stream with a retention.
    marks: Option<InputSession<Time, Row, Diff>>,
    /// A table whose rows are only ever inserted (see `Compute::create_append_only`).
    append_only: bool,
    /// The collections this one's dataflow imports (none for a table).
    imports: Vec<GlobalId>,
    /// One past the latest time at which the table was written: its input must be
    /// closed up to here before those updates are visible.
    written_until: Timestamp,
    /// The shutdown buttons of a dataflow's imports.
    buttons: Vec<ShutdownButton<CapabilitySet<Time>>>,
    /// The bytes a one-off dataflow's arrangements took in on this worker.
    bytes: ByteMeter,
    /// What its output (a table's rows, a dataflow's output) has carried on this worker.
    flow: FlowMeter,
}

impl CollectionState {
    fn bytes(&self) -> i64 {
        self.bytes.as_ref().map(|b| b.get()).unwrap_or(0)
    }

    /// Closes a table's input up to `upper` (exclusive), if it lags behind it.
    fn close_input(&mut self, upper: Timestamp) {
        for input in [self.input.as_mut(), self.marks.as_mut()]
            .into_iter()
            .flatten()
        {
            if *input.time() < upper {
                input.advance_to(upper);
                input.flush();
            }
        }
    }
}

/// A subscription's dataflow (it registers no collection).
struct SubscribeState {
    name: String,
    dataflow_index: usize,
    operators: std::ops::Range<usize>,
    buttons: Vec<ShutdownButton<CapabilitySet<Time>>>,
    /// The collections the subscription imports.
    imports: Vec<GlobalId>,
    /// Fails the subscription when it outgrows the budget.
    failer: SubscribeFailer,
}

struct PendingPeek {
    id: GlobalId,
    time: Timestamp,
    spec: Arc<PeekSpec>,
    oks: RowStore,
    errs: ErrTrace,
    responder: PeekResponder,
}

struct Registry {
    collections: BTreeMap<GlobalId, CollectionState>,
    /// How many installed dataflows (views, one-off reads, subscriptions) import each
    /// collection. A table no dataflow imports is closed lazily (see `advance_time`).
    importers: BTreeMap<GlobalId, usize>,
}

impl Registry {
    /// Counts `imports` as imported by one more dataflow, closing each table among
    /// them up to `upper` first, so the new dataflow's frontier is not held back.
    fn add_importer(&mut self, imports: &[GlobalId], upper: Timestamp) {
        for id in imports {
            *self.importers.entry(*id).or_default() += 1;
            if let Some(state) = self.collections.get_mut(id) {
                state.close_input(upper);
            }
        }
    }

    fn remove_importer(&mut self, imports: &[GlobalId]) {
        for id in imports {
            if let Some(count) = self.importers.get_mut(id) {
                *count -= 1;
                if *count == 0 {
                    self.importers.remove(id);
                }
            }
        }
    }
}

impl TraceSource for Registry {
    fn traces_mut(&mut self, id: GlobalId) -> Option<(&mut RowStore, &mut ErrTrace)> {
        self.collections
            .get_mut(&id)
            .map(|c| (&mut c.oks, &mut c.errs))
    }

    fn is_append_only(&self, id: GlobalId) -> bool {
        self.collections.get(&id).is_some_and(|c| c.append_only)
    }
}

/// Marks the compute instance as failed if this worker's thread unwinds.
struct PanicGuard {
    index: usize,
    poisoned: Arc<AtomicBool>,
}

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.poisoned.store(true, Ordering::SeqCst);
            tracing::error!(worker = self.index, "compute worker panicked");
        }
    }
}

pub(crate) struct WorkerState<'w> {
    worker: &'w mut Worker,
    commands: Receiver<Command>,
    registry: Registry,
    /// Running subscriptions, by id.
    subscribes: BTreeMap<GlobalId, SubscribeState>,
    /// Dropped collections kept alive until their pending peeks are answered.
    dropping: Vec<(GlobalId, CollectionState)>,
    pending: Vec<PendingPeek>,
    /// Every table input is closed before this time.
    upper: Timestamp,
    /// Reads at this time and later are exact.
    since: Timestamp,
    poisoned: Arc<AtomicBool>,
    /// Where each worker publishes how many dataflows it has installed.
    installed: Arc<Vec<AtomicUsize>>,
    /// Where each worker publishes the records of each collection's arrangements.
    records: Arc<Vec<Mutex<BTreeMap<GlobalId, Published>>>>,
    /// When this worker last published them.
    published: Instant,
    /// Records held in each dataflow's arrangements on this worker.
    sizes: ArrangementSizes,
    /// This worker's share of a one-off dataflow's budget.
    budget: QueryBudget,
    /// Rows every worker's peeks have visited (see `Compute::peek_rows_scanned`).
    peek_rows_scanned: Arc<AtomicU64>,
}

/// This worker's share of what a one-off dataflow may hold in its arrangements.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueryBudget {
    pub(crate) records: Option<u64>,
    pub(crate) bytes: Option<u64>,
    /// The number of workers, which the whole budget is divided among.
    pub(crate) workers: u64,
}

impl<'w> WorkerState<'w> {
    pub(crate) fn new(
        worker: &'w mut Worker,
        commands: Receiver<Command>,
        poisoned: Arc<AtomicBool>,
        installed: Arc<Vec<AtomicUsize>>,
        records: Arc<Vec<Mutex<BTreeMap<GlobalId, Published>>>>,
        budget: QueryBudget,
        peek_rows_scanned: Arc<AtomicU64>,
    ) -> Self {
        let sizes = ArrangementSizes::install(worker);
        WorkerState {
            sizes,
            budget,
            worker,
            commands,
            registry: Registry {
                collections: BTreeMap::new(),
                importers: BTreeMap::new(),
            },
            subscribes: BTreeMap::new(),
            dropping: Vec::new(),
            pending: Vec::new(),
            upper: 0,
            since: 0,
            poisoned,
            installed,
            records,
            published: Instant::now(),
            peek_rows_scanned,
        }
    }

    /// Runs until `Shutdown`, a closed command channel, or a failed peer.
    pub(crate) fn run(mut self) {
        let _guard = PanicGuard {
            index: self.worker.index(),
            poisoned: Arc::clone(&self.poisoned),
        };
        'outer: loop {
            let mut more_commands = false;
            for n in 0..=COMMANDS_PER_STEP {
                if n == COMMANDS_PER_STEP {
                    more_commands = true;
                    break;
                }
                match self.commands.try_recv() {
                    Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => break 'outer,
                    Ok(command) => self.handle(command),
                    Err(TryRecvError::Empty) => break,
                }
            }
            self.serve_peeks();
            self.enforce_query_budget();
            self.publish_records();
            if self.poisoned.load(Ordering::SeqCst) {
                tracing::error!(
                    worker = self.worker.index(),
                    "a peer worker failed; stopping"
                );
                break;
            }
            if more_commands {
                self.worker.step();
            } else {
                self.worker.step_or_park(Some(PARK_TIMEOUT));
            }
        }
        self.shutdown();
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::CreateTable {
                id,
                name,
                retention,
                append_only,
            } => self.create_table(id, name, retention, append_only),
            Command::UpdateWatermark { id, time, updates } => {
                self.update_watermark(id, time, updates)
            }
            Command::CreateDataflow(desc) => self.create_dataflow(&desc),
            Command::Subscribe { desc, sender } => self.subscribe(&desc, sender),
            Command::Drop(id) => self.drop_collection(id),
            Command::UpdateTable { id, time, updates } => self.update_table(id, time, updates),
            Command::AdvanceTime(upper) => self.advance_time(upper),
            Command::AllowCompaction(since) => self.allow_compaction(since),
            Command::Peek {
                id,
                time,
                spec,
                responder,
            } => self.peek(id, time, spec, responder),
            Command::Panic => panic!("compute worker {} panics on request", self.worker.index()),
            Command::Shutdown => {}
        }
    }

    /// Creates a table; with a `retention`, a stream whose rows leave once its
    /// watermark (its second input, see `update_watermark`) is that far past their
    /// event time (an `Expire`, `eddy_expr::watermark`).
    fn create_table(
        &mut self,
        id: GlobalId,
        name: String,
        retention: Option<crate::api::Retention>,
        append_only: bool,
    ) {
        if self.registry.collections.contains_key(&id) {
            tracing::error!(%id, %name, "table already exists; ignoring");
            return;
        }
        let dataflow_index = self.worker.next_dataflow_index();
        let first_operator = self.worker.peek_identifier();
        let flow = FlowMeter::default();
        let (mut input, mut marks, oks, errs) =
            self.worker.dataflow_named::<Time, _, _>(&name, |scope| {
                let (input, mut rows) = scope.new_collection::<Row, Diff>();
                let mut marks = None;
                if let Some(retention) = retention {
                    let (marks_input, watermarks) = scope.new_collection::<Row, Diff>();
                    rows = crate::render::expire_by_watermark(
                        &format!("{name}/Retention"),
                        rows,
                        watermarks,
                        retention.column,
                        retention.retention_us,
                    );
                    marks = Some(marks_input);
                }
                let rows = counted(rows, &flow);
                // A stream that only ever inserts keeps its rows in arrival order:
                // sorting and merging them would buy nothing (see `history.rs`).
                let oks = if append_only && marks.is_none() {
                    let history = History::default();
                    history.record(rows, &format!("{name}/History"));
                    RowStore::Appended(history)
                } else {
                    RowStore::Arranged(
                        rows.arrange_by_self_named(&format!("{name}/ArrangeOks"))
                            .trace,
                    )
                };
                let errs = empty::<Time, Vec<(EvalError, Time, Diff)>>(scope)
                    .as_collection()
                    .arrange_by_self_named(&format!("{name}/ArrangeErrs"));
                (input, marks, oks, errs.trace)
            });
        input.advance_to(self.upper);
        input.flush();
        if let Some(marks) = marks.as_mut() {
            marks.advance_to(self.upper);
            marks.flush();
        }
        let mut state = CollectionState {
            name,
            dataflow_index,
            operators: first_operator..self.worker.peek_identifier(),
            oks,
            errs,
            as_of: 0,
            input: Some(input),
            marks,
            append_only,
            imports: Vec::new(),
            written_until: 0,
            buttons: Vec::new(),
            bytes: None,
            flow,
        };
        compact(&mut state, self.since);
        tracing::debug!(%id, name = %state.name, "created table");
        self.publish_installed();
        self.registry.collections.insert(id, state);
    }

    fn create_dataflow(&mut self, desc: &crate::api::DataflowDesc) {
        if self.registry.collections.contains_key(&desc.id) {
            tracing::error!(id = %desc.id, name = %desc.name, "collection already exists; ignoring");
            return;
        }
        let imports: Vec<GlobalId> = desc.plan.depends_on().into_iter().collect();
        // A view over append-only inputs that can only insert is append-only too, so
        // reductions over it may rely on it as on a stream.
        let append_only = desc
            .plan
            .is_append_only(&|id| self.registry.is_append_only(id));
        self.registry.add_importer(&imports, self.upper);
        let dataflow_index = self.worker.next_dataflow_index();
        let worker_index = self.worker.index();
        let registry = &mut self.registry;
        let first_operator = self.worker.peek_identifier();
        let built = self
            .worker
            .dataflow_named::<Time, _, _>(&desc.name, |scope| {
                build_dataflow(scope, worker_index, desc, registry)
            });
        let operators = first_operator..self.worker.peek_identifier();
        let mut state = CollectionState {
            name: desc.name.clone(),
            dataflow_index,
            operators,
            oks: RowStore::Arranged(built.oks),
            errs: built.errs,
            as_of: desc.as_of,
            input: None,
            marks: None,
            append_only,
            imports,
            written_until: 0,
            buttons: built.buttons,
            bytes: built.bytes,
            flow: built.flow,
        };
        compact(&mut state, self.since);
        tracing::debug!(id = %desc.id, name = %desc.name, as_of = desc.as_of, "created dataflow");
        self.publish_installed();
        self.registry.collections.insert(desc.id, state);
    }

    fn subscribe(&mut self, desc: &SubscribeDesc, sender: SubscribeSender) {
        if self.subscribes.contains_key(&desc.id)
            || self.registry.collections.contains_key(&desc.id)
        {
            tracing::error!(id = %desc.id, name = %desc.name, "dataflow already exists; ignoring");
            return;
        }
        let imports: Vec<GlobalId> = desc.plan.depends_on().into_iter().collect();
        self.registry.add_importer(&imports, self.upper);
        let dataflow_index = self.worker.next_dataflow_index();
        let worker_index = self.worker.index();
        let registry = &mut self.registry;
        let first_operator = self.worker.peek_identifier();
        let failer = sender.failer();
        let buttons = self
            .worker
            .dataflow_named::<Time, _, _>(&desc.name, |scope| {
                build_subscribe(scope, worker_index, desc, registry, sender)
            });
        let state = SubscribeState {
            name: desc.name.clone(),
            dataflow_index,
            operators: first_operator..self.worker.peek_identifier(),
            buttons,
            imports,
            failer,
        };
        tracing::debug!(id = %desc.id, name = %desc.name, as_of = desc.as_of, "created subscription");
        self.publish_installed();
        self.subscribes.insert(desc.id, state);
    }

    fn drop_collection(&mut self, id: GlobalId) {
        if let Some(state) = self.subscribes.remove(&id) {
            self.registry.remove_importer(&state.imports);
            self.retire_dataflow(
                &state.name,
                state.dataflow_index,
                &state.operators,
                state.buttons,
            );
            return;
        }
        let Some(state) = self.registry.collections.remove(&id) else {
            // A one-off dataflow stopped by its budget is gone before the coordinator
            // drops it.
            if !matches!(id, GlobalId::Transient(_)) {
                tracing::warn!(%id, "drop of an unknown collection");
            }
            return;
        };
        // Peeks nobody waits for (a cancelled or timed-out read) do not keep the
        // collection: its dataflow stops now and its memory goes back.
        self.pending
            .retain(|p| p.id != id || !p.responder.is_abandoned());
        if self.pending.iter().any(|p| p.id == id) {
            self.dropping.push((id, state));
        } else {
            self.retire(state);
        }
    }

    /// Tears down a collection's dataflow.
    fn retire(&mut self, mut state: CollectionState) {
        self.registry.remove_importer(&state.imports);
        drop(state.input.take());
        drop(state.marks.take());
        let buttons = std::mem::take(&mut state.buttons);
        let (name, index, operators) = (
            std::mem::take(&mut state.name),
            state.dataflow_index,
            state.operators.clone(),
        );
        drop(state);
        self.retire_dataflow(&name, index, &operators, buttons);
    }

    /// Stops a dataflow's imports and drops it.
    fn retire_dataflow(
        &mut self,
        name: &str,
        index: usize,
        operators: &std::ops::Range<usize>,
        mut buttons: Vec<ShutdownButton<CapabilitySet<Time>>>,
    ) {
        tracing::debug!(name, "dropping dataflow");
        for button in &mut buttons {
            button.press();
        }
        drop(buttons);
        self.worker.drop_dataflow(index);
        self.sizes.forget(operators);
        self.publish_installed();
    }

    /// Publishes the records each collection's arrangements hold on this worker, and
    /// its smallest error, at most every [`PUBLISH_INTERVAL`].
    fn publish_records(&mut self) {
        if self.published.elapsed() < PUBLISH_INTERVAL {
            return;
        }
        self.published = Instant::now();
        let Some(slot) = self.records.get(self.worker.index()) else {
            return;
        };
        let sizes = &self.sizes;
        let records = self
            .registry
            .collections
            .iter_mut()
            .map(|(id, state)| {
                let held = match &state.oks {
                    RowStore::Appended(history) => history.len() as i64,
                    RowStore::Arranged(_) => 0,
                };
                let published = Published {
                    records: sizes.records_in(&state.operators) + held,
                    error: smallest_error(&mut state.errs, Timestamp::MAX),
                    flow: state.flow.get(),
                    upper: state.oks.upper(),
                };
                (*id, published)
            })
            .collect();
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = records;
    }

    fn publish_installed(&self) {
        if let Some(count) = self.installed.get(self.worker.index()) {
            count.store(self.worker.installed_dataflows().len(), Ordering::Relaxed);
        }
    }

    /// Moves a stream's watermark (every worker gets the whole change): its input is
    /// written like the table's, and closed with it.
    fn update_watermark(&mut self, id: GlobalId, time: Timestamp, updates: Vec<(Row, Diff)>) {
        let upper = self.upper;
        let Some((marks, written_until)) = self
            .registry
            .collections
            .get_mut(&id)
            .and_then(|c| Some((c.marks.as_mut()?, &mut c.written_until)))
        else {
            tracing::error!(%id, "a watermark for a stream without retention; dropping it");
            return;
        };
        let time = time.max(upper);
        *written_until = (*written_until).max(time.saturating_add(1));
        for (row, diff) in updates {
            marks.update_at(row, time, diff);
        }
    }

    fn update_table(&mut self, id: GlobalId, time: Timestamp, updates: Vec<(Row, Diff)>) {
        let upper = self.upper;
        let Some((input, written_until)) = self
            .registry
            .collections
            .get_mut(&id)
            .and_then(|c| Some((c.input.as_mut()?, &mut c.written_until)))
        else {
            tracing::error!(%id, "updates to an unknown table; dropping them");
            return;
        };
        let time = if time < upper {
            tracing::error!(%id, time, upper, "updates before the upper; applying them at the upper");
            upper
        } else {
            time
        };
        *written_until = (*written_until).max(time.saturating_add(1));
        for (row, diff) in updates {
            input.update_at(row, time, diff);
        }
    }

    /// Closes the table inputs up to `upper`: every table that holds updates not yet
    /// closed, that a pending peek reads, or that a dataflow imports. A table that is neither (most of
    /// the builtin tables, most of the time) stays where it is until it is written,
    /// read or imported: closing one costs its dataflow a step and its arrangement an
    /// empty batch, which on every source batch adds up over dozens of tables.
    fn advance_time(&mut self, upper: Timestamp) {
        if upper <= self.upper {
            return;
        }
        self.upper = upper;
        let importers = &self.registry.importers;
        let pending = &self.pending;
        for (id, state) in self.registry.collections.iter_mut() {
            let lagging = state
                .input
                .as_ref()
                .is_some_and(|input| *input.time() < state.written_until);
            if lagging || importers.contains_key(id) || pending.iter().any(|p| p.id == *id) {
                state.close_input(upper);
            }
        }
    }

    fn allow_compaction(&mut self, since: Timestamp) {
        if since <= self.since {
            return;
        }
        self.since = since;
        for state in self.registry.collections.values_mut() {
            compact(state, since);
        }
    }

    fn peek(
        &mut self,
        id: GlobalId,
        time: Timestamp,
        spec: Arc<PeekSpec>,
        responder: PeekResponder,
    ) {
        let Some(state) = self.registry.collections.get_mut(&id) else {
            responder.respond(Err(PeekError::UnknownCollection(id)));
            return;
        };
        // A table nobody imports may lag behind the upper (see `advance_time`).
        state.close_input(self.upper);
        if let Some(Err(message)) = spec.mfp.as_ref().map(crate::validate::validate_mfp) {
            tracing::error!(%id, %message, "invalid peek");
            responder.respond(Err(PeekError::Eval(EvalError::Internal(format!(
                "invalid peek: {message}"
            )))));
            return;
        }
        let since = state.oks.since();
        if since > time {
            responder.respond(Err(PeekError::TimeCompacted { time, since }));
            return;
        }
        // Handles of our own hold compaction at `time` until the peek is answered.
        let oks = state.oks.hold_at(time);
        let mut errs = state.errs.clone();
        hold_trace_at(&mut errs, time);
        self.pending.push(PendingPeek {
            id,
            time,
            spec,
            oks,
            errs,
            responder,
        });
    }

    /// Stops every one-off dataflow that holds more records than its budget on this
    /// worker: its peeks fail with `ResourceExhausted` and its dataflow goes at once.
    /// Tables and views are never stopped.
    fn enforce_query_budget(&mut self) {
        let budget = self.budget;
        if budget.records.is_none() && budget.bytes.is_none() {
            return;
        }
        // The first limit a one-off dataflow passes, as the whole query's limit.
        let exceeded = |records: i64, bytes: i64| -> Option<String> {
            if let Some(limit) = budget.records.filter(|l| records > *l as i64) {
                return Some(format!("{} records", limit * budget.workers));
            }
            if let Some(limit) = budget.bytes.filter(|l| bytes > *l as i64) {
                return Some(format!("{} bytes", limit * budget.workers));
            }
            None
        };
        let over: Vec<(GlobalId, String)> = self
            .registry
            .collections
            .iter()
            .filter(|(id, _)| matches!(id, GlobalId::Transient(_)))
            .filter_map(|(id, state)| {
                let records = self.sizes.records_in(&state.operators);
                let bytes = state.bytes();
                exceeded(records, bytes).map(|limit| (*id, limit))
            })
            .collect();
        for (id, limit) in over {
            let Some(state) = self.registry.collections.remove(&id) else {
                continue;
            };
            let records = self.sizes.records_in(&state.operators);
            let bytes = state.bytes();
            tracing::warn!(%id, name = %state.name, records, bytes, %limit, "one-off query over its budget; stopping it");
            let (stopped, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
                .into_iter()
                .partition(|p| p.id == id);
            self.pending = keep;
            for peek in stopped {
                peek.responder.respond(Err(PeekError::ResourceExhausted {
                    limit: limit.clone(),
                }));
            }
            self.retire(state);
        }
        // A subscription's dataflow is kept up to date, but a user's query all the same:
        // it runs under the record budget too.
        let over: Vec<(GlobalId, String)> = self
            .subscribes
            .iter()
            .filter_map(|(id, state)| {
                let records = self.sizes.records_in(&state.operators);
                exceeded(records, 0).map(|limit| (*id, limit))
            })
            .collect();
        for (id, limit) in over {
            if let Some(state) = self.subscribes.get(&id) {
                tracing::warn!(%id, name = %state.name, %limit, "subscription over its budget; stopping it");
                state
                    .failer
                    .fail(SubscribeError::ResourceExhausted { limit });
            }
            self.drop_collection(id);
        }
    }

    /// Answers every pending peek whose time is complete, and retires dropped
    /// collections that no pending peek reads any more.
    fn serve_peeks(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut index = 0;
        while index < self.pending.len() {
            let peek = &mut self.pending[index];
            if !peek.oks.is_complete(peek.time)
                || trace_upper(&mut peek.errs).is_some_and(|upper| upper <= peek.time)
            {
                index += 1;
                continue;
            }
            let mut peek = self.pending.swap_remove(index);
            let result = read_peek(&mut peek, &self.peek_rows_scanned);
            peek.responder.respond(result);
        }
        if !self.dropping.is_empty() {
            let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.dropping)
                .into_iter()
                .partition(|(id, _)| !self.pending.iter().any(|p| p.id == *id));
            self.dropping = keep;
            for (_, state) in done {
                self.retire(state);
            }
        }
    }

    fn shutdown(mut self) {
        // Unanswered peeks resolve with `PeekError::Shutdown` as their responders drop.
        self.pending.clear();
        for (_, state) in std::mem::take(&mut self.subscribes) {
            self.retire_dataflow(
                &state.name,
                state.dataflow_index,
                &state.operators,
                state.buttons,
            );
        }
        let collections = std::mem::take(&mut self.registry.collections);
        let dropping = std::mem::take(&mut self.dropping);
        for state in collections
            .into_values()
            .chain(dropping.into_iter().map(|(_, s)| s))
        {
            self.retire(state);
        }
        tracing::debug!(worker = self.worker.index(), "compute worker stopped");
    }
}

/// Allows `state`'s traces to compact to `since` (but not before its `as_of`).
fn compact(state: &mut CollectionState, since: Timestamp) {
    let since = since.max(state.as_of);
    state.oks.compact(since);
    compact_trace(&mut state.errs, since);
}

/// What a worker publishes about a collection (see `Compute::arrangement_records`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Published {
    /// Records its arrangements (or a stream's history) hold on this worker.
    pub(crate) records: i64,
    /// Its smallest error on this worker with a positive count, if any.
    pub(crate) error: Option<EvalError>,
    /// What its output has carried on this worker.
    pub(crate) flow: Flow,
    /// The upper frontier of its rows' arrangement on this worker: every earlier time
    /// is complete (`None`: the empty frontier, it will not change again).
    pub(crate) upper: Option<Timestamp>,
}

/// The smallest error in `errs` with a positive count at `time`.
fn smallest_error(errs: &mut ErrTrace, time: Timestamp) -> Option<EvalError> {
    let batches = errs.batches_through(Antichain::new().borrow())?;
    let (mut cursor, storage) = cursor_list(batches);
    // Keys are sorted, so the first error with a positive count is the smallest.
    while let Some(err) = cursor.get_key(&storage) {
        if count_at(&mut cursor, &storage, time) > 0 {
            return Some(err.clone());
        }
        cursor.step_key(&storage);
    }
    None
}

/// Reads a complete peek: the collection's errors if it has any, else its rows in the
/// key range with the MFP applied (or the MFP's smallest error). Adds the rows its
/// cursor visited (those of the range, whatever their count at the peek's time, and
/// the one after it) to `scanned`.
fn read_peek(peek: &mut PendingPeek, scanned: &AtomicU64) -> PeekResult {
    let time = peek.time;
    if let Some(err) = smallest_error(&mut peek.errs, time) {
        return Err(PeekError::Eval(err));
    }
    let mut smallest_error: Option<EvalError> = None;
    let range = peek.spec.key_range.as_ref();
    // An identity MFP copies rows as stored, once the first row has shown the arity it
    // expects (all rows of a collection have one arity). A read of a range (perhaps of
    // a sorted arrangement) repacks what it returns.
    let (mfp, mut unchecked_arity) = match &peek.spec.mfp {
        Some(mfp) if mfp.is_identity() && range.is_none() => (None, Some(mfp.input_arity)),
        Some(mfp) => (Some(CompiledMfp::new(mfp.clone())), None),
        None => (None, None),
    };
    let mut rows = Vec::new();
    let mut visited = 0;
    // Takes one row of the range with its count at the peek's time.
    let mut take = |row: &Row, count: Diff| -> Result<(), PeekError> {
        if count == 0 {
            return Ok(());
        }
        if let Some(expected) = unchecked_arity.take() {
            let found = row.iter().count();
            if found != expected {
                return Err(PeekError::Eval(arity_mismatch(found, expected)));
            }
        }
        match mfp.as_ref().map(|mfp| mfp.apply(row)) {
            None => rows.push((row.clone(), count)),
            Some(None) => {}
            Some(Some(Ok(out))) => rows.push((out, count)),
            // Keep scanning: the smallest error is the answer, whichever rows this
            // worker holds.
            Some(Some(Err(err))) => {
                if smallest_error.as_ref().is_none_or(|e| err < *e) {
                    smallest_error = Some(err);
                }
            }
        }
        Ok(())
    };
    match &mut peek.oks {
        RowStore::Arranged(trace) => {
            if let Some(batches) = trace.batches_through(Antichain::new().borrow()) {
                let (mut cursor, storage) = cursor_list(batches);
                if let Some(range) = range {
                    cursor.seek_key(&storage, &range.start());
                }
                while let Some(row) = cursor.get_key(&storage) {
                    visited += 1;
                    if range.is_some_and(|range| range.is_past(row)) {
                        break;
                    }
                    let count = count_at(&mut cursor, &storage, time);
                    take(row, count)?;
                    cursor.step_key(&storage);
                }
            }
        }
        // Unsorted: every row is visited, those of the range taken, in arrival order.
        RowStore::Appended(history) => history.try_for_each_at(time, |row, count| {
            visited += 1;
            if range.is_none_or(|range| range.contains(row)) {
                take(row, count)?;
            }
            Ok(())
        })?,
    }
    scanned.fetch_add(visited, Ordering::Relaxed);
    match smallest_error {
        Some(err) => Err(PeekError::Eval(err)),
        None => Ok(rows),
    }
}

/// The accumulated count of the cursor's current key (with unit values) at `time`.
fn count_at<C>(cursor: &mut C, storage: &C::Storage, time: Timestamp) -> Diff
where
    C: Cursor<Time = Time, Diff = Diff>,
{
    let mut count: Diff = 0;
    while cursor.val_valid(storage) {
        cursor.map_times(storage, |t, d| {
            if C::owned_time(t) <= time {
                count += C::owned_diff(d);
            }
        });
        cursor.step_val(storage);
    }
    count
}
