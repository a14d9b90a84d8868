//! What the planner needs to know about the catalog: how to resolve a relation name.
//!
//! The coordinator owns the durable catalog and implements [`Catalog`] over a snapshot
//! of it, so planning stays pure: the planner never mutates the catalog and never waits.

use eddy_expr::MirRelationExpr;
use eddy_repr::{GlobalId, RelationDesc};

/// Name resolution against the catalog.
pub trait Catalog {
    /// Resolves a relation name (already case-folded: unquoted identifiers are
    /// lowercase). `schema` is `None` when the name is unqualified: then `pg_catalog` is
    /// searched first, then `public`.
    fn resolve_item(&self, schema: Option<&str>, name: &str) -> Option<CatalogItem>;

    /// Whether schema `name` exists (`public`, the system schemas, or one made with
    /// `CREATE SCHEMA`).
    fn schema_exists(&self, name: &str) -> bool;

    /// The `CREATE TABLE` text of user table `id` (what `ALTER TABLE` changes); `None`
    /// for anything else.
    fn create_sql(&self, id: GlobalId) -> Option<String> {
        let _ = id;
        None
    }

    /// The name of the user table in `schema` with a UNIQUE constraint named
    /// `constraint` (what `CREATE UNIQUE INDEX` made), if one has.
    fn table_with_unique(&self, schema: &str, constraint: &str) -> Option<String> {
        let _ = (schema, constraint);
        None
    }
}

/// One relation in the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogItem {
    pub id: GlobalId,
    pub name: String,
    pub kind: ItemKind,
    pub desc: RelationDesc,
    /// For a plain (non-materialized) VIEW: its optimized plan, inlined where the view
    /// is used. `None` for every other kind.
    pub view_expr: Option<MirRelationExpr>,
    /// For a table: each column's `DEFAULT` expression as SQL text (planned anew by
    /// every INSERT, so `now()` is the statement's time); empty when none has one.
    pub defaults: Vec<Option<String>>,
    /// For a stream with an event time: the column that holds it (windows over it
    /// close as the stream's watermark passes, see `window.rs`).
    pub event_time: Option<usize>,
    /// For a stream with a `RETENTION`: how long (µs of event time) it keeps events.
    pub retention_us: Option<i64>,
}

/// What kind of relation a catalog item is. System (builtin) tables count as `Table`;
/// their ids are [`GlobalId::System`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemKind {
    Table,
    View,
    MaterializedView,
    Source,
    /// A Kafka sink: not a relation (nothing reads it), but an item in the relations'
    /// namespace that depends on the relation it writes out.
    Sink,
    /// A Postgres CDC source (`CREATE SOURCE ... FROM POSTGRES`): not a relation; its
    /// tables are `Source` items in the schema of its name.
    PgSource,
    /// `CREATE INDEX ON t (cols)`: an arrangement of a table's rows with the indexed
    /// columns first, which point reads by those columns seek in. Not a relation:
    /// nothing names it in a query; it goes with its table.
    Index,
}

impl ItemKind {
    /// The noun Postgres uses in messages (`table`, `view`, `materialized view`).
    pub fn noun(&self) -> &'static str {
        match self {
            ItemKind::Table => "table",
            ItemKind::View => "view",
            ItemKind::MaterializedView => "materialized view",
            ItemKind::Source => "source",
            ItemKind::Sink => "sink",
            ItemKind::PgSource => "source",
            ItemKind::Index => "index",
        }
    }

    /// The DROP statement that removes an item of this kind.
    pub fn drop_statement(&self) -> &'static str {
        match self {
            ItemKind::Table => "DROP TABLE",
            ItemKind::View => "DROP VIEW",
            ItemKind::MaterializedView => "DROP MATERIALIZED VIEW",
            ItemKind::Source => "DROP STREAM",
            ItemKind::Sink => "DROP SINK",
            ItemKind::PgSource => "DROP SOURCE",
            ItemKind::Index => "DROP INDEX",
        }
    }
}

/// The OID of a catalog item, as `pg_class` lists it: builtin relations keep the
/// number of their [`GlobalId::System`] id, user items are numbered from 16384 (the
/// first OID Postgres gives user objects) on. Transient items have none.
pub fn item_oid(id: GlobalId) -> Option<u32> {
    match id {
        GlobalId::User(n) => u32::try_from(n).ok()?.checked_add(FIRST_USER_OID),
        GlobalId::System(n) => u32::try_from(n).ok(),
        GlobalId::Transient(_) => None,
    }
}

/// The OID of the first user item.
pub const FIRST_USER_OID: u32 = 16384;
