//! INSERT, UPDATE and DELETE, and the one write path every table write takes.
//!
//! Invariants:
//! - A write statement reads what it needs (the rows of `INSERT ... SELECT`, the rows
//!   an UPDATE or DELETE changes) as its session sees them, at the current read time.
//! - NOT NULL, CHECK, PRIMARY KEY and UNIQUE are checked before anything is logged; a violation
//!   writes nothing.
//! - [`Coordinator::write`] appends to the log (fsynced) before the workers see the
//!   updates, and closes the write's time before it returns: the next read of any
//!   session sees it.
//! - Inside a transaction block the updates are buffered in the session instead
//!   (`txn.rs`), checked against the block's earlier writes, and written at COMMIT.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use eddy_expr::optimize::{consolidate, optimize};
use eddy_expr::MirRelationExpr;
use eddy_repr::{Diff, GlobalId, Row, SqlError, SqlState, Timestamp};
use eddy_sql::{ConflictAction, ConflictTarget, MutationKind, OnConflict, Returning};

use super::tag;
use crate::command::ExecuteResponse;
use crate::coord::Coordinator;
use crate::durable::LogRecord;
use crate::timestamp::now_ms;
use crate::txn::TxnState;

impl Coordinator {
    pub(super) async fn insert(
        &mut self,
        session_id: u64,
        id: GlobalId,
        values: MirRelationExpr,
        serial_fill: Vec<(usize, String, String)>,
        on_conflict: Option<OnConflict>,
        returning: Option<Returning>,
    ) -> Result<ExecuteResponse, SqlError> {
        // Literal rows in statement order (ON CONFLICT keeps the first of a key).
        let mut rows = match values {
            MirRelationExpr::Constant { rows, .. } => rows,
            values => self.read_now(session_id, optimize(values)).await?,
        };
        if !serial_fill.is_empty() {
            rows = self.fill_serials(id, rows, &serial_fill)?;
        }
        let (updates, written) = match on_conflict {
            None => (rows.clone(), rows),
            Some(on_conflict) => {
                self.resolve_conflicts(session_id, id, rows, on_conflict)
                    .await?
            }
        };
        let mut updates = updates;
        consolidate(&mut updates);
        self.check_rows(id, &updates)?;
        self.apply_writes(session_id, id, updates)?;
        respond("INSERT 0", &written, returning)
    }

    /// Gives each row (each copy of a row with a multiplicity) the next value of the
    /// sequence of each of `columns`, and logs the values taken before they are used.
    fn fill_serials(
        &mut self,
        id: GlobalId,
        rows: Vec<(Row, Diff)>,
        columns: &[(usize, String, String)],
    ) -> Result<Vec<(Row, Diff)>, SqlError> {
        let types: Vec<eddy_repr::ScalarType> = self
            .catalog
            .get(id)
            .ok_or_else(|| SqlError::internal("the table is gone"))?
            .desc
            .types
            .iter()
            .map(|t| t.scalar_type)
            .collect();
        let mut filled = Vec::with_capacity(rows.len());
        for (row, diff) in rows {
            for _ in 0..diff.max(0) {
                let mut datums = row.unpack();
                for (column, schema, name) in columns {
                    let value = self.sequences.nextval(schema, name)?;
                    datums[*column] = int_datum(types[*column], value)?;
                }
                filled.push((Row::pack(&datums), 1));
            }
        }
        self.log_sequences()?;
        Ok(filled)
    }

    /// The updates of `INSERT ... ON CONFLICT` into table `id` proposing `rows`, and
    /// the rows it writes (inserted, or updated to): a proposed row whose key (in a key
    /// set the target names) a row of the table (as this session sees it) or an
    /// earlier proposed row already has is skipped (DO NOTHING) or updates that row
    /// (DO UPDATE, when its WHERE holds). A key holding a NULL conflicts with nothing.
    async fn resolve_conflicts(
        &mut self,
        session_id: u64,
        id: GlobalId,
        rows: Vec<(Row, Diff)>,
        on_conflict: OnConflict,
    ) -> Result<(Vec<(Row, Diff)>, Vec<(Row, Diff)>), SqlError> {
        let sets = self.conflict_keys(id, &on_conflict.target)?;
        if sets.is_empty() {
            // No unique constraint (DO NOTHING without a target): nothing conflicts.
            return Ok((rows.clone(), rows));
        }
        let key_of = |set: &[usize], row: &Row| -> Option<Row> {
            let datums = row.unpack();
            let key: Vec<&eddy_repr::Datum> = set.iter().map(|c| &datums[*c]).collect();
            (!key.iter().any(|d| d.is_null())).then(|| Row::pack(key))
        };
        // The table's rows with the proposed keys, by key set.
        let proposed: Vec<(&[usize], BTreeSet<Row>)> = sets
            .iter()
            .map(|set| {
                let keys = rows.iter().filter_map(|(row, _)| key_of(set, row));
                (set.as_slice(), keys.collect())
            })
            .collect();
        let existing = self
            .read_now(session_id, rows_with_keys(self.table_get(id)?, &proposed))
            .await?;
        // For each key set, the current row of each key.
        let mut current: Vec<BTreeMap<Row, Row>> = vec![BTreeMap::new(); sets.len()];
        let add = |current: &mut Vec<BTreeMap<Row, Row>>, row: &Row| {
            for (set, by_key) in sets.iter().zip(current.iter_mut()) {
                if let Some(key) = key_of(set, row) {
                    by_key.insert(key, row.clone());
                }
            }
        };
        for (row, diff) in existing {
            if diff > 0 {
                add(&mut current, &row);
            }
        }
        let mut updates = Vec::new();
        let mut written = Vec::new();
        // Keys (of the one key set DO UPDATE names) this statement has inserted or
        // updated already.
        let mut touched: BTreeSet<Row> = BTreeSet::new();
        for (row, diff) in rows {
            for _ in 0..diff.max(0) {
                let conflict = sets.iter().zip(&current).find_map(|(set, by_key)| {
                    let key = key_of(set, &row)?;
                    Some((key.clone(), by_key.get(&key)?.clone()))
                });
                let Some((key, old)) = conflict else {
                    if let Some(key) = key_of(&sets[0], &row) {
                        touched.insert(key);
                    }
                    add(&mut current, &row);
                    updates.push((row.clone(), 1));
                    written.push((row.clone(), 1));
                    continue;
                };
                let ConflictAction::Update {
                    assignments,
                    selection,
                } = &on_conflict.action
                else {
                    continue;
                };
                if !touched.insert(key.clone()) {
                    return Err(SqlError::new(
                        SqlState::CARDINALITY_VIOLATION,
                        "ON CONFLICT DO UPDATE command cannot affect row a second time",
                    )
                    .with_hint(
                        "Ensure that no rows proposed for insertion within the same command have duplicate constrained values.",
                    ));
                }
                let both: Vec<_> = old.unpack().into_iter().chain(row.unpack()).collect();
                if let Some(selection) = selection {
                    if selection.eval(&both)? != eddy_repr::Datum::Bool(true) {
                        continue;
                    }
                }
                let mut new = old.unpack();
                for (column, value) in assignments {
                    new[*column] = value.eval(&both)?;
                }
                let new = Row::pack(&new);
                updates.push((old, -1));
                updates.push((new.clone(), 1));
                written.push((new.clone(), 1));
                current[0].insert(key, new);
            }
        }
        Ok((updates, written))
    }

    /// The key sets an ON CONFLICT target names: the primary key's or a UNIQUE
    /// constraint's columns (in any order) or name; every key set of the table when
    /// there is no target (DO NOTHING), none when it has none.
    fn conflict_keys(
        &self,
        id: GlobalId,
        target: &ConflictTarget,
    ) -> Result<Vec<Vec<usize>>, SqlError> {
        let mut sets = self.unique_keys.key_sets(id);
        match target {
            ConflictTarget::Any => Ok(sets.map(|s| s.columns.clone()).collect()),
            ConflictTarget::Columns(named) => {
                let named: BTreeSet<_> = named.iter().collect();
                sets.find(|s| s.columns.iter().collect::<BTreeSet<_>>() == named)
                    .map(|s| vec![s.columns.clone()])
                    .ok_or_else(|| {
                        SqlError::new(
                            SqlState::INVALID_COLUMN_REFERENCE,
                            "there is no unique or exclusion constraint matching the ON CONFLICT specification",
                        )
                    })
            }
            ConflictTarget::Constraint(name) => sets
                .find(|s| s.constraint == *name)
                .map(|s| vec![s.columns.clone()])
                .ok_or_else(|| {
                    SqlError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("constraint \"{name}\" for table does not exist"),
                    )
                }),
        }
    }

    /// A read of table `id`.
    pub(super) fn table_get(&self, id: GlobalId) -> Result<MirRelationExpr, SqlError> {
        let entry = self
            .catalog
            .get(id)
            .ok_or_else(|| SqlError::internal("the table is gone"))?;
        Ok(MirRelationExpr::Get {
            id,
            typ: entry.desc.types.clone(),
            name: entry.name.clone(),
        })
    }

    /// Stages a chunk of the rows of the `COPY ... FROM STDIN` numbered `load` (see
    /// `copy_load.rs`); what another load of the session staged is dropped (a load
    /// whose session stopped sending it).
    pub(crate) fn stage_copy_rows(&mut self, session_id: u64, load: u64, rows: Vec<Row>) {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        let staged = match &mut session.copy_staged {
            Some((staged_load, staged)) if *staged_load == load => staged,
            other => &mut other.insert((load, Vec::new())).1,
        };
        staged.extend(rows.into_iter().map(|row| (row, 1)));
    }

    /// The rows staged for the `COPY ... FROM STDIN` numbered `load` (none if its
    /// data came in one command), leaving none staged.
    pub(crate) fn take_copy_rows(&mut self, session_id: u64, load: u64) -> Vec<(Row, Diff)> {
        match self
            .sessions
            .get_mut(&session_id)
            .and_then(|s| s.copy_staged.take())
        {
            Some((staged_load, staged)) if staged_load == load => staged,
            _ => Vec::new(),
        }
    }

    /// The rows of a `COPY ... FROM STDIN`: written like an INSERT's (NOT NULL and
    /// primary keys checked first, buffered in a transaction block). The table may
    /// have been dropped while the data was sent.
    pub(crate) fn copy_rows(
        &mut self,
        session_id: u64,
        id: GlobalId,
        updates: Vec<(Row, Diff)>,
    ) -> Result<ExecuteResponse, SqlError> {
        let Some(session) = self.sessions.get(&session_id) else {
            return Err(SqlError::internal("unknown session"));
        };
        if matches!(session.txn, TxnState::Failed { .. }) {
            return Err(SqlError::new(
                SqlState::IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        if self.catalog.get(id).is_none() {
            return Err(SqlError::new(
                SqlState::UNDEFINED_TABLE,
                "the table of this COPY was dropped while its data was sent",
            ));
        }
        let n = updates.len();
        // Every row is an insert (+1): consolidating them would only merge copies of a
        // row, at the price of sorting the whole load.
        self.check_rows(id, &updates)?;
        self.apply_writes(session_id, id, updates)?;
        tag(format!("COPY {n}"))
    }

    /// UPDATE and DELETE: read the selected rows, then retract them (and insert their
    /// new versions), at one time.
    pub(super) async fn read_then_write(
        &mut self,
        session_id: u64,
        id: GlobalId,
        selection: MirRelationExpr,
        kind: MutationKind,
        returning: Option<Returning>,
    ) -> Result<ExecuteResponse, SqlError> {
        let old = self.read_now(session_id, optimize(selection)).await?;
        let mut updates: Vec<(Row, Diff)> = Vec::with_capacity(old.len() * 2);
        // The rows RETURNING reads: the old ones of a DELETE, the new ones of an UPDATE.
        let mut written = Vec::with_capacity(old.len());
        let verb = match &kind {
            MutationKind::Delete | MutationKind::Truncate => {
                updates.extend(old.iter().map(|(r, d)| (r.clone(), -d)));
                written = old;
                "DELETE"
            }
            MutationKind::Update { assignments } => {
                for (row, diff) in old {
                    let datums = row.unpack();
                    let mut new = datums.clone();
                    for (col, expr) in assignments {
                        new[*col] = expr.eval(&datums)?;
                    }
                    let new = Row::pack(&new);
                    updates.push((row, -diff));
                    updates.push((new.clone(), diff));
                    written.push((new, diff));
                }
                "UPDATE"
            }
        };
        consolidate(&mut updates);
        self.check_rows(id, &updates)?;
        self.apply_writes(session_id, id, updates)?;
        match kind {
            // Postgres' tag for TRUNCATE has no count.
            MutationKind::Truncate => tag("TRUNCATE TABLE"),
            _ => respond(verb, &written, returning),
        }
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
                self.unique_keys.check(id, &[pending, &rows])?;
                pending.extend(rows);
                Ok(())
            }
            _ if rows.is_empty() => Ok(()),
            _ => self.write(vec![(id, rows)]).map(|_| ()),
        }
    }

    /// Appends updates durably at one new time and sends them to the workers.
    pub(crate) fn write(
        &mut self,
        updates: Vec<(GlobalId, Vec<(Row, Diff)>)>,
    ) -> Result<Timestamp, SqlError> {
        for (id, batch) in &updates {
            if self.altered_tables.contains(id) {
                let entry = self.catalog.get(*id);
                if entry.is_some_and(|e| !super::alter::arity_matches(e, batch)) {
                    return Err(SqlError::new(
                        SqlState::T_R_SERIALIZATION_FAILURE,
                        "could not serialize access: the table was altered after this transaction wrote to it",
                    ));
                }
            }
            self.unique_keys.check(*id, &[batch])?;
        }
        let time = self.oracle.write_ts(now_ms());
        let record = LogRecord::Write { time, updates };
        self.storage.append(std::slice::from_ref(&record))?;
        let LogRecord::Write { updates, .. } = record else {
            unreachable!("built as a write above")
        };
        self.publish_write(time, updates);
        Ok(time)
    }

    /// Sends updates logged at `time` (by [`Coordinator::write`], or with the table
    /// they fill by `CREATE TABLE ... AS`) to the key index and the workers, and
    /// closes `time`.
    pub(crate) fn publish_write(
        &mut self,
        time: Timestamp,
        updates: Vec<(GlobalId, Vec<(Row, Diff)>)>,
    ) {
        let mut rows = 0u64;
        for (id, batch) in updates {
            self.unique_keys.apply(id, &batch);
            self.count_rows(id, &batch);
            rows += batch.len() as u64;
            self.compute.update_table(id, time, batch);
        }
        self.close_time(time);
        self.rows_since_snapshot += rows;
        self.metrics
            .rows_ingested
            .fetch_add(rows, Ordering::Relaxed);
        self.metrics
            .write_statements
            .fetch_add(1, Ordering::Relaxed);
    }

    /// 23502 when a row written has NULL in a NOT NULL column of table `id`, 23514 when
    /// it fails one of its CHECK constraints.
    fn check_rows(&self, id: GlobalId, rows: &[(Row, Diff)]) -> Result<(), SqlError> {
        self.check_not_null(id, rows)?;
        let entry = self.catalog.get(id).expect("target table exists");
        if entry.checks.is_empty() {
            return Ok(());
        }
        for (row, _) in rows.iter().filter(|(_, diff)| *diff > 0) {
            let datums = row.unpack();
            for check in &entry.checks {
                if check.expr.eval(&datums)? == eddy_repr::Datum::Bool(false) {
                    let types: Vec<_> = entry.desc.types.iter().map(|t| t.scalar_type).collect();
                    return Err(SqlError::new(
                        SqlState::CHECK_VIOLATION,
                        format!(
                            "new row for relation \"{}\" violates check constraint \"{}\"",
                            entry.name, check.name
                        ),
                    )
                    .with_detail(format!(
                        "Failing row contains {}.",
                        eddy_repr::strconv::row_text(&datums, &types)
                    )));
                }
            }
        }
        Ok(())
    }

    /// 23502 when an inserted row has NULL in a NOT NULL column of table `id`.
    fn check_not_null(&self, id: GlobalId, rows: &[(Row, Diff)]) -> Result<(), SqlError> {
        let entry = self.catalog.get(id).expect("target table exists");
        let required: Vec<usize> = (0..entry.desc.arity())
            .filter(|c| !entry.desc.types[*c].nullable)
            .collect();
        if required.is_empty() {
            return Ok(());
        }
        // Rows are decoded only as far as the last required column.
        let last = required.last().copied().unwrap_or(0);
        for (row, _) in rows.iter().filter(|(_, diff)| *diff > 0) {
            let null_required = row
                .iter()
                .take(last + 1)
                .enumerate()
                .find(|(c, datum)| datum.is_null() && required.contains(c));
            if let Some((c, _)) = null_required {
                return Err(SqlError::new(
                    SqlState::NOT_NULL_VIOLATION,
                    format!(
                        "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                        entry.desc.names[c], entry.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The answer of a write of `written` rows: its tag (`command` and the count), or with
/// RETURNING, a row per written row and that tag.
fn respond(
    command: &str,
    written: &[(Row, Diff)],
    returning: Option<Returning>,
) -> Result<ExecuteResponse, SqlError> {
    let Some(returning) = returning else {
        let n: Diff = written.iter().map(|(_, d)| *d).sum();
        return tag(format!("{command} {n}"));
    };
    let mut rows = Vec::new();
    for (row, diff) in written {
        let datums = row.unpack();
        let out = returning
            .exprs
            .iter()
            .map(|e| e.eval(&datums))
            .collect::<Result<Vec<_>, _>>()?;
        let out = Row::pack(&out);
        for _ in 0..diff.max(&0).to_owned() {
            rows.push(out.clone());
        }
    }
    Ok(ExecuteResponse::Returning {
        desc: returning.desc,
        rows,
        command: command.to_string(),
    })
}

/// The rows of `table` whose columns hold one of the keys of a key set (`(columns,
/// keys)` pairs): a filter of equalities (an OR over the keys), which a read of a
/// table keyed by its first columns answers from the prefix of its arrangement.
fn rows_with_keys(table: MirRelationExpr, sets: &[(&[usize], BTreeSet<Row>)]) -> MirRelationExpr {
    use eddy_expr::{BinaryFunc, MirScalarExpr, VariadicFunc};
    let typ = table.typ();
    let matches: Vec<MirScalarExpr> = sets
        .iter()
        .flat_map(|(columns, keys)| keys.iter().map(move |key| (columns, key)))
        .map(|(columns, key)| {
            let equalities: Vec<MirScalarExpr> = columns
                .iter()
                .zip(key.unpack())
                .map(|(c, datum)| {
                    MirScalarExpr::Column(*c)
                        .call_binary(MirScalarExpr::literal(datum, typ[*c]), BinaryFunc::Eq)
                })
                .collect();
            MirScalarExpr::CallVariadic {
                func: VariadicFunc::And,
                exprs: equalities,
            }
        })
        .collect();
    table.filter(vec![MirScalarExpr::CallVariadic {
        func: VariadicFunc::Or,
        exprs: matches,
    }])
}

/// A sequence's value as a datum of a column of type `typ`.
fn int_datum(typ: eddy_repr::ScalarType, value: i64) -> Result<eddy_repr::Datum, SqlError> {
    use eddy_repr::{Datum, ScalarType};
    let out_of_range = |t: &str| {
        SqlError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("{t} out of range"),
        )
    };
    Ok(match typ {
        ScalarType::Int16 => {
            Datum::Int16(i16::try_from(value).map_err(|_| out_of_range("smallint"))?)
        }
        ScalarType::Int32 => {
            Datum::Int32(i32::try_from(value).map_err(|_| out_of_range("integer"))?)
        }
        _ => Datum::Int64(value),
    })
}
