//! `APPLY FILES`: a views directory as the desired state of the catalog, reached by a
//! plan (what `eddy apply` and `eddy serve --views` send).
//!
//! The plan, one row per statement (`action`, `kind`, `name`, `detail`, `location`):
//! - `+ create`: not in the catalog yet;
//! - `~ replace`: a view or sink whose definition changed (compared as parsed and
//!   printed again: whitespace, comments and keyword case do not count), built as a new
//!   version beside the old one (blue/green, see `replace.rs`); `~ rebuild`: a view
//!   or sink that reads a replaced one, rebuilt on the new version in the same swap;
//! - `= unchanged`;
//! - `+ seed`: an `INSERT` not applied before (seed data runs once per file and
//!   statement text, like a migration; `= seed` once applied);
//! - `- drop`: with `PRUNE`, what the files no longer define.
//!
//! Order comes from what each statement reads, not from file names; a cycle or a read
//! of something that exists nowhere is an error naming the file and line.
//!
//! Invariants:
//! - The whole plan is checked before any step runs: every statement is planned against
//!   a copy of the catalog that the earlier steps have changed; an error names its file
//!   and line and nothing is applied. (A step that reaches outside, like a Kafka topic,
//!   can still fail when it runs.)
//! - Tables, streams and seed data are applied first; then every new and replaced
//!   view and sink is built at once beside what serves now, and all of them take their
//!   names in one swap with the drops (one log append).

use std::collections::{BTreeMap, BTreeSet};

use eddy_repr::{Datum, GlobalId, Row, SqlError, SqlState};
use eddy_sql::{file_error, parse_files, Apply, FileItemKind, FileStatement, ItemKind, Plan};

use super::replace::{normalized, normalized_sql, PendingReplace, Root};
use crate::catalog::{Catalog, CatalogEntry};
use crate::command::ExecuteResponse;
use crate::coord::{Coordinator, Finish};
use crate::durable::LogRecord;
use crate::pg_sources::{check_new_pg_source, discover_pg_tables, pg_table_entries};
use crate::sequence::ApplyFailure;
use crate::sources::source_spec;
use eddy_connect::postgres::PgTable;

/// What a statement of the files does.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    Create,
    Replace(GlobalId),
    Unchanged,
    /// Seed data not applied before, and the key it is recorded under.
    Seed(String),
    SeedDone,
}

/// A row of the plan.
fn plan_row(action: &str, kind: &str, name: &str, detail: &str, location: &str) -> Row {
    Row::pack(&[
        Datum::String(action.into()),
        Datum::String(kind.into()),
        Datum::String(name.into()),
        Datum::String(detail.into()),
        Datum::String(location.into()),
    ])
}

/// `schema.name`, bare in `public`.
fn display_name(schema: &str, name: &str) -> String {
    if schema.is_empty() || schema == eddy_sql::PUBLIC_SCHEMA {
        name.to_string()
    } else {
        format!("{schema}.{name}")
    }
}

/// FNV-1a of `text`: a stable key for seed data.
fn stable_hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

impl Coordinator {
    /// Runs `APPLY FILES`: answers the plan (a dry run), or applies it and answers the
    /// plan once the swap is done.
    /// A failed apply (not a dry run) is kept for `SHOW VIEWS` until one succeeds.
    pub(crate) async fn apply(&mut self, session_id: u64, apply: Apply, finish: Finish) {
        let failure = (!apply.dry_run).then(|| apply.files.clone());
        match self.run_apply(session_id, apply).await {
            Ok(Ok(response)) => {
                if failure.is_some() {
                    self.apply_failure = None;
                }
                finish.send(Ok(response))
            }
            Ok(Err(pending)) => {
                self.apply_failure = None;
                self.wait_then_swap(pending, finish)
            }
            Err(e) => {
                if let Some(files) = failure {
                    self.apply_failure = Some(ApplyFailure::new(&files, e.message.clone()));
                }
                finish.send(Err(e))
            }
        }
    }

    /// The plan's response, or the swap that finishes it.
    async fn run_apply(
        &mut self,
        session_id: u64,
        apply: Apply,
    ) -> Result<Result<ExecuteResponse, PendingReplace>, SqlError> {
        let statements = order(parse_files(&apply.files)?)?;
        let mut steps = Vec::with_capacity(statements.len());
        for fs in statements {
            let action = self.action_of(&fs)?;
            steps.push((fs, action));
        }
        let pruned = if apply.prune {
            self.pruned(&steps)
        } else {
            vec![]
        };
        // Check everything against a copy of the catalog (taking no sequence values).
        let mut base = self.catalog.clone();
        let mut ctx = self.plan_context(self.sessions.get(&session_id), vec![]);
        ctx.sequences = Some(self.sequences.dry());
        // The tables each new Postgres source found upstream, by its location.
        let mut discovered: BTreeMap<String, Vec<PgTable>> = BTreeMap::new();
        for (fs, action) in &steps {
            let located = |e: SqlError| file_error(&fs.file, fs.line, e);
            match (fs.kind, action) {
                (FileItemKind::Schema, Action::Create) => {
                    base.insert_schema(self.catalog.allocate_id(), fs.name.clone())
                }
                (FileItemKind::Table, Action::Create) => {
                    let id = self.catalog.allocate_id();
                    let entry = self
                        .table_entry(&base, &ctx, &fs.stmt, id)
                        .map_err(located)?;
                    base.insert(entry);
                }
                (FileItemKind::Seed, Action::Seed(_)) => {
                    eddy_sql::plan(&base, &ctx, &fs.stmt).map_err(located)?;
                }
                (FileItemKind::Source, Action::Create) => {
                    // Its tables are what is upstream now: found before anything runs,
                    // so that the views over them are checked too.
                    let plan = eddy_sql::plan(&base, &ctx, &fs.stmt).map_err(located)?;
                    let tables = discover_pg_tables(&plan).await.map_err(located)?;
                    check_new_pg_source(&base, &fs.name, &tables).map_err(located)?;
                    let Plan::CreatePgSource {
                        options,
                        create_sql,
                        ..
                    } = plan
                    else {
                        return Err(located(SqlError::internal("not a CREATE SOURCE")));
                    };
                    let entry =
                        self.new_pg_source_entry(&fs.name, options, create_sql, tables.clone());
                    if !eddy_sql::Catalog::schema_exists(&base, &fs.name) {
                        base.insert_schema(self.catalog.allocate_id(), fs.name.clone());
                    }
                    for table in pg_table_entries(&entry) {
                        base.insert(table);
                    }
                    base.insert(entry);
                    discovered.insert(fs.location(), tables);
                }
                _ => {}
            }
        }
        let roots = || roots_of(&steps);
        let checked =
            self.build_versions(&base, roots(), &pruned, false, ExecuteResponse::EmptyQuery)?;
        // What is pruned must not be read by what stays.
        let staying: BTreeSet<GlobalId> = base
            .entries()
            .map(|e| e.id)
            .filter(|id| !checked.old.contains(id))
            .collect();
        for id in &pruned {
            if let Some(reader) = base
                .dependents(*id)
                .into_iter()
                .find(|d| staying.contains(d))
            {
                let (dropped, reader) = (
                    &base.get(*id).expect("listed").name,
                    base.get(reader).expect("listed"),
                );
                return Err(SqlError::new(
                    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!(
                        "cannot drop \"{dropped}\" (not in the files): {} {} reads it",
                        reader.kind.noun(),
                        reader.qualified_name()
                    ),
                ));
            }
        }
        let rows = self.plan_rows(&steps, &checked, &pruned);
        let response = ExecuteResponse::Rows {
            desc: eddy_sql::apply_desc(),
            rows,
        };
        if apply.dry_run {
            return Ok(Ok(response));
        }
        // Run it: schemas, tables and streams, seed data; then build the views.
        for (fs, action) in &steps {
            let located = |e: SqlError| file_error(&fs.file, fs.line, e);
            match (fs.kind, action) {
                (FileItemKind::Schema | FileItemKind::Table, Action::Create) => {
                    let ctx = self.plan_context(self.sessions.get(&session_id), vec![]);
                    let plan = eddy_sql::plan(&self.catalog, &ctx, &fs.stmt).map_err(located)?;
                    Box::pin(self.sequence(session_id, plan))
                        .await
                        .map_err(located)?;
                }
                (FileItemKind::Source, Action::Create) => {
                    let ctx = self.plan_context(self.sessions.get(&session_id), vec![]);
                    let plan = eddy_sql::plan(&self.catalog, &ctx, &fs.stmt).map_err(located)?;
                    let tables = discovered.remove(&fs.location()).unwrap_or_default();
                    self.finish_create_pg_source(plan, Ok(tables))
                        .map_err(located)?;
                }
                (FileItemKind::Seed, Action::Seed(key)) => {
                    let ctx = self.plan_context(self.sessions.get(&session_id), vec![]);
                    let plan = eddy_sql::plan(&self.catalog, &ctx, &fs.stmt).map_err(located)?;
                    self.log_sequences()?;
                    Box::pin(self.sequence(session_id, plan))
                        .await
                        .map_err(located)?;
                    self.storage.append(&[LogRecord::ViewsFileApplied {
                        name: key.clone(),
                        hash: 0,
                    }])?;
                    self.views_files.insert(key.clone(), 0);
                }
                _ => {}
            }
        }
        let base = self.catalog.clone();
        let mut pending = self.build_versions(&base, roots(), &pruned, true, response)?;
        pending.hold = apply.hold.then_some(session_id);
        Ok(Err(pending))
    }

    /// What a statement does to the catalog as it is.
    fn action_of(&self, fs: &FileStatement) -> Result<Action, SqlError> {
        let located = |e: SqlError| file_error(&fs.file, fs.line, e);
        let text = normalized(fs.stmt.clone()).to_string();
        if fs.kind == FileItemKind::Seed {
            let key = format!("seed:{}:{:x}", fs.file, stable_hash(&text));
            return Ok(match self.views_files.contains_key(&key) {
                true => Action::SeedDone,
                false => Action::Seed(key),
            });
        }
        if fs.kind == FileItemKind::Schema {
            return Ok(
                match eddy_sql::Catalog::schema_exists(&self.catalog, &fs.name) {
                    true => Action::Unchanged,
                    false => Action::Create,
                },
            );
        }
        let Some(existing) = self.catalog.get_by_name(&fs.schema, &fs.name) else {
            return Ok(Action::Create);
        };
        let same_kind = matches!(
            (fs.kind, existing.kind),
            (FileItemKind::Table, ItemKind::Table | ItemKind::Source)
                | (FileItemKind::View, ItemKind::View)
                | (FileItemKind::MaterializedView, ItemKind::MaterializedView)
                | (FileItemKind::Sink, ItemKind::Sink)
                | (FileItemKind::Source, ItemKind::PgSource)
        ) && existing.upstream.is_none();
        if !same_kind {
            return Err(located(
                SqlError::new(
                    SqlState::WRONG_OBJECT_TYPE,
                    format!(
                        "\"{}\" is a {} in Eddy, and a {} in the files",
                        existing.qualified_name(),
                        existing.kind.noun(),
                        fs.kind.noun()
                    ),
                )
                .with_hint("Drop it first (or apply with --prune after removing it), then apply."),
            ));
        }
        if normalized_sql(&existing.create_sql) == text {
            return Ok(Action::Unchanged);
        }
        if fs.kind == FileItemKind::Source {
            return Err(located(SqlError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                format!(
                    "source \"{}\" is defined differently in Eddy; changing a source is not supported yet",
                    existing.qualified_name()
                ),
            )
            .with_hint("Drop it (DROP SOURCE name CASCADE: its tables and the views over them go with it), then apply.")));
        }
        if fs.kind == FileItemKind::Table {
            return Err(located(SqlError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                format!(
                    "table \"{}\" is defined differently in Eddy; changing a table is not supported yet",
                    existing.qualified_name()
                ),
            )
            .with_hint("Drop the table (its data goes with it), then apply.")));
        }
        Ok(Action::Replace(existing.id))
    }

    /// With `PRUNE`: the user's items that the files no longer define (a Postgres
    /// source with its tables, which the files never name).
    fn pruned(&self, steps: &[(FileStatement, Action)]) -> Vec<GlobalId> {
        let desired: BTreeSet<(String, String)> = steps
            .iter()
            .filter(|(fs, _)| !matches!(fs.kind, FileItemKind::Seed | FileItemKind::Schema))
            .map(|(fs, _)| (fs.schema.clone(), fs.name.clone()))
            .collect();
        self.catalog
            .entries()
            .filter(|e| {
                // Indexes go with their tables (files do not define them).
                matches!(e.id, GlobalId::User(_))
                    && e.upstream.is_none()
                    && e.kind != ItemKind::Index
                    && !desired.contains(&(e.schema.clone(), e.name.clone()))
            })
            .flat_map(|e| {
                let tables = match e.kind {
                    ItemKind::PgSource => pg_table_entries(e).map(|t| t.id).collect(),
                    _ => vec![],
                };
                std::iter::once(e.id).chain(tables)
            })
            .collect()
    }

    /// A table's or stream's entry from its `CREATE`, planned against `catalog`, with
    /// its Kafka options checked.
    fn table_entry(
        &self,
        catalog: &Catalog,
        ctx: &eddy_sql::PlanContext,
        stmt: &eddy_sql::Statement,
        id: GlobalId,
    ) -> Result<CatalogEntry, SqlError> {
        let plan = eddy_sql::plan(catalog, ctx, stmt)?;
        if !matches!(plan, Plan::CreateTable { .. }) {
            return Err(SqlError::internal("not a CREATE TABLE"));
        }
        let (entry, _) = super::ddl::table_entry_of(id, plan);
        if entry.source.is_some() {
            source_spec(&entry, self.kafka_brokers.as_deref())?;
        }
        Ok(entry)
    }

    /// The plan's rows, in the order the steps run (drops last).
    fn plan_rows(
        &self,
        steps: &[(FileStatement, Action)],
        checked: &PendingReplace,
        pruned: &[GlobalId],
    ) -> Vec<Row> {
        let mut rows = Vec::new();
        // New versions that are not roots: readers of a replaced view, rebuilt.
        let roots: BTreeSet<(String, String)> = roots_of(steps)
            .into_iter()
            .map(|r| (r.schema, r.name))
            .collect();
        let rebuilt: BTreeSet<(String, String)> = checked
            .new
            .iter()
            .map(|e| (e.schema.clone(), e.name.clone()))
            .filter(|key| !roots.contains(key))
            .collect();
        let in_files: BTreeSet<(String, String)> = steps
            .iter()
            .map(|(fs, _)| (fs.schema.clone(), fs.name.clone()))
            .collect();
        for (fs, action) in steps {
            let name = display_name(&fs.schema, &fs.name);
            let kind = fs.kind.noun();
            let location = fs.location();
            let key = (fs.schema.clone(), fs.name.clone());
            let (symbol, detail) = match action {
                Action::Create => ("+", "create"),
                Action::Replace(_) => (
                    "~",
                    "replace (definition changed; rebuilt beside the old version, then swapped)",
                ),
                Action::Unchanged if fs.kind != FileItemKind::Schema && rebuilt.contains(&key) => {
                    ("~", "rebuild (reads a replaced view)")
                }
                Action::Unchanged => ("=", "unchanged"),
                Action::Seed(_) => ("+", "insert (applied once)"),
                Action::SeedDone => ("=", "insert (applied before)"),
            };
            rows.push(plan_row(symbol, kind, &name, detail, &location));
        }
        for entry in &checked.new {
            let key = (entry.schema.clone(), entry.name.clone());
            if rebuilt.contains(&key) && !in_files.contains(&key) {
                rows.push(plan_row(
                    "~",
                    entry.kind.noun(),
                    &entry.qualified_name(),
                    "rebuild (reads a replaced view)",
                    "",
                ));
            }
        }
        for id in pruned {
            if let Some(entry) = self.catalog.get(*id) {
                // Sources' relations by the word their files use.
                let noun = match (entry.kind, &entry.source) {
                    (ItemKind::Source, Some(source)) if source.stream => "stream",
                    (ItemKind::Source, _) => "table",
                    (kind, _) => kind.noun(),
                };
                rows.push(plan_row(
                    "-",
                    noun,
                    &entry.qualified_name(),
                    "drop (not in the files)",
                    "",
                ));
            }
        }
        rows
    }
}

/// The views and sinks to build: new ones and changed ones.
fn roots_of(steps: &[(FileStatement, Action)]) -> Vec<Root> {
    steps
        .iter()
        .filter(|(fs, _)| {
            matches!(
                fs.kind,
                FileItemKind::View | FileItemKind::MaterializedView | FileItemKind::Sink
            )
        })
        .filter_map(|(fs, action)| {
            let old = match action {
                Action::Create => None,
                Action::Replace(id) => Some(*id),
                _ => return None,
            };
            Some(Root {
                old,
                location: fs.location(),
                schema: fs.schema.clone(),
                name: fs.name.clone(),
                stmt: fs.stmt.clone(),
                reads: fs.reads.clone(),
            })
        })
        .collect()
}

/// The statements in the order they can run: schemas first, then each after what it
/// reads among them (seed data after the tables, before the views). A name defined
/// twice, or a cycle, is an error naming file and line (a read of a relation that
/// exists nowhere is found when the statement is planned, with its file and line).
fn order(statements: Vec<FileStatement>) -> Result<Vec<FileStatement>, SqlError> {
    let mut defined: BTreeMap<(String, String), String> = BTreeMap::new();
    for fs in &statements {
        if fs.kind == FileItemKind::Seed {
            continue;
        }
        let key = match fs.kind {
            FileItemKind::Schema => (String::new(), fs.name.clone()),
            _ => (fs.schema.clone(), fs.name.clone()),
        };
        if let Some(other) = defined.insert(key, fs.location()) {
            return Err(file_error(
                &fs.file,
                fs.line,
                SqlError::new(
                    SqlState::DUPLICATE_TABLE,
                    format!(
                        "\"{}\" is defined twice (also at {other})",
                        display_name(&fs.schema, &fs.name)
                    ),
                ),
            ));
        }
    }
    // Schemas, then tables, seeds, then views and sinks in dependency order.
    let rank = |fs: &FileStatement| match fs.kind {
        FileItemKind::Schema => 0,
        FileItemKind::Table | FileItemKind::Source => 1,
        FileItemKind::Seed => 2,
        _ => 3,
    };
    let mut pending: Vec<FileStatement> = statements;
    pending.sort_by_key(rank);
    let mut ordered = Vec::with_capacity(pending.len());
    let mut done: BTreeSet<(String, String)> = BTreeSet::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|fs| {
            fs.reads.iter().all(|r| {
                !defined.contains_key(r)
                    || done.contains(r)
                    || *r == (fs.schema.clone(), fs.name.clone())
            })
        });
        let Some(i) = ready else {
            let cycle: Vec<String> = pending
                .iter()
                .map(|fs| format!("{} ({})", display_name(&fs.schema, &fs.name), fs.location()))
                .collect();
            let first = &pending[0];
            return Err(file_error(
                &first.file,
                first.line,
                SqlError::new(
                    SqlState::INVALID_OBJECT_DEFINITION,
                    format!(
                        "these statements read each other in a cycle: {}",
                        cycle.join(", ")
                    ),
                ),
            ));
        };
        let fs = pending.remove(i);
        if fs.kind != FileItemKind::Seed {
            done.insert(match fs.kind {
                FileItemKind::Schema => (String::new(), fs.name.clone()),
                _ => (fs.schema.clone(), fs.name.clone()),
            });
        }
        ordered.push(fs);
    }
    Ok(ordered)
}
