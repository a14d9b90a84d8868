//! Sequences: `CREATE SEQUENCE`, `DROP SEQUENCE`, `nextval`/`currval`/`setval`, and the
//! `serial` types and identity columns that own one.
//!
//! The planner does not hold sequence state: the coordinator hands it a
//! [`SequenceAccess`] in the [`PlanContext`](crate::PlanContext), and a call of
//! `nextval('s')` takes the next value when the statement is planned, as a literal.
//! So a call may only appear where it is evaluated once per row planned: in a VALUES
//! row of an INSERT (each row is planned on its own) or in a SELECT without FROM.
//! Over the rows of a query, or in a view, it is refused (0A000). A `serial` column
//! an `INSERT ... SELECT` leaves out is filled by the coordinator, one value per row
//! (`Plan::Insert::serial_fill`).
//!
//! Names: a sequence is `(schema, name)`, `public` when unqualified; a `serial` column
//! `c` of table `t` owns `t_c_seq`, dropped with the table.

use eddy_repr::{Datum, ScalarType, SqlError, SqlState};
use sqlparser::ast::{DataType, Expr, ObjectName, SequenceOptions, Value};

use crate::context::{CExpr, Typed};
use crate::expr::ExprContext;
use crate::names::{object_name_parts, PUBLIC_SCHEMA};
use crate::plan::Plan;

/// What the planner may do with the coordinator's sequences.
pub trait SequenceAccess: std::fmt::Debug + Send + Sync {
    /// Advances sequence `(schema, name)` and returns its new value.
    fn nextval(&self, schema: &str, name: &str) -> Result<i64, SqlError>;
    /// The value `nextval` last returned in this server's life (55000 before any).
    fn currval(&self, schema: &str, name: &str) -> Result<i64, SqlError>;
    /// Sets the value; with `is_called`, the next `nextval` returns `value` plus the
    /// increment, else `value` itself.
    fn setval(
        &self,
        schema: &str,
        name: &str,
        value: i64,
        is_called: bool,
    ) -> Result<i64, SqlError>;
}

/// A `serial` type's integer type, if `data_type` is one.
pub fn serial_type(data_type: &DataType) -> Option<ScalarType> {
    let DataType::Custom(name, modifiers) = data_type else {
        return None;
    };
    if !modifiers.is_empty() {
        return None;
    }
    match object_name_parts(name).ok()?.as_slice() {
        [t] => match t.as_str() {
            "serial" | "serial4" => Some(ScalarType::Int32),
            "bigserial" | "serial8" => Some(ScalarType::Int64),
            "smallserial" | "serial2" => Some(ScalarType::Int16),
            _ => None,
        },
        _ => None,
    }
}

/// The sequence a `serial` or identity column `column` of table `table` owns.
pub fn owned_sequence_name(table: &str, column: &str) -> String {
    format!("{table}_{column}_seq")
}

/// The `DEFAULT` text of a column that takes its values from sequence `name`.
pub fn nextval_default(name: &str) -> String {
    format!("nextval('{name}')")
}

/// The sequence a column's `DEFAULT` text takes its values from, if it is exactly
/// `nextval('name')` (possibly with `::regclass`).
pub fn sequence_of_default(default: &str) -> Option<(String, String)> {
    let rest = default.trim().strip_prefix("nextval('")?;
    let (name, tail) = rest.split_once('\'')?;
    let tail = tail.trim_start_matches("::regclass");
    (tail == ")").then(|| split_name(name))?
}

/// `schema.name` or `name` (in `public`), as written in a string.
fn split_name(text: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = text.split('.').collect();
    match parts.as_slice() {
        [name] => Some((PUBLIC_SCHEMA.to_string(), name.to_lowercase())),
        [schema, name] => Some((schema.to_lowercase(), name.to_lowercase())),
        _ => None,
    }
}

/// `CREATE SEQUENCE [IF NOT EXISTS] name [INCREMENT [BY] n] [START [WITH] n]`.
pub(crate) fn plan_create_sequence(
    name: &ObjectName,
    if_not_exists: bool,
    temporary: bool,
    data_type: Option<&DataType>,
    options: &[SequenceOptions],
    owned_by: Option<&ObjectName>,
) -> Result<Plan, SqlError> {
    if temporary || owned_by.is_some() || data_type.is_some() {
        return Err(SqlError::unsupported(
            "CREATE SEQUENCE with TEMPORARY, AS or OWNED BY",
        ));
    }
    let (schema, name) = qualified(name)?;
    let (mut start, mut increment) = (None, 1i64);
    for option in options {
        match option {
            SequenceOptions::IncrementBy(e, _) => increment = integer(e, "INCREMENT")?,
            SequenceOptions::StartWith(e, _) => start = Some(integer(e, "START")?),
            SequenceOptions::Cache(_) => {}
            other => {
                return Err(SqlError::unsupported(format!(
                    "CREATE SEQUENCE ... {}",
                    other.to_string().trim()
                )))
            }
        }
    }
    if increment == 0 {
        return Err(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "INCREMENT must not be zero",
        ));
    }
    Ok(Plan::CreateSequence {
        schema,
        name,
        start: start.unwrap_or(if increment > 0 { 1 } else { -1 }),
        increment,
        if_not_exists,
    })
}

fn qualified(name: &ObjectName) -> Result<(String, String), SqlError> {
    match object_name_parts(name)?.as_slice() {
        [name] => Ok((PUBLIC_SCHEMA.to_string(), name.clone())),
        [schema, name] => Ok((schema.clone(), name.clone())),
        _ => Err(SqlError::syntax(format!("improper sequence name: {name}"))),
    }
}

/// `(schema, name)` of the sequences of `DROP SEQUENCE`.
pub(crate) fn drop_names(names: &[ObjectName]) -> Result<Vec<(String, String)>, SqlError> {
    names.iter().map(qualified).collect()
}

fn integer(e: &Expr, what: &str) -> Result<i64, SqlError> {
    let (negative, e) = match e {
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Minus,
            expr,
        } => (true, expr.as_ref()),
        e => (false, e),
    };
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n
                .parse::<i64>()
                .map(|n| if negative { -n } else { n })
                .map_err(|_| SqlError::syntax(format!("{what} must be an integer, not {n}"))),
            _ => Err(SqlError::syntax(format!("{what} must be an integer"))),
        },
        _ => Err(SqlError::syntax(format!("{what} must be an integer"))),
    }
}

/// `nextval`, `currval` and `setval`, if `name` is one of them.
pub(crate) fn plan_sequence_function(
    ecx: &ExprContext,
    name: &str,
    args: &[CExpr],
) -> Result<Option<Typed>, SqlError> {
    if !matches!(name, "nextval" | "currval" | "setval") {
        return Ok(None);
    }
    let scx = ecx.scx;
    if scx.in_view.get() {
        return Err(
            SqlError::unsupported(format!("{name}() in a view")).with_detail(
                "a sequence's value changes with every call: a maintained view could not give \
             the same rows when it is recomputed",
            ),
        );
    }
    if ecx.scope.len() > 0 {
        return Err(SqlError::unsupported(format!(
            "{name}() over the rows of a query"
        ))
        .with_hint("Call it in VALUES or in a SELECT without FROM, or leave a serial column out of an INSERT."));
    }
    let Some(access) = scx.pcx.sequences.as_ref() else {
        return Err(SqlError::unsupported(format!("{name}() here")));
    };
    let literal_arg = |i: usize| -> Result<Datum, SqlError> {
        match args.get(i) {
            Some(CExpr::Str(s)) => Ok(Datum::String(s.clone())),
            Some(CExpr::Typed(t)) => t.expr.as_literal().cloned().ok_or_else(|| {
                SqlError::unsupported(format!("{name}() of a value that is not a constant"))
            }),
            _ => Err(SqlError::function_does_not_exist(format!("{name}()"))),
        }
    };
    let sequence = match literal_arg(0)? {
        Datum::String(s) => split_name(&s).ok_or_else(|| {
            SqlError::syntax(format!(
                "improper relation name (too many dotted names): {s}"
            ))
        })?,
        _ => {
            return Err(SqlError::function_does_not_exist(format!(
                "{name}(unknown)"
            )))
        }
    };
    let (schema, seq) = (&sequence.0, &sequence.1);
    let value = match (name, args.len()) {
        ("nextval", 1) => access.nextval(schema, seq)?,
        ("currval", 1) => access.currval(schema, seq)?,
        ("setval", 2 | 3) => {
            let value = match literal_arg(1)? {
                Datum::Int16(v) => i64::from(v),
                Datum::Int32(v) => i64::from(v),
                Datum::Int64(v) => v,
                Datum::Numeric(d) => d
                    .round_to_i128()
                    .and_then(|v| i64::try_from(v).ok())
                    .ok_or_else(|| {
                        SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "bigint out of range")
                    })?,
                _ => {
                    return Err(SqlError::function_does_not_exist(
                        "setval(unknown, unknown)",
                    ))
                }
            };
            let is_called = match args.len() {
                3 => matches!(literal_arg(2)?, Datum::Bool(true)),
                _ => true,
            };
            access.setval(schema, seq, value, is_called)?
        }
        _ => {
            return Err(SqlError::function_does_not_exist(format!(
                "{name} with {} arguments",
                args.len()
            )))
        }
    };
    Ok(Some(Typed::literal(Datum::Int64(value), ScalarType::Int64)))
}
