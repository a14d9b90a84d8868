//! Decoding of the `pgoutput` logical replication messages (protocol version 1) that
//! carry changes: Relation, Type, Origin, Insert, Update, Delete and Truncate.
//!
//! Begin and Commit are decoded by `pgwire-replication`, which hands them out as their
//! own events; everything else arrives here as the raw `XLogData` payload. Values are in
//! text format (the stream is started without `binary`), kept as text here: turning them
//! into datums needs the table's column types and, for unchanged TOAST values, its
//! current rows ([`super::state`]).
//!
//! Invariant: decoding never panics on malformed input; it returns an error naming what
//! was cut short or unknown.

use std::fmt;

/// One column value of a tuple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    /// An unchanged TOASTed value (`u`): not sent; the current row has it.
    Unchanged,
    Text(String),
}

/// Which old image an Update or Delete carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OldImage {
    /// `K`: the replica identity (key) columns only; the others are null.
    Key,
    /// `O`: the whole old row (REPLICA IDENTITY FULL).
    Full,
}

/// A column of a Relation message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RelationColumn {
    /// Part of the replica identity.
    pub key: bool,
    pub name: String,
    pub type_oid: u32,
    pub typmod: i32,
}

/// The description of a table, sent before its first change in each session and again
/// after its definition changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Relation {
    pub oid: u32,
    pub namespace: String,
    pub name: String,
    /// `d` default, `n` nothing, `f` full, `i` index.
    pub replica_identity: u8,
    pub columns: Vec<RelationColumn>,
}

/// A decoded change message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    Relation(Relation),
    Insert {
        rel: u32,
        new: Vec<Value>,
    },
    Update {
        rel: u32,
        old: Option<(OldImage, Vec<Value>)>,
        new: Vec<Value>,
    },
    Delete {
        rel: u32,
        old: (OldImage, Vec<Value>),
    },
    Truncate {
        rels: Vec<u32>,
    },
    /// Type, Origin and logical decoding messages: nothing to apply.
    Ignored,
}

/// Why a payload could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed pgoutput message: {}", self.0)
    }
}

/// Decodes one pgoutput message (not Begin or Commit).
pub(crate) fn decode(payload: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader(payload);
    let tag = r.u8()?;
    let message = match tag {
        b'R' => {
            let oid = r.u32()?;
            let namespace = r.string()?;
            let name = r.string()?;
            let replica_identity = r.u8()?;
            let count = r.i16()?;
            let mut columns = Vec::with_capacity(count.max(0) as usize);
            for _ in 0..count {
                let flags = r.u8()?;
                columns.push(RelationColumn {
                    key: flags & 1 == 1,
                    name: r.string()?,
                    type_oid: r.u32()?,
                    typmod: r.i32()?,
                });
            }
            Message::Relation(Relation {
                oid,
                // pgoutput sends an empty namespace for pg_catalog.
                namespace: if namespace.is_empty() {
                    "pg_catalog".into()
                } else {
                    namespace
                },
                name,
                replica_identity,
                columns,
            })
        }
        b'I' => {
            let rel = r.u32()?;
            r.expect(b'N')?;
            Message::Insert {
                rel,
                new: r.tuple()?,
            }
        }
        b'U' => {
            let rel = r.u32()?;
            let old = match r.u8()? {
                b'K' => Some((OldImage::Key, r.tuple()?)),
                b'O' => Some((OldImage::Full, r.tuple()?)),
                b'N' => None,
                other => return Err(unexpected("Update", other)),
            };
            if old.is_some() {
                r.expect(b'N')?;
            }
            Message::Update {
                rel,
                old,
                new: r.tuple()?,
            }
        }
        b'D' => {
            let rel = r.u32()?;
            let image = match r.u8()? {
                b'K' => OldImage::Key,
                b'O' => OldImage::Full,
                other => return Err(unexpected("Delete", other)),
            };
            Message::Delete {
                rel,
                old: (image, r.tuple()?),
            }
        }
        b'T' => {
            let count = r.i32()?;
            let _options = r.u8()?;
            let rels = (0..count.max(0))
                .map(|_| r.u32())
                .collect::<Result<Vec<_>, _>>()?;
            Message::Truncate { rels }
        }
        // Type, Origin, logical decoding message.
        b'Y' | b'O' | b'M' => Message::Ignored,
        other => {
            return Err(DecodeError(format!(
                "unknown message type {:?}",
                char::from(other)
            )))
        }
    };
    Ok(message)
}

fn unexpected(message: &str, byte: u8) -> DecodeError {
    DecodeError(format!(
        "unexpected byte {:?} in {message}",
        char::from(byte)
    ))
}

/// A cursor over a payload.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError(format!(
                "cut short: {n} bytes expected, {} left",
                self.0.len()
            )));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn expect(&mut self, byte: u8) -> Result<(), DecodeError> {
        match self.u8()? {
            b if b == byte => Ok(()),
            other => Err(DecodeError(format!(
                "expected {:?}, found {:?}",
                char::from(byte),
                char::from(other)
            ))),
        }
    }

    /// A null-terminated string.
    fn string(&mut self) -> Result<String, DecodeError> {
        let end = self
            .0
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| DecodeError("a string without its terminating zero".into()))?;
        let s = utf8(&self.0[..end])?;
        self.0 = &self.0[end + 1..];
        Ok(s)
    }

    /// TupleData: a count, then per column `n`, `u`, or `t`/`b` with a length.
    fn tuple(&mut self) -> Result<Vec<Value>, DecodeError> {
        let count = self.i16()?;
        let mut values = Vec::with_capacity(count.max(0) as usize);
        for _ in 0..count {
            values.push(match self.u8()? {
                b'n' => Value::Null,
                b'u' => Value::Unchanged,
                b't' => {
                    let len = self.i32()?;
                    let len = usize::try_from(len)
                        .map_err(|_| DecodeError(format!("negative value length {len}")))?;
                    Value::Text(utf8(self.take(len)?)?)
                }
                b'b' => return Err(DecodeError("a binary value in a text stream".into())),
                other => return Err(unexpected("a tuple", other)),
            });
        }
        Ok(values)
    }
}

fn utf8(bytes: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError("text that is not UTF-8".into()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds pgoutput payloads, for tests here and in the state module.
    #[derive(Default)]
    pub(crate) struct Payload(pub Vec<u8>);

    impl Payload {
        pub(crate) fn tag(tag: u8) -> Payload {
            Payload(vec![tag])
        }
        pub(crate) fn u8(mut self, v: u8) -> Payload {
            self.0.push(v);
            self
        }
        pub(crate) fn i16(mut self, v: i16) -> Payload {
            self.0.extend(v.to_be_bytes());
            self
        }
        pub(crate) fn i32(mut self, v: i32) -> Payload {
            self.0.extend(v.to_be_bytes());
            self
        }
        pub(crate) fn str(mut self, s: &str) -> Payload {
            self.0.extend(s.as_bytes());
            self.0.push(0);
            self
        }
        pub(crate) fn tuple(mut self, values: &[Option<&str>]) -> Payload {
            self = self.i16(values.len() as i16);
            for v in values {
                match v {
                    None => self.0.push(b'n'),
                    Some("<u>") => self.0.push(b'u'),
                    Some(s) => {
                        self.0.push(b't');
                        self = self.i32(s.len() as i32);
                        self.0.extend(s.as_bytes());
                    }
                }
            }
            self
        }
    }

    #[test]
    fn decodes_every_change_message() {
        let relation = Payload::tag(b'R')
            .i32(16384)
            .str("public")
            .str("t")
            .u8(b'd')
            .i16(2)
            .u8(1)
            .str("id")
            .i32(23)
            .i32(-1)
            .u8(0)
            .str("body")
            .i32(25)
            .i32(-1);
        assert_eq!(
            decode(&relation.0).unwrap(),
            Message::Relation(Relation {
                oid: 16384,
                namespace: "public".into(),
                name: "t".into(),
                replica_identity: b'd',
                columns: vec![
                    RelationColumn {
                        key: true,
                        name: "id".into(),
                        type_oid: 23,
                        typmod: -1
                    },
                    RelationColumn {
                        key: false,
                        name: "body".into(),
                        type_oid: 25,
                        typmod: -1
                    },
                ],
            })
        );
        let text = |s: &str| Value::Text(s.into());
        let insert = Payload::tag(b'I').i32(7).u8(b'N').tuple(&[Some("1"), None]);
        assert_eq!(
            decode(&insert.0).unwrap(),
            Message::Insert {
                rel: 7,
                new: vec![text("1"), Value::Null]
            }
        );
        let update = Payload::tag(b'U')
            .i32(7)
            .u8(b'K')
            .tuple(&[Some("1"), None])
            .u8(b'N')
            .tuple(&[Some("2"), Some("<u>")]);
        assert_eq!(
            decode(&update.0).unwrap(),
            Message::Update {
                rel: 7,
                old: Some((OldImage::Key, vec![text("1"), Value::Null])),
                new: vec![text("2"), Value::Unchanged]
            }
        );
        let delete = Payload::tag(b'D')
            .i32(7)
            .u8(b'O')
            .tuple(&[Some("1"), Some("x")]);
        assert_eq!(
            decode(&delete.0).unwrap(),
            Message::Delete {
                rel: 7,
                old: (OldImage::Full, vec![text("1"), text("x")])
            }
        );
        let truncate = Payload::tag(b'T').i32(2).u8(0).i32(7).i32(8);
        assert_eq!(
            decode(&truncate.0).unwrap(),
            Message::Truncate { rels: vec![7, 8] }
        );
        assert_eq!(
            decode(&Payload::tag(b'Y').i32(1).str("public").str("mood").0).unwrap(),
            Message::Ignored
        );
    }

    #[test]
    fn malformed_payloads_are_errors() {
        for (payload, error) in [
            (&b""[..], "cut short: 1 bytes expected, 0 left"),
            (b"I\0\0\0\x07X", "expected 'N', found 'X'"),
            (
                b"I\0\0\0\x07N\0\x01t\0\0\0\x09ab",
                "cut short: 9 bytes expected, 2 left",
            ),
            (b"D\0\0\0\x07N", "unexpected byte 'N' in Delete"),
            (b"Z", "unknown message type 'Z'"),
            (
                b"R\0\0\0\x01public",
                "a string without its terminating zero",
            ),
        ] {
            assert_eq!(
                decode(payload),
                Err(DecodeError(error.into())),
                "{payload:?}"
            );
        }
    }
}
