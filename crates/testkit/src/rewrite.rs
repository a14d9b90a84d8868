//! SQL text rewrites for running Eddy's tests on Postgres.
//!
//! Postgres' materialized views are snapshots refreshed by hand, while Eddy keeps its own
//! up to date. A plain Postgres view is always up to date, so when Postgres stands in for
//! Eddy (as the oracle of `.slt` files), `MATERIALIZED VIEW` in a
//! statement is rewritten to `VIEW`. The rewrite is textual: it also applies inside
//! string literals, which the tests avoid.

/// `MATERIALIZED VIEW` (any case, any whitespace between the words) becomes `VIEW`.
pub fn materialized_as_plain_views(sql: &str) -> String {
    let lower = sql.to_ascii_lowercase();
    let mut out = String::with_capacity(sql.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find("materialized") {
        let at = pos + found;
        let after = at + "materialized".len();
        let rest = &lower[after..];
        let gap = rest.len() - rest.trim_start().len();
        if gap > 0 && rest[gap..].starts_with("view") {
            out.push_str(&sql[pos..at]);
            pos = after + gap;
        } else {
            out.push_str(&sql[pos..after]);
            pos = after;
        }
    }
    out.push_str(&sql[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::materialized_as_plain_views as rewrite;

    #[test]
    fn rewrites_materialized_view() {
        assert_eq!(
            rewrite("CREATE MATERIALIZED VIEW v AS SELECT 1"),
            "CREATE VIEW v AS SELECT 1"
        );
        assert_eq!(rewrite("drop materialized\n view v"), "drop view v");
        assert_eq!(
            rewrite("SELECT 'materialized' AS m"),
            "SELECT 'materialized' AS m"
        );
        assert_eq!(rewrite("SHOW MATERIALIZED VIEWS"), "SHOW VIEWS");
    }
}
