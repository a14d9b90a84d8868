//! CREATE TABLE [AS], CREATE [MATERIALIZED] VIEW, CREATE SINK and DROP.
//!
//! Invariants:
//! - The name check, the dependency check and the log append all happen before the
//!   catalog, the dataflow or the key index change: a failed DDL changes nothing.
//! - A materialized view's dataflow starts at the current read time, so its first
//!   answer already covers every write that has returned.
//! - After every catalog change the builtin relations (`pg_catalog`,
//!   `information_schema`) are rewritten at a new time, so psql's `\d` sees it at once.

use eddy_connect::Resume;
use eddy_expr::optimize::{consolidate, optimize};
use eddy_expr::MirRelationExpr;
use eddy_repr::{GlobalId, SqlError, SqlState};
use eddy_sql::{ItemKind, Plan, SourceOptions};

use super::tag;
use crate::catalog::CatalogEntry;
use crate::command::ExecuteResponse;
use crate::coord::Coordinator;
use crate::durable::LogRecord;
use crate::sinks::sink_spec;
use crate::sources::source_spec;
use crate::timestamp::now_ms;

fn already_exists(name: &str) -> SqlError {
    SqlError::new(
        SqlState::DUPLICATE_TABLE,
        format!("relation \"{name}\" already exists"),
    )
}

/// The catalog entry (in its schema) of a `CREATE TABLE | STREAM` plan with id `id`,
/// and the sequences its `serial` columns own, which the entry does not hold.
pub(super) fn table_entry_of(id: GlobalId, plan: Plan) -> (CatalogEntry, Vec<String>) {
    let Plan::CreateTable {
        schema,
        name,
        desc,
        defaults,
        checks,
        unique,
        sequences,
        primary_key,
        create_sql,
        source,
        ..
    } = plan
    else {
        unreachable!("called with CREATE TABLE plans only")
    };
    let entry = match source {
        Some(source) => CatalogEntry::source(id, name, desc, create_sql, primary_key, source),
        None => CatalogEntry::table(id, name, desc, create_sql, primary_key)
            .with_defaults(defaults, checks)
            .with_unique(unique),
    };
    (entry.in_schema(schema), sequences)
}

impl Coordinator {
    pub(super) fn create_table(&mut self, plan: Plan) -> Result<ExecuteResponse, SqlError> {
        let Plan::CreateTable {
            schema,
            name,
            if_not_exists,
            source,
            ..
        } = &plan
        else {
            unreachable!("called with CREATE TABLE plans only")
        };
        let done = match source {
            Some(SourceOptions { stream: true, .. }) => "CREATE STREAM",
            _ => "CREATE TABLE",
        };
        if self.catalog.get_by_name(schema, name).is_some() {
            if *if_not_exists {
                return tag(done);
            }
            return Err(already_exists(name));
        }
        self.check_schema(schema)?;
        let id = self.catalog.allocate_id();
        let (entry, sequences) = table_entry_of(id, plan);
        if entry.source.is_some() {
            self.create_source(entry)?;
            return tag(done);
        }
        let schema = entry.schema.clone();
        for sequence in &sequences {
            if self
                .sequences
                .lock()
                .contains_key(&(schema.clone(), sequence.clone()))
            {
                return Err(already_exists(sequence));
            }
        }
        self.storage.append(&LogRecord::create(&entry))?;
        for sequence in &sequences {
            self.create_sequence(&schema, sequence, 1, 1, Some(id))?;
        }
        self.compute
            .create_table(id, &entry.name, entry.desc.types.clone());
        self.unique_keys
            .add_table(id, &entry.desc, entry.key_sets(), []);
        self.catalog.insert(entry);
        self.catalog_changed();
        tag("CREATE TABLE")
    }

    /// `CREATE TABLE ... AS`: reads the query's rows as the session sees them, then
    /// logs the table and its rows in one append (a restart finds both or neither),
    /// and answers `SELECT n` as Postgres does (`CREATE TABLE AS` without data).
    pub(super) async fn create_table_as(
        &mut self,
        session_id: u64,
        table: Plan,
        rows: Option<MirRelationExpr>,
    ) -> Result<ExecuteResponse, SqlError> {
        let Plan::CreateTable {
            schema,
            name,
            desc,
            create_sql,
            if_not_exists,
            ..
        } = table
        else {
            unreachable!("CREATE TABLE ... AS plans a CREATE TABLE")
        };
        let exists = |coord: &Self| coord.catalog.get_by_name(&schema, &name).is_some();
        if exists(self) && if_not_exists {
            return tag("CREATE TABLE AS");
        }
        let rows_requested = rows.is_some();
        let mut updates = match rows {
            Some(expr) => self.read_now(session_id, optimize(expr)).await?,
            None => vec![],
        };
        if exists(self) {
            return Err(already_exists(&name));
        }
        self.check_schema(&schema)?;
        consolidate(&mut updates);
        let n: i64 = updates.iter().map(|(_, d)| *d).sum();
        let id = self.catalog.allocate_id();
        let entry = CatalogEntry::table(id, name, desc, create_sql, vec![]).in_schema(schema);
        let mut records = LogRecord::create(&entry);
        let write = (!updates.is_empty()).then(|| {
            let time = self.oracle.write_ts(now_ms());
            records.push(LogRecord::Write {
                time,
                updates: vec![(id, updates)],
            });
            time
        });
        self.storage.append(&records)?;
        self.compute
            .create_table(id, &entry.name, entry.desc.types.clone());
        self.catalog.insert(entry);
        if let (Some(time), Some(LogRecord::Write { updates, .. })) = (write, records.pop()) {
            self.publish_write(time, updates);
        }
        self.catalog_changed();
        if rows_requested {
            tag(format!("SELECT {n}"))
        } else {
            tag("CREATE TABLE AS")
        }
    }

    /// Creates a stream or table read from Kafka: checks its options, starts reading,
    /// then logs it (a source that cannot start is never logged).
    fn create_source(&mut self, entry: CatalogEntry) -> Result<(), SqlError> {
        let id = entry.id;
        let spec = source_spec(&entry, self.kafka_brokers.as_deref())?;
        let records = LogRecord::create(&entry);
        self.create_input(&entry);
        self.catalog.insert(entry);
        let logged = self
            .start_source(id, spec, Resume::default())
            .and_then(|()| self.storage.append(&records));
        if let Err(e) = logged {
            self.stop_source(id);
            self.catalog.remove(id);
            self.compute.drop_collection(id);
            return Err(e);
        }
        self.catalog_changed();
        Ok(())
    }

    /// `CREATE [MATERIALIZED] VIEW` of a new name (`CREATE OR REPLACE` of an existing
    /// view is blue/green: see `replace.rs`).
    pub(super) fn create_view(&mut self, plan: Plan) -> Result<ExecuteResponse, SqlError> {
        let Plan::CreateView {
            schema,
            name,
            materialized,
            if_not_exists,
            ..
        } = &plan
        else {
            unreachable!("called with CREATE VIEW plans only")
        };
        let done = if *materialized {
            "CREATE MATERIALIZED VIEW"
        } else {
            "CREATE VIEW"
        };
        if self.catalog.get_by_name(schema, name).is_some() {
            if *if_not_exists {
                return tag(done);
            }
            return Err(already_exists(name));
        }
        self.check_schema(schema)?;
        let id = self.catalog.allocate_id();
        let entry = self.entry_of(plan, id)?;
        self.storage.append(&LogRecord::create(&entry))?;
        if entry.kind == ItemKind::MaterializedView {
            self.compute
                .create_dataflow(entry.dataflow(self.oracle.read_ts()));
        }
        self.catalog.insert(entry);
        self.catalog_changed();
        tag(done)
    }

    /// `CREATE INDEX`: logged, then its arrangement built like a materialized view's.
    pub(super) fn create_index(&mut self, plan: Plan) -> Result<ExecuteResponse, SqlError> {
        let Plan::CreateIndex {
            schema,
            name,
            if_not_exists,
            ..
        } = &plan
        else {
            unreachable!("called with CREATE INDEX plans only")
        };
        if self.catalog.get_by_name(schema, name).is_some() {
            if *if_not_exists {
                return tag("CREATE INDEX");
            }
            return Err(already_exists(name));
        }
        self.check_schema(schema)?;
        let id = self.catalog.allocate_id();
        let entry = self.entry_of(plan, id)?;
        self.storage.append(&LogRecord::create(&entry))?;
        self.compute
            .create_dataflow(entry.dataflow(self.oracle.read_ts()));
        self.catalog.insert(entry);
        self.catalog_changed();
        tag("CREATE INDEX")
    }

    pub(super) fn drop_items(
        &mut self,
        ids: &[GlobalId],
        cascade: bool,
        kind: ItemKind,
    ) -> Result<ExecuteResponse, SqlError> {
        // A Postgres source goes with its tables; a table of one never goes alone.
        let mut ids = ids.to_vec();
        for id in ids.clone() {
            if let Some(def) = self.catalog.get(id).and_then(|e| e.pg.as_ref()) {
                ids.extend(def.table_ids.iter().copied());
            }
        }
        self.check_pg_tables_dropped_with_source(&ids)?;
        let order = self.catalog.drop_order(&ids, cascade)?;
        if !order.is_empty() {
            self.storage
                .append(&[LogRecord::Drop { ids: order.clone() }])?;
        }
        self.end_subscribes_reading(&order);
        for id in order {
            self.forget_item(id);
        }
        self.catalog_changed();
        tag(kind.drop_statement())
    }

    /// Creates a sink: checks its options, logs it, then starts it (a sink whose
    /// broker is unreachable is created all the same and retries, as a source does).
    pub(super) fn create_sink(&mut self, plan: Plan) -> Result<ExecuteResponse, SqlError> {
        let Plan::CreateSink {
            schema,
            name,
            if_not_exists,
            ..
        } = &plan
        else {
            unreachable!("called with CREATE SINK plans only")
        };
        if self.catalog.get_by_name(schema, name).is_some() {
            if *if_not_exists {
                return tag("CREATE SINK");
            }
            return Err(already_exists(name));
        }
        self.check_schema(schema)?;
        let id = self.catalog.allocate_id();
        let entry = self.entry_of(plan, id)?;
        let spec = sink_spec(&entry, self.kafka_brokers.as_deref())?;
        self.check_upsert_key(&entry, &spec)?;
        self.storage.append(&LogRecord::create(&entry))?;
        self.catalog.insert(entry);
        if let Err(e) = self.start_sink(id) {
            self.sink_not_started(id, e.message);
        }
        self.catalog_changed();
        tag("CREATE SINK")
    }

    /// Removes item `id` (logged as dropped already) from the catalog and the
    /// dataflow, stopping what runs for it (a source, a sink).
    pub(crate) fn forget_item(&mut self, id: GlobalId) {
        self.row_counts.remove(&id);
        self.stop_source(id);
        self.stop_sink(id);
        self.stop_pg_source(id);
        self.unique_keys.remove_table(id);
        self.forget_owned_sequences(id);
        if let Some(entry) = self.catalog.remove(id) {
            if entry.is_arranged() {
                self.compute.drop_collection(id);
            }
        }
    }

    /// The schema a new item goes in must still exist (a transaction may have planned
    /// the statement before another session dropped it).
    pub(crate) fn check_schema(&self, schema: &str) -> Result<(), SqlError> {
        eddy_sql::check_schema_for_new_item(schema, &self.catalog)
    }

    /// `CREATE SCHEMA`: logged, then in the catalog (and `pg_namespace`).
    pub(super) fn create_schema(
        &mut self,
        name: String,
        if_not_exists: bool,
    ) -> Result<ExecuteResponse, SqlError> {
        if eddy_sql::Catalog::schema_exists(&self.catalog, &name) {
            if if_not_exists {
                return tag("CREATE SCHEMA");
            }
            return Err(SqlError::new(
                SqlState::DUPLICATE_SCHEMA,
                format!("schema \"{name}\" already exists"),
            ));
        }
        let id = self.catalog.allocate_id();
        self.storage.append(&[LogRecord::CreateSchema {
            id,
            name: name.clone(),
        }])?;
        self.catalog.insert_schema(id, name);
        self.catalog_changed();
        tag("CREATE SCHEMA")
    }

    /// `DROP SCHEMA`: without CASCADE only empty schemas (2BP01 naming an item
    /// otherwise); with it, their items and everything that depends on them go first.
    pub(super) fn drop_schemas(
        &mut self,
        names: &[String],
        cascade: bool,
    ) -> Result<ExecuteResponse, SqlError> {
        let mut items = Vec::new();
        for name in names {
            let held = self.catalog.items_in_schema(name);
            if let (Some(&first), false) = (held.first(), cascade) {
                let entry = self.catalog.get(first).expect("listed above");
                return Err(SqlError::new(
                    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!("cannot drop schema {name} because other objects depend on it"),
                )
                .with_detail(format!(
                    "{} {} depends on schema {name}",
                    entry.kind.noun(),
                    entry.qualified_name()
                ))
                .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
            }
            items.extend(held);
        }
        if !items.is_empty() {
            self.drop_items(&items, true, ItemKind::Table)?;
        }
        let records: Vec<LogRecord> = names
            .iter()
            .map(|name| LogRecord::DropSchema { name: name.clone() })
            .collect();
        if !records.is_empty() {
            self.storage.append(&records)?;
        }
        for name in names {
            self.catalog.remove_schema(name);
        }
        self.catalog_changed();
        tag("DROP SCHEMA")
    }

    /// Updates what depends on the catalog: the gauges and the builtin relations.
    pub(crate) fn catalog_changed(&mut self) {
        self.catalog_generation += 1;
        self.refresh_gauges();
        self.refresh_builtins();
    }

    /// Rewrites the builtin tables after a catalog change: the difference between the
    /// rows they hold and the rows the catalog implies, at a new time.
    fn refresh_builtins(&mut self) {
        let updates = self.builtins.updates(&self.catalog);
        if updates.is_empty() {
            return;
        }
        let time = self.oracle.write_ts(now_ms());
        for (id, rows) in updates {
            self.compute.update_table(id, time, rows);
        }
        self.close_time(time);
    }
}
