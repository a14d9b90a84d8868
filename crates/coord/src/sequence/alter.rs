//! `ALTER TABLE`: a table's new definition (planned by `eddy_sql`'s `alter_table.rs`)
//! takes the place of the old one, under the same id.
//!
//! Invariants:
//! - Everything is checked before anything is logged: the views reading the table,
//!   the existing rows against the new column's NOT NULL and CHECK constraints.
//! - One log append holds the new definition (`LogRecord::AlterTable`, with the new
//!   text of every view it rewrites) and, when a column comes or goes, a `Write` that
//!   retracts every row in its old shape and inserts it in its new one: a restart
//!   finds both or neither, and replays rows of either shape in log order.
//! - Views are never silently broken: every view reading the table is planned again
//!   on the new definition (its text reading the new name after `RENAME TO`), keeping
//!   its id, and must plan with the columns it had. One that does not (it reads a
//!   dropped column, or every column through `SELECT *`) refuses the change with
//!   2BP01, or with `DROP COLUMN ... CASCADE` is dropped (with what reads it). A
//!   rename leaves the running dataflows as they are (they read the table by id); when
//!   a column comes or goes, the materialized views reading the table are built again
//!   over its new collection from the write's time. `RENAME COLUMN` of a table a view
//!   reads is refused (the view's text names the column), as is any change to a table
//!   a sink reads.
//! - A column coming or going replaces the table's collection in the workers (same
//!   id, new arity), and ends the subscriptions reading it. The rows this session's
//!   transaction block wrote to it and has not committed are reshaped where they
//!   wait; another block that wrote rows of the old shape cannot commit them (40001
//!   at COMMIT: see [`Coordinator::write`]).

use eddy_expr::optimize::consolidate;
use eddy_repr::{Datum, Diff, GlobalId, Row, SqlError, SqlState};
use eddy_sql::{AlterTable, ItemKind, Plan, TableChange};

use super::tag;
use crate::catalog::CatalogEntry;
use crate::command::ExecuteResponse;
use crate::coord::Coordinator;
use crate::durable::LogRecord;
use crate::timestamp::now_ms;
use crate::txn::TxnState;

impl Coordinator {
    pub(super) async fn alter_table(
        &mut self,
        session_id: u64,
        alter: AlterTable,
    ) -> Result<ExecuteResponse, SqlError> {
        let AlterTable {
            id,
            table,
            change,
            tag: done,
        } = alter;
        let Plan::CreateTable {
            name,
            desc,
            defaults,
            checks,
            unique,
            primary_key,
            create_sql,
            ..
        } = *table
        else {
            unreachable!("ALTER TABLE plans the table's CREATE TABLE")
        };
        let old = self
            .catalog
            .get(id)
            .cloned()
            .ok_or_else(|| SqlError::undefined_table(&name))?;
        let entry = CatalogEntry::table(id, name, desc, create_sql, primary_key)
            .with_defaults(defaults, checks)
            .with_unique(unique)
            .in_schema(old.schema.clone());
        // What reads the table, in creation order.
        let mut readers = self.catalog.drop_order(&[id], true)?;
        readers.retain(|r| *r != id);
        readers.reverse();
        let replanned = self.replan_readers(&old, &entry, &readers);
        let readers: Vec<CatalogEntry> = match &change {
            TableChange::RenameColumn { .. } if !readers.is_empty() => {
                return Err(self.readers_depend(&old, &change, &readers))
            }
            TableChange::DropColumn { cascade: true, .. } => {
                // The views that read the column (they no longer plan) go, with what
                // reads them; the others are rebuilt.
                let doomed: Vec<GlobalId> = replanned
                    .iter()
                    .filter(|(r, planned)| planned.is_err() && self.reads(*r, id))
                    .map(|(r, _)| *r)
                    .collect();
                let gone = self.catalog.drop_order(&doomed, true)?;
                if let Some((_, Err(e))) = replanned
                    .iter()
                    .find(|(r, planned)| planned.is_err() && !gone.contains(r))
                {
                    return Err(e.clone());
                }
                if !doomed.is_empty() {
                    self.drop_items(&doomed, true, ItemKind::View)?;
                }
                replanned
                    .into_iter()
                    .filter(|(r, _)| !gone.contains(r))
                    .filter_map(|(_, planned)| planned.ok())
                    .collect()
            }
            _ => {
                // An index of a dropped column goes with it, as in Postgres.
                let mut replanned = replanned;
                if matches!(change, TableChange::DropColumn { .. }) {
                    let doomed: Vec<GlobalId> = replanned
                        .iter()
                        .filter(|(r, planned)| {
                            planned.is_err()
                                && self
                                    .catalog
                                    .get(*r)
                                    .is_some_and(|e| e.kind == ItemKind::Index)
                        })
                        .map(|(r, _)| *r)
                        .collect();
                    // Only when nothing else stops the change (it is all or nothing).
                    let others_fail = replanned
                        .iter()
                        .any(|(r, planned)| planned.is_err() && !doomed.contains(r));
                    if !doomed.is_empty() && !others_fail {
                        self.drop_items(&doomed, false, ItemKind::Index)?;
                        replanned.retain(|(r, _)| !doomed.contains(r));
                    }
                }
                let failed: Vec<GlobalId> = replanned
                    .iter()
                    .filter(|(_, planned)| planned.is_err())
                    .map(|(r, _)| *r)
                    .collect();
                match (
                    &change,
                    replanned.iter().find_map(|(_, p)| p.as_ref().err()),
                ) {
                    (_, None) => {}
                    (TableChange::RenameTable, Some(e)) => return Err(e.clone()),
                    (_, Some(_)) => return Err(self.readers_depend(&old, &change, &failed)),
                }
                replanned
                    .into_iter()
                    .filter_map(|(_, planned)| planned.ok())
                    .collect()
            }
        };
        // A column comes or goes: every row is reshaped, the committed ones by a write
        // logged with the new definition, this session's pending ones (of its
        // transaction block) where they wait.
        let reshape = |row: &Row| -> Result<Row, SqlError> {
            let mut datums = row.unpack();
            match &change {
                TableChange::AddColumn { fill } => datums.push(fill.eval(&[])?),
                TableChange::SetType { column, to } => {
                    let value = std::mem::replace(&mut datums[*column], Datum::Null);
                    datums[*column] = eddy_expr::eval::cast_datum(
                        value,
                        to,
                        eddy_expr::func::CastKind::Assignment,
                    )
                    .map_err(SqlError::from)?;
                }
                TableChange::DropColumn { column, .. } => {
                    datums.remove(*column);
                }
                TableChange::RenameTable
                | TableChange::RenameColumn { .. }
                | TableChange::AddUnique(_)
                | TableChange::DropUnique
                | TableChange::SetDefault
                | TableChange::SetNotNull { .. } => {}
            }
            Ok(Row::pack(&datums))
        };
        // The table's rows, read once, for the changes that look at them.
        let needs_rows = !change.keeps_rows()
            || matches!(
                change,
                TableChange::AddUnique(Some(_))
                    | TableChange::DropUnique
                    | TableChange::SetNotNull { not_null: true, .. }
            );
        let mut table_rows = match needs_rows {
            true => Some(self.table_rows(session_id, id).await?),
            false => None,
        };
        let rows = if change.keeps_rows() {
            None
        } else {
            let TableRows { committed, pending } = table_rows.take().expect("read for a reshape");
            let mut rows = Vec::with_capacity(committed.len() * 2);
            for (row, diff) in committed {
                for _ in 0..diff.max(0) {
                    rows.push((reshape(&row)?, 1));
                }
                rows.push((row, -diff));
            }
            let pending = pending
                .iter()
                .map(|(row, diff)| Ok((reshape(row)?, *diff)))
                .collect::<Result<Vec<_>, SqlError>>()?;
            if let TableChange::AddColumn { .. } = change {
                self.check_filled(&entry, &rows)?;
                self.check_filled(&entry, &pending)?;
            }
            Some((rows, pending))
        };
        // SET NOT NULL: no row may hold a NULL there; a new UNIQUE constraint: no key may
        // be held twice (this session's pending rows included in both).
        match (&change, &table_rows) {
            (TableChange::SetNotNull { column, .. }, Some(rows))
                if rows
                    .read()
                    .iter()
                    .any(|(row, diff)| *diff > 0 && row.unpack()[*column].is_null()) =>
            {
                return Err(SqlError::new(
                    SqlState::NOT_NULL_VIOLATION,
                    format!(
                        "column \"{}\" of relation \"{}\" contains null values",
                        entry.desc.names[*column], entry.name
                    ),
                ));
            }
            (TableChange::AddUnique(Some(added)), Some(rows)) => {
                let set = crate::keys::KeySet {
                    constraint: added.name.clone(),
                    columns: added.columns.clone(),
                };
                if let Some(message) = crate::keys::duplicated(&entry.desc, &set, &rows.read()) {
                    return Err(SqlError::new(
                        SqlState::UNIQUE_VIOLATION,
                        format!("could not create unique index \"{}\"", added.name),
                    )
                    .with_detail(message));
                }
            }
            _ => {}
        }
        let mut records = vec![LogRecord::AlterTable {
            id,
            name: entry.name.clone(),
            desc: entry.desc.clone(),
            create_sql: entry.create_sql.clone(),
            primary_key: entry.primary_key.clone(),
            readers: readers
                .iter()
                .map(|r: &CatalogEntry| (r.id, r.create_sql.clone()))
                .collect(),
        }];
        // The collection is replaced by the rows in their new shape: all of them, also
        // those the change leaves as they were (which the write's consolidation drops).
        let reshaped: Vec<(Row, Diff)> = rows
            .as_ref()
            .map(|(rows, _)| rows.iter().filter(|(_, d)| *d > 0).cloned().collect())
            .unwrap_or_default();
        let (write, pending) = match rows {
            Some((mut rows, pending)) => {
                consolidate(&mut rows);
                let time = self.oracle.write_ts(now_ms());
                records.push(LogRecord::Write {
                    time,
                    updates: vec![(id, rows)],
                });
                (Some(time), Some(pending))
            }
            None => (None, None),
        };
        self.storage.append(&records)?;
        self.catalog.remove(id);
        self.catalog.insert(entry.clone());
        let rebuilt: Vec<CatalogEntry> = readers
            .iter()
            .filter(|r| matches!(r.kind, ItemKind::MaterializedView | ItemKind::Index))
            .cloned()
            .collect();
        for reader in readers {
            self.catalog.remove(reader.id);
            self.catalog.insert(reader);
        }
        match (write, records.pop()) {
            (Some(time), Some(LogRecord::Write { .. })) => {
                let new_rows = reshaped;
                // The materialized views reading the table read the old collection:
                // they are built again over the new one, from the write's time.
                let mut replaced: Vec<GlobalId> = rebuilt.iter().map(|r| r.id).collect();
                replaced.push(id);
                self.end_subscribes_reading(&replaced);
                for view in rebuilt.iter().rev() {
                    self.compute.drop_collection(view.id);
                }
                self.compute.drop_collection(id);
                self.compute
                    .create_table(id, &entry.name, entry.desc.types.clone());
                self.row_counts.remove(&id);
                self.unique_keys.remove_table(id);
                self.unique_keys
                    .add_table(id, &entry.desc, entry.key_sets(), []);
                self.altered_tables.insert(id);
                self.publish_write(time, vec![(id, new_rows)]);
                for view in rebuilt {
                    self.compute.create_dataflow(view.dataflow(time));
                }
                if let (Some(pending), TxnState::InBlock { writes, .. }) = (
                    pending,
                    &mut self.sessions.get_mut(&session_id).expect("session").txn,
                ) {
                    // Same lengths, so the block's savepoints still hold.
                    if let Some(waiting) = writes.get_mut(&id) {
                        *waiting = pending;
                    }
                }
            }
            // The key sets changed: counted again over the committed rows (this
            // session's pending ones are counted when its block commits).
            _ => match (&change, table_rows) {
                (TableChange::AddUnique(Some(_)) | TableChange::DropUnique, Some(rows)) => {
                    self.unique_keys.remove_table(id);
                    self.unique_keys.add_table(
                        id,
                        &entry.desc,
                        entry.key_sets(),
                        rows.committed.iter().map(|(row, diff)| (row, *diff)),
                    );
                }
                _ => self.unique_keys.relabel(id, &entry.desc, entry.key_sets()),
            },
        }
        self.catalog_changed();
        tag(done)
    }

    /// Table `id`'s rows as session `session_id` reads them, split into the committed
    /// ones and those its transaction block has written and not committed.
    async fn table_rows(&mut self, session_id: u64, id: GlobalId) -> Result<TableRows, SqlError> {
        let pending: Vec<(Row, Diff)> = self.sessions[&session_id]
            .txn
            .pending_writes()
            .and_then(|writes| writes.get(&id))
            .cloned()
            .unwrap_or_default();
        // The session's read includes its pending writes: the committed rows are the
        // read without them.
        let mut committed = self.read_now(session_id, self.table_get(id)?).await?;
        committed.extend(pending.iter().map(|(row, diff)| (row.clone(), -diff)));
        consolidate(&mut committed);
        Ok(TableRows { committed, pending })
    }

    /// Each of `readers` (what reads table `old`, in creation order) planned again on
    /// the table's new definition `new` (its text reading the new name after a
    /// rename), keeping its id; an error for one that no longer plans (it reads a
    /// column that goes), whose columns would change (it reads every column: `SELECT
    /// *`), that reads one that fails, or that is not a view.
    fn replan_readers(
        &self,
        old: &CatalogEntry,
        new: &CatalogEntry,
        readers: &[GlobalId],
    ) -> Vec<(GlobalId, Result<CatalogEntry, SqlError>)> {
        let mut scratch = self.catalog.clone();
        scratch.remove(old.id);
        scratch.insert(new.clone());
        let from = (old.schema.clone(), old.name.clone());
        let mut failed: Vec<GlobalId> = vec![];
        let mut out = Vec::with_capacity(readers.len());
        for reader in readers {
            let entry = self.catalog.get(*reader).expect("a reader in the catalog");
            let does_not_plan = |why: String| {
                SqlError::new(
                    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!(
                        "{} {} does not plan on the new definition of table {}: {why}",
                        entry.kind.noun(),
                        entry.qualified_name(),
                        old.qualified_name()
                    ),
                )
            };
            scratch.remove(*reader);
            let planned = if !matches!(
                entry.kind,
                ItemKind::View | ItemKind::MaterializedView | ItemKind::Index
            ) {
                Err(SqlError::unsupported(format!(
                    "altering a table {} {} reads",
                    entry.kind.noun(),
                    entry.qualified_name()
                )))
            } else if let Some(failed) = entry.depends_on.iter().find(|d| failed.contains(d)) {
                let name = self.catalog.get(*failed).map(|e| e.qualified_name());
                Err(does_not_plan(format!(
                    "it reads {}",
                    name.unwrap_or_default()
                )))
            } else {
                super::parse_one(&entry.create_sql).and_then(|mut stmt| {
                    if old.name != new.name {
                        super::replace::rename_reads(&mut stmt, &from, &new.name);
                    }
                    let planned = self
                        .plan_entry(&scratch, &stmt, *reader)
                        .map_err(|e| does_not_plan(e.message))?;
                    // (An index holds all of its table's columns: they change with it.)
                    if planned.desc != entry.desc && entry.kind != ItemKind::Index {
                        return Err(does_not_plan("its columns would change".into()));
                    }
                    Ok(planned)
                })
            };
            match &planned {
                Ok(planned) => scratch.insert(planned.clone()),
                Err(_) => failed.push(*reader),
            }
            out.push((*reader, planned));
        }
        out
    }

    /// Whether item `reader` reads `id` directly.
    fn reads(&self, reader: GlobalId, id: GlobalId) -> bool {
        self.catalog
            .get(reader)
            .is_some_and(|e| e.depends_on.contains(&id))
    }

    /// 2BP01 for a change to table `old` that the items `readers` would not survive.
    fn readers_depend(
        &self,
        old: &CatalogEntry,
        change: &TableChange,
        readers: &[GlobalId],
    ) -> SqlError {
        let what = match change {
            TableChange::DropColumn { column, .. } => {
                format!("drop column {} of", old.desc.names[*column])
            }
            TableChange::RenameColumn { column } => {
                format!("rename column {} of", old.desc.names[*column])
            }
            TableChange::SetNotNull { column, .. } | TableChange::SetType { column, .. } => {
                format!("change column {} of", old.desc.names[*column])
            }
            _ => "add a column to".to_string(),
        };
        let details: Vec<String> = readers
            .iter()
            .filter_map(|r| self.catalog.get(*r))
            .filter(|r| r.depends_on.contains(&old.id))
            .map(|r| {
                format!(
                    "{} {} depends on table {}",
                    r.kind.noun(),
                    r.qualified_name(),
                    old.qualified_name()
                )
            })
            .collect();
        let hint = match change {
            TableChange::DropColumn { .. } => {
                "Use DROP ... CASCADE to drop the dependent objects too."
            }
            _ => "Drop the dependent objects, alter the table, then create them again.",
        };
        SqlError::new(
            SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
            format!(
                "cannot {what} table {} because other objects depend on it",
                old.qualified_name()
            ),
        )
        .with_detail(details.join("\n"))
        .with_hint(hint)
    }

    /// Checks the rows an `ADD COLUMN` leaves (`updates`: retractions of the old rows,
    /// insertions of the new) against the new column's NOT NULL and CHECK constraints,
    /// with Postgres' messages for existing rows.
    fn check_filled(&self, entry: &CatalogEntry, updates: &[(Row, Diff)]) -> Result<(), SqlError> {
        let column = entry.desc.arity() - 1;
        for (row, _) in updates.iter().filter(|(_, d)| *d > 0) {
            let datums = row.unpack();
            if !entry.desc.types[column].nullable && datums[column].is_null() {
                return Err(SqlError::new(
                    SqlState::NOT_NULL_VIOLATION,
                    format!(
                        "column \"{}\" of relation \"{}\" contains null values",
                        entry.desc.names[column], entry.name
                    ),
                ));
            }
            for check in &entry.checks {
                if check.expr.eval(&datums)? == Datum::Bool(false) {
                    return Err(SqlError::new(
                        SqlState::CHECK_VIOLATION,
                        format!(
                            "check constraint \"{}\" of relation \"{}\" is violated by some row",
                            check.name, entry.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether every row of `rows` has the columns of table `entry` (a block may hold
/// rows written before an `ALTER TABLE` changed them).
pub(crate) fn arity_matches(entry: &CatalogEntry, rows: &[(Row, Diff)]) -> bool {
    let arity = entry.desc.arity();
    rows.iter().all(|(row, _)| row.iter().count() == arity)
}

/// A table's rows as a session reads them (see `Coordinator::table_rows`).
struct TableRows {
    committed: Vec<(Row, Diff)>,
    pending: Vec<(Row, Diff)>,
}

impl TableRows {
    /// What the session reads: the committed rows and its pending ones.
    fn read(&self) -> Vec<(Row, Diff)> {
        let mut rows = self.committed.clone();
        rows.extend(self.pending.iter().cloned());
        consolidate(&mut rows);
        rows
    }
}
