//! Sinks: a relation's changelog written to a Kafka topic (`eddy_connect::sink`),
//! exactly once.
//!
//! A running sink is three parts: a subscription dataflow reading the relation from
//! `as_of` (the oracle's read time when it starts) with its snapshot; a producer
//! thread (`eddy_connect::KafkaSink`) writing each batch of complete times in one
//! Kafka transaction; and a task that forwards the subscription's batches to the
//! producer. The coordinator only starts and stops them: it never waits on Kafka.
//!
//! Invariants:
//! - Exactly once: Eddy's log holds only the sink's definition
//!   ([`LogRecord::CreateSink`]); its progress is its topic. Every start (a new sink,
//!   a restart after a crash, a retry after a failure) fences the previous producer
//!   (same `transactional.id`), reads the committed topic back and writes, in its first
//!   transaction, only the difference between the relation at `as_of` and what the
//!   topic holds; then each later time's changes. So a change is in the topic once
//!   whatever the point of a crash, and the folded topic equals the relation at the
//!   last committed time (see `eddy_connect::sink` for the argument).
//! - A sink depends on its relation: dropping the relation needs CASCADE (2BP01),
//!   which drops the sink first.
//! - A failure (broker gone, a transaction that does not commit, the subscription
//!   falling behind, an error row in the relation) stops the sink's parts and starts
//!   them again after a backoff ([`RETRY_BACKOFF_MAX`] at most); `SHOW SINKS` shows
//!   `retrying: <error>` meanwhile. Dropping the sink stops it for good.

use std::collections::BTreeMap;
use std::time::Duration;

use eddy_connect::{
    KafkaSink, SinkBatch, SinkConfig, SinkEnvelope, SinkSpec, SinkState, SinkStatus,
};
use eddy_dataflow::{SubscribeDesc, SubscribeReceiver};
use eddy_repr::{GlobalId, SqlError, SqlState, Timestamp};
use tracing::{info, warn};

use crate::catalog::CatalogEntry;
use crate::command::Command;
use crate::coord::Coordinator;
use crate::metrics::SinkMetrics;

/// The longest wait before a failed sink is started again.
pub(crate) const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The most updates a sink's subscription may have waiting for the producer before
/// it fails (and the sink starts again, from what its topic holds).
const SINK_MAX_BUFFERED_RECORDS: u64 = 10_000_000;

/// A sink being written: its subscription dataflow and forwarding task, or the error
/// it stopped with while it waits to start again.
pub(crate) struct RunningSink {
    /// Which start this is; commands of an older one are ignored.
    generation: u64,
    /// The subscription's dataflow (a transient id).
    dataflow: Option<GlobalId>,
    task: Option<tokio::task::JoinHandle<()>>,
    status: Option<eddy_connect::SinkStatusHandle>,
    /// Set while the sink waits to start again.
    failure: Option<String>,
    /// Failures in a row (for the backoff).
    failures: u32,
    /// The last time committed, kept across starts.
    last_time: Option<Timestamp>,
    /// Messages written, kept across starts.
    messages_before: u64,
}

impl RunningSink {
    pub(crate) fn status(&self) -> SinkStatus {
        let mut status = match &self.status {
            Some(handle) => handle.get(),
            None => SinkStatus {
                state: SinkState::Starting,
                last_time: None,
                messages_total: 0,
            },
        };
        status.last_time = status.last_time.max(self.last_time);
        status.messages_total += self.messages_before;
        if let Some(error) = &self.failure {
            status.state = SinkState::Failed {
                error: error.clone(),
            };
        }
        status
    }

    /// Whether the sink stopped with an error and waits to start again.
    pub(crate) fn is_retrying(&self) -> bool {
        self.failure.is_some()
    }
}

/// What the coordinator keeps about its sinks.
#[derive(Default)]
pub(crate) struct Sinks {
    pub(crate) running: BTreeMap<GlobalId, RunningSink>,
    next_generation: u64,
}

/// The spec of a sink's catalog entry, with the server's default brokers.
pub(crate) fn sink_spec(
    entry: &CatalogEntry,
    default_brokers: Option<&str>,
) -> Result<SinkSpec, SqlError> {
    let options = entry
        .sink
        .as_ref()
        .ok_or_else(|| SqlError::internal(format!("\"{}\" is not a sink", entry.name)))?;
    SinkSpec::from_options(
        entry.desc.clone(),
        &options.options,
        options.key.as_deref(),
        default_brokers,
    )
}

impl Coordinator {
    /// For `ENVELOPE = 'UPSERT'` with `KEY = (...)`: the key must be known to be unique
    /// in the relation (it holds a primary key, the GROUP BY columns, ...), else two
    /// rows with one key would be folded into one message and a row lost. `NOT
    /// ENFORCED` takes the user's word for it.
    pub(crate) fn check_upsert_key(
        &self,
        entry: &CatalogEntry,
        spec: &SinkSpec,
    ) -> Result<(), SqlError> {
        let Some(options) = &entry.sink else {
            return Ok(());
        };
        if spec.envelope != SinkEnvelope::Upsert
            || options.key.is_none()
            || options.key_not_enforced
        {
            return Ok(());
        }
        let plan = entry
            .plan
            .as_ref()
            .ok_or_else(|| SqlError::internal(format!("sink \"{}\" has no plan", entry.name)))?;
        let keys = plan.keys(&|id| self.relation_keys(id));
        if keys
            .iter()
            .any(|key| key.iter().all(|c| spec.key.contains(c)))
        {
            return Ok(());
        }
        let names: Vec<&str> = spec
            .key
            .iter()
            .map(|&c| entry.desc.names[c].as_str())
            .collect();
        let known: Vec<String> = keys
            .iter()
            .map(|key| {
                let names: Vec<&str> = key.iter().map(|&c| entry.desc.names[c].as_str()).collect();
                format!("({})", names.join(", "))
            })
            .collect();
        let detail = if known.is_empty() {
            "No unique key of the relation is known.".to_string()
        } else {
            format!("Keys known to be unique: {}.", known.join(", "))
        };
        Err(SqlError::new(
            SqlState::INVALID_COLUMN_REFERENCE,
            format!(
                "KEY ({}) of sink \"{}\" is not known to be unique, so an upsert topic could lose rows",
                names.join(", "),
                entry.name
            ),
        )
        .with_detail(detail)
        .with_hint(
            "Use columns that hold a primary key or the GROUP BY columns, or write KEY = (...) NOT ENFORCED if you know the key is unique.",
        ))
    }

    /// The known unique keys of table, source or view `id` (see `MirRelationExpr::keys`).
    fn relation_keys(&self, id: GlobalId) -> Vec<Vec<usize>> {
        let Some(entry) = self.catalog.get(id) else {
            return vec![];
        };
        if !entry.primary_key.is_empty() {
            return vec![entry.primary_key.clone()];
        }
        match (&entry.plan, &entry.sink) {
            (Some(plan), None) => plan.keys(&|id| self.relation_keys(id)),
            _ => vec![],
        }
    }

    /// Copies every sink's figures into `/metrics`; a sink that runs again has no
    /// failures in a row any more (its next backoff starts short).
    pub(crate) fn publish_sink_metrics(&mut self) {
        let mut figures = std::collections::BTreeMap::new();
        for (id, running) in &mut self.sinks.running {
            let status = running.status();
            let up = status.state == SinkState::Running;
            if up {
                running.failures = 0;
            }
            let Some(entry) = self.catalog.get(*id) else {
                continue;
            };
            figures.insert(
                entry.name.clone(),
                SinkMetrics {
                    messages: status.messages_total,
                    last_time: status.last_time,
                    up,
                    failures: u64::from(running.failures),
                },
            );
        }
        *self
            .metrics
            .per_sink
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = figures;
    }

    /// Starts (or starts again) writing sink `id` (in the catalog): a subscription of
    /// its relation from the current read time, with the snapshot, feeding a new
    /// producer.
    pub(crate) fn start_sink(&mut self, id: GlobalId) -> Result<(), SqlError> {
        let entry = self
            .catalog
            .get(id)
            .ok_or_else(|| SqlError::internal(format!("sink {id} is not in the catalog")))?;
        let spec = sink_spec(entry, self.kafka_brokers.as_deref())?;
        let name = entry.name.clone();
        let plan = entry
            .plan
            .clone()
            .ok_or_else(|| SqlError::internal(format!("sink \"{name}\" has no plan")))?;
        // Fixed per sink and topic, so that a restarted sink fences its predecessor,
        // and two servers sharing a broker never fence each other's sinks.
        let transactional_id = format!("eddy-sink-{id}-{}", spec.topic);
        let as_of = self.oracle.read_ts();
        let sink = KafkaSink::start(spec, SinkConfig::new(name.clone(), transactional_id, as_of))?;
        self.next_transient += 1;
        let dataflow = GlobalId::Transient(self.next_transient);
        let receiver = self.compute.subscribe(SubscribeDesc {
            id: dataflow,
            name: format!("sink-{name}"),
            plan,
            as_of,
            snapshot: true,
            max_buffered_records: SINK_MAX_BUFFERED_RECORDS,
        });
        self.sinks.next_generation += 1;
        let generation = self.sinks.next_generation;
        let status = sink.status_handle();
        let tx = self.internal_tx.clone();
        let task = tokio::spawn(async move {
            let error = forward(receiver, &sink, as_of).await;
            let _ = tx
                .send(Command::SinkFailed {
                    id,
                    generation,
                    error,
                })
                .await;
        });
        let previous = self.sinks.running.remove(&id);
        let (failures, last_time, messages_before) = previous
            .map(|p| {
                let status = p.status();
                (p.failures, status.last_time, status.messages_total)
            })
            .unwrap_or_default();
        self.sinks.running.insert(
            id,
            RunningSink {
                generation,
                dataflow: Some(dataflow),
                task: Some(task),
                status: Some(status),
                failure: None,
                failures,
                last_time,
                messages_before,
            },
        );
        info!(sink = %id, %name, as_of, "sink started");
        Ok(())
    }

    /// Stops sink `id`'s parts (dropped, or failed).
    fn stop_sink_parts(&mut self, id: GlobalId) {
        let Some(running) = self.sinks.running.get_mut(&id) else {
            return;
        };
        if let Some(task) = running.task.take() {
            // Drops the producer, which stops its thread.
            task.abort();
        }
        if let Some(dataflow) = running.dataflow.take() {
            self.compute.drop_collection(dataflow);
        }
    }

    /// Stops sink `id` for good (dropped).
    pub(crate) fn stop_sink(&mut self, id: GlobalId) {
        self.stop_sink_parts(id);
        self.sinks.running.remove(&id);
    }

    /// A sink's start failed or its parts stopped: start it again after a backoff.
    pub(crate) fn sink_failed(&mut self, id: GlobalId, generation: u64, error: String) {
        match self.sinks.running.get(&id) {
            Some(running) if running.generation == generation => {}
            _ => return, // dropped, or an older start
        }
        warn!(sink = %id, %error, "sink failed; starting it again");
        self.stop_sink_parts(id);
        let running = self.sinks.running.get_mut(&id).expect("looked up above");
        let status = running.status();
        running.last_time = status.last_time;
        running.messages_before = status.messages_total;
        running.status = None;
        running.failure = Some(error);
        running.failures = running.failures.saturating_add(1);
        let backoff =
            Duration::from_millis(250u64 << running.failures.min(7)).min(RETRY_BACKOFF_MAX);
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(backoff).await;
            let _ = tx.send(Command::RestartSink { id, generation }).await;
        });
    }

    /// Starts a failed sink again (unless it was dropped or started since).
    pub(crate) fn restart_sink(&mut self, id: GlobalId, generation: u64) {
        match self.sinks.running.get(&id) {
            Some(running) if running.generation == generation => {}
            _ => return,
        }
        if let Err(e) = self.start_sink(id) {
            self.sink_failed(id, generation, e.message);
        }
    }

    /// Records a sink that could not start at all (its options no longer valid with
    /// this server's settings): shown as failed, tried again after a backoff.
    pub(crate) fn sink_not_started(&mut self, id: GlobalId, error: String) {
        self.sinks.next_generation += 1;
        let generation = self.sinks.next_generation;
        self.sinks.running.insert(
            id,
            RunningSink {
                generation,
                dataflow: None,
                task: None,
                status: None,
                failure: None,
                failures: 0,
                last_time: None,
                messages_before: 0,
            },
        );
        self.sink_failed(id, generation, error);
    }
}

/// Forwards the subscription's batches to the producer until one of them fails;
/// returns the error. The first batch sent is always at `as_of` (the snapshot, empty
/// if the relation is), which the producer writes as a difference from its topic.
async fn forward(mut receiver: SubscribeReceiver, sink: &KafkaSink, as_of: Timestamp) -> String {
    /// How often the upper is checked while waiting for the snapshot.
    const SNAPSHOT_POLL: Duration = Duration::from_millis(20);
    let mut snapshot_sent = false;
    loop {
        let next = if snapshot_sent {
            tokio::select! {
                next = receiver.next() => next,
                () = sink.stopped() => return stopped(sink),
            }
        } else {
            tokio::select! {
                next = receiver.next() => next,
                () = sink.stopped() => return stopped(sink),
                () = tokio::time::sleep(SNAPSHOT_POLL) => {
                    // Once the upper is past `as_of`, a batch at it would be queued.
                    if receiver.upper() <= as_of {
                        continue;
                    }
                    match receiver.try_next() {
                        Some(next) => next,
                        None => {
                            snapshot_sent = true;
                            let empty = SinkBatch { time: as_of, updates: vec![] };
                            if sink.send(empty).await.is_err() {
                                return stopped(sink);
                            }
                            continue;
                        }
                    }
                }
            }
        };
        let batch = match next {
            Some(Ok(batch)) => batch,
            Some(Err(e)) => return format!("the subscription failed: {e}"),
            None => return "the subscription ended".to_string(),
        };
        if !snapshot_sent && batch.time != as_of {
            let empty = SinkBatch {
                time: as_of,
                updates: vec![],
            };
            if sink.send(empty).await.is_err() {
                return stopped(sink);
            }
        }
        snapshot_sent = true;
        let batch = SinkBatch {
            time: batch.time,
            updates: batch.updates,
        };
        if sink.send(batch).await.is_err() {
            return stopped(sink);
        }
    }
}

/// The error a stopped producer reports.
fn stopped(sink: &KafkaSink) -> String {
    match sink.status().state {
        SinkState::Failed { error } => error,
        other => format!("the producer stopped ({other})"),
    }
}
