//! BEGIN, COMMIT, ROLLBACK, and the implicit block around a multi-statement query
//! string. The block's state and its write overlay are in `txn.rs`.
//!
//! Invariants:
//! - COMMIT writes every buffered update of the block at one time, through the one
//!   write path (`dml.rs`), which checks primary keys again against what other
//!   sessions committed meanwhile; a failure there writes nothing.
//! - COMMIT of a failed block rolls it back (and says ROLLBACK, as Postgres does).
//! - An implicit block commits when its query string ends without error, and rolls
//!   back otherwise; BEGIN inside the string makes it explicit.

use eddy_repr::{SqlError, SqlState};
use tracing::warn;

use super::tag;
use crate::command::ExecuteResponse;
use crate::coord::Coordinator;
use crate::session::Session;
use crate::txn::{self, Savepoint, TxnState, TxnWrites};

impl Coordinator {
    pub(super) fn begin(&mut self, session_id: u64) -> Result<ExecuteResponse, SqlError> {
        let session = self.session_mut(session_id);
        match &mut session.txn {
            TxnState::Idle => session.txn = TxnState::begin(false),
            // BEGIN inside a multi-statement string makes its transaction explicit.
            TxnState::InBlock { implicit, .. } if *implicit => *implicit = false,
            _ => warn!(
                session = session_id,
                "there is already a transaction in progress"
            ),
        }
        tag("BEGIN")
    }

    pub(super) fn commit(&mut self, session_id: u64) -> Result<ExecuteResponse, SqlError> {
        match std::mem::take(&mut self.session_mut(session_id).txn) {
            TxnState::InBlock { writes, .. } => {
                self.commit_writes(writes)?;
                tag("COMMIT")
            }
            TxnState::Failed { .. } => tag("ROLLBACK"),
            TxnState::Idle => tag("COMMIT"),
        }
    }

    pub(super) fn rollback(&mut self, session_id: u64) -> Result<ExecuteResponse, SqlError> {
        self.session_mut(session_id).txn = TxnState::Idle;
        tag("ROLLBACK")
    }

    /// `SAVEPOINT name` inside a block.
    pub(super) fn savepoint(
        &mut self,
        session_id: u64,
        name: String,
    ) -> Result<ExecuteResponse, SqlError> {
        match &mut self.session_mut(session_id).txn {
            TxnState::InBlock {
                writes, savepoints, ..
            } => {
                savepoints.push(Savepoint::of(name, writes));
                tag("SAVEPOINT")
            }
            _ => Err(no_block("SAVEPOINT")),
        }
    }

    /// `RELEASE [SAVEPOINT] name`: forgets it and every later savepoint; the writes
    /// since stay.
    pub(super) fn release_savepoint(
        &mut self,
        session_id: u64,
        name: String,
    ) -> Result<ExecuteResponse, SqlError> {
        match &mut self.session_mut(session_id).txn {
            TxnState::InBlock { savepoints, .. } => {
                let at = find_savepoint(savepoints, &name)?;
                savepoints.truncate(at);
                tag("RELEASE")
            }
            _ => Err(no_block("RELEASE SAVEPOINT")),
        }
    }

    /// `ROLLBACK TO [SAVEPOINT] name`: undoes the writes since, forgets the later
    /// savepoints (keeps this one), and ends a failed state.
    pub(super) fn rollback_to_savepoint(
        &mut self,
        session_id: u64,
        name: String,
    ) -> Result<ExecuteResponse, SqlError> {
        let txn = &mut self.session_mut(session_id).txn;
        let (implicit, writes, savepoints) = match txn {
            TxnState::InBlock {
                implicit,
                writes,
                savepoints,
            }
            | TxnState::Failed {
                implicit,
                writes,
                savepoints,
            } => (*implicit, writes, savepoints),
            TxnState::Idle => return Err(no_block("ROLLBACK TO SAVEPOINT")),
        };
        let at = find_savepoint(savepoints, &name)?;
        savepoints[at].roll_back(writes);
        savepoints.truncate(at + 1);
        let (writes, savepoints) = (std::mem::take(writes), std::mem::take(savepoints));
        *txn = TxnState::InBlock {
            writes,
            implicit,
            savepoints,
        };
        tag("ROLLBACK")
    }

    /// A query string of several statements starts: unless a block is open, they run
    /// in an implicit one.
    pub(crate) fn implicit_begin(&mut self, session_id: u64) {
        if let Some(s) = self.sessions.get_mut(&session_id) {
            if matches!(s.txn, TxnState::Idle) {
                s.txn = TxnState::begin(true);
            }
        }
    }

    /// The query string ended: commit its implicit block if `commit`, else roll it
    /// back. An explicit block (BEGIN in the string) stays open.
    pub(crate) fn implicit_end(&mut self, session_id: u64, commit: bool) -> Result<(), SqlError> {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return Ok(());
        };
        match &session.txn {
            TxnState::InBlock { implicit: true, .. } => {
                let TxnState::InBlock { writes, .. } = std::mem::take(&mut session.txn) else {
                    unreachable!("matched just above")
                };
                if commit {
                    self.commit_writes(writes)?;
                }
                Ok(())
            }
            TxnState::Failed { implicit: true, .. } => {
                session.txn = TxnState::Idle;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A statement of `session_id` failed: a block it ran in fails too.
    pub(crate) fn fail_txn(&mut self, session_id: u64) {
        if let Some(s) = self.sessions.get_mut(&session_id) {
            s.txn.fail();
        }
    }

    /// Applies a block's buffered writes at one timestamp.
    fn commit_writes(&mut self, writes: TxnWrites) -> Result<(), SqlError> {
        let updates = txn::committed_updates(&self.catalog, writes);
        if !updates.is_empty() {
            self.write(updates)?;
        }
        Ok(())
    }

    pub(crate) fn session_mut(&mut self, id: u64) -> &mut Session {
        self.sessions.get_mut(&id).expect("session exists")
    }
}

/// `X can only be used in transaction blocks` (25P01), as Postgres says it.
fn no_block(what: &str) -> SqlError {
    SqlError::new(
        SqlState::NO_ACTIVE_SQL_TRANSACTION,
        format!("{what} can only be used in transaction blocks"),
    )
}

/// The position of the latest savepoint named `name`.
fn find_savepoint(savepoints: &[Savepoint], name: &str) -> Result<usize, SqlError> {
    savepoints
        .iter()
        .rposition(|s| s.name == name)
        .ok_or_else(|| {
            SqlError::new(
                SqlState::INVALID_SAVEPOINT_SPECIFICATION,
                format!("savepoint \"{name}\" does not exist"),
            )
        })
}
