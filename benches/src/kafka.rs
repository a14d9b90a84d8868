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
//!    consume rate, the fastest of [`RAW_RUNS`] reads.
//!    Then, for each `--workers` count, the time from `CREATE STREAM` until
//!    `SELECT sum(n)` of a `GROUP BY k` count view over the stream equals the number of
//!    messages (the view is read every [`POLL_INTERVAL`]).
//! 2. Latency: a producer thread sends `--kafka-rate` messages/s, each carrying its
//!    sequence number and the wall-clock time just before it was handed to the producer;
//!    a `SUBSCRIBE` to a view grouping by the sequence number sees each message's row
//!    appear, and the difference of the two clocks (one machine, one process) is its
//!    latency. The first second is warm-up and is not counted. The baseline is the same
//!    producer on another topic read by a plain consumer in this process.
//! 3. Memory: resident bytes of the Eddy process before and after an upsert table
//!    (`CREATE TABLE ... PRIMARY KEY ... WITH (KAFKA_TOPIC ...)`) reads
//!    `--kafka-table-rows` keyed messages, beside a plain table with the same primary key
//!    and the same rows loaded by INSERT (as the `memory` phase measures tables).
//!
//! Invariants: every count is checked (the topic's watermarks against what was produced,
//! the raw consumer's count, the view's total, the subscription's rows), so a phase that
//! silently loses messages fails instead of looking fast. The broker, the producer and
//! Eddy share this machine's cores, as the figures do.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use eddy_testkit::{Eddy, EddyConfig, Kafka};
use futures::{pin_mut, StreamExt};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::{eddy_binary, load, ms, now_us, percentile, rss_bytes, scalar, Args};

/// How often the throughput phase reads the view's total: often enough to time a
/// load of seconds to within 1-2%, seldom enough that the reads (each a one-off
/// dataflow on the workers) do not slow the load they time.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Timed reads of the whole topic by the plain consumer; the fastest is the baseline.
const RAW_RUNS: usize = 3;
/// How long any one wait (a load, a subscription row) may take before the run fails.
const WAIT: Duration = Duration::from_secs(600);
/// Distinct keys of the throughput view.
const GROUPS: u64 = 1_000;
/// How long the latency phase warms up before its samples count.
const WARM_UP: Duration = Duration::from_secs(1);

pub async fn run(args: &Args) -> Result<()> {
    println!(
        "\n[kafka] {} JSON messages over {} partitions; broker: {}",
        args.kafka_messages,
        args.kafka_partitions,
        match std::env::var("EDDY_TEST_KAFKA") {
            Ok(b) if !b.trim().is_empty() => format!("{b} (from EDDY_TEST_KAFKA)"),
            _ => format!("private Apache Kafka {}", eddy_testkit::KAFKA_VERSION),
        }
    );
    let kafka = tokio::task::spawn_blocking(Kafka::start)
        .await?
        .context("starting the kafka broker")?;
    throughput(args, &kafka).await?;
    latency(args, &kafka).await?;
    memory(args, &kafka).await?;
    Ok(())
}

/// An Eddy server reading from `kafka` with `workers` workers.
fn start_eddy(args: &Args, kafka: &Kafka, workers: usize) -> Result<Eddy> {
    let mut config = EddyConfig::new(eddy_binary(args)?).workers(workers);
    config.extra_args = vec![
        "--kafka-brokers".into(),
        kafka.bootstrap_servers().to_string(),
    ];
    Eddy::start(config)
}

/// A producer for bulk loads: large batches, no per-message latency goal.
fn bulk_producer(kafka: &Kafka) -> Result<BaseProducer> {
    kafka
        .client_config()
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create()
        .context("creating a kafka producer")
}

/// Sends one message, waiting for room in the producer's queue.
fn send(producer: &BaseProducer, record: BaseRecord<'_, [u8], [u8]>) -> Result<()> {
    let mut record = record;
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                r,
            )) => {
                record = r;
                producer.poll(Duration::from_millis(5));
            }
            Err((e, _)) => bail!("producing: {e}"),
        }
    }
}

/// Produces `count` messages made by `message(i) -> (partition, key, value)` and checks
/// that the topic's partitions grew by `count` in all.
async fn produce_all(
    kafka: &Kafka,
    topic: &str,
    count: u64,
    message: impl Fn(u64) -> (i32, Option<Vec<u8>>, Vec<u8>) + Send + 'static,
) -> Result<Duration> {
    let producer = bulk_producer(kafka)?;
    let checker: BaseConsumer = kafka.client_config().create()?;
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let before = topic_size(&checker, &topic)?;
        let started = Instant::now();
        for i in 0..count {
            let (partition, key, value) = message(i);
            let mut record = BaseRecord::to(&topic)
                .payload(value.as_slice())
                .partition(partition);
            if let Some(key) = &key {
                record = record.key(key.as_slice());
            }
            send(&producer, record)?;
            if i % 10_000 == 0 {
                producer.poll(Duration::ZERO);
            }
        }
        producer
            .flush(Duration::from_secs(120))
            .context("flushing the producer")?;
        let elapsed = started.elapsed();
        let after = topic_size(&checker, &topic)?;
        ensure!(
            after - before == count,
            "produced {count} messages to {topic} but it grew by {}",
            after - before
        );
        Ok(elapsed)
    })
    .await?
}

/// The partitions of `topic`.
fn partitions(client: &BaseConsumer, topic: &str) -> Result<Vec<i32>> {
    let metadata = client
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .with_context(|| format!("metadata of {topic}"))?;
    let t = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .with_context(|| format!("{topic} is not in the metadata"))?;
    Ok(t.partitions().iter().map(|p| p.id()).collect())
}

/// The sum of the high watermarks of `topic`'s partitions.
fn topic_size(client: &BaseConsumer, topic: &str) -> Result<u64> {
    let mut total = 0;
    for partition in partitions(client, topic)? {
        let (_, high) = client
            .fetch_watermarks(topic, partition, Duration::from_secs(30))
            .with_context(|| format!("watermarks of {topic}/{partition}"))?;
        total += high as u64;
    }
    Ok(total)
}

/// The baseline: a plain consumer reading all of `topic` from the beginning, counting
/// messages and bytes. Returns the time it took.
fn raw_consume(mut config: ClientConfig, topic: &str, expected: u64) -> Result<Duration> {
    let consumer: BaseConsumer = config
        .set("group.id", "eddy-bench-raw")
        // As Eddy's consumer sets it: librdkafka's default (1 s) idles a consumer that
        // drains its local queue faster than the broker refills it.
        .set("fetch.queue.backoff.ms", "10")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .context("creating a kafka consumer")?;
    let mut assignment = TopicPartitionList::new();
    for partition in partitions(&consumer, topic)? {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    let started = Instant::now();
    consumer.assign(&assignment)?;
    let mut messages = 0u64;
    let mut bytes = 0u64;
    let deadline = started + WAIT;
    while messages < expected {
        ensure!(
            Instant::now() < deadline,
            "raw consume: {messages} of {expected}"
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => {
                messages += 1;
                bytes += message.payload().map_or(0, <[u8]>::len) as u64;
            }
            Some(Err(e)) => bail!("raw consume: {e}"),
        }
    }
    let elapsed = started.elapsed();
    ensure!(bytes > 0, "raw consume read no bytes");
    Ok(elapsed)
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
    // The fastest of a few reads, so the baseline is the broker's rate and not a cold
    // start (of the broker's JIT, its caches) or a moment when other processes had the
    // cores.
    let mut raw = Duration::MAX;
    for _ in 0..RAW_RUNS {
        let topic = topic.clone();
        let config = kafka.client_config();
        let elapsed =
            tokio::task::spawn_blocking(move || raw_consume(config, &topic, count)).await??;
        raw = raw.min(elapsed);
    }
    let raw_rate = count as f64 / raw.as_secs_f64();
    println!(
        "  baseline: plain rdkafka consumer, no decoding: {raw_rate:.0} msg/s ({:.2} s)",
        raw.as_secs_f64()
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
        let expected = count.to_string();
        loop {
            let total = scalar(&client, "SELECT sum(n) FROM by_k").await?;
            if total.as_deref() == Some(expected.as_str()) {
                break;
            }
            ensure!(
                started.elapsed() < WAIT,
                "the view holds {total:?} of {count} messages after {WAIT:?}"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        let elapsed = started.elapsed();
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

/// Sends `rate` messages/s for `duration` to `topic`, round robin over `partitions`,
/// each `{"seq": i, "sent_us": <wall clock just before the send>}`. Returns how many it
/// sent and how long that took.
fn produce_steadily(
    producer: &BaseProducer,
    topic: &str,
    partitions: i32,
    rate: u64,
    duration: Duration,
    stop: &AtomicBool,
) -> Result<(u64, Duration)> {
    let total = (rate as f64 * duration.as_secs_f64()) as u64;
    let started = Instant::now();
    let mut sent = 0;
    while sent < total && !stop.load(Ordering::Relaxed) {
        // Messages go out in millisecond steps: a sleep per message would take longer
        // than the gap between two at 10k/s.
        let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
        let now = Instant::now();
        if due > now + Duration::from_millis(1) {
            std::thread::sleep(due - now);
        }
        let value = format!(r#"{{"seq": {sent}, "sent_us": {}}}"#, now_us());
        send(
            producer,
            BaseRecord::to(topic)
                .payload(value.as_bytes())
                .partition((sent % partitions as u64) as i32),
        )?;
        producer.poll(Duration::ZERO);
        sent += 1;
    }
    producer
        .flush(Duration::from_secs(60))
        .context("flushing the producer")?;
    Ok((sent, started.elapsed()))
}

/// A producer for the latency runs: each message leaves within a millisecond.
fn steady_producer(kafka: &Kafka) -> Result<BaseProducer> {
    kafka
        .client_config()
        .set("linger.ms", "1")
        .create()
        .context("creating a kafka producer")
}

/// The `sent_us` field of a latency message.
fn sent_us_of(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    let at = text.find("\"sent_us\": ")? + "\"sent_us\": ".len();
    text[at..].trim_end_matches('}').trim().parse().ok()
}

/// The latency baseline: the same steady producer, read by a plain consumer in this
/// process (from each partition's end). Returns sorted latencies after the warm-up.
fn raw_latency(kafka: &Kafka, topic: &str, args: &Args) -> Result<Vec<Duration>> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", "eddy-bench-raw")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .context("creating a kafka consumer")?;
    let mut assignment = TopicPartitionList::new();
    for partition in partitions(&consumer, topic)? {
        assignment.add_partition_offset(topic, partition, Offset::End)?;
    }
    consumer.assign(&assignment)?;
    // Let the assignment settle before the first message is sent.
    consumer.poll(Duration::from_millis(500));
    let producer = steady_producer(kafka)?;
    let stop = AtomicBool::new(false);
    let duration = Duration::from_secs(args.kafka_latency_secs);
    let started_us = now_us();
    let warm_up_us = WARM_UP.as_micros() as i64;
    std::thread::scope(|scope| {
        let producing = scope.spawn(|| {
            produce_steadily(
                &producer,
                topic,
                args.kafka_partitions,
                args.kafka_rate,
                duration,
                &stop,
            )
        });
        let total = (args.kafka_rate as f64 * duration.as_secs_f64()) as u64;
        let mut latencies = Vec::new();
        let mut seen = 0u64;
        let deadline = Instant::now() + duration + WAIT;
        while seen < total {
            ensure!(
                Instant::now() < deadline,
                "raw latency: saw {seen} of {total} messages"
            );
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Ok(message)) => {
                    let seen_us = now_us();
                    let sent_us = message
                        .payload()
                        .and_then(sent_us_of)
                        .context("a latency message without sent_us")?;
                    seen += 1;
                    if sent_us - started_us >= warm_up_us {
                        latencies.push(Duration::from_micros((seen_us - sent_us).max(0) as u64));
                    }
                }
                Some(Err(e)) => bail!("raw latency: {e}"),
            }
        }
        let (sent, _) = producing
            .join()
            .map_err(|_| anyhow::anyhow!("the producer thread panicked"))??;
        ensure!(sent == total, "sent {sent} of {total} messages");
        latencies.sort();
        Ok(latencies)
    })
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
    let partitions = args.kafka_partitions;
    let raw_topic = kafka.unique_topic("bench-latency-raw");
    kafka.create_topic(&raw_topic, partitions).await?;
    let raw = tokio::task::block_in_place(|| raw_latency(kafka, &raw_topic, args))?;
    ensure!(!raw.is_empty(), "no raw latency samples after the warm-up");
    println!(
        "  baseline: produce -> a plain rdkafka consumer: p50 {:.1} ms, p99 {:.1} ms",
        ms(percentile(&raw, 0.5)),
        ms(percentile(&raw, 0.99)),
    );
    let topic = kafka.unique_topic("bench-latency");
    kafka.create_topic(&topic, partitions).await?;
    let eddy = start_eddy(args, kafka, workers)?;
    let client = eddy.connect().await?;
    client
        .batch_execute(&format!(
            "CREATE STREAM lat (seq bigint, sent_us bigint) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON');
             CREATE MATERIALIZED VIEW lat_v AS \
               SELECT seq, count(*) AS n, min(sent_us) AS sent_us FROM lat GROUP BY seq;"
        ))
        .await?;
    let subscriber = eddy.connect().await?;
    let rows = subscriber
        .simple_query_raw("SUBSCRIBE TO lat_v WITH (SNAPSHOT = false)")
        .await?;
    pin_mut!(rows);
    // The subscription starts reading before the first message is sent.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let producer = steady_producer(kafka)?;
    let stop = Arc::new(AtomicBool::new(false));
    let sent_total = Arc::new(AtomicU64::new(u64::MAX));
    let producing = {
        let stop = Arc::clone(&stop);
        let sent_total = Arc::clone(&sent_total);
        let topic = topic.clone();
        std::thread::Builder::new()
            .name("bench-producer".into())
            .spawn(move || {
                let result = produce_steadily(&producer, &topic, partitions, rate, duration, &stop);
                if let Ok((sent, _)) = &result {
                    sent_total.store(*sent, Ordering::SeqCst);
                }
                result
            })?
    };
    let started_us = now_us();
    let warm_up_us = WARM_UP.as_micros() as i64;
    let mut latencies = Vec::new();
    let mut seen = 0u64;
    let received = async {
        while seen < sent_total.load(Ordering::SeqCst) {
            let message = match tokio::time::timeout(Duration::from_millis(200), rows.next()).await
            {
                Err(_) => continue, // check whether the producer is done
                Ok(None) => bail!("the subscription ended"),
                Ok(Some(message)) => message?,
            };
            let SimpleQueryMessage::Row(row) = message else {
                continue;
            };
            let seen_us = now_us();
            let diff: i64 = row.get(1).context("eddy_diff")?.parse()?;
            if diff != 1 {
                continue;
            }
            let sent_us: i64 = row.get(4).context("sent_us")?.parse()?;
            seen += 1;
            if sent_us - started_us >= warm_up_us {
                latencies.push(Duration::from_micros((seen_us - sent_us).max(0) as u64));
            }
        }
        Ok(())
    };
    let outcome = tokio::time::timeout(duration + WAIT, received).await;
    stop.store(true, Ordering::Relaxed);
    let (sent, produce_time) = producing
        .join()
        .map_err(|_| anyhow::anyhow!("the producer thread panicked"))??;
    outcome.context("waiting for the subscription")??;
    ensure!(
        seen == sent,
        "sent {sent} messages, the subscription saw {seen}"
    );
    ensure!(
        !latencies.is_empty(),
        "no latency samples after the warm-up"
    );
    latencies.sort();
    println!(
        "  sent {sent} messages at {:.0} msg/s; produce -> visible: p50 {:.1} ms, p99 {:.1} ms, \
         max {:.1} ms over {} samples (aim p99 < 50 ms)",
        sent as f64 / produce_time.as_secs_f64(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().expect("samples")),
        latencies.len()
    );
    Ok(())
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
