//! Python clients against a real `eddy serve`, each test a script run by `python3`:
//!
//! - psycopg2 (client-side parameter interpolation over the simple query protocol,
//!   types, errors, a duplicate primary key) and SQLAlchemy's inspector and
//!   `MetaData.reflect()` (tables, views, columns, primary keys, indexes, constraints);
//! - psycopg 3, which binds parameters on the server through the extended protocol (in
//!   text and in binary), prepares named statements (and drops them all with
//!   `DEALLOCATE ALL` after a `ROLLBACK` or a `DROP`), pipelines statements, reads
//!   binary results, introspects `pg_type`, and wraps transaction blocks;
//! - asyncpg (binary everything): `executemany`, `copy_records_to_table` (binary
//!   COPY), the type introspection its first array result runs (a `WITH RECURSIVE`
//!   correlated with the outer row), transactions and its error classes.
//!
//! `scripts/test.sh` installs the drivers with pip when they are missing.

mod common;

use std::process::Command;

use eddy_testkit::Eddy;

const PSYCOPG2_SCRIPT: &str = r#"
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
cur.execute("CREATE TABLE customers (region text, seq integer, name varchar(40), PRIMARY KEY (region, seq))")
cur.execute("INSERT INTO customers VALUES (%s, %s, %s)", ("north", 1, "ann"))
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
try:
    cur.execute("INSERT INTO customers VALUES (%s, %s, %s)", ("north", 1, "bob"))
    raise AssertionError("a duplicate primary key must fail")
except psycopg2.Error as e:
    assert e.pgcode == "23505", e.pgcode
    assert e.diag.message_detail == "Key (region, seq)=(north, 1) already exists.", e.diag.message_detail
print("psycopg2 ok")

engine = sqlalchemy.create_engine(f"postgresql+psycopg2://eddy@127.0.0.1:{port}/eddy")
inspector = inspect(engine)
assert sorted(inspector.get_table_names()) == ["customers", "orders"], inspector.get_table_names()
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
pk = inspector.get_pk_constraint("customers")
assert (pk["name"], pk["constrained_columns"]) == ("customers_pkey", ["region", "seq"]), pk
assert inspector.get_pk_constraint("orders")["constrained_columns"] == []
assert inspector.get_indexes("customers") == [], inspector.get_indexes("customers")
assert inspector.get_unique_constraints("customers") == []
assert inspector.get_check_constraints("customers") == []
assert inspector.get_table_comment("customers") == {"text": None}
# A UNIQUE constraint and an index (pg_index's int2vector columns, as psycopg2 reads them).
cur.execute("CREATE TABLE tags (id int PRIMARY KEY, label text UNIQUE, kind text, rank int)")
cur.execute("CREATE INDEX tags_kind_rank ON tags (kind, rank)")
inspector = inspect(engine)
indexes = sorted(inspector.get_indexes("tags"), key=lambda i: i["name"])
assert [(i["name"], i["unique"], i["column_names"]) for i in indexes] == [
    ("tags_kind_rank", False, ["kind", "rank"]),
    ("tags_label_key", True, ["label"]),
], indexes
assert [u["column_names"] for u in inspector.get_unique_constraints("tags")] == [["label"]]
# Reflecting the whole schema runs every introspection call for every relation.
metadata = sqlalchemy.MetaData()
metadata.reflect(bind=engine, views=True)
assert sorted(metadata.tables) == ["customers", "orders", "tags", "totals"], sorted(metadata.tables)
assert [(i.name, [c.name for c in i.columns]) for i in metadata.tables["tags"].indexes] == [
    ("tags_kind_rank", ["kind", "rank"])
], metadata.tables["tags"].indexes
customers = metadata.tables["customers"]
assert [c.name for c in customers.primary_key.columns] == ["region", "seq"]
assert str(customers.c.name.type) == "VARCHAR(40)", customers.c.name.type
with engine.connect() as c:
    rows = c.execute(sqlalchemy.text("SELECT region, n FROM totals ORDER BY region")).all()
    assert [tuple(r) for r in rows] == [("north", 1), ("south", 1)], rows
# A model whose columns have index=True (CREATE INDEX) and unique=True, index=True
# (CREATE UNIQUE INDEX), created by create_all and enforced.
models = sqlalchemy.MetaData()
people = sqlalchemy.Table(
    "people", models,
    sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True),
    sqlalchemy.Column("email", sqlalchemy.String(80), unique=True, index=True),
    sqlalchemy.Column("city", sqlalchemy.String(40), index=True),
)
models.create_all(engine)
with engine.begin() as c:
    c.execute(people.insert(), [{"id": 1, "email": "a@x", "city": "Oslo"}, {"id": 2, "email": "b@x", "city": "Oslo"}])
try:
    with engine.begin() as c:
        c.execute(people.insert(), [{"id": 3, "email": "a@x", "city": "Rome"}])
    raise SystemExit("a duplicate email was accepted")
except sqlalchemy.exc.IntegrityError:
    pass
indexes = sorted((i["name"], i["unique"]) for i in inspect(engine).get_indexes("people"))
assert indexes == [("ix_people_city", False), ("ix_people_email", True)], indexes
print("sqlalchemy ok")
"#;

const PSYCOPG_SCRIPT: &str = r#"
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
from psycopg import errors
from psycopg.types import TypeInfo
from psycopg.types.json import Jsonb

port = int(sys.argv[1])
conn = psycopg.connect(host="127.0.0.1", port=port, user="eddy", dbname="eddy", autocommit=True)
assert conn.info.server_version // 10000 == 15, conn.info.server_version
assert conn.info.timezone.utcoffset(datetime(2026, 1, 1)) == timedelta(0), conn.info.timezone
# A list parameter arrives as the array type psycopg picks (int2[] for small numbers),
# which the statement casts.
assert conn.execute("SELECT 1007::oid = any(%s::oid[])", [[1007]]).fetchone() == (True,)
assert conn.execute("SELECT 7::oid = any(%s::oid[])", [[1007]]).fetchone() == (False,)

conn.execute(
    "CREATE TABLE events (id bigint NOT NULL, name text, amount numeric(10,2), at timestamp,"
    " at_tz timestamptz, day date, ok boolean, payload jsonb, score double precision)"
)
plus2 = timezone(timedelta(hours=2))
rows = [
    (1, "alpha", Decimal("12.50"), datetime(2026, 11, 1, 10, 0, 0),
     datetime(2026, 11, 1, 10, 0, 0, tzinfo=timezone.utc), date(2026, 11, 1), True,
     Jsonb({"k": [1, 2], "s": "x"}), 1.5),
    (2, "beta", Decimal("7.25"), datetime(2026, 11, 2, 23, 59, 59, 123456),
     datetime(2026, 11, 3, 1, 30, 0, tzinfo=plus2), date(2024, 2, 29), False,
     Jsonb([1, "two", None, True]), -0.25),
    (3, "alpha", None, None, None, None, None, None, None),
]
cur = conn.cursor()
# %s lets psycopg pick the format per value; %b sends every parameter in binary.
cur.execute("INSERT INTO events VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows[0])
cur.executemany("INSERT INTO events VALUES (%b, %b, %b, %b, %b, %b, %b, %b, %b)", rows[1:])

cur.execute("SELECT * FROM events ORDER BY id")
oids = [d.type_code for d in cur.description]
assert oids == [20, 25, 1700, 1114, 1184, 1082, 16, 3802, 701], oids
got = cur.fetchall()
expected = [
    (1, "alpha", Decimal("12.50"), datetime(2026, 11, 1, 10, 0, 0),
     datetime(2026, 11, 1, 10, 0, 0, tzinfo=timezone.utc), date(2026, 11, 1), True,
     {"k": [1, 2], "s": "x"}, 1.5),
    (2, "beta", Decimal("7.25"), datetime(2026, 11, 2, 23, 59, 59, 123456),
     datetime(2026, 11, 2, 23, 30, 0, tzinfo=timezone.utc), date(2024, 2, 29), False,
     [1, "two", None, True], -0.25),
    (3, "alpha", None, None, None, None, None, None, None),
]
assert got == expected, got
assert got[1][4].utcoffset() == timedelta(0), got[1][4]

cur.execute(
    "CREATE MATERIALIZED VIEW by_name AS SELECT name, count(*) AS n, sum(amount) AS total,"
    " max(score) AS best, min(day) AS first_day FROM events GROUP BY name"
)
# prepare=True: a named server-side statement, executed again with new parameters.
for name, want in [
    ("alpha", (2, Decimal("12.50"), 1.5, date(2026, 11, 1))),
    ("beta", (1, Decimal("7.25"), -0.25, date(2024, 2, 29))),
    ("gamma", None),
]:
    cur.execute("SELECT n, total, best, first_day FROM by_name WHERE name = %s", (name,), prepare=True)
    assert cur.fetchone() == want, (name, want)

# Binary results: every column decoded from Postgres' binary format.
with conn.cursor(binary=True) as bcur:
    bcur.execute("SELECT * FROM events WHERE id = %s", (2,))
    assert [bcur.pgresult.fformat(i) for i in range(9)] == [1] * 9
    assert bcur.fetchall() == [expected[1]], "binary row"
    bcur.execute("SELECT name, n, total, best, first_day FROM by_name ORDER BY name")
    assert bcur.fetchall() == [
        ("alpha", 2, Decimal("12.50"), 1.5, date(2026, 11, 1)),
        ("beta", 1, Decimal("7.25"), -0.25, date(2024, 2, 29)),
    ], "binary view rows"
    # numeric both ways in binary (%b): 38 digits with their scale, and NaN.
    wide = Decimal("-1234567890123456789012345678.9012345678")
    bcur.execute("SELECT %b::numeric, %b::numeric + 1, %b::numeric", (wide, Decimal("12345678901234567890123456789012345678"), Decimal("NaN")))
    got = bcur.fetchone()
    assert str(got[0]) == str(wide) and str(got[1]) == "12345678901234567890123456789012345679", got
    assert got[2].is_nan(), got

# Pipeline mode: statements sent back to back, results read at the end.
with conn.pipeline():
    cur.execute("INSERT INTO events (id, name, score) VALUES (%s, %s, %s)", (10, "pipe", 1.0))
    cur.execute("INSERT INTO events (id, name, score) VALUES (%s, %s, %s)", (11, "pipe", 2.0))
    cur.execute("SELECT n, best FROM by_name WHERE name = %s", ("pipe",))
    assert cur.fetchone() == (2, 2.0), "pipelined read"
cur.execute("DELETE FROM events WHERE name = %s", ("pipe",))
assert cur.rowcount == 2, cur.rowcount

# After a DROP, psycopg sends DEALLOCATE ALL (it has prepared statements), then
# prepares again.
conn.execute("CREATE TABLE scratch (x integer)")
conn.execute("DROP TABLE scratch")
for _ in range(7):  # past prepare_threshold (5): prepared automatically
    cur.execute("SELECT n FROM by_name WHERE name = %s", ("beta",))
    assert cur.fetchone() == (1,)

# Type introspection through pg_type.
info = TypeInfo.fetch(conn, "jsonb")
assert (info.name, info.oid, info.array_oid) == ("jsonb", 3802, 3807), info
assert TypeInfo.fetch(conn, "no_such_type") is None

# Errors carry their SQLSTATE.
try:
    cur.execute("SELECT * FROM nope WHERE id = %s", (1,))
    raise AssertionError("an unknown table must fail")
except errors.UndefinedTable as e:
    assert e.sqlstate == "42P01", e.sqlstate
try:
    cur.execute("SELECT 1 / %s::int", (0,))
    raise AssertionError("division by zero must fail")
except psycopg.DataError as e:
    assert e.sqlstate == "22012", e.sqlstate

# A transaction block: its reads, of the table and of the view over it, see its
# writes; on commit the view follows.
with conn.transaction():
    cur.execute("INSERT INTO events (id, name, amount) VALUES (%s, %s, %s)", (4, "beta", Decimal("0.75")))
    cur.execute("UPDATE events SET amount = amount * %s WHERE id = %s", (2, 1))
    cur.execute("SELECT count(*) FROM events WHERE name = %s", ("beta",))
    assert cur.fetchone() == (2,), "the block sees its own insert"
    cur.execute("SELECT name, n, total FROM by_name ORDER BY name")
    assert cur.fetchall() == [("alpha", 2, Decimal("25.00")), ("beta", 2, Decimal("8.00"))], "in the block"
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
cur.execute("SELECT name, n, total FROM by_name ORDER BY name")
assert cur.fetchall() == [("alpha", 2, Decimal("25.00")), ("beta", 2, Decimal("8.00"))], "after commit"

# A rolled-back block leaves no trace.
with conn.transaction():
    cur.execute("DELETE FROM events WHERE name = %s", ("alpha",))
    # A prepared statement in the block: psycopg sends DEALLOCATE ALL after ROLLBACK.
    cur.execute("SELECT count(*) FROM events WHERE name = %s", ("alpha",), prepare=True)
    assert cur.fetchone() == (0,), "the block sees its own delete"
    raise psycopg.Rollback
cur.execute("SELECT n FROM by_name WHERE name = %s", ("alpha",))
assert cur.fetchone() == (2,), "the rollback undid the delete"

# Nested blocks are savepoints: the inner rollback undoes only its own writes.
with conn.transaction():
    cur.execute("INSERT INTO events (id, name) VALUES (%s, %s)", (20, "outer"))
    with conn.transaction():
        cur.execute("INSERT INTO events (id, name) VALUES (%s, %s)", (21, "inner kept"))
    with conn.transaction():
        cur.execute("INSERT INTO events (id, name) VALUES (%s, %s)", (22, "inner undone"))
        raise psycopg.Rollback
cur.execute("SELECT id FROM events WHERE id >= 20 ORDER BY id")
assert cur.fetchall() == [(20,), (21,)], "savepoints"
conn.close()

# SQLAlchemy 2's ORM on psycopg 3: 1,000 objects in one flush, and nested transactions
# (SAVEPOINT), one of them rolled back after a duplicate key.
import sqlalchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str]


engine = sqlalchemy.create_engine(f"postgresql+psycopg://eddy@127.0.0.1:{port}/eddy")
with engine.connect() as c:
    c.execute(sqlalchemy.text("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)"))
    c.commit()
with Session(engine) as session:
    session.add_all([Item(id=i, name=f"item{i}") for i in range(1000)])
    session.commit()
    with session.begin_nested():
        session.add(Item(id=5000, name="nested"))
    try:
        with session.begin_nested():
            session.add(Item(id=1, name="duplicate"))
            session.flush()
        raise AssertionError("a duplicate key must fail")
    except sqlalchemy.exc.IntegrityError:
        pass
    session.commit()
    assert session.query(Item).count() == 1001, session.query(Item).count()
    assert session.get(Item, 1).name == "item1"
print("psycopg ok")
"#;

/// psycopg 3's `cursor.copy()`: rows written with `write_row` (text format, escapes
/// included), raw CSV written in blocks, a bad row that writes nothing, and rows read
/// back with `rows()`.
const PSYCOPG_COPY_SCRIPT: &str = r#"
import sys
import psycopg

port = int(sys.argv[1])
conn = psycopg.connect(host="127.0.0.1", port=port, user="eddy", dbname="eddy", autocommit=True)
cur = conn.cursor()
cur.execute("CREATE TABLE items (id integer PRIMARY KEY, name text, price numeric(8,2))")
with cur.copy("COPY items (id, name, price) FROM STDIN") as copy:
    copy.write_row((1, "tab\there", "1.5"))
    copy.write_row((2, None, 2))
assert cur.rowcount == 2, cur.rowcount
with cur.copy("COPY items FROM STDIN (FORMAT csv)") as copy:
    copy.write("3,three,3\n4,")
    copy.write("\"four, 4\",4.25\n")
cur.execute("SELECT id, name, price::text FROM items ORDER BY id")
rows = cur.fetchall()
assert rows == [(1, "tab\there", "1.50"), (2, None, "2.00"), (3, "three", "3.00"), (4, "four, 4", "4.25")], rows
try:
    with cur.copy("COPY items FROM STDIN (FORMAT csv)") as copy:
        copy.write("5,five,5\n6,six,oops\n")
    raise SystemExit("a bad row was accepted")
except psycopg.errors.InvalidTextRepresentation as e:
    assert "line 2, column price" in (e.diag.message_detail or ""), e.diag.message_detail
cur.execute("SELECT count(*) FROM items")
assert cur.fetchone()[0] == 4
with cur.copy("COPY (SELECT id, name FROM items WHERE id <= 2 ORDER BY id) TO STDOUT") as copy:
    out = list(copy.rows())
assert out == [("1", "tab\there"), ("2", None)], out
# A COPY the client abandons (CopyFail) writes nothing and aborts its block.
conn2 = psycopg.connect(host="127.0.0.1", port=port, user="eddy", dbname="eddy")
cur2 = conn2.cursor()
cur2.execute("INSERT INTO items VALUES (9, 'nine', 9)")
try:
    with cur2.copy("COPY items FROM STDIN") as copy:
        copy.write_row((10, "ten", 10))
        raise RuntimeError("the client gives up")
except (RuntimeError, psycopg.errors.QueryCanceled):
    pass
try:
    cur2.execute("SELECT 1")
    raise SystemExit("the block was not aborted")
except psycopg.errors.InFailedSqlTransaction:
    pass
conn2.rollback()
cur.execute("SELECT count(*) FROM items")
assert cur.fetchone()[0] == 4
# The binary format, both ways, as psycopg writes and reads it with declared types.
from decimal import Decimal
import datetime
cur.execute("CREATE TABLE bins (id bigint, name text, price numeric(8,2), ok boolean, day date, at timestamptz)")
at = datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)
with cur.copy("COPY bins FROM STDIN (FORMAT BINARY)") as copy:
    copy.set_types(["int8", "text", "numeric", "bool", "date", "timestamptz"])
    copy.write_row((1, "one", Decimal("1.5"), True, datetime.date(2026, 1, 2), at))
    copy.write_row((2, None, None, False, None, None))
assert cur.rowcount == 2, cur.rowcount
cur.execute("SELECT id, name, price::text, ok, day, at FROM bins ORDER BY id")
assert cur.fetchall() == [(1, "one", "1.50", True, datetime.date(2026, 1, 2), at), (2, None, None, False, None, None)]
with cur.copy("COPY (SELECT id, name, price, ok, day, at FROM bins ORDER BY id) TO STDOUT (FORMAT BINARY)") as copy:
    copy.set_types(["int8", "text", "numeric", "bool", "date", "timestamptz"])
    out = list(copy.rows())
assert out == [(1, "one", Decimal("1.50"), True, datetime.date(2026, 1, 2), at), (2, None, None, False, None, None)], out
# Bad binary data is refused and writes nothing.
try:
    with cur.copy("COPY bins (id) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8 + b"\x00\x01\x00\x00\x00\x02\x00\x01\xff\xff")
    raise SystemExit("bad binary data was accepted")
except psycopg.errors.InvalidBinaryRepresentation:
    pass
cur.execute("SELECT count(*) FROM bins")
assert cur.fetchone()[0] == 2
print("psycopg copy ok")
"#;

const PSYCOPG2_COPY_SCRIPT: &str = r#"
import io, sys
import psycopg2

port = int(sys.argv[1])
conn = psycopg2.connect(host="127.0.0.1", port=port, user="eddy", dbname="eddy")
conn.autocommit = True
cur = conn.cursor()
cur.execute("CREATE TABLE big (id bigint PRIMARY KEY, name text, amount numeric(10,2), ok boolean, day date)")
cur.execute("CREATE MATERIALIZED VIEW big_totals AS SELECT ok, count(*) AS n, sum(amount) AS total FROM big GROUP BY ok")
ROWS = 1_000_000

def lines(bad_at=None):
    yield "id,name,amount,ok,day\n"
    for i in range(ROWS):
        amount = "x" if i == bad_at else f"{i % 1000}.{i % 100:02d}"
        yield f"{i},\"n {i}, quoted\",{amount},{'t' if i % 2 else 'f'},2026-01-{1 + i % 28:02d}\n"

class Lines(io.TextIOBase):
    # A file-like reader over a generator, as copy_expert reads in chunks.
    def __init__(self, gen):
        self.gen, self.buf = gen, ""
    def readable(self):
        return True
    def read(self, size=-1):
        while size < 0 or len(self.buf) < size:
            try:
                self.buf += next(self.gen)
            except StopIteration:
                break
        out, self.buf = (self.buf, "") if size < 0 else (self.buf[:size], self.buf[size:])
        return out
    readline = read

# A bad line in the middle of a million: nothing is written, and the error names it.
try:
    cur.copy_expert("COPY big FROM STDIN WITH (FORMAT csv, HEADER)", Lines(lines(bad_at=500_000)), size=65536)
    raise SystemExit("a bad line was accepted")
except psycopg2.errors.InvalidTextRepresentation as e:
    assert "line 500002, column amount" in (e.diag.message_detail or e.diag.context or ""), (e.diag.message_detail, e.diag.context)
cur.execute("SELECT count(*) FROM big")
assert cur.fetchone()[0] == 0, "a failed COPY wrote rows"

cur.copy_expert("COPY big FROM STDIN WITH (FORMAT csv, HEADER)", Lines(lines()), size=65536)
assert cur.rowcount == ROWS, cur.rowcount
cur.execute("SELECT ok, n, total FROM big_totals ORDER BY ok")
rows = cur.fetchall()
assert [r[1] for r in rows] == [ROWS // 2, ROWS // 2], rows
cur.execute("SELECT sum(amount) FROM big")
assert cur.fetchone()[0] == sum(rows_total for _, _, rows_total in rows)
cur.execute("SELECT name FROM big WHERE id = 7")
assert cur.fetchone()[0] == "n 7, quoted"

# And out again, in CSV.
out = io.StringIO()
cur.copy_expert("COPY (SELECT id, name, ok FROM big WHERE id < 3 ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)", out)
assert out.getvalue() == 'id,name,ok\n0,"n 0, quoted",f\n1,"n 1, quoted",t\n2,"n 2, quoted",f\n', out.getvalue()
print("psycopg2 copy ok")
"#;

const ASYNCPG_SCRIPT: &str = r#"
import asyncio, datetime, sys
from decimal import Decimal
import asyncpg

port = int(sys.argv[1])

async def main():
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="eddy", database="eddy")
    await conn.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, region text, amount numeric(10,2), tags text[], ts timestamptz)"
    )
    await conn.execute(
        "CREATE MATERIALIZED VIEW totals AS SELECT region, count(*) AS n, sum(amount) AS total FROM orders GROUP BY region"
    )
    at = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    # executemany: one prepared INSERT, many bindings.
    await conn.executemany(
        "INSERT INTO orders VALUES ($1, $2, $3, $4, $5)",
        [(1, "north", Decimal("9.50"), ["a", "b"], at), (2, "south", Decimal("5.25"), [], None)],
    )
    # copy_records_to_table: COPY in the binary format.
    result = await conn.copy_records_to_table(
        "orders",
        records=[(i, "north", Decimal("1.00"), None, at) for i in range(10, 1010)],
        columns=["id", "region", "amount", "tags", "ts"],
    )
    assert result == "COPY 1000", result
    rows = await conn.fetch("SELECT region, n, total FROM totals ORDER BY region")
    assert [tuple(r) for r in rows] == [("north", 1001, Decimal("1009.50")), ("south", 1, Decimal("5.25"))], rows
    # Arrays of int make asyncpg introspect their type (a recursive query per type,
    # correlated with pg_type's row).
    assert await conn.fetchval("SELECT ARRAY[1, 2, 3]") == [1, 2, 3]
    assert await conn.fetchval("SELECT array_agg(id ORDER BY id) FROM orders WHERE id < 3") == [1, 2]
    assert await conn.fetchval("SELECT tags FROM orders WHERE id = $1", 1) == ["a", "b"]
    assert await conn.fetchval("SELECT count(*) FROM orders WHERE id = any($1::int[])", [1, 2, 5000]) == 2
    assert await conn.fetchval("SELECT ts FROM orders WHERE id = 1") == at
    # A transaction block, rolled back by an exception.
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO orders (id, region) VALUES (3, 'east')")
            raise RuntimeError("undo")
    except RuntimeError:
        pass
    assert await conn.fetchval("SELECT count(*) FROM orders WHERE id = 3") == 0
    # A duplicate key is asyncpg's UniqueViolationError.
    try:
        await conn.execute("INSERT INTO orders (id, region) VALUES (1, 'west')")
        raise SystemExit("a duplicate key was accepted")
    except asyncpg.UniqueViolationError:
        pass
    # A bad row in a COPY writes nothing.
    try:
        await conn.copy_records_to_table("orders", records=[(2000, "x"), (1, "dup")], columns=["id", "region"])
        raise SystemExit("a COPY with a duplicate key was accepted")
    except asyncpg.UniqueViolationError:
        pass
    assert await conn.fetchval("SELECT count(*) FROM orders") == 1002
    # A prepared statement, used again.
    stmt = await conn.prepare("SELECT total FROM totals WHERE region = $1")
    assert await stmt.fetchval("south") == Decimal("5.25")
    await conn.execute("UPDATE orders SET amount = amount + 1 WHERE id = 2")
    assert await stmt.fetchval("south") == Decimal("6.25")
    # numeric in the binary format both ways (asyncpg's own codec): 38 digits with
    # their scale, and NaN.
    wide = Decimal("-1234567890123456789012345678.9012345678")
    got = await conn.fetchval("SELECT $1::numeric", wide)
    assert str(got) == str(wide), got
    got = await conn.fetchval("SELECT $1::numeric + 1", Decimal("12345678901234567890123456789012345678"))
    assert str(got) == "12345678901234567890123456789012345679", got
    assert str(await conn.fetchval("SELECT 1.50::numeric * $1", Decimal("2.0"))) == "3.000"
    assert (await conn.fetchval("SELECT $1::numeric", Decimal("NaN"))).is_nan()
    assert await conn.fetchval("SELECT 'NaN'::numeric = $1", Decimal("NaN")) is True
    assert (await conn.fetchval("SELECT sum(x) FROM (VALUES (1.5), ('NaN'::numeric)) v(x)")).is_nan()
    await conn.close()
    print("asyncpg ok")

asyncio.run(main())
"#;

/// Runs `script` with `python3` against `eddy`, passing the port as its argument, and
/// requires it to succeed and print every line of `done`.
fn run_python(eddy: &Eddy, script: &str, done: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drivers.py");
    std::fs::write(&path, script).unwrap();
    let output = Command::new("python3")
        .arg(&path)
        .arg(eddy.pg_port().to_string())
        .env_remove("PGOPTIONS")
        .env_remove("PGPASSWORD")
        .output()
        .expect("python3 runs (scripts/test.sh installs the drivers)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python driver script failed\nstdout:\n{stdout}\nstderr:\n{stderr}\n{}",
        eddy.log_tail(30)
    );
    for line in done {
        assert!(
            stdout.lines().any(|l| l == *line),
            "no {line:?} in\n{stdout}"
        );
    }
}

#[test]
fn psycopg2_and_sqlalchemy_inspector() {
    let eddy = common::start_eddy(2);
    run_python(&eddy, PSYCOPG2_SCRIPT, &["psycopg2 ok", "sqlalchemy ok"]);
}

#[test]
fn psycopg3_server_side_binding() {
    let eddy = common::start_eddy(2);
    run_python(&eddy, PSYCOPG_SCRIPT, &["psycopg ok"]);
}

#[test]
fn psycopg3_copy() {
    let eddy = common::start_eddy(1);
    run_python(&eddy, PSYCOPG_COPY_SCRIPT, &["psycopg copy ok"]);
}

#[test]
fn asyncpg_copy_and_type_introspection() {
    let eddy = common::start_eddy(2);
    run_python(&eddy, ASYNCPG_SCRIPT, &["asyncpg ok"]);
}

#[test]
fn psycopg2_copy_expert_a_million_rows() {
    let eddy = common::start_eddy(2);
    run_python(&eddy, PSYCOPG2_COPY_SCRIPT, &["psycopg2 copy ok"]);
}
