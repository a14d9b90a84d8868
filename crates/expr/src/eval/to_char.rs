//! `to_char`, `to_timestamp(text, format)` and `to_date`, as Postgres' `formatting.c`
//! reads their templates, for the common patterns.
//!
//! A template is a sequence of patterns and literal text. Date/time patterns:
//! `YYYY`, `Y,YYY`, `YYY`, `YY`, `Y`, `IYYY`, `CC`, `Q`, `MM`, `Month`/`MONTH`/`month`
//! (blank-padded to 9), `Mon`/`MON`/`mon`, `DD`, `DDD`, `D`, `ID`, `Day`/`DAY`/`day`
//! (padded to 9), `Dy`/`DY`/`dy`, `W`, `WW`, `IW`, `J`, `HH`/`HH12`, `HH24`, `MI`, `SS`,
//! `SSSS`, `MS`, `US`, `FF1`..`FF6`, `AM`/`PM`/`A.M.`/`P.M.` (and lower case),
//! `BC`/`AD`/`B.C.`/`A.D.` (and lower case), `TZ`/`tz` and `OF`; the lower-case
//! spellings of the numeric ones work too. An `FM` prefix drops a pattern's padding
//! (leading zeros, trailing blanks) and a `TH`/`th` suffix adds the ordinal suffix.
//! Text in double quotes is literal, and a backslash makes the next character literal.
//!
//! Numbers: `9` (a digit, blank when a leading zero), `0` (a digit, zero-padded),
//! `.`/`D` (the decimal point), `,`/`G` (a separator, blank before the first digit) and
//! the `FM` prefix (no padding, no trailing zeros from `9`s); a sign position leads the
//! result. A number with more integer digits than the template has becomes `#`s.
//! Other number patterns (`S`, `MI`, `PR`, `EEEE`, `RN`, ...) are refused with 0A000.
//!
//! `to_timestamp`/`to_date` read the same date/time patterns: blanks before a field are
//! skipped, a separator in the template skips one separator in the input, numeric fields
//! read up to their width (`YYYY` all its digits unless another numeric field follows),
//! and input that ends early leaves the remaining fields at their defaults (year 1 BC,
//! January 1, midnight, as Postgres). A timestamptz is shown in the session time zone
//! ([`to_char_in`]; `TZ` its abbreviation, `OF` its offset).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use eddy_repr::strconv::datetime::days_in_month;
use eddy_repr::strconv::{ParseError, ParseErrorKind};
use eddy_repr::zone::{push_offset, TimeZone};
use eddy_repr::{Datum, Interval};

use super::unexpected;
use crate::error::EvalError;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// How a name pattern capitalizes (`MONTH`, `Month`, `month`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Upper,
    Title,
    Lower,
}

impl Case {
    fn apply(self, s: &str) -> String {
        match self {
            Case::Upper => s.to_uppercase(),
            Case::Title => s.to_string(),
            Case::Lower => s.to_lowercase(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Hh24,
    Hh12,
    Mi,
    Ss,
    Ssss,
    Ms,
    Us,
    /// `FFn`: the first n digits of the microseconds.
    Ff(u8),
    /// `AM`/`PM` (`dots`: `A.M.`).
    Meridiem {
        case: Case,
        dots: bool,
    },
    /// `BC`/`AD` (`dots`: `B.C.`).
    Era {
        case: Case,
        dots: bool,
    },
    YCommaYyy,
    Yyyy,
    Yyy,
    Yy,
    Y,
    Iyyy,
    Cc,
    Q,
    Mm,
    Month(Case),
    Mon(Case),
    Dd,
    Ddd,
    D,
    Id,
    Day(Case),
    Dy(Case),
    W,
    Ww,
    Iw,
    J,
    Tz(Case),
    Of,
}

impl Field {
    /// The digits a numeric field reads in `to_timestamp` (`None`: not numeric, or
    /// any number of digits).
    fn width(self) -> Option<usize> {
        Some(match self {
            Field::Hh24 | Field::Hh12 | Field::Mi | Field::Ss | Field::Mm | Field::Dd => 2,
            Field::Ww | Field::Iw | Field::Cc => 2,
            Field::Ms | Field::Ddd | Field::Yyy => 3,
            Field::Us => 6,
            Field::Ff(n) => n as usize,
            Field::Yyyy | Field::Iyyy => 4,
            Field::Yy => 2,
            Field::Y | Field::Q | Field::D | Field::Id | Field::W => 1,
            Field::Ssss | Field::J => 9,
            _ => return None,
        })
    }
}

/// Pattern spellings, longest first where one is a prefix of another.
#[rustfmt::skip]
const KEYWORDS: &[(&str, Field)] = &[
    ("A.D.", Field::Era { case: Case::Upper, dots: true }),
    ("A.M.", Field::Meridiem { case: Case::Upper, dots: true }),
    ("AD", Field::Era { case: Case::Upper, dots: false }),
    ("AM", Field::Meridiem { case: Case::Upper, dots: false }),
    ("B.C.", Field::Era { case: Case::Upper, dots: true }),
    ("BC", Field::Era { case: Case::Upper, dots: false }),
    ("CC", Field::Cc),
    ("DAY", Field::Day(Case::Upper)),
    ("DDD", Field::Ddd),
    ("DD", Field::Dd),
    ("DY", Field::Dy(Case::Upper)),
    ("Day", Field::Day(Case::Title)),
    ("Dy", Field::Dy(Case::Title)),
    ("D", Field::D),
    ("FF1", Field::Ff(1)),
    ("FF2", Field::Ff(2)),
    ("FF3", Field::Ff(3)),
    ("FF4", Field::Ff(4)),
    ("FF5", Field::Ff(5)),
    ("FF6", Field::Ff(6)),
    ("HH24", Field::Hh24),
    ("HH12", Field::Hh12),
    ("HH", Field::Hh12),
    ("ID", Field::Id),
    ("IW", Field::Iw),
    ("IYYY", Field::Iyyy),
    ("J", Field::J),
    ("MI", Field::Mi),
    ("MM", Field::Mm),
    ("MONTH", Field::Month(Case::Upper)),
    ("MON", Field::Mon(Case::Upper)),
    ("MS", Field::Ms),
    ("Month", Field::Month(Case::Title)),
    ("Mon", Field::Mon(Case::Title)),
    ("OF", Field::Of),
    ("P.M.", Field::Meridiem { case: Case::Upper, dots: true }),
    ("PM", Field::Meridiem { case: Case::Upper, dots: false }),
    ("Q", Field::Q),
    ("SSSSS", Field::Ssss),
    ("SSSS", Field::Ssss),
    ("SS", Field::Ss),
    ("TZ", Field::Tz(Case::Upper)),
    ("US", Field::Us),
    ("WW", Field::Ww),
    ("W", Field::W),
    ("Y,YYY", Field::YCommaYyy),
    ("YYYY", Field::Yyyy),
    ("YYY", Field::Yyy),
    ("YY", Field::Yy),
    ("Y", Field::Y),
    ("a.d.", Field::Era { case: Case::Lower, dots: true }),
    ("a.m.", Field::Meridiem { case: Case::Lower, dots: true }),
    ("ad", Field::Era { case: Case::Lower, dots: false }),
    ("am", Field::Meridiem { case: Case::Lower, dots: false }),
    ("b.c.", Field::Era { case: Case::Lower, dots: true }),
    ("bc", Field::Era { case: Case::Lower, dots: false }),
    ("cc", Field::Cc),
    ("day", Field::Day(Case::Lower)),
    ("ddd", Field::Ddd),
    ("dd", Field::Dd),
    ("dy", Field::Dy(Case::Lower)),
    ("d", Field::D),
    ("ff1", Field::Ff(1)),
    ("ff2", Field::Ff(2)),
    ("ff3", Field::Ff(3)),
    ("ff4", Field::Ff(4)),
    ("ff5", Field::Ff(5)),
    ("ff6", Field::Ff(6)),
    ("hh24", Field::Hh24),
    ("hh12", Field::Hh12),
    ("hh", Field::Hh12),
    ("id", Field::Id),
    ("iw", Field::Iw),
    ("iyyy", Field::Iyyy),
    ("j", Field::J),
    ("mi", Field::Mi),
    ("mm", Field::Mm),
    ("month", Field::Month(Case::Lower)),
    ("mon", Field::Mon(Case::Lower)),
    ("ms", Field::Ms),
    ("of", Field::Of),
    ("p.m.", Field::Meridiem { case: Case::Lower, dots: true }),
    ("pm", Field::Meridiem { case: Case::Lower, dots: false }),
    ("q", Field::Q),
    ("sssss", Field::Ssss),
    ("ssss", Field::Ssss),
    ("ss", Field::Ss),
    ("tz", Field::Tz(Case::Lower)),
    ("us", Field::Us),
    ("ww", Field::Ww),
    ("w", Field::W),
    ("y,yyy", Field::YCommaYyy),
    ("yyyy", Field::Yyyy),
    ("yyy", Field::Yyy),
    ("yy", Field::Yy),
    ("y", Field::Y),
];

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Literal(char),
    Field {
        field: Field,
        /// The `FM` prefix.
        fill: bool,
        /// The `TH` (upper) / `th` (lower) suffix.
        ordinal: Option<Case>,
        /// The spelling, for error messages.
        name: &'static str,
    },
}

/// Reads a date/time template into nodes.
fn parse_template(fmt: &str) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut rest = fmt;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, e)) => nodes.push(Node::Literal(e)),
                        None => end = quoted.len(),
                    },
                    c => nodes.push(Node::Literal(c)),
                }
            }
            rest = &quoted[end.min(quoted.len())..];
            continue;
        }
        if let Some(escaped) = rest.strip_prefix('\\') {
            if let Some(c) = escaped.chars().next() {
                nodes.push(Node::Literal(c));
                rest = &escaped[c.len_utf8()..];
            } else {
                nodes.push(Node::Literal('\\'));
                rest = escaped;
            }
            continue;
        }
        let (fill, body) = match rest.strip_prefix("FM").or_else(|| rest.strip_prefix("fm")) {
            Some(b) => (true, b),
            None => (false, rest),
        };
        if let Some((name, field)) = KEYWORDS.iter().find(|(k, _)| body.starts_with(k)) {
            let mut after = &body[name.len()..];
            let ordinal = if let Some(a) = after.strip_prefix("TH") {
                after = a;
                Some(Case::Upper)
            } else if let Some(a) = after.strip_prefix("th") {
                after = a;
                Some(Case::Lower)
            } else {
                None
            };
            nodes.push(Node::Field {
                field: *field,
                fill,
                ordinal,
                name,
            });
            rest = after;
            continue;
        }
        // `FM` before no pattern is nothing, as in Postgres.
        if fill {
            rest = body;
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        nodes.push(Node::Literal(c));
        rest = &rest[c.len_utf8()..];
    }
    nodes
}

// ---------------------------------------------------------------------------------
// to_char on dates and times
// ---------------------------------------------------------------------------------

/// The fields of a timestamp or interval that patterns print.
struct Parts {
    /// Astronomical year (0 is 1 BC); for an interval, its years.
    year: i64,
    /// 1-12; for an interval, its months beyond whole years (0-11).
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    micros: i64,
    /// The calendar date, absent for an interval.
    date: Option<NaiveDate>,
    /// The zone abbreviation `TZ` prints: the session zone's for timestamptz (`UTC`,
    /// `CEST`), empty for timestamp.
    zone: String,
    /// The offset from UTC `OF` prints, seconds east.
    offset_secs: i32,
}

impl Parts {
    fn of_timestamp(ts: &NaiveDateTime, zone: String, offset_secs: i32) -> Parts {
        Parts {
            year: ts.year() as i64,
            month: ts.month() as i64,
            day: ts.day() as i64,
            hour: ts.hour() as i64,
            minute: ts.minute() as i64,
            second: ts.second() as i64,
            micros: (ts.nanosecond() as i64 / 1000).min(999_999),
            date: Some(ts.date()),
            zone,
            offset_secs,
        }
    }

    fn of_interval(iv: &Interval) -> Parts {
        let micros = iv.micros;
        Parts {
            year: iv.months as i64 / 12,
            month: iv.months as i64 % 12,
            day: iv.days as i64,
            hour: micros / 3_600_000_000,
            minute: micros / 60_000_000 % 60,
            second: micros / 1_000_000 % 60,
            micros: micros % 1_000_000,
            date: None,
            zone: String::new(),
            offset_secs: 0,
        }
    }

    /// The year as printed (BC years count down from 1).
    fn display_year(&self) -> i64 {
        if self.date.is_some() && self.year <= 0 {
            1 - self.year
        } else {
            self.year
        }
    }
}

/// The ordinal suffix of `n` (`st`, `nd`, `rd`, `th`).
fn ordinal_suffix(n: i64) -> &'static str {
    let n = n.abs();
    if (11..=13).contains(&(n % 100)) {
        return "th";
    }
    match n % 10 {
        1 => "st",
        2 => "nd",
        3 => "rd",
        _ => "th",
    }
}

/// A number zero-padded to `width` digits (a minus sign in front), or unpadded with
/// `fill`.
fn padded(n: i64, width: usize, fill: bool) -> String {
    if fill {
        n.to_string()
    } else if n < 0 {
        format!("-{:0width$}", n.unsigned_abs(), width = width)
    } else {
        format!("{n:0width$}")
    }
}

/// A name blank-padded to 9 characters unless `fill`.
fn padded_name(s: String, fill: bool) -> String {
    if fill {
        s
    } else {
        format!("{s:<9}")
    }
}

fn format_field(out: &mut String, field: Field, fill: bool, ordinal: Option<Case>, p: &Parts) {
    let date = p.date.unwrap_or_default();
    let year = p.display_year();
    let hour12 = match p.hour % 12 {
        0 => 12,
        h => h,
    };
    let number = |n: i64, width: usize| (n, padded(n, width, fill));
    let (value, text) = match field {
        Field::Hh24 => number(p.hour, 2),
        Field::Hh12 => number(hour12, 2),
        Field::Mi => number(p.minute, 2),
        Field::Ss => number(p.second, 2),
        Field::Ssss => {
            let s = p.hour * 3600 + p.minute * 60 + p.second;
            (s, s.to_string())
        }
        Field::Ms => number(p.micros / 1000, 3),
        Field::Us => number(p.micros, 6),
        Field::Ff(n) => {
            let v = p.micros / 10i64.pow(6 - n as u32);
            number(v, n as usize)
        }
        Field::Meridiem { case, dots } => {
            let pm = p.hour % 24 >= 12;
            let s = match (pm, dots) {
                (false, false) => "AM",
                (true, false) => "PM",
                (false, true) => "A.M.",
                (true, true) => "P.M.",
            };
            out.push_str(&case.apply(s));
            return;
        }
        Field::Era { case, dots } => {
            let bc = p.date.is_some() && p.year <= 0;
            let s = match (bc, dots) {
                (false, false) => "AD",
                (true, false) => "BC",
                (false, true) => "A.D.",
                (true, true) => "B.C.",
            };
            out.push_str(&case.apply(s));
            return;
        }
        Field::YCommaYyy => {
            let s = format!("{},{:03}", year / 1000, year % 1000);
            (year, s)
        }
        Field::Yyyy => number(year, 4),
        Field::Yyy => number(year % 1000, 3),
        Field::Yy => number(year % 100, 2),
        Field::Y => number(year % 10, 1),
        Field::Iyyy => number(date.iso_week().year() as i64, 4),
        Field::Cc => {
            let cc = if p.date.is_none() {
                p.year / 100
            } else if p.year > 0 {
                (p.year + 99) / 100
            } else {
                -((99 - p.year) / 100)
            };
            number(cc, 2)
        }
        Field::Q => number((p.month - 1).max(0) / 3 + 1, 1),
        Field::Mm => number(p.month, 2),
        Field::Month(case) | Field::Mon(case) => {
            let name = MONTHS[(p.month - 1).clamp(0, 11) as usize];
            let s = if matches!(field, Field::Month(_)) {
                padded_name(case.apply(name), fill)
            } else {
                case.apply(&name[..3])
            };
            out.push_str(&s);
            return;
        }
        Field::Dd => number(p.day, 2),
        Field::Ddd => number(date.ordinal() as i64, 3),
        Field::D => number(date.weekday().num_days_from_sunday() as i64 + 1, 1),
        Field::Id => number(date.weekday().number_from_monday() as i64, 1),
        Field::Day(case) | Field::Dy(case) => {
            let name = DAYS[date.weekday().num_days_from_sunday() as usize];
            let s = if matches!(field, Field::Day(_)) {
                padded_name(case.apply(name), fill)
            } else {
                case.apply(&name[..3])
            };
            out.push_str(&s);
            return;
        }
        Field::W => number((p.day - 1) / 7 + 1, 1),
        Field::Ww => number((date.ordinal() as i64 - 1) / 7 + 1, 2),
        Field::Iw => number(date.iso_week().week() as i64, 2),
        Field::J => {
            let j = date.num_days_from_ce() as i64 + 1_721_425;
            (j, j.to_string())
        }
        Field::Tz(case) => {
            out.push_str(&case.apply(&p.zone));
            return;
        }
        Field::Of => {
            push_offset(out, p.offset_secs);
            return;
        }
    };
    out.push_str(&text);
    if let Some(case) = ordinal {
        out.push_str(&case.apply(ordinal_suffix(value)));
    }
}

fn format_datetime(parts: &Parts, fmt: &str) -> String {
    let mut out = String::new();
    for node in parse_template(fmt) {
        match node {
            Node::Literal(c) => out.push(c),
            Node::Field {
                field,
                fill,
                ordinal,
                ..
            } => format_field(&mut out, field, fill, ordinal, parts),
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// to_char on numbers
// ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumToken {
    Nine,
    Zero,
    Point,
    Separator,
    Literal(char),
}

/// A number template: its tokens and the `FM` flag.
struct NumTemplate {
    tokens: Vec<NumToken>,
    fill: bool,
}

fn parse_number_template(fmt: &str) -> Result<NumTemplate, EvalError> {
    let mut tokens = Vec::new();
    let mut fill = false;
    let mut rest = fmt;
    while let Some(c) = rest.chars().next() {
        let upper = rest.to_ascii_uppercase();
        if upper.starts_with("FM") {
            fill = true;
            rest = &rest[2..];
            continue;
        }
        let unsupported = [
            "S", "MI", "PL", "SG", "PR", "EEEE", "V", "RN", "TH", "L", "B",
        ];
        if let Some(p) = unsupported.iter().find(|p| upper.starts_with(**p)) {
            return Err(EvalError::FeatureNotSupported {
                message: format!("to_char number pattern \"{p}\" is not supported"),
                detail: Some("Eddy's to_char knows 9, 0, ., D, ',', G and FM.".into()),
            });
        }
        tokens.push(match c {
            '9' => NumToken::Nine,
            '0' => NumToken::Zero,
            '.' | 'D' | 'd' => NumToken::Point,
            ',' | 'G' | 'g' => NumToken::Separator,
            c => NumToken::Literal(c),
        });
        rest = &rest[c.len_utf8()..];
    }
    if tokens.iter().filter(|t| **t == NumToken::Point).count() > 1 {
        return Err(EvalError::Parse(ParseError::new(
            ParseErrorKind::InvalidDatetimeFormat,
            "multiple decimal points",
        )));
    }
    Ok(NumTemplate { tokens, fill })
}

/// `|x|` rounded to `post` decimals, as integer digits and fraction digits, and its
/// sign.
fn number_digits(d: &Datum, post: usize) -> Result<(String, String, bool), EvalError> {
    let text = match d {
        Datum::Int16(v) => v.to_string(),
        Datum::Int32(v) => v.to_string(),
        Datum::Int64(v) => v.to_string(),
        Datum::Numeric(v) => v
            .with_scale(post.min(eddy_repr::numeric::NUMERIC_MAX_SCALE as usize) as u32)?
            .to_string(),
        Datum::Float32(v) => format!("{:.post$}", v.0),
        Datum::Float64(v) => format!("{:.post$}", v.0),
        other => return Err(unexpected("to_char", std::slice::from_ref(other))),
    };
    let negative = text.starts_with('-');
    let text = text.trim_start_matches('-');
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let int = int.trim_start_matches('0');
    let mut frac = frac.to_string();
    while frac.len() < post {
        frac.push('0');
    }
    frac.truncate(post);
    let is_zero = int.is_empty() && frac.chars().all(|c| c == '0');
    Ok((int.to_string(), frac, negative && !is_zero))
}

fn format_number(d: &Datum, fmt: &str) -> Result<String, EvalError> {
    if let Datum::Float32(_) | Datum::Float64(_) = d {
        let x = super::arith::to_f64(d)?;
        if !x.is_finite() {
            return Err(EvalError::FeatureNotSupported {
                message: "to_char of an infinite or NaN number is not supported".into(),
                detail: None,
            });
        }
    }
    let t = parse_number_template(fmt)?;
    let point = t.tokens.iter().position(|t| *t == NumToken::Point);
    let is_digit = |t: &&NumToken| matches!(t, NumToken::Nine | NumToken::Zero);
    let (int_tokens, frac_tokens) = t.tokens.split_at(point.unwrap_or(t.tokens.len()));
    let pre = int_tokens.iter().filter(is_digit).count();
    let frac_digits: Vec<NumToken> = frac_tokens.iter().filter(is_digit).copied().collect();
    let post = frac_digits.len();
    let (mut int, mut frac, negative) = number_digits(d, post)?;
    if int.len() > pre {
        // Too many integer digits: every digit position is a `#`.
        let mut out = String::from(if negative { "-" } else { " " });
        for tok in &t.tokens {
            out.push(match tok {
                NumToken::Nine | NumToken::Zero => '#',
                NumToken::Point => '.',
                NumToken::Separator => ',',
                NumToken::Literal(c) => *c,
            });
        }
        return Ok(out);
    }
    if t.fill {
        // Trailing zeros in `9` positions go.
        while frac.ends_with('0') && frac_digits.get(frac.len() - 1) == Some(&NumToken::Nine) {
            frac.pop();
        }
    }
    if int.is_empty() {
        // A zero integer part shows as `0` only without fraction digits to show
        // (Postgres writes `0.5` with template `9.9` as ` .5`).
        let shows_fraction = point.is_some() && (post > 0 && !(t.fill && frac.is_empty()));
        if !shows_fraction && pre > 0 {
            int = "0".into();
        }
    }
    let zero_start = int_tokens
        .iter()
        .filter(is_digit)
        .position(|t| *t == NumToken::Zero)
        .unwrap_or(pre);
    let first_digit = (pre - int.len()).min(zero_start);
    let mut body = String::new();
    let mut leading_blanks = 0;
    let mut started = false;
    let mut position = 0;
    let mut int_digits = int.chars();
    for tok in int_tokens {
        match tok {
            NumToken::Nine | NumToken::Zero => {
                if position < first_digit {
                    leading_blanks += 1;
                } else {
                    started = true;
                    let pad = pre - int.len();
                    body.push(if position < pad {
                        '0'
                    } else {
                        int_digits.next().unwrap_or('0')
                    });
                }
                position += 1;
            }
            NumToken::Separator if !started => leading_blanks += 1,
            NumToken::Separator => body.push(','),
            NumToken::Literal(c) if !started => {
                // A literal before the digits stays in place among the blanks.
                body.push(*c);
            }
            NumToken::Literal(c) => body.push(*c),
            NumToken::Point => {}
        }
    }
    if point.is_some() && (post > 0 || t.fill) {
        body.push('.');
    }
    let mut frac_chars = frac.chars();
    for tok in frac_tokens.iter().skip(1) {
        match tok {
            NumToken::Nine | NumToken::Zero => {
                if let Some(c) = frac_chars.next() {
                    body.push(c);
                }
            }
            NumToken::Separator => body.push(','),
            NumToken::Literal(c) => body.push(*c),
            NumToken::Point => {}
        }
    }
    // The sign position: `-` right before the digits, or a blank in front.
    let sign = if negative { "-" } else { "" };
    Ok(if t.fill {
        format!("{sign}{body}")
    } else if negative {
        format!("{}-{body}", " ".repeat(leading_blanks))
    } else {
        format!(" {}{body}", " ".repeat(leading_blanks))
    })
}

/// `to_char(value, format)`: timestamps, timestamptzs (in UTC), intervals and numbers.
pub(super) fn to_char(args: Vec<Datum>) -> Result<Datum, EvalError> {
    to_char_in(args, &TimeZone::UTC)
}

/// `to_char(value, format)` in a session whose time zone is `zone`: a timestamptz's
/// fields are its wall-clock time there, `TZ` the zone's abbreviation and `OF` its
/// offset at that instant.
pub(super) fn to_char_in(args: Vec<Datum>, zone: &TimeZone) -> Result<Datum, EvalError> {
    let [value, fmt] = args.as_slice() else {
        return Err(unexpected("to_char", &args));
    };
    let Datum::String(fmt) = fmt else {
        return Err(unexpected("to_char", &args));
    };
    let text = match value {
        Datum::Timestamp(ts) => format_datetime(&Parts::of_timestamp(ts, String::new(), 0), fmt),
        Datum::TimestampTz(ts) => {
            let parts =
                Parts::of_timestamp(&zone.local(ts), zone.abbreviation(ts), zone.offset_secs(ts));
            format_datetime(&parts, fmt)
        }
        Datum::Interval(iv) => format_datetime(&Parts::of_interval(iv), fmt),
        number => format_number(number, fmt)?,
    };
    Ok(Datum::String(text))
}

// ---------------------------------------------------------------------------------
// to_timestamp / to_date
// ---------------------------------------------------------------------------------

/// The fields read from the input; absent ones take their defaults.
#[derive(Default)]
struct Parsed {
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    hour: Option<i64>,
    hour12: bool,
    pm: Option<bool>,
    bc: bool,
    minute: i64,
    second: i64,
    micros: i64,
}

fn datetime_error(kind: ParseErrorKind, message: String) -> EvalError {
    EvalError::Parse(ParseError::new(kind, message))
}

fn out_of_range(input: &str) -> EvalError {
    datetime_error(
        ParseErrorKind::DatetimeFieldOverflow,
        format!("date/time field value out of range: \"{input}\""),
    )
}

/// Reads `input` by the template `fmt`.
fn parse_input(input: &str, fmt: &str) -> Result<Parsed, EvalError> {
    let nodes = parse_template(fmt);
    let mut parsed = Parsed::default();
    let mut rest = input;
    for (i, node) in nodes.iter().enumerate() {
        match node {
            Node::Literal(c) if c.is_whitespace() => rest = rest.trim_start(),
            Node::Literal(_) => {
                // A separator in the template skips one separator in the input.
                let trimmed = rest.trim_start();
                if let Some(c) = trimmed.chars().next() {
                    if !c.is_alphanumeric() {
                        rest = &trimmed[c.len_utf8()..];
                    }
                }
            }
            Node::Field { field, name, .. } => {
                rest = rest.trim_start();
                if rest.is_empty() {
                    break;
                }
                let next_is_numeric = matches!(
                    nodes.get(i + 1),
                    Some(Node::Field { field, .. }) if field.width().is_some()
                );
                rest = parse_field(&mut parsed, *field, name, rest, next_is_numeric)?;
            }
        }
    }
    Ok(parsed)
}

/// Reads one field at the start of `rest`, returning what follows it.
fn parse_field<'a>(
    parsed: &mut Parsed,
    field: Field,
    name: &str,
    rest: &'a str,
    next_is_numeric: bool,
) -> Result<&'a str, EvalError> {
    let no_match = |rest: &str| {
        EvalError::Parse(
            ParseError::new(
                ParseErrorKind::InvalidDatetimeFormat,
                format!("invalid value \"{rest}\" for \"{name}\""),
            )
            .with_detail("The given value did not match any of the allowed values for this field."),
        )
    };
    let lower = rest.to_lowercase();
    match field {
        Field::Month(_) | Field::Mon(_) | Field::Day(_) | Field::Dy(_) => {
            let names: &[&str] = if matches!(field, Field::Month(_) | Field::Mon(_)) {
                &MONTHS
            } else {
                &DAYS
            };
            let full = matches!(field, Field::Month(_) | Field::Day(_));
            for (i, n) in names.iter().enumerate() {
                let n = n.to_lowercase();
                let n = if full { n.as_str() } else { &n[..3] };
                if lower.starts_with(n) {
                    if matches!(field, Field::Month(_) | Field::Mon(_)) {
                        parsed.month = Some(i as i64 + 1);
                    }
                    return Ok(&rest[n.len()..]);
                }
            }
            Err(no_match(rest))
        }
        Field::Meridiem { .. } | Field::Era { .. } => {
            let options: [(&str, bool); 4] = if matches!(field, Field::Meridiem { .. }) {
                [("a.m.", false), ("p.m.", true), ("am", false), ("pm", true)]
            } else {
                [("a.d.", false), ("b.c.", true), ("ad", false), ("bc", true)]
            };
            for (text, flag) in options {
                if lower.starts_with(text) {
                    match field {
                        Field::Meridiem { .. } => parsed.pm = Some(flag),
                        _ => parsed.bc = flag,
                    }
                    return Ok(&rest[text.len()..]);
                }
            }
            Err(no_match(rest))
        }
        Field::Tz(_) | Field::Of => Err(EvalError::FeatureNotSupported {
            message: format!("formatting field \"{name}\" is only supported in to_char"),
            detail: None,
        }),
        _ => {
            let width = match field {
                Field::Yyyy | Field::Iyyy if !next_is_numeric => 9,
                f => f.width().unwrap_or(9),
            };
            let digits: String = rest
                .chars()
                .take(width)
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if digits.is_empty() {
                let shown: String = rest.chars().take(width.min(rest.chars().count())).collect();
                return Err(EvalError::Parse(
                    ParseError::new(
                        ParseErrorKind::InvalidDatetimeFormat,
                        format!("invalid value \"{shown}\" for \"{name}\""),
                    )
                    .with_detail("Value must be an integer."),
                ));
            }
            let value: i64 = digits.parse().map_err(|_| no_match(rest))?;
            let scale = |n: usize| value * 10i64.pow((n - digits.len()) as u32);
            match field {
                Field::Hh24 => parsed.hour = Some(value),
                Field::Hh12 => {
                    if !(1..=12).contains(&value) {
                        return Err(datetime_error(
                            ParseErrorKind::InvalidDatetimeFormat,
                            format!("hour \"{value}\" is invalid for the 12-hour clock"),
                        ));
                    }
                    parsed.hour = Some(value);
                    parsed.hour12 = true;
                }
                Field::Mi => parsed.minute = value,
                Field::Ss => parsed.second = value,
                Field::Ssss => {
                    parsed.hour = Some(value / 3600);
                    parsed.minute = value / 60 % 60;
                    parsed.second = value % 60;
                }
                Field::Ms => parsed.micros = scale(3) * 1000,
                Field::Us => parsed.micros = scale(6),
                Field::Ff(n) => parsed.micros = scale(n as usize) * 10i64.pow(6 - n as u32),
                Field::Yyyy | Field::YCommaYyy | Field::Iyyy => parsed.year = Some(value),
                Field::Yyy | Field::Yy | Field::Y => {
                    // Postgres' adjust_partial_year_to_2020.
                    let year = match digits.len() {
                        1 => value + 2020,
                        2 if value < 70 => value + 2000,
                        2 => value + 1900,
                        3 if value < 100 => value + 2000,
                        3 => value + 1000,
                        _ => value,
                    };
                    parsed.year = Some(year);
                }
                Field::Mm => parsed.month = Some(value),
                Field::Dd => parsed.day = Some(value),
                Field::Ddd => parsed.day_of_year = Some(value),
                // Read and ignored, as Postgres ignores them when a date is given.
                _ => {}
            }
            Ok(&rest[digits.len()..])
        }
    }
}

/// The timestamp the parsed fields name.
fn parsed_timestamp(p: &Parsed, input: &str) -> Result<NaiveDateTime, EvalError> {
    // Year 0 in the input is 1 BC in Postgres; the default is 1 BC too.
    let year = match p.year {
        Some(y) if p.bc => 1 - y,
        Some(y) => y,
        None => 0,
    };
    let year = i32::try_from(year).map_err(|_| out_of_range(input))?;
    let date = match (p.day_of_year, p.month, p.day) {
        (Some(doy), None, None) => NaiveDate::from_yo_opt(year, doy as u32),
        _ => {
            let month = p.month.unwrap_or(1);
            let day = p.day.unwrap_or(1);
            let valid = (1..=12).contains(&month)
                && days_in_month(year, month as u32)
                    .is_some_and(|last| (1..=last as i64).contains(&day));
            if valid {
                NaiveDate::from_ymd_opt(year, month as u32, day as u32)
            } else {
                None
            }
        }
    }
    .ok_or_else(|| out_of_range(input))?;
    let mut hour = p.hour.unwrap_or(0);
    if p.hour12 || p.pm.is_some() {
        let pm = p.pm.unwrap_or(false);
        hour %= 12;
        if pm {
            hour += 12;
        }
    }
    if !(0..=24).contains(&hour) || !(0..60).contains(&p.minute) || !(0..=60).contains(&p.second) {
        return Err(out_of_range(input));
    }
    let micros = ((hour * 60 + p.minute) * 60 + p.second) * 1_000_000 + p.micros;
    date.and_time(NaiveTime::MIN)
        .checked_add_signed(Duration::microseconds(micros))
        .ok_or_else(|| out_of_range(input))
}

fn text_args<'a>(func: &str, args: &'a [Datum]) -> Result<(&'a str, &'a str), EvalError> {
    match args {
        [Datum::String(input), Datum::String(fmt)] => Ok((input, fmt)),
        _ => Err(unexpected(func, args)),
    }
}

/// `to_timestamp(text, format)`: the time read in UTC.
pub(super) fn to_timestamp(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let (input, fmt) = text_args("to_timestamp", &args)?;
    let parsed = parse_input(input, fmt)?;
    let ts = parsed_timestamp(&parsed, input)?;
    Ok(Datum::TimestampTz(DateTime::from_naive_utc_and_offset(
        ts, Utc,
    )))
}

/// `to_date(text, format)`: the date part of what `to_timestamp` reads.
pub(super) fn to_date(args: Vec<Datum>) -> Result<Datum, EvalError> {
    let (input, fmt) = text_args("to_date", &args)?;
    let parsed = parse_input(input, fmt)?;
    Ok(Datum::Date(parsed_timestamp(&parsed, input)?.date()))
}
