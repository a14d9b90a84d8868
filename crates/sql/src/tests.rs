//! Planner tests against a small in-memory catalog.
//!
//! Most tests assert plan shapes, types and errors (SQLSTATE and message, checked
//! against Postgres 15). Semantic tests of joins, aggregates and set operations run the
//! plans on a tiny reference interpreter ([`run`]) that supports exactly the scalar
//! functions those tests use, so they do not depend on `eddy-expr`'s evaluator.

use std::collections::{BTreeMap, BTreeSet};

use eddy_expr::func::CastKind;
use eddy_expr::{
    AggregateFunc, BinaryFunc, ColumnOrder, MirRelationExpr, MirScalarExpr, UnaryFunc, VariadicFunc,
};
use eddy_repr::Numeric;
use eddy_repr::{ColumnType, DateTimeUnit, Datum, GlobalId, RelationDesc, ScalarType};

use crate::*;
use eddy_repr::SqlError;

// ---------------------------------------------------------------------------------
// Fixture

struct TestCatalog {
    items: BTreeMap<(String, String), CatalogItem>,
}

fn col(name: &str, typ: ScalarType, nullable: bool) -> (String, ColumnType) {
    (name.to_string(), typ.nullable(nullable))
}

fn desc(cols: Vec<(String, ColumnType)>) -> RelationDesc {
    let (names, types) = cols.into_iter().unzip();
    RelationDesc::new(names, types)
}

const T: GlobalId = GlobalId::User(1);
const U: GlobalId = GlobalId::User(2);
const MV: GlobalId = GlobalId::User(4);
const SRC: GlobalId = GlobalId::User(5);
const L: GlobalId = GlobalId::User(6);
const R: GlobalId = GlobalId::User(7);
const PG_CLASS: GlobalId = GlobalId::System(1);

fn numeric(p: u8, s: u8) -> ScalarType {
    ScalarType::Numeric {
        precision: Some(p),
        scale: Some(s),
    }
}

const NUMERIC: ScalarType = ScalarType::Numeric {
    precision: None,
    scale: None,
};

impl TestCatalog {
    fn new() -> Self {
        let mut items = BTreeMap::new();
        let mut add = |schema: &str, item: CatalogItem| {
            items.insert((schema.to_string(), item.name.clone()), item);
        };
        use ScalarType::*;
        let t_desc = desc(vec![
            col("a", Int32, false),
            col("b", Text, true),
            col(
                "c",
                Varchar {
                    max_length: Some(3),
                },
                true,
            ),
            col("d", Date, true),
        ]);
        add(
            "public",
            CatalogItem {
                id: T,
                name: "t".into(),
                kind: ItemKind::Table,
                desc: t_desc.clone(),
                view_expr: None,
                defaults: vec![],
                event_time: None,
                retention_us: None,
            },
        );
        add(
            "public",
            CatalogItem {
                id: U,
                name: "u".into(),
                kind: ItemKind::Table,
                desc: desc(vec![
                    col("a", Int32, true),
                    col("x", Int64, true),
                    col("y", numeric(10, 2), true),
                    col("z", Float64, true),
                    col("ts", Timestamp, true),
                    col("tz", TimestampTz, true),
                    col("j", Jsonb, true),
                    col("f", Bool, true),
                    col("ch", Char { length: Some(3) }, true),
                    col("s", Int16, true),
                ]),
                view_expr: None,
                defaults: vec![],
                event_time: None,
                retention_us: None,
            },
        );
        // A plain view over t: `SELECT a, b FROM t WHERE a > 0`.
        let view_expr = MirRelationExpr::Get {
            id: T,
            typ: t_desc.types.clone(),
            name: "t".into(),
        }
        .filter(vec![MirScalarExpr::Column(0).call_binary(
            MirScalarExpr::literal(Datum::Int32(0), Int32.nullable(false)),
            BinaryFunc::Gt,
        )])
        .project(vec![0, 1]);
        add(
            "public",
            CatalogItem {
                id: GlobalId::User(3),
                name: "v".into(),
                kind: ItemKind::View,
                desc: desc(vec![col("a", Int32, false), col("b", Text, true)]),
                view_expr: Some(view_expr),
                defaults: vec![],
                event_time: None,
                retention_us: None,
            },
        );
        add(
            "public",
            CatalogItem {
                id: MV,
                name: "mv".into(),
                kind: ItemKind::MaterializedView,
                desc: desc(vec![col("a", Int32, false), col("cnt", Int64, false)]),
                view_expr: None,
                defaults: vec![],
                event_time: None,
                retention_us: None,
            },
        );
        add(
            "public",
            CatalogItem {
                id: SRC,
                name: "src".into(),
                kind: ItemKind::Source,
                desc: desc(vec![col("k", Text, false)]),
                view_expr: None,
                defaults: vec![],
                event_time: None,
                retention_us: None,
            },
        );
        for (id, name) in [(L, "l"), (R, "r")] {
            add(
                "public",
                CatalogItem {
                    id,
                    name: name.into(),
                    kind: ItemKind::Table,
                    desc: desc(vec![
                        col("id", Int32, true),
                        col(&format!("{name}v"), Int32, true),
                    ]),
                    view_expr: None,
                    defaults: vec![],
                    event_time: None,
                    retention_us: None,
                },
            );
        }
        add(
            "pg_catalog",
            CatalogItem {
                id: PG_CLASS,
                name: "pg_class".into(),
                kind: ItemKind::Table,
                desc: desc(vec![col("oid", Oid, false), col("relname", Name, false)]),
                view_expr: None,
                defaults: vec![],
                event_time: None,
                retention_us: None,
            },
        );
        TestCatalog { items }
    }
}

impl Catalog for TestCatalog {
    fn resolve_item(&self, schema: Option<&str>, name: &str) -> Option<CatalogItem> {
        let get = |s: &str| self.items.get(&(s.to_string(), name.to_string())).cloned();
        match schema {
            Some(s) => get(s),
            None => get("pg_catalog").or_else(|| get("public")),
        }
    }

    fn schema_exists(&self, name: &str) -> bool {
        name == "public" || self.items.keys().any(|(schema, _)| schema == name)
    }

    fn create_sql(&self, id: GlobalId) -> Option<String> {
        (id == T).then(|| {
            "CREATE TABLE t (a int NOT NULL CHECK (a > 0), b text, c varchar(3), d date, CHECK (b <> c))"
                .to_string()
        })
    }
}

#[test]
fn schemas_are_created_dropped_and_hold_new_items() {
    match plan_ok("CREATE SCHEMA IF NOT EXISTS shop") {
        Plan::CreateSchema {
            name,
            if_not_exists,
        } => assert!(name == "shop" && if_not_exists),
        other => panic!("not CREATE SCHEMA: {other:?}"),
    }
    assert_err(
        "CREATE SCHEMA public",
        "42P06",
        "schema \"public\" already exists",
    );
    assert_err(
        "CREATE SCHEMA pg_mine",
        "42939",
        "unacceptable schema name \"pg_mine\"",
    );
    match plan_ok("DROP SCHEMA IF EXISTS nope, pg_catalog_x CASCADE") {
        Plan::DropSchema {
            names,
            missing,
            cascade,
        } => {
            assert!(names.is_empty() && cascade);
            assert_eq!(missing, vec!["nope", "pg_catalog_x"]);
        }
        other => panic!("not DROP SCHEMA: {other:?}"),
    }
    assert_err(
        "DROP SCHEMA nope",
        "3F000",
        "schema \"nope\" does not exist",
    );
    assert_err(
        "DROP SCHEMA public",
        "2BP01",
        "cannot drop schema public because it is required by the database system",
    );
    // New items: in `public` unless qualified; the schema must exist and not be a
    // system one.
    match plan_ok("CREATE TABLE pg_catalog_free (a int)") {
        Plan::CreateTable { schema, name, .. } => {
            assert_eq!(
                (schema.as_str(), name.as_str()),
                ("public", "pg_catalog_free")
            )
        }
        other => panic!("not CREATE TABLE: {other:?}"),
    }
    assert_err(
        "CREATE TABLE nope.t (a int)",
        "3F000",
        "schema \"nope\" does not exist",
    );
    assert_err(
        "CREATE VIEW pg_catalog.v AS SELECT 1",
        "42501",
        "permission denied to create \"pg_catalog.v\"",
    );
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2024-05-06T07:08:09.123456Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn ctx() -> PlanContext {
    PlanContext {
        backend_pid: 42,
        ..PlanContext::new(now(), "alice", "materialize")
    }
}

fn one_statement(sql: &str) -> Statement {
    let mut stmts = parse(sql).unwrap_or_else(|e| panic!("parse {sql}: {e:?}"));
    assert_eq!(stmts.len(), 1, "{sql}");
    stmts.remove(0)
}

fn try_plan_with(sql: &str, ctx: &PlanContext) -> Result<Plan, SqlError> {
    plan(&TestCatalog::new(), ctx, &one_statement(sql))
}

fn try_plan(sql: &str) -> Result<Plan, SqlError> {
    try_plan_with(sql, &ctx())
}

fn plan_ok(sql: &str) -> Plan {
    try_plan(sql).unwrap_or_else(|e| panic!("plan {sql}: {e:?}"))
}

#[track_caller]
fn assert_err(sql: &str, sqlstate: &str, message: &str) -> SqlError {
    match try_plan(sql) {
        Ok(plan) => panic!("{sql}: expected an error, got {plan:?}"),
        Err(e) => {
            assert_eq!(
                (e.sqlstate.code(), e.message.as_str()),
                (sqlstate, message),
                "{sql}"
            );
            e
        }
    }
}

struct Select {
    expr: MirRelationExpr,
    finishing: RowSetFinishing,
    desc: RelationDesc,
}

fn select(sql: &str) -> Select {
    match plan_ok(sql) {
        Plan::Select {
            expr,
            finishing,
            desc,
        } => Select {
            expr,
            finishing,
            desc,
        },
        other => panic!("{sql}: not a select: {other:?}"),
    }
}

fn names(desc: &RelationDesc) -> Vec<&str> {
    desc.names.iter().map(|s| s.as_str()).collect()
}

fn scalar_types(desc: &RelationDesc) -> Vec<ScalarType> {
    desc.types.iter().map(|t| t.scalar_type).collect()
}

fn lit(d: Datum, t: ScalarType) -> MirScalarExpr {
    let typ = t.nullable(d.is_null());
    MirScalarExpr::literal(d, typ)
}

fn cast(e: MirScalarExpr, to: ScalarType) -> MirScalarExpr {
    e.call_unary(UnaryFunc::Cast {
        to,
        kind: CastKind::Explicit,
    })
}

// ---------------------------------------------------------------------------------
// A reference interpreter for plans (test only).

type Data = BTreeMap<GlobalId, Vec<Vec<Datum>>>;
type Multiset = BTreeMap<Vec<Datum>, i64>;

fn int_of(d: &Datum) -> Option<i64> {
    match d {
        Datum::Int16(v) => Some(*v as i64),
        Datum::Int32(v) => Some(*v as i64),
        Datum::Int64(v) => Some(*v),
        _ => None,
    }
}

fn num_of(d: &Datum) -> Numeric {
    match d {
        Datum::Numeric(n) => *n,
        other => Numeric::from(int_of(other).expect("number")),
    }
}

type ScalarEval = fn(&MirScalarExpr, &[Datum]) -> Datum;

/// `eddy-expr`'s evaluator, for end-to-end checks of constant queries.
fn real_eval(e: &MirScalarExpr, row: &[Datum]) -> Datum {
    e.eval(row).unwrap_or_else(|err| panic!("{e:?}: {err}"))
}

fn eval(e: &MirScalarExpr, row: &[Datum]) -> Datum {
    use Datum::*;
    match e {
        MirScalarExpr::Column(i) => row[*i].clone(),
        MirScalarExpr::Literal(Ok(d), _) => d.clone(),
        MirScalarExpr::Literal(Err(e), _) => panic!("error literal {e}"),
        MirScalarExpr::If { cond, then, els } => {
            if eval(cond, row) == Bool(true) {
                eval(then, row)
            } else {
                eval(els, row)
            }
        }
        MirScalarExpr::CallUnary { func, expr } => {
            let v = eval(expr, row);
            match func {
                UnaryFunc::IsNull => Bool(v.is_null()),
                _ if v.is_null() => Null,
                UnaryFunc::Not => Bool(!v.as_bool().unwrap()),
                UnaryFunc::Cast { to, .. } => match to {
                    ScalarType::Int64 => Int64(int_of(&v).unwrap()),
                    ScalarType::Int32 => Int32(int_of(&v).unwrap() as i32),
                    ScalarType::Numeric { .. } => Numeric(num_of(&v)),
                    other => panic!("test interpreter: cast to {other:?}"),
                },
                other => panic!("test interpreter: {other:?}"),
            }
        }
        MirScalarExpr::CallBinary { func, expr1, expr2 } => {
            let (a, b) = (eval(expr1, row), eval(expr2, row));
            if a.is_null() || b.is_null() {
                return Null;
            }
            match func {
                BinaryFunc::Eq => Bool(a.sql_cmp(&b).is_eq()),
                BinaryFunc::NotEq => Bool(!a.sql_cmp(&b).is_eq()),
                BinaryFunc::Lt => Bool(a.sql_cmp(&b).is_lt()),
                BinaryFunc::Gt => Bool(a.sql_cmp(&b).is_gt()),
                BinaryFunc::Gte => Bool(a.sql_cmp(&b).is_ge()),
                BinaryFunc::Lte => Bool(a.sql_cmp(&b).is_le()),
                BinaryFunc::Add => match (&a, &b) {
                    (Int32(x), Int32(y)) => Int32(x + y),
                    (Int64(x), Int64(y)) => Int64(x + y),
                    _ => panic!("test interpreter: {a:?} + {b:?}"),
                },
                BinaryFunc::Div => match (&a, &b) {
                    (Numeric(x), Numeric(y)) => Numeric(x.checked_div(*y).unwrap()),
                    _ => panic!("test interpreter: {a:?} / {b:?}"),
                },
                other => panic!("test interpreter: {other:?}"),
            }
        }
        MirScalarExpr::CallVariadic { func, exprs } => {
            let vals: Vec<Datum> = exprs.iter().map(|e| eval(e, row)).collect();
            match func {
                VariadicFunc::And => {
                    if vals.contains(&Bool(false)) {
                        Bool(false)
                    } else if vals.iter().any(|v| v.is_null()) {
                        Null
                    } else {
                        Bool(true)
                    }
                }
                VariadicFunc::Or => {
                    if vals.contains(&Bool(true)) {
                        Bool(true)
                    } else if vals.iter().any(|v| v.is_null()) {
                        Null
                    } else {
                        Bool(false)
                    }
                }
                VariadicFunc::Coalesce => vals.into_iter().find(|v| !v.is_null()).unwrap_or(Null),
                other => panic!("test interpreter: {other:?}"),
            }
        }
    }
}

fn add(out: &mut Multiset, row: Vec<Datum>, diff: i64) {
    let entry = out.entry(row.clone()).or_insert(0);
    *entry += diff;
    if *entry == 0 {
        out.remove(&row);
    }
}

fn run(e: &MirRelationExpr, data: &Data) -> Multiset {
    run_with(e, data, eval)
}

fn run_with(e: &MirRelationExpr, data: &Data, eval: ScalarEval) -> Multiset {
    let run = |e: &MirRelationExpr, data: &Data| run_with(e, data, eval);
    let mut out = Multiset::new();
    match e {
        MirRelationExpr::Constant { rows, .. } => {
            for (row, diff) in rows {
                add(&mut out, row.unpack(), *diff);
            }
        }
        MirRelationExpr::Get { id, .. } => {
            for row in &data[id] {
                add(&mut out, row.clone(), 1);
            }
        }
        MirRelationExpr::Map { input, scalars } => {
            for (mut row, diff) in run(input, data) {
                for s in scalars {
                    let v = eval(s, &row);
                    row.push(v);
                }
                add(&mut out, row, diff);
            }
        }
        MirRelationExpr::FlatMap { input, calls } => {
            for (row, diff) in run(input, data) {
                let values: Vec<(usize, Vec<Datum>)> = calls
                    .iter()
                    .map(|c| {
                        let args: Vec<Datum> = c.exprs.iter().map(|e| eval(e, &row)).collect();
                        (
                            c.func.arity(),
                            c.func.eval(&args, usize::MAX).unwrap().unwrap(),
                        )
                    })
                    .collect();
                for appended in eddy_expr::table_func::lockstep(values) {
                    let mut out_row = row.clone();
                    out_row.extend(appended);
                    add(&mut out, out_row, diff);
                }
            }
        }
        MirRelationExpr::Filter { input, predicates } => {
            for (row, diff) in run(input, data) {
                if predicates
                    .iter()
                    .all(|p| eval(p, &row) == Datum::Bool(true))
                {
                    add(&mut out, row, diff);
                }
            }
        }
        MirRelationExpr::TemporalFilter { .. } | MirRelationExpr::Watermarked { .. } => {
            panic!("plans are run here without time: no temporal filters or watermarks")
        }
        MirRelationExpr::Project { input, outputs } => {
            for (row, diff) in run(input, data) {
                add(
                    &mut out,
                    outputs.iter().map(|i| row[*i].clone()).collect(),
                    diff,
                );
            }
        }
        MirRelationExpr::Join {
            inputs,
            equivalences,
        } => {
            let mut acc: Multiset = [(vec![], 1)].into_iter().collect();
            for input in inputs {
                let rows = run(input, data);
                let mut next = Multiset::new();
                for (a, da) in &acc {
                    for (b, db) in &rows {
                        let mut row = a.clone();
                        row.extend(b.iter().cloned());
                        add(&mut next, row, da * db);
                    }
                }
                acc = next;
            }
            for (row, diff) in acc {
                let ok = equivalences.iter().all(|class| {
                    let vals: Vec<Datum> = class.iter().map(|e| eval(e, &row)).collect();
                    vals.iter().all(|v| !v.is_null() && *v == vals[0])
                });
                if ok {
                    add(&mut out, row, diff);
                }
            }
        }
        MirRelationExpr::Reduce {
            input,
            group_key,
            aggregates,
        } => {
            let input_typ = input.typ();
            let mut groups: BTreeMap<Vec<Datum>, Vec<(Vec<Datum>, i64)>> = BTreeMap::new();
            for (row, diff) in run(input, data) {
                assert!(diff > 0, "reduce over a negative multiplicity");
                let key = group_key.iter().map(|k| eval(k, &row)).collect();
                groups.entry(key).or_default().push((row, diff));
            }
            for (key, rows) in groups {
                let mut result = key;
                for agg in aggregates {
                    let mut values: Vec<Datum> = vec![];
                    for (row, diff) in &rows {
                        let v = eval(&agg.expr, row);
                        for _ in 0..*diff {
                            values.push(v.clone());
                        }
                    }
                    values.retain(|v| !v.is_null());
                    if agg.distinct {
                        values.sort();
                        values.dedup();
                    }
                    result.push(match agg.func {
                        AggregateFunc::Count => Datum::Int64(values.len() as i64),
                        _ if values.is_empty() => Datum::Null,
                        AggregateFunc::Sum => {
                            let out = agg.func.output_type(agg.expr.typ(&input_typ)).scalar_type;
                            match (&values[0], out) {
                                (Datum::Float64(_), _) => Datum::from(
                                    values
                                        .iter()
                                        .map(|v| match v {
                                            Datum::Float64(f) => f.0,
                                            _ => unreachable!(),
                                        })
                                        .sum::<f64>(),
                                ),
                                (_, ScalarType::Int64) => {
                                    Datum::Int64(values.iter().map(|v| int_of(v).unwrap()).sum())
                                }
                                _ => Datum::Numeric(
                                    values
                                        .iter()
                                        .map(num_of)
                                        .try_fold(eddy_repr::Numeric::ZERO, |a, b| a.checked_add(b))
                                        .unwrap(),
                                ),
                            }
                        }
                        AggregateFunc::Min => {
                            values.iter().min_by(|a, b| a.sql_cmp(b)).unwrap().clone()
                        }
                        AggregateFunc::Max => {
                            values.iter().max_by(|a, b| a.sql_cmp(b)).unwrap().clone()
                        }
                        AggregateFunc::BoolOr => Datum::Bool(values.contains(&Datum::Bool(true))),
                        AggregateFunc::BoolAnd => {
                            Datum::Bool(!values.contains(&Datum::Bool(false)))
                        }
                        _ => panic!("the reference evaluator does not model {}", agg.func.name()),
                    });
                }
                add(&mut out, result, 1);
            }
        }
        MirRelationExpr::Window { .. } => {
            panic!("the reference evaluator does not model window functions (window_functions.slt checks them against Postgres)")
        }
        MirRelationExpr::Negate { input } => {
            for (row, diff) in run(input, data) {
                add(&mut out, row, -diff);
            }
        }
        MirRelationExpr::Threshold { input } => {
            for (row, diff) in run(input, data) {
                if diff > 0 {
                    add(&mut out, row, diff);
                }
            }
        }
        MirRelationExpr::Recursive {
            id,
            base,
            step,
            distinct,
            max_iterations,
            ..
        } => {
            // Iterates `R = base ∪ step(R)` from scratch, the binding read as a constant.
            let fix = |rows: Multiset| -> Multiset {
                if *distinct {
                    rows.into_iter()
                        .filter(|(_, d)| *d > 0)
                        .map(|(r, _)| (r, 1))
                        .collect()
                } else {
                    rows
                }
            };
            let base_rows = run(base, data);
            let mut current = fix(base_rows.clone());
            let mut rounds = 0;
            loop {
                let mut step = step.as_ref().clone();
                bind_recursive(&mut step, *id, &current);
                let mut next = base_rows.clone();
                for (row, diff) in run(&step, data) {
                    add(&mut next, row, diff);
                }
                let next = fix(next);
                if next == current {
                    break;
                }
                rounds += 1;
                assert!(rounds <= *max_iterations, "recursion did not finish");
                current = next;
            }
            out = current;
        }
        MirRelationExpr::GetRecursive { .. } => panic!("a recursive read outside its loop"),
        MirRelationExpr::Union { base, inputs } => {
            for (row, diff) in run(base, data) {
                add(&mut out, row, diff);
            }
            for input in inputs {
                for (row, diff) in run(input, data) {
                    add(&mut out, row, diff);
                }
            }
        }
        MirRelationExpr::TopK {
            input,
            group_key,
            order_key,
            limit,
            offset,
        } => {
            let mut groups: BTreeMap<Vec<Datum>, Multiset> = BTreeMap::new();
            for (row, diff) in run(input, data) {
                let key = group_key.iter().map(|c| row[*c].clone()).collect();
                add(groups.entry(key).or_default(), row, diff);
            }
            for (_, group) in groups {
                let rows = sorted_rows(group, order_key);
                let end = limit
                    .map(|l| offset + l)
                    .unwrap_or(rows.len())
                    .min(rows.len());
                for row in rows.into_iter().take(end).skip(*offset) {
                    add(&mut out, row, 1);
                }
            }
        }
    }
    out
}

/// Replaces the reads of recursive binding `id` in `expr` with `rows`.
fn bind_recursive(expr: &mut MirRelationExpr, id: u64, rows: &Multiset) {
    if let MirRelationExpr::GetRecursive { id: i, typ, .. } = expr {
        if *i == id {
            *expr = MirRelationExpr::Constant {
                rows: rows
                    .iter()
                    .map(|(r, d)| (eddy_repr::Row::pack(r), *d))
                    .collect(),
                typ: typ.clone(),
            };
        }
        return;
    }
    for child in expr.children_mut() {
        bind_recursive(child, id, rows);
    }
}

fn sorted_rows(rows: Multiset, order: &[ColumnOrder]) -> Vec<Vec<Datum>> {
    let mut flat: Vec<Vec<Datum>> = vec![];
    for (row, diff) in rows {
        assert!(diff > 0);
        for _ in 0..diff {
            flat.push(row.clone());
        }
    }
    flat.sort_by(|a, b| ColumnOrder::compare_rows(order, a, b));
    flat
}

/// Runs a SELECT (with its finishing) and returns its rows in order.
fn query(sql: &str, data: &Data) -> Vec<Vec<Datum>> {
    query_with(sql, data, eval)
}

fn query_with(sql: &str, data: &Data, eval: ScalarEval) -> Vec<Vec<Datum>> {
    let s = select(sql);
    let rows = sorted_rows(run_with(&s.expr, data, eval), &s.finishing.order_by);
    let end = s
        .finishing
        .limit
        .map(|l| s.finishing.offset + l)
        .unwrap_or(rows.len())
        .min(rows.len());
    rows.into_iter()
        .take(end)
        .skip(s.finishing.offset)
        .map(|r| s.finishing.project.iter().map(|i| r[*i].clone()).collect())
        .collect()
}

/// Rows as a sorted multiset, for queries without ORDER BY.
fn query_set(sql: &str, data: &Data) -> Vec<Vec<Datum>> {
    let mut rows = query(sql, data);
    rows.sort();
    rows
}

fn i(v: i32) -> Datum {
    Datum::Int32(v)
}

fn big(v: i64) -> Datum {
    Datum::Int64(v)
}

const NULL: Datum = Datum::Null;

fn join_data() -> Data {
    let mut data = Data::new();
    // l: (id, lv); r: (id, rv). id 1 matches twice, id 2 once, 3 and NULL never;
    // the left row (1, 10) occurs twice.
    data.insert(
        L,
        vec![
            vec![i(1), i(10)],
            vec![i(1), i(10)],
            vec![i(2), i(20)],
            vec![i(3), i(30)],
            vec![NULL, i(40)],
        ],
    );
    data.insert(
        R,
        vec![
            vec![i(1), i(100)],
            vec![i(1), i(101)],
            vec![i(2), i(200)],
            vec![i(4), i(400)],
            vec![NULL, i(500)],
        ],
    );
    data.insert(T, vec![]);
    data
}

// ---------------------------------------------------------------------------------
// SELECT basics

#[test]
fn select_constant_without_from() {
    let s = select("SELECT 1");
    assert_eq!(names(&s.desc), ["?column?"]);
    assert_eq!(s.desc.types, [ScalarType::Int32.nullable(false)]);
    assert_eq!(
        query("SELECT 1, 'x'", &Data::new()),
        [vec![i(1), Datum::String("x".into())]]
    );
}

#[test]
fn literal_types_follow_postgres() {
    let s = select(
        "SELECT 2147483647, 2147483648, 9223372036854775808, 1.50, 1e3, -2147483648, 'a', NULL, true",
    );
    use ScalarType::*;
    assert_eq!(
        scalar_types(&s.desc),
        [Int32, Int64, NUMERIC, NUMERIC, NUMERIC, Int32, Text, Text, Bool]
    );
    let MirRelationExpr::Project { input, .. } = &s.expr else {
        panic!("{:?}", s.expr)
    };
    let MirRelationExpr::Map { scalars, .. } = input.as_ref() else {
        panic!("{input:?}")
    };
    assert_eq!(
        scalars[3].as_literal(),
        Some(&Datum::Numeric("1.50".parse().unwrap()))
    );
    assert_eq!(
        scalars[4].as_literal(),
        Some(&Datum::Numeric(eddy_repr::Numeric::from(1000)))
    );
    assert_eq!(scalars[5].as_literal(), Some(&Datum::Int32(i32::MIN)));
}

#[test]
fn select_columns_project_directly() {
    let s = select("SELECT b, a FROM t");
    assert_eq!(names(&s.desc), ["b", "a"]);
    assert_eq!(
        s.expr,
        MirRelationExpr::Get {
            id: T,
            typ: TestCatalog::new()
                .resolve_item(None, "t")
                .unwrap()
                .desc
                .types,
            name: "t".into()
        }
        .project(vec![1, 0])
    );
    assert!(s.finishing.is_trivial(2));
}

#[test]
fn star_and_qualified_star() {
    let s = select("SELECT * FROM t");
    assert_eq!(names(&s.desc), ["a", "b", "c", "d"]);
    let s = select("SELECT x.*, 1 AS one FROM t AS x");
    assert_eq!(names(&s.desc), ["a", "b", "c", "d", "one"]);
    let s = select("SELECT l.*, r.rv FROM l, r");
    assert_eq!(names(&s.desc), ["id", "lv", "rv"]);
    assert_err(
        "SELECT *",
        "42601",
        "SELECT * with no tables specified is not valid",
    );
    assert_err(
        "SELECT q.* FROM t",
        "42P01",
        "missing FROM-clause entry for table \"q\"",
    );
}

#[test]
fn column_resolution_errors() {
    assert_err("SELECT x FROM t", "42703", "column \"x\" does not exist");
    assert_err("SELECT t.x FROM t", "42703", "column t.x does not exist");
    assert_err(
        "SELECT q.a FROM t",
        "42P01",
        "missing FROM-clause entry for table \"q\"",
    );
    assert_err(
        "SELECT a FROM t, t AS t2",
        "42702",
        "column reference \"a\" is ambiguous",
    );
    assert_err(
        "SELECT * FROM nope",
        "42P01",
        "relation \"nope\" does not exist",
    );
    // Qualified names resolve; so do schema-qualified tables.
    plan_ok("SELECT t.a, t2.a FROM t, t AS t2");
    plan_ok("SELECT public.t.a FROM public.t");
    plan_ok("SELECT relname FROM pg_catalog.pg_class");
}

#[test]
fn identifiers_fold_to_lowercase_unless_quoted() {
    let s = select("SELECT A, \"b\" AS \"MixedCase\", B AS Lower FROM T");
    assert_eq!(names(&s.desc), ["a", "MixedCase", "lower"]);
    assert_err(
        "SELECT \"A\" FROM t",
        "42703",
        "column \"A\" does not exist",
    );
}

#[test]
fn output_names_follow_postgres() {
    let s = select(
        "SELECT a, t.b, count(*), lower(b), a + 1, CASE WHEN true THEN 1 END, \
         coalesce(a, 1), 1::int, a::text, CAST(1 AS bigint), DATE '2024-01-01', \
         INTERVAL '1 day', now(), current_timestamp, extract(year from d), (a), \
         substring(b from 1 for 2), trim(b), nullif(a, 1), greatest(a, 2), 'x'::varchar(3) \
         FROM t GROUP BY a, t.b, d",
    );
    assert_eq!(
        names(&s.desc),
        [
            "a",
            "b",
            "count",
            "lower",
            "?column?",
            "case",
            "coalesce",
            "int4",
            "a",
            "int8",
            "date",
            "interval",
            "now",
            "current_timestamp",
            "extract",
            "a",
            "substring",
            "btrim",
            "nullif",
            "greatest",
            "varchar"
        ]
    );
}

#[test]
fn where_must_be_boolean() {
    assert_err(
        "SELECT a FROM t WHERE 1",
        "42804",
        "argument of WHERE must be type boolean, not type integer",
    );
    assert_err(
        "SELECT a FROM t WHERE a = 1 AND 2",
        "42804",
        "argument of AND must be type boolean, not type integer",
    );
    assert_err(
        "SELECT NOT 1",
        "42804",
        "argument of NOT must be type boolean, not type integer",
    );
    assert_err(
        "SELECT CASE WHEN 1 THEN 1 END",
        "42804",
        "argument of CASE/WHEN must be type boolean, not type integer",
    );
    // An unknown literal is read as a boolean.
    plan_ok("SELECT a FROM t WHERE 't'");
}

#[test]
fn where_plans_a_filter_with_typed_comparisons() {
    let s = select("SELECT a FROM t WHERE a = 1 AND d > '2024-01-01'");
    let MirRelationExpr::Project { input, outputs } = &s.expr else {
        panic!()
    };
    assert_eq!(outputs, &[0]);
    let MirRelationExpr::Filter { predicates, .. } = input.as_ref() else {
        panic!("{input:?}")
    };
    // The unknown literal is read as a date while planning.
    let date_literal = lit(
        Datum::Date(chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()),
        ScalarType::Date,
    );
    assert_eq!(
        predicates,
        &[MirScalarExpr::and(vec![
            MirScalarExpr::Column(0).call_binary(lit(i(1), ScalarType::Int32), BinaryFunc::Eq),
            MirScalarExpr::Column(3).call_binary(date_literal, BinaryFunc::Gt),
        ])]
    );
}

// ---------------------------------------------------------------------------------
// Expression typing

fn expr_type(sql_expr: &str) -> ColumnType {
    let s = select(&format!("SELECT {sql_expr} FROM u"));
    s.desc.types[0]
}

fn expr_of(sql_expr: &str) -> MirScalarExpr {
    let s = select(&format!("SELECT {sql_expr} FROM u"));
    match s.expr {
        MirRelationExpr::Project { input, outputs } => match *input {
            MirRelationExpr::Map { scalars, input } => {
                let arity = input.arity();
                scalars[outputs[0] - arity].clone()
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn arithmetic_promotes_like_postgres() {
    use ScalarType::*;
    let cases: &[(&str, ScalarType)] = &[
        ("a + 1", Int32),
        ("s + s", Int16),
        ("s + a", Int32),
        ("a + x", Int64),
        ("x * 1.5", NUMERIC),
        ("y + 1", NUMERIC),
        ("a + 1::real", Float64),
        ("1::real + 1::real", Float32),
        ("z + y", Float64),
        ("a / 2", Int32),
        ("a % 2", Int32),
        ("ts + interval '1 day'", Timestamp),
        ("interval '1 day' + ts", Timestamp),
        ("tz - interval '1 day'", TimestampTz),
        ("ts - ts", Interval),
        ("tz - ts", Interval),
        ("date '2024-01-02' - date '2024-01-01'", Int32),
        ("date '2024-01-01' + 1", Date),
        ("1 + date '2024-01-01'", Date),
        ("date '2024-01-01' + interval '1 hour'", Timestamp),
        ("interval '1 day' * 2", Interval),
        ("2 * interval '1 day'", Interval),
        ("interval '1 day' + interval '1 hour'", Interval),
        ("ts + '1 day'", Timestamp),
        ("ts - '2024-01-01'", Interval),
        ("a + '1'", Int32),
        ("-a", Int32),
        ("-y", NUMERIC),
    ];
    for (e, expected) in cases {
        assert_eq!(expr_type(e).scalar_type, *expected, "{e}");
    }
    // The narrower operand is cast to the wider type.
    assert_eq!(
        expr_of("a + x"),
        cast(MirScalarExpr::Column(0), Int64)
            .call_binary(MirScalarExpr::Column(1), BinaryFunc::Add)
    );
    // Dates plus intervals compute in timestamps.
    assert_eq!(
        expr_of("date '2024-01-01' + interval '1 hour'"),
        lit(
            Datum::Timestamp(
                chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
                    .unwrap()
                    .and_hms_opt(0, 0, 0)
                    .unwrap()
            ),
            Timestamp
        )
        .call_binary(
            lit(
                Datum::Interval(eddy_repr::Interval {
                    months: 0,
                    days: 0,
                    micros: 3_600_000_000
                }),
                Interval
            ),
            BinaryFunc::Add
        )
    );
}

#[test]
fn operator_type_errors() {
    let e = assert_err(
        "SELECT 1 + true",
        "42883",
        "operator does not exist: integer + boolean",
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("No operator matches the given name and argument types. You might need to add explicit type casts.")
    );
    assert_err(
        "SELECT a = f FROM u",
        "42883",
        "operator does not exist: integer = boolean",
    );
    assert_err(
        "SELECT z % 2 FROM u",
        "42883",
        "operator does not exist: double precision % integer",
    );
    assert_err(
        "SELECT 'a' + 'b'",
        "42725",
        "operator is not unique: unknown + unknown",
    );
    assert_err(
        "SELECT date '2024-01-01' + '1 day'",
        "42725",
        "operator is not unique: date + unknown",
    );
    assert_err("SELECT -'1'", "42725", "operator is not unique: - unknown");
    assert_err(
        "SELECT a LIKE 'x' FROM u",
        "42883",
        "operator does not exist: integer ~~ unknown",
    );
}

#[test]
fn comparisons_unify_types() {
    use ScalarType::*;
    // int vs bigint: the int side is cast.
    assert_eq!(
        expr_of("a < x"),
        cast(MirScalarExpr::Column(0), Int64).call_binary(MirScalarExpr::Column(1), BinaryFunc::Lt)
    );
    // An unknown literal takes the column's type (without modifiers).
    assert_eq!(
        expr_of("y = '1.5'"),
        MirScalarExpr::Column(2).call_binary(
            lit(Datum::Numeric("1.5".parse().unwrap()), NUMERIC),
            BinaryFunc::Eq
        )
    );
    // char(n) compares as text.
    assert_eq!(
        expr_of("ch = 'ab'"),
        cast(MirScalarExpr::Column(8), Text)
            .call_binary(lit(Datum::String("ab".into()), Text), BinaryFunc::Eq)
    );
    // varchar and text compare without casts.
    let s = select("SELECT c = b FROM t");
    assert!(format!("{:?}", s.expr).contains("Column(2)"));
    assert!(!format!("{:?}", s.expr).contains("Cast"));
    assert!(expr_type("a = 1").nullable);
    assert_eq!(expr_type("a IS NULL"), Bool.nullable(false));
    assert_eq!(expr_type("a IS DISTINCT FROM 1"), Bool.nullable(false));
}

#[test]
fn special_forms() {
    use ScalarType::*;
    assert_eq!(
        expr_of("a BETWEEN 1 AND 3"),
        MirScalarExpr::and(vec![
            MirScalarExpr::Column(0).call_binary(lit(i(1), Int32), BinaryFunc::Gte),
            MirScalarExpr::Column(0).call_binary(lit(i(3), Int32), BinaryFunc::Lte),
        ])
    );
    assert_eq!(
        expr_of("a IN (1, 2)"),
        MirScalarExpr::CallVariadic {
            func: VariadicFunc::Or,
            exprs: vec![
                MirScalarExpr::Column(0).call_binary(lit(i(1), Int32), BinaryFunc::Eq),
                MirScalarExpr::Column(0).call_binary(lit(i(2), Int32), BinaryFunc::Eq),
            ]
        }
    );
    assert_eq!(
        expr_of("a NOT IN (1, 2)"),
        MirScalarExpr::and(vec![
            MirScalarExpr::Column(0).call_binary(lit(i(1), Int32), BinaryFunc::NotEq),
            MirScalarExpr::Column(0).call_binary(lit(i(2), Int32), BinaryFunc::NotEq),
        ])
    );
    assert_eq!(
        expr_of("a IS NOT DISTINCT FROM 1"),
        MirScalarExpr::Column(0)
            .call_binary(lit(i(1), Int32), BinaryFunc::IsDistinctFrom)
            .call_unary(UnaryFunc::Not)
    );
    assert_eq!(
        expr_of("f IS NOT TRUE"),
        MirScalarExpr::Column(7)
            .call_unary(UnaryFunc::IsTrue)
            .call_unary(UnaryFunc::Not)
    );
    // CASE branches meet at their common type; no ELSE is NULL.
    assert_eq!(
        expr_type("CASE WHEN f THEN 1 ELSE 2.5 END").scalar_type,
        NUMERIC
    );
    assert_eq!(
        expr_of("CASE a WHEN 1 THEN 'one' END"),
        MirScalarExpr::If {
            cond: Box::new(MirScalarExpr::Column(0).call_binary(lit(i(1), Int32), BinaryFunc::Eq)),
            then: Box::new(lit(Datum::String("one".into()), Text)),
            els: Box::new(lit(NULL, Text)),
        }
    );
    assert_err(
        "SELECT CASE WHEN true THEN 1 ELSE true END",
        "42804",
        "CASE types boolean and integer cannot be matched",
    );
    assert_eq!(expr_type("coalesce(a, x, 1)").scalar_type, Int64);
    assert_eq!(expr_type("nullif(a, 1)"), Int32.nullable(true));
    assert_eq!(expr_type("greatest(a, z)").scalar_type, Float64);
    // LIKE and regexes work on text.
    assert_eq!(
        expr_of("ch NOT LIKE 'a%'"),
        cast(MirScalarExpr::Column(8), Text)
            .call_binary(lit(Datum::String("a%".into()), Text), BinaryFunc::Like)
            .call_unary(UnaryFunc::Not)
    );
    assert_eq!(
        expr_of("'abc' ~* 'B'"),
        lit(Datum::String("abc".into()), Text).call_binary(
            lit(Datum::String("B".into()), Text),
            BinaryFunc::RegexMatch {
                case_insensitive: true
            }
        )
    );
    // `||` casts non-strings to text.
    assert_eq!(
        expr_of("a || 'x'"),
        cast(MirScalarExpr::Column(0), Text)
            .call_binary(lit(Datum::String("x".into()), Text), BinaryFunc::Concat)
    );
    // jsonb access.
    assert_eq!(expr_type("j -> 'k'").scalar_type, Jsonb);
    assert_eq!(expr_type("j ->> 0").scalar_type, Text);
    assert_eq!(expr_type("jsonb_typeof(j)").scalar_type, Text);
}

#[test]
fn casts() {
    use ScalarType::*;
    assert_eq!(expr_type("a::text").scalar_type, Text);
    assert_eq!(
        expr_type("CAST(ch AS varchar(2))").scalar_type,
        Varchar {
            max_length: Some(2)
        }
    );
    assert_eq!(expr_type("'1'::numeric(5,2)").scalar_type, numeric(5, 2));
    assert_eq!(expr_type("f::int").scalar_type, Int32);
    assert_eq!(
        expr_type("'2024-01-01'::timestamptz").scalar_type,
        TimestampTz
    );
    assert_eq!(expr_type("'x'::\"char\"").scalar_type, PgChar);
    assert_eq!(expr_type("x::pg_catalog.int4").scalar_type, Int32);
    assert_eq!(expr_type("'{}'::jsonb").scalar_type, Jsonb);
    assert_err(
        "SELECT true::date",
        "42846",
        "cannot cast type boolean to date",
    );
    assert_err("SELECT 1::nope", "42704", "type \"nope\" does not exist");
    assert_err(
        "SELECT '{}'::json",
        "0A000",
        "type json is not supported yet",
    );
    // Typed literals fold lossless casts of literals.
    assert_eq!(expr_of("1::bigint"), lit(big(1), Int64));
    assert_eq!(expr_of("'x'::text"), lit(Datum::String("x".into()), Text));
    // Explicit casts of unknown literals to varchar(n) truncate, as in Postgres.
    assert_eq!(
        expr_of("'abcdef'::varchar(3)"),
        lit(
            Datum::String("abc".into()),
            Varchar {
                max_length: Some(3)
            }
        )
    );
}

#[test]
fn functions_resolve_with_postgres_types() {
    use ScalarType::*;
    let cases: &[(&str, ScalarType)] = &[
        ("lower(b)", Text),
        ("upper(ch)", Text),
        ("length(b)", Int32),
        ("char_length(b)", Int32),
        ("octet_length(b)", Int32),
        ("substring(b from 2 for 3)", Text),
        ("substr(b, 2)", Text),
        ("trim(leading 'x' from b)", Text),
        ("btrim(b)", Text),
        ("position('a' in b)", Int32),
        ("left(b, 2)", Text),
        ("right(b, s)", Text),
        ("repeat(b, 2)", Text),
        ("replace(b, 'a', 'b')", Text),
        ("split_part(b, ',', 2)", Text),
        ("lpad(b, 5, '*')", Text),
        ("rpad(b, 5)", Text),
        ("concat(b, a, null, z)", Text),
        ("md5(b)", Text),
        ("abs(s)", Int16),
        ("abs(y)", NUMERIC),
        ("round(a)", Float64),
        ("round(y)", NUMERIC),
        ("round(y, 1)", NUMERIC),
        ("round(a, 1)", NUMERIC),
        ("floor(a)", Float64),
        ("ceil(y)", NUMERIC),
        ("ceiling(z)", Float64),
        ("sqrt(a)", Float64),
        ("power(2, 3)", Float64),
        ("power(y, 2)", NUMERIC),
        ("mod(a, 3)", Int32),
        ("date_trunc('month', ts)", Timestamp),
        ("date_trunc('day', tz)", TimestampTz),
        ("date_trunc('month', date '2024-01-15')", TimestampTz),
        ("extract(epoch from ts)", NUMERIC),
        ("date_part('year', ts)", Float64),
        ("now()", TimestampTz),
        ("current_timestamp", TimestampTz),
        ("current_date", Date),
        ("current_user", Name),
        ("session_user", Name),
        ("current_database()", Name),
        ("current_schema()", Name),
        ("current_schema", Name),
        ("version()", Text),
        ("pg_backend_pid()", Int32),
        ("pg_catalog.lower(b)", Text),
    ];
    // `b` is not in u; use t's columns through a join-free helper.
    for (e, expected) in cases {
        let s = select(&format!("SELECT {e} FROM u, (SELECT 'x'::text AS b) AS bt"));
        assert_eq!(s.desc.types[0].scalar_type, *expected, "{e}");
    }
    assert_eq!(
        expr_of("date_trunc('Months', ts)"),
        MirScalarExpr::Column(4).call_unary(UnaryFunc::DateTrunc(DateTimeUnit::Month))
    );
    assert_eq!(
        expr_of("extract(dow from ts)"),
        MirScalarExpr::Column(4).call_unary(UnaryFunc::Extract(DateTimeUnit::Dow))
    );
    assert_eq!(
        expr_of("now()"),
        lit(Datum::TimestampTz(now()), TimestampTz)
    );
    assert_eq!(
        expr_of("current_user"),
        lit(Datum::String("alice".into()), Name)
    );
    assert_eq!(expr_of("pg_backend_pid()"), lit(i(42), Int32));
}

#[test]
fn function_errors() {
    let e = assert_err(
        "SELECT foo(1)",
        "42883",
        "function foo(integer) does not exist",
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("No function matches the given name and argument types. You might need to add explicit type casts.")
    );
    assert_err(
        "SELECT lower(1)",
        "42883",
        "function lower(integer) does not exist",
    );
    assert_err(
        "SELECT left('a', 1::bigint)",
        "42883",
        "function left(unknown, bigint) does not exist",
    );
    assert_err(
        "SELECT round(1.5::float8, 1)",
        "42883",
        "function round(double precision, integer) does not exist",
    );
    assert_err(
        "SELECT date_trunc('fortnight', ts) FROM u",
        "22023",
        "unit \"fortnight\" not recognized for type timestamp without time zone",
    );
    assert_err(
        "SELECT to_number('12', '99')",
        "0A000",
        "function to_number is not supported yet",
    );
    assert_err(
        "SELECT lower(b) OVER () FROM t",
        "42809",
        "OVER specified, but lower is not a window function nor an aggregate function",
    );
    assert_err(
        "SELECT lower(DISTINCT b) FROM t",
        "42809",
        "DISTINCT specified, but lower is not an aggregate function",
    );
}

/// Unit names are read once, while planning, through repr's one table: every spelling
/// reaches the IR as its [`DateTimeUnit`], and an unknown one is Postgres' error (which
/// Postgres gives per row; Eddy's planner gives it once since the name is constant).
#[test]
fn date_time_units_resolve_at_planning() {
    use eddy_repr::datetime_unit::SPELLINGS;
    let ts = || MirScalarExpr::Column(4);
    for (spelling, unit) in SPELLINGS {
        assert_eq!(
            expr_of(&format!("extract({spelling} from ts)")),
            ts().call_unary(UnaryFunc::Extract(*unit)),
            "{spelling}"
        );
        let upper = spelling.to_ascii_uppercase();
        assert_eq!(
            expr_of(&format!("date_part('{upper}', ts)")),
            ts().call_unary(UnaryFunc::DatePart(*unit)),
            "{upper}"
        );
        let trunc = format!("SELECT date_trunc('{spelling}', ts) FROM u");
        if unit.is_delta_unit() {
            let s = select(&trunc);
            assert_eq!(
                s.desc.types[0].scalar_type,
                ScalarType::Timestamp,
                "{trunc}"
            );
        } else {
            assert_err(
                &trunc,
                "22023",
                &format!("unit \"{spelling}\" not recognized for type timestamp without time zone"),
            );
        }
    }
    // EXPLAIN prints the canonical name, whatever the spelling.
    let explained = [
        ("extract(USECS from ts)", "extract(microseconds from #4)"),
        ("date_part('Hrs', ts)", "date_part('hour', #4)"),
        ("date_trunc('mons', ts)", "date_trunc('month', #4)"),
        (
            "extract(timezone_m from tz)",
            "extract(timezone_minute from #5)",
        ),
    ];
    for (e, text) in explained {
        assert_eq!(eddy_expr::explain::scalar_text(&expr_of(e)), text, "{e}");
    }
    // Postgres refuses the time zone fields of a timestamp per row (0A000), not here.
    assert_eq!(
        expr_of("date_trunc('timezone', ts)"),
        ts().call_unary(UnaryFunc::DateTrunc(DateTimeUnit::Timezone))
    );
    let unknown = [
        ("extract(foo from ts)", "timestamp without time zone"),
        ("extract(\"Foo\" from tz)", "timestamp with time zone"),
        ("extract(foo from date '2024-01-02')", "date"),
        ("extract(foo from time '03:04')", "time without time zone"),
        ("extract(foo from interval '1 day')", "interval"),
        ("date_part('foo', ts)", "timestamp without time zone"),
        (
            "date_part('foo', date '2024-01-02')",
            "timestamp without time zone",
        ),
        ("date_trunc('Foo', ts)", "timestamp without time zone"),
        (
            "date_trunc('foo', date '2024-01-02')",
            "timestamp with time zone",
        ),
        ("date_trunc('dow', interval '1 day')", "interval"),
    ];
    for (e, typ) in unknown {
        let unit = if e.contains("dow") { "dow" } else { "foo" };
        assert_err(
            &format!("SELECT {e} FROM u"),
            "22023",
            &format!("unit \"{unit}\" not recognized for type {typ}"),
        );
    }
    // Postgres 15 has no such spelling, though sqlparser has it as a keyword.
    assert_err(
        "SELECT extract(millenium from ts) FROM u",
        "22023",
        "unit \"millenium\" not recognized for type timestamp without time zone",
    );
    assert_err(
        "SELECT date_trunc(b, ts) FROM u, (SELECT 'day'::text AS b) AS bt",
        "0A000",
        "date_trunc with a non-constant unit is not supported yet",
    );
    assert_err(
        "SELECT date_part(b, ts) FROM u, (SELECT 'day'::text AS b) AS bt",
        "0A000",
        "date_part with a non-constant field is not supported yet",
    );
}

#[test]
fn unsupported_expressions_are_explicit() {
    assert_err(
        "SELECT a FROM t WHERE a > ANY (SELECT 1)",
        "0A000",
        "> ANY (...) is not supported yet",
    );
    assert_err(
        "INSERT INTO t VALUES ((SELECT 1), 'x', 'y', NULL)",
        "0A000",
        "subqueries in VALUES are not supported yet",
    );
    assert_err(
        "SELECT DISTINCT ON (a) a FROM t",
        "0A000",
        "SELECT DISTINCT ON is not supported yet",
    );
    assert_err(
        "WITH RECURSIVE x (n) AS (SELECT 1::bigint UNION SELECT count(*) FROM x) SELECT * FROM x",
        "42P19",
        "aggregate functions are not allowed in a recursive query's recursive term",
    );
}

// ---------------------------------------------------------------------------------
// Joins

#[test]
fn inner_join_on_equality_becomes_equivalence() {
    let s = select("SELECT l.lv, r.rv FROM l JOIN r ON l.id = r.id AND r.rv > 100");
    let MirRelationExpr::Project { input, outputs } = &s.expr else {
        panic!()
    };
    assert_eq!(outputs, &[1, 3]);
    let MirRelationExpr::Filter { input, predicates } = input.as_ref() else {
        panic!("{input:?}")
    };
    assert_eq!(
        predicates,
        &[MirScalarExpr::Column(3).call_binary(lit(i(100), ScalarType::Int32), BinaryFunc::Gt)]
    );
    let MirRelationExpr::Join { equivalences, .. } = input.as_ref() else {
        panic!("{input:?}")
    };
    assert_eq!(
        equivalences,
        &[vec![MirScalarExpr::Column(0), MirScalarExpr::Column(2)]]
    );
    assert_eq!(
        query_set(
            "SELECT l.lv, r.rv FROM l JOIN r ON l.id = r.id",
            &join_data()
        ),
        [
            vec![i(10), i(100)],
            vec![i(10), i(100)],
            vec![i(10), i(101)],
            vec![i(10), i(101)],
            vec![i(20), i(200)],
        ]
    );
}

#[test]
fn left_join_keeps_unmatched_rows_and_duplicates() {
    let rows = query_set(
        "SELECT l.id, l.lv, r.rv FROM l LEFT JOIN r ON l.id = r.id",
        &join_data(),
    );
    assert_eq!(
        rows,
        [
            vec![i(1), i(10), i(100)],
            vec![i(1), i(10), i(100)],
            vec![i(1), i(10), i(101)],
            vec![i(1), i(10), i(101)],
            vec![i(2), i(20), i(200)],
            vec![i(3), i(30), NULL],
            vec![NULL, i(40), NULL],
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .flat_map(|r| {
            let n = if r[0] == i(1) { 2 } else { 1 };
            std::iter::repeat_n(r, n)
        })
        .collect::<Vec<_>>()
    );
    // Right columns become nullable.
    let s = select("SELECT r.rv FROM l LEFT JOIN r ON l.id = r.id");
    assert!(s.desc.types[0].nullable);
    // A condition on the left side only: failing rows are unmatched, not dropped.
    let rows = query_set(
        "SELECT l.lv, r.rv FROM l LEFT JOIN r ON l.id = r.id AND l.lv > 15",
        &join_data(),
    );
    assert_eq!(
        rows,
        [
            vec![i(10), NULL],
            vec![i(10), NULL],
            vec![i(20), i(200)],
            vec![i(30), NULL],
            vec![i(40), NULL],
        ]
    );
}

#[test]
fn right_and_full_joins() {
    let rows = query_set(
        "SELECT l.lv, r.rv FROM l RIGHT JOIN r ON l.id = r.id",
        &join_data(),
    );
    assert_eq!(
        rows,
        [
            vec![NULL, i(400)],
            vec![NULL, i(500)],
            vec![i(10), i(100)],
            vec![i(10), i(100)],
            vec![i(10), i(101)],
            vec![i(10), i(101)],
            vec![i(20), i(200)],
        ]
    );
    let rows = query_set(
        "SELECT l.lv, r.rv FROM l FULL JOIN r ON l.id = r.id",
        &join_data(),
    );
    assert_eq!(rows.len(), 5 + 2 + 2);
    assert!(rows.contains(&vec![i(30), NULL]));
    assert!(rows.contains(&vec![NULL, i(500)]));
}

#[test]
fn using_and_natural_joins_merge_columns() {
    let s = select("SELECT * FROM l JOIN r USING (id)");
    assert_eq!(names(&s.desc), ["id", "lv", "rv"]);
    assert_eq!(
        query_set(
            "SELECT id, lv, rv FROM l JOIN r USING (id) WHERE id = 2",
            &join_data()
        ),
        [vec![i(2), i(20), i(200)]]
    );
    let s = select("SELECT * FROM l NATURAL JOIN r");
    assert_eq!(names(&s.desc), ["id", "lv", "rv"]);
    // Qualified references to either side still work.
    plan_ok("SELECT l.id, r.id FROM l JOIN r USING (id)");
    // FULL JOIN USING merges with COALESCE.
    let rows = query_set("SELECT id FROM l FULL JOIN r USING (id)", &join_data());
    assert!(rows.contains(&vec![i(4)]));
    assert!(rows.contains(&vec![i(3)]));
    assert_err(
        "SELECT * FROM l JOIN r USING (zz)",
        "42703",
        "column \"zz\" specified in USING clause does not exist in left table",
    );
}

#[test]
fn comma_and_cross_joins() {
    let data = join_data();
    assert_eq!(query("SELECT count(*) FROM l, r", &data), [vec![big(25)]]);
    assert_eq!(
        query("SELECT count(*) FROM l CROSS JOIN r", &data),
        [vec![big(25)]]
    );
    assert_err(
        "SELECT * FROM l JOIN r ON l.id",
        "42804",
        "argument of JOIN/ON must be type boolean, not type integer",
    );
}

#[test]
fn derived_tables_ctes_and_views() {
    let data = join_data();
    let s = select("SELECT x.k FROM (SELECT id AS k FROM l) AS x(k)");
    assert_eq!(names(&s.desc), ["k"]);
    let s = select("SELECT q.n FROM (SELECT 1, 2) AS q(n, m)");
    assert_eq!(names(&s.desc), ["n"]);
    assert_err(
        "SELECT * FROM (VALUES (1, 2)) v(a, b, c)",
        "42P10",
        "table \"v\" has 2 columns available but 3 columns specified",
    );
    assert_eq!(
        query_set(
            "WITH big AS (SELECT id FROM l WHERE lv > 15) SELECT id FROM big",
            &data
        ),
        [vec![NULL], vec![i(2)], vec![i(3)]]
    );
    assert_eq!(
        query_set(
            "WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT y FROM b",
            &data
        ),
        [vec![i(2)]]
    );
    // A plain view is inlined; a materialized view is read by id.
    let s = select("SELECT a FROM v");
    assert!(s.expr.depends_on().contains(&T));
    let s = select("SELECT cnt FROM mv");
    assert_eq!(s.expr.depends_on().into_iter().collect::<Vec<_>>(), [MV]);
}

// ---------------------------------------------------------------------------------
// Aggregates

#[test]
fn aggregates_without_group_by_return_one_row() {
    let data = join_data();
    // t is empty: count is 0, the others NULL.
    assert_eq!(
        query(
            "SELECT count(*), count(a), sum(a), min(b), max(a) FROM t",
            &data
        ),
        [vec![big(0), big(0), NULL, NULL, NULL]]
    );
    assert_eq!(
        query(
            "SELECT count(*), count(id), count(DISTINCT id), sum(lv), max(lv) FROM l",
            &data
        ),
        [vec![big(5), big(4), big(3), big(110), i(40)]]
    );
    assert_eq!(
        query("SELECT count(*) FROM l WHERE lv > 1000", &data),
        [vec![big(0)]]
    );
    // HAVING filters the one row.
    assert!(query("SELECT count(*) FROM t HAVING count(*) > 0", &data).is_empty());
}

#[test]
fn group_by_forms() {
    let data = join_data();
    assert_eq!(
        query_set("SELECT id, count(*) FROM l GROUP BY id", &data),
        [
            vec![NULL, big(1)],
            vec![i(1), big(2)],
            vec![i(2), big(1)],
            vec![i(3), big(1)]
        ]
    );
    // Ordinals, output names and expressions.
    assert_eq!(
        query_set(
            "SELECT id AS k, count(*) FROM l GROUP BY 1 HAVING count(*) > 1",
            &data
        ),
        [vec![i(1), big(2)]]
    );
    assert_eq!(
        query_set("SELECT lv + 1 AS k FROM l GROUP BY k", &data),
        [vec![i(11)], vec![i(21)], vec![i(31)], vec![i(41)]]
    );
    assert_eq!(
        query_set(
            "SELECT lv + 1, count(*) FROM l GROUP BY lv + 1 HAVING lv + 1 < 21",
            &data
        ),
        [vec![i(11), big(2)]]
    );
    // Grouping keys can be used inside larger expressions.
    let s = select("SELECT id + 1, max(lv) FROM l GROUP BY id");
    assert_eq!(
        scalar_types(&s.desc),
        [ScalarType::Int32, ScalarType::Int32]
    );
    assert_err(
        "SELECT b, count(*) FROM t GROUP BY a",
        "42803",
        "column \"t.b\" must appear in the GROUP BY clause or be used in an aggregate function",
    );
    assert_err(
        "SELECT *, count(*) FROM t GROUP BY a",
        "42803",
        "column \"t.b\" must appear in the GROUP BY clause or be used in an aggregate function",
    );
    assert_err(
        "SELECT a FROM t WHERE count(*) > 1",
        "42803",
        "aggregate functions are not allowed in WHERE",
    );
    assert_err(
        "SELECT count(*) FROM t GROUP BY count(*)",
        "42803",
        "aggregate functions are not allowed in GROUP BY",
    );
    assert_err(
        "SELECT sum(count(*)) FROM t",
        "42803",
        "aggregate function calls cannot be nested",
    );
    assert_err(
        "SELECT a FROM t GROUP BY 5",
        "42P10",
        "GROUP BY position 5 is not in select list",
    );
}

#[test]
fn aggregate_types_follow_postgres() {
    use ScalarType::*;
    let s = select(
        "SELECT count(*), sum(a), sum(x), sum(y), sum(z), min(ts), max(b), avg(a), avg(y), \
         avg(z), bool_and(f), bool_or(f), every(f), count(DISTINCT a) \
         FROM u, (SELECT 'x'::text AS b) AS bt",
    );
    assert_eq!(
        scalar_types(&s.desc),
        [
            Int64, Int64, NUMERIC, NUMERIC, Float64, Timestamp, Text, NUMERIC, NUMERIC, Float64,
            Bool, Bool, Bool, Int64
        ]
    );
    assert!(!s.desc.types[0].nullable);
    assert!(s.desc.types[1].nullable);
    assert_err(
        "SELECT sum(b) FROM t",
        "42883",
        "function sum(text) does not exist",
    );
    assert_err(
        "SELECT avg(b) FROM t",
        "42883",
        "function avg(text) does not exist",
    );
    // string_agg plans (it is computed for groups with nothing to collect).
    let s = select("SELECT string_agg(b, ',') FROM t");
    assert_eq!(scalar_types(&s.desc), [ScalarType::Text]);
    assert_err(
        "SELECT string_agg(a, ',') FROM t",
        "42883",
        "function string_agg(integer, unknown) does not exist",
    );
}

#[test]
fn avg_is_sum_over_count_in_numeric() {
    let s = select("SELECT avg(a) FROM t GROUP BY b");
    let text = format!("{:?}", s.expr);
    assert!(text.contains("Sum"), "{text}");
    assert!(text.contains("Count"), "{text}");
    assert!(text.contains("Div"), "{text}");
    let mut data = join_data();
    data.insert(
        T,
        vec![vec![i(1), NULL, NULL, NULL], vec![i(2), NULL, NULL, NULL]],
    );
    assert_eq!(
        query("SELECT avg(a) FROM t", &data),
        [vec![Datum::Numeric("1.5".parse().unwrap())]]
    );
    data.insert(T, vec![]);
    assert_eq!(query("SELECT avg(a) FROM t", &data), [vec![NULL]]);
}

#[test]
fn aggregate_filter_clause() {
    let data = join_data();
    assert_eq!(
        query(
            "SELECT count(*) FILTER (WHERE lv > 15), sum(lv) FILTER (WHERE id = 1) FROM l",
            &data
        ),
        [vec![big(3), big(20)]]
    );
}

// ---------------------------------------------------------------------------------
// ORDER BY, LIMIT, DISTINCT, set operations

#[test]
fn order_by_output_names_ordinals_and_hidden_columns() {
    let s = select("SELECT a, b FROM t ORDER BY b DESC, 1");
    assert_eq!(
        s.finishing.order_by,
        [
            ColumnOrder {
                column: 1,
                desc: true,
                nulls_last: false
            },
            ColumnOrder {
                column: 0,
                desc: false,
                nulls_last: true
            },
        ]
    );
    assert_eq!(s.finishing.project, [0, 1]);
    // An expression not in the select list becomes a hidden column.
    let s = select("SELECT b FROM t ORDER BY a + 1 NULLS FIRST");
    assert_eq!(s.expr.arity(), 2);
    assert_eq!(s.finishing.project, [0]);
    assert_eq!(
        s.finishing.order_by,
        [ColumnOrder {
            column: 1,
            desc: false,
            nulls_last: false
        }]
    );
    // An expression equal to an output reuses it.
    let s = select("SELECT a + 1 FROM t ORDER BY a + 1");
    assert_eq!(s.expr.arity(), 1);
    let data = join_data();
    assert_eq!(
        query(
            "SELECT lv FROM l ORDER BY id DESC, lv LIMIT 3 OFFSET 1",
            &data
        ),
        [vec![i(30)], vec![i(20)], vec![i(10)]]
    );
    assert_eq!(
        query("SELECT id AS k FROM l ORDER BY k LIMIT 2", &data),
        [vec![i(1)], vec![i(1)]]
    );
    assert_err(
        "SELECT a FROM t ORDER BY 5",
        "42P10",
        "ORDER BY position 5 is not in select list",
    );
    assert_err(
        "SELECT a, b AS a FROM t ORDER BY a",
        "42702",
        "ORDER BY \"a\" is ambiguous",
    );
    assert_err(
        "SELECT DISTINCT a FROM t ORDER BY b",
        "42P10",
        "for SELECT DISTINCT, ORDER BY expressions must appear in select list",
    );
}

#[test]
fn limit_and_offset_forms() {
    let s = select("SELECT a FROM t LIMIT ALL");
    assert_eq!(s.finishing.limit, None);
    let s = select("SELECT a FROM t LIMIT NULL OFFSET 3");
    assert_eq!((s.finishing.limit, s.finishing.offset), (None, 3));
    let s = select("SELECT a FROM t FETCH FIRST 2 ROWS ONLY");
    assert_eq!(s.finishing.limit, Some(2));
    assert_err("SELECT 1 LIMIT -1", "2201W", "LIMIT must not be negative");
    assert_err("SELECT 1 OFFSET -1", "2201X", "OFFSET must not be negative");
}

#[test]
fn limit_in_a_subquery_is_a_topk() {
    let s = select("SELECT k FROM (SELECT lv AS k FROM l ORDER BY lv DESC LIMIT 2) AS s");
    let mut found = false;
    s.expr.visit(&mut |e| {
        if let MirRelationExpr::TopK {
            limit, order_key, ..
        } = e
        {
            assert_eq!(*limit, Some(2));
            assert!(order_key[0].desc);
            found = true;
        }
    });
    assert!(found, "{:?}", s.expr);
    assert_eq!(
        query_set(
            "SELECT k FROM (SELECT lv AS k FROM l ORDER BY lv DESC LIMIT 2) AS s",
            &join_data()
        ),
        [vec![i(30)], vec![i(40)]]
    );
    // Without LIMIT, a subquery's ORDER BY is dropped.
    let s = select("SELECT k FROM (SELECT lv AS k FROM l ORDER BY lv) AS s");
    let mut topk = false;
    s.expr
        .visit(&mut |e| topk |= matches!(e, MirRelationExpr::TopK { .. }));
    assert!(!topk);
}

#[test]
fn distinct_and_set_operations() {
    let data = join_data();
    assert_eq!(
        query_set("SELECT DISTINCT lv FROM l WHERE id = 1", &data),
        [vec![i(10)]]
    );
    assert_eq!(
        query_set("SELECT id FROM l UNION ALL SELECT id FROM r", &data).len(),
        10
    );
    assert_eq!(
        query_set("SELECT id FROM l UNION SELECT id FROM r", &data),
        [vec![NULL], vec![i(1)], vec![i(2)], vec![i(3)], vec![i(4)]]
    );
    assert_eq!(
        query_set("SELECT id FROM l EXCEPT SELECT id FROM r", &data),
        [vec![i(3)]]
    );
    assert_eq!(
        query_set(
            "SELECT id FROM l EXCEPT ALL SELECT id FROM r WHERE rv = 100",
            &data
        ),
        [vec![NULL], vec![i(1)], vec![i(2)], vec![i(3)]]
    );
    assert_eq!(
        query_set("SELECT id FROM l INTERSECT SELECT id FROM r", &data),
        [vec![NULL], vec![i(1)], vec![i(2)]]
    );
    assert_eq!(
        query_set("SELECT id FROM l INTERSECT ALL SELECT id FROM r", &data),
        [vec![NULL], vec![i(1)], vec![i(1)], vec![i(2)]]
    );
    // Column types unify; unknown literals adapt to the other side.
    let s = select("SELECT 1 AS x UNION SELECT 2.5");
    assert_eq!(names(&s.desc), ["x"]);
    assert_eq!(scalar_types(&s.desc), [NUMERIC]);
    let s = select("SELECT a FROM t UNION SELECT '7'");
    assert_eq!(scalar_types(&s.desc), [ScalarType::Int32]);
    let s = select("SELECT '1' UNION SELECT '2'");
    assert_eq!(scalar_types(&s.desc), [ScalarType::Text]);
    assert_err(
        "SELECT 1 UNION SELECT true",
        "42804",
        "UNION types integer and boolean cannot be matched",
    );
    assert_err(
        "SELECT 1 UNION SELECT 1, 2",
        "42601",
        "each UNION query must have the same number of columns",
    );
    let s = select("SELECT id FROM l UNION SELECT id FROM r ORDER BY id DESC LIMIT 1");
    assert_eq!(s.finishing.limit, Some(1));
    assert_err(
        "SELECT id FROM l UNION SELECT id FROM r ORDER BY id + 1",
        "0A000",
        "invalid UNION/INTERSECT/EXCEPT ORDER BY clause",
    );
}

#[test]
fn values_queries() {
    let s = select("VALUES (1, 'a'), (2.5, NULL)");
    assert_eq!(names(&s.desc), ["column1", "column2"]);
    assert_eq!(scalar_types(&s.desc), [NUMERIC, ScalarType::Text]);
    assert_eq!(
        query_set(
            "SELECT * FROM (VALUES (1), (2)) AS v(x) WHERE x > 1",
            &Data::new()
        ),
        [vec![i(2)]]
    );
    assert_err(
        "VALUES (1), (1, 2)",
        "42601",
        "VALUES lists must all be the same length",
    );
}

// ---------------------------------------------------------------------------------
// Writes

fn insert_values(sql: &str) -> (GlobalId, MirRelationExpr) {
    match plan_ok(sql) {
        Plan::Insert { id, values, .. } => (id, values),
        other => panic!("{other:?}"),
    }
}

#[test]
fn insert_values_fill_every_column_in_table_order() {
    let (id, values) = insert_values("INSERT INTO t (b, a) VALUES ('x', 1), ('y', 2)");
    assert_eq!(id, T);
    let t_types = TestCatalog::new()
        .resolve_item(None, "t")
        .unwrap()
        .desc
        .types;
    assert_eq!(
        values
            .typ()
            .iter()
            .map(|t| t.scalar_type)
            .collect::<Vec<_>>(),
        t_types.iter().map(|t| t.scalar_type).collect::<Vec<_>>()
    );
    let rows = run(&values, &Data::new());
    let expected: Multiset = [
        (vec![i(1), Datum::String("x".into()), NULL, NULL], 1),
        (vec![i(2), Datum::String("y".into()), NULL, NULL], 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(rows, expected);
    assert!(matches!(values, MirRelationExpr::Constant { .. }));
}

#[test]
fn insert_casts_on_assignment() {
    // Literals are converted to the column types while planning: the int to bigint,
    // the string read as a timestamp, the numeric rounded to numeric(10,2).
    let (_, values) =
        insert_values("INSERT INTO u (x, ts, y) VALUES (1, '2024-01-01 10:00', 1.499)");
    let MirRelationExpr::Constant { rows, typ } = &values else {
        panic!("{values:?}")
    };
    let ten_o_clock = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    let row = rows[0].0.unpack();
    assert_eq!(row[1], big(1));
    assert_eq!(row[2], Datum::Numeric("1.50".parse().unwrap()));
    assert_eq!(row[4], Datum::Timestamp(ten_o_clock));
    assert_eq!(typ[2].scalar_type, numeric(10, 2));
    // A value computed from a column-free expression is evaluated by the dataflow.
    let (_, values) = insert_values("INSERT INTO u (a) VALUES (length(md5('x')))");
    assert!(matches!(values, MirRelationExpr::Map { .. }), "{values:?}");
    // Literals that are not values of the column type fail while planning.
    assert_err(
        "INSERT INTO t (d) VALUES ('bogus')",
        "22007",
        "invalid input syntax for type date: \"bogus\"",
    );
    // Casts that fail at run time only fail when a row reaches them.
    plan_ok("SELECT CASE WHEN false THEN 100000::smallint END");
    // Float to int is an assignment cast; too-long strings are an error.
    plan_ok("INSERT INTO t (a) VALUES (1.7)");
    assert_err(
        "INSERT INTO t (c) VALUES ('abcd')",
        "22001",
        "value too long for type character varying(3)",
    );
    // DEFAULT of a column without a DEFAULT expression is NULL.
    plan_ok("INSERT INTO t VALUES (1, DEFAULT)");
    plan_ok("INSERT INTO t DEFAULT VALUES");
}

#[test]
fn insert_errors() {
    assert_err(
        "INSERT INTO t VALUES (1, 'a', 'b', '2024-01-01', 5)",
        "42601",
        "INSERT has more expressions than target columns",
    );
    assert_err(
        "INSERT INTO t (a, b) VALUES (1)",
        "42601",
        "INSERT has more target columns than expressions",
    );
    let e = assert_err(
        "INSERT INTO t VALUES (true)",
        "42804",
        "column \"a\" is of type integer but expression is of type boolean",
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("You will need to rewrite or cast the expression.")
    );
    assert_err(
        "INSERT INTO t (zz) VALUES (1)",
        "42703",
        "column \"zz\" of relation \"t\" does not exist",
    );
    assert_err(
        "INSERT INTO t (a, a) VALUES (1, 2)",
        "42701",
        "column \"a\" specified more than once",
    );
    assert_err(
        "INSERT INTO v VALUES (1)",
        "55000",
        "cannot insert into view \"v\"",
    );
    assert_err(
        "INSERT INTO mv VALUES (1)",
        "42809",
        "cannot change materialized view \"mv\"",
    );
    assert_err(
        "INSERT INTO pg_class VALUES (1)",
        "42501",
        "permission denied for table pg_class",
    );
    assert_err(
        "INSERT INTO nope VALUES (1)",
        "42P01",
        "relation \"nope\" does not exist",
    );
    assert_err(
        "INSERT INTO t VALUES (1) ON CONFLICT (nope) DO NOTHING",
        "42703",
        "column \"nope\" does not exist",
    );
    assert_err(
        "INSERT INTO t VALUES (1) RETURNING nope",
        "42703",
        "column \"nope\" does not exist",
    );
}

#[test]
fn insert_select() {
    let (_, values) = insert_values("INSERT INTO t (a, b) SELECT id, 'x' FROM l");
    assert_eq!(values.arity(), 4);
    let rows = run(&values, &join_data());
    assert_eq!(rows.values().sum::<i64>(), 5);
    assert!(rows.contains_key(&vec![i(3), Datum::String("x".into()), NULL, NULL]));
    // An unknown literal column is read as the target type.
    let (_, values) = insert_values("INSERT INTO t (a, d) SELECT 1, '2024-01-01'");
    assert!(format!("{values:?}").contains("Assignment"));
    assert_err(
        "INSERT INTO t (a) SELECT true",
        "42804",
        "column \"a\" is of type integer but expression is of type boolean",
    );
}

#[test]
fn update_and_delete() {
    match plan_ok("UPDATE t SET b = 'y', a = a + 1 WHERE a > 1") {
        Plan::ReadThenWrite {
            id,
            selection,
            kind: MutationKind::Update { assignments },
            ..
        } => {
            assert_eq!(id, T);
            assert!(matches!(selection, MirRelationExpr::Filter { .. }));
            assert_eq!(assignments.keys().copied().collect::<Vec<_>>(), [0, 1]);
            assert_eq!(
                assignments[&0],
                MirScalarExpr::Column(0).call_binary(lit(i(1), ScalarType::Int32), BinaryFunc::Add)
            );
        }
        other => panic!("{other:?}"),
    }
    match plan_ok("DELETE FROM t AS x WHERE x.b = 'gone'") {
        Plan::ReadThenWrite {
            id,
            kind: MutationKind::Delete,
            ..
        } => assert_eq!(id, T),
        other => panic!("{other:?}"),
    }
    match plan_ok("TRUNCATE t") {
        Plan::ReadThenWrite {
            selection,
            kind: MutationKind::Truncate,
            ..
        } => assert!(matches!(selection, MirRelationExpr::Get { .. })),
        other => panic!("{other:?}"),
    }
    assert_err(
        "UPDATE t SET a = true",
        "42804",
        "column \"a\" is of type integer but expression is of type boolean",
    );
    assert_err(
        "UPDATE t SET zz = 1",
        "42703",
        "column \"zz\" of relation \"t\" does not exist",
    );
    assert_err(
        "UPDATE t SET a = 1, a = 2",
        "42601",
        "multiple assignments to same column \"a\"",
    );
    assert_err("UPDATE v SET a = 1", "55000", "cannot update view \"v\"");
    assert_err("DELETE FROM v", "55000", "cannot delete from view \"v\"");
    assert_err(
        "UPDATE t SET a = 1 FROM l",
        "0A000",
        "UPDATE ... FROM is not supported yet",
    );
    assert_err(
        "DELETE FROM t WHERE count(*) > 1",
        "42803",
        "aggregate functions are not allowed in WHERE",
    );
}

// ---------------------------------------------------------------------------------
// DDL

#[test]
fn tables_and_streams_read_from_kafka_carry_their_options() {
    let plan = plan_ok(
        "CREATE TABLE users (id text PRIMARY KEY, region text) \
         WITH (KAFKA_TOPIC = 'users', VALUE_FORMAT = JSON, PARTITIONS = 4)",
    );
    let Plan::CreateTable { source, .. } = plan else {
        panic!("{plan:?}")
    };
    let source = source.expect("a Kafka table");
    assert!(!source.stream);
    assert_eq!(
        source.options,
        vec![
            ("KAFKA_TOPIC".to_string(), "users".to_string()),
            ("VALUE_FORMAT".to_string(), "JSON".to_string()),
            ("PARTITIONS".to_string(), "4".to_string()),
        ]
    );
    let plan = plan_ok("CREATE STREAM clicks (url text) WITH (KAFKA_TOPIC = 'clicks')");
    let Plan::CreateTable {
        source, create_sql, ..
    } = plan
    else {
        panic!("{plan:?}")
    };
    assert!(source.expect("a Kafka stream").stream);
    assert!(
        create_sql.starts_with("CREATE STREAM clicks"),
        "{create_sql}"
    );
    assert_err(
        "CREATE STREAM clicks (url text)",
        "42601",
        "a stream reads a Kafka topic",
    );
    assert_err(
        "CREATE TABLE t2 (a int) WITH (fillfactor = 70)",
        "0A000",
        "CREATE TABLE ... WITH (...) is not supported yet",
    );
}

#[test]
fn create_table_types_and_constraints() {
    let plan = plan_ok(
        "CREATE TABLE IF NOT EXISTS n (a boolean, b bool, c smallint, d int2, e integer, f int, \
         g int4, h bigint, i int8, j real, k float4, l double precision, m float8, n float, \
         o numeric(10,2), p decimal, q text, r varchar(5), s character varying(6), t char(2), \
         u timestamp, v timestamp without time zone, w timestamptz, x timestamp with time zone, \
         y date, z time, aa interval, bb jsonb, cc int NOT NULL, dd int PRIMARY KEY)",
    );
    use ScalarType::*;
    let Plan::CreateTable {
        schema,
        name,
        desc,
        primary_key,
        create_sql,
        if_not_exists,
        source,
        ..
    } = plan
    else {
        panic!("{plan:?}")
    };
    assert_eq!(schema, "public");
    assert_eq!(source, None);
    assert_eq!(name, "n");
    assert!(if_not_exists);
    assert!(
        create_sql.starts_with("CREATE TABLE IF NOT EXISTS n (a BOOLEAN, "),
        "{create_sql}"
    );
    assert_eq!(
        scalar_types(&desc),
        [
            Bool,
            Bool,
            Int16,
            Int16,
            Int32,
            Int32,
            Int32,
            Int64,
            Int64,
            Float32,
            Float32,
            Float64,
            Float64,
            Float64,
            numeric(10, 2),
            NUMERIC,
            Text,
            Varchar {
                max_length: Some(5)
            },
            Varchar {
                max_length: Some(6)
            },
            Char { length: Some(2) },
            Timestamp,
            Timestamp,
            TimestampTz,
            TimestampTz,
            Date,
            Time,
            Interval,
            Jsonb,
            Int32,
            Int32
        ]
    );
    assert!(desc.types[0].nullable);
    assert!(!desc.types[28].nullable);
    assert!(!desc.types[29].nullable);
    assert_eq!(primary_key, [29]);

    match plan_ok("CREATE TABLE k (a int, b text, PRIMARY KEY (b, a))") {
        Plan::CreateTable {
            desc, primary_key, ..
        } => {
            assert_eq!(primary_key, [1, 0]);
            assert!(desc.types.iter().all(|t| !t.nullable));
        }
        other => panic!("{other:?}"),
    }
    assert_err(
        "CREATE TABLE t (x int)",
        "42P07",
        "relation \"t\" already exists",
    );
    assert_err(
        "CREATE TABLE w (x int, x int)",
        "42701",
        "column \"x\" specified more than once",
    );
    assert_err(
        "CREATE TABLE w (x int DEFAULT 'a')",
        "22P02",
        "invalid input syntax for type integer: \"a\"",
    );
    assert_err(
        "CREATE TABLE w (x int, UNIQUE NULLS NOT DISTINCT (x))",
        "0A000",
        "UNIQUE NULLS NOT DISTINCT is not supported yet",
    );
    assert_err(
        "CREATE TABLE w (x int, UNIQUE (y))",
        "42703",
        "column \"y\" named in key does not exist",
    );
    assert_err(
        "CREATE TABLE w (x int CHECK (x))",
        "42804",
        "argument of CHECK must be type boolean, not type integer",
    );
    assert_err(
        "CREATE TABLE w (x int REFERENCES t (a))",
        "0A000",
        "REFERENCES constraints are not supported yet",
    );
    assert_err(
        "CREATE TABLE w (x int GENERATED ALWAYS AS IDENTITY)",
        "0A000",
        "GENERATED ALWAYS AS IDENTITY is not supported yet",
    );
    assert_err(
        "CREATE TABLE w (x json)",
        "0A000",
        "type json is not supported yet",
    );
    assert_err(
        "CREATE TABLE w (x nope)",
        "42704",
        "type \"nope\" does not exist",
    );
    assert_err(
        "CREATE TABLE w (a int PRIMARY KEY, b int PRIMARY KEY)",
        "42P16",
        "multiple primary keys for table \"w\" are not allowed",
    );
    assert_err(
        "CREATE TABLE other.w (a int)",
        "3F000",
        "schema \"other\" does not exist",
    );
    // IF NOT EXISTS on an existing table plans (the coordinator emits the notice).
    plan_ok("CREATE TABLE IF NOT EXISTS t (x int)");
}

#[test]
fn create_views() {
    match plan_ok("CREATE MATERIALIZED VIEW m (k, n) AS SELECT id, count(*) FROM l GROUP BY id") {
        Plan::CreateView {
            schema,
            name,
            materialized,
            expr,
            desc,
            create_sql,
            depends_on,
            if_not_exists,
            or_replace,
        } => {
            assert_eq!((schema.as_str(), name.as_str()), ("public", "m"));
            assert_eq!(depends_on, BTreeSet::from([L]));
            assert!(materialized && !if_not_exists && !or_replace);
            assert_eq!(names(&desc), ["k", "n"]);
            assert_eq!(desc.types, expr.typ());
            assert_eq!(
                create_sql,
                "CREATE MATERIALIZED VIEW m (k, n) AS SELECT id, count(*) FROM l GROUP BY id"
            );
            // The normalized text plans to the same view.
            match plan_ok(&create_sql) {
                Plan::CreateView { expr: again, .. } => assert_eq!(again, expr),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
    match plan_ok("CREATE VIEW w AS SELECT a, 'lit' FROM t ORDER BY a") {
        Plan::CreateView {
            desc,
            expr,
            materialized,
            ..
        } => {
            assert!(!materialized);
            assert_eq!(names(&desc), ["a", "?column?"]);
            assert_eq!(desc.types[1].scalar_type, ScalarType::Text);
            let mut topk = false;
            expr.visit(&mut |e| topk |= matches!(e, MirRelationExpr::TopK { .. }));
            assert!(!topk, "ORDER BY without LIMIT is dropped in a view");
        }
        other => panic!("{other:?}"),
    }
    // Dependencies come from name resolution: a plain view that is inlined, a
    // relation in a subquery and a catalog relation all count; a CTE that shadows a
    // table's name does not.
    match plan_ok(
        "CREATE VIEW w AS WITH t AS (SELECT 1 AS a) \
         SELECT v.a FROM v, t WHERE v.a IN (SELECT id FROM r) AND EXISTS (SELECT 1 FROM pg_class)",
    ) {
        Plan::CreateView { depends_on, .. } => {
            assert_eq!(depends_on, BTreeSet::from([GlobalId::User(3), R, PG_CLASS]));
        }
        other => panic!("{other:?}"),
    }
    match plan_ok("CREATE VIEW w AS SELECT a FROM t ORDER BY a LIMIT 3") {
        Plan::CreateView { expr, .. } => {
            assert!(
                matches!(expr, MirRelationExpr::TopK { limit: Some(3), .. }),
                "{expr:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_err(
        "CREATE MATERIALIZED VIEW w AS SELECT now()",
        "0A000",
        "now() inside a view is only allowed in temporal filters",
    );
    assert_err(
        "CREATE VIEW w AS SELECT a FROM t WHERE d > current_date",
        "0A000",
        "current_date inside a view is only allowed in temporal filters",
    );
    assert_err(
        "CREATE VIEW v AS SELECT 1",
        "42P07",
        "relation \"v\" already exists",
    );
    assert_err(
        "CREATE OR REPLACE MATERIALIZED VIEW v AS SELECT 1",
        "42809",
        "\"v\" is not a materialized view",
    );
    assert_err(
        "CREATE VIEW w AS SELECT 1 AS a, 2 AS a",
        "42701",
        "column \"a\" specified more than once",
    );
    plan_ok("CREATE OR REPLACE VIEW v AS SELECT 1");
    plan_ok("CREATE VIEW IF NOT EXISTS v AS SELECT 1");
}

#[test]
fn drop_statements() {
    match plan_ok("DROP TABLE IF EXISTS t, nope CASCADE") {
        Plan::Drop {
            kind,
            ids,
            missing,
            if_exists,
            cascade,
        } => {
            assert_eq!(kind, ItemKind::Table);
            assert_eq!(ids, [T]);
            assert_eq!(missing, ["nope"]);
            assert!(if_exists && cascade);
        }
        other => panic!("{other:?}"),
    }
    match plan_ok("DROP MATERIALIZED VIEW mv") {
        Plan::Drop { kind, ids, .. } => {
            assert_eq!(kind, ItemKind::MaterializedView);
            assert_eq!(ids, [MV]);
        }
        other => panic!("{other:?}"),
    }
    let e = assert_err("DROP TABLE v", "42809", "\"v\" is not a table");
    assert_eq!(e.hint.as_deref(), Some("Use DROP VIEW to remove a view."));
    let e = assert_err("DROP VIEW t", "42809", "\"t\" is not a view");
    assert_eq!(e.hint.as_deref(), Some("Use DROP TABLE to remove a table."));
    let e = assert_err(
        "DROP MATERIALIZED VIEW v",
        "42809",
        "\"v\" is not a materialized view",
    );
    assert_eq!(e.hint.as_deref(), Some("Use DROP VIEW to remove a view."));
    assert_err("DROP TABLE nope", "42P01", "table \"nope\" does not exist");
    assert_err("DROP VIEW nope", "42P01", "view \"nope\" does not exist");
    assert_err("DROP INDEX i", "42P01", "index \"i\" does not exist");
    assert_err(
        "DROP TABLE pg_class",
        "42501",
        "permission denied: \"pg_class\" is a system catalog",
    );
}

// ---------------------------------------------------------------------------------
// Other statements

#[test]
fn show_set_and_transactions() {
    assert_eq!(
        plan_ok("SHOW TABLES"),
        Plan::ShowObjects(ObjectKind::Tables)
    );
    assert_eq!(plan_ok("SHOW VIEWS"), Plan::ShowObjects(ObjectKind::Views));
    assert_eq!(
        plan_ok("SHOW MATERIALIZED VIEWS"),
        Plan::ShowObjects(ObjectKind::MaterializedViews)
    );
    assert_eq!(plan_ok("SHOW COLUMNS FROM t"), Plan::ShowColumns { id: T });
    assert_eq!(
        plan_ok("SHOW search_path"),
        Plan::ShowVariable("search_path".into())
    );
    assert_eq!(plan_ok("SHOW ALL"), Plan::ShowVariable("all".into()));
    assert_eq!(
        plan_ok("SHOW TIME ZONE"),
        Plan::ShowVariable("timezone".into())
    );
    assert_eq!(
        plan_ok("SHOW TRANSACTION ISOLATION LEVEL"),
        Plan::ShowVariable("transaction_isolation".into())
    );
    let set = |name: &str, value: Option<&str>, local: bool| Plan::SetVariable {
        name: name.into(),
        value: value.map(Into::into),
        local,
    };
    assert_eq!(
        plan_ok("SET search_path = public"),
        set("search_path", Some("public"), false)
    );
    assert_eq!(
        plan_ok("SET SESSION DateStyle TO 'ISO, MDY'"),
        set("datestyle", Some("ISO, MDY"), false)
    );
    assert_eq!(
        plan_ok("SET LOCAL x = 1, 'b'"),
        set("x", Some("1, b"), true)
    );
    assert_eq!(plan_ok("SET x TO DEFAULT"), set("x", None, false));
    assert_eq!(plan_ok("RESET x"), set("x", None, false));
    assert_eq!(plan_ok("RESET ALL"), set("all", None, false));
    assert_eq!(
        plan_ok("SET TIME ZONE 'UTC'"),
        set("timezone", Some("UTC"), false)
    );
    assert_eq!(
        plan_ok("SET extra_float_digits = 3"),
        set("extra_float_digits", Some("3"), false)
    );
    assert_eq!(
        plan_ok("SET application_name = on"),
        set("application_name", Some("on"), false)
    );
    assert_eq!(
        plan_ok("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
        set("transaction_isolation", Some("serializable"), true)
    );
    assert_eq!(plan_ok("BEGIN"), Plan::StartTransaction);
    assert_eq!(
        plan_ok("START TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
        Plan::StartTransaction
    );
    assert_eq!(plan_ok("COMMIT"), Plan::Commit);
    assert_eq!(plan_ok("END"), Plan::Commit);
    assert_eq!(plan_ok("ROLLBACK"), Plan::Rollback);
    assert_eq!(plan_ok("ABORT"), Plan::Rollback);
    assert_eq!(
        plan_ok("ROLLBACK TO SAVEPOINT S1"),
        Plan::RollbackToSavepoint { name: "s1".into() }
    );
    assert_eq!(
        plan_ok("RELEASE s1"),
        Plan::ReleaseSavepoint { name: "s1".into() }
    );
    assert_eq!(
        plan_ok("SAVEPOINT s1"),
        Plan::Savepoint { name: "s1".into() }
    );
}

#[test]
fn explain() {
    match plan_ok("EXPLAIN SELECT a FROM t WHERE a = 1") {
        Plan::Explain { expr, .. } => assert!(expr.depends_on().contains(&T)),
        other => panic!("{other:?}"),
    }
    match plan_ok("EXPLAIN CREATE MATERIALIZED VIEW m AS SELECT count(*) FROM l") {
        Plan::Explain { expr, .. } => assert_eq!(expr.arity(), 1),
        other => panic!("{other:?}"),
    }
    assert_err(
        "EXPLAIN ANALYZE SELECT 1",
        "0A000",
        "EXPLAIN ANALYZE is not supported yet",
    );
}

#[test]
fn unsupported_statements_name_themselves() {
    assert_err(
        "CREATE INDEX i ON t ((a + 1))",
        "0A000",
        "indexes on expressions are not supported yet",
    );
    assert_err(
        "ALTER TABLE t ADD CONSTRAINT x CHECK (a > 0)",
        "0A000",
        "ALTER TABLE ... ADD CONSTRAINT x CHECK (a > 0) is not supported yet",
    );
    assert_err(
        "CREATE SCHEMA s AUTHORIZATION bob",
        "0A000",
        "CREATE SCHEMA ... AUTHORIZATION is not supported yet",
    );
    assert_err(
        "GRANT SELECT ON t TO bob",
        "0A000",
        "GRANT is not supported yet",
    );
}

// ---------------------------------------------------------------------------------
// Parameters and describe

fn describe_sql(
    sql: &str,
    declared: &[Option<ScalarType>],
) -> Result<(Vec<ScalarType>, Option<RelationDesc>), SqlError> {
    describe(&TestCatalog::new(), &ctx(), &one_statement(sql), declared)
}

#[test]
fn describe_infers_parameter_types() {
    use ScalarType::*;
    let (params, desc) = describe_sql("SELECT b FROM t WHERE a = $1 AND d > $2", &[]).unwrap();
    assert_eq!(params, [Int32, Date]);
    assert_eq!(names(&desc.unwrap()), ["b"]);
    let (params, _) = describe_sql("SELECT $1", &[]).unwrap();
    assert_eq!(params, [Text]);
    let (params, _) = describe_sql("SELECT $2::int8 + $1, $3", &[]).unwrap();
    assert_eq!(params, [Int64, Int64, Text]);
    let (params, _) = describe_sql("SELECT a FROM t WHERE a = $1", &[Some(Int64)]).unwrap();
    assert_eq!(params, [Int64]);
    let (params, desc) = describe_sql("INSERT INTO t (d, a, c) VALUES ($1, $2, $3)", &[]).unwrap();
    assert_eq!(params, [Date, Int32, Varchar { max_length: None }]);
    assert!(desc.is_none());
    let (params, _) = describe_sql("UPDATE t SET b = $1 WHERE a = $2", &[]).unwrap();
    assert_eq!(params, [Text, Int32]);
    let (params, _) = describe_sql("SELECT a FROM t LIMIT $1", &[]).unwrap();
    assert_eq!(params, [Int64]);
    let (params, _) = describe_sql("SELECT lower($1), left($1, $2)", &[]).unwrap();
    assert_eq!(params, [Text, Int32]);
    // Extra declared parameters are reported even when unused.
    let (params, _) = describe_sql("SELECT 1", &[Some(Int32), None]).unwrap();
    assert_eq!(params, [Int32, Text]);
    let (_, desc) = describe_sql("SHOW ALL", &[]).unwrap();
    assert_eq!(names(&desc.unwrap()), ["name", "setting", "description"]);
}

#[test]
fn bound_parameters_are_literals() {
    let mut c = ctx();
    c.params = vec![
        (Datum::Int32(5), ScalarType::Int32),
        (Datum::Int64(2), ScalarType::Int64),
    ];
    match try_plan_with("SELECT a FROM t WHERE a = $1 LIMIT $2", &c).unwrap() {
        Plan::Select {
            expr, finishing, ..
        } => {
            assert_eq!(finishing.limit, Some(2));
            assert!(format!("{expr:?}").contains("Int32(5)"));
        }
        other => panic!("{other:?}"),
    }
    let err = try_plan_with("SELECT $3", &c).unwrap_err();
    assert_eq!(
        (err.sqlstate.code(), err.message.as_str()),
        ("42P02", "there is no parameter $3")
    );
}

// ---------------------------------------------------------------------------------
// End to end with `eddy-expr`'s evaluator: results as Postgres prints them.

fn pg_text(sql: &str) -> Vec<String> {
    let s = select(sql);
    let rows = query_with(sql, &Data::new(), real_eval);
    assert_eq!(rows.len(), 1, "{sql}");
    rows[0]
        .iter()
        .zip(&s.desc.types)
        .map(|(d, t)| {
            if d.is_null() {
                "NULL".to_string()
            } else {
                eddy_repr::strconv::format_datum(d, &t.scalar_type)
            }
        })
        .collect()
}

#[test]
fn constant_queries_match_postgres() {
    assert_eq!(
        pg_text("SELECT 1 + 2 * 3, 7 / 2, 7 % 3, 2 ^ 10, -2147483648, 1.50 + 1"),
        ["7", "3", "1", "1024", "-2147483648", "2.50"]
    );
    assert_eq!(
        pg_text("SELECT 'a' || 1, lower('ABC'), length('héllo'), substring('hello' from 2 for 3), trim('  x  '), position('l' in 'hello')"),
        ["a1", "abc", "5", "ell", "x", "3"]
    );
    assert_eq!(
        pg_text("SELECT date '2024-01-31' + 1, date '2024-03-01' - date '2024-02-01', timestamp '2024-01-01 10:00' + interval '1 day 2 hours', '2024-01-01'::date < '2024-01-02'"),
        ["2024-02-01", "29", "2024-01-02 12:00:00", "t"]
    );
    assert_eq!(
        pg_text("SELECT coalesce(NULL, 2), nullif(1, 1), greatest(1, 2.5), CASE WHEN 1 > 2 THEN 'x' ELSE 'y' END, 1 IN (1, NULL), 2 NOT IN (1, NULL)"),
        ["2", "NULL", "2.5", "y", "t", "NULL"]
    );
    assert_eq!(
        pg_text("SELECT avg(x), sum(x), count(x), avg(x::float8) FROM (VALUES (1), (2), (NULL)) AS v(x)"),
        ["1.5000000000000000", "3", "2", "1.5"]
    );
    assert_eq!(
        pg_text("SELECT avg(x) FROM (VALUES (1), (2)) AS v(x) WHERE x > 5"),
        ["NULL"]
    );
    assert_eq!(
        pg_text("SELECT now(), current_date, extract(year from now()), date_trunc('month', timestamp '2024-05-17 10:11:12')"),
        ["2024-05-06 07:08:09.123456+00", "2024-05-06", "2024", "2024-05-01 00:00:00"]
    );
    assert_eq!(
        pg_text("SELECT '{\"a\": [1, 2]}'::jsonb -> 'a', '{\"a\": 1}'::jsonb ->> 'a', jsonb_typeof('[]')"),
        ["[1, 2]", "1", "array"]
    );
}

#[test]
fn more_from_clause_forms() {
    let data = join_data();
    // NATURAL with no common column is a cross join.
    let s = select("SELECT * FROM l NATURAL JOIN (SELECT 1 AS k) AS x");
    assert_eq!(names(&s.desc), ["id", "lv", "k"]);
    assert_eq!(
        query(
            "SELECT count(*) FROM l NATURAL JOIN (SELECT 1 AS k) AS x",
            &data
        ),
        [vec![big(5)]]
    );
    // A nested join with an alias is one relation of its `*` columns.
    let s = select("SELECT j.* FROM (l JOIN r USING (id)) AS j");
    assert_eq!(names(&s.desc), ["id", "lv", "rv"]);
    // RIGHT JOIN USING: the merged column comes from the right side.
    assert_eq!(
        query_set(
            "SELECT id, lv FROM l RIGHT JOIN r USING (id) WHERE rv >= 400",
            &data
        ),
        [vec![NULL, NULL], vec![i(4), NULL]]
    );
    // A plain view is inlined and filters like its definition.
    let mut data = data;
    data.insert(
        T,
        vec![
            vec![i(-1), Datum::String("neg".into()), NULL, NULL],
            vec![i(5), Datum::String("pos".into()), NULL, NULL],
        ],
    );
    assert_eq!(
        query("SELECT b FROM v", &data),
        [vec![Datum::String("pos".into())]]
    );
}

#[test]
fn more_grouping_forms() {
    let data = join_data();
    assert_eq!(
        query(
            "SELECT id FROM l WHERE id IS NOT NULL GROUP BY id ORDER BY count(*) DESC, id",
            &data
        ),
        [vec![i(1)], vec![i(2)], vec![i(3)]]
    );
    assert_err(
        "SELECT a FROM t GROUP BY a HAVING b > 'x'",
        "42803",
        "column \"t.b\" must appear in the GROUP BY clause or be used in an aggregate function",
    );
    // A query with only HAVING is grouped: one group over the whole input.
    assert_eq!(
        query("SELECT 1 FROM l HAVING count(*) = 5", &data),
        [vec![i(1)]]
    );
    // Grouping by an expression allows that expression (not its columns) in the select list.
    assert_err(
        "SELECT lv FROM l GROUP BY lv + 1",
        "42803",
        "column \"l.lv\" must appear in the GROUP BY clause or be used in an aggregate function",
    );
}

#[test]
fn describe_results_of_other_statements() {
    let (_, desc) = describe_sql("EXPLAIN SELECT 1", &[]).unwrap();
    assert_eq!(names(&desc.unwrap()), ["QUERY PLAN"]);
    let (_, desc) = describe_sql("SHOW COLUMNS FROM t", &[]).unwrap();
    assert_eq!(names(&desc.unwrap()), ["name", "nullable", "type"]);
    let (_, desc) = describe_sql("SHOW search_path", &[]).unwrap();
    assert_eq!(names(&desc.unwrap()), ["search_path"]);
    let (_, desc) = describe_sql("CREATE TABLE z (a int)", &[]).unwrap();
    assert!(desc.is_none());
    assert_err(
        "SHOW COLUMNS FROM nope",
        "42P01",
        "relation \"nope\" does not exist",
    );
}

// ---------------------------------------------------------------------------------
// Subqueries (expected rows checked against Postgres 15)

/// `eddy-expr`'s evaluator with errors shown as values, so a test can see which row
/// an error reaches (a dataflow sends it to its error collection instead).
fn eval_marking_errors(e: &MirScalarExpr, row: &[Datum]) -> Datum {
    e.eval(row)
        .unwrap_or_else(|err| Datum::String(format!("ERROR: {err}")))
}

fn subquery_rows(sql: &str) -> Vec<Vec<Datum>> {
    let mut rows = query_with(sql, &join_data(), eval_marking_errors);
    rows.sort();
    rows
}

fn text(s: &str) -> Datum {
    Datum::String(s.to_string())
}

#[test]
fn scalar_subqueries_are_null_without_rows() {
    assert_eq!(
        subquery_rows("SELECT lv, (SELECT max(rv) FROM r WHERE r.id = l.id) FROM l"),
        [
            vec![i(10), i(101)],
            vec![i(10), i(101)],
            vec![i(20), i(200)],
            vec![i(30), NULL],
            vec![i(40), NULL],
        ]
    );
    // Uncorrelated, in WHERE.
    assert_eq!(
        subquery_rows("SELECT lv FROM l WHERE lv > (SELECT min(rv) FROM r) / 10"),
        [vec![i(20)], vec![i(30)], vec![i(40)]]
    );
    // LIMIT applies per outer row.
    assert_eq!(
        subquery_rows(
            "SELECT lv, (SELECT rv FROM r WHERE r.id = l.id ORDER BY rv DESC LIMIT 1) FROM l"
        ),
        [
            vec![i(10), i(101)],
            vec![i(10), i(101)],
            vec![i(20), i(200)],
            vec![i(30), NULL],
            vec![i(40), NULL],
        ]
    );
}

#[test]
fn correlated_count_is_zero_not_missing() {
    assert_eq!(
        subquery_rows("SELECT lv, (SELECT count(*) FROM r WHERE r.id = l.id) FROM l"),
        [
            vec![i(10), big(2)],
            vec![i(10), big(2)],
            vec![i(20), big(1)],
            vec![i(30), big(0)],
            vec![i(40), big(0)],
        ]
    );
    // A NULL correlation value is a key like any other.
    assert_eq!(
        subquery_rows(
            "SELECT lv, (SELECT count(*) FROM r WHERE r.id IS NOT DISTINCT FROM l.id) FROM l"
        ),
        [
            vec![i(10), big(2)],
            vec![i(10), big(2)],
            vec![i(20), big(1)],
            vec![i(30), big(0)],
            vec![i(40), big(1)],
        ]
    );
}

#[test]
fn lateral_top_k_per_outer_row_keeps_duplicates() {
    assert_eq!(
        subquery_rows(
            "SELECT lv, s.rv FROM l, LATERAL (SELECT rv FROM r WHERE r.id = l.id \
             ORDER BY rv DESC LIMIT 1) s"
        ),
        [
            vec![i(10), i(101)],
            vec![i(10), i(101)],
            vec![i(20), i(200)],
        ]
    );
    // The limit is a TopK grouped by the correlation key, read from each distinct key.
    let s = select("SELECT lv, s.rv FROM l, LATERAL (SELECT rv FROM r WHERE r.id = l.id ORDER BY rv LIMIT 1) s");
    let mut top_k_keys = vec![];
    s.expr.visit(&mut |e| {
        if let MirRelationExpr::TopK { group_key, .. } = e {
            top_k_keys.push(group_key.clone());
        }
    });
    assert_eq!(top_k_keys, [vec![0]]);
}

#[test]
fn lateral_count_is_zero_for_keys_without_rows_and_null_keys() {
    assert_eq!(
        subquery_rows(
            "SELECT lv, c.n FROM l LEFT JOIN LATERAL (SELECT count(*) AS n FROM r \
             WHERE r.id = l.id) c ON true"
        ),
        [
            vec![i(10), big(2)],
            vec![i(10), big(2)],
            vec![i(20), big(1)],
            vec![i(30), big(0)],
            vec![i(40), big(0)],
        ]
    );
    // LEFT JOIN LATERAL pads the outer rows the ON condition rejects everything for.
    assert_eq!(
        subquery_rows(
            "SELECT lv, s.rv FROM l LEFT JOIN LATERAL (SELECT rv FROM r WHERE r.id = l.id) s \
             ON s.rv > 100"
        ),
        [
            vec![i(10), i(101)],
            vec![i(10), i(101)],
            vec![i(20), i(200)],
            vec![i(30), NULL],
            vec![i(40), NULL],
        ]
    );
}

#[test]
fn lateral_on_the_right_of_right_or_full_joins_is_refused() {
    let err = assert_err(
        "SELECT * FROM l RIGHT JOIN LATERAL (SELECT rv FROM r WHERE r.id = l.id) s ON true",
        "42P10",
        "invalid reference to FROM-clause entry for table \"l\"",
    );
    assert_eq!(
        err.detail.as_deref(),
        Some("The combining JOIN type must be INNER or LEFT for a LATERAL reference.")
    );
    // Without a reference to the left side it is an ordinary join.
    assert_eq!(
        subquery_rows(
            "SELECT lv, s.rv FROM l FULL JOIN LATERAL (SELECT rv FROM r WHERE r.id = 4) s ON lv = 30"
        ),
        [
            vec![i(10), NULL],
            vec![i(10), NULL],
            vec![i(20), NULL],
            vec![i(30), i(400)],
            vec![i(40), NULL],
        ]
    );
}

#[test]
fn scalar_subquery_with_several_rows_is_an_error_for_that_row() {
    let error = text("ERROR: more than one row returned by a subquery used as an expression");
    assert_eq!(
        subquery_rows("SELECT lv, (SELECT rv FROM r WHERE r.id = l.id) FROM l"),
        [
            vec![i(10), error.clone()],
            vec![i(10), error],
            vec![i(20), i(200)],
            vec![i(30), NULL],
            vec![i(40), NULL],
        ]
    );
    // Inside a CASE branch, only the rows that reach the branch run the subquery.
    assert_eq!(
        subquery_rows(
            "SELECT lv, CASE WHEN l.id = 2 THEN (SELECT rv FROM r WHERE r.id = l.id) END FROM l"
        ),
        [
            vec![i(10), NULL],
            vec![i(10), NULL],
            vec![i(20), i(200)],
            vec![i(30), NULL],
            vec![i(40), NULL],
        ]
    );
}

#[test]
fn exists_and_not_exists() {
    assert_eq!(
        subquery_rows("SELECT lv FROM l WHERE EXISTS (SELECT 1 FROM r WHERE r.id = l.id)"),
        [vec![i(10)], vec![i(10)], vec![i(20)]]
    );
    assert_eq!(
        subquery_rows("SELECT lv FROM l WHERE NOT EXISTS (SELECT 1 FROM r WHERE r.id = l.id)"),
        [vec![i(30)], vec![i(40)]]
    );
    // Nested: the inner subquery reads a column two levels out.
    assert_eq!(
        subquery_rows(
            "SELECT lv FROM l WHERE EXISTS (SELECT 1 FROM r WHERE r.id = l.id AND \
             EXISTS (SELECT 1 FROM r r2 WHERE r2.rv = r.rv + 1 AND r2.id = l.id))"
        ),
        [vec![i(10)], vec![i(10)]]
    );
    let s = select("SELECT EXISTS (SELECT 1 FROM r)");
    assert!(!s.desc.types[0].nullable, "EXISTS is never NULL");
}

#[test]
fn in_subquery_follows_three_valued_logic() {
    // r.id holds 1, 1, 2, 4 and NULL.
    assert_eq!(
        subquery_rows("SELECT lv, id IN (SELECT id FROM r) FROM l"),
        [
            vec![i(10), Datum::Bool(true)],
            vec![i(10), Datum::Bool(true)],
            vec![i(20), Datum::Bool(true)],
            vec![i(30), NULL],
            vec![i(40), NULL],
        ]
    );
    assert_eq!(
        subquery_rows("SELECT lv, id NOT IN (SELECT id FROM r) FROM l"),
        [
            vec![i(10), Datum::Bool(false)],
            vec![i(10), Datum::Bool(false)],
            vec![i(20), Datum::Bool(false)],
            vec![i(30), NULL],
            vec![i(40), NULL],
        ]
    );
    assert_eq!(
        subquery_rows("SELECT lv, id NOT IN (SELECT id FROM r WHERE id IS NOT NULL) FROM l"),
        [
            vec![i(10), Datum::Bool(false)],
            vec![i(10), Datum::Bool(false)],
            vec![i(20), Datum::Bool(false)],
            vec![i(30), Datum::Bool(true)],
            vec![i(40), NULL],
        ]
    );
    // An empty subquery: false, even for NULL.
    assert_eq!(
        subquery_rows("SELECT lv, id IN (SELECT id FROM r WHERE rv < 0) FROM l"),
        [
            vec![i(10), Datum::Bool(false)],
            vec![i(10), Datum::Bool(false)],
            vec![i(20), Datum::Bool(false)],
            vec![i(30), Datum::Bool(false)],
            vec![i(40), Datum::Bool(false)],
        ]
    );
    // Correlated, and `= ANY`.
    assert_eq!(
        subquery_rows("SELECT lv, lv = ANY (SELECT rv / 10 FROM r WHERE r.id = l.id) FROM l"),
        [
            vec![i(10), Datum::Bool(true)],
            vec![i(10), Datum::Bool(true)],
            vec![i(20), Datum::Bool(true)],
            vec![i(30), Datum::Bool(false)],
            vec![i(40), Datum::Bool(false)],
        ]
    );
}

#[test]
fn subqueries_under_group_by_read_grouped_columns() {
    assert_eq!(
        subquery_rows(
            "SELECT id, count(*), (SELECT count(*) FROM r WHERE r.id = l.id) FROM l GROUP BY id"
        ),
        [
            vec![NULL, big(1), big(0)],
            vec![i(1), big(2), big(2)],
            vec![i(2), big(1), big(1)],
            vec![i(3), big(1), big(0)],
        ]
    );
    // An aggregate inside a subquery belongs to the subquery.
    assert_eq!(
        subquery_rows("SELECT lv, (SELECT count(*) FROM r) FROM l").len(),
        5
    );
}

#[test]
fn subquery_errors() {
    assert_err(
        "SELECT (SELECT 1, 2)",
        "42601",
        "subquery must return only one column",
    );
    assert_err(
        "SELECT a FROM t WHERE a IN (SELECT 1, 2)",
        "42601",
        "subquery has too many columns",
    );
    assert_err(
        "SELECT (SELECT nope FROM r)",
        "42703",
        "column \"nope\" does not exist",
    );
    assert_err(
        "SELECT a FROM t WHERE a IN (SELECT '2024-01-01'::date)",
        "42883",
        "operator does not exist: integer = date",
    );
}

#[test]
fn generate_series_in_from() {
    assert_eq!(
        subquery_rows("SELECT s FROM generate_series(1, 3) s"),
        [vec![i(1)], vec![i(2)], vec![i(3)]]
    );
    // Arguments may read the items before it; NULL bounds give no rows.
    assert_eq!(
        subquery_rows("SELECT lv, s FROM l, generate_series(1, l.id) s WHERE lv > 10"),
        [
            vec![i(20), i(1)],
            vec![i(20), i(2)],
            vec![i(30), i(1)],
            vec![i(30), i(2)],
            vec![i(30), i(3)],
        ]
    );
    assert_eq!(
        subquery_rows("SELECT lv, s FROM l, generate_series(2::bigint, l.id::bigint) s"),
        [
            vec![i(20), big(2)],
            vec![i(30), big(2)],
            vec![i(30), big(3)],
        ]
    );
    assert_eq!(
        subquery_rows("SELECT x FROM unnest(ARRAY['b', 'a', 'b']) x"),
        [vec![text("a")], vec![text("b")], vec![text("b")]]
    );
    assert_err(
        "SELECT * FROM generate_series(1.5, 3)",
        "0A000",
        "generate_series(numeric, integer) is not supported yet",
    );
}

#[test]
fn catalog_query_syntax() {
    // `OPERATOR(pg_catalog.~)`, `COLLATE`, `!~`, `= ANY(ARRAY[...])` and subscripts.
    let s = select(
        "SELECT relname FROM pg_class WHERE relname OPERATOR(pg_catalog.~) '^(t)$' \
         COLLATE pg_catalog.default AND relname !~ '^pg_' \
         AND relname = ANY (ARRAY['t', 'u']) AND (ARRAY['a', 'b'])[2] = 'b'",
    );
    assert_eq!(names(&s.desc), ["relname"]);
    assert_err(
        "SELECT 1 FROM pg_class WHERE relname COLLATE \"de_DE\" = 'x'",
        "42704",
        "collation \"\"de_DE\"\" for encoding \"UTF8\" does not exist",
    );
    assert_err(
        "SELECT 'nope'::regclass",
        "42P01",
        "relation \"nope\" does not exist",
    );
    // A constant name is read as the OID of what it names.
    let s = select("SELECT 'pg_class'::regclass::oid, 't'::regclass::oid");
    assert_eq!(
        query_with(
            "SELECT 'pg_class'::regclass::oid, 't'::regclass::oid",
            &Data::new(),
            real_eval
        ),
        [vec![Datum::Oid(1), Datum::Oid(16385)]]
    );
    assert_eq!(scalar_types(&s.desc), [ScalarType::Oid, ScalarType::Oid]);
}

#[test]
fn copy_plans_columns_and_options() {
    use eddy_repr::copy::CopyFormatKind;
    let sql =
        "COPY t (b, a) FROM STDIN WITH (FORMAT csv, HEADER, DELIMITER ';', NULL 'NA', QUOTE '|')";
    let Plan::CopyFrom {
        columns, format, ..
    } = plan_ok(sql)
    else {
        panic!("expected COPY FROM")
    };
    assert_eq!(columns, [1, 0]);
    assert_eq!(
        (
            format.kind,
            format.header,
            format.delimiter,
            format.null.as_str(),
            format.quote
        ),
        (CopyFormatKind::Csv, true, ';', "NA", '|')
    );
    // The legacy spelling, and no options at all.
    let Plan::CopyFrom {
        format, columns, ..
    } = plan_ok("COPY t FROM STDIN CSV HEADER")
    else {
        panic!("expected COPY FROM")
    };
    assert_eq!((format.kind, format.header), (CopyFormatKind::Csv, true));
    assert_eq!(columns, [0, 1, 2, 3]);
    let Plan::CopyFrom { format, .. } = plan_ok("copy t from stdin") else {
        panic!("expected COPY FROM")
    };
    assert_eq!(
        (format.kind, format.delimiter),
        (CopyFormatKind::Text, '\t')
    );
    let Plan::CopyTo { select, format } = plan_ok("COPY (SELECT a FROM t) TO STDOUT (FORMAT csv)")
    else {
        panic!("expected COPY TO")
    };
    assert!(matches!(*select, Plan::Select { .. }));
    assert_eq!(format.kind, CopyFormatKind::Csv);
    assert!(matches!(
        plan_ok("COPY t (a) TO STDOUT"),
        Plan::CopyTo { .. }
    ));
}

#[test]
fn copy_errors() {
    assert_err(
        "COPY t FROM STDIN (FORMAT binary, DELIMITER ',')",
        "42601",
        "cannot specify DELIMITER in BINARY mode",
    );
    assert_err(
        "COPY t FROM STDIN (HEADER)",
        "0A000",
        "COPY HEADER available only in CSV mode",
    );
    assert_err(
        "COPY t (zz) FROM STDIN",
        "42703",
        "column \"zz\" of relation \"t\" does not exist",
    );
    assert_err(
        "COPY t (a, a) FROM STDIN",
        "42701",
        "column \"a\" specified more than once",
    );
    let err = parse("COPY t FROM '/tmp/x'").unwrap_err();
    assert_eq!(
        (err.sqlstate.code(), err.message.as_str()),
        (
            "0A000",
            "COPY FROM a file or program (only STDIN) is not supported yet"
        )
    );
    assert_eq!(
        parse("COPY (SELECT 1) FROM STDIN").unwrap_err().sqlstate,
        "42601"
    );
    assert_eq!(
        parse("COPY t FROM STDIN (FORMAT").unwrap_err().sqlstate,
        "42601"
    );
}

#[test]
fn subscribe_parses_in_every_spelling() {
    for (sql, snapshot, output) in [
        ("SUBSCRIBE TO mv", true, SubscribeOutput::Rows),
        ("subscribe mv", true, SubscribeOutput::Rows),
        (
            "SUBSCRIBE TO mv WITH (SNAPSHOT = false)",
            false,
            SubscribeOutput::Rows,
        ),
        (
            "SUBSCRIBE mv WITH (snapshot true)",
            true,
            SubscribeOutput::Rows,
        ),
        ("SUBSCRIBE mv WITH (SNAPSHOT)", true, SubscribeOutput::Rows),
        (
            "COPY (SUBSCRIBE TO mv) TO STDOUT",
            true,
            SubscribeOutput::CopyText,
        ),
        (
            "copy ( subscribe mv with (snapshot = off) ) to stdout with (format text)",
            false,
            SubscribeOutput::CopyText,
        ),
    ] {
        let Statement::Subscribe(subscribe) = one_statement(sql) else {
            panic!("{sql} is not a SUBSCRIBE");
        };
        assert_eq!(subscribe.snapshot, snapshot, "{sql}");
        assert_eq!(subscribe.output, output, "{sql}");
        assert!(
            matches!(&subscribe.relation, SubscribeRelation::Name(n) if n.to_string() == "mv"),
            "{sql}"
        );
    }
    let Statement::Subscribe(subscribe) = one_statement("SUBSCRIBE (SELECT a FROM t)") else {
        panic!("not a SUBSCRIBE");
    };
    assert!(matches!(subscribe.relation, SubscribeRelation::Query(_)));
    // Several statements in one string, SUBSCRIBE among them.
    assert_eq!(parse("SELECT 1; SUBSCRIBE mv").unwrap().len(), 2);
}

#[test]
fn subscribe_syntax_errors_are_42601() {
    for sql in [
        "SUBSCRIBE",
        "SUBSCRIBE mv WITH (PROGRESS)",
        "SUBSCRIBE mv WITH (SNAPSHOT = maybe)",
        "COPY (SUBSCRIBE mv) TO STDIN",
        "COPY (SUBSCRIBE mv) TO STDOUT (FORMAT csv)",
        "SUBSCRIBE mv extra",
    ] {
        let err = parse(sql).unwrap_err();
        assert_eq!(err.sqlstate, "42601", "{sql}: {err:?}");
    }
    // Other COPY statements parse.
    assert!(parse("COPY t FROM STDIN").is_ok());
}

#[test]
fn subscribe_plans_the_relation_with_timestamp_and_diff_first() {
    let Plan::Subscribe {
        expr,
        desc,
        depends_on,
        snapshot,
        output,
    } = plan_ok("SUBSCRIBE TO mv")
    else {
        panic!("not a subscribe plan");
    };
    assert!(snapshot);
    assert_eq!(output, SubscribeOutput::Rows);
    assert_eq!(&desc.names[..2], &["eddy_timestamp", "eddy_diff"]);
    assert_eq!(desc.types[0].scalar_type, ScalarType::Int64);
    assert_eq!(desc.arity(), expr.arity() + 2);
    assert_eq!(depends_on, BTreeSet::from([MV]));
    // A plain view is inlined, and the subscription depends on it and what it reads.
    let Plan::Subscribe { depends_on, .. } = plan_ok("SUBSCRIBE v") else {
        panic!("not a subscribe plan");
    };
    assert!(depends_on.contains(&GlobalId::User(3)), "{depends_on:?}");
    // A query; its result shape is what Describe reports.
    let plan = plan_ok("SUBSCRIBE (SELECT a + 1 AS b FROM t WHERE a > 0)");
    let desc = plan.result_desc().unwrap();
    assert_eq!(desc.names, vec!["eddy_timestamp", "eddy_diff", "b"]);
    // COPY's Describe has no result columns.
    assert!(plan_ok("COPY (SUBSCRIBE mv) TO STDOUT")
        .result_desc()
        .is_none());
    // An unknown relation is 42P01.
    assert_eq!(try_plan("SUBSCRIBE nope").unwrap_err().sqlstate, "42P01");
}

#[test]
fn create_sink_parses_and_prints_back_the_same_statement() {
    let sql = "create sink if not exists out from mv \
               with (kafka_topic = 'o''t', ENVELOPE = upsert, key = (a, \"B\") not enforced, n = 3)";
    let Statement::CreateSink(create) = one_statement(sql) else {
        panic!("not a CREATE SINK");
    };
    assert!(create.if_not_exists);
    assert_eq!(create.from.to_string(), "mv");
    assert_eq!(
        create.options.options,
        vec![
            ("kafka_topic".to_string(), "o't".to_string()),
            ("ENVELOPE".to_string(), "upsert".to_string()),
            ("n".to_string(), "3".to_string()),
        ]
    );
    assert_eq!(
        create.options.key,
        Some(vec!["a".to_string(), "B".to_string()])
    );
    assert!(create.options.key_not_enforced);
    // The printed statement (kept in the log) parses back to the same one.
    let text = create.to_string();
    assert_eq!(
        one_statement(&text),
        Statement::CreateSink(create),
        "{text}"
    );

    let Statement::DropSink(drop) = one_statement("DROP SINK IF EXISTS a, b CASCADE") else {
        panic!("not a DROP SINK");
    };
    assert!(drop.if_exists && drop.cascade);
    assert_eq!(drop.to_string(), "DROP SINK IF EXISTS a, b CASCADE");
    for bad in [
        "CREATE SINK s FROM mv",
        "CREATE SINK s mv WITH (KAFKA_TOPIC = 't')",
        "CREATE SINK s FROM mv WITH (KEY = a)",
        "CREATE SINK s FROM mv WITH (KEY = (a), KEY = (a))",
        "DROP SINK",
    ] {
        assert_eq!(parse(bad).unwrap_err().sqlstate, "42601", "{bad}");
    }
}

#[test]
fn create_sink_plans_the_relation_it_writes_out() {
    let Plan::CreateSink {
        name,
        desc,
        depends_on,
        expr,
        ..
    } = plan_ok("CREATE SINK out FROM mv WITH (KAFKA_TOPIC = 'o')")
    else {
        panic!("not a CREATE SINK plan");
    };
    assert_eq!(name, "out");
    assert_eq!(desc.arity(), expr.arity());
    assert_eq!(depends_on, BTreeSet::from([MV]));
    // A plain view is inlined; the sink depends on it too.
    let Plan::CreateSink { depends_on, .. } =
        plan_ok("CREATE SINK out FROM v WITH (KAFKA_TOPIC = 'o')")
    else {
        panic!("not a CREATE SINK plan");
    };
    assert!(depends_on.contains(&GlobalId::User(3)), "{depends_on:?}");
    assert_err(
        "CREATE SINK out FROM nope WITH (KAFKA_TOPIC = 'o')",
        "42P01",
        "relation \"nope\" does not exist",
    );
    assert_err(
        "CREATE SINK t FROM mv WITH (KAFKA_TOPIC = 'o')",
        "42P07",
        "relation \"t\" already exists",
    );
    assert!(matches!(plan_ok("SHOW SINKS"), Plan::ShowSinks));
    assert_eq!(
        plan_ok("SHOW SINKS").result_desc().unwrap().names[..2],
        ["name", "relation"]
    );
}

#[test]
fn create_source_from_postgres_parses_prints_back_and_plans() {
    let sql = "create source if not exists shop from postgres \
               for tables (public.customers, Orders as \"O2\") \
               with (CONNECTION = 'host=h dbname=''d''', publication = shop_pub)";
    let Statement::CreatePgSource(create) = one_statement(sql) else {
        panic!("not a CREATE SOURCE");
    };
    assert!(create.if_not_exists);
    assert_eq!(
        create.options,
        vec![
            ("CONNECTION".to_string(), "host=h dbname='d'".to_string()),
            ("publication".to_string(), "shop_pub".to_string()),
        ]
    );
    let tables = create.tables.clone().expect("FOR TABLES");
    assert_eq!(tables[0].schema.as_deref(), Some("public"));
    assert_eq!(
        (
            tables[1].schema.as_deref(),
            tables[1].name.as_str(),
            tables[1].alias.as_deref()
        ),
        (None, "orders", Some("O2"))
    );
    let text = create.to_string();
    assert_eq!(
        one_statement(&text),
        Statement::CreatePgSource(create),
        "{text}"
    );
    match plan_ok("CREATE SOURCE shop FROM POSTGRES WITH (CONNECTION = 'x', PUBLICATION = 'p') FOR ALL TABLES") {
        Plan::CreatePgSource { name, tables, .. } => {
            assert_eq!(name, "shop");
            assert_eq!(tables, None);
        }
        other => panic!("not CREATE SOURCE: {other:?}"),
    }
    // A source Eddy does not have is a feature it lacks, not a syntax error.
    assert_eq!(
        parse("CREATE SOURCE s FROM MYSQL WITH (CONNECTION = 'x')")
            .unwrap_err()
            .sqlstate,
        "0A000"
    );
    for bad in [
        "CREATE SOURCE s FROM POSTGRES",
        "CREATE SOURCE s FROM POSTGRES WITH (CONNECTION = 'x') FOR TABLES ()",
        "DROP SOURCE",
    ] {
        assert_eq!(parse(bad).unwrap_err().sqlstate, "42601", "{bad}");
    }
    let Statement::DropSource(drop) = one_statement("DROP SOURCE IF EXISTS a, b CASCADE") else {
        panic!("not DROP SOURCE");
    };
    assert_eq!(drop.to_string(), "DROP SOURCE IF EXISTS a, b CASCADE");
}

// ---------------------------------------------------------------------------------
// WITH RECURSIVE

/// The `Recursive` nodes of `expr`, as `(name, distinct, max_iterations)`.
fn recursions(expr: &MirRelationExpr) -> Vec<(String, bool, u64)> {
    let mut out = vec![];
    expr.visit(&mut |e| {
        if let MirRelationExpr::Recursive {
            name,
            distinct,
            max_iterations,
            ..
        } = e
        {
            out.push((name.clone(), *distinct, *max_iterations));
        }
    });
    out
}

#[test]
fn recursive_ctes_plan_as_loops() {
    let sql = "WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 4) \
               SELECT n FROM c";
    let s = select(sql);
    assert_eq!(
        recursions(&s.expr),
        [("c".to_string(), false, crate::MAX_RECURSION_DEFAULT)]
    );
    assert_eq!(
        query_set(sql, &join_data()),
        [vec![i(1)], vec![i(2)], vec![i(3)], vec![i(4)]]
    );
    // UNION is distinct every round: the loop over l's ids ends.
    let sql = "WITH RECURSIVE c (n) AS (SELECT 1 UNION SELECT l.id FROM c JOIN l ON l.id = c.n) \
               SELECT n FROM c";
    assert!(recursions(&select(sql).expr)[0].1);
    assert_eq!(query_set(sql, &join_data()), [vec![i(1)]]);
    // A CTE that does not read itself is an ordinary one.
    let s = select("WITH RECURSIVE c (n) AS (SELECT 1 UNION SELECT 2) SELECT n FROM c");
    assert!(recursions(&s.expr).is_empty());
}

#[test]
fn max_recursion_comes_from_the_session() {
    let sql = "WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT n FROM c";
    let mut ctx = ctx();
    ctx.vars = std::sync::Arc::new(BTreeMap::from([(
        "max_recursion".to_string(),
        "7".to_string(),
    )]));
    match try_plan_with(sql, &ctx).unwrap() {
        Plan::Select { expr, .. } => assert_eq!(recursions(&expr)[0].2, 7),
        other => panic!("not a select: {other:?}"),
    }
    ctx.vars = std::sync::Arc::new(BTreeMap::from([(
        "max_recursion".to_string(),
        "-1".to_string(),
    )]));
    let err = try_plan_with(sql, &ctx).unwrap_err();
    assert_eq!(err.sqlstate.code(), "22023");
    assert_err(
        "WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT a.n FROM c a, c b) SELECT n FROM c",
        "42P19",
        "recursive reference to query \"c\" must not appear more than once",
    );
}

#[test]
fn a_view_keeps_its_max_recursion_in_its_text() {
    let sql = "CREATE MATERIALIZED VIEW rec_v AS \
               WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3) \
               SELECT n FROM c";
    let mut session = ctx();
    session.vars = std::sync::Arc::new(BTreeMap::from([(
        "max_recursion".to_string(),
        "7".to_string(),
    )]));
    let Plan::CreateView {
        expr, create_sql, ..
    } = try_plan_with(sql, &session).unwrap()
    else {
        panic!("not a view");
    };
    assert_eq!(recursions(&expr)[0].2, 7);
    // Planned again with the default session (after a restart), it has the same limit.
    let Plan::CreateView { expr, .. } = plan_ok(&create_sql) else {
        panic!("not a view: {create_sql}");
    };
    assert_eq!(recursions(&expr)[0].2, 7, "{create_sql}");
    // Its own option wins over the session's; a view without recursion is unchanged.
    let own = sql.replace("AS WITH", "WITH (max_recursion = 3) AS WITH");
    let Plan::CreateView { expr, .. } = try_plan_with(&own, &session).unwrap() else {
        panic!("not a view");
    };
    assert_eq!(recursions(&expr)[0].2, 3);
    let Plan::CreateView { create_sql, .. } =
        plan_ok("CREATE MATERIALIZED VIEW rec_w AS SELECT 1 AS one")
    else {
        panic!("not a view");
    };
    assert_eq!(
        create_sql,
        "CREATE MATERIALIZED VIEW rec_w AS SELECT 1 AS one"
    );
    assert_err(
        "CREATE VIEW rec_w WITH (fillfactor = 3) AS SELECT 1",
        "0A000",
        "CREATE VIEW option fillfactor = 3 is not supported yet",
    );
}

/// The `Window` nodes of a plan, outermost first.
fn windows(expr: &MirRelationExpr) -> Vec<MirRelationExpr> {
    let mut found = vec![];
    expr.visit(&mut |e| {
        if matches!(e, MirRelationExpr::Window { .. }) {
            found.push(e.clone());
        }
    });
    found.reverse();
    found
}

#[test]
fn window_calls_with_one_window_share_a_node() {
    let s = select(
        "SELECT id, row_number() OVER w, rank() OVER w * 2, sum(lv) OVER (PARTITION BY id ORDER BY lv) \
         FROM l WINDOW w AS (PARTITION BY id ORDER BY lv)",
    );
    let found = windows(&s.expr);
    assert_eq!(found.len(), 1, "{:?}", s.expr);
    let MirRelationExpr::Window {
        partition_key,
        order_key,
        functions,
        ..
    } = &found[0]
    else {
        unreachable!()
    };
    assert_eq!(partition_key, &vec![0]);
    assert_eq!(order_key[0].column, 1);
    let names: Vec<String> = functions.iter().map(|f| f.func.name()).collect();
    assert_eq!(names, ["row_number", "rank", "sum"]);
    assert_eq!(
        scalar_types(&s.desc),
        [
            ScalarType::Int32,
            ScalarType::Int64,
            ScalarType::Int64,
            ScalarType::Int64
        ]
    );
}

#[test]
fn different_windows_stack_and_avg_is_sum_over_count() {
    let s = select("SELECT avg(lv) OVER (), lag(lv, 1, 0) OVER (ORDER BY id DESC) FROM l");
    assert_eq!(windows(&s.expr).len(), 2, "{:?}", s.expr);
    assert_eq!(scalar_types(&s.desc)[1], ScalarType::Int32);
}

#[test]
fn window_functions_where_they_are_not_allowed() {
    assert_err(
        "SELECT id FROM l WHERE row_number() OVER () > 1",
        "42P20",
        "window functions are not allowed in WHERE",
    );
    assert_err(
        "SELECT count(*) FROM l HAVING rank() OVER () > 1",
        "42P20",
        "window functions are not allowed in HAVING",
    );
    assert_err(
        "SELECT sum(rank() OVER ()) OVER () FROM l",
        "42P20",
        "window function calls cannot be nested",
    );
    assert_err(
        "SELECT row_number() OVER w FROM l",
        "42704",
        "window \"w\" does not exist",
    );
    assert_err(
        "SELECT sum(lv) OVER (GROUPS 1 PRECEDING) FROM l",
        "42P20",
        "GROUPS mode requires an ORDER BY clause",
    );
    assert_err(
        "SELECT sum(lv) OVER (ORDER BY lv, id RANGE 1 PRECEDING) FROM l",
        "42P20",
        "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column",
    );
    assert_err(
        "SELECT sum(lv) OVER (ORDER BY lv RANGE 1.5 PRECEDING) FROM l",
        "0A000",
        "RANGE with offset PRECEDING/FOLLOWING is not supported for column type integer and offset type numeric",
    );
    assert_err(
        "SELECT count(DISTINCT lv) OVER () FROM l",
        "0A000",
        "DISTINCT in window functions (Postgres does not implement it either) are not supported yet",
    );
    assert_err(
        "SELECT sum(lv) OVER (ROWS BETWEEN 1 FOLLOWING AND CURRENT ROW) FROM l",
        "42P20",
        "frame starting from following row cannot have preceding rows",
    );
    assert_err(
        "INSERT INTO l VALUES (row_number() OVER (), 1)",
        "42P20",
        "window functions are not allowed in VALUES",
    );
}

#[test]
fn row_number_filter_puts_a_topk_under_the_window() {
    let sql =
        "SELECT * FROM (SELECT id, lv, row_number() OVER (PARTITION BY id ORDER BY lv DESC) AS rn \
               FROM l) s WHERE rn <= 3";
    let optimized = eddy_expr::optimize::optimize(select(sql).expr);
    let MirRelationExpr::Window { input, .. } = &windows(&optimized)[0] else {
        unreachable!()
    };
    assert!(
        matches!(input.as_ref(), MirRelationExpr::TopK { limit: Some(3), .. }),
        "{optimized:?}"
    );
    // A function that may read following rows needs the whole partition: no TopK.
    for other in ["lead(lv)", "lag(lv, -1)", "sum(lv)", "ntile(2)"] {
        let sql = format!(
            "SELECT * FROM (SELECT id, row_number() OVER w AS rn, {other} OVER w \
             FROM l WINDOW w AS (ORDER BY lv)) s WHERE rn <= 3"
        );
        let optimized = eddy_expr::optimize::optimize(select(&sql).expr);
        let mut topk = false;
        optimized.visit(&mut |e| topk |= matches!(e, MirRelationExpr::TopK { .. }));
        assert!(!topk, "{other}: {optimized:?}");
    }
}

#[test]
fn volatile_functions_are_refused_where_rows_are_recomputed() {
    for (sql, place) in [
        (
            "CREATE MATERIALIZED VIEW volatile_v AS SELECT a, random() FROM t",
            "a view",
        ),
        (
            "SUBSCRIBE TO (SELECT gen_random_uuid() FROM t)",
            "a subscription",
        ),
    ] {
        let err = try_plan(sql).unwrap_err();
        assert_eq!(err.sqlstate.code(), "0A000", "{sql}");
        assert!(
            err.message.contains(&format!(
                "is volatile: {place} must give the same rows when it is recomputed"
            )),
            "{sql}: {}",
            err.message
        );
    }
    // Ad hoc, random() stays a call: it is not folded into one constant.
    let expr = select("SELECT random() FROM t").expr;
    assert!(format!("{expr:?}").contains("Random"));
}

#[test]
fn create_table_as_plans_a_plain_table_and_its_rows() {
    let Plan::CreateTableAs { table, rows } =
        plan_ok("CREATE TABLE n (x, \"Y\") AS SELECT a, c, d FROM t WHERE a > 1")
    else {
        panic!("not CREATE TABLE AS")
    };
    assert!(rows.is_some());
    let Plan::CreateTable {
        name,
        desc,
        create_sql,
        primary_key,
        ..
    } = *table
    else {
        panic!("not a CREATE TABLE")
    };
    assert_eq!(name, "n");
    assert_eq!(names(&desc), ["x", "Y", "d"]);
    // Every column nullable (a is NOT NULL in t), typmods kept.
    assert!(desc.types.iter().all(|t| t.nullable));
    assert!(primary_key.is_empty());
    assert_eq!(
        create_sql,
        "CREATE TABLE n (x integer, \"Y\" character varying(3), d date)"
    );
    // The logged text creates the same table.
    let Plan::CreateTable { desc: again, .. } = plan_ok(&create_sql) else {
        panic!("the logged text is not a CREATE TABLE")
    };
    assert_eq!(again, desc);

    let stmt = one_statement("create table e as select * from t with no data");
    assert_eq!(
        stmt.to_string(),
        "CREATE TABLE e AS SELECT * FROM t WITH NO DATA"
    );
    let Plan::CreateTableAs { rows: None, .. } = plan_ok(&stmt.to_string()) else {
        panic!("WITH NO DATA loads no rows")
    };
    // Typed columns with a query: Postgres' syntax error.
    assert_err(
        "CREATE TABLE e (a int) AS SELECT 1",
        "42601",
        "syntax error at or near \"AS\"",
    );
    assert_err(
        "CREATE TABLE e (a, b) AS SELECT 1",
        "42601",
        "too many column names were specified",
    );
    assert_err(
        "CREATE TABLE t AS SELECT 1",
        "42P07",
        "relation \"t\" already exists",
    );
}

#[test]
fn unique_constraints_are_named_as_postgres_names_them() {
    let Plan::CreateTable { unique, .. } = plan_ok(
        "CREATE TABLE w (id int PRIMARY KEY, a int UNIQUE, b text CONSTRAINT b_once UNIQUE, c int,
         UNIQUE (a, c), UNIQUE (id), UNIQUE (a), UNIQUE (c, a), CONSTRAINT other UNIQUE (b, c))",
    ) else {
        panic!("not CREATE TABLE")
    };
    let got: Vec<(&str, &[usize])> = unique
        .iter()
        .map(|u| (u.name.as_str(), u.columns.as_slice()))
        .collect();
    // UNIQUE (id) repeats the primary key and UNIQUE (a) the column's: dropped.
    assert_eq!(
        got,
        [
            ("w_a_key", &[1][..]),
            ("b_once", &[2][..]),
            ("w_a_c_key", &[1, 3][..]),
            ("w_c_a_key", &[3, 1][..]),
            ("other", &[2, 3][..]),
        ]
    );
}

#[test]
fn alter_table_plans_the_new_text() {
    let plan_alter = |sql: &str| match plan_ok(sql) {
        Plan::AlterTable(Some(alter)) => {
            let Plan::CreateTable {
                name,
                desc,
                create_sql,
                checks,
                ..
            } = *alter.table
            else {
                panic!("not a CREATE TABLE")
            };
            let checks: Vec<String> = checks.into_iter().map(|c| c.name).collect();
            (name, desc, create_sql, checks, alter.change)
        }
        other => panic!("{sql}: not ALTER TABLE: {other:?}"),
    };
    // The CHECK names Postgres gave are written out before the name changes.
    let (name, desc, create_sql, checks, change) = plan_alter("ALTER TABLE t RENAME TO n");
    assert_eq!(name, "n");
    assert_eq!(names(&desc), ["a", "b", "c", "d"]);
    assert_eq!(checks, ["t_a_check", "t_check"]);
    assert_eq!(
        create_sql,
        "CREATE TABLE \"n\" (a INT NOT NULL CONSTRAINT \"t_a_check\" CHECK (a > 0), b TEXT, c VARCHAR(3), d DATE, CONSTRAINT \"t_check\" CHECK (b <> c))"
    );
    assert_eq!(change, TableChange::RenameTable);
    // A renamed column is renamed in the constraints.
    let (_, desc, create_sql, _, _) = plan_alter("ALTER TABLE t RENAME COLUMN b TO bee");
    assert_eq!(names(&desc), ["a", "bee", "c", "d"]);
    assert!(create_sql.contains("CHECK (\"bee\" <> c)"), "{create_sql}");
    // A dropped column takes the constraints that read it.
    let (_, desc, create_sql, checks, change) = plan_alter("ALTER TABLE t DROP COLUMN c");
    assert_eq!(names(&desc), ["a", "b", "d"]);
    assert_eq!(checks, ["t_a_check"]);
    assert!(!create_sql.contains("t_check"), "{create_sql}");
    assert_eq!(
        change,
        TableChange::DropColumn {
            column: 2,
            cascade: false
        }
    );
    // An added column's default fills the rows.
    let (_, desc, _, _, change) = plan_alter("ALTER TABLE t ADD COLUMN e int DEFAULT 7 NOT NULL");
    assert_eq!(names(&desc), ["a", "b", "c", "d", "e"]);
    assert!(!desc.types[4].nullable);
    let TableChange::AddColumn { fill } = change else {
        panic!("not ADD COLUMN")
    };
    assert_eq!(eval(&fill, &[]), Datum::Int32(7));

    assert!(matches!(
        plan_ok("ALTER TABLE IF EXISTS nope RENAME TO x"),
        Plan::AlterTable(None)
    ));
    assert_err(
        "ALTER TABLE src ADD COLUMN x int",
        "42809",
        "cannot alter \"src\": it is read from a source",
    );
    assert_err(
        "ALTER TABLE mv RENAME TO x",
        "42809",
        "\"mv\" is not a table",
    );
    assert_err(
        "ALTER TABLE t RENAME TO u",
        "42P07",
        "relation \"u\" already exists",
    );
    assert_err(
        "ALTER TABLE t ADD COLUMN e int UNIQUE",
        "0A000",
        "ADD COLUMN with a key is not supported yet",
    );
    assert_err(
        "ALTER TABLE t ADD COLUMN e int, DROP COLUMN b",
        "0A000",
        "several ALTER TABLE actions in one statement are not supported yet",
    );
}

// ---------------------------------------------------------------------------------
// The session's time zone

fn berlin_ctx() -> PlanContext {
    PlanContext {
        zone: eddy_repr::zone::TimeZone::from_name("Europe/Berlin").unwrap(),
        ..ctx()
    }
}

/// The EXPLAIN text of `sql`'s plan in context `ctx`.
fn explained(sql: &str, ctx: &PlanContext) -> String {
    match try_plan_with(sql, ctx).unwrap_or_else(|e| panic!("plan {sql}: {e:?}")) {
        Plan::Select { expr, .. } => eddy_expr::explain::explain(&expr, false),
        Plan::CreateView { expr, .. } => eddy_expr::explain::explain(&expr, true),
        other => panic!("{other:?}"),
    }
}

#[test]
fn zone_dependent_operations_are_planned_in_the_session_zone() {
    let sql = "SELECT tz::date, tz::text, extract(hour FROM tz), extract(timezone FROM tz), \
               date_trunc('day', tz), \
               tz + INTERVAL '1 day', tz + INTERVAL '1 hour', tz > '2024-03-31 02:30' FROM u";
    let berlin = explained(sql, &berlin_ctx());
    for step in [
        "(#5 AT TIME ZONE 'Europe/Berlin')::date",
        "timestamptz_out(#5, 'Europe/Berlin')",
        "extract(hour from (#5 AT TIME ZONE 'Europe/Berlin'))",
        "extract(timezone from #5 in time zone 'Europe/Berlin')",
        "(date_trunc('day', (#5 AT TIME ZONE 'Europe/Berlin')) AT TIME ZONE 'Europe/Berlin')",
        "date_add(#5, interval(0 months 1 days 0 us), 'Europe/Berlin')",
        // An interval without days or months moves the instant, as in UTC.
        "(#5 + interval(0 months 0 days 3600000000 us))",
        // The literal is read in the zone: 02:30 does not exist, 01:30 UTC does.
        "(#5 > 2024-03-31T01:30:00Z)",
    ] {
        assert!(berlin.contains(step), "{step} not in\n{berlin}");
    }
    // In UTC nothing changes.
    let utc = explained(sql, &ctx());
    assert!(!utc.contains("AT TIME ZONE"), "{utc}");
    assert!(utc.contains("(#5 > 2024-03-31T02:30:00Z)"), "{utc}");
}

#[test]
fn views_are_planned_in_utc_whatever_the_session_zone() {
    let sql =
        "CREATE MATERIALIZED VIEW v_zone AS SELECT tz::date AS d, tz + INTERVAL '1 day' AS n \
               FROM u WHERE tz > '2024-03-31 02:30'";
    assert_eq!(explained(sql, &berlin_ctx()), explained(sql, &ctx()));
    let utc = explained(sql, &ctx());
    assert!(!utc.contains("Europe/Berlin"), "{utc}");
}

#[test]
fn to_char_prints_the_session_zone() {
    let berlin = explained("SELECT to_char(tz, 'HH24 TZ OF') FROM u", &berlin_ctx());
    assert!(
        berlin.contains("to_char(#5, \"HH24 TZ OF\", 'Europe/Berlin')"),
        "{berlin}"
    );
}
