//! The relations themselves: `pg_class` (every table, view and materialized view,
//! builtin or user, and the index of each primary key), `pg_attribute` (their
//! columns), `pg_rewrite` (each view's `_RETURN` rule), and the views Postgres defines
//! over them: `pg_tables`, `pg_views`, `pg_matviews`.
//!
//! Invariant: these list the builtin relations too, so `\d pg_class` works; a
//! column is NOT NULL (`attnotnull`) only in a table, as in Postgres.

use eddy_repr::{Datum, Row};

use super::indexes::key_indexes;
use super::{
    int2, of_kind, table, view, Builtin, Relations, RowBuilder, BTREE_AM_OID, HEAP_AM_OID,
    OWNER_NAME, OWNER_OID, PG_CATALOG,
};

pub(super) const PG_CLASS: Builtin = table(
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
    pg_class,
);

fn pg_class(b: &Builtin, rels: &Relations) -> Vec<Row> {
    let relations = rels.iter().map(|r| {
        let stored = r.kind != 'v';
        // Views and system catalogs have no replica identity.
        let replident = if r.kind == 'v' || !r.user { 'n' } else { 'd' };
        class_row(b, r.oid, r.name, r.namespace, r.kind)
            .oid("relam", if stored { HEAP_AM_OID } else { 0 })
            .set("relnatts", int2(r.desc.arity()))
            .set("relhasrules", r.kind != 'r')
            .set(
                "relhasindex",
                !r.primary_key.is_empty() || !r.unique.is_empty() || !r.indexes.is_empty(),
            )
            .char("relreplident", replident)
            .finish()
    });
    let indexes = key_indexes(rels).map(|i| {
        class_row(b, i.oid, &i.name, i.table.namespace, 'i')
            .oid("relam", BTREE_AM_OID)
            .set("relnatts", int2(i.columns.len()))
            .char("relreplident", 'n')
            .finish()
    });
    relations.chain(indexes).collect()
}

/// A row of `pg_class` with the columns every relation kind sets alike.
fn class_row(b: &Builtin, oid: u32, name: &str, namespace: u32, kind: char) -> RowBuilder {
    b.row()
        .oid("oid", oid)
        .set("relname", name)
        .oid("relnamespace", namespace)
        .oid("relowner", OWNER_OID)
        .set("reltuples", Datum::Float32(eddy_repr::OrdF32(-1.0)))
        .char("relpersistence", 'p')
        .char("relkind", kind)
        .set("relispopulated", true)
}

pub(super) const PG_ATTRIBUTE: Builtin = table(
    PG_CATALOG,
    "pg_attribute",
    1249,
    "attrelid oid!, attname name!, atttypid oid!, attstattarget int4!, attlen int2!, \
     attnum int2!, attndims int4!, attcacheoff int4!, atttypmod int4!, attbyval bool!, \
     attalign char!, attstorage char!, attcompression char!, attnotnull bool!, \
     atthasdef bool!, atthasmissing bool!, attidentity char!, attgenerated char!, \
     attisdropped bool!, attislocal bool!, attinhcount int4!, attcollation oid!, \
     attacl text[], attoptions text[], attfdwoptions text[], attmissingval text[]",
    pg_attribute,
);

/// One row per column with a `DEFAULT`: its expression as SQL text (which
/// `pg_get_expr` returns as it is), so psql's `\d` and JDBC's `getColumns` show it.
pub(super) fn pg_attrdef(b: &Builtin, rels: &Relations) -> Vec<Row> {
    let mut out = vec![];
    for r in rels.iter() {
        for i in 0..r.desc.arity() {
            if let Some(default) = r.default_of(i) {
                out.push(
                    b.row()
                        // A stable oid of its own: the table's, with the column number.
                        .oid("oid", r.oid.wrapping_shl(8) | (i as u32 + 1))
                        .oid("adrelid", r.oid)
                        .set("adnum", int2(i + 1))
                        .set("adbin", default)
                        .finish(),
                );
            }
        }
    }
    out
}

fn pg_attribute(b: &Builtin, rels: &Relations) -> Vec<Row> {
    let mut out = vec![];
    for r in rels.iter() {
        for (i, (name, typ)) in r.desc.iter().enumerate() {
            let scalar = typ.scalar_type;
            let pg = eddy_repr::pgtype::pg_type(scalar.oid());
            let is_array = pg.is_some_and(|t| t.elem != 0);
            out.push(
                b.row()
                    .oid("attrelid", r.oid)
                    .set("attname", name.as_str())
                    .oid("atttypid", scalar.oid())
                    .set("attstattarget", -1i32)
                    .set("attlen", scalar.typlen())
                    .set("attnum", int2(i + 1))
                    .set("attndims", i32::from(is_array))
                    .set("attcacheoff", -1i32)
                    .set("atttypmod", scalar.typmod())
                    .set("attbyval", pg.is_some_and(|t| t.byval))
                    .char("attalign", pg.map_or('i', |t| t.align))
                    .char("attstorage", pg.map_or('p', |t| t.storage))
                    // Postgres records NOT NULL for table columns only.
                    .set("attnotnull", r.kind == 'r' && !typ.nullable)
                    .set("attislocal", true)
                    .set("atthasdef", r.default_of(i).is_some())
                    .oid("attcollation", pg.map_or(0, |t| t.collation))
                    .finish(),
            );
        }
    }
    out
}

pub(super) const PG_REWRITE: Builtin = table(
    PG_CATALOG,
    "pg_rewrite",
    2618,
    "oid oid!, rulename name!, ev_class oid!, ev_type char!, ev_enabled char!, \
     is_instead bool!, ev_qual text!, ev_action text!",
    pg_rewrite,
);

/// A view's `_RETURN` rule, with its query in `ev_action`.
fn pg_rewrite(b: &Builtin, rels: &Relations) -> Vec<Row> {
    rels.iter()
        .filter_map(|r| {
            let definition = r.definition.clone()?;
            Some(
                b.row()
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
        .collect()
}

pub(super) const PG_TABLES: Builtin = view(
    PG_CATALOG,
    "pg_tables",
    12068,
    "schemaname name, tablename name, tableowner name, tablespace name, \
     hasindexes bool, hasrules bool, hastriggers bool, rowsecurity bool",
    pg_tables,
);

fn pg_tables(b: &Builtin, rels: &Relations) -> Vec<Row> {
    of_kind(rels, 'r')
        .map(|r| {
            b.row()
                .set("schemaname", r.schema)
                .set("tablename", r.name)
                .set("tableowner", OWNER_NAME)
                .set("hasindexes", !r.primary_key.is_empty())
                .set("hasrules", false)
                .set("hastriggers", false)
                .set("rowsecurity", false)
                .finish()
        })
        .collect()
}

pub(super) const PG_VIEWS: Builtin = view(
    PG_CATALOG,
    "pg_views",
    12028,
    "schemaname name, viewname name, viewowner name, definition text",
    pg_views,
);

fn pg_views(b: &Builtin, rels: &Relations) -> Vec<Row> {
    of_kind(rels, 'v')
        .map(|r| {
            b.row()
                .set("schemaname", r.schema)
                .set("viewname", r.name)
                .set("viewowner", OWNER_NAME)
                .set("definition", r.definition.clone())
                .finish()
        })
        .collect()
}

pub(super) const PG_MATVIEWS: Builtin = view(
    PG_CATALOG,
    "pg_matviews",
    12072,
    "schemaname name, matviewname name, matviewowner name, tablespace name, \
     hasindexes bool, ispopulated bool, definition text",
    pg_matviews,
);

fn pg_matviews(b: &Builtin, rels: &Relations) -> Vec<Row> {
    of_kind(rels, 'm')
        .map(|r| {
            b.row()
                .set("schemaname", r.schema)
                .set("matviewname", r.name)
                .set("matviewowner", OWNER_NAME)
                .set("hasindexes", false)
                .set("ispopulated", true)
                .set("definition", r.definition.clone())
                .finish()
        })
        .collect()
}
