//! Event-time finality: what a stream's watermark makes final, and the state it lets a
//! maintained view release (see [`crate::MirRelationExpr::Watermarked`]).
//!
//! A stream with an event time has a **watermark** (its largest event time minus its
//! lateness, `eddy_connect::event_time`): an event before the watermark is late and
//! never applied. So a row whose events all lie before some instant `b` (a window's
//! exclusive end) is **final** once the watermark reaches `b`: no event that could
//! change it can still come. `b` is the row's *bound*: `bound_column + offset_us`,
//! in microseconds since the Unix epoch (a `timestamp` read as UTC, or a
//! `timestamptz`); a row whose bound is NULL is never final.
//!
//! Times: the watermark is a relation of one `timestamptz` column holding at most one
//! row at each time (the coordinator replaces it in the batch that moves it, at the
//! batch's time). `W(t)` is its value at time `t` (none before the first event), and a
//! row with bound `b` **closes** at `C(b)`, the first time with `W(t) >= b`.
//!
//! The three modes, over an update `(row, t, d)`:
//! - [`WatermarkMode::Expire`] passes it, and retracts it at `max(t, C(b)) + 1`: one
//!   tick after the row's window closed. Below a reduction it releases the window's
//!   state; the reduction's output retracts the window's row at that tick, which the
//!   `Finalize` above it drops, so readers keep the final row. An update with
//!   `t > C(b)` is dropped instead: it can only re-derive a row the window no longer
//!   counts (a table the stream was joined with changed), and passing it would put a
//!   transient change (a negative count) into a closed window's state.
//! - [`WatermarkMode::ExpireArrivals`] is `Expire` that passes every update, even after
//!   the close (retracted a tick later): under an interval join, an event that comes
//!   after its bound can still pair with the rows already there.
//! - [`WatermarkMode::Finalize`] passes it only if `t <= C(b)`: updates to a row that
//!   closed before `t` are dropped. What a window's row was when it closed is what the
//!   view keeps, whatever happens to its inputs later (the expiry above, and a change
//!   of a table the stream was joined with after the window closed).
//! - [`WatermarkMode::EmitOnClose`] holds a row's updates until it closes and emits
//!   their sum at `C(b)`, dropping later ones: each final row appears once, when its
//!   window closes, and never changes (`EMIT ON WINDOW CLOSE`: append-only output).
//!
//! - [`WatermarkMode::ExpireSessions`] is `Expire` for the rows under a `SESSION`
//!   window's `Window` node, whose bounds are not known row by row: the bound column is
//!   the event time, `offset_us` the session gap, and rows are partitioned as the
//!   window is. A session (the rows of a partition cut where neighbours are a gap apart)
//!   closes when the watermark reaches its last time plus the gap; no event can join it
//!   then (one would have to come before the watermark). Its rows are retracted, all at
//!   once, one tick after it closes: the sessions left are cut as before (a closed
//!   session is separated from the next by at least the gap), so the window's rows for
//!   them do not change, and the partition's state is only its open sessions.
//!
//! - [`WatermarkMode::KeepExpired`] passes an update unless it is a retraction and
//!   `t > C(b)`: over an interval join whose stream inputs expire (rows that can no
//!   longer match anything to come), it keeps the pairs their expiry retracts. Unlike
//!   `Finalize` it passes insertions after the close: a pair forms when its second row
//!   comes, which may be after the first row's bound (two streams' watermarks need not
//!   agree). It is exact when what expires is only the join's stream inputs (nothing
//!   else in them can change a row that expired).
//!
//! After a restart, or for a view created over a stream with history, rows of windows
//! that closed earlier arrive at the dataflow's first time together with the
//! watermark: they close at that time, so they are computed once (their final rows
//! are what a computation from scratch gives), and expire one tick later.

use eddy_repr::{Datum, Row};
use serde::{Deserialize, Serialize};

/// What a [`crate::MirRelationExpr::Watermarked`] does with its input's updates.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WatermarkMode {
    /// Retract each row one tick after it closes (releases state below a reduction);
    /// drop updates after the close.
    Expire,
    /// Retract each row one tick after it closes, or after it comes when that is
    /// later (releases an interval join's inputs).
    ExpireArrivals,
    /// Retract each closed session's rows one tick after it closes; sessions are cut
    /// per partition of the `partition_key` columns (released below a `SESSION`
    /// window).
    ExpireSessions { partition_key: Vec<usize> },
    /// Drop the updates to a row after it closed (keeps final rows as they were).
    Finalize,
    /// Emit each row once, when it closes (append-only output).
    EmitOnClose,
    /// Drop the retractions of a row after it closed (keeps an interval join's pairs
    /// when its inputs expire).
    KeepExpired,
}

impl WatermarkMode {
    pub fn name(&self) -> &'static str {
        match self {
            WatermarkMode::Expire => "expire",
            WatermarkMode::ExpireArrivals => "expire_arrivals",
            WatermarkMode::ExpireSessions { .. } => "expire_sessions",
            WatermarkMode::Finalize => "finalize",
            WatermarkMode::EmitOnClose => "emit_on_close",
            WatermarkMode::KeepExpired => "keep_expired",
        }
    }
}

/// An instant as microseconds since the Unix epoch: a `timestamp` read as UTC or a
/// `timestamptz`; `None` for NULL (and for anything else).
pub fn instant_micros(datum: &Datum) -> Option<i64> {
    match datum {
        Datum::Timestamp(ts) => Some(ts.and_utc().timestamp_micros()),
        Datum::TimestampTz(ts) => Some(ts.timestamp_micros()),
        _ => None,
    }
}

/// The instant in `row`'s `column`, decoding only the datums up to it (what the
/// watermark operators read from every update); `None` for NULL.
pub fn row_instant(row: &Row, column: usize) -> Option<i64> {
    row.iter().nth(column).and_then(|d| instant_micros(&d))
}

/// The bound of `row`: its `column` as an instant plus `offset_us`, saturating;
/// `None` when the column is NULL.
pub fn row_bound(row: &Row, column: usize, offset_us: i64) -> Option<i64> {
    row_instant(row, column).map(|b| b.saturating_add(offset_us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_utc_micros_plus_the_offset() {
        let ts = chrono::DateTime::from_timestamp(60, 0).unwrap();
        let row = Row::pack([Datum::Null, Datum::Timestamp(ts.naive_utc())].iter());
        assert_eq!(row_bound(&row, 1, 5), Some(60_000_005));
        assert_eq!(row_bound(&row, 0, 5), None);
        assert_eq!(
            instant_micros(&Datum::TimestampTz(ts)),
            Some(60_000_000),
            "a timestamptz is the same instant"
        );
    }
}
