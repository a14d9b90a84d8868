//! What `SHOW VIEWS` and `SHOW MATERIALIZED VIEWS` say about each view: ready, a new
//! version replaying beside the serving one (with its progress), a built version
//! waiting for `APPLY COMMIT`, or a views directory that failed to apply.
//!
//! Progress of a replay is shown as the records the new version's arrangements hold
//! so far, beside those of the version it replaces, and the time spent. It is not a
//! percentage: differential replays all of the inputs' history as one time, so the
//! arrangements of the first operators (a join's inputs) fill at once while the work
//! of the later ones (the reduce over the join) shows only when it is done.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use eddy_repr::GlobalId;
use eddy_sql::{FileItemKind, ItemKind};

use crate::catalog::CatalogEntry;
use crate::coord::Coordinator;
use crate::metrics::{estimate_arrangement_bytes, TableKind, TableMetrics, ViewMetrics};
use crate::timestamp::now_ms;

/// A new version being built (replaying its inputs) before a swap.
pub(crate) struct Building {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) kind: ItemKind,
    /// The version it replaces, if any.
    pub(crate) old: Option<GlobalId>,
    pub(crate) started: Instant,
}

/// The last `APPLY FILES` (not a dry run) that failed, until one succeeds.
pub(crate) struct ApplyFailure {
    /// The views the files define, `(schema, name, kind)`; empty when the files could
    /// not be parsed.
    pub(crate) views: BTreeSet<(String, String, ItemKind)>,
    pub(crate) error: String,
}

impl ApplyFailure {
    pub(crate) fn new(files: &[(String, String)], error: String) -> ApplyFailure {
        let views = eddy_sql::parse_files(files)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|fs| {
                let kind = match fs.kind {
                    FileItemKind::View => ItemKind::View,
                    FileItemKind::MaterializedView => ItemKind::MaterializedView,
                    _ => return None,
                };
                Some((fs.schema, fs.name, kind))
            })
            .collect();
        ApplyFailure { views, error }
    }
}

/// The new versions being built, by their ids.
pub(crate) type BuildingVersions = BTreeMap<GlobalId, Building>;

fn display(schema: &str, name: &str) -> String {
    if schema == "public" {
        name.to_string()
    } else {
        format!("{schema}.{name}")
    }
}

impl Coordinator {
    /// The status of view `entry` in `SHOW [MATERIALIZED] VIEWS`.
    pub(crate) fn view_status(&self, entry: &CatalogEntry) -> String {
        let same = |schema: &str, name: &str| (schema, name) == (&entry.schema, &entry.name);
        if let Some(failure) = &self.apply_failure {
            if failure
                .views
                .iter()
                .any(|(schema, name, _)| same(schema, name))
            {
                return format!(
                    "serving its earlier definition: the views directory failed to apply: {}",
                    failure.error
                );
            }
        }
        if let Some((id, building)) = self.building.iter().find(|(_, b)| same(&b.schema, &b.name)) {
            return format!("replacing: {}", self.replay_progress(*id, building));
        }
        if let Some(token) = self.held_swap_of(&entry.schema, &entry.name) {
            return format!(
                "replacing: the new version is built; APPLY COMMIT {token} swaps to it, \
                 APPLY ABORT {token} drops it"
            );
        }
        if let Some(error) = self.view_error(entry) {
            return format!("error: {error}");
        }
        "ready".into()
    }

    /// The error materialized view `entry` holds (reading it fails with it), as the
    /// workers last reported: the error of the view it comes from, and which view that
    /// is when it is another one.
    pub(crate) fn view_error(&self, entry: &CatalogEntry) -> Option<String> {
        if entry.kind != ItemKind::MaterializedView {
            return None;
        }
        Some(match self.compute.collection_error(entry.id)? {
            eddy_expr::EvalError::InView { view, error } if view == entry.qualified_name() => {
                error.to_string()
            }
            other => other.to_string(),
        })
    }

    /// Views of `kind` that are not in the catalog yet: `(name, status)` of new views
    /// being built and of views in files that failed to apply.
    pub(crate) fn views_to_come(&self, kind: ItemKind) -> Vec<(String, String)> {
        let mut rows = Vec::new();
        for (id, building) in &self.building {
            if building.kind == kind && building.old.is_none() {
                rows.push((
                    display(&building.schema, &building.name),
                    format!("creating: {}", self.replay_progress(*id, building)),
                ));
            }
        }
        if let Some(failure) = &self.apply_failure {
            for (schema, name, _) in failure.views.iter().filter(|v| v.2 == kind) {
                let known = self.catalog.get_by_name(schema, name).is_some()
                    || self
                        .building
                        .values()
                        .any(|b| (&b.schema, &b.name) == (schema, name));
                if !known {
                    rows.push((
                        display(schema, name),
                        format!("not applied: {}", failure.error),
                    ));
                }
            }
        }
        rows
    }

    /// Publishes each materialized view's status, rows, records, freshness lag and the
    /// replay of its new version, if one is being built, and each table's and source
    /// relation's rows and records, for `/metrics` and the status page.
    pub(crate) fn publish_view_metrics(&self) {
        let now = now_ms();
        let mut views: BTreeMap<String, ViewMetrics> = self
            .catalog
            .entries()
            .filter(|e| e.kind == ItemKind::MaterializedView)
            .map(|e| {
                let records = self.compute.arrangement_records(e.id);
                let flow = self.compute.collection_flow(e.id);
                let metrics = ViewMetrics {
                    status: self.view_status(e),
                    records,
                    bytes: records.zip(flow).map(|(records, flow)| {
                        estimate_arrangement_bytes(records, flow.rows, flow.row_bytes)
                    }),
                    rows: flow.map(|f| f.rows),
                    updates: flow.map(|f| f.updates),
                    lag_ms: self
                        .compute
                        .collection_upper(e.id)
                        .map(|upper| now.saturating_sub(upper)),
                    replay: None,
                    error: self.view_error(e),
                };
                (e.qualified_name(), metrics)
            })
            .collect();
        for (id, building) in &self.building {
            let records = self.compute.arrangement_records(*id).unwrap_or(0);
            let secs = building.started.elapsed().as_secs();
            views
                .entry(display(&building.schema, &building.name))
                .or_default()
                .replay = Some((records, secs));
        }
        *self
            .metrics
            .per_view
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = views;
        let tables: BTreeMap<String, TableMetrics> = self
            .catalog
            .entries()
            .filter_map(|e| {
                let kind = match e.kind {
                    ItemKind::Table => TableKind::Table,
                    ItemKind::Source => TableKind::Source,
                    _ => return None,
                };
                // Builtin tables (`eddy_source_errors`, ...) are not the user's data.
                if !matches!(e.id, GlobalId::User(_)) {
                    return None;
                }
                let flow = self.compute.collection_flow(e.id).unwrap_or_default();
                let records = self.compute.arrangement_records(e.id).unwrap_or(0);
                let metrics = TableMetrics {
                    kind,
                    rows: flow.rows,
                    updates: flow.updates,
                    records,
                    bytes: estimate_arrangement_bytes(records, flow.rows, flow.row_bytes),
                };
                Some((e.qualified_name(), metrics))
            })
            .collect();
        *self
            .metrics
            .per_table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = tables;
        // Sources that stopped: a Kafka source that failed, a Postgres source's table.
        let mut failed = BTreeMap::new();
        for (id, running) in &self.sources.running {
            if let eddy_connect::SourceState::Failed { error } = running.state() {
                if let Some(entry) = self.catalog.get(*id) {
                    failed.insert(entry.qualified_name(), error);
                }
            }
        }
        for (table, error) in &self.pg_sources.table_errors {
            if let Some(entry) = self.catalog.get(*table) {
                failed.insert(entry.qualified_name(), error.clone());
            }
        }
        *self
            .metrics
            .failed_sources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = failed;
    }

    /// `replaying its inputs: its arrangements hold 1200000 records so far (the
    /// current version's 3000000), 12 s`.
    fn replay_progress(&self, id: GlobalId, building: &Building) -> String {
        let secs = building.started.elapsed().as_secs();
        let Some(records) = self.compute.arrangement_records(id) else {
            return format!("the new version is starting to replay its inputs, {secs} s");
        };
        let of_old = building
            .old
            .and_then(|old| self.compute.arrangement_records(old))
            .filter(|old| *old > 0)
            .map(|old| format!(" (the current version's: {old})"))
            .unwrap_or_default();
        format!(
            "the new version is replaying its inputs: its arrangements hold {records} records \
             so far{of_old}, {secs} s"
        )
    }
}
