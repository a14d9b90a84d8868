//! The API sessions use to run statements. `pgwire` is its only caller.
//!
//! Parsing happens here, on the session's task, so the coordinator only sees parsed
//! statements, one at a time. A prepared statement is parsed once, by
//! [`Client::prepare`]; executing it sends the parsed statement, never its text.

use std::sync::Arc;

use eddy_repr::{Datum, ScalarType, SqlError, SqlState};
use eddy_sql::Statement;
use tokio::sync::{mpsc, oneshot};

use crate::cancel::Cancels;
use crate::command::{
    Command, CopyIn, ExecuteResponse, PreparedStatement, SessionHandle, StatementDesc,
};
use crate::copy_load::CopyLoad;

/// A handle to the coordinator. Cheap to clone; one per connection.
#[derive(Clone)]
pub struct Client {
    tx: mpsc::Sender<Command>,
    cancels: Cancels,
}

fn gone() -> SqlError {
    SqlError::new(
        SqlState::ADMIN_SHUTDOWN,
        "terminating connection: the server is shutting down",
    )
}

impl Client {
    pub(crate) fn new(tx: mpsc::Sender<Command>, cancels: Cancels) -> Self {
        Client { tx, cancels }
    }

    /// Cancels the statement `session` is running, if any (it fails with 57014).
    /// Safe to call from any task, however busy the coordinator is.
    pub async fn cancel(&self, session: u64) {
        self.cancels.cancel(session);
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, SqlError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    /// Opens a session for a new connection (any user and database are accepted),
    /// with the variables its startup message sets (`TimeZone`, ...): a value `SET`
    /// would refuse fails the open with `SET`'s error.
    pub async fn open_session(
        &self,
        user: &str,
        database: &str,
        vars: Vec<(String, String)>,
    ) -> Result<SessionHandle, SqlError> {
        let (user, database) = (user.to_string(), database.to_string());
        let id = self
            .call(|tx| Command::OpenSession {
                user,
                database,
                vars,
                tx,
            })
            .await??;
        Ok(SessionHandle { id })
    }

    /// Closes a session: a transaction still open is rolled back.
    pub async fn close_session(&self, session: SessionHandle) {
        let _ = self.tx.send(Command::CloseSession { id: session.id }).await;
    }

    /// Runs a simple-protocol query string, which may hold several statements. Stops at
    /// the first error, which is then the last element, or after a `SUBSCRIBE`.
    pub async fn execute_simple(
        &self,
        session: &SessionHandle,
        sql: &str,
    ) -> Vec<Result<ExecuteResponse, SqlError>> {
        let stmts = match eddy_sql::parse(sql) {
            Ok(stmts) => stmts,
            Err(e) => return vec![Err(e)],
        };
        if stmts.is_empty() {
            return vec![Ok(ExecuteResponse::EmptyQuery)];
        }
        // Several statements in one string run as one implicit transaction, as in
        // Postgres: their writes commit together at the end, or not at all.
        let implicit = stmts.len() > 1;
        if implicit {
            let message = Command::ImplicitBegin {
                session: session.id,
            };
            if self.tx.send(message).await.is_err() {
                return vec![Err(gone())];
            }
        }
        let mut results = Vec::with_capacity(stmts.len());
        let mut failed = false;
        for stmt in stmts {
            let result = self
                .execute_statement(session, Arc::new(stmt), vec![])
                .await;
            failed = result.is_err();
            // A subscription runs until an error ends it, and the statements after it
            // with it: they never run.
            // So does a COPY FROM: its data comes next.
            let subscribed = matches!(
                result,
                Ok(ExecuteResponse::Subscribe(_) | ExecuteResponse::CopyIn(_))
            );
            results.push(result);
            if failed || subscribed {
                break;
            }
        }
        if implicit {
            let id = session.id;
            let ended = self
                .call(|tx| Command::ImplicitEnd {
                    session: id,
                    commit: !failed,
                    tx,
                })
                .await
                .and_then(|r| r);
            if let Err(e) = ended {
                results.push(Err(e));
            }
        }
        results
    }

    async fn execute_statement(
        &self,
        session: &SessionHandle,
        stmt: Arc<Statement>,
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, SqlError> {
        let id = session.id;
        self.call(|tx| Command::Execute {
            session: id,
            stmt,
            params,
            tx,
        })
        .await?
    }

    /// Parses and describes one statement for the extended protocol's Parse.
    /// `param_types` holds the types the client declared (`None` where it left the
    /// choice to the server).
    pub async fn prepare(
        &self,
        session: &SessionHandle,
        sql: &str,
        param_types: &[Option<ScalarType>],
    ) -> Result<PreparedStatement, SqlError> {
        let mut stmts = eddy_sql::parse(sql)?;
        if stmts.len() > 1 {
            return Err(SqlError::new(
                SqlState::SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let Some(stmt) = stmts.pop().map(Arc::new) else {
            let desc = StatementDesc {
                param_types: vec![],
                result: None,
            };
            return Ok(PreparedStatement::new(None, desc));
        };
        let (id, param_types) = (session.id, param_types.to_vec());
        let desc = self
            .call(|tx| Command::Describe {
                session: id,
                stmt: Arc::clone(&stmt),
                param_types,
                tx,
            })
            .await??;
        Ok(PreparedStatement::new(Some(stmt), desc))
    }

    /// Runs a prepared statement with bound parameters (extended protocol). `params`
    /// are already decoded to datums of the described parameter types.
    pub async fn execute_prepared(
        &self,
        session: &SessionHandle,
        prepared: &PreparedStatement,
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, SqlError> {
        match &prepared.stmt {
            None => Ok(ExecuteResponse::EmptyQuery),
            Some(stmt) => {
                self.execute_statement(session, Arc::clone(stmt), params)
                    .await
            }
        }
    }

    /// Finishes a `COPY ... FROM STDIN` whose data has all been pushed into `load`:
    /// sends its rows to the coordinator in chunks of at most
    /// [`crate::copy_load::COPY_CHUNK_ROWS`], the last of which writes them all as one
    /// statement (in the session's transaction block if one is open). A bad line
    /// found while decoding fails the statement, naming its line number.
    pub async fn copy_from(
        &self,
        session: &SessionHandle,
        load: CopyLoad,
    ) -> Result<ExecuteResponse, SqlError> {
        let (id, table, load_id) = (session.id, load.copy.id, load.load);
        let mut staged = match load.finish() {
            Ok(staged) => staged,
            Err(e) => {
                return self
                    .call(|tx| Command::CopyRows {
                        session: id,
                        id: table,
                        load: load_id,
                        rows: Err(e),
                        tx,
                    })
                    .await?;
            }
        };
        let mut left = staged.rows;
        loop {
            let rows = staged.next_chunk();
            let chunk_rows = rows.as_ref().map_or(0, |r| r.len() as u64);
            left = left.saturating_sub(chunk_rows);
            if rows.is_err() || left == 0 {
                return self
                    .call(|tx| Command::CopyRows {
                        session: id,
                        id: table,
                        load: load_id,
                        rows,
                        tx,
                    })
                    .await?;
            }
            let rows = rows.expect("checked above");
            self.tx
                .send(Command::CopyChunk {
                    session: id,
                    load: load_id,
                    rows,
                })
                .await
                .map_err(|_| gone())?;
        }
    }

    /// Ends a `COPY ... FROM STDIN` that its client failed (CopyFail): nothing is
    /// written, and an open transaction block is aborted, as in Postgres. Returns the
    /// statement's error.
    pub async fn copy_fail(
        &self,
        session: &SessionHandle,
        copy: &CopyIn,
        message: &str,
    ) -> SqlError {
        let err = SqlError::new(
            SqlState::QUERY_CANCELED,
            format!("COPY from stdin failed: {message}"),
        );
        let (id, table, rows) = (session.id, copy.id, Err(err.clone()));
        match self
            .call(|tx| Command::CopyRows {
                session: id,
                id: table,
                load: 0,
                rows,
                tx,
            })
            .await
        {
            Ok(Err(e)) => e,
            Ok(Ok(_)) => err,
            Err(e) => e,
        }
    }

    /// Reads a session variable as SHOW would print it (for ParameterStatus).
    pub async fn session_var(&self, session: &SessionHandle, name: &str) -> Option<String> {
        let (id, name) = (session.id, name.to_string());
        self.call(|tx| Command::SessionVar {
            session: id,
            name,
            tx,
        })
        .await
        .ok()
        .flatten()
    }

    /// Stops the coordinator and the workers.
    pub async fn shutdown(&self) {
        let _ = self.call(|tx| Command::Shutdown { tx }).await;
    }
}
