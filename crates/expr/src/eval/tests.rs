//! Evaluation checked against Postgres 15. Each row of [`PG_CASES`] is a function, its
//! literal arguments (type and text, `None` for NULL) and what Postgres 15 returned for
//! the same SQL expression over the same literals (the text psql prints, `None` for
//! NULL) or the error it raised (SQLSTATE, message, DETAIL), with `TimeZone = UTC`.

use eddy_repr::strconv::{format_datum, parse_datum};
use eddy_repr::{DateTimeUnit, Datum, ScalarType};

use super::*;
use crate::func::CastKind;

type Expected = Result<Option<&'static str>, (&'static str, &'static str, Option<&'static str>)>;

/// `(function, arguments as (type, text or NULL), Postgres' answer)`.
type Case = (
    &'static str,
    &'static [(&'static str, Option<&'static str>)],
    Expected,
);

const PG_CASES: &[Case] = &[
    (
        "add",
        &[("int4", Some("2147483647")), ("int4", Some("1"))],
        Err(("22003", "integer out of range", None)),
    ),
    (
        "add",
        &[("int4", Some("2147483646")), ("int4", Some("1"))],
        Ok(Some("2147483647")),
    ),
    (
        "add",
        &[("int2", Some("32767")), ("int2", Some("1"))],
        Err(("22003", "smallint out of range", None)),
    ),
    (
        "add",
        &[("int8", Some("9223372036854775807")), ("int8", Some("1"))],
        Err(("22003", "bigint out of range", None)),
    ),
    ("add", &[("int4", None), ("int4", Some("1"))], Ok(None)),
    (
        "add",
        &[("int2", Some("100")), ("int4", Some("2147483000"))],
        Ok(Some("2147483100")),
    ),
    (
        "sub",
        &[("int4", Some("-2147483648")), ("int4", Some("1"))],
        Err(("22003", "integer out of range", None)),
    ),
    (
        "sub",
        &[("int8", Some("-9223372036854775808")), ("int8", Some("1"))],
        Err(("22003", "bigint out of range", None)),
    ),
    (
        "sub",
        &[("int4", Some("5")), ("int4", Some("7"))],
        Ok(Some("-2")),
    ),
    (
        "mul",
        &[("int4", Some("65536")), ("int4", Some("32768"))],
        Err(("22003", "integer out of range", None)),
    ),
    (
        "mul",
        &[("int2", Some("200")), ("int2", Some("200"))],
        Err(("22003", "smallint out of range", None)),
    ),
    (
        "mul",
        &[("int8", Some("3037000500")), ("int8", Some("3037000500"))],
        Err(("22003", "bigint out of range", None)),
    ),
    (
        "mul",
        &[("int4", Some("-7")), ("int4", Some("6"))],
        Ok(Some("-42")),
    ),
    (
        "div",
        &[("int4", Some("7")), ("int4", Some("2"))],
        Ok(Some("3")),
    ),
    (
        "div",
        &[("int4", Some("-7")), ("int4", Some("2"))],
        Ok(Some("-3")),
    ),
    (
        "div",
        &[("int4", Some("7")), ("int4", Some("-2"))],
        Ok(Some("-3")),
    ),
    (
        "div",
        &[("int4", Some("1")), ("int4", Some("0"))],
        Err(("22012", "division by zero", None)),
    ),
    (
        "div",
        &[("int4", Some("-2147483648")), ("int4", Some("-1"))],
        Err(("22003", "integer out of range", None)),
    ),
    (
        "div",
        &[("int2", Some("-32768")), ("int2", Some("-1"))],
        Err(("22003", "smallint out of range", None)),
    ),
    (
        "div",
        &[("int8", Some("-9223372036854775808")), ("int8", Some("-1"))],
        Err(("22003", "bigint out of range", None)),
    ),
    (
        "mod",
        &[("int4", Some("7")), ("int4", Some("3"))],
        Ok(Some("1")),
    ),
    (
        "mod",
        &[("int4", Some("-7")), ("int4", Some("3"))],
        Ok(Some("-1")),
    ),
    (
        "mod",
        &[("int4", Some("7")), ("int4", Some("-3"))],
        Ok(Some("1")),
    ),
    (
        "mod",
        &[("int4", Some("7")), ("int4", Some("0"))],
        Err(("22012", "division by zero", None)),
    ),
    (
        "mod",
        &[("int4", Some("-2147483648")), ("int4", Some("-1"))],
        Ok(Some("0")),
    ),
    (
        "mod",
        &[("int8", Some("-9223372036854775808")), ("int8", Some("-1"))],
        Ok(Some("0")),
    ),
    (
        "neg",
        &[("int4", Some("-2147483648"))],
        Err(("22003", "integer out of range", None)),
    ),
    (
        "neg",
        &[("int2", Some("-32768"))],
        Err(("22003", "smallint out of range", None)),
    ),
    (
        "neg",
        &[("int8", Some("-9223372036854775808"))],
        Err(("22003", "bigint out of range", None)),
    ),
    ("neg", &[("int4", Some("5"))], Ok(Some("-5"))),
    (
        "abs",
        &[("int4", Some("-2147483648"))],
        Err(("22003", "integer out of range", None)),
    ),
    ("abs", &[("int4", Some("-5"))], Ok(Some("5"))),
    ("abs", &[("float8", Some("-2.5"))], Ok(Some("2.5"))),
    ("abs", &[("numeric", Some("-2.50"))], Ok(Some("2.50"))),
    (
        "add",
        &[("float8", Some("0.1")), ("float8", Some("0.2"))],
        Ok(Some("0.30000000000000004")),
    ),
    (
        "add",
        &[("float8", Some("1e308")), ("float8", Some("1e308"))],
        Err(("22003", "value out of range: overflow", None)),
    ),
    (
        "add",
        &[("float8", Some("Infinity")), ("float8", Some("1"))],
        Ok(Some("Infinity")),
    ),
    (
        "add",
        &[("float8", Some("Infinity")), ("float8", Some("-Infinity"))],
        Ok(Some("NaN")),
    ),
    (
        "sub",
        &[("float8", Some("-1e308")), ("float8", Some("1e308"))],
        Err(("22003", "value out of range: overflow", None)),
    ),
    (
        "mul",
        &[("float8", Some("1e308")), ("float8", Some("10"))],
        Err(("22003", "value out of range: overflow", None)),
    ),
    (
        "mul",
        &[("float8", Some("1e-308")), ("float8", Some("1e-300"))],
        Err(("22003", "value out of range: underflow", None)),
    ),
    (
        "mul",
        &[("float8", Some("0")), ("float8", Some("Infinity"))],
        Ok(Some("NaN")),
    ),
    (
        "div",
        &[("float8", Some("1")), ("float8", Some("0"))],
        Err(("22012", "division by zero", None)),
    ),
    (
        "div",
        &[("float8", Some("0")), ("float8", Some("0"))],
        Err(("22012", "division by zero", None)),
    ),
    (
        "div",
        &[("float8", Some("NaN")), ("float8", Some("0"))],
        Ok(Some("NaN")),
    ),
    (
        "div",
        &[("float8", Some("1")), ("float8", Some("3"))],
        Ok(Some("0.3333333333333333")),
    ),
    (
        "div",
        &[("float8", Some("1e-300")), ("float8", Some("1e300"))],
        Err(("22003", "value out of range: underflow", None)),
    ),
    (
        "div",
        &[("float8", Some("1")), ("float8", Some("Infinity"))],
        Ok(Some("0")),
    ),
    (
        "add",
        &[("float4", Some("0.1")), ("float4", Some("0.2"))],
        Ok(Some("0.3")),
    ),
    (
        "mul",
        &[("float4", Some("1e38")), ("float4", Some("10"))],
        Err(("22003", "value out of range: overflow", None)),
    ),
    (
        "div",
        &[("float4", Some("1")), ("float4", Some("3"))],
        Ok(Some("0.33333334")),
    ),
    (
        "div",
        &[("float4", Some("1")), ("float4", Some("0"))],
        Err(("22012", "division by zero", None)),
    ),
    ("neg", &[("float8", Some("0"))], Ok(Some("-0"))),
    ("neg", &[("float8", Some("NaN"))], Ok(Some("NaN"))),
    (
        "add",
        &[("numeric", Some("1.50")), ("numeric", Some("2.125"))],
        Ok(Some("3.625")),
    ),
    (
        "sub",
        &[("numeric", Some("1.50")), ("numeric", Some("1.5"))],
        Ok(Some("0.00")),
    ),
    (
        "sub",
        &[("numeric", Some("1.5")), ("numeric", Some("2.25"))],
        Ok(Some("-0.75")),
    ),
    (
        "mul",
        &[("numeric", Some("1.50")), ("numeric", Some("2.0"))],
        Ok(Some("3.000")),
    ),
    (
        "mul",
        &[("numeric", Some("-0.5")), ("numeric", Some("0"))],
        Ok(Some("0.0")),
    ),
    (
        "div",
        &[("numeric", Some("1")), ("numeric", Some("3"))],
        Ok(Some("0.33333333333333333333")),
    ),
    (
        "div",
        &[("numeric", Some("10")), ("numeric", Some("4"))],
        Ok(Some("2.5000000000000000")),
    ),
    (
        "div",
        &[("numeric", Some("2")), ("numeric", Some("3"))],
        Ok(Some("0.66666666666666666667")),
    ),
    (
        "div",
        &[("numeric", Some("1")), ("numeric", Some("0"))],
        Err(("22012", "division by zero", None)),
    ),
    (
        "div",
        &[("numeric", Some("0")), ("numeric", Some("5"))],
        Ok(Some("0.00000000000000000000")),
    ),
    (
        "div",
        &[
            ("numeric", Some("1.000000000000000000001")),
            ("numeric", Some("1")),
        ],
        Ok(Some("1.000000000000000000001")),
    ),
    (
        "div",
        &[("numeric", Some("123456789")), ("numeric", Some("0.001"))],
        Ok(Some("123456789000.00000000")),
    ),
    (
        "div",
        &[("numeric", Some("0.001")), ("numeric", Some("123456789"))],
        Ok(Some("0.0000000000081000000737100007")),
    ),
    (
        "div",
        &[("numeric", Some("100")), ("numeric", Some("7"))],
        Ok(Some("14.2857142857142857")),
    ),
    (
        "div",
        &[("numeric", Some("-22")), ("numeric", Some("7"))],
        Ok(Some("-3.1428571428571429")),
    ),
    (
        "div",
        &[("numeric", Some("99999")), ("numeric", Some("100000"))],
        Ok(Some("0.99999000000000000000")),
    ),
    (
        "div",
        &[("numeric", Some("1.5")), ("numeric", Some("1.5"))],
        Ok(Some("1.00000000000000000000")),
    ),
    (
        "mod",
        &[("numeric", Some("1.5")), ("numeric", Some("0.7"))],
        Ok(Some("0.1")),
    ),
    (
        "mod",
        &[("numeric", Some("5")), ("numeric", Some("2.00"))],
        Ok(Some("1.00")),
    ),
    (
        "mod",
        &[("numeric", Some("-5.5")), ("numeric", Some("2"))],
        Ok(Some("-1.5")),
    ),
    (
        "mod",
        &[("numeric", Some("5")), ("numeric", Some("0"))],
        Err(("22012", "division by zero", None)),
    ),
    ("neg", &[("numeric", Some("0.00"))], Ok(Some("0.00"))),
    ("neg", &[("numeric", Some("1.50"))], Ok(Some("-1.50"))),
    (
        "eq",
        &[("numeric", Some("1.50")), ("numeric", Some("1.5"))],
        Ok(Some("t")),
    ),
    (
        "eq",
        &[("float8", Some("NaN")), ("float8", Some("NaN"))],
        Ok(Some("t")),
    ),
    (
        "gt",
        &[("float8", Some("NaN")), ("float8", Some("Infinity"))],
        Ok(Some("t")),
    ),
    (
        "lt",
        &[("float8", Some("-0")), ("float8", Some("0"))],
        Ok(Some("f")),
    ),
    (
        "eq",
        &[("float8", Some("-0")), ("float8", Some("0"))],
        Ok(Some("t")),
    ),
    (
        "eq",
        &[("interval", Some("1 mon")), ("interval", Some("30 days"))],
        Ok(Some("t")),
    ),
    (
        "eq",
        &[("interval", Some("1 day")), ("interval", Some("24 hours"))],
        Ok(Some("t")),
    ),
    (
        "lt",
        &[("interval", Some("1 day")), ("interval", Some("25 hours"))],
        Ok(Some("t")),
    ),
    (
        "gt",
        &[("text", Some("b")), ("text", Some("abc"))],
        Ok(Some("t")),
    ),
    (
        "lt",
        &[("text", Some("abc")), ("text", Some("abd"))],
        Ok(Some("t")),
    ),
    (
        "eq",
        &[("text", Some("abc")), ("text", Some("abc"))],
        Ok(Some("t")),
    ),
    (
        "noteq",
        &[("int4", Some("1")), ("int4", Some("2"))],
        Ok(Some("t")),
    ),
    (
        "lte",
        &[
            ("timestamp", Some("2024-01-01")),
            ("timestamp", Some("2024-01-01")),
        ],
        Ok(Some("t")),
    ),
    (
        "gte",
        &[("date", Some("2024-01-01")), ("date", Some("2024-01-02"))],
        Ok(Some("f")),
    ),
    ("eq", &[("int4", None), ("int4", None)], Ok(None)),
    (
        "eq",
        &[("bool", Some("t")), ("bool", Some("f"))],
        Ok(Some("f")),
    ),
    (
        "lt",
        &[("bool", Some("f")), ("bool", Some("t"))],
        Ok(Some("t")),
    ),
    (
        "eq",
        &[
            ("jsonb", Some("{\"a\": 1, \"b\": 2}")),
            ("jsonb", Some("{\"b\": 2, \"a\": 1}")),
        ],
        Ok(Some("t")),
    ),
    (
        "lt",
        &[("jsonb", Some("1")), ("jsonb", Some("\"a\""))],
        Ok(Some("f")),
    ),
    (
        "gt",
        &[("jsonb", Some("{\"a\": 1}")), ("jsonb", Some("[1, 2, 3]"))],
        Ok(Some("t")),
    ),
    (
        "lt",
        &[("jsonb", Some("[]")), ("jsonb", Some("null"))],
        Ok(Some("t")),
    ),
    (
        "lt",
        &[("jsonb", Some("1.5")), ("jsonb", Some("10"))],
        Ok(Some("t")),
    ),
    (
        "lt",
        &[("jsonb", Some("[1, 2]")), ("jsonb", Some("[3]"))],
        Ok(Some("f")),
    ),
    (
        "eq",
        &[("jsonb", Some("1.0")), ("jsonb", Some("1"))],
        Ok(Some("t")),
    ),
    (
        "is_distinct",
        &[("int4", None), ("int4", None)],
        Ok(Some("f")),
    ),
    (
        "is_distinct",
        &[("int4", None), ("int4", Some("1"))],
        Ok(Some("t")),
    ),
    (
        "is_distinct",
        &[("int4", Some("1")), ("int4", Some("1"))],
        Ok(Some("f")),
    ),
    (
        "is_distinct",
        &[("int4", Some("1")), ("int4", Some("2"))],
        Ok(Some("t")),
    ),
    (
        "cast:int4",
        &[("int8", Some("2147483648"))],
        Err(("22003", "integer out of range", None)),
    ),
    (
        "cast:int4",
        &[("int8", Some("-2147483648"))],
        Ok(Some("-2147483648")),
    ),
    (
        "cast:int2",
        &[("int4", Some("32768"))],
        Err(("22003", "smallint out of range", None)),
    ),
    ("cast:int2", &[("int4", Some("-32768"))], Ok(Some("-32768"))),
    ("cast:int4", &[("float8", Some("2.5"))], Ok(Some("2"))),
    ("cast:int4", &[("float8", Some("3.5"))], Ok(Some("4"))),
    ("cast:int4", &[("float8", Some("-2.5"))], Ok(Some("-2"))),
    (
        "cast:int4",
        &[("float8", Some("2147483647.4"))],
        Ok(Some("2147483647")),
    ),
    (
        "cast:int4",
        &[("float8", Some("2147483647.5"))],
        Err(("22003", "integer out of range", None)),
    ),
    (
        "cast:int4",
        &[("float8", Some("NaN"))],
        Err(("22003", "integer out of range", None)),
    ),
    (
        "cast:int8",
        &[("float8", Some("9223372036854775807"))],
        Err(("22003", "bigint out of range", None)),
    ),
    (
        "cast:int8",
        &[("float8", Some("-9223372036854775808"))],
        Ok(Some("-9223372036854775808")),
    ),
    (
        "cast:int2",
        &[("float4", Some("32767.4"))],
        Ok(Some("32767")),
    ),
    ("cast:int4", &[("numeric", Some("2.5"))], Ok(Some("3"))),
    ("cast:int4", &[("numeric", Some("-2.5"))], Ok(Some("-3"))),
    (
        "cast:int4",
        &[("numeric", Some("2147483647.5"))],
        Err(("22003", "integer out of range", None)),
    ),
    (
        "cast:int8",
        &[("numeric", Some("-9223372036854775808.4"))],
        Ok(Some("-9223372036854775808")),
    ),
    ("cast:int4", &[("bool", Some("t"))], Ok(Some("1"))),
    ("cast:bool", &[("int4", Some("0"))], Ok(Some("f"))),
    ("cast:bool", &[("int4", Some("-5"))], Ok(Some("t"))),
    ("cast:int4", &[("text", Some("  42 "))], Ok(Some("42"))),
    (
        "cast:int4",
        &[("text", Some("4x2"))],
        Err((
            "22P02",
            "invalid input syntax for type integer: \"4x2\"",
            None,
        )),
    ),
    (
        "cast:int2",
        &[("text", Some("99999"))],
        Err((
            "22003",
            "value \"99999\" is out of range for type smallint",
            None,
        )),
    ),
    ("cast:float8", &[("numeric", Some("0.1"))], Ok(Some("0.1"))),
    (
        "cast:float8",
        &[("int8", Some("9007199254740993"))],
        Ok(Some("9.007199254740992e+15")),
    ),
    (
        "cast:float4",
        &[("float8", Some("1e39"))],
        Err(("22003", "value out of range: overflow", None)),
    ),
    (
        "cast:float4",
        &[("float8", Some("1e-50"))],
        Err(("22003", "value out of range: underflow", None)),
    ),
    ("cast:float4", &[("float8", Some("1.1"))], Ok(Some("1.1"))),
    (
        "cast:float8",
        &[("float4", Some("1.1"))],
        Ok(Some("1.100000023841858")),
    ),
    (
        "cast:float4",
        &[("numeric", Some("123.456789"))],
        Ok(Some("123.45679")),
    ),
    ("cast:numeric", &[("float8", Some("0.1"))], Ok(Some("0.1"))),
    (
        "cast:numeric",
        &[("float8", Some("1e20"))],
        Ok(Some("100000000000000000000")),
    ),
    (
        "cast:numeric",
        &[("float8", Some("1.5e-10"))],
        Ok(Some("0.00000000015")),
    ),
    (
        "cast:numeric",
        &[("float8", Some("3.141592653589793238"))],
        Ok(Some("3.14159265358979")),
    ),
    (
        "cast:numeric",
        &[("float4", Some("3.141592653589793238"))],
        Ok(Some("3.14159")),
    ),
    ("cast:numeric", &[("int4", Some("7"))], Ok(Some("7"))),
    (
        "cast:numeric(5,2)",
        &[("numeric", Some("123.456"))],
        Ok(Some("123.46")),
    ),
    (
        "cast:numeric(5,2)",
        &[("numeric", Some("123.455"))],
        Ok(Some("123.46")),
    ),
    (
        "cast:numeric(5,2)",
        &[("numeric", Some("-123.455"))],
        Ok(Some("-123.46")),
    ),
    (
        "cast:numeric(5,2)",
        &[("numeric", Some("1234.5"))],
        Err((
            "22003",
            "numeric field overflow",
            Some(
                "A field with precision 5, scale 2 must round to an absolute value less than 10^3.",
            ),
        )),
    ),
    (
        "cast:numeric(5,2)",
        &[("numeric", Some("999.995"))],
        Err((
            "22003",
            "numeric field overflow",
            Some(
                "A field with precision 5, scale 2 must round to an absolute value less than 10^3.",
            ),
        )),
    ),
    (
        "cast:numeric(2,2)",
        &[("numeric", Some("1.0"))],
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 2, scale 2 must round to an absolute value less than 1."),
        )),
    ),
    (
        "cast:numeric(2,2)",
        &[("numeric", Some("0.994"))],
        Ok(Some("0.99")),
    ),
    (
        "cast:numeric(2,2)",
        &[("numeric", Some("0.995"))],
        Err((
            "22003",
            "numeric field overflow",
            Some("A field with precision 2, scale 2 must round to an absolute value less than 1."),
        )),
    ),
    (
        "cast:numeric(3,0)",
        &[("numeric", Some("999.4"))],
        Ok(Some("999")),
    ),
    (
        "cast:numeric(3,0)",
        &[("numeric", Some("999.5"))],
        Err((
            "22003",
            "numeric field overflow",
            Some(
                "A field with precision 3, scale 0 must round to an absolute value less than 10^3.",
            ),
        )),
    ),
    (
        "cast:numeric(10,3)",
        &[("int4", Some("5"))],
        Ok(Some("5.000")),
    ),
    (
        "cast:numeric(5,2)",
        &[("float8", Some("1.005"))],
        Ok(Some("1.01")),
    ),
    ("cast:numeric", &[("text", Some("1.50e2"))], Ok(Some("150"))),
    (
        "cast:numeric",
        &[("text", Some("abc"))],
        Err((
            "22P02",
            "invalid input syntax for type numeric: \"abc\"",
            None,
        )),
    ),
    ("cast:text", &[("bool", Some("t"))], Ok(Some("true"))),
    ("cast:text", &[("float8", Some("0.1"))], Ok(Some("0.1"))),
    ("cast:text", &[("float4", Some("0.1"))], Ok(Some("0.1"))),
    ("cast:text", &[("numeric", Some("9.50"))], Ok(Some("9.50"))),
    ("cast:text", &[("int4", Some("-5"))], Ok(Some("-5"))),
    (
        "cast:text",
        &[("date", Some("2024-01-02"))],
        Ok(Some("2024-01-02")),
    ),
    (
        "cast:text",
        &[("timestamp", Some("2024-01-02 03:04:05.5"))],
        Ok(Some("2024-01-02 03:04:05.5")),
    ),
    (
        "cast:text",
        &[("timestamptz", Some("2024-01-02 03:04:05+02"))],
        Ok(Some("2024-01-02 01:04:05+00")),
    ),
    (
        "cast:text",
        &[("interval", Some("1 year 2 mons -3 days 04:05:06"))],
        Ok(Some("1 year 2 mons -3 days +04:05:06")),
    ),
    (
        "cast:text",
        &[("jsonb", Some("{\"b\":1,\"a\":[1,2]}"))],
        Ok(Some("{\"a\": [1, 2], \"b\": 1}")),
    ),
    (
        "cast:text",
        &[("bytea", Some("\\x0102"))],
        Ok(Some("\\x0102")),
    ),
    (
        "cast:text",
        &[("time", Some("03:04:05.123"))],
        Ok(Some("03:04:05.123")),
    ),
    (
        "cast:varchar(3)",
        &[("text", Some("abcdef"))],
        Ok(Some("abc")),
    ),
    ("cast:varchar(3)", &[("text", Some("ab"))], Ok(Some("ab"))),
    (
        "cast:varchar(3)",
        &[("text", Some("abc   "))],
        Ok(Some("abc")),
    ),
    ("cast:varchar(2)", &[("bool", Some("t"))], Ok(Some("tr"))),
    (
        "cast:varchar(3)",
        &[("text", Some("héllo"))],
        Ok(Some("hél")),
    ),
    ("cast:char(4)", &[("text", Some("ab"))], Ok(Some("ab  "))),
    ("cast:char(2)", &[("text", Some("abcd"))], Ok(Some("ab"))),
    ("cast:char(3)", &[("int4", Some("12345"))], Ok(Some("123"))),
    ("cast:bool", &[("text", Some("yes"))], Ok(Some("t"))),
    (
        "cast:bool",
        &[("text", Some("maybe"))],
        Err((
            "22P02",
            "invalid input syntax for type boolean: \"maybe\"",
            None,
        )),
    ),
    (
        "cast:date",
        &[("text", Some("2024-02-30"))],
        Err((
            "22008",
            "date/time field value out of range: \"2024-02-30\"",
            None,
        )),
    ),
    (
        "cast:date",
        &[("timestamp", Some("2024-01-02 23:59:59"))],
        Ok(Some("2024-01-02")),
    ),
    (
        "cast:date",
        &[("timestamptz", Some("2024-01-02 23:59:59+00"))],
        Ok(Some("2024-01-02")),
    ),
    (
        "cast:timestamp",
        &[("date", Some("2024-01-02"))],
        Ok(Some("2024-01-02 00:00:00")),
    ),
    (
        "cast:timestamptz",
        &[("date", Some("2024-01-02"))],
        Ok(Some("2024-01-02 00:00:00+00")),
    ),
    (
        "cast:timestamptz",
        &[("timestamp", Some("2024-01-02 03:04:05"))],
        Ok(Some("2024-01-02 03:04:05+00")),
    ),
    (
        "cast:timestamp",
        &[("timestamptz", Some("2024-01-02 03:04:05+00"))],
        Ok(Some("2024-01-02 03:04:05")),
    ),
    (
        "cast:time",
        &[("timestamp", Some("2024-01-02 03:04:05.25"))],
        Ok(Some("03:04:05.25")),
    ),
    (
        "cast:time",
        &[("interval", Some("-1 hour"))],
        Ok(Some("23:00:00")),
    ),
    (
        "cast:time",
        &[("interval", Some("1 day 27:00:00"))],
        Ok(Some("03:00:00")),
    ),
    (
        "cast:interval",
        &[("time", Some("03:04:05"))],
        Ok(Some("03:04:05")),
    ),
    (
        "cast:interval",
        &[("text", Some("1 day 2 hours"))],
        Ok(Some("1 day 02:00:00")),
    ),
    (
        "cast:interval",
        &[("text", Some("abc"))],
        Err((
            "22007",
            "invalid input syntax for type interval: \"abc\"",
            None,
        )),
    ),
    (
        "cast:timestamp",
        &[("text", Some("2024-01-02 03:04:05"))],
        Ok(Some("2024-01-02 03:04:05")),
    ),
    (
        "cast:timestamptz",
        &[("text", Some("2024-01-02 03:04:05-08"))],
        Ok(Some("2024-01-02 11:04:05+00")),
    ),
    (
        "cast:jsonb",
        &[("text", Some("{\"b\": 1, \"a\": 2, \"a\": 3}"))],
        Ok(Some("{\"a\": 3, \"b\": 1}")),
    ),
    (
        "cast:jsonb",
        &[("text", Some("{bad"))],
        Err((
            "22P02",
            "invalid input syntax for type json",
            Some("Token \"bad\" is invalid."),
        )),
    ),
    ("cast:int4", &[("jsonb", Some("1.5"))], Ok(Some("2"))),
    ("cast:int4", &[("jsonb", Some("2.5"))], Ok(Some("3"))),
    (
        "cast:int4",
        &[("jsonb", Some("\"5\""))],
        Err(("22023", "cannot cast jsonb string to type integer", None)),
    ),
    (
        "cast:int4",
        &[("jsonb", Some("null"))],
        Err(("22023", "cannot cast jsonb null to type integer", None)),
    ),
    (
        "cast:int4",
        &[("jsonb", Some("[1]"))],
        Err(("22023", "cannot cast jsonb array to type integer", None)),
    ),
    (
        "cast:int2",
        &[("jsonb", Some("40000"))],
        Err(("22003", "smallint out of range", None)),
    ),
    ("cast:numeric", &[("jsonb", Some("1.50"))], Ok(Some("1.50"))),
    (
        "cast:numeric",
        &[("jsonb", Some("{\"a\": 1}"))],
        Err(("22023", "cannot cast jsonb object to type numeric", None)),
    ),
    ("cast:bool", &[("jsonb", Some("true"))], Ok(Some("t"))),
    (
        "cast:bool",
        &[("jsonb", Some("1"))],
        Err(("22023", "cannot cast jsonb numeric to type boolean", None)),
    ),
    ("cast:float8", &[("jsonb", Some("1.5e3"))], Ok(Some("1500"))),
    (
        "cast:float8",
        &[("jsonb", Some("\"x\""))],
        Err((
            "22023",
            "cannot cast jsonb string to type double precision",
            None,
        )),
    ),
    (
        "cast:int8",
        &[("jsonb", Some("12345678901"))],
        Ok(Some("12345678901")),
    ),
    (
        "cast:bytea",
        &[("text", Some("\\x0102"))],
        Ok(Some("\\x0102")),
    ),
    (
        "cast:uuid",
        &[("text", Some("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"))],
        Ok(Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
    ),
    (
        "cast:text",
        &[("uuid", Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))],
        Ok(Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
    ),
    ("cast:oid", &[("int4", Some("-1"))], Ok(Some("4294967295"))),
    (
        "cast:oid",
        &[("int8", Some("4294967296"))],
        Err(("22003", "OID out of range", None)),
    ),
    (
        "cast:int8",
        &[("oid", Some("4294967295"))],
        Ok(Some("4294967295")),
    ),
    ("cast:int4", &[("oid", Some("4294967295"))], Ok(Some("-1"))),
    (
        "lower",
        &[("text", Some("HeLLo ÉCOLE"))],
        Ok(Some("hello école")),
    ),
    (
        "upper",
        &[("text", Some("hello école"))],
        Ok(Some("HELLO ÉCOLE")),
    ),
    ("char_length", &[("text", Some("héllo"))], Ok(Some("5"))),
    ("octet_length", &[("text", Some("héllo"))], Ok(Some("6"))),
    ("char_length", &[("text", Some(""))], Ok(Some("0"))),
    ("btrim", &[("text", Some("  ab c  "))], Ok(Some("ab c"))),
    ("ltrim", &[("text", Some("  ab c  "))], Ok(Some("ab c  "))),
    ("rtrim", &[("text", Some("  ab c  "))], Ok(Some("  ab c"))),
    (
        "btrim_chars",
        &[("text", Some("xxabcxyx")), ("text", Some("xy"))],
        Ok(Some("abc")),
    ),
    (
        "ltrim_chars",
        &[("text", Some("xxabcxyx")), ("text", Some("xy"))],
        Ok(Some("abcxyx")),
    ),
    (
        "rtrim_chars",
        &[("text", Some("xxabcxyx")), ("text", Some("xy"))],
        Ok(Some("xxabc")),
    ),
    (
        "btrim_chars",
        &[("text", Some("abc")), ("text", Some(""))],
        Ok(Some("abc")),
    ),
    (
        "concat_op",
        &[("text", Some("ab")), ("text", Some("cd"))],
        Ok(Some("abcd")),
    ),
    (
        "concat_op",
        &[("text", Some("ab")), ("text", None)],
        Ok(None),
    ),
    (
        "concat_op",
        &[("text", None), ("text", Some("cd"))],
        Ok(None),
    ),
    (
        "concat_op",
        &[("bytea", Some("\\x01")), ("bytea", Some("\\x0203"))],
        Ok(Some("\\x010203")),
    ),
    (
        "concat_op",
        &[
            ("jsonb", Some("{\"a\": 1, \"b\": 2}")),
            ("jsonb", Some("{\"b\": 3, \"c\": 4}")),
        ],
        Ok(Some("{\"a\": 1, \"b\": 3, \"c\": 4}")),
    ),
    (
        "concat_op",
        &[("jsonb", Some("[1, 2]")), ("jsonb", Some("[3]"))],
        Ok(Some("[1, 2, 3]")),
    ),
    (
        "concat_op",
        &[("jsonb", Some("[1]")), ("jsonb", Some("{\"a\": 1}"))],
        Ok(Some("[1, {\"a\": 1}]")),
    ),
    (
        "concat_op",
        &[("jsonb", Some("1")), ("jsonb", Some("\"x\""))],
        Ok(Some("[1, \"x\"]")),
    ),
    (
        "concat_op",
        &[("jsonb", Some("{\"a\": 1}")), ("jsonb", Some("2"))],
        Ok(Some("[{\"a\": 1}, 2]")),
    ),
    (
        "like",
        &[("text", Some("abc")), ("text", Some("a%"))],
        Ok(Some("t")),
    ),
    (
        "like",
        &[("text", Some("abc")), ("text", Some("a_c"))],
        Ok(Some("t")),
    ),
    (
        "like",
        &[("text", Some("abc")), ("text", Some("A%"))],
        Ok(Some("f")),
    ),
    (
        "like",
        &[("text", Some("abc")), ("text", Some("%b"))],
        Ok(Some("f")),
    ),
    (
        "like",
        &[("text", Some("abc")), ("text", Some("%b%"))],
        Ok(Some("t")),
    ),
    (
        "like",
        &[("text", Some("a%c")), ("text", Some("a\\%c"))],
        Ok(Some("t")),
    ),
    (
        "like",
        &[("text", Some("abc")), ("text", Some("a\\%c"))],
        Ok(Some("f")),
    ),
    (
        "like",
        &[("text", Some("a_c")), ("text", Some("a\\_c"))],
        Ok(Some("t")),
    ),
    (
        "like",
        &[("text", Some("")), ("text", Some("%"))],
        Ok(Some("t")),
    ),
    (
        "like",
        &[("text", Some("")), ("text", Some("_"))],
        Ok(Some("f")),
    ),
    (
        "like",
        &[("text", Some("abcabc")), ("text", Some("%abc"))],
        Ok(Some("t")),
    ),
    (
        "like",
        &[("text", Some("aXbXc")), ("text", Some("%X%X%"))],
        Ok(Some("t")),
    ),
    (
        "like",
        &[("text", Some("héllo")), ("text", Some("h_llo"))],
        Ok(Some("t")),
    ),
    (
        "like",
        &[("text", Some("a")), ("text", Some("a\\"))],
        Ok(Some("f")),
    ),
    (
        "like",
        &[("text", Some("a\\")), ("text", Some("a\\"))],
        Err((
            "22025",
            "LIKE pattern must not end with escape character",
            None,
        )),
    ),
    (
        "like",
        &[("text", Some("ab")), ("text", Some("a\\"))],
        Err((
            "22025",
            "LIKE pattern must not end with escape character",
            None,
        )),
    ),
    (
        "like",
        &[("text", Some("abc")), ("text", Some("a%%%c"))],
        Ok(Some("t")),
    ),
    (
        "ilike",
        &[("text", Some("ABC")), ("text", Some("a%"))],
        Ok(Some("t")),
    ),
    (
        "ilike",
        &[("text", Some("Straße")), ("text", Some("STRASSE"))],
        Ok(Some("f")),
    ),
    (
        "ilike",
        &[("text", Some("ÉCOLE")), ("text", Some("école"))],
        Ok(Some("t")),
    ),
    (
        "regex",
        &[("text", Some("abc")), ("text", Some("^a.c$"))],
        Ok(Some("t")),
    ),
    (
        "regex",
        &[("text", Some("abc")), ("text", Some("B"))],
        Ok(Some("f")),
    ),
    (
        "iregex",
        &[("text", Some("abc")), ("text", Some("B"))],
        Ok(Some("t")),
    ),
    (
        "regex",
        &[("text", Some("abc")), ("text", Some("("))],
        Err((
            "2201B",
            "invalid regular expression: parentheses () not balanced",
            None,
        )),
    ),
    (
        "regex",
        &[("text", Some("a1b2")), ("text", Some("[0-9]+"))],
        Ok(Some("t")),
    ),
    (
        "regex",
        &[("text", Some("foo bar")), ("text", Some("\\w+ \\w+"))],
        Ok(Some("t")),
    ),
    (
        "position",
        &[("text", Some("lo")), ("text", Some("hello"))],
        Ok(Some("4")),
    ),
    (
        "position",
        &[("text", Some("z")), ("text", Some("hello"))],
        Ok(Some("0")),
    ),
    (
        "position",
        &[("text", Some("")), ("text", Some("hello"))],
        Ok(Some("1")),
    ),
    (
        "position",
        &[("text", Some("é")), ("text", Some("héllo"))],
        Ok(Some("2")),
    ),
    (
        "left",
        &[("text", Some("héllo")), ("int4", Some("2"))],
        Ok(Some("hé")),
    ),
    (
        "left",
        &[("text", Some("hello")), ("int4", Some("-2"))],
        Ok(Some("hel")),
    ),
    (
        "left",
        &[("text", Some("hello")), ("int4", Some("10"))],
        Ok(Some("hello")),
    ),
    (
        "left",
        &[("text", Some("hello")), ("int4", Some("-10"))],
        Ok(Some("")),
    ),
    (
        "right",
        &[("text", Some("héllo")), ("int4", Some("2"))],
        Ok(Some("lo")),
    ),
    (
        "right",
        &[("text", Some("hello")), ("int4", Some("-2"))],
        Ok(Some("llo")),
    ),
    (
        "right",
        &[("text", Some("hello")), ("int4", Some("10"))],
        Ok(Some("hello")),
    ),
    (
        "right",
        &[("text", Some("hello")), ("int4", Some("-10"))],
        Ok(Some("")),
    ),
    (
        "repeat",
        &[("text", Some("ab")), ("int4", Some("3"))],
        Ok(Some("ababab")),
    ),
    (
        "repeat",
        &[("text", Some("ab")), ("int4", Some("0"))],
        Ok(Some("")),
    ),
    (
        "repeat",
        &[("text", Some("ab")), ("int4", Some("-1"))],
        Ok(Some("")),
    ),
    (
        "repeat",
        &[("text", Some("x")), ("int4", Some("1073741824"))],
        Err(("54000", "requested length too large", None)),
    ),
    (
        "substring",
        &[("text", Some("hello")), ("int4", Some("2"))],
        Ok(Some("ello")),
    ),
    (
        "substring",
        &[
            ("text", Some("hello")),
            ("int4", Some("2")),
            ("int4", Some("3")),
        ],
        Ok(Some("ell")),
    ),
    (
        "substring",
        &[
            ("text", Some("hello")),
            ("int4", Some("0")),
            ("int4", Some("3")),
        ],
        Ok(Some("he")),
    ),
    (
        "substring",
        &[
            ("text", Some("hello")),
            ("int4", Some("-1")),
            ("int4", Some("3")),
        ],
        Ok(Some("h")),
    ),
    (
        "substring",
        &[
            ("text", Some("hello")),
            ("int4", Some("-5")),
            ("int4", Some("3")),
        ],
        Ok(Some("")),
    ),
    (
        "substring",
        &[
            ("text", Some("hello")),
            ("int4", Some("4")),
            ("int4", Some("10")),
        ],
        Ok(Some("lo")),
    ),
    (
        "substring",
        &[("text", Some("hello")), ("int4", Some("10"))],
        Ok(Some("")),
    ),
    (
        "substring",
        &[
            ("text", Some("hello")),
            ("int4", Some("2")),
            ("int4", Some("-1")),
        ],
        Err(("22011", "negative substring length not allowed", None)),
    ),
    (
        "substring",
        &[
            ("text", Some("héllo")),
            ("int4", Some("2")),
            ("int4", Some("2")),
        ],
        Ok(Some("él")),
    ),
    (
        "substring",
        &[("text", Some("hello")), ("int4", None)],
        Ok(None),
    ),
    (
        "substring",
        &[
            ("text", Some("hello")),
            ("int4", Some("2")),
            ("int4", Some("2147483647")),
        ],
        Ok(Some("ello")),
    ),
    (
        "substring",
        &[
            ("text", Some("hello")),
            ("int4", Some("-2147483648")),
            ("int4", Some("2147483647")),
        ],
        Ok(Some("")),
    ),
    (
        "substring",
        &[
            ("bytea", Some("\\x0102030405")),
            ("int4", Some("2")),
            ("int4", Some("3")),
        ],
        Ok(Some("\\x020304")),
    ),
    (
        "concat_fn",
        &[
            ("text", Some("a")),
            ("int4", None),
            ("bool", Some("t")),
            ("numeric", Some("1.50")),
            ("float8", Some("0.5")),
        ],
        Ok(Some("at1.500.5")),
    ),
    ("concat_fn", &[("text", None)], Ok(Some(""))),
    (
        "concat_fn",
        &[("jsonb", Some("{\"a\":1}")), ("date", Some("2024-01-02"))],
        Ok(Some("{\"a\": 1}2024-01-02")),
    ),
    (
        "replace",
        &[
            ("text", Some("abcabc")),
            ("text", Some("b")),
            ("text", Some("XY")),
        ],
        Ok(Some("aXYcaXYc")),
    ),
    (
        "replace",
        &[
            ("text", Some("abc")),
            ("text", Some("")),
            ("text", Some("X")),
        ],
        Ok(Some("abc")),
    ),
    (
        "replace",
        &[
            ("text", Some("abc")),
            ("text", Some("z")),
            ("text", Some("X")),
        ],
        Ok(Some("abc")),
    ),
    (
        "replace",
        &[
            ("text", Some("aaa")),
            ("text", Some("aa")),
            ("text", Some("b")),
        ],
        Ok(Some("ba")),
    ),
    (
        "split_part",
        &[
            ("text", Some("a,b,c")),
            ("text", Some(",")),
            ("int4", Some("2")),
        ],
        Ok(Some("b")),
    ),
    (
        "split_part",
        &[
            ("text", Some("a,b,c")),
            ("text", Some(",")),
            ("int4", Some("4")),
        ],
        Ok(Some("")),
    ),
    (
        "split_part",
        &[
            ("text", Some("a,b,c")),
            ("text", Some(",")),
            ("int4", Some("-1")),
        ],
        Ok(Some("c")),
    ),
    (
        "split_part",
        &[
            ("text", Some("a,b,c")),
            ("text", Some(",")),
            ("int4", Some("-4")),
        ],
        Ok(Some("")),
    ),
    (
        "split_part",
        &[
            ("text", Some("a,b,c")),
            ("text", Some(",")),
            ("int4", Some("0")),
        ],
        Err(("22023", "field position must not be zero", None)),
    ),
    (
        "split_part",
        &[
            ("text", Some("abc")),
            ("text", Some("")),
            ("int4", Some("1")),
        ],
        Ok(Some("abc")),
    ),
    (
        "split_part",
        &[
            ("text", Some("abc")),
            ("text", Some("")),
            ("int4", Some("2")),
        ],
        Ok(Some("")),
    ),
    (
        "split_part",
        &[("text", Some("")), ("text", Some(",")), ("int4", Some("1"))],
        Ok(Some("")),
    ),
    (
        "split_part",
        &[
            ("text", Some("a,,b")),
            ("text", Some(",")),
            ("int4", Some("2")),
        ],
        Ok(Some("")),
    ),
    (
        "split_part",
        &[
            ("text", Some("a--b--c")),
            ("text", Some("--")),
            ("int4", Some("3")),
        ],
        Ok(Some("c")),
    ),
    (
        "lpad",
        &[("text", Some("hi")), ("int4", Some("5"))],
        Ok(Some("   hi")),
    ),
    (
        "lpad",
        &[
            ("text", Some("hi")),
            ("int4", Some("5")),
            ("text", Some("xy")),
        ],
        Ok(Some("xyxhi")),
    ),
    (
        "lpad",
        &[
            ("text", Some("hello")),
            ("int4", Some("3")),
            ("text", Some("xy")),
        ],
        Ok(Some("hel")),
    ),
    (
        "lpad",
        &[
            ("text", Some("hi")),
            ("int4", Some("5")),
            ("text", Some("")),
        ],
        Ok(Some("hi")),
    ),
    (
        "lpad",
        &[
            ("text", Some("hi")),
            ("int4", Some("-1")),
            ("text", Some("x")),
        ],
        Ok(Some("")),
    ),
    (
        "rpad",
        &[
            ("text", Some("hi")),
            ("int4", Some("5")),
            ("text", Some("xy")),
        ],
        Ok(Some("hixyx")),
    ),
    (
        "rpad",
        &[("text", Some("hello")), ("int4", Some("3"))],
        Ok(Some("hel")),
    ),
    (
        "rpad",
        &[
            ("text", Some("hé")),
            ("int4", Some("4")),
            ("text", Some("é")),
        ],
        Ok(Some("hééé")),
    ),
    (
        "md5",
        &[("text", Some("abc"))],
        Ok(Some("900150983cd24fb0d6963f7d28e17f72")),
    ),
    (
        "md5",
        &[("text", Some(""))],
        Ok(Some("d41d8cd98f00b204e9800998ecf8427e")),
    ),
    (
        "md5",
        &[("bytea", Some("\\x00ff"))],
        Ok(Some("d07d34efac6328007ad67c7e0a985e00")),
    ),
    ("floor", &[("numeric", Some("-0.5"))], Ok(Some("-1"))),
    ("floor", &[("numeric", Some("1.50"))], Ok(Some("1"))),
    ("floor", &[("float8", Some("-0.5"))], Ok(Some("-1"))),
    ("ceil", &[("numeric", Some("-0.5"))], Ok(Some("0"))),
    ("ceil", &[("float8", Some("-0.5"))], Ok(Some("-0"))),
    ("ceil", &[("numeric", Some("1.01"))], Ok(Some("2"))),
    ("round", &[("numeric", Some("2.5"))], Ok(Some("3"))),
    ("round", &[("numeric", Some("-2.5"))], Ok(Some("-3"))),
    ("round", &[("numeric", Some("1.49"))], Ok(Some("1"))),
    ("round", &[("float8", Some("2.5"))], Ok(Some("2"))),
    ("round", &[("float8", Some("3.5"))], Ok(Some("4"))),
    ("round", &[("float8", Some("-0.4"))], Ok(Some("-0"))),
    ("round", &[("float4", Some("2.5"))], Ok(Some("2"))),
    (
        "round_to",
        &[("numeric", Some("1.5")), ("int4", Some("3"))],
        Ok(Some("1.500")),
    ),
    (
        "round_to",
        &[("numeric", Some("1234.5")), ("int4", Some("-2"))],
        Ok(Some("1200")),
    ),
    (
        "round_to",
        &[("numeric", Some("1250")), ("int4", Some("-2"))],
        Ok(Some("1300")),
    ),
    (
        "round_to",
        &[("numeric", Some("-1250.0")), ("int4", Some("-2"))],
        Ok(Some("-1300")),
    ),
    (
        "round_to",
        &[("numeric", Some("1.2345")), ("int4", Some("2"))],
        Ok(Some("1.23")),
    ),
    (
        "round_to",
        &[("numeric", Some("1.235")), ("int4", Some("2"))],
        Ok(Some("1.24")),
    ),
    (
        "round_to",
        &[("numeric", Some("-1.235")), ("int4", Some("2"))],
        Ok(Some("-1.24")),
    ),
    (
        "round_to",
        &[("numeric", Some("5")), ("int4", Some("-1"))],
        Ok(Some("10")),
    ),
    (
        "round_to",
        &[("numeric", Some("4")), ("int4", Some("-1"))],
        Ok(Some("0")),
    ),
    (
        "round_to",
        &[("numeric", Some("0.5")), ("int4", Some("0"))],
        Ok(Some("1")),
    ),
    (
        "round_to",
        &[("numeric", Some("123.456")), ("int4", Some("-5"))],
        Ok(Some("0")),
    ),
    (
        "sqrt",
        &[("float8", Some("2"))],
        Ok(Some("1.4142135623730951")),
    ),
    (
        "sqrt",
        &[("float8", Some("-1"))],
        Err((
            "2201F",
            "cannot take square root of a negative number",
            None,
        )),
    ),
    (
        "sqrt",
        &[("numeric", Some("2"))],
        Ok(Some("1.414213562373095")),
    ),
    (
        "sqrt",
        &[("numeric", Some("16"))],
        Ok(Some("4.000000000000000")),
    ),
    (
        "sqrt",
        &[("numeric", Some("0.0001"))],
        Ok(Some("0.01000000000000000")),
    ),
    (
        "sqrt",
        &[("numeric", Some("1234567"))],
        Ok(Some("1111.1107055554815")),
    ),
    (
        "sqrt",
        &[("numeric", Some("2.000000000000000000"))],
        Ok(Some("1.414213562373095049")),
    ),
    (
        "sqrt",
        &[("numeric", Some("-1"))],
        Err((
            "2201F",
            "cannot take square root of a negative number",
            None,
        )),
    ),
    (
        "sqrt",
        &[("numeric", Some("0"))],
        Ok(Some("0.000000000000000")),
    ),
    (
        "sqrt",
        &[("numeric", Some("0.00"))],
        Ok(Some("0.000000000000000")),
    ),
    (
        "power",
        &[("float8", Some("2")), ("float8", Some("0.5"))],
        Ok(Some("1.4142135623730951")),
    ),
    (
        "power",
        &[("float8", Some("0")), ("float8", Some("-1"))],
        Err((
            "2201F",
            "zero raised to a negative power is undefined",
            None,
        )),
    ),
    (
        "power",
        &[("float8", Some("-2")), ("float8", Some("0.5"))],
        Err((
            "2201F",
            "a negative number raised to a non-integer power yields a complex result",
            None,
        )),
    ),
    (
        "power",
        &[("float8", Some("-2")), ("float8", Some("3"))],
        Ok(Some("-8")),
    ),
    (
        "power",
        &[("float8", Some("2")), ("float8", Some("1024"))],
        Err(("22003", "value out of range: overflow", None)),
    ),
    (
        "power",
        &[("float8", Some("2")), ("float8", Some("-1080"))],
        Err(("22003", "value out of range: underflow", None)),
    ),
    (
        "power",
        &[("float8", Some("NaN")), ("float8", Some("0"))],
        Ok(Some("1")),
    ),
    (
        "power",
        &[("float8", Some("1")), ("float8", Some("NaN"))],
        Ok(Some("1")),
    ),
    (
        "power",
        &[("float8", Some("-1")), ("float8", Some("Infinity"))],
        Ok(Some("1")),
    ),
    (
        "power",
        &[("float8", Some("0")), ("float8", Some("0"))],
        Ok(Some("1")),
    ),
    (
        "power",
        &[("numeric", Some("2")), ("numeric", Some("10"))],
        Ok(Some("1024.0000000000000000")),
    ),
    (
        "power",
        &[("numeric", Some("2")), ("numeric", Some("0.5"))],
        Ok(Some("1.4142135623730950")),
    ),
    (
        "power",
        &[("numeric", Some("2.5")), ("numeric", Some("2"))],
        Ok(Some("6.2500000000000000")),
    ),
    (
        "power",
        &[("numeric", Some("10")), ("numeric", Some("-2"))],
        Ok(Some("0.0100000000000000")),
    ),
    (
        "power",
        &[("numeric", Some("1.5")), ("numeric", Some("1.5"))],
        Ok(Some("1.8371173070873836")),
    ),
    (
        "power",
        &[("numeric", Some("100")), ("numeric", Some("0.5"))],
        Ok(Some("10.000000000000000")),
    ),
    (
        "power",
        &[("numeric", Some("7.3")), ("numeric", Some("2.7"))],
        Ok(Some("214.27510783001813")),
    ),
    (
        "power",
        &[("numeric", Some("0.9")), ("numeric", Some("13.37"))],
        Ok(Some("0.2444681866839341")),
    ),
    (
        "power",
        &[("numeric", Some("0")), ("numeric", Some("0.5"))],
        Ok(Some("0.0000000000000000")),
    ),
    (
        "power",
        &[("numeric", Some("0")), ("numeric", Some("0"))],
        Ok(Some("1.0000000000000000")),
    ),
    (
        "power",
        &[("numeric", Some("-2")), ("numeric", Some("3"))],
        Ok(Some("-8.0000000000000000")),
    ),
    (
        "power",
        &[("numeric", Some("-2")), ("numeric", Some("0.5"))],
        Err((
            "2201F",
            "a negative number raised to a non-integer power yields a complex result",
            None,
        )),
    ),
    (
        "power",
        &[("numeric", Some("0")), ("numeric", Some("-1"))],
        Err((
            "2201F",
            "zero raised to a negative power is undefined",
            None,
        )),
    ),
    (
        "power",
        &[("numeric", Some("1.1")), ("numeric", Some("10"))],
        Ok(Some("2.5937424601000000")),
    ),
    (
        "power",
        &[("numeric", Some("2")), ("numeric", Some("-3"))],
        Ok(Some("0.1250000000000000")),
    ),
    (
        "power",
        &[("numeric", Some("2")), ("numeric", Some("1.5"))],
        Ok(Some("2.8284271247461901")),
    ),
    (
        "power",
        &[
            ("numeric", Some("2.0000000000000000001")),
            ("numeric", Some("2")),
        ],
        Ok(Some("4.0000000000000000004")),
    ),
    (
        "add",
        &[
            ("timestamp", Some("2024-01-31 10:00")),
            ("interval", Some("1 mon")),
        ],
        Ok(Some("2024-02-29 10:00:00")),
    ),
    (
        "sub",
        &[
            ("timestamp", Some("2024-03-31")),
            ("interval", Some("1 mon")),
        ],
        Ok(Some("2024-02-29 00:00:00")),
    ),
    (
        "add",
        &[
            ("timestamp", Some("2024-01-31")),
            ("interval", Some("1 mon 1 day 01:00")),
        ],
        Ok(Some("2024-03-01 01:00:00")),
    ),
    (
        "add",
        &[
            ("timestamp", Some("2023-01-31")),
            ("interval", Some("13 mons")),
        ],
        Ok(Some("2024-02-29 00:00:00")),
    ),
    (
        "add",
        &[
            ("timestamp", Some("2024-02-29")),
            ("interval", Some("-12 mons")),
        ],
        Ok(Some("2023-02-28 00:00:00")),
    ),
    (
        "add",
        &[
            ("interval", Some("1 day")),
            ("timestamp", Some("2024-01-31")),
        ],
        Ok(Some("2024-02-01 00:00:00")),
    ),
    (
        "sub",
        &[
            ("timestamp", Some("2024-01-02")),
            ("timestamp", Some("2024-01-01 12:00")),
        ],
        Ok(Some("12:00:00")),
    ),
    (
        "sub",
        &[
            ("timestamp", Some("2024-01-01")),
            ("timestamp", Some("2024-01-02 12:00")),
        ],
        Ok(Some("-1 days -12:00:00")),
    ),
    (
        "sub",
        &[
            ("timestamp", Some("2024-03-01")),
            ("timestamp", Some("2023-01-01 00:00:01")),
        ],
        Ok(Some("424 days 23:59:59")),
    ),
    (
        "sub",
        &[
            ("timestamptz", Some("2024-03-01 00:00+00")),
            ("timestamptz", Some("2024-02-28 12:00+00")),
        ],
        Ok(Some("1 day 12:00:00")),
    ),
    (
        "add",
        &[
            ("timestamptz", Some("2024-01-31 10:00+00")),
            ("interval", Some("1 mon")),
        ],
        Ok(Some("2024-02-29 10:00:00+00")),
    ),
    (
        "add",
        &[("date", Some("2024-01-31")), ("int4", Some("1"))],
        Ok(Some("2024-02-01")),
    ),
    (
        "sub",
        &[("date", Some("2024-01-31")), ("int4", Some("1"))],
        Ok(Some("2024-01-30")),
    ),
    (
        "add",
        &[("int4", Some("1")), ("date", Some("2024-01-31"))],
        Ok(Some("2024-02-01")),
    ),
    (
        "sub",
        &[("date", Some("2024-03-01")), ("date", Some("2024-01-01"))],
        Ok(Some("60")),
    ),
    (
        "sub",
        &[("date", Some("2024-01-01")), ("date", Some("2024-03-01"))],
        Ok(Some("-60")),
    ),
    (
        "add",
        &[("date", Some("2024-01-31")), ("interval", Some("1 mon"))],
        Ok(Some("2024-02-29 00:00:00")),
    ),
    (
        "sub",
        &[("date", Some("2024-01-31")), ("interval", Some("1 hour"))],
        Ok(Some("2024-01-30 23:00:00")),
    ),
    (
        "add",
        &[("interval", Some("1 day")), ("date", Some("2024-01-31"))],
        Ok(Some("2024-02-01 00:00:00")),
    ),
    (
        "add",
        &[("date", Some("2024-01-01")), ("int4", Some("2147483647"))],
        Err(("22008", "date out of range", None)),
    ),
    (
        "add",
        &[
            ("interval", Some("1 day 2 hours")),
            ("interval", Some("3 mons -3 hours")),
        ],
        Ok(Some("3 mons 1 day -01:00:00")),
    ),
    (
        "sub",
        &[("interval", Some("1 day")), ("interval", Some("1 mon"))],
        Ok(Some("-1 mons +1 day")),
    ),
    (
        "add",
        &[
            ("interval", Some("2147483647 days")),
            ("interval", Some("1 day")),
        ],
        Err(("22008", "interval out of range", None)),
    ),
    (
        "mul",
        &[
            ("interval", Some("1 mon 1 day 01:00")),
            ("float8", Some("1.5")),
        ],
        Ok(Some("1 mon 16 days 13:30:00")),
    ),
    (
        "mul",
        &[("interval", Some("1 mon")), ("float8", Some("0.3"))],
        Ok(Some("9 days")),
    ),
    (
        "mul",
        &[("float8", Some("1.5")), ("interval", Some("1 mon"))],
        Ok(Some("1 mon 15 days")),
    ),
    (
        "mul",
        &[("interval", Some("1 hour")), ("float8", Some("-1"))],
        Ok(Some("-01:00:00")),
    ),
    (
        "mul",
        &[("interval", Some("1 mon")), ("float8", Some("NaN"))],
        Err(("22008", "interval out of range", None)),
    ),
    (
        "mul",
        &[("interval", Some("1 day")), ("float8", Some("0.333"))],
        Ok(Some("07:59:31.2")),
    ),
    (
        "div",
        &[("interval", Some("1 day")), ("float8", Some("3"))],
        Ok(Some("08:00:00")),
    ),
    (
        "div",
        &[("interval", Some("1 mon")), ("float8", Some("7"))],
        Ok(Some("4 days 06:51:25.6896")),
    ),
    (
        "div",
        &[("interval", Some("1 mon")), ("float8", Some("0"))],
        Err(("22012", "division by zero", None)),
    ),
    (
        "div",
        &[("interval", Some("1 year 1 day")), ("float8", Some("-2.5"))],
        Ok(Some("-4 mons -24 days -09:36:00")),
    ),
    (
        "neg",
        &[("interval", Some("1 mon -2 days 03:00"))],
        Ok(Some("-1 mons +2 days -03:00:00")),
    ),
    (
        "add",
        &[("time", Some("10:00")), ("interval", Some("15 hours"))],
        Ok(Some("01:00:00")),
    ),
    (
        "sub",
        &[("time", Some("10:00")), ("interval", Some("11 hours"))],
        Ok(Some("23:00:00")),
    ),
    (
        "sub",
        &[("time", Some("10:00")), ("time", Some("12:30"))],
        Ok(Some("-02:30:00")),
    ),
    (
        "add",
        &[
            ("timestamp", Some("4714-11-24 00:00 BC")),
            ("interval", Some("-1 day")),
        ],
        Err(("22008", "timestamp out of range", None)),
    ),
    (
        "extract:year",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("2024")),
    ),
    (
        "extract:month",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("1")),
    ),
    (
        "extract:day",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("2")),
    ),
    (
        "extract:hour",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("3")),
    ),
    (
        "extract:minute",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("4")),
    ),
    (
        "extract:second",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("5.123456")),
    ),
    (
        "extract:second",
        &[("timestamp", Some("2024-01-02 03:04:05"))],
        Ok(Some("5.000000")),
    ),
    (
        "extract:milliseconds",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("5123.456")),
    ),
    (
        "extract:microseconds",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("5123456")),
    ),
    (
        "extract:dow",
        &[("timestamp", Some("2024-01-07 03:04:05"))],
        Ok(Some("0")),
    ),
    (
        "extract:isodow",
        &[("timestamp", Some("2024-01-07 03:04:05"))],
        Ok(Some("7")),
    ),
    (
        "extract:doy",
        &[("timestamp", Some("2024-12-31 03:04:05"))],
        Ok(Some("366")),
    ),
    (
        "extract:week",
        &[("timestamp", Some("2021-01-03"))],
        Ok(Some("53")),
    ),
    (
        "extract:isoyear",
        &[("timestamp", Some("2021-01-03"))],
        Ok(Some("2020")),
    ),
    (
        "extract:quarter",
        &[("timestamp", Some("2024-05-02"))],
        Ok(Some("2")),
    ),
    (
        "extract:epoch",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("1704164645.123456")),
    ),
    (
        "extract:epoch",
        &[("timestamp", Some("1969-12-31 23:59:59.5"))],
        Ok(Some("-0.500000")),
    ),
    (
        "extract:decade",
        &[("timestamp", Some("2024-01-02"))],
        Ok(Some("202")),
    ),
    (
        "extract:century",
        &[("timestamp", Some("2000-01-02"))],
        Ok(Some("20")),
    ),
    (
        "extract:century",
        &[("timestamp", Some("2001-01-02"))],
        Ok(Some("21")),
    ),
    (
        "extract:millennium",
        &[("timestamp", Some("2001-01-02"))],
        Ok(Some("3")),
    ),
    (
        "extract:decade",
        &[("timestamp", Some("0015-05-05 BC"))],
        Ok(Some("-2")),
    ),
    (
        "extract:century",
        &[("timestamp", Some("0015-05-05 BC"))],
        Ok(Some("-1")),
    ),
    (
        "extract:year",
        &[("timestamp", Some("0001-05-05 BC"))],
        Ok(Some("-1")),
    ),
    (
        "extract:millennium",
        &[("timestamp", Some("1000-05-05 BC"))],
        Ok(Some("-1")),
    ),
    (
        "extract:julian",
        &[("date", Some("2024-01-02"))],
        Ok(Some("2460312")),
    ),
    (
        "extract:timezone",
        &[("timestamp", Some("2024-01-02"))],
        Err((
            "0A000",
            "unit \"timezone\" not supported for type timestamp without time zone",
            None,
        )),
    ),
    (
        "extract:timezone",
        &[("timestamptz", Some("2024-01-02 00:00+00"))],
        Ok(Some("0")),
    ),
    (
        "extract:epoch",
        &[("timestamptz", Some("2024-01-02 03:04:05.5+00"))],
        Ok(Some("1704164645.500000")),
    ),
    (
        "extract:hour",
        &[("timestamptz", Some("2024-01-02 03:04:05.5+05"))],
        Ok(Some("22")),
    ),
    (
        "extract:year",
        &[("date", Some("2024-01-02"))],
        Ok(Some("2024")),
    ),
    (
        "extract:epoch",
        &[("date", Some("2024-01-02"))],
        Ok(Some("1704153600")),
    ),
    (
        "extract:epoch",
        &[("date", Some("1969-12-31"))],
        Ok(Some("-86400")),
    ),
    (
        "extract:hour",
        &[("date", Some("2024-01-02"))],
        Err(("0A000", "unit \"hour\" not supported for type date", None)),
    ),
    (
        "extract:dow",
        &[("date", Some("2024-01-02"))],
        Ok(Some("2")),
    ),
    (
        "extract:week",
        &[("date", Some("2024-12-30"))],
        Ok(Some("1")),
    ),
    (
        "extract:year",
        &[("interval", Some("1 year 14 mons 40 days 30:04:05.123456"))],
        Ok(Some("2")),
    ),
    (
        "extract:month",
        &[("interval", Some("1 year 14 mons 40 days 30:04:05.123456"))],
        Ok(Some("2")),
    ),
    (
        "extract:day",
        &[("interval", Some("1 year 14 mons 40 days 30:04:05.123456"))],
        Ok(Some("40")),
    ),
    (
        "extract:hour",
        &[("interval", Some("1 year 14 mons 40 days 30:04:05.123456"))],
        Ok(Some("30")),
    ),
    (
        "extract:minute",
        &[("interval", Some("1 year 14 mons 40 days 30:04:05.123456"))],
        Ok(Some("4")),
    ),
    (
        "extract:second",
        &[("interval", Some("1 year 14 mons 40 days 30:04:05.123456"))],
        Ok(Some("5.123456")),
    ),
    (
        "extract:milliseconds",
        &[("interval", Some("1 year 14 mons 40 days 30:04:05.123456"))],
        Ok(Some("5123.456")),
    ),
    (
        "extract:microseconds",
        &[("interval", Some("1 year 14 mons 40 days 30:04:05.123456"))],
        Ok(Some("5123456")),
    ),
    (
        "extract:epoch",
        &[("interval", Some("1 year 14 mons 40 days 30:04:05.123456"))],
        Ok(Some("71863445.123456")),
    ),
    (
        "extract:epoch",
        &[("interval", Some("-1 year -1 second"))],
        Ok(Some("-31557601.000000")),
    ),
    (
        "extract:quarter",
        &[("interval", Some("-4 mons"))],
        Ok(Some("0")),
    ),
    (
        "extract:quarter",
        &[("interval", Some("5 mons"))],
        Ok(Some("2")),
    ),
    (
        "extract:decade",
        &[("interval", Some("-25 years"))],
        Ok(Some("-2")),
    ),
    (
        "extract:week",
        &[("interval", Some("1 day"))],
        Err((
            "0A000",
            "unit \"week\" not supported for type interval",
            None,
        )),
    ),
    (
        "extract:hour",
        &[("interval", Some("-01:30:00"))],
        Ok(Some("-1")),
    ),
    (
        "extract:hour",
        &[("time", Some("03:04:05.25"))],
        Ok(Some("3")),
    ),
    (
        "extract:second",
        &[("time", Some("03:04:05.25"))],
        Ok(Some("5.250000")),
    ),
    (
        "extract:milliseconds",
        &[("time", Some("03:04:05.25"))],
        Ok(Some("5250.000")),
    ),
    (
        "extract:microseconds",
        &[("time", Some("03:04:05.25"))],
        Ok(Some("5250000")),
    ),
    (
        "extract:epoch",
        &[("time", Some("03:04:05.25"))],
        Ok(Some("11045.250000")),
    ),
    (
        "extract:day",
        &[("time", Some("03:04:05.25"))],
        Err((
            "0A000",
            "unit \"day\" not supported for type time without time zone",
            None,
        )),
    ),
    (
        "date_part:second",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("5.123456")),
    ),
    (
        "date_part:epoch",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("1704164645.123456")),
    ),
    (
        "date_part:year",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("2024")),
    ),
    (
        "date_part:julian",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("2460312.1278370772")),
    ),
    (
        "date_part:hour",
        &[("date", Some("2024-01-02"))],
        Ok(Some("0")),
    ),
    (
        "date_part:epoch",
        &[("date", Some("2024-01-02"))],
        Ok(Some("1704153600")),
    ),
    (
        "date_part:epoch",
        &[("interval", Some("1 year"))],
        Ok(Some("31557600")),
    ),
    (
        "date_part:epoch",
        &[("interval", Some("1 mon 1 day 00:00:01.5"))],
        Ok(Some("2678401.5")),
    ),
    (
        "date_part:milliseconds",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("5123.456")),
    ),
    (
        "date_part:microseconds",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("5123456")),
    ),
    (
        "date_part:second",
        &[("time", Some("03:04:05.25"))],
        Ok(Some("5.25")),
    ),
    (
        "date_part:dow",
        &[("timestamptz", Some("2024-01-02 00:00+00"))],
        Ok(Some("2")),
    ),
    (
        "date_trunc:microseconds",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Ok(Some("2024-05-17 13:14:15.123456")),
    ),
    (
        "date_trunc:milliseconds",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Ok(Some("2024-05-17 13:14:15.123")),
    ),
    (
        "date_trunc:second",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Ok(Some("2024-05-17 13:14:15")),
    ),
    (
        "date_trunc:minute",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Ok(Some("2024-05-17 13:14:00")),
    ),
    (
        "date_trunc:hour",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Ok(Some("2024-05-17 13:00:00")),
    ),
    (
        "date_trunc:day",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Ok(Some("2024-05-17 00:00:00")),
    ),
    (
        "date_trunc:week",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Ok(Some("2024-05-13 00:00:00")),
    ),
    (
        "date_trunc:week",
        &[("timestamp", Some("2023-01-01 10:00"))],
        Ok(Some("2022-12-26 00:00:00")),
    ),
    (
        "date_trunc:month",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Ok(Some("2024-05-01 00:00:00")),
    ),
    (
        "date_trunc:quarter",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Ok(Some("2024-04-01 00:00:00")),
    ),
    (
        "date_trunc:year",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Ok(Some("2024-01-01 00:00:00")),
    ),
    (
        "date_trunc:decade",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Ok(Some("2020-01-01 00:00:00")),
    ),
    (
        "date_trunc:century",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Ok(Some("2001-01-01 00:00:00")),
    ),
    (
        "date_trunc:century",
        &[("timestamp", Some("2000-05-05"))],
        Ok(Some("1901-01-01 00:00:00")),
    ),
    (
        "date_trunc:millennium",
        &[("timestamp", Some("2000-05-05"))],
        Ok(Some("1001-01-01 00:00:00")),
    ),
    (
        "date_trunc:millennium",
        &[("timestamp", Some("2024-05-05"))],
        Ok(Some("2001-01-01 00:00:00")),
    ),
    (
        "date_trunc:decade",
        &[("timestamp", Some("0005-05-05 BC"))],
        Ok(Some("0011-01-01 00:00:00 BC")),
    ),
    (
        "date_trunc:century",
        &[("timestamp", Some("0005-05-05 BC"))],
        Ok(Some("0100-01-01 00:00:00 BC")),
    ),
    (
        "date_trunc:millennium",
        &[("timestamp", Some("0005-05-05 BC"))],
        Ok(Some("1000-01-01 00:00:00 BC")),
    ),
    (
        "date_trunc:decade",
        &[("timestamp", Some("0015-05-05 BC"))],
        Ok(Some("0021-01-01 00:00:00 BC")),
    ),
    (
        "date_trunc:Day",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Ok(Some("2024-05-17 00:00:00")),
    ),
    (
        "date_trunc:dow",
        &[("timestamp", Some("2024-05-17 13:14:15.123456"))],
        Err((
            "22023",
            "unit \"dow\" not recognized for type timestamp without time zone",
            None,
        )),
    ),
    (
        "date_trunc:hour",
        &[("timestamptz", Some("2024-05-17 13:14:15.123456+00"))],
        Ok(Some("2024-05-17 13:00:00+00")),
    ),
    (
        "date_trunc:hour",
        &[("interval", Some("1 year 2 mons 3 days 04:05:06.789"))],
        Ok(Some("1 year 2 mons 3 days 04:00:00")),
    ),
    (
        "date_trunc:month",
        &[("interval", Some("1 year 2 mons 3 days 04:05:06.789"))],
        Ok(Some("1 year 2 mons")),
    ),
    (
        "date_trunc:quarter",
        &[("interval", Some("1 year 5 mons 3 days"))],
        Ok(Some("1 year 3 mons")),
    ),
    (
        "date_trunc:decade",
        &[("interval", Some("15 years 5 mons"))],
        Ok(Some("10 years")),
    ),
    (
        "date_trunc:milliseconds",
        &[("interval", Some("-04:05:06.789123"))],
        Ok(Some("-04:05:06.789")),
    ),
    (
        "date_trunc:week",
        &[("interval", Some("1 day"))],
        Err((
            "0A000",
            "unit \"week\" not supported for type interval",
            Some("Months usually have fractional weeks."),
        )),
    ),
    (
        "date_trunc:millennium",
        &[("interval", Some("2500 years"))],
        Ok(Some("2000 years")),
    ),
    (
        "greatest",
        &[
            ("int4", Some("1")),
            ("int4", None),
            ("int4", Some("3")),
            ("int4", Some("2")),
        ],
        Ok(Some("3")),
    ),
    (
        "least",
        &[
            ("int4", Some("1")),
            ("int4", None),
            ("int4", Some("3")),
            ("int4", Some("-2")),
        ],
        Ok(Some("-2")),
    ),
    ("greatest", &[("int4", None), ("int4", None)], Ok(None)),
    (
        "greatest",
        &[("numeric", Some("1.50")), ("numeric", Some("1.5"))],
        Ok(Some("1.50")),
    ),
    (
        "greatest",
        &[("float8", Some("1")), ("float8", Some("NaN"))],
        Ok(Some("NaN")),
    ),
    (
        "least",
        &[
            ("text", Some("b")),
            ("text", Some("a")),
            ("text", Some("c")),
        ],
        Ok(Some("a")),
    ),
    (
        "coalesce",
        &[("int4", None), ("int4", Some("2")), ("int4", Some("3"))],
        Ok(Some("2")),
    ),
    ("coalesce", &[("int4", None), ("int4", None)], Ok(None)),
    ("and", &[("bool", Some("t")), ("bool", None)], Ok(None)),
    ("and", &[("bool", Some("f")), ("bool", None)], Ok(Some("f"))),
    (
        "and",
        &[("bool", Some("t")), ("bool", Some("t"))],
        Ok(Some("t")),
    ),
    ("or", &[("bool", Some("f")), ("bool", None)], Ok(None)),
    ("or", &[("bool", Some("t")), ("bool", None)], Ok(Some("t"))),
    (
        "or",
        &[("bool", Some("f")), ("bool", Some("f"))],
        Ok(Some("f")),
    ),
    ("not", &[("bool", Some("t"))], Ok(Some("f"))),
    ("not", &[("bool", None)], Ok(None)),
    ("is_null", &[("int4", None)], Ok(Some("t"))),
    ("is_null", &[("int4", Some("1"))], Ok(Some("f"))),
    ("is_true", &[("bool", None)], Ok(Some("f"))),
    ("is_true", &[("bool", Some("t"))], Ok(Some("t"))),
    ("is_false", &[("bool", None)], Ok(Some("f"))),
    ("is_false", &[("bool", Some("f"))], Ok(Some("t"))),
    (
        "jsonb_get",
        &[
            ("jsonb", Some("{\"a\": {\"b\": [1, 2]}}")),
            ("text", Some("a")),
        ],
        Ok(Some("{\"b\": [1, 2]}")),
    ),
    (
        "jsonb_get",
        &[("jsonb", Some("{\"a\": 1}")), ("text", Some("z"))],
        Ok(None),
    ),
    (
        "jsonb_get",
        &[("jsonb", Some("[1, \"x\", null]")), ("int4", Some("1"))],
        Ok(Some("\"x\"")),
    ),
    (
        "jsonb_get",
        &[("jsonb", Some("[1, \"x\", null]")), ("int4", Some("-1"))],
        Ok(Some("null")),
    ),
    (
        "jsonb_get",
        &[("jsonb", Some("[1, \"x\", null]")), ("int4", Some("-4"))],
        Ok(None),
    ),
    (
        "jsonb_get",
        &[("jsonb", Some("[1, \"x\", null]")), ("int4", Some("3"))],
        Ok(None),
    ),
    (
        "jsonb_get",
        &[("jsonb", Some("[1, \"x\", null]")), ("text", Some("a"))],
        Ok(None),
    ),
    (
        "jsonb_get",
        &[("jsonb", Some("{\"a\": 1}")), ("int4", Some("0"))],
        Ok(None),
    ),
    (
        "jsonb_get",
        &[("jsonb", Some("\"s\"")), ("text", Some("a"))],
        Ok(None),
    ),
    (
        "jsonb_get_text",
        &[("jsonb", Some("{\"a\": \"x\\\"y\"}")), ("text", Some("a"))],
        Ok(Some("x\"y")),
    ),
    (
        "jsonb_get_text",
        &[("jsonb", Some("{\"a\": null}")), ("text", Some("a"))],
        Ok(None),
    ),
    (
        "jsonb_get_text",
        &[
            ("jsonb", Some("{\"a\": [1, {\"b\": 2.50}]}")),
            ("text", Some("a")),
        ],
        Ok(Some("[1, {\"b\": 2.50}]")),
    ),
    (
        "jsonb_get_text",
        &[("jsonb", Some("[1, \"x\", null]")), ("int4", Some("0"))],
        Ok(Some("1")),
    ),
    (
        "jsonb_get_text",
        &[("jsonb", Some("[true]")), ("int4", Some("0"))],
        Ok(Some("true")),
    ),
    (
        "jsonb_typeof",
        &[("jsonb", Some("{\"a\": 1}"))],
        Ok(Some("object")),
    ),
    ("jsonb_typeof", &[("jsonb", Some("[1]"))], Ok(Some("array"))),
    (
        "jsonb_typeof",
        &[("jsonb", Some("\"s\""))],
        Ok(Some("string")),
    ),
    (
        "jsonb_typeof",
        &[("jsonb", Some("1.5"))],
        Ok(Some("number")),
    ),
    (
        "jsonb_typeof",
        &[("jsonb", Some("true"))],
        Ok(Some("boolean")),
    ),
    ("jsonb_typeof", &[("jsonb", Some("null"))], Ok(Some("null"))),
    (
        "cast_assign:varchar(3)",
        &[("text", Some("abcdef"))],
        Err((
            "22001",
            "value too long for type character varying(3)",
            None,
        )),
    ),
    (
        "cast_assign:varchar(3)",
        &[("text", Some("abc   "))],
        Ok(Some("abc")),
    ),
    (
        "cast_assign:varchar(3)",
        &[("text", Some("ab"))],
        Ok(Some("ab")),
    ),
    (
        "cast_assign:char(2)",
        &[("text", Some("abcd"))],
        Err(("22001", "value too long for type character(2)", None)),
    ),
    (
        "cast_assign:char(2)",
        &[("text", Some("ab   "))],
        Ok(Some("ab")),
    ),
    (
        "cast_assign:char(4)",
        &[("text", Some("ab"))],
        Ok(Some("ab  ")),
    ),
    (
        "cast_assign:numeric(5,2)",
        &[("numeric", Some("1234.5"))],
        Err((
            "22003",
            "numeric field overflow",
            Some(
                "A field with precision 5, scale 2 must round to an absolute value less than 10^3.",
            ),
        )),
    ),
    (
        "cast_assign:numeric(5,2)",
        &[("numeric", Some("1.005"))],
        Ok(Some("1.01")),
    ),
    (
        "cast_assign:int2",
        &[("int4", Some("40000"))],
        Err(("22003", "smallint out of range", None)),
    ),
    (
        "cast_assign:int4",
        &[("numeric", Some("2.5"))],
        Ok(Some("3")),
    ),
    (
        "add",
        &[("numeric", Some("0.5")), ("numeric", Some("-0.5"))],
        Ok(Some("0.0")),
    ),
    (
        "regex",
        &[("text", Some("abc")), ("text", Some("[a"))],
        Err((
            "2201B",
            "invalid regular expression: brackets [] not balanced",
            None,
        )),
    ),
    (
        "regex",
        &[("text", Some("abc")), ("text", Some("a)"))],
        Err((
            "2201B",
            "invalid regular expression: parentheses () not balanced",
            None,
        )),
    ),
    (
        "regex",
        &[("text", Some("abc")), ("text", Some("a{2,1}"))],
        Err((
            "2201B",
            "invalid regular expression: invalid repetition count(s)",
            None,
        )),
    ),
    (
        "regex",
        &[("text", Some("abc")), ("text", Some("*"))],
        Err((
            "2201B",
            "invalid regular expression: quantifier operand invalid",
            None,
        )),
    ),
    (
        "date_trunc:julian",
        &[("timestamp", Some("2024-05-17"))],
        Err((
            "22023",
            "unit \"julian\" not recognized for type timestamp without time zone",
            None,
        )),
    ),
    (
        "date_trunc:epoch",
        &[("interval", Some("1 day"))],
        Err((
            "22023",
            "unit \"epoch\" not recognized for type interval",
            None,
        )),
    ),
    (
        "date_trunc:timezone",
        &[("timestamp", Some("2024-05-17"))],
        Err((
            "0A000",
            "unit \"timezone\" not supported for type timestamp without time zone",
            None,
        )),
    ),
    (
        "date_trunc:quarter",
        &[("interval", Some("1 day"))],
        Ok(Some("00:00:00")),
    ),
    (
        "extract:julian",
        &[("timestamp", Some("2024-01-02 03:04:05.123456"))],
        Ok(Some("2460312.12783707703703703704")),
    ),
    (
        "power",
        &[("int4", Some("2")), ("int4", Some("10"))],
        Ok(Some("1024")),
    ),
    (
        "power",
        &[("int4", Some("2")), ("int4", Some("-2"))],
        Ok(Some("0.25")),
    ),
];

/// A Postgres type name as written in the cases (`int4`, `varchar(3)`, `numeric(5,2)`).
fn scalar_type(name: &str) -> ScalarType {
    let (base, mods) = match name.split_once('(') {
        Some((b, rest)) => (b, Some(rest.trim_end_matches(')'))),
        None => (name, None),
    };
    let nums: Vec<u32> = mods
        .map(|m| {
            m.split(',')
                .map(|n| n.trim().parse().expect("modifier"))
                .collect()
        })
        .unwrap_or_default();
    match base {
        "bool" => ScalarType::Bool,
        "int2" => ScalarType::Int16,
        "int4" => ScalarType::Int32,
        "int8" => ScalarType::Int64,
        "float4" => ScalarType::Float32,
        "float8" => ScalarType::Float64,
        "numeric" => ScalarType::Numeric {
            precision: nums.first().map(|p| *p as u8),
            scale: nums.get(1).map(|s| *s as u8),
        },
        "text" => ScalarType::Text,
        "varchar" => ScalarType::Varchar {
            max_length: nums.first().copied(),
        },
        "char" => ScalarType::Char {
            length: nums.first().copied(),
        },
        "date" => ScalarType::Date,
        "time" => ScalarType::Time,
        "timestamp" => ScalarType::Timestamp,
        "timestamptz" => ScalarType::TimestampTz,
        "interval" => ScalarType::Interval,
        "jsonb" => ScalarType::Jsonb,
        "bytea" => ScalarType::Bytea,
        "uuid" => ScalarType::Uuid,
        "oid" => ScalarType::Oid,
        other => panic!("unknown type {other}"),
    }
}

fn literal(typ: &str, text: Option<&str>) -> MirScalarExpr {
    let typ = scalar_type(typ);
    let datum = match text {
        Some(t) => parse_datum(t, &typ).unwrap_or_else(|e| panic!("literal {t:?}: {e}")),
        None => Datum::Null,
    };
    MirScalarExpr::literal(datum, typ.nullable(true))
}

fn binary(name: &str) -> Option<BinaryFunc> {
    Some(match name {
        "add" => BinaryFunc::Add,
        "sub" => BinaryFunc::Sub,
        "mul" => BinaryFunc::Mul,
        "div" => BinaryFunc::Div,
        "mod" => BinaryFunc::Mod,
        "eq" => BinaryFunc::Eq,
        "noteq" => BinaryFunc::NotEq,
        "lt" => BinaryFunc::Lt,
        "lte" => BinaryFunc::Lte,
        "gt" => BinaryFunc::Gt,
        "gte" => BinaryFunc::Gte,
        "concat_op" => BinaryFunc::Concat,
        "like" => BinaryFunc::Like,
        "ilike" => BinaryFunc::ILike,
        "regex" => BinaryFunc::RegexMatch {
            case_insensitive: false,
        },
        "iregex" => BinaryFunc::RegexMatch {
            case_insensitive: true,
        },
        "round_to" => BinaryFunc::RoundTo,
        "btrim_chars" => BinaryFunc::BTrimChars,
        "ltrim_chars" => BinaryFunc::LTrimChars,
        "rtrim_chars" => BinaryFunc::RTrimChars,
        "position" => BinaryFunc::Position,
        "left" => BinaryFunc::Left,
        "right" => BinaryFunc::Right,
        "repeat" => BinaryFunc::Repeat,
        "power" => BinaryFunc::Power,
        "jsonb_get" => BinaryFunc::JsonbGet,
        "jsonb_get_text" => BinaryFunc::JsonbGetText,
        "is_distinct" => BinaryFunc::IsDistinctFrom,
        _ => return None,
    })
}

fn unary(name: &str) -> Option<UnaryFunc> {
    let (name, param) = match name.split_once(':') {
        Some((n, p)) => (n, p),
        None => (name, ""),
    };
    Some(match name {
        "not" => UnaryFunc::Not,
        "is_null" => UnaryFunc::IsNull,
        "is_true" => UnaryFunc::IsTrue,
        "is_false" => UnaryFunc::IsFalse,
        "neg" => UnaryFunc::Neg,
        "abs" => UnaryFunc::Abs,
        "lower" => UnaryFunc::Lower,
        "upper" => UnaryFunc::Upper,
        "char_length" => UnaryFunc::CharLength,
        "octet_length" => UnaryFunc::OctetLength,
        "btrim" => UnaryFunc::BTrim,
        "ltrim" => UnaryFunc::LTrim,
        "rtrim" => UnaryFunc::RTrim,
        "floor" => UnaryFunc::Floor,
        "ceil" => UnaryFunc::Ceil,
        "round" => UnaryFunc::Round,
        "sqrt" => UnaryFunc::Sqrt,
        "jsonb_typeof" => UnaryFunc::JsonbTypeof,
        "md5" => UnaryFunc::Md5,
        "cast" => UnaryFunc::Cast {
            to: scalar_type(param),
            kind: CastKind::Explicit,
        },
        "cast_assign" => UnaryFunc::Cast {
            to: scalar_type(param),
            kind: CastKind::Assignment,
        },
        "extract" => UnaryFunc::Extract(unit(param)),
        "date_part" => UnaryFunc::DatePart(unit(param)),
        "date_trunc" => UnaryFunc::DateTrunc(unit(param)),
        _ => return None,
    })
}

/// The unit a case names; the planner rejects an unknown name before evaluation.
fn unit(name: &str) -> DateTimeUnit {
    DateTimeUnit::from_name(name).unwrap_or_else(|| panic!("no unit {name:?}"))
}

fn variadic(name: &str) -> Option<VariadicFunc> {
    Some(match name {
        "and" => VariadicFunc::And,
        "or" => VariadicFunc::Or,
        "coalesce" => VariadicFunc::Coalesce,
        "greatest" => VariadicFunc::Greatest,
        "least" => VariadicFunc::Least,
        "substring" => VariadicFunc::Substring,
        "concat_fn" => VariadicFunc::Concat,
        "replace" => VariadicFunc::Replace,
        "split_part" => VariadicFunc::SplitPart,
        "lpad" => VariadicFunc::Lpad,
        "rpad" => VariadicFunc::Rpad,
        _ => return None,
    })
}

fn build(name: &str, args: &[(&str, Option<&str>)]) -> (MirScalarExpr, ScalarType) {
    let mut exprs: Vec<MirScalarExpr> = args.iter().map(|(t, v)| literal(t, *v)).collect();
    let expr = if let Some(f) = binary(name) {
        let b = exprs.pop().expect("two arguments");
        let a = exprs.pop().expect("two arguments");
        a.call_binary(b, f)
    } else if let Some(f) = unary(name) {
        exprs.pop().expect("one argument").call_unary(f)
    } else if let Some(func) = variadic(name) {
        MirScalarExpr::CallVariadic { func, exprs }
    } else {
        panic!("unknown function {name}")
    };
    let typ = expr.typ(&[]).scalar_type;
    (expr, typ)
}

#[test]
fn matches_postgres() {
    let mut failures = Vec::new();
    for (name, args, expected) in PG_CASES {
        let (expr, typ) = build(name, args);
        let got = expr.eval(&[]);
        let ok = match (&got, expected) {
            (Ok(Datum::Null), Ok(None)) => true,
            (Ok(d), Ok(Some(text))) if !d.is_null() => format_datum(d, &typ) == *text,
            (Err(e), Err((code, message, detail))) => {
                e.sqlstate() == *code
                    && e.to_string() == *message
                    && e.detail().as_deref() == *detail
            }
            _ => false,
        };
        if !ok {
            let shown = got.as_ref().map(|d| format_datum(d, &typ));
            let err = got.as_ref().err().map(|e| (e.sqlstate(), e.detail()));
            failures.push(format!(
                "{name} {args:?}: got {shown:?} {err:?}, want {expected:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Postgres:\n{}",
        failures.len(),
        PG_CASES.len(),
        failures.join("\n")
    );
}

fn lit(d: Datum, t: ScalarType) -> MirScalarExpr {
    MirScalarExpr::literal(d, t.nullable(true))
}

fn bool_lit(b: Option<bool>) -> MirScalarExpr {
    lit(b.map(Datum::Bool).unwrap_or(Datum::Null), ScalarType::Bool)
}

/// `1 / 0 = 1`: a boolean expression that fails.
fn failing_bool() -> MirScalarExpr {
    lit(Datum::Int32(1), ScalarType::Int32)
        .call_binary(lit(Datum::Int32(0), ScalarType::Int32), BinaryFunc::Div)
        .call_binary(lit(Datum::Int32(1), ScalarType::Int32), BinaryFunc::Eq)
}

fn call(func: VariadicFunc, exprs: Vec<MirScalarExpr>) -> Result<Datum, EvalError> {
    MirScalarExpr::CallVariadic { func, exprs }.eval(&[])
}

#[test]
fn and_or_let_a_decisive_value_win_over_errors() {
    use VariadicFunc::{And, Or};
    let f = || bool_lit(Some(false));
    let t = || bool_lit(Some(true));
    let n = || bool_lit(None);
    assert_eq!(call(And, vec![f(), failing_bool()]), Ok(Datum::Bool(false)));
    assert_eq!(call(And, vec![failing_bool(), f()]), Ok(Datum::Bool(false)));
    assert_eq!(
        call(And, vec![t(), failing_bool()]),
        Err(EvalError::DivisionByZero)
    );
    assert_eq!(
        call(And, vec![n(), failing_bool()]),
        Err(EvalError::DivisionByZero)
    );
    assert_eq!(call(And, vec![t(), n()]), Ok(Datum::Null));
    assert_eq!(call(And, vec![n(), f()]), Ok(Datum::Bool(false)));
    assert_eq!(call(And, vec![]), Ok(Datum::Bool(true)));
    assert_eq!(call(Or, vec![t(), failing_bool()]), Ok(Datum::Bool(true)));
    assert_eq!(call(Or, vec![failing_bool(), t()]), Ok(Datum::Bool(true)));
    assert_eq!(
        call(Or, vec![f(), failing_bool()]),
        Err(EvalError::DivisionByZero)
    );
    assert_eq!(call(Or, vec![f(), n()]), Ok(Datum::Null));
    assert_eq!(call(Or, vec![n(), t()]), Ok(Datum::Bool(true)));
    assert_eq!(call(Or, vec![]), Ok(Datum::Bool(false)));
}

#[test]
fn coalesce_stops_at_the_first_non_null() {
    let one = lit(Datum::Int32(1), ScalarType::Int32);
    let null = lit(Datum::Null, ScalarType::Int32);
    let failing = lit(Datum::Int32(1), ScalarType::Int32)
        .call_binary(lit(Datum::Int32(0), ScalarType::Int32), BinaryFunc::Div);
    assert_eq!(
        call(
            VariadicFunc::Coalesce,
            vec![null.clone(), one, failing.clone()]
        ),
        Ok(Datum::Int32(1))
    );
    assert_eq!(
        call(VariadicFunc::Coalesce, vec![null, failing]),
        Err(EvalError::DivisionByZero)
    );
}

#[test]
fn strict_functions_report_errors_before_nulls() {
    // `NULL + 1/0` fails in Postgres: both arguments are evaluated.
    let failing = lit(Datum::Int32(1), ScalarType::Int32)
        .call_binary(lit(Datum::Int32(0), ScalarType::Int32), BinaryFunc::Div);
    let e = lit(Datum::Null, ScalarType::Int32).call_binary(failing, BinaryFunc::Add);
    assert_eq!(e.eval(&[]), Err(EvalError::DivisionByZero));
}

#[test]
fn numeric_results_beyond_38_digits_are_overflow_errors() {
    let n = |s: &str| parse_datum(s, &scalar_type("numeric")).expect("numeric literal");
    let max = n("99999999999999999999999999999999999999");
    let e = eval_binary_datums(&BinaryFunc::Mul, max, n("10.0")).expect_err("overflows");
    assert_eq!(
        (e.sqlstate().code(), e.to_string().as_str()),
        ("22003", "value overflows numeric format")
    );
    assert_eq!(
        e.detail().as_deref(),
        Some("Eddy's numeric holds 38 digits and a scale of at most 1000.")
    );
}

#[test]
fn column_references_are_evaluated_against_the_row() {
    let e = MirScalarExpr::column(0).call_binary(MirScalarExpr::column(1), BinaryFunc::Mul);
    let row = [Datum::Int64(6), Datum::Int64(7)];
    assert_eq!(e.eval(&row), Ok(Datum::Int64(42)));
}

/// Datums at the edges of every type, including ones no valid plan would pair.
fn sample_datums() -> Vec<Datum> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
    use eddy_repr::{Interval, OrdF32, OrdF64};
    let ts =
        |d: NaiveDateTime| Datum::TimestampTz(DateTime::<Utc>::from_naive_utc_and_offset(d, Utc));
    vec![
        Datum::Null,
        Datum::Bool(true),
        Datum::Int16(i16::MIN),
        Datum::Int32(-1),
        Datum::Int32(0),
        Datum::Int32(i32::MAX),
        Datum::Int64(i64::MIN),
        Datum::Int64(i64::MAX),
        Datum::Float32(OrdF32(f32::NAN)),
        Datum::Float64(OrdF64(f64::INFINITY)),
        Datum::Float64(OrdF64(-0.0)),
        Datum::Float64(OrdF64(1e300)),
        Datum::Numeric("340282366920938463463374607431768211455".parse().unwrap()),
        Datum::Numeric("-99999999999999999999999999999999999999".parse().unwrap()),
        Datum::Numeric("-0.5".parse().unwrap()),
        Datum::Numeric("1e-1000".parse().unwrap()),
        Datum::Numeric(eddy_repr::Numeric::NAN),
        Datum::String(String::new()),
        Datum::String("héllo %_\\".into()),
        Datum::String("2024-01-02".into()),
        Datum::Timestamp(NaiveDateTime::MIN),
        Datum::Timestamp(NaiveDateTime::MAX),
        ts(NaiveDateTime::MAX),
        ts(NaiveDate::from_ymd_opt(2024, 1, 31)
            .unwrap_or_default()
            .and_time(NaiveTime::MIN)),
        Datum::Date(NaiveDate::MIN),
        Datum::Date(NaiveDate::MAX),
        Datum::Time(NaiveTime::from_hms_nano_opt(23, 59, 59, 1_999_999_999).unwrap_or_default()),
        Datum::Interval(Interval {
            months: i32::MIN,
            days: i32::MIN,
            micros: i64::MIN,
        }),
        Datum::Interval(Interval {
            months: i32::MAX,
            days: i32::MAX,
            micros: i64::MAX,
        }),
        Datum::Jsonb(r#"{"a": [1, "x"]}"#.into()),
        Datum::Jsonb("not json".into()),
        Datum::Oid(u32::MAX),
        Datum::Bytes(vec![0, 255]),
        Datum::Uuid([0xab; 16]),
        Datum::Array(vec![Datum::Null, Datum::String("a b".into())]),
    ]
}

fn all_types() -> Vec<ScalarType> {
    vec![
        ScalarType::Bool,
        ScalarType::Int16,
        ScalarType::Int32,
        ScalarType::Int64,
        ScalarType::Float32,
        ScalarType::Float64,
        ScalarType::Numeric {
            precision: None,
            scale: None,
        },
        ScalarType::Numeric {
            precision: Some(3),
            scale: Some(3),
        },
        ScalarType::Text,
        ScalarType::Varchar {
            max_length: Some(1),
        },
        ScalarType::Char { length: Some(2) },
        ScalarType::Timestamp,
        ScalarType::TimestampTz,
        ScalarType::Date,
        ScalarType::Time,
        ScalarType::Interval,
        ScalarType::Jsonb,
        ScalarType::Oid,
        ScalarType::Name,
        ScalarType::TextArray,
        ScalarType::Int16Array,
        ScalarType::OidArray,
        ScalarType::RegClass,
        ScalarType::PgChar,
        ScalarType::Bytea,
        ScalarType::Uuid,
    ]
}

/// Every function on every combination of edge datums returns a value or an error;
/// none panics.
#[test]
fn no_datum_combination_panics() {
    let datums = sample_datums();
    let mut unary: Vec<UnaryFunc> = vec![
        UnaryFunc::Not,
        UnaryFunc::IsNull,
        UnaryFunc::IsTrue,
        UnaryFunc::IsFalse,
        UnaryFunc::Neg,
        UnaryFunc::Abs,
        UnaryFunc::Lower,
        UnaryFunc::Upper,
        UnaryFunc::CharLength,
        UnaryFunc::OctetLength,
        UnaryFunc::BTrim,
        UnaryFunc::LTrim,
        UnaryFunc::RTrim,
        UnaryFunc::Floor,
        UnaryFunc::Ceil,
        UnaryFunc::Round,
        UnaryFunc::Sqrt,
        UnaryFunc::JsonbTypeof,
        UnaryFunc::Md5,
        UnaryFunc::Initcap,
        UnaryFunc::Reverse,
        UnaryFunc::Chr,
        UnaryFunc::Ascii,
        UnaryFunc::Exp,
        UnaryFunc::Ln,
        UnaryFunc::Log10,
        UnaryFunc::Sign,
        UnaryFunc::Trunc,
        UnaryFunc::Cbrt,
        UnaryFunc::Cardinality,
        UnaryFunc::ToTimestamp,
        UnaryFunc::JsonbArrayLength,
        UnaryFunc::ToJsonb,
    ];
    for &f in DateTimeUnit::ALL {
        unary.push(UnaryFunc::Extract(f));
        unary.push(UnaryFunc::DatePart(f));
        unary.push(UnaryFunc::DateTrunc(f));
    }
    for to in all_types() {
        for kind in [CastKind::Explicit, CastKind::Assignment] {
            unary.push(UnaryFunc::Cast { to, kind });
        }
    }
    for f in &unary {
        for d in &datums {
            let _ = eval_unary(f, d.clone());
        }
    }
    let binary = [
        BinaryFunc::Add,
        BinaryFunc::Sub,
        BinaryFunc::Mul,
        BinaryFunc::Div,
        BinaryFunc::Mod,
        BinaryFunc::Eq,
        BinaryFunc::NotEq,
        BinaryFunc::Lt,
        BinaryFunc::Lte,
        BinaryFunc::Gt,
        BinaryFunc::Gte,
        BinaryFunc::Concat,
        BinaryFunc::Like,
        BinaryFunc::ILike,
        BinaryFunc::RegexMatch {
            case_insensitive: true,
        },
        BinaryFunc::RoundTo,
        BinaryFunc::BTrimChars,
        BinaryFunc::LTrimChars,
        BinaryFunc::RTrimChars,
        BinaryFunc::Position,
        BinaryFunc::Left,
        BinaryFunc::Right,
        BinaryFunc::Repeat,
        BinaryFunc::Power,
        BinaryFunc::JsonbGet,
        BinaryFunc::JsonbGetText,
        BinaryFunc::IsDistinctFrom,
        BinaryFunc::StartsWith,
        BinaryFunc::Log,
        BinaryFunc::TruncTo,
        BinaryFunc::DivTrunc,
        BinaryFunc::ArrayLength,
        BinaryFunc::Age,
        BinaryFunc::JsonbGetPath,
        BinaryFunc::JsonbGetPathText,
        BinaryFunc::JsonbContains,
        BinaryFunc::JsonbExists,
        BinaryFunc::JsonbExistsAny,
        BinaryFunc::JsonbExistsAll,
    ];
    for f in &binary {
        for a in &datums {
            for b in &datums {
                let _ = eval_binary_datums(f, a.clone(), b.clone());
            }
        }
    }
    let variadic = [
        VariadicFunc::And,
        VariadicFunc::Or,
        VariadicFunc::Coalesce,
        VariadicFunc::Greatest,
        VariadicFunc::Least,
        VariadicFunc::Substring,
        VariadicFunc::Concat,
        VariadicFunc::Replace,
        VariadicFunc::SplitPart,
        VariadicFunc::Lpad,
        VariadicFunc::Rpad,
        VariadicFunc::RegexpReplace,
        VariadicFunc::RegexpMatch,
        VariadicFunc::RegexpSplitToArray,
        VariadicFunc::Format,
        VariadicFunc::Translate,
        VariadicFunc::ArrayPosition,
        VariadicFunc::MakeDate,
        VariadicFunc::MakeTimestamp,
        VariadicFunc::MakeInterval,
        VariadicFunc::ToChar,
        VariadicFunc::ToTimestampFormat,
        VariadicFunc::ToDate,
        VariadicFunc::JsonbBuildArray,
    ];
    let small: Vec<Datum> = datums.iter().step_by(3).cloned().collect();
    for f in &variadic {
        for a in &datums {
            for b in &datums {
                let _ = eval_variadic_datums(f, vec![a.clone(), b.clone()]);
            }
            for b in &small {
                for c in &small {
                    let _ = eval_variadic_datums(f, vec![a.clone(), b.clone(), c.clone()]);
                }
            }
        }
    }
}

/// Eddy's numeric is exact to 38 digits: results Postgres gives within that are the
/// same; where Postgres' arbitrary precision needs more, Eddy reports an overflow,
/// never a rounded value. Postgres' answers are in the comments.
#[test]
fn numeric_precision_limits() {
    let n = |s: &str| parse_datum(s, &scalar_type("numeric")).expect("numeric literal");
    let show = |r: Result<Datum, EvalError>| {
        r.map(|d| format_datum(&d, &scalar_type("numeric")))
            .map_err(|e| e.to_string())
    };
    // 0.0000000000000000000100000000000000000000
    assert_eq!(
        show(eval_binary_datums(
            &BinaryFunc::Div,
            n("1"),
            n("100000000000000000000")
        )),
        Ok("0.0000000000000000000100000000000000000000".into())
    );
    // 792281625142643375935439503350.0
    assert_eq!(
        show(eval_binary_datums(
            &BinaryFunc::Div,
            n("79228162514264337593543950335"),
            n("0.1")
        )),
        Ok("792281625142643375935439503350.0".into())
    );
    // 15241578753238.836639231755554032028766652
    assert_eq!(
        show(eval_binary_datums(
            &BinaryFunc::Mul,
            n("12345678901234.5678901234"),
            n("1.23456789012345678")
        )),
        Err("value overflows numeric format".into())
    );
    // 100000000000000000000.0000000000000000
    assert_eq!(
        show(eval_binary_datums(&BinaryFunc::Power, n("10"), n("20"))),
        Ok("100000000000000000000.0000000000000000".into())
    );
    // 2460312.0000000000000000000000000000
    let midnight = parse_datum("2024-01-02", &ScalarType::Timestamp).expect("timestamp");
    assert_eq!(
        show(eval_unary(
            &UnaryFunc::Extract(DateTimeUnit::Julian),
            midnight
        )),
        Ok("2460312.0000000000000000000000000000".into())
    );
}

/// Templates and format strings are user data: odd ones give errors or text, never
/// a panic, and widths cannot allocate beyond the value limit.
#[test]
fn templates_never_panic() {
    let s = |v: &str| Datum::String(v.into());
    let ts = Datum::Timestamp(
        chrono::NaiveDate::from_ymd_opt(-96, 2, 29)
            .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
            .expect("a valid timestamp"),
    );
    let iv = Datum::Interval(eddy_repr::Interval {
        months: -13,
        days: -40,
        micros: -90_061_000_001,
    });
    let numbers = [
        Datum::Int64(i64::MIN),
        Datum::Numeric("340282366920938463463374607431768211455".parse().unwrap()),
        Datum::Numeric(eddy_repr::Numeric::NAN),
        Datum::Float64(eddy_repr::OrdF64(1e300)),
        Datum::Float64(eddy_repr::OrdF64(f64::NAN)),
    ];
    let templates = [
        "",
        "FM",
        "\\",
        "\"",
        "\"unterminated",
        "9.9.9",
        "9,9,9,.0000000000000000000000000000009",
        "FMFMFM9",
        "YYYYYYYYY",
        "FF6FF1THth",
        "Month Mon Day Dy TZ OF J IW",
        "S9",
        "PR",
    ];
    for t in templates {
        for v in numbers.iter().chain([&ts, &iv]) {
            let _ = eval_variadic_datums(&VariadicFunc::ToChar, vec![v.clone(), s(t)]);
        }
        for input in [
            "",
            "999999999999 99 99",
            "2023-02-29",
            "12 PM 13",
            "January",
        ] {
            let _ = eval_variadic_datums(&VariadicFunc::ToTimestampFormat, vec![s(input), s(t)]);
            let _ = eval_variadic_datums(&VariadicFunc::ToDate, vec![s(input), s(t)]);
        }
    }
    for f in [
        "%2147483647s",
        "%*s",
        "%-*1$s",
        "%99999999999$s",
        "%",
        "%1$",
        "%I",
    ] {
        let r = eval_variadic_datums(&VariadicFunc::Format, vec![s(f), Datum::Int32(i32::MAX)]);
        assert!(
            r.is_err() || matches!(&r, Ok(Datum::String(x)) if x.len() < 1 << 20),
            "{f}: {r:?}"
        );
    }
}

/// C's `%g`, which Postgres uses in `to_timestamp`'s range error.
#[test]
fn c_g_prints_like_c() {
    for (x, want) in [
        (1e20, "1e+20"),
        (-1.5e-7, "-1.5e-07"),
        (123456.0, "123456"),
        (1234567.0, "1.23457e+06"),
        (0.0001, "0.0001"),
        (2.5, "2.5"),
        (0.0, "0"),
    ] {
        assert_eq!(datetime::c_g(x), want, "{x}");
    }
}
