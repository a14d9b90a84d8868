//! The HTTP endpoint: `GET /health` (200 once the catalog and views are loaded; 503
//! while starting, and while the `--views` directory could not be applied, with why),
//! `GET /metrics` (Prometheus text), and the status page for people, `GET /` with
//! `GET /status.json` (see `status.rs`).

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tracing::debug;

use crate::status::{self, FreshnessHistory};

/// The coordinator's metrics, once it has started.
pub(crate) type MetricsSlot = Arc<OnceLock<Arc<eddy_coord::Metrics>>>;

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
    let history = Arc::new(FreshnessHistory::default());
    tokio::spawn(status::sample(Arc::clone(&history), Arc::clone(&metrics)));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (ready, metrics, history) = (
            Arc::clone(&ready),
            Arc::clone(&metrics),
            Arc::clone(&history),
        );
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (ready, metrics, history) = (
                    Arc::clone(&ready),
                    Arc::clone(&metrics),
                    Arc::clone(&history),
                );
                async move { Ok::<_, Infallible>(route(req, &ready, &metrics, &history)) }
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

/// What `/health` answers: 200 `ok`, or `degraded` with what is wrong (everything
/// else serves); 503 while starting or while the views directory is not applied.
pub(crate) fn health(
    health: &Health,
    metrics: Option<&eddy_coord::Metrics>,
) -> (StatusCode, String) {
    let views_error = health
        .views_error
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    if let Some(error) = views_error {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("views directory not applied: {error}\n"),
        )
    } else if health.ready.load(Ordering::SeqCst) {
        // Degraded, not down: everything else serves (a 503 would get a healthy
        // server restarted by its orchestrator).
        let degraded = metrics.map(|m| m.degraded()).unwrap_or_default();
        if degraded.is_empty() {
            (StatusCode::OK, "ok\n".into())
        } else {
            (
                StatusCode::OK,
                format!("degraded\n{}\n", degraded.join("\n")),
            )
        }
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n".into())
    }
}

fn route<B>(
    req: Request<B>,
    health: &Health,
    metrics: &MetricsSlot,
    history: &FreshnessHistory,
) -> Response<Full<Bytes>> {
    let metrics = metrics.get().map(Arc::as_ref);
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/health") => {
            let (status, body) = self::health(health, metrics);
            text(status, body, "text/plain")
        }
        ("GET", "/metrics") => {
            let body = metrics.map(|m| m.render()).unwrap_or_default();
            text(StatusCode::OK, body, "text/plain; version=0.0.4")
        }
        ("GET", "/") => {
            let page = status::page(&status::status_json(health, metrics, history));
            text(StatusCode::OK, page, "text/html; charset=utf-8")
        }
        ("GET", "/status.json") => text(
            StatusCode::OK,
            status::status_json(health, metrics, history),
            "application/json",
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n".into(), "text/plain"),
    }
}
