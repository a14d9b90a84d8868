//! End-to-end tests of the pgwire server against a fake backend, with real clients:
//! tokio-postgres (extended protocol, binary results), psql (simple protocol, text
//! results) and a raw message-level client.

mod support;

use std::error::Error as _;
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use eddy_pgwire::PgwireConfig;
use eddy_repr::{Datum, Interval, OrdF64};
use pgwire::messages::extendedquery::{
    Bind, Close, Describe, Execute, Flush, Parse, Sync as PgSync, TARGET_TYPE_BYTE_PORTAL,
    TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::simplequery::Query;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use postgres_types::{FromSql, Type};
use rust_decimal::Decimal;
use support::{
    data_row_values, error_fields, kinds, ready_status, Event, RawClient, TestServer, UUID,
};
use tokio_postgres::error::{ErrorPosition, SqlState};
use tokio_postgres::SimpleQueryMessage;

// ---------------------------------------------------------------------------------------
// Types tokio-postgres has no FromSql for.

#[derive(Debug, PartialEq)]
struct PgInterval {
    micros: i64,
    days: i32,
    months: i32,
}

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let raw: [u8; 16] = raw.try_into()?;
        Ok(PgInterval {
            micros: i64::from_be_bytes(raw[0..8].try_into()?),
            days: i32::from_be_bytes(raw[8..12].try_into()?),
            months: i32::from_be_bytes(raw[12..16].try_into()?),
        })
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

#[derive(Debug, PartialEq)]
struct PgUuid([u8; 16]);

impl<'a> FromSql<'a> for PgUuid {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgUuid(raw.try_into()?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
}

#[derive(Debug, PartialEq)]
struct RegClass(u32);

impl<'a> FromSql<'a> for RegClass {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RegClass(u32::from_be_bytes(raw.try_into()?)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::REGCLASS
    }
}

async fn connect_error(conn_str: &str) -> tokio_postgres::Error {
    match tokio_postgres::connect(conn_str, tokio_postgres::NoTls).await {
        Ok(_) => panic!("connecting with {conn_str:?} succeeded"),
        Err(err) => err,
    }
}

fn db_error(err: &tokio_postgres::Error) -> &tokio_postgres::error::DbError {
    err.as_db_error().unwrap_or_else(|| {
        panic!(
            "expected a database error, got {err:?} ({:?})",
            err.source()
        )
    })
}

// ---------------------------------------------------------------------------------------
// Startup

#[tokio::test]
async fn startup_reports_parameters_and_key_data() {
    let server = TestServer::start().await;
    let (_client, messages) = RawClient::connect(server.addr).await;
    let kinds = kinds(&messages);
    assert_eq!(kinds.first(), Some(&"Authentication"));
    assert_eq!(kinds.last(), Some(&"ReadyForQuery"));
    assert!(kinds.contains(&"BackendKeyData"));
    assert_eq!(ready_status(&messages), Some(b'I'));
    let params: std::collections::BTreeMap<String, String> = messages
        .iter()
        .filter_map(|m| match m {
            PgWireBackendMessage::ParameterStatus(p) => Some((p.name.clone(), p.value.clone())),
            _ => None,
        })
        .collect();
    // From the backend's session_var.
    assert_eq!(params["server_version"], "15.6 (eddy fake)");
    // Fallbacks.
    assert_eq!(params["server_encoding"], "UTF8");
    assert_eq!(params["client_encoding"], "UTF8");
    assert_eq!(params["DateStyle"], "ISO, MDY");
    assert_eq!(params["IntervalStyle"], "postgres");
    assert_eq!(params["TimeZone"], "UTC");
    assert_eq!(params["integer_datetimes"], "on");
    assert_eq!(params["standard_conforming_strings"], "on");
    assert_eq!(params["is_superuser"], "on");
    // From the startup message.
    assert_eq!(params["application_name"], "raw");
    assert_eq!(
        server.backend.events(),
        vec![Event::Opened {
            id: 1,
            user: "eddy".into(),
            database: "db".into()
        }]
    );
}

#[tokio::test]
async fn ssl_and_gssenc_requests_are_refused_and_startup_continues() {
    let server = TestServer::start().await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    for request in [80877103u32, 80877104] {
        stream.write_all(&8u32.to_be_bytes()).await.unwrap();
        stream.write_all(&request.to_be_bytes()).await.unwrap();
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(answer, *b"N", "request {request}");
    }
    let (mut raw, messages) = RawClient::start(stream).await;
    assert_eq!(ready_status(&messages), Some(b'I'));
    raw.send(vec![PgWireFrontendMessage::Query(Query::new(
        "numbers 1".into(),
    ))])
    .await;
    assert_eq!(
        kinds(&raw.until_ready().await),
        [
            "RowDescription",
            "DataRow",
            "CommandComplete",
            "ReadyForQuery"
        ]
    );
}

#[tokio::test]
async fn set_reports_changed_parameters() {
    let server = TestServer::start().await;
    let (mut raw, _) = RawClient::connect(server.addr).await;
    let time_zone_statuses = |messages: &[PgWireBackendMessage]| -> Vec<String> {
        messages
            .iter()
            .filter_map(|m| match m {
                PgWireBackendMessage::ParameterStatus(p) => Some(format!("{}={}", p.name, p.value)),
                _ => None,
            })
            .collect()
    };
    let messages = raw.simple("set timezone Europe/Paris").await;
    assert_eq!(
        kinds(&messages),
        ["ParameterStatus", "CommandComplete", "ReadyForQuery"]
    );
    assert_eq!(time_zone_statuses(&messages), ["TimeZone=europe/paris"]);
    // Setting the same value again reports nothing.
    let messages = raw.simple("set timezone Europe/Paris").await;
    assert!(time_zone_statuses(&messages).is_empty());
    // The extended protocol reports too.
    raw.send(vec![
        PgWireFrontendMessage::Parse(Parse::new(None, "set timezone Asia/Tokyo".into(), vec![])),
        PgWireFrontendMessage::Bind(Bind::new(None, None, vec![], vec![], vec![])),
        PgWireFrontendMessage::Execute(Execute::new(None, 0)),
        PgWireFrontendMessage::Sync(PgSync::new()),
    ])
    .await;
    let messages = raw.until_ready().await;
    assert_eq!(time_zone_statuses(&messages), ["TimeZone=asia/tokyo"]);
}

#[tokio::test]
async fn failed_session_open_is_fatal() {
    let server = TestServer::start().await;
    let err = connect_error(&format!(
        "host=127.0.0.1 port={} user=nobody",
        server.addr.port()
    ))
    .await;
    let db = db_error(&err);
    assert_eq!(db.code(), &SqlState::INVALID_AUTHORIZATION_SPECIFICATION);
    assert_eq!(db.severity(), "FATAL");
    assert_eq!(db.message(), "role \"nobody\" does not exist");
}

// ---------------------------------------------------------------------------------------
// Simple query

#[tokio::test]
async fn simple_query_rows_and_tags() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let messages = client
        .simple_query("numbers 2; insert; numbers 0")
        .await
        .unwrap();
    let mut seen = Vec::new();
    for message in &messages {
        match message {
            SimpleQueryMessage::RowDescription(columns) => {
                let names: Vec<_> = columns.iter().map(|c| c.name().to_string()).collect();
                seen.push(format!("desc {}", names.join(",")));
            }
            SimpleQueryMessage::Row(row) => seen.push(format!(
                "row {}|{}",
                row.get(0).unwrap(),
                row.get(1).unwrap()
            )),
            SimpleQueryMessage::CommandComplete(n) => seen.push(format!("complete {n}")),
            _ => seen.push("other".into()),
        }
    }
    assert_eq!(
        seen,
        [
            "desc n,label",
            "row 1|row 1",
            "row 2|row 2",
            "complete 2",
            "complete 3",
            "desc n,label",
            "complete 0"
        ]
    );
}

#[tokio::test]
async fn simple_query_tags_and_empty_query_on_the_wire() {
    let server = TestServer::start().await;
    let (mut raw, _) = RawClient::connect(server.addr).await;
    raw.send(vec![PgWireFrontendMessage::Query(Query::new(
        "numbers 2; insert".into(),
    ))])
    .await;
    let messages = raw.until_ready().await;
    let tags: Vec<String> = messages
        .iter()
        .filter_map(|m| match m {
            PgWireBackendMessage::CommandComplete(c) => Some(c.tag.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(tags, ["SELECT 2", "INSERT 0 3"]);
    // Text format in the row description and the rows.
    let PgWireBackendMessage::RowDescription(desc) = &messages[0] else {
        panic!("{messages:?}")
    };
    assert_eq!(desc.fields[0].type_id, 23);
    assert_eq!(desc.fields[0].type_size, 4);
    assert_eq!(desc.fields[0].format_code, 0);
    assert_eq!(desc.fields[1].type_id, 25);
    let PgWireBackendMessage::DataRow(row) = &messages[1] else {
        panic!("{messages:?}")
    };
    assert_eq!(
        data_row_values(row),
        [Some(b"1".to_vec()), Some(b"row 1".to_vec())]
    );

    for empty in [";", "", "-- nothing"] {
        raw.send(vec![PgWireFrontendMessage::Query(Query::new(empty.into()))])
            .await;
        let messages = raw.until_ready().await;
        assert_eq!(
            kinds(&messages),
            ["EmptyQueryResponse", "ReadyForQuery"],
            "{empty:?}"
        );
    }
}

#[tokio::test]
async fn simple_query_errors_carry_sqlstate_position_detail_hint() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let err = client
        .simple_query("numbers 1; fail; insert")
        .await
        .unwrap_err();
    let db = db_error(&err);
    assert_eq!(db.code(), &SqlState::UNDEFINED_TABLE);
    assert_eq!(db.severity(), "ERROR");
    assert_eq!(db.message(), "relation \"nope\" does not exist");
    assert_eq!(db.detail(), Some("the fake has no tables"));
    assert_eq!(db.hint(), Some("create one"));
    assert_eq!(db.position(), Some(&ErrorPosition::Original(15)));
    // The connection is still usable.
    let rows = client.simple_query("numbers 1").await.unwrap();
    assert_eq!(rows.len(), 3);
}

#[tokio::test]
async fn an_error_stops_the_rest_of_the_query_string() {
    let server = TestServer::start().await;
    let (mut raw, _) = RawClient::connect(server.addr).await;
    raw.send(vec![PgWireFrontendMessage::Query(Query::new(
        "insert; fail; insert".into(),
    ))])
    .await;
    let messages = raw.until_ready().await;
    assert_eq!(
        kinds(&messages),
        ["CommandComplete", "ErrorResponse", "ReadyForQuery"]
    );
    let PgWireBackendMessage::ErrorResponse(err) = &messages[1] else {
        unreachable!()
    };
    let fields = error_fields(err);
    assert_eq!(fields[&b'S'], "ERROR");
    assert_eq!(fields[&b'C'], "42P01");
    assert_eq!(fields[&b'P'], "15");
}

// ---------------------------------------------------------------------------------------
// Transaction status

#[tokio::test]
async fn ready_for_query_tracks_transaction_status() {
    let server = TestServer::start().await;
    let (mut raw, _) = RawClient::connect(server.addr).await;
    async fn status(raw: &mut RawClient, sql: &str) -> char {
        ready_status(&raw.simple(sql).await).unwrap() as char
    }
    assert_eq!(status(&mut raw, "insert").await, 'I');
    assert_eq!(
        status(&mut raw, "fail").await,
        'I',
        "an error outside a block stays idle"
    );
    assert_eq!(status(&mut raw, "begin").await, 'T');
    assert_eq!(status(&mut raw, "insert").await, 'T');
    assert_eq!(status(&mut raw, "fail").await, 'E');
    assert_eq!(
        status(&mut raw, "insert").await,
        'E',
        "25P02 keeps the block failed"
    );
    assert_eq!(
        status(&mut raw, "commit").await,
        'I',
        "commit of a failed block rolls back"
    );
    assert_eq!(status(&mut raw, "start transaction; insert").await, 'T');
    assert_eq!(status(&mut raw, "rollback").await, 'I');
    assert_eq!(status(&mut raw, "begin; fail").await, 'E');
    assert_eq!(status(&mut raw, "rollback").await, 'I');
}

#[tokio::test]
async fn transaction_status_in_the_extended_protocol() {
    let server = TestServer::start().await;
    let (mut raw, _) = RawClient::connect(server.addr).await;
    let run = |sql: &str| {
        vec![
            PgWireFrontendMessage::Parse(Parse::new(None, sql.into(), vec![])),
            PgWireFrontendMessage::Bind(Bind::new(None, None, vec![], vec![], vec![])),
            PgWireFrontendMessage::Execute(Execute::new(None, 0)),
            PgWireFrontendMessage::Sync(PgSync::new()),
        ]
    };
    raw.send(run("begin")).await;
    assert_eq!(ready_status(&raw.until_ready().await), Some(b'T'));
    // An error at Execute: ErrorResponse, then the rest is skipped until Sync.
    let mut messages = run("numbers 1");
    messages.insert(
        0,
        PgWireFrontendMessage::Parse(Parse::new(None, "fail".into(), vec![])),
    );
    raw.send(messages).await;
    let replies = raw.until_ready().await;
    assert_eq!(kinds(&replies), ["ErrorResponse", "ReadyForQuery"]);
    assert_eq!(ready_status(&replies), Some(b'E'));
    raw.send(run("rollback")).await;
    assert_eq!(ready_status(&raw.until_ready().await), Some(b'I'));
}

#[tokio::test]
async fn tokio_postgres_transactions() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    let tx = client.transaction().await.unwrap();
    tx.execute("insert", &[]).await.unwrap();
    tx.commit().await.unwrap();
    let tx = client.transaction().await.unwrap();
    let err = tx.query("fail", &[]).await.unwrap_err();
    assert_eq!(db_error(&err).code(), &SqlState::UNDEFINED_TABLE);
    let err = tx.query("numbers 1", &[]).await.unwrap_err();
    assert_eq!(db_error(&err).code(), &SqlState::IN_FAILED_SQL_TRANSACTION);
    tx.rollback().await.unwrap();
    assert_eq!(client.query("numbers 3", &[]).await.unwrap().len(), 3);
}

// ---------------------------------------------------------------------------------------
// Extended query: parameters

#[tokio::test]
async fn binary_parameters_of_many_types() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let date = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
    let ts: NaiveDateTime = date.and_hms_micro_opt(23, 59, 59, 999_999).unwrap();
    let tstz = DateTime::<Utc>::from_naive_utc_and_offset(ts, Utc);
    let json = serde_json::json!({"k": [1, "two", null]});
    let numeric = Decimal::from_str("-1234567.000891").unwrap();
    let stmt = client
        .prepare("echo int2/int4/int8/float4/float8/numeric/bool/text/varchar/date/timestamp/timestamptz/jsonb/bytea/text[]")
        .await
        .unwrap();
    assert_eq!(
        stmt.params(),
        [
            Type::INT2,
            Type::INT4,
            Type::INT8,
            Type::FLOAT4,
            Type::FLOAT8,
            Type::NUMERIC,
            Type::BOOL,
            Type::TEXT,
            Type::VARCHAR,
            Type::DATE,
            Type::TIMESTAMP,
            Type::TIMESTAMPTZ,
            Type::JSONB,
            Type::BYTEA,
            Type::TEXT_ARRAY
        ]
    );
    let bytes: Vec<u8> = vec![0, 1, 254];
    let array = vec![Some("x".to_string()), None];
    let row = client
        .query_one(
            &stmt,
            &[
                &-7i16,
                &70000i32,
                &-9_000_000_000i64,
                &0.5f32,
                &1e300f64,
                &numeric,
                &true,
                &"tëxt",
                &"vc",
                &date,
                &ts,
                &tstz,
                &json,
                &bytes,
                &array,
            ],
        )
        .await
        .unwrap();
    // What the backend received.
    let received = server
        .backend
        .prepared_params
        .lock()
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(received[0], Datum::Int16(-7));
    assert_eq!(received[1], Datum::Int32(70000));
    assert_eq!(received[2], Datum::Int64(-9_000_000_000));
    assert_eq!(received[4], Datum::Float64(OrdF64(1e300)));
    assert_eq!(
        received[5],
        Datum::Numeric(numeric.to_string().parse().unwrap())
    );
    assert_eq!(received[6], Datum::Bool(true));
    assert_eq!(received[7], Datum::String("tëxt".into()));
    assert_eq!(received[9], Datum::Date(date));
    assert_eq!(received[10], Datum::Timestamp(ts));
    assert_eq!(received[11], Datum::TimestampTz(tstz));
    assert_eq!(
        received[12],
        Datum::Jsonb("{\"k\": [1, \"two\", null]}".into())
    );
    assert_eq!(received[13], Datum::Bytes(bytes.clone()));
    assert_eq!(
        received[14],
        Datum::Array(vec![Datum::String("x".into()), Datum::Null])
    );
    // And back out in binary.
    assert_eq!(row.get::<_, i16>(0), -7);
    assert_eq!(row.get::<_, i32>(1), 70000);
    assert_eq!(row.get::<_, i64>(2), -9_000_000_000);
    assert_eq!(row.get::<_, f32>(3), 0.5);
    assert_eq!(row.get::<_, f64>(4), 1e300);
    assert_eq!(row.get::<_, Decimal>(5), numeric);
    assert!(row.get::<_, bool>(6));
    assert_eq!(row.get::<_, String>(7), "tëxt");
    assert_eq!(row.get::<_, String>(8), "vc");
    assert_eq!(row.get::<_, NaiveDate>(9), date);
    assert_eq!(row.get::<_, NaiveDateTime>(10), ts);
    assert_eq!(row.get::<_, DateTime<Utc>>(11), tstz);
    assert_eq!(row.get::<_, serde_json::Value>(12), json);
    assert_eq!(row.get::<_, Vec<u8>>(13), bytes);
    assert_eq!(row.get::<_, Vec<Option<String>>>(14), array);
}

#[tokio::test]
async fn null_parameters_and_declared_types() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    // The client declares int8 where the statement says int4: the declaration wins.
    let stmt = client
        .prepare_typed("echo int4/text", &[Type::INT8])
        .await
        .unwrap();
    assert_eq!(stmt.params(), [Type::INT8, Type::TEXT]);
    let row = client
        .query_one(&stmt, &[&5i64, &None::<String>])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 5);
    assert_eq!(row.get::<_, Option<String>>(1), None);
}

#[tokio::test]
async fn text_parameters_and_mixed_formats() {
    let server = TestServer::start().await;
    let (mut raw, _) = RawClient::connect(server.addr).await;
    raw.send(vec![
        PgWireFrontendMessage::Parse(Parse::new(
            Some("s1".into()),
            "echo int4/numeric/date/interval/bool/int8".into(),
            vec![],
        )),
        PgWireFrontendMessage::Bind(Bind::new(
            None,
            Some("s1".into()),
            // Text, text, text, text, text, binary.
            vec![0, 0, 0, 0, 0, 1],
            vec![
                Some(Bytes::from_static(b" 42 ")),
                Some(Bytes::from_static(b"3.14159")),
                Some(Bytes::from_static(b"2024-03-01")),
                Some(Bytes::from_static(b"1 day 02:00:00")),
                Some(Bytes::from_static(b"yes")),
                Some(Bytes::copy_from_slice(&7i64.to_be_bytes())),
            ],
            // Results: the first column binary, the rest text.
            vec![1, 0, 0, 0, 0, 0],
        )),
        PgWireFrontendMessage::Describe(Describe::new(TARGET_TYPE_BYTE_PORTAL, None)),
        PgWireFrontendMessage::Execute(Execute::new(None, 0)),
        PgWireFrontendMessage::Sync(PgSync::new()),
    ])
    .await;
    let messages = raw.until_ready().await;
    assert_eq!(
        kinds(&messages),
        [
            "ParseComplete",
            "BindComplete",
            "RowDescription",
            "DataRow",
            "CommandComplete",
            "ReadyForQuery"
        ]
    );
    let PgWireBackendMessage::RowDescription(desc) = &messages[2] else {
        unreachable!()
    };
    let formats: Vec<i16> = desc.fields.iter().map(|f| f.format_code).collect();
    assert_eq!(formats, [1, 0, 0, 0, 0, 0]);
    let PgWireBackendMessage::DataRow(row) = &messages[3] else {
        unreachable!()
    };
    let values = data_row_values(row);
    assert_eq!(values[0].as_deref(), Some(&42i32.to_be_bytes()[..]));
    assert_eq!(values[1].as_deref(), Some(&b"3.14159"[..]));
    assert_eq!(values[2].as_deref(), Some(&b"2024-03-01"[..]));
    assert_eq!(values[3].as_deref(), Some(&b"1 day 02:00:00"[..]));
    assert_eq!(values[4].as_deref(), Some(&b"t"[..]));
    assert_eq!(values[5].as_deref(), Some(&b"7"[..]));
    let received = server
        .backend
        .prepared_params
        .lock()
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        received[3],
        Datum::Interval(Interval {
            months: 0,
            days: 1,
            micros: 7_200_000_000
        })
    );
}

#[tokio::test]
async fn bad_parameters_are_errors_at_bind() {
    let server = TestServer::start().await;
    let (mut raw, _) = RawClient::connect(server.addr).await;
    let bind_and_sync = |format: i16, value: &'static [u8]| {
        vec![
            PgWireFrontendMessage::Parse(Parse::new(None, "echo int4".into(), vec![])),
            PgWireFrontendMessage::Bind(Bind::new(
                None,
                None,
                vec![format],
                vec![Some(Bytes::from_static(value))],
                vec![],
            )),
            PgWireFrontendMessage::Execute(Execute::new(None, 0)),
            PgWireFrontendMessage::Sync(PgSync::new()),
        ]
    };
    for (format, value, code, message) in [
        (
            0,
            &b"abc"[..],
            "22P02",
            "invalid input syntax for type integer: \"abc\"",
        ),
        (1, &[0, 1][..], "08P01", "insufficient data left in message"),
        (
            1,
            &[0, 0, 0, 0, 1][..],
            "22P03",
            "incorrect binary data format in bind parameter 1",
        ),
        (
            0,
            &[b'1', 0xff][..],
            "22021",
            "invalid byte sequence for encoding \"UTF8\": 0xff",
        ),
    ] {
        raw.send(bind_and_sync(format, value)).await;
        let messages = raw.until_ready().await;
        assert_eq!(
            kinds(&messages),
            ["ParseComplete", "ErrorResponse", "ReadyForQuery"]
        );
        let PgWireBackendMessage::ErrorResponse(err) = &messages[1] else {
            unreachable!()
        };
        let fields = error_fields(err);
        assert_eq!(fields[&b'C'], code);
        assert_eq!(fields[&b'M'], message);
    }
    // Wrong parameter count.
    raw.send(vec![
        PgWireFrontendMessage::Parse(Parse::new(
            Some("two".into()),
            "echo int4/int4".into(),
            vec![],
        )),
        PgWireFrontendMessage::Bind(Bind::new(
            None,
            Some("two".into()),
            vec![],
            vec![None],
            vec![],
        )),
        PgWireFrontendMessage::Sync(PgSync::new()),
    ])
    .await;
    let messages = raw.until_ready().await;
    let PgWireBackendMessage::ErrorResponse(err) = &messages[1] else {
        panic!("{messages:?}")
    };
    let fields = error_fields(err);
    assert_eq!(fields[&b'C'], "08P01");
    assert_eq!(
        fields[&b'M'],
        "bind message supplies 1 parameters, but prepared statement \"two\" requires 2"
    );
    assert_eq!(ready_status(&messages), Some(b'I'));
}

#[tokio::test]
async fn errors_at_parse_are_reported_at_parse() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let err = client.prepare("fail").await.unwrap_err();
    let db = db_error(&err);
    assert_eq!(db.code(), &SqlState::UNDEFINED_TABLE);
    assert_eq!(db.position(), Some(&ErrorPosition::Original(15)));
    // Nothing was executed.
    assert!(server.backend.prepared_params.lock().unwrap().is_empty());

    let (mut raw, _) = RawClient::connect(server.addr).await;
    raw.send(vec![
        PgWireFrontendMessage::Parse(Parse::new(None, "bogus".into(), vec![])),
        PgWireFrontendMessage::Bind(Bind::new(None, None, vec![], vec![], vec![])),
        PgWireFrontendMessage::Execute(Execute::new(None, 0)),
        PgWireFrontendMessage::Sync(PgSync::new()),
    ])
    .await;
    let messages = raw.until_ready().await;
    assert_eq!(kinds(&messages), ["ErrorResponse", "ReadyForQuery"]);
    // A declared parameter type Eddy does not have (point, OID 600).
    raw.send(vec![
        PgWireFrontendMessage::Parse(Parse::new(None, "echo int4".into(), vec![600])),
        PgWireFrontendMessage::Sync(PgSync::new()),
    ])
    .await;
    let messages = raw.until_ready().await;
    let PgWireBackendMessage::ErrorResponse(err) = &messages[0] else {
        panic!("{messages:?}")
    };
    assert_eq!(error_fields(err)[&b'C'], "0A000");
    assert_eq!(
        error_fields(err)[&b'M'],
        "parameter type point is not supported"
    );
}

// ---------------------------------------------------------------------------------------
// Extended query: describe, close, portals

#[tokio::test]
async fn describe_statement_and_portal() {
    let server = TestServer::start().await;
    let (mut raw, _) = RawClient::connect(server.addr).await;
    raw.send(vec![
        PgWireFrontendMessage::Parse(Parse::new(
            Some("q".into()),
            "echo numeric(10,2)/varchar(5)".into(),
            vec![],
        )),
        PgWireFrontendMessage::Parse(Parse::new(Some("i".into()), "insert".into(), vec![])),
        PgWireFrontendMessage::Parse(Parse::new(Some("e".into()), " ; ".into(), vec![])),
        PgWireFrontendMessage::Describe(Describe::new(
            TARGET_TYPE_BYTE_STATEMENT,
            Some("q".into()),
        )),
        PgWireFrontendMessage::Describe(Describe::new(
            TARGET_TYPE_BYTE_STATEMENT,
            Some("i".into()),
        )),
        PgWireFrontendMessage::Describe(Describe::new(
            TARGET_TYPE_BYTE_STATEMENT,
            Some("e".into()),
        )),
        PgWireFrontendMessage::Bind(Bind::new(
            Some("p".into()),
            Some("q".into()),
            vec![],
            vec![Some(Bytes::from_static(b"1.50")), None],
            vec![1],
        )),
        PgWireFrontendMessage::Describe(Describe::new(TARGET_TYPE_BYTE_PORTAL, Some("p".into()))),
        PgWireFrontendMessage::Bind(Bind::new(
            Some("pe".into()),
            Some("e".into()),
            vec![],
            vec![],
            vec![],
        )),
        PgWireFrontendMessage::Describe(Describe::new(TARGET_TYPE_BYTE_PORTAL, Some("pe".into()))),
        PgWireFrontendMessage::Execute(Execute::new(Some("pe".into()), 0)),
        PgWireFrontendMessage::Sync(PgSync::new()),
    ])
    .await;
    let messages = raw.until_ready().await;
    assert_eq!(
        kinds(&messages),
        [
            "ParseComplete",
            "ParseComplete",
            "ParseComplete",
            "ParameterDescription",
            "RowDescription",
            "ParameterDescription",
            "NoData",
            "ParameterDescription",
            "NoData",
            "BindComplete",
            "RowDescription",
            "BindComplete",
            "NoData",
            "EmptyQueryResponse",
            "ReadyForQuery"
        ]
    );
    let PgWireBackendMessage::ParameterDescription(params) = &messages[3] else {
        unreachable!()
    };
    assert_eq!(params.types, [1700, 1043]);
    let PgWireBackendMessage::RowDescription(desc) = &messages[4] else {
        unreachable!()
    };
    let f = &desc.fields;
    assert_eq!(
        (f[0].name.as_str(), f[0].type_id, f[0].type_size),
        ("c1", 1700, -1)
    );
    assert_eq!(f[0].type_modifier, ((10 << 16) | 2) + 4);
    assert_eq!((f[1].type_id, f[1].type_modifier), (1043, 9));
    assert_eq!((f[0].table_id, f[0].column_id), (0, 0));
    assert!(
        f.iter().all(|f| f.format_code == 0),
        "statements describe as text"
    );
    let PgWireBackendMessage::ParameterDescription(params) = &messages[5] else {
        unreachable!()
    };
    assert!(params.types.is_empty());
    let PgWireBackendMessage::RowDescription(desc) = &messages[10] else {
        unreachable!()
    };
    assert!(
        desc.fields.iter().all(|f| f.format_code == 1),
        "one code applies to all"
    );

    // Unknown names.
    raw.send(vec![
        PgWireFrontendMessage::Describe(Describe::new(
            TARGET_TYPE_BYTE_STATEMENT,
            Some("nope".into()),
        )),
        PgWireFrontendMessage::Sync(PgSync::new()),
        PgWireFrontendMessage::Describe(Describe::new(
            TARGET_TYPE_BYTE_PORTAL,
            Some("nope".into()),
        )),
        PgWireFrontendMessage::Sync(PgSync::new()),
    ])
    .await;
    for (code, message) in [
        ("26000", "prepared statement \"nope\" does not exist"),
        ("34000", "portal \"nope\" does not exist"),
    ] {
        let messages = raw.until_ready().await;
        let PgWireBackendMessage::ErrorResponse(err) = &messages[0] else {
            panic!("{messages:?}")
        };
        assert_eq!(error_fields(err)[&b'C'], code);
        assert_eq!(error_fields(err)[&b'M'], message);
    }
}

#[tokio::test]
async fn close_and_duplicate_names() {
    let server = TestServer::start().await;
    let (mut raw, _) = RawClient::connect(server.addr).await;
    raw.send(vec![
        PgWireFrontendMessage::Parse(Parse::new(Some("s".into()), "insert".into(), vec![])),
        PgWireFrontendMessage::Parse(Parse::new(Some("s".into()), "insert".into(), vec![])),
        PgWireFrontendMessage::Sync(PgSync::new()),
    ])
    .await;
    let messages = raw.until_ready().await;
    assert_eq!(
        kinds(&messages),
        ["ParseComplete", "ErrorResponse", "ReadyForQuery"]
    );
    let PgWireBackendMessage::ErrorResponse(err) = &messages[1] else {
        unreachable!()
    };
    assert_eq!(error_fields(err)[&b'C'], "42P05");
    raw.send(vec![
        PgWireFrontendMessage::Close(Close::new(TARGET_TYPE_BYTE_STATEMENT, Some("s".into()))),
        PgWireFrontendMessage::Parse(Parse::new(Some("s".into()), "numbers 1".into(), vec![])),
        PgWireFrontendMessage::Bind(Bind::new(None, Some("s".into()), vec![], vec![], vec![])),
        PgWireFrontendMessage::Execute(Execute::new(None, 0)),
        PgWireFrontendMessage::Sync(PgSync::new()),
    ])
    .await;
    let messages = raw.until_ready().await;
    assert_eq!(
        kinds(&messages),
        [
            "CloseComplete",
            "ParseComplete",
            "BindComplete",
            "DataRow",
            "CommandComplete",
            "ReadyForQuery"
        ]
    );
}

/// `DEALLOCATE` acts on the connection's statements: the fake backend would reject it
/// (42601), so every success here was answered by the protocol layer.
#[tokio::test]
async fn deallocate_drops_prepared_statements() {
    let server = TestServer::start().await;
    let (mut raw, _) = RawClient::connect(server.addr).await;
    let parse = |name: Option<&str>| {
        PgWireFrontendMessage::Parse(Parse::new(name.map(Into::into), "numbers 1".into(), vec![]))
    };
    let bind = |name: Option<&str>| {
        PgWireFrontendMessage::Bind(Bind::new(
            None,
            name.map(Into::into),
            vec![],
            vec![],
            vec![],
        ))
    };
    let sync = || PgWireFrontendMessage::Sync(PgSync::new());
    fn outcome(messages: &[PgWireBackendMessage]) -> Vec<String> {
        messages
            .iter()
            .filter_map(|m| match m {
                PgWireBackendMessage::CommandComplete(c) => Some(c.tag.clone()),
                PgWireBackendMessage::ErrorResponse(e) => Some(format!(
                    "{} {}",
                    error_fields(e)[&b'C'],
                    error_fields(e)[&b'M']
                )),
                _ => None,
            })
            .collect()
    }

    raw.send(vec![
        parse(Some("a")),
        parse(Some("b")),
        parse(None),
        sync(),
    ])
    .await;
    raw.until_ready().await;
    assert_eq!(outcome(&raw.simple("DEALLOCATE a").await), ["DEALLOCATE"]);
    assert_eq!(
        outcome(&raw.simple("deallocate prepare a;").await),
        ["26000 prepared statement \"a\" does not exist"]
    );
    raw.send(vec![bind(Some("a")), sync()]).await;
    assert_eq!(
        outcome(&raw.until_ready().await),
        ["26000 prepared statement \"a\" does not exist"]
    );
    // The name is free again; DEALLOCATE ALL drops every named statement.
    raw.send(vec![parse(Some("a")), sync()]).await;
    assert_eq!(
        kinds(&raw.until_ready().await),
        ["ParseComplete", "ReadyForQuery"]
    );
    assert_eq!(
        outcome(&raw.simple("DEALLOCATE ALL").await),
        ["DEALLOCATE ALL"]
    );
    for name in ["a", "b"] {
        raw.send(vec![bind(Some(name)), sync()]).await;
        assert_eq!(
            outcome(&raw.until_ready().await),
            [format!(
                "26000 prepared statement \"{name}\" does not exist"
            )]
        );
    }
    // ...but keeps the unnamed one, which SQL cannot name.
    raw.send(vec![
        bind(None),
        PgWireFrontendMessage::Execute(Execute::new(None, 0)),
        sync(),
    ])
    .await;
    assert_eq!(outcome(&raw.until_ready().await), ["SELECT 1"]);
    assert_eq!(
        outcome(&raw.simple("DEALLOCATE \"POSTGRESQL_DEFAULT_NAME\"").await),
        ["26000 prepared statement \"POSTGRESQL_DEFAULT_NAME\" does not exist"]
    );

    // In the extended protocol too (psycopg in pipeline mode).
    raw.send(vec![
        parse(Some("c")),
        PgWireFrontendMessage::Parse(Parse::new(None, "DEALLOCATE c".into(), vec![])),
        PgWireFrontendMessage::Describe(Describe::new(TARGET_TYPE_BYTE_STATEMENT, None)),
        bind(None),
        PgWireFrontendMessage::Execute(Execute::new(None, 0)),
        bind(Some("c")),
        sync(),
    ])
    .await;
    let messages = raw.until_ready().await;
    assert_eq!(
        kinds(&messages),
        [
            "ParseComplete",
            "ParseComplete",
            "ParameterDescription",
            "NoData",
            "BindComplete",
            "CommandComplete",
            "ErrorResponse",
            "ReadyForQuery"
        ]
    );
    assert_eq!(
        outcome(&messages),
        [
            "DEALLOCATE",
            "26000 prepared statement \"c\" does not exist"
        ]
    );

    // A failed block refuses it, as any statement but its end.
    raw.send(vec![parse(Some("d")), sync()]).await;
    raw.until_ready().await;
    let messages = raw.simple("begin; fail").await;
    assert_eq!(ready_status(&messages), Some(b'E'));
    let messages = raw.simple("DEALLOCATE ALL").await;
    assert_eq!(
        outcome(&messages),
        ["25P02 current transaction is aborted, commands ignored until end of transaction block"]
    );
    assert_eq!(ready_status(&messages), Some(b'E'));
    raw.simple("rollback").await;
    raw.send(vec![bind(Some("d")), sync()]).await;
    assert_eq!(
        kinds(&raw.until_ready().await),
        ["BindComplete", "ReadyForQuery"]
    );

    // Not a lone DEALLOCATE: the backend's (here a syntax error).
    let messages = raw.simple("DEALLOCATE d; numbers 1").await;
    assert_eq!(kinds(&messages), ["ErrorResponse", "ReadyForQuery"]);
}

#[tokio::test]
async fn portal_row_limits_suspend_and_resume() {
    let server = TestServer::start().await;
    let (mut raw, _) = RawClient::connect(server.addr).await;
    raw.send(vec![PgWireFrontendMessage::Query(Query::new(
        "begin".into(),
    ))])
    .await;
    raw.until_ready().await;
    raw.send(vec![
        PgWireFrontendMessage::Parse(Parse::new(None, "numbers 5".into(), vec![])),
        PgWireFrontendMessage::Bind(Bind::new(Some("c".into()), None, vec![], vec![], vec![0])),
        PgWireFrontendMessage::Execute(Execute::new(Some("c".into()), 2)),
        PgWireFrontendMessage::Execute(Execute::new(Some("c".into()), 2)),
        PgWireFrontendMessage::Flush(Flush::new()),
    ])
    .await;
    let mut messages = Vec::new();
    for _ in 0..7 {
        messages.push(raw.recv().await.unwrap());
    }
    assert_eq!(
        kinds(&messages),
        [
            "ParseComplete",
            "BindComplete",
            "DataRow",
            "DataRow",
            "PortalSuspended",
            "DataRow",
            "DataRow",
        ]
    );
    let PgWireBackendMessage::DataRow(row) = &messages[5] else {
        unreachable!()
    };
    assert_eq!(data_row_values(row)[0].as_deref(), Some(&b"3"[..]));
    raw.send(vec![
        PgWireFrontendMessage::Execute(Execute::new(Some("c".into()), 2)),
        PgWireFrontendMessage::Sync(PgSync::new()),
    ])
    .await;
    let messages = raw.until_ready().await;
    assert_eq!(
        kinds(&messages),
        [
            "PortalSuspended",
            "DataRow",
            "CommandComplete",
            "ReadyForQuery"
        ]
    );
    assert_eq!(ready_status(&messages), Some(b'T'));
    // As in Postgres, the tag counts the rows of the last Execute, and executing the
    // finished portal again completes with no rows.
    let PgWireBackendMessage::CommandComplete(done) = &messages[2] else {
        unreachable!()
    };
    assert_eq!(done.tag, "SELECT 1");
    raw.send(vec![
        PgWireFrontendMessage::Execute(Execute::new(Some("c".into()), 2)),
        PgWireFrontendMessage::Sync(PgSync::new()),
    ])
    .await;
    let messages = raw.until_ready().await;
    let PgWireBackendMessage::CommandComplete(done) = &messages[0] else {
        panic!("{messages:?}")
    };
    assert_eq!(done.tag, "SELECT 0");
}

#[tokio::test]
async fn tokio_postgres_portals() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    let tx = client.transaction().await.unwrap();
    let stmt = tx.prepare("numbers 7").await.unwrap();
    let portal = tx.bind(&stmt, &[]).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let rows = tx.query_portal(&portal, 3).await.unwrap();
        if rows.is_empty() {
            break;
        }
        seen.push(rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>());
    }
    assert_eq!(seen, [vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    tx.commit().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Binary results of every type

#[tokio::test]
async fn binary_results_of_every_type() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let stmt = client.prepare("all types").await.unwrap();
    let (desc, _) = support::all_types();
    for (column, name) in stmt.columns().iter().zip(&desc.names) {
        assert_eq!(column.name(), name);
        let typ = support::scalar_type(name).unwrap();
        assert_eq!(column.type_().oid(), typ.oid(), "{name}");
        assert_eq!(column.type_modifier(), typ.typmod(), "{name}");
    }
    let rows = client.query(&stmt, &[]).await.unwrap();
    assert_eq!(rows.len(), 2);
    let row = &rows[0];
    let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let ts = date.and_hms_micro_opt(13, 14, 15, 500_000).unwrap();
    assert!(row.get::<_, bool>("bool"));
    assert_eq!(row.get::<_, i16>("int2"), -2);
    assert_eq!(row.get::<_, i32>("int4"), 4);
    assert_eq!(row.get::<_, i64>("int8"), 8_000_000_000);
    assert_eq!(row.get::<_, f32>("float4"), 1.5);
    assert_eq!(row.get::<_, f64>("float8"), -2.25);
    assert_eq!(
        row.get::<_, Decimal>("numeric(10,2)").to_string(),
        "12345.67"
    );
    assert_eq!(row.get::<_, Decimal>("numeric").to_string(), "-0.001");
    assert_eq!(row.get::<_, String>("text"), "héllo");
    assert_eq!(row.get::<_, String>("varchar(5)"), "abc");
    assert_eq!(row.get::<_, String>("char(4)"), "ab  ");
    assert_eq!(row.get::<_, String>("name"), "pg_class");
    assert_eq!(row.get::<_, i8>("\"char\""), b'r' as i8);
    assert_eq!(row.get::<_, NaiveDate>("date"), date);
    assert_eq!(
        row.get::<_, NaiveTime>("time"),
        NaiveTime::from_hms_micro_opt(13, 14, 15, 123_456).unwrap()
    );
    assert_eq!(row.get::<_, NaiveDateTime>("timestamp"), ts);
    assert_eq!(
        row.get::<_, DateTime<Utc>>("timestamptz"),
        DateTime::<Utc>::from_naive_utc_and_offset(ts, Utc)
    );
    assert_eq!(
        row.get::<_, PgInterval>("interval"),
        PgInterval {
            micros: 14_706_000_000,
            days: 3,
            months: 14
        }
    );
    assert_eq!(
        row.get::<_, serde_json::Value>("jsonb"),
        serde_json::json!({"a": [1, 2]})
    );
    assert_eq!(row.get::<_, u32>("oid"), 1259);
    assert_eq!(row.get::<_, RegClass>("regclass"), RegClass(1259));
    assert_eq!(row.get::<_, Vec<u8>>("bytea"), [0xde, 0xad]);
    assert_eq!(row.get::<_, PgUuid>("uuid"), PgUuid(UUID));
    assert_eq!(
        row.get::<_, Vec<Option<String>>>("text[]"),
        [Some("a".to_string()), None, Some("b c".to_string())]
    );
    assert_eq!(row.get::<_, Vec<i16>>("int2[]"), [1, 2]);
    assert_eq!(row.get::<_, Vec<u32>>("oid[]"), [23, 25]);
    // The second row is all NULL.
    for idx in 0..rows[1].len() {
        assert!(
            rows[1]
                .try_get::<_, Option<RawBytes>>(idx)
                .unwrap()
                .is_none(),
            "column {idx}"
        );
    }
}

/// Any column as its raw bytes, to check NULLs of every type.
struct RawBytes;

impl<'a> FromSql<'a> for RawBytes {
    fn from_sql(_: &Type, _: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawBytes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

// ---------------------------------------------------------------------------------------
// Connections

#[tokio::test]
async fn too_many_clients_are_rejected_with_53300() {
    let server = TestServer::with_config(PgwireConfig {
        max_connections: 2,
        ..PgwireConfig::default()
    })
    .await;
    let first = server.connect().await;
    let second = server.connect().await;
    let err = connect_error(&server.conn_str()).await;
    let db = db_error(&err);
    assert_eq!(db.code(), &SqlState::TOO_MANY_CONNECTIONS);
    assert_eq!(db.message(), "sorry, too many clients already");
    assert_eq!(db.severity(), "FATAL");
    // The rejected connection never reached the backend.
    assert_eq!(server.backend.open_sessions(), 2);
    second.simple_query("insert").await.unwrap();
    drop(first);
    server.wait_for_closes(1).await;
    // The freed slot can be used again (once the closed connection's task has ended).
    let mut third = None;
    for _ in 0..100 {
        if let Ok((client, connection)) =
            tokio_postgres::connect(&server.conn_str(), tokio_postgres::NoTls).await
        {
            tokio::spawn(connection);
            third = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    third.unwrap().simple_query("insert").await.unwrap();
}

#[tokio::test]
async fn disconnecting_mid_transaction_closes_the_session() {
    let server = TestServer::start().await;
    let (mut raw, _) = RawClient::connect(server.addr).await;
    raw.send(vec![PgWireFrontendMessage::Query(Query::new(
        "begin".into(),
    ))])
    .await;
    assert_eq!(ready_status(&raw.until_ready().await), Some(b'T'));
    drop(raw);
    server.wait_for_closes(1).await;
    assert_eq!(server.backend.open_sessions(), 0);

    // Terminate closes it too.
    let client = server.connect().await;
    client.simple_query("begin").await.unwrap();
    drop(client);
    server.wait_for_closes(2).await;
}

#[tokio::test]
async fn a_bad_message_closes_only_its_connection() {
    let server = TestServer::start().await;
    let good = server.connect().await;
    let (mut bad, _) = RawClient::connect(server.addr).await;
    // An unknown message type byte, then a length that is far too large.
    bad.send_bytes(&[b'!', 0, 0, 0, 4]).await;
    assert!(bad.closed().await);
    let (mut huge, _) = RawClient::connect(server.addr).await;
    huge.send_bytes(&[b'Q', 0x7f, 0xff, 0xff, 0xff]).await;
    assert!(huge.closed().await);
    server.wait_for_closes(2).await;
    // The other connection is unaffected.
    assert_eq!(good.query("numbers 2", &[]).await.unwrap().len(), 2);
    // Garbage instead of a startup message: the server answers (or not) and hangs up.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(&[0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the server closes the connection");
    assert_eq!(good.query("numbers 1", &[]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn cancel_requests_reach_the_session_their_key_names() {
    let server = TestServer::start().await;
    let _other = server.connect().await;
    let client = server.connect().await;
    let token = client.cancel_token();
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let id = match server.backend.events().as_slice() {
        [Event::Opened { .. }, Event::Opened { id, .. }, ..] => *id,
        other => panic!("{other:?}"),
    };
    // The cancel arrives on a connection of its own, which opens no session.
    for _ in 0..200 {
        if server.backend.events().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.backend.events()[2..], [Event::Cancelled { id }]);
    assert_eq!(client.query("numbers 1", &[]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn cancel_requests_with_a_wrong_key_are_ignored() {
    let server = TestServer::start().await;
    let _client = server.connect().await;
    // CancelRequest: length 16, code 80877102, the first session's pid, a wrong key.
    let mut request = Vec::new();
    request.extend_from_slice(&16i32.to_be_bytes());
    request.extend_from_slice(&80877102i32.to_be_bytes());
    request.extend_from_slice(&100_000i32.to_be_bytes());
    request.extend_from_slice(&0x5eed_i32.to_be_bytes());
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !server
            .backend
            .events()
            .iter()
            .any(|e| matches!(e, Event::Cancelled { .. })),
        "{:?}",
        server.backend.events()
    );
}

#[tokio::test]
async fn shutdown_closes_every_session() {
    let mut server = TestServer::start().await;
    let idle = server.connect().await;
    let busy = server.connect().await;
    let running = tokio::spawn(async move { busy.simple_query("sleep").await });
    let (_raw, _) = RawClient::connect(server.addr).await;
    // Let the sleep reach the backend.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.shutdown().await;
    assert_eq!(server.backend.open_sessions(), 0);
    let closes = server
        .backend
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Closed { .. }))
        .count();
    assert_eq!(closes, 3);
    assert!(running.await.unwrap().is_err());
    assert!(idle.simple_query("insert").await.is_err());
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err());
}

// ---------------------------------------------------------------------------------------
// psql

#[tokio::test]
async fn psql_runs_queries() {
    let server = TestServer::start().await;
    let port = server.addr.port().to_string();
    let psql = |sql: &'static str| {
        let port = port.clone();
        tokio::task::spawn_blocking(move || {
            Command::new("psql")
                .args([
                    "-X",
                    "-A",
                    "-t",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "eddy",
                    "-d",
                    "eddy",
                    "-c",
                    sql,
                ])
                .env("PGCONNECT_TIMEOUT", "10")
                .output()
                .expect("psql is installed")
        })
    };
    let out = psql("numbers 3").await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "1|row 1\n2|row 2\n3|row 3\n"
    );

    let out = psql("all types").await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next().unwrap(),
        "t|-2|4|8000000000|1.5|-2.25|12345.67|-0.001|héllo|abc|ab  |pg_class|r|2024-02-29|13:14:15.123456|2024-02-29 13:14:15.5|2024-02-29 13:14:15.5+00|1 year 2 mons 3 days 04:05:06|{\"a\": [1, 2]}|1259|1259|\\xdead|a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11|{a,NULL,\"b c\"}|{1,2}|{23,25}"
    );
    assert_eq!(lines.next().unwrap(), "|".repeat(25));

    let out = psql("fail").await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("ERROR:  relation \"nope\" does not exist"),
        "{stderr}"
    );
    assert!(
        stderr.contains("DETAIL:  the fake has no tables"),
        "{stderr}"
    );
    assert!(stderr.contains("HINT:  create one"), "{stderr}");

    let out = psql("insert").await.unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "INSERT 0 3\n");
}
