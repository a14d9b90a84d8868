//! Runs the sqllogictest files in `tests/slt/` over pgwire, one fresh server per file.
//!
//! Each file has its own test (`cargo test -p eddy-server --test slt types` runs
//! `types.slt`), and `every_slt_file_has_a_test` fails when a file was added without one.
//! A file runs to its end even after a failing record, and the test reports every failing
//! record of the file with its location.
//!
//! Records run through tokio-postgres' simple query protocol, so values arrive in
//! Postgres' text format: NULL is written `NULL` and the empty string `(empty)`. Errors
//! are matched against `ERROR: <message> (SQLSTATE <code>)` (plus `DETAIL:` and `HINT:`
//! lines), so a `statement error` regex can check the message, the code, or both.
//!
//! Environment:
//! - `SLT_TARGET=postgres` runs the files against a private Postgres instead of Eddy, to
//!   check that expected outputs are what Postgres prints. The engine name (for `onlyif` /
//!   `skipif`) is then `postgres` instead of `eddy`, and `MATERIALIZED VIEW` is rewritten to
//!   `VIEW` (Postgres' materialized views are not maintained).
//! - `SLT_REWRITE=1` rewrites the expected results in the files from the target's output
//!   (review the diff before committing it).
//! - `EDDY_TEST_BINARY` runs another server binary (see `common/mod.rs`).

mod common;

use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use eddy_testkit::{materialized_as_plain_views, Eddy, Postgres};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Record, Runner};
use tokio_postgres::{NoTls, SimpleQueryMessage};

/// How many failing records of one file are shown in full.
const FAILURES_SHOWN_MAX: usize = 20;

fn slt_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/slt"))
}

/// Which server the files run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Eddy,
    Postgres,
}

impl Target {
    fn from_env() -> Target {
        match std::env::var("SLT_TARGET").as_deref() {
            Ok("postgres") => Target::Postgres,
            Ok("eddy") | Err(_) => Target::Eddy,
            Ok(other) => panic!("SLT_TARGET must be `eddy` or `postgres`, not {other:?}"),
        }
    }

    fn engine_name(self) -> &'static str {
        match self {
            Target::Eddy => "eddy",
            Target::Postgres => "postgres",
        }
    }
}

/// A server the files run against; kept alive for the file's run.
enum Server {
    Eddy(Eddy),
    Postgres(Postgres),
}

impl Server {
    fn start(target: Target) -> Server {
        match target {
            Target::Eddy => Server::Eddy(common::start_eddy(2)),
            Target::Postgres => Server::Postgres(
                Postgres::start().unwrap_or_else(|e| panic!("starting postgres: {e:#}")),
            ),
        }
    }

    fn conn_config(&self) -> String {
        match self {
            Server::Eddy(eddy) => format!(
                "host=127.0.0.1 port={} user=eddy dbname=eddy",
                eddy.pg_port()
            ),
            Server::Postgres(pg) => format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                pg.port()
            ),
        }
    }
}

/// An error as the records' regexes see it.
#[derive(Debug)]
struct DbError {
    text: String,
    sqlstate: Option<String>,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for DbError {}

impl From<tokio_postgres::Error> for DbError {
    fn from(err: tokio_postgres::Error) -> DbError {
        let sqlstate = err.code().map(|code| code.code().to_string());
        DbError {
            text: common::describe_error(&err),
            sqlstate,
        }
    }
}

/// One pgwire connection, as sqllogictest's database.
struct PgWireDb {
    client: tokio_postgres::Client,
    target: Target,
}

impl PgWireDb {
    async fn connect(config: String, target: Target) -> Result<PgWireDb, DbError> {
        let (client, connection) = tokio_postgres::connect(&config, NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(PgWireDb { client, target })
    }
}

#[async_trait]
impl AsyncDB for PgWireDb {
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let sql = match self.target {
            Target::Eddy => sql.to_string(),
            Target::Postgres => materialized_as_plain_views(sql),
        };
        let messages = self.client.simple_query(&sql).await?;
        let mut columns = None;
        let mut rows = Vec::new();
        let mut count = 0;
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(desc) => columns = Some(desc.len()),
                SimpleQueryMessage::Row(row) => rows.push(
                    (0..row.len())
                        .map(|i| match row.get(i) {
                            None => "NULL".to_string(),
                            Some("") => "(empty)".to_string(),
                            Some(text) => text.to_string(),
                        })
                        .collect(),
                ),
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        Ok(match columns {
            Some(n) => DBOutput::Rows {
                types: vec![DefaultColumnType::Any; n],
                rows,
            },
            None => DBOutput::StatementComplete(count),
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        self.target.engine_name()
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await
    }

    fn error_sql_state(err: &DbError) -> Option<String> {
        err.sqlstate.clone()
    }
}

fn runner(
    server: &Server,
    target: Target,
) -> Runner<PgWireDb, impl sqllogictest::MakeConnection<Conn = PgWireDb>> {
    let config = server.conn_config();
    Runner::new(move || PgWireDb::connect(config.clone(), target))
}

/// Runs one file on a fresh server and panics with every failing record.
async fn run_file(name: &str) {
    let target = Target::from_env();
    let path = slt_dir().join(format!("{name}.slt"));
    assert!(path.exists(), "{} does not exist", path.display());
    let server = Server::start(target);

    if std::env::var_os("SLT_REWRITE").is_some() {
        let mut runner = runner(&server, target);
        runner
            .update_test_file(
                &path,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                sqllogictest::default_column_validator,
            )
            .await
            .unwrap_or_else(|e| panic!("rewriting {}: {e}", path.display()));
        return;
    }

    let records = sqllogictest::parse_file::<DefaultColumnType>(&path)
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    let mut runner = runner(&server, target);
    let mut failures = Vec::new();
    let mut ran = 0;
    for record in records {
        if let Record::Halt { .. } = record {
            break;
        }
        ran += 1;
        if let Err(e) = runner.run_async(record).await {
            failures.push(e.display(false).to_string());
        }
    }
    if !failures.is_empty() {
        let shown: Vec<&str> = failures
            .iter()
            .take(FAILURES_SHOWN_MAX)
            .map(String::as_str)
            .collect();

        panic!(
            "{}: {} of {ran} records failed against {}{}\n\n{}",
            path.display(),
            failures.len(),
            target.engine_name(),
            if failures.len() > FAILURES_SHOWN_MAX {
                format!(" (first {FAILURES_SHOWN_MAX} shown)")
            } else {
                String::new()
            },
            shown.join("\n")
        );
    }
}

/// Declares one test per `.slt` file.
macro_rules! slt_files {
    ($($name:ident),* $(,)?) => {
        const FILES: &[&str] = &[$(stringify!($name)),*];
        $(
            #[tokio::test]
            async fn $name() {
                run_file(stringify!($name)).await;
            }
        )*
    };
}

slt_files!(
    constraints,
    correlated_ctes,
    indexes,
    set_functions,
    types,
    dml,
    views,
    errors,
    show_explain,
    txn,
    explain,
    subqueries,
    joins,
    deep,
    folding,
    schemas,
    windows,
    functions,
    recursive,
    window_functions,
    running_aggregates,
    upsert,
    defaults,
    checks,
    lateral,
    sequences,
    jsonb,
    time_zones,
    session_time_zone,
    ordered_sets,
    volatile,
    sessions,
    create_table_as,
    numeric_wide,
    unique,
    alter_table,
    composite
);

#[test]
fn every_slt_file_has_a_test() {
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(slt_dir()).expect("reading tests/slt") {
        let path = entry.expect("reading tests/slt").path();
        if path.extension().and_then(|e| e.to_str()) != Some("slt") {
            continue;
        }
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if !FILES.contains(&stem.as_str()) {
            missing.push(stem);
        }
    }
    assert!(
        missing.is_empty(),
        "tests/slt has files without a test: {missing:?}; add them to `slt_files!` in {}",
        Path::new(file!()).display()
    );
}
