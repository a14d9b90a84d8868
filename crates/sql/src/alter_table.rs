//! `ALTER TABLE name RENAME TO new | RENAME COLUMN a TO b | ADD COLUMN ... | DROP COLUMN
//! c [CASCADE] | ALTER COLUMN c SET DEFAULT e | DROP DEFAULT | SET NOT NULL | DROP NOT
//! NULL | TYPE t | ADD [CONSTRAINT n] UNIQUE (...) | DROP CONSTRAINT n`, one action per
//! statement.
//!
//! A table is defined by its `CREATE TABLE` text (its defaults and constraints are
//! planned again from it on restart), so an ALTER plans the table's new text: the old
//! one with the change made, planned like a `CREATE TABLE` into its new columns,
//! defaults and constraints. The coordinator replaces the definition (and the rows,
//! when a column comes or goes) in one log append.
//!
//! Before the change, the old text gets everything that depended on the table's name
//! written out, so the new text means the same under any name: the names Postgres
//! gave its CHECK constraints (`t_a_check`) become explicit, and a `serial` or identity
//! column becomes `integer NOT NULL DEFAULT nextval('t_a_seq')` (its sequence keeps
//! its name, as in Postgres).
//!
//! Semantics, as Postgres':
//! - `ADD COLUMN` gives every existing row the column's default (NULL without one),
//!   evaluated for each row, so a volatile default differs per row and a stable one
//!   (`now()`) is the statement's; `NOT NULL` without a default on a table with rows
//!   is 23502, a failing CHECK 23514. A column with a key or a sequence default is not
//!   supported (0A000).
//! - `DROP COLUMN` drops the constraints that name the column (a key over it, a CHECK
//!   reading it).
//! - `RENAME COLUMN` renames it in the constraints too.
//! - A table read from a source (Kafka or Postgres) cannot be altered (42809): its
//!   columns are what its source reads.

use std::ops::ControlFlow;

use eddy_expr::MirScalarExpr;
use eddy_repr::{GlobalId, ScalarType, SqlError, SqlState};
use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, ColumnDef, ColumnOption, ColumnOptionDef,
    CreateTable, DataType, DropBehavior, Expr, Ident, ObjectName, RenameTableNameKind, Statement,
    TableConstraint,
};

use crate::catalog::{CatalogItem, ItemKind};
use crate::context::StatementContext;
use crate::names::{item_name, normalize_ident};
use crate::plan::Plan;

/// A planned `ALTER TABLE`.
#[derive(Clone, Debug, PartialEq)]
pub struct AlterTable {
    pub id: GlobalId,
    /// The table's new definition: a [`Plan::CreateTable`] of its new text.
    pub table: Box<Plan>,
    pub change: TableChange,
    /// The command tag: `ALTER TABLE`, or `CREATE INDEX` / `DROP INDEX` for a unique
    /// index (a UNIQUE constraint).
    pub tag: &'static str,
}

/// What an `ALTER TABLE` does besides replacing the definition.
#[derive(Clone, Debug, PartialEq)]
pub enum TableChange {
    /// `RENAME TO`: the rows stay; the views reading the table read it under its new
    /// name.
    RenameTable,
    /// `RENAME COLUMN`: the rows stay.
    RenameColumn { column: usize },
    /// `ADD COLUMN`: each row gets `fill` (the column's default, over no columns)
    /// appended, evaluated for each row.
    AddColumn { fill: MirScalarExpr },
    /// `DROP COLUMN`: the column goes from every row; with `cascade`, so do the views
    /// reading the table.
    DropColumn { column: usize, cascade: bool },
    /// `ADD [CONSTRAINT name] UNIQUE (cols)` (also `CREATE UNIQUE INDEX`): the rows
    /// stay, and must not hold a key twice already. `None` when the key is one the
    /// table has (the same index, in Postgres).
    AddUnique(Option<crate::unique::UniqueConstraint>),
    /// `DROP CONSTRAINT name` of a UNIQUE constraint (also `DROP INDEX` of a unique
    /// index): the rows stay.
    DropUnique,
    /// `ALTER COLUMN c SET DEFAULT expr | DROP DEFAULT`: the rows stay; later writes
    /// take the new default.
    SetDefault,
    /// `ALTER COLUMN c SET NOT NULL` (the rows must hold no NULL in it) or `DROP NOT
    /// NULL`: the rows stay.
    SetNotNull { column: usize, not_null: bool },
    /// `ALTER COLUMN c [SET DATA] TYPE t`: every row's value is cast to `to` (as an
    /// assignment casts it; a value that does not fit fails the change).
    SetType { column: usize, to: ScalarType },
}

impl TableChange {
    /// The rows stay as they are.
    pub fn keeps_rows(&self) -> bool {
        matches!(
            self,
            TableChange::RenameTable
                | TableChange::RenameColumn { .. }
                | TableChange::AddUnique(_)
                | TableChange::DropUnique
                | TableChange::SetDefault
                | TableChange::SetNotNull { .. }
        )
    }
}

pub(crate) fn plan_alter_table(
    scx: &StatementContext,
    name: &ObjectName,
    if_exists: bool,
    only: bool,
    operations: &[AlterTableOperation],
) -> Result<Plan, SqlError> {
    let [operation] = operations else {
        return Err(SqlError::unsupported_plural(
            "several ALTER TABLE actions in one statement",
        ));
    };
    let _ = only; // Eddy has no inheritance: ONLY changes nothing.
    let wanted = item_name(name, &scx.pcx.database)?;
    let Some(item) = scx
        .catalog
        .resolve_item(wanted.schema.as_deref(), &wanted.item)
    else {
        if if_exists {
            return Ok(Plan::AlterTable(None));
        }
        return Err(SqlError::undefined_table(&wanted.to_string()));
    };
    match item.kind {
        ItemKind::Table if matches!(item.id, GlobalId::User(_)) => {}
        ItemKind::Source => return Err(SqlError::new(
            SqlState::WRONG_OBJECT_TYPE,
            format!("cannot alter \"{}\": it is read from a source", item.name),
        )
        .with_hint(
            "Its columns are what its source reads: drop it and create it again to change them.",
        )),
        _ => {
            return Err(SqlError::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("\"{}\" is not a table", item.name),
            ))
        }
    }
    let create_sql = scx
        .catalog
        .create_sql(item.id)
        .ok_or_else(|| SqlError::internal("a table without its CREATE TABLE text"))?;
    let mut create = parse_create_table(&create_sql)?;
    pin_names(scx, &item, &mut create)?;
    let column_of = |create: &CreateTable, column: &Ident| {
        let wanted = normalize_ident(column);
        create
            .columns
            .iter()
            .position(|c| normalize_ident(&c.name) == wanted)
    };
    let no_column = |column: &Ident| {
        SqlError::new(
            SqlState::UNDEFINED_COLUMN,
            format!(
                "column \"{}\" of relation \"{}\" does not exist",
                normalize_ident(column),
                item.name
            ),
        )
    };
    let taken = |column: &str| {
        SqlError::new(
            SqlState::DUPLICATE_COLUMN,
            format!(
                "column \"{column}\" of relation \"{}\" already exists",
                item.name
            ),
        )
    };
    let mut old_unique: Vec<crate::unique::UniqueConstraint> = vec![];
    let change = match operation {
        AlterTableOperation::RenameTable { table_name } => {
            let (RenameTableNameKind::To(new) | RenameTableNameKind::As(new)) = table_name;
            let new_name = match crate::names::object_name_parts(new)?.as_slice() {
                [name] => name.clone(),
                _ => {
                    return Err(SqlError::syntax(
                        "the new name of a table is a name without a schema",
                    ))
                }
            };
            let schema = wanted.schema.clone().unwrap_or(crate::PUBLIC_SCHEMA.into());
            if scx.catalog.resolve_item(Some(&schema), &new_name).is_some() {
                return Err(SqlError::new(
                    SqlState::DUPLICATE_TABLE,
                    format!("relation \"{new_name}\" already exists"),
                ));
            }
            if let Some(last) = create.name.0.last_mut() {
                *last =
                    sqlparser::ast::ObjectNamePart::Identifier(Ident::with_quote('"', new_name));
            }
            TableChange::RenameTable
        }
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => {
            let column = column_of(&create, old_column_name).ok_or_else(|| {
                SqlError::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!(
                        "column \"{}\" does not exist",
                        normalize_ident(old_column_name)
                    ),
                )
            })?;
            let new = normalize_ident(new_column_name);
            if column_of(&create, new_column_name).is_some() {
                return Err(taken(&new));
            }
            let old = normalize_ident(old_column_name);
            create.columns[column].name = Ident::with_quote('"', new.clone());
            let _ = sqlparser::ast::visit_expressions_mut(&mut create, |e| {
                rename_reference(e, &old, &new);
                ControlFlow::<()>::Continue(())
            });
            TableChange::RenameColumn { column }
        }
        AlterTableOperation::AddColumn {
            if_not_exists: false,
            column_def,
            column_position: None,
            ..
        } => {
            check_new_column(column_def)?;
            if column_of(&create, &column_def.name).is_some() {
                return Err(taken(&normalize_ident(&column_def.name)));
            }
            create.columns.push(column_def.clone());
            // Planned below, once the new definition is.
            TableChange::AddColumn {
                fill: MirScalarExpr::literal_null(ScalarType::Bool),
            }
        }
        AlterTableOperation::DropColumn {
            column_names,
            if_exists: false,
            drop_behavior,
            ..
        } => {
            let [column_name] = column_names.as_slice() else {
                return Err(SqlError::unsupported("DROP COLUMN of several columns"));
            };
            let column = column_of(&create, column_name).ok_or_else(|| no_column(column_name))?;
            if create.columns.len() == 1 {
                return Err(SqlError::unsupported("a table without columns"));
            }
            let dropped = normalize_ident(column_name);
            create.columns.remove(column);
            for other in &mut create.columns {
                other.options.retain(|o| !mentions(&o.option, &dropped));
            }
            create.constraints.retain(|c| !mentions(c, &dropped));
            TableChange::DropColumn {
                column,
                cascade: matches!(drop_behavior, Some(DropBehavior::Cascade)),
            }
        }
        AlterTableOperation::AddConstraint {
            constraint: constraint @ TableConstraint::Unique { .. },
            not_valid: false,
        } => {
            // The keys the table has, to tell the new one.
            let mut before = create.clone();
            before.if_not_exists = true;
            let text = Statement::CreateTable(before.clone()).to_string();
            if let Plan::CreateTable { unique, .. } =
                crate::statement::plan_create_table(scx, text, &before, false)?
            {
                old_unique = unique;
            }
            create.constraints.push(constraint.clone());
            // Its name and columns, once planned.
            TableChange::AddUnique(None)
        }
        AlterTableOperation::AlterColumn {
            column_name,
            op: op @ (AlterColumnOperation::SetDefault { .. } | AlterColumnOperation::DropDefault),
        } => {
            let column = column_of(&create, column_name).ok_or_else(|| no_column(column_name))?;
            let options = &mut create.columns[column].options;
            if options.iter().any(|o| {
                matches!(
                    o.option,
                    ColumnOption::Generated { .. } | ColumnOption::Identity(_)
                )
            }) {
                return Err(SqlError::unsupported(
                    "changing the default of an identity column",
                ));
            }
            options.retain(|o| !matches!(o.option, ColumnOption::Default(_)));
            if let AlterColumnOperation::SetDefault { value } = op {
                options.push(ColumnOptionDef {
                    name: None,
                    option: ColumnOption::Default(value.clone()),
                });
            }
            TableChange::SetDefault
        }
        AlterTableOperation::AlterColumn {
            column_name,
            op: op @ (AlterColumnOperation::SetNotNull | AlterColumnOperation::DropNotNull),
        } => {
            let column = column_of(&create, column_name).ok_or_else(|| no_column(column_name))?;
            let not_null = matches!(op, AlterColumnOperation::SetNotNull);
            let name = normalize_ident(column_name);
            if !not_null && in_primary_key(&create, &name) {
                return Err(SqlError::new(
                    SqlState::INVALID_TABLE_DEFINITION,
                    format!("column \"{name}\" is in a primary key"),
                ));
            }
            let options = &mut create.columns[column].options;
            options.retain(|o| !matches!(o.option, ColumnOption::NotNull | ColumnOption::Null));
            if not_null {
                options.push(ColumnOptionDef {
                    name: None,
                    option: ColumnOption::NotNull,
                });
            }
            TableChange::SetNotNull { column, not_null }
        }
        AlterTableOperation::AlterColumn {
            column_name,
            op:
                AlterColumnOperation::SetDataType {
                    data_type, using, ..
                },
        } => {
            if using.is_some() {
                return Err(SqlError::unsupported("ALTER COLUMN ... TYPE ... USING"));
            }
            let column = column_of(&create, column_name).ok_or_else(|| no_column(column_name))?;
            let from = item.desc.types[column].scalar_type;
            let to = crate::types::scalar_type(data_type)?;
            if !crate::types::cast_allowed(&from, &to, crate::types::CastContext::Assignment) {
                return Err(SqlError::new(
                    SqlState::DATATYPE_MISMATCH,
                    format!(
                        "column \"{}\" cannot be cast automatically to type {}",
                        normalize_ident(column_name),
                        to.sql_name()
                    ),
                )
                .with_hint("ALTER COLUMN ... TYPE ... USING is not supported yet: add a column, fill it, drop the old one."));
            }
            create.columns[column].data_type = data_type.clone();
            TableChange::SetType { column, to }
        }
        AlterTableOperation::DropConstraint {
            if_exists,
            name: constraint,
            drop_behavior: _,
        } => {
            // A UNIQUE constraint named in the table's text (one added by ALTER TABLE
            // or CREATE UNIQUE INDEX, or named in CREATE TABLE).
            let wanted = normalize_ident(constraint);
            let position = create.constraints.iter().position(|c| {
                matches!(c, TableConstraint::Unique { name: Some(n), .. } if normalize_ident(n) == wanted)
            });
            match position {
                Some(i) => {
                    create.constraints.remove(i);
                    TableChange::DropUnique
                }
                None if *if_exists => return Ok(Plan::AlterTable(None)),
                None => {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!(
                            "constraint \"{wanted}\" of relation \"{}\" does not exist",
                            item.name
                        ),
                    )
                    .with_hint("Eddy drops UNIQUE constraints named in the table's definition; others go with DROP TABLE."))
                }
            }
        }
        other => return Err(SqlError::unsupported(format!("ALTER TABLE ... {other}"))),
    };
    // Planned as the CREATE TABLE it now is (the table's own name is not taken).
    create.if_not_exists = true;
    let new_sql = Statement::CreateTable(create.clone()).to_string();
    let mut table = crate::statement::plan_create_table(scx, new_sql, &create, false)?;
    create.if_not_exists = false;
    // A new UNIQUE constraint keeps the name it was given now (planning the text again
    // later must not name it otherwise).
    let change = match change {
        TableChange::AddUnique(_) => {
            let Plan::CreateTable { unique, .. } = &table else {
                unreachable!("CREATE TABLE plans a CREATE TABLE")
            };
            let added = unique
                .iter()
                .find(|u| !old_unique.iter().any(|old| old.columns == u.columns))
                .cloned();
            if let (Some(added), Some(TableConstraint::Unique { name, .. })) =
                (&added, create.constraints.last_mut())
            {
                *name = Some(Ident::with_quote('"', added.name.clone()));
            }
            TableChange::AddUnique(added)
        }
        change => change,
    };
    let Plan::CreateTable {
        create_sql,
        if_not_exists,
        desc,
        defaults,
        ..
    } = &mut table
    else {
        unreachable!("CREATE TABLE plans a CREATE TABLE")
    };
    *create_sql = Statement::CreateTable(create).to_string();
    *if_not_exists = false;
    let change = match change {
        TableChange::AddColumn { .. } => {
            let column = desc.arity() - 1;
            let default = defaults.get(column).cloned().flatten();
            if default
                .as_deref()
                .and_then(crate::sequences::sequence_of_default)
                .is_some()
            {
                return Err(SqlError::unsupported("ADD COLUMN with a sequence default"));
            }
            let new_item = CatalogItem {
                desc: desc.clone(),
                defaults: defaults.clone(),
                ..item.clone()
            };
            let fill = crate::statement::default_value(scx, &new_item, column)?;
            TableChange::AddColumn { fill: fill.expr }
        }
        change => change,
    };
    Ok(Plan::AlterTable(Some(AlterTable {
        id: item.id,
        table: Box::new(table),
        change,
        tag: "ALTER TABLE",
    })))
}

/// Whether column `name` is in the primary key of `create`.
fn in_primary_key(create: &CreateTable, name: &str) -> bool {
    let column_level = create.columns.iter().any(|c| {
        normalize_ident(&c.name) == name
            && c.options.iter().any(|o| {
                matches!(
                    o.option,
                    ColumnOption::Unique {
                        is_primary: true,
                        ..
                    }
                )
            })
    });
    let table_level = create.constraints.iter().any(|c| match c {
        TableConstraint::PrimaryKey { columns, .. } => columns
            .iter()
            .any(|k| matches!(&k.column.expr, Expr::Identifier(i) if normalize_ident(i) == name)),
        _ => false,
    });
    column_level || table_level
}

/// The `CREATE TABLE` of a table's text.
fn parse_create_table(create_sql: &str) -> Result<CreateTable, SqlError> {
    match crate::parse::parse(create_sql)?.pop() {
        Some(crate::parse::Statement::Sql(Statement::CreateTable(create))) => Ok(create),
        _ => Err(SqlError::internal(
            "a table's text is not a CREATE TABLE statement",
        )),
    }
}

/// Writes out in `create` (the text of table `item`) what Postgres derived from the
/// table's name when it was created: its CHECK constraints' names, and the sequences
/// of its `serial` and identity columns.
fn pin_names(
    scx: &StatementContext,
    item: &CatalogItem,
    create: &mut CreateTable,
) -> Result<(), SqlError> {
    let mut as_new = create.clone();
    as_new.if_not_exists = true;
    let text = Statement::CreateTable(as_new.clone()).to_string();
    let Plan::CreateTable { checks, .. } =
        crate::statement::plan_create_table(scx, text, &as_new, false)?
    else {
        unreachable!("CREATE TABLE plans a CREATE TABLE")
    };
    let mut check_names = checks.into_iter().map(|c| c.name);
    let mut pin = |name: &mut Option<Ident>| {
        let planned = check_names.next();
        if name.is_none() {
            *name = planned.map(|n| Ident::with_quote('"', n));
        }
    };
    for (i, column) in create.columns.iter_mut().enumerate() {
        for option in &mut column.options {
            if let ColumnOption::Check(_) = option.option {
                pin(&mut option.name);
            }
        }
        let Some(Some(default)) = item.defaults.get(i) else {
            continue;
        };
        if crate::sequences::sequence_of_default(default).is_none() {
            continue;
        }
        let serial = crate::sequences::serial_type(&column.data_type);
        let identity = column.options.iter().any(|o| {
            matches!(
                o.option,
                ColumnOption::Generated {
                    generated_as: sqlparser::ast::GeneratedAs::ByDefault,
                    generation_expr: None,
                    ..
                }
            )
        });
        if serial.is_none() && !identity {
            continue;
        }
        if let Some(typ) = serial {
            column.data_type = match typ {
                ScalarType::Int16 => DataType::SmallInt(None),
                ScalarType::Int32 => DataType::Integer(None),
                _ => DataType::BigInt(None),
            };
        }
        column
            .options
            .retain(|o| !matches!(o.option, ColumnOption::Generated { .. }));
        let unnamed = |option| ColumnOptionDef { name: None, option };
        column.options.push(unnamed(ColumnOption::NotNull));
        column.options.push(unnamed(ColumnOption::Default(
            crate::statement::parse_default(default)?,
        )));
    }
    for constraint in &mut create.constraints {
        if let TableConstraint::Check { name, .. } = constraint {
            pin(name);
        }
    }
    Ok(())
}

/// A new column may have a type, NULL / NOT NULL, DEFAULT and CHECK.
fn check_new_column(column: &ColumnDef) -> Result<(), SqlError> {
    if crate::sequences::serial_type(&column.data_type).is_some() {
        return Err(SqlError::unsupported("ADD COLUMN of a serial column"));
    }
    for option in &column.options {
        match option.option {
            ColumnOption::Null
            | ColumnOption::NotNull
            | ColumnOption::Default(_)
            | ColumnOption::Check(_) => {}
            ColumnOption::Unique { .. } => {
                return Err(SqlError::unsupported("ADD COLUMN with a key"))
            }
            ColumnOption::Generated { .. } | ColumnOption::Identity(_) => {
                return Err(SqlError::unsupported("ADD COLUMN of a generated column"))
            }
            ref other => return Err(SqlError::unsupported(format!("ADD COLUMN ... {other}"))),
        }
    }
    Ok(())
}

/// Renames a reference to column `old` (alone, or qualified by the table) to `new`.
fn rename_reference(expr: &mut Expr, old: &str, new: &str) {
    match expr {
        Expr::Identifier(ident) if normalize_ident(ident) == old => {
            *ident = Ident::with_quote('"', new);
        }
        Expr::CompoundIdentifier(parts) => {
            if let Some(last) = parts.last_mut().filter(|l| normalize_ident(l) == old) {
                *last = Ident::with_quote('"', new);
            }
        }
        _ => {}
    }
}

/// Whether an expression of `node` names column `column`.
fn mentions<V: sqlparser::ast::Visit>(node: &V, column: &str) -> bool {
    let found = sqlparser::ast::visit_expressions(node, |e| match e {
        Expr::Identifier(ident) if normalize_ident(ident) == column => ControlFlow::Break(()),
        Expr::CompoundIdentifier(parts)
            if parts.last().is_some_and(|l| normalize_ident(l) == column) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    found.is_break()
}
