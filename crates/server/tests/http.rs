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
