//! Planning window function calls (`f(...) OVER (...)`) in a select list and ORDER BY.
//!
//! Window functions run after GROUP BY and HAVING and before the select list's
//! set-returning functions, DISTINCT, ORDER BY and LIMIT, as in Postgres. Their
//! arguments, PARTITION BY and ORDER BY are planned like the select list (over the
//! grouped relation under GROUP BY). Calls with the same PARTITION BY and ORDER BY share
//! one [`MirRelationExpr::Window`]; each distinct pair adds another, stacked on the
//! previous one. A `Map` first appends every argument, key and frame-independent
//! parameter that is not already a column, so the window reads only columns. Each call
//! then reads as the column the window appended (or, for `avg`, an expression over the
//! `sum` and `count` columns), which `plan_expr` substitutes for the call.
//!
//! Frames: `ROWS`, `GROUPS` and `RANGE` with constant offsets (`RANGE` offsets over
//! one number, date or time ORDER BY key); `EXCLUDE` is refused with 0A000.

use std::ops::ControlFlow;

use eddy_expr::{
    ColumnOrder, FrameBound, FrameUnits, MirRelationExpr, MirScalarExpr, WindowExpr, WindowFrame,
    WindowFunc,
};
use eddy_repr::{Datum, ScalarType, SqlError, SqlState};
use sqlparser::ast::{
    self, DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    NamedWindowDefinition, NamedWindowExpr, OrderByExpr, WindowSpec, WindowType,
};

use crate::context::{CExpr, Typed};
use crate::expr::{self, ExprContext};
use crate::func;
use crate::names::normalize_ident;
use crate::types::CastContext;

/// The clause name window function arguments are planned in; a window call found
/// there is nested.
pub const WINDOW_ARGUMENTS: &str = "window function arguments";

/// Window function calls in `exprs` (each once, in order of appearance), at their own
/// query level.
pub fn collect_window_calls<'e>(exprs: impl IntoIterator<Item = &'e Expr>) -> Vec<Expr> {
    let mut found: Vec<Expr> = vec![];
    for e in exprs {
        let _ = expr::visit_query_level(e, |sub| {
            if matches!(sub, Expr::Function(f) if f.over.is_some()) && !found.contains(sub) {
                found.push(sub.clone());
            }
            ControlFlow::<()>::Continue(())
        });
    }
    found
}

/// The error for a window function call where none is allowed.
pub fn not_allowed(clause: &str) -> SqlError {
    if clause == WINDOW_ARGUMENTS {
        return SqlError::new(
            SqlState::WINDOWING_ERROR,
            "window function calls cannot be nested",
        );
    }
    SqlError::new(
        SqlState::WINDOWING_ERROR,
        format!("window functions are not allowed in {clause}"),
    )
}

/// A window's definition after named windows are resolved.
struct Definition<'a> {
    partition_by: &'a [Expr],
    order_by: &'a [OrderByExpr],
    frame: Option<&'a ast::WindowFrame>,
}

/// Resolves a named window (`OVER w`, or the base of `OVER (w ...)`).
fn resolve_named<'a>(
    named: &'a [NamedWindowDefinition],
    name: &ast::Ident,
    depth: usize,
) -> Result<Definition<'a>, SqlError> {
    if depth > named.len() {
        return Err(SqlError::new(
            SqlState::WINDOWING_ERROR,
            "window definitions refer to each other in a cycle",
        ));
    }
    let wanted = normalize_ident(name);
    match named.iter().find(|d| normalize_ident(&d.0) == wanted) {
        None => Err(SqlError::new(
            SqlState::UNDEFINED_OBJECT,
            format!("window \"{wanted}\" does not exist"),
        )),
        Some(NamedWindowDefinition(_, NamedWindowExpr::WindowSpec(spec))) => {
            resolve_spec(named, spec, depth + 1)
        }
        Some(NamedWindowDefinition(_, NamedWindowExpr::NamedWindow(other))) => {
            resolve_named(named, other, depth + 1)
        }
    }
}

/// Resolves an inline window `(base PARTITION BY ... ORDER BY ... frame)`, with
/// Postgres' rules for copying the named window `base`.
fn resolve_spec<'a>(
    named: &'a [NamedWindowDefinition],
    spec: &'a WindowSpec,
    depth: usize,
) -> Result<Definition<'a>, SqlError> {
    let Some(base_name) = &spec.window_name else {
        return Ok(Definition {
            partition_by: &spec.partition_by,
            order_by: &spec.order_by,
            frame: spec.window_frame.as_ref(),
        });
    };
    let base = resolve_named(named, base_name, depth)?;
    let name = normalize_ident(base_name);
    if !spec.partition_by.is_empty() {
        return Err(SqlError::new(
            SqlState::WINDOWING_ERROR,
            format!("cannot override PARTITION BY clause of window \"{name}\""),
        ));
    }
    if !spec.order_by.is_empty() && !base.order_by.is_empty() {
        return Err(SqlError::new(
            SqlState::WINDOWING_ERROR,
            format!("cannot override ORDER BY clause of window \"{name}\""),
        ));
    }
    if base.frame.is_some() {
        return Err(SqlError::new(
            SqlState::WINDOWING_ERROR,
            format!("cannot copy window \"{name}\" because it has a frame clause"),
        ));
    }
    Ok(Definition {
        partition_by: base.partition_by,
        order_by: if spec.order_by.is_empty() {
            base.order_by
        } else {
            &spec.order_by
        },
        frame: spec.window_frame.as_ref(),
    })
}

fn definition<'a>(
    named: &'a [NamedWindowDefinition],
    over: &'a WindowType,
) -> Result<Definition<'a>, SqlError> {
    match over {
        WindowType::WindowSpec(spec) => resolve_spec(named, spec, 0),
        WindowType::NamedWindow(name) => resolve_named(named, name, 0),
    }
}

/// The frame of a call, checked as Postgres checks it; `order_types` are the types of
/// the window's ORDER BY keys.
fn plan_frame(
    ecx: &ExprContext,
    frame: Option<&ast::WindowFrame>,
    order_types: &[ScalarType],
) -> Result<WindowFrame, SqlError> {
    let has_order = !order_types.is_empty();
    let Some(frame) = frame else {
        return Ok(WindowFrame::default_frame());
    };
    let units = match frame.units {
        ast::WindowFrameUnits::Rows => FrameUnits::Rows,
        ast::WindowFrameUnits::Range => FrameUnits::Range,
        ast::WindowFrameUnits::Groups if !has_order => {
            return Err(SqlError::new(
                SqlState::WINDOWING_ERROR,
                "GROUPS mode requires an ORDER BY clause",
            ))
        }
        ast::WindowFrameUnits::Groups => FrameUnits::Groups,
    };
    let windowing = |m: &str| SqlError::new(SqlState::WINDOWING_ERROR, m.to_string());
    let start = plan_bound(ecx, units, order_types, &frame.start_bound, "starting")?;
    let end = match &frame.end_bound {
        Some(b) => plan_bound(ecx, units, order_types, b, "ending")?,
        None => FrameBound::CurrentRow,
    };
    match (&start, &end) {
        (FrameBound::UnboundedFollowing, _) => {
            return Err(windowing("frame start cannot be UNBOUNDED FOLLOWING"))
        }
        (_, FrameBound::UnboundedPreceding) => {
            return Err(windowing("frame end cannot be UNBOUNDED PRECEDING"))
        }
        (FrameBound::CurrentRow, FrameBound::Preceding(_) | FrameBound::ValuePreceding(_)) => {
            return Err(windowing(
                "frame starting from current row cannot have preceding rows",
            ))
        }
        (
            FrameBound::Following(_) | FrameBound::ValueFollowing(_),
            FrameBound::Preceding(_) | FrameBound::ValuePreceding(_) | FrameBound::CurrentRow,
        ) => {
            return Err(windowing(
                "frame starting from following row cannot have preceding rows",
            ))
        }
        _ => {}
    }
    // Days and months move the wall-clock time in the session's zone (a frame over a
    // `timestamptz` key keeps the zone it was planned in, as a view does).
    let moves_wall_clock = |b: &FrameBound| match b {
        FrameBound::ValuePreceding(Datum::Interval(iv))
        | FrameBound::ValueFollowing(Datum::Interval(iv)) => iv.months != 0 || iv.days != 0,
        _ => false,
    };
    let zone = ecx.scx.zone();
    let zone = (order_types == [ScalarType::TimestampTz]
        && !zone.is_utc()
        && (moves_wall_clock(&start) || moves_wall_clock(&end)))
    .then(|| zone.name());
    Ok(WindowFrame {
        units,
        start,
        end,
        zone,
    })
}

fn plan_bound(
    ecx: &ExprContext,
    units: FrameUnits,
    order_types: &[ScalarType],
    bound: &ast::WindowFrameBound,
    which: &str,
) -> Result<FrameBound, SqlError> {
    if units == FrameUnits::Range {
        let value = match bound {
            ast::WindowFrameBound::Preceding(Some(e))
            | ast::WindowFrameBound::Following(Some(e)) => range_offset(ecx, order_types, e)?,
            ast::WindowFrameBound::CurrentRow => return Ok(FrameBound::CurrentRow),
            ast::WindowFrameBound::Preceding(None) => return Ok(FrameBound::UnboundedPreceding),
            ast::WindowFrameBound::Following(None) => return Ok(FrameBound::UnboundedFollowing),
        };
        return Ok(match bound {
            ast::WindowFrameBound::Preceding(_) => FrameBound::ValuePreceding(value),
            _ => FrameBound::ValueFollowing(value),
        });
    }
    let offset = |e: &Expr| -> Result<u64, SqlError> {
        let planned = expr::plan_expr(&ecx.with_clause("window frame offsets"), e)?;
        let mut planned = match ecx
            .scx
            .coerce(planned, ScalarType::Int64, CastContext::Implicit)?
        {
            Ok(t) => t,
            Err(typ) => {
                let mode = if units == FrameUnits::Rows {
                    "ROWS"
                } else {
                    "GROUPS"
                };
                return Err(SqlError::datatype_mismatch(format!(
                    "argument of {mode} must be type bigint, not type {typ}"
                )));
            }
        };
        eddy_expr::optimize::fold_scalar(&mut planned.expr, &[]);
        match planned.expr.as_literal() {
            Some(Datum::Int64(n)) if *n >= 0 => Ok(*n as u64),
            Some(Datum::Int64(_)) => Err(SqlError::new(
                SqlState::INVALID_PRECEDING_OR_FOLLOWING_SIZE,
                format!("frame {which} offset must not be negative"),
            )),
            Some(Datum::Null) => Err(SqlError::new(
                SqlState::NULL_VALUE_NOT_ALLOWED,
                format!("frame {which} offset must not be null"),
            )),
            _ => Err(SqlError::unsupported_plural(
                "window frame offsets that are not constants",
            )),
        }
    };
    Ok(match bound {
        ast::WindowFrameBound::CurrentRow => FrameBound::CurrentRow,
        ast::WindowFrameBound::Preceding(None) => FrameBound::UnboundedPreceding,
        ast::WindowFrameBound::Following(None) => FrameBound::UnboundedFollowing,
        ast::WindowFrameBound::Preceding(Some(e)) => FrameBound::Preceding(offset(e)?),
        ast::WindowFrameBound::Following(Some(e)) => FrameBound::Following(offset(e)?),
    })
}

/// A `RANGE` frame's offset: a constant of the type `in_range` takes for the single
/// ORDER BY key (the key's number type, or `interval` for date and time keys).
fn range_offset(
    ecx: &ExprContext,
    order_types: &[ScalarType],
    e: &Expr,
) -> Result<Datum, SqlError> {
    let [key] = order_types else {
        return Err(SqlError::new(
            SqlState::WINDOWING_ERROR,
            "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column",
        ));
    };
    let offset_type = match key {
        ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64 => Some(ScalarType::Int64),
        ScalarType::Float32 | ScalarType::Float64 => Some(ScalarType::Float64),
        ScalarType::Numeric { .. } => Some(ScalarType::Numeric {
            precision: None,
            scale: None,
        }),
        ScalarType::Date
        | ScalarType::Timestamp
        | ScalarType::TimestampTz
        | ScalarType::Interval => Some(ScalarType::Interval),
        _ => None,
    };
    let planned = expr::plan_expr(&ecx.with_clause("window frame offsets"), e)?;
    let unsupported = |offset: &str| {
        SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!(
                "RANGE with offset PRECEDING/FOLLOWING is not supported for column type {} and offset type {offset}",
                key.sql_name()
            ),
        )
    };
    let Some(offset_type) = offset_type else {
        return Err(SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!(
                "RANGE with offset PRECEDING/FOLLOWING is not supported for column type {}",
                key.sql_name()
            ),
        ));
    };
    let type_name = planned.type_name();
    let mut planned = match ecx
        .scx
        .coerce(planned, offset_type, CastContext::Implicit)?
    {
        Ok(t) => t,
        Err(_) => return Err(unsupported(&type_name)),
    };
    eddy_expr::optimize::fold_scalar(&mut planned.expr, &[]);
    let Some(value) = planned.expr.as_literal().cloned() else {
        return Err(SqlError::unsupported_plural(
            "window frame offsets that are not constants",
        ));
    };
    let negative = match &value {
        Datum::Null => {
            return Err(SqlError::new(
                SqlState::NULL_VALUE_NOT_ALLOWED,
                "frame offset must not be null",
            ))
        }
        Datum::Int64(v) => *v < 0,
        Datum::Float64(v) => v.0 < 0.0 || v.0.is_nan(),
        Datum::Numeric(v) => v.is_negative(),
        Datum::Interval(v) => v.as_micros_approx() < 0,
        _ => false,
    };
    if negative {
        return Err(SqlError::new(
            SqlState::INVALID_PRECEDING_OR_FOLLOWING_SIZE,
            "invalid preceding or following size in window function",
        ));
    }
    Ok(value)
}

/// The planned calls of one window (partition and order), before they get columns.
struct Window {
    partition: Vec<MirScalarExpr>,
    order: Vec<(MirScalarExpr, bool, bool)>,
    /// Each function, with the expressions it reads (in `WindowFunc::columns` order).
    functions: Vec<(WindowFunc, Vec<MirScalarExpr>, WindowFrame)>,
}

/// One call: which functions of which window it became, and its value over them
/// (columns `0..` standing for the call's functions).
struct Call {
    window: usize,
    first: usize,
    value: Typed,
}

/// Plans `calls` over `rel` (the relation `ecx` plans over), appending the windows;
/// returns each call with its value over the new `rel`. In a correlated subquery the
/// first `prefix` columns of `rel` hold the outer row's values: every window is
/// partitioned by them first, so each outer row sees only its own rows.
pub fn plan_window_calls(
    ecx: &ExprContext,
    rel: &mut MirRelationExpr,
    prefix: usize,
    named: &[NamedWindowDefinition],
    calls: Vec<Expr>,
) -> Result<Vec<(Expr, Typed)>, SqlError> {
    let arg_ecx = ecx.with_clause(WINDOW_ARGUMENTS);
    let mut windows: Vec<Window> = vec![];
    let mut planned: Vec<Call> = vec![];
    for call in &calls {
        let Expr::Function(f) = call else {
            unreachable!("collected calls are functions")
        };
        let over = f.over.as_ref().expect("collected calls have OVER");
        let def = definition(named, over)?;
        let mut partition: Vec<MirScalarExpr> = (0..prefix).map(MirScalarExpr::Column).collect();
        for e in def.partition_by {
            partition.push(expr::plan_typed(&arg_ecx, e)?.expr);
        }
        let mut order = vec![];
        let mut order_types = vec![];
        for o in def.order_by {
            let (desc, nulls_last) = crate::query::order_direction(o);
            let key = expr::plan_typed(&arg_ecx, &o.expr)?;
            order_types.push(key.scalar_type());
            order.push((key.expr, desc, nulls_last));
        }
        let frame = plan_frame(&arg_ecx, def.frame, &order_types)?;
        let (functions, value) = plan_call(&arg_ecx, f, &frame)?;
        let window = match windows
            .iter()
            .position(|w| w.partition == partition && w.order == order)
        {
            Some(i) => i,
            None => {
                windows.push(Window {
                    partition,
                    order,
                    functions: vec![],
                });
                windows.len() - 1
            }
        };
        let first = windows[window].functions.len();
        windows[window].functions.extend(functions);
        planned.push(Call {
            window,
            first,
            value,
        });
    }
    // Build each window over the previous one; remember where its functions landed.
    let mut outputs_at = vec![];
    for w in windows {
        let base = rel.arity();
        let mut map: Vec<MirScalarExpr> = vec![];
        let mut column_of = |e: &MirScalarExpr| -> usize {
            if let MirScalarExpr::Column(c) = e {
                return *c;
            }
            match map.iter().position(|m| m == e) {
                Some(i) => base + i,
                None => {
                    map.push(e.clone());
                    base + map.len() - 1
                }
            }
        };
        let partition_key: Vec<usize> = w.partition.iter().map(&mut column_of).collect();
        let order_key: Vec<ColumnOrder> = w
            .order
            .iter()
            .map(|(e, desc, nulls_last)| ColumnOrder {
                column: column_of(e),
                desc: *desc,
                nulls_last: *nulls_last,
            })
            .collect();
        let functions: Vec<WindowExpr> = w
            .functions
            .into_iter()
            .map(|(func, args, frame)| WindowExpr {
                func: with_columns(func, args.iter().map(&mut column_of).collect()),
                frame,
            })
            .collect();
        let input = std::mem::replace(rel, crate::query::unit_relation()).map(map);
        outputs_at.push(input.arity());
        *rel = MirRelationExpr::Window {
            input: Box::new(input),
            partition_key,
            order_key,
            functions,
        };
    }
    Ok(calls
        .into_iter()
        .zip(planned)
        .map(|(call, p)| {
            let mut value = p.value;
            let at = outputs_at[p.window] + p.first;
            value.expr.permute(&|c| at + c);
            (call, value)
        })
        .collect())
}

/// `func` reading `columns` (in `WindowFunc::columns` order).
fn with_columns(func: WindowFunc, columns: Vec<usize>) -> WindowFunc {
    let c = |i: usize| columns[i];
    match func {
        WindowFunc::Ntile { .. } => WindowFunc::Ntile { buckets: c(0) },
        WindowFunc::Lag { .. } => WindowFunc::Lag {
            value: c(0),
            offset: c(1),
            default: c(2),
        },
        WindowFunc::Lead { .. } => WindowFunc::Lead {
            value: c(0),
            offset: c(1),
            default: c(2),
        },
        WindowFunc::FirstValue { .. } => WindowFunc::FirstValue { value: c(0) },
        WindowFunc::LastValue { .. } => WindowFunc::LastValue { value: c(0) },
        WindowFunc::NthValue { .. } => WindowFunc::NthValue {
            value: c(0),
            n: c(1),
        },
        WindowFunc::Aggregate { func, .. } => WindowFunc::Aggregate { func, value: c(0) },
        other => other,
    }
}

type PlannedFunctions = Vec<(WindowFunc, Vec<MirScalarExpr>, WindowFrame)>;

/// Plans one call: its functions (with their argument expressions) and its value over
/// their results (column `i` for the call's `i`-th function).
fn plan_call(
    ecx: &ExprContext,
    f: &Function,
    frame: &WindowFrame,
) -> Result<(PlannedFunctions, Typed), SqlError> {
    let name = func::function_name(f)?;
    if f.null_treatment.is_some() {
        return Err(SqlError::unsupported("IGNORE NULLS and RESPECT NULLS"));
    }
    // As in Postgres: an ordered-set aggregate has no window form.
    if matches!(
        name.as_str(),
        "percentile_cont" | "percentile_disc" | "mode"
    ) {
        return Err(SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!("OVER is not supported for ordered-set aggregate {name}"),
        ));
    }
    if !f.within_group.is_empty() {
        return Err(SqlError::unsupported(format!(
            "WITHIN GROUP in a call of {name}"
        )));
    }
    if func::AGGREGATES.contains(&name.as_str()) {
        return plan_aggregate_call(ecx, f, &name, frame);
    }
    if f.filter.is_some() {
        return Err(SqlError::unsupported(
            "FILTER for non-aggregate window functions",
        ));
    }
    let args: Vec<CExpr> = match &f.args {
        FunctionArguments::None => vec![],
        FunctionArguments::List(list) => {
            if list.duplicate_treatment == Some(DuplicateTreatment::Distinct) {
                return Err(SqlError::new(
                    SqlState::WRONG_OBJECT_TYPE,
                    format!("DISTINCT specified, but {name} is not an aggregate function"),
                ));
            }
            if !list.clauses.is_empty() {
                return Err(SqlError::unsupported_plural(format!(
                    "ORDER BY and other clauses in a call of {name}"
                )));
            }
            list.args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => expr::plan_expr(ecx, e),
                    _ => Err(SqlError::unsupported_plural(
                        "named or * arguments of window functions",
                    )),
                })
                .collect::<Result<_, _>>()?
        }
        FunctionArguments::Subquery(_) => {
            return Err(SqlError::unsupported_plural(
                "subqueries as function arguments",
            ))
        }
    };
    let sig = format!(
        "{name}({})",
        args.iter()
            .map(|a| a.type_name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let scx = ecx.scx;
    let int = |a: CExpr| -> Result<Typed, SqlError> {
        match scx.coerce(a, ScalarType::Int32, CastContext::Implicit)? {
            Ok(t) => Ok(t),
            Err(_) => Err(SqlError::function_does_not_exist(&sig)),
        }
    };
    let frame = frame.clone();
    let one = |func: WindowFunc, exprs: Vec<MirScalarExpr>, typ| {
        Ok((
            vec![(func, exprs, frame.clone())],
            Typed::new(MirScalarExpr::Column(0), typ),
        ))
    };
    let mut args = args.into_iter();
    let arity = args.len();
    let not_null = |t: ScalarType| t.nullable(false);
    match (name.as_str(), arity) {
        ("row_number", 0) => one(WindowFunc::RowNumber, vec![], not_null(ScalarType::Int64)),
        ("rank", 0) => one(WindowFunc::Rank, vec![], not_null(ScalarType::Int64)),
        ("dense_rank", 0) => one(WindowFunc::DenseRank, vec![], not_null(ScalarType::Int64)),
        ("percent_rank", 0) => one(
            WindowFunc::PercentRank,
            vec![],
            not_null(ScalarType::Float64),
        ),
        ("cume_dist", 0) => one(WindowFunc::CumeDist, vec![], not_null(ScalarType::Float64)),
        ("ntile", 1) => {
            let n = int(args.next().expect("one argument"))?;
            one(
                WindowFunc::Ntile { buckets: 0 },
                vec![n.expr],
                ScalarType::Int32.nullable(true),
            )
        }
        ("lag" | "lead", 1..=3) => {
            // `lag(anycompatible, integer, anycompatible)`: the value and the default
            // meet in a common type, without modifiers (`-1` beside a `numeric(10,2)`
            // stays `-1`).
            let value = scx.finalize(args.next().expect("an argument"));
            let offset = match args.next() {
                Some(a) => int(a)?,
                None => Typed::literal(Datum::Int32(1), ScalarType::Int32),
            };
            let default = args.next();
            let mut typ = value.typ.scalar_type.without_modifiers();
            if let Some(CExpr::Typed(d)) = &default {
                typ = crate::types::common_type(&typ, &d.typ.scalar_type)
                    .ok_or_else(|| SqlError::function_does_not_exist(&sig))?;
            }
            let to_common = |a: CExpr| -> Result<Typed, SqlError> {
                match scx.coerce(a, typ, CastContext::Implicit)? {
                    Ok(t) => Ok(t),
                    Err(_) => Err(SqlError::function_does_not_exist(&sig)),
                }
            };
            let value = to_common(value.into())?;
            let default = match default {
                Some(a) => to_common(a)?,
                None => Typed::null(typ),
            };
            let func = if name == "lag" {
                WindowFunc::Lag {
                    value: 0,
                    offset: 0,
                    default: 0,
                }
            } else {
                WindowFunc::Lead {
                    value: 0,
                    offset: 0,
                    default: 0,
                }
            };
            one(
                func,
                vec![value.expr, offset.expr, default.expr],
                typ.nullable(true),
            )
        }
        ("first_value" | "last_value", 1) => {
            let value = scx.finalize(args.next().expect("one argument"));
            let typ = value.typ.scalar_type.nullable(true);
            let func = if name == "first_value" {
                WindowFunc::FirstValue { value: 0 }
            } else {
                WindowFunc::LastValue { value: 0 }
            };
            one(func, vec![value.expr], typ)
        }
        ("nth_value", 2) => {
            let value = scx.finalize(args.next().expect("two arguments"));
            let n = int(args.next().expect("two arguments"))?;
            let typ = value.typ.scalar_type.nullable(true);
            one(
                WindowFunc::NthValue { value: 0, n: 0 },
                vec![value.expr, n.expr],
                typ,
            )
        }
        (
            "row_number" | "rank" | "dense_rank" | "percent_rank" | "cume_dist" | "ntile" | "lag"
            | "lead" | "first_value" | "last_value" | "nth_value",
            _,
        ) => Err(SqlError::function_does_not_exist(&sig)),
        _ => Err(SqlError::new(
            SqlState::WRONG_OBJECT_TYPE,
            format!(
                "OVER specified, but {name} is not a window function nor an aggregate function"
            ),
        )),
    }
}

/// An aggregate over a window frame: the aggregates it computes become window
/// functions (`avg` is `sum` and `count`), its value an expression over them.
fn plan_aggregate_call(
    ecx: &ExprContext,
    f: &Function,
    name: &str,
    frame: &WindowFrame,
) -> Result<(PlannedFunctions, Typed), SqlError> {
    if matches!(&f.args, FunctionArguments::List(l) if l.duplicate_treatment == Some(DuplicateTreatment::Distinct))
    {
        return Err(SqlError::unsupported_plural(
            "DISTINCT in window functions (Postgres does not implement it either)",
        ));
    }
    let planned = func::plan_aggregate(ecx, f, 0)?;
    let mut functions = vec![];
    for agg in planned.aggregates {
        if !agg.order_by.is_empty() || agg.func.is_collecting() {
            return Err(SqlError::unsupported(format!(
                "{name} as a window function"
            )));
        }
        functions.push((
            WindowFunc::Aggregate {
                func: agg.func,
                value: 0,
            },
            vec![agg.expr],
            frame.clone(),
        ));
    }
    Ok((functions, planned.value))
}
