//! Evaluation of scalar functions with Postgres 15 semantics.
//!
//! Semantics and invariants:
//! - Every function is *strict* (a NULL argument gives NULL) except `IS NULL`,
//!   `IS TRUE`, `IS FALSE`, `IS DISTINCT FROM`, `AND`, `OR`, `COALESCE`, `concat()`,
//!   `GREATEST`/`LEAST` (which skip NULLs), `ARRAY[...]` (which keeps them),
//!   `= ANY(array)`, `format_type` and `array_to_string` (see [`array`]),
//!   `jsonb_build_object` (whose values may be NULL), `format()` (NULL only for a NULL
//!   format string) and `array_position` (which finds NULL elements).
//! - Arguments of strict functions are evaluated left to right, and the first error
//!   wins, before NULLs are considered (as Postgres evaluates all arguments of a call).
//! - `AND`/`OR` evaluate their arguments in order and let a decisive `false`/`true` win
//!   over an error in another argument (`false AND 1/0 = 0` is `false`); when no
//!   argument is decisive the first error is returned. `COALESCE` stops at the first
//!   non-NULL argument and never evaluates the rest.
//! - Errors carry Postgres' message and SQLSTATE ([`EvalError`]); no user data makes
//!   evaluation panic. A datum combination the planner should never produce is an
//!   [`EvalError::Internal`] naming the function and the datums.
//! - The session time zone is UTC: `timestamptz` arithmetic and casts work in UTC.
//!
//! The work is split by domain: [`arith`] (numbers and math functions), [`cast`],
//! [`datetime`] (date/time arithmetic, `extract`, `date_trunc`, `make_*`, `age`),
//! [`string`] (with regular expressions), [`format`] (`format()`), [`to_char`]
//! (`to_char`, `to_timestamp`, `to_date`), [`jsonb`] and [`array`] (arrays and catalog
//! helpers).

mod arith;
mod array;
mod cast;
pub(crate) mod datetime;
mod format;
pub(crate) mod jsonb;
pub(crate) mod string;
mod to_char;

#[cfg(test)]
mod tests;

use std::cmp::Ordering;

use eddy_repr::Datum;

use crate::error::EvalError;
use crate::func::{BinaryFunc, UnaryFunc, VariadicFunc};
use crate::scalar::MirScalarExpr;

pub use arith::{numeric_div, numeric_with_typmod};
pub use array::quote_ident;
pub use cast::cast_datum;
pub use datetime::{bin_start_micros, bin_stride_micros, unit_not_recognized};
pub use jsonb::build_array as jsonb_build_array;

/// The longest string or byte result, as Postgres bounds a value (1 GiB - 1).
pub const MAX_VALUE_BYTES: usize = (1 << 30) - 1;

/// Evaluates a unary function on its (already evaluated) argument.
pub fn eval_unary(func: &UnaryFunc, arg: Datum) -> Result<Datum, EvalError> {
    if func.is_strict() && arg.is_null() {
        return Ok(Datum::Null);
    }
    match func {
        UnaryFunc::IsNull => Ok(Datum::Bool(arg.is_null())),
        UnaryFunc::IsTrue => Ok(Datum::Bool(arg == Datum::Bool(true))),
        UnaryFunc::IsFalse => Ok(Datum::Bool(arg == Datum::Bool(false))),
        UnaryFunc::Not => match arg {
            Datum::Bool(b) => Ok(Datum::Bool(!b)),
            other => Err(unexpected("NOT", &[other])),
        },
        UnaryFunc::Neg => arith::neg(arg),
        UnaryFunc::Abs => arith::abs(arg),
        UnaryFunc::Cast { to, kind } => cast::cast_datum(arg, to, *kind),
        UnaryFunc::Lower => string::lower(arg),
        UnaryFunc::Upper => string::upper(arg),
        UnaryFunc::CharLength => string::char_length(arg),
        UnaryFunc::OctetLength => string::octet_length(arg),
        UnaryFunc::BTrim => string::trim(arg, Datum::String(" ".into()), true, true),
        UnaryFunc::LTrim => string::trim(arg, Datum::String(" ".into()), true, false),
        UnaryFunc::RTrim => string::trim(arg, Datum::String(" ".into()), false, true),
        UnaryFunc::Floor => arith::floor(arg),
        UnaryFunc::Ceil => arith::ceil(arg),
        UnaryFunc::Round => arith::round(arg),
        UnaryFunc::Sqrt => arith::sqrt(arg),
        UnaryFunc::Extract(field) => datetime::extract(*field, arg),
        UnaryFunc::DatePart(field) => datetime::date_part(*field, arg),
        UnaryFunc::DateTrunc(unit) => datetime::date_trunc(*unit, arg),
        UnaryFunc::JsonbTypeof => jsonb::typeof_(arg),
        UnaryFunc::Md5 => string::md5(arg),
        UnaryFunc::QuoteIdent => array::quote_ident_datum(arg),
        UnaryFunc::PgSizePretty => array::size_pretty(arg),
        UnaryFunc::Initcap => string::initcap(arg),
        UnaryFunc::Reverse => string::reverse(arg),
        UnaryFunc::Chr => string::chr(arg),
        UnaryFunc::Ascii => string::ascii(arg),
        UnaryFunc::Exp => arith::exp(arg),
        UnaryFunc::Ln => arith::ln(arg),
        UnaryFunc::Log10 => arith::log10(arg),
        UnaryFunc::Sign => arith::sign(arg),
        UnaryFunc::Trunc => arith::trunc(arg),
        UnaryFunc::Cbrt => arith::cbrt(arg),
        UnaryFunc::Cardinality => array::cardinality(arg),
        UnaryFunc::ToTimestamp => datetime::to_timestamp(arg),
        UnaryFunc::JsonbArrayLength => jsonb::array_length(arg),
        UnaryFunc::ToJsonb => jsonb::to_jsonb(arg),
        UnaryFunc::BitNot => match arg {
            Datum::Int16(v) => Ok(Datum::Int16(!v)),
            Datum::Int32(v) => Ok(Datum::Int32(!v)),
            Datum::Int64(v) => Ok(Datum::Int64(!v)),
            other => Err(unexpected("~", &[other])),
        },
        UnaryFunc::RecordField { index, .. } => match arg {
            Datum::Record(mut fields) if *index < fields.len() => Ok(fields.swap_remove(*index)),
            other => Err(unexpected("record field", &[other])),
        },
        UnaryFunc::TimestampTzToLocal(zone) => match arg {
            Datum::TimestampTz(ts) => Ok(Datum::Timestamp(zone.local(&ts))),
            other => Err(unexpected("timezone", &[other])),
        },
        UnaryFunc::LocalToTimestampTz(zone) => match arg {
            Datum::Timestamp(ts) => Ok(Datum::TimestampTz(zone.instant(&ts))),
            other => Err(unexpected("timezone", &[other])),
        },
        UnaryFunc::ExtractZoneField(field, zone) => datetime::extract_zone_field(*field, arg, zone),
        UnaryFunc::DatePartZoneField(field, zone) => {
            datetime::date_part_zone_field(*field, arg, zone)
        }
        UnaryFunc::TimestampTzToJsonbIn(zone) => jsonb::timestamptz_to_jsonb(arg, zone),
        UnaryFunc::TimestampTzToTextIn(zone) => match arg {
            Datum::TimestampTz(ts) => Ok(Datum::String(eddy_repr::strconv::format_timestamptz_in(
                &ts, zone,
            ))),
            other => Err(unexpected("timestamptz_out", &[other])),
        },
        UnaryFunc::TextToTimestampTzIn(zone) => match arg {
            Datum::String(s) => eddy_repr::strconv::parse_timestamptz_in(&s, zone)
                .map(Datum::TimestampTz)
                .map_err(EvalError::from),
            other => Err(unexpected("timestamptz_in", &[other])),
        },
    }
}

/// Evaluates a binary function, evaluating both argument expressions on `datums`.
pub fn eval_binary(
    func: &BinaryFunc,
    expr1: &MirScalarExpr,
    expr2: &MirScalarExpr,
    datums: &[Datum],
) -> Result<Datum, EvalError> {
    let a = expr1.eval(datums)?;
    let b = expr2.eval(datums)?;
    eval_binary_datums(func, a, b)
}

/// Evaluates a binary function on evaluated arguments.
pub fn eval_binary_datums(func: &BinaryFunc, a: Datum, b: Datum) -> Result<Datum, EvalError> {
    if func.is_strict() && (a.is_null() || b.is_null()) {
        return Ok(Datum::Null);
    }
    match func {
        BinaryFunc::IsDistinctFrom => {
            let distinct = match (a.is_null(), b.is_null()) {
                (true, true) => false,
                (true, false) | (false, true) => true,
                (false, false) => compare(&a, &b)? != Ordering::Equal,
            };
            Ok(Datum::Bool(distinct))
        }
        BinaryFunc::Add => arith::add(a, b),
        BinaryFunc::Sub => arith::sub(a, b),
        BinaryFunc::Mul => arith::mul(a, b),
        BinaryFunc::Div => arith::div(a, b),
        BinaryFunc::Mod => arith::modulo(a, b),
        BinaryFunc::Eq => Ok(Datum::Bool(compare(&a, &b)? == Ordering::Equal)),
        BinaryFunc::NotEq => Ok(Datum::Bool(compare(&a, &b)? != Ordering::Equal)),
        BinaryFunc::Lt => Ok(Datum::Bool(compare(&a, &b)? == Ordering::Less)),
        BinaryFunc::Lte => Ok(Datum::Bool(compare(&a, &b)? != Ordering::Greater)),
        BinaryFunc::Gt => Ok(Datum::Bool(compare(&a, &b)? == Ordering::Greater)),
        BinaryFunc::Gte => Ok(Datum::Bool(compare(&a, &b)? != Ordering::Less)),
        BinaryFunc::Concat => string::concat_op(a, b),
        BinaryFunc::Like => string::like(a, b, false),
        BinaryFunc::ILike => string::like(a, b, true),
        BinaryFunc::RegexMatch { case_insensitive } => string::regex_match(a, b, *case_insensitive),
        BinaryFunc::RoundTo => arith::round_to(a, b),
        BinaryFunc::BTrimChars => string::trim(a, b, true, true),
        BinaryFunc::LTrimChars => string::trim(a, b, true, false),
        BinaryFunc::RTrimChars => string::trim(a, b, false, true),
        BinaryFunc::Position => string::position(a, b),
        BinaryFunc::Left => string::left(a, b),
        BinaryFunc::Right => string::right(a, b),
        BinaryFunc::Repeat => string::repeat(a, b),
        BinaryFunc::Power => arith::power(a, b),
        BinaryFunc::JsonbGet => jsonb::get(a, b, false),
        BinaryFunc::JsonbGetText => jsonb::get(a, b, true),
        BinaryFunc::ArrayUpper => array::array_upper(a, b),
        BinaryFunc::ArrayIndex => array::array_index(a, b),
        BinaryFunc::StartsWith => string::starts_with(a, b),
        BinaryFunc::Log => arith::log(a, b),
        BinaryFunc::TruncTo => arith::trunc_to(a, b),
        BinaryFunc::DivTrunc => arith::div_trunc(a, b),
        BinaryFunc::ArrayLength => array::array_length(a, b),
        BinaryFunc::Age => datetime::age(a, b),
        BinaryFunc::AddTimestampTzIntervalIn(zone) => datetime::add_interval_in(a, b, zone),
        BinaryFunc::SubTimestampTzIntervalIn(zone) => datetime::sub_interval_in(a, b, zone),
        BinaryFunc::JsonbGetPath => jsonb::get_path(a, b, false),
        BinaryFunc::JsonbGetPathText => jsonb::get_path(a, b, true),
        BinaryFunc::JsonbContains => match (&a, &b) {
            (Datum::Jsonb(x), Datum::Jsonb(y)) => Ok(Datum::Bool(jsonb::contains(x, y)?)),
            _ => Err(unexpected("@>", &[a, b])),
        },
        BinaryFunc::JsonbExists => match (&a, &b) {
            (Datum::Jsonb(x), Datum::String(k)) => Ok(Datum::Bool(jsonb::exists(x, k)?)),
            _ => Err(unexpected("?", &[a, b])),
        },
        BinaryFunc::JsonbExistsAny => jsonb::exists_keys(a, b, false),
        BinaryFunc::JsonbExistsAll => jsonb::exists_keys(a, b, true),
        BinaryFunc::BitAnd
        | BinaryFunc::BitOr
        | BinaryFunc::BitXor
        | BinaryFunc::ShiftLeft
        | BinaryFunc::ShiftRight => arith::bitwise(func, a, b),
    }
}

/// Evaluates a variadic function, evaluating argument expressions on `datums` as its
/// semantics require (lazily for `AND`, `OR`, `COALESCE`).
pub fn eval_variadic(
    func: &VariadicFunc,
    exprs: &[MirScalarExpr],
    datums: &[Datum],
) -> Result<Datum, EvalError> {
    match func {
        VariadicFunc::And => and_or(exprs, datums, false),
        VariadicFunc::Or => and_or(exprs, datums, true),
        VariadicFunc::Coalesce => {
            for e in exprs {
                let d = e.eval(datums)?;
                if !d.is_null() {
                    return Ok(d);
                }
            }
            Ok(Datum::Null)
        }
        _ => {
            let args = exprs
                .iter()
                .map(|e| e.eval(datums))
                .collect::<Result<Vec<_>, _>>()?;
            eval_variadic_datums(func, args)
        }
    }
}

/// Evaluates a variadic function on evaluated arguments (`AND`/`OR`/`COALESCE`
/// included, without their laziness).
pub fn eval_variadic_datums(func: &VariadicFunc, args: Vec<Datum>) -> Result<Datum, EvalError> {
    match func {
        VariadicFunc::And | VariadicFunc::Or => {
            let decisive = matches!(func, VariadicFunc::Or);
            let mut saw_null = false;
            for d in &args {
                match d {
                    Datum::Bool(b) if *b == decisive => return Ok(Datum::Bool(decisive)),
                    Datum::Bool(_) => {}
                    Datum::Null => saw_null = true,
                    other => return Err(unexpected("AND/OR", std::slice::from_ref(other))),
                }
            }
            Ok(if saw_null {
                Datum::Null
            } else {
                Datum::Bool(!decisive)
            })
        }
        VariadicFunc::Coalesce => Ok(args
            .into_iter()
            .find(|d| !d.is_null())
            .unwrap_or(Datum::Null)),
        VariadicFunc::Greatest | VariadicFunc::Least => {
            let want = if matches!(func, VariadicFunc::Greatest) {
                Ordering::Greater
            } else {
                Ordering::Less
            };
            let mut best: Option<Datum> = None;
            for d in args.into_iter().filter(|d| !d.is_null()) {
                best = Some(match best {
                    Some(b) if compare(&d, &b)? != want => b,
                    _ => d,
                });
            }
            Ok(best.unwrap_or(Datum::Null))
        }
        VariadicFunc::Concat => string::concat_fn(args),
        VariadicFunc::ArrayCreate { .. } => Ok(Datum::Array(args)),
        VariadicFunc::RecordCreate => Ok(Datum::Record(args)),
        VariadicFunc::ArraySlice { lower, upper } => array::array_slice(args, *lower, *upper),
        VariadicFunc::ArrayToString => array::array_to_string(args),
        VariadicFunc::StringToArray => string::string_to_array(args),
        VariadicFunc::FormatType => array::format_type(args),
        VariadicFunc::EqAny => array::eq_any(args),
        VariadicFunc::JsonbBuildObject => jsonb::build_object(args),
        VariadicFunc::JsonbBuildArray => jsonb::build_array(&args),
        VariadicFunc::Random => Ok(Datum::Float64(eddy_repr::OrdF64(rand::random::<f64>()))),
        VariadicFunc::GenRandomUuid => {
            let mut bytes: [u8; 16] = rand::random();
            bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
            bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
            Ok(Datum::Uuid(bytes))
        }
        VariadicFunc::ClockTimestamp => {
            let now = chrono::Utc::now();
            // Timestamps hold microseconds.
            let micros = now.timestamp_micros();
            Ok(Datum::TimestampTz(
                chrono::DateTime::from_timestamp_micros(micros).unwrap_or(now),
            ))
        }
        VariadicFunc::ArrayCat => array::array_cat(args),
        VariadicFunc::DateBin => datetime::date_bin(args),
        VariadicFunc::Format => format::format(args),
        VariadicFunc::ArrayPosition => array::array_position(args),
        VariadicFunc::Substring
        | VariadicFunc::Replace
        | VariadicFunc::SplitPart
        | VariadicFunc::Lpad
        | VariadicFunc::Rpad
        | VariadicFunc::RegexpReplace
        | VariadicFunc::RegexpMatch
        | VariadicFunc::RegexpSplitToArray
        | VariadicFunc::Translate
        | VariadicFunc::MakeDate
        | VariadicFunc::MakeTimestamp
        | VariadicFunc::MakeInterval
        | VariadicFunc::ToChar
        | VariadicFunc::ToCharIn(_)
        | VariadicFunc::ToTimestampFormat
        | VariadicFunc::ToDate => {
            if args.iter().any(Datum::is_null) {
                return Ok(Datum::Null);
            }
            match func {
                VariadicFunc::Substring => string::substring(args),
                VariadicFunc::Replace => string::replace(args),
                VariadicFunc::SplitPart => string::split_part(args),
                VariadicFunc::Lpad => string::pad(args, true),
                VariadicFunc::Rpad => string::pad(args, false),
                VariadicFunc::RegexpReplace => string::regexp_replace(args),
                VariadicFunc::RegexpMatch => string::regexp_match(args),
                VariadicFunc::RegexpSplitToArray => string::regexp_split_to_array(args),
                VariadicFunc::Translate => string::translate(args),
                VariadicFunc::MakeDate => datetime::make_date(args),
                VariadicFunc::MakeTimestamp => datetime::make_timestamp(args),
                VariadicFunc::MakeInterval => datetime::make_interval(args),
                VariadicFunc::ToChar => to_char::to_char(args),
                VariadicFunc::ToCharIn(zone) => to_char::to_char_in(args, zone),
                VariadicFunc::ToTimestampFormat => to_char::to_timestamp(args),
                _ => to_char::to_date(args),
            }
        }
    }
}

/// Three-valued `AND` (`decisive = false`) or `OR` (`decisive = true`), evaluating the
/// arguments in order and stopping at the first decisive value.
fn and_or(exprs: &[MirScalarExpr], datums: &[Datum], decisive: bool) -> Result<Datum, EvalError> {
    let mut first_error = None;
    let mut saw_null = false;
    for e in exprs {
        match e.eval(datums) {
            Ok(Datum::Bool(b)) if b == decisive => return Ok(Datum::Bool(decisive)),
            Ok(Datum::Bool(_)) => {}
            Ok(Datum::Null) => saw_null = true,
            Ok(other) => {
                let name = if decisive { "OR" } else { "AND" };
                first_error.get_or_insert(unexpected(name, &[other]));
            }
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        Some(err) => Err(err),
        None if saw_null => Ok(Datum::Null),
        None => Ok(Datum::Bool(!decisive)),
    }
}

/// The error for a datum combination that a valid plan never produces.
pub(crate) fn unexpected(func: &str, args: &[Datum]) -> EvalError {
    EvalError::Internal(format!(
        "function {func} cannot be applied to {}",
        args.iter()
            .map(|d| format!("{d:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Compares two non-NULL datums with SQL semantics: numbers of different types by value
/// (`1 = 1.0`, `1.50 = 1.5`), floats with NaN equal to itself and above everything,
/// intervals by their span (`'1 mon' = '30 days'`), dates against timestamps at
/// midnight; anything else with [`Datum::sql_cmp`].
pub fn compare(a: &Datum, b: &Datum) -> Result<Ordering, EvalError> {
    use Datum::*;
    Ok(match (a, b) {
        (Interval(x), Interval(y)) => x.as_micros_approx().cmp(&y.as_micros_approx()),
        (Int16(_) | Int32(_) | Int64(_), Int16(_) | Int32(_) | Int64(_)) => a.sql_cmp(b),
        (Float32(x), Float32(y)) => x.cmp(y),
        (Float32(_) | Float64(_), Float32(_) | Float64(_)) => {
            eddy_repr::OrdF64(arith::to_f64(a)?).cmp(&eddy_repr::OrdF64(arith::to_f64(b)?))
        }
        (Numeric(x), Numeric(y)) => x.cmp(y),
        (
            Numeric(_) | Int16(_) | Int32(_) | Int64(_),
            Numeric(_) | Int16(_) | Int32(_) | Int64(_),
        ) => arith::to_decimal(a)?.cmp(&arith::to_decimal(b)?),
        (
            Float32(_) | Float64(_) | Numeric(_) | Int16(_) | Int32(_) | Int64(_),
            Float32(_) | Float64(_) | Numeric(_) | Int16(_) | Int32(_) | Int64(_),
        ) => eddy_repr::OrdF64(arith::to_f64(a)?).cmp(&eddy_repr::OrdF64(arith::to_f64(b)?)),
        (Date(d), Timestamp(t)) => d.and_time(chrono::NaiveTime::MIN).cmp(t),
        (Timestamp(t), Date(d)) => t.cmp(&d.and_time(chrono::NaiveTime::MIN)),
        (Date(d), TimestampTz(t)) => d.and_time(chrono::NaiveTime::MIN).cmp(&t.naive_utc()),
        (TimestampTz(t), Date(d)) => t.naive_utc().cmp(&d.and_time(chrono::NaiveTime::MIN)),
        (Timestamp(x), TimestampTz(y)) => x.cmp(&y.naive_utc()),
        (TimestampTz(x), Timestamp(y)) => x.naive_utc().cmp(y),
        (Jsonb(x), Jsonb(y)) => jsonb::compare(x, y)?,
        (Array(x), Array(y)) => {
            for (ex, ey) in x.iter().zip(y.iter()) {
                let ord = match (ex.is_null(), ey.is_null()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => compare(ex, ey)?,
                };
                if ord != Ordering::Equal {
                    return Ok(ord);
                }
            }
            x.len().cmp(&y.len())
        }
        _ if std::mem::discriminant(a) == std::mem::discriminant(b) => a.sql_cmp(b),
        _ => return Err(unexpected("comparison", &[a.clone(), b.clone()])),
    })
}
