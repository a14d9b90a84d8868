//! Views directories: `.sql` files read as the desired state of the catalog (see the
//! coordinator's `apply`). This part is pure: it splits files into statements (with
//! the line each starts on), parses them, and says what each defines and reads.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use eddy_repr::{SqlError, SqlState};
use sqlparser::ast::{visit_relations, ObjectName};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::names::{object_name_parts, PUBLIC_SCHEMA};
use crate::parse::{parse, Statement};

/// What a statement of a views file defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileItemKind {
    Schema,
    /// `CREATE TABLE` (with or without Kafka options) or `CREATE STREAM`: an input.
    Table,
    View,
    MaterializedView,
    Sink,
    /// `INSERT`: seed data, applied once.
    Seed,
    /// `CREATE SOURCE ... FROM POSTGRES`: a source whose tables (`name.table`) appear
    /// when it is created.
    Source,
}

impl FileItemKind {
    /// The noun in plans (`materialized view`).
    pub fn noun(&self) -> &'static str {
        match self {
            FileItemKind::Schema => "schema",
            FileItemKind::Table => "table",
            FileItemKind::View => "view",
            FileItemKind::MaterializedView => "materialized view",
            FileItemKind::Sink => "sink",
            FileItemKind::Seed => "seed data",
            FileItemKind::Source => "source",
        }
    }
}

/// One statement of a views file.
#[derive(Clone, Debug)]
pub struct FileStatement {
    pub file: String,
    /// The line it starts on (1-based).
    pub line: usize,
    pub stmt: Statement,
    pub kind: FileItemKind,
    /// What it defines (for a seed: the table it writes).
    pub schema: String,
    pub name: String,
    /// `(schema, name)` of the relations it reads, as written (`public` when
    /// unqualified; a builtin or a CTE name may be among them).
    pub reads: BTreeSet<(String, String)>,
}

impl FileStatement {
    /// `file:line`, for messages.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// An error in a views file, located: `file:line: message`.
pub fn file_error(file: &str, line: usize, e: SqlError) -> SqlError {
    SqlError {
        message: format!("{file}:{line}: {}", e.message),
        ..e
    }
}

/// The statements of `files` (`(name, contents)`, read in that order), each with what
/// it defines and reads. Anything but `CREATE SCHEMA | TABLE | STREAM | SOURCE |
/// [MATERIALIZED] VIEW | SINK` and `INSERT` is an error naming its file and line.
pub fn parse_files(files: &[(String, String)]) -> Result<Vec<FileStatement>, SqlError> {
    let mut out = Vec::new();
    for (file, text) in files {
        for (line, chunk) in split_statements(file, text)? {
            for stmt in parse(&chunk).map_err(|e| file_error(file, line, e))? {
                out.push(describe(file, line, stmt)?);
            }
        }
    }
    Ok(out)
}

/// The statements of one file's text, each with the line its first token is on.
fn split_statements(file: &str, text: &str) -> Result<Vec<(usize, String)>, SqlError> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize_with_location()
        .map_err(|e| {
            file_error(
                file,
                e.location.line as usize,
                SqlError::syntax(e.message.clone()),
            )
        })?;
    let mut statements = Vec::new();
    let mut chunk = String::new();
    let mut first_line = None;
    for token in tokens {
        match &token.token {
            Token::SemiColon => {
                if let Some(line) = first_line.take() {
                    statements.push((line, std::mem::take(&mut chunk)));
                }
                chunk.clear();
            }
            Token::Whitespace(_) => chunk.push_str(&token.token.to_string()),
            other => {
                first_line.get_or_insert(token.span.start.line as usize);
                chunk.push_str(&other.to_string());
            }
        }
    }
    if let Some(line) = first_line {
        statements.push((line, chunk));
    }
    Ok(statements)
}

/// `(schema, name)` of an object name, `public` when unqualified.
fn qualified(name: &ObjectName) -> Result<(String, String), SqlError> {
    match object_name_parts(name)?.as_slice() {
        [item] => Ok((PUBLIC_SCHEMA.to_string(), item.clone())),
        [.., schema, item] => Ok((schema.clone(), item.clone())),
        [] => Err(SqlError::syntax("an empty name")),
    }
}

/// What kind of statement `stmt` is, for messages.
fn kind_of(stmt: &Statement) -> String {
    match stmt {
        Statement::Sql(sql) => crate::statement::statement_kind(sql),
        Statement::Subscribe(_) => "SUBSCRIBE".into(),
        Statement::Copy(_) => "COPY".into(),
        Statement::DropSink(_) => "DROP SINK".into(),
        Statement::DropSource(_) => "DROP SOURCE".into(),
        Statement::RefreshView(_) => "REFRESH MATERIALIZED VIEW".into(),
        _ => "CREATE".into(),
    }
}

fn describe(file: &str, line: usize, stmt: Statement) -> Result<FileStatement, SqlError> {
    use sqlparser::ast::Statement as Ast;
    let located = |e: SqlError| file_error(file, line, e);
    let mut reads = BTreeSet::new();
    let (kind, (schema, name)) = match &stmt {
        Statement::Sql(Ast::CreateSchema {
            schema_name: sqlparser::ast::SchemaName::Simple(name),
            ..
        }) => (
            FileItemKind::Schema,
            (String::new(), qualified(name).map_err(located)?.1),
        ),
        Statement::Sql(Ast::CreateTable(create)) | Statement::CreateStream(create) => {
            (FileItemKind::Table, qualified(&create.name).map_err(located)?)
        }
        Statement::Sql(Ast::CreateView {
            name, materialized, ..
        }) => {
            let kind = if *materialized {
                FileItemKind::MaterializedView
            } else {
                FileItemKind::View
            };
            (kind, qualified(name).map_err(located)?)
        }
        Statement::CreateSink(create) => {
            reads.insert(qualified(&create.from).map_err(located)?);
            (FileItemKind::Sink, qualified(&create.name).map_err(located)?)
        }
        Statement::Sql(Ast::Insert(insert)) => {
            let target = match &insert.table {
                sqlparser::ast::TableObject::TableName(name) => qualified(name).map_err(located)?,
                _ => return Err(located(SqlError::unsupported("INSERT INTO a table function"))),
            };
            (FileItemKind::Seed, target)
        }
        Statement::CreatePgSource(create) => {
            (FileItemKind::Source, qualified(&create.name).map_err(located)?)
        }
        other => {
            return Err(located(SqlError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                format!(
                    "a views file holds CREATE SCHEMA, TABLE, STREAM, SOURCE, [MATERIALIZED] VIEW and SINK statements and INSERTs (seed data); found: {}",
                    kind_of(other)
                ),
            )))
        }
    };
    if let Statement::Sql(sql) = &stmt {
        let _ = visit_relations(sql, |relation| {
            if let Ok(read) = qualified(relation) {
                if read != (schema.clone(), name.clone()) || kind == FileItemKind::Seed {
                    reads.insert(read);
                }
            }
            ControlFlow::<()>::Continue(())
        });
    }
    if kind == FileItemKind::Seed {
        reads.remove(&(schema.clone(), name.clone()));
    }
    Ok(FileStatement {
        file: file.to_string(),
        line,
        stmt,
        kind,
        schema,
        name,
        reads,
    })
}

/// `APPLY FILES '<json>' [WITH (DRY_RUN = true, PRUNE = true)]`: a views directory
/// (`{"file.sql": "contents", ...}`) to move the catalog to (see the coordinator's
/// `apply`). What `eddy apply` and `eddy serve --views` send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Apply {
    /// `(file name, contents)`, by file name.
    pub files: Vec<(String, String)>,
    /// Only say what would change.
    pub dry_run: bool,
    /// Also drop what the files no longer define.
    pub prune: bool,
    /// Build the new versions, answer how they differ, and wait for `APPLY COMMIT`
    /// (or `APPLY ABORT`) before swapping.
    pub hold: bool,
}

/// `APPLY COMMIT token` or `APPLY ABORT token`: the decision on a held swap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplyDecision {
    pub token: u64,
    pub commit: bool,
}

impl std::fmt::Display for ApplyDecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.commit { "COMMIT" } else { "ABORT" };
        write!(f, "APPLY {verb} {}", self.token)
    }
}

/// Whether the parser stands at `APPLY COMMIT | ABORT`.
pub(crate) fn at_apply_decision(parser: &sqlparser::parser::Parser) -> bool {
    crate::sink::is_word(&parser.peek_nth_token(0).token, "apply")
        && (crate::sink::is_word(&parser.peek_nth_token(1).token, "commit")
            || crate::sink::is_word(&parser.peek_nth_token(1).token, "abort"))
}

/// Parses a statement [`at_apply_decision`] found.
pub(crate) fn parse_apply_decision(
    parser: &mut sqlparser::parser::Parser,
) -> Result<ApplyDecision, sqlparser::parser::ParserError> {
    crate::sink::expect_word(parser, "apply")?;
    let commit = crate::sink::is_word(&parser.peek_token().token, "commit");
    parser.next_token();
    let next = parser.next_token();
    let token = match &next.token {
        Token::Number(n, _) => n.parse().ok(),
        _ => None,
    };
    match token {
        Some(token) => Ok(ApplyDecision { token, commit }),
        None => parser.expected("the swap's number", next),
    }
}

impl std::fmt::Display for Apply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let files: serde_json::Map<String, serde_json::Value> = self
            .files
            .iter()
            .map(|(name, text)| (name.clone(), serde_json::Value::String(text.clone())))
            .collect();
        let json = serde_json::Value::Object(files).to_string();
        write!(
            f,
            "APPLY FILES '{}' WITH (DRY_RUN = {}, PRUNE = {}, HOLD = {})",
            json.replace('\'', "''"),
            self.dry_run,
            self.prune,
            self.hold
        )
    }
}

/// Whether the parser stands at `APPLY`.
pub(crate) fn at_apply(parser: &sqlparser::parser::Parser) -> bool {
    crate::sink::is_word(&parser.peek_nth_token(0).token, "apply")
        && crate::sink::is_word(&parser.peek_nth_token(1).token, "files")
}

/// Parses a statement [`at_apply`] found.
pub(crate) fn parse_apply(
    parser: &mut sqlparser::parser::Parser,
) -> Result<Apply, sqlparser::parser::ParserError> {
    use sqlparser::parser::ParserError;
    crate::sink::expect_word(parser, "apply")?;
    crate::sink::expect_word(parser, "files")?;
    let next = parser.next_token();
    let Token::SingleQuotedString(json) = &next.token else {
        return parser.expected("the files as a JSON object in a string", next);
    };
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| ParserError::ParserError(format!("APPLY FILES: not JSON: {e}")))?;
    let serde_json::Value::Object(object) = value else {
        return Err(ParserError::ParserError(
            "APPLY FILES: expected a JSON object of file name to contents".into(),
        ));
    };
    let mut files = Vec::new();
    for (name, text) in object {
        let serde_json::Value::String(text) = text else {
            return Err(ParserError::ParserError(format!(
                "APPLY FILES: the contents of {name} are not a string"
            )));
        };
        files.push((name, text));
    }
    files.sort();
    let mut apply = Apply {
        files,
        dry_run: false,
        prune: false,
        hold: false,
    };
    if crate::sink::is_word(&parser.peek_token().token, "with") {
        parser.next_token();
        parser.expect_token(&Token::LParen)?;
        loop {
            let option = parser.parse_identifier()?;
            let _ = parser.consume_token(&Token::Eq);
            let on = parse_bool(parser)?;
            match option.value.to_lowercase().as_str() {
                "dry_run" => apply.dry_run = on,
                "prune" => apply.prune = on,
                "hold" => apply.hold = on,
                other => {
                    return Err(ParserError::ParserError(format!(
                        "unknown APPLY option {other} (DRY_RUN, PRUNE, HOLD)"
                    )))
                }
            }
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen)?;
    }
    Ok(apply)
}

/// The result columns of `APPLY`: one row per step of the plan.
pub fn apply_desc() -> eddy_repr::RelationDesc {
    let text = || eddy_repr::ScalarType::Text.nullable(false);
    eddy_repr::RelationDesc::new(
        vec![
            "action".into(),
            "kind".into(),
            "name".into(),
            "detail".into(),
            "location".into(),
        ],
        vec![text(), text(), text(), text(), text()],
    )
}

/// `REPLAY MATERIALIZED VIEW name [FROM 'earliest' | 'latest' | [TIMESTAMP] 'ts']
/// [WITH (HOLD = true)]`: rebuild a view from its inputs beside the running version,
/// and swap to it (blue/green) once it has caught up. `FROM` sets where in its streams
/// the rebuilt view starts (its `start` option, by event time). With `HOLD`, the
/// rebuilt version waits for `APPLY COMMIT | ABORT` and the answer shows how its rows
/// differ from the serving version's (as `APPLY ... HOLD` does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    pub name: ObjectName,
    /// `FROM`, as given.
    pub from: Option<String>,
    pub hold: bool,
}

impl std::fmt::Display for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "REPLAY MATERIALIZED VIEW {}", self.name)?;
        if let Some(text) = &self.from {
            write!(f, " FROM '{}'", text.replace('\'', "''"))?;
        }
        if self.hold {
            write!(f, " WITH (HOLD = true)")?;
        }
        Ok(())
    }
}

/// Whether the parser stands at `REPLAY`.
pub(crate) fn at_replay(parser: &sqlparser::parser::Parser) -> bool {
    crate::sink::is_word(&parser.peek_nth_token(0).token, "replay")
}

/// Parses a statement [`at_replay`] found.
pub(crate) fn parse_replay(
    parser: &mut sqlparser::parser::Parser,
) -> Result<Replay, sqlparser::parser::ParserError> {
    crate::sink::expect_word(parser, "replay")?;
    crate::sink::expect_word(parser, "materialized")?;
    crate::sink::expect_word(parser, "view")?;
    let name = parser.parse_object_name(false)?;
    let mut from = None;
    if crate::sink::is_word(&parser.peek_token().token, "from") {
        parser.next_token();
        if crate::sink::is_word(&parser.peek_token().token, "timestamp") {
            parser.next_token();
        }
        from = Some(parser.parse_literal_string()?);
    }
    let mut hold = false;
    if crate::sink::is_word(&parser.peek_token().token, "with") {
        parser.next_token();
        parser.expect_token(&Token::LParen)?;
        let option = parser.parse_identifier()?;
        if !option.value.eq_ignore_ascii_case("hold") {
            return Err(sqlparser::parser::ParserError::ParserError(format!(
                "unknown REPLAY option {} (HOLD)",
                option.value
            )));
        }
        let _ = parser.consume_token(&Token::Eq);
        hold = parse_bool(parser)?;
        parser.expect_token(&Token::RParen)?;
    }
    Ok(Replay { name, from, hold })
}

/// `true` or `false`.
fn parse_bool(
    parser: &mut sqlparser::parser::Parser,
) -> Result<bool, sqlparser::parser::ParserError> {
    let value = parser.next_token();
    match &value.token {
        Token::Word(w) if w.value.eq_ignore_ascii_case("true") => Ok(true),
        Token::Word(w) if w.value.eq_ignore_ascii_case("false") => Ok(false),
        _ => parser.expected("true or false", value),
    }
}

/// Plans a `REPLAY MATERIALIZED VIEW`: the view must be one.
pub(crate) fn plan_replay(
    scx: &crate::context::StatementContext,
    replay: &Replay,
) -> Result<crate::plan::Plan, SqlError> {
    Ok(crate::plan::Plan::Replay {
        id: materialized_view(scx, &replay.name)?.id,
        from: replay
            .from
            .as_deref()
            .map(crate::view_options::parse_start)
            .transpose()?,
        hold: replay.hold,
    })
}

/// Plans `REFRESH MATERIALIZED VIEW name`: nothing to do (Eddy keeps it fresh), once
/// the name is a materialized view, as Postgres checks.
pub(crate) fn plan_refresh(
    scx: &crate::context::StatementContext,
    name: &ObjectName,
) -> Result<crate::plan::Plan, SqlError> {
    materialized_view(scx, name)?;
    Ok(crate::plan::Plan::Noop {
        tag: "REFRESH MATERIALIZED VIEW".into(),
    })
}

/// The materialized view `name` names: 42P01 if nothing, 42809 if something else.
fn materialized_view(
    scx: &crate::context::StatementContext,
    name: &ObjectName,
) -> Result<crate::catalog::CatalogItem, SqlError> {
    let item = crate::names::item_name(name, &scx.pcx.database)?;
    let found = scx
        .catalog
        .resolve_item(item.schema.as_deref(), &item.item)
        .ok_or_else(|| SqlError::undefined_table(&item.to_string()))?;
    if found.kind != crate::catalog::ItemKind::MaterializedView {
        return Err(SqlError::new(
            SqlState::WRONG_OBJECT_TYPE,
            format!("\"{}\" is not a materialized view", found.name),
        ));
    }
    Ok(found)
}

/// `ALTER [MATERIALIZED] VIEW name RENAME TO new_name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenameView {
    pub materialized: bool,
    pub name: ObjectName,
    pub new_name: String,
}

impl std::fmt::Display for RenameView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let materialized = if self.materialized {
            "MATERIALIZED "
        } else {
            ""
        };
        write!(
            f,
            "ALTER {materialized}VIEW {} RENAME TO {}",
            self.name,
            crate::sink::quoted_ident(&self.new_name)
        )
    }
}

/// Whether the parser stands at `ALTER [MATERIALIZED] VIEW name RENAME`.
pub(crate) fn at_rename_view(parser: &sqlparser::parser::Parser) -> bool {
    let word = |i: usize, w: &str| crate::sink::is_word(&parser.peek_nth_token(i).token, w);
    if !word(0, "alter") {
        return false;
    }
    let mut i = if word(1, "materialized") && word(2, "view") {
        3
    } else if word(1, "view") {
        2
    } else {
        return false;
    };
    // The name: word (. word)*.
    loop {
        if !matches!(parser.peek_nth_token(i).token, Token::Word(_)) {
            return false;
        }
        i += 1;
        if parser.peek_nth_token(i).token != Token::Period {
            break;
        }
        i += 1;
    }
    word(i, "rename")
}

/// Parses a statement [`at_rename_view`] found.
pub(crate) fn parse_rename_view(
    parser: &mut sqlparser::parser::Parser,
) -> Result<RenameView, sqlparser::parser::ParserError> {
    crate::sink::expect_word(parser, "alter")?;
    let materialized = crate::sink::is_word(&parser.peek_token().token, "materialized");
    if materialized {
        parser.next_token();
    }
    crate::sink::expect_word(parser, "view")?;
    let name = parser.parse_object_name(false)?;
    crate::sink::expect_word(parser, "rename")?;
    crate::sink::expect_word(parser, "to")?;
    let new_name = crate::names::normalize_ident(&parser.parse_identifier()?);
    Ok(RenameView {
        materialized,
        name,
        new_name,
    })
}

/// Plans an `ALTER ... VIEW ... RENAME TO`: the view must be of the kind named.
pub(crate) fn plan_rename_view(
    scx: &crate::context::StatementContext,
    rename: &RenameView,
) -> Result<crate::plan::Plan, SqlError> {
    use crate::catalog::ItemKind;
    let item = crate::names::item_name(&rename.name, &scx.pcx.database)?;
    let found = scx
        .catalog
        .resolve_item(item.schema.as_deref(), &item.item)
        .ok_or_else(|| SqlError::undefined_table(&item.to_string()))?;
    let wanted = if rename.materialized {
        ItemKind::MaterializedView
    } else {
        ItemKind::View
    };
    if found.kind != wanted {
        return Err(SqlError::new(
            SqlState::WRONG_OBJECT_TYPE,
            format!("\"{}\" is not a {}", found.name, wanted.noun()),
        ));
    }
    Ok(crate::plan::Plan::RenameView {
        id: found.id,
        new_name: rename.new_name.clone(),
    })
}
