//! Parsing SQL text into statements with `sqlparser`'s Postgres dialect.
//!
//! Two things are added on top of `sqlparser`:
//! - `RESET name` / `RESET ALL`, which `sqlparser` does not parse, become
//!   `SET name = DEFAULT` / `SET all = DEFAULT` (the planner reads both as a reset);
//!   `ABORT` becomes `ROLLBACK`.
//! - Nesting is allowed up to [`PARSE_DEPTH_MAX`] (`sqlparser` counts a few levels
//!   per parenthesis): far beyond what Postgres users write, a guard against input
//!   built to exhaust the stack (`54001 statement is too deeply nested`). Parsing,
//!   planning and evaluation grow the stack as nesting needs (`recursive`).
//! - `SUBSCRIBE ...` and `COPY (SUBSCRIBE ...) TO STDOUT`, Eddy's own statements, are
//!   parsed by `subscribe.rs`, `CREATE SINK` and `DROP SINK` by `sink.rs`; everything else is `sqlparser`'s ([`Statement::Sql`]).
//! - `CREATE TABLE ... AS query [WITH [NO] DATA]` is parsed by `create_table_as.rs`
//!   (`sqlparser` reads neither bare column names nor `WITH NO DATA`).
//! - `COPY ... FROM STDIN | TO STDOUT` is parsed by `copy.rs` (`sqlparser` would read
//!   the data inline after the statement).
//! - Errors become Postgres-style `42601` errors (`syntax error at or near "x"`,
//!   `syntax error at end of input`) with a 1-based character `position`, except for
//!   `COPY` to or from a file or program and a window frame's `EXCLUDE`, which are
//!   `0A000`.

use std::fmt;

use sqlparser::ast::{Expr, Ident, ObjectName, Set};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use eddy_repr::{SqlError, SqlState};

use crate::pg_source::{self, CreatePgSource, DropSource};
use crate::sink::{self, CreateSink, DropSink};
use crate::subscribe::{self, Subscribe};

/// One parsed statement: one `sqlparser` parses (Postgres' syntax), or one of Eddy's
/// own.
#[derive(Clone, Debug, PartialEq)]
// `Sql` is nearly every statement: boxing it would cost an allocation each, to save
// space in the rare `Subscribe`.
#[allow(clippy::large_enum_variant)]
pub enum Statement {
    Sql(sqlparser::ast::Statement),
    Subscribe(Subscribe),
    /// `COPY ... FROM STDIN` / `COPY ... TO STDOUT` (see `copy.rs`).
    Copy(crate::copy::Copy),
    /// `CREATE STREAM name (columns) WITH (KAFKA_TOPIC = ...)`: a table's syntax, read
    /// as a stream (every message one appended row).
    CreateStream(sqlparser::ast::CreateTable),
    /// `CREATE SINK name FROM relation WITH (...)` (see `sink.rs`).
    CreateSink(CreateSink),
    /// `DROP SINK name [, ...]` (`sqlparser` knows no sinks).
    DropSink(DropSink),
    /// `CREATE SOURCE name FROM POSTGRES ...` (see `pg_source.rs`).
    CreatePgSource(CreatePgSource),
    /// `DROP SOURCE name [, ...]`.
    DropSource(DropSource),
    /// `APPLY FILES '<json>' [WITH (...)]` (see `files.rs`).
    Apply(crate::files::Apply),
    /// `REPLAY MATERIALIZED VIEW name`.
    Replay(crate::files::Replay),
    /// `APPLY COMMIT | ABORT token`.
    ApplyDecision(crate::files::ApplyDecision),
    /// `ALTER [MATERIALIZED] VIEW name RENAME TO new_name`.
    RenameView(crate::files::RenameView),
    /// `REFRESH MATERIALIZED VIEW name`: Eddy's materialized views are always fresh,
    /// so it only checks the name.
    RefreshView(ObjectName),
    /// `CREATE TABLE name [(columns)] AS query [WITH [NO] DATA]`.
    CreateTableAs(crate::create_table_as::CreateTableAs),
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Sql(stmt) => stmt.fmt(f),
            Statement::Subscribe(subscribe) => subscribe.fmt(f),
            Statement::Copy(copy) => copy.fmt(f),
            Statement::CreateStream(create) => {
                let text = create.to_string();
                let rest = text.strip_prefix("CREATE TABLE").unwrap_or(&text);
                write!(f, "CREATE STREAM{rest}")
            }
            Statement::CreateSink(create) => create.fmt(f),
            Statement::DropSink(drop) => drop.fmt(f),
            Statement::CreatePgSource(create) => create.fmt(f),
            Statement::DropSource(drop) => drop.fmt(f),
            Statement::Apply(apply) => apply.fmt(f),
            Statement::Replay(replay) => replay.fmt(f),
            Statement::ApplyDecision(decision) => decision.fmt(f),
            Statement::RenameView(rename) => rename.fmt(f),
            Statement::RefreshView(name) => write!(f, "REFRESH MATERIALIZED VIEW {name}"),
            Statement::CreateTableAs(create) => create.fmt(f),
        }
    }
}

/// How deep `sqlparser` may recurse: a 30-deep WHERE clause of a few hundred terms
/// takes about 100.
pub const PARSE_DEPTH_MAX: usize = 2000;

/// Makes every `recursive` function in the process (the planner's, the optimizer's,
/// evaluation's) keep a red zone large enough for the deepest path between two of its
/// checks (planner frames reach tens of kilobytes in debug builds), and grow the stack
/// in large steps. The setting is process-wide; it is made once, before the first
/// statement is parsed (every plan starts from a parse, recovery's included).
fn grow_stack_generously() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        recursive::set_minimum_stack_size(1024 * 1024);
        recursive::set_stack_allocation_size(16 * 1024 * 1024);
    });
}

/// Statements nested at most this deep (in parentheses) parse on the caller's stack.
const SHALLOW_NESTING: usize = 16;

/// The stack a deeply nested statement is parsed on (reserved, and touched only as
/// deep as the parse goes).
const DEEP_PARSE_STACK_BYTES: usize = 256 * 1024 * 1024;

/// A bound on how deep `sql` nests: parentheses and brackets, plus every `NOT` (which
/// `sqlparser` parses by recursion too). Quotes are not skipped, so the bound can be
/// high, never low. Long statements that do not nest (a 1000-row `INSERT ... VALUES`)
/// stay on the caller's stack: a stack of its own costs page faults and TLB flushes.
fn nesting_depth(sql: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for b in sql.bytes() {
        match b {
            b'(' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let nots = sql
        .as_bytes()
        .windows(4)
        .filter(|w| w[..3].eq_ignore_ascii_case(b"not") && w[3].is_ascii_whitespace())
        .count();
    max + nots
}

/// Parses a string holding zero or more `;`-separated statements.
pub fn parse(sql: &str) -> Result<Vec<Statement>, SqlError> {
    grow_stack_generously();
    // `sqlparser`'s expression parser recurses on the caller's stack: deeply nested
    // input is parsed on a stack of its own, large enough for PARSE_DEPTH_MAX.
    let parsed = if nesting_depth(sql) > SHALLOW_NESTING {
        stacker::grow(DEEP_PARSE_STACK_BYTES, || parse_inner(sql))
    } else {
        parse_inner(sql)
    };
    parsed.map_err(|e| {
        // `COPY ... FROM STDIN` has its data after the statement, which `sqlparser`
        // reads as a syntax error: the statement itself is what Eddy lacks.
        match &e {
            ParserError::ParserError(m) if m.starts_with(crate::copy::UNSUPPORTED_TARGET) => {
                SqlError::unsupported(m.trim_start_matches(crate::copy::UNSUPPORTED_TARGET))
            }
            // `sqlparser` ends a window frame before `EXCLUDE`, which Postgres has.
            ParserError::ParserError(m) if m.contains("Expected: ), found: EXCLUDE") => {
                SqlError::unsupported("EXCLUDE in window frames")
            }
            _ => convert_error(sql, e),
        }
    })
}

/// Whether the next tokens are the unquoted words `words`.
fn at_words(parser: &Parser, words: &[&str]) -> bool {
    words
        .iter()
        .enumerate()
        .all(|(i, word)| crate::sink::is_word(&parser.peek_nth_token(i).token, word))
}

/// A parser error that `parse` answers with 0A000 naming `what`.
fn unsupported_statement(what: &str) -> ParserError {
    ParserError::ParserError(format!("{}{what}", crate::copy::UNSUPPORTED_TARGET))
}

/// Whether the next words are `CREATE STREAM`.
fn at_create_stream(parser: &Parser) -> bool {
    let [create, stream] = parser.peek_tokens();
    let is_word = |token: &Token, word: &str| matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word));
    is_word(&create, "create") && is_word(&stream, "stream")
}

fn parse_inner(sql: &str) -> Result<Vec<Statement>, ParserError> {
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(PARSE_DEPTH_MAX)
        .try_with_sql(sql)?;
    let mut stmts = Vec::new();
    let mut expecting_delimiter = false;
    loop {
        while parser.consume_token(&Token::SemiColon) {
            expecting_delimiter = false;
        }
        let next = parser.peek_token();
        if next.token == Token::EOF {
            break;
        }
        if expecting_delimiter {
            return parser.expected("end of statement", next);
        }
        let stmt = match &next.token {
            _ if at_create_stream(&parser) => {
                parser.next_token();
                parser.next_token();
                match parser.parse_create_table(false, false, None, false)? {
                    sqlparser::ast::Statement::CreateTable(create) => {
                        Statement::CreateStream(create)
                    }
                    other => {
                        return Err(ParserError::ParserError(format!(
                            "expected CREATE STREAM, found {other}"
                        )))
                    }
                }
            }
            _ if crate::create_table_as::at_create_table_as(&parser) => Statement::CreateTableAs(
                crate::create_table_as::parse_create_table_as(&mut parser)?,
            ),
            _ if sink::at_create_sink(&parser) => {
                Statement::CreateSink(sink::parse_create_sink(&mut parser)?)
            }
            _ if sink::at_drop_sink(&parser) => {
                Statement::DropSink(sink::parse_drop_sink(&mut parser)?)
            }
            _ if crate::files::at_rename_view(&parser) => {
                Statement::RenameView(crate::files::parse_rename_view(&mut parser)?)
            }
            _ if crate::files::at_apply_decision(&parser) => {
                Statement::ApplyDecision(crate::files::parse_apply_decision(&mut parser)?)
            }
            _ if crate::files::at_replay(&parser) => {
                Statement::Replay(crate::files::parse_replay(&mut parser)?)
            }
            _ if crate::files::at_apply(&parser) => {
                Statement::Apply(crate::files::parse_apply(&mut parser)?)
            }
            _ if pg_source::at_create_source(&parser) => {
                Statement::CreatePgSource(pg_source::parse_create_source(&mut parser)?)
            }
            _ if pg_source::at_drop_source(&parser) => {
                Statement::DropSource(pg_source::parse_drop_source(&mut parser)?)
            }
            _ if subscribe::at_subscribe(&parser) => {
                Statement::Subscribe(subscribe::parse_subscribe(&mut parser)?)
            }
            _ if crate::copy::at_copy(&parser) => {
                Statement::Copy(crate::copy::parse_copy(&mut parser)?)
            }
            _ if at_words(&parser, &["refresh", "materialized", "view"]) => {
                for _ in 0..3 {
                    parser.next_token();
                }
                let _ = crate::sink::is_word(&parser.peek_token().token, "concurrently")
                    && parser.next_token() != Token::EOF;
                let name = parser.parse_object_name(false)?;
                if parser.parse_keyword(Keyword::WITH) {
                    let _ = parser.parse_keyword(Keyword::NO);
                    crate::sink::expect_word(&mut parser, "data")?;
                }
                Statement::RefreshView(name)
            }
            _ if at_words(&parser, &["alter", "materialized", "view"])
                || at_words(&parser, &["alter", "view"]) =>
            {
                return Err(unsupported_statement(
                    "ALTER VIEW and ALTER MATERIALIZED VIEW other than RENAME TO",
                ))
            }
            _ if at_words(&parser, &["create", "source"]) => {
                return Err(unsupported_statement(
                    "CREATE SOURCE other than FROM POSTGRES (a Kafka topic is read with \
                     CREATE STREAM or CREATE TABLE ... WITH (KAFKA_TOPIC = ...))",
                ))
            }
            _ if at_words(&parser, &["do"]) => return Err(unsupported_statement("DO blocks")),
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("reset") => {
                parser.next_token();
                let variable = if parser.parse_keyword(Keyword::ALL) {
                    ObjectName::from(vec![Ident::new("all")])
                } else {
                    parser.parse_object_name(false)?
                };
                Statement::Sql(sqlparser::ast::Statement::Set(Set::SingleAssignment {
                    scope: None,
                    hivevar: false,
                    variable,
                    values: vec![Expr::Identifier(Ident::new("DEFAULT"))],
                }))
            }
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("abort") => {
                parser.next_token();
                let _ = parser.parse_keyword(Keyword::WORK)
                    || parser.parse_keyword(Keyword::TRANSACTION);
                Statement::Sql(sqlparser::ast::Statement::Rollback {
                    chain: false,
                    savepoint: None,
                })
            }
            _ => {
                let mut stmt = parser.parse_statement()?;
                if at_words(&parser, &["emit", "on", "window", "close"]) {
                    for _ in 0..4 {
                        parser.next_token();
                    }
                    add_emit_on_window_close(&mut stmt)?;
                }
                Statement::Sql(stmt)
            }
        };
        stmts.push(stmt);
        expecting_delimiter = true;
    }
    Ok(stmts)
}

/// `stmt` (which `EMIT ON WINDOW CLOSE` followed) with the view option that keeps
/// it, `WITH (emit = 'on window close')`: only a `CREATE MATERIALIZED VIEW` takes it.
fn add_emit_on_window_close(stmt: &mut sqlparser::ast::Statement) -> Result<(), ParserError> {
    use sqlparser::ast::{CreateTableOptions, SqlOption, Value};
    if let sqlparser::ast::Statement::Explain { statement, .. } = stmt {
        return add_emit_on_window_close(statement);
    }
    let sqlparser::ast::Statement::CreateView {
        materialized: true,
        options,
        ..
    } = stmt
    else {
        return Err(unsupported_statement(
            "EMIT ON WINDOW CLOSE other than at the end of CREATE MATERIALIZED VIEW",
        ));
    };
    let mut kept = match std::mem::replace(options, CreateTableOptions::None) {
        CreateTableOptions::With(kept) => kept,
        CreateTableOptions::None => vec![],
        other => {
            *options = other;
            return Err(unsupported_statement("this CREATE VIEW syntax"));
        }
    };
    kept.push(SqlOption::KeyValue {
        key: Ident::new(crate::view_options::EMIT_OPTION),
        value: Expr::value(Value::SingleQuotedString("on window close".into())),
    });
    *options = CreateTableOptions::With(kept);
    Ok(())
}

/// The 1-based character offset of a 1-based line and column.
fn char_position(sql: &str, line: u64, column: u64) -> Option<usize> {
    if line == 0 || column == 0 {
        return None;
    }
    let mut offset = 0usize;
    for (i, text) in sql.split('\n').enumerate() {
        if i as u64 + 1 == line {
            return Some(offset + column as usize);
        }
        offset += text.chars().count() + 1;
    }
    None
}

/// Splits `"... at Line: 3, Column: 7"` off a `sqlparser` message.
fn split_location(message: &str) -> (&str, Option<(u64, u64)>) {
    let Some(at) = message.rfind(" at Line: ") else {
        return (message, None);
    };
    let rest = &message[at + " at Line: ".len()..];
    let mut parts = rest.split(", Column: ");
    let line = parts.next().and_then(|l| l.trim().parse().ok());
    let column = parts.next().and_then(|c| c.trim().parse().ok());
    match (line, column) {
        (Some(l), Some(c)) => (&message[..at], Some((l, c))),
        _ => (message, None),
    }
}

fn convert_error(sql: &str, err: ParserError) -> SqlError {
    let end_position = sql.chars().count() + 1;
    let (raw, tokenizer) = match &err {
        ParserError::RecursionLimitExceeded => {
            return SqlError::new(
                SqlState::STATEMENT_TOO_COMPLEX,
                "statement is too deeply nested",
            )
        }
        ParserError::TokenizerError(m) => (m.as_str(), true),
        ParserError::ParserError(m) => (m.as_str(), false),
    };
    let (message, location) = split_location(raw);
    let position = location.and_then(|(l, c)| char_position(sql, l, c));
    let rest_of_input = |pos: usize| -> String { sql.chars().skip(pos - 1).collect() };

    let mut error = if tokenizer {
        let near = position.map(rest_of_input).unwrap_or_default();
        let what = if message.starts_with("Unterminated string literal") {
            "unterminated quoted string".to_string()
        } else if message.starts_with("Unterminated") {
            lowercase_first(message)
        } else {
            "syntax error".to_string()
        };
        SqlError::syntax(format!("{what} at or near \"{near}\"")).with_detail(message.to_string())
    } else if let Some(found) = message.rsplit_once(", found: ").map(|(_, f)| f) {
        if found == "EOF" {
            SqlError {
                position: Some(end_position),
                ..SqlError::syntax("syntax error at end of input")
            }
        } else {
            let near = found.trim_matches('\'');
            let near = if found.starts_with('\'') { found } else { near };
            SqlError::syntax(format!("syntax error at or near \"{near}\""))
        }
        .with_detail(message.to_string())
    } else {
        SqlError::syntax(format!("syntax error: {}", lowercase_first(message)))
    };
    if error.position.is_none() {
        error.position = position;
    }
    error
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_nesting_takes_the_large_stack() {
        let values: Vec<String> = (0..2000).map(|i| format!("({i}, 'x')")).collect();
        let insert = format!("INSERT INTO t VALUES {}", values.join(", "));
        assert_eq!(nesting_depth(&insert), 1);
        assert_eq!(nesting_depth("SELECT ((1) + [2])"), 2);
        assert_eq!(nesting_depth("SELECT NOT NOT not true"), 3);
        assert_eq!(nesting_depth("SELECT note FROM t"), 0);
    }

    use super::*;

    #[test]
    fn positions_are_one_based_characters() {
        assert_eq!(char_position("select\n  x", 2, 3), Some(10));
        assert_eq!(char_position("é x", 1, 3), Some(3));
    }

    #[test]
    fn syntax_errors_look_like_postgres() {
        let err = parse("selec 1").unwrap_err();
        assert_eq!(err.sqlstate, "42601");
        assert_eq!(err.message, "syntax error at or near \"selec\"");
        assert_eq!(err.position, Some(1));

        let err = parse("select 1 +").unwrap_err();
        assert_eq!(err.message, "syntax error at end of input");
        assert_eq!(err.position, Some(11));

        let err = parse("select 1 from t where x = 'abc").unwrap_err();
        assert_eq!(
            err.message,
            "unterminated quoted string at or near \"'abc\""
        );
        assert_eq!(err.position, Some(27));

        let err = parse("select 1;\nselect 2 3").unwrap_err();
        assert_eq!(err.message, "syntax error at or near \"3\"");
        assert_eq!(err.position, Some(20));
    }

    #[test]
    fn reset_becomes_set_default() {
        let stmts = parse("RESET search_path; reset all; select 1").unwrap();
        assert_eq!(stmts.len(), 3);
        assert_eq!(stmts[0].to_string(), "SET search_path = DEFAULT");
        assert_eq!(stmts[1].to_string(), "SET all = DEFAULT");
    }

    #[test]
    fn empty_input_has_no_statements() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse(" ; ;").unwrap().is_empty());
    }
}
