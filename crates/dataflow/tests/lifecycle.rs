//! Collections over their lifetime: transient dataflows, error rows, compaction with
//! pending peeks, unknown collections, malformed plans and shutdown, on 1, 2 and 4
//! workers.

mod common;

use std::time::{Duration, Instant};

use common::*;
use eddy_dataflow::{DataflowDesc, PeekError, RowLayout};
use eddy_expr::{EvalError, MirRelationExpr, MirScalarExpr};
use eddy_repr::{Datum, GlobalId};

fn user(id: u64) -> GlobalId {
    GlobalId::User(id)
}

#[test]
fn transient_dataflows_do_not_leak() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let t = h.table(1, vec![int4(), int4()]);
        h.insert(
            1,
            (0..50)
                .map(|i| row(&[Datum::Int32(i % 7), Datum::Int32(i)]))
                .collect(),
        );
        h.tick();
        for i in 0..20 {
            let id = GlobalId::Transient(i);
            let plan = MirRelationExpr::Join {
                inputs: vec![t.clone(), t.clone()],
                equivalences: vec![vec![col(0), col(2)]],
            };
            h.compute.create_dataflow(DataflowDesc {
                id,
                name: format!("select-{i}"),
                plan: plan.clone(),
                as_of: h.read_time(),
                view: None,
                layout: RowLayout::Compact,
            });
            let rx = h.compute.peek(id, h.read_time());
            if i % 2 == 0 {
                // Drop right away: the pending peek must still be answered.
                h.compute.drop_collection(id);
                let rows = consolidate(wait(rx).expect("peek answers"));
                assert_eq!(rows.values().sum::<i64>(), 7 * 7 * 6 + 8 * 8);
            } else {
                let rows = consolidate(wait(rx).expect("peek answers"));
                assert_eq!(rows.values().sum::<i64>(), 7 * 7 * 6 + 8 * 8);
                h.compute.drop_collection(id);
            }
            assert_eq!(
                h.peek_at(id, h.read_time()),
                Err(PeekError::UnknownCollection(id))
            );
            h.update(
                1,
                vec![(row(&[Datum::Int32(100), Datum::Int32(i as i32)]), 1)],
            );
            h.update(
                1,
                vec![(row(&[Datum::Int32(100), Datum::Int32(i as i32)]), -1)],
            );
            h.tick();
        }
        // Only the table's dataflow remains.
        wait_installed(&h, 1);
        h.check(1);
        h.shutdown();
    });
}

#[test]
fn error_rows_fail_their_view_only() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let t = h.table(1, vec![int4(), boolean()]);
        let div = MirScalarExpr::Literal(Err(EvalError::DivisionByZero), int4());
        let range = MirScalarExpr::Literal(Err(EvalError::OutOfRange("integer".into())), int4());
        // SELECT a, <division by zero> FROM t
        h.view(10, t.clone().map(vec![div.clone()]));
        // SELECT a FROM t: still answers.
        h.view(11, t.clone().project(vec![0]));
        // Per row, one of two errors: the smallest present is reported.
        h.view(
            12,
            t.clone().map(vec![MirScalarExpr::If {
                cond: Box::new(col(1)),
                then: Box::new(div),
                els: Box::new(range),
            }]),
        );
        // A view over the failing view fails too (errors travel through imports).
        h.view(
            13,
            MirRelationExpr::Get {
                id: user(10),
                typ: vec![int4(), boolean(), int4()],
                name: "v10".into(),
            }
            .project(vec![0]),
        );
        h.tick();
        for v in [10, 11, 12, 13] {
            h.check(v);
        }
        h.insert(1, vec![row(&[Datum::Int32(1), Datum::Bool(false)])]);
        h.tick();
        assert_eq!(
            h.peek_at(user(10), h.read_time()),
            Err(PeekError::Eval(EvalError::DivisionByZero))
        );
        assert_eq!(
            h.peek_at(user(12), h.read_time()),
            Err(PeekError::Eval(EvalError::OutOfRange("integer".into())))
        );
        for v in [10, 11, 12, 13] {
            h.check(v);
        }
        h.insert(1, vec![row(&[Datum::Int32(2), Datum::Bool(true)])]);
        h.tick();
        assert_eq!(
            h.peek_at(user(12), h.read_time()),
            Err(PeekError::Eval(EvalError::DivisionByZero))
        );
        for v in [10, 11, 12, 13] {
            h.check(v);
        }
        // Deleting the rows retracts their errors.
        h.update(
            1,
            vec![
                (row(&[Datum::Int32(1), Datum::Bool(false)]), -1),
                (row(&[Datum::Int32(2), Datum::Bool(true)]), -1),
            ],
        );
        h.tick();
        assert_eq!(h.peek_at(user(10), h.read_time()), Ok(vec![]));
        for v in [10, 11, 12, 13] {
            h.check(v);
        }
        h.shutdown();
    });
}

#[test]
fn compaction_waits_for_pending_peeks() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let t = h.table(1, vec![int4()]);
        h.view(10, t.project(vec![0]));
        h.insert(1, vec![row(&[Datum::Int32(0)])]);
        h.tick(); // upper 1
                  // Peek at time 3, which is not complete yet: it stays pending.
        let pending = h.compute.peek(user(10), 3);
        let mut expected_at_3 = None;
        for i in 1..10 {
            h.insert(1, vec![row(&[Datum::Int32(i)])]);
            if h.upper == 3 {
                expected_at_3 = Some(h.expected(user(10)).unwrap());
            }
            // `tick` also allows compaction up to the new read time, past 3.
            h.tick();
        }
        let got = consolidate(wait(pending).expect("pending peek answers"));
        assert_eq!(Some(got), expected_at_3);
        assert_eq!(expected_at_3.map(|e| e.len()), Some(4));
        // Later peeks at compacted times are refused, at current times answered.
        let old = h.peek_at(user(10), 2);
        assert!(
            matches!(old, Err(PeekError::TimeCompacted { time: 2, .. })),
            "{old:?}"
        );
        h.check(10);
        h.check(1);
        // A peek before a dataflow's as_of is refused too.
        h.view(
            11,
            MirRelationExpr::Get {
                id: user(1),
                typ: vec![int4()],
                name: "t".into(),
            },
        );
        let before = h.peek_at(user(11), h.read_time() - 1);
        assert!(
            matches!(before, Err(PeekError::TimeCompacted { .. })),
            "{before:?}"
        );
        h.shutdown();
    });
}

#[test]
fn pending_peeks_stay_exact_while_views_lag() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let t = h.table(1, vec![int4(), int4()]);
        // A self-join with a small key domain: enough work that the view lags the table.
        h.view(
            10,
            MirRelationExpr::Join {
                inputs: vec![t.clone(), t],
                equivalences: vec![vec![col(0), col(2)]],
            },
        );
        let mut rng = Rng::new(7);
        for _round in 0..6 {
            let time = h.upper + 2;
            let pending = h.compute.peek(user(10), time);
            let mut expected = None;
            for _ in 0..6 {
                let rows = (0..12)
                    .map(|_| row(&[rng.int4(4, 0), rng.int4(1000, 0)]))
                    .collect();
                h.insert(1, rows);
                if h.upper == time {
                    expected = Some(h.expected(user(10)).unwrap());
                }
                h.tick();
            }
            let got = consolidate(wait(pending).expect("pending peek answers"));
            assert_eq!(Some(got), expected, "peek at {time}");
        }
        h.shutdown();
    });
}

#[test]
fn unknown_collections_and_malformed_plans() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        h.tick();
        assert_eq!(
            h.peek_at(user(99), 0),
            Err(PeekError::UnknownCollection(user(99)))
        );
        // A dataflow reading a collection that does not exist reports an error.
        h.compute.create_dataflow(DataflowDesc {
            id: user(10),
            name: "v10".into(),
            plan: MirRelationExpr::Get {
                id: user(98),
                typ: vec![int4()],
                name: "ghost".into(),
            },
            as_of: 0,
            view: None,
            layout: RowLayout::Compact,
        });
        assert!(matches!(
            h.peek_at(user(10), 0),
            Err(PeekError::Eval(EvalError::Internal(_)))
        ));
        // A plan reading a column that does not exist is refused without a panic.
        h.compute.create_dataflow(DataflowDesc {
            id: user(11),
            name: "v11".into(),
            plan: MirRelationExpr::Constant {
                rows: vec![(row(&[Datum::Int32(1)]), 1)],
                typ: vec![int4()],
            }
            .project(vec![3]),
            as_of: 0,
            view: None,
            layout: RowLayout::Compact,
        });
        match h.peek_at(user(11), 0) {
            Err(PeekError::Eval(EvalError::Internal(message))) => {
                assert!(message.contains("invalid plan"), "{message}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!h.compute.is_failed());
        h.shutdown();
    });
}

#[test]
fn shutdown_answers_pending_peeks() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        h.table(1, vec![int4()]);
        h.tick();
        // Time 1000 never completes.
        let rx = h.compute.peek(user(1), 1000);
        std::thread::sleep(Duration::from_millis(5));
        h.shutdown();
        assert_eq!(wait(rx), Err(PeekError::Shutdown));
    });
    // Dropping the handle without shutdown stops the workers too.
    let h = Harness::new(2);
    drop(h);
}

#[test]
fn a_panicking_worker_fails_peeks_instead_of_hanging() {
    for workers in [1, 2, 4] {
        let mut h = Harness::new(workers);
        h.table(1, vec![int4()]);
        h.insert(1, vec![row(&[Datum::Int32(1)])]);
        h.tick();
        h.check(1);
        let pending = h.compute.peek(user(1), 1000);
        h.compute.inject_worker_panic(workers - 1);
        assert_eq!(wait(pending), Err(PeekError::Shutdown));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !h.compute.is_failed() {
            assert!(Instant::now() < deadline, "failure not noticed");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(h.peek_at(user(1), 0), Err(PeekError::Shutdown));
        // Commands to failed workers are dropped; shutdown still returns.
        h.tick();
        h.shutdown();
    }
}

#[test]
fn updates_at_future_times_wait_for_their_time() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        h.table(1, vec![int4()]);
        h.tick(); // upper 1
                  // An update at time 5, sent while the upper is 1.
        h.compute
            .update_table(user(1), 5, vec![(row(&[Datum::Int32(7)]), 1)]);
        for _ in 0..3 {
            h.tick();
        }
        assert_eq!(h.peek_at(user(1), h.read_time()), Ok(vec![]));
        let at_five = h.compute.peek(user(1), 5);
        h.tick();
        h.tick();
        h.tick();
        assert_eq!(
            consolidate(wait(at_five).unwrap()),
            [(row(&[Datum::Int32(7)]), 1)].into_iter().collect()
        );
        h.shutdown();
    });
}
