//! Python clients against a real `eddy serve`: psycopg2 (parameters, types, errors)
//! and SQLAlchemy's inspector (the table, view and column introspection calls).
//! `scripts/test.sh` installs both with pip when they are missing.

mod common;

use std::process::Command;

const SCRIPT: &str = r#"
import sys
from decimal import Decimal
import psycopg2
import sqlalchemy
from sqlalchemy import inspect

port = int(sys.argv[1])
conn = psycopg2.connect(host="127.0.0.1", port=port, user="eddy", dbname="eddy")
conn.autocommit = True
cur = conn.cursor()
cur.execute("CREATE TABLE orders (id bigint NOT NULL, region text, amount numeric(10,2), ts timestamp)")
cur.execute(
    "INSERT INTO orders VALUES (%s, %s, %s, %s), (%s, %s, %s, %s)",
    (1, "north", Decimal("9.50"), "2026-11-01 10:00:00", 2, "south", Decimal("5.25"), None),
)
cur.execute(
    "CREATE MATERIALIZED VIEW totals AS SELECT region, count(*) AS n, sum(amount) AS total FROM orders GROUP BY region"
)
cur.execute("SELECT n, total FROM totals WHERE region = %s", ("north",))
assert cur.fetchall() == [(1, Decimal("9.50"))], "psycopg2 read of the view"
cur.execute("UPDATE orders SET amount = amount + %s WHERE id = %s", (Decimal("1.00"), 1))
cur.execute("SELECT total FROM totals WHERE region = 'north'")
assert cur.fetchone() == (Decimal("10.50"),), "the view reflects the update"
try:
    cur.execute("SELECT * FROM nope")
    raise AssertionError("an unknown table must fail")
except psycopg2.Error as e:
    assert e.pgcode == "42P01", e.pgcode
print("psycopg2 ok")

engine = sqlalchemy.create_engine(f"postgresql+psycopg2://eddy@127.0.0.1:{port}/eddy")
inspector = inspect(engine)
assert inspector.get_table_names() == ["orders"], inspector.get_table_names()
assert inspector.get_materialized_view_names() == ["totals"], inspector.get_materialized_view_names()
assert inspector.get_view_names() == [], inspector.get_view_names()
columns = [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns("orders")]
assert columns == [
    ("id", "BIGINT", False),
    ("region", "TEXT", True),
    ("amount", "NUMERIC(10, 2)", True),
    ("ts", "TIMESTAMP", True),
], columns
view_columns = [c["name"] for c in inspector.get_columns("totals")]
assert view_columns == ["region", "n", "total"], view_columns
assert inspector.get_foreign_keys("orders") == []
with engine.connect() as c:
    rows = c.execute(sqlalchemy.text("SELECT region, n FROM totals ORDER BY region")).all()
    assert [tuple(r) for r in rows] == [("north", 1), ("south", 1)], rows
print("sqlalchemy ok")
"#;

#[test]
fn psycopg2_and_sqlalchemy_inspector() {
    let eddy = common::start_eddy(2);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("drivers.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let output = Command::new("python3")
        .arg(&script)
        .arg(eddy.pg_port().to_string())
        .output()
        .expect("python3 runs (scripts/test.sh installs psycopg2 and sqlalchemy)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python driver script failed\nstdout:\n{stdout}\nstderr:\n{stderr}\n{}",
        eddy.log_tail(30)
    );
    assert!(
        stdout.contains("psycopg2 ok") && stdout.contains("sqlalchemy ok"),
        "{stdout}"
    );
}
