//! Eddy's durable append-only log of opaque byte records.
//!
//! The coordinator serializes catalog changes and table writes into records and appends
//! them here; on restart it replays the latest snapshot and the records after it. The log
//! never interprets a payload.
//!
//! # Semantics
//!
//! - Every record has a sequence number (`seq`, an LSN). The first record ever appended
//!   has `seq = 1`; each following record has the previous `seq + 1`, with no gaps, across
//!   segments, snapshots and restarts.
//! - [`Log::append`] writes a *batch* (one or more records), then `fdatasync`s once before
//!   it returns. A batch is atomic across crashes: after recovery either all of its
//!   records are present or none of them is. A batch never spans two segments.
//! - [`Log::write_snapshot`] stores an opaque snapshot that stands for every record with
//!   `seq <= upto_seq`, then deletes the segments it wholly covers.
//! - [`Log::open`] recovers: it returns the latest snapshot, if any, and every record
//!   after it, each verified.
//! - [`Log::read_from`] re-reads (and re-verifies) records still on disk, for
//!   replay-based reprocessing.
//!
//! # On-disk format
//!
//! A log directory holds:
//!
//! | file | contents |
//! | --- | --- |
//! | `LOCK` | the owner's pid; held with an exclusive advisory lock while a [`Log`] is open |
//! | `{first_seq:020}.log` | a segment: records back to back, the first one numbered `first_seq` |
//! | `snapshot-{upto_seq:020}.snap` | a snapshot standing for every record with `seq <= upto_seq` |
//! | `snapshot-{upto_seq:020}.snap.tmp` | a snapshot being written; removed on open |
//!
//! A record is a 40-byte header followed by its payload; integers are little-endian:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `EDL1` |
//! | 4 | 4 | payload length in bytes |
//! | 8 | 8 | sequence number |
//! | 16 | 8 | byte offset of this record in its segment |
//! | 24 | 8 | sequence number of the first record of this record's batch |
//! | 32 | 4 | number of records in the batch |
//! | 36 | 4 | CRC-32 (IEEE) of header bytes 0..36 followed by the payload |
//!
//! A snapshot file is a 24-byte header followed by the snapshot bytes:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `EDS1` |
//! | 4 | 8 | `upto_seq` (equal to the one in the file name) |
//! | 12 | 8 | snapshot length in bytes (the file is exactly header + this long) |
//! | 20 | 4 | CRC-32 (IEEE) of header bytes 0..20 followed by the snapshot bytes |
//!
//! # Invariants
//!
//! Checked twice, at both sides of the durability boundary: [`Log::append`] checks the
//! record size, the sequence number and that the segment file is exactly as long as
//! the log expects before writing; every reader (recovery and [`LogReader`]) checks the
//! magic, the length, the checksum, the recorded offset, the sequence number (previous
//! + 1) and the batch framing of every record.
//!
//! - Segment names are contiguous: a segment's first record is numbered one past the
//!   last record of the segment before it, and every segment except the last ends
//!   exactly at the end of a batch.
//! - The first segment starts at sequence 1, or, if a snapshot exists, at or before
//!   `upto_seq + 1`; the log never ends before the snapshot's `upto_seq`.
//! - Only the *last batch of the last segment* may be damaged by a crash (a kill -9 or a
//!   power loss while it was written: it was not acknowledged yet). Recovery detects a
//!   partial header, partial payload, bad magic or checksum mismatch there, and a batch
//!   missing its last records, warns, and truncates the segment back to the end of the
//!   last complete batch (then fsyncs it), so later appends continue cleanly. Bit rot in
//!   the last batch is indistinguishable from a torn write and is handled the same way.
//! - Damage anywhere else — a bad record followed by a valid record of a later batch, a
//!   bad record in any segment but the last, a checksum-valid record with the wrong
//!   sequence number, offset or batch framing, a gap between segments, a damaged
//!   snapshot — is a hard [`LogError::Corrupt`] or [`LogError::SnapshotCorrupt`], never
//!   skipped. To tell a torn tail from damage in the middle, recovery scans the rest of
//!   the last segment for any checksum-valid record whose recorded offset matches its
//!   position; a payload that embeds such an image of a log record at exactly the right
//!   place would make recovery refuse a torn tail (safe, but needs an operator).
//! - Every file creation, rename and removal is followed by an fsync of the directory.
//! - After a failed write or fsync the [`Log`] refuses further appends
//!   ([`LogError::Poisoned`]): the file state is then unknown (an fsync error may have
//!   dropped dirty pages), and reopening the log is the only way to re-establish it.

mod error;
mod format;
mod reader;
mod wal;

pub use crate::error::LogError;
pub use crate::reader::LogReader;
pub use crate::wal::{Log, LogConfig, Recovery};

/// One record of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The record's sequence number (its LSN), starting at 1.
    pub seq: u64,
    /// The opaque bytes the caller appended.
    pub payload: Vec<u8>,
}

/// A snapshot: opaque bytes that stand for every record with `seq <= upto_seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The last sequence number this snapshot covers.
    pub upto_seq: u64,
    /// The opaque bytes the caller wrote.
    pub data: Vec<u8>,
}
