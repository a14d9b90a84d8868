//! The `windows` phase: event-time windowed views over Kafka streams (issue 10) —
//! throughput, memory as the stream grows, and produce → visible latency — each beside
//! a baseline measured in the same run.
//!
//! Like the `kafka` phase it runs its own broker and starts a fresh Eddy server for
//! every measurement. Every stream has event time: `CREATE STREAM ... WITH (KAFKA_TOPIC
//! = ..., VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts', LATENESS = '5 seconds')`, `ts` in
//! milliseconds since the epoch. Events advance [`EVENTS_PER_SECOND`] to an
//! event-second from 2026-03-01 09:00 UTC; one in ten is shifted back by up to
//! [`MAX_SHIFT_MS`], out of order but within the lateness, so none is late and every
//! count below is exact. Topics have one partition: the watermark is one per stream, so
//! a partition read ahead of another (a fetch holds thousands of events, more
//! event-seconds than the lateness) would make the other's events late.
//!
//! 1. Throughput: `--windows-events` events per workload are produced before anything
//!    reads them; the baseline is a plain rdkafka consumer's rate reading the same topic
//!    (the fastest of three reads, decoding nothing). Then, for each `--workers` count
//!    and workload, a fresh server is timed from `CREATE STREAM` (with the view) until
//!    the view holds every event, checked by an exact total (with the server's peak
//!    resident memory meanwhile, sampled every 20 ms: the backlog is read in large
//!    batches):
//!    - workload 2: clicks per user ([`USERS`]) per 10-minute `TUMBLE` window;
//!      `sum(n)` = events;
//!    - workload 3: page views per region per minute: the stream `TUMBLE`d LEFT JOIN a
//!      `users` table (INSERTed before the stream is created: [`USERS`] users in
//!      [`REGIONS`] regions; a tenth of the page views are of users not in it, whose
//!      region is NULL); `sum(n)` = events;
//!    - workload 4: min, count and avg of the ask per ticker ([`TICKERS`]) in 5-second
//!      `HOP` windows advancing every second; each event is in five windows, so
//!      `sum(trades)` = 5 × events.
//! 2. Memory: workload 2 on one server while its topic grows to each of
//!    `--windows-memory-events` events, produced [`MEMORY_CHUNK`] at a time and each
//!    chunk read before the next (a bounded backlog): at each mark, once every event is
//!    in, the server's resident memory (and its peak since the previous mark), the
//!    view's `eddy_view_arrangement_records` and rows, the events the stream read
//!    (`eddy_source_messages_total`) and holds, and its watermark. Twice: a stream that
//!    keeps every event (RSS is expected to grow with the events, the closed windows'
//!    state not), then a stream with a `RETENTION` and a view with a `retention`
//!    ([`MEMORY_RETENTION`]), where both should stay flat once the stream has run longer
//!    than its retention. The phase prints the figures and leaves the verdict to them.
//! 3. Latency: a producer thread sends `--windows-rate` clicks/s for
//!    `--windows-latency-secs` s, each with `ts` the wall clock (one in ten shifted back
//!    as above) and `sent_us` the wall clock just before it was handed to the producer.
//!    A `SUBSCRIBE` to workload 2's view sees each (user, window) row's count grow: a
//!    row with count n makes that group's first n events visible (one partition, read
//!    in order), and the bench remembers each group's `sent_us` in send order. The first
//!    second is warm-up. The baseline is the same producer read by a plain consumer.
//!
//! Invariants: every count is checked — the topic's growth, the raw consumer's count,
//! each view's exact total (a load that stalls short of it fails, naming the late
//! events if there were any), the subscription's counts against the events sent — so a
//! run that loses events fails instead of looking fast. The broker, the producer and
//! Eddy share this machine's cores, as the figures do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use chrono::NaiveDateTime;
use eddy_testkit::{Eddy, Kafka};
use tokio_postgres::Client;

use crate::broker::{
    baseline_latency, broker_name, p50_p99, produce_all, raw_consume_rate, start_broker,
    start_eddy, subscribe_latency, wait_for_total, SteadyLoad, SteadyMessage,
};
use crate::{rss_bytes, scalar, Args};

/// Events per event-second of the produced streams.
const EVENTS_PER_SECOND: u64 = 1_000;
/// 2026-03-01 09:00:00 UTC, the event time of the first event, in ms.
const START_MS: i64 = 1_772_355_600_000;
/// How far back an out-of-order event is shifted at most (below the 5 s lateness).
const MAX_SHIFT_MS: i64 = 3_000;
const LATENESS: &str = "5 seconds";
/// Users of workloads 2 and 3 (the `users` table's rows).
const USERS: u64 = 1_000;
/// Regions the users are in (workload 3).
const REGIONS: u64 = 10;
/// Tickers of workload 4.
const TICKERS: u64 = 100;
/// How often [`PeakRss`] reads a server's resident memory.
const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(20);
/// Events the memory run produces at a time, each chunk read before the next.
const MEMORY_CHUNK: u64 = 500_000;
/// Workload 2's window, in ms, as its view says: `INTERVAL '10 minutes'`.
const CLICK_WINDOW_MS: i64 = 600_000;

/// One of issue 10's windowed workloads: a stream, a view over it, and the total that
/// says the view holds every event.
struct Workload {
    title: &'static str,
    stream: &'static str,
    columns: &'static str,
    view: &'static str,
    /// SQL run before the timed `CREATE STREAM`: the tables the view joins.
    setup: Option<fn() -> String>,
    /// The view's definition after `CREATE MATERIALIZED VIEW name AS`.
    query: &'static str,
    /// A one-number read of the view that equals `windows_per_event × events`.
    total: &'static str,
    windows_per_event: u64,
    /// The JSON value of event `i`.
    event: fn(u64) -> String,
}

const CLICKS: Workload = Workload {
    title: "workload 2: clicks per user per 10-minute TUMBLE window",
    stream: "clicks",
    columns: "user_id bigint, url text, ts timestamp",
    view: "clicks_per_user",
    setup: None,
    query: "SELECT user_id, window_start, window_end, count(*) AS n \
            FROM TUMBLE(clicks, ts, INTERVAL '10 minutes') \
            GROUP BY user_id, window_start, window_end",
    total: "SELECT sum(n) FROM clicks_per_user",
    windows_per_event: 1,
    event: click,
};

const PAGE_VIEWS: Workload = Workload {
    title: "workload 3: page views per region per minute, TUMBLE LEFT JOIN a users table",
    stream: "pageviews",
    columns: "userid bigint, pageid text, ts timestamp",
    view: "views_per_region",
    setup: Some(users_sql),
    query: "SELECT u.region, p.window_start, p.window_end, count(*) AS n \
            FROM TUMBLE(pageviews, ts, INTERVAL '1 minute') p \
            LEFT JOIN users u ON u.userid = p.userid \
            GROUP BY u.region, p.window_start, p.window_end",
    total: "SELECT sum(n) FROM views_per_region",
    windows_per_event: 1,
    event: page_view,
};

const TRADES: Workload = Workload {
    title: "workload 4: ask statistics per ticker, 5-second HOP windows every second",
    stream: "trades",
    columns: "ticker text, ask numeric, ts timestamp",
    view: "ticker_stats",
    setup: None,
    query: "SELECT ticker, window_start, min(ask) AS min_ask, count(*) AS trades, \
              avg(ask) AS avg_ask \
            FROM HOP(trades, ts, INTERVAL '5 seconds', INTERVAL '1 second') \
            GROUP BY ticker, window_start, window_end",
    total: "SELECT sum(trades) FROM ticker_stats",
    windows_per_event: 5,
    event: trade,
};

const WORKLOADS: [&Workload; 3] = [&CLICKS, &PAGE_VIEWS, &TRADES];

/// How far event `i` is shifted back from its place: one event in ten, by up to
/// [`MAX_SHIFT_MS`].
fn shift_ms(i: u64) -> i64 {
    if i % 10 == 7 {
        (i.wrapping_mul(7_919) % MAX_SHIFT_MS as u64) as i64
    } else {
        0
    }
}

/// The event time of produced event `i`, in ms.
fn event_ms(i: u64) -> i64 {
    START_MS + (i * 1_000 / EVENTS_PER_SECOND) as i64 - shift_ms(i)
}

/// A user spread over [`USERS`] (not round robin, so a window's users come in any
/// order).
fn user_of(i: u64, users: u64) -> u64 {
    i.wrapping_mul(7_919) % users
}

fn click(i: u64) -> String {
    format!(
        r#"{{"user_id": {}, "url": "/p{}", "ts": {}}}"#,
        user_of(i, USERS),
        i % 100,
        event_ms(i)
    )
}

/// A page view; a tenth of them by users 1000.. that the `users` table lacks.
fn page_view(i: u64) -> String {
    format!(
        r#"{{"userid": {}, "pageid": "p{}", "ts": {}}}"#,
        user_of(i, USERS + USERS / 10),
        i % 100,
        event_ms(i)
    )
}

fn trade(i: u64) -> String {
    let cents = 10_000 + (i.wrapping_mul(31) % 5_000);
    format!(
        r#"{{"ticker": "T{}", "ask": {}.{:02}, "ts": {}}}"#,
        i % TICKERS,
        cents / 100,
        cents % 100,
        event_ms(i)
    )
}

/// Workload 3's `users` table: [`USERS`] users in [`REGIONS`] regions, one INSERT.
fn users_sql() -> String {
    let rows: Vec<String> = (0..USERS)
        .map(|u| format!("({u}, 'region{}')", u % REGIONS))
        .collect();
    format!(
        "CREATE TABLE users (userid bigint PRIMARY KEY, region text);
         INSERT INTO users VALUES {};",
        rows.join(",")
    )
}

impl Workload {
    /// `CREATE STREAM` over `topic` and `CREATE MATERIALIZED VIEW`.
    fn create_sql(&self, topic: &str) -> String {
        format!(
            "CREATE STREAM {} ({}) WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', \
               TIMESTAMP = 'ts', LATENESS = '{LATENESS}');
             CREATE MATERIALIZED VIEW {} AS {};",
            self.stream, self.columns, self.view, self.query
        )
    }

    /// Creates the stream and the view on `eddy` and waits until the view holds the
    /// first `events` events of the topic; returns the time from `started`.
    async fn wait_for_events(
        &self,
        eddy: &Eddy,
        client: &Client,
        events: u64,
        started: Instant,
    ) -> Result<Duration> {
        wait_for_total(
            client,
            self.total,
            self.windows_per_event * events,
            started,
            || match metric(
                eddy,
                "eddy_source_late_messages_total",
                "source",
                self.stream,
            ) {
                Ok(late) => format!("late events of {}: {}", self.stream, or_missing(late)),
                Err(e) => format!("late events of {} unknown: {e:#}", self.stream),
            },
        )
        .await
    }
}

/// The value of `name{label="value"}` in the server's `/metrics`, if it is there.
fn metric(eddy: &Eddy, name: &str, label: &str, value: &str) -> Result<Option<u64>> {
    let response = eddy.http_get("/metrics")?;
    ensure!(response.status == 200, "GET /metrics: {}", response.status);
    let series = format!("{name}{{{label}=\"{value}\"}} ");
    response
        .body
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map(|v| v.trim().parse().context("a metric's value"))
        .transpose()
}

pub async fn run(args: &Args) -> Result<()> {
    println!(
        "\n[windows] event-time windowed views over Kafka streams (one partition, {} events per \
         event-second, 1 in 10 out of order by up to {} s, lateness {LATENESS}); broker: {}",
        EVENTS_PER_SECOND,
        MAX_SHIFT_MS / 1_000,
        broker_name()
    );
    ensure!(args.windows_events > 0, "--windows-events must be positive");
    let kafka = start_broker().await?;
    throughput(args, &kafka).await?;
    memory(args, &kafka, None).await?;
    memory(args, &kafka, Some(MEMORY_RETENTION)).await?;
    latency(args, &kafka).await?;
    Ok(())
}

async fn throughput(args: &Args, kafka: &Kafka) -> Result<()> {
    let events = args.windows_events;
    println!("\n[windows throughput] {events} events per workload, from CREATE STREAM until the view holds every event");
    for workload in WORKLOADS {
        let topic = kafka.unique_topic(&format!("bench-{}", workload.stream));
        kafka.create_topic(&topic, 1).await?;
        let event = workload.event;
        produce_all(kafka, &topic, events, move |i| {
            (0, None, event(i).into_bytes())
        })
        .await?;
        let raw_rate = raw_consume_rate(kafka, &topic, events).await?;
        println!(
            "  {}, e.g. {}\n    baseline: plain rdkafka consumer, no decoding: {raw_rate:.0} msg/s",
            workload.title,
            event(7)
        );
        for &workers in &args.workers {
            let eddy = start_eddy(args, kafka, workers)?;
            let client = eddy.connect().await?;
            if let Some(setup) = workload.setup {
                client.batch_execute(&setup()).await?;
            }
            let peak = PeakRss::start(eddy.pid().context("eddy pid")?);
            let started = Instant::now();
            client.batch_execute(&workload.create_sql(&topic)).await?;
            let elapsed = workload
                .wait_for_events(&eddy, &client, events, started)
                .await?;
            let peak = peak.stop().await?;
            let rate = events as f64 / elapsed.as_secs_f64();
            println!(
                "    {workers} worker(s): {rate:.0} events/s ({:.2} s), {:.1}% of raw consume; \
                 peak RSS {:.0} MiB",
                elapsed.as_secs_f64(),
                100.0 * rate / raw_rate,
                mib(peak)
            );
        }
    }
    Ok(())
}

/// The largest resident memory of a process, sampled every [`RSS_SAMPLE_INTERVAL`]
/// from `start` until `stop`.
struct PeakRss {
    stop: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<Result<u64>>,
}

impl PeakRss {
    fn start(pid: u32) -> PeakRss {
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = tokio::spawn({
            let stop = Arc::clone(&stop);
            async move {
                let mut peak = rss_bytes(pid)?;
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(RSS_SAMPLE_INTERVAL).await;
                    peak = peak.max(rss_bytes(pid)?);
                }
                Ok(peak)
            }
        });
        PeakRss { stop, sampler }
    }

    async fn stop(self) -> Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.await?
    }
}

/// The stream's `RETENTION` and the view's `retention` of the memory run that bounds
/// them: the stream keeps 15 minutes of events (900,000 at 1,000 a second), the view
/// a closed 10-minute window for 5 minutes.
const MEMORY_RETENTION: (&str, &str) = ("15 minutes", "5 minutes");

/// What the memory run reads at a mark.
struct MemoryMark {
    events: u64,
    rss: u64,
    /// The largest RSS seen while the events since the previous mark were read.
    rss_peak: u64,
    view_records: Option<u64>,
    view_rows: String,
    /// Events the stream has read, and the ones it holds.
    stream_events: Option<u64>,
    stream_rows: String,
    watermark: String,
}

impl MemoryMark {
    async fn read(eddy: &Eddy, client: &Client, events: u64, rss_peak: u64) -> Result<MemoryMark> {
        let pid = eddy.pid().context("eddy pid")?;
        let w = &CLICKS;
        Ok(MemoryMark {
            events,
            rss: rss_bytes(pid)?,
            rss_peak,
            view_records: metric(eddy, "eddy_view_arrangement_records", "view", w.view)?,
            view_rows: scalar(client, &format!("SELECT count(*) FROM {}", w.view))
                .await?
                .unwrap_or_default(),
            stream_events: metric(eddy, "eddy_source_messages_total", "source", w.stream)?,
            stream_rows: scalar(client, &format!("SELECT count(*) FROM {}", w.stream))
                .await?
                .unwrap_or_default(),
            watermark: scalar(
                client,
                &format!(
                    "SELECT watermark FROM eddy_watermarks WHERE source = '{}'",
                    w.stream
                ),
            )
            .await?
            .unwrap_or_else(|| "NULL".into()),
        })
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn or_missing(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

async fn memory(args: &Args, kafka: &Kafka, retention: Option<(&str, &str)>) -> Result<()> {
    let marks = &args.windows_memory_events;
    ensure!(
        !marks.is_empty() && marks[0] > 0 && marks.windows(2).all(|w| w[0] < w[1]),
        "--windows-memory-events must be increasing and positive: {marks:?}"
    );
    let workers = args.workers[0];
    let w = &CLICKS;
    let kept = match retention {
        None => "the stream keeping every event".to_string(),
        Some((stream, view)) => {
            format!("the stream with RETENTION = '{stream}', the view with retention = '{view}'")
        }
    };
    println!(
        "\n[windows memory] {}, {workers} worker(s), {kept}, the topic growing to {marks:?} events",
        w.title
    );
    let topic = kafka.unique_topic("bench-clicks-memory");
    kafka.create_topic(&topic, 1).await?;
    let eddy = start_eddy(args, kafka, workers)?;
    let client = eddy.connect().await?;
    let create = match retention {
        None => w.create_sql(&topic),
        Some((stream, view)) => format!(
            "CREATE STREAM {} ({}) WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', \
               TIMESTAMP = 'ts', LATENESS = '{LATENESS}', RETENTION = '{stream}');
             CREATE MATERIALIZED VIEW {} WITH (retention = '{view}') AS {};",
            w.stream, w.columns, w.view, w.query
        ),
    };
    client.batch_execute(&create).await?;
    let empty = rss_bytes(eddy.pid().context("eddy pid")?)?;
    let pid = eddy.pid().context("eddy pid")?;
    let mut produced = 0;
    let mut readings = Vec::new();
    for &mark in marks {
        let peak = PeakRss::start(pid);
        // In chunks, each read before the next is produced: the backlog, and the memory
        // its batches take, stay bounded.
        while produced < mark {
            let from = produced;
            let to = mark.min(from + MEMORY_CHUNK);
            produce_all(kafka, &topic, to - from, move |i| {
                (0, None, click(from + i).into_bytes())
            })
            .await?;
            produced = to;
            match retention {
                // Every event in the view (its total).
                None => {
                    w.wait_for_events(&eddy, &client, to, Instant::now())
                        .await?;
                }
                // The view drops old windows: every event read by the stream.
                Some(_) => wait_for_read(&eddy, w.stream, to).await?,
            }
        }
        let peak = peak.stop().await?;
        // Let the last batches' garbage go and the windows' release reach the workers.
        tokio::time::sleep(Duration::from_secs(2)).await;
        readings.push(MemoryMark::read(&eddy, &client, mark, peak).await?);
    }
    println!(
        "  RSS with the stream and view created, no events: {:.1} MiB",
        mib(empty)
    );
    println!(
        "  {:>10}  {:>10}  {:>13}  {:>14}  {:>9}  {:>11}  {:>11}  watermark",
        "events",
        "RSS MiB",
        "peak RSS MiB",
        "view records",
        "view rows",
        "stream read",
        "stream rows"
    );
    for r in &readings {
        println!(
            "  {:>10}  {:>10.1}  {:>13.1}  {:>14}  {:>9}  {:>11}  {:>11}  {}",
            r.events,
            mib(r.rss),
            mib(r.rss_peak),
            or_missing(r.view_records),
            r.view_rows,
            or_missing(r.stream_events),
            r.stream_rows,
            r.watermark
        );
    }
    for pair in readings.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        println!(
            "  from {} to {} events: RSS {:+.1} MiB ({:.0} bytes per added event); view \
             records {} -> {}",
            a.events,
            b.events,
            mib(b.rss) - mib(a.rss),
            (b.rss as f64 - a.rss as f64) / (b.events - a.events) as f64,
            or_missing(a.view_records),
            or_missing(b.view_records)
        );
    }
    match retention {
        None => println!(
            "  (view records: the view's arrangements, its closed windows' rows included; the \
             stream keeps every event it read, so RSS is expected to grow with the stream; RSS \
             at a mark includes what the allocator kept from the load's peak)"
        ),
        Some(_) => println!(
            "  (the stream holds the events of its retention and the view the windows of its \
             own: both should stay flat once the stream has run for longer than its retention)"
        ),
    }
    Ok(())
}

/// Waits until stream `stream` has read `events` messages (`/metrics`).
async fn wait_for_read(eddy: &Eddy, stream: &str, events: u64) -> Result<()> {
    let started = Instant::now();
    loop {
        let read = metric(eddy, "eddy_source_messages_total", "source", stream)?.unwrap_or(0);
        if read >= events {
            return Ok(());
        }
        ensure!(
            started.elapsed() < Duration::from_secs(600),
            "stream {stream} read {read} of {events} messages"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The events of each (user, window start in ms) group in the order they were sent:
/// their `sent_us`, and how many of them a subscription row has shown so far.
type Groups = Mutex<HashMap<(u64, i64), (Vec<i64>, usize)>>;

/// Latency-run click `seq` (event time: the wall clock, shifted as in the loads),
/// remembered in `groups`.
fn steady_click(groups: Arc<Groups>) -> Arc<SteadyMessage> {
    Arc::new(move |seq, sent_us| {
        let user = user_of(seq, USERS);
        let ts_ms = sent_us / 1_000 - shift_ms(seq);
        let window = ts_ms.div_euclid(CLICK_WINDOW_MS) * CLICK_WINDOW_MS;
        groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((user, window))
            .or_default()
            .0
            .push(sent_us);
        format!(
            r#"{{"user_id": {user}, "url": "/p{}", "ts": {ts_ms}, "sent_us": {sent_us}}}"#,
            seq % 100
        )
    })
}

/// A `timestamp` as Eddy prints a whole second, in ms since the epoch.
fn parse_ms(text: &str) -> Result<i64> {
    let ts = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .with_context(|| format!("window_start {text:?}"))?;
    Ok(ts.and_utc().timestamp_millis())
}

async fn latency(args: &Args, kafka: &Kafka) -> Result<()> {
    let workers = args.workers[0];
    let w = &CLICKS;
    let mut load = SteadyLoad {
        topic: kafka.unique_topic("bench-clicks-latency-raw"),
        partitions: 1,
        rate: args.windows_rate,
        duration: Duration::from_secs(args.windows_latency_secs),
    };
    println!(
        "\n[windows latency] {} clicks/s for {} s, produce -> visible in {} (seen through \
         SUBSCRIBE), {workers} worker(s)",
        load.rate,
        load.duration.as_secs(),
        w.view
    );
    let raw_message = steady_click(Arc::default());
    let raw = baseline_latency(kafka, &load, &*raw_message).await?;
    println!(
        "  baseline: produce -> a plain rdkafka consumer: {}",
        p50_p99(&raw)
    );
    load.topic = kafka.unique_topic("bench-clicks-latency");
    kafka.create_topic(&load.topic, 1).await?;
    let eddy = start_eddy(args, kafka, workers)?;
    let client = eddy.connect().await?;
    client.batch_execute(&w.create_sql(&load.topic)).await?;
    let subscriber = eddy.connect().await?;
    let rows = subscriber
        .simple_query_raw(&format!("SUBSCRIBE TO {} WITH (SNAPSHOT = false)", w.view))
        .await?;
    // The subscription starts reading before the first message is sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let groups = Arc::<Groups>::default();
    let message = steady_click(Arc::clone(&groups));
    // Columns: eddy_timestamp, eddy_diff, user_id, window_start, window_end, n. A
    // group's new count retracts its old one (diff -1) and adds itself (diff +1).
    let run = subscribe_latency(kafka, &load, message, rows, |row| {
        let diff: i64 = row.get(1).context("eddy_diff")?.parse()?;
        if diff != 1 {
            return Ok(Vec::new());
        }
        let user: u64 = row.get(2).context("user_id")?.parse()?;
        let window = parse_ms(row.get(3).context("window_start")?)?;
        let n: usize = row.get(5).context("n")?.parse()?;
        let mut groups = groups.lock().unwrap_or_else(|p| p.into_inner());
        let (sent, shown) = groups
            .get_mut(&(user, window))
            .with_context(|| format!("a row for user {user}, window {window} ms: none sent"))?;
        ensure!(
            n <= sent.len(),
            "user {user}, window {window} ms counts {n} clicks of {} sent",
            sent.len()
        );
        let new = sent.get(*shown..n).unwrap_or_default().to_vec();
        *shown = (*shown).max(n);
        Ok(new)
    })
    .await?;
    let total = scalar(&client, w.total).await?;
    ensure!(
        total.as_deref() == Some(run.sent.to_string().as_str()),
        "{} is {total:?} after {} clicks",
        w.total,
        run.sent
    );
    println!("  {}", run.summary("clicks"));
    Ok(())
}
