//! The `range` phase: range reads through an index (issue 11), beside the same read of
//! an identical column without one, measured in the same run on the same server.
//!
//! One table, `readings (id bigint PRIMARY KEY, k bigint, k_plain bigint, v text)`, of
//! `--range-rows` rows: `k` is a permutation of the ids (so a range of `w` values holds
//! `w` rows, spread over the table), `k_plain` the same values, and `CREATE INDEX ON
//! readings (k)`. For each width in `--range-widths`, `--range-reads` reads of
//! `SELECT id, v FROM readings WHERE k BETWEEN $lo AND $lo + w - 1` at random `lo`
//! (through the simple protocol, one at a time), then the same reads of `k_plain`,
//! which no index serves (a scan of the table's arrangement); p50/p99 of each, and the
//! rows the workers visited per read (`eddy_peek_rows_scanned_total`).
//!
//! Invariants: EXPLAIN must show the index serving the one read and not the other, and
//! every read must return exactly `w` rows, so a read that answers nothing fails the
//! run instead of looking fast.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use eddy_testkit::{Eddy, EddyConfig};
use rand::{Rng, SeedableRng};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::{eddy_binary, load, ms, percentile, Args};

/// A multiplier coprime with any row count that is not a multiple of it, so
/// `id * STRIDE % rows` is a permutation.
const STRIDE: usize = 1_000_003;

/// One loop of range reads: each read's latency, sorted, and the rows visited.
struct Loop {
    latencies: Vec<Duration>,
    rows_scanned: u64,
}

impl Loop {
    fn summary(&self) -> String {
        format!(
            "p50 {:>8.3} ms  p99 {:>8.3} ms  {:>9} rows visited/read",
            ms(percentile(&self.latencies, 0.5)),
            ms(percentile(&self.latencies, 0.99)),
            self.rows_scanned / self.latencies.len().max(1) as u64,
        )
    }
}

/// The workers' count of rows visited by reads, from `/metrics`.
fn rows_scanned(eddy: &Eddy) -> Result<u64> {
    let metrics = eddy.http_get("/metrics")?;
    metrics
        .body
        .lines()
        .find_map(|l| {
            l.strip_prefix("eddy_peek_rows_scanned_total ")?
                .parse()
                .ok()
        })
        .context("no eddy_peek_rows_scanned_total in /metrics")
}

async fn read_loop(
    eddy: &Eddy,
    client: &Client,
    column: &str,
    width: usize,
    starts: &[usize],
) -> Result<Loop> {
    let before = rows_scanned(eddy)?;
    let mut latencies = Vec::with_capacity(starts.len());
    for &lo in starts {
        let sql = format!(
            "SELECT id, v FROM readings WHERE {column} BETWEEN {lo} AND {}",
            lo + width - 1
        );
        let started = Instant::now();
        let messages = client.simple_query(&sql).await?;
        latencies.push(started.elapsed());
        let rows = messages
            .iter()
            .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
            .count();
        ensure!(rows == width, "{sql}: {rows} rows, not {width}");
    }
    latencies.sort();
    Ok(Loop {
        latencies,
        rows_scanned: rows_scanned(eddy)? - before,
    })
}

async fn explain_first_line(client: &Client, sql: &str) -> Result<String> {
    let rows = client.query(&format!("EXPLAIN {sql}"), &[]).await?;
    Ok(rows.first().context("an empty EXPLAIN")?.get(0))
}

/// Runs the phase and prints each width's latencies with the index and without.
pub(crate) async fn run(args: &Args) -> Result<()> {
    let rows = args.range_rows;
    ensure!(rows > 0, "--range-rows must be at least 1");
    ensure!(
        !rows.is_multiple_of(STRIDE),
        "--range-rows must not be a multiple of {STRIDE}"
    );
    ensure!(args.range_reads > 0, "--range-reads must be at least 1");
    let workers = *args.workers.first().context("at least one worker count")?;
    println!(
        "\n[range] {rows} rows in readings, {} reads per loop, Eddy with {workers} worker(s)",
        args.range_reads
    );
    let eddy = Eddy::start(EddyConfig::new(eddy_binary(args)?).workers(workers))?;
    let client = eddy.connect().await?;
    let timed = async {
        client
            .batch_execute(
                "CREATE TABLE readings (id bigint PRIMARY KEY, k bigint, k_plain bigint, v text)",
            )
            .await?;
        let loaded = load(&client, "readings", rows, args.batch, |from, to| {
            (from..to)
                .map(|id| {
                    let k = id * STRIDE % rows;
                    format!("({id}, {k}, {k}, 'v{id}')")
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .await?;
        let started = Instant::now();
        client
            .batch_execute("CREATE INDEX readings_k ON readings (k)")
            .await?;
        // The index answers once it is built.
        let indexed = "SELECT id FROM readings WHERE k BETWEEN 0 AND 0";
        ensure!(
            client.query(indexed, &[]).await?.len() == 1,
            "no row with k = 0"
        );
        println!(
            "  load {:.1} s; CREATE INDEX until it answers {:.1} s",
            loaded.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        let explained = explain_first_line(&client, indexed).await?;
        ensure!(
            explained.starts_with("Index range: readings_k"),
            "EXPLAIN {indexed}: {explained}"
        );
        let plain = "SELECT id FROM readings WHERE k_plain BETWEEN 0 AND 0";
        let explained = explain_first_line(&client, plain).await?;
        ensure!(
            !explained.starts_with("Index"),
            "EXPLAIN {plain}: {explained}"
        );

        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        println!(
            "  {:<28}{:<66}without (a scan)",
            "BETWEEN lo AND lo + w - 1", "with the index"
        );
        for &width in &args.range_widths {
            ensure!(
                width > 0 && width <= rows,
                "range width {width} out of 1..={rows}"
            );
            let starts: Vec<usize> = (0..args.range_reads)
                .map(|_| rng.gen_range(0..=rows - width))
                .collect();
            let with_index = read_loop(&eddy, &client, "k", width, &starts).await?;
            let scan = read_loop(&eddy, &client, "k_plain", width, &starts).await?;
            println!(
                "  w = {width:<24}{}    {}",
                with_index.summary(),
                scan.summary()
            );
        }
        anyhow::Ok(())
    };
    timed
        .await
        .with_context(|| format!("eddy; log tail:\n{}", eddy.log_tail(20)))
}
