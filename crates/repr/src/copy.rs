//! COPY's text and CSV formats: reading lines into datums and writing rows as lines.
//!
//! Semantics follow Postgres':
//! - **text**: one row per line, fields separated by the delimiter (tab by default),
//!   NULL written as the null string (`\N` by default, compared before unescaping),
//!   backslash escapes `\t`, `\n`, `\r`, `\\` (and any other escaped character as
//!   itself); a line `\.` ends the data.
//! - **csv**: RFC 4180 records (quoted fields may hold the delimiter, line breaks and a
//!   doubled quote), an optional header line that is skipped, NULL as an unquoted field
//!   equal to the null string (empty by default); a quoted empty field is `""`.
//!
//! Invariant: decoding never panics; a bad line is an error naming the line number
//! (1-based, counting the header) and the column, as Postgres' `CONTEXT` does.

use crate::strconv::{format_datum_in, parse_datum_in};
use crate::zone::TimeZone;
use crate::{Datum, ScalarType, SqlError, SqlState};

/// COPY's data format and its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyFormat {
    pub kind: CopyFormatKind,
    pub delimiter: char,
    pub null: String,
    pub quote: char,
    pub header: bool,
    /// The session's time zone when the COPY was planned: `timestamptz` values are
    /// written, and read when they carry no offset, in it.
    pub zone: TimeZone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyFormatKind {
    Text,
    Csv,
    /// Postgres' binary format: the wire layer translates it (from COPY text for COPY
    /// TO, to COPY text for COPY FROM), so the functions here treat it as text.
    Binary,
}

impl CopyFormat {
    /// The defaults of `kind`: tab and `\N` for text, comma and the empty string for
    /// CSV, `"` as the quote, no header.
    pub fn new(kind: CopyFormatKind) -> Self {
        let (delimiter, null) = match kind {
            CopyFormatKind::Text | CopyFormatKind::Binary => ('\t', "\\N"),
            CopyFormatKind::Csv => (',', ""),
        };
        CopyFormat {
            kind,
            delimiter,
            null: null.to_string(),
            quote: '"',
            header: false,
            zone: TimeZone::UTC,
        }
    }
}

/// The columns a COPY reads: the relation's name and each column's name and type, in
/// the order the data has them.
pub struct CopyColumns<'a> {
    pub relation: &'a str,
    pub names: &'a [String],
    pub types: &'a [ScalarType],
}

/// Reads COPY data: one `Vec<Datum>` per line (or CSV record), in the order of
/// `columns`. Each non-NULL value goes through `coerce` with its column's index (to
/// enforce the column's type modifiers, which the input functions do not know). The
/// first error ends the read. (All of [`CopyDecoder`] at once.)
pub fn decode(
    format: &CopyFormat,
    columns: &CopyColumns,
    data: &[u8],
    coerce: &dyn Fn(Datum, usize) -> Result<Datum, SqlError>,
) -> Result<Vec<Vec<Datum>>, SqlError> {
    let mut rows = Vec::new();
    let mut decoder = CopyDecoder::new(format.clone());
    decoder.push(columns, data, coerce, &mut |row| rows.push(row))?;
    decoder.finish(columns, coerce, &mut |row| rows.push(row))?;
    Ok(rows)
}

/// Reads COPY data as it arrives, in pieces split anywhere (inside a line, inside a
/// CSV quoted field, inside a UTF-8 character): each call decodes the lines the data
/// so far completes, and keeps only the incomplete last one.
///
/// Invariant: the rows and errors are those [`decode`] finds in the concatenation of
/// every piece, whatever the split: a record ends at a line break outside CSV quotes,
/// and its number is that of its first line.
pub struct CopyDecoder {
    format: CopyFormat,
    /// The bytes of the record not yet ended.
    pending: Vec<u8>,
    /// How much of `pending` was searched for the record's end, and (CSV) whether
    /// that much leaves a quoted field open.
    scanned: usize,
    in_quotes: bool,
    /// The lines read before `pending`.
    lines: usize,
    /// Whether the CSV header line is still to be skipped.
    header: bool,
    /// Set by the end marker `\.`: the rest of the data is ignored.
    ended: bool,
}

impl CopyDecoder {
    pub fn new(format: CopyFormat) -> CopyDecoder {
        let header = format.header && format.kind == CopyFormatKind::Csv;
        CopyDecoder {
            format,
            pending: Vec::new(),
            scanned: 0,
            in_quotes: false,
            lines: 0,
            header,
            ended: false,
        }
    }

    /// Decodes the records `data` completes, passing each row to `row`. The first
    /// error ends the read (later calls must not be made).
    pub fn push(
        &mut self,
        columns: &CopyColumns,
        data: &[u8],
        coerce: &dyn Fn(Datum, usize) -> Result<Datum, SqlError>,
        row: &mut dyn FnMut(Vec<Datum>),
    ) -> Result<(), SqlError> {
        if self.ended {
            return Ok(());
        }
        self.pending.extend_from_slice(data);
        let quote = self.format.quote;
        let csv = self.format.kind == CopyFormatKind::Csv;
        let mut quote_bytes = [0u8; 4];
        let quote_bytes = quote.encode_utf8(&mut quote_bytes).as_bytes();
        let mut start = 0;
        let mut at = self.scanned;
        while at < self.pending.len() {
            let byte = self.pending[at];
            if csv && self.pending[at..].starts_with(quote_bytes) {
                self.in_quotes = !self.in_quotes;
                at += quote_bytes.len();
                continue;
            }
            at += 1;
            if byte != b'\n' || self.in_quotes {
                continue;
            }
            let record = std::mem::take(&mut self.pending);
            let result = self.record(columns, &record[start..at], coerce, row);
            self.pending = record;
            result?;
            start = at;
            if self.ended {
                self.pending = Vec::new();
                return Ok(());
            }
        }
        self.pending.drain(..start);
        self.scanned = self.pending.len();
        Ok(())
    }

    /// Whether a line break always ends a record (the text format, not CSV, whose
    /// quoted fields may hold line breaks): data cut after a line break can then be
    /// decoded in parts, each by its own decoder ([`CopyDecoder::after`]).
    pub fn splits_at_line_breaks(&self) -> bool {
        self.format.kind != CopyFormatKind::Csv
    }

    /// A decoder of the data that follows `data` (which ends with a line break, and
    /// which this decoder is to read next): it numbers its lines as this one would
    /// after reading `data`. Only for data that [`splits_at_line_breaks`].
    ///
    /// [`splits_at_line_breaks`]: CopyDecoder::splits_at_line_breaks
    pub fn after(&self, data: &[u8]) -> CopyDecoder {
        debug_assert!(self.splits_at_line_breaks() && data.ends_with(b"\n"));
        let mut next = CopyDecoder::new(self.format.clone());
        // Every record is one line, and what is pending holds no line break.
        next.lines = self.lines + data.iter().filter(|b| **b == b'\n').count();
        next
    }

    /// Goes on from where `later` (made by [`CopyDecoder::after`], and given the data
    /// after this decoder's) stopped.
    pub fn resume(&mut self, later: CopyDecoder) {
        self.pending = later.pending;
        self.scanned = later.scanned;
        self.in_quotes = later.in_quotes;
        self.lines = later.lines;
        self.ended = later.ended;
    }

    /// Whether the end marker `\.` was read.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Ends the data: decodes a last record that no line break ends.
    pub fn finish(
        &mut self,
        columns: &CopyColumns,
        coerce: &dyn Fn(Datum, usize) -> Result<Datum, SqlError>,
        row: &mut dyn FnMut(Vec<Datum>),
    ) -> Result<(), SqlError> {
        let record = std::mem::take(&mut self.pending);
        if self.ended || record.is_empty() {
            return Ok(());
        }
        self.record(columns, &record, coerce, row)
    }

    /// Decodes one record (with its line break, if any).
    fn record(
        &mut self,
        columns: &CopyColumns,
        record: &[u8],
        coerce: &dyn Fn(Datum, usize) -> Result<Datum, SqlError>,
        row: &mut dyn FnMut(Vec<Datum>),
    ) -> Result<(), SqlError> {
        let format = &self.format;
        let line_number = self.lines + 1;
        self.lines += record.iter().filter(|b| **b == b'\n').count().max(1);
        self.in_quotes = false;
        self.scanned = 0;
        let context = |line: usize| format!("COPY {}, line {line}", columns.relation);
        let record = std::str::from_utf8(record).map_err(|e| {
            SqlError::new(
                SqlState::CHARACTER_NOT_IN_REPERTOIRE,
                format!("invalid byte sequence for encoding \"UTF8\": {e}"),
            )
            .with_detail(context(line_number))
        })?;
        let body = record
            .strip_suffix('\n')
            .map(|r| r.strip_suffix('\r').unwrap_or(r))
            .unwrap_or(record);
        if body == "\\." {
            self.ended = true;
            return Ok(());
        }
        if std::mem::take(&mut self.header) {
            return Ok(());
        }
        let fields = match format.kind {
            CopyFormatKind::Text | CopyFormatKind::Binary => split_text_line(body, format),
            CopyFormatKind::Csv => {
                split_csv_fields(body, format.delimiter, format.quote).map(|fields| {
                    fields
                        .into_iter()
                        .map(|f| (f.quoted || f.text != format.null).then_some(f.text))
                        .collect()
                })
            }
        }
        .map_err(|e| {
            SqlError::new(SqlState::BAD_COPY_FILE_FORMAT, e).with_detail(context(line_number))
        })?;
        if fields.len() != columns.types.len() {
            let message = if fields.len() < columns.types.len() {
                format!(
                    "missing data for column \"{}\"",
                    columns.names[fields.len()]
                )
            } else {
                "extra data after last expected column".to_string()
            };
            return Err(SqlError::new(SqlState::BAD_COPY_FILE_FORMAT, message)
                .with_detail(context(line_number)));
        }
        let mut datums = Vec::with_capacity(fields.len());
        for (i, field) in fields.into_iter().enumerate() {
            datums.push(match field {
                None => Datum::Null,
                Some(value) => parse_datum_in(&value, &columns.types[i], &format.zone)
                    .map_err(|e| SqlError::new(e.sqlstate(), e.message))
                    .and_then(|datum| coerce(datum, i))
                    .map_err(|e| {
                        e.with_detail(format!(
                            "{}, column {}: \"{value}\"",
                            context(line_number),
                            columns.names[i]
                        ))
                    })?,
            });
        }
        row(datums);
        Ok(())
    }
}

/// Splits one text-format line into fields, unescaped; `None` is NULL.
fn split_text_line(line: &str, format: &CopyFormat) -> Result<Vec<Option<String>>, String> {
    let mut fields = Vec::new();
    for raw in line.split(format.delimiter) {
        if raw == format.null {
            fields.push(None);
            continue;
        }
        let mut field = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                field.push(c);
                continue;
            }
            match chars.next() {
                Some('t') => field.push('\t'),
                Some('n') => field.push('\n'),
                Some('r') => field.push('\r'),
                Some('b') => field.push('\u{8}'),
                Some('f') => field.push('\u{c}'),
                Some('v') => field.push('\u{b}'),
                Some(other) => field.push(other),
                None => return Err("end-of-copy marker corrupt".to_string()),
            }
        }
        fields.push(Some(field));
    }
    Ok(fields)
}

/// One CSV field and whether it was quoted (a quoted field is never NULL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvField {
    pub text: String,
    pub quoted: bool,
}

/// Splits one CSV record (RFC 4180: fields in quotes may hold the delimiter, line
/// breaks and a doubled quote for a quote). A trailing line break is ignored.
pub fn split_csv_fields(text: &str, delimiter: char, quote: char) -> Result<Vec<CsvField>, String> {
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&quote) {
            quoted = true;
            chars.next();
            loop {
                match chars.next() {
                    Some(c) if c == quote && chars.peek() == Some(&quote) => {
                        chars.next();
                        field.push(quote);
                    }
                    Some(c) if c == quote => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated CSV quoted field".into()),
                }
            }
            match chars.peek() {
                None => {}
                Some(&c) if c == delimiter => {}
                Some(&c) => {
                    return Err(format!(
                        "unexpected character {c:?} after a CSV quoted field"
                    ))
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == delimiter {
                    break;
                }
                if c == quote {
                    return Err("a quote inside an unquoted CSV field".into());
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(CsvField {
            text: field,
            quoted,
        });
        match chars.next() {
            None => return Ok(fields),
            Some(_) => continue, // the delimiter
        }
    }
}

/// [`split_csv_fields`] with `"` as the quote, an unquoted empty field as `None`.
pub fn split_csv_record(text: &str, delimiter: u8) -> Result<Vec<Option<String>>, String> {
    Ok(split_csv_fields(text, delimiter as char, '"')?
        .into_iter()
        .map(|f| (f.quoted || !f.text.is_empty()).then_some(f.text))
        .collect())
}

/// One row as a line of `format`, ended by a newline.
pub fn encode(format: &CopyFormat, datums: &[Datum], types: &[ScalarType]) -> Vec<u8> {
    let mut line = String::new();
    for (i, (datum, typ)) in datums.iter().zip(types).enumerate() {
        if i > 0 {
            line.push(format.delimiter);
        }
        if datum.is_null() {
            line.push_str(&format.null);
            continue;
        }
        let text = format_datum_in(datum, typ, &format.zone);
        match format.kind {
            CopyFormatKind::Text | CopyFormatKind::Binary => {
                for c in text.chars() {
                    match c {
                        '\\' => line.push_str("\\\\"),
                        '\t' => line.push_str("\\t"),
                        '\n' => line.push_str("\\n"),
                        '\r' => line.push_str("\\r"),
                        c if c == format.delimiter => {
                            line.push('\\');
                            line.push(c);
                        }
                        c => line.push(c),
                    }
                }
            }
            CopyFormatKind::Csv => line.push_str(&csv_field(format, &text)),
        }
    }
    line.push('\n');
    line.into_bytes()
}

/// The header line of a CSV COPY: the column names as fields.
pub fn encode_header(format: &CopyFormat, names: &[String]) -> Vec<u8> {
    let fields: Vec<String> = names.iter().map(|n| csv_field(format, n)).collect();
    let mut line = fields.join(&format.delimiter.to_string());
    line.push('\n');
    line.into_bytes()
}

/// A CSV field, quoted when it holds the delimiter, the quote, a line break, or equals
/// the null string (so that it reads back as a value).
fn csv_field(format: &CopyFormat, text: &str) -> String {
    let needs_quotes = text == format.null
        || text
            .chars()
            .any(|c| c == format.delimiter || c == format.quote || c == '\n' || c == '\r');
    if !needs_quotes {
        return text.to_string();
    }
    let q = format.quote.to_string();
    format!("{q}{}{q}", text.replace(&q, &format!("{q}{q}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(datum: Datum, _: usize) -> Result<Datum, SqlError> {
        Ok(datum)
    }

    fn columns<'a>(names: &'a [String], types: &'a [ScalarType]) -> CopyColumns<'a> {
        CopyColumns {
            relation: "t",
            names,
            types,
        }
    }

    #[test]
    fn text_format_escapes_and_nulls() {
        let names = vec!["a".to_string(), "b".to_string()];
        let types = [ScalarType::Int32, ScalarType::Text];
        let format = CopyFormat::new(CopyFormatKind::Text);
        let rows = decode(
            &format,
            &columns(&names, &types),
            b"1\tx\\ty\\\\z\n2\t\\N\n\\.\n3\tignored\n",
            &keep,
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Datum::Int32(1), Datum::String("x\ty\\z".into())],
                vec![Datum::Int32(2), Datum::Null],
            ]
        );
        let line = encode(&format, &rows[0], &types);
        assert_eq!(line, b"1\tx\\ty\\\\z\n");
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let names = vec!["id".to_string(), "amount".to_string()];
        let types = [ScalarType::Int32, ScalarType::Int32];
        let format = CopyFormat::new(CopyFormatKind::Csv);
        let err = decode(&format, &columns(&names, &types), b"1,2\n3,4\n5,x\n", &keep).unwrap_err();
        assert_eq!(err.sqlstate, SqlState::INVALID_TEXT_REPRESENTATION);
        assert_eq!(err.message, "invalid input syntax for type integer: \"x\"");
        assert_eq!(
            err.detail.as_deref(),
            Some("COPY t, line 3, column amount: \"x\"")
        );
        let err = decode(&format, &columns(&names, &types), b"1\n", &keep).unwrap_err();
        assert_eq!(err.message, "missing data for column \"amount\"");
        let err = decode(&format, &columns(&names, &types), b"1,2,3\n", &keep).unwrap_err();
        assert_eq!(err.sqlstate, SqlState::BAD_COPY_FILE_FORMAT);
    }

    #[test]
    fn csv_header_quotes_and_null_string() {
        let names = vec!["a".to_string(), "b".to_string()];
        let types = [ScalarType::Text, ScalarType::Text];
        let mut format = CopyFormat::new(CopyFormatKind::Csv);
        format.header = true;
        format.delimiter = ';';
        format.null = "NA".to_string();
        format.quote = '\'';
        let rows = decode(
            &format,
            &columns(&names, &types),
            b"a;b\n'x;\ny';NA\n'NA';''\n",
            &keep,
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Datum::String("x;\ny".into()), Datum::Null],
                vec![Datum::String("NA".into()), Datum::String(String::new())],
            ]
        );
        assert_eq!(encode(&format, &rows[0], &types), b"'x;\ny';NA\n");
        assert_eq!(encode(&format, &rows[1], &types), b"'NA';\n");
        assert_eq!(encode_header(&format, &names), b"a;b\n");
    }

    /// Every split of the data into two or three pieces decodes as the whole does:
    /// lines, CSV quoted fields holding line breaks, UTF-8 characters, `\r\n`, the
    /// header, the end marker and an error's line number.
    #[test]
    fn pieces_split_anywhere_decode_as_the_whole() {
        let names = vec!["a".to_string(), "b".to_string()];
        let types = [ScalarType::Int32, ScalarType::Text];
        let decode_pieces = |format: &CopyFormat, pieces: &[&[u8]]| {
            let columns = columns(&names, &types);
            let mut rows = Vec::new();
            let mut decoder = CopyDecoder::new(format.clone());
            for piece in pieces {
                decoder.push(&columns, piece, &keep, &mut |r| rows.push(r))?;
            }
            decoder.finish(&columns, &keep, &mut |r| rows.push(r))?;
            Ok::<_, SqlError>(rows)
        };
        let mut csv = CopyFormat::new(CopyFormatKind::Csv);
        csv.header = true;
        let cases: [(CopyFormat, &[u8]); 4] = [
            (
                CopyFormat::new(CopyFormatKind::Text),
                "1\tx\\ty\r\n2\t\\N\n3\tn\u{e9}e\n\\.\n4\tz".as_bytes(),
            ),
            (
                csv.clone(),
                "a,b\n1,\"x,\n\"\"y\"\"\"\n2,\n3,\"\u{e9}\r\n\"\n4,last".as_bytes(),
            ),
            (csv.clone(), b"a,b\n1,x\n2,\"y\n3,z\n"),
            (CopyFormat::new(CopyFormatKind::Text), b"1\tx\n2\ty\nx\tz\n"),
        ];
        for (format, data) in cases {
            let whole = decode_pieces(&format, &[data]);
            for i in 0..=data.len() {
                assert_eq!(
                    decode_pieces(&format, &[&data[..i], &data[i..]]),
                    whole,
                    "split at {i}"
                );
                for j in i..=data.len() {
                    assert_eq!(
                        decode_pieces(&format, &[&data[..i], &data[i..j], &data[j..]]),
                        whole,
                        "split at {i}, {j}"
                    );
                }
            }
        }
        let whole = decode_pieces(&csv, &[b"a,b\n1,\"x\ny\"\n2,w\n"]).unwrap();
        assert_eq!(
            whole,
            vec![
                vec![Datum::Int32(1), Datum::String("x\ny".into())],
                vec![Datum::Int32(2), Datum::String("w".into())],
            ]
        );
        let err = decode_pieces(&csv, &[b"a,b\n1,\"x\ny\"\nx,w\n"]).unwrap_err();
        assert_eq!(
            err.detail.as_deref(),
            Some("COPY t, line 4, column a: \"x\"")
        );
    }

    #[test]
    fn csv_records() {
        let f = |s: &str| split_csv_record(s, b',');
        assert_eq!(
            f("a,,\"\",\"x,\"\"y\"\"\"\n").unwrap(),
            vec![
                Some("a".into()),
                None,
                Some(String::new()),
                Some("x,\"y\"".into())
            ]
        );
        assert_eq!(f("").unwrap(), vec![None]);
        assert!(f("\"open").is_err());
        assert!(f("\"a\"b").is_err());
        assert_eq!(
            split_csv_record("1|2", b'|').unwrap(),
            vec![Some("1".into()), Some("2".into())]
        );
    }
}
