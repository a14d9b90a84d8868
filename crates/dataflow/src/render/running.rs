//! Running aggregates: a `Window` whose functions are all `count`, `sum` (of an exact
//! type), `min`, `max`, `bool_and` or `bool_or` over `UNBOUNDED PRECEDING` to `CURRENT
//! ROW` (`eddy_expr::WindowStrategy::PrefixSums`). Semantics are the window's
//! (`eddy_expr::window`): a `RANGE` or `GROUPS` frame ends at the row's last peer, so
//! peers share a value; a `ROWS` frame ends at the row itself, peers numbered in
//! encoding order and a row of multiplicity `n` counted as `n` rows.
//!
//! Strategy: prefix sums over a tree of partial aggregates, as differential's
//! `algorithms::prefix_sum` does over positions. Each row gets a *position*, a `u64`
//! of [`POSITION_BITS`] bits that never decreases along the window order: the first
//! order column encoded order-preservingly (sign flipped for integers, the IEEE bit
//! trick for floats, the first eight bytes of strings, NULL at the end it sorts to,
//! inverted when descending). Positions are not unique, but rows that are peers always
//! share one, and rows with one position (a *leaf*) are sorted exactly, by every order
//! column and then their encoding, as the partition renderer sorts them. A node of
//! level `l` holds the positions that agree on all but their low `8·l` bits; its
//! parent is the node of level `l + 1` they fall in, so a node has at most
//! [`FANOUT`] children.
//! - Upward: each leaf folds its rows into a partial state; each node merges its
//!   children's states (a reduction keyed by the parent).
//! - Downward: each node's *prefix* is the state of every row of the partition before
//!   the node: the parent's prefix merged with the states of its earlier siblings. The
//!   siblings' part is a reduction over the same arrangement of children; the parent's
//!   part a join with the level above.
//! - Each row's value is its leaf's prefix merged with the rows of its leaf up to the
//!   row (or up to its last peer).
//!
//! Cost per change, for a partition of P rows: the change's leaf is re-sorted (its
//! rows: usually one, or its peers), and each of the `levels` ancestors re-merges at
//! most [`FANOUT`] children, O(log P) in the positions' bits. Every node to the right of
//! the change gets a new prefix, and every row there a new value: that work is the
//! output the change causes (an insert at the end of a partition changes one row;
//! one in the middle the rows after it, and only those whose value changed flow on,
//! which for `min`/`max` is usually none). The partition is never sorted as a whole.
//! State: the rows (arranged by leaf, and their leaf-local states), and per level a
//! partial state and a prefix per node.
//!
//! Rows whose first order column collides in its position (strings sharing their
//! first eight bytes, a multi-column ORDER BY's rows that tie on the first column,
//! arrays) share a leaf, which is sorted as a whole on each change: in the worst case
//! (a partition in one leaf) this costs what the partition renderer does.
//!
//! Errors are data: a state carries an error code (a sum that overflows), and a row
//! whose value has one becomes an error of the dataflow.

use std::cmp::Ordering;

use chrono::{Datelike, Timelike};
use eddy_expr::{ColumnOrder, EvalError, FrameUnits, WindowExpr, WindowFunc};
use eddy_repr::{ColumnType, Datum, Diff, Row, ScalarType};

use super::operators::{
    append_datum, flat_map_fallible, group_key, reduce_keyed, row_prefix, KeyedArranged, Rendered,
};
use super::reduce::{finish_value, Acc, AggPlan, ERROR_NONE, ERROR_OVERFLOW, ERROR_UNEXPECTED};

/// The bits of a level: a node has at most `FANOUT` children.
const LEVEL_BITS: u32 = 8;
pub(crate) const FANOUT: u64 = 1 << LEVEL_BITS;
/// The bits of a position (of the widest order types; `int4` and `date` use 32).
pub(crate) const POSITION_BITS: u32 = 64;

/// One running aggregate.
#[derive(Clone, Debug)]
struct Running {
    plan: AggPlan,
    /// The input column it aggregates.
    value: usize,
    /// Whether the frame ends at the row's last peer (`RANGE`, `GROUPS`) rather than
    /// at the row (`ROWS`).
    peers: bool,
}

/// Renders a `Window` of running aggregates (see the module docs).
pub(crate) fn render_running<'s>(
    name: &str,
    input: Rendered<'s>,
    input_typ: &[ColumnType],
    partition_key: Vec<usize>,
    order_key: Vec<ColumnOrder>,
    functions: &[WindowExpr],
) -> Rendered<'s> {
    let functions: Vec<Running> = functions
        .iter()
        .filter_map(|f| match &f.func {
            WindowFunc::Aggregate { func, value } => Some(Running {
                plan: AggPlan::new(func.clone(), input_typ[*value]),
                value: *value,
                peers: f.frame.units != FrameUnits::Rows,
            }),
            _ => None,
        })
        .collect();
    let first = order_key[0];
    let bits = position_bits(input_typ[first.column].scalar_type);
    let levels = bits / LEVEL_BITS;
    let key_len = partition_key.len();

    // Rows by leaf: the partition key and the row's position.
    let leaves = input
        .oks
        .map(move |row: Row| {
            let position = {
                let datum = row.iter().nth(first.column).unwrap_or(Datum::Null);
                position(first, &datum, bits)
            };
            let key = node_key(&group_key(&row, &partition_key), position);
            (key, row)
        })
        .arrange_by_key_named(&format!("{name}/RunningLeavesArrange"));
    let sums = {
        let functions = functions.clone();
        reduce_keyed(
            leaves.clone(),
            &format!("{name}/RunningLeafSums"),
            move |vals, out| {
                let mut state = State::empty(&functions, false);
                for (row, count) in vals.iter().filter(|(_, c)| *c > 0) {
                    let datums = row.unpack();
                    state.add_values(&functions, &datums, *count);
                }
                out.push((state.into_row(), 1));
            },
        )
    };
    let locals = {
        let functions = functions.clone();
        reduce_keyed(
            leaves,
            &format!("{name}/RunningLeafRows"),
            move |vals, out| leaf_rows(&order_key, &functions, vals, out),
        )
    };

    // Upward: per level, the children of each node arranged by the node; the node's
    // own state for the level above; the prefix of each child among its siblings.
    let mut children_sums = sums.as_collection(|key, state| (key.clone(), state.clone()));
    let mut sibling_prefixes: Vec<KeyedArranged<'s>> = Vec::new();
    for level in 1..=levels {
        let children = children_sums
            .clone()
            .map(move |(key, state): (Row, Row)| {
                let (partition, node) = split_node_key(&key, key_len);
                let digit = Datum::Int64((node % FANOUT) as i64);
                (
                    node_key(&partition, node >> LEVEL_BITS),
                    Row::pack(std::iter::once(&digit)).concat(&state),
                )
            })
            .arrange_by_key_named(&format!("{name}/RunningLevel{level}Arrange"));
        let merge = functions.clone();
        sibling_prefixes.push(reduce_keyed(
            children.clone(),
            &format!("{name}/RunningLevel{level}Prefixes"),
            move |vals, out| sibling_prefix_rows(&merge, vals, out),
        ));
        if level < levels {
            let merge = functions.clone();
            children_sums = reduce_keyed(
                children,
                &format!("{name}/RunningLevel{level}Sums"),
                move |vals, out| {
                    let mut state = State::empty(&merge, true);
                    for (child, count) in vals.iter().filter(|(_, c)| *c > 0) {
                        let mut datums = child.iter();
                        let _digit = datums.next();
                        state.merge(datums, *count);
                    }
                    out.push((state.into_row(), 1));
                },
            )
            .as_collection(|key, state| (key.clone(), state.clone()));
        }
    }

    // Downward: the root's children's prefixes are their sibling prefixes; each level
    // below adds its parent's prefix.
    let child_of = move |parent: &Row, sibling: &Row| -> (Row, Row) {
        let (partition, node) = split_node_key(parent, key_len);
        let mut datums = sibling.iter();
        let digit = match datums.next() {
            Some(Datum::Int64(d)) => d as u64,
            _ => 0,
        };
        let state = Row::from_datums(datums.collect());
        (node_key(&partition, (node << LEVEL_BITS) | digit), state)
    };
    let top = sibling_prefixes
        .pop()
        .expect("a position has at least one level");
    let mut prefixes = top.as_collection(move |parent, sibling| child_of(parent, sibling));
    while let Some(level) = sibling_prefixes.pop() {
        let merge = functions.clone();
        prefixes = prefixes
            .arrange_by_key_named(&format!("{name}/RunningPrefixArrange"))
            .join_core(level, move |parent, prefix, sibling| {
                let (child, state) = child_of(parent, sibling);
                Some((child, State::combine(&merge, prefix, &state)))
            });
    }

    // Each row: its leaf's prefix merged with its state within the leaf.
    let arity = input_typ.len();
    let rows = prefixes
        .arrange_by_key_named(&format!("{name}/RunningLeafPrefixArrange"))
        .join_core(locals, |_leaf, prefix, local| {
            Some((prefix.clone(), local.clone()))
        });
    let (oks, errs) = flat_map_fallible(
        rows,
        &format!("{name}/RunningValues"),
        move |(prefix, local): (Row, Row)| {
            let datums = local.unpack();
            let (row, state) = datums.split_at(arity.min(datums.len()));
            Some(finish_row(&functions, row, &prefix, state))
        },
    );
    Rendered {
        oks,
        errs: input.errs.concat(errs),
    }
}

/// The key of a node: the partition key followed by the node's number at its level.
fn node_key(partition: &Row, node: u64) -> Row {
    append_datum(partition, &Datum::Int64(node as i64))
}

fn split_node_key(key: &Row, key_len: usize) -> (Row, u64) {
    let node = match key.iter().nth(key_len) {
        Some(Datum::Int64(n)) => n as u64,
        _ => 0,
    };
    (row_prefix(key, key_len), node)
}

/// The bits a position of an order column of type `typ` takes (a multiple of
/// [`LEVEL_BITS`]): fewer bits, fewer levels.
fn position_bits(typ: ScalarType) -> u32 {
    match typ {
        ScalarType::Bool => LEVEL_BITS,
        ScalarType::Int16 | ScalarType::Int32 | ScalarType::Date => 32,
        _ => POSITION_BITS,
    }
}

/// The position of a row whose first order column is `datum`: a number of `bits` bits
/// that never decreases along the window order (`order`), equal for equal values
/// (`1.0` and `1.00`, `-0` and `0`), and at either end for NULL.
pub(crate) fn position(order: ColumnOrder, datum: &Datum, bits: u32) -> u64 {
    let max = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    if datum.is_null() {
        return if order.nulls_last { max } else { 0 };
    }
    let ascending = if bits >= 64 {
        ascending_position(datum)
    } else {
        // Narrow types: a signed value offset into `bits` bits.
        let half = 1i64 << (bits - 1);
        let value = match datum {
            Datum::Bool(b) => i64::from(*b),
            Datum::Int16(v) => i64::from(*v),
            Datum::Int32(v) => i64::from(*v),
            Datum::Int64(v) => *v,
            Datum::Date(d) => i64::from(d.num_days_from_ce()),
            _ => 0,
        };
        value.saturating_add(half).clamp(0, max as i64) as u64
    };
    if order.desc {
        max - ascending
    } else {
        ascending
    }
}

/// A 64-bit position in ascending SQL order (`Datum::sql_cmp`).
fn ascending_position(datum: &Datum) -> u64 {
    let signed = |v: i64| (v as u64) ^ (1 << 63);
    let float = |f: f64| {
        if f.is_nan() {
            u64::MAX
        } else {
            let bits = if f == 0.0 { 0 } else { f.to_bits() };
            if f < 0.0 {
                !bits
            } else {
                bits | (1 << 63)
            }
        }
    };
    let bytes = |b: &[u8]| {
        let mut first = [0u8; 8];
        let n = b.len().min(8);
        first[..n].copy_from_slice(&b[..n]);
        u64::from_be_bytes(first)
    };
    match datum {
        Datum::Bool(b) => u64::from(*b),
        Datum::Int16(v) => signed(i64::from(*v)),
        Datum::Int32(v) => signed(i64::from(*v)),
        Datum::Int64(v) => signed(*v),
        Datum::Oid(v) => u64::from(*v),
        Datum::Float32(f) => float(f64::from(f.0)),
        Datum::Float64(f) => float(f.0),
        // The floor of the value in thousandths, saturating (equal numerics, whatever
        // their scale, get one position; NaN, the largest, the last).
        Datum::Numeric(d) => {
            let saturated = if d.is_negative() { i64::MIN } else { i64::MAX };
            let scaled = d
                .checked_mul(eddy_repr::Numeric::from(1000))
                .and_then(|d| d.floor())
                .ok()
                .and_then(|d| d.trunc_to_i128())
                .and_then(|v| i64::try_from(v).ok())
                .unwrap_or(saturated);
            signed(scaled)
        }
        Datum::Timestamp(t) => signed(t.and_utc().timestamp_micros()),
        Datum::TimestampTz(t) => signed(t.timestamp_micros()),
        Datum::Date(d) => signed(i64::from(d.num_days_from_ce())),
        Datum::Time(t) => {
            u64::from(t.num_seconds_from_midnight()) * 1_000_000 + u64::from(t.nanosecond() / 1000)
        }
        Datum::Interval(i) => signed(
            i.as_micros_approx()
                .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
        ),
        Datum::String(s) | Datum::Jsonb(s) => bytes(s.as_bytes()),
        Datum::Bytes(b) => bytes(b),
        Datum::Uuid(u) => bytes(u),
        // Arrays (and NULL, handled by the caller) share one position.
        Datum::Array(_) | Datum::Record(_) | Datum::Null => 0,
    }
}

/// The partial state of some rows, one accumulator per function, and the worst error
/// met. As a row: `[error, state per function...]`.
struct State {
    error: i64,
    accs: Vec<Acc>,
}

impl State {
    /// An empty state taking input values (`merging == false`) or partial states.
    fn empty(functions: &[Running], merging: bool) -> State {
        State {
            error: ERROR_NONE,
            accs: functions
                .iter()
                .map(|f| Acc::new(&f.plan, merging))
                .collect(),
        }
    }

    /// Adds an input row (its datums) `count` times.
    fn add_values(&mut self, functions: &[Running], datums: &[Datum], count: Diff) {
        for (acc, f) in self.accs.iter_mut().zip(functions) {
            let datum = datums.get(f.value).cloned().unwrap_or(Datum::Null);
            acc.add(datum, count, &mut self.error);
        }
    }

    /// Merges a partial state's datums (`[error, state per function...]`) `count`
    /// times.
    fn merge(&mut self, mut datums: impl Iterator<Item = Datum>, count: Diff) {
        match datums.next() {
            Some(Datum::Int64(code)) => self.error = self.error.max(code),
            _ => self.error = self.error.max(ERROR_UNEXPECTED),
        }
        for acc in &mut self.accs {
            acc.add(datums.next().unwrap_or(Datum::Null), count, &mut self.error);
        }
    }

    /// The state after `a` then `b`, both partial states.
    fn combine(functions: &[Running], a: &Row, b: &Row) -> Row {
        let mut state = State::empty(functions, true);
        state.merge(a.iter(), 1);
        state.merge(b.iter(), 1);
        state.into_row()
    }

    fn datums(&self) -> Vec<Datum> {
        let mut error = self.error;
        let states: Vec<Datum> = self
            .accs
            .iter()
            .map(|acc| acc.clone().into_state(&mut error))
            .collect();
        std::iter::once(Datum::Int64(error)).chain(states).collect()
    }

    fn into_row(self) -> Row {
        Row::from_datums(self.datums())
    }
}

/// For the children of one node (`[digit, state...]`), each child's prefix among its
/// siblings: `[digit, merged states of the children before it...]`.
fn sibling_prefix_rows(functions: &[Running], vals: &[(&Row, Diff)], out: &mut Vec<(Row, Diff)>) {
    let mut children: Vec<(i64, Row)> = vals
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(row, _)| {
            let digit = match row.iter().next() {
                Some(Datum::Int64(d)) => d,
                _ => 0,
            };
            (digit, (*row).clone())
        })
        .collect();
    // Encoding order is not numeric order.
    children.sort_by_key(|(digit, _)| *digit);
    let mut before = State::empty(functions, true);
    for (digit, child) in children {
        let datums = std::iter::once(Datum::Int64(digit)).chain(before.datums());
        out.push((Row::from_datums(datums.collect()), 1));
        let mut state = child.iter();
        let _digit = state.next();
        before.merge(state, 1);
    }
    out.sort();
}

/// The rows of one leaf, each followed by its state within the leaf: its rows up to
/// the row (`ROWS`) or up to its last peer, in window order (peers in encoding order,
/// as the partition renderer numbers them). A row of multiplicity `n` is `n` rows.
fn leaf_rows(
    order: &[ColumnOrder],
    functions: &[Running],
    vals: &[(&Row, Diff)],
    out: &mut Vec<(Row, Diff)>,
) {
    let mut sorted: Vec<(Vec<Datum>, &Row, Diff)> = vals
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(row, count)| (row.unpack(), *row, *count))
        .collect();
    // Stable: peers stay in encoding order.
    sorted.sort_by(|a, b| ColumnOrder::compare_rows(order, &a.0, &b.0));
    let by_row = functions.iter().any(|f| !f.peers);
    let mut running = State::empty(functions, false);
    let mut start = 0;
    while start < sorted.len() {
        let mut end = start + 1;
        while end < sorted.len()
            && ColumnOrder::compare_rows(order, &sorted[start].0, &sorted[end].0) == Ordering::Equal
        {
            end += 1;
        }
        // The state through the peer group's last row, for RANGE and GROUPS frames.
        let mut through_peers = State {
            error: running.error,
            accs: running.accs.clone(),
        };
        for (datums, _, count) in &sorted[start..end] {
            through_peers.add_values(functions, datums, *count);
        }
        let peer_datums = through_peers.datums();
        for (datums, row, count) in &sorted[start..end] {
            let copies = if by_row { *count } else { 1 };
            for _ in 0..copies {
                if by_row {
                    running.add_values(functions, datums, 1);
                }
                let row_datums = running.datums();
                let state = std::iter::once(peer_datums[0].clone().max_error(&row_datums[0]))
                    .chain(functions.iter().enumerate().map(|(i, f)| {
                        if f.peers {
                            peer_datums[i + 1].clone()
                        } else {
                            row_datums[i + 1].clone()
                        }
                    }));
                let state = Row::from_datums(state.collect());
                out.push(((*row).concat(&state), if by_row { 1 } else { *count }));
            }
        }
        running = through_peers;
        start = end;
    }
    out.sort();
    out.dedup_by(|next, kept| {
        if next.0 == kept.0 {
            kept.1 += next.1;
            true
        } else {
            false
        }
    });
}

/// The larger of two error codes (as datums).
trait MaxError {
    fn max_error(self, other: &Datum) -> Datum;
}

impl MaxError for Datum {
    fn max_error(self, other: &Datum) -> Datum {
        match (&self, other) {
            (Datum::Int64(a), Datum::Int64(b)) => Datum::Int64(*a.max(b)),
            _ => Datum::Int64(ERROR_UNEXPECTED),
        }
    }
}

/// A row's output: the row followed by each function's value, from its leaf's prefix
/// and its state within the leaf.
fn finish_row(
    functions: &[Running],
    row: &[Datum],
    prefix: &Row,
    local: &[Datum],
) -> Result<Row, EvalError> {
    let mut state = State::empty(functions, true);
    state.merge(prefix.iter(), 1);
    state.merge(local.iter().cloned(), 1);
    let datums = state.datums();
    match datums[0] {
        Datum::Int64(ERROR_NONE) => {}
        Datum::Int64(ERROR_OVERFLOW) => return Err(EvalError::NumericOverflow),
        ref other => {
            return Err(EvalError::Internal(format!(
                "unexpected running aggregate state: {other:?}"
            )))
        }
    }
    let mut out = row.to_vec();
    for (f, datum) in functions.iter().zip(datums.into_iter().skip(1)) {
        out.push(finish_value(&f.plan, datum)?);
    }
    Ok(Row::from_datums(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asc() -> ColumnOrder {
        ColumnOrder {
            column: 0,
            desc: false,
            nulls_last: true,
        }
    }

    /// Positions never decrease along the window order, and SQL-equal values share one.
    #[test]
    fn positions_follow_the_window_order() {
        let values = vec![
            Datum::Int64(i64::MIN),
            Datum::Int64(-5),
            Datum::Int64(0),
            Datum::Int64(7),
            Datum::Int64(i64::MAX),
            Datum::Null,
        ];
        let floats = vec![
            Datum::from(f64::NEG_INFINITY),
            Datum::from(-2.5),
            Datum::from(-0.0),
            Datum::from(0.0),
            Datum::from(1e-300),
            Datum::from(3.0),
            Datum::from(f64::INFINITY),
            Datum::from(f64::NAN),
        ];
        let numerics: Vec<Datum> = ["-1e20", "-1.0005", "-1.0004", "-1", "1.00", "1.0", "2.5"]
            .iter()
            .map(|s| Datum::Numeric(s.parse().unwrap()))
            .collect();
        let strings: Vec<Datum> = ["", "a", "ab", "abcdefgh", "abcdefghz", "b"]
            .iter()
            .map(|s| Datum::String(s.to_string()))
            .collect();
        let ints: Vec<Datum> = [i32::MIN, -1, 0, 1, i32::MAX]
            .iter()
            .map(|v| Datum::Int32(*v))
            .collect();
        for (set, bits) in [
            (values, 64),
            (floats, 64),
            (numerics, 64),
            (strings, 64),
            (ints, 32),
        ] {
            for desc in [false, true] {
                for nulls_last in [false, true] {
                    let order = ColumnOrder {
                        desc,
                        nulls_last,
                        ..asc()
                    };
                    for a in &set {
                        for b in &set {
                            let (pa, pb) = (position(order, a, bits), position(order, b, bits));
                            match order.compare(a, b) {
                                Ordering::Less => assert!(pa <= pb, "{a:?} {b:?} {order:?}"),
                                Ordering::Equal => assert_eq!(pa, pb, "{a:?} {b:?}"),
                                Ordering::Greater => assert!(pa >= pb, "{a:?} {b:?} {order:?}"),
                            }
                        }
                    }
                }
            }
        }
        // Distinct integers get distinct positions (one leaf each).
        assert_ne!(
            position(asc(), &Datum::Int32(1), 32),
            position(asc(), &Datum::Int32(2), 32)
        );
    }
}
