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
//! - Views are never silently broken. `RENAME TO` keeps them: their texts are
//!   rewritten to read the new name and planned again to check they still plan (their
//!   running dataflows read the table by id, which does not change, so they go on).
//!   Any other change to a table a view or sink reads is refused with 2BP01 (`DROP
//!   COLUMN ... CASCADE` drops them first), since their plans read the table's columns
//!   by position.
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
        let AlterTable { id, table, change } = alter;
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
        let readers = match (&change, readers.is_empty()) {
            (_, true) => vec![],
            (TableChange::RenameTable, false) => self.renamed_readers(&old, &entry, &readers)?,
            (TableChange::DropColumn { cascade: true, .. }, false) => {
                // The views that read the column (they no longer plan) go, with what
                // reads them; any other reader stays and refuses the change.
                let doomed = self.readers_of_column(&old, &entry, &readers);
                let mut gone = self.catalog.drop_order(&doomed, true)?;
                gone.push(id);
                let remaining: Vec<GlobalId> = readers
                    .iter()
                    .copied()
                    .filter(|r| !gone.contains(r))
                    .collect();
                if !remaining.is_empty() {
                    return Err(self.readers_depend(&old, &change, &remaining));
                }
                self.drop_items(&doomed, true, ItemKind::View)?;
                vec![]
            }
            (change, false) => return Err(self.readers_depend(&old, change, &readers)),
        };
        // A column comes or goes: every row is reshaped, the committed ones by a write
        // logged with the new definition, this session's pending ones (of its
        // transaction block) where they wait.
        let reshape = |row: &Row| -> Result<Row, SqlError> {
            let mut datums = row.unpack();
            match &change {
                TableChange::AddColumn { fill } => datums.push(fill.eval(&[])?),
                TableChange::DropColumn { column, .. } => {
                    datums.remove(*column);
                }
                TableChange::RenameTable | TableChange::RenameColumn { .. } => {}
            }
            Ok(Row::pack(&datums))
        };
        let rows = if change.keeps_rows() {
            None
        } else {
            let pending: Vec<(Row, Diff)> = self.sessions[&session_id]
                .txn
                .pending_writes()
                .and_then(|writes| writes.get(&id))
                .cloned()
                .unwrap_or_default();
            // The session's read includes its pending writes: the committed rows are
            // the read without them.
            let mut committed = self.read_now(session_id, self.table_get(id)?).await?;
            committed.extend(pending.iter().map(|(row, diff)| (row.clone(), -diff)));
            consolidate(&mut committed);
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
        for reader in readers {
            self.catalog.remove(reader.id);
            self.catalog.insert(reader);
        }
        match (write, records.pop()) {
            (Some(time), Some(LogRecord::Write { updates, .. })) => {
                // The collection is replaced: the rows in their new shape only.
                let new_rows: Vec<(Row, Diff)> = updates
                    .into_iter()
                    .flat_map(|(_, rows)| rows)
                    .filter(|(_, diff)| *diff > 0)
                    .collect();
                self.end_subscribes_reading(&[id]);
                self.compute.drop_collection(id);
                self.compute
                    .create_table(id, &entry.name, entry.desc.types.clone());
                self.row_counts.remove(&id);
                self.unique_keys.remove_table(id);
                self.unique_keys
                    .add_table(id, &entry.desc, entry.key_sets(), []);
                self.altered_tables.insert(id);
                self.publish_write(time, vec![(id, new_rows)]);
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
            _ => self.unique_keys.relabel(id, &entry.desc, entry.key_sets()),
        }
        self.catalog_changed();
        tag("ALTER TABLE")
    }

    /// The views reading table `old` (`readers`, in creation order) with their texts
    /// reading it as `new` is named, each planned again on the renamed table (and the
    /// readers before it) to check it still plans; they keep their ids.
    fn renamed_readers(
        &self,
        old: &CatalogEntry,
        new: &CatalogEntry,
        readers: &[GlobalId],
    ) -> Result<Vec<CatalogEntry>, SqlError> {
        let mut scratch = self.catalog.clone();
        scratch.remove(old.id);
        scratch.insert(new.clone());
        let from = (old.schema.clone(), old.name.clone());
        let mut entries = Vec::with_capacity(readers.len());
        for reader in readers {
            let entry = self.catalog.get(*reader).expect("a reader in the catalog");
            if !matches!(entry.kind, ItemKind::View | ItemKind::MaterializedView) {
                return Err(SqlError::unsupported(format!(
                    "renaming a table {} {} reads",
                    entry.kind.noun(),
                    entry.qualified_name()
                )));
            }
            let mut stmt = super::parse_one(&entry.create_sql)?;
            super::replace::rename_reads(&mut stmt, &from, &new.name);
            scratch.remove(*reader);
            let replanned = self.plan_entry(&scratch, &stmt, *reader).map_err(|e| {
                SqlError::new(
                    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!(
                        "{} {} does not plan on the renamed table: {}",
                        entry.kind.noun(),
                        entry.qualified_name(),
                        e.message
                    ),
                )
            })?;
            scratch.insert(replanned.clone());
            entries.push(replanned);
        }
        Ok(entries)
    }

    /// The direct readers of table `old` (among `readers`) whose text does not plan on
    /// its new definition `new`: those reading a dropped column. (A reader that plans
    /// still reads the columns by their old positions: it is not dropped, and refuses
    /// the change.)
    fn readers_of_column(
        &self,
        old: &CatalogEntry,
        new: &CatalogEntry,
        readers: &[GlobalId],
    ) -> Vec<GlobalId> {
        let mut scratch = self.catalog.clone();
        scratch.remove(old.id);
        scratch.insert(new.clone());
        readers
            .iter()
            .copied()
            .filter(|r| {
                let Some(entry) = self.catalog.get(*r) else {
                    return false;
                };
                if !entry.depends_on.contains(&old.id) {
                    return false;
                }
                let mut scratch = scratch.clone();
                scratch.remove(*r);
                super::parse_one(&entry.create_sql)
                    .and_then(|stmt| self.plan_entry(&scratch, &stmt, *r))
                    .is_err()
            })
            .collect()
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
