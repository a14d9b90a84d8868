//! Kafka plumbing shared by the phases that read a broker (`kafka.rs`, `windows.rs`):
//! fresh Eddy servers pointed at it, a bulk producer and a steady one, the plain
//! rdkafka consumers that are their baselines, and the waits that time a load.
//!
//! Invariants: every count is checked here, where it is known — a bulk load checks
//! that the topic grew by what was produced, the raw consumer that it read every
//! message, a steady run that the reader saw every message sent — so a phase built on
//! these fails instead of looking fast when messages are lost. Every wait is bounded
//! ([`WAIT`], and [`STALL`] without progress).

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
use tokio_postgres::{Client, SimpleQueryMessage, SimpleQueryRow, SimpleQueryStream};

use crate::{eddy_binary, ms, now_us, percentile, scalar, Args};

/// How often a load's view is read: often enough to time a load of seconds to within
/// 1-2%, seldom enough that the reads (each a one-off dataflow on the workers) do not
/// slow the load they time.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Timed reads of the whole topic by the plain consumer; the fastest is the baseline.
const RAW_RUNS: usize = 3;
/// How long any one wait (a load, a subscription row) may take before the run fails.
pub(crate) const WAIT: Duration = Duration::from_secs(600);
/// How long a load may make no progress (the view's total unchanged) before the run
/// fails: a total that stops short of the expected one has lost messages.
const STALL: Duration = Duration::from_secs(60);
/// How long a latency run warms up before its samples count.
const WARM_UP: Duration = Duration::from_secs(1);

/// An Eddy server reading from `kafka` with `workers` workers.
pub(crate) fn start_eddy(args: &Args, kafka: &Kafka, workers: usize) -> Result<Eddy> {
    let mut config = EddyConfig::new(eddy_binary(args)?).workers(workers);
    config.extra_args = vec![
        "--kafka-brokers".into(),
        kafka.bootstrap_servers().to_string(),
    ];
    Eddy::start(config)
}

/// The broker the phase runs on, as its heading names it.
pub(crate) fn broker_name() -> String {
    match std::env::var("EDDY_TEST_KAFKA") {
        Ok(b) if !b.trim().is_empty() => format!("{b} (from EDDY_TEST_KAFKA)"),
        _ => format!("private Apache Kafka {}", eddy_testkit::KAFKA_VERSION),
    }
}

/// Starts the phase's broker off the async runtime's threads.
pub(crate) async fn start_broker() -> Result<Kafka> {
    tokio::task::spawn_blocking(Kafka::start)
        .await?
        .context("starting the kafka broker")
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
pub(crate) async fn produce_all(
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

/// The baselines' plain consumer: librdkafka's defaults, except where Eddy's own
/// consumer differs in a way that changes what is measured.
fn raw_consumer(mut config: ClientConfig) -> Result<BaseConsumer> {
    config
        .set("group.id", "eddy-bench-raw")
        // As Eddy's consumer sets it: librdkafka's default (1 s) idles a consumer that
        // drains its local queue faster than the broker refills it.
        .set("fetch.queue.backoff.ms", "10")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .context("creating a kafka consumer")
}

/// A plain consumer reading all of `topic` from the beginning, counting messages and
/// bytes. Returns the time it took.
fn raw_consume(config: ClientConfig, topic: &str, expected: u64) -> Result<Duration> {
    let consumer = raw_consumer(config)?;
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

/// The throughput baseline: a plain consumer's rate (messages/s) reading the whole of
/// `topic`, of `count` messages, decoding nothing. The fastest of [`RAW_RUNS`] reads, so
/// the baseline is the broker's rate and not a cold start (of the broker's JIT, its
/// caches) or a moment when other processes had the cores.
pub(crate) async fn raw_consume_rate(kafka: &Kafka, topic: &str, count: u64) -> Result<f64> {
    let mut fastest = Duration::MAX;
    for _ in 0..RAW_RUNS {
        let topic = topic.to_string();
        let config = kafka.client_config();
        let elapsed =
            tokio::task::spawn_blocking(move || raw_consume(config, &topic, count)).await??;
        fastest = fastest.min(elapsed);
    }
    Ok(count as f64 / fastest.as_secs_f64())
}

/// Reads `sql` (one number) every [`POLL_INTERVAL`] until it is `expected`; returns the
/// time since `started`. Fails after [`WAIT`], or when the number has not changed for
/// [`STALL`] (then `why_short` says what may have been lost).
pub(crate) async fn wait_for_total(
    client: &Client,
    sql: &str,
    expected: u64,
    started: Instant,
    why_short: impl Fn() -> String,
) -> Result<Duration> {
    let expected_text = expected.to_string();
    let mut last = None;
    let mut changed = Instant::now();
    loop {
        let total = scalar(client, sql).await?;
        if total.as_deref() == Some(expected_text.as_str()) {
            return Ok(started.elapsed());
        }
        if total != last {
            last = total;
            changed = Instant::now();
        }
        ensure!(
            started.elapsed() < WAIT && changed.elapsed() < STALL,
            "{sql} is {last:?}, expected {expected}, after {:.0} s ({:.0} s without change); {}",
            started.elapsed().as_secs_f64(),
            changed.elapsed().as_secs_f64(),
            why_short()
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A steady run: `rate` messages/s for `duration` to `topic`, round robin over its
/// `partitions`.
#[derive(Clone, Debug)]
pub(crate) struct SteadyLoad {
    pub topic: String,
    pub partitions: i32,
    pub rate: u64,
    pub duration: Duration,
}

impl SteadyLoad {
    /// The messages the run sends.
    pub fn total(&self) -> u64 {
        (self.rate as f64 * self.duration.as_secs_f64()) as u64
    }
}

/// Makes steady message `seq`, stamped with `sent_us` (the wall clock just before it is
/// handed to the producer); the value must carry `"sent_us": <sent_us>` for the plain
/// consumer's baseline.
pub(crate) type SteadyMessage = dyn Fn(u64, i64) -> String + Send + Sync;

/// Sends `load`'s messages made by `message`. Returns how many it sent (fewer only when
/// `stop` was set) and how long that took.
fn produce_steadily(
    producer: &BaseProducer,
    load: &SteadyLoad,
    message: &SteadyMessage,
    stop: &AtomicBool,
) -> Result<(u64, Duration)> {
    let total = load.total();
    let started = Instant::now();
    let mut sent = 0;
    while sent < total && !stop.load(Ordering::Relaxed) {
        // Messages go out in millisecond steps: a sleep per message would take longer
        // than the gap between two at 10k/s.
        let due = started + Duration::from_secs_f64(sent as f64 / load.rate as f64);
        let now = Instant::now();
        if due > now + Duration::from_millis(1) {
            std::thread::sleep(due - now);
        }
        let value = message(sent, now_us());
        send(
            producer,
            BaseRecord::to(&load.topic)
                .payload(value.as_bytes())
                .partition((sent % load.partitions as u64) as i32),
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

/// The `sent_us` field of a steady message.
fn sent_us_of(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    let at = text.find("\"sent_us\": ")? + "\"sent_us\": ".len();
    let digits = text[at..]
        .find(|c: char| !c.is_ascii_digit() && c != '-')
        .map_or(&text[at..], |end| &text[at..at + end]);
    digits.parse().ok()
}

/// Latencies of the messages sent from the warm-up's end on.
struct Samples {
    started_us: i64,
    latencies: Vec<Duration>,
}

impl Samples {
    fn new() -> Samples {
        Samples {
            started_us: now_us(),
            latencies: Vec::new(),
        }
    }

    fn record(&mut self, sent_us: i64, seen_us: i64) {
        if sent_us - self.started_us >= WARM_UP.as_micros() as i64 {
            self.latencies
                .push(Duration::from_micros((seen_us - sent_us).max(0) as u64));
        }
    }

    fn sorted(mut self) -> Result<Vec<Duration>> {
        ensure!(
            !self.latencies.is_empty(),
            "no latency samples after the warm-up"
        );
        self.latencies.sort();
        Ok(self.latencies)
    }
}

/// How long the broker runs the steady load before the latency baseline is measured.
const BROKER_WARM_UP: Duration = Duration::from_secs(3);

/// The latency baseline: `load` made by `message` (its topic created here), read by a
/// plain consumer in this process. Returns sorted latencies after the warm-up.
///
/// The same load runs first for [`BROKER_WARM_UP`] on a topic of its own, and what it
/// measures is dropped: a fresh broker runs the first steady load it sees slowly while
/// its JVM compiles the code for it. Measured cold, the baseline's p99 was 52 ms where
/// a second run a few seconds later had 11 ms (the throughput run before it uses other
/// paths), so a cold baseline was often worse than Eddy reading through the same
/// broker afterwards.
pub(crate) async fn baseline_latency(
    kafka: &Kafka,
    load: &SteadyLoad,
    message: &SteadyMessage,
) -> Result<Vec<Duration>> {
    let warm_up = SteadyLoad {
        topic: format!("{}-warm-up", load.topic),
        duration: BROKER_WARM_UP,
        ..load.clone()
    };
    for run in [&warm_up, load] {
        kafka.create_topic(&run.topic, run.partitions).await?;
    }
    tokio::task::block_in_place(|| raw_latency(kafka, &warm_up, message))?;
    tokio::task::block_in_place(|| raw_latency(kafka, load, message))
}

/// `load` made by `message`, read by a plain consumer in this process (from each
/// partition's end). Returns sorted latencies after the warm-up.
fn raw_latency(kafka: &Kafka, load: &SteadyLoad, message: &SteadyMessage) -> Result<Vec<Duration>> {
    let consumer = raw_consumer(kafka.client_config())?;
    let mut assignment = TopicPartitionList::new();
    for partition in partitions(&consumer, &load.topic)? {
        assignment.add_partition_offset(&load.topic, partition, Offset::End)?;
    }
    consumer.assign(&assignment)?;
    // Let the assignment settle before the first message is sent.
    consumer.poll(Duration::from_millis(500));
    let producer = steady_producer(kafka)?;
    let stop = AtomicBool::new(false);
    let mut samples = Samples::new();
    std::thread::scope(|scope| {
        let producing = scope.spawn(|| produce_steadily(&producer, load, message, &stop));
        let total = load.total();
        let mut seen = 0u64;
        let deadline = Instant::now() + load.duration + WAIT;
        while seen < total {
            ensure!(
                Instant::now() < deadline,
                "raw latency: saw {seen} of {total} messages"
            );
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Ok(m)) => {
                    let seen_us = now_us();
                    let sent_us = m
                        .payload()
                        .and_then(sent_us_of)
                        .context("a latency message without sent_us")?;
                    seen += 1;
                    samples.record(sent_us, seen_us);
                }
                Some(Err(e)) => bail!("raw latency: {e}"),
            }
        }
        let (sent, _) = producing
            .join()
            .map_err(|_| anyhow::anyhow!("the producer thread panicked"))??;
        ensure!(sent == total, "sent {sent} of {total} messages");
        Ok(())
    })?;
    samples.sorted()
}

/// What a steady run through Eddy measured.
pub(crate) struct SteadyRun {
    /// Messages sent, all of them seen.
    pub sent: u64,
    /// The rate they were sent at.
    pub sent_rate: f64,
    /// Produce -> visible latencies after the warm-up, sorted.
    pub latencies: Vec<Duration>,
}

impl SteadyRun {
    /// `sent 10000 messages at 9998/s; produce -> visible: p50 .. ms, p99 .. ms, max ..`.
    pub fn summary(&self, what: &str) -> String {
        format!(
            "sent {} {what} at {:.0}/s; produce -> visible: {}, max {:.1} ms over {} samples",
            self.sent,
            self.sent_rate,
            p50_p99(&self.latencies),
            ms(*self.latencies.last().expect("samples")),
            self.latencies.len()
        )
    }
}

/// `p50 1.2 ms, p99 3.4 ms` of sorted latencies.
pub(crate) fn p50_p99(sorted: &[Duration]) -> String {
    format!(
        "p50 {:.1} ms, p99 {:.1} ms",
        ms(percentile(sorted, 0.5)),
        ms(percentile(sorted, 0.99))
    )
}

/// Sends `load` made by `message` from a producer thread while reading `rows` (a
/// `SUBSCRIBE` started before the first message): `visible(row)` gives the `sent_us` of
/// each message a row shows for the first time (none for a row that shows nothing
/// new). Ends when every message sent has been seen, and fails if one is seen twice
/// too many or never.
pub(crate) async fn subscribe_latency(
    kafka: &Kafka,
    load: &SteadyLoad,
    message: Arc<SteadyMessage>,
    rows: SimpleQueryStream,
    mut visible: impl FnMut(&SimpleQueryRow) -> Result<Vec<i64>>,
) -> Result<SteadyRun> {
    pin_mut!(rows);
    let producer = steady_producer(kafka)?;
    let stop = Arc::new(AtomicBool::new(false));
    let sent_total = Arc::new(AtomicU64::new(u64::MAX));
    let producing = {
        let stop = Arc::clone(&stop);
        let sent_total = Arc::clone(&sent_total);
        let load = load.clone();
        std::thread::Builder::new()
            .name("bench-producer".into())
            .spawn(move || {
                let result = produce_steadily(&producer, &load, &*message, &stop);
                if let Ok((sent, _)) = &result {
                    sent_total.store(*sent, Ordering::SeqCst);
                }
                result
            })?
    };
    let mut samples = Samples::new();
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
            for sent_us in visible(&row)? {
                seen += 1;
                samples.record(sent_us, seen_us);
            }
        }
        Ok(())
    };
    let outcome = tokio::time::timeout(load.duration + WAIT, received).await;
    stop.store(true, Ordering::Relaxed);
    let (sent, produce_time) = producing
        .join()
        .map_err(|_| anyhow::anyhow!("the producer thread panicked"))??;
    outcome.context("waiting for the subscription")??;
    ensure!(
        seen == sent,
        "sent {sent} messages, the subscription saw {seen}"
    );
    Ok(SteadyRun {
        sent,
        sent_rate: sent as f64 / produce_time.as_secs_f64(),
        latencies: samples.sorted()?,
    })
}
