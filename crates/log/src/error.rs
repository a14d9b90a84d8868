//! Errors of the durable log. Messages follow Postgres style (lowercase, no final
//! period); [`LogError::sqlstate`] gives the SQLSTATE a client sees.

use eddy_repr::SqlState;
use std::io;
use std::path::PathBuf;

/// An error opening, appending to, compacting or reading the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An operating-system call failed; `action` says which, e.g. `fsync file`.
    #[error("could not {action} \"{}\": {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Another [`crate::Log`] (in this or another process) holds the directory's lock.
    #[error("log directory \"{}\" is in use by another process (lock holder pid: {holder})", dir.display())]
    Locked { dir: PathBuf, holder: String },
    /// A segment holds damage that recovery must not skip or truncate: a bad record
    /// followed by valid ones, a bad record in a segment other than the last, a record
    /// with the wrong sequence number, offset or batch framing, or a gap in the log.
    #[error("log segment \"{}\" is corrupt at offset {offset}: {reason}", segment.display())]
    Corrupt {
        segment: PathBuf,
        offset: u64,
        reason: String,
    },
    /// The latest snapshot fails verification.
    #[error("log snapshot \"{}\" is corrupt: {reason}", path.display())]
    SnapshotCorrupt { path: PathBuf, reason: String },
    /// A payload given to [`crate::Log::append`] is longer than `record_bytes_max`.
    #[error("log record of {bytes} bytes exceeds record_bytes_max ({max} bytes)")]
    RecordTooLarge { bytes: u64, max: u64 },
    /// A batch given to [`crate::Log::append`] has more records than the format allows.
    #[error("log batch of {records} records exceeds the limit of {max} records")]
    BatchTooLarge { records: u64, max: u64 },
    /// A snapshot is longer than `snapshot_bytes_max`.
    #[error("log snapshot of {bytes} bytes exceeds snapshot_bytes_max ({max} bytes)")]
    SnapshotTooLarge { bytes: u64, max: u64 },
    /// [`crate::Log::write_snapshot`] was asked for a sequence number it cannot cover.
    #[error("cannot write a log snapshot up to sequence {upto_seq}: {reason}")]
    InvalidSnapshotSeq { upto_seq: u64, reason: String },
    /// [`crate::Log::read_from`] was asked for records already removed by compaction.
    #[error("log records before sequence {first_seq} were compacted into a snapshot, cannot read from sequence {seq}")]
    Compacted { seq: u64, first_seq: u64 },
    /// A [`crate::LogConfig`] field is out of range.
    #[error("invalid log configuration: {0}")]
    InvalidConfig(String),
    /// An earlier write or fsync failed, so the on-disk state is unknown; reopen the log.
    #[error("log is unusable after an earlier write failure, reopen it to recover")]
    Poisoned,
}

impl LogError {
    /// The Postgres SQLSTATE code for this error.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            LogError::Io { .. } => SqlState::IO_ERROR,
            LogError::Locked { .. } => SqlState::OBJECT_IN_USE,
            LogError::Corrupt { .. } | LogError::SnapshotCorrupt { .. } => SqlState::DATA_CORRUPTED,
            LogError::RecordTooLarge { .. }
            | LogError::BatchTooLarge { .. }
            | LogError::SnapshotTooLarge { .. } => SqlState::PROGRAM_LIMIT_EXCEEDED,
            LogError::InvalidSnapshotSeq { .. } | LogError::InvalidConfig(_) => {
                SqlState::INVALID_PARAMETER_VALUE
            }
            LogError::Compacted { .. } => SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            LogError::Poisoned => SqlState::IO_ERROR,
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        LogError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
