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
        .as_mut()
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

/// The resident memory of process `pid` in bytes (`VmRSS` of `/proc/PID/status`).
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// Samples the resident memory of `pid` every 10 ms until dropped; `peak` is the
/// largest sample.
struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(resident_bytes(pid));
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            peak.max(resident_bytes(pid))
        });
        RssSampler {
            stop,
            thread: Some(thread),
        }
    }

    fn peak(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().expect("thread").join().expect("sampler")
    }
}

/// The line of `big` for `id`: the id and a 1,000-character pad of one letter.
fn big_line(id: u64) -> String {
    let letter = char::from(b'a' + (id % 26) as u8);
    format!("{id}\t{}\n", letter.to_string().repeat(1_000))
}

/// Streams `rows` lines of [`big_line`] (with `replace` swapping some lines) into
/// `COPY table FROM STDIN` in 64 KiB messages; returns the sink, not yet finished.
async fn send_big(
    client: &tokio_postgres::Client,
    table: &str,
    rows: u64,
    replace: &dyn Fn(u64) -> Option<String>,
) -> (
    std::pin::Pin<Box<tokio_postgres::CopyInSink<bytes::Bytes>>>,
    u64,
) {
    let mut sink = Box::pin(
        client
            .copy_in(&format!("COPY {table} FROM STDIN"))
            .await
            .unwrap_or_else(|e| panic!("{}", common::describe_error(&e))),
    );
    let mut chunk = String::new();
    let mut sent = 0u64;
    for id in 1..=rows {
        chunk.push_str(&replace(id).unwrap_or_else(|| big_line(id)));
        if chunk.len() >= 64 << 10 || id == rows {
            sent += chunk.len() as u64;
            sink.send(bytes::Bytes::from(std::mem::take(&mut chunk)))
                .await
                .expect("send");
        }
    }
    (sink, sent)
}

/// A load much larger than the rows a load keeps in memory (64 MiB, then spilled to a
/// temporary file) streams: the server's resident memory grows far less than the data
/// while it arrives, and then every row is written.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_load_streams_in_bounded_memory() {
    let eddy = common::start_eddy(1);
    let pid = eddy.pid().expect("pid");
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute("CREATE TABLE big (id bigint NOT NULL, pad text)")
        .await
        .expect("create");
    // 256k lines of about 1 KB: 256 MB.
    let rows = 256_000u64;
    let before = resident_bytes(pid);
    let sampler = RssSampler::start(pid);
    let (mut sink, sent) = send_big(&client, "big", rows, &|_| None).await;
    let peak = sampler.peak();
    let growth = peak.saturating_sub(before);
    println!(
        "sent {} MiB; resident before {} MiB, peak while sending {} MiB (+{} MiB)",
        sent >> 20,
        before >> 20,
        peak >> 20,
        growth >> 20
    );
    assert!(
        growth < sent / 2,
        "resident memory grew by {growth} bytes while {sent} bytes of COPY data arrived"
    );
    let n = sink
        .as_mut()
        .finish()
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    assert_eq!(n, rows);
    println!("resident after the load: {} MiB", resident_bytes(pid) >> 20);
    let row = client
        .query_one(
            "SELECT count(*), sum(id)::bigint, sum(length(pad))::bigint,
                    count(*) FILTER (WHERE pad LIKE 'c%')
             FROM big",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    let (count, sum_ids, sum_lengths, c_pads): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let rows = rows as i64;
    assert_eq!(count, rows);
    assert_eq!(sum_ids, rows * (rows + 1) / 2);
    assert_eq!(sum_lengths, rows * 1_000);
    // ids with id % 26 == 2.
    assert_eq!(c_pads, (1..=rows).filter(|id| id % 26 == 2).count() as i64);
}

/// A bad line near the end of a load larger than what a load keeps in memory writes
/// nothing and is reported with its line and column, and so is a duplicate key; the
/// connection goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_bad_line_or_duplicate_key_at_the_end_of_a_spilled_load_writes_nothing() {
    let eddy = common::start_eddy(1);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute("CREATE TABLE big (id bigint PRIMARY KEY, pad text)")
        .await
        .expect("create");
    // 100k lines of about 1 KB: 100 MB, more than the 64 MiB kept in memory.
    let rows = 100_000u64;
    let bad_at = rows - 2;
    let (mut sink, _) = send_big(&client, "big", rows, &|id| {
        (id == bad_at).then(|| "x\tbad\n".to_string())
    })
    .await;
    let err = sink.as_mut().finish().await.expect_err("a bad line");
    let db = err.as_db_error().expect("a database error");
    assert_eq!(db.code().code(), "22P02", "{db:?}");
    assert_eq!(db.message(), "invalid input syntax for type bigint: \"x\"");
    assert_eq!(
        db.detail(),
        Some(format!("COPY big, line {bad_at}, column id: \"x\"").as_str())
    );
    assert_eq!(count(&client, "big").await, 0);

    let (mut sink, _) = send_big(&client, "big", rows, &|id| {
        (id == bad_at).then(|| big_line(17))
    })
    .await;
    let err = sink.as_mut().finish().await.expect_err("a duplicate key");
    assert_eq!(err.code().map(|c| c.code()), Some("23505"), "{err:?}");
    assert_eq!(count(&client, "big").await, 0);

    // Without them, all rows arrive.
    let (mut sink, _) = send_big(&client, "big", rows, &|_| None).await;
    assert_eq!(sink.as_mut().finish().await.expect("finish"), rows);
    assert_eq!(count(&client, "big").await, rows as i64);
}

/// Sends `data` as CopyData messages of `size` bytes each (tokio-postgres sends each
/// `send` as one message), and finishes.
async fn copy_in_pieces(
    client: &tokio_postgres::Client,
    statement: &str,
    data: &[u8],
    size: usize,
) -> Result<u64, tokio_postgres::Error> {
    let sink = client.copy_in(statement).await?;
    futures::pin_mut!(sink);
    for piece in data.chunks(size) {
        sink.send(bytes::Bytes::copy_from_slice(piece)).await?;
    }
    sink.finish().await
}

/// Lines, CSV quoted fields holding a line break, UTF-8 characters and binary tuples
/// split across CopyData messages of 7 bytes decode as whole ones do.
#[tokio::test]
async fn lines_and_tuples_split_across_messages() {
    let eddy = common::start_eddy(1);
    let client = eddy.connect().await.expect("connect");
    client
        .batch_execute("CREATE TABLE s (id bigint, name text)")
        .await
        .expect("create");
    let text = "1\tone\n2\tt\\two\n3\t\\N\n4\tn\u{e9}e\u{1F600}\n".as_bytes();
    let n = copy_in_pieces(&client, "COPY s FROM STDIN", text, 7)
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    assert_eq!(n, 4);

    let csv = "id,name\n5,\"a quoted\nline, with \"\"quotes\"\"\"\n6,\n7,\"\"\n8,\u{e9}t\u{e9}\n"
        .as_bytes();
    let n = copy_in_pieces(&client, "COPY s FROM STDIN (FORMAT csv, HEADER)", csv, 7)
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    assert_eq!(n, 4);

    let mut binary = b"PGCOPY\n\xff\r\n\0".to_vec();
    binary.extend(0i32.to_be_bytes());
    binary.extend(0i32.to_be_bytes());
    for (id, name) in [
        (9i64, Some("nine\nlines")),
        (10, None),
        (11, Some("onze \u{e9}")),
    ] {
        binary.extend(2i16.to_be_bytes());
        binary.extend(8i32.to_be_bytes());
        binary.extend(id.to_be_bytes());
        match name {
            Some(name) => {
                binary.extend((name.len() as i32).to_be_bytes());
                binary.extend(name.as_bytes());
            }
            None => binary.extend((-1i32).to_be_bytes()),
        }
    }
    binary.extend((-1i16).to_be_bytes());
    let n = copy_in_pieces(&client, "COPY s FROM STDIN (FORMAT binary)", &binary, 7)
        .await
        .unwrap_or_else(|e| panic!("{}", common::describe_error(&e)));
    assert_eq!(n, 3);

    let got: Vec<(i64, Option<String>)> = client
        .query("SELECT id, name FROM s ORDER BY id", &[])
        .await
        .expect("select")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want: Vec<(i64, Option<&str>)> = vec![
        (1, Some("one")),
        (2, Some("t\two")),
        (3, None),
        (4, Some("n\u{e9}e\u{1F600}")),
        (5, Some("a quoted\nline, with \"quotes\"")),
        (6, None),
        (7, Some("")),
        (8, Some("\u{e9}t\u{e9}")),
        (9, Some("nine\nlines")),
        (10, None),
        (11, Some("onze \u{e9}")),
    ];
    let want: Vec<(i64, Option<String>)> = want
        .into_iter()
        .map(|(id, name)| (id, name.map(str::to_string)))
        .collect();
    assert_eq!(got, want);

    // A bad line split across messages is reported with its line, and writes nothing.
    let err = copy_in_pieces(
        &client,
        "COPY s FROM STDIN (FORMAT csv)",
        b"12,a\n13,\"b\nc\"\nx,d\n",
        7,
    )
    .await
    .expect_err("a bad line");
    let db = err.as_db_error().expect("a database error");
    assert_eq!(db.detail(), Some("COPY s, line 4, column id: \"x\""));
    assert_eq!(count(&client, "s").await, 11);
}
