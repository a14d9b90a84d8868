//! Per-statement planning state and the typing of values whose type is not known yet.
//!
//! A string literal, a bare `NULL` and (when describing a statement) a parameter whose
//! type the client left open have no type of their own: Postgres calls them `unknown`
//! and gives them the type their context needs (`col = '2024-01-01'` reads the literal
//! as a date). [`CExpr`] keeps such values apart from typed expressions until the
//! context is known; [`StatementContext::finalize`] types whatever is still unknown as
//! `text`, which is what Postgres does too.
//!
//! Parameters: when planning (`Params::Bound`) each `$n` is a literal of its bound value
//! and type. When describing (`Params::Describe`) a declared type makes `$n` a typed
//! placeholder; an undeclared one takes the first type its context asks for, recorded
//! in `inferred` (and `text` if nothing asks).
//!
//! Time zones: a statement is planned in a zone ([`StatementContext::zone`]), which
//! decides how text becomes `timestamptz` and how `timestamptz` converts to the zone-less
//! types. In UTC every such conversion is the plain cast; in another zone it is planned
//! as `AT TIME ZONE` with that zone as a constant ([`StatementContext::cast`]), so a plan
//! never depends on the session that runs it.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use eddy_expr::func::CastKind;
use eddy_expr::{MirRelationExpr, MirScalarExpr, UnaryFunc};
use eddy_repr::zone::TimeZone;
use eddy_repr::{ColumnType, Datum, GlobalId, ScalarType};

use crate::catalog::{Catalog, CatalogItem};
use crate::plan::PlanContext;
use crate::types::{self, CastContext};
use eddy_repr::{SqlError, SqlState};

/// Where parameter values come from.
#[derive(Clone, Copy, Debug)]
pub enum Params<'a> {
    /// Planning for execution: every parameter has a value.
    Bound(&'a [(Datum, ScalarType)]),
    /// Describing a prepared statement: parameter types declared by the client.
    Describe(&'a [Option<ScalarType>]),
}

/// A common table expression in scope: its plan and output column names.
#[derive(Clone, Debug)]
pub struct CteDef {
    pub name: String,
    pub expr: MirRelationExpr,
    pub names: Vec<String>,
    /// For a CTE that reads columns of an outer query (in a correlated subquery): the
    /// keys of the outer columns it was planned over (`subquery::Prefix::keys`). Its
    /// rows start with them, and only an item of a FROM list planned over the same keys
    /// reads it, joined on them (see `query::plan_correlated_cte`).
    pub prefix: Option<MirRelationExpr>,
    /// The fields of its record columns that are known (see
    /// [`crate::scope::ScopeItem::fields`]); empty when none is.
    pub fields: Vec<Option<crate::scope::RecordFields>>,
}

/// State shared by everything planned for one statement.
pub struct StatementContext<'a> {
    pub catalog: &'a dyn Catalog,
    pub pcx: &'a PlanContext,
    params: Params<'a>,
    inferred: RefCell<BTreeMap<usize, ScalarType>>,
    max_param: Cell<usize>,
    /// Set while planning a view definition: `now()` and parameters are refused.
    pub in_view: Cell<bool>,
    /// Set while planning a CHECK constraint, which (like a view) the catalog keeps
    /// and re-plans from its text on restart: planned in UTC (see
    /// [`StatementContext::zone`]).
    pub in_check: Cell<bool>,
    /// Set while planning a `SUBSCRIBE`, whose rows are maintained like a view's:
    /// volatile functions are refused.
    pub in_subscribe: Cell<bool>,
    /// CTEs visible at the current point, innermost last.
    pub ctes: RefCell<Vec<CteDef>>,
    /// The id the next `WITH RECURSIVE` binding gets (unique within the statement).
    pub next_recursive_id: Cell<u64>,
    /// A view's own `WITH (max_recursion = n)`, which overrides the session's.
    pub max_recursion: Cell<Option<u64>>,
    /// Set while planning a view with `EMIT ON WINDOW CLOSE`: its windowed groupings
    /// emit each final row once, when the window closes (`eddy_expr::watermark`).
    pub emit_on_window_close: Cell<bool>,
    /// A view's `WITH (retention = ...)`: how long (µs) a closed window's row stays.
    pub window_retention_us: Cell<Option<i64>>,
    /// A view's `WITH (start = ...)` as an instant (µs, UTC): the streams it reads are
    /// read from that event time on. Set when a stream was so filtered too.
    pub view_start_us: Cell<Option<i64>>,
    pub view_start_applied: Cell<bool>,
    /// The view's options as read (see [`StatementContext::set_view_options`]).
    pub view_options: Cell<crate::view_options::ViewOptions>,
    /// Every catalog item the statement's queries read, recorded as names resolve
    /// (see [`StatementContext::resolve_relation`]): what a view depends on.
    depends_on: RefCell<BTreeSet<GlobalId>>,
}

/// An expression and its type.
#[derive(Clone, Debug, PartialEq)]
pub struct Typed {
    pub expr: MirScalarExpr,
    pub typ: ColumnType,
}

impl Typed {
    pub fn new(expr: MirScalarExpr, typ: ColumnType) -> Self {
        Typed { expr, typ }
    }

    pub fn literal(datum: Datum, scalar_type: ScalarType) -> Self {
        let typ = scalar_type.nullable(datum.is_null());
        Typed::new(MirScalarExpr::literal(datum, typ), typ)
    }

    pub fn null(scalar_type: ScalarType) -> Self {
        Typed::literal(Datum::Null, scalar_type)
    }

    pub fn scalar_type(&self) -> ScalarType {
        self.typ.scalar_type
    }

    /// Applies a unary function, typing the result with the function's own rule.
    pub fn unary(self, func: UnaryFunc) -> Typed {
        let typ = func.output_type(self.typ);
        Typed::new(self.expr.call_unary(func), typ)
    }

    pub fn binary(self, other: Typed, func: eddy_expr::BinaryFunc) -> Typed {
        let typ = func.output_type(self.typ, other.typ);
        Typed::new(self.expr.call_binary(other.expr, func), typ)
    }

    pub fn variadic(func: eddy_expr::VariadicFunc, args: Vec<Typed>) -> Typed {
        let types: Vec<ColumnType> = args.iter().map(|a| a.typ).collect();
        let typ = func.output_type(&types);
        Typed::new(
            MirScalarExpr::CallVariadic {
                func,
                exprs: args.into_iter().map(|a| a.expr).collect(),
            },
            typ,
        )
    }

    /// Casts to `to` (a no-op when the type already is `to`). Lossless conversions of
    /// literals are folded here; everything else becomes a `Cast` for the evaluator.
    pub fn cast(self, to: ScalarType, kind: CastKind) -> Typed {
        let from = self.typ.scalar_type;
        if from == to {
            return self;
        }
        if let MirScalarExpr::Literal(Ok(datum), _) = &self.expr {
            if let Some(folded) = fold_literal_cast(datum, &from, &to, kind) {
                return Typed::literal(folded, to);
            }
        }
        let nullable = self.typ.nullable;
        Typed::new(
            self.expr.call_unary(UnaryFunc::Cast { to, kind }),
            to.nullable(nullable),
        )
    }
}

/// The value of a cast of a literal, when it can be computed now: the cast succeeds
/// and its result depends only on the datum (not on a source type the datum does not
/// record, as `char(n)` to `text` or `regclass` to `text` do). A failing cast is left
/// for evaluation, where it fails only if a row reaches it.
fn fold_literal_cast(
    datum: &Datum,
    from: &ScalarType,
    to: &ScalarType,
    kind: CastKind,
) -> Option<Datum> {
    use ScalarType::*;
    if datum.is_null() {
        return Some(Datum::Null);
    }
    if matches!(from, Char { .. } | Oid | RegClass | RegType | RegProc) {
        return None;
    }
    eddy_expr::eval::cast_datum(datum.clone(), to, kind).ok()
}

/// A planned expression whose type may still be open.
#[derive(Clone, Debug)]
pub enum CExpr {
    Typed(Typed),
    /// A string literal of unknown type.
    Str(String),
    /// A bare `NULL`.
    Null,
    /// A parameter (`$n`, 1-based) whose type is still open (describe only).
    Param(usize),
}

impl CExpr {
    pub fn is_unknown(&self) -> bool {
        !matches!(self, CExpr::Typed(_))
    }

    pub fn scalar_type(&self) -> Option<ScalarType> {
        match self {
            CExpr::Typed(t) => Some(t.typ.scalar_type),
            _ => None,
        }
    }

    /// The type's name for messages: `integer`, or `unknown`.
    pub fn type_name(&self) -> String {
        match self {
            CExpr::Typed(t) => t.typ.scalar_type.sql_name(),
            _ => "unknown".to_string(),
        }
    }
}

impl From<Typed> for CExpr {
    fn from(t: Typed) -> Self {
        CExpr::Typed(t)
    }
}

impl<'a> StatementContext<'a> {
    /// Takes a view's `WITH (...)` options for the planning of its query.
    pub(crate) fn set_view_options(&self, options: &crate::view_options::ViewOptions) {
        self.max_recursion.set(options.max_recursion);
        self.emit_on_window_close.set(options.emit_on_window_close);
        self.window_retention_us.set(options.retention_us);
        use crate::view_options::StartAt;
        self.view_start_us.set(match options.start {
            None | Some(StartAt::Earliest) => None,
            Some(StartAt::Latest) => Some(
                options
                    .started_at_us
                    .unwrap_or_else(|| self.pcx.now.timestamp_micros()),
            ),
            Some(StartAt::At(us)) => Some(us),
        });
        self.view_start_applied.set(false);
        self.view_options.set(*options);
    }

    pub fn new(catalog: &'a dyn Catalog, pcx: &'a PlanContext, params: Params<'a>) -> Self {
        StatementContext {
            catalog,
            pcx,
            params,
            inferred: RefCell::new(BTreeMap::new()),
            max_param: Cell::new(0),
            in_view: Cell::new(false),
            in_check: Cell::new(false),
            in_subscribe: Cell::new(false),
            depends_on: RefCell::new(BTreeSet::new()),
            ctes: RefCell::new(vec![]),
            next_recursive_id: Cell::new(0),
            max_recursion: Cell::new(None),
            emit_on_window_close: Cell::new(false),
            window_retention_us: Cell::new(None),
            view_start_us: Cell::new(None),
            view_start_applied: Cell::new(false),
            view_options: Cell::new(Default::default()),
        }
    }

    /// Looks up a relation a query reads and records it as a dependency of the
    /// statement. DDL that only checks whether a name is taken, or names what it drops,
    /// asks `catalog` directly.
    pub fn resolve_relation(&self, schema: Option<&str>, name: &str) -> Option<CatalogItem> {
        let item = self.catalog.resolve_item(schema, name)?;
        self.depends_on.borrow_mut().insert(item.id);
        Some(item)
    }

    /// The time zone the statement's zone-dependent operations are planned in: the
    /// session's `TimeZone`, except in a view or materialized view definition or a
    /// CHECK constraint, which are always planned in UTC. A view is computed once and
    /// read by sessions in any zone, and both are re-planned from their text on
    /// restart with no session at all, so their results must not depend on the zone
    /// of the session that created them; a definition that wants another zone says so
    /// with `AT TIME ZONE`.
    pub fn zone(&self) -> TimeZone {
        if self.in_view.get() || self.in_check.get() {
            TimeZone::UTC
        } else {
            self.pcx.zone
        }
    }

    /// `t` cast to `to`, in the statement's [`zone`](StatementContext::zone):
    /// `timestamptz` to `timestamp`, `date` or `time` takes the wall-clock time in the
    /// zone, the reverse reads one there, and text converts with the zone's offsets.
    /// In UTC (or for any other pair of types) this is [`Typed::cast`].
    pub fn cast(&self, t: Typed, to: ScalarType, kind: CastKind) -> Typed {
        use ScalarType::*;
        let zone = self.zone();
        let from = t.scalar_type();
        if zone.is_utc() || from == to {
            return t.cast(to, kind);
        }
        match (from, to) {
            (TimestampTz, Timestamp) => t.unary(UnaryFunc::TimestampTzToLocal(zone)),
            (TimestampTz, Date | Time) => {
                t.unary(UnaryFunc::TimestampTzToLocal(zone)).cast(to, kind)
            }
            (Timestamp, TimestampTz) => t.unary(UnaryFunc::LocalToTimestampTz(zone)),
            (Date, TimestampTz) => t
                .cast(Timestamp, kind)
                .unary(UnaryFunc::LocalToTimestampTz(zone)),
            (TimestampTz, to) if to.is_string() => {
                t.unary(UnaryFunc::TimestampTzToTextIn(zone)).cast(to, kind)
            }
            (from, TimestampTz) if from.is_string() => t
                .cast(Text, kind)
                .unary(UnaryFunc::TextToTimestampTzIn(zone)),
            _ => t.cast(to, kind),
        }
    }

    /// `t` as the jsonb builders (`to_jsonb`, `jsonb_build_*`, `jsonb_agg`) take it: a
    /// `timestamptz` outside UTC becomes its jsonb string in the statement's
    /// [`zone`](StatementContext::zone) first (the builders print date/time values in
    /// UTC); anything else is unchanged.
    pub fn jsonb_input(&self, t: Typed) -> Typed {
        let zone = self.zone();
        if t.scalar_type() == ScalarType::TimestampTz && !zone.is_utc() {
            t.unary(UnaryFunc::TimestampTzToJsonbIn(zone))
        } else {
            t
        }
    }

    /// The items recorded by [`StatementContext::resolve_relation`] so far.
    pub fn dependencies(&self) -> BTreeSet<GlobalId> {
        self.depends_on.borrow().clone()
    }

    /// `$n` (1-based).
    pub fn param(&self, n: usize) -> Result<CExpr, SqlError> {
        if self.in_view.get() {
            return Err(SqlError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                "parameters are not allowed in views",
            ));
        }
        let missing = || {
            SqlError::new(
                SqlState::UNDEFINED_PARAMETER,
                format!("there is no parameter ${n}"),
            )
        };
        if n == 0 {
            return Err(missing());
        }
        self.max_param.set(self.max_param.get().max(n));
        match self.params {
            Params::Bound(values) => {
                let (datum, typ) = values.get(n - 1).ok_or_else(missing)?;
                Ok(CExpr::Typed(Typed::literal(datum.clone(), *typ)))
            }
            Params::Describe(declared) => {
                let known = declared
                    .get(n - 1)
                    .copied()
                    .flatten()
                    .or_else(|| self.inferred.borrow().get(&n).copied());
                Ok(match known {
                    Some(typ) => CExpr::Typed(Typed::null(typ)),
                    None => CExpr::Param(n),
                })
            }
        }
    }

    /// The parameter types of the statement: declared, inferred, or `text`.
    pub fn param_types(&self) -> Vec<ScalarType> {
        let declared: &[Option<ScalarType>] = match self.params {
            Params::Describe(d) => d,
            Params::Bound(_) => &[],
        };
        let n = self.max_param.get().max(declared.len());
        let inferred = self.inferred.borrow();
        (1..=n)
            .map(|i| {
                declared
                    .get(i - 1)
                    .copied()
                    .flatten()
                    .or_else(|| inferred.get(&i).copied())
                    .unwrap_or(ScalarType::Text)
            })
            .collect()
    }

    /// Gives an unknown-typed value the type `to`. A literal is read with `to`'s input
    /// function; `kind` says whether a too-long string is cut (explicit) or refused
    /// (assignment). Typed values are returned unchanged.
    pub fn resolve_unknown(
        &self,
        expr: CExpr,
        to: ScalarType,
        kind: CastKind,
    ) -> Result<Typed, SqlError> {
        Ok(match expr {
            CExpr::Typed(t) => t,
            CExpr::Str(s)
                if matches!(
                    to,
                    ScalarType::RegClass | ScalarType::RegType | ScalarType::RegProc
                ) =>
            {
                self.reg_literal(&s, to)?
            }
            CExpr::Null => Typed::null(to),
            CExpr::Param(n) => {
                self.inferred
                    .borrow_mut()
                    .entry(n)
                    .or_insert(to.without_modifiers());
                Typed::null(to)
            }
            CExpr::Str(s) => string_literal_as(s, to, kind, &self.zone())?,
        })
    }

    /// Types whatever is still unknown as `text`.
    pub fn finalize(&self, expr: CExpr) -> Typed {
        match expr {
            CExpr::Typed(t) => t,
            CExpr::Str(s) => Typed::literal(Datum::String(s), ScalarType::Text),
            CExpr::Null => Typed::null(ScalarType::Text),
            CExpr::Param(n) => {
                self.inferred
                    .borrow_mut()
                    .entry(n)
                    .or_insert(ScalarType::Text);
                Typed::null(ScalarType::Text)
            }
        }
    }

    /// Brings a value to type `to` if `context` allows it; `Err(type name)` if not.
    pub fn coerce(
        &self,
        expr: CExpr,
        to: ScalarType,
        context: CastContext,
    ) -> Result<Result<Typed, String>, SqlError> {
        let kind = match context {
            CastContext::Assignment => CastKind::Assignment,
            _ => CastKind::Explicit,
        };
        match expr {
            // A constant name read as an object: `'orders'::text::regclass`.
            CExpr::Typed(t)
                if matches!(to, ScalarType::RegClass | ScalarType::RegType)
                    && t.scalar_type().is_string()
                    && matches!(t.expr.as_literal(), Some(Datum::String(_)))
                    && types::cast_allowed(&t.scalar_type(), &to, context) =>
            {
                let Some(Datum::String(s)) = t.expr.as_literal() else {
                    unreachable!("matched above")
                };
                Ok(Ok(self.reg_literal(s, to)?))
            }
            CExpr::Typed(t) => {
                let from = t.typ.scalar_type;
                if from == to {
                    Ok(Ok(t))
                } else if types::cast_allowed(&from, &to, context) {
                    Ok(Ok(self.cast(t, to, kind)))
                } else {
                    Ok(Err(from.sql_name()))
                }
            }
            unknown => self.resolve_unknown(unknown, to, kind).map(Ok),
        }
    }
}

impl StatementContext<'_> {
    /// `'name'::regclass` / `'name'::regtype`: the OID of the relation (or type) the
    /// name resolves to now, as Postgres does when it reads such a constant; a number
    /// is taken as the OID itself.
    pub fn reg_literal(&self, s: &str, to: ScalarType) -> Result<Typed, SqlError> {
        let trimmed = s.trim();
        if let Ok(oid) = trimmed.parse::<u32>() {
            return Ok(Typed::literal(Datum::Oid(oid), to));
        }
        let parts = parse_qualified_name(trimmed)?;
        if to == ScalarType::RegProc {
            let oid = eddy_repr::pgtype::regproc_oid(&parts.join(".")).ok_or_else(|| {
                SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("function \"{trimmed}\" does not exist"),
                )
            })?;
            return Ok(Typed::literal(Datum::Oid(oid), to));
        }
        if to == ScalarType::RegType {
            let name = parts.join(".");
            let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
            let typ = eddy_repr::pgtype::PG_TYPES
                .iter()
                .find(|t| t.name == name || t.display == name)
                .ok_or_else(|| {
                    SqlError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("type \"{trimmed}\" does not exist"),
                    )
                })?;
            return Ok(Typed::literal(Datum::Oid(typ.oid), to));
        }
        let (schema, name) = match parts.as_slice() {
            [name] => (None, name),
            [schema, name] | [_, schema, name] => (Some(schema.as_str()), name),
            _ => {
                return Err(SqlError::syntax(format!(
                    "improper relation name (too many dotted names): {trimmed}"
                )))
            }
        };
        let oid = self
            .resolve_relation(schema, name)
            .and_then(|item| crate::catalog::item_oid(item.id))
            .ok_or_else(|| {
                SqlError::new(
                    SqlState::UNDEFINED_TABLE,
                    format!("relation \"{trimmed}\" does not exist"),
                )
            })?;
        Ok(Typed::literal(Datum::Oid(oid), to))
    }
}

/// The parts of a dotted name written as text (`public."Orders"`): unquoted parts
/// fold to lowercase, quoted ones keep their case (`""` is a quote).
fn parse_qualified_name(s: &str) -> Result<Vec<String>, SqlError> {
    let invalid = || SqlError::new(SqlState::INVALID_NAME, "invalid name syntax");
    let mut parts = vec![];
    let mut chars = s.chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    Some('"') => break,
                    Some(c) => part.push(c),
                    None => return Err(invalid()),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.extend(c.to_lowercase());
                chars.next();
            }
            part = part.trim().to_string();
        }
        if part.is_empty() {
            return Err(invalid());
        }
        parts.push(part);
        match chars.next() {
            None => return Ok(parts),
            Some('.') => {}
            Some(_) => return Err(invalid()),
        }
    }
}

/// A string literal read as a value of type `to`.
fn string_literal_as(
    s: String,
    to: ScalarType,
    kind: CastKind,
    zone: &TimeZone,
) -> Result<Typed, SqlError> {
    use ScalarType::*;
    match to {
        TimestampTz => match eddy_repr::strconv::parse_timestamptz_in(&s, zone) {
            Ok(ts) => Ok(Typed::literal(Datum::TimestampTz(ts), to)),
            Err(e) => Err(eddy_expr::EvalError::from(e).into()),
        },
        Text | Name | Varchar { max_length: None } => Ok(Typed::literal(Datum::String(s), to)),
        Varchar {
            max_length: Some(n),
        } => {
            if s.chars().count() <= n as usize {
                Ok(Typed::literal(Datum::String(s), to))
            } else if kind == CastKind::Explicit {
                Ok(Typed::literal(
                    Datum::String(s.chars().take(n as usize).collect()),
                    to,
                ))
            } else {
                Err(SqlError::new(
                    SqlState::STRING_DATA_RIGHT_TRUNCATION,
                    format!("value too long for type character varying({n})"),
                ))
            }
        }
        // Anything else: the type's input function, now (Postgres also reads literals
        // while planning, so `'x'::date` fails before any row is read).
        _ => match eddy_expr::eval::cast_datum(Datum::String(s), &to, kind) {
            Ok(datum) => Ok(Typed::literal(datum, to)),
            Err(e) => Err(e.into()),
        },
    }
}
