//! Planning scalar expressions: name resolution, typing with Postgres' rules, and the
//! translation of operators and special forms into [`MirScalarExpr`].
//!
//! Every expression is planned over one input relation, named by a [`Scope`]. Under
//! GROUP BY the input is the grouped relation: a sub-expression equal to a grouping key
//! becomes that key's column, an aggregate call becomes its aggregate's column, and any
//! other column reference is a grouping error (see [`Grouping`]).
//!
//! Operator typing follows Postgres: numbers promote along `smallint < integer <
//! bigint < numeric < real < double precision`; an unknown-typed literal takes the
//! type of the other operand; date/time arithmetic has its own table
//! ([`plan_arithmetic`]). Types that do not meet are `42883 operator does not exist`.

use std::ops::ControlFlow;

use eddy_expr::func::CastKind;
use eddy_expr::{BinaryFunc, MirScalarExpr, UnaryFunc, VariadicFunc};
use eddy_repr::{ColumnType, DateTimeUnit, Datum, ScalarType};
use sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind as AstCastKind, CeilFloorKind, DataType, DateTimeField,
    Expr, Ident, ObjectName, Query, Subscript, TrimWhereField, UnaryOperator, Value, Visit,
    Visitor,
};

use crate::context::{CExpr, StatementContext, Typed};
use crate::func;
use crate::introspect;
use crate::names::normalize_ident;
use crate::rows;
use crate::scope::{RecordFields, Scope};
use crate::subquery;
use crate::types::{self, CastContext};
use eddy_repr::{SqlError, SqlState};

/// The state of a GROUP BY: the input the keys and aggregates were computed over, and
/// how their results are laid out in the grouped relation (keys first, then
/// aggregates).
pub struct Grouping<'a> {
    pub input_scope: &'a Scope,
    pub input_typ: &'a [ColumnType],
    /// Grouping keys over the input; key `i` is column `i` of the grouped relation.
    pub keys: Vec<MirScalarExpr>,
    /// Each aggregate call (as written) and its value over the grouped relation.
    pub aggregates: Vec<(Expr, Typed)>,
    /// The column types of the grouped relation.
    pub grouped_typ: Vec<ColumnType>,
}

/// A set-returning function call of a select list: the call as written, its value
/// over the relation its `FlatMap` extended (a record of its columns when it has
/// several), and the names and types of those columns when it does.
pub struct TableCallValue {
    pub call: Expr,
    pub value: Typed,
    pub fields: Option<RecordFields>,
}

/// Where an expression is planned.
pub struct ExprContext<'a> {
    pub scx: &'a StatementContext<'a>,
    /// The input's names and types (ungrouped), or the grouping's input when grouped.
    pub scope: &'a Scope,
    pub typ: &'a [ColumnType],
    /// The clause, for messages: `WHERE`, `SELECT`, `JOIN/ON`, ...
    pub clause: &'static str,
    pub grouping: Option<&'a Grouping<'a>>,
    /// The relation the expression is planned over (the grouped one under GROUP BY),
    /// where the clause allows subqueries: planning a subquery or a catalog lookup
    /// appends its value to it as a new column (existing columns keep their
    /// positions), and the clause's planner drops such columns when it is done. `None`
    /// where subqueries are not supported.
    pub rel: Option<&'a subquery::OuterRelation>,
    /// Which rows of `rel` the expression is evaluated for (inside a CASE branch, the
    /// rows that reach it), over `rel`; subqueries are computed for those rows only,
    /// so a branch that is not taken raises no error. `None` for every row.
    pub guard: Option<MirScalarExpr>,
    /// In a select list: each set-returning function call and its values, which a
    /// `FlatMap` has appended to the relation. `None` where such calls are not allowed.
    pub table_calls: Option<&'a [TableCallValue]>,
    /// In a select list and ORDER BY: each window function call (as written) and its
    /// value over the relation the windows extended (see `window_functions.rs`).
    /// `None` where window functions are not allowed.
    pub window_calls: Option<&'a [(Expr, Typed)]>,
}

impl<'a> ExprContext<'a> {
    pub fn new(
        scx: &'a StatementContext<'a>,
        scope: &'a Scope,
        typ: &'a [ColumnType],
        clause: &'static str,
    ) -> Self {
        ExprContext {
            scx,
            scope,
            typ,
            clause,
            grouping: None,
            rel: None,
            guard: None,
            table_calls: None,
            window_calls: None,
        }
    }

    pub fn with_clause(&self, clause: &'static str) -> ExprContext<'a> {
        ExprContext {
            scx: self.scx,
            scope: self.scope,
            typ: self.typ,
            clause,
            grouping: self.grouping,
            rel: self.rel,
            guard: self.guard.clone(),
            table_calls: self.table_calls,
            window_calls: self.window_calls,
        }
    }

    /// The same context over `rel`, which subqueries may join into.
    pub fn with_rel<'b>(&self, rel: &'b subquery::OuterRelation) -> ExprContext<'b>
    where
        'a: 'b,
    {
        ExprContext {
            scx: self.scx,
            scope: self.scope,
            typ: self.typ,
            clause: self.clause,
            grouping: self.grouping,
            rel: Some(rel),
            guard: None,
            table_calls: self.table_calls,
            window_calls: self.window_calls,
        }
    }

    /// The same context for the rows where `cond` is also true.
    pub fn with_guard(&self, cond: MirScalarExpr) -> ExprContext<'a> {
        let guard = match &self.guard {
            None => cond,
            Some(g) => MirScalarExpr::and(vec![g.clone(), cond]),
        };
        ExprContext {
            scx: self.scx,
            scope: self.scope,
            typ: self.typ,
            clause: self.clause,
            grouping: self.grouping,
            rel: self.rel,
            guard: Some(guard),
            table_calls: self.table_calls,
            window_calls: self.window_calls,
        }
    }
}

/// Calls `f` on `expr` and its sub-expressions, but not on those inside subqueries
/// (which belong to another query level).
pub fn visit_query_level<B>(
    expr: &(impl Visit + ?Sized),
    f: impl FnMut(&Expr) -> ControlFlow<B>,
) -> ControlFlow<B> {
    struct Level<F> {
        depth: usize,
        f: F,
    }
    impl<B, F: FnMut(&Expr) -> ControlFlow<B>> Visitor for Level<F> {
        type Break = B;
        fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<B> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<B> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<B> {
            if self.depth == 0 {
                (self.f)(expr)
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    expr.visit(&mut Level { depth: 0, f })
}

/// True if `expr` calls an aggregate function (outside any window), at its own query
/// level (an aggregate inside a subquery belongs to the subquery).
pub fn contains_aggregate(expr: &Expr) -> bool {
    visit_query_level(expr, |e| match e {
        Expr::Function(f) if func::is_aggregate_call(f) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Plans an expression and types any unknown result as `text`.
pub fn plan_typed(ecx: &ExprContext, expr: &Expr) -> Result<Typed, SqlError> {
    let planned = plan_expr(ecx, expr)?;
    Ok(ecx.scx.finalize(planned))
}

/// Plans a condition: the result must be boolean (`argument of WHERE must be type
/// boolean, not type integer`).
pub fn plan_condition(ecx: &ExprContext, expr: &Expr) -> Result<Typed, SqlError> {
    let planned = plan_expr(ecx, expr)?;
    require_bool(ecx.scx, planned, ecx.clause)
}

pub fn require_bool(scx: &StatementContext, planned: CExpr, what: &str) -> Result<Typed, SqlError> {
    match planned {
        CExpr::Typed(t) if t.scalar_type() != ScalarType::Bool => {
            Err(SqlError::datatype_mismatch(format!(
                "argument of {what} must be type boolean, not type {}",
                t.scalar_type().sql_name()
            )))
        }
        other => scx.resolve_unknown(other, ScalarType::Bool, CastKind::Explicit),
    }
}

/// Plans an expression, leaving unknown-typed values open.
#[recursive::recursive]
pub fn plan_expr(ecx: &ExprContext, expr: &Expr) -> Result<CExpr, SqlError> {
    if let Expr::Function(f) = expr {
        if f.over.is_some() {
            return match ecx
                .window_calls
                .and_then(|c| c.iter().find(|(e, _)| e == expr))
            {
                Some((_, typed)) => Ok(typed.clone().into()),
                None => Err(crate::window_functions::not_allowed(ecx.clause)),
            };
        }
        if func::is_table_function_call(f) {
            return match ecx
                .table_calls
                .and_then(|c| c.iter().find(|c| c.call == *expr))
            {
                Some(c) => Ok(c.value.clone().into()),
                None => Err(SqlError::new(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    format!("set-returning functions are not allowed in {}", ecx.clause),
                )),
            };
        }
    }
    if let Some(grouping) = ecx.grouping {
        if let Some(planned) = plan_grouped(ecx, grouping, expr)? {
            return Ok(planned);
        }
    }
    plan_expr_inner(ecx, expr)
}

/// Under GROUP BY: an aggregate call, a grouping key, or a column that is neither (an
/// error). `None` when the expression must be taken apart further.
fn plan_grouped(
    ecx: &ExprContext,
    grouping: &Grouping,
    expr: &Expr,
) -> Result<Option<CExpr>, SqlError> {
    if let Expr::Function(f) = expr {
        if func::is_aggregate_call(f) {
            return match grouping.aggregates.iter().find(|(e, _)| e == expr) {
                Some((_, typed)) => Ok(Some(typed.clone().into())),
                None => Err(SqlError::internal(format!(
                    "aggregate {expr} was not collected"
                ))),
            };
        }
    }
    if contains_aggregate(expr) {
        return Ok(None);
    }
    // Plan over the ungrouped input and compare with the keys.
    let input_ecx = ExprContext {
        scx: ecx.scx,
        scope: grouping.input_scope,
        typ: grouping.input_typ,
        clause: ecx.clause,
        grouping: None,
        rel: None,
        guard: None,
        table_calls: None,
        window_calls: None,
    };
    match plan_expr_inner(&input_ecx, expr) {
        Ok(CExpr::Typed(t)) => {
            if let Some(i) = grouping.keys.iter().position(|k| *k == t.expr) {
                return Ok(Some(
                    Typed::new(MirScalarExpr::Column(i), grouping.grouped_typ[i]).into(),
                ));
            }
            if t.expr.support().is_empty() {
                return Ok(Some(t.into()));
            }
        }
        Ok(unknown) => return Ok(Some(unknown)),
        Err(_) => {}
    }
    if let Some(column) = column_reference(input_ecx.scope, expr)? {
        return Err(ungrouped_column(input_ecx.scope, column));
    }
    Ok(None)
}

pub fn ungrouped_column(scope: &Scope, column: usize) -> SqlError {
    SqlError::new(
        SqlState::GROUPING_ERROR,
        format!(
            "column \"{}\" must appear in the GROUP BY clause or be used in an aggregate function",
            scope.qualified_name(column)
        ),
    )
}

/// The input column an identifier refers to, if `expr` is a column reference.
fn column_reference(scope: &Scope, expr: &Expr) -> Result<Option<usize>, SqlError> {
    match expr {
        Expr::Identifier(ident) => Ok(Some(resolve_column(scope, std::slice::from_ref(ident))?)),
        Expr::CompoundIdentifier(idents) => Ok(Some(resolve_column(scope, idents)?)),
        _ => Ok(None),
    }
}

/// Resolves `col`, `t.col`, `s.t.col` or `db.s.t.col`.
pub fn resolve_column(scope: &Scope, idents: &[Ident]) -> Result<usize, SqlError> {
    let parts: Vec<String> = idents.iter().map(normalize_ident).collect();
    match parts.as_slice() {
        [column] => scope.resolve(None, None, column),
        [table, column] => scope.resolve(None, Some(table), column),
        [_, schema, table, column] | [schema, table, column] => {
            scope.resolve(Some(schema), Some(table), column)
        }
        _ => Err(SqlError::syntax(format!(
            "improper qualified name (too many dotted names): {}",
            parts.join(".")
        ))),
    }
}

fn column(ecx: &ExprContext, pos: usize) -> CExpr {
    Typed::new(MirScalarExpr::Column(pos), ecx.typ[pos]).into()
}

fn plan_expr_inner(ecx: &ExprContext, expr: &Expr) -> Result<CExpr, SqlError> {
    let scx = ecx.scx;
    match expr {
        Expr::Identifier(ident) => {
            match resolve_column(ecx.scope, std::slice::from_ref(ident)) {
                Ok(pos) => Ok(column(ecx, pos)),
                Err(e) if e.sqlstate == SqlState::UNDEFINED_COLUMN => {
                    // A few SQL-standard functions are written without parentheses.
                    match normalize_ident(ident).as_str() {
                        name @ ("current_schema" | "current_role")
                            if ident.quote_style.is_none() =>
                        {
                            match func::plan_niladic(ecx, name)? {
                                Some(t) => Ok(t.into()),
                                None => Err(e),
                            }
                        }
                        _ => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        }
        Expr::CompoundIdentifier(idents) => Ok(column(ecx, resolve_column(ecx.scope, idents)?)),
        Expr::Value(v) => plan_value(scx, &v.value),
        Expr::TypedString(ts) => {
            let to = types::scalar_type(&ts.data_type)?;
            let s = string_value(&ts.value.value).ok_or_else(|| {
                SqlError::syntax(format!("syntax error at or near \"{}\"", ts.value))
            })?;
            Ok(scx
                .resolve_unknown(CExpr::Str(s), to, CastKind::Explicit)?
                .into())
        }
        Expr::Interval(interval) => plan_interval_literal(scx, interval),
        Expr::Nested(inner) => plan_expr(ecx, inner),
        Expr::IsNull(e) | Expr::IsNotNull(e) if rows::row_constructor(e).is_some() => {
            let fields = rows::row_constructor(e).unwrap_or_default();
            let negated = matches!(expr, Expr::IsNotNull(_));
            Ok(rows::plan_row_is_null(ecx, &fields, negated)?.into())
        }
        Expr::IsNull(e) => Ok(plan_typed(ecx, e)?.unary(UnaryFunc::IsNull).into()),
        Expr::IsNotNull(e) => Ok(plan_typed(ecx, e)?
            .unary(UnaryFunc::IsNull)
            .unary(UnaryFunc::Not)
            .into()),
        Expr::IsTrue(e) => Ok(plan_is(ecx, e, UnaryFunc::IsTrue, false)?.into()),
        Expr::IsNotTrue(e) => Ok(plan_is(ecx, e, UnaryFunc::IsTrue, true)?.into()),
        Expr::IsFalse(e) => Ok(plan_is(ecx, e, UnaryFunc::IsFalse, false)?.into()),
        Expr::IsNotFalse(e) => Ok(plan_is(ecx, e, UnaryFunc::IsFalse, true)?.into()),
        Expr::IsUnknown(e) => Ok(plan_is(ecx, e, UnaryFunc::IsNull, false)?.into()),
        Expr::IsNotUnknown(e) => Ok(plan_is(ecx, e, UnaryFunc::IsNull, true)?.into()),
        Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b)
            if rows::row_constructor(a).is_some() && rows::row_constructor(b).is_some() =>
        {
            let (a, b) = (
                rows::row_constructor(a).unwrap_or_default(),
                rows::row_constructor(b).unwrap_or_default(),
            );
            let negated = matches!(expr, Expr::IsNotDistinctFrom(..));
            Ok(rows::plan_row_distinct(ecx, &a, &b, negated)?.into())
        }
        Expr::IsDistinctFrom(a, b) => {
            let (a, b) = plan_comparison_operands(ecx, a, b, "IS DISTINCT FROM")?;
            Ok(a.binary(b, BinaryFunc::IsDistinctFrom).into())
        }
        Expr::IsNotDistinctFrom(a, b) => {
            let (a, b) = plan_comparison_operands(ecx, a, b, "IS DISTINCT FROM")?;
            Ok(a.binary(b, BinaryFunc::IsDistinctFrom)
                .unary(UnaryFunc::Not)
                .into())
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let (func, opname) = if *negated {
                (BinaryFunc::NotEq, "<>")
            } else {
                (BinaryFunc::Eq, "=")
            };
            let mut terms = vec![];
            if let Some(target) = rows::row_constructor(expr) {
                let op = if *negated {
                    BinaryOperator::NotEq
                } else {
                    BinaryOperator::Eq
                };
                for item in list {
                    let item = rows::row_constructor(item).ok_or_else(|| {
                        SqlError::unsupported("IN with a row on the left and a list item that is not a row constructor")
                    })?;
                    let term = rows::plan_row_comparison(ecx, &target, &op, &item)?;
                    terms.push(term.expect("= and <> are comparisons"));
                }
            } else {
                let target = plan_expr(ecx, expr)?;
                for item in list {
                    let item = plan_expr(ecx, item)?;
                    terms.push(compare(scx, func.clone(), opname, target.clone(), item)?);
                }
            }
            Ok(variadic_bool(
                if *negated {
                    VariadicFunc::And
                } else {
                    VariadicFunc::Or
                },
                terms,
            )
            .into())
        }
        Expr::InSubquery {
            expr,
            subquery,
            negated,
        } => subquery::plan_in(ecx, expr, subquery, *negated),
        Expr::InUnnest { .. } => Err(SqlError::unsupported("IN UNNEST")),
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let target = plan_expr(ecx, expr)?;
            let low = plan_expr(ecx, low)?;
            let high = plan_expr(ecx, high)?;
            if *negated {
                let below = compare(scx, BinaryFunc::Lt, "<", target.clone(), low)?;
                let above = compare(scx, BinaryFunc::Gt, ">", target, high)?;
                Ok(variadic_bool(VariadicFunc::Or, vec![below, above]).into())
            } else {
                let above = compare(scx, BinaryFunc::Gte, ">=", target.clone(), low)?;
                let below = compare(scx, BinaryFunc::Lte, "<=", target, high)?;
                Ok(variadic_bool(VariadicFunc::And, vec![above, below]).into())
            }
        }
        Expr::BinaryOp { left, op, right } => plan_binary_op(ecx, left, op, right),
        Expr::Like {
            negated,
            any,
            expr,
            pattern,
            escape_char,
        } => plan_like(
            ecx,
            *negated,
            *any,
            expr,
            pattern,
            escape_char.as_ref(),
            false,
        ),
        Expr::ILike {
            negated,
            any,
            expr,
            pattern,
            escape_char,
        } => plan_like(
            ecx,
            *negated,
            *any,
            expr,
            pattern,
            escape_char.as_ref(),
            true,
        ),
        Expr::SimilarTo { .. } => Err(SqlError::unsupported("SIMILAR TO")),
        Expr::UnaryOp { op, expr } => plan_unary_op(ecx, op, expr),
        Expr::Cast {
            kind,
            expr,
            data_type,
            format,
        } => {
            if format.is_some() {
                return Err(SqlError::unsupported("CAST ... FORMAT"));
            }
            if matches!(kind, AstCastKind::TryCast | AstCastKind::SafeCast) {
                return Err(SqlError::unsupported(format!("{kind:?}").to_uppercase()));
            }
            // `x::regnamespace::text`, `x::regrole::text`: the object's name.
            if let Expr::Cast {
                expr: oid,
                data_type: reg_type,
                format: None,
                ..
            } = strip_nested(expr)
            {
                if let Some(kind) = reg_name_type(reg_type) {
                    let to = types::scalar_type(data_type)?;
                    if to.is_string() {
                        let oid = plan_expr(ecx, oid)?;
                        let name = introspect::plan_object_name(ecx, kind, oid)?;
                        return Ok(name.cast(to, CastKind::Explicit).into());
                    }
                }
            }
            if let Some(kind) = reg_name_type(data_type) {
                return Err(SqlError::unsupported(format!("type {kind}")));
            }
            let to = types::scalar_type(data_type)?;
            // `ARRAY[]::text[]`: the cast gives the empty array its type.
            if let Expr::Array(array) = strip_nested(expr) {
                if array.elem.is_empty() && to.array_element().is_some() {
                    return Ok(Typed::literal(Datum::Array(vec![]), to).into());
                }
            }
            let inner = plan_expr(ecx, expr)?;
            // Object identifiers print as names: a lookup in the catalog.
            if let CExpr::Typed(t) = &inner {
                if to.is_string() {
                    match t.scalar_type() {
                        ScalarType::RegClass => {
                            let name = introspect::plan_object_name(ecx, "regclass", inner)?;
                            return Ok(name.cast(to, CastKind::Explicit).into());
                        }
                        ScalarType::RegType => {
                            let name =
                                func::plan_call(scx, "format_type", vec![inner, CExpr::Null])?;
                            return Ok(name.cast(to, CastKind::Explicit).into());
                        }
                        _ => {}
                    }
                }
            }
            Ok(plan_cast(scx, inner, to)?.into())
        }
        Expr::Extract { field, expr, .. } => {
            let field = datetime_field_text(field)?;
            let arg = plan_expr(ecx, expr)?;
            Ok(func::plan_extract(ecx.scx, &field, arg, "extract")?.into())
        }
        Expr::Ceil { expr, field } => plan_ceil_floor(ecx, expr, field, "ceil"),
        Expr::Floor { expr, field } => plan_ceil_floor(ecx, expr, field, "floor"),
        Expr::Position { expr, r#in } => {
            let needle = plan_expr(ecx, expr)?;
            let haystack = plan_expr(ecx, r#in)?;
            Ok(func::plan_call(scx, "position", vec![needle, haystack])?.into())
        }
        Expr::Substring {
            expr,
            substring_from,
            substring_for,
            shorthand,
            ..
        } => {
            let name = if *shorthand { "substr" } else { "substring" };
            let string = plan_expr(ecx, expr)?;
            let from = match substring_from {
                Some(from) => plan_expr(ecx, from)?,
                None => Typed::literal(Datum::Int32(1), ScalarType::Int32).into(),
            };
            let mut args = vec![string, from];
            if let Some(count) = substring_for {
                args.push(plan_expr(ecx, count)?);
            }
            Ok(func::plan_call(scx, name, args)?.into())
        }
        Expr::Trim {
            expr,
            trim_where,
            trim_what,
            trim_characters,
        } => {
            let name = match trim_where {
                None | Some(TrimWhereField::Both) => "btrim",
                Some(TrimWhereField::Leading) => "ltrim",
                Some(TrimWhereField::Trailing) => "rtrim",
            };
            let mut args = vec![plan_expr(ecx, expr)?];
            let chars = trim_what
                .as_deref()
                .or(trim_characters.as_ref().and_then(|c| c.first()));
            if let Some(chars) = chars {
                args.push(plan_expr(ecx, chars)?);
            }
            Ok(func::plan_call(scx, name, args)?.into())
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => plan_case(ecx, operand.as_deref(), conditions, else_result.as_deref()),
        Expr::Function(_) if rows::row_constructor(expr).is_some() => {
            rows::plan_row(ecx, &rows::row_constructor(expr).unwrap_or_default())
        }
        Expr::Function(f) => func::plan_function(ecx, f),
        Expr::Exists { subquery, negated } => subquery::plan_exists(ecx, subquery, *negated),
        Expr::Subquery(query) => subquery::plan_scalar(ecx, query),
        Expr::Tuple(fields) => rows::plan_row(ecx, &fields.iter().collect::<Vec<_>>()),
        Expr::Array(array) => plan_array(ecx, &array.elem),
        Expr::AnyOp {
            left,
            compare_op,
            right,
            ..
        } => plan_any_all(ecx, left, compare_op, right, false),
        Expr::AllOp {
            left,
            compare_op,
            right,
        } => plan_any_all(ecx, left, compare_op, right, true),
        Expr::AtTimeZone {
            timestamp,
            time_zone,
        } => plan_at_time_zone(ecx, timestamp, time_zone),
        Expr::Collate { expr, collation } => {
            check_collation(collation)?;
            plan_expr(ecx, expr)
        }
        Expr::CompoundFieldAccess { root, access_chain } => plan_access(ecx, root, access_chain),
        Expr::JsonAccess { .. } => Err(SqlError::unsupported_plural("field access")),
        Expr::Wildcard(_) | Expr::QualifiedWildcard(..) => {
            Err(SqlError::syntax("syntax error at or near \"*\""))
        }
        other => Err(SqlError::unsupported(format!("expression {other}"))),
    }
}

/// The IANA zone `name`, or Postgres' 22023 for a name that is not one.
pub(crate) fn time_zone(name: &str) -> Result<eddy_expr::zone::TimeZone, SqlError> {
    eddy_expr::zone::TimeZone::from_name(name).ok_or_else(|| {
        SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("time zone \"{name}\" not recognized"),
        )
    })
}

/// `x AT TIME ZONE zone`: a `timestamptz` (or an unknown literal, read as one) to the
/// zone's wall-clock `timestamp`, or a `timestamp` to the `timestamptz` of that
/// wall-clock time in the zone. The zone is a constant IANA name, resolved here once.
fn plan_at_time_zone(
    ecx: &ExprContext,
    timestamp: &Expr,
    time_zone: &Expr,
) -> Result<CExpr, SqlError> {
    let arg = plan_expr(ecx, timestamp)?;
    let zone = plan_expr(ecx, time_zone)?;
    plan_timezone(ecx.scx, arg, zone)
}

/// `timezone(zone, x)`, which is `x AT TIME ZONE zone`, on planned operands.
pub(crate) fn plan_timezone(
    scx: &StatementContext,
    arg: CExpr,
    zone: CExpr,
) -> Result<CExpr, SqlError> {
    let arg = match arg {
        CExpr::Typed(t) => t,
        unknown => scx.resolve_unknown(unknown, ScalarType::TimestampTz, CastKind::Explicit)?,
    };
    let (to_local, result_type) = match arg.scalar_type() {
        ScalarType::TimestampTz => (true, ScalarType::Timestamp),
        ScalarType::Timestamp => (false, ScalarType::TimestampTz),
        other => {
            return Err(SqlError::function_does_not_exist(format!(
                "timezone(unknown, {})",
                other.sql_name()
            )))
        }
    };
    let zone_name = match zone {
        CExpr::Str(s) => s,
        CExpr::Null => return Ok(Typed::null(result_type).into()),
        CExpr::Typed(t) if t.scalar_type().is_string() => match t.expr.as_literal() {
            Some(Datum::String(s)) => s.clone(),
            Some(Datum::Null) => return Ok(Typed::null(result_type).into()),
            _ => {
                return Err(SqlError::unsupported(
                    "AT TIME ZONE with a time zone that is not a constant",
                ))
            }
        },
        other => {
            return Err(SqlError::function_does_not_exist(format!(
                "timezone({}, {})",
                other.type_name(),
                arg.scalar_type().sql_name()
            )))
        }
    };
    let zone = time_zone(&zone_name)?;
    let func = if to_local {
        UnaryFunc::TimestampTzToLocal(zone)
    } else {
        UnaryFunc::LocalToTimestampTz(zone)
    };
    Ok(arg.unary(func).into())
}

fn plan_ceil_floor(
    ecx: &ExprContext,
    expr: &Expr,
    field: &CeilFloorKind,
    name: &str,
) -> Result<CExpr, SqlError> {
    if !matches!(
        field,
        CeilFloorKind::DateTimeField(DateTimeField::NoDateTime)
    ) {
        return Err(SqlError::unsupported(format!(
            "{} with a field or scale",
            name.to_uppercase()
        )));
    }
    let arg = plan_expr(ecx, expr)?;
    Ok(func::plan_call(ecx.scx, name, vec![arg])?.into())
}

/// The text of a string literal of any quoting style.
pub fn string_value(value: &Value) -> Option<String> {
    match value {
        Value::SingleQuotedString(s)
        | Value::EscapedStringLiteral(s)
        | Value::UnicodeStringLiteral(s)
        | Value::NationalStringLiteral(s)
        | Value::TripleSingleQuotedString(s) => Some(s.clone()),
        Value::DollarQuotedString(d) => Some(d.value.clone()),
        _ => None,
    }
}

pub fn plan_value(scx: &StatementContext, value: &Value) -> Result<CExpr, SqlError> {
    if let Some(s) = string_value(value) {
        return Ok(CExpr::Str(s));
    }
    match value {
        Value::Number(n, _) => Ok(parse_number(n)?.into()),
        Value::Boolean(b) => Ok(Typed::literal(Datum::Bool(*b), ScalarType::Bool).into()),
        Value::Null => Ok(CExpr::Null),
        Value::Placeholder(p) => match p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => scx.param(n),
            None => Err(SqlError::syntax(format!("syntax error at or near \"{p}\""))),
        },
        other => Err(SqlError::unsupported(format!("literal {other}"))),
    }
}

/// A numeric literal: `integer` if it fits, else `bigint`, else `numeric`; with a
/// decimal point or exponent always `numeric`.
pub fn parse_number(text: &str) -> Result<Typed, SqlError> {
    let out_of_range = || {
        SqlError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value overflows numeric format: {text}"),
        )
    };
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(v) = text.parse::<i32>() {
            return Ok(Typed::literal(Datum::Int32(v), ScalarType::Int32));
        }
        if let Ok(v) = text.parse::<i64>() {
            return Ok(Typed::literal(Datum::Int64(v), ScalarType::Int64));
        }
    }
    let decimal = match eddy_repr::strconv::parse_numeric(text) {
        Ok(d) => d,
        // Beyond `numeric`'s 38 digits here (Postgres' numeric has no such limit): a
        // literal like `1e100` is kept as double precision, which is what it becomes
        // in nearly every use (`1e100::float8`), instead of failing.
        Err(_) => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => {
                return Ok(Typed::literal(
                    Datum::Float64(eddy_repr::OrdF64(f)),
                    ScalarType::Float64,
                ))
            }
            _ => return Err(out_of_range()),
        },
    };
    Ok(Typed::literal(
        Datum::Numeric(decimal),
        ScalarType::Numeric {
            precision: None,
            scale: None,
        },
    ))
}

fn plan_interval_literal(
    scx: &StatementContext,
    interval: &sqlparser::ast::Interval,
) -> Result<CExpr, SqlError> {
    let text = match interval.value.as_ref() {
        Expr::Value(v) => match (&v.value, string_value(&v.value)) {
            (_, Some(s)) => s,
            (Value::Number(n, _), None) => n.clone(),
            _ => {
                return Err(SqlError::unsupported(format!(
                    "interval literal {interval}"
                )))
            }
        },
        _ => {
            return Err(SqlError::unsupported(format!(
                "interval literal {interval}"
            )))
        }
    };
    let text = match (
        &interval.leading_field,
        &interval.last_field,
        interval.leading_precision,
        interval.fractional_seconds_precision,
    ) {
        (None, None, None, None) => text,
        (Some(field), None, None, None) => {
            let name = datetime_field_text(field)?;
            let unit = DateTimeUnit::from_name(&name).ok_or_else(|| {
                SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("unit \"{name}\" not recognized"),
                )
            })?;
            format!("{text} {unit}")
        }
        _ => {
            return Err(SqlError::unsupported(format!(
                "interval literal {interval}"
            )))
        }
    };
    Ok(scx
        .resolve_unknown(CExpr::Str(text), ScalarType::Interval, CastKind::Explicit)?
        .into())
}

/// The unit name an EXTRACT field or an interval qualifier spells: an identifier as
/// normalized, a keyword lowercased. [`DateTimeUnit::from_name`] reads it.
fn datetime_field_text(field: &DateTimeField) -> Result<String, SqlError> {
    match field {
        DateTimeField::Custom(ident) => Ok(normalize_ident(ident)),
        DateTimeField::Week(Some(_)) => Err(SqlError::unsupported(format!("field {field}"))),
        other => Ok(other.to_string().to_lowercase()),
    }
}

fn plan_is(
    ecx: &ExprContext,
    expr: &Expr,
    func: UnaryFunc,
    negated: bool,
) -> Result<Typed, SqlError> {
    let arg = if func == UnaryFunc::IsNull {
        plan_typed(ecx, expr)?
    } else {
        let clause = match func {
            UnaryFunc::IsTrue => "IS TRUE",
            _ => "IS FALSE",
        };
        require_bool(ecx.scx, plan_expr(ecx, expr)?, clause)?
    };
    let tested = arg.unary(func);
    Ok(if negated {
        tested.unary(UnaryFunc::Not)
    } else {
        tested
    })
}

/// A variadic AND/OR, or its single term.
pub fn variadic_bool(func: VariadicFunc, mut terms: Vec<Typed>) -> Typed {
    if terms.len() == 1 {
        return terms.remove(0);
    }
    Typed::variadic(func, terms)
}

fn plan_comparison_operands(
    ecx: &ExprContext,
    a: &Expr,
    b: &Expr,
    opname: &str,
) -> Result<(Typed, Typed), SqlError> {
    let a = plan_expr(ecx, a)?;
    let b = plan_expr(ecx, b)?;
    unify_for_comparison(ecx.scx, a, b, opname)
}

/// Brings two operands to a type they can be compared in: an unknown side takes the
/// other side's type; `char(n)` compares as `text` (so trailing spaces do not matter,
/// as in Postgres); other types meet at their common type.
pub fn unify_for_comparison(
    scx: &StatementContext,
    a: CExpr,
    b: CExpr,
    opname: &str,
) -> Result<(Typed, Typed), SqlError> {
    let as_text_if_char = |t: Typed| match t.scalar_type() {
        ScalarType::Char { .. } => t.cast(ScalarType::Text, CastKind::Explicit),
        _ => t,
    };
    let a = match a {
        CExpr::Typed(t) => CExpr::Typed(as_text_if_char(t)),
        other => other,
    };
    let b = match b {
        CExpr::Typed(t) => CExpr::Typed(as_text_if_char(t)),
        other => other,
    };
    match (a.scalar_type(), b.scalar_type()) {
        (None, None) => Ok((scx.finalize(a), scx.finalize(b))),
        (Some(ta), None) => {
            let b = scx.resolve_unknown(b, types::unknown_meets(&ta), CastKind::Explicit)?;
            Ok((scx.finalize(a), b))
        }
        (None, Some(tb)) => {
            let a = scx.resolve_unknown(a, types::unknown_meets(&tb), CastKind::Explicit)?;
            Ok((a, scx.finalize(b)))
        }
        (Some(ta), Some(tb)) => {
            let (a, b) = (scx.finalize(a), scx.finalize(b));
            if ta == tb || (ta.is_string() && tb.is_string()) {
                return Ok((a, b));
            }
            match types::common_type(&ta, &tb) {
                Some(common) => Ok((
                    scx.cast(a, common, CastKind::Explicit),
                    scx.cast(b, common, CastKind::Explicit),
                )),
                None => Err(SqlError::operator_does_not_exist(format!(
                    "{} {opname} {}",
                    ta.sql_name(),
                    tb.sql_name()
                ))),
            }
        }
    }
}

/// `a <op> b` for a comparison operator.
pub fn compare(
    scx: &StatementContext,
    func: BinaryFunc,
    opname: &str,
    a: CExpr,
    b: CExpr,
) -> Result<Typed, SqlError> {
    let (a, b) = unify_for_comparison(scx, a, b, opname)?;
    if matches!(a.scalar_type(), ScalarType::Jsonb)
        && !matches!(func, BinaryFunc::Eq | BinaryFunc::NotEq)
    {
        return Err(SqlError::unsupported(format!(
            "operator jsonb {opname} jsonb"
        )));
    }
    Ok(a.binary(b, func))
}

fn plan_binary_op(
    ecx: &ExprContext,
    left: &Expr,
    op: &BinaryOperator,
    right: &Expr,
) -> Result<CExpr, SqlError> {
    let scx = ecx.scx;
    use BinaryOperator as Op;
    match op {
        Op::And | Op::Or => {
            let (func, name) = match op {
                Op::And => (VariadicFunc::And, "AND"),
                _ => (VariadicFunc::Or, "OR"),
            };
            let mut operands = vec![];
            flatten_bool_op(left, op, &mut operands);
            flatten_bool_op(right, op, &mut operands);
            let terms = operands
                .into_iter()
                .map(|e| require_bool(scx, plan_expr(ecx, e)?, name))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Typed::variadic(func, terms).into())
        }
        _ => {
            if let (Some(l), Some(r)) = (rows::row_constructor(left), rows::row_constructor(right))
            {
                if let Some(planned) = rows::plan_row_comparison(ecx, &l, op, &r)? {
                    return Ok(planned.into());
                }
            }
            let l = plan_expr(ecx, left)?;
            let r = plan_expr(ecx, right)?;
            plan_binary(scx, op, l, r)
        }
    }
}

#[recursive::recursive]
fn flatten_bool_op<'e>(expr: &'e Expr, op: &BinaryOperator, out: &mut Vec<&'e Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: inner,
            right,
        } if inner == op => {
            flatten_bool_op(left, op, out);
            flatten_bool_op(right, op, out);
        }
        other => out.push(other),
    }
}

/// A binary operator over planned operands.
pub fn plan_binary(
    scx: &StatementContext,
    op: &BinaryOperator,
    l: CExpr,
    r: CExpr,
) -> Result<CExpr, SqlError> {
    use BinaryOperator as Op;
    let planned = match op {
        Op::Plus => plan_arithmetic(scx, BinaryFunc::Add, "+", l, r)?,
        Op::Minus => plan_arithmetic(scx, BinaryFunc::Sub, "-", l, r)?,
        Op::Multiply => plan_arithmetic(scx, BinaryFunc::Mul, "*", l, r)?,
        Op::Divide => plan_arithmetic(scx, BinaryFunc::Div, "/", l, r)?,
        Op::Modulo => plan_arithmetic(scx, BinaryFunc::Mod, "%", l, r)?,
        Op::Eq => compare(scx, BinaryFunc::Eq, "=", l, r)?,
        Op::NotEq => compare(scx, BinaryFunc::NotEq, "<>", l, r)?,
        Op::Lt => compare(scx, BinaryFunc::Lt, "<", l, r)?,
        Op::LtEq => compare(scx, BinaryFunc::Lte, "<=", l, r)?,
        Op::Gt => compare(scx, BinaryFunc::Gt, ">", l, r)?,
        Op::GtEq => compare(scx, BinaryFunc::Gte, ">=", l, r)?,
        Op::StringConcat => plan_concat_op(scx, l, r)?,
        Op::PGLikeMatch => like(scx, l, r, BinaryFunc::Like, "~~", false)?,
        Op::PGNotLikeMatch => like(scx, l, r, BinaryFunc::Like, "!~~", true)?,
        Op::PGILikeMatch => like(scx, l, r, BinaryFunc::ILike, "~~*", false)?,
        Op::PGNotILikeMatch => like(scx, l, r, BinaryFunc::ILike, "!~~*", true)?,
        Op::PGRegexMatch => like(scx, l, r, regex(false), "~", false)?,
        Op::PGRegexNotMatch => like(scx, l, r, regex(false), "!~", true)?,
        Op::PGRegexIMatch => like(scx, l, r, regex(true), "~*", false)?,
        Op::PGRegexNotIMatch => like(scx, l, r, regex(true), "!~*", true)?,
        Op::PGExp => func::plan_call(scx, "power", vec![l, r])?,
        Op::Arrow => plan_jsonb_get(scx, l, r, BinaryFunc::JsonbGet, "->")?,
        Op::PGCustomBinaryOperator(parts) => {
            let op = qualified_operator(parts)?;
            return plan_binary(scx, &op, l, r);
        }
        Op::LongArrow => plan_jsonb_get(scx, l, r, BinaryFunc::JsonbGetText, "->>")?,
        Op::HashArrow => plan_jsonb_op(scx, l, r, BinaryFunc::JsonbGetPath, "#>")?,
        Op::HashLongArrow => plan_jsonb_op(scx, l, r, BinaryFunc::JsonbGetPathText, "#>>")?,
        Op::AtArrow => plan_jsonb_op(scx, l, r, BinaryFunc::JsonbContains, "@>")?,
        // `a <@ b` is `b @> a`.
        Op::ArrowAt => plan_jsonb_op(scx, r, l, BinaryFunc::JsonbContains, "<@")?,
        Op::Question => plan_jsonb_op(scx, l, r, BinaryFunc::JsonbExists, "?")?,
        Op::QuestionPipe => plan_jsonb_op(scx, l, r, BinaryFunc::JsonbExistsAny, "?|")?,
        Op::QuestionAnd => plan_jsonb_op(scx, l, r, BinaryFunc::JsonbExistsAll, "?&")?,
        Op::BitwiseAnd => plan_bitwise(scx, BinaryFunc::BitAnd, "&", l, r)?,
        Op::BitwiseOr => plan_bitwise(scx, BinaryFunc::BitOr, "|", l, r)?,
        Op::PGBitwiseXor => plan_bitwise(scx, BinaryFunc::BitXor, "#", l, r)?,
        Op::PGBitwiseShiftLeft => plan_bitwise(scx, BinaryFunc::ShiftLeft, "<<", l, r)?,
        Op::PGBitwiseShiftRight => plan_bitwise(scx, BinaryFunc::ShiftRight, ">>", l, r)?,
        other => return Err(SqlError::unsupported(format!("operator {other}"))),
    };
    Ok(planned.into())
}

/// `&`, `|`, `#` on integers (of their common type), `<<` and `>>` of an integer by
/// an `integer` count.
fn plan_bitwise(
    scx: &StatementContext,
    func: BinaryFunc,
    opname: &str,
    l: CExpr,
    r: CExpr,
) -> Result<Typed, SqlError> {
    use ScalarType::*;
    let is_shift = matches!(func, BinaryFunc::ShiftLeft | BinaryFunc::ShiftRight);
    let partner = |known: Option<ScalarType>| match known {
        Some(t) if !is_shift => t,
        _ => Int32,
    };
    let (lt, rt) = (l.scalar_type(), r.scalar_type());
    let l = scx.resolve_unknown(l, partner(rt), CastKind::Explicit)?;
    let r = scx.resolve_unknown(r, partner(lt), CastKind::Explicit)?;
    let (lt, rt) = (l.scalar_type(), r.scalar_type());
    let is_int = |t: &ScalarType| matches!(t, Int16 | Int32 | Int64);
    let no_operator = || {
        SqlError::operator_does_not_exist(format!("{} {opname} {}", lt.sql_name(), rt.sql_name()))
    };
    if !is_int(&lt) || !is_int(&rt) {
        return Err(no_operator());
    }
    let cast = |t: Typed, to: ScalarType| scx.cast(t, to, CastKind::Explicit);
    if is_shift {
        if rt == Int64 {
            return Err(no_operator());
        }
        return Ok(l.binary(cast(r, Int32), func));
    }
    let common = types::common_type(&lt, &rt).ok_or_else(no_operator)?;
    Ok(cast(l, common).binary(cast(r, common), func))
}

fn regex(case_insensitive: bool) -> BinaryFunc {
    BinaryFunc::RegexMatch { case_insensitive }
}

/// The type an unknown operand of an arithmetic operator takes when the other operand
/// has type `known`.
fn unknown_arithmetic_partner(
    func: &BinaryFunc,
    opname: &str,
    known: &ScalarType,
    known_is_left: bool,
) -> Result<ScalarType, SqlError> {
    use ScalarType::*;
    let signature = || {
        if known_is_left {
            format!("{} {opname} unknown", known.sql_name())
        } else {
            format!("unknown {opname} {}", known.sql_name())
        }
    };
    Ok(match (func, known) {
        (_, k) if k.is_numeric() => k.without_modifiers(),
        (BinaryFunc::Add | BinaryFunc::Sub, Interval) => Interval,
        (BinaryFunc::Mul, Interval) => Float64,
        (BinaryFunc::Div, Interval) if known_is_left => Float64,
        (BinaryFunc::Add, Timestamp | TimestampTz | Time) => Interval,
        (BinaryFunc::Sub, Timestamp | TimestampTz | Date) => *known,
        (BinaryFunc::Sub, Time) if known_is_left => Interval,
        (BinaryFunc::Add, Date) => return Err(SqlError::operator_not_unique(signature())),
        _ => return Err(SqlError::operator_does_not_exist(signature())),
    })
}

/// `+ - * / %` with Postgres' operand types.
pub fn plan_arithmetic(
    scx: &StatementContext,
    func: BinaryFunc,
    opname: &str,
    l: CExpr,
    r: CExpr,
) -> Result<Typed, SqlError> {
    use ScalarType::*;
    let (l, r) = match (l.scalar_type(), r.scalar_type()) {
        (None, None) => {
            return Err(SqlError::operator_not_unique(format!(
                "unknown {opname} unknown"
            )))
        }
        (Some(lt), None) => {
            let to = unknown_arithmetic_partner(&func, opname, &lt, true)?;
            (
                scx.finalize(l),
                scx.resolve_unknown(r, to, CastKind::Explicit)?,
            )
        }
        (None, Some(rt)) => {
            let to = unknown_arithmetic_partner(&func, opname, &rt, false)?;
            (
                scx.resolve_unknown(l, to, CastKind::Explicit)?,
                scx.finalize(r),
            )
        }
        (Some(_), Some(_)) => (scx.finalize(l), scx.finalize(r)),
    };
    let (lt, rt) = (l.scalar_type(), r.scalar_type());
    let no_operator = || {
        SqlError::operator_does_not_exist(format!("{} {opname} {}", lt.sql_name(), rt.sql_name()))
    };
    let cast = |t: Typed, to: ScalarType| scx.cast(t, to, CastKind::Explicit);
    let is_small_int = |t: &ScalarType| matches!(t, Int16 | Int32);
    let is_datetime = |t: &ScalarType| matches!(t, Date | Timestamp | TimestampTz);
    if lt.is_numeric() && rt.is_numeric() {
        if func == BinaryFunc::Mod && (types::is_float(&lt) || types::is_float(&rt)) {
            return Err(no_operator());
        }
        let common = types::common_type(&lt, &rt).ok_or_else(no_operator)?;
        return Ok(cast(l, common).binary(cast(r, common), func));
    }
    // Date/time arithmetic, normalized so the evaluator sees few operand pairs: the
    // date/time operand first, dates promoted to timestamps next to intervals, and
    // interval factors in double precision.
    let (l, r) = match (&func, lt, rt) {
        (BinaryFunc::Add | BinaryFunc::Sub, Date, t) if is_small_int(&t) => (l, cast(r, Int32)),
        (BinaryFunc::Add, t, Date) if is_small_int(&t) => (r, cast(l, Int32)),
        (BinaryFunc::Sub, Date, Date) => (l, r),
        (BinaryFunc::Add | BinaryFunc::Sub, Date, Interval) => (cast(l, Timestamp), r),
        (BinaryFunc::Add, Interval, Date) => (cast(r, Timestamp), l),
        (BinaryFunc::Add | BinaryFunc::Sub, Timestamp | TimestampTz | Time, Interval) => (l, r),
        (BinaryFunc::Add, Interval, Timestamp | TimestampTz | Time) => (r, l),
        (BinaryFunc::Sub, a, b) if is_datetime(&a) && is_datetime(&b) => {
            let common = types::common_type(&a, &b).ok_or_else(no_operator)?;
            (cast(l, common), cast(r, common))
        }
        (BinaryFunc::Sub, Time, Time) => return Err(SqlError::unsupported("operator time - time")),
        (BinaryFunc::Add | BinaryFunc::Sub, Interval, Interval) => (l, r),
        (BinaryFunc::Mul | BinaryFunc::Div, Interval, n) if n.is_numeric() => (l, cast(r, Float64)),
        (BinaryFunc::Mul, n, Interval) if n.is_numeric() => (r, cast(l, Float64)),
        _ => return Err(no_operator()),
    };
    let zone = scx.zone();
    if l.scalar_type() == TimestampTz && r.scalar_type() == Interval && !zone.is_utc() {
        // Months and days move the wall-clock time in the zone; an interval known to
        // have neither moves the instant, as in UTC.
        let fixed = matches!(
            r.expr.as_literal(),
            Some(Datum::Interval(iv)) if iv.months == 0 && iv.days == 0
        );
        let func = match func {
            _ if fixed => func,
            BinaryFunc::Add => BinaryFunc::AddTimestampTzIntervalIn(zone),
            BinaryFunc::Sub => BinaryFunc::SubTimestampTzIntervalIn(zone),
            other => other,
        };
        return Ok(l.binary(r, func));
    }
    Ok(l.binary(r, func))
}

fn plan_concat_op(scx: &StatementContext, l: CExpr, r: CExpr) -> Result<Typed, SqlError> {
    // `array || array`, an unknown side read as the other's array type.
    let array_type = [&l, &r]
        .iter()
        .find_map(|c| c.scalar_type().filter(|t| t.array_element().is_some()));
    if let Some(array_type) = array_type {
        let as_array = |c: CExpr| -> Result<Typed, SqlError> {
            match c {
                CExpr::Typed(t) if t.scalar_type() == array_type => Ok(t),
                CExpr::Typed(t) => Err(SqlError::operator_does_not_exist(format!(
                    "{} || {}",
                    array_type.sql_name(),
                    t.scalar_type().sql_name()
                ))),
                unknown => scx.resolve_unknown(unknown, array_type, CastKind::Explicit),
            }
        };
        let args = vec![as_array(l)?, as_array(r)?];
        return Ok(Typed::variadic(VariadicFunc::ArrayCat, args));
    }
    let is_stringy = |c: &CExpr| c.scalar_type().is_none_or(|t| t.is_string());
    if !is_stringy(&l) && !is_stringy(&r) {
        return Err(SqlError::operator_does_not_exist(format!(
            "{} || {}",
            l.type_name(),
            r.type_name()
        )));
    }
    for side in [&l, &r] {
        if let Some(t) = side.scalar_type() {
            if t == ScalarType::Jsonb || t.is_array() {
                return Err(SqlError::unsupported(format!(
                    "operator || on {}",
                    t.sql_name()
                )));
            }
        }
    }
    let as_text = |c: CExpr| -> Result<Typed, SqlError> {
        match c {
            CExpr::Typed(t)
                if t.scalar_type().is_string()
                    && !matches!(t.scalar_type(), ScalarType::Char { .. }) =>
            {
                Ok(t)
            }
            CExpr::Typed(t) => Ok(scx.cast(t, ScalarType::Text, CastKind::Explicit)),
            unknown => scx.resolve_unknown(unknown, ScalarType::Text, CastKind::Explicit),
        }
    };
    Ok(as_text(l)?.binary(as_text(r)?, BinaryFunc::Concat))
}

/// LIKE, ILIKE and the regex match operators: both sides text.
fn like(
    scx: &StatementContext,
    l: CExpr,
    r: CExpr,
    func: BinaryFunc,
    opname: &str,
    negated: bool,
) -> Result<Typed, SqlError> {
    let ok = |c: &CExpr| c.scalar_type().is_none_or(|t| t.is_string());
    if !ok(&l) || !ok(&r) {
        return Err(SqlError::operator_does_not_exist(format!(
            "{} {opname} {}",
            l.type_name(),
            r.type_name()
        )));
    }
    let text = |c: CExpr| -> Result<Typed, SqlError> {
        match c {
            CExpr::Typed(t) if matches!(t.scalar_type(), ScalarType::Char { .. }) => {
                Ok(t.cast(ScalarType::Text, CastKind::Explicit))
            }
            other => scx.resolve_unknown(other, ScalarType::Text, CastKind::Explicit),
        }
    };
    let matched = text(l)?.binary(text(r)?, func);
    Ok(if negated {
        matched.unary(UnaryFunc::Not)
    } else {
        matched
    })
}

#[allow(clippy::too_many_arguments)]
fn plan_like(
    ecx: &ExprContext,
    negated: bool,
    any: bool,
    expr: &Expr,
    pattern: &Expr,
    escape_char: Option<&Value>,
    case_insensitive: bool,
) -> Result<CExpr, SqlError> {
    if any {
        return Err(SqlError::unsupported("LIKE ANY"));
    }
    let escape = match escape_char {
        None => None,
        Some(escape) => Some(
            string_value(escape)
                .ok_or_else(|| SqlError::syntax(format!("syntax error at or near \"{escape}\"")))?,
        ),
    };
    let l = plan_expr(ecx, expr)?;
    let mut r = plan_expr(ecx, pattern)?;
    if let Some(escape) = escape.filter(|e| e != "\\") {
        // The evaluator's patterns escape with a backslash: rewrite a constant
        // pattern that uses another escape character.
        let typed = ecx
            .scx
            .resolve_unknown(r, ScalarType::Text, CastKind::Explicit)?;
        let text = match typed.expr.as_literal() {
            Some(Datum::String(s)) => Some(s.clone()),
            Some(_) => None,
            None if typed.expr.support().is_empty() => match typed.expr.eval(&[]) {
                Ok(Datum::String(s)) => Some(s),
                _ => None,
            },
            None => None,
        };
        let text = text
            .ok_or_else(|| SqlError::unsupported("LIKE ... ESCAPE with a non-constant pattern"))?;
        let rewritten = backslash_pattern(&text, &escape)?;
        r = CExpr::Typed(Typed::literal(Datum::String(rewritten), ScalarType::Text));
    }
    let (func, opname) = match (case_insensitive, negated) {
        (false, false) => (BinaryFunc::Like, "~~"),
        (false, true) => (BinaryFunc::Like, "!~~"),
        (true, false) => (BinaryFunc::ILike, "~~*"),
        (true, true) => (BinaryFunc::ILike, "!~~*"),
    };
    Ok(like(ecx.scx, l, r, func, opname, negated)?.into())
}

/// A LIKE pattern that escapes with `escape` (one character, or none when empty)
/// rewritten to escape with a backslash.
fn backslash_pattern(pattern: &str, escape: &str) -> Result<String, SqlError> {
    let mut chars = escape.chars();
    let escape = match (chars.next(), chars.next()) {
        (None, _) => None,
        (Some(c), None) => Some(c),
        _ => {
            return Err(
                SqlError::new(SqlState::INVALID_ESCAPE_SEQUENCE, "invalid escape string")
                    .with_hint("Escape string must be empty or one character."),
            )
        }
    };
    let mut out = String::with_capacity(pattern.len());
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        if Some(c) == escape {
            let Some(next) = it.next() else {
                return Err(SqlError::new(
                    SqlState::INVALID_ESCAPE_SEQUENCE,
                    "LIKE pattern must not end with escape character",
                ));
            };
            out.push('\\');
            out.push(next);
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn plan_jsonb_get(
    scx: &StatementContext,
    l: CExpr,
    r: CExpr,
    func: BinaryFunc,
    opname: &str,
) -> Result<Typed, SqlError> {
    let l = match l {
        CExpr::Typed(t) if t.scalar_type() == ScalarType::Jsonb => t,
        CExpr::Typed(t) => {
            return Err(SqlError::operator_does_not_exist(format!(
                "{} {opname} {}",
                t.scalar_type().sql_name(),
                r.type_name()
            )))
        }
        unknown => scx.resolve_unknown(unknown, ScalarType::Jsonb, CastKind::Explicit)?,
    };
    let r = match r {
        CExpr::Typed(t) if t.scalar_type().is_string() => t,
        CExpr::Typed(t) if matches!(t.scalar_type(), ScalarType::Int16 | ScalarType::Int32) => {
            t.cast(ScalarType::Int32, CastKind::Explicit)
        }
        CExpr::Typed(t) => {
            return Err(SqlError::operator_does_not_exist(format!(
                "jsonb {opname} {}",
                t.scalar_type().sql_name()
            )))
        }
        unknown => scx.resolve_unknown(unknown, ScalarType::Text, CastKind::Explicit)?,
    };
    Ok(l.binary(r, func))
}

/// The jsonb operators `#>`, `#>>`, `@>`, `?`, `?|` and `?&` (`<@` comes here with
/// its operands swapped): the left operand is jsonb, the right one jsonb, text or
/// text[] as the operator takes; an unknown literal is read as that type.
fn plan_jsonb_op(
    scx: &StatementContext,
    l: CExpr,
    r: CExpr,
    func: BinaryFunc,
    opname: &str,
) -> Result<Typed, SqlError> {
    let right_type = match func {
        BinaryFunc::JsonbContains => ScalarType::Jsonb,
        BinaryFunc::JsonbExists => ScalarType::Text,
        _ => ScalarType::TextArray,
    };
    let (shown_l, shown_r) = if opname == "<@" {
        (r.type_name(), l.type_name())
    } else {
        (l.type_name(), r.type_name())
    };
    let signature = format!("{shown_l} {opname} {shown_r}");
    let fits = |t: &Typed, want: ScalarType| match want {
        ScalarType::Text => t.scalar_type().is_string(),
        other => t.scalar_type() == other,
    };
    if !matches!(l, CExpr::Typed(_)) && !matches!(r, CExpr::Typed(_)) {
        return Err(SqlError::operator_not_unique(signature));
    }
    let is_array = |e: &CExpr| matches!(e, CExpr::Typed(t) if t.scalar_type().is_array());
    if matches!(func, BinaryFunc::JsonbContains) && (is_array(&l) || is_array(&r)) {
        return Err(SqlError::unsupported(format!(
            "operator {opname} on arrays"
        )));
    }
    let l = match l {
        CExpr::Typed(t) if fits(&t, ScalarType::Jsonb) => t,
        CExpr::Typed(_) => return Err(SqlError::operator_does_not_exist(signature)),
        unknown => scx.resolve_unknown(unknown, ScalarType::Jsonb, CastKind::Explicit)?,
    };
    let r = match r {
        CExpr::Typed(t) if fits(&t, right_type) => t,
        CExpr::Typed(_) => return Err(SqlError::operator_does_not_exist(signature)),
        unknown => scx.resolve_unknown(unknown, right_type, CastKind::Explicit)?,
    };
    Ok(l.binary(r, func))
}

fn plan_unary_op(ecx: &ExprContext, op: &UnaryOperator, expr: &Expr) -> Result<CExpr, SqlError> {
    let scx = ecx.scx;
    match op {
        UnaryOperator::Not => {
            let arg = require_bool(scx, plan_expr(ecx, expr)?, "NOT")?;
            Ok(arg.unary(UnaryFunc::Not).into())
        }
        UnaryOperator::Minus => {
            // Fold `-<number>` so `-2147483648` is an integer, as in Postgres.
            if let Expr::Value(v) = expr {
                if let Value::Number(n, _) = &v.value {
                    return Ok(parse_number(&format!("-{n}"))?.into());
                }
            }
            match plan_expr(ecx, expr)? {
                CExpr::Typed(t)
                    if t.scalar_type().is_numeric() || t.scalar_type() == ScalarType::Interval =>
                {
                    Ok(t.unary(UnaryFunc::Neg).into())
                }
                CExpr::Typed(t) => Err(SqlError::operator_does_not_exist(format!(
                    "- {}",
                    t.scalar_type().sql_name()
                ))),
                _ => Err(SqlError::operator_not_unique("- unknown")),
            }
        }
        UnaryOperator::Plus => match plan_expr(ecx, expr)? {
            CExpr::Typed(t)
                if t.scalar_type().is_numeric() || t.scalar_type() == ScalarType::Interval =>
            {
                Ok(t.into())
            }
            CExpr::Typed(t) => Err(SqlError::operator_does_not_exist(format!(
                "+ {}",
                t.scalar_type().sql_name()
            ))),
            _ => Err(SqlError::operator_not_unique("+ unknown")),
        },
        UnaryOperator::PGSquareRoot => {
            let arg = plan_expr(ecx, expr)?;
            Ok(func::plan_call(scx, "sqrt", vec![arg])?.into())
        }
        UnaryOperator::PGAbs => {
            let arg = plan_expr(ecx, expr)?;
            Ok(func::plan_call(scx, "abs", vec![arg])?.into())
        }
        UnaryOperator::PGBitwiseNot => {
            let arg =
                scx.resolve_unknown(plan_expr(ecx, expr)?, ScalarType::Int32, CastKind::Explicit)?;
            match arg.scalar_type() {
                ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64 => {
                    Ok(arg.unary(UnaryFunc::BitNot).into())
                }
                other => Err(SqlError::operator_does_not_exist(format!(
                    "~ {}",
                    other.sql_name()
                ))),
            }
        }
        other => Err(SqlError::unsupported(format!("operator {other}"))),
    }
}

/// `CAST(x AS t)` / `x::t`.
pub fn plan_cast(scx: &StatementContext, expr: CExpr, to: ScalarType) -> Result<Typed, SqlError> {
    match scx.coerce(expr, to, CastContext::Explicit)? {
        Ok(t) => Ok(t),
        Err(from) => Err(SqlError::new(
            SqlState::CANNOT_COERCE,
            format!("cannot cast type {from} to {}", to.sql_name()),
        )),
    }
}

/// Brings values that meet in one result (CASE branches, COALESCE arguments, UNION
/// columns, ...) to their common type: unknowns take the type of the typed ones, or
/// `text` if none is typed. `what` names the construct for the error message
/// (`CASE types integer and boolean cannot be matched`).
pub fn unify(
    scx: &StatementContext,
    values: Vec<CExpr>,
    what: &str,
) -> Result<(Vec<Typed>, ScalarType), SqlError> {
    let mut common: Option<ScalarType> = None;
    for v in &values {
        if let Some(t) = v.scalar_type() {
            common = Some(match common {
                None => t,
                Some(c) => types::common_type(&c, &t).ok_or_else(|| {
                    SqlError::datatype_mismatch(format!(
                        "{what} types {} and {} cannot be matched",
                        c.sql_name(),
                        t.sql_name()
                    ))
                })?,
            });
        }
    }
    let common = common.unwrap_or(ScalarType::Text);
    let typed = values
        .into_iter()
        .map(|v| match v {
            CExpr::Typed(t) => Ok(scx.cast(t, common, CastKind::Explicit)),
            unknown => scx.resolve_unknown(unknown, common, CastKind::Explicit),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((typed, common))
}

fn plan_case(
    ecx: &ExprContext,
    operand: Option<&Expr>,
    conditions: &[sqlparser::ast::CaseWhen],
    else_result: Option<&Expr>,
) -> Result<CExpr, SqlError> {
    let scx = ecx.scx;
    let operand = operand.map(|o| plan_expr(ecx, o)).transpose()?;
    let mut conds: Vec<Typed> = vec![];
    let mut results = vec![];
    // Each condition and result is evaluated only for the rows that reach it (which
    // matters to the subqueries in it): no earlier condition was true, and for a
    // result its own condition is.
    let not_taken = |conds: &[Typed]| -> Option<MirScalarExpr> {
        let terms: Vec<MirScalarExpr> = conds
            .iter()
            .map(|c| {
                c.expr
                    .clone()
                    .call_unary(UnaryFunc::IsTrue)
                    .call_unary(UnaryFunc::Not)
            })
            .collect();
        match terms.len() {
            0 => None,
            1 => terms.into_iter().next(),
            _ => Some(MirScalarExpr::and(terms)),
        }
    };
    let guarded = |guard: Option<MirScalarExpr>| match guard {
        None => ecx.with_clause(ecx.clause),
        Some(g) => ecx.with_guard(g),
    };
    for when in conditions {
        let cond_ecx = guarded(not_taken(&conds));
        let cond = match &operand {
            Some(operand) => {
                let value = plan_expr(&cond_ecx, &when.condition)?;
                compare(scx, BinaryFunc::Eq, "=", operand.clone(), value)?
            }
            None => require_bool(scx, plan_expr(&cond_ecx, &when.condition)?, "CASE/WHEN")?,
        };
        let taken = cond.expr.clone().call_unary(UnaryFunc::IsTrue);
        let result_ecx = cond_ecx.with_guard(taken);
        conds.push(cond);
        results.push(plan_expr(&result_ecx, &when.result)?);
    }
    // Postgres unifies the ELSE branch first (it names the types in that order).
    results.insert(
        0,
        match else_result {
            Some(e) => plan_expr(&guarded(not_taken(&conds)), e)?,
            None => CExpr::Null,
        },
    );
    let (mut results, _) = unify(scx, results, "CASE")?;
    let mut acc = results.remove(0);
    for (cond, then) in conds.into_iter().zip(results).rev() {
        let typ = then
            .typ
            .scalar_type
            .nullable(then.typ.nullable || acc.typ.nullable);
        acc = Typed::new(
            MirScalarExpr::If {
                cond: Box::new(cond.expr),
                then: Box::new(then.expr),
                els: Box::new(acc.expr),
            },
            typ,
        );
    }
    Ok(acc.into())
}

/// Used by [`func`] for `nullif`: `CASE WHEN a = b THEN NULL ELSE a END`. As in
/// Postgres, the result is the first argument of the `=` that compares them, so it
/// takes the type both sides were brought to (`NULLIF(1, 2.5)` is `numeric`); a
/// `char(n)` first argument keeps its type.
pub fn plan_nullif(scx: &StatementContext, a: CExpr, b: CExpr) -> Result<Typed, SqlError> {
    let a = match (&a, b.scalar_type()) {
        (CExpr::Typed(_), _) => scx.finalize(a),
        (_, Some(tb)) => scx.resolve_unknown(a, types::unknown_meets(&tb), CastKind::Explicit)?,
        (_, None) => scx.finalize(a),
    };
    let (left, right) = unify_for_comparison(scx, a.clone().into(), b, "=")?;
    let result = match a.scalar_type() {
        ScalarType::Char { .. } => a,
        _ => left.clone(),
    };
    let cond = compare(scx, BinaryFunc::Eq, "=", left.into(), right.into())?;
    let typ = result.typ.scalar_type.nullable(true);
    Ok(Typed::new(
        MirScalarExpr::If {
            cond: Box::new(cond.expr),
            then: Box::new(MirScalarExpr::literal_null(result.typ.scalar_type)),
            els: Box::new(result.expr),
        },
        typ,
    ))
}

/// `expr` without enclosing parentheses.
fn strip_nested(mut expr: &Expr) -> &Expr {
    while let Expr::Nested(inner) = expr {
        expr = inner;
    }
    expr
}

/// The object identifier types Eddy has no values of, whose only use is printing an
/// object's name (`x::regnamespace::text`): `regnamespace` and `regrole`.
fn reg_name_type(data_type: &DataType) -> Option<&'static str> {
    let DataType::Custom(name, modifiers) = data_type else {
        return None;
    };
    if !modifiers.is_empty() {
        return None;
    }
    let parts = crate::names::object_name_parts(name).ok()?;
    let (schema, name) = match parts.as_slice() {
        [name] => (None, name.as_str()),
        [schema, name] => (Some(schema.as_str()), name.as_str()),
        _ => return None,
    };
    if schema.is_some_and(|s| s != crate::names::PG_CATALOG_SCHEMA) {
        return None;
    }
    match name {
        "regnamespace" => Some("regnamespace"),
        "regrole" => Some("regrole"),
        _ => None,
    }
}

/// `COLLATE name`: the collations that compare as Eddy does (bytewise) are accepted
/// and change nothing; others do not exist here.
fn check_collation(collation: &ObjectName) -> Result<(), SqlError> {
    let parts = crate::names::object_name_parts(collation)?;
    let (schema, name) = match parts.as_slice() {
        [name] => (None, name.as_str()),
        [schema, name] => (Some(schema.as_str()), name.as_str()),
        _ => (None, ""),
    };
    let known = schema.is_none_or(|s| s == crate::names::PG_CATALOG_SCHEMA)
        && matches!(name, "default" | "C" | "POSIX" | "ucs_basic");
    if known {
        Ok(())
    } else {
        Err(SqlError::new(
            SqlState::UNDEFINED_OBJECT,
            format!("collation \"{collation}\" for encoding \"UTF8\" does not exist"),
        ))
    }
}

/// `OPERATOR(pg_catalog.op)`: the builtin operator `op`.
fn qualified_operator(parts: &[String]) -> Result<BinaryOperator, SqlError> {
    use BinaryOperator as Op;
    let (schema, op) = match parts {
        [op] => (None, op.as_str()),
        [schema, op] => (Some(schema.as_str()), op.as_str()),
        _ => (None, ""),
    };
    let not_found = || SqlError::operator_does_not_exist(format!("OPERATOR({})", parts.join(".")));
    if schema.is_some_and(|s| s != crate::names::PG_CATALOG_SCHEMA) {
        return Err(not_found());
    }
    Ok(match op {
        "+" => Op::Plus,
        "-" => Op::Minus,
        "*" => Op::Multiply,
        "/" => Op::Divide,
        "%" => Op::Modulo,
        "^" => Op::PGExp,
        "=" => Op::Eq,
        "<>" | "!=" => Op::NotEq,
        "<" => Op::Lt,
        "<=" => Op::LtEq,
        ">" => Op::Gt,
        ">=" => Op::GtEq,
        "||" => Op::StringConcat,
        "~" => Op::PGRegexMatch,
        "~*" => Op::PGRegexIMatch,
        "!~" => Op::PGRegexNotMatch,
        "!~*" => Op::PGRegexNotIMatch,
        "~~" => Op::PGLikeMatch,
        "!~~" => Op::PGNotLikeMatch,
        "~~*" => Op::PGILikeMatch,
        "!~~*" => Op::PGNotILikeMatch,
        "->" => Op::Arrow,
        "->>" => Op::LongArrow,
        "#>" => Op::HashArrow,
        "#>>" => Op::HashLongArrow,
        "@>" => Op::AtArrow,
        "<@" => Op::ArrowAt,
        "?" => Op::Question,
        "?|" => Op::QuestionPipe,
        "?&" => Op::QuestionAnd,
        _ => return Err(not_found()),
    })
}

/// `ARRAY[a, b, ...]`: elements of a common type that has an array type.
fn plan_array(ecx: &ExprContext, elems: &[Expr]) -> Result<CExpr, SqlError> {
    let planned = elems
        .iter()
        .map(|e| plan_expr(ecx, e))
        .collect::<Result<Vec<_>, _>>()?;
    if planned.is_empty() {
        return Err(SqlError::new(
            SqlState::INDETERMINATE_DATATYPE,
            "cannot determine type of empty array",
        )
        .with_hint("Explicitly cast to the desired type, for example ARRAY[]::integer[]."));
    }
    let (typed, common) = unify(ecx.scx, planned, "ARRAY")?;
    let elem_type = match common {
        t if t.is_string() || t == ScalarType::PgChar => ScalarType::Text,
        t => t,
    };
    if elem_type.array_type().is_none() {
        return Err(SqlError::unsupported(format!(
            "arrays of type {}",
            elem_type.sql_name()
        )));
    }
    let typed = typed
        .into_iter()
        .map(|t| t.cast(elem_type, CastKind::Explicit))
        .collect();
    Ok(Typed::variadic(VariadicFunc::ArrayCreate { elem_type }, typed).into())
}

/// `x op ANY (...)` / `x op ALL (...)` over a subquery or an array: `= ANY` and
/// `<> ALL` (which are `IN` and `NOT IN`).
fn plan_any_all(
    ecx: &ExprContext,
    left: &Expr,
    op: &BinaryOperator,
    right: &Expr,
    all: bool,
) -> Result<CExpr, SqlError> {
    let negated = match (op, all) {
        (BinaryOperator::Eq, false) => false,
        (BinaryOperator::NotEq, true) => true,
        _ => {
            let which = if all { "ALL" } else { "ANY" };
            return Err(SqlError::unsupported(format!("{op} {which} (...)")));
        }
    };
    if let Expr::Subquery(query) = strip_nested(right) {
        return subquery::plan_in(ecx, left, query, negated);
    }
    let scx = ecx.scx;
    let x = plan_expr(ecx, left)?;
    let array = plan_expr(ecx, right)?;
    let array = match array {
        CExpr::Typed(t) => t,
        unknown => {
            // An array literal takes the array type of the other side.
            let elem = x.scalar_type().unwrap_or(ScalarType::Text);
            let typ = elem.array_type().ok_or_else(|| {
                SqlError::operator_does_not_exist(format!("{} = unknown", elem.sql_name()))
            })?;
            scx.resolve_unknown(unknown, typ, CastKind::Explicit)?
        }
    };
    let Some(elem) = array.scalar_type().array_element() else {
        return Err(SqlError::new(
            SqlState::WRONG_OBJECT_TYPE,
            format!(
                "op ANY/ALL (array) requires array on right side, not type {}",
                array.scalar_type().sql_name()
            ),
        ));
    };
    let (x, array) = match x {
        CExpr::Typed(t) if t.scalar_type() == elem => (t, array),
        CExpr::Typed(t)
            if elem == ScalarType::Text
                && (t.scalar_type().is_string() || t.scalar_type() == ScalarType::PgChar) =>
        {
            (t.cast(ScalarType::Text, CastKind::Explicit), array)
        }
        CExpr::Typed(t) => match types::common_type(&t.scalar_type(), &elem) {
            Some(common) if common == elem => (scx.cast(t, elem, CastKind::Explicit), array),
            // `int = ANY(smallint[])`: the array widens to the common type.
            Some(common) if common.array_type().is_some() => {
                let widened = common.array_type().expect("checked");
                (
                    scx.cast(t, common, CastKind::Explicit),
                    array.cast(widened, CastKind::Explicit),
                )
            }
            _ => {
                return Err(SqlError::operator_does_not_exist(format!(
                    "{} {op} {}",
                    t.scalar_type().sql_name(),
                    elem.sql_name()
                )))
            }
        },
        unknown => (
            scx.resolve_unknown(unknown, elem, CastKind::Explicit)?,
            array,
        ),
    };
    let any = Typed::variadic(VariadicFunc::EqAny, vec![x, array]);
    Ok(if negated {
        any.unary(UnaryFunc::Not)
    } else {
        any
    }
    .into())
}

/// A chain of field accesses and subscripts: `(record).field` on a record whose fields
/// the planner knows, `array[i]` and `array[i:j]` on a one-dimensional array.
fn plan_access(ecx: &ExprContext, root: &Expr, chain: &[AccessExpr]) -> Result<CExpr, SqlError> {
    // `t.col[i]`: the dots name a column (`root` is its table).
    let (root, chain) = match (root, chain) {
        (Expr::Identifier(table), [AccessExpr::Dot(Expr::Identifier(column)), rest @ ..]) => (
            Expr::CompoundIdentifier(vec![table.clone(), column.clone()]),
            rest,
        ),
        _ => (root.clone(), chain),
    };
    let mut value = plan_typed(ecx, &root)?;
    let mut fields = record_fields(ecx, &root);
    let mut subscripted = false;
    for access in chain {
        match access {
            AccessExpr::Dot(Expr::Identifier(name)) => {
                value = plan_field(value, fields.as_deref(), &normalize_ident(name))?;
                subscripted = false;
            }
            AccessExpr::Dot(other) => {
                return Err(SqlError::unsupported(format!("field selection .{other}")))
            }
            AccessExpr::Subscript(_) if subscripted => {
                return Err(SqlError::unsupported_plural("multi-dimensional subscripts"))
            }
            AccessExpr::Subscript(subscript) => {
                value = plan_subscript(ecx, value, subscript)?;
                subscripted = true;
            }
        }
        fields = None;
    }
    Ok(value.into())
}

/// The fields of the record `e` is, when the planner knows them: a select list's
/// set-returning function with several columns, or a column of a subquery that is one.
pub(crate) fn record_fields(ecx: &ExprContext, e: &Expr) -> Option<RecordFields> {
    let column_fields = |idents: &[Ident]| {
        let pos = resolve_column(ecx.scope, idents).ok()?;
        ecx.scope.items[pos].fields.clone()
    };
    match e {
        Expr::Nested(inner) => record_fields(ecx, inner),
        Expr::Function(_) => ecx
            .table_calls?
            .iter()
            .find(|c| c.call == *e)?
            .fields
            .clone(),
        Expr::Identifier(ident) => column_fields(std::slice::from_ref(ident)),
        Expr::CompoundIdentifier(idents) => column_fields(idents),
        _ => None,
    }
}

/// `(value).name`: the field of a record (whose fields are `fields`, when known).
fn plan_field(
    value: Typed,
    fields: Option<&[(String, ColumnType)]>,
    name: &str,
) -> Result<Typed, SqlError> {
    if value.scalar_type() != ScalarType::Record {
        return Err(SqlError::new(
            SqlState::WRONG_OBJECT_TYPE,
            format!(
                "column notation .{name} applied to type {}, which is not a composite type",
                value.scalar_type().sql_name()
            ),
        ));
    }
    let Some((index, (_, typ))) = fields
        .unwrap_or_default()
        .iter()
        .enumerate()
        .find(|(_, (field, _))| field == name)
    else {
        return Err(SqlError::new(
            SqlState::UNDEFINED_COLUMN,
            format!("could not identify column \"{name}\" in record data type"),
        ));
    };
    Ok(value.unary(UnaryFunc::RecordField {
        index,
        typ: typ.scalar_type,
    }))
}

/// `array[i]` or `array[i:j]` (either bound may be left out) on a one-dimensional
/// array.
fn plan_subscript(
    ecx: &ExprContext,
    array: Typed,
    subscript: &Subscript,
) -> Result<Typed, SqlError> {
    if array.scalar_type().array_element().is_none() {
        return Err(SqlError::datatype_mismatch(format!(
            "cannot subscript type {} because it does not support subscripting",
            array.scalar_type().sql_name()
        )));
    }
    // An int2vector counts from 0, as Postgres' catalogs do (`indkey[0]`).
    let zero_based = array.scalar_type() == ScalarType::Int2Vector;
    let position = |e: &Expr| -> Result<Typed, SqlError> {
        let index = subscript_integer(ecx, e)?;
        Ok(if zero_based {
            let one = Typed::literal(Datum::Int64(1), ScalarType::Int64);
            index
                .cast(ScalarType::Int64, CastKind::Explicit)
                .binary(one, BinaryFunc::Add)
        } else {
            index
        })
    };
    match subscript {
        Subscript::Index { index } => Ok(array.binary(position(index)?, BinaryFunc::ArrayIndex)),
        Subscript::Slice {
            lower_bound,
            upper_bound,
            stride: None,
        } => {
            let mut args = vec![array];
            for bound in [lower_bound, upper_bound].into_iter().flatten() {
                args.push(position(bound)?);
            }
            Ok(Typed::variadic(
                VariadicFunc::ArraySlice {
                    lower: lower_bound.is_some(),
                    upper: upper_bound.is_some(),
                },
                args,
            ))
        }
        Subscript::Slice { .. } => Err(SqlError::unsupported_plural("array slices with a stride")),
    }
}

/// An array subscript: an integer (an unknown literal is read as one).
fn subscript_integer(ecx: &ExprContext, e: &Expr) -> Result<Typed, SqlError> {
    match plan_expr(ecx, e)? {
        CExpr::Typed(t)
            if matches!(
                t.scalar_type(),
                ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64
            ) =>
        {
            Ok(t)
        }
        CExpr::Typed(t) => Err(SqlError::datatype_mismatch(format!(
            "array subscript must have type integer, not type {}",
            t.scalar_type().sql_name()
        ))),
        unknown => ecx
            .scx
            .resolve_unknown(unknown, ScalarType::Int32, CastKind::Explicit),
    }
}
