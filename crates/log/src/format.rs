//! The byte layout of records, segments and snapshots (described in the crate docs), and
//! the verifying readers shared by recovery and [`crate::LogReader`].
//!
//! Verification is split in two layers. [`SegmentCursor`] checks what one record can say
//! about itself — magic, length against the bytes present, checksum, and the offset it
//! records against where it was found — and classifies a failure as [`Defect::Torn`]
//! (what an interrupted write leaves) or [`Defect::Invalid`] (a checksum-valid record in
//! the wrong place). [`Framing`] then checks each record against the ones before it:
//! sequence number and batch framing.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Magic bytes that open every record.
pub(crate) const RECORD_MAGIC: [u8; 4] = *b"EDL1";
/// Length of a record header.
pub(crate) const RECORD_HEADER_BYTES: usize = 40;
/// Header bytes covered by the record checksum (everything before the checksum).
const RECORD_CRC_COVERED_BYTES: usize = 36;
/// The largest payload the format can describe (its length field is a `u32`).
pub(crate) const PAYLOAD_BYTES_LIMIT: u64 = u32::MAX as u64;

/// Magic bytes that open every snapshot file.
pub(crate) const SNAPSHOT_MAGIC: [u8; 4] = *b"EDS1";
/// Length of a snapshot header.
pub(crate) const SNAPSHOT_HEADER_BYTES: usize = 24;
/// Header bytes covered by the snapshot checksum.
const SNAPSHOT_CRC_COVERED_BYTES: usize = 20;

/// Read buffer for sequential segment scans.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// The fields of a record header other than magic and checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub payload_len: u32,
    pub seq: u64,
    /// Byte offset of the record within its segment.
    pub offset: u64,
    pub batch_first_seq: u64,
    pub batch_len: u32,
}

impl RecordHeader {
    /// Encodes the header of a record carrying `payload`, checksum included.
    pub(crate) fn encode(&self, payload: &[u8]) -> [u8; RECORD_HEADER_BYTES] {
        debug_assert_eq!(payload.len() as u64, u64::from(self.payload_len));
        let mut bytes = [0u8; RECORD_HEADER_BYTES];
        bytes[0..4].copy_from_slice(&RECORD_MAGIC);
        bytes[4..8].copy_from_slice(&self.payload_len.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.seq.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.offset.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.batch_first_seq.to_le_bytes());
        bytes[32..36].copy_from_slice(&self.batch_len.to_le_bytes());
        let crc = record_crc(&bytes, payload);
        bytes[36..40].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes a header; `None` if the magic is wrong. The checksum is returned
    /// unverified, since it also covers the payload.
    fn decode(bytes: &[u8; RECORD_HEADER_BYTES]) -> Option<(RecordHeader, u32)> {
        if bytes[0..4] != RECORD_MAGIC {
            return None;
        }
        let header = RecordHeader {
            payload_len: u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")),
            seq: u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")),
            offset: u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes")),
            batch_first_seq: u64::from_le_bytes(bytes[24..32].try_into().expect("8 bytes")),
            batch_len: u32::from_le_bytes(bytes[32..36].try_into().expect("4 bytes")),
        };
        let crc = u32::from_le_bytes(bytes[36..40].try_into().expect("4 bytes"));
        Some((header, crc))
    }

    /// Total bytes the record occupies in its segment.
    pub(crate) fn record_bytes(&self) -> u64 {
        RECORD_HEADER_BYTES as u64 + u64::from(self.payload_len)
    }
}

fn record_crc(header: &[u8; RECORD_HEADER_BYTES], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[..RECORD_CRC_COVERED_BYTES]);
    hasher.update(payload);
    hasher.finalize()
}

/// Why a record failed verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Defect {
    /// What a write interrupted by a crash can leave: a partial header or payload, bad
    /// magic, a checksum mismatch.
    Torn(String),
    /// A checksum-valid record that is wrong where it stands (offset, sequence number,
    /// batch framing): never the result of a torn write.
    Invalid(String),
}

impl Defect {
    pub(crate) fn reason(&self) -> &str {
        match self {
            Defect::Torn(reason) | Defect::Invalid(reason) => reason,
        }
    }
}

/// A failed step of a [`SegmentCursor`].
#[derive(Debug)]
pub(crate) enum ScanError {
    Io(io::Error),
    /// The record at `offset` is defective; the cursor cannot go past it.
    Defect {
        offset: u64,
        defect: Defect,
    },
}

/// A verified record as read from a segment.
#[derive(Debug)]
pub(crate) struct RawRecord {
    pub header: RecordHeader,
    pub payload: Vec<u8>,
}

/// Reads records of one segment sequentially, verifying each on its own.
pub(crate) struct SegmentCursor {
    reader: BufReader<File>,
    /// Offset of the next record.
    offset: u64,
    /// Bytes of the segment to read; the cursor stops there.
    len: u64,
}

impl std::fmt::Debug for SegmentCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentCursor")
            .field("offset", &self.offset())
            .field("len", &self.len())
            .finish()
    }
}

impl SegmentCursor {
    /// Opens `path` for reading up to `len` bytes (the whole file when `None`).
    pub(crate) fn open(path: &Path, len: Option<u64>) -> io::Result<SegmentCursor> {
        let file = File::open(path)?;
        let len = match len {
            Some(len) => len,
            None => file.metadata()?.len(),
        };
        Ok(SegmentCursor {
            reader: BufReader::with_capacity(READ_BUFFER_BYTES, file),
            offset: 0,
            len,
        })
    }

    /// The offset of the next record (the end of the last verified one).
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The number of bytes this cursor reads.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The next record, `None` at the end of the segment.
    pub(crate) fn next_record(&mut self) -> Result<Option<RawRecord>, ScanError> {
        let offset = self.offset;
        let remaining = self.len - offset;
        if remaining == 0 {
            return Ok(None);
        }
        let torn = |reason: String| ScanError::Defect {
            offset,
            defect: Defect::Torn(reason),
        };
        if remaining < RECORD_HEADER_BYTES as u64 {
            return Err(torn(format!(
                "partial record header ({remaining} of {RECORD_HEADER_BYTES} bytes)"
            )));
        }
        let mut header_bytes = [0u8; RECORD_HEADER_BYTES];
        self.reader
            .read_exact(&mut header_bytes)
            .map_err(ScanError::Io)?;
        let Some((header, crc)) = RecordHeader::decode(&header_bytes) else {
            return Err(torn("bad record magic".to_string()));
        };
        if header.record_bytes() > remaining {
            return Err(torn(format!(
                "partial record payload (header declares {} bytes, {} present)",
                header.payload_len,
                remaining - RECORD_HEADER_BYTES as u64
            )));
        }
        // Bounded by the segment's length, checked just above.
        let mut payload = vec![0u8; header.payload_len as usize];
        self.reader
            .read_exact(&mut payload)
            .map_err(ScanError::Io)?;
        if record_crc(&header_bytes, &payload) != crc {
            return Err(torn("record checksum mismatch".to_string()));
        }
        if header.offset != offset {
            return Err(ScanError::Defect {
                offset,
                defect: Defect::Invalid(format!(
                    "record claims offset {} but was found at offset {offset}",
                    header.offset
                )),
            });
        }
        self.offset = offset + header.record_bytes();
        Ok(Some(RawRecord { header, payload }))
    }
}

/// Checks each record against the ones before it: consecutive sequence numbers and
/// whole, well-formed batches.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Framing {
    /// The sequence number the next record must have.
    next_seq: u64,
    /// The batch the last record belongs to, if that record did not end it:
    /// `(batch_first_seq, batch_len)`.
    open_batch: Option<(u64, u32)>,
}

impl Framing {
    /// Framing for a segment (or log) whose first record is numbered `first_seq`.
    pub(crate) fn starting_at(first_seq: u64) -> Framing {
        Framing {
            next_seq: first_seq,
            open_batch: None,
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The first sequence number of the batch the last record left open, if any.
    pub(crate) fn open_batch_first_seq(&self) -> Option<u64> {
        self.open_batch.map(|(first, _)| first)
    }

    /// The first sequence number of the batch the next record belongs to.
    pub(crate) fn current_batch_first_seq(&self) -> u64 {
        self.open_batch_first_seq().unwrap_or(self.next_seq)
    }

    /// Checks `header` follows the records seen so far, and advances past it.
    pub(crate) fn check(&mut self, header: &RecordHeader) -> Result<(), String> {
        if header.seq != self.next_seq {
            return Err(format!(
                "record has sequence number {} but {} was expected",
                header.seq, self.next_seq
            ));
        }
        let batch_last_seq = match header.batch_len.checked_sub(1) {
            Some(extra) => header.batch_first_seq.checked_add(u64::from(extra)),
            None => None,
        };
        let Some(batch_last_seq) = batch_last_seq else {
            return Err(format!(
                "record has an invalid batch (first sequence {}, {} records)",
                header.batch_first_seq, header.batch_len
            ));
        };
        if header.seq < header.batch_first_seq || header.seq > batch_last_seq {
            return Err(format!(
                "record sequence number {} lies outside its batch {}..={batch_last_seq}",
                header.seq, header.batch_first_seq
            ));
        }
        match self.open_batch {
            Some((first, len)) if (first, len) != (header.batch_first_seq, header.batch_len) => {
                return Err(format!(
                    "record does not continue the open batch of {len} records starting at sequence {first}"
                ));
            }
            None if header.batch_first_seq != header.seq => {
                return Err(format!(
                    "record continues a batch starting at sequence {} that is not open",
                    header.batch_first_seq
                ));
            }
            _ => {}
        }
        let Some(next_seq) = header.seq.checked_add(1) else {
            return Err("sequence number overflow".to_string());
        };
        self.next_seq = next_seq;
        self.open_batch = if header.seq == batch_last_seq {
            None
        } else {
            Some((header.batch_first_seq, header.batch_len))
        };
        Ok(())
    }
}

/// Finds every record in `bytes` (the segment's contents from offset `base`) that
/// verifies on its own — magic, complete payload, checksum — and records the offset
/// it was found at. Used after a defect to tell a torn tail (nothing valid follows) from
/// damage in the middle of the log. Returns `(offset, header)` pairs in file order.
pub(crate) fn find_valid_records(bytes: &[u8], base: u64) -> Vec<(u64, RecordHeader)> {
    let mut found = Vec::new();
    let mut pos = 0usize;
    while pos + RECORD_HEADER_BYTES <= bytes.len() {
        if bytes[pos..pos + 4] != RECORD_MAGIC {
            pos += 1;
            continue;
        }
        let header_bytes: &[u8; RECORD_HEADER_BYTES] = bytes[pos..pos + RECORD_HEADER_BYTES]
            .try_into()
            .expect("header-sized slice");
        let Some((header, crc)) = RecordHeader::decode(header_bytes) else {
            pos += 1;
            continue;
        };
        let payload_start = pos + RECORD_HEADER_BYTES;
        let payload_end = payload_start.saturating_add(header.payload_len as usize);
        let offset = base + pos as u64;
        if payload_end > bytes.len()
            || header.offset != offset
            || record_crc(header_bytes, &bytes[payload_start..payload_end]) != crc
        {
            pos += 1;
            continue;
        }
        found.push((offset, header));
        pos = payload_end;
    }
    found
}

/// Reads the segment bytes from `offset` to `len`.
pub(crate) fn read_tail(path: &Path, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.take(len - offset).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Encodes a snapshot file's header for `data`.
pub(crate) fn encode_snapshot_header(upto_seq: u64, data: &[u8]) -> [u8; SNAPSHOT_HEADER_BYTES] {
    let mut bytes = [0u8; SNAPSHOT_HEADER_BYTES];
    bytes[0..4].copy_from_slice(&SNAPSHOT_MAGIC);
    bytes[4..12].copy_from_slice(&upto_seq.to_le_bytes());
    bytes[12..20].copy_from_slice(&(data.len() as u64).to_le_bytes());
    let crc = snapshot_crc(&bytes, data);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    bytes
}

fn snapshot_crc(header: &[u8; SNAPSHOT_HEADER_BYTES], data: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[..SNAPSHOT_CRC_COVERED_BYTES]);
    hasher.update(data);
    hasher.finalize()
}

/// Verifies a whole snapshot file's bytes, expected to cover up to `upto_seq` (from the
/// file name), and returns the snapshot data.
pub(crate) fn decode_snapshot(file_bytes: &[u8], upto_seq: u64) -> Result<&[u8], String> {
    if file_bytes.len() < SNAPSHOT_HEADER_BYTES {
        return Err(format!(
            "file has {} bytes, shorter than the {SNAPSHOT_HEADER_BYTES}-byte header",
            file_bytes.len()
        ));
    }
    let (header, data) = file_bytes.split_at(SNAPSHOT_HEADER_BYTES);
    let header: &[u8; SNAPSHOT_HEADER_BYTES] = header.try_into().expect("header-sized slice");
    if header[0..4] != SNAPSHOT_MAGIC {
        return Err("bad snapshot magic".to_string());
    }
    let header_upto = u64::from_le_bytes(header[4..12].try_into().expect("8 bytes"));
    let data_len = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(header[20..24].try_into().expect("4 bytes"));
    if data_len != data.len() as u64 {
        return Err(format!(
            "header declares {data_len} bytes of data but the file holds {}",
            data.len()
        ));
    }
    if snapshot_crc(header, data) != crc {
        return Err("snapshot checksum mismatch".to_string());
    }
    if header_upto != upto_seq {
        return Err(format!(
            "header covers up to sequence {header_upto} but the file name says {upto_seq}"
        ));
    }
    Ok(data)
}

/// What a directory entry of a log directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    Segment { first_seq: u64 },
    Snapshot { upto_seq: u64 },
    SnapshotTemp,
    Lock,
}

pub(crate) const LOCK_FILE_NAME: &str = "LOCK";
const SEGMENT_SUFFIX: &str = ".log";
const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".snap";
const TEMP_SUFFIX: &str = ".tmp";

pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}{SEGMENT_SUFFIX}"))
}

pub(crate) fn snapshot_path(dir: &Path, upto_seq: u64) -> PathBuf {
    dir.join(format!("{SNAPSHOT_PREFIX}{upto_seq:020}{SNAPSHOT_SUFFIX}"))
}

pub(crate) fn snapshot_temp_path(dir: &Path, upto_seq: u64) -> PathBuf {
    dir.join(format!(
        "{SNAPSHOT_PREFIX}{upto_seq:020}{SNAPSHOT_SUFFIX}{TEMP_SUFFIX}"
    ))
}

/// Classifies a file name; `None` for a name the log does not own.
pub(crate) fn classify(name: &str) -> Option<FileKind> {
    if name == LOCK_FILE_NAME {
        return Some(FileKind::Lock);
    }
    if let Some(digits) = name.strip_suffix(SEGMENT_SUFFIX) {
        return parse_seq(digits).map(|first_seq| FileKind::Segment { first_seq });
    }
    let rest = name.strip_prefix(SNAPSHOT_PREFIX)?;
    if let Some(digits) = rest.strip_suffix(SNAPSHOT_SUFFIX) {
        return parse_seq(digits).map(|upto_seq| FileKind::Snapshot { upto_seq });
    }
    let digits = rest
        .strip_suffix(TEMP_SUFFIX)?
        .strip_suffix(SNAPSHOT_SUFFIX)?;
    parse_seq(digits).map(|_| FileKind::SnapshotTemp)
}

/// Parses exactly 20 decimal digits.
fn parse_seq(digits: &str) -> Option<u64> {
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seq: u64, offset: u64, payload: &[u8]) -> RecordHeader {
        RecordHeader {
            payload_len: payload.len() as u32,
            seq,
            offset,
            batch_first_seq: seq,
            batch_len: 1,
        }
    }

    #[test]
    fn record_header_round_trip() {
        let payload = b"hello";
        let h = header(7, 120, payload);
        let bytes = h.encode(payload);
        let (decoded, crc) = RecordHeader::decode(&bytes).unwrap();
        assert_eq!(decoded, h);
        assert_eq!(crc, record_crc(&bytes, payload));
        let mut corrupt = bytes;
        corrupt[0] ^= 1;
        assert!(RecordHeader::decode(&corrupt).is_none());
    }

    #[test]
    fn framing_checks_sequence_and_batches() {
        let mut framing = Framing::starting_at(1);
        let rec = |seq, first, len| RecordHeader {
            payload_len: 0,
            seq,
            offset: 0,
            batch_first_seq: first,
            batch_len: len,
        };
        framing.check(&rec(1, 1, 1)).unwrap();
        assert!(framing.clone().check(&rec(3, 3, 1)).is_err(), "gap");
        assert!(
            framing.clone().check(&rec(2, 1, 2)).is_err(),
            "batch not open"
        );
        framing.check(&rec(2, 2, 3)).unwrap();
        assert_eq!(framing.open_batch_first_seq(), Some(2));
        assert!(
            framing.clone().check(&rec(3, 3, 1)).is_err(),
            "batch left open"
        );
        assert!(
            framing.clone().check(&rec(3, 2, 2)).is_err(),
            "batch length changed"
        );
        framing.check(&rec(3, 2, 3)).unwrap();
        framing.check(&rec(4, 2, 3)).unwrap();
        assert_eq!(framing.open_batch_first_seq(), None);
        assert_eq!(framing.next_seq(), 5);
        assert!(framing.clone().check(&rec(5, 5, 0)).is_err(), "empty batch");
    }

    #[test]
    fn find_valid_records_requires_matching_offset() {
        let mut bytes = vec![0xAB; 3];
        for (seq, payload) in [(1u64, &b"one"[..]), (2, &b"two!"[..])] {
            let h = header(seq, 100 + bytes.len() as u64, payload);
            bytes.extend_from_slice(&h.encode(payload));
            bytes.extend_from_slice(payload);
        }
        let found = find_valid_records(&bytes, 100);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, 103);
        assert_eq!(found[1].1.seq, 2);
        // The same bytes at another base: the recorded offsets no longer match.
        assert!(find_valid_records(&bytes, 0).is_empty());
    }

    #[test]
    fn snapshot_round_trip_and_damage() {
        let data = b"state";
        let mut file = encode_snapshot_header(9, data).to_vec();
        file.extend_from_slice(data);
        assert_eq!(decode_snapshot(&file, 9).unwrap(), data);
        assert!(decode_snapshot(&file, 8).is_err());
        assert!(decode_snapshot(&file[..file.len() - 1], 9).is_err());
        for i in 0..file.len() {
            let mut damaged = file.clone();
            damaged[i] ^= 0x10;
            assert!(decode_snapshot(&damaged, 9).is_err(), "flip at byte {i}");
        }
    }

    #[test]
    fn file_names() {
        let dir = Path::new("/d");
        let seg = segment_path(dir, 1);
        assert_eq!(seg, Path::new("/d/00000000000000000001.log"));
        let name = |p: PathBuf| p.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(
            classify(&name(seg)),
            Some(FileKind::Segment { first_seq: 1 })
        );
        assert_eq!(
            classify(&name(snapshot_path(dir, 42))),
            Some(FileKind::Snapshot { upto_seq: 42 })
        );
        assert_eq!(
            classify(&name(snapshot_temp_path(dir, 42))),
            Some(FileKind::SnapshotTemp)
        );
        assert_eq!(classify("LOCK"), Some(FileKind::Lock));
        assert_eq!(classify("1.log"), None);
        assert_eq!(classify("99999999999999999999.log"), None, "overflows u64");
        assert_eq!(classify("notes.txt"), None);
    }
}
