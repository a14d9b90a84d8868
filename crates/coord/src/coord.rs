//! The coordinator task: owns the catalog, the timestamp oracle, the durable log and
//! the compute handle, and applies statements one at a time in arrival order.
//!
//! Time: the oracle keeps `upper`, the first time not yet closed. A write takes
//! `max(now_ms, upper)` as its time, is appended to the log (fsynced) and sent to the
//! workers, and then every input is advanced past it, so reads at `upper - 1` (the
//! read time of every SELECT) see it. Reads never wait for writes and writes never wait
//! for reads; a SELECT only waits for the workers to reach its read time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use eddy_dataflow::{Compute, ComputeConfig, DataflowDesc, PeekError, PeekResult};
use eddy_expr::optimize::{consolidate, eval_constant, optimize};
use eddy_expr::{ColumnOrder, MapFilterProject, MirRelationExpr};
use eddy_repr::{Datum, Diff, GlobalId, RelationDesc, Row, ScalarType, Timestamp};
use eddy_sql::{ItemKind, Plan, PlanContext};
use sqlparser::ast::Statement;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::builtins::BuiltinState;
use crate::catalog::{Catalog, CatalogEntry};
use crate::client::{ExecuteResponse, StatementDesc};
use crate::durable::{LogRecord, Storage};
use crate::keys::PrimaryKeys;
use crate::metrics::Metrics;
use crate::session::{Session, TxnState, READ_ONLY_VARS};
use eddy_repr::SqlError;
use eddy_repr::SqlState;

/// How the coordinator is set up.
#[derive(Clone, Debug)]
pub struct CoordConfig {
    pub data_dir: PathBuf,
    pub workers: usize,
    /// After this many table updates since the last snapshot, the log is compacted
    /// into a snapshot of the catalog and every table (also done at clean shutdown).
    pub snapshot_rows: u64,
}

impl CoordConfig {
    /// The default `snapshot_rows`: large enough that snapshots are rare, small enough
    /// that a restart never replays more than a few seconds of history.
    pub const DEFAULT_SNAPSHOT_ROWS: u64 = 4_000_000;
}

/// Capacity of the channel from sessions to the coordinator.
pub(crate) const COMMAND_QUEUE_CAPACITY: usize = 1024;

pub(crate) type Responder<T> = oneshot::Sender<Result<T, SqlError>>;

pub(crate) enum Message {
    OpenSession {
        user: String,
        database: String,
        tx: oneshot::Sender<u64>,
    },
    CloseSession {
        id: u64,
    },
    Execute {
        session: u64,
        stmt: Box<Statement>,
        params: Vec<Datum>,
        tx: Responder<ExecuteResponse>,
    },
    Describe {
        session: u64,
        stmt: Box<Statement>,
        param_types: Vec<Option<ScalarType>>,
        tx: Responder<StatementDesc>,
    },
    SessionVar {
        session: u64,
        name: String,
        tx: oneshot::Sender<Option<String>>,
    },
    /// Has this `--views` file (by name and content hash) been applied before?
    ViewsFileApplied {
        name: String,
        hash: u64,
        tx: oneshot::Sender<bool>,
    },
    MarkViewsFileApplied {
        name: String,
        hash: u64,
        tx: Responder<()>,
    },
    /// A query string of several statements starts: they form one implicit
    /// transaction (unless an explicit block is already open).
    ImplicitBegin {
        session: u64,
    },
    /// The query string ended; commit its implicit transaction if `commit`, else
    /// roll it back.
    ImplicitEnd {
        session: u64,
        commit: bool,
        tx: Responder<()>,
    },
    /// A one-off SELECT's dataflow has answered and can go.
    DropTransient(GlobalId),
    Shutdown {
        tx: oneshot::Sender<()>,
    },
}

pub(crate) struct Coordinator {
    catalog: Catalog,
    compute: Compute,
    storage: Storage,
    sessions: BTreeMap<u64, Session>,
    next_session: u64,
    /// The first open time: writes happen at or after it, reads at `upper - 1`.
    upper: Timestamp,
    next_transient: u64,
    views_files: BTreeMap<String, u64>,
    internal_tx: mpsc::Sender<Message>,
    metrics: Arc<Metrics>,
    /// Table updates written since the last snapshot.
    rows_since_snapshot: u64,
    snapshot_rows: u64,
    /// What the builtin (pg_catalog, information_schema) tables hold.
    builtins: BuiltinState,
    /// Key values of the tables with a PRIMARY KEY, checked before every write.
    primary_keys: PrimaryKeys,
}

fn now_ms() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Timestamp)
        .unwrap_or(0)
}

fn peek_error(e: PeekError) -> SqlError {
    match e {
        PeekError::Eval(e) => e.into(),
        other => SqlError::internal(other.to_string()),
    }
}

fn kind_name(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Table => "table",
        ItemKind::View => "view",
        ItemKind::MaterializedView => "materialized view",
        ItemKind::Source => "source",
    }
}

/// Names of relations a statement mentions (FROM clauses, at any depth).
fn referenced_names(stmt: &Statement) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let _ = sqlparser::ast::visit_relations(stmt, |name| {
        if let Some(last) = name.0.last() {
            if let Some(ident) = last.as_ident() {
                let n = if ident.quote_style.is_some() {
                    ident.value.clone()
                } else {
                    ident.value.to_lowercase()
                };
                names.insert(n);
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    names
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
    })
    .map_err(|e| SqlError::internal(format!("could not start workers: {e}")))?;
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE_CAPACITY);
    let metrics = Arc::new(Metrics::default());
    let mut coord = Coordinator {
        catalog: Catalog::default(),
        compute,
        storage,
        sessions: BTreeMap::new(),
        next_session: 1,
        upper: 0,
        next_transient: 0,
        views_files: BTreeMap::new(),
        internal_tx: tx.clone(),
        metrics: Arc::clone(&metrics),
        rows_since_snapshot: 0,
        snapshot_rows: config.snapshot_rows.max(1),
        builtins: BuiltinState::default(),
        primary_keys: PrimaryKeys::default(),
    };
    coord.recover(records)?;
    let handle = tokio::spawn(coord.run(rx));
    Ok(Started {
        client: crate::Client::new(tx),
        metrics,
        handle,
    })
}

impl Coordinator {
    /// Replays the log: rebuilds the catalog, loads each table's contents at one time,
    /// then builds every materialized view's dataflow over them.
    fn recover(&mut self, records: Vec<LogRecord>) -> Result<(), SqlError> {
        let started = Instant::now();
        let mut tables: BTreeMap<GlobalId, HashMap<Row, Diff>> = BTreeMap::new();
        let mut max_time = 0;
        let n_records = records.len();
        for record in records {
            match record {
                LogRecord::CreateTable {
                    id,
                    name,
                    desc,
                    create_sql,
                    primary_key,
                } => {
                    self.catalog.insert(CatalogEntry {
                        id,
                        name,
                        kind: ItemKind::Table,
                        desc,
                        create_sql,
                        plan: None,
                        depends_on: BTreeSet::new(),
                        primary_key,
                    });
                    tables.insert(id, HashMap::new());
                }
                LogRecord::CreateView { id, create_sql } => {
                    let entry = self.replan_view(id, &create_sql)?;
                    self.catalog.insert(entry);
                }
                LogRecord::Drop { ids } => {
                    for id in ids {
                        self.catalog.remove(id);
                        tables.remove(&id);
                    }
                }
                LogRecord::Write { time, updates } => {
                    max_time = max_time.max(time);
                    for (id, rows) in updates {
                        let table = tables.entry(id).or_default();
                        for (row, diff) in rows {
                            let count = table.entry(row).or_insert(0);
                            *count += diff;
                        }
                    }
                }
                LogRecord::ViewsFileApplied { name, hash } => {
                    self.views_files.insert(name, hash);
                }
            }
        }
        let load_time = now_ms().max(max_time + 1);
        let mut rows_loaded = 0usize;
        for (id, rows) in tables {
            let entry = self
                .catalog
                .get(id)
                .expect("tables in the log are in the catalog");
            let typ = entry.desc.types.clone();
            self.compute.create_table(id, &entry.name.clone(), typ);
            let updates: Vec<(Row, Diff)> = rows.into_iter().filter(|(_, d)| *d != 0).collect();
            if !entry.primary_key.is_empty() {
                self.primary_keys.add_table(
                    id,
                    &entry.name,
                    &entry.desc,
                    entry.primary_key.clone(),
                    updates.iter().map(|(r, d)| (r, *d)),
                );
            }
            rows_loaded += updates.len();
            if !updates.is_empty() {
                self.compute.update_table(id, load_time, updates);
            }
        }
        self.install_builtins(load_time);
        self.upper = load_time + 1;
        self.compute.advance_time(self.upper);
        let views: Vec<CatalogEntry> = self
            .catalog
            .entries()
            .filter(|e| e.kind == ItemKind::MaterializedView)
            .cloned()
            .collect();
        for view in views {
            self.compute.create_dataflow(DataflowDesc {
                id: view.id,
                name: view.name.clone(),
                plan: view.plan.clone().expect("views have plans"),
                as_of: load_time,
            });
        }
        self.refresh_gauges();
        info!(
            records = n_records,
            rows = rows_loaded,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "recovered catalog and tables from the log"
        );
        Ok(())
    }

    // --- Builtin tables (see `builtins.rs`): derived from the catalog, never logged. ---

    /// Creates the builtin tables with their rows at `time` (during recovery, before
    /// any view that reads them is built).
    fn install_builtins(&mut self, time: Timestamp) {
        for builtin in crate::builtins::BUILTINS {
            let typ = builtin.desc().types.clone();
            self.compute.create_table(builtin.id(), builtin.name, typ);
        }
        for (id, rows) in self.builtins.updates(&self.catalog) {
            self.compute.update_table(id, time, rows);
        }
    }

    /// Rewrites the builtin tables after a catalog change: the difference between the
    /// rows they hold and the rows the catalog implies, at a new time.
    fn refresh_builtins(&mut self) {
        let updates = self.builtins.updates(&self.catalog);
        if updates.is_empty() {
            return;
        }
        let time = now_ms().max(self.upper);
        for (id, rows) in updates {
            self.compute.update_table(id, time, rows);
        }
        self.upper = time + 1;
        self.compute.advance_time(self.upper);
        self.compute.allow_compaction(time);
    }

    fn replan_view(&mut self, id: GlobalId, create_sql: &str) -> Result<CatalogEntry, SqlError> {
        let stmts = eddy_sql::parse(create_sql)?;
        let stmt = stmts
            .into_iter()
            .next()
            .ok_or_else(|| SqlError::internal("empty view definition in the log"))?;
        let ctx = self.plan_context(None, vec![]);
        match eddy_sql::plan(&self.catalog, &ctx, &stmt)? {
            Plan::CreateView {
                name,
                materialized,
                expr,
                desc,
                create_sql,
                ..
            } => {
                let depends_on = self.dependencies(&stmt);
                Ok(CatalogEntry {
                    id,
                    name,
                    kind: view_kind(materialized),
                    desc,
                    create_sql,
                    plan: Some(optimize(expr)),
                    depends_on,
                    primary_key: vec![],
                })
            }
            _ => Err(SqlError::internal(
                "log holds a view record that is not CREATE VIEW",
            )),
        }
    }

    fn dependencies(&self, stmt: &Statement) -> BTreeSet<GlobalId> {
        referenced_names(stmt)
            .iter()
            .filter_map(|n| self.catalog.get_by_name(n).map(|e| e.id))
            .collect()
    }

    fn refresh_gauges(&self) {
        let count = |k: ItemKind| self.catalog.entries().filter(|e| e.kind == k).count() as u64;
        self.metrics
            .tables
            .store(count(ItemKind::Table), Ordering::Relaxed);
        self.metrics
            .views
            .store(count(ItemKind::View), Ordering::Relaxed);
        self.metrics
            .materialized_views
            .store(count(ItemKind::MaterializedView), Ordering::Relaxed);
        self.metrics
            .sessions
            .store(self.sessions.len() as u64, Ordering::Relaxed);
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        while let Some(msg) = rx.recv().await {
            if self.rows_since_snapshot >= self.snapshot_rows {
                self.snapshot().await;
            }
            match msg {
                Message::OpenSession { user, database, tx } => {
                    let id = self.next_session;
                    self.next_session += 1;
                    self.sessions.insert(id, Session::new(&user, &database));
                    self.refresh_gauges();
                    let _ = tx.send(id);
                }
                Message::CloseSession { id } => {
                    self.sessions.remove(&id);
                    self.refresh_gauges();
                }
                Message::Execute {
                    session,
                    stmt,
                    params,
                    tx,
                } => {
                    let started = Instant::now();
                    self.execute(session, *stmt, params, tx, started).await;
                }
                Message::Describe {
                    session,
                    stmt,
                    param_types,
                    tx,
                } => {
                    let _ = tx.send(self.describe(session, &stmt, &param_types));
                }
                Message::SessionVar { session, name, tx } => {
                    let value = self
                        .sessions
                        .get(&session)
                        .and_then(|s| s.vars.get(&name.to_lowercase()).cloned());
                    let _ = tx.send(value);
                }
                Message::ViewsFileApplied { name, hash, tx } => {
                    let _ = tx.send(self.views_files.get(&name) == Some(&hash));
                }
                Message::MarkViewsFileApplied { name, hash, tx } => {
                    let result = self.storage.append(&[LogRecord::ViewsFileApplied {
                        name: name.clone(),
                        hash,
                    }]);
                    if result.is_ok() {
                        self.views_files.insert(name, hash);
                    }
                    let _ = tx.send(result);
                }
                Message::ImplicitBegin { session } => {
                    if let Some(s) = self.sessions.get_mut(&session) {
                        if matches!(s.txn, TxnState::Idle) {
                            s.txn = TxnState::InBlock {
                                writes: BTreeMap::new(),
                                implicit: true,
                            };
                        }
                    }
                }
                Message::ImplicitEnd {
                    session,
                    commit,
                    tx,
                } => {
                    let _ = tx.send(self.end_implicit(session, commit));
                }
                Message::DropTransient(id) => self.compute.drop_collection(id),
                Message::Shutdown { tx } => {
                    info!("coordinator shutting down");
                    if self.rows_since_snapshot > 0
                        || self.storage.last_seq() > self.storage.snapshot_seq().unwrap_or(0)
                    {
                        self.snapshot().await;
                    }
                    self.compute.shutdown();
                    let _ = tx.send(());
                    return;
                }
            }
        }
        self.compute.shutdown();
    }

    /// Compacts the log: writes a snapshot of the catalog and of every table as of the
    /// last write, which replaces every record so far. Statements wait while the
    /// tables are read and the snapshot is written (rare: see `snapshot_rows`). A
    /// failure is logged and leaves the log as it was.
    async fn snapshot(&mut self) {
        let started = Instant::now();
        let upto_seq = self.storage.last_seq();
        if upto_seq == 0 {
            return;
        }
        let time = self.read_ts();
        let mut state = Vec::new();
        let mut tables = Vec::new();
        for entry in self.catalog.entries() {
            match entry.kind {
                ItemKind::Table => {
                    state.push(LogRecord::CreateTable {
                        id: entry.id,
                        name: entry.name.clone(),
                        desc: entry.desc.clone(),
                        create_sql: entry.create_sql.clone(),
                        primary_key: entry.primary_key.clone(),
                    });
                    tables.push(entry.id);
                }
                ItemKind::View | ItemKind::MaterializedView => state.push(LogRecord::CreateView {
                    id: entry.id,
                    create_sql: entry.create_sql.clone(),
                }),
                ItemKind::Source => {}
            }
        }
        for (name, hash) in &self.views_files {
            state.push(LogRecord::ViewsFileApplied {
                name: name.clone(),
                hash: *hash,
            });
        }
        let reads: Vec<_> = tables
            .iter()
            .map(|id| (*id, self.compute.peek(*id, time)))
            .collect();
        let mut updates = Vec::with_capacity(reads.len());
        let mut rows = 0;
        for (id, rx) in reads {
            match rx.await {
                Ok(Ok(contents)) => {
                    rows += contents.len();
                    updates.push((id, contents));
                }
                Ok(Err(e)) => {
                    warn!(table = %id, error = %e, "snapshot skipped: a table could not be read");
                    return;
                }
                Err(_) => {
                    warn!(table = %id, "snapshot skipped: the workers stopped");
                    return;
                }
            }
        }
        state.push(LogRecord::Write { time, updates });
        match self.storage.write_snapshot(upto_seq, &state) {
            Ok(()) => {
                self.rows_since_snapshot = 0;
                info!(
                    upto_seq,
                    rows,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "compacted the log into a snapshot"
                );
            }
            Err(e) => warn!(error = %e, "snapshot failed; the log is unchanged"),
        }
    }

    fn plan_context(
        &self,
        session: Option<&Session>,
        params: Vec<(Datum, ScalarType)>,
    ) -> PlanContext {
        PlanContext {
            now: chrono::Utc::now(),
            user: session
                .map(|s| s.user.clone())
                .unwrap_or_else(|| "eddy".into()),
            database: session
                .map(|s| s.database.clone())
                .unwrap_or_else(|| "eddy".into()),
            params,
            backend_pid: 0,
            vars: session.map(|s| s.vars.clone()).unwrap_or_default(),
        }
    }

    fn describe(
        &self,
        session: u64,
        stmt: &Statement,
        param_types: &[Option<ScalarType>],
    ) -> Result<StatementDesc, SqlError> {
        let ctx = self.plan_context(self.sessions.get(&session), vec![]);
        let (param_types, result) = eddy_sql::describe(&self.catalog, &ctx, stmt, param_types)?;
        Ok(StatementDesc {
            param_types,
            result,
        })
    }

    /// Runs one statement and answers on `tx`, now or (for reads) when the workers
    /// answer.
    async fn execute(
        &mut self,
        session_id: u64,
        stmt: Statement,
        params: Vec<Datum>,
        tx: Responder<ExecuteResponse>,
        started: Instant,
    ) {
        let metrics = Arc::clone(&self.metrics);
        let finish = move |tx: Responder<ExecuteResponse>,
                           result: Result<ExecuteResponse, SqlError>| {
            if result.is_err() {
                metrics.errors.fetch_add(1, Ordering::Relaxed);
            }
            metrics.observe_latency_us(started.elapsed().as_micros() as u64);
            let _ = tx.send(result);
        };
        let Some(session) = self.sessions.get(&session_id) else {
            finish(tx, Err(SqlError::internal("unknown session")));
            return;
        };
        // Parameters take the types of their datums; only when a datum does not tell
        // (NULL) is the statement described to learn the type from its context.
        let described = if params.iter().any(|d| datum_type(d).is_none()) {
            self.describe(session_id, &stmt, &[])
                .map(|d| d.param_types)
                .unwrap_or_default()
        } else {
            vec![]
        };
        let params: Vec<(Datum, ScalarType)> = params
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let typ = datum_type(&d)
                    .or_else(|| described.get(i).copied())
                    .unwrap_or(ScalarType::Text);
                (d, typ)
            })
            .collect();
        let ctx = self.plan_context(Some(session), params);
        let plan = match eddy_sql::plan(&self.catalog, &ctx, &stmt) {
            Ok(plan) => plan,
            Err(e) => {
                self.fail_txn(session_id);
                finish(tx, Err(e));
                return;
            }
        };
        if matches!(self.sessions[&session_id].txn, TxnState::Failed { .. })
            && !matches!(plan, Plan::Commit | Plan::Rollback)
        {
            finish(
                tx,
                Err(SqlError::new(
                    SqlState::IN_FAILED_SQL_TRANSACTION,
                    "current transaction is aborted, commands ignored until end of transaction block",
                )),
            );
            return;
        }
        match plan {
            Plan::Select {
                expr,
                finishing,
                desc,
            } => match self.start_session_read(session_id, optimize(expr)) {
                Ok(read) => {
                    self.metrics.peeks.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(async move {
                        let result = read.await.map(|rows| {
                            let rows = finish_rows(
                                rows,
                                &finishing.order_by,
                                finishing.limit,
                                finishing.offset,
                                &finishing.project,
                            );
                            ExecuteResponse::Rows { desc, rows }
                        });
                        finish(tx, result);
                    });
                }
                Err(e) => finish(tx, Err(e)),
            },
            other => {
                let result = self.sequence(session_id, &stmt, other).await;
                if result.is_err() {
                    self.fail_txn(session_id);
                }
                finish(tx, result);
            }
        }
    }

    fn fail_txn(&mut self, session_id: u64) {
        if let Some(s) = self.sessions.get_mut(&session_id) {
            if let TxnState::InBlock { implicit, .. } = s.txn {
                s.txn = TxnState::Failed { implicit };
            }
        }
    }

    fn read_ts(&self) -> Timestamp {
        self.upper - 1
    }

    /// Starts reading `expr` at the current read time. A Map/Filter/Project over an
    /// arranged collection reads that arrangement directly; anything else is built as
    /// a one-off dataflow over the existing arrangements and dropped after the read.
    fn start_read(
        &mut self,
        expr: MirRelationExpr,
    ) -> Result<
        impl std::future::Future<Output = Result<Vec<(Row, Diff)>, SqlError>> + Send + 'static,
        SqlError,
    > {
        let time = self.read_ts();
        if let Some(result) = eval_constant(&expr) {
            let result = result.map_err(SqlError::from);
            return Ok(ReadFuture::Ready(Some(result)));
        }
        let (mfp, input) = MapFilterProject::extract(&expr);
        if let MirRelationExpr::Get { id, .. } = input {
            let arranged = self
                .catalog
                .get(*id)
                .map(|e| matches!(e.kind, ItemKind::Table | ItemKind::MaterializedView))
                .unwrap_or(matches!(id, GlobalId::System(_)));
            if arranged {
                // The workers apply the MFP as they scan, and seek to the rows its
                // `#0 = literal [AND #1 = literal ...]` predicates pin down.
                let prefix = mfp.literal_key_prefix(&input.typ());
                let spec = eddy_dataflow::PeekSpec::with_mfp(mfp).with_key_prefix(&prefix);
                let rx = self.compute.peek_with(*id, time, spec);
                return Ok(ReadFuture::Peek {
                    rx,
                    transient: None,
                });
            }
        }
        self.next_transient += 1;
        let id = GlobalId::Transient(self.next_transient);
        self.compute.create_dataflow(DataflowDesc {
            id,
            name: format!("select-{}", self.next_transient),
            plan: expr,
            as_of: time,
        });
        let rx = self.compute.peek(id, time);
        Ok(ReadFuture::Peek {
            rx,
            transient: Some((id, self.internal_tx.clone())),
        })
    }

    /// Starts reading `expr` as `session_id` sees it: inside a transaction block, the
    /// block's own buffered writes are part of every table it reads. A Map/Filter/
    /// Project over one table is linear, so it is applied to the pending updates
    /// directly and the read keeps its fast path; anything else reads each table plus
    /// its pending updates (see `overlay_pending`).
    fn start_session_read(
        &mut self,
        session_id: u64,
        expr: MirRelationExpr,
    ) -> Result<
        impl std::future::Future<Output = Result<Vec<(Row, Diff)>, SqlError>> + Send + 'static,
        SqlError,
    > {
        let pending = match self.sessions.get(&session_id).map(|s| &s.txn) {
            Some(TxnState::InBlock { writes, .. }) if writes.values().any(|w| !w.is_empty()) => {
                Some(writes)
            }
            _ => None,
        };
        let mut extra = Vec::new();
        let expr = match pending {
            None => expr,
            Some(writes) => {
                let (mfp, input) = MapFilterProject::extract(&expr);
                match input {
                    // A table read directly takes the block's writes to it as they are;
                    // so does a view none of the written tables feed.
                    MirRelationExpr::Get { id, .. } if !self.reads_pending(*id, writes) => {
                        for (row, diff) in writes.get(id).into_iter().flatten() {
                            let row = mfp.apply_row(row)?;
                            if let Some(row) = row {
                                extra.push((row, *diff));
                            }
                        }
                        expr
                    }
                    _ => self.overlay_pending(session_id, expr),
                }
            }
        };
        let read = self.start_read(expr)?;
        Ok(async move {
            let mut rows = read.await?;
            if !extra.is_empty() {
                rows.extend(extra);
                consolidate(&mut rows);
            }
            Ok(rows)
        })
    }

    /// Reads `expr` as `session_id` sees it, waiting for the answer (used by writes
    /// that read first).
    async fn read_now(
        &mut self,
        session_id: u64,
        expr: MirRelationExpr,
    ) -> Result<Vec<(Row, Diff)>, SqlError> {
        self.start_session_read(session_id, expr)?.await
    }

    /// Appends updates durably at one new time and sends them to the workers.
    fn write(&mut self, updates: Vec<(GlobalId, Vec<(Row, Diff)>)>) -> Result<Timestamp, SqlError> {
        for (id, batch) in &updates {
            self.primary_keys.check(*id, &[batch])?;
        }
        let time = now_ms().max(self.upper);
        let record = LogRecord::Write { time, updates };
        self.storage.append(std::slice::from_ref(&record))?;
        let LogRecord::Write { updates, .. } = record else {
            unreachable!()
        };
        let mut rows = 0u64;
        for (id, batch) in updates {
            self.primary_keys.apply(id, &batch);
            rows += batch.len() as u64;
            self.compute.update_table(id, time, batch);
        }
        self.upper = time + 1;
        self.compute.advance_time(self.upper);
        self.compute.allow_compaction(time);
        self.rows_since_snapshot += rows;
        self.metrics
            .rows_ingested
            .fetch_add(rows, Ordering::Relaxed);
        self.metrics
            .write_statements
            .fetch_add(1, Ordering::Relaxed);
        Ok(time)
    }

    /// Applies a statement's table updates: buffered inside a transaction block,
    /// written at once otherwise.
    fn apply_writes(
        &mut self,
        session_id: u64,
        id: GlobalId,
        rows: Vec<(Row, Diff)>,
    ) -> Result<(), SqlError> {
        let session = self.sessions.get_mut(&session_id).expect("session exists");
        match &mut session.txn {
            TxnState::InBlock { writes, .. } => {
                // Checked now against the block's earlier writes too, as Postgres does;
                // `write` checks again at COMMIT against what others committed since.
                let pending = writes.entry(id).or_default();
                self.primary_keys.check(id, &[pending, &rows])?;
                pending.extend(rows);
                Ok(())
            }
            _ => {
                if !rows.is_empty() {
                    self.write(vec![(id, rows)])?;
                }
                Ok(())
            }
        }
    }

    fn check_not_null(&self, id: GlobalId, rows: &[(Row, Diff)]) -> Result<(), SqlError> {
        let entry = self.catalog.get(id).expect("target table exists");
        let required: Vec<usize> = entry
            .desc
            .types
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.nullable)
            .map(|(i, _)| i)
            .collect();
        if required.is_empty() {
            return Ok(());
        }
        for (row, diff) in rows {
            if *diff <= 0 {
                continue;
            }
            let datums = row.unpack();
            for &c in &required {
                if datums[c].is_null() {
                    return Err(SqlError::new(
                        SqlState::NOT_NULL_VIOLATION,
                        format!(
                            "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                            entry.desc.names[c], entry.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn session_mut(&mut self, id: u64) -> &mut Session {
        self.sessions.get_mut(&id).expect("session exists")
    }

    /// Everything but SELECT.
    async fn sequence(
        &mut self,
        session_id: u64,
        stmt: &Statement,
        plan: Plan,
    ) -> Result<ExecuteResponse, SqlError> {
        let tag = |t: &str| Ok(ExecuteResponse::Command { tag: t.to_string() });
        match plan {
            Plan::Select { .. } => unreachable!("handled by execute"),
            Plan::CreateTable {
                name,
                desc,
                if_not_exists,
                primary_key,
            } => {
                if self.catalog.get_by_name(&name).is_some() {
                    if if_not_exists {
                        return tag("CREATE TABLE");
                    }
                    return Err(SqlError::new(
                        SqlState::DUPLICATE_TABLE,
                        format!("relation \"{name}\" already exists"),
                    ));
                }
                let id = self.catalog.allocate_id();
                let create_sql = stmt.to_string();
                self.storage.append(&[LogRecord::CreateTable {
                    id,
                    name: name.clone(),
                    desc: desc.clone(),
                    create_sql: create_sql.clone(),
                    primary_key: primary_key.clone(),
                }])?;
                self.compute.create_table(id, &name, desc.types.clone());
                if !primary_key.is_empty() {
                    self.primary_keys
                        .add_table(id, &name, &desc, primary_key.clone(), []);
                }
                self.catalog.insert(CatalogEntry {
                    id,
                    name,
                    kind: ItemKind::Table,
                    desc,
                    create_sql,
                    plan: None,
                    depends_on: BTreeSet::new(),
                    primary_key,
                });
                self.refresh_gauges();
                self.refresh_builtins();
                tag("CREATE TABLE")
            }
            Plan::CreateView {
                name,
                materialized,
                expr,
                desc,
                create_sql,
                if_not_exists,
                or_replace,
            } => {
                let tag_text = if materialized {
                    "CREATE MATERIALIZED VIEW"
                } else {
                    "CREATE VIEW"
                };
                if let Some(existing) = self.catalog.get_by_name(&name) {
                    if if_not_exists {
                        return tag(tag_text);
                    }
                    if !or_replace {
                        return Err(SqlError::new(
                            SqlState::DUPLICATE_TABLE,
                            format!("relation \"{name}\" already exists"),
                        ));
                    }
                    return Err(SqlError::new(
                        SqlState::FEATURE_NOT_SUPPORTED,
                        format!(
                            "CREATE OR REPLACE of existing {} \"{name}\" is not supported yet",
                            kind_name(existing.kind)
                        ),
                    )
                    .with_hint("Drop it first, or create the new version under another name."));
                }
                let id = self.catalog.allocate_id();
                let plan = optimize(expr);
                let depends_on = self.dependencies(stmt);
                self.storage.append(&[LogRecord::CreateView {
                    id,
                    create_sql: create_sql.clone(),
                }])?;
                if materialized {
                    self.compute.create_dataflow(DataflowDesc {
                        id,
                        name: name.clone(),
                        plan: plan.clone(),
                        as_of: self.read_ts(),
                    });
                }
                self.catalog.insert(CatalogEntry {
                    id,
                    name,
                    kind: view_kind(materialized),
                    desc,
                    create_sql,
                    plan: Some(plan),
                    depends_on,
                    primary_key: vec![],
                });
                self.refresh_gauges();
                self.refresh_builtins();
                tag(tag_text)
            }
            Plan::Drop {
                ids, cascade, kind, ..
            } => {
                let order = self.catalog.drop_order(&ids);
                if !cascade {
                    let requested: BTreeSet<GlobalId> = ids.iter().copied().collect();
                    if let Some(dependent) = order.iter().find(|id| !requested.contains(id)) {
                        let dep = self.catalog.get(*dependent).expect("dependent exists");
                        let target = ids
                            .iter()
                            .find(|id| self.catalog.drop_order(&[**id]).contains(dependent))
                            .and_then(|id| self.catalog.get(*id))
                            .expect("a requested item has the dependent");
                        return Err(SqlError::new(
                            SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                            format!(
                                "cannot drop {} {} because other objects depend on it",
                                kind_name(target.kind),
                                target.name
                            ),
                        )
                        .with_detail(format!(
                            "{} {} depends on {} {}",
                            kind_name(dep.kind),
                            dep.name,
                            kind_name(target.kind),
                            target.name
                        ))
                        .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
                    }
                }
                if !order.is_empty() {
                    self.storage
                        .append(&[LogRecord::Drop { ids: order.clone() }])?;
                }
                for id in order {
                    self.primary_keys.remove_table(id);
                    if let Some(entry) = self.catalog.remove(id) {
                        if matches!(entry.kind, ItemKind::Table | ItemKind::MaterializedView) {
                            self.compute.drop_collection(id);
                        }
                    }
                }
                self.refresh_gauges();
                self.refresh_builtins();
                tag(match kind {
                    ItemKind::Table => "DROP TABLE",
                    ItemKind::View => "DROP VIEW",
                    ItemKind::MaterializedView => "DROP MATERIALIZED VIEW",
                    ItemKind::Source => "DROP SOURCE",
                })
            }
            Plan::Insert { id, values } => {
                let rows = self.read_now(session_id, optimize(values)).await?;
                self.check_not_null(id, &rows)?;
                let n: Diff = rows.iter().map(|(_, d)| *d).sum();
                self.apply_writes(session_id, id, rows)?;
                tag(&format!("INSERT 0 {n}"))
            }
            Plan::ReadThenWrite {
                id,
                selection,
                kind,
            } => {
                let old = self.read_now(session_id, optimize(selection)).await?;
                let n: Diff = old.iter().map(|(_, d)| *d).sum();
                let mut updates: Vec<(Row, Diff)> = Vec::with_capacity(old.len() * 2);
                let verb = match &kind {
                    eddy_sql::MutationKind::Delete => {
                        updates.extend(old.into_iter().map(|(r, d)| (r, -d)));
                        "DELETE"
                    }
                    eddy_sql::MutationKind::Update { assignments } => {
                        for (row, diff) in old {
                            let datums = row.unpack();
                            let mut new = datums.clone();
                            for (col, expr) in assignments {
                                new[*col] = expr.eval(&datums)?;
                            }
                            let new_row = Row::pack(&new);
                            updates.push((row, -diff));
                            updates.push((new_row, diff));
                        }
                        "UPDATE"
                    }
                };
                consolidate(&mut updates);
                self.check_not_null(id, &updates)?;
                self.apply_writes(session_id, id, updates)?;
                tag(&format!("{verb} {n}"))
            }
            Plan::Explain { expr } => {
                let text = eddy_expr::explain::explain(&optimize(expr));
                let desc = RelationDesc::empty()
                    .with_column("QUERY PLAN", ScalarType::Text.nullable(false));
                let rows = text
                    .lines()
                    .map(|l| Row::pack(&[Datum::String(l.to_string())]))
                    .collect();
                Ok(ExecuteResponse::Rows { desc, rows })
            }
            Plan::ShowObjects(kind) => {
                let want = match kind {
                    eddy_sql::ObjectKind::Tables => ItemKind::Table,
                    eddy_sql::ObjectKind::Views => ItemKind::View,
                    eddy_sql::ObjectKind::MaterializedViews => ItemKind::MaterializedView,
                };
                let mut names: Vec<String> = self
                    .catalog
                    .entries()
                    .filter(|e| e.kind == want)
                    .map(|e| e.name.clone())
                    .collect();
                names.sort();
                let desc =
                    RelationDesc::empty().with_column("name", ScalarType::Text.nullable(false));
                let rows = names
                    .into_iter()
                    .map(|n| Row::pack(&[Datum::String(n)]))
                    .collect();
                Ok(ExecuteResponse::Rows { desc, rows })
            }
            Plan::ShowColumns { id } => {
                let entry = self
                    .catalog
                    .get(id)
                    .ok_or_else(|| SqlError::internal("unknown relation"))?;
                let desc = RelationDesc::empty()
                    .with_column("name", ScalarType::Text.nullable(false))
                    .with_column("nullable", ScalarType::Bool.nullable(false))
                    .with_column("type", ScalarType::Text.nullable(false));
                let rows = entry
                    .desc
                    .iter()
                    .map(|(n, t)| {
                        Row::pack(&[
                            Datum::String(n.clone()),
                            Datum::Bool(t.nullable),
                            Datum::String(t.scalar_type.sql_name()),
                        ])
                    })
                    .collect();
                Ok(ExecuteResponse::Rows { desc, rows })
            }
            Plan::ShowVariable(name) => {
                let session = &self.sessions[&session_id];
                let name = name.to_lowercase();
                if name == "all" {
                    let desc = RelationDesc::empty()
                        .with_column("name", ScalarType::Text.nullable(false))
                        .with_column("setting", ScalarType::Text.nullable(false));
                    let rows = session
                        .vars
                        .iter()
                        .map(|(k, v)| {
                            Row::pack(&[Datum::String(k.clone()), Datum::String(v.clone())])
                        })
                        .collect();
                    return Ok(ExecuteResponse::Rows { desc, rows });
                }
                let value = session.vars.get(&name).cloned().ok_or_else(|| {
                    SqlError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("unrecognized configuration parameter \"{name}\""),
                    )
                })?;
                let desc =
                    RelationDesc::empty().with_column(name, ScalarType::Text.nullable(false));
                Ok(ExecuteResponse::Rows {
                    desc,
                    rows: vec![Row::pack(&[Datum::String(value)])],
                })
            }
            Plan::SetVariable { name, value, .. } => {
                let name = name.to_lowercase();
                let name = if name == "time zone" {
                    "timezone".to_string()
                } else {
                    name
                };
                if READ_ONLY_VARS.contains(&name.as_str()) {
                    return Err(SqlError::new(
                        SqlState::CANT_CHANGE_RUNTIME_PARAM,
                        format!("parameter \"{name}\" cannot be changed"),
                    ));
                }
                let default = crate::session::DEFAULT_VARS
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string());
                let Some(default) = default else {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("unrecognized configuration parameter \"{name}\""),
                    ));
                };
                let value = value.unwrap_or(default);
                if name == "timezone"
                    && !matches!(
                        value.to_lowercase().as_str(),
                        "utc" | "etc/utc" | "gmt" | "z" | "zulu" | "+00" | "00:00"
                    )
                {
                    return Err(SqlError::new(
                        SqlState::FEATURE_NOT_SUPPORTED,
                        format!("time zone \"{value}\" is not supported yet"),
                    )
                    .with_hint("Eddy runs in UTC."));
                }
                self.session_mut(session_id).vars.insert(name, value);
                tag("SET")
            }
            Plan::StartTransaction => {
                let session = self.session_mut(session_id);
                match &mut session.txn {
                    TxnState::Idle => {
                        session.txn = TxnState::InBlock {
                            writes: BTreeMap::new(),
                            implicit: false,
                        };
                    }
                    // BEGIN inside a multi-statement string makes its transaction explicit.
                    TxnState::InBlock { implicit, .. } if *implicit => *implicit = false,
                    _ => warn!(
                        session = session_id,
                        "there is already a transaction in progress"
                    ),
                }
                tag("BEGIN")
            }
            Plan::Commit => {
                let txn = std::mem::take(&mut self.session_mut(session_id).txn);
                match txn {
                    TxnState::InBlock { writes, .. } => {
                        self.commit_writes(writes)?;
                        tag("COMMIT")
                    }
                    TxnState::Failed { .. } => tag("ROLLBACK"),
                    TxnState::Idle => tag("COMMIT"),
                }
            }
            Plan::Rollback => {
                self.session_mut(session_id).txn = TxnState::Idle;
                tag("ROLLBACK")
            }
        }
    }

    /// Whether reading item `id` must see some of `writes`: it is a written table, or
    /// a materialized view computed (directly or through other views) from one.
    fn reads_pending(&self, id: GlobalId, writes: &BTreeMap<GlobalId, Vec<(Row, Diff)>>) -> bool {
        if writes.get(&id).is_some_and(|w| !w.is_empty()) {
            return true;
        }
        self.catalog.get(id).is_some_and(|entry| {
            entry.kind == ItemKind::MaterializedView
                && entry
                    .depends_on
                    .iter()
                    .any(|dep| self.reads_pending(*dep, writes))
        })
    }

    /// Inside a transaction block, a read sees the block's own buffered writes: each
    /// `Get` of a written table becomes the table plus those updates, and each `Get` of
    /// a materialized view that such a table feeds becomes the view's plan (read that
    /// way, one-off, instead of from its arrangement, which holds committed data only).
    fn overlay_pending(&self, session_id: u64, mut expr: MirRelationExpr) -> MirRelationExpr {
        let Some(TxnState::InBlock { writes, .. }) = self.sessions.get(&session_id).map(|s| &s.txn)
        else {
            return expr;
        };
        if writes.values().all(|w| w.is_empty()) {
            return expr;
        }
        fn rewrite(
            coord: &Coordinator,
            expr: &mut MirRelationExpr,
            writes: &BTreeMap<GlobalId, Vec<(Row, Diff)>>,
        ) {
            if let MirRelationExpr::Get { id, typ, .. } = expr {
                if let Some(pending) = writes.get(id).filter(|w| !w.is_empty()) {
                    let constant = MirRelationExpr::Constant {
                        rows: pending.clone(),
                        typ: typ.clone(),
                    };
                    let get = std::mem::replace(expr, constant.clone());
                    *expr = get.union(constant);
                } else if coord.reads_pending(*id, writes) {
                    if let Some(plan) = coord.catalog.get(*id).and_then(|e| e.plan.clone()) {
                        *expr = plan;
                        rewrite(coord, expr, writes);
                    }
                }
                return;
            }
            for child in expr.children_mut() {
                rewrite(coord, child, writes);
            }
        }
        rewrite(self, &mut expr, writes);
        expr
    }

    fn end_implicit(&mut self, session_id: u64, commit: bool) -> Result<(), SqlError> {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return Ok(());
        };
        match &session.txn {
            TxnState::InBlock { implicit: true, .. } => {
                let TxnState::InBlock { writes, .. } = std::mem::take(&mut session.txn) else {
                    unreachable!()
                };
                if commit {
                    self.commit_writes(writes)?;
                }
                Ok(())
            }
            TxnState::Failed { implicit: true } => {
                session.txn = TxnState::Idle;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Applies a transaction's buffered writes at one timestamp.
    fn commit_writes(
        &mut self,
        writes: BTreeMap<GlobalId, Vec<(Row, Diff)>>,
    ) -> Result<(), SqlError> {
        let updates: Vec<(GlobalId, Vec<(Row, Diff)>)> = writes
            .into_iter()
            .filter(|(id, _)| self.catalog.get(*id).is_some())
            .map(|(id, mut rows)| {
                consolidate(&mut rows);
                (id, rows)
            })
            .filter(|(_, rows)| !rows.is_empty())
            .collect();
        if !updates.is_empty() {
            self.write(updates)?;
        }
        Ok(())
    }
}

fn view_kind(materialized: bool) -> ItemKind {
    if materialized {
        ItemKind::MaterializedView
    } else {
        ItemKind::View
    }
}

/// The type a bound parameter's datum carries, if it tells.
fn datum_type(d: &Datum) -> Option<ScalarType> {
    Some(match d {
        Datum::Bool(_) => ScalarType::Bool,
        Datum::Int16(_) => ScalarType::Int16,
        Datum::Int32(_) => ScalarType::Int32,
        Datum::Int64(_) => ScalarType::Int64,
        Datum::Float32(_) => ScalarType::Float32,
        Datum::Float64(_) => ScalarType::Float64,
        Datum::Numeric(_) => ScalarType::Numeric {
            precision: None,
            scale: None,
        },
        Datum::String(_) => ScalarType::Text,
        Datum::Timestamp(_) => ScalarType::Timestamp,
        Datum::TimestampTz(_) => ScalarType::TimestampTz,
        Datum::Date(_) => ScalarType::Date,
        Datum::Time(_) => ScalarType::Time,
        Datum::Interval(_) => ScalarType::Interval,
        Datum::Jsonb(_) => ScalarType::Jsonb,
        _ => return None,
    })
}

/// A read in flight: a constant answer, or a peek (its MFP already applied by the
/// workers) whose one-off dataflow (if any) is dropped once it answers.
enum ReadFuture {
    Ready(Option<Result<Vec<(Row, Diff)>, SqlError>>),
    Peek {
        rx: oneshot::Receiver<PeekResult>,
        transient: Option<(GlobalId, mpsc::Sender<Message>)>,
    },
}

impl std::future::Future for ReadFuture {
    type Output = Result<Vec<(Row, Diff)>, SqlError>;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let this = self.get_mut();
        match this {
            ReadFuture::Ready(result) => {
                Poll::Ready(result.take().expect("polled after completion"))
            }
            ReadFuture::Peek { rx, transient } => {
                let answer = match std::pin::Pin::new(rx).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(answer) => answer,
                };
                if let Some((id, tx)) = transient.take() {
                    // The coordinator drops the one-off dataflow. If its queue is full,
                    // a task waits for room, so the dataflow is never leaked; an error
                    // means the coordinator is shutting down and drops everything.
                    if let Err(mpsc::error::TrySendError::Full(msg)) =
                        tx.try_send(Message::DropTransient(id))
                    {
                        tokio::spawn(async move {
                            let _ = tx.send(msg).await;
                        });
                    }
                }
                Poll::Ready(match answer {
                    Err(_) => Err(SqlError::internal("compute workers stopped")),
                    Ok(Err(e)) => Err(peek_error(e)),
                    Ok(Ok(rows)) => Ok(rows),
                })
            }
        }
    }
}

/// Orders, offsets, limits and projects a SELECT's rows, expanding multiplicities.
fn finish_rows(
    rows: Vec<(Row, Diff)>,
    order_by: &[ColumnOrder],
    limit: Option<usize>,
    offset: usize,
    project: &[usize],
) -> Vec<Row> {
    let mut unpacked: Vec<(Vec<Datum>, Diff)> = rows
        .into_iter()
        .filter(|(_, d)| *d > 0)
        .map(|(r, d)| (r.unpack(), d))
        .collect();
    unpacked.sort_by(|(a, _), (b, _)| ColumnOrder::compare_rows(order_by, a, b));
    let limit = limit.unwrap_or(usize::MAX);
    unpacked
        .iter()
        .flat_map(|(datums, diff)| std::iter::repeat_n(datums, *diff as usize))
        .skip(offset)
        .take(limit)
        .map(|datums| Row::pack(project.iter().map(|c| &datums[*c])))
        .collect()
}
