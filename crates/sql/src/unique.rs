//! UNIQUE constraints of `CREATE TABLE`: the columns each one keys on, named as
//! Postgres names them.
//!
//! Semantics, as Postgres' default (`NULLS DISTINCT`): two rows conflict when every
//! key column is equal and none is NULL; a key holding a NULL never conflicts. The
//! coordinator enforces them like the primary key (`eddy_coord`'s `keys.rs`).
//!
//! Naming: an unnamed constraint is `<table>_<column>[_<column>...]_key`, with a
//! number added (`..._key1`) when a constraint of the table or a relation of the
//! schema has the name, and each part shortened so that the name fits Postgres' 63
//! bytes. A constraint on the same columns (in the same order) as the primary key or
//! as an earlier UNIQUE constraint is the same index in Postgres, and is dropped.

use eddy_repr::{SqlError, SqlState};
use sqlparser::ast::{
    ColumnOption, CreateTable, Expr, Ident, IndexColumn, Statement, TableConstraint,
};

use crate::context::StatementContext;
use crate::names::normalize_ident;

/// A UNIQUE constraint of a table: no two rows have equal, non-NULL values in all of
/// `columns`; a write that would make two is refused with 23505 naming `name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UniqueConstraint {
    pub name: String,
    pub columns: Vec<usize>,
}

/// The longest identifier Postgres keeps (`NAMEDATALEN - 1`).
const NAME_BYTES_MAX: usize = 63;

/// The column positions a key names (`PRIMARY KEY (...)`, `UNIQUE (...)`), among
/// the table's columns `names`.
pub(crate) fn key_columns(
    columns: &[IndexColumn],
    names: &[String],
) -> Result<Vec<usize>, SqlError> {
    columns
        .iter()
        .map(|column| {
            let Expr::Identifier(ident) = &column.column.expr else {
                return Err(SqlError::unsupported("keys on expressions"));
            };
            let column_name = normalize_ident(ident);
            names.iter().position(|n| *n == column_name).ok_or_else(|| {
                SqlError::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!("column \"{column_name}\" named in key does not exist"),
                )
            })
        })
        .collect()
}

/// Names the UNIQUE constraints `wanted` (a name given, and the columns) of table
/// `table` in `schema` (columns `names`, primary key `primary_key`): one answer per
/// constraint wanted, `None` for those that repeat the primary key or an earlier one.
pub(crate) fn plan_unique(
    scx: &StatementContext,
    schema: &str,
    table: &str,
    names: &[String],
    primary_key: &[usize],
    wanted: Vec<(Option<String>, Vec<usize>)>,
) -> Result<Vec<Option<UniqueConstraint>>, SqlError> {
    let mut planned: Vec<Option<UniqueConstraint>> = vec![];
    let mut taken: Vec<String> = vec![];
    if !primary_key.is_empty() {
        taken.push(format!("{table}_pkey"));
    }
    for (name, columns) in wanted {
        if columns == primary_key || planned.iter().flatten().any(|u| u.columns == columns) {
            planned.push(None);
            continue;
        }
        let name = match name {
            Some(name) => {
                if taken.contains(&name) {
                    return Err(SqlError::new(
                        SqlState::DUPLICATE_TABLE,
                        format!("relation \"{name}\" already exists"),
                    ));
                }
                name
            }
            None => {
                let column_names: Vec<&str> = columns.iter().map(|c| names[*c].as_str()).collect();
                choose_name(table, &column_names.join("_"), "key", |candidate| {
                    taken.iter().any(|t| t == candidate)
                        || scx.catalog.resolve_item(Some(schema), candidate).is_some()
                })
            }
        };
        taken.push(name.clone());
        planned.push(Some(UniqueConstraint { name, columns }));
    }
    Ok(planned)
}

/// The text of `create` with every UNIQUE constraint named as `planned` (one entry per
/// UNIQUE constraint, in the order `plan_create_table` met them: the columns', then
/// the table's) names it.
pub(crate) fn with_constraint_names(
    create: &CreateTable,
    planned: &[Option<UniqueConstraint>],
) -> String {
    let mut create = create.clone();
    let mut names = planned.iter();
    let mut next_name = |name: &mut Option<Ident>| {
        if let Some(Some(planned)) = names.next() {
            if name.is_none() {
                *name = Some(Ident::with_quote('"', planned.name.clone()));
            }
        }
    };
    for column in &mut create.columns {
        for option in &mut column.options {
            if let ColumnOption::Unique {
                is_primary: false, ..
            } = option.option
            {
                next_name(&mut option.name);
            }
        }
    }
    for constraint in &mut create.constraints {
        if let TableConstraint::Unique { name, .. } = constraint {
            next_name(name);
        }
    }
    Statement::CreateTable(create).to_string()
}

/// `<table>_<columns>_<label>`, shortened to fit, with the first number that makes it
/// free appended when it is `taken`, as Postgres' `ChooseRelationName` does.
pub(crate) fn choose_name(
    table: &str,
    columns: &str,
    label: &str,
    taken: impl Fn(&str) -> bool,
) -> String {
    let mut suffix = String::new();
    let mut n = 0;
    loop {
        let name = object_name(table, columns, &format!("{label}{suffix}"));
        if !taken(&name) {
            return name;
        }
        n += 1;
        suffix = n.to_string();
    }
}

/// `name1_name2_label`, the longer of the two names shortened (by whole characters)
/// until it fits in [`NAME_BYTES_MAX`] bytes, as Postgres' `makeObjectName` does.
fn object_name(name1: &str, name2: &str, label: &str) -> String {
    let (mut a, mut b) = (name1.to_string(), name2.to_string());
    let over = |a: &str, b: &str| {
        let len = a.len() + 1 + usize::from(!b.is_empty()) * (b.len() + 1) + label.len();
        len > NAME_BYTES_MAX
    };
    while over(&a, &b) {
        if a.len() > b.len() {
            a.pop();
        } else {
            b.pop();
        }
    }
    if b.is_empty() {
        format!("{a}_{label}")
    } else {
        format!("{a}_{b}_{label}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_postgres_names() {
        let none = |_: &str| false;
        assert_eq!(choose_name("t", "a", "key", none), "t_a_key");
        assert_eq!(choose_name("t", "a_b", "key", none), "t_a_b_key");
        assert_eq!(
            choose_name("t", "a", "key", |n: &str| n == "t_a_key" || n == "t_a_key1"),
            "t_a_key2"
        );
        let long = "x".repeat(40);
        let name = choose_name(&long, &long, "key", none);
        assert_eq!(name.len(), 63);
        assert_eq!(name, format!("{}_{}_key", "x".repeat(29), "x".repeat(29)));
    }
}
