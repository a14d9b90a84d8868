//! A `COPY ... FROM STDIN` as its data arrives: decoded piece by piece into packed
//! rows, staged in memory up to [`COPY_STAGED_BYTES_MAX`] and spilled to a temporary
//! file beyond it, then sent to the coordinator in chunks of at most
//! [`COPY_CHUNK_ROWS`] rows at the end (see [`crate::Client::copy_from`]).
//!
//! Invariants:
//! - The memory a load holds on the session's side is bounded whatever the size of
//!   its data: the incomplete last line, at most [`COPY_STAGED_BYTES_MAX`] bytes of
//!   staged rows, and the spill file's write buffer.
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

/// Numbers each load, so the coordinator never mixes the chunks of two.
static NEXT_LOAD: AtomicU64 = AtomicU64::new(1);

/// One `COPY ... FROM STDIN` receiving its data (see the module docs).
pub struct CopyLoad {
    pub(crate) copy: CopyIn,
    pub(crate) load: u64,
    decoder: CopyDecoder,
    staged: Staged,
    /// The first error: the load fails with it at its end.
    error: Option<SqlError>,
}

impl CopyLoad {
    /// A load of `copy`'s table, reading data in `copy.format`.
    pub fn new(copy: CopyIn) -> CopyLoad {
        CopyLoad {
            decoder: CopyDecoder::new(copy.format.clone()),
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
        let result =
            self.decode(|decoder, columns, coerce, row| decoder.push(columns, data, coerce, row));
        self.check(result);
    }

    /// Ends the data (a last line without a line break), then returns the staged rows
    /// or the load's error.
    pub(crate) fn finish(mut self) -> Result<StagedRows, SqlError> {
        if self.error.is_none() {
            let result =
                self.decode(|decoder, columns, coerce, row| decoder.finish(columns, coerce, row));
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

    /// Runs `step` of the decoder with a sink that packs each row into the table's
    /// column order and stages it.
    fn decode(
        &mut self,
        step: impl FnOnce(
            &mut CopyDecoder,
            &CopyColumns,
            &dyn Fn(Datum, usize) -> Result<Datum, SqlError>,
            &mut dyn FnMut(Vec<Datum>),
        ) -> Result<(), SqlError>,
    ) -> Result<(), SqlError> {
        let copy = &self.copy;
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
        let staged = &mut self.staged;
        let mut full = vec![Datum::Null; copy.arity];
        let identity = copy.columns.len() == copy.arity
            && copy.columns.iter().enumerate().all(|(i, c)| i == *c);
        let mut row = |line: Vec<Datum>| {
            let row = if identity {
                Row::pack(&line)
            } else {
                for (datum, &column) in line.into_iter().zip(&copy.columns) {
                    full[column] = datum;
                }
                Row::pack(&full)
            };
            staged.push(row);
        };
        step(&mut self.decoder, &columns, &coerce, &mut row)
    }
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
