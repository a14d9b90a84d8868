//! Builtin relations: the `pg_catalog` and `information_schema` relations that psql's
//! `\d` commands and drivers read to describe the database, with Postgres 15's columns.
//!
//! Semantics and invariants:
//! - Builtin relations are ordinary tables of the dataflow, with ids
//!   [`GlobalId::System`]`(oid)`. Their rows are derived from the catalog: after
//!   recovery and after every DDL the coordinator recomputes them and writes the
//!   difference at a new timestamp ([`BuiltinState::updates`]). They are never written
//!   to the durable log; a restart recomputes them.
//! - OIDs: builtin relations have Postgres' own OIDs where Postgres has the relation
//!   (`pg_class` is 1259); user items are `16384 + n` for `GlobalId::User(n)`
//!   ([`eddy_sql::item_oid`]). Namespaces are `pg_catalog` (11), `public` (2200) and
//!   `information_schema`. Every object is owned by the one role, `eddy` (OID 10).
//! - `relkind` is `r` for tables, `v` for views, `m` for materialized views and `i`
//!   for a primary key's index; builtin relations that Postgres defines as views
//!   (`pg_roles`, `information_schema.*`) are listed as views.
//! - A table's PRIMARY KEY is described as Postgres describes it: a unique btree
//!   index `<table>_pkey` and a constraint of the same name.
//! - What Eddy does not have is empty: other indexes, constraints other than NOT NULL
//!   and primary keys, defaults, triggers, policies, publications, sequences,
//!   comments, extensions, functions (`pg_proc`). A view's definition is its
//!   `_RETURN` rule in `pg_rewrite`, whose `ev_action` holds the view's query as SQL
//!   text.
//! - Columns of views and materialized views are never NOT NULL here (Postgres
//!   records NOT NULL for table columns only).
//! - `pg_type` lists every type Eddy has ([`eddy_repr::pgtype::PG_TYPES`]).
//! - The rows are the same for every session: `pg_settings` shows the defaults, and
//!   `pg_database` and `information_schema`'s `*_catalog` columns name the database
//!   [`DATABASE_NAME`].
//!
//! Layout: this module holds the registry ([`BUILTINS`]), the refresh
//! ([`BuiltinState`]) and what every builder shares: the catalog's relations as the
//! builtins describe them (`Relation`) and a row builder that fills unset columns
//! (`RowBuilder`). Each relation is defined once — its columns and the function that
//! builds its rows, side by side — in a file by theme:
//! - `relations.rs`: `pg_class`, `pg_attribute`, `pg_rewrite`, `pg_tables`,
//!   `pg_views`, `pg_matviews`;
//! - `indexes.rs`: primary keys as indexes and constraints: `pg_am`, `pg_opclass`,
//!   `pg_index`, `pg_indexes`, `pg_constraint`;
//! - `types.rs`: `pg_type`, `pg_collation`;
//! - `database.rs`: `pg_database`, `pg_namespace`, `pg_tablespace`, `pg_settings`;
//! - `roles.rs`: `pg_authid`, `pg_roles`, `pg_user`;
//! - `information_schema.rs`: every `information_schema` relation;
//! - `empty.rs`: the `pg_catalog` relations Eddy has no rows for;
//! - `eddy.rs`: Eddy's own relations (`eddy_source_errors`), which the coordinator
//!   writes itself.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use eddy_repr::{ColumnType, Datum, Diff, GlobalId, RelationDesc, Row, ScalarType};
use eddy_sql::ItemKind;

use crate::catalog::Catalog;

mod database;
mod eddy;
mod empty;
mod indexes;
mod information_schema;
mod relations;
mod roles;
#[cfg(test)]
mod tests;
mod types;

/// The database the catalog describes.
pub const DATABASE_NAME: &str = "eddy";
/// The one role, owner of everything.
pub const OWNER_NAME: &str = "eddy";
pub const OWNER_OID: u32 = 10;

pub const PG_CATALOG_OID: u32 = 11;
pub const PUBLIC_OID: u32 = 2200;
pub const INFORMATION_SCHEMA_OID: u32 = 13207;

const PG_CATALOG: &str = "pg_catalog";
const PUBLIC: &str = "public";
const INFORMATION_SCHEMA: &str = "information_schema";

/// Every namespace, as `pg_namespace` and `information_schema.schemata` list them.
const NAMESPACES: [(u32, &str); 3] = [
    (PG_CATALOG_OID, PG_CATALOG),
    (PUBLIC_OID, PUBLIC),
    (INFORMATION_SCHEMA_OID, INFORMATION_SCHEMA),
];

/// The `heap` access method of tables and materialized views.
const HEAP_AM_OID: u32 = 2;
/// The `btree` access method of indexes.
const BTREE_AM_OID: u32 = 403;

/// One builtin relation: where it lives, its columns, and how its rows are built.
pub struct Builtin {
    pub schema: &'static str,
    pub name: &'static str,
    pub oid: u32,
    /// Postgres defines it as a view (`relkind` `v`); Eddy keeps it as a table.
    pub is_view: bool,
    /// The columns, written as in Postgres' catalog headers: `name type` with `!` for
    /// NOT NULL, comma-separated.
    columns: &'static str,
    rows: BuildRows,
}

/// Builds the rows of a builtin relation from every relation there is.
type BuildRows = fn(&Builtin, &Relations) -> Vec<Row>;

impl Builtin {
    pub fn id(&self) -> GlobalId {
        GlobalId::System(self.oid as u64)
    }

    /// The relation's columns.
    pub fn desc(&self) -> &'static RelationDesc {
        &descs()[self.index()]
    }

    fn index(&self) -> usize {
        BUILTINS
            .iter()
            .position(|b| b.oid == self.oid)
            .expect("builtins are in BUILTINS")
    }

    /// A row of this relation, every column unset.
    fn row(&self) -> RowBuilder {
        RowBuilder::new(self)
    }
}

const fn table(
    schema: &'static str,
    name: &'static str,
    oid: u32,
    columns: &'static str,
    rows: BuildRows,
) -> Builtin {
    Builtin {
        schema,
        name,
        oid,
        is_view: false,
        columns,
        rows,
    }
}

const fn view(
    schema: &'static str,
    name: &'static str,
    oid: u32,
    columns: &'static str,
    rows: BuildRows,
) -> Builtin {
    Builtin {
        is_view: true,
        ..table(schema, name, oid, columns, rows)
    }
}

/// Every builtin relation. Each is defined in the file its module path names.
pub static BUILTINS: &[Builtin] = &[
    indexes::PG_AM,
    empty::PG_ATTRDEF,
    relations::PG_ATTRIBUTE,
    empty::PG_AUTH_MEMBERS,
    roles::PG_AUTHID,
    relations::PG_CLASS,
    types::PG_COLLATION,
    indexes::PG_CONSTRAINT,
    database::PG_DATABASE,
    empty::PG_DEPEND,
    empty::PG_DESCRIPTION,
    empty::PG_ENUM,
    empty::PG_EXTENSION,
    empty::PG_FOREIGN_TABLE,
    indexes::PG_INDEX,
    indexes::PG_INDEXES,
    indexes::PG_OPCLASS,
    empty::PG_INHERITS,
    relations::PG_MATVIEWS,
    database::PG_NAMESPACE,
    empty::PG_PARTITIONED_TABLE,
    empty::PG_POLICY,
    empty::PG_PROC,
    empty::PG_PUBLICATION,
    empty::PG_PUBLICATION_NAMESPACE,
    empty::PG_PUBLICATION_REL,
    empty::PG_RANGE,
    relations::PG_REWRITE,
    roles::PG_ROLES,
    empty::PG_SEQUENCE,
    database::PG_SETTINGS,
    empty::PG_SHDESCRIPTION,
    empty::PG_STATISTIC_EXT,
    relations::PG_TABLES,
    database::PG_TABLESPACE,
    empty::PG_TRIGGER,
    types::PG_TYPE,
    roles::PG_USER,
    relations::PG_VIEWS,
    information_schema::COLUMNS,
    information_schema::KEY_COLUMN_USAGE,
    information_schema::REFERENTIAL_CONSTRAINTS,
    information_schema::SCHEMATA,
    information_schema::TABLE_CONSTRAINTS,
    information_schema::TABLES,
    information_schema::VIEWS,
    eddy::EDDY_SOURCE_ERRORS,
    eddy::EDDY_WATERMARKS,
];

pub use eddy::{EDDY_SOURCE_ERRORS, EDDY_WATERMARKS};

/// The builtin relation `schema.name`.
pub fn lookup(schema: &str, name: &str) -> Option<&'static Builtin> {
    BUILTINS
        .iter()
        .find(|b| b.schema == schema && b.name == name)
}

/// The rows of builtin `b` for the relations `rels`.
fn builtin_rows(b: &Builtin, rels: &Relations) -> Vec<Row> {
    (b.rows)(b, rels)
}

/// The builder of a relation that has no rows.
fn no_rows(_: &Builtin, _: &Relations) -> Vec<Row> {
    vec![]
}

/// The rows each builtin relation holds now, so the next refresh writes only the
/// difference.
#[derive(Debug, Default)]
pub struct BuiltinState {
    current: BTreeMap<GlobalId, BTreeMap<Row, Diff>>,
}

impl BuiltinState {
    /// The updates that bring every builtin relation from the rows it was last given to
    /// the rows `catalog` implies, and remembers those. The first call gives every row.
    pub fn updates(&mut self, catalog: &Catalog) -> Vec<(GlobalId, Vec<(Row, Diff)>)> {
        let rels = relations(catalog);
        let mut out = vec![];
        for b in BUILTINS {
            let mut new: BTreeMap<Row, Diff> = BTreeMap::new();
            for row in builtin_rows(b, &rels) {
                *new.entry(row).or_default() += 1;
            }
            let old = self.current.entry(b.id()).or_default();
            let mut diff: BTreeMap<Row, Diff> = BTreeMap::new();
            for (row, n) in old.iter() {
                *diff.entry(row.clone()).or_default() -= n;
            }
            for (row, n) in &new {
                *diff.entry(row.clone()).or_default() += n;
            }
            let updates: Vec<(Row, Diff)> = diff.into_iter().filter(|(_, d)| *d != 0).collect();
            if !updates.is_empty() {
                out.push((b.id(), updates));
            }
            *old = new;
        }
        out
    }
}

// --- Columns: the `columns` spec of a builtin as a `RelationDesc`. ---

fn column_type(name: &str) -> ScalarType {
    match name {
        "oid" => ScalarType::Oid,
        "name" => ScalarType::Name,
        "char" => ScalarType::PgChar,
        "bool" => ScalarType::Bool,
        "int2" => ScalarType::Int16,
        "int4" => ScalarType::Int32,
        "int8" => ScalarType::Int64,
        "float4" => ScalarType::Float32,
        "text" => ScalarType::Text,
        "varchar" => ScalarType::Varchar { max_length: None },
        "regproc" => ScalarType::RegProc,
        "timestamptz" => ScalarType::TimestampTz,
        "bytea" => ScalarType::Bytea,
        "text[]" => ScalarType::TextArray,
        "oid[]" => ScalarType::OidArray,
        "int2[]" => ScalarType::Int16Array,
        "int2vector" => ScalarType::Int2Vector,
        other => unreachable!("builtin column type {other} is not mapped"),
    }
}

fn parse_columns(spec: &str) -> RelationDesc {
    let mut desc = RelationDesc::empty();
    for column in spec.split(',') {
        let mut words = column.split_whitespace();
        let (Some(name), Some(typ), None) = (words.next(), words.next(), words.next()) else {
            unreachable!("builtin column spec {column:?}");
        };
        let (typ, nullable) = match typ.strip_suffix('!') {
            Some(t) => (t, false),
            None => (typ, true),
        };
        desc = desc.with_column(name, column_type(typ).nullable(nullable));
    }
    desc
}

fn descs() -> &'static [RelationDesc] {
    static DESCS: OnceLock<Vec<RelationDesc>> = OnceLock::new();
    DESCS.get_or_init(|| BUILTINS.iter().map(|b| parse_columns(b.columns)).collect())
}

// --- What the builders read: every relation, builtin and user. ---

/// Every relation and every namespace, as the builders read them.
struct Relations<'a> {
    relations: Vec<Relation<'a>>,
    /// `(oid, name)` of every namespace: the system ones, `public`, then the user's.
    namespaces: Vec<(u32, String)>,
}

impl<'a> std::ops::Deref for Relations<'a> {
    type Target = [Relation<'a>];

    fn deref(&self) -> &[Relation<'a>] {
        &self.relations
    }
}

/// A relation as the catalog relations describe it.
struct Relation<'a> {
    oid: u32,
    namespace: u32,
    schema: &'a str,
    /// A user item (a table, source, view or materialized view), not a builtin.
    user: bool,
    name: &'a str,
    /// `r`, `v` or `m`.
    kind: char,
    desc: &'a RelationDesc,
    /// A view's query, as `pg_get_viewdef` prints it.
    definition: Option<String>,
    /// A table's PRIMARY KEY columns (0-based), empty without one.
    primary_key: &'a [usize],
    /// A table's UNIQUE constraints.
    unique: &'a [eddy_sql::UniqueConstraint],
    /// A table's columns' DEFAULT expressions (empty when none has one).
    defaults: &'a [Option<String>],
    /// A table's indexes (`CREATE INDEX`): `(oid, name, key columns)`.
    indexes: Vec<(u32, &'a str, &'a [usize])>,
}

impl Relation<'_> {
    /// The DEFAULT expression of column `column` (0-based), if it has one.
    fn default_of(&self, column: usize) -> Option<&str> {
        self.defaults.get(column)?.as_deref()
    }
}

/// Every relation: the builtins first, in [`BUILTINS`] order, then the catalog's items;
/// and every namespace.
fn relations(catalog: &Catalog) -> Relations<'_> {
    let mut namespaces: Vec<(u32, String)> = NAMESPACES
        .iter()
        .map(|(oid, name)| (*oid, name.to_string()))
        .collect();
    namespaces.extend(
        catalog
            .user_schemas()
            .filter_map(|(name, id)| Some((eddy_sql::item_oid(id)?, name.clone()))),
    );
    let namespace_of = |schema: &str| {
        namespaces
            .iter()
            .find(|(_, name)| name == schema)
            .map_or(PUBLIC_OID, |(oid, _)| *oid)
    };
    let mut out: Vec<Relation> = BUILTINS
        .iter()
        .map(|b| Relation {
            oid: b.oid,
            namespace: namespace_of(b.schema),
            schema: b.schema,
            user: false,
            name: b.name,
            kind: if b.is_view { 'v' } else { 'r' },
            desc: b.desc(),
            definition: None,
            primary_key: &[],
            unique: &[],
            defaults: &[],
            indexes: vec![],
        })
        .collect();
    for entry in catalog.entries() {
        let Some(oid) = eddy_sql::item_oid(entry.id) else {
            continue;
        };
        let kind = match entry.kind {
            ItemKind::Table | ItemKind::Source => 'r',
            ItemKind::View => 'v',
            ItemKind::MaterializedView => 'm',
            // Not a relation: `SHOW SINKS` lists sinks; an index is listed with its
            // table (`indexes.rs`).
            ItemKind::Sink | ItemKind::PgSource | ItemKind::Index => continue,
        };
        out.push(Relation {
            oid,
            namespace: namespace_of(&entry.schema),
            schema: &entry.schema,
            user: true,
            name: &entry.name,
            kind,
            desc: &entry.desc,
            definition: (kind != 'r')
                .then(|| view_definition(&entry.create_sql))
                .flatten(),
            primary_key: &entry.primary_key,
            unique: &entry.unique,
            defaults: &entry.defaults,
            indexes: catalog
                .indexes_of(entry.id)
                .filter_map(|i| {
                    let oid = eddy_sql::item_oid(i.id)?;
                    Some((oid, i.name.as_str(), i.index_key.as_slice()))
                })
                .collect(),
        });
    }
    Relations {
        relations: out,
        namespaces,
    }
}

/// The query of a `CREATE [MATERIALIZED] VIEW` statement, as Postgres prints a view's
/// definition (` SELECT ...;`).
fn view_definition(create_sql: &str) -> Option<String> {
    let stmt = eddy_sql::parse(create_sql).ok()?.into_iter().next()?;
    match stmt {
        eddy_sql::Statement::Sql(eddy_sql::ast::Statement::CreateView { query, .. }) => {
            Some(format!(" {query};"))
        }
        _ => None,
    }
}

/// The relations of `relkind` `kind`.
fn of_kind<'r, 'a>(rels: &'r [Relation<'a>], kind: char) -> impl Iterator<Item = &'r Relation<'a>> {
    rels.iter().filter(move |r| r.kind == kind)
}

// --- Rows. ---

/// Builds one row by column name; columns left unset are NULL, or the zero value of
/// their type when NOT NULL (`0`, `false`, empty).
struct RowBuilder {
    desc: &'static RelationDesc,
    datums: Vec<Option<Datum>>,
}

impl RowBuilder {
    fn new(builtin: &Builtin) -> Self {
        let desc = builtin.desc();
        RowBuilder {
            desc,
            datums: vec![None; desc.arity()],
        }
    }

    fn set(mut self, column: &str, datum: impl Into<Datum>) -> Self {
        match self.desc.column_index(column) {
            Some(i) => self.datums[i] = Some(datum.into()),
            None => debug_assert!(false, "builtin has no column {column}"),
        }
        self
    }

    fn oid(self, column: &str, oid: u32) -> Self {
        self.set(column, Datum::Oid(oid))
    }

    fn char(self, column: &str, c: char) -> Self {
        self.set(column, Datum::String(c.to_string()))
    }

    fn finish(self) -> Row {
        let datums: Vec<Datum> = self
            .datums
            .into_iter()
            .zip(&self.desc.types)
            .map(|(d, t)| d.unwrap_or_else(|| zero(t)))
            .collect();
        Row::pack(&datums)
    }
}

fn zero(typ: &ColumnType) -> Datum {
    if typ.nullable {
        return Datum::Null;
    }
    match typ.scalar_type {
        ScalarType::Bool => Datum::Bool(false),
        ScalarType::Int16 => Datum::Int16(0),
        ScalarType::Int32 => Datum::Int32(0),
        ScalarType::Int64 => Datum::Int64(0),
        ScalarType::Float32 => Datum::Float32(eddy_repr::OrdF32(0.0)),
        ScalarType::Oid | ScalarType::RegProc | ScalarType::RegClass | ScalarType::RegType => {
            Datum::Oid(0)
        }
        t if t.is_array() => Datum::Array(vec![]),
        ScalarType::Bytea => Datum::Bytes(vec![]),
        _ => Datum::String(String::new()),
    }
}

/// A count or 1-based position as an `int2` column holds it.
fn int2(n: usize) -> i16 {
    i16::try_from(n).unwrap_or(i16::MAX)
}

/// A count or 1-based position as an `int4` column holds it.
fn int4(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
