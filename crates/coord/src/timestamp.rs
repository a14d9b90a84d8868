//! The timestamp oracle: which time a write gets and which time a read uses.
//!
//! Invariants:
//! - `upper` is the first time not yet closed. Every time below it is complete: the
//!   workers' inputs have been advanced to `upper`, so nothing more can arrive there.
//! - A write takes `max(now_ms, upper)`, so times follow the wall clock while it moves
//!   forward and never go back when it does not; after the write `upper` moves past it.
//! - A read uses `upper - 1`, the latest complete time: it sees every write that has
//!   returned to its client (read-your-writes, for every session) and never waits for
//!   a write that has not.
//! - Times close on writes, and also without them: the coordinator's periodic tick
//!   closes every time up to the clock (`Coordinator::advance_clock`), so temporal
//!   filters see time pass and an idle server reads at most about a second behind the
//!   clock. An empty advance is not logged (recovery starts after the last write
//!   anyway).

use eddy_repr::Timestamp;

/// Milliseconds since the Unix epoch, the oracle's clock.
pub fn now_ms() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Timestamp)
        .unwrap_or(0)
}

/// Hands out write times and read times. See the module docs.
#[derive(Debug)]
pub struct TimestampOracle {
    upper: Timestamp,
}

impl TimestampOracle {
    /// An oracle whose first open time is `upper`.
    pub fn new(upper: Timestamp) -> Self {
        TimestampOracle {
            upper: upper.max(1),
        }
    }

    /// The first time not yet closed.
    pub fn upper(&self) -> Timestamp {
        self.upper
    }

    /// The time a read uses: the latest closed time.
    pub fn read_ts(&self) -> Timestamp {
        self.upper - 1
    }

    /// The time for a write happening at wall-clock `now`: `max(now, upper)`. The
    /// caller closes it with [`TimestampOracle::close`] once the write is applied.
    pub fn write_ts(&self, now: Timestamp) -> Timestamp {
        now.max(self.upper)
    }

    /// Closes every time up to and including `time`; returns the new `upper`.
    pub fn close(&mut self, time: Timestamp) -> Timestamp {
        self.upper = self.upper.max(time + 1);
        self.upper
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_follow_the_clock_and_never_go_back() {
        let mut oracle = TimestampOracle::new(100);
        assert_eq!(oracle.read_ts(), 99);
        // The clock is ahead: the write takes the clock's time.
        let t = oracle.write_ts(150);
        assert_eq!(t, 150);
        assert_eq!(oracle.close(t), 151);
        // The clock went back (or two writes in one millisecond): the write still
        // goes after every closed time.
        let t2 = oracle.write_ts(120);
        assert_eq!(t2, 151);
        oracle.close(t2);
        assert!(t2 > t);
    }

    #[test]
    fn reads_see_every_closed_write() {
        let mut oracle = TimestampOracle::new(1);
        for now in [5, 5, 3, 9] {
            let t = oracle.write_ts(now);
            oracle.close(t);
            // A read chosen after the write returned is at or after it.
            assert!(oracle.read_ts() >= t);
            // And before anything still open.
            assert!(oracle.read_ts() < oracle.upper());
        }
    }

    #[test]
    fn closing_an_old_time_keeps_upper() {
        let mut oracle = TimestampOracle::new(50);
        assert_eq!(oracle.close(10), 50);
        assert_eq!(oracle.read_ts(), 49);
    }
}
