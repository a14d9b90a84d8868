//! Sources: streams and tables read from Kafka topics (`eddy_connect`), stored and
//! timestamped like tables.
//!
//! A running source is a consumer thread (in `eddy_connect`) and a task that forwards
//! its batches to the coordinator as [`Command::SourceBatch`]. The coordinator applies
//! each batch as a table write of its own: one new time, one log record holding the
//! updates, the messages that could not be read and the offsets reached, then the
//! updates to the workers.
//!
//! Group commit: each source has at most one batch in the coordinator's queue or being
//! applied. While it is applied (its fsync is most of the cost), the consumer's batches
//! wait in the source's channel, and the task forwards all that waited as one batch
//! (it stops adding consumer batches once it holds [`COALESCED_UPDATES_MAX`] updates or
//! [`COALESCED_BYTES_MAX`] bytes of rows, so it exceeds them by at most one of them):
//! one record, one fsync and one time for many consumer batches. So a busy source
//! writes large batches, an idle one gets its message through after one fsync, and
//! the coordinator's queue never fills with one source's small batches. The coordinator
//! never waits on Kafka: it only hands the source its turn back
//! ([`RunningSource::in_flight`]).
//!
//! Invariants:
//! - Exactly once: a batch's updates and the offsets after it are made durable in one
//!   record before the workers see the updates, and a restarted source resumes from the
//!   offsets of the last record (with the rows the log holds, for its upsert state). So
//!   after a crash at any point every message is in the collection once: either its
//!   record is in the log, or it is read again.
//! - Only the source writes its relation: INSERT, UPDATE and DELETE are refused by the
//!   planner (it is a source, not a table).
//! - A batch of a source dropped meanwhile is ignored; dropping a source stops its
//!   consumer.
//! - A batch that cannot be made durable stops the source (with the error in its
//!   status); nothing of it reaches the workers, and a restart reads it again.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use eddy_connect::{
    KafkaSource, KafkaSourceSpec, Resume, SourceBatch, SourceConfig, SourceKind, SourceState,
    SourceStatus, StatusHandle,
};
use eddy_repr::{GlobalId, SqlError};
use tokio::sync::Semaphore;
use tracing::{error, warn};

use crate::catalog::CatalogEntry;
use crate::command::Command;
use crate::coord::Coordinator;
use crate::durable::{LogRecord, SourceErrorRecord};
use crate::timestamp::now_ms;

/// Updates after which coalescing stops adding the consumer's batches (each of at most
/// 4,096 messages) to the batch forwarded to the coordinator.
pub(crate) const COALESCED_UPDATES_MAX: usize = 65_536;
/// Bytes of rows after which coalescing stops adding the consumer's batches.
pub(crate) const COALESCED_BYTES_MAX: usize = 64 << 20;

/// A source being read: the task forwarding its batches (aborting it drops the
/// consumer, which stops its thread) and its status.
pub(crate) struct RunningSource {
    task: tokio::task::JoinHandle<()>,
    /// One permit while the source may forward a batch; the forwarding task takes it
    /// before each batch and the coordinator gives it back once the batch is applied.
    in_flight: Arc<Semaphore>,
    status: StatusHandle,
    /// Set when the coordinator stopped the source (a batch it could not log).
    failure: Option<String>,
}

impl RunningSource {
    pub(crate) fn status(&self) -> SourceStatus {
        let mut status = self.status.get();
        if let Some(error) = &self.failure {
            status.state = SourceState::Failed {
                error: error.clone(),
            };
        }
        status
    }
}

impl Drop for RunningSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the coordinator keeps about its sources.
#[derive(Default)]
pub(crate) struct Sources {
    pub(crate) running: BTreeMap<GlobalId, RunningSource>,
    /// Partition → next offset of every source, as the log holds it.
    pub(crate) progress: BTreeMap<GlobalId, BTreeMap<i32, i64>>,
}

/// The spec of a source's catalog entry, with the server's default brokers.
pub(crate) fn source_spec(
    entry: &CatalogEntry,
    default_brokers: Option<&str>,
) -> Result<KafkaSourceSpec, SqlError> {
    let options = entry
        .source
        .as_ref()
        .ok_or_else(|| SqlError::internal(format!("\"{}\" is not a source", entry.name)))?;
    let kind = if options.stream {
        SourceKind::Stream
    } else {
        SourceKind::Table
    };
    KafkaSourceSpec::from_options(
        kind,
        entry.desc.clone(),
        entry.primary_key.clone(),
        &options.options,
        default_brokers,
    )
}

impl Coordinator {
    /// Starts reading source `id` (in the catalog) from `resume`.
    pub(crate) fn start_source(
        &mut self,
        id: GlobalId,
        spec: KafkaSourceSpec,
        resume: Resume,
    ) -> Result<(), SqlError> {
        let name = self
            .catalog
            .get(id)
            .map(|e| e.name.clone())
            .unwrap_or_default();
        let mut source = KafkaSource::start(spec, SourceConfig::new(name), resume)?;
        let status = source.status_handle();
        let tx = self.internal_tx.clone();
        let in_flight = Arc::new(Semaphore::new(1));
        let turn = Arc::clone(&in_flight);
        let task = tokio::spawn(async move {
            loop {
                // Wait until the previous batch is applied; meanwhile the next ones
                // gather in the source's channel.
                match turn.acquire().await {
                    Ok(permit) => permit.forget(),
                    Err(_) => return,
                }
                let Some(batch) = coalesce(&mut source).await else {
                    return;
                };
                if tx.send(Command::SourceBatch { id, batch }).await.is_err() {
                    return;
                }
            }
        });
        self.sources.running.insert(
            id,
            RunningSource {
                task,
                in_flight,
                status,
                failure: None,
            },
        );
        Ok(())
    }

    /// Stops reading source `id` (dropped).
    pub(crate) fn stop_source(&mut self, id: GlobalId) {
        self.sources.running.remove(&id);
        self.sources.progress.remove(&id);
    }

    /// Applies one batch of source `id`: logged with its offsets, then sent to the
    /// workers at a new time. Then the source may forward its next batch.
    pub(crate) fn apply_source_batch(&mut self, id: GlobalId, batch: SourceBatch) {
        let Some(running) = self.sources.running.get(&id) else {
            return; // dropped meanwhile
        };
        let _next_turn = NextTurn(Arc::clone(&running.in_flight));
        self.apply_source_write(id, batch);
    }

    fn apply_source_write(&mut self, id: GlobalId, batch: SourceBatch) {
        let Some(running) = self.sources.running.get_mut(&id) else {
            return;
        };
        if running.failure.is_some() {
            return;
        }
        let SourceBatch {
            updates,
            errors,
            progress,
        } = batch;
        let unchanged = self.sources.progress.get(&id) == Some(&progress);
        if updates.is_empty() && errors.is_empty() && unchanged {
            return;
        }
        for e in &errors {
            warn!(source = %id, partition = e.partition, offset = e.offset, error = %e.message, "message skipped");
        }
        let errors: Vec<SourceErrorRecord> = errors
            .into_iter()
            .map(|e| SourceErrorRecord {
                partition: e.partition,
                offset: e.offset,
                message: e.message,
            })
            .collect();
        let time = self.oracle.write_ts(now_ms());
        let record = LogRecord::SourceWrite {
            time,
            id,
            updates,
            errors,
            progress,
        };
        if let Err(e) = self.storage.append(std::slice::from_ref(&record)) {
            error!(source = %id, error = %e, "source stopped: its batch could not be logged");
            running.failure = Some(format!("could not log what was read: {}", e.message));
            running.task.abort();
            return;
        }
        let LogRecord::SourceWrite {
            updates,
            errors,
            progress,
            ..
        } = record
        else {
            unreachable!("built as a source write above")
        };
        let rows = updates.len() as u64;
        if !updates.is_empty() {
            self.compute.update_table(id, time, updates);
        }
        self.close_time(time);
        self.sources.progress.insert(id, progress);
        self.rows_since_snapshot += rows;
        self.metrics
            .rows_ingested
            .fetch_add(rows, Ordering::Relaxed);
        self.metrics
            .source_errors
            .fetch_add(errors.len() as u64, Ordering::Relaxed);
    }
}

/// Gives a source its turn back (one permit) when dropped, on every way out of
/// [`Coordinator::apply_source_batch`].
struct NextTurn(Arc<Semaphore>);

impl Drop for NextTurn {
    fn drop(&mut self) {
        self.0.add_permits(1);
    }
}

/// The source's next batch followed by the batches already waiting behind it, as one
/// batch; no batch is added once it holds [`COALESCED_UPDATES_MAX`] updates or
/// [`COALESCED_BYTES_MAX`] bytes of rows. `None` once the source has stopped.
async fn coalesce(source: &mut KafkaSource) -> Option<SourceBatch> {
    let mut batch = source.next_batch().await?;
    let mut bytes = row_bytes(&batch);
    while batch.updates.len() < COALESCED_UPDATES_MAX && bytes < COALESCED_BYTES_MAX {
        let Some(next) = source.try_next_batch() else {
            break;
        };
        bytes += row_bytes(&next);
        batch.append(next);
    }
    Some(batch)
}

fn row_bytes(batch: &SourceBatch) -> usize {
    batch.updates.iter().map(|(row, _)| row.byte_len()).sum()
}
