//! The options of `CREATE [MATERIALIZED] VIEW name WITH (...) AS query`:
//!
//! | option | value | meaning |
//! |---|---|---|
//! | `max_recursion` | a positive number | the rounds a `WITH RECURSIVE` may take (`recursive.rs`) |
//! | `emit` | `'on window close'` | `EMIT ON WINDOW CLOSE`, which is kept as this option: the view shows each closed window once (`eddy_expr::watermark`) |
//! | `retention` | an interval without months | how long a closed window's row stays: it leaves the view once the stream's watermark is that far past the window's end |
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

/// A view's options, read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ViewOptions {
    pub max_recursion: Option<u64>,
    pub emit_on_window_close: bool,
    /// `retention`, in microseconds.
    pub retention_us: Option<i64>,
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
