//! Durability: `kill -9` in the middle of writes, then restart on the same data directory.
//!
//! A writer task applies a random sequence of acknowledged writes — transactions that
//! insert a batch of rows into `events` and a row into `batches`, multi-row INSERTs,
//! UPDATEs and DELETEs of whole batches — while the test kills the server with SIGKILL at
//! a random moment. After the restart, the tables must hold exactly every acknowledged
//! write, plus the write that was in flight either fully or not at all, and every view
//! must equal Postgres computing it over the restored tables. This repeats for several
//! kill rounds. A second test checks a clean SIGTERM stop and restart.
//!
//! `RESTART_SEED=<u64>` reproduces the sequence of writes and kill delays (the seed is
//! printed and shown in failures); `EDDY_TEST_BINARY` runs another server binary.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use eddy_testkit::{diff_rows, query_rows, sql_literal, Postgres, TextRow};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_postgres::Client;

const KILL_ROUNDS: usize = 3;
/// Upper bound on writes per round, so a round ends even if the kill never comes.
const WRITES_PER_ROUND_MAX: usize = 5_000;

const SCHEMA: &[&str] = &[
    "CREATE TABLE events (batch bigint, seq integer, payload text)",
    "CREATE TABLE batches (batch bigint, n integer)",
];

const VIEWS: &[(&str, &str)] = &[
    ("v_batch_counts", "SELECT batch, count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM events GROUP BY batch"),
    ("v_totals", "SELECT count(*) AS n, sum(seq) AS seq_sum, max(batch) AS last_batch FROM events"),
    (
        "v_batch_presence",
        "SELECT b.batch, b.n, count(e.seq) AS present FROM batches b LEFT JOIN events e ON e.batch = b.batch \
         GROUP BY b.batch, b.n",
    ),
    ("v_payloads", "SELECT DISTINCT payload FROM events"),
    ("v_sizes", "SELECT n, count(*) AS batches FROM v_batch_counts GROUP BY n"),
];

/// What the tables should hold: per batch in `events`, its row count and its payload
/// (all rows of a batch share one); and the batches recorded in `batches`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct State {
    events: BTreeMap<i64, (usize, String)>,
    batches: BTreeMap<i64, usize>,
}

/// One acknowledged unit of writing.
#[derive(Clone, Debug)]
enum Op {
    /// BEGIN; INSERT n events; INSERT the batch row; COMMIT.
    InsertTxn { batch: i64, n: usize },
    /// One multi-row INSERT of n events (no batch row).
    InsertRows { batch: i64, n: usize },
    /// UPDATE the payload of every row of a batch.
    Update { batch: i64, payload: String },
    /// DELETE the events of a batch.
    Delete { batch: i64 },
}

impl Op {
    fn apply(&self, state: &mut State) {
        match self {
            Op::InsertTxn { batch, n } => {
                state.events.insert(*batch, (*n, initial_payload(*batch)));
                state.batches.insert(*batch, *n);
            }
            Op::InsertRows { batch, n } => {
                state.events.insert(*batch, (*n, initial_payload(*batch)));
            }
            Op::Update { batch, payload } => {
                if let Some(entry) = state.events.get_mut(batch) {
                    entry.1 = payload.clone();
                }
            }
            Op::Delete { batch } => {
                state.events.remove(batch);
            }
        }
    }

    /// The statements, each its own round trip.
    fn statements(&self) -> Vec<String> {
        let rows = |batch: i64, n: usize| {
            (0..n)
                .map(|seq| format!("({batch}, {seq}, '{}')", initial_payload(batch)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Op::InsertTxn { batch, n } => vec![
                "BEGIN".to_string(),
                format!("INSERT INTO events VALUES {}", rows(*batch, *n)),
                format!("INSERT INTO batches VALUES ({batch}, {n})"),
                "COMMIT".to_string(),
            ],
            Op::InsertRows { batch, n } => {
                vec![format!("INSERT INTO events VALUES {}", rows(*batch, *n))]
            }
            Op::Update { batch, payload } => {
                vec![format!(
                    "UPDATE events SET payload = '{payload}' WHERE batch = {batch}"
                )]
            }
            Op::Delete { batch } => vec![format!("DELETE FROM events WHERE batch = {batch}")],
        }
    }
}

fn initial_payload(batch: i64) -> String {
    format!("p{}", batch % 7)
}

/// What a writer task saw before its connection died.
struct WriterOutcome {
    acknowledged: State,
    in_flight: Option<Op>,
    next_batch: i64,
    writes: usize,
}

/// Writes until an error (the kill) or the bound; panics on an error that is not a lost
/// connection, since that is a server bug rather than the kill.
async fn writer(client: Client, mut state: State, mut next_batch: i64, seed: u64) -> WriterOutcome {
    let mut rng = StdRng::seed_from_u64(seed);
    for writes in 0..WRITES_PER_ROUND_MAX {
        let existing: Vec<i64> = state.events.keys().copied().collect();
        let op = match rng.gen_range(0..10) {
            0..=3 => {
                next_batch += 1;
                Op::InsertTxn {
                    batch: next_batch,
                    n: rng.gen_range(1..=20),
                }
            }
            4..=6 => {
                next_batch += 1;
                Op::InsertRows {
                    batch: next_batch,
                    n: rng.gen_range(1..=20),
                }
            }
            7 | 8 if !existing.is_empty() => {
                let batch = existing[rng.gen_range(0..existing.len())];
                Op::Update {
                    batch,
                    payload: format!("u{}", rng.gen_range(0..1000)),
                }
            }
            _ if !existing.is_empty() => Op::Delete {
                batch: existing[rng.gen_range(0..existing.len())],
            },
            _ => {
                next_batch += 1;
                Op::InsertRows {
                    batch: next_batch,
                    n: 1,
                }
            }
        };
        for sql in op.statements() {
            if let Err(e) = client.simple_query(&sql).await {
                let lost_connection = match e.code() {
                    None => true,
                    // 08: connection exception; 57: operator intervention (shutdown).
                    Some(code) => code.code().starts_with("08") || code.code().starts_with("57"),
                };
                assert!(
                    lost_connection,
                    "a write failed while the server was up (seed {seed}):\n{sql}\n{}",
                    common::describe_error(&e)
                );
                return WriterOutcome {
                    acknowledged: state,
                    in_flight: Some(op),
                    next_batch,
                    writes,
                };
            }
        }
        op.apply(&mut state);
    }
    WriterOutcome {
        acknowledged: state,
        in_flight: None,
        next_batch,
        writes: WRITES_PER_ROUND_MAX,
    }
}

/// The state the server holds.
async fn read_state(client: &Client) -> State {
    let mut state = State::default();
    let rows = query_rows(
        client,
        "SELECT batch, count(*), min(payload), max(payload) FROM events GROUP BY batch",
    )
    .await
    .expect("reading events");
    for row in rows {
        let batch: i64 = row[0]
            .as_deref()
            .expect("batch")
            .parse()
            .expect("batch is a number");
        let count: usize = row[1]
            .as_deref()
            .expect("count")
            .parse()
            .expect("count is a number");
        let (lo, hi) = (
            row[2].clone().unwrap_or_default(),
            row[3].clone().unwrap_or_default(),
        );
        assert_eq!(
            lo, hi,
            "batch {batch} has mixed payloads {lo:?} and {hi:?}: an UPDATE was applied partially"
        );
        state.events.insert(batch, (count, lo));
    }
    for row in query_rows(client, "SELECT batch, n FROM batches")
        .await
        .expect("reading batches")
    {
        let batch: i64 = row[0]
            .as_deref()
            .expect("batch")
            .parse()
            .expect("batch is a number");
        let n: usize = row[1]
            .as_deref()
            .expect("n")
            .parse()
            .expect("n is a number");
        assert!(
            state.batches.insert(batch, n).is_none(),
            "batch {batch} is recorded twice in batches"
        );
    }
    state
}

/// The batches on which two states differ, as `expected -> actual` lines (at most 20).
fn state_diff(expected: &State, actual: &State) -> String {
    let mut lines = Vec::new();
    let batches: std::collections::BTreeSet<i64> = expected
        .events
        .keys()
        .chain(actual.events.keys())
        .chain(expected.batches.keys())
        .chain(actual.batches.keys())
        .copied()
        .collect();
    for batch in batches {
        let (e, a) = (expected.events.get(&batch), actual.events.get(&batch));
        if e != a {
            lines.push(format!(
                "  events of batch {batch}: expected {e:?}, actual {a:?} ((rows, payload))"
            ));
        }
        let (e, a) = (expected.batches.get(&batch), actual.batches.get(&batch));
        if e != a {
            lines.push(format!(
                "  batches row {batch}: expected {e:?}, actual {a:?}"
            ));
        }
    }
    let more = lines.len().saturating_sub(20);
    lines.truncate(20);
    if more > 0 {
        lines.push(format!("  ... and {more} more"));
    }
    lines.join("\n")
}

/// Compares every view on Eddy with Postgres computing it over Eddy's restored tables.
async fn check_views_against_postgres(eddy: &Client, context: &str) {
    let pg = Postgres::start().unwrap_or_else(|e| panic!("starting postgres: {e:#}"));
    let oracle = pg.connect().await.expect("connect to postgres");
    for ddl in SCHEMA {
        oracle
            .batch_execute(ddl)
            .await
            .expect("creating the oracle's tables");
    }
    for table in ["events", "batches"] {
        let rows = query_rows(eddy, &format!("SELECT * FROM {table}"))
            .await
            .expect("reading a table");
        for chunk in rows.chunks(500) {
            let values: Vec<String> = chunk
                .iter()
                .map(|row| {
                    let literals: Vec<String> =
                        row.iter().map(|v| sql_literal(v.as_deref())).collect();
                    format!("({})", literals.join(", "))
                })
                .collect();
            oracle
                .batch_execute(&format!("INSERT INTO {table} VALUES {}", values.join(", ")))
                .await
                .expect("copying rows into the oracle");
        }
    }
    let mut report = String::new();
    for (name, query) in VIEWS {
        oracle
            .batch_execute(&format!("CREATE VIEW {name} AS {query}"))
            .await
            .expect("creating an oracle view");
        let expected: Vec<TextRow> = query_rows(&oracle, query).await.expect("oracle query");
        match query_rows(eddy, &format!("SELECT * FROM {name}")).await {
            Ok(actual) => {
                if let Some(diff) = diff_rows(&expected, &actual) {
                    report.push_str(&format!("\n== {name} ({query}):\n{diff}\n"));
                }
            }
            Err(e) => report.push_str(&format!("\n== {name}: SELECT failed: {e:#}\n")),
        }
    }
    assert!(
        report.is_empty(),
        "{context}: views disagree with postgres over the restored tables:{report}"
    );
}

async fn create_schema(client: &Client) {
    for ddl in SCHEMA {
        client
            .batch_execute(ddl)
            .await
            .unwrap_or_else(|e| panic!("{ddl}: {}", common::describe_error(&e)));
    }
    for (name, query) in VIEWS {
        let ddl = format!("CREATE MATERIALIZED VIEW {name} AS {query}");
        client
            .batch_execute(&ddl)
            .await
            .unwrap_or_else(|e| panic!("{ddl}: {}", common::describe_error(&e)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_writes_loses_no_acknowledged_write() {
    let seed: u64 = match std::env::var("RESTART_SEED") {
        Ok(text) => text.parse().expect("RESTART_SEED must be a u64"),
        Err(_) => rand::thread_rng().gen(),
    };
    println!("restart: seed {seed} (reproduce with RESTART_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut eddy = common::start_eddy(2);
    create_schema(&eddy.connect().await.expect("connect")).await;

    let mut state = State::default();
    let mut next_batch = 0;
    for round in 0..KILL_ROUNDS {
        let context = format!("seed {seed} (RESTART_SEED={seed}), round {round}");
        let client = eddy.connect().await.expect("connect");
        let writer = tokio::spawn(writer(
            client,
            state.clone(),
            next_batch,
            seed.wrapping_add(round as u64),
        ));
        tokio::time::sleep(Duration::from_millis(rng.gen_range(300..1500))).await;
        eddy.kill9().expect("kill -9");
        let outcome = writer.await.expect("the writer task");
        println!(
            "{context}: {} writes acknowledged before the kill",
            outcome.writes
        );

        eddy.restart()
            .unwrap_or_else(|e| panic!("{context}: restart after kill -9 failed: {e:#}"));
        let client = eddy.connect().await.expect("connect after restart");
        let actual = read_state(&client).await;
        let before = outcome.acknowledged.clone();
        let mut after = before.clone();
        if let Some(op) = &outcome.in_flight {
            op.apply(&mut after);
        }
        assert!(
            actual == before || actual == after,
            "{context}: after kill -9 and restart the tables hold neither the acknowledged writes \
             nor those plus the in-flight write {:?}\n\
             differences from the acknowledged writes:\n{}\n\
             differences from the acknowledged writes plus the in-flight one:\n{}",
            outcome.in_flight,
            state_diff(&before, &actual),
            state_diff(&after, &actual)
        );
        check_views_against_postgres(&client, &context).await;
        state = actual;
        next_batch = outcome.next_batch;
    }
}

#[tokio::test]
async fn sigterm_stop_and_restart_keeps_everything() {
    let mut eddy = common::start_eddy(2);
    let client = eddy.connect().await.expect("connect");
    create_schema(&client).await;
    let mut state = State::default();
    for (i, op) in [
        Op::InsertTxn { batch: 1, n: 5 },
        Op::InsertRows { batch: 2, n: 3 },
        Op::InsertTxn { batch: 3, n: 2 },
        Op::Update {
            batch: 2,
            payload: "changed".to_string(),
        },
        Op::Delete { batch: 3 },
    ]
    .into_iter()
    .enumerate()
    {
        for sql in op.statements() {
            client
                .simple_query(&sql)
                .await
                .unwrap_or_else(|e| panic!("op {i}: {sql}: {}", common::describe_error(&e)));
        }
        op.apply(&mut state);
    }
    assert_eq!(read_state(&client).await, state);
    client
        .batch_execute(
            "CREATE TABLE keyed (id bigint PRIMARY KEY); INSERT INTO keyed VALUES (1), (2)",
        )
        .await
        .expect("create a table with a primary key");
    drop(client);

    for round in 0..2 {
        eddy.stop()
            .unwrap_or_else(|e| panic!("round {round}: SIGTERM stop: {e:#}"));
        eddy.restart()
            .unwrap_or_else(|e| panic!("round {round}: restart: {e:#}"));
        let client = eddy.connect().await.expect("connect after restart");
        assert_eq!(
            read_state(&client).await,
            state,
            "round {round}: tables after a clean restart"
        );
        check_views_against_postgres(&client, &format!("clean restart round {round}")).await;
        // The primary key is still enforced, over the restored rows.
        let err = client
            .simple_query("INSERT INTO keyed VALUES (2)")
            .await
            .expect_err("a duplicate key after a restart");
        assert_eq!(
            err.as_db_error().map(|e| e.code().code()),
            Some("23505"),
            "round {round}: {}",
            common::describe_error(&err)
        );
        // The restarted server accepts new writes and new views.
        let op = Op::InsertTxn {
            batch: 10 + round,
            n: 4,
        };
        for sql in op.statements() {
            client
                .simple_query(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {}", common::describe_error(&e)));
        }
        op.apply(&mut state);
        let name = format!("v_after_restart_{round}");
        client
            .batch_execute(&format!(
                "CREATE MATERIALIZED VIEW {name} AS SELECT count(*) AS n FROM events"
            ))
            .await
            .unwrap_or_else(|e| panic!("creating {name}: {}", common::describe_error(&e)));
        let expected: usize = state.events.values().map(|(n, _)| n).sum();
        let rows = query_rows(&client, &format!("SELECT n FROM {name}"))
            .await
            .expect("read the new view");
        assert_eq!(rows, vec![vec![Some(expected.to_string())]], "{name}");
    }
    // The views created after the restarts survive a restart too.
    eddy.stop().expect("final stop");
    eddy.restart().expect("final restart");
    let client = eddy.connect().await.expect("connect");
    let rows = query_rows(&client, "SELECT n FROM v_after_restart_0")
        .await
        .expect("read v_after_restart_0");
    let expected: usize = state.events.values().map(|(n, _)| n).sum();
    assert_eq!(rows, vec![vec![Some(expected.to_string())]]);
    eddy.stop().expect("the last stop exits 0");
}

/// A table's DEFAULT expressions and CHECK constraints come back after `kill -9`
/// (they are read from its logged statement).
#[tokio::test]
async fn column_defaults_and_checks_survive_a_restart() {
    let mut eddy = common::start_eddy(1);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE t (id int CHECK (id > 0), kind text DEFAULT 'new', at date DEFAULT current_date);
             INSERT INTO t (id) VALUES (1);",
        )
        .await
        .expect("setup");
    eddy.kill9().expect("kill -9");
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute("INSERT INTO t (id) VALUES (2)")
        .await
        .expect("insert");
    let rows = query_rows(
        &client,
        "SELECT id, kind, at = current_date FROM t ORDER BY id",
    )
    .await
    .expect("read");
    let expected: Vec<TextRow> = vec![
        vec![Some("1".into()), Some("new".into()), Some("t".into())],
        vec![Some("2".into()), Some("new".into()), Some("t".into())],
    ];
    assert_eq!(rows, expected);
    let err = client
        .batch_execute("INSERT INTO t (id) VALUES (-1)")
        .await
        .expect_err("a failed check");
    assert_eq!(err.code().map(|c| c.code()), Some("23514"), "{err:?}");
}

/// UNIQUE constraints are enforced after `kill -9` with the names they were created
/// with (a name numbered because a relation had it stays numbered once that relation
/// is gone), the index of existing keys rebuilt from the log, NULLs still distinct.
#[tokio::test]
async fn unique_constraints_survive_a_restart() {
    let mut eddy = common::start_eddy(1);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE u_a_key (x int);
             CREATE TABLE u (id int PRIMARY KEY, a int UNIQUE, b text, c text, UNIQUE (b, c));
             DROP TABLE u_a_key;
             INSERT INTO u VALUES (1, 10, 'x', 'y'), (2, NULL, 'x', NULL), (3, NULL, 'x', NULL);",
        )
        .await
        .expect("setup");
    eddy.kill9().expect("kill -9");
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    let violation = |sql: &'static str| {
        let client = &client;
        async move {
            let err = client.batch_execute(sql).await.expect_err(sql);
            let db = err.as_db_error().expect("a server error");
            assert_eq!(db.code().code(), "23505", "{sql}: {db:?}");
            (db.message().to_string(), db.detail().map(str::to_string))
        }
    };
    assert_eq!(
        violation("INSERT INTO u VALUES (4, 10, 'z', 'z')").await,
        (
            "duplicate key value violates unique constraint \"u_a_key1\"".to_string(),
            Some("Key (a)=(10) already exists.".to_string())
        )
    );
    assert_eq!(
        violation("INSERT INTO u VALUES (4, 11, 'x', 'y')").await.0,
        "duplicate key value violates unique constraint \"u_b_c_key\""
    );
    client
        .batch_execute(
            "INSERT INTO u VALUES (4, NULL, 'x', NULL);
             INSERT INTO u VALUES (5, 12, 'z', 'z') ON CONFLICT (a) DO NOTHING;
             INSERT INTO u VALUES (6, 12, 'w', 'w') ON CONFLICT (a) DO UPDATE SET b = EXCLUDED.b;",
        )
        .await
        .expect("NULLs and upserts");
    let rows = query_rows(&client, "SELECT id, b FROM u WHERE a = 12")
        .await
        .expect("read");
    assert_eq!(
        rows,
        vec![vec![Some("5".to_string()), Some("w".to_string())]]
    );
}

/// `ALTER TABLE` survives `kill -9`: a renamed table (and the view reading it, whose
/// text now names the new name), renamed, added and dropped columns with the rows
/// rewritten, a materialized view rebuilt over an added column, the serial default
/// and the constraints' names; then the same again after a restart that replays a
/// snapshot.
#[tokio::test]
async fn alter_table_survives_a_restart() {
    let mut eddy = common::start_eddy(1);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE items (id serial PRIMARY KEY, name text CHECK (name <> ''), qty int, code text UNIQUE);
             INSERT INTO items (name, qty, code) VALUES ('bolt', 1, 'B'), ('nut', 2, 'N');
             CREATE MATERIALIZED VIEW names AS SELECT name FROM items;",
        )
        .await
        .expect("setup");
    client
        .batch_execute("ALTER TABLE names ADD COLUMN x int")
        .await
        .expect_err("ALTER TABLE of a view");
    client
        .batch_execute(
            "ALTER TABLE items RENAME TO parts;
             CREATE TABLE plain (a int, b text, c int);
             INSERT INTO plain VALUES (1, 'x', 10), (2, 'y', 20);
             ALTER TABLE plain ADD COLUMN d text DEFAULT 'new' NOT NULL;
             ALTER TABLE plain DROP COLUMN b;
             ALTER TABLE plain RENAME COLUMN c TO total;
             CREATE MATERIALIZED VIEW plain_sum AS SELECT sum(total) AS s FROM plain;
             ALTER TABLE plain ADD COLUMN e int DEFAULT 1;
             INSERT INTO plain VALUES (3, 30, 'own', 2);",
        )
        .await
        .expect("alter");
    let check = |client: tokio_postgres::Client| async move {
        client
            .batch_execute("INSERT INTO parts (name, qty, code) VALUES ('pin', 3, 'P')")
            .await
            .expect("insert into the renamed table");
        let names = query_rows(&client, "SELECT name FROM names ORDER BY name")
            .await
            .expect("the view");
        let expected: Vec<TextRow> = ["bolt", "nut", "pin"]
            .iter()
            .map(|n| vec![Some(n.to_string())])
            .collect();
        assert_eq!(names, expected);
        let err = client
            .batch_execute("INSERT INTO parts (name, code) VALUES ('dup', 'B')")
            .await
            .expect_err("a duplicate");
        let db = err.as_db_error().expect("a server error");
        assert_eq!(
            db.message(),
            "duplicate key value violates unique constraint \"items_code_key\""
        );
        let err = client
            .batch_execute("INSERT INTO parts (name) VALUES ('')")
            .await
            .expect_err("a failed check");
        assert!(
            err.as_db_error()
                .expect("a server error")
                .message()
                .contains("\"items_name_check\""),
            "{err:?}"
        );
        let plain = query_rows(&client, "SELECT a, total, d FROM plain ORDER BY a")
            .await
            .expect("plain");
        let row = |a: &str, t: &str, d: &str| {
            vec![
                Some(a.to_string()),
                Some(t.to_string()),
                Some(d.to_string()),
            ]
        };
        assert_eq!(
            plain,
            vec![
                row("1", "10", "new"),
                row("2", "20", "new"),
                row("3", "30", "own")
            ]
        );
        let sum = query_rows(&client, "SELECT s FROM plain_sum")
            .await
            .expect("the view over the altered table");
        assert_eq!(sum, vec![vec![Some("60".to_string())]]);
        client
            .batch_execute("DELETE FROM parts WHERE name = 'pin'")
            .await
            .expect("delete");
    };
    eddy.kill9().expect("kill -9");
    eddy.restart().expect("restart");
    check(eddy.connect().await.expect("connect")).await;
    // Through a snapshot: a clean stop writes one.
    eddy.stop().expect("stop");
    eddy.restart().expect("restart");
    check(eddy.connect().await.expect("connect")).await;
}

/// `CREATE TABLE ... AS` answers `SELECT n`; after `kill -9` the table holds the rows
/// it was loaded with (logged with the table, in one append) and is an ordinary table.
#[tokio::test]
async fn create_table_as_survives_a_restart() {
    let mut eddy = common::start_eddy(1);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute("CREATE TABLE src (id int, v text); INSERT INTO src VALUES (1, 'a'), (2, 'b'), (3, 'c');")
        .await
        .expect("setup");
    let n = client
        .execute(
            "CREATE TABLE copy (k, v) AS SELECT id, v FROM src WHERE id > 1",
            &[],
        )
        .await
        .expect("create table as");
    assert_eq!(n, 2, "the tag is SELECT 2");
    client
        .batch_execute("CREATE TABLE shape AS SELECT * FROM src WITH NO DATA; DROP TABLE src;")
        .await
        .expect("no data, drop the source");
    eddy.kill9().expect("kill -9");
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute("INSERT INTO copy VALUES (4, 'd'); INSERT INTO shape VALUES (5, 'e');")
        .await
        .expect("insert");
    let rows = query_rows(
        &client,
        "SELECT k, v FROM copy UNION ALL SELECT id, v FROM shape ORDER BY 1",
    )
    .await
    .expect("read");
    let expected: Vec<TextRow> = [("2", "b"), ("3", "c"), ("4", "d"), ("5", "e")]
        .iter()
        .map(|(k, v)| vec![Some(k.to_string()), Some(v.to_string())])
        .collect();
    assert_eq!(rows, expected);
}

/// After `kill -9`, a sequence never hands out a value it handed out before (values
/// reserved and unused are skipped, as in Postgres), and a serial column keeps
/// counting; `setval` is kept.
#[tokio::test]
async fn sequences_never_repeat_a_value_after_a_restart() {
    let mut eddy = common::start_eddy(1);
    let mut client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE t (id bigserial PRIMARY KEY, v text);
             CREATE SEQUENCE s INCREMENT BY 5;",
        )
        .await
        .expect("setup");
    let (mut ids, mut values) = (
        std::collections::BTreeSet::new(),
        std::collections::BTreeSet::new(),
    );
    for round in 0..3 {
        for _ in 0..40 {
            let id: i64 = client
                .query_one("INSERT INTO t (v) VALUES ('x') RETURNING id", &[])
                .await
                .expect("insert")
                .get(0);
            assert!(ids.insert(id), "round {round}: id {id} handed out twice");
        }
        let s: i64 = client
            .query_one("SELECT nextval('s')", &[])
            .await
            .expect("nextval")
            .get(0);
        assert!(values.insert(s), "round {round}: s gave {s} twice");
        eddy.kill9().expect("kill -9");
        eddy.restart().expect("restart");
        client = eddy.connect().await.expect("connect");
    }
    let count: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 120);
    client
        .batch_execute("SELECT setval('s', 1000)")
        .await
        .expect("setval");
    eddy.kill9().expect("kill -9");
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    let next: i64 = client
        .query_one("SELECT nextval('s')", &[])
        .await
        .expect("nextval")
        .get(0);
    assert!(next > 1000, "{next}");
}
