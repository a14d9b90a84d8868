//! [`Scope`]: the names of the columns of the relation an expression is planned over.
//!
//! Position `i` of a scope names column `i` of the relation, so resolving a name gives a
//! column position directly. A column may be hidden from unqualified references (the
//! right-hand copy of a `USING` column) and from `*` (which also has its own order:
//! `USING` columns first, as in Postgres).
//!
//! Scopes are layered for correlated subqueries: a subquery's relation starts with the
//! values of the outer columns it reads (see `subquery.rs`), named by items of a
//! higher `level` (1 for the enclosing query, 2 for the one around it, ...). A name
//! resolves to the lowest level that has it, so inner columns shadow outer ones, as in
//! SQL. Every resolution to an outer item is recorded in [`Scope::outer_uses`], which
//! is how the planner learns which outer columns a subquery is correlated on.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use eddy_repr::{SqlError, SqlState};

/// The table a column comes from, as the query names it (an alias when one is given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    pub schema: Option<String>,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct ScopeItem {
    pub table: Option<TableRef>,
    pub column: String,
    /// Whether an unqualified reference may resolve to this column.
    pub unqualified: bool,
    /// 0 for the query's own columns; `n` for a column of the `n`-th enclosing query.
    pub level: usize,
    /// Set when the column bounds an event time from above: see [`EventBound`].
    pub event_bound: Option<EventBound>,
    /// The fields of a `record` column, when the query that made it knew them (a
    /// set-returning function's record in a subquery's select list), for `(c).field`.
    pub fields: Option<RecordFields>,
}

/// The fields of a record value as the planner knows them: names and types, in order.
pub type RecordFields = Rc<[(String, eddy_repr::ColumnType)]>;

/// A column that bounds the event time of the stream row behind each row: every row
/// comes from one row of stream `source` whose event time is before the column's value
/// plus `offset_us` (a `TUMBLE` or `HOP` window's `window_end`, offset 0, or its
/// `window_start`, offset the window's size). Once the stream's watermark reaches that
/// bound, no event can still change the rows sharing it: a grouping by the column is
/// final there (`eddy_expr::watermark`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventBound {
    pub source: eddy_repr::GlobalId,
    pub offset_us: i64,
    /// The bound is a `SESSION` window's end: its rows are expired under the window's
    /// `Window` node, session by session (`crate::window::expire_sessions`).
    pub session: bool,
    /// How far before the bound the events behind a row may be (µs): a window's size;
    /// `None` when unbounded (a session). A view that keeps closed rows over a stream
    /// with a `RETENTION` must drop them before the stream drops their events.
    pub span_us: Option<i64>,
    /// The stream's `RETENTION` (µs), if it has one.
    pub retention_us: Option<i64>,
}

#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub items: Vec<ScopeItem>,
    /// The columns `*` expands to, in order.
    pub star: Vec<usize>,
    /// Positions of outer items (`level > 0`) that names resolved to; shared by the
    /// scopes built from one correlated subquery's scope.
    pub outer_uses: Option<Rc<RefCell<BTreeSet<usize>>>>,
}

impl Scope {
    pub fn empty() -> Self {
        Scope::default()
    }

    /// A scope for one relation's columns.
    pub fn from_names<S: AsRef<str>>(table: Option<TableRef>, names: &[S]) -> Self {
        Scope {
            items: names
                .iter()
                .map(|n| ScopeItem {
                    table: table.clone(),
                    column: n.as_ref().to_string(),
                    unqualified: true,
                    level: 0,
                    event_bound: None,
                    fields: None,
                })
                .collect(),
            star: (0..names.len()).collect(),
            outer_uses: None,
        }
    }

    /// This scope with the record fields each column is known to have (by position).
    pub fn with_fields(mut self, fields: Vec<Option<RecordFields>>) -> Self {
        for (item, fields) in self.items.iter_mut().zip(fields) {
            item.fields = fields;
        }
        self
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The scope of `left` and `right` side by side (the columns of a join).
    pub fn concat(left: Scope, right: Scope) -> Scope {
        let offset = left.items.len();
        let mut items = left.items;
        items.extend(right.items);
        let mut star = left.star;
        star.extend(right.star.iter().map(|i| i + offset));
        // Outer items only ever lead a scope (see `subquery.rs`), so recorded
        // positions stay valid.
        let outer_uses = left.outer_uses.or(right.outer_uses);
        Scope {
            items,
            star,
            outer_uses,
        }
    }

    /// Records that position `pos` is read, if it names an outer column.
    pub fn note_use(&self, pos: usize) {
        if self.items[pos].level > 0 {
            if let Some(uses) = &self.outer_uses {
                uses.borrow_mut().insert(pos);
            }
        }
    }

    fn has_table(&self, schema: Option<&str>, table: &str) -> bool {
        self.items.iter().any(|i| table_matches(i, schema, table))
    }

    /// Resolves `column` or `[schema.]table.column`.
    pub fn resolve(
        &self,
        schema: Option<&str>,
        table: Option<&str>,
        column: &str,
    ) -> Result<usize, SqlError> {
        let matches: Vec<usize> = match table {
            None => self
                .items
                .iter()
                .enumerate()
                .filter(|(_, i)| i.unqualified && i.column == column)
                .map(|(pos, _)| pos)
                .collect(),
            Some(table) => {
                if !self.has_table(schema, table) {
                    return Err(missing_from_entry(table));
                }
                self.items
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| i.column == column && table_matches(i, schema, table))
                    .map(|(pos, _)| pos)
                    .collect()
            }
        };
        let display = match table {
            Some(t) => format!("{t}.{column}"),
            None => column.to_string(),
        };
        // The innermost query that has the name wins.
        let level = matches.iter().map(|&pos| self.items[pos].level).min();
        let matches: Vec<usize> = matches
            .into_iter()
            .filter(|&pos| Some(self.items[pos].level) == level)
            .collect();
        match matches.as_slice() {
            [pos] => {
                self.note_use(*pos);
                Ok(*pos)
            }
            [] => Err(match table {
                Some(_) => SqlError::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!("column {display} does not exist"),
                ),
                None => SqlError::undefined_column(column),
            }),
            _ => Err(SqlError::new(
                SqlState::AMBIGUOUS_COLUMN,
                format!("column reference \"{display}\" is ambiguous"),
            )),
        }
    }

    /// The columns of `[schema.]table.*`, in table order.
    pub fn table_star(&self, schema: Option<&str>, table: &str) -> Result<Vec<usize>, SqlError> {
        if !self.has_table(schema, table) {
            return Err(missing_from_entry(table));
        }
        let level = self
            .items
            .iter()
            .filter(|i| table_matches(i, schema, table))
            .map(|i| i.level)
            .min();
        let columns: Vec<usize> = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, i)| table_matches(i, schema, table) && Some(i.level) == level)
            .map(|(pos, _)| pos)
            .collect();
        columns.iter().for_each(|&pos| self.note_use(pos));
        Ok(columns)
    }

    /// The name Postgres prints for a column in messages: `t.a`, or `a` without a table.
    pub fn qualified_name(&self, pos: usize) -> String {
        let item = &self.items[pos];
        match &item.table {
            Some(t) => format!("{}.{}", t.name, item.column),
            None => item.column.clone(),
        }
    }
}

fn table_matches(item: &ScopeItem, schema: Option<&str>, table: &str) -> bool {
    match &item.table {
        Some(t) => {
            t.name == table
                && match (schema, t.schema.as_deref()) {
                    (Some(s), Some(ts)) => s == ts,
                    _ => true,
                }
        }
        None => false,
    }
}

fn missing_from_entry(table: &str) -> SqlError {
    SqlError::new(
        SqlState::UNDEFINED_TABLE,
        format!("missing FROM-clause entry for table \"{table}\""),
    )
}
