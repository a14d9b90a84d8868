//! Oracle test: Eddy's materialized views against Postgres computing them from scratch.
//!
//! A private Postgres and an Eddy server (with 1, 2 and 4 workers, one test each) get
//! the same tables and the same seeded random workload of INSERT / UPDATE / DELETE
//! batches (with NULLs and duplicate rows; some batches inside BEGIN ... COMMIT). Eddy
//! holds every view as a MATERIALIZED VIEW; Postgres holds the same names as plain views
//! (so views over views resolve); a view in Eddy's own syntax (`SESSION`) is given to
//! Postgres as the same relation in Postgres' SQL. After every batch, each view's contents on Eddy
//! (`SELECT * FROM v`) must equal Postgres running the view's defining query, compared as
//! sorted rows in text format; the tables themselves are compared too.
//!
//! On a mismatch the test fails with the seed, the batch, the view, its definition, the
//! batch's statements and a row diff. Environment:
//! - `ORACLE_SEED=<u64>` reproduces a run (the seed is printed at the start and in every
//!   failure);
//! - `ORACLE_BATCHES=<n>` changes the number of batches (default 15);
//! - `ORACLE_EDDY_IS_POSTGRES=1` replaces Eddy by a second private Postgres holding the
//!   views as plain views: a self-check of this test's framework;
//! - `EDDY_TEST_BINARY` runs another server binary (see `common/mod.rs`).

mod common;

use std::fmt::Write as _;

use eddy_testkit::{diff_rows, query_rows, Eddy, Postgres, TextRow};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio_postgres::Client;

const DEFAULT_BATCHES: usize = 15;
/// Diff lines shown per view in a failure report.
const DIFF_LINES_MAX: usize = 40;
/// Characters of each statement shown in a failure report (the seed reproduces them all).
const STATEMENT_CHARS_MAX: usize = 400;

const TABLES: &[(&str, &str)] = &[
    ("customers", "CREATE TABLE customers (id bigint, name text, region text)"),
    (
        "orders",
        "CREATE TABLE orders (id bigint, customer_id bigint, amount numeric(10,2), status text, ts timestamp)",
    ),
    ("items", "CREATE TABLE items (order_id bigint, sku text, qty integer, price numeric(8,2))"),
];

/// A view under test: its name, its defining query, and whether it is created only after
/// the first batches (so that it starts from existing data rather than from empty
/// tables). Views used by other views come first. `eddy_query`, when set, is what Eddy
/// runs instead of `query` (Eddy's own syntax, such as `SESSION`; `query` is then the
/// same relation in Postgres' SQL).
struct ViewDef {
    name: &'static str,
    query: &'static str,
    late: bool,
    eddy_query: Option<&'static str>,
}

const fn view(name: &'static str, query: &'static str) -> ViewDef {
    ViewDef {
        name,
        query,
        late: false,
        eddy_query: None,
    }
}

const fn late_view(name: &'static str, query: &'static str) -> ViewDef {
    ViewDef {
        name,
        query,
        late: true,
        eddy_query: None,
    }
}

/// A view Eddy defines with `eddy_query` and Postgres with `query`.
const fn eddy_view(
    name: &'static str,
    eddy_query: &'static str,
    query: &'static str,
    late: bool,
) -> ViewDef {
    ViewDef {
        name,
        query,
        late,
        eddy_query: Some(eddy_query),
    }
}

/// Sessions of each customer's orders with a 30-day gap, in Postgres' SQL: a session
/// opens where `ts - lag(ts)` reaches the gap; a running count numbers them (peers share
/// it: the default frame).
macro_rules! sessions_by_lag {
    ($cols:literal, $agg:literal) => {
        concat!(
            "SELECT ", $cols, " FROM (SELECT customer_id, id, ts, amount, \
             min(ts) OVER s AS window_start, max(ts) OVER s + INTERVAL '30 days' AS window_end \
             FROM (SELECT *, sum(opens) OVER (PARTITION BY customer_id ORDER BY ts) AS session \
             FROM (SELECT customer_id, id, ts, amount, CASE WHEN ts < lag(ts) OVER (PARTITION BY customer_id ORDER BY ts) \
             + INTERVAL '30 days' THEN 0 ELSE 1 END AS opens FROM orders WHERE ts IS NOT NULL) m) n \
             WINDOW s AS (PARTITION BY customer_id, session)) w", $agg
        )
    };
}

const VIEWS: &[ViewDef] = &[
    // projection and filters
    view("v_open", "SELECT id, customer_id, amount FROM orders WHERE status = 'open'"),
    view(
        "v_range",
        "SELECT id, amount, ts FROM orders WHERE amount >= 100 AND amount <= 500 AND ts >= '2024-03-01'",
    ),
    late_view("v_nulls", "SELECT id, status FROM orders WHERE customer_id IS NULL OR amount IS NULL"),
    // scalar functions, arithmetic, CASE / COALESCE / NULLIF, booleans, dates
    view(
        "v_text",
        "SELECT id, upper(status) AS up, length(coalesce(status, '')) AS len, \
         substring(coalesce(status, '') FROM 1 FOR 3) AS pre, \
         lower(coalesce(status, 'NONE')) || '#' || id::text AS tag, \
         trim('  ' || coalesce(status, '?') || ' ') AS trimmed FROM orders",
    ),
    view(
        "v_arith",
        "SELECT id, amount * 2 AS dbl, amount - 10.5 AS less, id % 7 AS bucket, customer_id * 100 + id AS code, -amount AS neg \
         FROM orders",
    ),
    view(
        "v_case",
        "SELECT id, CASE WHEN amount IS NULL THEN 'none' WHEN amount < 100 THEN 'small' \
         WHEN amount < 1000 THEN 'medium' ELSE 'large' END AS size, \
         coalesce(status, 'unknown') AS st, nullif(status, 'open') AS not_open FROM orders",
    ),
    late_view(
        "v_bool",
        "SELECT id, amount > 500 AS big, status IN ('open', 'paid') AS active, customer_id IS NULL AS anon FROM orders",
    ),
    view(
        "v_dates",
        "SELECT id, date_trunc('month', ts) AS month, date_trunc('hour', ts) AS hour, extract(dow FROM ts) AS dow \
         FROM orders WHERE ts IS NOT NULL",
    ),
    view(
        "v_item_value",
        "SELECT order_id, sku, qty * price AS value, price / nullif(qty, 0) AS unit FROM items",
    ),
    // joins
    view(
        "v_join2",
        "SELECT o.id, o.amount, o.status, c.name, c.region FROM orders o JOIN customers c ON o.customer_id = c.id",
    ),
    view(
        "v_join3",
        "SELECT o.id, c.name, i.sku, i.qty FROM orders o JOIN customers c ON o.customer_id = c.id \
         JOIN items i ON i.order_id = o.id",
    ),
    late_view(
        "v_self_join",
        "SELECT a.id, b.id AS other FROM orders a JOIN orders b ON a.customer_id = b.customer_id \
         WHERE a.status = 'open' AND b.status = 'paid' AND a.id < b.id",
    ),
    view(
        "v_left",
        "SELECT c.id, c.name, o.id AS order_id, o.amount FROM customers c LEFT JOIN orders o ON o.customer_id = c.id",
    ),
    view(
        "v_left_items",
        "SELECT o.id, o.status, i.sku, i.qty FROM orders o LEFT JOIN items i ON i.order_id = o.id AND i.qty > 2",
    ),
    // aggregates
    view(
        "v_count",
        "SELECT status, count(*) AS n, count(amount) AS n_amount, count(customer_id) AS n_customer \
         FROM orders GROUP BY status",
    ),
    view(
        "v_sum_min_max",
        "SELECT customer_id, sum(amount) AS total, min(amount) AS lo, max(amount) AS hi, \
         min(ts) AS first_ts, max(ts) AS last_ts FROM orders GROUP BY customer_id",
    ),
    view("v_avg", "SELECT status, avg(amount) AS mean, avg(customer_id) AS mean_customer FROM orders GROUP BY status"),
    view(
        "v_having",
        "SELECT customer_id, count(*) AS n, sum(amount) AS total FROM orders GROUP BY customer_id \
         HAVING count(*) > 3 AND sum(amount) > 500",
    ),
    late_view("v_names", "SELECT region, min(name) AS first_name, max(name) AS last_name, count(*) AS n FROM customers GROUP BY region"),
    view(
        "v_region_status",
        "SELECT c.region, o.status, count(*) AS n, sum(o.amount) AS revenue \
         FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.region, o.status",
    ),
    view(
        "v_left_agg",
        "SELECT c.id, c.name, count(o.id) AS n_orders, coalesce(sum(o.amount), 0) AS spent \
         FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name",
    ),
    view(
        "v_global",
        "SELECT count(*) AS n, count(amount) AS n_amount, sum(amount) AS total, min(amount) AS lo, \
         max(amount) AS hi, avg(amount) AS mean FROM orders",
    ),
    late_view("v_global_items", "SELECT count(*) AS n, sum(qty) AS total_qty, max(sku) AS top_sku, min(price) AS cheapest FROM items"),
    // DISTINCT and UNION ALL
    view("v_distinct", "SELECT DISTINCT status, customer_id FROM orders"),
    view(
        "v_union",
        "SELECT id AS key, 'order' AS kind FROM orders WHERE amount > 900 \
         UNION ALL SELECT id, 'customer' FROM customers WHERE region = 'eu' \
         UNION ALL SELECT order_id, sku FROM items WHERE qty >= 8",
    ),
    // views over views
    view(
        "v_over_join",
        "SELECT region, count(*) AS n, sum(amount) AS total, max(status) AS max_status FROM v_join2 GROUP BY region",
    ),
    late_view("v_over_distinct", "SELECT DISTINCT region FROM v_join2 WHERE amount IS NOT NULL"),
    view("v_over_agg", "SELECT status, n FROM v_count WHERE n > 1"),
    // collecting aggregates (NULLs collected by array_agg, skipped by string_agg) and a
    // set-returning function over them
    late_view("v_collect", "SELECT region, array_agg(name ORDER BY name DESC, id) AS names, string_agg(name, '/' ORDER BY id, name) AS joined FROM customers GROUP BY region"),
    view("v_unnest", "SELECT order_id, unnest(array_agg(sku ORDER BY sku)) AS sku FROM items GROUP BY order_id"),
    view("v_series", "SELECT order_id, g FROM items, generate_series(1, items.qty % 4) AS g WHERE qty > 0"),
    // window functions: top-K per group (a TopK under the window), running aggregates
    // (peers by id share a value), lag and rank, a window over grouped rows. Each
    // order key covers the columns shown, so how peers are numbered is invisible.
    view(
        "v_top3",
        "SELECT customer_id, id, amount, rn FROM (SELECT customer_id, id, amount, \
         row_number() OVER (PARTITION BY customer_id ORDER BY amount DESC NULLS LAST, id) AS rn FROM orders) t \
         WHERE rn <= 3",
    ),
    view(
        "v_running",
        "SELECT customer_id, id, amount, sum(amount) OVER (PARTITION BY customer_id ORDER BY id) AS running, \
         count(*) OVER (PARTITION BY customer_id ORDER BY id) AS n, \
         sum(amount) OVER (PARTITION BY customer_id ORDER BY id GROUPS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS near \
         FROM orders",
    ),
    late_view(
        "v_lag",
        "SELECT customer_id, id, amount, lag(amount, 1, -1) OVER w AS prev, lead(id) OVER w AS next_id, \
         rank() OVER (PARTITION BY customer_id ORDER BY amount) AS r FROM orders \
         WINDOW w AS (PARTITION BY customer_id ORDER BY id, amount)",
    ),
    view(
        "v_range_frames",
        "SELECT customer_id, id, ts, amount, count(*) OVER w AS n_week, sum(amount) OVER w AS week_total, \
         max(id) OVER (PARTITION BY status ORDER BY amount DESC RANGE BETWEEN 50 PRECEDING AND 50 FOLLOWING) AS near_id \
         FROM orders WINDOW w AS (PARTITION BY customer_id ORDER BY ts RANGE BETWEEN '7 days' PRECEDING AND '1 day' FOLLOWING)",
    ),
    late_view(
        "v_status_rank",
        "SELECT status, count(*) AS n, rank() OVER (ORDER BY count(*) DESC) AS r, \
         sum(count(*)) OVER (ORDER BY status ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS near \
         FROM orders GROUP BY status",
    ),
    // LATERAL: a top-1 per outer row (duplicate customer ids and NULL keys included),
    // a count per outer row that is 0 without rows, a LEFT JOIN LATERAL top-2 whose ON
    // condition pads some rows, and set-returning functions reading the outer row
    view(
        "v_lateral_top1",
        "SELECT c.id, c.name, l.id AS order_id, l.amount FROM customers c, LATERAL (SELECT o.id, o.amount \
         FROM orders o WHERE o.customer_id = c.id ORDER BY o.amount DESC NULLS LAST, o.id LIMIT 1) l",
    ),
    late_view(
        "v_lateral_count",
        "SELECT c.id, c.region, s.n, s.total FROM customers c LEFT JOIN LATERAL (SELECT count(*) AS n, \
         sum(o.amount) AS total FROM orders o WHERE o.customer_id = c.id AND o.status IS DISTINCT FROM c.region) s ON true",
    ),
    view(
        "v_lateral_items",
        "SELECT o.id, o.status, l.sku, l.qty FROM orders o LEFT JOIN LATERAL (SELECT i.sku, i.qty FROM items i \
         WHERE i.order_id = o.id ORDER BY i.qty DESC NULLS LAST, i.sku NULLS LAST LIMIT 2) l ON l.qty > 1",
    ),
    // a LIMIT read from the outer row (0, 1 or 2 items per order, by its id)
    view(
        "v_lateral_per_row_limit",
        "SELECT o.id, l.sku FROM orders o, LATERAL (SELECT i.sku FROM items i WHERE i.order_id = o.id \
         ORDER BY i.qty DESC NULLS LAST, i.sku NULLS LAST LIMIT o.id % 3) l",
    ),
    // row comparisons, as keyset pagination writes them (NULLs decide as in Postgres)
    view(
        "v_row_compare",
        "SELECT id, customer_id, amount FROM orders WHERE (customer_id, amount) > (3, 250) \
         AND (customer_id, id) <> (5, 7)",
    ),
    view(
        "v_lateral_srf",
        "SELECT o.id, e, g FROM orders o, LATERAL unnest(ARRAY[o.customer_id, o.id % 5]) e, \
         LATERAL generate_series(1, o.id % 3) g",
    ),
    // SESSION windows: orders merge into and split out of sessions as their times are
    // inserted, moved a day on and deleted (NULL customers are one partition).
    eddy_view(
        "v_sessions",
        "SELECT customer_id, id, ts, window_start, window_end \
         FROM SESSION(orders, ts, INTERVAL '30 days', customer_id)",
        sessions_by_lag!("customer_id, id, ts, window_start, window_end", ""),
        false,
    ),
    eddy_view(
        "v_session_totals",
        "SELECT customer_id, window_start, window_end, count(*) AS n, sum(amount) AS total \
         FROM SESSION(orders, ts, INTERVAL '30 days', customer_id) GROUP BY 1, 2, 3",
        sessions_by_lag!(
            "customer_id, window_start, window_end, count(*) AS n, sum(amount) AS total",
            " GROUP BY 1, 2, 3"
        ),
        true,
    ),
];

const REGIONS: &[Option<&str>] = &[Some("eu"), Some("us"), Some("apac"), None];
const NAMES: &[Option<&str>] = &[
    Some("ann"),
    Some("bob"),
    Some("cy"),
    Some("dee"),
    Some("o'hara"),
    Some(""),
    None,
];
const STATUSES: &[Option<&str>] = &[
    Some("open"),
    Some("paid"),
    Some("shipped"),
    Some("cancelled"),
    None,
];
const SKUS: &[Option<&str>] = &[Some("apple"), Some("pear"), Some("fig"), Some("kiwi"), None];

const CUSTOMER_IDS: i64 = 30;
const ORDER_IDS: i64 = 250;

/// Generates the random workload; the same seed gives the same statements.
struct Workload {
    rng: StdRng,
}

impl Workload {
    fn text(&mut self, choices: &[Option<&str>]) -> String {
        match choices.choose(&mut self.rng).copied().flatten() {
            Some(s) => format!("'{}'", s.replace('\'', "''")),
            None => "NULL".to_string(),
        }
    }

    fn maybe_null(&mut self, percent_null: u32, value: String) -> String {
        if self.rng.gen_range(0..100) < percent_null {
            "NULL".to_string()
        } else {
            value
        }
    }

    fn money(&mut self, max_cents: i64) -> String {
        let cents = self.rng.gen_range(0..max_cents);
        format!("{}.{:02}", cents / 100, cents % 100)
    }

    fn customer_row(&mut self) -> String {
        let id = self.rng.gen_range(1..=CUSTOMER_IDS);
        let name = self.text(NAMES);
        let region = self.text(REGIONS);
        format!("({id}, {name}, {region})")
    }

    fn order_row(&mut self) -> String {
        let id = self.rng.gen_range(1..=ORDER_IDS);
        let customer = self.rng.gen_range(1..=CUSTOMER_IDS).to_string();
        let customer = self.maybe_null(10, customer);
        let amount = self.money(150_000);
        let amount = self.maybe_null(10, amount);
        let status = self.text(STATUSES);
        let ts = format!(
            "'2024-{:02}-{:02} {:02}:{:02}:{:02}'",
            self.rng.gen_range(1..=12),
            self.rng.gen_range(1..=28),
            self.rng.gen_range(0..24),
            self.rng.gen_range(0..60),
            self.rng.gen_range(0..60)
        );
        let ts = self.maybe_null(10, ts);
        format!("({id}, {customer}, {amount}, {status}, {ts})")
    }

    fn item_row(&mut self) -> String {
        let order = self.rng.gen_range(1..=ORDER_IDS);
        let sku = self.text(SKUS);
        let qty = self.rng.gen_range(0..=10).to_string();
        let qty = self.maybe_null(10, qty);
        let price = self.money(20_000);
        let price = self.maybe_null(5, price);
        format!("({order}, {sku}, {qty}, {price})")
    }

    /// Multi-row INSERT of `n` rows made by `row`, sometimes with a row repeated.
    fn insert(&mut self, table: &str, n: usize, row: fn(&mut Workload) -> String) -> String {
        let mut rows: Vec<String> = (0..n).map(|_| row(self)).collect();
        if self.rng.gen_bool(0.3) {
            let dup = rows[self.rng.gen_range(0..rows.len())].clone();
            rows.push(dup);
        }
        format!("INSERT INTO {table} VALUES {}", rows.join(", "))
    }

    fn update(&mut self) -> String {
        let order = self.rng.gen_range(1..=ORDER_IDS);
        let customer = self.rng.gen_range(1..=CUSTOMER_IDS);
        match self.rng.gen_range(0..7) {
            0 => format!("UPDATE orders SET status = {} WHERE id = {order}", self.text(STATUSES)),
            1 => format!("UPDATE orders SET amount = amount + 1.25 WHERE customer_id = {customer}"),
            2 => format!("UPDATE orders SET amount = NULL WHERE id % 37 = {}", self.rng.gen_range(0..37)),
            3 => format!("UPDATE customers SET region = {} WHERE id = {customer}", self.text(REGIONS)),
            4 => format!("UPDATE items SET qty = qty + 1 WHERE sku = {}", self.text(SKUS)),
            5 => format!(
                "UPDATE orders SET customer_id = {}, ts = ts + INTERVAL '1 day' WHERE id BETWEEN {order} AND {}",
                self.rng.gen_range(1..=CUSTOMER_IDS),
                order + 3
            ),
            _ => format!("UPDATE customers SET name = upper(name) WHERE region = {}", self.text(REGIONS)),
        }
    }

    fn delete(&mut self) -> String {
        let order = self.rng.gen_range(1..=ORDER_IDS);
        match self.rng.gen_range(0..6) {
            0 | 1 => format!("DELETE FROM orders WHERE id = {order}"),
            2 => format!(
                "DELETE FROM items WHERE order_id BETWEEN {order} AND {}",
                order + 5
            ),
            3 => format!(
                "DELETE FROM customers WHERE id = {}",
                self.rng.gen_range(1..=CUSTOMER_IDS)
            ),
            4 => format!(
                "DELETE FROM orders WHERE status = {} AND amount < 200",
                self.text(STATUSES)
            ),
            _ => "DELETE FROM items WHERE qty IS NULL OR price IS NULL".to_string(),
        }
    }

    /// One batch of statements; the first batch loads the initial data.
    fn batch(&mut self, index: usize) -> Vec<String> {
        if index == 0 {
            return vec![
                self.insert("customers", 25, Workload::customer_row),
                self.insert("orders", 120, Workload::order_row),
                self.insert("items", 80, Workload::item_row),
            ];
        }
        let mut statements = Vec::new();
        for _ in 0..self.rng.gen_range(4..=8) {
            let statement = match self.rng.gen_range(0..10) {
                0 => {
                    let n = self.rng.gen_range(1..=3);
                    self.insert("customers", n, Workload::customer_row)
                }
                1..=3 => {
                    let n = self.rng.gen_range(1..=15);
                    self.insert("orders", n, Workload::order_row)
                }
                4 => {
                    let n = self.rng.gen_range(1..=8);
                    self.insert("items", n, Workload::item_row)
                }
                5..=7 => self.update(),
                _ => self.delete(),
            };
            statements.push(statement);
        }
        if self.rng.gen_bool(0.3) {
            statements.insert(0, "BEGIN".to_string());
            statements.push("COMMIT".to_string());
        }
        statements
    }
}

struct Run {
    seed: u64,
    workers: usize,
    /// The server that plays Eddy: Eddy itself, or (as a self-check) a second Postgres;
    /// held to keep it running.
    _eddy: Option<Eddy>,
    _stand_in: Option<Postgres>,
    subject: Client,
    /// Whether the subject holds views as plain views (the Postgres self-check).
    subject_plain_views: bool,
    _oracle_server: Postgres,
    oracle: Client,
}

impl Run {
    async fn start(workers: usize, seed: u64) -> Run {
        let oracle_server =
            Postgres::start().unwrap_or_else(|e| panic!("starting the oracle postgres: {e:#}"));
        let oracle = oracle_server
            .connect()
            .await
            .expect("connect to the oracle");
        if std::env::var_os("ORACLE_EDDY_IS_POSTGRES").is_some() {
            let pg = Postgres::start()
                .unwrap_or_else(|e| panic!("starting the stand-in postgres: {e:#}"));
            let subject = pg
                .connect()
                .await
                .expect("connect to the stand-in postgres");
            Run {
                seed,
                workers,
                _eddy: None,
                _stand_in: Some(pg),
                subject,
                subject_plain_views: true,
                _oracle_server: oracle_server,
                oracle,
            }
        } else {
            let eddy = common::start_eddy(workers);
            let subject = eddy.connect().await.unwrap_or_else(|e| panic!("{e:#}"));
            Run {
                seed,
                workers,
                _eddy: Some(eddy),
                _stand_in: None,
                subject,
                subject_plain_views: false,
                _oracle_server: oracle_server,
                oracle,
            }
        }
    }

    fn context(&self, batch: usize) -> String {
        format!(
            "seed {} (reproduce with ORACLE_SEED={}), {} worker(s), batch {batch}",
            self.seed, self.seed, self.workers
        )
    }

    /// Runs a statement on both servers; they must both succeed.
    async fn execute_both(&self, sql: &str, batch: usize) {
        let on_oracle = self.oracle.simple_query(sql).await;
        let on_subject = self.subject.simple_query(sql).await;
        match (on_oracle, on_subject) {
            (Ok(_), Ok(_)) => {}
            (Err(e), _) => panic!(
                "{}: the workload statement failed on postgres (a bug in this test):\n{sql}\n{}",
                self.context(batch),
                common::describe_error(&e)
            ),
            (Ok(_), Err(e)) => panic!(
                "{}: statement failed on eddy but not on postgres:\n{sql}\n{}",
                self.context(batch),
                common::describe_error(&e)
            ),
        }
    }

    async fn create_view(&self, view: &ViewDef, batch: usize) {
        let oracle_ddl = format!("CREATE VIEW {} AS {}", view.name, view.query);
        self.oracle
            .batch_execute(&oracle_ddl)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "creating {} on postgres: {}",
                    view.name,
                    common::describe_error(&e)
                )
            });
        let kind = if self.subject_plain_views {
            "VIEW"
        } else {
            "MATERIALIZED VIEW"
        };
        let query = match view.eddy_query {
            Some(eddy_query) if !self.subject_plain_views => eddy_query,
            _ => view.query,
        };
        let ddl = format!("CREATE {kind} {} AS {query}", view.name);
        if let Err(e) = self.subject.batch_execute(&ddl).await {
            panic!(
                "{}: creating a view failed:\n{ddl}\n{}",
                self.context(batch),
                common::describe_error(&e)
            );
        }
    }

    /// Compares every table and every created view; returns a report of the mismatches.
    async fn compare(
        &self,
        created: &[&ViewDef],
        batch: usize,
        statements: &[String],
    ) -> Option<String> {
        let mut report = String::new();
        let mut checks: Vec<(String, String, String)> = TABLES
            .iter()
            .map(|(name, _)| {
                (
                    name.to_string(),
                    format!("SELECT * FROM {name}"),
                    String::new(),
                )
            })
            .collect();
        for view in created {
            checks.push((
                view.name.to_string(),
                view.query.to_string(),
                view.eddy_query.unwrap_or(view.query).to_string(),
            ));
        }
        for (name, oracle_query, definition) in checks {
            let expected: Vec<TextRow> = match query_rows(&self.oracle, &oracle_query).await {
                Ok(rows) => rows,
                Err(e) => panic!(
                    "{}: postgres failed on {oracle_query}: {e:#}",
                    self.context(batch)
                ),
            };
            let actual = match query_rows(&self.subject, &format!("SELECT * FROM {name}")).await {
                Ok(rows) => rows,
                Err(e) => {
                    let _ = writeln!(
                        report,
                        "\n== {name}: SELECT failed on eddy: {e:#}\n   definition: {definition}"
                    );
                    continue;
                }
            };
            if let Some(diff) = diff_rows(&expected, &actual) {
                let diff = first_lines(&diff, DIFF_LINES_MAX);
                let _ = writeln!(
                    report,
                    "\n== {name}: contents differ\n   definition: {definition}\n{diff}"
                );
            }
        }
        if report.is_empty() {
            None
        } else {
            Some(format!(
                "{}: eddy disagrees with postgres\nstatements of this batch:\n  {}\n{report}",
                self.context(batch),
                statements
                    .iter()
                    .map(|s| shorten(s, STATEMENT_CHARS_MAX))
                    .collect::<Vec<_>>()
                    .join(";\n  ")
            ))
        }
    }
}

fn first_lines(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max {
        text.to_string()
    } else {
        format!(
            "{}\n... {} more lines",
            lines[..max].join("\n"),
            lines.len() - max
        )
    }
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{} ... ({} chars)", &text[..cut], text.len()),
        None => text.to_string(),
    }
}

fn seed_from_env() -> u64 {
    match std::env::var("ORACLE_SEED") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("ORACLE_SEED must be a u64, not {text:?}")),
        Err(_) => rand::thread_rng().gen(),
    }
}

async fn run_oracle(workers: usize) {
    let seed = seed_from_env();
    let batches: usize = std::env::var("ORACLE_BATCHES")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(DEFAULT_BATCHES);
    println!("oracle: seed {seed} (reproduce with ORACLE_SEED={seed}), {workers} worker(s), {batches} batches");
    let run = Run::start(workers, seed).await;
    for (_, ddl) in TABLES {
        run.execute_both(ddl, 0).await;
    }
    let mut created: Vec<&ViewDef> = Vec::new();
    for view in VIEWS.iter().filter(|v| !v.late) {
        run.create_view(view, 0).await;
        created.push(view);
    }
    let mut workload = Workload {
        rng: StdRng::seed_from_u64(seed),
    };
    for batch in 0..batches {
        if batch == 2 {
            for view in VIEWS.iter().filter(|v| v.late) {
                run.create_view(view, batch).await;
                created.push(view);
            }
        }
        let statements = workload.batch(batch);
        for sql in &statements {
            run.execute_both(sql, batch).await;
        }
        if let Some(report) = run.compare(&created, batch, &statements).await {
            panic!("{report}");
        }
    }
    assert_eq!(
        created.len(),
        VIEWS.len(),
        "every view was created and checked"
    );
}

#[tokio::test]
async fn oracle_1_worker() {
    run_oracle(1).await;
}

#[tokio::test]
async fn oracle_2_workers() {
    run_oracle(2).await;
}

#[tokio::test]
async fn oracle_4_workers() {
    run_oracle(4).await;
}

#[test]
fn workload_is_deterministic() {
    let a: Vec<Vec<String>> = {
        let mut w = Workload {
            rng: StdRng::seed_from_u64(7),
        };
        (0..5).map(|b| w.batch(b)).collect()
    };
    let b: Vec<Vec<String>> = {
        let mut w = Workload {
            rng: StdRng::seed_from_u64(7),
        };
        (0..5).map(|b| w.batch(b)).collect()
    };
    assert_eq!(a, b);
    assert!(VIEWS.len() >= 20);
}
