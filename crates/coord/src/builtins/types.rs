//! Types: `pg_type`, one row for every type Eddy has ([`PG_TYPES`]), all base types
//! in `pg_catalog`; and `pg_collation`, the collations those types name.

use eddy_repr::pgtype::{PgType, PG_TYPES};
use eddy_repr::Row;

use super::{table, Builtin, Relations, OWNER_OID, PG_CATALOG, PG_CATALOG_OID};

pub(super) const PG_TYPE: Builtin = table(
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
    pg_type,
);

fn pg_type(b: &Builtin, _: &Relations) -> Vec<Row> {
    PG_TYPES.iter().map(|t| type_row(b, t)).collect()
}

/// The row of `pg_type` for a type.
fn type_row(b: &Builtin, t: &PgType) -> Row {
    // An array type's I/O functions are the array ones (not int2vector's, which has
    // its own).
    let [input, output, receive, send] = if t.name.starts_with('_') {
        eddy_repr::pgtype::ARRAY_FUNCTIONS.map(|(_, oid)| oid)
    } else {
        [0; 4]
    };
    b.row()
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
        .oid("typinput", input)
        .oid("typoutput", output)
        .oid("typreceive", receive)
        .oid("typsend", send)
        .char("typalign", t.align)
        .char("typstorage", t.storage)
        .set("typtypmod", -1i32)
        .oid("typcollation", t.collation)
        .finish()
}

pub(super) const PG_COLLATION: Builtin = table(
    PG_CATALOG,
    "pg_collation",
    3456,
    "oid oid!, collname name!, collnamespace oid!, collowner oid!, collprovider char!, \
     collisdeterministic bool!, collencoding int4!, collcollate text, collctype text, \
     colliculocale text, collversion text",
    pg_collation,
);

fn pg_collation(b: &Builtin, _: &Relations) -> Vec<Row> {
    [
        (100, "default", 'd', None),
        (950, "C", 'c', Some("C")),
        (951, "POSIX", 'c', Some("POSIX")),
    ]
    .into_iter()
    .map(|(oid, name, provider, locale)| {
        b.row()
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
    .collect()
}
