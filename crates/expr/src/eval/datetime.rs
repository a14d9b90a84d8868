//! Date/time arithmetic, `extract`/`date_part`, `date_trunc` and `date_bin`, as Postgres 15
//! computes them in time zone UTC.
//!
//! - `timestamp ± interval` adds months first (clamping the day to the month's end:
//!   Jan 31 + 1 month is Feb 29 in a leap year), then days, then the time part.
//! - `timestamp - timestamp` is an interval of days and time (`justify_hours`), never
//!   months.
//! - `extract` returns numeric with Postgres 14+ scales (`second` has 6 decimals,
//!   `epoch` of a timestamp 6, of a date 0); `date_part` returns double precision and
//!   reads a date as a timestamp at midnight.
//! - BC years are astronomical inside (year 0 is 1 BC); fields computed from them
//!   (`year`, `decade`, `century`, `millennium`) follow Postgres' BC conventions.
//! - Units arrive resolved as [`DateTimeUnit`]s (the planner reads their names once);
//!   a unit a value's type has no such field for is Postgres' `0A000` per row, as in
//!   Postgres, and `date_trunc` of an `extract`-only field is its `22023`.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use eddy_repr::strconv::datetime::{days_in_month, IntervalFields};
use eddy_repr::zone::TimeZone;
use eddy_repr::{DateTimeUnit, Datum, Interval};

use super::arith::{numeric_div, to_f64};
use super::unexpected;
use crate::error::EvalError;

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_DAY: i64 = 86_400 * USECS_PER_SEC;
/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JDATE: i64 = 2_440_588;

fn timestamp_out_of_range() -> EvalError {
    EvalError::DatetimeFieldOverflow("timestamp out of range".into())
}

fn date_out_of_range() -> EvalError {
    EvalError::DatetimeFieldOverflow("date out of range".into())
}

fn interval_out_of_range() -> EvalError {
    EvalError::DatetimeFieldOverflow("interval out of range".into())
}

// ---------------------------------------------------------------------------------
// Arithmetic
// ---------------------------------------------------------------------------------

/// `timestamp + interval` (Postgres' `timestamp_pl_interval`).
pub(crate) fn add_interval(ts: NaiveDateTime, iv: &Interval) -> Result<NaiveDateTime, EvalError> {
    let mut ts = ts;
    if iv.months != 0 {
        let total = ts.year() as i64 * 12 + ts.month0() as i64 + iv.months as i64;
        let year = i32::try_from(total.div_euclid(12)).map_err(|_| timestamp_out_of_range())?;
        let month = total.rem_euclid(12) as u32 + 1;
        let last = days_in_month(year, month).unwrap_or(28);
        let date = NaiveDate::from_ymd_opt(year, month, ts.day().min(last))
            .ok_or_else(timestamp_out_of_range)?;
        ts = date.and_time(ts.time());
    }
    if iv.days != 0 {
        ts = ts
            .checked_add_signed(Duration::days(iv.days as i64))
            .ok_or_else(timestamp_out_of_range)?;
    }
    ts = ts
        .checked_add_signed(Duration::microseconds(iv.micros))
        .ok_or_else(timestamp_out_of_range)?;
    check_timestamp_range(ts)
}

/// `timestamptz + interval` in time zone `zone` (`timestamptz_pl_interval`): months,
/// then days, move the wall-clock time in the zone (a local time a move lands in a gap
/// or fold of is read as the zone reads it); the time part then moves the instant.
pub(crate) fn add_interval_in(a: Datum, b: Datum, zone: &TimeZone) -> Result<Datum, EvalError> {
    let (ts, iv) = match (&a, &b) {
        (Datum::TimestampTz(ts), Datum::Interval(iv)) => (*ts, *iv),
        _ => return Err(unexpected("date_add", &[a, b])),
    };
    let mut ts = ts;
    for part in [
        Interval {
            months: iv.months,
            days: 0,
            micros: 0,
        },
        Interval {
            months: 0,
            days: iv.days,
            micros: 0,
        },
    ] {
        if part != Interval::default() {
            ts = zone.instant(&add_interval(zone.local(&ts), &part)?);
        }
    }
    let ts = ts
        .checked_add_signed(Duration::microseconds(iv.micros))
        .ok_or_else(timestamp_out_of_range)?;
    check_timestamp_range(ts.naive_utc())?;
    Ok(Datum::TimestampTz(ts))
}

/// `timestamptz - interval` in time zone `zone` (see [`add_interval_in`]).
pub(crate) fn sub_interval_in(a: Datum, b: Datum, zone: &TimeZone) -> Result<Datum, EvalError> {
    match b {
        Datum::Interval(iv) => add_interval_in(a, Datum::Interval(neg_interval(&iv)?), zone),
        b => Err(unexpected("date_subtract", &[a, b])),
    }
}

/// Postgres' timestamps start at 4714-11-24 BC (Julian day 0).
fn check_timestamp_range(ts: NaiveDateTime) -> Result<NaiveDateTime, EvalError> {
    let min = NaiveDate::from_ymd_opt(-4713, 11, 24).unwrap_or(NaiveDate::MIN);
    if ts.date() < min {
        return Err(timestamp_out_of_range());
    }
    Ok(ts)
}

pub(crate) fn neg_interval(iv: &Interval) -> Result<Interval, EvalError> {
    Ok(Interval {
        months: iv.months.checked_neg().ok_or_else(interval_out_of_range)?,
        days: iv.days.checked_neg().ok_or_else(interval_out_of_range)?,
        micros: iv.micros.checked_neg().ok_or_else(interval_out_of_range)?,
    })
}

fn interval_add(a: &Interval, b: &Interval) -> Result<Interval, EvalError> {
    Ok(Interval {
        months: a
            .months
            .checked_add(b.months)
            .ok_or_else(interval_out_of_range)?,
        days: a
            .days
            .checked_add(b.days)
            .ok_or_else(interval_out_of_range)?,
        micros: a
            .micros
            .checked_add(b.micros)
            .ok_or_else(interval_out_of_range)?,
    })
}

/// The difference of two timestamps as days and time (`timestamp_mi` +
/// `interval_justify_hours`).
fn timestamp_diff(a: NaiveDateTime, b: NaiveDateTime) -> Result<Interval, EvalError> {
    let micros = (a - b)
        .num_microseconds()
        .ok_or_else(interval_out_of_range)?;
    let mut days = micros / USECS_PER_DAY;
    let mut time = micros % USECS_PER_DAY;
    if days > 0 && time < 0 {
        time += USECS_PER_DAY;
        days -= 1;
    } else if days < 0 && time > 0 {
        time -= USECS_PER_DAY;
        days += 1;
    }
    Ok(Interval {
        months: 0,
        days: i32::try_from(days).map_err(|_| interval_out_of_range())?,
        micros: time,
    })
}

/// Rounds to whole microseconds the way Postgres' `TSROUND` does.
fn tsround(x: f64) -> f64 {
    (x * 1e6).round_ties_even() / 1e6
}

/// `interval * factor` (`interval_mul`): fractional months and days cascade down to
/// days and time.
fn interval_mul(span: &Interval, factor: f64) -> Result<Interval, EvalError> {
    let to_i32 = |v: f64| -> Result<i32, EvalError> {
        if v.is_nan() || v > i32::MAX as f64 || v < i32::MIN as f64 {
            Err(interval_out_of_range())
        } else {
            Ok(v as i32)
        }
    };
    let months = to_i32(span.months as f64 * factor)?;
    let mut days = to_i32(span.days as f64 * factor)?;
    let month_remainder_days = tsround((span.months as f64 * factor - months as f64) * 30.0);
    let mut sec_remainder = tsround(
        (span.days as f64 * factor - days as f64 + month_remainder_days
            - month_remainder_days.trunc())
            * 86_400.0,
    );
    if sec_remainder.abs() >= 86_400.0 {
        let extra = (sec_remainder / 86_400.0) as i32;
        days = days.checked_add(extra).ok_or_else(interval_out_of_range)?;
        sec_remainder -= extra as f64 * 86_400.0;
    }
    days = days
        .checked_add(month_remainder_days as i32)
        .ok_or_else(interval_out_of_range)?;
    let micros = (span.micros as f64 * factor + sec_remainder * 1e6).round_ties_even();
    if micros.is_nan() || micros < i64::MIN as f64 || micros >= -(i64::MIN as f64) {
        return Err(interval_out_of_range());
    }
    Ok(Interval {
        months,
        days,
        micros: micros as i64,
    })
}

/// `interval / factor` (`interval_div`).
fn interval_div(span: &Interval, factor: f64) -> Result<Interval, EvalError> {
    if factor == 0.0 {
        return Err(EvalError::DivisionByZero);
    }
    let months = span.months as f64 / factor;
    let days_f = span.days as f64 / factor;
    if months.is_nan() || days_f.is_nan() {
        return Err(interval_out_of_range());
    }
    let mut result_months = months as i32;
    let mut days = days_f as i32;
    let month_remainder_days = tsround((months - result_months as f64) * 30.0);
    let mut sec_remainder = tsround(
        (days_f - days as f64 + month_remainder_days - month_remainder_days.trunc()) * 86_400.0,
    );
    if sec_remainder.abs() >= 86_400.0 {
        let extra = (sec_remainder / 86_400.0) as i32;
        days = days.checked_add(extra).ok_or_else(interval_out_of_range)?;
        sec_remainder -= extra as f64 * 86_400.0;
    }
    days = days
        .checked_add(month_remainder_days as i32)
        .ok_or_else(interval_out_of_range)?;
    if result_months == i32::MIN && months > 0.0 {
        result_months = i32::MAX;
    }
    let micros = (span.micros as f64 / factor + sec_remainder * 1e6).round_ties_even();
    if micros.is_nan() || micros < i64::MIN as f64 || micros >= -(i64::MIN as f64) {
        return Err(interval_out_of_range());
    }
    Ok(Interval {
        months: result_months,
        days,
        micros: micros as i64,
    })
}

fn time_micros(t: &NaiveTime) -> i64 {
    t.num_seconds_from_midnight() as i64 * USECS_PER_SEC
        + (t.nanosecond() / 1000).min(999_999) as i64
}

fn time_from_micros(micros: i64) -> NaiveTime {
    let m = micros.rem_euclid(USECS_PER_DAY);
    NaiveTime::from_num_seconds_from_midnight_opt(
        (m / USECS_PER_SEC) as u32,
        (m % USECS_PER_SEC) as u32 * 1000,
    )
    .unwrap_or(NaiveTime::MIN)
}

fn date_plus_days(d: NaiveDate, days: i64) -> Result<NaiveDate, EvalError> {
    let r = d
        .checked_add_signed(Duration::try_days(days).ok_or_else(date_out_of_range)?)
        .ok_or_else(date_out_of_range)?;
    let min = NaiveDate::from_ymd_opt(-4713, 11, 24).unwrap_or(NaiveDate::MIN);
    if r < min {
        return Err(date_out_of_range());
    }
    Ok(r)
}

fn int_value(d: &Datum) -> Option<i64> {
    match d {
        Datum::Int16(v) => Some(*v as i64),
        Datum::Int32(v) => Some(*v as i64),
        Datum::Int64(v) => Some(*v),
        _ => None,
    }
}

fn utc(ts: NaiveDateTime) -> Datum {
    Datum::TimestampTz(DateTime::from_naive_utc_and_offset(ts, Utc))
}

/// `+`, `-`, `*`, `/` where an operand is a date/time type.
pub(crate) fn arith(op: &str, a: Datum, b: Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    let midnight = NaiveTime::MIN;
    Ok(match (op, &a, &b) {
        ("+", Timestamp(t), Interval(iv)) | ("+", Interval(iv), Timestamp(t)) => {
            Timestamp(add_interval(*t, iv)?)
        }
        ("-", Timestamp(t), Interval(iv)) => Timestamp(add_interval(*t, &neg_interval(iv)?)?),
        ("+", TimestampTz(t), Interval(iv)) | ("+", Interval(iv), TimestampTz(t)) => {
            utc(add_interval(t.naive_utc(), iv)?)
        }
        ("-", TimestampTz(t), Interval(iv)) => {
            utc(add_interval(t.naive_utc(), &neg_interval(iv)?)?)
        }
        ("-", Timestamp(x), Timestamp(y)) => Interval(timestamp_diff(*x, *y)?),
        ("-", TimestampTz(x), TimestampTz(y)) => {
            Interval(timestamp_diff(x.naive_utc(), y.naive_utc())?)
        }
        ("+", Date(d), n) | ("+", n, Date(d)) if int_value(n).is_some() => {
            Date(date_plus_days(*d, int_value(n).unwrap_or(0))?)
        }
        ("-", Date(d), n) if int_value(n).is_some() => {
            let days = int_value(n)
                .unwrap_or(0)
                .checked_neg()
                .ok_or_else(date_out_of_range)?;
            Date(date_plus_days(*d, days)?)
        }
        ("-", Date(x), Date(y)) => {
            let days = (*x - *y).num_days();
            Int32(i32::try_from(days).map_err(|_| date_out_of_range())?)
        }
        ("+", Date(d), Interval(iv)) | ("+", Interval(iv), Date(d)) => {
            Timestamp(add_interval(d.and_time(midnight), iv)?)
        }
        ("-", Date(d), Interval(iv)) => {
            Timestamp(add_interval(d.and_time(midnight), &neg_interval(iv)?)?)
        }
        ("+", Date(d), Time(t)) | ("+", Time(t), Date(d)) => Timestamp(d.and_time(*t)),
        ("+", Time(t), Interval(iv)) | ("+", Interval(iv), Time(t)) => {
            Time(time_from_micros(time_micros(t) + iv.micros % USECS_PER_DAY))
        }
        ("-", Time(t), Interval(iv)) => {
            Time(time_from_micros(time_micros(t) - iv.micros % USECS_PER_DAY))
        }
        ("-", Time(x), Time(y)) => Interval(eddy_repr::Interval {
            months: 0,
            days: 0,
            micros: time_micros(x) - time_micros(y),
        }),
        ("+", Interval(x), Interval(y)) => Interval(interval_add(x, y)?),
        ("-", Interval(x), Interval(y)) => Interval(interval_add(x, &neg_interval(y)?)?),
        ("*", Interval(iv), f) | ("*", f, Interval(iv)) if !matches!(f, Interval(_)) => {
            Interval(interval_mul(iv, to_f64(f)?)?)
        }
        ("/", Interval(iv), f) if !matches!(f, Interval(_)) => {
            Interval(interval_div(iv, to_f64(f)?)?)
        }
        _ => return Err(unexpected(op, &[a, b])),
    })
}

// ---------------------------------------------------------------------------------
// extract / date_part
// ---------------------------------------------------------------------------------

fn type_name(d: &Datum) -> &'static str {
    match d {
        Datum::Timestamp(_) => "timestamp without time zone",
        Datum::TimestampTz(_) => "timestamp with time zone",
        Datum::Date(_) => "date",
        Datum::Time(_) => "time without time zone",
        Datum::Interval(_) => "interval",
        _ => "unknown",
    }
}

/// Postgres' error for a unit name a function does not know for values of the type
/// `type_name` (`timestamp without time zone`, ...). The planner gives it for a
/// spelling no [`DateTimeUnit`] has; evaluation for a unit `date_trunc` does not take.
pub fn unit_not_recognized(name: &str, type_name: &str) -> EvalError {
    EvalError::InvalidParameterValue(format!(
        "unit \"{name}\" not recognized for type {type_name}"
    ))
}

fn not_supported(unit: DateTimeUnit, d: &Datum) -> EvalError {
    EvalError::FeatureNotSupported {
        message: format!("unit \"{unit}\" not supported for type {}", type_name(d)),
        detail: None,
    }
}

/// The result of a field: an exact value `mantissa * 10^-scale`, or (for `julian` of a
/// timestamp) a numeric that needs Postgres' division.
enum FieldValue {
    Exact(i128, u32),
    Julian { day: i64, micros_of_day: i64 },
}

impl FieldValue {
    fn int(v: i64) -> Self {
        FieldValue::Exact(v as i128, 0)
    }

    fn to_numeric(&self) -> Result<eddy_repr::Numeric, EvalError> {
        use eddy_repr::Numeric;
        match self {
            FieldValue::Exact(m, s) => Ok(Numeric::from_parts(*m < 0, m.unsigned_abs(), *s)?),
            FieldValue::Julian { day, micros_of_day } => {
                let frac =
                    numeric_div(Numeric::from(*micros_of_day), Numeric::from(USECS_PER_DAY))?;
                Ok(Numeric::from(*day).checked_add(frac)?)
            }
        }
    }

    fn to_f64(&self) -> f64 {
        match self {
            FieldValue::Exact(m, s) => *m as f64 / 10f64.powi(*s as i32),
            FieldValue::Julian { day, micros_of_day } => {
                *day as f64 + *micros_of_day as f64 / USECS_PER_DAY as f64
            }
        }
    }
}

/// Postgres' displayed year (no year 0: 1 BC is -1).
fn pg_year(year: i32) -> i64 {
    if year > 0 {
        year as i64
    } else {
        year as i64 - 1
    }
}

fn julian_day(d: &NaiveDate) -> i64 {
    // chrono counts days from 0001-01-01 (day 1); its Julian day number is 1721425.
    d.num_days_from_ce() as i64 + 1_721_425
}

fn date_field(field: DateTimeUnit, d: &NaiveDate) -> Option<FieldValue> {
    let y = d.year();
    Some(FieldValue::int(match field {
        DateTimeUnit::Day => d.day() as i64,
        DateTimeUnit::Month => d.month() as i64,
        DateTimeUnit::Year => pg_year(y),
        DateTimeUnit::Quarter => (d.month0() / 3 + 1) as i64,
        DateTimeUnit::Decade => {
            if y >= 0 {
                (y / 10) as i64
            } else {
                -((8 - (y as i64 - 1)) / 10)
            }
        }
        DateTimeUnit::Century => {
            if y > 0 {
                ((y + 99) / 100) as i64
            } else {
                -((99 - (y as i64 - 1)) / 100)
            }
        }
        DateTimeUnit::Millennium => {
            if y > 0 {
                ((y + 999) / 1000) as i64
            } else {
                -((999 - (y as i64 - 1)) / 1000)
            }
        }
        DateTimeUnit::Week => d.iso_week().week() as i64,
        DateTimeUnit::IsoYear => pg_year(d.iso_week().year()),
        DateTimeUnit::Dow => d.weekday().num_days_from_sunday() as i64,
        DateTimeUnit::IsoDow => d.weekday().number_from_monday() as i64,
        DateTimeUnit::Doy => d.ordinal() as i64,
        DateTimeUnit::Julian => julian_day(d),
        DateTimeUnit::Epoch => (julian_day(d) - UNIX_EPOCH_JDATE) * 86_400,
        _ => return None,
    }))
}

/// Microseconds into the current minute (seconds and fraction).
fn sec_micros(t: &NaiveTime) -> i64 {
    t.second() as i64 * USECS_PER_SEC + (t.nanosecond() / 1000).min(999_999) as i64
}

fn time_field(field: DateTimeUnit, t: &NaiveTime) -> Option<FieldValue> {
    Some(match field {
        DateTimeUnit::Microseconds => FieldValue::int(sec_micros(t)),
        DateTimeUnit::Milliseconds => FieldValue::Exact(sec_micros(t) as i128, 3),
        DateTimeUnit::Second => FieldValue::Exact(sec_micros(t) as i128, 6),
        DateTimeUnit::Minute => FieldValue::int(t.minute() as i64),
        DateTimeUnit::Hour => FieldValue::int(t.hour() as i64),
        _ => return None,
    })
}

fn timestamp_field(field: DateTimeUnit, ts: &NaiveDateTime, with_zone: bool) -> Option<FieldValue> {
    match field {
        DateTimeUnit::Epoch => {
            let micros = (*ts - NaiveDate::from_ymd_opt(1970, 1, 1)?.and_time(NaiveTime::MIN))
                .num_microseconds()?;
            Some(FieldValue::Exact(micros as i128, 6))
        }
        DateTimeUnit::Julian => Some(FieldValue::Julian {
            day: julian_day(&ts.date()),
            micros_of_day: time_micros(&ts.time()),
        }),
        DateTimeUnit::Timezone | DateTimeUnit::TimezoneHour | DateTimeUnit::TimezoneMinute
            if with_zone =>
        {
            Some(FieldValue::int(0))
        }
        _ => time_field(field, &ts.time()).or_else(|| date_field(field, &ts.date())),
    }
}

fn interval_field(field: DateTimeUnit, iv: &Interval) -> Option<FieldValue> {
    let f = IntervalFields::of(iv);
    let sec_us = f.seconds * USECS_PER_SEC + f.micros;
    Some(match field {
        DateTimeUnit::Microseconds => FieldValue::int(sec_us),
        DateTimeUnit::Milliseconds => FieldValue::Exact(sec_us as i128, 3),
        DateTimeUnit::Second => FieldValue::Exact(sec_us as i128, 6),
        DateTimeUnit::Minute => FieldValue::int(f.minutes),
        DateTimeUnit::Hour => FieldValue::int(f.hours),
        DateTimeUnit::Day => FieldValue::int(f.days as i64),
        DateTimeUnit::Month => FieldValue::int(f.months as i64),
        DateTimeUnit::Quarter => FieldValue::int((f.months / 3 + 1) as i64),
        DateTimeUnit::Year => FieldValue::int(f.years as i64),
        DateTimeUnit::Decade => FieldValue::int((f.years / 10) as i64),
        DateTimeUnit::Century => FieldValue::int((f.years / 100) as i64),
        DateTimeUnit::Millennium => FieldValue::int((f.years / 1000) as i64),
        DateTimeUnit::Epoch => {
            // A year is 365.25 days, a month 30 days.
            let secs = f.years as i128 * 31_557_600
                + f.months as i128 * 30 * 86_400
                + f.days as i128 * 86_400;
            FieldValue::Exact(secs * USECS_PER_SEC as i128 + iv.micros as i128, 6)
        }
        _ => return None,
    })
}

fn field_value(field: DateTimeUnit, d: &Datum) -> Result<FieldValue, EvalError> {
    let v = match d {
        Datum::Timestamp(ts) => timestamp_field(field, ts, false),
        Datum::TimestampTz(ts) => timestamp_field(field, &ts.naive_utc(), true),
        Datum::Date(x) => date_field(field, x),
        Datum::Time(t) => match field {
            DateTimeUnit::Epoch => Some(FieldValue::Exact(time_micros(t) as i128, 6)),
            _ => time_field(field, t),
        },
        Datum::Interval(iv) => interval_field(field, iv),
        other => return Err(unexpected("extract", std::slice::from_ref(other))),
    };
    v.ok_or_else(|| not_supported(field, d))
}

/// `extract(field from x)`: numeric.
pub(crate) fn extract(field: DateTimeUnit, d: Datum) -> Result<Datum, EvalError> {
    Ok(Datum::Numeric(field_value(field, &d)?.to_numeric()?))
}

/// A zone field of a `timestamptz` in time zone `zone`: the offset in force at that
/// instant (seconds east), its whole hours, or its minutes beyond them (both with the
/// offset's sign, as Postgres computes them).
fn zone_field_value(
    field: DateTimeUnit,
    d: &Datum,
    zone: &TimeZone,
) -> Result<FieldValue, EvalError> {
    let Datum::TimestampTz(ts) = d else {
        return Err(unexpected("extract", std::slice::from_ref(d)));
    };
    let offset = i64::from(zone.offset_secs(ts));
    match field {
        DateTimeUnit::Timezone => Ok(FieldValue::int(offset)),
        DateTimeUnit::TimezoneHour => Ok(FieldValue::int(offset / 3600)),
        DateTimeUnit::TimezoneMinute => Ok(FieldValue::int(offset / 60 % 60)),
        _ => Err(not_supported(field, d)),
    }
}

/// `extract(field from timestamptz)` of a zone field in time zone `zone`: numeric.
pub(crate) fn extract_zone_field(
    field: DateTimeUnit,
    d: Datum,
    zone: &TimeZone,
) -> Result<Datum, EvalError> {
    Ok(Datum::Numeric(
        zone_field_value(field, &d, zone)?.to_numeric()?,
    ))
}

/// `date_part(field, timestamptz)` of a zone field in time zone `zone`: double precision.
pub(crate) fn date_part_zone_field(
    field: DateTimeUnit,
    d: Datum,
    zone: &TimeZone,
) -> Result<Datum, EvalError> {
    let v = zone_field_value(field, &d, zone)?.to_f64();
    Ok(Datum::Float64(eddy_repr::OrdF64(v)))
}

/// `date_part(field, x)`: double precision; a date is read as a timestamp.
pub(crate) fn date_part(field: DateTimeUnit, d: Datum) -> Result<Datum, EvalError> {
    let d = match d {
        Datum::Date(x) => Datum::Timestamp(x.and_time(NaiveTime::MIN)),
        other => other,
    };
    let v = match (&d, field) {
        // date_part computes these in floating point from the raw value.
        (Datum::Timestamp(ts), DateTimeUnit::Epoch) => {
            let micros = (*ts
                - NaiveDate::from_ymd_opt(1970, 1, 1)
                    .unwrap_or_default()
                    .and_time(NaiveTime::MIN))
            .num_microseconds()
            .ok_or_else(timestamp_out_of_range)?;
            micros as f64 / 1e6
        }
        (Datum::Interval(iv), DateTimeUnit::Epoch) => {
            iv.micros as f64 / 1e6
                + 365.25 * 86_400.0 * (iv.months / 12) as f64
                + 30.0 * 86_400.0 * (iv.months % 12) as f64
                + 86_400.0 * iv.days as f64
        }
        _ => field_value(field, &d)?.to_f64(),
    };
    Ok(Datum::Float64(eddy_repr::OrdF64(v)))
}

// ---------------------------------------------------------------------------------
// date_trunc
// ---------------------------------------------------------------------------------

fn trunc_timestamp(field: DateTimeUnit, ts: &NaiveDateTime) -> Option<NaiveDateTime> {
    let t = ts.time();
    let d = ts.date();
    let micros = (t.nanosecond() / 1000).min(999_999);
    let hms = |h: u32, m: u32, s: u32, us: u32| NaiveTime::from_hms_micro_opt(h, m, s, us);
    let ymd = |y: i32, m: u32, day: u32| NaiveDate::from_ymd_opt(y, m, day);
    let y = d.year();
    let (date, time) = match field {
        DateTimeUnit::Microseconds => (d, hms(t.hour(), t.minute(), t.second(), micros)?),
        DateTimeUnit::Milliseconds => (
            d,
            hms(t.hour(), t.minute(), t.second(), micros / 1000 * 1000)?,
        ),
        DateTimeUnit::Second => (d, hms(t.hour(), t.minute(), t.second(), 0)?),
        DateTimeUnit::Minute => (d, hms(t.hour(), t.minute(), 0, 0)?),
        DateTimeUnit::Hour => (d, hms(t.hour(), 0, 0, 0)?),
        DateTimeUnit::Day => (d, NaiveTime::MIN),
        DateTimeUnit::Week => (
            d.checked_sub_signed(Duration::days(d.weekday().num_days_from_monday() as i64))?,
            NaiveTime::MIN,
        ),
        DateTimeUnit::Month => (ymd(y, d.month(), 1)?, NaiveTime::MIN),
        DateTimeUnit::Quarter => (ymd(y, d.month0() / 3 * 3 + 1, 1)?, NaiveTime::MIN),
        DateTimeUnit::Year => (ymd(y, 1, 1)?, NaiveTime::MIN),
        DateTimeUnit::Decade => {
            let y = if y > 0 {
                y / 10 * 10
            } else {
                -((8 - y) / 10) * 10
            };
            (ymd(y, 1, 1)?, NaiveTime::MIN)
        }
        DateTimeUnit::Century => {
            let y = if y > 0 {
                (y + 99) / 100 * 100 - 99
            } else {
                -((99 - (y - 1)) / 100) * 100 + 1
            };
            (ymd(y, 1, 1)?, NaiveTime::MIN)
        }
        DateTimeUnit::Millennium => {
            let y = if y > 0 {
                (y + 999) / 1000 * 1000 - 999
            } else {
                -((999 - (y - 1)) / 1000) * 1000 + 1
            };
            (ymd(y, 1, 1)?, NaiveTime::MIN)
        }
        _ => return None,
    };
    Some(date.and_time(time))
}

fn trunc_interval(field: DateTimeUnit, iv: &Interval) -> Option<Interval> {
    let f = IntervalFields::of(iv);
    let (mut years, mut months, mut days) = (f.years, f.months, f.days);
    let (mut hours, mut minutes, mut seconds, mut micros) =
        (f.hours, f.minutes, f.seconds, f.micros);
    let rank = match field {
        DateTimeUnit::Microseconds => 0,
        DateTimeUnit::Milliseconds => 1,
        DateTimeUnit::Second => 2,
        DateTimeUnit::Minute => 3,
        DateTimeUnit::Hour => 4,
        DateTimeUnit::Day => 5,
        DateTimeUnit::Month => 6,
        DateTimeUnit::Quarter => 7,
        DateTimeUnit::Year => 8,
        DateTimeUnit::Decade => 9,
        DateTimeUnit::Century => 10,
        DateTimeUnit::Millennium => 11,
        _ => return None,
    };
    if rank == 1 {
        micros = micros / 1000 * 1000;
    }
    if rank >= 2 {
        micros = 0;
    }
    if rank >= 3 {
        seconds = 0;
    }
    if rank >= 4 {
        minutes = 0;
    }
    if rank >= 5 {
        hours = 0;
    }
    if rank >= 6 {
        days = 0;
    }
    if rank >= 7 {
        months = 3 * (months / 3);
    }
    if rank >= 8 {
        months = 0;
    }
    if rank == 11 {
        years = years / 1000 * 1000;
    }
    if rank >= 10 {
        years = years / 100 * 100;
    }
    if rank >= 9 {
        years = years / 10 * 10;
    }
    Some(Interval {
        months: years.checked_mul(12)?.checked_add(months)?,
        days,
        micros: ((hours * 60 + minutes) * 60 + seconds) * USECS_PER_SEC + micros,
    })
}

/// `date_trunc(unit, x)`; a date is truncated as a timestamp at midnight.
pub(crate) fn date_trunc(unit: DateTimeUnit, d: Datum) -> Result<Datum, EvalError> {
    let d = match d {
        Datum::Date(x) => Datum::Timestamp(x.and_time(NaiveTime::MIN)),
        other => other,
    };
    if !unit.is_delta_unit() {
        return Err(unit_not_recognized(unit.name(), type_name(&d)));
    }
    let r = match &d {
        Datum::Timestamp(ts) => trunc_timestamp(unit, ts).map(Datum::Timestamp),
        Datum::TimestampTz(ts) => trunc_timestamp(unit, &ts.naive_utc()).map(utc),
        Datum::Interval(iv) => {
            if unit == DateTimeUnit::Week {
                return Err(EvalError::FeatureNotSupported {
                    message: format!("unit \"{unit}\" not supported for type interval"),
                    detail: Some("Months usually have fractional weeks.".into()),
                });
            }
            trunc_interval(unit, iv).map(Datum::Interval)
        }
        other => return Err(unexpected("date_trunc", std::slice::from_ref(other))),
    };
    r.ok_or_else(|| not_supported(unit, &d))
}

// ---------------------------------------------------------------------------------
// Binning: date_bin, and the windows of TUMBLE and HOP
// ---------------------------------------------------------------------------------

/// The width of a bin in microseconds, as Postgres' `date_bin` reads its stride: days
/// count 24 hours; months and years, whose length varies, are refused (0A000), and so
/// is a width that is not positive (22023).
pub fn bin_stride_micros(stride: &Interval) -> Result<i64, EvalError> {
    if stride.months != 0 {
        return Err(EvalError::FeatureNotSupported {
            message: "timestamps cannot be binned into intervals containing months or years".into(),
            detail: None,
        });
    }
    let micros = stride.fixed_micros().ok_or_else(interval_out_of_range)?;
    if micros <= 0 {
        return Err(EvalError::InvalidParameterValue(
            "stride must be greater than zero".into(),
        ));
    }
    Ok(micros)
}

/// The start of the bin of `stride_micros` (positive) counted from `origin_micros`
/// that holds `source_micros`, all in microseconds since the Unix epoch: the largest
/// `origin + k * stride` not after `source` (rounding toward minus infinity, also
/// before the origin).
pub fn bin_start_micros(
    stride_micros: i64,
    source_micros: i64,
    origin_micros: i64,
) -> Result<i64, EvalError> {
    let diff = source_micros
        .checked_sub(origin_micros)
        .ok_or_else(interval_out_of_range)?;
    let delta = diff - diff.rem_euclid(stride_micros);
    origin_micros
        .checked_add(delta)
        .ok_or_else(timestamp_out_of_range)
}

fn naive_micros(ts: &NaiveDateTime) -> i64 {
    ts.and_utc().timestamp_micros()
}

fn naive_from_micros(micros: i64) -> Result<NaiveDateTime, EvalError> {
    let ts = DateTime::from_timestamp_micros(micros)
        .ok_or_else(timestamp_out_of_range)?
        .naive_utc();
    check_timestamp_range(ts)
}

/// `date_bin(stride, source, origin)`; NULL if any argument is.
pub(crate) fn date_bin(args: Vec<Datum>) -> Result<Datum, EvalError> {
    if args.iter().any(Datum::is_null) {
        return Ok(Datum::Null);
    }
    let (stride, source, origin, tz) = match args.as_slice() {
        [Datum::Interval(iv), Datum::Timestamp(s), Datum::Timestamp(o)] => (iv, *s, *o, false),
        [Datum::Interval(iv), Datum::TimestampTz(s), Datum::TimestampTz(o)] => {
            (iv, s.naive_utc(), o.naive_utc(), true)
        }
        other => return Err(unexpected("date_bin", other)),
    };
    let start = bin_start_micros(
        bin_stride_micros(stride)?,
        naive_micros(&source),
        naive_micros(&origin),
    )?;
    let start = naive_from_micros(start)?;
    Ok(if tz {
        utc(start)
    } else {
        Datum::Timestamp(start)
    })
}

/// The starts, ascending, of the hopping windows of `size_micros` that begin every
/// `slide_micros` (both positive; counted from the Unix epoch) and hold `ts`: every
/// aligned `s` with `s <= ts < s + size`. A NULL `ts` is in no window.
pub(crate) fn hop_window_starts(
    ts: &Datum,
    size_micros: i64,
    slide_micros: i64,
) -> Result<Vec<Datum>, EvalError> {
    let (micros, tz) = match ts {
        Datum::Null => return Ok(vec![]),
        Datum::Timestamp(t) => (naive_micros(t), false),
        Datum::TimestampTz(t) => (naive_micros(&t.naive_utc()), true),
        other => return Err(unexpected("hop", std::slice::from_ref(other))),
    };
    let mut starts = vec![];
    let mut start = bin_start_micros(slide_micros, micros, 0)? as i128;
    // A window narrower than the slide leaves gaps: then `ts` may be in none.
    while start + size_micros as i128 > micros as i128 {
        let t = naive_from_micros(i64::try_from(start).map_err(|_| timestamp_out_of_range())?)?;
        starts.push(if tz { utc(t) } else { Datum::Timestamp(t) });
        start -= slide_micros as i128;
    }
    starts.reverse();
    Ok(starts)
}

// ---------------------------------------------------------------------------------
// make_date, make_timestamp, make_interval, to_timestamp(double), age
// ---------------------------------------------------------------------------------

/// The integer arguments of a `make_*` function.
fn int_args<const N: usize>(func: &str, args: &[Datum]) -> Result<[i64; N], EvalError> {
    let mut out = [0; N];
    for (o, d) in out.iter_mut().zip(args) {
        *o = int_value(d).ok_or_else(|| unexpected(func, args))?;
    }
    Ok(out)
}

/// A double as C's `%g` prints it (six significant digits), for error messages.
pub(crate) fn c_g(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return if x.is_nan() {
            "nan".into()
        } else if x.is_infinite() {
            if x > 0.0 { "inf" } else { "-inf" }.into()
        } else {
            "0".into()
        };
    }
    let exp = x.abs().log10().floor() as i32;
    let sci = format!("{x:.5e}");
    let exp = match sci.split_once('e') {
        Some((_, e)) => e.parse().unwrap_or(exp),
        None => exp,
    };
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if !(-4..6).contains(&exp) {
        let (mantissa, _) = sci.split_once('e').unwrap_or((&sci, ""));
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa.to_string()), exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim(format!("{x:.decimals$}"))
    }
}

/// A date from a year (negative for BC, no year 0), month and day, as Postgres
/// validates them (`date field value out of range: 2023-02-30`).
fn date_from_fields(year: i64, month: i64, day: i64) -> Result<NaiveDate, EvalError> {
    let overflow = || {
        EvalError::DatetimeFieldOverflow(format!(
            "date field value out of range: {year}-{month:02}-{day:02}"
        ))
    };
    if year == 0 {
        return Err(overflow());
    }
    let astronomical = if year < 0 { year + 1 } else { year };
    let year32 = i32::try_from(astronomical).map_err(|_| overflow())?;
    let (month32, day32) = (
        u32::try_from(month).map_err(|_| overflow())?,
        u32::try_from(day).map_err(|_| overflow())?,
    );
    let last = days_in_month(year32, month32).ok_or_else(overflow)?;
    if day32 == 0 || day32 > last {
        return Err(overflow());
    }
    let date = NaiveDate::from_ymd_opt(year32, month32, day32).ok_or_else(|| {
        EvalError::DatetimeFieldOverflow(format!("date out of range: {year}-{month:02}-{day:02}"))
    })?;
    let min = NaiveDate::from_ymd_opt(-4713, 11, 24).unwrap_or(NaiveDate::MIN);
    let max = NaiveDate::from_ymd_opt(5_874_897, 12, 31).unwrap_or(NaiveDate::MAX);
    if date < min || date > max {
        return Err(EvalError::DatetimeFieldOverflow(format!(
            "date out of range: {year}-{month:02}-{day:02}"
        )));
    }
    Ok(date)
}

/// `make_date(year, month, day)`: a negative year is BC.
pub(super) fn make_date(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let [y, m, d] = int_args::<3>("make_date", &args)?;
    Ok(Datum::Date(date_from_fields(y, m, d)?))
}

/// `make_timestamp(year, month, day, hour, min, sec)`: the year must be positive;
/// `24:00:00` and a second of 60 roll over, as in Postgres.
pub(super) fn make_timestamp(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let [y, mo, d, h, mi] = int_args::<5>("make_timestamp", &args)?;
    let sec = args
        .get(5)
        .map(to_f64)
        .transpose()?
        .ok_or_else(|| unexpected("make_timestamp", &args))?;
    if y <= 0 {
        return Err(EvalError::DatetimeFieldOverflow(format!(
            "date field value out of range: {y}-{mo:02}-{d:02}"
        )));
    }
    let date = date_from_fields(y, mo, d)?;
    let bad_time = !(0..=24).contains(&h)
        || !(0..60).contains(&mi)
        || sec.is_nan()
        || !(0.0..=60.0).contains(&sec)
        || (h == 24 && (mi > 0 || sec > 0.0));
    if bad_time {
        let sec_text = c_g(sec);
        let sec_text = if sec_text.len() < 2 {
            format!("0{sec_text}")
        } else {
            sec_text
        };
        return Err(EvalError::DatetimeFieldOverflow(format!(
            "time field value out of range: {h}:{mi:02}:{sec_text}"
        )));
    }
    let micros =
        (h * 60 + mi) * 60 * USECS_PER_SEC + (sec * USECS_PER_SEC as f64).round_ties_even() as i64;
    let ts = date
        .and_time(NaiveTime::MIN)
        .checked_add_signed(Duration::microseconds(micros))
        .ok_or_else(timestamp_out_of_range)?;
    Ok(Datum::Timestamp(check_timestamp_range(ts)?))
}

/// `make_interval(years, months, weeks, days, hours, mins, secs)`, missing trailing
/// arguments zero.
pub(super) fn make_interval(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let n = args.len().min(6);
    let mut ints = [0i64; 6];
    for (o, d) in ints.iter_mut().zip(&args[..n]) {
        *o = int_value(d).ok_or_else(|| unexpected("make_interval", &args))?;
    }
    let [years, months, weeks, days, hours, mins] = ints;
    let secs = match args.get(6) {
        Some(d) => to_f64(d)?,
        None => 0.0,
    };
    let overflow = interval_out_of_range;
    if !secs.is_finite() {
        return Err(overflow());
    }
    let secs_micros = (secs * USECS_PER_SEC as f64).round_ties_even();
    if !(i64::MIN as f64..i64::MAX as f64).contains(&secs_micros) {
        return Err(overflow());
    }
    let months = years
        .checked_mul(12)
        .and_then(|m| m.checked_add(months))
        .and_then(|m| i32::try_from(m).ok())
        .ok_or_else(overflow)?;
    let days = weeks
        .checked_mul(7)
        .and_then(|d| d.checked_add(days))
        .and_then(|d| i32::try_from(d).ok())
        .ok_or_else(overflow)?;
    let micros = hours
        .checked_mul(3600 * USECS_PER_SEC)
        .and_then(|h| h.checked_add(mins.checked_mul(60 * USECS_PER_SEC)?))
        .and_then(|t| t.checked_add(secs_micros as i64))
        .ok_or_else(overflow)?;
    Ok(Datum::Interval(Interval {
        months,
        days,
        micros,
    }))
}

/// `to_timestamp(double precision)`: seconds since 1970-01-01 UTC, rounded to
/// microseconds. NaN and out-of-range seconds are Postgres' errors; infinities would
/// be infinite timestamps, which Eddy does not have.
pub(super) fn to_timestamp(d: Datum) -> Result<Datum, EvalError> {
    let seconds = to_f64(&d)?;
    if seconds.is_nan() {
        return Err(EvalError::DatetimeFieldOverflow(
            "timestamp cannot be NaN".into(),
        ));
    }
    if seconds.is_infinite() {
        return Err(EvalError::FeatureNotSupported {
            message: "infinite timestamps are not supported".into(),
            detail: None,
        });
    }
    // Postgres' range: Julian day 0 up to (not including) 294277-01-01.
    const SECS_PER_DAY: f64 = 86_400.0;
    let min = SECS_PER_DAY * (0 - UNIX_EPOCH_JDATE) as f64;
    let max = SECS_PER_DAY * (109_203_528 - UNIX_EPOCH_JDATE) as f64;
    if !(min..max).contains(&seconds) {
        return Err(EvalError::DatetimeFieldOverflow(format!(
            "timestamp out of range: \"{}\"",
            c_g(seconds)
        )));
    }
    let micros = (seconds * USECS_PER_SEC as f64).round_ties_even() as i64;
    let ts = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(timestamp_out_of_range)?;
    Ok(Datum::TimestampTz(ts))
}

/// `age(a, b)`: Postgres' `timestamp_age`, the difference field by field (years,
/// months, days, time), borrowing from the next larger field, a day borrowing the
/// length of the month of the earlier timestamp's month.
pub(super) fn age(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    let (t1, t2) = match (&a, &b) {
        (Datum::Timestamp(x), Datum::Timestamp(y)) => (*x, *y),
        (Datum::TimestampTz(x), Datum::TimestampTz(y)) => (x.naive_utc(), y.naive_utc()),
        _ => return Err(unexpected("age", &[a, b])),
    };
    let flip = t1 < t2;
    let sign = if flip { -1 } else { 1 };
    let sub_micros = |t: &NaiveDateTime| (t.nanosecond() as i64 / 1000) % USECS_PER_SEC;
    let mut fsec = sign * (sub_micros(&t1) - sub_micros(&t2));
    let mut sec = sign * (t1.second() as i64 - t2.second() as i64);
    let mut min = sign * (t1.minute() as i64 - t2.minute() as i64);
    let mut hour = sign * (t1.hour() as i64 - t2.hour() as i64);
    let mut mday = sign * (t1.day() as i64 - t2.day() as i64);
    let mut mon = sign * (t1.month() as i64 - t2.month() as i64);
    let mut year = sign * (t1.year() as i64 - t2.year() as i64);
    while fsec < 0 {
        fsec += USECS_PER_SEC;
        sec -= 1;
    }
    while sec < 0 {
        sec += 60;
        min -= 1;
    }
    while min < 0 {
        min += 60;
        hour -= 1;
    }
    while hour < 0 {
        hour += 24;
        mday -= 1;
    }
    while mday < 0 {
        let from = if flip { t1 } else { t2 };
        mday += days_in_month(from.year(), from.month()).unwrap_or(30) as i64;
        mon -= 1;
    }
    while mon < 0 {
        mon += 12;
        year -= 1;
    }
    let months = (year * 12 + mon) * sign;
    let days = mday * sign;
    let micros = (((hour * 60 + min) * 60 + sec) * USECS_PER_SEC + fsec) * sign;
    Ok(Datum::Interval(Interval {
        months: i32::try_from(months).map_err(|_| interval_out_of_range())?,
        days: i32::try_from(days).map_err(|_| interval_out_of_range())?,
        micros,
    }))
}
