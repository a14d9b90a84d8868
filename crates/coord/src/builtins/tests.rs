//! Unit tests of the builtin relations: every row fits its columns, names and OIDs are
//! unique, user items are described, and a refresh writes only differences.

use std::collections::BTreeSet;

use super::*;
use crate::catalog::CatalogEntry;

fn sample_catalog() -> Catalog {
    let mut catalog = Catalog::default();
    let desc = RelationDesc::empty()
        .with_column("id", ScalarType::Int64.nullable(false))
        .with_column(
            "amount",
            ScalarType::Numeric {
                precision: Some(10),
                scale: Some(2),
            }
            .nullable(true),
        )
        .with_column(
            "name",
            ScalarType::Varchar {
                max_length: Some(40),
            }
            .nullable(true),
        );
    catalog.insert(CatalogEntry {
        id: GlobalId::User(1),
        schema: "public".into(),
        name: "orders".into(),
        kind: ItemKind::Table,
        desc: desc.clone(),
        create_sql:
            "CREATE TABLE orders (id bigint NOT NULL, amount numeric(10,2), name varchar(40))"
                .into(),
        plan: None,
        depends_on: BTreeSet::new(),
        primary_key: vec![],
        source: None,
        sink: None,
        pg: None,
        upstream: None,
        defaults: vec![],
        checks: vec![],
        unique: vec![],
        index_key: vec![],
    });
    catalog.insert(CatalogEntry {
        id: GlobalId::User(2),
        schema: "public".into(),
        name: "big".into(),
        kind: ItemKind::MaterializedView,
        desc: RelationDesc::empty().with_column("id", ScalarType::Int64.nullable(false)),
        create_sql: "CREATE MATERIALIZED VIEW big AS SELECT id FROM orders WHERE amount > 10"
            .into(),
        plan: None,
        depends_on: BTreeSet::new(),
        primary_key: vec![],
        source: None,
        sink: None,
        pg: None,
        upstream: None,
        defaults: vec![],
        checks: vec![],
        unique: vec![],
        index_key: vec![],
    });
    catalog
}

/// Whether `d` is a value of type `t` (the datum kinds the planner expects).
fn fits(d: &Datum, t: &ColumnType) -> bool {
    use ScalarType::*;
    match (d, t.scalar_type) {
        (Datum::Null, _) => t.nullable,
        (Datum::Oid(_), Oid | RegProc | RegClass | RegType) => true,
        (Datum::String(_), Name | Text | Varchar { .. }) => true,
        (Datum::String(s), PgChar) => s.chars().count() <= 1,
        (Datum::Bool(_), Bool) => true,
        (Datum::Int16(_), Int16) => true,
        (Datum::Int32(_), Int32) => true,
        (Datum::Int64(_), Int64) => true,
        (Datum::Float32(_), Float32) => true,
        (Datum::Bytes(_), Bytea) => true,
        (Datum::Array(_), t) if t.is_array() => true,
        _ => false,
    }
}

#[test]
fn every_row_fits_its_relation() {
    let catalog = sample_catalog();
    let rels = relations(&catalog);
    for b in BUILTINS {
        let desc = b.desc();
        for row in builtin_rows(b, &rels) {
            let datums = row.unpack();
            assert_eq!(datums.len(), desc.arity(), "{}", b.name);
            for ((d, t), name) in datums.iter().zip(&desc.types).zip(&desc.names) {
                assert!(fits(d, t), "{}.{name}: {d:?} is not a {t:?}", b.name);
            }
        }
    }
}

#[test]
fn names_and_oids_are_unique() {
    let mut names = BTreeSet::new();
    let mut oids = BTreeSet::new();
    for b in BUILTINS {
        assert!(names.insert((b.schema, b.name)), "{}", b.name);
        assert!(oids.insert(b.oid), "{}", b.oid);
        assert!(b.oid < eddy_sql::FIRST_USER_OID);
    }
}

fn rows_of(name: &str, catalog: &Catalog) -> Vec<Vec<Datum>> {
    let b = lookup(PG_CATALOG, name).expect("builtin");
    builtin_rows(b, &relations(catalog))
        .iter()
        .map(Row::unpack)
        .collect()
}

#[test]
fn user_items_are_described() {
    let catalog = sample_catalog();
    let class = rows_of("pg_class", &catalog);
    let orders = class
        .iter()
        .find(|r| r[1] == Datum::from("orders"))
        .expect("orders in pg_class");
    assert_eq!(orders[0], Datum::Oid(16385));
    assert_eq!(orders[2], Datum::Oid(PUBLIC_OID));
    let kind = lookup(PG_CATALOG, "pg_class")
        .unwrap()
        .desc()
        .column_index("relkind")
        .unwrap();
    assert_eq!(orders[kind], Datum::from("r"));
    let big = class.iter().find(|r| r[1] == Datum::from("big")).unwrap();
    assert_eq!(big[kind], Datum::from("m"));

    let attributes = rows_of("pg_attribute", &catalog);
    let amount = attributes
        .iter()
        .find(|r| r[0] == Datum::Oid(16385) && r[1] == Datum::from("amount"))
        .expect("orders.amount");
    let attr = lookup(PG_CATALOG, "pg_attribute").unwrap().desc();
    assert_eq!(
        amount[attr.column_index("atttypid").unwrap()],
        Datum::Oid(1700)
    );
    assert_eq!(
        amount[attr.column_index("atttypmod").unwrap()],
        Datum::Int32((10 << 16 | 2) + 4)
    );
    assert_eq!(
        amount[attr.column_index("attnum").unwrap()],
        Datum::Int16(2)
    );
    assert_eq!(
        amount[attr.column_index("attnotnull").unwrap()],
        Datum::Bool(false)
    );

    let rules = rows_of("pg_rewrite", &catalog);
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0][2], Datum::Oid(16386));
    assert_eq!(
        rules[0][7],
        Datum::from(" SELECT id FROM orders WHERE amount > 10;")
    );
}

#[test]
fn updates_are_differences() {
    let mut state = BuiltinState::default();
    let mut catalog = sample_catalog();
    let first = state.updates(&catalog);
    assert!(first
        .iter()
        .all(|(_, rows)| rows.iter().all(|(_, d)| *d > 0)));
    assert!(state.updates(&catalog).is_empty(), "nothing changed");
    catalog.remove(GlobalId::User(2));
    let second = state.updates(&catalog);
    let class = second
        .iter()
        .find(|(id, _)| *id == GlobalId::System(1259))
        .expect("pg_class changed");
    assert_eq!(class.1.len(), 1);
    assert_eq!(class.1[0].1, -1);
}
