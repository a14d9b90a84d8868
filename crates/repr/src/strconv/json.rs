//! `jsonb` values: parsing (`jsonb_in`), canonical text (`jsonb_out`) and navigation.
//!
//! A [`JsonbValue`] is always canonical, as Postgres stores jsonb:
//! - object keys are unique (the last duplicate wins) and ordered by byte length, then
//!   bytewise;
//! - numbers are `numeric` text: `1e2` is `100`, `1.50` keeps its scale, `-0` is `0`;
//! - strings hold no `\u0000`.
//!
//! So the canonical text of a value identifies it: two jsonb datums are equal exactly
//! when their texts are, which is what lets [`crate::Datum::Jsonb`] store the text.

use std::borrow::Cow;
use std::fmt;

use super::{scan_decimal, ParseError, ParseErrorKind};

/// The deepest nesting accepted, so that parsing and printing stay within the stack.
pub const JSONB_MAX_DEPTH: usize = 512;

/// A canonical jsonb value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonbValue {
    Null,
    Bool(bool),
    /// The number's canonical `numeric` text.
    Number(String),
    String(String),
    Array(Vec<JsonbValue>),
    /// Entries in canonical key order, keys unique.
    Object(Vec<(String, JsonbValue)>),
}

/// A field's value as [`JsonbValue::visit_object`] passes it on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonField<'a> {
    Null,
    Bool(bool),
    /// A valid JSON number as written (not canonical: see [`canonical_number`]).
    Number(&'a str),
    String(Cow<'a, str>),
    /// An array or object.
    Nested(JsonbValue),
}

/// Postgres' jsonb key order: shorter keys first, then bytewise.
pub fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

impl JsonbValue {
    /// Parses JSON text (RFC 8259, as Postgres' `json` lexer accepts it) into a
    /// canonical value.
    pub fn parse(s: &str) -> Result<JsonbValue, ParseError> {
        let mut p = Parser {
            src: s,
            b: s.as_bytes(),
            i: 0,
        };
        let v = p.value(0)?;
        p.skip_ws();
        if p.i < p.b.len() {
            let tok = p.token_text()?;
            return Err(syntax_error(format!(
                "Expected end of input, but found \"{tok}\"."
            )));
        }
        Ok(v)
    }

    /// Reads JSON text whose top level is an object, calling `field` with each of its
    /// fields in document order, without building the object: strings without escapes
    /// and numbers are borrowed from `text`. Accepts and rejects exactly what
    /// [`JsonbValue::parse`] does, so a caller may fall back to it for the error message.
    ///
    /// Returns `Ok(false)` (having called nothing) when the top level is not an object.
    /// Duplicate keys are all passed on; `JsonbValue::parse` would keep the last.
    pub fn visit_object<'a>(
        text: &'a str,
        mut field: impl FnMut(Cow<'a, str>, JsonField<'a>),
    ) -> Result<bool, ParseError> {
        let mut p = Parser {
            src: text,
            b: text.as_bytes(),
            i: 0,
        };
        p.skip_ws();
        if p.b.get(p.i) != Some(&b'{') {
            return Ok(false);
        }
        p.i += 1;
        p.skip_ws();
        if p.b.get(p.i) == Some(&b'}') {
            p.i += 1;
        } else {
            loop {
                p.skip_ws();
                if p.b.get(p.i) != Some(&b'"') {
                    return Err(p.expected("string"));
                }
                let key = p.borrowed_string()?;
                p.skip_ws();
                if p.b.get(p.i) != Some(&b':') {
                    return Err(p.expected("\":\""));
                }
                p.i += 1;
                let value = p.field_value()?;
                field(key, value);
                p.skip_ws();
                match p.b.get(p.i) {
                    Some(b',') => p.i += 1,
                    Some(b'}') => {
                        p.i += 1;
                        break;
                    }
                    _ => return Err(p.expected("\",\" or \"}\"")),
                }
            }
        }
        p.skip_ws();
        if p.i < p.b.len() {
            let tok = p.token_text()?;
            return Err(syntax_error(format!(
                "Expected end of input, but found \"{tok}\"."
            )));
        }
        Ok(true)
    }

    /// Builds an object from entries in any order; the last of duplicate keys wins.
    pub fn object(mut entries: Vec<(String, JsonbValue)>) -> JsonbValue {
        // A stable sort keeps duplicates in input order, so the last one is kept.
        entries.sort_by(|a, b| key_order(&a.0, &b.0));
        let mut out: Vec<(String, JsonbValue)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => out.push((k, v)),
            }
        }
        JsonbValue::Object(out)
    }

    /// `jsonb_typeof`: `object`, `array`, `string`, `number`, `boolean` or `null`.
    pub fn type_name(&self) -> &'static str {
        match self {
            JsonbValue::Null => "null",
            JsonbValue::Bool(_) => "boolean",
            JsonbValue::Number(_) => "number",
            JsonbValue::String(_) => "string",
            JsonbValue::Array(_) => "array",
            JsonbValue::Object(_) => "object",
        }
    }

    /// `jsonb -> text`: the value of `key` when this is an object holding it.
    pub fn get_key(&self, key: &str) -> Option<&JsonbValue> {
        match self {
            JsonbValue::Object(entries) => entries
                .binary_search_by(|(k, _)| key_order(k, key))
                .ok()
                .map(|i| &entries[i].1),
            _ => None,
        }
    }

    /// `jsonb -> int`: the element at `index` when this is an array; a negative index
    /// counts from the end.
    pub fn get_index(&self, index: i64) -> Option<&JsonbValue> {
        match self {
            JsonbValue::Array(elems) => {
                let len = elems.len() as i64;
                let i = if index < 0 { len + index } else { index };
                if (0..len).contains(&i) {
                    elems.get(i as usize)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// `->>`: strings unquoted, JSON `null` as SQL NULL (`None`), anything else as its
    /// canonical text.
    pub fn to_text(&self) -> Option<String> {
        match self {
            JsonbValue::Null => None,
            JsonbValue::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

/// Writes `s` as a JSON string literal, escaped as Postgres' `escape_json` does.
pub fn write_json_string(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl fmt::Display for JsonbValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonbValue::Null => f.write_str("null"),
            JsonbValue::Bool(b) => f.write_str(if *b { "true" } else { "false" }),
            JsonbValue::Number(n) => f.write_str(n),
            JsonbValue::String(s) => write_json_string(f, s),
            JsonbValue::Array(elems) => {
                f.write_str("[")?;
                for (i, e) in elems.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str("]")
            }
            JsonbValue::Object(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_json_string(f, k)?;
                    write!(f, ": {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

fn syntax_error(detail: String) -> ParseError {
    ParseError::new(
        ParseErrorKind::InvalidTextRepresentation,
        "invalid input syntax for type json",
    )
    .with_detail(detail)
}

fn unexpected_end() -> ParseError {
    syntax_error("The input string ended unexpectedly.".into())
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
}

fn is_json_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

impl<'a> Parser<'a> {
    fn skip_ws(&mut self) {
        while self.i < self.b.len() && is_json_ws(self.b[self.i]) {
            self.i += 1;
        }
    }

    /// The text of the token at the current position, for error details; an invalid
    /// token is itself an error.
    fn token_text(&self) -> Result<String, ParseError> {
        let b = self.b;
        let i = self.i;
        match b.get(i) {
            None => Err(unexpected_end()),
            Some(b'{' | b'}' | b'[' | b']' | b',' | b':') => Ok((b[i] as char).to_string()),
            Some(b'"') => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                Ok(self.src[i..(j + 1).min(b.len())].to_string())
            }
            Some(&first) => {
                let numberish = first == b'-' || first.is_ascii_digit();
                let mut j = i;
                while j < b.len()
                    && (is_alnum(b[j]) || (numberish && matches!(b[j], b'-' | b'+' | b'.')))
                {
                    j += 1;
                }
                let tok = self.token_slice(i, j);
                match tok.as_str() {
                    "true" | "false" | "null" => Ok(tok),
                    _ if scan_json_number(tok.as_bytes()) == Some(tok.len()) => Ok(tok),
                    _ => Err(syntax_error(format!("Token \"{tok}\" is invalid."))),
                }
            }
        }
    }

    fn token_slice(&self, i: usize, j: usize) -> String {
        if j == i {
            // A lone non-token character.
            self.src[i..]
                .chars()
                .next()
                .map(String::from)
                .unwrap_or_default()
        } else {
            String::from_utf8_lossy(&self.b[i..j]).into_owned()
        }
    }

    fn expected(&self, what: &str) -> ParseError {
        match self.token_text() {
            Ok(tok) => syntax_error(format!("Expected {what}, but found \"{tok}\".")),
            Err(e) => e,
        }
    }

    fn value(&mut self, depth: usize) -> Result<JsonbValue, ParseError> {
        if depth > JSONB_MAX_DEPTH {
            return Err(ParseError::new(
                ParseErrorKind::StatementTooComplex,
                "stack depth limit exceeded",
            )
            .with_detail(format!(
                "jsonb values nest at most {JSONB_MAX_DEPTH} levels deep."
            )));
        }
        self.skip_ws();
        match self.b.get(self.i) {
            None => Err(unexpected_end()),
            Some(b'{') => {
                self.i += 1;
                let mut entries = Vec::new();
                self.skip_ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(JsonbValue::Object(entries));
                }
                loop {
                    self.skip_ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(self.expected("string"));
                    }
                    let key = self.string()?;
                    self.skip_ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(self.expected("\":\""));
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    entries.push((key, v));
                    self.skip_ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        _ => return Err(self.expected("\",\" or \"}\"")),
                    }
                }
                Ok(JsonbValue::object(entries))
            }
            Some(b'[') => {
                self.i += 1;
                let mut elems = Vec::new();
                self.skip_ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(JsonbValue::Array(elems));
                }
                loop {
                    elems.push(self.value(depth + 1)?);
                    self.skip_ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            break;
                        }
                        _ => return Err(self.expected("\",\" or \"]\"")),
                    }
                }
                Ok(JsonbValue::Array(elems))
            }
            Some(b'"') => Ok(JsonbValue::String(self.string()?)),
            Some(b'}' | b']' | b',' | b':') => Err(self.expected("JSON value")),
            Some(_) => {
                let tok = self.token_text()?;
                self.i += tok.len();
                match tok.as_str() {
                    "true" => Ok(JsonbValue::Bool(true)),
                    "false" => Ok(JsonbValue::Bool(false)),
                    "null" => Ok(JsonbValue::Null),
                    num => canonical_number(num).map(JsonbValue::Number),
                }
            }
        }
    }

    /// A field value of [`JsonbValue::visit_object`]: scalars borrowed, nesting parsed.
    fn field_value(&mut self) -> Result<JsonField<'a>, ParseError> {
        self.skip_ws();
        match self.b.get(self.i) {
            Some(b'{' | b'[') => self.value(1).map(JsonField::Nested),
            Some(b'"') => self.borrowed_string().map(JsonField::String),
            None | Some(b'}' | b']' | b',' | b':') => self.value(1).map(|_| JsonField::Null),
            Some(_) => {
                let end = self.token_end();
                let token = &self.src[self.i..end];
                let field = match token {
                    "true" => JsonField::Bool(true),
                    "false" => JsonField::Bool(false),
                    "null" => JsonField::Null,
                    // An exponent or a huge number may overflow `numeric`, which the
                    // canonical form finds; a plain one cannot.
                    _ if token.len() <= 1000
                        && !token.contains(['e', 'E'])
                        && scan_json_number(token.as_bytes()) == Some(token.len()) =>
                    {
                        JsonField::Number(token)
                    }
                    _ => {
                        // Invalid tokens and overflows fail here as `parse` fails.
                        self.value(1)?;
                        return Ok(JsonField::Number(token));
                    }
                };
                self.i = end;
                Ok(field)
            }
        }
    }

    /// The end of the bare token (literal or number) at the current position, by the
    /// rule [`Parser::token_text`] uses.
    fn token_end(&self) -> usize {
        let b = self.b;
        let numberish = b[self.i] == b'-' || b[self.i].is_ascii_digit();
        let mut j = self.i;
        while j < b.len() && (is_alnum(b[j]) || (numberish && matches!(b[j], b'-' | b'+' | b'.'))) {
            j += 1;
        }
        j
    }

    /// A string literal at the current `"`, borrowed when it holds no escapes.
    fn borrowed_string(&mut self) -> Result<Cow<'a, str>, ParseError> {
        let b = self.b;
        let start = self.i + 1;
        let mut j = start;
        while j < b.len() && b[j] != b'"' && b[j] != b'\\' && b[j] >= 0x20 {
            j += 1;
        }
        if b.get(j) == Some(&b'"') {
            self.i = j + 1;
            return Ok(Cow::Borrowed(&self.src[start..j]));
        }
        self.string().map(Cow::Owned)
    }

    /// Reads a string literal at the current `"`.
    fn string(&mut self) -> Result<String, ParseError> {
        let b = self.b;
        self.i += 1;
        let mut out = String::new();
        let mut pending_high: Option<u32> = None;
        loop {
            let Some(&c) = b.get(self.i) else {
                return Err(unexpected_end());
            };
            if pending_high.is_some() && c != b'\\' {
                return Err(syntax_error(
                    "Unicode low surrogate must follow a high surrogate.".into(),
                ));
            }
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let Some(&e) = b.get(self.i + 1) else {
                        return Err(unexpected_end());
                    };
                    self.i += 2;
                    if pending_high.is_some() && e != b'u' {
                        return Err(syntax_error(
                            "Unicode low surrogate must follow a high surrogate.".into(),
                        ));
                    }
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hex = b
                                .get(self.i..self.i + 4)
                                .filter(|h| h.iter().all(|d| d.is_ascii_hexdigit()));
                            let Some(hex) = hex else {
                                return Err(syntax_error(
                                    "\"\\u\" must be followed by four hexadecimal digits.".into(),
                                ));
                            };
                            let code =
                                u32::from_str_radix(std::str::from_utf8(hex).unwrap_or("0"), 16)
                                    .unwrap_or(0);
                            self.i += 4;
                            match (code, pending_high) {
                                (0xD800..=0xDBFF, None) => pending_high = Some(code),
                                (0xD800..=0xDBFF, Some(_)) => {
                                    return Err(syntax_error(
                                        "Unicode high surrogate must not follow a high surrogate."
                                            .into(),
                                    ))
                                }
                                (0xDC00..=0xDFFF, Some(high)) => {
                                    let cp = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00);
                                    out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                                    pending_high = None;
                                }
                                (0xDC00..=0xDFFF, None) => {
                                    return Err(syntax_error(
                                        "Unicode low surrogate must follow a high surrogate."
                                            .into(),
                                    ))
                                }
                                (0, _) => {
                                    return Err(ParseError::new(
                                        ParseErrorKind::UntranslatableCharacter,
                                        "unsupported Unicode escape sequence",
                                    )
                                    .with_detail("\\u0000 cannot be converted to text."))
                                }
                                (_, Some(_)) => {
                                    return Err(syntax_error(
                                        "Unicode low surrogate must follow a high surrogate."
                                            .into(),
                                    ))
                                }
                                (cp, None) => out.push(char::from_u32(cp).unwrap_or('\u{FFFD}')),
                            }
                        }
                        _ => {
                            let esc = self.src[self.i - 1..].chars().next().unwrap_or('?');
                            return Err(syntax_error(format!(
                                "Escape sequence \"\\{esc}\" is invalid."
                            )));
                        }
                    }
                }
                c if c < 0x20 => {
                    return Err(syntax_error(format!(
                        "Character with value 0x{c:02x} must be escaped."
                    )))
                }
                _ => {
                    // Copy a run of ordinary characters (valid UTF-8 from &str).
                    let start = self.i;
                    while self.i < b.len()
                        && b[self.i] != b'"'
                        && b[self.i] != b'\\'
                        && b[self.i] >= 0x20
                    {
                        self.i += 1;
                    }
                    out.push_str(&self.src[start..self.i]);
                }
            }
        }
    }
}

/// The length of the JSON number at the start of `b`, if `b` starts with one.
fn scan_json_number(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    Some(i)
}

/// The canonical numeric text of a (valid) JSON number: `1e2` is `100`, `-0` is `0`.
pub fn canonical_number(num: &str) -> Result<String, ParseError> {
    match scan_decimal(num) {
        Some(Ok(text)) => Ok(text.to_numeric_string()),
        _ => Err(ParseError::new(
            ParseErrorKind::NumericValueOutOfRange,
            "value overflows numeric format",
        )),
    }
}
