//! The options of `CREATE [MATERIALIZED] VIEW name WITH (...) AS query`:
//!
//! | option | value | meaning |
//! |---|---|---|
//! | `max_recursion` | a positive number | the rounds a `WITH RECURSIVE` may take (`recursive.rs`) |
//! | `emit` | `'on window close'` | `EMIT ON WINDOW CLOSE`, which is kept as this option: the view shows each closed window once (`eddy_expr::watermark`) |
//! | `retention` | an interval without months | how long a closed window's row stays: it leaves the view once the stream's watermark is that far past the window's end |
//! | `start` | `'earliest'` (default), `'latest'` or a timestamp | which events of the streams it reads (those with an event time) the view sees: all, those from its creation on, or those from that time on (by event time) |
//! | `started_at` | a timestamp | added by Eddy to a `start = 'latest'` view's kept text: its creation time, so that planning it again (a restart) starts it at the same place; not compared when files are applied |
//!
//! `emit` and `retention` need a materialized view whose grouping closes (by an
//! event-time window of a stream), checked once it is planned.

use eddy_repr::{Interval, SqlError, SqlState};
use sqlparser::ast::{CreateTableOptions, SqlOption};

use crate::recursive::{parse_max_recursion, MAX_RECURSION_VAR};

/// The option that `EMIT ON WINDOW CLOSE` is kept as: `WITH (emit = 'on window close')`.
pub const EMIT_OPTION: &str = "emit";
/// How long closed windows' rows stay.
pub const RETENTION_OPTION: &str = "retention";
/// Where in its streams a view starts.
pub const START_OPTION: &str = "start";
/// When a `start = 'latest'` view was created (kept with its text).
pub const STARTED_AT_OPTION: &str = "started_at";

/// Where in its streams (by event time) a view starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// Every event the streams hold.
    Earliest,
    /// The events from the view's creation on (kept as that time).
    Latest,
    /// The events at or after this instant (µs since the epoch, UTC).
    At(i64),
}

/// A view's options, read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ViewOptions {
    pub max_recursion: Option<u64>,
    pub emit_on_window_close: bool,
    /// `retention`, in microseconds.
    pub retention_us: Option<i64>,
    pub start: Option<StartAt>,
    /// `started_at`, in µs since the epoch.
    pub started_at_us: Option<i64>,
}

impl ViewOptions {
    /// Reads `options`; an unknown option is `0A000`, a bad value `22023`.
    pub fn read(options: &CreateTableOptions) -> Result<ViewOptions, SqlError> {
        let options = match options {
            CreateTableOptions::None => return Ok(ViewOptions::default()),
            CreateTableOptions::With(options) => options,
            _ => return Err(SqlError::unsupported("this CREATE VIEW syntax")),
        };
        let mut read = ViewOptions::default();
        for option in options {
            let SqlOption::KeyValue { key, value } = option else {
                return Err(SqlError::unsupported(format!(
                    "CREATE VIEW option {option}"
                )));
            };
            let text = value.to_string();
            let text = text.trim_matches('\'').trim();
            let name = key.value.to_lowercase();
            match name.as_str() {
                MAX_RECURSION_VAR => read.max_recursion = Some(parse_max_recursion(text)?),
                EMIT_OPTION => {
                    let words: Vec<String> =
                        text.split_whitespace().map(str::to_lowercase).collect();
                    if words != ["on", "window", "close"] {
                        return Err(invalid(&name, text).with_hint(
                            "The one value is 'on window close' (EMIT ON WINDOW CLOSE).",
                        ));
                    }
                    read.emit_on_window_close = true;
                }
                RETENTION_OPTION => read.retention_us = Some(parse_retention(text)?),
                START_OPTION => read.start = Some(parse_start(text)?),
                STARTED_AT_OPTION => match parse_start(text)? {
                    StartAt::At(us) => read.started_at_us = Some(us),
                    _ => return Err(invalid(&name, text)),
                },
                _ => {
                    return Err(SqlError::unsupported(format!(
                        "CREATE VIEW option {option}"
                    )))
                }
            }
        }
        Ok(read)
    }

    /// Whether the view must close its windows: it asks for what only closed windows
    /// have.
    pub fn needs_closing(&self) -> bool {
        self.emit_on_window_close || self.retention_us.is_some()
    }
}

/// `start`: `earliest`, `latest` or a timestamp (read in UTC).
pub(crate) fn parse_start(text: &str) -> Result<StartAt, SqlError> {
    match text.to_ascii_lowercase().as_str() {
        "earliest" => Ok(StartAt::Earliest),
        "latest" => Ok(StartAt::Latest),
        _ => eddy_repr::strconv::parse_timestamptz(text)
            .map(|ts| StartAt::At(ts.timestamp_micros()))
            .map_err(|_| {
                invalid(START_OPTION, text).with_hint(
                    "Expected 'earliest', 'latest' or a timestamp such as '2026-03-01 09:00:00'.",
                )
            }),
    }
}

/// `stmt` (a `CREATE VIEW`) without the options Eddy adds to a view's kept text
/// (`started_at`): what the files' text is compared with.
pub fn without_derived_options(stmt: &mut sqlparser::ast::Statement) {
    *stmt = without_option(stmt, STARTED_AT_OPTION);
}

/// `stmt` (a `CREATE VIEW`) without its option `key`.
pub fn without_option(stmt: &sqlparser::ast::Statement, key: &str) -> sqlparser::ast::Statement {
    let mut stmt = stmt.clone();
    if let sqlparser::ast::Statement::CreateView { options, .. } = &mut stmt {
        if let CreateTableOptions::With(kept) = options {
            kept.retain(|o| {
                !matches!(o, SqlOption::KeyValue { key: k, .. } if k.value.eq_ignore_ascii_case(key))
            });
            if kept.is_empty() {
                *options = CreateTableOptions::None;
            }
        }
    }
    stmt
}

/// `stmt` (a `CREATE VIEW`) with its option `key` set to `value` (added or replaced):
/// how a view's text is kept so that planning it again gives the same view.
pub fn with_option(
    stmt: &sqlparser::ast::Statement,
    key: &str,
    value: &str,
) -> sqlparser::ast::Statement {
    use sqlparser::ast::{Expr, Ident, Statement, Value};
    let mut stmt = stmt.clone();
    if let Statement::CreateView { options, .. } = &mut stmt {
        let mut kept = match std::mem::replace(options, CreateTableOptions::None) {
            CreateTableOptions::With(kept) => kept,
            _ => vec![],
        };
        kept.retain(|o| {
            !matches!(o, SqlOption::KeyValue { key: k, .. } if k.value.eq_ignore_ascii_case(key))
        });
        kept.push(SqlOption::KeyValue {
            key: Ident::new(key),
            value: Expr::value(Value::SingleQuotedString(value.to_string())),
        });
        *options = CreateTableOptions::With(kept);
    }
    stmt
}

fn invalid(name: &str, text: &str) -> SqlError {
    SqlError::new(
        SqlState::INVALID_PARAMETER_VALUE,
        format!("invalid value for view option \"{name}\": \"{text}\""),
    )
}

/// `retention`: an interval of days, hours, minutes and seconds, not negative.
fn parse_retention(text: &str) -> Result<i64, SqlError> {
    let hint = "Expected an interval such as '1 hour' or '7 days' (no months or years).";
    let interval: Interval = eddy_repr::strconv::parse_interval(text)
        .map_err(|_| invalid(RETENTION_OPTION, text).with_hint(hint))?;
    match interval.fixed_micros() {
        Some(us) if interval.months == 0 && us >= 0 => Ok(us),
        _ => Err(invalid(RETENTION_OPTION, text).with_hint(hint)),
    }
}
