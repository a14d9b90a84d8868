//! Event time and lateness of a stream: which messages are late, decided where they are
//! read.
//!
//! A stream declares its event time with `TIMESTAMP = '<column>'` (a `timestamp` or
//! `timestamptz` column) and how late an event may arrive with `LATENESS =
//! '<interval>'`. With `LATENESS` and no `TIMESTAMP`, the event time is the Kafka
//! record timestamp (create or log-append time). A stream that declares neither has no
//! event time: nothing is ever late. `LATENESS` defaults to `0 seconds`: an event older
//! than the newest one seen is late.
//!
//! Semantics:
//! - The stream's **watermark** is the largest event time it has accepted minus its
//!   lateness; it never goes back. It is unknown (NULL) until the first event.
//! - A message whose event time is before the watermark when it is read is **late**: it
//!   is not applied, it is counted, and it is reported as a source error with its
//!   partition and offset. An event exactly at the watermark is on time. Late events
//!   never stop a source, whatever `ON_ERROR` says: they are expected.
//! - A message whose event time is NULL (a NULL column, or a record without a
//!   timestamp) cannot be placed in time: it is an error like a malformed message.
//! - Events within the lateness are applied in the order they come, out of order or
//!   not; windows over them count them where their event time falls.
//!
//! Durability (the invariant the coordinator keeps): the watermark is part of a
//! source's durable progress. The reader decides late / on time right after decoding,
//! against the watermark it holds, and each batch carries the watermark after it
//! ([`crate::SourceBatch::watermark_us`]). The coordinator logs it in the same atomic
//! log append as the batch's updates and offsets, and a restarted source resumes from
//! both ([`crate::Resume::watermark_us`]). So the watermark a restarted reader starts
//! from is exactly the one the previous reader had after the last logged message, and
//! every message is decided once against the watermark of the messages before it:
//! after `kill -9` the decisions replay identically (for one partition always; across
//! partitions the interleaving is the broker's, with or without a restart). Recomputing
//! the watermark from the stream's rows at resume (their largest event time minus the
//! lateness) would give the same value when the event time is a column, but not when it
//! is the record timestamp, which the rows need not hold; hence the log.

use chrono::DateTime;
use eddy_repr::strconv::{format_timestamp, parse_interval};
use eddy_repr::{Datum, Interval, Row, SqlError, SqlState};

/// Where a stream's event time comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventTimeColumn {
    /// A declared `timestamp` / `timestamptz` column (its position).
    Column(usize),
    /// The Kafka record timestamp.
    RecordTimestamp,
}

/// A stream's declared event time: where it comes from and how late it may be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventTime {
    pub column: EventTimeColumn,
    /// The column's name, for errors (`kafka timestamp` for the record timestamp).
    pub column_name: String,
    /// `LATENESS`, in microseconds (0 or more).
    pub lateness_us: i64,
    /// `LATENESS` as written (trimmed), for errors.
    pub lateness_text: String,
}

/// The `LATENESS` of a stream that does not give one.
pub const DEFAULT_LATENESS: &str = "0 seconds";

/// `LATENESS` in microseconds: a Postgres interval of days, hours, minutes and seconds
/// (a day counts 24 hours), not negative. Months and years, whose length varies, are
/// refused. `22023` otherwise.
pub fn parse_lateness(text: &str) -> Result<i64, SqlError> {
    let invalid = |why: Option<&str>| {
        let e = SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("invalid value for option \"LATENESS\": \"{text}\""),
        )
        .with_hint("Expected an interval such as '30 seconds' or '5 minutes'.");
        match why {
            Some(why) => e.with_detail(why),
            None => e,
        }
    };
    let interval: Interval = parse_interval(text.trim()).map_err(|_| invalid(None))?;
    if interval.months != 0 {
        return Err(invalid(Some("A lateness cannot hold months or years.")));
    }
    let micros = interval
        .fixed_micros()
        .ok_or_else(|| invalid(Some("The interval is out of range.")))?;
    if micros < 0 {
        return Err(invalid(Some("A lateness cannot be negative.")));
    }
    Ok(micros)
}

/// Why a message was not applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Its event time is before the watermark.
    Late(String),
    /// It cannot be read as an event: it does not decode, or it has no event time.
    Unreadable(String),
}

/// The watermark of one stream and the decision late / on time (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watermark {
    event_time: EventTime,
    /// Largest accepted event time minus the lateness; `None` before the first event.
    watermark_us: Option<i64>,
}

impl Watermark {
    /// The watermark of a stream with `event_time`, resumed at `watermark_us` (what the
    /// log recorded; `None` for a new source or one that has accepted nothing yet).
    pub fn new(event_time: EventTime, watermark_us: Option<i64>) -> Watermark {
        Watermark {
            event_time,
            watermark_us,
        }
    }

    /// The watermark now, in microseconds since the epoch (UTC).
    pub fn get(&self) -> Option<i64> {
        self.watermark_us
    }

    /// The event time of a message decoded into `row` with record timestamp
    /// `record_timestamp_ms`, in microseconds since the epoch (UTC).
    pub fn event_time_us(
        &self,
        row: &Row,
        record_timestamp_ms: Option<i64>,
    ) -> Result<i64, Rejected> {
        let missing = || {
            Rejected::Unreadable(format!(
                "event time {} is null",
                self.event_time.column_name
            ))
        };
        match self.event_time.column {
            EventTimeColumn::RecordTimestamp => record_timestamp_ms
                .and_then(|ms| ms.checked_mul(1000))
                .ok_or_else(missing),
            EventTimeColumn::Column(i) => match row.iter().nth(i) {
                Some(Datum::Timestamp(ts)) => Ok(ts.and_utc().timestamp_micros()),
                Some(Datum::TimestampTz(ts)) => Ok(ts.timestamp_micros()),
                _ => Err(missing()),
            },
        }
    }

    /// Accepts an event at `event_time_us` (advancing the watermark), or says it is
    /// late: before the watermark, which then stays as it was.
    pub fn admit(&mut self, event_time_us: i64) -> Result<(), Rejected> {
        if let Some(watermark) = self.watermark_us {
            if event_time_us < watermark {
                return Err(Rejected::Late(format!(
                    "late event: {} {} is before the watermark {} (lateness {})",
                    self.event_time.column_name,
                    format_micros(event_time_us),
                    format_micros(watermark),
                    self.event_time.lateness_text
                )));
            }
        }
        let candidate = event_time_us.saturating_sub(self.event_time.lateness_us);
        self.watermark_us = Some(self.watermark_us.map_or(candidate, |w| w.max(candidate)));
        Ok(())
    }
}

/// Microseconds since the epoch as a `timestamp` (UTC) is printed.
pub fn format_micros(us: i64) -> String {
    match DateTime::from_timestamp_micros(us) {
        Some(ts) => format_timestamp(&ts.naive_utc()),
        None => format!("{us} microseconds after the epoch"),
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    const SECOND: i64 = 1_000_000;

    fn event_time(lateness: &str) -> EventTime {
        EventTime {
            column: EventTimeColumn::Column(1),
            column_name: "ts".into(),
            lateness_us: parse_lateness(lateness).unwrap(),
            lateness_text: lateness.into(),
        }
    }

    #[test]
    fn lateness_is_a_fixed_non_negative_interval() {
        assert_eq!(parse_lateness("30 seconds").unwrap(), 30 * SECOND);
        assert_eq!(parse_lateness(" 0 seconds ").unwrap(), 0);
        assert_eq!(
            parse_lateness("1 day 2 minutes").unwrap(),
            (86_400 + 120) * SECOND
        );
        assert_eq!(parse_lateness("00:01:30").unwrap(), 90 * SECOND);
        for bad in ["-5 seconds", "1 month", "soon", ""] {
            let e = parse_lateness(bad).unwrap_err();
            assert_eq!(e.sqlstate, "22023", "{bad}");
            assert_eq!(
                e.message,
                format!("invalid value for option \"LATENESS\": \"{bad}\"")
            );
        }
        assert_eq!(
            parse_lateness("-5 seconds").unwrap_err().detail.as_deref(),
            Some("A lateness cannot be negative.")
        );
    }

    #[test]
    fn the_watermark_trails_the_largest_event_time_by_the_lateness() {
        let mut w = Watermark::new(event_time("30 seconds"), None);
        assert_eq!(w.get(), None);
        w.admit(100 * SECOND).unwrap();
        assert_eq!(w.get(), Some(70 * SECOND));
        // Out of order but within the lateness: accepted, the watermark stays.
        w.admit(80 * SECOND).unwrap();
        w.admit(70 * SECOND).unwrap(); // exactly at the watermark: on time
        assert_eq!(w.get(), Some(70 * SECOND));
        // Before the watermark: late, nothing changes.
        let late = w.admit(70 * SECOND - 1).unwrap_err();
        assert_eq!(
            late,
            Rejected::Late(
                "late event: ts 1970-01-01 00:01:09.999999 is before the watermark \
                 1970-01-01 00:01:10 (lateness 30 seconds)"
                    .into()
            )
        );
        assert_eq!(w.get(), Some(70 * SECOND));
        w.admit(200 * SECOND).unwrap();
        assert_eq!(w.get(), Some(170 * SECOND));
    }

    #[test]
    fn without_lateness_anything_older_than_the_newest_event_is_late() {
        let mut w = Watermark::new(event_time(DEFAULT_LATENESS), None);
        w.admit(10 * SECOND).unwrap();
        w.admit(10 * SECOND).unwrap();
        assert!(matches!(w.admit(9 * SECOND), Err(Rejected::Late(_))));
    }

    #[test]
    fn a_resumed_watermark_decides_as_the_one_before_the_restart() {
        let mut before = Watermark::new(event_time("30 seconds"), None);
        let events = [100, 90, 130, 95, 101, 160, 129, 131];
        let (first, rest) = events.split_at(3);
        for e in first {
            before.admit(e * SECOND).unwrap();
        }
        let mut resumed = Watermark::new(event_time("30 seconds"), before.get());
        for e in rest {
            let a = before.admit(e * SECOND).is_ok();
            let b = resumed.admit(e * SECOND).is_ok();
            assert_eq!(a, b, "event {e}");
        }
        assert_eq!(before, resumed);
    }

    #[test]
    fn event_time_comes_from_the_column_or_the_record() {
        let ts = NaiveDate::from_ymd_opt(2026, 1, 2)
            .unwrap()
            .and_hms_opt(3, 4, 5)
            .unwrap();
        let row = Row::pack(&[Datum::String("u".into()), Datum::Timestamp(ts)]);
        let w = Watermark::new(event_time("1 second"), None);
        assert_eq!(
            w.event_time_us(&row, Some(1)),
            Ok(ts.and_utc().timestamp_micros())
        );
        let null = Row::pack(&[Datum::String("u".into()), Datum::Null]);
        assert_eq!(
            w.event_time_us(&null, Some(1)),
            Err(Rejected::Unreadable("event time ts is null".into()))
        );
        let record = Watermark::new(
            EventTime {
                column: EventTimeColumn::RecordTimestamp,
                column_name: "kafka timestamp".into(),
                lateness_us: 0,
                lateness_text: DEFAULT_LATENESS.into(),
            },
            None,
        );
        assert_eq!(record.event_time_us(&null, Some(1_500)), Ok(1_500_000));
        assert!(record.event_time_us(&null, None).is_err());
    }
}
