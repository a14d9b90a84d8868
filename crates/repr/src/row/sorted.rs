//! The sorted layout of a row, for index arrangements, and [`KeyRange`], a contiguous
//! range of rows in an arrangement keyed by whole rows.
//!
//! [`Row::pack_sorted`] writes a row's leading (key) datums in an order-preserving
//! encoding: the bytes of two rows compare as their key datums compare in SQL order
//! ([`Datum::sql_cmp`], which `ORDER BY` uses), column by column. So in an arrangement
//! of such rows, the rows whose key lies in a range of values are contiguous, and a
//! reader seeks to the first and stops after the last ([`KeyRange::sorted_range`]).
//!
//! Each sorted datum is its own tag (`0x80` and up, apart from the compact tags below
//! `0x80`) and a payload whose bytes order as the values do:
//! - integers, dates, times, timestamps and oids: big-endian, the sign bit flipped;
//! - floats: their bits, negatives inverted, so `-inf < ... < -0 = 0 < ... < inf <
//!   NaN` (one NaN); a byte after the value keeps `-0`'s sign without ordering it;
//! - intervals: their span (a month is 30 days, as `<` compares them), then the months,
//!   days and microseconds, which `ORDER BY` uses to break ties;
//! - text: its UTF-8 bytes with `00` escaped as `00 FF`, ended by `00 01` (byte order,
//!   which is Eddy's text collation: `ORDER BY` compares strings bytewise);
//! - NULL: the one byte `FF`, after every value, as Postgres sorts NULLs last.
//!
//! Every payload is self-delimiting, so rows whose first `k` key datums are equal share
//! a byte prefix, and a later column only breaks ties inside it. A datum with no
//! order-preserving encoding here (numeric, jsonb, bytea, uuid, arrays) keeps its
//! compact encoding in key position: rows are still grouped by its value (a point
//! read seeks them), but a range over it is not contiguous, so none is offered
//! ([`has_sorted_encoding`]).
//!
//! *Invariant:* within one arrangement every row has the same layout, and equal datums
//! encode to equal bytes in it (the row decoder reads both layouts, each datum says
//! which by its tag, so a sorted row unpacks to the datums it was packed from).

use std::ops::Bound;

use chrono::{DateTime, NaiveDate, NaiveTime};

use super::{encode, Decoder, Row};
use crate::datum::{Datum, Interval, OrdF32, OrdF64};
use crate::types::ScalarType;

/// Tags of sorted datums: every one has the high bit set, which no compact tag has.
mod tag {
    pub const FALSE: u8 = 0x81;
    pub const TRUE: u8 = 0x82;
    pub const INT16: u8 = 0x83;
    pub const INT32: u8 = 0x84;
    pub const INT64: u8 = 0x85;
    pub const FLOAT32: u8 = 0x86;
    pub const FLOAT64: u8 = 0x87;
    pub const STRING: u8 = 0x89;
    pub const TIMESTAMP: u8 = 0x8A;
    pub const TIMESTAMPTZ: u8 = 0x8B;
    pub const DATE: u8 = 0x8C;
    pub const TIME: u8 = 0x8D;
    pub const INTERVAL: u8 = 0x8E;
    pub const OID: u8 = 0x90;
    /// NULL sorts after every value.
    pub const NULL: u8 = 0xFF;
}

/// Whether a tag is one of a sorted datum.
pub(super) fn is_sorted_tag(tag: u8) -> bool {
    tag & 0x80 != 0
}

/// Whether values of `typ` have an order-preserving encoding, so that an index keyed
/// by a column of this type holds the column's ranges contiguously. Numeric has none
/// yet: its rows stay grouped by value, not ordered.
pub fn has_sorted_encoding(typ: &ScalarType) -> bool {
    matches!(
        typ,
        ScalarType::Bool
            | ScalarType::Int16
            | ScalarType::Int32
            | ScalarType::Int64
            | ScalarType::Float32
            | ScalarType::Float64
            | ScalarType::Text
            | ScalarType::Varchar { .. }
            | ScalarType::Timestamp
            | ScalarType::TimestampTz
            | ScalarType::Date
            | ScalarType::Time
            | ScalarType::Interval
            | ScalarType::Oid
    )
}

const SIGN_32: u32 = 1 << 31;
const SIGN_64: u64 = 1 << 63;

fn put_i64(buf: &mut Vec<u8>, v: i64) {
    buf.extend_from_slice(&((v as u64) ^ SIGN_64).to_be_bytes());
}

fn put_i32(buf: &mut Vec<u8>, v: i32) {
    buf.extend_from_slice(&((v as u32) ^ SIGN_32).to_be_bytes());
}

fn put_escaped(buf: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        buf.push(*b);
        if *b == 0 {
            buf.push(0xFF);
        }
    }
    buf.extend_from_slice(&[0, 1]);
}

/// Writes the part of `datum`'s sorted encoding that orders it: its tag and the bytes
/// that compare as the value does (equal values, `0` and `-0` for instance, write equal
/// bytes). `false`, writing nothing, for a datum with no sorted encoding.
fn put_order(buf: &mut Vec<u8>, datum: &Datum) -> bool {
    match datum {
        Datum::Null => buf.push(tag::NULL),
        Datum::Bool(false) => buf.push(tag::FALSE),
        Datum::Bool(true) => buf.push(tag::TRUE),
        Datum::Int16(v) => {
            buf.push(tag::INT16);
            buf.extend_from_slice(&((*v as u16) ^ (1 << 15)).to_be_bytes());
        }
        Datum::Int32(v) => {
            buf.push(tag::INT32);
            put_i32(buf, *v);
        }
        Datum::Int64(v) => {
            buf.push(tag::INT64);
            put_i64(buf, *v);
        }
        Datum::Float32(f) => {
            buf.push(tag::FLOAT32);
            let key = if f.0.is_nan() {
                u32::MAX
            } else {
                match f.canonical_bits() {
                    bits if bits & SIGN_32 != 0 => !bits,
                    bits => bits | SIGN_32,
                }
            };
            buf.extend_from_slice(&key.to_be_bytes());
        }
        Datum::Float64(f) => {
            buf.push(tag::FLOAT64);
            let key = if f.0.is_nan() {
                u64::MAX
            } else {
                match f.canonical_bits() {
                    bits if bits & SIGN_64 != 0 => !bits,
                    bits => bits | SIGN_64,
                }
            };
            buf.extend_from_slice(&key.to_be_bytes());
        }
        Datum::String(s) => {
            buf.push(tag::STRING);
            put_escaped(buf, s.as_bytes());
        }
        Datum::Timestamp(ts) => {
            buf.push(tag::TIMESTAMP);
            put_i64(buf, super::micros_of(ts));
        }
        Datum::TimestampTz(ts) => {
            buf.push(tag::TIMESTAMPTZ);
            put_i64(buf, ts.timestamp_micros());
        }
        Datum::Date(d) => {
            buf.push(tag::DATE);
            put_i32(buf, d.to_epoch_days());
        }
        Datum::Time(t) => {
            buf.push(tag::TIME);
            put_i64(buf, (*t - NaiveTime::MIN).num_microseconds().unwrap_or(0));
        }
        Datum::Interval(i) => {
            buf.push(tag::INTERVAL);
            let span = (i.as_micros_approx() as u128) ^ (1 << 127);
            buf.extend_from_slice(&span.to_be_bytes());
        }
        Datum::Oid(o) => {
            buf.push(tag::OID);
            buf.extend_from_slice(&o.to_be_bytes());
        }
        // Numeric has no order-preserving encoding yet; neither do the rest.
        Datum::Numeric(_)
        | Datum::Jsonb(_)
        | Datum::Bytes(_)
        | Datum::Uuid(_)
        | Datum::Array(_)
        | Datum::Record(_) => return false,
    }
    true
}

/// Writes `datum` in key position of the sorted layout: its sorted encoding (the order
/// bytes, then what tells apart values that compare equal), or its compact one when
/// it has none.
pub(super) fn encode_sorted(buf: &mut Vec<u8>, datum: &Datum) {
    if !put_order(buf, datum) {
        encode(buf, datum);
        return;
    }
    match datum {
        Datum::Float32(f) => buf.push(u8::from(f.0 == 0.0 && f.0.is_sign_negative())),
        Datum::Float64(f) => buf.push(u8::from(f.0 == 0.0 && f.0.is_sign_negative())),
        Datum::Interval(i) => {
            put_i32(buf, i.months);
            put_i32(buf, i.days);
            put_i64(buf, i.micros);
        }
        _ => {}
    }
}

impl Decoder<'_> {
    fn sorted_i64(&mut self) -> i64 {
        let b: [u8; 8] = self.bytes(8).try_into().unwrap();
        (u64::from_be_bytes(b) ^ SIGN_64) as i64
    }

    fn sorted_i32(&mut self) -> i32 {
        let b: [u8; 4] = self.bytes(4).try_into().unwrap();
        (u32::from_be_bytes(b) ^ SIGN_32) as i32
    }

    fn negative_zero(&mut self) -> bool {
        self.byte() == 1
    }

    fn unescaped(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            match self.byte() {
                0 if self.byte() == 1 => return out,
                b => out.push(b),
            }
        }
    }

    /// Reads the datum after a sorted tag.
    pub(super) fn sorted_datum(&mut self, tag: u8) -> Datum {
        match tag {
            tag::NULL => Datum::Null,
            tag::FALSE => Datum::Bool(false),
            tag::TRUE => Datum::Bool(true),
            tag::INT16 => {
                let b: [u8; 2] = self.bytes(2).try_into().unwrap();
                Datum::Int16((u16::from_be_bytes(b) ^ (1 << 15)) as i16)
            }
            tag::INT32 => Datum::Int32(self.sorted_i32()),
            tag::INT64 => Datum::Int64(self.sorted_i64()),
            tag::FLOAT32 => {
                let b: [u8; 4] = self.bytes(4).try_into().unwrap();
                let value = match u32::from_be_bytes(b) {
                    u32::MAX => f32::NAN,
                    key if key & SIGN_32 != 0 => f32::from_bits(key ^ SIGN_32),
                    key => f32::from_bits(!key),
                };
                let value = if self.negative_zero() { -0.0 } else { value };
                Datum::Float32(OrdF32(value))
            }
            tag::FLOAT64 => {
                let b: [u8; 8] = self.bytes(8).try_into().unwrap();
                let value = match u64::from_be_bytes(b) {
                    u64::MAX => f64::NAN,
                    key if key & SIGN_64 != 0 => f64::from_bits(key ^ SIGN_64),
                    key => f64::from_bits(!key),
                };
                let value = if self.negative_zero() { -0.0 } else { value };
                Datum::Float64(OrdF64(value))
            }
            tag::STRING => {
                Datum::String(String::from_utf8(self.unescaped()).expect("row strings are utf-8"))
            }
            tag::TIMESTAMP => Datum::Timestamp(
                DateTime::from_timestamp_micros(self.sorted_i64())
                    .unwrap()
                    .naive_utc(),
            ),
            tag::TIMESTAMPTZ => {
                Datum::TimestampTz(DateTime::from_timestamp_micros(self.sorted_i64()).unwrap())
            }
            tag::DATE => {
                Datum::Date(NaiveDate::from_epoch_days(self.sorted_i32()).expect("valid date"))
            }
            tag::TIME => {
                Datum::Time(NaiveTime::MIN + chrono::Duration::microseconds(self.sorted_i64()))
            }
            tag::INTERVAL => {
                self.bytes(16);
                Datum::Interval(Interval {
                    months: self.sorted_i32(),
                    days: self.sorted_i32(),
                    micros: self.sorted_i64(),
                })
            }
            tag::OID => {
                let b: [u8; 4] = self.bytes(4).try_into().unwrap();
                Datum::Oid(u32::from_be_bytes(b))
            }
            t => panic!("corrupt row: unknown tag {t}"),
        }
    }
}

impl Row {
    /// Packs `datums` in the sorted layout: the first `key_arity` in SQL order (see the
    /// module docs), the others as [`Row::pack`] packs them. Rows packed with the same
    /// `key_arity` order by their key as `ORDER BY` would, NULLs last.
    pub fn pack_sorted<'a, I: IntoIterator<Item = &'a Datum>>(key_arity: usize, datums: I) -> Row {
        let mut buf = Vec::new();
        for (position, datum) in datums.into_iter().enumerate() {
            if position < key_arity {
                encode_sorted(&mut buf, datum);
            } else {
                encode(&mut buf, datum);
            }
        }
        Row::from_bytes(buf)
    }
}

/// A contiguous range of rows in an arrangement keyed by whole rows: those whose bytes
/// are at least `lower` and below `upper` (to the end without one). A reader seeks to
/// [`KeyRange::start`] and stops at the first row [`KeyRange::is_past`] it, so the work
/// is that of the rows in the range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    lower: Vec<u8>,
    upper: Option<Vec<u8>>,
}

impl KeyRange {
    /// The rows whose leading datums are those packed in `prefix` (by the layout the
    /// rows were packed with).
    pub fn prefix(prefix: &Row) -> KeyRange {
        KeyRange::starting_with(prefix.as_bytes().to_vec())
    }

    /// In an arrangement of rows packed by [`Row::pack_sorted`] with `key_arity`, the
    /// rows whose leading datums equal `prefix` (which may go on past the key).
    pub fn sorted_prefix(key_arity: usize, prefix: &[Datum]) -> KeyRange {
        KeyRange::prefix(&Row::pack_sorted(key_arity, prefix))
    }

    /// In an arrangement of rows packed by [`Row::pack_sorted`] with `key_arity`, the
    /// rows whose leading key datums equal `prefix` and whose next key datum lies
    /// between `lower` and `upper` (in SQL order; an unbounded side still leaves NULLs
    /// out, as every comparison does). `None` when that datum is not a key datum, or a
    /// bound has no sorted encoding.
    pub fn sorted_range(
        key_arity: usize,
        prefix: &[Datum],
        lower: Bound<&Datum>,
        upper: Bound<&Datum>,
    ) -> Option<KeyRange> {
        if prefix.len() >= key_arity {
            return None;
        }
        let prefix = Row::pack_sorted(key_arity, prefix).as_bytes().to_vec();
        // The rows whose next datum equals `value` are those starting with `at(value)`.
        let at = |value: &Datum| {
            let mut bytes = prefix.clone();
            put_order(&mut bytes, value).then_some(bytes)
        };
        let lower = match lower {
            Bound::Unbounded => prefix.clone(),
            Bound::Included(value) => at(value)?,
            Bound::Excluded(value) => match successor(at(value)?) {
                Some(bytes) => bytes,
                // Nothing can follow it.
                None => return Some(KeyRange::empty()),
            },
        };
        let upper = match upper {
            Bound::Unbounded => {
                let mut nulls = prefix;
                nulls.push(tag::NULL);
                Some(nulls)
            }
            Bound::Included(value) => successor(at(value)?),
            Bound::Excluded(value) => Some(at(value)?),
        };
        Some(KeyRange { lower, upper })
    }

    /// No rows.
    fn empty() -> KeyRange {
        KeyRange {
            lower: vec![],
            upper: Some(vec![]),
        }
    }

    /// The rows whose bytes start with `prefix`.
    fn starting_with(prefix: Vec<u8>) -> KeyRange {
        let upper = successor(prefix.clone());
        KeyRange {
            lower: prefix,
            upper,
        }
    }

    /// The key to seek to: the first row of the range is the first at or after it. A
    /// seek key, not a row: it need not decode.
    pub fn start(&self) -> Row {
        Row::from_bytes(self.lower.clone())
    }

    /// Whether `row`, or any row after it, is past the range's end.
    pub fn is_past(&self, row: &Row) -> bool {
        self.upper
            .as_ref()
            .is_some_and(|upper| row.as_bytes() >= upper.as_slice())
    }

    /// Whether `row` is in the range.
    pub fn contains(&self, row: &Row) -> bool {
        row.as_bytes() >= self.lower.as_slice() && !self.is_past(row)
    }
}

/// The least byte string after every string that starts with `bytes` (`None`: no
/// string is, they are all `FF`).
fn successor(mut bytes: Vec<u8>) -> Option<Vec<u8>> {
    while let Some(last) = bytes.pop() {
        if last < 0xFF {
            bytes.push(last + 1);
            return Some(bytes);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn samples() -> Vec<Vec<Datum>> {
        let ts = |s: i64| Datum::Timestamp(DateTime::from_timestamp_micros(s).unwrap().naive_utc());
        let interval = |months, days, micros| {
            Datum::Interval(Interval {
                months,
                days,
                micros,
            })
        };
        vec![
            [i64::MIN, -300, -1, 0, 1, 127, 128, 300, i64::MAX]
                .map(Datum::Int64)
                .to_vec(),
            [i32::MIN, -2, 0, 5, i32::MAX].map(Datum::Int32).to_vec(),
            [i16::MIN, -1, 0, 1, i16::MAX].map(Datum::Int16).to_vec(),
            [
                f64::NEG_INFINITY,
                -1e300,
                -1.5,
                -0.0,
                0.0,
                1e-300,
                2.5,
                f64::INFINITY,
                f64::NAN,
            ]
            .map(|f| Datum::Float64(OrdF64(f)))
            .to_vec(),
            [f32::NEG_INFINITY, -1.0, -0.0, 0.0, 3.0, f32::NAN]
                .map(|f| Datum::Float32(OrdF32(f)))
                .to_vec(),
            [
                "",
                "\0",
                "\0\0",
                "a",
                "a\0",
                "a\0b",
                "ab",
                "b",
                "é",
                "\u{10FFFF}",
            ]
            .map(|s| Datum::String(s.into()))
            .to_vec(),
            [-86_400_000_000_000, -1, 0, 1, 1_700_000_000_000_000]
                .map(ts)
                .to_vec(),
            vec![
                interval(-1, 0, 0),
                interval(0, -1, 5),
                interval(0, 0, 0),
                interval(0, 30, 0),
                interval(1, 0, 0),
                interval(0, 0, 86_400_000_001),
            ],
            vec![Datum::Bool(false), Datum::Bool(true)],
            [0u32, 7, u32::MAX].map(Datum::Oid).to_vec(),
        ]
    }

    #[test]
    fn sorted_bytes_order_as_sql_and_round_trip() {
        for mut values in samples() {
            values.push(Datum::Null);
            for a in &values {
                let row_a = Row::pack_sorted(1, [a, &Datum::Int64(1)]);
                assert_eq!(row_a.unpack(), [a.clone(), Datum::Int64(1)], "{a:?}");
                for b in &values {
                    let row_b = Row::pack_sorted(1, [b, &Datum::Int64(0)]);
                    let want = a.sql_cmp(b).then(Ordering::Greater);
                    // `-0` and `0` are equal in SQL, and told apart after the value.
                    let zeros =
                        a.sql_cmp(b) == Ordering::Equal && format!("{a:?}") != format!("{b:?}");
                    if !zeros {
                        assert_eq!(row_a.cmp(&row_b), want, "{a:?} vs {b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn negative_zero_and_nan_keep_their_values() {
        let row = Row::pack_sorted(
            2,
            &[Datum::Float64(OrdF64(-0.0)), Datum::Float32(OrdF32(-0.0))],
        );
        let datums = row.unpack();
        assert!(matches!(datums[0], Datum::Float64(f) if f.0 == 0.0 && f.0.is_sign_negative()));
        assert!(matches!(datums[1], Datum::Float32(f) if f.0 == 0.0 && f.0.is_sign_negative()));
        let nan = Row::pack_sorted(1, &[Datum::Float64(OrdF64(-f64::NAN))]);
        assert!(matches!(nan.unpack()[0], Datum::Float64(f) if f.0.is_nan()));
    }

    /// SQL's `<`: as `ORDER BY`, but intervals equal in span are equal.
    fn compare(a: &Datum, b: &Datum) -> Ordering {
        match (a, b) {
            (Datum::Interval(a), Datum::Interval(b)) => {
                a.as_micros_approx().cmp(&b.as_micros_approx())
            }
            _ => a.sql_cmp(b),
        }
    }

    /// Every range of one column, checked against the SQL comparison of every value:
    /// the rows inside the byte range are exactly those the predicate keeps.
    #[test]
    fn ranges_hold_exactly_the_rows_between_their_bounds() {
        let prefix = [Datum::String("p".into())];
        for mut values in samples() {
            values.push(Datum::Null);
            let rows: Vec<(Datum, Row)> = values
                .iter()
                .flat_map(|v| {
                    [Datum::Int64(-1), Datum::Null]
                        .map(|next| (v.clone(), Row::pack_sorted(3, [&prefix[0], v, &next])))
                })
                .collect();
            let other = Row::pack_sorted(3, [&Datum::String("q".into()), &values[0], &Datum::Null]);
            let bounds = values
                .iter()
                .filter(|v| !v.is_null())
                .flat_map(|v| [Bound::Included(v), Bound::Excluded(v)])
                .chain([Bound::Unbounded]);
            for lower in bounds.clone() {
                for upper in bounds.clone() {
                    let range = KeyRange::sorted_range(3, &prefix, lower, upper).unwrap();
                    assert!(!range.contains(&other));
                    for (value, row) in &rows {
                        let above = match lower {
                            _ if value.is_null() => false,
                            Bound::Included(l) => compare(value, l).is_ge(),
                            Bound::Excluded(l) => compare(value, l).is_gt(),
                            Bound::Unbounded => true,
                        };
                        let below = match upper {
                            Bound::Included(u) => compare(value, u).is_le(),
                            Bound::Excluded(u) => compare(value, u).is_lt(),
                            Bound::Unbounded => true,
                        };
                        assert_eq!(
                            range.contains(row),
                            above && below,
                            "{value:?} in {lower:?}..{upper:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_prefix_range_holds_its_rows_whatever_follows() {
        let rows = [
            Row::pack_sorted(2, &[Datum::Int32(1), Datum::Null]),
            Row::pack_sorted(2, &[Datum::Int32(1), Datum::String("x".into())]),
        ];
        let range = KeyRange::sorted_prefix(2, &[Datum::Int32(1)]);
        assert!(rows.iter().all(|r| range.contains(r)));
        assert!(!range.contains(&Row::pack_sorted(2, &[Datum::Int32(2), Datum::Null])));
        assert!(!range.contains(&Row::pack_sorted(2, &[Datum::Null, Datum::Null])));
        // Numeric keeps its compact encoding: still grouped by value.
        let numeric = Datum::Numeric("1.5".parse().unwrap());
        let row = Row::pack_sorted(2, [&numeric, &Datum::Int32(1)]);
        assert!(KeyRange::sorted_prefix(2, std::slice::from_ref(&numeric)).contains(&row));
        assert_eq!(row.unpack(), [numeric.clone(), Datum::Int32(1)]);
        assert_eq!(
            KeyRange::sorted_range(2, &[], Bound::Included(&numeric), Bound::Unbounded),
            None
        );
        // Only a key datum has a range; a prefix may go on past the key.
        let row = Row::pack_sorted(1, &[Datum::Int32(1), Datum::Int32(2)]);
        assert_eq!(
            KeyRange::sorted_range(1, &[Datum::Int32(1)], Bound::Unbounded, Bound::Unbounded),
            None
        );
        assert!(KeyRange::sorted_prefix(1, &[Datum::Int32(1), Datum::Int32(2)]).contains(&row));
        // The compact layout's prefixes.
        let compact = Row::pack(&[Datum::Int64(10), Datum::Null]);
        assert!(KeyRange::prefix(&Row::pack(&[Datum::Int64(10)])).contains(&compact));
        assert!(!KeyRange::prefix(&Row::pack(&[Datum::Int64(11)])).contains(&compact));
    }
}
