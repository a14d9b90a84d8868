//! Text input and output of every [`ScalarType`], byte for byte as Postgres 15 does it
//! (the `postgres` IntervalStyle, `ISO, MDY` DateStyle, session time zone UTC,
//! `extra_float_digits = 1`).
//!
//! - [`format_datum`] is Postgres' type output function (`boolout`, `float8out`,
//!   `numeric_out`, `timestamp_out`, `array_out`, ...): what psql shows.
//! - [`parse_datum`] is Postgres' type input function (`int4in`, `float8in`,
//!   `timestamptz_in`, `jsonb_in`, ...): what `'...'::type` accepts, with Postgres'
//!   error messages and SQLSTATEs in [`ParseError`].
//!
//! Invariants:
//! - `parse_datum(&format_datum(d, t), t) == Ok(d)` for every datum `d` of type `t`
//!   (output round-trips; floats print their shortest round-trip digits).
//! - Parsing never panics on any input; every failure is a [`ParseError`].
//! - Length modifiers (`varchar(n)`, `char(n)`, `numeric(p,s)`) are not enforced here:
//!   that is the job of casts, which know whether the context is explicit or assignment.
//!
//! Known gaps (the representation cannot hold them): numeric `NaN`/`Infinity`, more than
//! 28 fractional digits or about 28 significant digits in a numeric; timestamp and date
//! `infinity`; `time '24:00:00'`; years beyond chrono's ±262143; named time zones other
//! than `UTC`/`GMT`/`Z` in timestamp input. Each is an error, never a wrong value.

pub mod datetime;
pub mod json;

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::datum::{Datum, OrdF32, OrdF64};
use crate::numeric::{Numeric, NUMERIC_MAX_PRECISION, NUMERIC_MAX_SCALE};
use crate::types::ScalarType;
use crate::zone::TimeZone;
use crate::SqlState;

pub use datetime::{
    format_date, format_interval, format_time, format_timestamp, format_timestamptz,
    format_timestamptz_in, parse_date, parse_interval, parse_time, parse_timestamp,
    parse_timestamptz, parse_timestamptz_in,
};
pub use json::JsonbValue;

/// The class of a [`ParseError`], which fixes its SQLSTATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ParseErrorKind {
    /// `22P02`: the text is not a value of the type.
    InvalidTextRepresentation,
    /// `22003`: a well-formed number outside the type's range.
    NumericValueOutOfRange,
    /// `22007`: a malformed date, time, timestamp or interval.
    InvalidDatetimeFormat,
    /// `22008`: a well-formed date/time whose fields or result are out of range.
    DatetimeFieldOverflow,
    /// `22009`: a time zone offset beyond ±15:59:59.
    InvalidTimeZoneDisplacement,
    /// `22015`: an interval whose fields overflow.
    IntervalFieldOverflow,
    /// `22023`: e.g. a bad hex digit in bytea input.
    InvalidParameterValue,
    /// `22P05`: a JSON `\u0000` escape.
    UntranslatableCharacter,
    /// `0A000`: a value Postgres accepts but Eddy's representation cannot hold.
    FeatureNotSupported,
    /// `54001`: input nested too deeply.
    StatementTooComplex,
}

impl ParseErrorKind {
    /// The Postgres SQLSTATE code.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            ParseErrorKind::InvalidTextRepresentation => SqlState::INVALID_TEXT_REPRESENTATION,
            ParseErrorKind::NumericValueOutOfRange => SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            ParseErrorKind::InvalidDatetimeFormat => SqlState::INVALID_DATETIME_FORMAT,
            ParseErrorKind::DatetimeFieldOverflow => SqlState::DATETIME_FIELD_OVERFLOW,
            ParseErrorKind::InvalidTimeZoneDisplacement => {
                SqlState::INVALID_TIME_ZONE_DISPLACEMENT_VALUE
            }
            ParseErrorKind::IntervalFieldOverflow => SqlState::INTERVAL_FIELD_OVERFLOW,
            ParseErrorKind::InvalidParameterValue => SqlState::INVALID_PARAMETER_VALUE,
            ParseErrorKind::UntranslatableCharacter => SqlState::UNTRANSLATABLE_CHARACTER,
            ParseErrorKind::FeatureNotSupported => SqlState::FEATURE_NOT_SUPPORTED,
            ParseErrorKind::StatementTooComplex => SqlState::STATEMENT_TOO_COMPLEX,
        }
    }
}

/// A value that could not be read from text: Postgres' message, an optional `DETAIL`,
/// and the SQLSTATE (through [`ParseErrorKind`]).
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error,
)]
#[error("{message}")]
pub struct ParseError {
    pub kind: ParseErrorKind,
    pub message: String,
    pub detail: Option<String>,
}

impl ParseError {
    pub fn new(kind: ParseErrorKind, message: impl Into<String>) -> Self {
        ParseError {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// `invalid input syntax for type {typ}: "{value}"` (22P02).
    pub fn invalid_syntax(typ: &str, value: &str) -> Self {
        ParseError::new(
            ParseErrorKind::InvalidTextRepresentation,
            format!("invalid input syntax for type {typ}: \"{value}\""),
        )
    }

    /// `value "{value}" is out of range for type {typ}` (22003).
    pub fn out_of_range(typ: &str, value: &str) -> Self {
        ParseError::new(
            ParseErrorKind::NumericValueOutOfRange,
            format!("value \"{value}\" is out of range for type {typ}"),
        )
    }

    pub fn sqlstate(&self) -> SqlState {
        self.kind.sqlstate()
    }
}

/// A row as Postgres shows it in a message's DETAIL: `(1, abc, null)`.
pub fn row_text(datums: &[Datum], types: &[ScalarType]) -> String {
    let values: Vec<String> = datums
        .iter()
        .zip(types)
        .map(|(d, t)| match d {
            Datum::Null => "null".to_string(),
            d => format_datum(d, t),
        })
        .collect();
    format!("({})", values.join(", "))
}

/// The Postgres text output of `d`, a value of type `typ`.
///
/// The datum's variant decides the format (a `Datum::Float32` prints as `real` whatever
/// `typ` says); `typ` adds what the datum alone does not carry: the blank padding of
/// `char(n)`. NULL prints as the empty string (callers send NULL out of band).
pub fn format_datum(d: &Datum, typ: &ScalarType) -> String {
    format_datum_in(d, typ, &TimeZone::UTC)
}

/// [`format_datum`] for a session in time zone `zone`: `timestamptz` values (also
/// inside arrays) print as the zone's wall-clock time with its offset.
pub fn format_datum_in(d: &Datum, typ: &ScalarType, zone: &TimeZone) -> String {
    // `int2vectorout`: numbers separated by spaces.
    if let (ScalarType::Int2Vector, Datum::Array(elems)) = (typ, d) {
        let parts: Vec<String> = elems
            .iter()
            .map(|e| format_datum_in(e, &ScalarType::Int16, zone))
            .collect();
        return parts.join(" ");
    }
    let mut out = String::new();
    write_datum(&mut out, d, zone);
    if let (ScalarType::Char { length: Some(n) }, Datum::String(_)) = (typ, d) {
        let chars = out.chars().count();
        if chars < *n as usize {
            out.extend(std::iter::repeat_n(' ', *n as usize - chars));
        }
    }
    out
}

fn write_datum(out: &mut String, d: &Datum, zone: &TimeZone) {
    match d {
        Datum::Null => {}
        Datum::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        Datum::Int16(v) => write!(out, "{v}").expect("write to string"),
        Datum::Int32(v) => write!(out, "{v}").expect("write to string"),
        Datum::Int64(v) => write!(out, "{v}").expect("write to string"),
        Datum::Float32(v) => out.push_str(&format_f32(v.0)),
        Datum::Float64(v) => out.push_str(&format_f64(v.0)),
        Datum::Numeric(v) => out.push_str(&format_numeric(v)),
        Datum::String(s) => out.push_str(s),
        Datum::Timestamp(ts) => out.push_str(&format_timestamp(ts)),
        Datum::TimestampTz(ts) => out.push_str(&format_timestamptz_in(ts, zone)),
        Datum::Date(d) => out.push_str(&format_date(d)),
        Datum::Time(t) => out.push_str(&format_time(t)),
        Datum::Interval(iv) => out.push_str(&format_interval(iv)),
        Datum::Jsonb(s) => out.push_str(s),
        Datum::Oid(o) => write!(out, "{o}").expect("write to string"),
        Datum::Bytes(b) => {
            out.push_str("\\x");
            for byte in b {
                write!(out, "{byte:02x}").expect("write to string");
            }
        }
        Datum::Uuid(u) => out.push_str(&format_uuid(u)),
        Datum::Array(elems) => {
            out.push('{');
            for (i, e) in elems.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if e.is_null() {
                    out.push_str("NULL");
                } else {
                    let mut s = String::new();
                    write_datum(&mut s, e, zone);
                    write_array_element(out, &s);
                }
            }
            out.push('}');
        }
        Datum::Record(fields) => {
            out.push('(');
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !f.is_null() {
                    let mut s = String::new();
                    write_datum(&mut s, f, zone);
                    write_record_field(out, &s);
                }
            }
            out.push(')');
        }
    }
}

/// Writes one field of a record, quoted when Postgres' `record_out` would quote it
/// (quotes and backslashes inside are doubled).
fn write_record_field(out: &mut String, s: &str) {
    let quote = s.is_empty()
        || s.chars()
            .any(|c| matches!(c, '"' | '\\' | '(' | ')' | ',') || is_pg_space(c));
    write_maybe_quoted(out, s, quote, None);
}

/// Writes one array element, quoted when Postgres' `array_out` would quote it
/// (quotes and backslashes inside are escaped with a backslash).
fn write_array_element(out: &mut String, s: &str) {
    let quote = s.is_empty()
        || s.eq_ignore_ascii_case("NULL")
        || s.chars()
            .any(|c| matches!(c, '"' | '\\' | '{' | '}' | ',') || is_pg_space(c));
    write_maybe_quoted(out, s, quote, Some('\\'));
}

/// Writes `s` as it is, or in double quotes with each `"` and `\` inside preceded by
/// `escape`, or doubled when there is none.
fn write_maybe_quoted(out: &mut String, s: &str, quote: bool, escape: Option<char>) {
    if !quote {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push(escape.unwrap_or(c));
        }
        out.push(c);
    }
    out.push('"');
}

/// `numeric_out`: `NaN`, or the value with exactly its scale's digits (`9.50`), never
/// `-0`.
pub fn format_numeric(v: &Numeric) -> String {
    v.to_string()
}

/// `uuid_out`: lowercase `8-4-4-4-12` hex.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        write!(s, "{byte:02x}").expect("write to string");
    }
    s
}

/// `float8out`: the shortest digits that round-trip, in fixed notation when the decimal
/// exponent is in `-4..15` and as `1.5e-07` / `1e+20` otherwise.
pub fn format_f64(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    format_shortest(&format!("{v:e}"), 15)
}

/// `float4out`: as [`format_f64`] with `real`'s shortest digits and fixed notation for
/// decimal exponents in `-4..6`.
pub fn format_f32(v: f32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    format_shortest(&format!("{v:e}"), 6)
}

/// Rewrites Rust's shortest scientific form (`-1.25e-7`) the way Postgres prints it.
fn format_shortest(sci: &str, fixed_exp_max: i32) -> String {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if (-4..fixed_exp_max).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        write!(out, "e{sign}{:02}", exp.abs()).expect("write to string");
    }
    out
}

/// Reads `s` as a value of type `typ`, as Postgres' input function for `typ` does.
pub fn parse_datum(s: &str, typ: &ScalarType) -> Result<Datum, ParseError> {
    parse_datum_in(s, typ, &TimeZone::UTC)
}

/// [`parse_datum`] for a session in time zone `zone`: a `timestamptz` without an
/// explicit offset is a wall-clock time in the zone.
pub fn parse_datum_in(s: &str, typ: &ScalarType, zone: &TimeZone) -> Result<Datum, ParseError> {
    match typ {
        ScalarType::Bool => parse_bool(s).map(Datum::Bool),
        ScalarType::Int16 => parse_int(s, "smallint", i16::MIN as i64, i16::MAX as i64)
            .map(|v| Datum::Int16(v as i16)),
        ScalarType::Int32 => parse_int(s, "integer", i32::MIN as i64, i32::MAX as i64)
            .map(|v| Datum::Int32(v as i32)),
        ScalarType::Int64 => parse_int(s, "bigint", i64::MIN, i64::MAX).map(Datum::Int64),
        ScalarType::Float32 => parse_f32(s).map(|v| Datum::Float32(OrdF32(v))),
        ScalarType::Float64 => parse_f64(s).map(|v| Datum::Float64(OrdF64(v))),
        ScalarType::Numeric { .. } => parse_numeric(s).map(Datum::Numeric),
        ScalarType::Text | ScalarType::Varchar { .. } | ScalarType::Char { .. } => {
            Ok(Datum::String(s.to_string()))
        }
        ScalarType::Name => Ok(Datum::String(truncate_name(s).to_string())),
        ScalarType::PgChar => Ok(Datum::String(s.chars().take(1).collect())),
        ScalarType::Timestamp => parse_timestamp(s).map(Datum::Timestamp),
        ScalarType::TimestampTz => parse_timestamptz_in(s, zone).map(Datum::TimestampTz),
        ScalarType::Date => parse_date(s).map(Datum::Date),
        ScalarType::Time => parse_time(s).map(Datum::Time),
        ScalarType::Interval => parse_interval(s).map(Datum::Interval),
        ScalarType::Jsonb => JsonbValue::parse(s).map(|v| Datum::Jsonb(v.to_string())),
        ScalarType::Oid | ScalarType::RegClass | ScalarType::RegType | ScalarType::RegProc => {
            parse_oid(s, typ).map(Datum::Oid)
        }
        ScalarType::Bytea => parse_bytea(s).map(Datum::Bytes),
        ScalarType::Uuid => parse_uuid(s).map(Datum::Uuid),
        ScalarType::TextArray
        | ScalarType::Int16Array
        | ScalarType::OidArray
        | ScalarType::BoolArray
        | ScalarType::Int32Array
        | ScalarType::Int64Array => {
            let elem = typ.array_element().expect("an array type");
            parse_array_in(s, &elem, zone)
        }
        // `int2vectorin`: numbers separated by spaces.
        ScalarType::Int2Vector => s
            .split(is_pg_space)
            .filter(|part| !part.is_empty())
            .map(|part| parse_datum_in(part, &ScalarType::Int16, zone))
            .collect::<Result<Vec<_>, _>>()
            .map(Datum::Array),
        ScalarType::Record => Err(ParseError::new(
            ParseErrorKind::FeatureNotSupported,
            "input of anonymous composite types is not implemented",
        )),
    }
}

/// `namein`: at most 63 bytes, cut at a character boundary.
fn truncate_name(s: &str) -> &str {
    const NAME_MAX_BYTES: usize = 63;
    if s.len() <= NAME_MAX_BYTES {
        return s;
    }
    let mut end = NAME_MAX_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The whitespace Postgres' `isspace` skips around numbers and booleans.
pub(crate) fn is_pg_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

fn trim_pg_space(s: &str) -> &str {
    s.trim_matches(is_pg_space)
}

/// `boolin`: `t`/`true`/`yes`/`on`/`1` and `f`/`false`/`no`/`off`/`0`, any case, any
/// unique prefix, surrounding whitespace ignored.
pub fn parse_bool(s: &str) -> Result<bool, ParseError> {
    let t = trim_pg_space(s).to_ascii_lowercase();
    let is_prefix_of = |word: &str| !t.is_empty() && word.starts_with(t.as_str());
    let v = match t.as_bytes().first() {
        Some(b't') if is_prefix_of("true") => Some(true),
        Some(b'f') if is_prefix_of("false") => Some(false),
        Some(b'y') if is_prefix_of("yes") => Some(true),
        Some(b'n') if is_prefix_of("no") => Some(false),
        Some(b'o') if t.len() >= 2 && is_prefix_of("on") => Some(true),
        Some(b'o') if t.len() >= 2 && is_prefix_of("off") => Some(false),
        Some(b'1') if t.len() == 1 => Some(true),
        Some(b'0') if t.len() == 1 => Some(false),
        _ => None,
    };
    v.ok_or_else(|| ParseError::invalid_syntax("boolean", s))
}

/// `int2in`/`int4in`/`int8in`: optional sign and decimal digits, surrounding whitespace
/// ignored; the result must lie in `min..=max`.
fn parse_int(s: &str, typ: &str, min: i64, max: i64) -> Result<i64, ParseError> {
    let t = trim_pg_space(s);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::invalid_syntax(typ, s));
    }
    // Accumulate negatively so that i64::MIN parses.
    let mut acc: i64 = 0;
    for b in digits.bytes() {
        acc = acc
            .checked_mul(10)
            .and_then(|a| a.checked_sub((b - b'0') as i64))
            .ok_or_else(|| ParseError::out_of_range(typ, s))?;
    }
    let v = if neg {
        acc
    } else {
        acc.checked_neg()
            .ok_or_else(|| ParseError::out_of_range(typ, s))?
    };
    if v < min || v > max {
        return Err(ParseError::out_of_range(typ, s));
    }
    Ok(v)
}

/// `oidin`: an unsigned 32-bit number; negative numbers down to -2^31 wrap around as
/// in Postgres (`'-1'::oid` is 4294967295). Reg* types accept only numeric OIDs here.
fn parse_oid(s: &str, typ: &ScalarType) -> Result<u32, ParseError> {
    let name = match typ {
        ScalarType::RegClass => "regclass",
        ScalarType::RegType => "regtype",
        ScalarType::RegProc => "regproc",
        _ => "oid",
    };
    let v = parse_int(s, name, i64::MIN, i64::MAX).map_err(|e| match e.kind {
        ParseErrorKind::NumericValueOutOfRange => ParseError::out_of_range(name, s),
        _ => e,
    })?;
    if v > u32::MAX as i64 || v < i32::MIN as i64 {
        return Err(ParseError::out_of_range(name, s));
    }
    Ok(v as u32)
}

/// Splits a float literal the way `strtod` would accept it, for the checks that Rust's
/// parser does not make (it accepts `inf`/`nan` spellings we also accept).
fn float_text_is_zero(t: &str) -> bool {
    let mantissa = t.split(['e', 'E']).next().unwrap_or("");
    !mantissa.bytes().any(|b| matches!(b, b'1'..=b'9'))
}

/// `float8in`: decimal or exponent notation, `Infinity`/`inf`/`NaN` in any case,
/// surrounding whitespace ignored; overflow and underflow to zero are range errors.
pub fn parse_f64(s: &str) -> Result<f64, ParseError> {
    let t = trim_pg_space(s);
    let v: f64 =
        parse_float_text(t).ok_or_else(|| ParseError::invalid_syntax("double precision", s))?;
    check_float_range(t, v.is_infinite(), v == 0.0)
        .map_err(|_| float_range_error("double precision", s))?;
    Ok(v)
}

/// `float4in`: as [`parse_f64`] with `real`'s range.
pub fn parse_f32(s: &str) -> Result<f32, ParseError> {
    let t = trim_pg_space(s);
    let v: f32 = parse_float_text(t).ok_or_else(|| ParseError::invalid_syntax("real", s))?;
    check_float_range(t, v.is_infinite(), v == 0.0).map_err(|_| float_range_error("real", s))?;
    Ok(v)
}

fn parse_float_text<F: std::str::FromStr>(t: &str) -> Option<F> {
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    let special = matches!(unsigned, "inf" | "infinity" | "nan");
    let plain = !unsigned.is_empty()
        && unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'));
    if !(special || plain) || lower.len() - unsigned.len() > 1 {
        return None;
    }
    lower.parse().ok()
}

fn check_float_range(t: &str, infinite: bool, zero: bool) -> Result<(), ()> {
    let lower = t.to_ascii_lowercase();
    let textual_infinity = lower.contains("inf");
    if (infinite && !textual_infinity) || (zero && !float_text_is_zero(t)) {
        return Err(());
    }
    Ok(())
}

fn float_range_error(typ: &str, s: &str) -> ParseError {
    ParseError::new(
        ParseErrorKind::NumericValueOutOfRange,
        format!("\"{s}\" is out of range for type {typ}"),
    )
}

/// The pieces of a decimal literal: sign, digits before and after the point (leading
/// integer zeros stripped), and the power of ten to apply.
pub(crate) struct DecimalText {
    pub negative: bool,
    pub int_digits: String,
    pub frac_digits: String,
}

/// The largest decimal exponent accepted in numeric input, as Postgres bounds it.
const NUMERIC_MAX_EXPONENT: i64 = 1000;

/// Reads `[+-]digits[.digits][e[+-]digits]` (at least one digit before or after the
/// point) and applies the exponent, giving plain digits. Returns `None` on bad syntax.
/// `Some(Err(()))` means the exponent is out of the supported range.
pub(crate) fn scan_decimal(t: &str) -> Option<Result<DecimalText, ()>> {
    let bytes = t.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let mut int_digits = t[int_start..i].to_string();
    let mut frac_digits = String::new();
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = t[frac_start..i].to_string();
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let mut exp: i64 = 0;
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        let exp_neg = match bytes.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let exp_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if exp_start == i {
            return None;
        }
        let digits = &t[exp_start..i];
        let magnitude: i64 = if digits.len() > 9 {
            i64::MAX
        } else {
            digits.parse().ok()?
        };
        if magnitude > NUMERIC_MAX_EXPONENT {
            // Still syntax-checked to the end before reporting the range error.
            return if i == bytes.len() {
                Some(Err(()))
            } else {
                None
            };
        }
        exp = if exp_neg { -magnitude } else { magnitude };
    }
    if i != bytes.len() {
        return None;
    }
    // Apply the exponent by moving the point.
    if exp > 0 {
        let shift = exp as usize;
        if frac_digits.len() >= shift {
            int_digits.push_str(&frac_digits[..shift]);
            frac_digits.drain(..shift);
        } else {
            int_digits.push_str(&frac_digits);
            int_digits.extend(std::iter::repeat_n('0', shift - frac_digits.len()));
            frac_digits.clear();
        }
    } else if exp < 0 {
        let shift = (-exp) as usize;
        if int_digits.len() >= shift {
            let split = int_digits.len() - shift;
            frac_digits.insert_str(0, &int_digits[split..]);
            int_digits.truncate(split);
        } else {
            let zeros = shift - int_digits.len();
            let mut f = "0".repeat(zeros);
            f.push_str(&int_digits);
            f.push_str(&frac_digits);
            frac_digits = f;
            int_digits.clear();
        }
    }
    let int_digits = int_digits.trim_start_matches('0').to_string();
    Some(Ok(DecimalText {
        negative,
        int_digits,
        frac_digits,
    }))
}

impl DecimalText {
    /// Postgres' `numeric_out` text for these digits: no leading zeros, `0` before a
    /// point, the fractional digits kept (they are the display scale), no `-0`.
    pub fn to_numeric_string(&self) -> String {
        let all_zero = !self
            .int_digits
            .bytes()
            .chain(self.frac_digits.bytes())
            .any(|b| b != b'0');
        let mut s = String::new();
        if self.negative && !all_zero {
            s.push('-');
        }
        if self.int_digits.is_empty() {
            s.push('0');
        } else {
            s.push_str(&self.int_digits);
        }
        if !self.frac_digits.is_empty() {
            s.push('.');
            s.push_str(&self.frac_digits);
        }
        s
    }
}

/// `numeric_in`: `NaN` (any case), or decimal or exponent notation, surrounding
/// whitespace ignored; the display scale is the number of fractional digits after
/// applying the exponent. A value beyond what [`Numeric`] holds (38 digits, scale
/// [`NUMERIC_MAX_SCALE`]) is `value overflows numeric format`, never rounded;
/// `Infinity` is not supported.
pub fn parse_numeric(s: &str) -> Result<Numeric, ParseError> {
    let t = trim_pg_space(s);
    let lower = t.to_ascii_lowercase();
    if lower == "nan" {
        return Ok(Numeric::NAN);
    }
    if matches!(lower.trim_start_matches(['+', '-']), "inf" | "infinity") {
        return Err(ParseError::new(
            ParseErrorKind::FeatureNotSupported,
            format!("numeric value \"{s}\" is not supported"),
        )
        .with_detail("Eddy's numeric type has no infinity."));
    }
    let text = match scan_decimal(t) {
        None => return Err(ParseError::invalid_syntax("numeric", s)),
        Some(Err(())) => return Err(numeric_overflow_error()),
        Some(Ok(text)) => text,
    };
    Numeric::from_digits(text.negative, &text.int_digits, &text.frac_digits)
        .map_err(|_| numeric_overflow_error())
}

pub(crate) fn numeric_overflow_error() -> ParseError {
    ParseError::new(
        ParseErrorKind::NumericValueOutOfRange,
        "value overflows numeric format",
    )
    .with_detail(format!(
        "Eddy's numeric holds {NUMERIC_MAX_PRECISION} digits and a scale of at most \
         {NUMERIC_MAX_SCALE}."
    ))
}

/// `byteain`: `\x` followed by hex digit pairs (whitespace between pairs allowed), or
/// the escape format where `\\` is a backslash and `\ooo` an octal byte.
pub fn parse_bytea(s: &str) -> Result<Vec<u8>, ParseError> {
    if let Some(hex) = s.strip_prefix("\\x").or_else(|| s.strip_prefix("\\X")) {
        let mut out = Vec::with_capacity(hex.len() / 2);
        let mut chars = hex.chars();
        while let Some(c) = chars.next() {
            if is_pg_space(c) {
                continue;
            }
            let hi = hex_value(c)?;
            let lo = match chars.next() {
                Some(c2) => hex_value(c2)?,
                None => {
                    return Err(ParseError::new(
                        ParseErrorKind::InvalidParameterValue,
                        "invalid hexadecimal data: odd number of digits",
                    ))
                }
            };
            out.push(hi << 4 | lo);
        }
        return Ok(out);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if i + 3 < bytes.len()
            && matches!(bytes[i + 1], b'0'..=b'3')
            && matches!(bytes[i + 2], b'0'..=b'7')
            && matches!(bytes[i + 3], b'0'..=b'7')
        {
            out.push(
                (bytes[i + 1] - b'0') << 6 | (bytes[i + 2] - b'0') << 3 | (bytes[i + 3] - b'0'),
            );
            i += 4;
        } else {
            return Err(ParseError::new(
                ParseErrorKind::InvalidTextRepresentation,
                "invalid input syntax for type bytea",
            ));
        }
    }
    Ok(out)
}

fn hex_value(c: char) -> Result<u8, ParseError> {
    c.to_digit(16).map(|d| d as u8).ok_or_else(|| {
        ParseError::new(
            ParseErrorKind::InvalidParameterValue,
            format!("invalid hexadecimal digit: \"{c}\""),
        )
    })
}

/// `uuid_in`: 32 hex digits, optionally in braces, with a hyphen allowed after any group
/// of four digits.
pub fn parse_uuid(s: &str) -> Result<[u8; 16], ParseError> {
    let err = || ParseError::invalid_syntax("uuid", s);
    let mut body = s;
    if let Some(inner) = body.strip_prefix('{') {
        body = inner.strip_suffix('}').ok_or_else(err)?;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    let bytes = body.as_bytes();
    let mut i = 0;
    while n < 32 {
        let c = *bytes.get(i).ok_or_else(err)? as char;
        let d = c.to_digit(16).ok_or_else(err)? as u8;
        out[n / 2] |= if n % 2 == 0 { d << 4 } else { d };
        n += 1;
        i += 1;
        if n % 4 == 0 && n < 32 && bytes.get(i) == Some(&b'-') {
            i += 1;
        }
    }
    if i != bytes.len() {
        return Err(err());
    }
    Ok(out)
}

fn malformed_array(s: &str, detail: &str) -> ParseError {
    ParseError::new(
        ParseErrorKind::InvalidTextRepresentation,
        format!("malformed array literal: \"{s}\""),
    )
    .with_detail(detail)
}

/// `array_in` for one-dimensional arrays: `{a,"b c",NULL}` with double quotes and
/// backslash escapes; each element is read with [`parse_datum`] of `elem`.
pub fn parse_array(s: &str, elem: &ScalarType) -> Result<Datum, ParseError> {
    parse_array_in(s, elem, &TimeZone::UTC)
}

/// [`parse_array`] in a session whose time zone is `zone` (see [`parse_datum_in`]).
pub fn parse_array_in(s: &str, elem: &ScalarType, zone: &TimeZone) -> Result<Datum, ParseError> {
    let t = s.trim_start_matches(is_pg_space);
    let Some(body) = t.strip_prefix('{') else {
        return Err(malformed_array(
            s,
            "Array value must start with \"{\" or dimension information.",
        ));
    };
    let chars: Vec<char> = body.chars().collect();
    let mut elems = Vec::new();
    let mut i = 0;
    let skip_space = |i: &mut usize| {
        while *i < chars.len() && is_pg_space(chars[*i]) {
            *i += 1;
        }
    };
    skip_space(&mut i);
    if chars.get(i) == Some(&'}') {
        i += 1;
    } else {
        loop {
            skip_space(&mut i);
            let mut text = String::new();
            let mut quoted = false;
            match chars.get(i) {
                None => return Err(malformed_array(s, "Unexpected end of input.")),
                Some('{') if elems.is_empty() => {
                    return Err(ParseError::new(
                        ParseErrorKind::FeatureNotSupported,
                        "multidimensional arrays are not supported",
                    ))
                }
                Some('{') => return Err(malformed_array(s, "Unexpected \"{\" character.")),
                Some(',') | Some('}') => {
                    return Err(malformed_array(
                        s,
                        &format!("Unexpected \"{}\" character.", chars[i]),
                    ))
                }
                Some('"') => {
                    quoted = true;
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err(malformed_array(s, "Unexpected end of input.")),
                            Some('"') => {
                                i += 1;
                                break;
                            }
                            Some('\\') => {
                                let c = *chars.get(i + 1).ok_or_else(|| {
                                    malformed_array(s, "Unexpected end of input.")
                                })?;
                                text.push(c);
                                i += 2;
                            }
                            Some(c) => {
                                text.push(*c);
                                i += 1;
                            }
                        }
                    }
                    skip_space(&mut i);
                }
                Some(_) => {
                    let mut trailing_space = 0;
                    loop {
                        match chars.get(i) {
                            None => return Err(malformed_array(s, "Unexpected end of input.")),
                            Some(',') | Some('}') => break,
                            Some('"') | Some('{') => {
                                return Err(malformed_array(
                                    s,
                                    &format!("Unexpected \"{}\" character.", chars[i]),
                                ))
                            }
                            Some('\\') => {
                                let c = *chars.get(i + 1).ok_or_else(|| {
                                    malformed_array(s, "Unexpected end of input.")
                                })?;
                                text.push(c);
                                trailing_space = 0;
                                i += 2;
                            }
                            Some(c) => {
                                text.push(*c);
                                trailing_space = if is_pg_space(*c) {
                                    trailing_space + 1
                                } else {
                                    0
                                };
                                i += 1;
                            }
                        }
                    }
                    for _ in 0..trailing_space {
                        text.pop();
                    }
                }
            }
            if !quoted && text.eq_ignore_ascii_case("NULL") {
                elems.push(Datum::Null);
            } else {
                elems.push(parse_datum_in(&text, elem, zone)?);
            }
            match chars.get(i) {
                Some(',') => i += 1,
                Some('}') => {
                    i += 1;
                    break;
                }
                None => return Err(malformed_array(s, "Unexpected end of input.")),
                Some(c) => {
                    return Err(malformed_array(
                        s,
                        &format!("Unexpected \"{c}\" character."),
                    ))
                }
            }
        }
    }
    if chars[i..].iter().any(|c| !is_pg_space(*c)) {
        return Err(malformed_array(s, "Junk after closing right brace."));
    }
    Ok(Datum::Array(elems))
}

#[cfg(test)]
mod tests;
