//! `CREATE INDEX [name] ON table (column, ...)` and `DROP INDEX`.
//!
//! An index is an arrangement of its table's rows with the indexed columns first (the
//! other columns after them, in table order), kept up to date like a materialized
//! view, and sorted by the indexed columns in SQL order (`Row::pack_sorted`). A point
//! read of the table whose `WHERE` pins the leading indexed columns to constants
//! (`WHERE b = 'x'`, `WHERE b = 'x' AND c = 2`), or a range read that bounds the next
//! indexed column (`WHERE b > 'x'`, `WHERE b = 'x' AND c BETWEEN 2 AND 5`), seeks to
//! those rows in it instead of scanning the table (the coordinator picks it; `EXPLAIN`
//! says so). An index is not a relation: nothing names it in a query, and it goes
//! with its table.
//!
//! Accepted as Postgres takes them: `IF NOT EXISTS`, `CONCURRENTLY` (the index is
//! built while writes go on either way), `USING btree | hash`, `ASC`/`DESC` and
//! `NULLS FIRST | LAST` (which order nothing here). Refused with `0A000`: `UNIQUE`
//! (declare a UNIQUE constraint), expressions, `INCLUDE`, `WHERE` (partial indexes) and
//! `WITH (...)`; an index of anything but a table or a materialized view with `42809`.
//! An index of a materialized view is rebuilt with it when the view is replaced.

use eddy_expr::MirRelationExpr;
use eddy_repr::{RelationDesc, SqlError, SqlState};
use sqlparser::ast::{CreateIndex, Expr, IndexType};

use crate::catalog::ItemKind;
use crate::context::StatementContext;
use crate::names::normalize_ident;
use crate::plan::Plan;

/// Plans a `CREATE INDEX`.
pub(crate) fn plan_create_index(
    scx: &StatementContext,
    create: &CreateIndex,
) -> Result<Plan, SqlError> {
    if create.unique {
        return plan_unique_index(scx, create);
    }
    if !create.include.is_empty() {
        return Err(SqlError::unsupported("INCLUDE in CREATE INDEX"));
    }
    if create.predicate.is_some() {
        return Err(SqlError::unsupported_plural(
            "partial indexes (CREATE INDEX ... WHERE)",
        ));
    }
    if !create.with.is_empty()
        || !create.index_options.is_empty()
        || !create.alter_options.is_empty()
    {
        return Err(SqlError::unsupported("options in CREATE INDEX"));
    }
    match &create.using {
        None | Some(IndexType::BTree) | Some(IndexType::Hash) => {}
        Some(other) => {
            return Err(SqlError::unsupported(format!(
                "index access method {other}"
            )));
        }
    }
    let table = crate::statement::resolve_item(scx, &create.table_name)?;
    let schema = table_schema(scx, create)?;
    match table.kind {
        ItemKind::Table | ItemKind::Source | ItemKind::MaterializedView
            if !matches!(table.id, eddy_repr::GlobalId::System(_)) => {}
        _ => {
            return Err(SqlError::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("cannot create index on relation \"{}\"", table.name),
            )
            .with_detail(format!(
                "This operation is not supported for {}s.",
                table.kind.noun()
            )));
        }
    }
    if create.columns.is_empty() {
        return Err(SqlError::syntax("CREATE INDEX needs at least one column"));
    }
    let mut key = Vec::with_capacity(create.columns.len());
    for column in &create.columns {
        let Expr::Identifier(ident) = &column.column.expr else {
            return Err(SqlError::unsupported_plural("indexes on expressions"));
        };
        let name = normalize_ident(ident);
        let position = table.desc.column_index(&name).ok_or_else(|| {
            SqlError::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{name}\" does not exist"),
            )
        })?;
        if !key.contains(&position) {
            key.push(position);
        }
    }
    let name = match &create.name {
        Some(name) => {
            let parts = crate::names::object_name_parts(name)?;
            match parts.as_slice() {
                [name] => name.clone(),
                [s, name] if *s == schema => name.clone(),
                _ => {
                    return Err(SqlError::new(
                        SqlState::INVALID_SCHEMA_NAME,
                        "an index is in the schema of its table",
                    ))
                }
            }
        }
        None => default_name(scx, &schema, &table.name, &table.desc, &key),
    };
    // The rows as the index holds them: the key columns, then the others.
    let mut order = key.clone();
    order.extend((0..table.desc.arity()).filter(|c| !key.contains(c)));
    let expr = MirRelationExpr::Get {
        id: table.id,
        typ: table.desc.types.clone(),
        name: table.name.clone(),
    }
    .project(order.clone());
    let desc = RelationDesc::new(
        order.iter().map(|c| table.desc.names[*c].clone()).collect(),
        order.iter().map(|c| table.desc.types[*c]).collect(),
    );
    Ok(Plan::CreateIndex {
        schema,
        name: name.clone(),
        on: table.id,
        key,
        expr,
        desc,
        // Kept with its name, so that planning it again (a restart, an ALTER TABLE of
        // its table) gives the same index.
        create_sql: sqlparser::ast::Statement::CreateIndex(CreateIndex {
            name: Some(sqlparser::ast::ObjectName::from(vec![
                sqlparser::ast::Ident::new(name.clone()),
            ])),
            if_not_exists: false,
            concurrently: false,
            ..create.clone()
        })
        .to_string(),
        if_not_exists: create.if_not_exists,
    })
}

/// `CREATE UNIQUE INDEX [name] ON t (cols)`: a UNIQUE constraint of the table (named
/// as the index), which Eddy enforces on every write, added as `ALTER TABLE t ADD
/// CONSTRAINT name UNIQUE (cols)` is (the rows must not hold a key twice already).
/// Unlike Postgres' unique index it is a constraint: `DROP INDEX` refuses it, as
/// Postgres refuses a constraint's index.
fn plan_unique_index(scx: &StatementContext, create: &CreateIndex) -> Result<Plan, SqlError> {
    if !create.include.is_empty()
        || create.predicate.is_some()
        || !create.with.is_empty()
        || create.nulls_distinct == Some(false)
    {
        return Err(SqlError::unsupported("this form of CREATE UNIQUE INDEX"));
    }
    let table = crate::statement::resolve_item(scx, &create.table_name)?;
    if table.kind != ItemKind::Table {
        return Err(SqlError::unsupported(format!(
            "CREATE UNIQUE INDEX on a {}",
            table.kind.noun()
        ))
        .with_hint("Unique indexes are UNIQUE constraints of tables in Eddy."));
    }
    let schema = table_schema(scx, create)?;
    let name = match &create.name {
        Some(name) => {
            let parts = crate::names::object_name_parts(name)?;
            let [.., last] = parts.as_slice() else {
                return Err(SqlError::syntax("an index needs a name"));
            };
            last.clone()
        }
        None => {
            let key = crate::unique::key_columns(&create.columns, &table.desc.names)?;
            default_name(scx, &schema, &table.name, &table.desc, &key)
        }
    };
    let taken = scx.catalog.resolve_item(Some(&schema), &name).is_some()
        || scx.catalog.table_with_unique(&schema, &name).is_some();
    if taken {
        if create.if_not_exists {
            return Ok(Plan::Noop {
                tag: "CREATE INDEX".into(),
            });
        }
        return Err(SqlError::new(
            SqlState::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    let name = Some(sqlparser::ast::Ident::with_quote('"', name));
    let constraint = sqlparser::ast::TableConstraint::Unique {
        name,
        index_name: None,
        index_type_display: sqlparser::ast::KeyOrIndexDisplay::None,
        index_type: None,
        columns: create.columns.clone(),
        index_options: vec![],
        characteristics: None,
        nulls_distinct: sqlparser::ast::NullsDistinctOption::None,
    };
    let plan = crate::alter_table::plan_alter_table(
        scx,
        &create.table_name,
        false,
        false,
        &[sqlparser::ast::AlterTableOperation::AddConstraint {
            constraint,
            not_valid: false,
        }],
    )?;
    Ok(match plan {
        Plan::AlterTable(Some(alter)) => Plan::AlterTable(Some(crate::alter_table::AlterTable {
            tag: "CREATE INDEX",
            ..alter
        })),
        other => other,
    })
}

/// `DROP INDEX name` of a unique index (a UNIQUE constraint of its table, as `CREATE
/// UNIQUE INDEX` makes): `ALTER TABLE ... DROP CONSTRAINT name`. `None` when no table
/// of `schema` has such a constraint.
pub(crate) fn plan_drop_unique_index(
    scx: &StatementContext,
    schema: &str,
    name: &str,
) -> Result<Option<Plan>, SqlError> {
    let Some(table) = scx.catalog.table_with_unique(schema, name) else {
        return Ok(None);
    };
    let table_name = sqlparser::ast::ObjectName::from(vec![
        sqlparser::ast::Ident::with_quote('"', schema),
        sqlparser::ast::Ident::with_quote('"', table),
    ]);
    let plan = crate::alter_table::plan_alter_table(
        scx,
        &table_name,
        false,
        false,
        &[sqlparser::ast::AlterTableOperation::DropConstraint {
            if_exists: false,
            name: sqlparser::ast::Ident::with_quote('"', name),
            drop_behavior: None,
        }],
    )?;
    Ok(Some(match plan {
        Plan::AlterTable(Some(alter)) => Plan::AlterTable(Some(crate::alter_table::AlterTable {
            tag: "DROP INDEX",
            ..alter
        })),
        other => other,
    }))
}

/// Postgres' name for an unnamed index: `<table>_<col>[_<col>...]_idx`, with a number
/// appended when that name is taken.
fn default_name(
    scx: &StatementContext,
    schema: &str,
    table: &str,
    desc: &RelationDesc,
    key: &[usize],
) -> String {
    let columns: Vec<&str> = key.iter().map(|c| desc.names[*c].as_str()).collect();
    let base = format!("{table}_{}_idx", columns.join("_"));
    let taken = |name: &str| scx.catalog.resolve_item(Some(schema), name).is_some();
    if !taken(&base) {
        return base;
    }
    (1..)
        .map(|n| format!("{base}{n}"))
        .find(|name| !taken(name))
        .expect("some number is free")
}

/// The schema of the relation `create` indexes (where the index lives too).
fn table_schema(scx: &StatementContext, create: &CreateIndex) -> Result<String, SqlError> {
    Ok(
        crate::names::item_name(&create.table_name, &scx.pcx.database)?
            .schema
            .unwrap_or_else(|| crate::names::PUBLIC_SCHEMA.to_string()),
    )
}
