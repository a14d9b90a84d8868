//! Query results as text, for comparing Eddy with Postgres.
//!
//! Rows come from the simple query protocol, so every value is in Postgres' text output
//! format — which Eddy reproduces exactly — and `None` is SQL NULL. Results are sorted
//! (`None` first, then by text) so that two multisets of rows compare equal exactly when
//! they hold the same rows the same number of times, whatever order they came in.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use tokio_postgres::{Client, SimpleQueryMessage};

/// One row: a text value per column, `None` for NULL.
pub type TextRow = Vec<Option<String>>;

/// The rows of simple-query results (of every statement in them), sorted.
pub fn rows_as_strings(messages: &[SimpleQueryMessage]) -> Vec<TextRow> {
    let mut rows: Vec<TextRow> = messages
        .iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    rows.sort();
    rows
}

/// Runs `sql` with the simple query protocol and returns its rows, sorted.
pub async fn query_rows(client: &Client, sql: &str) -> Result<Vec<TextRow>> {
    let messages = client
        .simple_query(sql)
        .await
        .with_context(|| format!("running {sql}"))?;
    Ok(rows_as_strings(&messages))
}

/// Renders rows one per line, columns separated by ` | `, NULL as `NULL`.
pub fn format_rows(rows: &[TextRow]) -> String {
    rows.iter().map(format_row).collect::<Vec<_>>().join("\n")
}

fn format_row(row: &TextRow) -> String {
    row.iter()
        .map(|value| value.as_deref().unwrap_or("NULL"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `None` when `expected` and `actual` hold the same multiset of rows; otherwise a diff:
/// `- row` for rows missing from `actual` and `+ row` for rows `actual` has too many of,
/// with counts when a row is missing or extra more than once.
pub fn diff_rows(expected: &[TextRow], actual: &[TextRow]) -> Option<String> {
    let mut counts: BTreeMap<&TextRow, i64> = BTreeMap::new();
    for row in expected {
        *counts.entry(row).or_default() += 1;
    }
    for row in actual {
        *counts.entry(row).or_default() -= 1;
    }
    let lines: Vec<String> = counts
        .into_iter()
        .filter(|(_, count)| *count != 0)
        .map(|(row, count)| {
            let sign = if count > 0 { '-' } else { '+' };
            let times = if count.abs() > 1 {
                format!("   (x{})", count.abs())
            } else {
                String::new()
            };
            format!("{sign} {}{times}", format_row(row))
        })
        .collect();
    if lines.is_empty() {
        None
    } else {
        Some(format!(
            "{} expected rows, {} actual rows; - missing from actual, + unexpected in actual:\n{}",
            expected.len(),
            actual.len(),
            lines.join("\n")
        ))
    }
}

/// A text value as an SQL literal: `NULL`, or the text in single quotes with quotes
/// doubled (an untyped literal, which takes the type of the column it is assigned to).
pub fn sql_literal(value: Option<&str>) -> String {
    match value {
        None => "NULL".to_string(),
        Some(text) => format!("'{}'", text.replace('\'', "''")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[Option<&str>]) -> TextRow {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn equal_multisets_have_no_diff() {
        let a = vec![row(&[Some("1"), None]), row(&[Some("2"), Some("x")])];
        let b = vec![row(&[Some("2"), Some("x")]), row(&[Some("1"), None])];
        assert_eq!(diff_rows(&a, &b), None);
    }

    #[test]
    fn duplicates_count() {
        let a = vec![row(&[Some("1")]), row(&[Some("1")])];
        let b = vec![row(&[Some("1")])];
        let diff = diff_rows(&a, &b).expect("differs");
        assert!(diff.contains("- 1"), "{diff}");
        let c = vec![row(&[Some("1")]); 4];
        let diff = diff_rows(&a, &c).expect("differs");
        assert!(diff.contains("+ 1   (x2)"), "{diff}");
    }

    #[test]
    fn null_is_not_the_string_null() {
        let a = vec![row(&[None])];
        let b = vec![row(&[Some("NULL")])];
        assert!(diff_rows(&a, &b).is_some());
    }

    #[test]
    fn literals_are_quoted() {
        assert_eq!(sql_literal(None), "NULL");
        assert_eq!(sql_literal(Some("it's")), "'it''s'");
    }
}
