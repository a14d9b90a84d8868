//! The `copy` phase (issue 11): the load rate of `COPY orders FROM STDIN` of
//! `--copy-rows` rows of 5 columns into a table feeding a join + group-by materialized
//! view, with each of `--workers` workers on a fresh server, timed from the COPY's
//! start until the view reflects every row (a SELECT of the view after the COPY
//! returns: Eddy's reads wait until the view has caught up with every earlier write).
//!
//! Beside it, in the same run and on the same rows (generated once, as COPY text):
//! 1. Postgres: `COPY orders FROM STDIN` into a table, then `REFRESH MATERIALIZED VIEW`
//!    of the same view, on a private cluster.
//! 2. A hand-written differential dataflow with the same worker counts: each worker
//!    parses its share of the same lines, and the rows go through an arrangement, a
//!    join with the customers and a reduce (count and sum per region), timed until
//!    the probe passes the load's time.
//!
//! Aims (issue 11): at least 0.5M rows/s on 2 workers, and 2 workers at least 1.6x
//! one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use differential_dataflow::input::Input;
use eddy_testkit::{Eddy, EddyConfig, Postgres};
use futures::SinkExt;
use tokio_postgres::Client;

use crate::{eddy_binary, order_fields, scalar, Args, CUSTOMERS, REGIONS, SCHEMA, VIEW};

/// Bytes per CopyData message the client sends.
const MESSAGE_BYTES: usize = 256 << 10;

/// The rows of `orders` as COPY text lines, the same values as the ingest phase's.
fn order_lines(rows: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows * 48);
    for i in 0..rows {
        out.extend_from_slice(order_fields(i).join("\t").as_bytes());
        out.push(b'\n');
    }
    out
}

fn customer_lines() -> Vec<u8> {
    (0..CUSTOMERS)
        .flat_map(|i| format!("{i}\tcustomer{i}\tregion{}\n", i % REGIONS).into_bytes())
        .collect()
}

/// `COPY table FROM STDIN` of `data`, in messages of [`MESSAGE_BYTES`].
async fn copy_in(client: &Client, table: &str, data: &[u8]) -> Result<u64> {
    let sink = client
        .copy_in(&format!("COPY {table} FROM STDIN"))
        .await
        .with_context(|| format!("COPY {table}"))?;
    futures::pin_mut!(sink);
    for piece in data.chunks(MESSAGE_BYTES) {
        sink.send(bytes_of(piece)).await?;
    }
    Ok(sink.finish().await?)
}

fn bytes_of(piece: &[u8]) -> std::io::Cursor<Vec<u8>> {
    std::io::Cursor::new(piece.to_vec())
}

/// The view's row count over all regions (`sum(n)`), which must be the rows loaded.
async fn view_total(client: &Client) -> Result<u64> {
    let total = scalar(client, "SELECT sum(n) FROM revenue")
        .await?
        .context("an empty view")?;
    Ok(total.parse()?)
}

/// Eddy with `workers` workers: COPY of the orders until the view reflects them.
/// Returns the time until the COPY returned and until the view reflected it.
async fn eddy_copy(args: &Args, workers: usize, orders: &[u8]) -> Result<(Duration, Duration)> {
    let eddy = Eddy::start(EddyConfig::new(eddy_binary(args)?).workers(workers))?;
    let client = eddy.connect().await?;
    client.batch_execute(SCHEMA).await?;
    client.batch_execute(VIEW).await?;
    copy_in(&client, "customers", &customer_lines()).await?;
    let started = Instant::now();
    let n = copy_in(&client, "orders", orders).await?;
    let copied = started.elapsed();
    let total = view_total(&client).await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        n == args.copy_rows as u64 && total == n,
        "COPY {n}, view total {total}"
    );
    drop(client);
    drop(eddy);
    Ok((copied, elapsed))
}

/// Postgres: COPY of the orders, then REFRESH MATERIALIZED VIEW.
async fn postgres_copy(args: &Args, orders: &[u8]) -> Result<(Duration, Duration)> {
    let pg = Postgres::start()?;
    let client = pg.connect().await?;
    client.batch_execute(SCHEMA).await?;
    copy_in(&client, "customers", &customer_lines()).await?;
    client.batch_execute("ANALYZE customers").await?;
    client.batch_execute(VIEW).await?;
    let started = Instant::now();
    let n = copy_in(&client, "orders", orders).await?;
    let copied = started.elapsed();
    client
        .batch_execute("REFRESH MATERIALIZED VIEW revenue")
        .await?;
    let elapsed = started.elapsed();
    let total = view_total(&client).await?;
    anyhow::ensure!(
        n == args.copy_rows as u64 && total == n,
        "COPY {n}, view total {total}"
    );
    Ok((copied, elapsed))
}

/// A differential dataflow with `workers` workers: each parses its share of the
/// lines into `(id, customer, cents, status, ts)` and the rows go through an
/// arrangement by customer, a join with the customers and a count and sum per region.
fn dd_copy(workers: usize, orders: Arc<Vec<u8>>, rows: usize) -> Result<Duration> {
    let started = Instant::now();
    let totals = timely::execute(timely::Config::process(workers), move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let probe = timely::dataflow::ProbeHandle::new();
        let (mut order_input, mut customer_input, totals) = worker.dataflow::<u64, _, _>(|scope| {
            let (order_input, orders) =
                scope.new_collection::<(u64, u64, i64, String, String), isize>();
            let (customer_input, customers) = scope.new_collection::<(u64, String), isize>();
            let totals = orders
                .map(|(_id, customer, cents, _status, _ts)| (customer, cents))
                .arrange_by_key()
                .join_core(customers.arrange_by_key(), |_customer, cents, region| {
                    Some((region.clone(), *cents))
                })
                .reduce(|_region, amounts, out| {
                    let mut n = 0isize;
                    let mut sum = 0i64;
                    for (cents, count) in amounts {
                        n += count;
                        sum += **cents * *count as i64;
                    }
                    out.push(((n, sum), 1));
                });
            let totals_seen = std::rc::Rc::new(std::cell::Cell::new(0isize));
            let seen = totals_seen.clone();
            totals
                .inspect(move |((_region, (n, _sum)), _t, diff)| seen.set(seen.get() + n * diff))
                .probe_with(&probe);
            (order_input, customer_input, totals_seen)
        });
        if index == 0 {
            for i in 0..CUSTOMERS as u64 {
                customer_input.insert((i, format!("region{}", i % REGIONS as u64)));
            }
        }
        for (i, line) in orders.split(|b| *b == b'\n').enumerate() {
            if i % peers != index || line.is_empty() {
                continue;
            }
            let line = std::str::from_utf8(line).expect("UTF-8");
            let mut fields = line.split('\t');
            let mut next = || fields.next().expect("5 fields");
            let id: u64 = next().parse().expect("id");
            let customer: u64 = next().parse().expect("customer");
            let (units, fraction) = next().split_once('.').expect("amount");
            let cents = units.parse::<i64>().expect("units") * 100
                + fraction.parse::<i64>().expect("cents");
            let status = next().to_string();
            let ts = next().to_string();
            order_input.insert((id, customer, cents, status, ts));
        }
        order_input.advance_to(1);
        order_input.flush();
        customer_input.advance_to(1);
        customer_input.flush();
        worker.step_while(|| probe.less_than(&1));
        totals.get()
    })
    .map_err(|e| anyhow::anyhow!("timely: {e}"))?
    .join()
    .into_iter()
    .map(|r| r.map_err(|e| anyhow::anyhow!("a timely worker failed: {e}")))
    .collect::<Result<Vec<isize>>>()?;
    let elapsed = started.elapsed();
    let total: isize = totals.iter().sum();
    anyhow::ensure!(total as usize == rows, "the dataflow counted {total} rows");
    Ok(elapsed)
}

fn rate(rows: usize, elapsed: Duration) -> f64 {
    rows as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

pub(crate) async fn run(args: &Args) -> Result<()> {
    let rows = args.copy_rows;
    println!(
        "\n[copy] COPY FROM STDIN of {rows} rows (5 columns) into a table feeding a join + \
         group-by view, until the view reflects them (load average {})",
        load_average()
    );
    let orders = Arc::new(order_lines(rows));
    println!("  data: {} MiB of COPY text", orders.len() >> 20);
    let mut eddy_rates = Vec::new();
    for &workers in &args.workers {
        let (copied, elapsed) = eddy_copy(args, workers, &orders).await?;
        let r = rate(rows, elapsed);
        println!(
            "  Eddy, {workers} worker(s): {r:.0} rows/s ({:.2} s; the COPY returned after {:.2} s)  \
             (aim >= 500000 on 2)",
            elapsed.as_secs_f64(),
            copied.as_secs_f64()
        );
        eddy_rates.push((workers, r));
    }
    if let (Some(&(1, one)), Some(&(2, two))) = (
        eddy_rates.iter().find(|(w, _)| *w == 1),
        eddy_rates.iter().find(|(w, _)| *w == 2),
    ) {
        println!(
            "  Eddy 2 workers / 1 worker: {:.2}x  (aim >= 1.6x)",
            two / one
        );
    }
    let (copied, refreshed) = postgres_copy(args, &orders).await?;
    println!(
        "  Postgres COPY + REFRESH MATERIALIZED VIEW: {:.0} rows/s ({:.2} s; the COPY alone {:.0} rows/s)",
        rate(rows, refreshed),
        refreshed.as_secs_f64(),
        rate(rows, copied)
    );
    for &workers in &args.workers {
        let elapsed = dd_copy(workers, orders.clone(), rows)?;
        println!(
            "  differential dataflow by hand (parse + arrange + join + reduce), {workers} worker(s): \
             {:.0} rows/s ({:.2} s)",
            rate(rows, elapsed),
            elapsed.as_secs_f64()
        );
    }
    println!("  load average after: {}", load_average());
    Ok(())
}
