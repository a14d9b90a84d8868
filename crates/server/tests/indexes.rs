//! `CREATE INDEX`: a point read by the indexed columns seeks in the index (EXPLAIN
//! says `Index lookup`), and so does a range read (`Index range`: the index is sorted
//! by its key), visiting only the rows of the range; each answers as the same read
//! without it, and keeps doing so through writes, an `ALTER TABLE ... ADD COLUMN` and
//! a restart; what Eddy does not index yet is refused with 0A000.

mod common;

use common::{describe_error, lines};

#[tokio::test]
async fn an_index_serves_point_reads_by_its_columns() {
    let mut eddy = common::start_eddy(2);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE events (id bigint PRIMARY KEY, kind text, size integer);
             INSERT INTO events SELECT g, 'k' || (g % 100), g % 7 FROM generate_series(1, 20000) g;
             CREATE INDEX ON events (kind);
             CREATE INDEX events_kind_size ON events (kind, size);",
        )
        .await
        .unwrap_or_else(|e| panic!("setup: {}", describe_error(&e)));
    // Listed as Postgres lists indexes (psql's \d and \di read these).
    assert_eq!(
        lines(
            &client,
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events' ORDER BY 1"
        )
        .await,
        [
            "events_kind_idx CREATE INDEX events_kind_idx ON public.events USING btree (kind)",
            "events_kind_size CREATE INDEX events_kind_size ON public.events USING btree (kind, size)",
            "events_pkey CREATE UNIQUE INDEX events_pkey ON public.events USING btree (id)",
        ]
    );
    assert_eq!(
        lines(
            &client,
            "SELECT c.relname, i.indisunique FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = 'events'::regclass AND NOT i.indisprimary ORDER BY 1"
        )
        .await,
        ["events_kind_idx f", "events_kind_size f"]
    );
    let explain = |sql: &str| format!("EXPLAIN {sql}");
    // The longest pinned prefix wins; the table's own key needs no index.
    let by_kind = "SELECT id FROM events WHERE kind = 'k42' ORDER BY id";
    let by_both = "SELECT id FROM events WHERE kind = 'k42' AND size = 3 ORDER BY id";
    assert_eq!(
        lines(&client, &explain(by_kind)).await[0],
        "Index lookup: events_kind_idx (kind = \"k42\")"
    );
    assert_eq!(
        lines(&client, &explain(by_both)).await[0],
        "Index lookup: events_kind_size (kind = \"k42\", size = 3)"
    );
    assert!(
        !lines(&client, &explain("SELECT * FROM events WHERE id = 7"))
            .await
            .join("\n")
            .contains("Index lookup")
    );
    assert!(
        !lines(&client, &explain("SELECT * FROM events WHERE size = 3"))
            .await
            .join("\n")
            .contains("Index lookup")
    );

    // The same rows as a read no index can serve (an expression of the column).
    async fn check(client: &tokio_postgres::Client, what: &str, reads: [&str; 2]) {
        for sql in reads {
            let got = lines(client, sql).await;
            let want = lines(client, &sql.replace("kind = 'k42'", "kind || '' = 'k42'")).await;
            assert!(!want.is_empty(), "{what}: {sql} has rows");
            assert_eq!(got, want, "{what}: {sql}");
        }
    }
    let reads = [by_kind, by_both];
    check(&client, "loaded", reads).await;
    client
        .batch_execute(
            "UPDATE events SET kind = 'k42' WHERE id BETWEEN 100 AND 110;
             DELETE FROM events WHERE id = 142;
             UPDATE events SET size = 3 WHERE kind = 'k42' AND id < 1000;",
        )
        .await
        .expect("writes");
    check(&client, "after writes", reads).await;
    client
        .batch_execute("ALTER TABLE events ADD COLUMN note text DEFAULT 'n'")
        .await
        .unwrap_or_else(|e| panic!("add column: {}", describe_error(&e)));
    check(&client, "after ADD COLUMN", reads).await;
    assert_eq!(
        lines(
            &client,
            "SELECT note FROM events WHERE kind = 'k42' AND id = 100"
        )
        .await,
        ["n"]
    );
    drop(client);
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    assert_eq!(
        lines(&client, &explain(by_kind)).await[0],
        "Index lookup: events_kind_idx (kind = \"k42\")"
    );
    check(&client, "after a restart", reads).await;

    // What is not supported is said so; an index is not a relation.
    for (sql, state) in [
        ("CREATE UNIQUE INDEX u ON events (size)", "23505"),
        ("CREATE INDEX e ON events ((size + 1))", "0A000"),
        ("CREATE INDEX p ON events (size) WHERE size > 1", "0A000"),
        ("CREATE VIEW v AS SELECT * FROM events", ""),
        ("CREATE INDEX ON v (size)", "42809"),
        ("SELECT * FROM events_kind_idx", "42809"),
        ("CREATE INDEX events_kind_idx ON events (size)", "42P07"),
    ] {
        let result = client.batch_execute(sql).await;
        match (state, result) {
            ("", Ok(())) => {}
            ("", Err(e)) => panic!("{sql}: {}", describe_error(&e)),
            (_, Ok(())) => panic!("{sql} was accepted"),
            (state, Err(e)) => {
                let described = describe_error(&e);
                assert!(
                    described.contains(&format!("(SQLSTATE {state})")),
                    "{sql}: {described}"
                );
            }
        }
    }
    // An index of a dropped column goes with it, as in Postgres.
    client
        .batch_execute("DROP VIEW v")
        .await
        .expect("drop view");
    client
        .batch_execute(
            "CREATE INDEX events_size ON events (size); ALTER TABLE events DROP COLUMN size",
        )
        .await
        .unwrap_or_else(|e| panic!("drop an indexed column: {}", describe_error(&e)));
    assert!(lines(
        &client,
        "SELECT indexname FROM pg_indexes WHERE tablename = 'events' ORDER BY 1"
    )
    .await
    .iter()
    .all(|name| name != "events_size" && name != "events_kind_size"));
    // An index goes with its table.
    client
        .batch_execute("DROP TABLE events")
        .await
        .expect("drop");
    client
        .batch_execute("CREATE TABLE events (id int); CREATE INDEX events_kind_idx ON events (id)")
        .await
        .unwrap_or_else(|e| panic!("the name is free again: {}", describe_error(&e)));
}

/// An index of a materialized view serves its point reads, and is rebuilt on the new
/// version when the view is replaced (blue/green), or refuses a definition that drops
/// its column.
#[tokio::test]
async fn an_index_of_a_materialized_view_follows_it() {
    let eddy = common::start_eddy(1);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE o (id int PRIMARY KEY, region text);
             INSERT INTO o SELECT g, 'r' || (g % 10) FROM generate_series(1, 1000) g;
             INSERT INTO o VALUES (5000, 'r3');
             CREATE MATERIALIZED VIEW per_region AS SELECT region, count(*) AS n FROM o GROUP BY region;
             CREATE INDEX per_region_n ON per_region (n);",
        )
        .await
        .unwrap_or_else(|e| panic!("setup: {}", describe_error(&e)));
    let read = "SELECT region FROM per_region WHERE n = 101";
    assert_eq!(
        lines(&client, &format!("EXPLAIN {read}")).await[0],
        "Index lookup: per_region_n (n = 101)"
    );
    assert_eq!(lines(&client, read).await, ["r3"]);
    client
        .batch_execute(
            "CREATE OR REPLACE MATERIALIZED VIEW per_region AS \
               SELECT region, count(*) * 2 AS n FROM o GROUP BY region",
        )
        .await
        .unwrap_or_else(|e| panic!("replace: {}", describe_error(&e)));
    let read = "SELECT region FROM per_region WHERE n = 202";
    assert_eq!(
        lines(&client, &format!("EXPLAIN {read}")).await[0],
        "Index lookup: per_region_n (n = 202)"
    );
    assert_eq!(lines(&client, read).await, ["r3"]);
    client
        .batch_execute("INSERT INTO o VALUES (5001, 'r4')")
        .await
        .expect("insert");
    assert_eq!(lines(&client, read).await, ["r3", "r4"]);
    let err = client
        .batch_execute(
            "CREATE OR REPLACE MATERIALIZED VIEW per_region AS SELECT region FROM o GROUP BY region",
        )
        .await
        .expect_err("the index's column is gone");
    assert!(
        describe_error(&err).contains("per_region_n"),
        "{}",
        describe_error(&err)
    );
}

/// `CREATE UNIQUE INDEX` (as SQLAlchemy's `index=True, unique=True` emits it) and
/// `ALTER TABLE ... ADD CONSTRAINT ... UNIQUE` are UNIQUE constraints: enforced on
/// every write, kept across a restart, dropped by `DROP INDEX` / `DROP CONSTRAINT`.
#[tokio::test]
async fn a_unique_index_is_enforced_across_a_restart() {
    let mut eddy = common::start_eddy(1);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, email text, handle text);
             INSERT INTO accounts VALUES (1, 'a@x', 'a'), (2, 'b@x', 'b');
             CREATE UNIQUE INDEX ix_accounts_email ON accounts (email);
             ALTER TABLE accounts ADD CONSTRAINT accounts_handle UNIQUE (handle);",
        )
        .await
        .unwrap_or_else(|e| panic!("setup: {}", describe_error(&e)));
    let duplicate = |sql: &'static str| {
        let client = &client;
        async move {
            let err = client.batch_execute(sql).await.expect_err(sql);
            describe_error(&err)
        }
    };
    assert!(duplicate("INSERT INTO accounts VALUES (3, 'a@x', 'c')")
        .await
        .contains("duplicate key value violates unique constraint \"ix_accounts_email\""));
    // A retyped column keeps every row (also those whose bytes do not change), and
    // its constraint, across the restart.
    client
        .batch_execute(
            "ALTER TABLE accounts ALTER COLUMN email TYPE varchar(40);
             ALTER TABLE accounts ALTER COLUMN id TYPE bigint;",
        )
        .await
        .unwrap_or_else(|e| panic!("retype: {}", describe_error(&e)));
    assert_eq!(
        lines(
            &client,
            "SELECT id, email, handle FROM accounts ORDER BY id"
        )
        .await,
        ["1 a@x a", "2 b@x b"]
    );
    drop(client);
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    assert_eq!(
        lines(
            &client,
            "SELECT id, email, handle FROM accounts ORDER BY id"
        )
        .await,
        ["1 a@x a", "2 b@x b"]
    );
    assert_eq!(
        lines(
            &client,
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_name = 'accounts' AND column_name IN ('id', 'email') ORDER BY 1"
        )
        .await,
        ["email character varying", "id bigint"]
    );
    for (sql, constraint) in [
        (
            "INSERT INTO accounts VALUES (3, 'a@x', 'c')",
            "ix_accounts_email",
        ),
        (
            "UPDATE accounts SET handle = 'a' WHERE id = 2",
            "accounts_handle",
        ),
    ] {
        let err = client.batch_execute(sql).await.expect_err(sql);
        let described = describe_error(&err);
        assert!(
            described.contains(&format!("violates unique constraint \"{constraint}\"")),
            "{sql}: {described}"
        );
    }
    client
        .batch_execute(
            "DROP INDEX ix_accounts_email;
             ALTER TABLE accounts DROP CONSTRAINT accounts_handle;
             INSERT INTO accounts VALUES (3, 'a@x', 'a');",
        )
        .await
        .unwrap_or_else(|e| panic!("dropped: {}", describe_error(&e)));
    assert_eq!(
        lines(&client, "SELECT count(*) FROM accounts WHERE email = 'a@x'").await,
        ["2"]
    );
}

/// The rows of the range-read tests: every kind of key the sorted index encoding
/// orders (negative numbers, text with a shared prefix and the empty string,
/// timestamps, floats with `-0`, infinities and NaN, NULLs in each), from a fixed
/// pseudo-random sequence.
fn range_rows(from: i64, count: i64) -> String {
    let mut state = 0x2545_f491_4f6c_dd1d_u64.wrapping_add(from as u64);
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 33) as i64
    };
    let rows: Vec<String> = (from..from + count)
        .map(|id| {
            let null = |v: String, n: i64| if n % 13 == 0 { "NULL".to_string() } else { v };
            let i = null(format!("{}", next() % 201 - 100), next());
            let b = null(format!("{}", next() % 2_000_001 - 1_000_000), next());
            let t = null(
                match next() % 5 {
                    0 => "''".to_string(),
                    1 => format!("'k{}'", next() % 20),
                    _ => format!("'k{}x'", next() % 20),
                },
                next(),
            );
            let ts = null(
                format!(
                    "TIMESTAMP '2024-01-{:02} {:02}:00:00'",
                    1 + next() % 28,
                    next() % 24
                ),
                next(),
            );
            let f = null(
                [
                    "'-0'",
                    "'0'",
                    "'NaN'",
                    "'-Infinity'",
                    "'Infinity'",
                    "-1.5",
                    "2.25",
                    "-300",
                ][(next() % 8) as usize]
                    .to_string(),
                next(),
            );
            let g = null(format!("{}", next() % 5), next());
            let h = null(format!("{}", next() % 50 - 10), next());
            format!("({id}, {i}, {b}, {t}, {ts}, {f}::float8, {g}, {h})")
        })
        .collect();
    rows.join(", ")
}

/// A read by a range of an index's key (`>`, `>=`, `<`, `<=`, `BETWEEN`, open-ended or
/// empty, after an equality on a leading key column) seeks the index's sorted
/// arrangement (EXPLAIN says `Index range`), and answers as the same read of an
/// identical table without indexes, through inserts, updates and deletes, a restart
/// and a `DROP INDEX`.
#[tokio::test]
async fn an_index_serves_range_reads_in_sql_order() {
    let mut eddy = common::start_eddy(2);
    let client = eddy.connect().await.expect("connect");
    let columns = "id int PRIMARY KEY, i int, b bigint, t text, ts timestamp, \
                   f double precision, g int, h int";
    client
        .batch_execute(&format!(
            "CREATE TABLE r ({columns});
             CREATE TABLE plain ({columns});
             INSERT INTO r VALUES {rows};
             INSERT INTO plain SELECT * FROM r;
             CREATE INDEX r_i ON r (i);
             CREATE INDEX r_b ON r (b);
             CREATE INDEX r_t ON r (t);
             CREATE INDEX r_ts ON r (ts);
             CREATE INDEX r_f ON r (f);
             CREATE INDEX r_g_h ON r (g, h);",
            rows = range_rows(1, 3000)
        ))
        .await
        .unwrap_or_else(|e| panic!("setup: {}", describe_error(&e)));
    // Each read, and what EXPLAIN says of it.
    let reads: &[(&str, &str)] = &[
        ("i > 5", "Index range: r_i (i > 5)"),
        ("5 < i", "Index range: r_i (i > 5)"),
        (
            "i > 5 AND i > 7 AND i <= 50",
            "Index range: r_i (i > 7, i <= 50)",
        ),
        (
            "i BETWEEN -20 AND -3",
            "Index range: r_i (i >= -20, i <= -3)",
        ),
        ("i < -90", "Index range: r_i (i < -90)"),
        ("i >= 0", "Index range: r_i (i >= 0)"),
        ("i >= 3 AND i < 3", "Index range: r_i (i >= 3, i < 3)"),
        ("i > 100", "Index range: r_i (i > 100)"),
        (
            "b >= -500000 AND b < 1200",
            "Index range: r_b (b >= -500000, b < 1200)",
        ),
        ("b <= -999000", "Index range: r_b (b <= -999000)"),
        (
            "t > 'k5' AND t <= 'k7'",
            "Index range: r_t (t > \"k5\", t <= \"k7\")",
        ),
        ("t < 'k1'", "Index range: r_t (t < \"k1\")"),
        ("t >= 'k19x'", "Index range: r_t (t >= \"k19x\")"),
        (
            "ts >= TIMESTAMP '2024-01-03 00:00:00' AND ts < TIMESTAMP '2024-01-05 12:00:00'",
            "Index range: r_ts (ts >= 2024-01-03T00:00:00, ts < 2024-01-05T12:00:00)",
        ),
        ("f > '-Infinity'::float8", "Index range: r_f (f > -inf)"),
        ("f >= 0::float8", "Index range: r_f (f >= 0)"),
        ("f < 0::float8", "Index range: r_f (f < 0)"),
        ("f <= '-0'::float8", "Index range: r_f (f <= -0)"),
        ("f > 'Infinity'::float8", "Index range: r_f (f > inf)"),
        ("g = 3 AND h > 20", "Index range: r_g_h (g = 3, h > 20)"),
        (
            "g = 0 AND h BETWEEN -5 AND 5",
            "Index range: r_g_h (g = 0, h >= -5, h <= 5)",
        ),
        ("g = 4 AND h < -20", "Index range: r_g_h (g = 4, h < -20)"),
        ("g = 2 AND h = 7", "Index lookup: r_g_h (g = 2, h = 7)"),
    ];
    async fn check(client: &tokio_postgres::Client, what: &str, reads: &[(&str, &str)]) {
        for (condition, explained) in reads {
            let sql =
                format!("SELECT id, i, b, t, ts, f, g, h FROM r WHERE {condition} ORDER BY id");
            let explain = lines(client, &format!("EXPLAIN {sql}")).await;
            let explain_text = explain.join("\n");
            let index_line = explain.first().map(String::as_str).unwrap_or("");
            if explained.is_empty() {
                assert!(
                    !explain_text.contains("Index"),
                    "{what}: {sql}:\n{explain_text}"
                );
            } else {
                assert_eq!(index_line, *explained, "{what}: {sql}:\n{explain_text}");
            }
            let plain = sql.replace("FROM r ", "FROM plain ");
            let plain_explain = lines(client, &format!("EXPLAIN {plain}")).await.join("\n");
            assert!(!plain_explain.contains("Index"), "{plain_explain}");
            assert_eq!(
                lines(client, &sql).await,
                lines(client, &plain).await,
                "{what}: {sql}"
            );
        }
    }
    // The reads cover rows, no rows and NULLs.
    assert!(lines(&client, "SELECT id FROM r WHERE i > 5").await.len() > 100);
    assert!(!lines(&client, "SELECT id FROM r WHERE t < 'k1'")
        .await
        .is_empty());
    assert!(!lines(&client, "SELECT id FROM r WHERE i IS NULL")
        .await
        .is_empty());
    check(&client, "loaded", reads).await;

    // Writes between reads, the same to both tables.
    for write in [
        "UPDATE {} SET i = -95, t = 'k6' WHERE id % 7 = 0",
        "DELETE FROM {} WHERE t = 'k5x' OR i = 6",
        "UPDATE {} SET i = NULL, f = 'NaN' WHERE id % 11 = 0",
        "UPDATE {} SET i = 3, h = 21 WHERE i IS NULL AND id % 3 = 0",
        "DELETE FROM {} WHERE g = 3 AND h > 30",
    ] {
        client
            .batch_execute(&format!(
                "{}; {}",
                write.replace("{}", "r"),
                write.replace("{}", "plain")
            ))
            .await
            .unwrap_or_else(|e| panic!("{write}: {}", describe_error(&e)));
        check(&client, write, reads).await;
    }
    let more = range_rows(5000, 500);
    client
        .batch_execute(&format!(
            "INSERT INTO r VALUES {more}; INSERT INTO plain VALUES {more};"
        ))
        .await
        .expect("insert more");
    check(&client, "after inserts", reads).await;

    // Indexes are rebuilt from the log, sorted as before.
    drop(client);
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    check(&client, "after a restart", reads).await;

    // A range read no index can serve is a scan, with the same rows.
    client
        .batch_execute("DROP INDEX r_i; DROP INDEX r_g_h")
        .await
        .unwrap_or_else(|e| panic!("drop index: {}", describe_error(&e)));
    let scans: Vec<(&str, &str)> = reads
        .iter()
        .filter(|(_, explained)| explained.contains("r_i ") || explained.contains("r_g_h "))
        .map(|(c, _)| (*c, ""))
        .collect();
    check(&client, "after DROP INDEX", &scans).await;
}

/// An index of a materialized view serves range reads of it, as the view changes.
#[tokio::test]
async fn an_index_of_a_materialized_view_serves_range_reads() {
    let eddy = common::start_eddy(1);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(&format!(
            "CREATE TABLE r (id int PRIMARY KEY, i int, b bigint, t text, ts timestamp, \
               f double precision, g int, h int);
             INSERT INTO r VALUES {rows};
             CREATE MATERIALIZED VIEW per_h AS
               SELECT h, count(*) AS n, min(i) AS low FROM r GROUP BY h;
             CREATE MATERIALIZED VIEW per_h_plain AS
               SELECT h, count(*) AS n, min(i) AS low FROM r GROUP BY h;
             CREATE INDEX per_h_low ON per_h (low);",
            rows = range_rows(1, 2000)
        ))
        .await
        .unwrap_or_else(|e| panic!("setup: {}", describe_error(&e)));
    let reads = [
        ("low < -98", "Index range: per_h_low (low < -98)"),
        (
            "low BETWEEN -99 AND -97",
            "Index range: per_h_low (low >= -99, low <= -97)",
        ),
        ("low > -98", "Index range: per_h_low (low > -98)"),
    ];
    for step in [
        "",
        "UPDATE r SET i = -100 WHERE h = 3",
        "DELETE FROM r WHERE h = 4",
        "INSERT INTO r VALUES (100000, -99, 0, 'x', NULL, 1, 0, 1000)",
        "UPDATE r SET i = 100 WHERE h % 2 = 0",
    ] {
        if !step.is_empty() {
            client.batch_execute(step).await.expect(step);
        }
        for (condition, explained) in reads {
            let sql = format!("SELECT h, n, low FROM per_h WHERE {condition} ORDER BY h");
            assert_eq!(
                lines(&client, &format!("EXPLAIN {sql}")).await[0],
                explained,
                "{sql}"
            );
            let plain = sql.replace("FROM per_h ", "FROM per_h_plain ");
            let got = lines(&client, &sql).await;
            assert_eq!(got, lines(&client, &plain).await, "{step}: {sql}");
        }
    }
    assert!(!lines(&client, "SELECT h FROM per_h WHERE low < -98")
        .await
        .is_empty());
}

/// A range read through an index visits the rows of its range, not the table: the
/// workers' count of visited rows grows by about the rows read, where the same read
/// of an unindexed column visits every row.
#[tokio::test]
async fn a_range_read_visits_the_rows_of_its_range() {
    let eddy = common::start_eddy(2);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE big (id int PRIMARY KEY, k int, same int);
             INSERT INTO big SELECT g, g * 7 % 20000, g * 7 % 20000 FROM generate_series(0, 19999) g;
             CREATE INDEX big_k ON big (k);",
        )
        .await
        .unwrap_or_else(|e| panic!("setup: {}", describe_error(&e)));
    let scanned = "eddy_peek_rows_scanned_total";
    let read = |column: &str| format!("SELECT id FROM big WHERE {column} BETWEEN 100 AND 149");
    assert_eq!(
        lines(&client, &format!("EXPLAIN {}", read("k"))).await[0],
        "Index range: big_k (k >= 100, k <= 149)"
    );
    let before = common::metric(&eddy, scanned).expect(scanned);
    let rows = lines(&client, &read("k")).await;
    let through_index = common::metric(&eddy, scanned).expect(scanned) - before;
    assert_eq!(rows.len(), 50);
    // The rows in the range, and at most one past its end on each of 2 workers.
    assert!(through_index <= 50 + 2, "visited {through_index} rows");

    let before = common::metric(&eddy, scanned).expect(scanned);
    let scanned_rows = lines(&client, &read("same")).await;
    let scan = common::metric(&eddy, scanned).expect(scanned) - before;
    assert_eq!(scanned_rows.len(), 50);
    assert!(scan >= 20000, "visited {scan} rows");
}
