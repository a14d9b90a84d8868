//! Test support: a scripted fake [`Backend`], a server on a free loopback port, and a
//! raw protocol client for what drivers do not expose (text-format parameters,
//! transaction status bytes, malformed messages).
//!
//! The fake understands a tiny statement language (one statement per `;`):
//! - `begin`, `start transaction`, `commit`, `rollback`: transaction control; after an
//!   error inside a block every other statement fails with 25P02 until it ends.
//! - `numbers N`: N rows `(n int4 not null, label text)` = `(i, 'row i')`.
//! - `all types`: one row with a value of every scalar type, then a row of NULLs.
//! - `echo T1,T2,...`: parameters `$1..` of the named types; returns them as one row.
//! - `insert`: the command tag `INSERT 0 3`.
//! - `set timezone Z`: the command tag `SET`; the session's `TimeZone` becomes Z.
//! - `fail`: 42P01 with detail, hint and position 15.
//! - `sleep`: never returns (for shutdown tests).
//! - empty or `-- comment`: the empty query.
//!   Anything else is a 42601 syntax error at position 1.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use eddy_coord::{ExecuteResponse, SessionHandle, StatementDesc};
use eddy_pgwire::{serve_with_shutdown, Backend, PgwireConfig};
use eddy_repr::{Datum, Interval, OrdF32, OrdF64, RelationDesc, Row, ScalarType};
use eddy_repr::{SqlError, SqlState};
use pgwire::messages::response::ErrorResponse;
use pgwire::messages::startup::Startup;
use pgwire::messages::{
    DecodeContext, PgWireBackendMessage, PgWireFrontendMessage, ProtocolVersion,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tx {
    Idle,
    Open,
    Failed,
}

/// What the fake saw, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Opened {
        id: u64,
        user: String,
        database: String,
    },
    Closed {
        id: u64,
    },
    /// A cancel request named this session.
    Cancelled {
        id: u64,
    },
}

#[derive(Default)]
pub struct FakeBackend {
    next_id: AtomicU64,
    sessions: Mutex<BTreeMap<u64, Tx>>,
    events: Mutex<Vec<Event>>,
    /// Parameters of every execute_prepared call, in order.
    pub prepared_params: Mutex<Vec<Vec<Datum>>>,
    /// The parameter types `echo` statements were last described with (declared types
    /// override the statement's), as the coordinator keeps a prepared statement's types.
    echo_types: Mutex<BTreeMap<String, Vec<ScalarType>>>,
    /// The `TimeZone` of each session that set one.
    time_zones: Mutex<BTreeMap<u64, String>>,
}

impl FakeBackend {
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    pub fn open_sessions(&self) -> usize {
        self.sessions.lock().unwrap().len()
    }

    fn tx(&self, id: u64) -> Tx {
        *self.sessions.lock().unwrap().get(&id).unwrap_or(&Tx::Idle)
    }

    fn set_tx(&self, id: u64, tx: Tx) {
        self.sessions.lock().unwrap().insert(id, tx);
    }

    /// Runs one statement of the fake language.
    async fn run(
        &self,
        id: u64,
        stmt: &str,
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, SqlError> {
        let stmt = stmt.trim().to_lowercase();
        let tx = self.tx(id);
        let command = |tag: &str| Ok(ExecuteResponse::Command { tag: tag.into() });
        match stmt.as_str() {
            "begin" | "start transaction" => {
                if tx == Tx::Idle {
                    self.set_tx(id, Tx::Open);
                }
                return command(if stmt == "begin" {
                    "BEGIN"
                } else {
                    "START TRANSACTION"
                });
            }
            "commit" => {
                self.set_tx(id, Tx::Idle);
                return command(if tx == Tx::Failed {
                    "ROLLBACK"
                } else {
                    "COMMIT"
                });
            }
            "rollback" => {
                self.set_tx(id, Tx::Idle);
                return command("ROLLBACK");
            }
            _ => {}
        }
        if tx == Tx::Failed {
            return Err(aborted());
        }
        if let Some(zone) = stmt.strip_prefix("set timezone ") {
            self.time_zones.lock().unwrap().insert(id, zone.to_string());
            return command("SET");
        }
        let result = self.run_statement(&stmt, params).await;
        if result.is_err() && tx == Tx::Open {
            self.set_tx(id, Tx::Failed);
        }
        result
    }

    async fn run_statement(
        &self,
        stmt: &str,
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, SqlError> {
        if stmt.is_empty() || stmt.starts_with("--") {
            return Ok(ExecuteResponse::EmptyQuery);
        }
        if stmt == "sleep" {
            std::future::pending::<()>().await;
        }
        if stmt == "insert" {
            return Ok(ExecuteResponse::Command {
                tag: "INSERT 0 3".into(),
            });
        }
        if stmt == "fail" {
            return Err(fail_error());
        }
        if let Some(n) = stmt.strip_prefix("numbers ") {
            let n: i32 = n.trim().parse().map_err(|_| syntax_error())?;
            let rows = (1..=n)
                .map(|i| Row::pack(&[Datum::Int32(i), Datum::String(format!("row {i}"))]))
                .collect();
            return Ok(ExecuteResponse::Rows {
                desc: numbers_desc(),
                rows,
            });
        }
        if stmt == "all types" {
            let (desc, values) = all_types();
            let nulls = vec![Datum::Null; values.len()];
            return Ok(ExecuteResponse::Rows {
                desc,
                rows: vec![Row::pack(&values), Row::pack(&nulls)],
            });
        }
        if let Some(list) = stmt.strip_prefix("echo ") {
            let described = self.echo_types.lock().unwrap().get(stmt).cloned();
            let types = match described {
                Some(types) => types,
                None => parse_types(list)?,
            };
            if params.len() != types.len() {
                return Err(SqlError::new(
                    SqlState::PROTOCOL_VIOLATION,
                    "echo needs its parameters",
                ));
            }
            self.prepared_params.lock().unwrap().push(params.clone());
            return Ok(ExecuteResponse::Rows {
                desc: echo_desc(&types),
                rows: vec![Row::pack(&params)],
            });
        }
        Err(syntax_error())
    }
}

fn fail_error() -> SqlError {
    let mut err = SqlError::new(
        SqlState::UNDEFINED_TABLE,
        "relation \"nope\" does not exist",
    )
    .with_detail("the fake has no tables")
    .with_hint("create one");
    err.position = Some(15);
    err
}

fn aborted() -> SqlError {
    SqlError::new(
        SqlState::IN_FAILED_SQL_TRANSACTION,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

fn syntax_error() -> SqlError {
    let mut err = SqlError::new(SqlState::SYNTAX_ERROR, "syntax error at or near \"x\"");
    err.position = Some(1);
    err
}

pub fn numbers_desc() -> RelationDesc {
    RelationDesc::empty()
        .with_column("n", ScalarType::Int32.nullable(false))
        .with_column("label", ScalarType::Text.nullable(false))
}

fn echo_desc(types: &[ScalarType]) -> RelationDesc {
    types
        .iter()
        .enumerate()
        .fold(RelationDesc::empty(), |desc, (i, t)| {
            desc.with_column(format!("c{}", i + 1), t.nullable(true))
        })
}

pub fn scalar_type(name: &str) -> Option<ScalarType> {
    let t = match name.trim() {
        "bool" => ScalarType::Bool,
        "int2" => ScalarType::Int16,
        "int4" => ScalarType::Int32,
        "int8" => ScalarType::Int64,
        "float4" => ScalarType::Float32,
        "float8" => ScalarType::Float64,
        "numeric" => ScalarType::Numeric {
            precision: None,
            scale: None,
        },
        "numeric(10,2)" => ScalarType::Numeric {
            precision: Some(10),
            scale: Some(2),
        },
        "text" => ScalarType::Text,
        "varchar" => ScalarType::Varchar { max_length: None },
        "varchar(5)" => ScalarType::Varchar {
            max_length: Some(5),
        },
        "char(4)" => ScalarType::Char { length: Some(4) },
        "name" => ScalarType::Name,
        "\"char\"" => ScalarType::PgChar,
        "date" => ScalarType::Date,
        "time" => ScalarType::Time,
        "timestamp" => ScalarType::Timestamp,
        "timestamptz" => ScalarType::TimestampTz,
        "interval" => ScalarType::Interval,
        "jsonb" => ScalarType::Jsonb,
        "oid" => ScalarType::Oid,
        "regclass" => ScalarType::RegClass,
        "bytea" => ScalarType::Bytea,
        "uuid" => ScalarType::Uuid,
        "text[]" => ScalarType::TextArray,
        "int2[]" => ScalarType::Int16Array,
        "oid[]" => ScalarType::OidArray,
        _ => return None,
    };
    Some(t)
}

fn parse_types(list: &str) -> Result<Vec<ScalarType>, SqlError> {
    list.split('/')
        .map(|name| scalar_type(name).ok_or_else(syntax_error))
        .collect()
}

pub const UUID: [u8; 16] = [
    0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11,
];

/// A value of every scalar type, with its column name (the type name).
pub fn all_types() -> (RelationDesc, Vec<Datum>) {
    let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let ts = date.and_hms_micro_opt(13, 14, 15, 500_000).unwrap();
    let columns: Vec<(&str, Datum)> = vec![
        ("bool", Datum::Bool(true)),
        ("int2", Datum::Int16(-2)),
        ("int4", Datum::Int32(4)),
        ("int8", Datum::Int64(8_000_000_000)),
        ("float4", Datum::Float32(OrdF32(1.5))),
        ("float8", Datum::Float64(OrdF64(-2.25))),
        ("numeric(10,2)", Datum::Numeric("12345.67".parse().unwrap())),
        ("numeric", Datum::Numeric("-0.001".parse().unwrap())),
        ("text", Datum::String("héllo".into())),
        ("varchar(5)", Datum::String("abc".into())),
        ("char(4)", Datum::String("ab".into())),
        ("name", Datum::String("pg_class".into())),
        ("\"char\"", Datum::String("r".into())),
        ("date", Datum::Date(date)),
        (
            "time",
            Datum::Time(NaiveTime::from_hms_micro_opt(13, 14, 15, 123_456).unwrap()),
        ),
        ("timestamp", Datum::Timestamp(ts)),
        (
            "timestamptz",
            Datum::TimestampTz(DateTime::<Utc>::from_naive_utc_and_offset(ts, Utc)),
        ),
        (
            "interval",
            Datum::Interval(Interval {
                months: 14,
                days: 3,
                micros: 14_706_000_000,
            }),
        ),
        ("jsonb", Datum::Jsonb("{\"a\": [1, 2]}".into())),
        ("oid", Datum::Oid(1259)),
        ("regclass", Datum::Oid(1259)),
        ("bytea", Datum::Bytes(vec![0xde, 0xad])),
        ("uuid", Datum::Uuid(UUID)),
        (
            "text[]",
            Datum::Array(vec![
                Datum::String("a".into()),
                Datum::Null,
                Datum::String("b c".into()),
            ]),
        ),
        (
            "int2[]",
            Datum::Array(vec![Datum::Int16(1), Datum::Int16(2)]),
        ),
        ("oid[]", Datum::Array(vec![Datum::Oid(23), Datum::Oid(25)])),
    ];
    let mut desc = RelationDesc::empty();
    let mut values = Vec::new();
    for (name, datum) in columns {
        desc = desc.with_column(name, scalar_type(name).unwrap().nullable(true));
        values.push(datum);
    }
    (desc, values)
}

#[async_trait]
impl Backend for FakeBackend {
    /// The statement's text and its description.
    type Prepared = (String, StatementDesc);

    async fn open_session(
        &self,
        user: &str,
        database: &str,
        _vars: Vec<(String, String)>,
    ) -> Result<SessionHandle, SqlError> {
        if user == "nobody" {
            return Err(SqlError::new(
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                "role \"nobody\" does not exist",
            ));
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        self.sessions.lock().unwrap().insert(id, Tx::Idle);
        self.events.lock().unwrap().push(Event::Opened {
            id,
            user: user.into(),
            database: database.into(),
        });
        Ok(SessionHandle { id })
    }

    async fn close_session(&self, session: SessionHandle) {
        self.sessions.lock().unwrap().remove(&session.id);
        self.events
            .lock()
            .unwrap()
            .push(Event::Closed { id: session.id });
    }

    async fn execute_simple(
        &self,
        session: &SessionHandle,
        sql: &str,
    ) -> Vec<Result<ExecuteResponse, SqlError>> {
        let mut out = Vec::new();
        for stmt in sql.split(';') {
            if stmt.trim().is_empty() {
                continue;
            }
            let result = self.run(session.id, stmt, Vec::new()).await;
            let failed = result.is_err();
            out.push(result);
            if failed {
                break;
            }
        }
        if out.is_empty() {
            out.push(Ok(ExecuteResponse::EmptyQuery));
        }
        out
    }

    async fn prepare(
        &self,
        session: &SessionHandle,
        sql: &str,
        param_types: &[Option<ScalarType>],
    ) -> Result<(String, StatementDesc), SqlError> {
        let stmt = sql.trim().to_lowercase();
        let tx = self.tx(session.id);
        let control = ["begin", "start transaction", "commit", "rollback"].contains(&stmt.as_str());
        if tx == Tx::Failed && !control {
            return Err(aborted());
        }
        let result = self.describe_statement(&stmt, param_types);
        if result.is_err() && tx == Tx::Open {
            self.set_tx(session.id, Tx::Failed);
        }
        result.map(|desc| (sql.to_string(), desc))
    }

    async fn cancel(&self, session: u64) {
        self.events
            .lock()
            .unwrap()
            .push(Event::Cancelled { id: session });
    }

    fn prepared_desc(prepared: &(String, StatementDesc)) -> &StatementDesc {
        &prepared.1
    }

    async fn execute_prepared(
        &self,
        session: &SessionHandle,
        prepared: &(String, StatementDesc),
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, SqlError> {
        self.run(session.id, &prepared.0, params).await
    }

    async fn session_var(&self, session: &SessionHandle, name: &str) -> Option<String> {
        match name {
            "server_version" => Some("15.6 (eddy fake)".into()),
            "TimeZone" => self.time_zones.lock().unwrap().get(&session.id).cloned(),
            _ => None,
        }
    }
}

impl FakeBackend {
    fn describe_statement(
        &self,
        stmt: &str,
        param_types: &[Option<ScalarType>],
    ) -> Result<StatementDesc, SqlError> {
        let no_rows = |param_types| {
            Ok(StatementDesc {
                param_types,
                result: None,
            })
        };
        if let Some(list) = stmt.strip_prefix("echo ") {
            let mut types = parse_types(list)?;
            for (declared, typ) in param_types.iter().zip(types.iter_mut()) {
                if let Some(declared) = declared {
                    *typ = *declared;
                }
            }
            self.echo_types
                .lock()
                .unwrap()
                .insert(stmt.to_string(), types.clone());
            return Ok(StatementDesc {
                result: Some(echo_desc(&types)),
                param_types: types,
            });
        }
        if stmt.starts_with("numbers ") {
            return Ok(StatementDesc {
                param_types: vec![],
                result: Some(numbers_desc()),
            });
        }
        match stmt {
            "all types" => Ok(StatementDesc {
                param_types: vec![],
                result: Some(all_types().0),
            }),
            "begin" | "start transaction" | "commit" | "rollback" | "insert" | "sleep" => {
                no_rows(vec![])
            }
            s if s.starts_with("set timezone ") => no_rows(vec![]),
            s if s.is_empty() || s.starts_with("--") => no_rows(vec![]),
            "fail" => Err(fail_error()),
            _ => Err(syntax_error()),
        }
    }
}

/// A server on a free loopback port, shut down on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub backend: Arc<FakeBackend>,
    shutdown: Option<oneshot::Sender<()>>,
    pub handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::with_config(PgwireConfig::default()).await
    }

    pub async fn with_config(config: PgwireConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let backend = Arc::new(FakeBackend::default());
        let (tx, rx) = oneshot::channel();
        let handle = tokio::spawn(serve_with_shutdown(
            listener,
            Arc::clone(&backend),
            config,
            async move {
                let _ = rx.await;
            },
        ));
        TestServer {
            addr,
            backend,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn conn_str(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=eddy dbname=eddy",
            self.addr.port()
        )
    }

    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.conn_str(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
    }

    /// Shuts the server down and waits for `serve` to return.
    pub async fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(10), handle)
                .await
                .expect("serve returns after shutdown")
                .unwrap()
                .unwrap();
        }
    }

    /// Waits until the fake has seen `n` session closes.
    pub async fn wait_for_closes(&self, n: usize) {
        for _ in 0..200 {
            let closes = self
                .backend
                .events()
                .iter()
                .filter(|e| matches!(e, Event::Closed { .. }))
                .count();
            if closes >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("sessions not closed: {:?}", self.backend.events());
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A client that speaks the protocol message by message.
pub struct RawClient {
    pub stream: TcpStream,
    buf: BytesMut,
    ctx: DecodeContext,
}

impl RawClient {
    /// Connects and completes startup; returns the client and the startup messages.
    pub async fn connect(addr: SocketAddr) -> (RawClient, Vec<PgWireBackendMessage>) {
        RawClient::start(TcpStream::connect(addr).await.unwrap()).await
    }

    /// Completes startup on an open stream.
    pub async fn start(stream: TcpStream) -> (RawClient, Vec<PgWireBackendMessage>) {
        let mut ctx = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
        ctx.awaiting_frontend_ssl = false;
        ctx.awaiting_frontend_startup = false;
        let mut client = RawClient {
            stream,
            buf: BytesMut::new(),
            ctx,
        };
        let mut startup = Startup::new();
        startup.parameters.insert("user".into(), "eddy".into());
        startup.parameters.insert("database".into(), "db".into());
        startup
            .parameters
            .insert("application_name".into(), "raw".into());
        client
            .send(vec![PgWireFrontendMessage::Startup(startup)])
            .await;
        let messages = client.until_ready().await;
        (client, messages)
    }

    pub async fn send(&mut self, messages: Vec<PgWireFrontendMessage>) {
        let mut out = BytesMut::new();
        for message in messages {
            message.encode(&mut out).unwrap();
        }
        self.stream.write_all(&out).await.unwrap();
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next message, or `None` when the server closed the connection.
    pub async fn recv(&mut self) -> Option<PgWireBackendMessage> {
        loop {
            if let Some(message) = PgWireBackendMessage::decode(&mut self.buf, &self.ctx).unwrap() {
                return Some(message);
            }
            let n =
                tokio::time::timeout(Duration::from_secs(10), self.stream.read_buf(&mut self.buf))
                    .await
                    .expect("server answers in time")
                    .ok()?;
            if n == 0 {
                return None;
            }
        }
    }

    /// Runs a simple query; returns the messages up to ReadyForQuery.
    pub async fn simple(&mut self, sql: &str) -> Vec<PgWireBackendMessage> {
        self.send(vec![PgWireFrontendMessage::Query(
            pgwire::messages::simplequery::Query::new(sql.into()),
        )])
        .await;
        self.until_ready().await
    }

    /// Messages up to and including ReadyForQuery.
    pub async fn until_ready(&mut self) -> Vec<PgWireBackendMessage> {
        let mut out = Vec::new();
        loop {
            let message = self
                .recv()
                .await
                .expect("connection open until ReadyForQuery");
            let done = matches!(message, PgWireBackendMessage::ReadyForQuery(_));
            out.push(message);
            if done {
                return out;
            }
        }
    }

    /// True once the server has closed the connection (reads EOF or a reset).
    pub async fn closed(&mut self) -> bool {
        let mut scratch = [0u8; 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut scratch))
                .await
            {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }

    pub fn pending(&self) -> usize {
        self.buf.remaining()
    }
}

/// The ReadyForQuery status byte among messages, if any.
pub fn ready_status(messages: &[PgWireBackendMessage]) -> Option<u8> {
    messages.iter().find_map(|m| match m {
        PgWireBackendMessage::ReadyForQuery(r) => Some(r.status as u8),
        _ => None,
    })
}

/// An ErrorResponse's fields by code byte.
pub fn error_fields(err: &ErrorResponse) -> BTreeMap<u8, String> {
    err.fields.iter().cloned().collect()
}

/// A short name per message, to compare message sequences.
pub fn kinds(messages: &[PgWireBackendMessage]) -> Vec<&'static str> {
    messages
        .iter()
        .map(|m| match m {
            PgWireBackendMessage::Authentication(_) => "Authentication",
            PgWireBackendMessage::ParameterStatus(_) => "ParameterStatus",
            PgWireBackendMessage::BackendKeyData(_) => "BackendKeyData",
            PgWireBackendMessage::ParseComplete(_) => "ParseComplete",
            PgWireBackendMessage::BindComplete(_) => "BindComplete",
            PgWireBackendMessage::CloseComplete(_) => "CloseComplete",
            PgWireBackendMessage::PortalSuspended(_) => "PortalSuspended",
            PgWireBackendMessage::CommandComplete(_) => "CommandComplete",
            PgWireBackendMessage::EmptyQueryResponse(_) => "EmptyQueryResponse",
            PgWireBackendMessage::ReadyForQuery(_) => "ReadyForQuery",
            PgWireBackendMessage::ErrorResponse(_) => "ErrorResponse",
            PgWireBackendMessage::NoticeResponse(_) => "NoticeResponse",
            PgWireBackendMessage::ParameterDescription(_) => "ParameterDescription",
            PgWireBackendMessage::RowDescription(_) => "RowDescription",
            PgWireBackendMessage::DataRow(_) => "DataRow",
            PgWireBackendMessage::NoData(_) => "NoData",
            _ => "Other",
        })
        .collect()
}

/// The fields of a DataRow as optional byte strings.
pub fn data_row_values(row: &pgwire::messages::data::DataRow) -> Vec<Option<Vec<u8>>> {
    let mut data = row.data.clone();
    (0..row.field_count)
        .map(|_| {
            let len = data.get_i32();
            if len < 0 {
                None
            } else {
                Some(data.split_to(len as usize).to_vec())
            }
        })
        .collect()
}
