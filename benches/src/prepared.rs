//! The `prepared` phase: single-row statements from one tokio-postgres connection,
//! Eddy beside Postgres (issue 6: an Execute of a prepared statement should not
//! re-parse its SQL).
//!
//! Each engine gets the same table, `kv (id bigint PRIMARY KEY, v text, n bigint)`,
//! loaded with `--prepared-rows` rows by the same multi-row INSERTs and read whole once
//! (Postgres also gets `VACUUM ANALYZE`, as a loaded table settles to), and then runs
//! three loops of `--prepared-ops` operations each, one operation at a time:
//!
//! 1. `SELECT v, n FROM kv WHERE id = $1`, prepared once (Parse) and then executed
//!    (Bind/Execute) with random existing ids;
//! 2. the same SELECT with the id as a literal, through the simple protocol, so every
//!    operation is parsed and planned: the cost that preparing should save;
//! 3. `INSERT INTO kv VALUES ($1, $2, $3)`, prepared once, with fresh ids.
//!
//! Invariants: both engines see the same ids in the same order (one seed); every
//! SELECT must return exactly one row and every INSERT must report one row, so a loop
//! that silently does nothing fails the run instead of looking fast. The engines run
//! one after the other, never at the same time, so they do not compete for cores.
//! The Postgres cluster runs with `fsync=off`, while Eddy fsyncs every write: the
//! INSERT figures differ in durability, and the output says so.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use eddy_testkit::{Eddy, EddyConfig, Postgres};
use rand::{Rng, SeedableRng};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::{eddy_binary, load, ms, percentile, Args};

const SCHEMA: &str = "CREATE TABLE kv (id bigint PRIMARY KEY, v text, n bigint)";
const SELECT_BY_ID: &str = "SELECT v, n FROM kv WHERE id = $1";
const INSERT_ROW: &str = "INSERT INTO kv VALUES ($1, $2, $3)";

/// The `v` and `n` columns of row `id`, for the load and for the INSERT loop alike.
fn kv_columns(id: i64) -> (String, i64) {
    (format!("v{id}"), id % 1000)
}

fn kv_values(from: usize, to: usize) -> String {
    (from..to)
        .map(|i| {
            let (v, n) = kv_columns(i as i64);
            format!("({i}, '{v}', {n})")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// One timed loop: each operation's latency, sorted, and the loop's wall time.
struct Timings {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Timings {
    fn ops_per_s(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// `ops/s, p50, p99` in a fixed width, so the two engines line up.
    fn summary(&self) -> String {
        format!(
            "{:>7.0} ops/s  p50 {:>6.3} ms  p99 {:>6.3} ms",
            self.ops_per_s(),
            ms(percentile(&self.latencies, 0.5)),
            ms(percentile(&self.latencies, 0.99)),
        )
    }
}

/// Collects the latencies of one loop.
struct Recorder {
    started: Instant,
    latencies: Vec<Duration>,
}

impl Recorder {
    fn new(ops: usize) -> Recorder {
        Recorder {
            started: Instant::now(),
            latencies: Vec::with_capacity(ops),
        }
    }

    fn record(&mut self, op_started: Instant) {
        self.latencies.push(op_started.elapsed());
    }

    fn finish(mut self) -> Timings {
        let elapsed = self.started.elapsed();
        self.latencies.sort();
        Timings {
            latencies: self.latencies,
            elapsed,
        }
    }
}

/// One engine's figures for the three loops.
struct EngineTimings {
    select_prepared: Timings,
    select_simple: Timings,
    insert_prepared: Timings,
}

async fn select_prepared(client: &Client, ids: &[i64]) -> Result<Timings> {
    let statement = client.prepare(SELECT_BY_ID).await?;
    let mut recorder = Recorder::new(ids.len());
    for &id in ids {
        let op_started = Instant::now();
        let rows = client.query(&statement, &[&id]).await?;
        recorder.record(op_started);
        ensure!(
            rows.len() == 1,
            "prepared SELECT of id {id}: {} rows",
            rows.len()
        );
    }
    Ok(recorder.finish())
}

async fn select_simple(client: &Client, ids: &[i64]) -> Result<Timings> {
    let mut recorder = Recorder::new(ids.len());
    for &id in ids {
        let sql = format!("SELECT v, n FROM kv WHERE id = {id}");
        let op_started = Instant::now();
        let messages = client.simple_query(&sql).await?;
        recorder.record(op_started);
        let rows = messages
            .iter()
            .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
            .count();
        ensure!(rows == 1, "simple SELECT of id {id}: {rows} rows");
    }
    Ok(recorder.finish())
}

async fn insert_prepared(client: &Client, ids: &[i64]) -> Result<Timings> {
    let statement = client.prepare(INSERT_ROW).await?;
    let mut recorder = Recorder::new(ids.len());
    for &id in ids {
        let (v, n) = kv_columns(id);
        let op_started = Instant::now();
        let inserted = client.execute(&statement, &[&id, &v, &n]).await?;
        recorder.record(op_started);
        ensure!(inserted == 1, "prepared INSERT of id {id}: {inserted} rows");
    }
    Ok(recorder.finish())
}

/// Creates and loads `kv` through `client`, then reads it whole once, so that the
/// timed loops start from a table that is visible and warm in either engine.
async fn load_kv(args: &Args, client: &Client) -> Result<()> {
    client.batch_execute(SCHEMA).await?;
    load(client, "kv", args.prepared_rows, args.batch, kv_values).await?;
    let count: i64 = client
        .query_one("SELECT count(*) FROM kv", &[])
        .await?
        .get(0);
    ensure!(
        count == args.prepared_rows as i64,
        "kv holds {count} rows after loading {}",
        args.prepared_rows
    );
    Ok(())
}

/// Runs the three loops on a loaded `kv`.
async fn time_loops(args: &Args, client: &Client) -> Result<EngineTimings> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let existing: Vec<i64> = (0..args.prepared_ops)
        .map(|_| rng.gen_range(0..args.prepared_rows as i64))
        .collect();
    let fresh: Vec<i64> = (0..args.prepared_ops)
        .map(|i| (args.prepared_rows + i) as i64)
        .collect();

    let select_prepared = select_prepared(client, &existing).await?;
    let select_simple = select_simple(client, &existing).await?;
    let insert_prepared = insert_prepared(client, &fresh).await?;
    if let Some(&last) = fresh.last() {
        let seen = client
            .query("SELECT v FROM kv WHERE id = $1", &[&last])
            .await?;
        ensure!(seen.len() == 1, "the last inserted row is missing");
    }
    Ok(EngineTimings {
        select_prepared,
        select_simple,
        insert_prepared,
    })
}

/// Runs the phase and prints Eddy's figures beside Postgres'.
pub(crate) async fn run(args: &Args) -> Result<()> {
    ensure!(args.prepared_rows > 0, "--prepared-rows must be at least 1");
    ensure!(args.prepared_ops > 0, "--prepared-ops must be at least 1");
    let workers = *args.workers.first().context("at least one worker count")?;
    println!(
        "\n[prepared] one connection, {} ops per loop, {} rows in kv (id bigint PRIMARY KEY, v text, n bigint), Eddy with {workers} worker(s)",
        args.prepared_ops, args.prepared_rows
    );

    let eddy_timings = {
        let eddy = Eddy::start(EddyConfig::new(eddy_binary(args)?).workers(workers))?;
        let client = eddy.connect().await?;
        let timed = async {
            load_kv(args, &client).await?;
            time_loops(args, &client).await
        };
        timed
            .await
            .with_context(|| format!("eddy; log tail:\n{}", eddy.log_tail(20)))?
    };
    let pg_timings = {
        let pg = Postgres::start()?;
        let client = pg.connect().await?;
        let timed = async {
            load_kv(args, &client).await?;
            // Vacuumed and analyzed, as a loaded table settles to, so that autovacuum
            // does not start in the middle of a loop.
            client.batch_execute("VACUUM ANALYZE kv").await?;
            time_loops(args, &client).await
        };
        timed.await.context("postgres")?
    };

    const LABEL: usize = 42;
    println!("  {:<LABEL$}{:<47}Postgres", "", "Eddy");
    let lines = [
        (
            "SELECT ... WHERE id = $1, prepared",
            &eddy_timings.select_prepared,
            &pg_timings.select_prepared,
        ),
        (
            "SELECT ... WHERE id = <literal>, simple",
            &eddy_timings.select_simple,
            &pg_timings.select_simple,
        ),
        (
            "INSERT ... VALUES ($1, $2, $3), prepared",
            &eddy_timings.insert_prepared,
            &pg_timings.insert_prepared,
        ),
    ];
    for (label, eddy, pg) in lines {
        println!("  {label:<LABEL$}{}    {}", eddy.summary(), pg.summary());
    }
    println!("  (Eddy fsyncs every write; the Postgres cluster runs with fsync=off)");
    Ok(())
}
