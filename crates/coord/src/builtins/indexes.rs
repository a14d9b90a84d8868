//! Primary keys and UNIQUE constraints, described as Postgres describes them: each is
//! a unique btree index (`<table>_pkey`, or the constraint's name: `pg_index`,
//! `pg_indexes`, and a `pg_class` row built in `relations.rs`) and a constraint of the
//! same name (`pg_constraint`, `contype` `p` or `u`). Indexes made with `CREATE INDEX`
//! are (non-unique) indexes there too, with no constraint. Also the catalogs those
//! refer to: the access methods (`pg_am`) and the btree operator classes (`pg_opclass`).
//!
//! Invariant: an index's and a constraint's OIDs derive from their table's and the
//! key's position among the table's keys (the primary key first), in ranges no item
//! reaches, so they are stable across restarts and never collide. A table shows at
//! most [`KEY_INDEXES_MAX`] keys here (all are enforced).

use eddy_repr::{Datum, Row, ScalarType};

use super::{
    int2, table, view, Builtin, Relation, Relations, BTREE_AM_OID, HEAP_AM_OID, OWNER_OID,
    PG_CATALOG, PG_CATALOG_OID,
};

const INDEX_OID_OFFSET: u32 = 1 << 30;
const CONSTRAINT_OID_OFFSET: u32 = INDEX_OID_OFFSET + (1 << 29);
/// The OIDs of a table's successive keys are this far apart (more than any table's
/// OID: user OIDs stay far below it).
const KEY_OID_STRIDE: u32 = 1 << 24;
/// The keys of one table `pg_index` and `pg_constraint` show: as many as fit between
/// the index and the constraint OID ranges.
pub(super) const KEY_INDEXES_MAX: usize = 32;

/// A table's PRIMARY KEY or UNIQUE constraint, as an index and a constraint.
pub(super) struct KeyIndex<'a> {
    pub(super) table: &'a Relation<'a>,
    pub(super) oid: u32,
    constraint_oid: u32,
    pub(super) name: String,
    pub(super) columns: &'a [usize],
    pub(super) primary: bool,
    /// A PRIMARY KEY or UNIQUE constraint (unique, with a `pg_constraint` row), not an
    /// index made with `CREATE INDEX`.
    pub(super) constraint: bool,
}

/// The primary key and UNIQUE constraints of every table that has some.
pub(super) fn key_indexes<'a>(rels: &'a [Relation<'a>]) -> impl Iterator<Item = KeyIndex<'a>> {
    rels.iter().flat_map(KeyIndex::of)
}

/// The constraints among [`key_indexes`]: primary keys and UNIQUE constraints.
pub(super) fn key_constraints<'a>(rels: &'a [Relation<'a>]) -> impl Iterator<Item = KeyIndex<'a>> {
    key_indexes(rels).filter(|i| i.constraint)
}

impl KeyIndex<'_> {
    fn of<'a>(table: &'a Relation<'a>) -> Vec<KeyIndex<'a>> {
        let primary = (!table.primary_key.is_empty())
            .then(|| (format!("{}_pkey", table.name), table.primary_key, true));
        let unique = table
            .unique
            .iter()
            .map(|u| (u.name.clone(), u.columns.as_slice(), false));
        primary
            .into_iter()
            .chain(unique)
            .take(KEY_INDEXES_MAX)
            .enumerate()
            .map(|(k, (name, columns, primary))| {
                let offset = KEY_OID_STRIDE.wrapping_mul(k as u32);
                KeyIndex {
                    table,
                    oid: table.oid.wrapping_add(INDEX_OID_OFFSET + offset),
                    constraint_oid: table.oid.wrapping_add(CONSTRAINT_OID_OFFSET + offset),
                    name,
                    columns,
                    primary,
                    constraint: true,
                }
            })
            .chain(table.indexes.iter().map(|(oid, name, columns)| KeyIndex {
                table,
                oid: *oid,
                constraint_oid: 0,
                name: name.to_string(),
                columns,
                primary: false,
                constraint: false,
            }))
            .collect()
    }

    /// 1-based column numbers, as `indkey` and `conkey` hold them.
    fn attnums(&self) -> Vec<Datum> {
        let attnum = |c: &usize| Datum::Int16(int2(c + 1));
        self.columns.iter().map(attnum).collect()
    }

    pub(super) fn column_names(&self) -> Vec<&str> {
        let names = &self.table.desc.names;
        self.columns.iter().map(|c| names[*c].as_str()).collect()
    }

    /// `CREATE UNIQUE INDEX ...`, as `pg_get_indexdef` and `pg_indexes` print it.
    fn definition(&self) -> String {
        let quote = eddy_expr::eval::quote_ident;
        let columns: Vec<String> = self.column_names().into_iter().map(quote).collect();
        format!(
            "CREATE {}INDEX {} ON {}.{} USING btree ({})",
            if self.constraint { "UNIQUE " } else { "" },
            quote(&self.name),
            self.table.schema,
            quote(self.table.name),
            columns.join(", ")
        )
    }

    /// One value for each key column, from the column's type.
    fn per_key_column(&self, f: impl Fn(&ScalarType) -> Datum) -> Datum {
        let types = &self.table.desc.types;
        Datum::Array(
            self.columns
                .iter()
                .map(|c| f(&types[*c].scalar_type))
                .collect(),
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

pub(super) const PG_AM: Builtin = table(
    PG_CATALOG,
    "pg_am",
    2601,
    "oid oid!, amname name!, amhandler regproc!, amtype char!",
    pg_am,
);

fn pg_am(b: &Builtin, _: &Relations) -> Vec<Row> {
    [(HEAP_AM_OID, "heap", 't'), (BTREE_AM_OID, "btree", 'i')]
        .into_iter()
        .map(|(oid, name, kind)| {
            b.row()
                .oid("oid", oid)
                .set("amname", name)
                .char("amtype", kind)
                .finish()
        })
        .collect()
}

pub(super) const PG_OPCLASS: Builtin = table(
    PG_CATALOG,
    "pg_opclass",
    2616,
    "oid oid!, opcmethod oid!, opcname name!, opcnamespace oid!, opcowner oid!, \
     opcfamily oid!, opcintype oid!, opcdefault bool!, opckeytype oid!",
    pg_opclass,
);

fn pg_opclass(b: &Builtin, _: &Relations) -> Vec<Row> {
    BTREE_OPCLASSES
        .iter()
        .map(|(oid, name, family, input)| {
            b.row()
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
        .collect()
}

pub(super) const PG_INDEX: Builtin = table(
    PG_CATALOG,
    "pg_index",
    2610,
    "indexrelid oid!, indrelid oid!, indnatts int2!, indnkeyatts int2!, \
     indisunique bool!, indnullsnotdistinct bool!, indisprimary bool!, \
     indisexclusion bool!, indimmediate bool!, indisclustered bool!, indisvalid bool!, \
     indcheckxmin bool!, indisready bool!, indislive bool!, indisreplident bool!, \
     indkey int2vector!, indcollation oid[]!, indclass oid[]!, indoption int2vector!, \
     indexprs text, indpred text",
    pg_index,
);

fn pg_index(b: &Builtin, rels: &Relations) -> Vec<Row> {
    key_indexes(rels)
        .map(|i| {
            let n = int2(i.columns.len());
            let collation = |t: &ScalarType| Datum::Oid(if t.is_string() { 100 } else { 0 });
            b.row()
                .oid("indexrelid", i.oid)
                .oid("indrelid", i.table.oid)
                .set("indnatts", n)
                .set("indnkeyatts", n)
                .set("indisunique", i.constraint)
                .set("indisprimary", i.primary)
                .set("indimmediate", true)
                .set("indisvalid", true)
                .set("indisready", true)
                .set("indislive", true)
                .set("indkey", Datum::Array(i.attnums()))
                .set("indcollation", i.per_key_column(collation))
                .set(
                    "indclass",
                    i.per_key_column(|t| Datum::Oid(btree_opclass(t))),
                )
                .set("indoption", i.per_key_column(|_| Datum::Int16(0)))
                .finish()
        })
        .collect()
}

pub(super) const PG_INDEXES: Builtin = view(
    PG_CATALOG,
    "pg_indexes",
    12076,
    "schemaname name, tablename name, indexname name, tablespace name, indexdef text",
    pg_indexes,
);

fn pg_indexes(b: &Builtin, rels: &Relations) -> Vec<Row> {
    key_indexes(rels)
        .map(|i| {
            b.row()
                .set("schemaname", i.table.schema)
                .set("tablename", i.table.name)
                .set("indexname", i.name.as_str())
                .set("indexdef", i.definition())
                .finish()
        })
        .collect()
}

pub(super) const PG_CONSTRAINT: Builtin = table(
    PG_CATALOG,
    "pg_constraint",
    2606,
    "oid oid!, conname name!, connamespace oid!, contype char!, condeferrable bool!, \
     condeferred bool!, convalidated bool!, conrelid oid!, contypid oid!, conindid oid!, \
     conparentid oid!, confrelid oid!, confupdtype char!, confdeltype char!, \
     confmatchtype char!, conislocal bool!, coninhcount int4!, connoinherit bool!, \
     conkey int2[], confkey int2[], conpfeqop oid[], conppeqop oid[], conffeqop oid[], \
     confdelsetcols int2[], conexclop oid[], conbin text",
    pg_constraint,
);

fn pg_constraint(b: &Builtin, rels: &Relations) -> Vec<Row> {
    key_constraints(rels)
        .map(|i| {
            b.row()
                .oid("oid", i.constraint_oid)
                .set("conname", i.name.as_str())
                .oid("connamespace", i.table.namespace)
                .char("contype", if i.primary { 'p' } else { 'u' })
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
        .collect()
}
