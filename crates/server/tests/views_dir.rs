//! Views as files: `eddy serve --views DIR` applies a directory at start, and `eddy
//! apply DIR` moves a running server to it by a plan (create, replace blue/green,
//! unchanged, seed data once, drop with --prune), checked as a whole before anything
//! runs.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use eddy_testkit::Eddy;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write a views file");
}

async fn flat(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    common::flat_rows(client, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Runs `eddy apply DIR --url ... args`; returns (success, stdout + stderr).
fn apply(eddy: &Eddy, dir: &Path, args: &[&str]) -> (bool, String) {
    apply_answering(eddy, dir, args, "")
}

/// Runs `eddy apply DIR --url ... args`, answering `answer` to its question.
fn apply_answering(eddy: &Eddy, dir: &Path, args: &[&str], answer: &str) -> (bool, String) {
    let dir = dir.to_str().expect("a UTF-8 path");
    client_command(eddy, "apply", &[&[dir], args].concat(), answer)
}

/// Runs `eddy COMMAND args --url ...` against `eddy`, answering `answer` to its
/// question; returns (success, stdout + stderr).
fn client_command(eddy: &Eddy, command: &str, args: &[&str], answer: &str) -> (bool, String) {
    use std::io::Write;
    let url = format!("postgres://eddy@127.0.0.1:{}/eddy", eddy.pg_port());
    let mut child = Command::new(common::eddy_binary())
        .arg(command)
        .args(args)
        .args(["--url", &url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run eddy apply");
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(answer.as_bytes());
    drop(stdin);
    let out = child.wait_with_output().expect("eddy apply ends");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

const TABLES: &str = "-- tables and seed data
CREATE TABLE orders (id int PRIMARY KEY, region text, amount int);
INSERT INTO orders VALUES (1, 'eu', 10), (2, 'us', 5), (3, 'eu', 7);
";

// Named to sort before the file it reads: order comes from what reads what.
const BIG: &str = "CREATE MATERIALIZED VIEW big AS SELECT region FROM revenue WHERE total > 6;";

const REVENUE: &str = "CREATE MATERIALIZED VIEW revenue AS
  SELECT region, sum(amount) AS total FROM orders GROUP BY region;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_views_directory_is_applied_by_a_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "00_big.sql", BIG);
    write(dir.path(), "10_tables.sql", TABLES);
    write(dir.path(), "20_revenue.sql", REVENUE);
    let mut config = common::config(2);
    config.views_dir = Some(dir.path().to_path_buf());
    let mut eddy = Eddy::start(config).unwrap_or_else(|e| panic!("start: {e:#}"));
    let client = eddy.connect().await.expect("connect");
    assert_eq!(
        flat(&client, "SELECT * FROM revenue ORDER BY 1").await,
        ["eu 17", "us 5"]
    );
    assert_eq!(flat(&client, "SELECT * FROM big").await, ["eu"]);

    // Nothing changed: the plan says so, whitespace and comments aside.
    write(
        dir.path(),
        "20_revenue.sql",
        &format!(
            "-- revenue per region\n{}\n\n",
            REVENUE.replace("  ", "    ")
        ),
    );
    let (ok, out) = apply(&eddy, dir.path(), &["--dry-run"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("= unchanged materialized view revenue"),
        "{out}"
    );
    assert!(
        out.contains("= insert seed data orders (applied before)"),
        "{out}"
    );
    assert!(
        out.contains("0 to add, 0 to replace or rebuild, 0 to drop"),
        "{out}"
    );

    // A changed view: replaced, its reader rebuilt, and a reader in a loop never sees
    // an error or a mix meanwhile.
    write(
        dir.path(),
        "20_revenue.sql",
        "CREATE MATERIALIZED VIEW revenue AS SELECT region, sum(amount) * 10 AS total FROM orders GROUP BY region;",
    );
    write(
        dir.path(),
        "30_counts.sql",
        "CREATE VIEW counts AS SELECT count(*) AS n FROM revenue;",
    );
    let (ok, out) = apply(&eddy, dir.path(), &["--dry-run"]);
    assert!(ok, "{out}");
    assert!(out.contains("~ replace materialized view revenue"), "{out}");
    assert!(out.contains("~ rebuild materialized view big"), "{out}");
    assert!(out.contains("+ create view counts"), "{out}");
    assert_eq!(
        flat(&client, "SELECT * FROM revenue ORDER BY 1").await,
        ["eu 17", "us 5"],
        "a dry run changes nothing"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let client = eddy.connect().await.expect("connect");
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let got = flat(&client, "SELECT (SELECT string_agg(region || total, ',' ORDER BY region) FROM revenue), (SELECT string_agg(region, ',') FROM big)").await;
                assert!(
                    got == ["eu17,us5 eu"] || got == ["eu170,us50 eu,us"],
                    "a read during the swap saw {got:?}"
                );
                reads += 1;
            }
            reads
        })
    };
    let (ok, out) = apply(&eddy, dir.path(), &["--yes"]);
    assert!(ok, "{out}");
    stop.store(true, Ordering::Relaxed);
    assert!(reader.await.expect("reader") > 0);
    assert_eq!(
        flat(&client, "SELECT * FROM revenue ORDER BY 1").await,
        ["eu 170", "us 50"]
    );
    assert_eq!(
        flat(&client, "SELECT * FROM big ORDER BY 1").await,
        ["eu", "us"]
    );
    assert_eq!(flat(&client, "SELECT * FROM counts").await, ["2"]);
    // Seed data ran once.
    assert_eq!(flat(&client, "SELECT count(*) FROM orders").await, ["3"]);

    // A broken file: an error with its file and line, and nothing of the plan applied.
    write(
        dir.path(),
        "40_new.sql",
        "CREATE VIEW fine AS SELECT 1 AS one;",
    );
    write(
        dir.path(),
        "50_bad.sql",
        "\n\nCREATE VIEW broken AS SELECT nope FROM orders;",
    );
    let (ok, out) = apply(&eddy, dir.path(), &["--yes"]);
    assert!(!ok, "{out}");
    assert!(out.contains("50_bad.sql:3"), "{out}");
    let views = flat(&client, "SHOW VIEWS").await;
    assert!(!views.iter().any(|v| v.starts_with("fine")), "{views:?}");
    // A cycle, likewise.
    write(
        dir.path(),
        "50_bad.sql",
        "CREATE VIEW a AS SELECT * FROM b; CREATE VIEW b AS SELECT * FROM a;",
    );
    let (ok, out) = apply(&eddy, dir.path(), &["--yes"]);
    assert!(
        !ok && out.contains("cycle") && out.contains("50_bad.sql:1"),
        "{out}"
    );
    std::fs::remove_file(dir.path().join("50_bad.sql")).unwrap();

    // --prune drops what the files no longer define.
    std::fs::remove_file(dir.path().join("30_counts.sql")).unwrap();
    let (ok, out) = apply(&eddy, dir.path(), &["--yes", "--prune"]);
    assert!(ok, "{out}");
    assert!(out.contains("- drop view counts"), "{out}");
    let views = flat(&client, "SHOW VIEWS").await;
    assert_eq!(views, ["fine ready"]);

    // Without --yes: the new versions are built, their difference shown, and the swap
    // waits for the answer; 'no' leaves the old versions serving.
    write(
        dir.path(),
        "20_revenue.sql",
        "CREATE MATERIALIZED VIEW revenue AS SELECT region, sum(amount) * 100 AS total FROM orders GROUP BY region;",
    );
    let (ok, out) = apply_answering(&eddy, dir.path(), &[], "no\n");
    assert!(!ok, "{out}");
    assert!(
        out.contains("Δ revenue: diff +2 rows -2 rows") && out.contains("+ (eu, 1700)"),
        "{out}"
    );
    assert_eq!(
        flat(&client, "SELECT * FROM revenue ORDER BY 1").await,
        ["eu 170", "us 50"]
    );
    let (ok, out) = apply_answering(&eddy, dir.path(), &[], "yes\n");
    assert!(ok && out.contains("Swapped."), "{out}");
    // Nothing is left building or held.
    let metrics = eddy.http_get("/metrics").expect("metrics").body;
    for line in ["eddy_view_versions_building 0", "eddy_view_swaps_held 0"] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
    assert_eq!(
        flat(&client, "SELECT * FROM revenue ORDER BY 1").await,
        ["eu 1700", "us 500"]
    );
    assert_eq!(
        flat(&client, "SELECT * FROM big ORDER BY 1").await,
        ["eu", "us"]
    );

    // A restart applies the same directory: nothing changes, seeds stay once.
    eddy.kill9().expect("kill");
    eddy.restart().expect("restart");
    let client = eddy.connect().await.expect("connect");
    assert_eq!(flat(&client, "SELECT count(*) FROM orders").await, ["3"]);
    assert_eq!(
        flat(&client, "SELECT * FROM revenue ORDER BY 1").await,
        ["eu 1700", "us 500"]
    );
    let health = eddy.http_get("/health").expect("health");
    assert_eq!(health.status, 200, "{}", health.body);
}

/// Waits until `check` holds, polling every 100 ms for up to 20 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn watch_applies_changed_files_and_health_reports_a_broken_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "10_tables.sql", TABLES);
    write(dir.path(), "20_revenue.sql", REVENUE);
    let mut config = common::config(1);
    config.views_dir = Some(dir.path().to_path_buf());
    config.extra_args = vec!["--watch".into()];
    let eddy = Eddy::start(config).unwrap_or_else(|e| panic!("start: {e:#}"));
    let client = eddy.connect().await.expect("connect");
    assert_eq!(
        flat(&client, "SELECT * FROM revenue ORDER BY 1").await,
        ["eu 17", "us 5"]
    );

    write(
        dir.path(),
        "20_revenue.sql",
        "CREATE MATERIALIZED VIEW revenue AS SELECT region, max(amount) AS total FROM orders GROUP BY region;",
    );
    eventually("the changed view is applied", || async {
        flat(&client, "SELECT * FROM revenue ORDER BY 1").await == ["eu 10", "us 5"]
    })
    .await;

    write(
        dir.path(),
        "30_bad.sql",
        "CREATE VIEW bad AS SELECT nope FROM orders;",
    );
    eventually("/health reports the broken file", || async {
        let health = eddy.http_get("/health").expect("health");
        health.status == 503 && health.body.contains("30_bad.sql:1")
    })
    .await;
    // The last good catalog keeps serving, and SHOW VIEWS says why the files are not
    // what it serves.
    assert_eq!(
        flat(&client, "SELECT * FROM revenue ORDER BY 1").await,
        ["eu 10", "us 5"]
    );
    let failed =
        "the views directory failed to apply: 30_bad.sql:1: column \"nope\" does not exist";
    assert_eq!(
        flat(&client, "SHOW VIEWS").await,
        [format!(
            "bad not applied: {}",
            failed.trim_start_matches("the views directory failed to apply: ")
        )]
    );
    assert_eq!(
        flat(&client, "SHOW MATERIALIZED VIEWS").await,
        [format!("revenue serving its earlier definition: {failed}")]
    );

    std::fs::remove_file(dir.path().join("30_bad.sql")).unwrap();
    eventually("/health is fine again", || async {
        eddy.http_get("/health").expect("health").status == 200
    })
    .await;
    assert_eq!(
        flat(&client, "SHOW MATERIALIZED VIEWS").await,
        ["revenue ready"]
    );
    assert!(flat(&client, "SHOW VIEWS").await.is_empty());
}

/// `eddy diff VIEW` rebuilds a view from the log beside the serving one and compares
/// them; `eddy replay VIEW` does the same and swaps, after asking (or at once with
/// --yes). Both go through `REPLAY MATERIALIZED VIEW [WITH (HOLD = true)]`.
#[tokio::test]
async fn replay_and_diff_rebuild_a_view_from_the_log() {
    let eddy = common::start_eddy(2);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE orders (id int PRIMARY KEY, region text, amount int);
             INSERT INTO orders SELECT i, 'r' || (i % 7), i FROM generate_series(1, 5000) i;
             DELETE FROM orders WHERE id % 3 = 0;
             UPDATE orders SET amount = amount * 2 WHERE id % 5 = 0;
             CREATE MATERIALIZED VIEW revenue AS SELECT region, sum(amount) AS total FROM orders GROUP BY region;",
        )
        .await
        .expect("setup");
    let before = flat(&client, "SELECT * FROM revenue ORDER BY 1").await;

    let (ok, out) = client_command(&eddy, "diff", &["revenue"], "");
    assert!(ok, "{out}");
    assert!(out.contains("Δ revenue: diff +0 rows -0 rows"), "{out}");
    assert!(
        out.contains("No difference: revenue equals its recomputation from the log."),
        "{out}"
    );
    // Nothing was swapped or left behind.
    assert_eq!(
        flat(&client, "SHOW MATERIALIZED VIEWS").await,
        ["revenue ready"]
    );

    // Asked, and not answered yes: the serving version stays.
    let (ok, out) = client_command(&eddy, "replay", &["revenue"], "no\n");
    assert!(!ok && out.contains("not swapped"), "{out}");
    assert_eq!(
        flat(&client, "SHOW MATERIALIZED VIEWS").await,
        ["revenue ready"]
    );
    let (ok, out) = client_command(&eddy, "replay", &["revenue"], "yes\n");
    assert!(ok && out.contains("Swapped."), "{out}");
    let (ok, out) = client_command(&eddy, "replay", &["revenue", "--yes"], "");
    assert!(ok && out.contains("Replayed and swapped"), "{out}");
    assert_eq!(
        flat(&client, "SELECT * FROM revenue ORDER BY 1").await,
        before
    );
    // The rebuilt version keeps up with writes.
    client
        .batch_execute("INSERT INTO orders VALUES (100000, 'r0', 1)")
        .await
        .expect("insert");
    assert_eq!(
        flat(&client, "SELECT sum(total) FROM revenue").await,
        flat(&client, "SELECT sum(amount) FROM orders").await
    );

    // Errors a user can act on.
    let (ok, out) = client_command(&eddy, "diff", &["nope"], "");
    assert!(!ok && out.contains("42P01"), "{out}");
    let (ok, out) = client_command(&eddy, "diff", &["orders"], "");
    assert!(!ok && out.contains("42809"), "{out}");
}

/// A Postgres source in a views directory: found upstream while the plan is checked
/// (so the views over its tables are checked too, and nothing is made upstream by a
/// dry run or a failed plan), created by the apply, unchanged after, refused when
/// changed, and dropped with its tables and replication slot by `--prune`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_source_in_a_views_directory() {
    let pg = eddy_testkit::Postgres::start().expect("start postgres");
    let upstream = pg.connect().await.expect("connect to postgres");
    upstream
        .batch_execute(
            "CREATE TABLE orders (id int PRIMARY KEY, region text, amount int);
             INSERT INTO orders VALUES (1, 'eu', 10), (2, 'us', 5), (3, 'eu', 7);
             CREATE PUBLICATION pub FOR ALL TABLES;",
        )
        .await
        .expect("upstream");
    let slots = || async { flat(&upstream, "SELECT count(*) FROM pg_replication_slots").await };
    let source = format!(
        "CREATE SOURCE shop FROM POSTGRES WITH (CONNECTION = 'host=127.0.0.1 port={} user=postgres dbname=postgres', PUBLICATION = 'pub');",
        pg.port()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    // Named to sort first: the view is ordered after the source that makes its table.
    write(
        dir.path(),
        "00_revenue.sql",
        "CREATE MATERIALIZED VIEW revenue AS SELECT region, sum(amount) AS total FROM shop.orders GROUP BY region;",
    );
    write(dir.path(), "10_shop.sql", &source);
    write(
        dir.path(),
        "20_bad.sql",
        "CREATE VIEW bad AS SELECT * FROM shop.missing;",
    );
    let eddy = Eddy::start(common::config(1)).unwrap_or_else(|e| panic!("start: {e:#}"));
    let client = eddy.connect().await.expect("connect");

    // A view over a table the source does not have fails the whole plan, by file and
    // line, and nothing is made here or upstream.
    let (ok, out) = apply(&eddy, dir.path(), &["--yes"]);
    assert!(!ok, "{out}");
    assert!(out.contains("20_bad.sql:1"), "{out}");
    assert!(out.contains("shop.missing"), "{out}");
    assert!(flat(&client, "SHOW SOURCES").await.is_empty());
    assert_eq!(slots().await, ["0"]);

    std::fs::remove_file(dir.path().join("20_bad.sql")).expect("remove");
    let (ok, out) = apply(&eddy, dir.path(), &["--dry-run"]);
    assert!(ok, "{out}");
    assert!(out.contains("+ create source shop"), "{out}");
    assert!(out.contains("+ create materialized view revenue"), "{out}");
    assert_eq!(slots().await, ["0"], "a dry run makes nothing upstream");

    let (ok, out) = apply(&eddy, dir.path(), &["--yes"]);
    assert!(ok, "{out}");
    // The source's snapshot arrives on its own time, as for CREATE SOURCE over psql.
    eventually("the view shows the snapshot", || async {
        flat(&client, "SELECT * FROM revenue ORDER BY 1").await == ["eu 17", "us 5"]
    })
    .await;
    upstream
        .batch_execute("INSERT INTO orders VALUES (4, 'us', 1)")
        .await
        .expect("insert upstream");
    eventually("the view follows upstream", || async {
        flat(&client, "SELECT * FROM revenue ORDER BY 1").await == ["eu 17", "us 6"]
    })
    .await;
    assert_eq!(slots().await, ["1"]);

    let (ok, out) = apply(&eddy, dir.path(), &["--dry-run"]);
    assert!(ok, "{out}");
    assert!(out.contains("= unchanged source shop"), "{out}");
    assert!(
        out.contains("= unchanged materialized view revenue"),
        "{out}"
    );

    // A changed source is refused, by file and line; nothing changes.
    write(
        dir.path(),
        "10_shop.sql",
        &source.replace("PUBLICATION = 'pub'", "PUBLICATION = 'pub2'"),
    );
    let (ok, out) = apply(&eddy, dir.path(), &["--yes"]);
    assert!(!ok, "{out}");
    assert!(out.contains("10_shop.sql:1"), "{out}");
    assert!(out.contains("changing a source is not supported"), "{out}");

    // Without the source (and its reader) in the files, --prune drops both, the
    // source's table and its slot upstream.
    std::fs::remove_file(dir.path().join("10_shop.sql")).expect("remove");
    std::fs::remove_file(dir.path().join("00_revenue.sql")).expect("remove");
    write(dir.path(), "00_t.sql", "CREATE TABLE t (x int);");
    let (ok, out) = apply(&eddy, dir.path(), &["--prune", "--yes"]);
    assert!(ok, "{out}");
    assert!(out.contains("- drop source shop"), "{out}");
    assert!(out.contains("- drop table shop.orders"), "{out}");
    assert!(out.contains("- drop materialized view revenue"), "{out}");
    assert!(flat(&client, "SHOW SOURCES").await.is_empty());
    eventually("the slot is dropped upstream", || async {
        slots().await == ["0"]
    })
    .await;
}
