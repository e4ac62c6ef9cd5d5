//! A fake Kubernetes API server serving Strimzi's `KafkaConnector` resource, for tests
//! (hyper, tokio, serde_json only), with a fake Cluster Operator
//! ([`FakeApi::spawn_operator`], or [`FakeApi::spawn_operator_for`] wired to a [`SimConnect`]).
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

// A fake API server stamps objects (creationTimestamp, managedFields) and tokens with the wall
// clock, as the real one does; the agent's "time through its Clock" rule is not the fake's.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
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

use crate::SimConnect;

mod http;
mod store;
mod stream;

use http::*;
use store::*;
use stream::*;

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
        let rounds = Arc::new(AtomicU64::new(0));
        let counted = rounds.clone();
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
                counted.fetch_add(1, Ordering::Relaxed);
                shared.changed.send_modify(|g| *g += 1);
                changed.borrow_and_update();
                tokio::select! {
                    _ = tokio::time::sleep(period) => {}
                    r = changed.changed() => if r.is_err() { return },
                }
            }
        });
        OperatorHandle { task, rounds }
    }

    /// [`FakeApi::spawn_operator`] driving the simulated worker's connectors: each
    /// reconciliation is [`SimConnect::operator_reconcile`] (Strimzi's `updateState`), restart
    /// annotations are [`SimConnect::operator_restart`] / [`SimConnect::operator_restart_task`].
    /// A pause made through REST alone is undone at the next reconciliation, as with Strimzi.
    pub fn spawn_operator_for(
        &self,
        namespace: &str,
        cluster: &str,
        period: Duration,
        sim: &SimConnect,
    ) -> OperatorHandle {
        let sim = sim.clone();
        self.spawn_operator(namespace, cluster, period, move |call| match call {
            OperatorCall::Reconcile { name, desired } => sim.operator_reconcile(&name, &desired),
            OperatorCall::Restart {
                name,
                include_tasks,
                only_failed,
            } => {
                sim.operator_restart(&name, include_tasks, only_failed);
                String::new()
            }
            OperatorCall::RestartTask { name, task } => {
                sim.operator_restart_task(&name, task);
                String::new()
            }
        })
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
pub struct OperatorHandle {
    task: JoinHandle<()>,
    rounds: Arc<AtomicU64>,
}

impl OperatorHandle {
    /// Reconciliation rounds done so far (one round reconciles every resource of the cluster).
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }
}

impl Drop for OperatorHandle {
    fn drop(&mut self) {
        self.task.abort();
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
