//! One connection's protocol handling, on `pgwire`'s handler traits.
//!
//! `pgwire` provides the framing, TLS negotiation, skipping to Sync after an
//! extended-protocol error, portal bookkeeping and PortalSuspended; `server.rs` runs
//! the message loop; this module supplies what happens for each message:
//!
//! - **Startup**: with trust authentication, the startup message opens a backend
//!   session (`user`, `database` defaulting to the user); with passwords, the SCRAM
//!   exchange of `auth.rs` runs first and the session is opened only once it succeeds
//!   (a wrong password is FATAL 28P01). Then AuthenticationOk, the ParameterStatus
//!   values of [`PARAMETERS`], BackendKeyData and ReadyForQuery. A server that takes
//!   only TLS refuses a plain connection after its startup message (FATAL 28000).
//! - **Simple query**: one `execute_simple` call; each statement's response in order
//!   (RowDescription + text DataRows + `SELECT n`, a command tag, EmptyQueryResponse,
//!   or an ErrorResponse that ends the list).
//! - **Extended query**: Parse describes the statement at once, so errors surface at
//!   Parse as in Postgres; Bind checks counts and format codes and decodes parameters
//!   into datums of the described types; Describe answers from the stored description;
//!   Execute runs `execute_prepared` and encodes rows lazily in the Bind's formats, so a
//!   row limit leaves the rest in the portal for the next Execute.
//!
//! `DEALLOCATE` (see [`crate::deallocate`]) is answered here, in either protocol: it
//! drops statements from the connection's store and never reaches the backend. Like
//! Postgres, it fails with 25P02 in a failed transaction block (at execution; its Parse
//! succeeds), and `DEALLOCATE ALL` keeps the unnamed statement.
//!
//! Transaction status (the ReadyForQuery indicator) is derived from command tags:
//! `BEGIN`/`START TRANSACTION` enter a block, `COMMIT`/`ROLLBACK` leave it, and an
//! error inside a block marks it failed until it ends.
//!
//! Invariant: nothing a client sends can panic this module; every bad message or value
//! becomes an ErrorResponse with a SQLSTATE.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, OnceLock};

use crate::cancel::CancelKeys;
use async_trait::async_trait;
use eddy_coord::{
    CopyIn, CopyLoad, ExecuteResponse, SessionHandle, StatementDesc, SubscribeOutput, Subscription,
};
use eddy_repr::{Datum, Row, ScalarType};
use futures::{stream, Sink, SinkExt, StreamExt};
use pgwire::api::auth::{
    protocol_negotiation, save_startup_parameters_to_metadata, AuthOutcome, StartupHandler,
};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::copy::{send_copy_out_response, CopyHandler};
use pgwire::api::portal::PortalExecutionState;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{
    send_execution_response, send_query_response, send_ready_for_query, ExtendedQueryHandler,
    SimpleQueryHandler,
};
use pgwire::api::results::CopyResponse;
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{
    ClientInfo, ClientPortalStore, ErrorHandler, PgWireConnectionState, Type, DEFAULT_NAME,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult, SEVERITY_ERROR, SEVERITY_FATAL};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail, CopyInResponse, CopyOutResponse};
use pgwire::messages::data::{NoData, ParameterDescription, RowDescription};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Describe, Execute, Parse, ParseComplete, TARGET_TYPE_BYTE_PORTAL,
    TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::response::{EmptyQueryResponse, ReadyForQuery, TransactionStatus};
use pgwire::messages::simplequery::Query;
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tracing::{debug, info};

use crate::backend::Backend;
use crate::deallocate::{self, Deallocate};
use crate::format::{self, DecodeError};
use crate::server::{ConnectionConfig, PlainConnections};
use eddy_repr::zone::TimeZone;
use eddy_repr::{SqlError, SqlState};

/// The ParameterStatus values sent at startup, with the value used when the backend
/// does not know the variable. `application_name` comes from the startup message.
pub const PARAMETERS: &[(&str, &str)] = &[
    ("server_version", "15.0"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("IntervalStyle", "postgres"),
    ("TimeZone", "UTC"),
    ("integer_datetimes", "on"),
    ("standard_conforming_strings", "on"),
    ("is_superuser", "on"),
];

/// The session variables a startup message may set, besides `application_name`:
/// `TimeZone`, which libpq sends for `PGTZ` and pgjdbc for the JVM's zone.
const STARTUP_VARS: &[&str] = &["timezone"];

/// The variables of [`STARTUP_VARS`] a startup message sets: as parameters of their
/// own (`TimeZone=Europe/Berlin`, names case-insensitive) or in `options` as
/// `-c timezone=Europe/Berlin` or `--timezone=Europe/Berlin` (spaces escaped by a
/// backslash), as Postgres reads them; a later setting of a name wins.
fn startup_vars(parameters: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut vars = BTreeMap::new();
    if let Some(options) = parameters.get("options") {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut chars = options.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => word.extend(chars.next()),
                c if c.is_ascii_whitespace() => {
                    words.extend(Some(std::mem::take(&mut word)).filter(|w| !w.is_empty()))
                }
                c => word.push(c),
            }
        }
        words.extend(Some(word).filter(|w| !w.is_empty()));
        let mut words = words.into_iter();
        while let Some(word) = words.next() {
            let setting = match word.strip_prefix("--") {
                Some(setting) => Some(setting.to_string()),
                None if word == "-c" => words.next(),
                None => word.strip_prefix("-c").map(str::to_string),
            };
            if let Some((name, value)) = setting.as_deref().and_then(|s| s.split_once('=')) {
                let name = name.to_ascii_lowercase().replace('-', "_");
                if STARTUP_VARS.contains(&name.as_str()) {
                    vars.insert(name, value.to_string());
                }
            }
        }
    }
    for (name, value) in parameters {
        let name = name.to_ascii_lowercase();
        if STARTUP_VARS.contains(&name.as_str()) {
            vars.insert(name, value.clone());
        }
    }
    vars.into_iter().collect()
}

/// Parameters whose value is fixed by the wire format Eddy speaks: the backend is not
/// asked about them.
const FIXED_PARAMETERS: &[&str] = &["server_encoding", "client_encoding", "integer_datetimes"];

/// A `COPY ... FROM STDIN` receiving its data: each CopyData is decoded as it
/// arrives and its rows staged by the load (in memory up to a bound, then in a
/// temporary file; see `eddy_coord::copy_load`), written by the backend at CopyDone.
struct PendingCopy {
    load: CopyLoad,
    /// Binary data's translation to COPY text (see `binary_copy.rs`), if binary.
    binary: Option<crate::binary_copy::BinaryToText>,
    /// The types of the columns, for the binary translation.
    types: Vec<eddy_repr::ScalarType>,
}

impl PendingCopy {
    fn new(copy: CopyIn) -> PendingCopy {
        let types = copy.types.clone();
        // Binary data goes to the load as COPY text (see `binary_copy.rs`).
        let (copy, binary) = match copy.format.kind {
            eddy_repr::copy::CopyFormatKind::Binary => {
                let mut copy = copy;
                copy.format =
                    eddy_repr::copy::CopyFormat::new(eddy_repr::copy::CopyFormatKind::Text);
                (copy, Some(crate::binary_copy::BinaryToText::default()))
            }
            _ => (copy, None),
        };
        PendingCopy {
            load: CopyLoad::new(copy),
            binary,
            types,
        }
    }

    /// Decodes one CopyData message (nothing once the load failed).
    fn push(&mut self, data: &[u8]) {
        if self.load.failed() {
            return;
        }
        match &mut self.binary {
            None => self.load.push(data),
            Some(binary) => {
                let mut text = Vec::new();
                match binary.push(data, &self.types, &mut text) {
                    Ok(()) => self.load.push(&text),
                    Err(e) => {
                        // The tuples before the bad one are lines of the load too.
                        self.load.push(&text);
                        self.load.fail(e);
                    }
                }
            }
        }
    }

    /// Ends the data: the load, ready for the backend.
    fn finish(mut self) -> CopyLoad {
        if let Some(binary) = &mut self.binary {
            if let Err(e) = binary.finish() {
                self.load.fail(e);
            }
        }
        self.load
    }
}

/// The backend session of one connection, set once by the startup message, the
/// parameter values last reported to the client, and the names of the named statements
/// Parse stored (a superset of those still in the store: Close does not update it).
pub(crate) struct Session<B> {
    backend: Arc<B>,
    handle: OnceLock<SessionHandle>,
    /// The pid of the backend key data sent at startup (see `cancel.rs`).
    pid: OnceLock<i32>,
    reported: Mutex<BTreeMap<String, String>>,
    named_statements: Mutex<BTreeSet<String>>,
    /// The `COPY ... FROM STDIN` whose data is being received, and the data so far.
    copy_in: Mutex<Option<PendingCopy>>,
    /// Closes the connection without a word (see [`Session::killed`]).
    kill: tokio::sync::Notify,
    /// The startup message of a client that is authenticating.
    startup: Mutex<Option<StartupRequest>>,
}

impl<B: Backend> Session<B> {
    pub(crate) fn new(backend: Arc<B>) -> Self {
        Session {
            backend,
            handle: OnceLock::new(),
            pid: OnceLock::new(),
            reported: Mutex::new(BTreeMap::new()),
            named_statements: Mutex::new(BTreeSet::new()),
            copy_in: Mutex::new(None),
            kill: tokio::sync::Notify::new(),
            startup: Mutex::new(None),
        }
    }

    fn lock_startup(&self) -> std::sync::MutexGuard<'_, Option<StartupRequest>> {
        self.startup.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves once the connection must be closed at once: its client stopped reading
    /// a subscription and fell too far behind, so not even an error can reach it.
    pub(crate) async fn killed(&self) {
        self.kill.notified().await
    }

    /// A ParameterStatus that repeats a value the client already has: sent to an idle
    /// subscriber, so that a connection whose client went away fails a write and ends.
    fn keepalive(&self) -> ParameterStatus {
        let reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        let value = reported
            .get("application_name")
            .cloned()
            .unwrap_or_default();
        ParameterStatus::new("application_name".to_string(), value)
    }

    /// The session's time zone as last reported to the client (`TimeZone`): the zone
    /// text results are printed and text parameters read in. A query string that sets
    /// it has its results printed in the zone it set.
    fn zone(&self) -> TimeZone {
        let reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        reported
            .get("TimeZone")
            .and_then(|value| TimeZone::from_setting(value))
            .map_or(TimeZone::UTC, |(zone, _)| zone)
    }

    /// The ParameterStatus messages for a new session: every parameter of
    /// [`PARAMETERS`] (from the backend where it knows it) and `application_name`.
    async fn initial_parameters(
        &self,
        application_name: &str,
    ) -> PgWireResult<Vec<ParameterStatus>> {
        let handle = self.handle()?;
        let mut values = BTreeMap::new();
        for (name, default) in PARAMETERS {
            let value = if FIXED_PARAMETERS.contains(name) {
                None
            } else {
                self.backend.session_var(handle, name).await
            };
            values.insert(
                name.to_string(),
                value.unwrap_or_else(|| default.to_string()),
            );
        }
        values.insert("application_name".into(), application_name.into());
        let statuses = values
            .iter()
            .map(|(name, value)| ParameterStatus::new(name.clone(), value.clone()))
            .collect();
        *self.reported.lock().unwrap_or_else(|e| e.into_inner()) = values;
        Ok(statuses)
    }

    /// ParameterStatus messages for the reported parameters whose value changed (after
    /// SET or RESET), as Postgres sends for its `GUC_REPORT` variables.
    async fn changed_parameters(&self) -> PgWireResult<Vec<ParameterStatus>> {
        let handle = self.handle()?;
        let names = PARAMETERS
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !FIXED_PARAMETERS.contains(name))
            .chain(["application_name"]);
        let mut current = Vec::new();
        for name in names {
            if let Some(value) = self.backend.session_var(handle, name).await {
                current.push((name, value));
            }
        }
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        let mut statuses = Vec::new();
        for (name, value) in current {
            if reported.get(name) != Some(&value) {
                reported.insert(name.to_string(), value.clone());
                statuses.push(ParameterStatus::new(name.to_string(), value));
            }
        }
        Ok(statuses)
    }

    /// Sends ParameterStatus for the changed parameters if one of the command `tags` may
    /// have changed them.
    async fn report_changes<C>(&self, client: &mut C, tags: &[&str]) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !tags.iter().any(|tag| changes_parameters(tag)) {
            return Ok(());
        }
        for status in self.changed_parameters().await? {
            client
                .feed(PgWireBackendMessage::ParameterStatus(status))
                .await?;
        }
        Ok(())
    }

    /// The session handle, once the connection has started up (which `pgwire`
    /// guarantees before any query message is dispatched).
    fn handle(&self) -> PgWireResult<&SessionHandle> {
        self.handle
            .get()
            .ok_or_else(|| user_error(SqlState::PROTOCOL_VIOLATION, "query message before startup"))
    }

    /// Takes the handle for closing and the pid of its cancel key; `None` if startup
    /// never opened a session.
    pub(crate) fn into_handle(self) -> (Option<SessionHandle>, Option<i32>) {
        (self.handle.into_inner(), self.pid.into_inner())
    }

    /// Parses and describes a statement for Parse. `type_oids` are the client's
    /// declared parameter types, 0 where it left the choice to the server.
    async fn prepare(&self, sql: &str, type_oids: &[u32]) -> PgWireResult<Prepared<B::Prepared>> {
        if type_oids.is_empty() {
            if let Some(deallocate) = deallocate::parse(sql) {
                return Ok(Prepared {
                    statement: None,
                    desc: StatementDesc {
                        param_types: Vec::new(),
                        result: None,
                    },
                    params: Vec::new(),
                    deallocate: Some(deallocate),
                });
            }
        }
        let declared = type_oids
            .iter()
            .map(|&oid| match oid {
                // Unspecified, or `unknown`: the server infers the type.
                0 | 705 => Ok(None),
                oid => format::scalar_type_from_oid(oid).map(Some).ok_or_else(|| {
                    let name = Type::from_oid(oid)
                        .map(|t| t.name().to_string())
                        .unwrap_or_else(|| format!("with OID {oid}"));
                    user_error(
                        SqlState::FEATURE_NOT_SUPPORTED,
                        format!("parameter type {name} is not supported"),
                    )
                }),
            })
            .collect::<PgWireResult<Vec<_>>>()?;
        let statement = self
            .backend
            .prepare(self.handle()?, sql, &declared)
            .await
            .map_err(adapter_error)?;
        Ok(Prepared {
            desc: B::prepared_desc(&statement).clone(),
            statement: Some(statement),
            params: Vec::new(),
            deallocate: None,
        })
    }

    /// Runs a `DEALLOCATE` against the connection's statement store.
    fn deallocate<S: PortalStore>(
        &self,
        status: TransactionStatus,
        store: &S,
        deallocate: &Deallocate,
    ) -> Result<ExecuteResponse, SqlError> {
        if status == TransactionStatus::Error {
            return Err(SqlError::new(
                SqlState::IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        let mut named = self
            .named_statements
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match deallocate {
            Deallocate::All => {
                for name in std::mem::take(&mut *named) {
                    store.rm_statement(&name);
                }
            }
            Deallocate::Name(name) => {
                // The unnamed statement is stored under DEFAULT_NAME; SQL cannot name it.
                if name == DEFAULT_NAME || store.get_statement(name).is_none() {
                    return Err(SqlError::new(
                        SqlState::INVALID_SQL_STATEMENT_NAME,
                        format!("prepared statement \"{name}\" does not exist"),
                    ));
                }
                store.rm_statement(name);
                named.remove(name);
            }
        }
        Ok(ExecuteResponse::Command {
            tag: deallocate.tag().to_string(),
        })
    }
}

/// A prepared statement: the backend's parsed statement `P` and its description,
/// and, once bound into a portal, its parameters. A `DEALLOCATE` runs here, not in the
/// backend: it has `deallocate` set and no `statement`.
#[derive(Clone, Debug)]
pub(crate) struct Prepared<P> {
    statement: Option<P>,
    desc: StatementDesc,
    params: Vec<Datum>,
    deallocate: Option<Deallocate>,
}

/// The handlers of one connection. Cheap to clone: all state is shared.
pub(crate) struct Handler<B> {
    session: Arc<Session<B>>,
    parser: Arc<Parser<B>>,
    keys: Arc<CancelKeys>,
    connections: Arc<ConnectionConfig>,
}

impl<B> Clone for Handler<B> {
    fn clone(&self) -> Self {
        Handler {
            session: Arc::clone(&self.session),
            parser: Arc::clone(&self.parser),
            keys: Arc::clone(&self.keys),
            connections: Arc::clone(&self.connections),
        }
    }
}

impl<B: Backend> Handler<B> {
    pub(crate) fn new(
        session: Arc<Session<B>>,
        keys: Arc<CancelKeys>,
        connections: Arc<ConnectionConfig>,
    ) -> Self {
        Handler {
            parser: Arc::new(Parser {
                session: Arc::clone(&session),
            }),
            session,
            keys,
            connections,
        }
    }

    fn backend(&self) -> &B {
        &self.session.backend
    }
}

/// What a startup message asks for, kept while the client authenticates.
struct StartupRequest {
    user: String,
    database: String,
    application_name: String,
    vars: Vec<(String, String)>,
}

impl StartupRequest {
    fn new(parameters: &BTreeMap<String, String>) -> PgWireResult<StartupRequest> {
        let user = match parameters.get("user") {
            Some(user) if !user.is_empty() => user.clone(),
            _ => {
                return Err(fatal_error(
                    SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                    "no PostgreSQL user name specified in startup packet",
                ))
            }
        };
        let database = parameters
            .get("database")
            .filter(|db| !db.is_empty())
            .cloned()
            .unwrap_or_else(|| user.clone());
        let application_name = parameters
            .get("application_name")
            .cloned()
            .unwrap_or_default();
        Ok(StartupRequest {
            user,
            database,
            application_name,
            vars: startup_vars(parameters),
        })
    }
}

/// Startup: the startup message, then (with passwords) the SASL exchange, then the
/// session is opened and the client told so. Trust authentication opens it at once.
#[async_trait]
impl<B: Backend> StartupHandler for Handler<B> {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(startup) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                let request = StartupRequest::new(&startup.parameters)?;
                if self.connections.plain == PlainConnections::Refused && !client.is_secure() {
                    return Err(no_encryption(&request));
                }
                let Some(authenticator) = &self.connections.authenticator else {
                    return self.start_session(client, request, None).await;
                };
                let mechanism = authenticator.mechanism(&*client);
                let begun = authenticator
                    .driver
                    .begin_authentication(client, mechanism)
                    .await;
                match begun.map_err(|e| authentication_error(e, &request))? {
                    AuthOutcome::InProgress => {
                        *self.session.lock_startup() = Some(request);
                        Ok(())
                    }
                    AuthOutcome::Authenticated { final_message, .. } => {
                        self.start_session(client, request, final_message).await
                    }
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(password) => {
                let (Some(authenticator), Some(request)) = (
                    &self.connections.authenticator,
                    self.session.lock_startup().take(),
                ) else {
                    return Err(fatal_error(
                        SqlState::PROTOCOL_VIOLATION,
                        "unexpected password message",
                    ));
                };
                let advanced = authenticator
                    .driver
                    .advance_authentication(client, password)
                    .await;
                match advanced.map_err(|e| authentication_error(e, &request))? {
                    AuthOutcome::InProgress => {
                        *self.session.lock_startup() = Some(request);
                        Ok(())
                    }
                    AuthOutcome::Authenticated { final_message, .. } => {
                        self.start_session(client, request, final_message).await
                    }
                }
            }
            _ => Err(fatal_error(
                SqlState::PROTOCOL_VIOLATION,
                "expected a startup message during authentication",
            )),
        }
    }
}

impl<B: Backend> Handler<B> {
    /// Opens the backend session of an authenticated client and sends the end of
    /// the startup: `final_message` (SCRAM's server signature), AuthenticationOk, the
    /// parameters, the cancel key and ReadyForQuery.
    async fn start_session<C>(
        &self,
        client: &mut C,
        request: StartupRequest,
        final_message: Option<Authentication>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let StartupRequest {
            user,
            database,
            application_name,
            vars,
        } = request;
        let handle = self
            .backend()
            .open_session(&user, &database, vars)
            .await
            .map_err(|e| PgWireError::UserError(Box::new(error_info(e, SEVERITY_FATAL))))?;
        if let Err(handle) = self.session.handle.set(handle) {
            // Only reachable if pgwire dispatched a second startup message.
            self.backend().close_session(handle).await;
            return Err(fatal_error(
                SqlState::PROTOCOL_VIOLATION,
                "duplicate startup message",
            ));
        }
        let statuses = self.session.initial_parameters(&application_name).await?;

        let session_id = self.session.handle()?.id;
        let (pid, secret_key) = self.keys.register(&*client, session_id);
        let _ = self.session.pid.set(pid);
        client.set_pid_and_secret_key(pid, secret_key.clone());
        debug!(
            pid,
            user,
            database,
            application_name,
            secure = client.is_secure(),
            "session started"
        );

        if let Some(message) = final_message {
            client
                .feed(PgWireBackendMessage::Authentication(message))
                .await?;
        }
        client
            .feed(PgWireBackendMessage::Authentication(Authentication::Ok))
            .await?;
        for status in statuses {
            client
                .feed(PgWireBackendMessage::ParameterStatus(status))
                .await?;
        }
        client
            .feed(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
                pid, secret_key,
            )))
            .await?;
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                TransactionStatus::Idle,
            )))
            .await?;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        Ok(())
    }
}

/// A failed authentication as Postgres reports it: a wrong password (or a user that
/// does not exist) is FATAL 28P01 naming the user of the startup message; a malformed
/// exchange keeps `pgwire`'s code (08P01), as FATAL.
fn authentication_error(err: PgWireError, request: &StartupRequest) -> PgWireError {
    match err {
        PgWireError::InvalidPassword(_) => {
            info!(user = request.user, "password authentication failed");
            fatal_error(
                SqlState::INVALID_PASSWORD,
                format!(
                    "password authentication failed for user \"{}\"",
                    request.user
                ),
            )
        }
        PgWireError::UserError(_) => err,
        other => {
            info!(user = request.user, error = %other, "authentication failed");
            let sqlstate =
                SqlState::from_code(other.code()).unwrap_or(SqlState::PROTOCOL_VIOLATION);
            fatal_error(sqlstate, other.to_string())
        }
    }
}

/// The FATAL error of a plain connection to a server that takes only TLS ones.
fn no_encryption(request: &StartupRequest) -> PgWireError {
    let mut info = fatal_info(
        SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
        format!(
            "connection for user \"{}\", database \"{}\" refused: no encryption",
            request.user, request.database
        ),
    );
    info.hint =
        Some("This server accepts only TLS connections: connect with sslmode=require.".into());
    PgWireError::UserError(Box::new(info))
}

#[async_trait]
impl<B: Backend> SimpleQueryHandler for Handler<B> {
    /// As `pgwire`'s own `on_query`, except that a subscription's rows are flushed to
    /// the client as each time completes (`pgwire` flushes a response only at its end,
    /// and a subscription has none).
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let mut status = client.transaction_status();
        client.set_state(PgWireConnectionState::QueryInProgress);
        if is_empty_query(&query.query) {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
        } else {
            for reply in self.simple_replies(client, &query.query).await? {
                status = match reply {
                    Reply::Response(response) => send_response(client, response, status).await?,
                    Reply::CopyIn(copy) => {
                        // The data comes next; the CopyHandler answers at CopyDone.
                        let columns = copy.types.len();
                        let format = copy_wire_format(&copy.format);
                        self.session.start_copy(copy);
                        client
                            .send(PgWireBackendMessage::CopyInResponse(CopyInResponse::new(
                                format,
                                i16::try_from(columns).unwrap_or(i16::MAX),
                                vec![i16::from(format); columns],
                            )))
                            .await?;
                        client.set_state(PgWireConnectionState::CopyInProgress(false));
                        client.set_transaction_status(status);
                        return Ok(());
                    }
                    Reply::CopyOut { desc, rows, format } => {
                        send_copy_out(client, &desc, rows, &format).await?;
                        status
                    }
                    Reply::Subscribe(subscription) => {
                        let err = self
                            .stream_subscription(client, subscription, &Format::UnifiedText, true)
                            .await?;
                        let info = error_info(err, SEVERITY_ERROR);
                        client
                            .feed(PgWireBackendMessage::ErrorResponse(info.into()))
                            .await?;
                        status.to_error_state()
                    }
                };
            }
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        send_ready_for_query(client, status).await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let replies = self.simple_replies(client, query).await?;
        let zone = self.session.zone();
        Ok(replies
            .into_iter()
            .map(|reply| match reply {
                Reply::Response(response) => response,
                Reply::Subscribe(subscription) => {
                    subscription_response(subscription, Format::UnifiedText, zone)
                }
                Reply::CopyIn(_) => Response::Error(Box::new(error_info(
                    SqlError::unsupported("COPY FROM STDIN here"),
                    SEVERITY_ERROR,
                ))),
                Reply::CopyOut { desc, rows, format } => copy_out_response(&desc, rows, &format),
            })
            .collect())
    }
}

/// What one statement of a query string answers: a response `pgwire` sends, or a
/// subscription this module streams.
enum Reply {
    Response(Response),
    Subscribe(Subscription),
    /// A `COPY ... FROM STDIN` waiting for its data (the last reply).
    CopyIn(CopyIn),
    /// The rows of a `COPY ... TO STDOUT`, sent as COPY data with an exact tag.
    CopyOut {
        desc: eddy_repr::RelationDesc,
        rows: Vec<Row>,
        format: eddy_repr::copy::CopyFormat,
    },
}

impl<B: Backend> Handler<B> {
    /// Runs a simple-protocol query string: `DEALLOCATE` here, everything else in the
    /// backend; one reply per statement run.
    async fn simple_replies<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Reply>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(deallocate) = deallocate::parse(query) {
            let status = client.transaction_status();
            let response = match self
                .session
                .deallocate(status, client.portal_store(), &deallocate)
            {
                Ok(response) => to_response(response, Format::UnifiedText, &TimeZone::UTC),
                Err(err) => Response::Error(Box::new(error_info(err, SEVERITY_ERROR))),
            };
            return Ok(vec![Reply::Response(response)]);
        }
        // Rows print in the zone in force when their statement ran: the zone before
        // the string until a statement that may change it, the zone after the string
        // from then on (exact unless one string changes the zone twice with rows in
        // between).
        let zone_before = self.session.zone();
        let results = self
            .backend()
            .execute_simple(self.session.handle()?, query)
            .await;
        let tags: Vec<&str> = results
            .iter()
            .filter_map(|r| match r {
                Ok(ExecuteResponse::Command { tag }) => Some(tag.as_str()),
                _ => None,
            })
            .collect();
        self.session.report_changes(client, &tags).await?;
        let zone_after = self.session.zone();
        let mut zone = zone_before;
        let mut replies = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Ok(ExecuteResponse::Subscribe(subscription)) => {
                    // Nothing runs after a subscription.
                    replies.push(Reply::Subscribe(subscription));
                    break;
                }
                Ok(ExecuteResponse::CopyIn(copy)) => {
                    replies.push(Reply::CopyIn(copy));
                    break;
                }
                Ok(ExecuteResponse::CopyOut { desc, rows, format }) => {
                    replies.push(Reply::CopyOut { desc, rows, format });
                }
                Ok(response) => {
                    if let ExecuteResponse::Command { tag } = &response {
                        if changes_parameters(tag) {
                            zone = zone_after;
                        }
                    }
                    replies.push(Reply::Response(to_response(
                        response,
                        Format::UnifiedText,
                        &zone,
                    )));
                }
                Err(err) => {
                    // The backend stops at the first error; stop here too in case a
                    // backend does not.
                    replies.push(Reply::Response(Response::Error(Box::new(error_info(
                        err,
                        SEVERITY_ERROR,
                    )))));
                    break;
                }
            }
        }
        Ok(replies)
    }

    /// Sends a subscription's rows as each time completes, flushed per time: first its
    /// RowDescription (if `describe`, as the simple protocol wants) or, for
    /// `COPY (SUBSCRIBE ...)`, a CopyOutResponse; then DataRows in `formats` or COPY
    /// text lines. Returns the error that ended it, for the caller to send. An idle
    /// subscription sends a keepalive every [`SUBSCRIBE_KEEPALIVE`], so that a client
    /// that went away is noticed. A client that stopped reading and fell too far
    /// behind cannot be told: its connection is closed.
    async fn stream_subscription<C>(
        &self,
        client: &mut C,
        mut subscription: Subscription,
        formats: &Format,
        describe: bool,
    ) -> PgWireResult<SqlError>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let desc = subscription.desc().clone();
        let types: Vec<ScalarType> = desc.types.iter().map(|t| t.scalar_type).collect();
        let output = subscription.output();
        let zone = self.session.zone();
        let header = match output {
            SubscribeOutput::Rows => describe.then(|| {
                let fields = format::field_infos(desc.names.iter().zip(types.iter()), formats);
                PgWireBackendMessage::RowDescription(RowDescription::new(
                    fields.iter().map(Into::into).collect(),
                ))
            }),
            SubscribeOutput::CopyText => {
                let columns = i16::try_from(types.len()).unwrap_or(i16::MAX);
                Some(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
                    0,
                    columns,
                    vec![0; types.len()],
                )))
            }
        };
        let fell_behind = subscription.fell_behind();
        tokio::pin!(fell_behind);
        self.write_or_close(client, header.into_iter().collect(), &mut fell_behind)
            .await?;
        let mut keepalive = tokio::time::interval(SUBSCRIBE_KEEPALIVE);
        keepalive.reset();
        loop {
            let next = tokio::select! {
                biased;
                () = fell_behind.as_mut() => {
                    info!("a subscriber stopped reading and fell behind; closing its connection");
                    self.session.kill.notify_one();
                    return Err(fatal_error(
                        SqlState::OUT_OF_MEMORY,
                        "subscribe dropped: the client fell behind",
                    ));
                }
                next = subscription.next() => next,
                _ = keepalive.tick() => {
                    let status = PgWireBackendMessage::ParameterStatus(self.session.keepalive());
                    self.write_or_close(client, vec![status], &mut fell_behind).await?;
                    continue;
                }
            };
            let rows = match next {
                Some(Ok(rows)) => rows,
                Some(Err(err)) => return Ok(err),
                None => return Ok(SqlError::internal("the subscription ended")),
            };
            let messages = rows
                .iter()
                .map(|row| match output {
                    SubscribeOutput::Rows => format::encode_row(row, &types, formats, &zone)
                        .map(PgWireBackendMessage::DataRow),
                    SubscribeOutput::CopyText => format::encode_copy_text(row, &types, &zone)
                        .map(|line| PgWireBackendMessage::CopyData(CopyData::new(line.into()))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    user_error(
                        SqlState::INTERNAL_ERROR,
                        format!("could not send result row: {e}"),
                    )
                })?;
            self.write_or_close(client, messages, &mut fell_behind)
                .await?;
            keepalive.reset();
        }
    }

    /// Writes `messages` and flushes them, unless the subscription's client falls too
    /// far behind while the write waits: then the connection is closed (see
    /// [`Session::killed`]) and the statement fails.
    async fn write_or_close<C, F>(
        &self,
        client: &mut C,
        messages: Vec<PgWireBackendMessage>,
        fell_behind: &mut std::pin::Pin<&mut F>,
    ) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
        F: std::future::Future<Output = ()>,
    {
        let write = async {
            for message in messages {
                client.feed(message).await?;
            }
            client.flush().await?;
            Ok::<_, PgWireError>(())
        };
        // Falling behind wins over a write that became possible at the same moment (a
        // client that starts reading only now must still find its connection closed).
        tokio::select! {
            biased;
            () = fell_behind.as_mut() => {
                info!("a subscriber stopped reading and fell behind; closing its connection");
                self.session.kill.notify_one();
                Err(fatal_error(
                    SqlState::OUT_OF_MEMORY,
                    "subscribe dropped: the client fell behind",
                ))
            }
            written = write => written,
        }
    }
}

/// How long a subscription with no changes waits before it sends a keepalive.
const SUBSCRIBE_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(2);

/// Sends one response of a simple query as `pgwire` would; returns the transaction
/// status after it.
async fn send_response<C>(
    client: &mut C,
    response: Response,
    status: TransactionStatus,
) -> PgWireResult<TransactionStatus>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    Ok(match response {
        Response::EmptyQuery => {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
            status
        }
        Response::Query(results) => {
            send_query_response(client, results, true).await?;
            status
        }
        Response::Execution(tag) => {
            send_execution_response(client, tag).await?;
            status
        }
        Response::TransactionStart(tag) => {
            send_execution_response(client, tag).await?;
            status.to_in_transaction_state()
        }
        Response::TransactionEnd(tag) => {
            send_execution_response(client, tag).await?;
            status.to_idle_state()
        }
        Response::Error(e) => {
            client
                .feed(PgWireBackendMessage::ErrorResponse((*e).into()))
                .await?;
            status.to_error_state()
        }
        Response::CopyOut(result) => {
            send_copy_out_response(client, result).await?;
            status
        }
        Response::CopyIn(_) | Response::CopyBoth(_) => {
            return Err(user_error(
                SqlState::FEATURE_NOT_SUPPORTED,
                "COPY FROM STDIN is supported only as its statement's last response",
            ))
        }
    })
}

/// The pgwire query parser. Parse is handled by [`Handler::on_parse`] (which sees the
/// raw type OIDs); this serves pgwire's default Describe paths and any other caller.
pub(crate) struct Parser<B> {
    session: Arc<Session<B>>,
}

#[async_trait]
impl<B: Backend> QueryParser for Parser<B> {
    type Statement = Prepared<B::Prepared>;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared<B::Prepared>>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let oids: Vec<u32> = types
            .iter()
            .map(|t| t.as_ref().map_or(0, Type::oid))
            .collect();
        self.session.prepare(sql, &oids).await.map(Some)
    }

    fn get_parameter_types(&self, stmt: &Prepared<B::Prepared>) -> PgWireResult<Vec<Type>> {
        Ok(stmt.desc.param_types.iter().map(format::pg_type).collect())
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared<B::Prepared>,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(result_fields(
            &stmt.desc,
            column_format.unwrap_or(&Format::UnifiedText),
        ))
    }
}

#[async_trait]
impl<B: Backend> ExtendedQueryHandler for Handler<B> {
    type Statement = Prepared<B::Prepared>;
    type QueryParser = Parser<B>;

    fn query_parser(&self) -> Arc<Parser<B>> {
        Arc::clone(&self.parser)
    }

    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        if message.name.is_some() && client.portal_store().get_statement(name).is_some() {
            return Err(user_error(
                SqlState::DUPLICATE_PREPARED_STATEMENT,
                format!("prepared statement \"{name}\" already exists"),
            ));
        }
        if is_empty_query(&message.query) {
            client.portal_store().put_empty_statement(name);
        } else {
            let prepared = self
                .session
                .prepare(&message.query, &message.type_oids)
                .await?;
            if message.name.is_some() {
                self.session
                    .named_statements
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.to_string());
            }
            let declared = message
                .type_oids
                .iter()
                .map(|&oid| Type::from_oid(oid))
                .collect();
            client
                .portal_store()
                .put_statement(Arc::new(StoredStatement::new(
                    name.to_string(),
                    prepared,
                    declared,
                )));
        }
        client
            .feed(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement_name = message.statement_name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal_name = message.portal_name.as_deref().unwrap_or(DEFAULT_NAME);
        if message.portal_name.is_some() && client.portal_store().get_portal(portal_name).is_some()
        {
            return Err(user_error(
                SqlState::DUPLICATE_CURSOR,
                format!("cursor \"{portal_name}\" already exists"),
            ));
        }
        match client.portal_store().get_statement(statement_name) {
            Some(Entry::Value(statement)) => {
                let params = bind_params(&message, &statement.statement, &self.session.zone())?;
                let bound = StoredStatement::new(
                    statement.id.clone(),
                    Prepared {
                        params,
                        ..statement.statement.clone()
                    },
                    statement.parameter_types.clone(),
                );
                let portal = Portal::try_new(&message, Arc::new(bound))?;
                client.portal_store().put_portal(Arc::new(portal));
            }
            Some(Entry::Empty) => {
                check_formats(&message, 0, 0)?;
                if !message.parameters.is_empty() {
                    return Err(user_error(
                        SqlState::PROTOCOL_VIOLATION,
                        format!(
                            "bind message supplies {} parameters, but prepared statement \"{}\" requires 0",
                            message.parameters.len(),
                            display_name(message.statement_name.as_deref()),
                        ),
                    ));
                }
                client.portal_store().put_empty_portal(portal_name);
            }
            None => return Err(statement_not_found(message.statement_name.as_deref())),
        }
        client
            .feed(PgWireBackendMessage::BindComplete(BindComplete::new()))
            .await?;
        Ok(())
    }

    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let (params, result) = match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => match client.portal_store().get_statement(name) {
                Some(Entry::Value(stmt)) => {
                    let desc = &stmt.statement.desc;
                    let params = desc.param_types.iter().map(ScalarType::oid).collect();
                    (Some(params), description(desc, &Format::UnifiedText))
                }
                Some(Entry::Empty) => (Some(Vec::new()), None),
                None => return Err(statement_not_found(message.name.as_deref())),
            },
            TARGET_TYPE_BYTE_PORTAL => match client.portal_store().get_portal(name) {
                Some(Entry::Value(portal)) => (
                    None,
                    description(
                        &portal.statement.statement.desc,
                        &portal.result_column_format,
                    ),
                ),
                Some(Entry::Empty) => (None, None),
                None => {
                    return Err(user_error(
                        SqlState::INVALID_CURSOR_NAME,
                        format!(
                            "portal \"{}\" does not exist",
                            message.name.as_deref().unwrap_or("")
                        ),
                    ))
                }
            },
            other => {
                return Err(user_error(
                    SqlState::PROTOCOL_VIOLATION,
                    format!("invalid DESCRIBE message subtype {other}"),
                ))
            }
        };
        if let Some(params) = params {
            client
                .feed(PgWireBackendMessage::ParameterDescription(
                    ParameterDescription::new(params),
                ))
                .await?;
        }
        match result {
            Some(desc) => {
                client
                    .feed(PgWireBackendMessage::RowDescription(desc))
                    .await?
            }
            None => {
                client
                    .feed(PgWireBackendMessage::NoData(NoData::new()))
                    .await?
            }
        }
        Ok(())
    }

    /// As `pgwire`'s own `on_execute`, except that a subscription executed without a
    /// row limit (as drivers stream a query) has its rows flushed as each time
    /// completes. With a row limit it runs through the portal like any query: each
    /// Execute waits for that many rows.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal = match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal)) if message.max_rows == 0 => portal,
            _ => return self._on_execute(client, message).await,
        };
        let prepared = &portal.statement.statement;
        let Some(statement) = prepared
            .statement
            .as_ref()
            .filter(|s| B::prepared_is_subscribe(s))
        else {
            return self._on_execute(client, message).await;
        };
        if !matches!(*portal.state().lock().await, PortalExecutionState::Initial) {
            return self._on_execute(client, message).await;
        }
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        *portal.state().lock().await = PortalExecutionState::Finished;
        let response = self
            .backend()
            .execute_prepared(self.session.handle()?, statement, prepared.params.clone())
            .await
            .map_err(adapter_error)?;
        let ExecuteResponse::Subscribe(subscription) = response else {
            return Err(user_error(
                SqlState::INTERNAL_ERROR,
                "a prepared SUBSCRIBE did not start a subscription",
            ));
        };
        let err = self
            .stream_subscription(client, subscription, &portal.result_column_format, false)
            .await?;
        Err(adapter_error(err))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared<B::Prepared>>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let Some(statement) = &prepared.statement else {
            let deallocate = prepared
                .deallocate
                .as_ref()
                .expect("a statement without a backend statement is a DEALLOCATE");
            let status = client.transaction_status();
            let response = self
                .session
                .deallocate(status, client.portal_store(), deallocate)
                .map_err(adapter_error)?;
            return Ok(to_response(response, Format::UnifiedText, &TimeZone::UTC));
        };
        let response = self
            .backend()
            .execute_prepared(self.session.handle()?, statement, prepared.params.clone())
            .await
            .map_err(adapter_error)?;
        if let ExecuteResponse::Command { tag } = &response {
            self.session.report_changes(client, &[tag]).await?;
        }
        if let ExecuteResponse::CopyIn(copy) = response {
            let columns = copy.types.len();
            let format = copy_wire_format(&copy.format);
            self.session.start_copy(copy);
            return Ok(Response::CopyIn(CopyResponse::new(
                format,
                columns,
                stream::empty(),
            )));
        }
        Ok(to_response(
            response,
            portal.result_column_format.clone(),
            &self.session.zone(),
        ))
    }
}

impl<B: Backend> Session<B> {
    fn start_copy(&self, copy: CopyIn) {
        *self.copy_in.lock().unwrap_or_else(|e| e.into_inner()) = Some(PendingCopy::new(copy));
    }

    fn take_copy(&self) -> Option<PendingCopy> {
        self.copy_in
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// COPY data after a `COPY ... FROM STDIN`: decoded as it arrives, then written by
/// the backend as one statement at CopyDone; CopyFail drops it. A bad line is
/// reported at CopyDone (Postgres reports it at once); the data after it is ignored.
#[async_trait]
impl<B: Backend> CopyHandler for Handler<B> {
    async fn on_copy_data<C>(&self, _client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut pending = self
            .session
            .copy_in
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(pending) = pending.as_mut() {
            pending.push(&copy_data.data);
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(pending) = self.session.take_copy() else {
            return Err(user_error(
                SqlState::PROTOCOL_VIOLATION,
                "CopyDone without a COPY FROM STDIN",
            ));
        };
        let response = self
            .backend()
            .copy_from(self.session.handle()?, pending.finish())
            .await
            .map_err(adapter_error)?;
        let tag = response.tag();
        client
            .send(PgWireBackendMessage::CommandComplete(Tag::new(&tag).into()))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, _client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (Some(pending), Ok(handle)) = (self.session.take_copy(), self.session.handle()) else {
            return user_error(
                SqlState::QUERY_CANCELED,
                format!("COPY from stdin failed: {}", fail.message),
            );
        };
        adapter_error(
            self.backend()
                .copy_fail(handle, pending.load.copy(), &fail.message)
                .await,
        )
    }
}

#[async_trait]
impl<B: Backend> CancelHandler for Handler<B> {
    async fn on_cancel_request(&self, request: CancelRequest) {
        cancel(&self.keys, self.backend(), &request).await;
    }
}

/// Cancels the statement that the session addressed by `request` is running, if the
/// request's key matches (see `cancel.rs`).
pub(crate) async fn cancel<B: Backend>(keys: &CancelKeys, backend: &B, request: &CancelRequest) {
    match keys.session_for(request.pid, &request.secret_key) {
        Some(session) => {
            info!(pid = request.pid, session, "cancel request");
            backend.cancel(session).await;
        }
        None => info!(
            pid = request.pid,
            "cancel request with an unknown key ignored"
        ),
    }
}

impl<B: Backend> ErrorHandler for Handler<B> {
    fn on_error<C>(&self, client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        let (pid, _) = client.pid_and_secret_key();
        debug!(pid, code = error.code(), %error, "statement failed");
    }
}

/// Rows as a query response whose tag is `command` and the row count.
fn query_response(
    desc: &eddy_repr::RelationDesc,
    rows: Vec<Row>,
    formats: Format,
    zone: TimeZone,
    command: &str,
) -> QueryResponse {
    let fields = format::field_infos(
        desc.names
            .iter()
            .zip(desc.types.iter().map(|t| &t.scalar_type)),
        &formats,
    );
    let types: Vec<ScalarType> = desc.types.iter().map(|t| t.scalar_type).collect();
    let data_rows = stream::iter(rows).map(move |row| {
        format::encode_row(&row, &types, &formats, &zone).map_err(|e| {
            user_error(
                SqlState::INTERNAL_ERROR,
                format!("could not send result row: {e}"),
            )
        })
    });
    let mut response = QueryResponse::new(Arc::new(fields), data_rows);
    response.set_command_tag(command);
    response
}

/// A backend response as a pgwire response. Rows are encoded lazily, one DataRow at a
/// time, in the given result formats.
fn to_response(response: ExecuteResponse, formats: Format, zone: &TimeZone) -> Response {
    match response {
        ExecuteResponse::Rows { desc, rows } => {
            Response::Query(query_response(&desc, rows, formats, *zone, "SELECT"))
        }
        ExecuteResponse::Returning {
            desc,
            rows,
            command,
        } => Response::Query(query_response(&desc, rows, formats, *zone, &command)),
        ExecuteResponse::Command { tag } => {
            let pg_tag = Tag::new(&tag);
            match tag.as_str() {
                "BEGIN" | "START TRANSACTION" => Response::TransactionStart(pg_tag),
                "COMMIT" | "ROLLBACK" => Response::TransactionEnd(pg_tag),
                _ => Response::Execution(pg_tag),
            }
        }
        ExecuteResponse::EmptyQuery => Response::EmptyQuery,
        ExecuteResponse::Subscribe(subscription) => {
            subscription_response(subscription, formats, *zone)
        }
        ExecuteResponse::CopyIn(_) => Response::Error(Box::new(error_info(
            SqlError::internal("COPY FROM STDIN answered as a result"),
            SEVERITY_ERROR,
        ))),
        ExecuteResponse::CopyOut { desc, rows, format } => copy_out_response(&desc, rows, &format),
    }
}

/// Sends the rows of `COPY ... TO STDOUT` (simple protocol): CopyOutResponse, one
/// CopyData per line (a CSV header first), CopyDone and `COPY n`.
async fn send_copy_out<C>(
    client: &mut C,
    desc: &eddy_repr::RelationDesc,
    rows: Vec<Row>,
    format: &eddy_repr::copy::CopyFormat,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let types: Vec<ScalarType> = desc.types.iter().map(|t| t.scalar_type).collect();
    let columns = i16::try_from(types.len()).unwrap_or(i16::MAX);
    let wire = copy_wire_format(format);
    client
        .feed(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            wire,
            columns,
            vec![i16::from(wire); types.len()],
        )))
        .await?;
    let n = rows.len();
    for chunk in copy_out_chunks(desc, rows, format) {
        client
            .feed(PgWireBackendMessage::CopyData(CopyData::new(
                chunk.map_err(adapter_error)?.into(),
            )))
            .await?;
    }
    client
        .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    let tag = Tag::new("COPY").with_rows(n);
    client
        .feed(PgWireBackendMessage::CommandComplete(tag.into()))
        .await?;
    Ok(())
}

/// The rows of `COPY ... TO STDOUT` as COPY data, one message per row (the extended
/// protocol, where `pgwire` sends them). A CSV header
/// goes in the first row's message, so that `pgwire` (which counts messages) tags the
/// statement with the number of rows.
fn copy_out_response(
    desc: &eddy_repr::RelationDesc,
    rows: Vec<Row>,
    format: &eddy_repr::copy::CopyFormat,
) -> Response {
    let columns = desc.types.len();
    let data: Vec<PgWireResult<CopyData>> = copy_out_chunks(desc, rows, format)
        .into_iter()
        .map(|chunk| {
            chunk
                .map(|bytes| CopyData::new(bytes.into()))
                .map_err(adapter_error)
        })
        .collect();
    Response::CopyOut(CopyResponse::new(
        copy_wire_format(format),
        columns,
        stream::iter(data),
    ))
}

/// The overall format code of a COPY's CopyIn/CopyOutResponse: 1 for binary.
fn copy_wire_format(format: &eddy_repr::copy::CopyFormat) -> i8 {
    i8::from(format.kind == eddy_repr::copy::CopyFormatKind::Binary)
}

/// The CopyData payloads of `COPY ... TO STDOUT`: a line per row (a CSV header
/// first), or in binary the header, a tuple per row and the trailer.
fn copy_out_chunks(
    desc: &eddy_repr::RelationDesc,
    rows: Vec<Row>,
    format: &eddy_repr::copy::CopyFormat,
) -> Vec<Result<Vec<u8>, SqlError>> {
    let types: Vec<ScalarType> = desc.types.iter().map(|t| t.scalar_type).collect();
    let mut chunks = Vec::with_capacity(rows.len() + 2);
    match format.kind {
        eddy_repr::copy::CopyFormatKind::Binary => {
            // As Postgres sends it (and psycopg reads it): the header in the first
            // tuple's message, the trailer in a message of its own.
            let mut header = Some(crate::binary_copy::header());
            for row in &rows {
                chunks.push(crate::binary_copy::encode_row(row, &types).map(|tuple| {
                    let mut chunk = header.take().unwrap_or_default();
                    chunk.extend(tuple);
                    chunk
                }));
            }
            let mut last = header.take().unwrap_or_default();
            last.extend(crate::binary_copy::trailer());
            chunks.push(Ok(last));
        }
        kind => {
            if format.header && kind == eddy_repr::copy::CopyFormatKind::Csv {
                chunks.push(Ok(eddy_repr::copy::encode_header(format, &desc.names)));
            }
            chunks.extend(
                rows.iter()
                    .map(|row| Ok(eddy_repr::copy::encode(format, &row.unpack(), &types))),
            );
        }
    }
    chunks
}

/// A subscription as a `pgwire` response whose rows (or COPY data) are produced as
/// the subscription goes, ending with its error. `pgwire` flushes them only when its
/// buffer fills or the response ends, so this serves only an Execute with a row limit,
/// where the client waits for that many rows anyway; otherwise subscriptions are
/// streamed by `Handler::stream_subscription`.
fn subscription_response(subscription: Subscription, formats: Format, zone: TimeZone) -> Response {
    let desc = subscription.desc().clone();
    let types: Vec<ScalarType> = desc.types.iter().map(|t| t.scalar_type).collect();
    let output = subscription.output();
    let columns = types.len();
    let rows = stream::unfold(Some(subscription), |subscription| async move {
        let mut subscription = subscription?;
        let next = subscription.next().await?;
        Some((next, Some(subscription)))
    })
    .flat_map(|next| {
        let items: Vec<Result<Row, SqlError>> = match next {
            Ok(rows) => rows.into_iter().map(Ok).collect(),
            Err(err) => vec![Err(err)],
        };
        stream::iter(items)
    });
    match output {
        SubscribeOutput::Rows => {
            let fields = format::field_infos(desc.names.iter().zip(types.iter()), &formats);
            let data_rows = rows.map(move |row| {
                let row = row.map_err(adapter_error)?;
                format::encode_row(&row, &types, &formats, &zone).map_err(|e| {
                    user_error(
                        SqlState::INTERNAL_ERROR,
                        format!("could not send result row: {e}"),
                    )
                })
            });
            Response::Query(QueryResponse::new(Arc::new(fields), data_rows))
        }
        SubscribeOutput::CopyText => {
            let data = rows.map(move |row| {
                let row = row.map_err(adapter_error)?;
                let line = format::encode_copy_text(&row, &types, &zone).map_err(|e| {
                    user_error(
                        SqlState::INTERNAL_ERROR,
                        format!("could not send result row: {e}"),
                    )
                })?;
                Ok(CopyData::new(line.into()))
            });
            Response::CopyOut(CopyResponse::new(0, columns, data))
        }
    }
}

/// The RowDescription of a statement's result, `None` for statements without rows.
fn description(desc: &StatementDesc, formats: &Format) -> Option<RowDescription> {
    desc.result.as_ref()?;
    Some(RowDescription::new(
        result_fields(desc, formats)
            .iter()
            .map(Into::into)
            .collect(),
    ))
}

fn result_fields(desc: &StatementDesc, formats: &Format) -> Vec<FieldInfo> {
    match &desc.result {
        Some(result) => format::field_infos(
            result
                .names
                .iter()
                .zip(result.types.iter().map(|t| &t.scalar_type)),
            formats,
        ),
        None => Vec::new(),
    }
}

/// Validates a Bind's format codes against the statement's parameter and result
/// column counts (each list may be empty, one code for all, or one code per item).
fn check_formats(bind: &Bind, nparams: usize, ncolumns: usize) -> PgWireResult<()> {
    let nformats = bind.parameter_format_codes.len();
    if nformats > 1 && nformats != nparams {
        return Err(user_error(
            SqlState::PROTOCOL_VIOLATION,
            format!("bind message has {nformats} parameter formats but {nparams} parameters"),
        ));
    }
    let nresult = bind.result_column_format_codes.len();
    if nresult > 1 && nresult != ncolumns {
        return Err(user_error(
            SqlState::PROTOCOL_VIOLATION,
            format!("bind message has {nresult} result formats but query has {ncolumns} columns"),
        ));
    }
    for &code in bind
        .parameter_format_codes
        .iter()
        .chain(&bind.result_column_format_codes)
    {
        if code != 0 && code != 1 {
            return Err(user_error(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("unsupported format code: {code}"),
            ));
        }
    }
    Ok(())
}

/// Decodes a Bind's parameters into datums of the statement's parameter types.
fn bind_params<P>(
    bind: &Bind,
    prepared: &Prepared<P>,
    zone: &TimeZone,
) -> PgWireResult<Vec<Datum>> {
    let types = &prepared.desc.param_types;
    let ncolumns = prepared.desc.result.as_ref().map_or(0, |r| r.arity());
    check_formats(bind, types.len(), ncolumns)?;
    if bind.parameters.len() != types.len() {
        return Err(user_error(
            SqlState::PROTOCOL_VIOLATION,
            format!(
                "bind message supplies {} parameters, but prepared statement \"{}\" requires {}",
                bind.parameters.len(),
                display_name(bind.statement_name.as_deref()),
                types.len()
            ),
        ));
    }
    let formats = &bind.parameter_format_codes;
    bind.parameters
        .iter()
        .zip(types)
        .enumerate()
        .map(|(idx, (value, typ))| {
            let Some(bytes) = value else {
                return Ok(Datum::Null);
            };
            let code = match formats.len() {
                0 => 0,
                1 => formats[0],
                _ => formats[idx],
            };
            let decoded = if code == 1 {
                format::decode_binary(bytes, typ)
            } else {
                format::decode_text(bytes, typ, zone)
            };
            decoded.map_err(|e| param_error(idx + 1, e))
        })
        .collect()
}

fn param_error(position: usize, err: DecodeError) -> PgWireError {
    match err {
        DecodeError::Binary(reason) => adapter_error(
            SqlError::new(
                SqlState::INVALID_BINARY_REPRESENTATION,
                format!("incorrect binary data format in bind parameter {position}"),
            )
            .with_detail(reason),
        ),
        DecodeError::Text(err) => {
            let mut adapter = SqlError::new(err.sqlstate(), err.message);
            adapter.detail = err.detail;
            adapter_error(adapter)
        }
        other => user_error(other.sqlstate(), other.to_string()),
    }
}

/// Whether a command with this tag may change a reported parameter.
fn changes_parameters(tag: &str) -> bool {
    matches!(tag, "SET" | "RESET" | "DISCARD ALL")
}

/// Postgres' test for an empty query: nothing but whitespace and semicolons.
fn is_empty_query(sql: &str) -> bool {
    sql.chars().all(|c| c == ';' || c.is_whitespace())
}

fn display_name(name: Option<&str>) -> &str {
    name.unwrap_or("")
}

fn statement_not_found(name: Option<&str>) -> PgWireError {
    let message = match name {
        Some(name) => format!("prepared statement \"{name}\" does not exist"),
        None => "unnamed prepared statement does not exist".to_string(),
    };
    user_error(SqlState::INVALID_SQL_STATEMENT_NAME, message)
}

/// An adapter error as a pgwire error with Postgres' fields.
fn error_info(err: SqlError, severity: &str) -> ErrorInfo {
    let mut info = ErrorInfo::new(
        severity.into(),
        err.sqlstate.code().to_string(),
        err.message,
    );
    info.severity_nonlocalized = Some(severity.into());
    info.detail = err.detail;
    info.hint = err.hint;
    info.position = err.position.map(|p| p.to_string());
    info
}

fn adapter_error(err: SqlError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(err, SEVERITY_ERROR)))
}

fn user_error(sqlstate: SqlState, message: impl Into<String>) -> PgWireError {
    adapter_error(SqlError::new(sqlstate, message))
}

fn fatal_error(sqlstate: SqlState, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(
        SqlError::new(sqlstate, message),
        SEVERITY_FATAL,
    )))
}

/// A FATAL error that ends the connection.
pub(crate) fn fatal_info(sqlstate: SqlState, message: impl Into<String>) -> ErrorInfo {
    error_info(SqlError::new(sqlstate, message), SEVERITY_FATAL)
}

/// The FATAL error a client gets when the server is at its connection limit.
pub(crate) fn too_many_clients() -> ErrorInfo {
    fatal_info(
        SqlState::TOO_MANY_CONNECTIONS,
        "sorry, too many clients already",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use eddy_repr::RelationDesc;

    fn prepared(param_types: Vec<ScalarType>, ncolumns: usize) -> Prepared<()> {
        let mut result = RelationDesc::empty();
        for i in 0..ncolumns {
            result = result.with_column(format!("c{i}"), ScalarType::Int32.nullable(true));
        }
        Prepared {
            statement: Some(()),
            desc: StatementDesc {
                param_types,
                result: Some(result),
            },
            params: vec![],
            deallocate: None,
        }
    }

    fn bind(formats: Vec<i16>, params: Vec<Option<&'static [u8]>>, results: Vec<i16>) -> Bind {
        Bind::new(
            None,
            Some("s".into()),
            formats,
            params
                .into_iter()
                .map(|p| p.map(Bytes::from_static))
                .collect(),
            results,
        )
    }

    fn code(err: PgWireError) -> String {
        err.code().to_string()
    }

    #[test]
    fn bind_decodes_binary_and_nulls() {
        let stmt = prepared(vec![ScalarType::Int32, ScalarType::Int64], 1);
        let params = bind_params(
            &bind(vec![1], vec![Some(&[0, 0, 0, 5]), None], vec![1]),
            &stmt,
            &TimeZone::UTC,
        )
        .unwrap();
        assert_eq!(params, vec![Datum::Int32(5), Datum::Null]);
    }

    #[test]
    fn bind_rejects_bad_counts_and_codes() {
        let stmt = prepared(vec![ScalarType::Int32], 2);
        let ok_param: Vec<Option<&'static [u8]>> = vec![Some(&[0, 0, 0, 1])];
        // Wrong number of parameters.
        let err = bind_params(&bind(vec![1], vec![], vec![]), &stmt, &TimeZone::UTC).unwrap_err();
        assert_eq!(code(err), "08P01");
        // Two parameter formats for one parameter.
        let err = bind_params(
            &bind(vec![1, 1], ok_param.clone(), vec![]),
            &stmt,
            &TimeZone::UTC,
        )
        .unwrap_err();
        assert_eq!(code(err), "08P01");
        // Three result formats for two columns.
        let err = bind_params(
            &bind(vec![1], ok_param.clone(), vec![0, 1, 0]),
            &stmt,
            &TimeZone::UTC,
        )
        .unwrap_err();
        assert_eq!(code(err), "08P01");
        // Format code 2.
        let err = bind_params(
            &bind(vec![2], ok_param.clone(), vec![]),
            &stmt,
            &TimeZone::UTC,
        )
        .unwrap_err();
        assert_eq!(code(err), "22023");
        // Short and malformed binary.
        let err = bind_params(
            &bind(vec![1], vec![Some(&[1])], vec![]),
            &stmt,
            &TimeZone::UTC,
        )
        .unwrap_err();
        assert_eq!(code(err), "08P01");
        let err = bind_params(
            &bind(vec![1], vec![Some(&[0, 0, 0, 0, 1])], vec![]),
            &stmt,
            &TimeZone::UTC,
        )
        .unwrap_err();
        assert_eq!(code(err), "22P03");
        // One code per column is fine.
        bind_params(&bind(vec![1], ok_param, vec![0, 1]), &stmt, &TimeZone::UTC).unwrap();
    }

    #[test]
    fn transaction_tags_drive_status() {
        let response = |tag: &str| {
            to_response(
                ExecuteResponse::Command { tag: tag.into() },
                Format::UnifiedText,
                &TimeZone::UTC,
            )
        };
        assert!(matches!(response("BEGIN"), Response::TransactionStart(_)));
        assert!(matches!(
            response("START TRANSACTION"),
            Response::TransactionStart(_)
        ));
        assert!(matches!(response("COMMIT"), Response::TransactionEnd(_)));
        assert!(matches!(response("ROLLBACK"), Response::TransactionEnd(_)));
        assert!(matches!(response("INSERT 0 1"), Response::Execution(_)));
    }

    #[test]
    fn empty_queries() {
        assert!(is_empty_query(""));
        assert!(is_empty_query(" ; ;\n"));
        assert!(!is_empty_query("select 1"));
    }

    #[test]
    fn text_parameters_are_read_in_the_session_zone() {
        let stmt = prepared(vec![ScalarType::TimestampTz], 0);
        let berlin = TimeZone::from_name("Europe/Berlin").unwrap();
        let text: Option<&'static [u8]> = Some(b"2024-07-01 12:00:00");
        let params = bind_params(&bind(vec![0], vec![text], vec![]), &stmt, &berlin).unwrap();
        let Datum::TimestampTz(ts) = params[0] else {
            panic!("{params:?}")
        };
        assert_eq!(ts.to_rfc3339(), "2024-07-01T10:00:00+00:00");
        // An explicit offset wins.
        let text: Option<&'static [u8]> = Some(b"2024-07-01 12:00:00+00");
        let params = bind_params(&bind(vec![0], vec![text], vec![]), &stmt, &berlin).unwrap();
        let Datum::TimestampTz(ts) = params[0] else {
            panic!("{params:?}")
        };
        assert_eq!(ts.to_rfc3339(), "2024-07-01T12:00:00+00:00");
    }

    #[test]
    fn startup_vars_come_from_parameters_and_options() {
        let params = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let tz = |v: &str| vec![("timezone".to_string(), v.to_string())];
        assert_eq!(
            startup_vars(&params(&[("TimeZone", "Europe/Berlin"), ("user", "u")])),
            tz("Europe/Berlin")
        );
        assert_eq!(
            startup_vars(&params(&[(
                "options",
                "-c TimeZone=Asia/Tokyo -c geqo=off"
            )])),
            tz("Asia/Tokyo")
        );
        assert_eq!(
            startup_vars(&params(&[("options", "--timezone=America/New\\ York")])),
            tz("America/New York")
        );
        assert_eq!(
            startup_vars(&params(&[
                ("options", "-ctimezone=UTC"),
                ("timezone", "GMT")
            ])),
            tz("GMT")
        );
        assert!(startup_vars(&params(&[("DateStyle", "ISO")])).is_empty());
    }
}
