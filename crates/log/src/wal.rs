//! [`Log`]: opening and recovering a log directory, appending batches, rolling segments
//! and compacting into snapshots.
//!
//! Recovery order in [`Log::open`]: take the directory lock; remove leftover snapshot
//! temp files; load and verify the latest snapshot (a damaged one is an error) and remove
//! older ones; remove segments a snapshot wholly covers; verify every other segment in
//! order, all but the last strictly; repair a torn tail of the last segment by
//! truncation. The in-memory state (next sequence number, active segment length) is then
//! exactly what the files say, and [`Log::append`] checks it against the file again
//! before every write.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::error::LogError;
use crate::format::{
    self, Defect, FileKind, Framing, RawRecord, RecordHeader, ScanError, SegmentCursor,
    PAYLOAD_BYTES_LIMIT, RECORD_HEADER_BYTES, SNAPSHOT_HEADER_BYTES,
};
use crate::reader::LogReader;
use crate::{Record, Snapshot};

/// Write buffer for appends (bounds the copies made per write call).
const WRITE_BUFFER_BYTES: usize = 1024 * 1024;
/// Bytes of the lock file read to name the holder in an error.
const LOCK_HOLDER_BYTES_MAX: u64 = 64;

/// Limits of a [`Log`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// A batch that would grow a non-empty segment past this many bytes starts a new
    /// segment instead. A single batch larger than this gets a segment of its own.
    pub segment_bytes_max: u64,
    /// The largest payload of one record, at most `u32::MAX`. Checked on append only:
    /// records already in the log stay readable if this is lowered.
    pub record_bytes_max: u64,
    /// The largest snapshot, checked when writing and when loading one.
    pub snapshot_bytes_max: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes_max: 64 << 20,
            record_bytes_max: 256 << 20,
            snapshot_bytes_max: 4 << 30,
        }
    }
}

impl LogConfig {
    fn validate(&self) -> Result<(), LogError> {
        if self.segment_bytes_max == 0 {
            return Err(LogError::InvalidConfig(
                "segment_bytes_max must be positive".to_string(),
            ));
        }
        if self.record_bytes_max > PAYLOAD_BYTES_LIMIT {
            return Err(LogError::InvalidConfig(format!(
                "record_bytes_max must be at most {PAYLOAD_BYTES_LIMIT}, got {}",
                self.record_bytes_max
            )));
        }
        Ok(())
    }
}

/// What [`Log::open`] recovered: the latest snapshot and every record after it, in
/// sequence order. Records the snapshot covers are not included even if their segment
/// still exists (see [`Log::read_from`] for those).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    pub snapshot: Option<Snapshot>,
    pub records: Vec<Record>,
}

/// An open log directory, exclusively owned through its lock file.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    /// Holds the directory's advisory lock; released when dropped.
    _lock: File,
    /// Segments by first sequence number; the last one is the active segment.
    segments: BTreeMap<u64, PathBuf>,
    /// The active segment, opened for appending.
    active: File,
    /// Length of the active segment: the offset of the next record.
    active_len: u64,
    /// The sequence number the next appended record gets.
    next_seq: u64,
    /// `upto_seq` of the latest snapshot.
    snapshot_seq: Option<u64>,
    /// Set when a write or fsync failed: the files' state is unknown.
    poisoned: bool,
}

impl Log {
    /// Opens (creating it if needed) the log in `dir` and recovers it: returns the
    /// latest snapshot and the verified records after it. A torn tail of the last
    /// segment is truncated with a warning; any other damage is an error.
    ///
    /// Every record after the snapshot is held in memory at once: write snapshots
    /// (see [`Log::write_snapshot`]) to bound what recovery returns.
    pub fn open(dir: &Path, config: LogConfig) -> Result<(Log, Recovery), LogError> {
        config.validate()?;
        create_dir(dir)?;
        let lock = acquire_lock(dir)?;
        let listing = list_dir(dir)?;
        let mut dir_dirty = false;

        for temp in &listing.temps {
            info!(path = %temp.display(), "removing leftover snapshot temp file");
            remove_file(temp)?;
            dir_dirty = true;
        }

        let snapshot = match listing.snapshots.last_key_value() {
            Some((&upto_seq, path)) => Some(load_snapshot(path, upto_seq, &config)?),
            None => None,
        };
        let snapshot_seq = snapshot.as_ref().map(|s| s.upto_seq);
        for (&upto_seq, path) in &listing.snapshots {
            if Some(upto_seq) != snapshot_seq {
                info!(path = %path.display(), "removing superseded snapshot");
                remove_file(path)?;
                dir_dirty = true;
            }
        }

        // The first sequence number recovery must produce.
        let floor = snapshot_seq.map_or(1, |upto| upto + 1);
        let mut segments = listing.segments;
        for (first_seq, path) in covered_segments(&segments, floor) {
            info!(path = %path.display(), "removing segment covered by snapshot");
            remove_file(&path)?;
            segments.remove(&first_seq);
            dir_dirty = true;
        }

        let mut records = Vec::new();
        let (next_seq, active_len) = match segments.last_key_value() {
            None => {
                let path = format::segment_path(dir, floor);
                create_segment_file(&path)?;
                segments.insert(floor, path);
                dir_dirty = true;
                (floor, 0)
            }
            Some((&last_first_seq, _)) => {
                let (&first_seq, first_path) = segments.first_key_value().expect("non-empty");
                if first_seq == 0 || first_seq > floor {
                    return Err(LogError::Corrupt {
                        segment: first_path.clone(),
                        offset: 0,
                        reason: format!(
                            "the log starts at sequence {first_seq} but sequence {floor} is missing"
                        ),
                    });
                }
                let mut framing = Framing::starting_at(first_seq);
                for (&seg_first_seq, path) in &segments {
                    check_segment_start(path, seg_first_seq, &framing)?;
                    let kept = if seg_first_seq == last_first_seq {
                        recover_last_segment(path, &mut framing)?
                    } else {
                        verify_segment(path, &mut framing)?
                    };
                    records.extend(kept.into_iter().filter(|r| r.header.seq >= floor).map(|r| {
                        Record {
                            seq: r.header.seq,
                            payload: r.payload,
                        }
                    }));
                }
                let last_path = &segments[&last_first_seq];
                if framing.next_seq() < floor {
                    return Err(LogError::Corrupt {
                        segment: last_path.clone(),
                        offset: 0,
                        reason: format!(
                            "the log ends at sequence {} but the snapshot covers up to {}",
                            framing.next_seq() - 1,
                            floor - 1
                        ),
                    });
                }
                let len = fs::metadata(last_path)
                    .map_err(|e| LogError::io("stat file", last_path, e))?
                    .len();
                (framing.next_seq(), len)
            }
        };

        let active_path = segments.last_key_value().expect("non-empty").1;
        let active = OpenOptions::new()
            .append(true)
            .open(active_path)
            .map_err(|e| LogError::io("open file", active_path, e))?;
        if dir_dirty {
            sync_dir(dir)?;
        }

        let log = Log {
            dir: dir.to_path_buf(),
            config,
            _lock: lock,
            segments,
            active,
            active_len,
            next_seq,
            snapshot_seq,
            poisoned: false,
        };
        Ok((log, Recovery { snapshot, records }))
    }

    /// Appends `payloads` as one batch of records and fsyncs before returning the
    /// sequence number of the last one. The batch is atomic across crashes. An empty
    /// batch writes nothing and returns [`Log::last_seq`].
    pub fn append(&mut self, payloads: &[&[u8]]) -> Result<u64, LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        if payloads.is_empty() {
            return Ok(self.last_seq());
        }
        let batch_len = u32::try_from(payloads.len()).map_err(|_| LogError::BatchTooLarge {
            records: payloads.len() as u64,
            max: u64::from(u32::MAX),
        })?;
        let mut batch_bytes = 0u64;
        for payload in payloads {
            let bytes = payload.len() as u64;
            if bytes > self.config.record_bytes_max {
                return Err(LogError::RecordTooLarge {
                    bytes,
                    max: self.config.record_bytes_max,
                });
            }
            batch_bytes += RECORD_HEADER_BYTES as u64 + bytes;
        }
        if self.active_len > 0
            && self.active_len.saturating_add(batch_bytes) > self.config.segment_bytes_max
        {
            self.roll_segment()?;
        }

        // Check before writing: the file is exactly as long as the log believes.
        let active_path = self.active_path().to_path_buf();
        let file_len = self
            .active
            .metadata()
            .map_err(|e| LogError::io("stat file", &active_path, e))?
            .len();
        if file_len != self.active_len {
            self.poisoned = true;
            return Err(LogError::Corrupt {
                segment: active_path,
                offset: self.active_len,
                reason: format!(
                    "segment is {file_len} bytes long but the log expected {}",
                    self.active_len
                ),
            });
        }

        let batch_first_seq = self.next_seq;
        let mut offset = self.active_len;
        let write = |offset: &mut u64| -> io::Result<()> {
            let capacity = usize::try_from(batch_bytes)
                .unwrap_or(usize::MAX)
                .min(WRITE_BUFFER_BYTES);
            let mut writer = BufWriter::with_capacity(capacity, &self.active);
            for (i, payload) in payloads.iter().enumerate() {
                let header = RecordHeader {
                    payload_len: payload.len() as u32,
                    seq: batch_first_seq + i as u64,
                    offset: *offset,
                    batch_first_seq,
                    batch_len,
                };
                writer.write_all(&header.encode(payload))?;
                writer.write_all(payload)?;
                *offset += header.record_bytes();
            }
            writer.flush()
        };
        if let Err(e) = write(&mut offset) {
            self.poisoned = true;
            return Err(LogError::io("write to file", active_path, e));
        }
        if let Err(e) = self.active.sync_data() {
            self.poisoned = true;
            return Err(LogError::io("fsync file", active_path, e));
        }
        self.active_len = offset;
        self.next_seq = batch_first_seq + u64::from(batch_len);
        Ok(self.next_seq - 1)
    }

    /// Durably writes `snapshot` as standing for every record with `seq <= upto_seq`,
    /// then removes older snapshots and the segments it wholly covers (never the active
    /// segment). `upto_seq` must be an appended sequence number beyond the current
    /// snapshot's.
    ///
    /// Once the snapshot is renamed into place and the directory fsynced, it is
    /// committed; a failure to remove superseded files after that is only logged, and
    /// they are removed again by the next snapshot or [`Log::open`].
    pub fn write_snapshot(&mut self, upto_seq: u64, snapshot: &[u8]) -> Result<(), LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        let invalid = |reason: String| LogError::InvalidSnapshotSeq { upto_seq, reason };
        if upto_seq == 0 || upto_seq > self.last_seq() {
            return Err(invalid(format!(
                "the log holds sequence numbers up to {}",
                self.last_seq()
            )));
        }
        if let Some(current) = self.snapshot_seq {
            if upto_seq <= current {
                return Err(invalid(format!(
                    "a snapshot up to sequence {current} already exists"
                )));
            }
        }
        let bytes = snapshot.len() as u64;
        if bytes > self.config.snapshot_bytes_max {
            return Err(LogError::SnapshotTooLarge {
                bytes,
                max: self.config.snapshot_bytes_max,
            });
        }

        let temp = format::snapshot_temp_path(&self.dir, upto_seq);
        if let Err(e) = write_file_synced(&temp, upto_seq, snapshot) {
            // Best effort: open removes leftover temp files anyway.
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        let path = format::snapshot_path(&self.dir, upto_seq);
        if let Err(e) = fs::rename(&temp, &path) {
            let _ = fs::remove_file(&temp);
            return Err(LogError::io("rename file", &temp, e));
        }
        if let Err(e) = sync_dir(&self.dir) {
            // The rename may or may not survive a crash: the directory is in doubt.
            self.poisoned = true;
            return Err(e);
        }
        let previous = self.snapshot_seq.replace(upto_seq);
        info!(upto_seq, bytes, "wrote log snapshot");

        if let Err(e) = self.remove_covered(previous) {
            warn!(error = %e, "could not remove files covered by the new log snapshot");
        }
        Ok(())
    }

    /// Reads the records with `seq >= from_seq` that are appended by now, verifying
    /// each again. Records a snapshot covers are returned as long as their segment
    /// still exists; asking for records whose segment was removed is
    /// [`LogError::Compacted`]. Appends after this call are not seen by the reader.
    pub fn read_from(&self, from_seq: u64) -> Result<LogReader, LogError> {
        // Sequence numbers start at 1: reading from 0 means from the start.
        let from_seq = from_seq.max(1);
        let first_seq = self.first_seq();
        if from_seq < first_seq {
            return Err(LogError::Compacted {
                seq: from_seq,
                first_seq,
            });
        }
        let start = self
            .segments
            .range(..=from_seq)
            .next_back()
            .map_or(first_seq, |(&seq, _)| seq);
        let segments = self
            .segments
            .range(start..)
            .map(|(&seq, path)| (seq, path.clone()))
            .collect();
        Ok(LogReader::new(
            segments,
            self.active_len,
            from_seq,
            self.next_seq,
        ))
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration this log was opened with.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// The sequence number of the last appended record, or the snapshot's `upto_seq`
    /// if no record follows it; 0 for an empty log.
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// The sequence number the next appended record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// `upto_seq` of the latest snapshot, if any.
    pub fn snapshot_seq(&self) -> Option<u64> {
        self.snapshot_seq
    }

    /// The lowest sequence number still on disk (what [`Log::read_from`] can reach).
    pub fn first_seq(&self) -> u64 {
        self.segments
            .first_key_value()
            .map_or(self.next_seq, |(&seq, _)| seq)
    }

    /// The segment files, oldest first; the last one is being appended to.
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.values().cloned().collect()
    }

    fn active_path(&self) -> &Path {
        self.segments
            .last_key_value()
            .expect("a log has a segment")
            .1
    }

    /// Starts a new segment at `next_seq`. The old one needs no fsync: every append
    /// already fsynced it.
    fn roll_segment(&mut self) -> Result<(), LogError> {
        let path = format::segment_path(&self.dir, self.next_seq);
        create_segment_file(&path)?;
        if let Err(e) = sync_dir(&self.dir) {
            self.poisoned = true;
            return Err(e);
        }
        let file = match OpenOptions::new().append(true).open(&path) {
            Ok(file) => file,
            Err(e) => {
                self.poisoned = true;
                return Err(LogError::io("open file", &path, e));
            }
        };
        info!(path = %path.display(), first_seq = self.next_seq, "started log segment");
        self.segments.insert(self.next_seq, path);
        self.active = file;
        self.active_len = 0;
        Ok(())
    }

    /// Removes the snapshot before the current one and the segments it wholly covers.
    fn remove_covered(&mut self, previous_snapshot: Option<u64>) -> Result<(), LogError> {
        let Some(upto_seq) = self.snapshot_seq else {
            return Ok(());
        };
        if let Some(previous) = previous_snapshot {
            let path = format::snapshot_path(&self.dir, previous);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io("remove file", path, e)),
            }
        }
        for (first_seq, path) in covered_segments(&self.segments, upto_seq + 1) {
            remove_file(&path)?;
            self.segments.remove(&first_seq);
            info!(path = %path.display(), "removed segment covered by snapshot");
        }
        sync_dir(&self.dir)
    }
}

/// The segments whose every record is below `floor`: those followed by a segment that
/// starts at or below `floor`. The last segment is never returned.
fn covered_segments(segments: &BTreeMap<u64, PathBuf>, floor: u64) -> Vec<(u64, PathBuf)> {
    let firsts: Vec<u64> = segments.keys().copied().collect();
    firsts
        .windows(2)
        .filter(|pair| pair[1] <= floor)
        .map(|pair| (pair[0], segments[&pair[0]].clone()))
        .collect()
}

/// Checks that the segment named `first_seq` starts where the log left off.
fn check_segment_start(path: &Path, first_seq: u64, framing: &Framing) -> Result<(), LogError> {
    if first_seq != framing.next_seq() {
        return Err(LogError::Corrupt {
            segment: path.to_path_buf(),
            offset: 0,
            reason: format!(
                "segment starts at sequence {first_seq} but sequence {} was expected",
                framing.next_seq()
            ),
        });
    }
    Ok(())
}

fn scan_io_error(path: &Path, e: io::Error) -> LogError {
    LogError::io("read file", path, e)
}

/// Verifies a segment that is not the last one: every record must be intact and the
/// segment must end at the end of a batch.
fn verify_segment(path: &Path, framing: &mut Framing) -> Result<Vec<RawRecord>, LogError> {
    let mut cursor = SegmentCursor::open(path, None).map_err(|e| scan_io_error(path, e))?;
    let mut records = Vec::new();
    loop {
        let offset = cursor.offset();
        match cursor.next_record() {
            Ok(Some(record)) => {
                framing
                    .check(&record.header)
                    .map_err(|reason| corrupt(path, offset, reason))?;
                records.push(record);
            }
            Ok(None) => break,
            Err(ScanError::Io(e)) => return Err(scan_io_error(path, e)),
            Err(ScanError::Defect { offset, defect }) => {
                return Err(corrupt(path, offset, defect.reason().to_string()))
            }
        }
    }
    if let Some(batch_first_seq) = framing.open_batch_first_seq() {
        return Err(corrupt(
            path,
            cursor.offset(),
            format!(
                "segment ends inside the batch starting at sequence {batch_first_seq}, and it is not the last segment"
            ),
        ));
    }
    Ok(records)
}

fn corrupt(path: &Path, offset: u64, reason: String) -> LogError {
    LogError::Corrupt {
        segment: path.to_path_buf(),
        offset,
        reason,
    }
}

/// Verifies the last segment, truncating a torn last batch; returns the records kept
/// and leaves `framing` after the last of them.
fn recover_last_segment(path: &Path, framing: &mut Framing) -> Result<Vec<RawRecord>, LogError> {
    let start = *framing;
    let mut cursor = SegmentCursor::open(path, None).map_err(|e| scan_io_error(path, e))?;
    let file_len = cursor.len();
    // (offset, record) of every verified record.
    let mut records: Vec<(u64, RawRecord)> = Vec::new();
    let (defect_offset, reason) = loop {
        let offset = cursor.offset();
        match cursor.next_record() {
            Ok(Some(record)) => {
                framing
                    .check(&record.header)
                    .map_err(|reason| corrupt(path, offset, reason))?;
                records.push((offset, record));
            }
            Ok(None) => match framing.open_batch_first_seq() {
                None => return Ok(records.into_iter().map(|(_, r)| r).collect()),
                Some(first) => {
                    break (
                        offset,
                        format!("the log ends inside the batch starting at sequence {first}"),
                    )
                }
            },
            Err(ScanError::Io(e)) => return Err(scan_io_error(path, e)),
            Err(ScanError::Defect {
                offset,
                defect: Defect::Invalid(reason),
            }) => return Err(corrupt(path, offset, reason)),
            Err(ScanError::Defect {
                offset,
                defect: Defect::Torn(reason),
            }) => {
                // A torn write only damages the last batch: nothing of any other batch
                // may verify after the defect.
                let tail = format::read_tail(path, offset, file_len)
                    .map_err(|e| scan_io_error(path, e))?;
                let batch_first_seq = framing.current_batch_first_seq();
                let later = format::find_valid_records(&tail, offset)
                    .into_iter()
                    .find(|(_, h)| {
                        h.batch_first_seq != batch_first_seq || h.seq < framing.next_seq()
                    });
                if let Some((later_offset, later)) = later {
                    return Err(corrupt(
                        path,
                        offset,
                        format!(
                            "{reason}, followed by a valid record (sequence {}) at offset {later_offset}",
                            later.seq
                        ),
                    ));
                }
                break (offset, reason);
            }
        }
    };

    // Cut back to the start of the last batch if it is incomplete.
    let batch_first_seq = framing.current_batch_first_seq();
    let cut = match records
        .iter()
        .position(|(_, r)| r.header.seq == batch_first_seq)
    {
        Some(index) => index,
        None if batch_first_seq == framing.next_seq() => records.len(),
        None => {
            return Err(corrupt(
                path,
                0,
                format!(
                    "the batch starting at sequence {batch_first_seq} begins in an earlier segment"
                ),
            ))
        }
    };
    let cut_offset = records
        .get(cut)
        .map_or(defect_offset, |(offset, _)| *offset);
    let dropped = records.len() - cut;
    records.truncate(cut);
    *framing = start;
    for (_, record) in &records {
        framing
            .check(&record.header)
            .expect("records verified once already");
    }
    warn!(
        segment = %path.display(),
        offset = cut_offset,
        bytes_dropped = file_len - cut_offset,
        records_dropped = dropped,
        reason = %reason,
        "truncating torn tail of the log"
    );
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| LogError::io("open file", path, e))?;
    file.set_len(cut_offset)
        .map_err(|e| LogError::io("truncate file", path, e))?;
    file.sync_all()
        .map_err(|e| LogError::io("fsync file", path, e))?;
    Ok(records.into_iter().map(|(_, r)| r).collect())
}

/// The log-owned files of a directory.
struct Listing {
    segments: BTreeMap<u64, PathBuf>,
    snapshots: BTreeMap<u64, PathBuf>,
    temps: Vec<PathBuf>,
}

fn list_dir(dir: &Path) -> Result<Listing, LogError> {
    let mut listing = Listing {
        segments: BTreeMap::new(),
        snapshots: BTreeMap::new(),
        temps: Vec::new(),
    };
    let entries = fs::read_dir(dir).map_err(|e| LogError::io("list directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io("list directory", dir, e))?;
        let path = entry.path();
        let kind = entry.file_name().to_str().and_then(format::classify);
        match kind {
            Some(FileKind::Segment { first_seq }) => {
                listing.segments.insert(first_seq, path);
            }
            Some(FileKind::Snapshot { upto_seq }) => {
                listing.snapshots.insert(upto_seq, path);
            }
            Some(FileKind::SnapshotTemp) => listing.temps.push(path),
            Some(FileKind::Lock) => {}
            None => warn!(path = %path.display(), "ignoring unknown file in log directory"),
        }
    }
    listing.temps.sort();
    Ok(listing)
}

fn load_snapshot(path: &Path, upto_seq: u64, config: &LogConfig) -> Result<Snapshot, LogError> {
    let len = fs::metadata(path)
        .map_err(|e| LogError::io("stat file", path, e))?
        .len();
    let data_len = len.saturating_sub(SNAPSHOT_HEADER_BYTES as u64);
    if data_len > config.snapshot_bytes_max {
        return Err(LogError::SnapshotTooLarge {
            bytes: data_len,
            max: config.snapshot_bytes_max,
        });
    }
    let bytes = fs::read(path).map_err(|e| LogError::io("read file", path, e))?;
    let data =
        format::decode_snapshot(&bytes, upto_seq).map_err(|reason| LogError::SnapshotCorrupt {
            path: path.to_path_buf(),
            reason,
        })?;
    Ok(Snapshot {
        upto_seq,
        data: data.to_vec(),
    })
}

/// Writes a snapshot file and fsyncs it.
fn write_file_synced(path: &Path, upto_seq: u64, data: &[u8]) -> Result<(), LogError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| LogError::io("create file", path, e))?;
    file.write_all(&format::encode_snapshot_header(upto_seq, data))
        .and_then(|()| file.write_all(data))
        .map_err(|e| LogError::io("write to file", path, e))?;
    file.sync_all()
        .map_err(|e| LogError::io("fsync file", path, e))
}

fn create_segment_file(path: &Path) -> Result<(), LogError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map(drop)
        .map_err(|e| LogError::io("create file", path, e))
}

fn remove_file(path: &Path) -> Result<(), LogError> {
    fs::remove_file(path).map_err(|e| LogError::io("remove file", path, e))
}

/// Creates `dir` if missing, fsyncing its parent so the new entry is durable.
fn create_dir(dir: &Path) -> Result<(), LogError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| LogError::io("create directory", dir, e))?;
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io("fsync directory", dir, e))
}

/// Takes the exclusive lock on `dir/LOCK` and writes this process's pid into it.
fn acquire_lock(dir: &Path) -> Result<File, LogError> {
    let path = dir.join(format::LOCK_FILE_NAME);
    // Not truncated before locking: that would erase the holder's pid.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| LogError::io("open file", &path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = (&file)
                .take(LOCK_HOLDER_BYTES_MAX)
                .read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "unknown".to_string(),
                pid => pid.to_string(),
            };
            return Err(LogError::Locked {
                dir: dir.to_path_buf(),
                holder,
            });
        }
        Err(TryLockError::Error(e)) => return Err(LogError::io("lock file", &path, e)),
    }
    file.set_len(0)
        .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()))
        .map_err(|e| LogError::io("write to file", &path, e))?;
    Ok(file)
}
