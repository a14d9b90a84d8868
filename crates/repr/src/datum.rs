//! [`Datum`]: one SQL value, owned.

use std::cmp::Ordering;

use crate::ScalarType;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::numeric::Numeric;

/// A `real` with a total order (NaN sorts after every other value, as in Postgres) and
/// `-0.0` equal to `0.0`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct OrdF32(pub f32);

/// A `double precision` with a total order (NaN last, `-0.0 == 0.0`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct OrdF64(pub f64);

macro_rules! ord_float {
    ($name:ident, $bits:ty) => {
        impl $name {
            /// The bit pattern used for equality and hashing: one NaN, one zero.
            pub fn canonical_bits(&self) -> $bits {
                if self.0.is_nan() {
                    <$bits>::MAX
                } else if self.0 == 0.0 {
                    0
                } else {
                    self.0.to_bits()
                }
            }
        }
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.canonical_bits() == other.canonical_bits()
            }
        }
        impl Eq for $name {}
        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for $name {
            fn cmp(&self, other: &Self) -> Ordering {
                match (self.0.is_nan(), other.0.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal),
                }
            }
        }
        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.canonical_bits().hash(state)
            }
        }
    };
}
ord_float!(OrdF32, u32);
ord_float!(OrdF64, u64);

/// A Postgres `interval`: months, days and microseconds kept apart, as Postgres does.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

impl Interval {
    /// The span in microseconds with Postgres' conventions (a month is 30 days, a day
    /// 24 hours), used to compare and order intervals.
    pub fn as_micros_approx(&self) -> i128 {
        const DAY: i128 = 86_400_000_000;
        (self.months as i128 * 30 + self.days as i128) * DAY + self.micros as i128
    }

    /// The exact span in microseconds of an interval without months (a day counts 24
    /// hours, as `date_bin` and window sizes read it): `None` when it holds months or
    /// years, whose length varies, or when it does not fit.
    pub fn fixed_micros(&self) -> Option<i64> {
        if self.months != 0 {
            return None;
        }
        i64::from(self.days)
            .checked_mul(86_400_000_000)
            .and_then(|days| days.checked_add(self.micros))
    }
}

/// One SQL value.
///
/// Strings of every string type (text, varchar, char, name) are `String`; jsonb is kept
/// as its canonical text (keys ordered as Postgres orders them); the oid-like types
/// (oid, regclass, regtype, regproc) are `Oid`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Datum {
    Null,
    Bool(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(OrdF32),
    Float64(OrdF64),
    Numeric(Numeric),
    String(String),
    Timestamp(NaiveDateTime),
    TimestampTz(DateTime<Utc>),
    Date(NaiveDate),
    Time(NaiveTime),
    Interval(Interval),
    Jsonb(String),
    Oid(u32),
    Bytes(Vec<u8>),
    Uuid([u8; 16]),
    /// A one-dimensional array (elements may be NULL).
    Array(Vec<Datum>),
    /// A composite value (`record`): its fields in order (each may be NULL). The names
    /// and types of the fields are known to the planner, not carried here.
    Record(Vec<Datum>),
}

impl Datum {
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// `Some(b)` for a boolean, `None` for NULL. Panics on other datums: the planner
    /// guarantees predicates are boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Datum::Bool(b) => Some(*b),
            Datum::Null => None,
            other => panic!("as_bool on {other:?}"),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Datum::String(s) | Datum::Jsonb(s) => Some(s),
            _ => None,
        }
    }

    /// Compares two non-NULL datums of the same (or a comparable) type in SQL order.
    /// NULL sorts after every other value, as in Postgres' default `ASC NULLS LAST`.
    pub fn sql_cmp(&self, other: &Datum) -> Ordering {
        use Datum::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Greater,
            (_, Null) => Ordering::Less,
            (Interval(a), Interval(b)) => a
                .as_micros_approx()
                .cmp(&b.as_micros_approx())
                .then_with(|| a.cmp(b)),
            (Float32(a), Float32(b)) => a.cmp(b),
            (Float64(a), Float64(b)) => a.cmp(b),
            (Int16(_) | Int32(_) | Int64(_), Int16(_) | Int32(_) | Int64(_)) => {
                self.as_i64_lossless().cmp(&other.as_i64_lossless())
            }
            (Numeric(a), Numeric(b)) => a.cmp(b),
            (Record(a), Record(b)) => a
                .iter()
                .zip(b)
                .map(|(x, y)| x.sql_cmp(y))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| a.len().cmp(&b.len())),
            _ => self.cmp(other),
        }
    }

    /// The type a value of this variant has when nothing else says (a bound
    /// parameter's datum, the fields of a record): `text` for strings, `numeric`
    /// unconstrained, an array by its first non-NULL element. `None` for NULL and for
    /// an array whose elements do not tell.
    pub fn natural_type(&self) -> Option<ScalarType> {
        Some(match self {
            Datum::Null => return None,
            Datum::String(_) => ScalarType::Text,
            Datum::Bool(_) => ScalarType::Bool,
            Datum::Int16(_) => ScalarType::Int16,
            Datum::Int32(_) => ScalarType::Int32,
            Datum::Int64(_) => ScalarType::Int64,
            Datum::Float32(_) => ScalarType::Float32,
            Datum::Float64(_) => ScalarType::Float64,
            Datum::Numeric(_) => ScalarType::Numeric {
                precision: None,
                scale: None,
            },
            Datum::Timestamp(_) => ScalarType::Timestamp,
            Datum::TimestampTz(_) => ScalarType::TimestampTz,
            Datum::Date(_) => ScalarType::Date,
            Datum::Time(_) => ScalarType::Time,
            Datum::Interval(_) => ScalarType::Interval,
            Datum::Jsonb(_) => ScalarType::Jsonb,
            Datum::Oid(_) => ScalarType::Oid,
            Datum::Bytes(_) => ScalarType::Bytea,
            Datum::Uuid(_) => ScalarType::Uuid,
            Datum::Record(_) => ScalarType::Record,
            Datum::Array(elems) => return elems.iter().find_map(Datum::natural_type)?.array_type(),
        })
    }

    fn as_i64_lossless(&self) -> i64 {
        match self {
            Datum::Int16(v) => *v as i64,
            Datum::Int32(v) => *v as i64,
            Datum::Int64(v) => *v,
            _ => 0,
        }
    }
}

impl From<bool> for Datum {
    fn from(b: bool) -> Self {
        Datum::Bool(b)
    }
}
impl From<i16> for Datum {
    fn from(v: i16) -> Self {
        Datum::Int16(v)
    }
}
impl From<i32> for Datum {
    fn from(v: i32) -> Self {
        Datum::Int32(v)
    }
}
impl From<i64> for Datum {
    fn from(v: i64) -> Self {
        Datum::Int64(v)
    }
}
impl From<f64> for Datum {
    fn from(v: f64) -> Self {
        Datum::Float64(OrdF64(v))
    }
}
impl From<Numeric> for Datum {
    fn from(v: Numeric) -> Self {
        Datum::Numeric(v)
    }
}
impl From<&str> for Datum {
    fn from(v: &str) -> Self {
        Datum::String(v.to_string())
    }
}
impl From<String> for Datum {
    fn from(v: String) -> Self {
        Datum::String(v)
    }
}
impl<T: Into<Datum>> From<Option<T>> for Datum {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Datum::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A numeric (a 24-byte fixed-size decimal) fits beside a `String`: a datum stays
    /// 32 bytes, as it was with the earlier 16-byte numeric.
    #[test]
    fn a_datum_is_32_bytes() {
        assert_eq!(std::mem::size_of::<crate::Numeric>(), 24);
        assert_eq!(std::mem::size_of::<Datum>(), 32);
    }

    #[test]
    fn numerics_compare_by_value_with_nan_last() {
        let n = |s: &str| Datum::Numeric(s.parse().unwrap());
        assert_eq!(n("1.50"), n("1.5"));
        assert_eq!(n("NaN"), n("nan"));
        assert!(n("NaN")
            .sql_cmp(&n("99999999999999999999999999999999999999"))
            .is_gt());
        assert!(n("NaN").sql_cmp(&Datum::Null).is_lt());
    }
}
