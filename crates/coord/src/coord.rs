//! The coordinator task: owns the catalog, the timestamp oracle, the durable log and
//! the compute handle, and applies commands one at a time in arrival order.
//!
//! Invariants:
//! - One task runs [`Coordinator::run`]; every catalog change, write and read-time
//!   choice happens on it, so statements are applied in one total order.
//! - A statement is planned against the catalog as it is when the statement's turn
//!   comes, never against an older copy.
//! - Reads never wait for writes and writes never wait for reads: a SELECT is answered
//!   by a task of its own once the workers reach its read time (`sequence/read.rs`),
//!   while the coordinator goes on with the next command.
//!
//! Where the rest lives: recovery and log snapshots in `recovery.rs`, the oracle in
//! `timestamp.rs`, the transaction write overlay in `txn.rs`, and one file per kind of
//! statement under `sequence/`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use eddy_dataflow::{Compute, ComputeConfig};
use eddy_repr::{Datum, GlobalId, ScalarType, SqlError, SqlState, Timestamp};
use eddy_sql::{ItemKind, Plan, PlanContext, Statement};
use tokio::sync::{mpsc, oneshot};
use tracing::info;

use crate::builtins::BuiltinState;
use crate::cancel::Cancels;
use crate::catalog::Catalog;
use crate::command::{Command, ExecuteResponse, Responder, StatementDesc, COMMAND_QUEUE_CAPACITY};
use crate::durable::Storage;
use crate::keys::UniqueKeys;
use crate::metrics::Metrics;
use crate::pg_sources::PgSources;
use crate::sequence::{ActiveSubscribe, ApplyFailure, BuildingVersions, HeldSwaps};
use crate::session::Session;
use crate::sinks::Sinks;
use crate::sources::Sources;
use crate::timestamp::{now_ms, TimestampOracle};
use crate::txn::TxnState;

/// How often the coordinator refreshes what changes without a command (the sinks'
/// figures in `/metrics`).
const PERIODIC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// How the coordinator is set up.
#[derive(Clone, Debug)]
pub struct CoordConfig {
    pub data_dir: PathBuf,
    pub workers: usize,
    /// After this many table updates since the last snapshot, the log is compacted
    /// into a snapshot of the catalog and every table (also done at clean shutdown).
    pub snapshot_rows: u64,
    /// The most records a one-off query may hold in its dataflow's arrangements
    /// before it fails with 53200; `None` for no limit.
    pub query_max_records: Option<u64>,
    /// The most bytes a one-off query's arrangements may take in before it fails
    /// with 53200; `None` for no limit.
    pub query_max_bytes: Option<u64>,
    /// The Kafka brokers sources read from when they name none (`--kafka-brokers`).
    pub kafka_brokers: Option<String>,
    /// The most updates a subscription may have waiting for its client before it is
    /// dropped with 53200 (see `subscribe.rs`).
    pub subscribe_max_buffered_records: u64,
}

impl CoordConfig {
    /// The default `snapshot_rows`: large enough that snapshots are rare, small enough
    /// that a restart never replays more than a few seconds of history.
    pub const DEFAULT_SNAPSHOT_ROWS: u64 = 4_000_000;

    /// The default `query_max_records`: about a gigabyte of small rows, far above what
    /// an interactive query over the views needs, far below what takes a machine down.
    pub const DEFAULT_QUERY_MAX_RECORDS: u64 = 10_000_000;

    /// The default `query_max_bytes`: 4 GiB, for queries over wide rows that stay
    /// under the record budget.
    pub const DEFAULT_QUERY_MAX_BYTES: u64 = 4 << 30;

    /// The default `subscribe_max_buffered_records`: seconds of a busy view's changes
    /// for a client that reads, some hundred megabytes at most for one that does not.
    pub const DEFAULT_SUBSCRIBE_MAX_BUFFERED_RECORDS: u64 = 1_000_000;
}

pub(crate) struct Coordinator {
    pub(crate) catalog: Catalog,
    pub(crate) compute: Compute,
    pub(crate) storage: Storage,
    pub(crate) sessions: BTreeMap<u64, Session>,
    next_session: u64,
    pub(crate) oracle: TimestampOracle,
    pub(crate) next_transient: u64,
    /// Seed data of views files applied so far (by file and statement text; see
    /// `sequence/apply.rs`).
    pub(crate) views_files: BTreeMap<String, u64>,
    pub(crate) internal_tx: mpsc::Sender<Command>,
    pub(crate) metrics: Arc<Metrics>,
    /// Table updates written since the last snapshot.
    pub(crate) rows_since_snapshot: u64,
    snapshot_rows: u64,
    /// What the builtin (pg_catalog, information_schema) tables hold.
    pub(crate) builtins: BuiltinState,
    /// Key values of the tables with a PRIMARY KEY, checked before every write.
    pub(crate) unique_keys: UniqueKeys,
    /// Tables whose columns an `ALTER TABLE` changed since the start: a block's writes
    /// to them are checked for their shape at COMMIT (see `sequence/alter.rs`).
    pub(crate) altered_tables: std::collections::BTreeSet<GlobalId>,
    /// The running reads that a cancel request or `statement_timeout` can stop.
    pub(crate) cancels: Cancels,
    /// The streams and tables being read from Kafka, and their offsets.
    pub(crate) sources: Sources,
    pub(crate) pg_sources: PgSources,
    /// Counts catalog changes, so that work planned against the catalog can tell
    /// whether it changed since (see `sequence/replace.rs`).
    pub(crate) catalog_generation: u64,
    /// Swaps built by `APPLY ... WITH (HOLD = true)`, waiting for a decision.
    pub(crate) held_swaps: HeldSwaps,
    /// New versions of views being built before a swap.
    pub(crate) building: BuildingVersions,
    /// The last `APPLY FILES` that failed, until one succeeds (for `SHOW VIEWS`).
    pub(crate) apply_failure: Option<ApplyFailure>,
    /// `CREATE SEQUENCE` and `serial` columns' sequences.
    pub(crate) sequences: crate::sequences::Sequences,
    /// How many rows each table and source holds (joins are ordered by them).
    pub(crate) row_counts: BTreeMap<GlobalId, i64>,
    /// The sinks being written to Kafka.
    pub(crate) sinks: Sinks,
    pub(crate) kafka_brokers: Option<String>,
    /// Running subscriptions, by the id of their dataflow.
    pub(crate) subscribes: BTreeMap<GlobalId, ActiveSubscribe>,
    pub(crate) subscribe_max_buffered_records: u64,
}

/// What a started coordinator hands back.
pub struct Started {
    pub client: crate::Client,
    pub metrics: Arc<Metrics>,
    pub handle: tokio::task::JoinHandle<()>,
}

/// Recovers the catalog and tables from the log, starts the workers, and spawns the
/// coordinator task.
pub async fn start(config: CoordConfig) -> Result<Started, SqlError> {
    let (storage, records) = Storage::open(&config.data_dir)?;
    let compute = Compute::start(ComputeConfig {
        workers: config.workers,
        query_max_records: config.query_max_records,
        query_max_bytes: config.query_max_bytes,
    })
    .map_err(|e| SqlError::internal(format!("could not start workers: {e}")))?;
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE_CAPACITY);
    let metrics = Arc::new(Metrics::new(compute.peek_rows_scanned()));
    let cancels = Cancels::default();
    let mut coord = Coordinator {
        catalog: Catalog::default(),
        compute,
        storage,
        sessions: BTreeMap::new(),
        next_session: 1,
        oracle: TimestampOracle::new(1),
        next_transient: 0,
        views_files: BTreeMap::new(),
        internal_tx: tx.clone(),
        metrics: Arc::clone(&metrics),
        rows_since_snapshot: 0,
        snapshot_rows: config.snapshot_rows.max(1),
        builtins: BuiltinState::default(),
        unique_keys: UniqueKeys::default(),
        altered_tables: Default::default(),
        cancels: cancels.clone(),
        sources: Sources::default(),
        pg_sources: PgSources::default(),
        catalog_generation: 0,
        held_swaps: HeldSwaps::default(),
        building: BuildingVersions::new(),
        apply_failure: None,
        sequences: Default::default(),
        row_counts: BTreeMap::new(),
        sinks: Sinks::default(),
        kafka_brokers: config.kafka_brokers.clone(),
        subscribes: BTreeMap::new(),
        subscribe_max_buffered_records: config.subscribe_max_buffered_records,
    };
    coord.recover(records)?;
    let handle = tokio::spawn(coord.run(rx));
    Ok(Started {
        client: crate::Client::new(tx, cancels),
        metrics,
        handle,
    })
}

impl Coordinator {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(PERIODIC_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A command taken from the queue while gathering source batches, next to run.
        let mut next = None;
        loop {
            let command = match next.take() {
                Some(command) => Some(command),
                None => tokio::select! {
                    command = rx.recv() => command,
                    _ = tick.tick() => {
                        self.periodic();
                        continue;
                    }
                },
            };
            let Some(command) = command else {
                break;
            };
            if self.rows_since_snapshot >= self.snapshot_rows {
                self.snapshot().await;
            }
            // Group commit across sources: the batches of other sources queued right
            // behind this one are applied with it, in one append and one fsync.
            if let Command::SourceBatch { id, batch } = command {
                let mut batches = vec![(id, batch)];
                while let Ok(command) = rx.try_recv() {
                    match command {
                        Command::SourceBatch { id, batch } => batches.push((id, batch)),
                        other => {
                            next = Some(other);
                            break;
                        }
                    }
                }
                self.apply_source_batches(batches);
                continue;
            }
            if let ControlFlow::Stop(tx) = self.handle(command).await {
                self.compute.shutdown();
                let _ = tx.send(());
                return;
            }
        }
        self.compute.shutdown();
    }

    /// What the coordinator does every [`PERIODIC_INTERVAL`], busy or not.
    fn periodic(&mut self) {
        self.advance_clock();
        self.publish_sink_metrics();
        self.publish_pg_source_metrics();
        self.publish_view_metrics();
    }

    /// Closes every time up to the wall clock, written or not: rows leave temporal
    /// filters when their time comes even when nothing is written, and a read sees
    /// views as of (about) now. Every input advances (`close_time`); nothing is logged,
    /// since an empty time holds no update and a restart starts the oracle from the
    /// clock again (`recovery.rs`).
    fn advance_clock(&mut self) {
        let now = now_ms();
        if now >= self.oracle.upper() {
            self.close_time(now);
        }
    }

    async fn handle(&mut self, command: Command) -> ControlFlow {
        match command {
            Command::OpenSession {
                user,
                database,
                vars,
                tx,
            } => {
                let id = self.next_session;
                self.next_session += 1;
                self.sessions.insert(id, Session::new(&user, &database));
                let set = vars.into_iter().try_for_each(|(name, value)| {
                    self.set_variable(id, &name, Some(value)).map(drop)
                });
                match (&set, self.sessions.get_mut(&id)) {
                    (Ok(()), Some(session)) => {
                        // What RESET goes back to.
                        session.startup_vars = session.vars.as_ref().clone();
                    }
                    _ => {
                        self.sessions.remove(&id);
                    }
                }
                self.refresh_gauges();
                let _ = tx.send(set.map(|()| id));
            }
            Command::CloseSession { id } => {
                // A statement still running for a connection that went away stops.
                self.cancels.cancel(id);
                self.cancels.forget(id);
                self.drop_held_swaps(id);
                self.sessions.remove(&id);
                self.refresh_gauges();
            }
            Command::Execute {
                session,
                stmt,
                params,
                tx,
            } => self.execute(session, &stmt, params, tx).await,
            Command::Describe {
                session,
                stmt,
                param_types,
                tx,
            } => {
                let _ = tx.send(self.describe(session, &stmt, &param_types));
            }
            Command::SessionVar { session, name, tx } => {
                let value = self
                    .sessions
                    .get(&session)
                    .and_then(|s| s.vars.get(&name.to_lowercase()).cloned());
                let _ = tx.send(value);
            }
            Command::ImplicitBegin { session } => self.implicit_begin(session),
            Command::ImplicitEnd {
                session,
                commit,
                tx,
            } => {
                let _ = tx.send(self.implicit_end(session, commit));
            }
            Command::CopyChunk {
                session,
                load,
                rows,
            } => self.stage_copy_rows(session, load, rows),
            Command::CopyRows {
                session,
                id,
                load,
                rows,
                tx,
            } => {
                let staged = self.take_copy_rows(session, load);
                let result = rows.and_then(|rows| {
                    let mut updates = staged;
                    updates.extend(rows.into_iter().map(|row| (row, 1)));
                    self.copy_rows(session, id, updates)
                });
                if result.is_err() {
                    self.fail_txn(session);
                }
                let _ = tx.send(result);
            }
            Command::DropTransient(id) => {
                if !self.drop_subscribe(id) {
                    self.compute.drop_collection(id);
                }
            }
            Command::SourceBatch { id, batch } => self.apply_source_batches(vec![(id, batch)]),
            Command::SourceTick { id } => self.publish_source_metrics(id),
            Command::PgSourceBatch { id, batches } => self.apply_pg_batches(id, batches),
            Command::ReplaceReady {
                pending,
                result,
                finish,
            } => finish.send(self.finish_replace(*pending, result)),
            Command::PgSourceDiscovered {
                plan,
                tables,
                finish,
            } => finish.send(self.finish_create_pg_source(*plan, tables)),
            Command::SinkFailed {
                id,
                generation,
                error,
            } => self.sink_failed(id, generation, error),
            Command::RestartSink { id, generation } => self.restart_sink(id, generation),
            Command::Shutdown { tx } => {
                info!("coordinator shutting down");
                if self.rows_since_snapshot > 0
                    || self.storage.last_seq() > self.storage.snapshot_seq().unwrap_or(0)
                {
                    self.snapshot().await;
                }
                return ControlFlow::Stop(tx);
            }
        }
        ControlFlow::Continue
    }

    /// Closes every time up to `time` (at which updates were just sent): the workers'
    /// inputs advance past it and compaction may catch up to it.
    pub(crate) fn close_time(&mut self, time: Timestamp) {
        let upper = self.oracle.close(time);
        self.compute.advance_time(upper);
        self.compute.allow_compaction(time);
    }

    /// Counts `updates` into the row count of table or source `id`.
    pub(crate) fn count_rows(
        &mut self,
        id: GlobalId,
        updates: &[(eddy_repr::Row, eddy_repr::Diff)],
    ) {
        let delta: i64 = updates.iter().map(|(_, d)| *d).sum();
        *self.row_counts.entry(id).or_default() += delta;
    }

    /// Optimizes a plan, ordering its joins by the row counts of the tables and
    /// sources they read.
    pub(crate) fn optimize(&self, expr: eddy_expr::MirRelationExpr) -> eddy_expr::MirRelationExpr {
        let counts = &self.row_counts;
        eddy_expr::optimize::optimize_with_sizes(expr, &|id| {
            counts.get(&id).map(|n| u64::try_from(*n).unwrap_or(0))
        })
    }

    pub(crate) fn refresh_gauges(&self) {
        let count = |k: ItemKind| self.catalog.entries().filter(|e| e.kind == k).count() as u64;
        let gauges = [
            (&self.metrics.tables, count(ItemKind::Table)),
            (&self.metrics.views, count(ItemKind::View)),
            (
                &self.metrics.materialized_views,
                count(ItemKind::MaterializedView),
            ),
            (&self.metrics.sessions, self.sessions.len() as u64),
            (&self.metrics.subscribes, self.subscribes.len() as u64),
        ];
        // Kafka streams and tables, and Postgres sources (not their tables).
        let sources = self
            .catalog
            .entries()
            .filter(|e| e.source.is_some() || e.kind == ItemKind::PgSource)
            .count() as u64;
        let gauges = gauges.into_iter().chain([(&self.metrics.sources, sources)]);
        for (gauge, value) in gauges {
            gauge.store(value, Ordering::Relaxed);
        }
    }

    /// What planning a statement of `session` (none: the system, as in recovery)
    /// needs to know besides the catalog.
    pub(crate) fn plan_context(
        &self,
        session: Option<&Session>,
        params: Vec<(Datum, ScalarType)>,
    ) -> PlanContext {
        let (user, database) = match session {
            Some(s) => (s.user.clone(), s.database.clone()),
            None => ("eddy".into(), "eddy".into()),
        };
        PlanContext {
            now: chrono::Utc::now(),
            user,
            database,
            params,
            backend_pid: 0,
            vars: session.map(|s| Arc::clone(&s.vars)).unwrap_or_default(),
            zone: session.map_or(eddy_repr::zone::TimeZone::UTC, Session::zone),
            sequences: Some(self.sequences.access()),
        }
    }

    fn describe(
        &self,
        session: u64,
        stmt: &Statement,
        param_types: &[Option<ScalarType>],
    ) -> Result<StatementDesc, SqlError> {
        let mut ctx = self.plan_context(self.sessions.get(&session), vec![]);
        // Describing plans the statement: it takes no value from a sequence.
        ctx.sequences = Some(self.sequences.dry());
        let (param_types, result) = eddy_sql::describe(&self.catalog, &ctx, stmt, param_types)?;
        Ok(StatementDesc {
            param_types,
            result,
        })
    }

    /// Plans one statement and runs it, answering on `tx` now or (for reads) when the
    /// workers answer. A failure inside a transaction block fails the block.
    async fn execute(
        &mut self,
        session_id: u64,
        stmt: &Statement,
        params: Vec<Datum>,
        tx: Responder<ExecuteResponse>,
    ) {
        let finish = Finish {
            tx,
            metrics: Arc::clone(&self.metrics),
            started: Instant::now(),
        };
        let Some(session) = self.sessions.get(&session_id) else {
            finish.send(Err(SqlError::internal("unknown session")));
            return;
        };
        let params = self.type_params(session_id, stmt, params);
        let ctx = self.plan_context(Some(session), params);
        // Values planning took from sequences are logged before anything uses them.
        let plan = match eddy_sql::plan(&self.catalog, &ctx, stmt)
            .and_then(|plan| self.log_sequences().map(|()| plan))
        {
            Ok(plan) => plan,
            Err(e) => {
                self.fail_txn(session_id);
                finish.send(Err(e));
                return;
            }
        };
        if matches!(self.sessions[&session_id].txn, TxnState::Failed { .. })
            && !matches!(
                plan,
                Plan::Commit | Plan::Rollback | Plan::RollbackToSavepoint { .. }
            )
        {
            finish.send(Err(SqlError::new(
                SqlState::IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            )));
            return;
        }
        if let Plan::Select {
            expr,
            finishing,
            desc,
        } = plan
        {
            // Answered by a task of its own, so the coordinator does not wait.
            self.sequence_select(session_id, expr, finishing, desc, finish);
            return;
        }
        if let Plan::CopyTo { select, format } = plan {
            self.sequence_copy_to(session_id, *select, format, finish);
            return;
        }
        if let Plan::CreateView {
            or_replace: true,
            schema,
            name,
            ..
        } = &plan
        {
            if self.catalog.get_by_name(schema, name).is_some() {
                // Blue/green: finished once the new version has caught up.
                self.begin_replace_view(plan, stmt.clone(), finish);
                return;
            }
        }
        if let Plan::RenameView { id, new_name } = plan {
            self.begin_rename(id, new_name, finish);
            return;
        }
        if let Plan::Replay { id, from, hold } = plan {
            self.begin_replay(id, from, hold.then_some(session_id), finish);
            return;
        }
        if let Plan::Apply(apply) = plan {
            self.apply(session_id, apply, finish).await;
            return;
        }
        if let Plan::CreatePgSource { .. } = plan {
            // Finished once its tables are found upstream, without waiting here.
            self.begin_create_pg_source(plan, finish);
            return;
        }
        let result = self.sequence(session_id, plan).await;
        if result.is_err() {
            self.fail_txn(session_id);
        }
        finish.send(result);
    }

    /// Parameters take the types of their datums; only when a datum does not tell
    /// (NULL) is the statement described to learn the type from its context.
    fn type_params(
        &self,
        session_id: u64,
        stmt: &Statement,
        params: Vec<Datum>,
    ) -> Vec<(Datum, ScalarType)> {
        let described = if params.iter().any(|d| datum_type(d).is_none()) {
            self.describe(session_id, stmt, &[])
                .map(|d| d.param_types)
                .unwrap_or_default()
        } else {
            vec![]
        };
        params
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let typ = datum_type(&d)
                    .or_else(|| described.get(i).copied())
                    .unwrap_or(ScalarType::Text);
                (d, typ)
            })
            .collect()
    }
}

/// Whether the command loop goes on after a command; `Stop` carries the shutdown's
/// answer, sent once the workers have stopped.
enum ControlFlow {
    Continue,
    Stop(oneshot::Sender<()>),
}

/// Answers one statement: counts errors, records its latency, sends the result.
pub(crate) struct Finish {
    tx: Responder<ExecuteResponse>,
    metrics: Arc<Metrics>,
    started: Instant,
}

impl Finish {
    /// A `Finish` (counting and timing the statement) whose answer comes back here to
    /// be changed, and the sender of the final answer.
    pub(crate) fn forward(
        self,
    ) -> (
        Finish,
        oneshot::Receiver<Result<ExecuteResponse, SqlError>>,
        Responder<ExecuteResponse>,
    ) {
        let (tx, rx) = oneshot::channel();
        let inner = Finish {
            tx,
            metrics: self.metrics,
            started: self.started,
        };
        (inner, rx, self.tx)
    }

    pub(crate) fn send(self, result: Result<ExecuteResponse, SqlError>) {
        if result.is_err() {
            self.metrics.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.metrics
            .observe_latency_us(self.started.elapsed().as_micros() as u64);
        let _ = self.tx.send(result);
    }
}

/// The type a bound parameter's datum carries, if it tells (an oid, bytea, uuid or
/// record does not: the statement's context decides).
fn datum_type(d: &Datum) -> Option<ScalarType> {
    match d {
        Datum::Oid(_) | Datum::Bytes(_) | Datum::Uuid(_) | Datum::Record(_) => None,
        _ => d.natural_type(),
    }
}
