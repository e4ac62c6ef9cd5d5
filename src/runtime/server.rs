//! The agent's HTTP endpoints: `/metrics`, `/healthz` (alive), `/readyz` (a Kafka Connect poll
//! succeeded within the last three poll intervals) and a small landing page linking them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::runtime::health::Health;
use crate::telemetry::metrics::Metrics;

const LANDING: &str = "<!doctype html><html><head><title>cdc-sentinel</title></head><body>\
<h1>cdc-sentinel</h1><p>Holds Kafka Connect connectors while their database is down.</p>\
<ul><li><a href=\"/metrics\">/metrics</a></li><li><a href=\"/healthz\">/healthz</a> (alive)</li>\
<li><a href=\"/readyz\">/readyz</a> (Kafka Connect polled recently)</li></ul></body></html>\n";

/// Binds the listener (so a busy port is an error at start-up, not later).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    health: Health,
    shutdown: CancellationToken,
) {
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let metrics = metrics.clone();
        let health = health.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let metrics = metrics.clone();
                let health = health.clone();
                async move { Ok::<_, Infallible>(route(req, &metrics, &health)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// How many rendered chunks (of ~64 KiB) a scrape may have waiting to be sent.
const QUEUED_CHUNKS: usize = 4;

/// A streamed `/metrics` body: the chunks a blocking render sends as they fill. Dropping it
/// (the client went away, or the request was a HEAD) closes the channel and the render stops.
struct Chunks(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

/// `/metrics`, streamed: the exposition of 10,000 connectors is 37 MiB, and a scrape now holds
/// a few chunks of it at a time instead of the whole text.
fn metrics_response(metrics: &Metrics) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel(QUEUED_CHUNKS);
    let m = metrics.clone();
    tokio::task::spawn_blocking(move || m.render_chunks(tx));
    let mut r = Response::new(Chunks(rx).boxed());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

fn text(status: StatusCode, ctype: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(ctype),
    );
    r
}

fn route(req: Request<Incoming>, metrics: &Metrics, health: &Health) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "method not allowed\n",
        );
    }
    match req.uri().path() {
        "/metrics" => metrics_response(metrics),
        "/healthz" => text(StatusCode::OK, "text/plain; charset=utf-8", "ok\n"),
        "/readyz" => {
            if health.ready() {
                text(StatusCode::OK, "text/plain; charset=utf-8", "ready\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "not ready: no successful Kafka Connect poll in the last 3 poll intervals\n",
                )
            }
        }
        "/" => text(StatusCode::OK, "text/html; charset=utf-8", LANDING),
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /metrics, /healthz, /readyz\n",
        ),
    }
}
