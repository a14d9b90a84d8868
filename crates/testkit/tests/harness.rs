//! Tests of the harness itself: private Postgres clusters, and the Eddy process driver
//! run against `eddy-fake` (this crate's Postgres-backed stand-in for `eddy`).

use std::os::unix::fs::PermissionsExt;

use eddy_testkit::{query_rows, Eddy, EddyConfig, Postgres};

const FAKE: &str = env!("CARGO_BIN_EXE_eddy-fake");

async fn show(client: &tokio_postgres::Client, setting: &str) -> String {
    let rows = query_rows(client, &format!("SHOW {setting}"))
        .await
        .unwrap();
    rows[0][0].clone().unwrap()
}

#[tokio::test]
async fn postgres_cluster_is_configured_and_removed_on_drop() {
    let pg = Postgres::start().expect("start postgres");
    let client = pg.connect().await.expect("connect");
    assert_eq!(show(&client, "wal_level").await, "logical");
    assert_eq!(show(&client, "fsync").await, "off");
    assert_eq!(show(&client, "TimeZone").await, "UTC");
    assert_eq!(show(&client, "listen_addresses").await, "127.0.0.1");
    assert_eq!(show(&client, "server_encoding").await, "UTF8");
    assert!(pg.url().ends_with(&format!(":{}/postgres", pg.port())));
    let root = pg.cluster().root().to_path_buf();
    assert!(root.join("data").join("PG_VERSION").exists());
    drop(client);
    let port = pg.port();
    drop(pg);
    assert!(!root.exists(), "the cluster directory is deleted on drop");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server is stopped on drop"
    );
}

#[tokio::test]
async fn parallel_clusters_get_distinct_ports() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(Postgres::start);
        let b = s.spawn(Postgres::start);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert_ne!(a.port(), b.port());
    let ca = a.connect().await.unwrap();
    let cb = b.connect().await.unwrap();
    ca.batch_execute("CREATE TABLE only_in_a (x int)")
        .await
        .unwrap();
    cb.batch_execute("SELECT 1").await.unwrap();
    let err = cb
        .batch_execute("SELECT * FROM only_in_a")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE)
    );
}

#[tokio::test]
async fn eddy_driver_survives_kill9_and_stops_cleanly() {
    let mut eddy = Eddy::start(EddyConfig::new(FAKE).workers(2)).expect("start eddy-fake");
    assert_eq!(eddy.http_get("/health").unwrap().status, 200);
    assert!(eddy
        .http_get("/metrics")
        .unwrap()
        .body
        .contains("eddy_fake_up"));
    let client = eddy.connect().await.unwrap();
    client
        .batch_execute("CREATE TABLE t (x bigint); INSERT INTO t VALUES (1), (2)")
        .await
        .unwrap();
    let first_port = eddy.pg_port();

    eddy.kill9().unwrap();
    assert!(eddy.pid().is_none());
    assert!(
        client.simple_query("SELECT 1").await.is_err(),
        "the old connection is gone"
    );
    eddy.restart().unwrap();
    let client = eddy.connect().await.unwrap();
    let rows = query_rows(&client, "SELECT x FROM t").await.unwrap();
    assert_eq!(
        rows,
        vec![vec![Some("1".to_string())], vec![Some("2".to_string())]]
    );
    let _ = first_port;

    eddy.stop().expect("SIGTERM stop exits 0");
    eddy.restart().unwrap();
    let client = eddy.connect().await.unwrap();
    assert_eq!(
        query_rows(&client, "SELECT count(*) FROM t").await.unwrap()[0][0].as_deref(),
        Some("2")
    );
    let log = std::fs::read_to_string(eddy.log_path()).unwrap();
    assert!(
        log.contains("killed with SIGKILL") && log.contains("exited after SIGTERM"),
        "{log}"
    );
}

#[test]
fn failed_start_reports_the_log_tail() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("broken-eddy");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'boom: cannot open catalog' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = Eddy::start(EddyConfig::new(&script))
        .err()
        .expect("start fails");
    let message = format!("{err:#}");
    assert!(message.contains("exited before it was ready"), "{message}");
    assert!(message.contains("boom: cannot open catalog"), "{message}");
}

#[test]
fn stop_fails_when_the_server_exits_nonzero_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // A "server" that is healthy (it delegates to the fake) but exits 7 on SIGTERM.
    let script = dir.path().join("grumpy-eddy");
    std::fs::write(
        &script,
        format!("#!/bin/bash\n\"{FAKE}\" \"$@\" &\nchild=$!\ntrap 'kill -TERM $child; wait $child; exit 7' TERM\nwait $child\n"),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut eddy = Eddy::start(EddyConfig::new(&script)).expect("start");
    let err = eddy.stop().expect_err("stop reports the exit status");
    assert!(format!("{err:#}").contains("expected 0"), "{err:#}");
}
