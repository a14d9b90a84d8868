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
//! - `relkind` is `r` for tables, `v` for views, `m` for materialized views; builtin
//!   relations that Postgres defines as views (`pg_roles`, `information_schema.*`)
//!   are listed as views.
//! - What Eddy does not have is empty: indexes, constraints other than NOT NULL,
//!   defaults, triggers, policies, publications, sequences, comments, extensions,
//!   functions (`pg_proc`). A view's definition is its `_RETURN` rule in `pg_rewrite`,
//!   whose `ev_action` holds the view's query as SQL text.
//! - Columns of views and materialized views are never NOT NULL here (Postgres
//!   records NOT NULL for table columns only).
//! - `pg_type` lists every type Eddy has ([`eddy_repr::pgtype::PG_TYPES`]).
//! - The rows are the same for every session: `pg_settings` shows the defaults, and
//!   `pg_database` and `information_schema`'s `*_catalog` columns name the database
//!   [`DATABASE_NAME`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use eddy_repr::pgtype::{PgType, PG_TYPES};
use eddy_repr::{ColumnType, Datum, Diff, GlobalId, RelationDesc, Row, ScalarType};
use eddy_sql::ItemKind;

use crate::catalog::Catalog;

/// The database the catalog describes.
pub const DATABASE_NAME: &str = "eddy";
/// The one role, owner of everything.
pub const OWNER_NAME: &str = "eddy";
pub const OWNER_OID: u32 = 10;

pub const PG_CATALOG_OID: u32 = 11;
pub const PUBLIC_OID: u32 = 2200;
pub const INFORMATION_SCHEMA_OID: u32 = 13207;

const PG_CATALOG: &str = "pg_catalog";
const INFORMATION_SCHEMA: &str = "information_schema";

/// The database's OID in `pg_database`.
const DATABASE_OID: u32 = 16383;
/// `pg_default`, the tablespace of every relation.
const DEFAULT_TABLESPACE_OID: u32 = 1663;
/// The `heap` access method of tables and materialized views.
const HEAP_AM_OID: u32 = 2;
/// UTF8 in `pg_database.encoding`.
const UTF8_ENCODING: i32 = 6;

/// One builtin relation: where it lives and its columns, written as in Postgres'
/// catalog headers: `name type` with `!` for NOT NULL, comma-separated.
pub struct Builtin {
    pub schema: &'static str,
    pub name: &'static str,
    pub oid: u32,
    /// Postgres defines it as a view (`relkind` `v`); Eddy keeps it as a table.
    pub is_view: bool,
    columns: &'static str,
}

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
}

const fn table(
    schema: &'static str,
    name: &'static str,
    oid: u32,
    columns: &'static str,
) -> Builtin {
    Builtin {
        schema,
        name,
        oid,
        is_view: false,
        columns,
    }
}

const fn view(
    schema: &'static str,
    name: &'static str,
    oid: u32,
    columns: &'static str,
) -> Builtin {
    Builtin {
        schema,
        name,
        oid,
        is_view: true,
        columns,
    }
}

/// Every builtin relation.
pub static BUILTINS: &[Builtin] = &[
    table(
        PG_CATALOG,
        "pg_am",
        2601,
        "oid oid!, amname name!, amhandler regproc!, amtype char!",
    ),
    table(
        PG_CATALOG,
        "pg_attrdef",
        2604,
        "oid oid!, adrelid oid!, adnum int2!, adbin text!",
    ),
    table(
        PG_CATALOG,
        "pg_attribute",
        1249,
        "attrelid oid!, attname name!, atttypid oid!, attstattarget int4!, attlen int2!, \
         attnum int2!, attndims int4!, attcacheoff int4!, atttypmod int4!, attbyval bool!, \
         attalign char!, attstorage char!, attcompression char!, attnotnull bool!, \
         atthasdef bool!, atthasmissing bool!, attidentity char!, attgenerated char!, \
         attisdropped bool!, attislocal bool!, attinhcount int4!, attcollation oid!, \
         attacl text[], attoptions text[], attfdwoptions text[], attmissingval text[]",
    ),
    table(
        PG_CATALOG,
        "pg_auth_members",
        1261,
        "roleid oid!, member oid!, grantor oid!, admin_option bool!",
    ),
    table(
        PG_CATALOG,
        "pg_authid",
        1260,
        "oid oid!, rolname name!, rolsuper bool!, rolinherit bool!, rolcreaterole bool!, \
         rolcreatedb bool!, rolcanlogin bool!, rolreplication bool!, rolbypassrls bool!, \
         rolconnlimit int4!, rolpassword text, rolvaliduntil timestamptz",
    ),
    table(
        PG_CATALOG,
        "pg_class",
        1259,
        "oid oid!, relname name!, relnamespace oid!, reltype oid!, reloftype oid!, \
         relowner oid!, relam oid!, relfilenode oid!, reltablespace oid!, relpages int4!, \
         reltuples float4!, relallvisible int4!, reltoastrelid oid!, relhasindex bool!, \
         relisshared bool!, relpersistence char!, relkind char!, relnatts int2!, \
         relchecks int2!, relhasrules bool!, relhastriggers bool!, relhassubclass bool!, \
         relrowsecurity bool!, relforcerowsecurity bool!, relispopulated bool!, \
         relreplident char!, relispartition bool!, relrewrite oid!, relfrozenxid oid!, \
         relminmxid oid!, relacl text[], reloptions text[], relpartbound text",
    ),
    table(
        PG_CATALOG,
        "pg_collation",
        3456,
        "oid oid!, collname name!, collnamespace oid!, collowner oid!, collprovider char!, \
         collisdeterministic bool!, collencoding int4!, collcollate text, collctype text, \
         colliculocale text, collversion text",
    ),
    table(
        PG_CATALOG,
        "pg_constraint",
        2606,
        "oid oid!, conname name!, connamespace oid!, contype char!, condeferrable bool!, \
         condeferred bool!, convalidated bool!, conrelid oid!, contypid oid!, conindid oid!, \
         conparentid oid!, confrelid oid!, confupdtype char!, confdeltype char!, \
         confmatchtype char!, conislocal bool!, coninhcount int4!, connoinherit bool!, \
         conkey int2[], confkey int2[], conpfeqop oid[], conppeqop oid[], conffeqop oid[], \
         confdelsetcols int2[], conexclop oid[], conbin text",
    ),
    table(
        PG_CATALOG,
        "pg_database",
        1262,
        "oid oid!, datname name!, datdba oid!, encoding int4!, datlocprovider char!, \
         datistemplate bool!, datallowconn bool!, datconnlimit int4!, datfrozenxid oid!, \
         datminmxid oid!, dattablespace oid!, datcollate text!, datctype text!, \
         daticulocale text, datcollversion text, datacl text[]",
    ),
    table(
        PG_CATALOG,
        "pg_depend",
        2608,
        "classid oid!, objid oid!, objsubid int4!, refclassid oid!, refobjid oid!, \
         refobjsubid int4!, deptype char!",
    ),
    table(
        PG_CATALOG,
        "pg_description",
        2609,
        "objoid oid!, classoid oid!, objsubid int4!, description text!",
    ),
    table(
        PG_CATALOG,
        "pg_enum",
        3501,
        "oid oid!, enumtypid oid!, enumsortorder float4!, enumlabel name!",
    ),
    table(
        PG_CATALOG,
        "pg_extension",
        3079,
        "oid oid!, extname name!, extowner oid!, extnamespace oid!, extrelocatable bool!, \
         extversion text!, extconfig oid[], extcondition text[]",
    ),
    table(
        PG_CATALOG,
        "pg_foreign_table",
        3118,
        "ftrelid oid!, ftserver oid!, ftoptions text[]",
    ),
    table(
        PG_CATALOG,
        "pg_index",
        2610,
        "indexrelid oid!, indrelid oid!, indnatts int2!, indnkeyatts int2!, \
         indisunique bool!, indnullsnotdistinct bool!, indisprimary bool!, \
         indisexclusion bool!, indimmediate bool!, indisclustered bool!, indisvalid bool!, \
         indcheckxmin bool!, indisready bool!, indislive bool!, indisreplident bool!, \
         indkey int2[]!, indcollation oid[]!, indclass oid[]!, indoption int2[]!, \
         indexprs text, indpred text",
    ),
    view(
        PG_CATALOG,
        "pg_indexes",
        12076,
        "schemaname name, tablename name, indexname name, tablespace name, indexdef text",
    ),
    table(
        PG_CATALOG,
        "pg_opclass",
        2616,
        "oid oid!, opcmethod oid!, opcname name!, opcnamespace oid!, opcowner oid!, \
         opcfamily oid!, opcintype oid!, opcdefault bool!, opckeytype oid!",
    ),
    table(
        PG_CATALOG,
        "pg_inherits",
        2611,
        "inhrelid oid!, inhparent oid!, inhseqno int4!, inhdetachpending bool!",
    ),
    view(
        PG_CATALOG,
        "pg_matviews",
        12072,
        "schemaname name, matviewname name, matviewowner name, tablespace name, \
         hasindexes bool, ispopulated bool, definition text",
    ),
    table(
        PG_CATALOG,
        "pg_namespace",
        2615,
        "oid oid!, nspname name!, nspowner oid!, nspacl text[]",
    ),
    table(
        PG_CATALOG,
        "pg_partitioned_table",
        3350,
        "partrelid oid!, partstrat char!, partnatts int2!, partdefid oid!, \
         partattrs int2[]!, partclass oid[]!, partcollation oid[]!, partexprs text",
    ),
    table(
        PG_CATALOG,
        "pg_policy",
        3256,
        "oid oid!, polname name!, polrelid oid!, polcmd char!, polpermissive bool!, \
         polroles oid[]!, polqual text, polwithcheck text",
    ),
    table(
        PG_CATALOG,
        "pg_proc",
        1255,
        "oid oid!, proname name!, pronamespace oid!, proowner oid!, prolang oid!, \
         procost float4!, prorows float4!, provariadic oid!, prosupport regproc!, \
         prokind char!, prosecdef bool!, proleakproof bool!, proisstrict bool!, \
         proretset bool!, provolatile char!, proparallel char!, pronargs int2!, \
         pronargdefaults int2!, prorettype oid!, proargtypes oid[]!, proallargtypes oid[], \
         proargmodes text[], proargnames text[], proargdefaults text, protrftypes oid[], \
         prosrc text!, probin text, prosqlbody text, proconfig text[], proacl text[]",
    ),
    table(
        PG_CATALOG,
        "pg_publication",
        6104,
        "oid oid!, pubname name!, pubowner oid!, puballtables bool!, pubinsert bool!, \
         pubupdate bool!, pubdelete bool!, pubtruncate bool!, pubviaroot bool!",
    ),
    table(
        PG_CATALOG,
        "pg_publication_namespace",
        6237,
        "oid oid!, pnpubid oid!, pnnspid oid!",
    ),
    table(
        PG_CATALOG,
        "pg_publication_rel",
        6106,
        "oid oid!, prpubid oid!, prrelid oid!, prqual text, prattrs int2[]",
    ),
    table(
        PG_CATALOG,
        "pg_range",
        3541,
        "rngtypid oid!, rngsubtype oid!, rngmultitypid oid!, rngcollation oid!, \
         rngsubopc oid!, rngcanonical regproc!, rngsubdiff regproc!",
    ),
    table(
        PG_CATALOG,
        "pg_rewrite",
        2618,
        "oid oid!, rulename name!, ev_class oid!, ev_type char!, ev_enabled char!, \
         is_instead bool!, ev_qual text!, ev_action text!",
    ),
    view(
        PG_CATALOG,
        "pg_roles",
        12001,
        "rolname name, rolsuper bool, rolinherit bool, rolcreaterole bool, \
         rolcreatedb bool, rolcanlogin bool, rolreplication bool, rolconnlimit int4, \
         rolpassword text, rolvaliduntil timestamptz, rolbypassrls bool, \
         rolconfig text[], oid oid",
    ),
    table(
        PG_CATALOG,
        "pg_sequence",
        2224,
        "seqrelid oid!, seqtypid oid!, seqstart int8!, seqincrement int8!, seqmax int8!, \
         seqmin int8!, seqcache int8!, seqcycle bool!",
    ),
    view(
        PG_CATALOG,
        "pg_settings",
        12104,
        "name text, setting text, unit text, category text, short_desc text, \
         extra_desc text, context text, vartype text, source text, min_val text, \
         max_val text, enumvals text[], boot_val text, reset_val text, sourcefile text, \
         sourceline int4, pending_restart bool",
    ),
    table(
        PG_CATALOG,
        "pg_shdescription",
        2396,
        "objoid oid!, classoid oid!, description text!",
    ),
    table(
        PG_CATALOG,
        "pg_statistic_ext",
        3381,
        "oid oid!, stxrelid oid!, stxname name!, stxnamespace oid!, stxowner oid!, \
         stxstattarget int4!, stxkeys int2[]!, stxkind text[]!, stxexprs text",
    ),
    view(
        PG_CATALOG,
        "pg_tables",
        12068,
        "schemaname name, tablename name, tableowner name, tablespace name, \
         hasindexes bool, hasrules bool, hastriggers bool, rowsecurity bool",
    ),
    table(
        PG_CATALOG,
        "pg_tablespace",
        1213,
        "oid oid!, spcname name!, spcowner oid!, spcacl text[], spcoptions text[]",
    ),
    table(
        PG_CATALOG,
        "pg_trigger",
        2620,
        "oid oid!, tgrelid oid!, tgparentid oid!, tgname name!, tgfoid oid!, tgtype int2!, \
         tgenabled char!, tgisinternal bool!, tgconstrrelid oid!, tgconstrindid oid!, \
         tgconstraint oid!, tgdeferrable bool!, tginitdeferred bool!, tgnargs int2!, \
         tgattr int2[]!, tgargs bytea!, tgqual text, tgoldtable name, tgnewtable name",
    ),
    table(
        PG_CATALOG,
        "pg_type",
        1247,
        "oid oid!, typname name!, typnamespace oid!, typowner oid!, typlen int2!, \
         typbyval bool!, typtype char!, typcategory char!, typispreferred bool!, \
         typisdefined bool!, typdelim char!, typrelid oid!, typsubscript regproc!, \
         typelem oid!, typarray oid!, typinput regproc!, typoutput regproc!, \
         typreceive regproc!, typsend regproc!, typmodin regproc!, typmodout regproc!, \
         typanalyze regproc!, typalign char!, typstorage char!, typnotnull bool!, \
         typbasetype oid!, typtypmod int4!, typndims int4!, typcollation oid!, \
         typdefaultbin text, typdefault text, typacl text[]",
    ),
    view(
        PG_CATALOG,
        "pg_user",
        12005,
        "usename name, usesysid oid, usecreatedb bool, usesuper bool, userepl bool, \
         usebypassrls bool, passwd text, valuntil timestamptz, useconfig text[]",
    ),
    view(
        PG_CATALOG,
        "pg_views",
        12028,
        "schemaname name, viewname name, viewowner name, definition text",
    ),
    view(
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
    ),
    view(
        INFORMATION_SCHEMA,
        "key_column_usage",
        13329,
        "constraint_catalog name, constraint_schema name, constraint_name name, \
         table_catalog name, table_schema name, table_name name, column_name name, \
         ordinal_position int4, position_in_unique_constraint int4",
    ),
    view(
        INFORMATION_SCHEMA,
        "referential_constraints",
        13339,
        "constraint_catalog name, constraint_schema name, constraint_name name, \
         unique_constraint_catalog name, unique_constraint_schema name, \
         unique_constraint_name name, match_option varchar, update_rule varchar, \
         delete_rule varchar",
    ),
    view(
        INFORMATION_SCHEMA,
        "schemata",
        13382,
        "catalog_name name, schema_name name, schema_owner name, \
         default_character_set_catalog name, default_character_set_schema name, \
         default_character_set_name name, sql_path varchar",
    ),
    view(
        INFORMATION_SCHEMA,
        "table_constraints",
        13411,
        "constraint_catalog name, constraint_schema name, constraint_name name, \
         table_catalog name, table_schema name, table_name name, constraint_type varchar, \
         is_deferrable varchar, initially_deferred varchar, enforced varchar, \
         nulls_distinct varchar",
    ),
    view(
        INFORMATION_SCHEMA,
        "tables",
        13425,
        "table_catalog name, table_schema name, table_name name, table_type varchar, \
         self_referencing_column_name name, reference_generation varchar, \
         user_defined_type_catalog name, user_defined_type_schema name, \
         user_defined_type_name name, is_insertable_into varchar, is_typed varchar, \
         commit_action varchar",
    ),
    view(
        INFORMATION_SCHEMA,
        "views",
        13483,
        "table_catalog name, table_schema name, table_name name, view_definition varchar, \
         check_option varchar, is_updatable varchar, is_insertable_into varchar, \
         is_trigger_updatable varchar, is_trigger_deletable varchar, \
         is_trigger_insertable_into varchar",
    ),
];

/// The builtin relation `schema.name`.
pub fn lookup(schema: &str, name: &str) -> Option<&'static Builtin> {
    BUILTINS
        .iter()
        .find(|b| b.schema == schema && b.name == name)
}

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

/// A relation as the catalog relations describe it.
struct Relation<'a> {
    oid: u32,
    namespace: u32,
    schema: &'static str,
    name: &'a str,
    /// `r`, `v` or `m`.
    kind: char,
    desc: &'a RelationDesc,
    /// A view's query, as `pg_get_viewdef` prints it.
    definition: Option<String>,
    /// A table's PRIMARY KEY columns (0-based), empty without one.
    primary_key: &'a [usize],
}

/// A table's PRIMARY KEY index and constraint (`<table>_pkey`), which Eddy reports as
/// Postgres does: a unique btree index. Their OIDs derive from the table's, in a range
/// no item reaches.
struct PrimaryKeyIndex<'a> {
    table: &'a Relation<'a>,
    oid: u32,
    constraint_oid: u32,
    name: String,
}

const INDEX_OID_OFFSET: u32 = 1 << 30;
const CONSTRAINT_OID_OFFSET: u32 = INDEX_OID_OFFSET + (1 << 29);
const BTREE_AM_OID: u32 = 403;

impl PrimaryKeyIndex<'_> {
    fn of<'a>(table: &'a Relation<'a>) -> Option<PrimaryKeyIndex<'a>> {
        (!table.primary_key.is_empty()).then(|| PrimaryKeyIndex {
            table,
            oid: table.oid.wrapping_add(INDEX_OID_OFFSET),
            constraint_oid: table.oid.wrapping_add(CONSTRAINT_OID_OFFSET),
            name: format!("{}_pkey", table.name),
        })
    }

    /// 1-based column numbers, as `indkey` and `conkey` hold them.
    fn attnums(&self) -> Vec<Datum> {
        let attnum = |c: &usize| Datum::Int16(i16::try_from(c + 1).unwrap_or(i16::MAX));
        self.table.primary_key.iter().map(attnum).collect()
    }

    fn column_names(&self) -> Vec<&str> {
        let names = &self.table.desc.names;
        self.table
            .primary_key
            .iter()
            .map(|c| names[*c].as_str())
            .collect()
    }

    /// `CREATE UNIQUE INDEX ...`, as `pg_get_indexdef` and `pg_indexes` print it.
    fn definition(&self) -> String {
        let quote = eddy_expr::eval::quote_ident;
        let columns: Vec<String> = self.column_names().into_iter().map(quote).collect();
        format!(
            "CREATE UNIQUE INDEX {} ON {}.{} USING btree ({})",
            quote(&self.name),
            self.table.schema,
            quote(self.table.name),
            columns.join(", ")
        )
    }
}

/// The default btree operator class of each type a key column can have:
/// `(oid, name, family, input type)`, with Postgres' OIDs.
const BTREE_OPCLASSES: &[(u32, &str, u32, u32)] = &[
    (1978, "int4_ops", 1976, 23),
    (1979, "int2_ops", 1976, 21),
    (1981, "oid_ops", 1989, 26),
    (3122, "date_ops", 434, 1082),
    (3123, "float8_ops", 1970, 701),
    (3124, "int8_ops", 1976, 20),
    (3125, "numeric_ops", 1988, 1700),
    (3126, "text_ops", 1994, 25),
    (3127, "timestamptz_ops", 434, 1184),
    (3128, "timestamp_ops", 434, 1114),
    (10003, "bool_ops", 424, 16),
    (10004, "bpchar_ops", 426, 1042),
    (10006, "bytea_ops", 428, 17),
    (10012, "float4_ops", 1970, 700),
    (10022, "interval_ops", 1982, 1186),
    (10028, "name_ops", 1994, 19),
    (10038, "time_ops", 1996, 1083),
    (10065, "uuid_ops", 2968, 2950),
    (10088, "jsonb_ops", 4033, 3802),
];

/// The operator class a key column of type `typ` uses (`text_ops` for `varchar`, as
/// in Postgres); 0 for a type without one.
fn btree_opclass(typ: &ScalarType) -> u32 {
    let input = if typ.is_string() && *typ != ScalarType::PgChar {
        25
    } else {
        typ.oid()
    };
    BTREE_OPCLASSES
        .iter()
        .find(|(_, _, _, t)| *t == input)
        .map_or(0, |(oid, ..)| *oid)
}

/// The query of a `CREATE [MATERIALIZED] VIEW` statement, as Postgres prints a view's
/// definition (` SELECT ...;`).
fn view_definition(create_sql: &str) -> Option<String> {
    let stmt = eddy_sql::parse(create_sql).ok()?.into_iter().next()?;
    match stmt {
        eddy_sql::Statement::CreateView { query, .. } => Some(format!(" {query};")),
        _ => None,
    }
}

fn relations(catalog: &Catalog) -> Vec<Relation<'_>> {
    let mut out: Vec<Relation> = BUILTINS
        .iter()
        .map(|b| Relation {
            oid: b.oid,
            namespace: namespace_oid(b.schema),
            schema: b.schema,
            name: b.name,
            kind: if b.is_view { 'v' } else { 'r' },
            desc: b.desc(),
            definition: None,
            primary_key: &[],
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
        };
        out.push(Relation {
            oid,
            namespace: PUBLIC_OID,
            schema: "public",
            name: &entry.name,
            kind,
            desc: &entry.desc,
            definition: (kind != 'r')
                .then(|| view_definition(&entry.create_sql))
                .flatten(),
            primary_key: &entry.primary_key,
        });
    }
    out
}

fn namespace_oid(schema: &str) -> u32 {
    match schema {
        PG_CATALOG => PG_CATALOG_OID,
        INFORMATION_SCHEMA => INFORMATION_SCHEMA_OID,
        _ => PUBLIC_OID,
    }
}

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

fn yes_no(b: bool) -> &'static str {
    if b {
        "YES"
    } else {
        "NO"
    }
}

/// The row of `pg_type` for a type.
fn type_row(b: &Builtin, t: &PgType) -> Row {
    RowBuilder::new(b)
        .oid("oid", t.oid)
        .set("typname", t.name)
        .oid("typnamespace", PG_CATALOG_OID)
        .oid("typowner", OWNER_OID)
        .set("typlen", t.len)
        .set("typbyval", t.byval)
        .char("typtype", 'b')
        .char("typcategory", t.category)
        .set("typispreferred", t.preferred)
        .set("typisdefined", true)
        .char("typdelim", ',')
        .oid("typelem", t.elem)
        .oid("typarray", t.array)
        .char("typalign", t.align)
        .char("typstorage", t.storage)
        .set("typtypmod", -1i32)
        .oid("typcollation", t.collation)
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
    let mut info = ColumnTypeInfo {
        data_type: match typ {
            t if t.is_array() => "ARRAY".to_string(),
            ScalarType::Varchar { .. } => "character varying".to_string(),
            ScalarType::Char { .. } => "character".to_string(),
            ScalarType::Numeric { .. } => "numeric".to_string(),
            other => other.sql_name(),
        },
        character_maximum_length: None,
        numeric_precision: None,
        numeric_precision_radix: None,
        numeric_scale: None,
        datetime_precision: None,
    };
    let binary = |bits: i32| (Some(bits), Some(2), Some(0));
    let (precision, radix, scale) = match typ {
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
    info.numeric_precision = precision;
    info.numeric_precision_radix = radix;
    info.numeric_scale = scale;
    info.character_maximum_length = match typ {
        ScalarType::Varchar { max_length } => max_length.map(|n| n as i32),
        ScalarType::Char { length } => length.map(|n| n as i32),
        _ => None,
    };
    info.datetime_precision = match typ {
        ScalarType::Date => Some(0),
        ScalarType::Time | ScalarType::Timestamp | ScalarType::TimestampTz => Some(6),
        ScalarType::Interval => Some(6),
        _ => None,
    };
    info
}

/// The rows of builtin `b` for the relations `rels`.
fn builtin_rows(b: &Builtin, rels: &[Relation]) -> Vec<Row> {
    let row = || RowBuilder::new(b);
    let indexes: Vec<PrimaryKeyIndex> = rels.iter().filter_map(PrimaryKeyIndex::of).collect();
    // A row of `information_schema.table_constraints`.
    let constraint_row = |r: &Relation, name: String, kind: &str| {
        row()
            .set("constraint_catalog", DATABASE_NAME)
            .set("constraint_schema", r.schema)
            .set("constraint_name", name)
            .set("table_catalog", DATABASE_NAME)
            .set("table_schema", r.schema)
            .set("table_name", r.name)
            .set("constraint_type", kind)
            .set("is_deferrable", "NO")
            .set("initially_deferred", "NO")
            .set("enforced", "YES")
            .finish()
    };
    let user = |r: &&Relation| r.namespace == PUBLIC_OID;
    match (b.schema, b.name) {
        (PG_CATALOG, "pg_am") => vec![
            row()
                .oid("oid", HEAP_AM_OID)
                .set("amname", "heap")
                .char("amtype", 't')
                .finish(),
            row()
                .oid("oid", BTREE_AM_OID)
                .set("amname", "btree")
                .char("amtype", 'i')
                .finish(),
        ],
        (PG_CATALOG, "pg_opclass") => BTREE_OPCLASSES
            .iter()
            .map(|(oid, name, family, input)| {
                row()
                    .oid("oid", *oid)
                    .oid("opcmethod", BTREE_AM_OID)
                    .set("opcname", *name)
                    .oid("opcnamespace", PG_CATALOG_OID)
                    .oid("opcowner", OWNER_OID)
                    .oid("opcfamily", *family)
                    .oid("opcintype", *input)
                    .set("opcdefault", true)
                    .finish()
            })
            .collect(),
        (PG_CATALOG, "pg_index") => indexes
            .iter()
            .map(|i| {
                let types = &i.table.desc.types;
                let key = i.table.primary_key;
                let oids = |f: &dyn Fn(&ScalarType) -> u32| {
                    Datum::Array(
                        key.iter()
                            .map(|c| Datum::Oid(f(&types[*c].scalar_type)))
                            .collect(),
                    )
                };
                let n = i16::try_from(key.len()).unwrap_or(i16::MAX);
                row()
                    .oid("indexrelid", i.oid)
                    .oid("indrelid", i.table.oid)
                    .set("indnatts", n)
                    .set("indnkeyatts", n)
                    .set("indisunique", true)
                    .set("indisprimary", true)
                    .set("indimmediate", true)
                    .set("indisvalid", true)
                    .set("indisready", true)
                    .set("indislive", true)
                    .set("indkey", Datum::Array(i.attnums()))
                    .set(
                        "indcollation",
                        oids(&|t: &ScalarType| if t.is_string() { 100 } else { 0 }),
                    )
                    .set("indclass", oids(&btree_opclass))
                    .set(
                        "indoption",
                        Datum::Array(key.iter().map(|_| Datum::Int16(0)).collect()),
                    )
                    .finish()
            })
            .collect(),
        (PG_CATALOG, "pg_indexes") => indexes
            .iter()
            .map(|i| {
                row()
                    .set("schemaname", i.table.schema)
                    .set("tablename", i.table.name)
                    .set("indexname", i.name.as_str())
                    .set("indexdef", i.definition())
                    .finish()
            })
            .collect(),
        (PG_CATALOG, "pg_constraint") => indexes
            .iter()
            .map(|i| {
                row()
                    .oid("oid", i.constraint_oid)
                    .set("conname", i.name.as_str())
                    .oid("connamespace", i.table.namespace)
                    .char("contype", 'p')
                    .set("convalidated", true)
                    .oid("conrelid", i.table.oid)
                    .oid("conindid", i.oid)
                    .char("confupdtype", ' ')
                    .char("confdeltype", ' ')
                    .char("confmatchtype", ' ')
                    .set("conislocal", true)
                    .set("connoinherit", true)
                    .set("conkey", Datum::Array(i.attnums()))
                    .finish()
            })
            .collect(),
        (INFORMATION_SCHEMA, "key_column_usage") => indexes
            .iter()
            .flat_map(|i| {
                i.column_names()
                    .into_iter()
                    .enumerate()
                    .map(|(pos, column)| {
                        row()
                            .set("constraint_catalog", DATABASE_NAME)
                            .set("constraint_schema", i.table.schema)
                            .set("constraint_name", i.name.as_str())
                            .set("table_catalog", DATABASE_NAME)
                            .set("table_schema", i.table.schema)
                            .set("table_name", i.table.name)
                            .set("column_name", column)
                            .set(
                                "ordinal_position",
                                i32::try_from(pos + 1).unwrap_or(i32::MAX),
                            )
                            .finish()
                    })
                    .collect::<Vec<_>>()
            })
            .collect(),
        (PG_CATALOG, "pg_namespace") => [
            (PG_CATALOG_OID, PG_CATALOG),
            (PUBLIC_OID, "public"),
            (INFORMATION_SCHEMA_OID, INFORMATION_SCHEMA),
        ]
        .into_iter()
        .map(|(oid, name)| {
            row()
                .oid("oid", oid)
                .set("nspname", name)
                .oid("nspowner", OWNER_OID)
                .finish()
        })
        .collect(),
        (PG_CATALOG, "pg_class") => rels
            .iter()
            .map(|r| {
                let stored = r.kind != 'v';
                row()
                    .oid("oid", r.oid)
                    .set("relname", r.name)
                    .oid("relnamespace", r.namespace)
                    .oid("relowner", OWNER_OID)
                    .oid("relam", if stored { HEAP_AM_OID } else { 0 })
                    .set("reltuples", Datum::Float32(eddy_repr::OrdF32(-1.0)))
                    .char("relpersistence", 'p')
                    .char("relkind", r.kind)
                    .set(
                        "relnatts",
                        i16::try_from(r.desc.arity()).unwrap_or(i16::MAX),
                    )
                    .set("relhasrules", r.kind != 'r')
                    .set("relhasindex", !r.primary_key.is_empty())
                    .set("relispopulated", true)
                    // Views and system catalogs have no replica identity.
                    .char(
                        "relreplident",
                        if r.kind == 'v' || r.namespace != PUBLIC_OID {
                            'n'
                        } else {
                            'd'
                        },
                    )
                    .finish()
            })
            .chain(indexes.iter().map(|i| {
                row()
                    .oid("oid", i.oid)
                    .set("relname", i.name.as_str())
                    .oid("relnamespace", i.table.namespace)
                    .oid("relowner", OWNER_OID)
                    .oid("relam", BTREE_AM_OID)
                    .set("reltuples", Datum::Float32(eddy_repr::OrdF32(-1.0)))
                    .char("relpersistence", 'p')
                    .char("relkind", 'i')
                    .set(
                        "relnatts",
                        i16::try_from(i.table.primary_key.len()).unwrap_or(i16::MAX),
                    )
                    .set("relispopulated", true)
                    .char("relreplident", 'n')
                    .finish()
            }))
            .collect(),
        (PG_CATALOG, "pg_attribute") => {
            let mut out = vec![];
            for r in rels {
                for (i, (name, typ)) in r.desc.iter().enumerate() {
                    let scalar = typ.scalar_type;
                    let pg = eddy_repr::pgtype::pg_type(scalar.oid());
                    let is_array = pg.is_some_and(|t| t.elem != 0);
                    out.push(
                        row()
                            .oid("attrelid", r.oid)
                            .set("attname", name.as_str())
                            .oid("atttypid", scalar.oid())
                            .set("attstattarget", -1i32)
                            .set("attlen", scalar.typlen())
                            .set("attnum", i16::try_from(i + 1).unwrap_or(i16::MAX))
                            .set("attndims", i32::from(is_array))
                            .set("attcacheoff", -1i32)
                            .set("atttypmod", scalar.typmod())
                            .set("attbyval", pg.is_some_and(|t| t.byval))
                            .char("attalign", pg.map_or('i', |t| t.align))
                            .char("attstorage", pg.map_or('p', |t| t.storage))
                            // Postgres records NOT NULL for table columns only.
                            .set("attnotnull", r.kind == 'r' && !typ.nullable)
                            .set("attislocal", true)
                            .oid("attcollation", pg.map_or(0, |t| t.collation))
                            .finish(),
                    );
                }
            }
            out
        }
        (PG_CATALOG, "pg_type") => PG_TYPES.iter().map(|t| type_row(b, t)).collect(),
        (PG_CATALOG, "pg_database") => vec![row()
            .oid("oid", DATABASE_OID)
            .set("datname", DATABASE_NAME)
            .oid("datdba", OWNER_OID)
            .set("encoding", UTF8_ENCODING)
            .char("datlocprovider", 'c')
            .set("datallowconn", true)
            .set("datconnlimit", -1i32)
            .oid("dattablespace", DEFAULT_TABLESPACE_OID)
            .set("datcollate", "C")
            .set("datctype", "C")
            .finish()],
        (PG_CATALOG, "pg_collation") => [
            (100, "default", 'd', None),
            (950, "C", 'c', Some("C")),
            (951, "POSIX", 'c', Some("POSIX")),
        ]
        .into_iter()
        .map(|(oid, name, provider, locale)| {
            row()
                .oid("oid", oid)
                .set("collname", name)
                .oid("collnamespace", PG_CATALOG_OID)
                .oid("collowner", OWNER_OID)
                .char("collprovider", provider)
                .set("collisdeterministic", true)
                .set("collencoding", -1i32)
                .set("collcollate", locale)
                .set("collctype", locale)
                .finish()
        })
        .collect(),
        (PG_CATALOG, "pg_rewrite") => rels
            .iter()
            .filter_map(|r| {
                let definition = r.definition.clone()?;
                Some(
                    row()
                        .oid("oid", r.oid)
                        .set("rulename", "_RETURN")
                        .oid("ev_class", r.oid)
                        .char("ev_type", '1')
                        .char("ev_enabled", 'O')
                        .set("is_instead", true)
                        .set("ev_qual", "<>")
                        .set("ev_action", definition)
                        .finish(),
                )
            })
            .collect(),
        (PG_CATALOG, "pg_authid") => vec![row()
            .oid("oid", OWNER_OID)
            .set("rolname", OWNER_NAME)
            .set("rolsuper", true)
            .set("rolinherit", true)
            .set("rolcreaterole", true)
            .set("rolcreatedb", true)
            .set("rolcanlogin", true)
            .set("rolconnlimit", -1i32)
            .finish()],
        (PG_CATALOG, "pg_roles") => vec![row()
            .set("rolname", OWNER_NAME)
            .set("rolsuper", true)
            .set("rolinherit", true)
            .set("rolcreaterole", true)
            .set("rolcreatedb", true)
            .set("rolcanlogin", true)
            .set("rolreplication", false)
            .set("rolconnlimit", -1i32)
            .set("rolpassword", "********")
            .set("rolbypassrls", false)
            .oid("oid", OWNER_OID)
            .finish()],
        (PG_CATALOG, "pg_user") => vec![row()
            .set("usename", OWNER_NAME)
            .oid("usesysid", OWNER_OID)
            .set("usecreatedb", true)
            .set("usesuper", true)
            .set("userepl", false)
            .set("usebypassrls", false)
            .set("passwd", "********")
            .finish()],
        (PG_CATALOG, "pg_tablespace") => {
            [(DEFAULT_TABLESPACE_OID, "pg_default"), (1664, "pg_global")]
                .into_iter()
                .map(|(oid, name)| {
                    row()
                        .oid("oid", oid)
                        .set("spcname", name)
                        .oid("spcowner", OWNER_OID)
                        .finish()
                })
                .collect()
        }
        (PG_CATALOG, "pg_settings") => crate::session::DEFAULT_VARS
            .iter()
            .map(|(name, value)| {
                row()
                    .set("name", *name)
                    .set("setting", *value)
                    .set("context", "user")
                    .set("vartype", "string")
                    .set("source", "default")
                    .set("boot_val", *value)
                    .set("reset_val", *value)
                    .set("pending_restart", false)
                    .finish()
            })
            .collect(),
        (PG_CATALOG, "pg_tables") => rels
            .iter()
            .filter(|r| r.kind == 'r')
            .map(|r| {
                row()
                    .set("schemaname", r.schema)
                    .set("tablename", r.name)
                    .set("tableowner", OWNER_NAME)
                    .set("hasindexes", !r.primary_key.is_empty())
                    .set("hasrules", false)
                    .set("hastriggers", false)
                    .set("rowsecurity", false)
                    .finish()
            })
            .collect(),
        (PG_CATALOG, "pg_views") => rels
            .iter()
            .filter(|r| r.kind == 'v')
            .map(|r| {
                row()
                    .set("schemaname", r.schema)
                    .set("viewname", r.name)
                    .set("viewowner", OWNER_NAME)
                    .set("definition", r.definition.clone())
                    .finish()
            })
            .collect(),
        (PG_CATALOG, "pg_matviews") => rels
            .iter()
            .filter(|r| r.kind == 'm')
            .map(|r| {
                row()
                    .set("schemaname", r.schema)
                    .set("matviewname", r.name)
                    .set("matviewowner", OWNER_NAME)
                    .set("hasindexes", false)
                    .set("ispopulated", true)
                    .set("definition", r.definition.clone())
                    .finish()
            })
            .collect(),
        (INFORMATION_SCHEMA, "schemata") => [PG_CATALOG, "public", INFORMATION_SCHEMA]
            .into_iter()
            .map(|schema| {
                row()
                    .set("catalog_name", DATABASE_NAME)
                    .set("schema_name", schema)
                    .set("schema_owner", OWNER_NAME)
                    .finish()
            })
            .collect(),
        // Materialized views are not in information_schema.tables, as in Postgres.
        (INFORMATION_SCHEMA, "tables") => rels
            .iter()
            .filter(|r| r.kind != 'm')
            .map(|r| {
                let base = r.kind == 'r';
                row()
                    .set("table_catalog", DATABASE_NAME)
                    .set("table_schema", r.schema)
                    .set("table_name", r.name)
                    .set("table_type", if base { "BASE TABLE" } else { "VIEW" })
                    .set(
                        "is_insertable_into",
                        yes_no(base && r.namespace == PUBLIC_OID),
                    )
                    .set("is_typed", "NO")
                    .finish()
            })
            .collect(),
        (INFORMATION_SCHEMA, "views") => rels
            .iter()
            .filter(|r| r.kind == 'v')
            .map(|r| {
                row()
                    .set("table_catalog", DATABASE_NAME)
                    .set("table_schema", r.schema)
                    .set("table_name", r.name)
                    .set("view_definition", r.definition.clone())
                    .set("check_option", "NONE")
                    .set("is_updatable", "NO")
                    .set("is_insertable_into", "NO")
                    .set("is_trigger_updatable", "NO")
                    .set("is_trigger_deletable", "NO")
                    .set("is_trigger_insertable_into", "NO")
                    .finish()
            })
            .collect(),
        (INFORMATION_SCHEMA, "columns") => {
            let mut out = vec![];
            for r in rels.iter().filter(|r| r.kind != 'm') {
                for (i, (name, typ)) in r.desc.iter().enumerate() {
                    let info = column_type_info(&typ.scalar_type);
                    let udt =
                        eddy_repr::pgtype::pg_type(typ.scalar_type.oid()).map_or("", |t| t.name);
                    let collatable =
                        typ.scalar_type.is_string() && typ.scalar_type != ScalarType::Name;
                    out.push(
                        row()
                            .set("table_catalog", DATABASE_NAME)
                            .set("table_schema", r.schema)
                            .set("table_name", r.name)
                            .set("column_name", name.as_str())
                            .set("ordinal_position", i32::try_from(i + 1).unwrap_or(i32::MAX))
                            .set("is_nullable", yes_no(r.kind != 'r' || typ.nullable))
                            .set("data_type", info.data_type)
                            .set("character_maximum_length", info.character_maximum_length)
                            .set(
                                "character_octet_length",
                                collatable.then(|| {
                                    info.character_maximum_length
                                        .map_or(1_073_741_824, |n| n.saturating_mul(4))
                                }),
                            )
                            .set("numeric_precision", info.numeric_precision)
                            .set("numeric_precision_radix", info.numeric_precision_radix)
                            .set("numeric_scale", info.numeric_scale)
                            .set("datetime_precision", info.datetime_precision)
                            .set("udt_catalog", DATABASE_NAME)
                            .set("udt_schema", PG_CATALOG)
                            .set("udt_name", udt)
                            .set("dtd_identifier", (i + 1).to_string())
                            .set("is_self_referencing", "NO")
                            .set("is_identity", "NO")
                            .set("identity_cycle", "NO")
                            .set("is_generated", "NEVER")
                            .set(
                                "is_updatable",
                                yes_no(r.kind == 'r' && r.namespace == PUBLIC_OID),
                            )
                            .finish(),
                    );
                }
            }
            out
        }
        // NOT NULL columns are CHECK constraints here, as in Postgres.
        (INFORMATION_SCHEMA, "table_constraints") => rels
            .iter()
            .filter(user)
            .filter(|r| r.kind == 'r')
            .flat_map(|r| {
                r.desc
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, t))| !t.nullable)
                    .map(|(i, _)| {
                        let name = format!("{}_{}_{}_not_null", r.namespace, r.oid, i + 1);
                        constraint_row(r, name, "CHECK")
                    })
                    .collect::<Vec<_>>()
            })
            .chain(
                indexes
                    .iter()
                    .map(|i| constraint_row(i.table, i.name.clone(), "PRIMARY KEY")),
            )
            .collect(),
        // Everything else describes objects Eddy does not have.
        _ => vec![],
    }
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

#[cfg(test)]
mod tests;
