//! [`LogReader`]: replay of the records still on disk, from a sequence number up to the
//! end of the log as it was when the reader was made.
//!
//! The reader verifies every record again, exactly as recovery does (magic, length,
//! checksum, recorded offset, sequence number, batch framing, segment continuity), but
//! tolerates nothing: any defect is a [`LogError::Corrupt`], after which the reader
//! yields nothing more. It owns its state and does not borrow the [`crate::Log`], so
//! appends may continue while it runs; it stops at the end it was given. If a snapshot
//! removes a segment before the reader opens it, the reader reports
//! [`LogError::Compacted`].

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;

use crate::error::LogError;
use crate::format::{Framing, ScanError, SegmentCursor};
use crate::Record;

/// An iterator over verified records with `from_seq <= seq < end_seq`; see
/// [`crate::Log::read_from`].
#[derive(Debug)]
pub struct LogReader {
    /// Segments still to read, by first sequence number; the last one is read only up
    /// to `active_len`, since appends may extend it.
    segments: VecDeque<(u64, PathBuf)>,
    active_len: u64,
    from_seq: u64,
    end_seq: u64,
    current: Option<Current>,
    done: bool,
}

#[derive(Debug)]
struct Current {
    path: PathBuf,
    cursor: SegmentCursor,
    framing: Framing,
}

impl LogReader {
    pub(crate) fn new(
        segments: VecDeque<(u64, PathBuf)>,
        active_len: u64,
        from_seq: u64,
        end_seq: u64,
    ) -> LogReader {
        LogReader {
            done: from_seq >= end_seq || segments.is_empty(),
            segments,
            active_len,
            from_seq,
            end_seq,
            current: None,
        }
    }

    /// The sequence number this reader stops before.
    pub fn end_seq(&self) -> u64 {
        self.end_seq
    }

    /// Opens the next segment, checking it continues where the previous one ended.
    fn open_next(&mut self, expected_seq: Option<u64>) -> Result<(), LogError> {
        let (first_seq, path) = self
            .segments
            .pop_front()
            .expect("open_next is called only while records remain");
        if let Some(expected) = expected_seq {
            if first_seq != expected {
                return Err(LogError::Corrupt {
                    segment: path,
                    offset: 0,
                    reason: format!(
                        "segment starts at sequence {first_seq} but sequence {expected} was expected"
                    ),
                });
            }
        }
        let len = self.segments.is_empty().then_some(self.active_len);
        let cursor = match SegmentCursor::open(&path, len) {
            Ok(cursor) => cursor,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let first_seq = self.segments.front().map_or(self.end_seq, |(seq, _)| *seq);
                return Err(LogError::Compacted {
                    seq: self.from_seq,
                    first_seq,
                });
            }
            Err(e) => return Err(LogError::io("open file", path, e)),
        };
        self.current = Some(Current {
            path,
            cursor,
            framing: Framing::starting_at(first_seq),
        });
        Ok(())
    }

    fn next_record(&mut self) -> Result<Option<Record>, LogError> {
        loop {
            let Some(current) = self.current.as_mut() else {
                if self.segments.is_empty() {
                    return Ok(None);
                }
                self.open_next(None)?;
                continue;
            };
            if current.framing.next_seq() >= self.end_seq {
                return Ok(None);
            }
            let offset = current.cursor.offset();
            let corrupt = |path: &PathBuf, offset, reason: String| LogError::Corrupt {
                segment: path.clone(),
                offset,
                reason,
            };
            match current.cursor.next_record() {
                Ok(Some(record)) => {
                    current
                        .framing
                        .check(&record.header)
                        .map_err(|reason| corrupt(&current.path, offset, reason))?;
                    if record.header.seq >= self.from_seq {
                        return Ok(Some(Record {
                            seq: record.header.seq,
                            payload: record.payload,
                        }));
                    }
                }
                Ok(None) => {
                    if let Some(first) = current.framing.open_batch_first_seq() {
                        return Err(corrupt(
                            &current.path,
                            offset,
                            format!("segment ends inside the batch starting at sequence {first}"),
                        ));
                    }
                    if self.segments.is_empty() {
                        return Err(corrupt(
                            &current.path,
                            offset,
                            format!(
                                "the log ends at sequence {} but records up to {} were appended",
                                current.framing.next_seq() - 1,
                                self.end_seq - 1
                            ),
                        ));
                    }
                    let expected = current.framing.next_seq();
                    self.open_next(Some(expected))?;
                }
                Err(ScanError::Io(e)) => {
                    return Err(LogError::io("read file", current.path.clone(), e))
                }
                Err(ScanError::Defect { offset, defect }) => {
                    return Err(corrupt(&current.path, offset, defect.reason().to_string()))
                }
            }
        }
    }
}

impl Iterator for LogReader {
    type Item = Result<Record, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
