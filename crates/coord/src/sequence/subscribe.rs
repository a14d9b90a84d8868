//! SUBSCRIBE: starting a subscription, and ending those whose relations are dropped.
//!
//! Invariants:
//! - A subscription reads from the oracle's read time when the statement's turn comes
//!   (as a SELECT would), so with `SNAPSHOT` it starts from what a SELECT would see and
//!   then sees every later committed write once.
//! - The coordinator knows every running subscription and what it reads; dropping one
//!   of those relations ends the subscription with an error (and drops its dataflow)
//!   before the relation's own dataflow goes.
//! - A transaction block's own uncommitted writes are not part of a subscription; one
//!   started in a block with writes is refused (0A000) rather than silently missing
//!   them.

use std::collections::BTreeSet;

use eddy_dataflow::SubscribeDesc;
use eddy_expr::MirRelationExpr;
use eddy_repr::{GlobalId, RelationDesc, SqlError, SqlState};
use eddy_sql::SubscribeOutput;
use tokio::sync::oneshot;

use crate::command::ExecuteResponse;
use crate::coord::Coordinator;
use crate::subscribe::{relation_dropped, Subscription};

/// What the coordinator keeps of a running subscription.
pub(crate) struct ActiveSubscribe {
    pub(crate) depends_on: BTreeSet<GlobalId>,
    /// Ends the subscription with an error.
    pub(crate) end: oneshot::Sender<SqlError>,
}

impl Coordinator {
    pub(super) fn subscribe(
        &mut self,
        session_id: u64,
        expr: MirRelationExpr,
        desc: RelationDesc,
        depends_on: BTreeSet<GlobalId>,
        snapshot: bool,
        output: SubscribeOutput,
    ) -> Result<ExecuteResponse, SqlError> {
        let has_writes = self
            .sessions
            .get(&session_id)
            .and_then(|s| s.txn.pending_writes())
            .is_some_and(|w| !w.is_empty());
        if has_writes {
            return Err(SqlError::unsupported(
                "SUBSCRIBE in a transaction block that has written",
            ));
        }
        self.check_sources(&depends_on)?;
        self.next_transient += 1;
        let id = GlobalId::Transient(self.next_transient);
        let as_of = self.oracle.read_ts();
        let receiver = self.compute.subscribe(SubscribeDesc {
            id,
            name: format!("subscribe-{}", self.next_transient),
            plan: self.optimize(expr),
            as_of,
            snapshot,
            max_buffered_records: self.subscribe_max_buffered_records,
        });
        let (end, ended) = oneshot::channel();
        self.subscribes
            .insert(id, ActiveSubscribe { depends_on, end });
        self.refresh_gauges();
        tracing::debug!(%id, session = session_id, as_of, "subscribe started");
        Ok(ExecuteResponse::Subscribe(Subscription {
            id,
            desc,
            output,
            receiver,
            cancel: Some(self.cancels.arm(session_id)),
            ended: Some(ended),
            coordinator: self.internal_tx.clone(),
            done: false,
        }))
    }

    /// Ends every subscription that reads one of `dropped` (items about to be
    /// dropped, in drop order): each fails with 42P01 naming the first of them it
    /// reads, and its dataflow goes now, before theirs.
    pub(crate) fn end_subscribes_reading(&mut self, dropped: &[GlobalId]) {
        self.end_subscribes_with(dropped, relation_dropped);
    }

    /// Ends every subscription that reads one of `replaced` (new versions took their
    /// names): `55000`, to subscribe again to the new version.
    pub(crate) fn end_subscribes_replaced(&mut self, replaced: &[GlobalId]) {
        self.end_subscribes_with(replaced, |name| {
            SqlError::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("subscribe ended: relation \"{name}\" was replaced by a new version"),
            )
            .with_hint("Subscribe again to read the new version.")
        });
    }

    fn end_subscribes_with(&mut self, dropped: &[GlobalId], error: impl Fn(&str) -> SqlError) {
        let ending: Vec<(GlobalId, GlobalId)> = self
            .subscribes
            .iter()
            .filter_map(|(id, active)| {
                dropped
                    .iter()
                    .find(|d| active.depends_on.contains(d))
                    .map(|d| (*id, *d))
            })
            .collect();
        for (id, relation) in ending {
            let Some(active) = self.subscribes.remove(&id) else {
                continue;
            };
            let name = self
                .catalog
                .get(relation)
                .map_or_else(|| relation.to_string(), |e| e.name.clone());
            let _ = active.end.send(error(&name));
            self.compute.drop_collection(id);
        }
        self.refresh_gauges();
    }

    /// Forgets a subscription whose client is done with it, and drops its dataflow.
    pub(crate) fn drop_subscribe(&mut self, id: GlobalId) -> bool {
        if self.subscribes.remove(&id).is_some() {
            self.compute.drop_collection(id);
            self.refresh_gauges();
            return true;
        }
        false
    }
}
