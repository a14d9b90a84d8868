//! Postgres CDC end to end: `CREATE SOURCE ... FROM POSTGRES` mirrors a live database
//! (a private Postgres cluster) into Eddy; views over the mirrored tables must equal
//! Postgres running the same queries, through a random workload of multi-statement
//! transactions, a `kill -9` of Eddy in the middle of it, and a restart.

mod common;

use std::time::{Duration, Instant};

use eddy_testkit::{diff_rows, query_rows, Eddy, Postgres, TextRow};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_postgres::Client;

/// The upstream schema: keyed tables, and a keyless one with REPLICA IDENTITY FULL
/// (where a change applied twice, or a snapshot off the slot's point, would show).
const UPSTREAM: &str = "
    CREATE TABLE customers (id int PRIMARY KEY, name text, region text);
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int, status text, amount numeric(10,2), note text);
    CREATE TABLE events (kind text, n int);
    ALTER TABLE events REPLICA IDENTITY FULL;
    INSERT INTO customers SELECT i, 'c' || i, (ARRAY['eu','us','apac'])[1 + i % 3] FROM generate_series(1, 200) i;
    INSERT INTO orders SELECT i, 1 + i % 200, CASE WHEN i % 4 = 0 THEN 'open' ELSE 'paid' END,
        (i % 97) * 1.25, CASE WHEN i % 500 = 0 THEN repeat('x', 3000) END FROM generate_series(1, 100000) i;
    INSERT INTO events SELECT 'k' || (i % 5), i % 7 FROM generate_series(1, 500) i;
    CREATE TABLE accounts (id int PRIMARY KEY, balance int);
    INSERT INTO accounts SELECT i, 1000 FROM generate_series(1, 100) i;
    CREATE PUBLICATION shop_pub FOR ALL TABLES;";

/// Queries run on both sides: on Eddy over `shop.*`, on Postgres over `public.*`.
const QUERIES: &[&str] = &[
    "SELECT c.region, count(*) AS n, sum(o.amount) AS total FROM {s}orders o JOIN {s}customers c ON c.id = o.customer_id WHERE o.status = 'open' GROUP BY c.region",
    "SELECT kind, count(*) AS n, sum(n) AS total FROM {s}events GROUP BY kind",
    "SELECT id, customer_id, status, amount, length(note) FROM {s}orders",
    "SELECT * FROM {s}customers",
    "SELECT * FROM {s}accounts",
];

fn query(template: &str, schema: &str) -> String {
    template.replace("{s}", schema)
}

/// One upstream transaction of a few random statements.
fn transaction(rng: &mut StdRng) -> String {
    let mut stmts = vec!["BEGIN".to_string()];
    for _ in 0..rng.gen_range(1..5) {
        let id = rng.gen_range(1..110_000);
        if rng.gen_range(0..4) == 0 {
            // A transfer: the total of all balances never changes.
            let (from, to, amount) = (
                rng.gen_range(1..=100),
                rng.gen_range(1..=100),
                rng.gen_range(1..50),
            );
            stmts.push(format!(
                "UPDATE accounts SET balance = balance - {amount} WHERE id = {from}"
            ));
            stmts.push(format!(
                "UPDATE accounts SET balance = balance + {amount} WHERE id = {to}"
            ));
            continue;
        }
        stmts.push(match rng.gen_range(0..10) {
            0..=2 => format!(
                "INSERT INTO orders VALUES ({id}, {}, 'open', {}.50, NULL) ON CONFLICT (id) DO NOTHING",
                rng.gen_range(1..220),
                rng.gen_range(1..100)
            ),
            3 => format!("UPDATE orders SET status = 'paid', amount = amount + 1 WHERE id = {id}"),
            4 => format!("UPDATE orders SET status = 'open' WHERE customer_id = {}", rng.gen_range(1..220)),
            5 => format!("DELETE FROM orders WHERE id = {id}"),
            // A primary key change.
            6 => format!(
                "UPDATE orders SET id = {} WHERE id = {id} AND NOT EXISTS (SELECT 1 FROM orders WHERE id = {})",
                id + 200_000,
                id + 200_000
            ),
            7 => format!(
                "UPDATE customers SET region = '{}' WHERE id = {}",
                ["eu", "us", "apac", "latam"][rng.gen_range(0..4)],
                rng.gen_range(1..220)
            ),
            8 => format!(
                "INSERT INTO events VALUES ('k{}', {}), ('k{}', {})",
                rng.gen_range(0..6),
                rng.gen_range(0..9),
                rng.gen_range(0..6),
                rng.gen_range(0..9)
            ),
            _ => format!("DELETE FROM events WHERE ctid IN (SELECT ctid FROM events WHERE n = {} LIMIT 2)", rng.gen_range(0..9)),
        });
    }
    stmts.push("COMMIT".to_string());
    stmts.join("; ")
}

async fn rows(client: &Client, sql: &str) -> Result<Vec<TextRow>, String> {
    query_rows(client, sql).await.map_err(|e| format!("{e:#}"))
}

/// Waits until every query gives on Eddy what it gives on Postgres (the source has
/// caught up), failing with the difference after `timeout`.
async fn wait_in_sync(eddy: &Eddy, upstream: &Client, context: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = eddy.connect().await.expect("connect to eddy");
    loop {
        let mut differences = Vec::new();
        for template in QUERIES {
            let expected = rows(upstream, &query(template, "public."))
                .await
                .expect("upstream");
            match rows(&client, &query(template, "shop.")).await {
                Ok(actual) if actual == expected => {}
                Ok(actual) => differences.push(format!(
                    "{template}:\n{}",
                    diff_rows(&expected, &actual).unwrap_or_default()
                )),
                Err(e) => differences.push(format!("{template}: {e}")),
            }
        }
        if differences.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{context}: eddy never caught up with postgres:\n{}\n{}",
            differences.join("\n"),
            eddy.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `n` random upstream transactions on a connection of their own.
fn spawn_writer(conninfo: String, seed: u64, n: usize) -> tokio::task::JoinHandle<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    tokio::spawn(async move {
        let (upstream, conn) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
            .await
            .expect("writer connects");
        tokio::spawn(conn);
        for _ in 0..n {
            upstream
                .batch_execute(&transaction(&mut rng))
                .await
                .expect("upstream transaction");
        }
    })
}

/// While `writer` runs, reads the accounts' total over and over: transfers move money
/// inside one transaction, so every read sees the same total (atomic transactions).
async fn check_totals(eddy: &Eddy, writer: &tokio::task::JoinHandle<()>) {
    let client = eddy.connect().await.expect("connect");
    let mut reads = 0;
    while !writer.is_finished() {
        let got = rows(&client, "SELECT sum(balance), count(*) FROM shop.accounts")
            .await
            .expect("read the accounts");
        assert_eq!(
            got,
            vec![vec![Some("100000".to_string()), Some("100".to_string())]],
            "a read saw part of a transfer (after {reads} good reads)"
        );
        reads += 1;
    }
    assert!(reads > 0, "no read while the writer ran");
}

fn sqlstate(err: &tokio_postgres::Error) -> String {
    err.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("{err}"))
}

#[tokio::test]
async fn a_postgres_database_is_mirrored_exactly_through_changes_and_kill9() {
    let seed: u64 = rand::random();
    println!("pg_cdc seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let pg = Postgres::start().expect("start postgres");
    let upstream = pg.connect().await.expect("connect to postgres");
    upstream
        .batch_execute(UPSTREAM)
        .await
        .expect("upstream schema");
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        pg.port()
    );

    // Compacting the log every few hundred rows: restarts read snapshots too.
    let mut config = common::config(2);
    config.extra_args = vec!["--snapshot-rows".into(), "700".into()];
    let mut eddy = Eddy::start(config).expect("start eddy");
    let client = eddy.connect().await.expect("connect");
    // Bad setups are clear errors, and create nothing.
    let err = client
        .batch_execute(&format!(
            "CREATE SOURCE nope FROM POSTGRES WITH (CONNECTION = '{conninfo}', PUBLICATION = 'missing')"
        ))
        .await
        .expect_err("a missing publication");
    assert_eq!(sqlstate(&err), "42704", "{err:?}");
    // Writes go on while the source is created and takes its snapshot.
    let during_snapshot = spawn_writer(conninfo.clone(), rng.gen(), 100);
    client
        .batch_execute(&format!(
            "CREATE SOURCE shop FROM POSTGRES WITH (CONNECTION = '{conninfo}', PUBLICATION = 'shop_pub')"
        ))
        .await
        .unwrap_or_else(|e| panic!("create source: {}", common::describe_error(&e)));
    during_snapshot.await.expect("writer during the snapshot");
    client
        .batch_execute(&format!(
            "CREATE MATERIALIZED VIEW open_by_region AS {}",
            query(QUERIES[0], "shop.")
        ))
        .await
        .expect("view");
    wait_in_sync(&eddy, &upstream, "after the snapshot").await;
    let mirrored = rows(&client, "SHOW TABLES").await.expect("show tables");
    for table in ["shop.customers", "shop.events", "shop.orders"] {
        assert!(
            mirrored.iter().any(|r| r[0].as_deref() == Some(table)),
            "{mirrored:?}"
        );
    }
    let view = rows(&client, "SELECT * FROM open_by_region")
        .await
        .expect("view");
    let expected = rows(&upstream, &query(QUERIES[0], "public."))
        .await
        .expect("upstream");
    assert_eq!(view, expected, "the view over the mirrored tables");

    // Only the source writes its tables; the source is not a relation.
    for (sql, code) in [
        (
            "INSERT INTO shop.orders VALUES (1, 1, 'x', 1, NULL)",
            "42809",
        ),
        ("SELECT * FROM shop", "42809"),
        ("DROP TABLE shop.orders", "2BP01"),
    ] {
        let err = client.batch_execute(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&err), code, "{sql}: {err:?}");
    }

    // Changes, in rounds; after the second round, kill -9 while they keep coming.
    for round in 0..3 {
        let writer = spawn_writer(conninfo.clone(), rng.gen(), 150);
        if round != 1 {
            // Meanwhile, no read ever sees half of a transfer.
            check_totals(&eddy, &writer).await;
        }
        if round == 1 {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(50..400))).await;
            eddy.kill9().expect("kill -9");
            writer.await.expect("writer");
            eddy.restart().expect("restart");
        } else {
            writer.await.expect("writer");
        }
        wait_in_sync(&eddy, &upstream, &format!("round {round}")).await;
        let client = eddy.connect().await.expect("connect");
        let view = rows(&client, "SELECT * FROM open_by_region")
            .await
            .expect("view");
        let expected = rows(&upstream, &query(QUERIES[0], "public."))
            .await
            .expect("upstream");
        assert_eq!(view, expected, "round {round}: the materialized view");
    }

    // TRUNCATE empties the mirror too.
    upstream
        .batch_execute("TRUNCATE events")
        .await
        .expect("truncate");
    wait_in_sync(&eddy, &upstream, "after TRUNCATE").await;

    // SHOW SOURCES; then DROP SOURCE (views over its tables need CASCADE) drops the
    // replication slot upstream.
    let client = eddy.connect().await.expect("connect");
    let sources = rows(&client, "SHOW SOURCES").await.expect("show sources");
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(sources[0][1].as_deref(), Some("postgres"));
    assert_eq!(sources[0][3].as_deref(), Some("running"), "{sources:?}");
    // Caught up, the lag is none in bytes and in ms (both NULL until upstream has said
    // where its WAL ends).
    assert_eq!(sources[0].len(), 11, "{sources:?}");
    if sources[0][7].as_deref() == Some("0") {
        assert_eq!(sources[0][8].as_deref(), Some("0"), "{sources:?}");
    }
    // No late events and no watermark: those are of Kafka streams with an event time.
    assert_eq!(sources[0][9], None, "{sources:?}");
    assert_eq!(sources[0][10], None, "{sources:?}");
    let err = client
        .batch_execute("DROP SOURCE shop")
        .await
        .expect_err("a view depends");
    assert_eq!(sqlstate(&err), "2BP01");
    client
        .batch_execute("DROP SOURCE shop CASCADE")
        .await
        .expect("drop source");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let slots = rows(&upstream, "SELECT slot_name FROM pg_replication_slots")
            .await
            .unwrap();
        if slots.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "slots left upstream: {slots:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let err = client
        .batch_execute("SELECT * FROM shop.orders")
        .await
        .expect_err("dropped");
    assert_eq!(sqlstate(&err), "42P01");
}

/// Waits until `sql` gives `expected` on Eddy.
async fn wait_for(eddy: &Eddy, sql: &str, expected: &[&str], context: &str) {
    let client = eddy.connect().await.expect("connect");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = rows(&client, sql).await;
        let flat: Result<Vec<String>, String> = got.map(|rows| {
            rows.iter()
                .map(|r| {
                    r.iter()
                        .map(|v| v.clone().unwrap_or("NULL".into()))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        });
        if flat.as_deref().ok()
            == Some(&expected.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..])
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{context}: {sql} gives {flat:?}, expected {expected:?}\n{}",
            eddy.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn restarts_of_postgres_and_upstream_schema_changes_keep_the_other_tables_flowing() {
    let pg = Postgres::start().expect("start postgres");
    let upstream = pg.connect().await.expect("connect to postgres");
    upstream
        .batch_execute(
            "CREATE TABLE a (id int PRIMARY KEY, v int);
             CREATE TABLE b (id int PRIMARY KEY, w text);
             CREATE TABLE nokey (x int);
             INSERT INTO a VALUES (1, 10), (2, 20);
             INSERT INTO b VALUES (1, 'one');
             CREATE PUBLICATION pub FOR ALL TABLES;",
        )
        .await
        .expect("upstream");
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        pg.port()
    );
    let eddy = Eddy::start(common::config(1)).expect("start eddy");
    let client = eddy.connect().await.expect("connect");
    // A table whose updates cannot be matched to rows is refused, by name.
    let err = client
        .batch_execute(&format!(
            "CREATE SOURCE src FROM POSTGRES WITH (CONNECTION = '{conninfo}', PUBLICATION = 'pub')"
        ))
        .await
        .expect_err("a table without a primary key");
    assert_eq!(sqlstate(&err), "55000", "{err:?}");
    assert!(format!("{err:?}").contains("nokey"), "{err:?}");
    client
        .batch_execute(&format!(
            "CREATE SOURCE src FROM POSTGRES WITH (CONNECTION = '{conninfo}', PUBLICATION = 'pub')
               FOR TABLES (public.a, b AS bee)"
        ))
        .await
        .unwrap_or_else(|e| panic!("create source: {}", common::describe_error(&e)));
    wait_for(
        &eddy,
        "SELECT id, v FROM src.a",
        &["1 10", "2 20"],
        "snapshot",
    )
    .await;
    wait_for(&eddy, "SELECT id, w FROM src.bee", &["1 one"], "snapshot").await;
    // /metrics, refreshed every second.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = eddy.http_get("/metrics").expect("metrics").body;
        // (The lag in bytes shows once upstream has said where its WAL ends.)
        if metrics.contains("eddy_source_messages_total{source=\"src\"} 3") {
            break;
        }
        assert!(Instant::now() < deadline, "no figures of src in\n{metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Each upstream transaction is one step of a subscription (its own timestamp),
    // also when several arrive together.
    {
        use futures::{pin_mut, TryStreamExt};
        let reader = eddy.connect().await.expect("connect");
        let stream = reader
            .simple_query_raw(
                "SUBSCRIBE (SELECT id FROM src.a WHERE id >= 100) WITH (SNAPSHOT = false)",
            )
            .await
            .expect("subscribe");
        pin_mut!(stream);
        upstream
            .batch_execute(
                "BEGIN; INSERT INTO a VALUES (100, 0), (101, 0); COMMIT;
                 BEGIN; INSERT INTO a VALUES (102, 0), (103, 0); COMMIT;
                 BEGIN; INSERT INTO a VALUES (104, 0), (105, 0); COMMIT;
                 DELETE FROM a WHERE id >= 100;",
            )
            .await
            .expect("three transactions");
        let mut by_time: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        while by_time.values().map(Vec::len).sum::<usize>() < 12 {
            let message = tokio::time::timeout(Duration::from_secs(30), stream.try_next())
                .await
                .expect("a change within 30 s")
                .expect("no error")
                .expect("the subscription goes on");
            if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                by_time
                    .entry(row.get(0).unwrap().to_string())
                    .or_default()
                    .push(format!("{}{}", row.get(1).unwrap(), row.get(2).unwrap()));
            }
        }
        let steps: Vec<usize> = by_time.values().map(Vec::len).collect();
        assert_eq!(steps, [2, 2, 2, 6], "{by_time:?}");
    }

    // Postgres restarts (fast shutdown: it waits for the source to confirm); the
    // source reconnects and goes on from where it was.
    pg.cluster().restart("fast").expect("restart postgres");
    let upstream = pg.connect().await.expect("reconnect to postgres");
    upstream
        .batch_execute("INSERT INTO a VALUES (3, 30); UPDATE b SET w = 'uno' WHERE id = 1")
        .await
        .expect("write after restart");
    wait_for(
        &eddy,
        "SELECT id, v FROM src.a",
        &["1 10", "2 20", "3 30"],
        "after a postgres restart",
    )
    .await;
    wait_for(
        &eddy,
        "SELECT id, w FROM src.bee",
        &["1 uno"],
        "after a postgres restart",
    )
    .await;

    // An added column is not read; the table flows on.
    upstream
        .batch_execute("ALTER TABLE a ADD COLUMN z int; INSERT INTO a VALUES (4, 40, 7)")
        .await
        .expect("add column");
    wait_for(
        &eddy,
        "SELECT id, v FROM src.a",
        &["1 10", "2 20", "3 30", "4 40"],
        "after ADD COLUMN",
    )
    .await;

    // A dropped column stops that table (reads say why), the other flows on.
    upstream
        .batch_execute("ALTER TABLE b DROP COLUMN w; INSERT INTO b VALUES (2); INSERT INTO a VALUES (5, 50, 0)")
        .await
        .expect("drop column");
    wait_for(
        &eddy,
        "SELECT id, v FROM src.a",
        &["1 10", "2 20", "3 30", "4 40", "5 50"],
        "the other table after DROP COLUMN",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.batch_execute("SELECT * FROM src.bee").await {
            Err(err) => {
                assert_eq!(sqlstate(&err), "55000", "{err:?}");
                assert!(format!("{err:?}").contains("src.bee"), "{err:?}");
                break;
            }
            Ok(()) => {
                assert!(Instant::now() < deadline, "src.bee never reported its stop");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
