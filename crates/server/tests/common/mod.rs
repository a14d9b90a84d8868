//! Shared by the server's integration tests: which binary to run and how to start it.
//!
//! The tests run `env!("CARGO_BIN_EXE_eddy")` unless `EDDY_TEST_BINARY` names another
//! binary with the same command line (for example a release build, or an older version
//! to compare against).

#![allow(dead_code)]

use std::path::PathBuf;

use eddy_testkit::{Eddy, EddyConfig};

/// The server binary under test.
pub fn eddy_binary() -> PathBuf {
    match std::env::var_os("EDDY_TEST_BINARY") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_eddy")),
    }
}

/// The config for a server with `workers` workers and a temporary data directory.
pub fn config(workers: usize) -> EddyConfig {
    EddyConfig::new(eddy_binary()).workers(workers)
}

/// Starts a server with `workers` workers and a temporary data directory.
pub fn start_eddy(workers: usize) -> Eddy {
    Eddy::start(config(workers)).unwrap_or_else(|e| panic!("starting eddy: {e:#}"))
}

/// Formats a client error with its SQLSTATE, detail and hint, for assertion messages.
pub fn describe_error(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => {
            let mut text = format!(
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            );
            if let Some(detail) = db.detail() {
                text.push_str(&format!("\nDETAIL: {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("\nHINT: {hint}"));
            }
            text
        }
        None => err.to_string(),
    }
}
