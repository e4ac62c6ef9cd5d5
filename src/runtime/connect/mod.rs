//! The Kafka Connect REST client: one listing call per poll, and the four connector actions.
//! Each call is timed into `cdc_sentinel_connect_request_duration_seconds`; errors are typed so
//! the log says why (refused, timeout, 401 with the credential hint, bad JSON, ...) and never
//! carry credentials.

pub mod types;

use std::time::Duration;

use crate::config::ConnectSettings;
use crate::core::classify::redact;
use crate::core::text::path_segment;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::table::ConnectOp;
use types::{kafka_version, ConnectorOffsets, ExpandedMap, RootInfo};

/// The largest `GET /connectors/{n}/offsets` body read (a Debezium source connector's is a few
/// hundred bytes; incremental snapshot keys can make it a few kilobytes).
pub const MAX_OFFSETS_BODY: usize = 1 << 20;

/// Why a call to Kafka Connect failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("Kafka Connect at {url} refused the connection (is the worker running? check --connect-url)")]
    Refused { url: String },
    /// The TCP (or TLS) connection was not made in time: the connect timeout fired.
    #[error("Kafka Connect at {url} did not accept a connection within {after} (the connect timeout: --connect-timeout, at most 10s); check --connect-url and the network path")]
    ConnectTimeout { url: String, after: String },
    /// Connected, but the answer did not come (or not all of it) in time: the request timeout.
    #[error(
        "Kafka Connect at {url} did not answer {what} within {after} (request timeout {flag})"
    )]
    Timeout {
        url: String,
        what: String,
        after: String,
        flag: &'static str,
    },
    #[error("Kafka Connect at {url} could not be reached: {detail}")]
    Unreachable { url: String, detail: String },
    /// The answer began and then broke off: the worker or a proxy closed the connection.
    #[error("Kafka Connect at {url} answered {what} but the answer was cut off ({detail}); the worker or a proxy in between closed the connection mid-answer")]
    CutOff {
        url: String,
        what: String,
        detail: String,
    },
    /// More than `--connect-max-response-size`: not read further, never buffered whole.
    #[error("Kafka Connect answered {what} with an answer larger than {limit} (--connect-max-response-size); raise it if the cluster really lists that much, else check that --connect-url points at Kafka Connect")]
    TooLarge { what: String, limit: String },
    #[error("Kafka Connect answered 401 Unauthorized: check --connect-user and the password (CDC_SENTINEL_CONNECT_PASSWORD or --connect-password-file)")]
    Unauthorized,
    #[error("Kafka Connect answered 403 Forbidden: the user lacks permission for {what}")]
    Forbidden { what: String },
    #[error("not found (404): {message}")]
    NotFound { message: String },
    /// 404 to the listing itself: the URL is not the REST root.
    #[error("{url} answered 404 to {what} ({message}): --connect-url must be the Kafka Connect REST root (http://HOST:8083, with the path prefix only if a proxy adds one)")]
    NoListing {
        url: String,
        what: String,
        message: String,
    },
    #[error("Kafka Connect answered {status} for {what}: {message}")]
    Status {
        status: u16,
        what: String,
        message: String,
    },
    #[error("Kafka Connect answered {what} with a body that is not the expected JSON: {detail}")]
    BadJson { what: String, detail: String },
    /// The worker has no `GET /connectors/{n}/offsets` (KIP-875 came with Kafka 3.5).
    #[error("Kafka Connect at {url} cannot show committed offsets (GET /connectors/NAME/offsets needs Kafka 3.5 or newer, KIP-875; it runs {version})")]
    OffsetsUnsupported { url: String, version: String },
}

impl ConnectError {
    /// A short, stable kind for logs and labels (never the message).
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectError::Refused { .. } => "refused",
            ConnectError::ConnectTimeout { .. } | ConnectError::Timeout { .. } => "timeout",
            ConnectError::Unreachable { .. } => "unreachable",
            ConnectError::CutOff { .. } => "cut_off",
            ConnectError::TooLarge { .. } => "too_large",
            ConnectError::Unauthorized => "unauthorized",
            ConnectError::Forbidden { .. } => "forbidden",
            ConnectError::NotFound { .. } | ConnectError::NoListing { .. } => "not_found",
            ConnectError::Status { .. } => "status",
            ConnectError::BadJson { .. } => "bad_json",
            ConnectError::OffsetsUnsupported { .. } => "unsupported",
        }
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: Option<(String, String)>,
    timeout: Duration,
    action_timeout: Duration,
    connect_timeout: Duration,
    max_response_bytes: u64,
    metrics: Metrics,
}

impl Client {
    pub fn new(s: &ConnectSettings, metrics: Metrics) -> Result<Client, String> {
        let connect_timeout = s.timeout.min(Duration::from_secs(10));
        let mut b = reqwest::Client::builder()
            .timeout(s.action_timeout.max(s.timeout))
            .connect_timeout(connect_timeout)
            .user_agent(concat!("cdc-sentinel/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(2);
        if let Some(pem) = &s.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("--connect-ca: not a PEM certificate bundle ({e})"))?;
            if certs.is_empty() {
                return Err("--connect-ca: no certificate in the file".into());
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if let Some(pem) = &s.identity_pem {
            let id = reqwest::Identity::from_pem(pem).map_err(|e| {
                format!("--connect-client-cert/--connect-client-key: need a PEM certificate and its PEM private key ({e})")
            })?;
            b = b.identity(id);
        }
        let http = b
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let auth = s
            .user
            .clone()
            .map(|u| (u, s.password.clone().unwrap_or_default()));
        Ok(Client {
            http,
            base: s.url.trim_end_matches('/').to_string(),
            auth,
            timeout: s.timeout,
            action_timeout: s.action_timeout.max(s.timeout),
            connect_timeout,
            max_response_bytes: s.max_response_bytes,
            metrics,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn send(
        &self,
        op: ConnectOp,
        what: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, bytes::Bytes), ConnectError> {
        let limit = self.limit(op);
        let req = match &self.auth {
            Some((u, p)) => req.basic_auth(u, Some(p)),
            None => req,
        }
        .timeout(limit);
        let start = tokio::time::Instant::now();
        let res = req.send().await;
        let secs = start.elapsed().as_secs_f64();
        let resp = match res {
            Ok(r) => r,
            Err(e) => {
                self.metrics.connect_request(op, "error", secs);
                return Err(self.transport_error(&e, what, op));
            }
        };
        let status = resp.status().as_u16();
        let body = match self.read_capped(resp, what, op).await {
            Ok(b) => b,
            Err(e) => {
                self.metrics
                    .connect_request(op, "error", start.elapsed().as_secs_f64());
                return Err(e);
            }
        };
        self.metrics
            .connect_request(op, &status.to_string(), start.elapsed().as_secs_f64());
        match status {
            200..=299 => Ok((status, body)),
            401 => Err(ConnectError::Unauthorized),
            403 => Err(ConnectError::Forbidden {
                what: what.to_string(),
            }),
            404 if op == ConnectOp::List => Err(ConnectError::NoListing {
                url: redact(&self.base),
                what: what.to_string(),
                message: error_message(&body),
            }),
            404 => Err(ConnectError::NotFound {
                message: error_message(&body),
            }),
            _ => Err(ConnectError::Status {
                status,
                what: what.to_string(),
                message: error_message(&body),
            }),
        }
    }

    /// The body, read chunk by chunk and never more than `--connect-max-response-size` of it:
    /// a `Content-Length` beyond the cap is refused before reading, a chunked answer as soon
    /// as it passes the cap (the connection is then dropped, not drained).
    async fn read_capped(
        &self,
        mut resp: reqwest::Response,
        what: &str,
        op: ConnectOp,
    ) -> Result<bytes::Bytes, ConnectError> {
        let cap = match op {
            ConnectOp::Offsets => self.max_response_bytes.min(MAX_OFFSETS_BODY as u64),
            _ => self.max_response_bytes,
        };
        let too_large = || ConnectError::TooLarge {
            what: what.to_string(),
            limit: crate::config::describe::size(cap),
        };
        let declared = resp.content_length();
        if declared.is_some_and(|n| n > cap) {
            return Err(too_large());
        }
        // capacity from the declared length (at most the cap), else grown as chunks come
        let mut buf = bytes::BytesMut::with_capacity(declared.unwrap_or(0) as usize);
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if (buf.len() + chunk.len()) as u64 > cap {
                        return Err(too_large());
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(buf.freeze()),
                Err(e) if e.is_timeout() => return Err(self.transport_error(&e, what, op)),
                Err(e) => {
                    return Err(ConnectError::CutOff {
                        url: redact(&self.base),
                        what: what.to_string(),
                        detail: redact(&innermost(&e)),
                    })
                }
            }
        }
    }

    /// Reads are quick; actions may wait for the leader and the config topic.
    fn limit(&self, op: ConnectOp) -> Duration {
        match op {
            ConnectOp::List
            | ConnectOp::Root
            | ConnectOp::Health
            | ConnectOp::Status
            | ConnectOp::Offsets => self.timeout,
            ConnectOp::Pause | ConnectOp::Resume | ConnectOp::Stop | ConnectOp::Restart => {
                self.action_timeout
            }
        }
    }

    fn transport_error(&self, e: &reqwest::Error, what: &str, op: ConnectOp) -> ConnectError {
        let url = redact(&self.base);
        if e.is_timeout() {
            // reqwest reports a connect timeout as a connect error that is also a timeout
            if e.is_connect() {
                return ConnectError::ConnectTimeout {
                    url,
                    after: crate::telemetry::events::human(self.connect_timeout.as_millis() as u64),
                };
            }
            let is_read = matches!(
                op,
                ConnectOp::List
                    | ConnectOp::Root
                    | ConnectOp::Health
                    | ConnectOp::Status
                    | ConnectOp::Offsets
            );
            return ConnectError::Timeout {
                url,
                what: what.to_string(),
                after: crate::telemetry::events::human(self.limit(op).as_millis() as u64),
                flag: if is_read {
                    "--connect-timeout"
                } else {
                    "--connect-action-timeout"
                },
            };
        }
        let detail = innermost(e);
        if detail.to_ascii_lowercase().contains("refused") {
            return ConnectError::Refused { url };
        }
        ConnectError::Unreachable {
            url,
            detail: redact(&detail),
        }
    }

    /// `GET /connectors?expand=status&expand=info`: every connector with its status and config,
    /// in one request.
    pub async fn list(&self) -> Result<ExpandedMap, ConnectError> {
        let what = "GET /connectors?expand=status&expand=info";
        let (_, body) = self
            .send(
                ConnectOp::List,
                what,
                self.http
                    .get(self.url("/connectors?expand=status&expand=info")),
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| bad_json(what, &body, e))
    }

    /// `GET /`: the worker's Kafka version.
    pub async fn root(&self) -> Result<RootInfo, ConnectError> {
        let (_, body) = self
            .send(ConnectOp::Root, "GET /", self.http.get(self.url("/")))
            .await?;
        serde_json::from_slice(&body).map_err(|e| bad_json("GET /", &body, e))
    }

    /// Whether this worker can show committed offsets (`GET /`: Kafka 3.5 or newer, KIP-875).
    /// `Err(OffsetsUnsupported)` for an older one; other errors: ask again later.
    pub async fn offsets_supported(&self) -> Result<(), ConnectError> {
        let root = self.root().await?;
        match kafka_version(&root.version) {
            Some(v) if v >= (3, 5) => Ok(()),
            _ => Err(ConnectError::OffsetsUnsupported {
                url: redact(&self.base),
                version: one_line(&redact(&root.version), 40),
            }),
        }
    }

    /// `GET /connectors/{n}/offsets`: the connector's committed offsets (any state). JAX-RS's
    /// own 404 for an unknown resource (`HTTP 404 Not Found`, not `Connector NAME not found`)
    /// is a worker without the endpoint (older than 3.5, whatever its version string says).
    pub async fn offsets(&self, name: &str) -> Result<ConnectorOffsets, ConnectError> {
        let p = Self::path(name, "/offsets");
        let what = format!("GET {p}");
        let (_, body) = match self
            .send(ConnectOp::Offsets, &what, self.http.get(self.url(&p)))
            .await
        {
            Err(ConnectError::NotFound { message }) if message == "HTTP 404 Not Found" => {
                return Err(ConnectError::OffsetsUnsupported {
                    url: redact(&self.base),
                    version: format!("a version without it: 404 {message}"),
                });
            }
            r => r?,
        };
        serde_json::from_slice(&body).map_err(|e| ConnectError::BadJson {
            what,
            detail: e.to_string(),
        })
    }

    /// `GET /health` (Kafka 3.9+, KIP-1017): whether the worker has finished starting.
    pub async fn health(&self) -> Result<WorkerHealth, ConnectError> {
        #[derive(serde::Deserialize)]
        struct H {
            #[serde(default)]
            status: String,
            #[serde(default)]
            message: String,
        }
        let req = self.http.get(self.url("/health"));
        let h = |body: &[u8]| -> H {
            serde_json::from_slice(body).unwrap_or(H {
                status: String::new(),
                message: error_message(body),
            })
        };
        match self.send(ConnectOp::Health, "GET /health", req).await {
            Ok((_, body)) => {
                let h = h(&body);
                Ok(if h.status == "healthy" {
                    WorkerHealth::Healthy
                } else {
                    WorkerHealth::NotReady(one_line(&format!("{} {}", h.status, h.message), 200))
                })
            }
            // Before 3.9 there is no such resource.
            Err(ConnectError::NotFound { .. }) => Ok(WorkerHealth::Unsupported),
            // 503 starting, 500 unhealthy.
            Err(ConnectError::Status {
                status: 500 | 503,
                message,
                ..
            }) => Ok(WorkerHealth::NotReady(message)),
            Err(e) => Err(e),
        }
    }

    /// `GET /connectors/{n}/status`: one connector's status (404 when the worker has none).
    pub async fn status(&self, name: &str) -> Result<types::StateInfo, ConnectError> {
        let p = Self::path(name, "/status");
        let what = format!("GET {p}");
        let (_, body) = self
            .send(ConnectOp::Status, &what, self.http.get(self.url(&p)))
            .await?;
        serde_json::from_slice(&body).map_err(|e| ConnectError::BadJson {
            what,
            detail: e.to_string(),
        })
    }

    fn path(name: &str, suffix: &str) -> String {
        format!("/connectors/{}{}", path_segment(name), suffix)
    }

    /// One state-changing request on a connector (its answer's body is not needed).
    async fn mutate(
        &self,
        op: ConnectOp,
        method: reqwest::Method,
        name: &str,
        suffix: &str,
    ) -> Result<(), ConnectError> {
        let p = Self::path(name, suffix);
        let what = format!("{method} {p}");
        self.send(op, &what, self.http.request(method, self.url(&p)))
            .await
            .map(drop)
    }

    pub async fn pause(&self, name: &str) -> Result<(), ConnectError> {
        self.mutate(ConnectOp::Pause, reqwest::Method::PUT, name, "/pause")
            .await
    }

    pub async fn resume(&self, name: &str) -> Result<(), ConnectError> {
        self.mutate(ConnectOp::Resume, reqwest::Method::PUT, name, "/resume")
            .await
    }

    pub async fn stop(&self, name: &str) -> Result<(), ConnectError> {
        self.mutate(ConnectOp::Stop, reqwest::Method::PUT, name, "/stop")
            .await
    }

    /// `POST /connectors/{n}/restart?includeTasks=true&onlyFailed=false` (202 + plan): the
    /// connector and every task, FAILED or not.
    pub async fn restart_tasks(&self, name: &str) -> Result<(), ConnectError> {
        let q = "/restart?includeTasks=true&onlyFailed=false";
        self.mutate(ConnectOp::Restart, reqwest::Method::POST, name, q)
            .await
    }

    /// `POST /connectors/{n}/restart?includeTasks=true&onlyFailed=true` (202 + plan).
    pub async fn restart_failed(&self, name: &str) -> Result<(), ConnectError> {
        let q = "/restart?includeTasks=true&onlyFailed=true";
        self.mutate(ConnectOp::Restart, reqwest::Method::POST, name, q)
            .await
    }
}

/// The deepest cause of an error: reqwest's own text is "error sending request for url ...",
/// the cause says what happened ("connection closed before message completed").
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut detail = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    detail
}

/// A body that did not parse: an HTML page (a proxy, a login page, a UI at that URL) is named
/// as one; otherwise the parser's word, which says where it stopped.
fn bad_json(what: &str, body: &[u8], e: serde_json::Error) -> ConnectError {
    let detail = if looks_like_html(body) {
        error_message(body)
    } else if body.iter().all(u8::is_ascii_whitespace) {
        "an empty answer".to_string()
    } else {
        e.to_string()
    };
    ConnectError::BadJson {
        what: what.into(),
        detail,
    }
}

fn looks_like_html(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(4096)]).to_ascii_lowercase();
    head.contains("<html") || head.trim_start().starts_with("<!doctype")
}

/// What `GET /health` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerHealth {
    /// `healthy`: the worker has completed startup.
    Healthy,
    /// `starting` (503) or `unhealthy` (500), with the worker's own words.
    NotReady(String),
    /// A worker older than 3.9 has no `/health`.
    Unsupported,
}

/// The `message` of a Kafka Connect JSON error, or a one-line summary of anything else (an HTML
/// error page from Jetty while the worker starts, a proxy's text), redacted.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct E {
        message: Option<String>,
    }
    if let Ok(E { message: Some(m) }) = serde_json::from_slice::<E>(body) {
        return one_line(&redact(&m), 300);
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let lower = text.to_ascii_lowercase();
    if looks_like_html(body) {
        let title = lower
            .find("<title>")
            .and_then(|i| text[i + 7..].split('<').next())
            .map(|t| format!(" ({})", one_line(t, 120)))
            .unwrap_or_default();
        return format!("an HTML page{title}, not Kafka Connect's JSON (is the worker still starting, or is a proxy or another service answering at --connect-url?)");
    }
    one_line(&redact(&text), 300)
}

/// Collapses whitespace (newlines included) and cuts at `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &flat[..i]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_and_errors_redacted() {
        assert_eq!(
            error_message(br#"{"error_code":409,"message":"Cannot complete request"}"#),
            "Cannot complete request"
        );
        assert_eq!(
            error_message(b"User cannot access the resource."),
            "User cannot access the resource."
        );
        assert!(!error_message(br#"{"message":"bad database.password=x1y2"}"#).contains("x1y2"));
        let jetty = b"<html>\n<head>\n<meta http-equiv=\"Content-Type\"/>\n<title>Error 404 Not Found</title>\n</head>\n<body><h2>HTTP ERROR 404 Not Found</h2>\n</body>\n</html>\n";
        let m = error_message(jetty);
        assert!(!m.contains('\n') && !m.contains("<h2>"), "{m}");
        assert!(
            m.contains("Error 404 Not Found") && m.contains("still starting"),
            "{m}"
        );
    }
}
