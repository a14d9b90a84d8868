//! The `postgres` phase: a Postgres CDC source's snapshot speed and commit → visible
//! freshness (issue 8), each beside a baseline measured in the same run on the same
//! upstream.
//!
//! It starts a private Postgres cluster (`eddy_testkit::Postgres`: `wal_level=logical`,
//! `fsync=off`) holding a pgbench-style schema in publication [`PUBLICATION`]:
//! `accounts` of `--pg-rows` rows (`aid`, `bid`, `abalance`, an 84-character filler) in
//! branches of [`ACCOUNTS_PER_BRANCH`] accounts (at least one per writer), and
//! `history`, empty at first. One Eddy server (the first of `--workers` workers) mirrors
//! it with `CREATE SOURCE shop FROM POSTGRES`.
//!
//! 1. Snapshot: the time from `CREATE SOURCE` until `SELECT count(*) FROM shop.accounts`
//!    in Eddy (read every [`POLL_INTERVAL`]; the snapshot appears whole, at one time)
//!    equals the row count, as rows/s. The baseline is `COPY accounts TO STDOUT` read
//!    whole by tokio-postgres from the same upstream, the fastest of [`COPY_RUNS`]: how
//!    fast Postgres hands the rows out. Beside the total it prints the stages as
//!    `SHOW SOURCES` shows them: the last poll at which the source was still copying
//!    (and its rows read), the poll at which the coordinator had logged the snapshot
//!    and handed it to the workers (a poll waits while the coordinator applies it), and
//!    what one more `count(*)` of the complete table costs alone.
//! 2. Freshness: for each of `--pg-rates` transactions/s, `--pg-writers` connections run
//!    pgbench-style transactions for `--pg-secs` seconds at a paced rate, each one round
//!    trip: `BEGIN; UPDATE accounts SET abalance = abalance + d WHERE aid = a; INSERT
//!    INTO history (..., sent_us) VALUES (...); COMMIT`. Eddy maintains
//!    `branch_summary` ([`VIEWS`]: per branch its accounts, balance and transactions, a
//!    join of two `GROUP BY`s over both mirrored tables), and a `SUBSCRIBE` to it sees
//!    each branch's transaction count rise. Every branch belongs to one writer, so its
//!    transactions commit in the order that writer sent them; when the subscription shows
//!    branch `b` with `n` transactions, its first `n` are visible. A transaction's
//!    latency is the time from its `COMMIT` returning to its writer until that row
//!    arrived (one process, one monotonic clock; a row that arrives before the writer saw
//!    its `COMMIT` return counts as 0). The first [`WARM_UP`] of each run is not counted.
//!    The latency is split at the row's `eddy_timestamp`, the coordinator's wall-clock
//!    millisecond when it applied the batch holding the transaction: COMMIT ->
//!    timestamp is upstream, replication and the source, timestamp -> visible is the
//!    log, the dataflow and the subscription. Only a guide: the timestamp is truncated
//!    to the millisecond, and runs ahead of the clock while the coordinator applies
//!    more than one batch per millisecond (times never repeat), which moves latency
//!    from the second part into the first. It also prints the CPU Eddy used per
//!    transaction and how busy the machine was (every process on it), since other load
//!    on the cores shows in the tail.
//! 3. REFRESH baseline: the same `branch_summary` as a Postgres materialized view over the
//!    upstream tables (with the rows the runs left), `REFRESH MATERIALIZED VIEW` timed
//!    `--pg-refreshes` times on the idle upstream: what a user who refreshes it today
//!    waits for each fresh answer.
//!
//! The writers' sessions use `synchronous_commit = on` unless `--pg-synchronous-commit
//! off`: a logical walsender sends only flushed WAL, and the test cluster's default
//! (`off`) leaves commits to the WAL writer, which flushes them up to three times
//! `wal_writer_delay` (200 ms) later: that delay, not Eddy's, would be measured.
//!
//! Invariants: every count is checked, so a run that loses or half-applies transactions
//! fails instead of looking fast. The snapshot's count must be the row count; every row
//! the subscription shows must have its branch's account count, and a balance equal to
//! the sum of the deltas of exactly the transactions its count says it holds (a view
//! that showed half of an upstream transaction, or a transaction twice, fails); at the
//! end Eddy's view must equal Postgres' refreshed one. Postgres, the writers, the
//! subscriber and Eddy share this machine's cores, as the figures do.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use eddy_testkit::{diff_rows, query_rows, Eddy, EddyConfig, Postgres};
use futures::{Stream, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::{eddy_binary, ms, now_us, percentile, rss_bytes, scalar, Args};

/// How often the snapshot run reads the mirrored table's count.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Timed reads of the table by `COPY`; the fastest is the baseline.
const COPY_RUNS: usize = 3;
/// How long any one wait (the snapshot, the subscription catching up) may take before
/// the run fails.
const WAIT: Duration = Duration::from_secs(600);
/// How long each freshness run warms up before its samples count.
const WARM_UP: Duration = Duration::from_secs(1);
/// Accounts per branch, as pgbench makes them.
const ACCOUNTS_PER_BRANCH: u64 = 100_000;
/// The upstream publication and the Eddy source (and so its schema).
const PUBLICATION: &str = "bench_pub";
const SOURCE: &str = "shop";
/// The largest |delta| of one transaction, as pgbench draws it.
const DELTA_MAX: i64 = 5_000;

/// The view the freshness runs read and the baseline refreshes, over `{s}accounts` and
/// `{s}history` (`shop.` in Eddy, nothing upstream).
const VIEWS: &str = "
CREATE VIEW branch_balance AS
  SELECT bid, count(*) AS accounts, sum(abalance) AS balance FROM {s}accounts GROUP BY bid;
CREATE VIEW branch_activity AS
  SELECT bid, count(*) AS transactions FROM {s}history GROUP BY bid;
CREATE MATERIALIZED VIEW branch_summary AS
  SELECT b.bid, b.accounts, b.balance, a.transactions
  FROM branch_balance b JOIN branch_activity a ON a.bid = b.bid;";

fn views(schema: &str) -> String {
    VIEWS.replace("{s}", schema)
}

/// The shape of the upstream data: `rows` accounts dealt round robin over `branches`
/// (account `aid` is in branch `(aid - 1) % branches + 1`).
#[derive(Clone, Copy, Debug)]
struct Shape {
    rows: u64,
    branches: u64,
}

impl Shape {
    fn new(rows: u64, writers: usize) -> Shape {
        Shape {
            rows,
            branches: rows.div_ceil(ACCOUNTS_PER_BRANCH).max(writers as u64),
        }
    }

    /// Accounts in branch `bid` (1-based).
    fn accounts_in(&self, bid: u64) -> u64 {
        if bid > self.rows {
            0
        } else {
            (self.rows - bid) / self.branches + 1
        }
    }

    /// A random account of branch `bid`.
    fn random_account(&self, bid: u64, rng: &mut StdRng) -> u64 {
        bid + self.branches * rng.gen_range(0..self.accounts_in(bid))
    }

    /// Branches of writer `w` of `writers`.
    fn branches_of(&self, w: usize, writers: usize) -> Vec<u64> {
        (1..=self.branches)
            .filter(|b| (b - 1) % writers as u64 == w as u64)
            .collect()
    }
}

pub async fn run(args: &Args) -> Result<()> {
    let writers = args.pg_writers;
    ensure!(writers > 0, "--pg-writers must be positive");
    ensure!(
        args.pg_rows >= writers as u64,
        "--pg-rows must be at least --pg-writers (every writer's branches need accounts)"
    );
    let shape = Shape::new(args.pg_rows, writers);
    let workers = args.workers[0];
    println!(
        "\n[postgres] CDC from a private Postgres: {} accounts in {} branches, {workers} \
         worker(s), synchronous_commit = {} for the writers",
        shape.rows, shape.branches, args.pg_synchronous_commit
    );
    let pg = tokio::task::spawn_blocking(Postgres::start)
        .await?
        .context("starting postgres")?;
    let upstream = pg.connect().await?;
    let loaded = Instant::now();
    load_upstream(&upstream, shape).await?;
    println!(
        "  upstream loaded in {:.1} s",
        loaded.elapsed().as_secs_f64()
    );
    let copy = copy_baseline(&upstream, shape.rows).await?;

    let eddy = Eddy::start(EddyConfig::new(eddy_binary(args)?).workers(workers))?;
    let eddy_pid = eddy.pid().context("eddy pid")?;
    let client = eddy.connect().await?;
    snapshot(&eddy, &client, &pg, shape, copy).await?;

    client.batch_execute(&views(&format!("{SOURCE}."))).await?;
    let mut ledger = Ledger::new(shape);
    let subscriber = eddy.connect().await?;
    let mut rows = Box::pin(
        subscriber
            .simple_query_raw("SUBSCRIBE TO branch_summary WITH (SNAPSHOT = false)")
            .await?,
    );
    // The subscription starts reading before the first transaction.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let setup = Setup {
        args,
        pg: &pg,
        eddy_pid,
        shape,
    };
    let mut p99_at = Vec::new();
    for &rate in &args.pg_rates {
        let p99 = freshness(&setup, rate, &mut rows, &mut ledger).await?;
        p99_at.push((rate, p99));
    }

    refresh_baseline(args, &upstream, &client, &p99_at).await?;
    Ok(())
}

async fn load_upstream(upstream: &Client, shape: Shape) -> Result<()> {
    upstream
        .batch_execute(&format!(
            "CREATE TABLE accounts (aid int NOT NULL, bid int NOT NULL, abalance int NOT NULL, filler char(84));
             INSERT INTO accounts SELECT i, (i - 1) % {branches} + 1, 0, '' FROM generate_series(1, {rows}) i;
             ALTER TABLE accounts ADD PRIMARY KEY (aid);
             CREATE TABLE history (hid bigserial PRIMARY KEY, tid int NOT NULL, bid int NOT NULL,
                 aid int NOT NULL, delta int NOT NULL, sent_us bigint NOT NULL);
             CREATE PUBLICATION {PUBLICATION} FOR TABLE accounts, history;",
            branches = shape.branches,
            rows = shape.rows,
        ))
        .await
        .context("loading the upstream tables")?;
    // VACUUM cannot run in a multi-statement string.
    upstream.batch_execute("VACUUM ANALYZE accounts").await?;
    upstream.batch_execute("ANALYZE history").await?;
    Ok(())
}

/// The baseline: `COPY accounts TO STDOUT` read whole, the fastest of [`COPY_RUNS`].
async fn copy_baseline(upstream: &Client, rows: u64) -> Result<Duration> {
    let mut fastest = Duration::MAX;
    let mut bytes = 0;
    for _ in 0..COPY_RUNS {
        let started = Instant::now();
        let stream = upstream
            .copy_out("COPY accounts (aid, bid, abalance, filler) TO STDOUT")
            .await?;
        futures::pin_mut!(stream);
        let (mut lines, mut read) = (0u64, 0u64);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            read += chunk.len() as u64;
            lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        let elapsed = started.elapsed();
        ensure!(lines == rows, "COPY read {lines} rows of {rows}");
        fastest = fastest.min(elapsed);
        bytes = read;
    }
    println!(
        "  baseline: COPY accounts TO STDOUT read by tokio-postgres: {:.0} rows/s ({:.2} s, \
         {:.0} MB)",
        rows as f64 / fastest.as_secs_f64(),
        fastest.as_secs_f64(),
        bytes as f64 / 1e6
    );
    Ok(fastest)
}

/// Creates the source and times its snapshot.
async fn snapshot(
    eddy: &Eddy,
    client: &Client,
    pg: &Postgres,
    shape: Shape,
    copy: Duration,
) -> Result<()> {
    let pid = eddy.pid().context("eddy pid")?;
    let before = rss_bytes(pid)?;
    let started = Instant::now();
    client
        .batch_execute(&format!(
            "CREATE SOURCE {SOURCE} FROM POSTGRES WITH (CONNECTION = 'host=127.0.0.1 port={} \
             user=postgres dbname=postgres', PUBLICATION = '{PUBLICATION}')",
            pg.port()
        ))
        .await
        .context("CREATE SOURCE")?;
    let created = started.elapsed();
    let expected = shape.rows.to_string();
    // As SHOW SOURCES says: the last time the source was still copying (when that
    // read was issued) and how many rows it had; when the coordinator had logged the
    // snapshot and handed it to the workers (a read waits while it does).
    let (mut copying, mut applied) = (None, None);
    loop {
        let asked = started.elapsed();
        let (state, position) = source_status(client).await?;
        ensure!(!state.starts_with("failed"), "the source failed: {state}");
        if let Some(rows) = state
            .strip_prefix("snapshotting: ")
            .and_then(|s| s.strip_suffix(" rows copied"))
        {
            copying = Some((asked, rows.parse::<u64>().unwrap_or(0)));
        }
        if applied.is_none() && position.starts_with("lsn") {
            applied = Some(started.elapsed());
        }
        let count = scalar(client, &format!("SELECT count(*) FROM {SOURCE}.accounts")).await?;
        if count.as_deref() == Some(expected.as_str()) {
            break;
        }
        ensure!(
            started.elapsed() < WAIT,
            "{SOURCE}.accounts holds {count:?} of {} rows after {WAIT:?}\n{}",
            shape.rows,
            eddy.log_tail(20)
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    let elapsed = started.elapsed();
    let after = rss_bytes(pid)?;
    let rate = shape.rows as f64 / elapsed.as_secs_f64();
    let (copying, copied) = copying.unwrap_or_default();
    let applied = applied.unwrap_or(elapsed);
    // What the last read itself costs, now that the table is complete.
    let counting = Instant::now();
    scalar(client, &format!("SELECT count(*) FROM {SOURCE}.accounts")).await?;
    let count_alone = counting.elapsed();
    println!(
        "  snapshot: CREATE SOURCE -> count(*) of {SOURCE}.accounts = {} in Eddy: {rate:.0} rows/s \
         ({:.2} s, of which CREATE SOURCE {:.0} ms), {:.0}% of the COPY rate; Eddy's resident \
         memory grew by {:.0} MB ({:.0} bytes/row)",
        shape.rows,
        elapsed.as_secs_f64(),
        ms(created),
        100.0 * copy.as_secs_f64() / elapsed.as_secs_f64(),
        after.saturating_sub(before) as f64 / 1e6,
        after.saturating_sub(before) as f64 / shape.rows as f64
    );
    println!(
        "    stages, as SHOW SOURCES saw them: the source was still copying at {:.2} s ({copied} \
         rows read); the coordinator had logged the snapshot and handed it to the workers by \
         {:.2} s; count(*) saw it at {:.2} s (a count(*) of the complete table alone takes \
         {:.0} ms)",
        copying.as_secs_f64(),
        applied.as_secs_f64(),
        elapsed.as_secs_f64(),
        ms(count_alone)
    );
    Ok(())
}

/// The source's state and position as `SHOW SOURCES` shows them.
async fn source_status(client: &Client) -> Result<(String, String)> {
    let rows = query_rows(client, "SHOW SOURCES").await?;
    let row = rows
        .iter()
        .find(|r| r.first().and_then(Option::as_deref) == Some(SOURCE))
        .with_context(|| format!("SHOW SOURCES lacks {SOURCE}: {rows:?}"))?;
    let column = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    Ok((column(3), column(4)))
}

/// When the subscription showed a transaction.
#[derive(Clone, Copy, Debug)]
struct Seen {
    at: Instant,
    /// `at` on the wall clock, in microseconds.
    at_us: i64,
    /// The row's `eddy_timestamp`: the time the coordinator gave the batch holding the
    /// transaction, in milliseconds of its wall clock.
    timestamp_ms: i64,
}

/// One transaction as its writer saw it.
#[derive(Clone, Copy, Debug)]
struct Committed {
    /// 1-based.
    bid: u64,
    delta: i64,
    /// The transaction was sent.
    sent: Instant,
    /// Its `COMMIT` returned.
    committed: Instant,
    /// `committed` on the wall clock, in microseconds.
    committed_us: i64,
}

/// Every transaction of the freshness runs, per branch in commit order, and what the
/// subscription showed of them.
struct Ledger {
    shape: Shape,
    /// Per branch (index `bid - 1`): its transactions, in commit order (added after
    /// each run, from the writers' logs).
    committed: Vec<Vec<Committed>>,
    /// Per branch: when each of its transactions became visible, in order.
    visible: Vec<Vec<Seen>>,
    /// Rows the subscription showed since the last check: (bid, accounts, balance,
    /// transactions).
    shown: Vec<(u64, i64, i64, u64)>,
}

impl Ledger {
    fn new(shape: Shape) -> Ledger {
        let branches = shape.branches as usize;
        Ledger {
            shape,
            committed: vec![Vec::new(); branches],
            visible: vec![Vec::new(); branches],
            shown: Vec::new(),
        }
    }

    /// A row of the subscription, arrived at `now`.
    fn show(&mut self, row: &tokio_postgres::SimpleQueryRow, now: Seen) -> Result<()> {
        let field = |i: usize| -> Result<i64> {
            let text = row.get(i).with_context(|| format!("column {i} is NULL"))?;
            text.parse()
                .with_context(|| format!("column {i}: {text:?} is not an integer"))
        };
        if field(1)? != 1 {
            return Ok(()); // a retraction of a branch's previous row
        }
        let now = Seen {
            timestamp_ms: field(0)?,
            ..now
        };
        let bid = field(2)? as u64;
        let transactions = field(5)? as u64;
        ensure!(
            (1..=self.shape.branches).contains(&bid),
            "the view shows branch {bid}"
        );
        let visible = &mut self.visible[(bid - 1) as usize];
        ensure!(
            transactions >= visible.len() as u64,
            "branch {bid} went back from {} transactions to {transactions}",
            visible.len()
        );
        visible.resize(transactions as usize, now);
        self.shown.push((bid, field(3)?, field(4)?, transactions));
        Ok(())
    }

    /// Every branch shows every transaction committed to it.
    fn caught_up(&self, committed: &[AtomicU64]) -> bool {
        self.visible
            .iter()
            .zip(committed)
            .all(|(v, c)| v.len() as u64 >= c.load(Ordering::Acquire))
    }

    /// Adds the writers' logs and checks every row shown since the last check.
    fn settle(&mut self, logs: Vec<Vec<Committed>>) -> Result<()> {
        for log in logs {
            for tx in log {
                self.committed[(tx.bid - 1) as usize].push(tx);
            }
        }
        for (b, (committed, visible)) in self.committed.iter().zip(&self.visible).enumerate() {
            ensure!(
                committed.len() == visible.len(),
                "branch {}: {} transactions committed, the view shows {}",
                b + 1,
                committed.len(),
                visible.len()
            );
        }
        for &(bid, accounts, balance, transactions) in &self.shown {
            let expected_accounts = self.shape.accounts_in(bid) as i64;
            let expected_balance: i64 = self.committed[(bid - 1) as usize][..transactions as usize]
                .iter()
                .map(|tx| tx.delta)
                .sum();
            ensure!(
                accounts == expected_accounts && balance == expected_balance,
                "branch {bid} with {transactions} transactions shows {accounts} accounts and \
                 balance {balance}; expected {expected_accounts} and {expected_balance}"
            );
        }
        self.shown.clear();
        Ok(())
    }
}

/// A writer's share of a run.
struct WriterPlan {
    id: usize,
    branches: Vec<u64>,
    /// When its first transaction is due, and the gap between two.
    start: Instant,
    interval: Duration,
    transactions: u64,
    synchronous_commit: String,
    seed: u64,
}

/// Runs `plan`'s transactions at its pace on `client`, counting each commit in
/// `committed` (per branch) as it returns.
async fn write_steadily(
    client: Client,
    plan: WriterPlan,
    shape: Shape,
    committed: Arc<[AtomicU64]>,
) -> Result<Vec<Committed>> {
    client
        .batch_execute(&format!(
            "SET synchronous_commit = {}",
            plan.synchronous_commit
        ))
        .await?;
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut log = Vec::with_capacity(plan.transactions as usize);
    for i in 0..plan.transactions {
        let due = plan.start + plan.interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let bid = plan.branches[rng.gen_range(0..plan.branches.len())];
        let aid = shape.random_account(bid, &mut rng);
        let delta = rng.gen_range(-DELTA_MAX..=DELTA_MAX);
        let sent = Instant::now();
        client
            .batch_execute(&format!(
                "BEGIN; UPDATE accounts SET abalance = abalance + {delta} WHERE aid = {aid}; \
                 INSERT INTO history (tid, bid, aid, delta, sent_us) \
                 VALUES ({}, {bid}, {aid}, {delta}, {}); COMMIT",
                plan.id + 1,
                now_us()
            ))
            .await
            .with_context(|| format!("writer {}: transaction {i}", plan.id))?;
        let committed_at = Instant::now();
        let committed_us = now_us();
        committed[(bid - 1) as usize].fetch_add(1, Ordering::Release);
        log.push(Committed {
            bid,
            delta,
            sent,
            committed: committed_at,
            committed_us,
        });
    }
    Ok(log)
}

/// What every freshness run uses.
#[derive(Clone, Copy)]
struct Setup<'a> {
    args: &'a Args,
    /// The upstream cluster, for the writers' connections.
    pg: &'a Postgres,
    /// Eddy's process, whose CPU time is measured.
    eddy_pid: u32,
    shape: Shape,
}

/// One freshness run at `rate` transactions/s; returns its p99.
async fn freshness(
    setup: &Setup<'_>,
    rate: u64,
    rows: &mut Pin<Box<impl Stream<Item = Result<SimpleQueryMessage, tokio_postgres::Error>>>>,
    ledger: &mut Ledger,
) -> Result<Duration> {
    ensure!(rate > 0, "--pg-rates must be positive");
    let Setup {
        args,
        pg,
        eddy_pid,
        shape,
    } = *setup;
    let writers = args.pg_writers;
    let duration = Duration::from_secs(args.pg_secs);
    println!(
        "\n[postgres freshness] {rate} tx/s for {} s from {writers} writers (UPDATE accounts + \
         INSERT history per transaction), COMMIT -> visible in branch_summary through SUBSCRIBE",
        args.pg_secs
    );
    let committed: Arc<[AtomicU64]> = (0..shape.branches).map(|_| AtomicU64::new(0)).collect();
    // Counts since the start of this run: what the view showed before is subtracted.
    let shown_before: Vec<usize> = ledger.visible.iter().map(Vec::len).collect();
    for (c, before) in committed.iter().zip(&shown_before) {
        c.store(*before as u64, Ordering::Release);
    }
    let per_writer = rate as f64 / writers as f64;
    let interval = Duration::from_secs_f64(1.0 / per_writer);
    let transactions = (per_writer * duration.as_secs_f64()).round() as u64;
    let mut clients = Vec::with_capacity(writers);
    for _ in 0..writers {
        clients.push(pg.connect().await?);
    }
    let start = Instant::now() + Duration::from_millis(100);
    let cpu_before = (Instant::now(), process_cpu(eddy_pid)?, machine_cpu()?);
    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(id, client)| {
            let plan = WriterPlan {
                id,
                branches: shape.branches_of(id, writers),
                // Staggered, so the writers do not send in lockstep.
                start: start + interval.mul_f64(id as f64 / writers as f64),
                interval,
                transactions,
                synchronous_commit: args.pg_synchronous_commit.clone(),
                seed: rate.wrapping_mul(1_000_003).wrapping_add(id as u64),
            };
            tokio::spawn(write_steadily(client, plan, shape, Arc::clone(&committed)))
        })
        .collect();

    let deadline = Instant::now() + duration + WAIT;
    while !(handles.iter().all(|h| h.is_finished()) && ledger.caught_up(&committed)) {
        ensure!(
            Instant::now() < deadline,
            "the subscription did not catch up with the writers in {WAIT:?}"
        );
        let message = match tokio::time::timeout(Duration::from_millis(200), rows.next()).await {
            Err(_) => continue, // check whether the writers are done
            Ok(None) => bail!("the subscription ended"),
            Ok(Some(message)) => message?,
        };
        if let SimpleQueryMessage::Row(row) = message {
            let now = Seen {
                at: Instant::now(),
                at_us: now_us(),
                timestamp_ms: 0,
            };
            ledger.show(&row, now)?;
        }
    }
    let cpu_after = (Instant::now(), process_cpu(eddy_pid)?, machine_cpu()?);
    let mut logs = Vec::with_capacity(writers);
    for handle in handles {
        logs.push(handle.await??);
    }
    let sent = logs.iter().map(Vec::len).sum::<usize>();
    let first_sent = logs.iter().filter_map(|l| l.first()).map(|t| t.sent).min();
    let last_commit = logs
        .iter()
        .filter_map(|l| l.last())
        .map(|t| t.committed)
        .max();
    let mut round_trips: Vec<Duration> = logs
        .iter()
        .flatten()
        .map(|t| t.committed - t.sent)
        .collect();
    ledger.settle(logs)?;

    let mut latencies = Vec::with_capacity(sent);
    let mut to_timestamp = Vec::with_capacity(sent);
    let mut from_timestamp = Vec::with_capacity(sent);
    let mut early = 0;
    for (b, before) in shown_before.iter().enumerate() {
        for (tx, seen) in ledger.committed[b][*before..]
            .iter()
            .zip(&ledger.visible[b][*before..])
        {
            if tx.sent < start + WARM_UP {
                continue;
            }
            if seen.at < tx.committed {
                early += 1;
            }
            latencies.push(seen.at.saturating_duration_since(tx.committed));
            let timestamp_us = seen.timestamp_ms * 1_000;
            to_timestamp.push(micros(timestamp_us - tx.committed_us));
            from_timestamp.push(micros(seen.at_us - timestamp_us));
        }
    }
    ensure!(
        !latencies.is_empty(),
        "no latency samples after the warm-up"
    );
    latencies.sort();
    round_trips.sort();
    to_timestamp.sort();
    from_timestamp.sort();
    let (Some(first), Some(last)) = (first_sent, last_commit) else {
        bail!("no transactions were sent");
    };
    let p99 = percentile(&latencies, 0.99);
    println!(
        "  {sent} transactions at {:.0} tx/s achieved (aim {rate}); transaction round trip \
         p50 {:.2} ms, p99 {:.2} ms",
        sent as f64 / (last - first).as_secs_f64(),
        ms(percentile(&round_trips, 0.5)),
        ms(percentile(&round_trips, 0.99)),
    );
    println!(
        "  COMMIT -> visible in Eddy's view: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} \
         samples{}{}",
        ms(percentile(&latencies, 0.5)),
        ms(p99),
        ms(*latencies.last().expect("samples")),
        latencies.len(),
        if early > 0 {
            format!(" ({early} seen before their COMMIT returned, counted as 0)")
        } else {
            String::new()
        },
        if rate == 1_000 {
            " (aim p99 < 10 ms)"
        } else {
            ""
        }
    );
    println!(
        "    split at the eddy_timestamp of the batch that held it: COMMIT -> timestamp p50 {:.2} \
         ms, p99 {:.2} ms; timestamp -> visible p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&to_timestamp, 0.5)),
        ms(percentile(&to_timestamp, 0.99)),
        ms(percentile(&from_timestamp, 0.5)),
        ms(percentile(&from_timestamp, 0.99)),
    );
    let wall = (cpu_after.0 - cpu_before.0).as_secs_f64();
    let eddy_cpu = (cpu_after.1 - cpu_before.1).as_secs_f64();
    let (busy, total) = (
        (cpu_after.2 .0 - cpu_before.2 .0).as_secs_f64(),
        (cpu_after.2 .1 - cpu_before.2 .1).as_secs_f64(),
    );
    println!(
        "    Eddy used {:.2} cores ({:.0} us of CPU per transaction); the machine's {} cores were \
         {:.0}% busy (every process on it, this run's and any other)",
        eddy_cpu / wall,
        eddy_cpu * 1e6 / sent as f64,
        std::thread::available_parallelism().map_or(0, usize::from),
        100.0 * busy / total.max(1e-9)
    );
    Ok(p99)
}

/// Clock ticks per second of `/proc`'s CPU times (`USER_HZ`, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// The CPU time (user and system) process `pid` has used, from `/proc/<pid>/stat`.
fn process_cpu(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces): state is field 3, utime
    // and stime are fields 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("/proc/<pid>/stat without a command name")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |i: usize| -> Result<f64> {
        Ok(fields
            .get(i - 3)
            .context("a short /proc/<pid>/stat")?
            .parse::<f64>()?)
    };
    Ok(Duration::from_secs_f64((ticks(14)? + ticks(15)?) / USER_HZ))
}

/// The busy and the total CPU time of the whole machine since boot, from `/proc/stat`
/// (idle and iowait are not busy).
fn machine_cpu() -> Result<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .context("/proc/stat without a cpu line")?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    ensure!(ticks.len() == 8, "a short cpu line in /proc/stat: {line}");
    let total: f64 = ticks.iter().sum();
    let idle = ticks[3] + ticks[4];
    Ok((
        Duration::from_secs_f64((total - idle) / USER_HZ),
        Duration::from_secs_f64(total / USER_HZ),
    ))
}

/// A difference of two wall-clock readings in microseconds; 0 if negative.
fn micros(us: i64) -> Duration {
    Duration::from_micros(us.max(0) as u64)
}

/// Times `REFRESH MATERIALIZED VIEW branch_summary` upstream, and checks that Eddy's
/// view equals the refreshed one.
async fn refresh_baseline(
    args: &Args,
    upstream: &Client,
    eddy: &Client,
    p99_at: &[(u64, Duration)],
) -> Result<()> {
    upstream.batch_execute(&views("")).await?;
    upstream.batch_execute("VACUUM ANALYZE").await?;
    let history = scalar(upstream, "SELECT count(*) FROM history")
        .await?
        .unwrap_or_default();
    println!(
        "\n[postgres baseline] REFRESH MATERIALIZED VIEW branch_summary upstream ({} accounts, \
         {history} history rows), idle",
        args.pg_rows
    );
    let mut times = Vec::with_capacity(args.pg_refreshes.max(1));
    for _ in 0..args.pg_refreshes.max(1) {
        let started = Instant::now();
        upstream
            .batch_execute("REFRESH MATERIALIZED VIEW branch_summary")
            .await?;
        times.push(started.elapsed());
    }
    times.sort();
    let refresh = percentile(&times, 0.5);
    println!(
        "  Postgres REFRESH: p50 {:.1} ms, min {:.1} ms over {} runs",
        ms(refresh),
        ms(times[0]),
        times.len()
    );
    for (rate, p99) in p99_at {
        println!(
            "  at {rate} tx/s: Eddy's view shows a COMMIT within {:.2} ms (p99); a Postgres view \
             refreshed back to back is {:.1} ms old or more when it lands ({:.0}x)",
            ms(*p99),
            ms(refresh),
            refresh.as_secs_f64() / p99.as_secs_f64().max(1e-9)
        );
    }
    let query = "SELECT bid, accounts, balance, transactions FROM branch_summary";
    let expected = query_rows(upstream, query).await?;
    let actual = query_rows(eddy, query).await?;
    if actual != expected {
        bail!(
            "Eddy's branch_summary differs from Postgres' refreshed one:\n{}",
            diff_rows(&expected, &actual).unwrap_or_default()
        );
    }
    Ok(())
}
