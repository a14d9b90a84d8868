//! INSERT, UPDATE and DELETE, and the one write path every table write takes.
//!
//! Invariants:
//! - A write statement reads what it needs (the rows of `INSERT ... SELECT`, the rows
//!   an UPDATE or DELETE changes) as its session sees them, at the current read time.
//! - NOT NULL and PRIMARY KEY are checked before anything is logged; a violation
//!   writes nothing.
//! - [`Coordinator::write`] appends to the log (fsynced) before the workers see the
//!   updates, and closes the write's time before it returns: the next read of any
//!   session sees it.
//! - Inside a transaction block the updates are buffered in the session instead
//!   (`txn.rs`), checked against the block's earlier writes, and written at COMMIT.

use std::sync::atomic::Ordering;

use eddy_expr::optimize::{consolidate, optimize};
use eddy_expr::MirRelationExpr;
use eddy_repr::{Diff, GlobalId, Row, SqlError, SqlState, Timestamp};
use eddy_sql::MutationKind;

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
    ) -> Result<ExecuteResponse, SqlError> {
        let rows = self.read_now(session_id, optimize(values)).await?;
        self.check_not_null(id, &rows)?;
        let n: Diff = rows.iter().map(|(_, d)| *d).sum();
        self.apply_writes(session_id, id, rows)?;
        tag(format!("INSERT 0 {n}"))
    }

    /// The rows of a `COPY ... FROM STDIN`: written like an INSERT's (NOT NULL and
    /// primary keys checked first, buffered in a transaction block). The table may
    /// have been dropped while the data was sent.
    pub(crate) fn copy_rows(
        &mut self,
        session_id: u64,
        id: GlobalId,
        rows: Vec<Row>,
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
        let n = rows.len();
        let mut updates: Vec<(Row, Diff)> = rows.into_iter().map(|row| (row, 1)).collect();
        consolidate(&mut updates);
        self.check_not_null(id, &updates)?;
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
    ) -> Result<ExecuteResponse, SqlError> {
        let old = self.read_now(session_id, optimize(selection)).await?;
        let n: Diff = old.iter().map(|(_, d)| *d).sum();
        let mut updates: Vec<(Row, Diff)> = Vec::with_capacity(old.len() * 2);
        let verb = match &kind {
            MutationKind::Delete | MutationKind::Truncate => {
                updates.extend(old.into_iter().map(|(r, d)| (r, -d)));
                "DELETE"
            }
            MutationKind::Update { assignments } => {
                for (row, diff) in old {
                    let datums = row.unpack();
                    let mut new = datums.clone();
                    for (col, expr) in assignments {
                        new[*col] = expr.eval(&datums)?;
                    }
                    updates.push((row, -diff));
                    updates.push((Row::pack(&new), diff));
                }
                "UPDATE"
            }
        };
        consolidate(&mut updates);
        self.check_not_null(id, &updates)?;
        self.apply_writes(session_id, id, updates)?;
        match kind {
            // Postgres' tag for TRUNCATE has no count.
            MutationKind::Truncate => tag("TRUNCATE TABLE"),
            _ => tag(format!("{verb} {n}")),
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
                self.primary_keys.check(id, &[pending, &rows])?;
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
            self.primary_keys.check(*id, &[batch])?;
        }
        let time = self.oracle.write_ts(now_ms());
        let record = LogRecord::Write { time, updates };
        self.storage.append(std::slice::from_ref(&record))?;
        let LogRecord::Write { updates, .. } = record else {
            unreachable!("built as a write above")
        };
        let mut rows = 0u64;
        for (id, batch) in updates {
            self.primary_keys.apply(id, &batch);
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
        Ok(time)
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
        for (row, _) in rows.iter().filter(|(_, diff)| *diff > 0) {
            let datums = row.unpack();
            if let Some(c) = required.iter().find(|c| datums[**c].is_null()) {
                return Err(SqlError::new(
                    SqlState::NOT_NULL_VIOLATION,
                    format!(
                        "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                        entry.desc.names[*c], entry.name
                    ),
                ));
            }
        }
        Ok(())
    }
}
