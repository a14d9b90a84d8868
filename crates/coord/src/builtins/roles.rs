//! Roles: `pg_authid`, and the views Postgres defines over it, `pg_roles` and
//! `pg_user`. Each has one row, the one role [`OWNER_NAME`], a superuser that owns
//! everything; its password shows as `********`, as Postgres shows any.

use eddy_repr::Row;

use super::{table, view, Builtin, Relations, RowBuilder, OWNER_NAME, OWNER_OID, PG_CATALOG};

/// How `pg_roles` and `pg_user` show a password.
const PASSWORD_MASK: &str = "********";

/// A row of `pg_authid` or `pg_roles` with what both say of the one role.
fn role_row(b: &Builtin) -> RowBuilder {
    b.row()
        .oid("oid", OWNER_OID)
        .set("rolname", OWNER_NAME)
        .set("rolsuper", true)
        .set("rolinherit", true)
        .set("rolcreaterole", true)
        .set("rolcreatedb", true)
        .set("rolcanlogin", true)
        .set("rolconnlimit", -1i32)
}

pub(super) const PG_AUTHID: Builtin = table(
    PG_CATALOG,
    "pg_authid",
    1260,
    "oid oid!, rolname name!, rolsuper bool!, rolinherit bool!, rolcreaterole bool!, \
     rolcreatedb bool!, rolcanlogin bool!, rolreplication bool!, rolbypassrls bool!, \
     rolconnlimit int4!, rolpassword text, rolvaliduntil timestamptz",
    pg_authid,
);

fn pg_authid(b: &Builtin, _: &Relations) -> Vec<Row> {
    vec![role_row(b).finish()]
}

pub(super) const PG_ROLES: Builtin = view(
    PG_CATALOG,
    "pg_roles",
    12001,
    "rolname name, rolsuper bool, rolinherit bool, rolcreaterole bool, \
     rolcreatedb bool, rolcanlogin bool, rolreplication bool, rolconnlimit int4, \
     rolpassword text, rolvaliduntil timestamptz, rolbypassrls bool, \
     rolconfig text[], oid oid",
    pg_roles,
);

fn pg_roles(b: &Builtin, _: &Relations) -> Vec<Row> {
    vec![role_row(b)
        .set("rolreplication", false)
        .set("rolpassword", PASSWORD_MASK)
        .set("rolbypassrls", false)
        .finish()]
}

pub(super) const PG_USER: Builtin = view(
    PG_CATALOG,
    "pg_user",
    12005,
    "usename name, usesysid oid, usecreatedb bool, usesuper bool, userepl bool, \
     usebypassrls bool, passwd text, valuntil timestamptz, useconfig text[]",
    pg_user,
);

fn pg_user(b: &Builtin, _: &Relations) -> Vec<Row> {
    vec![b
        .row()
        .set("usename", OWNER_NAME)
        .oid("usesysid", OWNER_OID)
        .set("usecreatedb", true)
        .set("usesuper", true)
        .set("userepl", false)
        .set("usebypassrls", false)
        .set("passwd", PASSWORD_MASK)
        .finish()]
}
