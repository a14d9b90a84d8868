//! The Postgres wire protocol front end of Eddy: `psql` and drivers connect here.
//!
//! Architecture invariant: this is the only crate that speaks the Postgres wire
//! protocol. It turns protocol messages into calls on a [`Backend`] (the coordinator's
//! session API, [`eddy_coord::Client`] in production) and backend results into protocol
//! messages. It knows no SQL: statements are passed through as text, and their meaning,
//! types and errors come from the backend. The one exception is `DEALLOCATE`, which
//! drops prepared statements, and those live here (see `deallocate`).
//!
//! Modules:
//! - [`server`]: the accept loop, the connection limit, each connection's message loop
//!   (with the idle timeouts) and shutdown.
//! - `protocol`: one connection's startup, simple and extended query handling, on the
//!   handler traits of the `pgwire` crate.
//! - `auth`: password authentication (SCRAM-SHA-256) and the [`Passwords`] it checks.
//! - `tls`: the [`Tls`] certificate and key connections are served with.
//! - `format`: datums in the text and binary wire formats, row descriptions.
//! - `deallocate`: recognizing `DEALLOCATE [PREPARE] { name | ALL }`.
//! - [`backend`]: the [`Backend`] trait.
//!
//! Semantics in brief: trust authentication (any user and database) or SCRAM-SHA-256
//! passwords ([`Auth`]); TLS when a certificate is configured (SSLRequest answered `S`),
//! else SSLRequest and GSSENCRequest are answered `N`; results in text (simple query)
//! or in the formats a Bind asks for, ParameterStatus at startup and after SET/RESET,
//! cancel requests (the running statement of the session the key names stops with
//! 57014).

mod auth;
pub mod backend;
mod binary_copy;
mod cancel;
mod deallocate;
mod format;
mod protocol;
pub mod server;
mod tls;

pub use auth::{PasswordFileError, Passwords};
pub use backend::Backend;
pub use protocol::PARAMETERS;
pub use server::{serve, serve_with_shutdown, Auth, PgwireConfig, PlainConnections};
pub use tls::{Tls, TlsError};
