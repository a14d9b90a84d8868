//! Go's pgx driver (fetched through the Go module proxy on first use): a batch of
//! prepared INSERTs, `CopyFrom` (binary COPY, sent without a trailer), a `CopyFrom`
//! that fails part-way and writes nothing, and typed reads with an array parameter,
//! run by `tests/go/pgxprobe`.

mod common;

use std::path::Path;
use std::process::Command;

use common::run_command as run;

#[test]
fn pgx_batches_copy_from_and_typed_reads() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/go/pgxprobe");
    let dir = tempfile::tempdir().expect("tempdir");
    let probe = dir.path().join("pgxprobe");
    run(
        Command::new("go")
            .args(["build", "-o"])
            .arg(&probe)
            .arg(".")
            .current_dir(&source),
        "go build",
    );
    let eddy = common::start_eddy(2);
    let url = format!(
        "postgres://eddy@127.0.0.1:{}/eddy?sslmode=disable",
        eddy.pg_port()
    );
    let out = run(Command::new(&probe).arg(url), "pgxprobe");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "OK batch 100",
            "OK copy 1000 1100",
            "FAIL copy 23505 1100",
            "OK sum 1237.5",
            "OK row 2 item 2 false false",
            "OK row 1000 copied 1000 true true",
        ]
    );
}
