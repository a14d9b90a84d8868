//! Who gets in and for how long, against the fake backend with tokio-postgres:
//! SCRAM-SHA-256 passwords, TLS-only servers and the idle timeouts. (TLS itself is
//! tested with psql in the server's `security` tests.)

mod support;

use std::sync::Arc;
use std::time::Duration;

use eddy_pgwire::{Auth, Passwords, PgwireConfig, PlainConnections};
use support::TestServer;
use tokio_postgres::error::SqlState;

fn with_password(user: &str, password: &str) -> PgwireConfig {
    PgwireConfig {
        auth: Auth::Password(Arc::new(Passwords::single(user, password))),
        ..PgwireConfig::default()
    }
}

fn conn_str(server: &TestServer, user: &str, password: Option<&str>) -> String {
    let mut text = format!(
        "host=127.0.0.1 port={} user={user} dbname=eddy",
        server.addr.port()
    );
    if let Some(password) = password {
        text.push_str(&format!(" password={password}"));
    }
    text
}

async fn connect(conn_str: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conn_str, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The FATAL error a failed login gets: (SQLSTATE, message).
async fn login_error(conn_str: &str) -> (SqlState, String) {
    let err = match connect(conn_str).await {
        Ok(_) => panic!("logging in with {conn_str:?} succeeded"),
        Err(err) => err,
    };
    let db = err
        .as_db_error()
        .unwrap_or_else(|| panic!("expected a server error, got {err:?}"));
    assert_eq!(db.severity(), "FATAL", "{db:?}");
    (db.code().clone(), db.message().to_string())
}

#[tokio::test]
async fn the_right_password_logs_in() {
    let server = TestServer::with_config(with_password("eddy", "pencil")).await;
    let client = connect(&conn_str(&server, "eddy", Some("pencil")))
        .await
        .expect("the right password logs in");
    client.simple_query("insert").await.unwrap();
    assert_eq!(server.backend.open_sessions(), 1);
}

#[tokio::test]
async fn a_wrong_password_or_user_fails_with_28p01() {
    let server = TestServer::with_config(with_password("eddy", "pencil")).await;
    assert_eq!(
        login_error(&conn_str(&server, "eddy", Some("pen"))).await,
        (
            SqlState::INVALID_PASSWORD,
            "password authentication failed for user \"eddy\"".into()
        )
    );
    // A user that does not exist fails the same way, after the same exchange.
    assert_eq!(
        login_error(&conn_str(&server, "mallory", Some("pencil"))).await,
        (
            SqlState::INVALID_PASSWORD,
            "password authentication failed for user \"mallory\"".into()
        )
    );
    // A client without a password gives up when asked for one.
    let err = connect(&conn_str(&server, "eddy", None))
        .await
        .err()
        .unwrap();
    assert!(format!("{err:?}").contains("password missing"), "{err:?}");
    // None of these reached the backend.
    assert_eq!(server.backend.open_sessions(), 0);
}

#[tokio::test]
async fn trust_needs_no_password() {
    let server = TestServer::start().await;
    connect(&conn_str(&server, "anyone", None))
        .await
        .expect("trust lets anyone in");
}

#[tokio::test]
async fn a_tls_only_server_refuses_plain_connections() {
    let server = TestServer::with_config(PgwireConfig {
        plain: PlainConnections::Refused,
        ..PgwireConfig::default()
    })
    .await;
    let (code, message) = login_error(&conn_str(&server, "eddy", None)).await;
    assert_eq!(code, SqlState::INVALID_AUTHORIZATION_SPECIFICATION);
    assert_eq!(
        message,
        "connection for user \"eddy\", database \"eddy\" refused: no encryption"
    );
    assert_eq!(server.backend.open_sessions(), 0);
}

/// Connects, runs `statements`, then waits for the server to end the idle connection
/// and returns the error it sent.
async fn idle_error(server: &TestServer, statements: &str) -> (SqlState, String) {
    let (client, connection) =
        tokio_postgres::connect(&conn_str(server, "eddy", None), tokio_postgres::NoTls)
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    client.batch_execute(statements).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the server closes an idle connection")
        .unwrap();
    let err = ended.expect_err("the connection ends with the server's error");
    let db = err
        .as_db_error()
        .unwrap_or_else(|| panic!("expected a server error, got {err:?}"));
    assert_eq!(db.severity(), "FATAL");
    assert!(client.is_closed());
    (db.code().clone(), db.message().to_string())
}

#[tokio::test]
async fn idle_sessions_are_closed_after_their_timeout() {
    let server = TestServer::with_config(PgwireConfig {
        idle_session_timeout: Some(Duration::from_millis(300)),
        idle_in_transaction_session_timeout: Some(Duration::from_secs(3600)),
        ..PgwireConfig::default()
    })
    .await;
    assert_eq!(
        idle_error(&server, "insert").await,
        (
            SqlState::IDLE_SESSION_TIMEOUT,
            "terminating connection due to idle-session timeout".into()
        )
    );
    server.wait_for_closes(1).await;
}

#[tokio::test]
async fn sessions_idle_in_a_transaction_are_closed_after_their_timeout() {
    let server = TestServer::with_config(PgwireConfig {
        idle_in_transaction_session_timeout: Some(Duration::from_millis(300)),
        ..PgwireConfig::default()
    })
    .await;
    assert_eq!(
        idle_error(&server, "begin; insert").await,
        (
            SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
            "terminating connection due to idle-in-transaction timeout".into()
        )
    );
    server.wait_for_closes(1).await;
    // Outside a transaction block, that timeout does not apply.
    let client = connect(&conn_str(&server, "eddy", None)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    client.simple_query("insert").await.unwrap();
}

#[tokio::test]
async fn a_postgres_verifier_logs_in_with_its_password() {
    // The verifier of "pencil" with RFC 7677's salt, computed with Python's hashlib
    // (PBKDF2-HMAC-SHA-256, HMAC "Client Key" hashed, HMAC "Server Key"), in the form
    // of `pg_authid.rolpassword`.
    let file = "eddy:SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$\
                WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:\
                wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\n";
    let server = TestServer::with_config(PgwireConfig {
        auth: Auth::Password(Arc::new(Passwords::parse_file(file).unwrap())),
        ..PgwireConfig::default()
    })
    .await;
    connect(&conn_str(&server, "eddy", Some("pencil")))
        .await
        .expect("the verifier's password logs in");
    assert_eq!(
        login_error(&conn_str(&server, "eddy", Some("SCRAM-SHA-256")))
            .await
            .0,
        SqlState::INVALID_PASSWORD
    );
}

#[tokio::test]
async fn an_extended_query_pipeline_before_its_sync_is_not_idle() {
    use pgwire::messages::extendedquery::{Bind, Execute, Parse, Sync};
    use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
    let server = TestServer::with_config(PgwireConfig {
        idle_session_timeout: Some(Duration::from_millis(300)),
        ..PgwireConfig::default()
    })
    .await;
    let (mut raw, _) = support::RawClient::connect(server.addr).await;
    raw.send(vec![
        PgWireFrontendMessage::Parse(Parse::new(None, "numbers 3".into(), vec![])),
        PgWireFrontendMessage::Bind(Bind::new(None, None, vec![], vec![], vec![])),
        PgWireFrontendMessage::Execute(Execute::new(None, 1)),
    ])
    .await;
    // Three times the timeout without a Sync: no ReadyForQuery was sent, not idle.
    tokio::time::sleep(Duration::from_millis(900)).await;
    raw.send(vec![
        PgWireFrontendMessage::Execute(Execute::new(None, 0)),
        PgWireFrontendMessage::Sync(Sync::new()),
    ])
    .await;
    let messages = raw.until_ready().await;
    assert_eq!(
        support::kinds(&messages),
        [
            "ParseComplete",
            "BindComplete",
            "DataRow",
            "PortalSuspended",
            "DataRow",
            "DataRow",
            "CommandComplete",
            "ReadyForQuery"
        ]
    );
    // After the ReadyForQuery, it is idle.
    match raw.recv().await {
        Some(PgWireBackendMessage::ErrorResponse(error)) => {
            let fields = support::error_fields(&error);
            assert_eq!(fields[&b'C'], "57P05");
        }
        other => panic!("expected the idle-session timeout, got {other:?}"),
    }
    assert!(raw.closed().await);
}
