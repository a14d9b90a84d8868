//! `jsonb` operators and functions: `->`, `->>`, `#>`, `#>>`, `@>`, `<@`, `?`, `?|`,
//! `?&`, `||`, ordering, `jsonb_typeof`, `jsonb_array_length`, `to_jsonb` and the
//! builders.
//!
//! Jsonb datums hold canonical text (see [`JsonbValue`]), so every operator parses its
//! operands, works on the tree and prints the canonical result. A scalar at the top
//! level behaves, as in Postgres, like a one-element array for containment and `?`
//! (Postgres stores it as a "raw scalar" pseudo-array).

use std::cmp::Ordering;

use eddy_repr::strconv::json::key_order;
use eddy_repr::strconv::JsonbValue;
use eddy_repr::zone::TimeZone;
use eddy_repr::Datum;

use super::unexpected;
use crate::error::EvalError;

fn parse(s: &str) -> Result<JsonbValue, EvalError> {
    Ok(JsonbValue::parse(s)?)
}

/// `j -> key` / `j -> index` (or `->>` when `as_text`): NULL when the key or index is
/// absent or `j` has the wrong shape.
pub(super) fn get(j: Datum, key: Datum, as_text: bool) -> Result<Datum, EvalError> {
    let Datum::Jsonb(s) = &j else {
        return Err(unexpected("->", &[j, key]));
    };
    let v = parse(s)?;
    let found = match &key {
        Datum::String(k) => v.get_key(k),
        Datum::Int16(i) => v.get_index(*i as i64),
        Datum::Int32(i) => v.get_index(*i as i64),
        Datum::Int64(i) => v.get_index(*i),
        _ => return Err(unexpected("->", &[j, key])),
    };
    Ok(match found {
        None => Datum::Null,
        Some(x) if as_text => x.to_text().map(Datum::String).unwrap_or(Datum::Null),
        Some(x) => Datum::Jsonb(x.to_string()),
    })
}

/// `j #> path` / `j #>> path` (`as_text`): the value reached by following `path`'s
/// keys (in objects) and integer subscripts (in arrays, negative from the end); NULL
/// when a step is missing, a subscript is not an integer, or an element is NULL. An
/// empty path gives `j` itself.
pub(super) fn get_path(j: Datum, path: Datum, as_text: bool) -> Result<Datum, EvalError> {
    let (Datum::Jsonb(s), Datum::Array(steps)) = (&j, &path) else {
        return Err(unexpected("#>", &[j, path]));
    };
    let root = parse(s)?;
    let mut at = &root;
    for step in steps {
        let Datum::String(step) = step else {
            return Ok(Datum::Null);
        };
        let next = match at {
            JsonbValue::Object(_) => at.get_key(step),
            JsonbValue::Array(_) => step
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|i| at.get_index(i)),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return Ok(Datum::Null),
        }
    }
    Ok(if as_text {
        at.to_text().map(Datum::String).unwrap_or(Datum::Null)
    } else {
        Datum::Jsonb(at.to_string())
    })
}

/// `a @> b`: whether `a` contains `b`, as Postgres' `JsonbDeepContains` decides.
pub(super) fn contains(a: &str, b: &str) -> Result<bool, EvalError> {
    let (a, b) = (parse(a)?, parse(b)?);
    Ok(match (&a, &b) {
        // A top-level scalar is a one-element array that may contain only a scalar.
        (JsonbValue::Array(elems), b) if is_scalar(b) => {
            contains_in_array(elems, std::slice::from_ref(b))
        }
        (a, b) if is_scalar(a) && is_scalar(b) => scalar_eq(a, b),
        (a, _) if is_scalar(a) => false,
        (a, b) => contains_value(a, b),
    })
}

fn is_scalar(v: &JsonbValue) -> bool {
    !matches!(v, JsonbValue::Array(_) | JsonbValue::Object(_))
}

fn scalar_eq(a: &JsonbValue, b: &JsonbValue) -> bool {
    match (a, b) {
        (JsonbValue::Number(x), JsonbValue::Number(y)) => {
            compare_numeric_text(x, y) == Ordering::Equal
        }
        _ => a == b,
    }
}

/// Containment of two containers of one kind: every pair of `b` in `a` (a scalar value
/// equal, a container contained), every element of `b` among `a`'s elements.
fn contains_value(a: &JsonbValue, b: &JsonbValue) -> bool {
    match (a, b) {
        (JsonbValue::Object(_), JsonbValue::Object(want)) => {
            want.iter().all(|(k, wv)| match a.get_key(k) {
                None => false,
                Some(av) if is_scalar(wv) => is_scalar(av) && scalar_eq(av, wv),
                Some(av) => contains_value(av, wv),
            })
        }
        (JsonbValue::Array(have), JsonbValue::Array(want)) => contains_in_array(have, want),
        _ => false,
    }
}

fn contains_in_array(have: &[JsonbValue], want: &[JsonbValue]) -> bool {
    want.iter().all(|w| {
        if is_scalar(w) {
            have.iter().any(|h| is_scalar(h) && scalar_eq(h, w))
        } else {
            have.iter().any(|h| contains_value(h, w))
        }
    })
}

/// `j ? key`: whether `key` is a top-level object key, or a string element of a
/// top-level array (or the top-level string itself).
fn exists_in(v: &JsonbValue, key: &str) -> bool {
    match v {
        JsonbValue::Object(_) => v.get_key(key).is_some(),
        JsonbValue::Array(elems) => elems
            .iter()
            .any(|e| matches!(e, JsonbValue::String(s) if s == key)),
        JsonbValue::String(s) => s == key,
        _ => false,
    }
}

pub(super) fn exists(j: &str, key: &str) -> Result<bool, EvalError> {
    Ok(exists_in(&parse(j)?, key))
}

/// `j ?| keys` (`all == false`) and `j ?& keys`: NULL elements of `keys` are skipped,
/// so `?&` over no keys is true and `?|` false.
pub(super) fn exists_keys(j: Datum, keys: Datum, all: bool) -> Result<Datum, EvalError> {
    let (Datum::Jsonb(s), Datum::Array(keys)) = (&j, &keys) else {
        return Err(unexpected(if all { "?&" } else { "?|" }, &[j, keys]));
    };
    let v = parse(s)?;
    let mut keys = keys.iter().filter_map(|k| match k {
        Datum::String(k) => Some(k),
        _ => None,
    });
    let found = if all {
        keys.all(|k| exists_in(&v, k))
    } else {
        keys.any(|k| exists_in(&v, k))
    };
    Ok(Datum::Bool(found))
}

/// `jsonb_array_length(j)`: an error (22023) for anything but an array.
pub(super) fn array_length(j: Datum) -> Result<Datum, EvalError> {
    let Datum::Jsonb(s) = &j else {
        return Err(unexpected("jsonb_array_length", &[j]));
    };
    match parse(s)? {
        JsonbValue::Array(elems) => Ok(Datum::Int32(
            i32::try_from(elems.len()).map_err(|_| EvalError::OutOfRange("integer".into()))?,
        )),
        JsonbValue::Object(_) => Err(EvalError::InvalidParameterValue(
            "cannot get array length of a non-array".into(),
        )),
        _ => Err(EvalError::InvalidParameterValue(
            "cannot get array length of a scalar".into(),
        )),
    }
}

/// The pieces a set-returning jsonb function yields for one value (see
/// [`crate::table_func::TableFunc`]): `(key, value)` pairs of an object, elements of
/// an array, or keys; values as jsonb or, with `as_text`, as `->>` shows them.
pub(crate) fn each(s: &str, as_text: bool) -> Result<Vec<Datum>, EvalError> {
    let name = if as_text {
        "jsonb_each_text"
    } else {
        "jsonb_each"
    };
    match parse(s)? {
        JsonbValue::Object(entries) => Ok(entries
            .into_iter()
            .flat_map(|(k, v)| [Datum::String(k), element(v, as_text)])
            .collect()),
        _ => Err(EvalError::InvalidParameterValue(format!(
            "cannot call {name} on a non-object"
        ))),
    }
}

pub(crate) fn array_elements(s: &str, as_text: bool) -> Result<Vec<Datum>, EvalError> {
    match parse(s)? {
        JsonbValue::Array(elems) => Ok(elems.into_iter().map(|v| element(v, as_text)).collect()),
        JsonbValue::Object(_) => Err(EvalError::InvalidParameterValue(
            "cannot extract elements from an object".into(),
        )),
        _ => Err(EvalError::InvalidParameterValue(
            "cannot extract elements from a scalar".into(),
        )),
    }
}

pub(crate) fn object_keys(s: &str) -> Result<Vec<Datum>, EvalError> {
    match parse(s)? {
        JsonbValue::Object(entries) => {
            Ok(entries.into_iter().map(|(k, _)| Datum::String(k)).collect())
        }
        JsonbValue::Array(_) => Err(EvalError::InvalidParameterValue(
            "cannot call jsonb_object_keys on an array".into(),
        )),
        _ => Err(EvalError::InvalidParameterValue(
            "cannot call jsonb_object_keys on a scalar".into(),
        )),
    }
}

fn element(v: JsonbValue, as_text: bool) -> Datum {
    if as_text {
        match v {
            JsonbValue::Null => Datum::Null,
            JsonbValue::String(s) => Datum::String(s),
            other => Datum::String(other.to_string()),
        }
    } else {
        Datum::Jsonb(v.to_string())
    }
}

/// `to_jsonb(x)`.
pub(super) fn to_jsonb(d: Datum) -> Result<Datum, EvalError> {
    Ok(Datum::Jsonb(to_jsonb_value(&d)?.to_string()))
}

/// `jsonb_build_array(...)` and `jsonb_agg`'s result: the values as `to_jsonb` makes
/// them, NULLs as JSON `null`.
pub fn build_array(args: &[Datum]) -> Result<Datum, EvalError> {
    let elems = args.iter().map(to_jsonb_value).collect::<Result<_, _>>()?;
    Ok(Datum::Jsonb(JsonbValue::Array(elems).to_string()))
}

pub(super) fn typeof_(j: Datum) -> Result<Datum, EvalError> {
    match &j {
        Datum::Jsonb(s) => Ok(Datum::String(parse(s)?.type_name().to_string())),
        _ => Err(unexpected("jsonb_typeof", &[j])),
    }
}

/// `jsonb || jsonb`: objects merge (right side wins), anything else concatenates as
/// arrays (a scalar or object counts as a one-element array).
pub(super) fn concat(a: &str, b: &str) -> Result<Datum, EvalError> {
    let (x, y) = (parse(a)?, parse(b)?);
    let r = match (x, y) {
        (JsonbValue::Object(mut l), JsonbValue::Object(r)) => {
            l.extend(r);
            JsonbValue::object(l)
        }
        (x, y) => {
            let as_elems = |v: JsonbValue| match v {
                JsonbValue::Array(elems) => elems,
                other => vec![other],
            };
            let mut elems = as_elems(x);
            elems.extend(as_elems(y));
            JsonbValue::Array(elems)
        }
    };
    Ok(Datum::Jsonb(r.to_string()))
}

/// Postgres' jsonb btree order: object > array > boolean > number > string > null,
/// except that an empty top-level array sorts below null; objects and arrays compare
/// by size first, then pair by pair (keys in storage order) or element by element.
pub(super) fn compare(a: &str, b: &str) -> Result<Ordering, EvalError> {
    let (x, y) = (parse(a)?, parse(b)?);
    let empty_array = |v: &JsonbValue| matches!(v, JsonbValue::Array(e) if e.is_empty());
    Ok(match (empty_array(&x), empty_array(&y)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => compare_values(&x, &y),
    })
}

fn rank(v: &JsonbValue) -> u8 {
    match v {
        JsonbValue::Null => 0,
        JsonbValue::String(_) => 1,
        JsonbValue::Number(_) => 2,
        JsonbValue::Bool(_) => 3,
        JsonbValue::Array(_) => 4,
        JsonbValue::Object(_) => 5,
    }
}

fn compare_values(a: &JsonbValue, b: &JsonbValue) -> Ordering {
    match (a, b) {
        (JsonbValue::Null, JsonbValue::Null) => Ordering::Equal,
        (JsonbValue::String(x), JsonbValue::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (JsonbValue::Number(x), JsonbValue::Number(y)) => compare_numeric_text(x, y),
        (JsonbValue::Bool(x), JsonbValue::Bool(y)) => x.cmp(y),
        (JsonbValue::Array(x), JsonbValue::Array(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .zip(y)
                .map(|(p, q)| compare_values(p, q))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        }),
        (JsonbValue::Object(x), JsonbValue::Object(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .zip(y)
                .map(|((kx, vx), (ky, vy))| key_order(kx, ky).then_with(|| compare_values(vx, vy)))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        }),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Compares two canonical numeric texts by value.
fn compare_numeric_text(x: &str, y: &str) -> Ordering {
    let parse = |s: &str| -> (bool, String, String) {
        let (neg, body) = match s.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let int = int.trim_start_matches('0').to_string();
        let frac = frac.trim_end_matches('0').to_string();
        let zero = int.is_empty() && frac.is_empty();
        (neg && !zero, int, frac)
    };
    let (nx, ix, fx) = parse(x);
    let (ny, iy, fy) = parse(y);
    let magnitude = ix
        .len()
        .cmp(&iy.len())
        .then_with(|| ix.cmp(&iy))
        .then_with(|| fx.cmp(&fy));
    match (nx, ny) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
    }
}

/// A timestamptz in ISO 8601 as jsonb holds it, in time zone `zone`:
/// `2024-07-01T05:00:00+02:00` (an offset of whole hours gets its `:00`).
fn iso_timestamptz(ts: &chrono::DateTime<chrono::Utc>, zone: &TimeZone) -> String {
    let text = eddy_repr::strconv::format_timestamptz_in(ts, zone).replacen(' ', "T", 1);
    match text.rfind(['+', '-']) {
        Some(i) if text.len() - i == 3 => format!("{text}:00"),
        _ => text,
    }
}

/// `to_jsonb(timestamptz)` in a session whose time zone is `zone`: a jsonb string.
pub(super) fn timestamptz_to_jsonb(d: Datum, zone: &TimeZone) -> Result<Datum, EvalError> {
    match d {
        Datum::TimestampTz(ts) => Ok(Datum::Jsonb(
            JsonbValue::String(iso_timestamptz(&ts, zone)).to_string(),
        )),
        other => Err(unexpected("to_jsonb", &[other])),
    }
}

/// The jsonb form of a datum, as `to_jsonb` makes it: numbers and booleans as JSON
/// scalars (a non-finite float is a string), jsonb as itself, arrays as arrays,
/// date/time values in ISO 8601, anything else as its text.
pub(super) fn to_jsonb_value(d: &Datum) -> Result<JsonbValue, EvalError> {
    Ok(match d {
        Datum::Null => JsonbValue::Null,
        Datum::Bool(b) => JsonbValue::Bool(*b),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) | Datum::Numeric(_) => {
            parse(&super::cast::output_text(d))?
        }
        Datum::Float32(_) | Datum::Float64(_) => {
            let text = super::cast::output_text(d);
            JsonbValue::parse(&text).unwrap_or(JsonbValue::String(text))
        }
        Datum::Jsonb(s) => parse(s)?,
        Datum::Array(elems) => {
            JsonbValue::Array(elems.iter().map(to_jsonb_value).collect::<Result<_, _>>()?)
        }
        Datum::Timestamp(_) => {
            JsonbValue::String(super::cast::output_text(d).replacen(' ', "T", 1))
        }
        Datum::TimestampTz(ts) => JsonbValue::String(iso_timestamptz(ts, &TimeZone::UTC)),
        other => JsonbValue::String(super::cast::output_text(other)),
    })
}

/// `jsonb_build_object(key, value, ...)`: an object of the pairs (the last of
/// duplicate keys wins); keys are the arguments' text and must not be NULL.
pub(super) fn build_object(args: Vec<Datum>) -> Result<Datum, EvalError> {
    if !args.len().is_multiple_of(2) {
        return Err(EvalError::InvalidParameterValue(
            "argument list must have even number of elements".into(),
        ));
    }
    let mut entries = Vec::with_capacity(args.len() / 2);
    for (i, pair) in args.chunks(2).enumerate() {
        if pair[0].is_null() {
            return Err(EvalError::NullValueNotAllowed(format!(
                "argument {}: key must not be null",
                2 * i + 1
            )));
        }
        entries.push((
            super::cast::output_text(&pair[0]),
            to_jsonb_value(&pair[1])?,
        ));
    }
    Ok(Datum::Jsonb(JsonbValue::object(entries).to_string()))
}

#[cfg(test)]
mod build_tests {
    use super::*;

    #[test]
    fn build_object_is_canonical() {
        let built = build_object(vec![
            Datum::from("b"),
            Datum::Int32(1),
            Datum::from("a"),
            Datum::Null,
            Datum::from("b"),
            Datum::Bool(true),
            Datum::from("cc"),
            Datum::Numeric("1.50".parse().unwrap()),
        ])
        .unwrap();
        assert_eq!(
            built,
            Datum::Jsonb(r#"{"a": null, "b": true, "cc": 1.50}"#.into())
        );
        assert!(matches!(
            build_object(vec![Datum::Null, Datum::Int32(1)]),
            Err(EvalError::NullValueNotAllowed(_))
        ));
        assert!(build_object(vec![Datum::from("a")]).is_err());
    }
}
