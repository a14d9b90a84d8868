//! A private Apache Kafka broker for tests, and the client helpers tests need.
//!
//! [`KafkaJars`] is Apache Kafka 4.1.0 as Maven Central publishes it: a pom naming
//! `org.apache.kafka:kafka_2.13:4.1.0` (plus a log4j binding so the broker writes a
//! log), fetched once into the cache `kafka-4.1.0` (see [`crate::maven`]).
//!
//! [`Kafka::start`] runs one KRaft node (combined broker and controller, static quorum of
//! one voter) in a temporary directory: `kafka.tools.StorageTool format`, then
//! `kafka.Kafka server.properties`, on two free loopback ports (retried on new ports when
//! another process took one first). It returns once the broker answers a metadata request
//! and lists itself. Settings are for fast tests: one partition and replication factor 1
//! by default, transaction state log with replication 1 and min ISR 1 (so Kafka
//! transactions work), no initial rebalance delay, no automatic topic creation, a 512 MB
//! heap. The broker's output goes to `kafka.log` in its directory, whose tail is part of
//! every start error. The process is killed and its directory deleted on drop.
//!
//! `EDDY_TEST_KAFKA=host:port` makes [`Kafka::start`] use that broker instead; topic names
//! from [`Kafka::unique_topic`] keep tests that share it apart.
//!
//! The helpers ([`Kafka::create_topic`], [`Kafka::add_partitions`], [`Kafka::produce`],
//! [`Kafka::read_all`]) use rdkafka and are async; they need a tokio runtime.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tempfile::TempDir;

use crate::net::free_port;
use crate::process::{file_tail, run_checked};

/// The Apache Kafka release the tests run.
pub const KAFKA_VERSION: &str = "4.1.0";
/// The environment variable naming an existing broker (`host:port`) to use instead.
pub const KAFKA_ENV: &str = "EDDY_TEST_KAFKA";

/// The KRaft cluster id (22 characters of URL-safe base64: 16 bytes).
const CLUSTER_ID: &str = "ZWRkeS10ZXN0a2l0LWtmaw";
/// How many starts are tried when a port was taken in the meantime.
const PORT_ATTEMPTS: usize = 5;
/// How long a start may take until the broker answers metadata requests.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one client request (admin, metadata, delivery) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often readiness and exit are polled.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Lines of the broker log shown in errors.
const LOG_TAIL_LINES: usize = 40;
/// The broker's JVM heap.
const JVM_HEAP: &str = "-Xmx512m";

/// Apache Kafka's jars in the local cache, fetched from Maven Central when missing
/// (see [`crate::maven`]).
#[derive(Clone, Debug)]
pub struct KafkaJars {
    libs: PathBuf,
}

impl KafkaJars {
    /// The cache directory for this Kafka version.
    pub fn cache_dir() -> Result<PathBuf> {
        crate::maven::cache_dir(&format!("kafka-{KAFKA_VERSION}"))
    }

    /// The jars, fetched with `mvn` under a lock file when the cache is not complete.
    pub fn locate() -> Result<KafkaJars> {
        for (program, package) in [("java", "a Java 17+ runtime"), ("mvn", "Maven")] {
            if Command::new(program).arg("-version").output().is_err() {
                bail!(
                    "`{program}` not found: the Kafka test broker needs {package} \
                     (scripts/test.sh installs both as root), or set {KAFKA_ENV}=host:port"
                );
            }
        }
        let libs = crate::maven::locate(
            &format!("kafka-{KAFKA_VERSION}"),
            &format!("Apache Kafka {KAFKA_VERSION}"),
            &dependencies_xml(),
            &format!("kafka_2.13-{KAFKA_VERSION}.jar"),
        )?;
        Ok(KafkaJars { libs })
    }

    /// The directory holding every jar (the classpath is `libs/*`).
    pub fn libs(&self) -> &Path {
        &self.libs
    }

    /// A `java` command with the Kafka classpath and a small heap.
    fn java(&self, log4j_config: &Path) -> Command {
        let mut cmd = Command::new("java");
        cmd.args([
            JVM_HEAP,
            "-Xms64m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
        ])
        .arg("-Djava.awt.headless=true")
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            log4j_config.display()
        ))
        .arg("-cp")
        .arg(format!("{}/*", self.libs.display()));
        cmd
    }
}

/// The pom's dependencies: Kafka, and a log4j binding so the broker writes a log.
fn dependencies_xml() -> String {
    format!(
        r#"<dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
    <!-- Kafka logs through slf4j 1.7; this binding sends it to log4j2, so the broker
         writes kafka.log. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>2.24.3</version>
    </dependency>"#
    )
}

const LOG4J2_PROPERTIES: &str = "\
rootLogger.level=INFO
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=WARN
logger.apache.name=org.apache.kafka
logger.apache.level=WARN
logger.started.name=kafka.server.KafkaRaftServer
logger.started.level=INFO
";

/// The KRaft node's configuration.
fn server_properties(data: &Path, broker_port: u16, controller_port: u16) -> String {
    format!(
        "process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{broker_port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs={}
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.flush.interval.messages=9223372036854775807
num.network.threads=2
num.io.threads=2
",
        data.display()
    )
}

/// A running broker process and its directory.
struct KafkaServer {
    child: Child,
    jars: KafkaJars,
    log4j: PathBuf,
    config: PathBuf,
    log: PathBuf,
    /// Deleted after the process is killed (fields drop after `Drop::drop`).
    _dir: TempDir,
}

/// A Kafka broker for one test: private (killed and deleted on drop) or, with
/// `EDDY_TEST_KAFKA`, an existing one.
pub struct Kafka {
    bootstrap: String,
    server: Option<KafkaServer>,
}

impl Kafka {
    /// Starts a private broker, or uses `$EDDY_TEST_KAFKA` when it is set. Blocks until
    /// the broker answers metadata requests.
    pub fn start() -> Result<Kafka> {
        match std::env::var(KAFKA_ENV) {
            Ok(bootstrap) if !bootstrap.trim().is_empty() => {
                let bootstrap = bootstrap.trim().to_string();
                wait_for_metadata(&bootstrap, Instant::now() + REQUEST_TIMEOUT, || Ok(()))
                    .with_context(|| {
                        format!("the broker {KAFKA_ENV}={bootstrap} does not answer")
                    })?;
                Ok(Kafka {
                    bootstrap,
                    server: None,
                })
            }
            _ => Self::start_private(),
        }
    }

    /// A broker shared by the tests of this process that run at the same time: the first
    /// caller starts it (as [`Kafka::start`] does), later callers get the same one while
    /// any holder is alive, and it stops when the last holder drops it. Tests keep apart by
    /// using [`Kafka::unique_topic`].
    pub fn shared() -> Result<Arc<Kafka>> {
        static SHARED: Mutex<Weak<Kafka>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(kafka) = shared.upgrade() {
            return Ok(kafka);
        }
        let kafka = Arc::new(Kafka::start()?);
        *shared = Arc::downgrade(&kafka);
        Ok(kafka)
    }

    /// Starts a private broker in a temporary directory, ignoring `EDDY_TEST_KAFKA`.
    pub fn start_private() -> Result<Kafka> {
        let jars = KafkaJars::locate()?;
        let dir = tempfile::Builder::new()
            .prefix("eddy-kafka-")
            .tempdir()
            .context("creating a temporary directory for kafka")?;
        let log4j = dir.path().join("log4j2.properties");
        std::fs::write(&log4j, LOG4J2_PROPERTIES).context("writing log4j2.properties")?;
        let log = dir.path().join("kafka.log");
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let broker_port = free_port()?;
            let mut controller_port = free_port()?;
            while controller_port == broker_port {
                controller_port = free_port()?;
            }
            let data = dir.path().join("data");
            if data.exists() {
                std::fs::remove_dir_all(&data).context("removing a failed start's data")?;
            }
            let config = dir.path().join("server.properties");
            std::fs::write(
                &config,
                server_properties(&data, broker_port, controller_port),
            )
            .context("writing server.properties")?;
            run_checked(
                jars.java(&log4j)
                    .args(["kafka.tools.StorageTool", "format", "--ignore-formatted"])
                    .args(["--cluster-id", CLUSTER_ID, "--config"])
                    .arg(&config),
                "kafka StorageTool format",
            )?;
            let log_file = File::create(&log).context("creating kafka.log")?;
            let mut child = spawn_broker(&jars, &log4j, &config, log_file)?;
            let bootstrap = format!("127.0.0.1:{broker_port}");
            match wait_until_ready(&mut child, &bootstrap) {
                Ok(()) => {
                    return Ok(Kafka {
                        bootstrap,
                        server: Some(KafkaServer {
                            child,
                            jars,
                            log4j,
                            config,
                            log,
                            _dir: dir,
                        }),
                    })
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let tail = file_tail(&log, LOG_TAIL_LINES);
                    let message = format!("{e:#}\nkafka log tail ({}):\n{tail}", log.display());
                    if tail.contains("Address already in use") || tail.contains("BindException") {
                        last_error = message;
                        continue;
                    }
                    bail!("kafka did not start: {message}");
                }
            }
        }
        bail!("kafka did not find free ports in {PORT_ATTEMPTS} attempts; last error: {last_error}")
    }

    /// Kills the private broker with SIGKILL, keeping its data, ports and log, as a
    /// broker that goes away does. Fails for a broker from `EDDY_TEST_KAFKA`.
    pub fn kill(&mut self) -> Result<()> {
        let server = self.private_server()?;
        server.child.kill().context("killing kafka")?;
        server.child.wait().context("waiting for kafka to exit")?;
        Ok(())
    }

    /// Starts a killed private broker again on the same ports and data, and waits until
    /// it answers metadata requests.
    pub fn restart(&mut self) -> Result<()> {
        let bootstrap = self.bootstrap.clone();
        let server = self.private_server()?;
        if server.child.try_wait()?.is_none() {
            bail!("kafka is still running; kill it first");
        }
        let log_file = OpenOptions::new()
            .append(true)
            .open(&server.log)
            .context("opening kafka.log")?;
        server.child = spawn_broker(&server.jars, &server.log4j, &server.config, log_file)?;
        wait_until_ready(&mut server.child, &bootstrap).with_context(|| {
            format!(
                "restarting kafka\nkafka log tail ({}):\n{}",
                server.log.display(),
                file_tail(&server.log, LOG_TAIL_LINES)
            )
        })
    }

    fn private_server(&mut self) -> Result<&mut KafkaServer> {
        self.server
            .as_mut()
            .ok_or_else(|| anyhow!("the broker from {KAFKA_ENV} is not this test's to stop"))
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// The private broker's log, `None` for a broker from `EDDY_TEST_KAFKA`.
    pub fn log_path(&self) -> Option<&Path> {
        self.server.as_ref().map(|s| s.log.as_path())
    }

    /// A topic name no other test (or earlier run against a shared broker) uses.
    pub fn unique_topic(&self, prefix: &str) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!(
            "{prefix}-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            nanos % 1_000_000_000
        )
    }

    /// A client configuration pointing at this broker.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("broker.address.family", "v4");
        config
    }

    fn admin(&self) -> Result<AdminClient<DefaultClientContext>> {
        self.client_config()
            .create()
            .context("creating a kafka admin client")
    }

    /// Creates `topic` with `partitions` partitions and waits until every partition has
    /// a leader.
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        let admin = self.admin()?;
        let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let results = admin
            .create_topics([&new_topic], &admin_options())
            .await
            .with_context(|| format!("creating topic {topic}"))?;
        for result in results {
            result.map_err(|(name, code)| anyhow!("creating topic {name}: {code}"))?;
        }
        self.wait_for_partitions(topic, partitions as usize).await
    }

    /// Raises `topic`'s partition count to `total` and waits until the new partitions
    /// have leaders.
    pub async fn add_partitions(&self, topic: &str, total: usize) -> Result<()> {
        let admin = self.admin()?;
        let new_partitions = NewPartitions::new(topic, total);
        let results = admin
            .create_partitions([&new_partitions], &admin_options())
            .await
            .with_context(|| format!("adding partitions to {topic}"))?;
        for result in results {
            result.map_err(|(name, code)| anyhow!("adding partitions to {name}: {code}"))?;
        }
        self.wait_for_partitions(topic, total).await
    }

    /// Polls metadata until `topic` has `count` partitions, each with a leader.
    async fn wait_for_partitions(&self, topic: &str, count: usize) -> Result<()> {
        let consumer: BaseConsumer = self.client_config().create()?;
        let topic_owned = topic.to_string();
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + REQUEST_TIMEOUT;
            loop {
                let partitions = consumer
                    .fetch_metadata(Some(&topic_owned), Duration::from_secs(5))
                    .ok()
                    .and_then(|md| {
                        md.topics()
                            .iter()
                            .find(|t| t.name() == topic_owned && t.error().is_none())
                            .map(|t| {
                                t.partitions()
                                    .iter()
                                    .filter(|p| p.leader() >= 0 && p.error().is_none())
                                    .count()
                            })
                    })
                    .unwrap_or(0);
                if partitions >= count {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    bail!("topic {topic_owned} has {partitions} of {count} partitions with a leader after {REQUEST_TIMEOUT:?}");
                }
                std::thread::sleep(POLL_INTERVAL);
            }
        })
        .await?
    }

    /// Produces `records` to `topic` in order (idempotent producer, so order within a
    /// partition is kept) and returns each record's `(partition, offset)`.
    pub async fn produce(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = TestRecord>,
    ) -> Result<Vec<(i32, i64)>> {
        let producer = self.test_producer(5)?;
        let mut deliveries = Vec::new();
        for record in records {
            deliveries.push(send(&producer, topic, &record).await?);
        }
        let mut positions = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            positions.push(delivered(delivery, topic).await?);
        }
        producer
            .flush(REQUEST_TIMEOUT)
            .with_context(|| format!("flushing the producer for {topic}"))?;
        Ok(positions)
    }

    /// Produces `records` to `topic` as a steady trickle: each is sent at once (no
    /// lingering), `gap` after the previous one.
    pub async fn produce_spaced(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = TestRecord>,
        gap: Duration,
    ) -> Result<Vec<(i32, i64)>> {
        let producer = self.test_producer(0)?;
        let mut deliveries = Vec::new();
        for record in records {
            deliveries.push(send(&producer, topic, &record).await?);
            tokio::time::sleep(gap).await;
        }
        let mut positions = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            positions.push(delivered(delivery, topic).await?);
        }
        Ok(positions)
    }

    /// An idempotent producer that gathers records for `linger_ms` before sending.
    fn test_producer(&self, linger_ms: u32) -> Result<FutureProducer> {
        self.client_config()
            .set("enable.idempotence", "true")
            .set("linger.ms", linger_ms.to_string())
            .set("message.max.bytes", "10000000")
            .create()
            .context("creating a kafka producer")
    }

    /// Every message of `topic`, partition by partition in offset order, up to each
    /// partition's end at the time of the call.
    pub async fn read_all(&self, topic: &str, isolation: Isolation) -> Result<Vec<ReadRecord>> {
        let consumer: BaseConsumer = self
            .client_config()
            .set("group.id", "eddy-testkit-reader")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", isolation.as_config())
            .create()
            .context("creating a kafka consumer")?;
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || read_all_blocking(&consumer, &topic)).await?
    }
}

fn read_all_blocking(consumer: &BaseConsumer, topic: &str) -> Result<Vec<ReadRecord>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .with_context(|| format!("fetching metadata of {topic}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| anyhow!("topic {topic} not in metadata"))?
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let mut assignment = TopicPartitionList::new();
    let mut pending = BTreeMap::new();
    for &partition in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
            .with_context(|| format!("fetching watermarks of {topic}/{partition}"))?;
        if high > low {
            assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
            pending.insert(partition, high);
        }
    }
    let mut records = Vec::new();
    if pending.is_empty() {
        return Ok(records);
    }
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    while !pending.is_empty() {
        if Instant::now() > deadline {
            bail!("reading {topic} timed out with partitions {pending:?} (partition → end) unfinished");
        }
        match consumer.poll(POLL_INTERVAL) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                pending.remove(&partition);
            }
            Some(Err(e)) => bail!("reading {topic}: {e}"),
            Some(Ok(message)) => {
                let partition = message.partition();
                let offset = message.offset();
                records.push(ReadRecord {
                    partition,
                    offset,
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().map(<[u8]>::to_vec),
                    timestamp_ms: message.timestamp().to_millis(),
                });
                if pending
                    .get(&partition)
                    .is_some_and(|&end| offset + 1 >= end)
                {
                    pending.remove(&partition);
                }
            }
        }
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    Ok(records)
}

/// `java kafka.Kafka server.properties`, its output appended to `log`.
fn spawn_broker(jars: &KafkaJars, log4j: &Path, config: &Path, log: File) -> Result<Child> {
    jars.java(log4j)
        .arg("kafka.Kafka")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("spawning java kafka.Kafka")
}

/// Waits until the broker at `bootstrap` answers metadata requests, failing early when
/// `child` exits.
fn wait_until_ready(child: &mut Child, bootstrap: &str) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    wait_for_metadata(bootstrap, deadline, || match child.try_wait()? {
        Some(status) => bail!("kafka exited with {status}"),
        None => Ok(()),
    })
}

fn admin_options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT))
}

/// Polls `bootstrap` with metadata requests until the broker lists itself, calling
/// `still_alive` between attempts (it fails when the broker process has exited).
fn wait_for_metadata(
    bootstrap: &str,
    deadline: Instant,
    mut still_alive: impl FnMut() -> Result<()>,
) -> Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("log_level", "0")
        .create()
        .context("creating a kafka client")?;
    let mut last_error;
    loop {
        still_alive()?;
        match consumer.fetch_metadata(None, Duration::from_secs(1)) {
            Ok(md) if !md.brokers().is_empty() => return Ok(()),
            Ok(_) => last_error = "metadata lists no broker".into(),
            Err(e) => last_error = e.to_string(),
        }
        if Instant::now() > deadline {
            bail!("kafka at {bootstrap} did not answer a metadata request within {READY_TIMEOUT:?}: {last_error}");
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        if let Some(server) = &mut self.server {
            if std::thread::panicking() {
                eprintln!(
                    "eddy-testkit: kafka log tail ({}):\n{}",
                    server.log.display(),
                    file_tail(&server.log, LOG_TAIL_LINES)
                );
            }
            if let Err(e) = server.child.kill() {
                eprintln!("eddy-testkit: killing kafka failed: {e}");
            }
            let _ = server.child.wait();
        }
    }
}

/// How [`Kafka::read_all`] treats transactional messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Every message, including those of open and aborted transactions.
    ReadUncommitted,
    /// Only committed messages (`isolation.level=read_committed`).
    ReadCommitted,
}

impl Isolation {
    fn as_config(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "read_uncommitted",
            Isolation::ReadCommitted => "read_committed",
        }
    }
}

/// A message for [`Kafka::produce`]: key and value optional (no value is a tombstone),
/// partition chosen by key (or by the producer) unless given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub partition: Option<i32>,
    pub timestamp_ms: Option<i64>,
}

impl TestRecord {
    /// A message with a value and no key.
    pub fn value(value: impl AsRef<[u8]>) -> TestRecord {
        TestRecord {
            value: Some(value.as_ref().to_vec()),
            ..TestRecord::default()
        }
    }

    /// A message with a key and a value.
    pub fn keyed(key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> TestRecord {
        TestRecord {
            key: Some(key.as_ref().to_vec()),
            value: Some(value.as_ref().to_vec()),
            ..TestRecord::default()
        }
    }

    /// A tombstone: a key and no value.
    pub fn tombstone(key: impl AsRef<[u8]>) -> TestRecord {
        TestRecord {
            key: Some(key.as_ref().to_vec()),
            ..TestRecord::default()
        }
    }

    /// The same message, sent to `partition`.
    pub fn to_partition(mut self, partition: i32) -> TestRecord {
        self.partition = Some(partition);
        self
    }

    /// The same message with an explicit timestamp (milliseconds since the epoch).
    pub fn at(mut self, timestamp_ms: i64) -> TestRecord {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }
}

/// A message read back by [`Kafka::read_all`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp_ms: Option<i64>,
}

/// Hands `record` to `producer`, waiting while its queue is full.
async fn send(
    producer: &FutureProducer,
    topic: &str,
    record: &TestRecord,
) -> Result<DeliveryFuture> {
    loop {
        let mut future_record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
        if let Some(key) = &record.key {
            future_record = future_record.key(key.as_slice());
        }
        if let Some(value) = &record.value {
            future_record = future_record.payload(value.as_slice());
        }
        if let Some(partition) = record.partition {
            future_record = future_record.partition(partition);
        }
        if let Some(ts) = record.timestamp_ms {
            future_record = future_record.timestamp(ts);
        }
        match producer.send_result(future_record) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((e, _)) => return Err(anyhow!("producing to {topic}: {e}")),
        }
    }
}

/// Where the broker stored a record: `(partition, offset)`.
async fn delivered(delivery: DeliveryFuture, topic: &str) -> Result<(i32, i64)> {
    let delivered = delivery
        .await
        .map_err(|_| anyhow!("producer dropped a delivery for {topic}"))?
        .map_err(|(e, _)| anyhow!("producing to {topic}: {e}"))?;
    Ok((delivered.partition, delivered.offset))
}
