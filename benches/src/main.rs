//! `eddy-bench`: measures Eddy against a baseline measured in the same run.
//!
//! 1. Ingest: rows/s for multi-row INSERT batches through pgwire into `orders`, which
//!    feeds a join + group-by materialized view, with 1 and 2 workers.
//! 2. Update latency: with `--rows` rows in the tables, the time from a single-row
//!    UPDATE returning to the view reflecting it (a SELECT of the view issued right
//!    after the UPDATE returns; Eddy's SELECT waits until the view has caught up with
//!    every earlier write), as p50/p99.
//! 3. Memory: resident bytes per table row (5 small columns) and per view row.
//! 4. Baseline: the same change in Postgres followed by `REFRESH MATERIALIZED VIEW`.
//! 5. Prepared statements (`prepared.rs`): from one connection, a prepared single-row
//!    `SELECT ... WHERE id = $1`, the same SELECT unprepared through the simple
//!    protocol, and a prepared single-row `INSERT ... VALUES ($1, $2, $3)`, as ops/s
//!    and p50/p99, on a keyed table of `--prepared-rows` rows in Eddy and in Postgres.
//! 6. Joins (`joins.rs`): planning time (an `EXPLAIN` round trip) and execution time of
//!    a 16-table chain join and an 8-dimension star join with shuffled FROM lists, at
//!    each of `--join-sizes` rows per table, in Eddy and in Postgres, which must agree.
//! 7. Kafka (`kafka.rs`): Kafka -> view throughput beside a plain consumer's rate,
//!    produce -> visible latency under a steady rate (through SUBSCRIBE), and resident
//!    bytes per upsert-table row beside a table loaded by INSERT, on a private broker.
//!
//! 8. Postgres (`postgres.rs`): a Postgres CDC source's snapshot rate for a
//!    `--pg-rows`-row table beside `COPY ... TO STDOUT` of it, and COMMIT -> visible
//!    freshness (p50/p99, through SUBSCRIBE) under steady pgbench-style writers at each
//!    of `--pg-rates` transactions/s, beside Postgres' `REFRESH MATERIALIZED VIEW` of
//!    the same view, on a private upstream cluster.
//!
//! 9. Windows (`windows.rs`): event-time windowed views over Kafka streams (issue 10):
//!    throughput of three workloads (clicks per user per 10-minute `TUMBLE`, page views
//!    per region per minute through a LEFT JOIN with a table, ticker statistics in
//!    5-second `HOP` windows) beside a plain consumer's rate; resident memory, the
//!    view's arrangement records and the stream's events as its topic grows; and
//!    produce -> visible latency of the clicks view under a steady rate.
//!
//! 10. Replay (`replay.rs`): a join + group-by view rebuilt by replaying its inputs from
//!     Eddy's log (held: build, memory while two versions coexist, swap; and at once),
//!     beside creating the view and Postgres' REFRESH; and a stream reading its topic
//!     from the earliest offsets into the view, beside a plain consumer.
//! 11. Running aggregates (`running.rs`): per-change latency (appends at the end of a
//!     partition, updates in its middle) of a running-sum window view over
//!     `--running-rows` rows in `--running-partitions` partitions, rendered as prefix
//!     sums and, as a baseline, by the whole-partition renderer; and Postgres' REFRESH
//!     of the same view and query of one partition.
//! 12. COPY (`copy.rs`): `COPY ... FROM STDIN` of `--copy-rows` rows into a table
//!     feeding a join + group-by view, until the view reflects them, with each worker
//!     count, beside Postgres' COPY + REFRESH MATERIALIZED VIEW and a hand-written
//!     differential dataflow (parse + arrange + join + reduce) of the same rows.
//! 13. Range reads (`range.rs`): `WHERE k BETWEEN lo AND hi` through an index on `k`
//!     beside the same read of an unindexed copy of `k`, at each of `--range-widths`,
//!     on a `--range-rows`-row table: p50/p99 latency and rows visited per read.
//!
//! Targets (from the foundation issue): p99 < 10 ms; at least 100x less time than
//! Postgres per small change; at most 200 bytes per table row. Kafka (issue 7): at least
//! 50% of the raw consume rate and 0.3M msg/s on 2 workers; p99 < 50 ms at 10k msg/s.
//! Postgres CDC (issue 8): p99 < 10 ms from COMMIT to visible at 1,000 tx/s.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Parser;
use eddy_testkit::{Eddy, EddyConfig, Postgres};
use rand::{Rng, SeedableRng};
use tokio_postgres::{Client, SimpleQueryMessage};

mod broker;
mod copy;
mod joins;
mod kafka;
mod postgres;
mod prepared;
mod range;
mod replay;
mod running;
mod windows;

#[derive(Parser, Debug)]
#[command(
    about = "Eddy benchmarks: ingest, update latency, memory, Postgres REFRESH as baseline, \
             prepared single-row statements beside Postgres, and planning and execution of \
             16-table chain and 8-dimension star joins beside Postgres, and Kafka ingest, \
             latency and upsert-table memory beside a plain consumer and an INSERTed table, and \
             Postgres CDC snapshot speed and COMMIT -> view freshness beside COPY and \
             REFRESH MATERIALIZED VIEW, and event-time windowed views over Kafka beside a plain \
             consumer, and views rebuilt by replaying their inputs from the log and from Kafka, \
             running-sum window views beside the whole-partition renderer and Postgres, and \
             COPY FROM STDIN into a view's table beside Postgres' COPY + REFRESH and a \
             hand-written differential dataflow, and range reads through an index beside \
             the same reads without it"
)]
struct Args {
    /// Rows in `orders` (and in the memory table).
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Rows per INSERT statement while loading.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Single-row updates timed for the latency percentiles.
    #[arg(long, default_value_t = 200)]
    updates: usize,
    /// Postgres UPDATE + REFRESH rounds timed for the baseline.
    #[arg(long, default_value_t = 10)]
    refreshes: usize,
    /// Rows in `kv` for the prepared phase.
    #[arg(long, default_value_t = 100_000)]
    prepared_rows: usize,
    /// Operations per loop in the prepared phase (prepared SELECT, simple SELECT,
    /// prepared INSERT).
    #[arg(long, default_value_t = 20_000)]
    prepared_ops: usize,
    /// Rows per table in the joins phase, one run each: the chain's 16 tables have this
    /// many rows, the star's fact table too and its 8 dimensions a tenth of it.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    join_sizes: Vec<usize>,
    /// Timed runs per query and size in the joins phase (EXPLAIN and the query each),
    /// after one warm-up; the medians are printed.
    #[arg(long, default_value_t = 5)]
    join_runs: usize,
    /// Messages produced for the kafka phase's throughput run.
    #[arg(long, default_value_t = 1_000_000)]
    kafka_messages: u64,
    /// Partitions of the kafka phase's topics (the memory run's topic has one).
    #[arg(long, default_value_t = 4)]
    kafka_partitions: i32,
    /// Messages per second in the kafka phase's latency run.
    #[arg(long, default_value_t = 10_000)]
    kafka_rate: u64,
    /// Seconds the kafka phase's latency run produces for (the first is warm-up).
    #[arg(long, default_value_t = 10)]
    kafka_latency_secs: u64,
    /// Keyed messages (distinct keys) read into the kafka phase's upsert table.
    #[arg(long, default_value_t = 1_000_000)]
    kafka_table_rows: u64,
    /// Accounts in the postgres phase's upstream table: the snapshot's size and the
    /// REFRESH baseline's.
    #[arg(long, default_value_t = 1_000_000)]
    pg_rows: u64,
    /// Transactions per second of the postgres phase's freshness runs, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    pg_rates: Vec<u64>,
    /// Seconds each freshness run writes for (the first is warm-up).
    #[arg(long, default_value_t = 10)]
    pg_secs: u64,
    /// Connections writing upstream in the freshness runs, each owning some branches.
    #[arg(long, default_value_t = 8)]
    pg_writers: usize,
    /// Timed `REFRESH MATERIALIZED VIEW` runs of the postgres baseline (the median is
    /// printed).
    #[arg(long, default_value_t = 5)]
    pg_refreshes: usize,
    /// `synchronous_commit` of the writers' sessions: with `off` a commit reaches the
    /// replication stream only when the WAL writer flushes it.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    pg_synchronous_commit: String,
    /// Events produced for each workload of the windows phase's throughput runs.
    #[arg(long, default_value_t = 1_000_000)]
    windows_events: u64,
    /// Sizes (in events, increasing) the windows phase's memory run grows its stream to,
    /// reading the memory at each.
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
    windows_memory_events: Vec<u64>,
    /// Events per second in the windows phase's latency run.
    #[arg(long, default_value_t = 10_000)]
    windows_rate: u64,
    /// Seconds the windows phase's latency run produces for (the first is warm-up).
    #[arg(long, default_value_t = 10)]
    windows_latency_secs: u64,
    /// Orders in the replay phase's tables and topic.
    #[arg(long, default_value_t = 1_000_000)]
    replay_rows: usize,
    /// Rows of the running phase's table.
    #[arg(long, default_value_t = 1_000_000)]
    running_rows: usize,
    /// Partitions of the running phase's window.
    #[arg(long, default_value_t = 10_000)]
    running_partitions: usize,
    /// Changes of each kind (appends, middle updates) timed in the running phase.
    #[arg(long, default_value_t = 200)]
    running_changes: usize,
    /// Timed Postgres runs (REFRESH, one partition's query) of the running phase.
    #[arg(long, default_value_t = 5)]
    running_pg_runs: usize,
    /// Rows loaded by `COPY ... FROM STDIN` in the copy phase.
    #[arg(long, default_value_t = 1_000_000)]
    copy_rows: usize,
    /// Rows in the range phase's table.
    #[arg(long, default_value_t = 1_000_000)]
    range_rows: usize,
    /// Rows per read in the range phase, one loop each.
    #[arg(long, value_delimiter = ',', default_value = "10,1000")]
    range_widths: Vec<usize>,
    /// Reads per loop in the range phase (with the index, then without).
    #[arg(long, default_value_t = 100)]
    range_reads: usize,
    /// Worker counts to measure ingest, kafka and windows throughput with (the latency, prepared,
    /// joins, kafka latency, postgres and windows memory and latency runs use the first).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    workers: Vec<usize>,
    /// The eddy binary [default: target/release/eddy next to this binary].
    #[arg(long)]
    eddy: Option<PathBuf>,
    /// Run only these phases [default: all]; the latency and baseline phases need the
    /// ingest phase's data; the prepared, joins, kafka, postgres and windows phases start
    /// their own servers (kafka and windows also their own broker, postgres its own
    /// upstream cluster).
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = ["ingest", "latency", "memory", "baseline", "prepared", "joins", "kafka", "postgres", "windows", "replay", "running", "copy", "range"]
    )]
    only: Vec<String>,
}

impl Args {
    fn runs(&self, phase: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == phase)
    }
}

const CUSTOMERS: usize = 10_000;
const REGIONS: usize = 50;

const SCHEMA: &str = "
CREATE TABLE customers (id bigint NOT NULL, name text, region text);
CREATE TABLE orders (id bigint NOT NULL, customer_id bigint, amount numeric(10,2), status text, ts timestamp);
";

const VIEW: &str = "
CREATE MATERIALIZED VIEW revenue AS
SELECT c.region, count(*) AS n, sum(o.amount) AS total
FROM orders o JOIN customers c ON c.id = o.customer_id
GROUP BY c.region";

fn eddy_binary(args: &Args) -> Result<PathBuf> {
    if let Some(p) = &args.eddy {
        return Ok(p.clone());
    }
    let me = std::env::current_exe()?;
    let candidate = me.with_file_name("eddy");
    anyhow::ensure!(
        candidate.exists(),
        "no eddy binary at {}: run `cargo build --release --bin eddy` or pass --eddy",
        candidate.display()
    );
    Ok(candidate)
}

fn customer_values(from: usize, to: usize) -> String {
    (from..to)
        .map(|i| format!("({i}, 'customer{i}', 'region{}')", i % REGIONS))
        .collect::<Vec<_>>()
        .join(",")
}

fn order_values(from: usize, to: usize) -> String {
    (from..to)
        .map(|i| {
            let [id, customer, amount, status, ts] = order_fields(i);
            format!("({id}, {customer}, {amount}, '{status}', '{ts}')")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Order `i`'s values as text: id, customer, amount, status and time (the same rows for
/// every phase that loads orders).
fn order_fields(i: usize) -> [String; 5] {
    let cents = (i * 7919) % 100_000;
    [
        i.to_string(),
        (i % CUSTOMERS).to_string(),
        format!("{}.{:02}", cents / 100, cents % 100),
        if i.is_multiple_of(3) { "paid" } else { "open" }.to_string(),
        format!("2026-11-{:02} {:02}:00:00", 1 + i % 28, i % 24),
    ]
}

async fn load(
    client: &Client,
    table: &str,
    rows: usize,
    batch: usize,
    values: impl Fn(usize, usize) -> String,
) -> Result<Duration> {
    let started = Instant::now();
    let mut at = 0;
    while at < rows {
        let to = (at + batch).min(rows);
        client
            .batch_execute(&format!("INSERT INTO {table} VALUES {}", values(at, to)))
            .await
            .with_context(|| format!("loading {table} rows {at}..{to}"))?;
        at = to;
    }
    Ok(started.elapsed())
}

pub(crate) fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?;
    Ok(kb * 1024)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The wall clock in microseconds since the Unix epoch.
pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The first column of the first row of `query` as text (`None` for NULL or no row).
pub(crate) async fn scalar(client: &Client, query: &str) -> Result<Option<String>> {
    let messages = client.simple_query(query).await?;
    Ok(messages.into_iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    }))
}

/// Loads customers and orders into Eddy with `workers` workers; returns the server and
/// the ingest rate.
async fn eddy_ingest(args: &Args, workers: usize) -> Result<(Eddy, Client, f64)> {
    let eddy = Eddy::start(EddyConfig::new(eddy_binary(args)?).workers(workers))?;
    let client = eddy.connect().await?;
    client.batch_execute(SCHEMA).await?;
    client.batch_execute(VIEW).await?;
    load(&client, "customers", CUSTOMERS, args.batch, customer_values).await?;
    let elapsed = load(&client, "orders", args.rows, args.batch, order_values).await?;
    // The ingest is complete when the view has caught up with the last write.
    client.simple_query("SELECT count(*) FROM revenue").await?;
    let elapsed = elapsed.max(Duration::from_millis(1));
    Ok((eddy, client, args.rows as f64 / elapsed.as_secs_f64()))
}

async fn eddy_update_latency(args: &Args, client: &Client) -> Result<Vec<Duration>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut latencies = Vec::with_capacity(args.updates);
    let mut change_times = Vec::with_capacity(args.updates);
    for i in 0..args.updates {
        let id = rng.gen_range(0..args.rows);
        let region = format!("region{}", (id % CUSTOMERS) % REGIONS);
        let change_started = Instant::now();
        client
            .batch_execute(&format!(
                "UPDATE orders SET amount = amount + 1 WHERE id = {id}"
            ))
            .await?;
        let returned = Instant::now();
        let rows = client
            .simple_query(&format!(
                "SELECT total FROM revenue WHERE region = '{region}'"
            ))
            .await?;
        let visible = Instant::now();
        anyhow::ensure!(rows.len() >= 2, "update {i}: view row for {region} missing");
        latencies.push(visible - returned);
        change_times.push(visible - change_started);
    }
    latencies.sort();
    change_times.sort();
    println!(
        "  update -> visible in view: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms  (target p99 < 10 ms)",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap())
    );
    println!(
        "  whole change (UPDATE + read of the view): p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&change_times, 0.5)),
        ms(percentile(&change_times, 0.99))
    );
    Ok(change_times)
}

async fn eddy_memory(args: &Args) -> Result<(f64, f64)> {
    let eddy = Eddy::start(EddyConfig::new(eddy_binary(args)?).workers(1))?;
    let pid = eddy.pid().context("eddy pid")?;
    let client = eddy.connect().await?;
    client
        .batch_execute("CREATE TABLE mem (a bigint, b integer, c text, d boolean, e date)")
        .await?;
    let before = rss_bytes(pid)?;
    load(&client, "mem", args.rows, args.batch, |from, to| {
        (from..to)
            .map(|i| {
                format!(
                    "({i}, {}, 'v{}', {}, '2026-01-{:02}')",
                    i % 1000,
                    i % 100,
                    i % 2 == 0,
                    1 + i % 28
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    })
    .await?;
    // A point read of the last row waits for the load to be complete without building
    // a one-off dataflow (whose garbage is not a per-row cost of the table).
    let last = args.rows - 1;
    let seen = client
        .simple_query(&format!("SELECT a FROM mem WHERE a = {last}"))
        .await?;
    anyhow::ensure!(seen.len() >= 2, "the last loaded row is missing");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after_table = rss_bytes(pid)?;
    client
        .batch_execute("CREATE MATERIALIZED VIEW mem_view AS SELECT a, b, c FROM mem WHERE d")
        .await?;
    let view_rows = args.rows.div_ceil(2);
    let seen = client
        .simple_query("SELECT a FROM mem_view WHERE a = 0")
        .await?;
    anyhow::ensure!(seen.len() >= 2, "the view's first row is missing");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after_view = rss_bytes(pid)?;
    let per_table_row = after_table.saturating_sub(before) as f64 / args.rows as f64;
    let per_view_row = after_view.saturating_sub(after_table) as f64 / view_rows as f64;
    Ok((per_table_row, per_view_row))
}

/// A private Postgres with the benchmark's `customers` and `rows` `orders` loaded (the
/// same rows Eddy gets) and the `revenue` view made over them.
pub(crate) async fn postgres_with_orders(rows: usize) -> Result<(Postgres, Client)> {
    let pg = Postgres::start()?;
    let client = pg.connect().await?;
    client.batch_execute(SCHEMA).await?;
    client
        .batch_execute(&format!(
            "INSERT INTO customers SELECT i, 'customer' || i, 'region' || (i % {REGIONS}) FROM generate_series(0, {}) i;
             INSERT INTO orders SELECT i, i % {CUSTOMERS}, ((i::bigint * 7919) % 100000) / 100.0,
                 CASE WHEN i % 3 = 0 THEN 'paid' ELSE 'open' END, timestamp '2026-11-01' + (i % 24) * interval '1 hour'
                 FROM generate_series(0, {}) i;
             ANALYZE;",
            CUSTOMERS - 1,
            rows - 1
        ))
        .await?;
    client.batch_execute(VIEW).await?;
    Ok((pg, client))
}

async fn postgres_refresh(args: &Args) -> Result<Vec<Duration>> {
    let (_pg, client) = postgres_with_orders(args.rows).await?;
    client
        .batch_execute("CREATE INDEX ON orders (id); ANALYZE;")
        .await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut times = Vec::with_capacity(args.refreshes);
    for _ in 0..args.refreshes {
        let id = rng.gen_range(0..args.rows);
        let started = Instant::now();
        client
            .batch_execute(&format!(
                "UPDATE orders SET amount = amount + 1 WHERE id = {id}; REFRESH MATERIALIZED VIEW revenue;"
            ))
            .await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    println!(
        "eddy-bench: {} orders, {} customers, {} regions, batches of {}",
        args.rows, CUSTOMERS, REGIONS, args.batch
    );

    let mut eddy_changes = None;
    if args.runs("ingest") || args.runs("latency") || args.runs("baseline") {
        println!(
            "\n[ingest] INSERT batches through pgwire into a table feeding a join + group-by view"
        );
        let mut kept = None;
        for &workers in &args.workers {
            let (eddy, client, rate) = eddy_ingest(&args, workers).await?;
            println!("  {workers} worker(s): {rate:.0} rows/s");
            if kept.is_none() {
                kept = Some((eddy, client));
            }
        }
        println!(
            "\n[update latency] single-row UPDATE with {} rows in the tables",
            args.rows
        );
        let (eddy, client) = kept.context("at least one worker count")?;
        eddy_changes = Some(eddy_update_latency(&args, &client).await?);
        drop(client);
        drop(eddy);
    }

    if args.runs("memory") {
        println!(
            "\n[memory] resident bytes, {} rows of 5 small columns",
            args.rows
        );
        let (per_table_row, per_view_row) = eddy_memory(&args).await?;
        println!("  per table row: {per_table_row:.0} bytes (target <= 200)");
        println!("  per view row:  {per_view_row:.0} bytes");
    }

    if let Some(eddy_changes) = eddy_changes.filter(|_| args.runs("baseline")) {
        println!("\n[baseline] Postgres: the same UPDATE followed by REFRESH MATERIALIZED VIEW");
        let pg = postgres_refresh(&args).await?;
        let pg_p50 = percentile(&pg, 0.5);
        let eddy_p50 = percentile(&eddy_changes, 0.5);
        println!("  Postgres UPDATE + REFRESH: p50 {:.1} ms", ms(pg_p50));
        println!(
            "  Eddy UPDATE + read of the view: p50 {:.2} ms",
            ms(eddy_p50)
        );
        println!(
            "  ratio: Eddy is {:.0}x faster per small change (target >= 100x)",
            pg_p50.as_secs_f64() / eddy_p50.as_secs_f64().max(1e-9)
        );
    }

    if args.runs("prepared") {
        prepared::run(&args).await?;
    }

    if args.runs("joins") {
        joins::run(&args).await?;
    }

    if args.runs("kafka") {
        kafka::run(&args).await?;
    }

    if args.runs("postgres") {
        postgres::run(&args).await?;
    }

    if args.runs("windows") {
        windows::run(&args).await?;
    }

    if args.runs("replay") {
        replay::run(&args).await?;
    }

    if args.runs("running") {
        running::run(&args).await?;
    }

    if args.runs("copy") {
        copy::run(&args).await?;
    }
    if args.runs("range") {
        range::run(&args).await?;
    }
    Ok(())
}
