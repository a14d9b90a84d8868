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

use eddy_connect::StartOffset;
use eddy_dataflow::DataflowDesc;
use eddy_repr::{Datum, GlobalId, Row, SqlError, SqlState};
use eddy_sql::view_options::StartAt;
use eddy_sql::{ItemKind, Plan};

use super::tag;
use crate::catalog::{view_kind, Catalog, CatalogEntry};
use crate::command::{Command, ExecuteResponse};
use crate::coord::{Coordinator, Finish};
use crate::durable::LogRecord;
use crate::sources::{source_spec, stream_retention};

/// New versions being built, waiting to take their names.
pub(crate) struct PendingReplace {
    /// The versions replaced: the roots' old versions and their dependents, in
    /// dependency order (and anything else the swap drops).
    pub(crate) old: Vec<GlobalId>,
    /// The new versions (and new items), in dependency order.
    pub(crate) new: Vec<CatalogEntry>,
    /// The catalog generation the new versions were planned against.
    generation: u64,
    /// What the statement answers once the swap is done.
    pub(crate) response: ExecuteResponse,
    /// Set for `APPLY ... WITH (HOLD = true)`: once built, the new versions wait for
    /// `APPLY COMMIT` (or `APPLY ABORT`) from this session, and the answer shows how
    /// each replaced materialized view's rows differ.
    pub(crate) hold: Option<u64>,
}

/// Swaps built and waiting for `APPLY COMMIT | ABORT`, by token: the session that
/// holds each, and the swap.
#[derive(Default)]
pub(crate) struct HeldSwaps {
    next: u64,
    held: std::collections::BTreeMap<u64, (u64, PendingReplace)>,
}

/// `(schema, name)`.
type QualifiedName = (String, String);

/// A view or sink to build: new, or a new definition of an existing one.
pub(crate) struct Root {
    /// The item it replaces, if any.
    pub(crate) old: Option<GlobalId>,
    /// Where it is defined (`file:line`), for messages; empty over pgwire.
    pub(crate) location: String,
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) stmt: eddy_sql::Statement,
    /// `(schema, name)` of the relations it reads (those built with it order it).
    pub(crate) reads: BTreeSet<(String, String)>,
}

impl Coordinator {
    /// Starts replacing the existing view that `plan` (a `CREATE OR REPLACE ... VIEW`)
    /// names: plans and builds the new versions, and lets a task wait until they have
    /// caught up ([`Command::ReplaceReady`] finishes it).
    pub(crate) fn begin_replace_view(
        &mut self,
        plan: Plan,
        stmt: eddy_sql::Statement,
        finish: Finish,
    ) {
        let Plan::CreateView {
            schema,
            name,
            materialized,
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
        let Some(old) = self.catalog.get_by_name(&schema, &name).cloned() else {
            return finish.send(Err(SqlError::internal(format!(
                "\"{name}\" is not in the catalog"
            ))));
        };
        if old.kind != view_kind(materialized) {
            return finish.send(Err(SqlError::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("\"{name}\" is not a {}", view_kind(materialized).noun()),
            )));
        }
        if normalized_sql(&old.create_sql) == normalized_sql(&create_sql) {
            return finish.send(tag(done));
        }
        let reads = names_of(&self.catalog, &depends_on);
        let root = Root {
            old: Some(old.id),
            location: String::new(),
            schema,
            name,
            stmt,
            reads,
        };
        let response = ExecuteResponse::Command { tag: done.into() };
        let base = self.catalog.clone();
        match self.build_versions(&base, vec![root], &[], true, response) {
            Ok(pending) => self.wait_then_swap(pending, finish),
            Err(e) => finish.send(Err(e)),
        }
    }

    /// `REPLAY MATERIALIZED VIEW`: a new version of view `id` with the same
    /// definition, rebuilt from its inputs beside the running one (with its readers),
    /// swapped in once caught up. With `hold` (the session), the rebuilt version waits
    /// for that session's `APPLY COMMIT | ABORT`.
    ///
    /// With `from`, the rebuilt view starts there in its streams: its kept text gets
    /// that `start` (a restart gives the same view). A Kafka stream that Eddy began
    /// reading at a later time (its `START`) does not hold what the view would need:
    /// that is an error, not a view missing rows without saying so.
    pub(crate) fn begin_replay(
        &mut self,
        id: GlobalId,
        from: Option<StartAt>,
        hold: Option<u64>,
        finish: Finish,
    ) {
        let Some(old) = self.catalog.get(id).cloned() else {
            return finish.send(Err(SqlError::internal("the view is gone")));
        };
        let mut stmt = match parse_one(&old.create_sql) {
            Ok(stmt) => stmt,
            Err(e) => return finish.send(Err(e)),
        };
        if let Some(from) = from {
            if let Err(e) = self.check_streams_hold(&old, from) {
                return finish.send(Err(e));
            }
            stmt = with_start(stmt, from);
        }
        let reads = names_of(&self.catalog, &old.depends_on);
        let root = Root {
            old: Some(id),
            location: String::new(),
            schema: old.schema.clone(),
            name: old.name.clone(),
            stmt,
            reads,
        };
        let base = self.catalog.clone();
        let response = match hold {
            // As `APPLY ... HOLD` answers: the step, then the diff and the held swap.
            Some(_) => ExecuteResponse::Rows {
                desc: eddy_sql::apply_desc(),
                rows: vec![Row::pack(&[
                    Datum::String("~".into()),
                    Datum::String("materialized view".into()),
                    Datum::String(old.qualified_name()),
                    Datum::String(
                        "replay: rebuilt from its inputs beside the serving version".into(),
                    ),
                    Datum::String(String::new()),
                ])],
            },
            None => ExecuteResponse::Command {
                tag: "REPLAY MATERIALIZED VIEW".into(),
            },
        };
        match self.build_versions(&base, vec![root], &[], true, response) {
            Ok(mut pending) => {
                pending.hold = hold;
                self.wait_then_swap(pending, finish)
            }
            Err(e) if from.is_some() && e.message.starts_with("a view's start needs") => {
                finish.send(Err(e.with_hint(
                    "FROM picks a stream's events by event time; tables are state and are read whole. REPLAY without FROM rebuilds the view from its tables' rows.",
                )))
            }
            Err(e) => finish.send(Err(e)),
        }
    }

    /// Whether every stream that `view` reads (directly or through views) still holds
    /// its events from `from` on: a Kafka stream created with a later `START`
    /// timestamp began reading its topic there, and a stream with a `RETENTION` has
    /// let go of the events further behind its watermark. (From `'earliest'` is what
    /// each holds.)
    fn check_streams_hold(&self, view: &CatalogEntry, from: StartAt) -> Result<(), SqlError> {
        let StartAt::At(from_us) = from else {
            return Ok(());
        };
        let format = |us: i64| {
            eddy_repr::strconv::format_timestamptz(
                &chrono::DateTime::from_timestamp_micros(us).unwrap_or_default(),
            )
        };
        let not_held = |entry: &CatalogEntry, why: String, hint: &str| {
            SqlError::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "stream \"{}\" {why}, not from {} where the replay would begin",
                    entry.qualified_name(),
                    format(from_us)
                ),
            )
            .with_hint(hint.to_string())
        };
        let mut pending: Vec<GlobalId> = view.depends_on.iter().copied().collect();
        let mut seen = BTreeSet::new();
        while let Some(id) = pending.pop() {
            let Some(entry) = self.catalog.get(id).filter(|_| seen.insert(id)) else {
                continue;
            };
            pending.extend(entry.depends_on.iter().copied());
            if !entry.source.as_ref().is_some_and(|s| s.stream) {
                continue;
            }
            if let Ok(spec) = source_spec(entry, self.kafka_brokers.as_deref()) {
                if let StartOffset::Timestamp { epoch_ms } = spec.start {
                    if epoch_ms.saturating_mul(1000) > from_us {
                        return Err(not_held(
                            entry,
                            format!("holds its topic's events from {} on (its START)", format(epoch_ms * 1000)),
                            "Replay from that time or later, or create a stream over the topic with an earlier START (it reads the topic from the offsets for that time) and read it in the view.",
                        ));
                    }
                }
            }
            if let (Some(retention), Some(&watermark)) =
                (stream_retention(entry), self.sources.watermarks.get(&id))
            {
                let kept_from = watermark.saturating_sub(retention.retention_us);
                if kept_from > from_us {
                    return Err(not_held(
                        entry,
                        format!("keeps the events of its RETENTION only: those from {} on", format(kept_from)),
                        "Replay from that time or later (or FROM 'earliest': what the stream holds).",
                    ));
                }
            }
        }
        Ok(())
    }

    /// `ALTER [MATERIALIZED] VIEW ... RENAME TO`: a new version of view `id` under the
    /// new name, and new versions of its readers with the name changed in their text,
    /// built and swapped in one step like a replace.
    pub(crate) fn begin_rename(&mut self, id: GlobalId, new_name: String, finish: Finish) {
        match self.plan_rename(id, new_name) {
            Ok(pending) => self.wait_then_swap(pending, finish),
            Err(e) => finish.send(Err(e)),
        }
    }

    fn plan_rename(&mut self, id: GlobalId, new_name: String) -> Result<PendingReplace, SqlError> {
        let old = self
            .catalog
            .get(id)
            .cloned()
            .ok_or_else(|| SqlError::internal("the view is gone"))?;
        if self.catalog.get_by_name(&old.schema, &new_name).is_some() {
            return Err(SqlError::new(
                SqlState::DUPLICATE_TABLE,
                format!("relation \"{new_name}\" already exists"),
            ));
        }
        let from = (old.schema.clone(), old.name.clone());
        let to = (old.schema.clone(), new_name.clone());
        // The view itself, under its new name.
        let mut stmt = parse_one(&old.create_sql)?;
        if let eddy_sql::Statement::Sql(eddy_sql::ast::Statement::CreateView { name, .. }) =
            &mut stmt
        {
            *name = renamed(name, &new_name);
        }
        let reads_of = |entry: &CatalogEntry| -> BTreeSet<QualifiedName> {
            names_of(&self.catalog, &entry.depends_on)
                .into_iter()
                .map(|key| if key == from { to.clone() } else { key })
                .collect()
        };
        let mut roots = vec![Root {
            old: Some(id),
            location: String::new(),
            schema: old.schema.clone(),
            name: new_name.clone(),
            stmt,
            reads: reads_of(&old),
        }];
        // Its readers, with the name changed where they read it.
        let mut readers = self.catalog.drop_order(&[id], true)?;
        readers.retain(|r| *r != id);
        for reader in readers {
            let entry = self
                .catalog
                .get(reader)
                .cloned()
                .expect("in the drop order");
            let mut stmt = parse_one(&entry.create_sql)?;
            rename_reads(&mut stmt, &from, &new_name);
            roots.push(Root {
                old: Some(reader),
                location: String::new(),
                schema: entry.schema.clone(),
                name: entry.name.clone(),
                stmt,
                reads: reads_of(&entry),
            });
        }
        let tag = match old.kind {
            ItemKind::MaterializedView => "ALTER MATERIALIZED VIEW",
            _ => "ALTER VIEW",
        };
        let base = self.catalog.clone();
        self.build_versions(
            &base,
            roots,
            &[],
            true,
            ExecuteResponse::Command { tag: tag.into() },
        )
    }

    /// Plans new versions: every root (new, or replacing its `old`), and a new version
    /// of every view and sink that reads a replaced one, re-planned on the new
    /// versions; in dependency order, against a catalog where the names already lead
    /// to the new versions. With `build`, the new materialized views' dataflows start.
    ///
    /// `base` is the catalog they are planned against (the real one, or for a dry run
    /// one with the new tables in it already); `dropped` are items that go in the same
    /// swap without a new version (nothing else may read them).
    pub(crate) fn build_versions(
        &mut self,
        base: &Catalog,
        roots: Vec<Root>,
        dropped: &[GlobalId],
        build: bool,
        response: ExecuteResponse,
    ) -> Result<PendingReplace, SqlError> {
        let olds: Vec<GlobalId> = roots.iter().filter_map(|r| r.old).collect();
        // The replaced items and everything that reads them, dependencies first; then
        // what is dropped.
        let mut replaced: Vec<GlobalId> = base.drop_order(&olds, true)?;
        replaced.reverse();
        let rebuilt_dependents: BTreeSet<GlobalId> = replaced
            .iter()
            .copied()
            .filter(|id| !olds.contains(id) && !dropped.contains(id))
            .collect();
        for id in dropped {
            if !replaced.contains(id) {
                replaced.push(*id);
            }
        }
        let replaced_set: BTreeSet<GlobalId> = replaced.iter().copied().collect();
        enum Source {
            New(Box<Root>),
            Old(Box<CatalogEntry>),
        }
        // (name, names it reads, what to plan)
        type Item = (QualifiedName, BTreeSet<QualifiedName>, Source);
        let mut items: Vec<Item> = Vec::new();
        for root in roots {
            let key = (root.schema.clone(), root.name.clone());
            items.push((key, root.reads.clone(), Source::New(Box::new(root))));
        }
        for id in &replaced {
            if !rebuilt_dependents.contains(id) {
                continue;
            }
            let entry = base.get(*id).cloned().expect("in the drop order");
            let reads = names_of(base, &entry.depends_on);
            items.push((
                (entry.schema.clone(), entry.name.clone()),
                reads,
                Source::Old(Box::new(entry)),
            ));
        }
        // Dependency order among what is built (a root cannot read its own readers).
        let names: BTreeSet<(String, String)> = items.iter().map(|(k, _, _)| k.clone()).collect();
        let mut ordered = Vec::with_capacity(items.len());
        let mut done: BTreeSet<(String, String)> = BTreeSet::new();
        while !items.is_empty() {
            let ready = items.iter().position(|(_, reads, _)| {
                reads.iter().all(|r| !names.contains(r) || done.contains(r))
            });
            let Some(i) = ready else {
                let (key, _, _) = &items[0];
                return Err(SqlError::new(
                    SqlState::INVALID_OBJECT_DEFINITION,
                    format!(
                        "\"{}\" would read a view that reads it (a cycle among {})",
                        key.1,
                        items
                            .iter()
                            .map(|(k, _, _)| k.1.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            let item = items.remove(i);
            done.insert(item.0.clone());
            ordered.push(item);
        }
        let mut scratch: Catalog = base.clone();
        for id in replaced.iter().rev() {
            scratch.remove(*id);
        }
        let mut new = Vec::with_capacity(ordered.len());
        for (_, _, source) in ordered {
            let entry = match source {
                Source::New(root) => {
                    // A sink keeps its id (see below).
                    let id = match root
                        .old
                        .filter(|o| base.get(*o).is_some_and(|e| e.kind == ItemKind::Sink))
                    {
                        Some(old) => old,
                        None => self.catalog.allocate_id(),
                    };
                    self.plan_entry(&scratch, &root.stmt, id).map_err(|e| {
                        let message = match root.location.as_str() {
                            "" => e.message.clone(),
                            location => format!("{location}: {}", e.message),
                        };
                        SqlError { message, ..e }
                    })?
                }
                Source::Old(dependent) => {
                    // A sink keeps its id (so its Kafka transactional id, which fences
                    // the old producer): the old version is gone before the new starts.
                    let id = match dependent.kind {
                        ItemKind::Sink => dependent.id,
                        _ => self.catalog.allocate_id(),
                    };
                    let stmt = parse_one(&dependent.create_sql)?;
                    self.plan_entry(&scratch, &stmt, id).map_err(|e| {
                        SqlError::new(
                            SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                            format!(
                                "{} {} reads what is replaced, and does not plan on the new definition: {}",
                                dependent.kind.noun(),
                                dependent.qualified_name(),
                                e.message
                            ),
                        )
                    })?
                }
            };
            scratch.insert(entry.clone());
            new.push(entry);
        }
        if let Some(cycle) = new
            .iter()
            .find(|e| e.depends_on.iter().any(|d| replaced_set.contains(d)))
        {
            return Err(SqlError::new(
                SqlState::INVALID_OBJECT_DEFINITION,
                format!(
                    "the new definition of \"{}\" reads a view that reads it",
                    cycle.name
                ),
            ));
        }
        if build {
            let as_of = self.oracle.read_ts();
            for entry in &new {
                // (An index of a replaced materialized view is rebuilt on the new one.)
                if matches!(entry.kind, ItemKind::MaterializedView | ItemKind::Index) {
                    self.compute.create_dataflow(DataflowDesc {
                        name: format!("{} (new version)", entry.name),
                        ..entry.dataflow(as_of)
                    });
                }
            }
        }
        Ok(PendingReplace {
            old: replaced,
            new,
            generation: self.catalog_generation,
            response,
            hold: None,
        })
    }

    /// The catalog entry of a `CREATE [MATERIALIZED] VIEW` or `CREATE SINK`
    /// statement planned against `catalog`, as `id`.
    pub(crate) fn plan_entry(
        &self,
        catalog: &Catalog,
        stmt: &eddy_sql::Statement,
        id: GlobalId,
    ) -> Result<CatalogEntry, SqlError> {
        let ctx = self.plan_context(None, vec![]);
        self.entry_of(eddy_sql::plan(catalog, &ctx, stmt)?, id)
    }

    /// The catalog entry, as `id`, of a planned `CREATE [MATERIALIZED] VIEW` or
    /// `CREATE SINK` (its plan optimized).
    pub(crate) fn entry_of(&self, plan: Plan, id: GlobalId) -> Result<CatalogEntry, SqlError> {
        match plan {
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
            Plan::CreateIndex {
                schema,
                name,
                on,
                key,
                expr,
                desc,
                create_sql,
                ..
            } => Ok(CatalogEntry {
                index_key: key,
                ..CatalogEntry::view(
                    id,
                    name,
                    ItemKind::Index,
                    desc,
                    create_sql,
                    expr,
                    BTreeSet::from([on]),
                )
                .in_schema(schema)
            }),
            _ => Err(SqlError::internal(
                "a plan that is not CREATE VIEW, CREATE SINK nor CREATE INDEX",
            )),
        }
    }

    /// Waits (on a task) until every new materialized view answers a read at the time
    /// it was built from, then hands the swap back to the coordinator.
    pub(crate) fn wait_then_swap(&mut self, pending: PendingReplace, finish: Finish) {
        let building = pending
            .new
            .iter()
            .filter(|e| e.kind == ItemKind::MaterializedView)
            .count() as u64;
        self.metrics
            .versions_building
            .fetch_add(building, std::sync::atomic::Ordering::Relaxed);
        for new in pending
            .new
            .iter()
            .filter(|e| e.kind == ItemKind::MaterializedView)
        {
            let old = self.replaced_by(&pending, new).map(|old| old.id);
            self.building.insert(
                new.id,
                super::status::Building {
                    schema: new.schema.clone(),
                    name: new.name.clone(),
                    kind: new.kind,
                    old,
                    started: std::time::Instant::now(),
                },
            );
        }
        let time = self.oracle.read_ts();
        let reads: Vec<_> = pending
            .new
            .iter()
            .filter(|e| e.kind == ItemKind::MaterializedView)
            .map(|e| (e.qualified_name(), e.id, self.compute.peek(e.id, time)))
            .collect();
        // For a held swap: each replaced materialized view read at the same time.
        let mut compared = Vec::new();
        if pending.hold.is_some() {
            for new in pending
                .new
                .iter()
                .filter(|e| e.kind == ItemKind::MaterializedView)
            {
                let old = self
                    .replaced_by(&pending, new)
                    .filter(|old| old.kind == ItemKind::MaterializedView);
                if let Some(old) = old {
                    let types: Vec<_> = new.desc.types.iter().map(|t| t.scalar_type).collect();
                    compared.push((new.id, types, self.compute.peek(old.id, time)));
                }
            }
        }
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let mut result = Ok(());
            let mut contents = std::collections::BTreeMap::new();
            for (name, id, read) in reads {
                match read.await {
                    Ok(Ok(rows)) => {
                        contents.insert(id, (name, rows));
                    }
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
            let mut diffs = Vec::new();
            if result.is_ok() {
                for (new_id, types, old_read) in compared {
                    let (Some((name, new_rows)), Ok(Ok(old_rows))) =
                        (contents.get(&new_id), old_read.await)
                    else {
                        continue;
                    };
                    diffs.push(diff_row(name, &types, &old_rows, new_rows));
                }
            }
            let _ = tx
                .send(Command::ReplaceReady {
                    pending: Box::new(pending),
                    result: result.map(|()| diffs),
                    finish,
                })
                .await;
        });
    }

    /// `APPLY COMMIT | ABORT token` from `session`: swaps to the held versions, or
    /// drops them.
    pub(crate) fn decide_held(
        &mut self,
        session: u64,
        token: u64,
        commit: bool,
    ) -> Result<ExecuteResponse, SqlError> {
        let pending = match self.held_swaps.held.remove(&token) {
            Some((holder, pending)) if holder == session => pending,
            Some(other) => {
                self.held_swaps.held.insert(token, other);
                return Err(SqlError::new(
                    SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!("swap {token} is held by another session"),
                ));
            }
            None => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_OBJECT,
                    format!("no swap {token} is waiting (it was decided, or its session ended)"),
                ))
            }
        };
        self.count_held_swaps();
        if commit {
            self.finish_swap(pending)?;
            return super::tag("APPLY COMMIT");
        }
        self.drop_new_versions(&pending);
        super::tag("APPLY ABORT")
    }

    /// Drops the swaps session `session` held (it ended).
    pub(crate) fn drop_held_swaps(&mut self, session: u64) {
        let tokens: Vec<u64> = self
            .held_swaps
            .held
            .iter()
            .filter(|(_, (holder, _))| *holder == session)
            .map(|(token, _)| *token)
            .collect();
        for token in tokens {
            if let Some((_, pending)) = self.held_swaps.held.remove(&token) {
                self.drop_new_versions(&pending);
            }
        }
        self.count_held_swaps();
    }

    /// The item of `pending`'s old versions that `new` replaces (the one of its name).
    fn replaced_by(&self, pending: &PendingReplace, new: &CatalogEntry) -> Option<&CatalogEntry> {
        pending
            .old
            .iter()
            .filter_map(|id| self.catalog.get(*id))
            .find(|old| (&old.schema, &old.name) == (&new.schema, &new.name))
    }

    /// The token of a held swap that replaces `schema.name`, if any.
    pub(crate) fn held_swap_of(&self, schema: &str, name: &str) -> Option<u64> {
        self.held_swaps
            .held
            .iter()
            .find_map(|(token, (_, pending))| {
                pending
                    .new
                    .iter()
                    .any(|e| (e.schema.as_str(), e.name.as_str()) == (schema, name))
                    .then_some(*token)
            })
    }

    /// Publishes how many swaps are held.
    fn count_held_swaps(&self) {
        self.metrics.swaps_held.store(
            self.held_swaps.held.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn drop_new_versions(&mut self, pending: &PendingReplace) {
        for entry in &pending.new {
            if matches!(entry.kind, ItemKind::MaterializedView | ItemKind::Index) {
                self.compute.drop_collection(entry.id);
            }
        }
    }

    /// The new versions are ready (or failed): swap the names to them in one step, or
    /// drop them.
    pub(crate) fn finish_replace(
        &mut self,
        mut pending: PendingReplace,
        result: Result<Vec<Row>, SqlError>,
    ) -> Result<ExecuteResponse, SqlError> {
        let built = pending
            .new
            .iter()
            .filter(|e| e.kind == ItemKind::MaterializedView)
            .count() as u64;
        let _ = self.metrics.versions_building.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |n| Some(n.saturating_sub(built)),
        );
        for entry in &pending.new {
            self.building.remove(&entry.id);
        }
        let diffs = match result {
            Ok(diffs) => diffs,
            Err(e) => {
                self.drop_new_versions(&pending);
                return Err(e);
            }
        };
        if let Some(session) = pending.hold.take() {
            // Built: wait for the session's decision, and show what would change.
            let token = self.held_swaps.next;
            self.held_swaps.next += 1;
            let mut response =
                std::mem::replace(&mut pending.response, ExecuteResponse::EmptyQuery);
            if let ExecuteResponse::Rows { rows, .. } = &mut response {
                rows.extend(diffs);
                rows.push(Row::pack(&[
                    Datum::String("?".into()),
                    Datum::String("swap".into()),
                    Datum::String(token.to_string()),
                    Datum::String(format!(
                        "built; APPLY COMMIT {token} swaps to it, APPLY ABORT {token} drops it"
                    )),
                    Datum::String(String::new()),
                ]));
            }
            self.held_swaps.held.insert(token, (session, pending));
            self.count_held_swaps();
            return Ok(response);
        }
        self.finish_swap(pending)
    }

    /// Swaps the names to the new versions in one log append (or drops them, if the
    /// catalog changed since they were planned).
    fn finish_swap(&mut self, pending: PendingReplace) -> Result<ExecuteResponse, SqlError> {
        if pending.generation != self.catalog_generation {
            self.drop_new_versions(&pending);
            return Err(SqlError::new(
                SqlState::T_R_SERIALIZATION_FAILURE,
                "the catalog changed while the new version was built; nothing was replaced",
            )
            .with_hint("Run the statement again."));
        }
        let mut records = vec![LogRecord::Drop {
            ids: pending.old.iter().rev().copied().collect(),
        }];
        for entry in &pending.new {
            records.extend(LogRecord::create(entry));
        }
        if let Err(e) = self.storage.append(&records) {
            self.drop_new_versions(&pending);
            return Err(e);
        }
        self.end_subscribes_replaced(&pending.old);
        for id in pending.old.iter().rev() {
            self.forget_item(*id);
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
        Ok(pending.response)
    }
}

/// `stmt` (a view's kept text) starting at `from` in its streams: its `start` (and
/// the `started_at` of an earlier `'latest'`) replaced.
fn with_start(stmt: eddy_sql::Statement, from: StartAt) -> eddy_sql::Statement {
    let eddy_sql::Statement::Sql(mut sql) = stmt else {
        return stmt;
    };
    eddy_sql::view_options::without_derived_options(&mut sql);
    sql = eddy_sql::view_options::without_option(&sql, eddy_sql::view_options::START_OPTION);
    let value = match from {
        StartAt::Earliest => return eddy_sql::Statement::Sql(sql),
        StartAt::Latest => "latest".to_string(),
        StartAt::At(us) => eddy_repr::strconv::format_timestamptz(
            &chrono::DateTime::from_timestamp_micros(us).unwrap_or_default(),
        ),
    };
    eddy_sql::Statement::Sql(eddy_sql::view_options::with_option(
        &sql,
        eddy_sql::view_options::START_OPTION,
        &value,
    ))
}

/// `(schema, name)` of each of `ids` still in `catalog`.
fn names_of(catalog: &Catalog, ids: &BTreeSet<GlobalId>) -> BTreeSet<QualifiedName> {
    ids.iter()
        .filter_map(|id| catalog.get(*id))
        .map(|e| (e.schema.clone(), e.name.clone()))
        .collect()
}

/// The one statement of a stored definition (`create_sql`).
pub(crate) fn parse_one(sql: &str) -> Result<eddy_sql::Statement, SqlError> {
    eddy_sql::parse(sql)?
        .into_iter()
        .next()
        .ok_or_else(|| SqlError::internal("an empty definition"))
}

/// A `CREATE` statement's text as compared to tell whether a definition changed:
/// parsed and printed again (so whitespace, comments and keyword case do not count),
/// without `OR REPLACE` and `IF NOT EXISTS`.
pub(crate) fn normalized_sql(sql: &str) -> String {
    let Ok(stmts) = eddy_sql::parse(sql) else {
        return sql.to_string();
    };
    stmts
        .into_iter()
        .map(|stmt| normalized(stmt).to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// `stmt` without `OR REPLACE`, `IF NOT EXISTS` and the view options Eddy adds.
pub(crate) fn normalized(mut stmt: eddy_sql::Statement) -> eddy_sql::Statement {
    use eddy_sql::ast::Statement as Ast;
    match &mut stmt {
        eddy_sql::Statement::Sql(view @ Ast::CreateView { .. }) => {
            if let Ast::CreateView {
                or_replace,
                if_not_exists,
                ..
            } = view
            {
                *or_replace = false;
                *if_not_exists = false;
            }
            eddy_sql::view_options::without_derived_options(view);
        }
        eddy_sql::Statement::Sql(Ast::CreateTable(create))
        | eddy_sql::Statement::CreateStream(create) => create.if_not_exists = false,
        eddy_sql::Statement::CreateSink(create) => create.if_not_exists = false,
        _ => {}
    }
    stmt
}

/// How a replaced materialized view's rows differ between its old version and its new
/// one at the same time: a plan row `Δ` with the counts and a sample of each.
fn diff_row(
    name: &str,
    types: &[eddy_repr::ScalarType],
    old: &[(Row, eddy_repr::Diff)],
    new: &[(Row, eddy_repr::Diff)],
) -> Row {
    let mut counts: std::collections::BTreeMap<&Row, eddy_repr::Diff> = Default::default();
    for (row, diff) in new {
        *counts.entry(row).or_default() += diff;
    }
    for (row, diff) in old {
        *counts.entry(row).or_default() -= diff;
    }
    let show = |row: &Row| {
        let datums: Vec<String> = row
            .unpack()
            .iter()
            .zip(types)
            .map(|(d, t)| match d {
                Datum::Null => "NULL".to_string(),
                d => eddy_repr::strconv::format_datum(d, t),
            })
            .collect();
        format!("({})", datums.join(", "))
    };
    let (mut added, mut removed) = (0, 0);
    let (mut sample_added, mut sample_removed) = (Vec::new(), Vec::new());
    for (row, diff) in counts {
        if diff > 0 {
            added += diff;
            if sample_added.len() < 3 {
                sample_added.push(format!("+ {}", show(row)));
            }
        } else if diff < 0 {
            removed -= diff;
            if sample_removed.len() < 3 {
                sample_removed.push(format!("- {}", show(row)));
            }
        }
    }
    let mut detail = format!("diff +{added} rows -{removed} rows against the version serving now");
    let sample: Vec<String> = sample_added.into_iter().chain(sample_removed).collect();
    if !sample.is_empty() {
        detail.push_str(&format!("; e.g. {}", sample.join(", ")));
    }
    Row::pack(&[
        Datum::String("Δ".into()),
        Datum::String("materialized view".into()),
        Datum::String(name.to_string()),
        Datum::String(detail),
        Datum::String(String::new()),
    ])
}

/// `name` with its last part replaced by `new_name`.
fn renamed(name: &eddy_sql::ast::ObjectName, new_name: &str) -> eddy_sql::ast::ObjectName {
    let mut name = name.clone();
    if let Some(eddy_sql::ast::ObjectNamePart::Identifier(last)) = name.0.last_mut() {
        *last = eddy_sql::ast::Ident::with_quote('"', new_name);
    }
    name
}

/// Renames every read of relation `from` (`(schema, name)`) in `stmt` to `new_name`.
pub(super) fn rename_reads(stmt: &mut eddy_sql::Statement, from: &QualifiedName, new_name: &str) {
    let matches = |name: &eddy_sql::ast::ObjectName| {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| match p {
                eddy_sql::ast::ObjectNamePart::Identifier(ident) => {
                    Some(if ident.quote_style.is_some() {
                        ident.value.clone()
                    } else {
                        ident.value.to_lowercase()
                    })
                }
                _ => None,
            })
            .collect();
        match parts.as_slice() {
            [item] => from.0 == eddy_sql::PUBLIC_SCHEMA && *item == from.1,
            [.., schema, item] => *schema == from.0 && *item == from.1,
            [] => false,
        }
    };
    match stmt {
        eddy_sql::Statement::Sql(sql) => {
            let own_name = match sql {
                eddy_sql::ast::Statement::CreateView { name, .. } => Some(name.clone()),
                _ => None,
            };
            let _ = eddy_sql::ast::visit_relations_mut(sql, |name| {
                if Some(&*name) != own_name.as_ref() && matches(name) {
                    *name = renamed(name, new_name);
                }
                std::ops::ControlFlow::<()>::Continue(())
            });
        }
        eddy_sql::Statement::CreateSink(create) if matches(&create.from) => {
            create.from = renamed(&create.from, new_name);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::normalized_sql;

    #[test]
    fn a_latest_views_kept_start_time_is_not_a_change() {
        let kept = "CREATE MATERIALIZED VIEW v WITH (start = 'latest', \
                    started_at = '2026-12-06 12:00:00+00') AS SELECT 1";
        let file = "create materialized view v with (start = 'latest') as select 1";
        assert_eq!(normalized_sql(kept), normalized_sql(file));
        let only = "CREATE MATERIALIZED VIEW v WITH (started_at = '2026-12-06') AS SELECT 1";
        assert_eq!(
            normalized_sql(only),
            normalized_sql("CREATE MATERIALIZED VIEW v AS SELECT 1")
        );
    }
}
