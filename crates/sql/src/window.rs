//! Event-time windows in FROM: `TUMBLE(relation, ts, size)` and
//! `HOP(relation, ts, size, slide)`.
//!
//! Both yield the relation's columns followed by `window_start` and `window_end`, of
//! the type of `ts` (`timestamp` or `timestamptz`). Windows are half-open,
//! `window_start <= ts < window_end`, and aligned to the Unix epoch, so `TUMBLE`'s
//! `window_start` is `date_bin(size, ts, '1970-01-01')`, and grouping by `date_bin` or
//! by `date_trunc` to a unit that divides a day gives the same groups. A row whose `ts`
//! is NULL is in no window.
//!
//! Plans: `TUMBLE` is a `Filter` (ts not NULL) and a `Map` of the two bounds, one row
//! out per row in. `HOP` is a `FlatMap` of [`TableFunc::HopWindowStarts`] and a `Map`
//! of the end: `ceil(size / slide)` rows out per row in (at most
//! [`HOP_WINDOWS_PER_ROW_MAX`]). Neither keeps state: the windows are columns, and what
//! groups them (a `Reduce`) is the ordinary one.
//!
//! Sizes and slides are constant intervals without months or years (their length
//! varies), as `date_bin` requires of its stride. The relation is a name (table,
//! stream, view or CTE); `ts` is any expression over its columns.

use eddy_expr::optimize::fold_scalar;
use eddy_expr::{BinaryFunc, MirRelationExpr, MirScalarExpr, TableCall, TableFunc, UnaryFunc};
use eddy_repr::{Datum, ScalarType, SqlError, SqlState};
use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, ObjectName, TableAlias, TableFunctionArgs,
};

use crate::context::{CExpr, StatementContext, Typed};
use crate::expr::{self, ExprContext};
use crate::names::normalize_ident;
use crate::query::{plan_relation_name, rename_columns};
use crate::scope::{Scope, TableRef};
use crate::types::CastContext;

/// How many windows one row may fall in under `HOP` (`size / slide`): a bound on the
/// fan-out of every update.
pub const HOP_WINDOWS_PER_ROW_MAX: i64 = 1_000;

/// Which window function a FROM item calls, if it is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    Tumble,
    Hop,
}

impl WindowKind {
    /// The window function `name` (one part, any case) calls, if any.
    pub fn from_name(name: &ObjectName) -> Option<WindowKind> {
        let [part] = name.0.as_slice() else {
            return None;
        };
        let ident = part.as_ident()?;
        match normalize_ident(ident).as_str() {
            "tumble" => Some(WindowKind::Tumble),
            "hop" => Some(WindowKind::Hop),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            WindowKind::Tumble => "TUMBLE",
            WindowKind::Hop => "HOP",
        }
    }

    fn signature(self) -> &'static str {
        match self {
            WindowKind::Tumble => "TUMBLE(relation, timestamp column, size interval)",
            WindowKind::Hop => "HOP(relation, timestamp column, size interval, slide interval)",
        }
    }
}

/// Plans `kind(args)` in FROM, named `alias` if given.
pub fn plan_window(
    scx: &StatementContext,
    kind: WindowKind,
    args: &TableFunctionArgs,
    alias: &Option<TableAlias>,
) -> Result<(MirRelationExpr, Scope), SqlError> {
    let wrong = || {
        SqlError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!("{} takes {}", kind.name(), kind.signature()),
        )
    };
    let exprs = args
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
            _ => Err(wrong()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let want = match kind {
        WindowKind::Tumble => 3,
        WindowKind::Hop => 4,
    };
    if exprs.len() != want || args.settings.is_some() {
        return Err(wrong());
    }
    let relation = match exprs[0] {
        Expr::Identifier(ident) => ObjectName::from(vec![ident.clone()]),
        Expr::CompoundIdentifier(idents) => ObjectName::from(idents.clone()),
        _ => {
            return Err(SqlError::new(
                SqlState::SYNTAX_ERROR,
                format!("the first argument of {} must name a relation", kind.name()),
            ))
        }
    };
    let (input, mut names, table) = plan_relation_name(scx, &relation)?;
    let typ = input.typ();
    let scope = Scope::from_names(Some(table.clone()), &names);
    let ecx = ExprContext::new(scx, &scope, &typ, kind.name());
    let ts = match expr::plan_expr(&ecx, exprs[1])? {
        CExpr::Typed(t)
            if matches!(
                t.scalar_type(),
                ScalarType::Timestamp | ScalarType::TimestampTz
            ) =>
        {
            t
        }
        other => {
            let shown = other
                .scalar_type()
                .map(|t| t.sql_name())
                .unwrap_or_else(|| "unknown".into());
            return Err(SqlError::new(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "the time column of {} must be timestamp or timestamp with time zone, not {shown}",
                    kind.name()
                ),
            ));
        }
    };
    let size = constant_interval(scx, kind, exprs[2], "size")?;
    let size_micros = eddy_expr::eval::bin_stride_micros(&size)?;
    let ts_type = ts.scalar_type();
    let n = typ.len();
    let end = MirScalarExpr::Column(n).call_binary(
        MirScalarExpr::literal(Datum::Interval(size), ScalarType::Interval.nullable(false)),
        BinaryFunc::Add,
    );
    let rel = match kind {
        WindowKind::Tumble => {
            let epoch = match ts_type {
                ScalarType::Timestamp => Datum::Timestamp(chrono::DateTime::UNIX_EPOCH.naive_utc()),
                _ => Datum::TimestampTz(chrono::DateTime::UNIX_EPOCH),
            };
            let start = MirScalarExpr::CallVariadic {
                func: eddy_expr::VariadicFunc::DateBin,
                exprs: vec![
                    MirScalarExpr::literal(
                        Datum::Interval(size),
                        ScalarType::Interval.nullable(false),
                    ),
                    ts.expr.clone(),
                    MirScalarExpr::literal(epoch, ts_type.nullable(false)),
                ],
            };
            let not_null = ts
                .expr
                .call_unary(UnaryFunc::IsNull)
                .call_unary(UnaryFunc::Not);
            input.filter(vec![not_null]).map(vec![start, end])
        }
        WindowKind::Hop => {
            let slide = constant_interval(scx, kind, exprs[3], "slide")?;
            let slide_micros = eddy_expr::eval::bin_stride_micros(&slide)?;
            if (size_micros - 1) / slide_micros + 1 > HOP_WINDOWS_PER_ROW_MAX {
                return Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!(
                        "HOP puts each row in at most {HOP_WINDOWS_PER_ROW_MAX} windows (size / slide)"
                    ),
                ));
            }
            MirRelationExpr::FlatMap {
                input: Box::new(input),
                calls: vec![TableCall {
                    func: TableFunc::HopWindowStarts {
                        typ: ts_type,
                        size_micros,
                        slide_micros,
                    },
                    exprs: vec![ts.expr],
                }],
            }
            .map(vec![end])
        }
    };
    names.push("window_start".into());
    names.push("window_end".into());
    let table = match alias {
        Some(alias) => {
            let name = normalize_ident(&alias.name);
            rename_columns(&mut names, alias, &name)?;
            TableRef { schema: None, name }
        }
        None => table,
    };
    Ok((rel, Scope::from_names(Some(table), &names)))
}

/// A size or slide argument: a constant interval.
fn constant_interval(
    scx: &StatementContext,
    kind: WindowKind,
    arg: &Expr,
    what: &str,
) -> Result<eddy_repr::Interval, SqlError> {
    let scope = Scope::empty();
    let ecx = ExprContext::new(scx, &scope, &[], kind.name());
    let planned = expr::plan_expr(&ecx, arg)?;
    let not_interval = || {
        SqlError::new(
            SqlState::DATATYPE_MISMATCH,
            format!("the {what} of {} must be a constant interval", kind.name()),
        )
    };
    let Typed { mut expr, .. } = scx
        .coerce(planned, ScalarType::Interval, CastContext::Implicit)?
        .map_err(|_| not_interval())?;
    fold_scalar(&mut expr, &[]);
    match expr {
        MirScalarExpr::Literal(Ok(Datum::Interval(iv)), _) => Ok(iv),
        MirScalarExpr::Literal(Err(e), _) => Err(e.into()),
        _ => Err(not_interval()),
    }
}
