//! A running `SUBSCRIBE` as its session sees it: [`Subscription`], the rows of each
//! complete time, `(eddy_timestamp, eddy_diff, columns...)`, until it fails.
//!
//! The coordinator starts it (`sequence/subscribe.rs`): a subscription dataflow in
//! `dataflow` reading the relation from the oracle's read time on, so it sees the
//! contents at that time (with `SNAPSHOT`) and then every later committed write
//! exactly once, in time order.
//!
//! Invariants:
//! - A subscription never ends on its own: it ends with an error, after which
//!   [`Subscription::next`] returns `None`. The errors: the session's cancel request
//!   (57014, through [`crate::cancel::Cancels`], as for any read), a relation it reads
//!   was dropped (42P01), the client fell behind by more than
//!   `--subscribe-max-buffered-records` updates (53200), an error row in the relation
//!   (its own SQLSTATE), or the workers stopped (57P01).
//! - Dropping a `Subscription` (the client cancelled, disconnected, or the statement
//!   ended with an error) drops its dataflow: nothing of it stays on the workers.

use std::future::Future;

use eddy_dataflow::{SubscribeBatch, SubscribeError, SubscribeReceiver};
use eddy_repr::{Datum, GlobalId, RelationDesc, Row, SqlError, SqlState};
pub use eddy_sql::SubscribeOutput;
use tokio::sync::{mpsc, oneshot};

use crate::command::Command;

/// A running `SUBSCRIBE`. See the module docs.
pub struct Subscription {
    pub(crate) id: GlobalId,
    pub(crate) desc: RelationDesc,
    pub(crate) output: SubscribeOutput,
    pub(crate) receiver: SubscribeReceiver,
    /// The session's cancel request.
    pub(crate) cancel: Option<oneshot::Receiver<SqlError>>,
    /// The coordinator ends the subscription (a relation it reads was dropped).
    pub(crate) ended: Option<oneshot::Receiver<SqlError>>,
    /// Where the drop of the dataflow is sent.
    pub(crate) coordinator: mpsc::Sender<Command>,
    pub(crate) done: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The rows a client sees: `eddy_timestamp`, `eddy_diff`, then the relation's
    /// columns.
    pub fn desc(&self) -> &RelationDesc {
        &self.desc
    }

    /// Whether the client asked for rows or COPY data.
    pub fn output(&self) -> SubscribeOutput {
        self.output
    }

    /// The rows of the next complete time with changes, each
    /// `(eddy_timestamp, eddy_diff, columns...)`, in the order of the row's columns;
    /// waits for it. After an error, `None`.
    pub async fn next(&mut self) -> Option<Result<Vec<Row>, SqlError>> {
        if self.done {
            return None;
        }
        // The coordinator's word comes first: it ends a subscription before it drops
        // the dataflow, whose workers then report a shutdown.
        let next = tokio::select! {
            biased;
            err = fired(&mut self.cancel) => Err(err),
            err = fired(&mut self.ended) => Err(err),
            next = self.receiver.next() => match next {
                Some(Ok(batch)) => Ok(rows(batch)),
                Some(Err(e)) => Err(subscribe_error(e)),
                None => Err(subscribe_error(SubscribeError::Shutdown)),
            },
        };
        self.done = next.is_err();
        Some(next)
    }

    /// Resolves once the client has fallen too far behind (more than
    /// `--subscribe-max-buffered-records` updates waiting): for a consumer blocked on
    /// writing rows to a client that does not read, which should then close the
    /// connection; [`Subscription::next`] reports the error (53200).
    pub fn fell_behind(&self) -> impl Future<Output = ()> + Send + 'static {
        self.receiver.overflowed()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        crate::sequence::drop_transient(self.id, self.coordinator.clone());
    }
}

/// Waits for a oneshot that may fire; a closed one never does.
async fn fired(rx: &mut Option<oneshot::Receiver<SqlError>>) -> SqlError {
    match rx.as_mut() {
        Some(inner) => match inner.await {
            Ok(err) => {
                *rx = None;
                err
            }
            Err(_) => {
                *rx = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

/// A batch as client rows: the time and diff lead every row.
fn rows(batch: SubscribeBatch) -> Vec<Row> {
    let time = Datum::Int64(i64::try_from(batch.time).unwrap_or(i64::MAX));
    batch
        .updates
        .into_iter()
        .map(|(row, diff)| {
            let lead = [time.clone(), Datum::Int64(diff)];
            Row::pack(lead.iter().chain(row.unpack().iter()))
        })
        .collect()
}

/// The error a client sees when a subscription fails on the workers' side.
pub(crate) fn subscribe_error(err: SubscribeError) -> SqlError {
    match err {
        SubscribeError::Eval(e) => e.into(),
        SubscribeError::Overflow { limit } => SqlError::new(
            SqlState::OUT_OF_MEMORY,
            "subscribe dropped: the client fell behind",
        )
        .with_detail(format!(
            "More than {limit} updates were waiting to be sent to the client."
        ))
        .with_hint(
            "Read the subscription faster, or raise eddy serve --subscribe-max-buffered-records.",
        ),
        SubscribeError::ResourceExhausted { limit } => {
            SqlError::new(SqlState::OUT_OF_MEMORY, "out of memory")
                .with_detail(format!(
                    "The subscription held more than {limit} in its dataflow's arrangements."
                ))
                .with_hint(
                    "Add join conditions or filters, or raise eddy serve --query-max-records.",
                )
        }
        SubscribeError::Shutdown => SqlError::new(
            SqlState::ADMIN_SHUTDOWN,
            "subscribe ended: the compute workers stopped",
        ),
    }
}

/// The error a subscription ends with when a relation it reads is dropped.
pub(crate) fn relation_dropped(name: &str) -> SqlError {
    SqlError::new(
        SqlState::UNDEFINED_TABLE,
        format!("subscribe ended: relation \"{name}\" was dropped"),
    )
}
