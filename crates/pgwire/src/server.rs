//! The accept loop: one tokio task per connection, a bound on concurrent connections,
//! and an orderly shutdown; and each connection's message loop.
//!
//! Invariants:
//! - No backend session is opened before the client has authenticated (see
//!   `protocol.rs`'s startup); a failed login never reaches the backend.
//! - A client has [`STARTUP_TIMEOUT`] from connecting to finishing its startup (TLS
//!   handshake and authentication included), then it is disconnected.
//! - A session that waits for its client's next command longer than its idle timeout
//!   (outside or inside a transaction block) gets FATAL 57P05 or 25P03 and is closed.
//!   Idle means that ReadyForQuery was the last message sent: a running statement, a
//!   subscription, a COPY or an extended-query pipeline before its Sync is not idle.
//! - At most [`PgwireConfig::max_connections`] connections hold a session at once. A
//!   connection past the limit is answered, after its startup message, with FATAL
//!   `sorry, too many clients already` (SQLSTATE 53300) and closed; it never reaches
//!   the backend. At most [`PgwireConfig::max_rejecting`] such answers are in flight;
//!   beyond that, extra sockets are closed at once.
//! - Every session a connection opened is closed (`Backend::close_session`) when the
//!   connection ends, however it ends: Terminate, a dropped socket, a protocol error, or
//!   shutdown. One connection's failure never touches another's task.
//! - On shutdown the listener stops accepting, every connection is interrupted (an
//!   in-flight statement is abandoned) and its session closed, and `serve` returns once
//!   all connection tasks have finished.

use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use eddy_repr::SqlState;
use futures::{FutureExt, SinkExt, StreamExt};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState};
use pgwire::error::ErrorInfo;
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use pgwire::tokio::TlsAcceptor;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn, Instrument};

use crate::auth::{Authenticator, Passwords};
use crate::backend::Backend;
use crate::cancel::CancelKeys;
use crate::protocol::{fatal_info, too_many_clients, Handler, Prepared, Session};
use crate::tls::Tls;

/// Server settings.
#[derive(Clone, Debug)]
pub struct PgwireConfig {
    /// Connections served at once; further clients get SQLSTATE 53300.
    pub max_connections: usize,
    /// Rejections (53300 answers) in flight at once; sockets beyond are dropped.
    pub max_rejecting: usize,
    /// How long a rejected client may take to send its startup message.
    pub reject_timeout: Duration,
    /// How a client proves who it is.
    pub auth: Auth,
    /// TLS for clients that ask for it (SSLRequest); `None` answers them `N`.
    pub tls: Option<Tls>,
    /// Who may connect without TLS.
    pub plain: PlainConnections,
    /// Close a session that has waited this long for its client's next command
    /// outside a transaction block (Postgres' `idle_session_timeout`).
    pub idle_session_timeout: Option<Duration>,
    /// Close a session that has waited this long for its client's next command inside
    /// a transaction block (Postgres' `idle_in_transaction_session_timeout`).
    pub idle_in_transaction_session_timeout: Option<Duration>,
}

impl PgwireConfig {
    /// The default of [`PgwireConfig::max_connections`].
    pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
}

impl Default for PgwireConfig {
    fn default() -> Self {
        PgwireConfig {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_rejecting: 16,
            reject_timeout: Duration::from_secs(5),
            auth: Auth::Trust,
            tls: None,
            plain: PlainConnections::Allowed,
            idle_session_timeout: None,
            idle_in_transaction_session_timeout: None,
        }
    }
}

/// How a client proves who it is.
#[derive(Clone, Debug)]
pub enum Auth {
    /// Any user name is accepted without a password (`trust` in `pg_hba.conf`).
    Trust,
    /// SCRAM-SHA-256 with one of these passwords (`scram-sha-256`).
    Password(Arc<Passwords>),
}

/// Whether a connection without TLS may log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainConnections {
    Allowed,
    /// Only TLS connections log in (`hostssl` in `pg_hba.conf`); a plain one gets
    /// FATAL 28000 after its startup message.
    Refused,
}

/// How long a client may take from connecting to its first command (TLS handshake,
/// startup message and authentication), as `pgwire`'s own loop and Postgres'
/// `authentication_timeout` (one minute).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Pause after a failed `accept` (for example out of file descriptors), so that a
/// persistent failure does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves Postgres clients on `listener` until the process ends.
pub async fn serve<B: Backend>(
    listener: TcpListener,
    backend: Arc<B>,
    config: PgwireConfig,
) -> io::Result<()> {
    serve_with_shutdown(listener, backend, config, std::future::pending()).await
}

/// Serves Postgres clients on `listener` until `shutdown` completes, then closes every
/// connection (and its session) and returns.
pub async fn serve_with_shutdown<B: Backend>(
    listener: TcpListener,
    backend: Arc<B>,
    config: PgwireConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let local_addr = listener.local_addr()?;
    let connections = Arc::new(ConnectionConfig::new(&config)?);
    info!(
        %local_addr,
        max_connections = config.max_connections,
        password = matches!(config.auth, Auth::Password(_)),
        tls = config.tls.is_some(),
        "pgwire listening"
    );
    let permits = |n: usize| Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS)));
    let connection_permits = permits(config.max_connections);
    let reject_permits = permits(config.max_rejecting);
    let keys = Arc::new(CancelKeys::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => log_join(joined),
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        warn!(%err, "pgwire accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                if let Ok(permit) = Arc::clone(&connection_permits).try_acquire_owned() {
                    let span = tracing::info_span!("pgwire_connection", %peer);
                    let backend = Arc::clone(&backend);
                    let keys = Arc::clone(&keys);
                    let connections = Arc::clone(&connections);
                    let stop = stop_rx.clone();
                    tasks.spawn(
                        async move {
                            run_connection(stream, backend, keys, connections, stop).await;
                            drop(permit);
                        }
                        .instrument(span),
                    );
                } else if let Ok(permit) = Arc::clone(&reject_permits).try_acquire_owned() {
                    info!(%peer, "rejecting connection: too many clients");
                    let timeout = config.reject_timeout;
                    let (backend, keys) = (Arc::clone(&backend), Arc::clone(&keys));
                    let tls = connections.tls.clone();
                    tasks.spawn(async move {
                        let rejected = reject(stream, tls, &*backend, &keys);
                        if tokio::time::timeout(timeout, rejected).await.is_err() {
                            debug!(%peer, "rejected client sent no startup message in time");
                        }
                        drop(permit);
                    });
                } else {
                    warn!(%peer, "dropping connection: too many clients and rejections");
                }
            }
        }
    }

    info!(%local_addr, connections = tasks.len(), "pgwire shutting down");
    // Ignore the error: it only means no connection task is left to listen.
    let _ = stop_tx.send(true);
    while let Some(joined) = tasks.join_next().await {
        log_join(joined);
    }
    Ok(())
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(err) = joined {
        error!(%err, "pgwire connection task failed");
    }
}

/// Runs one connection to its end, then closes its session.
async fn run_connection<B: Backend>(
    stream: TcpStream,
    backend: Arc<B>,
    keys: Arc<CancelKeys>,
    connections: Arc<ConnectionConfig>,
    mut stop: watch::Receiver<bool>,
) {
    let session = Arc::new(Session::new(Arc::clone(&backend)));
    let handler = Handler::new(
        Arc::clone(&session),
        Arc::clone(&keys),
        Arc::clone(&connections),
    );
    // A panic in the message loop must still close the session below.
    let served = AssertUnwindSafe(serve_socket(stream, handler, &connections)).catch_unwind();
    tokio::select! {
        result = served => match result {
            Ok(Ok(())) => debug!("connection closed"),
            Ok(Err(err)) => debug!(%err, "connection closed with an error"),
            Err(_) => error!("connection handler panicked; connection closed"),
        },
        _ = stop.wait_for(|stopped| *stopped) => debug!("connection closed by shutdown"),
        () = session.killed() => info!("connection closed: its client stopped reading"),
    }
    // The handler (and every clone of the session it held) was dropped with the
    // message loop above, so this is the last reference.
    match Arc::into_inner(session) {
        Some(session) => {
            let (handle, pid) = session.into_handle();
            if let Some(pid) = pid {
                keys.unregister(pid);
            }
            if let Some(handle) = handle {
                backend.close_session(handle).await;
            }
        }
        None => error!("session still referenced after its connection ended; not closed"),
    }
}

/// The message loop of one connection: TLS negotiation, then each message to its
/// handler until Terminate, a FATAL error, the end of the socket, the startup timeout
/// or an idle timeout. As `pgwire::tokio::process_socket`, plus the idle timeouts.
async fn serve_socket<B: Backend>(
    stream: TcpStream,
    handler: Handler<B>,
    connections: &ConnectionConfig,
) -> io::Result<()> {
    let startup_deadline = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_deadline);
    let negotiated = tokio::select! {
        () = &mut startup_deadline => return Ok(()),
        negotiated = negotiate_tls::<Prepared<B::Prepared>>(stream, connections.tls.clone()) => negotiated?,
    };
    // `None`: a direct TLS handshake without TLS configured.
    let Some(mut socket) = negotiated else {
        return Ok(());
    };
    // One handler serves every kind of message.
    let handler = Arc::new(handler);

    // Whether the client is inside an extended-query pipeline (a Parse, Bind, Execute,
    // ... not yet followed by Sync): no ReadyForQuery has been sent, so the session is
    // not idle, as in Postgres, even while it waits for the next message.
    let mut in_pipeline = false;
    loop {
        let message = match socket.state() {
            PgWireConnectionState::AwaitingStartup
            | PgWireConnectionState::AuthenticationInProgress => tokio::select! {
                () = &mut startup_deadline => None,
                message = socket.next() => message,
            },
            PgWireConnectionState::ReadyForQuery if !in_pipeline => {
                match connections.idle_timeout(socket.transaction_status()) {
                    Some((timeout, reason)) => {
                        match tokio::time::timeout(timeout, socket.next()).await {
                            Ok(message) => message,
                            Err(_) => {
                                let timeout_ms =
                                    u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
                                info!(timeout_ms, "{}", reason.message);
                                let message = PgWireBackendMessage::ErrorResponse(reason.into());
                                socket.send(message).await?;
                                break;
                            }
                        }
                    }
                    None => socket.next().await,
                }
            }
            _ => socket.next().await,
        };
        let Some(Ok(message)) = message else {
            break;
        };
        // The client is going away: close at once (some clients wait for it).
        if matches!(message, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        let is_extended_query = match socket.state() {
            PgWireConnectionState::CopyInProgress(is_extended_query) => is_extended_query,
            _ => message.is_extended_query(),
        };
        in_pipeline = match &message {
            PgWireFrontendMessage::Sync(_) | PgWireFrontendMessage::Query(_) => false,
            message if message.is_extended_query() => true,
            _ => in_pipeline,
        };
        // `process_message` closes a CancelRequest's dedicated connection.
        let is_cancel_request = matches!(message, PgWireFrontendMessage::CancelRequest(_));
        if let Err(mut err) = process_message(
            message,
            &mut socket,
            Arc::clone(&handler),
            Arc::clone(&handler),
            Arc::clone(&handler),
            Arc::clone(&handler),
            Arc::clone(&handler),
        )
        .await
        {
            handler.on_error(&socket, &mut err);
            let is_fatal = err.is_fatal();
            process_error(&mut socket, err, is_extended_query).await?;
            // A FATAL error ends the session, as in Postgres.
            if is_fatal {
                break;
            }
        }
        if is_cancel_request {
            break;
        }
    }
    Ok(())
}

/// Answers a connection past the limit: refuses SSL, reads the startup message and
/// replies FATAL 53300. A cancel request is served as on any connection: cancelling
/// is what a client does when the server is too busy.
async fn reject<B: Backend>(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    backend: &B,
    keys: &CancelKeys,
) {
    let Ok(Some(mut socket)) = negotiate_tls::<()>(stream, tls).await else {
        return;
    };
    match socket.next().await {
        Some(Ok(PgWireFrontendMessage::Startup(_))) => {
            let message = PgWireBackendMessage::ErrorResponse(too_many_clients().into());
            if let Err(err) = socket.send(message).await {
                debug!(%err, "could not send too-many-clients error");
            }
        }
        Some(Ok(PgWireFrontendMessage::CancelRequest(request))) => {
            crate::protocol::cancel(keys, backend, &request).await;
        }
        _ => {}
    }
    let _ = socket.close().await;
}

/// What every connection of one server shares: TLS, authentication and the idle
/// timeouts, built once from the [`PgwireConfig`].
pub(crate) struct ConnectionConfig {
    pub(crate) tls: Option<TlsAcceptor>,
    /// `None`: trust.
    pub(crate) authenticator: Option<Authenticator>,
    pub(crate) plain: PlainConnections,
    idle_session_timeout: Option<Duration>,
    idle_in_transaction_session_timeout: Option<Duration>,
}

impl ConnectionConfig {
    fn new(config: &PgwireConfig) -> io::Result<ConnectionConfig> {
        let authenticator = match &config.auth {
            Auth::Trust => None,
            Auth::Password(passwords) => {
                let cert_pem = config.tls.as_ref().map(|tls| &*tls.cert_pem);
                let authenticator = Authenticator::new(Arc::clone(passwords), cert_pem)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
                Some(authenticator)
            }
        };
        Ok(ConnectionConfig {
            tls: config.tls.as_ref().map(|tls| tls.acceptor.clone()),
            authenticator,
            plain: config.plain,
            idle_session_timeout: config.idle_session_timeout.filter(|t| !t.is_zero()),
            idle_in_transaction_session_timeout: config
                .idle_in_transaction_session_timeout
                .filter(|t| !t.is_zero()),
        })
    }

    /// How long a session in `status` may wait for its client's next command, and the
    /// FATAL error it gets when that time has passed.
    fn idle_timeout(&self, status: TransactionStatus) -> Option<(Duration, ErrorInfo)> {
        match status {
            TransactionStatus::Idle => self.idle_session_timeout.map(|timeout| {
                let error = fatal_info(
                    SqlState::IDLE_SESSION_TIMEOUT,
                    "terminating connection due to idle-session timeout",
                );
                (timeout, error)
            }),
            TransactionStatus::Transaction | TransactionStatus::Error => {
                self.idle_in_transaction_session_timeout.map(|timeout| {
                    let error = fatal_info(
                        SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
                        "terminating connection due to idle-in-transaction timeout",
                    );
                    (timeout, error)
                })
            }
        }
    }
}
