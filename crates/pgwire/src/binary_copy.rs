//! `COPY ... (FORMAT binary)`: Postgres' binary copy format on the wire.
//!
//! The format: an 11-byte signature (`PGCOPY\n\377\r\n\0`), a 4-byte flags field and a
//! 4-byte header extension length (skipped); then one tuple per row, a 16-bit field
//! count and each field as a 32-bit length (-1 for NULL) and its binary (`typsend`)
//! bytes; then a 16-bit -1 trailer.
//!
//! COPY FROM in binary is decoded here and handed to the backend as COPY text (each
//! value printed with its type's output function, which its input function reads back
//! exactly), so the backend has one COPY path: the same coercion to the column types,
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

/// Reads binary COPY data of columns of `types` and writes it as COPY text (in
/// `text`'s format, which must be the text format's defaults).
pub(crate) fn to_text(data: &[u8], types: &[ScalarType]) -> Result<Vec<u8>, SqlError> {
    let text = CopyFormat::new(CopyFormatKind::Text);
    let pos = std::cell::Cell::new(0usize);
    let take = |n: usize| -> Result<&[u8], SqlError> {
        let at = pos.get();
        let bytes = data
            .get(at..at + n)
            .ok_or_else(|| bad_copy("unexpected EOF in COPY data"))?;
        pos.set(at + n);
        Ok(bytes)
    };
    if take(SIGNATURE.len())? != SIGNATURE {
        return Err(bad_copy("COPY file signature not recognized"));
    }
    let flags = i32::from_be_bytes(take(4)?.try_into().expect("4 bytes"));
    if flags & (1 << 16) != 0 {
        return Err(bad_copy("COPY with OIDs is not supported"));
    }
    let extension = i32::from_be_bytes(take(4)?.try_into().expect("4 bytes"));
    take(
        usize::try_from(extension)
            .map_err(|_| bad_copy("invalid COPY file header (missing length)"))?,
    )?;
    let mut out = Vec::with_capacity(data.len());
    let mut line = 0u64;
    loop {
        // The end of the data between tuples ends it, with or without the trailer, as
        // Postgres reads it (pgx's CopyFrom sends none).
        if pos.get() == data.len() {
            break;
        }
        let fields = i16::from_be_bytes(take(2)?.try_into().expect("2 bytes"));
        if fields == -1 {
            break;
        }
        line += 1;
        if usize::try_from(fields).ok() != Some(types.len()) {
            return Err(bad_copy(format!(
                "row field count is {fields}, expected {}",
                types.len()
            ))
            .with_detail(format!("COPY line {line}")));
        }
        let mut datums = Vec::with_capacity(types.len());
        for (column, typ) in types.iter().enumerate() {
            let len = i32::from_be_bytes(take(4)?.try_into().expect("4 bytes"));
            if len == -1 {
                datums.push(Datum::Null);
                continue;
            }
            let len = usize::try_from(len).map_err(|_| bad_copy("invalid field size"))?;
            let bytes = take(len)?;
            let datum = decode_binary(bytes, typ).map_err(|e| {
                SqlError::new(
                    SqlState::INVALID_BINARY_REPRESENTATION,
                    format!("incorrect binary data format in column {}: {e}", column + 1),
                )
                .with_detail(format!("COPY line {line}"))
            })?;
            datums.push(datum);
        }
        out.extend(eddy_repr::copy::encode(&text, &datums, types));
    }
    Ok(out)
}

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
}
