//! The database and what is global to it: `pg_database` (the one database,
//! [`DATABASE_NAME`]), `pg_namespace` (its schemas), `pg_tablespace`, and
//! `pg_settings` (the session variables' defaults, the same for every session).

use eddy_repr::Row;

use super::{table, view, Builtin, Relations, DATABASE_NAME, OWNER_OID, PG_CATALOG};

/// The database's OID in `pg_database`.
const DATABASE_OID: u32 = 16383;
/// `pg_default`, the tablespace of every relation.
const DEFAULT_TABLESPACE_OID: u32 = 1663;
/// UTF8 in `pg_database.encoding`.
const UTF8_ENCODING: i32 = 6;

pub(super) const PG_DATABASE: Builtin = table(
    PG_CATALOG,
    "pg_database",
    1262,
    "oid oid!, datname name!, datdba oid!, encoding int4!, datlocprovider char!, \
     datistemplate bool!, datallowconn bool!, datconnlimit int4!, datfrozenxid oid!, \
     datminmxid oid!, dattablespace oid!, datcollate text!, datctype text!, \
     daticulocale text, datcollversion text, datacl text[]",
    pg_database,
);

fn pg_database(b: &Builtin, _: &Relations) -> Vec<Row> {
    vec![b
        .row()
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
        .finish()]
}

pub(super) const PG_NAMESPACE: Builtin = table(
    PG_CATALOG,
    "pg_namespace",
    2615,
    "oid oid!, nspname name!, nspowner oid!, nspacl text[]",
    pg_namespace,
);

fn pg_namespace(b: &Builtin, rels: &Relations) -> Vec<Row> {
    rels.namespaces
        .iter()
        .map(|(oid, name)| {
            b.row()
                .oid("oid", *oid)
                .set("nspname", name.as_str())
                .oid("nspowner", OWNER_OID)
                .finish()
        })
        .collect()
}

pub(super) const PG_TABLESPACE: Builtin = table(
    PG_CATALOG,
    "pg_tablespace",
    1213,
    "oid oid!, spcname name!, spcowner oid!, spcacl text[], spcoptions text[]",
    pg_tablespace,
);

fn pg_tablespace(b: &Builtin, _: &Relations) -> Vec<Row> {
    [(DEFAULT_TABLESPACE_OID, "pg_default"), (1664, "pg_global")]
        .into_iter()
        .map(|(oid, name)| {
            b.row()
                .oid("oid", oid)
                .set("spcname", name)
                .oid("spcowner", OWNER_OID)
                .finish()
        })
        .collect()
}

pub(super) const PG_SETTINGS: Builtin = view(
    PG_CATALOG,
    "pg_settings",
    12104,
    "name text, setting text, unit text, category text, short_desc text, \
     extra_desc text, context text, vartype text, source text, min_val text, \
     max_val text, enumvals text[], boot_val text, reset_val text, sourcefile text, \
     sourceline int4, pending_restart bool",
    pg_settings,
);

fn pg_settings(b: &Builtin, _: &Relations) -> Vec<Row> {
    crate::session::DEFAULT_VARS
        .iter()
        .map(|(name, value)| {
            b.row()
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
        .collect()
}
