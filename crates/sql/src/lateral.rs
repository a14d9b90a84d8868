//! LATERAL in FROM: a subquery or set-returning function that reads the columns of
//! the FROM items to its left, planned without evaluating anything per outer row.
//!
//! A FROM item `L, LATERAL (q) s` (also `L CROSS JOIN LATERAL (q) s`, `L [LEFT] JOIN
//! LATERAL (q) s ON c`) denotes, for every row `l` of `L`, `l` paired with each row
//! of `q` evaluated with `l`'s values. It is decorrelated with the machinery of
//! `subquery.rs`: `q` is planned over `D = Distinct(Project_C(L))`, where `C` are the
//! columns of `L` it reads, so each of its rows starts with the values of `C` it was
//! computed for, and grouping, aggregates (a key without rows still gets `count(*) =
//! 0`), DISTINCT and set operations all work per key; `ORDER BY ... LIMIT k` becomes
//! a `TopK` grouped by `C`. The rows are then joined back onto `L` on `C`, compared
//! NULL-safely: `D` holds each NULL-containing key once and `q` was computed for it
//! (where `u.x = t.x` matches nothing for a NULL `t.x`, as in Postgres), so every row
//! of `L` meets exactly the rows computed for its own values. Because `D` is
//! distinct and the join is on all of `C`, a row of `L` that occurs `m` times pairs
//! with a row of `q` that occurs `n` times `m * n` times, as in Postgres.
//!
//! A LATERAL subquery that reads no column of `L` is an ordinary subquery joined
//! like any other. A subquery in the FROM of a correlated subquery, LATERAL or not,
//! may read the outer query's columns (which lead `L`, see `subquery.rs`): it is
//! planned the same way, with only those columns in scope when it is not LATERAL.
//! A set-returning function in FROM (with or without the keyword; Postgres treats
//! every function in FROM as LATERAL) is a `FlatMap` over `L`, which evaluates its
//! arguments from each row's own columns: a map, not a query per row.
//!
//! `LEFT JOIN LATERAL` keeps the rows of `L` that pair with nothing that satisfies
//! the ON condition, padded with NULLs, through the same unmatched-rows difference as
//! any outer join (see `query.rs`). A LATERAL item that reads its left side cannot be
//! the right side of a RIGHT or FULL join: Postgres refuses that with 42P10, and so
//! does Eddy.
//!
//! Scopes, as in Postgres: a LATERAL item inside the join tree of a later FROM item
//! (`FROM a, b JOIN LATERAL (...) ON ...`) may read the earlier items too, so such an
//! item is planned over the product of the items before it; the joins of the tree
//! still see only the tree's own items (ON, USING and NATURAL cannot name `a`), and
//! `*` lists the earlier items first. That product has the rows Postgres means only
//! when the tree's joins are inner or left ones: a tree with a RIGHT or FULL join is
//! planned alone, and one whose LATERAL item needs the earlier items is `0A000`.
//!
//! Not supported (`0A000`): a LIMIT or OFFSET that reads the outer row (the TopK
//! has one limit for every key), and a WITH query inside the subquery that reads it.

use eddy_expr::{MirRelationExpr, MirScalarExpr};
use eddy_repr::{SqlError, SqlState};
use sqlparser::ast::TableFactor;

use crate::context::StatementContext;
use crate::query;
use crate::scope::Scope;
use crate::subquery::{self, null_safe_equivalences};

/// The right side of a join, planned against its left side.
pub enum RightInput {
    /// A relation that reads nothing of the left side.
    Independent(MirRelationExpr),
    /// Every left row paired with the right rows computed for it: the left side's
    /// columns, then the right side's. `reads` are the left columns a subquery
    /// reads (empty for a function, whose arguments read each row's own columns).
    PerLeftRow {
        product: MirRelationExpr,
        reads: Vec<usize>,
    },
}

/// Whether `factor` may read the columns of the FROM items to its left.
pub fn is_lateral(factor: &TableFactor) -> bool {
    matches!(
        factor,
        TableFactor::Derived { lateral: true, .. } | TableFactor::Function { lateral: true, .. }
    ) || query::is_table_function(factor)
}

/// Whether `factor`, with `left_scope` to its left, is planned here: a LATERAL item,
/// or a subquery in the FROM of a correlated subquery (which may read the outer
/// query's columns, though not those of the items beside it).
pub fn reads_left(factor: &TableFactor, left_scope: &Scope) -> bool {
    is_lateral(factor)
        || (matches!(factor, TableFactor::Derived { .. })
            && left_scope.items.iter().any(|i| i.level > 0))
}

/// Plans the lateral `factor` (see [`is_lateral`]) against `left`, named by
/// `left_scope`; returns it with the scope of its own columns.
pub fn plan_lateral_factor(
    scx: &StatementContext,
    left: &MirRelationExpr,
    left_scope: &Scope,
    factor: &TableFactor,
) -> Result<(RightInput, Scope), SqlError> {
    let TableFactor::Derived {
        subquery, alias, ..
    } = factor
    else {
        let left_arity = left.arity();
        let (product, scope) =
            query::plan_table_function(scx, (left.clone(), left_scope.clone()), factor)?;
        let right_scope = right_part(scope, left_arity);
        let product = RightInput::PerLeftRow {
            product,
            reads: vec![],
        };
        return Ok((product, right_scope));
    };
    // Without LATERAL, only the outer query's columns are in scope. Most such
    // subqueries read none of them: planning them alone first (names resolve the
    // same way, inner ones shadowing outer ones) keeps nested subqueries in FROM
    // from being planned twice per level.
    let lateral = if is_lateral(factor) {
        subquery::plan_lateral(scx, left, left_scope, subquery)?
    } else {
        match query::plan_query(scx, subquery) {
            Ok(planned) => {
                let (expr, names, _) = planned.into_relation();
                subquery::Lateral {
                    columns: vec![],
                    expr,
                    names,
                }
            }
            Err(_) => subquery::plan_lateral(scx, left, &outer_items_only(left_scope), subquery)?,
        }
    };
    let mut names = lateral.names;
    let table = crate::query::aliased(&mut names, alias)?;
    let scope = Scope::from_names(table, &names);
    if lateral.columns.is_empty() {
        return Ok((RightInput::Independent(lateral.expr), scope));
    }
    let product = join_back(left, &lateral.columns, lateral.expr);
    let product = RightInput::PerLeftRow {
        product,
        reads: lateral.columns,
    };
    Ok((product, scope))
}

/// `left` joined with `rows` (the values of `left`'s `columns`, then the subquery's
/// columns) where the values equal NULL-safely; keeps `left`'s columns and the
/// subquery's.
fn join_back(left: &MirRelationExpr, columns: &[usize], rows: MirRelationExpr) -> MirRelationExpr {
    let arity = left.arity();
    let n = columns.len();
    let left_typ = left.typ();
    let key_types: Vec<_> = columns.iter().map(|&c| left_typ[c]).collect();
    let equivalences = null_safe_equivalences(
        columns.iter().map(|&c| MirScalarExpr::Column(c)).collect(),
        (arity..arity + n).map(MirScalarExpr::Column).collect(),
        &key_types,
    );
    let rows_arity = rows.arity();
    MirRelationExpr::Join {
        inputs: vec![left.clone(), rows],
        equivalences,
    }
    .project((0..arity).chain(arity + n..arity + rows_arity).collect())
}

/// `scope` with its own items (level 0) hidden from every name.
fn outer_items_only(scope: &Scope) -> Scope {
    without_context(scope, scope.len())
}

/// `scope` with its own items (level 0) among the first `context` hidden from every
/// name and from `*` (outer items stay: a correlated subquery's conditions read them).
pub fn without_context(scope: &Scope, context: usize) -> Scope {
    let mut scope = scope.clone();
    for item in scope.items[..context].iter_mut().filter(|i| i.level == 0) {
        item.table = None;
        item.column = String::new();
        item.unqualified = false;
    }
    scope.star.retain(|&i| i >= context);
    scope
}

/// The items of `scope` after the first `left_arity`: the right side's own scope.
fn right_part(scope: Scope, left_arity: usize) -> Scope {
    let items = scope.items[left_arity..].to_vec();
    let star = scope
        .star
        .iter()
        .filter(|&&i| i >= left_arity)
        .map(|&i| i - left_arity)
        .collect();
    Scope {
        items,
        star,
        outer_uses: None,
    }
}

/// The error for a LATERAL item that reads its left side on the right of a RIGHT or
/// FULL join, naming the table of the first column it reads, as Postgres does.
pub fn right_or_full_error(left_scope: &Scope, columns: &[usize]) -> SqlError {
    let table = columns
        .first()
        .and_then(|&c| left_scope.items[c].table.as_ref())
        .map_or_else(String::new, |t| t.name.clone());
    SqlError::new(
        SqlState::INVALID_COLUMN_REFERENCE,
        format!("invalid reference to FROM-clause entry for table \"{table}\""),
    )
    .with_detail("The combining JOIN type must be INNER or LEFT for a LATERAL reference.")
}
