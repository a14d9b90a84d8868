//! `CREATE OR REPLACE MATERIALIZED VIEW` is blue/green: the new version (and new
//! versions of the views that read it) are built beside the old ones, which keep
//! serving, and the names move in one step. A reader querying in a loop throughout
//! never sees an error, an empty view, or the new version of one view beside the old
//! version of another.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

async fn flat(client: &tokio_postgres::Client, sql: &str) -> Result<Vec<String>, String> {
    common::flat_rows(client, sql).await
}

#[tokio::test]
async fn replacing_a_view_swaps_it_and_its_readers_at_once() {
    let mut eddy = common::start_eddy(2);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE t (k int, v int);
             INSERT INTO t SELECT i % 10, i FROM generate_series(1, 20000) i;
             CREATE MATERIALIZED VIEW per_k AS SELECT k, sum(v) AS total FROM t GROUP BY k;
             CREATE MATERIALIZED VIEW summary AS SELECT count(*) AS n, sum(total) AS all_total FROM per_k;
             CREATE VIEW big AS SELECT k FROM per_k WHERE total > 20000000;",
        )
        .await
        .expect("setup");
    let old_total = (1..=20000i64).sum::<i64>();
    let old = format!("10 {old_total}");
    let new = format!("10 {}", old_total * 2);
    assert_eq!(
        flat(&client, "SELECT * FROM summary").await.unwrap(),
        vec![old.clone()]
    );

    // A reader in a loop: both views, in one read, always agree on one version.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let client = eddy.connect().await.expect("connect");
        let stop = Arc::clone(&stop);
        let (old, new) = (old.clone(), new.clone());
        tokio::spawn(async move {
            let mut seen_new = 0;
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let got = flat(
                    &client,
                    "SELECT s.n, s.all_total, (SELECT sum(total) FROM per_k) FROM summary s",
                )
                .await
                .expect("a read during the swap");
                let expected_old = format!("{old} {}", old.split(' ').nth(1).unwrap());
                let expected_new = format!("{new} {}", new.split(' ').nth(1).unwrap());
                assert!(
                    got == vec![expected_old.clone()] || got == vec![expected_new.clone()],
                    "a read saw {got:?}; expected {expected_old} or {expected_new}"
                );
                if got == vec![expected_new] {
                    seen_new += 1;
                }
                reads += 1;
            }
            (reads, seen_new)
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    client
        .batch_execute(
            "CREATE OR REPLACE MATERIALIZED VIEW per_k AS SELECT k, sum(v) * 2 AS total FROM t GROUP BY k",
        )
        .await
        .unwrap_or_else(|e| panic!("replace: {}", common::describe_error(&e)));
    // Right after the statement, everything reads the new version.
    assert_eq!(
        flat(&client, "SELECT * FROM summary").await.unwrap(),
        vec![new.clone()]
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let (reads, seen_new) = reader.await.expect("reader");
    assert!(
        reads > 2 && seen_new > 0,
        "{reads} reads, {seen_new} of the new version"
    );
    // The plain view over it follows too.
    assert_eq!(
        flat(&client, "SELECT count(*) FROM big").await.unwrap(),
        vec!["10"]
    );

    // A new version that fails leaves the old one serving.
    let err = client
        .batch_execute("CREATE OR REPLACE MATERIALIZED VIEW per_k AS SELECT k, sum(v) / 0 AS total FROM t GROUP BY k")
        .await
        .expect_err("division by zero");
    assert_eq!(err.code().map(|c| c.code()), Some("42P17"), "{err:?}");
    assert_eq!(
        flat(&client, "SELECT * FROM summary").await.unwrap(),
        vec![new.clone()]
    );
    // So does one that a reader cannot be planned on.
    let err = client
        .batch_execute("CREATE OR REPLACE MATERIALIZED VIEW per_k AS SELECT k FROM t GROUP BY k")
        .await
        .expect_err("summary reads total");
    assert_eq!(err.code().map(|c| c.code()), Some("2BP01"), "{err:?}");
    assert_eq!(
        flat(&client, "SELECT * FROM summary").await.unwrap(),
        vec![new.clone()]
    );
    // The same definition again changes nothing.
    client
        .batch_execute("CREATE OR REPLACE MATERIALIZED VIEW per_k AS SELECT k, sum(v) * 2 AS total FROM t GROUP BY k")
        .await
        .expect("same definition");

    // REPLAY rebuilds a view (and its readers) from its inputs, then swaps: same rows.
    // A subscription of the old version ends, saying so.
    let subscriber = eddy.connect().await.expect("connect");
    let stream = subscriber
        .simple_query_raw("SUBSCRIBE summary WITH (SNAPSHOT = false)")
        .await
        .expect("subscribe");
    client
        .batch_execute("REPLAY MATERIALIZED VIEW per_k")
        .await
        .unwrap_or_else(|e| panic!("replay: {}", common::describe_error(&e)));
    {
        use futures::{pin_mut, TryStreamExt};
        pin_mut!(stream);
        let ended = loop {
            match tokio::time::timeout(std::time::Duration::from_secs(20), stream.try_next())
                .await
                .expect("the subscription ends within 20 s")
            {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the subscription ended without an error"),
                Err(e) => break e,
            }
        };
        let db = ended.as_db_error().expect("a server error");
        assert_eq!(db.code().code(), "55000", "{db:?}");
        assert!(db.message().contains("was replaced"), "{db:?}");
    }
    assert_eq!(
        flat(&client, "SELECT * FROM summary").await.unwrap(),
        vec![new.clone()]
    );
    let err = client
        .batch_execute("REPLAY MATERIALIZED VIEW big")
        .await
        .expect_err("a plain view");
    assert_eq!(err.code().map(|c| c.code()), Some("42809"), "{err:?}");

    // A rename moves the readers along, in one swap.
    client
        .batch_execute("ALTER MATERIALIZED VIEW per_k RENAME TO per_key")
        .await
        .unwrap_or_else(|e| panic!("rename: {}", common::describe_error(&e)));
    assert_eq!(
        flat(&client, "SELECT * FROM summary").await.unwrap(),
        vec![new.clone()]
    );
    assert_eq!(
        flat(&client, "SELECT count(*) FROM per_key").await.unwrap(),
        vec!["10"]
    );
    let err = client
        .batch_execute("SELECT * FROM per_k")
        .await
        .expect_err("the old name");
    assert_eq!(err.code().map(|c| c.code()), Some("42P01"), "{err:?}");
    let err = client
        .batch_execute("ALTER VIEW per_key RENAME TO x")
        .await
        .expect_err("not a plain view");
    assert_eq!(err.code().map(|c| c.code()), Some("42809"), "{err:?}");

    // The new definitions are what a restart finds, and they keep up with writes.
    eddy.kill9().expect("kill");
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute("INSERT INTO t VALUES (3, 1)")
        .await
        .expect("insert");
    assert_eq!(
        flat(&client, "SELECT * FROM summary").await.unwrap(),
        vec![format!("10 {}", old_total * 2 + 2)]
    );
}

/// `SHOW MATERIALIZED VIEWS` says what a replacement is doing: replaying beside the
/// serving version (with its progress), built and held for `APPLY COMMIT`, or done.
#[tokio::test]
async fn show_materialized_views_reports_a_replacement_in_progress() {
    let eddy = common::start_eddy(1);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE t (k int, v int);
             INSERT INTO t SELECT i % 1000, i FROM generate_series(1, 30000) i;
             CREATE MATERIALIZED VIEW pairs AS SELECT a.k, count(*) AS n FROM t a JOIN t b ON a.k = b.k GROUP BY a.k;",
        )
        .await
        .expect("setup");
    assert_eq!(
        flat(&client, "SHOW MATERIALIZED VIEWS").await.unwrap(),
        ["pairs ready"]
    );
    // /metrics has the records its arrangements hold (published every second).
    let records = |body: &str| -> Option<i64> {
        body.lines()
            .find_map(|l| l.strip_prefix("eddy_view_arrangement_records{view=\"pairs\"} "))
            .and_then(|v| v.parse().ok())
    };
    let started = std::time::Instant::now();
    loop {
        let body = eddy.http_get("/metrics").expect("metrics").body;
        match records(&body) {
            // At least the 30,000 rows of t arranged by k for the join.
            Some(n) if n >= 30_000 => break,
            other => assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "{other:?} in {body}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Replaced over pgwire, watched from another session until the swap.
    let replacing = {
        let client = eddy.connect().await.expect("connect");
        tokio::spawn(async move {
            client
                .batch_execute(
                    "CREATE OR REPLACE MATERIALIZED VIEW pairs AS \
                     SELECT a.k, count(*) AS n, sum(b.v) AS s FROM t a JOIN t b ON a.k = b.k GROUP BY a.k",
                )
                .await
        })
    };
    let mut seen = Vec::new();
    while !replacing.is_finished() {
        let rows = flat(&client, "SHOW MATERIALIZED VIEWS").await.unwrap();
        seen.extend(rows);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    replacing.await.unwrap().expect("replace");
    assert!(
        seen.iter()
            .any(|s| s.starts_with("pairs replacing: the new version is")),
        "{seen:?}"
    );
    assert_eq!(
        flat(&client, "SHOW MATERIALIZED VIEWS").await.unwrap(),
        ["pairs ready"]
    );

    // Held: built, and waiting for the decision.
    let files = r#"{"pairs.sql": "CREATE MATERIALIZED VIEW pairs AS SELECT a.k, count(*) AS n FROM t a JOIN t b ON a.k = b.k GROUP BY a.k;"}"#;
    let plan = flat(
        &client,
        &format!("APPLY FILES '{files}' WITH (DRY_RUN = false, PRUNE = false, HOLD = true)"),
    )
    .await
    .unwrap();
    let token = plan
        .iter()
        .find_map(|row| row.strip_prefix("? swap "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no held swap in {plan:?}"))
        .to_string();
    assert_eq!(
        flat(&client, "SHOW MATERIALIZED VIEWS").await.unwrap(),
        [format!(
            "pairs replacing: the new version is built; APPLY COMMIT {token} swaps to it, \
             APPLY ABORT {token} drops it"
        )]
    );
    client
        .batch_execute(&format!("APPLY ABORT {token}"))
        .await
        .expect("abort");
    assert_eq!(
        flat(&client, "SHOW MATERIALIZED VIEWS").await.unwrap(),
        ["pairs ready"]
    );
}
