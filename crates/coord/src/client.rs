//! The API sessions use to run statements. `pgwire` is its only caller.

use eddy_repr::{Datum, RelationDesc, Row, ScalarType};

use crate::error::AdapterError;

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

/// The parameter and result shape of a statement, for the extended protocol's Describe.
#[derive(Clone, Debug)]
pub struct StatementDesc {
    pub param_types: Vec<ScalarType>,
    /// `None` for statements that return no rows.
    pub result: Option<RelationDesc>,
}

/// A session's state as the coordinator knows it: its id and variables.
#[derive(Debug)]
pub struct SessionHandle {
    pub id: u64,
}

/// A handle to the coordinator. Cheap to clone; one per connection.
#[derive(Clone)]
pub struct Client {}

impl Client {
    /// Opens a session for a new connection (any user and database are accepted).
    pub async fn open_session(
        &self,
        user: &str,
        database: &str,
    ) -> Result<SessionHandle, AdapterError> {
        let _ = (user, database);
        Err(AdapterError::internal("not implemented"))
    }

    /// Closes a session: a transaction still open is rolled back.
    pub async fn close_session(&self, session: SessionHandle) {
        let _ = session;
    }

    /// Runs a simple-protocol query string, which may hold several statements. Stops at
    /// the first error, which is the last element.
    pub async fn execute_simple(
        &self,
        session: &SessionHandle,
        sql: &str,
    ) -> Vec<Result<ExecuteResponse, AdapterError>> {
        let _ = (session, sql);
        vec![Err(AdapterError::internal("not implemented"))]
    }

    /// Describes one statement for the extended protocol. `param_types` holds the types
    /// the client declared (`None` where it left the choice to the server).
    pub async fn describe(
        &self,
        session: &SessionHandle,
        sql: &str,
        param_types: &[Option<ScalarType>],
    ) -> Result<StatementDesc, AdapterError> {
        let _ = (session, sql, param_types);
        Err(AdapterError::internal("not implemented"))
    }

    /// Runs one statement with bound parameters (extended protocol). `params` are
    /// already decoded to datums of the described parameter types.
    pub async fn execute_prepared(
        &self,
        session: &SessionHandle,
        sql: &str,
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, AdapterError> {
        let _ = (session, sql, params);
        Err(AdapterError::internal("not implemented"))
    }

    /// Reads a session variable as SHOW would print it (for ParameterStatus).
    pub async fn session_var(&self, session: &SessionHandle, name: &str) -> Option<String> {
        let _ = (session, name);
        None
    }
}
