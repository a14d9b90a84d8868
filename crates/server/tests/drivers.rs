//! A driver on the extended query protocol: tokio-postgres prepares statements (Parse /
//! Describe), binds typed parameters, and reads results in binary format, decoded into
//! Rust types. Errors carry their SQLSTATE.

mod common;

use std::error::Error;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::Client;

/// Postgres `interval` in binary: microseconds, days, months.
#[derive(Debug, PartialEq, Eq)]
struct Interval {
    months: i32,
    days: i32,
    micros: i64,
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Interval, Box<dyn Error + Sync + Send>> {
        if raw.len() != 16 {
            return Err(format!("interval must be 16 bytes, got {}", raw.len()).into());
        }
        let micros = i64::from_be_bytes(raw[0..8].try_into()?);
        let days = i32::from_be_bytes(raw[8..12].try_into()?);
        let months = i32::from_be_bytes(raw[12..16].try_into()?);
        Ok(Interval {
            months,
            days,
            micros,
        })
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

fn ts(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").expect("timestamp literal")
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal literal")
}

async fn connect() -> (eddy_testkit::Eddy, Client) {
    let eddy = common::start_eddy(1);
    let client = eddy.connect().await.unwrap_or_else(|e| panic!("{e:#}"));
    (eddy, client)
}

#[tokio::test]
async fn prepared_statements_with_parameters() {
    let (_eddy, client) = connect().await;
    client
        .batch_execute(
            "CREATE TABLE orders (id bigint, customer text, amount numeric(10,2), ts timestamp)",
        )
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));

    let insert = client
        .prepare("INSERT INTO orders VALUES ($1, $2, $3, $4)")
        .await
        .expect("prepare insert");
    assert_eq!(
        insert.params(),
        &[Type::INT8, Type::TEXT, Type::NUMERIC, Type::TIMESTAMP],
        "inferred parameter types"
    );
    assert!(insert.columns().is_empty());
    let rows = [
        (
            1i64,
            Some("ann"),
            Some(dec("10.50")),
            Some(ts("2024-01-02 03:04:05")),
        ),
        (
            2,
            Some("bob"),
            Some(dec("99999999.99")),
            Some(ts("2024-02-03 04:05:06.5")),
        ),
        (3, None, None, None),
        (
            4,
            Some("it's \"quoted\""),
            Some(dec("-0.01")),
            Some(ts("1999-12-31 23:59:59")),
        ),
    ];
    for (id, customer, amount, at) in &rows {
        let n = client
            .execute(&insert, &[id, customer, amount, at])
            .await
            .expect("execute insert");
        assert_eq!(n, 1);
    }

    let by_id = client
        .prepare("SELECT id, customer, amount, ts FROM orders WHERE id = $1")
        .await
        .expect("prepare");
    assert_eq!(by_id.params(), &[Type::INT8]);
    let types: Vec<Type> = by_id.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(
        types,
        [Type::INT8, Type::TEXT, Type::NUMERIC, Type::TIMESTAMP]
    );
    let names: Vec<&str> = by_id.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["id", "customer", "amount", "ts"]);
    for (id, customer, amount, at) in &rows {
        let row = client.query_one(&by_id, &[id]).await.expect("query by id");
        assert_eq!(row.get::<_, i64>(0), *id);
        assert_eq!(row.get::<_, Option<&str>>(1), *customer);
        assert_eq!(row.get::<_, Option<Decimal>>(2), *amount);
        assert_eq!(row.get::<_, Option<NaiveDateTime>>(3), *at);
    }

    // Parameters of each kind in one predicate; the same statement runs repeatedly.
    let filtered = client
        .prepare(
            "SELECT id FROM orders WHERE customer <> $1 AND amount >= $2 AND ts < $3 ORDER BY id",
        )
        .await
        .expect("prepare filter");
    assert_eq!(
        filtered.params(),
        &[Type::TEXT, Type::NUMERIC, Type::TIMESTAMP]
    );
    for _ in 0..3 {
        let ids: Vec<i64> = client
            .query(&filtered, &[&"bob", &dec("-1"), &ts("2025-01-01 00:00:00")])
            .await
            .expect("query filter")
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(ids, [1, 4]);
    }

    // A NULL parameter compares as unknown.
    let n = client
        .query(
            "SELECT id FROM orders WHERE amount = $1",
            &[&None::<Decimal>],
        )
        .await
        .expect("query with NULL")
        .len();
    assert_eq!(n, 0);

    // Explicitly typed parameters, unnamed statements, and parameters in UPDATE / DELETE.
    let stmt = client
        .prepare_typed("SELECT $1 + 1", &[Type::INT8])
        .await
        .expect("prepare_typed");
    assert_eq!(
        client
            .query_one(&stmt, &[&41i64])
            .await
            .expect("query")
            .get::<_, i64>(0),
        42
    );
    let n = client
        .execute(
            "UPDATE orders SET amount = amount + $1 WHERE id = $2",
            &[&dec("0.50"), &1i64],
        )
        .await;
    assert_eq!(n.expect("update"), 1);
    let amount: Decimal = client
        .query_one("SELECT amount FROM orders WHERE id = 1", &[])
        .await
        .expect("q")
        .get(0);
    assert_eq!(amount, dec("11.00"));
    let n = client
        .execute(
            "DELETE FROM orders WHERE customer IS NULL OR id = $1",
            &[&2i64],
        )
        .await
        .expect("delete");
    assert_eq!(n, 2);
}

#[tokio::test]
async fn binary_results_of_every_type() {
    let (_eddy, client) = connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (b boolean, s smallint, i integer, l bigint, r real, d double precision, \
             n numeric(8,3), t text, v varchar(10), ts timestamp, tz timestamptz, dt date, iv interval, j jsonb);
             INSERT INTO t VALUES (true, -2, 2147483647, -9223372036854775808, 1.5, 2.25, 12345.678, 'text', 'var', \
             '2020-05-06 07:08:09.123456', '2020-05-06 07:08:09+02', '2020-05-06', '1 year 2 mons 3 days 04:05:06.5', \
             '{\"k\": [1, \"x\", null], \"a\": true}');
             INSERT INTO t VALUES (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);",
        )
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));

    let stmt = client
        .prepare("SELECT * FROM t ORDER BY b")
        .await
        .expect("prepare");
    let types: Vec<Type> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(
        types,
        [
            Type::BOOL,
            Type::INT2,
            Type::INT4,
            Type::INT8,
            Type::FLOAT4,
            Type::FLOAT8,
            Type::NUMERIC,
            Type::TEXT,
            Type::VARCHAR,
            Type::TIMESTAMP,
            Type::TIMESTAMPTZ,
            Type::DATE,
            Type::INTERVAL,
            Type::JSONB
        ]
    );
    let rows = client.query(&stmt, &[]).await.expect("query");
    assert_eq!(rows.len(), 2);
    let row = &rows[0];
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, i16>(1), -2);
    assert_eq!(row.get::<_, i32>(2), i32::MAX);
    assert_eq!(row.get::<_, i64>(3), i64::MIN);
    assert_eq!(row.get::<_, f32>(4), 1.5);
    assert_eq!(row.get::<_, f64>(5), 2.25);
    assert_eq!(row.get::<_, Decimal>(6), dec("12345.678"));
    assert_eq!(row.get::<_, String>(7), "text");
    assert_eq!(row.get::<_, &str>(8), "var");
    assert_eq!(
        row.get::<_, NaiveDateTime>(9),
        ts("2020-05-06 07:08:09.123456")
    );
    let tz: DateTime<Utc> = row.get(10);
    assert_eq!(tz.naive_utc(), ts("2020-05-06 05:08:09"));
    assert_eq!(
        row.get::<_, NaiveDate>(11),
        NaiveDate::from_ymd_opt(2020, 5, 6).expect("date")
    );
    assert_eq!(
        row.get::<_, Interval>(12),
        Interval {
            months: 14,
            days: 3,
            micros: (4 * 3600 + 5 * 60 + 6) * 1_000_000 + 500_000
        }
    );
    assert_eq!(
        row.get::<_, serde_json::Value>(13),
        serde_json::json!({"a": true, "k": [1, "x", null]})
    );

    let nulls = &rows[1];
    for i in 0..nulls.len() {
        let raw: Option<&[u8]> = nulls.get::<_, Option<RawValue>>(i).map(|v| v.0);
        assert!(raw.is_none(), "column {i} is NULL");
    }

    // Computed columns have the types Postgres gives them.
    let row = client
        .query_one(
            "SELECT count(*), sum(i), sum(n), avg(l), max(r) FROM t",
            &[],
        )
        .await
        .expect("aggregates");
    let types: Vec<Type> = row.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(
        types,
        [
            Type::INT8,
            Type::INT8,
            Type::NUMERIC,
            Type::NUMERIC,
            Type::FLOAT4
        ]
    );
    assert_eq!(row.get::<_, i64>(0), 2);
    assert_eq!(row.get::<_, i64>(1), i64::from(i32::MAX));
    assert_eq!(row.get::<_, Decimal>(2), dec("12345.678"));
    assert_eq!(row.get::<_, Decimal>(3), Decimal::from(i64::MIN));
    assert_eq!(row.get::<_, f32>(4), 1.5);
    let row = client
        .query_one(
            "SELECT r * r, 'x' || t, ts IS NOT NULL, d / 2 FROM t WHERE b",
            &[],
        )
        .await
        .expect("expressions");
    let types: Vec<Type> = row.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(types, [Type::FLOAT4, Type::TEXT, Type::BOOL, Type::FLOAT8]);
    assert_eq!(row.get::<_, f32>(0), 2.25);
    assert_eq!(row.get::<_, &str>(1), "xtext");
    assert!(row.get::<_, bool>(2));
    assert_eq!(row.get::<_, f64>(3), 1.125);
}

/// Any value, undecoded (to check NULLs of every type).
struct RawValue<'a>(&'a [u8]);

impl<'a> FromSql<'a> for RawValue<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<RawValue<'a>, Box<dyn Error + Sync + Send>> {
        Ok(RawValue(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[tokio::test]
async fn errors_carry_their_sqlstate() {
    let (_eddy, client) = connect().await;
    client
        .batch_execute("CREATE TABLE t (a integer, s text)")
        .await
        .expect("create");

    let err = client
        .prepare("SELECT * FROM nope")
        .await
        .expect_err("unknown table");
    assert_eq!(
        err.code(),
        Some(&SqlState::UNDEFINED_TABLE),
        "{}",
        common::describe_error(&err)
    );
    let db = err.as_db_error().expect("a server error");
    assert_eq!(db.severity(), "ERROR");
    assert_eq!(db.message(), "relation \"nope\" does not exist");

    let err = client.prepare("SELEC 1").await.expect_err("syntax error");
    assert_eq!(
        err.code(),
        Some(&SqlState::SYNTAX_ERROR),
        "{}",
        common::describe_error(&err)
    );

    let err = client
        .prepare("SELECT nope FROM t")
        .await
        .expect_err("unknown column");
    assert_eq!(
        err.code(),
        Some(&SqlState::UNDEFINED_COLUMN),
        "{}",
        common::describe_error(&err)
    );

    let err = client
        .prepare("SELECT a + s FROM t")
        .await
        .expect_err("no operator");
    assert_eq!(
        err.code(),
        Some(&SqlState::UNDEFINED_FUNCTION),
        "{}",
        common::describe_error(&err)
    );

    // An execution-time error, from a prepared statement with a parameter.
    let stmt = client
        .prepare("SELECT 10 / $1::integer")
        .await
        .expect("prepare division");
    assert_eq!(
        client
            .query_one(&stmt, &[&5i32])
            .await
            .expect("10 / 5")
            .get::<_, i32>(0),
        2
    );
    let err = client
        .query_one(&stmt, &[&0i32])
        .await
        .expect_err("division by zero");
    assert_eq!(
        err.code(),
        Some(&SqlState::DIVISION_BY_ZERO),
        "{}",
        common::describe_error(&err)
    );

    let err = client
        .execute("INSERT INTO t (a) VALUES ($1)", &[&"abc"])
        .await
        .expect_err("text into integer");
    // tokio-postgres refuses to encode a &str as int4 before anything reaches the server.
    assert!(err.code().is_none(), "{err}");
    let err = client
        .batch_execute("INSERT INTO t (a) VALUES ('abc')")
        .await
        .expect_err("bad integer literal");
    assert_eq!(
        err.code(),
        Some(&SqlState::INVALID_TEXT_REPRESENTATION),
        "{}",
        common::describe_error(&err)
    );

    // The connection is still usable after the errors.
    let row = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .expect("count");
    assert_eq!(row.get::<_, i64>(0), 0);
}

#[tokio::test]
async fn transactions_through_the_driver() {
    let (_eddy, mut client) = connect().await;
    client
        .batch_execute(
            "CREATE TABLE accounts (id bigint, balance numeric(10,2));
             CREATE MATERIALIZED VIEW total AS SELECT sum(balance) AS total, count(*) AS n FROM accounts;",
        )
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));

    let tx = client.transaction().await.expect("begin");
    let insert = tx
        .prepare("INSERT INTO accounts VALUES ($1, $2)")
        .await
        .expect("prepare in transaction");
    for id in 1..=10i64 {
        tx.execute(&insert, &[&id, &Decimal::new(id * 100, 2)])
            .await
            .expect("insert");
    }
    tx.commit().await.expect("commit");
    let row = client
        .query_one("SELECT total, n FROM total", &[])
        .await
        .expect("read the view");
    assert_eq!(row.get::<_, Decimal>(0), dec("55.00"));
    assert_eq!(row.get::<_, i64>(1), 10);

    let tx = client.transaction().await.expect("begin");
    tx.execute("DELETE FROM accounts", &[])
        .await
        .expect("delete");
    tx.rollback().await.expect("rollback");
    let row = client
        .query_one("SELECT n FROM total", &[])
        .await
        .expect("read the view");
    assert_eq!(row.get::<_, i64>(0), 10);
}

/// Upserts as an application writes them: a prepared `INSERT ... ON CONFLICT ... DO
/// UPDATE ... RETURNING` with parameters, described (its rows' types known before it
/// runs) and executed many times; `execute` counts from the tag.
#[tokio::test]
async fn prepared_upserts_with_returning() {
    let (_eddy, client) = connect().await;
    client
        .batch_execute("CREATE TABLE counters (name text PRIMARY KEY, hits bigint NOT NULL)")
        .await
        .unwrap();
    let upsert = client
        .prepare(
            "INSERT INTO counters VALUES ($1, 1) \
             ON CONFLICT (name) DO UPDATE SET hits = counters.hits + 1 \
             RETURNING name, hits",
        )
        .await
        .unwrap();
    assert_eq!(
        upsert
            .columns()
            .iter()
            .map(|c| (c.name(), c.type_().clone()))
            .collect::<Vec<_>>(),
        [("name", Type::TEXT), ("hits", Type::INT8)]
    );
    let mut last = Vec::new();
    for name in ["a", "b", "a", "a"] {
        let rows = client.query(&upsert, &[&name]).await.unwrap();
        last = rows
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
            .collect();
    }
    assert_eq!(last, [("a".to_string(), 3)]);
    // Without RETURNING the count comes from the tag: DO NOTHING skips the existing row.
    let n = client
        .execute(
            "INSERT INTO counters VALUES ($1, 1), ($2, 1) ON CONFLICT DO NOTHING",
            &[&"a", &"c"],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let deleted = client
        .query(
            "DELETE FROM counters WHERE hits > $1 RETURNING name",
            &[&1i64],
        )
        .await
        .unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].get::<_, String>(0), "a");
    let n = client
        .execute("UPDATE counters SET hits = 0 RETURNING name", &[])
        .await
        .unwrap();
    assert_eq!(n, 2);
}

/// `ALTER TABLE` and transaction blocks: rows a block wrote and has not committed are
/// reshaped with the table when the block's own session alters it; another session's
/// block that wrote rows of the old shape cannot commit them (40001).
#[tokio::test]
async fn alter_table_and_open_blocks() {
    let (eddy, client) = connect().await;
    let other = eddy.connect().await.expect("connect");
    client
        .batch_execute("CREATE TABLE t (a int, b text); INSERT INTO t VALUES (1, 'x')")
        .await
        .expect("setup");
    // Its own block: the pending row gets the new column.
    client
        .batch_execute(
            "BEGIN; INSERT INTO t VALUES (2, 'y'); ALTER TABLE t ADD COLUMN c int DEFAULT 7; COMMIT",
        )
        .await
        .expect("own block");
    let rows: Vec<(i32, i32)> = client
        .query("SELECT a, c FROM t ORDER BY a", &[])
        .await
        .expect("read")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows, [(1, 7), (2, 7)]);
    // Another session's block wrote rows of the old shape.
    other
        .batch_execute("BEGIN; INSERT INTO t VALUES (3, 'z', 0)")
        .await
        .expect("other block");
    client
        .batch_execute("ALTER TABLE t DROP COLUMN b")
        .await
        .expect("drop column");
    let err = other
        .batch_execute("COMMIT")
        .await
        .expect_err("rows of the old shape");
    assert_eq!(
        err.code(),
        Some(&SqlState::T_R_SERIALIZATION_FAILURE),
        "{err:?}"
    );
    let n: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 2);
}
