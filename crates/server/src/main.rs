//! The `eddy` binary: command line, wiring of the coordinator, the pgwire server and
//! the HTTP endpoint, and clean shutdown on Ctrl-C / SIGTERM.

mod http;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing::{info, warn};

/// mimalloc returns freed memory to the system and fragments less than the system
/// allocator under many threads, which keeps resident memory close to live data.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Eddy: SQL views over tables, kept up to date incrementally, served over the
/// Postgres wire protocol.
#[derive(Parser, Debug)]
#[command(name = "eddy", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the server: pgwire for psql and drivers, HTTP for /health and /metrics.
    Serve(ServeArgs),
    /// Move a running server's catalog to what a directory of .sql files defines:
    /// prints the plan (+ create, ~ replace, = unchanged, - drop), asks, applies.
    Apply(ApplyArgs),
    /// Rebuild a materialized view from its inputs beside the serving version (the
    /// fix after a bug or a suspected corruption): shows how the rows differ, asks,
    /// swaps.
    Replay(ReplayArgs),
    /// Rebuild a materialized view from its inputs beside the serving version and
    /// print how the two differ, without swapping (exit status 1 when they differ).
    Diff(DiffArgs),
}

#[derive(clap::Args, Debug)]
struct ReplayArgs {
    /// The materialized view.
    view: String,
    /// The server.
    #[arg(long, default_value = "postgres://eddy@127.0.0.1:6875/eddy")]
    url: String,
    /// Swap without showing the difference or asking.
    #[arg(long)]
    yes: bool,
}

#[derive(clap::Args, Debug)]
struct DiffArgs {
    /// The materialized view.
    view: String,
    /// The server.
    #[arg(long, default_value = "postgres://eddy@127.0.0.1:6875/eddy")]
    url: String,
}

#[derive(clap::Args, Debug)]
struct ApplyArgs {
    /// The directory of .sql files (CREATE SCHEMA | TABLE | STREAM | [MATERIALIZED]
    /// VIEW | SINK, and INSERTs as seed data applied once).
    dir: PathBuf,
    /// The server to apply to.
    #[arg(long, default_value = "postgres://eddy@127.0.0.1:6875/eddy")]
    url: String,
    /// Only print the plan.
    #[arg(long)]
    dry_run: bool,
    /// Also drop what the files no longer define.
    #[arg(long)]
    prune: bool,
    /// Apply without asking.
    #[arg(long)]
    yes: bool,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Directory for the durable log and catalog (created if missing).
    #[arg(long, default_value = "./eddy-data")]
    data_dir: PathBuf,
    /// Address for the Postgres wire protocol (psql -h HOST -p PORT).
    #[arg(long, default_value = "127.0.0.1:6875")]
    pg_addr: SocketAddr,
    /// Address for HTTP: GET /health and GET /metrics.
    #[arg(long, default_value = "127.0.0.1:6876")]
    http_addr: SocketAddr,
    /// Number of dataflow worker threads [default: the number of cores].
    #[arg(long)]
    workers: Option<usize>,
    /// A directory of .sql files applied at start as the desired catalog (the same
    /// plan as `eddy apply`: create, replace changed views blue/green, seed INSERTs
    /// once); if it cannot be applied, nothing of it is, and /health says why.
    #[arg(long)]
    views: Option<PathBuf>,
    /// With --views: apply the directory again whenever its files change.
    #[arg(long, requires = "views")]
    watch: bool,
    /// Fail a one-off query or a subscription (53200) once its dataflow holds this many records in its
    /// arrangements; 0 for no limit. Materialized views are never limited.
    #[arg(long, default_value_t = eddy_coord::CoordConfig::DEFAULT_QUERY_MAX_RECORDS)]
    query_max_records: u64,
    /// Fail a one-off query (53200) once its arrangements have taken in this many bytes
    /// of rows; 0 for no limit. Materialized views are never limited.
    #[arg(long, default_value_t = eddy_coord::CoordConfig::DEFAULT_QUERY_MAX_BYTES)]
    query_max_bytes: u64,
    /// Drop a subscription (SUBSCRIBE) with 53200 once this many of its updates are
    /// waiting for a client that does not read them.
    #[arg(long, default_value_t = eddy_coord::CoordConfig::DEFAULT_SUBSCRIBE_MAX_BUFFERED_RECORDS)]
    subscribe_max_buffered_records: u64,
    /// Return freed memory to the system at once, so resident memory drops back after a
    /// large one-off query (sets MIMALLOC_PURGE_DELAY=0; costs up to ~40% of ingest
    /// throughput). Without it, freed memory stays with the process and is reused.
    #[arg(long)]
    purge_freed_memory: bool,
    /// Kafka brokers (host:port,...) for streams and tables that name none in their
    /// WITH (KAFKA_BROKERS = ...) option.
    #[arg(long)]
    kafka_brokers: Option<String>,
    /// Compact the log into a snapshot after this many table updates (and at shutdown).
    #[arg(long, default_value_t = eddy_coord::CoordConfig::DEFAULT_SNAPSHOT_ROWS, hide = true)]
    snapshot_rows: u64,
}

/// `--purge-freed-memory`: mimalloc purges freed pages only when the thread that freed
/// them allocates again after `MIMALLOC_PURGE_DELAY` ms; an idle timely worker never
/// does, so the memory of a finished one-off query stays resident (and is reused).
/// With a delay of 0, freed pages go back at once, at a cost in throughput. The option
/// is read from the environment when the allocator starts, before `main`, so the
/// process re-executes itself once with it set (the user's own setting wins).
fn purge_freed_memory_promptly() -> anyhow::Result<()> {
    const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";
    if std::env::var_os(PURGE_DELAY).is_some() {
        return Ok(());
    }
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(PURGE_DELAY, "0")
        .exec();
    Err(anyhow::anyhow!("could not re-execute eddy: {err}"))
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            if args.purge_freed_memory {
                purge_freed_memory_promptly()?;
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("eddy-io")
                .enable_all()
                .build()?;
            runtime.block_on(serve(args))
        }
        Command::Apply(args) => client_runtime()?.block_on(views::apply_command(
            &args.dir,
            &args.url,
            args.dry_run,
            args.prune,
            args.yes,
        )),
        Command::Replay(args) => {
            client_runtime()?.block_on(views::replay_command(&args.view, &args.url, args.yes))
        }
        Command::Diff(args) => {
            client_runtime()?.block_on(views::diff_command(&args.view, &args.url))
        }
    }
}

/// The runtime of the client commands (`apply`, `replay`, `diff`).
fn client_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let workers = args
        .workers
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1);
    let pg_listener = tokio::net::TcpListener::bind(args.pg_addr)
        .await
        .with_context(|| format!("could not listen on --pg-addr {}", args.pg_addr))?;
    let http_listener = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("could not listen on --http-addr {}", args.http_addr))?;
    let health = Arc::new(http::Health::default());
    let metrics_slot: Arc<std::sync::OnceLock<Arc<eddy_coord::Metrics>>> = Arc::default();
    tokio::spawn(http::serve(
        http_listener,
        Arc::clone(&health),
        Arc::clone(&metrics_slot),
    ));

    let started = eddy_coord::start(eddy_coord::CoordConfig {
        data_dir: args.data_dir.clone(),
        workers,
        snapshot_rows: args.snapshot_rows,
        query_max_records: (args.query_max_records > 0).then_some(args.query_max_records),
        query_max_bytes: (args.query_max_bytes > 0).then_some(args.query_max_bytes),
        kafka_brokers: args.kafka_brokers.clone(),
        subscribe_max_buffered_records: args.subscribe_max_buffered_records,
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let _ = metrics_slot.set(Arc::clone(&started.metrics));
    let client = started.client.clone();
    if let Some(dir) = &args.views {
        if let Err(error) = views::apply_dir(&client, dir).await? {
            *health
                .views_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(error);
        }
    }
    if let (true, Some(dir)) = (args.watch, &args.views) {
        tokio::spawn(views::watch(
            client.clone(),
            dir.clone(),
            Arc::clone(&health),
        ));
    }
    health.ready.store(true, Ordering::SeqCst);
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut shutdown_rx = shutdown_rx;
    let pg = tokio::spawn(eddy_pgwire::serve_with_shutdown(
        pg_listener,
        Arc::new(client.clone()),
        eddy_pgwire::PgwireConfig::default(),
        async move {
            let _ = shutdown_rx.wait_for(|stop| *stop).await;
        },
    ));
    println!(
        "eddy listening: pgwire {}, http {}, data {}, {} worker{}",
        args.pg_addr,
        args.http_addr,
        args.data_dir.display(),
        workers,
        if workers == 1 { "" } else { "s" }
    );
    shutdown_signal().await;
    info!("shutting down");
    health.ready.store(false, Ordering::SeqCst);
    let _ = shutdown_tx.send(true);
    match pg.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "pgwire server failed"),
        Err(e) => warn!(error = %e, "pgwire server task failed"),
    }
    client.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
