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

use eddy_repr::SqlError;
use tracing::warn;

use super::tag;
use crate::command::ExecuteResponse;
use crate::coord::Coordinator;
use crate::session::Session;
use crate::txn::{self, TxnState, TxnWrites};

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
            TxnState::Failed { implicit: true } => {
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
