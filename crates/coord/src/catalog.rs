//! The in-memory catalog: every table and view, by id and by name, with the
//! dependencies between them. It is rebuilt on start by replaying the durable log
//! (see `durable.rs`), so it holds nothing that is not derivable from the log.
//!
//! Invariant: an item's dependencies exist for as long as it does (DROP refuses, or
//! cascades, when dependents remain).
//!
//! The catalog holds user items only; name resolution also finds the builtin
//! relations of `pg_catalog` and `information_schema` (see `builtins.rs`), which are
//! not entries and never show in [`Catalog::entries`].

use std::collections::{BTreeMap, BTreeSet};

use eddy_expr::MirRelationExpr;
use eddy_repr::{GlobalId, RelationDesc};
use eddy_sql::ItemKind;

#[derive(Clone, Debug)]
pub struct CatalogEntry {
    pub id: GlobalId,
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
}

#[derive(Debug, Default)]
pub struct Catalog {
    entries: BTreeMap<GlobalId, CatalogEntry>,
    by_name: BTreeMap<String, GlobalId>,
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
        self.by_name.insert(entry.name.clone(), entry.id);
        self.entries.insert(entry.id, entry);
    }

    pub fn remove(&mut self, id: GlobalId) -> Option<CatalogEntry> {
        let entry = self.entries.remove(&id)?;
        self.by_name.remove(&entry.name);
        Some(entry)
    }

    pub fn get(&self, id: GlobalId) -> Option<&CatalogEntry> {
        self.entries.get(&id)
    }

    pub fn get_by_name(&self, name: &str) -> Option<&CatalogEntry> {
        self.by_name.get(name).and_then(|id| self.entries.get(id))
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

    /// `id` and everything that depends on it, transitively, dependents first (the
    /// order in which they can be dropped).
    pub fn drop_order(&self, ids: &[GlobalId]) -> Vec<GlobalId> {
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
        })
    }
}

impl eddy_sql::Catalog for Catalog {
    /// Unqualified names are looked up in `pg_catalog`, then `public`, as Postgres'
    /// default search path does.
    fn resolve_item(&self, schema: Option<&str>, name: &str) -> Option<eddy_sql::CatalogItem> {
        match schema {
            None => {
                if let Some(item) = Catalog::builtin_item("pg_catalog", name) {
                    return Some(item);
                }
            }
            Some("public") => {}
            Some(schema) => return Catalog::builtin_item(schema, name),
        }
        let entry = self.get_by_name(name)?;
        Some(eddy_sql::CatalogItem {
            id: entry.id,
            name: entry.name.clone(),
            kind: entry.kind,
            desc: entry.desc.clone(),
            view_expr: match entry.kind {
                ItemKind::View => entry.plan.clone(),
                _ => None,
            },
        })
    }
}
