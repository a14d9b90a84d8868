//! Log compaction: with snapshots forced every few updates, tables and views survive
//! SIGKILL at any point (before, between and after snapshots) and equal Postgres
//! computing the same queries over the same statements.

mod common;

use eddy_testkit::{diff_rows, query_rows, Eddy, Postgres};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const VIEWS: &[(&str, &str)] = &[
    (
        "per_key",
        "SELECT k, count(*) AS n, sum(v) AS total, min(v) AS lo, max(v) AS hi FROM t GROUP BY k",
    ),
    (
        "joined",
        "SELECT t.k, t.v, u.label FROM t JOIN u ON u.k = t.k WHERE t.v > 10",
    ),
];

fn statement(rng: &mut StdRng) -> String {
    match rng.gen_range(0..10) {
        0..=4 => {
            let rows: Vec<String> = (0..rng.gen_range(1..6))
                .map(|_| format!("({}, {})", rng.gen_range(0..8), rng.gen_range(0..100)))
                .collect();
            format!("INSERT INTO t VALUES {}", rows.join(", "))
        }
        5..=6 => format!("UPDATE t SET v = v + 1 WHERE k = {}", rng.gen_range(0..8)),
        7 => format!("DELETE FROM t WHERE v < {}", rng.gen_range(0..20)),
        8 => format!(
            "INSERT INTO u VALUES ({}, 'label{}')",
            rng.gen_range(0..8),
            rng.gen_range(0..3)
        ),
        _ => format!("DELETE FROM u WHERE k = {}", rng.gen_range(0..8)),
    }
}

async fn assert_same(eddy: &Eddy, pg: &tokio_postgres::Client, context: &str) {
    let client = eddy.connect().await.expect("connect to eddy");
    let mut checks: Vec<(String, String)> = vec![
        ("SELECT * FROM t".into(), "SELECT * FROM t".into()),
        ("SELECT * FROM u".into(), "SELECT * FROM u".into()),
    ];
    for (name, query) in VIEWS {
        checks.push((format!("SELECT * FROM {name}"), query.to_string()));
    }
    for (eddy_sql, pg_sql) in checks {
        let actual = query_rows(&client, &eddy_sql).await.expect("eddy query");
        let expected = query_rows(pg, &pg_sql).await.expect("postgres query");
        if let Some(diff) = diff_rows(&expected, &actual) {
            panic!(
                "{context}: `{eddy_sql}` differs from Postgres:\n{diff}\n{}",
                eddy.log_tail(30)
            );
        }
    }
}

#[tokio::test]
async fn snapshots_survive_kill9() {
    let seed: u64 = rand::random();
    println!("snapshot test seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let cluster = Postgres::start().expect("start postgres");
    let pg = cluster.connect().await.expect("connect to postgres");
    let mut config = common::config(2);
    config.extra_args = vec!["--snapshot-rows".into(), "25".into()];
    let mut eddy = Eddy::start(config).expect("start eddy");
    let schema = "CREATE TABLE t (k integer, v bigint); CREATE TABLE u (k integer, label text)";
    eddy.connect()
        .await
        .unwrap()
        .batch_execute(schema)
        .await
        .unwrap();
    pg.batch_execute(schema).await.unwrap();
    for (name, query) in VIEWS {
        let create = format!("CREATE MATERIALIZED VIEW {name} AS {query}");
        eddy.connect()
            .await
            .unwrap()
            .batch_execute(&create)
            .await
            .unwrap();
    }
    for round in 0..4 {
        let client = eddy.connect().await.unwrap();
        for _ in 0..rng.gen_range(10..40) {
            let sql = statement(&mut rng);
            client
                .batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("eddy: {sql}: {e}"));
            pg.batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("postgres: {sql}: {e}"));
        }
        eddy.kill9().unwrap();
        eddy.restart().unwrap();
        assert_same(
            &eddy,
            &pg,
            &format!("seed {seed}, after kill -9 in round {round}"),
        )
        .await;
    }
    let snapshots = std::fs::read_dir(eddy.data_dir().join("log"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".snap")
        })
        .count();
    assert_eq!(snapshots, 1, "one current snapshot in the log directory");
    eddy.stop().unwrap();
    eddy.restart().unwrap();
    assert_same(&eddy, &pg, &format!("seed {seed}, after a clean stop")).await;
}

/// Schemas and what they hold survive a restart from the log, and from a snapshot; a
/// dropped schema stays dropped, and a table of another schema keeps its name apart.
#[tokio::test]
async fn schemas_survive_restarts_and_snapshots() {
    let mut config = common::config(1);
    config.extra_args = vec!["--snapshot-rows".into(), "1000000".into()];
    let mut eddy = Eddy::start(config).expect("start eddy");
    let setup = "CREATE SCHEMA shop; CREATE SCHEMA gone; CREATE TABLE gone.t (a int);
        CREATE TABLE shop.orders (id int PRIMARY KEY, region text);
        CREATE TABLE orders (id int, note text);
        CREATE MATERIALIZED VIEW shop.per_region AS
          SELECT region, count(*) AS n FROM shop.orders GROUP BY region;
        CREATE VIEW shop.eu AS SELECT id FROM shop.orders WHERE region = 'eu';
        INSERT INTO shop.orders VALUES (1, 'eu'), (2, 'us'), (3, 'eu');
        INSERT INTO orders VALUES (9, 'public');
        DROP SCHEMA gone CASCADE;";
    eddy.connect()
        .await
        .unwrap()
        .batch_execute(setup)
        .await
        .unwrap();
    let expected = [
        (
            "SELECT region, n FROM shop.per_region ORDER BY region",
            vec!["eu 2", "us 1"],
        ),
        ("SELECT id FROM shop.eu ORDER BY id", vec!["1", "3"]),
        ("SELECT id, note FROM orders", vec!["9 public"]),
        (
            "SELECT nspname FROM pg_namespace WHERE nspname IN ('shop', 'gone')",
            vec!["shop"],
        ),
    ];
    // From the log (kill -9), then from a snapshot (SIGTERM writes one), then from
    // the snapshot and the log after it.
    for round in ["log", "snapshot", "snapshot and log"] {
        match round {
            "log" => eddy.kill9().expect("kill"),
            "snapshot" => eddy.stop().expect("stop"),
            _ => {
                eddy.connect()
                    .await
                    .unwrap()
                    .batch_execute("INSERT INTO shop.orders VALUES (4, 'us'); DELETE FROM shop.orders WHERE id = 4")
                    .await
                    .unwrap();
                eddy.kill9().expect("kill")
            }
        }
        eddy.restart().expect("restart");
        let client = eddy.connect().await.unwrap();
        for (query, rows) in &expected {
            let got = query_rows(&client, query).await.expect("query");
            let got: Vec<String> = got
                .iter()
                .map(|r| r.iter().flatten().cloned().collect::<Vec<_>>().join(" "))
                .collect();
            assert_eq!(&got, rows, "after a restart from the {round}: {query}");
        }
        let err = client
            .batch_execute("CREATE TABLE gone.t (a int)")
            .await
            .expect_err("gone stays dropped");
        assert_eq!(err.code().map(|c| c.code()), Some("3F000"), "{err}");
    }
}
