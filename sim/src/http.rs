//! The simulated worker's REST API: routing, status codes and bodies as Kafka Connect 3.9's
//! Jersey resources produce them, basic auth as the basic-auth extension does it, and the
//! injected faults.
//!
//! Each request is recorded, then faults apply, then auth, then the route runs against the
//! model under its mutex (no await while it is held).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use tokio::time::{Instant, Sleep};

use super::model::Target;
use super::{Fault, Recorded, Route, Shared};

/// The service error that makes hyper drop the connection without answering.
#[derive(Debug)]
pub(crate) struct CloseConnection;

impl fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sim: connection closed on purpose")
    }
}

impl std::error::Error for CloseConnection {}

/// Response body: whole, or cut short (then the connection fails after a short pause that
/// lets hyper flush the part that was sent).
pub(crate) struct SimBody {
    data: Option<Bytes>,
    cut: Option<Pin<Box<Sleep>>>,
}

impl SimBody {
    fn full(data: impl Into<Bytes>) -> SimBody {
        SimBody {
            data: Some(data.into()).filter(|d: &Bytes| !d.is_empty()),
            cut: None,
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if let Some(d) = this.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        match this.cut.as_mut() {
            None => Poll::Ready(None),
            Some(sleep) => {
                std::task::ready!(std::future::Future::poll(sleep.as_mut(), cx));
                this.cut = None;
                Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "sim: response truncated on purpose",
                ))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.cut.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.data, &self.cut) {
            (_, Some(_)) => SizeHint::default(),
            (Some(d), None) => SizeHint::with_exact(d.len() as u64),
            (None, None) => SizeHint::with_exact(0),
        }
    }
}

/// What a route answers.
#[derive(Debug)]
enum Reply {
    Json(u16, Value),
    Empty(u16),
    Plain(u16, String),
}

fn error(code: u16, message: impl Into<String>) -> Reply {
    Reply::Json(code, json!({"error_code": code, "message": message.into()}))
}

fn not_found_route() -> Reply {
    error(404, "HTTP 404 Not Found")
}

fn method_not_allowed() -> Reply {
    error(405, "HTTP 405 Method Not Allowed")
}

const UNAUTHORIZED: &str = "User cannot access the resource.";
const REBALANCE_EXPECTED: &str = "Request cannot be completed because a rebalance is expected";

impl Reply {
    fn into_response(self) -> Response<SimBody> {
        let (code, ctype, body) = match self {
            Reply::Json(c, v) => (c, Some("application/json"), Bytes::from(v.to_string())),
            Reply::Empty(c) => (c, None, Bytes::new()),
            Reply::Plain(c, t) => (c, Some("text/plain"), Bytes::from(t)),
        };
        let mut r = Response::new(SimBody::full(body));
        *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(t) = ctype {
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(t));
        }
        r
    }

    fn body_text(&self) -> String {
        match self {
            Reply::Json(_, v) => v.to_string(),
            Reply::Empty(_) => String::new(),
            Reply::Plain(_, t) => t.clone(),
        }
    }
}

/// Decoded query parameters, in order, repeated names kept.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Query {
        Query(
            q.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k, true), decode(v, true))
                })
                .collect(),
        )
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// A JAX-RS boolean: true only for "true" (any case); the first value wins.
    fn flag(&self, key: &str) -> bool {
        self.all(key)
            .first()
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// Percent-decoding (and `+` as space in queries); invalid escapes are kept as they are.
fn decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn segments(path: &str) -> Vec<String> {
    let p = path.trim_start_matches('/');
    let p = p.strip_suffix('/').unwrap_or(p);
    if p.is_empty() {
        Vec::new()
    } else {
        p.split('/').map(|s| decode(s, false)).collect()
    }
}

/// The fault classes a request belongs to.
fn classify(method: &Method, segs: &[&str]) -> Vec<Route> {
    let get = method == Method::GET || method == Method::HEAD;
    let put = method == Method::PUT;
    let post = method == Method::POST;
    let r = match segs {
        [] if get => Route::Root,
        ["health"] if get => Route::Health,
        ["connectors"] if get => Route::List,
        ["connectors", _, "status"] if get => Route::Status,
        ["connectors", _, "tasks", _, "status"] if get => Route::Status,
        ["connectors", _, "pause"] if put => Route::Pause,
        ["connectors", _, "resume"] if put => Route::Resume,
        ["connectors", _, "stop"] if put => Route::Stop,
        ["connectors", _, "restart"] if post => Route::Restart,
        ["connectors", _, "tasks", _, "restart"] if post => Route::TaskRestart,
        ["connectors", _, "offsets"] => Route::Offsets,
        ["connectors", _] | ["connectors", _, "config"] | ["connectors", _, "tasks"] if get => {
            Route::Info
        }
        _ => return Vec::new(),
    };
    vec![r]
}

fn authorized(shared: &Shared, req: &Request<Incoming>) -> bool {
    let Some((user, pass)) = &shared.opts.auth else {
        return true;
    };
    let Some(h) = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, creds)) = h.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(creds.trim()) else {
        return false;
    };
    let raw = String::from_utf8_lossy(&raw);
    match raw.split_once(':') {
        Some((u, p)) => u == user && p == pass,
        None => false,
    }
}

/// Answers one request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<SimBody>, CloseConnection> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query_raw = req.uri().query().map(str::to_string);
    let segs = segments(&path);
    let seg_refs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let _in_flight = shared.begin(classify(&method, &seg_refs).first().copied());
    let fault = {
        let mut m = shared.model();
        m.record(Recorded {
            method: method.to_string(),
            path: path.clone(),
            query: query_raw.clone(),
        });
        m.take_fault(&classify(&method, &seg_refs))
    };
    let mut truncate = false;
    match fault {
        None => {}
        Some(Fault::Status(code, body)) => {
            let t = body.trim_start();
            let reply = if t.starts_with('{') || t.starts_with('[') {
                match serde_json::from_str(t) {
                    Ok(v) => Reply::Json(code, v),
                    Err(_) => Reply::Plain(code, body),
                }
            } else {
                Reply::Plain(code, body)
            };
            return Ok(reply.into_response());
        }
        Some(Fault::Unauthorized) => {
            return Ok(Reply::Plain(401, UNAUTHORIZED.into()).into_response());
        }
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::Garbage) => {
            let mut r = Reply::Plain(
                200,
                "<html><head><title>Bad Gateway</title></head><body><h1>upstream sent garbage</h1></body></html>"
                    .into(),
            )
            .into_response();
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return Ok(r);
        }
        Some(Fault::Truncated) => truncate = true,
        Some(Fault::Close) => return Err(CloseConnection),
    }
    if !authorized(&shared, &req) {
        return Ok(Reply::Plain(401, UNAUTHORIZED.into()).into_response());
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(CloseConnection),
    };
    let query = Query::parse(query_raw.as_deref());
    let reply = route(&shared, &method, &seg_refs, &query, &body);
    if truncate {
        let mut text = reply.body_text();
        if text.is_empty() {
            text = json!({"name": seg_refs.get(1).copied().unwrap_or("connector"),
                "connector": {"state": "RUNNING", "worker_id": "127.0.0.1:8083"}, "tasks": [], "type": "source"})
            .to_string();
        }
        let full = text.len();
        let mut r = Response::new(SimBody {
            data: Some(Bytes::from(text.into_bytes()).slice(..full / 2)),
            cut: Some(Box::pin(tokio::time::sleep(Duration::from_millis(20)))),
        });
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(full));
        return Ok(r);
    }
    Ok(reply.into_response())
}

/// What a worker that is still starting answers: its REST server is up, but it has not read
/// the config and status topics yet, so it knows no connector (kafka-connect-rest.md, 5:
/// "During startup, `GET /connectors` can return `[]` and `/status` can return 404").
fn starting_up(segs: &[&str], get: bool, expand: bool, version: &str, v: (u32, u32, u32)) -> Reply {
    match segs {
        [] if get => Reply::Json(
            200,
            json!({"version": version, "commit": "a60e31147e6b01ee", "kafka_cluster_id": "sim-Xk4bQ2ZmTGa8cN1yVYQdJw"}),
        ),
        ["health"] if get && v >= (3, 9, 0) => Reply::Json(
            503,
            json!({"status": "starting", "message": "Worker is still starting up. Current worker startup stage: reading to the end of internal topics."}),
        ),
        ["connectors"] if get && expand => Reply::Json(200, json!({})),
        ["connectors"] if get => Reply::Json(200, json!([])),
        ["connectors", name, "status"] => {
            error(404, format!("No status found for connector {name}"))
        }
        ["connectors", name, ..] => error(404, format!("Unknown connector {name}")),
        _ => not_found_route(),
    }
}

/// Dispatches to the resource methods; version gates make a route unknown (404) as on an
/// older worker.
fn route(shared: &Shared, method: &Method, segs: &[&str], query: &Query, body: &Bytes) -> Reply {
    let now = Instant::now();
    let v = shared.version;
    let get = method == Method::GET || method == Method::HEAD;
    let put = method == Method::PUT;
    let post = method == Method::POST;
    let delete = method == Method::DELETE;
    let patch = method == Method::PATCH;
    let mut m = shared.model();
    let rebalancing = m.rebalancing(now);
    if m.starting(now) {
        return starting_up(segs, get, query.has("expand"), &shared.opts.version, v);
    }
    match segs {
        [] => {
            if !get {
                return method_not_allowed();
            }
            Reply::Json(
                200,
                json!({
                    "version": shared.opts.version,
                    "commit": "a60e31147e6b01ee",
                    "kafka_cluster_id": "sim-Xk4bQ2ZmTGa8cN1yVYQdJw",
                }),
            )
        }
        ["health"] if v >= (3, 9, 0) => {
            if !get {
                return method_not_allowed();
            }
            Reply::Json(
                200,
                json!({"status": "healthy", "message": "Worker has completed startup and is ready to handle requests."}),
            )
        }
        ["connectors"] => {
            if !get {
                // Creating connectors over REST is not simulated (use add_connector).
                return method_not_allowed();
            }
            if !query.has("expand") {
                let names: Vec<&String> = m.connectors.keys().collect();
                return Reply::Json(200, json!(names));
            }
            let expand = query.all("expand");
            let want_status = expand.contains(&"status");
            let want_info = expand.contains(&"info");
            let mut out = Map::new();
            for (name, c) in &m.connectors {
                let mut e = Map::new();
                if want_status {
                    e.insert("status".into(), m.status_json(c, None));
                }
                if want_info {
                    e.insert("info".into(), m.info_json(c));
                }
                out.insert(name.clone(), Value::Object(e));
            }
            Reply::Json(200, Value::Object(out))
        }
        ["connectors", name] => {
            if get {
                if rebalancing {
                    return error(500, REBALANCE_EXPECTED);
                }
                match m.connectors.get(*name) {
                    Some(c) => Reply::Json(200, m.info_json(c)),
                    None => error(404, format!("Connector {name} not found")),
                }
            } else if delete {
                if rebalancing {
                    let msg = m.rebalance_conflict_message();
                    return error(409, msg);
                }
                if m.delete_connector(name) {
                    Reply::Empty(204)
                } else {
                    error(404, format!("Connector {name} not found"))
                }
            } else {
                method_not_allowed()
            }
        }
        ["connectors", name, what @ ("config" | "tasks")] => {
            if !get {
                // PUT /config and POST /tasks are not simulated.
                return method_not_allowed();
            }
            if rebalancing {
                return error(500, REBALANCE_EXPECTED);
            }
            match m.connectors.get(*name) {
                Some(c) if *what == "config" => Reply::Json(200, json!(c.config())),
                Some(c) => Reply::Json(200, m.tasks_json(c)),
                None => error(404, format!("Connector {name} not found")),
            }
        }
        ["connectors", name, "status"] => {
            if !get {
                return method_not_allowed();
            }
            match m.connectors.get(*name) {
                Some(c) => Reply::Json(200, m.status_json(c, None)),
                None => error(404, format!("No status found for connector {name}")),
            }
        }
        ["connectors", name, "tasks", id, "status"] => {
            if !get {
                return method_not_allowed();
            }
            let Ok(id) = id.parse::<u32>() else {
                return not_found_route();
            };
            match m
                .connectors
                .get(*name)
                .and_then(|c| c.tasks.iter().find(|t| t.id == id))
            {
                Some(t) => Reply::Json(200, m.task_status_json(t)),
                None => error(404, format!("No status found for task {name}-{id}")),
            }
        }
        ["connectors", name, op @ ("pause" | "resume")] => {
            if !put {
                return method_not_allowed();
            }
            let target = if *op == "pause" {
                Target::Paused
            } else {
                Target::Started
            };
            if m.set_target(name, target, now) {
                Reply::Empty(202)
            } else {
                error(404, format!("Unknown connector {name}"))
            }
        }
        ["connectors", name, "stop"] if v >= (3, 5, 0) => {
            if !put {
                return method_not_allowed();
            }
            if rebalancing {
                let msg = m.rebalance_conflict_message();
                return error(409, msg);
            }
            if m.set_target(name, Target::Stopped, now) {
                Reply::Empty(204)
            } else {
                error(404, format!("Unknown connector {name}"))
            }
        }
        ["connectors", name, "restart"] => {
            if !post {
                return method_not_allowed();
            }
            if rebalancing {
                let msg = m.rebalance_conflict_message();
                return error(409, msg);
            }
            let kip745 = v >= (3, 0, 0);
            let include_tasks = kip745 && query.flag("includeTasks");
            let only_failed = kip745 && query.flag("onlyFailed");
            let Some(plan) = m.restart_plan(name, include_tasks, only_failed) else {
                return error(404, format!("Unknown connector: {name}"));
            };
            if !include_tasks && !only_failed {
                m.request_plain_restart(name, &plan, now);
                return Reply::Empty(if v >= (3, 0, 1) { 204 } else { 200 });
            }
            let shown = match m.connectors.get(*name) {
                Some(c) => m.status_json(c, Some(&plan)),
                None => return error(404, format!("Status for connector {name} not found")),
            };
            m.request_restart(name, &plan, now);
            Reply::Json(202, shown)
        }
        ["connectors", name, "tasks", id, "restart"] => {
            if !post {
                return method_not_allowed();
            }
            let Ok(id) = id.parse::<u32>() else {
                return not_found_route();
            };
            if rebalancing {
                let msg = m.rebalance_conflict_message();
                return error(409, msg);
            }
            let Some(c) = m.connectors.get(*name) else {
                return error(404, format!("Unknown connector: {name}"));
            };
            if !c.configured_tasks().contains(&id) {
                return error(404, format!("Unknown task: {name}-{id}"));
            }
            let plan = super::model::RestartPlan {
                connector: false,
                tasks: vec![id],
            };
            m.request_plain_restart(name, &plan, now);
            Reply::Empty(204)
        }
        ["connectors", name, "offsets"] if v >= (3, 5, 0) => {
            if get {
                if rebalancing {
                    return error(500, REBALANCE_EXPECTED);
                }
                return match m.connectors.get(*name) {
                    Some(c) => Reply::Json(200, m.offsets_json(c)),
                    None => error(404, format!("Connector {name} not found")),
                };
            }
            if !(patch || delete) || v < (3, 6, 0) {
                return method_not_allowed();
            }
            if rebalancing {
                let msg = m.rebalance_conflict_message();
                return error(409, msg);
            }
            let Some(c) = m.connectors.get(*name) else {
                return error(404, format!("Connector {name} not found"));
            };
            if !m.offsets_modifiable(c) {
                return error(400, format!("Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"));
            }
            if delete {
                m.reset_offsets(name);
                return Reply::Json(
                    200,
                    json!({"message": "The offsets for this connector have been reset successfully"}),
                );
            }
            let offsets = serde_json::from_slice::<Value>(body).ok();
            let has_offsets = offsets
                .as_ref()
                .and_then(|v| v.get("offsets"))
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            if !has_offsets {
                return error(400, "Offsets to be modified may not be null or empty");
            }
            Reply::Json(
                200,
                json!({"message": "The offsets for this connector have been altered successfully"}),
            )
        }
        _ => not_found_route(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_repeated_params_and_decodes() {
        let q = Query::parse(Some("expand=status&expand=info&x=a%2Cb+c"));
        assert_eq!(q.all("expand"), vec!["status", "info"]);
        assert_eq!(q.all("x"), vec!["a,b c"]);
        let q = Query::parse(Some("expand=status,info"));
        assert_eq!(q.all("expand"), vec!["status,info"]);
        assert!(Query::parse(Some("includeTasks=TRUE")).flag("includeTasks"));
        assert!(!Query::parse(Some("includeTasks=1")).flag("includeTasks"));
    }

    #[test]
    fn paths_split_and_decode() {
        assert_eq!(segments("/"), Vec::<String>::new());
        assert_eq!(segments("/connectors/"), vec!["connectors"]);
        assert_eq!(
            segments("/connectors/a%20b/status"),
            vec!["connectors", "a b", "status"]
        );
        assert_eq!(decode("100%", false), "100%");
        assert_eq!(decode("%zz", false), "%zz");
    }
}
