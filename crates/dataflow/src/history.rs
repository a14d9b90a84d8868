//! The rows of an append-only stream on one worker, kept in arrival order instead of
//! arranged.
//!
//! A table's rows live in an arrangement, which sorts them and keeps merging its
//! batches as it grows: that is what lets retractions cancel out and reads seek by
//! key. A Kafka stream without a retention only ever inserts, so none of that pays
//! for itself there, and sorting and merging every message was most of what ingest
//! cost the workers. Its rows are appended to a [`History`] instead, and read back:
//! - by the dataflows that read the stream, each through its own replay operator
//!   ([`History::replay`]): everything up to its `as_of` first, then each new row as
//!   it is appended;
//! - by a peek, which scans the rows up to its time, in arrival order
//!   ([`History::try_for_each_at`]).
//!
//! Invariants:
//! - A row is appended only at a time at or beyond the upper frontier it was
//!   appended under; the upper only advances. So a replay that has emitted every
//!   row appended so far may hold its capability at the upper it read beside them.
//! - A replay advances every time to its `as_of`, as an imported arrangement would.
//! - Rows stay until the stream is dropped (an append-only stream never shrinks);
//!   compaction only moves `since`, below which reads are refused.
//! - A replay does a bounded amount of work per activation and activates itself
//!   again while rows remain, so a large history never stalls its worker.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use differential_dataflow::operators::arrange::ShutdownButton;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::{AsCollection, VecCollection};
use eddy_repr::{Diff, Row, Timestamp};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::CapabilitySet;
use timely::dataflow::Scope;
use timely::scheduling::Activator;

use crate::render::{compact_trace, hold_trace_at, trace_upper, RowTrace, Time};

/// The updates a chunk of a history has room for, when it is made here.
const CHUNK_CAPACITY: usize = 1024;

/// The most rows a replay emits per activation.
const REPLAY_BUDGET: usize = 64 * 1024;

/// The append-only rows of a stream on this worker (see the module docs).
#[derive(Clone, Default)]
pub(crate) struct History {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    /// Every update, in the order it arrived, in chunks: the containers they arrived
    /// in when those are mostly full, never one growing buffer. Only the last chunk
    /// grows, within its capacity.
    chunks: Vec<Vec<(Row, Time, Diff)>>,
    /// The updates in `chunks`.
    len: usize,
    /// Every update at an earlier time has arrived; `None` once the input is closed.
    upper: Option<Time>,
    /// Reads before this time are refused.
    since: Time,
    /// The replays to wake when updates arrive or the upper advances; each is dropped
    /// once its operator is gone (its token no longer upgrades).
    readers: Vec<(Weak<()>, Activator)>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            chunks: Vec::new(),
            len: 0,
            upper: Some(Time::default()),
            since: Time::default(),
            readers: Vec::new(),
        }
    }
}

impl History {
    /// Appends the updates of `rows`, the stream's input, as they arrive, and follows
    /// its frontier.
    pub(crate) fn record(&self, rows: VecCollection<'_, Time, Row, Diff>, name: &str) {
        let inner = Rc::clone(&self.inner);
        rows.inner.sink(Pipeline, name, move |(input, frontier)| {
            let mut inner = inner.borrow_mut();
            let before = inner.len;
            input.for_each(|_capability, data| {
                if data.is_empty() {
                    return;
                }
                inner.len += data.len();
                match inner.chunks.last_mut() {
                    Some(last) if last.capacity() - last.len() >= data.len() => last.append(data),
                    // A container that is (nearly) full is kept as it is: the common
                    // case under load. Any other (a trickle: an input's buffer has
                    // room for a thousand updates) is copied into a shared chunk, so
                    // that spare room costs no more than one chunk's.
                    _ if 10 * data.len() >= 9 * data.capacity() => {
                        inner.chunks.push(std::mem::take(data))
                    }
                    _ => {
                        let mut chunk = Vec::with_capacity(CHUNK_CAPACITY.max(data.len()));
                        chunk.append(data);
                        inner.chunks.push(chunk);
                    }
                }
            });
            let upper = frontier.frontier().first().copied();
            if upper != inner.upper || inner.len != before {
                inner.upper = upper;
                inner
                    .readers
                    .retain(|(token, activator)| match token.upgrade() {
                        Some(_) => {
                            activator.activate();
                            true
                        }
                        None => false,
                    });
            }
        });
    }

    /// The stream's updates as a collection of `scope`: every update so far at
    /// `as_of`, then each later one at its own time. The button stops the replay, so
    /// that its dataflow can finish.
    pub(crate) fn replay<'s>(
        &self,
        scope: Scope<'s, Time>,
        name: &str,
        as_of: Time,
    ) -> (
        VecCollection<'s, Time, Row, Diff>,
        ShutdownButton<CapabilitySet<Time>>,
    ) {
        let inner = Rc::clone(&self.inner);
        let mut button = None;
        let stream = source::<_, CapacityContainerBuilder<Vec<(Row, Time, Diff)>>, _, _>(
            scope,
            name,
            |capability, info| {
                let activator = scope.activator_for(info.address);
                let token = Rc::new(());
                inner
                    .borrow_mut()
                    .readers
                    .push((Rc::downgrade(&token), activator.clone()));
                let mut capabilities = CapabilitySet::from_elem(capability);
                capabilities.downgrade([as_of]);
                let capabilities = Rc::new(RefCell::new(Some(capabilities)));
                button = Some(ShutdownButton::new(
                    Rc::clone(&capabilities),
                    activator.clone(),
                ));
                // The next update to emit: its chunk, and its offset in the chunk.
                let (mut chunk, mut offset) = (0, 0);
                move |output| {
                    let _token = &token;
                    let mut held = capabilities.borrow_mut();
                    let Some(caps) = held.as_mut() else {
                        return;
                    };
                    let inner = inner.borrow();
                    let mut budget = REPLAY_BUDGET;
                    while budget > 0 {
                        let Some(updates) = inner.chunks.get(chunk) else {
                            break;
                        };
                        if offset == updates.len() {
                            // The last chunk may still grow: stay on it.
                            if chunk + 1 == inner.chunks.len() {
                                break;
                            }
                            chunk += 1;
                            offset = 0;
                            continue;
                        }
                        let end = updates.len().min(offset + budget);
                        // Updates arrive in runs of one time: one session per run.
                        while offset < end {
                            let time = updates[offset].1.max(as_of);
                            let run = updates[offset..end]
                                .iter()
                                .take_while(|(_, t, _)| (*t).max(as_of) == time)
                                .count();
                            let capability = caps.delayed(&time);
                            let mut session = output.session(&capability);
                            session.give_iterator(
                                updates[offset..offset + run]
                                    .iter()
                                    .map(|(row, _, diff)| (row.clone(), time, *diff)),
                            );
                            offset += run;
                            budget -= run;
                        }
                    }
                    let caught_up = chunk + 1 >= inner.chunks.len()
                        && offset == inner.chunks.get(chunk).map_or(0, Vec::len);
                    if !caught_up {
                        activator.activate();
                        return;
                    }
                    match inner.upper {
                        Some(upper) => caps.downgrade([upper.max(as_of)]),
                        None => *held = None,
                    }
                }
            },
        );
        let button = button.expect("a source operator's constructor runs at once");
        (stream.as_collection(), button)
    }

    /// Calls `visit` on each update at or before `time` (which must be before the
    /// upper), in arrival order, unconsolidated (a row that arrived twice is visited
    /// twice), and stops at its first error.
    pub(crate) fn try_for_each_at<E>(
        &self,
        time: Timestamp,
        mut visit: impl FnMut(&Row, Diff) -> Result<(), E>,
    ) -> Result<(), E> {
        let inner = self.inner.borrow();
        for (row, _, diff) in inner.chunks.iter().flatten().filter(|(_, t, _)| *t <= time) {
            visit(row, *diff)?;
        }
        Ok(())
    }

    /// Every update at an earlier time has arrived (`None`: the input is closed).
    pub(crate) fn upper(&self) -> Option<Time> {
        self.inner.borrow().upper
    }

    /// Reads before this time are refused.
    pub(crate) fn since(&self) -> Time {
        self.inner.borrow().since
    }

    pub(crate) fn set_since(&self, since: Time) {
        let mut inner = self.inner.borrow_mut();
        inner.since = inner.since.max(since);
    }

    /// The updates held.
    pub(crate) fn len(&self) -> usize {
        self.inner.borrow().len
    }
}

/// Where a collection's rows live on a worker: an arrangement (tables and views), or
/// the history of an append-only stream.
#[derive(Clone)]
pub(crate) enum RowStore {
    Arranged(RowTrace),
    Appended(History),
}

impl RowStore {
    /// Every update at an earlier time is in (`None`: the empty frontier).
    pub(crate) fn upper(&mut self) -> Option<Time> {
        match self {
            RowStore::Arranged(trace) => trace_upper(trace),
            RowStore::Appended(history) => history.upper(),
        }
    }

    /// Whether every update at times `<= time` is in.
    pub(crate) fn is_complete(&mut self, time: Time) -> bool {
        self.upper().is_none_or(|upper| upper > time)
    }

    /// Reads before this time are refused (they would be inexact).
    pub(crate) fn since(&mut self) -> Time {
        match self {
            RowStore::Arranged(trace) => trace
                .get_logical_compaction()
                .first()
                .copied()
                .unwrap_or(Time::MAX),
            RowStore::Appended(history) => history.since(),
        }
    }

    /// Allows reads at `since` and later only.
    pub(crate) fn compact(&mut self, since: Time) {
        match self {
            RowStore::Arranged(trace) => compact_trace(trace, since),
            RowStore::Appended(history) => history.set_since(since),
        }
    }

    /// A handle of its own that keeps reads at `time` exact until it is dropped.
    pub(crate) fn hold_at(&self, time: Time) -> RowStore {
        let mut held = self.clone();
        if let RowStore::Arranged(trace) = &mut held {
            hold_trace_at(trace, time);
        }
        held
    }
}

#[cfg(test)]
mod tests {
    use differential_dataflow::input::Input;
    use eddy_repr::Datum;

    use super::*;

    /// The room a history holds for updates, over all its chunks.
    fn capacity(history: &History) -> usize {
        history
            .inner
            .borrow()
            .chunks
            .iter()
            .map(Vec::capacity)
            .sum()
    }

    #[test]
    fn a_trickle_shares_chunks_and_a_flood_keeps_its_containers() {
        timely::execute_directly(|worker| {
            let history = History::default();
            let mut input = worker.dataflow::<Time, _, _>(|scope| {
                let (input, rows) = scope.new_collection::<Row, Diff>();
                history.record(rows, "History");
                input
            });
            let row = |i: i32| Row::pack([Datum::Int32(i)].iter());
            // One update per time: each input buffer has room for a thousand.
            for time in 1..=500u64 {
                input.update_at(row(time as i32), time, 1);
                input.advance_to(time + 1);
                input.flush();
                worker.step();
            }
            assert_eq!(history.len(), 500);
            assert!(
                capacity(&history) <= 2 * CHUNK_CAPACITY,
                "{}",
                capacity(&history)
            );
            // Many updates at one time arrive in full containers, kept as they are.
            let chunks = history.inner.borrow().chunks.len();
            for i in 0..100_000 {
                input.update_at(row(i), 1000, 1);
            }
            input.advance_to(1001);
            input.flush();
            for _ in 0..10 {
                worker.step();
            }
            assert_eq!(history.len(), 100_500);
            assert!(history.inner.borrow().chunks.len() - chunks <= 100_000 / 1000 + 1);
            assert!(capacity(&history) <= 100_500 * 2);
            let mut seen = 0;
            history
                .try_for_each_at(999, |_, diff| {
                    seen += diff;
                    Ok::<(), ()>(())
                })
                .unwrap();
            assert_eq!(seen, 500);
        });
    }
}
