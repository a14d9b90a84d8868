//! Planning queries (SELECT, VALUES, set operations, WITH) into [`MirRelationExpr`].
//!
//! A SELECT is planned in Postgres' logical order: FROM (joins), WHERE, GROUP BY with
//! aggregates, HAVING, the select list, ORDER BY (which may add hidden columns after
//! the visible ones), DISTINCT. The caller decides what ORDER BY/LIMIT become: the
//! finishing of a top-level SELECT, or a `TopK` inside a subquery or view (where an
//! ORDER BY without LIMIT/OFFSET has no effect and is dropped).
//!
//! Joins: inner join conditions that equate an expression over the left input with one
//! over the right input become join equivalences, everything else a filter. Outer
//! joins are built from an inner join and the unmatched rows of each preserved side:
//! `Threshold(L - Project_L(matched))` keeps each left row exactly as often as it
//! occurs in L when it matched nothing (a row that matched k times appears k times in
//! `matched`, so the difference is never positive for it), padded with NULLs.
//!
//! Aggregates without GROUP BY always yield one row: the `Reduce` yields nothing for an
//! empty input, so its result is unioned with a row of default values (count 0, others
//! NULL) minus that same row for every row the `Reduce` produced.

use std::ops::ControlFlow;

use eddy_expr::func::CastKind;
use eddy_expr::{
    AggregateExpr, BinaryFunc, ColumnOrder, MirRelationExpr, MirScalarExpr, VariadicFunc,
    WatermarkMode,
};
use eddy_repr::{ColumnType, Datum, Row, ScalarType};
use sqlparser::ast::{
    Distinct, Expr, FunctionArg, FunctionArgExpr, GroupByExpr, Join, JoinConstraint, JoinOperator,
    LimitClause, ObjectName, OrderByExpr, OrderByKind, Query, Select, SelectFlavor, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, SetOperator, SetQuantifier, TableAlias, TableFactor,
    TableWithJoins, Value, Values, WildcardAdditionalOptions,
};

use crate::catalog::ItemKind;
use crate::context::{CExpr, CteDef, StatementContext, Typed};
use crate::expr::{self, ExprContext, Grouping, TableCallValue};
use crate::func;
use crate::lateral;
use crate::names::{item_name, normalize_ident, object_name_parts};
use crate::scope::{RecordFields, Scope, ScopeItem, TableRef};
use crate::subquery::{OuterRelation, Prefix};
use crate::temporal;
use crate::types;
use crate::window::WindowKind;
use eddy_repr::{SqlError, SqlState};

/// A planned query before ORDER BY/LIMIT are applied.
#[derive(Clone, Debug)]
pub struct PlannedQuery {
    /// The rows: the correlation prefix (see `subquery.rs`), the visible columns, then
    /// any columns only ORDER BY needs.
    pub expr: MirRelationExpr,
    /// How many leading columns carry the values of a correlated subquery's outer
    /// columns (0 for every query that is not one).
    pub prefix: usize,
    /// Names of the visible columns.
    pub names: Vec<String>,
    /// Which visible columns are unknown-typed literals (typed `text` for now), so a
    /// UNION or INSERT can still read them as another type.
    pub unknown: Vec<bool>,
    /// The fields of each visible column that is a record whose fields are known (see
    /// [`ScopeItem::fields`](crate::scope::ScopeItem)); empty when none is.
    pub fields: Vec<Option<RecordFields>>,
    pub order_by: Vec<ColumnOrder>,
    pub limit: Option<usize>,
    /// A LIMIT that reads the outer columns of a correlated subquery: a `bigint` over
    /// the prefix columns, so each outer row has its own (NULL: no limit).
    pub limit_per_key: Option<MirScalarExpr>,
    pub offset: usize,
}

impl PlannedQuery {
    pub fn arity(&self) -> usize {
        self.names.len()
    }

    /// The query as a relation of its prefix and visible columns: LIMIT/OFFSET become
    /// a `TopK` (per prefix value), an ORDER BY without them is dropped.
    pub fn into_relation(self) -> (MirRelationExpr, Vec<String>, Vec<bool>) {
        let arity = self.prefix + self.arity();
        let mut expr = self.expr;
        if let Some(limit) = self.limit_per_key {
            expr = limit_per_key(expr, self.prefix, self.order_by, limit, self.offset);
        } else if self.limit.is_some() || self.offset > 0 {
            expr = MirRelationExpr::TopK {
                input: Box::new(expr),
                group_key: (0..self.prefix).collect(),
                order_key: self.order_by,
                limit: self.limit,
                offset: self.offset,
            };
        }
        if expr.arity() != arity {
            expr = expr.project((0..arity).collect());
        }
        (expr, self.names, self.unknown)
    }

    /// The column types of the visible columns.
    pub fn visible_types(&self) -> Vec<ColumnType> {
        self.expr
            .typ()
            .into_iter()
            .skip(self.prefix)
            .take(self.arity())
            .collect()
    }
}

/// One row with no columns: the input of a SELECT without FROM.
pub fn unit_relation() -> MirRelationExpr {
    MirRelationExpr::Constant {
        rows: vec![(Row::empty(), 1)],
        typ: vec![],
    }
}

/// Plans a query (with its own WITH, ORDER BY, LIMIT and OFFSET).
pub fn plan_query(scx: &StatementContext, query: &Query) -> Result<PlannedQuery, SqlError> {
    plan_query_with(scx, query, None)
}

/// Plans a correlated subquery: its relation starts with the columns of `prefix`.
pub fn plan_correlated_query(
    scx: &StatementContext,
    query: &Query,
    prefix: &Prefix,
) -> Result<PlannedQuery, SqlError> {
    plan_query_with(scx, query, Some(prefix))
}

fn plan_query_with(
    scx: &StatementContext,
    query: &Query,
    prefix: Option<&Prefix>,
) -> Result<PlannedQuery, SqlError> {
    let saved_ctes = scx.ctes.borrow().len();
    let result = plan_query_with_ctes(scx, query, prefix);
    scx.ctes.borrow_mut().truncate(saved_ctes);
    result
}

fn plan_query_with_ctes(
    scx: &StatementContext,
    query: &Query,
    prefix: Option<&Prefix>,
) -> Result<PlannedQuery, SqlError> {
    let n = prefix.map_or(0, Prefix::arity);
    if !query.locks.is_empty() {
        return Err(SqlError::unsupported("SELECT ... FOR UPDATE/SHARE"));
    }
    if query.for_clause.is_some()
        || query.settings.is_some()
        || query.format_clause.is_some()
        || !query.pipe_operators.is_empty()
    {
        return Err(SqlError::unsupported("this query syntax"));
    }
    if let Some(with) = &query.with {
        let mut seen: Vec<String> = vec![];
        for cte in &with.cte_tables {
            if cte.from.is_some() {
                return Err(SqlError::unsupported("this CTE syntax"));
            }
            let name = normalize_ident(&cte.alias.name);
            if seen.contains(&name) {
                return Err(SqlError::new(
                    SqlState::DUPLICATE_ALIAS,
                    format!("WITH query name \"{name}\" specified more than once"),
                ));
            }
            seen.push(name.clone());
            let def = match recursive_union(with.recursive, &cte.query) {
                Some((all, left, right)) => {
                    crate::recursive::plan_recursive_cte(scx, cte, name, all, left, right, prefix)?
                }
                None => {
                    // A CTE that reads columns of the outer query is planned over its
                    // keys, as the subquery is.
                    let (planned, keys) = match (plan_query(scx, &cte.query), prefix) {
                        (Ok(planned), _) => (planned, None),
                        (Err(_), Some(prefix)) if reads_outer(scx, &cte.query, prefix) => (
                            plan_correlated_query(scx, &cte.query, prefix)?,
                            Some(prefix.keys.clone()),
                        ),
                        (Err(e), _) => return Err(e),
                    };
                    let fields = planned.fields.clone();
                    let (expr, mut names, _) = planned.into_relation();
                    rename_columns(&mut names, &cte.alias, &name)?;
                    CteDef {
                        name,
                        expr,
                        names,
                        prefix: keys,
                        fields,
                    }
                }
            };
            scx.ctes.borrow_mut().push(def);
        }
    }
    let (limit, limit_per_key, offset) = plan_limit_offset(scx, query, prefix)?;
    let order_by: &[OrderByExpr] = match &query.order_by {
        None => &[],
        Some(order_by) => {
            if order_by.interpolate.is_some() {
                return Err(SqlError::unsupported("ORDER BY ... INTERPOLATE"));
            }
            match &order_by.kind {
                OrderByKind::Expressions(exprs) => exprs,
                OrderByKind::All(_) => return Err(SqlError::unsupported("ORDER BY ALL")),
            }
        }
    };
    for o in order_by {
        if o.with_fill.is_some() {
            return Err(SqlError::unsupported("ORDER BY ... WITH FILL"));
        }
    }
    match query.body.as_ref() {
        SetExpr::Select(select) => {
            let planned = plan_select(scx, select, order_by, prefix)?;
            Ok(PlannedQuery {
                expr: planned.expr,
                prefix: n,
                names: planned.names,
                unknown: planned.unknown,
                fields: planned.fields,
                order_by: planned.order_by,
                limit,
                limit_per_key,
                offset,
            })
        }
        body => {
            let (expr, names, unknown) = plan_set_expr(scx, body, prefix)?;
            let order_by = order_by
                .iter()
                .map(|o| {
                    let column = output_column_only(o, &names)?;
                    Ok(column_order(n + column, o))
                })
                .collect::<Result<Vec<_>, SqlError>>()?;
            Ok(PlannedQuery {
                expr,
                prefix: n,
                names,
                unknown,
                fields: vec![],
                order_by,
                limit,
                limit_per_key,
                offset,
            })
        }
    }
}

/// Whether `query` plans when the outer columns of `prefix` are in scope, and reads
/// some of them.
fn reads_outer(scx: &StatementContext, query: &Query, prefix: &Prefix) -> bool {
    let uses = std::rc::Rc::new(std::cell::RefCell::new(std::collections::BTreeSet::new()));
    let probe = Prefix {
        keys: prefix.keys.clone(),
        scope: Scope {
            outer_uses: Some(std::rc::Rc::clone(&uses)),
            ..prefix.scope.clone()
        },
    };
    let planned = plan_correlated_query(scx, query, &probe).is_ok();
    let reads = !uses.borrow().is_empty();
    planned && reads
}

/// The parts of a CTE of a `WITH RECURSIVE` that may read itself: `base UNION [ALL]
/// step`, as `(all, base, step)`. Any other CTE is planned as an ordinary one.
fn recursive_union(recursive: bool, query: &Query) -> Option<(bool, &SetExpr, &SetExpr)> {
    if !recursive {
        return None;
    }
    match query.body.as_ref() {
        SetExpr::SetOperation {
            op: SetOperator::Union,
            set_quantifier,
            left,
            right,
        } => Some((
            matches!(set_quantifier, SetQuantifier::All),
            left.as_ref(),
            right.as_ref(),
        )),
        _ => None,
    }
}

/// Applies a table alias's column list to `names`.
/// The table an `alias` names (renaming `names` by its column list), or `None`
/// without one.
pub(crate) fn aliased(
    names: &mut [String],
    alias: &Option<TableAlias>,
) -> Result<Option<TableRef>, SqlError> {
    let Some(alias) = alias else {
        return Ok(None);
    };
    let name = normalize_ident(&alias.name);
    rename_columns(names, alias, &name)?;
    Ok(Some(TableRef { schema: None, name }))
}

pub(crate) fn rename_columns(
    names: &mut [String],
    alias: &TableAlias,
    table: &str,
) -> Result<(), SqlError> {
    if alias.columns.len() > names.len() {
        return Err(SqlError::new(
            SqlState::INVALID_COLUMN_REFERENCE,
            format!(
                "table \"{table}\" has {} columns available but {} columns specified",
                names.len(),
                alias.columns.len()
            ),
        ));
    }
    for (name, column) in names.iter_mut().zip(&alias.columns) {
        if column.data_type.is_some() {
            return Err(SqlError::unsupported_plural(
                "column types in a table alias",
            ));
        }
        *name = normalize_ident(&column.name);
    }
    Ok(())
}

/// An ORDER BY item of a query whose body is not a plain SELECT: only output column
/// names and positions are allowed, as in Postgres.
fn output_column_only(o: &OrderByExpr, names: &[String]) -> Result<usize, SqlError> {
    if let Some(ordinal) = ordinal(&o.expr) {
        return check_ordinal(ordinal, names.len(), "ORDER BY");
    }
    if let Expr::Identifier(ident) = &o.expr {
        let name = normalize_ident(ident);
        let matches: Vec<usize> = (0..names.len()).filter(|i| names[*i] == name).collect();
        match matches.as_slice() {
            [i] => return Ok(*i),
            [] => return Err(SqlError::undefined_column(&name)),
            _ => {
                return Err(SqlError::new(
                    SqlState::AMBIGUOUS_COLUMN,
                    format!("ORDER BY \"{name}\" is ambiguous"),
                ))
            }
        }
    }
    Err(SqlError::new(
        SqlState::FEATURE_NOT_SUPPORTED,
        "invalid UNION/INTERSECT/EXCEPT ORDER BY clause",
    )
    .with_detail("Only result column names can be used, not expressions or functions.")
    .with_hint(
        "Add the expression/function to every SELECT, or move the UNION into a FROM clause.",
    ))
}

/// A positive integer literal used as a column position (`ORDER BY 2`).
fn ordinal(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) if !n.contains(['.', 'e', 'E']) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

fn check_ordinal(ordinal: i64, arity: usize, clause: &str) -> Result<usize, SqlError> {
    if ordinal < 1 || ordinal as usize > arity {
        return Err(SqlError::new(
            SqlState::INVALID_COLUMN_REFERENCE,
            format!("{clause} position {ordinal} is not in select list"),
        ));
    }
    Ok(ordinal as usize - 1)
}

/// Postgres' defaults: ASC NULLS LAST, DESC NULLS FIRST.
/// Whether an ORDER BY key sorts descending, and whether NULLs come last (the
/// default: last ascending, first descending).
pub(crate) fn order_direction(o: &OrderByExpr) -> (bool, bool) {
    let desc = o.options.asc == Some(false);
    let nulls_last = match o.options.nulls_first {
        Some(first) => !first,
        None => !desc,
    };
    (desc, nulls_last)
}

fn column_order(column: usize, o: &OrderByExpr) -> ColumnOrder {
    let (desc, nulls_last) = order_direction(o);
    ColumnOrder {
        column,
        desc,
        nulls_last,
    }
}

/// The rows of `expr` at positions `offset + 1 ..= offset + limit` of each group of
/// the `prefix` columns in `order` order, where `limit` reads those columns: each row
/// numbered in its group by a window (a change re-sorts its group), kept while its
/// number is within the group's limit. A NULL limit keeps every row; a negative one
/// is an error for that group (2201W), as in Postgres.
fn limit_per_key(
    expr: MirRelationExpr,
    prefix: usize,
    order: Vec<ColumnOrder>,
    limit: MirScalarExpr,
    offset: usize,
) -> MirRelationExpr {
    let arity = expr.arity();
    let numbered = MirRelationExpr::Window {
        input: Box::new(expr),
        partition_key: (0..prefix).collect(),
        order_key: order,
        functions: vec![eddy_expr::WindowExpr {
            func: eddy_expr::WindowFunc::RowNumber,
            frame: eddy_expr::WindowFrame::default_frame(),
        }],
    };
    let int8 = |v: i64| MirScalarExpr::literal(Datum::Int64(v), ScalarType::Int64.nullable(false));
    let row_number = MirScalarExpr::Column(arity);
    let past_offset = row_number
        .clone()
        .call_binary(int8(offset as i64), BinaryFunc::Gt);
    let within = row_number.call_binary(
        limit
            .clone()
            .call_binary(int8(offset as i64), BinaryFunc::Add),
        BinaryFunc::Lte,
    );
    let negative = limit.clone().call_binary(int8(0), BinaryFunc::Lt);
    let keep = MirScalarExpr::If {
        cond: Box::new(limit.call_unary(eddy_expr::UnaryFunc::IsNull)),
        then: Box::new(MirScalarExpr::literal(
            Datum::Bool(true),
            ScalarType::Bool.nullable(false),
        )),
        els: Box::new(MirScalarExpr::If {
            cond: Box::new(negative),
            then: Box::new(MirScalarExpr::Literal(
                Err(eddy_expr::EvalError::NegativeLimit),
                ScalarType::Bool.nullable(false),
            )),
            els: Box::new(within),
        }),
    };
    numbered
        .filter(vec![past_offset, keep])
        .project((0..arity).collect())
}

fn plan_limit_offset(
    scx: &StatementContext,
    query: &Query,
    prefix: Option<&Prefix>,
) -> Result<(Option<usize>, Option<MirScalarExpr>, usize), SqlError> {
    // In a correlated subquery a LIMIT may read the outer columns (the prefix).
    let (scope, typ) = match prefix {
        Some(prefix) => (prefix.scope.clone(), prefix.keys.typ()),
        None => (Scope::empty(), vec![]),
    };
    let ecx = ExprContext::new(scx, &scope, &typ, "LIMIT");
    let (limit, offset) = match &query.limit_clause {
        None => (None, None),
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if !limit_by.is_empty() {
                return Err(SqlError::unsupported("LIMIT BY"));
            }
            (limit.as_ref(), offset.as_ref().map(|o| &o.value))
        }
        Some(LimitClause::OffsetCommaLimit { .. }) => {
            return Err(SqlError::syntax("LIMIT #,# syntax is not supported")
                .with_hint("Use separate LIMIT and OFFSET clauses."))
        }
    };
    let (mut limit, limit_per_key) = match limit {
        Some(e) => match plan_count(
            &ecx,
            e,
            "LIMIT",
            SqlState::INVALID_ROW_COUNT_IN_LIMIT_CLAUSE,
        )? {
            Count::Constant(limit) => (limit, None),
            Count::PerRow(limit) => (None, Some(limit)),
        },
        None => (None, None),
    };
    if let Some(fetch) = &query.fetch {
        if fetch.with_ties || fetch.percent {
            return Err(SqlError::unsupported("FETCH ... WITH TIES / PERCENT"));
        }
        if limit.is_some() || limit_per_key.is_some() {
            return Err(SqlError::syntax("multiple LIMIT clauses not allowed"));
        }
        limit = match &fetch.quantity {
            Some(e) => plan_count(
                &ecx,
                e,
                "FETCH FIRST",
                SqlState::INVALID_ROW_COUNT_IN_LIMIT_CLAUSE,
            )?
            .constant("FETCH FIRST")?,
            None => Some(1),
        };
    }
    let offset = match offset {
        Some(e) => plan_count(
            &ecx,
            e,
            "OFFSET",
            SqlState::INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE,
        )?
        .constant("OFFSET")?
        .unwrap_or(0),
        None => 0,
    };
    Ok((limit, limit_per_key, offset))
}

/// A LIMIT/OFFSET count.
enum Count {
    /// A constant (or parameter) integer; `None` for NULL, which means none.
    Constant(Option<usize>),
    /// A `bigint` over the outer columns a correlated subquery reads.
    PerRow(MirScalarExpr),
}

impl Count {
    fn constant(self, clause: &str) -> Result<Option<usize>, SqlError> {
        match self {
            Count::Constant(count) => Ok(count),
            Count::PerRow(_) => Err(SqlError::unsupported(format!(
                "{clause} that reads the columns of an outer query"
            ))),
        }
    }
}

fn plan_count(
    ecx: &ExprContext,
    expr: &Expr,
    clause: &'static str,
    negative_state: SqlState,
) -> Result<Count, SqlError> {
    let scx = ecx.scx;
    let ecx = ecx.with_clause(clause);
    let planned = expr::plan_expr(&ecx, expr)?;
    let typed = match scx.coerce(planned, ScalarType::Int64, types::CastContext::Implicit)? {
        Ok(t) => t,
        Err(from) => {
            return Err(SqlError::datatype_mismatch(format!(
                "argument of {clause} must be type bigint, not type {from}"
            )))
        }
    };
    let value = match typed.expr.as_literal() {
        Some(Datum::Null) => return Ok(Count::Constant(None)),
        Some(Datum::Int64(v)) => *v,
        Some(Datum::Int32(v)) => *v as i64,
        Some(Datum::Int16(v)) => *v as i64,
        _ if !typed.expr.support().is_empty() && !typed.expr.is_volatile() => {
            return Ok(Count::PerRow(typed.expr))
        }
        _ => return Err(SqlError::unsupported(format!("non-constant {clause}"))),
    };
    if value < 0 {
        return Err(SqlError::new(
            negative_state,
            format!("{clause} must not be negative"),
        ));
    }
    Ok(Count::Constant(Some(value as usize)))
}

/// Plans a query body that is not a plain SELECT, as a relation of its columns
/// (after the correlation prefix, if any).
pub(crate) fn plan_set_expr(
    scx: &StatementContext,
    body: &SetExpr,
    prefix: Option<&Prefix>,
) -> Result<(MirRelationExpr, Vec<String>, Vec<bool>), SqlError> {
    match body {
        SetExpr::Select(select) => {
            let planned = plan_select(scx, select, &[], prefix)?;
            Ok((planned.expr, planned.names, planned.unknown))
        }
        SetExpr::Query(query) => Ok(plan_query_with(scx, query, prefix)?.into_relation()),
        SetExpr::Values(values) => {
            let PlannedValues {
                rows,
                types,
                names,
                unknown,
            } = plan_values(scx, values, prefix)?;
            let reads_prefix = rows
                .iter()
                .flatten()
                .any(|value| !value.expr.support().is_empty());
            let expr = match prefix {
                None => rows_relation(rows, &types),
                // Rows that read the outer columns are computed per key.
                Some(prefix) if reads_prefix => {
                    let mut parts = rows.into_iter().map(|row| {
                        prefix
                            .keys
                            .clone()
                            .map(row.into_iter().map(|v| v.expr).collect())
                    });
                    let base = parts
                        .next()
                        .ok_or_else(|| SqlError::internal("VALUES without rows"))?;
                    MirRelationExpr::Union {
                        base: Box::new(base),
                        inputs: parts.collect(),
                    }
                }
                Some(prefix) => MirRelationExpr::Join {
                    inputs: vec![prefix.keys.clone(), rows_relation(rows, &types)],
                    equivalences: vec![],
                },
            };
            Ok((expr, names, unknown))
        }
        SetExpr::SetOperation {
            op,
            set_quantifier,
            left,
            right,
        } => plan_set_operation(scx, op, set_quantifier, left, right, prefix),
        SetExpr::Table(_) => Err(SqlError::unsupported("TABLE t")),
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => Err(
            SqlError::unsupported_plural("data-modifying statements in a query"),
        ),
    }
}

fn plan_set_operation(
    scx: &StatementContext,
    op: &SetOperator,
    quantifier: &SetQuantifier,
    left: &SetExpr,
    right: &SetExpr,
    prefix: Option<&Prefix>,
) -> Result<(MirRelationExpr, Vec<String>, Vec<bool>), SqlError> {
    let n = prefix.map_or(0, Prefix::arity);
    let op_name = match op {
        SetOperator::Union => "UNION",
        SetOperator::Intersect => "INTERSECT",
        SetOperator::Except => "EXCEPT",
        SetOperator::Minus => return Err(SqlError::unsupported("MINUS")),
    };
    let all = match quantifier {
        SetQuantifier::All => true,
        SetQuantifier::Distinct | SetQuantifier::None => false,
        _ => return Err(SqlError::unsupported(format!("{op_name} BY NAME"))),
    };
    let (l, names, l_unknown) = plan_set_expr(scx, left, prefix)?;
    let (r, _, r_unknown) = plan_set_expr(scx, right, prefix)?;
    if l.arity() != r.arity() {
        return Err(SqlError::syntax(format!(
            "each {op_name} query must have the same number of columns"
        )));
    }
    let (l_typ, r_typ) = (l.typ(), r.typ());
    // The prefix columns are the same on both sides.
    let mut l_casts: Vec<ScalarType> = l_typ[..n].iter().map(|t| t.scalar_type).collect();
    let mut r_casts = l_casts.clone();
    let mut unknown = vec![];
    for i in 0..l_typ.len() - n {
        let (lt, rt) = (l_typ[n + i].scalar_type, r_typ[n + i].scalar_type);
        let target = match (l_unknown[i], r_unknown[i]) {
            (true, true) => ScalarType::Text,
            (true, false) => rt,
            (false, true) => lt,
            (false, false) => types::common_type(&lt, &rt).ok_or_else(|| {
                SqlError::datatype_mismatch(format!(
                    "{op_name} types {} and {} cannot be matched",
                    lt.sql_name(),
                    rt.sql_name()
                ))
            })?,
        };
        l_casts.push(target);
        r_casts.push(target);
        unknown.push(l_unknown[i] && r_unknown[i]);
    }
    let l = cast_columns(scx, l, &l_casts);
    let r = cast_columns(scx, r, &r_casts);
    let expr = match (op, all) {
        (SetOperator::Union, true) => l.union(r),
        (SetOperator::Union, false) => l.union(r).distinct(),
        (SetOperator::Except, true) => l.union(r.negate()).threshold(),
        (SetOperator::Except, false) => l.distinct().union(r.distinct().negate()).threshold(),
        // min(|L|, |R|) = L - max(L - R, 0)
        (SetOperator::Intersect, all) => {
            let (l, r) = if all {
                (l, r)
            } else {
                (l.distinct(), r.distinct())
            };
            l.clone().union(l.union(r.negate()).threshold().negate())
        }
        (SetOperator::Minus, _) => unreachable!("refused above"),
    };
    Ok((expr, names, unknown))
}

/// Casts the columns of `expr` to `targets` where they differ.
pub fn cast_columns(
    scx: &StatementContext,
    expr: MirRelationExpr,
    targets: &[ScalarType],
) -> MirRelationExpr {
    let typ = expr.typ();
    let arity = typ.len();
    let mut scalars = vec![];
    let mut outputs = vec![];
    for (i, target) in targets.iter().enumerate() {
        if typ[i].scalar_type == *target {
            outputs.push(i);
        } else {
            let column = Typed::new(MirScalarExpr::Column(i), typ[i]);
            let cast = scx.cast(column, *target, CastKind::Explicit);
            outputs.push(arity + scalars.len());
            scalars.push(cast.expr);
        }
    }
    if scalars.is_empty() {
        return expr;
    }
    expr.map(scalars).project(outputs)
}

/// A VALUES list: its rows typed to their columns' common types.
struct PlannedValues {
    rows: Vec<Vec<Typed>>,
    types: Vec<ScalarType>,
    names: Vec<String>,
    unknown: Vec<bool>,
}

/// `VALUES (...), (...)`: columns `column1`, `column2`, ... of the rows' common types.
/// In a correlated subquery the values may read the outer columns of `prefix`.
fn plan_values(
    scx: &StatementContext,
    values: &Values,
    prefix: Option<&Prefix>,
) -> Result<PlannedValues, SqlError> {
    let arity = values.rows.first().map(|r| r.len()).unwrap_or(0);
    if values.rows.iter().any(|r| r.len() != arity) {
        return Err(SqlError::syntax("VALUES lists must all be the same length"));
    }
    let (scope, typ) = match prefix {
        Some(prefix) => (prefix.scope.clone(), prefix.keys.typ()),
        None => (Scope::empty(), vec![]),
    };
    let ecx = ExprContext::new(scx, &scope, &typ, "VALUES");
    let mut columns: Vec<Vec<CExpr>> = vec![vec![]; arity];
    for row in &values.rows {
        for (i, e) in row.iter().enumerate() {
            columns[i].push(expr::plan_expr(&ecx, e)?);
        }
    }
    let unknown: Vec<bool> = columns
        .iter()
        .map(|c| c.iter().all(|e| e.is_unknown()))
        .collect();
    let mut typed_columns = vec![];
    let mut column_types = vec![];
    for column in columns {
        let (typed, common) = expr::unify(scx, column, "VALUES")?;
        typed_columns.push(typed);
        column_types.push(common);
    }
    let nrows = values.rows.len();
    let mut rows: Vec<Vec<Typed>> = (0..nrows).map(|_| Vec::with_capacity(arity)).collect();
    for column in typed_columns {
        for (r, value) in column.into_iter().enumerate() {
            rows[r].push(value);
        }
    }
    let names = (1..=arity).map(|i| format!("column{i}")).collect();
    Ok(PlannedValues {
        rows,
        types: column_types,
        names,
        unknown,
    })
}

/// A relation of the given rows of expressions (with no input columns). Rows of plain
/// literals become one `Constant`; other rows are each a `Map` over one empty row.
pub fn rows_relation(rows: Vec<Vec<Typed>>, types: &[ScalarType]) -> MirRelationExpr {
    let mut literal_rows = vec![];
    let mut nullable = vec![false; types.len()];
    let mut computed = vec![];
    for row in rows {
        let datums: Option<Vec<Datum>> = row.iter().map(|t| t.expr.as_literal().cloned()).collect();
        match datums {
            Some(datums) => {
                for (n, d) in nullable.iter_mut().zip(&datums) {
                    *n |= d.is_null();
                }
                literal_rows.push((Row::pack(&datums), 1));
            }
            None => computed.push(unit_relation().map(row.into_iter().map(|t| t.expr).collect())),
        }
    }
    let mut parts = vec![];
    if !literal_rows.is_empty() {
        parts.push(MirRelationExpr::Constant {
            rows: literal_rows,
            typ: types
                .iter()
                .zip(nullable)
                .map(|(t, n)| t.nullable(n))
                .collect(),
        });
    }
    parts.extend(computed);
    let mut parts = parts.into_iter();
    let base = parts.next().unwrap_or_else(|| MirRelationExpr::Constant {
        rows: vec![],
        typ: types.iter().map(|t| t.nullable(true)).collect(),
    });
    let inputs: Vec<MirRelationExpr> = parts.collect();
    if inputs.is_empty() {
        base
    } else {
        MirRelationExpr::Union {
            base: Box::new(base),
            inputs,
        }
    }
}

/// A planned SELECT: visible columns, then ORDER BY-only columns.
struct PlannedSelect {
    expr: MirRelationExpr,
    names: Vec<String>,
    unknown: Vec<bool>,
    fields: Vec<Option<RecordFields>>,
    order_by: Vec<ColumnOrder>,
}

/// An output of the select list.
struct Output {
    expr: MirScalarExpr,
    name: String,
    unknown: bool,
    /// The record's fields, when the output is a record whose fields are known.
    fields: Option<RecordFields>,
}

fn check_select_supported(select: &Select) -> Result<(), SqlError> {
    if select.top.is_some() {
        return Err(SqlError::unsupported("TOP"));
    }
    if select.into.is_some() {
        return Err(SqlError::unsupported("SELECT INTO"));
    }
    if !select.lateral_views.is_empty() {
        return Err(SqlError::unsupported("LATERAL VIEW"));
    }
    if select.prewhere.is_some()
        || !select.cluster_by.is_empty()
        || !select.distribute_by.is_empty()
        || !select.sort_by.is_empty()
        || select.qualify.is_some()
        || select.value_table_mode.is_some()
        || select.connect_by.is_some()
        || select.exclude.is_some()
        || select.flavor != SelectFlavor::Standard
    {
        return Err(SqlError::unsupported("this SELECT syntax"));
    }
    Ok(())
}

/// Aggregate calls in `exprs`, each once, in order of appearance. Nested aggregate
/// calls are an error.
fn collect_aggregates<'e>(
    exprs: impl IntoIterator<Item = &'e Expr>,
) -> Result<Vec<Expr>, SqlError> {
    let mut found: Vec<Expr> = vec![];
    for e in exprs {
        let flow = expr::visit_query_level(e, |sub| {
            if let Expr::Function(f) = sub {
                if func::is_aggregate_call(f) {
                    let nested = expr::visit_query_level(&f.args, |inner| match inner {
                        Expr::Function(g) if func::is_aggregate_call(g) => ControlFlow::Break(()),
                        _ => ControlFlow::Continue(()),
                    })
                    .is_break()
                        || f.filter.as_deref().is_some_and(expr::contains_aggregate);
                    if nested {
                        return ControlFlow::Break(SqlError::new(
                            SqlState::GROUPING_ERROR,
                            "aggregate function calls cannot be nested",
                        ));
                    }
                    if !found.contains(sub) {
                        found.push(sub.clone());
                    }
                }
            }
            ControlFlow::Continue(())
        });
        if let ControlFlow::Break(err) = flow {
            return Err(err);
        }
    }
    Ok(found)
}

/// Plans the set-returning function calls in `exprs` (each once, in order of
/// appearance) as one `FlatMap` over `rel`, running in lockstep; returns each call and
/// its values: its column, or a record of its columns when it has several
/// (`jsonb_each`), whose fields `(call).key` reads.
fn plan_select_table_calls<'e>(
    ecx: &ExprContext,
    rel: &mut MirRelationExpr,
    exprs: impl IntoIterator<Item = &'e Expr>,
) -> Result<Vec<TableCallValue>, SqlError> {
    let mut found: Vec<Expr> = vec![];
    for e in exprs {
        let _ = expr::visit_query_level(e, |sub| {
            if matches!(sub, Expr::Function(f) if func::is_table_function_call(f))
                && !found.contains(sub)
            {
                found.push(sub.clone());
            }
            ControlFlow::<()>::Continue(())
        });
    }
    if found.is_empty() {
        return Ok(vec![]);
    }
    let mut calls = vec![];
    for e in &found {
        let Expr::Function(f) = e else {
            unreachable!("collected calls are functions")
        };
        let args = func::plan_table_call_args(ecx, f)?;
        let name = func::function_name(f)?;
        calls.push(func::plan_table_call(ecx.scx, &name, args)?);
    }
    let mut column = rel.arity();
    let mut values = vec![];
    for (call, e) in calls.iter().zip(found) {
        let types = call.func.output_types();
        let columns = (column..column + types.len()).map(MirScalarExpr::Column);
        column += types.len();
        let value = match types.as_slice() {
            [typ] => TableCallValue {
                call: e,
                value: Typed::new(MirScalarExpr::Column(column - 1), *typ),
                fields: None,
            },
            _ => {
                let names = call.func.column_names().unwrap_or_default();
                let columns: Vec<Typed> = columns
                    .zip(&types)
                    .map(|(c, t)| Typed::new(c, *t))
                    .collect();
                // Past its last row (when another call runs longer) a call's record is
                // NULL, which its column that is never NULL tells.
                let ended = columns.iter().find(|c| !c.typ.nullable).cloned();
                let record = Typed::variadic(VariadicFunc::RecordCreate, columns);
                let value = match ended {
                    Some(column) => Typed::new(
                        MirScalarExpr::If {
                            cond: Box::new(column.unary(eddy_expr::UnaryFunc::IsNull).expr),
                            then: Box::new(MirScalarExpr::literal(
                                Datum::Null,
                                ScalarType::Record.nullable(true),
                            )),
                            els: Box::new(record.expr),
                        },
                        ScalarType::Record.nullable(true),
                    ),
                    None => record,
                };
                TableCallValue {
                    call: e,
                    value,
                    fields: Some(
                        names
                            .iter()
                            .map(|n| n.to_string())
                            .zip(types.iter().copied())
                            .collect(),
                    ),
                }
            }
        };
        values.push(value);
    }
    *rel = MirRelationExpr::FlatMap {
        input: Box::new(std::mem::replace(rel, unit_relation())),
        calls,
    };
    Ok(values)
}

fn select_item_expr(item: &SelectItem) -> Option<&Expr> {
    match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
        _ => None,
    }
}

/// A grouping of a maintained view by an event-time bound (see
/// [`crate::scope::EventBound`]): which key, which input column, and the watermark
/// that closes its groups.
struct WindowClosing {
    /// The key's position among the group keys (its column in the grouped output).
    key_position: usize,
    /// The input column the key is.
    input_column: usize,
    offset_us: i64,
    /// The stream's watermark: a relation of one `timestamptz` column.
    watermark: MirRelationExpr,
    /// The stream, when the key is a `SESSION` window's end.
    sessions_of: Option<eddy_repr::GlobalId>,
}

impl WindowClosing {
    fn watermarked(
        &self,
        input: MirRelationExpr,
        column: usize,
        mode: WatermarkMode,
    ) -> MirRelationExpr {
        input.watermarked(&self.watermark, column, self.offset_us, mode)
    }
}

/// How the groups of `keys` (over `scope`) close, when this is a maintained view's
/// grouping and a key is a window bound of a stream with an event time: the groups
/// are then final once the stream's watermark passes them, and their state can be
/// released (`eddy_expr::watermark`).
fn window_closing(
    scx: &StatementContext,
    scope: &Scope,
    keys: &[MirScalarExpr],
) -> Option<Result<WindowClosing, SqlError>> {
    if !scx.in_view.get() {
        return None;
    }
    let (key_position, input_column, bound) = keys.iter().enumerate().find_map(|(k, key)| {
        let MirScalarExpr::Column(c) = key else {
            return None;
        };
        let item = scope.items.get(*c).filter(|i| i.level == 0)?;
        item.event_bound.map(|b| (k, *c, b))
    })?;
    let watermark = crate::window::watermark_of(scx, bound.source)?;
    if let Err(e) = check_kept_within_retention(scx, &bound) {
        return Some(Err(e));
    }
    Some(Ok(WindowClosing {
        key_position,
        input_column,
        offset_us: bound.offset_us,
        watermark,
        sessions_of: bound.session.then_some(bound.source),
    }))
}

/// A view that keeps closed windows' rows over a stream with a `RETENTION` must drop
/// each row (its own `retention`) before the stream drops the row's events: so that
/// what the view shows can always be computed again from what the stream holds (a
/// restart does that).
fn check_kept_within_retention(
    scx: &StatementContext,
    bound: &crate::scope::EventBound,
) -> Result<(), SqlError> {
    let Some(stream_retention) = bound.retention_us else {
        return Ok(());
    };
    let Some(span) = bound.span_us else {
        return Err(SqlError::unsupported(
            "SESSION windows over a stream with RETENTION",
        )
        .with_hint("A session can outlast the stream's retention: group its events by TUMBLE or HOP windows instead."));
    };
    let most = stream_retention.saturating_sub(span);
    match scx.window_retention_us.get() {
        Some(kept) if kept <= most => Ok(()),
        _ => Err(SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            "a view that keeps closed windows of a stream with RETENTION needs a retention of its own",
        )
        .with_detail(format!(
            "The stream keeps events {} past their time; a window of {} must leave the view at most {} after it closes.",
            interval_text(stream_retention),
            interval_text(span),
            interval_text(most.max(0))
        ))
        .with_hint(format!(
            "Add WITH (retention = '{}') (or less) to the view, so that a restart can compute every row it shows again.",
            interval_text(most.max(0))
        ))),
    }
}

/// `us` microseconds as an interval's text (`1 hour`, `00:10:00`).
fn interval_text(us: i64) -> String {
    let interval = eddy_repr::Interval {
        months: 0,
        days: 0,
        micros: us,
    };
    eddy_repr::strconv::format_interval(&interval)
}

fn plan_select(
    scx: &StatementContext,
    select: &Select,
    order_by: &[OrderByExpr],
    prefix: Option<&Prefix>,
) -> Result<PlannedSelect, SqlError> {
    check_select_supported(select)?;
    let n = prefix.map_or(0, Prefix::arity);
    let (mut rel, scope) = plan_from_with(scx, &select.from, prefix)?;
    let input_typ = rel.typ();
    let ecx = ExprContext::new(scx, &scope, &input_typ, "WHERE");
    // In a view, WHERE conjuncts on now() are a temporal filter, applied after the rest.
    let (temporal, selection) = match &select.selection {
        Some(selection) if scx.in_view.get() && temporal::mentions_now(selection) => {
            temporal::split_where(selection)
        }
        other => (vec![], other.clone()),
    };
    if let Some(selection) = &selection {
        let cond = with_subqueries(&mut rel, |cell| {
            expr::plan_condition(&ecx.with_rel(cell), selection)
        })?;
        rel = keep_columns(rel.filter(vec![cond.expr]), input_typ.len());
    }
    if !temporal.is_empty() {
        rel = MirRelationExpr::TemporalFilter {
            input: Box::new(rel),
            predicates: temporal::plan_temporal(&ecx, &temporal)?,
        };
    }

    // GROUP BY and aggregates.
    let group_by_exprs = match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) => {
            if !modifiers.is_empty() {
                return Err(SqlError::unsupported("GROUP BY ROLLUP/CUBE/GROUPING SETS"));
            }
            exprs.as_slice()
        }
        GroupByExpr::All(_) => return Err(SqlError::unsupported("GROUP BY ALL")),
    };
    let aggregates = collect_aggregates(
        select
            .projection
            .iter()
            .filter_map(select_item_expr)
            .chain(select.having.iter())
            .chain(order_by.iter().map(|o| &o.expr)),
    )?;
    let grouped = !group_by_exprs.is_empty() || !aggregates.is_empty() || select.having.is_some();
    let grouping_storage;
    let grouping = if grouped {
        // Keys and aggregate arguments are planned over the input; a subquery in one
        // of them joins into the input before it is grouped.
        let (keys, reduce_aggregates, planned_aggregates) = with_subqueries(&mut rel, |cell| {
            let group_ecx = ecx.with_clause("GROUP BY").with_rel(cell);
            // A correlated subquery groups per value of the outer columns it reads.
            let mut keys: Vec<MirScalarExpr> = (0..n).map(MirScalarExpr::Column).collect();
            for e in group_by_exprs {
                let e = resolve_group_by_item(&scope, select, e)?;
                if expr::contains_aggregate(e) {
                    return Err(SqlError::new(
                        SqlState::GROUPING_ERROR,
                        "aggregate functions are not allowed in GROUP BY",
                    ));
                }
                keys.push(expr::plan_typed(&group_ecx, e)?.expr);
            }
            let agg_ecx = ecx.with_clause("aggregate function calls").with_rel(cell);
            let mut reduce_aggregates: Vec<AggregateExpr> = vec![];
            let mut planned_aggregates = vec![];
            for agg in &aggregates {
                let Expr::Function(f) = agg else {
                    unreachable!("collected aggregates are calls")
                };
                let planned =
                    func::plan_aggregate(&agg_ecx, f, keys.len() + reduce_aggregates.len())?;
                reduce_aggregates.extend(planned.aggregates);
                planned_aggregates.push((agg.clone(), planned.value));
            }
            Ok((keys, reduce_aggregates, planned_aggregates))
        })?;
        let global = keys.len() == n;
        let defaults: Vec<Datum> = reduce_aggregates
            .iter()
            .map(|a| a.func.default_datum())
            .collect();
        let closing = window_closing(scx, &scope, &keys).transpose()?;
        if let Some(c) = &closing {
            // A session's rows expire under its window (which then retracts them from
            // here on); any other window's rows expire here.
            let expired = c.sessions_of.is_some_and(|source| {
                crate::window::expire_sessions(&mut rel, source, &c.watermark)
            });
            if !expired {
                rel = c.watermarked(rel, c.input_column, WatermarkMode::Expire);
            }
        }
        rel = MirRelationExpr::Reduce {
            input: Box::new(rel),
            group_key: keys.clone(),
            aggregates: reduce_aggregates,
        };
        if let Some(c) = &closing {
            let mode = match scx.emit_on_window_close.get() {
                true => WatermarkMode::EmitOnClose,
                false => WatermarkMode::Finalize,
            };
            rel = c.watermarked(rel, c.key_position, mode);
            // With a retention, a closed window's row leaves once the watermark is
            // that far past its end.
            if let Some(retention_us) = scx.window_retention_us.get() {
                let offset_us = c.offset_us.saturating_add(retention_us);
                rel = rel.watermarked(
                    &c.watermark,
                    c.key_position,
                    offset_us,
                    WatermarkMode::Expire,
                );
            }
        }
        if global {
            rel = match prefix {
                None => with_default_row(rel, defaults),
                Some(prefix) => with_default_rows(rel, prefix.keys.clone(), defaults),
            };
        }
        let grouped_typ = rel.typ();
        grouping_storage = Grouping {
            input_scope: &scope,
            input_typ: &input_typ,
            keys,
            aggregates: planned_aggregates,
            grouped_typ,
        };
        Some(&grouping_storage)
    } else {
        None
    };
    let mut ecx = ExprContext {
        scx,
        scope: &scope,
        typ: &input_typ,
        clause: "SELECT",
        grouping,
        rel: None,
        guard: None,
        table_calls: None,
        window_calls: None,
    };
    if let Some(having) = &select.having {
        let arity = rel.arity();
        let cond = with_subqueries(&mut rel, |cell| {
            expr::plan_condition(&ecx.with_clause("HAVING").with_rel(cell), having)
        })?;
        rel = keep_columns(rel.filter(vec![cond.expr]), arity);
    }

    // Window functions run after grouping and HAVING: each window appends its
    // functions' values, which the select list and ORDER BY then read.
    let window_calls = crate::window_functions::collect_window_calls(
        select
            .projection
            .iter()
            .filter_map(select_item_expr)
            .chain(order_by.iter().map(|o| &o.expr)),
    );
    let window_calls = if window_calls.is_empty() {
        vec![]
    } else {
        crate::window_functions::plan_window_calls(
            &ecx,
            &mut rel,
            n,
            &select.named_window,
            window_calls,
        )?
    };
    ecx.window_calls = Some(&window_calls);

    // Set-returning functions in the select list (or ORDER BY) run after grouping,
    // HAVING and window functions: a FlatMap appends their values, which the select
    // list then reads.
    let table_calls = plan_select_table_calls(
        &ecx.with_clause("arguments of a set-returning function"),
        &mut rel,
        select
            .projection
            .iter()
            .filter_map(select_item_expr)
            .chain(order_by.iter().map(|o| &o.expr)),
    )?;
    ecx.table_calls = Some(&table_calls);

    // The select list, then ORDER BY: output names and positions, or expressions
    // (added as hidden columns).
    let (mut outputs, visible, order) = with_subqueries(&mut rel, |cell| {
        let ecx = ecx.with_rel(cell);
        let mut outputs: Vec<Output> = vec![];
        for item in &select.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    let planned = expr::plan_expr(&ecx, e)?;
                    let unknown = planned.is_unknown();
                    outputs.push(Output {
                        expr: scx.finalize(planned).expr,
                        name: column_name(e),
                        unknown,
                        fields: expr::record_fields(&ecx, e),
                    });
                }
                SelectItem::ExprWithAlias { expr: e, alias } => {
                    let planned = expr::plan_expr(&ecx, e)?;
                    let unknown = planned.is_unknown();
                    outputs.push(Output {
                        expr: scx.finalize(planned).expr,
                        name: normalize_ident(alias),
                        unknown,
                        fields: expr::record_fields(&ecx, e),
                    });
                }
                SelectItem::Wildcard(options) => {
                    check_wildcard_options(options)?;
                    if select.from.is_empty() {
                        return Err(SqlError::syntax(
                            "SELECT * with no tables specified is not valid",
                        ));
                    }
                    for &i in &scope.star {
                        outputs.push(star_output(&ecx, i)?);
                    }
                }
                SelectItem::QualifiedWildcard(kind, options) => {
                    check_wildcard_options(options)?;
                    let name = match kind {
                        SelectItemQualifiedWildcardKind::ObjectName(name) => name,
                        SelectItemQualifiedWildcardKind::Expr(_) => {
                            return Err(SqlError::unsupported("(expression).*"))
                        }
                    };
                    for i in qualified_star(&scope, name)? {
                        outputs.push(star_output(&ecx, i)?);
                    }
                }
            }
        }
        let visible = outputs.len();
        let order_ecx = ecx.with_clause("ORDER BY");
        let mut order = vec![];
        for o in order_by {
            let column = match order_by_output(o, &outputs[..visible])? {
                Some(i) => i,
                None => {
                    let e = scx.finalize(expr::plan_expr(&order_ecx, &o.expr)?).expr;
                    match outputs.iter().position(|out| out.expr == e) {
                        Some(i) => i,
                        None => {
                            outputs.push(Output {
                                expr: e,
                                name: String::new(),
                                unknown: false,
                                fields: None,
                            });
                            outputs.len() - 1
                        }
                    }
                }
            };
            order.push(column_order(n + column, o));
        }
        Ok((outputs, visible, order))
    })?;

    // A correlated subquery keeps its prefix (the first columns of the input, and of
    // the grouped relation) in front of its outputs.
    let exprs = (0..n)
        .map(MirScalarExpr::Column)
        .chain(outputs.iter().map(|o| o.expr.clone()))
        .collect();
    rel = project_outputs(rel, exprs);
    match &select.distinct {
        None => {}
        Some(Distinct::Distinct) => {
            if outputs.len() > visible {
                return Err(SqlError::new(
                    SqlState::INVALID_COLUMN_REFERENCE,
                    "for SELECT DISTINCT, ORDER BY expressions must appear in select list",
                ));
            }
            rel = rel.distinct();
        }
        Some(Distinct::On(_)) => return Err(SqlError::unsupported("SELECT DISTINCT ON")),
    }
    outputs.truncate(visible);
    Ok(PlannedSelect {
        expr: rel,
        names: outputs.iter().map(|o| o.name.clone()).collect(),
        unknown: outputs.iter().map(|o| o.unknown).collect(),
        fields: outputs.iter_mut().map(|o| o.fields.take()).collect(),
        order_by: order,
    })
}

/// Plans an expression over `rel` that may contain subqueries, each of which appends
/// a column to `rel` (existing columns keep their positions).
fn with_subqueries<T>(
    rel: &mut MirRelationExpr,
    plan: impl FnOnce(&OuterRelation) -> Result<T, SqlError>,
) -> Result<T, SqlError> {
    let outer = OuterRelation::new(std::mem::replace(rel, unit_relation()));
    let result = plan(&outer);
    *rel = outer.into_inner();
    result
}

/// `rel` without the columns subqueries appended after its first `arity` ones.
fn keep_columns(rel: MirRelationExpr, arity: usize) -> MirRelationExpr {
    if rel.arity() == arity {
        rel
    } else {
        rel.project((0..arity).collect())
    }
}

fn check_wildcard_options(options: &WildcardAdditionalOptions) -> Result<(), SqlError> {
    if options.opt_ilike.is_some()
        || options.opt_exclude.is_some()
        || options.opt_except.is_some()
        || options.opt_replace.is_some()
        || options.opt_rename.is_some()
    {
        return Err(SqlError::unsupported_plural("wildcard options"));
    }
    Ok(())
}

fn qualified_star(scope: &Scope, name: &ObjectName) -> Result<Vec<usize>, SqlError> {
    let parts = object_name_parts(name)?;
    match parts.as_slice() {
        [table] => scope.table_star(None, table),
        [schema, table] | [_, schema, table] => scope.table_star(Some(schema), table),
        _ => Err(SqlError::syntax(format!(
            "improper qualified name (too many dotted names): {name}"
        ))),
    }
}

/// Input column `i` as an output (of `*`), checked against GROUP BY.
fn star_output(ecx: &ExprContext, i: usize) -> Result<Output, SqlError> {
    let name = ecx.scope.items[i].column.clone();
    let expr = match ecx.grouping {
        None => MirScalarExpr::Column(i),
        Some(grouping) => {
            match grouping
                .keys
                .iter()
                .position(|k| *k == MirScalarExpr::Column(i))
            {
                Some(k) => MirScalarExpr::Column(k),
                None => return Err(expr::ungrouped_column(ecx.scope, i)),
            }
        }
    };
    Ok(Output {
        expr,
        name,
        unknown: false,
        fields: ecx.scope.items[i].fields.clone(),
    })
}

/// An ORDER BY item that names an output column by position or name.
fn order_by_output(o: &OrderByExpr, outputs: &[Output]) -> Result<Option<usize>, SqlError> {
    if let Some(n) = ordinal(&o.expr) {
        return check_ordinal(n, outputs.len(), "ORDER BY").map(Some);
    }
    if let Expr::Identifier(ident) = &o.expr {
        let name = normalize_ident(ident);
        let matches: Vec<usize> = (0..outputs.len())
            .filter(|i| outputs[*i].name == name)
            .collect();
        if let Some(&first) = matches.first() {
            if matches
                .iter()
                .any(|i| outputs[*i].expr != outputs[first].expr)
            {
                return Err(SqlError::new(
                    SqlState::AMBIGUOUS_COLUMN,
                    format!("ORDER BY \"{name}\" is ambiguous"),
                ));
            }
            return Ok(Some(first));
        }
    }
    Ok(None)
}

/// A GROUP BY item: a select-list position, a select-list alias (when no input column
/// has that name), or an expression over the input.
fn resolve_group_by_item<'s>(
    scope: &Scope,
    select: &'s Select,
    e: &'s Expr,
) -> Result<&'s Expr, SqlError> {
    if let Some(n) = ordinal(e) {
        let i = check_ordinal(n, select.projection.len(), "GROUP BY")?;
        return match &select.projection[i] {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Ok(e),
            _ => Err(SqlError::unsupported("GROUP BY a position of *")),
        };
    }
    if let Expr::Identifier(ident) = e {
        let name = normalize_ident(ident);
        if scope.resolve(None, None, &name).is_err() {
            let aliased = select.projection.iter().find_map(|item| match item {
                SelectItem::ExprWithAlias { expr, alias } if normalize_ident(alias) == name => {
                    Some(expr)
                }
                _ => None,
            });
            if let Some(aliased) = aliased {
                return Ok(aliased);
            }
        }
    }
    Ok(e)
}

/// `reduce ∪ (default − default-per-reduce-row)`: exactly one row, the defaults when
/// `reduce` (a Reduce with an empty key) is empty.
fn with_default_row(reduce: MirRelationExpr, defaults: Vec<Datum>) -> MirRelationExpr {
    let typ = reduce.typ();
    let default_typ: Vec<ColumnType> = typ
        .iter()
        .zip(&defaults)
        .map(|(t, d)| t.scalar_type.nullable(d.is_null()))
        .collect();
    let default_row = MirRelationExpr::Constant {
        rows: vec![(Row::pack(&defaults), 1)],
        typ: default_typ.clone(),
    };
    let literals = defaults
        .iter()
        .zip(&default_typ)
        .map(|(d, t)| MirScalarExpr::literal(d.clone(), *t))
        .collect();
    let cancel = reduce.clone().project(vec![]).map(literals).negate();
    MirRelationExpr::Union {
        base: Box::new(reduce),
        inputs: vec![default_row, cancel],
    }
}

/// The per-key version of [`with_default_row`] for a correlated subquery: `reduce`
/// (grouped by the prefix only) plus a row of defaults for every key of `keys` that
/// has no group.
fn with_default_rows(
    reduce: MirRelationExpr,
    keys: MirRelationExpr,
    defaults: Vec<Datum>,
) -> MirRelationExpr {
    let typ = reduce.typ();
    let n = keys.arity();
    let literals = defaults
        .iter()
        .zip(&typ[n..])
        .map(|(d, t)| MirScalarExpr::literal(d.clone(), t.scalar_type.nullable(d.is_null())))
        .collect();
    let missing = keys
        .union(reduce.clone().project((0..n).collect()).negate())
        .threshold();
    reduce.union(missing.map(literals))
}

/// The relation of `exprs` over `rel`: plain columns are projected, other expressions
/// mapped first.
pub fn project_outputs(rel: MirRelationExpr, exprs: Vec<MirScalarExpr>) -> MirRelationExpr {
    let arity = rel.arity();
    let mut scalars = vec![];
    let mut outputs = vec![];
    for e in exprs {
        match e {
            MirScalarExpr::Column(i) => outputs.push(i),
            other => {
                outputs.push(arity + scalars.len());
                scalars.push(other);
            }
        }
    }
    if outputs.iter().copied().eq(0..arity) && scalars.is_empty() {
        return rel;
    }
    rel.map(scalars).project(outputs)
}

/// The name Postgres gives an output column without an alias.
pub fn column_name(e: &Expr) -> String {
    figure_name(e)
        .map(|(name, _)| name)
        .unwrap_or_else(|| "?column?".to_string())
}

/// The name and its strength (2: a column or function name, 1: a weaker guess such as a
/// type name or `case`), as Postgres' `FigureColname`.
fn figure_name(e: &Expr) -> Option<(String, u8)> {
    match e {
        Expr::Identifier(i) => Some((normalize_ident(i), 2)),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| (normalize_ident(i), 2)),
        Expr::Nested(inner) => figure_name(inner),
        // `(r).field` is named by its field, `a[i]` by its array.
        Expr::CompoundFieldAccess { root, access_chain } => match access_chain.last() {
            Some(sqlparser::ast::AccessExpr::Dot(Expr::Identifier(field))) => {
                Some((normalize_ident(field), 2))
            }
            _ => figure_name(root),
        },
        Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| (normalize_ident(i), 2)),
        Expr::Cast {
            expr, data_type, ..
        } => match figure_name(expr) {
            Some((name, 2)) => Some((name, 2)),
            _ => types::scalar_type(data_type)
                .ok()
                .map(|t| (types::internal_name(&t).to_string(), 1)),
        },
        Expr::TypedString(ts) => types::scalar_type(&ts.data_type)
            .ok()
            .map(|t| (types::internal_name(&t).to_string(), 1)),
        Expr::Interval(_) => Some(("interval".to_string(), 1)),
        Expr::Case { .. } => Some(("case".to_string(), 1)),
        Expr::Extract { .. } => Some(("extract".to_string(), 2)),
        Expr::Position { .. } => Some(("position".to_string(), 2)),
        Expr::Substring { shorthand, .. } => Some((
            if *shorthand { "substr" } else { "substring" }.to_string(),
            2,
        )),
        Expr::Trim { trim_where, .. } => Some((
            match trim_where {
                Some(sqlparser::ast::TrimWhereField::Leading) => "ltrim",
                Some(sqlparser::ast::TrimWhereField::Trailing) => "rtrim",
                _ => "btrim",
            }
            .to_string(),
            2,
        )),
        Expr::Ceil { .. } => Some(("ceil".to_string(), 2)),
        Expr::Floor { .. } => Some(("floor".to_string(), 2)),
        Expr::Exists { .. } => Some(("exists".to_string(), 2)),
        Expr::Subquery(q) => match q.body.as_ref() {
            SetExpr::Select(s) => s.projection.first().and_then(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => Some((normalize_ident(alias), 2)),
                SelectItem::UnnamedExpr(e) => figure_name(e),
                _ => None,
            }),
            _ => None,
        },
        _ => None,
    }
}

/// Plans a FROM clause: the cross product of its items. A correlated subquery's FROM
/// starts with its prefix, so join conditions may read outer columns. A LATERAL item
/// (a function in FROM is one, as in Postgres) may read the items before it, also
/// from inside the join tree of a later item (see `lateral.rs`).
fn plan_from_with(
    scx: &StatementContext,
    from: &[TableWithJoins],
    prefix: Option<&Prefix>,
) -> Result<(MirRelationExpr, Scope), SqlError> {
    let mut acc: Option<(MirRelationExpr, Scope)> = None;
    let mut start = prefix.map(|p| (p.keys.clone(), p.scope.clone()));
    for item in from {
        if let Some(cte) = correlated_cte(scx, item) {
            let left = acc.take().or(start.take());
            acc = Some(plan_correlated_cte(cte, item, prefix, left)?);
            continue;
        }
        // An item that may read the items before it (a LATERAL item, or one with a
        // LATERAL item in its joins) is planned over their product: the same rows as
        // the product of the item alone when its joins are inner or left ones, as
        // they must be then. The items before it stay hidden from its join
        // conditions.
        let left_scope = acc.as_ref().or(start.as_ref()).map(|(_, s)| s);
        let shape = TreeShape::of(item);
        let reads_before =
            shape.lateral || left_scope.is_some_and(|s| lateral::reads_left(&item.relation, s));
        let outer_joins = shape.outer_joins;
        if reads_before && !outer_joins {
            acc = Some(match acc.take().or(start.take()) {
                Some((left, left_scope)) => plan_tree_over(scx, left, left_scope, item)?,
                None => plan_table_with_joins(scx, item, None)?,
            });
            continue;
        }
        let (rel, scope) = match plan_table_with_joins(scx, item, start.take()) {
            Ok(planned) => planned,
            // A LATERAL item in a join tree with RIGHT or FULL joins is planned without
            // the items before it; it is refused if it needs them.
            Err(e) => {
                let reads_earlier = reads_before
                    && acc.as_ref().is_some_and(|(left, left_scope)| {
                        plan_tree_over(scx, left.clone(), left_scope.clone(), item).is_ok()
                    });
                return Err(if reads_earlier {
                    SqlError::unsupported_plural(
                        "LATERAL items that read earlier FROM items from inside a RIGHT or FULL join",
                    )
                } else {
                    e
                });
            }
        };
        acc = Some(match acc.take() {
            None => (rel, scope),
            Some((left, left_scope)) => (
                MirRelationExpr::Join {
                    inputs: vec![left, rel],
                    equivalences: vec![],
                },
                Scope::concat(left_scope, scope),
            ),
        });
    }
    Ok(acc
        .or(start)
        .unwrap_or_else(|| (unit_relation(), Scope::empty())))
}

/// The CTE that `item` reads, when it is a CTE that reads columns of an outer query.
fn correlated_cte(scx: &StatementContext, item: &TableWithJoins) -> Option<CteDef> {
    let TableFactor::Table {
        name, args: None, ..
    } = &item.relation
    else {
        return None;
    };
    let [cte_name] = object_name_parts(name).ok()?.try_into().ok()?;
    let ctes = scx.ctes.borrow();
    let cte = ctes.iter().rev().find(|c| c.name == cte_name)?;
    cte.prefix.as_ref().map(|_| cte.clone())
}

/// A CTE that reads columns of an outer query, named alone as an item of a FROM list
/// planned over the same outer keys (the query it is defined in, or the step of a
/// recursive one): its rows for the outer row at hand, that is, its rows joined with
/// `left` (which starts with the keys) on the keys they start with. The keys it
/// carries stay in the relation, out of reach of names and `*`.
fn plan_correlated_cte(
    cte: CteDef,
    item: &TableWithJoins,
    prefix: Option<&Prefix>,
    left: Option<(MirRelationExpr, Scope)>,
) -> Result<(MirRelationExpr, Scope), SqlError> {
    let (Some(prefix), Some(keys), Some((left, left_scope))) = (prefix, &cte.prefix, left) else {
        return Err(correlated_cte_elsewhere());
    };
    if *keys != prefix.keys || !item.joins.is_empty() {
        return Err(correlated_cte_elsewhere());
    }
    let TableFactor::Table { alias, .. } = &item.relation else {
        return Err(correlated_cte_elsewhere());
    };
    let n = prefix.arity();
    let mut names = cte.names.clone();
    let table = match alias {
        Some(alias) => {
            rename_columns(&mut names, alias, &cte.name)?;
            normalize_ident(&alias.name)
        }
        None => cte.name.clone(),
    };
    let visible = Scope::from_names(
        Some(TableRef {
            schema: None,
            name: table,
        }),
        &names,
    )
    .with_fields(cte.fields.clone());
    let hidden = Scope {
        items: (0..n)
            .map(|_| ScopeItem {
                table: None,
                column: "?key?".into(),
                unqualified: false,
                level: 0,
                event_bound: None,
                fields: None,
            })
            .collect(),
        star: vec![],
        outer_uses: None,
    };
    let left_arity = left.arity();
    let rel = MirRelationExpr::Join {
        inputs: vec![left, cte.expr],
        equivalences: (0..n)
            .map(|i| {
                vec![
                    MirScalarExpr::Column(i),
                    MirScalarExpr::Column(left_arity + i),
                ]
            })
            .collect(),
    };
    Ok((
        rel,
        Scope::concat(left_scope, Scope::concat(hidden, visible)),
    ))
}

fn correlated_cte_elsewhere() -> SqlError {
    SqlError::unsupported_plural(
        "reads of a WITH query that reads columns of an outer query, other than as an item of its own query's FROM list",
    )
}

/// What `plan_from_with` needs to know of a FROM item's join tree: whether a LATERAL
/// item in it may read the FROM items before the tree (its head, the right side of
/// one of its joins, or either inside a parenthesized join without an alias), and
/// whether it has RIGHT or FULL joins.
struct TreeShape {
    lateral: bool,
    outer_joins: bool,
}

impl TreeShape {
    fn of(twj: &TableWithJoins) -> TreeShape {
        let mut shape = TreeShape {
            lateral: lateral::is_lateral(&twj.relation),
            outer_joins: false,
        };
        if let TableFactor::NestedJoin {
            table_with_joins,
            alias: None,
        } = &twj.relation
        {
            let inner = TreeShape::of(table_with_joins);
            shape.lateral |= inner.lateral;
            shape.outer_joins |= inner.outer_joins;
        }
        for join in &twj.joins {
            shape.lateral |= lateral::is_lateral(&join.relation);
            shape.outer_joins |= matches!(
                join.join_operator,
                JoinOperator::Right(_) | JoinOperator::RightOuter(_) | JoinOperator::FullOuter(_)
            );
        }
        shape
    }
}

/// `left` (named by `left_scope`) paired with the rows of the join tree `twj`, whose
/// LATERAL items may read `left`'s columns and whose join conditions may not.
fn plan_tree_over(
    scx: &StatementContext,
    left: MirRelationExpr,
    left_scope: Scope,
    twj: &TableWithJoins,
) -> Result<(MirRelationExpr, Scope), SqlError> {
    let context = left_scope.len();
    let (mut rel, mut scope) = plan_factor_over(scx, left, left_scope, &twj.relation)?;
    for join in &twj.joins {
        (rel, scope) = plan_join(scx, rel, scope, join, context)?;
    }
    Ok((rel, scope))
}

/// `left` (named by `left_scope`) paired with the rows of `factor`, which may read
/// its columns when it is LATERAL (see `lateral.rs`), or has a LATERAL item in it
/// when it is a parenthesized join without an alias.
fn plan_factor_over(
    scx: &StatementContext,
    left: MirRelationExpr,
    left_scope: Scope,
    factor: &TableFactor,
) -> Result<(MirRelationExpr, Scope), SqlError> {
    if let TableFactor::NestedJoin {
        table_with_joins: twj,
        alias: None,
    } = factor
    {
        let shape = TreeShape::of(twj);
        if shape.lateral && !shape.outer_joins {
            return plan_tree_over(scx, left, left_scope, twj);
        }
    }
    let (right, right_scope) = if lateral::reads_left(factor, &left_scope) {
        lateral::plan_lateral_factor(scx, &left, &left_scope, factor)?
    } else {
        let (right, scope) = plan_table_factor(scx, factor)?;
        (lateral::RightInput::Independent(right), scope)
    };
    let rel = match right {
        lateral::RightInput::Independent(right) => MirRelationExpr::Join {
            inputs: vec![left, right],
            equivalences: vec![],
        },
        lateral::RightInput::PerLeftRow { product, .. } => product,
    };
    Ok((rel, Scope::concat(left_scope, right_scope)))
}

/// Plans one FROM item with its joins; `start` (a correlation prefix) is cross-joined
/// in before the joins.
fn plan_table_with_joins(
    scx: &StatementContext,
    twj: &TableWithJoins,
    start: Option<(MirRelationExpr, Scope)>,
) -> Result<(MirRelationExpr, Scope), SqlError> {
    let (mut rel, mut scope) = plan_table_factor(scx, &twj.relation)?;
    if let Some((keys, keys_scope)) = start {
        rel = MirRelationExpr::Join {
            inputs: vec![keys, rel],
            equivalences: vec![],
        };
        scope = Scope::concat(keys_scope, scope);
    }
    for join in &twj.joins {
        (rel, scope) = plan_join(scx, rel, scope, join, 0)?;
    }
    Ok((rel, scope))
}

/// Whether `factor` is a call of a set-returning function (with or without LATERAL).
fn is_table_function_call(factor: &TableFactor) -> bool {
    is_table_function(factor) || matches!(factor, TableFactor::Function { lateral: true, .. })
}

pub(crate) fn is_table_function(factor: &TableFactor) -> bool {
    match factor {
        TableFactor::Table {
            name,
            args: Some(_),
            ..
        } => WindowKind::from_name(name).is_none(),
        TableFactor::UNNEST { .. } => true,
        _ => false,
    }
}

/// A set-returning function's name (unqualified or in `pg_catalog`) and its arguments,
/// as a FROM item calls it.
fn table_function_call<'a>(
    name: &ObjectName,
    args: &'a [FunctionArg],
) -> Result<(String, Vec<&'a Expr>), SqlError> {
    let parts = object_name_parts(name)?;
    let function = match parts.as_slice() {
        [f] => f.clone(),
        [schema, f] if schema == crate::names::PG_CATALOG_SCHEMA => f.clone(),
        _ => return Err(SqlError::function_does_not_exist(format!("{name}()"))),
    };
    let exprs = args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
            _ => Err(SqlError::unsupported_plural("named function arguments")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((function, exprs))
}

/// A set-returning function in FROM, called for each row of `left` (whose columns its
/// arguments may read, as with an implicit LATERAL): a `FlatMap` over `left`.
pub(crate) fn plan_table_function(
    scx: &StatementContext,
    left: (MirRelationExpr, Scope),
    factor: &TableFactor,
) -> Result<(MirRelationExpr, Scope), SqlError> {
    let (function, arg_exprs, alias): (String, Vec<&Expr>, _) = match factor {
        TableFactor::Table {
            name,
            alias,
            args: Some(args),
            with_hints,
            version,
            with_ordinality,
            partitions,
            json_path,
            sample,
            index_hints,
        } => {
            if !with_hints.is_empty()
                || version.is_some()
                || *with_ordinality
                || !partitions.is_empty()
                || json_path.is_some()
                || sample.is_some()
                || !index_hints.is_empty()
                || args.settings.is_some()
            {
                return Err(SqlError::unsupported("this FROM syntax"));
            }
            let (function, exprs) = table_function_call(name, &args.args)?;
            (function, exprs, alias)
        }
        TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset: false,
            with_offset_alias: None,
            with_ordinality: false,
        } => ("unnest".to_string(), array_exprs.iter().collect(), alias),
        TableFactor::UNNEST { .. } => return Err(SqlError::unsupported("this form of UNNEST")),
        TableFactor::Function {
            lateral: true,
            name,
            args,
            alias,
        } => {
            let (function, exprs) = table_function_call(name, args)?;
            (function, exprs, alias)
        }
        _ => return Err(SqlError::internal("not a table function")),
    };
    let (left, left_scope) = left;
    let left_typ = left.typ();
    let ecx = ExprContext::new(scx, &left_scope, &left_typ, "FROM");
    let planned = arg_exprs
        .into_iter()
        .map(|e| expr::plan_expr(&ecx, e))
        .collect::<Result<Vec<_>, _>>()?;
    let call = func::plan_table_call(scx, &function, planned)?;
    // Functions with OUT parameters keep their names; a one-column function takes the
    // alias; an alias's column list renames the first columns.
    let table = alias
        .as_ref()
        .map(|a| normalize_ident(&a.name))
        .unwrap_or_else(|| function.clone());
    let mut columns: Vec<String> = match call.func.column_names() {
        Some(names) => names.iter().map(|n| n.to_string()).collect(),
        None => vec![table.clone()],
    };
    if let Some(alias) = alias {
        if alias.columns.len() > columns.len() {
            return Err(SqlError::new(
                SqlState::INVALID_COLUMN_REFERENCE,
                format!(
                    "table \"{table}\" has {} columns available but {} columns specified",
                    columns.len(),
                    alias.columns.len()
                ),
            ));
        }
        for (column, name) in columns.iter_mut().zip(&alias.columns) {
            *column = normalize_ident(&name.name);
        }
    }
    // `FROM jsonb_array_elements(j) AS e` keeps the column `value`, and Postgres also
    // lets `e` name it (a one-column function's whole row is its value): a hidden copy
    // of the column under the alias's name.
    let whole_row_alias = alias.as_ref().is_some_and(|a| a.columns.is_empty())
        && columns.len() == 1
        && columns[0] != table;
    let table_ref = TableRef {
        schema: None,
        name: table.clone(),
    };
    let mut right_scope = Scope::from_names(Some(table_ref.clone()), &columns);
    let base = left.arity();
    let mut rel = MirRelationExpr::FlatMap {
        input: Box::new(left),
        calls: vec![call],
    };
    if whole_row_alias {
        rel = rel.map(vec![MirScalarExpr::Column(base)]);
        right_scope.items.push(ScopeItem {
            table: Some(table_ref),
            column: table,
            unqualified: true,
            level: 0,
            event_bound: None,
            fields: None,
        });
    }
    let scope = Scope::concat(left_scope, right_scope);
    Ok((rel, scope))
}

/// A catalog item or CTE named in FROM: its plan and column names, and the record
/// fields its columns are known to have (a CTE's; empty when none is).
pub(crate) struct NamedRelation {
    pub expr: MirRelationExpr,
    pub names: Vec<String>,
    pub table: TableRef,
    pub fields: Vec<Option<RecordFields>>,
}

/// The relation a name in FROM stands for.
pub(crate) fn plan_relation_name(
    scx: &StatementContext,
    name: &ObjectName,
) -> Result<NamedRelation, SqlError> {
    let item = item_name(name, &scx.pcx.database)?;
    if item.schema.is_none() {
        if let Some(cte) = scx.ctes.borrow().iter().rev().find(|c| c.name == item.item) {
            if cte.prefix.is_some() {
                return Err(correlated_cte_elsewhere());
            }
            let table = TableRef {
                schema: None,
                name: item.item.clone(),
            };
            return Ok(NamedRelation {
                expr: cte.expr.clone(),
                names: cte.names.clone(),
                table,
                fields: cte.fields.clone(),
            });
        }
    }
    let resolved = scx
        .resolve_relation(item.schema.as_deref(), &item.item)
        .ok_or_else(|| SqlError::undefined_table(&item.to_string()))?;
    if matches!(
        resolved.kind,
        ItemKind::Sink | ItemKind::PgSource | ItemKind::Index
    ) {
        return Err(crate::sink::not_a_relation_kind(
            &resolved.name,
            resolved.kind,
        ));
    }
    let mut expr = match (&resolved.kind, &resolved.view_expr) {
        (ItemKind::View, Some(view_expr)) => view_expr.clone(),
        _ => MirRelationExpr::Get {
            id: resolved.id,
            typ: resolved.desc.types.clone(),
            name: resolved.name.clone(),
        },
    };
    // A view's `start`: the events of a stream with an event time from then on.
    if let (Some(start), Some(column), true) = (
        scx.view_start_us.get(),
        resolved.event_time,
        scx.in_view.get(),
    ) {
        let at = chrono::DateTime::from_timestamp_micros(start).unwrap_or_default();
        let typ = resolved.desc.types[column];
        let bound = match typ.scalar_type {
            ScalarType::TimestampTz => Datum::TimestampTz(at),
            _ => Datum::Timestamp(at.naive_utc()),
        };
        let from = MirScalarExpr::Column(column).call_binary(
            MirScalarExpr::literal(bound, typ.scalar_type.nullable(false)),
            BinaryFunc::Gte,
        );
        expr = expr.filter(vec![from]);
        scx.view_start_applied.set(true);
    }
    let table = TableRef {
        schema: item.schema,
        name: item.item,
    };
    Ok(NamedRelation {
        expr,
        names: resolved.desc.names.clone(),
        table,
        fields: vec![],
    })
}

fn plan_table_factor(
    scx: &StatementContext,
    factor: &TableFactor,
) -> Result<(MirRelationExpr, Scope), SqlError> {
    match factor {
        TableFactor::Table {
            name,
            alias,
            args,
            with_hints,
            version,
            with_ordinality,
            partitions,
            json_path,
            sample,
            index_hints,
        } => {
            if let (Some(args), Some(kind)) = (args, WindowKind::from_name(name)) {
                return crate::window::plan_window(scx, kind, args, alias);
            }
            if args.is_some() {
                return plan_table_function(scx, (unit_relation(), Scope::empty()), factor);
            }
            if !with_hints.is_empty()
                || version.is_some()
                || *with_ordinality
                || !partitions.is_empty()
                || json_path.is_some()
                || sample.is_some()
                || !index_hints.is_empty()
            {
                return Err(SqlError::unsupported("this FROM syntax"));
            }
            let NamedRelation {
                expr,
                mut names,
                table,
                fields,
            } = plan_relation_name(scx, name)?;
            let table = match alias {
                Some(alias) => {
                    rename_columns(&mut names, alias, &table.name)?;
                    TableRef {
                        schema: None,
                        name: normalize_ident(&alias.name),
                    }
                }
                None => table,
            };
            let mut scope = Scope::from_names(Some(table), &names).with_fields(fields);
            // A stream's event time bounds itself: every row's event is before it
            // plus a microsecond (an interval join between streams closes by it).
            if let Some(stream) = crate::window::stream_event_time(scx, name, &expr) {
                scope.items[stream.column].event_bound = Some(stream.bound(1, Some(1), false));
            }
            Ok((expr, scope))
        }
        // LATERAL with nothing to its left reads nothing (a LATERAL item after others
        // is planned in `lateral.rs`).
        TableFactor::Derived {
            lateral: _,
            subquery,
            alias,
        } => {
            let planned = plan_query(scx, subquery)?;
            let fields = planned.fields.clone();
            let (expr, mut names, _) = planned.into_relation();
            let table = aliased(&mut names, alias)?;
            Ok((expr, Scope::from_names(table, &names).with_fields(fields)))
        }
        TableFactor::NestedJoin {
            table_with_joins,
            alias,
        } => {
            let (expr, scope) = plan_table_with_joins(scx, table_with_joins, None)?;
            match alias {
                None => Ok((expr, scope)),
                Some(alias) => {
                    let table = normalize_ident(&alias.name);
                    // A nested join with an alias is a relation of its `*` columns.
                    let mut names: Vec<String> = scope
                        .star
                        .iter()
                        .map(|&i| scope.items[i].column.clone())
                        .collect();
                    rename_columns(&mut names, alias, &table)?;
                    let expr = expr.project(scope.star.clone());
                    let table = TableRef {
                        schema: None,
                        name: table,
                    };
                    Ok((expr, Scope::from_names(Some(table), &names)))
                }
            }
        }
        TableFactor::Function { lateral: true, .. } | TableFactor::UNNEST { .. } => {
            plan_table_function(scx, (unit_relation(), Scope::empty()), factor)
        }
        TableFactor::Function { .. } | TableFactor::TableFunction { .. } => {
            Err(SqlError::unsupported_plural("table functions"))
        }
        other => Err(SqlError::unsupported(format!("FROM item {other}"))),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
}

/// Plans `left JOIN ...`. The first `context` columns of `left` belong to the FROM
/// items before this item's join tree: only LATERAL items may read them, the join's
/// ON, USING and NATURAL do not see them, and `*` lists them first.
fn plan_join(
    scx: &StatementContext,
    left: MirRelationExpr,
    left_scope: Scope,
    join: &Join,
    context: usize,
) -> Result<(MirRelationExpr, Scope), SqlError> {
    let (kind, constraint) = match &join.join_operator {
        JoinOperator::Join(c) | JoinOperator::Inner(c) => (JoinKind::Inner, c),
        JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (JoinKind::Left, c),
        JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (JoinKind::Right, c),
        JoinOperator::FullOuter(c) => (JoinKind::Full, c),
        JoinOperator::CrossJoin(c) => (JoinKind::Inner, c),
        JoinOperator::CrossApply | JoinOperator::OuterApply => {
            return Err(SqlError::unsupported_plural("CROSS APPLY and OUTER APPLY"))
        }
        other => return Err(SqlError::unsupported(format!("join {other:?}"))),
    };
    // The rows a RIGHT or FULL join adds have no left side, so they would lose the
    // outer values a correlated subquery's rows start with. (A scope that records
    // outer uses is only planned to find the correlation, never run.)
    let correlated = left_scope.items.iter().any(|i| i.level > 0);
    if matches!(kind, JoinKind::Right | JoinKind::Full)
        && correlated
        && left_scope.outer_uses.is_none()
    {
        return Err(SqlError::unsupported_plural(
            "RIGHT and FULL joins in correlated subqueries",
        ));
    }
    // A LATERAL item on the right pairs each left row with the rows computed for it.
    // (A function on the right of a RIGHT or FULL join reads nothing of the left.)
    let outer_kind = matches!(kind, JoinKind::Right | JoinKind::Full);
    let (right, right_scope) = if lateral::is_lateral(&join.relation)
        && !(outer_kind && is_table_function_call(&join.relation))
        || !outer_kind && lateral::reads_left(&join.relation, &left_scope)
    {
        lateral::plan_lateral_factor(scx, &left, &left_scope, &join.relation)?
    } else {
        let (right, scope) = plan_table_factor(scx, &join.relation)?;
        (lateral::RightInput::Independent(right), scope)
    };
    let left_arity = left_scope.len();
    let right_arity = right_scope.len();
    let left_typ = left.typ();
    let right_typ: Vec<ColumnType> = match &right {
        lateral::RightInput::Independent(right) => right.typ(),
        lateral::RightInput::PerLeftRow { product, reads } => {
            if outer_kind {
                return Err(lateral::right_or_full_error(&left_scope, reads));
            }
            product.typ()[left_arity..].to_vec()
        }
    };
    let mut typ = left_typ.clone();
    typ.extend(right_typ.iter().copied());

    // The join's own columns on the left: what ON, USING and NATURAL may name.
    let own_left = lateral::without_context(&left_scope, context);
    let using: Option<Vec<(usize, usize, String)>> = match constraint {
        JoinConstraint::None => {
            if !matches!(join.join_operator, JoinOperator::CrossJoin(_)) {
                return Err(SqlError::syntax(
                    "syntax error: JOIN requires ON, USING or NATURAL",
                ));
            }
            None
        }
        JoinConstraint::On(_) => None,
        JoinConstraint::Using(names) => {
            let mut pairs = vec![];
            for name in names {
                let parts = object_name_parts(name)?;
                let [column] = parts.as_slice() else {
                    return Err(SqlError::syntax(format!(
                        "syntax error at or near \"{name}\""
                    )));
                };
                if pairs
                    .iter()
                    .any(|(_, _, c): &(usize, usize, String)| c == column)
                {
                    return Err(SqlError::new(
                        SqlState::DUPLICATE_COLUMN,
                        format!("column name \"{column}\" appears more than once in USING clause"),
                    ));
                }
                let l = using_column(&own_left, column, "left")?;
                let r = using_column(&right_scope, column, "right")?;
                pairs.push((l, r, column.clone()));
            }
            Some(pairs)
        }
        JoinConstraint::Natural => {
            let mut pairs = vec![];
            for &l in &own_left.star {
                let column = &own_left.items[l].column;
                if right_scope
                    .items
                    .iter()
                    .any(|i| i.unqualified && &i.column == column)
                {
                    let l = using_column(&own_left, column, "left")?;
                    let r = using_column(&right_scope, column, "right")?;
                    if !pairs
                        .iter()
                        .any(|(_, _, c): &(usize, usize, String)| c == column)
                    {
                        pairs.push((l, r, column.clone()));
                    }
                }
            }
            Some(pairs)
        }
    };

    let mut scope = Scope::concat(left_scope.clone(), right_scope.clone());
    let mut conjuncts: Vec<MirScalarExpr> = vec![];
    if let JoinConstraint::On(on) = constraint {
        let on_scope = Scope::concat(own_left.clone(), right_scope.clone());
        let ecx = ExprContext::new(scx, &on_scope, &typ, "JOIN/ON");
        let cond = expr::plan_condition(&ecx, on)?;
        split_conjuncts(cond.expr, &mut conjuncts);
    }
    if let Some(pairs) = &using {
        for (l, r, _) in pairs {
            let lc = Typed::new(MirScalarExpr::Column(*l), typ[*l]);
            let rc = Typed::new(MirScalarExpr::Column(left_arity + r), typ[left_arity + r]);
            let eq = expr::compare(scx, BinaryFunc::Eq, "=", lc.into(), rc.into())?;
            conjuncts.push(eq.expr);
        }
    }

    let (matched, right) = match right {
        lateral::RightInput::Independent(right) => {
            // Inner-join equalities across the inputs become equivalences.
            let mut equivalences = vec![];
            let mut predicates = vec![];
            for c in conjuncts {
                match cross_equality(&c, left_arity) {
                    Some(pair) => equivalences.push(pair),
                    None => predicates.push(c),
                }
            }
            let (mut join_left, mut join_right) = (left.clone(), right.clone());
            let keep = match kind {
                JoinKind::Inner => crate::interval_join::bound(
                    scx,
                    &scope,
                    &mut join_left,
                    &mut join_right,
                    left_arity,
                    &predicates,
                ),
                _ => crate::interval_join::KeepPairs::default(),
            };
            let matched = keep.apply(
                MirRelationExpr::Join {
                    inputs: vec![join_left, join_right],
                    equivalences,
                }
                .filter(predicates),
            );
            (matched, Some(right))
        }
        // The optimizer pushes the conditions into the product's join.
        lateral::RightInput::PerLeftRow { product, .. } => (product.filter(conjuncts), None),
    };
    let mut rel = match kind {
        JoinKind::Inner => matched,
        _ => {
            let mut parts = vec![];
            if matches!(kind, JoinKind::Left | JoinKind::Full) {
                let unmatched = left
                    .clone()
                    .union(matched.clone().project((0..left_arity).collect()).negate())
                    .threshold();
                let nulls = right_typ
                    .iter()
                    .map(|t| MirScalarExpr::literal_null(t.scalar_type))
                    .collect();
                parts.push(unmatched.map(nulls));
            }
            if let (Some(right), true) = (&right, outer_kind) {
                let unmatched = right
                    .clone()
                    .union(
                        matched
                            .clone()
                            .project((left_arity..left_arity + right_arity).collect())
                            .negate(),
                    )
                    .threshold();
                let nulls = left_typ
                    .iter()
                    .map(|t| MirScalarExpr::literal_null(t.scalar_type))
                    .collect();
                let mut order: Vec<usize> = (right_arity..right_arity + left_arity).collect();
                order.extend(0..right_arity);
                parts.push(unmatched.map(nulls).project(order));
            }
            MirRelationExpr::Union {
                base: Box::new(matched),
                inputs: parts,
            }
        }
    };

    // USING / NATURAL: one merged column per pair, listed first by `*`.
    if let Some(pairs) = using {
        let mut merged = vec![];
        let mut coalesced = vec![];
        for (l, r, column) in &pairs {
            let r = left_arity + r;
            match kind {
                JoinKind::Inner | JoinKind::Left => {
                    scope.items[r].unqualified = false;
                    merged.push(*l);
                }
                JoinKind::Right => {
                    scope.items[*l].unqualified = false;
                    merged.push(r);
                }
                JoinKind::Full => {
                    scope.items[*l].unqualified = false;
                    scope.items[r].unqualified = false;
                    let args = vec![
                        Typed::new(MirScalarExpr::Column(*l), typ[*l]),
                        Typed::new(MirScalarExpr::Column(r), typ[r]),
                    ];
                    let (args, _) = expr::unify(
                        scx,
                        args.into_iter().map(CExpr::Typed).collect(),
                        "JOIN/USING",
                    )?;
                    let coalesce = Typed::variadic(VariadicFunc::Coalesce, args);
                    merged.push(left_arity + right_arity + coalesced.len());
                    coalesced.push(coalesce.expr);
                    scope.items.push(crate::scope::ScopeItem {
                        table: None,
                        column: column.clone(),
                        unqualified: true,
                        level: 0,
                        event_bound: None,
                        fields: None,
                    });
                }
            }
        }
        rel = rel.map(coalesced);
        let hidden: Vec<usize> = pairs
            .iter()
            .flat_map(|(l, r, _)| [*l, left_arity + r])
            .collect();
        let mut star: Vec<usize> = scope
            .star
            .iter()
            .copied()
            .filter(|&i| i < context)
            .collect();
        star.extend(merged);
        star.extend(
            scope
                .star
                .iter()
                .copied()
                .filter(|&i| i >= context && !hidden.contains(&i)),
        );
        scope.star = star;
    }
    Ok((rel, scope))
}

fn using_column(scope: &Scope, column: &str, side: &str) -> Result<usize, SqlError> {
    let matches: Vec<usize> = (0..scope.len())
        .filter(|&i| scope.items[i].unqualified && scope.items[i].column == column)
        .collect();
    match matches.as_slice() {
        [i] => Ok(*i),
        [] => Err(SqlError::new(
            SqlState::UNDEFINED_COLUMN,
            format!("column \"{column}\" specified in USING clause does not exist in {side} table"),
        )),
        _ => Err(SqlError::new(
            SqlState::AMBIGUOUS_COLUMN,
            format!("common column name \"{column}\" appears more than once in {side} table"),
        )),
    }
}

/// The terms of a conjunction.
pub fn split_conjuncts(expr: MirScalarExpr, out: &mut Vec<MirScalarExpr>) {
    match expr {
        MirScalarExpr::CallVariadic {
            func: VariadicFunc::And,
            exprs,
        } => {
            for e in exprs {
                split_conjuncts(e, out);
            }
        }
        other => out.push(other),
    }
}

/// `a = b` with `a` reading only left columns and `b` only right ones (or the
/// reverse): a join equivalence.
fn cross_equality(expr: &MirScalarExpr, left_arity: usize) -> Option<Vec<MirScalarExpr>> {
    let MirScalarExpr::CallBinary {
        func: BinaryFunc::Eq,
        expr1,
        expr2,
    } = expr
    else {
        return None;
    };
    let side = |e: &MirScalarExpr| {
        let support = e.support();
        if support.is_empty() {
            None
        } else if support.iter().all(|&c| c < left_arity) {
            Some(true)
        } else if support.iter().all(|&c| c >= left_arity) {
            Some(false)
        } else {
            None
        }
    };
    match (side(expr1), side(expr2)) {
        (Some(a), Some(b)) if a != b => Some(vec![(**expr1).clone(), (**expr2).clone()]),
        _ => None,
    }
}
