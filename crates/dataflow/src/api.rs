//! The coordinator-facing API of the compute layer.

use eddy_expr::{EvalError, MirRelationExpr};
use eddy_repr::{ColumnType, Diff, GlobalId, Row, Timestamp};

#[derive(Clone, Debug)]
pub struct ComputeConfig {
    /// Number of timely worker threads.
    pub workers: usize,
}

/// A dataflow to build: the optimized plan of a view (or of a one-off SELECT) whose
/// output is arranged and registered under `id`, so later dataflows and peeks can use it.
#[derive(Clone, Debug)]
pub struct DataflowDesc {
    pub id: GlobalId,
    /// A name for logs and operator names (the view's name).
    pub name: String,
    pub plan: MirRelationExpr,
    /// The output must be exact at `as_of` and every later time.
    pub as_of: Timestamp,
}

/// Why a peek could not be answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeekError {
    /// The view's dataflow holds error rows at the peek's time; the smallest is reported.
    #[error("{0}")]
    Eval(EvalError),
    #[error("collection {0} does not exist")]
    UnknownCollection(GlobalId),
    #[error("compute workers are shut down")]
    Shutdown,
}

/// The rows of an arrangement at one time, with their multiplicities, gathered from
/// every worker (not consolidated across workers' shards, which are disjoint).
pub type PeekResult = Result<Vec<(Row, Diff)>, PeekError>;

/// Handle to the timely workers.
pub struct Compute {}

impl Compute {
    pub fn start(config: ComputeConfig) -> std::io::Result<Compute> {
        let _ = config;
        Ok(Compute {})
    }

    /// Creates a table: an input collection, arranged and registered under `id`. Its
    /// input starts at the current time (the last `advance_time`).
    pub fn create_table(&mut self, id: GlobalId, name: &str, typ: Vec<ColumnType>) {
        let _ = (id, name, typ);
    }

    /// Builds a dataflow and registers its output arrangement under `desc.id`.
    pub fn create_dataflow(&mut self, desc: DataflowDesc) {
        let _ = desc;
    }

    /// Drops a table or dataflow and releases its arrangements once unused.
    pub fn drop_collection(&mut self, id: GlobalId) {
        let _ = id;
    }

    /// Adds updates to a table at `time`, which must be at least the current time.
    pub fn update_table(&mut self, id: GlobalId, time: Timestamp, updates: Vec<(Row, Diff)>) {
        let _ = (id, time, updates);
    }

    /// Closes every table input up to `upper` (exclusive): no more updates at earlier
    /// times. Reads at times before `upper` become possible once workers catch up.
    pub fn advance_time(&mut self, upper: Timestamp) {
        let _ = upper;
    }

    /// Allows every arrangement to compact history up to `since` (reads at `since` and
    /// later stay exact).
    pub fn allow_compaction(&mut self, since: Timestamp) {
        let _ = since;
    }

    /// Reads the arrangement of `id` at `time`. The receiver resolves once every worker
    /// has answered.
    pub fn peek(
        &mut self,
        id: GlobalId,
        time: Timestamp,
    ) -> tokio::sync::oneshot::Receiver<PeekResult> {
        let _ = (id, time);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = tx.send(Err(PeekError::Shutdown));
        rx
    }

    /// Stops the workers and waits for their threads.
    pub fn shutdown(self) {}
}
