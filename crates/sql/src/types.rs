//! SQL type names, casts and type promotion, following Postgres.
//!
//! - [`scalar_type`] maps a parsed type name (`int`, `varchar(10)`, `timestamptz`, ...)
//!   to a [`ScalarType`].
//! - [`cast_allowed`] is Postgres' `pg_cast` for the types Eddy has: which casts may
//!   happen implicitly (in expressions), on assignment (INSERT/UPDATE), or only when
//!   written explicitly (`CAST`/`::`).
//! - [`common_type`] picks the type two or more values are brought to before they are
//!   compared, combined in a CASE/UNION/COALESCE, or fed to an arithmetic operator:
//!   `smallint < integer < bigint < numeric < real < double precision`, `date <
//!   timestamp < timestamptz`, every string type to `text`.

use eddy_repr::ScalarType;
use sqlparser::ast::{
    ArrayElemTypeDef, CharacterLength, DataType, ExactNumberInfo, ObjectName, TimezoneInfo,
};

use crate::names::object_name_parts;
use eddy_repr::{SqlError, SqlState};

/// The context a cast happens in, from most to least permissive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CastContext {
    /// Inserted silently inside expressions.
    Implicit,
    /// Storing a value into a column.
    Assignment,
    /// Written by the user.
    Explicit,
}

const UNCONSTRAINED_NUMERIC: ScalarType = ScalarType::Numeric {
    precision: None,
    scale: None,
};

/// Postgres' `NUMERIC` precision limit, checked first for Postgres' message; Eddy's
/// own limit ([`eddy_repr::numeric::NUMERIC_MAX_PRECISION`], 38) comes after it.
const NUMERIC_MAX_PRECISION: u64 = 1000;

/// Maps a parsed type name to a scalar type.
pub fn scalar_type(data_type: &DataType) -> Result<ScalarType, SqlError> {
    use ScalarType::*;
    Ok(match data_type {
        DataType::Bool | DataType::Boolean => Bool,
        DataType::SmallInt(None) | DataType::Int2(None) => Int16,
        DataType::Int(None) | DataType::Integer(None) | DataType::Int4(None) => Int32,
        DataType::BigInt(None) | DataType::Int8(None) => Int64,
        DataType::Real | DataType::Float4 => Float32,
        DataType::DoublePrecision | DataType::Float8 => Float64,
        DataType::Double(ExactNumberInfo::None) => Float64,
        DataType::Float(info) => match info {
            ExactNumberInfo::None => Float64,
            ExactNumberInfo::Precision(p) if (1..=24).contains(p) => Float32,
            ExactNumberInfo::Precision(p) if (25..=53).contains(p) => Float64,
            ExactNumberInfo::Precision(p) => {
                return Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("precision for type float must be between 1 and 53, not {p}"),
                ))
            }
            ExactNumberInfo::PrecisionAndScale(..) => return Err(type_syntax(data_type)),
        },
        DataType::Numeric(info) | DataType::Decimal(info) | DataType::Dec(info) => {
            numeric_type(info)?
        }
        DataType::Text => Text,
        DataType::Varchar(len) | DataType::CharacterVarying(len) | DataType::CharVarying(len) => {
            Varchar {
                max_length: char_length(len, data_type)?,
            }
        }
        DataType::Char(len) | DataType::Character(len) => Char {
            // `char` without a length is `char(1)`.
            length: Some(char_length(len, data_type)?.unwrap_or(1)),
        },
        DataType::Timestamp(_, tz) => match tz {
            TimezoneInfo::None | TimezoneInfo::WithoutTimeZone => Timestamp,
            TimezoneInfo::WithTimeZone | TimezoneInfo::Tz => TimestampTz,
        },
        DataType::Date => Date,
        DataType::Time(_, tz) => match tz {
            TimezoneInfo::None | TimezoneInfo::WithoutTimeZone => Time,
            TimezoneInfo::WithTimeZone | TimezoneInfo::Tz => {
                return Err(SqlError::unsupported("type time with time zone"))
            }
        },
        DataType::Interval { fields: None, .. } => Interval,
        DataType::Interval { .. } => return Err(SqlError::unsupported_plural("interval fields")),
        DataType::JSONB => Jsonb,
        DataType::JSON => {
            return Err(SqlError::unsupported("type json").with_hint("Use jsonb instead."))
        }
        DataType::Bytea => Bytea,
        DataType::Uuid => Uuid,
        DataType::Regclass => RegClass,
        DataType::Array(ArrayElemTypeDef::SquareBracket(elem, None))
        | DataType::Array(ArrayElemTypeDef::AngleBracket(elem)) => match scalar_type(elem)? {
            Text | Varchar { .. } | Name => TextArray,
            Int16 => Int16Array,
            Oid => OidArray,
            Bool => BoolArray,
            Int32 => Int32Array,
            Int64 => Int64Array,
            other => {
                return Err(SqlError::unsupported(format!(
                    "type {}[]",
                    other.sql_name()
                )))
            }
        },
        DataType::Custom(name, modifiers) => custom_type(name, modifiers)?,
        other => return Err(undefined_type(&other.to_string().to_lowercase())),
    })
}

fn undefined_type(name: &str) -> SqlError {
    SqlError::new(
        SqlState::UNDEFINED_OBJECT,
        format!("type \"{name}\" does not exist"),
    )
}

fn type_syntax(data_type: &DataType) -> SqlError {
    SqlError::syntax(format!("invalid type modifier for type {data_type}"))
}

fn char_length(len: &Option<CharacterLength>, dt: &DataType) -> Result<Option<u32>, SqlError> {
    match len {
        None => Ok(None),
        Some(CharacterLength::IntegerLength { length, .. }) => {
            if *length == 0 || *length > 10_485_760 {
                return Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("length for type {dt} must be at least 1"),
                ));
            }
            Ok(Some(*length as u32))
        }
        Some(CharacterLength::Max) => Err(type_syntax(dt)),
    }
}

fn numeric_type(info: &ExactNumberInfo) -> Result<ScalarType, SqlError> {
    let (p, s) = match info {
        ExactNumberInfo::None => return Ok(UNCONSTRAINED_NUMERIC),
        ExactNumberInfo::Precision(p) => (*p, 0i64),
        ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s),
    };
    if !(1..=NUMERIC_MAX_PRECISION).contains(&p) {
        return Err(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("NUMERIC precision {p} must be between 1 and {NUMERIC_MAX_PRECISION}"),
        ));
    }
    if s < 0 || s as u64 > p {
        return Err(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("NUMERIC scale {s} must be between 0 and precision {p}"),
        ));
    }
    if p > u64::from(eddy_repr::numeric::NUMERIC_MAX_PRECISION) {
        return Err(SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!(
                "NUMERIC precision {p} is beyond Eddy's limit of {}",
                eddy_repr::numeric::NUMERIC_MAX_PRECISION
            ),
        )
        .with_hint("Use numeric without a precision, which holds 38 digits."));
    }
    Ok(ScalarType::Numeric {
        precision: Some(p as u8),
        scale: Some(s as u8),
    })
}

/// Type names `sqlparser` does not know and leaves as custom names (`int4`,
/// `timestamptz`, `"char"`, `pg_catalog.text`, ...).
fn custom_type(name: &ObjectName, modifiers: &[String]) -> Result<ScalarType, SqlError> {
    use ScalarType::*;
    let parts = object_name_parts(name)?;
    let (schema, type_name) = match parts.as_slice() {
        [name] => (None, name.as_str()),
        [schema, name] => (Some(schema.as_str()), name.as_str()),
        _ => return Err(undefined_type(&name.to_string())),
    };
    if schema.is_some_and(|s| s != "pg_catalog") {
        return Err(undefined_type(&name.to_string()));
    }
    let modifier = |i: usize| -> Result<Option<u32>, SqlError> {
        match modifiers.get(i) {
            None => Ok(None),
            Some(m) => m
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| SqlError::syntax(format!("invalid type modifier \"{m}\""))),
        }
    };
    let no_modifiers = || -> Result<(), SqlError> {
        if modifiers.is_empty() {
            Ok(())
        } else {
            Err(SqlError::syntax(format!(
                "type modifier is not allowed for type \"{type_name}\""
            )))
        }
    };
    let typ = match type_name {
        "bool" => Bool,
        "int2" => Int16,
        "int4" => Int32,
        "int8" => Int64,
        "float4" => Float32,
        "float8" => Float64,
        "numeric" | "decimal" => numeric_type(&match (modifier(0)?, modifier(1)) {
            (None, _) => ExactNumberInfo::None,
            (Some(p), Ok(None)) => ExactNumberInfo::Precision(p as u64),
            (Some(p), Ok(Some(s))) => ExactNumberInfo::PrecisionAndScale(p as u64, s as i64),
            (Some(p), Err(_)) => ExactNumberInfo::PrecisionAndScale(p as u64, 0),
        })?,
        "text" => Text,
        "varchar" => Varchar {
            max_length: modifier(0)?,
        },
        "bpchar" => Char {
            length: modifier(0)?,
        },
        "char"
            if name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .and_then(|i| i.quote_style)
                == Some('"') =>
        {
            PgChar
        }
        "name" => Name,
        "oid" => Oid,
        "regclass" => RegClass,
        "regtype" => RegType,
        "regproc" => RegProc,
        "jsonb" => Jsonb,
        "timestamptz" => TimestampTz,
        "bytea" => Bytea,
        "uuid" => Uuid,
        "int2vector" => Int2Vector,
        "serial" | "serial4" | "bigserial" | "serial8" | "smallserial" | "serial2" => {
            return Err(SqlError::unsupported(format!("type {type_name}")))
        }
        "json" => return Err(SqlError::unsupported("type json").with_hint("Use jsonb instead.")),
        "timetz" => return Err(SqlError::unsupported("type time with time zone")),
        _ => return Err(undefined_type(type_name)),
    };
    if !matches!(typ, Numeric { .. } | Varchar { .. } | Char { .. }) {
        no_modifiers()?;
    }
    Ok(typ)
}

/// The name Postgres uses for a type in `pg_type` (`int4`, `varchar`, `timestamptz`),
/// which is also what an output column made by a cast of a constant is called.
pub fn internal_name(typ: &ScalarType) -> &'static str {
    use ScalarType::*;
    match typ {
        Bool => "bool",
        Int16 => "int2",
        Int32 => "int4",
        Int64 => "int8",
        Float32 => "float4",
        Float64 => "float8",
        Numeric { .. } => "numeric",
        Text => "text",
        Varchar { .. } => "varchar",
        Char { .. } => "bpchar",
        Timestamp => "timestamp",
        TimestampTz => "timestamptz",
        Date => "date",
        Time => "time",
        Interval => "interval",
        Jsonb => "jsonb",
        Oid => "oid",
        Name => "name",
        TextArray => "_text",
        Int16Array => "_int2",
        Int2Vector => "int2vector",
        BoolArray => "_bool",
        Int32Array => "_int4",
        Int64Array => "_int8",
        OidArray => "_oid",
        RegClass => "regclass",
        RegType => "regtype",
        RegProc => "regproc",
        PgChar => "char",
        Bytea => "bytea",
        Uuid => "uuid",
        Record => "record",
    }
}

/// The position of a number type in Postgres' implicit promotion order.
fn numeric_rank(typ: &ScalarType) -> Option<u8> {
    use ScalarType::*;
    match typ {
        Int16 => Some(0),
        Int32 => Some(1),
        Int64 => Some(2),
        Numeric { .. } => Some(3),
        Float32 => Some(4),
        Float64 => Some(5),
        _ => None,
    }
}

fn datetime_rank(typ: &ScalarType) -> Option<u8> {
    use ScalarType::*;
    match typ {
        Date => Some(0),
        Timestamp => Some(1),
        TimestampTz => Some(2),
        _ => None,
    }
}

fn is_oid_like(typ: &ScalarType) -> bool {
    use ScalarType::*;
    matches!(typ, Oid | RegClass | RegType | RegProc)
}

/// Whether two types are the same once modifiers are ignored.
pub fn same_base(a: &ScalarType, b: &ScalarType) -> bool {
    a.without_modifiers() == b.without_modifiers()
}

/// Whether a value of type `from` may be cast to `to` in `context`.
pub fn cast_allowed(from: &ScalarType, to: &ScalarType, context: CastContext) -> bool {
    use CastContext::*;
    use ScalarType::*;
    if same_base(from, to) {
        return true;
    }
    let needed = match (from, to) {
        // An array casts element by element.
        (from, to) if from.is_array() && to.is_array() => {
            return match (from.array_element(), to.array_element()) {
                (Some(f), Some(t)) => cast_allowed(&f, &t, context),
                _ => false,
            };
        }
        _ if numeric_rank(from).is_some() && numeric_rank(to).is_some() => {
            if numeric_rank(to) > numeric_rank(from) {
                Implicit
            } else {
                Assignment
            }
        }
        _ if from.is_string() && to.is_string() => Implicit,
        // Postgres' automatic I/O conversion casts: anything to a string type on
        // assignment, a string to anything when written out.
        (_, to) if to.is_string() => Assignment,
        (from, _) if from.is_string() => Explicit,
        _ if datetime_rank(from).is_some() && datetime_rank(to).is_some() => {
            if datetime_rank(to) > datetime_rank(from) {
                Implicit
            } else {
                Assignment
            }
        }
        (Timestamp | TimestampTz, Time) => Assignment,
        (Bool, Int32) | (Int32, Bool) => Explicit,
        (Jsonb, Bool | Int16 | Int32 | Int64 | Float32 | Float64 | Numeric { .. }) => Explicit,
        (Int16 | Int32 | Int64, to) if is_oid_like(to) => Implicit,
        (from, Int32 | Int64) if is_oid_like(from) => Assignment,
        (from, to) if is_oid_like(from) && is_oid_like(to) => Implicit,
        _ => return false,
    };
    context >= needed
}

/// The type values of types `a` and `b` are brought to when they meet (in a
/// comparison, CASE, UNION, COALESCE, ...), if they can meet without an explicit cast.
/// Modifiers are dropped when the base types differ.
pub fn common_type(a: &ScalarType, b: &ScalarType) -> Option<ScalarType> {
    use ScalarType::*;
    if a == b {
        return Some(*a);
    }
    if same_base(a, b) {
        return Some(a.without_modifiers());
    }
    if let (Some(ra), Some(rb)) = (numeric_rank(a), numeric_rank(b)) {
        // Postgres has no `integer + real` operator: mixed integer/float arithmetic
        // happens in double precision, as does numeric with a float.
        let hi = ra.max(rb);
        return Some(match hi {
            0 => Int16,
            1 => Int32,
            2 => Int64,
            3 => UNCONSTRAINED_NUMERIC,
            4 if ra == rb => Float32,
            _ => Float64,
        });
    }
    if a.is_string() && b.is_string() {
        return Some(Text);
    }
    if let (Some(ra), Some(rb)) = (datetime_rank(a), datetime_rank(b)) {
        return Some(if ra > rb { *a } else { *b });
    }
    if is_oid_like(a) && is_oid_like(b) {
        return Some(Oid);
    }
    // Integers cast implicitly to oid (`relowner = 10`).
    let is_int = |t: &ScalarType| matches!(t, Int16 | Int32 | Int64);
    if (is_oid_like(a) && is_int(b)) || (is_int(a) && is_oid_like(b)) {
        return Some(Oid);
    }
    None
}

/// The type an unknown-typed literal takes when it meets a value of type `other` (in a
/// comparison or a CASE): `other` without modifiers, with `varchar` and `name` read as
/// `text` (Postgres compares them with text's operators).
pub fn unknown_meets(other: &ScalarType) -> ScalarType {
    match other {
        ScalarType::Varchar { .. } | ScalarType::Name => ScalarType::Text,
        other => other.without_modifiers(),
    }
}

pub fn is_float(typ: &ScalarType) -> bool {
    matches!(typ, ScalarType::Float32 | ScalarType::Float64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ScalarType::*;

    #[test]
    fn promotion_follows_postgres() {
        assert_eq!(common_type(&Int16, &Int32), Some(Int32));
        assert_eq!(common_type(&Int32, &Float32), Some(Float64));
        assert_eq!(common_type(&Float32, &Float32), Some(Float32));
        assert_eq!(
            common_type(&Int64, &UNCONSTRAINED_NUMERIC),
            Some(UNCONSTRAINED_NUMERIC)
        );
        assert_eq!(common_type(&Date, &TimestampTz), Some(TimestampTz));
        assert_eq!(
            common_type(
                &Varchar {
                    max_length: Some(3)
                },
                &Text
            ),
            Some(Text)
        );
        assert_eq!(common_type(&Int32, &Bool), None);
    }

    #[test]
    fn cast_contexts_follow_pg_cast() {
        assert!(cast_allowed(&Int32, &Int64, CastContext::Implicit));
        assert!(!cast_allowed(&Int64, &Int32, CastContext::Implicit));
        assert!(cast_allowed(&Int64, &Int32, CastContext::Assignment));
        assert!(!cast_allowed(&Bool, &Int32, CastContext::Assignment));
        assert!(cast_allowed(&Bool, &Int32, CastContext::Explicit));
        assert!(cast_allowed(&Int32, &Text, CastContext::Assignment));
        assert!(!cast_allowed(&Text, &Int32, CastContext::Assignment));
        assert!(cast_allowed(&Text, &Date, CastContext::Explicit));
        assert!(!cast_allowed(&Bool, &Date, CastContext::Explicit));
        assert!(cast_allowed(&TimestampTz, &Date, CastContext::Assignment));
    }
}
