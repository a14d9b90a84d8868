//! `CREATE OR REPLACE [MATERIALIZED] VIEW` of an existing view: blue/green.
//!
//! The new definition is built as a new version (a new id) beside the old one, together
//! with a new version of every view and sink that depends on it (re-planned against the
//! new version), while the old versions keep serving. Once every new materialized view
//! has caught up with the read time (a read of it at that time has answered), the names
//! move to the new versions in one step: one log append (the old versions dropped, the
//! new ones created), one catalog change. So a reader sees the old versions or the new
//! ones, never a mix, never an error, never a view that is still being built.
//!
//! Invariants:
//! - Nothing is logged or renamed until the new versions are complete; a new version
//!   that fails (a dependent that no longer plans, an error while computing it) leaves
//!   the old ones as they were, and the statement fails with why.
//! - A swap happens only if the catalog did not change while the new versions were
//!   built (else it is abandoned with `40001`, to be tried again).
//! - Subscriptions of a replaced view end (they read the old version); sinks of one
//!   start again on the new version, and write only the difference (their topic is
//!   their progress, see `sinks.rs`).

use std::collections::BTreeSet;

use eddy_dataflow::DataflowDesc;
use eddy_repr::{GlobalId, SqlError, SqlState};
use eddy_sql::{ItemKind, Plan};

use super::tag;
use crate::catalog::{view_kind, Catalog, CatalogEntry};
use crate::command::{Command, ExecuteResponse};
use crate::coord::{Coordinator, Finish};
use crate::durable::LogRecord;

/// New versions being built, waiting to take their names.
pub(crate) struct PendingReplace {
    /// The versions replaced: the view and its dependents, in dependency order.
    old: Vec<GlobalId>,
    /// Their new versions (same names), in the same order.
    new: Vec<CatalogEntry>,
    /// The catalog generation the new versions were planned against.
    generation: u64,
    /// The statement's tag.
    done: &'static str,
}

impl Coordinator {
    /// Starts replacing the existing view that `plan` (a `CREATE OR REPLACE ... VIEW`)
    /// names: plans and builds the new versions, and lets a task wait until they have
    /// caught up ([`Command::ReplaceReady`] finishes it).
    pub(crate) fn begin_replace_view(&mut self, plan: Plan, finish: Finish) {
        match self.plan_replace(plan) {
            Ok(Ok(pending)) => self.wait_then_swap(pending, finish),
            Ok(Err(done)) => finish.send(tag(done)),
            Err(e) => finish.send(Err(e)),
        }
    }

    /// The new versions of the view `plan` replaces and of its dependents, with their
    /// dataflows started; `Ok(Err(tag))` when the definition did not change.
    fn plan_replace(
        &mut self,
        plan: Plan,
    ) -> Result<Result<PendingReplace, &'static str>, SqlError> {
        let Plan::CreateView {
            schema,
            name,
            materialized,
            expr,
            desc,
            create_sql,
            depends_on,
            ..
        } = plan
        else {
            unreachable!("called with CREATE VIEW plans only")
        };
        let done = if materialized {
            "CREATE MATERIALIZED VIEW"
        } else {
            "CREATE VIEW"
        };
        let old = self
            .catalog
            .get_by_name(&schema, &name)
            .cloned()
            .ok_or_else(|| SqlError::internal(format!("\"{name}\" is not in the catalog")))?;
        if old.kind != view_kind(materialized) {
            return Err(SqlError::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("\"{name}\" is not a {}", view_kind(materialized).noun()),
            ));
        }
        if old.create_sql == create_sql {
            return Ok(Err(done));
        }
        // The view and everything that reads it, dependencies first.
        let mut replaced: Vec<GlobalId> = self.catalog.drop_order(&[old.id], true)?;
        replaced.reverse();
        let replaced_set: BTreeSet<GlobalId> = replaced.iter().copied().collect();
        if let Some(id) = depends_on.iter().find(|id| replaced_set.contains(id)) {
            let reader = self
                .catalog
                .get(*id)
                .map(|e| e.qualified_name())
                .unwrap_or_default();
            return Err(SqlError::new(
                SqlState::INVALID_OBJECT_DEFINITION,
                format!(
                    "the new definition of \"{name}\" reads \"{reader}\", which reads \"{name}\""
                ),
            ));
        }
        // Plan the new versions against a catalog where the names already lead to them.
        let mut scratch: Catalog = self.catalog.clone();
        for id in replaced.iter().rev() {
            scratch.remove(*id);
        }
        let mut new = Vec::with_capacity(replaced.len());
        let first = CatalogEntry::view(
            self.catalog.allocate_id(),
            name.clone(),
            view_kind(materialized),
            desc,
            create_sql,
            self.optimize(expr),
            depends_on,
        )
        .in_schema(schema);
        scratch.insert(first.clone());
        new.push(first);
        for id in &replaced[1..] {
            let dependent = self.catalog.get(*id).cloned().expect("in the drop order");
            // A sink keeps its id (so its Kafka transactional id, which fences the old
            // producer): the old version is gone before the new one starts.
            let new_id = match dependent.kind {
                ItemKind::Sink => dependent.id,
                _ => self.catalog.allocate_id(),
            };
            let entry = self
                .replan(&scratch, &dependent, new_id)
                .map_err(|e| {
                    SqlError::new(
                        SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                        format!(
                            "cannot replace \"{name}\": {} {} reads it, and does not plan on the new definition: {}",
                            dependent.kind.noun(),
                            dependent.qualified_name(),
                            e.message
                        ),
                    )
                })?;
            scratch.insert(entry.clone());
            new.push(entry);
        }
        let as_of = self.oracle.read_ts();
        for entry in &new {
            if entry.kind == ItemKind::MaterializedView {
                self.compute.create_dataflow(DataflowDesc {
                    id: entry.id,
                    name: format!("{} (new version)", entry.name),
                    plan: entry.plan.clone().expect("views have plans"),
                    as_of,
                });
            }
        }
        Ok(Ok(PendingReplace {
            old: replaced,
            new,
            generation: self.catalog_generation,
            done,
        }))
    }

    /// A view's or sink's entry re-planned from its text against `catalog`, as `id`.
    fn replan(
        &self,
        catalog: &Catalog,
        entry: &CatalogEntry,
        id: GlobalId,
    ) -> Result<CatalogEntry, SqlError> {
        let stmt = eddy_sql::parse(&entry.create_sql)?
            .into_iter()
            .next()
            .ok_or_else(|| SqlError::internal("an empty definition"))?;
        let ctx = self.plan_context(None, vec![]);
        match eddy_sql::plan(catalog, &ctx, &stmt)? {
            Plan::CreateView {
                schema,
                name,
                materialized,
                expr,
                desc,
                create_sql,
                depends_on,
                ..
            } => Ok(CatalogEntry::view(
                id,
                name,
                view_kind(materialized),
                desc,
                create_sql,
                self.optimize(expr),
                depends_on,
            )
            .in_schema(schema)),
            Plan::CreateSink {
                schema,
                name,
                expr,
                desc,
                depends_on,
                options,
                create_sql,
                ..
            } => Ok(CatalogEntry::sink(
                id,
                name,
                desc,
                create_sql,
                self.optimize(expr),
                depends_on,
                options,
            )
            .in_schema(schema)),
            _ => Err(SqlError::internal(
                "a dependent that is not a view or a sink",
            )),
        }
    }

    /// Waits (on a task) until every new materialized view answers a read at the time
    /// it was built from, then hands the swap back to the coordinator.
    fn wait_then_swap(&mut self, pending: PendingReplace, finish: Finish) {
        let time = self.oracle.read_ts();
        let reads: Vec<_> = pending
            .new
            .iter()
            .filter(|e| e.kind == ItemKind::MaterializedView)
            .map(|e| (e.qualified_name(), self.compute.peek(e.id, time)))
            .collect();
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let mut result = Ok(());
            for (name, read) in reads {
                match read.await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        result = Err(SqlError::new(
                            SqlState::INVALID_OBJECT_DEFINITION,
                            format!("the new version of \"{name}\" fails: {e}"),
                        )
                        .with_hint(
                            "The old version keeps serving; fix the definition and try again.",
                        ));
                        break;
                    }
                    Err(_) => {
                        result = Err(SqlError::internal("the workers stopped"));
                        break;
                    }
                }
            }
            let _ = tx
                .send(Command::ReplaceReady {
                    pending: Box::new(pending),
                    result,
                    finish,
                })
                .await;
        });
    }

    /// The new versions are ready (or failed): swap the names to them in one step, or
    /// drop them.
    pub(crate) fn finish_replace(
        &mut self,
        pending: PendingReplace,
        result: Result<(), SqlError>,
    ) -> Result<ExecuteResponse, SqlError> {
        let result = result.and_then(|()| {
            if pending.generation == self.catalog_generation {
                Ok(())
            } else {
                Err(SqlError::new(
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    "the catalog changed while the new version was built; nothing was replaced",
                )
                .with_hint("Run the statement again."))
            }
        });
        if let Err(e) = result {
            for entry in &pending.new {
                if entry.kind == ItemKind::MaterializedView {
                    self.compute.drop_collection(entry.id);
                }
            }
            return Err(e);
        }
        let mut records = vec![LogRecord::Drop {
            ids: pending.old.iter().rev().copied().collect(),
        }];
        for entry in &pending.new {
            records.extend(LogRecord::create(entry));
        }
        if let Err(e) = self.storage.append(&records) {
            for entry in &pending.new {
                if entry.kind == ItemKind::MaterializedView {
                    self.compute.drop_collection(entry.id);
                }
            }
            return Err(e);
        }
        self.end_subscribes_reading(&pending.old);
        for id in pending.old.iter().rev() {
            self.stop_sink(*id);
            if let Some(entry) = self.catalog.remove(*id) {
                self.row_counts.remove(id);
                if entry.is_arranged() {
                    self.compute.drop_collection(*id);
                }
            }
        }
        let mut sinks = Vec::new();
        for entry in pending.new {
            if entry.kind == ItemKind::Sink {
                sinks.push(entry.id);
            }
            self.catalog.insert(entry);
        }
        for id in sinks {
            if let Err(e) = self.start_sink(id) {
                self.sink_not_started(id, e.message);
            }
        }
        self.catalog_changed();
        tag(pending.done)
    }
}
