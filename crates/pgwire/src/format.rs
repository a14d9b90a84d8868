//! Datums on the wire: the text and binary formats of every [`ScalarType`], and the
//! row descriptions that announce them.
//!
//! Semantics:
//! - The text format is the one `psql` prints: [`eddy_repr::strconv::format_datum`] out,
//!   [`eddy_repr::strconv::parse_datum`] in. This module never formats a value itself.
//! - The binary format is Postgres' `typsend`/`typrecv` format for the type's OID
//!   (big-endian integers, days/microseconds since 2000-01-01 for dates and times,
//!   base-10000 digits for numeric, a version byte before jsonb text, the array header
//!   of `array_send` for the array types).
//! - Text is read and written in the session's time zone: a `timestamptz` prints as the
//!   zone's wall-clock time with its offset and is read in the zone when it carries no
//!   offset. The binary format of `timestamptz` is UTC microseconds whatever the zone,
//!   as in Postgres.
//! - NULL is never encoded here: on the wire it is a length of -1, written by the row
//!   encoder.
//!
//! Invariants:
//! - Decoding never panics on client bytes: every malformed or out-of-range value is a
//!   [`DecodeError`]; a datum that does not match its column type (a backend bug) is an
//!   [`EncodeError`], never a panic.
//! - Every binary decoder consumes its input exactly, as Postgres' `typrecv` functions
//!   do: short input is `insufficient data left in message` (08P01), anything else
//!   malformed, trailing bytes included, is `incorrect binary data format` (22P03).

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc};
use eddy_repr::numeric::NUMERIC_MAX_SCALE;
use eddy_repr::zone::TimeZone;
use eddy_repr::SqlState;
use eddy_repr::{strconv, Datum, Interval, Numeric, OrdF32, OrdF64, Row, ScalarType};
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::messages::data::DataRow;

/// A value a client sent that cannot become a datum of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Binary bytes that are not a valid value of the type.
    #[error("incorrect binary data format: {0}")]
    Binary(String),
    /// A binary value shorter than its type needs.
    #[error("insufficient data left in message")]
    Insufficient,
    /// Text that the type's input function rejects.
    #[error(transparent)]
    Text(#[from] strconv::ParseError),
    /// Bytes that are not UTF-8; the field holds the offending bytes in hex.
    #[error("invalid byte sequence for encoding \"UTF8\": {0}")]
    Utf8(String),
    /// A well-formed value that Eddy cannot represent (numeric infinity, more than 38 digits, ...).
    #[error("{message}")]
    OutOfRange { sqlstate: SqlState, message: String },
}

impl DecodeError {
    /// The SQLSTATE Postgres reports for this error.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            DecodeError::Binary(_) => SqlState::INVALID_BINARY_REPRESENTATION,
            DecodeError::Insufficient => SqlState::PROTOCOL_VIOLATION,
            DecodeError::Text(err) => err.sqlstate(),
            DecodeError::Utf8(_) => SqlState::CHARACTER_NOT_IN_REPERTOIRE,
            DecodeError::OutOfRange { sqlstate, .. } => *sqlstate,
        }
    }

    fn binary(what: impl Into<String>) -> Self {
        DecodeError::Binary(what.into())
    }

    fn out_of_range(sqlstate: SqlState, message: impl Into<String>) -> Self {
        DecodeError::OutOfRange {
            sqlstate,
            message: message.into(),
        }
    }
}

/// A datum the backend produced that cannot be sent as its column's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot send datum {datum} as type {typ}")]
    TypeMismatch { datum: String, typ: String },
    #[error("value of type {typ} out of range for the binary format")]
    OutOfRange { typ: String },
    #[error("row has {actual} columns but its description has {expected}")]
    Arity { expected: usize, actual: usize },
}

impl EncodeError {
    fn mismatch(datum: &Datum, typ: &ScalarType) -> Self {
        EncodeError::TypeMismatch {
            datum: format!("{datum:?}"),
            typ: typ.sql_name(),
        }
    }

    fn out_of_range(typ: &ScalarType) -> Self {
        EncodeError::OutOfRange {
            typ: typ.sql_name(),
        }
    }
}

/// The `pgwire` type for a scalar type (same OID). Every [`ScalarType`] OID is a
/// built-in Postgres type, so the fallback is never used in practice.
pub fn pg_type(typ: &ScalarType) -> Type {
    Type::from_oid(typ.oid()).unwrap_or(Type::UNKNOWN)
}

/// The scalar type a client means by a parameter type OID, for the types Eddy has.
/// Modifiers are unknown from an OID alone, so numeric/varchar/char come back unbounded.
pub fn scalar_type_from_oid(oid: u32) -> Option<ScalarType> {
    let typ = match oid {
        16 => ScalarType::Bool,
        17 => ScalarType::Bytea,
        18 => ScalarType::PgChar,
        19 => ScalarType::Name,
        20 => ScalarType::Int64,
        21 => ScalarType::Int16,
        22 => ScalarType::Int2Vector,
        23 => ScalarType::Int32,
        24 => ScalarType::RegProc,
        25 => ScalarType::Text,
        26 => ScalarType::Oid,
        700 => ScalarType::Float32,
        701 => ScalarType::Float64,
        1000 => ScalarType::BoolArray,
        1005 => ScalarType::Int16Array,
        1007 => ScalarType::Int32Array,
        1016 => ScalarType::Int64Array,
        1009 => ScalarType::TextArray,
        1028 => ScalarType::OidArray,
        1042 => ScalarType::Char { length: None },
        1043 => ScalarType::Varchar { max_length: None },
        1082 => ScalarType::Date,
        1083 => ScalarType::Time,
        1114 => ScalarType::Timestamp,
        1184 => ScalarType::TimestampTz,
        1186 => ScalarType::Interval,
        1700 => ScalarType::Numeric {
            precision: None,
            scale: None,
        },
        2205 => ScalarType::RegClass,
        2206 => ScalarType::RegType,
        2950 => ScalarType::Uuid,
        3802 => ScalarType::Jsonb,
        _ => return None,
    };
    Some(typ)
}

/// The format of column `idx` under a Bind's result-format codes. Codes past the end
/// (which Bind validation rules out) fall back to text rather than panicking.
pub fn column_format(formats: &Format, idx: usize) -> FieldFormat {
    match formats {
        Format::UnifiedText => FieldFormat::Text,
        Format::UnifiedBinary => FieldFormat::Binary,
        Format::Individual(codes) => codes
            .get(idx)
            .map(|code| FieldFormat::from(*code))
            .unwrap_or(FieldFormat::Text),
    }
}

/// The RowDescription fields for a result: type OID, typlen and typmod from the scalar
/// type; table OID and attribute number 0 (results are never tied to a stored table).
pub fn field_infos<'a>(
    columns: impl IntoIterator<Item = (&'a String, &'a ScalarType)>,
    formats: &Format,
) -> Vec<FieldInfo> {
    columns
        .into_iter()
        .enumerate()
        .map(|(idx, (name, typ))| {
            FieldInfo::new(
                name.clone(),
                None,
                None,
                pg_type(typ),
                column_format(formats, idx),
            )
            .with_type_size(typ.typlen())
            .with_type_modifier(typ.typmod())
        })
        .collect()
}

/// Encodes one row as a DataRow, each column in its requested format.
pub fn encode_row(
    row: &Row,
    types: &[ScalarType],
    formats: &Format,
    zone: &TimeZone,
) -> Result<DataRow, EncodeError> {
    let mut buf = BytesMut::with_capacity(row.byte_len() + 4 * types.len());
    let mut count = 0;
    for (idx, datum) in row.iter().enumerate() {
        let typ = types.get(idx).ok_or(EncodeError::Arity {
            expected: types.len(),
            actual: idx + 1,
        })?;
        encode_field(&datum, typ, column_format(formats, idx), zone, &mut buf)?;
        count += 1;
    }
    if count != types.len() {
        return Err(EncodeError::Arity {
            expected: types.len(),
            actual: count,
        });
    }
    let field_count = i16::try_from(count).map_err(|_| EncodeError::Arity {
        expected: types.len(),
        actual: count,
    })?;
    Ok(DataRow::new(buf, field_count))
}

/// A row as one line of COPY's text format: fields in their text format separated by
/// tabs, NULL as `\N`, backslash, tab, newline and carriage return escaped, ended by a
/// newline (what `COPY ... TO STDOUT` writes and `psql`, drivers' copy APIs read).
pub fn encode_copy_text(
    row: &Row,
    types: &[ScalarType],
    zone: &TimeZone,
) -> Result<Vec<u8>, EncodeError> {
    let mut line = Vec::with_capacity(row.byte_len() + types.len());
    let mut count = 0;
    for (idx, datum) in row.iter().enumerate() {
        let typ = types.get(idx).ok_or(EncodeError::Arity {
            expected: types.len(),
            actual: idx + 1,
        })?;
        if idx > 0 {
            line.push(b'\t');
        }
        if datum.is_null() {
            line.extend_from_slice(b"\\N");
        } else {
            for b in strconv::format_datum_in(&datum, typ, zone).bytes() {
                match b {
                    b'\\' => line.extend_from_slice(b"\\\\"),
                    b'\t' => line.extend_from_slice(b"\\t"),
                    b'\n' => line.extend_from_slice(b"\\n"),
                    b'\r' => line.extend_from_slice(b"\\r"),
                    b => line.push(b),
                }
            }
        }
        count += 1;
    }
    if count != types.len() {
        return Err(EncodeError::Arity {
            expected: types.len(),
            actual: count,
        });
    }
    line.push(b'\n');
    Ok(line)
}

/// Appends one field: its length (-1 for NULL) and its bytes.
fn encode_field(
    datum: &Datum,
    typ: &ScalarType,
    format: FieldFormat,
    zone: &TimeZone,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    if datum.is_null() {
        buf.put_i32(-1);
        return Ok(());
    }
    let len_at = buf.len();
    buf.put_i32(0);
    match format {
        FieldFormat::Text => buf.put_slice(strconv::format_datum_in(datum, typ, zone).as_bytes()),
        FieldFormat::Binary => encode_binary(datum, typ, buf)?,
    }
    let len = i32::try_from(buf.len() - len_at - 4).map_err(|_| EncodeError::out_of_range(typ))?;
    buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// 2000-01-01, the epoch of Postgres' binary date and timestamp formats.
fn pg_epoch_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN)
}

fn pg_epoch() -> NaiveDateTime {
    pg_epoch_date().and_time(NaiveTime::MIN)
}

/// Appends the binary (`typsend`) form of a non-NULL datum.
pub fn encode_binary(
    datum: &Datum,
    typ: &ScalarType,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    use ScalarType as T;
    match (typ, datum) {
        (T::Bool, Datum::Bool(b)) => buf.put_u8(u8::from(*b)),
        (T::Int16, Datum::Int16(v)) => buf.put_i16(*v),
        (T::Int32, Datum::Int32(v)) => buf.put_i32(*v),
        (T::Int64, Datum::Int64(v)) => buf.put_i64(*v),
        (T::Float32, Datum::Float32(v)) => buf.put_f32(v.0),
        (T::Float64, Datum::Float64(v)) => buf.put_f64(v.0),
        (T::Numeric { .. }, Datum::Numeric(d)) => encode_numeric(d, buf),
        (T::Text | T::Varchar { .. } | T::Char { length: None } | T::Name, Datum::String(s)) => {
            buf.put_slice(s.as_bytes())
        }
        // `char(n)` values are blank-padded, in binary as in text.
        (T::Char { length: Some(n) }, Datum::String(s)) => {
            buf.put_slice(s.as_bytes());
            let pad = (*n as usize).saturating_sub(s.chars().count());
            buf.put_bytes(b' ', pad);
        }
        // `"char"` is one byte; the empty value is the zero byte.
        (T::PgChar, Datum::String(s)) => buf.put_u8(s.as_bytes().first().copied().unwrap_or(0)),
        (T::Date, Datum::Date(d)) => {
            let days = d.signed_duration_since(pg_epoch_date()).num_days();
            buf.put_i32(i32::try_from(days).map_err(|_| EncodeError::out_of_range(typ))?);
        }
        (T::Timestamp, Datum::Timestamp(ts)) => buf.put_i64(
            ts.signed_duration_since(pg_epoch())
                .num_microseconds()
                .ok_or_else(|| EncodeError::out_of_range(typ))?,
        ),
        (T::TimestampTz, Datum::TimestampTz(ts)) => buf.put_i64(
            ts.naive_utc()
                .signed_duration_since(pg_epoch())
                .num_microseconds()
                .ok_or_else(|| EncodeError::out_of_range(typ))?,
        ),
        (T::Time, Datum::Time(t)) => {
            // A leap second (nanoseconds >= 1e9) is shown as the last microsecond.
            let micros = i64::from(t.num_seconds_from_midnight()) * 1_000_000
                + i64::from(t.nanosecond().min(999_999_999) / 1_000);
            buf.put_i64(micros);
        }
        (T::Interval, Datum::Interval(iv)) => {
            buf.put_i64(iv.micros);
            buf.put_i32(iv.days);
            buf.put_i32(iv.months);
        }
        (T::Jsonb, Datum::Jsonb(text)) => {
            buf.put_u8(1);
            buf.put_slice(text.as_bytes());
        }
        (T::Oid | T::RegClass | T::RegType | T::RegProc, Datum::Oid(oid)) => buf.put_u32(*oid),
        (T::Bytea, Datum::Bytes(bytes)) => buf.put_slice(bytes),
        (T::Uuid, Datum::Uuid(bytes)) => buf.put_slice(bytes),
        (_, Datum::Array(elems)) if typ.is_array() => {
            let elem_type = typ
                .array_element()
                .ok_or_else(|| EncodeError::mismatch(datum, typ))?;
            encode_array(elems, &elem_type, buf)?;
        }
        (T::Record, Datum::Record(fields)) => encode_record(fields, buf)?,
        _ => return Err(EncodeError::mismatch(datum, typ)),
    }
    Ok(())
}

/// `array_send` for a one-dimensional array with lower bound 1: ndim, has-nulls flag,
/// element OID, (length, lower bound) for the dimension, then each element with its
/// length. The empty array has zero dimensions.
fn encode_array(
    elems: &[Datum],
    elem_type: &ScalarType,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let too_long = || EncodeError::out_of_range(elem_type);
    let ndim = if elems.is_empty() { 0 } else { 1 };
    buf.put_i32(ndim);
    buf.put_i32(i32::from(elems.iter().any(Datum::is_null)));
    buf.put_u32(elem_type.oid());
    if ndim == 1 {
        buf.put_i32(i32::try_from(elems.len()).map_err(|_| too_long())?);
        buf.put_i32(1);
    }
    for elem in elems {
        encode_field(elem, elem_type, FieldFormat::Binary, &TimeZone::UTC, buf)?;
    }
    Ok(())
}

/// `record_send`: the number of fields, then each field's type OID and its value with
/// its length (-1 for NULL). A record does not carry its fields' types, so each field
/// is sent as the type its value naturally has ([`Datum::natural_type`]; `text` when
/// it does not tell).
fn encode_record(fields: &[Datum], buf: &mut BytesMut) -> Result<(), EncodeError> {
    let count =
        i32::try_from(fields.len()).map_err(|_| EncodeError::out_of_range(&ScalarType::Record))?;
    buf.put_i32(count);
    for field in fields {
        let typ = field.natural_type().unwrap_or(ScalarType::Text);
        buf.put_u32(typ.oid());
        encode_field(field, &typ, FieldFormat::Binary, &TimeZone::UTC, buf)?;
    }
    Ok(())
}

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

/// `numeric_send`: the number of base-10000 digits, the weight of the first digit, the
/// sign, the display scale, then the digits. Leading and trailing zero digits are
/// stripped; zero has no digits; NaN is the sign `0xC000` alone.
fn encode_numeric(d: &Numeric, buf: &mut BytesMut) {
    if d.is_nan() {
        buf.put_i16(0);
        buf.put_i16(0);
        buf.put_u16(NUMERIC_NAN);
        buf.put_u16(0);
        return;
    }
    let scale = d.scale() as usize;
    let unscaled = d.coefficient().to_string();
    let (int_part, frac_part) = if unscaled.len() > scale {
        let (i, f) = unscaled.split_at(unscaled.len() - scale);
        (i.trim_start_matches('0').to_string(), f.to_string())
    } else {
        (String::new(), format!("{unscaled:0>scale$}"))
    };
    // Align the integer part on the left and the fraction on the right to whole digits.
    let int_width = int_part.len().div_ceil(4) * 4;
    let frac_width = frac_part.len().div_ceil(4) * 4;
    let int_padded = format!("{int_part:0>int_width$}");
    let frac_padded = format!("{frac_part:0<frac_width$}");
    let all = format!("{int_padded}{frac_padded}");
    let mut digits: Vec<i16> = all
        .as_bytes()
        .chunks(4)
        .map(|chunk| {
            chunk
                .iter()
                .fold(0i16, |acc, b| acc * 10 + i16::from(b - b'0'))
        })
        .collect();
    // A numeric has at most 39 digits and a scale of at most 1000, so these fit in i16.
    let mut weight = (int_width / 4) as i16 - 1;
    while digits.first() == Some(&0) {
        digits.remove(0);
        weight -= 1;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let sign = if digits.is_empty() {
        weight = 0;
        NUMERIC_POS
    } else if d.is_negative() {
        NUMERIC_NEG
    } else {
        NUMERIC_POS
    };
    buf.put_i16(digits.len() as i16);
    buf.put_i16(weight);
    buf.put_u16(sign);
    buf.put_u16(scale as u16);
    for digit in digits {
        buf.put_i16(digit);
    }
}

/// A cursor over a binary value that reports short or long input as errors.
struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { bytes, what }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        if self.bytes.len() < N {
            return Err(DecodeError::Insufficient);
        }
        let (head, rest) = self.bytes.split_at(N);
        self.bytes = rest;
        let mut out = [0u8; N];
        out.copy_from_slice(head);
        Ok(out)
    }

    fn take_slice(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < len {
            return Err(DecodeError::Insufficient);
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        self.take::<2>().map(i16::from_be_bytes)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.take::<2>().map(u16::from_be_bytes)
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        self.take::<4>().map(i32::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.take::<4>().map(u32::from_be_bytes)
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        self.take::<8>().map(i64::from_be_bytes)
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    fn finish<T>(self, value: T) -> Result<T, DecodeError> {
        if self.bytes.is_empty() {
            Ok(value)
        } else {
            Err(DecodeError::binary(format!(
                "{} trailing bytes after {}",
                self.bytes.len(),
                self.what
            )))
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|e| {
        // Postgres shows the bytes of the invalid sequence: `0xe2 0x28`.
        let start = e.valid_up_to();
        let len = e.error_len().unwrap_or(bytes.len() - start);
        let shown = bytes[start..start + len]
            .iter()
            .map(|b| format!("0x{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        DecodeError::Utf8(shown)
    })
}

/// Parses the text format of a value with the type's input function, in the session's
/// time zone `zone`.
pub fn decode_text(bytes: &[u8], typ: &ScalarType, zone: &TimeZone) -> Result<Datum, DecodeError> {
    let text = utf8(bytes)?;
    Ok(strconv::parse_datum_in(text, typ, zone)?)
}

/// Decodes the binary (`typrecv`) form of a non-NULL value.
pub fn decode_binary(bytes: &[u8], typ: &ScalarType) -> Result<Datum, DecodeError> {
    use ScalarType as T;
    let mut r = Reader::new(bytes, "value");
    let datum = match typ {
        T::Bool => match r.take::<1>()? {
            [0] => Datum::Bool(false),
            [1] => Datum::Bool(true),
            _ => return Err(DecodeError::binary("invalid boolean")),
        },
        T::Int16 => Datum::Int16(r.i16()?),
        T::Int32 => Datum::Int32(r.i32()?),
        T::Int64 => Datum::Int64(r.i64()?),
        T::Float32 => Datum::Float32(OrdF32(f32::from_be_bytes(r.take::<4>()?))),
        T::Float64 => Datum::Float64(OrdF64(f64::from_be_bytes(r.take::<8>()?))),
        T::Numeric { .. } => Datum::Numeric(decode_numeric(&mut r)?),
        T::Text | T::Varchar { .. } | T::Char { .. } | T::Name => {
            Datum::String(utf8(r.rest())?.to_string())
        }
        T::PgChar => {
            let byte = r.take::<1>()?[0];
            let s = if byte == 0 {
                String::new()
            } else {
                utf8(&[byte])?.to_string()
            };
            Datum::String(s)
        }
        T::Date => {
            let days = r.i32()?;
            if days == i32::MAX || days == i32::MIN {
                return Err(DecodeError::out_of_range(
                    SqlState::DATETIME_FIELD_OVERFLOW,
                    "date infinity is not supported",
                ));
            }
            Datum::Date(
                pg_epoch_date()
                    .checked_add_signed(TimeDelta::days(i64::from(days)))
                    .ok_or_else(|| {
                        DecodeError::out_of_range(
                            SqlState::DATETIME_FIELD_OVERFLOW,
                            "date out of range",
                        )
                    })?,
            )
        }
        T::Timestamp => Datum::Timestamp(decode_timestamp(r.i64()?)?),
        T::TimestampTz => Datum::TimestampTz(DateTime::<Utc>::from_naive_utc_and_offset(
            decode_timestamp(r.i64()?)?,
            Utc,
        )),
        T::Time => {
            let micros = r.i64()?;
            let out_of_range = || {
                DecodeError::out_of_range(SqlState::DATETIME_FIELD_OVERFLOW, "time out of range")
            };
            let secs = u32::try_from(micros.div_euclid(1_000_000)).map_err(|_| out_of_range())?;
            let nanos = (micros.rem_euclid(1_000_000) * 1_000) as u32;
            Datum::Time(
                NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
                    .ok_or_else(out_of_range)?,
            )
        }
        T::Interval => {
            let micros = r.i64()?;
            let days = r.i32()?;
            let months = r.i32()?;
            Datum::Interval(Interval {
                months,
                days,
                micros,
            })
        }
        T::Jsonb => {
            let [version] = r.take::<1>()?;
            if version != 1 {
                return Err(DecodeError::binary(format!(
                    "unsupported jsonb version number {version}"
                )));
            }
            // The text after the version byte is client JSON; the input function
            // canonicalizes it.
            decode_text(r.rest(), typ, &TimeZone::UTC)?
        }
        T::Oid | T::RegClass | T::RegType | T::RegProc => Datum::Oid(r.u32()?),
        T::Bytea => Datum::Bytes(r.rest().to_vec()),
        T::Uuid => Datum::Uuid(r.take::<16>()?),
        T::TextArray
        | T::Int16Array
        | T::Int2Vector
        | T::OidArray
        | T::BoolArray
        | T::Int32Array
        | T::Int64Array => {
            let elem_type = typ
                .array_element()
                .ok_or_else(|| DecodeError::binary("unsupported array type"))?;
            Datum::Array(decode_array(&mut r, &elem_type)?)
        }
        T::Record => {
            return Err(DecodeError::out_of_range(
                SqlState::FEATURE_NOT_SUPPORTED,
                "input of anonymous composite types is not implemented",
            ))
        }
    };
    r.finish(datum)
}

fn decode_timestamp(micros: i64) -> Result<NaiveDateTime, DecodeError> {
    if micros == i64::MAX || micros == i64::MIN {
        return Err(DecodeError::out_of_range(
            SqlState::DATETIME_FIELD_OVERFLOW,
            "timestamp infinity is not supported",
        ));
    }
    pg_epoch()
        .checked_add_signed(TimeDelta::microseconds(micros))
        .ok_or_else(|| {
            DecodeError::out_of_range(SqlState::DATETIME_FIELD_OVERFLOW, "timestamp out of range")
        })
}

/// `array_recv` for a one-dimensional array (or the empty array) of `elem_type`.
fn decode_array(r: &mut Reader<'_>, elem_type: &ScalarType) -> Result<Vec<Datum>, DecodeError> {
    let ndim = r.i32()?;
    let _has_nulls = r.i32()?;
    let elem_oid = r.u32()?;
    if elem_oid != elem_type.oid() {
        return Err(DecodeError::binary(format!(
            "wrong element type: expected OID {}, got {elem_oid}",
            elem_type.oid()
        )));
    }
    match ndim {
        0 => return Ok(Vec::new()),
        1 => {}
        n if n > 1 => {
            return Err(DecodeError::out_of_range(
                SqlState::FEATURE_NOT_SUPPORTED,
                "multidimensional arrays are not supported",
            ))
        }
        n => {
            return Err(DecodeError::binary(format!(
                "invalid number of dimensions: {n}"
            )))
        }
    }
    let len = r.i32()?;
    let _lower_bound = r.i32()?;
    let len = usize::try_from(len).map_err(|_| DecodeError::binary("negative array length"))?;
    // Each element takes at least its 4-byte length, so a length larger than the bytes
    // left is malformed; checking first keeps the allocation bounded by the message.
    if len > r.bytes.len() / 4 {
        return Err(DecodeError::Insufficient);
    }
    let mut elems = Vec::with_capacity(len);
    for _ in 0..len {
        let elem_len = r.i32()?;
        if elem_len < 0 {
            elems.push(Datum::Null);
            continue;
        }
        let bytes = r.take_slice(elem_len as usize)?;
        elems.push(decode_binary(bytes, elem_type)?);
    }
    Ok(elems)
}

/// `numeric_recv` into a [`Numeric`]. Values a numeric cannot hold exactly
/// (infinities, more than 38 digits, a scale above 1000) are errors, never rounded.
fn decode_numeric(r: &mut Reader<'_>) -> Result<Numeric, DecodeError> {
    let ndigits = r.i16()?;
    let weight = r.i16()?;
    let sign = r.u16()?;
    let dscale = r.u16()?;
    let ndigits =
        usize::try_from(ndigits).map_err(|_| DecodeError::binary("invalid numeric length"))?;
    let mut digits = Vec::with_capacity(ndigits.min(r.bytes.len() / 2));
    for _ in 0..ndigits {
        let digit = r.i16()?;
        if !(0..10_000).contains(&digit) {
            return Err(DecodeError::binary(
                "invalid digit in external numeric value",
            ));
        }
        digits.push(digit);
    }
    let negative = match sign {
        NUMERIC_POS => false,
        NUMERIC_NEG => true,
        NUMERIC_NAN => return Ok(Numeric::NAN),
        NUMERIC_PINF | NUMERIC_NINF => {
            return Err(DecodeError::out_of_range(
                SqlState::FEATURE_NOT_SUPPORTED,
                "numeric infinity is not supported",
            ))
        }
        _ => {
            return Err(DecodeError::binary(
                "invalid sign in external numeric value",
            ))
        }
    };
    let out_of_range = || {
        DecodeError::out_of_range(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "numeric value out of range",
        )
    };
    if u32::from(dscale) > NUMERIC_MAX_SCALE {
        return Err(out_of_range());
    }
    // Strip zero digits so that the bounds below only look at significant ones.
    let mut weight = i32::from(weight);
    let mut first = 0;
    while first < digits.len() && digits[first] == 0 {
        first += 1;
        weight -= 1;
    }
    let mut last = digits.len();
    while last > first && digits[last - 1] == 0 {
        last -= 1;
    }
    let digits = &digits[first..last];
    if digits.is_empty() {
        return Numeric::from_parts(false, 0, u32::from(dscale)).map_err(|_| out_of_range());
    }
    // A numeric holds at most 39 digits (below 2^128 < 10^40 = 10000^10) and a scale of
    // at most 1000: anything with a digit beyond cannot fit, and rejecting it here
    // keeps the string below short.
    let lowest = weight - (digits.len() as i32 - 1);
    if weight > 9 || lowest < -(NUMERIC_MAX_SCALE as i32 / 4) {
        return Err(out_of_range());
    }
    let mut text = String::with_capacity(80);
    if negative {
        text.push('-');
    }
    for pos in (0..=weight.max(0)).rev() {
        let digit = digit_at(digits, weight, pos);
        text.push_str(&format!("{digit:04}"));
    }
    let mut frac = String::new();
    for pos in (lowest.min(-1)..=-1).rev() {
        frac.push_str(&format!("{:04}", digit_at(digits, weight, pos)));
    }
    let dscale = usize::from(dscale);
    if frac.len() > dscale {
        // Digits beyond the display scale must be zero (Postgres never sends them).
        if frac[dscale..].bytes().any(|b| b != b'0') {
            return Err(DecodeError::binary(
                "numeric digits beyond its display scale",
            ));
        }
        frac.truncate(dscale);
    } else {
        frac.extend(std::iter::repeat_n('0', dscale - frac.len()));
    }
    if !frac.is_empty() {
        text.push('.');
        text.push_str(&frac);
    }
    strconv::parse_numeric(&text).map_err(|_| out_of_range())
}

/// The base-10000 digit at position `pos` (10000^pos) of a number whose first digit has
/// weight `weight`.
fn digit_at(digits: &[i16], weight: i32, pos: i32) -> i16 {
    usize::try_from(weight - pos)
        .ok()
        .and_then(|idx| digits.get(idx))
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod copy_tests {
    use super::*;

    #[test]
    fn copy_text_escapes_and_writes_nulls() {
        let row = Row::pack(&[
            Datum::Int64(7),
            Datum::Null,
            Datum::String("a\tb\\c\nd".into()),
        ]);
        let types = [ScalarType::Int64, ScalarType::Text, ScalarType::Text];
        assert_eq!(
            encode_copy_text(&row, &types, &TimeZone::UTC).unwrap(),
            b"7\t\\N\ta\\tb\\\\c\\nd\n".to_vec()
        );
        assert!(encode_copy_text(&row, &types[..2], &TimeZone::UTC).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(d: &str) -> Vec<u8> {
        let mut buf = BytesMut::new();
        encode_numeric(&d.parse::<Numeric>().unwrap(), &mut buf);
        buf.to_vec()
    }

    fn numeric_parts(d: &str) -> (i16, i16, u16, u16, Vec<i16>) {
        let bytes = numeric_bytes(d);
        let mut r = Reader::new(&bytes, "numeric");
        let n = r.i16().unwrap();
        let weight = r.i16().unwrap();
        let sign = r.u16().unwrap();
        let dscale = r.u16().unwrap();
        let digits = (0..n).map(|_| r.i16().unwrap()).collect();
        (n, weight, sign, dscale, digits)
    }

    /// Expected values are what Postgres 15's `numeric_send` produces.
    #[test]
    fn numeric_binary_matches_postgres() {
        assert_eq!(numeric_parts("0"), (0, 0, NUMERIC_POS, 0, vec![]));
        assert_eq!(numeric_parts("0.00"), (0, 0, NUMERIC_POS, 2, vec![]));
        assert_eq!(
            numeric_parts("123.45"),
            (2, 0, NUMERIC_POS, 2, vec![123, 4500])
        );
        assert_eq!(
            numeric_parts("-123.45"),
            (2, 0, NUMERIC_NEG, 2, vec![123, 4500])
        );
        assert_eq!(numeric_parts("10000"), (1, 1, NUMERIC_POS, 0, vec![1]));
        assert_eq!(numeric_parts("0.0001"), (1, -1, NUMERIC_POS, 4, vec![1]));
        assert_eq!(
            numeric_parts("0.00001"),
            (1, -2, NUMERIC_POS, 5, vec![1000])
        );
        assert_eq!(
            numeric_parts("12345678.9"),
            (3, 1, NUMERIC_POS, 1, vec![1234, 5678, 9000])
        );
        assert_eq!(
            numeric_parts("79228162514264337593543950335"),
            (
                8,
                7,
                NUMERIC_POS,
                0,
                vec![7, 9228, 1625, 1426, 4337, 5935, 4395, 335]
            )
        );
        // 38 digits (numeric(38,10)), and the largest coefficient.
        assert_eq!(
            numeric_parts("-1234567890123456789012345678.9012345678"),
            (
                10,
                6,
                NUMERIC_NEG,
                10,
                vec![1234, 5678, 9012, 3456, 7890, 1234, 5678, 9012, 3456, 7800]
            )
        );
        assert_eq!(
            numeric_parts("340282366920938463463374607431768211455"),
            (
                10,
                9,
                NUMERIC_POS,
                0,
                vec![340, 2823, 6692, 938, 4634, 6337, 4607, 4317, 6821, 1455]
            )
        );
        assert_eq!(numeric_parts("NaN"), (0, 0, NUMERIC_NAN, 0, vec![]));
    }

    #[test]
    fn numeric_binary_round_trips() {
        for text in [
            "0",
            "0.000",
            "1",
            "-1",
            "123.45",
            "-0.00001",
            "10000",
            "99999999.99999999",
            "79228162514264337593543950335",
            "-7.9228162514264337593543950335",
            "0.0000000000000000000000000001",
            "12345678901234567890123456789012345678",
            "-1234567890123456789012345678.9012345678",
            "340282366920938463463374607431768211455",
            "0.00000000000000000000000000000000000000000000000001",
            "NaN",
        ] {
            let d: Numeric = text.parse().unwrap();
            let bytes = numeric_bytes(text);
            let back = decode_binary(
                &bytes,
                &ScalarType::Numeric {
                    precision: None,
                    scale: None,
                },
            )
            .unwrap();
            assert_eq!(back, Datum::Numeric(d), "{text}");
            // Same scale, so it prints the same.
            if let Datum::Numeric(b) = back {
                assert_eq!(b.to_string(), d.to_string(), "{text}");
            }
        }
    }

    #[test]
    fn numeric_binary_rejects_what_numeric_cannot_hold() {
        let numeric = ScalarType::Numeric {
            precision: None,
            scale: None,
        };
        let mut inf = BytesMut::new();
        inf.put_i16(0);
        inf.put_i16(0);
        inf.put_u16(NUMERIC_PINF);
        inf.put_u16(0);
        assert_eq!(
            decode_binary(&inf, &numeric).unwrap_err().sqlstate(),
            "0A000"
        );

        // 4 × 10^38 has weight 9 but is above 2^128.
        let mut above = BytesMut::new();
        above.put_i16(1);
        above.put_i16(9);
        above.put_u16(NUMERIC_POS);
        above.put_u16(0);
        above.put_i16(400);
        assert_eq!(
            decode_binary(&above, &numeric).unwrap_err().sqlstate(),
            "22003"
        );

        // 1e40
        let mut huge = BytesMut::new();
        huge.put_i16(1);
        huge.put_i16(10);
        huge.put_u16(NUMERIC_POS);
        huge.put_u16(0);
        huge.put_i16(1);
        assert_eq!(
            decode_binary(&huge, &numeric).unwrap_err().sqlstate(),
            "22003"
        );

        // A digit out of range.
        let mut bad = BytesMut::new();
        bad.put_i16(1);
        bad.put_i16(0);
        bad.put_u16(NUMERIC_POS);
        bad.put_u16(0);
        bad.put_i16(10_000);
        assert_eq!(
            decode_binary(&bad, &numeric).unwrap_err().sqlstate(),
            "22P03"
        );

        // Truncated.
        assert_eq!(
            decode_binary(&bad[..9], &numeric).unwrap_err(),
            DecodeError::Insufficient
        );
    }

    fn round_trip(datum: Datum, typ: ScalarType) -> Vec<u8> {
        let mut buf = BytesMut::new();
        encode_binary(&datum, &typ, &mut buf).unwrap();
        assert_eq!(decode_binary(&buf, &typ).unwrap(), datum, "{typ:?}");
        buf.to_vec()
    }

    #[test]
    fn binary_formats_match_postgres() {
        assert_eq!(round_trip(Datum::Bool(true), ScalarType::Bool), [1]);
        assert_eq!(
            round_trip(Datum::Int16(-2), ScalarType::Int16),
            [0xff, 0xfe]
        );
        assert_eq!(
            round_trip(Datum::Int32(258), ScalarType::Int32),
            [0, 0, 1, 2]
        );
        assert_eq!(
            round_trip(Datum::Int64(1), ScalarType::Int64),
            [0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(
            round_trip(Datum::Float64(OrdF64(1.5)), ScalarType::Float64),
            1.5f64.to_be_bytes()
        );
        assert_eq!(
            round_trip(Datum::Float32(OrdF32(-0.25)), ScalarType::Float32),
            (-0.25f32).to_be_bytes()
        );
        assert_eq!(
            round_trip(
                Datum::String("hé".into()),
                ScalarType::Varchar {
                    max_length: Some(3)
                }
            ),
            "hé".as_bytes()
        );
        assert_eq!(
            round_trip(Datum::String("r".into()), ScalarType::PgChar),
            [b'r']
        );
        let mut buf = BytesMut::new();
        let bpchar = ScalarType::Char { length: Some(4) };
        encode_binary(&Datum::String("ab".into()), &bpchar, &mut buf).unwrap();
        assert_eq!(&buf[..], b"ab  ");
        // select date_send('2000-01-02') = \x00000001
        let date = NaiveDate::from_ymd_opt(2000, 1, 2).unwrap();
        assert_eq!(
            round_trip(Datum::Date(date), ScalarType::Date),
            [0, 0, 0, 1]
        );
        let before = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
        assert_eq!(
            round_trip(Datum::Date(before), ScalarType::Date),
            (-1i32).to_be_bytes()
        );
        // timestamp_send('2000-01-01 00:00:01') = 1_000_000
        let ts = date.pred_opt().unwrap().and_hms_opt(0, 0, 1).unwrap();
        assert_eq!(
            round_trip(Datum::Timestamp(ts), ScalarType::Timestamp),
            1_000_000i64.to_be_bytes()
        );
        let tstz = DateTime::<Utc>::from_naive_utc_and_offset(ts, Utc);
        assert_eq!(
            round_trip(Datum::TimestampTz(tstz), ScalarType::TimestampTz),
            1_000_000i64.to_be_bytes()
        );
        let time = NaiveTime::from_hms_micro_opt(1, 0, 0, 5).unwrap();
        assert_eq!(
            round_trip(Datum::Time(time), ScalarType::Time),
            3_600_000_005i64.to_be_bytes()
        );
        let iv = Interval {
            months: 14,
            days: 3,
            micros: 4_000_000,
        };
        let mut expected = 4_000_000i64.to_be_bytes().to_vec();
        expected.extend(3i32.to_be_bytes());
        expected.extend(14i32.to_be_bytes());
        assert_eq!(
            round_trip(Datum::Interval(iv), ScalarType::Interval),
            expected
        );
        assert_eq!(
            round_trip(Datum::Oid(2205), ScalarType::RegClass),
            [0, 0, 8, 157]
        );
        assert_eq!(
            round_trip(Datum::Bytes(vec![0, 255]), ScalarType::Bytea),
            [0, 255]
        );
        let uuid = [7u8; 16];
        assert_eq!(round_trip(Datum::Uuid(uuid), ScalarType::Uuid), uuid);
    }

    #[test]
    fn jsonb_binary_has_a_version_byte() {
        let mut buf = BytesMut::new();
        encode_binary(
            &Datum::Jsonb("{\"a\": 1}".into()),
            &ScalarType::Jsonb,
            &mut buf,
        )
        .unwrap();
        assert_eq!(&buf[..], b"\x01{\"a\": 1}");
        let err = decode_binary(b"\x02{}", &ScalarType::Jsonb).unwrap_err();
        assert_eq!(err.sqlstate(), "22P03");
    }

    #[test]
    fn array_binary_matches_array_send() {
        // select array_send(array['a', null]::text[])
        let datum = Datum::Array(vec![Datum::String("a".into()), Datum::Null]);
        let bytes = round_trip(datum, ScalarType::TextArray);
        let expected: Vec<u8> = [
            &1i32.to_be_bytes()[..],
            &1i32.to_be_bytes(),
            &25u32.to_be_bytes(),
            &2i32.to_be_bytes(),
            &1i32.to_be_bytes(),
            &1i32.to_be_bytes(),
            b"a",
            &(-1i32).to_be_bytes(),
        ]
        .concat();
        assert_eq!(bytes, expected);
        // The empty array has no dimensions.
        let empty = round_trip(Datum::Array(vec![]), ScalarType::OidArray);
        assert_eq!(
            empty,
            [
                &0i32.to_be_bytes()[..],
                &0i32.to_be_bytes(),
                &26u32.to_be_bytes()
            ]
            .concat()
        );
        round_trip(
            Datum::Array(vec![Datum::Int16(1), Datum::Int16(-1)]),
            ScalarType::Int16Array,
        );
    }

    #[test]
    fn malformed_binary_is_an_error_not_a_panic() {
        let cases: [(&[u8], ScalarType); 8] = [
            (&[], ScalarType::Int32),
            (&[0, 0, 0, 0, 0], ScalarType::Int32),
            (&[2], ScalarType::Bool),
            (&[0xff, 0xfe], ScalarType::Text),
            (&[0; 15], ScalarType::Uuid),
            (&[0x7f, 0xff, 0xff, 0xff], ScalarType::Date),
            // An array claiming a billion elements.
            (
                &[
                    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25, 0x40, 0, 0, 0, 0, 0, 0, 1,
                ],
                ScalarType::TextArray,
            ),
            // An int2[] whose elements say they are text.
            (
                &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25, 0, 0, 0, 0, 0, 0, 0, 1],
                ScalarType::Int16Array,
            ),
        ];
        for (bytes, typ) in cases {
            assert!(decode_binary(bytes, &typ).is_err(), "{typ:?} {bytes:?}");
        }
    }

    #[test]
    fn mismatched_datum_is_an_encode_error() {
        let mut buf = BytesMut::new();
        let err = encode_binary(&Datum::Int32(1), &ScalarType::Text, &mut buf).unwrap_err();
        assert!(matches!(err, EncodeError::TypeMismatch { .. }));
    }

    #[test]
    fn every_scalar_type_has_a_pg_type_and_an_oid_mapping() {
        let all = [
            ScalarType::Bool,
            ScalarType::Int16,
            ScalarType::Int32,
            ScalarType::Int64,
            ScalarType::Float32,
            ScalarType::Float64,
            ScalarType::Numeric {
                precision: Some(10),
                scale: Some(2),
            },
            ScalarType::Text,
            ScalarType::Varchar { max_length: None },
            ScalarType::Char { length: Some(3) },
            ScalarType::Timestamp,
            ScalarType::TimestampTz,
            ScalarType::Date,
            ScalarType::Time,
            ScalarType::Interval,
            ScalarType::Jsonb,
            ScalarType::Oid,
            ScalarType::Name,
            ScalarType::TextArray,
            ScalarType::Int16Array,
            ScalarType::OidArray,
            ScalarType::RegClass,
            ScalarType::RegType,
            ScalarType::RegProc,
            ScalarType::PgChar,
            ScalarType::Bytea,
            ScalarType::Uuid,
        ];
        for typ in all {
            assert_ne!(pg_type(&typ), Type::UNKNOWN, "{typ:?}");
            assert_eq!(pg_type(&typ).oid(), typ.oid());
            let back = scalar_type_from_oid(typ.oid()).unwrap();
            assert_eq!(back, typ.without_modifiers(), "{typ:?}");
        }
    }

    #[test]
    fn row_description_carries_typlen_and_typmod() {
        let names = ["n".to_string(), "v".to_string()];
        let types = [
            ScalarType::Numeric {
                precision: Some(10),
                scale: Some(2),
            },
            ScalarType::Int64,
        ];
        let fields = field_infos(
            names.iter().zip(types.iter()),
            &Format::Individual(vec![1, 0]),
        );
        let descs: Vec<pgwire::messages::data::FieldDescription> =
            fields.iter().map(Into::into).collect();
        assert_eq!(descs[0].type_id, 1700);
        assert_eq!(descs[0].type_size, -1);
        assert_eq!(descs[0].type_modifier, ((10 << 16) | 2) + 4);
        assert_eq!(descs[0].format_code, 1);
        assert_eq!(descs[0].table_id, 0);
        assert_eq!(descs[0].column_id, 0);
        assert_eq!(descs[1].type_id, 20);
        assert_eq!(descs[1].type_size, 8);
        assert_eq!(descs[1].type_modifier, -1);
        assert_eq!(descs[1].format_code, 0);
    }

    #[test]
    fn encode_row_writes_nulls_and_checks_arity() {
        let row = Row::pack(&[Datum::Int32(7), Datum::Null]);
        let types = [ScalarType::Int32, ScalarType::Int32];
        let data_row = encode_row(&row, &types, &Format::UnifiedBinary, &TimeZone::UTC).unwrap();
        assert_eq!(data_row.field_count, 2);
        assert_eq!(
            &data_row.data[..],
            &[0, 0, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff]
        );
        let err =
            encode_row(&row, &types[..1], &Format::UnifiedBinary, &TimeZone::UTC).unwrap_err();
        assert!(matches!(err, EncodeError::Arity { .. }));
        let err = encode_row(
            &row,
            &[types[0], types[0], types[0]],
            &Format::UnifiedBinary,
            &TimeZone::UTC,
        )
        .unwrap_err();
        assert!(matches!(err, EncodeError::Arity { .. }));
    }
}
