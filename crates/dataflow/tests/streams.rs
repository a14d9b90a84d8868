//! Append-only tables (streams), whose rows are kept in arrival order rather than
//! arranged: peeks, views built before and after their rows arrive, views over views,
//! key-range reads, compaction and teardown, on 1, 2 and 4 workers, checked against
//! the oracle and against the same plans over an ordinary table.

mod common;

use std::time::{Duration, Instant};

use common::*;
use eddy_dataflow::{PeekError, PeekSpec};
use eddy_expr::{AggregateExpr, AggregateFunc, MirRelationExpr};
use eddy_repr::{Datum, GlobalId, Row};

fn count_and_max_by_first_column(input: &MirRelationExpr) -> MirRelationExpr {
    let agg = |func| AggregateExpr {
        func,
        expr: col(1),
        distinct: false,
        order_by: vec![],
    };
    MirRelationExpr::Reduce {
        input: Box::new(input.clone()),
        group_key: vec![col(0)],
        aggregates: vec![agg(AggregateFunc::Count), agg(AggregateFunc::Max)],
    }
}

fn rows(rng: &mut Rng, n: usize) -> Vec<Row> {
    (0..n)
        .map(|_| row(&[rng.int4(7, 0), rng.int4(1000, 10)]))
        .collect()
}

#[test]
fn views_over_a_stream_equal_the_same_views_over_a_table() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(7 + workers as u64);
        let s = h.stream(1, vec![int4(), int4()]);
        let t = h.table(2, vec![int4(), int4()]);
        // Built before any row arrives.
        let early = h.view(10, count_and_max_by_first_column(&s));
        h.view(11, count_and_max_by_first_column(&t));
        h.view(12, count_and_max_by_first_column(&early));
        let self_join = MirRelationExpr::Join {
            inputs: vec![s.clone(), s.clone()],
            equivalences: vec![vec![col(0), col(2)]],
        };
        for step in 0..6 {
            // Duplicates included: a stream is a multiset.
            let mut batch = rows(&mut rng, 40);
            batch.extend(batch[..5].to_vec());
            h.insert(1, batch.clone());
            h.insert(2, batch);
            h.tick();
            if step == 2 {
                // Built after rows arrived: it replays the history so far.
                h.view(13, count_and_max_by_first_column(&s));
                h.view(14, self_join.clone());
            }
            for id in [1, 2, 10, 11, 12] {
                h.check(id);
            }
            if step >= 2 {
                h.check(13);
                h.check(14);
            }
            let stream = h.peek_at(GlobalId::User(1), h.read_time()).map(consolidate);
            let table = h.peek_at(GlobalId::User(2), h.read_time()).map(consolidate);
            assert_eq!(stream, table, "stream and table at step {step}");
        }
        h.shutdown();
    });
}

#[test]
fn a_stream_serves_key_ranges_refuses_compacted_times_and_counts_its_rows() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(70 + workers as u64);
        h.stream(1, vec![int4(), int4()]);
        let batch = rows(&mut rng, 300);
        h.insert(1, batch.clone());
        h.tick();
        let before = h.read_time();
        h.insert(1, rows(&mut rng, 10));
        h.tick();
        h.insert(1, rows(&mut rng, 10));
        h.tick();

        // The rows whose first column is 3, as a prefix read.
        let spec = PeekSpec::all().with_key_prefix(&[Datum::Int32(3)]);
        let got = consolidate(
            wait(h.compute.peek_with(GlobalId::User(1), h.read_time(), spec)).expect("prefix peek"),
        );
        let mut expected = h.tables[&GlobalId::User(1)].clone();
        expected.retain(|row, _| row.iter().next() == Some(Datum::Int32(3)));
        assert!(!expected.is_empty());
        assert_eq!(got, expected);

        // Compaction moved past `before`, as it would for an arrangement.
        assert!(matches!(
            h.peek_at(GlobalId::User(1), before),
            Err(PeekError::TimeCompacted { .. })
        ));

        // Every row held is counted, on some worker.
        let deadline = Instant::now() + Duration::from_secs(10);
        while h.compute.arrangement_records(GlobalId::User(1)) != Some(320) {
            assert!(
                Instant::now() < deadline,
                "records {:?}",
                h.compute.arrangement_records(GlobalId::User(1))
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        h.shutdown();
    });
}

#[test]
fn dropping_a_view_over_a_stream_tears_its_dataflow_down() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(700 + workers as u64);
        let s = h.stream(1, vec![int4(), int4()]);
        h.insert(1, rows(&mut rng, 100));
        h.tick();
        wait_installed(&h, 1);
        for round in 0..5u64 {
            let id = 10 + round;
            h.view(id, count_and_max_by_first_column(&s));
            h.insert(1, rows(&mut rng, 10));
            h.tick();
            h.check(id);
            wait_installed(&h, 2);
            h.compute.drop_collection(GlobalId::User(id));
            h.views.remove(&GlobalId::User(id));
            wait_installed(&h, 1);
        }
        h.check(1);
        h.shutdown();
    });
}

#[test]
fn a_view_created_over_a_long_history_replays_all_of_it() {
    let mut h = Harness::new(2);
    let s = h.stream(1, vec![int4(), int4()]);
    // More rows than a replay emits per activation.
    for chunk in 0..3 {
        h.insert(
            1,
            (0..50_000)
                .map(|i| row(&[Datum::Int32(i % 5), Datum::Int32(chunk * 50_000 + i)]))
                .collect(),
        );
        h.tick();
    }
    h.view(10, count_and_max_by_first_column(&s));
    h.insert(1, vec![row(&[Datum::Int32(0), Datum::Int32(-1)])]);
    h.tick();
    h.check(10);
    h.shutdown();
}

#[test]
fn a_trickle_of_single_rows_is_read_by_views_before_and_after_it() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(7000 + workers as u64);
        let s = h.stream(1, vec![int4(), int4()]);
        h.view(10, count_and_max_by_first_column(&s));
        // One row per time: each arrives in an input buffer with room for many more.
        for step in 0..300 {
            h.insert(1, rows(&mut rng, 1));
            h.tick();
            if step == 150 {
                h.view(11, count_and_max_by_first_column(&s));
            }
            if step % 50 == 49 {
                h.check(1);
                h.check(10);
            }
        }
        h.check(11);
        h.shutdown();
    });
}
