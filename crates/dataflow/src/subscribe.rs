//! Subscriptions: the changelog of a relation, captured from a dataflow and handed to
//! one consumer as batches in time order.
//!
//! A subscription is a dataflow of its own ([`SubscribeDesc`]): it renders a plan
//! (usually a `Get` that imports a view's arrangement), and a capture operator sends
//! every update to worker 0, which buffers them by time. Once the input frontier has
//! passed a time, every worker's updates at that time have arrived (timely's progress
//! tracking guarantees it), so worker 0 consolidates them and hands the time's
//! [`SubscribeBatch`] to the [`SubscribeReceiver`]. The consumer may be a pgwire
//! session (`SUBSCRIBE`) or anything else that wants a changelog (a Kafka sink).
//!
//! Invariants:
//! - Batches arrive in strictly increasing time order, each exactly once, each complete
//!   (the frontier passed it on every worker) and consolidated (no zero diffs, one
//!   update per distinct row). Times without changes send no batch; the receiver's
//!   [`SubscribeReceiver::upper`] still advances past them.
//! - Updates at or before `as_of` arrive as one batch at `as_of` (the snapshot), or
//!   not at all without `snapshot`.
//! - Workers never block on a subscriber: sending appends to a queue shared with the
//!   receiver. The queue is bounded by `max_buffered_records` (updates sent and not yet
//!   taken by the consumer): a batch that would pass it fails the subscription with
//!   [`SubscribeError::Overflow`] and frees the queue. A batch is always accepted into
//!   an empty queue, so a snapshot larger than the limit still goes out.
//! - An error row in the relation (division by zero, a bad cast) fails the
//!   subscription with that error ([`SubscribeError::Eval`]), the smallest at its
//!   time. After any failure nothing more is sent.
//! - Once every worker has dropped the dataflow (or stopped), a receiver with nothing
//!   left to read gets [`SubscribeError::Shutdown`]. Dropping the receiver makes the
//!   workers discard further updates at once; the dataflow itself goes when the owner
//!   drops it ([`crate::Compute::drop_collection`] with the subscription's id).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use differential_dataflow::consolidation::consolidate;
use eddy_expr::{EvalError, MirRelationExpr};
use eddy_repr::{Diff, GlobalId, Row, Timestamp};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use tokio::sync::{watch, Notify};

use crate::render::{Rendered, Time};

/// A subscription to build: the dataflow computing `plan`, whose changes from `as_of`
/// on are captured.
#[derive(Clone, Debug)]
pub struct SubscribeDesc {
    /// The id under which the dataflow is dropped; never registered as a collection.
    pub id: GlobalId,
    /// A name for logs and operator names.
    pub name: String,
    pub plan: MirRelationExpr,
    /// The first time captured: updates at or before it arrive at `as_of`.
    pub as_of: Timestamp,
    /// Whether the contents at `as_of` are sent (as the first batch); if not, the first
    /// batch is the first change after `as_of`.
    pub snapshot: bool,
    /// Updates sent and not yet taken by the consumer beyond which the subscription
    /// fails with [`SubscribeError::Overflow`].
    pub max_buffered_records: u64,
}

/// The consolidated changes of one complete time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeBatch {
    pub time: Timestamp,
    /// One update per distinct row, none with a zero diff, ordered by row.
    pub updates: Vec<(Row, Diff)>,
}

/// Why a subscription ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The relation holds an error row.
    #[error("{0}")]
    Eval(EvalError),
    /// The consumer fell behind: more than `limit` updates were waiting for it.
    #[error("the subscriber fell behind by more than {limit} updates")]
    Overflow { limit: u64 },
    /// The workers stopped (or dropped the dataflow) with the receiver still reading.
    #[error("compute workers are shut down")]
    Shutdown,
    /// The subscription's dataflow outgrew the one-off query budget (`limit` says
    /// which: `10000000 records`) and was stopped.
    #[error("the subscription holds more than {limit} in its arrangements")]
    ResourceExhausted { limit: String },
}

/// What worker 0 and the receiver share.
struct Channel {
    state: Mutex<ChannelState>,
    /// Wakes the receiver after a batch, a failure, an advance of the upper or the
    /// last sender's drop.
    ready: Notify,
    /// Set once the subscription has failed with [`SubscribeError::Overflow`] (for a
    /// consumer blocked on its client, see [`SubscribeReceiver::overflowed`]).
    overflowed: watch::Sender<bool>,
    max_buffered_records: u64,
}

struct ChannelState {
    batches: VecDeque<SubscribeBatch>,
    /// Updates in `batches`.
    buffered_records: u64,
    /// Every time before it is complete and sent.
    upper: Timestamp,
    /// Set at the first failure; reported after the batches before it.
    error: Option<SubscribeError>,
    /// Senders (one per worker) still alive.
    senders: usize,
    receiver_dropped: bool,
    /// The receiver has read the failure.
    ended: bool,
}

impl Channel {
    fn lock(&self) -> MutexGuard<'_, ChannelState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Creates the two ends of a subscription: one sender per worker, and the receiver.
pub(crate) fn channel(
    workers: usize,
    as_of: Timestamp,
    max_buffered_records: u64,
) -> (Vec<SubscribeSender>, SubscribeReceiver) {
    let channel = Arc::new(Channel {
        state: Mutex::new(ChannelState {
            batches: VecDeque::new(),
            buffered_records: 0,
            upper: as_of,
            error: None,
            senders: workers,
            receiver_dropped: false,
            ended: false,
        }),
        ready: Notify::new(),
        overflowed: watch::Sender::new(false),
        max_buffered_records: max_buffered_records.max(1),
    });
    let senders = (0..workers)
        .map(|_| SubscribeSender {
            channel: Arc::clone(&channel),
        })
        .collect();
    (senders, SubscribeReceiver { channel })
}

/// The consumer's end of a subscription. Dropping it tells the workers to discard
/// further updates (the owner drops the dataflow).
pub struct SubscribeReceiver {
    channel: Arc<Channel>,
}

impl std::fmt::Debug for SubscribeReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscribeReceiver")
            .field("upper", &self.upper())
            .finish_non_exhaustive()
    }
}

impl SubscribeReceiver {
    /// The next complete time's changes, waiting for them; `Err` once the subscription
    /// has failed (after the batches sent before the failure), then `None`.
    pub async fn next(&mut self) -> Option<Result<SubscribeBatch, SubscribeError>> {
        loop {
            if let Some(next) = self.try_next() {
                return next;
            }
            self.channel.ready.notified().await;
        }
    }

    /// The next batch or failure if one is ready: `None` if nothing is, `Some(None)`
    /// after the failure was reported.
    #[allow(clippy::option_option)]
    pub fn try_next(&mut self) -> Option<Option<Result<SubscribeBatch, SubscribeError>>> {
        let mut state = self.channel.lock();
        if state.ended {
            return Some(None);
        }
        if let Some(batch) = state.batches.pop_front() {
            state.buffered_records -= batch.updates.len() as u64;
            return Some(Some(Ok(batch)));
        }
        let error = match &state.error {
            Some(error) => Some(error.clone()),
            None => (state.senders == 0).then_some(SubscribeError::Shutdown),
        };
        // A failure is reported once; afterwards the subscription is over.
        state.ended = error.is_some();
        error.map(|e| Some(Err(e)))
    }

    /// Every time before it is complete: its batch (if it had changes) was sent.
    pub fn upper(&self) -> Timestamp {
        self.channel.lock().upper
    }

    /// Updates sent by the workers and not yet taken by [`SubscribeReceiver::next`].
    pub fn buffered_records(&self) -> u64 {
        self.channel.lock().buffered_records
    }

    /// Resolves once the subscription has failed with [`SubscribeError::Overflow`]
    /// (its queue is then freed): for a consumer blocked on writing a batch out to a
    /// client that does not read, which should then give up on that client.
    pub fn overflowed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut overflowed = self.channel.overflowed.subscribe();
        async move {
            // The sender lives as long as the channel, which this future holds.
            let _ = overflowed.wait_for(|overflowed| *overflowed).await;
        }
    }
}

impl Drop for SubscribeReceiver {
    fn drop(&mut self) {
        let mut state = self.channel.lock();
        state.receiver_dropped = true;
        state.batches.clear();
        state.buffered_records = 0;
    }
}

/// A worker's end of a subscription; only worker 0's sends anything.
pub(crate) struct SubscribeSender {
    channel: Arc<Channel>,
}

/// A way to fail a subscription from outside its dataflow (the worker stopping it
/// over its budget); not a sender: holding one does not keep the subscription alive.
pub(crate) struct SubscribeFailer {
    channel: Arc<Channel>,
}

impl SubscribeFailer {
    pub(crate) fn fail(&self, error: SubscribeError) {
        SubscribeSender::fail_channel(&self.channel, error);
    }
}

impl SubscribeSender {
    /// What fails this subscription from outside its dataflow.
    pub(crate) fn failer(&self) -> SubscribeFailer {
        SubscribeFailer {
            channel: Arc::clone(&self.channel),
        }
    }

    /// Whether updates are still wanted: no failure, and the receiver is there.
    fn is_active(&self) -> bool {
        let state = self.channel.lock();
        state.error.is_none() && !state.receiver_dropped
    }

    /// Sends a complete time's changes (not empty), unless that passes the bound.
    fn send(&self, batch: SubscribeBatch) {
        let mut state = self.channel.lock();
        if state.error.is_some() || state.receiver_dropped {
            return;
        }
        let records = batch.updates.len() as u64;
        let limit = self.channel.max_buffered_records;
        if state.buffered_records > 0 && state.buffered_records + records > limit {
            drop(state);
            self.fail(SubscribeError::Overflow { limit });
            return;
        }
        state.buffered_records += records;
        state.upper = state.upper.max(batch.time + 1);
        state.batches.push_back(batch);
        drop(state);
        self.channel.ready.notify_one();
    }

    /// Records that every time before `upper` is complete.
    fn advance(&self, upper: Timestamp) {
        let mut state = self.channel.lock();
        if upper > state.upper {
            state.upper = upper;
            drop(state);
            self.channel.ready.notify_one();
        }
    }

    /// Fails the subscription: the queue is freed and the error is what the receiver
    /// reads next.
    fn fail(&self, error: SubscribeError) {
        Self::fail_channel(&self.channel, error);
    }

    fn fail_channel(channel: &Channel, error: SubscribeError) {
        let mut state = channel.lock();
        if state.error.is_some() {
            return;
        }
        tracing::debug!(%error, "subscription failed");
        state.batches.clear();
        state.buffered_records = 0;
        let overflow = matches!(error, SubscribeError::Overflow { .. });
        state.error = Some(error);
        drop(state);
        if overflow {
            channel.overflowed.send_replace(true);
        }
        channel.ready.notify_one();
    }
}

impl Drop for SubscribeSender {
    fn drop(&mut self) {
        let mut state = self.channel.lock();
        state.senders = state.senders.saturating_sub(1);
        let last = state.senders == 0;
        drop(state);
        if last {
            self.channel.ready.notify_one();
        }
    }
}

/// Updates of a subscribed relation: rows, or error rows.
type Update = Result<Row, EvalError>;

/// Captures `rendered`'s changes from `as_of` on into `sender` (see the module docs).
/// Every worker calls it with its own sender; the updates all go to worker 0, and only
/// worker 0 reports progress: another worker may see the frontier pass a time as soon
/// as worker 0 has taken that time's updates, before it has sent them.
pub(crate) fn capture(
    rendered: Rendered<'_>,
    name: &str,
    as_of: Time,
    snapshot: bool,
    worker_index: usize,
    sender: SubscribeSender,
) {
    let updates = rendered
        .oks
        .map(Update::Ok)
        .concat(rendered.errs.map(Update::Err));
    let mut pending: BTreeMap<Time, Vec<(Update, Diff)>> = BTreeMap::new();
    updates.inner.sink(
        Exchange::new(|_: &(Update, Time, Diff)| 0),
        name,
        move |(input, frontier)| {
            let active = worker_index == 0 && sender.is_active();
            input.for_each(|_capability, data| {
                if active {
                    for (update, time, diff) in data.drain(..) {
                        pending.entry(time).or_default().push((update, diff));
                    }
                }
            });
            if !active {
                pending.clear();
                return;
            }
            // Only worker 0 gets here (the others receive nothing).
            while let Some(entry) = pending.first_entry() {
                let time = *entry.key();
                if frontier.less_equal(&time) {
                    break;
                }
                let mut updates = entry.remove();
                if !snapshot && time <= as_of {
                    continue;
                }
                consolidate(&mut updates);
                let error = updates
                    .iter()
                    .filter(|(_, diff)| *diff > 0)
                    .find_map(|(update, _)| update.as_ref().err());
                if let Some(error) = error {
                    sender.fail(SubscribeError::Eval(error.clone()));
                    pending.clear();
                    return;
                }
                let rows: Vec<(Row, Diff)> = updates
                    .into_iter()
                    .filter_map(|(update, diff)| update.ok().map(|row| (row, diff)))
                    .collect();
                if !rows.is_empty() {
                    sender.send(SubscribeBatch {
                        time: time.max(as_of),
                        updates: rows,
                    });
                }
            }
            let upper = frontier.frontier().first().copied().unwrap_or(Time::MAX);
            sender.advance(upper.max(as_of));
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_repr::Datum;

    fn row(i: i32) -> Row {
        Row::pack([Datum::Int32(i)].iter())
    }

    fn batch(time: Timestamp, n: usize) -> SubscribeBatch {
        SubscribeBatch {
            time,
            updates: (0..n as i32).map(|i| (row(i), 1)).collect(),
        }
    }

    #[test]
    fn batches_arrive_in_order_and_the_bound_fails_a_slow_receiver() {
        let (mut senders, mut rx) = channel(2, 10, 5);
        let sender = senders.remove(0);
        // A first batch larger than the bound goes into an empty queue.
        sender.send(batch(10, 8));
        assert_eq!(rx.buffered_records(), 8);
        assert_eq!(rx.try_next(), Some(Some(Ok(batch(10, 8)))));
        sender.send(batch(11, 3));
        sender.advance(15);
        assert_eq!(rx.upper(), 15);
        // 3 waiting + 3 more passes 5: the queue is freed and the receiver told.
        sender.send(batch(15, 3));
        assert_eq!(rx.buffered_records(), 0);
        assert_eq!(
            rx.try_next(),
            Some(Some(Err(SubscribeError::Overflow { limit: 5 })))
        );
        assert_eq!(rx.try_next(), Some(None));
        assert!(!sender.is_active());
    }

    #[test]
    fn the_receiver_learns_when_the_workers_are_gone() {
        let (senders, mut rx) = channel(2, 0, 100);
        assert_eq!(rx.try_next(), None);
        let mut senders = senders.into_iter();
        senders.next().unwrap().send(batch(1, 1));
        drop(senders);
        assert_eq!(rx.try_next(), Some(Some(Ok(batch(1, 1)))));
        assert_eq!(rx.try_next(), Some(Some(Err(SubscribeError::Shutdown))));
        assert_eq!(rx.try_next(), Some(None));
    }

    #[test]
    fn a_dropped_receiver_stops_the_sender() {
        let (senders, rx) = channel(1, 0, 100);
        drop(rx);
        assert!(!senders[0].is_active());
        senders[0].send(batch(1, 1));
    }
}
