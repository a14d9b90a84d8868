//! Benchmark of the compute layer alone: bulk-load throughput and single-row update
//! latency of a join + GROUP BY view.
//!
//! Tables `customers(id int4, region int4)` and `orders(id int4, customer int4,
//! amount int4)`; the view is
//! `SELECT region, count(*), sum(amount), min(amount), max(amount)
//!  FROM orders JOIN customers ON orders.customer = customers.id GROUP BY region`,
//! so each of the `regions` groups holds `orders / regions` rows.
//!
//! Run: `cargo run --release -p eddy-dataflow --example compute_bench -- \
//!        [orders=1000000] [workers=2] [regions=4] [updates=300] [min_max=1] [settle_ms=2000]`
//!
//! `settle_ms` is how long the load's leftover merges get before the updates are
//! timed; 0 measures the updates that arrive right after a bulk load.

use std::time::{Duration, Instant};

use eddy_dataflow::{Compute, ComputeConfig, DataflowDesc, RowLayout};
use eddy_expr::{AggregateExpr, AggregateFunc, MirRelationExpr, MirScalarExpr};
use eddy_repr::{Datum, GlobalId, Row, ScalarType};

const CUSTOMERS: i32 = 10_000;
const BATCH: usize = 10_000;

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn order(id: i32, amount: i32) -> Row {
    Row::pack(&[
        Datum::Int32(id),
        Datum::Int32(id % CUSTOMERS),
        Datum::Int32(amount),
    ])
}

fn amount_of(id: i32, version: i32) -> i32 {
    (id.wrapping_mul(7919).wrapping_add(version * 104_729)).rem_euclid(100_000)
}

fn main() {
    let orders_n = arg(1, 1_000_000);
    let workers = arg(2, 2);
    let regions = arg(3, 4) as i32;
    let updates = arg(4, 300);
    let with_min_max = arg(5, 1) != 0;
    let settle = Duration::from_millis(arg(6, 2000) as u64);

    let mut compute = Compute::start(ComputeConfig {
        workers,
        query_max_records: None,
        query_max_bytes: None,
    })
    .expect("compute starts");
    let int4 = ScalarType::Int32.nullable(false);
    let (customers, orders, view) = (GlobalId::User(1), GlobalId::User(2), GlobalId::User(3));
    compute.create_table(customers, "customers", vec![int4, int4]);
    compute.create_table(orders, "orders", vec![int4, int4, int4]);
    let get = |id, arity: usize| MirRelationExpr::Get {
        id,
        typ: vec![int4; arity],
        name: format!("{id}"),
    };
    let col = MirScalarExpr::Column;
    let agg = |func, c| AggregateExpr {
        func,
        expr: col(c),
        distinct: false,
        order_by: vec![],
    };
    // orders (0 id, 1 customer, 2 amount) ++ customers (3 id, 4 region)
    let plan = MirRelationExpr::Reduce {
        input: Box::new(MirRelationExpr::Join {
            inputs: vec![get(orders, 3), get(customers, 2)],
            equivalences: vec![vec![col(1), col(3)]],
        }),
        group_key: vec![col(4)],
        aggregates: vec![
            AggregateExpr {
                func: AggregateFunc::Count,
                expr: MirScalarExpr::literal_true(),
                distinct: false,
                order_by: vec![],
            },
            agg(AggregateFunc::Sum, 2),
        ]
        .into_iter()
        .chain(
            with_min_max
                .then(|| [agg(AggregateFunc::Min, 2), agg(AggregateFunc::Max, 2)])
                .into_iter()
                .flatten(),
        )
        .collect(),
    };
    compute.create_dataflow(DataflowDesc {
        id: view,
        name: "revenue".into(),
        plan,
        as_of: 0,
        view: None,
        layout: RowLayout::Compact,
    });

    let mut time = 0u64;
    let customer_rows = (0..CUSTOMERS)
        .map(|c| (Row::pack(&[Datum::Int32(c), Datum::Int32(c % regions)]), 1))
        .collect();
    compute.update_table(customers, time, customer_rows);

    // Bulk load: BATCH rows per timestamp, then wait until the view reflects all.
    let start = Instant::now();
    let mut id = 0;
    while id < orders_n as i32 {
        let end = (id + BATCH as i32).min(orders_n as i32);
        let rows = (id..end).map(|i| (order(i, amount_of(i, 0)), 1)).collect();
        compute.update_table(orders, time, rows);
        time += 1;
        compute.advance_time(time);
        compute.allow_compaction(time - 1);
        id = end;
    }
    let rows = compute
        .peek(view, time - 1)
        .blocking_recv()
        .expect("answer")
        .expect("rows");
    let load = start.elapsed();
    let total: i64 = rows
        .iter()
        .map(|(r, _)| match r.unpack()[1] {
            Datum::Int64(n) => n,
            _ => 0,
        })
        .sum();
    assert_eq!(total, orders_n as i64, "every order is counted");
    println!(
        "load: {orders_n} orders in {:.2} s = {:.0} rows/s ({workers} workers, {regions} groups)",
        load.as_secs_f64(),
        orders_n as f64 / load.as_secs_f64()
    );

    // Let merges left over from the load finish (idle arrangements complete the merges
    // they started), so the latencies below are those of the steady state.
    std::thread::sleep(settle);

    // Single-row updates: change one order's amount, wait for the view at that time.
    let mut latencies: Vec<Duration> = Vec::with_capacity(updates);
    for u in 0..updates {
        let id = ((u as i64 * 7_777_777) % orders_n as i64) as i32;
        let start = Instant::now();
        compute.update_table(
            orders,
            time,
            vec![
                (order(id, amount_of(id, 0)), -1),
                (order(id, amount_of(id, 1)), 1),
            ],
        );
        time += 1;
        compute.advance_time(time);
        compute.allow_compaction(time - 1);
        let rows = compute
            .peek(view, time - 1)
            .blocking_recv()
            .expect("answer");
        latencies.push(start.elapsed());
        assert!(rows.is_ok());
        // Put it back, so every update changes the data.
        compute.update_table(
            orders,
            time,
            vec![
                (order(id, amount_of(id, 1)), -1),
                (order(id, amount_of(id, 0)), 1),
            ],
        );
        time += 1;
        compute.advance_time(time);
    }
    let mut slowest: Vec<(Duration, usize)> = latencies.iter().copied().zip(0..).collect();
    slowest.sort();
    slowest.reverse();
    slowest.truncate(5);
    println!("slowest updates (latency, index): {slowest:?}");
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "update latency over {updates} single-row updates: p50 {:?} p90 {:?} p99 {:?} max {:?}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        latencies[latencies.len() - 1]
    );
    compute.shutdown();
}
