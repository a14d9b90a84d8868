//! `COPY ... (FORMAT binary)`: Postgres' binary copy format on the wire.
//!
//! The format: an 11-byte signature (`PGCOPY\n\377\r\n\0`), a 4-byte flags field and a
//! 4-byte header extension length (skipped); then one tuple per row, a 16-bit field
//! count and each field as a 32-bit length (-1 for NULL) and its binary (`typsend`)
//! bytes; then a 16-bit -1 trailer.
//!
//! COPY FROM in binary is decoded here, message by message ([`BinaryToText`]), and
//! handed to the load as COPY text (each value printed with its type's output
//! function, which its input function reads back exactly), so the backend has one
//! COPY path: the same coercion to the column types,
//! the same errors, a tuple's number as its line number.

use bytes::{BufMut, BytesMut};
use eddy_repr::copy::{CopyFormat, CopyFormatKind};
use eddy_repr::{Datum, Row, ScalarType, SqlError, SqlState};

use crate::format::{decode_binary, encode_binary};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// The header of binary COPY data.
pub(crate) fn header() -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    out.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
    out.extend_from_slice(&0i32.to_be_bytes()); // no header extension
    out
}

/// The trailer of binary COPY data.
pub(crate) fn trailer() -> Vec<u8> {
    (-1i16).to_be_bytes().to_vec()
}

/// One row as a binary COPY tuple.
pub(crate) fn encode_row(row: &Row, types: &[ScalarType]) -> Result<Vec<u8>, SqlError> {
    let datums = row.unpack();
    let mut buf = BytesMut::new();
    buf.put_i16(i16::try_from(datums.len()).unwrap_or(i16::MAX));
    for (datum, typ) in datums.iter().zip(types) {
        if datum.is_null() {
            buf.put_i32(-1);
            continue;
        }
        let mut value = BytesMut::new();
        encode_binary(datum, typ, &mut value).map_err(|e| {
            SqlError::new(SqlState::INTERNAL_ERROR, format!("COPY TO in binary: {e}"))
        })?;
        buf.put_i32(i32::try_from(value.len()).unwrap_or(i32::MAX));
        buf.put_slice(&value);
    }
    Ok(buf.to_vec())
}

fn bad_copy(message: impl Into<String>) -> SqlError {
    SqlError::new(SqlState::BAD_COPY_FILE_FORMAT, message)
}

/// Reads binary COPY data of columns of `types` and writes it as COPY text (in the
/// text format's defaults). All of [`BinaryToText`] at once.
#[cfg(test)]
pub(crate) fn to_text(data: &[u8], types: &[ScalarType]) -> Result<Vec<u8>, SqlError> {
    let mut decoder = BinaryToText::default();
    let mut out = Vec::new();
    decoder.push(data, types, &mut out)?;
    decoder.finish()?;
    Ok(out)
}

/// Binary COPY data as it arrives, in pieces split anywhere: each call translates the
/// tuples the data so far completes into lines of COPY text (the text format's
/// defaults) and keeps only the incomplete last tuple.
#[derive(Default)]
pub(crate) struct BinaryToText {
    /// The bytes not yet translated: a piece of the header or of one tuple.
    pending: Vec<u8>,
    header_read: bool,
    /// Set by the trailer: the rest of the data is ignored.
    ended: bool,
    /// The tuples read so far.
    line: u64,
}

/// Why a tuple cannot be read yet.
enum Short {
    /// The data so far ends inside it.
    Incomplete,
    Bad(SqlError),
}

impl From<SqlError> for Short {
    fn from(e: SqlError) -> Short {
        Short::Bad(e)
    }
}

impl BinaryToText {
    /// Appends to `out` a line per tuple `data` completes. The first error ends the read.
    pub(crate) fn push(
        &mut self,
        data: &[u8],
        types: &[ScalarType],
        out: &mut Vec<u8>,
    ) -> Result<(), SqlError> {
        if self.ended {
            return Ok(());
        }
        self.pending.extend_from_slice(data);
        let mut pos = 0;
        let result = loop {
            let step = if self.header_read {
                self.tuple(&mut pos, types, out)
            } else {
                self.header(&mut pos)
            };
            match step {
                Ok(()) if self.ended => break Ok(()),
                Ok(()) => {}
                Err(Short::Incomplete) => break Ok(()),
                Err(Short::Bad(e)) => break Err(e),
            }
        };
        self.pending.drain(..pos);
        if self.ended {
            self.pending = Vec::new();
        }
        result
    }

    /// Ends the data: it may end between tuples, with or without the trailer, as
    /// Postgres reads it (pgx's CopyFrom sends none), but not inside the header or a
    /// tuple.
    pub(crate) fn finish(&mut self) -> Result<(), SqlError> {
        if self.ended || (self.header_read && self.pending.is_empty()) {
            return Ok(());
        }
        Err(bad_copy("unexpected EOF in COPY data"))
    }

    fn take<'a>(pending: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], Short> {
        let bytes = pending.get(*pos..*pos + n).ok_or(Short::Incomplete)?;
        *pos += n;
        Ok(bytes)
    }

    fn header(&mut self, pos: &mut usize) -> Result<(), Short> {
        let mut at = *pos;
        if Self::take(&self.pending, &mut at, SIGNATURE.len())? != SIGNATURE {
            return Err(bad_copy("COPY file signature not recognized").into());
        }
        let flags = i32::from_be_bytes(
            Self::take(&self.pending, &mut at, 4)?
                .try_into()
                .expect("4 bytes"),
        );
        if flags & (1 << 16) != 0 {
            return Err(bad_copy("COPY with OIDs is not supported").into());
        }
        let extension = i32::from_be_bytes(
            Self::take(&self.pending, &mut at, 4)?
                .try_into()
                .expect("4 bytes"),
        );
        let extension = usize::try_from(extension)
            .map_err(|_| bad_copy("invalid COPY file header (missing length)"))?;
        Self::take(&self.pending, &mut at, extension)?;
        *pos = at;
        self.header_read = true;
        Ok(())
    }

    /// Translates the tuple at `pos`, moving `pos` past it, or nothing if the data
    /// so far ends inside it.
    fn tuple(
        &mut self,
        pos: &mut usize,
        types: &[ScalarType],
        out: &mut Vec<u8>,
    ) -> Result<(), Short> {
        let pending = &self.pending;
        let mut at = *pos;
        let fields = i16::from_be_bytes(
            Self::take(pending, &mut at, 2)?
                .try_into()
                .expect("2 bytes"),
        );
        if fields == -1 {
            *pos = at;
            self.ended = true;
            return Ok(());
        }
        let line = self.line + 1;
        if usize::try_from(fields).ok() != Some(types.len()) {
            return Err(bad_copy(format!(
                "row field count is {fields}, expected {}",
                types.len()
            ))
            .with_detail(format!("COPY line {line}"))
            .into());
        }
        // Find the tuple's end before decoding any of it.
        let start = at;
        for _ in types {
            let len = i32::from_be_bytes(
                Self::take(pending, &mut at, 4)?
                    .try_into()
                    .expect("4 bytes"),
            );
            if len != -1 {
                let len = usize::try_from(len).map_err(|_| bad_copy("invalid field size"))?;
                Self::take(pending, &mut at, len)?;
            }
        }
        let end = at;
        let mut at = start;
        let mut datums = Vec::with_capacity(types.len());
        for (column, typ) in types.iter().enumerate() {
            let len = i32::from_be_bytes(
                Self::take(pending, &mut at, 4)?
                    .try_into()
                    .expect("4 bytes"),
            );
            if len == -1 {
                datums.push(Datum::Null);
                continue;
            }
            let len = usize::try_from(len).map_err(|_| bad_copy("invalid field size"))?;
            let bytes = Self::take(pending, &mut at, len)?;
            let datum = decode_binary(bytes, typ).map_err(|e| {
                SqlError::new(
                    SqlState::INVALID_BINARY_REPRESENTATION,
                    format!("incorrect binary data format in column {}: {e}", column + 1),
                )
                .with_detail(format!("COPY line {line}"))
            })?;
            datums.push(datum);
        }
        debug_assert_eq!(at, end);
        out.extend(eddy_repr::copy::encode(&TEXT, &datums, types));
        self.line = line;
        *pos = end;
        Ok(())
    }
}

/// The COPY text format binary data is translated to.
static TEXT: std::sync::LazyLock<CopyFormat> =
    std::sync::LazyLock::new(|| CopyFormat::new(CopyFormatKind::Text));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_ends_with_or_without_the_trailer_but_not_inside_a_tuple() {
        let types = [ScalarType::Int64, ScalarType::Text];
        let row = Row::pack(&[Datum::Int64(7), Datum::String("seven".into())]);
        let mut data = header();
        data.extend(encode_row(&row, &types).unwrap());
        let without = to_text(&data, &types).unwrap();
        assert_eq!(without, b"7\tseven\n");
        let mut with = data.clone();
        with.extend(trailer());
        assert_eq!(to_text(&with, &types).unwrap(), without);
        data.pop();
        let e = to_text(&data, &types).unwrap_err();
        assert_eq!(e.message, "unexpected EOF in COPY data");
    }

    /// Data split anywhere (inside the header, a length, a value) translates as the
    /// whole does.
    #[test]
    fn pieces_split_anywhere_translate_as_the_whole() {
        let types = [ScalarType::Int64, ScalarType::Text];
        let mut data = header();
        for (i, name) in [(7, Some("seven")), (8, None), (9, Some("n\u{e9}uf\tx"))] {
            let name = name.map_or(Datum::Null, |n| Datum::String(n.into()));
            data.extend(encode_row(&Row::pack(&[Datum::Int64(i), name]), &types).unwrap());
        }
        data.extend(trailer());
        let whole = to_text(&data, &types).unwrap();
        assert_eq!(whole, "7\tseven\n8\t\\N\n9\tn\u{e9}uf\\tx\n".as_bytes());
        for i in 0..=data.len() {
            for j in i..=data.len() {
                let mut decoder = BinaryToText::default();
                let mut out = Vec::new();
                for piece in [&data[..i], &data[i..j], &data[j..]] {
                    decoder.push(piece, &types, &mut out).unwrap();
                }
                decoder.finish().unwrap();
                assert_eq!(out, whole, "split at {i}, {j}");
            }
        }
    }
}
