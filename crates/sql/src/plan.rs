//! [`Plan`]: what a statement asks the coordinator to do, with every name resolved and
//! every expression typed.
//!
//! Invariants:
//! - Relation expressions reference catalog items only by [`GlobalId`] (plain views are
//!   already inlined), and every column is typed.
//! - `desc` fields describe exactly the columns a client sees, in order.
//! - Write plans produce rows of exactly the target table's columns, in table order,
//!   already assignment-cast to the column types. NOT NULL constraints are *not* checked
//!   here: the coordinator checks them against the table's `RelationDesc` when it
//!   applies the write.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use eddy_expr::{ColumnOrder, MirRelationExpr, MirScalarExpr};
use eddy_repr::{Datum, GlobalId, RelationDesc, ScalarType};

use crate::catalog::ItemKind;

/// The session state planning may read. Planning never changes it.
#[derive(Clone, Debug)]
pub struct PlanContext {
    /// The statement's wall-clock time: `now()` and `current_timestamp` become this
    /// literal.
    pub now: chrono::DateTime<chrono::Utc>,
    pub user: String,
    pub database: String,
    /// Bound parameter values (`$1`, `$2`, ...) with their types; empty for the simple
    /// protocol.
    pub params: Vec<(Datum, ScalarType)>,
    /// What `pg_backend_pid()` returns: the session's id as the client sees it.
    pub backend_pid: i32,
    /// The session's variables (lowercase names), for `current_setting`; shared with
    /// the session, so a statement does not copy them.
    pub vars: Arc<BTreeMap<String, String>>,
    /// The session's `TimeZone`, resolved from `vars`: the zone `timestamptz` values
    /// are read and broken into fields in by ad hoc statements. Definitions that are
    /// kept (views, materialized views) never see it: see
    /// [`crate::context::StatementContext::zone`].
    pub zone: eddy_repr::zone::TimeZone,
    /// The coordinator's sequences, for `nextval` and friends; `None` where there are
    /// none to call (they are then refused).
    pub sequences: Option<Arc<dyn crate::sequences::SequenceAccess>>,
}

impl PlanContext {
    /// A context for the simple protocol (no parameters).
    pub fn new(
        now: chrono::DateTime<chrono::Utc>,
        user: impl Into<String>,
        database: impl Into<String>,
    ) -> Self {
        PlanContext {
            now,
            user: user.into(),
            database: database.into(),
            params: vec![],
            backend_pid: 0,
            vars: Arc::default(),
            zone: eddy_repr::zone::TimeZone::UTC,
            sequences: None,
        }
    }
}

/// A planned statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// `CREATE TABLE`. `primary_key` lists the PRIMARY KEY columns (empty if none);
    /// those columns are already NOT NULL in `desc`. `create_sql` is the normalized
    /// statement.
    CreateTable {
        schema: String,
        name: String,
        desc: RelationDesc,
        /// Each column's `DEFAULT` expression as SQL text; empty when none has one.
        defaults: Vec<Option<String>>,
        /// The `CHECK` constraints, over the table's columns.
        checks: Vec<CheckConstraint>,
        /// The `UNIQUE` constraints (named; none repeats the primary key).
        unique: Vec<crate::unique::UniqueConstraint>,
        /// The sequences its `serial` and identity columns own (created with it, in
        /// its schema, dropped with it).
        sequences: Vec<String>,
        primary_key: Vec<usize>,
        create_sql: String,
        if_not_exists: bool,
        /// Set when the relation is read from a Kafka topic (`WITH (KAFKA_TOPIC = ...)`)
        /// instead of written with INSERT, UPDATE and DELETE.
        source: Option<SourceOptions>,
    },
    /// `CREATE TABLE name [(columns)] AS query [WITH [NO] DATA]` (see
    /// `create_table_as.rs`): `table` is the [`Plan::CreateTable`] of the plain table
    /// (its `create_sql` names the query's columns and types, nothing of the query),
    /// `rows` computes its rows (`None` for `WITH NO DATA`), loaded at one time with
    /// the table.
    CreateTableAs {
        table: Box<Plan>,
        rows: Option<MirRelationExpr>,
    },
    /// `ALTER TABLE` (see `alter_table.rs`); `None` for `ALTER TABLE IF EXISTS` of a
    /// table that does not exist.
    AlterTable(Option<crate::alter_table::AlterTable>),
    /// `CREATE [MATERIALIZED] VIEW`. `expr` computes the view's rows (ORDER BY without
    /// LIMIT dropped, LIMIT/OFFSET as a `TopK`); `create_sql` is the normalized
    /// statement, re-planned when the catalog is loaded on restart; `depends_on` holds
    /// every catalog item the query reads (plain views included, though their plans
    /// are inlined into `expr`), as name resolution found them.
    CreateView {
        schema: String,
        name: String,
        materialized: bool,
        expr: MirRelationExpr,
        desc: RelationDesc,
        create_sql: String,
        depends_on: BTreeSet<GlobalId>,
        if_not_exists: bool,
        or_replace: bool,
    },
    /// `CREATE SOURCE name FROM POSTGRES WITH (...) [FOR TABLES (...)]`: the options
    /// as written (the coordinator reads them with `eddy_connect::postgres`, and finds
    /// the tables upstream).
    CreatePgSource {
        name: String,
        if_not_exists: bool,
        options: Vec<(String, String)>,
        tables: Option<Vec<PgTableRef>>,
        create_sql: String,
    },
    /// `CREATE INDEX`: an arrangement of table `on`'s rows, key columns first
    /// (`expr`, a projection of the table, with columns `desc`).
    CreateIndex {
        schema: String,
        name: String,
        on: GlobalId,
        /// The columns of `on` it is keyed by.
        key: Vec<usize>,
        expr: MirRelationExpr,
        desc: RelationDesc,
        create_sql: String,
        if_not_exists: bool,
    },
    /// `APPLY FILES ...`: move the catalog to what the files define (the coordinator
    /// plans and runs it; see its `apply`).
    Apply(crate::files::Apply),
    /// `REPLAY MATERIALIZED VIEW`: rebuild materialized view `id` beside itself and
    /// swap (with `hold`, wait for `APPLY COMMIT | ABORT` after showing the diff); with
    /// `from`, the rebuilt view starts there in its streams (its `start` option).
    Replay {
        id: GlobalId,
        from: Option<crate::view_options::StartAt>,
        hold: bool,
    },
    /// `ALTER [MATERIALIZED] VIEW ... RENAME TO new_name` of view `id`.
    RenameView { id: GlobalId, new_name: String },
    /// `APPLY COMMIT | ABORT token`.
    ApplyDecision { token: u64, commit: bool },
    /// `CREATE SCHEMA [IF NOT EXISTS] name`.
    CreateSchema { name: String, if_not_exists: bool },
    /// `DROP SCHEMA [IF EXISTS] name, ... [CASCADE]`: `names` found; with IF EXISTS,
    /// names not found are in `missing`. The coordinator checks what they hold.
    DropSchema {
        names: Vec<String>,
        missing: Vec<String>,
        cascade: bool,
    },
    /// `DROP TABLE | VIEW | MATERIALIZED VIEW`. `ids` are the items found, in statement
    /// order; with IF EXISTS, names not found are listed in `missing` (for Postgres'
    /// `NOTICE: table "x" does not exist, skipping`). The coordinator checks dependents
    /// (and honours `cascade`).
    Drop {
        kind: ItemKind,
        ids: Vec<GlobalId>,
        missing: Vec<String>,
        if_exists: bool,
        cascade: bool,
    },
    /// `INSERT`: `values` yields the new rows, exactly the table's columns in table
    /// order, each assignment-cast to its column's type (omitted columns are NULL).
    Insert {
        id: GlobalId,
        values: MirRelationExpr,
        /// Columns the coordinator fills with the next value of a sequence, one per
        /// row: `serial` columns an `INSERT ... SELECT` leaves out.
        serial_fill: Vec<(usize, String, String)>,
        on_conflict: Option<OnConflict>,
        returning: Option<Returning>,
    },
    /// `CREATE SEQUENCE`.
    CreateSequence {
        schema: String,
        name: String,
        start: i64,
        increment: i64,
        if_not_exists: bool,
    },
    /// `DROP SEQUENCE`.
    DropSequence {
        names: Vec<(String, String)>,
        if_exists: bool,
    },
    /// `UPDATE` and `DELETE` (and `TRUNCATE`, a delete of every row): `selection`
    /// yields the current rows to change (the table's arity), read and written at one
    /// timestamp.
    ReadThenWrite {
        id: GlobalId,
        selection: MirRelationExpr,
        kind: MutationKind,
        returning: Option<Returning>,
    },
    /// A query. The coordinator evaluates `expr`, then applies `finishing` (ordering,
    /// offset, limit, then projection to the visible columns described by `desc`).
    Select {
        expr: MirRelationExpr,
        finishing: RowSetFinishing,
        desc: RelationDesc,
    },
    /// `COPY name [(columns)] FROM STDIN` (see `copy.rs`): the data that follows goes
    /// into table `id` (named `name`, described by `desc`); each line holds the
    /// `columns` (positions in `desc`) in order, and the other columns are NULL.
    CopyFrom {
        id: GlobalId,
        name: String,
        desc: RelationDesc,
        columns: Vec<usize>,
        format: eddy_repr::copy::CopyFormat,
    },
    /// `COPY name | (query) TO STDOUT`: the rows of `select` (a [`Plan::Select`]) as
    /// COPY data in `format`.
    CopyTo {
        select: Box<Plan>,
        format: eddy_repr::copy::CopyFormat,
    },
    /// `SUBSCRIBE` (see `subscribe.rs`): `expr` computes the relation's rows; `desc`
    /// describes the rows a client sees, `eddy_timestamp` and `eddy_diff` first;
    /// `depends_on` holds every catalog item `expr` reads, as name resolution found
    /// them (the subscription ends when one is dropped).
    Subscribe {
        expr: MirRelationExpr,
        desc: RelationDesc,
        depends_on: BTreeSet<GlobalId>,
        snapshot: bool,
        output: SubscribeOutput,
    },
    /// `EXPLAIN <query>` or `EXPLAIN CREATE MATERIALIZED VIEW ... AS <query>`: the
    /// unoptimized plan; the coordinator optimizes and prints it.
    Explain {
        expr: MirRelationExpr,
        /// The plan of a materialized view (kept up to date), not of a one-off query.
        maintained: bool,
    },
    /// `SHOW TABLES | VIEWS | MATERIALIZED VIEWS`; rows described by
    /// [`show_objects_desc`].
    ShowObjects(ObjectKind),
    /// `SHOW COLUMNS FROM t`; rows described by [`show_columns_desc`].
    ShowColumns { id: GlobalId },
    /// `SHOW name` (lowercase; `SHOW TIME ZONE` is `timezone`, `SHOW ALL` is `all`).
    ShowVariable(String),
    /// `SHOW SOURCES`: every stream and table read from Kafka, with its state.
    ShowSources,
    /// `CREATE SINK` (see `sink.rs`): `expr` computes the relation's rows (columns
    /// `desc`), whose changes are written to a Kafka topic as `options` say;
    /// `depends_on` holds every catalog item `expr` reads, as name resolution found
    /// them; `create_sql` is re-planned on restart.
    CreateSink {
        schema: String,
        name: String,
        expr: MirRelationExpr,
        desc: RelationDesc,
        depends_on: BTreeSet<GlobalId>,
        options: SinkOptions,
        create_sql: String,
        if_not_exists: bool,
    },
    /// `SHOW SINKS`: every sink with its state; rows described by [`show_sinks_desc`].
    ShowSinks,
    /// `SET [SESSION | LOCAL] name = value`, `SET TIME ZONE ...`, `RESET name`.
    /// `value` is `None` for DEFAULT / RESET; several values are joined with `, `.
    /// `RESET ALL` is `name == "all"` with `value == None`.
    SetVariable {
        name: String,
        value: Option<String>,
        local: bool,
    },
    /// `BEGIN` / `START TRANSACTION` (isolation and access modes are accepted and
    /// ignored: every transaction is serializable).
    StartTransaction,
    /// `SAVEPOINT name`.
    Savepoint { name: String },
    /// `RELEASE [SAVEPOINT] name`.
    ReleaseSavepoint { name: String },
    /// `ROLLBACK TO [SAVEPOINT] name`.
    RollbackToSavepoint { name: String },
    /// A statement with nothing to do: answered with `tag` (`REFRESH MATERIALIZED
    /// VIEW` of a view that is always fresh).
    Noop { tag: String },
    /// `COMMIT` / `END`.
    Commit,
    /// `ROLLBACK` / `ABORT`.
    Rollback,
}

/// What a [`Plan::ReadThenWrite`] does to the selected rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MutationKind {
    Delete,
    /// A delete of every row (`TRUNCATE`, tagged `TRUNCATE TABLE`).
    Truncate,
    /// Each selected row is replaced by itself with these columns overwritten; the
    /// expressions read the old row and are already assignment-cast to the column
    /// types.
    Update {
        assignments: BTreeMap<usize, MirScalarExpr>,
    },
}

/// A `CHECK` constraint of a table: a row for which `expr` is false (not NULL) is
/// refused with 23514 naming `name`.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckConstraint {
    pub name: String,
    pub expr: MirScalarExpr,
}

/// `INSERT ... ON CONFLICT [target] DO NOTHING | DO UPDATE SET ... [WHERE ...]`.
#[derive(Clone, Debug, PartialEq)]
pub struct OnConflict {
    pub target: ConflictTarget,
    pub action: ConflictAction,
}

/// What a conflict is on; the coordinator checks it names the table's primary key or
/// one of its UNIQUE constraints, else 42P10.
#[derive(Clone, Debug, PartialEq)]
pub enum ConflictTarget {
    /// No target (DO NOTHING only): any unique constraint.
    Any,
    /// `(col, ...)`: the columns, by index.
    Columns(Vec<usize>),
    /// `ON CONSTRAINT name`.
    Constraint(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ConflictAction {
    Nothing,
    /// Column → new value, and the condition; both over the existing row's columns
    /// followed by the proposed row's (`EXCLUDED`).
    Update {
        assignments: BTreeMap<usize, MirScalarExpr>,
        selection: Option<MirScalarExpr>,
    },
}

/// `RETURNING ...`: what each written row yields (over the table's columns: the new
/// row of an INSERT or UPDATE, the old row of a DELETE).
#[derive(Clone, Debug, PartialEq)]
pub struct Returning {
    pub exprs: Vec<MirScalarExpr>,
    pub desc: RelationDesc,
}

/// Which objects `SHOW ...` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    Tables,
    Views,
    MaterializedViews,
}

/// Work a SELECT does on its result rows after `expr` is evaluated: sort by
/// `order_by` (column positions of `expr`), skip `offset` rows, keep at most `limit`,
/// then keep the columns `project` (which drops ORDER BY-only columns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowSetFinishing {
    pub order_by: Vec<ColumnOrder>,
    pub limit: Option<usize>,
    pub offset: usize,
    pub project: Vec<usize>,
}

impl RowSetFinishing {
    /// No ordering, limit or offset; keep the first `arity` columns.
    pub fn trivial(arity: usize) -> Self {
        RowSetFinishing {
            order_by: vec![],
            limit: None,
            offset: 0,
            project: (0..arity).collect(),
        }
    }

    pub fn is_trivial(&self, arity: usize) -> bool {
        self.order_by.is_empty()
            && self.limit.is_none()
            && self.offset == 0
            && self.project.iter().copied().eq(0..arity)
    }
}

fn text_column(name: &str) -> (String, eddy_repr::ColumnType) {
    (name.to_string(), ScalarType::Text.nullable(false))
}

fn desc_of(columns: Vec<(String, eddy_repr::ColumnType)>) -> RelationDesc {
    let (names, types) = columns.into_iter().unzip();
    RelationDesc::new(names, types)
}

/// The result columns of [`Plan::ShowObjects`]: `name`; for views also `status`
/// (`ready`, a new version replaying its inputs or waiting to be swapped in, or a
/// views directory that failed to apply).
pub fn show_objects_desc(kind: ObjectKind) -> RelationDesc {
    let mut columns = vec![text_column("name")];
    if kind != ObjectKind::Tables {
        columns.push(text_column("status"));
    }
    desc_of(columns)
}

/// The result columns of [`Plan::ShowSources`]: `name`, `type` (`stream` or
/// `table`), `topic`, `state` (`starting`, `running`, `retrying: <error>`,
/// `failed: <error>`, `stopped`), `offsets` (`partition:next offset` pairs), and the
/// counts of `messages` read and `errors` (messages that could not be read), and the
/// `lag`: messages the broker holds that are not applied yet (NULL until known).
/// A Postgres source's row has type `postgres`, its publication, the LSN applied,
/// transactions, stopped tables, the lag in WAL bytes and `lag_ms` (how long ago the
/// last transaction read committed upstream, while behind; NULL for Kafka). Then
/// `late`: of the errors, events after the watermark (NULL for Postgres), and the
/// `watermark` of a stream with an event time (a `timestamp` in UTC; NULL before its
/// first event, for streams without event time, tables and Postgres sources).
pub fn show_sources_desc() -> RelationDesc {
    desc_of(vec![
        text_column("name"),
        text_column("type"),
        text_column("topic"),
        text_column("state"),
        text_column("offsets"),
        ("messages".to_string(), ScalarType::Int64.nullable(false)),
        ("errors".to_string(), ScalarType::Int64.nullable(false)),
        ("lag".to_string(), ScalarType::Int64.nullable(true)),
        ("lag_ms".to_string(), ScalarType::Int64.nullable(true)),
        ("late".to_string(), ScalarType::Int64.nullable(true)),
        (
            "watermark".to_string(),
            ScalarType::Timestamp.nullable(true),
        ),
    ])
}

/// The result columns of [`Plan::ShowSinks`]: `name`, `relation` (what it writes
/// out), `topic`, `envelope` (`upsert` or `debezium`), `state` (`starting`,
/// `running`, `retrying: <error>`, `failed: <error>`), `last_time` (the last
/// timestamp committed to the topic, NULL before the first) and the count of
/// `messages` written.
pub fn show_sinks_desc() -> RelationDesc {
    desc_of(vec![
        text_column("name"),
        text_column("relation"),
        text_column("topic"),
        text_column("envelope"),
        text_column("state"),
        ("last_time".to_string(), ScalarType::Int64.nullable(true)),
        ("messages".to_string(), ScalarType::Int64.nullable(false)),
    ])
}

/// The result columns of [`Plan::ShowColumns`]: `name`, `nullable`, `type`.
pub fn show_columns_desc() -> RelationDesc {
    desc_of(vec![
        text_column("name"),
        ("nullable".to_string(), ScalarType::Bool.nullable(false)),
        text_column("type"),
    ])
}

/// The result columns of [`Plan::ShowVariable`]: one text column named after the
/// variable, or `name`, `setting`, `description` for `SHOW ALL`.
pub fn show_variable_desc(name: &str) -> RelationDesc {
    if name == "all" {
        desc_of(vec![
            text_column("name"),
            text_column("setting"),
            text_column("description"),
        ])
    } else {
        desc_of(vec![text_column(name)])
    }
}

/// How a relation is read from a Kafka topic: as a stream (every message one appended
/// row) or as a table (the message key is the primary key), with the `WITH (...)`
/// options as written (names as written, values as text). The coordinator checks them
/// (`eddy_connect::KafkaSourceSpec::from_options`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceOptions {
    pub stream: bool,
    pub options: Vec<(String, String)>,
}

/// How a sink writes its relation to Kafka: the `WITH (...)` options as written (names
/// as written, values as text) and the `KEY = (...)` columns (case-folded). The
/// coordinator checks them (`eddy_connect::SinkSpec::from_options`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkOptions {
    pub options: Vec<(String, String)>,
    pub key: Option<Vec<String>>,
    /// `KEY (...) NOT ENFORCED`: the user vouches that the key is unique where Eddy
    /// cannot tell.
    pub key_not_enforced: bool,
}

/// One table of `FOR TABLES (...)` in `CREATE SOURCE ... FROM POSTGRES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgTableRef {
    /// The upstream schema; `None` means `public`.
    pub schema: Option<String>,
    pub name: String,
    /// `AS alias`: its name in Eddy.
    pub alias: Option<String>,
}

/// The result columns of [`Plan::Explain`]: one text column `QUERY PLAN`.
pub fn explain_desc() -> RelationDesc {
    desc_of(vec![text_column("QUERY PLAN")])
}

/// How a subscription's changes reach the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscribeOutput {
    /// As result rows (`SUBSCRIBE ...`).
    Rows,
    /// As COPY data in the text format (`COPY (SUBSCRIBE ...) TO STDOUT`).
    CopyText,
}

impl Plan {
    /// The columns this plan returns to the client, if it returns rows.
    pub fn result_desc(&self) -> Option<RelationDesc> {
        match self {
            Plan::Select { desc, .. } => Some(desc.clone()),
            Plan::Explain { .. } => Some(explain_desc()),
            Plan::Subscribe {
                desc,
                output: SubscribeOutput::Rows,
                ..
            } => Some(desc.clone()),
            Plan::ShowObjects(kind) => Some(show_objects_desc(*kind)),
            Plan::Replay { hold: true, .. } => Some(crate::files::apply_desc()),
            Plan::Insert {
                returning: Some(returning),
                ..
            }
            | Plan::ReadThenWrite {
                returning: Some(returning),
                ..
            } => Some(returning.desc.clone()),
            Plan::ShowColumns { .. } => Some(show_columns_desc()),
            Plan::ShowVariable(name) => Some(show_variable_desc(name)),
            Plan::ShowSources => Some(show_sources_desc()),
            Plan::ShowSinks => Some(show_sinks_desc()),
            Plan::Apply(_) => Some(crate::files::apply_desc()),
            _ => None,
        }
    }
}
