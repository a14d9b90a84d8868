//! [`Row`]: a compact, canonical byte encoding of a sequence of datums.
//!
//! Each datum is a tag byte followed by its payload. Integers are zigzag varints, so
//! small numbers take one or two bytes; strings are a varint length and their UTF-8
//! bytes. Floats are stored by their canonical bits (one NaN, one zero), so equal
//! datums always encode to equal bytes, which is what lets rows serve as keys.
//!
//! A numeric (tag `NUMERIC`) is a varint header `scale << 2 | kind` (kind 0 for a
//! positive number or zero, 1 negative, 2 NaN) and, unless NaN, a varint of its
//! 128-bit coefficient: `12.50` takes four bytes. Rows written before Eddy had its own
//! numeric carry tag `LEGACY_NUMERIC`, a `rust_decimal` serialization (16 bytes: flags
//! with the scale in bits 16-23 and the sign in bit 31, then the 96-bit mantissa as
//! three little-endian u32s); they are still read, and never written.
//!
//! An index's arrangement packs its rows in the sorted layout instead
//! ([`Row::pack_sorted`], `sorted.rs`): its key datums in an order-preserving encoding,
//! so that a range of key values is a range of rows. The decoder reads both.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::datum::{Datum, Interval, OrdF32, OrdF64};
use crate::numeric::Numeric;

mod sorted;

pub use sorted::{has_sorted_encoding, KeyRange};

/// A packed sequence of datums. Cheap to compare, hash and move between workers.
///
/// Rows of up to [`INLINE_BYTES`] encoded bytes (most rows of a few small columns) live
/// inline in the 24-byte `Row` itself; longer ones on the heap. Equality, order and
/// hashing are those of the encoded bytes either way.
#[derive(Clone)]
pub struct Row {
    data: RowData,
}

/// The longest encoding stored inline.
pub const INLINE_BYTES: usize = 22;

/// The most bytes of room [`Row::pack`]'s buffer keeps between rows (one very long
/// row does not hold its size for the thread's life).
const PACK_SCRATCH_KEPT: usize = 64 << 10;

#[derive(Clone)]
enum RowData {
    Inline { len: u8, bytes: [u8; INLINE_BYTES] },
    Heap(Box<[u8]>),
}

impl RowData {
    fn from_vec(buf: Vec<u8>) -> RowData {
        if buf.len() <= INLINE_BYTES {
            RowData::from_slice(&buf)
        } else {
            RowData::Heap(buf.into_boxed_slice())
        }
    }

    fn from_slice(bytes: &[u8]) -> RowData {
        if bytes.len() <= INLINE_BYTES {
            let mut inline = [0u8; INLINE_BYTES];
            inline[..bytes.len()].copy_from_slice(bytes);
            RowData::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            }
        } else {
            RowData::Heap(Box::from(bytes))
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            RowData::Inline { len, bytes } => &bytes[..*len as usize],
            RowData::Heap(b) => b,
        }
    }
}

impl Default for Row {
    fn default() -> Self {
        Row {
            data: RowData::from_vec(Vec::new()),
        }
    }
}

impl PartialEq for Row {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Row {}

impl PartialOrd for Row {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Row {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for Row {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl Serialize for Row {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.as_bytes())
    }
}

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> serde::de::Visitor<'de> for RowVisitor {
            type Value = Row;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the bytes of an encoded row")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Row, E> {
                Ok(Row::from_bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Row, E> {
                Ok(Row::from_bytes(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Row, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(b) = seq.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(Row::from_bytes(v))
            }
        }
        deserializer.deserialize_bytes(RowVisitor)
    }
}

mod tag {
    pub const NULL: u8 = 0;
    pub const FALSE: u8 = 1;
    pub const TRUE: u8 = 2;
    pub const INT16: u8 = 3;
    pub const INT32: u8 = 4;
    pub const INT64: u8 = 5;
    pub const FLOAT32: u8 = 6;
    pub const FLOAT64: u8 = 7;
    /// The `rust_decimal` numeric of rows written before Eddy's own; read only.
    pub const LEGACY_NUMERIC: u8 = 8;
    pub const STRING: u8 = 9;
    pub const TIMESTAMP: u8 = 10;
    pub const TIMESTAMPTZ: u8 = 11;
    pub const DATE: u8 = 12;
    pub const TIME: u8 = 13;
    pub const INTERVAL: u8 = 14;
    pub const JSONB: u8 = 15;
    pub const OID: u8 = 16;
    pub const BYTES: u8 = 17;
    pub const UUID: u8 = 18;
    pub const ARRAY: u8 = 19;
    pub const NUMERIC: u8 = 20;
    pub const RECORD: u8 = 30;
}

/// The low two bits of a numeric's header.
mod numeric_kind {
    pub const POSITIVE: u64 = 0;
    pub const NEGATIVE: u64 = 1;
    pub const NAN: u64 = 2;
}

/// A numeric of the legacy encoding (see the module docs). Every `rust_decimal` value
/// (28 digits, scale at most 28) is a valid [`Numeric`].
fn legacy_numeric(b: [u8; 16]) -> Numeric {
    let word = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let flags = word(0);
    let mantissa = u128::from(word(4)) | u128::from(word(8)) << 32 | u128::from(word(12)) << 64;
    let scale = (flags >> 16) & 0xff;
    Numeric::from_parts(flags & 0x8000_0000 != 0, mantissa, scale)
        .expect("a rust_decimal fits a numeric")
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_varint_u128(buf: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_zigzag(buf: &mut Vec<u8>, v: i64) {
    put_varint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

fn micros_of(ts: &NaiveDateTime) -> i64 {
    ts.and_utc().timestamp_micros()
}

fn encode(buf: &mut Vec<u8>, datum: &Datum) {
    match datum {
        Datum::Null => buf.push(tag::NULL),
        Datum::Bool(false) => buf.push(tag::FALSE),
        Datum::Bool(true) => buf.push(tag::TRUE),
        Datum::Int16(v) => {
            buf.push(tag::INT16);
            put_zigzag(buf, *v as i64);
        }
        Datum::Int32(v) => {
            buf.push(tag::INT32);
            put_zigzag(buf, *v as i64);
        }
        Datum::Int64(v) => {
            buf.push(tag::INT64);
            put_zigzag(buf, *v);
        }
        Datum::Float32(f) => {
            buf.push(tag::FLOAT32);
            let bits = if f.0.is_nan() {
                f32::NAN.to_bits()
            } else {
                f.0.to_bits()
            };
            buf.extend_from_slice(&bits.to_le_bytes());
        }
        Datum::Float64(f) => {
            buf.push(tag::FLOAT64);
            let bits = if f.0.is_nan() {
                f64::NAN.to_bits()
            } else {
                f.0.to_bits()
            };
            buf.extend_from_slice(&bits.to_le_bytes());
        }
        Datum::Numeric(n) => {
            buf.push(tag::NUMERIC);
            let kind = if n.is_nan() {
                numeric_kind::NAN
            } else if n.is_negative() {
                numeric_kind::NEGATIVE
            } else {
                numeric_kind::POSITIVE
            };
            put_varint(buf, u64::from(n.scale()) << 2 | kind);
            if kind != numeric_kind::NAN {
                put_varint_u128(buf, n.coefficient());
            }
        }
        Datum::String(s) => {
            buf.push(tag::STRING);
            put_varint(buf, s.len() as u64);
            buf.extend_from_slice(s.as_bytes());
        }
        Datum::Timestamp(ts) => {
            buf.push(tag::TIMESTAMP);
            put_zigzag(buf, micros_of(ts));
        }
        Datum::TimestampTz(ts) => {
            buf.push(tag::TIMESTAMPTZ);
            put_zigzag(buf, ts.timestamp_micros());
        }
        Datum::Date(d) => {
            buf.push(tag::DATE);
            put_zigzag(buf, d.to_epoch_days() as i64);
        }
        Datum::Time(t) => {
            buf.push(tag::TIME);
            let micros = (*t - NaiveTime::MIN).num_microseconds().unwrap_or(0);
            put_zigzag(buf, micros);
        }
        Datum::Interval(i) => {
            buf.push(tag::INTERVAL);
            put_zigzag(buf, i.months as i64);
            put_zigzag(buf, i.days as i64);
            put_zigzag(buf, i.micros);
        }
        Datum::Jsonb(s) => {
            buf.push(tag::JSONB);
            put_varint(buf, s.len() as u64);
            buf.extend_from_slice(s.as_bytes());
        }
        Datum::Oid(o) => {
            buf.push(tag::OID);
            put_varint(buf, *o as u64);
        }
        Datum::Bytes(b) => {
            buf.push(tag::BYTES);
            put_varint(buf, b.len() as u64);
            buf.extend_from_slice(b);
        }
        Datum::Uuid(u) => {
            buf.push(tag::UUID);
            buf.extend_from_slice(u);
        }
        Datum::Array(elems) | Datum::Record(elems) => {
            buf.push(match datum {
                Datum::Array(_) => tag::ARRAY,
                _ => tag::RECORD,
            });
            put_varint(buf, elems.len() as u64);
            for e in elems {
                encode(buf, e);
            }
        }
    }
}

/// Reads datums back out of a row's bytes. The bytes were written by [`encode`], so a
/// malformed encoding is a broken invariant and panics.
struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn byte(&mut self) -> u8 {
        let b = self.data[self.pos];
        self.pos += 1;
        b
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        s
    }
    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte();
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
    fn varint_u128(&mut self) -> u128 {
        let mut v = 0u128;
        let mut shift = 0;
        loop {
            let b = self.byte();
            v |= ((b & 0x7f) as u128) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
    fn zigzag(&mut self) -> i64 {
        let v = self.varint();
        ((v >> 1) as i64) ^ -((v & 1) as i64)
    }
    fn string(&mut self) -> String {
        let n = self.varint() as usize;
        String::from_utf8(self.bytes(n).to_vec()).expect("row strings are utf-8")
    }
    fn datum(&mut self) -> Datum {
        match self.byte() {
            tag::NULL => Datum::Null,
            tag::FALSE => Datum::Bool(false),
            tag::TRUE => Datum::Bool(true),
            tag::INT16 => Datum::Int16(self.zigzag() as i16),
            tag::INT32 => Datum::Int32(self.zigzag() as i32),
            tag::INT64 => Datum::Int64(self.zigzag()),
            tag::FLOAT32 => {
                let b: [u8; 4] = self.bytes(4).try_into().unwrap();
                Datum::Float32(OrdF32(f32::from_bits(u32::from_le_bytes(b))))
            }
            tag::FLOAT64 => {
                let b: [u8; 8] = self.bytes(8).try_into().unwrap();
                Datum::Float64(OrdF64(f64::from_bits(u64::from_le_bytes(b))))
            }
            tag::NUMERIC => {
                let header = self.varint();
                let scale = u32::try_from(header >> 2).expect("numeric scale fits u32");
                let n = match header & 3 {
                    numeric_kind::NAN => Ok(Numeric::NAN),
                    kind => {
                        let negative = kind == numeric_kind::NEGATIVE;
                        Numeric::from_parts(negative, self.varint_u128(), scale)
                    }
                };
                Datum::Numeric(n.expect("row numerics are within limits"))
            }
            tag::LEGACY_NUMERIC => {
                let b: [u8; 16] = self.bytes(16).try_into().unwrap();
                Datum::Numeric(legacy_numeric(b))
            }
            tag::STRING => Datum::String(self.string()),
            tag::TIMESTAMP => {
                let m = self.zigzag();
                Datum::Timestamp(DateTime::from_timestamp_micros(m).unwrap().naive_utc())
            }
            tag::TIMESTAMPTZ => {
                Datum::TimestampTz(DateTime::from_timestamp_micros(self.zigzag()).unwrap())
            }
            tag::DATE => {
                Datum::Date(NaiveDate::from_epoch_days(self.zigzag() as i32).expect("valid date"))
            }
            tag::TIME => {
                let m = self.zigzag();
                Datum::Time(NaiveTime::MIN + chrono::Duration::microseconds(m))
            }
            tag::INTERVAL => {
                let months = self.zigzag() as i32;
                let days = self.zigzag() as i32;
                let micros = self.zigzag();
                Datum::Interval(Interval {
                    months,
                    days,
                    micros,
                })
            }
            tag::JSONB => Datum::Jsonb(self.string()),
            tag::OID => Datum::Oid(self.varint() as u32),
            tag::BYTES => {
                let n = self.varint() as usize;
                Datum::Bytes(self.bytes(n).to_vec())
            }
            tag::UUID => Datum::Uuid(self.bytes(16).try_into().unwrap()),
            tag::ARRAY => {
                let n = self.varint() as usize;
                Datum::Array((0..n).map(|_| self.datum()).collect())
            }
            tag::RECORD => {
                let n = self.varint() as usize;
                Datum::Record((0..n).map(|_| self.datum()).collect())
            }
            t if sorted::is_sorted_tag(t) => self.sorted_datum(t),
            t => panic!("corrupt row: unknown tag {t}"),
        }
    }
}

impl Row {
    /// Packs datums into a row.
    ///
    /// The datums are encoded into a buffer kept by the thread, so that packing a row
    /// allocates at most once (for a row too long to be stored inline) instead of once
    /// for every time a fresh buffer grows.
    pub fn pack<'a, I: IntoIterator<Item = &'a Datum>>(datums: I) -> Row {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with(|scratch| {
            // Packing while packing (the datums' iterator packs rows of its own): the
            // inner pack gets a buffer of its own.
            let mut own = Vec::new();
            let mut kept = scratch.try_borrow_mut();
            let buf = match &mut kept {
                Ok(kept) => {
                    kept.clear();
                    &mut **kept
                }
                Err(_) => &mut own,
            };
            for d in datums {
                encode(buf, d);
            }
            let row = Row {
                data: RowData::from_slice(buf),
            };
            if buf.capacity() > PACK_SCRATCH_KEPT {
                *buf = Vec::new();
            }
            row
        })
    }

    /// Packs an owned sequence of datums.
    pub fn from_datums(datums: Vec<Datum>) -> Row {
        Row::pack(datums.iter())
    }

    /// A row from the bytes of a row's [`Row::as_bytes`], for example read back from
    /// a file (validated when the row is read, as every row is).
    pub fn from_packed_bytes(buf: Vec<u8>) -> Row {
        Row::from_bytes(buf)
    }

    /// A row from bytes written by [`Row::pack`] (validated when the row is read).
    fn from_bytes(buf: Vec<u8>) -> Row {
        Row {
            data: RowData::from_vec(buf),
        }
    }

    pub fn empty() -> Row {
        Row::default()
    }

    /// Unpacks every datum.
    pub fn unpack(&self) -> Vec<Datum> {
        self.iter().collect()
    }

    /// Iterates the datums in order, decoding lazily.
    pub fn iter(&self) -> RowIter<'_> {
        RowIter {
            dec: Decoder {
                data: self.as_bytes(),
                pos: 0,
            },
        }
    }

    /// The encoded size in bytes (not counting the allocation header).
    pub fn byte_len(&self) -> usize {
        self.as_bytes().len()
    }

    /// The encoded bytes. Equal datums encode to equal bytes and each datum's
    /// encoding is self-delimiting, so the rows whose first datums equal some given
    /// datums are exactly those whose bytes start with those datums' packed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.data.as_slice()
    }

    /// Whether this row's leading datums are exactly the datums of `prefix` (an empty
    /// prefix matches every row).
    pub fn starts_with(&self, prefix: &Row) -> bool {
        self.as_bytes().starts_with(prefix.as_bytes())
    }

    /// The concatenation of two rows.
    pub fn concat(&self, other: &Row) -> Row {
        let mut v = Vec::with_capacity(self.byte_len() + other.byte_len());
        v.extend_from_slice(self.as_bytes());
        v.extend_from_slice(other.as_bytes());
        Row::from_bytes(v)
    }
}

/// Iterator over a row's datums.
pub struct RowIter<'a> {
    dec: Decoder<'a>,
}

impl Iterator for RowIter<'_> {
    type Item = Datum;
    fn next(&mut self) -> Option<Datum> {
        if self.dec.pos >= self.dec.data.len() {
            None
        } else {
            Some(self.dec.datum())
        }
    }
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_reuses_nothing_of_the_previous_row() {
        let long = vec![Datum::Int64(1), Datum::String("a".repeat(100))];
        let short = vec![Datum::Int16(2)];
        let huge = vec![Datum::String("b".repeat(PACK_SCRATCH_KEPT + 10))];
        for datums in [&long, &short, &huge, &short, &long] {
            assert_eq!(Row::pack(datums.iter()).unpack(), *datums);
        }
    }

    #[test]
    fn packing_while_packing_gets_a_buffer_of_its_own() {
        let inner = vec![Datum::Int64(7), Datum::String("x".repeat(40))];
        let outer = vec![Datum::Int32(1), Datum::String("y".repeat(30))];
        let row = Row::pack(outer.iter().inspect(|_| {
            assert_eq!(Row::pack(inner.iter()).unpack(), inner);
        }));
        assert_eq!(row.unpack(), outer);
    }

    #[test]
    fn round_trips_every_datum_kind() {
        let datums = vec![
            Datum::Null,
            Datum::Bool(true),
            Datum::Bool(false),
            Datum::Int16(-3),
            Datum::Int32(i32::MIN),
            Datum::Int64(i64::MAX),
            Datum::Float32(OrdF32(1.5)),
            Datum::Float64(OrdF64(-2.25)),
            Datum::Numeric("12.50".parse().unwrap()),
            Datum::Numeric("-0.000".parse().unwrap()),
            Datum::Numeric("-12345678901234567890123456789012345678".parse().unwrap()),
            Datum::Numeric("0.340282366920938463463374607431768211455".parse().unwrap()),
            Datum::Numeric(Numeric::NAN),
            Datum::String("héllo".into()),
            Datum::Timestamp(
                NaiveDate::from_ymd_opt(2024, 2, 29)
                    .unwrap()
                    .and_hms_micro_opt(1, 2, 3, 4)
                    .unwrap(),
            ),
            Datum::Date(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()),
            Datum::Interval(Interval {
                months: 1,
                days: -2,
                micros: 3,
            }),
            Datum::Jsonb("{\"a\": 1}".into()),
            Datum::Oid(4_000_000_000),
            Datum::Array(vec![Datum::String("x".into()), Datum::Null]),
            Datum::Record(vec![
                Datum::Int16(3),
                Datum::Null,
                Datum::String("a b".into()),
            ]),
        ];
        let row = Row::pack(&datums);
        assert_eq!(row.unpack(), datums);
    }

    #[test]
    fn prefixes_are_leading_datums() {
        let row = Row::pack(&[Datum::Int64(10), Datum::String("ab".into()), Datum::Null]);
        assert!(row.starts_with(&Row::empty()));
        assert!(row.starts_with(&Row::pack(&[Datum::Int64(10)])));
        assert!(row.starts_with(&Row::pack(&[Datum::Int64(10), Datum::String("ab".into())])));
        assert!(!row.starts_with(&Row::pack(&[Datum::Int32(10)])));
        assert!(!row.starts_with(&Row::pack(&[Datum::Int64(1)])));
        // A string is length-prefixed, so "a" is not a prefix datum of "ab".
        assert!(!row.starts_with(&Row::pack(&[Datum::Int64(10), Datum::String("a".into())])));
        assert_eq!(row.as_bytes().len(), row.byte_len());
    }

    #[test]
    fn small_rows_are_inline_and_compare_by_bytes() {
        assert_eq!(std::mem::size_of::<Row>(), 24);
        let small = Row::pack(&[Datum::Int64(1), Datum::String("abc".into())]);
        let large = Row::pack(&[Datum::String("x".repeat(40))]);
        assert!(matches!(small.data, RowData::Inline { .. }));
        assert!(matches!(large.data, RowData::Heap(_)));
        // Order and equality are those of the bytes, inline or not.
        let a = Row::pack(&[Datum::String("a".repeat(30))]);
        let b = Row::pack(&[Datum::String("b".into())]);
        assert_eq!(a.cmp(&b), a.as_bytes().cmp(b.as_bytes()));
        assert_eq!(b.cmp(&a), b.as_bytes().cmp(a.as_bytes()));
        assert_eq!(a.clone(), a);
        let bytes = bincode::serialize(&large).unwrap();
        assert_eq!(bincode::deserialize::<Row>(&bytes).unwrap(), large);
        let bytes = bincode::serialize(&small).unwrap();
        assert_eq!(bincode::deserialize::<Row>(&bytes).unwrap(), small);
    }

    #[test]
    fn equal_datums_encode_equally() {
        // Every NaN is one value; -0 keeps its sign (Postgres prints it), and keys
        // normalize it where SQL equality matters.
        let a = Row::pack(&[Datum::Float64(OrdF64(f64::NAN))]);
        let b = Row::pack(&[Datum::Float64(OrdF64(-f64::NAN))]);
        assert_eq!(a, b);
        let zero = Row::pack(&[Datum::Float64(OrdF64(0.0))]);
        let negative_zero = Row::pack(&[Datum::Float64(OrdF64(-0.0))]);
        assert_ne!(zero, negative_zero);
        assert!(matches!(negative_zero.unpack()[0], Datum::Float64(f) if f.0.is_sign_negative()));
        let small = Row::pack(&[Datum::Int64(7)]);
        assert_eq!(small.byte_len(), 2);
    }

    #[test]
    fn numerics_encode_compactly_and_keep_their_scale() {
        let row = Row::pack(&[Datum::Numeric("12.50".parse().unwrap())]);
        assert_eq!(row.as_bytes(), &[tag::NUMERIC, 2 << 2, 0xe2, 0x09]);
        let Datum::Numeric(n) = &row.unpack()[0] else {
            panic!("not a numeric");
        };
        assert_eq!(n.to_string(), "12.50");
        let nan = Row::pack(&[Datum::Numeric(Numeric::NAN)]);
        assert_eq!(nan.as_bytes(), &[tag::NUMERIC, 2]);
    }

    /// Rows written by earlier versions (rust_decimal's 16-byte serialization) still
    /// load: these bytes are `Decimal::serialize` of `-12.50` and of
    /// `79228162514264337593543950335` (96 bits, scale 0), built by hand.
    #[test]
    fn legacy_numerics_still_decode() {
        let mut bytes = vec![tag::LEGACY_NUMERIC];
        bytes.extend_from_slice(&[0, 0, 2, 0x80]); // scale 2, negative
        bytes.extend_from_slice(&1250u32.to_le_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.push(tag::LEGACY_NUMERIC);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        bytes.extend_from_slice(&[0xff; 12]);
        bytes.push(tag::INT32);
        put_zigzag(&mut bytes, 7);
        let row = Row {
            data: RowData::from_vec(bytes),
        };
        let datums = row.unpack();
        assert_eq!(datums.len(), 3);
        let Datum::Numeric(n) = &datums[0] else {
            panic!("not a numeric");
        };
        assert_eq!(n.to_string(), "-12.50");
        let Datum::Numeric(n) = &datums[1] else {
            panic!("not a numeric");
        };
        assert_eq!(n.to_string(), "79228162514264337593543950335");
        assert_eq!(datums[2], Datum::Int32(7));
        // Re-encoding writes the new tag, and the values survive.
        let again = Row::pack(&datums);
        assert_eq!(again.as_bytes()[0], tag::NUMERIC);
        assert_eq!(again.unpack(), datums);
    }
}
