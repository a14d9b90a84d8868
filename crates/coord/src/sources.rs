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
//! ([`RunningSource::in_flight`]). Across sources too: the batches of several sources
//! waiting in the coordinator's queue one behind the other are applied together
//! ([`Coordinator::apply_source_batches`]): one time, one append of one record per
//! source, one fsync.
//!
//! Pace: a source also forwards at most one batch every [`BATCH_INTERVAL`] (5 ms;
//! see [`Pace`]), so a steady trickle of messages becomes a batch every few
//! milliseconds instead of one per fsync.
//!
//! Invariants:
//! - Exactly once: a batch's updates and the offsets after it are made durable in one
//!   record before the workers see the updates, and a restarted source resumes from the
//!   offsets of the last record (with the rows the log holds, for its upsert state). So
//!   after a crash at any point every message is in the collection once: either its
//!   record is in the log, or it is read again.
//! - Late events are decided once: a stream's watermark after a batch is logged in the
//!   same atomic append as the batch (a `SourceWatermark` record beside its
//!   `SourceWrite`), and a restarted stream resumes from it, so a message read again
//!   after a crash is judged against exactly the watermark of the messages the log holds
//!   before it (`eddy_connect::event_time`).
//! - Only the source writes its relation: INSERT, UPDATE and DELETE are refused by the
//!   planner (it is a source, not a table).
//! - A batch of a source dropped meanwhile is ignored; dropping a source stops its
//!   consumer.
//! - A batch that cannot be made durable stops the source (with the error in its
//!   status); nothing of it reaches the workers, and a restart reads it again.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use eddy_connect::{
    KafkaSource, KafkaSourceSpec, Resume, SourceBatch, SourceConfig, SourceKind, SourceState,
    SourceStatus, StatusHandle,
};
use eddy_repr::{Datum, Diff, GlobalId, Row, SqlError, SqlState, Timestamp};
use tokio::sync::Semaphore;
use tracing::{error, warn};

use crate::builtins::{EDDY_SOURCE_ERRORS, EDDY_WATERMARKS};
use crate::catalog::CatalogEntry;
use crate::command::Command;
use crate::coord::Coordinator;
use crate::durable::{LogRecord, SourceErrorRecord};
use crate::metrics::SourceMetrics;
use crate::timestamp::now_ms;

/// How often a source's figures in `/metrics` are refreshed.
const METRICS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// Updates after which coalescing stops adding the consumer's batches (each of at most
/// 4,096 messages) to the batch forwarded to the coordinator.
pub(crate) const COALESCED_UPDATES_MAX: usize = 65_536;
/// Bytes of rows after which coalescing stops adding the consumer's batches.
pub(crate) const COALESCED_BYTES_MAX: usize = 64 << 20;

/// The least time between two batches a source forwards (see [`Pace`]).
pub(crate) const BATCH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(5);

/// Spaces a source's batches at least [`BATCH_INTERVAL`] apart.
///
/// Every batch costs a log append and an fsync, one new time, and a step of every
/// dataflow that reads the source, whatever its size. Without a pace a source sending
/// a steady trickle is forwarded as fast as the fsync allows (a few messages a
/// batch, a thousand or more batches a second): the workers spend their time on
/// per-time costs, and since each write takes its own millisecond, times run ahead
/// of the wall clock. With it, a busy source gathers what arrives for a few
/// milliseconds into one batch, and the first message after a pause is forwarded at
/// once.
#[derive(Default)]
pub(crate) struct Pace {
    last: Option<tokio::time::Instant>,
}

impl Pace {
    /// When the next batch may go, if not now.
    pub(crate) fn not_before(&self) -> Option<tokio::time::Instant> {
        let at = self.last? + BATCH_INTERVAL;
        (at > tokio::time::Instant::now()).then_some(at)
    }

    /// A batch was forwarded now.
    pub(crate) fn forwarded(&mut self) {
        self.last = Some(tokio::time::Instant::now());
    }
}

/// The source task's metrics tick: every [`METRICS_INTERVAL`] the coordinator
/// refreshes the source's figures in `/metrics` (its lag changes while no batch
/// comes), also while the task waits for its turn, for messages or for its pace.
struct Ticks {
    interval: tokio::time::Interval,
    tx: tokio::sync::mpsc::Sender<Command>,
    id: GlobalId,
}

impl Ticks {
    /// Runs `work` to its end, ticking meanwhile; `None` once the coordinator is gone.
    async fn during<F: std::future::Future>(&mut self, work: F) -> Option<F::Output> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return Some(out),
                _ = self.interval.tick() => {
                    self.tx.send(Command::SourceTick { id: self.id }).await.ok()?;
                }
            }
        }
    }
}

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
    /// Batches logged since the source started (each at a time of its own).
    writes: u64,
}

impl RunningSource {
    /// Its state, without copying the rest of its status.
    pub(crate) fn state(&self) -> SourceState {
        match &self.failure {
            Some(error) => SourceState::Failed {
                error: error.clone(),
            },
            None => self.status.state(),
        }
    }

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
    /// The watermark (microseconds since the epoch) of every stream with an event time
    /// that has accepted an event, as the log holds it.
    pub(crate) watermarks: BTreeMap<GlobalId, i64>,
    /// The streams with a `RETENTION`: their own input takes their watermark too (kept
    /// here when their input is made, so a watermark's move reads no options).
    pub(crate) retained: std::collections::BTreeSet<GlobalId>,
    /// The last [`ERRORS_KEPT`] messages each source could not read, oldest first: the
    /// rows of `eddy_source_errors`.
    pub(crate) errors: BTreeMap<GlobalId, VecDeque<SourceErrorRecord>>,
}

/// How many unreadable messages `eddy_source_errors` keeps per source (the oldest go
/// first); the count in `SHOW SOURCES` and `/metrics` covers them all.
pub(crate) const ERRORS_KEPT: usize = 10_000;

impl Sources {
    /// Records `new` errors of source `id` (named `name`) and returns the changes of
    /// `eddy_source_errors`: the new rows, and the oldest ones past [`ERRORS_KEPT`]
    /// retracted.
    pub(crate) fn add_errors(
        &mut self,
        id: GlobalId,
        name: &str,
        new: Vec<SourceErrorRecord>,
    ) -> Vec<(Row, Diff)> {
        let kept = self.errors.entry(id).or_default();
        let mut rows = Vec::with_capacity(new.len());
        for e in new {
            rows.push((error_row(name, &e), 1));
            kept.push_back(e);
            if kept.len() > ERRORS_KEPT {
                let old = kept.pop_front().expect("over the bound");
                rows.push((error_row(name, &old), -1));
            }
        }
        rows
    }

    /// Forgets source `id` (named `name`); returns the retraction of its error rows.
    fn forget(&mut self, id: GlobalId, name: &str) -> Vec<(Row, Diff)> {
        self.running.remove(&id);
        self.progress.remove(&id);
        self.watermarks.remove(&id);
        self.retained.remove(&id);
        self.errors
            .remove(&id)
            .into_iter()
            .flatten()
            .map(|e| (error_row(name, &e), -1))
            .collect()
    }
}

/// A stream's `RETENTION`, if it has one.
pub(crate) fn stream_retention(entry: &CatalogEntry) -> Option<eddy_dataflow::Retention> {
    let options = entry.source.as_ref().filter(|s| s.stream)?;
    let (column, retention_us) = eddy_connect::stream_retention(&entry.desc, &options.options)?;
    Some(eddy_dataflow::Retention {
        column,
        retention_us,
    })
}

/// Whether `entry` is a stream read from a topic: its rows are only ever inserted
/// (unless it has a retention, after which they leave).
fn is_stream(entry: &CatalogEntry) -> bool {
    entry.source.as_ref().is_some_and(|s| s.stream)
}

/// A watermark as a stream's own watermark input holds it: one `timestamptz`.
pub(crate) fn mark_row(watermark_us: i64) -> Row {
    Row::pack(&[instant_datum(watermark_us)])
}

/// A watermark as a `timestamptz` datum.
fn instant_datum(watermark_us: i64) -> Datum {
    Datum::TimestampTz(
        chrono::DateTime::from_timestamp_micros(watermark_us)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
    )
}

/// A row of `eddy_watermarks`: stream `id` (named `source`) has watermark
/// `watermark_us`.
pub(crate) fn watermark_row(source: &str, id: GlobalId, watermark_us: i64) -> Row {
    Row::pack(&[
        Datum::String(source.to_string()),
        Datum::Oid(eddy_sql::item_oid(id).unwrap_or(0)),
        instant_datum(watermark_us),
    ])
}

/// A row of `eddy_source_errors`.
fn error_row(source: &str, e: &SourceErrorRecord) -> Row {
    Row::pack(&[
        Datum::String(source.to_string()),
        Datum::Int32(e.partition),
        Datum::Int64(e.offset),
        Datum::String(e.message.clone()),
    ])
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
            let mut ticks = Ticks {
                interval: tokio::time::interval(METRICS_INTERVAL),
                tx: tx.clone(),
                id,
            };
            let mut pace = Pace::default();
            loop {
                // Wait until the previous batch is applied; meanwhile the next ones
                // gather in the source's channel.
                match ticks.during(turn.acquire()).await {
                    Some(Ok(permit)) => permit.forget(),
                    _ => return,
                }
                let Some(Some(mut batch)) = ticks.during(source.next_batch()).await else {
                    return;
                };
                // A busy source waits out its pace; what arrives meanwhile joins.
                if let Some(not_before) = pace.not_before() {
                    if ticks
                        .during(tokio::time::sleep_until(not_before))
                        .await
                        .is_none()
                    {
                        return;
                    }
                }
                coalesce(&mut source, &mut batch);
                pace.forwarded();
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
                writes: 0,
            },
        );
        Ok(())
    }

    /// An error if a source that `ids` read (directly or through views) has stopped
    /// with an error (`ON_ERROR = 'FAIL'`, or a batch it could not log): its rows stop
    /// at the message it could not read, so reads of it report that rather than
    /// answer from data that no longer follows the topic.
    pub(crate) fn check_sources(&self, ids: &BTreeSet<GlobalId>) -> Result<(), SqlError> {
        // Every read comes here: with no failed source (nearly always) there is
        // nothing to walk.
        let mut failed: BTreeMap<GlobalId, String> = self
            .sources
            .running
            .iter()
            .filter_map(|(id, running)| match running.state() {
                SourceState::Failed { error } => Some((*id, error)),
                _ => None,
            })
            .collect();
        failed.extend(self.failed_pg_tables());
        if failed.is_empty() {
            return Ok(());
        }
        let mut seen = BTreeSet::new();
        let mut todo: Vec<GlobalId> = ids.iter().copied().collect();
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            let Some(entry) = self.catalog.get(id) else {
                continue;
            };
            todo.extend(entry.depends_on.iter().copied());
            if let Some(error) = failed.get(&id) {
                let (what, hint) = match entry.upstream {
                    Some(_) => (
                        format!("table \"{}\"", entry.qualified_name()),
                        "SHOW SOURCES says why; drop and re-create its source to read it again.",
                    ),
                    None => (
                        format!("source \"{}\"", entry.name),
                        "SHOW SOURCES says where it stopped; drop and re-create it (with ON_ERROR = 'SKIP' to skip such messages).",
                    ),
                };
                return Err(SqlError::new(
                    SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!("{what} has stopped: {error}"),
                )
                .with_hint(hint));
            }
        }
        Ok(())
    }

    /// Copies source `id`'s figures into `/metrics`: its counters, and its lag against
    /// the offsets the log holds.
    pub(crate) fn publish_source_metrics(&self, id: GlobalId) {
        let (Some(entry), Some(running)) = (self.catalog.get(id), self.sources.running.get(&id))
        else {
            return;
        };
        let status = running.status();
        let progress = self.sources.progress.get(&id).cloned().unwrap_or_default();
        let figures = SourceMetrics {
            messages: status.messages_total,
            bytes: status.bytes_total,
            errors: status.errors_total,
            late: status.late_total,
            lag: status.lag(&progress),
            lag_bytes: None,
            writes: running.writes,
        };
        self.metrics
            .per_source
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(entry.name.clone(), figures);
    }

    /// Stops reading source `id` (dropped), and removes its rows from
    /// `eddy_source_errors`.
    pub(crate) fn stop_source(&mut self, id: GlobalId) {
        let name = self
            .catalog
            .get(id)
            .map(|e| e.name.clone())
            .unwrap_or_default();
        self.row_counts.remove(&id);
        self.metrics
            .per_source
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&name);
        let watermark = self
            .sources
            .watermarks
            .get(&id)
            .map(|us| (watermark_row(&name, id, *us), -1));
        let retractions = self.sources.forget(id, &name);
        if !retractions.is_empty() || watermark.is_some() {
            let time = self.oracle.write_ts(now_ms());
            if !retractions.is_empty() {
                self.compute
                    .update_table(EDDY_SOURCE_ERRORS.id(), time, retractions);
            }
            if let Some(row) = watermark {
                self.compute
                    .update_table(EDDY_WATERMARKS.id(), time, vec![row]);
            }
            self.close_time(time);
        }
    }

    /// Moves stream `id`'s watermark to `watermark_us` at `time` (not closed yet), in
    /// `eddy_watermarks` too, and in the stream's own input when it has a retention.
    pub(crate) fn set_watermark(&mut self, id: GlobalId, watermark_us: i64, time: Timestamp) {
        let name = self
            .catalog
            .get(id)
            .map(|e| e.name.clone())
            .unwrap_or_default();
        let old = self.sources.watermarks.insert(id, watermark_us);
        let mut rows = vec![(watermark_row(&name, id, watermark_us), 1)];
        let mut marks = vec![(mark_row(watermark_us), 1)];
        if let Some(old) = old {
            rows.push((watermark_row(&name, id, old), -1));
            marks.push((mark_row(old), -1));
        }
        self.compute.update_table(EDDY_WATERMARKS.id(), time, rows);
        if self.sources.retained.contains(&id) {
            self.compute.update_watermark(id, time, marks);
        }
    }

    /// Creates the input of a table, stream or Kafka table: with a `RETENTION`, a
    /// stream whose rows leave once its watermark is that far past them.
    pub(crate) fn create_input(&mut self, entry: &CatalogEntry) {
        match stream_retention(entry) {
            Some(retention) => {
                self.sources.retained.insert(entry.id);
                self.compute.create_stream(entry.id, &entry.name, retention)
            }
            None if is_stream(entry) => self.compute.create_append_only(entry.id, &entry.name),
            None => self
                .compute
                .create_table(entry.id, &entry.name, entry.desc.types.clone()),
        }
    }

    /// Applies batches of several sources (each at most one, as their turns allow) as
    /// one write: one new time, one append of one record per source (so one fsync for
    /// all), then the updates to the workers. Then each source may forward its next
    /// batch.
    pub(crate) fn apply_source_batches(&mut self, batches: Vec<(GlobalId, SourceBatch)>) {
        let mut turns = Vec::with_capacity(batches.len());
        let mut records = Vec::with_capacity(batches.len());
        let time = self.oracle.write_ts(now_ms());
        for (id, batch) in batches {
            let Some(running) = self.sources.running.get(&id) else {
                continue; // dropped meanwhile
            };
            turns.push(NextTurn(Arc::clone(&running.in_flight)));
            if running.failure.is_some() {
                continue;
            }
            let SourceBatch {
                updates,
                errors,
                progress,
                watermark_us,
            } = batch;
            let watermark_us = watermark_us.filter(|w| self.sources.watermarks.get(&id) != Some(w));
            let unchanged = self.sources.progress.get(&id) == Some(&progress);
            if updates.is_empty() && errors.is_empty() && unchanged && watermark_us.is_none() {
                continue;
            }
            for e in &errors {
                warn!(source = %id, partition = e.partition, offset = e.offset, error = %e.message, "message skipped");
            }
            let errors = errors
                .into_iter()
                .map(|e| SourceErrorRecord {
                    partition: e.partition,
                    offset: e.offset,
                    message: e.message,
                })
                .collect();
            records.push(LogRecord::SourceWrite {
                time,
                id,
                updates,
                errors,
                progress,
            });
            // In the same append as the write: the watermark is progress too.
            if let Some(watermark_us) = watermark_us {
                records.push(LogRecord::SourceWatermark { id, watermark_us });
            }
        }
        if records.is_empty() {
            return;
        }
        if let Err(e) = self.storage.append(&records) {
            for record in &records {
                let LogRecord::SourceWrite { id, .. } = record else {
                    continue;
                };
                error!(source = %id, error = %e, "source stopped: its batch could not be logged");
                if let Some(running) = self.sources.running.get_mut(id) {
                    running.failure = Some(format!("could not log what was read: {}", e.message));
                    running.task.abort();
                }
            }
            return;
        }
        for record in records {
            match record {
                LogRecord::SourceWrite {
                    id,
                    updates,
                    errors,
                    progress,
                    ..
                } => self.apply_logged_source_write(id, time, updates, errors, progress),
                LogRecord::SourceWatermark { id, watermark_us } => {
                    self.set_watermark(id, watermark_us, time)
                }
                _ => unreachable!("built as source writes and watermarks above"),
            }
        }
        self.close_time(time);
        drop(turns);
    }

    /// Sends a logged batch of source `id` to the workers at `time` (not closed yet).
    fn apply_logged_source_write(
        &mut self,
        id: GlobalId,
        time: Timestamp,
        updates: Vec<(Row, Diff)>,
        errors: Vec<SourceErrorRecord>,
        progress: BTreeMap<i32, i64>,
    ) {
        let rows = updates.len() as u64;
        if let Some(running) = self.sources.running.get_mut(&id) {
            running.writes += 1;
        }
        self.count_rows(id, &updates);
        if !updates.is_empty() {
            self.compute.update_table(id, time, updates);
        }
        let n_errors = errors.len() as u64;
        if !errors.is_empty() {
            let name = self
                .catalog
                .get(id)
                .map(|e| e.name.clone())
                .unwrap_or_default();
            let error_rows = self.sources.add_errors(id, &name, errors);
            self.compute
                .update_table(EDDY_SOURCE_ERRORS.id(), time, error_rows);
        }
        self.sources.progress.insert(id, progress);
        self.publish_source_metrics(id);
        self.rows_since_snapshot += rows;
        self.metrics
            .rows_ingested
            .fetch_add(rows, Ordering::Relaxed);
        self.metrics
            .source_errors
            .fetch_add(n_errors, Ordering::Relaxed);
    }
}

/// Gives a source its turn back (one permit) when dropped, on every way out of
/// [`Coordinator::apply_source_batches`] (and of the Postgres sources' own).
pub(crate) struct NextTurn(pub(crate) Arc<Semaphore>);

impl Drop for NextTurn {
    fn drop(&mut self) {
        self.0.add_permits(1);
    }
}

/// The source's next batch followed by the batches already waiting behind it, as one
/// batch; no batch is added once it holds [`COALESCED_UPDATES_MAX`] updates or
/// [`COALESCED_BYTES_MAX`] bytes of rows. `None` once the source has stopped.
/// Adds the batches waiting in the source's channel to `batch`, up to the limits.
fn coalesce(source: &mut KafkaSource, batch: &mut SourceBatch) {
    let mut bytes = row_bytes(batch);
    while batch.updates.len() < COALESCED_UPDATES_MAX && bytes < COALESCED_BYTES_MAX {
        let Some(next) = source.try_next_batch() else {
            break;
        };
        bytes += row_bytes(&next);
        batch.append(next);
    }
}

fn row_bytes(batch: &SourceBatch) -> usize {
    batch.updates.iter().map(|(row, _)| row.byte_len()).sum()
}

#[cfg(test)]
mod tests {
    use super::{Pace, BATCH_INTERVAL};

    #[tokio::test]
    async fn a_batch_waits_out_the_pace_of_the_previous_one_only() {
        let mut pace = Pace::default();
        assert_eq!(pace.not_before(), None, "the first batch goes at once");
        pace.forwarded();
        let sent = tokio::time::Instant::now();
        let not_before = pace.not_before().expect("the next one waits");
        assert!(not_before >= sent && not_before <= sent + BATCH_INTERVAL);
        tokio::time::sleep_until(not_before).await;
        assert_eq!(pace.not_before(), None, "after the pace, at once again");
    }
}
