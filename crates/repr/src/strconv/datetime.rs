//! Text input and output of `date`, `time`, `timestamp`, `timestamptz` and `interval`
//! as Postgres 15 prints and reads them with `DateStyle = ISO, MDY`,
//! `IntervalStyle = postgres` and the session time zone UTC.
//!
//! Years are astronomical inside (chrono's year 0 is 1 BC) and shown with ` BC` as
//! Postgres does. Input accepts the common ISO forms (`2024-01-02 03:04:05.5+02`,
//! `2024-01-02T03:04:05Z`, `20240102`), US forms (`01/02/2024`), `epoch`, `allballs`,
//! `AM`/`PM`, `BC`/`AD`, numeric zone offsets and `UTC`/`GMT`/`Z`; a zone given to a
//! `timestamp` (without time zone) is ignored, as in Postgres.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

use super::{is_pg_space, ParseError, ParseErrorKind};
use crate::datetime_unit::DateTimeUnit;
use crate::datum::Interval;
use crate::zone::{push_offset, TimeZone};

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_MINUTE: i64 = 60 * USECS_PER_SEC;
const USECS_PER_HOUR: i64 = 60 * USECS_PER_MINUTE;
const USECS_PER_DAY: i64 = 24 * USECS_PER_HOUR;

// ---------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------

fn push_year_month_day(out: &mut String, d: &NaiveDate) {
    let year = d.year();
    let shown = if year <= 0 { 1 - year } else { year };
    out.push_str(&format!("{:04}-{:02}-{:02}", shown, d.month(), d.day()));
}

fn push_bc(out: &mut String, d: &NaiveDate) {
    if d.year() <= 0 {
        out.push_str(" BC");
    }
}

/// Appends `.ffffff` with trailing zeros dropped (nothing when `micros` is 0).
fn push_fraction(out: &mut String, micros: u32) {
    if micros == 0 {
        return;
    }
    let digits = format!("{micros:06}");
    out.push('.');
    out.push_str(digits.trim_end_matches('0'));
}

fn time_micros(t: &NaiveTime) -> u32 {
    // chrono keeps a leap second as nanos >= 1e9; Postgres has no such value.
    (t.nanosecond() / 1000).min(999_999)
}

fn push_time(out: &mut String, t: &NaiveTime) {
    out.push_str(&format!(
        "{:02}:{:02}:{:02}",
        t.hour(),
        t.minute(),
        t.second()
    ));
    push_fraction(out, time_micros(t));
}

/// `date_out`: `2024-01-02`, `0044-03-15 BC`.
pub fn format_date(d: &NaiveDate) -> String {
    let mut out = String::with_capacity(13);
    push_year_month_day(&mut out, d);
    push_bc(&mut out, d);
    out
}

/// `time_out`: `03:04:05.5`.
pub fn format_time(t: &NaiveTime) -> String {
    let mut out = String::with_capacity(15);
    push_time(&mut out, t);
    out
}

/// `timestamp_out`: `2024-01-02 03:04:05.123456`, `0001-01-01 00:00:00 BC`.
pub fn format_timestamp(ts: &NaiveDateTime) -> String {
    let mut out = String::with_capacity(29);
    push_year_month_day(&mut out, &ts.date());
    out.push(' ');
    push_time(&mut out, &ts.time());
    push_bc(&mut out, &ts.date());
    out
}

/// `timestamptz_out` in time zone UTC: `2024-01-02 03:04:05+00`.
pub fn format_timestamptz(ts: &DateTime<Utc>) -> String {
    format_timestamptz_in(ts, &TimeZone::UTC)
}

/// `timestamptz_out` in time zone `zone`: the wall-clock time there and the offset in
/// force at that instant, `2024-03-31 03:30:00+02`.
pub fn format_timestamptz_in(ts: &DateTime<Utc>, zone: &TimeZone) -> String {
    let (naive, offset) = zone.local_with_offset(ts);
    let mut out = String::with_capacity(32);
    push_year_month_day(&mut out, &naive.date());
    out.push(' ');
    push_time(&mut out, &naive.time());
    push_offset(&mut out, offset);
    push_bc(&mut out, &naive.date());
    out
}

/// The fields Postgres splits an interval into for display and `extract`: the signs of
/// all time fields agree with the sign of `micros`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntervalFields {
    pub years: i32,
    pub months: i32,
    pub days: i32,
    pub hours: i64,
    pub minutes: i64,
    pub seconds: i64,
    pub micros: i64,
}

impl IntervalFields {
    pub fn of(iv: &Interval) -> Self {
        let mut rest = iv.micros;
        let hours = rest / USECS_PER_HOUR;
        rest -= hours * USECS_PER_HOUR;
        let minutes = rest / USECS_PER_MINUTE;
        rest -= minutes * USECS_PER_MINUTE;
        let seconds = rest / USECS_PER_SEC;
        rest -= seconds * USECS_PER_SEC;
        IntervalFields {
            years: iv.months / 12,
            months: iv.months % 12,
            days: iv.days,
            hours,
            minutes,
            seconds,
            micros: rest,
        }
    }
}

/// `interval_out` with `IntervalStyle = postgres`: `1 year 2 mons 3 days 04:05:06.5`,
/// `-1 days +01:00:00`, `00:00:00`.
pub fn format_interval(iv: &Interval) -> String {
    let f = IntervalFields::of(iv);
    let mut out = String::new();
    let mut is_zero = true;
    let mut is_before = false;
    let mut add_part = |out: &mut String, value: i64, unit: &str| {
        if value == 0 {
            return;
        }
        if !is_zero {
            out.push(' ');
        }
        if is_before && value > 0 {
            out.push('+');
        }
        out.push_str(&format!("{value} {unit}"));
        if value != 1 {
            out.push('s');
        }
        is_before = value < 0;
        is_zero = false;
    };
    add_part(&mut out, f.years as i64, "year");
    add_part(&mut out, f.months as i64, "mon");
    add_part(&mut out, f.days as i64, "day");
    if is_zero || iv.micros != 0 {
        let minus = iv.micros < 0;
        if !is_zero {
            out.push(' ');
        }
        if minus {
            out.push('-');
        } else if is_before {
            out.push('+');
        }
        out.push_str(&format!(
            "{:02}:{:02}:{:02}",
            f.hours.unsigned_abs(),
            f.minutes.unsigned_abs(),
            f.seconds.unsigned_abs()
        ));
        push_fraction(&mut out, f.micros.unsigned_abs() as u32);
    }
    out
}

// ---------------------------------------------------------------------------------
// Date/time input
// ---------------------------------------------------------------------------------

/// What a date/time string contained, before it is assembled into a value.
#[derive(Debug, Default)]
struct Parsed {
    /// `(year as written, month, day)`; the year is positive, BC applied later.
    date: Option<(i64, u32, u32)>,
    /// `(hour, minute, second, microseconds)`, microseconds possibly 1_000_000 after
    /// rounding (carried when assembling).
    time: Option<(u32, u32, u32, u32)>,
    /// The zone offset east of UTC, in seconds.
    offset_secs: Option<i32>,
    bc: bool,
    ad: bool,
    pm: Option<bool>,
    epoch: bool,
}

/// Errors for one input string and one type name (`timestamp`, `date`, ...).
struct Ctx<'a> {
    input: &'a str,
    typ: &'a str,
}

impl Ctx<'_> {
    fn syntax(&self) -> ParseError {
        ParseError::new(
            ParseErrorKind::InvalidDatetimeFormat,
            format!(
                "invalid input syntax for type {}: \"{}\"",
                self.typ, self.input
            ),
        )
    }
    fn field_range(&self) -> ParseError {
        ParseError::new(
            ParseErrorKind::DatetimeFieldOverflow,
            format!("date/time field value out of range: \"{}\"", self.input),
        )
    }
    fn out_of_range(&self, what: &str) -> ParseError {
        ParseError::new(
            ParseErrorKind::DatetimeFieldOverflow,
            format!("{what} out of range: \"{}\"", self.input),
        )
    }
    fn unsupported(&self) -> ParseError {
        ParseError::new(
            ParseErrorKind::FeatureNotSupported,
            format!("{} value \"{}\" is not supported", self.typ, self.input),
        )
    }
}

fn read_digits(b: &[u8], i: &mut usize) -> usize {
    let start = *i;
    while *i < b.len() && b[*i].is_ascii_digit() {
        *i += 1;
    }
    *i - start
}

fn digits_value(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 12 {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Reads a fraction `.ddd` (the point already consumed) and rounds it to microseconds
/// the way Postgres does (`rint` of the double value times 10^6).
fn read_fraction_micros(b: &[u8], i: &mut usize) -> u32 {
    let start = *i;
    read_digits(b, i);
    let text = format!("0.{}", std::str::from_utf8(&b[start..*i]).unwrap_or("0"));
    let frac: f64 = text.parse().unwrap_or(0.0);
    (frac * 1_000_000.0).round_ties_even() as u32
}

fn scan(ctx: &Ctx<'_>) -> Result<Parsed, ParseError> {
    let lower = ctx.input.trim_matches(is_pg_space).to_ascii_lowercase();
    let b = lower.as_bytes();
    let mut p = Parsed::default();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_pg_space(c as char) || c == b',' {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            let n = read_digits(b, &mut i);
            let next = b.get(i).copied();
            if matches!(next, Some(b'-') | Some(b'/') | Some(b'.'))
                && p.date.is_none()
                && b.get(i + 1).is_some_and(|d| d.is_ascii_digit())
            {
                // A date: three numbers with one separator kind.
                let sep = next.unwrap_or(b'-');
                let f1 = &b[start..i];
                i += 1;
                let s2 = i;
                read_digits(b, &mut i);
                let f2 = &b[s2..i];
                if b.get(i) != Some(&sep) {
                    return Err(ctx.syntax());
                }
                i += 1;
                let s3 = i;
                if read_digits(b, &mut i) == 0 {
                    return Err(ctx.syntax());
                }
                let f3 = &b[s3..i];
                let v = |f: &[u8]| digits_value(f).ok_or_else(|| ctx.syntax());
                let (year, month, day) = if f1.len() >= 3 {
                    (v(f1)?, v(f2)?, v(f3)?)
                } else {
                    let mut year = v(f3)?;
                    if f3.len() <= 2 {
                        year += if year < 70 { 2000 } else { 1900 };
                    }
                    (year, v(f1)?, v(f2)?)
                };
                if month > 12 || day > 31 {
                    return Err(ctx.field_range());
                }
                p.date = Some((year, month as u32, day as u32));
            } else if next == Some(b':') {
                if p.time.is_some() {
                    return Err(ctx.syntax());
                }
                let hour = digits_value(&b[start..i]).ok_or_else(|| ctx.syntax())?;
                i += 1;
                let s2 = i;
                if read_digits(b, &mut i) == 0 {
                    return Err(ctx.syntax());
                }
                let minute = digits_value(&b[s2..i]).ok_or_else(|| ctx.syntax())?;
                let mut second = 0;
                let mut micros = 0;
                if b.get(i) == Some(&b':') {
                    i += 1;
                    let s3 = i;
                    if read_digits(b, &mut i) == 0 {
                        return Err(ctx.syntax());
                    }
                    second = digits_value(&b[s3..i]).ok_or_else(|| ctx.syntax())?;
                    if b.get(i) == Some(&b'.') {
                        i += 1;
                        micros = read_fraction_micros(b, &mut i);
                    }
                }
                if hour > 24 || minute > 59 || second > 60 {
                    return Err(ctx.field_range());
                }
                p.time = Some((hour as u32, minute as u32, second as u32, micros));
            } else if n == 8 && p.date.is_none() {
                let f = &b[start..i];
                let v = |f: &[u8]| digits_value(f).ok_or_else(|| ctx.syntax());
                let (year, month, day) = (v(&f[..4])?, v(&f[4..6])?, v(&f[6..])?);
                if month > 12 || day > 31 {
                    return Err(ctx.field_range());
                }
                p.date = Some((year, month as u32, day as u32));
            } else {
                return Err(ctx.syntax());
            }
            continue;
        }
        if (c == b'+' || c == b'-') && (p.time.is_some() || p.date.is_some()) {
            if p.offset_secs.is_some() {
                return Err(ctx.syntax());
            }
            let negative = c == b'-';
            i += 1;
            let s1 = i;
            let n = read_digits(b, &mut i);
            let f1 = &b[s1..i];
            let (mut h, mut m, mut s) = match n {
                1 | 2 => (digits_value(f1).unwrap_or(0), 0, 0),
                4 => (
                    digits_value(&f1[..2]).unwrap_or(0),
                    digits_value(&f1[2..]).unwrap_or(0),
                    0,
                ),
                6 => (
                    digits_value(&f1[..2]).unwrap_or(0),
                    digits_value(&f1[2..4]).unwrap_or(0),
                    digits_value(&f1[4..]).unwrap_or(0),
                ),
                _ => return Err(ctx.syntax()),
            };
            if n <= 2 && b.get(i) == Some(&b':') {
                i += 1;
                let s2 = i;
                if read_digits(b, &mut i) != 2 {
                    return Err(ctx.syntax());
                }
                m = digits_value(&b[s2..i]).unwrap_or(0);
                if b.get(i) == Some(&b':') {
                    i += 1;
                    let s3 = i;
                    if read_digits(b, &mut i) != 2 {
                        return Err(ctx.syntax());
                    }
                    s = digits_value(&b[s3..i]).unwrap_or(0);
                }
            }
            if m > 59 || s > 59 {
                return Err(ctx.field_range());
            }
            if h > 15 {
                return Err(ParseError::new(
                    ParseErrorKind::InvalidTimeZoneDisplacement,
                    format!("time zone displacement out of range: \"{}\"", ctx.input),
                ));
            }
            if negative {
                h = -h;
                m = -m;
                s = -s;
            }
            p.offset_secs = Some((h * 3600 + m * 60 + s) as i32);
            continue;
        }
        if c.is_ascii_alphabetic() {
            let start = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            let word = &lower[start..i];
            match word {
                "t" if p.date.is_some() && p.time.is_none() => {}
                "z" | "utc" | "gmt" | "zulu" | "ut" if p.offset_secs.is_none() => {
                    p.offset_secs = Some(0)
                }
                "bc" if !p.bc && !p.ad => p.bc = true,
                "ad" if !p.bc && !p.ad => p.ad = true,
                "am" | "a" if p.pm.is_none() && p.time.is_some() => p.pm = Some(false),
                "pm" | "p" if p.pm.is_none() && p.time.is_some() => p.pm = Some(true),
                "epoch" if p.date.is_none() && p.time.is_none() => {
                    p.epoch = true;
                    p.date = Some((1970, 1, 1));
                    p.time = Some((0, 0, 0, 0));
                }
                "allballs" if p.time.is_none() => p.time = Some((0, 0, 0, 0)),
                "infinity" | "now" | "today" | "tomorrow" | "yesterday" => {
                    return Err(ctx.unsupported())
                }
                _ => return Err(ctx.syntax()),
            }
            // `a.m.` / `p.m.` spellings.
            if matches!(word, "a" | "p") {
                if lower[i..].starts_with(".m.") {
                    i += 3;
                } else {
                    return Err(ctx.syntax());
                }
            }
            continue;
        }
        if c == b'-' && lower[i..] == *"-infinity" {
            return Err(ctx.unsupported());
        }
        return Err(ctx.syntax());
    }
    if p.epoch && (p.bc || p.ad || p.pm.is_some()) {
        return Err(ctx.syntax());
    }
    Ok(p)
}

/// Validates and builds the date of `p` (BC applied).
fn assemble_date(p: &Parsed, ctx: &Ctx<'_>) -> Result<NaiveDate, ParseError> {
    let (year, month, day) = p.date.ok_or_else(|| ctx.syntax())?;
    if year == 0 || month == 0 || day == 0 {
        return Err(ctx.field_range());
    }
    let year = if p.bc { 1 - year } else { year };
    let year = i32::try_from(year).map_err(|_| ctx.out_of_range(date_kind(ctx)))?;
    let valid_day = days_in_month(year, month).is_some_and(|n| day <= n);
    if !valid_day {
        return Err(ctx.field_range());
    }
    // Postgres' dates start at 4714-11-24 BC (Julian day 0).
    if (year, month, day) < (-4713, 11, 24) {
        return Err(ctx.out_of_range(date_kind(ctx)));
    }
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| ctx.out_of_range(date_kind(ctx)))
}

fn date_kind(ctx: &Ctx<'_>) -> &'static str {
    if ctx.typ == "date" {
        "date"
    } else {
        "timestamp"
    }
}

/// The number of days in `month` of `year` (astronomical), `None` for a bad month.
pub fn days_in_month(year: i32, month: u32) -> Option<u32> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    Some(match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    })
}

/// The time of day of `p` as microseconds since midnight (up to 24:00:00 and leap
/// second 60 included, so the caller may carry into the next day).
fn assemble_time_micros(p: &Parsed, ctx: &Ctx<'_>) -> Result<i64, ParseError> {
    let Some((mut hour, minute, second, micros)) = p.time else {
        return Ok(0);
    };
    match p.pm {
        Some(pm) => {
            if hour == 0 || hour > 12 {
                return Err(ctx.field_range());
            }
            if hour == 12 {
                hour = 0;
            }
            if pm {
                hour += 12;
            }
        }
        None => {
            if hour == 24 && (minute != 0 || second != 0 || micros != 0) {
                return Err(ctx.field_range());
            }
        }
    }
    Ok(hour as i64 * USECS_PER_HOUR
        + minute as i64 * USECS_PER_MINUTE
        + second as i64 * USECS_PER_SEC
        + micros as i64)
}

fn timestamp_from_parsed(p: &Parsed, ctx: &Ctx<'_>) -> Result<NaiveDateTime, ParseError> {
    let date = assemble_date(p, ctx)?;
    let micros = assemble_time_micros(p, ctx)?;
    let ts = date
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| midnight.checked_add_signed(Duration::microseconds(micros)))
        .ok_or_else(|| ctx.out_of_range("timestamp"))?;
    Ok(ts)
}

/// `timestamp_in`: any zone in the text is ignored.
pub fn parse_timestamp(s: &str) -> Result<NaiveDateTime, ParseError> {
    let ctx = Ctx {
        input: s,
        typ: "timestamp",
    };
    let p = scan(&ctx)?;
    timestamp_from_parsed(&p, &ctx)
}

/// `timestamptz_in`: the local time in the text's zone (UTC when none is given) is
/// converted to UTC.
pub fn parse_timestamptz(s: &str) -> Result<DateTime<Utc>, ParseError> {
    parse_timestamptz_in(s, &TimeZone::UTC)
}

/// `timestamptz_in` in a session whose time zone is `zone`: a time without an offset
/// is the zone's wall-clock time (`epoch` is the same instant in every zone).
pub fn parse_timestamptz_in(s: &str, zone: &TimeZone) -> Result<DateTime<Utc>, ParseError> {
    let ctx = Ctx {
        input: s,
        typ: "timestamp with time zone",
    };
    let p = scan(&ctx)?;
    let local = timestamp_from_parsed(&p, &ctx)?;
    let offset = match p.offset_secs {
        Some(offset) => i64::from(offset),
        None if p.epoch || zone.is_utc() => 0,
        None => return Ok(zone.instant(&local)),
    };
    let utc = local
        .checked_sub_signed(Duration::seconds(offset))
        .ok_or_else(|| ctx.out_of_range("timestamp"))?;
    Ok(DateTime::from_naive_utc_and_offset(utc, Utc))
}

/// `date_in`: a time of day in the text is ignored.
pub fn parse_date(s: &str) -> Result<NaiveDate, ParseError> {
    let ctx = Ctx {
        input: s,
        typ: "date",
    };
    let p = scan(&ctx)?;
    assemble_time_micros(&p, &ctx)?;
    assemble_date(&p, &ctx)
}

/// `time_in`: a date or zone in the text is ignored (a date alone is an error).
/// `24:00:00` cannot be represented and is rejected.
pub fn parse_time(s: &str) -> Result<NaiveTime, ParseError> {
    let ctx = Ctx {
        input: s,
        typ: "time",
    };
    let p = scan(&ctx)?;
    if p.time.is_none() {
        return Err(ctx.syntax());
    }
    if p.date.is_some() && !p.epoch {
        assemble_date(&p, &ctx)?;
    }
    let micros = assemble_time_micros(&p, &ctx)?;
    if micros >= USECS_PER_DAY {
        return Err(ctx.unsupported());
    }
    let secs = (micros / USECS_PER_SEC) as u32;
    let nanos = (micros % USECS_PER_SEC) as u32 * 1000;
    NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos).ok_or_else(|| ctx.field_range())
}

// ---------------------------------------------------------------------------------
// Interval input
// ---------------------------------------------------------------------------------

/// The bit that marks `unit` as given, to reject a unit given twice (seconds with a
/// fraction also claim milliseconds and microseconds, as in Postgres).
fn mask(unit: DateTimeUnit) -> u32 {
    const _: () = assert!(DateTimeUnit::ALL.len() <= 32);
    1 << (unit as u32)
}

/// Accumulates interval fields with Postgres' overflow checks and fraction cascading.
#[derive(Default)]
struct IntervalAcc {
    months: i64,
    days: i64,
    micros: i128,
}

impl IntervalAcc {
    /// Adds `frac` (|frac| < 1) of `scale` microseconds, rounding a remaining half
    /// microsecond toward zero as Postgres' `AdjustFractMicroseconds` does.
    fn add_fract_micros(&mut self, frac: f64, scale: i64) {
        if frac == 0.0 {
            return;
        }
        let f = frac * scale as f64;
        let mut usec = f as i64;
        let rest = f - usec as f64;
        if rest > 0.5 {
            usec += 1;
        } else if rest < -0.5 {
            usec -= 1;
        }
        self.micros += usec as i128;
    }

    fn add_fract_days(&mut self, frac: f64, scale: i64) {
        if frac == 0.0 {
            return;
        }
        let f = frac * scale as f64;
        let extra = f as i64;
        self.days += extra;
        self.add_fract_micros(f - extra as f64, USECS_PER_DAY);
    }

    /// Adds `val + frac` of `unit`; `None` for a unit interval input does not take
    /// (quarters, time zones and the `extract`-only fields), as Postgres'
    /// `DecodeInterval` rejects them.
    fn add(&mut self, unit: DateTimeUnit, val: i64, frac: f64) -> Option<()> {
        let micros = |acc: &mut IntervalAcc, scale: i64| {
            acc.micros += val as i128 * scale as i128;
            acc.add_fract_micros(frac, scale);
        };
        let years = |acc: &mut IntervalAcc, scale: i64| {
            acc.months = acc
                .months
                .saturating_add(val.saturating_mul(12 * scale))
                .saturating_add((frac * (scale * 12) as f64).round_ties_even() as i64);
        };
        use DateTimeUnit::*;
        match unit {
            Microseconds => micros(self, 1),
            Milliseconds => micros(self, 1000),
            Second => micros(self, USECS_PER_SEC),
            Minute => micros(self, USECS_PER_MINUTE),
            Hour => micros(self, USECS_PER_HOUR),
            Day => {
                self.days = self.days.saturating_add(val);
                self.add_fract_micros(frac, USECS_PER_DAY);
            }
            Week => {
                self.days = self.days.saturating_add(val.saturating_mul(7));
                self.add_fract_days(frac, 7);
            }
            Month => {
                self.months = self.months.saturating_add(val);
                self.add_fract_days(frac, 30);
            }
            Year => years(self, 1),
            Decade => years(self, 10),
            Century => years(self, 100),
            Millennium => years(self, 1000),
            Quarter | Epoch | Dow | IsoDow | Doy | IsoYear | Julian | Timezone | TimezoneHour
            | TimezoneMinute => return None,
        }
        Some(())
    }
}

/// A number as an interval field: its integer part and signed fraction.
fn split_number(s: &str) -> Option<(i64, f64)> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int_part.is_empty() && frac_part.is_none_or(|f| f.is_empty()) {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.unwrap_or("").bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int: i64 = if int_part.is_empty() {
        0
    } else if int_part.len() > 18 {
        return None;
    } else {
        int_part.parse().ok()?
    };
    let frac: f64 = match frac_part {
        Some(f) if !f.is_empty() => format!("0.{f}").parse().ok()?,
        _ => 0.0,
    };
    Some(if neg { (-int, -frac) } else { (int, frac) })
}

/// One whitespace-separated piece of a Postgres-style interval.
#[derive(Debug)]
enum Token<'a> {
    Number(&'a str),
    Time(&'a str),
    Word(&'a str),
}

fn tokenize_interval(s: &str) -> Option<Vec<Token<'_>>> {
    let mut tokens = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_pg_space(c as char) || c == b',' || c == b'@' {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_digit() || c == b'+' || c == b'-' || c == b'.' {
            i += 1;
            if (c == b'+' || c == b'-') && i < b.len() && is_pg_space(b[i] as char) {
                // `- 1 day`: a detached sign applies to the next number.
                while i < b.len() && is_pg_space(b[i] as char) {
                    i += 1;
                }
                if i >= b.len() || !(b[i].is_ascii_digit() || b[i] == b'.') {
                    return None;
                }
            }
            let mut is_time = false;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b':') {
                is_time |= b[i] == b':';
                i += 1;
            }
            let text = &s[start..i];
            if is_time {
                tokens.push(Token::Time(text));
            } else {
                tokens.push(Token::Number(text));
            }
        } else if c.is_ascii_alphabetic() {
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            tokens.push(Token::Word(&s[start..i]));
        } else {
            return None;
        }
    }
    Some(tokens)
}

/// `[+-]h:m[:s[.f]]` (or `m:s.f`) as signed microseconds.
fn parse_interval_time(t: &str) -> Option<Result<i128, ()>> {
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, t[1..].trim_start_matches(is_pg_space)),
        Some(b'+') => (false, t[1..].trim_start_matches(is_pg_space)),
        _ => (false, t),
    };
    let parts: Vec<&str> = body.split(':').collect();
    let int = |s: &str| -> Option<i64> {
        if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    let seconds = |s: &str| -> Option<(i64, i64)> {
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        let w = int(whole)?;
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let f: f64 = if frac.is_empty() {
            0.0
        } else {
            format!("0.{frac}").parse().ok()?
        };
        Some((w, (f * USECS_PER_SEC as f64).round_ties_even() as i64))
    };
    let (h, m, s, us) = match parts.as_slice() {
        [a, b] if b.contains('.') => {
            let (s, us) = seconds(b)?;
            (0, int(a)?, s, us)
        }
        [a, b] => (int(a)?, int(b)?, 0, 0),
        [a, b, c] => {
            let (s, us) = seconds(c)?;
            (int(a)?, int(b)?, s, us)
        }
        _ => return None,
    };
    if m > 59 || s > 60 {
        return Some(Err(()));
    }
    let total = h as i128 * USECS_PER_HOUR as i128
        + m as i128 * USECS_PER_MINUTE as i128
        + s as i128 * USECS_PER_SEC as i128
        + us as i128;
    Some(Ok(if neg { -total } else { total }))
}

/// `interval_in` (`IntervalStyle = postgres` input): `1 year 2 mons`, `2 hours 3
/// minutes`, `1 day 02:03:04.5`, `01:02:03`, `@ 1 day ago`, fractions cascading to
/// smaller units (`1.5 days` is `1 day 12:00:00`), and ISO 8601 `P1Y2M3DT4H5M6S`.
pub fn parse_interval(s: &str) -> Result<Interval, ParseError> {
    let syntax = || {
        ParseError::new(
            ParseErrorKind::InvalidDatetimeFormat,
            format!("invalid input syntax for type interval: \"{s}\""),
        )
    };
    let field_range = || {
        ParseError::new(
            ParseErrorKind::IntervalFieldOverflow,
            format!("interval field value out of range: \"{s}\""),
        )
    };
    let lower = s.trim_matches(is_pg_space).to_ascii_lowercase();
    let acc = if let Some(iso) = lower.strip_prefix('p') {
        parse_iso8601_interval(iso).ok_or_else(syntax)?
    } else {
        let tokens = tokenize_interval(&lower).ok_or_else(syntax)?;
        if tokens.is_empty() {
            return Err(syntax());
        }
        let mut acc = IntervalAcc::default();
        let mut seen: u32 = 0;
        let mut ago = false;
        let mut claim = |mask: u32| -> Result<(), ParseError> {
            if seen & mask != 0 {
                return Err(syntax());
            }
            seen |= mask;
            Ok(())
        };
        // Postgres reads the fields right to left: a unit word names the number
        // before it, a time field makes a bare number before it a day count, and
        // otherwise a bare number keeps the unit of the number after it (seconds
        // for the last one).
        let mut unit: Option<DateTimeUnit> = None;
        let mut unit_pending = false;
        for token in tokens.iter().rev() {
            match token {
                Token::Word("ago") => ago = true,
                Token::Word(w) => {
                    if unit_pending {
                        return Err(syntax());
                    }
                    unit = Some(DateTimeUnit::from_name(w).ok_or_else(syntax)?);
                    unit_pending = true;
                }
                Token::Time(t) => {
                    if unit_pending {
                        return Err(syntax());
                    }
                    let micros = parse_interval_time(t)
                        .ok_or_else(syntax)?
                        .map_err(|_| field_range())?;
                    claim(
                        mask(DateTimeUnit::Hour)
                            | mask(DateTimeUnit::Minute)
                            | mask(DateTimeUnit::Second),
                    )?;
                    acc.micros += micros;
                    unit = Some(DateTimeUnit::Day);
                }
                Token::Number(n) => {
                    let n: String = n.chars().filter(|c| !is_pg_space(*c)).collect();
                    let (val, frac) = split_number(&n).ok_or_else(syntax)?;
                    let unit = unit.unwrap_or(DateTimeUnit::Second);
                    unit_pending = false;
                    let mut claimed = mask(unit);
                    if unit == DateTimeUnit::Second && frac != 0.0 {
                        claimed |=
                            mask(DateTimeUnit::Milliseconds) | mask(DateTimeUnit::Microseconds);
                    }
                    claim(claimed)?;
                    acc.add(unit, val, frac).ok_or_else(syntax)?;
                }
            }
        }
        if unit_pending {
            return Err(syntax());
        }
        if ago {
            acc.months = -acc.months;
            acc.days = -acc.days;
            acc.micros = -acc.micros;
        }
        acc
    };
    Ok(Interval {
        months: i32::try_from(acc.months).map_err(|_| field_range())?,
        days: i32::try_from(acc.days).map_err(|_| field_range())?,
        micros: i64::try_from(acc.micros).map_err(|_| field_range())?,
    })
}

/// ISO 8601 durations after the `P`: `1Y2M3W4DT5H6M7.5S`, each number optionally
/// signed and fractional.
fn parse_iso8601_interval(s: &str) -> Option<IntervalAcc> {
    let mut acc = IntervalAcc::default();
    let b = s.as_bytes();
    let mut i = 0;
    let mut in_time = false;
    if b.is_empty() {
        return None;
    }
    while i < b.len() {
        if b[i] == b't' {
            if in_time {
                return None;
            }
            in_time = true;
            i += 1;
            continue;
        }
        let start = i;
        if b[i] == b'-' || b[i] == b'+' {
            i += 1;
        }
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        let (val, frac) = split_number(&s[start..i])?;
        let unit = match (b.get(i)?, in_time) {
            (b'y', false) => DateTimeUnit::Year,
            (b'm', false) => DateTimeUnit::Month,
            (b'w', false) => DateTimeUnit::Week,
            (b'd', false) => DateTimeUnit::Day,
            (b'h', true) => DateTimeUnit::Hour,
            (b'm', true) => DateTimeUnit::Minute,
            (b's', true) => DateTimeUnit::Second,
            _ => return None,
        };
        i += 1;
        acc.add(unit, val, frac)?;
    }
    Some(acc)
}
