//! SQL scalar types, column types and relation descriptions, with their Postgres OIDs.

use serde::{Deserialize, Serialize};

/// The type of a single SQL value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScalarType {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// `numeric(precision, scale)`; `None` for an unconstrained `numeric`.
    Numeric {
        precision: Option<u8>,
        scale: Option<u8>,
    },
    Text,
    /// `varchar(n)`; `None` for an unbounded `varchar`.
    Varchar {
        max_length: Option<u32>,
    },
    /// `char(n)` (bpchar).
    Char {
        length: Option<u32>,
    },
    Timestamp,
    TimestampTz,
    Date,
    Time,
    Interval,
    Jsonb,
    /// Postgres object identifiers (used by pg_catalog).
    Oid,
    /// The `name` type of pg_catalog (a 63-byte identifier, shown as text).
    Name,
    /// A one-dimensional array of text values, shown in Postgres array syntax.
    TextArray,
    /// A one-dimensional array of int2.
    Int16Array,
    /// `int2vector`, the catalogs' list of column numbers (`pg_index.indkey`): an
    /// array of int2 that prints space-separated (`1 3`), as drivers that read the
    /// catalogs (SQLAlchemy over psycopg2) expect.
    Int2Vector,
    /// A one-dimensional array of oids.
    OidArray,
    /// One-dimensional arrays of booleans, integers and bigints.
    BoolArray,
    Int32Array,
    Int64Array,
    /// `regclass`, `regtype`, `regproc`: OIDs shown by name.
    RegClass,
    RegType,
    RegProc,
    /// `"char"`, the one-byte catalog type.
    PgChar,
    Bytea,
    Uuid,
    /// `record`: a composite value (`Datum::Record`). The type carries no field names
    /// or types; the planner knows them where a query names a field.
    Record,
}

impl ScalarType {
    /// The element type of an array type (Eddy's arrays have one dimension).
    pub fn array_element(&self) -> Option<ScalarType> {
        Some(match self {
            ScalarType::TextArray => ScalarType::Text,
            ScalarType::Int16Array | ScalarType::Int2Vector => ScalarType::Int16,
            ScalarType::OidArray => ScalarType::Oid,
            ScalarType::BoolArray => ScalarType::Bool,
            ScalarType::Int32Array => ScalarType::Int32,
            ScalarType::Int64Array => ScalarType::Int64,
            _ => return None,
        })
    }

    /// The array type whose elements have this type, if Eddy has one (string types
    /// share `text[]`).
    pub fn array_type(&self) -> Option<ScalarType> {
        match self {
            t if t.is_string() => Some(ScalarType::TextArray),
            ScalarType::PgChar => Some(ScalarType::TextArray),
            ScalarType::Int16 => Some(ScalarType::Int16Array),
            ScalarType::Oid => Some(ScalarType::OidArray),
            ScalarType::Bool => Some(ScalarType::BoolArray),
            ScalarType::Int32 => Some(ScalarType::Int32Array),
            ScalarType::Int64 => Some(ScalarType::Int64Array),
            _ => None,
        }
    }

    pub fn is_array(&self) -> bool {
        self.array_element().is_some()
    }

    /// The Postgres type OID, as reported in row descriptions.
    pub fn oid(&self) -> u32 {
        match self {
            ScalarType::Bool => 16,
            ScalarType::Bytea => 17,
            ScalarType::PgChar => 18,
            ScalarType::Name => 19,
            ScalarType::Int64 => 20,
            ScalarType::Int16 => 21,
            ScalarType::Int2Vector => 22,
            ScalarType::Int32 => 23,
            ScalarType::RegProc => 24,
            ScalarType::Text => 25,
            ScalarType::Oid => 26,
            ScalarType::Jsonb => 3802,
            ScalarType::Float32 => 700,
            ScalarType::Float64 => 701,
            ScalarType::BoolArray => 1000,
            ScalarType::Int16Array => 1005,
            ScalarType::Int32Array => 1007,
            ScalarType::Int64Array => 1016,
            ScalarType::TextArray => 1009,
            ScalarType::OidArray => 1028,
            ScalarType::Char { .. } => 1042,
            ScalarType::Varchar { .. } => 1043,
            ScalarType::Date => 1082,
            ScalarType::Time => 1083,
            ScalarType::Timestamp => 1114,
            ScalarType::TimestampTz => 1184,
            ScalarType::Interval => 1186,
            ScalarType::Numeric { .. } => 1700,
            ScalarType::RegClass => 2205,
            ScalarType::RegType => 2206,
            ScalarType::Record => 2249,
            ScalarType::Uuid => 2950,
        }
    }

    /// The name Postgres' `format_type` prints, including modifiers.
    pub fn sql_name(&self) -> String {
        let typmod = Some(self.typmod()).filter(|m| *m >= 0);
        crate::pgtype::format_type(self.oid(), typmod)
    }

    /// The Postgres `typlen` (byte length, or -1 for variable length).
    pub fn typlen(&self) -> i16 {
        crate::pgtype::pg_type(self.oid())
            .map(|t| t.len)
            .expect("every scalar type is in the pg_type table")
    }

    /// The Postgres `atttypmod` for this type (-1 when it has no modifier).
    pub fn typmod(&self) -> i32 {
        match self {
            ScalarType::Numeric {
                precision: Some(p),
                scale,
            } => (((*p as i32) << 16) | scale.unwrap_or(0) as i32) + 4,
            ScalarType::Varchar {
                max_length: Some(n),
            } => *n as i32 + 4,
            ScalarType::Char { length: Some(n) } => *n as i32 + 4,
            _ => -1,
        }
    }

    /// True for types whose values are strings (text, varchar, char, name).
    pub fn is_string(&self) -> bool {
        matches!(
            self,
            ScalarType::Text
                | ScalarType::Varchar { .. }
                | ScalarType::Char { .. }
                | ScalarType::Name
        )
    }

    /// True for the exact and approximate number types.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            ScalarType::Int16
                | ScalarType::Int32
                | ScalarType::Int64
                | ScalarType::Float32
                | ScalarType::Float64
                | ScalarType::Numeric { .. }
        )
    }

    /// The same type without modifiers (for comparing types in type checking).
    pub fn without_modifiers(&self) -> ScalarType {
        match self {
            ScalarType::Numeric { .. } => ScalarType::Numeric {
                precision: None,
                scale: None,
            },
            ScalarType::Varchar { .. } => ScalarType::Varchar { max_length: None },
            ScalarType::Char { .. } => ScalarType::Char { length: None },
            other => *other,
        }
    }

    /// A column of this type, nullable.
    pub fn nullable(self, nullable: bool) -> ColumnType {
        ColumnType {
            scalar_type: self,
            nullable,
        }
    }
}

/// The type of a column: its scalar type and whether it may hold NULL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ColumnType {
    pub scalar_type: ScalarType,
    pub nullable: bool,
}

/// Column names and types of a relation.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RelationDesc {
    pub names: Vec<String>,
    pub types: Vec<ColumnType>,
}

impl RelationDesc {
    pub fn new(names: Vec<String>, types: Vec<ColumnType>) -> Self {
        assert_eq!(names.len(), types.len(), "one name per column");
        RelationDesc { names, types }
    }

    pub fn empty() -> Self {
        RelationDesc::default()
    }

    pub fn with_column(mut self, name: impl Into<String>, typ: ColumnType) -> Self {
        self.names.push(name.into());
        self.types.push(typ);
        self
    }

    pub fn arity(&self) -> usize {
        self.types.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &ColumnType)> {
        self.names.iter().zip(self.types.iter())
    }

    /// The position of the column called `name`, if there is exactly one.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}
