//! SHOW TABLES | VIEWS | MATERIALIZED VIEWS, SHOW COLUMNS, SHOW name and SET.
//!
//! Invariants:
//! - Every answer has exactly the columns the planner describes for it
//!   (`eddy_sql::show_*_desc`), so Describe and Execute agree.
//! - SET changes only the session's own variables, and only names Postgres clients
//!   expect (`session.rs`); read-only ones are refused with 55P02, unknown ones with
//!   42704, as in Postgres.

use eddy_connect::{SinkState, SourceState};
use eddy_repr::{Datum, GlobalId, Row, SqlError, SqlState};
use eddy_sql::{
    show_columns_desc, show_objects_desc, show_sinks_desc, show_sources_desc, show_variable_desc,
    ItemKind, ObjectKind,
};

use super::tag;
use crate::command::ExecuteResponse;
use crate::coord::Coordinator;
use crate::session::{DEFAULT_VARS, READ_ONLY_VARS};

fn unrecognized(name: &str) -> SqlError {
    SqlError::new(
        SqlState::UNDEFINED_OBJECT,
        format!("unrecognized configuration parameter \"{name}\""),
    )
}

fn text(s: impl Into<String>) -> Datum {
    Datum::String(s.into())
}

/// A stream's watermark (microseconds since the epoch) as SHOW SOURCES shows it: a
/// `timestamp` in UTC, NULL when there is none.
fn watermark_datum(watermark_us: Option<i64>) -> Datum {
    watermark_us
        .and_then(chrono::DateTime::from_timestamp_micros)
        .map_or(Datum::Null, |ts| Datum::Timestamp(ts.naive_utc()))
}

/// A row of `SHOW TABLES | VIEWS | MATERIALIZED VIEWS` (see `show_objects_desc`).
fn object_row(kind: ObjectKind, name: String, status: String) -> Row {
    if kind == ObjectKind::Tables {
        Row::pack(&[text(name)])
    } else {
        Row::pack(&[text(name), text(status)])
    }
}

impl Coordinator {
    pub(super) fn show_objects(&self, kind: ObjectKind) -> ExecuteResponse {
        let want = match kind {
            ObjectKind::Tables => ItemKind::Table,
            ObjectKind::Views => ItemKind::View,
            ObjectKind::MaterializedViews => ItemKind::MaterializedView,
        };
        // A table read from Kafka is a table to its users (as in ksqlDB), and so is a
        // table of a Postgres source.
        let kafka_table = |e: &crate::catalog::CatalogEntry| {
            want == ItemKind::Table
                && (e.source.as_ref().is_some_and(|s| !s.stream) || e.upstream.is_some())
        };
        // Outside `public`, names are qualified (`shop.orders`).
        let mut rows: Vec<(String, Row)> = self
            .catalog
            .entries()
            .filter(|e| e.kind == want || kafka_table(e))
            .map(|e| {
                let name = e.qualified_name();
                let status = self.view_status(e);
                (name.clone(), object_row(kind, name, status))
            })
            .collect();
        // Views not in the catalog yet: being built, or in files that failed to apply.
        if kind != ObjectKind::Tables {
            for (name, status) in self.views_to_come(want) {
                rows.push((name.clone(), object_row(kind, name, status)));
            }
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        ExecuteResponse::Rows {
            desc: show_objects_desc(kind),
            rows: rows.into_iter().map(|(_, row)| row).collect(),
        }
    }

    pub(super) fn show_sources(&self) -> ExecuteResponse {
        let mut rows = Vec::new();
        let mut entries: Vec<_> = self
            .catalog
            .entries()
            .filter(|e| {
                (e.kind == ItemKind::Source && e.source.is_some()) || e.kind == ItemKind::PgSource
            })
            .collect();
        entries.sort_by_key(|e| e.qualified_name());
        for entry in entries {
            if entry.kind == ItemKind::PgSource {
                rows.push(self.pg_source_row(entry));
                continue;
            }
            let options = entry.source.as_ref();
            let kind = match options {
                Some(o) if o.stream => "stream",
                _ => "table",
            };
            let topic = options
                .and_then(|o| {
                    o.options
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("kafka_topic"))
                })
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let progress = self
                .sources
                .progress
                .get(&entry.id)
                .cloned()
                .unwrap_or_default();
            let (state, messages, errors, late, lag) = match self.sources.running.get(&entry.id) {
                Some(running) => {
                    let status = running.status();
                    let state = match &status.state {
                        SourceState::Starting => "starting".to_string(),
                        SourceState::Running => "running".to_string(),
                        SourceState::Retrying { last_error, .. } => {
                            format!("retrying: {last_error}")
                        }
                        SourceState::Failed { error } => format!("failed: {error}"),
                        SourceState::Stopped => "stopped".to_string(),
                    };
                    let lag = (!status.high_watermarks.is_empty())
                        .then(|| status.lag(&progress).values().sum::<i64>());
                    let figures = (
                        status.messages_total,
                        status.errors_total,
                        status.late_total,
                    );
                    (state, figures.0, figures.1, figures.2, lag)
                }
                None => ("not started".to_string(), 0, 0, 0, None),
            };
            let offsets = self
                .sources
                .progress
                .get(&entry.id)
                .map(|p| {
                    p.iter()
                        .map(|(partition, offset)| format!("{partition}:{offset}"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            rows.push(Row::pack(&[
                text(entry.qualified_name()),
                text(kind),
                text(topic),
                text(state),
                text(offsets),
                Datum::Int64(messages as i64),
                Datum::Int64(errors as i64),
                lag.map(Datum::Int64).unwrap_or(Datum::Null),
                Datum::Null,
                Datum::Int64(late as i64),
                watermark_datum(self.sources.watermarks.get(&entry.id).copied()),
            ]));
        }
        ExecuteResponse::Rows {
            desc: show_sources_desc(),
            rows,
        }
    }

    pub(super) fn show_sinks(&self) -> ExecuteResponse {
        let mut entries: Vec<_> = self
            .catalog
            .entries()
            .filter(|e| e.kind == ItemKind::Sink)
            .collect();
        entries.sort_by_key(|e| e.qualified_name());
        let mut rows = Vec::new();
        for entry in entries {
            let relation = entry
                .depends_on
                .iter()
                .filter_map(|id| self.catalog.get(*id))
                .map(|e| e.qualified_name())
                .collect::<Vec<_>>()
                .join(",");
            let spec = crate::sinks::sink_spec(entry, self.kafka_brokers.as_deref()).ok();
            let topic = spec.as_ref().map(|s| s.topic.clone()).unwrap_or_default();
            let envelope = spec.as_ref().map_or("", |s| s.envelope.name());
            let (state, last_time, messages) = match self.sinks.running.get(&entry.id) {
                Some(running) => {
                    let status = running.status();
                    let state = match status.state {
                        SinkState::Failed { error } if running.is_retrying() => {
                            format!("retrying: {error}")
                        }
                        other => other.to_string(),
                    };
                    (state, status.last_time, status.messages_total)
                }
                None => ("not started".to_string(), None, 0),
            };
            rows.push(Row::pack(&[
                text(entry.qualified_name()),
                text(relation),
                text(topic),
                text(envelope),
                text(state),
                last_time.map_or(Datum::Null, |t| {
                    Datum::Int64(i64::try_from(t).unwrap_or(i64::MAX))
                }),
                Datum::Int64(messages as i64),
            ]));
        }
        ExecuteResponse::Rows {
            desc: show_sinks_desc(),
            rows,
        }
    }

    pub(super) fn show_columns(&self, id: GlobalId) -> Result<ExecuteResponse, SqlError> {
        let entry = self
            .catalog
            .get(id)
            .ok_or_else(|| SqlError::internal("unknown relation"))?;
        let rows = entry
            .desc
            .iter()
            .map(|(n, t)| {
                Row::pack(&[
                    text(n.as_str()),
                    Datum::Bool(t.nullable),
                    text(t.scalar_type.sql_name()),
                ])
            })
            .collect();
        Ok(ExecuteResponse::Rows {
            desc: show_columns_desc(),
            rows,
        })
    }

    /// `SHOW name`, or `SHOW ALL` (every variable, with an empty description).
    pub(super) fn show_variable(
        &self,
        session_id: u64,
        name: &str,
    ) -> Result<ExecuteResponse, SqlError> {
        let vars = &self.sessions[&session_id].vars;
        let name = name.to_lowercase();
        let rows = if name == "all" {
            vars.iter()
                .map(|(k, v)| Row::pack(&[text(k.as_str()), text(v.as_str()), text("")]))
                .collect()
        } else {
            let value = vars.get(&name).ok_or_else(|| unrecognized(&name))?;
            vec![Row::pack(&[text(value.as_str())])]
        };
        Ok(ExecuteResponse::Rows {
            desc: show_variable_desc(&name),
            rows,
        })
    }

    /// `SET name = value`, `SET name TO DEFAULT` and `RESET name` (`value` is `None`).
    pub(crate) fn set_variable(
        &mut self,
        session_id: u64,
        name: &str,
        value: Option<String>,
    ) -> Result<ExecuteResponse, SqlError> {
        let name = match name.to_lowercase() {
            n if n == "time zone" => "timezone".to_string(),
            n => n,
        };
        if READ_ONLY_VARS.contains(&name.as_str()) {
            return Err(SqlError::new(
                SqlState::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{name}\" cannot be changed"),
            ));
        }
        let Some((_, default)) = DEFAULT_VARS.iter().find(|(k, _)| *k == name) else {
            return Err(unrecognized(&name));
        };
        let value = value.unwrap_or_else(|| {
            let session = self.session_mut(session_id);
            session
                .startup_vars
                .get(&name)
                .cloned()
                .unwrap_or_else(|| default.to_string())
        });
        if name == "statement_timeout" && crate::cancel::parse_timeout(&value).is_none() {
            return Err(SqlError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("invalid value for parameter \"{name}\": \"{value}\""),
            )
            .with_hint("Valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\"."));
        }
        if name == eddy_sql::MAX_RECURSION_VAR {
            eddy_sql::parse_max_recursion(&value)?;
        }
        let value = if name == "timezone" {
            timezone_setting(&value)?
        } else {
            value
        };
        std::sync::Arc::make_mut(&mut self.session_mut(session_id).vars).insert(name, value);
        tag("SET")
    }
}

/// A `TimeZone` value as the session keeps and `SHOW` prints it (Postgres' spelling:
/// `Europe/Berlin` for `europe/berlin`, `<+02>-02` for `2`), or Postgres' 22023 for a
/// zone it does not know.
pub(crate) fn timezone_setting(value: &str) -> Result<String, SqlError> {
    eddy_repr::zone::TimeZone::from_setting(value)
        .map(|(_, shown)| shown)
        .ok_or_else(|| {
            SqlError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("invalid value for parameter \"TimeZone\": \"{value}\""),
            )
        })
}
