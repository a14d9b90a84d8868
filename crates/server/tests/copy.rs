//! `COPY ... FROM STDIN` and `COPY ... TO STDOUT` through real clients: psql's `\copy`
//! (simple protocol) and tokio-postgres' `copy_in` / `copy_out` (extended protocol).
//! A load is all or nothing, and a bad line's error names its line and column.

mod common;

use futures::{SinkExt, TryStreamExt};
use tokio_postgres::GenericClient;

fn psql(eddy: &eddy_testkit::Eddy, args: &[&str]) -> std::process::Output {
    common::psql_command(eddy)
        .args(args)
        .output()
        .expect("running psql")
}

fn psql_ok(eddy: &eddy_testkit::Eddy, args: &[&str]) -> String {
    let out = psql(eddy, args);
    assert!(
        out.status.success(),
        "psql {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("psql prints UTF-8")
}

async fn count(client: &impl GenericClient, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)))
        .get(0)
}

#[tokio::test]
async fn psql_copy_both_ways_in_text_and_csv() {
    let eddy = common::start_eddy(1);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE t (id integer PRIMARY KEY, name text, amount numeric(10,2));
             CREATE TABLE u (id integer, name text, amount numeric(10,2))",
        )
        .await
        .expect("create");
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("in.txt");
    std::fs::write(&text, "1\tone\t1.50\n2\ttab\\there\t\\N\n3\t\\N\t3\n").expect("write");
    let out = psql_ok(
        &eddy,
        &["-c", &format!("\\copy t FROM '{}'", text.display())],
    );
    assert_eq!(out, "COPY 3\n");
    let rows: Vec<(i32, Option<String>, Option<String>)> = client
        .query("SELECT id, name, amount::text FROM t ORDER BY id", &[])
        .await
        .expect("select")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        [
            (1, Some("one".into()), Some("1.50".into())),
            (2, Some("tab\there".into()), None),
            (3, None, Some("3.00".into())),
        ]
    );

    // CSV with a header, a column list (the missing column is NULL) and a quoted
    // field holding the delimiter and a line break.
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "name,id\n\"a, \"\"b\"\"\nc\",10\n,11\n").expect("write");
    let out = psql_ok(
        &eddy,
        &[
            "-c",
            &format!(
                "\\copy u (name, id) FROM '{}' WITH (FORMAT csv, HEADER)",
                csv.display()
            ),
        ],
    );
    assert_eq!(out, "COPY 2\n");
    let rows: Vec<(i32, Option<String>, Option<String>)> = client
        .query("SELECT id, name, amount::text FROM u ORDER BY id", &[])
        .await
        .expect("select")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        [(10, Some("a, \"b\"\nc".into()), None), (11, None, None)]
    );

    // Out again: the text file reads back byte for byte, and CSV with a header.
    let back = dir.path().join("out.txt");
    let out = psql_ok(&eddy, &["-c", &format!("\\copy t TO '{}'", back.display())]);
    assert_eq!(out, "COPY 3\n");
    let mut lines: Vec<String> = std::fs::read_to_string(&back)
        .expect("read")
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        ["1\tone\t1.50", "2\ttab\\there\t\\N", "3\t\\N\t3.00"]
    );
    let back_csv = dir.path().join("out.csv");
    psql_ok(
        &eddy,
        &[
            "-c",
            &format!(
                "\\copy (SELECT id, name FROM u ORDER BY id) TO '{}' WITH (FORMAT csv, HEADER)",
                back_csv.display()
            ),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(&back_csv).expect("read"),
        "id,name\n10,\"a, \"\"b\"\"\nc\"\n11,\n"
    );

    // An empty result with a header: the header line, and `COPY 0`.
    let out = psql_ok(
        &eddy,
        &[
            "-c",
            "COPY (SELECT id, name FROM u WHERE id < 0) TO STDOUT (FORMAT csv, HEADER)",
        ],
    );
    assert_eq!(out, "id,name\n");
    let out = psql_ok(
        &eddy,
        &[
            "-c",
            &format!(
                "\\copy (SELECT id FROM u WHERE id < 0) TO '{}' CSV HEADER",
                back_csv.display()
            ),
        ],
    );
    assert_eq!(out, "COPY 0\n");

    // A primary key conflict writes nothing.
    let dup = dir.path().join("dup.txt");
    std::fs::write(&dup, "4\tfour\t4\n1\tagain\t1\n").expect("write");
    let out = psql(
        &eddy,
        &["-c", &format!("\\copy t FROM '{}'", dup.display())],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("duplicate key"), "{stderr}");
    assert_eq!(count(&client, "t").await, 3);
    // So does the same key twice in one load, even in identical lines.
    std::fs::write(&dup, "5\tfive\t5\n5\tfive\t5\n").expect("write");
    let out = psql(
        &eddy,
        &["-c", &format!("\\copy t FROM '{}'", dup.display())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("duplicate key"), "{stderr}");
    assert_eq!(count(&client, "t").await, 3);
}

#[tokio::test]
async fn a_bad_line_in_ten_thousand_writes_nothing_and_names_the_line() {
    let eddy = common::start_eddy(1);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute("CREATE TABLE big (id integer, amount integer)")
        .await
        .expect("create");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.csv");
    let mut data = String::new();
    for i in 1..=10_000 {
        if i == 5_000 {
            data.push_str("5000,x\n");
        } else {
            data.push_str(&format!("{i},{}\n", i * 2));
        }
    }
    std::fs::write(&file, &data).expect("write");
    let out = psql(
        &eddy,
        &[
            "-c",
            "\\set VERBOSITY verbose",
            "-c",
            &format!("\\copy big FROM '{}' CSV", file.display()),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERROR:  22P02: invalid input syntax for type integer: \"x\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("COPY big, line 5000, column amount: \"x\""),
        "{stderr}"
    );
    assert_eq!(count(&client, "big").await, 0);

    // Without the bad line, all 10,000 rows arrive.
    std::fs::write(&file, data.replace("5000,x\n", "5000,1\n")).expect("write");
    let out = psql_ok(
        &eddy,
        &["-c", &format!("\\copy big FROM '{}' CSV", file.display())],
    );
    assert_eq!(out, "COPY 10000\n");
    assert_eq!(count(&client, "big").await, 10_000);
}

#[tokio::test]
async fn tokio_postgres_copy_in_and_out() {
    let eddy = common::start_eddy(1);
    let mut client = eddy.connect().await.expect("connect");
    client
        .batch_execute("CREATE TABLE t (id integer NOT NULL, name text)")
        .await
        .expect("create");

    let sink = client
        .copy_in("COPY t FROM STDIN (FORMAT csv)")
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    futures::pin_mut!(sink);
    sink.send(&b"1,one\n2,"[..]).await.expect("send");
    sink.send(&b"two\n3,\n"[..]).await.expect("send");
    let n = sink
        .finish()
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    assert_eq!(n, 3);

    let stream = client
        .copy_out("COPY (SELECT id, name FROM t ORDER BY id) TO STDOUT")
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    let text: Vec<u8> = stream
        .try_fold(Vec::new(), |mut text, chunk| async move {
            text.extend_from_slice(&chunk);
            Ok(text)
        })
        .await
        .expect("copy out");
    assert_eq!(text, b"1\tone\n2\ttwo\n3\t\\N\n");

    // NOT NULL is enforced: nothing written, and the connection goes on.
    let sink = client
        .copy_in("COPY t (name) FROM STDIN")
        .await
        .expect("copy in");
    futures::pin_mut!(sink);
    sink.send(&b"four\n"[..]).await.expect("send");
    let err = sink.finish().await.expect_err("NOT NULL");
    assert_eq!(err.code().map(|c| c.code()), Some("23502"), "{err:?}");
    assert_eq!(count(&client, "t").await, 3);

    // Inside a block, COPY joins it: rolled back with it.
    let txn = client.transaction().await.expect("begin");
    let sink = txn.copy_in("COPY t FROM STDIN").await.expect("copy in");
    futures::pin_mut!(sink);
    sink.send(&b"7\tseven\n"[..]).await.expect("send");
    assert_eq!(sink.finish().await.expect("finish"), 1);
    assert_eq!(count(&txn, "t").await, 4);
    txn.rollback().await.expect("rollback");
    assert_eq!(count(&client, "t").await, 3);
}
