//! Array functions and the catalog helpers built on them, as Postgres computes them.
//!
//! Eddy's arrays are one-dimensional with lower bound 1 (Postgres' `int2vector` and
//! `oidvector` catalog columns, which start at 0, are plain 1-based arrays here).
//! - `x = ANY(array)` is true if an element equals `x`; otherwise NULL when `x` or an
//!   element is NULL and the array is not empty; otherwise false.
//! - `array_to_string` skips NULL elements unless a `null_string` is given.
//! - `quote_ident` quotes unless the name is lowercase letters, digits and `_` (not
//!   starting with a digit) and not a keyword Postgres reserves in any position.
//! - `format_type` prints [`eddy_repr::pgtype::format_type`].

use std::cmp::Ordering;

use eddy_repr::Datum;

use super::cast::output_text;
use super::{compare, unexpected};
use crate::error::EvalError;

fn elements<'a>(func: &str, d: &'a Datum) -> Result<&'a [Datum], EvalError> {
    match d {
        Datum::Array(elems) => Ok(elems),
        other => Err(unexpected(func, std::slice::from_ref(other))),
    }
}

/// `x = ANY(array)`: `args` is `[x, array]`.
pub(super) fn eq_any(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let [x, array] = <[Datum; 2]>::try_from(args).map_err(|args| unexpected("= ANY", &args))?;
    if array.is_null() {
        return Ok(Datum::Null);
    }
    let elems = elements("= ANY", &array)?;
    if elems.is_empty() {
        return Ok(Datum::Bool(false));
    }
    if x.is_null() {
        return Ok(Datum::Null);
    }
    let mut saw_null = false;
    for e in elems {
        if e.is_null() {
            saw_null = true;
        } else if compare(&x, e)? == Ordering::Equal {
            return Ok(Datum::Bool(true));
        }
    }
    Ok(if saw_null {
        Datum::Null
    } else {
        Datum::Bool(false)
    })
}

/// `array_to_string(array, delimiter [, null_string])`.
pub(super) fn array_to_string(args: Vec<Datum>) -> Result<Datum, EvalError> {
    if args.len() < 2 || args[0].is_null() || args[1].is_null() {
        return Ok(Datum::Null);
    }
    let elems = elements("array_to_string", &args[0])?;
    let delimiter = output_text(&args[1]);
    let null_string = args.get(2).filter(|d| !d.is_null()).map(output_text);
    let mut parts = Vec::with_capacity(elems.len());
    for e in elems {
        match (e.is_null(), &null_string) {
            (false, _) => parts.push(output_text(e)),
            (true, Some(s)) => parts.push(s.clone()),
            (true, None) => {}
        }
    }
    Ok(Datum::String(parts.join(&delimiter)))
}

/// `a || b` on arrays: NULL sides are ignored.
pub(super) fn array_cat(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let mut out: Option<Vec<Datum>> = None;
    for arg in args {
        match arg {
            Datum::Null => {}
            Datum::Array(elems) => out.get_or_insert_with(Vec::new).extend(elems),
            other => return Err(unexpected("||", &[other])),
        }
    }
    Ok(out.map(Datum::Array).unwrap_or(Datum::Null))
}

/// `array_upper(array, dimension)` (both non-NULL).
pub(super) fn array_upper(array: Datum, dimension: Datum) -> Result<Datum, EvalError> {
    let elems = elements("array_upper", &array)?;
    let dimension = match dimension {
        Datum::Int32(d) => d,
        other => return Err(unexpected("array_upper", &[other])),
    };
    if dimension != 1 || elems.is_empty() {
        return Ok(Datum::Null);
    }
    Ok(i32::try_from(elems.len())
        .map(Datum::Int32)
        .unwrap_or(Datum::Null))
}

/// `array_length(array, dimension)` (both non-NULL): as `array_upper`, since Eddy's
/// arrays are one-dimensional and 1-based.
pub(super) fn array_length(array: Datum, dimension: Datum) -> Result<Datum, EvalError> {
    array_upper(array, dimension)
}

/// `cardinality(array)`: the number of elements, 0 for an empty array.
pub(super) fn cardinality(array: Datum) -> Result<Datum, EvalError> {
    let elems = elements("cardinality", &array)?;
    i32::try_from(elems.len())
        .map(Datum::Int32)
        .map_err(|_| EvalError::OutOfRange("integer".into()))
}

/// `array_position(array, element [, start])`: the first position at or after `start`
/// (1 when absent or below 1) whose element is not distinct from `element`, so a NULL
/// `element` finds the first NULL; NULL when there is none or the array is NULL. A
/// NULL `start` is Postgres' 22004.
pub(super) fn array_position(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let (array, element) = match args.as_slice() {
        [a, e] | [a, e, _] => (a, e),
        _ => return Err(unexpected("array_position", &args)),
    };
    if array.is_null() {
        return Ok(Datum::Null);
    }
    let start = match args.get(2) {
        None => 1,
        Some(Datum::Int32(s)) => *s as i64,
        Some(Datum::Null) => {
            return Err(EvalError::NullValueNotAllowed(
                "initial position must not be null".into(),
            ))
        }
        Some(other) => return Err(unexpected("array_position", std::slice::from_ref(other))),
    };
    let elems = elements("array_position", array)?;
    let skip = usize::try_from(start.max(1) - 1).unwrap_or(usize::MAX);
    for (i, e) in elems.iter().enumerate().skip(skip) {
        let found = match (e.is_null(), element.is_null()) {
            (true, true) => true,
            (false, false) => compare(e, element)? == Ordering::Equal,
            _ => false,
        };
        if found {
            return Ok(i32::try_from(i + 1)
                .map(Datum::Int32)
                .unwrap_or(Datum::Null));
        }
    }
    Ok(Datum::Null)
}

/// `array[index]` (both non-NULL), 1-based.
pub(super) fn array_index(array: Datum, index: Datum) -> Result<Datum, EvalError> {
    let elems = elements("array subscript", &array)?;
    let index: i64 = match index {
        Datum::Int16(i) => i as i64,
        Datum::Int32(i) => i as i64,
        Datum::Int64(i) => i,
        other => return Err(unexpected("array subscript", &[other])),
    };
    Ok(usize::try_from(index - 1)
        .ok()
        .and_then(|i| elems.get(i))
        .cloned()
        .unwrap_or(Datum::Null))
}

/// `array[lower:upper]`: `args` are the array, then the bounds that are written
/// (`lower`, `upper` say which); an omitted bound is the array's own. The elements
/// between the bounds (1-based, both included, clamped to the array), `{}` when none;
/// NULL if an argument is NULL.
pub(super) fn array_slice(args: Vec<Datum>, lower: bool, upper: bool) -> Result<Datum, EvalError> {
    if args.iter().any(Datum::is_null) {
        return Ok(Datum::Null);
    }
    let mut args = args.into_iter();
    let array = args.next().unwrap_or(Datum::Null);
    let elems = elements("array slice", &array)?;
    let mut bound = |written: bool, default: i64| -> Result<i64, EvalError> {
        if !written {
            return Ok(default);
        }
        match args.next() {
            Some(Datum::Int16(i)) => Ok(i64::from(i)),
            Some(Datum::Int32(i)) => Ok(i64::from(i)),
            Some(Datum::Int64(i)) => Ok(i),
            other => Err(unexpected(
                "array slice",
                &other.into_iter().collect::<Vec<_>>(),
            )),
        }
    };
    let len = elems.len() as i64;
    let from = bound(lower, 1)?.max(1);
    let to = bound(upper, len)?.min(len);
    let picked = if from > to {
        vec![]
    } else {
        elems[(from - 1) as usize..to as usize].to_vec()
    };
    Ok(Datum::Array(picked))
}

/// Keywords Postgres reserves in some position: `quote_ident` quotes them.
const QUOTED_KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// An identifier as SQL must write it: as is when it reads back as itself unquoted,
/// otherwise in double quotes with inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && QUOTED_KEYWORDS.binary_search(&name).is_err();
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

pub(super) fn quote_ident_datum(d: Datum) -> Result<Datum, EvalError> {
    match d {
        Datum::String(s) => Ok(Datum::String(quote_ident(&s))),
        other => Err(unexpected("quote_ident", &[other])),
    }
}

/// `pg_size_pretty(bytes)`, rounding as Postgres does: bytes below 10 kB, then the
/// largest unit that keeps the number below 20480, rounded half away from zero.
pub(super) fn size_pretty(d: Datum) -> Result<Datum, EvalError> {
    let Datum::Int64(mut size) = d else {
        return Err(unexpected("pg_size_pretty", &[d]));
    };
    const LIMIT: i64 = 10 * 1024;
    const LIMIT2: i64 = LIMIT * 2 - 1;
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    if size.abs() < LIMIT {
        return Ok(Datum::String(format!("{size} bytes")));
    }
    // One extra bit is kept for rounding.
    size >>= 9;
    for unit in ["kB", "MB", "GB"] {
        if size.abs() < LIMIT2 {
            return Ok(Datum::String(format!("{} {unit}", half_rounded(size))));
        }
        size >>= 10;
    }
    Ok(Datum::String(format!("{} TB", half_rounded(size))))
}

/// `format_type(oid, typmod)`: NULL for a NULL OID; a NULL typmod means none given.
pub(super) fn format_type(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let oid = match args.first() {
        None | Some(Datum::Null) => return Ok(Datum::Null),
        Some(Datum::Oid(oid)) => *oid,
        Some(other) => return Err(unexpected("format_type", std::slice::from_ref(other))),
    };
    let typmod = match args.get(1) {
        None | Some(Datum::Null) => None,
        Some(Datum::Int32(m)) => Some(*m),
        Some(other) => return Err(unexpected("format_type", std::slice::from_ref(other))),
    };
    Ok(Datum::String(eddy_repr::pgtype::format_type(oid, typmod)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(items: &[Option<&str>]) -> Datum {
        Datum::Array(
            items
                .iter()
                .map(|i| i.map(Datum::from).unwrap_or(Datum::Null))
                .collect(),
        )
    }

    #[test]
    fn eq_any_follows_three_valued_logic() {
        let any = |x: Datum, arr: Datum| eq_any(vec![x, arr]).unwrap();
        let abc = texts(&[Some("a"), Some("b")]);
        assert_eq!(any("a".into(), abc.clone()), Datum::Bool(true));
        assert_eq!(any("z".into(), abc), Datum::Bool(false));
        assert_eq!(
            any("z".into(), texts(&[Some("a"), None])),
            Datum::Null,
            "no match but a NULL element"
        );
        assert_eq!(
            any("a".into(), texts(&[None, Some("a")])),
            Datum::Bool(true)
        );
        assert_eq!(any(Datum::Null, texts(&[Some("a")])), Datum::Null);
        assert_eq!(any(Datum::Null, texts(&[])), Datum::Bool(false));
        assert_eq!(any("a".into(), Datum::Null), Datum::Null);
    }

    #[test]
    fn array_to_string_skips_or_replaces_nulls() {
        let arr = texts(&[Some("a"), None, Some("c")]);
        assert_eq!(
            array_to_string(vec![arr.clone(), ",".into()]).unwrap(),
            Datum::from("a,c")
        );
        assert_eq!(
            array_to_string(vec![arr, ",".into(), "*".into()]).unwrap(),
            Datum::from("a,*,c")
        );
        assert_eq!(
            array_to_string(vec![Datum::Null, ",".into()]).unwrap(),
            Datum::Null
        );
    }

    #[test]
    fn subscripts_and_bounds_are_one_based() {
        let arr = Datum::Array(vec![Datum::Int16(5), Datum::Int16(7)]);
        assert_eq!(
            array_index(arr.clone(), Datum::Int32(1)).unwrap(),
            Datum::Int16(5)
        );
        assert_eq!(
            array_index(arr.clone(), Datum::Int32(0)).unwrap(),
            Datum::Null
        );
        assert_eq!(
            array_index(arr.clone(), Datum::Int32(3)).unwrap(),
            Datum::Null
        );
        assert_eq!(
            array_upper(arr.clone(), Datum::Int32(1)).unwrap(),
            Datum::Int32(2)
        );
        assert_eq!(array_upper(arr, Datum::Int32(2)).unwrap(), Datum::Null);
        assert_eq!(
            array_upper(Datum::Array(vec![]), Datum::Int32(1)).unwrap(),
            Datum::Null
        );
    }

    #[test]
    fn array_cat_ignores_null_sides() {
        let a = texts(&[Some("a")]);
        let b = texts(&[Some("b"), None]);
        assert_eq!(
            array_cat(vec![a.clone(), b]).unwrap(),
            texts(&[Some("a"), Some("b"), None])
        );
        assert_eq!(array_cat(vec![Datum::Null, a.clone()]).unwrap(), a);
        assert_eq!(
            array_cat(vec![Datum::Null, Datum::Null]).unwrap(),
            Datum::Null
        );
    }

    #[test]
    fn quote_ident_quotes_like_postgres() {
        assert!(QUOTED_KEYWORDS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(quote_ident("orders"), "orders");
        assert_eq!(quote_ident("Orders"), "\"Orders\"");
        assert_eq!(quote_ident("1x"), "\"1x\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(
            quote_ident("name"),
            "name",
            "unreserved keywords stay plain"
        );
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident(""), "\"\"");
    }

    #[test]
    fn size_pretty_rounds_like_postgres() {
        let pretty = |n: i64| size_pretty(Datum::Int64(n)).unwrap();
        assert_eq!(pretty(0), Datum::from("0 bytes"));
        assert_eq!(pretty(10239), Datum::from("10239 bytes"));
        assert_eq!(pretty(10240), Datum::from("10 kB"));
        assert_eq!(pretty(1_000_000), Datum::from("977 kB"));
        assert_eq!(pretty(100_000_000), Datum::from("95 MB"));
    }

    #[test]
    fn format_type_handles_nulls() {
        assert_eq!(
            format_type(vec![Datum::Oid(1043), Datum::Int32(44)]).unwrap(),
            Datum::from("character varying(40)")
        );
        assert_eq!(
            format_type(vec![Datum::Oid(23), Datum::Null]).unwrap(),
            Datum::from("integer")
        );
        assert_eq!(
            format_type(vec![Datum::Null, Datum::Int32(1)]).unwrap(),
            Datum::Null
        );
    }
}
