//! The half join of a delta join path: each change of the path's stream looks up the
//! matching rows of an arrangement as it was at the change's time, and is paired with
//! them at that time.
//!
//! A delta join of inputs `0..n` sums one path per input `i`: the changes of `i`,
//! looked up in every other input `j` as of the change's time `t`: through `t` for
//! `j > i`, strictly before `t` for `j < i`. For two inputs this is
//! `d(A⋈B)_t = dA_t ⋈ B_{≤t} + A_{<t} ⋈ dB_t`, and in general every combination of
//! simultaneous changes is counted by exactly one path (the one of its last input).
//!
//! Invariants:
//! - A change at time `t` is looked up only once the arrangement is complete through
//!   `t` (or through every time before `t`, for a strict lookup): its frontier has
//!   passed them, so the accumulation read is final.
//! - The arrangement is kept exact for every time a pending or future change may read:
//!   its logical compaction is held strictly below the earliest such time.
//! - Work per activation is bounded (values visited); the rest waits for the next
//!   activation, so a hot key never holds the worker.

use std::collections::BTreeMap;

use differential_dataflow::trace::cursor::cursor_list;
use differential_dataflow::trace::{Cursor, TraceReader};
use differential_dataflow::{Hashable, VecCollection};
use eddy_repr::{Diff, Row};
use timely::container::NoopBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::{Operator, OutputBuilderSession};
use timely::dataflow::operators::Capability;
use timely::progress::frontier::AntichainRef;
use timely::scheduling::Activator;

use super::operators::{ErrCollection, KeyedArranged, RowCollection, Time};
use super::pairs::{split, PairOutput, PairResult};

/// Arrangement values visited per activation before the operator yields.
const WORK_PER_ACTIVATION: usize = 100_000;

/// Changes waiting for their time to be complete in the arrangement: the capability to
/// emit at that time, the `(key, row, diff)` changes, and whether they are sorted by
/// key (descending, so that popping visits keys in ascending order).
type Pending = BTreeMap<Time, (Capability<Time>, Vec<(Row, Row, Diff)>, bool)>;

/// Looks up every `(key, row)` change of `stream` in `arranged`, through its time
/// (or strictly before it when `strict`), and applies `logic` to the change's row and
/// each matching arranged row, with the product of their multiplicities.
pub(crate) fn half_join<'s, L>(
    name: &str,
    stream: VecCollection<'s, Time, (Row, Row), Diff>,
    arranged: KeyedArranged<'s>,
    strict: bool,
    mut logic: L,
) -> (RowCollection<'s>, ErrCollection<'s>)
where
    L: FnMut(&Row, &Row) -> PairResult + 'static,
{
    let mut trace = arranged.trace;
    let scope = stream.inner.scope();
    let exchange = Exchange::new(|update: &((Row, Row), Time, Diff)| (update.0).0.hashed());
    let output = stream.inner.binary_frontier(
        arranged.stream,
        exchange,
        Pipeline,
        name,
        move |_capability, info| {
            let activator = Activator::new(info.address, scope.activations());
            let mut pending = Pending::new();
            // Merging batches is never held back: lookups read whole traces.
            trace.set_physical_compaction(AntichainRef::new(&[]));
            move |(changes, changes_frontier), (batches, arranged_frontier), output| {
                let output: &mut OutputBuilderSession<'_, Time, NoopBuilder<PairOutput>> = output;
                changes.for_each(|capability, data| {
                    for ((key, row), time, diff) in data.drain(..) {
                        let entry = pending
                            .entry(time)
                            .or_insert_with(|| (capability.delayed(&time, 0), Vec::new(), true));
                        entry.1.push((key, row, diff));
                        entry.2 = false;
                    }
                });
                // The batches themselves are read from the trace; only their frontier
                // matters here.
                batches.for_each(|_, data| data.clear());

                let mut work = 0;
                let mut cursor_storage = None;
                while let Some(mut entry) = pending.first_entry() {
                    let time = *entry.key();
                    let complete = if strict {
                        !arranged_frontier.less_than(&time)
                    } else {
                        !arranged_frontier.less_equal(&time)
                    };
                    if !complete || work >= WORK_PER_ACTIVATION {
                        break;
                    }
                    let (cursor, storage) = cursor_storage.get_or_insert_with(|| {
                        cursor_list(
                            trace
                                .batches_through(AntichainRef::new(&[]))
                                .expect("the trace is readable"),
                        )
                    });
                    cursor.rewind_keys(storage);
                    let (capability, changes, sorted) = entry.get_mut();
                    if !*sorted {
                        changes.sort_by(|a, b| b.0.cmp(&a.0));
                        *sorted = true;
                    }
                    let mut out = PairOutput::default();
                    while work < WORK_PER_ACTIVATION {
                        let Some((key, row, diff)) = changes.pop() else {
                            break;
                        };
                        work += 1;
                        cursor.seek_key(storage, &key);
                        if cursor.get_key(storage) != Some(&key) {
                            continue;
                        }
                        cursor.rewind_vals(storage);
                        while let Some(val) = cursor.get_val(storage) {
                            work += 1;
                            let mut count: Diff = 0;
                            cursor.map_times(storage, |t, d| {
                                if (strict && *t < time) || (!strict && *t <= time) {
                                    count += *d;
                                }
                            });
                            if count != 0 {
                                let diff = diff.saturating_mul(count);
                                match logic(&row, val) {
                                    Some(Ok(joined)) => out.oks.push((joined, time, diff)),
                                    Some(Err(e)) => out.errs.push((e, time, diff)),
                                    None => {}
                                }
                            }
                            cursor.step_val(storage);
                        }
                    }
                    if !out.oks.is_empty() || !out.errs.is_empty() {
                        output
                            .session_with_builder(&*capability)
                            .give_container(&mut out);
                    }
                    if changes.is_empty() {
                        entry.remove();
                    }
                }
                if work >= WORK_PER_ACTIVATION && !pending.is_empty() {
                    activator.activate();
                }

                // Hold the trace exact for every time a change may still read: below
                // the earliest pending change and the earliest change still to come.
                let earliest = pending
                    .keys()
                    .next()
                    .copied()
                    .into_iter()
                    .chain(changes_frontier.frontier().iter().copied())
                    .min();
                match earliest {
                    Some(t) => {
                        trace.set_logical_compaction(AntichainRef::new(&[t.saturating_sub(1)]))
                    }
                    None => trace.set_logical_compaction(AntichainRef::new(&[])),
                }
            }
        },
    );
    split(&format!("{name}Split"), output)
}
