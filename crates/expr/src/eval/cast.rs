//! Casts between types, as Postgres performs them.
//!
//! - Numbers: integer narrowing and float/numeric to integer are range-checked
//!   (`integer out of range`); float to integer rounds half to even (`rint`), numeric to
//!   integer half away from zero; float to numeric goes through 15 (`real`: 6)
//!   significant digits as Postgres' `float8_numeric` does; `numeric(p,s)` rounds to
//!   `s` places and rejects values with more than `p - s` integer digits.
//! - Strings: any type to text uses the type's output format, except booleans, which
//!   become `true`/`false`; text to any type uses [`strconv::parse_datum`].
//!   `varchar(n)`/`char(n)`: an explicit cast truncates, an assignment cast rejects a
//!   value longer than `n` unless the excess is blanks; `char(n)` pads with blanks.
//! - Date/time: `date`, `timestamp` and `timestamptz` convert at midnight / UTC.
//! - `jsonb` to `boolean`/numbers: only from a JSON scalar of the matching kind.

use eddy_repr::strconv::{self, JsonbValue};
use eddy_repr::{Datum, Numeric, ScalarType};

use super::arith::{numeric_to_f64, numeric_with_typmod, to_decimal};
use super::unexpected;
use crate::error::EvalError;
use crate::func::CastKind;

/// Casts `d` (non-NULL) to `to`, enforcing `to`'s modifiers as `kind` requires.
pub fn cast_datum(d: Datum, to: &ScalarType, kind: CastKind) -> Result<Datum, EvalError> {
    if d.is_null() {
        return Ok(Datum::Null);
    }
    use ScalarType as T;
    match to {
        T::Bool => to_bool(d),
        T::Int16 | T::Int32 | T::Int64 => to_int(d, to),
        T::Float32 | T::Float64 => to_float(d, to),
        T::Numeric { precision, scale } => {
            let v = to_numeric(d)?;
            match precision {
                Some(p) => Ok(Datum::Numeric(numeric_with_typmod(
                    v,
                    *p,
                    scale.unwrap_or(0),
                )?)),
                None => Ok(Datum::Numeric(v)),
            }
        }
        T::Text => Ok(Datum::String(to_text(d)?)),
        T::Varchar { max_length } => {
            let s = to_text(d)?;
            let s = match max_length {
                Some(n) => fit_length(s, *n, kind, "character varying")?,
                None => s,
            };
            Ok(Datum::String(s))
        }
        T::Char { length } => {
            let s = to_text(d)?;
            let s = match length {
                Some(n) => {
                    let mut s = fit_length(s, *n, kind, "character")?;
                    let len = s.chars().count();
                    s.extend(std::iter::repeat_n(' ', (*n as usize).saturating_sub(len)));
                    s
                }
                None => s,
            };
            Ok(Datum::String(s))
        }
        T::Name => {
            let s = to_text(d)?;
            Ok(strconv::parse_datum(&s, to)?)
        }
        T::PgChar => {
            let s = to_text(d)?;
            Ok(Datum::String(s.chars().take(1).collect()))
        }
        T::Timestamp | T::TimestampTz | T::Date | T::Time => to_datetime(d, to),
        T::Interval => match d {
            Datum::Interval(_) => Ok(d),
            Datum::Time(t) => {
                use chrono::Timelike;
                let micros = t.num_seconds_from_midnight() as i64 * 1_000_000
                    + (t.nanosecond() / 1000).min(999_999) as i64;
                Ok(Datum::Interval(eddy_repr::Interval {
                    months: 0,
                    days: 0,
                    micros,
                }))
            }
            Datum::String(s) => Ok(strconv::parse_datum(&s, to)?),
            other => Err(unexpected("cast to interval", &[other])),
        },
        T::Jsonb => match d {
            Datum::Jsonb(_) => Ok(d),
            Datum::String(s) => Ok(strconv::parse_datum(&s, to)?),
            other => Err(unexpected("cast to jsonb", &[other])),
        },
        T::Oid | T::RegClass | T::RegType | T::RegProc => match d {
            Datum::Oid(_) => Ok(d),
            // int4 -> oid reinterprets the bits, as in Postgres.
            Datum::Int16(v) => Ok(Datum::Oid(v as i32 as u32)),
            Datum::Int32(v) => Ok(Datum::Oid(v as u32)),
            Datum::Int64(v) => Ok(Datum::Oid(
                u32::try_from(v).map_err(|_| EvalError::OutOfRange("OID".into()))?,
            )),
            Datum::String(s) => Ok(strconv::parse_datum(&s, to)?),
            other => Err(unexpected("cast to oid", &[other])),
        },
        T::Bytea => match d {
            Datum::Bytes(_) => Ok(d),
            Datum::String(s) => Ok(strconv::parse_datum(&s, to)?),
            other => Err(unexpected("cast to bytea", &[other])),
        },
        T::Uuid => match d {
            Datum::Uuid(_) => Ok(d),
            Datum::String(s) => Ok(strconv::parse_datum(&s, to)?),
            other => Err(unexpected("cast to uuid", &[other])),
        },
        T::TextArray
        | T::Int16Array
        | T::Int2Vector
        | T::OidArray
        | T::BoolArray
        | T::Int32Array
        | T::Int64Array => {
            let elem = to.array_element().expect("an array type");
            match d {
                Datum::Array(elems) => Ok(Datum::Array(
                    elems
                        .into_iter()
                        .map(|e| cast_datum(e, &elem, kind))
                        .collect::<Result<_, _>>()?,
                )),
                Datum::String(s) => Ok(strconv::parse_datum(&s, to)?),
                other => Err(unexpected("cast to array", &[other])),
            }
        }
        T::Record => match d {
            Datum::Record(_) => Ok(d),
            Datum::String(s) => Ok(strconv::parse_datum(&s, to)?),
            other => Err(unexpected("cast to record", &[other])),
        },
    }
}

/// Applies `varchar(n)`/`char(n)` length rules to `s`.
fn fit_length(s: String, n: u32, kind: CastKind, type_name: &str) -> Result<String, EvalError> {
    let n = n as usize;
    let Some((cut, _)) = s.char_indices().nth(n) else {
        return Ok(s);
    };
    let excess_is_blank = s[cut..].chars().all(|c| c == ' ');
    if kind == CastKind::Assignment && !excess_is_blank {
        return Err(EvalError::StringTooLong(format!("{type_name}({n})")));
    }
    let mut s = s;
    s.truncate(cut);
    Ok(s)
}

/// The text form used by a cast to a string type: the output format, except that
/// booleans read `true`/`false` (Postgres' `booltext`).
pub(crate) fn to_text(d: Datum) -> Result<String, EvalError> {
    Ok(match d {
        Datum::String(s) => s,
        Datum::Bool(b) => if b { "true" } else { "false" }.to_string(),
        other => output_text(&other),
    })
}

/// The datum's output-function text (what psql shows, and what `concat()` and `||`
/// use).
pub(crate) fn output_text(d: &Datum) -> String {
    match d {
        Datum::String(s) => s.clone(),
        other => strconv::format_datum(other, &ScalarType::Text),
    }
}

/// The jsonb number or boolean in `s`, or the cast error for `target`.
fn jsonb_scalar(s: &str, target: &str) -> Result<JsonbValue, EvalError> {
    match JsonbValue::parse(s)? {
        v @ (JsonbValue::Number(_) | JsonbValue::Bool(_)) => Ok(v),
        other => Err(cannot_cast_jsonb(&other, target)),
    }
}

fn cannot_cast_jsonb(v: &JsonbValue, target: &str) -> EvalError {
    let kind = match v {
        JsonbValue::Null => "null",
        JsonbValue::String(_) => "string",
        JsonbValue::Number(_) => "numeric",
        JsonbValue::Bool(_) => "boolean",
        JsonbValue::Array(_) => "array",
        JsonbValue::Object(_) => "object",
    };
    EvalError::InvalidParameterValue(format!("cannot cast jsonb {kind} to type {target}"))
}

/// The jsonb number in `s`, as a numeric, or the cast error for `target`.
fn jsonb_number(s: &str, target: &str) -> Result<Numeric, EvalError> {
    match jsonb_scalar(s, target)? {
        JsonbValue::Number(n) => Ok(strconv::parse_numeric(&n)?),
        other => Err(cannot_cast_jsonb(&other, target)),
    }
}

fn to_bool(d: Datum) -> Result<Datum, EvalError> {
    Ok(match d {
        Datum::Bool(_) => d,
        Datum::Int16(v) => Datum::Bool(v != 0),
        Datum::Int32(v) => Datum::Bool(v != 0),
        Datum::Int64(v) => Datum::Bool(v != 0),
        Datum::String(s) => Datum::Bool(strconv::parse_bool(&s)?),
        Datum::Jsonb(s) => match jsonb_scalar(&s, "boolean")? {
            JsonbValue::Bool(b) => Datum::Bool(b),
            other => return Err(cannot_cast_jsonb(&other, "boolean")),
        },
        other => return Err(unexpected("cast to boolean", &[other])),
    })
}

fn int_range(to: &ScalarType) -> (i64, i64, &'static str) {
    match to {
        ScalarType::Int16 => (i16::MIN as i64, i16::MAX as i64, "smallint"),
        ScalarType::Int32 => (i32::MIN as i64, i32::MAX as i64, "integer"),
        _ => (i64::MIN, i64::MAX, "bigint"),
    }
}

fn make_int(v: i64, to: &ScalarType) -> Datum {
    match to {
        ScalarType::Int16 => Datum::Int16(v as i16),
        ScalarType::Int32 => Datum::Int32(v as i32),
        _ => Datum::Int64(v),
    }
}

fn to_int(d: Datum, to: &ScalarType) -> Result<Datum, EvalError> {
    let (min, max, name) = int_range(to);
    let out_of_range = || EvalError::OutOfRange(name.into());
    let v: i64 = match d {
        Datum::Int16(v) => v as i64,
        Datum::Int32(v) => v as i64,
        Datum::Int64(v) => v,
        Datum::Bool(b) => b as i64,
        Datum::Oid(o) => match to {
            // oid -> int4 reinterprets the bits.
            ScalarType::Int32 => o as i32 as i64,
            _ => o as i64,
        },
        Datum::Float32(f) => {
            float_to_int(f.0.round_ties_even() as f64, min, max).ok_or_else(out_of_range)?
        }
        Datum::Float64(f) => {
            float_to_int(f.0.round_ties_even(), min, max).ok_or_else(out_of_range)?
        }
        Datum::Numeric(n) if n.is_nan() => {
            return Err(EvalError::FeatureNotSupported {
                message: format!("cannot convert NaN to {name}"),
                detail: None,
            })
        }
        Datum::Numeric(n) => numeric_to_int(n).ok_or_else(out_of_range)?,
        Datum::String(s) => return Ok(strconv::parse_datum(&s, to)?),
        Datum::Jsonb(s) => numeric_to_int(jsonb_number(&s, name)?).ok_or_else(out_of_range)?,
        other => return Err(unexpected("cast to integer", &[other])),
    };
    if v < min || v > max {
        return Err(out_of_range());
    }
    Ok(make_int(v, to))
}

/// A rounded float as an integer in `min..=max` (NaN and infinities never fit).
fn float_to_int(f: f64, min: i64, max: i64) -> Option<i64> {
    // `max as f64` rounds up for bigint, so compare against the exclusive bound.
    if f.is_nan() || f < min as f64 || f >= -(min as f64) {
        return None;
    }
    let v = f as i64;
    (min..=max).contains(&v).then_some(v)
}

/// A numeric rounded half away from zero to an integer.
fn numeric_to_int(n: Numeric) -> Option<i64> {
    i64::try_from(n.round_to_i128()?).ok()
}

fn to_float(d: Datum, to: &ScalarType) -> Result<Datum, EvalError> {
    let single = matches!(to, ScalarType::Float32);
    let target = if single { "real" } else { "double precision" };
    let v: f64 = match d {
        Datum::Float32(f) if single => return Ok(Datum::Float32(f)),
        Datum::Float64(f) if !single => return Ok(Datum::Float64(f)),
        Datum::Int16(v) => v as f64,
        Datum::Int32(v) if single => return Ok(Datum::Float32(eddy_repr::OrdF32(v as f32))),
        Datum::Int64(v) if single => return Ok(Datum::Float32(eddy_repr::OrdF32(v as f32))),
        Datum::Int32(v) => v as f64,
        Datum::Int64(v) => v as f64,
        Datum::Float32(f) => f.0 as f64,
        Datum::Float64(f) => f.0,
        Datum::Numeric(n) if single => {
            return Ok(strconv::parse_datum(&n.to_string(), to)?);
        }
        Datum::Numeric(n) => numeric_to_f64(&n),
        Datum::String(s) => return Ok(strconv::parse_datum(&s, to)?),
        Datum::Jsonb(s) => {
            let n = jsonb_number(&s, target)?;
            return to_float(Datum::Numeric(n), to);
        }
        other => return Err(unexpected("cast to float", &[other])),
    };
    if single {
        let r = v as f32;
        if r.is_infinite() && !v.is_infinite() {
            return Err(EvalError::FloatOverflow);
        }
        if r == 0.0 && v != 0.0 {
            return Err(EvalError::FloatUnderflow);
        }
        Ok(Datum::Float32(eddy_repr::OrdF32(r)))
    } else {
        Ok(Datum::Float64(eddy_repr::OrdF64(v)))
    }
}

/// A float as numeric through `%.15g` (`%.6g` for real), as Postgres does; NaN stays
/// NaN.
fn float_to_numeric(f: f64, digits: usize) -> Result<Numeric, EvalError> {
    if f.is_nan() {
        return Ok(Numeric::NAN);
    }
    if f.is_infinite() {
        return Err(EvalError::FeatureNotSupported {
            message: format!("cannot convert {} to numeric", strconv::format_f64(f)),
            detail: Some("Eddy's numeric type has no infinity.".into()),
        });
    }
    let sci = format!("{:.*e}", digits - 1, f);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    // `%g` drops trailing zeros of the fraction.
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    Ok(strconv::parse_numeric(&format!("{mantissa}e{exp}"))?)
}

fn to_numeric(d: Datum) -> Result<Numeric, EvalError> {
    Ok(match d {
        Datum::Numeric(_) | Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => to_decimal(&d)?,
        Datum::Float32(f) => float_to_numeric(f.0 as f64, 6)?,
        Datum::Float64(f) => float_to_numeric(f.0, 15)?,
        Datum::String(s) => strconv::parse_numeric(&s)?,
        Datum::Jsonb(s) => jsonb_number(&s, "numeric")?,
        other => return Err(unexpected("cast to numeric", &[other])),
    })
}

fn to_datetime(d: Datum, to: &ScalarType) -> Result<Datum, EvalError> {
    use chrono::{DateTime, NaiveTime, Utc};
    let midnight = NaiveTime::MIN;
    Ok(match (d, to) {
        (Datum::String(s), _) => strconv::parse_datum(&s, to)?,
        (d @ Datum::Timestamp(_), ScalarType::Timestamp)
        | (d @ Datum::TimestampTz(_), ScalarType::TimestampTz)
        | (d @ Datum::Date(_), ScalarType::Date)
        | (d @ Datum::Time(_), ScalarType::Time) => d,
        (Datum::Date(x), ScalarType::Timestamp) => Datum::Timestamp(x.and_time(midnight)),
        (Datum::Date(x), ScalarType::TimestampTz) => Datum::TimestampTz(
            DateTime::from_naive_utc_and_offset(x.and_time(midnight), Utc),
        ),
        (Datum::Timestamp(x), ScalarType::TimestampTz) => {
            Datum::TimestampTz(DateTime::from_naive_utc_and_offset(x, Utc))
        }
        (Datum::TimestampTz(x), ScalarType::Timestamp) => Datum::Timestamp(x.naive_utc()),
        (Datum::Timestamp(x), ScalarType::Date) => Datum::Date(x.date()),
        (Datum::TimestampTz(x), ScalarType::Date) => Datum::Date(x.naive_utc().date()),
        (Datum::Timestamp(x), ScalarType::Time) => Datum::Time(x.time()),
        (Datum::TimestampTz(x), ScalarType::Time) => Datum::Time(x.naive_utc().time()),
        (Datum::Interval(iv), ScalarType::Time) => {
            const DAY: i64 = 86_400_000_000;
            let micros = iv.micros.rem_euclid(DAY);
            Datum::Time(
                NaiveTime::from_num_seconds_from_midnight_opt(
                    (micros / 1_000_000) as u32,
                    (micros % 1_000_000) as u32 * 1000,
                )
                .unwrap_or(midnight),
            )
        }
        (other, _) => return Err(unexpected(&format!("cast to {}", to.sql_name()), &[other])),
    })
}
