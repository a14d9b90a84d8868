//! EXPLAIN text for the IR: one operator per line, children indented by two spaces,
//! columns written `#n`. The output depends only on the plan, so golden tests can pin it.

use std::fmt::Write;

use eddy_repr::Datum;

use crate::func::{BinaryFunc, CastKind, UnaryFunc, VariadicFunc};
use crate::join_order::{choose_implementation, JoinImplementation};
use crate::relation::{ColumnOrder, MirRelationExpr};
use crate::scalar::MirScalarExpr;

/// Renders a plan as indented text. `maintained` is true for the plan of a
/// materialized view (kept up to date), false for a one-off query: it decides how
/// joins are rendered, which each `Join` line states with its reason.
pub fn explain(expr: &MirRelationExpr, maintained: bool) -> String {
    let mut out = String::new();
    explain_rec(expr, maintained, 0, &mut out);
    out
}

fn list<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    join(items, f, ", ")
}

fn join<T>(items: &[T], f: impl Fn(&T) -> String, sep: &str) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(sep)
}

fn explain_rec(expr: &MirRelationExpr, maintained: bool, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    let line = match expr {
        MirRelationExpr::Constant { rows, .. } => {
            if rows.is_empty() {
                "Constant <empty>".to_string()
            } else {
                let shown: Vec<String> = rows
                    .iter()
                    .take(5)
                    .map(|(row, diff)| {
                        let datums = list(&row.unpack(), datum_text);
                        if *diff == 1 {
                            format!("({datums})")
                        } else {
                            format!("({datums}) x {diff}")
                        }
                    })
                    .collect();
                let more = if rows.len() > 5 {
                    format!(" and {} more", rows.len() - 5)
                } else {
                    String::new()
                };
                format!("Constant {}{more}", shown.join(" "))
            }
        }
        MirRelationExpr::Get { name, id, .. } => format!("Get {name} ({id})"),
        MirRelationExpr::Map { scalars, .. } => format!("Map ({})", list(scalars, scalar_text)),
        MirRelationExpr::FlatMap { calls, .. } => format!(
            "FlatMap ({})",
            list(calls, |c| format!(
                "{}({})",
                c.func.name(),
                list(&c.exprs, scalar_text)
            ))
        ),
        MirRelationExpr::Filter { predicates, .. } => {
            format!("Filter {}", join(predicates, scalar_text, " AND "))
        }
        MirRelationExpr::TemporalFilter { predicates, .. } => {
            let shown = |p: &crate::temporal::TemporalPredicate| {
                let op = match p.cmp {
                    crate::BinaryFunc::Lt => "<",
                    crate::BinaryFunc::Lte => "<=",
                    crate::BinaryFunc::Gt => ">",
                    crate::BinaryFunc::Gte => ">=",
                    _ => "=",
                };
                format!("now() {op} {}", scalar_text(&p.bound))
            };
            format!("TemporalFilter {}", join(predicates, shown, " AND "))
        }
        MirRelationExpr::Project { outputs, .. } => {
            format!("Project ({})", list(outputs, |c| format!("#{c}")))
        }
        MirRelationExpr::Join {
            inputs,
            equivalences,
        } => {
            if equivalences.is_empty() {
                "CrossJoin".to_string()
            } else {
                let eqs = join(
                    equivalences,
                    |class| join(class, scalar_text, " = "),
                    " AND ",
                );
                let arities: Vec<usize> = inputs.iter().map(|i| i.arity()).collect();
                let (kind, why) = choose_implementation(&arities, equivalences, maintained);
                let kind = match kind {
                    JoinImplementation::Linear => "linear",
                    JoinImplementation::Delta => "delta",
                };
                format!("Join on=({eqs}) type={kind} ({why})")
            }
        }
        MirRelationExpr::Reduce {
            group_key,
            aggregates,
            ..
        } => {
            let mut s = String::from(if aggregates.is_empty() {
                "Distinct"
            } else {
                "Reduce"
            });
            if !group_key.is_empty() {
                write!(s, " group_by=[{}]", list(group_key, scalar_text)).unwrap();
            }
            if !aggregates.is_empty() {
                let aggs = list(aggregates, |a| {
                    let distinct = if a.distinct { "distinct " } else { "" };
                    let order = if a.order_by.is_empty() {
                        String::new()
                    } else {
                        let keys = list(&a.order_by, |o| {
                            let dir = if o.desc { "desc" } else { "asc" };
                            let nulls = if o.nulls_last {
                                "nulls_last"
                            } else {
                                "nulls_first"
                            };
                            format!("{} {dir} {nulls}", scalar_text(&o.expr))
                        });
                        format!(" order_by=[{keys}]")
                    };
                    format!(
                        "{}({distinct}{}{order})",
                        a.func.name(),
                        scalar_text(&a.expr)
                    )
                });
                write!(s, " aggregates=[{aggs}]").unwrap();
            }
            s
        }
        MirRelationExpr::TopK {
            group_key,
            order_key,
            limit,
            offset,
            ..
        } => {
            let mut s = String::from("TopK");
            if !group_key.is_empty() {
                write!(s, " group_by=[{}]", list(group_key, |c| format!("#{c}"))).unwrap();
            }
            write!(s, " order_by=[{}]", list(order_key, order_text)).unwrap();
            if let Some(l) = limit {
                write!(s, " limit={l}").unwrap();
            }
            if *offset > 0 {
                write!(s, " offset={offset}").unwrap();
            }
            s
        }
        MirRelationExpr::Window {
            input,
            partition_key,
            order_key,
            functions,
        } => {
            let mut s = String::from("Window");
            if !partition_key.is_empty() {
                write!(
                    s,
                    " partition_by=[{}]",
                    list(partition_key, |c| format!("#{c}"))
                )
                .unwrap();
            }
            if !order_key.is_empty() {
                write!(s, " order_by=[{}]", list(order_key, order_text)).unwrap();
            }
            let funcs = list(functions, |f| {
                let mut args = list(&f.func.columns(), |c| format!("#{c}"));
                if let Some(params) = f.func.params_text() {
                    args = format!("{args}, {params}");
                }
                if f.func.uses_frame() {
                    format!("{}({args}) {}", f.func.name(), f.frame.text())
                } else {
                    format!("{}({args})", f.func.name())
                }
            });
            write!(s, " functions=[{funcs}]").unwrap();
            // Only the cheap strategy is named: the partition's is the default.
            let strategy = crate::WindowStrategy::choose(&input.typ(), order_key, functions);
            if strategy != crate::WindowStrategy::Partition {
                write!(s, " strategy={}", strategy.name()).unwrap();
            }
            s
        }
        MirRelationExpr::Watermarked {
            bound_column,
            offset_us,
            mode,
            ..
        } => {
            let bound = match offset_us {
                0 => format!("#{bound_column}"),
                us => format!("#{bound_column} + {us}us"),
            };
            match mode {
                crate::WatermarkMode::ExpireSessions { partition_key } => format!(
                    "Watermarked {} partition_by=[{}] time=#{bound_column} gap={offset_us}us",
                    mode.name(),
                    list(partition_key, |c| format!("#{c}"))
                ),
                _ => format!("Watermarked {} bound={bound}", mode.name()),
            }
        }
        MirRelationExpr::Negate { .. } => "Negate".to_string(),
        MirRelationExpr::Threshold { .. } => "Threshold".to_string(),
        MirRelationExpr::Union { .. } => "Union".to_string(),
        MirRelationExpr::Recursive {
            name,
            distinct,
            max_iterations,
            ..
        } => {
            let kind = if *distinct { "union" } else { "union_all" };
            format!("Recursive {name} {kind} max_iterations={max_iterations}")
        }
        MirRelationExpr::GetRecursive { name, .. } => format!("GetRecursive {name}"),
    };
    writeln!(out, "{indent}{line}").unwrap();
    for child in expr.children() {
        explain_rec(child, maintained, depth + 1, out);
    }
}

fn order_text(o: &ColumnOrder) -> String {
    let dir = if o.desc { " desc" } else { " asc" };
    let nulls = if o.nulls_last {
        " nulls_last"
    } else {
        " nulls_first"
    };
    format!("#{}{dir}{nulls}", o.column)
}

pub fn datum_text(d: &Datum) -> String {
    match d {
        Datum::Null => "null".into(),
        Datum::Bool(b) => b.to_string(),
        Datum::Int16(v) => v.to_string(),
        Datum::Int32(v) => v.to_string(),
        Datum::Int64(v) => v.to_string(),
        Datum::Float32(v) => v.0.to_string(),
        Datum::Float64(v) => v.0.to_string(),
        Datum::Numeric(v) => v.to_string(),
        Datum::String(s) => format!("{s:?}"),
        Datum::Jsonb(s) => format!("{s:?}::jsonb"),
        Datum::Timestamp(t) => format!("{t:?}"),
        Datum::TimestampTz(t) => format!("{t:?}"),
        Datum::Date(t) => format!("{t:?}"),
        Datum::Time(t) => format!("{t:?}"),
        Datum::Interval(i) => format!(
            "interval({} months {} days {} us)",
            i.months, i.days, i.micros
        ),
        Datum::Oid(o) => o.to_string(),
        other => format!("{other:?}"),
    }
}

/// Renders a scalar expression (`#n` for columns).
#[recursive::recursive]
pub fn scalar_text(expr: &MirScalarExpr) -> String {
    match expr {
        MirScalarExpr::Column(c) => format!("#{c}"),
        MirScalarExpr::Literal(Ok(d), _) => datum_text(d),
        MirScalarExpr::Literal(Err(e), _) => format!("error({e:?})"),
        MirScalarExpr::CallUnary { func, expr } => {
            let arg = scalar_text(expr);
            match func {
                UnaryFunc::Not => format!("NOT {arg}"),
                UnaryFunc::IsNull => format!("({arg} IS NULL)"),
                UnaryFunc::IsTrue => format!("({arg} IS TRUE)"),
                UnaryFunc::IsFalse => format!("({arg} IS FALSE)"),
                UnaryFunc::Neg => format!("-{arg}"),
                UnaryFunc::Cast { to, kind } => {
                    let assign = if *kind == CastKind::Assignment {
                        " (assignment)"
                    } else {
                        ""
                    };
                    format!("{arg}::{}{assign}", to.sql_name())
                }
                UnaryFunc::Extract(field) => format!("extract({field} from {arg})"),
                UnaryFunc::DatePart(field) => format!("date_part('{field}', {arg})"),
                UnaryFunc::DateTrunc(unit) => format!("date_trunc('{unit}', {arg})"),
                UnaryFunc::TimestampTzToLocal(zone) | UnaryFunc::LocalToTimestampTz(zone) => {
                    format!("({arg} AT TIME ZONE '{zone}')")
                }
                UnaryFunc::ExtractZoneField(field, zone) => {
                    format!("extract({field} from {arg} in time zone '{zone}')")
                }
                UnaryFunc::DatePartZoneField(field, zone) => {
                    format!("date_part('{field}', {arg} in time zone '{zone}')")
                }
                UnaryFunc::TimestampTzToJsonbIn(zone) => format!("to_jsonb({arg}, '{zone}')"),
                UnaryFunc::TimestampTzToTextIn(zone) => format!("timestamptz_out({arg}, '{zone}')"),
                UnaryFunc::TextToTimestampTzIn(zone) => format!("timestamptz_in({arg}, '{zone}')"),
                other => format!("{}({arg})", snake(&format!("{other:?}"))),
            }
        }
        MirScalarExpr::CallBinary { func, expr1, expr2 } => {
            let (a, b) = (scalar_text(expr1), scalar_text(expr2));
            let op = match func {
                BinaryFunc::Add => "+",
                BinaryFunc::Sub => "-",
                BinaryFunc::Mul => "*",
                BinaryFunc::Div => "/",
                BinaryFunc::Mod => "%",
                BinaryFunc::Eq => "=",
                BinaryFunc::NotEq => "!=",
                BinaryFunc::Lt => "<",
                BinaryFunc::Lte => "<=",
                BinaryFunc::Gt => ">",
                BinaryFunc::Gte => ">=",
                BinaryFunc::Concat => "||",
                BinaryFunc::Like => "LIKE",
                BinaryFunc::ILike => "ILIKE",
                BinaryFunc::RegexMatch {
                    case_insensitive: false,
                } => "~",
                BinaryFunc::RegexMatch {
                    case_insensitive: true,
                } => "~*",
                BinaryFunc::JsonbGet => "->",
                BinaryFunc::JsonbGetText => "->>",
                BinaryFunc::JsonbGetPath => "#>",
                BinaryFunc::JsonbGetPathText => "#>>",
                BinaryFunc::JsonbContains => "@>",
                BinaryFunc::JsonbExists => "?",
                BinaryFunc::JsonbExistsAny => "?|",
                BinaryFunc::JsonbExistsAll => "?&",
                BinaryFunc::BitAnd => "&",
                BinaryFunc::BitOr => "|",
                BinaryFunc::BitXor => "#",
                BinaryFunc::ShiftLeft => "<<",
                BinaryFunc::ShiftRight => ">>",
                BinaryFunc::IsDistinctFrom => "IS DISTINCT FROM",
                BinaryFunc::AddTimestampTzIntervalIn(zone) => {
                    return format!("date_add({a}, {b}, '{zone}')")
                }
                BinaryFunc::SubTimestampTzIntervalIn(zone) => {
                    return format!("date_subtract({a}, {b}, '{zone}')")
                }
                other => return format!("{}({a}, {b})", snake(&format!("{other:?}"))),
            };
            format!("({a} {op} {b})")
        }
        MirScalarExpr::CallVariadic { func, exprs } => match func {
            VariadicFunc::And => format!("({})", join(exprs, scalar_text, " AND ")),
            VariadicFunc::Or => format!("({})", join(exprs, scalar_text, " OR ")),
            VariadicFunc::ToCharIn(zone) => {
                format!("to_char({}, '{zone}')", list(exprs, scalar_text))
            }
            other => format!(
                "{}({})",
                snake(&format!("{other:?}")),
                list(exprs, scalar_text)
            ),
        },
        MirScalarExpr::If { cond, then, els } => format!(
            "case when {} then {} else {} end",
            scalar_text(cond),
            scalar_text(then),
            scalar_text(els)
        ),
    }
}

/// `BTrimChars` → `btrim_chars`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}
