//! A `COPY ... FROM STDIN` as its data arrives: decoded piece by piece into packed
//! rows, staged in memory up to [`COPY_STAGED_BYTES_MAX`] and spilled to a temporary
//! file beyond it, then sent to the coordinator in chunks of at most
//! [`COPY_CHUNK_ROWS`] rows at the end (see [`crate::Client::copy_from`]). Text-format
//! data (and binary, which arrives translated to text) is gathered into batches of
//! [`BATCH_BYTES`], each decoded in two halves on two threads: a line break always
//! ends a line there, so the halves are cut after one; CSV, whose quoted fields may
//! hold line breaks, is decoded as it comes on one thread.
//!
//! Invariants:
//! - The memory a load holds on the session's side is bounded whatever the size of
//!   its data: a batch (at most [`BATCH_BYTES`] plus one message), the incomplete last
//!   line, at most [`COPY_STAGED_BYTES_MAX`] bytes of staged rows, and the spill
//!   file's write buffer.
//! - The rows, their order and the errors (the first bad line, by its number) are
//!   those of one decoder reading all the data, however it is cut and batched.
//! - The load stays one statement: nothing reaches the table before the data ends,
//!   and then all rows reach it at one time, or none does.
//! - After the first error (a bad line) the rest of the data is neither decoded nor
//!   kept, and the staged rows are dropped; the error is the statement's at its end.
//! - The spill file has no name (it is unlinked at once): it goes when the load ends,
//!   fails or is dropped, and when the process dies.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use eddy_expr::func::CastKind;
use eddy_repr::copy::{CopyColumns, CopyDecoder};
use eddy_repr::{Datum, Row, SqlError, SqlState};

use crate::command::CopyIn;

/// The most bytes of decoded rows one load keeps in memory before spilling them.
pub const COPY_STAGED_BYTES_MAX: usize = 64 << 20;

/// The most rows sent to the coordinator in one command at the end of a load.
pub const COPY_CHUNK_ROWS: usize = 1 << 16;

/// The size of the spill file's read and write buffers.
const SPILL_BUFFER_BYTES: usize = 1 << 20;

/// Text-format data is gathered into batches of this many bytes, each decoded in two
/// halves on two threads.
const BATCH_BYTES: usize = 512 << 10;

/// Numbers each load, so the coordinator never mixes the chunks of two.
static NEXT_LOAD: AtomicU64 = AtomicU64::new(1);

/// One `COPY ... FROM STDIN` receiving its data (see the module docs).
pub struct CopyLoad {
    pub(crate) copy: CopyIn,
    pub(crate) load: u64,
    decoder: CopyDecoder,
    /// Text-format data not decoded yet (less than [`BATCH_BYTES`]).
    batch: Vec<u8>,
    staged: Staged,
    /// The first error: the load fails with it at its end.
    error: Option<SqlError>,
}

impl CopyLoad {
    /// A load of `copy`'s table, reading data in `copy.format`.
    pub fn new(copy: CopyIn) -> CopyLoad {
        CopyLoad {
            decoder: CopyDecoder::new(copy.format.clone()),
            batch: Vec::new(),
            copy,
            load: NEXT_LOAD.fetch_add(1, Ordering::Relaxed),
            staged: Staged::default(),
            error: None,
        }
    }

    pub fn copy(&self) -> &CopyIn {
        &self.copy
    }

    /// Whether the load already failed (its data is being ignored).
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// The rows decoded so far.
    pub fn rows(&self) -> u64 {
        self.staged.rows
    }

    /// The bytes of decoded rows held in memory (the rest are in the spill file).
    pub fn staged_bytes(&self) -> usize {
        self.staged.memory_bytes
    }

    /// Decodes the lines `data` completes (after the earlier pieces) and stages them.
    pub fn push(&mut self, data: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if self.decoder.splits_at_line_breaks() {
            self.batch.extend_from_slice(data);
            if self.batch.len() >= BATCH_BYTES {
                let batch = std::mem::take(&mut self.batch);
                let result = self.decode_in_halves(&batch);
                self.check(result);
            }
            return;
        }
        let result = self.decode(data);
        self.check(result);
    }

    /// Ends the data (a last line without a line break), then returns the staged rows
    /// or the load's error.
    pub(crate) fn finish(mut self) -> Result<StagedRows, SqlError> {
        if self.error.is_none() && !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            let result = self.decode(&batch);
            self.check(result);
        }
        if self.error.is_none() {
            let copy = &self.copy;
            let staged = &mut self.staged;
            let result = with_sink(copy, &mut |row| staged.push(row), |columns, coerce, row| {
                self.decoder.finish(columns, coerce, row)
            });
            self.check(result);
        }
        match self.error {
            Some(e) => Err(e),
            None => self.staged.into_rows(),
        }
    }

    /// Fails the load with `error` (from a translation of its data).
    pub fn fail(&mut self, error: SqlError) {
        self.check(Err(error));
    }

    fn check(&mut self, result: Result<(), SqlError>) {
        if let Err(e) = result.and_then(|()| self.staged.error.take().map_or(Ok(()), Err)) {
            self.error.get_or_insert(e);
            self.staged = Staged::default();
        }
    }

    /// Decodes `data` on this thread and stages its rows.
    fn decode(&mut self, data: &[u8]) -> Result<(), SqlError> {
        let copy = &self.copy;
        let staged = &mut self.staged;
        let decoder = &mut self.decoder;
        with_sink(copy, &mut |row| staged.push(row), |columns, coerce, row| {
            decoder.push(columns, data, coerce, row)
        })
    }

    /// Decodes a batch of text-format data in two halves cut after a line break, the
    /// second on another thread with a decoder that numbers its lines on from the
    /// first's; stages the rows in order. The first half's error wins, and an end
    /// marker `\.` in it drops the second half, as if one decoder had read it all.
    fn decode_in_halves(&mut self, batch: &[u8]) -> Result<(), SqlError> {
        let Some(cut) = batch[..batch.len() / 2]
            .iter()
            .rposition(|b| *b == b'\n')
            .map(|i| i + 1)
        else {
            return self.decode(batch);
        };
        let (first, second) = batch.split_at(cut);
        let mut later = self.decoder.after(first);
        let copy = &self.copy;
        let halves = std::thread::scope(|scope| {
            let later = &mut later;
            // Without a thread to spare (the system's limit), the batch is read on this
            // thread alone.
            let second_half = std::thread::Builder::new()
                .name("eddy-copy".into())
                .spawn_scoped(scope, move || {
                    let mut rows = Vec::new();
                    let result =
                        with_sink(copy, &mut |row| rows.push(row), |columns, coerce, row| {
                            later.push(columns, second, coerce, row)
                        });
                    (result, rows)
                })
                .ok()?;
            let staged = &mut self.staged;
            let decoder = &mut self.decoder;
            let first_result =
                with_sink(copy, &mut |row| staged.push(row), |columns, coerce, row| {
                    decoder.push(columns, first, coerce, row)
                });
            let second = second_half
                .join()
                .unwrap_or_else(|_| (Err(SqlError::internal("COPY decoding panicked")), vec![]));
            Some((first_result, second))
        });
        let Some((first_result, (second_result, second_rows))) = halves else {
            return self.decode(batch);
        };
        first_result?;
        if self.decoder.ended() {
            return Ok(());
        }
        second_result?;
        for row in second_rows {
            self.staged.push(row);
        }
        self.decoder.resume(later);
        Ok(())
    }
}

/// Runs `step` of a decoder of `copy`'s data with a sink that packs each row into the
/// table's column order and gives it to `sink`.
fn with_sink(
    copy: &CopyIn,
    sink: &mut dyn FnMut(Row),
    step: impl FnOnce(
        &CopyColumns,
        &dyn Fn(Datum, usize) -> Result<Datum, SqlError>,
        &mut dyn FnMut(Vec<Datum>),
    ) -> Result<(), SqlError>,
) -> Result<(), SqlError> {
    let columns = CopyColumns {
        relation: &copy.relation,
        names: &copy.names,
        types: &copy.types,
    };
    // The input functions know no type modifiers: `numeric(10,2)` and `varchar(n)`
    // are enforced as when storing into the column.
    let coerce = |datum: Datum, i: usize| {
        eddy_expr::eval::cast_datum(datum, &copy.types[i], CastKind::Assignment)
            .map_err(SqlError::from)
    };
    let mut full = vec![Datum::Null; copy.arity];
    let identity =
        copy.columns.len() == copy.arity && copy.columns.iter().enumerate().all(|(i, c)| i == *c);
    let mut row = |line: Vec<Datum>| {
        let row = if identity {
            Row::pack(&line)
        } else {
            for (datum, &column) in line.into_iter().zip(&copy.columns) {
                full[column] = datum;
            }
            Row::pack(&full)
        };
        sink(row);
    };
    step(&columns, &coerce, &mut row)
}

/// The rows of a load: in memory, and beyond [`COPY_STAGED_BYTES_MAX`] in a spill
/// file.
#[derive(Default)]
struct Staged {
    memory: Vec<Row>,
    memory_bytes: usize,
    spill: Option<Spill>,
    rows: u64,
    /// A failure to write the spill file (reported by [`CopyLoad::check`]).
    error: Option<SqlError>,
}

/// Rows spilled to an unnamed temporary file: each as its length (u32, little
/// endian) and its packed bytes.
struct Spill {
    file: BufWriter<File>,
    rows: u64,
    bytes: u64,
}

fn spill_error(e: std::io::Error) -> SqlError {
    SqlError::new(
        SqlState::IO_ERROR,
        format!("could not write COPY data to a temporary file: {e}"),
    )
}

impl Staged {
    fn push(&mut self, row: Row) {
        if self.error.is_some() {
            return;
        }
        self.memory_bytes += std::mem::size_of::<Row>() + row.byte_len();
        self.memory.push(row);
        self.rows += 1;
        if self.memory_bytes > COPY_STAGED_BYTES_MAX {
            if let Err(e) = self.spill() {
                self.error = Some(spill_error(e));
                self.memory = Vec::new();
            }
        }
    }

    /// Moves the rows in memory to the spill file.
    fn spill(&mut self) -> std::io::Result<()> {
        if self.spill.is_none() {
            self.spill = Some(Spill {
                file: BufWriter::with_capacity(SPILL_BUFFER_BYTES, tempfile::tempfile()?),
                rows: 0,
                bytes: 0,
            });
        }
        let spill = self.spill.as_mut().expect("created above");
        for row in self.memory.drain(..) {
            let bytes = row.as_bytes();
            let len = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
            spill.file.write_all(&len.to_le_bytes())?;
            spill.file.write_all(bytes)?;
            spill.rows += 1;
            spill.bytes += 4 + u64::from(len);
        }
        self.memory_bytes = 0;
        Ok(())
    }

    fn into_rows(self) -> Result<StagedRows, SqlError> {
        let spill = match self.spill {
            None => None,
            Some(spill) => {
                let mut file = spill
                    .file
                    .into_inner()
                    .map_err(|e| spill_error(e.into_error()))?;
                let len = file.seek(SeekFrom::End(0)).map_err(spill_error)?;
                // Checked twice: what was written is what is there to read back.
                if len != spill.bytes {
                    return Err(SqlError::internal(format!(
                        "the COPY spill file holds {len} bytes, not the {} written",
                        spill.bytes
                    )));
                }
                file.seek(SeekFrom::Start(0)).map_err(spill_error)?;
                Some((
                    BufReader::with_capacity(SPILL_BUFFER_BYTES, file),
                    spill.rows,
                ))
            }
        };
        Ok(StagedRows {
            spill,
            memory: self.memory.into_iter(),
            rows: self.rows,
        })
    }
}

/// A finished load's rows, read in chunks: those spilled first, then those in memory.
pub(crate) struct StagedRows {
    spill: Option<(BufReader<File>, u64)>,
    memory: std::vec::IntoIter<Row>,
    pub(crate) rows: u64,
}

impl StagedRows {
    /// The next chunk of at most [`COPY_CHUNK_ROWS`] rows (empty at the end).
    pub(crate) fn next_chunk(&mut self) -> Result<Vec<Row>, SqlError> {
        let mut chunk = Vec::with_capacity(COPY_CHUNK_ROWS.min(self.rows as usize));
        if let Some((file, left)) = &mut self.spill {
            let read_error = |e: std::io::Error| {
                SqlError::new(
                    SqlState::IO_ERROR,
                    format!("could not read COPY data from its temporary file: {e}"),
                )
            };
            while chunk.len() < COPY_CHUNK_ROWS && *left > 0 {
                let mut len = [0u8; 4];
                file.read_exact(&mut len).map_err(read_error)?;
                let mut bytes = vec![0u8; u32::from_le_bytes(len) as usize];
                file.read_exact(&mut bytes).map_err(read_error)?;
                chunk.push(Row::from_packed_bytes(bytes));
                *left -= 1;
            }
            if *left == 0 {
                self.spill = None;
            }
        }
        chunk.extend(self.memory.by_ref().take(COPY_CHUNK_ROWS - chunk.len()));
        Ok(chunk)
    }
}

#[cfg(test)]
mod tests {
    use eddy_repr::copy::{CopyFormat, CopyFormatKind};
    use eddy_repr::{GlobalId, ScalarType};

    use super::*;

    fn load(kind: CopyFormatKind) -> CopyLoad {
        CopyLoad::new(CopyIn {
            id: GlobalId::User(1),
            relation: "t".into(),
            names: vec!["id".into(), "name".into(), "amount".into()],
            types: vec![
                ScalarType::Int64,
                ScalarType::Text,
                ScalarType::Numeric {
                    precision: Some(10),
                    scale: Some(2),
                },
            ],
            columns: vec![0, 1, 2],
            arity: 3,
            format: CopyFormat::new(kind),
        })
    }

    fn line(i: usize) -> String {
        // Multi-byte characters and escapes, so that a cut inside them would show.
        format!("{i}\tnamé\\t{i}\t{}.{:02}\n", i % 1000, i % 100)
    }

    fn expected(i: usize) -> Row {
        Row::pack(&[
            Datum::Int64(i as i64),
            Datum::String(format!("namé\t{i}")),
            Datum::Numeric(format!("{}.{:02}", i % 1000, i % 100).parse().unwrap()),
        ])
    }

    /// Feeds `data` in pieces of `piece` bytes (cut anywhere, inside characters too)
    /// and returns every staged row, or the load's error.
    fn run(mut load: CopyLoad, data: &[u8], piece: usize) -> Result<Vec<Row>, SqlError> {
        for part in data.chunks(piece) {
            load.push(part);
        }
        let mut staged = load.finish()?;
        let mut rows = vec![];
        loop {
            let chunk = staged.next_chunk()?;
            if chunk.is_empty() {
                return Ok(rows);
            }
            rows.extend(chunk);
        }
    }

    /// Text data decoded in batches, each in two halves on two threads, gives the rows
    /// in order, whatever the pieces it arrives in; CSV, which is decoded on one
    /// thread, gives the same rows.
    #[test]
    fn batches_decode_in_halves_in_order() {
        let n = 100_000;
        let data: String = (0..n).map(line).collect();
        assert!(data.len() > 3 * BATCH_BYTES);
        let want: Vec<Row> = (0..n).map(expected).collect();
        for piece in [1 << 20, 65_536, 7_919] {
            let rows = run(load(CopyFormatKind::Text), data.as_bytes(), piece).unwrap();
            assert_eq!(rows.len(), want.len(), "piece {piece}");
            assert!(rows == want, "piece {piece}: rows differ");
        }
        // The last line without a line break is a row too.
        let unended = data.trim_end_matches('\n');
        let rows = run(load(CopyFormatKind::Text), unended.as_bytes(), 100_000).unwrap();
        assert_eq!(rows.len(), n);
    }

    /// A bad line is named by its number wherever it falls in a batch; of two bad
    /// lines the first is named; an end marker `\.` ends the data in either half.
    #[test]
    fn errors_and_the_end_marker_are_those_of_one_decoder() {
        let n = 40_000;
        let lines: Vec<String> = (0..n).map(line).collect();
        let with = |changes: &[(usize, &str)]| {
            let mut lines = lines.clone();
            for (at, text) in changes {
                lines[*at] = text.to_string();
            }
            lines.concat()
        };
        for bad in [10, 9_000, 17_000, 39_999] {
            let data = with(&[(bad, "x\ty\t1.00\n")]);
            let err = run(load(CopyFormatKind::Text), data.as_bytes(), 65_536).unwrap_err();
            assert_eq!(
                err.sqlstate,
                SqlState::INVALID_TEXT_REPRESENTATION,
                "{err:?}"
            );
            let detail = err.detail.unwrap_or_default();
            assert!(
                detail.starts_with(&format!("COPY t, line {}, column id", bad + 1)),
                "line {bad}: {detail}"
            );
        }
        let data = with(&[(17_000, "x\ty\t1.00\n"), (9_000, "1\tshort\n")]);
        let err = run(load(CopyFormatKind::Text), data.as_bytes(), 65_536).unwrap_err();
        assert_eq!(err.detail.as_deref(), Some("COPY t, line 9001"), "{err:?}");
        for end in [5, 9_000, 17_000] {
            let data = with(&[(end, "\\.\n"), (end + 1, "garbage\n")]);
            let rows = run(load(CopyFormatKind::Text), data.as_bytes(), 65_536).unwrap();
            assert_eq!(rows.len(), end, "end marker at line {}", end + 1);
        }
    }
}
