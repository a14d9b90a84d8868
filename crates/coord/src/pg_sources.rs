//! Postgres sources: a database mirrored into tables by logical replication
//! (`eddy_connect::postgres`), stored and timestamped like tables.
//!
//! `CREATE SOURCE shop FROM POSTGRES WITH (...)` finds the publication's tables
//! upstream on a task of its own (the coordinator never waits on the network), then
//! creates the source (an item that is not a relation) and one table per upstream table
//! in schema `shop` (made if missing), logs them in one record, and starts reading.
//!
//! Batches are applied like a Kafka source's ([`crate::sources`]), with two rules of
//! their own:
//! - **The snapshot is one write.** The forwarding task holds the snapshot's batches
//!   back until the last one (whose progress is the slot's consistent point), and
//!   forwards them as one batch: the tables appear whole, at one time, never half
//!   copied. A crash before that write starts the snapshot again (nothing of it was
//!   logged).
//! - **Transactions stay whole.** Every upstream transaction is one batch; the task
//!   may merge several (whole ones, in commit order) into one write, so a view never
//!   shows part of a transaction.
//!
//! Invariants:
//! - Exactly once: a batch's updates and its progress are one log record, appended
//!   before the workers see the updates; only then is the LSN confirmed upstream (so
//!   Postgres keeps the WAL until Eddy holds what it covers). A restart resumes from
//!   the last record's progress with the tables' rows as the log holds them.
//! - Only the source writes its tables: INSERT, UPDATE and DELETE are refused by the
//!   planner, dropping one table alone is refused here.
//! - A table that stopped upstream (its columns changed, a value that cannot be read)
//!   makes reads of it and of the views over it fail with `55000`, naming the table
//!   and why; the source's other tables keep flowing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use eddy_connect::postgres::{
    discover, drop_slot, PgBatch, PgConfirmHandle, PgProgress, PgResume, PgSource, PgSourceConfig,
    PgSourceSpec, PgSourceState, PgSourceStatus, PgStatusHandle, PgTable, TableSelection,
};
use eddy_repr::{Datum, Diff, GlobalId, Row, SqlError, SqlState};
use eddy_sql::{PgTableRef, Plan};
use tokio::sync::Semaphore;
use tracing::{error, info, warn};

use crate::catalog::{CatalogEntry, PgSourceDef};
use crate::command::{Command, ExecuteResponse};
use crate::coord::{Coordinator, Finish};
use crate::durable::LogRecord;
use crate::metrics::SourceMetrics;
use crate::sequence::tag;
use crate::sources::NextTurn;
use crate::timestamp::now_ms;

/// A Postgres source being read: the task forwarding its batches (aborting it drops
/// the source, which stops its thread), its status and its confirmations.
pub(crate) struct RunningPgSource {
    task: tokio::task::JoinHandle<()>,
    /// One permit while the source may forward a batch (see `sources.rs`).
    in_flight: Arc<Semaphore>,
    status: PgStatusHandle,
    confirm: PgConfirmHandle,
    /// Set when the coordinator stopped the source (a batch it could not log).
    failure: Option<String>,
    /// Upstream transactions (and snapshots) logged since the source started, each
    /// at a time of its own.
    writes: u64,
}

impl RunningPgSource {
    /// Its state, without copying the rest of its status.
    pub(crate) fn state(&self) -> PgSourceState {
        match &self.failure {
            Some(error) => PgSourceState::Failed {
                error: error.clone(),
            },
            None => self.status.state(),
        }
    }

    pub(crate) fn status(&self) -> PgSourceStatus {
        let mut status = self.status.get();
        if let Some(error) = &self.failure {
            status.state = PgSourceState::Failed {
                error: error.clone(),
            };
        }
        status
    }
}

impl Drop for RunningPgSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the coordinator keeps about its Postgres sources.
#[derive(Default)]
pub(crate) struct PgSources {
    pub(crate) running: BTreeMap<GlobalId, RunningPgSource>,
    /// Every source's progress, as the log holds it.
    pub(crate) progress: BTreeMap<GlobalId, PgProgress>,
    /// Tables that stopped, and why (durable with the batch that stopped them).
    pub(crate) table_errors: BTreeMap<GlobalId, String>,
}

/// The `FOR TABLES` list as the connector takes it.
fn selections(tables: &Option<Vec<PgTableRef>>) -> Option<Vec<TableSelection>> {
    tables.as_ref().map(|tables| {
        tables
            .iter()
            .map(|t| TableSelection {
                schema: t.schema.clone(),
                name: t.name.clone(),
                alias: t.alias.clone(),
            })
            .collect()
    })
}

/// The spec of a source from its options (the tables are in its definition).
fn spec_of(def: &PgSourceDef) -> Result<PgSourceSpec, SqlError> {
    PgSourceSpec::from_options(&def.options, None)
}

/// The slot name of source `id` created now: unique per source and server start, a
/// valid slot name (lowercase letters, digits, underscores; at most 63 bytes).
fn slot_name(id: GlobalId, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .take(24)
        .collect();
    let id = match id {
        GlobalId::User(n) | GlobalId::System(n) | GlobalId::Transient(n) => n,
    };
    format!("eddy_{clean}_{id}_{:x}", now_ms())
}

impl Coordinator {
    /// `CREATE SOURCE ... FROM POSTGRES`, first half: finds the tables upstream on a
    /// task of its own, which hands them back as [`Command::PgSourceDiscovered`].
    pub(crate) fn begin_create_pg_source(&mut self, plan: Plan, finish: Finish) {
        if let Err(e) = pg_spec_of(&plan) {
            return finish.send(Err(e));
        }
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let result = discover_pg_tables(&plan).await;
            let _ = tx
                .send(Command::PgSourceDiscovered {
                    plan: Box::new(plan),
                    tables: result,
                    finish,
                })
                .await;
        });
    }

    /// `CREATE SOURCE`, second half: with the tables found, creates the source, its
    /// schema (if missing) and its tables, logs them, and starts reading.
    pub(crate) fn finish_create_pg_source(
        &mut self,
        plan: Plan,
        tables: Result<Vec<PgTable>, SqlError>,
    ) -> Result<ExecuteResponse, SqlError> {
        let Plan::CreatePgSource {
            name,
            if_not_exists,
            options,
            create_sql,
            ..
        } = plan
        else {
            unreachable!("called with CREATE SOURCE plans only")
        };
        let tables = tables?;
        if self
            .catalog
            .get_by_name(eddy_sql::PUBLIC_SCHEMA, &name)
            .is_some()
            && if_not_exists
        {
            return tag("CREATE SOURCE");
        }
        check_new_pg_source(&self.catalog, &name, &tables)?;
        let mut records = Vec::new();
        if !eddy_sql::Catalog::schema_exists(&self.catalog, &name) {
            let schema_id = self.catalog.allocate_id();
            records.push(LogRecord::CreateSchema {
                id: schema_id,
                name: name.clone(),
            });
        }
        let entry = self.new_pg_source_entry(&name, options, create_sql, tables);
        let id = entry.id;
        records.extend(LogRecord::create(&entry));
        self.storage.append(&records)?;
        for record in &records {
            if let LogRecord::CreateSchema { id, name } = record {
                self.catalog.insert_schema(*id, name.clone());
            }
        }
        self.insert_pg_source(entry, true);
        self.start_pg_source(id, PgResume::default());
        self.catalog_changed();
        info!(source = %name, "postgres source created");
        tag("CREATE SOURCE")
    }

    /// The entry of a new source `name` mirroring `tables` (ids allocated: the
    /// source's, then its tables').
    pub(crate) fn new_pg_source_entry(
        &mut self,
        name: &str,
        options: Vec<(String, String)>,
        create_sql: String,
        tables: Vec<PgTable>,
    ) -> CatalogEntry {
        let id = self.catalog.allocate_id();
        let table_ids: Vec<GlobalId> = tables.iter().map(|_| self.catalog.allocate_id()).collect();
        let def = PgSourceDef {
            options,
            tables,
            table_ids,
            slot: slot_name(id, name),
        };
        CatalogEntry::pg_source(id, name, create_sql, def)
    }

    /// Puts source `entry` and its tables in the catalog, and with `create_inputs` their
    /// inputs in the dataflow (replaying the log creates them with their contents).
    pub(crate) fn insert_pg_source(&mut self, entry: CatalogEntry, create_inputs: bool) {
        self.catalog.insert(entry.clone());
        for table_entry in pg_table_entries(&entry) {
            if create_inputs {
                self.compute.create_table(
                    table_entry.id,
                    &table_entry.qualified_name(),
                    table_entry.desc.types.clone(),
                );
            }
            self.catalog.insert(table_entry);
        }
    }

    /// Starts reading source `id` (in the catalog) from `resume`. A source that cannot
    /// start is shown failed.
    pub(crate) fn start_pg_source(&mut self, id: GlobalId, resume: PgResume) {
        let Some(entry) = self.catalog.get(id) else {
            return;
        };
        let def = entry.pg.clone().expect("a postgres source");
        let name = entry.name.clone();
        let started = spec_of(&def).and_then(|spec| {
            PgSource::start(
                spec,
                def.tables.clone(),
                PgSourceConfig::new(name.clone(), def.slot.clone()),
                resume,
            )
        });
        let mut source = match started {
            Ok(source) => source,
            Err(e) => {
                error!(source = %name, error = %e.message, "postgres source could not start");
                return;
            }
        };
        let status = source.status_handle();
        let confirm = source.confirm_handle();
        let tx = self.internal_tx.clone();
        let in_flight = Arc::new(Semaphore::new(1));
        let turn = Arc::clone(&in_flight);
        let task = tokio::spawn(async move {
            loop {
                match turn.acquire().await {
                    Ok(permit) => permit.forget(),
                    Err(_) => return,
                }
                let Some(batches) = coalesce(&mut source).await else {
                    return;
                };
                if tx
                    .send(Command::PgSourceBatch { id, batches })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        self.pg_sources.running.insert(
            id,
            RunningPgSource {
                task,
                in_flight,
                status,
                confirm,
                failure: None,
                writes: 0,
            },
        );
    }

    /// Applies batches of source `id` (whole upstream transactions, or the whole
    /// snapshot): each at a time of its own (consecutive times, so a subscription sees
    /// each upstream transaction as one step), all logged in one append with their
    /// progress, then sent to the workers, then the last LSN confirmed upstream. Then
    /// the source may forward its next batches.
    pub(crate) fn apply_pg_batches(&mut self, id: GlobalId, batches: Vec<PgBatch>) {
        let Some(running) = self.pg_sources.running.get(&id) else {
            return; // dropped meanwhile
        };
        let _next_turn = NextTurn(Arc::clone(&running.in_flight));
        if running.failure.is_some() {
            return;
        }
        // The table ids only: cloning the whole definition (every table's columns)
        // per batch would be work done again and again.
        let Some(table_ids) = self
            .catalog
            .get(id)
            .and_then(|e| e.pg.as_ref())
            .map(|def| def.table_ids.clone())
        else {
            return;
        };
        let mut records = Vec::with_capacity(batches.len());
        let mut last_progress = self.pg_sources.progress.get(&id).copied();
        let now = now_ms();
        let mut time = self.oracle.write_ts(now);
        for batch in batches {
            let PgBatch {
                updates,
                errors,
                progress,
            } = batch;
            if updates.is_empty() && errors.is_empty() && last_progress == Some(progress) {
                continue;
            }
            last_progress = Some(progress);
            let mut by_table: BTreeMap<GlobalId, Vec<(Row, Diff)>> = BTreeMap::new();
            for (table, row, diff) in updates {
                if let Some(&table_id) = table_ids.get(table) {
                    by_table.entry(table_id).or_default().push((row, diff));
                }
            }
            let errors: Vec<(GlobalId, String)> = errors
                .into_iter()
                .filter_map(|e| Some((*table_ids.get(e.table)?, e.message)))
                .collect();
            // Times are milliseconds: past 1,000 transactions/s they would run ahead
            // of the clock, so they may lead it by TIMES_AHEAD_MAX_MS at most; beyond
            // that, the transactions that arrive together share the last time (each
            // still whole).
            if !records.is_empty() && time < now + TIMES_AHEAD_MAX_MS {
                time += 1;
            }
            records.push(LogRecord::PgSourceWrite {
                time,
                id,
                updates: by_table.into_iter().collect(),
                errors,
                progress,
            });
        }
        if records.is_empty() {
            return;
        }
        if let Err(e) = self.storage.append(&records) {
            error!(source = %id, error = %e, "source stopped: its batch could not be logged");
            if let Some(running) = self.pg_sources.running.get_mut(&id) {
                running.failure = Some(format!("could not log what was read: {}", e.message));
                running.task.abort();
            }
            return;
        }
        let mut rows = 0;
        if let Some(running) = self.pg_sources.running.get_mut(&id) {
            running.writes += records.len() as u64;
        }
        for record in records {
            let LogRecord::PgSourceWrite {
                time,
                updates,
                errors,
                progress,
                ..
            } = record
            else {
                unreachable!("built as postgres source writes above")
            };
            for (table_id, updates) in updates {
                rows += updates.len() as u64;
                self.count_rows(table_id, &updates);
                self.compute.update_table(table_id, time, updates);
            }
            for (table_id, message) in errors {
                warn!(source = %id, table = %table_id, error = %message, "postgres table stopped");
                self.pg_sources.table_errors.insert(table_id, message);
            }
            self.pg_sources.progress.insert(id, progress);
        }
        self.close_time(time);
        let confirmed = self.pg_sources.progress.get(&id).and_then(|p| p.lsn());
        if let (Some(lsn), Some(running)) = (confirmed, self.pg_sources.running.get(&id)) {
            running.confirm.confirm(lsn);
        }
        self.rows_since_snapshot += rows;
        self.metrics
            .rows_ingested
            .fetch_add(rows, std::sync::atomic::Ordering::Relaxed);
    }

    /// Stops reading source `id` (dropped) and drops its replication slot upstream,
    /// on a task of its own (it waits for the stopped source to let go of the slot).
    pub(crate) fn stop_pg_source(&mut self, id: GlobalId) {
        let running = self.pg_sources.running.remove(&id);
        self.pg_sources.progress.remove(&id);
        let Some(entry) = self.catalog.get(id).filter(|e| e.pg.is_some()) else {
            return;
        };
        self.metrics
            .per_source
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&entry.name);
        let Some(def) = entry.pg.clone() else {
            return;
        };
        for table_id in &def.table_ids {
            self.pg_sources.table_errors.remove(table_id);
        }
        drop(running);
        let name = entry.name.clone();
        tokio::spawn(async move {
            let dropped = match spec_of(&def) {
                Ok(spec) => drop_slot(&spec, &def.slot).await,
                Err(e) => Err(e),
            };
            match dropped {
                Ok(true) => {
                    info!(source = %name, slot = %def.slot, "dropped the replication slot upstream")
                }
                Ok(false) => {}
                Err(e) => warn!(source = %name, slot = %def.slot, error = %e.message,
                    "could not drop the replication slot upstream; drop it there (pg_drop_replication_slot) so Postgres can free its WAL"),
            }
        });
    }

    /// A Postgres source's row of `SHOW SOURCES`: name, type `postgres`, its
    /// publication, state, the LSN applied (or the rows copied so far), upstream
    /// transactions applied, stopped tables, the lag in WAL bytes and in ms; no late
    /// events and no watermark (NULL: those are of streams with an event time).
    pub(crate) fn pg_source_row(&self, entry: &CatalogEntry) -> Row {
        let def = entry.pg.as_ref();
        let publication = def
            .and_then(|d| {
                d.options
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("publication"))
            })
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let stopped = def.map_or(0, |d| {
            d.table_ids
                .iter()
                .filter(|t| self.pg_sources.table_errors.contains_key(t))
                .count()
        });
        let (state, position, transactions, lag, lag_ms) =
            match self.pg_sources.running.get(&entry.id) {
                Some(running) => {
                    let status = running.status();
                    let state = match &status.state {
                        PgSourceState::Starting => "starting".to_string(),
                        PgSourceState::Snapshotting => {
                            format!("snapshotting: {} rows copied", status.snapshot_rows)
                        }
                        PgSourceState::Running => "running".to_string(),
                        PgSourceState::Retrying { last_error, .. } => {
                            format!("retrying: {last_error}")
                        }
                        PgSourceState::Failed { error } => format!("failed: {error}"),
                        PgSourceState::Stopped => "stopped".to_string(),
                    };
                    let position = match self.pg_sources.progress.get(&entry.id) {
                        Some(PgProgress::Lsn(lsn)) => format!("lsn {lsn}"),
                        Some(PgProgress::Snapshot { rows }) => format!("snapshot {rows} rows"),
                        None => String::new(),
                    };
                    let lag = status.lag_bytes().map(|b| b as i64);
                    let lag_ms = status.lag_ms(now_ms() as i64);
                    (state, position, status.transactions_total, lag, lag_ms)
                }
                None => ("not started".to_string(), String::new(), 0, None, None),
            };
        Row::pack(&[
            Datum::String(entry.name.clone()),
            Datum::String("postgres".into()),
            Datum::String(publication),
            Datum::String(state),
            Datum::String(position),
            Datum::Int64(transactions as i64),
            Datum::Int64(stopped as i64),
            lag.map_or(Datum::Null, Datum::Int64),
            lag_ms.map_or(Datum::Null, Datum::Int64),
            Datum::Null,
            Datum::Null,
        ])
    }

    /// Copies every Postgres source's figures into `/metrics`: the row changes it read
    /// (snapshot included, as messages), its stopped tables (as errors), and its lag
    /// in WAL bytes.
    pub(crate) fn publish_pg_source_metrics(&self) {
        let mut per_source = self
            .metrics
            .per_source
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (id, running) in &self.pg_sources.running {
            let Some(entry) = self.catalog.get(*id) else {
                continue;
            };
            let status = running.status();
            let stopped = status.tables.iter().filter(|t| t.error.is_some()).count();
            per_source.insert(
                entry.name.clone(),
                SourceMetrics {
                    messages: status.updates_total,
                    bytes: 0,
                    errors: stopped as u64,
                    late: 0,
                    lag: BTreeMap::new(),
                    lag_bytes: status.lag_bytes(),
                    writes: running.writes,
                },
            );
        }
    }

    /// Tables of Postgres sources that reads must refuse, with why: stopped tables,
    /// and every table of a source that failed.
    pub(crate) fn failed_pg_tables(&self) -> BTreeMap<GlobalId, String> {
        let mut failed: BTreeMap<GlobalId, String> = self
            .pg_sources
            .table_errors
            .iter()
            .map(|(id, e)| (*id, e.clone()))
            .collect();
        for (id, running) in &self.pg_sources.running {
            if let PgSourceState::Failed { error } = running.state() {
                if let Some(def) = self.catalog.get(*id).and_then(|e| e.pg.as_ref()) {
                    for table_id in &def.table_ids {
                        failed.entry(*table_id).or_insert_with(|| error.clone());
                    }
                }
            }
        }
        failed
    }

    /// Refuses to drop a table of a Postgres source without its source.
    pub(crate) fn check_pg_tables_dropped_with_source(
        &self,
        ids: &[GlobalId],
    ) -> Result<(), SqlError> {
        let dropping: BTreeSet<GlobalId> = ids.iter().copied().collect();
        for id in ids {
            let Some(entry) = self.catalog.get(*id) else {
                continue;
            };
            if let Some(source) = entry.upstream {
                if !dropping.contains(&source) {
                    let source_name = self
                        .catalog
                        .get(source)
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    return Err(SqlError::new(
                        SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                        format!(
                            "cannot drop table {} because source {source_name} writes it",
                            entry.qualified_name()
                        ),
                    )
                    .with_hint(format!(
                        "DROP SOURCE {source_name} drops it with its other tables; FOR TABLES (...) leaves tables out of a source."
                    )));
                }
            }
        }
        Ok(())
    }
}

/// How far ahead of the clock the times of a busy source's transactions may run (see
/// [`Coordinator::apply_pg_batches`]).
const TIMES_AHEAD_MAX_MS: u64 = 100;

/// Most updates in one forwarded batch of streamed transactions (the snapshot is
/// forwarded whole, however large).
const COALESCED_UPDATES_MAX: usize = 65_536;

/// The source's next batches as the coordinator applies them (in one append): the
/// whole snapshot as one (all its batches up to the one at the consistent point), or
/// a transaction followed by the whole transactions already waiting behind it, each
/// its own batch. `None` once the source has stopped.
/// The spec of a `CREATE SOURCE ... FROM POSTGRES` plan (its options read).
fn pg_spec_of(plan: &Plan) -> Result<PgSourceSpec, SqlError> {
    let Plan::CreatePgSource {
        options, tables, ..
    } = plan
    else {
        unreachable!("called with CREATE SOURCE plans only")
    };
    PgSourceSpec::from_options(options, selections(tables))
}

/// The tables a `CREATE SOURCE ... FROM POSTGRES` plan would mirror, found upstream.
pub(crate) async fn discover_pg_tables(plan: &Plan) -> Result<Vec<PgTable>, SqlError> {
    discover(&pg_spec_of(plan)?).await
}

/// A new source `name` with `tables` must not take a name that `catalog` has.
pub(crate) fn check_new_pg_source(
    catalog: &crate::catalog::Catalog,
    name: &str,
    tables: &[PgTable],
) -> Result<(), SqlError> {
    if catalog.get_by_name(eddy_sql::PUBLIC_SCHEMA, name).is_some() {
        return Err(SqlError::new(
            SqlState::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    if let Some(taken) = tables
        .iter()
        .find(|t| catalog.get_by_name(name, &t.name).is_some())
    {
        return Err(SqlError::new(
            SqlState::DUPLICATE_TABLE,
            format!("relation \"{name}.{}\" already exists", taken.name),
        )
        .with_hint(
            "Rename the table with FOR TABLES (... AS other_name), or drop the existing one.",
        ));
    }
    Ok(())
}

/// The entries of source `entry`'s tables.
pub(crate) fn pg_table_entries(entry: &CatalogEntry) -> impl Iterator<Item = CatalogEntry> + '_ {
    let def = entry.pg.as_ref().expect("a postgres source");
    def.tables
        .iter()
        .zip(&def.table_ids)
        .map(|(table, &table_id)| CatalogEntry::pg_table(table_id, entry.id, &entry.name, table))
}

async fn coalesce(source: &mut PgSource) -> Option<Vec<PgBatch>> {
    let first = source.next_batch().await?;
    let mut batches = vec![whole(source, first).await?];
    let mut updates = batches[0].updates.len();
    while updates < COALESCED_UPDATES_MAX {
        let Some(next) = source.try_next_batch() else {
            break;
        };
        // A restarted snapshot (after a lost slot) is gathered whole too.
        let next = whole(source, next).await?;
        updates += next.updates.len();
        batches.push(next);
    }
    Some(batches)
}

/// `first`, and if it is part of a snapshot, the rest of the snapshot appended to it.
async fn whole(source: &mut PgSource, mut first: PgBatch) -> Option<PgBatch> {
    while matches!(first.progress, PgProgress::Snapshot { .. }) {
        let next = source.next_batch().await?;
        append(&mut first, next);
    }
    Some(first)
}

fn append(batch: &mut PgBatch, next: PgBatch) {
    batch.updates.extend(next.updates);
    batch.errors.extend(next.errors);
    batch.progress = next.progress;
}
