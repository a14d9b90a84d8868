//! The `joins` phase: planning and execution time of n-way inner joins, Eddy beside
//! Postgres (issue 12: the planner joins the inputs of an n-way inner join along the
//! join graph, `crates/expr/src/join_order.rs`).
//!
//! Two queries, each at every size of `--join-sizes`:
//!
//! 1. Chain: 16 tables `c0..c15 (a int, b int)` of n rows each, both columns uniform in
//!    `0..n`, and `SELECT count(*), sum(c0.a) FROM <c0..c15 shuffled> WHERE c0.b = c1.a
//!    AND c1.b = c2.a AND ... AND c14.b = c15.a`. Each step has an expected fanout of 1,
//!    so the join holds about n rows after every step.
//! 2. Star: `fact (k0 int, ..., k7 int, amount int)` of n rows, the keys uniform over
//!    the 8 dimensions `dim0..dim7 (k int PRIMARY KEY, label int)` of n/10 rows each
//!    (`k` is `0..n/10`, `label` uniform in `0..10`), and `SELECT d0.label, count(*),
//!    sum(f.amount) FROM <fact and dims shuffled> WHERE f.k0 = d0.k AND ... AND f.k7 =
//!    d7.k GROUP BY d0.label`. Every fact row finds exactly one row in each dimension.
//!
//! The FROM lists are shuffled once (one seed), so neither engine gets the join order
//! for free from the query text; both engines run the same text.
//!
//! Per engine, query and size: the tables are created, loaded by the same multi-row
//! INSERTs (`--batch` rows each) and, in Postgres, `VACUUM ANALYZE`d; then the query
//! runs once as a warm-up (in Eddy this first read also waits until the load is
//! visible), then `--join-runs` times `EXPLAIN <query>` and `--join-runs` times the
//! query. Planning time is the round trip of `EXPLAIN` (parse, plan, optimize, render
//! the plan as text; no execution) and execution time is the round trip of the query
//! (in Eddy a one-off dataflow over the tables' arrangements, built and dropped per
//! query), both as medians. Then the tables are dropped.
//!
//! Invariants: every run of a query must return the rows of its warm-up, and Eddy must
//! return exactly Postgres' rows; otherwise the run fails, so a wrong answer never
//! passes for a fast one. Eddy and Postgres are measured one after the other, never at
//! the same time. Postgres runs with its defaults: its 16-table chain exceeds
//! `geqo_threshold` (12) and is planned by the genetic optimizer, and it may use
//! parallel workers; Eddy runs with the first of `--workers`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use eddy_testkit::{diff_rows, format_rows, query_rows, Eddy, EddyConfig, Postgres, TextRow};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio_postgres::Client;

use crate::{eddy_binary, load, ms, percentile, Args};

/// Tables in the chain.
const CHAIN_TABLES: usize = 16;
/// Dimensions of the star.
const STAR_DIMENSIONS: usize = 8;
/// Fact rows per dimension row.
const STAR_FACT_PER_DIMENSION_ROW: usize = 10;
/// Distinct labels of a dimension row (the groups of the star query).
const STAR_LABELS: i32 = 10;
/// `amount` of a fact row is uniform in `0..STAR_AMOUNT_MAX`.
const STAR_AMOUNT_MAX: i32 = 1000;

/// One table of a workload: its DDL and its rows, `width` int columns each, flat.
struct Table {
    name: String,
    ddl: String,
    width: usize,
    values: Vec<i32>,
}

impl Table {
    fn rows(&self) -> usize {
        self.values.len() / self.width
    }

    /// The rows `from..to` as the tuples of a VALUES list.
    fn values_sql(&self, from: usize, to: usize) -> String {
        let mut sql = String::with_capacity((to - from) * self.width * 8);
        for (i, row) in self.values[from * self.width..to * self.width]
            .chunks(self.width)
            .enumerate()
        {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for (j, value) in row.iter().enumerate() {
                if j > 0 {
                    sql.push(',');
                }
                write!(sql, "{value}").expect("writing to a String");
            }
            sql.push(')');
        }
        sql
    }
}

/// A query with the tables it reads.
struct Workload {
    /// `chain` or `star`, for the table.
    name: &'static str,
    /// The rows per table, for the table.
    size: String,
    tables: Vec<Table>,
    query: String,
}

/// The chain of [`CHAIN_TABLES`] tables of `rows` rows each.
fn chain(rows: usize, rng: &mut StdRng) -> Workload {
    let range = i32::try_from(rows).expect("join sizes fit an int");
    let tables = (0..CHAIN_TABLES)
        .map(|i| Table {
            name: format!("c{i}"),
            ddl: format!("CREATE TABLE c{i} (a int, b int)"),
            width: 2,
            values: (0..rows * 2).map(|_| rng.gen_range(0..range)).collect(),
        })
        .collect();
    let mut from: Vec<String> = (0..CHAIN_TABLES).map(|i| format!("c{i}")).collect();
    from.shuffle(rng);
    let predicates: Vec<String> = (1..CHAIN_TABLES)
        .map(|i| format!("c{}.b = c{i}.a", i - 1))
        .collect();
    Workload {
        name: "chain",
        size: format!("{CHAIN_TABLES} x {rows}"),
        tables,
        query: format!(
            "SELECT count(*), sum(c0.a) FROM {} WHERE {}",
            from.join(", "),
            predicates.join(" AND ")
        ),
    }
}

/// The star: a fact table of `fact_rows` rows and [`STAR_DIMENSIONS`] dimensions.
fn star(fact_rows: usize, rng: &mut StdRng) -> Workload {
    let dimension_rows = (fact_rows / STAR_FACT_PER_DIMENSION_ROW).max(1);
    let keys = i32::try_from(dimension_rows).expect("join sizes fit an int");
    let mut tables = Vec::with_capacity(STAR_DIMENSIONS + 1);
    let key_columns: Vec<String> = (0..STAR_DIMENSIONS).map(|i| format!("k{i} int")).collect();
    tables.push(Table {
        name: "fact".to_string(),
        ddl: format!("CREATE TABLE fact ({}, amount int)", key_columns.join(", ")),
        width: STAR_DIMENSIONS + 1,
        values: (0..fact_rows)
            .flat_map(|_| {
                let mut row: Vec<i32> = (0..STAR_DIMENSIONS)
                    .map(|_| rng.gen_range(0..keys))
                    .collect();
                row.push(rng.gen_range(0..STAR_AMOUNT_MAX));
                row
            })
            .collect(),
    });
    for i in 0..STAR_DIMENSIONS {
        tables.push(Table {
            name: format!("dim{i}"),
            ddl: format!("CREATE TABLE dim{i} (k int PRIMARY KEY, label int)"),
            width: 2,
            values: (0..keys)
                .flat_map(|k| [k, rng.gen_range(0..STAR_LABELS)])
                .collect(),
        });
    }
    let mut from: Vec<String> = (0..STAR_DIMENSIONS)
        .map(|i| format!("dim{i} d{i}"))
        .chain(["fact f".to_string()])
        .collect();
    from.shuffle(rng);
    let predicates: Vec<String> = (0..STAR_DIMENSIONS)
        .map(|i| format!("f.k{i} = d{i}.k"))
        .collect();
    Workload {
        name: "star",
        size: format!("{fact_rows} + {STAR_DIMENSIONS} x {dimension_rows}"),
        tables,
        query: format!(
            "SELECT d0.label, count(*), sum(f.amount) FROM {} WHERE {} GROUP BY d0.label",
            from.join(", "),
            predicates.join(" AND ")
        ),
    }
}

/// One engine's figures for one workload.
struct Timings {
    plan: Duration,
    exec: Duration,
    rows: Vec<TextRow>,
}

/// Runs `sql` `runs` times; returns the median round trip and checks every answer
/// against `expected`.
async fn median_round_trip(
    client: &Client,
    sql: &str,
    runs: usize,
    expected: Option<&[TextRow]>,
) -> Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let started = Instant::now();
        let rows = query_rows(client, sql).await?;
        times.push(started.elapsed());
        if let Some(expected) = expected {
            if let Some(diff) = diff_rows(expected, &rows) {
                anyhow::bail!("run {run} differs from the warm-up:\n{diff}");
            }
        }
    }
    times.sort();
    Ok(percentile(&times, 0.5))
}

/// Creates and loads the workload's tables through `client`.
async fn create_and_load(args: &Args, client: &Client, workload: &Workload) -> Result<()> {
    for table in &workload.tables {
        client
            .batch_execute(&table.ddl)
            .await
            .with_context(|| table.ddl.clone())?;
        load(client, &table.name, table.rows(), args.batch, |from, to| {
            table.values_sql(from, to)
        })
        .await?;
    }
    Ok(())
}

/// Times the workload's query on loaded tables: a warm-up, then EXPLAIN and the query.
async fn time_query(args: &Args, client: &Client, workload: &Workload) -> Result<Timings> {
    let rows = query_rows(client, &workload.query)
        .await
        .context("warm-up")?;
    let explain = format!("EXPLAIN {}", workload.query);
    let plan = median_round_trip(client, &explain, args.join_runs, None).await?;
    let exec = median_round_trip(client, &workload.query, args.join_runs, Some(&rows)).await?;
    Ok(Timings { plan, exec, rows })
}

async fn drop_tables(client: &Client, workload: &Workload) -> Result<()> {
    for table in &workload.tables {
        client
            .batch_execute(&format!("DROP TABLE {}", table.name))
            .await?;
    }
    Ok(())
}

async fn run_on_eddy(args: &Args, client: &Client, workload: &Workload) -> Result<Timings> {
    create_and_load(args, client, workload).await?;
    let timings = time_query(args, client, workload).await?;
    drop_tables(client, workload).await?;
    Ok(timings)
}

async fn run_on_postgres(args: &Args, client: &Client, workload: &Workload) -> Result<Timings> {
    create_and_load(args, client, workload).await?;
    // Vacuumed and analyzed, as loaded tables settle to, so that the planner has
    // statistics and autovacuum does not start in the middle of a run.
    client.batch_execute("VACUUM ANALYZE").await?;
    let timings = time_query(args, client, workload).await?;
    drop_tables(client, workload).await?;
    Ok(timings)
}

/// Runs the phase and prints Eddy's figures beside Postgres'.
pub(crate) async fn run(args: &Args) -> Result<()> {
    ensure!(args.join_runs > 0, "--join-runs must be at least 1");
    ensure!(
        args.join_sizes.iter().all(|&n| n > 0),
        "--join-sizes must be at least 1"
    );
    let workers = *args.workers.first().context("at least one worker count")?;
    println!(
        "\n[joins] {CHAIN_TABLES}-table chain and {STAR_DIMENSIONS}-dimension star, shuffled FROM lists; \
         plan = EXPLAIN round trip, exec = query round trip, medians of {} after a warm-up; \
         Eddy with {workers} worker(s)",
        args.join_runs
    );

    let eddy = Eddy::start(EddyConfig::new(eddy_binary(args)?).workers(workers))?;
    let eddy_client = eddy.connect().await?;
    let pg = Postgres::start()?;
    let pg_client = pg.connect().await?;

    const QUERY: usize = 6;
    const SIZE: usize = 22;
    println!(
        "  {:<QUERY$}{:<SIZE$}{:^19}   {:^19}   {:>8}",
        "", "", "Eddy", "Postgres", "exec"
    );
    println!(
        "  {:<QUERY$}{:<SIZE$}{:>9}{:>10}   {:>9}{:>10}   {:>8}  result",
        "query", "rows per table", "plan ms", "exec ms", "plan ms", "exec ms", "Eddy/PG"
    );
    let mut rng = StdRng::seed_from_u64(12);
    for &size in &args.join_sizes {
        for workload in [chain(size, &mut rng), star(size, &mut rng)] {
            let on_eddy = run_on_eddy(args, &eddy_client, &workload)
                .await
                .with_context(|| {
                    format!(
                        "eddy, {} {}: {}; log tail:\n{}",
                        workload.name,
                        workload.size,
                        workload.query,
                        eddy.log_tail(20)
                    )
                })?;
            let on_pg = run_on_postgres(args, &pg_client, &workload)
                .await
                .with_context(|| {
                    format!(
                        "postgres, {} {}: {}",
                        workload.name, workload.size, workload.query
                    )
                })?;
            if let Some(diff) = diff_rows(&on_pg.rows, &on_eddy.rows) {
                anyhow::bail!(
                    "{} {}: Eddy's answer differs from Postgres' ({}):\n{diff}",
                    workload.name,
                    workload.size,
                    workload.query
                );
            }
            let result = if workload.name == "chain" {
                format_rows(&on_pg.rows)
            } else {
                format!("{} groups", on_pg.rows.len())
            };
            println!(
                "  {:<QUERY$}{:<SIZE$}{:>9.2}{:>10.2}   {:>9.2}{:>10.2}   {:>7.1}x  {result}",
                workload.name,
                workload.size,
                ms(on_eddy.plan),
                ms(on_eddy.exec),
                ms(on_pg.plan),
                ms(on_pg.exec),
                on_eddy.exec.as_secs_f64() / on_pg.exec.as_secs_f64().max(1e-9),
            );
        }
    }
    println!(
        "  (same answers from both engines; Postgres with its defaults: GEQO for the chain, \
         parallel workers allowed)"
    );
    Ok(())
}
