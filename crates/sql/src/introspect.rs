//! The functions clients call to describe the catalog (`pg_get_userbyid`,
//! `pg_table_is_visible`, `pg_get_viewdef`, `format_type`, `current_setting`, ...).
//!
//! Functions whose answer depends on the catalog's contents are planned as lookups in
//! the `pg_catalog` relations (see `subquery::plan_catalog_lookup`), never as
//! constants of the moment the statement is planned, so a view that calls them stays
//! correct as the catalog changes. Like Postgres, a lookup of an OID the catalog does
//! not have gives NULL.
//!
//! Eddy's only indexes and constraints are PRIMARY KEYs (`<table>_pkey`), which
//! `pg_get_indexdef` and `pg_get_constraintdef` describe. It has no defaults, rules
//! (other than views' `_RETURN`), triggers, sequences, comments or statistics objects:
//! the functions that describe those return NULL, which is what Postgres returns for
//! an OID it does not know; sizes are 0 and privilege checks true (there is one role,
//! `eddy`).
//!
//! Visibility follows the search path Eddy resolves names with: `pg_catalog`, then
//! `public`. A relation is visible when it is in one of them and no relation of the
//! same name comes earlier (a `public.pg_class` is hidden by `pg_catalog.pg_class`).

use eddy_expr::func::CastKind;
use eddy_expr::{BinaryFunc, MirRelationExpr, MirScalarExpr, UnaryFunc, VariadicFunc};
use eddy_repr::{Datum, ScalarType};

use crate::context::{CExpr, Typed};
use crate::expr::ExprContext;
use crate::subquery::{catalog_column, catalog_relation, lookup, plan_catalog_lookup};
use crate::types::CastContext;
use eddy_repr::{SqlError, SqlState};

/// OIDs of the namespaces Eddy has.
pub const PG_CATALOG_OID: u32 = 11;
pub const PUBLIC_OID: u32 = 2200;

fn oid_literal(oid: u32) -> MirScalarExpr {
    MirScalarExpr::literal(Datum::Oid(oid), ScalarType::Oid.nullable(false))
}

fn text_literal(s: &str) -> MirScalarExpr {
    MirScalarExpr::literal(
        Datum::String(s.to_string()),
        ScalarType::Text.nullable(false),
    )
}

fn bool_literal(b: bool) -> MirScalarExpr {
    MirScalarExpr::literal(Datum::Bool(b), ScalarType::Bool.nullable(false))
}

/// An argument read as an OID (`oid`, `regclass`, an integer, or a literal).
fn oid_arg(ecx: &ExprContext, arg: CExpr, sig: &str) -> Result<Typed, SqlError> {
    let typed = ecx
        .scx
        .coerce(arg, ScalarType::Oid, CastContext::Implicit)?
        .map_err(|_| SqlError::function_does_not_exist(sig))?;
    Ok(typed.cast(ScalarType::Oid, CastKind::Explicit))
}

/// `(oid, visible)` for every relation in `pg_class` (see the module docs).
fn visibility_table(ecx: &ExprContext) -> Result<MirRelationExpr, SqlError> {
    let (class, item) = catalog_relation(ecx, "pg_class")?;
    let oid = catalog_column(&item, "oid")?;
    let relname = catalog_column(&item, "relname")?;
    let relnamespace = catalog_column(&item, "relnamespace")?;
    let class = class.project(vec![oid, relname, relnamespace]);
    let in_namespace =
        |ns: u32| MirScalarExpr::Column(2).call_binary(oid_literal(ns), BinaryFunc::Eq);
    // Names taken in pg_catalog, which comes first on the search path.
    let taken = class
        .clone()
        .filter(vec![in_namespace(PG_CATALOG_OID)])
        .project(vec![1])
        .distinct()
        .map(vec![bool_literal(true)]);
    let with_shadowed = lookup(
        class,
        vec![MirScalarExpr::Column(1)],
        taken,
        vec![bool_literal(false)],
    );
    let visible = MirScalarExpr::CallVariadic {
        func: VariadicFunc::Or,
        exprs: vec![
            in_namespace(PG_CATALOG_OID),
            MirScalarExpr::CallVariadic {
                func: VariadicFunc::And,
                exprs: vec![
                    in_namespace(PUBLIC_OID),
                    MirScalarExpr::Column(3).call_unary(UnaryFunc::Not),
                ],
            },
        ],
    };
    Ok(with_shadowed.map(vec![visible]).project(vec![0, 4]))
}

/// `(oid, true)` for every row of `pg_catalog.<relation>`.
fn existence_table(ecx: &ExprContext, relation: &str) -> Result<MirRelationExpr, SqlError> {
    let (rel, item) = catalog_relation(ecx, relation)?;
    let oid = catalog_column(&item, "oid")?;
    Ok(rel.project(vec![oid]).map(vec![bool_literal(true)]))
}

/// The name `x::regclass::text` (or `::regnamespace`, `::regrole`) prints: the
/// object's name, quoted as needed, schema-qualified when not visible; the OID itself
/// when the catalog does not have it.
pub fn plan_object_name(ecx: &ExprContext, kind: &str, oid: CExpr) -> Result<Typed, SqlError> {
    let sig = format!("{kind}out({})", oid.type_name());
    let oid = oid_arg(ecx, oid, &sig)?;
    let quote = |e: MirScalarExpr| e.call_unary(UnaryFunc::QuoteIdent);
    let table = match kind {
        "regclass" => {
            let (class, class_item) = catalog_relation(ecx, "pg_class")?;
            let (namespace, ns_item) = catalog_relation(ecx, "pg_namespace")?;
            let class = class.project(vec![
                catalog_column(&class_item, "oid")?,
                catalog_column(&class_item, "relname")?,
                catalog_column(&class_item, "relnamespace")?,
            ]);
            let namespace = namespace.project(vec![
                catalog_column(&ns_item, "oid")?,
                catalog_column(&ns_item, "nspname")?,
            ]);
            // (oid, relname, relnamespace, nsp oid, nspname, oid, visible)
            let joined = MirRelationExpr::Join {
                inputs: vec![class, namespace, visibility_table(ecx)?],
                equivalences: vec![
                    vec![MirScalarExpr::Column(2), MirScalarExpr::Column(3)],
                    vec![MirScalarExpr::Column(0), MirScalarExpr::Column(5)],
                ],
            };
            let qualified = quote(MirScalarExpr::Column(4))
                .call_binary(text_literal("."), BinaryFunc::Concat)
                .call_binary(quote(MirScalarExpr::Column(1)), BinaryFunc::Concat);
            let name = MirScalarExpr::If {
                cond: Box::new(MirScalarExpr::Column(6)),
                then: Box::new(quote(MirScalarExpr::Column(1))),
                els: Box::new(qualified),
            };
            joined.map(vec![name]).project(vec![0, 7])
        }
        "regnamespace" | "regrole" => {
            let (relation, column) = if kind == "regnamespace" {
                ("pg_namespace", "nspname")
            } else {
                ("pg_roles", "rolname")
            };
            let (rel, item) = catalog_relation(ecx, relation)?;
            rel.project(vec![
                catalog_column(&item, "oid")?,
                catalog_column(&item, column)?,
            ])
            .map(vec![quote(MirScalarExpr::Column(1))])
            .project(vec![0, 2])
        }
        other => return Err(SqlError::internal(format!("no names for type {other}"))),
    };
    let name = plan_catalog_lookup(ecx, oid.clone(), table, Typed::null(ScalarType::Text))?;
    // Unknown OIDs print as numbers.
    let number = oid.cast(ScalarType::Text, CastKind::Explicit);
    Ok(Typed::variadic(VariadicFunc::Coalesce, vec![name, number]))
}

/// A catalog-reading function, if `name` is one; `None` lets the caller resolve other
/// functions.
pub fn plan_catalog_function(
    ecx: &ExprContext,
    name: &str,
    args: &[CExpr],
) -> Result<Option<Typed>, SqlError> {
    let types: Vec<String> = args.iter().map(CExpr::type_name).collect();
    let sig = format!("{name}({})", types.join(", "));
    let n = args.len();
    let mut args = args.iter().cloned();
    let mut next = || args.next().expect("argument count checked");
    Ok(Some(match (name, n) {
        ("pg_get_userbyid", 1) => {
            let oid = oid_arg(ecx, next(), &sig)?;
            let (roles, item) = catalog_relation(ecx, "pg_roles")?;
            let table = roles.project(vec![
                catalog_column(&item, "oid")?,
                catalog_column(&item, "rolname")?,
            ]);
            let found =
                plan_catalog_lookup(ecx, oid.clone(), table, Typed::null(ScalarType::Name))?;
            // Postgres names an unknown role by its OID.
            let unknown = Typed::variadic(
                VariadicFunc::Concat,
                vec![
                    Typed::literal(Datum::String("unknown (OID=".into()), ScalarType::Text),
                    oid.cast(ScalarType::Text, CastKind::Explicit),
                    Typed::literal(Datum::String(")".into()), ScalarType::Text),
                ],
            )
            .cast(ScalarType::Name, CastKind::Explicit);
            Typed::variadic(VariadicFunc::Coalesce, vec![found, unknown])
        }
        ("pg_table_is_visible", 1) => {
            let oid = oid_arg(ecx, next(), &sig)?;
            let table = visibility_table(ecx)?;
            plan_catalog_lookup(ecx, oid, table, Typed::null(ScalarType::Bool))?
        }
        ("pg_type_is_visible" | "pg_function_is_visible" | "pg_collation_is_visible", 1) => {
            let relation = match name {
                "pg_type_is_visible" => "pg_type",
                "pg_function_is_visible" => "pg_proc",
                _ => "pg_collation",
            };
            let oid = oid_arg(ecx, next(), &sig)?;
            let table = existence_table(ecx, relation)?;
            plan_catalog_lookup(ecx, oid, table, Typed::null(ScalarType::Bool))?
        }
        ("pg_get_indexdef", 1 | 3) => {
            let oid = oid_arg(ecx, next(), &sig)?;
            let definition = plan_catalog_lookup(
                ecx,
                oid.clone(),
                index_definitions(ecx)?,
                Typed::null(ScalarType::Text),
            )?;
            if n == 1 {
                definition
            } else {
                // (index, column, pretty): column 0 is the whole definition; a column
                // number names one key column, which Eddy does not answer yet.
                let column = ecx
                    .scx
                    .coerce(next(), ScalarType::Int32, CastContext::Implicit)?
                    .map_err(|_| SqlError::function_does_not_exist(&sig))?;
                let pretty = ecx
                    .scx
                    .coerce(next(), ScalarType::Bool, CastContext::Implicit)?
                    .map_err(|_| SqlError::function_does_not_exist(&sig))?;
                // Pretty-printed, the table's schema is left out when it is on the
                // search path (Eddy's indexes are all on tables in `public`).
                let unqualified = MirScalarExpr::CallVariadic {
                    func: VariadicFunc::Replace,
                    exprs: vec![
                        definition.expr.clone(),
                        text_literal(" ON public."),
                        text_literal(" ON "),
                    ],
                };
                let definition = Typed::new(
                    MirScalarExpr::If {
                        cond: Box::new(pretty.expr.call_unary(UnaryFunc::IsTrue)),
                        then: Box::new(unqualified),
                        els: Box::new(definition.expr),
                    },
                    ScalarType::Text.nullable(true),
                );
                // Eddy's index keys are plain columns: key column `k` is its name.
                let key = Typed::variadic(
                    VariadicFunc::RecordCreate,
                    vec![oid.clone(), column.clone()],
                );
                let key_column = plan_catalog_lookup(
                    ecx,
                    key,
                    index_key_columns(ecx)?,
                    Typed::null(ScalarType::Text),
                )?;
                let whole = column.expr.call_binary(
                    MirScalarExpr::literal(Datum::Int32(0), ScalarType::Int32.nullable(false)),
                    BinaryFunc::Eq,
                );
                Typed::new(
                    MirScalarExpr::If {
                        cond: Box::new(whole),
                        then: Box::new(definition.expr),
                        els: Box::new(key_column.expr),
                    },
                    ScalarType::Text.nullable(true),
                )
            }
        }
        ("pg_get_constraintdef", 1 | 2) => {
            let oid = oid_arg(ecx, next(), &sig)?;
            let table = constraint_definitions(ecx)?;
            plan_catalog_lookup(ecx, oid, table, Typed::null(ScalarType::Text))?
        }
        ("pg_get_viewdef", 1 | 2) => {
            // A view's definition is its `_RETURN` rule, as in Postgres.
            let oid = oid_arg(ecx, next(), &sig)?;
            if n == 2 {
                let pretty = next();
                if !matches!(
                    pretty.scalar_type(),
                    None | Some(ScalarType::Bool | ScalarType::Int16 | ScalarType::Int32)
                ) {
                    return Err(SqlError::function_does_not_exist(&sig));
                }
            }
            let (rewrite, item) = catalog_relation(ecx, "pg_rewrite")?;
            let rulename = catalog_column(&item, "rulename")?;
            let table = rewrite
                .filter(vec![MirScalarExpr::Column(rulename).call_binary(
                    MirScalarExpr::literal(
                        Datum::String("_RETURN".into()),
                        ScalarType::Name.nullable(false),
                    ),
                    BinaryFunc::Eq,
                )])
                .project(vec![
                    catalog_column(&item, "ev_class")?,
                    catalog_column(&item, "ev_action")?,
                ]);
            plan_catalog_lookup(ecx, oid, table, Typed::null(ScalarType::Text))?
        }
        _ => return Ok(None),
    }))
}

/// `(index oid, definition)` of every index: its `pg_class` row joined by name with
/// `pg_indexes` (indexes are PRIMARY KEY indexes of tables in `public`).
fn index_definitions(ecx: &ExprContext) -> Result<MirRelationExpr, SqlError> {
    let (class, class_item) = catalog_relation(ecx, "pg_class")?;
    let (indexes, index_item) = catalog_relation(ecx, "pg_indexes")?;
    let class = class.project(vec![
        catalog_column(&class_item, "oid")?,
        catalog_column(&class_item, "relname")?,
    ]);
    let indexes = indexes.project(vec![
        catalog_column(&index_item, "indexname")?,
        catalog_column(&index_item, "indexdef")?,
    ]);
    Ok(MirRelationExpr::Join {
        inputs: vec![class, indexes],
        equivalences: vec![vec![MirScalarExpr::Column(1), MirScalarExpr::Column(2)]],
    }
    .project(vec![0, 3]))
}

/// `((index oid, k), name)` for key column `k` (from 1) of every index: the column's
/// name, quoted where an identifier needs it, as `pg_get_indexdef(index, k, ...)`
/// prints it.
fn index_key_columns(ecx: &ExprContext) -> Result<MirRelationExpr, SqlError> {
    let (index, index_item) = catalog_relation(ecx, "pg_index")?;
    let (attribute, attribute_item) = catalog_relation(ecx, "pg_attribute")?;
    // (indexrelid, indrelid, attnum, k)
    let keys = MirRelationExpr::FlatMap {
        input: Box::new(index.project(vec![
            catalog_column(&index_item, "indexrelid")?,
            catalog_column(&index_item, "indrelid")?,
            catalog_column(&index_item, "indkey")?,
        ])),
        calls: vec![eddy_expr::TableCall {
            func: eddy_expr::TableFunc::ExpandArray(ScalarType::Int16),
            exprs: vec![MirScalarExpr::Column(2)],
        }],
    }
    .project(vec![0, 1, 3, 4]);
    // (attrelid, attnum, attname)
    let attributes = attribute.project(vec![
        catalog_column(&attribute_item, "attrelid")?,
        catalog_column(&attribute_item, "attnum")?,
        catalog_column(&attribute_item, "attname")?,
    ]);
    let key = MirScalarExpr::CallVariadic {
        func: VariadicFunc::RecordCreate,
        exprs: vec![MirScalarExpr::Column(0), MirScalarExpr::Column(3)],
    };
    let name = MirScalarExpr::Column(6)
        .call_unary(UnaryFunc::Cast {
            to: ScalarType::Text,
            kind: CastKind::Explicit,
        })
        .call_unary(UnaryFunc::QuoteIdent);
    Ok(MirRelationExpr::Join {
        inputs: vec![keys, attributes],
        equivalences: vec![
            vec![MirScalarExpr::Column(1), MirScalarExpr::Column(4)],
            vec![MirScalarExpr::Column(2), MirScalarExpr::Column(5)],
        ],
    }
    .map(vec![key, name])
    .project(vec![7, 8]))
}

/// `(constraint oid, definition)` of every constraint. Eddy's constraints are PRIMARY
/// KEYs and UNIQUE constraints, each with its index, whose definition ends in the same
/// column list: `CREATE UNIQUE INDEX t_pkey ON public.t USING btree (a, b)` →
/// `PRIMARY KEY (a, b)` (`contype` `p`), else `UNIQUE (a, b)`.
fn constraint_definitions(ecx: &ExprContext) -> Result<MirRelationExpr, SqlError> {
    let (constraints, item) = catalog_relation(ecx, "pg_constraint")?;
    let constraints = constraints.project(vec![
        catalog_column(&item, "oid")?,
        catalog_column(&item, "conindid")?,
        catalog_column(&item, "contype")?,
    ]);
    let marker = " USING btree ";
    let definition = MirScalarExpr::Column(4);
    let columns_start = text_literal(marker)
        .call_binary(definition.clone(), BinaryFunc::Position)
        .call_binary(
            MirScalarExpr::literal(
                Datum::Int32(marker.len() as i32),
                ScalarType::Int32.nullable(false),
            ),
            BinaryFunc::Add,
        );
    let columns = MirScalarExpr::CallVariadic {
        func: VariadicFunc::Substring,
        exprs: vec![definition, columns_start],
    };
    let primary = MirScalarExpr::Column(2).call_binary(
        MirScalarExpr::literal(
            Datum::String("p".into()),
            ScalarType::PgChar.nullable(false),
        ),
        BinaryFunc::Eq,
    );
    let kind = MirScalarExpr::If {
        cond: Box::new(primary),
        then: Box::new(text_literal("PRIMARY KEY ")),
        els: Box::new(text_literal("UNIQUE ")),
    };
    let definition = MirScalarExpr::CallVariadic {
        func: VariadicFunc::Concat,
        exprs: vec![kind, columns],
    };
    Ok(MirRelationExpr::Join {
        inputs: vec![constraints, index_definitions(ecx)?],
        equivalences: vec![vec![MirScalarExpr::Column(1), MirScalarExpr::Column(3)]],
    }
    .map(vec![definition])
    .project(vec![0, 5]))
}

/// Catalog functions whose answer does not depend on the catalog's contents: the
/// objects they describe do not exist in Eddy, or the answer is fixed.
pub fn plan_constant_function(
    ecx: &ExprContext,
    name: &str,
    args: &[CExpr],
) -> Result<Option<Typed>, SqlError> {
    let pcx = ecx.scx.pcx;
    let n = args.len();
    let types: Vec<String> = args.iter().map(CExpr::type_name).collect();
    let sig = format!("{name}({})", types.join(", "));
    let null_text = || Typed::null(ScalarType::Text);
    Ok(Some(match (name, n) {
        // Objects Eddy does not have: NULL, as for an unknown OID in Postgres.
        ("obj_description", 1 | 2)
        | ("col_description", 2)
        | ("shobj_description", 2)
        | ("pg_get_ruledef", 1 | 2)
        | ("pg_get_triggerdef", 1 | 2)
        | ("pg_get_partkeydef", 1)
        | ("pg_get_statisticsobjdef_columns", 1)
        | ("pg_get_serial_sequence", 2)
        | ("pg_get_function_identity_arguments", 1)
        | ("pg_get_function_arguments", 1)
        | ("pg_get_function_result", 1) => null_text(),
        (
            "pg_relation_size"
            | "pg_table_size"
            | "pg_total_relation_size"
            | "pg_indexes_size"
            | "pg_database_size"
            | "pg_tablespace_size",
            1,
        )
        | ("pg_relation_size", 2) => Typed::literal(Datum::Int64(0), ScalarType::Int64),
        ("pg_relation_is_publishable", 1) | ("pg_is_in_recovery", 0) => {
            Typed::literal(Datum::Bool(false), ScalarType::Bool)
        }
        (
            "has_table_privilege"
            | "has_schema_privilege"
            | "has_database_privilege"
            | "has_column_privilege"
            | "has_any_column_privilege"
            | "has_function_privilege"
            | "has_sequence_privilege"
            | "has_type_privilege",
            2..=4,
        ) => Typed::literal(Datum::Bool(true), ScalarType::Bool),
        ("pg_encoding_to_char", 1) => {
            let encoding = ecx
                .scx
                .coerce(args[0].clone(), ScalarType::Int32, CastContext::Implicit)?
                .map_err(|_| SqlError::function_does_not_exist(&sig))?;
            let name_of = |code: i32, name: &str, els: MirScalarExpr| MirScalarExpr::If {
                cond: Box::new(encoding.expr.clone().call_binary(
                    MirScalarExpr::literal(Datum::Int32(code), ScalarType::Int32.nullable(false)),
                    BinaryFunc::Eq,
                )),
                then: Box::new(MirScalarExpr::literal(
                    Datum::String(name.into()),
                    ScalarType::Name.nullable(false),
                )),
                els: Box::new(els),
            };
            let empty = MirScalarExpr::literal(
                Datum::String(String::new()),
                ScalarType::Name.nullable(false),
            );
            let expr = name_of(6, "UTF8", name_of(0, "SQL_ASCII", empty));
            Typed::new(expr, ScalarType::Name.nullable(encoding.typ.nullable))
        }
        ("current_setting", 1 | 2) => {
            if let CExpr::Param(_) = &args[0] {
                ecx.scx
                    .resolve_unknown(args[0].clone(), ScalarType::Text, CastKind::Explicit)?;
                return Ok(Some(null_text()));
            }
            let setting = constant_text(&args[0])
                .ok_or_else(|| SqlError::unsupported("current_setting with a non-constant name"))?;
            let missing_ok = match args.get(1) {
                None => false,
                Some(arg) => match arg {
                    CExpr::Typed(t) => match t.expr.as_literal() {
                        Some(Datum::Bool(b)) => *b,
                        _ => {
                            return Err(SqlError::unsupported(
                                "current_setting with a non-constant missing_ok",
                            ))
                        }
                    },
                    _ => return Err(SqlError::function_does_not_exist(&sig)),
                },
            };
            match pcx.vars.get(&setting.to_lowercase()) {
                Some(value) => Typed::literal(Datum::String(value.clone()), ScalarType::Text),
                None if missing_ok => null_text(),
                None => {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("unrecognized configuration parameter \"{setting}\""),
                    ))
                }
            }
        }
        // `set_config(name, value, is_local)` that leaves the setting as it is (what
        // drivers do to make sure of one, asyncpg with `jit`) returns the value; one that
        // would change it is for `SET`.
        ("set_config", 3) => {
            let (Some(setting), Some(value)) = (constant_text(&args[0]), constant_text(&args[1]))
            else {
                return Err(SqlError::unsupported(
                    "set_config with a non-constant name or value",
                ));
            };
            match pcx.vars.get(&setting.to_lowercase()) {
                Some(current) if current.eq_ignore_ascii_case(&value) => {
                    Typed::literal(Datum::String(value), ScalarType::Text)
                }
                Some(_) => {
                    return Err(SqlError::unsupported("set_config that changes a setting")
                        .with_hint(format!("Use SET {setting} = '{value}'.")))
                }
                None => {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("unrecognized configuration parameter \"{setting}\""),
                    ))
                }
            }
        }
        ("current_schemas", 1) => {
            let include_implicit = match &args[0] {
                CExpr::Typed(t) => match t.expr.as_literal() {
                    Some(Datum::Bool(b)) => *b,
                    _ => {
                        return Err(SqlError::unsupported(
                            "current_schemas with a non-constant argument",
                        ))
                    }
                },
                _ => return Err(SqlError::function_does_not_exist(&sig)),
            };
            let mut schemas = vec![];
            if include_implicit {
                schemas.push(Datum::String(crate::names::PG_CATALOG_SCHEMA.into()));
            }
            schemas.push(Datum::String(crate::names::PUBLIC_SCHEMA.into()));
            Typed::literal(Datum::Array(schemas), ScalarType::TextArray)
        }
        ("to_regclass" | "to_regtype", 1) => {
            // The object a constant name resolves to, or NULL.
            let to = if name == "to_regclass" {
                ScalarType::RegClass
            } else {
                ScalarType::RegType
            };
            if let CExpr::Param(_) = &args[0] {
                // Describing a prepared statement: only the types matter.
                ecx.scx
                    .resolve_unknown(args[0].clone(), ScalarType::Text, CastKind::Explicit)?;
                return Ok(Some(Typed::null(to)));
            }
            let text = constant_text(&args[0])
                .ok_or_else(|| SqlError::unsupported(format!("{name} with a non-constant name")))?;
            match ecx.scx.reg_literal(&text, to) {
                Ok(t) => t,
                Err(e)
                    if e.sqlstate == SqlState::UNDEFINED_TABLE
                        || e.sqlstate == SqlState::UNDEFINED_OBJECT =>
                {
                    Typed::null(to)
                }
                Err(e) => return Err(e),
            }
        }
        ("pg_get_expr", 2 | 3) => {
            // Expressions in Eddy's catalog are kept as SQL text.
            let text = ecx
                .scx
                .coerce(args[0].clone(), ScalarType::Text, CastContext::Implicit)?
                .map_err(|_| SqlError::function_does_not_exist(&sig))?;
            text.cast(ScalarType::Text, CastKind::Explicit)
        }
        _ => return Ok(None),
    }))
}

/// The text of a constant string argument.
fn constant_text(arg: &CExpr) -> Option<String> {
    match arg {
        CExpr::Str(s) => Some(s.clone()),
        CExpr::Typed(t) => match t.expr.as_literal() {
            Some(Datum::String(s)) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}
