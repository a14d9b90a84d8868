//! The in-memory catalog: every table and view, by id and by name, with the
//! dependencies between them. It is rebuilt on start by replaying the durable log
//! (see `durable.rs`), so it holds nothing that is not derivable from the log.
//!
//! Invariants:
//! - An item's dependencies exist for as long as it does: [`Catalog::drop_order`]
//!   refuses (2BP01), or cascades, when dependents remain.
//! - Entries are built by [`CatalogEntry::table`], [`CatalogEntry::source`],
//!   [`CatalogEntry::view`] and [`CatalogEntry::sink`] only, the same way whether they
//!   come from a statement or from the log.
//! - A sink is an item (in the relations' namespace, with dependencies, so dropping
//!   what it writes out needs CASCADE) but not a relation: it has no arrangement and
//!   no `pg_class` row.
//!
//! The catalog holds user items only; name resolution also finds the builtin
//! relations of `pg_catalog` and `information_schema` (see `builtins/`), which are
//! not entries and never show in [`Catalog::entries`].

use std::collections::{BTreeMap, BTreeSet};

use eddy_connect::postgres::PgTable;
use eddy_expr::MirRelationExpr;
use eddy_repr::{GlobalId, RelationDesc, SqlError, SqlState};
use eddy_sql::{ItemKind, SinkOptions, SourceOptions, PUBLIC_SCHEMA, SYSTEM_SCHEMAS};

#[derive(Clone, Debug)]
pub struct CatalogEntry {
    pub id: GlobalId,
    /// The schema it lives in (`public` unless created elsewhere).
    pub schema: String,
    pub name: String,
    pub kind: ItemKind,
    pub desc: RelationDesc,
    /// The statement that created the item, re-planned on restart (views).
    pub create_sql: String,
    /// The optimized plan of a view or materialized view.
    pub plan: Option<MirRelationExpr>,
    /// Items this one reads.
    pub depends_on: BTreeSet<GlobalId>,
    /// A table's PRIMARY KEY columns (empty without one, and for views).
    pub primary_key: Vec<usize>,
    /// How a source reads its Kafka topic (`None` for every other kind).
    pub source: Option<SourceOptions>,
    /// How a sink writes its relation (`plan`, columns `desc`) to Kafka (`None` for
    /// every other kind).
    pub sink: Option<SinkOptions>,
    /// A Postgres source's definition (`None` for every other kind).
    pub pg: Option<PgSourceDef>,
    /// For a table of a Postgres source: that source, its only writer.
    pub upstream: Option<GlobalId>,
    /// For a table: each column's `DEFAULT` expression as SQL text (see
    /// `eddy_sql::CatalogItem::defaults`); empty when none has one.
    pub defaults: Vec<Option<String>>,
    /// For a table: its CHECK constraints, enforced on every row written.
    pub checks: Vec<eddy_sql::CheckConstraint>,
    /// For a table: its UNIQUE constraints (enforced with the primary key: see
    /// [`CatalogEntry::key_sets`]).
    pub unique: Vec<eddy_sql::UniqueConstraint>,
    /// For an index: the columns of its table it is keyed by, in order.
    pub index_key: Vec<usize>,
}

/// What a Postgres source reads and where it stands upstream: kept in its catalog
/// entry and in its log record, so a restart reads the same tables from the same slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgSourceDef {
    /// `WITH (CONNECTION = ..., PUBLICATION = ...)` as written.
    pub options: Vec<(String, String)>,
    /// The tables found upstream when the source was created, in the source's order.
    pub tables: Vec<PgTable>,
    /// The catalog id of each of `tables` (same order).
    pub table_ids: Vec<GlobalId>,
    /// The replication slot upstream.
    pub slot: String,
}

impl CatalogEntry {
    /// The dataflow that maintains this materialized view from `as_of` on.
    pub(crate) fn dataflow(&self, as_of: eddy_repr::Timestamp) -> eddy_dataflow::DataflowDesc {
        eddy_dataflow::DataflowDesc {
            id: self.id,
            view: Some(self.qualified_name()),
            name: self.name.clone(),
            plan: self.plan.clone().expect("views have plans"),
            as_of,
            // An index keeps its rows in the order of its key, so a read seeks ranges.
            layout: match self.kind {
                ItemKind::Index => eddy_dataflow::RowLayout::Sorted {
                    key_arity: self.index_key.len(),
                },
                _ => eddy_dataflow::RowLayout::Compact,
            },
        }
    }

    /// A table. `create_sql` is the normalized statement, kept for the catalog
    /// relations; `desc` (not the text) is what its rows are read with.
    pub fn table(
        id: GlobalId,
        name: impl Into<String>,
        desc: RelationDesc,
        create_sql: impl Into<String>,
        primary_key: Vec<usize>,
    ) -> Self {
        CatalogEntry {
            id,
            schema: PUBLIC_SCHEMA.to_string(),
            name: name.into(),
            kind: ItemKind::Table,
            desc,
            create_sql: create_sql.into(),
            plan: None,
            depends_on: BTreeSet::new(),
            primary_key,
            source: None,
            sink: None,
            pg: None,
            upstream: None,
            defaults: vec![],
            checks: vec![],
            unique: vec![],
            index_key: vec![],
        }
    }

    /// A stream or table read from a Kafka topic: stored like a table (its rows are in
    /// the log), written only by its source.
    pub fn source(
        id: GlobalId,
        name: impl Into<String>,
        desc: RelationDesc,
        create_sql: impl Into<String>,
        primary_key: Vec<usize>,
        source: SourceOptions,
    ) -> Self {
        CatalogEntry {
            kind: ItemKind::Source,
            source: Some(source),
            ..CatalogEntry::table(id, name, desc, create_sql, primary_key)
        }
    }

    /// A view or materialized view with its optimized `plan`, re-planned from
    /// `create_sql` on restart; `depends_on` is what planning resolved.
    pub fn view(
        id: GlobalId,
        name: impl Into<String>,
        kind: ItemKind,
        desc: RelationDesc,
        create_sql: impl Into<String>,
        plan: MirRelationExpr,
        depends_on: BTreeSet<GlobalId>,
    ) -> Self {
        CatalogEntry {
            id,
            schema: PUBLIC_SCHEMA.to_string(),
            name: name.into(),
            kind,
            desc,
            create_sql: create_sql.into(),
            plan: Some(plan),
            depends_on,
            primary_key: vec![],
            source: None,
            sink: None,
            pg: None,
            upstream: None,
            defaults: vec![],
            checks: vec![],
            unique: vec![],
            index_key: vec![],
        }
    }

    /// A sink writing the relation `plan` computes (columns `desc`) to Kafka,
    /// re-planned from `create_sql` on restart; `depends_on` is what planning resolved.
    pub fn sink(
        id: GlobalId,
        name: impl Into<String>,
        desc: RelationDesc,
        create_sql: impl Into<String>,
        plan: MirRelationExpr,
        depends_on: BTreeSet<GlobalId>,
        sink: SinkOptions,
    ) -> Self {
        CatalogEntry {
            kind: ItemKind::Sink,
            sink: Some(sink),
            ..CatalogEntry::view(id, name, ItemKind::View, desc, create_sql, plan, depends_on)
        }
    }

    /// A Postgres source (not a relation; its tables are entries of their own).
    pub fn pg_source(
        id: GlobalId,
        name: impl Into<String>,
        create_sql: impl Into<String>,
        def: PgSourceDef,
    ) -> Self {
        CatalogEntry {
            kind: ItemKind::PgSource,
            pg: Some(def),
            ..CatalogEntry::table(id, name, RelationDesc::empty(), create_sql, vec![])
        }
    }

    /// Table `table` of Postgres source `source` (named `source_name`): in the schema
    /// of the source's name, written only by the source.
    pub fn pg_table(id: GlobalId, source: GlobalId, source_name: &str, table: &PgTable) -> Self {
        let create_sql = format!("-- table {} of source {source_name}", table.upstream());
        CatalogEntry {
            kind: ItemKind::Source,
            depends_on: BTreeSet::from([source]),
            upstream: Some(source),
            ..CatalogEntry::table(
                id,
                table.name.clone(),
                table.desc(),
                create_sql,
                table.primary_key.clone(),
            )
        }
        .in_schema(source_name)
    }

    /// The same table with the columns' `DEFAULT` expressions and its CHECK
    /// constraints.
    pub fn with_defaults(
        self,
        defaults: Vec<Option<String>>,
        checks: Vec<eddy_sql::CheckConstraint>,
    ) -> Self {
        CatalogEntry {
            defaults,
            checks,
            ..self
        }
    }

    /// The same table with its UNIQUE constraints.
    pub fn with_unique(self, unique: Vec<eddy_sql::UniqueConstraint>) -> Self {
        CatalogEntry { unique, ..self }
    }

    /// The key sets the key index enforces for a table: its primary key
    /// (`<table>_pkey`), then its UNIQUE constraints. A source's keys are kept unique by
    /// its envelope, not checked: it has none here.
    pub fn key_sets(&self) -> Vec<crate::keys::KeySet> {
        if self.kind != eddy_sql::ItemKind::Table {
            return vec![];
        }
        let primary = (!self.primary_key.is_empty()).then(|| crate::keys::KeySet {
            constraint: format!("{}_pkey", self.name),
            columns: self.primary_key.clone(),
        });
        let unique = self.unique.iter().map(|u| crate::keys::KeySet {
            constraint: u.name.clone(),
            columns: u.columns.clone(),
        });
        primary.into_iter().chain(unique).collect()
    }

    /// The same entry in schema `schema`.
    pub fn in_schema(self, schema: impl Into<String>) -> Self {
        CatalogEntry {
            schema: schema.into(),
            ..self
        }
    }

    /// The name as a user writes it to reach this item from anywhere: bare in
    /// `public`, `schema.name` elsewhere.
    pub fn qualified_name(&self) -> String {
        if self.schema == PUBLIC_SCHEMA {
            self.name.clone()
        } else {
            format!("{}.{}", self.schema, self.name)
        }
    }

    /// Whether the item is an arrangement in the dataflow (tables and materialized
    /// views are; plain views are inlined where they are read).
    pub fn is_arranged(&self) -> bool {
        matches!(
            self.kind,
            ItemKind::Table | ItemKind::Source | ItemKind::MaterializedView | ItemKind::Index
        )
    }
}

/// The catalog kind of a planned `CREATE [MATERIALIZED] VIEW`.
pub fn view_kind(materialized: bool) -> ItemKind {
    if materialized {
        ItemKind::MaterializedView
    } else {
        ItemKind::View
    }
}

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    entries: BTreeMap<GlobalId, CatalogEntry>,
    /// (schema, name) → item.
    by_name: BTreeMap<(String, String), GlobalId>,
    /// Schemas made with `CREATE SCHEMA` (not `public` nor the system ones) → their id
    /// (which gives their OID).
    schemas: BTreeMap<String, GlobalId>,
    /// Relation → its indexes (`CREATE INDEX`), so that a read finds them without
    /// looking at every item.
    indexes: BTreeMap<GlobalId, BTreeSet<GlobalId>>,
    next_user_id: u64,
}

impl Catalog {
    pub fn allocate_id(&mut self) -> GlobalId {
        self.next_user_id += 1;
        GlobalId::User(self.next_user_id)
    }

    /// Makes sure ids allocated later are above `id` (used while replaying).
    pub fn observe_id(&mut self, id: GlobalId) {
        if let GlobalId::User(n) = id {
            self.next_user_id = self.next_user_id.max(n);
        }
    }

    pub fn insert(&mut self, entry: CatalogEntry) {
        self.observe_id(entry.id);
        self.by_name
            .insert((entry.schema.clone(), entry.name.clone()), entry.id);
        if let Some(old) = self.entries.remove(&entry.id) {
            self.unlink_index(&old);
        }
        if entry.kind == ItemKind::Index {
            for on in &entry.depends_on {
                self.indexes.entry(*on).or_default().insert(entry.id);
            }
        }
        self.entries.insert(entry.id, entry);
    }

    pub fn remove(&mut self, id: GlobalId) -> Option<CatalogEntry> {
        let entry = self.entries.remove(&id)?;
        self.by_name
            .remove(&(entry.schema.clone(), entry.name.clone()));
        self.unlink_index(&entry);
        Some(entry)
    }

    /// Forgets that `entry`, if an index, indexes its relation.
    fn unlink_index(&mut self, entry: &CatalogEntry) {
        if entry.kind != ItemKind::Index {
            return;
        }
        for on in &entry.depends_on {
            if let Some(set) = self.indexes.get_mut(on) {
                set.remove(&entry.id);
                if set.is_empty() {
                    self.indexes.remove(on);
                }
            }
        }
    }

    /// The indexes of relation `id`.
    pub fn indexes_of(&self, id: GlobalId) -> impl Iterator<Item = &CatalogEntry> {
        self.indexes
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|index| self.entries.get(index))
    }

    pub fn get(&self, id: GlobalId) -> Option<&CatalogEntry> {
        self.entries.get(&id)
    }

    pub fn get_by_name(&self, schema: &str, name: &str) -> Option<&CatalogEntry> {
        self.by_name
            .get(&(schema.to_string(), name.to_string()))
            .and_then(|id| self.entries.get(id))
    }

    /// Adds schema `name` (made by `CREATE SCHEMA`) with id `id`.
    pub fn insert_schema(&mut self, id: GlobalId, name: impl Into<String>) {
        self.observe_id(id);
        self.schemas.insert(name.into(), id);
    }

    /// Removes schema `name` (its items must be gone already); returns its id.
    pub fn remove_schema(&mut self, name: &str) -> Option<GlobalId> {
        self.schemas.remove(name)
    }

    /// The schemas made by `CREATE SCHEMA`, by name, with their ids.
    pub fn user_schemas(&self) -> impl Iterator<Item = (&String, GlobalId)> {
        self.schemas.iter().map(|(name, id)| (name, *id))
    }

    /// The id of schema `name`, if it was made by `CREATE SCHEMA`.
    pub fn user_schema(&self, name: &str) -> Option<GlobalId> {
        self.schemas.get(name).copied()
    }

    /// The items in schema `schema`.
    pub fn items_in_schema(&self, schema: &str) -> Vec<GlobalId> {
        self.entries
            .values()
            .filter(|e| e.schema == schema)
            .map(|e| e.id)
            .collect()
    }

    pub fn entries(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.values()
    }

    /// Items that read `id` directly.
    pub fn dependents(&self, id: GlobalId) -> Vec<GlobalId> {
        self.entries
            .values()
            .filter(|e| e.depends_on.contains(&id))
            .map(|e| e.id)
            .collect()
    }

    /// What `DROP ... ids [CASCADE]` removes, dependents first (the order in which they
    /// can be dropped). Without `cascade`, an item that something outside `ids`
    /// depends on is an error (2BP01), as in Postgres.
    pub fn drop_order(&self, ids: &[GlobalId], cascade: bool) -> Result<Vec<GlobalId>, SqlError> {
        let order = self.dependents_closure(ids);
        if cascade {
            return Ok(order);
        }
        // Name an item that reads a requested one directly, as Postgres' DETAIL does.
        // A table's indexes go with it, as in Postgres.
        let blocking = ids.iter().find_map(|target| {
            let dependents = self.dependents(*target);
            let dep = dependents
                .into_iter()
                .find(|d| !ids.contains(d) && self.entries[d].kind != ItemKind::Index)?;
            Some((&self.entries[target], &self.entries[&dep]))
        });
        let Some((target, dep)) = blocking else {
            return Ok(order);
        };
        let (target_kind, dep_kind) = (target.kind.noun(), dep.kind.noun());
        Err(SqlError::new(
            SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
            format!(
                "cannot drop {target_kind} {} because other objects depend on it",
                target.name
            ),
        )
        .with_detail(format!(
            "{dep_kind} {} depends on {target_kind} {}",
            dep.name, target.name
        ))
        .with_hint("Use DROP ... CASCADE to drop the dependent objects too."))
    }

    /// `ids` and everything that depends on them, transitively, dependents first.
    fn dependents_closure(&self, ids: &[GlobalId]) -> Vec<GlobalId> {
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        fn visit(
            cat: &Catalog,
            id: GlobalId,
            seen: &mut BTreeSet<GlobalId>,
            order: &mut Vec<GlobalId>,
        ) {
            if !seen.insert(id) {
                return;
            }
            for dep in cat.dependents(id) {
                visit(cat, dep, seen, order);
            }
            order.push(id);
        }
        for id in ids {
            visit(self, *id, &mut seen, &mut order);
        }
        order
    }
}

impl Catalog {
    /// A builtin relation (`pg_catalog`, `information_schema`) as the planner sees it.
    fn builtin_item(schema: &str, name: &str) -> Option<eddy_sql::CatalogItem> {
        let builtin = crate::builtins::lookup(schema, name)?;
        Some(eddy_sql::CatalogItem {
            id: builtin.id(),
            name: builtin.name.to_string(),
            kind: ItemKind::Table,
            desc: builtin.desc().clone(),
            view_expr: None,
            defaults: vec![],
            event_time: None,
            retention_us: None,
        })
    }
}

impl eddy_sql::Catalog for Catalog {
    /// Unqualified names are looked up in `pg_catalog`, then `public`, as Postgres'
    /// default search path does.
    fn resolve_item(&self, schema: Option<&str>, name: &str) -> Option<eddy_sql::CatalogItem> {
        let schema = match schema {
            None => {
                if let Some(item) = Catalog::builtin_item("pg_catalog", name) {
                    return Some(item);
                }
                PUBLIC_SCHEMA
            }
            Some(schema) if SYSTEM_SCHEMAS.contains(&schema) => {
                return Catalog::builtin_item(schema, name)
            }
            Some(schema) => schema,
        };
        let entry = self.get_by_name(schema, name)?;
        // One reading of a stream's options for its event time and retention.
        let stream_time = entry
            .source
            .as_ref()
            .filter(|s| s.stream)
            .and_then(|s| eddy_connect::stream_event_time(&entry.desc, &s.options));
        Some(eddy_sql::CatalogItem {
            id: entry.id,
            name: entry.name.clone(),
            kind: entry.kind,
            desc: entry.desc.clone(),
            view_expr: match entry.kind {
                ItemKind::View => entry.plan.clone(),
                _ => None,
            },
            defaults: entry.defaults.clone(),
            event_time: stream_time.map(|(column, _)| column),
            retention_us: stream_time.and_then(|(_, retention)| retention),
        })
    }

    fn create_sql(&self, id: GlobalId) -> Option<String> {
        self.get(id)
            .filter(|e| e.kind == ItemKind::Table)
            .map(|e| e.create_sql.clone())
    }

    fn table_with_unique(&self, schema: &str, constraint: &str) -> Option<String> {
        self.entries()
            .find(|e| {
                e.kind == ItemKind::Table
                    && e.schema == schema
                    && e.unique.iter().any(|u| u.name == constraint)
            })
            .map(|e| e.name.clone())
    }

    fn schema_exists(&self, name: &str) -> bool {
        name == PUBLIC_SCHEMA || SYSTEM_SCHEMAS.contains(&name) || self.schemas.contains_key(name)
    }
}

/// Small catalogs for the coordinator's unit tests: one-column relations.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::collections::BTreeSet;

    use eddy_expr::MirRelationExpr;
    use eddy_repr::{GlobalId, RelationDesc, ScalarType};
    use eddy_sql::ItemKind;

    use super::{Catalog, CatalogEntry};

    /// One nullable `int` column `a`.
    pub fn desc() -> RelationDesc {
        RelationDesc::empty().with_column("a", ScalarType::Int32.nullable(true))
    }

    /// A read of relation `id`.
    pub fn get(id: GlobalId) -> MirRelationExpr {
        MirRelationExpr::Get {
            id,
            typ: desc().types,
            name: id.to_string(),
        }
    }

    impl Catalog {
        pub fn add_table(&mut self, name: &str) -> GlobalId {
            let id = self.allocate_id();
            self.insert(CatalogEntry::table(id, name, desc(), "", vec![]));
            id
        }

        /// A view of `kind` that reads `input` as it is.
        pub fn add_view(&mut self, name: &str, kind: ItemKind, input: GlobalId) -> GlobalId {
            let id = self.allocate_id();
            let deps = BTreeSet::from([input]);
            self.insert(CatalogEntry::view(
                id,
                name,
                kind,
                desc(),
                "",
                get(input),
                deps,
            ));
            id
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::desc;
    use super::*;

    /// t <- v <- m, and a table u nothing reads.
    fn catalog() -> (Catalog, [GlobalId; 4]) {
        let mut catalog = Catalog::default();
        let t = catalog.add_table("t");
        let v = catalog.add_view("v", ItemKind::View, t);
        let m = catalog.add_view("m", ItemKind::MaterializedView, v);
        let u = catalog.add_table("u");
        (catalog, [t, v, m, u])
    }

    #[test]
    fn drop_refuses_while_dependents_remain() {
        let (catalog, [t, v, m, _]) = catalog();
        let err = catalog.drop_order(&[t], false).unwrap_err();
        assert_eq!(err.sqlstate, SqlState::DEPENDENT_OBJECTS_STILL_EXIST);
        assert_eq!(
            err.message,
            "cannot drop table t because other objects depend on it"
        );
        assert_eq!(err.detail.as_deref(), Some("view v depends on table t"));
        // Naming every dependent drops them all, dependents first.
        assert_eq!(catalog.drop_order(&[t, v, m], false), Ok(vec![m, v, t]));
        assert_eq!(catalog.drop_order(&[m], false), Ok(vec![m]));
    }

    #[test]
    fn cascade_drops_dependents_first() {
        let (catalog, [t, v, m, u]) = catalog();
        assert_eq!(catalog.drop_order(&[t], true), Ok(vec![m, v, t]));
        assert_eq!(catalog.drop_order(&[u, v], true), Ok(vec![u, m, v]));
    }

    #[test]
    fn ids_are_never_reused() {
        let (mut catalog, [t, ..]) = catalog();
        catalog.remove(t);
        let next = catalog.allocate_id();
        assert_eq!(next, GlobalId::User(5));
        // Replaying an item with a higher id moves allocation past it.
        catalog.insert(CatalogEntry::table(
            GlobalId::User(9),
            "x",
            desc(),
            "",
            vec![],
        ));
        assert_eq!(catalog.allocate_id(), GlobalId::User(10));
    }
}
