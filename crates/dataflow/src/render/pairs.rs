//! The join step of every rendered join: pairs the rows of two arrangements that share
//! a key, applies the step's filters to each pair as it is formed, and yields control
//! to the worker after a bounded amount of work — also in the middle of one key.
//!
//! Differential's stock cursor join forms the whole product of one key before it
//! yields; for a hot key or a keyless (cross) join that product is the whole output,
//! so a single step could allocate without bound and no cancel or memory check could
//! run until it ended. Here the product is walked with the two cursors as the loop
//! state (the outer input's value, the inner input's value), so a step stops after
//! [`PAIRS_PER_CONTAINER`] pairs wherever it is and resumes there on the next call.
//!
//! Invariants:
//! - The emitted updates are those of the stock join: every pair of updates
//!   `(v1, t1, d1)`, `(v2, t2, d2)` at one key gives `(logic(v1, v2), t1 ⊔ t2, d1·d2)`,
//!   with the accumulated side's times advanced by the fresh batch's lower bound
//!   (`meet`) and consolidated per value, which changes no accumulation at or beyond it.
//! - A pair the logic rejects costs work but no allocation; the work done is what a
//!   container reports as its record count (times [`FUEL_PER_PAIR`]), so the join
//!   driver's fuel bounds the pairs examined per activation, not only the rows emitted.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::rc::Rc;

use differential_dataflow::lattice::Lattice;
use differential_dataflow::operators::join::{join_with_tactic, Fresh, JoinTactic};
use differential_dataflow::trace::cursor::{cursor_list, CursorList, Navigable};
use differential_dataflow::trace::Cursor;
use differential_dataflow::AsCollection;
use eddy_expr::EvalError;
use eddy_repr::{Diff, Row};
use timely::container::Accountable;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::Stream;
use timely::progress::operate::FrontierInterest;

use super::operators::{ErrCollection, KeyedArranged, RowCollection, Time};

/// Pairs examined before a call yields its container (and the worker may run others).
const PAIRS_PER_CONTAINER: usize = 4096;
/// Rows emitted before a call yields its container.
const ROWS_PER_CONTAINER: usize = 1024;

/// What the join step makes of one pair of rows: a joined row, an error, or nothing
/// (the pair fails the step's filters).
pub(crate) type PairResult = Option<Result<Row, EvalError>>;

/// The output of a join step between two yields: its rows and errors, and the pairs it
/// examined to find them.
#[derive(Clone, Default)]
pub(crate) struct PairOutput {
    pub(super) oks: Vec<(Row, Time, Diff)>,
    pub(super) errs: Vec<(EvalError, Time, Diff)>,
    pub(super) work: usize,
}

/// What one pair or row costs of the join driver's fuel (a million per activation):
/// 16 makes an activation form at most 62,500 pairs, so a large product reaches the
/// operators after the join, and the worker's checks (budget, cancel), in steps.
const FUEL_PER_PAIR: usize = 16;

impl Accountable for PairOutput {
    fn record_count(&self) -> i64 {
        let records = self.oks.len() + self.errs.len();
        i64::try_from(records.max(self.work).saturating_mul(FUEL_PER_PAIR)).unwrap_or(i64::MAX)
    }

    fn is_empty(&self) -> bool {
        self.oks.is_empty() && self.errs.is_empty()
    }
}

/// Joins two arrangements by key, applying `logic` to every matching pair of rows
/// (the left arrangement's row first); returns the joined rows and their errors.
pub(crate) fn join_pairs<'s, L>(
    name: &str,
    left: KeyedArranged<'s>,
    right: KeyedArranged<'s>,
    logic: L,
) -> (RowCollection<'s>, ErrCollection<'s>)
where
    L: FnMut(&Row, &Row) -> PairResult + 'static,
{
    let tactic = PairTactic {
        logic: Rc::new(RefCell::new(logic)),
    };
    let output = join_with_tactic(left, right, name, tactic);
    split(&format!("{name}Split"), output)
}

struct PairTactic<L> {
    logic: Rc<RefCell<L>>,
}

impl<B, L> JoinTactic<Time, B, B, PairOutput> for PairTactic<L>
where
    B: Navigable + 'static,
    B::Cursor: for<'a> Cursor<Key<'a> = &'a Row, Val<'a> = &'a Row, Time = Time, Diff = Diff>,
    L: FnMut(&Row, &Row) -> PairResult + 'static,
{
    fn prep(
        &mut self,
        input0: Vec<B>,
        input1: Vec<B>,
        fresh: Fresh,
        meet: Time,
    ) -> Box<dyn Iterator<Item = PairOutput>> {
        let (cursor1, storage1) = cursor_list(input0);
        let (cursor2, storage2) = cursor_list(input1);
        // The accumulated side's history is advanced to `meet`; the fresh side's times
        // are already at or beyond it.
        let (advance1, advance2) = match fresh {
            Fresh::Input0 => (None, Some(meet)),
            Fresh::Input1 => (Some(meet), None),
        };
        Box::new(Pairs {
            cursor1,
            storage1,
            cursor2,
            storage2,
            advance1,
            advance2,
            logic: Rc::clone(&self.logic),
            in_key: false,
            times1: None,
            times2: Vec::new(),
            done: false,
        })
    }
}

/// The product of two cursor lists at their common keys, walked resumably.
struct Pairs<C1: Cursor, C2: Cursor, L> {
    cursor1: CursorList<C1>,
    storage1: Vec<C1::Storage>,
    cursor2: CursorList<C2>,
    storage2: Vec<C2::Storage>,
    advance1: Option<Time>,
    advance2: Option<Time>,
    logic: Rc<RefCell<L>>,
    /// Whether both cursors sit at the same key, inside its product.
    in_key: bool,
    /// The consolidated times of the outer cursor's current value, once loaded.
    times1: Option<Vec<(Time, Diff)>>,
    /// Scratch for the inner cursor's value.
    times2: Vec<(Time, Diff)>,
    done: bool,
}

/// The updates of `cursor`'s current value into `times`, advanced to `advance` and
/// consolidated (times that cancel are dropped).
fn load_times<C>(
    cursor: &mut C,
    storage: &C::Storage,
    advance: Option<Time>,
    times: &mut Vec<(Time, Diff)>,
) where
    C: Cursor<Time = Time, Diff = Diff>,
{
    times.clear();
    cursor.map_times(storage, |time, diff| {
        let mut time = C::owned_time(time);
        if let Some(meet) = &advance {
            time.join_assign(meet);
        }
        times.push((time, C::owned_diff(diff)));
    });
    if times.len() > 1 {
        differential_dataflow::consolidation::consolidate(times);
    }
}

impl<C1, C2, L> Iterator for Pairs<C1, C2, L>
where
    C1: for<'a> Cursor<Key<'a> = &'a Row, Val<'a> = &'a Row, Time = Time, Diff = Diff>,
    C2: for<'a> Cursor<Key<'a> = &'a Row, Val<'a> = &'a Row, Time = Time, Diff = Diff>,
    L: FnMut(&Row, &Row) -> PairResult,
{
    type Item = PairOutput;

    fn next(&mut self) -> Option<PairOutput> {
        if self.done {
            return None;
        }
        let mut out = PairOutput::default();
        let mut logic = self.logic.borrow_mut();
        let (storage1, storage2) = (&self.storage1, &self.storage2);
        let (cursor1, cursor2) = (&mut self.cursor1, &mut self.cursor2);
        while out.work < PAIRS_PER_CONTAINER && out.oks.len() < ROWS_PER_CONTAINER {
            out.work += 1;
            if !self.in_key {
                match (cursor1.get_key(storage1), cursor2.get_key(storage2)) {
                    (Some(key1), Some(key2)) => match key1.cmp(key2) {
                        Ordering::Less => cursor1.seek_key(storage1, key2),
                        Ordering::Greater => cursor2.seek_key(storage2, key1),
                        Ordering::Equal => self.in_key = true,
                    },
                    _ => {
                        self.done = true;
                        break;
                    }
                }
                continue;
            }
            let Some(val1) = cursor1.get_val(storage1) else {
                // The key's product is complete.
                cursor1.step_key(storage1);
                cursor2.step_key(storage2);
                self.in_key = false;
                continue;
            };
            let Some(val2) = cursor2.get_val(storage2) else {
                // `val1` is paired with every inner value: on to the next outer value.
                cursor1.step_val(storage1);
                cursor2.rewind_vals(storage2);
                self.times1 = None;
                continue;
            };
            let times1 = self.times1.get_or_insert_with(|| {
                let mut times = Vec::new();
                load_times(cursor1, storage1, self.advance1, &mut times);
                times
            });
            if !times1.is_empty() {
                load_times(cursor2, storage2, self.advance2, &mut self.times2);
                if !self.times2.is_empty() {
                    match logic(val1, val2) {
                        Some(Ok(row)) => push_product(&mut out.oks, row, times1, &self.times2),
                        Some(Err(e)) => push_product(&mut out.errs, e, times1, &self.times2),
                        None => {}
                    }
                }
            }
            cursor2.step_val(storage2);
        }
        Some(out)
    }
}

/// Pushes `data` at every pair of `times1` and `times2` (both non-empty): the joined
/// time and the product of the diffs. The last copy is `data` itself.
fn push_product<D: Clone>(
    out: &mut Vec<(D, Time, Diff)>,
    data: D,
    times1: &[(Time, Diff)],
    times2: &[(Time, Diff)],
) {
    let mut pairs = times1
        .iter()
        .flat_map(|a| times2.iter().map(move |b| (a, b)))
        .peekable();
    while let Some(((t1, d1), (t2, d2))) = pairs.next() {
        let (time, diff) = (t1.join(t2), d1.saturating_mul(*d2));
        if pairs.peek().is_some() {
            out.push((data.clone(), time, diff));
        } else {
            out.push((data, time, diff));
            return;
        }
    }
}

/// Splits the join step's output into its rows and its errors.
pub(super) fn split<'s>(
    name: &str,
    stream: Stream<'s, Time, PairOutput>,
) -> (RowCollection<'s>, ErrCollection<'s>) {
    let mut builder = OperatorBuilder::new(name.to_owned(), stream.scope());
    let mut input = builder.new_input(stream, Pipeline);
    builder.set_notify_for(0, FrontierInterest::Never);
    let (oks_output, oks_stream) = builder.new_output();
    let (errs_output, errs_stream) = builder.new_output();
    let mut oks_output: super::operators::VecOutput<Row> = OutputBuilder::from(oks_output);
    let mut errs_output: super::operators::VecOutput<EvalError> = OutputBuilder::from(errs_output);
    builder.build(move |_capabilities| {
        move |_frontiers| {
            let mut oks_handle = oks_output.activate();
            let mut errs_handle = errs_output.activate();
            input.for_each_stamp(|capability, containers| {
                for container in containers {
                    if !container.oks.is_empty() {
                        oks_handle
                            .session(&capability)
                            .give_container(&mut container.oks);
                    }
                    if !container.errs.is_empty() {
                        errs_handle
                            .session(&capability)
                            .give_container(&mut container.errs);
                    }
                }
            });
        }
    });
    (oks_stream.as_collection(), errs_stream.as_collection())
}
