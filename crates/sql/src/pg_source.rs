//! `CREATE SOURCE ... FROM POSTGRES` and `DROP SOURCE`: a Postgres database mirrored
//! by logical replication. Not Postgres syntax, so parsed here, in front of
//! `sqlparser`, and planned into [`Plan::CreatePgSource`] and [`Plan::Drop`].
//!
//! ```text
//! CREATE SOURCE [IF NOT EXISTS] name FROM POSTGRES
//!   WITH (CONNECTION = 'host=... dbname=...', PUBLICATION = 'pub')
//!   [FOR TABLES (schema.table [AS alias], ...) | FOR ALL TABLES]
//! DROP SOURCE [IF EXISTS] name [, ...] [CASCADE | RESTRICT]
//! ```
//!
//! Semantics (what the planned statement promises; the coordinator and
//! `eddy_connect::postgres` keep it):
//! - The source is an item named `name` (not a relation: reading it is `42809`); each
//!   table it reads becomes a table `name.table` in schema `name` (made if missing),
//!   written only by the source. Which tables, their columns and keys are found
//!   upstream when the statement runs, not here: planning does no I/O.
//! - `FOR TABLES` limits the tables (upstream `public` when unqualified) and renames
//!   them with `AS`; `FOR ALL TABLES` (the default) reads the whole publication.
//! - `DROP SOURCE` drops its tables too (views over them need CASCADE) and drops its
//!   replication slot upstream.

use std::fmt;

use eddy_repr::SqlError;
use sqlparser::ast::ObjectName;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use crate::catalog::ItemKind;
use crate::context::StatementContext;
use crate::names::{new_item_name, normalize_ident, object_name_parts, PUBLIC_SCHEMA};
use crate::plan::{PgTableRef, Plan};
use crate::sink::{
    expect_word, is_word, parse_drop_rest, parse_option_value, parse_words, quoted, quoted_ident,
    write_drop,
};
use crate::statement::{check_new_name, plan_drop};

/// A parsed `CREATE SOURCE ... FROM POSTGRES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatePgSource {
    pub name: ObjectName,
    pub if_not_exists: bool,
    /// `WITH (name = value, ...)`, names as written, values as text.
    pub options: Vec<(String, String)>,
    /// `FOR TABLES (...)`; `None` for `FOR ALL TABLES` or no clause.
    pub tables: Option<Vec<PgTableRef>>,
}

/// A parsed `DROP SOURCE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropSource {
    pub names: Vec<ObjectName>,
    pub if_exists: bool,
    pub cascade: bool,
}

impl fmt::Display for CreatePgSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CREATE SOURCE ")?;
        if self.if_not_exists {
            f.write_str("IF NOT EXISTS ")?;
        }
        write!(f, "{} FROM POSTGRES WITH (", self.name)?;
        let options: Vec<String> = self
            .options
            .iter()
            .map(|(name, value)| format!("{name} = {}", quoted(value)))
            .collect();
        write!(f, "{})", options.join(", "))?;
        if let Some(tables) = &self.tables {
            let tables: Vec<String> = tables
                .iter()
                .map(|t| {
                    let mut text = String::new();
                    if let Some(schema) = &t.schema {
                        text.push_str(&quoted_ident(schema));
                        text.push('.');
                    }
                    text.push_str(&quoted_ident(&t.name));
                    if let Some(alias) = &t.alias {
                        text.push_str(" AS ");
                        text.push_str(&quoted_ident(alias));
                    }
                    text
                })
                .collect();
            write!(f, " FOR TABLES ({})", tables.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for DropSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_drop(f, "SOURCE", &self.names, self.if_exists, self.cascade)
    }
}

/// Whether the parser stands at `CREATE SOURCE` or `DROP SOURCE`.
/// Whether the next words are `CREATE SOURCE name FROM POSTGRES` (any other source
/// is 0A000: see `parse.rs`).
pub(crate) fn at_create_source(parser: &Parser) -> bool {
    if !(is_word(&parser.peek_nth_token(0).token, "create")
        && is_word(&parser.peek_nth_token(1).token, "source"))
    {
        return false;
    }
    // The first FROM after the name (which may be qualified, or follow IF NOT EXISTS).
    match (2..10).find(|i| is_word(&parser.peek_nth_token(*i).token, "from")) {
        Some(i) => is_word(&parser.peek_nth_token(i + 1).token, "postgres"),
        None => true,
    }
}

pub(crate) fn at_drop_source(parser: &Parser) -> bool {
    is_word(&parser.peek_nth_token(0).token, "drop")
        && is_word(&parser.peek_nth_token(1).token, "source")
}

/// Parses a statement [`at_create_source`] found.
pub(crate) fn parse_create_source(parser: &mut Parser) -> Result<CreatePgSource, ParserError> {
    expect_word(parser, "create")?;
    expect_word(parser, "source")?;
    let if_not_exists = parse_words(parser, "if", "not") && {
        expect_word(parser, "exists")?;
        true
    };
    let name = parser.parse_object_name(false)?;
    expect_word(parser, "from")?;
    expect_word(parser, "postgres")?;
    let mut options = None;
    let mut tables = None;
    // `WITH (...)` and `FOR ...` in either order, each once.
    loop {
        if options.is_none() && is_word(&parser.peek_token().token, "with") {
            parser.next_token();
            options = Some(parse_options(parser)?);
        } else if tables.is_none() && is_word(&parser.peek_token().token, "for") {
            parser.next_token();
            tables = Some(parse_tables(parser)?);
        } else {
            break;
        }
    }
    let Some(options) = options else {
        return parser.expected(
            "WITH (CONNECTION = '...', PUBLICATION = '...')",
            parser.peek_token(),
        );
    };
    Ok(CreatePgSource {
        name,
        if_not_exists,
        options,
        tables: tables.flatten(),
    })
}

fn parse_options(parser: &mut Parser) -> Result<Vec<(String, String)>, ParserError> {
    parser.expect_token(&Token::LParen)?;
    let mut options = Vec::new();
    loop {
        let option = parser.parse_identifier()?;
        let _ = parser.consume_token(&Token::Eq);
        let text = parse_option_value(parser)?;
        options.push((option.value, text));
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    Ok(options)
}

/// After `FOR`: `ALL TABLES` (`None`) or `TABLES (name [AS alias], ...)`.
fn parse_tables(parser: &mut Parser) -> Result<Option<Vec<PgTableRef>>, ParserError> {
    if parse_words(parser, "all", "tables") {
        return Ok(None);
    }
    expect_word(parser, "tables")?;
    parser.expect_token(&Token::LParen)?;
    let mut tables = Vec::new();
    loop {
        let name = parser.parse_object_name(false)?;
        let parts = object_name_parts(&name).map_err(|e| ParserError::ParserError(e.message))?;
        let (schema, table) = match parts.as_slice() {
            [table] => (None, table.clone()),
            [schema, table] => (Some(schema.clone()), table.clone()),
            _ => {
                return Err(ParserError::ParserError(format!(
                    "expected schema.table in FOR TABLES, found {name}"
                )))
            }
        };
        let alias = if is_word(&parser.peek_token().token, "as") {
            parser.next_token();
            Some(normalize_ident(&parser.parse_identifier()?))
        } else {
            None
        };
        tables.push(PgTableRef {
            schema,
            name: table,
            alias,
        });
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    Ok(Some(tables))
}

/// Parses a statement [`at_drop_source`] found.
pub(crate) fn parse_drop_source(parser: &mut Parser) -> Result<DropSource, ParserError> {
    expect_word(parser, "drop")?;
    expect_word(parser, "source")?;
    let (names, if_exists, cascade) = parse_drop_rest(parser)?;
    Ok(DropSource {
        names,
        if_exists,
        cascade,
    })
}

/// Plans a `CREATE SOURCE ... FROM POSTGRES`: the name (in `public`; its tables go in
/// the schema of that name) and the options as written.
pub(crate) fn plan_create_source(
    scx: &StatementContext,
    create: &CreatePgSource,
) -> Result<Plan, SqlError> {
    let (schema, name) = new_item_name(&create.name, &scx.pcx.database, scx.catalog)?;
    if schema != PUBLIC_SCHEMA {
        return Err(SqlError::unsupported("a source outside schema public")
            .with_hint("The source's tables go in a schema named after the source."));
    }
    check_new_name(scx, &schema, &name, create.if_not_exists)?;
    Ok(Plan::CreatePgSource {
        name,
        if_not_exists: create.if_not_exists,
        options: create.options.clone(),
        tables: create.tables.clone(),
        create_sql: create.to_string(),
    })
}

/// Plans a `DROP SOURCE`.
pub(crate) fn plan_drop_source(
    scx: &StatementContext,
    drop: &DropSource,
) -> Result<Plan, SqlError> {
    plan_drop(
        scx,
        ItemKind::PgSource,
        &drop.names,
        drop.if_exists,
        drop.cascade,
    )
}
