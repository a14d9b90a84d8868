//! String functions and pattern matching, as Postgres computes them on UTF-8 text.
//!
//! Positions and lengths count characters, not bytes (except `octet_length`).
//! `LIKE` matches the whole string with `%`, `_` and backslash escapes; `ILIKE` folds
//! both sides to lower case. Regular expressions use the `regex` crate's syntax, which
//! covers the common subset of Postgres' ARE (no back-references or look-around).
//! Results longer than [`MAX_VALUE_BYTES`] are `requested length too large`.

use std::cell::RefCell;
use std::collections::VecDeque;

use eddy_repr::Datum;
use md5::{Digest, Md5};

use super::cast::output_text;
use super::{unexpected, MAX_VALUE_BYTES};
use crate::error::EvalError;

fn text<'a>(func: &str, d: &'a Datum) -> Result<&'a str, EvalError> {
    match d {
        Datum::String(s) => Ok(s),
        other => Err(unexpected(func, std::slice::from_ref(other))),
    }
}

fn int_arg(func: &str, d: &Datum) -> Result<i64, EvalError> {
    match d {
        Datum::Int16(v) => Ok(*v as i64),
        Datum::Int32(v) => Ok(*v as i64),
        Datum::Int64(v) => Ok(*v),
        other => Err(unexpected(func, std::slice::from_ref(other))),
    }
}

fn too_large() -> EvalError {
    EvalError::ProgramLimitExceeded("requested length too large".into())
}

pub(super) fn lower(d: Datum) -> Result<Datum, EvalError> {
    Ok(Datum::String(text("lower", &d)?.to_lowercase()))
}

pub(super) fn upper(d: Datum) -> Result<Datum, EvalError> {
    Ok(Datum::String(text("upper", &d)?.to_uppercase()))
}

fn length_datum(n: usize) -> Datum {
    Datum::Int32(n.min(i32::MAX as usize) as i32)
}

pub(super) fn char_length(d: Datum) -> Result<Datum, EvalError> {
    match &d {
        Datum::String(s) => Ok(length_datum(s.chars().count())),
        Datum::Bytes(b) => Ok(length_datum(b.len())),
        other => Err(unexpected("char_length", std::slice::from_ref(other))),
    }
}

pub(super) fn octet_length(d: Datum) -> Result<Datum, EvalError> {
    match &d {
        Datum::String(s) => Ok(length_datum(s.len())),
        Datum::Bytes(b) => Ok(length_datum(b.len())),
        other => Err(unexpected("octet_length", std::slice::from_ref(other))),
    }
}

/// `btrim`/`ltrim`/`rtrim(s, chars)`: strips any character of `chars` from the chosen
/// ends.
pub(super) fn trim(s: Datum, chars: Datum, left: bool, right: bool) -> Result<Datum, EvalError> {
    let set: Vec<char> = text("trim", &chars)?.chars().collect();
    let s = text("trim", &s)?;
    let mut r = s;
    if left {
        r = r.trim_start_matches(|c| set.contains(&c));
    }
    if right {
        r = r.trim_end_matches(|c| set.contains(&c));
    }
    Ok(Datum::String(r.to_string()))
}

/// `a || b` on strings, byte strings, jsonb and arrays; a non-string operand of a
/// string concatenation contributes its output text.
pub(super) fn concat_op(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    match (a, b) {
        (Datum::Bytes(mut x), Datum::Bytes(y)) => {
            if x.len() + y.len() > MAX_VALUE_BYTES {
                return Err(too_large());
            }
            x.extend_from_slice(&y);
            Ok(Datum::Bytes(x))
        }
        (Datum::Jsonb(x), Datum::Jsonb(y)) => super::jsonb::concat(&x, &y),
        (Datum::Array(mut x), Datum::Array(y)) => {
            x.extend(y);
            Ok(Datum::Array(x))
        }
        (a @ Datum::String(_), b) | (a, b @ Datum::String(_)) => {
            let (x, y) = (output_text(&a), output_text(&b));
            if x.len() + y.len() > MAX_VALUE_BYTES {
                return Err(too_large());
            }
            Ok(Datum::String(x + &y))
        }
        (a, b) => Err(unexpected("||", &[a, b])),
    }
}

/// `concat(...)`: the output text of every non-NULL argument.
pub(super) fn concat_fn(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let mut out = String::new();
    for d in args.iter().filter(|d| !d.is_null()) {
        out.push_str(&output_text(d));
        if out.len() > MAX_VALUE_BYTES {
            return Err(too_large());
        }
    }
    Ok(Datum::String(out))
}

// ---------------------------------------------------------------------------------
// LIKE
// ---------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum LikeToken {
    /// `%`: any run of characters.
    Any,
    /// `_`: one character.
    One,
    Char(char),
}

fn like_tokens(pattern: &str) -> Result<Vec<LikeToken>, EvalError> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '%' => {
                if out.last() == Some(&LikeToken::Any) {
                    continue;
                }
                LikeToken::Any
            }
            '_' => LikeToken::One,
            '\\' => match chars.next() {
                Some(e) => LikeToken::Char(e),
                None => {
                    return Err(EvalError::InvalidEscapeSequence(
                        "LIKE pattern must not end with escape character".into(),
                    ))
                }
            },
            c => LikeToken::Char(c),
        });
    }
    Ok(out)
}

/// Whole-string LIKE matching with backtracking only over the last `%` (linear in
/// practice, quadratic at worst).
fn like_match(s: &[char], p: &[LikeToken]) -> bool {
    let (mut si, mut pi) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(LikeToken::Any) => {
                resume = Some((pi, si));
                pi += 1;
            }
            Some(LikeToken::One) => {
                si += 1;
                pi += 1;
            }
            Some(LikeToken::Char(c)) if *c == s[si] => {
                si += 1;
                pi += 1;
            }
            _ => match resume {
                Some((rp, rs)) => {
                    pi = rp + 1;
                    si = rs + 1;
                    resume = Some((rp, rs + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|t| *t == LikeToken::Any)
}

pub(super) fn like(s: Datum, pattern: Datum, case_insensitive: bool) -> Result<Datum, EvalError> {
    let (s, pattern) = (text("LIKE", &s)?, text("LIKE", &pattern)?);
    let (s, pattern) = if case_insensitive {
        (s.to_lowercase(), pattern.to_lowercase())
    } else {
        (s.to_string(), pattern.to_string())
    };
    let chars: Vec<char> = s.chars().collect();
    let matched = match like_tokens(&pattern) {
        Ok(tokens) => like_match(&chars, &tokens),
        // Postgres reports a trailing escape only when matching reaches it.
        Err(e) => {
            let body = &pattern[..pattern.len() - 1];
            let tokens = like_tokens(body)?;
            // The escape is reached with text left over when the rest of the pattern
            // matches a proper prefix.
            let reach = [&tokens[..], &[LikeToken::One, LikeToken::Any]].concat();
            let prefix_can_match = like_match(&chars, &reach);
            if prefix_can_match {
                return Err(e);
            }
            false
        }
    };
    Ok(Datum::Bool(matched))
}

// ---------------------------------------------------------------------------------
// Regular expressions
// ---------------------------------------------------------------------------------

/// How many compiled patterns each thread keeps.
const REGEX_CACHE_CAPACITY: usize = 64;

thread_local! {
    static REGEX_CACHE: RefCell<VecDeque<(String, bool, regex::Regex)>> =
        const { RefCell::new(VecDeque::new()) };
}

pub(crate) fn compile_regex(
    pattern: &str,
    case_insensitive: bool,
) -> Result<regex::Regex, EvalError> {
    let cached = REGEX_CACHE.with(|c| {
        c.borrow()
            .iter()
            .find(|(p, ci, _)| p == pattern && *ci == case_insensitive)
            .map(|(_, _, r)| r.clone())
    });
    if let Some(r) = cached {
        return Ok(r);
    }
    let r = regex::RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let reason = match &e {
                regex::Error::Syntax(msg) => {
                    let rust = msg
                        .lines()
                        .rev()
                        .find(|l| l.starts_with("error: "))
                        .map(|l| l.trim_start_matches("error: ").to_string())
                        .unwrap_or_else(|| msg.clone());
                    postgres_regex_reason(&rust)
                        .map(str::to_string)
                        .unwrap_or(rust)
                }
                other => other.to_string(),
            };
            EvalError::InvalidRegularExpression(format!("invalid regular expression: {reason}"))
        })?;
    REGEX_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= REGEX_CACHE_CAPACITY {
            c.pop_front();
        }
        c.push_back((pattern.to_string(), case_insensitive, r.clone()));
    });
    Ok(r)
}

/// Postgres' wording for the regex syntax errors both engines report.
fn postgres_regex_reason(rust: &str) -> Option<&'static str> {
    Some(match rust {
        "unclosed group" | "unopened group" => "parentheses () not balanced",
        "unclosed character class" => "brackets [] not balanced",
        "repetition operator missing expression" => "quantifier operand invalid",
        r if r.starts_with("invalid repetition count range") => "invalid repetition count(s)",
        r if r.starts_with("unclosed counted repetition") => "braces {} not balanced",
        _ => return None,
    })
}

pub(super) fn regex_match(
    s: Datum,
    pattern: Datum,
    case_insensitive: bool,
) -> Result<Datum, EvalError> {
    let (s, pattern) = (text("~", &s)?, text("~", &pattern)?);
    let r = compile_regex(pattern, case_insensitive)?;
    Ok(Datum::Bool(r.is_match(s)))
}

// ---------------------------------------------------------------------------------
// Positions and pieces
// ---------------------------------------------------------------------------------

/// `position(needle in haystack)`: 1-based character position, 0 when absent.
pub(super) fn position(needle: Datum, haystack: Datum) -> Result<Datum, EvalError> {
    let (n, h) = (text("position", &needle)?, text("position", &haystack)?);
    Ok(Datum::Int32(match h.find(n) {
        Some(byte) => h[..byte].chars().count() as i32 + 1,
        None => 0,
    }))
}

/// The byte offset of character `n` in `s` (`s.len()` past the end).
fn char_offset(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map(|(i, _)| i).unwrap_or(s.len())
}

/// `left(s, n)`: the first `n` characters; a negative `n` drops the last `|n|`.
pub(super) fn left(s: Datum, n: Datum) -> Result<Datum, EvalError> {
    let (s, n) = (text("left", &s)?, int_arg("left", &n)?);
    let len = s.chars().count() as i64;
    let keep = if n >= 0 { n.min(len) } else { (len + n).max(0) };
    Ok(Datum::String(
        s[..char_offset(s, keep as usize)].to_string(),
    ))
}

/// `right(s, n)`: the last `n` characters; a negative `n` drops the first `|n|`.
pub(super) fn right(s: Datum, n: Datum) -> Result<Datum, EvalError> {
    let (s, n) = (text("right", &s)?, int_arg("right", &n)?);
    let len = s.chars().count() as i64;
    let skip = if n >= 0 {
        (len - n).max(0)
    } else {
        n.saturating_neg().min(len)
    };
    Ok(Datum::String(
        s[char_offset(s, skip as usize)..].to_string(),
    ))
}

pub(super) fn repeat(s: Datum, n: Datum) -> Result<Datum, EvalError> {
    let (s, n) = (text("repeat", &s)?, int_arg("repeat", &n)?);
    if n <= 0 || s.is_empty() {
        return Ok(Datum::String(String::new()));
    }
    let total = (s.len() as u128) * (n as u128);
    if total > MAX_VALUE_BYTES as u128 {
        return Err(too_large());
    }
    Ok(Datum::String(s.repeat(n as usize)))
}

/// `substring(s from start [for count])` on text or bytea, 1-based; characters before
/// position 1 count toward `count` but produce nothing.
pub(super) fn substring(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let start = int_arg("substring", args.get(1).unwrap_or(&Datum::Null))?;
    let count = match args.get(2) {
        Some(d) => Some(int_arg("substring", d)?),
        None => None,
    };
    // The 0-based half-open range [from, to) of positions to keep.
    let from = (start.max(1) - 1) as u64;
    let to: Option<u64> = match count {
        Some(c) if c < 0 => return Err(EvalError::NegativeSubstringLength),
        Some(c) => {
            let end = start.saturating_add(c);
            if end < 1 {
                Some(0)
            } else {
                Some((end - 1) as u64)
            }
        }
        None => None,
    };
    let to = to.map(|t| t.max(from));
    match args.first() {
        Some(Datum::String(s)) => {
            let lo = char_offset(s, from as usize);
            let hi = match to {
                Some(t) => lo + char_offset(&s[lo..], (t - from) as usize),
                None => s.len(),
            };
            Ok(Datum::String(s[lo..hi].to_string()))
        }
        Some(Datum::Bytes(b)) => {
            let lo = (from as usize).min(b.len());
            let hi = to.map(|t| (t as usize).min(b.len())).unwrap_or(b.len());
            Ok(Datum::Bytes(b[lo..hi.max(lo)].to_vec()))
        }
        _ => Err(unexpected("substring", &args)),
    }
}

/// `replace(s, from, to)`: every occurrence; an empty `from` changes nothing.
pub(super) fn replace(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let [s, from, to] = args.as_slice() else {
        return Err(unexpected("replace", &args));
    };
    let (s, from, to) = (
        text("replace", s)?,
        text("replace", from)?,
        text("replace", to)?,
    );
    if from.is_empty() {
        return Ok(Datum::String(s.to_string()));
    }
    let count = s.matches(from).count();
    if s.len() as u128 + count as u128 * to.len() as u128 > MAX_VALUE_BYTES as u128 {
        return Err(too_large());
    }
    Ok(Datum::String(s.replace(from, to)))
}

/// `split_part(s, delimiter, n)`: the `n`th field (1-based; negative counts from the
/// end); out-of-range fields are empty.
pub(super) fn split_part(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let [s, delim, n] = args.as_slice() else {
        return Err(unexpected("split_part", &args));
    };
    let (s, delim, n) = (
        text("split_part", s)?,
        text("split_part", delim)?,
        int_arg("split_part", n)?,
    );
    if n == 0 {
        return Err(EvalError::InvalidParameterValue(
            "field position must not be zero".into(),
        ));
    }
    if s.is_empty() {
        return Ok(Datum::String(String::new()));
    }
    let fields: Vec<&str> = if delim.is_empty() {
        vec![s]
    } else {
        s.split(delim).collect()
    };
    let len = fields.len() as i64;
    let index = if n > 0 { n - 1 } else { len + n };
    let field = if (0..len).contains(&index) {
        fields[index as usize]
    } else {
        ""
    };
    Ok(Datum::String(field.to_string()))
}

/// `lpad`/`rpad(s, length [, fill])`: pads with `fill` (default a blank) or truncates
/// to `length` characters.
pub(super) fn pad(args: Vec<Datum>, left: bool) -> Result<Datum, EvalError> {
    let name = if left { "lpad" } else { "rpad" };
    let (s, len, fill) = match args.as_slice() {
        [s, len] => (text(name, s)?, int_arg(name, len)?, " "),
        [s, len, fill] => (text(name, s)?, int_arg(name, len)?, text(name, fill)?),
        _ => return Err(unexpected(name, &args)),
    };
    if len <= 0 {
        return Ok(Datum::String(String::new()));
    }
    let len = len as usize;
    let have = s.chars().count();
    if have >= len || fill.is_empty() {
        return Ok(Datum::String(s[..char_offset(s, len)].to_string()));
    }
    let max_char_bytes = fill.chars().map(char::len_utf8).max().unwrap_or(1);
    if (len as u128) * (max_char_bytes.max(4) as u128) > MAX_VALUE_BYTES as u128 {
        return Err(too_large());
    }
    let padding: String = fill.chars().cycle().take(len - have).collect();
    Ok(Datum::String(if left {
        padding + s
    } else {
        s.to_string() + &padding
    }))
}

/// `md5(text|bytea)` as 32 lowercase hex digits.
pub(super) fn md5(d: Datum) -> Result<Datum, EvalError> {
    let bytes: &[u8] = match &d {
        Datum::String(s) => s.as_bytes(),
        Datum::Bytes(b) => b,
        other => return Err(unexpected("md5", std::slice::from_ref(other))),
    };
    let digest = Md5::digest(bytes);
    Ok(Datum::String(
        digest.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

/// `string_to_array(text, delimiter [, null_string])`.
pub(super) fn string_to_array(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let Some(Datum::String(s)) = args.first() else {
        return Ok(Datum::Null);
    };
    let null_string = match args.get(2) {
        Some(Datum::String(n)) => Some(n.as_str()),
        _ => None,
    };
    let piece = |p: &str| match null_string {
        Some(n) if n == p => Datum::Null,
        _ => Datum::String(p.to_string()),
    };
    if s.is_empty() {
        return Ok(Datum::Array(vec![]));
    }
    let elems = match args.get(1) {
        Some(Datum::String(d)) if d.is_empty() => vec![piece(s)],
        Some(Datum::String(d)) => s.split(d.as_str()).map(piece).collect(),
        _ => s
            .char_indices()
            .map(|(i, c)| piece(&s[i..i + c.len_utf8()]))
            .collect(),
    };
    Ok(Datum::Array(elems))
}

/// The pieces of `s` between the matches of `pattern`, as Postgres'
/// `regexp_split_to_table` gives them: a zero-length match at the start or the end of
/// `s`, or right after the previous match, splits nothing.
pub(crate) fn regexp_split(s: &str, pattern: &regex::Regex) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut last = 0;
    for m in pattern.find_iter(s) {
        if m.is_empty() && (m.start() == 0 || m.start() == s.len() || m.start() == last) {
            continue;
        }
        pieces.push(s[last..m.start()].to_string());
        last = m.end();
    }
    pieces.push(s[last..].to_string());
    pieces
}

// ---------------------------------------------------------------------------------
// Regular expression functions
// ---------------------------------------------------------------------------------

/// The flags of a regular expression function that Eddy understands: `i` (case
/// insensitive), `c` (case sensitive, the default; the later of `i`/`c` wins) and `g`
/// (every match). Postgres' other flags (`n`, `s`, `x`, ...) are refused as unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RegexFlags {
    pub case_insensitive: bool,
    pub global: bool,
}

impl RegexFlags {
    /// Reads `flags` for the function `func`, refusing `g` unless `allow_global`, with
    /// Postgres' messages (`regexp_match() does not support the "global" option`).
    pub(crate) fn parse(func: &str, flags: &str, allow_global: bool) -> Result<Self, EvalError> {
        let mut out = RegexFlags::default();
        for flag in flags.chars() {
            match flag {
                'i' => out.case_insensitive = true,
                'c' => out.case_insensitive = false,
                'g' if allow_global => out.global = true,
                'g' => {
                    return Err(EvalError::InvalidParameterValue(format!(
                        "{func}() does not support the \"global\" option"
                    )))
                }
                other => {
                    return Err(EvalError::InvalidParameterValue(format!(
                        "invalid regular expression option: \"{other}\""
                    )))
                }
            }
        }
        Ok(out)
    }

    /// The flags in argument `i` of `args` (none when the function was called without
    /// them).
    fn from_arg(
        func: &str,
        args: &[Datum],
        i: usize,
        allow_global: bool,
    ) -> Result<Self, EvalError> {
        match args.get(i) {
            None => Ok(RegexFlags::default()),
            Some(d) => RegexFlags::parse(func, text(func, d)?, allow_global),
        }
    }
}

/// `regexp_replace(source, pattern, replacement [, flags])`. In `replacement`,
/// `\1`..`\9` insert a captured group (empty when it did not participate or does not
/// exist), `\&` the whole match, `\\` one backslash; any other backslash is literal.
pub(super) fn regexp_replace(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let name = "regexp_replace";
    let (s, pattern, replacement) = match args.as_slice() {
        [s, p, r] | [s, p, r, _] => (text(name, s)?, text(name, p)?, text(name, r)?),
        _ => return Err(unexpected(name, &args)),
    };
    let flags = RegexFlags::from_arg(name, &args, 3, true)?;
    let regex = compile_regex(pattern, flags.case_insensitive)?;
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for caps in regex.captures_iter(s) {
        let whole = caps.get(0).expect("group 0 always matches");
        out.push_str(&s[last..whole.start()]);
        expand_replacement(&mut out, replacement, &caps);
        if out.len() > MAX_VALUE_BYTES {
            return Err(too_large());
        }
        last = whole.end();
        if !flags.global {
            break;
        }
    }
    out.push_str(&s[last..]);
    Ok(Datum::String(out))
}

/// Appends `replacement` to `out` with its back-references expanded from `caps`.
fn expand_replacement(out: &mut String, replacement: &str, caps: &regex::Captures) {
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some(&d @ '1'..='9') => {
                chars.next();
                let group = d as usize - '0' as usize;
                if let Some(m) = caps.get(group) {
                    out.push_str(m.as_str());
                }
            }
            Some('&') => {
                chars.next();
                out.push_str(caps.get(0).map_or("", |m| m.as_str()));
            }
            Some('\\') => {
                chars.next();
                out.push('\\');
            }
            _ => out.push('\\'),
        }
    }
}

/// `regexp_match(string, pattern [, flags])`.
pub(super) fn regexp_match(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let name = "regexp_match";
    let (s, pattern) = match args.as_slice() {
        [s, p] | [s, p, _] => (text(name, s)?, text(name, p)?),
        _ => return Err(unexpected(name, &args)),
    };
    let flags = RegexFlags::from_arg(name, &args, 2, false)?;
    let regex = compile_regex(pattern, flags.case_insensitive)?;
    let Some(caps) = regex.captures(s) else {
        return Ok(Datum::Null);
    };
    let group =
        |m: Option<regex::Match>| m.map_or(Datum::Null, |m| Datum::String(m.as_str().into()));
    Ok(Datum::Array(if caps.len() == 1 {
        vec![group(caps.get(0))]
    } else {
        caps.iter().skip(1).map(group).collect()
    }))
}

/// `regexp_matches(string, pattern [, flags])`: for the first match (every match with
/// flag `g`), its captured groups as `text[]` (the whole match when there are no
/// groups; an unmatched group is NULL). A NULL argument gives no rows.
pub(crate) fn regexp_matches(args: &[Datum]) -> Result<Vec<Datum>, EvalError> {
    let name = "regexp_matches";
    if args.iter().any(Datum::is_null) {
        return Ok(vec![]);
    }
    let (s, pattern) = match args {
        [s, p] | [s, p, _] => (text(name, s)?, text(name, p)?),
        _ => return Err(unexpected(name, args)),
    };
    let flags = RegexFlags::from_arg(name, args, 2, true)?;
    let regex = compile_regex(pattern, flags.case_insensitive)?;
    let group =
        |m: Option<regex::Match>| m.map_or(Datum::Null, |m| Datum::String(m.as_str().into()));
    let groups = |caps: regex::Captures| {
        Datum::Array(if caps.len() == 1 {
            vec![group(caps.get(0))]
        } else {
            caps.iter().skip(1).map(group).collect()
        })
    };
    Ok(if flags.global {
        regex.captures_iter(s).map(groups).collect()
    } else {
        regex.captures(s).map(groups).into_iter().collect()
    })
}

/// `regexp_split_to_array(string, pattern [, flags])`: the pieces
/// `regexp_split_to_table` gives, as `text[]`.
pub(super) fn regexp_split_to_array(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let name = "regexp_split_to_array";
    let (s, pattern) = match args.as_slice() {
        [s, p] | [s, p, _] => (text(name, s)?, text(name, p)?),
        _ => return Err(unexpected(name, &args)),
    };
    let flags = RegexFlags::from_arg(name, &args, 2, false)?;
    let regex = compile_regex(pattern, flags.case_insensitive)?;
    Ok(Datum::Array(
        regexp_split(s, &regex)
            .into_iter()
            .map(Datum::String)
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------
// Characters
// ---------------------------------------------------------------------------------

/// `initcap(text)`: a letter or digit after another letter or digit is lower case,
/// any other upper case.
pub(super) fn initcap(d: Datum) -> Result<Datum, EvalError> {
    let s = text("initcap", &d)?;
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        if in_word {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        in_word = c.is_alphanumeric();
    }
    Ok(Datum::String(out))
}

pub(super) fn reverse(d: Datum) -> Result<Datum, EvalError> {
    Ok(Datum::String(text("reverse", &d)?.chars().rev().collect()))
}

/// `chr(n)`: the character with code point `n` (UTF-8 databases), with Postgres'
/// errors for negative numbers (22023), zero, surrogates and numbers beyond Unicode
/// (54000).
pub(super) fn chr(d: Datum) -> Result<Datum, EvalError> {
    let n = int_arg("chr", &d)?;
    let limit = |msg: String| Err(EvalError::ProgramLimitExceeded(msg));
    if n < 0 {
        return Err(EvalError::InvalidParameterValue(
            "character number must be positive".into(),
        ));
    }
    if n == 0 {
        return limit("null character not permitted".into());
    }
    if n > 0x10FFFF {
        return limit(format!("requested character too large for encoding: {n}"));
    }
    match char::from_u32(n as u32) {
        Some(c) => Ok(Datum::String(c.to_string())),
        None => limit(format!("requested character not valid for encoding: {n}")),
    }
}

/// `ascii(text)`: the code point of the first character, 0 for an empty text.
pub(super) fn ascii(d: Datum) -> Result<Datum, EvalError> {
    let s = text("ascii", &d)?;
    Ok(Datum::Int32(s.chars().next().map_or(0, |c| c as i32)))
}

pub(super) fn starts_with(s: Datum, prefix: Datum) -> Result<Datum, EvalError> {
    let (s, prefix) = (text("starts_with", &s)?, text("starts_with", &prefix)?);
    Ok(Datum::Bool(s.starts_with(prefix)))
}

/// `translate(string, from, to)`: a character of `string` found in `from` (its first
/// occurrence there) becomes the character at the same position in `to`, or is
/// dropped when `to` is shorter.
pub(super) fn translate(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let [s, from, to] = args.as_slice() else {
        return Err(unexpected("translate", &args));
    };
    let (s, from, to) = (
        text("translate", s)?,
        text("translate", from)?,
        text("translate", to)?,
    );
    let from: Vec<char> = from.chars().collect();
    let to: Vec<char> = to.chars().collect();
    let out = s
        .chars()
        .filter_map(|c| match from.iter().position(|&f| f == c) {
            Some(i) => to.get(i).copied(),
            None => Some(c),
        })
        .collect();
    Ok(Datum::String(out))
}
