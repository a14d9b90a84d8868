//! Per-connection state the coordinator keeps: variables and the open transaction.
//!
//! Invariant: a session's variables only ever hold names from [`DEFAULT_VARS`] (plus
//! `session_authorization`), so SHOW answers every name SET accepted.

use std::collections::BTreeMap;
use std::sync::Arc;

use eddy_repr::zone::TimeZone;

use crate::txn::TxnState;

/// Session variables with their defaults, as `SHOW` prints them. Drivers read several
/// of these at start-up; `SET` of a name not listed here is an error, as in Postgres.
pub const DEFAULT_VARS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("client_min_messages", "notice"),
    ("datestyle", "ISO, MDY"),
    ("default_table_access_method", "heap"),
    ("default_transaction_isolation", "serializable"),
    ("default_transaction_read_only", "off"),
    ("extra_float_digits", "1"),
    ("integer_datetimes", "on"),
    ("intervalstyle", "postgres"),
    ("is_superuser", "off"),
    ("lc_collate", "C"),
    ("lc_ctype", "C"),
    ("lc_messages", "C"),
    ("lc_monetary", "C"),
    ("lc_numeric", "C"),
    ("lc_time", "C"),
    ("max_identifier_length", "63"),
    // Compile-time limits of Postgres that drivers read (pgjdbc's foreign-key metadata
    // reads max_index_keys).
    ("max_index_keys", "32"),
    ("max_function_args", "100"),
    ("block_size", "8192"),
    // The rounds a WITH RECURSIVE query may take (`eddy_sql::MAX_RECURSION_DEFAULT`).
    ("max_recursion", "10000"),
    ("search_path", "public"),
    ("server_encoding", "UTF8"),
    ("server_version", "15.0"),
    ("server_version_num", "150000"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("timezone", "UTC"),
    ("transaction_isolation", "serializable"),
    ("transaction_read_only", "off"),
    ("bytea_output", "hex"),
    ("idle_in_transaction_session_timeout", "0"),
    ("lock_timeout", "0"),
    ("synchronous_commit", "on"),
    ("join_collapse_limit", "8"),
    ("row_security", "on"),
    ("xmloption", "content"),
    ("geqo", "on"),
    ("jit", "off"),
    ("work_mem", "4MB"),
    ("cluster", "default"),
];

/// Variables a client may not change.
pub const READ_ONLY_VARS: &[&str] = &[
    "server_version",
    "server_version_num",
    "server_encoding",
    "integer_datetimes",
    "is_superuser",
    "lc_collate",
    "lc_ctype",
    "max_identifier_length",
    "max_index_keys",
    "max_function_args",
    "block_size",
];

#[derive(Debug)]
pub struct Session {
    pub user: String,
    pub database: String,
    /// Shared with every statement's plan context; SET copies on write.
    pub vars: Arc<BTreeMap<String, String>>,
    /// The variables as the startup message left them (its `TimeZone`, the defaults
    /// for the rest): what `RESET` and `SET ... TO DEFAULT` go back to, as in
    /// Postgres.
    pub startup_vars: BTreeMap<String, String>,
    pub txn: TxnState,
    /// The rows the chunks of a `COPY ... FROM STDIN` sent so far, and its load's
    /// number (see `copy_load.rs`): written at its last command, dropped if it fails.
    pub copy_staged: Option<(u64, Vec<(eddy_repr::Row, eddy_repr::Diff)>)>,
}

impl Session {
    /// `statement_timeout`: how long a statement's reads may run (`None`: no limit).
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        self.vars
            .get("statement_timeout")
            .and_then(|v| crate::cancel::parse_timeout(v))
            .flatten()
    }

    /// The session's `TimeZone` (UTC if the variable somehow names no zone: SET
    /// checks every value it stores).
    pub fn zone(&self) -> TimeZone {
        self.vars
            .get("timezone")
            .and_then(|v| TimeZone::from_setting(v))
            .map_or(TimeZone::UTC, |(zone, _)| zone)
    }

    pub fn new(user: &str, database: &str) -> Self {
        let mut vars: BTreeMap<String, String> = DEFAULT_VARS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.insert("session_authorization".into(), user.to_string());
        Session {
            user: user.to_string(),
            database: database.to_string(),
            vars: Arc::new(vars),
            startup_vars: BTreeMap::new(),
            txn: TxnState::Idle,
            copy_staged: None,
        }
    }
}
