//! Loopback networking for tests: free ports and a minimal blocking HTTP GET.
//!
//! The HTTP client speaks HTTP/1.0 with `Connection: close`, so the server answers with
//! a close-delimited body (no chunked encoding) and one read-to-end gets all of it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

/// A port on 127.0.0.1 that was free a moment ago: the kernel picks it when binding port
/// 0, and the listener is closed before returning. Another process may take it before the
/// caller binds it, so callers that start servers retry on a collision.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// An HTTP response: status code, content type and body text.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    pub body: String,
}

/// `GET http://127.0.0.1:{port}{path}` with connect and read timeouts of `timeout`.
pub fn http_get(port: u16, path: &str, timeout: Duration) -> Result<HttpResponse> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("reading the response to GET {path}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| anyhow!("malformed HTTP status line {status_line:?}"))?;
    let content_type = head.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-type")
            .then(|| value.trim().to_string())
    });
    Ok(HttpResponse {
        status,
        content_type,
        body: body.to_string(),
    })
}
