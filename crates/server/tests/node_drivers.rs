//! node-postgres (`pg`) against a real `eddy serve`: a script run by `node`, through
//! both `Client` and `Pool`. `pg` sends every parameter as text with an unspecified
//! type, so Eddy infers them from context; it reads results with its default type
//! parsers (int8 and numeric as strings, timestamps and dates as `Date`, json parsed).
//! Also: named prepared statements, `rowMode: 'array'`, binary results, SQLSTATEs,
//! transaction blocks and materialized views read after writes.
//!
//! `pg-copy-streams` streams a million rows into `COPY FROM STDIN` and out of `COPY TO
//! STDOUT`.
//!
//! `pg` and `pg-copy-streams` are pinned in `tests/node/package-lock.json`; `scripts/test.sh` runs `npm ci`
//! there when `tests/node/node_modules` is missing. The script runs with `TZ=UTC`, so
//! `timestamp` and `date` values (which `pg` reads as local time) compare as UTC.

mod common;

use std::path::PathBuf;
use std::process::Command;

const SCRIPT: &str = r#"
'use strict';
const assert = require('node:assert/strict');
const { Client, Pool } = require('pg');

const port = Number(process.argv[2]);
const config = { host: '127.0.0.1', port, user: 'eddy', database: 'eddy' };

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.code, code, `${err.message} (SQLSTATE ${err.code})`);
    return true;
  });
}

async function client_checks() {
  const client = new Client(config);
  await client.connect();
  await client.query(
    'CREATE TABLE orders (id bigint NOT NULL, customer text, amount numeric(10,2), qty integer,' +
      ' placed timestamptz, placed_local timestamp, due date, paid boolean, meta jsonb,' +
      ' weight double precision)'
  );
  // Parameters go as text with unspecified types: Eddy infers them from the columns.
  const placed = new Date(Date.UTC(2026, 10, 1, 10, 0, 0, 123));
  const inserted = await client.query(
    'INSERT INTO orders VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10),' +
      ' ($11, $12, $13, $14, $15, $16, $17, $18, $19, $20)',
    [
      1, 'ann', '12.50', 3, placed, placed, '2026-11-15', true, { a: 1, tags: ['x', 'y'] }, 2.5,
      '9007199254740993', 'bob', '0.10', null, null, null, null, false, null, null,
    ]
  );
  assert.equal(inserted.command, 'INSERT');
  assert.equal(inserted.rowCount, 2);

  const one = await client.query('SELECT * FROM orders WHERE id = $1', [1]);
  assert.deepEqual(
    one.fields.map((f) => [f.name, f.dataTypeID]),
    [
      ['id', 20], ['customer', 25], ['amount', 1700], ['qty', 23], ['placed', 1184],
      ['placed_local', 1114], ['due', 1082], ['paid', 16], ['meta', 3802], ['weight', 701],
    ]
  );
  // pg's defaults: int8 and numeric as strings, timestamps and dates as Dates, json parsed.
  assert.deepEqual(one.rows, [
    {
      id: '1', customer: 'ann', amount: '12.50', qty: 3, placed, placed_local: placed,
      due: new Date(Date.UTC(2026, 10, 15)), paid: true, meta: { a: 1, tags: ['x', 'y'] },
      weight: 2.5,
    },
  ]);
  // An int8 beyond 2^53 survives as a string.
  const big = await client.query('SELECT id, customer, qty, paid, meta FROM orders WHERE id = $1', [
    '9007199254740993',
  ]);
  assert.deepEqual(big.rows, [
    { id: '9007199254740993', customer: 'bob', qty: null, paid: false, meta: null },
  ]);

  await client.query(
    'CREATE MATERIALIZED VIEW customer_totals AS SELECT customer, count(*) AS n,' +
      ' sum(amount) AS total, sum(qty) AS qty FROM orders GROUP BY customer'
  );
  // A named prepared statement: parsed once, executed with new values each time.
  const byCustomer = (customer) => ({
    name: 'by_customer',
    text: 'SELECT n, total, qty FROM customer_totals WHERE customer = $1',
    values: [customer],
  });
  assert.deepEqual((await client.query(byCustomer('ann'))).rows, [{ n: '1', total: '12.50', qty: '3' }]);
  assert.deepEqual((await client.query(byCustomer('bob'))).rows, [{ n: '1', total: '0.10', qty: null }]);
  assert.deepEqual((await client.query(byCustomer('nobody'))).rows, []);
  assert.ok(client.connection.parsedStatements.by_customer, 'by_customer is a server-side statement');

  const updated = await client.query('UPDATE orders SET amount = amount + $1, qty = $2 WHERE id = $3', [
    '1.25', 4, '9007199254740993',
  ]);
  assert.equal(updated.rowCount, 1);
  assert.deepEqual((await client.query(byCustomer('bob'))).rows, [{ n: '1', total: '1.35', qty: '4' }]);

  const arrays = await client.query({
    text: 'SELECT customer, n FROM customer_totals ORDER BY customer',
    rowMode: 'array',
  });
  assert.deepEqual(arrays.rows, [['ann', '1'], ['bob', '1']]);

  // Binary results, decoded by pg-types' binary parsers (not numeric or timestamps:
  // pg-types 2.2 misreads those from Postgres itself).
  const binary = await client.query({
    text: 'SELECT id, qty, weight, paid, customer FROM orders WHERE id = $1',
    values: [1],
    binary: true,
  });
  assert.deepEqual(binary.rows, [
    { id: '1', qty: 3, weight: 2.5, paid: true, customer: 'ann' },
  ]);

  // Errors carry their SQLSTATE, and the connection stays usable.
  await rejectsWith(client.query('SELECT * FROM nope'), '42P01');
  await rejectsWith(client.query('SELECT * FROM nope WHERE id = $1', [1]), '42P01');
  await rejectsWith(client.query({ name: 'nope', text: 'SELECT * FROM nope', values: [] }), '42P01');
  await rejectsWith(client.query('SELECT 1 / $1::int', [0]), '22012');
  assert.deepEqual((await client.query('SELECT $1::int + 1 AS x', [41])).rows, [{ x: 42 }]);

  // A transaction block sees its own writes, in the table and in the view over it;
  // ROLLBACK undoes them.
  await client.query('BEGIN');
  await client.query('INSERT INTO orders (id, customer, amount) VALUES ($1, $2, $3)', [3, 'ann', '7.00']);
  const inBlock = await client.query(
    'SELECT count(*) AS n, sum(amount) AS total FROM orders WHERE customer = $1',
    ['ann']
  );
  assert.deepEqual(inBlock.rows, [{ n: '2', total: '19.50' }]);
  const viewInBlock = await client.query(
    'SELECT n, total FROM customer_totals WHERE customer = $1',
    ['ann']
  );
  assert.deepEqual(viewInBlock.rows, [{ n: '2', total: '19.50' }]);
  await client.query('ROLLBACK');
  assert.deepEqual((await client.query(byCustomer('ann'))).rows, [{ n: '1', total: '12.50', qty: '3' }]);
  await client.query('BEGIN');
  await client.query('DELETE FROM orders WHERE id = $1', [1]);
  await client.query('COMMIT');
  assert.deepEqual((await client.query(byCustomer('ann'))).rows, []);

  await client.end();
}

async function pool_checks() {
  const pool = new Pool({ ...config, max: 3 });
  const results = await Promise.all(
    ['bob', 'ann', 'bob', 'nobody', 'bob'].map((c) =>
      pool.query('SELECT total FROM customer_totals WHERE customer = $1', [c])
    )
  );
  assert.deepEqual(
    results.map((r) => r.rows),
    [[{ total: '1.35' }], [], [{ total: '1.35' }], [], [{ total: '1.35' }]]
  );
  const client = await pool.connect();
  try {
    await client.query('INSERT INTO orders (id, customer, amount) VALUES ($1, $2, $3)', [5, 'cy', '2.00']);
  } finally {
    client.release();
  }
  const after = await pool.query('SELECT customer, total FROM customer_totals ORDER BY customer');
  assert.deepEqual(after.rows, [
    { customer: 'bob', total: '1.35' },
    { customer: 'cy', total: '2.00' },
  ]);
  await rejectsWith(pool.query('SELECT missing FROM customer_totals'), '42703');
  await pool.end();
}

(async () => {
  await client_checks();
  console.log('pg client ok');
  await pool_checks();
  console.log('pg pool ok');
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
"#;

const COPY_SCRIPT: &str = r#"
const assert = require('node:assert/strict');
const { Readable } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const { Client } = require('pg');
const { from, to } = require('pg-copy-streams');

const port = Number(process.argv[2]);
const ROWS = 1000000;

// One line at a time, as an application streams a file or a generator into COPY.
function* lines(badAt) {
  for (let i = 0; i < ROWS; i++) {
    const amount = i === badAt ? 'oops' : `${i % 1000}.${String(i % 100).padStart(2, '0')}`;
    yield `${i}\tname ${i}\t${amount}\t${i % 2 ? 't' : 'f'}\t\\N\n`;
  }
}

(async () => {
  const client = new Client({ host: '127.0.0.1', port, user: 'eddy', database: 'eddy' });
  await client.connect();
  await client.query('CREATE TABLE big (id bigint PRIMARY KEY, name text, amount numeric(10,2), ok boolean, note text)');
  await client.query('CREATE MATERIALIZED VIEW big_totals AS SELECT ok, count(*) AS n FROM big GROUP BY ok');

  // A bad line in the middle: the stream fails with the line, nothing is written.
  await assert.rejects(
    pipeline(Readable.from(lines(600000)), client.query(from('COPY big FROM STDIN'))),
    (err) => err.code === '22P02' && /line 600001, column amount/.test(err.detail || err.where || ''),
  );
  assert.equal((await client.query('SELECT count(*)::int AS n FROM big')).rows[0].n, 0);

  const copy = client.query(from('COPY big FROM STDIN'));
  await pipeline(Readable.from(lines()), copy);
  assert.equal(copy.rowCount, ROWS);
  const totals = await client.query('SELECT ok, n FROM big_totals ORDER BY ok');
  assert.deepEqual(totals.rows, [{ ok: false, n: '500000' }, { ok: true, n: '500000' }]);

  // And out, streamed.
  const chunks = [];
  const out = client.query(to('COPY (SELECT id, name, note FROM big WHERE id < 3 ORDER BY id) TO STDOUT WITH (FORMAT csv)'));
  for await (const chunk of out) chunks.push(chunk);
  assert.equal(Buffer.concat(chunks).toString(), '0,name 0,\n1,name 1,\n2,name 2,\n');
  await client.end();
  console.log('pg-copy-streams ok');
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
"#;

/// `tests/node/node_modules`, where `npm ci` installs `pg`.
fn node_modules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/node/node_modules")
}

/// Runs `script` with `node` against a new Eddy with `workers` workers, passing its
/// port, and requires it to succeed and print every line of `done`.
fn run_node(workers: usize, script: &str, done: &[&str]) {
    let modules = node_modules();
    for module in ["pg", "pg-copy-streams"] {
        assert!(
            modules.join(module).is_dir(),
            "{} has no {module}: run `npm ci --prefix tests/node` (scripts/test.sh does)",
            modules.display()
        );
    }
    let eddy = common::start_eddy(workers);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drivers.js");
    std::fs::write(&path, script).unwrap();
    let output = Command::new("node")
        .arg(&path)
        .arg(eddy.pg_port().to_string())
        .env("NODE_PATH", &modules)
        .env("TZ", "UTC")
        .env_remove("PGOPTIONS")
        .env_remove("PGPASSWORD")
        .output()
        .expect("node runs (Node.js 16 or later)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "node driver script failed\nstdout:\n{stdout}\nstderr:\n{stderr}\n{}",
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
fn node_postgres_client_and_pool() {
    run_node(2, SCRIPT, &["pg client ok", "pg pool ok"]);
}

/// `pg-copy-streams`: a million lines streamed into `COPY FROM STDIN` (one bad line in
/// the middle fails the load and writes nothing), and `COPY TO STDOUT` streamed out.
#[test]
fn node_pg_copy_streams_a_million_rows() {
    run_node(2, COPY_SCRIPT, &["pg-copy-streams ok"]);
}
