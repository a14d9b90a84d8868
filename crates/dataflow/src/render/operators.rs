//! Small dataflow building blocks shared by the renderers: the collection and trace
//! types every rendered relation uses, a named fallible `flat_map` that splits its
//! output into rows and errors, and key packing for joins and reductions.
//!
//! Invariants:
//! - Every relation is a pair of collections: `oks` (rows) and `errs` (evaluation
//!   errors). An operator that evaluates user expressions never panics: a failure
//!   becomes an update of `errs` with the diff of the row that caused it.
//! - Keys built here compare the way SQL compares them: numerics are normalized
//!   (`1.0` and `1.00` pack to the same key) and a key with a NULL never matches.

use differential_dataflow::consolidation::consolidate_updates;
use differential_dataflow::difference::Semigroup;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::{KeySpine, ValBuilder, ValSpine};
use differential_dataflow::trace::TraceReader;
use differential_dataflow::{AsCollection, Data, VecCollection};
use eddy_expr::EvalError;
use eddy_repr::{Datum, Diff, OrdF32, OrdF64, Row, Timestamp};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::progress::frontier::AntichainRef;
use timely::progress::operate::FrontierInterest;
use timely::progress::Antichain;

/// The time of every dataflow: the coordinator's millisecond timestamps.
pub(crate) type Time = Timestamp;

/// A collection of rows.
pub(crate) type RowCollection<'s> = VecCollection<'s, Time, Row, Diff>;
/// A collection of evaluation errors.
pub(crate) type ErrCollection<'s> = VecCollection<'s, Time, EvalError, Diff>;

/// An arrangement of rows by the whole row (the shape of every exported collection).
pub(crate) type RowSpine = KeySpine<Row, Time, Diff>;
/// An arrangement of errors by the error.
pub(crate) type ErrSpine = KeySpine<EvalError, Time, Diff>;
/// An arrangement of `(key, row)` pairs: join inputs and reduction inputs and outputs.
pub(crate) type KeyedSpine = ValSpine<Row, Row, Time, Diff>;
pub(crate) type KeyedBuilder = ValBuilder<Row, Row, Time, Diff>;

pub(crate) type RowTrace = TraceAgent<RowSpine>;
pub(crate) type ErrTrace = TraceAgent<ErrSpine>;
pub(crate) type KeyedArranged<'s> = Arranged<'s, TraceAgent<KeyedSpine>>;

/// Every update of `trace` at an earlier time is in (`None`: the empty frontier).
pub(crate) fn trace_upper<Tr: TraceReader<Time = Time>>(trace: &mut Tr) -> Option<Time> {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    upper.first().copied()
}

/// Allows `trace` to compact up to `since`: reads at `since` and later stay exact.
pub(crate) fn compact_trace<Tr: TraceReader<Time = Time>>(trace: &mut Tr, since: Time) {
    trace.set_logical_compaction(AntichainRef::new(&[since]));
    trace.set_physical_compaction(AntichainRef::new(&[since]));
}

/// Makes `trace` (a handle of its own) hold reads at `time` exact until it is dropped.
pub(crate) fn hold_trace_at<Tr: TraceReader<Time = Time>>(trace: &mut Tr, time: Time) {
    trace.set_logical_compaction(AntichainRef::new(&[time]));
    trace.set_physical_compaction(AntichainRef::new(&[]));
}

/// Bytes of the rows that a one-off dataflow's arrangements have taken in, on this
/// worker (`None` for dataflows that are kept up to date: they are never limited).
pub(crate) type ByteMeter = Option<std::rc::Rc<std::cell::Cell<i64>>>;

/// `rows`, with the bytes of each row that passes counted into `meter`.
pub(crate) fn metered<'s>(rows: RowCollection<'s>, meter: &ByteMeter) -> RowCollection<'s> {
    match meter {
        None => rows,
        Some(meter) => {
            let meter = std::rc::Rc::clone(meter);
            rows.inspect(move |(row, _time, _diff)| {
                meter.set(meter.get().saturating_add(row.byte_len() as i64));
            })
        }
    }
}

/// What a collection's output has carried on one worker since it was built: the
/// updates, their net rows (the sum of their diffs) and the net bytes of those rows
/// (encoded row bytes times the diff), for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    pub updates: u64,
    pub rows: i64,
    pub row_bytes: i64,
}

/// Where a collection's output counts its [`Flow`] on this worker.
pub(crate) type FlowMeter = std::rc::Rc<std::cell::Cell<Flow>>;

/// `rows`, with every update that passes counted into `meter`.
pub(crate) fn counted<'s>(rows: RowCollection<'s>, meter: &FlowMeter) -> RowCollection<'s> {
    let meter = std::rc::Rc::clone(meter);
    rows.inspect(move |(row, _time, diff)| {
        let mut flow = meter.get();
        flow.updates += 1;
        flow.rows += diff;
        flow.row_bytes += row.byte_len() as i64 * diff;
        meter.set(flow);
    })
}

/// A relation rendered into a dataflow: its rows and its errors.
#[derive(Clone)]
pub(crate) struct Rendered<'s> {
    pub oks: RowCollection<'s>,
    pub errs: ErrCollection<'s>,
}

/// An operator output that builds vectors of `(data, time, diff)` updates.
pub(crate) type VecOutput<D, R = Diff> =
    OutputBuilder<Time, CapacityContainerBuilder<Vec<(D, Time, R)>>>;

/// Applies `logic` to every record of `input`. `Some(Ok(out))` emits `out` to the first
/// output, `Some(Err(e))` emits `e` to the error output, and `None` drops the record;
/// every emitted record keeps the time and diff of its input.
pub(crate) fn flat_map_fallible<'s, D, O, I, L>(
    input: VecCollection<'s, Time, D, Diff>,
    name: &str,
    mut logic: L,
) -> (VecCollection<'s, Time, O, Diff>, ErrCollection<'s>)
where
    D: Data,
    O: Data,
    I: IntoIterator<Item = Result<O, EvalError>>,
    L: FnMut(D) -> I + 'static,
{
    // The special case of `flat_map_delayed_fallible` that keeps every time.
    flat_map_delayed_fallible(input, name, move |data, time, diff| {
        logic(data)
            .into_iter()
            .map(move |result| result.map(|out| (out, time, diff)))
    })
}

/// Applies `logic` to every update of `input`, which may move it to a later time: each
/// `Ok((out, time, diff))` goes to the first output, each `Err(e)` to the error output
/// at the input's time and diff. The times `logic` returns must not be before the
/// input's (differential's `delay`): an update at a future time travels under the
/// input's capability, and the arrangement downstream holds it until the frontier
/// reaches its time.
pub(crate) fn flat_map_delayed_fallible<'s, D, O, I, L>(
    input: VecCollection<'s, Time, D, Diff>,
    name: &str,
    mut logic: L,
) -> (VecCollection<'s, Time, O, Diff>, ErrCollection<'s>)
where
    D: Data,
    O: Data,
    I: IntoIterator<Item = Result<(O, Time, Diff), EvalError>>,
    L: FnMut(D, Time, Diff) -> I + 'static,
{
    let mut builder = OperatorBuilder::new(name.to_owned(), input.inner.scope());
    let mut handle = builder.new_input(input.inner, Pipeline);
    builder.set_notify_for(0, FrontierInterest::Never);
    let (oks_output, oks_stream) = builder.new_output();
    let (errs_output, errs_stream) = builder.new_output();
    let mut oks_output: VecOutput<O> = OutputBuilder::from(oks_output);
    let mut errs_output: VecOutput<EvalError> = OutputBuilder::from(errs_output);

    builder.build(move |_capabilities| {
        move |_frontiers| {
            let mut oks_handle = oks_output.activate();
            let mut errs_handle = errs_output.activate();
            handle.for_each_stamp(|capability, containers| {
                let mut oks = oks_handle.session(&capability);
                let mut errs = errs_handle.session(&capability);
                for container in containers {
                    for (data, time, diff) in container.drain(..) {
                        for result in logic(data, time, diff) {
                            match result {
                                Ok((out, later, d)) => {
                                    debug_assert!(later >= time, "an update moved back in time");
                                    oks.give((out, later.max(time), d))
                                }
                                Err(err) => errs.give((err, time, diff)),
                            }
                        }
                    }
                }
            });
        }
    });

    (oks_stream.as_collection(), errs_stream.as_collection())
}

/// A datum as a grouping key: `-0` is `0`, as SQL equality has it (rows keep the sign,
/// which Postgres prints). Display is kept otherwise, so a group key shows a value the
/// group holds.
pub(crate) fn group_datum(datum: Datum) -> Datum {
    match datum {
        Datum::Float64(f) if f.0 == 0.0 => Datum::Float64(OrdF64(0.0)),
        Datum::Float32(f) if f.0 == 0.0 => Datum::Float32(OrdF32(0.0)),
        other => other,
    }
}

/// Normalizes a datum for use in a join key, so that SQL-equal values pack to equal
/// bytes.
pub(crate) fn key_datum(datum: Datum) -> Datum {
    match datum {
        Datum::Numeric(d) => Datum::Numeric(d.normalize()),
        other => group_datum(other),
    }
}

/// `row` with every `-0` made `0` (the same row when it has none), so that rows SQL
/// holds equal are one record where whole rows are compared (EXCEPT, INTERSECT).
pub(crate) fn group_row(row: Row) -> Row {
    let negative_zero = |d: &Datum| match d {
        Datum::Float64(f) => f.0 == 0.0 && f.0.is_sign_negative(),
        Datum::Float32(f) => f.0 == 0.0 && f.0.is_sign_negative(),
        _ => false,
    };
    if row.iter().any(|d| negative_zero(&d)) {
        Row::from_datums(row.iter().map(group_datum).collect())
    } else {
        row
    }
}

/// The group key of `row`: its `columns`, each normalized by [`group_datum`] (TopK
/// and window partitions key rows by it).
pub(crate) fn group_key(row: &Row, columns: &[usize]) -> Row {
    let datums = row.unpack();
    Row::from_datums(
        columns
            .iter()
            .map(|c| group_datum(datums[*c].clone()))
            .collect(),
    )
}

/// Packs the datums of a join key; `None` if any is NULL (a NULL key matches nothing).
pub(crate) fn pack_join_key(datums: Vec<Datum>) -> Option<Row> {
    if datums.iter().any(Datum::is_null) {
        return None;
    }
    Some(Row::from_datums(
        datums.into_iter().map(key_datum).collect(),
    ))
}

/// A stable hash of a row, used to spread the rows of one group over buckets. It is
/// the same on every worker and process (differential's `Hashable`).
pub(crate) fn row_hash(row: &Row) -> u64 {
    use differential_dataflow::Hashable;
    row.hashed()
}

/// The collection `row` appended with one more column `datum`.
pub(crate) fn append_datum(row: &Row, datum: &Datum) -> Row {
    row.concat(&Row::pack(std::iter::once(datum)))
}

/// The first `n` datums of `row`, repacked.
pub(crate) fn row_prefix(row: &Row, n: usize) -> Row {
    Row::from_datums(row.iter().take(n).collect())
}

/// The most records an [`explode_fallible`] buffer keeps room for between activations.
const EXPLODE_BUFFER_KEPT: usize = 4096;

/// Applies `logic` to every record of `input`, which may drop it or replace both the
/// record and its diff (for example by a diff that carries aggregate values), and sums
/// the diffs of equal records at equal times among those that arrive together (one
/// activation's worth, per input time): what the arrangement downstream would do
/// anyway, done before the records are exchanged and sorted. A batch of many records
/// over few keys leaves as one record per key.
pub(crate) fn explode_named<'s, D, O, R, L>(
    input: VecCollection<'s, Time, D, Diff>,
    name: &str,
    mut logic: L,
) -> VecCollection<'s, Time, O, R>
where
    D: Data,
    O: Data,
    R: Data + Semigroup,
    L: FnMut(D, Diff) -> Option<(O, R)> + 'static,
{
    explode_fallible(input, name, move |d, diff| logic(d, diff).map(Ok)).0
}

/// [`explode_named`] for a `logic` that may fail: `Some(Err(e))` emits `e` to the error
/// output, at the time and diff of the record that caused it.
pub(crate) fn explode_fallible<'s, D, O, R, L>(
    input: VecCollection<'s, Time, D, Diff>,
    name: &str,
    mut logic: L,
) -> (VecCollection<'s, Time, O, R>, ErrCollection<'s>)
where
    D: Data,
    O: Data,
    R: Data + Semigroup,
    L: FnMut(D, Diff) -> Option<Result<(O, R), EvalError>> + 'static,
{
    let mut builder = OperatorBuilder::new(name.to_owned(), input.inner.scope());
    let mut handle = builder.new_input(input.inner, Pipeline);
    builder.set_notify_for(0, FrontierInterest::Never);
    let (oks_output, oks_stream) = builder.new_output();
    let (errs_output, errs_stream) = builder.new_output();
    let mut oks_output: VecOutput<O, R> = OutputBuilder::from(oks_output);
    let mut errs_output: VecOutput<EvalError> = OutputBuilder::from(errs_output);

    builder.build(move |_capabilities| {
        // This activation's records, by the time of their input's capability:
        // `buffers[i]` holds those of `pending[i]`. The buffers' allocations are kept
        // between activations: a large buffer freed and allocated again each time
        // would be fresh memory each time.
        let mut pending: Vec<Capability<Time>> = Vec::new();
        let mut buffers: Vec<Vec<(O, Time, R)>> = Vec::new();
        move |_frontiers| {
            let mut oks_handle = oks_output.activate();
            let mut errs_handle = errs_output.activate();
            handle.for_each_stamp(|capability, containers| {
                // Times are totally ordered: a capability is one time.
                let Some(&at) = capability.least() else {
                    return;
                };
                let slot = match pending.iter().position(|c| *c.time() == at) {
                    Some(slot) => slot,
                    None => {
                        pending.push(capability.delayed(&at, 0));
                        if buffers.len() < pending.len() {
                            buffers.push(Vec::new());
                        }
                        pending.len() - 1
                    }
                };
                let updates = &mut buffers[slot];
                let mut errs = errs_handle.session(&capability);
                for container in containers {
                    for (d, time, diff) in container.drain(..) {
                        match logic(d, diff) {
                            Some(Ok((out, r))) => updates.push((out, time, r)),
                            Some(Err(err)) => errs.give((err, time, diff)),
                            None => {}
                        }
                    }
                }
            });
            for (capability, updates) in pending.drain(..).zip(&mut buffers) {
                consolidate_updates(updates);
                oks_handle
                    .session(&capability)
                    .give_iterator(updates.drain(..));
                updates.shrink_to(EXPLODE_BUFFER_KEPT);
            }
        }
    });

    (oks_stream.as_collection(), errs_stream.as_collection())
}

/// A reduction of `input` (arranged by key) by `logic`, which maps a key's values (with
/// their counts) to its output values, kept under the key. The one shape every keyed
/// reduction here has (TopK, windows, running aggregates, hierarchical min/max).
pub(crate) fn reduce_keyed<'s, L>(
    input: KeyedArranged<'s>,
    name: &str,
    mut logic: L,
) -> KeyedArranged<'s>
where
    L: FnMut(&[(&Row, Diff)], &mut Vec<(Row, Diff)>) + 'static,
{
    input.reduce_abelian::<_, KeyedBuilder, KeyedSpine, _, _>(
        name,
        move |_key, vals, out| logic(vals, out),
        keyed_output,
    )
}

/// Puts a reduction's output values for `key` under the key, as a keyed arrangement
/// holds them (the output function of every `reduce_abelian` into a [`KeyedSpine`]).
pub(crate) fn keyed_output(
    buffer: &mut Vec<((Row, Row), Time, Diff)>,
    key: &Row,
    updates: &mut Vec<(Row, Time, Diff)>,
) {
    buffer.clear();
    buffer.extend(
        updates
            .drain(..)
            .map(|(val, time, diff)| ((key.clone(), val), time, diff)),
    );
}
