//! Running aggregates (`WindowStrategy::PrefixSums`) against the partition renderer,
//! which evaluates each partition from scratch: the same functions over the same rows,
//! once alone (prefix sums) and once beside a `row_number()` (which keeps the window
//! on the partition renderer), under random inserts and deletes on 1, 2 and 4 workers.

mod common;

use common::*;
use eddy_expr::{
    AggregateFunc, ColumnOrder, FrameBound, FrameUnits, MirRelationExpr, WindowExpr, WindowFrame,
    WindowFunc, WindowStrategy,
};
use eddy_repr::{Datum, GlobalId, Row};

fn running(units: FrameUnits) -> WindowFrame {
    WindowFrame {
        units,
        start: FrameBound::UnboundedPreceding,
        end: FrameBound::CurrentRow,
        zone: None,
    }
}

fn aggregate(func: AggregateFunc, value: usize, units: FrameUnits) -> WindowExpr {
    WindowExpr {
        func: WindowFunc::Aggregate { func, value },
        frame: running(units),
    }
}

/// The window over `input`, and the same window computed by the partition renderer
/// (a `row_number()` beside the functions, projected away).
fn window_pair(
    input: MirRelationExpr,
    partition_key: Vec<usize>,
    order_key: Vec<ColumnOrder>,
    functions: Vec<WindowExpr>,
) -> (MirRelationExpr, MirRelationExpr) {
    let typ = input.typ();
    let arity = typ.len() + functions.len();
    let cheap = MirRelationExpr::Window {
        input: Box::new(input.clone()),
        partition_key: partition_key.clone(),
        order_key: order_key.clone(),
        functions: functions.clone(),
    };
    assert_eq!(
        WindowStrategy::choose(&typ, &order_key, &functions),
        WindowStrategy::PrefixSums
    );
    let mut with_rank = functions;
    with_rank.push(WindowExpr {
        func: WindowFunc::RowNumber,
        frame: WindowFrame::default_frame(),
    });
    assert_eq!(
        WindowStrategy::choose(&typ, &order_key, &with_rank),
        WindowStrategy::Partition
    );
    let reference = MirRelationExpr::Window {
        input: Box::new(input),
        partition_key,
        order_key,
        functions: with_rank,
    }
    .project((0..arity).collect());
    (cheap, reference)
}

fn peek(h: &mut Harness, id: u64) -> Multiset {
    let time = h.read_time();
    match h.peek_at(GlobalId::User(id), time) {
        Ok(rows) => consolidate(rows),
        Err(e) => panic!("peek of {id}: {e:?}"),
    }
}

#[test]
fn running_aggregates_equal_the_partition_renderer() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(41 + workers as u64);
        // (partition, order, value, numeric, tiebreak)
        let numeric = eddy_repr::ScalarType::Numeric {
            precision: None,
            scale: None,
        }
        .nullable(true);
        let t = h.table(1, vec![int4(), int4(), int4(), numeric, int4()]);
        let asc = |column| ColumnOrder {
            column,
            desc: false,
            nulls_last: true,
        };
        let views = [
            // RANGE: peers share; several functions and frames in one window.
            window_pair(
                t.clone(),
                vec![0],
                vec![asc(1)],
                vec![
                    aggregate(AggregateFunc::Sum, 2, FrameUnits::Range),
                    aggregate(AggregateFunc::Count, 2, FrameUnits::Range),
                    aggregate(AggregateFunc::Min, 3, FrameUnits::Range),
                    aggregate(AggregateFunc::Max, 2, FrameUnits::Rows),
                    aggregate(AggregateFunc::Sum, 3, FrameUnits::Rows),
                    aggregate(AggregateFunc::Count, 4, FrameUnits::Groups),
                ],
            ),
            // DESC NULLS FIRST, ties broken by a second column, no partition key.
            window_pair(
                t.clone(),
                vec![],
                vec![
                    ColumnOrder {
                        column: 1,
                        desc: true,
                        nulls_last: false,
                    },
                    asc(4),
                ],
                vec![
                    aggregate(AggregateFunc::Sum, 3, FrameUnits::Rows),
                    aggregate(AggregateFunc::Max, 3, FrameUnits::Range),
                ],
            ),
        ];
        let mut ids = vec![];
        for (i, (cheap, reference)) in views.into_iter().enumerate() {
            let id = 10 + 2 * i as u64;
            h.view(id, cheap);
            h.view(id + 1, reference);
            ids.push(id);
        }
        let gen = |rng: &mut Rng| {
            let n = match rng.int4(2000, 7) {
                Datum::Int32(v) => Datum::Numeric(
                    eddy_repr::Numeric::from(i64::from(v) - 1000)
                        .div_with_scale(eddy_repr::Numeric::from(100), 2)
                        .unwrap(),
                ),
                _ => Datum::Null,
            };
            Row::pack(&[
                rng.int4(3, 0),
                // Positions far apart and close together (one leaf, many leaves).
                match rng.below(3) {
                    0 => rng.int4(8, 5),
                    1 => Datum::Int32(rng.below(1 << 20) as i32 - (1 << 19)),
                    _ => rng.int4(300, 0),
                },
                rng.int4(100, 5),
                n,
                rng.int4(4, 0),
            ])
        };
        for step in 0..40 {
            let mut updates = vec![];
            for _ in 0..12 {
                if rng.below(3) == 0 {
                    if let Some(r) = h.some_row(1, &mut rng) {
                        if !updates.iter().any(|(u, _)| u == &r) {
                            updates.push((r, -1));
                            continue;
                        }
                    }
                }
                updates.push((gen(&mut rng), 1));
            }
            h.update(1, updates);
            h.tick();
            for id in &ids {
                let got = peek(&mut h, *id);
                let expected = peek(&mut h, id + 1);
                assert_eq!(
                    got, expected,
                    "view {id} at step {step} on {workers} workers"
                );
            }
        }
        h.shutdown();
    });
}

/// The prefix-sum renderer holds a tree of partial states (the rows by leaf and within
/// their leaf, a state and a prefix per node and level), the partition renderer only
/// the rows and its output: the records each view's arrangements hold say which
/// renderer built it. This fails if the cheap path were not taken.
#[test]
fn running_aggregates_are_rendered_as_prefix_sums() {
    let mut h = Harness::new(1);
    let t = h.table(1, vec![int4(), int4(), int4(), int4(), int4()]);
    let (cheap, reference) = window_pair(
        t,
        vec![0],
        vec![ColumnOrder {
            column: 1,
            desc: false,
            nulls_last: true,
        }],
        vec![aggregate(AggregateFunc::Sum, 2, FrameUnits::Range)],
    );
    h.view(10, cheap);
    h.view(11, reference);
    let rows = 2000;
    h.insert(
        1,
        (0..rows)
            .map(|i| {
                Row::pack(&[
                    Datum::Int32(0),
                    Datum::Int32(i),
                    Datum::Int32(1),
                    Datum::Int32(0),
                    Datum::Int32(0),
                ])
            })
            .collect(),
    );
    h.tick();
    assert_eq!(peek(&mut h, 10), peek(&mut h, 11));
    let records = |h: &Harness, id: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match h.compute.arrangement_records(GlobalId::User(id)) {
                Some(n) if n >= i64::from(rows) * 2 => return n,
                _ if std::time::Instant::now() > deadline => panic!("no records for {id}"),
                _ => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    };
    let (cheap, reference) = (records(&h, 10), records(&h, 11));
    let rows = i64::from(rows);
    // Partition: its input rows and output rows (and the output's arrangement).
    assert!(reference < 4 * rows, "partition renderer held {reference}");
    // Prefix sums: also each leaf's state, the rows' states, the leaves' prefixes.
    assert!(cheap >= 5 * rows, "prefix-sum renderer held {cheap}");
    h.shutdown();
}
