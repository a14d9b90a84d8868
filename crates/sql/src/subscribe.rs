//! `SUBSCRIBE`: the changelog of a relation as a stream of rows. Not Postgres syntax,
//! so it is parsed here, in front of `sqlparser`, and planned into [`Plan::Subscribe`].
//!
//! ```text
//! SUBSCRIBE [TO] name [WITH (SNAPSHOT [=] true | false)]
//! SUBSCRIBE [TO] (query) [WITH (...)]
//! COPY (SUBSCRIBE ...) TO STDOUT [[WITH] (FORMAT text)]
//! ```
//!
//! Semantics (what the planned statement promises; the coordinator keeps it):
//! - The result is `(eddy_timestamp bigint, eddy_diff bigint, <the relation's
//!   columns>)`: every change of the relation, one row per distinct row and time, with
//!   its multiplicity change in `eddy_diff` (`+n` inserted, `-n` retracted).
//! - With `SNAPSHOT = true` (the default) the relation's contents at the statement's
//!   read time come first, as insertions at that time.
//! - A named relation is read as `SELECT * FROM name`, so plain views are inlined and
//!   what the subscription depends on comes from name resolution.
//! - `COPY (SUBSCRIBE ...) TO STDOUT` is the same stream in COPY's text format (for
//!   `psql`, which buffers a query's whole result but writes COPY data as it comes).
//!   Its Describe has no result columns, as for any COPY.

use std::fmt;

use eddy_repr::{RelationDesc, ScalarType, SqlError};
use sqlparser::ast::{ObjectName, Query};
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use crate::context::StatementContext;
use crate::plan::{Plan, SubscribeOutput};
use crate::query;

/// The names of the two columns every subscription row starts with.
pub const TIMESTAMP_COLUMN: &str = "eddy_timestamp";
pub const DIFF_COLUMN: &str = "eddy_diff";

/// A parsed `SUBSCRIBE`.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscribe {
    pub relation: SubscribeRelation,
    /// `WITH (SNAPSHOT = ...)`; the default is `true`.
    pub snapshot: bool,
    pub output: SubscribeOutput,
}

/// What a `SUBSCRIBE` reads.
#[derive(Clone, Debug, PartialEq)]
pub enum SubscribeRelation {
    Name(ObjectName),
    Query(Box<Query>),
}

impl fmt::Display for Subscribe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.output == SubscribeOutput::CopyText {
            f.write_str("COPY (")?;
        }
        match &self.relation {
            SubscribeRelation::Name(name) => write!(f, "SUBSCRIBE TO {name}")?,
            SubscribeRelation::Query(query) => write!(f, "SUBSCRIBE TO ({query})")?,
        }
        write!(f, " WITH (SNAPSHOT = {})", self.snapshot)?;
        if self.output == SubscribeOutput::CopyText {
            f.write_str(") TO STDOUT")?;
        }
        Ok(())
    }
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// Whether the parser stands at a `SUBSCRIBE` or a `COPY (SUBSCRIBE`.
pub(crate) fn at_subscribe(parser: &Parser) -> bool {
    let first = parser.peek_nth_token(0).token;
    is_word(&first, "subscribe")
        || (is_word(&first, "copy")
            && parser.peek_nth_token(1).token == Token::LParen
            && is_word(&parser.peek_nth_token(2).token, "subscribe"))
}

/// Parses a statement [`at_subscribe`] found.
pub(crate) fn parse_subscribe(parser: &mut Parser) -> Result<Subscribe, ParserError> {
    if is_word(&parser.peek_token().token, "copy") {
        parser.next_token();
        parser.expect_token(&Token::LParen)?;
        let mut subscribe = parse_subscribe_body(parser)?;
        parser.expect_token(&Token::RParen)?;
        expect_word(parser, "to")?;
        expect_word(parser, "stdout")?;
        parse_copy_options(parser)?;
        subscribe.output = SubscribeOutput::CopyText;
        return Ok(subscribe);
    }
    parse_subscribe_body(parser)
}

fn expect_word(parser: &mut Parser, word: &str) -> Result<(), ParserError> {
    let next = parser.next_token();
    if is_word(&next.token, word) {
        Ok(())
    } else {
        parser.expected(&word.to_uppercase(), next)
    }
}

fn parse_subscribe_body(parser: &mut Parser) -> Result<Subscribe, ParserError> {
    expect_word(parser, "subscribe")?;
    if is_word(&parser.peek_token().token, "to") {
        parser.next_token();
    }
    let relation = if parser.consume_token(&Token::LParen) {
        let query = parser.parse_query()?;
        parser.expect_token(&Token::RParen)?;
        SubscribeRelation::Query(query)
    } else {
        SubscribeRelation::Name(parser.parse_object_name(false)?)
    };
    let mut snapshot = true;
    if is_word(&parser.peek_token().token, "with") {
        parser.next_token();
        parser.expect_token(&Token::LParen)?;
        loop {
            let option = parser.next_token();
            if !is_word(&option.token, "snapshot") {
                return parser.expected("SNAPSHOT", option);
            }
            let _ = parser.consume_token(&Token::Eq);
            snapshot = match parser.peek_token().token {
                Token::Comma | Token::RParen => true,
                _ => {
                    let value = parser.next_token();
                    match &value.token {
                        t if is_word(t, "true") || is_word(t, "on") => true,
                        t if is_word(t, "false") || is_word(t, "off") => false,
                        _ => return parser.expected("TRUE or FALSE", value),
                    }
                }
            };
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen)?;
    }
    Ok(Subscribe {
        relation,
        snapshot,
        output: SubscribeOutput::Rows,
    })
}

/// `[[WITH] (FORMAT text)]`: COPY's text format is the only one offered.
fn parse_copy_options(parser: &mut Parser) -> Result<(), ParserError> {
    if is_word(&parser.peek_token().token, "with") {
        parser.next_token();
    }
    if !parser.consume_token(&Token::LParen) {
        return Ok(());
    }
    expect_word(parser, "format")?;
    let format = parser.next_token();
    let is_text = match &format.token {
        Token::SingleQuotedString(s) => s.eq_ignore_ascii_case("text"),
        t => is_word(t, "text"),
    };
    if !is_text {
        return parser.expected(
            "FORMAT text (the only format of COPY (SUBSCRIBE ...))",
            format,
        );
    }
    parser.expect_token(&Token::RParen)?;
    Ok(())
}

/// Plans a `SUBSCRIBE`: the relation as a query (plain views inlined), the columns it
/// returns after `eddy_timestamp` and `eddy_diff`, and what it depends on.
pub(crate) fn plan_subscribe(
    scx: &StatementContext,
    subscribe: &Subscribe,
) -> Result<Plan, SqlError> {
    let query = match &subscribe.relation {
        SubscribeRelation::Query(query) => query.clone(),
        SubscribeRelation::Name(name) => select_star_from(name)?,
    };
    scx.in_subscribe.set(true);
    let planned = query::plan_query(scx, &query);
    scx.in_subscribe.set(false);
    let (expr, names, _) = planned?.into_relation();
    let mut desc = RelationDesc::empty()
        .with_column(TIMESTAMP_COLUMN, ScalarType::Int64.nullable(false))
        .with_column(DIFF_COLUMN, ScalarType::Int64.nullable(false));
    for (name, typ) in names.into_iter().zip(expr.typ()) {
        desc = desc.with_column(name, typ);
    }
    Ok(Plan::Subscribe {
        expr,
        desc,
        depends_on: scx.dependencies(),
        snapshot: subscribe.snapshot,
        output: subscribe.output,
    })
}

/// `SELECT * FROM name`, parsed (the name prints with its quoting).
pub(crate) fn select_star_from(name: &ObjectName) -> Result<Box<Query>, SqlError> {
    let sql = format!("SELECT * FROM {name}");
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    Parser::new(&dialect)
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| SqlError::syntax(e.to_string()))
}
