//! The HTTP endpoint: `GET /health` answers 200 once the server is ready (the harness
//! waits for that), `GET /metrics` serves Prometheus text, anything else is 404.

mod common;

#[test]
fn health_and_metrics() {
    let eddy = common::start_eddy(1);
    let health = eddy.http_get("/health").expect("GET /health");
    assert_eq!(health.status, 200, "{health:?}");

    let metrics = eddy.http_get("/metrics").expect("GET /metrics");
    assert_eq!(metrics.status, 200, "{metrics:?}");
    // Prometheus text format: comments, or `name[{labels}] value`.
    for line in metrics
        .body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("malformed metrics line {line:?}"));
        assert!(
            name.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_'),
            "malformed metric name in {line:?}"
        );
        assert!(
            value.parse::<f64>().is_ok(),
            "malformed metric value in {line:?}"
        );
    }
    assert!(
        metrics
            .body
            .lines()
            .any(|l| !l.starts_with('#') && !l.is_empty()),
        "no metrics: {}",
        metrics.body
    );

    let missing = eddy.http_get("/nope").expect("GET /nope");
    assert_eq!(missing.status, 404, "{missing:?}");
}

/// A materialized view whose input makes it fail (division by zero): reading it names
/// the view and (in DETAIL) the failing input row, readers of readers name the view the error comes from, `SHOW
/// MATERIALIZED VIEWS` and `/metrics` show it without reading it, `/health` says
/// degraded (still 200: everything else serves), and all of it clears when the input
/// row is fixed.
#[tokio::test]
async fn a_view_in_error_is_visible_without_reading_it() {
    let eddy = common::start_eddy(2);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE t (a int, b int);
             CREATE MATERIALIZED VIEW q AS SELECT a / b AS r FROM t;
             CREATE MATERIALIZED VIEW q2 AS SELECT count(*) AS n FROM q;
             INSERT INTO t VALUES (1, 0), (4, 2);",
        )
        .await
        .expect("setup");
    for (view, named) in [("q", "q"), ("q2", "q")] {
        let err = client
            .batch_execute(&format!("SELECT * FROM {view}"))
            .await
            .expect_err("a view in error");
        let db = err.as_db_error().expect("a server error");
        assert_eq!(db.code().code(), "22012");
        assert_eq!(
            db.message(),
            format!("division by zero (in materialized view \"{named}\")")
        );
        // The DETAIL names the input row that fails.
        assert_eq!(db.detail(), Some("Failing input row: (1, 0)."), "{view}");
    }
    let until = |what: &'static str, check: &dyn Fn(&str) -> bool, path: &'static str| {
        let started = std::time::Instant::now();
        loop {
            let body = eddy.http_get(path).expect("GET").body;
            if check(&body) {
                return body;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "{what}: {body}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let health = until(
        "degraded",
        &|b| b.starts_with("degraded") && b.contains("materialized view q2"),
        "/health",
    );
    assert!(
        health.contains("materialized view q: division by zero\n"),
        "{health}"
    );
    assert_eq!(eddy.http_get("/health").expect("health").status, 200);
    until(
        "in error",
        &|b| b.contains("eddy_view_in_error{view=\"q\"} 1"),
        "/metrics",
    );
    let views = common::flat_rows(&client, "SHOW MATERIALIZED VIEWS")
        .await
        .expect("show");
    assert_eq!(
        views,
        [
            "q error: division by zero",
            "q2 error: division by zero (in materialized view \"q\")"
        ]
    );

    client
        .batch_execute("DELETE FROM t WHERE b = 0")
        .await
        .expect("fix the input");
    assert_eq!(
        common::flat_rows(&client, "SELECT n FROM q2")
            .await
            .expect("read"),
        ["1"]
    );
    until("ok again", &|b| b == "ok\n", "/health");
    let views = common::flat_rows(&client, "SHOW MATERIALIZED VIEWS")
        .await
        .expect("show");
    assert_eq!(views, ["q ready", "q2 ready"]);
}

/// The value of the series `name{labels}` in `/metrics`, if it is there.
fn series(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        (series == name_and_labels).then(|| value.parse().expect("a number"))
    })
}

/// Per materialized view: rows, updates, arrangement records and (estimated) bytes,
/// freshness lag; per table: rows, updates, records and bytes. Label values are
/// escaped (a name may hold a double quote).
#[tokio::test]
async fn per_view_and_per_table_series() {
    let eddy = common::start_eddy(2);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE t (a int, b text);
             CREATE MATERIALIZED VIEW \"by \"\"a\"\"\" AS SELECT a, count(*) AS n FROM t GROUP BY a;
             INSERT INTO t VALUES (1, 'x'), (1, 'y'), (2, 'z');",
        )
        .await
        .expect("setup");
    // Not in the INSERT's transaction, where the two would consolidate.
    client
        .batch_execute("UPDATE t SET b = 'w' WHERE a = 2")
        .await
        .expect("update");
    let view = r#"view="by \"a\"""#;
    let started = std::time::Instant::now();
    let metrics = loop {
        let metrics = eddy.http_get("/metrics").expect("GET /metrics").body;
        if series(&metrics, &format!("eddy_view_rows{{{view}}}")) == Some(2.0)
            && series(&metrics, "eddy_table_rows{table=\"t\"}") == Some(3.0)
            // 3 inserts, and the UPDATE's deletion and insertion.
            && series(&metrics, "eddy_table_updates_total{table=\"t\"}") == Some(5.0)
        {
            break metrics;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{metrics}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let value =
        |name: &str| series(&metrics, name).unwrap_or_else(|| panic!("no {name} in\n{metrics}"));
    // One INSERT: +(1, 2) and +(2, 1); the UPDATE of a = 2 keeps its count.
    assert_eq!(value(&format!("eddy_view_updates_total{{{view}}}")), 2.0);
    assert!(value(&format!("eddy_view_arrangement_records{{{view}}}")) > 0.0);
    assert!(value(&format!("eddy_view_arrangement_bytes{{{view}}}")) > 0.0);
    let lag = value(&format!("eddy_view_freshness_lag_ms{{{view}}}"));
    assert!((0.0..10_000.0).contains(&lag), "lag {lag} ms");
    assert!(value("eddy_table_arrangement_records{table=\"t\"}") >= 3.0);
    assert!(value("eddy_table_arrangement_bytes{table=\"t\"}") >= 3.0 * 16.0);
    assert!(metrics.contains("# TYPE eddy_view_rows gauge"));
    assert!(metrics.contains("# TYPE eddy_view_updates_total counter"));
    assert!(metrics.contains("# TYPE eddy_table_updates_total counter"));
}
