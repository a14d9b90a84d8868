//! [`Backend`]: what a connection needs from the coordinator.
//!
//! The trait mirrors [`eddy_coord::Client`] method for method, so that the server runs
//! against the real coordinator in production and against a small fake in tests. It
//! speaks in Eddy's types (datums, relation descriptions, [`SqlError`]) and knows
//! nothing of the wire protocol.
//!
//! Contract (the server relies on it):
//! - `open_session` is called once per connection, after the startup message, and
//!   `close_session` exactly once for every session that was opened, when the
//!   connection ends for any reason (terminate, dropped socket, protocol error,
//!   server shutdown). Closing rolls back an open transaction.
//! - `execute_simple` stops at the first error, which is then the last element.
//! - `describe` resolves every parameter type (the result has one type per `$n`);
//!   `execute_prepared` receives datums of exactly those types.

use async_trait::async_trait;
use eddy_coord::{Client, ExecuteResponse, SessionHandle, StatementDesc};
use eddy_repr::SqlError;
use eddy_repr::{Datum, ScalarType};

/// The coordinator as seen by one connection. See the module docs for the contract.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Opens a session for a new connection.
    async fn open_session(&self, user: &str, database: &str) -> Result<SessionHandle, SqlError>;

    /// Closes a session, rolling back a transaction still open.
    async fn close_session(&self, session: SessionHandle);

    /// Runs a query string of zero or more statements; stops at the first error.
    async fn execute_simple(
        &self,
        session: &SessionHandle,
        sql: &str,
    ) -> Vec<Result<ExecuteResponse, SqlError>>;

    /// Describes one statement: its parameter types (declared ones where given) and
    /// result shape.
    async fn describe(
        &self,
        session: &SessionHandle,
        sql: &str,
        param_types: &[Option<ScalarType>],
    ) -> Result<StatementDesc, SqlError>;

    /// Runs one statement with bound parameters.
    async fn execute_prepared(
        &self,
        session: &SessionHandle,
        sql: &str,
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, SqlError>;

    /// A session variable as SHOW prints it, if it exists.
    async fn session_var(&self, session: &SessionHandle, name: &str) -> Option<String>;
}

#[async_trait]
impl Backend for Client {
    async fn open_session(&self, user: &str, database: &str) -> Result<SessionHandle, SqlError> {
        Client::open_session(self, user, database).await
    }

    async fn close_session(&self, session: SessionHandle) {
        Client::close_session(self, session).await
    }

    async fn execute_simple(
        &self,
        session: &SessionHandle,
        sql: &str,
    ) -> Vec<Result<ExecuteResponse, SqlError>> {
        Client::execute_simple(self, session, sql).await
    }

    async fn describe(
        &self,
        session: &SessionHandle,
        sql: &str,
        param_types: &[Option<ScalarType>],
    ) -> Result<StatementDesc, SqlError> {
        Client::describe(self, session, sql, param_types).await
    }

    async fn execute_prepared(
        &self,
        session: &SessionHandle,
        sql: &str,
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, SqlError> {
        Client::execute_prepared(self, session, sql, params).await
    }

    async fn session_var(&self, session: &SessionHandle, name: &str) -> Option<String> {
        Client::session_var(self, session, name).await
    }
}
