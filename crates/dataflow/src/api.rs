//! The coordinator-facing API of the compute layer: [`Compute`], the controller of the
//! timely workers.
//!
//! Every method returns promptly: commands go to each worker over a bounded channel
//! (a full channel makes the caller wait for that worker to drain a few commands, never
//! for a dataflow to make progress), and a peek's answer arrives later on a oneshot
//! channel. Only [`Compute::shutdown`] waits for the workers.
//!
//! Invariants:
//! - Every command goes to every worker, in call order; the workers build dataflows in
//!   that order.
//! - Table updates are split round-robin over the workers; each inserts its share and
//!   the dataflows re-partition by key.
//! - Once any worker has failed (panicked), peeks resolve with [`PeekError::Shutdown`]
//!   instead of waiting forever.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use eddy_expr::{EvalError, MapFilterProject, MirRelationExpr};
use eddy_repr::row::KeyRange;
use eddy_repr::{ColumnType, Diff, GlobalId, Row, Timestamp};
use timely::communication::initialize::WorkerGuards;

use crate::command::{Command, PeekResponder};
use crate::subscribe::{SubscribeDesc, SubscribeReceiver};

/// Commands each worker's channel holds before a sender waits.
const COMMAND_CHANNEL_CAPACITY: usize = 1024;

#[derive(Clone, Debug)]
pub struct ComputeConfig {
    /// Number of timely worker threads.
    pub workers: usize,
    /// The most records a one-off dataflow may hold in its arrangements, over all
    /// workers; `None` for no limit.
    pub query_max_records: Option<u64>,
    /// The most bytes (estimated: records times their size as the arrangements'
    /// batchers measured it) a one-off dataflow may hold, over all workers.
    pub query_max_bytes: Option<u64>,
}

/// A dataflow to build: the optimized plan of a view (or of a one-off SELECT) whose
/// output is arranged and registered under `id`, so later dataflows and peeks can use it.
#[derive(Clone, Debug)]
pub struct DataflowDesc {
    pub id: GlobalId,
    /// A name for logs and operator names (the view's name).
    pub name: String,
    pub plan: MirRelationExpr,
    /// The output must be exact at `as_of` and every later time.
    pub as_of: Timestamp,
    /// The materialized view it maintains, if any: its error rows name it (and every
    /// reader of the view sees which view failed). `None` for one-off reads.
    pub view: Option<String>,
    /// How its output arrangement packs rows: an index's is sorted by its key, so a
    /// peek reads a range of key values as a range of rows (see [`KeyRange`]).
    pub layout: RowLayout,
}

/// How an arrangement packs its rows (keyed by whole rows either way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RowLayout {
    /// [`Row::pack`]: what every other operator reads; rows whose leading datums are
    /// equal are contiguous, but not in SQL order.
    #[default]
    Compact,
    /// [`Row::pack_sorted`]: the first `key_arity` datums in SQL order (an index's key
    /// columns). Only peeks read such an arrangement; their MFP packs what they return
    /// compactly again.
    Sorted { key_arity: usize },
}

/// Why a peek could not be answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeekError {
    /// The view's dataflow holds error rows at the peek's time; the smallest is reported.
    #[error("{0}")]
    Eval(EvalError),
    #[error("collection {0} does not exist")]
    UnknownCollection(GlobalId),
    /// The peek's time is before the collection's compaction frontier (or its `as_of`),
    /// so the contents at that time are no longer known.
    #[error("timestamp {time} is not valid for all inputs: the earliest readable time is {since}")]
    TimeCompacted { time: Timestamp, since: Timestamp },
    #[error("compute workers are shut down")]
    Shutdown,
    /// A one-off dataflow outgrew its budget and was stopped; `limit` says which
    /// (`10000000 records`, `4294967296 bytes`).
    #[error("the query holds more than {limit} in its arrangements")]
    ResourceExhausted { limit: String },
}

/// The rows of an arrangement at one time, with their multiplicities, gathered from
/// every worker (not consolidated across workers' shards, which are disjoint).
pub type PeekResult = Result<Vec<(Row, Diff)>, PeekError>;

/// What a peek reads from a collection's arrangement, and the per-row work the workers
/// do on it while they scan, so that only the answer leaves the workers.
///
/// The default reads every row as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeekSpec {
    /// Reads only the rows in this range of the arrangement: those whose leading
    /// datums are a prefix ([`KeyRange::prefix`]), or, in a sorted arrangement, those
    /// whose key lies in a range of values ([`KeyRange::sorted_range`]). Arrangements
    /// are keyed by the whole row, so these rows are contiguous: the workers seek to
    /// the start and stop at the end, and the cost is that of the rows in the range,
    /// not of the collection. `None` reads every row. The range only narrows the scan;
    /// the caller keeps the predicates that imply it in `mfp`.
    pub key_range: Option<KeyRange>,
    /// Applied to every row read (with a nonzero count), as a dataflow would: rows it
    /// rejects are left out, and an evaluation error fails the peek with
    /// [`PeekError::Eval`] (the smallest error, if several rows fail). `None` returns
    /// the rows as stored. Its `input_arity` must be the collection's arity.
    pub mfp: Option<MapFilterProject>,
}

impl PeekSpec {
    /// Reads every row as stored.
    pub fn all() -> PeekSpec {
        PeekSpec::default()
    }

    /// Reads the rows that `mfp` keeps, transformed by it.
    pub fn with_mfp(mfp: MapFilterProject) -> PeekSpec {
        PeekSpec {
            key_range: None,
            mfp: Some(mfp),
        }
    }

    /// Narrows the scan of a compact arrangement to rows whose leading datums are
    /// `prefix`; an empty prefix reads every row.
    pub fn with_key_prefix(mut self, prefix: &[eddy_repr::Datum]) -> PeekSpec {
        self.key_range = (!prefix.is_empty()).then(|| KeyRange::prefix(&Row::pack(prefix)));
        self
    }

    /// Narrows the scan to the rows of `range`.
    pub fn with_key_range(mut self, range: KeyRange) -> PeekSpec {
        self.key_range = Some(range);
        self
    }
}

/// Merge effort an idle arrangement spends per scheduling quantum.
const IDLE_MERGE_EFFORT: usize = 1_000;

/// Lets idle arrangements finish the merges they have started (which releases the
/// merged batches and applies compaction) without starting new ones. Differential's
/// default idle logic also merges every new small batch into the largest one, which
/// costs work proportional to the arrangement's size after every update and, with a
/// million rows, multiplied single-row update latency by about 30.
fn configure_idle_merging(config: &mut timely::WorkerConfig) {
    let logic: differential_dataflow::trace::ExertionLogic =
        Arc::new(|levels: &[(usize, usize, usize)]| {
            // (level, batches at the level, updates); two batches at a level are a
            // merge in progress.
            levels
                .iter()
                .any(|(_level, batches, _updates)| *batches > 1)
                .then_some(IDLE_MERGE_EFFORT)
        });
    config.set("differential/default_exert_logic".to_string(), logic);
}

/// How long a stream keeps its rows: until its watermark is `retention_us` past the
/// event time in `column`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub column: usize,
    pub retention_us: i64,
}

/// A worker as the controller sees it.
struct WorkerHandle {
    commands: SyncSender<Command>,
    thread: std::thread::Thread,
}

/// Handle to the timely workers.
pub struct Compute {
    workers: Vec<WorkerHandle>,
    guards: Option<WorkerGuards<()>>,
    /// Set by a worker whose thread panics.
    poisoned: Arc<AtomicBool>,
    /// The number of dataflows each worker has installed (tables included).
    installed: Arc<Vec<AtomicUsize>>,
    /// The records each worker holds in each collection's arrangements.
    records: Arc<Vec<Mutex<BTreeMap<GlobalId, crate::worker::Published>>>>,
    /// Rows the workers' peeks have visited in arrangements, all told.
    peek_rows_scanned: Arc<AtomicU64>,
    /// The worker that receives the first share of the next table update.
    next_worker: usize,
    upper: Timestamp,
}

impl Compute {
    /// Starts `config.workers` timely worker threads (at least one).
    pub fn start(config: ComputeConfig) -> std::io::Result<Compute> {
        let workers = config.workers.max(1);
        let (senders, receivers): (Vec<SyncSender<Command>>, Vec<Receiver<Command>>) = (0..workers)
            .map(|_| sync_channel(COMMAND_CHANNEL_CAPACITY))
            .unzip();
        let receivers = Arc::new(Mutex::new(
            receivers.into_iter().map(Some).collect::<Vec<_>>(),
        ));
        let poisoned = Arc::new(AtomicBool::new(false));
        let installed: Arc<Vec<AtomicUsize>> =
            Arc::new((0..workers).map(|_| AtomicUsize::new(0)).collect());
        let worker_installed = Arc::clone(&installed);
        let records: Arc<Vec<Mutex<BTreeMap<GlobalId, crate::worker::Published>>>> =
            Arc::new((0..workers).map(|_| Mutex::default()).collect());
        let worker_records = Arc::clone(&records);
        let peek_rows_scanned = Arc::new(AtomicU64::new(0));
        let worker_scanned = Arc::clone(&peek_rows_scanned);

        let mut timely_config = timely::Config::process(workers);
        configure_idle_merging(&mut timely_config.worker);
        let worker_poisoned = Arc::clone(&poisoned);
        let query_max_records = config.query_max_records;
        let query_max_bytes = config.query_max_bytes;
        let guards = timely::execute(timely_config, move |worker| {
            let index = worker.index();
            let commands = receivers
                .lock()
                .ok()
                .and_then(|mut receivers| receivers.get_mut(index).and_then(Option::take));
            let Some(commands) = commands else {
                tracing::error!(worker = index, "no command channel for worker");
                worker_poisoned.store(true, Ordering::SeqCst);
                return;
            };
            // Each worker holds about its share of every dataflow.
            let budget = crate::worker::QueryBudget {
                records: query_max_records.map(|n| n.div_ceil(workers as u64)),
                bytes: query_max_bytes.map(|n| n.div_ceil(workers as u64)),
                workers: workers as u64,
            };
            crate::worker::WorkerState::new(
                worker,
                commands,
                Arc::clone(&worker_poisoned),
                Arc::clone(&worker_installed),
                Arc::clone(&worker_records),
                budget,
                Arc::clone(&worker_scanned),
            )
            .run();
        })
        .map_err(std::io::Error::other)?;

        let workers = senders
            .into_iter()
            .zip(guards.guards())
            .map(|(commands, guard)| WorkerHandle {
                commands,
                thread: guard.thread().clone(),
            })
            .collect();
        tracing::info!(workers = config.workers.max(1), "compute started");
        Ok(Compute {
            workers,
            guards: Some(guards),
            poisoned,
            installed,
            records,
            peek_rows_scanned,
            next_worker: 0,
            upper: 0,
        })
    }

    /// The rows peeks have visited in arrangements since the workers started, over
    /// all workers, kept up to date by them: a read of a key range adds the rows in
    /// the range (and one past it per worker), a full read every row. A live counter
    /// to publish as a metric.
    pub fn peek_rows_scanned(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.peek_rows_scanned)
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// How many dataflows (tables included) each worker has installed; a dropped
    /// collection's dataflow leaves once its pending peeks are answered.
    pub fn installed_dataflows(&self) -> Vec<usize> {
        self.installed
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect()
    }

    /// The records the arrangements of collection `id` hold, over all workers, as the
    /// workers last published them (every [`crate::worker::PUBLISH_INTERVAL`]); `None`
    /// for a collection no worker has published yet.
    pub fn arrangement_records(&self, id: GlobalId) -> Option<i64> {
        let mut found = None;
        for worker in self.records.iter() {
            let worker = worker.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(published) = worker.get(&id) {
                *found.get_or_insert(0) += published.records;
            }
        }
        found
    }

    /// What the output of collection `id` has carried over all workers since it was
    /// built (updates, net rows, net row bytes), as the workers last published it;
    /// `None` for a collection no worker has published yet.
    pub fn collection_flow(&self, id: GlobalId) -> Option<crate::Flow> {
        let mut found: Option<crate::Flow> = None;
        for worker in self.records.iter() {
            let worker = worker.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(published) = worker.get(&id) {
                let total = found.get_or_insert_with(Default::default);
                total.updates += published.flow.updates;
                total.rows += published.flow.rows;
                total.row_bytes += published.flow.row_bytes;
            }
        }
        found
    }

    /// The upper frontier of collection `id`'s rows over all workers (the least of
    /// theirs), as the workers last published it: every earlier time is complete.
    /// `None` until every worker has published it, and once it is empty.
    pub fn collection_upper(&self, id: GlobalId) -> Option<Timestamp> {
        self.records
            .iter()
            .map(|worker| {
                let worker = worker.lock().unwrap_or_else(|p| p.into_inner());
                worker.get(&id).and_then(|p| p.upper)
            })
            .try_fold(Timestamp::MAX, |least, upper| Some(least.min(upper?)))
    }

    /// The smallest error collection `id` holds on any worker, as the workers last
    /// published it (every [`crate::worker::PUBLISH_INTERVAL`]).
    pub fn collection_error(&self, id: GlobalId) -> Option<EvalError> {
        self.records
            .iter()
            .filter_map(|worker| {
                let worker = worker.lock().unwrap_or_else(|p| p.into_inner());
                worker.get(&id).and_then(|p| p.error.clone())
            })
            .min()
    }

    /// Whether a worker has failed; every later peek resolves with
    /// [`PeekError::Shutdown`].
    pub fn is_failed(&self) -> bool {
        self.poisoned.load(Ordering::SeqCst)
    }

    /// Creates a table: an input collection, arranged and registered under `id`. Its
    /// input starts at the current time (the last `advance_time`).
    pub fn create_table(&mut self, id: GlobalId, name: &str, typ: Vec<ColumnType>) {
        let _ = typ;
        self.broadcast(|| Command::CreateTable {
            id,
            name: name.to_string(),
            retention: None,
            append_only: false,
        });
    }

    /// Creates an append-only table (a stream without retention): a table whose rows
    /// the caller only ever inserts, never updates or deletes. Its rows are kept in
    /// arrival order rather than arranged, and each dataflow that reads it replays
    /// them (see `history.rs`); a peek scans them. Reductions over it keep
    /// `min` and `max` with the counts and sums, in one record per group, instead of
    /// arranging every value; a retraction written to it anyway turns the groups it
    /// reaches into errors rather than wrong values.
    pub fn create_append_only(&mut self, id: GlobalId, name: &str) {
        self.broadcast(|| Command::CreateTable {
            id,
            name: name.to_string(),
            retention: None,
            append_only: true,
        });
    }

    /// Creates a stream that keeps its rows for `retention`: a table whose rows leave
    /// once its watermark (moved with [`Compute::update_watermark`]) is that far past
    /// their event time.
    pub fn create_stream(&mut self, id: GlobalId, name: &str, retention: Retention) {
        self.broadcast(|| Command::CreateTable {
            id,
            name: name.to_string(),
            retention: Some(retention),
            append_only: false,
        });
    }

    /// Moves the watermark of stream `id` (made with [`Compute::create_stream`]) at
    /// `time`: `updates` retract the old watermark row and insert the new one (one
    /// `timestamptz` column).
    pub fn update_watermark(&mut self, id: GlobalId, time: Timestamp, updates: Vec<(Row, Diff)>) {
        self.broadcast(|| Command::UpdateWatermark {
            id,
            time,
            updates: updates.clone(),
        });
    }

    /// Builds a dataflow and registers its output arrangement under `desc.id`.
    pub fn create_dataflow(&mut self, desc: DataflowDesc) {
        let desc = Arc::new(desc);
        self.broadcast(|| Command::CreateDataflow(Arc::clone(&desc)));
    }

    /// Builds a subscription's dataflow (see `subscribe.rs`); the receiver gets its
    /// changes from `desc.as_of` on. Drop it with [`Compute::drop_collection`] and
    /// `desc.id` once the receiver is done.
    pub fn subscribe(&mut self, desc: SubscribeDesc) -> SubscribeReceiver {
        let (senders, receiver) =
            crate::subscribe::channel(self.workers.len(), desc.as_of, desc.max_buffered_records);
        let desc = Arc::new(desc);
        if self.is_failed() {
            // Dropping the senders tells the receiver the workers are gone.
            return receiver;
        }
        for (index, sender) in senders.into_iter().enumerate() {
            self.send(
                index,
                Command::Subscribe {
                    desc: Arc::clone(&desc),
                    sender,
                },
            );
        }
        self.unpark_all();
        receiver
    }

    /// Drops a table, dataflow or subscription and releases its arrangements once
    /// unused. Peeks already issued against it are still answered.
    pub fn drop_collection(&mut self, id: GlobalId) {
        self.broadcast(|| Command::Drop(id));
    }

    /// Adds updates to a table at `time`, which must be at least the current time.
    pub fn update_table(&mut self, id: GlobalId, time: Timestamp, updates: Vec<(Row, Diff)>) {
        if time < self.upper {
            tracing::error!(%id, time, upper = self.upper,
                "table update before the current time; the workers apply it at the current time");
        }
        let peers = self.workers.len();
        let mut shares: Vec<Vec<(Row, Diff)>> = (0..peers)
            .map(|_| Vec::with_capacity(updates.len() / peers + 1))
            .collect();
        for (i, update) in updates.into_iter().enumerate() {
            shares[(self.next_worker + i) % peers].push(update);
        }
        self.next_worker = (self.next_worker + 1) % peers;
        for (index, share) in shares.into_iter().enumerate() {
            if !share.is_empty() {
                self.send(
                    index,
                    Command::UpdateTable {
                        id,
                        time,
                        updates: share,
                    },
                );
            }
        }
        self.unpark_all();
    }

    /// Closes every table input up to `upper` (exclusive): no more updates at earlier
    /// times. Reads at times before `upper` become possible once workers catch up.
    pub fn advance_time(&mut self, upper: Timestamp) {
        self.upper = self.upper.max(upper);
        self.broadcast(|| Command::AdvanceTime(upper));
    }

    /// Allows every arrangement to compact history up to `since` (reads at `since` and
    /// later stay exact). Pending peeks keep their own time readable until answered.
    pub fn allow_compaction(&mut self, since: Timestamp) {
        self.broadcast(|| Command::AllowCompaction(since));
    }

    /// Reads the arrangement of `id` at `time`. The receiver resolves once every worker
    /// has answered.
    pub fn peek(
        &mut self,
        id: GlobalId,
        time: Timestamp,
    ) -> tokio::sync::oneshot::Receiver<PeekResult> {
        self.peek_with(id, time, PeekSpec::all())
    }

    /// Reads the arrangement of `id` at `time` as `spec` says: only the rows under its
    /// key prefix, with its MFP applied on the workers. The receiver resolves once
    /// every worker has answered.
    pub fn peek_with(
        &mut self,
        id: GlobalId,
        time: Timestamp,
        spec: PeekSpec,
    ) -> tokio::sync::oneshot::Receiver<PeekResult> {
        let spec = Arc::new(spec);
        let (responders, rx) = PeekResponder::new(self.workers.len());
        if self.is_failed() {
            // Dropping the responders answers `PeekError::Shutdown`.
            drop(responders);
            return rx;
        }
        for (index, responder) in responders.into_iter().enumerate() {
            self.send(
                index,
                Command::Peek {
                    id,
                    time,
                    spec: Arc::clone(&spec),
                    responder,
                },
            );
        }
        self.unpark_all();
        rx
    }

    /// Makes worker `worker` panic: a failpoint for testing how failures are handled
    /// (every peek then resolves with [`PeekError::Shutdown`]). Not for production use.
    #[doc(hidden)]
    pub fn inject_worker_panic(&mut self, worker: usize) {
        if worker < self.workers.len() {
            self.send(worker, Command::Panic);
            self.unpark_all();
        }
    }

    /// Stops the workers and waits for their threads. Peeks still pending resolve
    /// with [`PeekError::Shutdown`]; a worker that panicked is logged.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(guards) = self.guards.take() else {
            return;
        };
        self.broadcast(|| Command::Shutdown);
        for (index, result) in guards.join().into_iter().enumerate() {
            if let Err(panic) = result {
                tracing::error!(worker = index, %panic, "compute worker panicked");
            }
        }
        tracing::info!("compute stopped");
    }

    /// Sends a command to one worker. A worker that is gone drops the command (a
    /// peek's responder then answers `Shutdown`).
    fn send(&self, index: usize, command: Command) {
        if self.workers[index].commands.send(command).is_err() {
            tracing::debug!(worker = index, "command to a stopped worker");
        }
    }

    fn broadcast(&self, command: impl Fn() -> Command) {
        for index in 0..self.workers.len() {
            self.send(index, command());
        }
        self.unpark_all();
    }

    fn unpark_all(&self) {
        for worker in &self.workers {
            worker.thread.unpark();
        }
    }
}

impl Drop for Compute {
    fn drop(&mut self) {
        self.stop();
    }
}
