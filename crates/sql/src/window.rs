//! Event-time windows in FROM: `TUMBLE(relation, ts, size)`,
//! `HOP(relation, ts, size, slide)` and `SESSION(relation, ts, gap [, key ...])`.
//!
//! All three yield the relation's columns followed by `window_start` and `window_end`, of
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
//! `SESSION` groups the rows of each partition (the rows equal on every `key`, NULLs
//! equal; one partition without keys) into sessions: sorted by `ts`, a row joins the
//! previous row's session when its `ts` is before that row's `ts + gap`, so an event
//! that falls between two sessions merges them and removing one can split a session.
//! `window_start` is the session's first `ts`, `window_end` its last `ts` plus the gap
//! (the half-open `[start, end)` of Flink and ksqlDB: an event exactly `gap` after the
//! previous one opens a new session). Postgres computes the same with `lag` and a
//! running count (`tests/slt/windows.slt`). Plan: a `Filter` (ts not NULL), a `Map` of
//! `ts` and of any key that is not a column, and a [`MirRelationExpr::Window`]
//! partitioned by the keys and ordered by `ts`, appending
//! [`WindowFunc::SessionStart`] and [`WindowFunc::SessionEnd`], then (after a `Map`) a
//! `Project` to the relation's columns and the two bounds. Cost per change: the changed row's
//! partition is re-sorted and re-cut, O(P log P) for a partition of P rows, and only the
//! rows whose session changed flow on (a merge or split re-emits the rows of the
//! sessions involved); the state is every row of every partition, except that over a
//! stream's event time, grouped by `window_end`, closed sessions leave it
//! ([`expire_sessions`]).
//!
//! Closing: a `TUMBLE` or `HOP` whose `ts` is a stream's event-time column marks
//! `window_start` and `window_end` in its scope as bounds of that stream's event time
//! ([`crate::scope::EventBound`]); a maintained view grouped by one of them closes each
//! group when the stream's watermark passes it (`query.rs`, `eddy_expr::watermark`).
//!
//! Sizes, slides and gaps are constant intervals without months or years (their length
//! varies), as `date_bin` requires of its stride. The relation is a name (table,
//! stream, view or CTE); `ts` is any expression over its columns.

use eddy_expr::optimize::fold_scalar;
use eddy_expr::{
    BinaryFunc, ColumnOrder, MirRelationExpr, MirScalarExpr, TableCall, TableFunc, UnaryFunc,
    WatermarkMode, WindowExpr, WindowFrame, WindowFunc,
};
use eddy_repr::{Datum, GlobalId, ScalarType, SqlError, SqlState};
use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, ObjectName, TableAlias, TableFunctionArgs,
};

use crate::context::{CExpr, StatementContext, Typed};
use crate::expr::{self, ExprContext};
use crate::names::normalize_ident;
use crate::query::plan_relation_name;
use crate::scope::{EventBound, Scope, TableRef};
use crate::types::CastContext;

/// How many windows one row may fall in under `HOP` (`size / slide`): a bound on the
/// fan-out of every update.
pub const HOP_WINDOWS_PER_ROW_MAX: i64 = 1_000;

/// Which window function a FROM item calls, if it is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    Tumble,
    Hop,
    Session,
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
            "session" => Some(WindowKind::Session),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            WindowKind::Tumble => "TUMBLE",
            WindowKind::Hop => "HOP",
            WindowKind::Session => "SESSION",
        }
    }

    fn signature(self) -> &'static str {
        match self {
            WindowKind::Tumble => "TUMBLE(relation, timestamp column, size interval)",
            WindowKind::Hop => "HOP(relation, timestamp column, size interval, slide interval)",
            WindowKind::Session => {
                "SESSION(relation, timestamp column, gap interval [, partition key ...])"
            }
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
    let arity_ok = match kind {
        WindowKind::Tumble => exprs.len() == 3,
        WindowKind::Hop => exprs.len() == 4,
        WindowKind::Session => exprs.len() >= 3,
    };
    if !arity_ok || args.settings.is_some() {
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
    let crate::query::NamedRelation {
        expr: input,
        names,
        table,
        ..
    } = plan_relation_name(scx, &relation)?;
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
    let ts_type = ts.scalar_type();
    let n = typ.len();
    let stream = event_stream(scx, &relation, &input, &ts.expr);
    // The relation, and the bounds of its window columns (`window_start` is `n`).
    let (rel, bounds) = match kind {
        WindowKind::Session => {
            let gap = constant_interval(scx, kind, exprs[2], "gap")?;
            if gap.months != 0 || gap.fixed_micros().is_none_or(|m| m <= 0) {
                return Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    "the gap of SESSION must be a positive interval without months or years",
                ));
            }
            let mut keys = vec![];
            for key in &exprs[3..] {
                // An untyped literal or NULL is one value for every row: no split.
                if let CExpr::Typed(t) = expr::plan_expr(&ecx, key)? {
                    keys.push(t.expr);
                }
            }
            let end = stream.map(|stream| stream.bound(0, None, true));
            (plan_session(input, n, ts.expr, keys, gap), [None, end])
        }
        WindowKind::Tumble => {
            let size = constant_interval(scx, kind, exprs[2], "size")?;
            eddy_expr::eval::bin_stride_micros(&size)?;
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
            let rel = input
                .filter(vec![not_null])
                .map(vec![start, window_end(n, size)]);
            (rel, window_bounds(stream, &size))
        }
        WindowKind::Hop => {
            let size = constant_interval(scx, kind, exprs[2], "size")?;
            let size_micros = eddy_expr::eval::bin_stride_micros(&size)?;
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
            let rel = MirRelationExpr::FlatMap {
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
            .map(vec![window_end(n, size)]);
            (rel, window_bounds(stream, &size))
        }
    };
    let (rel, mut scope) = finish(rel, names, table, alias)?;
    scope.items[n].event_bound = bounds[0];
    scope.items[n + 1].event_bound = bounds[1];
    Ok((rel, scope))
}

/// The stream `input` (what `relation` names) reads, when `ts` is its event-time
/// column: then its windows close as its watermark passes.
fn event_stream(
    scx: &StatementContext,
    relation: &ObjectName,
    input: &MirRelationExpr,
    ts: &MirScalarExpr,
) -> Option<EventStream> {
    let stream = stream_event_time(scx, relation, input)?;
    (*ts == MirScalarExpr::Column(stream.column)).then_some(stream)
}

/// A stream with an event time, as a FROM item reads it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventStream {
    pub id: GlobalId,
    /// Its event-time column.
    pub column: usize,
    pub retention_us: Option<i64>,
}

impl EventStream {
    /// The bound of a column `offset_us` past the event time, whose rows' events are at
    /// most `span_us` before it.
    pub(crate) fn bound(&self, offset_us: i64, span_us: Option<i64>, session: bool) -> EventBound {
        EventBound {
            source: self.id,
            offset_us,
            session,
            span_us,
            retention_us: self.retention_us,
        }
    }
}

/// The stream `input` (what `relation` names, planned) reads, and its event-time
/// column, when it is a stream with an event time.
pub(crate) fn stream_event_time(
    scx: &StatementContext,
    relation: &ObjectName,
    input: &MirRelationExpr,
) -> Option<EventStream> {
    // The stream itself, or (a view's `start`) a filter of it.
    let id = match input {
        MirRelationExpr::Get { id, .. } => id,
        MirRelationExpr::Filter { input, .. } => match input.as_ref() {
            MirRelationExpr::Get { id, .. } => id,
            _ => return None,
        },
        _ => return None,
    };
    let name = crate::names::item_name(relation, &scx.pcx.database).ok()?;
    let item = scx
        .catalog
        .resolve_item(name.schema.as_deref(), &name.item)?;
    let column = item.event_time?;
    (item.id == *id).then_some(EventStream {
        id: item.id,
        column,
        retention_us: item.retention_us,
    })
}

/// Stream `source`'s watermark as a relation: one `timestamptz` column, at most one
/// row (`eddy_watermarks`); `None` where that relation is unknown (a catalog without
/// it).
pub(crate) fn watermark_of(scx: &StatementContext, source: GlobalId) -> Option<MirRelationExpr> {
    let watermarks = scx
        .catalog
        .resolve_item(Some("pg_catalog"), "eddy_watermarks")?;
    let oid = crate::catalog::item_oid(source)?;
    let source_oid = MirScalarExpr::Column(1).call_binary(
        MirScalarExpr::literal(Datum::Oid(oid), ScalarType::Oid.nullable(false)),
        BinaryFunc::Eq,
    );
    Some(
        MirRelationExpr::Get {
            id: watermarks.id,
            typ: watermarks.desc.types.clone(),
            name: watermarks.name.clone(),
        }
        .filter(vec![source_oid])
        .project(vec![2]),
    )
}

/// The bounds of a `TUMBLE` or `HOP` window's `window_start` and `window_end`, when
/// it is over `stream`'s event time.
fn window_bounds(
    stream: Option<EventStream>,
    size: &eddy_repr::Interval,
) -> [Option<EventBound>; 2] {
    let (Some(stream), Some(size_us)) = (stream, size.fixed_micros()) else {
        return [None, None];
    };
    [
        Some(stream.bound(size_us, Some(size_us), false)),
        Some(stream.bound(0, Some(size_us), false)),
    ]
}

/// Puts an `ExpireSessions` under every `SESSION` window of `rel` over stream
/// `source`, closed by `watermark`: the sessions' rows leave the window's state once
/// they close. Only for a grouping whose groups close with them (its `Finalize` keeps
/// their rows). Whether there was one.
pub(crate) fn expire_sessions(
    rel: &mut MirRelationExpr,
    source: GlobalId,
    watermark: &MirRelationExpr,
) -> bool {
    let mut found = false;
    for child in rel.children_mut() {
        found |= expire_sessions(child, source, watermark);
    }
    let MirRelationExpr::Window {
        input,
        partition_key,
        functions,
        ..
    } = rel
    else {
        return found;
    };
    let session = functions.iter().find_map(|f| match &f.func {
        WindowFunc::SessionEnd { ts, gap } => Some((*ts, gap.fixed_micros()?)),
        _ => None,
    });
    let Some((ts, gap_us)) = session else {
        return found;
    };
    if !input.depends_on().contains(&source) {
        return found;
    }
    let below = std::mem::replace(
        input.as_mut(),
        MirRelationExpr::Constant {
            rows: vec![],
            typ: vec![],
        },
    );
    let mode = WatermarkMode::ExpireSessions {
        partition_key: partition_key.clone(),
    };
    **input = below.watermarked(watermark, ts, gap_us, mode);
    true
}

/// `window_end` of a `TUMBLE` or `HOP` window whose start is column `start`.
fn window_end(start: usize, size: eddy_repr::Interval) -> MirScalarExpr {
    MirScalarExpr::Column(start).call_binary(
        MirScalarExpr::literal(Datum::Interval(size), ScalarType::Interval.nullable(false)),
        BinaryFunc::Add,
    )
}

/// `SESSION` over `input` (of arity `n`): see the module docs.
fn plan_session(
    input: MirRelationExpr,
    n: usize,
    ts: MirScalarExpr,
    keys: Vec<MirScalarExpr>,
    gap: eddy_repr::Interval,
) -> MirRelationExpr {
    let not_null = ts
        .clone()
        .call_unary(UnaryFunc::IsNull)
        .call_unary(UnaryFunc::Not);
    // The window reads columns only: map `ts` and every key that is not a column.
    let mut mapped = vec![];
    let mut column_of = |e: MirScalarExpr| match e {
        MirScalarExpr::Column(c) => c,
        other => {
            mapped.push(other);
            n + mapped.len() - 1
        }
    };
    let ts = column_of(ts);
    let partition_key: Vec<usize> = keys.into_iter().map(&mut column_of).collect();
    let width = n + mapped.len();
    let window = MirRelationExpr::Window {
        input: Box::new(input.filter(vec![not_null]).map(mapped)),
        partition_key,
        order_key: vec![ColumnOrder {
            column: ts,
            desc: false,
            nulls_last: true,
        }],
        functions: vec![
            WindowExpr {
                func: WindowFunc::SessionStart { ts, gap },
                frame: WindowFrame::default_frame(),
            },
            WindowExpr {
                func: WindowFunc::SessionEnd { ts, gap },
                frame: WindowFrame::default_frame(),
            },
        ],
    };
    if width == n {
        return window;
    }
    window.project((0..n).chain([width, width + 1]).collect())
}

/// The window relation `rel` with its columns named: the relation's, then
/// `window_start` and `window_end`, renamed by `alias` if given.
fn finish(
    rel: MirRelationExpr,
    mut names: Vec<String>,
    table: TableRef,
    alias: &Option<TableAlias>,
) -> Result<(MirRelationExpr, Scope), SqlError> {
    names.push("window_start".into());
    names.push("window_end".into());
    let table = crate::query::aliased(&mut names, alias)?.unwrap_or(table);
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
