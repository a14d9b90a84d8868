//! How many records each dataflow holds in its arrangements, on this worker, from
//! differential's own arrangement log ("differential/arrange").
//!
//! Every arrangement operator reports the batches it builds, merges and drops (and
//! what its batcher holds before a batch is built); this module keeps a running count
//! per operator. Operator ids are handed out in order while a dataflow is built, so a
//! dataflow's operators are the id range of its construction, and its size is the sum
//! over that range.
//!
//! Invariants:
//! - A count only reflects events already logged; timely flushes the log as it steps,
//!   so a count lags the truth by at most one step.
//! - Imported arrangements are counted once, at the dataflow that built them, never at
//!   the dataflows that import them (imports build no batches).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;
use std::rc::Rc;

use differential_dataflow::logging::{DifferentialEvent, DifferentialEventBuilder};
use timely::worker::Worker;

/// Records held per arrangement operator on this worker.
#[derive(Clone, Default)]
pub(crate) struct ArrangementSizes {
    records: Rc<RefCell<BTreeMap<usize, i64>>>,
}

impl ArrangementSizes {
    /// Starts counting: registers the arrangement logger on `worker`. Must run before
    /// any dataflow is built (arrangements look their logger up when they are created).
    pub(crate) fn install(worker: &mut Worker) -> Self {
        let sizes = ArrangementSizes::default();
        let records = Rc::clone(&sizes.records);
        if let Some(mut register) = worker.log_register() {
            register.insert::<DifferentialEventBuilder, _>(
                "differential/arrange",
                move |_time, events| {
                    if let Some(events) = events {
                        let mut records = records.borrow_mut();
                        for (_, event) in events.iter() {
                            apply(&mut records, event);
                        }
                    }
                },
            );
        }
        sizes
    }

    /// The records held by the operators whose ids are in `operators`.
    pub(crate) fn records_in(&self, operators: &Range<usize>) -> i64 {
        self.records
            .borrow()
            .range(operators.clone())
            .map(|(_, n)| *n)
            .sum()
    }

    /// Forgets the operators of a dataflow that is gone.
    pub(crate) fn forget(&self, operators: &Range<usize>) {
        let mut records = self.records.borrow_mut();
        let ids: Vec<usize> = records
            .range(operators.clone())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            records.remove(&id);
        }
    }
}

fn apply(records: &mut BTreeMap<usize, i64>, event: &DifferentialEvent) {
    let (operator, delta) = match event {
        DifferentialEvent::Batch(e) => (e.operator, e.length as i64),
        DifferentialEvent::Merge(e) => match e.complete {
            Some(merged) => (
                e.operator,
                merged as i64 - e.length1 as i64 - e.length2 as i64,
            ),
            None => return,
        },
        DifferentialEvent::Drop(e) => (e.operator, -(e.length as i64)),
        DifferentialEvent::Batcher(e) => (e.operator, e.records_diff as i64),
        DifferentialEvent::MergeShortfall(_) | DifferentialEvent::TraceShare(_) => return,
    };
    *records.entry(operator).or_insert(0) += delta;
}
