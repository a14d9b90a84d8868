//! The seed workloads of issue 10 on a real broker (`eddy_testkit::Kafka`), each view
//! compared with an answer this file computes from the produced events, late ones
//! included:
//!
//! - (3) page views per region per minute: a pageviews stream LEFT JOIN a users table,
//!   in `TUMBLE` windows, with users changed, removed and added mid-stream;
//! - (4) stock statistics per ticker in 5-second windows advancing every second
//!   (`HOP`): minimum ask, number of trades, average ask;
//! - (5) click-stream enrichment: clicks LEFT JOIN user profiles (a table) and JOIN the
//!   searches of the second before (a stream-stream interval join);
//! - (6) sessions per user with a 30-minute gap (`SESSION`), with out-of-order events
//!   that merge sessions.
//!
//! Workloads (1) and (2) are in `kafka.rs` and `event_time.rs`. The expected answers
//! follow Eddy's semantics, which are those of a view maintained over the accepted
//! events: a stream-table join reads the table as it is now (a user's new region
//! applies to their earlier page views too), not as it was at each event's time —
//! except in windows that closed before the table changed (the stream's watermark had
//! passed their end), which keep what they counted (`eddy_expr::watermark`).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use eddy_testkit::{Kafka, TestRecord};
use tokio_postgres::Client;

/// The rows of `sql`, each as its columns joined by spaces (NULL as `NULL`), sorted
/// here so that no collation is involved.
async fn sorted_lines(client: &Client, sql: &str) -> Vec<String> {
    let mut lines = common::lines(client, sql).await;
    lines.sort();
    lines
}

/// Waits until `sql` gives `expected` (in any order); panics with a diff after 60 s.
async fn wait_for(client: &Client, sql: &str, mut expected: Vec<String>) {
    expected.sort();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = sorted_lines(client, sql).await;
        if got == expected {
            return;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = expected.iter().filter(|e| !got.contains(e)).collect();
            let extra: Vec<_> = got.iter().filter(|g| !expected.contains(g)).collect();
            panic!(
                "{sql}: {} rows, want {}\nmissing {missing:#?}\nextra {extra:#?}",
                got.len(),
                expected.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create(client: &Client, sql: &str) {
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", common::describe_error(&e)));
}

fn start_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 1)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap()
}

/// A timestamp as Postgres prints it (fractional seconds only when there are some,
/// without trailing zeros).
fn format_ts(ts: NaiveDateTime) -> String {
    let whole = ts.format("%Y-%m-%d %H:%M:%S").to_string();
    match ts.and_utc().timestamp_subsec_micros() {
        0 => whole,
        micros => format!("{whole}.{}", format!("{micros:06}").trim_end_matches('0')),
    }
}

fn at_ms(ms: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .naive_utc()
}

fn epoch_ms(ts: NaiveDateTime) -> i64 {
    ts.and_utc().timestamp_millis()
}

/// A deterministic pseudo-random sequence (a 64-bit LCG), so a failure replays.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Which of `times` (in the order produced to one partition) a stream with `lateness`
/// accepts: an event is late when it is before the newest accepted time minus the
/// lateness (one exactly at that watermark is on time).
fn on_time(times: &[NaiveDateTime], lateness: TimeDelta) -> Vec<bool> {
    let mut newest: Option<NaiveDateTime> = None;
    times
        .iter()
        .map(|&ts| {
            if newest.is_some_and(|n| ts < n - lateness) {
                return false;
            }
            newest = Some(newest.map_or(ts, |n| n.max(ts)));
            true
        })
        .collect()
}

/// (3) Page views per region per minute: pageviews LEFT JOIN users, tumbling window.
#[tokio::test]
async fn page_views_per_region_per_minute_follow_user_changes() {
    let kafka = Kafka::shared().expect("kafka");
    let views_topic = kafka.unique_topic("pageviews");
    let users_topic = kafka.unique_topic("users");
    kafka.create_topic(&views_topic, 1).await.expect("topic");
    kafka.create_topic(&users_topic, 1).await.expect("topic");
    let user =
        |id: &str, region: &str| TestRecord::keyed(id, format!(r#"{{"region": "{region}"}}"#));
    let mut users: BTreeMap<String, String> = BTreeMap::new();
    let first_users = [
        ("u0", "north"),
        ("u1", "south"),
        ("u2", "east"),
        ("u3", "west"),
    ];
    kafka
        .produce(&users_topic, first_users.iter().map(|(u, r)| user(u, r)))
        .await
        .expect("produce users");
    for (u, r) in first_users {
        users.insert(u.into(), r.into());
    }
    let eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    create(
        &client,
        &format!(
            "CREATE STREAM pageviews (viewtime timestamp, userid text, pageid text) \
               WITH (KAFKA_TOPIC = '{views_topic}', VALUE_FORMAT = 'JSON', \
                     TIMESTAMP = 'viewtime', LATENESS = '20 seconds');
             CREATE TABLE users (userid text PRIMARY KEY, region text) \
               WITH (KAFKA_TOPIC = '{users_topic}', VALUE_FORMAT = 'JSON');
             CREATE MATERIALIZED VIEW views_per_region_1m AS \
               SELECT u.region, p.window_start, p.window_end, count(*) AS n \
               FROM TUMBLE(pageviews, viewtime, INTERVAL '1 minute') p \
               LEFT JOIN users u ON u.userid = p.userid \
               GROUP BY u.region, p.window_start, p.window_end;"
        ),
    )
    .await;
    const SQL: &str = "SELECT region, window_start, window_end, n FROM views_per_region_1m";

    // Page views of u0..u5 (u4 and u5 have no user yet), about 3 s apart, a fifth of
    // them shifted back by up to 40 s: out of order, and late past 20 s.
    let mut rng = Lcg(3);
    let views: Vec<(NaiveDateTime, String)> = (0..800)
        .map(|i| {
            let shift = if rng.below(5) == 0 { rng.below(41) } else { 0 };
            let ts = start_time() + TimeDelta::seconds(i * 3 - shift as i64);
            (ts, format!("u{}", rng.below(6)))
        })
        .collect();
    let record = |(ts, u): &(NaiveDateTime, String)| {
        TestRecord::value(format!(
            r#"{{"viewtime": "{}", "userid": "{u}", "pageid": "p{}"}}"#,
            format_ts(*ts),
            ts.and_utc().timestamp() % 11
        ))
    };
    let times: Vec<NaiveDateTime> = views.iter().map(|(ts, _)| *ts).collect();
    let accepted = on_time(&times, TimeDelta::seconds(20));
    let late = accepted.iter().filter(|ok| !**ok).count();
    assert!(late > 20, "late page views: {late}");
    // `closed`: the watermark when the users changed, and the users before: windows
    // that ended by then keep the regions they had.
    type Closed<'a> = Option<(NaiveDateTime, &'a BTreeMap<String, String>)>;
    let expected = |upto: usize, users: &BTreeMap<String, String>, closed: Closed| {
        let mut counts: BTreeMap<(String, i64), usize> = BTreeMap::new();
        for ((ts, u), _) in views[..upto].iter().zip(&accepted).filter(|(_, ok)| **ok) {
            let minute = ts.and_utc().timestamp().div_euclid(60) * 60;
            let users = match closed {
                Some((watermark, before)) if at_ms((minute + 60) * 1000) <= watermark => before,
                _ => users,
            };
            let region = users.get(u).cloned().unwrap_or_else(|| "NULL".into());
            *counts.entry((region, minute)).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|((region, minute), n)| {
                let start = at_ms(minute * 1000);
                let end = start + TimeDelta::minutes(1);
                format!("{region} {} {} {n}", format_ts(start), format_ts(end))
            })
            .collect()
    };

    const HALF: usize = 400;
    kafka
        .produce(&views_topic, views[..HALF].iter().map(record))
        .await
        .expect("produce");
    wait_for(&client, SQL, expected(HALF, &users, None)).await;
    let watermark = views[..HALF]
        .iter()
        .zip(&accepted)
        .filter(|(_, ok)| **ok)
        .map(|((ts, _), _)| *ts)
        .max()
        .unwrap()
        - TimeDelta::seconds(20);
    let before = users.clone();

    // Mid-stream: u1 moves, u2 is removed (tombstone), u4 appears.
    kafka
        .produce(
            &users_topic,
            [
                user("u1", "north"),
                TestRecord::tombstone("u2"),
                user("u4", "east"),
            ],
        )
        .await
        .expect("produce users");
    users.insert("u1".into(), "north".into());
    users.remove("u2");
    users.insert("u4".into(), "east".into());
    let closed = Some((watermark, &before));
    let moved = expected(HALF, &users, closed);
    assert_ne!(
        moved,
        expected(HALF, &users, None),
        "some closed window keeps a region that changed"
    );
    assert_ne!(
        moved,
        expected(HALF, &before, None),
        "some open window follows the change"
    );
    wait_for(&client, SQL, moved).await;

    kafka
        .produce(&views_topic, views[HALF..].iter().map(record))
        .await
        .expect("produce");
    wait_for(&client, SQL, expected(views.len(), &users, closed)).await;
    // The late views are recorded, whichever batch they were read in.
    wait_for(
        &client,
        "SELECT count(*) FROM eddy_source_errors WHERE source = 'pageviews'",
        vec![late.to_string()],
    )
    .await;
}

/// (4) Stock statistics per ticker in 5-second windows advancing every second.
#[tokio::test]
async fn stock_statistics_in_hopping_windows() {
    let kafka = Kafka::shared().expect("kafka");
    let [topic] = common::new_topics(&kafka, ["trades"]).await;
    let (_eddy, client) = common::eddy_with_kafka(&kafka).await;
    create(
        &client,
        &format!(
            "CREATE STREAM trades (ticker text, ask numeric, ts timestamp) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts', \
                     LATENESS = '2 seconds');
             CREATE MATERIALIZED VIEW ticker_stats AS \
               SELECT ticker, window_start, window_end, round(min(ask), 2) AS min_ask, \
                      count(*) AS trades, round(avg(ask), 6) AS avg_ask \
               FROM HOP(trades, ts, INTERVAL '5 seconds', INTERVAL '1 second') \
               GROUP BY ticker, window_start, window_end;"
        ),
    )
    .await;
    const SQL: &str =
        "SELECT ticker, window_start, window_end, min_ask, trades, avg_ask FROM ticker_stats";

    // Trades 0 to 400 ms apart over about 2 minutes, asks in cents; one in eight is
    // shifted back by up to 3 s (late past 2 s). Some fall exactly on a second.
    let tickers = ["AAPL", "MSFT", "NVDA"];
    let mut rng = Lcg(4);
    let mut now = epoch_ms(start_time());
    let trades: Vec<(&str, i64, i64)> = (0..600)
        .map(|_| {
            now += (rng.below(5) * 100) as i64;
            let shift = if rng.below(8) == 0 {
                rng.below(3001) as i64
            } else {
                0
            };
            let ticker = tickers[rng.below(3) as usize];
            let ask_cents = 10_000 + rng.below(2_000) as i64;
            (ticker, ask_cents, now - shift)
        })
        .collect();
    let record = |(ticker, cents, ms): &(&str, i64, i64)| {
        TestRecord::value(format!(
            r#"{{"ticker": "{ticker}", "ask": {}.{:02}, "ts": "{}"}}"#,
            cents / 100,
            cents % 100,
            format_ts(at_ms(*ms))
        ))
    };
    let times: Vec<NaiveDateTime> = trades.iter().map(|t| at_ms(t.2)).collect();
    let accepted = on_time(&times, TimeDelta::seconds(2));
    let late = accepted.iter().filter(|ok| !**ok).count();
    assert!(late > 10, "late trades: {late}");
    let expected = |upto: usize| -> Vec<String> {
        // (min, count, sum) of the asks in cents per (ticker, window start in ms).
        let mut stats: BTreeMap<(&str, i64), (i64, i64, i64)> = BTreeMap::new();
        for (&(ticker, cents, ms), _) in trades[..upto].iter().zip(&accepted).filter(|(_, ok)| **ok)
        {
            let last_start = ms.div_euclid(1000) * 1000;
            for start in (last_start - 4000..=last_start).step_by(1000) {
                let s = stats.entry((ticker, start)).or_insert((i64::MAX, 0, 0));
                s.0 = s.0.min(cents);
                s.1 += 1;
                s.2 += cents;
            }
        }
        stats
            .into_iter()
            .map(|((ticker, start), (min, n, sum))| {
                // avg in millionths, rounded half away from zero (all positive).
                let avg = (2 * sum * 10_000 + n) / (2 * n);
                format!(
                    "{ticker} {} {} {}.{:02} {n} {}.{:06}",
                    format_ts(at_ms(start)),
                    format_ts(at_ms(start + 5000)),
                    min / 100,
                    min % 100,
                    avg / 1_000_000,
                    avg % 1_000_000
                )
            })
            .collect()
    };
    const HALF: usize = 300;
    kafka
        .produce(&topic, trades[..HALF].iter().map(record))
        .await
        .expect("produce");
    wait_for(&client, SQL, expected(HALF)).await;
    kafka
        .produce(&topic, trades[HALF..].iter().map(record))
        .await
        .expect("produce");
    wait_for(&client, SQL, expected(trades.len())).await;
}

/// (5) Click-stream enrichment: clicks LEFT JOIN profiles, JOIN the searches of the
/// same user in the second before each click (both ends included). The searches leave
/// the join once the clicks' watermark is a second past them (`interval_join.rs`).
#[tokio::test]
async fn clicks_enriched_with_profiles_and_searches_within_a_second() {
    let kafka = Kafka::shared().expect("kafka");
    let clicks_topic = kafka.unique_topic("clicks");
    let searches_topic = kafka.unique_topic("searches");
    let profiles_topic = kafka.unique_topic("profiles");
    for topic in [&clicks_topic, &searches_topic, &profiles_topic] {
        kafka.create_topic(topic, 1).await.expect("topic");
    }
    let profile = |id: &str, tier: &str| TestRecord::keyed(id, format!(r#"{{"tier": "{tier}"}}"#));
    // u3 has no profile: its clicks are enriched with NULL.
    let mut profiles: BTreeMap<String, String> = [("u0", "gold"), ("u1", "free"), ("u2", "free")]
        .iter()
        .map(|(u, t)| (u.to_string(), t.to_string()))
        .collect();
    kafka
        .produce(&profiles_topic, profiles.iter().map(|(u, t)| profile(u, t)))
        .await
        .expect("produce profiles");
    let eddy = common::start_with_kafka(&kafka);
    let client = eddy.connect().await.expect("connect");
    create(
        &client,
        &format!(
            "CREATE STREAM clicks (user_id text, url text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{clicks_topic}', VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts', \
                     LATENESS = '5 seconds');
             CREATE STREAM searches (user_id text, terms text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{searches_topic}', VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts', \
                     LATENESS = '5 seconds');
             CREATE TABLE profiles (user_id text PRIMARY KEY, tier text) \
               WITH (KAFKA_TOPIC = '{profiles_topic}', VALUE_FORMAT = 'JSON');
             CREATE MATERIALIZED VIEW search_then_click AS \
               SELECT c.user_id, p.tier, s.terms, c.url, c.ts \
               FROM clicks c LEFT JOIN profiles p ON p.user_id = c.user_id \
               JOIN searches s ON s.user_id = c.user_id \
                 AND c.ts BETWEEN s.ts AND s.ts + INTERVAL '1 second';"
        ),
    )
    .await;
    const SQL: &str = "SELECT user_id, tier, terms, url, ts FROM search_then_click";

    // Searches every ~700 ms, clicks every ~300 ms, in order, on a 50 ms grid so that
    // clicks land exactly on a search's time and exactly one second after it.
    let mut rng = Lcg(5);
    let t0 = epoch_ms(start_time());
    let mut now = t0;
    let searches: Vec<(String, String, i64)> = (0..300)
        .map(|i| {
            now += (rng.below(28) * 50) as i64;
            (format!("u{}", rng.below(4)), format!("terms{i}"), now)
        })
        .collect();
    let mut now = t0;
    let clicks: Vec<(String, String, i64)> = (0..700)
        .map(|i| {
            now += (rng.below(12) * 50) as i64;
            (format!("u{}", rng.below(4)), format!("/url{i}"), now)
        })
        .collect();
    let record = |key: &str, (user, text, ms): &(String, String, i64)| {
        TestRecord::value(format!(
            r#"{{"user_id": "{user}", "{key}": "{text}", "ts": "{}"}}"#,
            format_ts(at_ms(*ms))
        ))
    };
    // `closed`: the clicks' watermark (ms) when the profiles changed, and the profiles
    // before: a search the watermark had passed by more than a second could match no
    // click to come, so it had left the join, and its pairs keep the tiers they had.
    type Closed<'a> = Option<(i64, &'a BTreeMap<String, String>)>;
    let expected = |clicks: &[(String, String, i64)],
                    searches: &[(String, String, i64)],
                    profiles: &BTreeMap<String, String>,
                    closed: Closed|
     -> Vec<String> {
        let mut rows = vec![];
        for (cu, url, cms) in clicks {
            for (su, terms, sms) in searches {
                if cu == su && *sms <= *cms && *cms <= sms + 1000 {
                    let profiles = match closed {
                        Some((watermark, before)) if sms + 1001 <= watermark => before,
                        _ => profiles,
                    };
                    let tier = profiles.get(cu).map_or("NULL", String::as_str);
                    rows.push(format!(
                        "{cu} {tier} {terms} {url} {}",
                        format_ts(at_ms(*cms))
                    ));
                }
            }
        }
        rows
    };
    let half_c = clicks.len() / 2;
    let half_s = searches.len() / 2;
    kafka
        .produce(
            &searches_topic,
            searches[..half_s].iter().map(|s| record("terms", s)),
        )
        .await
        .expect("produce");
    kafka
        .produce(
            &clicks_topic,
            clicks[..half_c].iter().map(|c| record("url", c)),
        )
        .await
        .expect("produce");
    let first = expected(&clicks[..half_c], &searches[..half_s], &profiles, None);
    let edges = clicks[..half_c]
        .iter()
        .filter(|(u, _, c)| {
            searches[..half_s]
                .iter()
                .any(|(su, _, s)| su == u && (c == s || *c == s + 1000))
        })
        .count();
    assert!(
        first.len() > 50 && edges > 5,
        "{} matches, {edges} on a bound",
        first.len()
    );
    wait_for(&client, SQL, first).await;
    let watermark = clicks[..half_c].iter().map(|c| c.2).max().unwrap() - 5_000;
    let before = profiles.clone();

    // A profile changes, one appears; then the rest of both streams.
    kafka
        .produce(
            &profiles_topic,
            [profile("u1", "gold"), profile("u3", "free")],
        )
        .await
        .expect("produce profiles");
    profiles.insert("u1".into(), "gold".into());
    profiles.insert("u3".into(), "free".into());
    kafka
        .produce(
            &searches_topic,
            searches[half_s..].iter().map(|s| record("terms", s)),
        )
        .await
        .expect("produce");
    kafka
        .produce(
            &clicks_topic,
            clicks[half_c..].iter().map(|c| record("url", c)),
        )
        .await
        .expect("produce");
    let closed = Some((watermark, &before));
    let all = expected(&clicks, &searches, &profiles, closed);
    assert_ne!(
        all,
        expected(&clicks, &searches, &profiles, None),
        "some pair keeps the tier it had"
    );
    wait_for(&client, SQL, all).await;
}

/// (6) Sessions per user with a 30-minute gap, over out-of-order and late events; an
/// event within the lateness that falls between two sessions merges them.
#[tokio::test]
async fn sessions_per_user_with_a_30_minute_gap() {
    let kafka = Kafka::shared().expect("kafka");
    let [topic] = common::new_topics(&kafka, ["clicks"]).await;
    let (_eddy, client) = common::eddy_with_kafka(&kafka).await;
    create(
        &client,
        &format!(
            "CREATE STREAM clicks (user_id text, url text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts', \
                     LATENESS = '20 minutes');
             CREATE MATERIALIZED VIEW sessions AS \
               SELECT user_id, window_start, window_end, count(*) AS clicks \
               FROM SESSION(clicks, ts, INTERVAL '30 minutes', user_id) \
               GROUP BY user_id, window_start, window_end;"
        ),
    )
    .await;
    const SQL: &str = "SELECT user_id, window_start, window_end, clicks FROM sessions";
    const GAP_S: i64 = 30 * 60;

    // Time moves on by 0 to 8 minutes per click, shared by 5 users (so a user's own
    // gaps are often past 30 minutes); one click in six is shifted back by up to 30
    // minutes (late past 20).
    let mut rng = Lcg(6);
    let mut now = start_time();
    let mut events: Vec<(String, NaiveDateTime)> = (0..600)
        .map(|_| {
            now += TimeDelta::seconds(rng.below(8 * 60 + 1) as i64);
            let shift = if rng.below(6) == 0 {
                rng.below(30 * 60 + 1) as i64
            } else {
                0
            };
            (
                format!("u{}", rng.below(5)),
                now - TimeDelta::seconds(shift),
            )
        })
        .collect();
    // Hand-made at the end: "edge" has two sessions 40 minutes apart, then an event
    // between them, exactly at the watermark (so on time), bridges them; then an event
    // exactly 30 minutes after the last one opens a new session.
    let last = now;
    for minutes in [60, 100, 80, 130] {
        events.push(("edge".into(), last + TimeDelta::minutes(minutes)));
    }
    let record = |(i, (user, ts)): (usize, &(String, NaiveDateTime))| {
        TestRecord::value(format!(
            r#"{{"user_id": "{user}", "url": "/p{}", "ts": "{}"}}"#,
            i % 7,
            format_ts(*ts)
        ))
    };
    let times: Vec<NaiveDateTime> = events.iter().map(|(_, ts)| *ts).collect();
    let accepted = on_time(&times, TimeDelta::minutes(20));
    let late = accepted.iter().filter(|ok| !**ok).count();
    assert!(late > 10, "late clicks: {late}");
    assert!(accepted[accepted.len() - 4..].iter().all(|ok| *ok));
    let expected = |upto: usize| -> Vec<String> {
        let mut per_user: BTreeMap<&str, Vec<NaiveDateTime>> = BTreeMap::new();
        for ((user, ts), _) in events[..upto].iter().zip(&accepted).filter(|(_, ok)| **ok) {
            per_user.entry(user).or_default().push(*ts);
        }
        let mut rows = vec![];
        for (user, mut times) in per_user {
            times.sort();
            let mut session: Vec<NaiveDateTime> = vec![];
            for ts in times {
                if let Some(&prev) = session.last() {
                    if ts >= prev + TimeDelta::seconds(GAP_S) {
                        rows.push(session_row(user, &session));
                        session.clear();
                    }
                }
                session.push(ts);
            }
            rows.push(session_row(user, &session));
        }
        rows
    };
    fn session_row(user: &str, session: &[NaiveDateTime]) -> String {
        let end = session[session.len() - 1] + TimeDelta::seconds(GAP_S);
        format!(
            "{user} {} {} {}",
            format_ts(session[0]),
            format_ts(end),
            session.len()
        )
    }
    // The first batch ends with edge's two sessions; the bridge comes after.
    let split = events.len() - 2;
    kafka
        .produce(&topic, events[..split].iter().enumerate().map(record))
        .await
        .expect("produce");
    let before = expected(split);
    assert_eq!(before.iter().filter(|r| r.starts_with("edge ")).count(), 2);
    wait_for(&client, SQL, before).await;
    kafka
        .produce(
            &topic,
            events[split..]
                .iter()
                .enumerate()
                .map(|(i, e)| record((split + i, e))),
        )
        .await
        .expect("produce");
    let after = expected(events.len());
    let edge: Vec<&String> = after.iter().filter(|r| r.starts_with("edge ")).collect();
    assert_eq!(edge.len(), 2, "merged, then a new one: {edge:?}");
    assert!(edge[0].ends_with(" 3"), "{edge:?}");
    wait_for(&client, SQL, after).await;
}
