//! SQL for Eddy: parsing, name resolution, typing and planning into the IR.
//!
//! [`parse`] turns text into `sqlparser` statements (Postgres dialect). [`plan`] turns
//! one statement into a [`Plan`], resolving names against a [`Catalog`] and typing
//! every expression the way Postgres would; [`describe`] reports the parameter and
//! result types of a statement for the extended protocol.
//!
//! Invariants:
//! - Planning is pure and synchronous: no I/O, no clock (the statement time comes in
//!   [`PlanContext::now`]), no catalog mutation. The same statement, catalog and
//!   context always give the same plan.
//! - Plans are fully typed: every cast Postgres would insert is explicit in the IR, so
//!   evaluation never meets an unexpected type. Values whose type is unknown (string
//!   literals, NULL, undeclared parameters) take their type from context, else `text`.
//! - Errors are [`SqlError`]s with a SQLSTATE and a Postgres-style message; only syntax
//!   errors carry a position, since planning works on the parsed tree. Features
//!   that Postgres has and Eddy does not are `0A000 ... is not supported yet`, never a
//!   silent difference: DISTINCT ON, aggregates inside a recursive term,
//!   REFERENCES, ALTER TABLE actions other than RENAME / ADD COLUMN / DROP COLUMN,
//!   CREATE INDEX, and `now()` inside views outside temporal filters
//!   (`temporal.rs`). A few functions are only
//!   partly computable (`string_agg`, `array_agg`, `ARRAY(subquery)` over non-empty
//!   input, `json_build_object`): they plan, and a row that needs the missing part is
//!   a `0A000` error when the statement reads it, so catalog queries over the
//!   relations Eddy keeps empty still run.
//! - Subqueries in expressions and LATERAL subqueries in FROM are decorrelated into
//!   joins (`subquery.rs`, `lateral.rs`), never evaluated per outer row; the
//!   functions that read the catalog are lookups in `pg_catalog` relations
//!   (`introspect.rs`), never constants of planning time.

mod alter_table;
mod catalog;
mod context;
mod copy;
mod create_table_as;
mod expr;
mod files;
mod func;
mod index;
mod interval_join;
mod introspect;
mod lateral;
mod names;
mod parse;
mod pg_source;
mod plan;
mod query;
mod recursive;
mod rows;
mod scope;
mod sequences;
mod sink;
mod statement;
mod subquery;
mod subscribe;
mod temporal;
mod types;
mod unique;
pub mod view_options;
mod window;
mod window_functions;

#[cfg(test)]
mod tests;

use eddy_repr::{RelationDesc, ScalarType, SqlError};
pub use sqlparser::ast;

pub use crate::alter_table::{AlterTable, TableChange};
pub use crate::catalog::{item_oid, Catalog, CatalogItem, ItemKind, FIRST_USER_OID};
pub use crate::copy::{Copy, CopyRelation};
pub use crate::create_table_as::CreateTableAs;
pub use crate::files::{apply_desc, file_error, parse_files, Apply, FileItemKind, FileStatement};
pub use crate::names::{
    check_schema_for_new_item, PG_CATALOG_SCHEMA, PUBLIC_SCHEMA, SYSTEM_SCHEMAS,
};
pub use crate::parse::{parse, Statement};
pub use crate::pg_source::{CreatePgSource, DropSource};
pub use crate::plan::{
    explain_desc, show_columns_desc, show_objects_desc, show_sinks_desc, show_sources_desc,
    show_variable_desc, CheckConstraint, ConflictAction, ConflictTarget, MutationKind, ObjectKind,
    OnConflict, PgTableRef, Plan, PlanContext, Returning, RowSetFinishing, SinkOptions,
    SourceOptions, SubscribeOutput,
};
pub use crate::recursive::{parse_max_recursion, MAX_RECURSION_DEFAULT, MAX_RECURSION_VAR};
pub use crate::sequences::{sequence_of_default, SequenceAccess};
pub use crate::sink::{CreateSink, DropSink};
pub use crate::statement::table_defaults;
pub use crate::subscribe::{Subscribe, SubscribeRelation, DIFF_COLUMN, TIMESTAMP_COLUMN};
pub use crate::types::{scalar_type, CastContext};
pub use crate::unique::UniqueConstraint;

use crate::context::{Params, StatementContext};

/// Plans one statement for execution. Parameters (`$1`, ...) take their values from
/// `ctx.params`.
pub fn plan(catalog: &dyn Catalog, ctx: &PlanContext, stmt: &Statement) -> Result<Plan, SqlError> {
    let scx = StatementContext::new(catalog, ctx, Params::Bound(&ctx.params));
    match stmt {
        Statement::Sql(stmt) => statement::plan_statement(&scx, stmt),
        Statement::Subscribe(subscribe) => subscribe::plan_subscribe(&scx, subscribe),
        Statement::Copy(copy) => copy::plan_copy(&scx, copy),
        Statement::CreateStream(create) => {
            statement::plan_create_table(&scx, stmt.to_string(), create, true)
        }
        Statement::CreateSink(create) => sink::plan_create_sink(&scx, create),
        Statement::DropSink(drop) => sink::plan_drop_sink(&scx, drop),
        Statement::CreatePgSource(create) => pg_source::plan_create_source(&scx, create),
        Statement::DropSource(drop) => pg_source::plan_drop_source(&scx, drop),
        Statement::Apply(apply) => Ok(Plan::Apply(apply.clone())),
        Statement::Replay(replay) => files::plan_replay(&scx, replay),
        Statement::RefreshView(name) => files::plan_refresh(&scx, name),
        Statement::ApplyDecision(d) => Ok(Plan::ApplyDecision {
            token: d.token,
            commit: d.commit,
        }),
        Statement::RenameView(rename) => files::plan_rename_view(&scx, rename),
        Statement::CreateTableAs(create) => create_table_as::plan_create_table_as(&scx, create),
    }
}

/// Describes one statement for the extended protocol: the type of each parameter
/// (declared in `param_types`, else inferred from its context, like `id = $1` → the
/// type of `id`, else `text`) and the result columns (`None` for statements that
/// return no rows).
pub fn describe(
    catalog: &dyn Catalog,
    ctx: &PlanContext,
    stmt: &Statement,
    param_types: &[Option<ScalarType>],
) -> Result<(Vec<ScalarType>, Option<RelationDesc>), SqlError> {
    let scx = StatementContext::new(catalog, ctx, Params::Describe(param_types));
    let plan = match stmt {
        Statement::Sql(stmt) => statement::plan_statement(&scx, stmt)?,
        Statement::Subscribe(subscribe) => subscribe::plan_subscribe(&scx, subscribe)?,
        Statement::Copy(copy) => copy::plan_copy(&scx, copy)?,
        Statement::CreateStream(create) => {
            statement::plan_create_table(&scx, stmt.to_string(), create, true)?
        }
        Statement::CreateSink(create) => sink::plan_create_sink(&scx, create)?,
        Statement::DropSink(drop) => sink::plan_drop_sink(&scx, drop)?,
        Statement::CreatePgSource(create) => pg_source::plan_create_source(&scx, create)?,
        Statement::DropSource(drop) => pg_source::plan_drop_source(&scx, drop)?,
        Statement::Apply(apply) => Plan::Apply(apply.clone()),
        Statement::Replay(replay) => files::plan_replay(&scx, replay)?,
        Statement::RefreshView(name) => files::plan_refresh(&scx, name)?,
        Statement::ApplyDecision(d) => Plan::ApplyDecision {
            token: d.token,
            commit: d.commit,
        },
        Statement::RenameView(rename) => files::plan_rename_view(&scx, rename)?,
        Statement::CreateTableAs(create) => create_table_as::plan_create_table_as(&scx, create)?,
    };
    Ok((scx.param_types(), plan.result_desc()))
}
