//! Behaviour of the durable log through its public API, with damage done to the files
//! the way a crash, a power loss or bit rot would.

use std::fs;
use std::path::{Path, PathBuf};

use eddy_log::{Log, LogConfig, LogError, Record, Snapshot};

const HEADER_BYTES: u64 = 40;

fn config() -> LogConfig {
    LogConfig::default()
}

fn small_segments(segment_bytes_max: u64) -> LogConfig {
    LogConfig {
        segment_bytes_max,
        ..LogConfig::default()
    }
}

fn payload(seq: u64) -> Vec<u8> {
    format!("record number {seq}").into_bytes()
}

fn records(seqs: impl IntoIterator<Item = u64>) -> Vec<Record> {
    seqs.into_iter()
        .map(|seq| Record {
            seq,
            payload: payload(seq),
        })
        .collect()
}

/// Appends `payload(seq)` for each seq in `seqs`, one batch per record.
fn append_singles(log: &mut Log, seqs: impl IntoIterator<Item = u64>) {
    for seq in seqs {
        assert_eq!(log.append(&[&payload(seq)]).unwrap(), seq);
    }
}

fn append_batch(log: &mut Log, seqs: std::ops::RangeInclusive<u64>) {
    let payloads: Vec<Vec<u8>> = seqs.clone().map(payload).collect();
    let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    assert_eq!(log.append(&refs).unwrap(), *seqs.end());
}

fn open(dir: &Path) -> (Log, eddy_log::Recovery) {
    Log::open(dir, config()).unwrap()
}

fn segment(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.log"))
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

fn read_all(log: &Log, from_seq: u64) -> Vec<Record> {
    log.read_from(from_seq)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn expect_corrupt(result: Result<(Log, eddy_log::Recovery), LogError>) -> (PathBuf, u64, String) {
    match result {
        Err(LogError::Corrupt {
            segment,
            offset,
            reason,
        }) => (segment, offset, reason),
        Err(e) => panic!("expected a corrupt error, got {e}"),
        Ok((_, recovery)) => panic!("expected a corrupt error, recovered {recovery:?}"),
    }
}

/// An independent encoding of the record layout documented in the crate docs.
fn encode_record(seq: u64, offset: u64, batch_first_seq: u64, batch_len: u32, p: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"EDL1");
    bytes.extend_from_slice(&(p.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(&offset.to_le_bytes());
    bytes.extend_from_slice(&batch_first_seq.to_le_bytes());
    bytes.extend_from_slice(&batch_len.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes);
    hasher.update(p);
    bytes.extend_from_slice(&hasher.finalize().to_le_bytes());
    bytes.extend_from_slice(p);
    bytes
}

#[test]
fn round_trip_and_on_disk_format() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, recovery) = open(dir.path());
    assert_eq!(recovery, eddy_log::Recovery::default());
    assert_eq!(log.last_seq(), 0);
    append_singles(&mut log, 1..=2);
    append_batch(&mut log, 3..=5);
    assert_eq!(
        log.append(&[b"" as &[u8]]).unwrap(),
        6,
        "empty payloads are records"
    );
    assert_eq!(log.append(&[]).unwrap(), 6, "an empty batch writes nothing");
    drop(log);

    // The bytes on disk are exactly the documented layout.
    let mut expected = Vec::new();
    for seq in 1..=2 {
        expected.extend(encode_record(
            seq,
            expected.len() as u64,
            seq,
            1,
            &payload(seq),
        ));
    }
    for seq in 3..=5 {
        expected.extend(encode_record(
            seq,
            expected.len() as u64,
            3,
            3,
            &payload(seq),
        ));
    }
    expected.extend(encode_record(6, expected.len() as u64, 6, 1, b""));
    assert_eq!(fs::read(segment(dir.path(), 1)).unwrap(), expected);

    let (log, recovery) = open(dir.path());
    let mut want = records(1..=5);
    want.push(Record {
        seq: 6,
        payload: Vec::new(),
    });
    assert_eq!(recovery.records, want);
    assert_eq!(recovery.snapshot, None);
    assert_eq!(log.last_seq(), 6);
    assert_eq!(log.next_seq(), 7);
}

#[test]
fn reopen_continues_the_sequence() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3u64 {
        let (mut log, recovery) = open(dir.path());
        assert_eq!(recovery.records, records(1..=round * 2));
        append_singles(&mut log, round * 2 + 1..=round * 2 + 2);
    }
    let (log, recovery) = open(dir.path());
    assert_eq!(recovery.records, records(1..=6));
    assert_eq!(log.segment_paths(), vec![segment(dir.path(), 1)]);
}

/// Builds a log with single-record batches 1..=3 and a last batch `last`; returns the
/// segment bytes and the offset where the last batch starts.
fn log_with_last_batch(last: std::ops::RangeInclusive<u64>) -> (Vec<u8>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    append_singles(&mut log, 1..=3);
    let last_start = file_len(&segment(dir.path(), 1));
    append_batch(&mut log, last);
    drop(log);
    (fs::read(segment(dir.path(), 1)).unwrap(), last_start)
}

/// A scratch directory for the exhaustive damage loops, on tmpfs when there is one:
/// they test recovery logic hundreds of times, and real-disk fsyncs (tested by every
/// other test) would make them take seconds.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().unwrap()
}

/// Writes `bytes` as the only segment of a fresh log directory.
fn dir_with_segment(bytes: &[u8]) -> tempfile::TempDir {
    let dir = scratch_dir();
    fs::write(segment(dir.path(), 1), bytes).unwrap();
    dir
}

/// Opens a damaged log and expects exactly records 1..=3 and a segment cut back to
/// `last_start`; returns the directory, still holding the repaired log.
fn assert_recovers_first_three(bytes: &[u8], last_start: u64, what: &str) -> tempfile::TempDir {
    let dir = dir_with_segment(bytes);
    let (_, recovery) =
        Log::open(dir.path(), config()).unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
    assert_eq!(recovery.records, records(1..=3), "{what}");
    assert_eq!(file_len(&segment(dir.path(), 1)), last_start, "{what}");
    dir
}

/// Checks a repaired log holding records 1..=3 takes and keeps record 4.
fn assert_appends_continue(dir: &Path, what: &str) {
    let (mut log, _) = open(dir);
    append_singles(&mut log, 4..=4);
    drop(log);
    let (_, recovery) = open(dir);
    assert_eq!(recovery.records, records(1..=4), "{what}: after append");
}

/// Damages the last batch with `damage` at every offset in `offsets`: each must recover
/// exactly records 1..=3. Appending after recovery (which costs fsyncs) is checked at
/// every seventh offset and the last one.
fn assert_every_damage_recovers(
    bytes: &[u8],
    last_start: u64,
    offsets: std::ops::Range<usize>,
    damage: impl Fn(&[u8], usize) -> Vec<u8>,
) {
    let last = offsets.end - 1;
    for (i, at) in offsets.enumerate() {
        let what = format!("damage at byte {at}");
        let dir = assert_recovers_first_three(&damage(bytes, at), last_start, &what);
        if i % 7 == 0 || at == last {
            assert_appends_continue(dir.path(), &what);
        }
    }
}

fn cut(bytes: &[u8], at: usize) -> Vec<u8> {
    bytes[..at].to_vec()
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut damaged = bytes.to_vec();
    damaged[at] ^= 0x40;
    damaged
}

#[test]
fn torn_tail_at_every_offset_of_the_last_record() {
    let (bytes, last_start) = log_with_last_batch(4..=4);
    assert_eq!(
        bytes.len() as u64,
        last_start + HEADER_BYTES + payload(4).len() as u64
    );
    assert_every_damage_recovers(&bytes, last_start, last_start as usize..bytes.len(), cut);
}

#[test]
fn torn_tail_at_every_offset_of_the_last_batch() {
    let (bytes, last_start) = log_with_last_batch(4..=6);
    assert_every_damage_recovers(&bytes, last_start, last_start as usize..bytes.len(), cut);
}

#[test]
fn garbage_after_the_last_record_is_truncated() {
    let (bytes, _) = log_with_last_batch(4..=4);
    let valid_len = bytes.len() as u64;
    for garbage in [
        vec![0u8; 4096],
        b"EDL1 and then some".to_vec(),
        vec![0xFF; 7],
    ] {
        let mut damaged = bytes.clone();
        damaged.extend_from_slice(&garbage);
        let dir = dir_with_segment(&damaged);
        let (_, recovery) = open(dir.path());
        assert_eq!(recovery.records, records(1..=4));
        assert_eq!(file_len(&segment(dir.path(), 1)), valid_len);
    }
}

#[test]
fn flipped_byte_in_the_last_record_is_truncated() {
    let (bytes, last_start) = log_with_last_batch(4..=4);
    assert_every_damage_recovers(&bytes, last_start, last_start as usize..bytes.len(), flip);
}

#[test]
fn flipped_byte_inside_the_last_batch_drops_the_whole_batch() {
    let (bytes, last_start) = log_with_last_batch(4..=6);
    let record_bytes = HEADER_BYTES as usize + payload(5).len();
    // Damage the middle record of the batch; the third one is intact.
    let middle = last_start as usize + record_bytes;
    assert_every_damage_recovers(&bytes, last_start, middle..middle + record_bytes, flip);
}

#[test]
fn flipped_byte_in_a_middle_record_is_corrupt() {
    let (bytes, _) = log_with_last_batch(4..=4);
    let record_bytes = HEADER_BYTES as usize + payload(2).len();
    // Record 2 of 4 (every payload here has the same length).
    let start = record_bytes;
    for i in start..start + record_bytes {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x08;
        let dir = dir_with_segment(&damaged);
        let (seg, offset, reason) = expect_corrupt(Log::open(dir.path(), config()));
        assert_eq!(seg, segment(dir.path(), 1), "flip at byte {i}");
        assert_eq!(offset, start as u64, "flip at byte {i}: {reason}");
        assert!(reason.contains("followed by a valid record"), "{reason}");
        // Nothing was truncated.
        assert_eq!(fs::read(segment(dir.path(), 1)).unwrap(), damaged);
    }
}

#[test]
fn damage_in_a_segment_other_than_the_last_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), small_segments(1)).unwrap();
    append_singles(&mut log, 1..=3);
    drop(log);
    // Every batch got its own segment; cut the end off the middle one.
    let middle = segment(dir.path(), 2);
    let len = file_len(&middle);
    fs::OpenOptions::new()
        .write(true)
        .open(&middle)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let (seg, offset, reason) = expect_corrupt(Log::open(dir.path(), config()));
    assert_eq!((seg, offset), (middle.clone(), 0), "{reason}");
    assert!(reason.contains("partial record payload"), "{reason}");
    assert_eq!(file_len(&middle), len - 1, "never truncated");
}

#[test]
fn checksum_valid_record_in_the_wrong_place_is_corrupt() {
    let (bytes, last_start) = log_with_last_batch(4..=4);
    // A well-formed record with a sequence number that skips one.
    let mut damaged = bytes[..last_start as usize].to_vec();
    damaged.extend(encode_record(5, last_start, 5, 1, b"skips 4"));
    let dir = dir_with_segment(&damaged);
    let (_, offset, reason) = expect_corrupt(Log::open(dir.path(), config()));
    assert_eq!(offset, last_start);
    assert!(
        reason.contains("sequence number 5 but 4 was expected"),
        "{reason}"
    );

    // A well-formed record claiming another offset.
    let mut damaged = bytes[..last_start as usize].to_vec();
    damaged.extend(encode_record(4, 0, 4, 1, b"misplaced"));
    let dir = dir_with_segment(&damaged);
    let (_, offset, reason) = expect_corrupt(Log::open(dir.path(), config()));
    assert_eq!(offset, last_start);
    assert!(reason.contains("claims offset 0"), "{reason}");
}

#[test]
fn missing_segment_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), small_segments(1)).unwrap();
    append_singles(&mut log, 1..=3);
    drop(log);
    fs::remove_file(segment(dir.path(), 2)).unwrap();
    let (seg, _, reason) = expect_corrupt(Log::open(dir.path(), config()));
    assert_eq!(seg, segment(dir.path(), 3));
    assert!(reason.contains("sequence 2 was expected"), "{reason}");

    // The first segment missing without a snapshot is a gap too.
    fs::remove_file(segment(dir.path(), 1)).unwrap();
    let (_, _, reason) = expect_corrupt(Log::open(dir.path(), config()));
    assert!(reason.contains("sequence 1 is missing"), "{reason}");
}

#[test]
fn segments_roll_and_replay_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let record_bytes = HEADER_BYTES + payload(1).len() as u64;
    // Two single records fit in a segment (with room for a longer payload); a batch
    // of three gets its own.
    let config = small_segments(2 * record_bytes + 2);
    let (mut log, _) = Log::open(dir.path(), config.clone()).unwrap();
    append_singles(&mut log, 1..=5);
    append_batch(&mut log, 6..=8);
    append_singles(&mut log, 9..=9);
    let firsts: Vec<u64> = vec![1, 3, 5, 6, 9];
    let want: Vec<PathBuf> = firsts.iter().map(|&s| segment(dir.path(), s)).collect();
    assert_eq!(log.segment_paths(), want);
    for path in &want {
        assert!(path.exists());
    }
    assert_eq!(read_all(&log, 1), records(1..=9));
    drop(log);

    let (mut log, recovery) = Log::open(dir.path(), config).unwrap();
    assert_eq!(recovery.records, records(1..=9));
    append_singles(&mut log, 10..=10);
    assert_eq!(
        log.segment_paths().len(),
        5,
        "segment 9 had room for record 10"
    );
}

#[test]
fn empty_last_segment_left_by_a_crash_while_rolling() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    append_singles(&mut log, 1..=2);
    drop(log);
    fs::write(segment(dir.path(), 3), b"").unwrap();
    let (mut log, recovery) = open(dir.path());
    assert_eq!(recovery.records, records(1..=2));
    append_singles(&mut log, 3..=3);
    assert_eq!(
        file_len(&segment(dir.path(), 1)),
        2 * (HEADER_BYTES + payload(1).len() as u64)
    );
    drop(log);
    let (_, recovery) = open(dir.path());
    assert_eq!(recovery.records, records(1..=3));
}

#[test]
fn snapshot_compacts_segments_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(1);
    let (mut log, _) = Log::open(dir.path(), config.clone()).unwrap();
    append_singles(&mut log, 1..=3);
    append_batch(&mut log, 4..=6);
    append_singles(&mut log, 7..=8);
    // Segments start at 1, 2, 3, 4, 7, 8.
    log.write_snapshot(5, b"state up to 5").unwrap();
    let remaining: Vec<PathBuf> = [4, 7, 8].iter().map(|&s| segment(dir.path(), s)).collect();
    assert_eq!(
        log.segment_paths(),
        remaining,
        "segment 4 still holds record 6"
    );
    for seq in 1..=3 {
        assert!(!segment(dir.path(), seq).exists());
    }
    assert!(dir.path().join(format!("snapshot-{:020}.snap", 5)).exists());
    assert_eq!(log.snapshot_seq(), Some(5));
    assert_eq!(log.first_seq(), 4);
    assert_eq!(
        read_all(&log, 4),
        records(4..=8),
        "covered records still on disk"
    );
    match log.read_from(3) {
        Err(LogError::Compacted {
            seq: 3,
            first_seq: 4,
        }) => {}
        other => panic!("expected compacted, got {other:?}"),
    }
    drop(log);

    let (mut log, recovery) = Log::open(dir.path(), config.clone()).unwrap();
    assert_eq!(
        recovery.snapshot,
        Some(Snapshot {
            upto_seq: 5,
            data: b"state up to 5".to_vec()
        })
    );
    assert_eq!(recovery.records, records(6..=8));
    append_singles(&mut log, 9..=9);

    // A snapshot of everything keeps the active segment and replaces the old snapshot.
    log.write_snapshot(9, b"state up to 9").unwrap();
    assert_eq!(log.segment_paths(), vec![segment(dir.path(), 9)]);
    assert!(!dir.path().join(format!("snapshot-{:020}.snap", 5)).exists());
    drop(log);
    let (mut log, recovery) = Log::open(dir.path(), config).unwrap();
    assert_eq!(recovery.snapshot.unwrap().upto_seq, 9);
    assert_eq!(recovery.records, vec![]);
    assert_eq!(log.last_seq(), 9);
    append_singles(&mut log, 10..=10);
}

#[test]
fn snapshot_with_no_segments_left_continues_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    append_singles(&mut log, 1..=4);
    log.write_snapshot(4, b"all").unwrap();
    drop(log);
    fs::remove_file(segment(dir.path(), 1)).unwrap();
    let (mut log, recovery) = open(dir.path());
    assert_eq!(recovery.snapshot.unwrap().upto_seq, 4);
    assert_eq!(log.segment_paths(), vec![segment(dir.path(), 5)]);
    append_singles(&mut log, 5..=5);
}

#[test]
fn interrupted_snapshot_leaves_the_old_state() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    append_singles(&mut log, 1..=4);
    drop(log);
    // A crash before the rename leaves a temp file behind.
    let temp = dir.path().join(format!("snapshot-{:020}.snap.tmp", 3));
    fs::write(&temp, b"half a snaps").unwrap();
    let (_, recovery) = open(dir.path());
    assert_eq!(recovery.snapshot, None);
    assert_eq!(recovery.records, records(1..=4));
    assert!(!temp.exists());
}

#[test]
fn corrupt_snapshot_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    append_singles(&mut log, 1..=4);
    log.write_snapshot(2, b"snapshot bytes").unwrap();
    drop(log);
    let path = dir.path().join(format!("snapshot-{:020}.snap", 2));
    let good = fs::read(&path).unwrap();
    for i in 0..good.len() {
        let mut damaged = good.clone();
        damaged[i] ^= 0x02;
        fs::write(&path, &damaged).unwrap();
        match Log::open(dir.path(), config()) {
            Err(LogError::SnapshotCorrupt { path: p, .. }) => assert_eq!(p, path),
            other => panic!("flip at byte {i}: expected snapshot corrupt, got {other:?}"),
        }
    }
    fs::write(&path, &good[..good.len() - 1]).unwrap();
    assert!(matches!(
        Log::open(dir.path(), config()),
        Err(LogError::SnapshotCorrupt { .. })
    ));
    // A snapshot renamed to claim another sequence number.
    fs::write(&path, &good).unwrap();
    fs::rename(&path, dir.path().join(format!("snapshot-{:020}.snap", 3))).unwrap();
    assert!(matches!(
        Log::open(dir.path(), config()),
        Err(LogError::SnapshotCorrupt { .. })
    ));
}

#[test]
fn snapshot_sequence_and_size_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        snapshot_bytes_max: 8,
        ..LogConfig::default()
    };
    let (mut log, _) = Log::open(dir.path(), config).unwrap();
    append_singles(&mut log, 1..=3);
    for upto in [0, 4] {
        let e = log.write_snapshot(upto, b"x").unwrap_err();
        assert!(matches!(e, LogError::InvalidSnapshotSeq { .. }), "{e}");
        assert_eq!(e.sqlstate(), "22023");
    }
    log.write_snapshot(2, b"x").unwrap();
    let e = log.write_snapshot(2, b"y").unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot write a log snapshot up to sequence 2: a snapshot up to sequence 2 already exists"
    );
    let e = log.write_snapshot(3, b"123456789").unwrap_err();
    assert!(
        matches!(e, LogError::SnapshotTooLarge { bytes: 9, max: 8 }),
        "{e}"
    );
}

#[test]
fn read_from_a_point() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), small_segments(100)).unwrap();
    append_singles(&mut log, 1..=4);
    append_batch(&mut log, 5..=7);
    append_singles(&mut log, 8..=10);
    for from in 1..=10 {
        assert_eq!(read_all(&log, from), records(from..=10), "from {from}");
    }
    assert_eq!(read_all(&log, 0), records(1..=10));
    assert_eq!(read_all(&log, 11), vec![]);
    assert_eq!(read_all(&log, 50), vec![]);

    // A reader stops at the end the log had when it was made.
    let reader = log.read_from(9).unwrap();
    assert_eq!(reader.end_seq(), 11);
    append_singles(&mut log, 11..=12);
    let got: Vec<Record> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(got, records(9..=10));
    assert_eq!(read_all(&log, 9), records(9..=12));
}

#[test]
fn read_from_reports_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    append_singles(&mut log, 1..=3);
    let path = segment(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    let record_bytes = HEADER_BYTES as usize + payload(1).len();
    bytes[record_bytes + 45] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let mut reader = log.read_from(1).unwrap();
    assert_eq!(reader.next().unwrap().unwrap(), records(1..=1)[0]);
    match reader.next() {
        Some(Err(LogError::Corrupt { offset, reason, .. })) => {
            assert_eq!(offset, record_bytes as u64);
            assert_eq!(reason, "record checksum mismatch");
        }
        other => panic!("expected corrupt, got {other:?}"),
    }
    assert!(reader.next().is_none(), "a reader stops after an error");
}

#[test]
fn record_too_large_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        record_bytes_max: 16,
        ..LogConfig::default()
    };
    let (mut log, _) = Log::open(dir.path(), config).unwrap();
    append_singles(&mut log, 1..=1);
    let len = file_len(&segment(dir.path(), 1));
    let big = [7u8; 17];
    let e = log.append(&[b"fine", &big]).unwrap_err();
    assert!(
        matches!(e, LogError::RecordTooLarge { bytes: 17, max: 16 }),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "log record of 17 bytes exceeds record_bytes_max (16 bytes)"
    );
    assert_eq!(e.sqlstate(), "54000");
    assert_eq!(file_len(&segment(dir.path(), 1)), len);
    assert_eq!(log.append(&[&[7u8; 16]]).unwrap(), 2);

    let e = Log::open(
        tempfile::tempdir().unwrap().path(),
        LogConfig {
            record_bytes_max: u64::from(u32::MAX) + 1,
            ..LogConfig::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, LogError::InvalidConfig(_)), "{e}");
}

#[test]
fn a_second_open_is_refused_by_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path());
    match Log::open(dir.path(), config()) {
        Err(e @ LogError::Locked { .. }) => {
            let pid = std::process::id().to_string();
            assert!(e.to_string().contains(&pid), "{e}");
            assert_eq!(e.sqlstate(), "55006");
        }
        other => panic!("expected locked, got {other:?}"),
    }
    drop(log);
    let (_log, _) = open(dir.path());
}

#[test]
fn file_changed_behind_the_logs_back_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    append_singles(&mut log, 1..=2);
    let path = segment(dir.path(), 1);
    let len = file_len(&path);
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let e = log.append(&[b"three"]).unwrap_err();
    assert!(matches!(e, LogError::Corrupt { .. }), "{e}");
    assert!(matches!(log.append(&[b"three"]), Err(LogError::Poisoned)));
    drop(log);
    // Reopening repairs the (now torn) tail.
    let (_, recovery) = open(dir.path());
    assert_eq!(recovery.records, records(1..=1));
}
