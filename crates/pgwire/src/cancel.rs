//! Cancel requests: the backend key data each connection gets at startup, and the
//! registry that turns a `CancelRequest` (sent on a new connection, as psql's Ctrl-C
//! and drivers' `cancel()` do) into a cancel of the right session's running statement.
//!
//! Invariants:
//! - A cancel takes effect only with the pid *and* secret key the server gave that
//!   connection; a wrong key is ignored, as Postgres does (no error is sent either way).
//! - A connection's entry lives from its startup until it closes, so a cancel never
//!   reaches a session that a later connection reuses.

use std::collections::HashMap;
use std::sync::Mutex;

use pgwire::api::{ClientInfo, PidSecretKeyGenerator, RandomPidSecretKeyGenerator};
use pgwire::messages::startup::SecretKey;

/// Hands out backend key data and remembers which session each pid belongs to.
#[derive(Default)]
pub(crate) struct CancelKeys {
    generator: RandomPidSecretKeyGenerator,
    /// pid -> (secret key bytes, session id).
    sessions: Mutex<HashMap<i32, (Vec<u8>, u64)>>,
}

impl CancelKeys {
    /// New key data for a connection whose session is `session`.
    pub(crate) fn register(&self, client: &dyn ClientInfo, session: u64) -> (i32, SecretKey) {
        let (pid, secret) = self.generator.generate(client);
        self.lock().insert(pid, (key_bytes(&secret), session));
        (pid, secret)
    }

    /// Forgets a connection's key data when it closes.
    pub(crate) fn unregister(&self, pid: i32) {
        self.lock().remove(&pid);
    }

    /// The session a cancel request addresses, if its key matches.
    pub(crate) fn session_for(&self, pid: i32, secret: &SecretKey) -> Option<u64> {
        match self.lock().get(&pid) {
            Some((expected, session)) if *expected == key_bytes(secret) => Some(*session),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, (Vec<u8>, u64)>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A key as the wire carries it: a cancel request's key arrives as bytes whatever the
/// protocol version, while startup sends protocol 3.0 clients an `i32`.
fn key_bytes(key: &SecretKey) -> Vec<u8> {
    match key {
        SecretKey::I32(n) => n.to_be_bytes().to_vec(),
        SecretKey::Bytes(bytes) => bytes.to_vec(),
    }
}
