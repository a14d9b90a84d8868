//! `CREATE TABLE name [(column, ...)] AS query [WITH [NO] DATA]`.
//!
//! `sqlparser` reads `CREATE TABLE t AS ...` but neither a column list of bare names
//! nor `WITH [NO] DATA`, so the statement is parsed here.
//!
//! Semantics, as Postgres': the result is a plain table (no constraints, every column
//! nullable) with the query's column names (the list renames the first ones) and
//! types, holding the query's rows at one time (none `WITH NO DATA`).
//!
//! Invariant: the table is logged as the `CREATE TABLE` statement that would create
//! it empty (see [`Plan::CreateTableAs`]), never as the query: a restart re-plans a
//! table's text for its defaults and checks, and the query's relations may be gone
//! by then. Its rows are ordinary table rows.

use std::fmt;

use eddy_repr::{ColumnType, RelationDesc, SqlError};
use sqlparser::ast::{Ident, ObjectName, Query};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use crate::context::StatementContext;
use crate::names::{new_item_name, normalize_ident};
use crate::plan::Plan;
use crate::sink::{expect_word, is_word};
use crate::statement::check_new_name;

/// A parsed `CREATE TABLE ... AS`.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateTableAs {
    pub name: ObjectName,
    pub if_not_exists: bool,
    pub columns: Vec<Ident>,
    pub query: Box<Query>,
    /// False for `WITH NO DATA`.
    pub with_data: bool,
}

impl fmt::Display for CreateTableAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE TABLE ")?;
        if self.if_not_exists {
            write!(f, "IF NOT EXISTS ")?;
        }
        write!(f, "{}", self.name)?;
        if !self.columns.is_empty() {
            let columns: Vec<String> = self.columns.iter().map(Ident::to_string).collect();
            write!(f, " ({})", columns.join(", "))?;
        }
        write!(f, " AS {}", self.query)?;
        if !self.with_data {
            write!(f, " WITH NO DATA")?;
        }
        Ok(())
    }
}

/// Whether the parser stands at `CREATE TABLE [IF NOT EXISTS] name [(a, b)] AS`.
pub(crate) fn at_create_table_as(parser: &Parser) -> bool {
    let token = |i: usize| parser.peek_nth_token(i).token;
    let word = |i: usize, w: &str| is_word(&token(i), w);
    if !(word(0, "create") && word(1, "table")) {
        return false;
    }
    let mut i = 2;
    if word(2, "if") && word(3, "not") && word(4, "exists") {
        i = 5;
    }
    // The name: word (. word)*.
    loop {
        if !matches!(token(i), Token::Word(_)) {
            return false;
        }
        i += 1;
        if token(i) != Token::Period {
            break;
        }
        i += 1;
    }
    if token(i) == Token::LParen {
        // Bare column names only: a column with a type is an ordinary CREATE TABLE.
        loop {
            i += 1;
            if !matches!(token(i), Token::Word(_)) {
                return false;
            }
            i += 1;
            match token(i) {
                Token::Comma => continue,
                Token::RParen => break,
                _ => return false,
            }
        }
        i += 1;
    }
    word(i, "as")
}

/// Parses a statement [`at_create_table_as`] found.
pub(crate) fn parse_create_table_as(parser: &mut Parser) -> Result<CreateTableAs, ParserError> {
    expect_word(parser, "create")?;
    expect_word(parser, "table")?;
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    let mut columns = vec![];
    if parser.consume_token(&Token::LParen) {
        loop {
            columns.push(parser.parse_identifier()?);
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen)?;
    }
    parser.expect_keyword(Keyword::AS)?;
    let query = parser.parse_query()?;
    let mut with_data = true;
    if parser.parse_keyword(Keyword::WITH) {
        with_data = !parser.parse_keyword(Keyword::NO);
        parser.expect_keyword(Keyword::DATA)?;
    }
    Ok(CreateTableAs {
        name,
        if_not_exists,
        columns,
        query,
        with_data,
    })
}

/// Plans the query (its rows and columns) and the plain table that holds them.
pub(crate) fn plan_create_table_as(
    scx: &StatementContext,
    create: &CreateTableAs,
) -> Result<Plan, SqlError> {
    let (schema, name) = new_item_name(&create.name, &scx.pcx.database, scx.catalog)?;
    check_new_name(scx, &schema, &name, create.if_not_exists)?;
    let (expr, mut names, _) = crate::query::plan_query(scx, &create.query)?.into_relation();
    if create.columns.len() > names.len() {
        return Err(SqlError::syntax("too many column names were specified"));
    }
    for (name, column) in names.iter_mut().zip(&create.columns) {
        *name = normalize_ident(column);
    }
    crate::statement::check_stored_columns(&names, &expr.typ())?;
    // Postgres keeps no NOT NULL from the query.
    let types: Vec<ColumnType> = expr
        .typ()
        .into_iter()
        .map(|t| t.scalar_type.nullable(true))
        .collect();
    let columns: Vec<String> = names
        .iter()
        .zip(&types)
        .map(|(n, t)| {
            format!(
                "{} {}",
                eddy_expr::eval::quote_ident(n),
                t.scalar_type.sql_name()
            )
        })
        .collect();
    let create_sql = format!("CREATE TABLE {} ({})", create.name, columns.join(", "));
    let table = Plan::CreateTable {
        schema,
        name,
        desc: RelationDesc::new(names, types),
        defaults: vec![],
        checks: vec![],
        unique: vec![],
        sequences: vec![],
        primary_key: vec![],
        create_sql,
        if_not_exists: create.if_not_exists,
        source: None,
    };
    Ok(Plan::CreateTableAs {
        table: Box::new(table),
        rows: create.with_data.then_some(expr),
    })
}
