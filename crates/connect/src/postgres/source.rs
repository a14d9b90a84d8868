//! The Postgres transport: a task on its own thread that takes the initial snapshot of
//! the publication's tables, then follows their changes by logical replication, and
//! hands out [`PgBatch`]es over a bounded channel.
//!
//! # Batches and progress
//!
//! - **Snapshot.** A new source (no recorded progress) drops any slot of its name left
//!   by an earlier attempt, creates the replication slot (`pgoutput`) with an exported
//!   snapshot, and copies every table in a REPEATABLE READ transaction that uses that
//!   snapshot: the copy is exactly the database as of the slot's consistent point, and
//!   the stream starts right after it. Snapshot rows go out in batches of at most
//!   [`PgSourceConfig::batch_rows_max`] rows whose progress is
//!   [`PgProgress::Snapshot`]; the last batch of the snapshot (maybe without rows) has
//!   progress [`PgProgress::Lsn`] of the consistent point. A view should not be read
//!   between the two (the snapshot is complete only at the last batch): the coordinator
//!   gives snapshot batches one timestamp, or holds them back until the last.
//! - **Stream.** Every upstream transaction that changes a table the source reads is
//!   one batch, in commit order, with progress [`PgProgress::Lsn`] of the commit's end
//!   LSN: give each batch its own timestamp and a view never shows half a transaction.
//!   Transactions without changes for the source make no batch; their progress goes
//!   out in a batch without updates after [`PgSourceConfig::idle_progress_interval`],
//!   so the slot can advance on a quiet source.
//!
//! # Durability contract
//!
//! - The coordinator records each batch's updates and progress in one durable step,
//!   then calls [`PgSource::confirm`] with that progress' LSN. Only confirmed LSNs are
//!   reported upstream as flushed (standby status updates), so Postgres keeps the WAL
//!   the source may have to read again.
//! - Restart with [`PgResume`] `{ progress, current_rows }` as recorded:
//!   - `Lsn(l)`: replication restarts at `l`; a transaction whose end LSN is at most `l`
//!     is skipped (it is in `current_rows` already). If the slot is gone, the source
//!     fails: the changes since `l` are lost to it, and it must be re-created.
//!   - `Snapshot { .. }`: the snapshot was not finished. The snapshot starts again from
//!     scratch, with a fresh slot, and its first batch retracts `current_rows`, so
//!     nothing of the unfinished one remains, whatever of it was applied.
//! - A dropped connection or a restarted Postgres is retried with exponential backoff
//!   ([`PgSourceState::Retrying`]); a transaction cut off by it is dropped unapplied and
//!   read again, whole, from the restart point.
//!
//! Threads: the source runs on its own thread (`pg:<name>`) with a single-threaded
//! tokio runtime: snapshot queries (tokio-postgres) and the replication stream
//! (pgwire-replication) never run on a timely worker or the server's runtime. It
//! blocks on nothing but the network and the bounded channel.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use eddy_repr::{Diff, Row, SqlError};
use futures::StreamExt;
use pgwire_replication::{
    PgWireError, ReplicationClient, ReplicationConfig, ReplicationEvent, TlsConfig,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use super::discover::{connect, quote_ident, upstream_error, PgTable, SESSION_OPTIONS};
use super::pgoutput::{decode, Message};
use super::spec::{Endpoint, PgSourceSpec};
use super::state::{TableStatus, Tables};
use super::Lsn;

/// How a source runs. Everything but `slot` may change between restarts.
#[derive(Clone, Debug)]
pub struct PgSourceConfig {
    /// Names the thread (`pg:<name>`), the upstream `application_name` and log lines.
    pub name: String,
    /// The replication slot upstream: chosen once by the coordinator (unique per source
    /// and upstream database) and kept with the source, since a restart needs it.
    pub slot: String,
    /// Most rows in one snapshot batch.
    pub batch_rows_max: usize,
    /// Most batches waiting in the channel; the source waits when it is full.
    pub channel_batches_max: usize,
    /// Most replication messages buffered between the connection and the source.
    pub replication_messages_max: usize,
    /// The first wait after a failure; doubled on every failure up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// How often confirmed LSNs are reported upstream, at most.
    pub status_interval: Duration,
    /// How long the progress of transactions without changes for this source may wait
    /// before a batch without updates carries it.
    pub idle_progress_interval: Duration,
}

impl PgSourceConfig {
    pub fn new(name: impl Into<String>, slot: impl Into<String>) -> PgSourceConfig {
        PgSourceConfig {
            name: name.into(),
            slot: slot.into(),
            batch_rows_max: 8192,
            channel_batches_max: 16,
            replication_messages_max: 4096,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            status_interval: Duration::from_secs(1),
            idle_progress_interval: Duration::from_secs(1),
        }
    }
}

/// How far a source has read, as recorded with a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PgProgress {
    /// The snapshot is not complete; `rows` copied so far.
    Snapshot { rows: u64 },
    /// The snapshot is complete and every transaction that committed upstream at or
    /// before this LSN is applied.
    Lsn(Lsn),
}

impl PgProgress {
    /// The LSN, once the snapshot is complete.
    pub fn lsn(&self) -> Option<Lsn> {
        match self {
            PgProgress::Lsn(lsn) => Some(*lsn),
            PgProgress::Snapshot { .. } => None,
        }
    }
}

/// Where a source resumes: what was recorded with the last batch applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PgResume {
    /// The last applied batch's progress; `None` for a new source.
    pub progress: Option<PgProgress>,
    /// Every table's current rows: (position in the table list, row).
    pub current_rows: Vec<(usize, Row)>,
}

/// A table that stopped, and why: reported once, in the batch where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgTableError {
    /// Position in the table list.
    pub table: usize,
    pub message: String,
}

/// What the source read since its previous batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgBatch {
    /// Changes: (position in the table list, row, diff).
    pub updates: Vec<(usize, Row, Diff)>,
    /// Tables that went into their error state with this batch.
    pub errors: Vec<PgTableError>,
    pub progress: PgProgress,
}

/// What a source is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PgSourceState {
    Starting,
    /// Copying the tables.
    Snapshotting,
    /// Following the replication stream.
    Running,
    /// Upstream could not be reached, or the stream broke; retrying with backoff.
    Retrying {
        last_error: String,
        attempts: u32,
    },
    /// Stopped by an error that retrying cannot mend (its replication slot is gone).
    Failed {
        error: String,
    },
    /// Stopped because its handle was dropped or stopped.
    Stopped,
}

/// A snapshot of a source's state and counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgSourceStatus {
    pub state: PgSourceState,
    /// The progress of the last batch sent.
    pub progress: Option<PgProgress>,
    /// Rows copied by the snapshot (the last attempt's).
    pub snapshot_rows: u64,
    /// Upstream transactions that made a batch.
    pub transactions_total: u64,
    pub updates_total: u64,
    /// The newest LSN confirmed durable by the caller.
    pub confirmed_lsn: Lsn,
    /// How far upstream's WAL is, as its last message said.
    pub upstream_lsn: Option<Lsn>,
    /// Per table: error state and columns not read.
    pub tables: Vec<TableStatus>,
    /// When the last transaction sent committed upstream (ms since the Unix epoch).
    pub last_commit_ms: Option<i64>,
}

/// Postgres' epoch (2000-01-01) in ms since the Unix epoch.
const PG_EPOCH_UNIX_MS: i64 = 946_684_800_000;

impl PgSourceStatus {
    /// How long ago (ms, at `now_ms`) the last transaction the source has sent
    /// committed upstream, while it is behind; 0 once it has read all upstream WAL.
    pub fn lag_ms(&self, now_ms: i64) -> Option<i64> {
        if self.lag_bytes()? == 0 {
            return Some(0);
        }
        Some((now_ms - self.last_commit_ms?).max(0))
    }

    /// WAL bytes upstream has that the source has not read past, as far as its last
    /// message said.
    pub fn lag_bytes(&self) -> Option<u64> {
        let read = self.progress?.lsn()?;
        Some(self.upstream_lsn?.0.saturating_sub(read.0))
    }
}

/// A source's status, readable from anywhere.
#[derive(Clone)]
pub struct PgStatusHandle(Arc<Mutex<PgSourceStatus>>);

impl PgStatusHandle {
    pub fn get(&self) -> PgSourceStatus {
        lock(&self.0).clone()
    }

    /// Only the state (cheap: what every read checks).
    pub fn state(&self) -> PgSourceState {
        lock(&self.0).state.clone()
    }
}

/// Confirms LSNs as durable from anywhere (see [`PgSource::confirm`]).
#[derive(Clone)]
pub struct PgConfirmHandle(Arc<watch::Sender<Lsn>>);

impl PgConfirmHandle {
    /// Everything up to `lsn` (a batch's progress) is durable downstream. Only ever
    /// raises the confirmed LSN.
    pub fn confirm(&self, lsn: Lsn) {
        self.0.send_if_modified(|confirmed| {
            let raise = lsn > *confirmed;
            if raise {
                *confirmed = lsn;
            }
            raise
        });
    }
}

/// A running Postgres source. Dropping it stops it (its slot stays upstream; see
/// [`drop_slot`]).
pub struct PgSource {
    batches: mpsc::Receiver<PgBatch>,
    status: Arc<Mutex<PgSourceStatus>>,
    stop: watch::Sender<bool>,
    confirm: PgConfirmHandle,
    thread: Option<JoinHandle<()>>,
}

impl PgSource {
    /// Starts the source for `tables` (from [`fn@super::discover`], as recorded when the
    /// source was created) on a new thread. Returns at once; connecting happens there.
    pub fn start(
        spec: PgSourceSpec,
        tables: Vec<PgTable>,
        config: PgSourceConfig,
        resume: PgResume,
    ) -> Result<PgSource, SqlError> {
        if let Some((table, _)) = resume.current_rows.iter().find(|(t, _)| *t >= tables.len()) {
            return Err(SqlError::internal(format!(
                "resume rows of table {table}, but the source has {} tables",
                tables.len()
            )));
        }
        spec.config()?;
        let (sender, batches) = mpsc::channel(config.channel_batches_max.max(1));
        let mut state = Tables::new(tables);
        state.load(resume.current_rows);
        let confirmed = resume.progress.and_then(|p| p.lsn()).unwrap_or_default();
        let status = Arc::new(Mutex::new(PgSourceStatus {
            state: PgSourceState::Starting,
            progress: resume.progress,
            snapshot_rows: 0,
            transactions_total: 0,
            updates_total: 0,
            confirmed_lsn: confirmed,
            upstream_lsn: None,
            tables: state.statuses(),
            last_commit_ms: None,
        }));
        let (stop, stop_rx) = watch::channel(false);
        let (confirm, confirm_rx) = watch::channel(confirmed);
        let reader = Reader {
            spec,
            config: config.clone(),
            tables: state,
            last_lsn: confirmed,
            progress: resume.progress,
            confirmed,
            reported: confirmed,
            sender,
            status: Arc::clone(&status),
            stop: stop_rx,
            confirm: confirm_rx,
            failures: 0,
            unsent_progress: false,
            last_sent: Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("pg:{}", config.name))
            .spawn(move || reader.run())
            .map_err(|e| {
                SqlError::internal(format!("cannot spawn a postgres source thread: {e}"))
            })?;
        Ok(PgSource {
            batches,
            status,
            stop,
            confirm: PgConfirmHandle(Arc::new(confirm)),
            thread: Some(thread),
        })
    }

    /// The next batch; `None` once the source has stopped and every batch was taken.
    pub async fn next_batch(&mut self) -> Option<PgBatch> {
        self.batches.recv().await
    }

    /// The next batch, waiting on this thread (not for use inside an async task).
    pub fn blocking_next_batch(&mut self) -> Option<PgBatch> {
        self.batches.blocking_recv()
    }

    /// A batch if one is waiting.
    pub fn try_next_batch(&mut self) -> Option<PgBatch> {
        self.batches.try_recv().ok()
    }

    /// Everything up to `lsn` (the progress of a batch) is durable downstream: the
    /// source may report it upstream, which lets Postgres release the WAL before it.
    pub fn confirm(&self, lsn: Lsn) {
        self.confirm.confirm(lsn);
    }

    /// A handle that confirms while another task owns the source.
    pub fn confirm_handle(&self) -> PgConfirmHandle {
        self.confirm.clone()
    }

    pub fn status(&self) -> PgSourceStatus {
        lock(&self.status).clone()
    }

    /// A handle that reads the status while another task owns the source.
    pub fn status_handle(&self) -> PgStatusHandle {
        PgStatusHandle(Arc::clone(&self.status))
    }

    /// Stops the source and waits for its thread to exit (its connections closed).
    pub fn stop(mut self) {
        let _ = self.stop.send(true);
        self.batches.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for PgSource {
    fn drop(&mut self) {
        // Not joined: dropping a source never blocks an async task.
        let _ = self.stop.send(true);
        self.batches.close();
    }
}

/// Drops the source's replication slot upstream (DROP SOURCE), waiting a few seconds
/// for a stopped source's connection to let go of it. `Ok(false)` if there was none.
pub async fn drop_slot(spec: &PgSourceSpec, slot: &str) -> Result<bool, SqlError> {
    let client = connect(spec).await?;
    let mut attempts = 0;
    loop {
        let result = client
            .query(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = $1",
                &[&slot],
            )
            .await;
        match result {
            Ok(rows) => return Ok(!rows.is_empty()),
            Err(e)
                if attempts < 50
                    && e.code() == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE) =>
            {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(upstream_error(e)),
        }
    }
}

fn lock(status: &Mutex<PgSourceStatus>) -> std::sync::MutexGuard<'_, PgSourceStatus> {
    status
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Why a step of the source ended.
enum Failure {
    /// Try again after a backoff.
    Retry(String),
    /// Give up: retrying cannot help.
    Fatal(String),
    /// The handle was dropped or stopped.
    Stopped,
}

impl From<SqlError> for Failure {
    fn from(e: SqlError) -> Failure {
        Failure::Retry(e.message)
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Failure {
        Failure::Retry(upstream_error(e).message)
    }
}

impl From<PgWireError> for Failure {
    fn from(e: PgWireError) -> Failure {
        Failure::Retry(format!("upstream replication: {e}"))
    }
}

/// The source's thread state.
struct Reader {
    spec: PgSourceSpec,
    config: PgSourceConfig,
    tables: Tables,
    progress: Option<PgProgress>,
    /// The end LSN of the last transaction applied (or the snapshot's consistent point).
    last_lsn: Lsn,
    /// The newest LSN the caller confirmed.
    confirmed: Lsn,
    /// The newest LSN reported upstream as flushed in this replication session: a
    /// confirmed one, or upstream's WAL end while caught up.
    reported: Lsn,
    sender: mpsc::Sender<PgBatch>,
    status: Arc<Mutex<PgSourceStatus>>,
    stop: watch::Receiver<bool>,
    confirm: watch::Receiver<Lsn>,
    /// Consecutive failures, for the backoff.
    failures: u32,
    /// Transactions were skipped since the last batch (their progress is not sent).
    unsent_progress: bool,
    last_sent: Instant,
}

impl Reader {
    fn run(mut self) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                lock(&self.status).state = PgSourceState::Failed {
                    error: format!("cannot start a tokio runtime: {e}"),
                };
                return;
            }
        };
        let state = runtime.block_on(self.run_loop());
        if let PgSourceState::Failed { error } = &state {
            tracing::warn!(source = %self.config.name, %error, "postgres source failed");
        }
        lock(&self.status).state = state;
    }

    async fn run_loop(&mut self) -> PgSourceState {
        loop {
            if *self.stop.borrow() {
                return PgSourceState::Stopped;
            }
            let step = match self.progress {
                Some(PgProgress::Lsn(lsn)) => self.stream(lsn).await,
                None | Some(PgProgress::Snapshot { .. }) => self.snapshot().await,
            };
            match step {
                Ok(()) => {}
                Err(Failure::Stopped) => return PgSourceState::Stopped,
                Err(Failure::Fatal(error)) => return PgSourceState::Failed { error },
                Err(Failure::Retry(error)) => {
                    if self.backoff(error).await.is_err() {
                        return PgSourceState::Stopped;
                    }
                }
            }
        }
    }

    fn set_state(&self, state: PgSourceState) {
        lock(&self.status).state = state;
    }

    /// Takes the snapshot with a fresh slot; on success `progress` is the slot's
    /// consistent point.
    async fn snapshot(&mut self) -> Result<(), Failure> {
        self.set_state(PgSourceState::Snapshotting);
        let client = connect(&self.spec).await?;
        // A slot of this name is left from an unfinished snapshot: start afresh.
        client
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = $1",
                &[&self.config.slot],
            )
            .await?;
        let mut replication =
            ReplicationClient::connect_gated(self.replication_config(Lsn(0), Lsn(0))?).await?;
        let rows = replication
            .simple_query(&format!(
                "CREATE_REPLICATION_SLOT {} LOGICAL pgoutput EXPORT_SNAPSHOT",
                quote_ident(&self.config.slot)
            ))
            .await?;
        let column = |i: usize| -> Option<String> {
            let value = rows.first()?.get(i)?.as_ref()?;
            Some(String::from_utf8_lossy(value).into_owned())
        };
        let (Some(point), Some(snapshot)) = (column(1), column(2)) else {
            return Err(Failure::Retry(
                "CREATE_REPLICATION_SLOT answered without a consistent point and snapshot".into(),
            ));
        };
        let consistent_point: Lsn = point
            .parse()
            .map_err(|e| Failure::Retry(format!("CREATE_REPLICATION_SLOT: {e}")))?;
        client
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{}'",
                snapshot.replace('\'', "''")
            ))
            .await?;
        // The snapshot is imported: the session that exported it may go.
        drop(replication);
        tracing::info!(source = %self.config.name, %consistent_point, "postgres snapshot started");

        let mut out = Vec::new();
        let mut errors = Vec::new();
        // Whatever an unfinished snapshot left behind goes first.
        self.tables.clear(&mut out);
        let mut rows_total = 0u64;
        lock(&self.status).snapshot_rows = 0;
        for i in 0..self.tables.len() {
            if self.tables.failed(i) {
                continue;
            }
            let table = self.tables.table(i);
            let columns: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
            let copy = format!(
                "COPY {} ({}) TO STDOUT",
                table.quoted_upstream(),
                columns.join(", ")
            );
            let stream = client.copy_out(&copy).await?;
            futures::pin_mut!(stream);
            let mut pending: Vec<u8> = Vec::new();
            loop {
                let chunk = tokio::select! {
                    chunk = stream.next() => chunk,
                    _ = self.stop.changed() => return Err(Failure::Stopped),
                };
                let Some(chunk) = chunk else { break };
                pending.extend_from_slice(&chunk?);
                let mut start = 0;
                while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
                    let line = &pending[start..start + end];
                    start += end + 1;
                    if self.tables.failed(i) {
                        continue;
                    }
                    let result = parse_copy_line(line)
                        .and_then(|values| self.tables.snapshot_row(i, values, &mut out));
                    match result {
                        Ok(()) => rows_total += 1,
                        Err(error) => {
                            out.retain(|u| u.0 != i);
                            errors.extend(self.tables.fail(i, error).map(table_error));
                        }
                    }
                }
                pending.drain(..start);
                if out.len() >= self.config.batch_rows_max {
                    let batch = PgBatch {
                        updates: std::mem::take(&mut out),
                        errors: std::mem::take(&mut errors),
                        progress: PgProgress::Snapshot { rows: rows_total },
                    };
                    self.send(batch).await?;
                    lock(&self.status).snapshot_rows = rows_total;
                }
            }
        }
        client.batch_execute("COMMIT").await?;
        self.send(PgBatch {
            updates: out,
            errors,
            progress: PgProgress::Lsn(consistent_point),
        })
        .await?;
        lock(&self.status).snapshot_rows = rows_total;
        tracing::info!(source = %self.config.name, rows = rows_total, "postgres snapshot done");
        self.last_lsn = consistent_point;
        self.failures = 0;
        Ok(())
    }

    /// Follows the replication stream from `from` until stopped or broken.
    async fn stream(&mut self, from: Lsn) -> Result<(), Failure> {
        let client = connect(&self.spec).await?;
        let slot = client
            .query_opt(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots \
                 WHERE slot_name = $1 AND database = current_database()",
                &[&self.config.slot],
            )
            .await?;
        drop(client);
        if slot.is_none() {
            return Err(Failure::Fatal(format!(
                "replication slot \"{}\" does not exist upstream, so the changes after {from} \
                 cannot be read; re-create the source",
                self.config.slot
            )));
        }
        self.confirmed = self.confirmed.max(*self.confirm.borrow_and_update());
        let ack = self.confirmed.min(from);
        self.reported = ack;
        let mut replication =
            ReplicationClient::connect(self.replication_config(from, ack)?).await?;
        tokio::select! {
            started = replication.wait_started() => started?,
            _ = self.stop.changed() => return Err(Failure::Stopped),
        }
        tracing::debug!(source = %self.config.name, %from, "postgres replication started");
        self.failures = 0;
        self.set_state(PgSourceState::Running);
        // The messages of the transaction being read, applied at its commit.
        let mut transaction: Option<Vec<Message>> = None;
        loop {
            let idle_due = self.last_sent + self.config.idle_progress_interval;
            let event = tokio::select! {
                biased;
                _ = self.stop.changed() => return Err(Failure::Stopped),
                _ = self.confirm.changed() => {
                    let confirmed = *self.confirm.borrow_and_update();
                    self.report_confirmed(&replication, confirmed);
                    continue;
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(idle_due)), if self.unsent_progress => {
                    self.send(PgBatch {
                        updates: Vec::new(),
                        errors: Vec::new(),
                        progress: PgProgress::Lsn(self.last_lsn),
                    })
                    .await?;
                    continue;
                }
                event = replication.recv() => event?,
            };
            let Some(event) = event else {
                return Err(Failure::Retry("the replication stream ended".into()));
            };
            match event {
                ReplicationEvent::Begin { .. } => transaction = Some(Vec::new()),
                ReplicationEvent::XLogData { data, wal_end, .. } => {
                    self.note_upstream(Lsn(wal_end.0));
                    let message = decode(&data).map_err(|e| Failure::Fatal(e.to_string()))?;
                    match &mut transaction {
                        Some(messages) => messages.push(message),
                        // Outside a transaction only a Relation may come; apply it.
                        None => self.apply_relations(vec![message]),
                    }
                }
                ReplicationEvent::Commit {
                    end_lsn,
                    commit_time_micros,
                    ..
                } => {
                    let messages = transaction.take().unwrap_or_default();
                    let committed_ms = commit_time_micros / 1000 + PG_EPOCH_UNIX_MS;
                    self.commit(Lsn(end_lsn.0), committed_ms, messages).await?;
                }
                ReplicationEvent::KeepAlive { wal_end, .. } => {
                    let wal_end = Lsn(wal_end.0);
                    self.note_upstream(wal_end);
                    if transaction.is_none() {
                        self.report_caught_up(&replication, wal_end);
                    }
                }
                ReplicationEvent::Message { .. } | ReplicationEvent::StoppedAt { .. } => {}
            }
        }
    }

    /// Applies a committed transaction and sends its batch.
    async fn commit(
        &mut self,
        end_lsn: Lsn,
        committed_ms: i64,
        messages: Vec<Message>,
    ) -> Result<(), Failure> {
        if end_lsn <= self.last_lsn {
            // Already applied before a restart; its Relation messages still describe
            // the tables for what follows.
            self.apply_relations(messages);
            return Ok(());
        }
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for message in messages {
            if let Err((i, error)) = self.tables.apply(message, &mut out) {
                out.retain(|u| u.0 != i);
                errors.extend(self.tables.fail(i, error).map(table_error));
            }
        }
        self.last_lsn = end_lsn;
        consolidate(&mut out);
        if out.is_empty() && errors.is_empty() {
            self.unsent_progress = true;
            return Ok(());
        }
        {
            let mut status = lock(&self.status);
            status.transactions_total += 1;
            status.last_commit_ms = Some(committed_ms);
        }
        self.send(PgBatch {
            updates: out,
            errors,
            progress: PgProgress::Lsn(end_lsn),
        })
        .await
    }

    /// Applies only the Relation messages of `messages` (nothing they change is sent).
    fn apply_relations(&mut self, messages: Vec<Message>) {
        let mut ignored = Vec::new();
        for message in messages {
            if matches!(message, Message::Relation(_)) {
                if let Err((i, error)) = self.tables.apply(message, &mut ignored) {
                    // Reported with the next batch's table statuses.
                    self.tables.fail(i, error);
                }
            }
        }
        lock(&self.status).tables = self.tables.statuses();
    }

    /// Reports `confirmed` upstream, never past what this source has sent.
    fn report_confirmed(&mut self, replication: &ReplicationClient, confirmed: Lsn) {
        let lsn = if confirmed > self.last_lsn {
            tracing::warn!(
                source = %self.config.name, %confirmed, sent = %self.last_lsn,
                "an LSN past the last batch was confirmed; reporting the last batch's"
            );
            self.last_lsn
        } else {
            confirmed
        };
        if lsn > self.confirmed {
            self.confirmed = lsn;
            lock(&self.status).confirmed_lsn = lsn;
        }
        if lsn > self.reported {
            self.reported = lsn;
            replication.update_applied_lsn(pgwire_replication::Lsn(lsn.0));
        }
    }

    /// Between transactions, with everything sent confirmed durable, reports upstream's
    /// `wal_end` as flushed: every transaction that committed before it was sent (or
    /// had nothing for this source), so resuming from the last batch's LSN or from
    /// `wal_end` is the same. This lets the slot advance over WAL that holds nothing for
    /// the source, and lets a shutting-down Postgres see that its walsender is caught up
    /// (a fast shutdown waits for that).
    fn report_caught_up(&mut self, replication: &ReplicationClient, wal_end: Lsn) {
        if self.confirmed == self.last_lsn && !self.unsent_progress && wal_end > self.reported {
            self.reported = wal_end;
            replication.update_applied_lsn(pgwire_replication::Lsn(wal_end.0));
        }
    }

    fn note_upstream(&self, wal_end: Lsn) {
        if wal_end.0 != 0 {
            let mut status = lock(&self.status);
            status.upstream_lsn = Some(status.upstream_lsn.map_or(wal_end, |l| l.max(wal_end)));
        }
    }

    /// Sends a batch, waiting for room; `Stopped` when the receiver is gone.
    async fn send(&mut self, batch: PgBatch) -> Result<(), Failure> {
        let progress = batch.progress;
        let updates = batch.updates.len() as u64;
        // The tables' states first: a receiver of the batch sees them in the status.
        lock(&self.status).tables = self.tables.statuses();
        let sent = tokio::select! {
            sent = self.sender.send(batch) => sent.is_ok(),
            _ = self.stop.changed() => false,
        };
        if !sent {
            return Err(Failure::Stopped);
        }
        self.progress = Some(progress);
        self.unsent_progress = false;
        self.last_sent = Instant::now();
        let mut status = lock(&self.status);
        status.progress = Some(progress);
        status.updates_total += updates;
        Ok(())
    }

    /// Records a failure and waits before the next attempt; `Err` when stopped.
    async fn backoff(&mut self, error: String) -> Result<(), ()> {
        self.failures = self.failures.saturating_add(1);
        tracing::debug!(source = %self.config.name, %error, "postgres source retrying");
        self.set_state(PgSourceState::Retrying {
            last_error: error,
            attempts: self.failures,
        });
        let exponent = self.failures.saturating_sub(1).min(16);
        let wait = self
            .config
            .backoff_initial
            .saturating_mul(1 << exponent)
            .min(self.config.backoff_max);
        tokio::select! {
            _ = tokio::time::sleep(wait) => Ok(()),
            _ = self.stop.changed() => Err(()),
        }
    }

    /// The replication connection's settings: the source's endpoint, slot and
    /// publication, starting at `start` and reporting `ack` as flushed until the caller
    /// confirms more.
    fn replication_config(&self, start: Lsn, ack: Lsn) -> Result<ReplicationConfig, Failure> {
        let endpoint = Endpoint::of(&self.spec.config()?);
        let config = if endpoint.host.starts_with('/') {
            ReplicationConfig::unix(
                endpoint.host,
                endpoint.port,
                endpoint.user,
                endpoint.password,
                endpoint.dbname,
                self.config.slot.clone(),
                self.spec.publication.clone(),
            )
        } else {
            ReplicationConfig::new(
                endpoint.host,
                endpoint.user,
                endpoint.password,
                endpoint.dbname,
                self.config.slot.clone(),
                self.spec.publication.clone(),
            )
            .with_port(endpoint.port)
        };
        Ok(config
            .with_tls(TlsConfig::disabled())
            .with_start_lsn(pgwire_replication::Lsn(start.0))
            .with_ack_lsn(pgwire_replication::Lsn(ack.0))
            .with_status_interval(self.config.status_interval)
            .with_buffer_size(self.config.replication_messages_max.max(1))
            .with_options(SESSION_OPTIONS)
            .with_application_name(format!("eddy:{}", self.config.name)))
    }
}

/// Sums the diffs of equal updates and drops those that cancel (a row inserted and
/// deleted in one transaction leaves nothing).
fn consolidate(updates: &mut Vec<(usize, Row, Diff)>) {
    if updates.len() < 2 {
        return;
    }
    updates.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut merged: Vec<(usize, Row, Diff)> = Vec::with_capacity(updates.len());
    for (table, row, diff) in updates.drain(..) {
        match merged.last_mut() {
            Some(last) if last.0 == table && last.1 == row => last.2 += diff,
            _ => merged.push((table, row, diff)),
        }
    }
    merged.retain(|u| u.2 != 0);
    *updates = merged;
}

fn table_error((table, message): (usize, String)) -> PgTableError {
    PgTableError { table, message }
}

/// One line of `COPY ... TO STDOUT` in text format: tab-separated values, `\N` for
/// NULL, backslash escapes.
fn parse_copy_line(line: &[u8]) -> Result<Vec<Option<String>>, String> {
    line.split(|&b| b == b'\t')
        .map(|field| {
            if field == b"\\N" {
                return Ok(None);
            }
            let mut bytes = Vec::with_capacity(field.len());
            let mut i = 0;
            while i < field.len() {
                let b = field[i];
                i += 1;
                if b != b'\\' || i == field.len() {
                    bytes.push(b);
                    continue;
                }
                let escaped = field[i];
                i += 1;
                bytes.push(match escaped {
                    b'b' => 8,
                    b'f' => 12,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'v' => 11,
                    b'0'..=b'7' => {
                        let mut value = u32::from(escaped - b'0');
                        let mut digits = 1;
                        while digits < 3 && i < field.len() && (b'0'..=b'7').contains(&field[i]) {
                            value = value * 8 + u32::from(field[i] - b'0');
                            i += 1;
                            digits += 1;
                        }
                        value as u8
                    }
                    b'x' if i < field.len() && field[i].is_ascii_hexdigit() => {
                        let mut value = 0u32;
                        let mut digits = 0;
                        while digits < 2 && i < field.len() && field[i].is_ascii_hexdigit() {
                            value = value * 16 + (field[i] as char).to_digit(16).unwrap_or(0);
                            i += 1;
                            digits += 1;
                        }
                        value as u8
                    }
                    other => other,
                });
            }
            String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| "a snapshot value that is not UTF-8".to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_lines_unescape() {
        assert_eq!(
            parse_copy_line(b"1\t\\N\ta\\tb\\nc\\\\d\t\\101\\x41\t").unwrap(),
            vec![
                Some("1".into()),
                None,
                Some("a\tb\nc\\d".into()),
                Some("AA".into()),
                Some(String::new()),
            ]
        );
        assert!(parse_copy_line(b"\\377").is_err());
    }

    #[test]
    fn lag_is_measured_from_the_last_batch() {
        let mut status = PgSourceStatus {
            state: PgSourceState::Running,
            progress: Some(PgProgress::Lsn(Lsn(100))),
            snapshot_rows: 0,
            transactions_total: 0,
            updates_total: 0,
            confirmed_lsn: Lsn(0),
            upstream_lsn: Some(Lsn(160)),
            tables: Vec::new(),
            last_commit_ms: Some(1_000),
        };
        assert_eq!(status.lag_bytes(), Some(60));
        assert_eq!(status.lag_ms(1_250), Some(250));
        status.upstream_lsn = Some(Lsn(100));
        assert_eq!(status.lag_ms(9_000), Some(0), "caught up");
        status.progress = Some(PgProgress::Snapshot { rows: 3 });
        assert_eq!(status.lag_bytes(), None);
    }
}
