//! The API sessions use to run statements. `pgwire` is its only caller.
//!
//! Parsing happens here, on the session's task, so the coordinator only sees parsed
//! statements, one at a time.

use eddy_repr::{Datum, RelationDesc, Row, ScalarType};
use tokio::sync::{mpsc, oneshot};

use crate::coord::Message;
use eddy_repr::SqlError;
use eddy_repr::SqlState;

/// What one statement produced.
#[derive(Clone, Debug)]
pub enum ExecuteResponse {
    /// Result rows, already ordered, limited and projected.
    Rows { desc: RelationDesc, rows: Vec<Row> },
    /// A statement with no rows; `tag` is the Postgres command tag
    /// (`INSERT 0 3`, `UPDATE 2`, `CREATE TABLE`, `SET`, ...).
    Command { tag: String },
    /// The empty query (`;` alone).
    EmptyQuery,
}

impl ExecuteResponse {
    /// The Postgres command tag (`SELECT 3` for rows).
    pub fn tag(&self) -> String {
        match self {
            ExecuteResponse::Rows { rows, .. } => format!("SELECT {}", rows.len()),
            ExecuteResponse::Command { tag } => tag.clone(),
            ExecuteResponse::EmptyQuery => String::new(),
        }
    }
}

/// The parameter and result shape of a statement, for the extended protocol's Describe.
#[derive(Clone, Debug)]
pub struct StatementDesc {
    pub param_types: Vec<ScalarType>,
    /// `None` for statements that return no rows.
    pub result: Option<RelationDesc>,
}

/// A session as the coordinator knows it.
#[derive(Debug)]
pub struct SessionHandle {
    pub id: u64,
}

/// A handle to the coordinator. Cheap to clone; one per connection.
#[derive(Clone)]
pub struct Client {
    tx: mpsc::Sender<Message>,
}

fn gone() -> SqlError {
    SqlError::new(
        SqlState::ADMIN_SHUTDOWN,
        "terminating connection: the server is shutting down",
    )
}

impl Client {
    pub(crate) fn new(tx: mpsc::Sender<Message>) -> Self {
        Client { tx }
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Message,
    ) -> Result<T, SqlError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    /// Opens a session for a new connection (any user and database are accepted).
    pub async fn open_session(
        &self,
        user: &str,
        database: &str,
    ) -> Result<SessionHandle, SqlError> {
        let (user, database) = (user.to_string(), database.to_string());
        let id = self
            .call(|tx| Message::OpenSession { user, database, tx })
            .await?;
        Ok(SessionHandle { id })
    }

    /// Closes a session: a transaction still open is rolled back.
    pub async fn close_session(&self, session: SessionHandle) {
        let _ = self.tx.send(Message::CloseSession { id: session.id }).await;
    }

    /// Runs a simple-protocol query string, which may hold several statements. Stops at
    /// the first error, which is then the last element.
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
            let message = Message::ImplicitBegin {
                session: session.id,
            };
            if self.tx.send(message).await.is_err() {
                return vec![Err(gone())];
            }
        }
        let mut results = Vec::with_capacity(stmts.len());
        let mut failed = false;
        for stmt in stmts {
            let result = self.execute_statement(session, stmt, vec![]).await;
            failed = result.is_err();
            results.push(result);
            if failed {
                break;
            }
        }
        if implicit {
            let id = session.id;
            let ended = self
                .call(|tx| Message::ImplicitEnd {
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
        stmt: sqlparser::ast::Statement,
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, SqlError> {
        let id = session.id;
        self.call(|tx| Message::Execute {
            session: id,
            stmt: Box::new(stmt),
            params,
            tx,
        })
        .await?
    }

    fn single(sql: &str) -> Result<Option<sqlparser::ast::Statement>, SqlError> {
        let mut stmts = eddy_sql::parse(sql)?;
        match stmts.len() {
            0 => Ok(None),
            1 => Ok(stmts.pop()),
            _ => Err(SqlError::new(
                SqlState::SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement",
            )),
        }
    }

    /// Describes one statement for the extended protocol. `param_types` holds the types
    /// the client declared (`None` where it left the choice to the server).
    pub async fn describe(
        &self,
        session: &SessionHandle,
        sql: &str,
        param_types: &[Option<ScalarType>],
    ) -> Result<StatementDesc, SqlError> {
        let Some(stmt) = Self::single(sql)? else {
            return Ok(StatementDesc {
                param_types: vec![],
                result: None,
            });
        };
        let (id, param_types) = (session.id, param_types.to_vec());
        self.call(|tx| Message::Describe {
            session: id,
            stmt: Box::new(stmt),
            param_types,
            tx,
        })
        .await?
    }

    /// Runs one statement with bound parameters (extended protocol). `params` are
    /// already decoded to datums of the described parameter types.
    pub async fn execute_prepared(
        &self,
        session: &SessionHandle,
        sql: &str,
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, SqlError> {
        match Self::single(sql)? {
            None => Ok(ExecuteResponse::EmptyQuery),
            Some(stmt) => self.execute_statement(session, stmt, params).await,
        }
    }

    /// Reads a session variable as SHOW would print it (for ParameterStatus).
    pub async fn session_var(&self, session: &SessionHandle, name: &str) -> Option<String> {
        let (id, name) = (session.id, name.to_string());
        self.call(|tx| Message::SessionVar {
            session: id,
            name,
            tx,
        })
        .await
        .ok()
        .flatten()
    }

    /// Whether a `--views` file with this name and content hash was applied before.
    pub async fn views_file_applied(&self, name: &str, hash: u64) -> Result<bool, SqlError> {
        let name = name.to_string();
        self.call(|tx| Message::ViewsFileApplied { name, hash, tx })
            .await
    }

    /// Records durably that a `--views` file was applied.
    pub async fn mark_views_file_applied(&self, name: &str, hash: u64) -> Result<(), SqlError> {
        let name = name.to_string();
        self.call(|tx| Message::MarkViewsFileApplied { name, hash, tx })
            .await?
    }

    /// Stops the coordinator and the workers.
    pub async fn shutdown(&self) {
        let _ = self.call(|tx| Message::Shutdown { tx }).await;
    }
}
