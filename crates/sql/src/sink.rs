//! `CREATE SINK`, `DROP SINK`: a relation's changelog written to a Kafka topic. Not
//! Postgres syntax, so parsed here, in front of `sqlparser`, and planned into
//! [`Plan::CreateSink`] and [`Plan::Drop`].
//!
//! ```text
//! CREATE SINK [IF NOT EXISTS] name FROM relation
//!   WITH (KAFKA_TOPIC = 'topic', ENVELOPE = 'UPSERT' | 'DEBEZIUM'
//!         [, VALUE_FORMAT = 'JSON'] [, KEY = (column, ...) [NOT ENFORCED]]
//!         [, KAFKA_BROKERS = '...'] ...)
//! DROP SINK [IF EXISTS] name [, ...] [CASCADE | RESTRICT]
//! ```
//!
//! Semantics (what the planned statement promises; the coordinator and
//! `eddy_connect::sink` keep it):
//! - The relation (table, stream, view or materialized view) is read as
//!   `SELECT * FROM relation`, so plain views are inlined and the sink depends on what
//!   name resolution found: dropping one of those needs CASCADE (2BP01 otherwise).
//! - A sink is not a relation: it shares the relations' namespace (its name cannot be a
//!   table's), and reading or writing it is `42809`.
//! - The options are checked here only for their shape; their meaning (topic, envelope,
//!   key columns) is `eddy_connect::SinkSpec`'s, which the coordinator builds from them.

use std::fmt;

use eddy_repr::{RelationDesc, SqlError, SqlState};
use sqlparser::ast::ObjectName;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use crate::catalog::ItemKind;
use crate::context::StatementContext;
use crate::names::{new_item_name, normalize_ident};
use crate::plan::{Plan, SinkOptions};
use crate::query;
use crate::statement::{check_new_name, plan_drop};

/// A parsed `CREATE SINK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateSink {
    pub name: ObjectName,
    pub from: ObjectName,
    pub options: SinkOptions,
    pub if_not_exists: bool,
}

/// A parsed `DROP SINK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropSink {
    pub names: Vec<ObjectName>,
    pub if_exists: bool,
    pub cascade: bool,
}

/// `'text'` with quotes doubled, as SQL writes a string literal.
pub(crate) fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `"name"` with quotes doubled, as SQL writes a quoted identifier.
pub(crate) fn quoted_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl fmt::Display for CreateSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CREATE SINK ")?;
        if self.if_not_exists {
            f.write_str("IF NOT EXISTS ")?;
        }
        write!(f, "{} FROM {} WITH (", self.name, self.from)?;
        let mut parts: Vec<String> = self
            .options
            .options
            .iter()
            .map(|(name, value)| format!("{name} = {}", quoted(value)))
            .collect();
        if let Some(key) = &self.options.key {
            let columns: Vec<String> = key.iter().map(|c| quoted_ident(c)).collect();
            let not_enforced = if self.options.key_not_enforced {
                " NOT ENFORCED"
            } else {
                ""
            };
            parts.push(format!("KEY = ({}){not_enforced}", columns.join(", ")));
        }
        write!(f, "{})", parts.join(", "))
    }
}

impl fmt::Display for DropSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_drop(f, "SINK", &self.names, self.if_exists, self.cascade)
    }
}

/// `DROP <what> [IF EXISTS] name, ... [CASCADE]`, as Eddy's own DROP statements print.
pub(crate) fn write_drop(
    f: &mut fmt::Formatter<'_>,
    what: &str,
    names: &[ObjectName],
    if_exists: bool,
    cascade: bool,
) -> fmt::Result {
    write!(f, "DROP {what} ")?;
    if if_exists {
        f.write_str("IF EXISTS ")?;
    }
    let names: Vec<String> = names.iter().map(ToString::to_string).collect();
    f.write_str(&names.join(", "))?;
    if cascade {
        f.write_str(" CASCADE")?;
    }
    Ok(())
}

/// After `DROP <what>`: `[IF EXISTS] name [, ...] [CASCADE | RESTRICT]`, as
/// `(names, if_exists, cascade)`.
pub(crate) fn parse_drop_rest(
    parser: &mut Parser,
) -> Result<(Vec<ObjectName>, bool, bool), ParserError> {
    let if_exists = parse_words(parser, "if", "exists");
    let mut names = vec![parser.parse_object_name(false)?];
    while parser.consume_token(&Token::Comma) {
        names.push(parser.parse_object_name(false)?);
    }
    let cascade = if is_word(&parser.peek_token().token, "cascade") {
        parser.next_token();
        true
    } else {
        if is_word(&parser.peek_token().token, "restrict") {
            parser.next_token();
        }
        false
    };
    Ok((names, if_exists, cascade))
}

/// The value of a `name = value` option: a string, a number or a word, as text.
pub(crate) fn parse_option_value(parser: &mut Parser) -> Result<String, ParserError> {
    let value = parser.next_token();
    match &value.token {
        Token::SingleQuotedString(s) => Ok(s.clone()),
        Token::Number(n, _) => Ok(n.clone()),
        Token::Word(w) => Ok(w.value.clone()),
        _ => parser.expected("an option value", value),
    }
}

pub(crate) fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// Whether the parser stands at `CREATE SINK` or `DROP SINK`.
pub(crate) fn at_create_sink(parser: &Parser) -> bool {
    is_word(&parser.peek_nth_token(0).token, "create")
        && is_word(&parser.peek_nth_token(1).token, "sink")
}

pub(crate) fn at_drop_sink(parser: &Parser) -> bool {
    is_word(&parser.peek_nth_token(0).token, "drop")
        && is_word(&parser.peek_nth_token(1).token, "sink")
}

pub(crate) fn expect_word(parser: &mut Parser, word: &str) -> Result<(), ParserError> {
    let next = parser.next_token();
    if is_word(&next.token, word) {
        Ok(())
    } else {
        parser.expected(&word.to_uppercase(), next)
    }
}

/// Consumes `first second` if they come next.
pub(crate) fn parse_words(parser: &mut Parser, first: &str, second: &str) -> bool {
    if is_word(&parser.peek_nth_token(0).token, first)
        && is_word(&parser.peek_nth_token(1).token, second)
    {
        parser.next_token();
        parser.next_token();
        return true;
    }
    false
}

/// Parses a statement [`at_create_sink`] found.
pub(crate) fn parse_create_sink(parser: &mut Parser) -> Result<CreateSink, ParserError> {
    expect_word(parser, "create")?;
    expect_word(parser, "sink")?;
    let if_not_exists = is_word(&parser.peek_token().token, "if") && {
        parser.next_token();
        expect_word(parser, "not")?;
        expect_word(parser, "exists")?;
        true
    };
    let name = parser.parse_object_name(false)?;
    expect_word(parser, "from")?;
    let from = parser.parse_object_name(false)?;
    let mut options = SinkOptions::default();
    expect_word(parser, "with")?;
    parser.expect_token(&Token::LParen)?;
    loop {
        let option = parser.parse_identifier()?;
        let _ = parser.consume_token(&Token::Eq);
        if option.value.eq_ignore_ascii_case("key") {
            parser.expect_token(&Token::LParen)?;
            let mut columns = vec![normalize_ident(&parser.parse_identifier()?)];
            while parser.consume_token(&Token::Comma) {
                columns.push(normalize_ident(&parser.parse_identifier()?));
            }
            parser.expect_token(&Token::RParen)?;
            options.key_not_enforced = parse_words(parser, "not", "enforced");
            if options.key.replace(columns).is_some() {
                return Err(ParserError::ParserError(
                    "option KEY is given more than once".into(),
                ));
            }
        } else {
            let text = parse_option_value(parser)?;
            options.options.push((option.value, text));
        }
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    Ok(CreateSink {
        name,
        from,
        options,
        if_not_exists,
    })
}

/// Parses a statement [`at_drop_sink`] found.
pub(crate) fn parse_drop_sink(parser: &mut Parser) -> Result<DropSink, ParserError> {
    expect_word(parser, "drop")?;
    expect_word(parser, "sink")?;
    let (names, if_exists, cascade) = parse_drop_rest(parser)?;
    Ok(DropSink {
        names,
        if_exists,
        cascade,
    })
}

/// The error for reading or writing a sink as if it were a relation.
pub(crate) fn not_a_relation(name: &str) -> SqlError {
    not_a_relation_kind(name, ItemKind::Sink)
}

/// The error for reading or writing a sink or a Postgres source as a relation.
pub(crate) fn not_a_relation_kind(name: &str, kind: ItemKind) -> SqlError {
    let error = SqlError::new(
        SqlState::WRONG_OBJECT_TYPE,
        format!(
            "\"{name}\" is {} {}, not a relation",
            if kind == ItemKind::Index { "an" } else { "a" },
            kind.noun()
        ),
    );
    match kind {
        ItemKind::PgSource => error.with_hint(format!(
            "Its tables are in schema \"{name}\": SHOW TABLES lists them as {name}.<table>."
        )),
        ItemKind::Index => error.with_hint(
            "An index speeds up reads of its table by the indexed columns; read the table.",
        ),
        _ => error.with_hint("A sink writes its relation to Kafka; read the relation itself."),
    }
}

/// Plans a `CREATE SINK`: the relation as `SELECT * FROM relation`, its columns, and
/// what it depends on.
pub(crate) fn plan_create_sink(
    scx: &StatementContext,
    create: &CreateSink,
) -> Result<Plan, SqlError> {
    let (schema, name) = new_item_name(&create.name, &scx.pcx.database, scx.catalog)?;
    check_new_name(scx, &schema, &name, create.if_not_exists)?;
    let query = crate::subscribe::select_star_from(&create.from)?;
    let (expr, names, _) = query::plan_query(scx, &query)?.into_relation();
    let desc = RelationDesc::new(names, expr.typ());
    let depends_on = scx.dependencies();
    if depends_on
        .iter()
        .any(|id| matches!(id, eddy_repr::GlobalId::System(_)))
    {
        return Err(SqlError::unsupported("a sink of a system catalog relation"));
    }
    Ok(Plan::CreateSink {
        schema,
        name,
        expr,
        desc,
        depends_on,
        options: create.options.clone(),
        create_sql: create.to_string(),
        if_not_exists: create.if_not_exists,
    })
}

/// Plans a `DROP SINK`.
pub(crate) fn plan_drop_sink(scx: &StatementContext, drop: &DropSink) -> Result<Plan, SqlError> {
    plan_drop(
        scx,
        ItemKind::Sink,
        &drop.names,
        drop.if_exists,
        drop.cascade,
    )
}
