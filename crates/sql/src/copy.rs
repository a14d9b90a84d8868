//! `COPY`: bulk loading into a table and bulk reading out of a relation or query.
//! Parsed here, in front of `sqlparser` (whose `COPY ... FROM STDIN` reads the data
//! inline after a `;`, which the wire protocol sends apart), and planned into
//! [`Plan::CopyFrom`] or a [`Plan::CopyTo`].
//!
//! ```text
//! COPY name [(column, ...)] FROM STDIN [[WITH] (option, ...)] [legacy options]
//! COPY name [(column, ...)] | (query) TO STDOUT [[WITH] (option, ...)] [legacy options]
//! option: FORMAT text | csv, HEADER [bool], DELIMITER 'c', NULL 'x', QUOTE 'c'
//! legacy options: CSV, HEADER, DELIMITER [AS] 'c', NULL [AS] 'x', QUOTE [AS] 'c'
//! ```
//!
//! Semantics: the data of a `COPY FROM` goes into the table as one statement (all rows
//! or none, in the session's transaction block if one is open), the listed columns in
//! order and NULL for the others. `COPY name TO` reads `SELECT columns FROM name`.
//! `FORMAT binary`, files and programs are refused with 0A000.

use eddy_repr::copy::{CopyFormat, CopyFormatKind};
use eddy_repr::{SqlError, SqlState};
use sqlparser::ast::{Ident, ObjectName, Query};
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use crate::context::StatementContext;
use crate::plan::Plan;
use crate::statement::{plan_select, resolve_write_target};

/// How a parse error says the statement is valid but unsupported (a file or program
/// target): `parse` turns it into 0A000.
pub(crate) const UNSUPPORTED_TARGET: &str = "unsupported: ";

/// A parsed `COPY`.
#[derive(Clone, Debug, PartialEq)]
pub struct Copy {
    pub relation: CopyRelation,
    /// `FROM STDIN` (true) or `TO STDOUT` (false).
    pub from: bool,
    /// The options as written, in order: `(name, value)`, the value as written.
    pub options: Vec<(String, Option<String>)>,
}

/// What a `COPY` reads or writes.
#[derive(Clone, Debug, PartialEq)]
pub enum CopyRelation {
    Table {
        name: ObjectName,
        columns: Vec<Ident>,
    },
    Query(Box<Query>),
}

impl std::fmt::Display for Copy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("COPY ")?;
        match &self.relation {
            CopyRelation::Table { name, columns } => {
                write!(f, "{name}")?;
                if !columns.is_empty() {
                    let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
                    write!(f, " ({})", columns.join(", "))?;
                }
            }
            CopyRelation::Query(query) => write!(f, "({query})")?,
        }
        f.write_str(if self.from {
            " FROM STDIN"
        } else {
            " TO STDOUT"
        })?;
        if !self.options.is_empty() {
            let options: Vec<String> = self
                .options
                .iter()
                .map(|(name, value)| match value {
                    Some(v) => format!("{name} '{}'", v.replace('\'', "''")),
                    None => name.clone(),
                })
                .collect();
            write!(f, " WITH ({})", options.join(", "))?;
        }
        Ok(())
    }
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// Whether the parser stands at a `COPY`.
pub(crate) fn at_copy(parser: &Parser) -> bool {
    is_word(&parser.peek_token().token, "copy")
}

/// Parses a statement [`at_copy`] found.
pub(crate) fn parse_copy(parser: &mut Parser) -> Result<Copy, ParserError> {
    parser.next_token();
    let relation = if parser.consume_token(&Token::LParen) {
        let query = parser.parse_query()?;
        parser.expect_token(&Token::RParen)?;
        CopyRelation::Query(query)
    } else {
        let name = parser.parse_object_name(false)?;
        let columns = if parser.peek_token().token == Token::LParen {
            parser.next_token();
            let columns = parser.parse_comma_separated(|p| p.parse_identifier())?;
            parser.expect_token(&Token::RParen)?;
            columns
        } else {
            vec![]
        };
        CopyRelation::Table { name, columns }
    };
    let next = parser.next_token();
    let from = if is_word(&next.token, "from") {
        true
    } else if is_word(&next.token, "to") {
        false
    } else {
        return parser.expected("FROM or TO", next);
    };
    let target = parser.next_token();
    let expected = if from { "stdin" } else { "stdout" };
    if !is_word(&target.token, expected) {
        return Err(ParserError::ParserError(format!(
            "{UNSUPPORTED_TARGET}COPY {} a file or program (only {})",
            if from { "FROM" } else { "TO" },
            expected.to_uppercase()
        )));
    }
    if from && matches!(relation, CopyRelation::Query(_)) {
        return parser.expected("TO", target);
    }
    let mut options = vec![];
    if is_word(&parser.peek_token().token, "with") {
        parser.next_token();
    }
    if parser.consume_token(&Token::LParen) {
        loop {
            let name = parse_option_name(parser)?;
            let value = match parser.peek_token().token {
                Token::Comma | Token::RParen => None,
                _ => Some(parse_option_value(parser)?),
            };
            options.push((name, value));
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen)?;
    }
    // The spelling before Postgres 9.0: `CSV HEADER`, `DELIMITER AS ','`, ...
    loop {
        let token = parser.peek_token();
        let Token::Word(w) = &token.token else {
            break;
        };
        let name = w.value.to_lowercase();
        match name.as_str() {
            "csv" | "binary" => {
                parser.next_token();
                options.push(("format".to_string(), Some(name)));
            }
            "header" => {
                parser.next_token();
                options.push((name, None));
            }
            "delimiter" | "null" | "quote" | "escape" => {
                parser.next_token();
                if is_word(&parser.peek_token().token, "as") {
                    parser.next_token();
                }
                options.push((name, Some(parse_option_value(parser)?)));
            }
            _ => break,
        }
    }
    Ok(Copy {
        relation,
        from,
        options,
    })
}

fn parse_option_name(parser: &mut Parser) -> Result<String, ParserError> {
    let next = parser.next_token();
    match next.token {
        Token::Word(w) => Ok(w.value.to_lowercase()),
        _ => parser.expected("a COPY option", next),
    }
}

fn parse_option_value(parser: &mut Parser) -> Result<String, ParserError> {
    let next = parser.next_token();
    match next.token {
        Token::Word(w) => Ok(w.value.to_lowercase()),
        Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s) => Ok(s),
        Token::Number(n, _) => Ok(n),
        _ => parser.expected("a COPY option value", next),
    }
}

/// The format `options` describe (see the module docs for the options known).
fn copy_format(options: &[(String, Option<String>)]) -> Result<CopyFormat, SqlError> {
    let kind = match options
        .iter()
        .rev()
        .find(|(name, _)| name == "format")
        .and_then(|(_, v)| v.as_deref())
    {
        None | Some("text") => CopyFormatKind::Text,
        Some("csv") => CopyFormatKind::Csv,
        Some("binary") => CopyFormatKind::Binary,
        Some(other) => {
            return Err(SqlError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("COPY format \"{other}\" not recognized"),
            ))
        }
    };
    let mut format = CopyFormat::new(kind);
    let one_char = |name: &str, value: &str| -> Result<char, SqlError> {
        let mut chars = value.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(c),
            _ => Err(SqlError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                format!("COPY {name} must be a single one-byte character"),
            )),
        }
    };
    let csv_only = |name: &str| {
        SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!("COPY {name} available only in CSV mode"),
        )
    };
    for (name, value) in options {
        let value = value.as_deref();
        if kind == CopyFormatKind::Binary && matches!(name.as_str(), "delimiter" | "null") {
            return Err(SqlError::syntax(format!(
                "cannot specify {} in BINARY mode",
                name.to_uppercase()
            )));
        }
        match (name.as_str(), value) {
            ("format", _) => {}
            ("header", v) => {
                if kind != CopyFormatKind::Csv {
                    return Err(csv_only("HEADER"));
                }
                format.header = match v {
                    None | Some("true" | "on" | "1") => true,
                    Some("false" | "off" | "0") => false,
                    Some(other) => {
                        return Err(SqlError::new(
                            SqlState::INVALID_PARAMETER_VALUE,
                            format!("header requires a Boolean value, not \"{other}\""),
                        ))
                    }
                };
            }
            ("delimiter", Some(v)) => format.delimiter = one_char("delimiter", v)?,
            ("null", Some(v)) => format.null = v.to_string(),
            ("quote", Some(v)) => {
                if kind != CopyFormatKind::Csv {
                    return Err(csv_only("quote"));
                }
                format.quote = one_char("quote", v)?;
            }
            (other, _) => {
                return Err(SqlError::unsupported(format!(
                    "COPY option \"{}\"",
                    other.to_uppercase()
                )))
            }
        }
    }
    if format.kind == CopyFormatKind::Csv && format.delimiter == format.quote {
        return Err(SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            "COPY delimiter and quote must be different",
        ));
    }
    Ok(format)
}

pub(crate) fn plan_copy(scx: &StatementContext, copy: &Copy) -> Result<Plan, SqlError> {
    let format = CopyFormat {
        zone: scx.zone(),
        ..copy_format(&copy.options)?
    };
    if !copy.from {
        let query = match &copy.relation {
            CopyRelation::Query(query) => query.clone(),
            CopyRelation::Table { name, columns } => select_from(name, columns)?,
        };
        let select = plan_select(scx, &query)?;
        return Ok(Plan::CopyTo {
            select: Box::new(select),
            format,
        });
    }
    let CopyRelation::Table { name, columns } = &copy.relation else {
        return Err(SqlError::syntax(
            "COPY FROM reads into a table, not a query",
        ));
    };
    let item = resolve_write_target(scx, name, "copy to")?;
    let targets = crate::statement::target_columns(&item, columns)?;
    Ok(Plan::CopyFrom {
        id: item.id,
        name: item.name,
        desc: item.desc,
        columns: targets,
        format,
    })
}

/// `SELECT columns FROM name` (`*` if none), parsed (names print with their quoting).
fn select_from(name: &ObjectName, columns: &[Ident]) -> Result<Box<Query>, SqlError> {
    if columns.is_empty() {
        return crate::subscribe::select_star_from(name);
    }
    let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
    let sql = format!("SELECT {} FROM {name}", columns.join(", "));
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    Parser::new(&dialect)
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| SqlError::syntax(e.to_string()))
}
