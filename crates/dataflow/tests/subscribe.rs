//! Subscriptions against an oracle: the batches a subscription sends, summed up to any
//! complete time, equal a peek of the view at that time; times arrive in order, once,
//! consolidated; on 1, 2 and 4 workers. Also: no snapshot, error rows, a slow
//! subscriber bounded, and a dropped subscription's dataflow goes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use eddy_dataflow::{SubscribeBatch, SubscribeDesc, SubscribeError, SubscribeReceiver};
use eddy_expr::{AggregateFunc, EvalError, MirRelationExpr, MirScalarExpr};
use eddy_repr::{Datum, GlobalId};

/// Waits for the next batch or failure.
fn next(rx: &mut SubscribeReceiver) -> Option<Result<SubscribeBatch, SubscribeError>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(next) = rx.try_next() {
            return next;
        }
        assert!(Instant::now() < deadline, "no batch within 20s");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Reads batches until the receiver's upper passes `time`, adding them to `contents`.
fn read_through(rx: &mut SubscribeReceiver, time: u64, contents: &mut Multiset, last: &mut u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Batches are queued before the upper passes them: read the upper first.
        let upper = rx.upper();
        match rx.try_next() {
            Some(Some(Ok(batch))) => {
                assert!(batch.time > *last || *last == 0, "times in order");
                *last = batch.time;
                let mut rows: Vec<_> = batch.updates.iter().map(|(r, _)| r.clone()).collect();
                rows.dedup();
                assert_eq!(rows.len(), batch.updates.len(), "consolidated");
                for (row, diff) in batch.updates {
                    assert_ne!(diff, 0);
                    let entry = contents.entry(row.clone()).or_insert(0);
                    *entry += diff;
                    if *entry == 0 {
                        contents.remove(&row);
                    }
                }
            }
            Some(other) => panic!("subscription ended: {other:?}"),
            None if upper > time => return,
            None => {
                assert!(Instant::now() < deadline, "upper stuck at {upper}");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn desc(id: u64, plan: MirRelationExpr, as_of: u64, snapshot: bool) -> SubscribeDesc {
    SubscribeDesc {
        id: GlobalId::Transient(id),
        name: format!("subscribe-{id}"),
        plan,
        as_of,
        snapshot,
        max_buffered_records: 1_000_000,
    }
}

/// `SELECT #0, count(*) FROM t GROUP BY #0`.
fn counts(t: MirRelationExpr) -> MirRelationExpr {
    MirRelationExpr::Reduce {
        input: Box::new(t),
        group_key: vec![col(0)],
        aggregates: vec![eddy_expr::AggregateExpr {
            func: AggregateFunc::Count,
            expr: col(0),
            distinct: false,
            order_by: vec![],
        }],
    }
}

#[test]
fn a_subscription_sums_to_the_view_at_every_time() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let t = h.table(1, vec![int4(), int4()]);
        let mut rng = Rng::new(workers as u64);
        h.insert(
            1,
            (0..40)
                .map(|i| row(&[Datum::Int32(i % 5), Datum::Int32(i)]))
                .collect(),
        );
        h.tick();
        let v = h.view(2, counts(t));
        h.tick();
        let as_of = h.read_time();
        let mut rx = h.compute.subscribe(desc(1, v, as_of, true));
        let mut contents = Multiset::new();
        let mut last: u64;
        // The snapshot is one batch at `as_of`.
        match next(&mut rx) {
            Some(Ok(batch)) => {
                assert_eq!(batch.time, as_of);
                assert_eq!(batch.updates.len(), 5);
                last = batch.time;
                contents.extend(batch.updates);
            }
            other => panic!("no snapshot: {other:?}"),
        }
        for step in 0..30 {
            for _ in 0..rng.below(4) {
                if rng.below(3) == 0 {
                    if let Some(r) = h.some_row(1, &mut rng) {
                        h.update(1, vec![(r, -1)]);
                    }
                } else {
                    h.insert(1, vec![row(&[rng.int4(8, 0), Datum::Int32(step)])]);
                }
            }
            h.tick();
            read_through(&mut rx, h.read_time(), &mut contents, &mut last);
            assert_eq!(
                contents,
                h.expected(GlobalId::User(2)).unwrap(),
                "{workers} workers, step {step}"
            );
        }
        drop(rx);
        h.compute.drop_collection(GlobalId::Transient(1));
        h.shutdown();
    });
}

#[test]
fn without_snapshot_only_later_changes_arrive() {
    let mut h = Harness::new(2);
    let t = h.table(1, vec![int4()]);
    h.insert(1, vec![row(&[Datum::Int32(1)])]);
    h.tick();
    let mut rx = h.compute.subscribe(desc(1, t, h.read_time(), false));
    h.insert(1, vec![row(&[Datum::Int32(2)]), row(&[Datum::Int32(2)])]);
    let time = h.upper;
    h.tick();
    match next(&mut rx) {
        Some(Ok(batch)) => {
            assert_eq!(batch.time, time);
            assert_eq!(batch.updates, vec![(row(&[Datum::Int32(2)]), 2)]);
        }
        other => panic!("{other:?}"),
    }
    h.update(1, vec![(row(&[Datum::Int32(1)]), -1)]);
    h.tick();
    match next(&mut rx) {
        Some(Ok(batch)) => assert_eq!(batch.updates, vec![(row(&[Datum::Int32(1)]), -1)]),
        other => panic!("{other:?}"),
    }
    h.shutdown();
}

#[test]
fn an_error_row_fails_the_subscription() {
    let mut h = Harness::new(2);
    let t = h.table(1, vec![int4()]);
    h.insert(1, vec![row(&[Datum::Int32(1)])]);
    h.tick();
    // SELECT 10 / #0 FROM t
    let plan = t.map(vec![MirScalarExpr::CallBinary {
        func: eddy_expr::BinaryFunc::Div,
        expr1: Box::new(lit(Datum::Int32(10), int4())),
        expr2: Box::new(col(0)),
    }]);
    let mut rx = h.compute.subscribe(desc(1, plan, h.read_time(), true));
    assert!(matches!(next(&mut rx), Some(Ok(_))));
    h.insert(1, vec![row(&[Datum::Int32(0)])]);
    h.tick();
    // The error names the input row it came from, in its DETAIL.
    match next(&mut rx) {
        Some(Err(SubscribeError::Eval(e))) => {
            assert_eq!(e.without_row(), &EvalError::DivisionByZero);
            assert_eq!(e.detail().as_deref(), Some("Failing input row: (0)."));
        }
        other => panic!("expected division by zero, got {other:?}"),
    }
    assert_eq!(next(&mut rx), None);
    h.shutdown();
}

#[test]
fn a_subscriber_that_does_not_read_is_failed_not_waited_for() {
    let mut h = Harness::new(2);
    let t = h.table(1, vec![int4()]);
    h.tick();
    let mut limited = desc(1, t, h.read_time(), true);
    limited.max_buffered_records = 10;
    let mut rx = h.compute.subscribe(limited);
    for i in 0..20 {
        h.insert(1, vec![row(&[Datum::Int32(i)])]);
        h.tick();
    }
    // The workers went on: the table is readable at the latest time.
    h.check(1);
    let mut batches = 0;
    loop {
        match next(&mut rx) {
            Some(Ok(_)) => batches += 1,
            Some(Err(e)) => {
                assert_eq!(e, SubscribeError::Overflow { limit: 10 });
                break;
            }
            None => panic!("ended without an error"),
        }
    }
    assert!(batches <= 10, "{batches} batches before the failure");
    assert_eq!(rx.buffered_records(), 0);
    h.compute.drop_collection(GlobalId::Transient(1));
    h.shutdown();
}

#[test]
fn a_dropped_subscription_leaves_no_dataflow_and_shutdown_ends_it() {
    let mut h = Harness::new(2);
    let t = h.table(1, vec![int4()]);
    h.tick();
    let installed = h.compute.installed_dataflows();
    let rx = h.compute.subscribe(desc(1, t.clone(), h.read_time(), true));
    drop(rx);
    h.compute.drop_collection(GlobalId::Transient(1));
    h.tick();
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.compute.installed_dataflows() != installed {
        assert!(
            Instant::now() < deadline,
            "the subscription's dataflow stays"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut rx = h.compute.subscribe(desc(2, t, h.read_time(), false));
    h.shutdown();
    assert_eq!(next(&mut rx), Some(Err(SubscribeError::Shutdown)));
}
