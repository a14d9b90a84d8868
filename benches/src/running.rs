//! The `running` phase: the cost of one change to a running-sum window view (issue 13),
//! beside the whole-partition renderer and Postgres, measured in the same run.
//!
//! The table `events (id, p, o, v)` holds `--running-rows` rows in
//! `--running-partitions` partitions `p`, each ordered by `o` (`0, 10, 20, ...`, so a
//! change can land between two rows). The view is
//!
//! ```sql
//! SELECT id, p, o, v, sum(v) OVER (PARTITION BY p ORDER BY o ROWS BETWEEN UNBOUNDED
//!        PRECEDING AND <end>) AS s FROM events
//! ```
//!
//! with `<end>` `CURRENT ROW` (prefix sums: EXPLAIN says `strategy=prefix_sums`) and,
//! for the baseline, `0 FOLLOWING`: the same frame, which the prefix-sum renderer does
//! not take, so the window re-evaluates the changed row's whole partition. Each is
//! checked in EXPLAIN before it is measured, so the baseline cannot silently become the
//! cheap path. Each view runs on a fresh server with one worker (the first of
//! `--workers`).
//!
//! Per view, `--running-changes` changes of each kind, one at a time, each timed from
//! its statement until a read of the view shows it (Eddy's SELECT waits until the view
//! has caught up with every earlier write; the read is of the changed row, whose value
//! is checked), as p50/p99:
//! - append: an INSERT of a row after the last of a random partition (one output row
//!   changes);
//! - middle: an UPDATE of `v` of the middle row of a random partition (the partition's
//!   later half changes).
//!
//! Postgres' baseline, on a private server with the same rows and an index on `(p, o)`:
//! `REFRESH MATERIALIZED VIEW` of the same query (the whole view), and the query over
//! one partition (what a system that recomputes only the changed partition pays), as
//! medians of `--running-pg-runs` runs.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use eddy_testkit::{Eddy, EddyConfig, Postgres};
use rand::{Rng, SeedableRng};
use tokio_postgres::Client;

use crate::{eddy_binary, ms, percentile, scalar, Args};

/// The distance between two consecutive `o` of a partition.
const GAP: i64 = 10;

fn view_sql(name: &str, frame_end: &str) -> String {
    format!(
        "CREATE MATERIALIZED VIEW {name} AS SELECT id, p, o, v, \
         sum(v) OVER (PARTITION BY p ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND {frame_end}) AS s \
         FROM events"
    )
}

fn load_sql(rows: usize, partitions: usize) -> String {
    format!(
        "INSERT INTO events SELECT i, i % {partitions}, (i / {partitions}) * {GAP}, i % 100 \
         FROM generate_series(0, {}) AS i",
        rows - 1
    )
}

/// The rows per partition (`p < rows % partitions` have one more).
fn partition_len(args: &Args, p: usize) -> usize {
    args.running_rows / args.running_partitions
        + usize::from(p < args.running_rows % args.running_partitions)
}

pub async fn run(args: &Args) -> Result<()> {
    ensure!(
        args.running_rows >= args.running_partitions && args.running_partitions > 0,
        "--running-rows must be at least --running-partitions"
    );
    println!(
        "\n[running] a running sum over {} rows in {} partitions (~{} rows each), {} changes of each kind",
        args.running_rows,
        args.running_partitions,
        args.running_rows / args.running_partitions,
        args.running_changes
    );
    for (label, end, strategy) in [
        ("prefix sums", "CURRENT ROW", true),
        ("whole partition", "0 FOLLOWING", false),
    ] {
        let (appends, middles) = eddy_changes(args, end, strategy).await?;
        println!(
            "  Eddy, {label:<15}: append p50 {:.2} ms p99 {:.2} ms; middle p50 {:.2} ms p99 {:.2} ms",
            ms(percentile(&appends, 0.5)),
            ms(percentile(&appends, 0.99)),
            ms(percentile(&middles, 0.5)),
            ms(percentile(&middles, 0.99)),
        );
    }
    let (refresh, partition) = postgres_recompute(args).await?;
    println!(
        "  Postgres: REFRESH MATERIALIZED VIEW p50 {:.1} ms; one partition's query p50 {:.2} ms",
        ms(refresh),
        ms(partition)
    );
    Ok(())
}

/// Loads a fresh server, creates the view with `frame_end`, checks its strategy in
/// EXPLAIN, and times the appends and the middle updates.
async fn eddy_changes(
    args: &Args,
    frame_end: &str,
    prefix_sums: bool,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let workers = args.workers.first().copied().unwrap_or(1);
    let eddy = Eddy::start(EddyConfig::new(eddy_binary(args)?).workers(workers))?;
    let client = eddy.connect().await?;
    client
        .batch_execute("CREATE TABLE events (id bigint, p int, o bigint, v bigint)")
        .await?;
    client
        .batch_execute(&load_sql(args.running_rows, args.running_partitions))
        .await?;
    let view = view_sql("running", frame_end);
    let plan = scalar_lines(&client, &format!("EXPLAIN {view}")).await?;
    ensure!(
        plan.contains("strategy=prefix_sums") == prefix_sums,
        "the view's plan is not the expected strategy:\n{plan}"
    );
    let started = Instant::now();
    client.batch_execute(&view).await?;
    let count = scalar(&client, "SELECT count(*) FROM running").await?;
    ensure!(
        count.as_deref() == Some(args.running_rows.to_string().as_str()),
        "the view has {count:?} rows"
    );
    println!(
        "  (view over {} rows built in {:.1} s, {})",
        args.running_rows,
        started.elapsed().as_secs_f64(),
        if prefix_sums {
            "strategy=prefix_sums"
        } else {
            "whole partition"
        }
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let mut lengths: Vec<usize> = (0..args.running_partitions)
        .map(|p| partition_len(args, p))
        .collect();
    let mut appends = Vec::with_capacity(args.running_changes);
    for id in args.running_rows..args.running_rows + args.running_changes {
        let p = rng.gen_range(0..args.running_partitions);
        let o = lengths[p] as i64 * GAP;
        lengths[p] += 1;
        let started = Instant::now();
        client
            .batch_execute(&format!("INSERT INTO events VALUES ({id}, {p}, {o}, 1)"))
            .await?;
        let s = scalar(&client, &format!("SELECT s FROM running WHERE id = {id}")).await?;
        appends.push(started.elapsed());
        ensure!(s.is_some(), "the appended row {id} is not in the view");
    }
    let mut middles = Vec::with_capacity(args.running_changes);
    for _ in 0..args.running_changes {
        let p = rng.gen_range(0..args.running_partitions);
        // The original rows of partition p are ids p, p + partitions, ...
        let k = partition_len(args, p) / 2;
        let id = p + k * args.running_partitions;
        let before = scalar(&client, &format!("SELECT s FROM running WHERE id = {id}"))
            .await?
            .context("the middle row")?;
        let started = Instant::now();
        client
            .batch_execute(&format!("UPDATE events SET v = v + 1 WHERE id = {id}"))
            .await?;
        let after = scalar(&client, &format!("SELECT s FROM running WHERE id = {id}"))
            .await?
            .context("the middle row")?;
        middles.push(started.elapsed());
        ensure!(
            after.parse::<i64>()? == before.parse::<i64>()? + 1,
            "row {id}: running sum {before} became {after}"
        );
    }
    appends.sort();
    middles.sort();
    Ok((appends, middles))
}

/// Every row of `query`'s first column, one per line.
async fn scalar_lines(client: &Client, query: &str) -> Result<String> {
    let mut out = String::new();
    for m in client.simple_query(query).await? {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = m {
            out.push_str(row.get(0).unwrap_or(""));
            out.push('\n');
        }
    }
    Ok(out)
}

/// Postgres: the median REFRESH of the view, and the median query of one partition.
async fn postgres_recompute(args: &Args) -> Result<(Duration, Duration)> {
    let pg = Postgres::start()?;
    let client = pg.connect().await?;
    client
        .batch_execute("CREATE TABLE events (id bigint, p int, o bigint, v bigint)")
        .await?;
    client
        .batch_execute(&load_sql(args.running_rows, args.running_partitions))
        .await?;
    client
        .batch_execute("CREATE INDEX ON events (p, o); ANALYZE events")
        .await?;
    client
        .batch_execute(&view_sql("running", "CURRENT ROW"))
        .await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let mut refreshes = Vec::new();
    let mut partitions = Vec::new();
    for _ in 0..args.running_pg_runs.max(1) {
        let id = rng.gen_range(0..args.running_rows);
        let started = Instant::now();
        client
            .batch_execute(&format!(
                "UPDATE events SET v = v + 1 WHERE id = {id}; REFRESH MATERIALIZED VIEW running"
            ))
            .await?;
        refreshes.push(started.elapsed());
        let p = rng.gen_range(0..args.running_partitions);
        let started = Instant::now();
        client
            .simple_query(&format!(
                "SELECT id, p, o, v, sum(v) OVER (PARTITION BY p ORDER BY o ROWS BETWEEN UNBOUNDED \
                 PRECEDING AND CURRENT ROW) FROM events WHERE p = {p}"
            ))
            .await?;
        partitions.push(started.elapsed());
    }
    refreshes.sort();
    partitions.sort();
    Ok((percentile(&refreshes, 0.5), percentile(&partitions, 0.5)))
}
