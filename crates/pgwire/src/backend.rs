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
//! - `execute_simple` stops at the first error, which is then the last element, or
//!   after a subscription ([`ExecuteResponse::Subscribe`]), which never ends normally.
//! - `prepare` parses and describes a statement once; its description
//!   ([`Backend::prepared_desc`]) resolves every parameter type (one per `$n`), and
//!   `execute_prepared` receives datums of exactly those types. Executing a prepared
//!   statement never parses its text again.

use async_trait::async_trait;
use eddy_coord::{
    Client, CopyIn, CopyLoad, ExecuteResponse, PreparedStatement, SessionHandle, StatementDesc,
};
use eddy_repr::SqlError;
use eddy_repr::{Datum, ScalarType};

/// The coordinator as seen by one connection. See the module docs for the contract.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A statement parsed and described by [`Backend::prepare`], kept by the
    /// connection until it is closed or deallocated.
    type Prepared: Clone + std::fmt::Debug + Send + Sync + 'static;

    /// Opens a session for a new connection, with the variables its startup message
    /// set (`TimeZone`, ...), which it may refuse as `SET` would.
    async fn open_session(
        &self,
        user: &str,
        database: &str,
        vars: Vec<(String, String)>,
    ) -> Result<SessionHandle, SqlError>;

    /// Closes a session, rolling back a transaction still open.
    async fn close_session(&self, session: SessionHandle);

    /// Runs a query string of zero or more statements; stops at the first error.
    async fn execute_simple(
        &self,
        session: &SessionHandle,
        sql: &str,
    ) -> Vec<Result<ExecuteResponse, SqlError>>;

    /// Parses and describes one statement (the extended protocol's Parse); the
    /// parameter types are the declared ones where given.
    async fn prepare(
        &self,
        session: &SessionHandle,
        sql: &str,
        param_types: &[Option<ScalarType>],
    ) -> Result<Self::Prepared, SqlError>;

    /// A prepared statement's parameter types and result shape.
    fn prepared_desc(prepared: &Self::Prepared) -> &StatementDesc;

    /// Whether executing a prepared statement starts a subscription
    /// ([`ExecuteResponse::Subscribe`]), whose rows are streamed as they come.
    fn prepared_is_subscribe(_prepared: &Self::Prepared) -> bool {
        false
    }

    /// Runs a prepared statement with bound parameters.
    async fn execute_prepared(
        &self,
        session: &SessionHandle,
        prepared: &Self::Prepared,
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, SqlError>;

    /// Finishes a `COPY ... FROM STDIN` ([`ExecuteResponse::CopyIn`]) whose data has
    /// all been pushed into `load`: the rows are written as one statement, or none is.
    async fn copy_from(
        &self,
        _session: &SessionHandle,
        _load: CopyLoad,
    ) -> Result<ExecuteResponse, SqlError> {
        Err(SqlError::unsupported("COPY FROM"))
    }

    /// Ends a `COPY ... FROM STDIN` its client failed with `message`: nothing is
    /// written and an open transaction block is aborted. Returns the statement's error.
    async fn copy_fail(&self, _session: &SessionHandle, _copy: &CopyIn, message: &str) -> SqlError {
        SqlError::new(
            eddy_repr::SqlState::QUERY_CANCELED,
            format!("COPY from stdin failed: {message}"),
        )
    }

    /// A session variable as SHOW prints it, if it exists.
    async fn session_var(&self, session: &SessionHandle, name: &str) -> Option<String>;

    /// Cancels the statement session `session` (an id from [`SessionHandle`]) is
    /// running, if any: it fails with 57014. Called from another connection.
    async fn cancel(&self, session: u64);
}

#[async_trait]
impl Backend for Client {
    type Prepared = PreparedStatement;

    async fn open_session(
        &self,
        user: &str,
        database: &str,
        vars: Vec<(String, String)>,
    ) -> Result<SessionHandle, SqlError> {
        Client::open_session(self, user, database, vars).await
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

    async fn prepare(
        &self,
        session: &SessionHandle,
        sql: &str,
        param_types: &[Option<ScalarType>],
    ) -> Result<PreparedStatement, SqlError> {
        Client::prepare(self, session, sql, param_types).await
    }

    fn prepared_desc(prepared: &PreparedStatement) -> &StatementDesc {
        prepared.desc()
    }

    fn prepared_is_subscribe(prepared: &PreparedStatement) -> bool {
        prepared.is_subscribe()
    }

    async fn execute_prepared(
        &self,
        session: &SessionHandle,
        prepared: &PreparedStatement,
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, SqlError> {
        Client::execute_prepared(self, session, prepared, params).await
    }

    async fn copy_from(
        &self,
        session: &SessionHandle,
        load: CopyLoad,
    ) -> Result<ExecuteResponse, SqlError> {
        Client::copy_from(self, session, load).await
    }

    async fn copy_fail(&self, session: &SessionHandle, copy: &CopyIn, message: &str) -> SqlError {
        Client::copy_fail(self, session, copy, message).await
    }

    async fn session_var(&self, session: &SessionHandle, name: &str) -> Option<String> {
        Client::session_var(self, session, name).await
    }

    async fn cancel(&self, session: u64) {
        Client::cancel(self, session).await
    }
}
