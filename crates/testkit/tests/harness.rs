//! Tests of the harness itself: private Postgres clusters, and the Eddy process driver's
//! error reporting. The driver against the real `eddy` binary is tested in
//! `crates/server/tests/harness.rs`.

use std::os::unix::fs::PermissionsExt;

use eddy_testkit::{query_rows, Eddy, EddyConfig, Postgres};

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
