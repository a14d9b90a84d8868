//! `information_schema`: the SQL standard's views of the catalog, as Postgres 15 fills
//! them for the relations and columns here. `*_catalog` columns name the database
//! [`DATABASE_NAME`]; yes/no columns hold `YES` and `NO`.
//!
//! Invariants, as in Postgres: materialized views are in neither `tables` nor
//! `columns`; a NOT NULL column of a user table is a CHECK constraint in
//! `table_constraints`; only user tables are insertable and updatable.

use eddy_repr::{ColumnType, Row, ScalarType};

use super::indexes::key_constraints;
use super::{
    int4, no_rows, of_kind, view, Builtin, Relation, Relations, RowBuilder, DATABASE_NAME,
    INFORMATION_SCHEMA, OWNER_NAME, PG_CATALOG,
};

/// A boolean as `information_schema` spells it.
fn yes_no(b: bool) -> &'static str {
    if b {
        "YES"
    } else {
        "NO"
    }
}

/// A row naming relation `r`: its `table_catalog`, `table_schema` and `table_name`.
fn table_row(b: &Builtin, r: &Relation) -> RowBuilder {
    b.row()
        .set("table_catalog", DATABASE_NAME)
        .set("table_schema", r.schema)
        .set("table_name", r.name)
}

/// A row naming constraint `name` of table `r`.
fn constraint_row(b: &Builtin, r: &Relation, name: &str) -> RowBuilder {
    table_row(b, r)
        .set("constraint_catalog", DATABASE_NAME)
        .set("constraint_schema", r.schema)
        .set("constraint_name", name)
}

/// Whether `r` is a user table, the one kind of relation whose rows can be written.
fn is_user_table(r: &Relation) -> bool {
    r.kind == 'r' && r.user
}

pub(super) const COLUMNS: Builtin = view(
    INFORMATION_SCHEMA,
    "columns",
    13295,
    "table_catalog name, table_schema name, table_name name, column_name name, \
     ordinal_position int4, column_default varchar, is_nullable varchar, \
     data_type varchar, character_maximum_length int4, character_octet_length int4, \
     numeric_precision int4, numeric_precision_radix int4, numeric_scale int4, \
     datetime_precision int4, interval_type varchar, interval_precision int4, \
     character_set_catalog name, character_set_schema name, character_set_name name, \
     collation_catalog name, collation_schema name, collation_name name, \
     domain_catalog name, domain_schema name, domain_name name, udt_catalog name, \
     udt_schema name, udt_name name, scope_catalog name, scope_schema name, \
     scope_name name, maximum_cardinality int4, dtd_identifier name, \
     is_self_referencing varchar, is_identity varchar, identity_generation varchar, \
     identity_start varchar, identity_increment varchar, identity_maximum varchar, \
     identity_minimum varchar, identity_cycle varchar, is_generated varchar, \
     generation_expression varchar, is_updatable varchar",
    columns,
);

fn columns(b: &Builtin, rels: &Relations) -> Vec<Row> {
    let mut out = vec![];
    for r in rels.iter().filter(|r| r.kind != 'm') {
        for (i, (name, typ)) in r.desc.iter().enumerate() {
            out.push(column_row(b, r, i + 1, name, typ));
        }
    }
    out
}

/// The row of `information_schema.columns` for column `position` (1-based) of `r`.
fn column_row(b: &Builtin, r: &Relation, position: usize, name: &str, typ: &ColumnType) -> Row {
    let info = column_type_info(&typ.scalar_type);
    let udt = eddy_repr::pgtype::pg_type(typ.scalar_type.oid()).map_or("", |t| t.name);
    let collatable = typ.scalar_type.is_string() && typ.scalar_type != ScalarType::Name;
    let octet_length = collatable.then(|| {
        info.character_maximum_length
            .map_or(1_073_741_824, |n| n.saturating_mul(4))
    });
    table_row(b, r)
        .set("column_name", name)
        .set("ordinal_position", int4(position))
        .set("column_default", r.default_of(position - 1))
        .set("is_nullable", yes_no(r.kind != 'r' || typ.nullable))
        .set("data_type", info.data_type)
        .set("character_maximum_length", info.character_maximum_length)
        .set("character_octet_length", octet_length)
        .set("numeric_precision", info.numeric_precision)
        .set("numeric_precision_radix", info.numeric_precision_radix)
        .set("numeric_scale", info.numeric_scale)
        .set("datetime_precision", info.datetime_precision)
        .set("udt_catalog", DATABASE_NAME)
        .set("udt_schema", PG_CATALOG)
        .set("udt_name", udt)
        .set("dtd_identifier", position.to_string())
        .set("is_self_referencing", "NO")
        .set("is_identity", "NO")
        .set("identity_cycle", "NO")
        .set("is_generated", "NEVER")
        .set("is_updatable", yes_no(is_user_table(r)))
        .finish()
}

/// What `information_schema.columns` says about a column's type.
struct ColumnTypeInfo {
    data_type: String,
    character_maximum_length: Option<i32>,
    numeric_precision: Option<i32>,
    numeric_precision_radix: Option<i32>,
    numeric_scale: Option<i32>,
    datetime_precision: Option<i32>,
}

fn column_type_info(typ: &ScalarType) -> ColumnTypeInfo {
    let data_type = match typ {
        t if t.is_array() => "ARRAY".to_string(),
        ScalarType::Varchar { .. } => "character varying".to_string(),
        ScalarType::Char { .. } => "character".to_string(),
        ScalarType::Numeric { .. } => "numeric".to_string(),
        other => other.sql_name(),
    };
    let binary = |bits: i32| (Some(bits), Some(2), Some(0));
    let (numeric_precision, numeric_precision_radix, numeric_scale) = match typ {
        ScalarType::Int16 => binary(16),
        ScalarType::Int32 => binary(32),
        ScalarType::Int64 => binary(64),
        ScalarType::Float32 => (Some(24), Some(2), None),
        ScalarType::Float64 => (Some(53), Some(2), None),
        ScalarType::Numeric { precision, scale } => (
            precision.map(i32::from),
            Some(10),
            precision.map(|_| i32::from(scale.unwrap_or(0))),
        ),
        _ => (None, None, None),
    };
    let character_maximum_length = match typ {
        ScalarType::Varchar { max_length } => max_length.map(|n| n as i32),
        ScalarType::Char { length } => length.map(|n| n as i32),
        _ => None,
    };
    let datetime_precision = match typ {
        ScalarType::Date => Some(0),
        ScalarType::Time | ScalarType::Timestamp | ScalarType::TimestampTz => Some(6),
        ScalarType::Interval => Some(6),
        _ => None,
    };
    ColumnTypeInfo {
        data_type,
        character_maximum_length,
        numeric_precision,
        numeric_precision_radix,
        numeric_scale,
        datetime_precision,
    }
}

pub(super) const KEY_COLUMN_USAGE: Builtin = view(
    INFORMATION_SCHEMA,
    "key_column_usage",
    13329,
    "constraint_catalog name, constraint_schema name, constraint_name name, \
     table_catalog name, table_schema name, table_name name, column_name name, \
     ordinal_position int4, position_in_unique_constraint int4",
    key_column_usage,
);

fn key_column_usage(b: &Builtin, rels: &Relations) -> Vec<Row> {
    key_constraints(rels)
        .flat_map(|i| {
            i.column_names()
                .into_iter()
                .enumerate()
                .map(|(pos, column)| {
                    constraint_row(b, i.table, &i.name)
                        .set("column_name", column)
                        .set("ordinal_position", int4(pos + 1))
                        .finish()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

pub(super) const REFERENTIAL_CONSTRAINTS: Builtin = view(
    INFORMATION_SCHEMA,
    "referential_constraints",
    13339,
    "constraint_catalog name, constraint_schema name, constraint_name name, \
     unique_constraint_catalog name, unique_constraint_schema name, \
     unique_constraint_name name, match_option varchar, update_rule varchar, \
     delete_rule varchar",
    no_rows,
);

pub(super) const SCHEMATA: Builtin = view(
    INFORMATION_SCHEMA,
    "schemata",
    13382,
    "catalog_name name, schema_name name, schema_owner name, \
     default_character_set_catalog name, default_character_set_schema name, \
     default_character_set_name name, sql_path varchar",
    schemata,
);

fn schemata(b: &Builtin, rels: &Relations) -> Vec<Row> {
    rels.namespaces
        .iter()
        .map(|(_, schema)| {
            b.row()
                .set("catalog_name", DATABASE_NAME)
                .set("schema_name", schema.as_str())
                .set("schema_owner", OWNER_NAME)
                .finish()
        })
        .collect()
}

pub(super) const TABLE_CONSTRAINTS: Builtin = view(
    INFORMATION_SCHEMA,
    "table_constraints",
    13411,
    "constraint_catalog name, constraint_schema name, constraint_name name, \
     table_catalog name, table_schema name, table_name name, constraint_type varchar, \
     is_deferrable varchar, initially_deferred varchar, enforced varchar, \
     nulls_distinct varchar",
    table_constraints,
);

/// A user table's NOT NULL columns (as CHECK constraints) and primary key.
fn table_constraints(b: &Builtin, rels: &Relations) -> Vec<Row> {
    let constraint = |r: &Relation, name: &str, kind: &str| {
        constraint_row(b, r, name)
            .set("constraint_type", kind)
            .set("is_deferrable", "NO")
            .set("initially_deferred", "NO")
            .set("enforced", "YES")
            .finish()
    };
    let not_null = rels.iter().filter(|r| is_user_table(r)).flat_map(|r| {
        let not_null_columns = r.desc.iter().enumerate().filter(|(_, (_, t))| !t.nullable);
        not_null_columns.map(move |(i, _)| {
            let name = format!("{}_{}_{}_not_null", r.namespace, r.oid, i + 1);
            constraint(r, &name, "CHECK")
        })
    });
    let keys = key_constraints(rels).map(|i| {
        let kind = if i.primary { "PRIMARY KEY" } else { "UNIQUE" };
        constraint(i.table, &i.name, kind)
    });
    not_null.chain(keys).collect()
}

pub(super) const TABLES: Builtin = view(
    INFORMATION_SCHEMA,
    "tables",
    13425,
    "table_catalog name, table_schema name, table_name name, table_type varchar, \
     self_referencing_column_name name, reference_generation varchar, \
     user_defined_type_catalog name, user_defined_type_schema name, \
     user_defined_type_name name, is_insertable_into varchar, is_typed varchar, \
     commit_action varchar",
    tables,
);

fn tables(b: &Builtin, rels: &Relations) -> Vec<Row> {
    rels.iter()
        .filter(|r| r.kind != 'm')
        .map(|r| {
            table_row(b, r)
                .set(
                    "table_type",
                    if r.kind == 'r' { "BASE TABLE" } else { "VIEW" },
                )
                .set("is_insertable_into", yes_no(is_user_table(r)))
                .set("is_typed", "NO")
                .finish()
        })
        .collect()
}

pub(super) const VIEWS: Builtin = view(
    INFORMATION_SCHEMA,
    "views",
    13483,
    "table_catalog name, table_schema name, table_name name, view_definition varchar, \
     check_option varchar, is_updatable varchar, is_insertable_into varchar, \
     is_trigger_updatable varchar, is_trigger_deletable varchar, \
     is_trigger_insertable_into varchar",
    views,
);

fn views(b: &Builtin, rels: &Relations) -> Vec<Row> {
    of_kind(rels, 'v')
        .map(|r| {
            table_row(b, r)
                .set("view_definition", r.definition.clone())
                .set("check_option", "NONE")
                .set("is_updatable", "NO")
                .set("is_insertable_into", "NO")
                .set("is_trigger_updatable", "NO")
                .set("is_trigger_deletable", "NO")
                .set("is_trigger_insertable_into", "NO")
                .finish()
        })
        .collect()
}
