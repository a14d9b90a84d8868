//! The coordinator's own rules, through its client API and without a server: reads
//! see every returned write (from any session), transaction blocks see their own
//! buffered writes and no one else does, DROP checks dependents, and prepared
//! statements run the statement they parsed.

use eddy_coord::{start, Client, CoordConfig, ExecuteResponse, SessionHandle};
use eddy_repr::{Datum, SqlError, SqlState};

struct Harness {
    client: Client,
    _dir: tempfile::TempDir,
}

async fn coordinator() -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let started = start(CoordConfig {
        data_dir: dir.path().to_path_buf(),
        workers: 1,
        snapshot_rows: CoordConfig::DEFAULT_SNAPSHOT_ROWS,
        query_max_records: Some(CoordConfig::DEFAULT_QUERY_MAX_RECORDS),
        query_max_bytes: Some(CoordConfig::DEFAULT_QUERY_MAX_BYTES),
        kafka_brokers: None,
        subscribe_max_buffered_records: CoordConfig::DEFAULT_SUBSCRIBE_MAX_BUFFERED_RECORDS,
    })
    .await
    .expect("coordinator starts");
    Harness {
        client: started.client,
        _dir: dir,
    }
}

impl Harness {
    async fn session(&self) -> SessionHandle {
        self.client
            .open_session("eddy", "eddy", vec![])
            .await
            .unwrap()
    }

    /// Runs a query string; returns the last statement's result.
    async fn run(&self, session: &SessionHandle, sql: &str) -> Result<ExecuteResponse, SqlError> {
        self.client
            .execute_simple(session, sql)
            .await
            .pop()
            .expect("one result at least")
    }

    async fn ok(&self, session: &SessionHandle, sql: &str) {
        if let Err(e) = self.run(session, sql).await {
            panic!("{sql}: {e:?}");
        }
    }

    /// The rows of a query, each printed as its datums' debug form.
    async fn rows(&self, session: &SessionHandle, sql: &str) -> Vec<String> {
        match self.run(session, sql).await {
            Ok(ExecuteResponse::Rows { rows, .. }) => {
                rows.iter().map(|r| format!("{:?}", r.unpack())).collect()
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
}

fn ints(values: &[i32]) -> Vec<String> {
    values
        .iter()
        .map(|v| format!("{:?}", vec![Datum::Int32(*v)]))
        .collect()
}

#[tokio::test]
async fn every_session_reads_every_returned_write() {
    let h = coordinator().await;
    let (a, b) = (h.session().await, h.session().await);
    h.ok(&a, "CREATE TABLE t (x int)").await;
    h.ok(
        &a,
        "CREATE MATERIALIZED VIEW s AS SELECT sum(x)::int AS x FROM t",
    )
    .await;
    for i in 1..=5 {
        h.ok(&a, &format!("INSERT INTO t VALUES ({i})")).await;
        // The next read, by the writer or anyone else, includes the write, in the
        // table and in the view computed from it.
        let expected: Vec<i32> = (1..=i).collect();
        assert_eq!(
            h.rows(&b, "SELECT x FROM t ORDER BY x").await,
            ints(&expected)
        );
        assert_eq!(
            h.rows(&a, "SELECT x FROM s").await,
            ints(&[expected.iter().sum()])
        );
    }
}

#[tokio::test]
async fn a_block_sees_its_own_writes_and_no_one_else_does() {
    let h = coordinator().await;
    let (a, b) = (h.session().await, h.session().await);
    h.ok(&a, "CREATE TABLE t (x int)").await;
    h.ok(
        &a,
        "CREATE MATERIALIZED VIEW c AS SELECT count(*)::int AS n FROM t",
    )
    .await;
    h.ok(&a, "INSERT INTO t VALUES (1)").await;
    h.ok(&a, "BEGIN").await;
    h.ok(&a, "INSERT INTO t VALUES (2)").await;
    h.ok(&a, "DELETE FROM t WHERE x = 1").await;
    assert_eq!(h.rows(&a, "SELECT x FROM t").await, ints(&[2]));
    assert_eq!(h.rows(&a, "SELECT n FROM c").await, ints(&[1]));
    assert_eq!(h.rows(&b, "SELECT x FROM t").await, ints(&[1]));
    h.ok(&a, "COMMIT").await;
    assert_eq!(h.rows(&b, "SELECT x FROM t").await, ints(&[2]));
    // A rolled-back block leaves nothing behind.
    h.ok(&a, "BEGIN; INSERT INTO t VALUES (3)").await;
    h.ok(&a, "ROLLBACK").await;
    assert_eq!(h.rows(&a, "SELECT x FROM t").await, ints(&[2]));
}

#[tokio::test]
async fn a_failed_statement_fails_the_block() {
    let h = coordinator().await;
    let a = h.session().await;
    h.ok(&a, "CREATE TABLE t (x int)").await;
    h.ok(&a, "BEGIN").await;
    h.ok(&a, "INSERT INTO t VALUES (1)").await;
    let err = h.run(&a, "INSERT INTO nope VALUES (1)").await.unwrap_err();
    assert_eq!(err.sqlstate, SqlState::UNDEFINED_TABLE);
    let err = h.run(&a, "SELECT 1").await.unwrap_err();
    assert_eq!(err.sqlstate, SqlState::IN_FAILED_SQL_TRANSACTION);
    match h.run(&a, "COMMIT").await {
        Ok(ExecuteResponse::Command { tag }) => assert_eq!(tag, "ROLLBACK"),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.rows(&a, "SELECT x FROM t").await, ints(&[]));
}

#[tokio::test]
async fn drop_checks_dependents_found_by_name_resolution() {
    let h = coordinator().await;
    let a = h.session().await;
    h.ok(&a, "CREATE TABLE t (x int)").await;
    h.ok(&a, "CREATE VIEW v AS SELECT x FROM t").await;
    // Reads t only through the plain view v, inside a subquery.
    h.ok(
        &a,
        "CREATE MATERIALIZED VIEW m AS SELECT 1 AS one WHERE EXISTS (SELECT 1 FROM v)",
    )
    .await;
    let err = h.run(&a, "DROP TABLE t").await.unwrap_err();
    assert_eq!(err.sqlstate, SqlState::DEPENDENT_OBJECTS_STILL_EXIST);
    assert_eq!(err.detail.as_deref(), Some("view v depends on table t"));
    let err = h.run(&a, "DROP VIEW v").await.unwrap_err();
    assert_eq!(
        err.detail.as_deref(),
        Some("materialized view m depends on view v")
    );
    // A CTE named like the table is not the table.
    h.ok(&a, "CREATE TABLE u (x int)").await;
    h.ok(
        &a,
        "CREATE MATERIALIZED VIEW w AS WITH u AS (SELECT 1 AS x) SELECT x FROM u",
    )
    .await;
    h.ok(&a, "DROP TABLE u").await;
    h.ok(&a, "DROP TABLE t CASCADE").await;
    let err = h.run(&a, "SELECT * FROM m").await.unwrap_err();
    assert_eq!(err.sqlstate, SqlState::UNDEFINED_TABLE);
    assert_eq!(h.rows(&a, "SELECT x FROM w").await, ints(&[1]));
}

#[tokio::test]
async fn prepared_statements_run_what_they_parsed() {
    let h = coordinator().await;
    let a = h.session().await;
    h.ok(&a, "CREATE TABLE t (x int PRIMARY KEY)").await;
    let insert = h
        .client
        .prepare(&a, "INSERT INTO t VALUES ($1)", &[None])
        .await
        .unwrap();
    let select = h
        .client
        .prepare(&a, "SELECT x FROM t WHERE x = $1", &[None])
        .await
        .unwrap();
    assert_eq!(select.desc().param_types.len(), 1);
    for i in 0..3 {
        let response = h
            .client
            .execute_prepared(&a, &insert, vec![Datum::Int32(i)])
            .await
            .unwrap();
        assert_eq!(response.tag(), "INSERT 0 1");
    }
    match h
        .client
        .execute_prepared(&a, &select, vec![Datum::Int32(2)])
        .await
        .unwrap()
    {
        ExecuteResponse::Rows { rows, .. } => assert_eq!(rows.len(), 1),
        other => panic!("{other:?}"),
    }
    // A prepared statement is planned when it runs, against the catalog of then.
    h.ok(&a, "DROP TABLE t").await;
    let err = h
        .client
        .execute_prepared(&a, &select, vec![Datum::Int32(2)])
        .await
        .unwrap_err();
    assert_eq!(err.sqlstate, SqlState::UNDEFINED_TABLE);
    // Several statements cannot be prepared as one.
    let err = h
        .client
        .prepare(&a, "SELECT 1; SELECT 2", &[])
        .await
        .unwrap_err();
    assert_eq!(err.sqlstate, SqlState::SYNTAX_ERROR);
}

/// The next batch of a subscription, as `[diff, datums...]` debug strings, sorted.
async fn next_rows(sub: &mut eddy_coord::Subscription) -> Result<Vec<String>, SqlError> {
    let next = tokio::time::timeout(std::time::Duration::from_secs(20), sub.next())
        .await
        .expect("a batch within 20s")
        .expect("not ended");
    next.map(|rows| {
        let mut rows: Vec<String> = rows
            .iter()
            .map(|r| {
                let datums = r.unpack();
                format!("{:?}", &datums[1..])
            })
            .collect();
        rows.sort();
        rows
    })
}

#[tokio::test]
async fn a_subscription_sees_the_snapshot_then_every_write_until_its_view_is_dropped() {
    let h = coordinator().await;
    let (a, b) = (h.session().await, h.session().await);
    h.ok(&a, "CREATE TABLE t (x int)").await;
    h.ok(&a, "INSERT INTO t VALUES (1), (1), (2)").await;
    h.ok(
        &a,
        "CREATE MATERIALIZED VIEW v AS SELECT x FROM t WHERE x > 0",
    )
    .await;
    let mut sub = match h.run(&b, "SUBSCRIBE TO v").await {
        Ok(ExecuteResponse::Subscribe(sub)) => sub,
        other => panic!("{other:?}"),
    };
    assert_eq!(sub.desc().names[..3], ["eddy_timestamp", "eddy_diff", "x"]);
    assert_eq!(
        next_rows(&mut sub).await.unwrap(),
        vec![
            format!("{:?}", [Datum::Int64(1), Datum::Int32(2)]),
            format!("{:?}", [Datum::Int64(2), Datum::Int32(1)]),
        ]
    );
    h.ok(&a, "UPDATE t SET x = 3 WHERE x = 2").await;
    assert_eq!(
        next_rows(&mut sub).await.unwrap(),
        vec![
            format!("{:?}", [Datum::Int64(-1), Datum::Int32(2)]),
            format!("{:?}", [Datum::Int64(1), Datum::Int32(3)]),
        ]
    );
    // A write the view filters out sends nothing; the next one is seen.
    h.ok(&a, "INSERT INTO t VALUES (-5)").await;
    h.ok(&a, "DELETE FROM t WHERE x = 1").await;
    assert_eq!(
        next_rows(&mut sub).await.unwrap(),
        vec![format!("{:?}", [Datum::Int64(-2), Datum::Int32(1)])]
    );
    h.ok(&a, "DROP MATERIALIZED VIEW v").await;
    let err = next_rows(&mut sub).await.unwrap_err();
    assert_eq!(err.sqlstate, "42P01", "{err:?}");
    assert_eq!(err.message, "subscribe ended: relation \"v\" was dropped");
    assert!(sub.next().await.is_none());
}

#[tokio::test]
async fn a_cancel_ends_a_subscription_and_the_session_goes_on() {
    let h = coordinator().await;
    let a = h.session().await;
    h.ok(&a, "CREATE TABLE t (x int)").await;
    let mut sub = match h
        .run(
            &a,
            "SUBSCRIBE (SELECT x + 1 AS y FROM t) WITH (SNAPSHOT = false)",
        )
        .await
    {
        Ok(ExecuteResponse::Subscribe(sub)) => sub,
        other => panic!("{other:?}"),
    };
    h.client.cancel(a.id).await;
    let err = next_rows(&mut sub).await.unwrap_err();
    assert_eq!(err.sqlstate, "57014");
    drop(sub);
    h.ok(&a, "INSERT INTO t VALUES (1)").await;
    assert_eq!(h.rows(&a, "SELECT x FROM t").await, ints(&[1]));
    // The statements after a SUBSCRIBE in one string do not run.
    let results = h
        .client
        .execute_simple(&a, "SUBSCRIBE t; INSERT INTO t VALUES (2)")
        .await;
    assert_eq!(results.len(), 1);
    drop(results);
    assert_eq!(h.rows(&a, "SELECT x FROM t").await, ints(&[1]));
}
