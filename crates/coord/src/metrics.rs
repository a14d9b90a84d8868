//! Counters the server exposes at `GET /metrics` in Prometheus text format.
//!
//! The coordinator publishes the per-collection figures every second (tables, sources
//! and materialized views, from what the compute workers last published, every
//! 200 ms); the status page (`GET /`) reads the same figures.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (in microseconds) of the statement latency histogram buckets.
const LATENCY_BUCKETS_US: &[u64] = &[
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
    5_000_000,
];

#[derive(Debug, Default)]
pub struct Metrics {
    pub rows_ingested: AtomicU64,
    pub write_statements: AtomicU64,
    pub peeks: AtomicU64,
    /// Rows reads have visited in arrangements (the compute workers' live counter): a
    /// read through an index adds the rows of its range, a scan every row.
    pub peek_rows_scanned: std::sync::Arc<AtomicU64>,
    pub tables: AtomicU64,
    pub views: AtomicU64,
    pub materialized_views: AtomicU64,
    pub sources: AtomicU64,
    pub sessions: AtomicU64,
    /// Running subscriptions (`SUBSCRIBE`).
    pub subscribes: AtomicU64,
    /// New versions of views being built beside the serving ones (blue/green), not yet
    /// swapped in.
    pub versions_building: AtomicU64,
    /// Swaps built and waiting for `APPLY COMMIT` or `APPLY ABORT`.
    pub swaps_held: AtomicU64,
    pub errors: AtomicU64,
    /// Messages sources could not read (skipped, recorded in the log).
    pub source_errors: AtomicU64,
    latency_buckets: [AtomicU64; 13],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    /// Per source (by name): what it has read, and how far behind the topic it is.
    pub per_source: std::sync::Mutex<std::collections::BTreeMap<String, SourceMetrics>>,
    /// Per sink (by name): what it has written, and how far it has got.
    pub per_sink: std::sync::Mutex<std::collections::BTreeMap<String, SinkMetrics>>,
    /// Per materialized view (by name): its arrangements, and a new version's replay.
    pub per_view: std::sync::Mutex<std::collections::BTreeMap<String, ViewMetrics>>,
    /// Per table and per source relation (by name): its rows and arrangements.
    pub per_table: std::sync::Mutex<std::collections::BTreeMap<String, TableMetrics>>,
    /// Sources that stopped with an error (by name), for `/health`.
    pub failed_sources: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

/// `value` as a Prometheus label value: backslash, double quote and newline escaped.
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One per-view series: name, help, kind and the figure it shows (none: no sample).
type ViewSeries = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ViewMetrics) -> Option<i64>,
);

/// Bytes an update takes in an arrangement beside its row: its time and its diff.
const UPDATE_OVERHEAD_BYTES: i64 = 16;

/// An estimate of the bytes `records` updates of a collection take in arrangements:
/// each is an average row of the collection (the net encoded bytes of its rows over
/// their number) plus [`UPDATE_OVERHEAD_BYTES`]. It counts neither the spare capacity
/// of the arrangements' buffers nor that their intermediate arrangements (a join's
/// inputs, a reduction's) may hold rows wider or narrower than the output's.
pub fn estimate_arrangement_bytes(records: i64, rows: i64, row_bytes: i64) -> i64 {
    let average_row = if rows > 0 { row_bytes / rows } else { 0 };
    records.max(0) * (average_row.max(0) + UPDATE_OVERHEAD_BYTES)
}

/// The figures `/metrics` shows for one materialized view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewMetrics {
    /// What `SHOW MATERIALIZED VIEWS` says of it: `ready`, `error: ...`,
    /// `replacing: ...` (empty for a new version that is not in the catalog yet).
    pub status: String,
    /// Records its arrangements hold over all workers (unknown until they report).
    pub records: Option<i64>,
    /// An estimate of the bytes they take ([`estimate_arrangement_bytes`]).
    pub bytes: Option<i64>,
    /// Rows in it (the sum of its output's diffs).
    pub rows: Option<i64>,
    /// Updates its output has carried since its dataflow was built.
    pub updates: Option<u64>,
    /// Milliseconds between the wall clock and its output's frontier: how far behind
    /// the live time its contents are (a view that keeps up shows about the 1 s at
    /// which times close when nothing is written, plus up to 0.2 s of reporting).
    pub lag_ms: Option<u64>,
    /// A new version replaying its inputs beside it: the records its arrangements
    /// hold so far, and the seconds since it started.
    pub replay: Option<(i64, u64)>,
    /// The error reading it fails with, if any.
    pub error: Option<String>,
}

/// What kind of relation a [`TableMetrics`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// A table written with INSERT, UPDATE, DELETE and COPY.
    Table,
    /// A relation a source writes: a Kafka stream or table, a Postgres source's table.
    Source,
}

/// The figures `/metrics` shows for one table or source relation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableMetrics {
    pub kind: TableKind,
    /// Rows in it (the sum of its diffs).
    pub rows: i64,
    /// Updates written to it since the server started.
    pub updates: u64,
    /// Records its arrangement holds over all workers.
    pub records: i64,
    /// An estimate of the bytes they take ([`estimate_arrangement_bytes`]).
    pub bytes: i64,
}

/// One per-source series: name, help, kind and the figure it shows.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&SourceMetrics) -> u64,
);

/// The figures `/metrics` shows for one source.
#[derive(Clone, Debug, Default)]
pub struct SourceMetrics {
    pub messages: u64,
    pub bytes: u64,
    pub errors: u64,
    /// Of `errors`, events that came after the stream's watermark (not applied).
    pub late: u64,
    /// Partition → messages the broker holds that are not applied yet.
    pub lag: std::collections::BTreeMap<i32, i64>,
    /// For a Postgres source: WAL bytes upstream past what it has applied.
    pub lag_bytes: Option<u64>,
    /// Batches logged since the source started, each at a time of its own.
    pub writes: u64,
}

/// The figures `/metrics` shows for one sink.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkMetrics {
    /// Messages committed to the topic (since the server started).
    pub messages: u64,
    /// The last Eddy timestamp committed (milliseconds since the epoch), if any.
    pub last_time: Option<u64>,
    /// Whether it is running (not starting, not failed and waiting to start again).
    pub up: bool,
    /// Failures in a row, after each of which it was started again.
    pub failures: u64,
}

impl Metrics {
    /// Metrics that publish `peek_rows_scanned`, the compute workers' live counter.
    pub fn new(peek_rows_scanned: std::sync::Arc<AtomicU64>) -> Metrics {
        Metrics {
            peek_rows_scanned,
            ..Metrics::default()
        }
    }

    /// Records one statement's latency.
    pub fn observe_latency_us(&self, us: u64) {
        for (i, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
            if us <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// What is wrong while the server serves: the materialized views in error and the
    /// sources that failed, one line each (empty when all is well).
    pub fn degraded(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .per_view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|(view, m)| {
                Some(format!("materialized view {view}: {}", m.error.as_ref()?))
            })
            .collect();
        out.extend(
            self.failed_sources
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(source, error)| format!("source {source}: {error}")),
        );
        out
    }

    /// Prometheus exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, kind: &str, v: &AtomicU64| {
            writeln!(out, "# HELP {name} {help}").unwrap();
            writeln!(out, "# TYPE {name} {kind}").unwrap();
            writeln!(out, "{name} {}", v.load(Ordering::Relaxed)).unwrap();
        };
        counter(
            &mut out,
            "eddy_rows_ingested_total",
            "Table rows written (inserted, updated or deleted).",
            "counter",
            &self.rows_ingested,
        );
        counter(
            &mut out,
            "eddy_write_statements_total",
            "Committed write statements and transactions.",
            "counter",
            &self.write_statements,
        );
        counter(
            &mut out,
            "eddy_peeks_total",
            "Reads of arrangements (SELECTs).",
            "counter",
            &self.peeks,
        );
        counter(
            &mut out,
            "eddy_peek_rows_scanned_total",
            "Rows reads visited in arrangements (a read through an index visits its range).",
            "counter",
            &self.peek_rows_scanned,
        );
        counter(
            &mut out,
            "eddy_errors_total",
            "Statements that returned an error.",
            "counter",
            &self.errors,
        );
        counter(
            &mut out,
            "eddy_source_errors_total",
            "Messages that sources could not read (skipped and recorded).",
            "counter",
            &self.source_errors,
        );
        counter(
            &mut out,
            "eddy_sources",
            "Sources: streams and tables read from Kafka topics, and Postgres sources.",
            "gauge",
            &self.sources,
        );
        counter(
            &mut out,
            "eddy_tables",
            "Tables in the catalog.",
            "gauge",
            &self.tables,
        );
        counter(
            &mut out,
            "eddy_views",
            "Views in the catalog.",
            "gauge",
            &self.views,
        );
        counter(
            &mut out,
            "eddy_materialized_views",
            "Materialized views in the catalog.",
            "gauge",
            &self.materialized_views,
        );
        counter(
            &mut out,
            "eddy_sessions",
            "Open client sessions.",
            "gauge",
            &self.sessions,
        );
        counter(
            &mut out,
            "eddy_subscribes",
            "Running subscriptions (SUBSCRIBE).",
            "gauge",
            &self.subscribes,
        );
        counter(
            &mut out,
            "eddy_view_versions_building",
            "New versions of views being built beside the serving ones, not swapped in yet.",
            "gauge",
            &self.versions_building,
        );
        counter(
            &mut out,
            "eddy_view_swaps_held",
            "Swaps built and waiting for APPLY COMMIT or APPLY ABORT.",
            "gauge",
            &self.swaps_held,
        );
        let name = "eddy_statement_latency_seconds";
        writeln!(
            out,
            "# HELP {name} Time from a statement's arrival to its answer."
        )
        .unwrap();
        writeln!(out, "# TYPE {name} histogram").unwrap();
        for (i, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
            let le = *bound as f64 / 1e6;
            writeln!(
                out,
                "{name}_bucket{{le=\"{le}\"}} {}",
                self.latency_buckets[i].load(Ordering::Relaxed)
            )
            .unwrap();
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}").unwrap();
        let sum = self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        writeln!(out, "{name}_sum {sum}").unwrap();
        writeln!(out, "{name}_count {count}").unwrap();
        self.render_sources(&mut out);
        self.render_sinks(&mut out);
        self.render_views(&mut out);
        self.render_tables(&mut out);
        out
    }

    /// The per-table and per-source-relation series: rows, updates, and their
    /// arrangement's records and bytes.
    fn render_tables(&self, out: &mut String) {
        let tables = self
            .per_table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        type TableSeries = (
            &'static str,
            &'static str,
            &'static str,
            fn(&TableMetrics) -> i64,
        );
        let series: [TableSeries; 4] = [
            ("rows", "Rows in {a}.", "gauge", |m| m.rows),
            (
                "updates_total",
                "Updates (inserted or deleted rows) written to {a} since the server started, recovered rows included.",
                "counter",
                |m| m.updates as i64,
            ),
            (
                "arrangement_records",
                "Records the arrangement of {a} holds, over all workers.",
                "gauge",
                |m| m.records,
            ),
            (
                "arrangement_bytes",
                "Estimated bytes the arrangement of {a} holds: records times (average row bytes + 16).",
                "gauge",
                |m| m.bytes,
            ),
        ];
        for (kind, label, a) in [
            (TableKind::Table, "table", "a table"),
            (TableKind::Source, "source", "a relation a source writes"),
        ] {
            for (suffix, help, type_, value) in series {
                let name = format!("eddy_{label}_{suffix}");
                writeln!(out, "# HELP {name} {}", help.replace("{a}", a)).unwrap();
                writeln!(out, "# TYPE {name} {type_}").unwrap();
                for (table, m) in tables.iter().filter(|(_, m)| m.kind == kind) {
                    let table = label_value(table);
                    writeln!(out, "{name}{{{label}=\"{table}\"}} {}", value(m)).unwrap();
                }
            }
        }
    }

    /// The per-sink series: messages written, the last time committed, whether it runs.
    fn render_sinks(&self, out: &mut String) {
        let sinks = self
            .per_sink
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        type SinkSeries = (
            &'static str,
            &'static str,
            &'static str,
            fn(&SinkMetrics) -> Option<u64>,
        );
        let series: [SinkSeries; 4] = [
            (
                "eddy_sink_messages_total",
                "Messages a sink has committed to its topic.",
                "counter",
                |m| Some(m.messages),
            ),
            (
                "eddy_sink_last_committed_timestamp_ms",
                "The last Eddy timestamp (ms since the epoch) a sink has committed to its topic.",
                "gauge",
                |m| m.last_time,
            ),
            (
                "eddy_sink_up",
                "1 while a sink runs; 0 while it starts or waits to start again after a failure.",
                "gauge",
                |m| Some(u64::from(m.up)),
            ),
            (
                "eddy_sink_failures",
                "Failures in a row of a sink (0 once it runs again).",
                "gauge",
                |m| Some(m.failures),
            ),
        ];
        for (name, help, kind, value) in series {
            writeln!(out, "# HELP {name} {help}").unwrap();
            writeln!(out, "# TYPE {name} {kind}").unwrap();
            for (sink, m) in sinks.iter() {
                let sink = label_value(sink);
                if let Some(v) = value(m) {
                    writeln!(out, "{name}{{sink=\"{sink}\"}} {v}").unwrap();
                }
            }
        }
    }

    /// The per-view series: records held, and the replay of a new version.
    fn render_views(&self, out: &mut String) {
        let views = self
            .per_view
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let series: [ViewSeries; 8] = [
            (
                "eddy_view_arrangement_records",
                "Records a materialized view's arrangements hold, over all workers.",
                "gauge",
                |m| m.records,
            ),
            (
                "eddy_view_arrangement_bytes",
                "Estimated bytes a materialized view's arrangements hold: records times (average output row bytes + 16).",
                "gauge",
                |m| m.bytes,
            ),
            (
                "eddy_view_rows",
                "Rows in a materialized view.",
                "gauge",
                |m| m.rows,
            ),
            (
                "eddy_view_updates_total",
                "Updates (inserted or deleted rows) a materialized view's output has carried since its dataflow was built.",
                "counter",
                |m| m.updates.map(|n| n as i64),
            ),
            (
                "eddy_view_freshness_lag_ms",
                "Milliseconds between the wall clock and a materialized view's output frontier.",
                "gauge",
                |m| m.lag_ms.map(|ms| ms as i64),
            ),
            (
                "eddy_view_replay_records",
                "Records the arrangements of a new version being built hold so far.",
                "gauge",
                |m| m.replay.map(|(records, _)| records),
            ),
            (
                "eddy_view_replay_seconds",
                "Seconds a new version of a view has been replaying its inputs.",
                "gauge",
                |m| m.replay.map(|(_, secs)| secs as i64),
            ),
            (
                "eddy_view_in_error",
                "1 while reading a materialized view fails with an error its input causes.",
                "gauge",
                |m| Some(i64::from(m.error.is_some())),
            ),
        ];
        for (name, help, kind, value) in series {
            writeln!(out, "# HELP {name} {help}").unwrap();
            writeln!(out, "# TYPE {name} {kind}").unwrap();
            for (view, m) in views.iter() {
                let view = label_value(view);
                if let Some(v) = value(m) {
                    writeln!(out, "{name}{{view=\"{view}\"}} {v}").unwrap();
                }
            }
        }
    }

    /// The per-source series: messages, bytes and errors read, and lag per partition.
    fn render_sources(&self, out: &mut String) {
        let sources = self
            .per_source
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let series: [Series; 5] = [
            (
                "eddy_source_messages_total",
                "Messages a source has read from its topic.",
                "counter",
                |m| m.messages,
            ),
            (
                "eddy_source_bytes_total",
                "Bytes of the messages a source has read.",
                "counter",
                |m| m.bytes,
            ),
            (
                "eddy_source_message_errors_total",
                "Messages a source could not read.",
                "counter",
                |m| m.errors,
            ),
            (
                "eddy_source_late_messages_total",
                "Events a stream did not apply because they came after its watermark.",
                "counter",
                |m| m.late,
            ),
            (
                "eddy_source_writes_total",
                "Batches a source has logged since the server started, each at a timestamp of its own.",
                "counter",
                |m| m.writes,
            ),
        ];
        for (name, help, kind, value) in series {
            writeln!(out, "# HELP {name} {help}").unwrap();
            writeln!(out, "# TYPE {name} {kind}").unwrap();
            for (source, m) in sources.iter() {
                let source = label_value(source);
                writeln!(out, "{name}{{source=\"{source}\"}} {}", value(m)).unwrap();
            }
        }
        let name = "eddy_source_lag_bytes";
        writeln!(
            out,
            "# HELP {name} WAL bytes upstream that a Postgres source has not applied yet."
        )
        .unwrap();
        writeln!(out, "# TYPE {name} gauge").unwrap();
        for (source, m) in sources.iter() {
            let source = label_value(source);
            if let Some(lag) = m.lag_bytes {
                writeln!(out, "{name}{{source=\"{source}\"}} {lag}").unwrap();
            }
        }
        let name = "eddy_source_lag_messages";
        writeln!(
            out,
            "# HELP {name} Messages the broker holds that a source has not applied yet."
        )
        .unwrap();
        writeln!(out, "# TYPE {name} gauge").unwrap();
        for (source, m) in sources.iter() {
            let source = label_value(source);
            for (partition, lag) in &m.lag {
                writeln!(
                    out,
                    "{name}{{source=\"{source}\",partition=\"{partition}\"}} {lag}"
                )
                .unwrap();
            }
        }
    }
}
