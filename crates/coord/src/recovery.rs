//! Rebuilding everything from the durable log at start, and compacting the log into
//! the snapshot that a later start rebuilds from.
//!
//! Invariants:
//! - Recovery replays records in log order: catalog items as they were created and
//!   dropped, every table's contents consolidated and loaded at one time, after every
//!   write in the log; then each materialized view's dataflow is built over them, so
//!   every view equals a computation from scratch over the tables.
//! - Views are re-planned from their `CREATE` text; tables keep the `desc` in their
//!   record, which is what their rows were written with.
//! - A snapshot holds the catalog and every table's contents at one read time, as
//!   records that replay to exactly the state of the records it replaces. A snapshot
//!   that cannot be taken leaves the log as it was.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use eddy_connect::postgres::PgResume;
use eddy_connect::Resume;
use eddy_expr::optimize::consolidate;
use eddy_repr::{Diff, GlobalId, Row, SqlError, Timestamp};
use eddy_sql::{ItemKind, SourceOptions};
use tracing::{info, warn};

use crate::builtins::{EDDY_SOURCE_ERRORS, EDDY_WATERMARKS};
use crate::catalog::{CatalogEntry, PgSourceDef};
use crate::coord::Coordinator;
use crate::durable::LogRecord;
use crate::sources::source_spec;
use crate::timestamp::{now_ms, TimestampOracle};

impl Coordinator {
    /// Replays the log: rebuilds the catalog, loads each table's contents at one time,
    /// then builds every materialized view's dataflow over them.
    pub(crate) fn recover(&mut self, records: Vec<LogRecord>) -> Result<(), SqlError> {
        let started = Instant::now();
        let mut tables: BTreeMap<GlobalId, HashMap<Row, Diff>> = BTreeMap::new();
        let mut max_time = 0;
        let n_records = records.len();
        // The rows of `eddy_source_errors`, loaded with the tables.
        let mut error_rows = Vec::new();
        for record in records {
            match record {
                LogRecord::CreateTable {
                    id,
                    name,
                    desc,
                    create_sql,
                    primary_key,
                } => {
                    let entry = self.logged_table(id, name, desc, create_sql, primary_key);
                    self.catalog.insert(entry);
                    tables.insert(id, HashMap::new());
                }
                LogRecord::AlterTable {
                    id,
                    name,
                    desc,
                    create_sql,
                    primary_key,
                    readers,
                } => {
                    let schema = self.catalog.remove(id).map(|e| e.schema);
                    let entry = self.logged_table(id, name, desc, create_sql, primary_key);
                    self.catalog.insert(match schema {
                        Some(schema) => entry.in_schema(schema),
                        None => entry,
                    });
                    for (reader, create_sql) in readers {
                        // Planned as new: its old version is not in the way.
                        self.catalog.remove(reader);
                        let entry = self.replan(reader, &create_sql, ItemKind::View)?;
                        self.catalog.insert(entry);
                    }
                }
                LogRecord::CreateView { id, create_sql } => {
                    let entry = self.replan(id, &create_sql, ItemKind::View)?;
                    self.catalog.insert(entry);
                }
                LogRecord::CreateSink { id, create_sql } => {
                    let entry = self.replan(id, &create_sql, ItemKind::Sink)?;
                    self.catalog.insert(entry);
                }
                LogRecord::CreateSchema { id, name } => self.catalog.insert_schema(id, name),
                LogRecord::CreatePgSource {
                    id,
                    name,
                    create_sql,
                    options,
                    tables: pg_tables,
                    table_ids,
                    slot,
                } => {
                    for table_id in &table_ids {
                        tables.insert(*table_id, HashMap::new());
                    }
                    let def = PgSourceDef {
                        options,
                        tables: pg_tables,
                        table_ids,
                        slot,
                    };
                    self.insert_pg_source(
                        CatalogEntry::pg_source(id, name, create_sql, def),
                        false,
                    );
                }
                LogRecord::PgSourceWrite {
                    time,
                    id,
                    updates,
                    errors,
                    progress,
                } => {
                    max_time = max_time.max(time);
                    for (table_id, rows) in updates {
                        let table = tables.entry(table_id).or_default();
                        for (row, diff) in rows {
                            *table.entry(row).or_insert(0) += diff;
                        }
                    }
                    self.pg_sources.table_errors.extend(errors);
                    self.pg_sources.progress.insert(id, progress);
                }
                LogRecord::DropSchema { name } => {
                    self.catalog.remove_schema(&name);
                }
                LogRecord::ItemSchema { id, schema } => {
                    if let Some(entry) = self.catalog.remove(id) {
                        self.catalog.insert(entry.in_schema(schema));
                    }
                }
                LogRecord::Drop { ids } => {
                    for id in ids {
                        self.catalog.remove(id);
                        tables.remove(&id);
                        self.forget_owned_sequences(id);
                    }
                }
                record @ (LogRecord::CreateSequence { .. }
                | LogRecord::SequenceValue { .. }
                | LogRecord::DropSequence { .. }) => self.replay_sequence(record),
                LogRecord::Write { time, updates } => {
                    max_time = max_time.max(time);
                    for (id, rows) in updates {
                        let table = tables.entry(id).or_default();
                        for (row, diff) in rows {
                            *table.entry(row).or_insert(0) += diff;
                        }
                    }
                }
                LogRecord::ViewsFileApplied { name, hash } => {
                    self.views_files.insert(name, hash);
                }
                LogRecord::CreateSource {
                    id,
                    name,
                    desc,
                    create_sql,
                    primary_key,
                    stream,
                    options,
                } => {
                    let source = SourceOptions { stream, options };
                    self.catalog.insert(CatalogEntry::source(
                        id,
                        name,
                        desc,
                        create_sql,
                        primary_key,
                        source,
                    ));
                    tables.insert(id, HashMap::new());
                }
                LogRecord::SourceWrite {
                    time,
                    id,
                    updates,
                    errors,
                    progress,
                } => {
                    if !errors.is_empty() {
                        let name = self.catalog.get(id).map(|e| e.name.clone());
                        let rows = self
                            .sources
                            .add_errors(id, &name.unwrap_or_default(), errors);
                        error_rows.extend(rows);
                    }
                    max_time = max_time.max(time);
                    let table = tables.entry(id).or_default();
                    for (row, diff) in updates {
                        *table.entry(row).or_insert(0) += diff;
                    }
                    self.sources.progress.insert(id, progress);
                }
                LogRecord::SourceWatermark { id, watermark_us } => {
                    self.sources.watermarks.insert(id, watermark_us);
                }
            }
        }
        // What each source resumes from: its offsets, its watermark and (for its upsert
        // state) rows.
        let mut resumes = Vec::new();
        for entry in self
            .catalog
            .entries()
            .filter(|e| e.kind == ItemKind::Source && e.source.is_some())
        {
            let progress = self
                .sources
                .progress
                .get(&entry.id)
                .cloned()
                .unwrap_or_default();
            resumes.push((
                entry.id,
                Resume {
                    progress,
                    current_rows: current_rows(&tables, entry.id),
                    watermark_us: self.sources.watermarks.get(&entry.id).copied(),
                },
            ));
        }
        // What each Postgres source resumes from: its progress and its tables' rows
        // (by position in its table list).
        let pg_resumes: Vec<(GlobalId, PgResume)> = self
            .catalog
            .entries()
            .filter_map(|e| Some((e.id, e.pg.as_ref()?)))
            .map(|(id, def)| {
                let current_rows = def
                    .table_ids
                    .iter()
                    .enumerate()
                    .flat_map(|(index, table)| {
                        current_rows(&tables, *table)
                            .into_iter()
                            .map(move |row| (index, row))
                    })
                    .collect();
                let resume = PgResume {
                    progress: self.pg_sources.progress.get(&id).copied(),
                    current_rows,
                };
                (id, resume)
            })
            .collect();
        let load_time = now_ms().max(max_time + 1);
        let rows_loaded = self.load_tables(tables, load_time);
        self.install_builtins(load_time);
        consolidate(&mut error_rows);
        if !error_rows.is_empty() {
            self.compute
                .update_table(EDDY_SOURCE_ERRORS.id(), load_time, error_rows);
        }
        let watermark_rows: Vec<(Row, Diff)> = self
            .sources
            .watermarks
            .iter()
            .filter_map(|(id, us)| {
                let name = &self.catalog.get(*id)?.name;
                Some((crate::sources::watermark_row(name, *id, *us), 1))
            })
            .collect();
        if !watermark_rows.is_empty() {
            self.compute
                .update_table(EDDY_WATERMARKS.id(), load_time, watermark_rows);
        }
        // A stream with a retention gets its watermark too: what it holds past its
        // retention leaves one tick after it is loaded.
        let retained: Vec<(GlobalId, i64)> = self
            .sources
            .watermarks
            .iter()
            .filter(|(id, _)| self.sources.retained.contains(id))
            .map(|(id, us)| (*id, *us))
            .collect();
        for (id, watermark_us) in retained {
            let mark = crate::sources::mark_row(watermark_us);
            self.compute
                .update_watermark(id, load_time, vec![(mark, 1)]);
        }
        self.oracle = TimestampOracle::new(load_time + 1);
        self.compute.advance_time(self.oracle.upper());
        let views: Vec<CatalogEntry> = self
            .catalog
            .entries()
            .filter(|e| matches!(e.kind, ItemKind::MaterializedView | ItemKind::Index))
            .cloned()
            .collect();
        for view in views {
            self.compute.create_dataflow(view.dataflow(load_time));
        }
        for (id, resume) in resumes {
            // A source that cannot start (its options no longer valid with this
            // server's settings) keeps its rows and is reported, never fatal.
            let entry = self.catalog.get(id).expect("sources are in the catalog");
            let started = source_spec(entry, self.kafka_brokers.as_deref())
                .and_then(|spec| self.start_source(id, spec, resume));
            if let Err(e) = started {
                warn!(source = %id, error = %e.message, "source not started");
            }
        }
        for (id, resume) in pg_resumes {
            self.start_pg_source(id, resume);
        }
        // Sinks last, from the read time after the load: each reads its topic back and
        // writes what the topic lacks (see `sinks.rs`).
        let sinks: Vec<GlobalId> = self
            .catalog
            .entries()
            .filter(|e| e.kind == ItemKind::Sink)
            .map(|e| e.id)
            .collect();
        for id in sinks {
            if let Err(e) = self.start_sink(id) {
                warn!(sink = %id, error = %e.message, "sink not started");
                self.sink_not_started(id, e.message);
            }
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

    /// Creates each table's input and loads its consolidated contents at `time`;
    /// returns the number of distinct rows loaded.
    fn load_tables(
        &mut self,
        tables: BTreeMap<GlobalId, HashMap<Row, Diff>>,
        time: Timestamp,
    ) -> usize {
        let mut rows_loaded = 0;
        for (id, rows) in tables {
            let entry = self
                .catalog
                .get(id)
                .expect("tables in the log are in the catalog")
                .clone();
            self.create_input(&entry);
            let updates: Vec<(Row, Diff)> = rows.into_iter().filter(|(_, d)| *d != 0).collect();
            self.unique_keys.add_table(
                id,
                &entry.desc,
                entry.key_sets(),
                updates.iter().map(|(r, d)| (r, *d)),
            );
            rows_loaded += updates.len();
            self.count_rows(id, &updates);
            if !updates.is_empty() {
                self.compute.update_table(id, time, updates);
            }
        }
        rows_loaded
    }

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

    /// A table's catalog entry from its logged record. What the record does not hold
    /// (defaults, CHECK and UNIQUE constraints) comes from planning its `CREATE TABLE`
    /// text again, once, before the table is in the catalog. A text that no longer
    /// plans (never expected: it planned when the table was created) is logged and
    /// keeps its defaults (read from the text alone) but no constraints.
    fn logged_table(
        &self,
        id: GlobalId,
        name: String,
        desc: eddy_repr::RelationDesc,
        create_sql: String,
        primary_key: Vec<usize>,
    ) -> CatalogEntry {
        let planned = crate::sequence::parse_one(&create_sql).and_then(|stmt| {
            eddy_sql::plan(&self.catalog, &self.plan_context(None, vec![]), &stmt)
        });
        let (defaults, checks, unique) = match planned {
            Ok(eddy_sql::Plan::CreateTable {
                defaults,
                checks,
                unique,
                ..
            }) => (defaults, checks, unique),
            Ok(_) => (eddy_sql::table_defaults(&create_sql), vec![], vec![]),
            Err(e) => {
                warn!(error = %e, create_sql, "the constraints of a table could not be planned again");
                (eddy_sql::table_defaults(&create_sql), vec![], vec![])
            }
        };
        CatalogEntry::table(id, name, desc, create_sql, primary_key)
            .with_defaults(defaults, checks)
            .with_unique(unique)
    }

    /// A view's or sink's catalog entry from its logged `CREATE` text, planned against
    /// the catalog as replay has rebuilt it so far; `kind` says which the record was
    /// (views: `View`, which covers both kinds of view).
    fn replan(
        &self,
        id: GlobalId,
        create_sql: &str,
        kind: ItemKind,
    ) -> Result<CatalogEntry, SqlError> {
        let stmt = crate::sequence::parse_one(create_sql)?;
        let entry = self.plan_entry(&self.catalog, &stmt, id)?;
        let matches = match kind {
            ItemKind::Sink => entry.kind == ItemKind::Sink,
            _ => matches!(
                entry.kind,
                ItemKind::View | ItemKind::MaterializedView | ItemKind::Index
            ),
        };
        if !matches {
            return Err(SqlError::internal(format!(
                "log holds a {} record whose text creates a {}",
                kind.noun(),
                entry.kind.noun()
            )));
        }
        Ok(entry)
    }

    /// Compacts the log: writes a snapshot of the catalog and of every table as of the
    /// last write, which replaces every record so far. Statements wait while the
    /// tables are read and the snapshot is written (rare: see `snapshot_rows`). A
    /// failure is logged and leaves the log as it was.
    pub(crate) async fn snapshot(&mut self) {
        let started = Instant::now();
        let upto_seq = self.storage.last_seq();
        if upto_seq == 0 {
            return;
        }
        let time = self.oracle.read_ts();
        let (mut state, tables) = self.catalog_records();
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
        // Every source's offsets, which the contents above cover exactly (batches are
        // applied by this task, and each closes its time before the next command).
        for (id, progress) in &self.sources.progress {
            let errors = self.sources.errors.get(id).into_iter().flatten();
            state.push(LogRecord::SourceWrite {
                time,
                id: *id,
                updates: vec![],
                errors: errors.cloned().collect(),
                progress: progress.clone(),
            });
            if let Some(&watermark_us) = self.sources.watermarks.get(id) {
                state.push(LogRecord::SourceWatermark {
                    id: *id,
                    watermark_us,
                });
            }
        }
        // Every Postgres source's progress and stopped tables, likewise.
        for (id, progress) in &self.pg_sources.progress {
            let table_ids = self
                .catalog
                .get(*id)
                .and_then(|e| e.pg.as_ref())
                .map(|def| def.table_ids.clone())
                .unwrap_or_default();
            let errors = table_ids
                .iter()
                .filter_map(|t| Some((*t, self.pg_sources.table_errors.get(t)?.clone())))
                .collect();
            state.push(LogRecord::PgSourceWrite {
                time,
                id: *id,
                updates: vec![],
                errors,
                progress: *progress,
            });
        }
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

    /// The records that recreate the catalog (items in id order, so every item comes
    /// after what it depends on, and the applied `--views` files), and the tables
    /// whose contents the snapshot must add.
    fn catalog_records(&self) -> (Vec<LogRecord>, Vec<GlobalId>) {
        let mut state: Vec<LogRecord> = self
            .catalog
            .user_schemas()
            .map(|(name, id)| LogRecord::CreateSchema {
                id,
                name: name.clone(),
            })
            .collect();
        let mut tables = Vec::new();
        for entry in self.catalog.entries() {
            state.extend(LogRecord::create(entry));
            if matches!(entry.kind, ItemKind::Table | ItemKind::Source) {
                tables.push(entry.id);
            }
        }
        for (name, hash) in &self.views_files {
            state.push(LogRecord::ViewsFileApplied {
                name: name.clone(),
                hash: *hash,
            });
        }
        state.extend(self.sequence_records());
        (state, tables)
    }
}

/// The rows table or source `id` holds in `tables` (as replay accumulated them), each
/// as many times as it counts.
fn current_rows(tables: &BTreeMap<GlobalId, HashMap<Row, Diff>>, id: GlobalId) -> Vec<Row> {
    tables
        .get(&id)
        .into_iter()
        .flatten()
        .filter(|(_, d)| **d > 0)
        .flat_map(|(row, d)| std::iter::repeat_n(row.clone(), *d as usize))
        .collect()
}
