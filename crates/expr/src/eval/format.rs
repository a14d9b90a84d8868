//! `format(formatstr, ...)`, as Postgres' `text_format` reads its format string.
//!
//! A specifier is `%[position$][-][width]type`: `position` (1-based) picks an argument,
//! after which unnumbered specifiers continue with the next one; `width` (digits, `*`
//! or `*position$`, taken from an argument) pads to that many characters, on the left,
//! or on the right with `-` or a negative width. Types: `s` (the value's text, NULL
//! as nothing), `I` (quoted as an identifier when needed, NULL an error), `L` (quoted as
//! a literal, NULL as `NULL`); `%%` is one `%`. Errors are Postgres' (22023, 22004).

use eddy_repr::Datum;

use super::array::quote_ident;
use super::cast::output_text;
use super::{unexpected, MAX_VALUE_BYTES};
use crate::error::EvalError;

fn bad_format(message: String) -> EvalError {
    EvalError::InvalidParameterValue(message)
}

fn unterminated() -> EvalError {
    bad_format("unterminated format() type specifier".into())
}

fn too_few() -> EvalError {
    bad_format("too few arguments for format()".into())
}

/// `s` quoted as a SQL literal, as `quote_literal` does: quotes doubled, and with a
/// backslash in `s` the `E'...'` form with backslashes doubled.
pub(crate) fn quote_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    if s.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Reads a decimal number at `chars[*i..]`, if there is one.
fn read_number(chars: &[char], i: &mut usize) -> Result<Option<usize>, EvalError> {
    let start = *i;
    let mut n: usize = 0;
    while let Some(d) = chars.get(*i).and_then(|c| c.to_digit(10)) {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(d as usize))
            .filter(|n| *n <= i32::MAX as usize)
            .ok_or_else(|| bad_format("number is out of range".into()))?;
        *i += 1;
    }
    Ok((*i > start).then_some(n))
}

/// An argument position written `n$`: 1-based, checked.
fn position(n: usize) -> Result<usize, EvalError> {
    if n == 0 {
        return Err(bad_format(
            "format specifies argument 0, but arguments are numbered from 1".into(),
        ));
    }
    Ok(n)
}

/// The arguments after the format string, taken in order or by position.
struct Args<'a> {
    values: &'a [Datum],
    /// The 1-based number of the last argument used.
    last: usize,
}

impl Args<'_> {
    fn take(&mut self, at: Option<usize>) -> Result<&Datum, EvalError> {
        let n = at.unwrap_or(self.last + 1);
        self.last = n;
        self.values.get(n - 1).ok_or_else(too_few)
    }
}

pub(super) fn format(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let Some(fmt) = args.first() else {
        return Err(unexpected("format", &args));
    };
    let fmt: Vec<char> = match fmt {
        Datum::Null => return Ok(Datum::Null),
        Datum::String(s) => s.chars().collect(),
        other => return Err(unexpected("format", std::slice::from_ref(other))),
    };
    let mut args = Args {
        values: &args[1..],
        last: 0,
    };
    let mut out = String::new();
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        if c != '%' {
            out.push(c);
            continue;
        }
        if fmt.get(i) == Some(&'%') {
            out.push('%');
            i += 1;
            continue;
        }
        // An optional `n$` argument position.
        let mut at = None;
        let save = i;
        if let Some(n) = read_number(&fmt, &mut i)? {
            if fmt.get(i) == Some(&'$') {
                at = Some(position(n)?);
                i += 1;
            } else {
                i = save;
            }
        }
        let mut left_align = false;
        if fmt.get(i) == Some(&'-') {
            left_align = true;
            i += 1;
        }
        // The width: digits, or `*` / `*n$` for an argument (read after the type is
        // known to be valid, as Postgres does).
        let mut width = None;
        let mut width_arg = None;
        if fmt.get(i) == Some(&'*') {
            i += 1;
            let save = i;
            width_arg = Some(None);
            if let Some(n) = read_number(&fmt, &mut i)? {
                if fmt.get(i) == Some(&'$') {
                    width_arg = Some(Some(position(n)?));
                    i += 1;
                } else {
                    i = save;
                }
            }
        } else if let Some(w) = read_number(&fmt, &mut i)? {
            width = Some(w);
        }
        let Some(&typ) = fmt.get(i) else {
            return Err(unterminated());
        };
        i += 1;
        if !matches!(typ, 's' | 'I' | 'L') {
            return Err(bad_format(format!(
                "unrecognized format() type specifier \"{typ}\""
            )));
        }
        if let Some(width_at) = width_arg {
            let w = match args.take(width_at)? {
                Datum::Null => 0,
                Datum::Int16(v) => *v as i64,
                Datum::Int32(v) => *v as i64,
                Datum::Int64(v) => *v,
                other => output_text(other)
                    .parse::<i64>()
                    .map_err(|_| bad_format("width argument must be an integer".into()))?,
            };
            if w < 0 {
                left_align = true;
            }
            width = Some(w.unsigned_abs() as usize);
        }
        let value = args.take(at)?;
        let text = match typ {
            's' => match value {
                Datum::Null => String::new(),
                v => output_text(v),
            },
            'I' => match value {
                Datum::Null => {
                    return Err(EvalError::NullValueNotAllowed(
                        "null values cannot be formatted as an SQL identifier".into(),
                    ))
                }
                v => quote_ident(&output_text(v)),
            },
            // 'L'
            _ => match value {
                Datum::Null => "NULL".to_string(),
                v => quote_literal(&output_text(v)),
            },
        };
        let pad = width.unwrap_or(0).saturating_sub(text.chars().count());
        if out.len() + text.len() + pad > MAX_VALUE_BYTES {
            return Err(EvalError::ProgramLimitExceeded(
                "requested length too large".into(),
            ));
        }
        if left_align {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&text);
        }
    }
    Ok(Datum::String(out))
}
