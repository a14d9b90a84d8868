//! Planning each kind of statement into a [`Plan`].
//!
//! DDL plans only describe the change (the coordinator applies it and re-checks what
//! may have changed since planning, such as name conflicts and dependents). Writes
//! resolve their target table, which must be a user table. Statements Eddy does not
//! support are `0A000 <statement> is not supported yet`.

use std::collections::BTreeMap;

use eddy_expr::func::CastKind;
use eddy_expr::MirRelationExpr;
use eddy_repr::{ColumnType, GlobalId, RelationDesc, ScalarType};
use sqlparser::ast::{
    Assignment, AssignmentTarget, ColumnOption, CreateTable, CreateTableOptions, DescribeAlias,
    Expr, FromTable, Ident, Insert, ObjectName, ObjectType, OnConflict, OnConflictAction, OnInsert,
    Query, SchemaName, SelectItem, Set, SetExpr, ShowStatementFilterPosition, ShowStatementOptions,
    SqlOption, Statement, TableConstraint, TableFactor, TableObject, TableWithJoins,
    TransactionAccessMode, TransactionIsolationLevel, TransactionMode, Value,
};

use crate::catalog::{CatalogItem, ItemKind};
use crate::context::{CExpr, StatementContext, Typed};
use crate::expr::{self, ExprContext};
use crate::names::{
    item_name, new_item_name, normalize_ident, object_name_parts, PUBLIC_SCHEMA, SYSTEM_SCHEMAS,
};
use crate::plan::{MutationKind, ObjectKind, Plan, RowSetFinishing, SourceOptions};
use crate::query::{self, PlannedQuery};
use crate::scope::{Scope, TableRef};
use crate::types::{self, CastContext};
use eddy_repr::{SqlError, SqlState};

/// Plans one statement.
pub fn plan_statement(scx: &StatementContext, stmt: &Statement) -> Result<Plan, SqlError> {
    match stmt {
        Statement::Query(query) => plan_select(scx, query),
        Statement::Insert(insert) => plan_insert(scx, insert),
        Statement::Update {
            table,
            assignments,
            from,
            selection,
            returning,
            or,
            limit,
        } => {
            if from.is_some() {
                return Err(SqlError::unsupported("UPDATE ... FROM"));
            }
            if or.is_some() || limit.is_some() {
                return Err(SqlError::unsupported("this UPDATE syntax"));
            }
            plan_update(
                scx,
                table,
                assignments,
                selection.as_ref(),
                returning.as_deref(),
            )
        }
        Statement::Delete(delete) => {
            if !delete.tables.is_empty() || !delete.order_by.is_empty() || delete.limit.is_some() {
                return Err(SqlError::unsupported("this DELETE syntax"));
            }
            if delete.using.is_some() {
                return Err(SqlError::unsupported("DELETE ... USING"));
            }
            let tables = match &delete.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            let [table] = tables.as_slice() else {
                return Err(SqlError::unsupported("DELETE from several tables"));
            };
            plan_delete(
                scx,
                table,
                delete.selection.as_ref(),
                delete.returning.as_deref(),
            )
        }
        Statement::Truncate {
            table_names,
            partitions,
            ..
        } => {
            if partitions.is_some() {
                return Err(SqlError::unsupported("TRUNCATE ... PARTITION"));
            }
            let [target] = table_names.as_slice() else {
                return Err(SqlError::unsupported("TRUNCATE of several tables"));
            };
            let item = resolve_write_target(scx, &target.name, "truncate")?;
            Ok(Plan::ReadThenWrite {
                id: item.id,
                selection: get(&item),
                kind: MutationKind::Truncate,
                returning: None,
            })
        }
        Statement::CreateTable(create) => plan_create_table(scx, stmt.to_string(), create, false),
        Statement::CreateView {
            or_alter,
            or_replace,
            materialized,
            secure,
            name,
            columns,
            query,
            options,
            cluster_by,
            comment,
            if_not_exists,
            temporary,
            to,
            params,
            ..
        } => {
            if *or_alter
                || *secure
                || *temporary
                || to.is_some()
                || params.is_some()
                || !cluster_by.is_empty()
                || comment.is_some()
            {
                return Err(SqlError::unsupported("this CREATE VIEW syntax"));
            }
            let view_options = crate::view_options::ViewOptions::read(options)?;
            if view_options.needs_closing() && !*materialized {
                let what = match view_options.emit_on_window_close {
                    true => "EMIT ON WINDOW CLOSE",
                    false => "retention",
                };
                return Err(SqlError::unsupported(format!(
                    "{what} on a view that is not materialized"
                ))
                .with_hint("Only a materialized view keeps the rows of closed windows."));
            }
            scx.set_view_options(&view_options);
            if *or_replace && *if_not_exists {
                return Err(SqlError::syntax(
                    "cannot combine OR REPLACE and IF NOT EXISTS",
                ));
            }
            let column_names = columns
                .iter()
                .map(|c| {
                    if c.data_type.is_some() || c.options.is_some() {
                        Err(SqlError::unsupported_plural("column types in CREATE VIEW"))
                    } else {
                        Ok(normalize_ident(&c.name))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            let target = ViewTarget {
                name,
                materialized: *materialized,
                or_replace: *or_replace,
                if_not_exists: *if_not_exists,
            };
            plan_create_view(scx, stmt, &target, &column_names, query)
        }
        Statement::CreateIndex(create) => crate::index::plan_create_index(scx, create),
        Statement::CreateSchema {
            schema_name,
            if_not_exists,
            with,
            options,
            default_collate_spec,
            clone,
        } => {
            let SchemaName::Simple(name) = schema_name else {
                return Err(SqlError::unsupported("CREATE SCHEMA ... AUTHORIZATION"));
            };
            if with.is_some()
                || options.is_some()
                || default_collate_spec.is_some()
                || clone.is_some()
            {
                return Err(SqlError::unsupported("this CREATE SCHEMA syntax"));
            }
            let name = schema_name_of(name)?;
            if SYSTEM_SCHEMAS.contains(&name.as_str()) || name.starts_with("pg_") {
                return Err(SqlError::new(
                    SqlState::RESERVED_NAME,
                    format!("unacceptable schema name \"{name}\""),
                )
                .with_detail("The prefix \"pg_\" is reserved for system schemas."));
            }
            if scx.catalog.schema_exists(&name) && !if_not_exists {
                return Err(SqlError::new(
                    SqlState::DUPLICATE_SCHEMA,
                    format!("schema \"{name}\" already exists"),
                ));
            }
            Ok(Plan::CreateSchema {
                name,
                if_not_exists: *if_not_exists,
            })
        }
        Statement::Drop {
            object_type: ObjectType::Schema,
            if_exists,
            names,
            cascade,
            ..
        } => {
            let mut found = vec![];
            let mut missing = vec![];
            for name in names {
                let name = schema_name_of(name)?;
                if SYSTEM_SCHEMAS.contains(&name.as_str()) || name == PUBLIC_SCHEMA {
                    return Err(SqlError::new(
                        SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                        format!("cannot drop schema {name} because it is required by the database system"),
                    ));
                }
                if !scx.catalog.schema_exists(&name) {
                    if !if_exists {
                        return Err(SqlError::new(
                            SqlState::INVALID_SCHEMA_NAME,
                            format!("schema \"{name}\" does not exist"),
                        ));
                    }
                    missing.push(name);
                } else if !found.contains(&name) {
                    found.push(name);
                }
            }
            Ok(Plan::DropSchema {
                names: found,
                missing,
                cascade: *cascade,
            })
        }
        Statement::CreateSequence {
            temporary,
            if_not_exists,
            name,
            data_type,
            sequence_options,
            owned_by,
        } => crate::sequences::plan_create_sequence(
            name,
            *if_not_exists,
            *temporary,
            data_type.as_ref(),
            sequence_options,
            owned_by.as_ref(),
        ),
        Statement::Drop {
            object_type: ObjectType::Sequence,
            if_exists,
            names,
            cascade: false,
            ..
        } => Ok(Plan::DropSequence {
            names: crate::sequences::drop_names(names)?,
            if_exists: *if_exists,
        }),
        Statement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            temporary,
            table,
            ..
        } => {
            let kind = match object_type {
                ObjectType::Table => ItemKind::Table,
                ObjectType::View => ItemKind::View,
                ObjectType::MaterializedView => ItemKind::MaterializedView,
                ObjectType::Stream => ItemKind::Source,
                ObjectType::Index => ItemKind::Index,
                other => return Err(SqlError::unsupported(format!("DROP {other}"))),
            };
            if *temporary || table.is_some() {
                return Err(SqlError::unsupported("this DROP syntax"));
            }
            // A unique index is a UNIQUE constraint of its table.
            if let (ItemKind::Index, [name]) = (kind, names.as_slice()) {
                let item = item_name(name, &scx.pcx.database)?;
                let schema = item
                    .schema
                    .as_deref()
                    .unwrap_or(crate::names::PUBLIC_SCHEMA);
                if scx.catalog.resolve_item(Some(schema), &item.item).is_none() {
                    if let Some(plan) =
                        crate::index::plan_drop_unique_index(scx, schema, &item.item)?
                    {
                        return Ok(plan);
                    }
                }
            }
            plan_drop(scx, kind, names, *if_exists, *cascade)
        }
        Statement::ShowVariable { variable } => {
            let words: Vec<String> = variable.iter().map(normalize_ident).collect();
            let name = match words.join(" ").as_str() {
                "time zone" => "timezone".to_string(),
                "transaction isolation level" => "transaction_isolation".to_string(),
                "session authorization" => "session_authorization".to_string(),
                // Not a variable: Eddy's sources (ksqlDB's and Materialize's spelling).
                "sources" | "streams" => return Ok(Plan::ShowSources),
                "sinks" => return Ok(Plan::ShowSinks),
                other => other.to_string(),
            };
            Ok(Plan::ShowVariable(name))
        }
        Statement::ShowTables {
            terse,
            history,
            extended,
            full,
            external,
            show_options,
        } => {
            if *terse || *history || *extended || *full || *external || !no_options(show_options) {
                return Err(SqlError::unsupported("this SHOW TABLES syntax"));
            }
            Ok(Plan::ShowObjects(ObjectKind::Tables))
        }
        Statement::ShowViews {
            terse,
            materialized,
            show_options,
        } => {
            if *terse || !no_options(show_options) {
                return Err(SqlError::unsupported("this SHOW VIEWS syntax"));
            }
            Ok(Plan::ShowObjects(if *materialized {
                ObjectKind::MaterializedViews
            } else {
                ObjectKind::Views
            }))
        }
        Statement::ShowColumns {
            extended,
            full,
            show_options,
        } => {
            let name = show_options
                .show_in
                .as_ref()
                .and_then(|i| i.parent_name.as_ref());
            let (Some(name), false, false, None, None, None, None) = (
                name,
                *extended,
                *full,
                &show_options.starts_with,
                &show_options.limit,
                &show_options.limit_from,
                &show_options.filter_position,
            ) else {
                return Err(SqlError::unsupported("this SHOW COLUMNS syntax"));
            };
            let item = resolve_item(scx, name)?;
            Ok(Plan::ShowColumns { id: item.id })
        }
        Statement::Set(set) => plan_set(set),
        Statement::StartTransaction {
            statements,
            exception,
            modifier,
            ..
        } => {
            if !statements.is_empty() || exception.is_some() || modifier.is_some() {
                return Err(SqlError::unsupported("this BEGIN syntax"));
            }
            Ok(Plan::StartTransaction)
        }
        Statement::Commit {
            chain, modifier, ..
        } => {
            if *chain || modifier.is_some() {
                return Err(SqlError::unsupported("COMMIT AND CHAIN"));
            }
            Ok(Plan::Commit)
        }
        Statement::Rollback { chain, savepoint } => {
            if *chain {
                return Err(SqlError::unsupported("ROLLBACK AND CHAIN"));
            }
            match savepoint {
                Some(name) => Ok(Plan::RollbackToSavepoint {
                    name: normalize_ident(name),
                }),
                None => Ok(Plan::Rollback),
            }
        }
        Statement::Savepoint { name } => Ok(Plan::Savepoint {
            name: normalize_ident(name),
        }),
        Statement::ReleaseSavepoint { name } => Ok(Plan::ReleaseSavepoint {
            name: normalize_ident(name),
        }),
        Statement::Explain {
            describe_alias,
            analyze,
            statement,
            format,
            options,
            estimate,
            query_plan,
            ..
        } => {
            if *describe_alias != DescribeAlias::Explain {
                return Err(SqlError::unsupported("DESCRIBE"));
            }
            if *analyze {
                return Err(SqlError::unsupported("EXPLAIN ANALYZE"));
            }
            if format.is_some() || options.is_some() || *estimate || *query_plan {
                return Err(SqlError::unsupported_plural("EXPLAIN options"));
            }
            plan_explain(scx, statement)
        }
        Statement::AlterTable {
            name,
            if_exists,
            only,
            operations,
            location: None,
            on_cluster: None,
            iceberg: false,
            ..
        } => crate::alter_table::plan_alter_table(scx, name, *if_exists, *only, operations),
        other => Err(SqlError::unsupported(statement_kind(other))),
    }
}

fn no_options(options: &ShowStatementOptions) -> bool {
    options.show_in.is_none()
        && options.starts_with.is_none()
        && options.limit.is_none()
        && options.limit_from.is_none()
        && !matches!(
            options.filter_position,
            Some(ShowStatementFilterPosition::Infix(_) | ShowStatementFilterPosition::Suffix(_))
        )
}

/// The name of a statement kind for `... is not supported yet`.
pub fn statement_kind(stmt: &Statement) -> String {
    let known = match stmt {
        Statement::CreateIndex(_) => "CREATE INDEX",
        Statement::AlterTable { .. } => "ALTER TABLE",
        Statement::AlterView { .. } => "ALTER VIEW",
        Statement::AlterIndex { .. } => "ALTER INDEX",
        Statement::Copy { .. } => "COPY",
        Statement::CreateSchema { .. } => "CREATE SCHEMA",
        Statement::CreateDatabase { .. } => "CREATE DATABASE",
        Statement::CreateFunction(_) => "CREATE FUNCTION",
        Statement::CreateType { .. } => "CREATE TYPE",
        Statement::CreateSequence { .. } => "CREATE SEQUENCE",
        Statement::CreateRole { .. } => "CREATE ROLE",
        Statement::CreateExtension { .. } => "CREATE EXTENSION",
        Statement::CreateTrigger(_) => "CREATE TRIGGER",
        Statement::Grant { .. } => "GRANT",
        Statement::Revoke { .. } => "REVOKE",
        Statement::Prepare { .. } => "PREPARE",
        Statement::Execute { .. } => "EXECUTE",
        Statement::Deallocate { .. } => "DEALLOCATE",
        Statement::Declare { .. } => "DECLARE",
        Statement::Fetch { .. } => "FETCH",
        Statement::Close { .. } => "CLOSE",
        Statement::Savepoint { .. } => "SAVEPOINT",
        Statement::ReleaseSavepoint { .. } => "RELEASE SAVEPOINT",
        Statement::Comment { .. } => "COMMENT",
        Statement::Analyze { .. } => "ANALYZE",
        Statement::Discard { .. } => "DISCARD",
        Statement::Merge { .. } => "MERGE",
        Statement::Call(_) => "CALL",
        Statement::LISTEN { .. } => "LISTEN",
        Statement::NOTIFY { .. } => "NOTIFY",
        Statement::UNLISTEN { .. } => "UNLISTEN",
        Statement::ShowCreate { .. } => "SHOW CREATE",
        Statement::ShowFunctions { .. } => "SHOW FUNCTIONS",
        Statement::Use(_) => "USE",
        Statement::Vacuum(_) => "VACUUM",
        Statement::ExplainTable { .. } => "DESCRIBE",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    // The leading keywords of the statement's text.
    let text = stmt.to_string();
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .take(2)
        .collect();
    if words.is_empty() {
        "this statement".to_string()
    } else {
        words.join(" ")
    }
}

pub(crate) fn plan_select(scx: &StatementContext, query: &Query) -> Result<Plan, SqlError> {
    let planned = query::plan_query(scx, query)?;
    let mut types = planned.visible_types();
    let PlannedQuery {
        expr,
        order_by,
        limit,
        offset,
        names,
        ..
    } = planned;
    let (expr, project) = with_object_names(scx, expr, &mut types)?;
    Ok(Plan::Select {
        expr,
        finishing: RowSetFinishing {
            order_by,
            limit,
            offset,
            project,
        },
        desc: RelationDesc::new(names, types),
    })
}

/// A SELECT's result with its `regclass` and `regtype` columns (among the
/// first `types.len()`) printed as Postgres prints them, as the object's name (a
/// number when there is no such object): each is looked up, and the result column
/// becomes that text (`types` changes with it). Returns the relation and the columns
/// of the result in it. Inside the query they stay OIDs (they compare and order as
/// numbers, as in Postgres).
fn with_object_names(
    scx: &StatementContext,
    expr: MirRelationExpr,
    types: &mut [eddy_repr::ColumnType],
) -> Result<(MirRelationExpr, Vec<usize>), SqlError> {
    let kind_of = |t: &ScalarType| match t {
        ScalarType::RegClass => Some("regclass"),
        ScalarType::RegType => Some("regtype"),
        _ => None,
    };
    let mut project: Vec<usize> = (0..types.len()).collect();
    if !types.iter().any(|t| kind_of(&t.scalar_type).is_some()) {
        return Ok((expr, project));
    }
    let typ = expr.typ();
    let outer = crate::subquery::OuterRelation::new(expr);
    let scope = crate::scope::Scope::empty();
    let mut ecx = crate::expr::ExprContext::new(scx, &scope, &typ, "SELECT");
    ecx.rel = Some(&outer);
    let mut names = vec![];
    for (column, t) in types.iter().enumerate() {
        if let Some(kind) = kind_of(&t.scalar_type) {
            let oid = crate::context::Typed::new(eddy_expr::MirScalarExpr::Column(column), *t);
            let name = match kind {
                "regtype" => {
                    crate::func::plan_call(scx, "format_type", vec![oid.into(), CExpr::Null])?
                        .cast(ScalarType::Text, eddy_expr::func::CastKind::Explicit)
                }
                _ => crate::introspect::plan_object_name(&ecx, kind, oid.into())?,
            };
            names.push((column, name));
        }
    }
    drop(ecx);
    let rel = outer.into_inner();
    let base = rel.arity();
    let mut scalars = vec![];
    for (i, (column, name)) in names.into_iter().enumerate() {
        project[column] = base + i;
        types[column] = name.typ;
        scalars.push(name.expr);
    }
    Ok((rel.map(scalars), project))
}

fn plan_explain(scx: &StatementContext, stmt: &Statement) -> Result<Plan, SqlError> {
    match stmt {
        Statement::Query(query) => {
            let (expr, _, _) = query::plan_query(scx, query)?.into_relation();
            Ok(Plan::Explain {
                expr,
                maintained: false,
            })
        }
        Statement::CreateView {
            materialized: true,
            query,
            options,
            ..
        } => {
            scx.set_view_options(&crate::view_options::ViewOptions::read(options)?);
            scx.in_view.set(true);
            let (expr, _, _) = query::plan_query(scx, query)?.into_relation();
            Ok(Plan::Explain {
                expr,
                maintained: true,
            })
        }
        other => Err(SqlError::unsupported(format!(
            "EXPLAIN {}",
            statement_kind(other)
        ))),
    }
}

/// `EMIT ON WINDOW CLOSE` (`emit`) and `retention` need a grouping whose windows close:
/// by `window_start` or `window_end` of `TUMBLE` or `HOP` (or `window_end` of `SESSION`)
/// over a stream's event time.
fn check_closes_windows(expr: &MirRelationExpr, emit: bool) -> Result<(), SqlError> {
    let mut closes = false;
    expr.visit(&mut |e| {
        closes |= matches!(
            e,
            MirRelationExpr::Watermarked {
                mode: eddy_expr::WatermarkMode::EmitOnClose | eddy_expr::WatermarkMode::Finalize,
                ..
            }
        )
    });
    if closes {
        return Ok(());
    }
    let what = match emit {
        true => "EMIT ON WINDOW CLOSE",
        false => "A view's retention",
    };
    Err(SqlError::new(
        SqlState::FEATURE_NOT_SUPPORTED,
        format!("{what} needs a GROUP BY on the window_start or window_end of TUMBLE or HOP over a stream's event time"),
    )
    .with_hint(
        "Declare the stream's event time with WITH (TIMESTAMP = 'column' [, LATENESS = 'interval']) and pass that column to TUMBLE or HOP; windows close when the stream's watermark passes them.",
    ))
}

fn get(item: &CatalogItem) -> MirRelationExpr {
    MirRelationExpr::Get {
        id: item.id,
        typ: item.desc.types.clone(),
        name: item.name.clone(),
    }
}

pub(crate) fn resolve_item(
    scx: &StatementContext,
    name: &ObjectName,
) -> Result<CatalogItem, SqlError> {
    let item = item_name(name, &scx.pcx.database)?;
    scx.catalog
        .resolve_item(item.schema.as_deref(), &item.item)
        .ok_or_else(|| SqlError::undefined_table(&item.to_string()))
}

/// The table an INSERT/UPDATE/DELETE/TRUNCATE writes: it must be a user table.
pub(crate) fn resolve_write_target(
    scx: &StatementContext,
    name: &ObjectName,
    verb: &str,
) -> Result<CatalogItem, SqlError> {
    let item = resolve_item(scx, name)?;
    if matches!(item.id, GlobalId::System(_)) {
        return Err(SqlError::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!("permission denied for table {}", item.name),
        ));
    }
    match item.kind {
        ItemKind::Table => Ok(item),
        ItemKind::MaterializedView => Err(SqlError::new(
            SqlState::WRONG_OBJECT_TYPE,
            format!("cannot change materialized view \"{}\"", item.name),
        )),
        ItemKind::View => Err(SqlError::new(
            SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("cannot {verb} view \"{}\"", item.name),
        )
        .with_detail("Views are not updatable.")),
        ItemKind::Source => Err(SqlError::new(
            SqlState::WRONG_OBJECT_TYPE,
            format!("cannot {verb} source \"{}\"", item.name),
        )),
        ItemKind::Sink => Err(crate::sink::not_a_relation(&item.name)),
        ItemKind::PgSource | ItemKind::Index => {
            Err(crate::sink::not_a_relation_kind(&item.name, item.kind))
        }
    }
}

/// Positions in `item` of the `columns` an INSERT or COPY writes, in statement order
/// (every column, in table order, when none are named).
pub(crate) fn target_columns(
    item: &CatalogItem,
    columns: &[Ident],
) -> Result<Vec<usize>, SqlError> {
    let mut targets: Vec<usize> = vec![];
    for column in columns {
        let column = normalize_ident(column);
        let i = item.desc.column_index(&column).ok_or_else(|| {
            SqlError::new(
                SqlState::UNDEFINED_COLUMN,
                format!(
                    "column \"{column}\" of relation \"{}\" does not exist",
                    item.name
                ),
            )
        })?;
        if targets.contains(&i) {
            return Err(SqlError::new(
                SqlState::DUPLICATE_COLUMN,
                format!("column \"{column}\" specified more than once"),
            ));
        }
        targets.push(i);
    }
    if targets.is_empty() {
        targets = (0..item.desc.arity()).collect();
    }
    Ok(targets)
}

/// Brings a value to a column's type on assignment (`column "a" is of type integer but
/// expression is of type boolean`).
fn assign(
    scx: &StatementContext,
    value: CExpr,
    column: &str,
    typ: ScalarType,
) -> Result<Typed, SqlError> {
    match scx.coerce(value, typ, CastContext::Assignment)? {
        Ok(t) => Ok(t),
        Err(from) => Err(SqlError::datatype_mismatch(format!(
            "column \"{column}\" is of type {} but expression is of type {from}",
            typ.sql_name()
        ))
        .with_hint("You will need to rewrite or cast the expression.")),
    }
}

/// The value column `column` of `item` takes when a statement gives none (omitted
/// from an INSERT, or `DEFAULT`): its `DEFAULT` expression, planned now (so `now()`
/// is this statement's time), else NULL.
pub(crate) fn default_value(
    scx: &StatementContext,
    item: &CatalogItem,
    column: usize,
) -> Result<Typed, SqlError> {
    let typ = item.desc.types[column].scalar_type;
    let Some(Some(text)) = item.defaults.get(column) else {
        return Ok(Typed::null(typ));
    };
    let parsed = parse_default(text)?;
    let scope = Scope::empty();
    let ecx = ExprContext::new(scx, &scope, &[], "DEFAULT");
    let planned = expr::plan_expr(&ecx, &parsed)?;
    assign(scx, planned, &item.desc.names[column], typ)
}

/// A column's `DEFAULT` expression from its SQL text.
pub(crate) fn parse_default(text: &str) -> Result<Expr, SqlError> {
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut parser| parser.parse_expr())
        .map_err(|e| SqlError::internal(format!("a stored DEFAULT does not parse: {e}")))
}

/// Each column's `DEFAULT` expression, as SQL text, of a `CREATE TABLE` statement's
/// normalized text (as the catalog keeps it); empty when no column has one.
pub fn table_defaults(create_sql: &str) -> Vec<Option<String>> {
    match crate::parse::parse(create_sql).as_deref() {
        Ok([crate::parse::Statement::Sql(Statement::CreateTable(create))]) => defaults_of(create),
        _ => vec![],
    }
}

fn defaults_of(create: &CreateTable) -> Vec<Option<String>> {
    let table = object_name_parts(&create.name)
        .ok()
        .and_then(|parts| parts.last().cloned())
        .unwrap_or_default();
    let defaults: Vec<Option<String>> = create
        .columns
        .iter()
        .map(|column| {
            let owned = || {
                let sequence =
                    crate::sequences::owned_sequence_name(&table, &normalize_ident(&column.name));
                Some(crate::sequences::nextval_default(&sequence))
            };
            if crate::sequences::serial_type(&column.data_type).is_some() {
                return owned();
            }
            column.options.iter().find_map(|o| match &o.option {
                ColumnOption::Default(e) => Some(e.to_string()),
                ColumnOption::Generated {
                    generated_as: sqlparser::ast::GeneratedAs::ByDefault,
                    generation_expr: None,
                    ..
                } => owned(),
                _ => None,
            })
        })
        .collect();
    if defaults.iter().all(Option::is_none) {
        vec![]
    } else {
        defaults
    }
}

/// `DEFAULT` in VALUES or SET.
fn is_default_keyword(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(Ident { value, quote_style: None, .. }) if value.eq_ignore_ascii_case("default"))
}

fn plan_insert(scx: &StatementContext, insert: &Insert) -> Result<Plan, SqlError> {
    if insert.or.is_some()
        || insert.ignore
        || insert.overwrite
        || !insert.assignments.is_empty()
        || insert.partitioned.is_some()
        || !insert.after_columns.is_empty()
        || insert.replace_into
        || insert.priority.is_some()
        || insert.insert_alias.is_some()
        || insert.settings.is_some()
        || insert.format_clause.is_some()
    {
        return Err(SqlError::unsupported("this INSERT syntax"));
    }
    let name = match &insert.table {
        TableObject::TableName(name) => name,
        _ => return Err(SqlError::unsupported("INSERT into a table function")),
    };
    let item = resolve_write_target(scx, name, "insert into")?;
    let desc = &item.desc;

    // The target columns, in statement order.
    let explicit = !insert.columns.is_empty();
    let targets = target_columns(&item, &insert.columns)?;
    let too_many = || SqlError::syntax("INSERT has more expressions than target columns");
    let too_few = || SqlError::syntax("INSERT has more target columns than expressions");
    let column_types: Vec<ScalarType> = desc.types.iter().map(|t| t.scalar_type).collect();

    // What each column holds when the statement gives it no value: planned for each
    // row, so a serial column's `nextval` gives each its own value.
    let defaults = || -> Result<Vec<Typed>, SqlError> {
        (0..desc.arity())
            .map(|c| default_value(scx, &item, c))
            .collect()
    };
    let mut serial_fill = vec![];
    let values = match insert.source.as_deref() {
        None => query::rows_relation(vec![defaults()?], &column_types),
        Some(source) if is_plain_values(source) => {
            let SetExpr::Values(values) = source.body.as_ref() else {
                unreachable!("checked by is_plain_values")
            };
            let scope = Scope::empty();
            let ecx = ExprContext::new(scx, &scope, &[], "VALUES");
            let mut rows = vec![];
            for row in &values.rows {
                if row.len() > targets.len() {
                    return Err(too_many());
                }
                if explicit && row.len() < targets.len() {
                    return Err(too_few());
                }
                let given: Vec<usize> = row
                    .iter()
                    .zip(&targets)
                    .filter(|(value, _)| !is_default_keyword(value))
                    .map(|(_, column)| *column)
                    .collect();
                let mut full: Vec<Typed> = (0..desc.arity())
                    .map(|c| match given.contains(&c) {
                        true => Ok(Typed::null(column_types[c])),
                        false => default_value(scx, &item, c),
                    })
                    .collect::<Result<_, SqlError>>()?;
                for (value, &column) in row.iter().zip(&targets) {
                    if is_default_keyword(value) {
                        continue;
                    }
                    let planned = expr::plan_expr(&ecx, value)?;
                    full[column] = assign(scx, planned, &desc.names[column], column_types[column])?;
                }
                rows.push(full);
            }
            query::rows_relation(rows, &column_types)
        }
        Some(source) => {
            let (rel, _, unknown) = query::plan_query(scx, source)?.into_relation();
            let typ = rel.typ();
            if typ.len() > targets.len() {
                return Err(too_many());
            }
            if explicit && typ.len() < targets.len() {
                return Err(too_few());
            }
            // Columns left out take their defaults, except a serial one: the
            // coordinator gives each row its own value.
            let given: Vec<usize> = targets.iter().copied().take(typ.len()).collect();
            let mut exprs: Vec<Typed> = Vec::with_capacity(desc.arity());
            for (c, &column_type) in column_types.iter().enumerate() {
                let serial = item
                    .defaults
                    .get(c)
                    .and_then(|d| d.as_deref())
                    .and_then(crate::sequences::sequence_of_default);
                match serial {
                    Some((schema, sequence)) if !given.contains(&c) => {
                        serial_fill.push((c, schema, sequence));
                        exprs.push(Typed::null(column_type));
                    }
                    _ if given.contains(&c) => exprs.push(Typed::null(column_type)),
                    _ => exprs.push(default_value(scx, &item, c)?),
                }
            }
            for (i, &column) in targets.iter().enumerate().take(typ.len()) {
                let value = Typed::new(eddy_expr::MirScalarExpr::Column(i), typ[i]);
                exprs[column] = if unknown[i] {
                    // A literal of unknown type: read with the column type's input function.
                    scx.cast(value, column_types[column], CastKind::Assignment)
                } else {
                    assign(scx, value.into(), &desc.names[column], column_types[column])?
                };
            }
            query::project_outputs(rel, exprs.into_iter().map(|t| t.expr).collect())
        }
    };
    // The table's columns (under its alias, if any), then for ON CONFLICT the
    // proposed row's, as `excluded`.
    let table_ref = TableRef {
        schema: None,
        name: match &insert.table_alias {
            Some(alias) => normalize_ident(alias),
            None => item.name.clone(),
        },
    };
    let scope = Scope::from_names(Some(table_ref), &desc.names);
    let on_conflict = match &insert.on {
        None => None,
        Some(OnInsert::OnConflict(on)) => Some(plan_on_conflict(scx, &item, &scope, on)?),
        Some(_) => return Err(SqlError::unsupported("ON DUPLICATE KEY UPDATE")),
    };
    let returning = insert
        .returning
        .as_deref()
        .map(|items| plan_returning(scx, &item, &scope, items))
        .transpose()?;
    Ok(Plan::Insert {
        id: item.id,
        values,
        serial_fill,
        on_conflict,
        returning,
    })
}

/// `ON CONFLICT [(cols) | ON CONSTRAINT name] DO NOTHING | DO UPDATE SET ... [WHERE]`
/// of an INSERT into `item`, whose columns `scope` names.
fn plan_on_conflict(
    scx: &StatementContext,
    item: &CatalogItem,
    scope: &Scope,
    on: &OnConflict,
) -> Result<crate::plan::OnConflict, SqlError> {
    use crate::plan::{ConflictAction, ConflictTarget};
    let target = match &on.conflict_target {
        None => ConflictTarget::Any,
        Some(sqlparser::ast::ConflictTarget::Columns(columns)) => {
            let columns = columns
                .iter()
                .map(|c| {
                    let name = normalize_ident(c);
                    item.desc.column_index(&name).ok_or_else(|| {
                        SqlError::new(
                            SqlState::UNDEFINED_COLUMN,
                            format!("column \"{name}\" does not exist"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
            ConflictTarget::Columns(columns)
        }
        Some(sqlparser::ast::ConflictTarget::OnConstraint(name)) => {
            let parts = object_name_parts(name)?;
            ConflictTarget::Constraint(parts.last().cloned().unwrap_or_default())
        }
    };
    let action = match &on.action {
        OnConflictAction::DoNothing => ConflictAction::Nothing,
        OnConflictAction::DoUpdate(update) => {
            if target == ConflictTarget::Any {
                return Err(SqlError::syntax(
                    "ON CONFLICT DO UPDATE requires inference specification or constraint name",
                )
                .with_hint("For example, ON CONFLICT (column_name)."));
            }
            let excluded = Scope::from_names(
                Some(TableRef {
                    schema: None,
                    name: "excluded".into(),
                }),
                &item.desc.names,
            );
            let both = Scope::concat(scope.clone(), excluded);
            let types: Vec<ColumnType> = item
                .desc
                .types
                .iter()
                .chain(item.desc.types.iter())
                .copied()
                .collect();
            let assignments = plan_assignments(scx, item, &both, &types, &update.assignments)?;
            let selection = match &update.selection {
                None => None,
                Some(condition) => {
                    let ecx = ExprContext::new(scx, &both, &types, "WHERE");
                    Some(expr::plan_condition(&ecx, condition)?.expr)
                }
            };
            ConflictAction::Update {
                assignments,
                selection,
            }
        }
    };
    Ok(crate::plan::OnConflict { target, action })
}

/// `RETURNING items` of a write to `item` whose columns `scope` names.
fn plan_returning(
    scx: &StatementContext,
    item: &CatalogItem,
    scope: &Scope,
    items: &[SelectItem],
) -> Result<crate::plan::Returning, SqlError> {
    let ecx = ExprContext::new(scx, scope, &item.desc.types, "RETURNING");
    let (mut exprs, mut names, mut types) = (vec![], vec![], vec![]);
    let all_columns = |exprs: &mut Vec<_>, names: &mut Vec<_>, types: &mut Vec<_>| {
        for (c, (name, typ)) in item.desc.names.iter().zip(&item.desc.types).enumerate() {
            exprs.push(eddy_expr::MirScalarExpr::Column(c));
            names.push(name.clone());
            types.push(*typ);
        }
    };
    for select_item in items {
        let (expr, name) = match select_item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(_, _) => {
                all_columns(&mut exprs, &mut names, &mut types);
                continue;
            }
            SelectItem::UnnamedExpr(e) => (e, query::column_name(e)),
            SelectItem::ExprWithAlias { expr, alias } => (expr, normalize_ident(alias)),
        };
        let planned = expr::plan_expr(&ecx, expr)?;
        let typed = scx.resolve_unknown(planned, ScalarType::Text, CastKind::Explicit)?;
        exprs.push(typed.expr);
        names.push(name);
        types.push(typed.typ);
    }
    Ok(crate::plan::Returning {
        exprs,
        desc: RelationDesc::new(names, types),
    })
}

fn is_plain_values(query: &Query) -> bool {
    matches!(query.body.as_ref(), SetExpr::Values(_))
        && query.with.is_none()
        && query.order_by.is_none()
        && query.limit_clause.is_none()
        && query.fetch.is_none()
}

/// The target table of UPDATE/DELETE and its scope.
fn write_target_with_scope(
    scx: &StatementContext,
    table: &TableWithJoins,
    verb: &str,
) -> Result<(CatalogItem, Scope), SqlError> {
    if !table.joins.is_empty() {
        return Err(SqlError::unsupported(format!(
            "{} with joins",
            verb.to_uppercase()
        )));
    }
    let TableFactor::Table {
        name,
        alias,
        args: None,
        ..
    } = &table.relation
    else {
        return Err(SqlError::unsupported(format!(
            "this {} target",
            verb.to_uppercase()
        )));
    };
    let item = resolve_write_target(scx, name, verb)?;
    let table_ref = match alias {
        Some(alias) => {
            if !alias.columns.is_empty() {
                return Err(SqlError::syntax("column aliases are not allowed here"));
            }
            TableRef {
                schema: None,
                name: normalize_ident(&alias.name),
            }
        }
        None => TableRef {
            schema: item_name(name, &scx.pcx.database)?.schema,
            name: item.name.clone(),
        },
    };
    let scope = Scope::from_names(Some(table_ref), &item.desc.names);
    Ok((item, scope))
}

fn selection(
    scx: &StatementContext,
    item: &CatalogItem,
    scope: &Scope,
    condition: Option<&Expr>,
) -> Result<MirRelationExpr, SqlError> {
    let mut rel = get(item);
    if let Some(condition) = condition {
        let ecx = ExprContext::new(scx, scope, &item.desc.types, "WHERE");
        let cond = expr::plan_condition(&ecx, condition)?;
        rel = rel.filter(vec![cond.expr]);
    }
    Ok(rel)
}

fn plan_update(
    scx: &StatementContext,
    table: &TableWithJoins,
    assignments: &[Assignment],
    condition: Option<&Expr>,
    returning: Option<&[SelectItem]>,
) -> Result<Plan, SqlError> {
    plan_read_then_write(scx, table, "update", condition, returning, |item, scope| {
        Ok(MutationKind::Update {
            assignments: plan_assignments(scx, item, scope, &item.desc.types, assignments)?,
        })
    })
}

/// UPDATE or DELETE (`verb`) of the rows of `table` where `condition` holds, with
/// what `kind` makes of them, and the rows RETURNING gives.
fn plan_read_then_write(
    scx: &StatementContext,
    table: &TableWithJoins,
    verb: &str,
    condition: Option<&Expr>,
    returning: Option<&[SelectItem]>,
    kind: impl FnOnce(&CatalogItem, &Scope) -> Result<MutationKind, SqlError>,
) -> Result<Plan, SqlError> {
    let (item, scope) = write_target_with_scope(scx, table, verb)?;
    let selection = selection(scx, &item, &scope, condition)?;
    let kind = kind(&item, &scope)?;
    let returning = returning
        .map(|items| plan_returning(scx, &item, &scope, items))
        .transpose()?;
    Ok(Plan::ReadThenWrite {
        id: item.id,
        selection,
        kind,
        returning,
    })
}

/// `SET col = value, ...` of an UPDATE (or of ON CONFLICT DO UPDATE) of `item`: each
/// value planned in `scope` (whose columns have `types`), assignment-cast to its
/// column's type.
fn plan_assignments(
    scx: &StatementContext,
    item: &CatalogItem,
    scope: &Scope,
    types: &[ColumnType],
    assignments: &[Assignment],
) -> Result<BTreeMap<usize, eddy_expr::MirScalarExpr>, SqlError> {
    let ecx = ExprContext::new(scx, scope, types, "UPDATE");
    let mut planned = BTreeMap::new();
    for assignment in assignments {
        let AssignmentTarget::ColumnName(target) = &assignment.target else {
            return Err(SqlError::unsupported(
                "UPDATE with a multiple-column assignment",
            ));
        };
        let parts = object_name_parts(target)?;
        let column = parts.last().cloned().unwrap_or_default();
        let index = match parts.as_slice() {
            [_] => item.desc.column_index(&column),
            _ => None,
        }
        .ok_or_else(|| {
            SqlError::new(
                SqlState::UNDEFINED_COLUMN,
                format!(
                    "column \"{}\" of relation \"{}\" does not exist",
                    parts.join("."),
                    item.name
                ),
            )
        })?;
        if planned.contains_key(&index) {
            return Err(SqlError::syntax(format!(
                "multiple assignments to same column \"{column}\""
            )));
        }
        let typ = item.desc.types[index].scalar_type;
        let value = if is_default_keyword(&assignment.value) {
            default_value(scx, item, index)?
        } else {
            let value = expr::plan_expr(&ecx, &assignment.value)?;
            assign(scx, value, &column, typ)?
        };
        planned.insert(index, value.expr);
    }
    Ok(planned)
}

fn plan_delete(
    scx: &StatementContext,
    table: &TableWithJoins,
    condition: Option<&Expr>,
    returning: Option<&[SelectItem]>,
) -> Result<Plan, SqlError> {
    plan_read_then_write(scx, table, "delete from", condition, returning, |_, _| {
        Ok(MutationKind::Delete)
    })
}

/// A schema's name: one identifier (`database.schema` is refused as Postgres does).
fn schema_name_of(name: &ObjectName) -> Result<String, SqlError> {
    match object_name_parts(name)?.as_slice() {
        [schema] => Ok(schema.clone()),
        _ => Err(SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!("cross-database references are not implemented: \"{name}\""),
        )),
    }
}

/// Refuses a new name that is taken (unless IF NOT EXISTS / OR REPLACE allow it).
pub(crate) fn check_new_name(
    scx: &StatementContext,
    schema: &str,
    name: &str,
    allow_existing: bool,
) -> Result<Option<CatalogItem>, SqlError> {
    let existing = scx.catalog.resolve_item(Some(schema), name);
    if existing.is_some() && !allow_existing {
        return Err(SqlError::new(
            SqlState::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    Ok(existing)
}

/// Plans the CHECK constraints of table `table` (columns `names` of `types`), naming
/// them as Postgres does: a column's `<table>_<column>_check`, a table's by the one
/// column it reads or `<table>_check`, with a number added to a name already taken.
fn plan_checks(
    scx: &StatementContext,
    table: &str,
    names: &[String],
    types: &[ColumnType],
    checks: Vec<(Option<String>, Expr, Option<String>)>,
) -> Result<Vec<crate::plan::CheckConstraint>, SqlError> {
    let scope = Scope::from_names(
        Some(TableRef {
            schema: None,
            name: table.to_string(),
        }),
        names,
    );
    let mut planned: Vec<crate::plan::CheckConstraint> = Vec::new();
    for (name, check, column) in checks {
        let ecx = ExprContext::new(scx, &scope, types, "check constraints");
        scx.in_check.set(true);
        let cond = expr::plan_expr(&ecx, &check);
        scx.in_check.set(false);
        let cond = cond?;
        let cond = match scx.coerce(cond, ScalarType::Bool, CastContext::Implicit)? {
            Ok(cond) => cond,
            Err(from) => {
                return Err(SqlError::datatype_mismatch(format!(
                    "argument of CHECK must be type boolean, not type {from}"
                )))
            }
        };
        let name = match name {
            Some(name) => name,
            None => {
                let column = column.or_else(|| {
                    let read = cond.expr.support();
                    (read.len() == 1).then(|| names[*read.iter().next().expect("one")].clone())
                });
                let base = match column {
                    Some(column) => format!("{table}_{column}_check"),
                    None => format!("{table}_check"),
                };
                let mut name = base.clone();
                let mut n = 1;
                while planned.iter().any(|c| c.name == name) {
                    name = format!("{base}{n}");
                    n += 1;
                }
                name
            }
        };
        planned.push(crate::plan::CheckConstraint {
            name,
            expr: cond.expr,
        });
    }
    Ok(planned)
}

/// Checks a column's `DEFAULT` expression when the table is created: it plans without
/// columns in scope (a column reference is an error, as in Postgres) and can be
/// stored in the column.
fn check_default(
    scx: &StatementContext,
    default: &Expr,
    column: &str,
    typ: ScalarType,
) -> Result<(), SqlError> {
    // Planning `nextval('s')` would take a value: a sequence's default is checked by
    // the INSERTs that use it.
    if crate::sequences::sequence_of_default(&default.to_string()).is_some() {
        return Ok(());
    }
    let scope = Scope::empty();
    let ecx = ExprContext::new(scx, &scope, &[], "DEFAULT expressions");
    let planned = expr::plan_expr(&ecx, default).map_err(|e| {
        if e.sqlstate == SqlState::UNDEFINED_COLUMN {
            SqlError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                "cannot use column reference in DEFAULT expression",
            )
        } else {
            e
        }
    })?;
    match scx.coerce(planned, typ, CastContext::Assignment)? {
        Ok(_) => Ok(()),
        Err(from) => Err(SqlError::datatype_mismatch(format!(
            "column \"{column}\" is of type {} but default expression is of type {from}",
            typ.sql_name()
        ))
        .with_hint("You will need to rewrite or cast the expression.")),
    }
}

/// `CREATE TABLE`, or with `stream`, `CREATE STREAM` (which must read a topic, and has
/// no primary key); `create_sql` is the statement's normalized text.
pub(crate) fn plan_create_table(
    scx: &StatementContext,
    create_sql: String,
    create: &CreateTable,
    stream: bool,
) -> Result<Plan, SqlError> {
    if create.temporary {
        return Err(SqlError::unsupported("CREATE TEMPORARY TABLE"));
    }
    if create.query.is_some() {
        // `create_table_as.rs` parses the statement with bare column names; with
        // typed columns it is Postgres' syntax error too.
        return Err(
            SqlError::syntax("syntax error at or near \"AS\"").with_hint(
                "CREATE TABLE name [(column, ...)] AS query takes column names without types.",
            ),
        );
    }
    if create.like.is_some() || create.clone.is_some() {
        return Err(SqlError::unsupported("CREATE TABLE ... LIKE"));
    }
    if create.inherits.is_some() || create.partition_by.is_some() {
        return Err(SqlError::unsupported(
            "CREATE TABLE ... INHERITS/PARTITION BY",
        ));
    }
    let source = match &create.table_options {
        CreateTableOptions::None => None,
        CreateTableOptions::With(options) => {
            let options = with_options(options)?;
            if !options
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("kafka_topic"))
            {
                return Err(SqlError::unsupported("CREATE TABLE ... WITH (...)")
                    .with_hint("A table read from Kafka names its topic: WITH (KAFKA_TOPIC = 'name', VALUE_FORMAT = 'JSON')."));
            }
            Some(SourceOptions { stream, options })
        }
        _ => return Err(SqlError::unsupported("this CREATE TABLE syntax")),
    };
    if stream && source.is_none() {
        return Err(SqlError::syntax("a stream reads a Kafka topic").with_hint(
            "CREATE STREAM name (columns) WITH (KAFKA_TOPIC = 'topic', VALUE_FORMAT = 'JSON')",
        ));
    }
    if create.or_replace
        || create.external
        || create.global.is_some()
        || create.on_commit.is_some()
        || create.without_rowid
        || create.primary_key.is_some()
        || create.order_by.is_some()
        || create.comment.is_some()
    {
        return Err(SqlError::unsupported("this CREATE TABLE syntax"));
    }
    let (schema, name) = new_item_name(&create.name, &scx.pcx.database, scx.catalog)?;
    check_new_name(scx, &schema, &name, create.if_not_exists)?;

    let mut names: Vec<String> = vec![];
    let mut types: Vec<ColumnType> = vec![];
    let mut primary_key: Vec<usize> = vec![];
    // The sequences of serial and identity columns.
    let mut sequences: Vec<String> = vec![];
    // `(name, columns)` of each UNIQUE constraint, in order.
    let mut unique: Vec<(Option<String>, Vec<usize>)> = vec![];
    // `(name, expression, column)` of each CHECK: named, or of a column.
    let mut check_exprs: Vec<(Option<String>, Expr, Option<String>)> = vec![];
    let set_primary_key = |columns: Vec<usize>, pk: &mut Vec<usize>| -> Result<(), SqlError> {
        if !pk.is_empty() {
            return Err(SqlError::new(
                SqlState::INVALID_TABLE_DEFINITION,
                format!("multiple primary keys for table \"{name}\" are not allowed"),
            ));
        }
        *pk = columns;
        Ok(())
    };
    for column in &create.columns {
        let column_name = normalize_ident(&column.name);
        if names.contains(&column_name) {
            return Err(SqlError::new(
                SqlState::DUPLICATE_COLUMN,
                format!("column \"{column_name}\" specified more than once"),
            ));
        }
        let serial = crate::sequences::serial_type(&column.data_type);
        let scalar_type = match serial {
            Some(t) => {
                sequences.push(crate::sequences::owned_sequence_name(&name, &column_name));
                t
            }
            None => types::scalar_type(&column.data_type)?,
        };
        let mut nullable = serial.is_none();
        for option in &column.options {
            match &option.option {
                ColumnOption::Null => nullable = true,
                ColumnOption::NotNull => nullable = false,
                ColumnOption::Unique {
                    is_primary: true, ..
                } => {
                    nullable = false;
                    set_primary_key(vec![names.len()], &mut primary_key)?;
                }
                ColumnOption::Unique {
                    is_primary: false,
                    characteristics: None,
                } => unique.push((option.name.as_ref().map(normalize_ident), vec![names.len()])),
                ColumnOption::Default(default) => {
                    check_default(scx, default, &column_name, scalar_type)?
                }
                ColumnOption::ForeignKey { .. } => {
                    return Err(SqlError::unsupported_plural("REFERENCES constraints"))
                }
                ColumnOption::Check(expr) => check_exprs.push((
                    option.name.as_ref().map(normalize_ident),
                    expr.clone(),
                    Some(column_name.clone()),
                )),
                ColumnOption::Generated {
                    generated_as: sqlparser::ast::GeneratedAs::ByDefault,
                    generation_expr: None,
                    sequence_options,
                    ..
                } if sequence_options.as_ref().is_none_or(Vec::is_empty)
                    && matches!(
                        scalar_type,
                        ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64
                    ) =>
                {
                    nullable = false;
                    sequences.push(crate::sequences::owned_sequence_name(&name, &column_name));
                }
                ColumnOption::Generated {
                    generated_as: sqlparser::ast::GeneratedAs::Always,
                    generation_expr: None,
                    ..
                } => {
                    return Err(SqlError::unsupported("GENERATED ALWAYS AS IDENTITY")
                        .with_hint("GENERATED BY DEFAULT AS IDENTITY and serial are supported."))
                }
                ColumnOption::Generated { .. } | ColumnOption::Identity(_) => {
                    return Err(SqlError::unsupported_plural("generated columns"))
                }
                ColumnOption::Collation(_) => return Err(SqlError::unsupported("COLLATE")),
                other => return Err(SqlError::unsupported(format!("column option {other}"))),
            }
        }
        names.push(column_name);
        types.push(scalar_type.nullable(nullable));
    }
    for constraint in &create.constraints {
        match constraint {
            TableConstraint::PrimaryKey { columns, .. } => {
                let key = crate::unique::key_columns(columns, &names)?;
                for i in &key {
                    types[*i].nullable = false;
                }
                set_primary_key(key, &mut primary_key)?;
            }
            TableConstraint::Unique {
                name,
                index_name: None,
                index_type: None,
                columns,
                index_options,
                characteristics: None,
                nulls_distinct,
                ..
            } if index_options.is_empty() => {
                if *nulls_distinct == sqlparser::ast::NullsDistinctOption::NotDistinct {
                    return Err(SqlError::unsupported("UNIQUE NULLS NOT DISTINCT"));
                }
                let key = crate::unique::key_columns(columns, &names)?;
                unique.push((name.as_ref().map(normalize_ident), key));
            }
            TableConstraint::ForeignKey { .. } => {
                return Err(SqlError::unsupported_plural("FOREIGN KEY constraints"))
            }
            TableConstraint::Check {
                name,
                expr,
                enforced: None,
            } => check_exprs.push((name.as_ref().map(normalize_ident), (**expr).clone(), None)),
            other => return Err(SqlError::unsupported(format!("constraint {other}"))),
        }
    }
    let defaults = defaults_of(create);
    if source.is_some() && !defaults.is_empty() {
        return Err(SqlError::unsupported(
            "DEFAULT and serial columns on a topic",
        ));
    }
    if source.is_some() && !check_exprs.is_empty() {
        return Err(SqlError::unsupported("CHECK constraints on a topic"));
    }
    if source.is_some() && !unique.is_empty() {
        return Err(SqlError::unsupported("UNIQUE constraints on a topic"));
    }
    let checks = plan_checks(scx, &name, &names, &types, check_exprs)?;
    let unique = crate::unique::plan_unique(scx, &schema, &name, &names, &primary_key, unique)?;
    // The names chosen go into the text a restart plans again: the relations of the
    // schema they were chosen against may be gone by then.
    let create_sql = if unique.iter().flatten().next().is_some() && !stream {
        crate::unique::with_constraint_names(create, &unique)
    } else {
        create_sql
    };
    let unique = unique.into_iter().flatten().collect();
    Ok(Plan::CreateTable {
        schema,
        name,
        desc: RelationDesc::new(names, types),
        defaults,
        checks,
        unique,
        sequences,
        primary_key,
        create_sql,
        if_not_exists: create.if_not_exists,
        source,
    })
}

/// The `WITH (name = value, ...)` options of a statement as `(name, value)` text pairs:
/// a value is a string, a number, a boolean or a bare word.
pub(crate) fn with_options(options: &[SqlOption]) -> Result<Vec<(String, String)>, SqlError> {
    options
        .iter()
        .map(|option| {
            let SqlOption::KeyValue { key, value } = option else {
                return Err(SqlError::syntax(format!(
                    "option {option} is not of the form name = value"
                )));
            };
            let text = match value {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                    Value::Number(n, _) => n.to_string(),
                    Value::Boolean(b) => b.to_string(),
                    other => other.to_string(),
                },
                Expr::Identifier(ident) => ident.value.clone(),
                other => {
                    return Err(SqlError::syntax(format!(
                    "the value of option \"{}\" must be a string, a number or a word, not {other}",
                    key.value
                )))
                }
            };
            Ok((key.value.clone(), text))
        })
        .collect()
}

/// The columns a view or a table made from a query will have: each name once, and no
/// `record` (which Postgres cannot store either: its fields are not part of its type).
pub(crate) fn check_stored_columns(names: &[String], types: &[ColumnType]) -> Result<(), SqlError> {
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(SqlError::new(
                SqlState::DUPLICATE_COLUMN,
                format!("column \"{n}\" specified more than once"),
            ));
        }
    }
    if let Some((n, _)) = names
        .iter()
        .zip(types)
        .find(|(_, t)| t.scalar_type == ScalarType::Record)
    {
        return Err(SqlError::new(
            SqlState::INVALID_TABLE_DEFINITION,
            format!("column \"{n}\" has pseudo-type record"),
        )
        .with_hint("Select the record's fields as columns of their own, as in (r).x."));
    }
    Ok(())
}

struct ViewTarget<'a> {
    name: &'a ObjectName,
    materialized: bool,
    or_replace: bool,
    if_not_exists: bool,
}

fn plan_create_view(
    scx: &StatementContext,
    stmt: &Statement,
    target: &ViewTarget,
    column_names: &[String],
    query: &Query,
) -> Result<Plan, SqlError> {
    let (schema, name) = new_item_name(target.name, &scx.pcx.database, scx.catalog)?;
    let existing = check_new_name(
        scx,
        &schema,
        &name,
        target.or_replace || target.if_not_exists,
    )?;
    if let (Some(existing), true) = (&existing, target.or_replace) {
        let wanted = if target.materialized {
            ItemKind::MaterializedView
        } else {
            ItemKind::View
        };
        if existing.kind != wanted {
            return Err(SqlError::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("\"{name}\" is not a {}", wanted.noun()),
            ));
        }
    }
    scx.in_view.set(true);
    let planned = query::plan_query(scx, query);
    scx.in_view.set(false);
    let (expr, mut names, _) = planned?.into_relation();
    if scx.emit_on_window_close.get() || scx.window_retention_us.get().is_some() {
        check_closes_windows(&expr, scx.emit_on_window_close.get())?;
    }
    if scx.view_start_us.get().is_some() && !scx.view_start_applied.get() {
        return Err(SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            "a view's start needs a stream with an event time to read",
        )
        .with_hint("START picks events by event time: declare the stream's WITH (TIMESTAMP = 'column'), and read it in the view."));
    }
    if column_names.len() > names.len() {
        return Err(SqlError::syntax(
            "CREATE VIEW specifies more column names than columns",
        ));
    }
    for (name, column) in names.iter_mut().zip(column_names) {
        *name = column.clone();
    }
    check_stored_columns(&names, &expr.typ())?;
    let desc = RelationDesc::new(names, expr.typ());
    let mut recursive = false;
    expr.visit(&mut |e| recursive |= matches!(e, MirRelationExpr::Recursive { .. }));
    let mut kept = stmt.clone();
    if recursive {
        let limit = crate::recursive::max_recursion(scx)?;
        kept = crate::recursive::with_max_recursion(&kept, limit);
    }
    // `start = 'latest'` is kept with the time it stood for.
    if let Some(start) = scx.view_start_us.get() {
        let read = scx.view_options.get();
        if read.start == Some(crate::view_options::StartAt::Latest) && read.started_at_us.is_none()
        {
            let at = chrono::DateTime::from_timestamp_micros(start).unwrap_or_default();
            let text = eddy_repr::strconv::format_timestamptz(&at);
            kept = crate::view_options::with_option(
                &kept,
                crate::view_options::STARTED_AT_OPTION,
                &text,
            );
        }
    }
    let create_sql = kept.to_string();
    Ok(Plan::CreateView {
        schema,
        name,
        materialized: target.materialized,
        expr,
        desc,
        create_sql,
        depends_on: scx.dependencies(),
        if_not_exists: target.if_not_exists,
        or_replace: target.or_replace,
    })
}

pub(crate) fn plan_drop(
    scx: &StatementContext,
    kind: ItemKind,
    names: &[ObjectName],
    if_exists: bool,
    cascade: bool,
) -> Result<Plan, SqlError> {
    let mut ids = vec![];
    let mut missing = vec![];
    for name in names {
        let item = item_name(name, &scx.pcx.database)?;
        let Some(found) = scx.catalog.resolve_item(item.schema.as_deref(), &item.item) else {
            if if_exists {
                missing.push(item.to_string());
                continue;
            }
            return Err(SqlError::new(
                SqlState::UNDEFINED_TABLE,
                format!("{} \"{item}\" does not exist", kind.noun()),
            ));
        };
        // A table read from Kafka is a source, dropped as a table too (as ksqlDB does).
        let same_kind =
            found.kind == kind || (found.kind == ItemKind::Source && kind == ItemKind::Table);
        if !same_kind {
            return Err(SqlError::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("\"{}\" is not a {}", found.name, kind.noun()),
            )
            .with_hint(format!(
                "Use {} to remove a {}.",
                found.kind.drop_statement(),
                found.kind.noun()
            )));
        }
        if matches!(found.id, GlobalId::System(_)) {
            return Err(SqlError::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                format!("permission denied: \"{}\" is a system catalog", found.name),
            ));
        }
        if !ids.contains(&found.id) {
            ids.push(found.id);
        }
    }
    Ok(Plan::Drop {
        kind,
        ids,
        missing,
        if_exists,
        cascade,
    })
}

/// The text of a SET value: strings as written, identifiers case-folded, numbers as
/// written.
fn set_value_text(e: &Expr) -> Result<String, SqlError> {
    match e {
        Expr::Value(v) => match (&v.value, expr::string_value(&v.value)) {
            (_, Some(s)) => Ok(s),
            (Value::Number(n, _), _) => Ok(n.clone()),
            (Value::Boolean(b), _) => Ok(if *b { "on" } else { "off" }.to_string()),
            _ => Err(SqlError::syntax(format!("syntax error at or near \"{v}\""))),
        },
        Expr::Identifier(ident) => Ok(normalize_ident(ident)),
        Expr::CompoundIdentifier(idents) => Ok(idents
            .iter()
            .map(normalize_ident)
            .collect::<Vec<_>>()
            .join(".")),
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Minus,
            expr,
        } => Ok(format!("-{}", set_value_text(expr)?)),
        other => Err(SqlError::syntax(format!(
            "syntax error at or near \"{other}\""
        ))),
    }
}

fn plan_set(set: &Set) -> Result<Plan, SqlError> {
    match set {
        Set::SingleAssignment {
            scope,
            hivevar,
            variable,
            values,
        } => {
            if *hivevar {
                return Err(SqlError::unsupported("SET HIVEVAR"));
            }
            let local = matches!(scope, Some(sqlparser::ast::ContextModifier::Local));
            if matches!(scope, Some(sqlparser::ast::ContextModifier::Global)) {
                return Err(SqlError::unsupported("SET GLOBAL"));
            }
            let name = object_name_parts(variable)?.join(".");
            let value = match values.as_slice() {
                [v] if is_default_keyword(v) => None,
                _ => Some(
                    values
                        .iter()
                        .map(set_value_text)
                        .collect::<Result<Vec<_>, _>>()?
                        .join(", "),
                ),
            };
            Ok(Plan::SetVariable { name, value, local })
        }
        Set::SetTimeZone { local, value } => {
            let value = match value {
                v if is_default_keyword(v) => None,
                Expr::Identifier(i) if i.value.eq_ignore_ascii_case("local") => None,
                v => Some(set_value_text(v)?),
            };
            Ok(Plan::SetVariable {
                name: "timezone".to_string(),
                value,
                local: *local,
            })
        }
        Set::SetNames { charset_name, .. } => Ok(Plan::SetVariable {
            name: "client_encoding".to_string(),
            value: Some(normalize_ident(charset_name)),
            local: false,
        }),
        Set::SetNamesDefault {} => Ok(Plan::SetVariable {
            name: "client_encoding".to_string(),
            value: None,
            local: false,
        }),
        Set::SetTransaction {
            modes,
            snapshot: None,
            session,
        } => {
            let [mode] = modes.as_slice() else {
                return Err(SqlError::unsupported("SET TRANSACTION with several modes"));
            };
            let (name, value) = match mode {
                TransactionMode::IsolationLevel(level) => (
                    "transaction_isolation",
                    match level {
                        TransactionIsolationLevel::ReadUncommitted => "read uncommitted",
                        TransactionIsolationLevel::ReadCommitted => "read committed",
                        TransactionIsolationLevel::RepeatableRead => "repeatable read",
                        TransactionIsolationLevel::Serializable => "serializable",
                        TransactionIsolationLevel::Snapshot => {
                            return Err(SqlError::unsupported("isolation level SNAPSHOT"))
                        }
                    },
                ),
                TransactionMode::AccessMode(mode) => (
                    "transaction_read_only",
                    match mode {
                        TransactionAccessMode::ReadOnly => "on",
                        TransactionAccessMode::ReadWrite => "off",
                    },
                ),
            };
            let name = if *session {
                format!("default_{name}")
            } else {
                name.to_string()
            };
            Ok(Plan::SetVariable {
                name,
                value: Some(value.to_string()),
                local: !*session,
            })
        }
        _ => Err(SqlError::unsupported(format!("{set}"))),
    }
}
