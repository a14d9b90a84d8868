//! The status page for people: `GET /` is one self-contained HTML page (no external
//! resource, no framework) listing the materialized views with their state, size and
//! freshness lag, with a plot of the lag over the last minutes per view, the tables and
//! source relations, the sources and the sinks. Its inline script draws the page from
//! the status embedded in it, then polls `GET /status.json` (the same document) every
//! second.
//!
//! Invariants:
//! - Names and error texts reach the page only as JSON data, embedded with `<`, `>`
//!   and `&` escaped (a name holding `</script>` cannot close the script), and the
//!   script puts them into the page as text (`textContent`, attributes), never as
//!   markup.
//! - The freshness history is bounded: at most [`HISTORY_SAMPLES`] samples per view,
//!   one every [`SAMPLE_INTERVAL`], for the views that exist at the last sample.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eddy_coord::metrics::TableKind;
use eddy_coord::timestamp::now_ms;
use eddy_coord::Metrics;
use serde_json::{json, Value};

use crate::http::{Health, MetricsSlot};

/// How often the freshness lag of every view is sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Samples kept per view: the last 5 minutes.
pub const HISTORY_SAMPLES: usize = 300;

/// The page; its script reads the status from the element `#status-data`.
const PAGE: &str = include_str!("status.html");

/// Where the page takes the status embedded in it.
const DATA_MARK: &str = "/*STATUS_JSON*/";

/// The freshness lag of each materialized view over the last minutes:
/// `(wall clock ms, lag ms)` samples, oldest first.
#[derive(Debug, Default)]
pub struct FreshnessHistory {
    views: Mutex<BTreeMap<String, VecDeque<(u64, u64)>>>,
}

impl FreshnessHistory {
    /// Adds a sample of every view's lag at `now_ms`, and forgets the views that are
    /// gone.
    pub fn sample(&self, metrics: &Metrics, now_ms: u64) {
        let lags: BTreeMap<String, Option<u64>> = metrics
            .per_view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(view, m)| (view.clone(), m.lag_ms))
            .collect();
        let mut views = self.views.lock().unwrap_or_else(|p| p.into_inner());
        views.retain(|view, _| lags.contains_key(view));
        for (view, lag) in lags {
            let samples = views.entry(view).or_default();
            if let Some(lag) = lag {
                if samples.len() == HISTORY_SAMPLES {
                    samples.pop_front();
                }
                samples.push_back((now_ms, lag));
            }
        }
    }

    fn of(&self, view: &str) -> Vec<[u64; 2]> {
        self.views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(view)
            .map(|samples| samples.iter().map(|(t, lag)| [*t, *lag]).collect())
            .unwrap_or_default()
    }
}

/// Samples the freshness lag of every view every [`SAMPLE_INTERVAL`], once the
/// coordinator's metrics are there.
pub async fn sample(history: Arc<FreshnessHistory>, metrics: MetricsSlot) {
    let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
    loop {
        tick.tick().await;
        if let Some(metrics) = metrics.get() {
            history.sample(metrics, now_ms());
        }
    }
}

/// The status document (`GET /status.json`).
pub fn status_json(
    health: &Health,
    metrics: Option<&Metrics>,
    history: &FreshnessHistory,
) -> String {
    let (_, health_text) = crate::http::health(health, metrics);
    let mut status = json!({
        "health": health_text.trim_end(),
        "now_ms": now_ms(),
        "history_interval_ms": SAMPLE_INTERVAL.as_millis() as u64,
        "history_samples": HISTORY_SAMPLES,
        "views": [],
        "tables": [],
        "sources": [],
        "sinks": [],
    });
    if let Some(metrics) = metrics {
        status["views"] = views(metrics, history);
        status["tables"] = tables(metrics);
        status["sources"] = sources(metrics);
        status["sinks"] = sinks(metrics);
    }
    status.to_string()
}

fn views(metrics: &Metrics, history: &FreshnessHistory) -> Value {
    let views = metrics.per_view.lock().unwrap_or_else(|p| p.into_inner());
    views
        .iter()
        .map(|(name, m)| {
            let state = match (&m.replay, m.status.is_empty()) {
                (Some((records, secs)), true) => {
                    format!("creating: replaying its inputs, {records} records so far, {secs} s")
                }
                _ => m.status.clone(),
            };
            json!({
                "name": name,
                "state": state,
                "error": m.error,
                "rows": m.rows,
                "records": m.records,
                "bytes": m.bytes,
                "updates": m.updates,
                "lag_ms": m.lag_ms,
                "history": history.of(name),
            })
        })
        .collect()
}

fn tables(metrics: &Metrics) -> Value {
    let tables = metrics.per_table.lock().unwrap_or_else(|p| p.into_inner());
    tables
        .iter()
        .map(|(name, m)| {
            json!({
                "name": name,
                "kind": match m.kind {
                    TableKind::Table => "table",
                    TableKind::Source => "source",
                },
                "rows": m.rows,
                "records": m.records,
                "bytes": m.bytes,
                "updates": m.updates,
            })
        })
        .collect()
}

fn sources(metrics: &Metrics) -> Value {
    let failed = metrics
        .failed_sources
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let sources = metrics.per_source.lock().unwrap_or_else(|p| p.into_inner());
    sources
        .iter()
        .map(|(name, m)| {
            json!({
                "name": name,
                "state": failed.get(name).map_or_else(|| "running".to_string(), |e| format!("error: {e}")),
                "messages": m.messages,
                "bytes": m.bytes,
                "errors": m.errors,
                "late": m.late,
                "lag_messages": (!m.lag.is_empty()).then(|| m.lag.values().sum::<i64>()),
                "lag_bytes": m.lag_bytes,
            })
        })
        .collect()
}

fn sinks(metrics: &Metrics) -> Value {
    let sinks = metrics.per_sink.lock().unwrap_or_else(|p| p.into_inner());
    sinks
        .iter()
        .map(|(name, m)| {
            let state = match (m.up, m.failures) {
                (true, _) => "running".to_string(),
                (false, 0) => "starting".to_string(),
                (false, n) => format!("failed {n} times in a row; starting again"),
            };
            json!({
                "name": name,
                "state": state,
                "messages": m.messages,
                "last_committed_ms": m.last_time,
                "failures": m.failures,
            })
        })
        .collect()
}

/// The page, with `status_json` embedded in it.
pub fn page(status_json: &str) -> String {
    // Inside a string, a JSON `\u003c` is `<`: the document means the same, and no
    // `</script>` (nor `<!--`) can appear in it.
    let embedded = status_json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    PAGE.replacen(DATA_MARK, &embedded, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_close_the_embedded_script() {
        let json = json!({ "name": "</script><script>alert(1)</script>" }).to_string();
        let page = page(&json);
        assert!(!page.contains("alert(1)</script>"), "{page}");
        assert!(page.contains(r"\u003c/script\u003e\u003cscript\u003ealert(1)"));
        assert!(!page.contains(DATA_MARK));
    }

    #[test]
    fn history_is_bounded_and_forgets_dropped_views() {
        let metrics = Metrics::default();
        let history = FreshnessHistory::default();
        let view = eddy_coord::metrics::ViewMetrics {
            lag_ms: Some(5),
            ..Default::default()
        };
        metrics.per_view.lock().unwrap().insert("v".into(), view);
        for t in 0..(HISTORY_SAMPLES as u64 + 10) {
            history.sample(&metrics, t);
        }
        let samples = history.of("v");
        assert_eq!(samples.len(), HISTORY_SAMPLES);
        assert_eq!(samples[0], [10, 5]);
        metrics.per_view.lock().unwrap().clear();
        history.sample(&metrics, 1_000);
        assert!(history.of("v").is_empty());
    }
}
