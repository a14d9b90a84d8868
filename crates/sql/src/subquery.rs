//! Subqueries in expressions — scalar `(SELECT ...)`, `EXISTS`, `IN`/`= ANY`, and
//! `ARRAY(SELECT ...)` — planned by decorrelation into joins, with no operator of
//! their own in the IR.
//!
//! A subquery is planned against the relation its expression is planned over (the
//! *outer* relation, [`ExprContext::rel`]). Let `C` be the outer columns the subquery
//! reads. The subquery is planned over `D = Distinct(Project_C(outer))` cross-joined in
//! at the start of its FROM clause, so each of its rows starts with the values of `C`
//! it was computed for (see [`Prefix`]); grouping, DISTINCT, ORDER BY/LIMIT and
//! set operations inside it all work per key. Its rows are then reduced to one row per
//! key of `D` (the scalar value, whether a row exists, ...): a `Reduce` over the rows
//! and `D` itself, so a key without rows gets a row too (count 0, value NULL). That
//! table is joined back onto the outer relation ([`join_per_key`]), which appends the
//! value as a new column and keeps every outer row with its multiplicity. Keys are
//! compared NULL-safely, so a NULL correlation value is a key like any other. An
//! uncorrelated subquery is the case `C = []`.
//!
//! `D` is read from the clause's relation as it was before any subquery joined in
//! ([`OuterRelation`]), so a clause with `k` subqueries holds `O(k)` copies of its
//! input, not `O(2^k)`. (The IR has no shared subexpressions: the copies are there in
//! the plan.)
//!
//! Finding `C`: the subquery is first planned with every outer column in scope, and
//! every name that resolves to one is recorded ([`Scope::outer_uses`]); it is then
//! planned again with exactly those. Planning is pure, so the first plan is simply
//! dropped. A nested subquery that reads a column of a query further out makes the
//! subqueries between them correlated on it too. LATERAL subqueries in FROM are
//! planned the same way against the FROM items to their left ([`plan_lateral`],
//! `lateral.rs`).
//!
//! Semantics, as in Postgres:
//! - A scalar subquery is NULL when it has no row, and an error (`21000 more than one
//!   row returned by a subquery used as an expression`) when it has several; the error
//!   is data, raised when the statement reads the rows.
//! - `x IN (SELECT y ...)` is true when some `y = x`; otherwise NULL when the subquery
//!   has rows and `x` or some `y` is NULL; otherwise false. `NOT IN` negates that, so a
//!   NULL in the subquery makes `NOT IN` NULL, never true.
//! - Inside a CASE branch a subquery runs only for the outer rows that reach the
//!   branch ([`ExprContext::guard`]), so a branch not taken raises no error. Elsewhere
//!   (the arguments of `COALESCE`, `AND`, `OR`) it runs for every outer row.
//! - Catalog functions use the same joins to look values up in `pg_catalog`
//!   relations ([`plan_catalog_lookup`]).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use eddy_expr::{
    AggregateExpr, AggregateFunc, BinaryFunc, EvalError, MirRelationExpr, MirScalarExpr, UnaryFunc,
    VariadicFunc,
};
use eddy_repr::{ColumnType, Datum, ScalarType};
use sqlparser::ast::{Expr, Query};

use crate::context::{CExpr, Typed};
use crate::expr::{self, ExprContext};
use crate::query::{self, unit_relation};
use crate::scope::{Scope, ScopeItem};
use eddy_repr::SqlError;

/// The outer columns a correlated subquery reads, as it sees them: every row of its
/// relation starts with their values.
pub struct Prefix {
    /// The distinct values of the columns in the outer relation (`D`).
    pub keys: MirRelationExpr,
    /// The columns' names, as outer items (one level up) of the subquery's scope.
    pub scope: Scope,
}

impl Prefix {
    pub fn arity(&self) -> usize {
        self.scope.len()
    }
}

/// A subquery planned against its outer relation.
struct Planned {
    /// The outer columns it is correlated on (positions in the outer relation).
    columns: Vec<usize>,
    /// Its rows: the values of `columns`, then its visible columns.
    expr: MirRelationExpr,
    names: Vec<String>,
}

impl Planned {
    fn prefix(&self) -> usize {
        self.columns.len()
    }

    /// The type of its only column, or the error for a subquery with several.
    fn single_column(&self) -> Result<ColumnType, SqlError> {
        if self.names.len() != 1 {
            return Err(SqlError::syntax(if self.names.is_empty() {
                "subquery must return a column"
            } else {
                "subquery must return only one column"
            }));
        }
        Ok(self.expr.typ()[self.prefix()])
    }
}

/// The scope of the relation an expression in `ecx` is planned over: the input's
/// scope, or under GROUP BY the grouped relation's (keys that are plain columns keep
/// their names; other keys and aggregates cannot be named).
fn outer_scope(ecx: &ExprContext) -> Scope {
    let Some(grouping) = ecx.grouping else {
        return ecx.scope.clone();
    };
    let hidden = || ScopeItem {
        table: None,
        column: String::new(),
        unqualified: false,
        level: 0,
        event_bound: None,
        fields: None,
    };
    let mut items: Vec<ScopeItem> = grouping
        .keys
        .iter()
        .map(|k| match k {
            MirScalarExpr::Column(c) => grouping.input_scope.items[*c].clone(),
            _ => hidden(),
        })
        .collect();
    items.extend((items.len()..grouping.grouped_typ.len()).map(|_| hidden()));
    Scope {
        items,
        star: vec![],
        outer_uses: grouping.input_scope.outer_uses.clone(),
    }
}

/// The outer columns `columns` as the leading items of a subquery's scope.
fn prefix_scope(
    outer: &Scope,
    columns: &[usize],
    uses: Option<Rc<RefCell<BTreeSet<usize>>>>,
) -> Scope {
    Scope {
        items: columns
            .iter()
            .map(|&c| ScopeItem {
                level: outer.items[c].level + 1,
                ..outer.items[c].clone()
            })
            .collect(),
        star: vec![],
        outer_uses: uses,
    }
}

/// Plans `query` against the relation of `ecx` (see the module docs).
fn plan_correlated(ecx: &ExprContext, query: &Query) -> Result<Planned, SqlError> {
    let rel = outer_relation(ecx)?;
    let outer = outer_scope(ecx);
    let outer_typ: Vec<ColumnType> = rel.typ().into_iter().take(outer.len()).collect();
    // Inside a CASE branch, the subquery runs for the rows that reach the branch.
    let guard = ecx.guard.as_ref();
    plan_against(ecx.scx, &outer, outer_typ, query, |cols| {
        (!cols.is_empty() || guard.is_some())
            .then(|| rel.key_values_where(&self::columns(cols), guard))
    })
}

/// Plans `query` against an outer relation whose columns `outer` names (of types
/// `outer_typ`): finds the columns it reads, then plans it over the relation
/// `key_values(columns)` returns (their distinct values), or uncorrelated when that
/// is `None`.
fn plan_against(
    scx: &crate::context::StatementContext,
    outer: &Scope,
    outer_typ: Vec<ColumnType>,
    query: &Query,
    key_values: impl FnOnce(&[usize]) -> Option<MirRelationExpr>,
) -> Result<Planned, SqlError> {
    // First pass: every outer column in scope; record the ones names resolve to.
    let uses = Rc::new(RefCell::new(BTreeSet::new()));
    let all: Vec<usize> = (0..outer.len()).collect();
    let probe = Prefix {
        keys: MirRelationExpr::Constant {
            rows: vec![],
            typ: outer_typ,
        },
        scope: prefix_scope(outer, &all, Some(Rc::clone(&uses))),
    };
    query::plan_correlated_query(scx, query, &probe)?;
    let columns: Vec<usize> = uses.borrow().iter().copied().collect();
    // A column the enclosing query itself reads from further out is a use there too.
    for &c in &columns {
        outer.note_use(c);
    }

    let Some(keys) = key_values(&columns) else {
        let (expr, names, _) = query::plan_query(scx, query)?.into_relation();
        return Ok(Planned {
            columns: vec![],
            expr,
            names,
        });
    };
    let prefix = Prefix {
        keys,
        scope: prefix_scope(outer, &columns, None),
    };
    let (expr, names, _) = query::plan_correlated_query(scx, query, &prefix)?.into_relation();
    Ok(Planned {
        columns,
        expr,
        names,
    })
}

/// A subquery in FROM marked LATERAL, planned against `left`, the relation of the
/// FROM items before it (named by `left_scope`). Its rows start with the values of
/// the columns of `left` it reads (`columns`; none when it reads none).
pub struct Lateral {
    pub columns: Vec<usize>,
    pub expr: MirRelationExpr,
    pub names: Vec<String>,
}

/// Plans a LATERAL subquery over the distinct values of the columns of `left` it
/// reads (see `lateral.rs`).
pub fn plan_lateral(
    scx: &crate::context::StatementContext,
    left: &MirRelationExpr,
    left_scope: &Scope,
    query: &Query,
) -> Result<Lateral, SqlError> {
    let arity = left.arity();
    let planned = plan_against(scx, left_scope, left.typ(), query, |cols| {
        (!cols.is_empty()).then(|| key_values(left, arity, left, &self::columns(cols), None))
    })?;
    Ok(Lateral {
        columns: planned.columns,
        expr: planned.expr,
        names: planned.names,
    })
}

/// A value that stands for every datum of its type when comparing keys NULL-safely
/// (`(x IS NULL, coalesce(x, v))` identifies `x`).
fn any_datum(typ: &ScalarType) -> Datum {
    use ScalarType::*;
    match typ {
        Bool => Datum::Bool(false),
        Int16 => Datum::Int16(0),
        Int32 => Datum::Int32(0),
        Int64 => Datum::Int64(0),
        Float32 => Datum::Float32(eddy_repr::OrdF32(0.0)),
        Float64 => Datum::Float64(eddy_repr::OrdF64(0.0)),
        Numeric { .. } => Datum::Numeric(eddy_repr::Numeric::ZERO),
        Text | Varchar { .. } | Char { .. } | Name | PgChar => Datum::String(String::new()),
        Timestamp => Datum::Timestamp(chrono::DateTime::UNIX_EPOCH.naive_utc()),
        TimestampTz => Datum::TimestampTz(chrono::DateTime::UNIX_EPOCH),
        Date => Datum::Date(chrono::NaiveDate::MIN),
        Time => Datum::Time(chrono::NaiveTime::MIN),
        Interval => Datum::Interval(eddy_repr::Interval::default()),
        Jsonb => Datum::Jsonb("null".to_string()),
        Oid | RegClass | RegType | RegProc => Datum::Oid(0),
        TextArray | Int16Array | Int2Vector | OidArray | BoolArray | Int32Array | Int64Array => {
            Datum::Array(vec![])
        }
        Bytea => Datum::Bytes(vec![]),
        Uuid => Datum::Uuid([0; 16]),
        Record => Datum::Record(vec![]),
    }
}

/// Join equivalences under which expression `left[i]` equals expression `right[i]`
/// NULL-safely (two NULLs match), for values of types `types`.
pub fn null_safe_equivalences(
    left: Vec<MirScalarExpr>,
    right: Vec<MirScalarExpr>,
    types: &[ColumnType],
) -> Vec<Vec<MirScalarExpr>> {
    let mut equivalences = vec![];
    for ((l, r), typ) in left.into_iter().zip(right).zip(types) {
        if !typ.nullable {
            equivalences.push(vec![l, r]);
            continue;
        }
        let is_null = |e: &MirScalarExpr| e.clone().call_unary(UnaryFunc::IsNull);
        let value = |e: MirScalarExpr| MirScalarExpr::CallVariadic {
            func: VariadicFunc::Coalesce,
            exprs: vec![
                e,
                MirScalarExpr::literal(
                    any_datum(&typ.scalar_type),
                    typ.scalar_type.nullable(false),
                ),
            ],
        };
        equivalences.push(vec![is_null(&l), is_null(&r)]);
        equivalences.push(vec![value(l), value(r)]);
    }
    equivalences
}

/// The relation an expression is planned over, which subqueries extend with columns.
///
/// Subqueries read the distinct values of their keys from `base`, the relation as it
/// was before any of them joined in (it has the same rows), so each subquery adds a
/// constant number of copies of `base` to the plan, not of everything before it.
pub struct OuterRelation {
    base: MirRelationExpr,
    base_arity: usize,
    current: RefCell<MirRelationExpr>,
}

impl OuterRelation {
    pub fn new(rel: MirRelationExpr) -> Self {
        OuterRelation {
            base_arity: rel.arity(),
            base: rel.clone(),
            current: RefCell::new(rel),
        }
    }

    /// The relation with every column appended so far.
    pub fn into_inner(self) -> MirRelationExpr {
        self.current.into_inner()
    }

    fn arity(&self) -> usize {
        self.current.borrow().arity()
    }

    fn typ(&self) -> Vec<ColumnType> {
        self.current.borrow().typ()
    }

    /// The distinct values of `keys` (expressions over the relation).
    fn key_values(&self, keys: &[MirScalarExpr]) -> MirRelationExpr {
        key_values(
            &self.base,
            self.base_arity,
            &self.current.borrow(),
            keys,
            None,
        )
    }

    /// The distinct values of `keys` in the rows where `guard` is true (all rows
    /// without one).
    fn key_values_where(
        &self,
        keys: &[MirScalarExpr],
        guard: Option<&MirScalarExpr>,
    ) -> MirRelationExpr {
        key_values(
            &self.base,
            self.base_arity,
            &self.current.borrow(),
            keys,
            guard,
        )
    }

    /// Appends `finish` (see [`join_per_key`]) and returns the position of its first
    /// column.
    fn append_per_key(
        &self,
        keys: Vec<MirScalarExpr>,
        rows: MirRelationExpr,
        aggregates: Vec<AggregateExpr>,
        finish: Vec<MirScalarExpr>,
    ) -> usize {
        let arity = self.arity();
        let key_values = self.key_values(&keys);
        let current = self.current.replace(unit_relation());
        self.current.replace(join_per_key(
            current, key_values, keys, rows, aggregates, finish,
        ));
        arity
    }
}

/// The distinct values of `keys` over the rows of `current` where `guard` holds,
/// read from `base` (the same rows, without the columns after `base_arity`) when the
/// keys and the guard only use its columns.
fn key_values(
    base: &MirRelationExpr,
    base_arity: usize,
    current: &MirRelationExpr,
    keys: &[MirScalarExpr],
    guard: Option<&MirScalarExpr>,
) -> MirRelationExpr {
    if keys.is_empty() && guard.is_none() {
        return unit_relation();
    }
    let on_base = keys
        .iter()
        .chain(guard)
        .all(|k| k.support().iter().all(|&c| c < base_arity));
    let (source, arity) = if on_base {
        (base.clone(), base_arity)
    } else {
        (current.clone(), current.arity())
    };
    let source = source.filter(guard.into_iter().cloned().collect());
    if keys.iter().all(|k| matches!(k, MirScalarExpr::Column(_))) {
        let columns = keys
            .iter()
            .map(|k| match k {
                MirScalarExpr::Column(c) => *c,
                _ => unreachable!("checked above"),
            })
            .collect();
        return source.project(columns).distinct();
    }
    source
        .map(keys.to_vec())
        .project((arity..arity + keys.len()).collect())
        .distinct()
}

/// `current` with the columns `finish` appended, computed per value of `keys`
/// (expressions over `current`; `key_values` holds their distinct values). `rows`
/// starts with key columns and is grouped with `aggregates` into one row per key
/// value; a key value without rows is grouped with a single row of NULLs (so `count`
/// of a column of `rows` is 0 for it). `finish` is evaluated over `(keys...,
/// aggregates...)`. Every row of `current` keeps its multiplicity and gets the values
/// of its key.
fn join_per_key(
    current: MirRelationExpr,
    key_values: MirRelationExpr,
    keys: Vec<MirScalarExpr>,
    rows: MirRelationExpr,
    aggregates: Vec<AggregateExpr>,
    finish: Vec<MirScalarExpr>,
) -> MirRelationExpr {
    let n = keys.len();
    let arity = current.arity();
    let current_typ = current.typ();
    let rows_typ = rows.typ();
    let padding = rows_typ[n..]
        .iter()
        .map(|t| MirScalarExpr::literal_null(t.scalar_type))
        .collect();
    let n_aggregates = aggregates.len();
    let n_finish = finish.len();
    let per_key = MirRelationExpr::Reduce {
        input: Box::new(rows.union(key_values.map(padding))),
        group_key: (0..n).map(MirScalarExpr::Column).collect(),
        aggregates,
    }
    .map(finish)
    .project(
        (0..n)
            .chain(n + n_aggregates..n + n_aggregates + n_finish)
            .collect(),
    );
    let key_types: Vec<ColumnType> = keys
        .iter()
        .zip(&rows_typ)
        .map(|(k, t)| {
            let typ = k.typ(&current_typ);
            typ.scalar_type.nullable(typ.nullable || t.nullable)
        })
        .collect();
    let right = (arity..arity + n).map(MirScalarExpr::Column).collect();
    let equivalences = null_safe_equivalences(keys, right, &key_types);
    MirRelationExpr::Join {
        inputs: vec![current, per_key],
        equivalences,
    }
    .project((0..arity).chain(arity + n..arity + n + n_finish).collect())
}

/// `rel` with the value columns of `table` appended: `table` starts with key columns
/// and holds at most one row per key; each row of `rel` gets the values of the row
/// whose key equals (NULL-safely) its `keys`, or `defaults` (literals) when there is
/// none. Every row of `rel` is kept, with its multiplicity.
pub fn lookup(
    rel: MirRelationExpr,
    keys: Vec<MirScalarExpr>,
    table: MirRelationExpr,
    defaults: Vec<MirScalarExpr>,
) -> MirRelationExpr {
    let arity = rel.arity();
    let key_values = key_values(&rel, arity, &rel, &keys, None);
    let (rows, aggregates, finish) = lookup_parts(keys.len(), table, defaults);
    join_per_key(rel, key_values, keys, rows, aggregates, finish)
}

/// The rows, aggregates and finish of a lookup in `table` (see [`lookup`]).
fn lookup_parts(
    n: usize,
    table: MirRelationExpr,
    defaults: Vec<MirScalarExpr>,
) -> (MirRelationExpr, Vec<AggregateExpr>, Vec<MirScalarExpr>) {
    let values = table.arity() - n;
    let rows = table.map(vec![MirScalarExpr::literal_true()]);
    let flag = n + values;
    let mut aggregates = vec![count_of(flag)];
    aggregates.extend((n..n + values).map(|c| AggregateExpr {
        func: AggregateFunc::Min,
        expr: MirScalarExpr::Column(c),
        distinct: false,
        order_by: vec![],
    }));
    let finish = defaults
        .into_iter()
        .enumerate()
        .map(|(i, default)| MirScalarExpr::If {
            cond: Box::new(greater_than_zero(MirScalarExpr::Column(n))),
            then: Box::new(MirScalarExpr::Column(n + 1 + i)),
            els: Box::new(default),
        })
        .collect();
    (rows, aggregates, finish)
}

fn outer_relation<'r>(ecx: &ExprContext<'r>) -> Result<&'r OuterRelation, SqlError> {
    ecx.rel
        .ok_or_else(|| SqlError::unsupported_plural(format!("subqueries in {}", ecx.clause)))
}

fn literal(datum: Datum, typ: ScalarType) -> MirScalarExpr {
    let nullable = datum.is_null();
    MirScalarExpr::literal(datum, typ.nullable(nullable))
}

/// `count(column)`.
fn count_of(column: usize) -> AggregateExpr {
    AggregateExpr {
        func: AggregateFunc::Count,
        expr: MirScalarExpr::Column(column),
        distinct: false,
        order_by: vec![],
    }
}

fn greater_than_zero(e: MirScalarExpr) -> MirScalarExpr {
    e.call_binary(literal(Datum::Int64(0), ScalarType::Int64), BinaryFunc::Gt)
}

fn column(c: usize, typ: ColumnType) -> Typed {
    Typed::new(MirScalarExpr::Column(c), typ)
}

fn columns(cols: &[usize]) -> Vec<MirScalarExpr> {
    cols.iter().map(|&c| MirScalarExpr::Column(c)).collect()
}

/// `(SELECT ...)` used as a value.
pub fn plan_scalar(ecx: &ExprContext, query: &Query) -> Result<CExpr, SqlError> {
    let outer = outer_relation(ecx)?;
    let planned = plan_correlated(ecx, query)?;
    let value_typ = planned.single_column()?.scalar_type;
    let n = planned.prefix();
    // Per key: how many rows, and the least value (the value, when there is one).
    let rows = planned.expr.map(vec![MirScalarExpr::literal_true()]);
    let aggregates = vec![
        count_of(n + 1),
        AggregateExpr {
            func: AggregateFunc::Min,
            expr: MirScalarExpr::Column(n),
            distinct: false,
            order_by: vec![],
        },
    ];
    let checked = MirScalarExpr::If {
        cond: Box::new(
            MirScalarExpr::Column(n)
                .call_binary(literal(Datum::Int64(1), ScalarType::Int64), BinaryFunc::Gt),
        ),
        then: Box::new(MirScalarExpr::Literal(
            Err(EvalError::MultipleRowsFromSubquery),
            value_typ.nullable(true),
        )),
        els: Box::new(MirScalarExpr::Column(n + 1)),
    };
    let col = outer.append_per_key(columns(&planned.columns), rows, aggregates, vec![checked]);
    Ok(column(col, value_typ.nullable(true)).into())
}

/// `[NOT] EXISTS (SELECT ...)`.
pub fn plan_exists(ecx: &ExprContext, query: &Query, negated: bool) -> Result<CExpr, SqlError> {
    let outer = outer_relation(ecx)?;
    let planned = plan_correlated(ecx, query)?;
    let n = planned.prefix();
    let rows = planned
        .expr
        .project((0..n).collect())
        .map(vec![MirScalarExpr::literal_true()]);
    let col = outer.append_per_key(
        columns(&planned.columns),
        rows,
        vec![count_of(n)],
        vec![greater_than_zero(MirScalarExpr::Column(n))],
    );
    let exists = column(col, ScalarType::Bool.nullable(false));
    Ok(if negated {
        exists.unary(UnaryFunc::Not)
    } else {
        exists
    }
    .into())
}

/// `x [NOT] IN (SELECT y ...)`, also `x = ANY (SELECT ...)` and `x <> ALL (SELECT ...)`.
pub fn plan_in(
    ecx: &ExprContext,
    lhs: &Expr,
    query: &Query,
    negated: bool,
) -> Result<CExpr, SqlError> {
    let scx = ecx.scx;
    let outer = outer_relation(ecx)?;
    let planned = plan_correlated(ecx, query)?;
    if planned.names.len() > 1 {
        return Err(SqlError::syntax("subquery has too many columns"));
    }
    let y_typ = planned.single_column()?;
    let n = planned.prefix();
    let x = expr::plan_expr(ecx, lhs)?;
    let y = CExpr::Typed(column(n, y_typ));
    let (x, y) = expr::unify_for_comparison(scx, x, y, "=")?;
    // The subquery's rows as (key..., y) with y in the comparison type.
    let sub = planned
        .expr
        .map(vec![y.expr])
        .project((0..n).chain([n + 1]).collect());
    let outer_typ = outer.typ();
    let keys = columns(&planned.columns);
    let mut keys_with_x = keys.clone();
    keys_with_x.push(x.expr.clone());

    // found: some y equals x (the join never matches NULLs).
    let key_types: Vec<ColumnType> = planned.columns.iter().map(|&c| outer_typ[c]).collect();
    let mut equivalences = null_safe_equivalences(
        (0..n).map(MirScalarExpr::Column).collect(),
        (n + 1..2 * n + 1).map(MirScalarExpr::Column).collect(),
        &key_types,
    );
    equivalences.push(vec![
        MirScalarExpr::Column(n),
        MirScalarExpr::Column(2 * n + 1),
    ]);
    let matches = MirRelationExpr::Join {
        inputs: vec![outer.key_values(&keys_with_x), sub.clone()],
        equivalences,
    }
    .project((0..=n).collect())
    .map(vec![MirScalarExpr::literal_true()]);
    let found_col = outer.append_per_key(
        keys_with_x,
        matches,
        vec![count_of(n + 1)],
        vec![greater_than_zero(MirScalarExpr::Column(n + 1))],
    );

    // Per key: whether the subquery has rows, and whether one of its y is NULL.
    let stats_rows = sub.map(vec![
        MirScalarExpr::literal_true(),
        MirScalarExpr::Column(n).call_unary(UnaryFunc::IsNull),
    ]);
    let stats_col = outer.append_per_key(
        keys,
        stats_rows,
        vec![
            count_of(n + 1),
            AggregateExpr {
                func: AggregateFunc::BoolOr,
                expr: MirScalarExpr::Column(n + 2),
                distinct: false,
                order_by: vec![],
            },
        ],
        vec![
            greater_than_zero(MirScalarExpr::Column(n)),
            MirScalarExpr::CallVariadic {
                func: VariadicFunc::Coalesce,
                exprs: vec![
                    MirScalarExpr::Column(n + 1),
                    literal(Datum::Bool(false), ScalarType::Bool),
                ],
            },
        ],
    );

    let bool_lit = |b: bool| literal(Datum::Bool(b), ScalarType::Bool);
    let unknown = MirScalarExpr::CallVariadic {
        func: VariadicFunc::Or,
        exprs: vec![
            x.expr.call_unary(UnaryFunc::IsNull),
            MirScalarExpr::Column(stats_col + 1),
        ],
    };
    let result = MirScalarExpr::If {
        cond: Box::new(MirScalarExpr::Column(found_col)),
        then: Box::new(bool_lit(true)),
        els: Box::new(MirScalarExpr::If {
            cond: Box::new(MirScalarExpr::Column(stats_col)),
            then: Box::new(MirScalarExpr::If {
                cond: Box::new(unknown),
                then: Box::new(MirScalarExpr::literal_null(ScalarType::Bool)),
                els: Box::new(bool_lit(false)),
            }),
            els: Box::new(bool_lit(false)),
        }),
    };
    let nullable = x.typ.nullable || y_typ.nullable;
    let result = Typed::new(result, ScalarType::Bool.nullable(nullable));
    Ok(if negated {
        result.unary(UnaryFunc::Not)
    } else {
        result
    }
    .into())
}

/// `ARRAY(SELECT ...)`: the empty array when the subquery has no rows. Collecting the
/// rows of a non-empty result needs an aggregate the dataflow does not have yet, so
/// such a result is a `0A000` error when the statement reads it.
pub fn plan_array(ecx: &ExprContext, query: &Query) -> Result<CExpr, SqlError> {
    let outer = outer_relation(ecx)?;
    let planned = plan_correlated(ecx, query)?;
    let elem = planned.single_column()?.scalar_type;
    let array = elem.array_type().ok_or_else(|| {
        SqlError::unsupported(format!("ARRAY(subquery) of type {}", elem.sql_name()))
    })?;
    let n = planned.prefix();
    let unsupported = EvalError::FeatureNotSupported {
        message: "ARRAY(subquery) with a non-empty result is not supported yet".into(),
        detail: None,
    };
    let rows = planned
        .expr
        .project((0..n).collect())
        .map(vec![MirScalarExpr::literal_true()]);
    let value = MirScalarExpr::If {
        cond: Box::new(greater_than_zero(MirScalarExpr::Column(n))),
        then: Box::new(MirScalarExpr::Literal(
            Err(unsupported),
            array.nullable(false),
        )),
        els: Box::new(literal(Datum::Array(vec![]), array)),
    };
    let col = outer.append_per_key(
        columns(&planned.columns),
        rows,
        vec![count_of(n)],
        vec![value],
    );
    Ok(column(col, array.nullable(false)).into())
}

/// A value looked up in a catalog relation: the value of the row of `table` (key
/// column first, then the value) whose key equals `key`, or `default`. Used by the
/// functions that read the catalog (`pg_get_viewdef`, `pg_table_is_visible`, ...),
/// so they stay correct as the catalog changes.
pub fn plan_catalog_lookup(
    ecx: &ExprContext,
    key: Typed,
    table: MirRelationExpr,
    default: Typed,
) -> Result<Typed, SqlError> {
    let outer = outer_relation(ecx)?;
    let value_typ = table.typ()[1];
    let default_expr = match default.expr {
        e @ MirScalarExpr::Literal(..) => e,
        other => {
            return Err(SqlError::internal(format!(
                "catalog lookup default is not a literal: {other:?}"
            )))
        }
    };
    let (rows, aggregates, finish) = lookup_parts(1, table, vec![default_expr]);
    let col = outer.append_per_key(vec![key.expr], rows, aggregates, finish);
    let nullable = value_typ.nullable || default.typ.nullable || key.typ.nullable;
    Ok(column(col, value_typ.scalar_type.nullable(nullable)))
}

/// The relation `pg_catalog.<name>` and a resolver of its column names.
pub fn catalog_relation(
    ecx: &ExprContext,
    name: &str,
) -> Result<(MirRelationExpr, crate::catalog::CatalogItem), SqlError> {
    let item = ecx
        .scx
        .resolve_relation(Some(crate::names::PG_CATALOG_SCHEMA), name)
        .ok_or_else(|| {
            SqlError::internal(format!("builtin relation pg_catalog.{name} is missing"))
        })?;
    let expr = MirRelationExpr::Get {
        id: item.id,
        typ: item.desc.types.clone(),
        name: item.name.clone(),
    };
    Ok((expr, item))
}

/// The position of column `column` of a builtin relation.
pub fn catalog_column(item: &crate::catalog::CatalogItem, column: &str) -> Result<usize, SqlError> {
    item.desc.column_index(column).ok_or_else(|| {
        SqlError::internal(format!(
            "builtin relation {} has no column {column}",
            item.name
        ))
    })
}
