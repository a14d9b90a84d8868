//! Eddy's data representation: scalar types, datums, rows, relation descriptions,
//! timestamps and diffs. No I/O happens here.
//!
//! Invariants:
//! - A [`Row`] is a compact, canonical byte encoding of a sequence of [`Datum`]s: two rows
//!   are equal exactly when their datums are equal, so rows can be hashed, ordered and
//!   used as arrangement keys directly. The byte order is *not* SQL order; SQL ordering
//!   compares unpacked datums with [`Datum::sql_cmp`].
//! - Every [`ScalarType`] has one Postgres type OID and one text output format.

pub mod copy;
pub mod datetime_unit;
pub mod datum;
pub mod error;
pub mod numeric;
pub mod pgtype;
pub mod row;
pub mod strconv;
pub mod types;
pub mod zone;

pub use datetime_unit::DateTimeUnit;
pub use datum::{Datum, Interval, OrdF32, OrdF64};
pub use error::{SqlError, SqlState};
pub use numeric::{Numeric, NumericError};
pub use row::Row;
pub use types::{ColumnType, RelationDesc, ScalarType};

/// Logical time: milliseconds handed out by the coordinator's timestamp oracle.
pub type Timestamp = u64;

/// The multiplicity change of an update: `+n` inserts, `-n` retracts.
pub type Diff = i64;

/// Identifies a catalog item (table, view, materialized view, system relation).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum GlobalId {
    /// A user-created item.
    User(u64),
    /// A built-in system relation (pg_catalog, information_schema).
    System(u64),
    /// A transient item, such as the dataflow of a one-off SELECT.
    Transient(u64),
}

impl std::fmt::Display for GlobalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GlobalId::User(id) => write!(f, "u{id}"),
            GlobalId::System(id) => write!(f, "s{id}"),
            GlobalId::Transient(id) => write!(f, "t{id}"),
        }
    }
}
