//! The `eddy` binary: command line, wiring of the coordinator, the pgwire server and
//! the HTTP endpoint, and clean shutdown on Ctrl-C / SIGTERM.

mod http;
mod status;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing::{info, warn};

/// mimalloc returns freed memory to the system and fragments less than the system
/// allocator under many threads, which keeps resident memory close to live data.
///
/// It is built without transparent huge pages (the `no_thp` feature): asked for them,
/// it had the kernel zero (and, under `defrag=madvise`, compact for) a 2 MiB page for
/// each fresh region, and Kafka ingest spent a third of its CPU time in the kernel;
/// without them the same run takes a quarter less CPU (`eddy-bench --only kafka`).
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
    Serve(Box<ServeArgs>),
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
    /// Where in its streams the rebuilt view starts, by event time: 'earliest' (every
    /// event the streams hold), 'latest' (from now on) or a timestamp such as
    /// '2026-03-01 09:00:00+00'. Kept as the view's start. Without it, the view is
    /// rebuilt as it is defined.
    #[arg(long)]
    from: Option<String>,
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
    /// The directory of .sql files (CREATE SCHEMA | TABLE | STREAM | SOURCE ... FROM
    /// POSTGRES | [MATERIALIZED] VIEW | SINK, and INSERTs as seed data applied once).
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
    #[command(flatten)]
    security: SecurityArgs,
}

/// Who may connect over pgwire, and how.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Security")]
struct SecurityArgs {
    /// Require a password (SCRAM-SHA-256) of every pgwire client: FILE has one
    /// user:password line per user (split at the first colon; # starts a comment); a
    /// password may be a SCRAM-SHA-256$... verifier as Postgres stores it. Without this
    /// option, the environment variable EDDY_PASSWORD, if set, is the password of the
    /// one user `eddy`. With neither, any user name connects without a password.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Serve TLS (sslmode=require) with this PEM certificate chain; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Refuse pgwire connections without TLS (FATAL 28000).
    #[arg(long, requires = "tls_cert")]
    tls_required: bool,
    /// Listen on an address other than loopback without a password. Without this
    /// option, Eddy refuses to start on such an address unless a password is set.
    #[arg(long)]
    insecure_no_auth: bool,
    /// The most pgwire connections served at once; further clients get FATAL 53300
    /// `sorry, too many clients already`.
    #[arg(long, default_value_t = eddy_pgwire::PgwireConfig::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Close a session idle this long outside a transaction block (FATAL 57P05), as
    /// Postgres' idle_session_timeout: 500ms, 30s, 10min, 1h, or a number of
    /// milliseconds; 0 for never.
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    idle_session_timeout: Duration,
    /// Close a session idle this long inside a transaction block (FATAL 25P03), as
    /// Postgres' idle_in_transaction_session_timeout; 0 for never.
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    idle_in_transaction_session_timeout: Duration,
}

/// The environment variable that, without --password-file, holds the password of
/// user [`DEFAULT_USER`].
const PASSWORD_ENV: &str = "EDDY_PASSWORD";
/// The user of `EDDY_PASSWORD`, and of the default URLs of the client commands.
const DEFAULT_USER: &str = "eddy";

/// A duration as Postgres' settings take them: a number of milliseconds, or a number
/// and one of the units `us`, `ms`, `s`, `min`, `h`, `d`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let ms = eddy_coord::cancel::duration_millis(text)?;
    Duration::try_from_secs_f64(ms / 1_000.0)
        .map_err(|e| format!("invalid duration \"{}\": {e}", text.trim()))
}

impl SecurityArgs {
    /// The pgwire settings these options ask for; reads the password, certificate and
    /// key files, and refuses to serve without a password on an address other than
    /// loopback unless told to.
    fn pgwire_config(&self, pg_addr: SocketAddr) -> anyhow::Result<eddy_pgwire::PgwireConfig> {
        let env_password = std::env::var(PASSWORD_ENV).ok();
        let auth = match (&self.password_file, env_password) {
            (Some(_), Some(_)) => {
                anyhow::bail!("both --password-file and {PASSWORD_ENV} are set; use one of them")
            }
            (Some(path), None) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("could not read --password-file {}", path.display())
                })?;
                let passwords = eddy_pgwire::Passwords::parse_file(&text)
                    .with_context(|| format!("invalid --password-file {}", path.display()))?;
                eddy_pgwire::Auth::Password(Arc::new(passwords))
            }
            (None, Some(password)) if password.is_empty() => {
                anyhow::bail!("{PASSWORD_ENV} is set but empty")
            }
            (None, Some(password)) => eddy_pgwire::Auth::Password(Arc::new(
                eddy_pgwire::Passwords::single(DEFAULT_USER, &password),
            )),
            (None, None) => eddy_pgwire::Auth::Trust,
        };
        if matches!(auth, eddy_pgwire::Auth::Trust)
            && !pg_addr.ip().is_loopback()
            && !self.insecure_no_auth
        {
            anyhow::bail!(
                "refusing to listen on --pg-addr {pg_addr} without a password: anyone who \
                 can reach it could read and change every table\n\
                 HINT: set passwords with --password-file FILE or {PASSWORD_ENV}, listen on \
                 127.0.0.1, or pass --insecure-no-auth"
            );
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                let read = |path: &PathBuf, what: &str| {
                    std::fs::read(path)
                        .with_context(|| format!("could not read --{what} {}", path.display()))
                };
                let tls =
                    eddy_pgwire::Tls::from_pem(&read(cert, "tls-cert")?, &read(key, "tls-key")?)
                        .with_context(|| {
                            format!(
                                "invalid --tls-cert {} or --tls-key {}",
                                cert.display(),
                                key.display()
                            )
                        })?;
                Some(tls)
            }
            _ => None,
        };
        if tls.is_none() && !pg_addr.ip().is_loopback() {
            warn!(%pg_addr, "pgwire connections are not encrypted: set --tls-cert and --tls-key");
        }
        let zero_is_off = |timeout: Duration| (!timeout.is_zero()).then_some(timeout);
        Ok(eddy_pgwire::PgwireConfig {
            max_connections: self.max_connections.max(1),
            auth,
            tls,
            plain: if self.tls_required {
                eddy_pgwire::PlainConnections::Refused
            } else {
                eddy_pgwire::PlainConnections::Allowed
            },
            idle_session_timeout: zero_is_off(self.idle_session_timeout),
            idle_in_transaction_session_timeout: zero_is_off(
                self.idle_in_transaction_session_timeout,
            ),
            ..eddy_pgwire::PgwireConfig::default()
        })
    }
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
            runtime.block_on(serve(*args))
        }
        Command::Apply(args) => client_runtime()?.block_on(views::apply_command(
            &args.dir,
            &args.url,
            args.dry_run,
            args.prune,
            args.yes,
        )),
        Command::Replay(args) => client_runtime()?.block_on(views::replay_command(
            &args.view,
            args.from.as_deref(),
            &args.url,
            args.yes,
        )),
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
    let pgwire_config = args.security.pgwire_config(args.pg_addr)?;
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
        pgwire_config.clone(),
        async move {
            let _ = shutdown_rx.wait_for(|stop| *stop).await;
        },
    ));
    let auth = match &pgwire_config.auth {
        eddy_pgwire::Auth::Trust => "no password",
        eddy_pgwire::Auth::Password(_) => "password",
    };
    let tls = match (&pgwire_config.tls, pgwire_config.plain) {
        (None, _) => "",
        (Some(_), eddy_pgwire::PlainConnections::Allowed) => ", tls",
        (Some(_), eddy_pgwire::PlainConnections::Refused) => ", tls required",
    };
    println!(
        "eddy listening: pgwire {} ({auth}{tls}), http {}, data {}, {} worker{}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_postgres_reads_them() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("0"), Ok(ms(0)));
        assert_eq!(parse_duration("250"), Ok(ms(250)));
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("10min"), Ok(ms(600_000)));
        assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse_duration("1d"), Ok(ms(86_400_000)));
        assert!(parse_duration("10m")
            .unwrap_err()
            .contains("valid units are"));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
