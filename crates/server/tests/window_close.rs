//! Windows that close (`eddy_expr::watermark`), on a real broker: a view grouped by an
//! event-time window keeps each window's row as it was when the stream's watermark
//! passed the window's end, whatever happens to the tables it was joined with later;
//! `EMIT ON WINDOW CLOSE` shows only closed windows, each once; and the state of
//! closed windows is released (the view's arrangements shrink to its rows).

mod common;

use std::time::{Duration, Instant};

use eddy_testkit::{Isolation, Kafka, TestRecord};

use common::wait_for_lines as wait_for;

fn view(user: &str, ts: &str) -> TestRecord {
    TestRecord::value(format!(
        r#"{{"user_id": "{user}", "ts": "2026-03-01 {ts}"}}"#
    ))
}

const PER_REGION: &str = "SELECT region, window_start::time, n FROM per_region ORDER BY 2, 1";
const PER_REGION_FINAL: &str =
    "SELECT region, window_start::time, n FROM per_region_final ORDER BY 2, 1";

/// Page views per region per minute: the stream LEFT JOIN a users table, tumbling
/// windows (the ksqlDB classic), a user moved to another region mid-stream.
#[tokio::test]
async fn closed_windows_keep_their_rows_and_emit_once() {
    let kafka = Kafka::shared().expect("kafka");
    let [topic] = common::new_topics(&kafka, ["pageviews"]).await;
    let sink_topic = kafka.unique_topic("per_region_final");
    let (_eddy, client) = common::eddy_with_kafka(&kafka).await;
    let select = "SELECT u.region, window_start, window_end, count(*) AS n \
                  FROM TUMBLE(pageviews, ts, INTERVAL '1 minute') p \
                  LEFT JOIN users u ON u.user_id = p.user_id \
                  GROUP BY u.region, window_start, window_end";
    client
        .batch_execute(&format!(
            "CREATE STREAM pageviews (user_id text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts', \
                     LATENESS = '10 seconds');
             CREATE TABLE users (user_id text PRIMARY KEY, region text);
             INSERT INTO users VALUES ('u1', 'east'), ('u2', 'west');
             CREATE MATERIALIZED VIEW per_region AS {select};
             CREATE MATERIALIZED VIEW per_region_final AS {select} EMIT ON WINDOW CLOSE;
             CREATE MATERIALIZED VIEW per_region_recent WITH (retention = '1 minute') AS {select};
             CREATE SINK per_region_out FROM per_region_final \
               WITH (KAFKA_TOPIC = '{sink_topic}', VALUE_FORMAT = 'JSON', ENVELOPE = 'DEBEZIUM');"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));

    // The plans: the windows' state expires under the reduction, and its output is
    // finalized (or emitted on close) by the stream's watermark.
    let plan = common::lines(
        &client,
        &format!("EXPLAIN CREATE MATERIALIZED VIEW x AS {select}"),
    )
    .await
    .join("\n");
    assert!(plan.contains("Watermarked finalize bound=#1"), "{plan}");
    assert!(plan.contains("Watermarked expire bound=#"), "{plan}");
    let plan = common::lines(
        &client,
        &format!("EXPLAIN CREATE MATERIALIZED VIEW x AS {select} EMIT ON WINDOW CLOSE"),
    )
    .await
    .join("\n");
    assert!(
        plan.contains("Watermarked emit_on_close bound=#1"),
        "{plan}"
    );

    // 1. Views in the 09:00 window, then one at 09:01:20: the watermark (09:01:10)
    //    closes 09:00.
    let mut records: Vec<TestRecord> = ["09:00:05", "09:00:15", "09:00:40"]
        .iter()
        .map(|ts| view("u1", ts))
        .collect();
    records.push(view("u2", "09:00:30"));
    records.push(view("u2", "09:00:59"));
    records.push(view("u1", "09:01:20"));
    kafka.produce(&topic, records).await.expect("produce");
    wait_for(
        &client,
        PER_REGION,
        &["east 09:00:00 3", "west 09:00:00 2", "east 09:01:00 1"],
    )
    .await;
    wait_for(
        &client,
        PER_REGION_FINAL,
        &["east 09:00:00 3", "west 09:00:00 2"],
    )
    .await;
    wait_for(
        &client,
        "SELECT source, watermark FROM eddy_watermarks",
        &["pageviews 2026-03-01 09:01:10+00"],
    )
    .await;

    // 2. u1 moves to the north: the open window follows, the closed one keeps what it
    //    was when it closed. (A query computed from scratch moves both.)
    client
        .batch_execute("UPDATE users SET region = 'north' WHERE user_id = 'u1'")
        .await
        .expect("update");
    wait_for(
        &client,
        PER_REGION,
        &["east 09:00:00 3", "west 09:00:00 2", "north 09:01:00 1"],
    )
    .await;
    let scratch = common::lines(
        &client,
        &format!("SELECT region, window_start::time, n FROM ({select}) s ORDER BY 2, 1"),
    )
    .await;
    assert_eq!(
        scratch,
        ["north 09:00:00 3", "west 09:00:00 2", "north 09:01:00 1"]
    );
    assert_eq!(
        common::lines(&client, PER_REGION_FINAL).await,
        ["east 09:00:00 3", "west 09:00:00 2"]
    );

    // 3. A late view of 09:00 changes nothing; 09:02:30 closes 09:01, which the
    //    emitting view now shows, once, with its final count.
    kafka
        .produce(
            &topic,
            vec![
                view("u2", "09:00:50"),
                view("u1", "09:01:30"),
                view("u2", "09:02:30"),
            ],
        )
        .await
        .expect("produce");
    wait_for(
        &client,
        PER_REGION,
        &[
            "east 09:00:00 3",
            "west 09:00:00 2",
            "north 09:01:00 2",
            "west 09:02:00 1",
        ],
    )
    .await;
    wait_for(
        &client,
        PER_REGION_FINAL,
        &["east 09:00:00 3", "west 09:00:00 2", "north 09:01:00 2"],
    )
    .await;
    // With a minute's retention, 09:00 (closed at 09:01) left when the watermark
    // reached 09:02; 09:01 stays until 09:03.
    wait_for(
        &client,
        "SELECT region, window_start::time, n FROM per_region_recent ORDER BY 2, 1",
        &["north 09:01:00 2", "west 09:02:00 1"],
    )
    .await;

    // The sink of the emitting view is append-only: each window once, as created.
    let deadline = Instant::now() + Duration::from_secs(60);
    let messages = loop {
        let records = kafka
            .read_all(&sink_topic, Isolation::ReadCommitted)
            .await
            .expect("read sink");
        let mut messages: Vec<serde_json::Value> = records
            .iter()
            .filter_map(|r| serde_json::from_slice(r.value.as_deref()?).ok())
            .collect();
        if messages.len() >= 3 || Instant::now() > deadline {
            messages.sort_by_key(|m| {
                (
                    m["after"]["window_start"].to_string(),
                    m["after"]["region"].to_string(),
                )
            });
            break messages;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let shown: Vec<String> = messages
        .iter()
        .map(|m| {
            format!(
                "{} {} {} {}",
                m["op"], m["after"]["region"], m["after"]["window_start"], m["after"]["n"]
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            r#""c" "east" "2026-03-01 09:00:00" 3"#,
            r#""c" "west" "2026-03-01 09:00:00" 2"#,
            r#""c" "north" "2026-03-01 09:01:00" 2"#,
        ],
        "{messages:#?}"
    );
}

/// A view's state over many closed windows is about its rows, not its events: the
/// state of a window is released once the watermark passes it. A view over the same
/// stream grouped by a column that is not a window, with an aggregate that keeps every
/// value (`count(DISTINCT ...)`), keeps every event's state. (Over a stream, `min`,
/// `max` and `count` alone keep one record per group, window or not.)
#[tokio::test]
async fn closed_windows_release_their_state() {
    let kafka = Kafka::shared().expect("kafka");
    let [topic] = common::new_topics(&kafka, ["ticks"]).await;
    let (eddy, client) = common::eddy_with_kafka(&kafka).await;
    client
        .batch_execute(&format!(
            "CREATE STREAM ticks (ticker text, price int8, ts timestamp) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts');
             CREATE MATERIALIZED VIEW stats AS \
               SELECT ticker, window_start, min(price) AS low, max(price) AS high, count(*) AS n \
               FROM TUMBLE(ticks, ts, INTERVAL '10 seconds') GROUP BY ticker, window_start;
             CREATE MATERIALIZED VIEW by_minute AS \
               SELECT ticker, date_trunc('minute', ts) AS minute, \
                      count(DISTINCT price) AS prices, count(*) AS n \
               FROM ticks GROUP BY ticker, date_trunc('minute', ts);"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    // 20,000 ticks, one a second, two tickers, prices all different, in rounds of
    // 1,000 (so the arrangements merge as a running stream makes them): 2,000 windows
    // of 10 s, in order (lateness 0).
    const TICKS: usize = 20_000;
    const ROUND: usize = 1_000;
    for round in 0..TICKS / ROUND {
        let records: Vec<TestRecord> = (round * ROUND..(round + 1) * ROUND)
            .map(|i| {
                let ts = chrono::DateTime::from_timestamp(1_772_355_600 + i as i64, 0)
                    .unwrap()
                    .naive_utc();
                TestRecord::value(format!(
                    r#"{{"ticker": "T{}", "price": {}, "ts": "{}"}}"#,
                    i % 2,
                    (i * 7919) % 1_000_003,
                    ts.format("%Y-%m-%d %H:%M:%S")
                ))
            })
            .collect();
        kafka.produce(&topic, records).await.expect("produce");
        wait_for(
            &client,
            "SELECT sum(n) FROM stats",
            &[&((round + 1) * ROUND).to_string()],
        )
        .await;
    }
    // The figures are published every 200 ms.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let windowed = common::arrangement_records(&eddy, "stats").expect("stats records");
    let unbounded = common::arrangement_records(&eddy, "by_minute").expect("by_minute records");
    // Closed windows keep their output rows (4,000: two tickers, 2,000 windows), and
    // their reductions' state only while open (and until the arrangements merge away
    // what expired); the minute view keeps every distinct price of every minute.
    eprintln!("after {TICKS} ticks: windowed {windowed} records, unwindowed {unbounded}");
    assert!(
        2 * windowed < unbounded,
        "windowed view holds {windowed} records for {TICKS} ticks (the unwindowed one {unbounded})"
    );
    assert!(
        unbounded > 2 * TICKS as u64,
        "the unwindowed view holds every tick: {unbounded}"
    );
}

/// Sessions close too: once the watermark passes a session's end (its last event plus
/// the gap), its rows leave the window's partition, so a change costs the user's open
/// session, not their whole history. A view grouped without `window_end` cannot close
/// its groups and keeps every event.
#[tokio::test]
async fn closed_sessions_leave_the_window_state() {
    let kafka = Kafka::shared().expect("kafka");
    let [topic] = common::new_topics(&kafka, ["actions"]).await;
    let (eddy, client) = common::eddy_with_kafka(&kafka).await;
    let from = "FROM SESSION(actions, ts, INTERVAL '10 seconds', user_id)";
    client
        .batch_execute(&format!(
            "CREATE STREAM actions (user_id text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts');
             CREATE MATERIALIZED VIEW sessions AS \
               SELECT user_id, window_start, window_end, count(*) AS n {from} \
               GROUP BY user_id, window_start, window_end;
             CREATE MATERIALIZED VIEW open_sessions AS \
               SELECT user_id, window_start, count(*) AS n {from} \
               GROUP BY user_id, window_start;"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    let plan = common::lines(
        &client,
        &format!(
            "EXPLAIN CREATE MATERIALIZED VIEW x AS SELECT user_id, window_end, count(*) {from} \
             GROUP BY user_id, window_end"
        ),
    )
    .await
    .join("\n");
    assert!(
        plan.contains("Watermarked expire_sessions partition_by=[#0] time=#1 gap=10000000us"),
        "{plan}"
    );
    assert!(plan.contains("Watermarked finalize bound=#1"), "{plan}");

    // 10 users, each active for 20 s (an event a second) then idle for 30 s: sessions of
    // 20 events. 40,000 events in rounds of 2,000 (200 event-seconds each).
    const EVENTS: usize = 40_000;
    const ROUND: usize = 2_000;
    const USERS: usize = 10;
    for round in 0..EVENTS / ROUND {
        let records: Vec<TestRecord> = (round * ROUND..(round + 1) * ROUND)
            .map(|i| {
                let second = (i / USERS) as i64;
                let cycle = second / 20; // 20 active seconds, then 30 idle
                let at = 1_772_355_600 + cycle * 50 + second % 20;
                let ts = chrono::DateTime::from_timestamp(at, 0).unwrap().naive_utc();
                TestRecord::value(format!(
                    r#"{{"user_id": "u{}", "ts": "{}"}}"#,
                    i % USERS,
                    ts.format("%Y-%m-%d %H:%M:%S")
                ))
            })
            .collect();
        kafka.produce(&topic, records).await.expect("produce");
        wait_for(
            &client,
            "SELECT sum(n) FROM sessions",
            &[&((round + 1) * ROUND).to_string()],
        )
        .await;
    }
    // Every session has its 20 events; the last one is still open.
    wait_for(
        &client,
        "SELECT count(*), min(n), max(n), count(DISTINCT window_end - window_start) FROM sessions",
        &[&format!("{} 20 20 1", EVENTS / 20)],
    )
    .await;
    wait_for(
        &client,
        "SELECT count(*), sum(n) FROM open_sessions",
        &[&format!("{} {EVENTS}", EVENTS / 20)],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let closing = common::arrangement_records(&eddy, "sessions").expect("sessions records");
    let keeping =
        common::arrangement_records(&eddy, "open_sessions").expect("open_sessions records");
    eprintln!("after {EVENTS} events: closing {closing} records, keeping {keeping}");
    // The closing view holds its 2,000 rows, the open sessions, and whatever its
    // arrangements have not merged away yet; the other one every event, twice (in
    // and out of its window), and more.
    assert!(
        2 * closing < keeping,
        "the closing view holds {closing} records for {EVENTS} events (the other {keeping})"
    );
    assert!(
        keeping > (3 * EVENTS / 2) as u64,
        "the view that cannot close keeps every event in its partitions: {keeping}"
    );
}

/// An interval join of two streams (searches, then the clicks of the same user within
/// a second) keeps every pair, and only the rows that can still match: once the
/// clicks' watermark is a second past a search, no click to come can join it. The
/// same join over the same topics read without event time keeps every row.
#[tokio::test]
async fn interval_joins_keep_pairs_and_forget_rows() {
    let kafka = Kafka::shared().expect("kafka");
    let [searches_topic, clicks_topic] = common::new_topics(&kafka, ["searches", "clicks"]).await;
    let (eddy, client) = common::eddy_with_kafka(&kafka).await;
    let join = "SELECT s.user_id, s.terms, c.url, c.ts FROM {s} s JOIN {c} c \
                ON c.user_id = s.user_id AND c.ts BETWEEN s.ts AND s.ts + INTERVAL '1 second'";
    let timed = join.replace("{s}", "searches").replace("{c}", "clicks");
    let untimed = join
        .replace("{s}", "searches_untimed")
        .replace("{c}", "clicks_untimed");
    client
        .batch_execute(&format!(
            "CREATE STREAM searches (user_id text, terms text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{searches_topic}', VALUE_FORMAT = 'JSON', \
                     TIMESTAMP = 'ts', LATENESS = '1 second');
             CREATE STREAM clicks (user_id text, url text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{clicks_topic}', VALUE_FORMAT = 'JSON', \
                     TIMESTAMP = 'ts', LATENESS = '1 second');
             CREATE STREAM searches_untimed (user_id text, terms text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{searches_topic}', VALUE_FORMAT = 'JSON');
             CREATE STREAM clicks_untimed (user_id text, url text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{clicks_topic}', VALUE_FORMAT = 'JSON');
             CREATE MATERIALIZED VIEW search_then_click AS {timed};
             CREATE MATERIALIZED VIEW search_then_click_untimed AS {untimed};"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    let plan = common::lines(
        &client,
        &format!("EXPLAIN CREATE MATERIALIZED VIEW x AS {timed}"),
    )
    .await
    .join("\n");
    // Searches (columns 0-2) go when the clicks' watermark passes ts + 1 s; clicks
    // (3-5) when the searches' passes their ts; the pairs stay.
    assert!(
        plan.contains("Watermarked keep_expired bound=#2 + 1000001us"),
        "{plan}"
    );
    assert!(
        plan.contains("Watermarked keep_expired bound=#5 + 1us"),
        "{plan}"
    );
    assert_eq!(
        plan.matches("Watermarked expire_arrivals bound=").count(),
        2,
        "{plan}"
    );

    // An event every 100 ms, every 10th a search, the others clicks.
    const EVENTS: usize = 30_000;
    const ROUND: usize = 3_000;
    let at = |i: usize| {
        chrono::DateTime::from_timestamp_millis(1_772_355_600_000 + 100 * i as i64)
            .unwrap()
            .naive_utc()
    };
    // A search's user clicks 100 ms later; the other clicks are other users'.
    let user = |i: usize| match i % 10 {
        0 | 1 => format!("u{}", (i / 10) % 50),
        _ => format!("u{}", (i / 10 + 25) % 50),
    };
    let mut searches: Vec<(String, String, chrono::NaiveDateTime)> = vec![];
    let mut clicks: Vec<(String, String, chrono::NaiveDateTime)> = vec![];
    for round in 0..EVENTS / ROUND {
        let (mut s_records, mut c_records) = (vec![], vec![]);
        for i in round * ROUND..(round + 1) * ROUND {
            let ts = at(i);
            let text = ts.format("%Y-%m-%d %H:%M:%S%.3f");
            if i % 10 == 0 {
                let terms = format!("t{i}");
                s_records.push(TestRecord::value(format!(
                    r#"{{"user_id": "{}", "terms": "{terms}", "ts": "{text}"}}"#,
                    user(i)
                )));
                searches.push((user(i), terms, ts));
            } else {
                let url = format!("/p{i}");
                c_records.push(TestRecord::value(format!(
                    r#"{{"user_id": "{}", "url": "{url}", "ts": "{text}"}}"#,
                    user(i)
                )));
                clicks.push((user(i), url, ts));
            }
        }
        kafka
            .produce(&searches_topic, s_records)
            .await
            .expect("produce");
        kafka
            .produce(&clicks_topic, c_records)
            .await
            .expect("produce");
    }
    // The pairs, computed here.
    let mut pairs: Vec<String> = vec![];
    for (su, terms, sts) in &searches {
        for (cu, url, cts) in &clicks {
            if su == cu && cts >= sts && *cts <= *sts + chrono::TimeDelta::seconds(1) {
                pairs.push(format!(
                    "{su} {terms} {url} {}",
                    cts.format("%Y-%m-%d %H:%M:%S%.3f")
                ));
            }
        }
    }
    pairs.sort();
    assert_eq!(pairs.len(), EVENTS / 10, "a pair per search");
    let count = pairs.len().to_string();
    wait_for(
        &client,
        "SELECT count(*) FROM search_then_click_untimed",
        &[&count],
    )
    .await;
    wait_for(&client, "SELECT count(*) FROM search_then_click", &[&count]).await;
    let mut got = common::lines(
        &client,
        "SELECT user_id, terms, url, to_char(ts, 'YYYY-MM-DD HH24:MI:SS.MS') FROM search_then_click",
    )
    .await;
    got.sort();
    assert_eq!(got, pairs);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let timed = common::arrangement_records(&eddy, "search_then_click").expect("records");
    let untimed = common::arrangement_records(&eddy, "search_then_click_untimed").expect("records");
    eprintln!("after {EVENTS} events, {count} pairs: timed {timed} records, untimed {untimed}");
    assert!(
        untimed > EVENTS as u64,
        "the join without event time keeps every event: {untimed}"
    );
    assert!(
        2 * timed < untimed,
        "the interval join holds {timed} records (the other {untimed}) for {count} pairs"
    );
}

/// A view reads its streams from where `WITH (start = ...)` says, by event time: a
/// timestamp, or `'latest'` (kept as the view's creation time, so a restart gives the
/// same view).
#[tokio::test]
async fn views_start_where_they_say() {
    let kafka = Kafka::shared().expect("kafka");
    let [topic] = common::new_topics(&kafka, ["starts"]).await;
    let (mut eddy, client) = common::eddy_with_kafka(&kafka).await;
    client
        .batch_execute(&format!(
            "CREATE STREAM events (k text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts', \
                     LATENESS = '1 day');"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    let event = |k: &str, ts: chrono::NaiveDateTime| {
        TestRecord::value(format!(
            r#"{{"k": "{k}", "ts": "{}"}}"#,
            ts.format("%Y-%m-%d %H:%M:%S")
        ))
    };
    let now = chrono::Utc::now().naive_utc();
    let hour = chrono::TimeDelta::hours(1);
    kafka
        .produce(
            &topic,
            vec![
                event("past", now - hour * 3),
                event("past", now - hour * 2),
                event("recent", now - hour / 2),
            ],
        )
        .await
        .expect("produce");
    wait_for(&client, "SELECT count(*) FROM events", &["3"]).await;
    let from = (now - hour).format("%Y-%m-%d %H:%M:%S").to_string();
    client
        .batch_execute(&format!(
            "CREATE MATERIALIZED VIEW everything AS SELECT k, count(*) AS n FROM events GROUP BY k;
             CREATE MATERIALIZED VIEW last_hour WITH (start = '{from}') AS \
               SELECT k, count(*) AS n FROM events GROUP BY k;
             CREATE MATERIALIZED VIEW from_now WITH (start = 'latest') AS \
               SELECT k, count(*) AS n FROM events GROUP BY k;"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    kafka
        .produce(&topic, vec![event("next", now + hour)])
        .await
        .expect("produce");
    let counts = |view: &str| format!("SELECT k, n FROM {view} ORDER BY k");
    wait_for(
        &client,
        &counts("everything"),
        &["next 1", "past 2", "recent 1"],
    )
    .await;
    wait_for(&client, &counts("last_hour"), &["next 1", "recent 1"]).await;
    wait_for(&client, &counts("from_now"), &["next 1"]).await;
    // `latest` is kept as the time it stood for: the same after a restart.
    drop(client);
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    wait_for(&client, &counts("from_now"), &["next 1"]).await;
    wait_for(&client, &counts("last_hour"), &["next 1", "recent 1"]).await;

    // A view that reads no stream with an event time cannot start anywhere.
    let err = client
        .batch_execute(
            "CREATE TABLE plain (k text);
             CREATE MATERIALIZED VIEW nowhere WITH (start = 'latest') AS SELECT * FROM plain",
        )
        .await
        .expect_err("no stream to start in");
    let described = common::describe_error(&err);
    assert!(
        described.starts_with(
            "ERROR: a view's start needs a stream with an event time to read (SQLSTATE 0A000)\nHINT: START picks events by event time"
        ),
        "{described}"
    );
}

/// A stream with a `RETENTION` keeps its recent events only: an event leaves once the
/// stream's watermark is that far past it, from the stream and from what is computed
/// from it (a count over the stream is a count over its retention), except closed
/// windows, which a view keeps for its own retention, no longer than the stream keeps
/// their events, so that a restart computes the same rows again.
#[tokio::test]
async fn streams_keep_their_retention_and_views_within_it() {
    let kafka = Kafka::shared().expect("kafka");
    let [topic] = common::new_topics(&kafka, ["retained"]).await;
    let (mut eddy, mut client) = common::eddy_with_kafka(&kafka).await;
    let windowed = "SELECT window_start::time AS w, count(*) AS n \
                    FROM TUMBLE(events, ts, INTERVAL '10 seconds') GROUP BY window_start";
    client
        .batch_execute(&format!(
            "CREATE STREAM events (k text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts', \
                     RETENTION = '1 minute');
             CREATE MATERIALIZED VIEW per_key AS SELECT k, count(*) AS n FROM events GROUP BY k;
             CREATE MATERIALIZED VIEW per_window WITH (retention = '50 seconds') AS {windowed};"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    // Closed windows kept longer than the stream keeps their events: refused.
    for options in ["", "WITH (retention = '55 seconds')"] {
        let err = client
            .batch_execute(&format!(
                "CREATE MATERIALIZED VIEW too_long {options} AS {windowed}"
            ))
            .await
            .expect_err("kept too long");
        let described = common::describe_error(&err);
        assert!(
            described.contains("a view that keeps closed windows of a stream with RETENTION needs a retention of its own (SQLSTATE 0A000)")
                && described.contains("HINT: Add WITH (retention = '00:00:50')"),
            "{described}"
        );
    }

    // 300 events, one a second, keys a and b in turn; the last is at 09:04:59.
    const EVENTS: i64 = 300;
    let start = 1_772_355_600; // 2026-03-01 09:00:00
    for round in 0..3 {
        let records: Vec<TestRecord> = (round * 100..(round + 1) * 100)
            .map(|i| {
                let ts = chrono::DateTime::from_timestamp(start + i, 0)
                    .unwrap()
                    .naive_utc();
                TestRecord::value(format!(
                    r#"{{"k": "{}", "ts": "{}"}}"#,
                    if i % 2 == 0 { "a" } else { "b" },
                    ts.format("%Y-%m-%d %H:%M:%S")
                ))
            })
            .collect();
        kafka.produce(&topic, records).await.expect("produce");
    }
    // The watermark is the last event (no lateness): events up to a minute before it
    // stay (09:04:00 leaves when the watermark reaches 09:05:00).
    let last = start + EVENTS - 1;
    let kept = (0..EVENTS).filter(|i| start + i + 60 > last).count();
    assert_eq!(kept, 60);
    for round in 0..2 {
        wait_for(
            &client,
            "SELECT count(*), min(ts)::time FROM events",
            &[&format!("{kept} 09:04:00")],
        )
        .await;
        wait_for(
            &client,
            "SELECT k, n FROM per_key ORDER BY k",
            &["a 30", "b 30"],
        )
        .await;
        // Windows ending less than 50 s before the watermark: 09:04:00 (closed at
        // 09:04:10, kept until 09:05:00) and on.
        wait_for(
            &client,
            "SELECT w, n FROM per_window ORDER BY w",
            &[
                "09:04:00 10",
                "09:04:10 10",
                "09:04:20 10",
                "09:04:30 10",
                "09:04:40 10",
                "09:04:50 10",
            ],
        )
        .await;
        if round == 0 {
            // What a restart computes again from what the stream keeps is the same.
            drop(client);
            eddy.kill9().expect("kill");
            eddy.restart().expect("restart");
            client = eddy.connect().await.expect("connect");
        }
    }
}

/// `REPLAY MATERIALIZED VIEW v FROM ...` rebuilds a view starting where it says in its
/// streams (by event time; tables are state, read whole), kept as the view's start
/// across a restart; `eddy replay --from earliest` brings every event back; a view
/// reading only tables, or a stream that began reading its topic later, is refused.
#[tokio::test]
async fn replay_from_a_timestamp_on_a_stream_and_a_table() {
    let kafka = Kafka::shared().expect("kafka");
    let [topic] = common::new_topics(&kafka, ["replayed"]).await;
    let (mut eddy, client) = common::eddy_with_kafka(&kafka).await;
    let late_start = (chrono::Utc::now() - chrono::TimeDelta::minutes(30))
        .format("%Y-%m-%d %H:%M:%S+00")
        .to_string();
    let per_label = "SELECT n.label, count(*) AS n FROM events e JOIN names n ON n.k = e.k";
    client
        .batch_execute(&format!(
            "CREATE STREAM events (k text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts', \
                     LATENESS = '1 day');
             CREATE STREAM events_later (k text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts', \
                     LATENESS = '1 day', START = '{late_start}');
             CREATE TABLE names (k text PRIMARY KEY, label text);
             INSERT INTO names VALUES ('a', 'apple'), ('b', 'banana');
             CREATE MATERIALIZED VIEW per_label AS {per_label} GROUP BY n.label;
             CREATE MATERIALIZED VIEW labels AS SELECT label FROM names;
             CREATE MATERIALIZED VIEW later AS SELECT count(*) AS n FROM events_later;
             CREATE STREAM events_kept (k text, ts timestamp) \
               WITH (KAFKA_TOPIC = '{topic}', VALUE_FORMAT = 'JSON', TIMESTAMP = 'ts', \
                     RETENTION = '1 hour');
             CREATE MATERIALIZED VIEW kept AS SELECT count(*) AS n FROM events_kept;"
        ))
        .await
        .unwrap_or_else(|e| panic!("create: {}", common::describe_error(&e)));
    let event = |k: &str, ts: chrono::NaiveDateTime| {
        TestRecord::value(format!(
            r#"{{"k": "{k}", "ts": "{}"}}"#,
            ts.format("%Y-%m-%d %H:%M:%S")
        ))
    };
    let now = chrono::Utc::now().naive_utc();
    let hour = chrono::TimeDelta::hours(1);
    kafka
        .produce(
            &topic,
            vec![
                event("a", now - hour * 3),
                event("b", now - hour * 2),
                event("a", now - hour / 2),
                event("b", now - hour / 4),
                event("b", now - hour / 5),
            ],
        )
        .await
        .expect("produce");
    let counts = "SELECT label, n FROM per_label ORDER BY label";
    wait_for(&client, counts, &["apple 2", "banana 3"]).await;
    wait_for(&client, "SELECT n FROM later", &["5"]).await;

    // From an hour ago: the events since then, joined with the table as it is.
    let from = (now - hour).format("%Y-%m-%d %H:%M:%S").to_string();
    client
        .batch_execute(&format!(
            "REPLAY MATERIALIZED VIEW per_label FROM TIMESTAMP '{from}'"
        ))
        .await
        .unwrap_or_else(|e| panic!("replay: {}", common::describe_error(&e)));
    let recomputed =
        format!("{per_label} WHERE e.ts >= '{from}' GROUP BY n.label ORDER BY n.label");
    assert_eq!(
        common::lines(&client, counts).await,
        ["apple 1", "banana 2"]
    );
    assert_eq!(
        common::lines(&client, counts).await,
        common::lines(&client, &recomputed).await,
        "the replayed view equals the query over the events since then"
    );
    // The table is read whole, and changes go on flowing.
    client
        .batch_execute("UPDATE names SET label = 'blueberry' WHERE k = 'b'")
        .await
        .expect("update");
    wait_for(&client, counts, &["apple 1", "blueberry 2"]).await;
    // Kept as the view's start: the same after a restart.
    drop(client);
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    wait_for(&client, counts, &["apple 1", "blueberry 2"]).await;

    // From the shell, from the earliest: every event the stream holds again.
    let url = format!("postgres://eddy@127.0.0.1:{}/eddy", eddy.pg_port());
    let out = common::run_command(
        std::process::Command::new(common::eddy_binary()).args([
            "replay",
            "per_label",
            "--from",
            "earliest",
            "--yes",
            "--url",
            &url,
        ]),
        "eddy replay --from earliest",
    );
    assert!(out.contains("Replayed and swapped"), "{out}");
    assert_eq!(
        common::lines(&client, counts).await,
        ["apple 2", "blueberry 3"]
    );

    // A view over tables only has no stream to start in.
    let err = client
        .batch_execute(&format!("REPLAY MATERIALIZED VIEW labels FROM '{from}'"))
        .await
        .expect_err("tables only");
    let described = common::describe_error(&err);
    assert!(described.contains("(SQLSTATE 0A000)"), "{described}");
    assert!(described.contains("tables are state"), "{described}");
    // A stream that began reading its topic half an hour ago cannot give the hour.
    let err = client
        .batch_execute(&format!("REPLAY MATERIALIZED VIEW later FROM '{from}'"))
        .await
        .expect_err("the stream began later");
    let described = common::describe_error(&err);
    assert!(described.contains("(SQLSTATE 55000)"), "{described}");
    assert!(described.contains("events_later"), "{described}");
    // A bad FROM is a clear error, not a parser's list of keywords.
    let err = client
        .batch_execute("REPLAY MATERIALIZED VIEW per_label FROM 'yesterday-ish'")
        .await
        .expect_err("bad from");
    let described = common::describe_error(&err);
    assert!(described.contains("(SQLSTATE 22023)"), "{described}");
    assert!(described.contains("yesterday-ish"), "{described}");
    assert_eq!(common::lines(&client, "SELECT n FROM later").await, ["5"]);
    // A stream with a RETENTION no longer holds what is further behind its watermark
    // (the last event, 12 minutes ago): from two hours ago is refused, from one is not.
    wait_for(&client, "SELECT n FROM kept", &["3"]).await;
    let two_hours_ago = (now - hour * 2).format("%Y-%m-%d %H:%M:%S").to_string();
    let err = client
        .batch_execute(&format!(
            "REPLAY MATERIALIZED VIEW kept FROM '{two_hours_ago}'"
        ))
        .await
        .expect_err("past the retention");
    let described = common::describe_error(&err);
    assert!(described.contains("(SQLSTATE 55000)"), "{described}");
    assert!(described.contains("RETENTION"), "{described}");
    client
        .batch_execute(&format!("REPLAY MATERIALIZED VIEW kept FROM '{from}'"))
        .await
        .unwrap_or_else(|e| panic!("replay kept: {}", common::describe_error(&e)));
    assert_eq!(common::lines(&client, "SELECT n FROM kept").await, ["3"]);
}
