//! Scalar and aggregate functions: what exists, how each is typed. Evaluation lives in
//! `eval.rs`; both dispatch on these enums.
//!
//! Functions are generic over their argument types at run time (`Add` adds two
//! `integer`s or two `numeric`s); the planner guarantees both sides already have the
//! same type, inserting casts where Postgres would.

use eddy_repr::{ColumnType, DateTimeUnit, Datum, OrdF64, ScalarType};

use crate::error::EvalError;
use serde::{Deserialize, Serialize};

/// How a cast treats values that do not fit the target type's modifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CastKind {
    /// `CAST(x AS t)` / `x::t`: strings are truncated to `varchar(n)`.
    Explicit,
    /// Storing into a column (INSERT/UPDATE): too-long strings are an error.
    Assignment,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum UnaryFunc {
    Not,
    IsNull,
    /// `x IS TRUE` (false for NULL).
    IsTrue,
    /// `x IS FALSE` (false for NULL).
    IsFalse,
    Neg,
    Abs,
    /// A cast from the argument's type to `to`, enforcing `to`'s modifiers.
    Cast {
        to: ScalarType,
        kind: CastKind,
    },
    Lower,
    Upper,
    /// `length` / `char_length`: characters, not bytes.
    CharLength,
    OctetLength,
    /// `trim(x)` / `btrim(x)`: strip spaces on both sides.
    BTrim,
    LTrim,
    RTrim,
    Floor,
    Ceil,
    /// `round(x)` to an integer value, half away from zero (numeric) or half to even
    /// (float), as Postgres does.
    Round,
    Sqrt,
    /// `extract(field from x)`: numeric, as in Postgres 14+.
    Extract(DateTimeUnit),
    /// `date_part(field, x)`: like `extract` but returns double precision.
    DatePart(DateTimeUnit),
    /// `date_trunc(unit, x)`.
    DateTrunc(DateTimeUnit),
    /// `jsonb_typeof(x)`.
    JsonbTypeof,
    /// `md5(text)` as lowercase hex.
    Md5,
    /// `quote_ident(text)`: the identifier, double-quoted when Postgres would need it.
    QuoteIdent,
    /// `pg_size_pretty(bigint)`: a byte count in bytes, kB, MB, GB or TB.
    PgSizePretty,
    /// `initcap(text)`: the first letter of each run of letters and digits upper case,
    /// the rest lower case.
    Initcap,
    /// `reverse(text)`: the characters in reverse order.
    Reverse,
    /// `chr(integer)`: the character with that code point.
    Chr,
    /// `ascii(text)`: the code point of the first character (0 for an empty text).
    Ascii,
    /// `exp(x)` on double precision or numeric.
    Exp,
    /// `ln(x)`: the natural logarithm, an error for zero and negative numbers.
    Ln,
    /// `log(x)` / `log10(x)`: the base-10 logarithm.
    Log10,
    /// `sign(x)`: -1, 0 or 1 in the argument's type.
    Sign,
    /// `trunc(x)`: towards zero.
    Trunc,
    /// `cbrt(double precision)`.
    Cbrt,
    /// `cardinality(array)`: the number of elements.
    Cardinality,
    /// `to_timestamp(double precision)`: seconds since the Unix epoch as `timestamptz`.
    ToTimestamp,
    /// `jsonb_array_length(jsonb)`: an error for an object or a scalar.
    JsonbArrayLength,
    /// `timestamptz AT TIME ZONE zone`: the zone's wall-clock time, a `timestamp`.
    TimestampTzToLocal(crate::zone::TimeZone),
    /// `timestamp AT TIME ZONE zone`: the instant of that wall-clock time in the zone.
    LocalToTimestampTz(crate::zone::TimeZone),
    /// `extract(field from timestamptz)` of a zone field (`timezone`, `timezone_hour`,
    /// `timezone_minute`) in a session whose time zone is not UTC: the offset in force
    /// at that instant, seconds east.
    ExtractZoneField(DateTimeUnit, crate::zone::TimeZone),
    /// `date_part(field, timestamptz)` of a zone field (see `ExtractZoneField`).
    DatePartZoneField(DateTimeUnit, crate::zone::TimeZone),
    /// `to_jsonb(timestamptz)` in a session whose time zone is not UTC (also the
    /// timestamptz values `jsonb_build_*` and `jsonb_agg` take): an ISO 8601 string of
    /// the wall-clock time in the zone with its offset.
    TimestampTzToJsonbIn(crate::zone::TimeZone),
    /// `timestamptz::text` in a session whose time zone is not UTC: the wall-clock time
    /// in the zone with its offset (`2024-03-31 03:30:00+02`).
    TimestampTzToTextIn(crate::zone::TimeZone),
    /// `text::timestamptz` in a session whose time zone is not UTC: a time without an
    /// offset is the zone's wall-clock time.
    TextToTimestampTzIn(crate::zone::TimeZone),
    /// `to_jsonb(x)`: numbers and booleans as JSON scalars, arrays as arrays, anything
    /// else as a string of its text (date/time values in ISO 8601).
    ToJsonb,
    /// `(record).field`: field `index` of a record, of type `typ` (the planner knows
    /// the record's fields; the record does not carry them).
    RecordField {
        index: usize,
        typ: ScalarType,
    },
    /// `~x`: the bitwise complement of an integer.
    BitNot,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BinaryFunc {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    NotEq,
    Lt,
    Lte,
    Gt,
    Gte,
    /// `a || b` on strings.
    Concat,
    Like,
    ILike,
    /// `a ~ b`, `a ~* b` (case-insensitive).
    RegexMatch {
        case_insensitive: bool,
    },
    /// `round(x, digits)`.
    RoundTo,
    /// `trim(both chars from x)` and friends.
    BTrimChars,
    LTrimChars,
    RTrimChars,
    /// `position(needle in haystack)`: argument order (needle, haystack).
    Position,
    Left,
    Right,
    Repeat,
    Power,
    /// `jsonb -> text|int`.
    JsonbGet,
    /// `jsonb ->> text|int`.
    JsonbGetText,
    /// `a IS DISTINCT FROM b` (NULL-safe inequality; never NULL).
    IsDistinctFrom,
    /// `array_upper(array, dimension)`: the array's length for dimension 1, NULL for an
    /// empty array or another dimension (Eddy's arrays are one-dimensional, 1-based).
    ArrayUpper,
    /// `array[i]`: the element at 1-based position `i`, NULL when out of range.
    ArrayIndex,
    /// `starts_with(text, prefix)`.
    StartsWith,
    /// `log(base, x)` on numeric.
    Log,
    /// `trunc(numeric, digits)`: towards zero at `digits` places.
    TruncTo,
    /// `div(a, b)`: the numeric quotient truncated towards zero.
    DivTrunc,
    /// `array_length(array, dimension)`: the length for dimension 1, NULL for an empty
    /// array or another dimension.
    ArrayLength,
    /// `age(a, b)`: `a - b` as years, months and days ("symbolic"), on timestamps or
    /// timestamptzs.
    Age,
    /// `timestamptz + interval` in a session whose time zone is not UTC (Postgres 16's
    /// `date_add(timestamptz, interval, zone)`): months and days move the wall-clock
    /// time in the zone, so a day across a daylight-saving change is 23 or 25 hours.
    AddTimestampTzIntervalIn(crate::zone::TimeZone),
    /// `timestamptz - interval` in a zone (`date_subtract(timestamptz, interval, zone)`).
    SubTimestampTzIntervalIn(crate::zone::TimeZone),
    /// `jsonb #> text[]` (and `jsonb_extract_path(jsonb, VARIADIC text[])`).
    JsonbGetPath,
    /// `jsonb #>> text[]` (and `jsonb_extract_path_text`).
    JsonbGetPathText,
    /// `jsonb @> jsonb` (`a <@ b` is `b @> a`).
    JsonbContains,
    /// `jsonb ? text`.
    JsonbExists,
    /// `jsonb ?| text[]`.
    JsonbExistsAny,
    /// `jsonb ?& text[]`.
    JsonbExistsAll,
    /// `&`, `|`, `#` (exclusive or) on two integers of one type.
    BitAnd,
    BitOr,
    BitXor,
    /// `<<` and `>>` of an integer by an `integer` count (arithmetic shift right).
    ShiftLeft,
    ShiftRight,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VariadicFunc {
    /// Three-valued AND: false if any argument is false, else NULL if any is NULL.
    And,
    /// Three-valued OR: true if any argument is true, else NULL if any is NULL.
    Or,
    Coalesce,
    Greatest,
    Least,
    /// `substring(s, from [, count])`, 1-based as in Postgres.
    Substring,
    /// `concat(...)`: NULL arguments are skipped.
    Concat,
    Replace,
    SplitPart,
    Lpad,
    Rpad,
    /// `ARRAY[a, b, ...]`: a one-dimensional array of values of `elem_type` (which has
    /// an array type: text, smallint or oid).
    ArrayCreate {
        elem_type: ScalarType,
    },
    /// `array_to_string(array, delimiter [, null_string])`: the elements' text joined
    /// by `delimiter`; NULL elements are skipped, or shown as `null_string`.
    ArrayToString,
    /// `string_to_array(text, delimiter [, null_string])`: the pieces of `text` between
    /// `delimiter`s as `text[]` (each character with a NULL delimiter, the whole text
    /// with an empty one, `{}` for an empty text); pieces equal to `null_string` are
    /// NULL.
    StringToArray,
    /// `format_type(type_oid, typmod)`: the SQL name of a type (see
    /// [`eddy_repr::pgtype::format_type`]); NULL only for a NULL OID.
    FormatType,
    /// `x = ANY(array)`: true if an element equals `x`; else NULL if `x` or an element
    /// is NULL (and the array is not empty); else false.
    EqAny,
    /// `jsonb_build_object(key, value, ...)`: keys as text (never NULL), values as
    /// `to_jsonb` makes them.
    JsonbBuildObject,
    /// `a || b` on two arrays of one type: the elements of both; a NULL side is
    /// ignored (NULL only when both are).
    ArrayCat,
    /// `date_bin(stride, source, origin)` over two `timestamp`s or two `timestamptz`s:
    /// the start of the bin of width `stride`, counted from `origin`, that holds
    /// `source` (see [`crate::eval::bin_start_micros`]).
    DateBin,
    /// `regexp_replace(source, pattern, replacement [, flags])`: the first match (every
    /// match with flag `g`) replaced; `\1`..`\9` and `\&` in `replacement` name the
    /// captured groups and the whole match.
    RegexpReplace,
    /// `regexp_match(string, pattern [, flags])`: the captured groups of the first
    /// match as `text[]` (the whole match when there are no groups), NULL without one.
    RegexpMatch,
    /// `regexp_split_to_array(string, pattern [, flags])`: the pieces between matches.
    RegexpSplitToArray,
    /// `format(formatstr, ...)`: `%s`, `%I`, `%L`, `%%`, with `n$` positions and
    /// widths. NULL only for a NULL format string.
    Format,
    /// `translate(string, from, to)`: each character of `from` replaced by the one at
    /// its position in `to`, or removed when `to` is shorter.
    Translate,
    /// `array_position(array, element [, start])`: the first 1-based position at or
    /// after `start` whose element is not distinct from `element` (NULL finds NULL).
    ArrayPosition,
    /// `make_date(year, month, day)`.
    MakeDate,
    /// `make_timestamp(year, month, day, hour, min, sec)`.
    MakeTimestamp,
    /// `make_interval(years, months, weeks, days, hours, mins, secs)`, trailing
    /// arguments defaulting to zero.
    MakeInterval,
    /// `to_char(value, format)` on timestamps, timestamptzs, intervals and numbers.
    ToChar,
    /// `to_char(timestamptz, format)` in a session whose time zone is not UTC.
    ToCharIn(crate::zone::TimeZone),
    /// `to_timestamp(text, format)`.
    ToTimestampFormat,
    /// `to_date(text, format)`.
    ToDate,
    /// `jsonb_build_array(...)`: the values as `to_jsonb` makes them, NULL as `null`.
    JsonbBuildArray,
    /// `random()`: a uniform double precision in `[0, 1)`, new on every evaluation.
    Random,
    /// `gen_random_uuid()`: a version 4 (random) UUID, new on every evaluation.
    GenRandomUuid,
    /// `clock_timestamp()`: the wall-clock time when it is evaluated.
    ClockTimestamp,
    /// `ROW(a, b, ...)`, a select list's multi-column set-returning function: a record
    /// of the values (NULLs kept).
    RecordCreate,
    /// `array[lower:upper]`: the elements from `lower` to `upper` (1-based, both
    /// included, clamped to the array) as an array of the same type, `{}` when none;
    /// the arguments are the array and the bounds that are written (an omitted bound is
    /// the array's own). NULL if any argument is.
    ArraySlice {
        lower: bool,
        upper: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AggregateFunc {
    /// `count(x)`: the number of non-NULL values (`count(*)` counts a literal `true`).
    Count,
    /// `sum(x)`: NULL over no non-NULL values. The output type follows Postgres:
    /// smallint/integer sum to bigint, bigint and numeric sum to numeric, floats keep their type.
    Sum,
    Min,
    Max,
    BoolAnd,
    BoolOr,
    /// `array_agg(x [ORDER BY ...])`: the group's values, NULLs included, as an array in
    /// the aggregate's order (ties in value order).
    ArrayAgg,
    /// `string_agg(x, delimiter [ORDER BY ...])`: the non-NULL values joined by a
    /// constant delimiter (NULL joins with nothing); NULL when there are none.
    StringAgg {
        delimiter: Option<String>,
    },
    /// `jsonb_agg(x [ORDER BY ...])`: the group's values as `to_jsonb` makes them (NULL
    /// as `null`) in a jsonb array, in the aggregate's order; NULL over no rows.
    JsonbAgg,
    /// `percentile_cont(fraction) WITHIN GROUP (ORDER BY x)` over double precision:
    /// the value at `fraction` of the way through the sorted non-NULL values,
    /// interpolated between the two nearest; `None` for a NULL fraction (a NULL result).
    PercentileCont {
        fraction: Option<OrdF64>,
    },
    /// `percentile_disc(fraction) WITHIN GROUP (ORDER BY x)`: the first sorted non-NULL
    /// value whose position reaches `fraction` of the count.
    PercentileDisc {
        fraction: Option<OrdF64>,
    },
    /// `mode() WITHIN GROUP (ORDER BY x)`: the most frequent non-NULL value, the first
    /// in the sort order among equally frequent ones.
    Mode,
}

fn nullable_if_any(inputs: &[ColumnType]) -> bool {
    inputs.iter().any(|t| t.nullable)
}

const UNCONSTRAINED_NUMERIC: ScalarType = ScalarType::Numeric {
    precision: None,
    scale: None,
};

impl UnaryFunc {
    /// Whether a NULL argument makes the result NULL (all but the `IS` tests).
    pub fn is_strict(&self) -> bool {
        !matches!(
            self,
            UnaryFunc::IsNull | UnaryFunc::IsTrue | UnaryFunc::IsFalse
        )
    }

    pub fn output_type(&self, input: ColumnType) -> ColumnType {
        use ScalarType::*;
        let n = input.nullable;
        let typ = match self {
            UnaryFunc::Not => Bool,
            UnaryFunc::IsNull | UnaryFunc::IsTrue | UnaryFunc::IsFalse => {
                return Bool.nullable(false)
            }
            UnaryFunc::Neg
            | UnaryFunc::Abs
            | UnaryFunc::Floor
            | UnaryFunc::Ceil
            | UnaryFunc::Round => match input.scalar_type {
                Numeric { .. } => UNCONSTRAINED_NUMERIC,
                other => other,
            },
            UnaryFunc::Cast { to, .. } => *to,
            UnaryFunc::Lower
            | UnaryFunc::Upper
            | UnaryFunc::BTrim
            | UnaryFunc::LTrim
            | UnaryFunc::RTrim
            | UnaryFunc::Md5
            | UnaryFunc::QuoteIdent
            | UnaryFunc::PgSizePretty => Text,
            UnaryFunc::CharLength | UnaryFunc::OctetLength => Int32,
            UnaryFunc::Sqrt => match input.scalar_type {
                Numeric { .. } => UNCONSTRAINED_NUMERIC,
                _ => Float64,
            },
            UnaryFunc::Extract(_) => UNCONSTRAINED_NUMERIC,
            UnaryFunc::DatePart(_) => Float64,
            UnaryFunc::DateTrunc(_) => match input.scalar_type {
                Date => Timestamp,
                other => other,
            },
            UnaryFunc::JsonbTypeof | UnaryFunc::Initcap | UnaryFunc::Reverse | UnaryFunc::Chr => {
                Text
            }
            UnaryFunc::Ascii | UnaryFunc::Cardinality => Int32,
            UnaryFunc::Exp | UnaryFunc::Ln | UnaryFunc::Log10 | UnaryFunc::Trunc => {
                match input.scalar_type {
                    Numeric { .. } => UNCONSTRAINED_NUMERIC,
                    _ => Float64,
                }
            }
            UnaryFunc::Sign => match input.scalar_type {
                Numeric { .. } => UNCONSTRAINED_NUMERIC,
                other => other,
            },
            UnaryFunc::Cbrt => Float64,
            UnaryFunc::ToTimestamp => TimestampTz,
            UnaryFunc::JsonbArrayLength => Int32,
            UnaryFunc::ToJsonb => Jsonb,
            UnaryFunc::TimestampTzToLocal(_) => Timestamp,
            UnaryFunc::LocalToTimestampTz(_) => TimestampTz,
            UnaryFunc::ExtractZoneField(..) => UNCONSTRAINED_NUMERIC,
            UnaryFunc::DatePartZoneField(..) => Float64,
            UnaryFunc::TimestampTzToJsonbIn(_) => Jsonb,
            UnaryFunc::TimestampTzToTextIn(_) => Text,
            UnaryFunc::TextToTimestampTzIn(_) => TimestampTz,
            UnaryFunc::RecordField { typ, .. } => return typ.nullable(true),
            UnaryFunc::BitNot => input.scalar_type,
        };
        typ.nullable(n)
    }
}

impl BinaryFunc {
    /// Whether a NULL argument makes the result NULL without evaluating the function
    /// (every binary function but `IS DISTINCT FROM`).
    pub fn is_strict(&self) -> bool {
        !matches!(self, BinaryFunc::IsDistinctFrom)
    }

    pub fn output_type(&self, left: ColumnType, right: ColumnType) -> ColumnType {
        use ScalarType::*;
        let n = left.nullable || right.nullable;
        let (l, r) = (left.scalar_type, right.scalar_type);
        let typ = match self {
            BinaryFunc::Add
            | BinaryFunc::Sub
            | BinaryFunc::Mul
            | BinaryFunc::Div
            | BinaryFunc::Mod => match (self, l, r) {
                (BinaryFunc::Sub, Timestamp, Timestamp)
                | (BinaryFunc::Sub, TimestampTz, TimestampTz) => Interval,
                (BinaryFunc::Sub, Date, Date) => Int32,
                (BinaryFunc::Add | BinaryFunc::Sub, Date, Int32) => Date,
                (BinaryFunc::Add, Int32, Date) => Date,
                (BinaryFunc::Add | BinaryFunc::Sub, Date, Interval) => Timestamp,
                (BinaryFunc::Add, Interval, Date) => Timestamp,
                (BinaryFunc::Add, Interval, t @ (Timestamp | TimestampTz)) => t,
                (_, Interval, _) => Interval,
                (BinaryFunc::Mul, _, Interval) => Interval,
                (_, Numeric { .. }, _) => UNCONSTRAINED_NUMERIC,
                (_, l, _) => l,
            },
            BinaryFunc::Eq
            | BinaryFunc::NotEq
            | BinaryFunc::Lt
            | BinaryFunc::Lte
            | BinaryFunc::Gt
            | BinaryFunc::Gte
            | BinaryFunc::Like
            | BinaryFunc::ILike
            | BinaryFunc::RegexMatch { .. } => Bool,
            BinaryFunc::IsDistinctFrom => return Bool.nullable(false),
            BinaryFunc::Concat
            | BinaryFunc::BTrimChars
            | BinaryFunc::LTrimChars
            | BinaryFunc::RTrimChars
            | BinaryFunc::Left
            | BinaryFunc::Right
            | BinaryFunc::Repeat
            | BinaryFunc::JsonbGetText => Text,
            BinaryFunc::RoundTo => UNCONSTRAINED_NUMERIC,
            BinaryFunc::Position => Int32,
            BinaryFunc::Power => match l {
                Numeric { .. } => UNCONSTRAINED_NUMERIC,
                _ => Float64,
            },
            BinaryFunc::JsonbGet => return Jsonb.nullable(true),
            BinaryFunc::ArrayUpper => return Int32.nullable(true),
            BinaryFunc::ArrayIndex => return l.array_element().unwrap_or(Text).nullable(true),
            BinaryFunc::StartsWith => Bool,
            BinaryFunc::Log | BinaryFunc::TruncTo | BinaryFunc::DivTrunc => UNCONSTRAINED_NUMERIC,
            BinaryFunc::ArrayLength => return Int32.nullable(true),
            BinaryFunc::Age => Interval,
            BinaryFunc::AddTimestampTzIntervalIn(_) | BinaryFunc::SubTimestampTzIntervalIn(_) => {
                TimestampTz
            }
            BinaryFunc::JsonbGetPath => return Jsonb.nullable(true),
            BinaryFunc::JsonbGetPathText => return Text.nullable(true),
            BinaryFunc::JsonbContains
            | BinaryFunc::JsonbExists
            | BinaryFunc::JsonbExistsAny
            | BinaryFunc::JsonbExistsAll => Bool,
            BinaryFunc::BitAnd
            | BinaryFunc::BitOr
            | BinaryFunc::BitXor
            | BinaryFunc::ShiftLeft
            | BinaryFunc::ShiftRight => l,
        };
        let nullable = n || matches!(self, BinaryFunc::JsonbGetText);
        typ.nullable(nullable)
    }
}

impl VariadicFunc {
    /// Whether the function may give another value on every evaluation (Postgres'
    /// `VOLATILE`): never folded into a constant, refused where rows are recomputed
    /// (views, subscriptions).
    pub fn is_volatile(&self) -> bool {
        matches!(
            self,
            VariadicFunc::Random | VariadicFunc::GenRandomUuid | VariadicFunc::ClockTimestamp
        )
    }

    pub fn output_type(&self, inputs: &[ColumnType]) -> ColumnType {
        use ScalarType::*;
        match self {
            VariadicFunc::And | VariadicFunc::Or => Bool.nullable(nullable_if_any(inputs)),
            VariadicFunc::Coalesce => {
                let typ = inputs.first().map(|t| t.scalar_type).unwrap_or(Text);
                typ.nullable(inputs.iter().all(|t| t.nullable))
            }
            VariadicFunc::Greatest | VariadicFunc::Least => {
                let typ = inputs.first().map(|t| t.scalar_type).unwrap_or(Text);
                typ.nullable(inputs.iter().all(|t| t.nullable))
            }
            VariadicFunc::Concat => Text.nullable(false),
            VariadicFunc::Substring
            | VariadicFunc::Replace
            | VariadicFunc::SplitPart
            | VariadicFunc::Lpad
            | VariadicFunc::Rpad => Text.nullable(nullable_if_any(inputs)),
            VariadicFunc::ArrayCreate { elem_type } => {
                elem_type.array_type().unwrap_or(TextArray).nullable(false)
            }
            VariadicFunc::ArrayToString => Text.nullable(inputs.iter().take(2).any(|t| t.nullable)),
            VariadicFunc::StringToArray => {
                TextArray.nullable(inputs.first().is_none_or(|t| t.nullable))
            }
            VariadicFunc::FormatType => Text.nullable(inputs.first().is_none_or(|t| t.nullable)),
            VariadicFunc::EqAny => Bool.nullable(true),
            VariadicFunc::JsonbBuildObject | VariadicFunc::JsonbBuildArray => Jsonb.nullable(false),
            VariadicFunc::Random => Float64.nullable(false),
            VariadicFunc::GenRandomUuid => Uuid.nullable(false),
            VariadicFunc::ClockTimestamp => TimestampTz.nullable(false),
            VariadicFunc::ArrayCat => {
                let typ = inputs.first().map(|t| t.scalar_type).unwrap_or(TextArray);
                typ.nullable(inputs.iter().all(|t| t.nullable))
            }
            VariadicFunc::DateBin => {
                let typ = inputs.get(1).map(|t| t.scalar_type).unwrap_or(Timestamp);
                typ.nullable(nullable_if_any(inputs))
            }
            VariadicFunc::RegexpReplace | VariadicFunc::Translate => {
                Text.nullable(nullable_if_any(inputs))
            }
            VariadicFunc::RegexpMatch => TextArray.nullable(true),
            VariadicFunc::RegexpSplitToArray => TextArray.nullable(nullable_if_any(inputs)),
            VariadicFunc::Format => Text.nullable(inputs.first().is_none_or(|t| t.nullable)),
            VariadicFunc::ArrayPosition => Int32.nullable(true),
            VariadicFunc::MakeDate | VariadicFunc::ToDate => Date.nullable(nullable_if_any(inputs)),
            VariadicFunc::MakeTimestamp => Timestamp.nullable(nullable_if_any(inputs)),
            VariadicFunc::MakeInterval => Interval.nullable(nullable_if_any(inputs)),
            VariadicFunc::ToChar | VariadicFunc::ToCharIn(_) => {
                Text.nullable(nullable_if_any(inputs))
            }
            VariadicFunc::ToTimestampFormat => TimestampTz.nullable(nullable_if_any(inputs)),
            VariadicFunc::RecordCreate => Record.nullable(false),
            VariadicFunc::ArraySlice { .. } => {
                let typ = inputs.first().map(|t| t.scalar_type).unwrap_or(TextArray);
                typ.nullable(nullable_if_any(inputs))
            }
        }
    }
}

impl AggregateFunc {
    pub fn output_type(&self, input: ColumnType) -> ColumnType {
        use ScalarType::*;
        match self {
            AggregateFunc::Count => Int64.nullable(false),
            AggregateFunc::Sum => match input.scalar_type {
                Int16 | Int32 => Int64,
                Int64 | Numeric { .. } => UNCONSTRAINED_NUMERIC,
                other => other,
            }
            .nullable(true),
            AggregateFunc::Min | AggregateFunc::Max => input.scalar_type.nullable(true),
            AggregateFunc::BoolAnd | AggregateFunc::BoolOr => Bool.nullable(true),
            AggregateFunc::ArrayAgg => input
                .scalar_type
                .array_type()
                .unwrap_or(TextArray)
                .nullable(true),
            AggregateFunc::StringAgg { .. } => Text.nullable(true),
            AggregateFunc::JsonbAgg => Jsonb.nullable(true),
            AggregateFunc::PercentileCont { .. } => Float64.nullable(true),
            AggregateFunc::PercentileDisc { .. } | AggregateFunc::Mode => {
                input.scalar_type.nullable(true)
            }
        }
    }

    /// An ordered-set aggregate's value over its group's non-NULL values, sorted in
    /// the `WITHIN GROUP` order (`None` for the other aggregates). An out-of-range
    /// fraction is an error even over no values, as in Postgres (the planner already
    /// refuses a constant one).
    pub fn eval_ordered_set(&self, sorted: &[Datum]) -> Option<Result<Datum, EvalError>> {
        let check = |f: &Option<OrdF64>| match f {
            Some(OrdF64(f)) if !(0.0..=1.0).contains(f) => {
                Err(EvalError::PercentileOutOfRange(f.to_string()))
            }
            Some(OrdF64(f)) => Ok(Some(*f)),
            None => Ok(None),
        };
        Some(match self {
            AggregateFunc::PercentileCont { fraction } => check(fraction).map(|f| {
                let Some(f) = f.filter(|_| !sorted.is_empty()) else {
                    return Datum::Null;
                };
                let float = |d: &Datum| match d {
                    Datum::Float64(OrdF64(v)) => *v,
                    _ => f64::NAN,
                };
                // Postgres' arithmetic, step for step, so the float results agree.
                let position = f * (sorted.len() - 1) as f64;
                let (first, second) = (position.floor(), position.ceil());
                let lo = float(&sorted[first as usize]);
                if first == second {
                    return Datum::Float64(OrdF64(lo));
                }
                let hi = float(&sorted[second as usize]);
                Datum::Float64(OrdF64(lo + (hi - lo) * (position - first)))
            }),
            AggregateFunc::PercentileDisc { fraction } => check(fraction).map(|f| {
                let Some(f) = f.filter(|_| !sorted.is_empty()) else {
                    return Datum::Null;
                };
                let row = (f * sorted.len() as f64).ceil() as usize;
                sorted[row.clamp(1, sorted.len()) - 1].clone()
            }),
            AggregateFunc::Mode => {
                let mut best: Option<(&Datum, usize)> = None;
                let mut i = 0;
                while i < sorted.len() {
                    let run = sorted[i..].iter().take_while(|d| **d == sorted[i]).count();
                    if best.is_none_or(|(_, n)| run > n) {
                        best = Some((&sorted[i], run));
                    }
                    i += run;
                }
                Ok(best.map_or(Datum::Null, |(d, _)| d.clone()))
            }
            _ => return None,
        })
    }

    /// Whether the aggregate is one of the ordered sets (`WITHIN GROUP`), which see
    /// only non-NULL values.
    pub fn is_ordered_set(&self) -> bool {
        matches!(
            self,
            AggregateFunc::PercentileCont { .. }
                | AggregateFunc::PercentileDisc { .. }
                | AggregateFunc::Mode
        )
    }

    /// Whether the aggregate needs its group's values (in an order), rather than
    /// folding them into an accumulator: rendered by collecting the group.
    pub fn is_collecting(&self) -> bool {
        matches!(
            self,
            AggregateFunc::ArrayAgg
                | AggregateFunc::StringAgg { .. }
                | AggregateFunc::JsonbAgg
                | AggregateFunc::PercentileCont { .. }
                | AggregateFunc::PercentileDisc { .. }
                | AggregateFunc::Mode
        )
    }

    /// The value over an empty input (`count` is 0, the others NULL).
    pub fn default_datum(&self) -> eddy_repr::Datum {
        match self {
            AggregateFunc::Count => Datum::Int64(0),
            _ => Datum::Null,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            AggregateFunc::Count => "count",
            AggregateFunc::Sum => "sum",
            AggregateFunc::Min => "min",
            AggregateFunc::Max => "max",
            AggregateFunc::BoolAnd => "bool_and",
            AggregateFunc::BoolOr => "bool_or",
            AggregateFunc::ArrayAgg => "array_agg",
            AggregateFunc::StringAgg { .. } => "string_agg",
            AggregateFunc::JsonbAgg => "jsonb_agg",
            AggregateFunc::PercentileCont { .. } => "percentile_cont",
            AggregateFunc::PercentileDisc { .. } => "percentile_disc",
            AggregateFunc::Mode => "mode",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(values: &[f64]) -> Vec<Datum> {
        values.iter().map(|v| Datum::Float64(OrdF64(*v))).collect()
    }

    #[test]
    fn ordered_sets_pick_as_postgres_does() {
        let cont = |f: f64, v: &[f64]| {
            AggregateFunc::PercentileCont {
                fraction: Some(OrdF64(f)),
            }
            .eval_ordered_set(&floats(v))
            .unwrap()
            .unwrap()
        };
        assert_eq!(cont(0.5, &[10.0, 20.0, 40.0]), Datum::Float64(OrdF64(20.0)));
        assert_eq!(
            cont(0.25, &[10.0, 20.0, 40.0]),
            Datum::Float64(OrdF64(15.0))
        );
        assert_eq!(cont(0.5, &[]), Datum::Null);
        let disc = |f: f64, v: &[f64]| {
            AggregateFunc::PercentileDisc {
                fraction: Some(OrdF64(f)),
            }
            .eval_ordered_set(&floats(v))
            .unwrap()
            .unwrap()
        };
        assert_eq!(disc(0.0, &[1.0, 2.0]), Datum::Float64(OrdF64(1.0)));
        assert_eq!(disc(0.5, &[1.0, 2.0]), Datum::Float64(OrdF64(1.0)));
        assert_eq!(disc(0.51, &[1.0, 2.0]), Datum::Float64(OrdF64(2.0)));
        // Ties in frequency go to the first in the sort order.
        let mode = AggregateFunc::Mode.eval_ordered_set(&floats(&[1.0, 2.0, 2.0, 3.0, 3.0]));
        assert_eq!(mode, Some(Ok(Datum::Float64(OrdF64(2.0)))));
        assert!(matches!(
            AggregateFunc::PercentileCont {
                fraction: Some(OrdF64(1.5))
            }
            .eval_ordered_set(&[]),
            Some(Err(EvalError::PercentileOutOfRange(_)))
        ));
    }
}
