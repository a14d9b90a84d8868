//! What sessions and the coordinator say to each other.
//!
//! [`Command`] is the one message type on the coordinator's queue; every command that
//! expects an answer carries a oneshot sender for it. The response types
//! ([`ExecuteResponse`], [`StatementDesc`], [`PreparedStatement`]) are what
//! [`crate::Client`] hands back to `pgwire`.
//!
//! Invariant: the queue is bounded ([`COMMAND_QUEUE_CAPACITY`]); a session waits for
//! room rather than growing it, and a command whose sender is dropped is answered into
//! the void without harm.

use std::sync::Arc;

use eddy_repr::copy::CopyFormat;
use eddy_repr::{Datum, GlobalId, RelationDesc, Row, ScalarType, SqlError};
use eddy_sql::Statement;
use tokio::sync::oneshot;

use crate::subscribe::Subscription;

/// Capacity of the channel from sessions to the coordinator.
pub(crate) const COMMAND_QUEUE_CAPACITY: usize = 1024;

/// Where the coordinator sends a fallible answer.
pub(crate) type Responder<T> = oneshot::Sender<Result<T, SqlError>>;

pub(crate) enum Command {
    /// A new session, with the variables its startup message set (as `SET` would;
    /// one the session refuses fails the whole startup).
    OpenSession {
        user: String,
        database: String,
        vars: Vec<(String, String)>,
        tx: Responder<u64>,
    },
    CloseSession {
        id: u64,
    },
    Execute {
        session: u64,
        stmt: Arc<Statement>,
        params: Vec<Datum>,
        tx: Responder<ExecuteResponse>,
    },
    Describe {
        session: u64,
        stmt: Arc<Statement>,
        param_types: Vec<Option<ScalarType>>,
        tx: Responder<StatementDesc>,
    },
    SessionVar {
        session: u64,
        name: String,
        tx: oneshot::Sender<Option<String>>,
    },
    /// A query string of several statements starts: they form one implicit
    /// transaction (unless an explicit block is already open).
    ImplicitBegin {
        session: u64,
    },
    /// The query string ended; commit its implicit transaction if `commit`, else
    /// roll it back.
    ImplicitEnd {
        session: u64,
        commit: bool,
        tx: Responder<()>,
    },
    /// Rows of the `COPY ... FROM STDIN` numbered `load` (see `copy_load.rs`), decoded
    /// by the session: staged until its [`Command::CopyRows`] (a chunk of another
    /// load drops what an abandoned one staged).
    CopyChunk {
        session: u64,
        load: u64,
        rows: Vec<Row>,
    },
    /// The last rows of a `COPY ... FROM STDIN`, or why they could not be decoded:
    /// written with the rows its chunks staged to table `id` as one statement (see
    /// `sequence/dml.rs`), or the statement fails (and with it an open transaction
    /// block) and the staged rows are dropped.
    CopyRows {
        session: u64,
        id: GlobalId,
        load: u64,
        rows: Result<Vec<Row>, SqlError>,
        tx: Responder<ExecuteResponse>,
    },
    /// A one-off SELECT's dataflow has answered and can go.
    DropTransient(GlobalId),
    /// What a source read (sent by its forwarding task, see `sources.rs`).
    SourceBatch {
        id: GlobalId,
        batch: eddy_connect::SourceBatch,
    },
    /// What a Postgres source read (sent by its forwarding task, see `pg_sources.rs`).
    PgSourceBatch {
        id: GlobalId,
        /// Whole upstream transactions (or the whole snapshot), in commit order.
        batches: Vec<eddy_connect::postgres::PgBatch>,
    },
    /// The tables of a `CREATE SOURCE ... FROM POSTGRES` found upstream (or why not),
    /// to finish the statement.
    PgSourceDiscovered {
        plan: Box<eddy_sql::Plan>,
        tables: Result<Vec<eddy_connect::postgres::PgTable>, eddy_repr::SqlError>,
        finish: crate::coord::Finish,
    },
    /// The new versions of a `CREATE OR REPLACE ... VIEW` have caught up (or failed):
    /// swap to them (see `sequence/replace.rs`).
    ReplaceReady {
        pending: Box<crate::sequence::PendingReplace>,
        /// How each replaced materialized view differs (for a held swap), or why the
        /// new versions failed.
        result: Result<Vec<eddy_repr::Row>, eddy_repr::SqlError>,
        finish: crate::coord::Finish,
    },
    /// Time to refresh a source's figures in `/metrics`.
    SourceTick {
        id: GlobalId,
    },
    /// A sink's parts stopped with an error (sent by its forwarding task, see
    /// `sinks.rs`).
    SinkFailed {
        id: GlobalId,
        generation: u64,
        error: String,
    },
    /// Start a failed sink again (sent after its backoff).
    RestartSink {
        id: GlobalId,
        generation: u64,
    },
    Shutdown {
        tx: oneshot::Sender<()>,
    },
}

/// What one statement produced.
#[derive(Debug)]
pub enum ExecuteResponse {
    /// Result rows, already ordered, limited and projected.
    Rows { desc: RelationDesc, rows: Vec<Row> },
    /// The rows of a write's `RETURNING`, one per row written; the tag is `command`
    /// and the count (`INSERT 0 3`, `UPDATE 2`, `DELETE 1`).
    Returning {
        desc: RelationDesc,
        rows: Vec<Row>,
        command: String,
    },
    /// A statement with no rows; `tag` is the Postgres command tag
    /// (`INSERT 0 3`, `UPDATE 2`, `CREATE TABLE`, `SET`, ...).
    Command { tag: String },
    /// The empty query (`;` alone).
    EmptyQuery,
    /// A running `SUBSCRIBE`: rows for as long as the client reads them, until an
    /// error ends it.
    Subscribe(Subscription),
    /// `COPY ... FROM STDIN` is ready for its data: the client sends it, and the
    /// session hands it to [`crate::Client::copy_from`].
    CopyIn(CopyIn),
    /// The rows of `COPY ... TO STDOUT`, to be written in `format`.
    CopyOut {
        desc: RelationDesc,
        rows: Vec<Row>,
        format: CopyFormat,
    },
}

/// A `COPY ... FROM STDIN` waiting for its data: the table, the columns each line
/// holds (in order) and the format.
#[derive(Clone, Debug)]
pub struct CopyIn {
    pub(crate) id: GlobalId,
    /// The table's name, for error messages.
    pub relation: String,
    /// The names and types of the columns each line holds.
    pub names: Vec<String>,
    pub types: Vec<ScalarType>,
    /// Where each line's fields go in the table's rows.
    pub(crate) columns: Vec<usize>,
    pub(crate) arity: usize,
    pub format: CopyFormat,
}

impl ExecuteResponse {
    /// The Postgres command tag (`SELECT 3` for rows).
    pub fn tag(&self) -> String {
        match self {
            ExecuteResponse::Rows { rows, .. } => format!("SELECT {}", rows.len()),
            ExecuteResponse::Returning { rows, command, .. } => {
                format!("{command} {}", rows.len())
            }
            ExecuteResponse::Command { tag } => tag.clone(),
            ExecuteResponse::EmptyQuery => String::new(),
            ExecuteResponse::Subscribe(_) => "SUBSCRIBE".to_string(),
            ExecuteResponse::CopyIn(_) => "COPY".to_string(),
            ExecuteResponse::CopyOut { rows, .. } => format!("COPY {}", rows.len()),
        }
    }
}

/// The parameter and result shape of a statement, for the extended protocol's Describe.
#[derive(Clone, Debug)]
pub struct StatementDesc {
    pub param_types: Vec<ScalarType>,
    /// `None` for statements that return no rows.
    pub result: Option<RelationDesc>,
}

/// A statement parsed once and described, to be executed any number of times with
/// parameters (the extended protocol's Parse, then Bind/Execute). Executing it never
/// parses its text again. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PreparedStatement {
    /// `None` for the empty query.
    pub(crate) stmt: Option<Arc<Statement>>,
    desc: StatementDesc,
}

impl PreparedStatement {
    pub(crate) fn new(stmt: Option<Arc<Statement>>, desc: StatementDesc) -> Self {
        PreparedStatement { stmt, desc }
    }

    /// Whether executing it starts a subscription (`SUBSCRIBE`), whose rows flow for
    /// as long as the client reads them.
    pub fn is_subscribe(&self) -> bool {
        matches!(
            self.stmt.as_deref(),
            Some(eddy_sql::Statement::Subscribe(_))
        )
    }

    /// The parameter types (declared or inferred) and the result shape.
    pub fn desc(&self) -> &StatementDesc {
        &self.desc
    }
}

/// A session as the coordinator knows it.
#[derive(Debug)]
pub struct SessionHandle {
    pub id: u64,
}
