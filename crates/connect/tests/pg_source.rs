//! The Postgres CDC source against a real Postgres (eddy-testkit's private cluster,
//! `wal_level=logical`): snapshot under concurrent writes, transactions as batches in
//! commit order, every kind of change, types, TOAST, resume, a Postgres restart, schema
//! changes and the errors of bad setups.
//!
//! The oracle is Postgres itself: after each scenario the rows the source's batches add
//! up to must equal what the upstream tables hold, every row exactly once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use eddy_connect::postgres::{
    discover, drop_slot, Lsn, PgBatch, PgProgress, PgResume, PgSource, PgSourceConfig,
    PgSourceSpec, PgSourceState, PgTable, ReplicaIdentity, TableSelection,
};
use eddy_repr::strconv::format_datum;
use eddy_repr::{Diff, Row, ScalarType, SqlError};
use eddy_testkit::Postgres;
use tokio_postgres::Client;

const WAIT: Duration = Duration::from_secs(30);

struct Upstream {
    pg: Postgres,
    client: Client,
}

impl Upstream {
    async fn start() -> Upstream {
        let pg = Postgres::start().expect("postgres starts");
        let client = pg.connect().await.expect("connect");
        Upstream { pg, client }
    }

    fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.pg.port()
        )
    }

    fn spec(&self, publication: &str, tables: Option<Vec<TableSelection>>) -> PgSourceSpec {
        spec_for(&self.conninfo(), publication, tables).unwrap()
    }

    async fn sql(&self, sql: &str) {
        self.client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The rows of `query`, each one text column, as a multiset.
    async fn rows(&self, query: &str) -> BTreeMap<String, Diff> {
        let mut rows = BTreeMap::new();
        for row in self.client.query(query, &[]).await.unwrap() {
            *rows.entry(row.get::<_, String>(0)).or_insert(0) += 1;
        }
        rows
    }

    async fn current_lsn(&self) -> Lsn {
        let row = self
            .client
            .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
            .await
            .unwrap();
        row.get::<_, String>(0).parse().unwrap()
    }

    async fn slot_confirmed(&self, slot: &str) -> Option<Lsn> {
        let row = self
            .client
            .query_opt(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .unwrap()?;
        Some(row.get::<_, String>(0).parse().unwrap())
    }
}

fn spec_for(
    conninfo: &str,
    publication: &str,
    tables: Option<Vec<TableSelection>>,
) -> Result<PgSourceSpec, SqlError> {
    PgSourceSpec::from_options(
        &[
            ("CONNECTION".to_string(), conninfo.to_string()),
            ("PUBLICATION".to_string(), publication.to_string()),
        ],
        tables,
    )
}

fn config(slot: &str) -> PgSourceConfig {
    let mut config = PgSourceConfig::new(slot, slot);
    config.backoff_max = Duration::from_millis(500);
    config.status_interval = Duration::from_millis(100);
    config.idle_progress_interval = Duration::from_millis(100);
    config
}

/// `a|b|NULL`: a row as upstream's `concat_ws('|', coalesce(col::text, 'NULL'), ...)`.
fn row_text(row: &Row) -> String {
    row.unpack()
        .iter()
        .map(|d| {
            if d.is_null() {
                "NULL".to_string()
            } else {
                format_datum(d, &ScalarType::Text)
            }
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Everything a source sent, applied in order.
#[derive(Default)]
struct Collected {
    /// Per table: row text → count.
    tables: BTreeMap<usize, BTreeMap<String, Diff>>,
    /// Per table: the rows themselves (for a resume).
    rows: BTreeMap<(usize, Row), Diff>,
    batches: Vec<PgBatch>,
    /// Don't confirm batches as they are applied (as a coordinator would, once they
    /// are durable).
    no_confirm: bool,
}

impl Collected {
    fn apply(&mut self, batch: PgBatch) {
        for (table, row, diff) in &batch.updates {
            let rows = self.tables.entry(*table).or_default();
            let text = row_text(row);
            let count = rows.entry(text.clone()).or_insert(0);
            *count += diff;
            assert!(
                *count >= 0,
                "table {table}: row {text} retracted below zero"
            );
            if *count == 0 {
                rows.remove(&text);
            }
            let count = self.rows.entry((*table, row.clone())).or_insert(0);
            *count += diff;
            if *count == 0 {
                self.rows.remove(&(*table, row.clone()));
            }
        }
        self.batches.push(batch);
    }

    fn apply_and_confirm(&mut self, source: &PgSource, batch: PgBatch) {
        let lsn = batch.progress.lsn();
        self.apply(batch);
        if let (Some(lsn), false) = (lsn, self.no_confirm) {
            source.confirm(lsn);
        }
    }

    fn table(&self, table: usize) -> BTreeMap<String, Diff> {
        self.tables.get(&table).cloned().unwrap_or_default()
    }

    fn progress(&self) -> Option<PgProgress> {
        self.batches.last().map(|b| b.progress)
    }

    fn current_rows(&self) -> Vec<(usize, Row)> {
        let mut rows = Vec::new();
        for ((table, row), count) in &self.rows {
            for _ in 0..*count {
                rows.push((*table, row.clone()));
            }
        }
        rows
    }

    /// Receives batches until `done` holds, failing after [`WAIT`].
    async fn until(
        &mut self,
        source: &mut PgSource,
        what: &str,
        done: impl Fn(&Collected) -> bool,
    ) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, source.next_batch()).await {
                Ok(Some(batch)) => self.apply_and_confirm(source, batch),
                Ok(None) => panic!("source stopped waiting for {what}: {:?}", source.status()),
                Err(_) => panic!(
                    "timed out waiting for {what}: status {:?}, last progress {:?}",
                    source.status(),
                    self.progress()
                ),
            }
        }
    }

    /// Receives batches until table `table` equals `expected`.
    async fn until_equal(
        &mut self,
        source: &mut PgSource,
        table: usize,
        expected: &BTreeMap<String, Diff>,
    ) {
        let deadline = Instant::now() + WAIT;
        while &self.table(table) != expected {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, source.next_batch()).await {
                Ok(Some(batch)) => self.apply_and_confirm(source, batch),
                _ => {
                    let got = self.table(table);
                    let missing: Vec<_> = expected
                        .iter()
                        .filter(|(k, v)| got.get(*k) != Some(v))
                        .take(5)
                        .collect();
                    let extra: Vec<_> = got
                        .iter()
                        .filter(|(k, v)| expected.get(*k) != Some(v))
                        .take(5)
                        .collect();
                    panic!(
                        "table {table} never equalled upstream: {} rows vs {} upstream; \
                         missing {missing:?}, extra {extra:?}; status {:?}",
                        got.len(),
                        expected.len(),
                        source.status()
                    );
                }
            }
        }
    }
}

fn snapshot_done(c: &Collected) -> bool {
    matches!(c.progress(), Some(PgProgress::Lsn(_)))
}

async fn start(
    up: &Upstream,
    publication: &str,
    slot: &str,
    resume: PgResume,
) -> (PgSource, Vec<PgTable>) {
    let spec = up.spec(publication, None);
    let tables = discover(&spec).await.expect("discover");
    let source = PgSource::start(spec, tables.clone(), config(slot), resume).unwrap();
    (source, tables)
}

/// A writer that changes `big` in small transactions until told to stop.
async fn churn(conninfo: String, stop: tokio::sync::watch::Receiver<bool>) -> u64 {
    let (client, connection) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut i: u64 = 0;
    while !*stop.borrow() {
        let id = (i * 7919) % 20_000;
        // Every transaction also appends to `events`, which has no key: a change both
        // in the snapshot and in the stream would show there as a duplicate row.
        let sql = match i % 4 {
            0 => format!("UPDATE big SET v = 'u{i}', n = n + 1 WHERE id = {id}"),
            1 => format!("INSERT INTO big VALUES ({}, 'new{i}', 0)", 100_000 + i),
            2 => format!("DELETE FROM big WHERE id = {id}"),
            _ => format!(
                "BEGIN; UPDATE big SET id = {} WHERE id = {}; \
                 INSERT INTO big VALUES ({}, 'tx{i}', 1); COMMIT",
                200_000 + i,
                (id + 1) % 20_000,
                300_000 + i
            ),
        };
        let sql = match sql.strip_suffix("; COMMIT") {
            Some(body) => format!("{body}; INSERT INTO events VALUES ({i}); COMMIT"),
            None => format!("BEGIN; {sql}; INSERT INTO events VALUES ({i}); COMMIT"),
        };
        client.batch_execute(&sql).await.unwrap();
        i += 1;
    }
    i
}

const BIG_ROWS: &str = "SELECT concat_ws('|', id, coalesce(v, 'NULL'), n) FROM big";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_meets_the_stream_under_concurrent_writes() {
    let up = Upstream::start().await;
    up.sql(
        "CREATE TABLE big (id int PRIMARY KEY, v text, n int NOT NULL); \
         INSERT INTO big SELECT i, 'v' || i, 0 FROM generate_series(0, 19999) i; \
         CREATE TABLE events (seq bigint); ALTER TABLE events REPLICA IDENTITY FULL; \
         CREATE PUBLICATION p FOR ALL TABLES",
    )
    .await;
    let (stop_writer, stop_rx) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(churn(up.conninfo(), stop_rx));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let spec = up.spec("p", None);
    let tables = discover(&spec).await.unwrap();
    let mut cfg = config("snap");
    cfg.batch_rows_max = 5000;
    let mut source = PgSource::start(spec, tables, cfg, PgResume::default()).unwrap();
    let mut got = Collected::default();
    got.until(&mut source, "the snapshot", snapshot_done).await;
    // The snapshot came in several batches, all but the last marked unfinished.
    let snapshot_batches = got.batches.len();
    assert!(snapshot_batches >= 4, "{snapshot_batches} snapshot batches");
    assert!(got.batches[..snapshot_batches - 1]
        .iter()
        .all(|b| matches!(b.progress, PgProgress::Snapshot { .. })));
    assert!(source.status().snapshot_rows >= 20_000);
    // Let the writer go on a little after the snapshot, then stop it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_writer.send(true).unwrap();
    let writes = writer.await.unwrap();
    assert!(writes > 20, "the writer made only {writes} transactions");

    let expected = up.rows(BIG_ROWS).await;
    got.until_equal(&mut source, 0, &expected).await;
    assert!(got.table(0).values().all(|&count| count == 1));
    let events = up.rows("SELECT seq::text FROM events").await;
    assert_eq!(events.len() as u64, writes);
    got.until_equal(&mut source, 1, &events).await;
    // Every transaction after the snapshot was one batch, in commit order.
    let lsns: Vec<Lsn> = got
        .batches
        .iter()
        .filter_map(|b| b.progress.lsn())
        .collect();
    assert!(lsns.windows(2).all(|w| w[0] < w[1]), "{lsns:?}");
    assert!(source.status().transactions_total > 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_arrive_whole_in_commit_order() {
    let up = Upstream::start().await;
    up.sql("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION p FOR TABLE t")
        .await;
    let (mut source, _) = start(&up, "p", "order", PgResume::default()).await;
    let mut got = Collected::default();
    got.until(&mut source, "the snapshot", snapshot_done).await;
    let before = got.batches.len();

    // A begins first but commits last.
    let a = up.pg.connect().await.unwrap();
    a.batch_execute("BEGIN; INSERT INTO t VALUES (1, 'a1'), (2, 'a2')")
        .await
        .unwrap();
    up.sql(
        "BEGIN; INSERT INTO t VALUES (10, 'b'); UPDATE t SET v = 'b2' WHERE id = 10; \
            INSERT INTO t VALUES (11, 'x'); DELETE FROM t WHERE id = 11; COMMIT",
    )
    .await;
    a.batch_execute("UPDATE t SET v = 'a3' WHERE id = 2; COMMIT")
        .await
        .unwrap();
    got.until(&mut source, "two transactions", |c| {
        c.batches.len() >= before + 2
    })
    .await;
    let texts = |b: &PgBatch| -> Vec<(String, Diff)> {
        let mut u: Vec<_> = b
            .updates
            .iter()
            .map(|(_, r, d)| (row_text(r), *d))
            .collect();
        u.sort();
        u
    };
    let (b, a) = (&got.batches[before], &got.batches[before + 1]);
    // B: its four statements in one batch, consolidated to one row.
    assert_eq!(texts(b), vec![("10|b2".into(), 1)]);
    assert_eq!(texts(a), vec![("1|a1".into(), 1), ("2|a3".into(), 1)]);
    assert!(b.progress.lsn().unwrap() < a.progress.lsn().unwrap());
    assert_eq!(got.batches.len(), before + 2, "no other batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_change_and_type() {
    let up = Upstream::start().await;
    up.sql(
        "CREATE TYPE mood AS ENUM ('sad', 'happy'); \
         CREATE DOMAIN posint AS int CHECK (VALUE > 0); \
         CREATE TABLE keyed (id int PRIMARY KEY, v text, body text); \
         CREATE TABLE full_rows (a int, b text); \
         ALTER TABLE full_rows REPLICA IDENTITY FULL; \
         CREATE TABLE typed (id bigint PRIMARY KEY, u uuid, m mood, arr int[], farr float8[], \
             num numeric(10,2), j jsonb, js json, b bytea, ts timestamptz, t timestamp, d date, \
             f float8, bo bool, vc varchar(5), p posint, mon money, pt point); \
         INSERT INTO keyed VALUES (1, 'one', NULL), (2, 'two', NULL); \
         INSERT INTO full_rows VALUES (1, 'x'), (1, 'x'), (2, 'y'); \
         CREATE PUBLICATION p FOR ALL TABLES",
    )
    .await;
    let typed_row = |id: i32| {
        format!(
            "INSERT INTO typed VALUES ({id}, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'happy', \
             '{{1,NULL,3}}', '{{1.5,2}}', 12.34, '{{\"b\": [1, 2], \"a\": null}}', '{{\"k\":  1}}', \
             '\\x00ff', '2024-02-29 12:34:56.789+02', '2024-02-29 01:02:03', '2024-02-29', \
             0.1, true, 'abc', 7, 12.5, '(1,2)')"
        )
    };
    up.sql(&typed_row(1)).await;
    let (mut source, tables) = start(&up, "p", "kinds", PgResume::default()).await;
    let index = |name: &str| tables.iter().position(|t| t.name == name).unwrap();
    let (keyed, full, typed) = (index("keyed"), index("full_rows"), index("typed"));
    assert_eq!(tables[full].replica_identity, ReplicaIdentity::Full);
    assert_eq!(tables[keyed].primary_key, vec![0]);
    let types: Vec<ScalarType> = tables[typed]
        .columns
        .iter()
        .map(|c| c.column_type.scalar_type)
        .collect();
    assert_eq!(types[1], ScalarType::Uuid);
    assert_eq!(types[2], ScalarType::Text, "enum as text");
    assert_eq!(types[3], ScalarType::Int32Array);
    assert_eq!(types[4], ScalarType::Text, "float8[] as text");
    assert_eq!(types[15], ScalarType::Int32, "a domain as its base type");
    assert_eq!(
        &types[16..],
        &[ScalarType::Text, ScalarType::Text],
        "money, point as text"
    );

    let mut got = Collected::default();
    got.until(&mut source, "the snapshot", snapshot_done).await;

    // TOAST: a value stored out of line, then an update of another column.
    let big = "(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 200) i)";
    up.sql(&format!("UPDATE keyed SET body = {big} WHERE id = 1"))
        .await;
    up.sql("UPDATE keyed SET v = 'uno' WHERE id = 1").await;
    // A primary-key change, a delete, an insert.
    up.sql(
        "UPDATE keyed SET id = 20 WHERE id = 2; DELETE FROM keyed WHERE id = 1; \
            INSERT INTO keyed VALUES (3, 'three', {big})"
            .replace("{big}", big)
            .as_str(),
    )
    .await;
    up.sql("UPDATE keyed SET v = 'tres' WHERE id = 3; UPDATE keyed SET id = 30 WHERE id = 3")
        .await;
    // REPLICA IDENTITY FULL without a key: duplicates, one of them updated.
    up.sql(
        "UPDATE full_rows SET b = 'z' WHERE ctid = (SELECT min(ctid) FROM full_rows WHERE a = 1); \
            DELETE FROM full_rows WHERE a = 2",
    )
    .await;
    // The same typed values through the stream as through the snapshot.
    up.sql(&typed_row(2)).await;

    let keyed_rows =
        "SELECT concat_ws('|', id, coalesce(v, 'NULL'), coalesce(body, 'NULL')) FROM keyed";
    let expected = up.rows(keyed_rows).await;
    got.until_equal(&mut source, keyed, &expected).await;
    let expected = up.rows("SELECT concat_ws('|', a, b) FROM full_rows").await;
    assert_eq!(expected.get("1|x"), Some(&1));
    got.until_equal(&mut source, full, &expected).await;
    got.until(&mut source, "the second typed row", |c| {
        c.table(typed).len() == 2
    })
    .await;
    let typed_rows: Vec<&String> = got.tables[&typed].keys().collect();
    let (one, two) = (typed_rows[0], typed_rows[1]);
    assert_eq!(
        one.strip_prefix("1|"),
        two.strip_prefix("2|"),
        "snapshot and stream agree"
    );
    assert_eq!(
        one,
        "1|a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11|happy|{1,NULL,3}|{1.5,2}|12.34|\
         {\"a\": null, \"b\": [1, 2]}|{\"k\": 1}|\\x00ff|2024-02-29 10:34:56.789+00|\
         2024-02-29 01:02:03|2024-02-29|0.1|t|abc|7|$12.50|(1,2)"
    );

    // TRUNCATE retracts every row of the table.
    up.sql("TRUNCATE keyed").await;
    got.until(&mut source, "the truncate", |c| c.table(keyed).is_empty())
        .await;
    assert!(!got.table(full).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_loses_and_doubles_nothing() {
    let up = Upstream::start().await;
    up.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v text); \
         INSERT INTO t SELECT i, 's' || i FROM generate_series(1, 5000) i; \
         CREATE PUBLICATION p FOR TABLE t",
    )
    .await;
    let rows = "SELECT concat_ws('|', id, v) FROM t";

    // 1. Stopped mid-snapshot, after one batch was recorded: the snapshot starts over.
    let spec = up.spec("p", None);
    let tables = discover(&spec).await.unwrap();
    let mut cfg = config("resume");
    cfg.batch_rows_max = 1000;
    cfg.channel_batches_max = 1;
    let mut source = PgSource::start(
        spec.clone(),
        tables.clone(),
        cfg.clone(),
        PgResume::default(),
    )
    .unwrap();
    let mut recorded = Collected::default();
    recorded
        .until(&mut source, "a snapshot batch", |c| !c.batches.is_empty())
        .await;
    assert!(matches!(
        recorded.progress(),
        Some(PgProgress::Snapshot { .. })
    ));
    source.stop();
    // Rows of the recorded batch change and go away: a restart that only re-copied
    // (without retracting the recorded rows) would keep the deleted ones.
    up.sql("UPDATE t SET v = 'changed' WHERE id <= 10; DELETE FROM t WHERE id BETWEEN 11 AND 20")
        .await;
    let resume = PgResume {
        progress: recorded.progress(),
        current_rows: recorded.current_rows(),
    };
    let mut source = PgSource::start(spec.clone(), tables.clone(), cfg.clone(), resume).unwrap();
    let mut got = recorded;
    got.until(&mut source, "the second snapshot", snapshot_done)
        .await;
    let expected = up.rows(rows).await;
    got.until_equal(&mut source, 0, &expected).await;
    assert!(got.table(0).values().all(|&c| c == 1));

    // 2. Streaming: batches 1..=3 are recorded and confirmed; 4 and 5 were sent but
    // not recorded when the source stops.
    for i in 1..=5 {
        up.sql(&format!(
            "UPDATE t SET v = 'round{i}' WHERE id = {i}; INSERT INTO t VALUES ({}, 'n')",
            10_000 + i
        ))
        .await;
    }
    let base = got.batches.len();
    got.no_confirm = true;
    got.until(&mut source, "five transactions", |c| {
        c.batches.len() >= base + 5
    })
    .await;
    let mut recorded = Collected::default();
    for batch in &got.batches[..base + 3] {
        recorded.apply(batch.clone());
    }
    let durable = recorded.progress().unwrap().lsn().unwrap();
    source.confirm(durable);
    // The slot moves to what was confirmed, never past it.
    let deadline = Instant::now() + WAIT;
    while up.slot_confirmed("resume").await != Some(durable) {
        assert!(
            Instant::now() < deadline,
            "slot at {:?}, confirmed {durable}",
            up.slot_confirmed("resume").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    source.stop();
    assert_eq!(up.slot_confirmed("resume").await, Some(durable));
    up.sql("UPDATE t SET v = 'while down' WHERE id = 6; DELETE FROM t WHERE id = 7")
        .await;

    let resume = PgResume {
        progress: recorded.progress(),
        current_rows: recorded.current_rows(),
    };
    let mut source = PgSource::start(spec.clone(), tables.clone(), cfg.clone(), resume).unwrap();
    let mut again = recorded;
    again.no_confirm = false;
    let expected = up.rows(rows).await;
    again.until_equal(&mut source, 0, &expected).await;
    assert!(again.table(0).values().all(|&c| c == 1));
    // Nothing recorded came again: the first batch after the resume is transaction 4.
    assert_eq!(again.batches[base + 3], got.batches[base + 3]);
    source.stop();

    // 3. Resuming without the slot is a failure that says what was lost.
    assert!(drop_slot(&spec, "resume").await.unwrap());
    assert!(!drop_slot(&spec, "resume").await.unwrap());
    let resume = PgResume {
        progress: Some(PgProgress::Lsn(durable)),
        current_rows: Vec::new(),
    };
    let mut source = PgSource::start(spec, tables, cfg, resume).unwrap();
    assert!(source.next_batch().await.is_none());
    match source.status().state {
        PgSourceState::Failed { error } => {
            assert!(
                error.contains("replication slot \"resume\" does not exist upstream"),
                "{error}"
            )
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_mid_stream() {
    let up = Upstream::start().await;
    up.sql("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION p FOR TABLE t")
        .await;
    let (mut source, _) = start(&up, "p", "restart", PgResume::default()).await;
    let mut got = Collected::default();
    got.until(&mut source, "the snapshot", snapshot_done).await;
    up.sql("INSERT INTO t SELECT i, 'a' FROM generate_series(1, 100) i")
        .await;
    got.until(&mut source, "the first rows", |c| c.table(0).len() == 100)
        .await;

    let status = source.status_handle();
    let cluster_root = up.pg.cluster().root().to_path_buf();
    let restart = tokio::task::spawn_blocking({
        let port = up.pg.port();
        move || {
            let bins = eddy_testkit::PgBinaries::locate().unwrap();
            let cluster = eddy_testkit::Cluster::attach(&bins, &cluster_root)
                .unwrap()
                .unwrap();
            assert_eq!(cluster.port(), port);
            cluster.restart("fast").unwrap();
        }
    });
    let mut saw_retrying = false;
    while !restart.is_finished() {
        saw_retrying |= matches!(status.get().state, PgSourceState::Retrying { .. });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    restart.await.unwrap();
    let client = up.pg.connect().await.unwrap();
    client
        .batch_execute("UPDATE t SET v = 'b' WHERE id <= 50; DELETE FROM t WHERE id > 90")
        .await
        .unwrap();
    let expected = {
        let mut rows = BTreeMap::new();
        for row in client
            .query("SELECT concat_ws('|', id, v) FROM t", &[])
            .await
            .unwrap()
        {
            rows.insert(row.get::<_, String>(0), 1);
        }
        rows
    };
    got.until_equal(&mut source, 0, &expected).await;
    saw_retrying |= status.get().state != PgSourceState::Running;
    assert!(saw_retrying, "the source never said it was retrying");
    assert_eq!(status.get().state, PgSourceState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_and_dropped_columns() {
    let up = Upstream::start().await;
    up.sql(
        "CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY); \
         CREATE PUBLICATION p FOR TABLE a, b",
    )
    .await;
    let (mut source, tables) = start(&up, "p", "schema", PgResume::default()).await;
    assert_eq!(
        tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let mut got = Collected::default();
    got.until(&mut source, "the snapshot", snapshot_done).await;

    // An added column: the table keeps its columns and flows on.
    up.sql("ALTER TABLE a ADD COLUMN extra text; INSERT INTO a VALUES (1, 'x', 'e')")
        .await;
    got.until(&mut source, "the insert", |c| {
        c.table(0).contains_key("1|x")
    })
    .await;
    assert_eq!(
        source.status().tables[0].ignored_columns,
        vec!["extra".to_string()]
    );
    assert_eq!(source.status().tables[0].error, None);

    // A dropped column: that table stops with an error, the other one flows on.
    up.sql("ALTER TABLE a DROP COLUMN v; INSERT INTO a VALUES (2, 'e2'); INSERT INTO b VALUES (1)")
        .await;
    got.until(&mut source, "b's row", |c| c.table(1).contains_key("1"))
        .await;
    let errors: Vec<_> = got.batches.iter().flat_map(|b| b.errors.clone()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].table, 0);
    assert!(
        errors[0].message.contains("its columns changed upstream"),
        "{}",
        errors[0].message
    );
    assert_eq!(
        source.status().tables[0].error.as_deref(),
        Some(errors[0].message.as_str())
    );
    up.sql("INSERT INTO a VALUES (3, 'e3'); INSERT INTO b VALUES (2)")
        .await;
    got.until(&mut source, "b's second row", |c| {
        c.table(1).contains_key("2")
    })
    .await;
    assert_eq!(got.table(0).len(), 1, "a is stopped: {:?}", got.table(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_setups_are_clear_errors() {
    let up = Upstream::start().await;
    up.sql(
        "CREATE TABLE keyless (a int, b text); CREATE TABLE nothing (id int PRIMARY KEY); \
         ALTER TABLE nothing REPLICA IDENTITY NOTHING; CREATE TABLE ok (id int PRIMARY KEY); \
         CREATE PUBLICATION keyless_pub FOR TABLE keyless; \
         CREATE PUBLICATION nothing_pub FOR TABLE nothing; \
         CREATE PUBLICATION ok_pub FOR TABLE ok; \
         CREATE ROLE reader LOGIN; GRANT SELECT ON ok TO reader",
    )
    .await;
    let error = |spec: PgSourceSpec| async move { discover(&spec).await.unwrap_err() };
    let check = |err: SqlError, code: &str, message: &str| {
        assert_eq!(err.sqlstate, code, "{err:?}");
        assert!(err.message.contains(message), "{err:?}");
    };
    check(
        error(up.spec("missing", None)).await,
        "42704",
        "publication \"missing\" does not exist",
    );
    check(
        error(up.spec("keyless_pub", None)).await,
        "55000",
        "table \"public.keyless\" has no primary key and REPLICA IDENTITY DEFAULT: its updates and deletes cannot be matched",
    );
    check(
        error(up.spec("nothing_pub", None)).await,
        "55000",
        "REPLICA IDENTITY NOTHING",
    );
    let elsewhere = TableSelection {
        schema: None,
        name: "keyless".into(),
        alias: None,
    };
    check(
        error(up.spec("ok_pub", Some(vec![elsewhere]))).await,
        "42P01",
        "table \"public.keyless\" is not in publication \"ok_pub\"",
    );
    let reader = format!(
        "host=127.0.0.1 port={} user=reader dbname=postgres",
        up.pg.port()
    );
    check(
        error(spec_for(&reader, "ok_pub", None).unwrap()).await,
        "42501",
        "role \"reader\" has neither REPLICATION nor SUPERUSER",
    );
    let closed = format!(
        "host=127.0.0.1 port={} user=postgres connect_timeout=2",
        eddy_testkit::free_port().unwrap()
    );
    check(
        error(spec_for(&closed, "ok_pub", None).unwrap()).await,
        "08001",
        "cannot connect to the upstream postgres",
    );
    // Renamed tables come out under their alias.
    let renamed = TableSelection {
        schema: Some("public".into()),
        name: "ok".into(),
        alias: Some("ok2".into()),
    };
    let tables = discover(&up.spec("ok_pub", Some(vec![renamed])))
        .await
        .unwrap();
    assert_eq!(
        (tables[0].name.as_str(), tables[0].upstream().as_str()),
        ("ok2", "public.ok")
    );

    // wal_level below logical.
    up.sql("ALTER SYSTEM SET wal_level = replica").await;
    up.pg.cluster().restart("fast").unwrap();
    check(
        error(up.spec("ok_pub", None)).await,
        "55000",
        "logical replication needs wal_level = logical, but the upstream has wal_level = replica",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_advances_on_transactions_without_changes() {
    let up = Upstream::start().await;
    up.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'); \
            CREATE PUBLICATION p FOR TABLE t",
    )
    .await;
    let (mut source, _) = start(&up, "p", "idle", PgResume::default()).await;
    let mut got = Collected::default();
    got.until(&mut source, "the snapshot", snapshot_done).await;
    let snapshot_lsn = got.progress().unwrap().lsn().unwrap();
    // An update that changes nothing: no updates, but its progress still goes out
    // (after the idle interval), so the slot can advance.
    up.sql("UPDATE t SET v = v").await;
    let after = up.current_lsn().await;
    got.until(&mut source, "progress past the transaction", |c| {
        c.progress()
            .and_then(|p| p.lsn())
            .is_some_and(|l| l > snapshot_lsn)
    })
    .await;
    let last = got.batches.last().unwrap();
    assert!(last.updates.is_empty(), "{last:?}");
    assert!(last.progress.lsn().unwrap() <= after);
    assert_eq!(source.status().transactions_total, 0);
}
