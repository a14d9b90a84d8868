//! Rendering of `Watermarked`: rows expired, finalized or emitted once a stream's
//! watermark reaches their bound (semantics in `eddy_expr::watermark`).
//!
//! One operator reads the rows and the watermark relation, the latter broadcast so
//! that every worker knows it. Both are held until their time is complete in both
//! inputs, then applied time by time in order: at each time the watermark before it
//! (`W(t-1)`, for `Finalize` and `EmitOnClose`) and after it (`W(t)`) are known
//! exactly, whatever order the two inputs' messages came in. `EmitOnClose` exchanges
//! rows by their hash, so all updates of one row meet on one worker.
//!
//! State: `Expire` keeps each open row (until one tick after it closes), `EmitOnClose`
//! each open row's sum; `Finalize` keeps nothing per row. A row whose bound is NULL
//! never closes: `Expire` and `Finalize` pass it, `EmitOnClose` never emits it.

use std::collections::{BTreeMap, BTreeSet};

use differential_dataflow::{AsCollection, Hashable};
use eddy_expr::optimize::consolidate;
use eddy_expr::watermark::{row_bound, row_instant};
use eddy_expr::WatermarkMode;
use eddy_repr::{Diff, Row};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, ParallelizationContract, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::CapabilitySet;

use super::operators::{group_key, Rendered, RowCollection, Time};

/// How an operator's rows are spread over the workers: by this hash of each row.
type Route = Box<dyn Fn(&Row) -> u64>;

/// Renders `input` watermarked by `watermark` (a relation of one `timestamptz`
/// column).
pub(crate) fn render_watermarked<'s>(
    name: &str,
    input: Rendered<'s>,
    watermark: Rendered<'s>,
    bound_column: usize,
    offset_us: i64,
    mode: WatermarkMode,
) -> Rendered<'s> {
    let marks = watermark.oks.inner.broadcast();
    // Where a row goes: the modes that decide on a row's net change at a time see all
    // of its updates (by the row), sessions all of their partition's rows; the others
    // stay on their worker.
    let route: Option<Route> = match &mode {
        WatermarkMode::EmitOnClose | WatermarkMode::Finalize | WatermarkMode::KeepExpired => {
            Some(Box::new(|row: &Row| row.hashed()))
        }
        WatermarkMode::ExpireSessions { partition_key } => {
            let partition_key = partition_key.clone();
            Some(Box::new(move |row: &Row| {
                group_key(row, &partition_key).hashed()
            }))
        }
        WatermarkMode::Expire | WatermarkMode::ExpireArrivals => None,
    };
    let oks = match route {
        Some(route) => {
            let exchange = Exchange::new(move |update: &(Row, Time, Diff)| route(&update.0));
            closing(
                name,
                input.oks,
                marks,
                exchange,
                bound_column,
                offset_us,
                mode,
            )
        }
        None => closing(
            name,
            input.oks,
            marks,
            Pipeline,
            bound_column,
            offset_us,
            mode,
        ),
    };
    Rendered {
        oks,
        errs: input.errs.concat(watermark.errs),
    }
}

/// `rows` with each row retracted once the watermark (`marks`, a relation of one
/// `timestamptz` column, whole on every worker) is `offset_us` past its `column`: a
/// stream's retention.
pub(crate) fn expire_by_watermark<'s>(
    name: &str,
    rows: RowCollection<'s>,
    marks: RowCollection<'s>,
    column: usize,
    offset_us: i64,
) -> RowCollection<'s> {
    let mode = WatermarkMode::Expire;
    closing(name, rows, marks.inner, Pipeline, column, offset_us, mode)
}

fn closing<'s, P>(
    name: &str,
    rows: RowCollection<'s>,
    marks: timely::dataflow::StreamVec<'s, Time, (Row, Time, Diff)>,
    pact: P,
    bound_column: usize,
    offset_us: i64,
    mode: WatermarkMode,
) -> RowCollection<'s>
where
    P: ParallelizationContract<Time, Vec<(Row, Time, Diff)>>,
{
    rows.inner
        .binary_frontier::<_, CapacityContainerBuilder<Vec<(Row, Time, Diff)>>, _, _, _, _>(
            marks,
            pact,
            Pipeline,
            name,
            move |capability, _info| {
                let mut capabilities = CapabilitySet::from_elem(capability);
                let mut closer = Closer::new(mode, bound_column, offset_us);
                let mut pending_rows: BTreeMap<Time, Vec<(Row, Diff)>> = BTreeMap::new();
                let mut pending_marks: BTreeMap<Time, Vec<(Option<i64>, Diff)>> = BTreeMap::new();
                let mut out = Vec::new();
                move |(rows, rows_frontier), (marks, marks_frontier), output| {
                    rows.for_each(|_, data| {
                        for (row, time, diff) in data.drain(..) {
                            pending_rows.entry(time).or_default().push((row, diff));
                        }
                    });
                    marks.for_each(|_, data| {
                        for (row, time, diff) in data.drain(..) {
                            let mark = row_instant(&row, 0);
                            pending_marks.entry(time).or_default().push((mark, diff));
                        }
                    });
                    let complete =
                        |t: &Time| !rows_frontier.less_equal(t) && !marks_frontier.less_equal(t);
                    loop {
                        let next = [pending_rows.keys().next(), pending_marks.keys().next()]
                            .into_iter()
                            .flatten()
                            .min()
                            .copied();
                        let Some(time) = next.filter(complete) else {
                            break;
                        };
                        let mut rows = pending_rows.remove(&time).unwrap_or_default();
                        // An operator upstream may send one row's net change at a time
                        // as several updates (a join, `+1` and `-1` from two batches):
                        // a rule on the sign of a change must see the sum.
                        if closer.decides_on_net_changes() {
                            consolidate(&mut rows);
                        }
                        let marks = pending_marks.remove(&time).unwrap_or_default();
                        closer.step(time, rows, marks, &mut out);
                        // One session per time out (`time`, and `time + 1` for
                        // expiries), not one per update.
                        out.sort_by_key(|(_, at, _)| *at);
                        let mut updates = out.drain(..).peekable();
                        while let Some(&(_, at, _)) = updates.peek() {
                            let capability = capabilities.delayed(&at);
                            let mut session = output.session(&capability);
                            while let Some(update) = updates.next_if(|u| u.1 == at) {
                                session.give(update);
                            }
                        }
                    }
                    let joint = rows_frontier
                        .frontier()
                        .iter()
                        .chain(marks_frontier.frontier().iter())
                        .min()
                        .copied();
                    capabilities.downgrade(joint.as_ref());
                }
            },
        )
        .as_collection()
}

/// What one worker's operator knows: the watermark now, and the rows it holds.
struct Closer {
    mode: WatermarkMode,
    bound_column: usize,
    offset_us: i64,
    /// The watermark relation's rows (as instants) and their multiplicities: its
    /// value is the largest present one.
    marks: BTreeMap<i64, Diff>,
    /// Rows not closed yet, by bound: each update (`Expire`), or each row's sum
    /// (`EmitOnClose`).
    open: BTreeMap<i64, BTreeMap<Row, Diff>>,
    /// `Expire`, `ExpireArrivals`: the updates to retract, by bound (no sums: a
    /// retraction per update is as good, and costs no row comparisons).
    expiring: BTreeMap<i64, Vec<(Row, Diff)>>,
    /// `ExpireSessions`: each partition's open rows, and when its first session ends.
    sessions: Sessions,
}

/// The open sessions of every partition (`ExpireSessions`).
#[derive(Default)]
struct Sessions {
    /// Each partition's rows by time.
    partitions: BTreeMap<Row, BTreeMap<i64, BTreeMap<Row, Diff>>>,
    /// Each partition's first session's end, and the partitions by it: the next to
    /// close.
    first_end: BTreeMap<Row, i64>,
    by_first_end: BTreeMap<i64, BTreeSet<Row>>,
}

impl Sessions {
    fn add(&mut self, key: Row, time: i64, row: Row, diff: Diff) {
        let rows = self
            .partitions
            .entry(key)
            .or_default()
            .entry(time)
            .or_default();
        let count = rows.entry(row.clone()).or_default();
        *count += diff;
        if *count == 0 {
            rows.remove(&row);
        }
    }

    /// Re-indexes partition `key` by its first session's end (forgetting it when it
    /// holds no rows).
    fn reindex(&mut self, key: &Row, gap: i64) {
        if let Some(end) = self.first_end.remove(key) {
            if let Some(keys) = self.by_first_end.get_mut(&end) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_first_end.remove(&end);
                }
            }
        }
        let Some(rows) = self.partitions.get_mut(key) else {
            return;
        };
        rows.retain(|_, r| !r.is_empty());
        let Some(last) = first_session(rows, gap).last().copied() else {
            self.partitions.remove(key);
            return;
        };
        let end = last.saturating_add(gap);
        self.first_end.insert(key.clone(), end);
        self.by_first_end
            .entry(end)
            .or_default()
            .insert(key.clone());
    }

    /// Removes the sessions whose end `watermark` has reached; returns their rows.
    fn close(&mut self, watermark: i64, gap: i64) -> Vec<(Row, Diff)> {
        let mut closed = vec![];
        while let Some(entry) = self.by_first_end.first_entry() {
            if *entry.key() > watermark {
                break;
            }
            for key in entry.remove() {
                self.first_end.remove(&key);
                let Some(rows) = self.partitions.get_mut(&key) else {
                    continue;
                };
                // Sessions end in time order: the closed ones are a prefix.
                loop {
                    let times = first_session(rows, gap);
                    match times.last() {
                        Some(last) if last.saturating_add(gap) <= watermark => {
                            for t in times {
                                closed.extend(rows.remove(&t).into_iter().flatten());
                            }
                        }
                        _ => break,
                    }
                }
                self.reindex(&key, gap);
            }
        }
        closed
    }
}

/// The times of the first session of `rows` (rows by time, none empty): up to the
/// first neighbour a gap or more after the previous one.
fn first_session(rows: &BTreeMap<i64, BTreeMap<Row, Diff>>, gap: i64) -> Vec<i64> {
    let mut times: Vec<i64> = vec![];
    for &t in rows.keys() {
        if times
            .last()
            .is_some_and(|&last| t >= last.saturating_add(gap))
        {
            break;
        }
        times.push(t);
    }
    times
}

impl Closer {
    fn new(mode: WatermarkMode, bound_column: usize, offset_us: i64) -> Self {
        Closer {
            mode,
            bound_column,
            offset_us,
            marks: BTreeMap::new(),
            open: BTreeMap::new(),
            expiring: BTreeMap::new(),
            sessions: Sessions::default(),
        }
    }

    /// Whether the mode decides on a row's net change at a time (its sign, or its sum).
    fn decides_on_net_changes(&self) -> bool {
        matches!(
            self.mode,
            WatermarkMode::EmitOnClose | WatermarkMode::Finalize | WatermarkMode::KeepExpired
        )
    }

    fn watermark(&self) -> Option<i64> {
        self.marks
            .iter()
            .rev()
            .find(|(_, count)| **count > 0)
            .map(|(mark, _)| *mark)
    }

    fn bound(&self, row: &Row) -> Option<i64> {
        row_bound(row, self.bound_column, self.offset_us)
    }

    /// Applies time `time`'s row updates and watermark changes, pushing what goes out
    /// (at `time`, or at `time + 1` for expiries) into `out`.
    fn step(
        &mut self,
        time: Time,
        rows: Vec<(Row, Diff)>,
        marks: Vec<(Option<i64>, Diff)>,
        out: &mut Vec<(Row, Time, Diff)>,
    ) {
        let before = self.watermark();
        for (mark, diff) in marks {
            let Some(mark) = mark else { continue };
            let count = self.marks.entry(mark).or_default();
            *count += diff;
            if *count == 0 {
                self.marks.remove(&mark);
            }
        }
        let now = self.watermark();
        let closed_before = |b: i64| before.is_some_and(|w| b <= w);
        match &self.mode {
            WatermarkMode::ExpireSessions { partition_key } => {
                let mut touched = BTreeSet::new();
                for (row, diff) in rows {
                    let at = row_instant(&row, self.bound_column);
                    if let Some(at) = at {
                        let key = group_key(&row, partition_key);
                        self.sessions.add(key.clone(), at, row.clone(), diff);
                        touched.insert(key);
                    }
                    out.push((row, time, diff));
                }
                for key in &touched {
                    self.sessions.reindex(key, self.offset_us);
                }
                if let Some(w) = now {
                    for (row, diff) in self.sessions.close(w, self.offset_us) {
                        out.push((row, time + 1, -diff));
                    }
                }
            }
            WatermarkMode::Expire | WatermarkMode::ExpireArrivals => {
                let drop_closed = self.mode == WatermarkMode::Expire;
                for (row, diff) in rows {
                    let bound = self.bound(&row);
                    if drop_closed && bound.is_some_and(closed_before) {
                        continue;
                    }
                    if let Some(b) = bound {
                        self.expiring
                            .entry(b)
                            .or_default()
                            .push((row.clone(), diff));
                    }
                    out.push((row, time, diff));
                }
                if let Some(w) = now {
                    let still_open = self.expiring.split_off(&w.saturating_add(1));
                    let expired = std::mem::replace(&mut self.expiring, still_open);
                    for (row, diff) in expired.into_values().flatten() {
                        out.push((row, time + 1, -diff));
                    }
                }
            }
            WatermarkMode::KeepExpired => {
                for (row, diff) in rows {
                    if diff > 0 || !self.bound(&row).is_some_and(closed_before) {
                        out.push((row, time, diff));
                    }
                }
            }
            WatermarkMode::Finalize => {
                for (row, diff) in rows {
                    if !self.bound(&row).is_some_and(closed_before) {
                        out.push((row, time, diff));
                    }
                }
            }
            WatermarkMode::EmitOnClose => {
                for (row, diff) in rows {
                    match self.bound(&row) {
                        Some(b) if !closed_before(b) => {
                            *self.open.entry(b).or_default().entry(row).or_default() += diff;
                        }
                        _ => {}
                    }
                }
                for (row, diff) in self.close(now) {
                    out.push((row, time, diff));
                }
            }
        }
    }

    /// Removes and returns the open rows whose bound `watermark` has reached, with
    /// their (non-zero) sums.
    fn close(&mut self, watermark: Option<i64>) -> impl Iterator<Item = (Row, Diff)> {
        let closed = match watermark {
            Some(w) => {
                let still_open = self.open.split_off(&w.saturating_add(1));
                std::mem::replace(&mut self.open, still_open)
            }
            None => BTreeMap::new(),
        };
        closed
            .into_values()
            .flatten()
            .filter(|(_, diff)| *diff != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_repr::Datum;

    fn row(micros: i64, tag: i64) -> Row {
        let ts = chrono::DateTime::from_timestamp_micros(micros).unwrap();
        Row::pack([Datum::TimestampTz(ts), Datum::Int64(tag)].iter())
    }

    #[test]
    fn expire_retracts_one_tick_after_the_watermark_reaches_the_bound() {
        let mut c = Closer::new(WatermarkMode::Expire, 0, 0);
        let mut out = vec![];
        c.step(
            10,
            vec![(row(100, 1), 1), (row(200, 2), 1)],
            vec![],
            &mut out,
        );
        assert_eq!(out, vec![(row(100, 1), 10, 1), (row(200, 2), 10, 1)]);
        out.clear();
        c.step(11, vec![], vec![(Some(100), 1)], &mut out);
        assert_eq!(out, vec![(row(100, 1), 12, -1)], "bound 100 closes at 11");
        out.clear();
        c.step(12, vec![], vec![(Some(100), -1), (Some(150), 1)], &mut out);
        assert!(out.is_empty(), "200 is still open");
    }

    fn event(key: &str, micros: i64) -> Row {
        let ts = chrono::DateTime::from_timestamp_micros(micros).unwrap();
        Row::pack([Datum::String(key.into()), Datum::TimestampTz(ts)].iter())
    }

    #[test]
    fn expire_sessions_retracts_whole_closed_sessions() {
        let mode = WatermarkMode::ExpireSessions {
            partition_key: vec![0],
        };
        let mut c = Closer::new(mode, 1, 10);
        let mut out = vec![];
        let rows = [event("a", 0), event("a", 5), event("a", 30), event("b", 2)];
        c.step(
            1,
            rows.iter().map(|r| (r.clone(), 1)).collect(),
            vec![],
            &mut out,
        );
        assert_eq!(out.len(), 4, "rows pass");
        out.clear();
        c.step(2, vec![], vec![(Some(14), 1)], &mut out);
        assert_eq!(
            out,
            vec![(event("b", 2), 3, -1)],
            "b's session ends at 12, a's first at 15"
        );
        out.clear();
        c.step(3, vec![], vec![(Some(14), -1), (Some(15), 1)], &mut out);
        out.sort();
        assert_eq!(
            out,
            vec![(event("a", 0), 4, -1), (event("a", 5), 4, -1)],
            "a closed session goes, all its rows, one tick later"
        );
        out.clear();
        // A row at 35 joins the open session (30..40), which now ends at 45.
        c.step(
            5,
            vec![(event("a", 35), 1)],
            vec![(Some(15), -1), (Some(40), 1)],
            &mut out,
        );
        assert_eq!(out, vec![(event("a", 35), 5, 1)]);
        out.clear();
        c.step(6, vec![], vec![(Some(40), -1), (Some(45), 1)], &mut out);
        out.sort();
        assert_eq!(out, vec![(event("a", 30), 7, -1), (event("a", 35), 7, -1)]);
        assert!(c.sessions.partitions.is_empty() && c.sessions.by_first_end.is_empty());
    }

    #[test]
    fn expire_drops_updates_after_the_close_and_expire_arrivals_passes_them() {
        for (mode, passed) in [
            (WatermarkMode::Expire, false),
            (WatermarkMode::ExpireArrivals, true),
        ] {
            let mut c = Closer::new(mode.clone(), 0, 0);
            let mut out = vec![];
            c.step(1, vec![(row(100, 1), 1)], vec![(Some(100), 1)], &mut out);
            assert_eq!(out, vec![(row(100, 1), 1, 1), (row(100, 1), 2, -1)]);
            out.clear();
            c.step(
                3,
                vec![(row(100, 1), -1), (row(50, 2), 1)],
                vec![],
                &mut out,
            );
            let expected = match passed {
                true => vec![
                    (row(50, 2), 3, 1),
                    (row(100, 1), 3, -1),
                    (row(50, 2), 4, -1),
                    (row(100, 1), 4, 1),
                ],
                false => vec![],
            };
            out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            assert_eq!(out, expected, "{mode:?}");
        }
    }

    #[test]
    fn finalize_drops_updates_after_the_close() {
        let mut c = Closer::new(WatermarkMode::Finalize, 0, 0);
        let mut out = vec![];
        c.step(5, vec![(row(100, 1), 1)], vec![(Some(100), 1)], &mut out);
        assert_eq!(
            out,
            vec![(row(100, 1), 5, 1)],
            "updates at the closing time pass"
        );
        out.clear();
        c.step(
            6,
            vec![(row(100, 1), -1), (row(101, 2), 1)],
            vec![],
            &mut out,
        );
        assert_eq!(out, vec![(row(101, 2), 6, 1)]);
    }

    #[test]
    fn keep_expired_drops_only_retractions_after_the_close() {
        let mut c = Closer::new(WatermarkMode::KeepExpired, 0, 0);
        let mut out = vec![];
        c.step(5, vec![(row(100, 1), 1)], vec![(Some(100), 1)], &mut out);
        c.step(
            6,
            vec![(row(100, 1), -1), (row(90, 2), 1)],
            vec![],
            &mut out,
        );
        assert_eq!(
            out,
            vec![(row(100, 1), 5, 1), (row(90, 2), 6, 1)],
            "a pair formed after the close passes; a retraction after it does not"
        );
    }

    #[test]
    fn keep_expired_decides_on_a_rows_net_change() {
        // A join may send a change that nets to nothing as `-1` and `+1`: dropping the
        // retraction alone would double the row.
        let mut rows = vec![(row(100, 1), -1), (row(90, 2), 1), (row(100, 1), 1)];
        consolidate(&mut rows);
        assert_eq!(rows, vec![(row(90, 2), 1)]);
    }

    #[test]
    fn emit_on_close_emits_sums_once() {
        let mut c = Closer::new(WatermarkMode::EmitOnClose, 0, 0);
        let mut out = vec![];
        c.step(
            1,
            vec![(row(100, 1), 1), (row(100, 2), 1)],
            vec![],
            &mut out,
        );
        c.step(
            2,
            vec![(row(100, 1), -1), (row(100, 3), 1)],
            vec![],
            &mut out,
        );
        assert!(out.is_empty(), "nothing is emitted while open");
        c.step(3, vec![], vec![(Some(100), 1)], &mut out);
        assert_eq!(out, vec![(row(100, 2), 3, 1), (row(100, 3), 3, 1)]);
        out.clear();
        c.step(4, vec![(row(100, 3), -1)], vec![], &mut out);
        assert!(out.is_empty(), "a closed row never changes");
    }
}
