//! Builtin functions and aggregates: resolving a call by name and argument types to an
//! IR function, with the argument casts Postgres would insert.
//!
//! Arguments of string functions accept any string type or an unknown literal;
//! integer arguments accept `smallint`/`integer` (Postgres has no implicit cast from
//! `bigint` to `integer`). Math functions over integers or floats work in double
//! precision, over `numeric` in numeric, as Postgres' overloads resolve.
//!
//! `now()` and friends are constants of the statement: [`PlanContext::now`]. Inside
//! view definitions they are refused, except in temporal filters (`temporal.rs`),
//! which never reach this module.
//!
//! [`PlanContext::now`]: crate::plan::PlanContext::now

use eddy_expr::func::CastKind;
use eddy_expr::{
    AggregateExpr, AggregateFunc, AggregateOrder, BinaryFunc, EvalError, MirScalarExpr, TableCall,
    TableFunc, UnaryFunc, VariadicFunc,
};
use eddy_repr::{DateTimeUnit, Datum, ScalarType};
use sqlparser::ast::{
    DuplicateTreatment, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, OrderByExpr,
};

use crate::context::{CExpr, StatementContext, Typed};
use crate::expr::{self, ExprContext};
use crate::introspect;
use crate::names::object_name_parts;
use crate::subquery;
use crate::types;
use eddy_repr::{SqlError, SqlState};

const NUMERIC: ScalarType = ScalarType::Numeric {
    precision: None,
    scale: None,
};

/// Aggregate function names (including ones that are recognized but not supported,
/// so their error says so).
pub(crate) const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "bool_and",
    "bool_or",
    "every",
    "string_agg",
    "array_agg",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "bit_and",
    "bit_or",
    "percentile_cont",
    "percentile_disc",
    "mode",
];

/// Functions Postgres has that Eddy does not implement yet: calling one is a
/// `0A000`, not a `42883`.
const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "to_number",
    "row_number",
    "rank",
    "dense_rank",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "ntile",
    "jsonb_set",
    "to_json",
    "row_to_json",
    "set_config",
    "pg_typeof",
    "timeofday",
    "encode",
    "decode",
    "sha256",
    "coalesce_",
    "quote_literal",
    "array_remove",
];

/// Set-returning functions: in FROM, or in a select list (see [`plan_table_call`]).
pub const TABLE_FUNCTIONS: &[&str] = &[
    "generate_series",
    "unnest",
    "generate_subscripts",
    "regexp_split_to_table",
    "jsonb_each",
    "jsonb_each_text",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "jsonb_object_keys",
    "regexp_matches",
    "_pg_expandarray",
    "pg_get_keywords",
];

/// Whether a call is of a set-returning function.
pub fn is_table_function_call(f: &Function) -> bool {
    f.over.is_none()
        && function_name(f)
            .map(|n| TABLE_FUNCTIONS.contains(&n.as_str()))
            .unwrap_or(false)
}

/// The arguments of a set-returning function call, planned; `None` for a call
/// written without parentheses.
pub fn plan_table_call_args(ecx: &ExprContext, f: &Function) -> Result<Vec<CExpr>, SqlError> {
    let name = function_name(f)?;
    if f.filter.is_some() || is_distinct(f) {
        return Err(SqlError::new(
            SqlState::WRONG_OBJECT_TYPE,
            format!("DISTINCT or FILTER specified, but {name} is not an aggregate function"),
        ));
    }
    let mut args = vec![];
    for arg in argument_exprs(f, &name)?.unwrap_or_default() {
        match arg {
            FunctionArgExpr::Expr(e) => args.push(expr::plan_expr(ecx, e)?),
            _ => {
                return Err(SqlError::syntax(format!(
                    "syntax error at or near \"*\" in a call of {name}"
                )))
            }
        }
    }
    Ok(args)
}

/// A call of the set-returning function `name` on planned arguments:
/// - `generate_series(start, stop [, step])` over `integer` or `bigint`;
/// - `unnest(array)`;
/// - `generate_subscripts(array, dim [, reverse])`;
/// - `regexp_split_to_table(text, pattern [, flags])`;
/// - `jsonb_each(_text)`, `jsonb_array_elements(_text)`, `jsonb_object_keys` of a jsonb.
pub fn plan_table_call(
    scx: &StatementContext,
    name: &str,
    args: Vec<CExpr>,
) -> Result<TableCall, SqlError> {
    let sig = signature(name, &args);
    let call = match name {
        "generate_series" => {
            if !(2..=3).contains(&args.len()) {
                return Err(SqlError::function_does_not_exist(&sig));
            }
            let is_int = |t: &ScalarType| matches!(t, ScalarType::Int16 | ScalarType::Int32);
            let types: Vec<Option<ScalarType>> = args.iter().map(CExpr::scalar_type).collect();
            let typ = if types.iter().all(|t| t.is_none_or(|t| is_int(&t))) {
                ScalarType::Int32
            } else if types
                .iter()
                .all(|t| t.is_none_or(|t| is_int(&t) || t == ScalarType::Int64))
            {
                ScalarType::Int64
            } else if types.iter().flatten().all(|t| t.is_numeric())
                || types.iter().flatten().all(|t| {
                    matches!(
                        t,
                        ScalarType::Timestamp | ScalarType::TimestampTz | ScalarType::Interval
                    )
                })
            {
                return Err(SqlError::unsupported(&sig));
            } else {
                return Err(SqlError::function_does_not_exist(&sig));
            };
            let mut exprs = vec![];
            for arg in args {
                let typed = scx
                    .coerce(arg, typ, types::CastContext::Implicit)?
                    .map_err(|_| SqlError::function_does_not_exist(&sig))?;
                exprs.push(typed.expr);
            }
            TableCall {
                func: TableFunc::GenerateSeries(typ),
                exprs,
            }
        }
        "pg_get_keywords" => {
            if !args.is_empty() {
                return Err(SqlError::function_does_not_exist(&sig));
            }
            TableCall {
                func: TableFunc::PgGetKeywords,
                exprs: vec![],
            }
        }
        "_pg_expandarray" => {
            let [CExpr::Typed(array)] = <[CExpr; 1]>::try_from(args)
                .map_err(|_| SqlError::function_does_not_exist(&sig))?
            else {
                return Err(SqlError::function_does_not_exist(&sig));
            };
            let elem = array
                .scalar_type()
                .array_element()
                .ok_or_else(|| SqlError::function_does_not_exist(&sig))?;
            TableCall {
                func: TableFunc::ExpandArray(elem),
                exprs: vec![array.expr],
            }
        }
        "unnest" | "generate_subscripts" => {
            let mut args = args.into_iter();
            let array = match args.next() {
                Some(CExpr::Typed(t)) => t,
                Some(_) => return Err(SqlError::function_not_unique(&sig)),
                None => return Err(SqlError::function_does_not_exist(&sig)),
            };
            let Some(elem) = array.scalar_type().array_element() else {
                return Err(SqlError::function_does_not_exist(&sig));
            };
            let mut exprs = vec![array.expr];
            let func = if name == "unnest" {
                TableFunc::Unnest(elem)
            } else {
                let Some(dim) = args.next() else {
                    return Err(SqlError::function_does_not_exist(&sig));
                };
                exprs.push(int_arg(scx, dim, &sig)?.expr);
                if let Some(reverse) = args.next() {
                    let reverse = match reverse {
                        CExpr::Typed(t) if t.scalar_type() != ScalarType::Bool => {
                            return Err(SqlError::function_does_not_exist(&sig))
                        }
                        other => {
                            scx.resolve_unknown(other, ScalarType::Bool, CastKind::Explicit)?
                        }
                    };
                    exprs.push(reverse.expr);
                }
                TableFunc::GenerateSubscripts
            };
            if args.next().is_some() {
                return Err(SqlError::function_does_not_exist(&sig));
            }
            TableCall { func, exprs }
        }
        "regexp_split_to_table" | "regexp_matches" => {
            if !(2..=3).contains(&args.len()) {
                return Err(SqlError::function_does_not_exist(&sig));
            }
            let mut exprs = vec![];
            for arg in args {
                exprs.push(text_arg(scx, arg, &sig)?.expr);
            }
            let func = if name == "regexp_matches" {
                TableFunc::RegexpMatches
            } else {
                TableFunc::RegexpSplitToTable
            };
            TableCall { func, exprs }
        }
        "jsonb_each"
        | "jsonb_each_text"
        | "jsonb_array_elements"
        | "jsonb_array_elements_text"
        | "jsonb_object_keys" => {
            let [arg] = <[CExpr; 1]>::try_from(args)
                .map_err(|_| SqlError::function_does_not_exist(&sig))?;
            let as_text = name.ends_with("_text");
            let func = match name {
                "jsonb_each" | "jsonb_each_text" => TableFunc::JsonbEach { as_text },
                "jsonb_object_keys" => TableFunc::JsonbObjectKeys,
                _ => TableFunc::JsonbArrayElements { as_text },
            };
            TableCall {
                func,
                exprs: vec![jsonb_arg(scx, arg, &sig)?.expr],
            }
        }
        _ => return Err(SqlError::unsupported(format!("table function {name}"))),
    };
    Ok(call)
}

/// A volatile function (`random()`) is evaluated once per row where a statement reads
/// it once; a view or subscription recomputes a row to retract it, and would then
/// retract a row it never added. Refused there (0A000), with the reason.
fn refuse_volatile(scx: &StatementContext, name: &str) -> Result<(), SqlError> {
    let place = if scx.in_view.get() {
        "a view"
    } else if scx.in_subscribe.get() {
        "a subscription"
    } else {
        return Ok(());
    };
    Err(SqlError::new(
        SqlState::FEATURE_NOT_SUPPORTED,
        format!("{name}() is volatile: {place} must give the same rows when it is recomputed"),
    )
    .with_detail(format!(
        "Eddy maintains {place} incrementally: it retracts a row by computing it again, \
         and {name}() would give another value."
    ))
    .with_hint(format!(
        "Compute the value when the row is written, as in INSERT INTO t VALUES (..., {name}())."
    )))
}

/// Postgres' error for an untyped literal given to an `anyelement` parameter
/// (`to_jsonb('a')`): it cannot pick a type either.
fn polymorphic_unknown() -> SqlError {
    SqlError::new(
        SqlState::DATATYPE_MISMATCH,
        "could not determine polymorphic type because input has type unknown",
    )
}

/// A `jsonb` argument (an unknown literal is read as jsonb).
fn jsonb_arg(scx: &StatementContext, arg: CExpr, sig: &str) -> Result<Typed, SqlError> {
    match arg {
        CExpr::Typed(t) if t.scalar_type() == ScalarType::Jsonb => Ok(t),
        CExpr::Typed(_) => Err(SqlError::function_does_not_exist(sig)),
        unknown => scx.resolve_unknown(unknown, ScalarType::Jsonb, CastKind::Explicit),
    }
}

pub fn function_name(f: &Function) -> Result<String, SqlError> {
    let parts = object_name_parts(&f.name)?;
    match parts.as_slice() {
        [name] => Ok(name.clone()),
        [schema, name] if schema == "pg_catalog" => Ok(name.clone()),
        // The one function of information_schema that drivers call.
        [schema, name] if schema == "information_schema" && name == "_pg_expandarray" => {
            Ok(name.clone())
        }
        _ => Err(SqlError::function_does_not_exist(format!("{}()", f.name))),
    }
}

/// Whether a call is an aggregate (and not a window function).
pub fn is_aggregate_call(f: &Function) -> bool {
    f.over.is_none()
        && function_name(f)
            .map(|n| AGGREGATES.contains(&n.as_str()))
            .unwrap_or(false)
}

fn signature(name: &str, args: &[CExpr]) -> String {
    let types: Vec<String> = args.iter().map(|a| a.type_name()).collect();
    format!("{name}({})", types.join(", "))
}

/// The plain argument expressions of a call.
fn argument_exprs<'f>(
    f: &'f Function,
    name: &str,
) -> Result<Option<Vec<&'f FunctionArgExpr>>, SqlError> {
    match &f.args {
        FunctionArguments::None => Ok(None),
        FunctionArguments::Subquery(_) => Err(SqlError::unsupported_plural(
            "subqueries as function arguments",
        )),
        FunctionArguments::List(list) => {
            // An aggregate's ORDER BY is read by `plan_aggregate`.
            let aggregate_order = |c: &FunctionArgumentClause| {
                matches!(c, FunctionArgumentClause::OrderBy(_)) && AGGREGATES.contains(&name)
            };
            if !list.clauses.iter().all(aggregate_order) {
                return Err(SqlError::unsupported_plural(format!(
                    "ORDER BY, LIMIT and other clauses in a call of {name}"
                )));
            }
            list.args
                .iter()
                .map(|arg| match arg {
                    FunctionArg::Unnamed(e) => Ok(e),
                    _ => Err(SqlError::unsupported_plural("named function arguments")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        }
    }
}

/// The parameter names of the functions that may be called with named arguments
/// (`make_interval(days => 2)`), and the default of each (`None`: required).
fn parameters(name: &str) -> Option<&'static [(&'static str, Option<&'static str>)]> {
    Some(match name {
        "make_interval" => &[
            ("years", Some("0")),
            ("months", Some("0")),
            ("weeks", Some("0")),
            ("days", Some("0")),
            ("hours", Some("0")),
            ("mins", Some("0")),
            ("secs", Some("0.0")),
        ],
        "make_date" => &[("year", None), ("month", None), ("day", None)],
        "make_timestamp" => &[
            ("year", None),
            ("month", None),
            ("mday", None),
            ("hour", None),
            ("min", None),
            ("sec", None),
        ],
        _ => return None,
    })
}

/// `f` with its named arguments (`name => value`) in their places and the
/// parameters it leaves out given their defaults, as Postgres binds them; `None` when
/// it has no named arguments.
fn with_positional_arguments(f: &Function, name: &str) -> Result<Option<Function>, SqlError> {
    let FunctionArguments::List(list) = &f.args else {
        return Ok(None);
    };
    if list
        .args
        .iter()
        .all(|a| matches!(a, FunctionArg::Unnamed(_)))
    {
        return Ok(None);
    }
    let Some(params) = parameters(name) else {
        return Err(SqlError::unsupported_plural(format!(
            "named arguments in a call of {name}"
        )));
    };
    let mut bound: Vec<Option<FunctionArgExpr>> = vec![None; params.len()];
    let mut named_seen = false;
    for (i, arg) in list.args.iter().enumerate() {
        let (slot, value) = match arg {
            FunctionArg::Unnamed(value) if !named_seen => (i, value),
            FunctionArg::Unnamed(_) => {
                return Err(SqlError::syntax(
                    "positional argument cannot follow named argument",
                ))
            }
            FunctionArg::Named {
                name: arg,
                arg: value,
                ..
            }
            | FunctionArg::ExprNamed {
                name: sqlparser::ast::Expr::Identifier(arg),
                arg: value,
                ..
            } => {
                named_seen = true;
                let arg = crate::names::normalize_ident(arg);
                let slot = params.iter().position(|(p, _)| *p == arg).ok_or_else(|| {
                    SqlError::function_does_not_exist(format!("{name}({arg} => ...)"))
                })?;
                (slot, value)
            }
            _ => return Err(SqlError::unsupported_plural("this form of named argument")),
        };
        let Some(place) = bound.get_mut(slot) else {
            return Err(SqlError::function_does_not_exist(format!("{name}(...)")));
        };
        if place.is_some() {
            return Err(SqlError::syntax(format!(
                "argument name \"{}\" used more than once",
                params[slot].0
            )));
        }
        *place = Some(value.clone());
    }
    let mut args = Vec::with_capacity(params.len());
    for ((param, default), value) in params.iter().zip(bound) {
        let value = match (value, default) {
            (Some(value), _) => value,
            (None, Some(default)) => FunctionArgExpr::Expr(sqlparser::ast::Expr::Value(
                sqlparser::ast::Value::Number((*default).to_string(), false).into(),
            )),
            (None, None) => {
                return Err(SqlError::function_does_not_exist(format!(
                    "{name}(...) without {param}"
                )))
            }
        };
        args.push(FunctionArg::Unnamed(value));
    }
    let mut positional = f.clone();
    if let FunctionArguments::List(list) = &mut positional.args {
        list.args = args;
    }
    Ok(Some(positional))
}

fn is_distinct(f: &Function) -> bool {
    matches!(
        &f.args,
        FunctionArguments::List(l) if l.duplicate_treatment == Some(DuplicateTreatment::Distinct)
    )
}

/// A function call in an expression (aggregates are handled by the caller under GROUP
/// BY; reaching one here means the clause does not allow them).
pub fn plan_function(ecx: &ExprContext, f: &Function) -> Result<CExpr, SqlError> {
    let name = function_name(f)?;
    if let Some(positional) = with_positional_arguments(f, &name)? {
        return plan_function(ecx, &positional);
    }
    let scx = ecx.scx;
    if f.over.is_some() {
        return Err(crate::window_functions::not_allowed(ecx.clause));
    }
    if AGGREGATES.contains(&name.as_str()) {
        return Err(SqlError::new(
            SqlState::GROUPING_ERROR,
            format!("aggregate functions are not allowed in {}", ecx.clause),
        ));
    }
    if f.filter.is_some() {
        return Err(SqlError::new(
            SqlState::WRONG_OBJECT_TYPE,
            format!("FILTER specified, but {name} is not an aggregate function"),
        ));
    }
    if is_distinct(f) {
        return Err(SqlError::new(
            SqlState::WRONG_OBJECT_TYPE,
            format!("DISTINCT specified, but {name} is not an aggregate function"),
        ));
    }
    if !f.within_group.is_empty() || f.null_treatment.is_some() {
        return Err(SqlError::unsupported(format!("this form of {name}")));
    }
    if !matches!(f.parameters, FunctionArguments::None) {
        return Err(SqlError::unsupported_plural(format!(
            "parameters of {name}"
        )));
    }
    if let (FunctionArguments::Subquery(query), "array") = (&f.args, name.as_str()) {
        return subquery::plan_array(ecx, query);
    }
    let Some(arg_exprs) = argument_exprs(f, &name)? else {
        // `current_timestamp`, `current_user`, ... written without parentheses.
        return match plan_niladic(ecx, &name)? {
            Some(t) => Ok(t.into()),
            None => Err(SqlError::function_does_not_exist(format!("{name}()"))),
        };
    };
    let mut args = vec![];
    for arg in arg_exprs {
        match arg {
            FunctionArgExpr::Expr(e) => args.push(expr::plan_expr(ecx, e)?),
            _ => {
                return Err(SqlError::syntax(format!(
                    "syntax error at or near \"*\" in a call of {name}"
                )))
            }
        }
    }
    if args.is_empty() {
        if let Some(t) = plan_niladic(ecx, &name)? {
            return Ok(t.into());
        }
    }
    if let Some(t) = crate::sequences::plan_sequence_function(ecx, &name, &args)? {
        return Ok(t.into());
    }
    if let Some(t) = introspect::plan_catalog_function(ecx, &name, &args)? {
        return Ok(t.into());
    }
    if let Some(t) = introspect::plan_constant_function(ecx, &name, &args)? {
        return Ok(t.into());
    }
    Ok(plan_call(scx, &name, args)?.into())
}

/// Functions without arguments that are constants of the statement.
pub fn plan_niladic(ecx: &ExprContext, name: &str) -> Result<Option<Typed>, SqlError> {
    let scx = ecx.scx;
    let pcx = scx.pcx;
    let time_dependent = matches!(
        name,
        "now"
            | "current_timestamp"
            | "transaction_timestamp"
            | "statement_timestamp"
            | "current_date"
            | "localtimestamp"
            | "localtime"
    );
    if time_dependent && scx.in_view.get() {
        let shown = if name == "now" { "now()" } else { name };
        return Err(SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!("{shown} inside a view is only allowed in temporal filters"),
        )
        .with_detail(
            "now() is processing time: the time a row is read, which a maintained view \
             cannot fix once; windows over event time need no now()",
        )
        .with_hint(
            "compare a column with now() in WHERE, as in ts > now() - INTERVAL '1 hour', \
             to keep the rows of the last hour",
        ));
    }
    let name_literal = |s: &str| Typed::literal(Datum::String(s.to_string()), ScalarType::Name);
    // The wall-clock time in the session's zone (views never read the clock).
    let local_now = scx.zone().local(&pcx.now);
    Ok(Some(match name {
        "now" | "current_timestamp" | "transaction_timestamp" | "statement_timestamp" => {
            Typed::literal(Datum::TimestampTz(pcx.now), ScalarType::TimestampTz)
        }
        "current_date" => Typed::literal(Datum::Date(local_now.date()), ScalarType::Date),
        "localtimestamp" => Typed::literal(Datum::Timestamp(local_now), ScalarType::Timestamp),
        "localtime" => Typed::literal(Datum::Time(local_now.time()), ScalarType::Time),
        "current_time" => return Err(SqlError::unsupported("type time with time zone")),
        "current_user" | "session_user" | "user" | "current_role" => name_literal(&pcx.user),
        "current_database" | "current_catalog" => name_literal(&pcx.database),
        "current_schema" => name_literal(crate::names::PUBLIC_SCHEMA),
        "version" => Typed::literal(
            Datum::String(format!(
                "PostgreSQL 15.0 (Eddy {})",
                env!("CARGO_PKG_VERSION")
            )),
            ScalarType::Text,
        ),
        "pg_backend_pid" => Typed::literal(Datum::Int32(pcx.backend_pid), ScalarType::Int32),
        _ => return Ok(None),
    }))
}

/// A string argument: any string type (as text) or an unknown literal.
fn text_arg(scx: &StatementContext, arg: CExpr, sig: &str) -> Result<Typed, SqlError> {
    match arg {
        CExpr::Typed(t) => match t.scalar_type() {
            ScalarType::Char { .. } => Ok(t.cast(ScalarType::Text, CastKind::Explicit)),
            s if s.is_string() => Ok(t),
            _ => Err(SqlError::function_does_not_exist(sig)),
        },
        unknown => scx.resolve_unknown(unknown, ScalarType::Text, CastKind::Explicit),
    }
}

/// An `integer` argument (smallint and integer are accepted).
fn int_arg(scx: &StatementContext, arg: CExpr, sig: &str) -> Result<Typed, SqlError> {
    match arg {
        CExpr::Typed(t) => match t.scalar_type() {
            ScalarType::Int16 | ScalarType::Int32 => {
                Ok(t.cast(ScalarType::Int32, CastKind::Explicit))
            }
            _ => Err(SqlError::function_does_not_exist(sig)),
        },
        unknown => scx.resolve_unknown(unknown, ScalarType::Int32, CastKind::Explicit),
    }
}

/// A numeric argument for a math function that has `double precision` and `numeric`
/// overloads: numeric stays numeric, every other number becomes double precision.
fn math_arg(arg: CExpr, sig: &str) -> Result<Typed, SqlError> {
    match arg {
        CExpr::Typed(t) => match t.scalar_type() {
            ScalarType::Numeric { .. } => Ok(t.cast(NUMERIC, CastKind::Explicit)),
            s if s.is_numeric() => Ok(t.cast(ScalarType::Float64, CastKind::Explicit)),
            _ => Err(SqlError::function_does_not_exist(sig)),
        },
        _ => Err(SqlError::function_not_unique(sig)),
    }
}

/// An array argument (any array type).
fn array_arg(arg: CExpr, sig: &str) -> Result<Typed, SqlError> {
    match arg {
        CExpr::Typed(t) if t.scalar_type().array_element().is_some() => Ok(t),
        CExpr::Typed(_) => Err(SqlError::function_does_not_exist(sig)),
        _ => Err(SqlError::function_not_unique(sig)),
    }
}

/// An argument brought to `to` by an implicit cast (an unknown literal read as `to`).
fn coerce_arg(
    scx: &StatementContext,
    arg: CExpr,
    to: ScalarType,
    sig: &str,
) -> Result<Typed, SqlError> {
    Ok(scx
        .coerce(arg, to, types::CastContext::Implicit)?
        .map_err(|_| SqlError::function_does_not_exist(sig))?
        .cast(to, CastKind::Explicit))
}

/// `age(a, b)` on two timestamps or two timestamptzs (a date is read as timestamptz),
/// and `age(x)`, which is `age(current_date, x)` and so, like `now()`, refused in a
/// view.
fn plan_age(scx: &StatementContext, args: Vec<CExpr>, sig: &str) -> Result<Typed, SqlError> {
    let types: Vec<Option<ScalarType>> = args.iter().map(CExpr::scalar_type).collect();
    let typ = if types.iter().flatten().all(|t| *t == ScalarType::Timestamp) {
        if types.iter().all(Option::is_none) {
            return Err(SqlError::function_not_unique(sig));
        }
        ScalarType::Timestamp
    } else {
        ScalarType::TimestampTz
    };
    let mut typed = args
        .into_iter()
        .map(|a| coerce_arg(scx, a, typ, sig))
        .collect::<Result<Vec<_>, _>>()?;
    if typed.len() == 1 {
        if scx.in_view.get() {
            return Err(SqlError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                "age with one argument is not supported in views yet",
            )
            .with_detail("age(x) is age(current_date, x), which changes every day."));
        }
        let zone = scx.zone();
        let midnight = zone
            .local(&scx.pcx.now)
            .date()
            .and_time(chrono::NaiveTime::MIN);
        let today = if typ == ScalarType::Timestamp {
            Typed::literal(Datum::Timestamp(midnight), typ)
        } else {
            Typed::literal(Datum::TimestampTz(zone.instant(&midnight)), typ)
        };
        typed.insert(0, today);
    }
    let b = typed.pop().expect("two arguments");
    let a = typed.pop().expect("two arguments");
    let zone = scx.zone();
    if typ == ScalarType::TimestampTz && !zone.is_utc() {
        // The difference of the wall-clock times in the session's zone.
        let local = |t: Typed| t.unary(UnaryFunc::TimestampTzToLocal(zone));
        return Ok(local(a).binary(local(b), BinaryFunc::Age));
    }
    Ok(a.binary(b, BinaryFunc::Age))
}

/// The constant string of a unit/field argument (`date_trunc('day', ...)`).
fn constant_string(arg: &CExpr) -> Option<String> {
    match arg {
        CExpr::Str(s) => Some(s.clone()),
        CExpr::Typed(t) => match t.expr.as_literal() {
            Some(Datum::String(s)) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Calls a builtin scalar function by name.
pub fn plan_call(scx: &StatementContext, name: &str, args: Vec<CExpr>) -> Result<Typed, SqlError> {
    let sig = signature(name, &args);
    let n = args.len();
    let mut args = args.into_iter();
    let mut next = || args.next().expect("argument count checked");
    let wrong_count = || SqlError::function_does_not_exist(&sig);
    let unary_text = |func: UnaryFunc, arg: CExpr| -> Result<Typed, SqlError> {
        Ok(text_arg(scx, arg, &sig)?.unary(func))
    };
    match (name, n) {
        ("lower", 1) => unary_text(UnaryFunc::Lower, next()),
        ("upper", 1) => unary_text(UnaryFunc::Upper, next()),
        ("length" | "char_length" | "character_length", 1) => {
            unary_text(UnaryFunc::CharLength, next())
        }
        ("octet_length", 1) => unary_text(UnaryFunc::OctetLength, next()),
        ("md5", 1) => unary_text(UnaryFunc::Md5, next()),
        ("btrim", 1) => unary_text(UnaryFunc::BTrim, next()),
        ("ltrim", 1) => unary_text(UnaryFunc::LTrim, next()),
        ("rtrim", 1) => unary_text(UnaryFunc::RTrim, next()),
        ("btrim" | "ltrim" | "rtrim", 2) => {
            let func = match name {
                "btrim" => BinaryFunc::BTrimChars,
                "ltrim" => BinaryFunc::LTrimChars,
                _ => BinaryFunc::RTrimChars,
            };
            let s = text_arg(scx, next(), &sig)?;
            let chars = text_arg(scx, next(), &sig)?;
            Ok(s.binary(chars, func))
        }
        ("substring" | "substr", 2 | 3) => {
            let mut typed = vec![text_arg(scx, next(), &sig)?, int_arg(scx, next(), &sig)?];
            if n == 3 {
                typed.push(int_arg(scx, next(), &sig)?);
            }
            Ok(Typed::variadic(VariadicFunc::Substring, typed))
        }
        ("position", 2) => {
            let needle = text_arg(scx, next(), &sig)?;
            let haystack = text_arg(scx, next(), &sig)?;
            Ok(needle.binary(haystack, BinaryFunc::Position))
        }
        ("strpos", 2) => {
            let haystack = text_arg(scx, next(), &sig)?;
            let needle = text_arg(scx, next(), &sig)?;
            Ok(needle.binary(haystack, BinaryFunc::Position))
        }
        ("left" | "right" | "repeat", 2) => {
            let func = match name {
                "left" => BinaryFunc::Left,
                "right" => BinaryFunc::Right,
                _ => BinaryFunc::Repeat,
            };
            let s = text_arg(scx, next(), &sig)?;
            let count = int_arg(scx, next(), &sig)?;
            Ok(s.binary(count, func))
        }
        ("replace", 3) => {
            let typed = (0..3)
                .map(|_| text_arg(scx, next(), &sig))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Typed::variadic(VariadicFunc::Replace, typed))
        }
        ("split_part", 3) => {
            let typed = vec![
                text_arg(scx, next(), &sig)?,
                text_arg(scx, next(), &sig)?,
                int_arg(scx, next(), &sig)?,
            ];
            Ok(Typed::variadic(VariadicFunc::SplitPart, typed))
        }
        ("lpad" | "rpad", 2 | 3) => {
            let mut typed = vec![text_arg(scx, next(), &sig)?, int_arg(scx, next(), &sig)?];
            if n == 3 {
                typed.push(text_arg(scx, next(), &sig)?);
            }
            let func = if name == "lpad" {
                VariadicFunc::Lpad
            } else {
                VariadicFunc::Rpad
            };
            Ok(Typed::variadic(func, typed))
        }
        ("concat", _) if n > 0 => {
            let typed = (0..n)
                .map(|_| match next() {
                    CExpr::Typed(t)
                        if t.scalar_type().is_string()
                            && !matches!(t.scalar_type(), ScalarType::Char { .. }) =>
                    {
                        Ok(t)
                    }
                    CExpr::Typed(t) => Ok(scx.cast(t, ScalarType::Text, CastKind::Explicit)),
                    unknown => scx.resolve_unknown(unknown, ScalarType::Text, CastKind::Explicit),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Typed::variadic(VariadicFunc::Concat, typed))
        }
        ("abs", 1) => match next() {
            CExpr::Typed(t) if t.scalar_type().is_numeric() => {
                let t = match t.scalar_type() {
                    ScalarType::Numeric { .. } => t.cast(NUMERIC, CastKind::Explicit),
                    _ => t,
                };
                Ok(t.unary(UnaryFunc::Abs))
            }
            CExpr::Typed(_) => Err(wrong_count()),
            _ => Err(SqlError::function_not_unique(&sig)),
        },
        ("round", 1) => Ok(math_arg(next(), &sig)?.unary(UnaryFunc::Round)),
        ("round", 2) => {
            let x = match next() {
                CExpr::Typed(t)
                    if matches!(
                        t.scalar_type(),
                        ScalarType::Int16
                            | ScalarType::Int32
                            | ScalarType::Int64
                            | ScalarType::Numeric { .. }
                    ) =>
                {
                    t.cast(NUMERIC, CastKind::Explicit)
                }
                CExpr::Typed(_) => return Err(wrong_count()),
                unknown => scx.resolve_unknown(unknown, NUMERIC, CastKind::Explicit)?,
            };
            let digits = int_arg(scx, next(), &sig)?;
            Ok(x.binary(digits, BinaryFunc::RoundTo))
        }
        ("floor", 1) => Ok(math_arg(next(), &sig)?.unary(UnaryFunc::Floor)),
        ("ceil" | "ceiling", 1) => Ok(math_arg(next(), &sig)?.unary(UnaryFunc::Ceil)),
        ("sqrt", 1) => Ok(math_arg(next(), &sig)?.unary(UnaryFunc::Sqrt)),
        ("power" | "pow", 2) => {
            let (a, b) = (next(), next());
            let target = match (a.scalar_type(), b.scalar_type()) {
                (Some(x), Some(y)) if !x.is_numeric() || !y.is_numeric() => {
                    return Err(wrong_count())
                }
                (None, None) => return Err(SqlError::function_not_unique(&sig)),
                (x, y) => {
                    let is_numeric =
                        |t: Option<ScalarType>| matches!(t, Some(ScalarType::Numeric { .. }));
                    let is_float = |t: Option<ScalarType>| t.is_some_and(|t| types::is_float(&t));
                    if (is_numeric(x) || is_numeric(y)) && !is_float(x) && !is_float(y) {
                        NUMERIC
                    } else {
                        ScalarType::Float64
                    }
                }
            };
            let a = scx
                .coerce(a, target, types::CastContext::Implicit)?
                .map_err(|_| wrong_count())?;
            let b = scx
                .coerce(b, target, types::CastContext::Implicit)?
                .map_err(|_| wrong_count())?;
            Ok(a.binary(b, BinaryFunc::Power))
        }
        ("mod", 2) => {
            let (a, b) = (next(), next());
            match (a.scalar_type(), b.scalar_type()) {
                (Some(x), Some(y)) if types::is_float(&x) || types::is_float(&y) => {
                    Err(wrong_count())
                }
                _ => expr::plan_arithmetic(scx, BinaryFunc::Mod, "%", a, b),
            }
        }
        ("date_trunc", 2) => {
            let unit_arg = next();
            let name = constant_string(&unit_arg)
                .ok_or_else(|| SqlError::unsupported("date_trunc with a non-constant unit"))?;
            let x = match next() {
                CExpr::Typed(t) => match t.scalar_type() {
                    ScalarType::Timestamp | ScalarType::TimestampTz | ScalarType::Interval => t,
                    ScalarType::Date => scx.cast(t, ScalarType::TimestampTz, CastKind::Explicit),
                    _ => return Err(wrong_count()),
                },
                _ => return Err(SqlError::function_not_unique(&sig)),
            };
            // Postgres' date_trunc knows only the units of interval input (and the time
            // zone fields, which it then refuses per row); not `epoch`, `dow`, ...
            let unit = DateTimeUnit::from_name(&name)
                .filter(|u| u.is_delta_unit())
                .ok_or_else(|| unit_not_recognized(&name, &x.scalar_type()))?;
            let zone = scx.zone();
            if x.scalar_type() == ScalarType::TimestampTz && !zone.is_utc() {
                // Truncated as a wall-clock time in the session's zone, as
                // date_trunc(unit, x, zone) is.
                return Ok(x
                    .unary(UnaryFunc::TimestampTzToLocal(zone))
                    .unary(UnaryFunc::DateTrunc(unit))
                    .unary(UnaryFunc::LocalToTimestampTz(zone)));
            }
            Ok(x.unary(UnaryFunc::DateTrunc(unit)))
        }
        ("date_trunc", 3) => {
            // date_trunc(unit, timestamptz, zone): truncated as a wall-clock time in
            // `zone`, which is (date_trunc(unit, x AT TIME ZONE zone)) AT TIME ZONE zone.
            let (unit_arg, x, zone_arg) = (next(), next(), next());
            let name = constant_string(&unit_arg)
                .ok_or_else(|| SqlError::unsupported("date_trunc with a non-constant unit"))?;
            let zone_name = constant_string(&zone_arg).ok_or_else(|| {
                SqlError::unsupported("date_trunc with a time zone that is not a constant")
            })?;
            let zone = expr::time_zone(&zone_name)?;
            let x = coerce_arg(scx, x, ScalarType::TimestampTz, &sig)?;
            let unit = DateTimeUnit::from_name(&name)
                .filter(|u| u.is_delta_unit())
                .ok_or_else(|| unit_not_recognized(&name, &ScalarType::TimestampTz))?;
            Ok(x.unary(UnaryFunc::TimestampTzToLocal(zone))
                .unary(UnaryFunc::DateTrunc(unit))
                .unary(UnaryFunc::LocalToTimestampTz(zone)))
        }
        ("timezone", 2) => {
            let (zone, x) = (next(), next());
            match expr::plan_timezone(scx, x, zone)? {
                CExpr::Typed(t) => Ok(t),
                other => Ok(scx.finalize(other)),
            }
        }
        ("date_bin", 3) => {
            let stride = scx
                .coerce(next(), ScalarType::Interval, types::CastContext::Implicit)?
                .map_err(|_| wrong_count())?;
            let (source, origin) = (next(), next());
            // Postgres has a `timestamp` and a `timestamptz` version; anything but two
            // `timestamp`s (or one and an unknown literal) resolves to `timestamptz`.
            let is_timestamp = |e: &CExpr| match e.scalar_type() {
                Some(ScalarType::Timestamp) => Some(true),
                Some(ScalarType::TimestampTz | ScalarType::Date) => Some(false),
                Some(_) => None,
                None => Some(false),
            };
            let target = match (is_timestamp(&source), is_timestamp(&origin)) {
                (None, _) | (_, None) => return Err(wrong_count()),
                (Some(true), Some(true)) => ScalarType::Timestamp,
                (Some(true), Some(false)) if origin.scalar_type().is_none() => {
                    ScalarType::Timestamp
                }
                (Some(false), Some(true)) if source.scalar_type().is_none() => {
                    ScalarType::Timestamp
                }
                _ => ScalarType::TimestampTz,
            };
            let bring = |e: CExpr| -> Result<Typed, SqlError> {
                scx.coerce(e, target, types::CastContext::Implicit)?
                    .map_err(|_| wrong_count())
            };
            let (source, origin) = (bring(source)?, bring(origin)?);
            Ok(Typed::variadic(
                VariadicFunc::DateBin,
                vec![stride, source, origin],
            ))
        }
        ("date_part", 2) => {
            let field_arg = next();
            let field = constant_string(&field_arg)
                .ok_or_else(|| SqlError::unsupported("date_part with a non-constant field"))?;
            plan_extract(scx, &field, next(), "date_part")
        }
        ("jsonb_typeof", 1) => Ok(jsonb_arg(scx, next(), &sig)?.unary(UnaryFunc::JsonbTypeof)),
        ("jsonb_array_length", 1) => {
            Ok(jsonb_arg(scx, next(), &sig)?.unary(UnaryFunc::JsonbArrayLength))
        }
        ("jsonb_extract_path" | "jsonb_extract_path_text", _) if n >= 2 => {
            let j = jsonb_arg(scx, next(), &sig)?;
            let path = (1..n)
                .map(|_| text_arg(scx, next(), &sig))
                .collect::<Result<Vec<_>, _>>()?;
            let path = Typed::variadic(
                VariadicFunc::ArrayCreate {
                    elem_type: ScalarType::Text,
                },
                path,
            );
            let func = if name == "jsonb_extract_path" {
                BinaryFunc::JsonbGetPath
            } else {
                BinaryFunc::JsonbGetPathText
            };
            Ok(j.binary(path, func))
        }
        ("to_jsonb", 1) => match next() {
            CExpr::Typed(t) => Ok(scx.jsonb_input(t).unary(UnaryFunc::ToJsonb)),
            _ => Err(polymorphic_unknown()),
        },
        ("random" | "gen_random_uuid" | "clock_timestamp", 0) => {
            refuse_volatile(scx, name)?;
            let func = match name {
                "random" => VariadicFunc::Random,
                "gen_random_uuid" => VariadicFunc::GenRandomUuid,
                _ => VariadicFunc::ClockTimestamp,
            };
            Ok(Typed::variadic(func, vec![]))
        }
        ("jsonb_build_array", _) => {
            let typed = (0..n)
                .map(|_| scx.jsonb_input(scx.finalize(next())))
                .collect::<Vec<_>>();
            Ok(Typed::variadic(VariadicFunc::JsonbBuildArray, typed))
        }
        ("coalesce" | "greatest" | "least", _) if n > 0 => {
            let what = name.to_uppercase();
            let (typed, _) = expr::unify(scx, (0..n).map(|_| next()).collect(), &what)?;
            let func = match name {
                "coalesce" => VariadicFunc::Coalesce,
                "greatest" => VariadicFunc::Greatest,
                _ => VariadicFunc::Least,
            };
            Ok(Typed::variadic(func, typed))
        }
        ("nullif", 2) => {
            let (a, b) = (next(), next());
            expr::plan_nullif(scx, a, b)
        }
        ("quote_ident", 1) => unary_text(UnaryFunc::QuoteIdent, next()),
        ("pg_size_pretty", 1) => {
            let bytes = scx
                .coerce(next(), ScalarType::Int64, types::CastContext::Implicit)?
                .map_err(|_| wrong_count())?
                .cast(ScalarType::Int64, CastKind::Explicit);
            Ok(bytes.unary(UnaryFunc::PgSizePretty))
        }
        ("jsonb_build_object" | "json_build_object", _) => {
            if !n.is_multiple_of(2) {
                return Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    "argument list must have even number of elements",
                )
                .with_hint(format!(
                    "The arguments of {name}() must consist of alternating keys and values."
                )));
            }
            // Keys are their text, values their jsonb form, both in the session's zone.
            let typed = (0..n)
                .map(|i| {
                    let t = scx.finalize(next());
                    if i % 2 == 0
                        && t.scalar_type() == ScalarType::TimestampTz
                        && !scx.zone().is_utc()
                    {
                        scx.cast(t, ScalarType::Text, CastKind::Explicit)
                    } else {
                        scx.jsonb_input(t)
                    }
                })
                .collect::<Vec<_>>();
            if name == "jsonb_build_object" {
                return Ok(Typed::variadic(VariadicFunc::JsonbBuildObject, typed));
            }
            // There is no json type: the object would come back as jsonb (keys
            // sorted, duplicates merged), so building one is an error when a row
            // reaches it.
            let unsupported = EvalError::FeatureNotSupported {
                message: "function json_build_object is not supported yet".into(),
                detail: Some("Eddy has no json type; jsonb_build_object builds jsonb.".into()),
            };
            Ok(Typed::new(
                MirScalarExpr::Literal(Err(unsupported), ScalarType::Jsonb.nullable(false)),
                ScalarType::Jsonb.nullable(false),
            ))
        }
        // The type's name, as Postgres' regtype result prints it (Eddy's is text).
        ("pg_typeof", 1) => {
            let name = match next() {
                CExpr::Typed(t) => t.scalar_type().without_modifiers().sql_name(),
                CExpr::Str(_) | CExpr::Null | CExpr::Param(_) => "unknown".to_string(),
            };
            Ok(Typed::literal(Datum::String(name), ScalarType::Text))
        }
        ("format_type", 2) => {
            let oid = scx
                .coerce(next(), ScalarType::Oid, types::CastContext::Implicit)?
                .map_err(|_| wrong_count())?
                .cast(ScalarType::Oid, CastKind::Explicit);
            let typmod = int_arg(scx, next(), &sig)?;
            Ok(Typed::variadic(VariadicFunc::FormatType, vec![oid, typmod]))
        }
        ("string_to_array", 2 | 3) => {
            let typed = (0..n)
                .map(|_| text_arg(scx, next(), &sig))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Typed::variadic(VariadicFunc::StringToArray, typed))
        }
        ("array_to_string", 2 | 3) => {
            let array = match next() {
                CExpr::Typed(t) if t.scalar_type().array_element().is_some() => t,
                CExpr::Typed(_) => return Err(wrong_count()),
                unknown => {
                    scx.resolve_unknown(unknown, ScalarType::TextArray, CastKind::Explicit)?
                }
            };
            let mut typed = vec![array, text_arg(scx, next(), &sig)?];
            if n == 3 {
                typed.push(text_arg(scx, next(), &sig)?);
            }
            Ok(Typed::variadic(VariadicFunc::ArrayToString, typed))
        }
        ("array_upper", 2) => {
            let array = match next() {
                CExpr::Typed(t) if t.scalar_type().array_element().is_some() => t,
                _ => return Err(wrong_count()),
            };
            let dimension = int_arg(scx, next(), &sig)?;
            Ok(array.binary(dimension, BinaryFunc::ArrayUpper))
        }
        ("initcap", 1) => unary_text(UnaryFunc::Initcap, next()),
        ("reverse", 1) => unary_text(UnaryFunc::Reverse, next()),
        ("ascii", 1) => unary_text(UnaryFunc::Ascii, next()),
        ("chr", 1) => Ok(int_arg(scx, next(), &sig)?.unary(UnaryFunc::Chr)),
        ("starts_with", 2) => {
            let s = text_arg(scx, next(), &sig)?;
            let prefix = text_arg(scx, next(), &sig)?;
            Ok(s.binary(prefix, BinaryFunc::StartsWith))
        }
        ("translate", 3)
        | ("regexp_replace", 3 | 4)
        | ("regexp_match" | "regexp_split_to_array", 2 | 3) => {
            let typed = (0..n)
                .map(|_| text_arg(scx, next(), &sig))
                .collect::<Result<Vec<_>, _>>()?;
            let func = match name {
                "translate" => VariadicFunc::Translate,
                "regexp_replace" => VariadicFunc::RegexpReplace,
                "regexp_match" => VariadicFunc::RegexpMatch,
                _ => VariadicFunc::RegexpSplitToArray,
            };
            Ok(Typed::variadic(func, typed))
        }
        ("format", _) if n > 0 => {
            let mut typed = vec![text_arg(scx, next(), &sig)?];
            typed.extend((1..n).map(|_| scx.finalize(next())));
            Ok(Typed::variadic(VariadicFunc::Format, typed))
        }
        ("array_length", 2) => {
            let array = array_arg(next(), &sig)?;
            let dimension = int_arg(scx, next(), &sig)?;
            Ok(array.binary(dimension, BinaryFunc::ArrayLength))
        }
        ("cardinality", 1) => Ok(array_arg(next(), &sig)?.unary(UnaryFunc::Cardinality)),
        ("array_position", 2 | 3) => {
            let array = array_arg(next(), &sig)?;
            let elem = array
                .scalar_type()
                .array_element()
                .ok_or_else(wrong_count)?;
            let element = scx
                .coerce(next(), elem, types::CastContext::Implicit)?
                .map_err(|_| wrong_count())?;
            let mut typed = vec![array, element];
            if n == 3 {
                typed.push(int_arg(scx, next(), &sig)?);
            }
            Ok(Typed::variadic(VariadicFunc::ArrayPosition, typed))
        }
        ("exp", 1) => Ok(math_arg(next(), &sig)?.unary(UnaryFunc::Exp)),
        ("ln", 1) => Ok(math_arg(next(), &sig)?.unary(UnaryFunc::Ln)),
        ("log" | "log10", 1) => Ok(math_arg(next(), &sig)?.unary(UnaryFunc::Log10)),
        ("sign", 1) => Ok(math_arg(next(), &sig)?.unary(UnaryFunc::Sign)),
        ("trunc", 1) => Ok(math_arg(next(), &sig)?.unary(UnaryFunc::Trunc)),
        ("cbrt", 1) => {
            Ok(coerce_arg(scx, next(), ScalarType::Float64, &sig)?.unary(UnaryFunc::Cbrt))
        }
        ("pi", 0) => Ok(Typed::literal(
            Datum::Float64(eddy_repr::OrdF64(std::f64::consts::PI)),
            ScalarType::Float64,
        )),
        ("log" | "div", 2) => {
            let a = coerce_arg(scx, next(), NUMERIC, &sig)?;
            let b = coerce_arg(scx, next(), NUMERIC, &sig)?;
            let func = if name == "log" {
                BinaryFunc::Log
            } else {
                BinaryFunc::DivTrunc
            };
            Ok(a.binary(b, func))
        }
        ("trunc", 2) => {
            let x = coerce_arg(scx, next(), NUMERIC, &sig)?;
            let digits = int_arg(scx, next(), &sig)?;
            Ok(x.binary(digits, BinaryFunc::TruncTo))
        }
        ("make_date", 3) => {
            let typed = (0..3)
                .map(|_| int_arg(scx, next(), &sig))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Typed::variadic(VariadicFunc::MakeDate, typed))
        }
        ("make_timestamp", 6) | ("make_interval", 1..=7) => {
            let mut typed = vec![];
            for i in 0..n {
                typed.push(if i == 5 && name == "make_timestamp" || i == 6 {
                    coerce_arg(scx, next(), ScalarType::Float64, &sig)?
                } else {
                    int_arg(scx, next(), &sig)?
                });
            }
            let func = if name == "make_timestamp" {
                VariadicFunc::MakeTimestamp
            } else {
                VariadicFunc::MakeInterval
            };
            Ok(Typed::variadic(func, typed))
        }
        ("age", 1 | 2) => plan_age(scx, (0..n).map(|_| next()).collect(), &sig),
        ("to_timestamp", 1) => {
            Ok(coerce_arg(scx, next(), ScalarType::Float64, &sig)?.unary(UnaryFunc::ToTimestamp))
        }
        ("to_timestamp" | "to_date", 2) => {
            let typed = vec![text_arg(scx, next(), &sig)?, text_arg(scx, next(), &sig)?];
            let func = if name == "to_date" {
                VariadicFunc::ToDate
            } else {
                VariadicFunc::ToTimestampFormat
            };
            Ok(Typed::variadic(func, typed))
        }
        ("to_char", 2) => {
            let value = match next() {
                CExpr::Typed(t) => match t.scalar_type() {
                    ScalarType::Date => scx.cast(t, ScalarType::TimestampTz, CastKind::Explicit),
                    ScalarType::Timestamp | ScalarType::TimestampTz | ScalarType::Interval => t,
                    s if s.is_numeric() => t,
                    _ => return Err(wrong_count()),
                },
                _ => return Err(SqlError::function_not_unique(&sig)),
            };
            let fmt = text_arg(scx, next(), &sig)?;
            let zone = scx.zone();
            if value.scalar_type() == ScalarType::TimestampTz && !zone.is_utc() {
                // The wall-clock time, abbreviation and offset in the session's zone.
                return Ok(Typed::variadic(
                    VariadicFunc::ToCharIn(zone),
                    vec![value, fmt],
                ));
            }
            Ok(Typed::variadic(VariadicFunc::ToChar, vec![value, fmt]))
        }
        _ if UNSUPPORTED_FUNCTIONS.contains(&name) => {
            Err(SqlError::unsupported(format!("function {name}")))
        }
        _ => Err(SqlError::function_does_not_exist(&sig)),
    }
}

/// Postgres' `22023` for a unit name no [`DateTimeUnit`] has (or one the function does
/// not take) for an argument of type `typ`, given while planning: the name is
/// constant, so no row would do better. The name is shown lowercased, as Postgres does.
fn unit_not_recognized(name: &str, typ: &ScalarType) -> SqlError {
    eddy_expr::eval::unit_not_recognized(&name.to_ascii_lowercase(), &typ.sql_name()).into()
}

/// `extract(field from x)` (numeric) or `date_part('field', x)` (double precision), with
/// the field's name resolved here, once.
pub fn plan_extract(
    scx: &StatementContext,
    field: &str,
    arg: CExpr,
    function: &str,
) -> Result<Typed, SqlError> {
    let t = match arg {
        CExpr::Typed(t) => match t.scalar_type() {
            ScalarType::Date
            | ScalarType::Timestamp
            | ScalarType::TimestampTz
            | ScalarType::Time
            | ScalarType::Interval => t,
            other => {
                return Err(SqlError::function_does_not_exist(format!(
                    "pg_catalog.{function}(unknown, {})",
                    other.sql_name()
                )))
            }
        },
        _ => {
            return Err(SqlError::function_not_unique(format!(
                "pg_catalog.{function}(unknown, unknown)"
            )))
        }
    };
    let unit = DateTimeUnit::from_name(field).ok_or_else(|| {
        // Postgres' date_part(text, date) reads the date as a timestamp.
        let typ = match t.scalar_type() {
            ScalarType::Date if function == "date_part" => ScalarType::Timestamp,
            other => other,
        };
        unit_not_recognized(field, &typ)
    })?;
    let func = if function == "extract" {
        UnaryFunc::Extract(unit)
    } else {
        UnaryFunc::DatePart(unit)
    };
    let zone = scx.zone();
    if t.scalar_type() == ScalarType::TimestampTz && !zone.is_utc() {
        // The fields of the wall-clock time in the session's zone and its offset;
        // `epoch` counts from the instant, whatever the zone.
        match unit {
            DateTimeUnit::Epoch => {}
            DateTimeUnit::Timezone | DateTimeUnit::TimezoneHour | DateTimeUnit::TimezoneMinute => {
                let func = if function == "extract" {
                    UnaryFunc::ExtractZoneField(unit, zone)
                } else {
                    UnaryFunc::DatePartZoneField(unit, zone)
                };
                return Ok(t.unary(func));
            }
            _ => return Ok(t.unary(UnaryFunc::TimestampTzToLocal(zone)).unary(func)),
        }
    }
    Ok(t.unary(func))
}

/// The aggregates one aggregate call computes, and its value over the grouped
/// relation given that those aggregates land in columns `first_column..`.
pub struct PlannedAggregate {
    pub aggregates: Vec<AggregateExpr>,
    pub value: Typed,
}

/// Plans an aggregate call over the ungrouped input (`ecx`).
pub fn plan_aggregate(
    ecx: &ExprContext,
    f: &Function,
    first_column: usize,
) -> Result<PlannedAggregate, SqlError> {
    let scx = ecx.scx;
    let name = function_name(f)?;
    if matches!(
        name.as_str(),
        "percentile_cont" | "percentile_disc" | "mode"
    ) {
        return plan_ordered_set_aggregate(ecx, f, &name, first_column);
    }
    if !f.within_group.is_empty() || f.null_treatment.is_some() {
        return Err(SqlError::unsupported(format!("this form of {name}")));
    }
    let distinct = is_distinct(f);
    let arg_exprs = argument_exprs(f, &name)?.unwrap_or_default();
    let filter = f
        .filter
        .as_deref()
        .map(|cond| expr::plan_condition(&ecx.with_clause("FILTER"), cond))
        .transpose()?;
    let is_count_star =
        name == "count" && matches!(arg_exprs.as_slice(), [FunctionArgExpr::Wildcard]);
    let args: Vec<CExpr> = if is_count_star {
        if distinct {
            return Err(SqlError::syntax("syntax error at or near \"*\""));
        }
        vec![Typed::literal(Datum::Bool(true), ScalarType::Bool).into()]
    } else {
        arg_exprs
            .iter()
            .map(|a| match a {
                FunctionArgExpr::Expr(e) => expr::plan_expr(ecx, e),
                _ => Err(SqlError::syntax("syntax error at or near \"*\"")),
            })
            .collect::<Result<_, _>>()?
    };
    let sig = if is_count_star {
        "count(*)".to_string()
    } else {
        signature(&name, &args)
    };
    if matches!(name.as_str(), "string_agg" | "array_agg" | "jsonb_agg") {
        let call = CollectingCall {
            name: &name,
            args,
            order_by: aggregate_order_by(f),
            filter,
            distinct,
            sig: &sig,
        };
        return plan_collecting_aggregate(ecx, call, first_column);
    }
    let [arg] = <[CExpr; 1]>::try_from(args).map_err(|_| {
        if AGGREGATES.contains(&name.as_str())
            && !matches!(
                name.as_str(),
                "count" | "sum" | "min" | "max" | "avg" | "bool_and" | "bool_or" | "every"
            )
        {
            SqlError::unsupported(format!("aggregate {name}"))
        } else {
            SqlError::function_does_not_exist(&sig)
        }
    })?;
    let arg: Typed = match name.as_str() {
        "count" => scx.finalize(arg),
        "sum" | "avg" => match arg {
            CExpr::Typed(t) if t.scalar_type().is_numeric() => t,
            CExpr::Typed(t) if t.scalar_type() == ScalarType::Interval && name == "sum" => t,
            CExpr::Typed(t) if t.scalar_type() == ScalarType::Interval => {
                return Err(SqlError::unsupported("avg(interval)"))
            }
            CExpr::Typed(_) => return Err(SqlError::function_does_not_exist(&sig)),
            _ => return Err(SqlError::function_not_unique(&sig)),
        },
        "min" | "max" => {
            let t = scx.finalize(arg);
            match t.scalar_type() {
                ScalarType::Bool | ScalarType::Jsonb => {
                    return Err(SqlError::function_does_not_exist(&sig))
                }
                t if t.is_array() => return Err(SqlError::function_does_not_exist(&sig)),
                _ => t,
            }
        }
        "bool_and" | "bool_or" | "every" => match arg {
            CExpr::Typed(t) if t.scalar_type() != ScalarType::Bool => {
                return Err(SqlError::function_does_not_exist(&sig))
            }
            other => scx.resolve_unknown(other, ScalarType::Bool, CastKind::Explicit)?,
        },
        _ => return Err(SqlError::unsupported(format!("aggregate {name}"))),
    };
    // FILTER (WHERE cond): the aggregate sees NULL for rows that fail the condition.
    let arg = filtered(filter.as_ref(), arg);
    // Postgres plans an aggregate's ORDER BY, and evaluates it, even where the order
    // does not change the result: a key that does not resolve, or fails on a row the
    // FILTER keeps, is the query's error.
    let order_by = plan_aggregate_order(ecx, aggregate_order_by(f), filter.as_ref())?;
    let single = |func: AggregateFunc| {
        let typ = func.output_type(arg.typ);
        PlannedAggregate {
            aggregates: vec![AggregateExpr {
                func,
                expr: arg.expr.clone(),
                distinct,
                order_by: order_by.clone(),
            }],
            value: Typed::new(MirScalarExpr::Column(first_column), typ),
        }
    };
    Ok(match name.as_str() {
        "count" => single(AggregateFunc::Count),
        "sum" => single(AggregateFunc::Sum),
        "min" => single(AggregateFunc::Min),
        "max" => single(AggregateFunc::Max),
        "bool_and" | "every" => single(AggregateFunc::BoolAnd),
        "bool_or" => single(AggregateFunc::BoolOr),
        "avg" => plan_avg(arg, distinct, order_by, first_column),
        _ => return Err(SqlError::unsupported(format!("aggregate {name}"))),
    })
}

/// The `ORDER BY` inside an aggregate call's parentheses.
fn aggregate_order_by(f: &Function) -> &[OrderByExpr] {
    match &f.args {
        FunctionArguments::List(list) => list
            .clauses
            .iter()
            .find_map(|c| match c {
                FunctionArgumentClause::OrderBy(order) => Some(order.as_slice()),
                _ => None,
            })
            .unwrap_or(&[]),
        _ => &[],
    }
}

/// `typed` where `filter` holds and NULL elsewhere: what an aggregate with
/// `FILTER (WHERE filter)` sees of a row.
fn filtered(filter: Option<&Typed>, typed: Typed) -> Typed {
    let Some(cond) = filter else {
        return typed;
    };
    let scalar_type = typed.typ.scalar_type;
    Typed::new(
        MirScalarExpr::If {
            cond: Box::new(cond.expr.clone()),
            then: Box::new(typed.expr),
            els: Box::new(MirScalarExpr::literal_null(scalar_type)),
        },
        scalar_type.nullable(true),
    )
}

/// The keys of an aggregate call's `ORDER BY`, planned; each is NULL on the rows that
/// `filter` (the call's FILTER) drops, so that it is evaluated only on those it keeps.
fn plan_aggregate_order(
    ecx: &ExprContext,
    order_by: &[OrderByExpr],
    filter: Option<&Typed>,
) -> Result<Vec<AggregateOrder>, SqlError> {
    order_by
        .iter()
        .map(|o| {
            let key = expr::plan_typed(&ecx.with_clause("ORDER BY"), &o.expr)?;
            let key = filtered(filter, key);
            let (desc, nulls_last) = crate::query::order_direction(o);
            Ok(AggregateOrder {
                expr: key.expr,
                desc,
                nulls_last,
            })
        })
        .collect()
}

/// A call of a collecting aggregate, its arguments planned.
struct CollectingCall<'a> {
    name: &'a str,
    args: Vec<CExpr>,
    order_by: &'a [OrderByExpr],
    filter: Option<Typed>,
    distinct: bool,
    sig: &'a str,
}

/// `string_agg(x, delimiter [ORDER BY ...])` and `array_agg(x [ORDER BY ...])`, which
/// collect their group's values. The delimiter must be a constant; `array_agg`
/// collects `text`, `smallint` and `oid` values (the element types Eddy has arrays of).
fn plan_collecting_aggregate(
    ecx: &ExprContext,
    call: CollectingCall,
    first_column: usize,
) -> Result<PlannedAggregate, SqlError> {
    let scx = ecx.scx;
    let sig = call.sig;
    let arity = call.args.len();
    let mut args = call.args.into_iter();
    let (value, func) = match (call.name, arity) {
        ("string_agg", 2) => {
            let value = match args.next().expect("two arguments") {
                CExpr::Typed(t) if !t.scalar_type().is_string() => {
                    return Err(SqlError::function_does_not_exist(sig))
                }
                other => scx.resolve_unknown(other, ScalarType::Text, CastKind::Explicit)?,
            };
            let delimiter = text_arg(scx, args.next().expect("two arguments"), sig)?;
            let delimiter = match delimiter.expr.as_literal() {
                Some(Datum::String(d)) => Some(d.to_string()),
                Some(Datum::Null) => None,
                _ => {
                    return Err(SqlError::unsupported(
                        "string_agg with a delimiter that is not a constant",
                    ))
                }
            };
            (value, AggregateFunc::StringAgg { delimiter })
        }
        ("array_agg", 1) => {
            let value = scx.finalize(args.next().expect("one argument"));
            if value.scalar_type().array_type().is_none() {
                return Err(SqlError::unsupported(format!(
                    "array_agg of type {}",
                    value.scalar_type().sql_name()
                )));
            }
            (value, AggregateFunc::ArrayAgg)
        }
        ("jsonb_agg", 1) => match args.next().expect("one argument") {
            CExpr::Typed(value) => (scx.jsonb_input(value), AggregateFunc::JsonbAgg),
            _ => return Err(polymorphic_unknown()),
        },
        _ => return Err(SqlError::function_does_not_exist(sig)),
    };
    // FILTER (WHERE cond): string_agg skips NULLs, so a filtered-out row is a NULL;
    // array_agg collects NULLs too.
    let value = match (call.filter, &func) {
        (None, _) => value,
        (Some(cond), AggregateFunc::StringAgg { .. }) => filtered(Some(&cond), value),
        (Some(_), _) => {
            return Err(SqlError::unsupported(format!(
                "FILTER in a call of {}",
                call.name
            )))
        }
    };
    let order_by = plan_aggregate_order(ecx, call.order_by, None)?;
    if call.distinct && order_by.iter().any(|o| o.expr != value.expr) {
        return Err(SqlError::new(
            SqlState::INVALID_COLUMN_REFERENCE,
            "in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list",
        ));
    }
    let typ = func.output_type(value.typ);
    Ok(PlannedAggregate {
        aggregates: vec![AggregateExpr {
            func,
            expr: value.expr,
            distinct: call.distinct,
            order_by,
        }],
        value: Typed::new(MirScalarExpr::Column(first_column), typ),
    })
}

/// The ordered-set aggregates `percentile_cont(f)`, `percentile_disc(f)` and `mode()`,
/// each `WITHIN GROUP (ORDER BY x)`: collecting aggregates over `x` in that order. The
/// fraction must be a constant (Postgres also takes an expression of the group).
fn plan_ordered_set_aggregate(
    ecx: &ExprContext,
    f: &Function,
    name: &str,
    first_column: usize,
) -> Result<PlannedAggregate, SqlError> {
    let scx = ecx.scx;
    if f.within_group.is_empty() {
        return Err(SqlError::new(
            SqlState::WRONG_OBJECT_TYPE,
            format!("WITHIN GROUP is required for ordered-set aggregate {name}"),
        ));
    }
    if is_distinct(f) || f.null_treatment.is_some() || !aggregate_order_by(f).is_empty() {
        return Err(SqlError::unsupported(format!("this form of {name}")));
    }
    let args = argument_exprs(f, name)?
        .unwrap_or_default()
        .into_iter()
        .map(|a| match a {
            FunctionArgExpr::Expr(e) => expr::plan_expr(ecx, e),
            _ => Err(SqlError::syntax("syntax error at or near \"*\"")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let [order] = f.within_group.as_slice() else {
        return Err(SqlError::function_does_not_exist(format!(
            "{name} with {} ORDER BY keys in WITHIN GROUP",
            f.within_group.len()
        )));
    };
    let key = expr::plan_typed(&ecx.with_clause("WITHIN GROUP"), &order.expr)?;
    let sig = format!(
        "{name}({})",
        args.iter()
            .map(CExpr::type_name)
            .chain([key.scalar_type().sql_name().to_string()])
            .collect::<Vec<_>>()
            .join(", ")
    );
    let fraction = |args: Vec<CExpr>| -> Result<Option<eddy_repr::OrdF64>, SqlError> {
        let [arg] =
            <[CExpr; 1]>::try_from(args).map_err(|_| SqlError::function_does_not_exist(&sig))?;
        let typed = scx
            .coerce(arg, ScalarType::Float64, types::CastContext::Implicit)?
            .map_err(|_| SqlError::function_does_not_exist(&sig))?
            .cast(ScalarType::Float64, CastKind::Explicit);
        let mut folded = typed.expr;
        if folded.support().is_empty() {
            eddy_expr::optimize::fold_scalar(&mut folded, &[]);
        }
        match folded.as_literal() {
            // Postgres checks the fraction even over no rows: here, once.
            Some(Datum::Float64(v)) if !(0.0..=1.0).contains(&v.0) => {
                Err(EvalError::PercentileOutOfRange(v.0.to_string()).into())
            }
            Some(Datum::Float64(v)) => Ok(Some(*v)),
            Some(Datum::Null) => Ok(None),
            _ => Err(SqlError::unsupported(format!(
                "{name} with a fraction that is not a constant"
            ))),
        }
    };
    let (func, value) = match name {
        "percentile_cont" => {
            let fraction = fraction(args)?;
            let value = match key.scalar_type() {
                t if t.is_numeric() => key.cast(ScalarType::Float64, CastKind::Explicit),
                ScalarType::Interval => {
                    return Err(SqlError::unsupported("percentile_cont over intervals"))
                }
                _ => return Err(SqlError::function_does_not_exist(&sig)),
            };
            (AggregateFunc::PercentileCont { fraction }, value)
        }
        "percentile_disc" => (
            AggregateFunc::PercentileDisc {
                fraction: fraction(args)?,
            },
            key,
        ),
        _ => {
            if !args.is_empty() {
                return Err(SqlError::function_does_not_exist(&sig));
            }
            (AggregateFunc::Mode, key)
        }
    };
    if value.scalar_type() == ScalarType::Jsonb || value.scalar_type().is_array() {
        return Err(SqlError::unsupported(format!(
            "{name} over type {}",
            value.scalar_type().sql_name()
        )));
    }
    // These aggregates skip NULLs, so FILTER (WHERE cond) turns a filtered-out row's
    // value into NULL.
    let filter = f
        .filter
        .as_deref()
        .map(|cond| expr::plan_condition(&ecx.with_clause("FILTER"), cond))
        .transpose()?;
    let input = filtered(filter.as_ref(), value.clone());
    let (desc, nulls_last) = crate::query::order_direction(order);
    let typ = func.output_type(input.typ);
    Ok(PlannedAggregate {
        aggregates: vec![AggregateExpr {
            func,
            expr: input.expr,
            distinct: false,
            order_by: vec![AggregateOrder {
                expr: value.expr,
                desc,
                nulls_last,
            }],
        }],
        value: Typed::new(MirScalarExpr::Column(first_column), typ),
    })
}

/// `avg(x)` as `sum(x) / count(x)`: numeric for integer and numeric input, double
/// precision for floats; NULL when no value was counted.
fn plan_avg(
    arg: Typed,
    distinct: bool,
    order_by: Vec<AggregateOrder>,
    first_column: usize,
) -> PlannedAggregate {
    let result_type = if types::is_float(&arg.scalar_type()) {
        ScalarType::Float64
    } else {
        NUMERIC
    };
    let sum_type = AggregateFunc::Sum.output_type(arg.typ);
    let count_type = AggregateFunc::Count.output_type(arg.typ);
    let sum = Typed::new(MirScalarExpr::Column(first_column), sum_type);
    let count = Typed::new(MirScalarExpr::Column(first_column + 1), count_type);
    let zero = Typed::literal(Datum::Int64(0), ScalarType::Int64);
    let is_empty = count.clone().binary(zero, BinaryFunc::Eq);
    let quotient = sum
        .cast(result_type, CastKind::Explicit)
        .binary(count.cast(result_type, CastKind::Explicit), BinaryFunc::Div);
    let value = Typed::new(
        MirScalarExpr::If {
            cond: Box::new(is_empty.expr),
            then: Box::new(MirScalarExpr::literal_null(result_type)),
            els: Box::new(quotient.expr),
        },
        result_type.nullable(true),
    );
    PlannedAggregate {
        aggregates: vec![
            AggregateExpr {
                func: AggregateFunc::Sum,
                expr: arg.expr.clone(),
                distinct,
                order_by,
            },
            AggregateExpr {
                func: AggregateFunc::Count,
                expr: arg.expr,
                distinct,
                order_by: vec![],
            },
        ],
        value,
    }
}
