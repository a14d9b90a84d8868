//! psql's `\d` family and drivers' introspection queries against Eddy's builtin
//! `pg_catalog` and `information_schema` relations.
//!
//! The real `psql` runs each meta-command (it sends Postgres 15's own catalog
//! queries, correlated subqueries included), and the expected output is what
//! Postgres 15 prints for the same objects. The rest reads the catalog over
//! tokio-postgres, as drivers do: type lookups by OID, `information_schema`, and
//! catalog functions in prepared statements. Every test starts its own server.

mod common;

use std::process::Output;

use eddy_testkit::{Eddy, EddyConfig};

fn start_eddy() -> Eddy {
    Eddy::start(EddyConfig::new(env!("CARGO_BIN_EXE_eddy")).workers(2))
        .unwrap_or_else(|e| panic!("starting eddy: {e:#}"))
}

/// Runs `psql -X -h 127.0.0.1 -p PORT -U eddy -d eddy -v ON_ERROR_STOP=1 ARGS...`.
fn psql(eddy: &Eddy, args: &[&str]) -> Output {
    common::psql_command(eddy)
        .args(args)
        .output()
        .expect("running psql")
}

/// psql's output for `command`, which must succeed.
fn psql_ok(eddy: &Eddy, args: &[&str]) -> String {
    let out = psql(eddy, args);
    assert!(
        out.status.success(),
        "psql {args:?} failed with {}\nstdout:\n{}\nstderr:\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        eddy.log_tail(20)
    );
    String::from_utf8(out.stdout).expect("psql prints UTF-8")
}

/// The aligned output of a meta-command, as a user sees it.
fn describe(eddy: &Eddy, command: &str) -> String {
    psql_ok(eddy, &["-c", command])
}

async fn setup(eddy: &Eddy) {
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE orders (id bigint NOT NULL, amount numeric(10,2), status text, ts timestamp);
             CREATE TABLE customers (id bigint, name varchar(40));
             INSERT INTO orders VALUES (1, 10.50, 'open', '2024-01-02 03:04:05'), (2, NULL, 'paid', NULL);
             CREATE VIEW paid_orders AS SELECT id, amount FROM orders WHERE status = 'paid';
             CREATE MATERIALIZED VIEW order_totals AS
                 SELECT status, count(*) AS n, sum(amount) AS total FROM orders GROUP BY status;",
        )
        .await
        .unwrap_or_else(|e| panic!("setup: {e}"));
}

#[tokio::test]
async fn list_commands_print_what_postgres_prints() {
    let eddy = start_eddy();
    setup(&eddy).await;

    assert_eq!(
        describe(&eddy, "\\dt"),
        "         List of relations
 Schema |   Name    | Type  | Owner 
--------+-----------+-------+-------
 public | customers | table | eddy
 public | orders    | table | eddy
(2 rows)

"
    );
    assert_eq!(
        describe(&eddy, "\\dv"),
        "          List of relations
 Schema |    Name     | Type | Owner 
--------+-------------+------+-------
 public | paid_orders | view | eddy
(1 row)

"
    );
    assert_eq!(
        describe(&eddy, "\\dm"),
        "                 List of relations
 Schema |     Name     |       Type        | Owner 
--------+--------------+-------------------+-------
 public | order_totals | materialized view | eddy
(1 row)

"
    );
    assert_eq!(
        describe(&eddy, "\\d"),
        "                 List of relations
 Schema |     Name     |       Type        | Owner 
--------+--------------+-------------------+-------
 public | customers    | table             | eddy
 public | order_totals | materialized view | eddy
 public | orders       | table             | eddy
 public | paid_orders  | view              | eddy
(4 rows)

"
    );
    assert_eq!(
        describe(&eddy, "\\dn"),
        "List of schemas
  Name  | Owner 
--------+-------
 public | eddy
(1 row)

"
    );
    let databases = describe(&eddy, "\\l");
    assert!(
        databases.contains(
            " eddy | eddy  | UTF8     | C       | C     |            | libc            | "
        ),
        "{databases}"
    );

    // A dropped relation leaves the catalog; a new one joins it.
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute("DROP TABLE customers; CREATE TABLE \"Mixed Case\" (x int)")
        .await
        .expect("ddl");
    let tables = psql_ok(&eddy, &["-A", "-t", "-c", "\\dt"]);
    assert_eq!(
        tables,
        "public|Mixed Case|table|eddy\npublic|orders|table|eddy\n"
    );
}

#[tokio::test]
async fn describe_relation_prints_columns_types_and_nullability() {
    let eddy = start_eddy();
    setup(&eddy).await;

    assert_eq!(
        describe(&eddy, "\\d orders"),
        "                         Table \"public.orders\"
 Column |            Type             | Collation | Nullable | Default 
--------+-----------------------------+-----------+----------+---------
 id     | bigint                      |           | not null | 
 amount | numeric(10,2)               |           |          | 
 status | text                        |           |          | 
 ts     | timestamp without time zone |           |          | 

"
    );
    assert_eq!(
        describe(&eddy, "\\d order_totals"),
        "      Materialized view \"public.order_totals\"
 Column |  Type   | Collation | Nullable | Default 
--------+---------+-----------+----------+---------
 status | text    |           |          | 
 n      | bigint  |           |          | 
 total  | numeric |           |          | 

"
    );
    assert_eq!(
        describe(&eddy, "\\d paid_orders"),
        "                View \"public.paid_orders\"
 Column |     Type      | Collation | Nullable | Default 
--------+---------------+-----------+----------+---------
 id     | bigint        |           |          | 
 amount | numeric(10,2) |           |          | 

"
    );
    let customers = describe(&eddy, "\\d customers");
    assert!(
        customers.contains(" name   | character varying(40) |           |          | "),
        "{customers}"
    );
    // System catalogs describe themselves.
    let class = describe(&eddy, "\\d pg_catalog.pg_class");
    assert!(class.contains("Table \"pg_catalog.pg_class\""), "{class}");
    assert!(
        class.contains(" relkind             | \"char\"   |           | not null | "),
        "{class}"
    );

    let out = psql(&eddy, &["-c", "\\d nope"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Did not find any relation named \"nope\"."),
        "{stderr}"
    );
}

#[tokio::test]
async fn drivers_read_the_catalog() {
    let eddy = start_eddy();
    setup(&eddy).await;
    let client = eddy.connect().await.expect("connect");

    // tokio-postgres' type lookup, for a type it does not know, by OID.
    let rows = client
        .query(
            "SELECT t.typname, t.typtype, t.typelem, r.rngsubtype, t.typbasetype, n.nspname, \
             t.typrelid FROM pg_catalog.pg_type t LEFT OUTER JOIN pg_catalog.pg_range r \
             ON r.rngtypid = t.oid INNER JOIN pg_catalog.pg_namespace n \
             ON t.typnamespace = n.oid WHERE t.oid = $1",
            &[&1009u32],
        )
        .await
        .expect("type lookup");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "_text");
    assert_eq!(rows[0].get::<_, i8>(1), b'b' as i8);
    assert_eq!(rows[0].get::<_, u32>(2), 25);
    assert_eq!(rows[0].get::<_, String>(5), "pg_catalog");

    // Columns of a table, as pg_attribute and information_schema list them.
    let rows = client
        .query(
            "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull \
             FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'orders'::regclass \
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[],
        )
        .await
        .expect("pg_attribute");
    let columns: Vec<(String, String, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        columns,
        [
            ("id".into(), "bigint".into(), true),
            ("amount".into(), "numeric(10,2)".into(), false),
            ("status".into(), "text".into(), false),
            ("ts".into(), "timestamp without time zone".into(), false),
        ]
    );
    let rows = client
        .query(
            "SELECT column_name, data_type, is_nullable, numeric_precision, numeric_scale \
             FROM information_schema.columns WHERE table_schema = 'public' \
             AND table_name = 'orders' ORDER BY ordinal_position",
            &[],
        )
        .await
        .expect("information_schema.columns");
    let amount = &rows[1];
    assert_eq!(amount.get::<_, String>(0), "amount");
    assert_eq!(amount.get::<_, String>(1), "numeric");
    assert_eq!(amount.get::<_, String>(2), "YES");
    assert_eq!(amount.get::<_, Option<i32>>(3), Some(10));
    assert_eq!(amount.get::<_, Option<i32>>(4), Some(2));
    let rows = client
        .query(
            "SELECT table_name, table_type FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name",
            &[],
        )
        .await
        .expect("information_schema.tables");
    let tables: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        tables,
        [
            ("customers".into(), "BASE TABLE".into()),
            ("orders".into(), "BASE TABLE".into()),
            ("paid_orders".into(), "VIEW".into()),
        ],
        "materialized views are not in information_schema.tables, as in Postgres"
    );

    // Views' definitions, and materialized views by kind (SQLAlchemy's queries).
    let rows = client
        .query(
            "SELECT c.relname, pg_catalog.pg_get_viewdef(c.oid) FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = ANY (ARRAY['v', 'm']) AND pg_catalog.pg_table_is_visible(c.oid) \
             AND n.nspname != 'pg_catalog' ORDER BY 1",
            &[],
        )
        .await
        .expect("pg_get_viewdef");
    let views: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(views[0].0, "order_totals");
    assert!(views[0].1.contains("GROUP BY status"), "{views:?}");
    assert_eq!(
        views[1],
        (
            "paid_orders".into(),
            " SELECT id, amount FROM orders WHERE status = 'paid';".into()
        )
    );

    // Session settings, and the catalog functions drivers call at start-up.
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_schema(), \
             pg_catalog.pg_get_userbyid(10), pg_catalog.pg_encoding_to_char(6), \
             'pg_catalog.pg_class'::regclass::oid, pg_catalog.to_regclass('nope') IS NULL",
            &[],
        )
        .await
        .expect("functions");
    assert_eq!(row.get::<_, String>(0), "15.0");
    assert_eq!(row.get::<_, String>(1), "public");
    assert_eq!(row.get::<_, String>(2), "eddy");
    assert_eq!(row.get::<_, String>(3), "UTF8");
    assert_eq!(row.get::<_, u32>(4), 1259);
    assert!(row.get::<_, bool>(5));

    // Builtin relations are read-only and are not user tables.
    let err = client
        .execute("INSERT INTO pg_catalog.pg_class (oid) VALUES (1)", &[])
        .await
        .expect_err("pg_class is read-only");
    assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{err}");
    let rows = client.query("SHOW TABLES", &[]).await.expect("show tables");
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, ["customers", "orders"]);
}

#[tokio::test]
async fn catalog_is_rebuilt_after_restart() {
    let mut eddy = start_eddy();
    setup(&eddy).await;
    eddy.restart().expect("restart");
    let tables = psql_ok(&eddy, &["-A", "-t", "-c", "\\d"]);
    assert_eq!(
        tables,
        "public|customers|table|eddy\n\
         public|order_totals|materialized view|eddy\n\
         public|orders|table|eddy\n\
         public|paid_orders|view|eddy\n"
    );
    // A materialized view over a catalog relation is maintained like any other.
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE MATERIALIZED VIEW relation_count AS \
             SELECT count(*) AS n FROM pg_catalog.pg_class WHERE relnamespace = 2200",
        )
        .await
        .expect("view over pg_class");
    let count = |client: tokio_postgres::Client| async move {
        client
            .query_one("SELECT n FROM relation_count", &[])
            .await
            .expect("read view")
            .get::<_, i64>(0)
    };
    assert_eq!(count(eddy.connect().await.expect("connect")).await, 5);
    client
        .batch_execute("CREATE TABLE another (x int)")
        .await
        .expect("create");
    assert_eq!(count(client).await, 6);
}
