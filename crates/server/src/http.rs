//! The HTTP endpoint: `GET /health` (200 once the catalog and views are loaded; 503
//! while starting, and while the `--views` directory could not be applied, with why)
//! and `GET /metrics` (Prometheus text).

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tracing::debug;

type MetricsSlot = Arc<OnceLock<Arc<eddy_coord::Metrics>>>;

/// What `/health` says.
#[derive(Debug, Default)]
pub struct Health {
    /// The catalog and views are loaded, and pgwire serves.
    pub ready: AtomicBool,
    /// Why the `--views` directory could not be applied (the server serves the last
    /// good catalog meanwhile).
    pub views_error: Mutex<Option<String>>,
}

pub async fn serve(listener: tokio::net::TcpListener, ready: Arc<Health>, metrics: MetricsSlot) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (ready, metrics) = (Arc::clone(&ready), Arc::clone(&metrics));
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (ready, metrics) = (Arc::clone(&ready), Arc::clone(&metrics));
                async move { Ok::<_, Infallible>(route(req, &ready, &metrics)) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(error = %e, "http connection ended with an error");
            }
        });
    }
}

fn text(status: StatusCode, body: String, content_type: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

fn route<B>(req: Request<B>, health: &Health, metrics: &MetricsSlot) -> Response<Full<Bytes>> {
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/health") => {
            let views_error = health
                .views_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone();
            if let Some(error) = views_error {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("views directory not applied: {error}\n"),
                    "text/plain",
                )
            } else if health.ready.load(Ordering::SeqCst) {
                // Degraded, not down: everything else serves (a 503 would get a healthy
                // server restarted by its orchestrator).
                let degraded = metrics.get().map(|m| m.degraded()).unwrap_or_default();
                if degraded.is_empty() {
                    text(StatusCode::OK, "ok\n".into(), "text/plain")
                } else {
                    text(
                        StatusCode::OK,
                        format!("degraded\n{}\n", degraded.join("\n")),
                        "text/plain",
                    )
                }
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "starting\n".into(),
                    "text/plain",
                )
            }
        }
        ("GET", "/metrics") => {
            let body = metrics.get().map(|m| m.render()).unwrap_or_default();
            text(StatusCode::OK, body, "text/plain; version=0.0.4")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".into(), "text/plain"),
    }
}
