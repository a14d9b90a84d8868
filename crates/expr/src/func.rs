//! Scalar and aggregate functions: what exists, how each is typed. Evaluation lives in
//! `eval.rs`; both dispatch on these enums.
//!
//! Functions are generic over their argument types at run time (`Add` adds two
//! `integer`s or two `numeric`s); the planner guarantees both sides already have the
//! same type, inserting casts where Postgres would.

use eddy_repr::{ColumnType, ScalarType};
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
    /// `extract(field from x)` / `date_part`; `field` is lowercase (`year`, `epoch`, ...).
    /// Returns numeric for `extract`, as in Postgres 14+.
    Extract(String),
    /// `date_part(field, x)`: like `extract` but returns double precision.
    DatePart(String),
    /// `date_trunc(unit, x)`; `unit` is lowercase.
    DateTrunc(String),
    /// `jsonb_typeof(x)`.
    JsonbTypeof,
    /// `md5(text)` as lowercase hex.
    Md5,
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
}

fn nullable_if_any(inputs: &[ColumnType]) -> bool {
    inputs.iter().any(|t| t.nullable)
}

const UNCONSTRAINED_NUMERIC: ScalarType = ScalarType::Numeric {
    precision: None,
    scale: None,
};

impl UnaryFunc {
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
            | UnaryFunc::Md5 => Text,
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
            UnaryFunc::JsonbTypeof => Text,
        };
        typ.nullable(n)
    }
}

impl BinaryFunc {
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
        };
        let nullable = n || matches!(self, BinaryFunc::JsonbGetText);
        typ.nullable(nullable)
    }
}

impl VariadicFunc {
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
        }
    }

    /// The value over an empty input (`count` is 0, the others NULL).
    pub fn default_datum(&self) -> eddy_repr::Datum {
        match self {
            AggregateFunc::Count => eddy_repr::Datum::Int64(0),
            _ => eddy_repr::Datum::Null,
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
        }
    }
}
