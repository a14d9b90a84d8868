//! The accept loop: one tokio task per connection, a bound on concurrent connections,
//! and an orderly shutdown.
//!
//! Invariants:
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

use futures::{FutureExt, SinkExt, StreamExt};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::process_socket;
use pgwire::tokio::server::negotiate_tls;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn, Instrument};

use crate::backend::Backend;
use crate::cancel::CancelKeys;
use crate::protocol::{too_many_clients, Handler, Session};

/// Server settings.
#[derive(Clone, Debug)]
pub struct PgwireConfig {
    /// Connections served at once; further clients get SQLSTATE 53300.
    pub max_connections: usize,
    /// Rejections (53300 answers) in flight at once; sockets beyond are dropped.
    pub max_rejecting: usize,
    /// How long a rejected client may take to send its startup message.
    pub reject_timeout: Duration,
}

impl Default for PgwireConfig {
    fn default() -> Self {
        PgwireConfig {
            max_connections: 100,
            max_rejecting: 16,
            reject_timeout: Duration::from_secs(5),
        }
    }
}

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
    info!(%local_addr, max_connections = config.max_connections, "pgwire listening");
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
                    let stop = stop_rx.clone();
                    tasks.spawn(
                        async move {
                            run_connection(stream, backend, keys, stop).await;
                            drop(permit);
                        }
                        .instrument(span),
                    );
                } else if let Ok(permit) = Arc::clone(&reject_permits).try_acquire_owned() {
                    info!(%peer, "rejecting connection: too many clients");
                    let timeout = config.reject_timeout;
                    let (backend, keys) = (Arc::clone(&backend), Arc::clone(&keys));
                    tasks.spawn(async move {
                        let rejected = reject(stream, &*backend, &keys);
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
    mut stop: watch::Receiver<bool>,
) {
    let session = Arc::new(Session::new(Arc::clone(&backend)));
    let handler = Handler::new(Arc::clone(&session), Arc::clone(&keys));
    // A panic in the message loop must still close the session below.
    let served = AssertUnwindSafe(process_socket(stream, None, handler)).catch_unwind();
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

/// Answers a connection past the limit: refuses SSL, reads the startup message and
/// replies FATAL 53300. A cancel request is served as on any connection: cancelling
/// is what a client does when the server is too busy.
async fn reject<B: Backend>(stream: TcpStream, backend: &B, keys: &CancelKeys) {
    let Ok(Some(mut socket)) = negotiate_tls::<()>(stream, None).await else {
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
