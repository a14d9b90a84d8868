//! Peeks with pushdown ([`PeekSpec`]): a map/filter/project applied on the workers and
//! a key prefix that bounds the scan, on 1, 2 and 4 workers. Every answer is compared
//! with the oracle: the MFP applied (by `eddy_expr`'s own evaluator) to the rows of
//! the collection whose packed bytes start with the prefix.

mod common;

use common::*;
use eddy_dataflow::{PeekError, PeekSpec};
use eddy_expr::{
    BinaryFunc, EvalError, MapFilterProject, MirRelationExpr, MirScalarExpr, UnaryFunc,
};
use eddy_repr::{Datum, GlobalId, Row};

fn user(id: u64) -> GlobalId {
    GlobalId::User(id)
}

fn int(i: i32) -> Datum {
    Datum::Int32(i)
}

fn eq(a: MirScalarExpr, b: MirScalarExpr) -> MirScalarExpr {
    a.call_binary(b, BinaryFunc::Eq)
}

fn lit_int(i: i32) -> MirScalarExpr {
    lit(int(i), int4())
}

/// What a peek of `id` with `spec` must answer, from the oracle's contents of `id`.
fn expected(h: &Harness, id: u64, spec: &PeekSpec) -> Result<Multiset, PeekError> {
    let contents = h.expected(user(id))?;
    let mut out = Multiset::new();
    let mut errors = Vec::new();
    for (row, diff) in contents {
        if let Some(range) = &spec.key_range {
            if !range.contains(&row) {
                continue;
            }
        }
        let row = match &spec.mfp {
            None => Some(row),
            Some(mfp) => match mfp.apply_row(&row) {
                Ok(row) => row,
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
        };
        if let Some(row) = row {
            *out.entry(row).or_insert(0) += diff;
        }
    }
    out.retain(|_, d| *d != 0);
    match errors.into_iter().min() {
        Some(e) => Err(PeekError::Eval(e)),
        None => Ok(out),
    }
}

/// Peeks `id` with `spec` at the read time and compares with the oracle; returns the
/// answer.
fn check_peek(h: &mut Harness, id: u64, spec: PeekSpec) -> Result<Multiset, PeekError> {
    let want = expected(h, id, &spec);
    let time = h.read_time();
    let got = wait(h.compute.peek_with(user(id), time, spec.clone())).map(consolidate);
    assert_eq!(got, want, "peek of {id} with {spec:?} at {time}");
    got
}

/// `t(a int4, b int4, c text)` (table 1) with 500 rows: `a` in 0..10 (several rows
/// each, some NULL), `b` distinct, `c` one of 7 strings; loaded over many ticks so
/// the arrangement has many batches. Returns a `Get` of it.
fn load(h: &mut Harness) -> MirRelationExpr {
    let t = h.table(1, vec![int4(), int4(), text()]);
    let mut rng = Rng::new(11);
    for tick in 0..20 {
        let rows = (0..25)
            .map(|i| {
                let n = tick * 25 + i;
                row(&[
                    rng.int4(10, 8),
                    int(n),
                    Datum::String(format!("s{}", n % 7)),
                ])
            })
            .collect();
        h.insert(1, rows);
        h.tick();
    }
    t
}

#[test]
fn key_prefix_reads_exactly_the_matching_rows() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        load(&mut h);
        for a in [0, 3, 9] {
            let spec = PeekSpec::all().with_key_prefix(&[int(a)]);
            let rows = check_peek(&mut h, 1, spec).expect("rows");
            assert!(rows.len() > 10, "prefix {a} matches several rows");
            assert!(rows.keys().all(|r| r.unpack()[0] == int(a)));
        }
        // NULL leading columns are a prefix like any other.
        let rows =
            check_peek(&mut h, 1, PeekSpec::all().with_key_prefix(&[Datum::Null])).expect("rows");
        assert!(!rows.is_empty() && rows.keys().all(|r| r.unpack()[0].is_null()));
        // No match, a different type (int8 10 is not int4 10), and a two-column
        // prefix.
        for prefix in [
            vec![int(10)],
            vec![Datum::Int64(3)],
            vec![int(3), int(0)],
            vec![int(-1)],
        ] {
            let spec = PeekSpec::all().with_key_prefix(&prefix);
            assert_eq!(
                check_peek(&mut h, 1, spec),
                Ok(Multiset::new()),
                "{prefix:?}"
            );
        }
        let (first, _) = h.tables[&user(1)]
            .iter()
            .find(|(r, _)| !r.unpack()[0].is_null())
            .map(|(r, d)| (r.clone(), *d))
            .expect("a row");
        let two = first.unpack()[..2].to_vec();
        let rows = check_peek(&mut h, 1, PeekSpec::all().with_key_prefix(&two)).expect("rows");
        assert_eq!(rows.len(), 1);
        // An empty prefix reads everything.
        let all = check_peek(&mut h, 1, PeekSpec::all().with_key_prefix(&[])).expect("rows");
        assert_eq!(all.values().sum::<i64>(), 500);
        h.shutdown();
    });
}

#[test]
fn key_prefix_follows_updates_and_reads_old_times() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        load(&mut h);
        let before = h.read_time();
        let spec = PeekSpec::all().with_key_prefix(&[int(4)]);
        let old = check_peek(&mut h, 1, spec.clone()).expect("rows");
        // Move every a = 4 row to a = 5, and add a duplicate of one of them.
        let moved: Vec<Row> = old.keys().cloned().collect();
        for r in &moved {
            let mut d = r.unpack();
            d[0] = int(5);
            h.update(1, vec![(r.clone(), -1), (Row::pack(&d), 1)]);
        }
        h.update(1, vec![(row(&[int(4), int(-7), Datum::Null]), 2)]);
        // Hold compaction at `before` with a pending peek issued now, then tick.
        let pending =
            h.compute
                .peek_with(user(1), before, PeekSpec::all().with_key_prefix(&[int(4)]));
        h.tick();
        assert_eq!(wait(pending).map(consolidate), Ok(old));
        let now = check_peek(&mut h, 1, spec).expect("rows");
        assert_eq!(now.len(), 1);
        assert_eq!(now.values().copied().collect::<Vec<_>>(), vec![2]);
        check_peek(&mut h, 1, PeekSpec::all().with_key_prefix(&[int(5)])).expect("rows");
        h.shutdown();
    });
}

#[test]
fn mfp_runs_on_the_workers() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        load(&mut h);
        // SELECT b * 2, c FROM t WHERE a = 3 AND b % 2 = 0: maps, filters and
        // projects, with and without the prefix that the equality implies.
        let mfp = MapFilterProject {
            input_arity: 3,
            expressions: vec![col(1).call_binary(lit_int(2), BinaryFunc::Mul)],
            predicates: vec![
                eq(col(0), lit_int(3)),
                eq(col(1).call_binary(lit_int(2), BinaryFunc::Mod), lit_int(0)),
            ],
            projection: vec![3, 2],
        };
        let without = check_peek(&mut h, 1, PeekSpec::with_mfp(mfp.clone())).expect("rows");
        let with = check_peek(
            &mut h,
            1,
            PeekSpec::with_mfp(mfp.clone()).with_key_prefix(&[int(3)]),
        )
        .expect("rows");
        assert!(!with.is_empty());
        assert_eq!(with, without);
        // A projection that makes rows equal: multiplicities add up.
        let counted = MapFilterProject {
            input_arity: 3,
            expressions: vec![],
            predicates: vec![],
            projection: vec![2],
        };
        let rows = check_peek(&mut h, 1, PeekSpec::with_mfp(counted)).expect("rows");
        assert_eq!(rows.len(), 7);
        assert_eq!(rows.values().sum::<i64>(), 500);
        // The identity MFP is the plain read.
        let plain = check_peek(&mut h, 1, PeekSpec::all()).expect("rows");
        let identity = PeekSpec::with_mfp(MapFilterProject::identity(3));
        assert_eq!(check_peek(&mut h, 1, identity), Ok(plain));
        h.shutdown();
    });
}

#[test]
fn mfp_over_a_view() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        let t = load(&mut h);
        // v = SELECT c, a FROM t WHERE a IS NOT NULL: arranged by (c, a).
        let not_null = col(0)
            .call_unary(UnaryFunc::IsNull)
            .call_unary(UnaryFunc::Not);
        h.view(2, t.filter(vec![not_null]).project(vec![2, 0]));
        h.tick();
        let spec = PeekSpec::with_mfp(MapFilterProject {
            input_arity: 2,
            expressions: vec![],
            predicates: vec![eq(col(0), lit(Datum::String("s3".into()), text()))],
            projection: vec![1],
        });
        let plain = check_peek(&mut h, 2, spec.clone()).expect("rows");
        let seek = check_peek(
            &mut h,
            2,
            spec.with_key_prefix(&[Datum::String("s3".into())]),
        )
        .expect("rows");
        assert!(!seek.is_empty());
        assert_eq!(plain, seek);
        h.shutdown();
    });
}

#[test]
fn mfp_errors_fail_the_peek() {
    for_each_worker_count(|workers| {
        let mut h = Harness::new(workers);
        load(&mut h);
        // 100 / (b - 250) fails on the one row with b = 250 only.
        let (bad, _) = h.tables[&user(1)]
            .iter()
            .find(|(r, _)| r.unpack()[1] == int(250))
            .map(|(r, d)| (r.clone(), *d))
            .expect("row with b = 250");
        let quotient = lit_int(100).call_binary(
            col(1).call_binary(lit_int(250), BinaryFunc::Sub),
            BinaryFunc::Div,
        );
        let mfp = MapFilterProject {
            input_arity: 3,
            expressions: vec![quotient],
            predicates: vec![],
            projection: vec![0, 3],
        };
        assert_eq!(
            check_peek(&mut h, 1, PeekSpec::with_mfp(mfp.clone())),
            Err(PeekError::Eval(EvalError::DivisionByZero))
        );
        // A prefix that excludes the bad row reads fine; one that includes it fails.
        let bad_a = bad.unpack()[0].clone();
        let other = if bad_a == int(0) { int(1) } else { int(0) };
        let spec = PeekSpec::with_mfp(mfp.clone()).with_key_prefix(&[other]);
        assert!(check_peek(&mut h, 1, spec).is_ok());
        let spec = PeekSpec::with_mfp(mfp.clone()).with_key_prefix(&[bad_a]);
        assert_eq!(
            check_peek(&mut h, 1, spec),
            Err(PeekError::Eval(EvalError::DivisionByZero))
        );
        // A filter that rejects the row before the expression is needed spares it
        // the error.
        let mut filtered = mfp.clone();
        filtered
            .predicates
            .push(col(1).call_binary(lit_int(250), BinaryFunc::NotEq));
        assert!(check_peek(&mut h, 1, PeekSpec::with_mfp(filtered)).is_ok());
        // Several failing rows report the smallest error, whichever worker holds them.
        let too_big = row(&[int(20), int(i32::MAX), Datum::Null]);
        h.insert(1, vec![too_big.clone()]);
        h.tick();
        let overflow = MapFilterProject {
            input_arity: 3,
            expressions: vec![col(1).call_binary(lit_int(1), BinaryFunc::Add)],
            predicates: vec![],
            projection: vec![3],
        };
        let got = check_peek(&mut h, 1, PeekSpec::with_mfp(overflow.clone()));
        assert!(matches!(
            got,
            Err(PeekError::Eval(EvalError::OutOfRange(_)))
        ));
        // Another row fails with division by zero, the smaller error.
        let mut both = overflow;
        both.expressions.push(lit_int(1).call_binary(
            col(1).call_binary(lit_int(250), BinaryFunc::Sub),
            BinaryFunc::Div,
        ));
        both.projection.push(4);
        assert_eq!(
            check_peek(&mut h, 1, PeekSpec::with_mfp(both)),
            Err(PeekError::Eval(EvalError::DivisionByZero))
        );
        // A deleted row no longer fails the peek.
        h.update(1, vec![(too_big, -1), (bad, -1)]);
        h.tick();
        assert!(check_peek(&mut h, 1, PeekSpec::with_mfp(mfp)).is_ok());
        h.shutdown();
    });
}

#[test]
fn malformed_peeks_are_errors_not_panics() {
    let mut h = Harness::new(2);
    load(&mut h);
    let time = h.read_time();
    // A projection past the end of the row.
    let mut bad = MapFilterProject::identity(3);
    bad.projection.push(7);
    let got = wait(h.compute.peek_with(user(1), time, PeekSpec::with_mfp(bad)));
    assert!(
        matches!(got, Err(PeekError::Eval(EvalError::Internal(_)))),
        "{:?}",
        got.map(|rows| rows.len())
    );
    // An input arity that is not the collection's.
    let mut wider = MapFilterProject::identity(5);
    wider.projection = vec![4];
    let got = wait(
        h.compute
            .peek_with(user(1), time, PeekSpec::with_mfp(wider)),
    );
    assert!(
        matches!(got, Err(PeekError::Eval(EvalError::Internal(_)))),
        "{:?}",
        got.map(|rows| rows.len())
    );
    let narrower = MapFilterProject::identity(1);
    let got = wait(
        h.compute
            .peek_with(user(1), time, PeekSpec::with_mfp(narrower)),
    );
    assert!(
        matches!(got, Err(PeekError::Eval(EvalError::Internal(_)))),
        "{:?}",
        got.map(|rows| rows.len())
    );
    // The workers are still fine.
    assert!(!h.compute.is_failed());
    check_peek(&mut h, 1, PeekSpec::all()).expect("rows");
    h.shutdown();
}
