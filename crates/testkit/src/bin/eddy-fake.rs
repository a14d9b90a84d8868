//! `eddy-fake`: a stand-in for the `eddy` binary, backed by Postgres.
//!
//! It accepts `eddy serve`'s command line (`--data-dir`, `--pg-addr`, `--http-addr`,
//! `--workers`, `--views`) and behaves like a server whose SQL engine is Postgres:
//!
//! - a Postgres cluster lives in `DATA_DIR/pg` (created on first start; after a SIGKILL
//!   of the fake its postmaster keeps running and the next start attaches to it, so the
//!   data survives like Eddy's does);
//! - `--pg-addr` forwards every connection to that cluster (role and database `eddy`),
//!   rewriting `MATERIALIZED VIEW` to `VIEW` in queries (simple `Query` and extended
//!   `Parse` messages): a plain Postgres view is always up to date, which is what an
//!   incrementally maintained view must look like from outside. Set
//!   `EDDY_FAKE_KEEP_MATERIALIZED=1` to forward queries unchanged;
//! - `--http-addr` serves `GET /health` (200) and `GET /metrics`;
//! - SIGTERM or SIGINT stops the cluster (`pg_ctl stop -m fast`) and exits 0.
//!
//! It exists to validate the test harness and the server's integration tests before the
//! real server can run them: `EDDY_TEST_BINARY=.../eddy-fake cargo test -p eddy-server`.
//! It is not a model of Eddy: Eddy-only statements (`SHOW TABLES`, ...) fail here.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use eddy_testkit::{materialized_as_plain_views, Cluster, PgBinaries};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

/// The largest message the proxy accepts from a client (Postgres' own limit is 1 GiB).
const MESSAGE_BYTES_MAX: usize = 64 << 20;

struct Args {
    data_dir: PathBuf,
    pg_addr: SocketAddr,
    http_addr: SocketAddr,
}

fn parse_args() -> Result<Args> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("serve") {
        bail!("usage: eddy-fake serve [--data-dir DIR] [--pg-addr ADDR] [--http-addr ADDR] [--workers N] [--views DIR]");
    }
    let mut parsed = Args {
        data_dir: PathBuf::from("eddy-data"),
        pg_addr: "127.0.0.1:6875".parse()?,
        http_addr: "127.0.0.1:6876".parse()?,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--data-dir" => parsed.data_dir = PathBuf::from(value),
            "--pg-addr" => parsed.pg_addr = value.parse().context("--pg-addr")?,
            "--http-addr" => parsed.http_addr = value.parse().context("--http-addr")?,
            "--workers" | "--views" => {}
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eddy-fake: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let args = parse_args()?;
    let bins = PgBinaries::locate()?;
    std::fs::create_dir_all(&args.data_dir)?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    let root = data_dir.join("pg");
    make_traversable(&data_dir)?;
    let cluster = match Cluster::attach(&bins, &root)? {
        Some(cluster) => {
            eprintln!(
                "eddy-fake: attached to running postgres on port {}",
                cluster.port()
            );
            cluster
        }
        None => {
            if !root.join("data").join("PG_VERSION").exists() {
                Cluster::init(&bins, &root)?;
            }
            Cluster::start(&bins, &root)?
        }
    };
    ensure_eddy_database(&cluster).await?;

    let pg_listener = TcpListener::bind(args.pg_addr)
        .await
        .with_context(|| format!("binding {}", args.pg_addr))?;
    let http_listener = TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("binding {}", args.http_addr))?;
    eprintln!(
        "eddy-fake: pgwire on {}, http on {}, upstream postgres on port {}",
        args.pg_addr,
        args.http_addr,
        cluster.port()
    );
    let upstream_port = cluster.port();
    let rewrite = std::env::var_os("EDDY_FAKE_KEEP_MATERIALIZED").is_none();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = pg_listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                if let Err(e) = proxy(client, upstream_port, rewrite).await {
                    eprintln!("eddy-fake: connection ended: {e}");
                }
            });
        }
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = http_listener.accept().await else {
                continue;
            };
            tokio::spawn(serve_http(stream));
        }
    });

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!("eddy-fake: shutting down");
    cluster.stop("fast")?;
    Ok(())
}

/// Lets the postgres user (when we run as root) reach `dir` through its ancestors, which
/// test harnesses create with mode 0700: adds search (`o+x`) permission where missing.
fn make_traversable(dir: &Path) -> Result<()> {
    if !eddy_testkit::is_root() {
        return Ok(());
    }
    for ancestor in dir.ancestors() {
        let meta = std::fs::metadata(ancestor)?;
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            std::fs::set_permissions(ancestor, std::fs::Permissions::from_mode(mode | 0o001))?;
        }
    }
    Ok(())
}

/// Creates the superuser `eddy` and its database `eddy` unless they exist.
async fn ensure_eddy_database(cluster: &Cluster) -> Result<()> {
    let client = cluster.connect_as("postgres", "postgres").await?;
    client
        .batch_execute(
            "DO $$ BEGIN CREATE ROLE eddy SUPERUSER LOGIN; \
             EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        )
        .await?;
    let exists = !client
        .query("SELECT 1 FROM pg_database WHERE datname = 'eddy'", &[])
        .await?
        .is_empty();
    if !exists {
        client
            .batch_execute("CREATE DATABASE eddy OWNER eddy")
            .await?;
    }
    Ok(())
}

/// Forwards one client connection to the upstream cluster.
async fn proxy(client: TcpStream, upstream_port: u16, rewrite: bool) -> Result<()> {
    let upstream = TcpStream::connect(("127.0.0.1", upstream_port)).await?;
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    let (client_read, mut client_write) = client.into_split();
    let (mut upstream_read, upstream_write) = upstream.into_split();
    let to_client =
        tokio::spawn(async move { tokio::io::copy(&mut upstream_read, &mut client_write).await });
    let result = forward_client_messages(client_read, upstream_write, rewrite).await;
    to_client.abort();
    result
}

/// Copies the client's messages to the server, one at a time: first the untyped
/// start-up phase (SSL and GSS requests, the startup message or a cancel request), then
/// typed messages, rewriting the SQL of `Query` and `Parse` messages.
async fn forward_client_messages(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    rewrite: bool,
) -> Result<()> {
    const CANCEL_REQUEST: i32 = 80877102;
    const SSL_REQUEST: i32 = 80877103;
    const GSS_REQUEST: i32 = 80877104;
    loop {
        let len = from.read_i32().await?;
        let body = read_body(&mut from, len).await?;
        let mut message = len.to_be_bytes().to_vec();
        message.extend_from_slice(&body);
        to.write_all(&message).await?;
        let code = body
            .get(..4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        match code {
            Some(SSL_REQUEST) | Some(GSS_REQUEST) => continue,
            Some(CANCEL_REQUEST) => return Ok(()),
            _ => break,
        }
    }
    loop {
        let tag = match from.read_u8().await {
            Ok(tag) => tag,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let len = from.read_i32().await?;
        let mut body = read_body(&mut from, len).await?;
        if rewrite {
            body = match tag {
                b'Q' => rewrite_cstring_at(&body, 0),
                b'P' => match body.iter().position(|b| *b == 0) {
                    Some(name_end) => rewrite_cstring_at(&body, name_end + 1),
                    None => body,
                },
                _ => body,
            };
        }
        let mut message = Vec::with_capacity(body.len() + 5);
        message.push(tag);
        message.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        message.extend_from_slice(&body);
        to.write_all(&message).await?;
    }
}

async fn read_body(from: &mut OwnedReadHalf, len: i32) -> Result<Vec<u8>> {
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (4..=MESSAGE_BYTES_MAX).contains(l));
    let Some(len) = len else {
        bail!("bad message length")
    };
    let mut body = vec![0; len - 4];
    from.read_exact(&mut body).await?;
    Ok(body)
}

/// Rewrites the NUL-terminated SQL text starting at `start` in `body`.
fn rewrite_cstring_at(body: &[u8], start: usize) -> Vec<u8> {
    let Some(len) = body
        .get(start..)
        .and_then(|rest| rest.iter().position(|b| *b == 0))
    else {
        return body.to_vec();
    };
    let Ok(sql) = std::str::from_utf8(&body[start..start + len]) else {
        return body.to_vec();
    };
    let mut out = body[..start].to_vec();
    out.extend_from_slice(materialized_as_plain_views(sql).as_bytes());
    out.extend_from_slice(&body[start + len..]);
    out
}

/// Answers one HTTP request: `/health` and `/metrics`, 404 otherwise.
async fn serve_http(mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match path {
        "/health" => ("200 OK", "ok\n".to_string()),
        "/metrics" => (
            "200 OK",
            "# HELP eddy_fake_up the stand-in server is up\neddy_fake_up 1\n".to_string(),
        ),
        _ => ("404 Not Found", "not found\n".to_string()),
    };
    let response = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
