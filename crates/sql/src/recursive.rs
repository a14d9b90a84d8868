//! `WITH RECURSIVE name (cols) AS (base UNION [ALL] step)`, planned as a
//! [`MirRelationExpr::Recursive`] whose `step` reads the CTE through a
//! [`MirRelationExpr::GetRecursive`].
//!
//! Postgres' rules, which make iterating `base ∪ step(R)` equal to its evaluation by
//! working tables: the base's column types are the CTE's (the step's must match them),
//! and the step reads the CTE once, not inside an aggregate. A CTE of a `WITH
//! RECURSIVE` that does not read itself is an ordinary one.
//!
//! The number of rounds is bounded by the session's `max_recursion`, read when the
//! query (or the materialized view) is planned: a recursion still producing rows
//! after that many rounds is an error, never a loop that runs forever.

use eddy_expr::MirRelationExpr;
use eddy_repr::{ColumnType, ScalarType, SqlError, SqlState};
use sqlparser::ast::{Cte, SetExpr, Statement};

use crate::context::{CteDef, StatementContext};
use crate::query::{cast_columns, plan_set_expr, rename_columns};
use crate::subquery::Prefix;
use crate::types;

/// The session variable that bounds the rounds of a recursive query.
pub const MAX_RECURSION_VAR: &str = "max_recursion";
/// Its default: deep enough for any hierarchy or graph diameter seen in practice,
/// small enough that a runaway recursion errors within seconds.
pub const MAX_RECURSION_DEFAULT: u64 = 10_000;

/// Plans `cte`, whose query is `left UNION [ALL] right` (`all`), as a recursive CTE
/// named `name`.
///
/// In a correlated subquery (`prefix`), a CTE whose base reads columns of the outer
/// query is planned over the outer keys, as the subquery is: its rows start with them,
/// and its step reads it joined on them (each outer row recurses on its own rows).
pub(crate) fn plan_recursive_cte(
    scx: &StatementContext,
    cte: &Cte,
    name: String,
    all: bool,
    left: &SetExpr,
    right: &SetExpr,
    prefix: Option<&Prefix>,
) -> Result<CteDef, SqlError> {
    if cte.query.order_by.is_some() {
        return Err(SqlError::unsupported("ORDER BY in a recursive query"));
    }
    if cte.query.limit_clause.is_some() {
        return Err(SqlError::unsupported("OFFSET/LIMIT in a recursive query"));
    }
    let (correlated, (base, mut names, unknown)) = match (plan_set_expr(scx, left, None), prefix) {
        (Ok(planned), _) => (None, planned),
        (Err(e), Some(prefix)) => match plan_set_expr(scx, left, Some(prefix)) {
            Ok(planned) => (Some(prefix), planned),
            Err(_) => return Err(e),
        },
        (Err(e), None) => return Err(e),
    };
    let keys = correlated.map_or(0, Prefix::arity);
    // An untyped literal in the base is text, as in Postgres.
    let base_typ = base.typ();
    let base_casts: Vec<ScalarType> = base_typ[keys..]
        .iter()
        .zip(&unknown)
        .map(|(t, u)| if *u { ScalarType::Text } else { t.scalar_type })
        .collect();
    let key_types: Vec<ScalarType> = base_typ[..keys].iter().map(|t| t.scalar_type).collect();
    let all_casts: Vec<ScalarType> = key_types.iter().chain(&base_casts).copied().collect();
    let base = cast_columns(scx, base, &all_casts);
    rename_columns(&mut names, &cte.alias, &name)?;

    let id = scx.next_recursive_id.get();
    scx.next_recursive_id.set(id + 1);
    let typ: Vec<ColumnType> = base_typ[..keys]
        .iter()
        .copied()
        .chain(base_casts.iter().map(|t| t.nullable(true)))
        .collect();
    let get = MirRelationExpr::GetRecursive {
        id,
        typ,
        name: name.clone(),
    };
    scx.ctes.borrow_mut().push(CteDef {
        name: name.clone(),
        expr: get,
        names: names.clone(),
        prefix: correlated.map(|p| p.keys.clone()),
        fields: vec![],
    });
    let planned = plan_set_expr(scx, right, correlated);
    scx.ctes.borrow_mut().pop();
    let (step, _, step_unknown) = planned?;

    if step.arity() != base.arity() {
        return Err(SqlError::syntax(
            "each UNION query must have the same number of columns",
        ));
    }
    let step_typ = step.typ();
    for (i, (target, t)) in base_casts.iter().zip(&step_typ[keys..]).enumerate() {
        if step_unknown[i] || t.scalar_type == *target {
            continue;
        }
        let common = types::common_type(target, &t.scalar_type);
        if common != Some(*target) {
            let overall = common.unwrap_or(t.scalar_type);
            return Err(SqlError::datatype_mismatch(format!(
                "recursive query \"{name}\" column {} has type {} in non-recursive term but type {} overall",
                i + 1,
                target.sql_name(),
                overall.sql_name()
            ))
            .with_hint("Cast the output of the non-recursive term to the correct type."));
        }
    }
    let step = cast_columns(scx, step, &all_casts);
    let prefix_keys = correlated.map(|p| p.keys.clone());

    let mut reads = 0;
    step.visit(&mut |e| {
        if matches!(e, MirRelationExpr::GetRecursive { id: i, .. } if *i == id) {
            reads += 1;
        }
    });
    if reads == 0 {
        let expr = if all {
            base.union(step)
        } else {
            base.union(step).distinct()
        };
        return Ok(CteDef {
            name,
            expr,
            names,
            prefix: prefix_keys,
            fields: vec![],
        });
    }
    // Before counting reads: a global aggregate's plan reads its input twice.
    if let Some(what) = step.recursion_unsupported(id) {
        if what == eddy_expr::AGGREGATES_IN_RECURSION {
            return Err(SqlError::new(
                SqlState::INVALID_RECURSION,
                "aggregate functions are not allowed in a recursive query's recursive term",
            ));
        }
        return Err(SqlError::unsupported_plural(what));
    }
    if reads > 1 {
        return Err(SqlError::new(
            SqlState::INVALID_RECURSION,
            format!("recursive reference to query \"{name}\" must not appear more than once"),
        ));
    }
    let expr = MirRelationExpr::Recursive {
        id,
        name: name.clone(),
        base: Box::new(base),
        step: Box::new(step),
        distinct: !all,
        max_iterations: max_recursion(scx)?,
    };
    Ok(CteDef {
        name,
        expr,
        names,
        prefix: prefix_keys,
        fields: vec![],
    })
}

/// The `max_recursion` in effect: the view's own, else the session's.
pub(crate) fn max_recursion(scx: &StatementContext) -> Result<u64, SqlError> {
    if let Some(n) = scx.max_recursion.get() {
        return Ok(n);
    }
    match scx.pcx.vars.get(MAX_RECURSION_VAR) {
        None => Ok(MAX_RECURSION_DEFAULT),
        Some(value) => parse_max_recursion(value),
    }
}

/// A value of `max_recursion`: a positive number of rounds. `SET` checks it with this
/// too, so a bad value is refused where it is set.
pub fn parse_max_recursion(value: &str) -> Result<u64, SqlError> {
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("invalid value for parameter \"{MAX_RECURSION_VAR}\": \"{value}\""),
        )
        .with_hint("It must be a positive number of iterations.")),
    }
}

/// `stmt` (a CREATE VIEW) with `WITH (max_recursion = limit)`: the view's text as the
/// log keeps it, so that planning it again (after a restart, or to rebuild it) gives
/// the same limit whatever the session's setting then.
pub(crate) fn with_max_recursion(stmt: &Statement, limit: u64) -> Statement {
    crate::view_options::with_option(stmt, MAX_RECURSION_VAR, &limit.to_string())
}
