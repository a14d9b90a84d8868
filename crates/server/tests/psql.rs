//! The real `psql` client against Eddy: query output, errors, and the `\d` family of
//! meta-commands (which read `pg_catalog`).
//!
//! Every invocation is `psql -X -h 127.0.0.1 -p PORT -U eddy -d eddy -v ON_ERROR_STOP=1`
//! plus the test's options; `-X` skips any `~/.psqlrc`.

mod common;

use std::process::Output;

use eddy_testkit::Eddy;

struct Psql<'a> {
    eddy: &'a Eddy,
}

impl Psql<'_> {
    fn new(eddy: &Eddy) -> Psql<'_> {
        Psql { eddy }
    }

    /// Runs psql with `args` after the connection options.
    fn run(&self, args: &[&str]) -> Output {
        common::psql_command(self.eddy)
            .args(args)
            .output()
            .expect("running psql")
    }

    /// Runs psql and requires success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "psql {args:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("psql prints UTF-8")
    }

    /// The rows psql prints for a meta-command in unaligned, tuples-only mode, split on `|`.
    fn rows(&self, command: &str) -> Vec<Vec<String>> {
        self.ok(&["-A", "-t", "-c", command])
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| line.split('|').map(str::to_string).collect())
            .collect()
    }
}

async fn setup(eddy: &Eddy) {
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE orders (id bigint, amount numeric(10,2), status text, ts timestamp);
             CREATE TABLE customers (id bigint, name varchar(40));
             INSERT INTO orders VALUES (1, 10.50, 'open', '2024-01-02 03:04:05'), (2, NULL, 'paid', NULL);
             CREATE VIEW paid_orders AS SELECT id, amount FROM orders WHERE status = 'paid';
             CREATE MATERIALIZED VIEW order_totals AS SELECT status, count(*) AS n, sum(amount) AS total FROM orders GROUP BY status;",
        )
        .await
        .unwrap_or_else(|e| panic!("setup: {}", common::describe_error(&e)));
}

#[tokio::test]
async fn create_insert_select_output() {
    let eddy = common::start_eddy(1);
    let psql = Psql::new(&eddy);
    assert_eq!(
        psql.ok(&[
            "-c",
            "CREATE TABLE people (id integer, name text, score numeric(5,1))"
        ]),
        "CREATE TABLE\n"
    );
    assert_eq!(
        psql.ok(&[
            "-c",
            "INSERT INTO people VALUES (1, 'alice', 10.5), (2, 'bob', NULL), (30, NULL, -2)"
        ]),
        "INSERT 0 3\n"
    );
    // Aligned output: numbers right-aligned (psql decides from the column type OIDs).
    let out = psql.ok(&["-c", "SELECT id, name, score FROM people ORDER BY id"]);
    assert_eq!(
        out,
        " id | name  | score \n\
         ----+-------+-------\n\
         \x20 1 | alice |  10.5\n\
         \x20 2 | bob   |      \n\
         \x2030 |       |  -2.0\n\
         (3 rows)\n\n",
        "aligned output:\n{out}"
    );
    // A script file with several statements, in unaligned mode.
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("script.sql");
    std::fs::write(
        &script,
        "UPDATE people SET score = score + 1 WHERE id = 1;\n\
         DELETE FROM people WHERE name IS NULL;\n\
         SELECT name, score FROM people ORDER BY name;\n",
    )
    .expect("write script");
    let out = psql.ok(&["-A", "-f", script.to_str().expect("utf-8 path")]);
    assert_eq!(
        out,
        "UPDATE 1\nDELETE 1\nname|score\nalice|11.5\nbob|\n(2 rows)\n"
    );
    // TRUNCATE's tag, as Postgres prints it.
    assert_eq!(psql.ok(&["-c", "TRUNCATE people"]), "TRUNCATE TABLE\n");
    assert_eq!(
        psql.ok(&["-A", "-t", "-c", "SELECT count(*) FROM people"]),
        "0\n"
    );
}

#[tokio::test]
async fn errors_set_the_exit_code_and_show_the_sqlstate() {
    let eddy = common::start_eddy(1);
    let psql = Psql::new(&eddy);
    let out = psql.run(&["-c", "SELECT * FROM nope"]);
    assert_eq!(out.status.code(), Some(1), "a failed -c command exits 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERROR:  relation \"nope\" does not exist"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("fail.sql");
    std::fs::write(
        &script,
        "\\set VERBOSITY verbose\nSELECT 1 AS one;\nSELECT * FROM nope;\nSELECT 2 AS never;\n",
    )
    .expect("write script");
    let out = psql.run(&["-A", "-t", "-f", script.to_str().expect("utf-8 path")]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a script stopped by ON_ERROR_STOP exits 3"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stdout, "1\n",
        "statements before the error ran, those after did not"
    );
    assert!(
        stderr.contains("ERROR:  42P01: relation \"nope\" does not exist"),
        "{stderr}"
    );

    let out = psql.run(&["-c", "\\set VERBOSITY verbose", "-c", "SELECT 1 / 0"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERROR:  22012: division by zero"),
        "{stderr}"
    );

    let out = psql.run(&["-c", "\\set VERBOSITY verbose", "-c", "SELEC 1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ERROR:  42601:"), "{stderr}");
}

/// Finds the row whose column `col` is `value`.
fn find<'a>(rows: &'a [Vec<String>], col: usize, value: &str) -> Option<&'a Vec<String>> {
    rows.iter()
        .find(|row| row.get(col).map(String::as_str) == Some(value))
}

#[tokio::test]
async fn describe_meta_commands() {
    let eddy = common::start_eddy(1);
    setup(&eddy).await;
    let psql = Psql::new(&eddy);

    // \dt: Schema | Name | Type | Owner
    let tables = psql.rows("\\dt");
    let orders =
        find(&tables, 1, "orders").unwrap_or_else(|| panic!("\\dt lists orders: {tables:?}"));
    assert_eq!(&orders[..3], ["public", "orders", "table"]);
    assert!(
        find(&tables, 1, "customers").is_some(),
        "\\dt lists customers: {tables:?}"
    );
    assert!(
        find(&tables, 1, "paid_orders").is_none(),
        "\\dt lists tables only: {tables:?}"
    );
    assert!(
        find(&tables, 1, "order_totals").is_none(),
        "\\dt lists tables only: {tables:?}"
    );

    let views = psql.rows("\\dv");
    let paid = find(&views, 1, "paid_orders")
        .unwrap_or_else(|| panic!("\\dv lists paid_orders: {views:?}"));
    assert_eq!(&paid[..3], ["public", "paid_orders", "view"]);
    assert_eq!(views.len(), 1, "\\dv lists views only: {views:?}");

    let matviews = psql.rows("\\dm");
    let totals = find(&matviews, 1, "order_totals")
        .unwrap_or_else(|| panic!("\\dm lists order_totals: {matviews:?}"));
    assert_eq!(
        &totals[..3],
        ["public", "order_totals", "materialized view"]
    );
    assert_eq!(
        matviews.len(),
        1,
        "\\dm lists materialized views only: {matviews:?}"
    );

    // \d with no argument lists every relation with its kind.
    let all = psql.rows("\\d");
    for (name, kind) in [
        ("orders", "table"),
        ("customers", "table"),
        ("paid_orders", "view"),
        ("order_totals", "materialized view"),
    ] {
        let row = find(&all, 1, name).unwrap_or_else(|| panic!("\\d lists {name}: {all:?}"));
        assert_eq!(row[2], kind, "{name}");
    }

    // \d orders: Column | Type | Collation | Nullable | Default
    let columns = psql.rows("\\d orders");
    let described: Vec<(&str, &str)> = columns
        .iter()
        .map(|row| (row[0].as_str(), row[1].as_str()))
        .collect();
    assert_eq!(
        described,
        [
            ("id", "bigint"),
            ("amount", "numeric(10,2)"),
            ("status", "text"),
            ("ts", "timestamp without time zone")
        ],
        "\\d orders: {columns:?}"
    );
    let columns = psql.rows("\\d customers");
    assert_eq!(
        columns[1][..2],
        ["name".to_string(), "character varying(40)".to_string()],
        "{columns:?}"
    );
    // A column's DEFAULT shows in \d's Default column (from pg_attrdef).
    psql.rows("CREATE TABLE tickets (id serial PRIMARY KEY, state text DEFAULT 'open')");
    let columns = psql.rows("\\d tickets");
    let defaults: Vec<(&str, &str)> = columns
        .iter()
        .map(|row| (row[0].as_str(), row[4].as_str()))
        .collect();
    assert_eq!(
        defaults,
        [("id", "nextval('tickets_id_seq')"), ("state", "'open'")],
        "\\d tickets: {columns:?}"
    );
    let columns = psql.rows("\\d order_totals");
    let described: Vec<(&str, &str)> = columns
        .iter()
        .map(|row| (row[0].as_str(), row[1].as_str()))
        .collect();
    assert_eq!(
        described,
        [("status", "text"), ("n", "bigint"), ("total", "numeric")],
        "\\d order_totals: {columns:?}"
    );
    // The aligned form carries the kind in its title.
    let out = psql.ok(&["-c", "\\d order_totals"]);
    assert!(
        out.contains("Materialized view \"public.order_totals\""),
        "{out}"
    );
    let out = psql.ok(&["-c", "\\d orders"]);
    assert!(out.contains("Table \"public.orders\""), "{out}");

    let out = psql.run(&["-c", "\\d nope"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Did not find any relation named \"nope\""),
        "{stderr}"
    );

    // \l: Name | Owner | Encoding | ...
    let databases = psql.rows("\\l");
    let eddy_db = find(&databases, 0, "eddy")
        .unwrap_or_else(|| panic!("\\l lists database eddy: {databases:?}"));
    assert_eq!(eddy_db[2], "UTF8", "{databases:?}");

    // \dn: Name | Owner
    let schemas = psql.rows("\\dn");
    assert!(
        find(&schemas, 0, "public").is_some(),
        "\\dn lists public: {schemas:?}"
    );
}
