//! The testkit's Eddy process driver against the real `eddy` binary: readiness,
//! SIGKILL and restart on the same data directory, SIGTERM stop, and the exit status
//! check.

use std::os::unix::fs::PermissionsExt;

use eddy_testkit::{query_rows, Eddy, EddyConfig};

const EDDY: &str = env!("CARGO_BIN_EXE_eddy");

#[tokio::test]
async fn eddy_driver_survives_kill9_and_stops_cleanly() {
    let mut eddy = Eddy::start(EddyConfig::new(EDDY).workers(2)).expect("start eddy");
    assert_eq!(eddy.http_get("/health").unwrap().status, 200);
    assert!(eddy
        .http_get("/metrics")
        .unwrap()
        .body
        .contains("eddy_rows_ingested_total"));
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
fn stop_fails_when_the_server_exits_nonzero_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // A "server" that is healthy (it delegates to eddy) but exits 7 on SIGTERM.
    let script = dir.path().join("grumpy-eddy");
    std::fs::write(
        &script,
        format!("#!/bin/bash\n\"{EDDY}\" \"$@\" &\nchild=$!\ntrap 'kill -TERM $child; wait $child; exit 7' TERM\nwait $child\n"),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut eddy = Eddy::start(EddyConfig::new(&script)).expect("start");
    let err = eddy.stop().expect_err("stop reports the exit status");
    assert!(format!("{err:#}").contains("expected 0"), "{err:#}");
}
