//! The commands the controller ([`crate::Compute`]) sends to every worker, and the
//! collector that gathers the workers' answers to a peek.
//!
//! Invariants:
//! - Every worker receives every command, in the same order, so dataflows are built
//!   in the same order everywhere (timely requires it). `UpdateTable` is the exception
//!   in content only: each worker gets its share of a batch (possibly none).
//! - A peek is answered exactly once: every worker's [`PeekResponder`] reports either
//!   its shard of the answer or, if dropped unanswered (a worker that stopped or
//!   panicked), [`PeekError::Shutdown`]; the last report sends the combined result.

use std::sync::{Arc, Mutex};

use eddy_repr::{Diff, GlobalId, Row, Timestamp};

use crate::api::{DataflowDesc, PeekError, PeekResult, PeekSpec};
use crate::subscribe::{SubscribeDesc, SubscribeSender};

pub(crate) enum Command {
    CreateTable {
        id: GlobalId,
        name: String,
        retention: Option<crate::api::Retention>,
        /// Rows are only ever inserted (a stream without retention): reductions over
        /// it may rely on it (see `MirRelationExpr::is_append_only`).
        append_only: bool,
    },
    /// A stream's new watermark (every worker gets all of it): its rows leave after
    /// their retention (see `create_table`).
    UpdateWatermark {
        id: GlobalId,
        time: Timestamp,
        updates: Vec<(Row, Diff)>,
    },
    CreateDataflow(Arc<DataflowDesc>),
    /// Builds a subscription's dataflow; each worker gets its own sender.
    Subscribe {
        desc: Arc<SubscribeDesc>,
        sender: SubscribeSender,
    },
    Drop(GlobalId),
    UpdateTable {
        id: GlobalId,
        time: Timestamp,
        updates: Vec<(Row, Diff)>,
    },
    AdvanceTime(Timestamp),
    AllowCompaction(Timestamp),
    Peek {
        id: GlobalId,
        time: Timestamp,
        spec: Arc<PeekSpec>,
        responder: PeekResponder,
    },
    /// A failpoint: the worker panics (to test failure handling).
    Panic,
    Shutdown,
}

/// The combined answer of all workers to one peek, filled in as workers answer.
struct PeekCollector {
    remaining: usize,
    rows: Vec<(Row, Diff)>,
    error: Option<PeekError>,
    tx: Option<tokio::sync::oneshot::Sender<PeekResult>>,
}

/// Which of two errors a combined peek reports: the most severe, then the smallest.
fn combine_errors(a: PeekError, b: PeekError) -> PeekError {
    fn rank(e: &PeekError) -> u8 {
        match e {
            PeekError::Shutdown => 0,
            PeekError::UnknownCollection(_) => 1,
            PeekError::TimeCompacted { .. } => 2,
            PeekError::Eval(_) => 3,
            PeekError::ResourceExhausted { .. } => 4,
        }
    }
    match rank(&a).cmp(&rank(&b)) {
        std::cmp::Ordering::Less => a,
        std::cmp::Ordering::Greater => b,
        std::cmp::Ordering::Equal => match (a, b) {
            (PeekError::Eval(x), PeekError::Eval(y)) => PeekError::Eval(x.min(y)),
            (a, _) => a,
        },
    }
}

/// One worker's handle for answering a peek.
pub(crate) struct PeekResponder {
    collector: Option<Arc<Mutex<PeekCollector>>>,
}

impl PeekResponder {
    /// Responders for a peek answered by `workers` workers, and the receiver of the
    /// combined result.
    pub(crate) fn new(
        workers: usize,
    ) -> (
        Vec<PeekResponder>,
        tokio::sync::oneshot::Receiver<PeekResult>,
    ) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let collector = Arc::new(Mutex::new(PeekCollector {
            remaining: workers,
            rows: Vec::new(),
            error: None,
            tx: Some(tx),
        }));
        let responders = (0..workers)
            .map(|_| PeekResponder {
                collector: Some(Arc::clone(&collector)),
            })
            .collect();
        (responders, rx)
    }

    /// Whether nobody waits for the answer any more (the read was cancelled, timed
    /// out, or its client went away).
    pub(crate) fn is_abandoned(&self) -> bool {
        let Some(collector) = &self.collector else {
            return true;
        };
        match collector.lock() {
            Ok(state) => state.tx.as_ref().is_none_or(|tx| tx.is_closed()),
            Err(_) => true,
        }
    }

    /// Reports this worker's part of the answer.
    pub(crate) fn respond(mut self, result: PeekResult) {
        self.report(result);
    }

    fn report(&mut self, result: PeekResult) {
        let Some(collector) = self.collector.take() else {
            return;
        };
        // A poisoned lock means another worker panicked mid-report; the answer is lost
        // either way, and dropping the sender resolves the receiver with an error.
        let Ok(mut state) = collector.lock() else {
            return;
        };
        // A stopped query answers at once: the other workers' parts are not coming.
        if let Err(e @ PeekError::ResourceExhausted { .. }) = &result {
            if let Some(tx) = state.tx.take() {
                let _ = tx.send(Err(e.clone()));
            }
        }
        match result {
            Ok(rows) => state.rows.extend(rows),
            Err(e) => {
                state.error = Some(match state.error.take() {
                    Some(prev) => combine_errors(prev, e),
                    None => e,
                })
            }
        }
        state.remaining -= 1;
        if state.remaining == 0 {
            let result = match state.error.take() {
                Some(e) => Err(e),
                None => Ok(std::mem::take(&mut state.rows)),
            };
            if let Some(tx) = state.tx.take() {
                // The receiver may be gone (the client went away); nothing to do then.
                let _ = tx.send(result);
            }
        }
    }
}

impl Drop for PeekResponder {
    fn drop(&mut self) {
        self.report(Err(PeekError::Shutdown));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_expr::EvalError;

    #[test]
    fn last_worker_sends_the_combined_answer() {
        let (mut responders, mut rx) = PeekResponder::new(3);
        let r = Row::pack([eddy_repr::Datum::Int32(1)].iter());
        responders.pop().unwrap().respond(Ok(vec![(r.clone(), 1)]));
        assert!(rx.try_recv().is_err());
        responders.pop().unwrap().respond(Ok(vec![(r.clone(), 2)]));
        responders.pop().unwrap().respond(Ok(vec![]));
        assert_eq!(rx.try_recv().unwrap(), Ok(vec![(r.clone(), 1), (r, 2)]));
    }

    #[test]
    fn dropped_responder_reports_shutdown_and_errors_combine() {
        let (mut responders, mut rx) = PeekResponder::new(3);
        responders
            .pop()
            .unwrap()
            .respond(Err(PeekError::Eval(EvalError::OutOfRange("x".into()))));
        responders
            .pop()
            .unwrap()
            .respond(Err(PeekError::Eval(EvalError::DivisionByZero)));
        assert!(rx.try_recv().is_err());
        let (mut responders2, mut rx2) = PeekResponder::new(1);
        drop(responders2.pop());
        assert_eq!(rx2.try_recv().unwrap(), Err(PeekError::Shutdown));
        responders.pop().unwrap().respond(Ok(vec![]));
        assert_eq!(
            rx.try_recv().unwrap(),
            Err(PeekError::Eval(EvalError::DivisionByZero))
        );
    }
}
