//! A fake Kubernetes API server serving Strimzi's `KafkaConnector` resource, for tests.
//! Self-contained (hyper, tokio, serde_json), so it can move into the simulator crate.
//!
//! What it reproduces, as the real kube-apiserver does it for a custom resource with a status
//! subresource and `conversion: None`:
//! - discovery: `/api`, `/apis`, `/apis/kafka.strimzi.io`, `/apis/kafka.strimzi.io/{v1,v1beta2}`
//!   for the versions configured; an unserved version is a 404 Status;
//! - bearer-token authentication (401 Status), and injected 403s with the real message shape
//!   (`... is forbidden: User "..." cannot patch resource "kafkaconnectors" in API group ...`);
//! - list (label and field selectors, `limit`/`continue` pages served at the first page's
//!   resourceVersion, 410 Expired once that version is compacted), get, create, update (PUT,
//!   resourceVersion required), delete, and the `status` subresource (only status changes);
//! - patch: `application/merge-patch+json` (RFC 7386) and `application/json-patch+json`
//!   (RFC 6902, a failed `test` is a 422), `strategic-merge-patch` is a 415 as for every custom
//!   resource; a `metadata.resourceVersion` in the result that is not the current one is a 409
//!   Conflict; a no-op patch changes nothing (no new resourceVersion, no event); `generation`
//!   moves on spec changes only; status changes through the main resource are ignored;
//!   `fieldValidation=Strict` turns unknown fields into a 400, otherwise they are dropped;
//!   `spec.state` is checked against its enum (422 Invalid);
//! - v1 has no `spec.pause` (dropped on read and write), v1beta2 has it;
//! - watch (`?watch=true`): ADDED/MODIFIED/DELETED from the given resourceVersion (none or "0":
//!   the current objects as ADDED first), an object leaving the label selector is DELETED,
//!   `allowWatchBookmarks` BOOKMARKs, `sendInitialEvents` with the `k8s.io/initial-events-end`
//!   bookmark, `timeoutSeconds`, and an ERROR event with a 410 Expired Status for a compacted
//!   resourceVersion;
//! - faults: a status code for a verb (optionally one name, optionally N times), a delay, a
//!   request that never gets an answer, a connection closed without an answer, dropped watches,
//!   the whole server down (connections refused) and back on the same port.
//!
//! Not reproduced: server-side apply (a 415 here), `managedFields[].fieldsV1` (each entry only
//! records manager, operation, apiVersion and time), admission webhooks, finalizers.
//!
//! [`FakeApi::spawn_operator`] runs a Strimzi-like Cluster Operator loop against it.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

const GROUP: &str = "kafka.strimzi.io";
const PLURAL: &str = "kafkaconnectors";
const KIND: &str = "KafkaConnector";
/// Events kept for watches and consistent paged lists; older ones are compacted.
const HISTORY: usize = 10_000;

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Served versions of `kafka.strimzi.io`, e.g. `["v1", "v1beta2"]` (Strimzi 0.49 to 0.51),
    /// `["v1"]` (1.0+), `["v1beta2"]` (0.38 to 0.48).
    pub versions: Vec<&'static str>,
    /// The CRD has `spec.state` (Strimzi 0.38+). `false`: the pre-0.38 schema, `spec.pause`
    /// only.
    pub state_field: bool,
    /// The bearer token it accepts; `None` accepts any request.
    pub token: Option<String>,
    /// The user named in 403 messages.
    pub user: String,
    /// Interval of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
}

impl Default for FakeConfig {
    fn default() -> Self {
        let n = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        FakeConfig {
            versions: vec!["v1", "v1beta2"],
            state_field: true,
            token: Some(format!("fake-token-{n:09}")),
            user: "system:serviceaccount:cdc:cdc-sentinel".into(),
            bookmark_interval: Duration::from_secs(1),
        }
    }
}

/// An injected failure.
#[derive(Debug, Clone)]
pub struct Fault {
    /// RBAC verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`), or `discover`
    /// for the discovery endpoints; `None`: every request.
    pub verb: Option<String>,
    /// Only requests for this object name.
    pub name: Option<String>,
    /// Only requests whose query has this parameter (e.g. `continue`).
    pub with_query: Option<String>,
    pub action: FaultAction,
    /// Applies this many times, then goes away; `None`: until cleared.
    pub times: Option<u32>,
}

#[derive(Debug, Clone)]
pub enum FaultAction {
    /// Answer with this status code and the API server's Status body for it (403 names the
    /// verb, resource and namespace as kube-apiserver does).
    Status(u16),
    /// Answer, but this much later.
    Delay(Duration),
    /// Never answer (the connection stays open).
    Hang,
    /// Close the connection without an answer.
    Close,
    /// Another client writes first: this merge patch is applied to the named object (as field
    /// manager `other-client`) just before the request is handled, as a concurrent write would
    /// be. A patch of ours decided on the earlier version then meets a real 409.
    Mutate(Value),
}

impl Fault {
    pub fn status(verb: &str, code: u16) -> Self {
        Fault {
            verb: Some(verb.into()),
            name: None,
            with_query: None,
            action: FaultAction::Status(code),
            times: None,
        }
    }
    pub fn action(verb: &str, action: FaultAction) -> Self {
        Fault {
            verb: Some(verb.into()),
            name: None,
            with_query: None,
            action,
            times: None,
        }
    }
    pub fn with_query(mut self, key: &str) -> Self {
        self.with_query = Some(key.into());
        self
    }
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
    pub fn for_name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    /// `fieldManager` of a write.
    pub field_manager: Option<String>,
    pub body: Option<Value>,
    /// The status code answered (0: none, the connection was closed or left hanging).
    pub code: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

struct Event {
    rv: u64,
    ty: EventType,
    ns: String,
    name: String,
    /// Before the change (None for ADDED).
    old: Option<Value>,
    /// After the change (for DELETED: the last state, with the deletion's resourceVersion).
    new: Value,
}

struct State {
    cfg: FakeConfig,
    rv: u64,
    uid: u64,
    /// (namespace, name) -> stored object (no apiVersion/kind).
    objects: BTreeMap<(String, String), Value>,
    events: VecDeque<Event>,
    /// Versions at or below this are compacted (410 for watches and continued lists).
    compacted: u64,
    faults: Vec<Fault>,
    log: Vec<Logged>,
}

struct Shared {
    state: Mutex<State>,
    /// Bumped on every change: watches and the operator wait on it.
    changed: watch::Sender<u64>,
    /// Bumped to break every open watch.
    kill_watches: watch::Sender<u64>,
    /// Open connections, aborted when the server goes down.
    conns: Mutex<Vec<JoinHandle<()>>>,
}

/// The running fake. Dropping it stops the server and every connection.
pub struct FakeApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.down();
    }
}

type BoxBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

impl FakeApi {
    /// Starts on 127.0.0.1, a free port.
    pub async fn start(cfg: FakeConfig) -> std::io::Result<FakeApi> {
        let (changed, _) = watch::channel(0);
        let (kill_watches, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                cfg,
                rv: 1000,
                uid: 0,
                objects: BTreeMap::new(),
                events: VecDeque::new(),
                compacted: 1000,
                faults: Vec::new(),
                log: Vec::new(),
            }),
            changed,
            kill_watches,
            conns: Mutex::new(Vec::new()),
        });
        let listener = bind("127.0.0.1:0".parse().unwrap())?;
        let addr = listener.local_addr()?;
        let fake = FakeApi {
            shared,
            addr,
            acceptor: Mutex::new(None),
        };
        fake.serve(listener);
        Ok(fake)
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let s = shared.clone();
                let conn = tokio::spawn(serve_connection(s, stream));
                let mut conns = shared.conns.lock().unwrap();
                conns.retain(|c| !c.is_finished());
                conns.push(conn);
            }
        });
        *self.acceptor.lock().unwrap() = Some(task);
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token(&self) -> Option<String> {
        self.shared.state.lock().unwrap().cfg.token.clone()
    }

    /// Writes a kubeconfig for this server (context namespace `namespace`) and returns its
    /// path.
    pub fn write_kubeconfig(
        &self,
        dir: &Path,
        namespace: &str,
    ) -> std::io::Result<std::path::PathBuf> {
        let user = match self.token() {
            Some(t) => format!("    token: {t}\n"),
            None => "    {}\n".into(),
        };
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: {namespace}\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n{user}",
            self.url()
        );
        let path = dir.join("kubeconfig");
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// Stops listening and drops every open connection: clients see "connection refused".
    pub fn down(&self) {
        if let Some(t) = self.acceptor.lock().unwrap().take() {
            t.abort();
        }
        for c in self.shared.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// Listens again on the same port.
    pub fn up(&self) -> std::io::Result<()> {
        if self.acceptor.lock().unwrap().is_some() {
            return Ok(());
        }
        let listener = bind(self.addr)?;
        self.serve(listener);
        Ok(())
    }

    /// Changes the served versions, as a Strimzi upgrade that drops `v1beta2` does.
    pub fn serve_versions(&self, versions: Vec<&'static str>) {
        self.shared.state.lock().unwrap().cfg.versions = versions;
    }

    pub fn fail(&self, fault: Fault) {
        self.shared.state.lock().unwrap().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.state.lock().unwrap().faults.clear();
    }

    /// Breaks every open watch mid-stream.
    pub fn drop_watches(&self) {
        self.shared.kill_watches.send_modify(|g| *g += 1);
    }

    /// Forgets the history up to now: older resourceVersions get 410 Gone / Expired.
    pub fn compact(&self) {
        let mut st = self.shared.state.lock().unwrap();
        st.compacted = st.rv;
        st.events.clear();
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.shared.state.lock().unwrap().log.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.state.lock().unwrap().log.clear();
    }

    /// The current resourceVersion of the whole store.
    pub fn resource_version(&self) -> u64 {
        self.shared.state.lock().unwrap().rv
    }

    /// Creates a `KafkaConnector` as `kubectl create` would (no HTTP; not logged).
    pub fn create(&self, namespace: &str, object: Value) -> Result<Value, String> {
        let mut st = self.shared.state.lock().unwrap();
        let r = st.create(namespace, object, "v1beta2", false, "kubectl");
        drop(st);
        self.notify();
        r.map_err(|(c, b)| format!("{c}: {}", b["message"]))
    }

    /// A `KafkaConnector` named `name`, labelled for `cluster`, with `spec.state` if given.
    pub fn create_connector(
        &self,
        namespace: &str,
        name: &str,
        cluster: &str,
        state: Option<&str>,
    ) -> Value {
        let mut spec = json!({"class": "io.debezium.connector.postgresql.PostgresConnector", "tasksMax": 1,
                              "config": {"database.hostname": "db", "database.password": "${secrets:cdc/db:password}"}});
        if let Some(s) = state {
            spec["state"] = json!(s);
        }
        self.create(namespace, json!({"metadata": {"name": name, "labels": {"strimzi.io/cluster": cluster}}, "spec": spec}))
            .expect("create")
    }

    /// The stored object (as served by `v1beta2`, the widest schema), if any.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Value> {
        let st = self.shared.state.lock().unwrap();
        st.objects
            .get(&(namespace.to_string(), name.to_string()))
            .map(|o| versioned(o, "v1beta2"))
    }

    /// A human's edit, like `kubectl patch --type merge` (no HTTP; not logged): merge patch
    /// under field manager `kubectl-patch`.
    pub fn human_patch(&self, namespace: &str, name: &str, patch: Value) -> Result<Value, String> {
        let mut st = self.shared.state.lock().unwrap();
        let r = st.patch(
            namespace,
            name,
            "v1beta2",
            Patcher::Merge(&patch),
            Sub::Main,
            "kubectl-patch",
            false,
        );
        drop(st);
        self.notify();
        r.map_err(|(c, b)| format!("{c}: {}", b["message"]))
    }

    /// Writes `status` as the operator does (status subresource).
    pub fn set_status(&self, namespace: &str, name: &str, status: Value) -> Result<Value, String> {
        let mut st = self.shared.state.lock().unwrap();
        let r = st.patch(
            namespace,
            name,
            "v1beta2",
            Patcher::Merge(&json!({"status": status})),
            Sub::Status,
            "strimzi-cluster-operator",
            false,
        );
        drop(st);
        self.notify();
        r.map_err(|(c, b)| format!("{c}: {}", b["message"]))
    }

    /// Deletes as `kubectl delete` would (no HTTP; not logged).
    pub fn delete(&self, namespace: &str, name: &str) -> bool {
        let mut st = self.shared.state.lock().unwrap();
        let r = st.delete(namespace, name).is_ok();
        drop(st);
        self.notify();
        r
    }

    fn notify(&self) {
        self.shared.changed.send_modify(|g| *g += 1);
    }

    /// Runs a Strimzi-like Cluster Operator for the `KafkaConnect` `cluster` in `namespace`:
    /// on every change and every `period`, for each of its `KafkaConnector`s (unless
    /// `strimzi.io/pause-reconciliation: "true"`), it calls `connect` with the desired state
    /// (`spec.state`, else `spec.pause`, else running) and with any restart annotation (0.48+
    /// values), removes carried-out restart annotations, and writes `status` (observed
    /// generation, the state `connect` reports) when it changed. Stops when the handle drops.
    pub fn spawn_operator<F>(
        &self,
        namespace: &str,
        cluster: &str,
        period: Duration,
        mut connect: F,
    ) -> OperatorHandle
    where
        F: FnMut(OperatorCall) -> String + Send + 'static,
    {
        let shared = self.shared.clone();
        let ns = namespace.to_string();
        let cluster = cluster.to_string();
        let mut changed = shared.changed.subscribe();
        let task = tokio::spawn(async move {
            loop {
                let targets: Vec<(String, Value)> = {
                    let st = shared.state.lock().unwrap();
                    st.objects
                        .iter()
                        .filter(|((n, _), o)| {
                            *n == ns
                                && o["metadata"]["labels"]["strimzi.io/cluster"] == cluster.as_str()
                        })
                        .map(|((_, name), o)| (name.clone(), o.clone()))
                        .collect()
                };
                for (name, obj) in targets {
                    let ann = &obj["metadata"]["annotations"];
                    let generation = obj["metadata"]["generation"].clone();
                    let mut status = obj.get("status").cloned().unwrap_or(json!({}));
                    if ann["strimzi.io/pause-reconciliation"] == "true" {
                        status["conditions"] =
                            json!([{"type": "ReconciliationPaused", "status": "True"}]);
                    } else {
                        let desired = match obj["spec"]["state"].as_str() {
                            Some(s) => s.to_string(),
                            None if obj["spec"]["pause"] == true => "paused".into(),
                            None => "running".into(),
                        };
                        let observed = connect(OperatorCall::Reconcile {
                            name: name.clone(),
                            desired,
                        });
                        let mut remove = Map::new();
                        if let Some(v) = ann["strimzi.io/restart"].as_str() {
                            let words: Vec<&str> = v.split(',').map(str::trim).collect();
                            let flags = words
                                .iter()
                                .all(|w| matches!(*w, "includeTasks" | "onlyFailed"));
                            if v.eq_ignore_ascii_case("true") || flags {
                                connect(OperatorCall::Restart {
                                    name: name.clone(),
                                    include_tasks: words.contains(&"includeTasks"),
                                    only_failed: words.contains(&"onlyFailed"),
                                });
                                remove.insert("strimzi.io/restart".into(), Value::Null);
                            }
                        }
                        if let Some(id) = ann["strimzi.io/restart-task"]
                            .as_str()
                            .and_then(|s| s.parse().ok())
                        {
                            connect(OperatorCall::RestartTask {
                                name: name.clone(),
                                task: id,
                            });
                            remove.insert("strimzi.io/restart-task".into(), Value::Null);
                        }
                        if !remove.is_empty() {
                            let mut st = shared.state.lock().unwrap();
                            let p = json!({"metadata": {"annotations": remove}});
                            let _ = st.patch(
                                &ns,
                                &name,
                                "v1beta2",
                                Patcher::Merge(&p),
                                Sub::Main,
                                "strimzi-cluster-operator",
                                false,
                            );
                        }
                        status["observedGeneration"] = generation;
                        status["connectorStatus"] =
                            json!({"name": name, "connector": {"state": observed}});
                        status["conditions"] = json!([{"type": "Ready", "status": "True"}]);
                    }
                    if obj.get("status") != Some(&status) {
                        let mut st = shared.state.lock().unwrap();
                        let p = json!({"status": status});
                        let _ = st.patch(
                            &ns,
                            &name,
                            "v1beta2",
                            Patcher::Merge(&p),
                            Sub::Status,
                            "strimzi-cluster-operator",
                            false,
                        );
                    }
                }
                shared.changed.send_modify(|g| *g += 1);
                changed.borrow_and_update();
                tokio::select! {
                    _ = tokio::time::sleep(period) => {}
                    r = changed.changed() => if r.is_err() { return },
                }
            }
        });
        OperatorHandle(task)
    }
}

/// What the fake operator asks of Kafka Connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorCall {
    /// Drive the connector to `desired` (`running`, `paused`, `stopped`); return its state as
    /// Kafka Connect reports it (`RUNNING`, ...).
    Reconcile { name: String, desired: String },
    /// `POST /connectors/{name}/restart?includeTasks=..&onlyFailed=..` (the return is ignored).
    Restart {
        name: String,
        include_tasks: bool,
        only_failed: bool,
    },
    /// `POST /connectors/{name}/tasks/{task}/restart` (the return is ignored).
    RestartTask { name: String, task: u32 },
}

/// Stops the fake operator when dropped.
pub struct OperatorHandle(JoinHandle<()>);

impl Drop for OperatorHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let s = TcpSocket::new_v4()?;
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    s.listen(128)
}

async fn serve_connection(shared: Arc<Shared>, stream: TcpStream) {
    let io = hyper_util::rt::TokioIo::new(stream);
    let svc = hyper::service::service_fn(move |req| {
        let s = shared.clone();
        async move { handle(s, req).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, svc)
        .await;
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// A request the fake refuses to answer (the connection is closed).
#[derive(Debug)]
struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("closed by the fake")
    }
}

impl std::error::Error for Closed {}

enum Route {
    Api,
    Apis,
    Group,
    GroupVersion(String),
    Collection {
        version: String,
        ns: Option<String>,
    },
    Object {
        version: String,
        ns: String,
        name: String,
        sub: Sub,
    },
    Unknown,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sub {
    Main,
    Status,
}

fn route(path: &str) -> Route {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api"] => Route::Api,
        ["apis"] => Route::Apis,
        ["apis", g] if *g == GROUP => Route::Group,
        ["apis", g, v] if *g == GROUP => Route::GroupVersion(v.to_string()),
        ["apis", g, v, p] if *g == GROUP && *p == PLURAL => Route::Collection {
            version: v.to_string(),
            ns: None,
        },
        ["apis", g, v, "namespaces", ns, p] if *g == GROUP && *p == PLURAL => Route::Collection {
            version: v.to_string(),
            ns: Some(ns.to_string()),
        },
        ["apis", g, v, "namespaces", ns, p, name] if *g == GROUP && *p == PLURAL => Route::Object {
            version: v.to_string(),
            ns: ns.to_string(),
            name: name.to_string(),
            sub: Sub::Main,
        },
        ["apis", g, v, "namespaces", ns, p, name, "status"] if *g == GROUP && *p == PLURAL => {
            Route::Object {
                version: v.to_string(),
                ns: ns.to_string(),
                name: name.to_string(),
                sub: Sub::Status,
            }
        }
        _ => Route::Unknown,
    }
}

fn parse_query(q: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k), percent_decode(v));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<BoxBody>, Closed> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_string());
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let body_bytes = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let body_json: Option<Value> = serde_json::from_slice(&body_bytes).ok();
    let route = route(&path);
    let watching = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let (verb, name) = match (&route, method.as_str()) {
        (Route::Api | Route::Apis | Route::Group | Route::GroupVersion(_), _) => ("discover", None),
        (Route::Collection { .. }, "GET") if watching => ("watch", None),
        (Route::Collection { .. }, "GET") => ("list", None),
        (Route::Collection { .. }, "POST") => (
            "create",
            body_json
                .as_ref()
                .and_then(|b| b["metadata"]["name"].as_str().map(String::from)),
        ),
        (Route::Object { name, .. }, "GET") => ("get", Some(name.clone())),
        (Route::Object { name, .. }, "PATCH") => ("patch", Some(name.clone())),
        (Route::Object { name, .. }, "PUT") => ("update", Some(name.clone())),
        (Route::Object { name, .. }, "DELETE") => ("delete", Some(name.clone())),
        _ => ("", None),
    };
    let log_index = {
        let mut st = shared.state.lock().unwrap();
        st.log.push(Logged {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            content_type: content_type.clone(),
            field_manager: query.get("fieldManager").cloned(),
            body: if body_bytes.is_empty() {
                None
            } else {
                Some(
                    body_json
                        .clone()
                        .unwrap_or(Value::String(String::from_utf8_lossy(&body_bytes).into())),
                )
            },
            code: 0,
        });
        st.log.len() - 1
    };
    let set_code = |code: u16| {
        let mut st = shared.state.lock().unwrap();
        if let Some(l) = st.log.get_mut(log_index) {
            l.code = code;
        }
    };

    // Authentication comes first, as in kube-apiserver.
    let token = shared.state.lock().unwrap().cfg.token.clone();
    if let Some(t) = token {
        if auth.as_deref() != Some(format!("Bearer {t}").as_str()) {
            set_code(401);
            return Ok(status_response(
                401,
                "Unauthorized",
                "Unauthorized",
                json!({}),
            ));
        }
    }

    // Faults.
    let fault = {
        let mut st = shared.state.lock().unwrap();
        let idx = st.faults.iter().position(|f| {
            f.verb.as_deref().is_none_or(|v| v == verb)
                && f.name.as_ref().is_none_or(|n| Some(n) == name.as_ref())
                && f.with_query.as_ref().is_none_or(|k| query.contains_key(k))
        });
        idx.map(|i| {
            let f = st.faults[i].clone();
            if let Some(t) = st.faults[i].times.as_mut() {
                *t -= 1;
                if *t == 0 {
                    st.faults.remove(i);
                }
            }
            f.action
        })
    };
    let ns_of = match &route {
        Route::Collection { ns, .. } => ns.clone().unwrap_or_default(),
        Route::Object { ns, .. } => ns.clone(),
        _ => String::new(),
    };
    match fault {
        Some(FaultAction::Status(code)) => {
            let user = shared.state.lock().unwrap().cfg.user.clone();
            set_code(code);
            return Ok(fault_response(
                code,
                verb,
                name.as_deref(),
                &ns_of,
                &user,
                &route,
            ));
        }
        Some(FaultAction::Delay(d)) => tokio::time::sleep(d).await,
        Some(FaultAction::Hang) => {
            std::future::pending::<()>().await;
        }
        Some(FaultAction::Close) => return Err(Closed),
        Some(FaultAction::Mutate(p)) => {
            if let Some(n) = &name {
                let mut st = shared.state.lock().unwrap();
                let _ = st.patch(
                    &ns_of,
                    n,
                    "v1beta2",
                    Patcher::Merge(&p),
                    Sub::Main,
                    "other-client",
                    false,
                );
                if p.get("status").is_some() {
                    let _ = st.patch(
                        &ns_of,
                        n,
                        "v1beta2",
                        Patcher::Merge(&p),
                        Sub::Status,
                        "other-client",
                        false,
                    );
                }
                drop(st);
                shared.changed.send_modify(|g| *g += 1);
            }
        }
        None => {}
    }

    let resp = {
        let served: Vec<&'static str> = shared.state.lock().unwrap().cfg.versions.clone();
        let unserved = |v: &str| !served.contains(&v);
        match route {
            Route::Api if method == "GET" => json_response(
                200,
                json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
            ),
            Route::Apis if method == "GET" => {
                let groups = if served.is_empty() {
                    vec![]
                } else {
                    vec![group_json(&served)]
                };
                json_response(
                    200,
                    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
                )
            }
            Route::Group if method == "GET" && !served.is_empty() => {
                json_response(200, group_json(&served))
            }
            Route::GroupVersion(v) if method == "GET" && !unserved(&v) => {
                json_response(200, resource_list(&v))
            }
            Route::Collection { version, .. } | Route::Object { version, .. }
                if unserved(&version) =>
            {
                not_found_path()
            }
            Route::Collection { version, ns } if method == "GET" && watching => {
                set_code(200);
                return Ok(start_watch(shared.clone(), version, ns, &query));
            }
            Route::Collection { version, ns } if method == "GET" => {
                let st = shared.state.lock().unwrap();
                match st.list(&version, ns.as_deref(), &query) {
                    Ok(v) => json_response(200, v),
                    Err((c, b)) => json_response(c, b),
                }
            }
            Route::Collection {
                version,
                ns: Some(ns),
            } if method == "POST" => {
                let r = match &body_json {
                    None => Err((
                        400,
                        bad_request("the body of the request is not valid JSON"),
                    )),
                    Some(b) => shared.state.lock().unwrap().create(
                        &ns,
                        b.clone(),
                        &version,
                        strict(&query),
                        &manager(&query),
                    ),
                };
                finish(&shared, r, 201)
            }
            Route::Object {
                version, ns, name, ..
            } if method == "GET" => {
                let st = shared.state.lock().unwrap();
                match st.objects.get(&(ns.clone(), name.clone())) {
                    Some(o) => json_response(200, versioned(o, &version)),
                    None => json_response(404, not_found_body(&name)),
                }
            }
            Route::Object {
                version,
                ns,
                name,
                sub,
            } if method == "PATCH" => {
                let r = match content_type.as_deref() {
                    Some("application/merge-patch+json") | Some("application/json-patch+json") => match &body_json {
                        None => Err((400, bad_request("error decoding patch: the body is not valid JSON"))),
                        Some(b) => {
                            let p = if content_type.as_deref() == Some("application/merge-patch+json") {
                                Patcher::Merge(b)
                            } else {
                                Patcher::Json(b)
                            };
                            shared.state.lock().unwrap().patch(&ns, &name, &version, p, sub, &manager(&query), strict(&query))
                        }
                    },
                    _ => Err((
                        415,
                        status_body(
                            415,
                            "UnsupportedMediaType",
                            &format!(
                                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json{}",
                                if content_type.as_deref() == Some("application/apply-patch+yaml") { " (server-side apply is not implemented by this fake)" } else { ", application/apply-patch+yaml" }
                            ),
                            json!({}),
                        ),
                    )),
                };
                finish(&shared, r, 200)
            }
            Route::Object {
                version,
                ns,
                name,
                sub,
            } if method == "PUT" => {
                let r = match &body_json {
                    None => Err((
                        400,
                        bad_request("the body of the request is not valid JSON"),
                    )),
                    Some(b) => shared.state.lock().unwrap().replace(
                        &ns,
                        &name,
                        &version,
                        b.clone(),
                        sub,
                        &manager(&query),
                        strict(&query),
                    ),
                };
                finish(&shared, r, 200)
            }
            Route::Object {
                version,
                ns,
                name,
                sub: Sub::Main,
            } if method == "DELETE" => {
                let r = shared
                    .state
                    .lock()
                    .unwrap()
                    .delete(&ns, &name)
                    .map(|o| versioned(&o, &version));
                finish(&shared, r, 200)
            }
            Route::Unknown | Route::Group | Route::GroupVersion(_) => not_found_path(),
            _ => status_response(
                405,
                "MethodNotAllowed",
                &format!(
                    "the server does not allow this method on the requested resource ({method})"
                ),
                json!({}),
            ),
        }
    };
    set_code(resp.status().as_u16());
    Ok(resp)
}

fn strict(q: &BTreeMap<String, String>) -> bool {
    q.get("fieldValidation").map(String::as_str) == Some("Strict")
}

fn manager(q: &BTreeMap<String, String>) -> String {
    q.get("fieldManager")
        .cloned()
        .unwrap_or_else(|| "unknown".into())
}

/// Wakes watches on success and answers.
fn finish(shared: &Shared, r: Result<Value, (u16, Value)>, ok: u16) -> Response<BoxBody> {
    match r {
        Ok(v) => {
            shared.changed.send_modify(|g| *g += 1);
            json_response(ok, v)
        }
        Err((c, b)) => json_response(c, b),
    }
}

fn group_json(served: &[&str]) -> Value {
    let versions: Vec<Value> = served
        .iter()
        .map(|v| json!({"groupVersion": format!("{GROUP}/{v}"), "version": v}))
        .collect();
    // Kubernetes version priority: GA before beta.
    let preferred = if served.contains(&"v1") {
        "v1"
    } else {
        served[0]
    };
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": versions,
           "preferredVersion": {"groupVersion": format!("{GROUP}/{preferred}"), "version": preferred}})
}

fn resource_list(v: &str) -> Value {
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{GROUP}/{v}"), "resources": [
        {"name": PLURAL, "singularName": "kafkaconnector", "namespaced": true, "kind": KIND,
         "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
         "shortNames": ["kctr"], "categories": ["strimzi"]},
        {"name": format!("{PLURAL}/status"), "singularName": "", "namespaced": true, "kind": KIND, "verbs": ["get", "patch", "update"]},
        {"name": format!("{PLURAL}/scale"), "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1",
         "kind": "Scale", "verbs": ["get", "patch", "update"]}
    ]})
}

fn json_response(code: u16, v: Value) -> Response<BoxBody> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(
            Full::new(Bytes::from(v.to_string()))
                .map_err(|e: Infallible| match e {})
                .boxed(),
        )
        .unwrap()
}

fn status_body(code: u16, reason: &str, message: &str, details: Value) -> Value {
    let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code});
    if details.as_object().is_some_and(|d| !d.is_empty()) {
        s["details"] = details;
    }
    s
}

fn status_response(code: u16, reason: &str, message: &str, details: Value) -> Response<BoxBody> {
    json_response(code, status_body(code, reason, message, details))
}

fn bad_request(message: &str) -> Value {
    status_body(400, "BadRequest", message, json!({}))
}

fn not_found_path() -> Response<BoxBody> {
    status_response(
        404,
        "NotFound",
        "the server could not find the requested resource",
        json!({}),
    )
}

fn not_found_body(name: &str) -> Value {
    status_body(
        404,
        "NotFound",
        &format!("{PLURAL}.{GROUP} {name:?} not found"),
        json!({"name": name, "group": GROUP, "kind": PLURAL}),
    )
}

fn fault_response(
    code: u16,
    verb: &str,
    name: Option<&str>,
    ns: &str,
    user: &str,
    route: &Route,
) -> Response<BoxBody> {
    let resource = match route {
        Route::Object {
            sub: Sub::Status, ..
        } => format!("{PLURAL}/status"),
        _ => PLURAL.to_string(),
    };
    match code {
        403 => {
            let subject = match name {
                Some(n) => format!("{PLURAL}.{GROUP} {n:?} is forbidden"),
                None => format!("{PLURAL}.{GROUP} is forbidden"),
            };
            let scope = if ns.is_empty() { "at the cluster scope".to_string() } else { format!("in the namespace {ns:?}") };
            let msg = format!("{subject}: User {user:?} cannot {verb} resource {resource:?} in API group {GROUP:?} {scope}");
            let mut details = json!({"group": GROUP, "kind": PLURAL});
            if let Some(n) = name {
                details["name"] = json!(n);
            }
            status_response(403, "Forbidden", &msg, details)
        }
        404 => json_response(404, not_found_body(name.unwrap_or(""))),
        409 => status_response(
            409,
            "Conflict",
            &format!("Operation cannot be fulfilled on {PLURAL}.{GROUP} {:?}: the object has been modified; please apply your changes to the latest version and try again", name.unwrap_or("")),
            json!({"name": name.unwrap_or(""), "group": GROUP, "kind": PLURAL}),
        ),
        429 => {
            let mut r = status_response(429, "TooManyRequests", "Too many requests, please try again later.", json!({"retryAfterSeconds": 1}));
            r.headers_mut().insert("Retry-After", hyper::header::HeaderValue::from_static("1"));
            r
        }
        503 => status_response(503, "ServiceUnavailable", "the server is currently unable to handle the request", json!({})),
        504 => status_response(504, "Timeout", "the server was unable to return a response in the time allotted, but may still be processing the request", json!({})),
        c => status_response(c, "InternalError", "Internal error occurred: injected by the fake", json!({"causes": [{"message": "injected by the fake"}]})),
    }
}

// ---------------------------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------------------------

/// The object as served in `version`: apiVersion/kind set, fields outside that version's
/// schema dropped (v1 has no `spec.pause`).
fn versioned(stored: &Value, version: &str) -> Value {
    let mut o = stored.clone();
    o["apiVersion"] = json!(format!("{GROUP}/{version}"));
    o["kind"] = json!(KIND);
    if version == "v1" {
        if let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("pause");
        }
    }
    let mut out = Map::new();
    for k in ["apiVersion", "kind", "metadata", "spec", "status"] {
        if let Some(v) = o.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    Value::Object(out)
}

enum Patcher<'a> {
    Merge(&'a Value),
    Json(&'a Value),
}

type ApiResult = Result<Value, (u16, Value)>;

impl State {
    fn spec_fields(&self, version: &str) -> Vec<&'static str> {
        let mut f = vec![
            "class",
            "tasksMax",
            "autoRestart",
            "version",
            "config",
            "listOffsets",
            "alterOffsets",
        ];
        if self.cfg.state_field {
            f.push("state");
        }
        if version == "v1beta2" {
            f.push("pause");
        }
        f
    }

    /// Schema checks and pruning of an object about to be stored.
    fn validate(
        &self,
        obj: &mut Value,
        version: &str,
        strict: bool,
        name: &str,
    ) -> Result<(), (u16, Value)> {
        let allowed = self.spec_fields(version);
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            let unknown: Vec<String> = spec
                .keys()
                .filter(|k| !allowed.contains(&k.as_str()))
                .cloned()
                .collect();
            if strict && !unknown.is_empty() {
                let fields: Vec<String> = unknown
                    .iter()
                    .map(|k| format!("unknown field \"spec.{k}\""))
                    .collect();
                return Err((
                    400,
                    bad_request(&format!(
                        "{KIND} in version \"{version}\" cannot be handled as a {KIND}: strict decoding error: {}",
                        fields.join(", ")
                    )),
                ));
            }
            for k in unknown {
                spec.remove(&k);
            }
            if let Some(s) = spec.get("state") {
                if !matches!(s.as_str(), Some("paused" | "stopped" | "running")) {
                    let shown = s.to_string();
                    let cause = format!("Unsupported value: {shown}: supported values: \"paused\", \"stopped\", \"running\"");
                    return Err((
                        422,
                        status_body(
                            422,
                            "Invalid",
                            &format!("{KIND}.{GROUP} {name:?} is invalid: spec.state: {cause}"),
                            json!({"name": name, "group": GROUP, "kind": KIND,
                                   "causes": [{"reason": "FieldValueNotSupported", "message": cause, "field": "spec.state"}]}),
                        ),
                    ));
                }
            }
        }
        for key in ["annotations", "labels"] {
            match obj["metadata"].get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) if m.values().all(Value::is_string) => {}
                Some(_) => {
                    return Err((
                        400,
                        bad_request(&format!(
                            "{KIND} in version \"{version}\" cannot be handled as a {KIND}: json: cannot unmarshal into Go struct field ObjectMeta.metadata.{key} of type string"
                        )),
                    ))
                }
            }
        }
        Ok(())
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(&mut self, ty: EventType, ns: &str, name: &str, old: Option<Value>, new: Value) {
        let rv = self.rv;
        self.events.push_back(Event {
            rv,
            ty,
            ns: ns.into(),
            name: name.into(),
            old,
            new,
        });
        while self.events.len() > HISTORY {
            if let Some(e) = self.events.pop_front() {
                self.compacted = e.rv;
            }
        }
    }

    fn create(
        &mut self,
        ns: &str,
        mut obj: Value,
        version: &str,
        strict: bool,
        manager: &str,
    ) -> ApiResult {
        let name = match obj["metadata"]["name"].as_str() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => {
                return Err((
                    422,
                    status_body(422, "Invalid", &format!("{KIND}.{GROUP} \"\" is invalid: metadata.name: Required value: name or generateName is required"),
                        json!({"group": GROUP, "kind": KIND, "causes": [{"reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name"}]})),
                ))
            }
        };
        if let Some(other) = obj["metadata"]["namespace"].as_str() {
            if other != ns {
                return Err((400, bad_request("the namespace of the provided object does not match the namespace sent on the request")));
            }
        }
        if self.objects.contains_key(&(ns.into(), name.clone())) {
            return Err((
                409,
                status_body(
                    409,
                    "AlreadyExists",
                    &format!("{PLURAL}.{GROUP} {name:?} already exists"),
                    json!({"name": name, "group": GROUP, "kind": PLURAL}),
                ),
            ));
        }
        self.validate(&mut obj, version, strict, &name)?;
        let rv = self.next_rv();
        self.uid += 1;
        let now = rfc3339(SystemTime::now());
        let meta = obj["metadata"]
            .as_object_mut()
            .expect("metadata is an object");
        meta.insert("namespace".into(), json!(ns));
        meta.insert(
            "uid".into(),
            json!(format!("00000000-0000-4000-8000-{:012x}", self.uid)),
        );
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.insert("generation".into(), json!(1));
        meta.insert("creationTimestamp".into(), json!(now));
        meta.insert(
            "managedFields".into(),
            json!([managed_entry(manager, "Update", version, None)]),
        );
        let mut stored = versioned(&obj, version);
        let m = stored.as_object_mut().unwrap();
        m.remove("apiVersion");
        m.remove("kind");
        m.remove("status"); // the status subresource: create ignores it
        self.objects
            .insert((ns.into(), name.clone()), stored.clone());
        self.record(EventType::Added, ns, &name, None, stored.clone());
        Ok(versioned(&stored, version))
    }

    #[allow(clippy::too_many_arguments)]
    fn patch(
        &mut self,
        ns: &str,
        name: &str,
        version: &str,
        p: Patcher,
        sub: Sub,
        manager: &str,
        strict: bool,
    ) -> ApiResult {
        let Some(current) = self.objects.get(&(ns.into(), name.into())).cloned() else {
            return Err((404, not_found_body(name)));
        };
        let mut doc = versioned(&current, version);
        match p {
            Patcher::Merge(patch) => {
                if !patch.is_object() {
                    return Err((
                        400,
                        bad_request("error decoding patch: a merge patch must be a JSON object"),
                    ));
                }
                merge_patch(&mut doc, patch);
            }
            Patcher::Json(patch) => json_patch(&mut doc, patch)?,
        }
        self.store_update(ns, name, version, current, doc, sub, manager, strict)
    }

    #[allow(clippy::too_many_arguments)]
    fn replace(
        &mut self,
        ns: &str,
        name: &str,
        version: &str,
        doc: Value,
        sub: Sub,
        manager: &str,
        strict: bool,
    ) -> ApiResult {
        let Some(current) = self.objects.get(&(ns.into(), name.into())).cloned() else {
            return Err((404, not_found_body(name)));
        };
        if doc["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .is_empty()
        {
            return Err((
                422,
                status_body(422, "Invalid", &format!("{KIND}.{GROUP} {name:?} is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"),
                    json!({"name": name, "group": GROUP, "kind": KIND})),
            ));
        }
        self.store_update(ns, name, version, current, doc, sub, manager, strict)
    }

    /// The common end of PATCH and PUT: name check, precondition, subresource rules,
    /// validation, no-op detection, generation, resourceVersion, event.
    #[allow(clippy::too_many_arguments)]
    fn store_update(
        &mut self,
        ns: &str,
        name: &str,
        version: &str,
        current: Value,
        mut doc: Value,
        sub: Sub,
        manager: &str,
        strict: bool,
    ) -> ApiResult {
        if doc["metadata"]["name"].as_str() != Some(name) {
            return Err((
                400,
                bad_request(&format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    doc["metadata"]["name"].as_str().unwrap_or("")
                )),
            ));
        }
        if doc["metadata"]["namespace"]
            .as_str()
            .is_some_and(|n| n != ns)
        {
            return Err((400, bad_request("the namespace of the provided object does not match the namespace sent on the request")));
        }
        let current_rv = current["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        match doc["metadata"]["resourceVersion"].as_str() {
            Some(rv) if !rv.is_empty() && rv != current_rv => {
                return Err((
                    409,
                    status_body(409, "Conflict",
                        &format!("Operation cannot be fulfilled on {PLURAL}.{GROUP} {name:?}: the object has been modified; please apply your changes to the latest version and try again"),
                        json!({"name": name, "group": GROUP, "kind": PLURAL})),
                ))
            }
            _ => {}
        }
        // What each endpoint may change.
        let mut next = current.clone();
        match sub {
            Sub::Main => {
                self.validate(&mut doc, version, strict, name)?;
                let cur_meta = current["metadata"].as_object().cloned().unwrap_or_default();
                let mut meta = doc["metadata"].as_object().cloned().unwrap_or_default();
                for fixed in [
                    "uid",
                    "creationTimestamp",
                    "generation",
                    "resourceVersion",
                    "managedFields",
                    "namespace",
                    "deletionTimestamp",
                ] {
                    match cur_meta.get(fixed) {
                        Some(v) => meta.insert(fixed.into(), v.clone()),
                        None => meta.remove(fixed),
                    };
                }
                next["metadata"] = Value::Object(meta);
                match doc.get("spec") {
                    Some(s) => next["spec"] = s.clone(),
                    None => {
                        next.as_object_mut().unwrap().remove("spec");
                    }
                }
                if version == "v1" {
                    // A write through v1 cannot keep a field v1 does not have.
                    if let Some(s) = next.get_mut("spec").and_then(Value::as_object_mut) {
                        s.remove("pause");
                    }
                }
            }
            Sub::Status => match doc.get("status") {
                Some(s) => next["status"] = s.clone(),
                None => {
                    next.as_object_mut().unwrap().remove("status");
                }
            },
        }
        if next == current {
            return Ok(versioned(&current, version));
        }
        let rv = self.next_rv();
        if sub == Sub::Main && next.get("spec") != current.get("spec") {
            let g = current["metadata"]["generation"].as_i64().unwrap_or(1);
            next["metadata"]["generation"] = json!(g + 1);
        }
        next["metadata"]["resourceVersion"] = json!(rv.to_string());
        let subresource = if sub == Sub::Status {
            Some("status")
        } else {
            None
        };
        let entry = managed_entry(manager, "Update", version, subresource);
        let mut managed: Vec<Value> = next["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        managed.retain(|m| {
            !(m["manager"] == entry["manager"] && m["subresource"] == entry["subresource"])
        });
        managed.push(entry);
        next["metadata"]["managedFields"] = Value::Array(managed);
        self.objects.insert((ns.into(), name.into()), next.clone());
        self.record(EventType::Modified, ns, name, Some(current), next.clone());
        Ok(versioned(&next, version))
    }

    fn delete(&mut self, ns: &str, name: &str) -> ApiResult {
        let Some(mut obj) = self.objects.remove(&(ns.to_string(), name.to_string())) else {
            return Err((404, not_found_body(name)));
        };
        let old = obj.clone();
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.record(EventType::Deleted, ns, name, Some(old), obj.clone());
        Ok(obj)
    }

    /// The objects as they were at `rv` (undoing later events), or None when compacted.
    fn objects_at(
        &self,
        rv: u64,
    ) -> Option<std::borrow::Cow<'_, BTreeMap<(String, String), Value>>> {
        if rv < self.compacted {
            return None;
        }
        if self.events.back().is_none_or(|e| e.rv <= rv) {
            // Nothing happened since: the current objects, without a copy.
            return Some(std::borrow::Cow::Borrowed(&self.objects));
        }
        let mut objs = self.objects.clone();
        for e in self.events.iter().rev().take_while(|e| e.rv > rv) {
            let key = (e.ns.clone(), e.name.clone());
            match (&e.ty, &e.old) {
                (EventType::Added, _) => {
                    objs.remove(&key);
                }
                (_, Some(old)) => {
                    objs.insert(key, old.clone());
                }
                _ => {}
            }
        }
        Some(std::borrow::Cow::Owned(objs))
    }

    fn list(&self, version: &str, ns: Option<&str>, q: &BTreeMap<String, String>) -> ApiResult {
        let labels = Selector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
            .map_err(|m| (400, bad_request(&m)))?;
        let fields = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""))
            .map_err(|m| (400, bad_request(&m)))?;
        let limit: usize = match q.get("limit") {
            None => 0,
            Some(l) => l
                .parse()
                .map_err(|_| (400, bad_request(&format!("limit: invalid value {l:?}"))))?,
        };
        // A continue token: "<rv>/<namespace>/<name>" of the last item served.
        let (at_rv, after) = match q.get("continue").filter(|c| !c.is_empty()) {
            Some(tok) => {
                let mut parts = tok.splitn(3, '/');
                let rv = parts.next().and_then(|r| r.parse::<u64>().ok());
                let (Some(rv), Some(n), Some(m)) = (rv, parts.next(), parts.next()) else {
                    return Err((
                        400,
                        bad_request("continue key is not valid: illegal base64 data"),
                    ));
                };
                (rv, Some((n.to_string(), m.to_string())))
            }
            None => (self.rv, None),
        };
        let Some(objs) = self.objects_at(at_rv) else {
            return Err((
                410,
                status_body(410, "Expired",
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                    json!({})),
            ));
        };
        let matching: Vec<(&(String, String), &Value)> = objs
            .iter()
            .filter(|((n, _), o)| {
                ns.is_none_or(|ns| ns == n) && labels.matches(o) && fields.matches(o)
            })
            .filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a))
            .collect();
        let take = if limit == 0 {
            matching.len()
        } else {
            limit.min(matching.len())
        };
        let items: Vec<Value> = matching[..take]
            .iter()
            .map(|(_, o)| versioned(o, version))
            .collect();
        let mut meta = json!({"resourceVersion": at_rv.to_string()});
        if take < matching.len() {
            let (n, m) = matching[take - 1].0;
            meta["continue"] = json!(format!("{at_rv}/{n}/{m}"));
            meta["remainingItemCount"] = json!(matching.len() - take);
        }
        Ok(
            json!({"apiVersion": format!("{GROUP}/{version}"), "kind": format!("{KIND}List"), "metadata": meta, "items": items}),
        )
    }
}

fn managed_entry(
    manager: &str,
    operation: &str,
    version: &str,
    subresource: Option<&str>,
) -> Value {
    let mut e = json!({"manager": manager, "operation": operation, "apiVersion": format!("{GROUP}/{version}"),
                       "time": rfc3339(SystemTime::now()), "fieldsType": "FieldsV1"});
    if let Some(s) = subresource {
        e["subresource"] = json!(s);
    }
    e
}

/// RFC 7386.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// RFC 6902. Errors are the API server's: 400 for a malformed patch, 422 for one that does not
/// apply (a failed `test` included).
fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), (u16, Value)> {
    let unprocessable = |msg: String| {
        (
            422,
            status_body(
                422,
                "Invalid",
                "the server rejected our request due to an error in our request",
                json!({"causes": [{"reason": "UnexpectedServerResponse", "message": msg}]}),
            ),
        )
    };
    let Some(ops) = patch.as_array() else {
        return Err((
            400,
            bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ));
    };
    let mut work = doc.clone();
    for op in ops {
        let kind = op["op"].as_str().unwrap_or("");
        let path = op["path"]
            .as_str()
            .ok_or_else(|| (400, bad_request("JSON patch operation has no path")))?;
        let result = match kind {
            "add" => pointer_add(
                &mut work,
                path,
                op.get("value").cloned().unwrap_or(Value::Null),
            ),
            "remove" => pointer_remove(&mut work, path).map(|_| ()),
            "replace" => {
                if work.pointer(path).is_none() {
                    Err(format!(
                        "replace operation does not apply: doc is missing key: {path}"
                    ))
                } else {
                    *work.pointer_mut(path).unwrap() =
                        op.get("value").cloned().unwrap_or(Value::Null);
                    Ok(())
                }
            }
            "test" => match work.pointer(path) {
                Some(v) if Some(v) == op.get("value") => Ok(()),
                _ => Err(format!("testing value {path} failed")),
            },
            "move" | "copy" => {
                let from = op["from"].as_str().unwrap_or("");
                match work.pointer(from).cloned() {
                    None => Err(format!(
                        "{kind} operation does not apply: doc is missing from path: {from}"
                    )),
                    Some(v) => {
                        if kind == "move" {
                            let _ = pointer_remove(&mut work, from);
                        }
                        pointer_add(&mut work, path, v)
                    }
                }
            }
            other => return Err((400, bad_request(&format!("Unexpected kind: {other}")))),
        };
        result.map_err(unprocessable)?;
    }
    *doc = work;
    Ok(())
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    if path.is_empty() {
        return Err("cannot operate on the document root".into());
    }
    let i = path
        .rfind('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    let last = path[i + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..i].to_string(), last))
}

fn pointer_add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (parent, key) = split_pointer(path)?;
    match doc.pointer_mut(&parent) {
        Some(Value::Object(m)) => {
            m.insert(key, value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            if key == "-" {
                a.push(value);
                return Ok(());
            }
            match key.parse::<usize>() {
                Ok(i) if i <= a.len() => {
                    a.insert(i, value);
                    Ok(())
                }
                _ => Err(format!(
                    "add operation does not apply: index out of bounds: {path}"
                )),
            }
        }
        _ => Err(format!(
            "add operation does not apply: doc is missing path: {path}"
        )),
    }
}

fn pointer_remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, key) = split_pointer(path)?;
    let missing = || format!("remove operation does not apply: doc is missing path: {path}");
    match doc.pointer_mut(&parent) {
        Some(Value::Object(m)) => m.remove(&key).ok_or_else(missing),
        Some(Value::Array(a)) => match key.parse::<usize>() {
            Ok(i) if i < a.len() => Ok(a.remove(i)),
            _ => Err(missing()),
        },
        _ => Err(missing()),
    }
}

/// Equality- and set-based label selectors.
struct Selector(Vec<Req>);

enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Selector {
    fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        let mut depth = 0;
        let mut cur = String::new();
        let mut parts = Vec::new();
        for c in s.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(c);
        }
        if !cur.trim().is_empty() || !parts.is_empty() {
            parts.push(cur);
        }
        for p in parts {
            let p = p.trim();
            let bad = || {
                format!(
                    "unable to parse requirement: found '{p}', expected: key, operator and values"
                )
            };
            let set = |rest: &str| -> Result<Vec<String>, String> {
                let rest = rest.trim();
                let inner = rest
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(bad)?;
                Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
            };
            let req = if let Some(k) = p.strip_prefix('!') {
                Req::NotExists(k.trim().into())
            } else if let Some((k, v)) = p.split_once("!=") {
                Req::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = p.split_once(" notin ") {
                Req::NotIn(k.trim().into(), set(rest)?)
            } else if let Some((k, rest)) = p.split_once(" in ") {
                Req::In(k.trim().into(), set(rest)?)
            } else if !p.is_empty() && !p.contains(' ') {
                Req::Exists(p.into())
            } else {
                return Err(bad());
            };
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }

    fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::Ne(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

/// `metadata.name` / `metadata.namespace` field selectors (all a custom resource supports).
struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, eq, v) = if let Some((k, v)) = p.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = p.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = p.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!("invalid selector: '{p}'; can't understand '{p}'"));
            };
            if k != "metadata.name" && k != "metadata.namespace" {
                return Err(format!("field label not supported: {k}"));
            }
            out.push((k.to_string(), eq, v.to_string()));
        }
        Ok(FieldSelector(out))
    }

    fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(k, eq, v)| {
            let field = if k == "metadata.name" {
                "name"
            } else {
                "namespace"
            };
            (obj["metadata"][field].as_str() == Some(v.as_str())) == *eq
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Watch
// ---------------------------------------------------------------------------------------------

/// A streamed response body fed by a channel; an `Err` breaks the connection.
struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

fn start_watch(
    shared: Arc<Shared>,
    version: String,
    ns: Option<String>,
    q: &BTreeMap<String, String>,
) -> Response<BoxBody> {
    let labels = match Selector::parse(q.get("labelSelector").map(String::as_str).unwrap_or("")) {
        Ok(s) => s,
        Err(m) => return json_response(400, bad_request(&m)),
    };
    let fields =
        match FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or("")) {
            Ok(s) => s,
            Err(m) => return json_response(400, bad_request(&m)),
        };
    let bookmarks = q.get("allowWatchBookmarks").map(String::as_str) == Some("true");
    let initial_events = q.get("sendInitialEvents").map(String::as_str) == Some("true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let requested: Option<u64> = q
        .get("resourceVersion")
        .filter(|r| !r.is_empty())
        .and_then(|r| r.parse().ok());
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let matches = move |ns_name: &str, o: &Value| {
        ns.as_deref().is_none_or(|n| n == ns_name) && labels.matches(o) && fields.matches(o)
    };
    let line =
        |ty: &str, obj: Value| Bytes::from(format!("{}\n", json!({"type": ty, "object": obj})));
    tokio::spawn(async move {
        let mut changed = shared.changed.subscribe();
        let mut kill = shared.kill_watches.subscribe();
        kill.borrow_and_update();
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let bookmark_every = shared.state.lock().unwrap().cfg.bookmark_interval;
        // Where to start.
        let (mut last, initial) = {
            let st = shared.state.lock().unwrap();
            match requested {
                Some(rv) if rv != 0 && !initial_events => {
                    if rv < st.compacted {
                        let msg = format!("too old resource version: {rv} ({})", st.compacted);
                        let _ = tx.try_send(Ok(line(
                            "ERROR",
                            status_body(410, "Expired", &msg, json!({})),
                        )));
                        return;
                    }
                    (rv, Vec::new())
                }
                _ => {
                    let init: Vec<Value> = st
                        .objects
                        .iter()
                        .filter(|((n, _), o)| matches(n, o))
                        .map(|(_, o)| versioned(o, &version))
                        .collect();
                    (st.rv, init)
                }
            }
        };
        for o in initial {
            if tx.send(Ok(line("ADDED", o))).await.is_err() {
                return;
            }
        }
        if initial_events {
            let bm = json!({"kind": KIND, "apiVersion": format!("{GROUP}/{version}"),
                            "metadata": {"resourceVersion": last.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
            if tx.send(Ok(line("BOOKMARK", bm))).await.is_err() {
                return;
            }
        }
        let mut tick = tokio::time::interval(bookmark_every);
        tick.tick().await;
        loop {
            let batch: Vec<Bytes> = {
                let st = shared.state.lock().unwrap();
                let mut out = Vec::new();
                let from = last;
                for e in st.events.iter().filter(|e| e.rv > from) {
                    let was = e.old.as_ref().is_some_and(|o| matches(&e.ns, o));
                    let is = e.ty != EventType::Deleted && matches(&e.ns, &e.new);
                    let ty = match (e.ty, was, is) {
                        (EventType::Deleted, true, _) => Some(EventType::Deleted),
                        (EventType::Deleted, false, _) => None,
                        (_, false, true) => Some(EventType::Added),
                        (_, true, true) => Some(EventType::Modified),
                        (_, true, false) => Some(EventType::Deleted),
                        (_, false, false) => None,
                    };
                    if let Some(ty) = ty {
                        let mut obj = if is || e.ty == EventType::Deleted {
                            e.new.clone()
                        } else {
                            e.old.clone().unwrap()
                        };
                        obj["metadata"]["resourceVersion"] = json!(e.rv.to_string());
                        out.push(line(ty.as_str(), versioned(&obj, &version)));
                    }
                    last = e.rv;
                }
                if last < st.compacted {
                    let msg = format!("too old resource version: {last} ({})", st.compacted);
                    out.push(line("ERROR", status_body(410, "Expired", &msg, json!({}))));
                    last = u64::MAX;
                }
                out
            };
            let expired = last == u64::MAX;
            for b in batch {
                if tx.send(Ok(b)).await.is_err() {
                    return;
                }
            }
            if expired {
                return;
            }
            let until = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                _ = kill.changed() => {
                    let _ = tx.send(Err(std::io::Error::other("watch dropped by the fake"))).await;
                    return;
                }
                _ = tick.tick(), if bookmarks => {
                    let rv = shared.state.lock().unwrap().rv;
                    let bm = json!({"kind": KIND, "apiVersion": format!("{GROUP}/{version}"), "metadata": {"resourceVersion": rv.max(last).to_string()}});
                    if tx.send(Ok(line("BOOKMARK", bm))).await.is_err() {
                        return;
                    }
                }
                _ = until => return,
            }
        }
    });
    Response::builder()
        .status(200)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(ChannelBody(rx).boxed())
        .unwrap()
}

// ---------------------------------------------------------------------------------------------

/// `YYYY-MM-DDTHH:MM:SSZ`
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut d = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut d, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(d, json!({"a": "z", "c": {"d": "e"}}));
        let mut d = json!({"a": [1, 2]});
        merge_patch(&mut d, &json!({"a": [3]}));
        assert_eq!(d, json!({"a": [3]}));
    }

    #[test]
    fn json_patch_follows_rfc_6902() {
        let mut d =
            json!({"metadata": {"annotations": {"a/b": "1"}}, "spec": {"state": "running"}});
        json_patch(
            &mut d,
            &json!([
                {"op": "test", "path": "/spec/state", "value": "running"},
                {"op": "replace", "path": "/spec/state", "value": "paused"},
                {"op": "remove", "path": "/metadata/annotations/a~1b"},
                {"op": "add", "path": "/metadata/annotations/x", "value": "y"}
            ]),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"metadata": {"annotations": {"x": "y"}}, "spec": {"state": "paused"}})
        );
        let (code, body) = json_patch(
            &mut d,
            &json!([{"op": "test", "path": "/spec/state", "value": "running"}]),
        )
        .unwrap_err();
        assert_eq!(code, 422);
        assert_eq!(
            body["details"]["causes"][0]["message"],
            "testing value /spec/state failed"
        );
        assert_eq!(
            d["spec"]["state"], "paused",
            "a failed patch changes nothing"
        );
        assert_eq!(
            json_patch(
                &mut d,
                &json!([{"op": "replace", "path": "/spec/nope", "value": 1}])
            )
            .unwrap_err()
            .0,
            422
        );
    }

    #[test]
    fn selectors() {
        let o = json!({"metadata": {"name": "inv", "namespace": "kafka", "labels": {"strimzi.io/cluster": "c", "team": "a"}}});
        for (s, want) in [
            ("strimzi.io/cluster=c", true),
            ("strimzi.io/cluster==c,team", true),
            ("strimzi.io/cluster=d", false),
            ("team!=a", false),
            ("team in (a, b)", true),
            ("team notin (a)", false),
            ("!missing", true),
            ("", true),
        ] {
            assert_eq!(Selector::parse(s).unwrap().matches(&o), want, "{s}");
        }
        assert!(Selector::parse("a b c").is_err());
        assert!(FieldSelector::parse("metadata.name=inv")
            .unwrap()
            .matches(&o));
        assert!(!FieldSelector::parse("metadata.name!=inv")
            .unwrap()
            .matches(&o));
        assert!(FieldSelector::parse("spec.class=x").is_err());
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_000_000)),
            "2026-11-18T11:06:40Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("strimzi.io%2Fcluster%3Dmy-connect"),
            "strimzi.io/cluster=my-connect"
        );
        assert_eq!(percent_decode("a+b%"), "a b%");
    }
}
