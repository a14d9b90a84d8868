//! The Kafka transport: a consumer on its own thread that reads every partition of a
//! topic and hands out [`SourceBatch`]es over a bounded channel.
//!
//! Semantics:
//! - Partitions are assigned explicitly (no consumer-group rebalancing; nothing is
//!   committed to the group). Each starts at the offset in the resume progress, else (for
//!   a new source) at `START`: the first retained offset, the end, or the first offset at
//!   or after a timestamp. Partitions that appear later (found by the watcher's metadata
//!   refresh every [`SourceConfig::metadata_refresh`]) start at their first retained
//!   offset.
//! - Every batch carries `progress`: for every assigned partition, the offset of the next
//!   message to read. Applying all batches in order gives exactly the collection, and a
//!   source restarted with the last batch's progress (and the collection's current rows)
//!   reads nothing twice and loses nothing. A batch with only progress is sent when
//!   partitions are assigned, so the resolved start offsets can be recorded too.
//! - Messages are read with `isolation.level = read_committed`: aborted transactions
//!   never reach a view.
//! - A broker that cannot be reached is retried with exponential backoff; the source's
//!   [`SourceState`] says `Retrying` with the last error meanwhile. It never panics.
//! - With `ON_ERROR = 'FAIL'` the first message that does not decode ends the source: the
//!   last batch holds the updates before it and the error, its progress stops at that
//!   message, and the state is `Failed`.
//! - A stream with an event time decides right after decoding whether a message is late
//!   ([`crate::event_time`]): a late one is a [`SourceError`] (never a failure) and is
//!   counted in [`SourceStatus::late_total`]. Every batch carries the watermark after
//!   it, which is durable progress just like the offsets: resuming needs both.
//!
//! Threads: the consumer thread reads; it blocks only on librdkafka's bounded polls and
//! on the bounded channel, never on a timely worker, and looks nothing up once it has
//! its first assignment. A watcher thread, with a client of its own, looks up the
//! topic's partitions and their ends every [`SourceConfig::metadata_refresh`] (a lookup
//! on the reader's own connection would wait behind the fetch in flight there).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use eddy_repr::{Diff, Row, SqlError, SqlState};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::envelope::Decoder;
use crate::event_time::{Rejected, Watermark};
use crate::format::KafkaMessage;
use crate::spec::{KafkaSourceSpec, OnError, StartOffset};

/// How a source runs (not part of its definition: none of this changes what it reads).
#[derive(Clone, Debug)]
pub struct SourceConfig {
    /// Names the thread (`kafka:<name>`), the consumer group and log lines.
    pub name: String,
    /// Most messages in one batch.
    pub batch_messages_max: usize,
    /// Most batches waiting in the channel; the consumer waits when it is full.
    pub channel_batches_max: usize,
    /// How often the topic's partitions are looked up, to find new ones.
    pub metadata_refresh: Duration,
    /// How long one metadata or offset request may take.
    pub request_timeout: Duration,
    /// The first wait after a failure; doubled on every failure up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Messages whose key and value together are larger are errors.
    pub message_bytes_max: usize,
}

impl SourceConfig {
    pub fn new(name: impl Into<String>) -> SourceConfig {
        SourceConfig {
            name: name.into(),
            batch_messages_max: 4096,
            channel_batches_max: 16,
            metadata_refresh: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            message_bytes_max: 8 << 20,
        }
    }
}

/// Where a source resumes: what was recorded durably with the last batch it applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    /// Partition → next offset, from the last applied [`SourceBatch::progress`]. Empty
    /// for a new source (which starts at `START`).
    pub progress: BTreeMap<i32, i64>,
    /// The collection's current rows (for UPSERT and DEBEZIUM: they rebuild the key →
    /// row state; ignored for streams).
    pub current_rows: Vec<Row>,
    /// The watermark of the last applied batch ([`SourceBatch::watermark_us`]), for a
    /// stream with an event time; `None` for a new source.
    pub watermark_us: Option<i64>,
}

/// A message that could not be read, and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceError {
    pub partition: i32,
    pub offset: i64,
    pub message: String,
}

/// What the source read since its previous batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceBatch {
    /// Changes to the collection, in message order.
    pub updates: Vec<(Row, Diff)>,
    /// Messages that did not decode, in message order.
    pub errors: Vec<SourceError>,
    /// Partition → offset of the next message to read, for every assigned partition,
    /// after this batch.
    pub progress: BTreeMap<i32, i64>,
    /// For a stream with an event time: its watermark after this batch, in
    /// microseconds since the epoch (`None` until the first event). Part of the
    /// progress: record it with the offsets.
    pub watermark_us: Option<i64>,
}

impl SourceBatch {
    /// Appends `later`, the batch that came after this one: applying the result is
    /// applying both in order (updates and errors concatenated, `later`'s progress,
    /// which covers every partition this one's does, and `later`'s watermark).
    pub fn append(&mut self, later: SourceBatch) {
        let SourceBatch {
            mut updates,
            mut errors,
            progress,
            watermark_us,
        } = later;
        debug_assert!(watermark_us >= self.watermark_us);
        debug_assert!(self.progress.keys().all(|p| progress.contains_key(p)));
        if self.updates.is_empty() {
            self.updates = updates;
        } else {
            self.updates.append(&mut updates);
        }
        self.errors.append(&mut errors);
        self.progress = progress;
        self.watermark_us = watermark_us;
    }
}

/// What a source is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceState {
    /// Connecting and assigning partitions for the first time.
    Starting,
    /// Reading.
    Running,
    /// The broker (or topic) could not be reached; retrying with backoff.
    Retrying { last_error: String, attempts: u32 },
    /// Stopped by an error (`ON_ERROR = 'FAIL'`, or a configuration librdkafka refused).
    Failed { error: String },
    /// Stopped because its handle was dropped or stopped.
    Stopped,
}

/// A snapshot of a source's state and counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceStatus {
    pub state: SourceState,
    /// Partition → next offset, as of the last batch sent.
    pub progress: BTreeMap<i32, i64>,
    pub messages_total: u64,
    pub bytes_total: u64,
    pub errors_total: u64,
    /// Of `errors_total`, the events that came after the watermark (late).
    pub late_total: u64,
    /// Partition → the offset after its last message, as the broker last said (looked
    /// up with each metadata refresh); `high - progress` is how far the source is
    /// behind.
    pub high_watermarks: BTreeMap<i32, i64>,
}

impl SourceStatus {
    /// Messages the broker holds that the source has not read yet, per partition,
    /// measured against `progress` (the source's, or what the caller has applied).
    pub fn lag(&self, progress: &BTreeMap<i32, i64>) -> BTreeMap<i32, i64> {
        self.high_watermarks
            .iter()
            .map(|(p, high)| (*p, (high - progress.get(p).copied().unwrap_or(0)).max(0)))
            .collect()
    }
}

/// A source's status, readable from anywhere (see [`KafkaSource::status_handle`]).
#[derive(Clone)]
pub struct StatusHandle(Arc<Mutex<SourceStatus>>);

impl StatusHandle {
    pub fn get(&self) -> SourceStatus {
        lock(&self.0).clone()
    }

    /// Only the state (cheap: what every read checks).
    pub fn state(&self) -> SourceState {
        lock(&self.0).state.clone()
    }
}

/// A running Kafka source. Batches come from [`KafkaSource::next_batch`] (async) or
/// [`KafkaSource::blocking_next_batch`]; dropping it stops the consumer thread.
pub struct KafkaSource {
    batches: mpsc::Receiver<SourceBatch>,
    status: Arc<Mutex<SourceStatus>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl KafkaSource {
    /// Starts reading `spec`'s topic from `resume` on a new thread. Returns at once;
    /// connecting happens on the thread (see [`KafkaSource::status`]).
    pub fn start(
        spec: KafkaSourceSpec,
        config: SourceConfig,
        resume: Resume,
    ) -> Result<KafkaSource, SqlError> {
        let consumer = create_consumer(&spec, &config, "")?;
        // Its own client (its own connections): a lookup queued on the reader's
        // connection waits behind the fetch in flight there, up to half a second each.
        let watcher = create_consumer(&spec, &config, "-watch")?;
        let (sender, batches) = mpsc::channel(config.channel_batches_max.max(1));
        let status = Arc::new(Mutex::new(SourceStatus {
            state: SourceState::Starting,
            progress: BTreeMap::new(),
            messages_total: 0,
            bytes_total: 0,
            errors_total: 0,
            late_total: 0,
            high_watermarks: BTreeMap::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let decoder = Decoder::new(&spec, resume.current_rows, config.message_bytes_max);
        let watermark = spec
            .event_time
            .clone()
            .map(|event_time| Watermark::new(event_time, resume.watermark_us));
        let (found_sender, found) = std::sync::mpsc::channel();
        {
            let (topic, config) = (spec.topic.clone(), config.clone());
            let (status, stop) = (Arc::clone(&status), Arc::clone(&stop));
            std::thread::Builder::new()
                .name(format!("kafka-watch:{}", config.name))
                .spawn(move || watch(watcher, topic, config, status, stop, found_sender))
                .map_err(|e| {
                    SqlError::internal(format!("cannot spawn a kafka watcher thread: {e}"))
                })?;
        }
        let reader = Reader {
            consumer,
            found,
            decoder,
            watermark,
            resumed: !resume.progress.is_empty(),
            progress: resume.progress,
            assigned: BTreeSet::new(),
            sender,
            status: Arc::clone(&status),
            stop: Arc::clone(&stop),
            spec,
            config: config.clone(),
            failures: 0,
        };
        let thread = std::thread::Builder::new()
            .name(format!("kafka:{}", config.name))
            .spawn(move || reader.run())
            .map_err(|e| SqlError::internal(format!("cannot spawn a kafka source thread: {e}")))?;
        Ok(KafkaSource {
            batches,
            status,
            stop,
            thread: Some(thread),
        })
    }

    /// The next batch; `None` once the source has stopped and every batch was taken.
    pub async fn next_batch(&mut self) -> Option<SourceBatch> {
        self.batches.recv().await
    }

    /// The next batch, waiting on this thread (not for use inside an async task).
    pub fn blocking_next_batch(&mut self) -> Option<SourceBatch> {
        self.batches.blocking_recv()
    }

    /// A batch if one is waiting.
    pub fn try_next_batch(&mut self) -> Option<SourceBatch> {
        self.batches.try_recv().ok()
    }

    /// The source's state and counters now.
    pub fn status(&self) -> SourceStatus {
        lock(&self.status).clone()
    }

    /// A handle that reads the status while another task owns the source.
    pub fn status_handle(&self) -> StatusHandle {
        StatusHandle(Arc::clone(&self.status))
    }

    /// Stops the consumer thread and waits for it to exit.
    pub fn stop(mut self) {
        self.signal_stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn signal_stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes a consumer waiting for room in the channel.
        self.batches.close();
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        // The thread notices within one poll interval; it is not joined here, so that
        // dropping a source never blocks an async task.
        self.signal_stop();
    }
}

fn lock(status: &Mutex<SourceStatus>) -> std::sync::MutexGuard<'_, SourceStatus> {
    status
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A consumer of `spec`'s brokers for the source `config` names; `suffix` tells its
/// clients apart in the broker's logs.
fn create_consumer(
    spec: &KafkaSourceSpec,
    config: &SourceConfig,
    suffix: &str,
) -> Result<BaseConsumer, SqlError> {
    ClientConfig::new()
        .set("bootstrap.servers", &spec.brokers)
        .set("group.id", format!("eddy-{}", config.name))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("client.id", format!("eddy-{}{suffix}", config.name))
        // Once librdkafka's local queue is past `queued.min.messages` it waits this
        // long before fetching more; its default (1 s) stalls a source that drains
        // the queue faster than that for the rest of the second.
        .set(
            "fetch.queue.backoff.ms",
            FETCH_QUEUE_BACKOFF.as_millis().to_string(),
        )
        .set(
            "reconnect.backoff.max.ms",
            config.backoff_max.as_millis().to_string(),
        )
        .create()
        .map_err(|e| {
            SqlError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("cannot create a kafka consumer: {e}"),
            )
        })
}

/// The partitions of `topic`, as `consumer` finds them in the broker's metadata.
fn topic_partitions(
    consumer: &BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, String> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| format!("fetching metadata for topic \"{topic}\": {e}"))?;
    let topic_md = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| format!("topic \"{topic}\" is not in the broker's metadata"))?;
    if let Some(error) = topic_md.error() {
        let code = RDKafkaErrorCode::from(error);
        return Err(match code {
            RDKafkaErrorCode::UnknownTopicOrPartition => {
                format!("topic \"{topic}\" does not exist")
            }
            other => format!("topic \"{topic}\": {other}"),
        });
    }
    Ok(topic_md.partitions().iter().map(|p| p.id()).collect())
}

/// The watcher thread: every [`SourceConfig::metadata_refresh`], looks up the topic's
/// partitions (sent to the reader, which assigns new ones) and where each ends (the
/// status's high watermarks, for the lag), on a client of its own, so that the reader
/// never waits for a lookup. Ends with the source, or when the reader is gone.
fn watch(
    consumer: BaseConsumer,
    topic: String,
    config: SourceConfig,
    status: Arc<Mutex<SourceStatus>>,
    stop: Arc<AtomicBool>,
    found: std::sync::mpsc::Sender<Result<Vec<i32>, String>>,
) {
    loop {
        let partitions = topic_partitions(&consumer, &topic, config.request_timeout);
        if let Ok(partitions) = &partitions {
            let highs: BTreeMap<i32, i64> = partitions
                .iter()
                .filter_map(|&partition| {
                    let watermarks =
                        consumer.fetch_watermarks(&topic, partition, config.request_timeout);
                    watermarks.ok().map(|(_, high)| (partition, high))
                })
                .collect();
            lock(&status).high_watermarks.extend(highs);
        }
        if found.send(partitions).is_err() {
            return;
        }
        let next = Instant::now() + config.metadata_refresh;
        while Instant::now() < next {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(POLL_INTERVAL.min(next - Instant::now()));
        }
    }
}

/// How long librdkafka waits to fetch again for a partition whose local queue was full.
const FETCH_QUEUE_BACKOFF: Duration = Duration::from_millis(10);

/// How long one poll waits for the first message of a batch.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The consumer thread's state.
struct Reader {
    spec: KafkaSourceSpec,
    config: SourceConfig,
    consumer: BaseConsumer,
    /// The partitions the watcher finds (or why it could not).
    found: std::sync::mpsc::Receiver<Result<Vec<i32>, String>>,
    decoder: Decoder,
    /// The stream's watermark, when it has an event time.
    watermark: Option<Watermark>,
    /// Partition → next offset to read (every assigned partition).
    progress: BTreeMap<i32, i64>,
    /// Whether `progress` came from a resume (then unknown partitions are new ones).
    resumed: bool,
    /// Partitions handed to librdkafka.
    assigned: BTreeSet<i32>,
    sender: mpsc::Sender<SourceBatch>,
    status: Arc<Mutex<SourceStatus>>,
    stop: Arc<AtomicBool>,
    /// Consecutive failures, for the backoff.
    failures: u32,
}

/// Why the thread ends.
enum Exit {
    Stopped,
    Failed(String),
}

impl Reader {
    fn run(mut self) {
        let exit = self.read_loop();
        let state = match exit {
            Exit::Stopped => SourceState::Stopped,
            Exit::Failed(error) => {
                tracing::warn!(source = %self.config.name, %error, "kafka source failed");
                SourceState::Failed { error }
            }
        };
        lock(&self.status).state = state;
    }

    fn read_loop(&mut self) -> Exit {
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Exit::Stopped;
            }
            // The first assignment is looked up here, before any fetch is in flight
            // (so the lookups are quick); later partitions come from the watcher. New
            // ones are looked up again on the reader's own client, whose metadata must
            // know them before it can look up or read them.
            // What the watcher found is taken first: it sends more while a lookup here
            // waits, so looking up while draining the channel might never end.
            let first = self.assigned.is_empty().then(|| self.own_lookup());
            let found: Vec<_> = self.found.try_iter().collect();
            let found: Vec<_> = found
                .into_iter()
                .map(|found| match found {
                    Ok(partitions) if partitions.iter().any(|p| !self.assigned.contains(p)) => {
                        self.own_lookup()
                    }
                    other => other,
                })
                .collect();
            let lookups = first.into_iter().chain(found);
            let mut failed = None;
            for lookup in lookups {
                match lookup.and_then(|partitions| self.assign_new(partitions)) {
                    Ok(Some(batch)) => {
                        if !self.send(batch) {
                            return Exit::Stopped;
                        }
                        self.recovered();
                    }
                    Ok(None) => self.recovered(),
                    Err(error) => failed = Some(error),
                }
            }
            if let Some(error) = failed {
                self.backoff(error);
                continue;
            }
            match self.poll_batch() {
                Ok(Some(batch)) => {
                    if !self.send(batch) {
                        return Exit::Stopped;
                    }
                }
                Ok(None) => {}
                Err(exit) => return exit,
            }
        }
    }

    /// The topic's partitions, looked up on the reader's own client.
    fn own_lookup(&self) -> Result<Vec<i32>, String> {
        topic_partitions(
            &self.consumer,
            &self.spec.topic,
            self.config.request_timeout,
        )
    }

    /// Assigns those of the topic's `partitions` not assigned yet; returns a
    /// progress-only batch when the assignment grew.
    fn assign_new(&mut self, partitions: Vec<i32>) -> Result<Option<SourceBatch>, String> {
        let topic = self.spec.topic.as_str();
        let new: Vec<i32> = partitions
            .into_iter()
            .filter(|p| !self.assigned.contains(p))
            .collect();
        if new.is_empty() {
            return Ok(None);
        }
        let initial = self.assigned.is_empty() && !self.resumed;
        let mut list = TopicPartitionList::new();
        let mut starts = BTreeMap::new();
        let mut errors = Vec::new();
        for &partition in &new {
            let start = match self.progress.get(&partition) {
                Some(&offset) => {
                    // Resuming: messages the broker deleted (retention) before this
                    // source read them are lost to it; say so, and go on from the
                    // first message the broker still has.
                    let (low, _) = self.watermarks(partition)?;
                    if offset < low {
                        errors.push(SourceError {
                            partition,
                            offset,
                            message: format!(
                                "messages at offsets {offset} to {} were deleted by the broker \
                                 (retention) before this source read them",
                                low - 1
                            ),
                        });
                        low
                    } else {
                        offset
                    }
                }
                None if initial => self.start_offset(partition)?,
                None => self.watermarks(partition)?.0,
            };
            starts.insert(partition, start);
            list.add_partition_offset(topic, partition, Offset::Offset(start))
                .map_err(|e| format!("assigning partition {partition}: {e}"))?;
        }
        self.consumer
            .incremental_assign(&list)
            .map_err(|e| format!("assigning partitions {new:?} of \"{topic}\": {e}"))?;
        tracing::debug!(source = %self.config.name, ?starts, "kafka source assigned partitions");
        for (partition, start) in starts {
            self.assigned.insert(partition);
            self.progress.insert(partition, start);
        }
        // Later partitions are new ones whichever way the source started.
        self.resumed = true;
        {
            let mut status = lock(&self.status);
            status.progress = self.progress.clone();
            status.errors_total += errors.len() as u64;
        }
        Ok(Some(SourceBatch {
            progress: self.progress.clone(),
            errors,
            watermark_us: self.watermark_us(),
            ..SourceBatch::default()
        }))
    }

    /// The first offset to read from `partition` of a new source, per `START`.
    fn start_offset(&self, partition: i32) -> Result<i64, String> {
        match self.spec.start {
            StartOffset::Earliest => Ok(self.watermarks(partition)?.0),
            StartOffset::Latest => Ok(self.watermarks(partition)?.1),
            StartOffset::Timestamp { epoch_ms } => {
                let mut list = TopicPartitionList::new();
                list.add_partition_offset(&self.spec.topic, partition, Offset::Offset(epoch_ms))
                    .map_err(|e| e.to_string())?;
                let found = self
                    .consumer
                    .offsets_for_times(list, self.config.request_timeout)
                    .map_err(|e| format!("looking up offsets for START: {e}"))?;
                let offset = found
                    .find_partition(&self.spec.topic, partition)
                    .map(|e| e.offset());
                match offset {
                    Some(Offset::Offset(offset)) => Ok(offset),
                    // No message at or after the time: start at the end.
                    _ => Ok(self.watermarks(partition)?.1),
                }
            }
        }
    }

    fn watermarks(&self, partition: i32) -> Result<(i64, i64), String> {
        self.consumer
            .fetch_watermarks(&self.spec.topic, partition, self.config.request_timeout)
            .map_err(|e| {
                format!(
                    "fetching offsets of partition {partition} of \"{}\": {e}",
                    self.spec.topic
                )
            })
    }

    /// Polls up to one batch of messages. `Ok(None)` when nothing arrived.
    fn poll_batch(&mut self) -> Result<Option<SourceBatch>, Exit> {
        let mut batch = SourceBatch::default();
        let mut messages = 0u64;
        let mut bytes = 0u64;
        let mut late = 0u64;
        let mut failed = None;
        let mut timeout = POLL_INTERVAL;
        while messages < self.config.batch_messages_max as u64 {
            let Some(result) = self.consumer.poll(timeout) else {
                break;
            };
            timeout = Duration::ZERO;
            let message = match result {
                Ok(message) => message,
                Err(KafkaError::PartitionEOF(_)) => continue,
                Err(e) => {
                    // librdkafka reconnects by itself; report and go on polling.
                    self.note_failure(format!("reading \"{}\": {e}", self.spec.topic));
                    break;
                }
            };
            let partition = message.partition();
            let offset = message.offset();
            let Some(&next) = self.progress.get(&partition) else {
                continue;
            };
            if offset < next {
                // Already read (a message fetched again after a reassignment).
                continue;
            }
            messages += 1;
            bytes += (message.key().map_or(0, <[u8]>::len)
                + message.payload().map_or(0, <[u8]>::len)) as u64;
            let msg = KafkaMessage {
                partition,
                offset,
                timestamp_ms: message.timestamp().to_millis(),
                key: message.key(),
                value: message.payload(),
            };
            let before = batch.updates.len();
            let outcome = self
                .decoder
                .decode(&msg, &mut batch.updates)
                .map_err(Rejected::Unreadable)
                .and_then(|()| admit(&mut self.watermark, &msg, &batch.updates[before..]));
            match outcome {
                Ok(()) => {}
                Err(Rejected::Late(error)) => {
                    // Late is expected of an event stream: recorded, never a failure.
                    batch.updates.truncate(before);
                    late += 1;
                    batch.errors.push(SourceError {
                        partition,
                        offset,
                        message: error,
                    });
                }
                Err(Rejected::Unreadable(error)) => {
                    batch.updates.truncate(before);
                    batch.errors.push(SourceError {
                        partition,
                        offset,
                        message: error.clone(),
                    });
                    if self.spec.on_error == OnError::Fail {
                        failed = Some(format!(
                            "message at partition {partition}, offset {offset}: {error}"
                        ));
                        break;
                    }
                }
            }
            self.progress.insert(partition, offset + 1);
        }
        if messages == 0 {
            return Ok(None);
        }
        batch.progress = self.progress.clone();
        batch.watermark_us = self.watermark_us();
        {
            let mut status = lock(&self.status);
            status.messages_total += messages;
            status.bytes_total += bytes;
            status.errors_total += batch.errors.len() as u64;
            status.late_total += late;
            status.progress = self.progress.clone();
            if !matches!(status.state, SourceState::Running) {
                status.state = SourceState::Running;
            }
        }
        self.failures = 0;
        match failed {
            Some(error) => {
                self.send(batch);
                Err(Exit::Failed(error))
            }
            None => Ok(Some(batch)),
        }
    }

    fn watermark_us(&self) -> Option<i64> {
        self.watermark.as_ref().and_then(Watermark::get)
    }

    /// Sends a batch, waiting for room; false when the receiver is gone.
    fn send(&self, batch: SourceBatch) -> bool {
        self.sender.blocking_send(batch).is_ok()
    }

    fn note_failure(&mut self, error: String) {
        self.failures = self.failures.saturating_add(1);
        tracing::debug!(source = %self.config.name, %error, "kafka source retrying");
        lock(&self.status).state = SourceState::Retrying {
            last_error: error,
            attempts: self.failures,
        };
    }

    /// Records a failure and waits (in short steps, watching for a stop) before the next
    /// attempt.
    fn backoff(&mut self, error: String) {
        self.note_failure(error);
        let exponent = self.failures.saturating_sub(1).min(16);
        let wait = self
            .config
            .backoff_initial
            .saturating_mul(1 << exponent)
            .min(self.config.backoff_max);
        let until = Instant::now() + wait;
        while Instant::now() < until && !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(POLL_INTERVAL.min(until - Instant::now()));
        }
    }

    /// A metadata request succeeded: the broker is back.
    fn recovered(&mut self) {
        self.failures = 0;
        let mut status = lock(&self.status);
        if !matches!(status.state, SourceState::Running) {
            status.state = SourceState::Running;
        }
    }
}

/// Decides whether the message `msg`, decoded into `updates` (one row: sources with an
/// event time are streams), is on time against `watermark` (none: no event time), and
/// advances the watermark if it is.
fn admit(
    watermark: &mut Option<Watermark>,
    msg: &KafkaMessage<'_>,
    updates: &[(Row, Diff)],
) -> Result<(), Rejected> {
    let Some(watermark) = watermark else {
        return Ok(());
    };
    debug_assert_eq!(updates.len(), 1, "a stream's message is one row");
    let Some((row, _)) = updates.first() else {
        return Ok(());
    };
    let event_time_us = watermark.event_time_us(row, msg.timestamp_ms)?;
    watermark.admit(event_time_us)
}

#[cfg(test)]
mod tests {
    use eddy_repr::Datum;

    use super::*;

    fn batch(values: &[i64], errors: &[i64], progress: &[(i32, i64)]) -> SourceBatch {
        SourceBatch {
            updates: values
                .iter()
                .map(|&v| (Row::pack(&[Datum::Int64(v)]), 1))
                .collect(),
            errors: errors
                .iter()
                .map(|&offset| SourceError {
                    partition: 0,
                    offset,
                    message: "bad".into(),
                })
                .collect(),
            progress: progress.iter().copied().collect(),
            watermark_us: None,
        }
    }

    #[test]
    fn appending_a_later_batch_is_applying_both_in_order() {
        let mut first = batch(&[1, 2], &[5], &[(0, 6)]);
        first.append(batch(&[], &[], &[(0, 6), (1, 0)])); // a new partition, nothing read
        first.append(batch(&[3], &[7], &[(0, 8), (1, 1)]));
        assert_eq!(first, batch(&[1, 2, 3], &[5, 7], &[(0, 8), (1, 1)]));

        let mut empty = SourceBatch::default();
        empty.append(batch(&[4], &[], &[(0, 1)]));
        assert_eq!(empty, batch(&[4], &[], &[(0, 1)]));
    }

    #[test]
    fn appending_keeps_the_later_watermark() {
        let with = |watermark_us| SourceBatch {
            watermark_us,
            ..batch(&[1], &[], &[(0, 1)])
        };
        let mut first = with(None);
        first.append(with(Some(5)));
        first.append(with(Some(7)));
        assert_eq!(first.watermark_us, Some(7));
    }
}
