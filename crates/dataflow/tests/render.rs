//! Every operator rendered on 1, 2 and 4 workers, under random inserts and deletes,
//! compared after every step with the oracle's from-scratch evaluation.

mod common;

use common::*;
use eddy_expr::{AggregateExpr, AggregateFunc, ColumnOrder, MirRelationExpr, MirScalarExpr};
use eddy_repr::{Datum, Row};

/// Generates a random row of a table.
type RowGen<'a> = &'a dyn Fn(&mut Rng) -> Row;

/// Random inserts and deletes to table `id`, rows from `gen`, for `steps` ticks,
/// checking `views` after each.
fn churn(
    h: &mut Harness,
    rng: &mut Rng,
    tables: &[(u64, RowGen)],
    views: &[u64],
    steps: usize,
    per_step: usize,
) {
    for _ in 0..steps {
        for (id, gen) in tables {
            let mut updates = Vec::new();
            for _ in 0..per_step {
                if rng.below(3) == 0 {
                    if let Some(r) = h.some_row(*id, rng) {
                        updates.push((r, -1));
                        continue;
                    }
                }
                updates.push((gen(rng), 1));
            }
            // Apply removals of the same row at most as many times as it exists.
            let mut seen = std::collections::BTreeMap::new();
            updates.retain(|(r, d)| {
                if *d > 0 {
                    return true;
                }
                let have = h.tables[&eddy_repr::GlobalId::User(*id)]
                    .get(r)
                    .copied()
                    .unwrap_or(0);
                let used = seen.entry(r.clone()).or_insert(0);
                *used += 1;
                *used <= have
            });
            h.update(*id, updates);
        }
        h.tick();
        for v in views {
            h.check(*v);
        }
    }
}

fn agg(func: AggregateFunc, expr: MirScalarExpr, distinct: bool) -> AggregateExpr {
    AggregateExpr {
        func,
        expr,
        distinct,
        order_by: vec![],
    }
}

#[test]
fn map_filter_project() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(workers as u64);
        let t = h.table(1, vec![int4(), text(), boolean()]);
        // SELECT c, a, 5 FROM t WHERE c (with a map that is projected away).
        let plan = t
            .clone()
            .map(vec![col(0), lit(Datum::Int32(5), int4())])
            .filter(vec![col(2)])
            .project(vec![2, 0, 4]);
        h.view(10, plan);
        // Two filters in a row, and a Map reading an earlier Map's column.
        let plan2 = t
            .filter(vec![col(2)])
            .map(vec![col(1), col(3)])
            .filter(vec![MirScalarExpr::If {
                cond: Box::new(col(2)),
                then: Box::new(lit(Datum::Bool(true), boolean())),
                els: Box::new(lit(Datum::Bool(false), boolean())),
            }])
            .project(vec![4, 0]);
        h.view(11, plan2);
        let gen = |rng: &mut Rng| {
            let b = match rng.below(3) {
                0 => Datum::Null,
                1 => Datum::from("x"),
                _ => Datum::from("y"),
            };
            let c = match rng.below(3) {
                0 => Datum::Null,
                1 => Datum::Bool(true),
                _ => Datum::Bool(false),
            };
            row(&[rng.int4(10, 5), b, c])
        };
        churn(&mut h, &mut rng, &[(1, &gen)], &[1, 10, 11], 6, 30);
        h.shutdown();
    });
}

#[test]
fn joins_of_two_and_three_inputs() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(100 + workers as u64);
        let a = h.table(1, vec![int4(), int4()]);
        let b = h.table(2, vec![int4(), int4()]);
        let c = h.table(3, vec![int4()]);
        // a JOIN b ON a.1 = b.0 (NULL keys never match).
        h.view(
            10,
            MirRelationExpr::Join {
                inputs: vec![a.clone(), b.clone()],
                equivalences: vec![vec![col(1), col(2)]],
            },
        );
        // Two key columns, one class with two columns of the same input.
        h.view(
            11,
            MirRelationExpr::Join {
                inputs: vec![a.clone(), b.clone()],
                equivalences: vec![vec![col(0), col(2)], vec![col(1), col(3), col(0)]],
            },
        );
        // a JOIN b ON a.1 = b.0 JOIN c ON c.0 = a.0, then a cross join with c.
        h.view(
            12,
            MirRelationExpr::Join {
                inputs: vec![a.clone(), b.clone(), c.clone()],
                equivalences: vec![vec![col(1), col(2)], vec![col(4), col(0)]],
            },
        );
        h.view(
            13,
            MirRelationExpr::Join {
                inputs: vec![a.clone(), c.clone()],
                equivalences: vec![],
            },
        );
        // A join with a literal in a class (a.0 = 3), and a join of a table with itself.
        h.view(
            14,
            MirRelationExpr::Join {
                inputs: vec![a.clone(), a],
                equivalences: vec![
                    vec![col(0), lit(Datum::Int32(3), int4())],
                    vec![col(1), col(3)],
                ],
            },
        );
        let pair = |rng: &mut Rng| row(&[rng.int4(6, 6), rng.int4(6, 6)]);
        let single = |rng: &mut Rng| row(&[rng.int4(6, 6)]);
        churn(
            &mut h,
            &mut rng,
            &[(1, &pair), (2, &pair), (3, &single)],
            &[10, 11, 12, 13, 14],
            6,
            8,
        );
        h.shutdown();
    });
}

#[test]
fn reductions_with_deletes() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(200 + workers as u64);
        // (group int4, value int4, big int8, flag bool)
        let t = h.table(1, vec![int4(), int4(), int8(), boolean()]);
        h.view(
            10,
            MirRelationExpr::Reduce {
                input: Box::new(t.clone()),
                group_key: vec![col(0)],
                aggregates: vec![
                    agg(AggregateFunc::Count, col(1), false),
                    agg(AggregateFunc::Sum, col(1), false),
                    agg(AggregateFunc::Sum, col(2), false),
                    agg(AggregateFunc::Min, col(1), false),
                    agg(AggregateFunc::Max, col(1), false),
                    agg(AggregateFunc::BoolAnd, col(3), false),
                    agg(AggregateFunc::BoolOr, col(3), false),
                    agg(
                        AggregateFunc::Count,
                        lit(Datum::Bool(true), boolean()),
                        false,
                    ),
                ],
            },
        );
        // DISTINCT aggregates next to plain ones (three reduction paths).
        h.view(
            11,
            MirRelationExpr::Reduce {
                input: Box::new(t.clone()),
                group_key: vec![col(0)],
                aggregates: vec![
                    agg(AggregateFunc::Count, col(1), true),
                    agg(AggregateFunc::Sum, col(1), false),
                    agg(AggregateFunc::Sum, col(1), true),
                    agg(AggregateFunc::Count, col(2), true),
                ],
            },
        );
        // A global aggregate (empty key) and DISTINCT on two columns.
        h.view(
            12,
            MirRelationExpr::Reduce {
                input: Box::new(t.clone()),
                group_key: vec![],
                aggregates: vec![
                    agg(
                        AggregateFunc::Count,
                        lit(Datum::Bool(true), boolean()),
                        false,
                    ),
                    agg(AggregateFunc::Max, col(2), false),
                ],
            },
        );
        h.view(
            13,
            MirRelationExpr::Reduce {
                input: Box::new(t),
                group_key: vec![col(0), col(3)],
                aggregates: vec![],
            },
        );
        let gen = |rng: &mut Rng| {
            let big = if rng.below(5) == 0 {
                Datum::Null
            } else {
                Datum::Int64(rng.below(1000) as i64 - 500)
            };
            let flag = match rng.below(5) {
                0 => Datum::Null,
                1 => Datum::Bool(false),
                _ => Datum::Bool(true),
            };
            row(&[rng.int4(4, 8), rng.int4(50, 6), big, flag])
        };
        churn(&mut h, &mut rng, &[(1, &gen)], &[10, 11, 12, 13], 8, 40);
        // Delete everything: groups disappear, the global aggregate yields no row.
        let all: Vec<_> = h.tables[&eddy_repr::GlobalId::User(1)]
            .iter()
            .map(|(r, d)| (r.clone(), -d))
            .collect();
        h.update(1, all);
        h.tick();
        for v in [10, 11, 12, 13] {
            h.check(v);
        }
        h.shutdown();
    });
}

#[test]
fn numeric_and_float_aggregates() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(250 + workers as u64);
        let numeric = eddy_repr::ScalarType::Numeric {
            precision: None,
            scale: None,
        }
        .nullable(true);
        // (group int4, n numeric with mixed scales and NaNs, f float8 of exact halves)
        let t = h.table(1, vec![int4(), numeric, float8()]);
        h.view(
            10,
            MirRelationExpr::Reduce {
                input: Box::new(t.clone()),
                group_key: vec![col(0)],
                aggregates: vec![
                    agg(AggregateFunc::Sum, col(1), false),
                    agg(AggregateFunc::Sum, col(2), false),
                    agg(AggregateFunc::Min, col(1), false),
                    agg(AggregateFunc::Max, col(2), true),
                    agg(AggregateFunc::Sum, col(2), true),
                    // FIXME: sum(DISTINCT numeric) sums normalized values, so its scale
                    // can be smaller than Postgres' (157.6 for 157.60); not tested here.
                    agg(AggregateFunc::Count, col(1), true),
                ],
            },
        );
        let gen = |rng: &mut Rng| {
            // NaNs come and go (the sums must count them to retract them), and
            // 38-digit values cancel out exactly.
            let n = match rng.below(9) {
                0 => Datum::Null,
                1 => Datum::Numeric("1.5".parse().unwrap()),
                2 => Datum::Numeric("-0.25".parse().unwrap()),
                3 => Datum::Numeric("2".parse().unwrap()),
                4 => Datum::Numeric("2.50".parse().unwrap()),
                5 => Datum::Numeric(eddy_repr::Numeric::NAN),
                6 => Datum::Numeric("12345678901234567890123456789012345.678".parse().unwrap()),
                7 => Datum::Numeric("-12345678901234567890123456789012345.678".parse().unwrap()),
                _ => Datum::Numeric(
                    eddy_repr::Numeric::from_parts(false, u128::from(rng.below(1000)), 1).unwrap(),
                ),
            };
            let f = if rng.below(5) == 0 {
                Datum::Null
            } else {
                Datum::from(rng.below(40) as f64 * 0.5 - 10.0)
            };
            row(&[rng.int4(3, 0), n, f])
        };
        churn(&mut h, &mut rng, &[(1, &gen)], &[10], 8, 30);
        h.shutdown();
    });
}

#[test]
fn min_and_max_after_deleting_the_extremes() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let t = h.table(1, vec![int4(), int4()]);
        h.view(
            10,
            MirRelationExpr::Reduce {
                input: Box::new(t),
                group_key: vec![col(0)],
                aggregates: vec![
                    agg(AggregateFunc::Min, col(1), false),
                    agg(AggregateFunc::Max, col(1), false),
                    agg(AggregateFunc::Count, col(1), false),
                ],
            },
        );
        // One big group (spread over many buckets) and a small one.
        let rows: Vec<Row> = (0..2000)
            .map(|v| row(&[Datum::Int32(1), Datum::Int32(v)]))
            .chain([row(&[Datum::Int32(2), Datum::Int32(7)])])
            .collect();
        h.insert(1, rows);
        h.tick();
        h.check(10);
        for extreme in [0, 1999, 1, 1998] {
            h.update(
                1,
                vec![(row(&[Datum::Int32(1), Datum::Int32(extreme)]), -1)],
            );
            h.update(1, vec![(row(&[Datum::Int32(2), Datum::Int32(7)]), -1)]);
            h.update(1, vec![(row(&[Datum::Int32(2), Datum::Int32(7)]), 1)]);
            h.tick();
            h.check(10);
        }
        let expected = h.expected(eddy_repr::GlobalId::User(10)).unwrap();
        assert!(expected.contains_key(&row(&[
            Datum::Int32(1),
            Datum::Int32(2),
            Datum::Int32(1997),
            Datum::Int64(1996)
        ])));
        h.shutdown();
    });
}

#[test]
fn top_k() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(300 + workers as u64);
        let t = h.table(1, vec![int4(), int4(), int4()]);
        // Per group, by b DESC NULLS LAST then c ASC NULLS FIRST: rows 2..4.
        h.view(
            10,
            MirRelationExpr::TopK {
                input: Box::new(t.clone()),
                group_key: vec![0],
                order_key: vec![
                    ColumnOrder {
                        column: 1,
                        desc: true,
                        nulls_last: true,
                    },
                    ColumnOrder {
                        column: 2,
                        desc: false,
                        nulls_last: false,
                    },
                ],
                limit: Some(3),
                offset: 1,
            },
        );
        // Global top 5 by c, and an OFFSET without LIMIT.
        h.view(
            11,
            MirRelationExpr::TopK {
                input: Box::new(t.clone()),
                group_key: vec![],
                order_key: vec![ColumnOrder {
                    column: 2,
                    desc: false,
                    nulls_last: true,
                }],
                limit: Some(5),
                offset: 0,
            },
        );
        h.view(
            12,
            MirRelationExpr::TopK {
                input: Box::new(t),
                group_key: vec![0],
                order_key: vec![ColumnOrder {
                    column: 1,
                    desc: false,
                    nulls_last: true,
                }],
                limit: None,
                offset: 2,
            },
        );
        let gen = |rng: &mut Rng| row(&[rng.int4(3, 0), rng.int4(8, 5), rng.int4(20, 5)]);
        churn(&mut h, &mut rng, &[(1, &gen)], &[10, 11, 12], 6, 25);
        h.shutdown();
    });
}

#[test]
fn union_negate_threshold() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(400 + workers as u64);
        let a = h.table(1, vec![int4()]);
        let b = h.table(2, vec![int4()]);
        // a EXCEPT ALL b, a UNION ALL b UNION ALL a, and a - b unthresholded.
        h.view(10, a.clone().union(b.clone().negate()).threshold());
        h.view(
            11,
            MirRelationExpr::Union {
                base: Box::new(a.clone()),
                inputs: vec![b.clone(), a.clone()],
            },
        );
        h.view(12, a.union(b.negate()));
        let gen = |rng: &mut Rng| row(&[rng.int4(8, 6)]);
        churn(
            &mut h,
            &mut rng,
            &[(1, &gen), (2, &gen)],
            &[10, 11, 12],
            6,
            10,
        );
        h.shutdown();
    });
}

#[test]
fn views_over_views_and_constants() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(500 + workers as u64);
        let t = h.table(1, vec![int4(), int4()]);
        let counts = h.view(
            10,
            MirRelationExpr::Reduce {
                input: Box::new(t.clone()),
                group_key: vec![col(0)],
                aggregates: vec![agg(AggregateFunc::Count, col(1), false)],
            },
        );
        // A view reading the first view's arrangement, joined back with the table and
        // unioned with a constant.
        let constant = MirRelationExpr::Constant {
            rows: vec![
                (row(&[Datum::Int32(-1), Datum::Int64(0)]), 2),
                (row(&[Datum::Int32(-2), Datum::Null]), 1),
            ],
            typ: vec![int4(), int8()],
        };
        h.view(20, counts.clone().union(constant));
        h.view(
            21,
            MirRelationExpr::Join {
                inputs: vec![counts, t],
                equivalences: vec![vec![col(0), col(2)]],
            }
            .project(vec![0, 1, 3]),
        );
        let gen = |rng: &mut Rng| row(&[rng.int4(5, 6), rng.int4(5, 3)]);
        churn(&mut h, &mut rng, &[(1, &gen)], &[10, 20, 21], 5, 15);
        // A view created later, at a later as_of, reading both.
        let later = h.view(
            22,
            MirRelationExpr::Get {
                id: eddy_repr::GlobalId::User(21),
                typ: vec![int4(), int8(), int4()],
                name: "v21".into(),
            }
            .filter(vec![MirScalarExpr::If {
                cond: Box::new(lit(Datum::Bool(true), boolean())),
                then: Box::new(lit(Datum::Bool(true), boolean())),
                els: Box::new(lit(Datum::Bool(false), boolean())),
            }]),
        );
        let _ = later;
        churn(&mut h, &mut rng, &[(1, &gen)], &[10, 20, 21, 22], 4, 15);
        h.shutdown();
    });
}

fn binary(a: MirScalarExpr, func: eddy_expr::BinaryFunc, b: MirScalarExpr) -> MirScalarExpr {
    a.call_binary(b, func)
}

#[test]
fn expressions_in_every_operator() {
    use eddy_expr::BinaryFunc::{Add, Div, Eq, Mod, Mul, NotEq};
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(600 + workers as u64);
        let a = h.table(1, vec![int4(), int4()]);
        let b = h.table(2, vec![int4(), int4()]);
        // SELECT x, x + y FROM a WHERE y = 3
        h.view(
            10,
            a.clone()
                .filter(vec![binary(col(1), Eq, lit(Datum::Int32(3), int4()))])
                .map(vec![binary(col(0), Add, col(1))])
                .project(vec![0, 2]),
        );
        // SELECT 100 / y FROM a WHERE y <> 0: no error, the filter comes first.
        h.view(
            11,
            a.clone()
                .filter(vec![binary(col(1), NotEq, lit(Datum::Int32(0), int4()))])
                .map(vec![binary(lit(Datum::Int32(100), int4()), Div, col(1))])
                .project(vec![2]),
        );
        // a JOIN b ON a.x + 1 = b.x
        h.view(
            12,
            MirRelationExpr::Join {
                inputs: vec![a.clone(), b],
                equivalences: vec![vec![
                    binary(col(0), Add, lit(Datum::Int32(1), int4())),
                    col(2),
                ]],
            },
        );
        // SELECT x % 3, sum(x * y), max(x + y) FROM a GROUP BY x % 3
        h.view(
            13,
            MirRelationExpr::Reduce {
                input: Box::new(a.clone()),
                group_key: vec![binary(col(0), Mod, lit(Datum::Int32(3), int4()))],
                aggregates: vec![
                    agg(AggregateFunc::Sum, binary(col(0), Mul, col(1)), false),
                    agg(AggregateFunc::Max, binary(col(0), Add, col(1)), false),
                ],
            },
        );
        // SELECT 100 / y FROM a: errors while some y is 0.
        h.view(
            14,
            a.map(vec![binary(lit(Datum::Int32(100), int4()), Div, col(1))])
                .project(vec![2]),
        );
        let pair = |rng: &mut Rng| row(&[rng.int4(8, 6), rng.int4(5, 6)]);
        churn(
            &mut h,
            &mut rng,
            &[(1, &pair), (2, &pair)],
            &[10, 11, 12, 13, 14],
            6,
            10,
        );
        // Remove every row with y = 0: the error view answers again.
        let zeros: Vec<_> = h.tables[&eddy_repr::GlobalId::User(1)]
            .iter()
            .filter(|(r, _)| r.unpack()[1] == Datum::Int32(0))
            .map(|(r, d)| (r.clone(), -d))
            .collect();
        h.update(1, zeros);
        h.tick();
        assert!(h
            .peek_at(eddy_repr::GlobalId::User(14), h.read_time())
            .is_ok());
        h.check(14);
        h.shutdown();
    });
}

/// A recursive read of binding 0 with `typ`.
fn recursive_get(typ: Vec<eddy_repr::ColumnType>) -> MirRelationExpr {
    MirRelationExpr::GetRecursive {
        id: 0,
        typ,
        name: "r".into(),
    }
}

fn recursive(
    base: MirRelationExpr,
    step: MirRelationExpr,
    distinct: bool,
    max_iterations: u64,
) -> MirRelationExpr {
    MirRelationExpr::Recursive {
        id: 0,
        name: "r".into(),
        base: Box::new(base),
        step: Box::new(step),
        distinct,
        max_iterations,
    }
}

#[test]
fn recursion_over_a_changing_graph() {
    use eddy_expr::BinaryFunc::{Add, Lt};
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let mut rng = Rng::new(700 + workers as u64);
        let edges = h.table(1, vec![int4(), int4()]);
        // Transitive closure (UNION): reach = edges ∪ {(r.src, e.dst) | r.dst = e.src}.
        let closure_step = MirRelationExpr::Join {
            inputs: vec![recursive_get(vec![int4(), int4()]), edges.clone()],
            equivalences: vec![vec![col(1), col(2)]],
        }
        .project(vec![0, 3]);
        h.view(
            10,
            recursive(edges.clone(), closure_step.clone(), true, 100),
        );
        // The same with a limit of 2 rounds: an error while some path is longer.
        h.view(11, recursive(edges.clone(), closure_step, true, 2));
        // Walks from node 0 with their lengths (UNION ALL: one row per path), below 4.
        let walk_step = MirRelationExpr::Join {
            inputs: vec![recursive_get(vec![int4(), int4()]), edges.clone()],
            equivalences: vec![vec![col(0), col(2)]],
        }
        .filter(vec![binary(col(1), Lt, lit(Datum::Int32(3), int4()))])
        .map(vec![binary(col(1), Add, lit(Datum::Int32(1), int4()))])
        .project(vec![3, 4]);
        let start = MirRelationExpr::Constant {
            rows: vec![(row(&[Datum::Int32(0), Datum::Int32(0)]), 1)],
            typ: vec![int4(), int4()],
        };
        h.view(12, recursive(start, walk_step, false, 100));
        let gen = |rng: &mut Rng| row(&[rng.int4(6, 0), rng.int4(6, 12)]);
        churn(&mut h, &mut rng, &[(1, &gen)], &[10, 11, 12], 8, 4);
        h.shutdown();
    });
}
