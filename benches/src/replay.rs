//! The `replay` phase (issue 9): how fast a view is rebuilt by replaying its inputs,
//! what the swap costs, and the memory while two versions coexist, beside baselines
//! measured in the same run.
//!
//! For each `--workers` count, on a fresh server:
//!
//! 1. From Eddy's log: `customers` (10,000 rows) and `orders` (`--replay-rows` rows)
//!    feed the join + group-by view `revenue` of the other phases.
//!    - Baseline: the time to create the view over the loaded tables (a new view's
//!      hydration, from the same arrangements a replay reads) and, once per run,
//!      Postgres' `REFRESH MATERIALIZED VIEW` of the same view over the same rows.
//!    - `REPLAY MATERIALIZED VIEW revenue WITH (HOLD = true)`: the time until the new
//!      version is built and compared with the serving one (whose diff must be empty),
//!      the resident memory's peak while it builds (sampled every 20 ms) and while both
//!      versions are held, then `APPLY COMMIT`: the swap alone, and the memory after it.
//!    - `REPLAY MATERIALIZED VIEW revenue`: build and swap, as records replayed/s.
//! 2. From Kafka: the same orders as JSON messages in a topic of `--kafka-partitions`
//!    partitions. A stream created over the topic reads it from its earliest offsets
//!    into the same join + group-by view (the view's total is read every 50 ms until it
//!    equals the messages produced), beside a plain consumer's rate reading the topic;
//!    then the view over the stream is replayed from Eddy's log.
//!
//! Every run checks its counts: the view's total against the rows loaded, the held
//! diff empty, the topic's size against what was produced.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use eddy_testkit::{Eddy, EddyConfig};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::broker::{
    broker_name, produce_all, raw_consume_rate, start_broker, start_eddy, wait_for_total,
};
use crate::{
    customer_values, eddy_binary, load, ms, order_values, rss_bytes, Args, CUSTOMERS, SCHEMA, VIEW,
};

pub async fn run(args: &Args) -> Result<()> {
    let rows = args.replay_rows;
    let records = rows + CUSTOMERS;
    println!(
        "\n[replay] rebuilding the join + group-by view over {rows} orders and {CUSTOMERS} customers \
         ({records} records) by replaying its inputs"
    );
    let refresh = postgres_refresh(rows).await?;
    println!(
        "  baseline: Postgres REFRESH MATERIALIZED VIEW of the same view: {:.0} ms ({:.0} records/s)",
        ms(refresh),
        records as f64 / refresh.as_secs_f64()
    );
    for &workers in &args.workers {
        from_log(args, workers).await?;
    }
    from_kafka(args).await
}

/// Resident memory of `pid`, sampled until dropped; the peak is kept.
struct PeakRss {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
}

impl PeakRss {
    fn watch(pid: u32) -> PeakRss {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_bytes(pid).unwrap_or(0)));
        let (s, p) = (Arc::clone(&stop), Arc::clone(&peak));
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Ok(rss) = rss_bytes(pid) {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        PeakRss { stop, peak }
    }

    fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for PeakRss {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The rows of `sql`, each as its columns' text.
async fn rows_of(client: &Client, sql: &str) -> Result<Vec<Vec<String>>> {
    Ok(client
        .simple_query(sql)
        .await
        .with_context(|| sql.to_string())?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or_default().to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

/// The view's total count of orders.
async fn total(client: &Client, view: &str) -> Result<u64> {
    let rows = rows_of(client, &format!("SELECT sum(n) FROM {view}")).await?;
    Ok(rows
        .first()
        .and_then(|r| r.first())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

/// Replays `view` twice: held (build, memory of both versions, swap) and at once
/// (build and swap). Prints the figures under `what`.
async fn replay_view(eddy: &Eddy, client: &Client, view: &str, records: usize) -> Result<()> {
    let pid = eddy.pid().context("eddy pid")?;
    let expected = total(client, view).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let one_version = rss_bytes(pid)?;

    let watch = PeakRss::watch(pid);
    let started = Instant::now();
    let held = rows_of(
        client,
        &format!("REPLAY MATERIALIZED VIEW {view} WITH (HOLD = true)"),
    )
    .await?;
    let built = started.elapsed();
    let peak = watch.peak();
    drop(watch);
    let token = held
        .iter()
        .find(|r| r[0] == "?")
        .map(|r| r[2].clone())
        .context("the replay was not held")?;
    let diff = held
        .iter()
        .find(|r| r[0] == "Δ")
        .map(|r| r[3].clone())
        .context("no diff in the held replay's answer")?;
    ensure!(
        diff.starts_with("diff +0 rows -0 rows"),
        "the rebuilt {view} differs from the serving one: {diff}"
    );
    let both = rss_bytes(pid)?;
    let started = Instant::now();
    client
        .batch_execute(&format!("APPLY COMMIT {token}"))
        .await?;
    let swap = started.elapsed();
    ensure!(
        total(client, view).await? == expected,
        "{view} changed its total in the swap"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = rss_bytes(pid)?;
    println!(
        "    held replay: built and compared in {:.2} s ({:.0} records/s), diff empty; swap (APPLY COMMIT) {:.1} ms",
        built.as_secs_f64(),
        records as f64 / built.as_secs_f64(),
        ms(swap)
    );
    println!(
        "    memory: one version {:.0} MiB; while the new one builds, peak {:.0} MiB; both held {:.0} MiB; after the swap {:.0} MiB",
        mib(one_version),
        mib(peak),
        mib(both),
        mib(after)
    );

    let started = Instant::now();
    client
        .batch_execute(&format!("REPLAY MATERIALIZED VIEW {view}"))
        .await?;
    let replayed = started.elapsed();
    ensure!(
        total(client, view).await? == expected,
        "{view} changed its total in the replay"
    );
    println!(
        "    replay (build and swap): {:.2} s, {:.0} records/s",
        replayed.as_secs_f64(),
        records as f64 / replayed.as_secs_f64()
    );
    Ok(())
}

async fn from_log(args: &Args, workers: usize) -> Result<()> {
    let rows = args.replay_rows;
    let records = rows + CUSTOMERS;
    println!("  from Eddy's log, {workers} worker(s):");
    let eddy = Eddy::start(EddyConfig::new(eddy_binary(args)?).workers(workers))?;
    let client = eddy.connect().await?;
    client.batch_execute(SCHEMA).await?;
    load(&client, "customers", CUSTOMERS, args.batch, customer_values).await?;
    load(&client, "orders", rows, args.batch, order_values).await?;
    ensure!(
        rows_of(&client, "SELECT count(*) FROM orders").await?[0][0] == rows.to_string(),
        "orders were lost while loading"
    );
    let started = Instant::now();
    client.batch_execute(VIEW).await?;
    ensure!(
        total(&client, "revenue").await? == rows as u64,
        "the view's total is not the orders loaded"
    );
    let created = started.elapsed();
    println!(
        "    baseline: CREATE MATERIALIZED VIEW over the loaded tables: {:.2} s ({:.0} records/s)",
        created.as_secs_f64(),
        records as f64 / created.as_secs_f64()
    );
    replay_view(&eddy, &client, "revenue", records).await
}

async fn from_kafka(args: &Args) -> Result<()> {
    let rows = args.replay_rows;
    let partitions = args.kafka_partitions;
    println!(
        "  from Kafka: a stream of {rows} orders over {partitions} partitions; broker: {}",
        broker_name()
    );
    let kafka = start_broker().await?;
    let topic = kafka.unique_topic("bench-replay");
    kafka.create_topic(&topic, partitions).await?;
    produce_all(&kafka, &topic, rows as u64, move |i| {
        let i = i as usize;
        let cents = (i * 7919) % 100_000;
        let value = format!(
            r#"{{"id": {i}, "customer_id": {}, "amount": {}.{:02}, "status": "{}", "ts": "2026-11-{:02} {:02}:00:00"}}"#,
            i % CUSTOMERS,
            cents / 100,
            cents % 100,
            if i.is_multiple_of(3) { "paid" } else { "open" },
            1 + i % 28,
            i % 24
        );
        ((i as u64 % partitions as u64) as i32, None, value.into_bytes())
    })
    .await?;
    let raw = raw_consume_rate(&kafka, &topic, rows as u64).await?;
    println!("    baseline: plain rdkafka consumer, no decoding: {raw:.0} msg/s");
    for &workers in &args.workers {
        let eddy = start_eddy(args, &kafka, workers)?;
        let client = eddy.connect().await?;
        client
            .batch_execute("CREATE TABLE customers (id bigint NOT NULL, name text, region text)")
            .await?;
        load(&client, "customers", CUSTOMERS, args.batch, customer_values).await?;
        let started = Instant::now();
        client
            .batch_execute(&format!(
                "CREATE STREAM orders_s (id bigint, customer_id bigint, amount numeric(10,2), status text, ts timestamp) \
                   WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON');
                 {}",
                VIEW.replace("revenue", "revenue_s")
                    .replace("FROM orders o", "FROM orders_s o")
            ))
            .await?;
        let elapsed = wait_for_total(
            &client,
            "SELECT sum(n) FROM revenue_s",
            rows as u64,
            started,
            || "messages were lost".into(),
        )
        .await?;
        let rate = rows as f64 / elapsed.as_secs_f64();
        println!(
            "    {workers} worker(s): a new stream reads the topic from its earliest offsets into the view: \
             {rate:.0} msg/s ({:.2} s), {:.0}% of the plain consumer",
            elapsed.as_secs_f64(),
            100.0 * rate / raw
        );
        replay_view(&eddy, &client, "revenue_s", rows + CUSTOMERS).await?;
    }
    Ok(())
}

/// Postgres' `REFRESH MATERIALIZED VIEW` of the view over `rows` orders (the median
/// of three).
async fn postgres_refresh(rows: usize) -> Result<Duration> {
    let (_pg, client) = crate::postgres_with_orders(rows).await?;
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        client
            .batch_execute("REFRESH MATERIALIZED VIEW revenue")
            .await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[1])
}
