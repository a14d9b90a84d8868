//! The `kafka` phase: Kafka → view ingest, produce → visible latency and upsert-table
//! memory (issue 7), each beside a baseline measured in the same run.
//!
//! It runs its own broker (`eddy_testkit::Kafka::start`: a private one, or the broker
//! named by `EDDY_TEST_KAFKA`) and starts a fresh Eddy server for every measurement:
//!
//! 1. Throughput: `--kafka-messages` small JSON messages are produced to a topic of
//!    `--kafka-partitions` partitions before anything reads them. The baseline is a plain
//!    rdkafka consumer in this process reading the whole topic from the beginning (it
//!    counts messages and bytes and decodes nothing; librdkafka's defaults except
//!    `fetch.queue.backoff.ms`, set as Eddy's consumer sets it): the broker's own
//!    consume rate, the fastest of three reads.
//!    Then, for each `--workers` count, the time from `CREATE STREAM` until
//!    `SELECT sum(n)` of a `GROUP BY k` count view over the stream equals the number of
//!    messages (the view is read every 50 ms).
//! 2. Latency: a producer thread sends `--kafka-rate` messages/s, each carrying its
//!    sequence number and the wall-clock time just before it was handed to the producer;
//!    a `SUBSCRIBE` to a view grouping by the sequence number sees each message's row
//!    appear, and the difference of the two clocks (one machine, one process) is its
//!    latency. The first second is warm-up and is not counted. The baseline is the same
//!    producer on another topic read by a plain consumer in this process, after the
//!    same load warmed the broker up (`baseline_latency`). The latency is also split at
//!    each message's `eddy_timestamp` (see `timestamp_split`).
//! 3. Memory: resident bytes of the Eddy process before and after an upsert table
//!    (`CREATE TABLE ... PRIMARY KEY ... WITH (KAFKA_TOPIC ...)`) reads
//!    `--kafka-table-rows` keyed messages, beside a plain table with the same primary key
//!    and the same rows loaded by INSERT (as the `memory` phase measures tables).
//!
//! Invariants: every count is checked (the topic's watermarks against what was produced,
//! the raw consumer's count, the view's total, the subscription's rows), so a phase that
//! silently loses messages fails instead of looking fast (the plumbing, shared with the
//! `windows` phase, is in `broker.rs`). The broker, the producer and
//! Eddy share this machine's cores, as the figures do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use eddy_testkit::Kafka;
use tokio_postgres::Client;

use crate::broker::{
    baseline_latency, broker_name, p50_p99, produce_all, raw_consume_rate, start_broker,
    start_eddy, subscribe_latency, wait_for_total, SteadyLoad, SteadyMessage, WAIT,
};
use crate::{load, rss_bytes, scalar, Args};

/// Distinct keys of the throughput view.
const GROUPS: u64 = 1_000;

pub async fn run(args: &Args) -> Result<()> {
    println!(
        "\n[kafka] {} JSON messages over {} partitions; broker: {}",
        args.kafka_messages,
        args.kafka_partitions,
        broker_name()
    );
    let kafka = start_broker().await?;
    throughput(args, &kafka).await?;
    latency(args, &kafka).await?;
    memory(args, &kafka).await?;
    Ok(())
}

fn stream_message(i: u64, partitions: i32) -> (i32, Option<Vec<u8>>, Vec<u8>) {
    let value = format!(r#"{{"k": {}, "v": {i}, "tag": "t{}"}}"#, i % GROUPS, i % 16);
    ((i % partitions as u64) as i32, None, value.into_bytes())
}

async fn throughput(args: &Args, kafka: &Kafka) -> Result<()> {
    let topic = kafka.unique_topic("bench-stream");
    let partitions = args.kafka_partitions;
    let count = args.kafka_messages;
    kafka.create_topic(&topic, partitions).await?;
    let produced =
        produce_all(kafka, &topic, count, move |i| stream_message(i, partitions)).await?;
    println!(
        "  produced in {:.1} s ({:.0} msg/s), e.g. {}",
        produced.as_secs_f64(),
        count as f64 / produced.as_secs_f64(),
        String::from_utf8_lossy(&stream_message(7, partitions).2)
    );
    let raw_rate = raw_consume_rate(kafka, &topic, count).await?;
    println!(
        "  baseline: plain rdkafka consumer, no decoding: {raw_rate:.0} msg/s ({:.2} s)",
        count as f64 / raw_rate
    );
    for &workers in &args.workers {
        let eddy = start_eddy(args, kafka, workers)?;
        let client = eddy.connect().await?;
        let started = Instant::now();
        client
            .batch_execute(&format!(
                "CREATE STREAM events (k int, v bigint, tag text) \
                   WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON');
                 CREATE MATERIALIZED VIEW by_k AS SELECT k, count(*) AS n FROM events GROUP BY k;"
            ))
            .await?;
        let elapsed = wait_for_total(&client, "SELECT sum(n) FROM by_k", count, started, || {
            "messages were lost".into()
        })
        .await?;
        let rate = count as f64 / elapsed.as_secs_f64();
        println!(
            "  {workers} worker(s): Kafka -> view {rate:.0} msg/s ({:.2} s), {:.0}% of raw consume \
             (aim >= 50%{})",
            elapsed.as_secs_f64(),
            100.0 * rate / raw_rate,
            if workers == 2 { ", >= 300000 msg/s" } else { "" }
        );
    }
    Ok(())
}

async fn latency(args: &Args, kafka: &Kafka) -> Result<()> {
    let workers = args.workers[0];
    let rate = args.kafka_rate;
    let duration = Duration::from_secs(args.kafka_latency_secs);
    println!(
        "\n[kafka latency] {rate} msg/s for {} s, produce -> visible in a GROUP BY view, \
         seen through SUBSCRIBE, {workers} worker(s)",
        duration.as_secs()
    );
    let message: Arc<SteadyMessage> =
        Arc::new(|seq, sent_us| format!(r#"{{"seq": {seq}, "sent_us": {sent_us}}}"#));
    let mut load = SteadyLoad {
        topic: kafka.unique_topic("bench-latency-raw"),
        partitions: args.kafka_partitions,
        rate,
        duration,
    };
    let raw = baseline_latency(kafka, &load, &*message).await?;
    println!(
        "  baseline: produce -> a plain rdkafka consumer: {}",
        p50_p99(&raw)
    );
    load.topic = kafka.unique_topic("bench-latency");
    kafka.create_topic(&load.topic, load.partitions).await?;
    let eddy = start_eddy(args, kafka, workers)?;
    let client = eddy.connect().await?;
    client
        .batch_execute(&format!(
            "CREATE STREAM lat (seq bigint, sent_us bigint) \
               WITH (KAFKA_TOPIC = '{}', VALUE_FORMAT = 'JSON');
             CREATE MATERIALIZED VIEW lat_v AS \
               SELECT seq, count(*) AS n, min(sent_us) AS sent_us FROM lat GROUP BY seq;",
            load.topic
        ))
        .await?;
    let subscriber = eddy.connect().await?;
    let rows = subscriber
        .simple_query_raw("SUBSCRIBE TO lat_v WITH (SNAPSHOT = false)")
        .await?;
    // The subscription starts reading before the first message is sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Each message's row appears once (diff +1, count 1) and never changes.
    // (eddy_timestamp ms, sent_us, seen_us) of each message's row, for the split.
    let mut stamps: Vec<(i64, i64, i64)> = Vec::new();
    let run = subscribe_latency(kafka, &load, message, rows, |row| {
        let diff: i64 = row.get(1).context("eddy_diff")?.parse()?;
        if diff != 1 {
            return Ok(Vec::new());
        }
        let sent_us: i64 = row.get(4).context("sent_us")?.parse()?;
        let time_ms: i64 = row.get(0).context("eddy_timestamp")?.parse()?;
        stamps.push((time_ms, sent_us, crate::now_us()));
        Ok(vec![sent_us])
    })
    .await?;
    println!("  {}", timestamp_split(&stamps));
    println!("  {} (aim p99 < 50 ms)", run.summary("messages"));
    Ok(())
}

/// Where the latency goes, split at the time Eddy gave each message (the wall clock
/// when its batch was logged, in milliseconds): produce -> timestamped covers Kafka,
/// the source's reader and its pace; timestamped -> visible covers the log's fsync,
/// the dataflow and SUBSCRIBE. Also how many distinct times the messages got, and how
/// far the last one was ahead of the clock (times run ahead when writes come faster
/// than one a millisecond). The warm-up's first tenth of the messages is left out.
fn timestamp_split(stamps: &[(i64, i64, i64)]) -> String {
    let counted = &stamps[stamps.len() / 10..];
    let sorted = |part: fn(&(i64, i64, i64)) -> i64| {
        let mut v: Vec<Duration> = counted
            .iter()
            .map(|s| Duration::from_micros(part(s).max(0) as u64))
            .collect();
        v.sort();
        v
    };
    let to_time = sorted(|(time_ms, sent_us, _)| time_ms * 1000 - sent_us);
    let to_visible = sorted(|(time_ms, _, seen_us)| seen_us - time_ms * 1000);
    let mut times: Vec<i64> = stamps.iter().map(|s| s.0).collect();
    times.dedup();
    let ahead_ms = stamps
        .last()
        .map_or(0, |(time_ms, _, seen_us)| time_ms - seen_us / 1000);
    format!(
        "of which produce -> timestamped: {}; timestamped -> visible: {}; \
         {} distinct times, the last {ahead_ms} ms ahead of the clock",
        p50_p99(&to_time),
        p50_p99(&to_visible),
        times.len()
    )
}

/// The non-key columns of memory row `i`, as JSON and as SQL literals (the same values
/// as the `memory` phase's table).
fn memory_row(i: u64) -> (String, String) {
    let (b, c, d, e) = (i % 1000, i % 100, i.is_multiple_of(2), 1 + i % 28);
    (
        format!(r#"{{"b": {b}, "c": "v{c}", "d": {d}, "e": "2026-01-{e:02}"}}"#),
        format!("({i}, {b}, 'v{c}', {d}, '2026-01-{e:02}')"),
    )
}

/// Waits until a point read of `table` finds key `last`, and for the memory to settle.
async fn wait_for_row(client: &Client, table: &str, last: u64) -> Result<()> {
    let started = Instant::now();
    while scalar(client, &format!("SELECT a FROM {table} WHERE a = {last}"))
        .await?
        .is_none()
    {
        ensure!(started.elapsed() < WAIT, "{table} lacks row {last}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn memory(args: &Args, kafka: &Kafka) -> Result<()> {
    let rows = args.kafka_table_rows;
    println!(
        "\n[kafka memory] resident bytes, {rows} keyed JSON messages into an upsert table \
         (5 small columns, one partition)"
    );
    ensure!(rows > 0, "--kafka-table-rows must be positive");
    let columns = "a bigint PRIMARY KEY, b integer, c text, d boolean, e date";
    let topic = kafka.unique_topic("bench-upsert");
    kafka.create_topic(&topic, 1).await?;
    produce_all(kafka, &topic, rows, |i| {
        (
            0,
            Some(i.to_string().into_bytes()),
            memory_row(i).0.into_bytes(),
        )
    })
    .await?;

    let upsert = {
        let eddy = start_eddy(args, kafka, 1)?;
        let pid = eddy.pid().context("eddy pid")?;
        let client = eddy.connect().await?;
        let before = rss_bytes(pid)?;
        let started = Instant::now();
        client
            .batch_execute(&format!(
                "CREATE TABLE up ({columns}) WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON')"
            ))
            .await?;
        wait_for_row(&client, "up", rows - 1).await?;
        let loaded = started.elapsed();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let after = rss_bytes(pid)?;
        let count = scalar(&client, "SELECT count(*) FROM up").await?;
        ensure!(
            count.as_deref() == Some(rows.to_string().as_str()),
            "the upsert table holds {count:?} rows, expected {rows}"
        );
        println!(
            "  (the upsert table loaded at {:.0} msg/s)",
            rows as f64 / loaded.as_secs_f64()
        );
        after.saturating_sub(before) as f64 / rows as f64
    };
    let plain = {
        let eddy = start_eddy(args, kafka, 1)?;
        let pid = eddy.pid().context("eddy pid")?;
        let client = eddy.connect().await?;
        let before = rss_bytes(pid)?;
        client
            .batch_execute(&format!("CREATE TABLE plain ({columns})"))
            .await?;
        load(&client, "plain", rows as usize, args.batch, |from, to| {
            (from..to)
                .map(|i| memory_row(i as u64).1)
                .collect::<Vec<_>>()
                .join(",")
        })
        .await?;
        wait_for_row(&client, "plain", rows - 1).await?;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let after = rss_bytes(pid)?;
        after.saturating_sub(before) as f64 / rows as f64
    };
    println!(
        "  per upsert-table row: {upsert:.0} bytes; baseline, the same rows INSERTed into a \
         table with the same primary key: {plain:.0} bytes ({:.1}x)",
        upsert / plain.max(1.0)
    );
    Ok(())
}
