//! Sequencing: running one planned statement against the coordinator's state.
//!
//! Each kind of statement has a file: `ddl.rs` (CREATE, DROP), `alter.rs` (ALTER TABLE), `dml.rs` (INSERT,
//! UPDATE, DELETE and the write path), `read.rs` (SELECT, EXPLAIN and every read),
//! `show.rs` (SHOW, SET), `subscribe.rs` (SUBSCRIBE), `transaction.rs` (BEGIN, COMMIT, ROLLBACK and implicit
//! blocks).
//!
//! Invariants:
//! - A statement either takes full effect or none: every check (names, dependencies,
//!   NOT NULL, primary keys) runs before anything is logged, and nothing reaches the
//!   workers before it is durable.
//! - DDL writes its log record before it changes the catalog or the dataflow, and
//!   rewrites the builtin catalog relations after (`refresh_builtins`).

mod alter;
mod apply;
mod ddl;
mod dml;
mod read;
mod replace;
mod show;
mod status;
mod subscribe;

pub(crate) use replace::{parse_one, HeldSwaps, PendingReplace};
pub(crate) use status::{ApplyFailure, BuildingVersions};
pub(crate) use subscribe::ActiveSubscribe;
mod transaction;

use eddy_repr::{GlobalId, SqlError};
use eddy_sql::Plan;

use tokio::sync::mpsc;

use crate::command::{Command, ExecuteResponse};
use crate::coord::Coordinator;

/// The response of a statement that returns no rows.
pub(crate) fn tag(tag: impl Into<String>) -> Result<ExecuteResponse, SqlError> {
    Ok(ExecuteResponse::Command { tag: tag.into() })
}

impl Coordinator {
    /// Runs every statement but SELECT (see [`Coordinator::sequence_select`]).
    pub(crate) async fn sequence(
        &mut self,
        session_id: u64,
        plan: Plan,
    ) -> Result<ExecuteResponse, SqlError> {
        match plan {
            Plan::Select { .. } => unreachable!("SELECT is sequenced by sequence_select"),
            plan @ Plan::CreateTable { .. } => self.create_table(plan),
            Plan::AlterTable(None) => tag("ALTER TABLE"),
            Plan::AlterTable(Some(alter)) => self.alter_table(session_id, alter).await,
            Plan::CreateTableAs { table, rows } => {
                self.create_table_as(session_id, *table, rows).await
            }
            plan @ Plan::CreateView { .. } => self.create_view(plan),
            plan @ Plan::CreateIndex { .. } => self.create_index(plan),
            plan @ Plan::CreateSink { .. } => self.create_sink(plan),
            Plan::Apply(_) => unreachable!("APPLY is sequenced by apply"),
            Plan::Replay { .. } => unreachable!("REPLAY is sequenced by begin_replay"),
            Plan::RenameView { .. } => unreachable!("RENAME is sequenced by begin_rename"),
            Plan::ApplyDecision { token, commit } => self.decide_held(session_id, token, commit),
            Plan::CreatePgSource { .. } => {
                unreachable!("CREATE SOURCE is sequenced by begin_create_pg_source")
            }
            Plan::CreateSchema {
                name,
                if_not_exists,
            } => self.create_schema(name, if_not_exists),
            Plan::DropSchema { names, cascade, .. } => self.drop_schemas(&names, cascade),
            Plan::Drop {
                ids, cascade, kind, ..
            } => self.drop_items(&ids, cascade, kind),
            Plan::Insert {
                id,
                values,
                serial_fill,
                on_conflict,
                returning,
            } => {
                self.insert(session_id, id, values, serial_fill, on_conflict, returning)
                    .await
            }
            Plan::CreateSequence {
                schema,
                name,
                start,
                increment,
                if_not_exists,
            } => {
                let exists = self
                    .sequences
                    .lock()
                    .contains_key(&(schema.clone(), name.clone()));
                if !(exists && if_not_exists) {
                    self.check_schema(&schema)?;
                    self.create_sequence(&schema, &name, start, increment, None)?;
                }
                tag("CREATE SEQUENCE")
            }
            Plan::Noop { tag: done } => tag(done),
            Plan::DropSequence { names, if_exists } => {
                self.drop_sequences(names, if_exists)?;
                tag("DROP SEQUENCE")
            }
            Plan::CopyFrom {
                id,
                name,
                desc,
                columns,
                format,
            } => Ok(ExecuteResponse::CopyIn(crate::command::CopyIn {
                id,
                relation: name,
                names: columns.iter().map(|c| desc.names[*c].clone()).collect(),
                types: columns.iter().map(|c| desc.types[*c].scalar_type).collect(),
                columns,
                arity: desc.arity(),
                format,
            })),
            Plan::CopyTo { .. } => unreachable!("COPY TO is sequenced by sequence_copy_to"),
            Plan::ReadThenWrite {
                id,
                selection,
                kind,
                returning,
            } => {
                self.read_then_write(session_id, id, selection, kind, returning)
                    .await
            }
            Plan::Explain { expr, maintained } => {
                let expr = self.optimize(expr);
                // A read through an index says so first.
                let index = (!maintained)
                    .then(|| self.indexed_read(&expr))
                    .flatten()
                    .map(|read| read.describe(&self.catalog));
                Ok(read::explain(expr, maintained, index))
            }
            Plan::Subscribe {
                expr,
                desc,
                depends_on,
                snapshot,
                output,
            } => self.subscribe(session_id, expr, desc, depends_on, snapshot, output),
            Plan::ShowObjects(kind) => Ok(self.show_objects(kind)),
            Plan::ShowColumns { id } => self.show_columns(id),
            Plan::ShowVariable(name) => self.show_variable(session_id, &name),
            Plan::ShowSources => Ok(self.show_sources()),
            Plan::ShowSinks => Ok(self.show_sinks()),
            Plan::SetVariable { name, value, .. } => self.set_variable(session_id, &name, value),
            Plan::StartTransaction => self.begin(session_id),
            Plan::Savepoint { name } => self.savepoint(session_id, name),
            Plan::ReleaseSavepoint { name } => self.release_savepoint(session_id, name),
            Plan::RollbackToSavepoint { name } => self.rollback_to_savepoint(session_id, name),
            Plan::Commit => self.commit(session_id),
            Plan::Rollback => self.rollback(session_id),
        }
    }
}

/// Asks the coordinator to drop a one-off dataflow. If its queue is full, a task waits
/// for room, so the dataflow is never leaked; an error means the coordinator is
/// shutting down and drops everything.
pub(crate) fn drop_transient(id: GlobalId, tx: mpsc::Sender<Command>) {
    if let Err(mpsc::error::TrySendError::Full(msg)) = tx.try_send(Command::DropTransient(id)) {
        tokio::spawn(async move {
            let _ = tx.send(msg).await;
        });
    }
}
