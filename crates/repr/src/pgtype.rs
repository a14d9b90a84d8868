//! The Postgres type catalog as Eddy presents it: one [`PgType`] per scalar type and
//! per array of one, with the values `pg_type` shows, and [`format_type`], Postgres'
//! way of printing a type with its modifier.
//!
//! Invariants:
//! - Every [`ScalarType`] has exactly one entry (its [`ScalarType::oid`]), and so does
//!   the array type of each; OIDs are Postgres' own, so drivers that know Postgres'
//!   builtin types know all of Eddy's.
//! - Eddy has no user-defined types: this table is the whole of `pg_type`.

use crate::ScalarType;

/// One row of `pg_type`, reduced to what differs between types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PgType {
    pub oid: u32,
    /// `typname`: `int4`, `_int4`, `varchar`, ...
    pub name: &'static str,
    /// What `format_type(oid, NULL)` prints for a type without a modifier, except
    /// `bpchar` (see [`format_type`]).
    pub display: &'static str,
    pub len: i16,
    pub byval: bool,
    /// `typcategory`: `B` boolean, `N` numeric, `S` string, `D` date/time, `A` array, ...
    pub category: char,
    pub preferred: bool,
    /// `typelem`: the element type of an array type, 0 otherwise.
    pub elem: u32,
    /// `typarray`: the array type of this type, 0 for array types.
    pub array: u32,
    pub align: char,
    pub storage: char,
    /// `typcollation`: 100 (`default`) for collatable string types, 950 (`C`) for
    /// `name`, 0 otherwise.
    pub collation: u32,
}

macro_rules! base {
    ($oid:expr, $name:expr, $display:expr, $len:expr, $byval:expr, $cat:expr, $pref:expr,
     $array:expr, $align:expr, $storage:expr, $coll:expr) => {
        PgType {
            oid: $oid,
            name: $name,
            display: $display,
            len: $len,
            byval: $byval,
            category: $cat,
            preferred: $pref,
            elem: 0,
            array: $array,
            align: $align,
            storage: $storage,
            collation: $coll,
        }
    };
}

macro_rules! array {
    ($oid:expr, $name:expr, $display:expr, $elem:expr, $align:expr, $coll:expr) => {
        PgType {
            oid: $oid,
            name: $name,
            display: $display,
            len: -1,
            byval: false,
            category: 'A',
            preferred: false,
            elem: $elem,
            array: 0,
            align: $align,
            storage: 'x',
            collation: $coll,
        }
    };
}

/// Every type Eddy has, in OID order.
pub const PG_TYPES: &[PgType] = &[
    base!(16, "bool", "boolean", 1, true, 'B', true, 1000, 'c', 'p', 0),
    base!(17, "bytea", "bytea", -1, false, 'U', false, 1001, 'i', 'x', 0),
    base!(18, "char", "\"char\"", 1, true, 'Z', false, 1002, 'c', 'p', 0),
    base!(19, "name", "name", 64, false, 'S', false, 1003, 'c', 'p', 950),
    base!(20, "int8", "bigint", 8, true, 'N', false, 1016, 'd', 'p', 0),
    base!(21, "int2", "smallint", 2, true, 'N', false, 1005, 's', 'p', 0),
    // A vector, not the array type of int2 (that is `_int2`).
    array!(22, "int2vector", "int2vector", 21, 'i', 0),
    base!(23, "int4", "integer", 4, true, 'N', false, 1007, 'i', 'p', 0),
    base!(24, "regproc", "regproc", 4, true, 'N', false, 1008, 'i', 'p', 0),
    base!(25, "text", "text", -1, false, 'S', true, 1009, 'i', 'x', 100),
    base!(26, "oid", "oid", 4, true, 'N', true, 1028, 'i', 'p', 0),
    base!(700, "float4", "real", 4, true, 'N', false, 1021, 'i', 'p', 0),
    base!(
        701,
        "float8",
        "double precision",
        8,
        true,
        'N',
        true,
        1022,
        'd',
        'p',
        0
    ),
    array!(1000, "_bool", "boolean[]", 16, 'i', 0),
    array!(1001, "_bytea", "bytea[]", 17, 'i', 0),
    array!(1002, "_char", "\"char\"[]", 18, 'i', 0),
    array!(1003, "_name", "name[]", 19, 'i', 950),
    array!(1005, "_int2", "smallint[]", 21, 'i', 0),
    array!(1007, "_int4", "integer[]", 23, 'i', 0),
    array!(1008, "_regproc", "regproc[]", 24, 'i', 0),
    array!(1009, "_text", "text[]", 25, 'i', 100),
    array!(1014, "_bpchar", "character[]", 1042, 'i', 100),
    array!(1015, "_varchar", "character varying[]", 1043, 'i', 100),
    array!(1016, "_int8", "bigint[]", 20, 'd', 0),
    array!(1021, "_float4", "real[]", 700, 'i', 0),
    array!(1022, "_float8", "double precision[]", 701, 'd', 0),
    array!(1028, "_oid", "oid[]", 26, 'i', 0),
    base!(
        1042,
        "bpchar",
        "character",
        -1,
        false,
        'S',
        false,
        1014,
        'i',
        'x',
        100
    ),
    base!(
        1043,
        "varchar",
        "character varying",
        -1,
        false,
        'S',
        false,
        1015,
        'i',
        'x',
        100
    ),
    base!(1082, "date", "date", 4, true, 'D', false, 1182, 'i', 'p', 0),
    base!(
        1083,
        "time",
        "time without time zone",
        8,
        true,
        'D',
        false,
        1183,
        'd',
        'p',
        0
    ),
    base!(
        1114,
        "timestamp",
        "timestamp without time zone",
        8,
        true,
        'D',
        false,
        1115,
        'd',
        'p',
        0
    ),
    array!(
        1115,
        "_timestamp",
        "timestamp without time zone[]",
        1114,
        'd',
        0
    ),
    array!(1182, "_date", "date[]", 1082, 'i', 0),
    array!(1183, "_time", "time without time zone[]", 1083, 'd', 0),
    base!(
        1184,
        "timestamptz",
        "timestamp with time zone",
        8,
        true,
        'D',
        true,
        1185,
        'd',
        'p',
        0
    ),
    array!(
        1185,
        "_timestamptz",
        "timestamp with time zone[]",
        1184,
        'd',
        0
    ),
    base!(1186, "interval", "interval", 16, false, 'T', true, 1187, 'd', 'p', 0),
    array!(1187, "_interval", "interval[]", 1186, 'd', 0),
    array!(1231, "_numeric", "numeric[]", 1700, 'i', 0),
    base!(1700, "numeric", "numeric", -1, false, 'N', false, 1231, 'i', 'm', 0),
    base!(2205, "regclass", "regclass", 4, true, 'N', false, 2210, 'i', 'p', 0),
    base!(2206, "regtype", "regtype", 4, true, 'N', false, 2211, 'i', 'p', 0),
    array!(2210, "_regclass", "regclass[]", 2205, 'i', 0),
    array!(2211, "_regtype", "regtype[]", 2206, 'i', 0),
    // The pseudo-type of anonymous composite values.
    base!(2249, "record", "record", -1, false, 'P', false, 2287, 'd', 'x', 0),
    array!(2287, "_record", "record[]", 2249, 'd', 0),
    base!(2950, "uuid", "uuid", 16, false, 'U', false, 2951, 'c', 'p', 0),
    array!(2951, "_uuid", "uuid[]", 2950, 'i', 0),
    base!(3802, "jsonb", "jsonb", -1, false, 'U', false, 3807, 'i', 'x', 0),
    array!(3807, "_jsonb", "jsonb[]", 3802, 'i', 0),
];

/// The type with OID `oid`, if Eddy has it.
pub fn pg_type(oid: u32) -> Option<&'static PgType> {
    PG_TYPES
        .binary_search_by_key(&oid, |t| t.oid)
        .ok()
        .map(|i| &PG_TYPES[i])
}

/// The functions of `pg_proc` that a `regproc` literal may name (`'array_in'::regproc`,
/// as pgjdbc's type queries write it): the input, output, receive and send functions
/// of the array types, which are every array type's (`pg_type.typinput` and the
/// others show them). Eddy lists no functions in `pg_proc`.
pub const ARRAY_FUNCTIONS: [(&str, u32); 4] = [
    ("array_in", 750),
    ("array_out", 751),
    ("array_recv", 2400),
    ("array_send", 2401),
];

/// The oid of the function a `regproc` literal names (`array_in`,
/// `pg_catalog.array_in`), if Eddy knows it.
pub fn regproc_oid(name: &str) -> Option<u32> {
    let name = name.strip_prefix("pg_catalog.").unwrap_or(name);
    ARRAY_FUNCTIONS
        .iter()
        .find(|(f, _)| *f == name)
        .map(|(_, oid)| *oid)
}

/// What Postgres' `format_type(oid, typmod)` prints: the SQL name of the type with its
/// modifier (`numeric(10,2)`, `character varying(40)`), `???` for an unknown OID.
/// `typmod` is `None` when the caller passed NULL. A `bpchar` with a modifier of -1
/// prints as `bpchar` and without one as `character`, as in Postgres.
pub fn format_type(oid: u32, typmod: Option<i32>) -> String {
    let Some(typ) = pg_type(oid) else {
        return "???".to_string();
    };
    let modifier = typmod.filter(|m| *m >= 0);
    match (typ.oid, modifier) {
        (1042, None) if typmod.is_some() => "bpchar".to_string(),
        (1042, Some(m)) => format!("character({})", m - 4),
        (1043, Some(m)) => format!("character varying({})", m - 4),
        (1700, Some(m)) => {
            let m = m - 4;
            format!("numeric({},{})", (m >> 16) & 0xffff, m & 0xffff)
        }
        _ => typ.display.to_string(),
    }
}

impl ScalarType {
    /// The scalar type with this OID, for types that take no modifier; `varchar`,
    /// `bpchar` and `numeric` come back unconstrained.
    pub fn from_oid(oid: u32) -> Option<ScalarType> {
        use ScalarType::*;
        Some(match oid {
            16 => Bool,
            17 => Bytea,
            18 => PgChar,
            19 => Name,
            20 => Int64,
            21 => Int16,
            22 => Int2Vector,
            23 => Int32,
            24 => RegProc,
            25 => Text,
            26 => Oid,
            700 => Float32,
            701 => Float64,
            1000 => BoolArray,
            1005 => Int16Array,
            1007 => Int32Array,
            1016 => Int64Array,
            1009 => TextArray,
            1028 => OidArray,
            1042 => Char { length: None },
            1043 => Varchar { max_length: None },
            1082 => Date,
            1083 => Time,
            1114 => Timestamp,
            1184 => TimestampTz,
            1186 => Interval,
            1700 => Numeric {
                precision: None,
                scale: None,
            },
            2205 => RegClass,
            2206 => RegType,
            2249 => Record,
            2950 => Uuid,
            3802 => Jsonb,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_consistent() {
        assert!(PG_TYPES.windows(2).all(|w| w[0].oid < w[1].oid));
        for t in PG_TYPES {
            if t.elem != 0 && t.name.starts_with('_') {
                let elem = pg_type(t.elem).expect("element type listed");
                assert_eq!(elem.array, t.oid, "{}", t.name);
            }
            if t.array != 0 {
                assert_eq!(pg_type(t.array).expect("array listed").elem, t.oid);
            }
        }
    }

    #[test]
    fn every_scalar_type_is_listed_with_its_sql_name() {
        use ScalarType::*;
        for typ in [
            Bool,
            Int16,
            Int32,
            Int64,
            Float32,
            Float64,
            Text,
            Timestamp,
            TimestampTz,
            Date,
            Time,
            Interval,
            Jsonb,
            Oid,
            Name,
            TextArray,
            Int16Array,
            Int2Vector,
            OidArray,
            BoolArray,
            Int32Array,
            Int64Array,
            RegClass,
            RegType,
            RegProc,
            PgChar,
            Bytea,
            Uuid,
        ] {
            assert_eq!(ScalarType::from_oid(typ.oid()), Some(typ));
            assert_eq!(format_type(typ.oid(), Some(-1)), typ.sql_name(), "{typ:?}");
        }
        let numeric = Numeric {
            precision: Some(10),
            scale: Some(2),
        };
        assert_eq!(format_type(1700, Some(numeric.typmod())), "numeric(10,2)");
        let varchar = Varchar {
            max_length: Some(40),
        };
        assert_eq!(
            format_type(1043, Some(varchar.typmod())),
            "character varying(40)"
        );
        assert_eq!(format_type(1042, Some(7)), "character(3)");
        assert_eq!(format_type(1042, None), "character");
        assert_eq!(format_type(1042, Some(-1)), "bpchar");
        assert_eq!(format_type(1, None), "???");
    }

    /// `ScalarType`'s names and lengths come from this table, for every type.
    #[test]
    fn scalar_types_read_their_names_and_lengths_here() {
        use ScalarType::*;
        let cases = [
            (Bool, "boolean", 1),
            (Int16, "smallint", 2),
            (Int64, "bigint", 8),
            (Name, "name", 64),
            (Interval, "interval", 16),
            (Text, "text", -1),
            (Char { length: None }, "character", -1),
            (Char { length: Some(3) }, "character(3)", -1),
            (Varchar { max_length: None }, "character varying", -1),
            (
                Varchar {
                    max_length: Some(5),
                },
                "character varying(5)",
                -1,
            ),
            (
                Numeric {
                    precision: None,
                    scale: None,
                },
                "numeric",
                -1,
            ),
            (
                Numeric {
                    precision: Some(10),
                    scale: Some(2),
                },
                "numeric(10,2)",
                -1,
            ),
            (Timestamp, "timestamp without time zone", 8),
            (TextArray, "text[]", -1),
        ];
        for (typ, name, len) in cases {
            assert_eq!(typ.sql_name(), name);
            assert_eq!(typ.typlen(), len, "{typ:?}");
        }
    }
}
