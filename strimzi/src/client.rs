//! The client: finds the Kubernetes API, discovers which `kafka.strimzi.io` version to use,
//! lists the cluster's `KafkaConnector`s once per poll, and writes holds, releases, mark
//! removals and restart requests as guarded merge patches.
//!
//! Every request is bounded by `Options::request_timeout`, reported to the observer (operation,
//! HTTP code, seconds, error kind) and mapped to an [`Error`] that names the verb, resource and
//! namespace. kube's own retry layer is off: each attempt is seen and timed here.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_body_util::BodyExt;
use kube::api::{ListParams, Patch, PatchParams, ValidationDirective};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Verb};
use crate::model::{
    cut, ApiVersion, Hold, RawList, RawObject, Resource, Snapshot, CLUSTER_LABEL, GROUP, PLURAL,
    RESOURCE,
};
use crate::patch::{self, Declined, Outcome, Restart, Step};

/// Largest answer read for one request (one page of a list, one object).
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// How the agent finds and uses the `KafkaConnector`s of one Strimzi `KafkaConnect`.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `KafkaConnect`'s name (`--strimzi-cluster`): the `strimzi.io/cluster` label value.
    pub cluster: String,
    /// `--strimzi-namespace`; default: the service account's namespace in a pod, else the
    /// kubeconfig context's, else `default`.
    pub namespace: Option<String>,
    /// A kubeconfig to use instead of the standard search (tests; a `--strimzi-kubeconfig`).
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The field manager every patch is sent with (`managedFields[].manager`).
    pub field_manager: String,
    /// Bound on each request, connection included.
    pub request_timeout: Duration,
    /// Reads and writes per call when the resource keeps changing (409).
    pub conflict_attempts: u32,
    /// `limit` of each list page.
    pub page_size: u32,
    /// Refuse lists longer than this (memory bound).
    pub max_resources: usize,
}

impl Options {
    pub fn new(cluster: impl Into<String>) -> Self {
        Options {
            cluster: cluster.into(),
            namespace: None,
            kubeconfig: None,
            field_manager: "cdc-sentinel".into(),
            request_timeout: Duration::from_secs(10),
            conflict_attempts: 3,
            page_size: 250,
            max_resources: 10_000,
        }
    }

    /// Checks the values the way the API server would, naming the flag and the fix.
    pub fn validate(&self) -> Result<(), Error> {
        if !is_label_value(&self.cluster) {
            return Err(Error::Config(format!(
                "--strimzi-cluster {:?} is not a valid KafkaConnect name (a label value: 1-63 characters of a-z, A-Z, 0-9, '-', '_', '.', starting and ending with a letter or digit). Fix: pass the metadata.name of your KafkaConnect",
                cut(&self.cluster, 80)
            )));
        }
        if let Some(ns) = &self.namespace {
            if !is_dns_label(ns) {
                return Err(Error::Config(format!(
                    "--strimzi-namespace {:?} is not a valid namespace name (1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit). Fix: pass the namespace of your KafkaConnect",
                    cut(ns, 80)
                )));
            }
        }
        if self.field_manager.is_empty()
            || self.field_manager.len() > 128
            || !self.field_manager.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(Error::Config(
                "the field manager must be 1-128 printable ASCII characters without spaces".into(),
            ));
        }
        if self.request_timeout.is_zero()
            || self.conflict_attempts == 0
            || self.page_size == 0
            || self.max_resources == 0
        {
            return Err(Error::Config(
                "request timeout, conflict attempts, page size and maximum must be > 0".into(),
            ));
        }
        Ok(())
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_label_value(s: &str) -> bool {
    let ok_end = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && ok_end(s.chars().next())
        && ok_end(s.chars().last())
}

/// What was asked of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Discover,
    List,
    Get,
    Patch,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Discover => "discover",
            Operation::List => "list",
            Operation::Get => "get",
            Operation::Patch => "patch",
        }
    }
}

/// One request to the Kubernetes API, for metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestEvent {
    pub operation: Operation,
    /// The HTTP status, `None` when no answer came (refused, reset, timeout).
    pub code: Option<u16>,
    pub seconds: f64,
    /// [`Error::kind`] when the request failed (a 409 the call then retried included).
    pub error: Option<&'static str>,
}

type Observer = Arc<dyn Fn(&RequestEvent) + Send + Sync>;

/// The result of one poll's look at the `KafkaConnector`s.
#[derive(Debug, Clone)]
pub enum View {
    /// This poll's list succeeded.
    Fresh(Snapshot),
    /// It failed: the agent knows neither which connectors are Strimzi-managed nor what
    /// humans did to them. Blind means still: no action on any connector that is, or may be,
    /// Strimzi-managed.
    Blind {
        error: Error,
        last_success: Option<SystemTime>,
    },
}

/// Whether a connector is managed through a `KafkaConnector`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Managed<'a> {
    Yes(&'a Resource),
    No,
    /// The view is blind.
    Unknown,
}

impl View {
    pub fn is_fresh(&self) -> bool {
        matches!(self, View::Fresh(_))
    }
    pub fn snapshot(&self) -> Option<&Snapshot> {
        match self {
            View::Fresh(s) => Some(s),
            View::Blind { .. } => None,
        }
    }
    pub fn managed(&self, connector: &str) -> Managed<'_> {
        match self {
            View::Fresh(s) => s.get(connector).map_or(Managed::No, Managed::Yes),
            View::Blind { .. } => Managed::Unknown,
        }
    }
}

/// The Kubernetes side of cdc-sentinel for one Strimzi `KafkaConnect`. Cheap to clone.
#[derive(Clone)]
pub struct Strimzi {
    inner: Arc<Inner>,
}

struct Inner {
    client: kube::Client,
    opts: Options,
    namespace: String,
    /// The API server's URL without any userinfo, for messages.
    server: String,
    api: Mutex<Option<ApiVersion>>,
    last_success: Mutex<Option<SystemTime>>,
    observer: Observer,
}

impl std::fmt::Debug for Strimzi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Strimzi")
            .field("server", &self.inner.server)
            .field("namespace", &self.inner.namespace)
            .field("cluster", &self.inner.opts.cluster)
            .finish()
    }
}

/// A failed request: the error for the caller, plus what the retry logic needs.
struct Failure {
    code: Option<u16>,
    error: Error,
}

#[derive(Deserialize, Default)]
struct RawStatus {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Option<RawStatusDetails>,
}

#[derive(Deserialize, Default)]
struct RawStatusDetails {
    #[serde(default)]
    name: String,
}

impl Strimzi {
    /// Finds the API the standard way and builds the client; sends no request (so the agent
    /// starts, and says it is blind, while the API is down). `KUBECONFIG` when set, else the
    /// pod's service account when in a pod, else `~/.kube/config`.
    pub async fn new(
        opts: Options,
        observer: impl Fn(&RequestEvent) + Send + Sync + 'static,
    ) -> Result<Self, Error> {
        opts.validate()?;
        let mut config = load_config(opts.kubeconfig.as_deref()).await?;
        // Each attempt is ours to count and time; the whole request is bounded in `call`
        // (kube's own timeouts only as a backstop, so the message is always ours).
        config.default_retry = false;
        config.read_timeout = Some(opts.request_timeout + Duration::from_secs(1));
        config.connect_timeout = Some(opts.request_timeout + Duration::from_secs(1));
        let server = display_server(&config.cluster_url);
        let namespace = opts
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config).map_err(|e| {
            Error::Config(format!(
                "cannot build the Kubernetes client for {server}: {}",
                safe_kube_error(&e)
            ))
        })?;
        Self::assemble(client, opts, namespace, server, Arc::new(observer))
    }

    /// With a ready client (tests: kube's mock service, the fake API server). The namespace is
    /// `opts.namespace`, else the client's default.
    pub fn with_client(
        client: kube::Client,
        opts: Options,
        server: impl Into<String>,
        observer: impl Fn(&RequestEvent) + Send + Sync + 'static,
    ) -> Result<Self, Error> {
        opts.validate()?;
        let namespace = opts
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string());
        Self::assemble(client, opts, namespace, server.into(), Arc::new(observer))
    }

    fn assemble(
        client: kube::Client,
        opts: Options,
        namespace: String,
        server: String,
        observer: Observer,
    ) -> Result<Self, Error> {
        if !is_dns_label(&namespace) {
            return Err(Error::Config(format!(
                "the namespace {:?} (from the kubeconfig or service account) is not valid. Fix: pass --strimzi-namespace",
                cut(&namespace, 80)
            )));
        }
        Ok(Strimzi {
            inner: Arc::new(Inner {
                client,
                opts,
                namespace,
                server,
                api: Mutex::new(None),
                last_success: Mutex::new(None),
                observer,
            }),
        })
    }

    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }
    pub fn cluster(&self) -> &str {
        &self.inner.opts.cluster
    }
    /// The API server, for messages (no credentials).
    pub fn server(&self) -> &str {
        &self.inner.server
    }
    /// The version discovered, if discovery has run.
    pub fn api_version(&self) -> Option<ApiVersion> {
        *lock(&self.inner.api)
    }
    /// When a list last succeeded.
    pub fn last_success(&self) -> Option<SystemTime> {
        *lock(&self.inner.last_success)
    }

    /// Which `kafka.strimzi.io` version to use: `v1` where served, else `v1beta2`. Runs on
    /// first use and again after the API stops serving the version in use; call it at startup
    /// to fail fast on errors that need a fix ([`Error::needs_fix`]).
    pub async fn discover(&self) -> Result<ApiVersion, Error> {
        let group = self.get_json(Operation::Discover, &format!("/apis/{GROUP}")).await.map_err(|f| match f.code {
            Some(404) => self.not_installed(format!(
                "the API group {GROUP} is not served: Strimzi's custom resource definitions are not installed"
            )),
            _ => f.error,
        })?;
        let served: Vec<String> = group["versions"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .filter_map(|v| v["version"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut tried = Vec::new();
        for v in [ApiVersion::V1, ApiVersion::V1beta2] {
            if !served.iter().any(|s| s == v.as_str()) {
                continue;
            }
            let list = match self
                .get_json(Operation::Discover, &format!("/apis/{}", v.group_version()))
                .await
            {
                Ok(l) => l,
                Err(f) if f.code == Some(404) => {
                    tried.push(format!("{} (404)", v.group_version()));
                    continue;
                }
                Err(f) => return Err(f.error),
            };
            let has = list["resources"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|r| r["name"] == PLURAL));
            if has {
                *lock(&self.inner.api) = Some(v);
                return Ok(v);
            }
            tried.push(format!("{} (no {PLURAL})", v.group_version()));
        }
        Err(self.not_installed(if tried.is_empty() {
            format!("{GROUP} serves {served:?}: neither v1 nor v1beta2")
        } else {
            format!(
                "no served version of {GROUP} has {PLURAL}: {}",
                tried.join(", ")
            )
        }))
    }

    /// One look at the cluster's `KafkaConnector`s (a consistent list, paged), for this poll.
    pub async fn observe(&self) -> View {
        match self.list().await {
            Ok(s) => {
                *lock(&self.inner.last_success) = Some(s.taken_at);
                View::Fresh(s)
            }
            Err(error) => View::Blind {
                error,
                last_success: self.last_success(),
            },
        }
    }

    async fn list(&self) -> Result<Snapshot, Error> {
        let api = self.ensure_api().await?;
        let opts = &self.inner.opts;
        let mut resources = BTreeMap::new();
        let mut token: Option<String> = None;
        let mut restarted = false;
        let mut list_rv = String::new();
        loop {
            let lp = ListParams {
                label_selector: Some(format!("{CLUSTER_LABEL}={}", opts.cluster)),
                limit: Some(opts.page_size),
                continue_token: token.clone(),
                ..ListParams::default()
            };
            let req = kube::core::Request::new(self.collection_path(api))
                .list(&lp)
                .map_err(|e| {
                    self.malformed(Verb::List, format!("cannot build the request: {e}"))
                })?;
            let body = match self.call(Operation::List, Verb::List, req, None).await {
                Ok(b) => b,
                // The continue token outlived etcd's compaction: one fresh start.
                Err(f) if f.code == Some(410) && token.is_some() && !restarted => {
                    restarted = true;
                    token = None;
                    resources.clear();
                    continue;
                }
                Err(f) if f.code == Some(404) => {
                    *lock(&self.inner.api) = None;
                    return Err(self.not_installed(format!(
                        "{} is no longer served (Strimzi upgraded or uninstalled?); discovering again on the next poll",
                        api.group_version()
                    )));
                }
                Err(f) => return Err(f.error),
            };
            let page: RawList = serde_json::from_slice(&body).map_err(|e| {
                self.malformed(Verb::List, format!("not a {}List: {e}", crate::model::KIND))
            })?;
            if resources.len() + page.items.len() > opts.max_resources {
                return Err(Error::TooMany {
                    resource: RESOURCE.into(),
                    namespace: self.inner.namespace.clone(),
                    cluster: opts.cluster.clone(),
                    max: opts.max_resources,
                });
            }
            for item in page.items {
                let r = item
                    .into_resource()
                    .map_err(|e| self.malformed(Verb::List, e))?;
                resources.insert(r.name.clone(), r);
            }
            if list_rv.is_empty() || token.is_none() {
                list_rv = page.metadata.resource_version;
            }
            match page.metadata.continue_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        // Wall-clock time for `last_success` in messages; no decision reads it.
        #[allow(clippy::disallowed_methods)]
        let taken_at = SystemTime::now();
        Ok(Snapshot {
            taken_at,
            namespace: self.inner.namespace.clone(),
            cluster: opts.cluster.clone(),
            api_version: api,
            resource_version: list_rv,
            resources,
        })
    }

    /// Reads one `KafkaConnector` (fresh, from the API).
    pub async fn get(&self, name: &str) -> Result<Resource, Error> {
        let api = self.ensure_api().await?;
        let req = kube::core::Request::new(self.collection_path(api))
            .get(name, &Default::default())
            .map_err(|e| self.malformed(Verb::Get, format!("cannot build the request: {e}")))?;
        let body = self
            .call(Operation::Get, Verb::Get, req, Some(name))
            .await
            .map_err(|f| f.error)?;
        self.parse_object(Verb::Get, &body)
    }

    /// Holds the connector: `spec.state` = `paused`/`stopped` and our mark, in one patch made
    /// against the version just read. Declines (writes nothing) when a human holds it or took
    /// it back, or when the operator ignores the resource (`pause-reconciliation`).
    pub async fn hold(&self, name: &str, hold: &Hold) -> Result<Outcome, Error> {
        let want = hold.state.as_connector_state();
        let out = self.write(name, |r| patch::hold(r, hold)).await?;
        if let (Outcome::Written { .. }, Some(after)) = &out {
            if after.state != want {
                // The API server dropped spec.state: a CRD without it (Strimzi < 0.38) on a
                // server that does not validate fields. Do not leave a mark that says we hold it.
                let _ = self.clear_mark(name).await;
                return Err(Error::Unsupported {
                    resource: RESOURCE.into(),
                    name: name.into(),
                    namespace: self.inner.namespace.clone(),
                    detail: "the API server dropped spec.state from our patch: the KafkaConnector CRD has no spec.state".into(),
                });
            }
        }
        Ok(out.0)
    }

    /// Resumes the connector: `spec.state: running` and our mark removed, only while our mark
    /// is on it and `spec.state` is still what we set.
    pub async fn release(&self, name: &str) -> Result<Outcome, Error> {
        Ok(self.write(name, patch::release).await?.0)
    }

    /// Hand-back: removes our annotations only (no-op, no request beyond the read, when there
    /// are none).
    pub async fn clear_mark(&self, name: &str) -> Result<Outcome, Error> {
        Ok(self.write(name, patch::clear_mark).await?.0)
    }

    /// Asks the operator to restart, through the `strimzi.io/restart*` annotations (see
    /// [`Restart`] for which Strimzi release understands what). Use the REST API where the
    /// agent can reach it: it is immediate and works with every release.
    pub async fn request_restart(&self, name: &str, what: Restart) -> Result<Outcome, Error> {
        Ok(self.write(name, |r| patch::restart(r, what)).await?.0)
    }

    /// Read, decide, patch with the read `resourceVersion`; on 409 read and decide again.
    async fn write(
        &self,
        name: &str,
        decide: impl Fn(&Resource) -> Step,
    ) -> Result<(Outcome, Option<Resource>), Error> {
        let attempts = self.inner.opts.conflict_attempts;
        for attempt in 1..=attempts {
            let current = self.get(name).await?;
            let body = match decide(&current) {
                Step::Skip(o) => return Ok((o, None)),
                Step::Write(p) => p,
            };
            match self.patch(name, &body).await {
                Ok(after) => {
                    let rv = after.resource_version.clone();
                    return Ok((
                        Outcome::Written {
                            resource_version: rv,
                        },
                        Some(after),
                    ));
                }
                Err(f) if f.code == Some(409) => {
                    if attempt < attempts {
                        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    }
                }
                Err(f) => return Err(f.error),
            }
        }
        Err(Error::Conflict {
            verb: Verb::Patch,
            resource: RESOURCE.into(),
            name: name.into(),
            namespace: self.inner.namespace.clone(),
            attempts,
        })
    }

    async fn patch(&self, name: &str, body: &Value) -> Result<Resource, Failure> {
        let api = self
            .ensure_api()
            .await
            .map_err(|error| Failure { code: None, error })?;
        let pp = PatchParams {
            field_manager: Some(self.inner.opts.field_manager.clone()),
            // Unknown fields (spec.state on a CRD that lacks it) fail the request instead of
            // being dropped silently.
            field_validation: Some(ValidationDirective::Strict),
            ..PatchParams::default()
        };
        let req = kube::core::Request::new(self.collection_path(api))
            .patch(name, &pp, &Patch::Merge(body))
            .map_err(|e| Failure {
                code: None,
                error: self.malformed(Verb::Patch, format!("cannot build the request: {e}")),
            })?;
        let text = self
            .call(Operation::Patch, Verb::Patch, req, Some(name))
            .await?;
        self.parse_object(Verb::Patch, &text)
            .map_err(|error| Failure {
                code: Some(200),
                error,
            })
    }

    async fn ensure_api(&self) -> Result<ApiVersion, Error> {
        if let Some(v) = self.api_version() {
            return Ok(v);
        }
        self.discover().await
    }

    fn collection_path(&self, api: ApiVersion) -> String {
        format!(
            "/apis/{}/namespaces/{}/{PLURAL}",
            api.group_version(),
            self.inner.namespace
        )
    }

    fn parse_object(&self, verb: Verb, body: &[u8]) -> Result<Resource, Error> {
        let raw: RawObject = serde_json::from_slice(body)
            .map_err(|e| self.malformed(verb, format!("not a {}: {e}", crate::model::KIND)))?;
        raw.into_resource().map_err(|e| self.malformed(verb, e))
    }

    async fn get_json(&self, op: Operation, path: &str) -> Result<Value, Failure> {
        let req = http::Request::get(path)
            .body(Vec::new())
            .expect("a static path is a valid URI");
        let body = self.call(op, Verb::Get, req, None).await?;
        serde_json::from_slice(&body).map_err(|e| Failure {
            code: Some(200),
            error: self.malformed(Verb::Get, format!("{path} is not JSON: {e}")),
        })
    }

    /// Sends one request, bounded and observed; non-2xx answers become a [`Failure`].
    async fn call(
        &self,
        op: Operation,
        verb: Verb,
        req: http::Request<Vec<u8>>,
        name: Option<&str>,
    ) -> Result<Vec<u8>, Failure> {
        let started = tokio::time::Instant::now();
        let timeout = self.inner.opts.request_timeout;
        let res = tokio::time::timeout(timeout, async {
            let res = self
                .inner
                .client
                .send(req.map(kube::client::Body::from))
                .await?;
            let code = res.status().as_u16();
            let body = http_body_util::Limited::new(res.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map(|c| c.to_bytes().to_vec());
            Ok::<_, kube::Error>((code, body))
        })
        .await;
        let result = match res {
            Err(_) => Err(Failure {
                code: None,
                error: self.unreachable(format!(
                    "no answer within {}",
                    humantime::format_duration(timeout)
                )),
            }),
            Ok(Err(e)) => Err(Failure {
                code: None,
                error: self.transport(e),
            }),
            Ok(Ok((code, Err(e)))) => {
                let detail = if e
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    format!("answer larger than {} MiB", MAX_BODY_BYTES >> 20)
                } else {
                    format!("answer cut off: {}", error_chain(e.as_ref()))
                };
                Err(Failure {
                    code: Some(code),
                    error: self.unreachable(detail),
                })
            }
            Ok(Ok((code, Ok(body)))) if (200..300).contains(&code) => Ok((code, body)),
            Ok(Ok((code, Ok(body)))) => Err(self.failure(verb, code, &body, name)),
        };
        let (code, error) = match &result {
            Ok((code, _)) => (Some(*code), None),
            Err(f) => (f.code, Some(f.error.kind())),
        };
        let event = RequestEvent {
            operation: op,
            code,
            seconds: started.elapsed().as_secs_f64(),
            error,
        };
        (self.inner.observer)(&event);
        result.map(|(_, body)| body)
    }

    fn failure(&self, verb: Verb, code: u16, body: &[u8], name: Option<&str>) -> Failure {
        let status: Option<RawStatus> = serde_json::from_slice(body).ok();
        let (reason, message) = match &status {
            Some(s) => (s.reason.clone(), cut(&s.message, 500)),
            // Not a Status: a proxy or load balancer answered; its body is not repeated.
            None => (String::new(), "(no Kubernetes Status in the answer: a proxy or load balancer between the agent and the API server?)".into()),
        };
        let ns = self.inner.namespace.clone();
        let error = match code {
            401 => Error::Unauthorized { server: self.inner.server.clone() },
            403 => Error::Forbidden { verb, resource: RESOURCE.into(), namespace: ns, user: forbidden_user(&message) },
            404 if name.is_some() && status.as_ref().and_then(|s| s.details.as_ref()).is_some_and(|d| !d.name.is_empty()) => {
                Error::NotFound { resource: RESOURCE.into(), name: name.unwrap_or_default().into(), namespace: ns }
            }
            404 => {
                // The path itself is gone (the version is no longer served): discover again.
                *lock(&self.inner.api) = None;
                self.not_installed(format!("404 on {verb} {RESOURCE}: {message}"))
            }
            409 => Error::Conflict {
                verb,
                resource: RESOURCE.into(),
                name: name.unwrap_or_default().into(),
                namespace: ns,
                attempts: 1,
            },
            400 | 415 | 422 if message.contains("unknown field") && message.contains("spec.state") => Error::Unsupported {
                resource: RESOURCE.into(),
                name: name.unwrap_or_default().into(),
                namespace: ns,
                detail: format!("the API server refused spec.state ({message}): the KafkaConnector CRD has no spec.state"),
            },
            400 | 415 | 422 => Error::Rejected {
                verb,
                code,
                reason,
                resource: RESOURCE.into(),
                name: name.unwrap_or_default().into(),
                namespace: ns,
                message,
            },
            _ => Error::Server { verb, code, reason, resource: RESOURCE.into(), namespace: ns, message },
        };
        Failure {
            code: Some(code),
            error,
        }
    }

    fn transport(&self, e: kube::Error) -> Error {
        match &e {
            kube::Error::Auth(_) => Error::Config(format!(
                "cannot obtain credentials for the Kubernetes API at {} (service-account token file, client certificate or exec plugin of the kubeconfig failed; details withheld as they may contain credentials)",
                self.inner.server
            )),
            _ => self.unreachable(safe_kube_error(&e)),
        }
    }

    fn unreachable(&self, detail: String) -> Error {
        Error::Unreachable {
            server: self.inner.server.clone(),
            detail,
        }
    }

    fn not_installed(&self, detail: String) -> Error {
        Error::NotInstalled {
            server: self.inner.server.clone(),
            detail,
        }
    }

    fn malformed(&self, verb: Verb, detail: String) -> Error {
        Error::Malformed {
            verb,
            resource: RESOURCE.into(),
            namespace: self.inner.namespace.clone(),
            detail: cut(&detail, 300),
        }
    }
}

impl Declined {
    /// For logs: the decline as a short label.
    pub fn kind(&self) -> &'static str {
        match self {
            Declined::HumanHold(_) => "human_hold",
            Declined::HandedBack(_) => "handed_back",
            Declined::NotHeld => "not_held",
            Declined::ReconciliationPaused => "reconciliation_paused",
            Declined::Deleting => "deleting",
        }
    }
}

/// `User "system:serviceaccount:cdc:cdc-sentinel" cannot ...` -> the user.
fn forbidden_user(message: &str) -> Option<String> {
    let start = message.find("User \"")? + 6;
    let len = message[start..].find('"')?;
    Some(cut(&message[start..start + len], 200))
}

async fn load_config(explicit: Option<&std::path::Path>) -> Result<kube::Config, Error> {
    if let Some(path) = explicit {
        let shown = path.display().to_string();
        let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the kubeconfig {shown}: {}. Fix: point it at a valid kubeconfig",
                kubeconfig_error(&e)
            ))
        })?;
        return kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(|e| {
                Error::Config(format!(
                    "cannot use the kubeconfig {shown}: {}",
                    kubeconfig_error(&e)
                ))
            });
    }
    let kubeconfig_env = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty());
    if kubeconfig_env.is_none() && std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        return kube::Config::incluster().map_err(|e| {
            Error::Config(format!(
                "running in a pod (KUBERNETES_SERVICE_HOST is set) but its service account cannot be used: {e}. Fix: set automountServiceAccountToken: true on the agent's pod (deploy/kubernetes/strimzi/agent.yaml)"
            ))
        });
    }
    kube::Config::from_kubeconfig(&Default::default()).await.map_err(|e| {
        let why = kubeconfig_error(&e);
        let whence = match &kubeconfig_env {
            Some(p) => format!("KUBECONFIG={}", p.to_string_lossy()),
            None => "no KUBECONFIG, not in a pod (KUBERNETES_SERVICE_HOST unset), ~/.kube/config".into(),
        };
        Error::Config(format!(
            "cannot find the Kubernetes API ({whence}): {why}. Fix: run the agent in the cluster with its service account, or point KUBECONFIG at a kubeconfig"
        ))
    })
}

/// A kubeconfig error without the file's content (a YAML parse error quotes the document).
fn kubeconfig_error(e: &kube::config::KubeconfigError) -> String {
    match e {
        kube::config::KubeconfigError::Parse(_) => {
            "not valid YAML (details withheld: the file may hold credentials)".to_string()
        }
        other => cut(&other.to_string(), 300),
    }
}

/// The cluster URL for messages: scheme, host and port only.
fn display_server(uri: &http::Uri) -> String {
    match (uri.scheme_str(), uri.host()) {
        (Some(s), Some(h)) => match uri.port_u16() {
            Some(p) => format!("{s}://{h}:{p}"),
            None => format!("{s}://{h}"),
        },
        _ => "the Kubernetes API".into(),
    }
}

/// kube's transport errors with their causes, never auth details.
fn safe_kube_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Auth(_) => "credentials could not be obtained (details withheld)".into(),
        kube::Error::Api(s) => format!("{} {}", s.code, cut(&s.message, 300)),
        other => cut(&error_chain(other), 500),
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}

/// A plain value behind a mutex: a panic elsewhere while holding it cannot leave it half
/// written, so a poisoned lock is taken over.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_like_the_api_server_does() {
        assert!(Options::new("my-connect").validate().is_ok());
        let e = Options::new("my connect")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--strimzi-cluster") && e.contains("metadata.name"),
            "{e}"
        );
        assert!(Options::new("").validate().is_err());
        assert!(Options::new("a".repeat(64)).validate().is_err());
        let mut o = Options::new("c");
        o.namespace = Some("Kafka".into());
        let e = o.validate().unwrap_err().to_string();
        assert!(e.contains("--strimzi-namespace"), "{e}");
    }

    #[test]
    fn the_user_is_read_from_a_403_message() {
        let m = r#"kafkaconnectors.kafka.strimzi.io "inv" is forbidden: User "system:serviceaccount:cdc:cdc-sentinel" cannot patch resource "kafkaconnectors" in API group "kafka.strimzi.io" in the namespace "kafka""#;
        assert_eq!(
            forbidden_user(m).as_deref(),
            Some("system:serviceaccount:cdc:cdc-sentinel")
        );
        assert_eq!(forbidden_user("nope"), None);
    }

    #[test]
    fn server_is_shown_without_userinfo() {
        let u: http::Uri = "https://admin:pw@10.96.0.1:443/x".parse().unwrap();
        assert_eq!(display_server(&u), "https://10.96.0.1:443");
    }
}
