//! `CREATE INDEX`: a point read by the indexed columns seeks in the index (EXPLAIN
//! says `Index lookup`), answers as the same read without it, and keeps doing so
//! through writes, an `ALTER TABLE ... ADD COLUMN` and a restart; what Eddy does not
//! index yet is refused with 0A000.

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
