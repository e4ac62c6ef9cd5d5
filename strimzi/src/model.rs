//! What the agent sees of a `KafkaConnector`: the desired state, our hold mark, the Strimzi
//! annotations that matter, parsed from the API's JSON keeping only those fields (a
//! `KafkaConnector`'s `spec.config` and `kubectl.kubernetes.io/last-applied-configuration` may
//! hold database passwords: they are skipped while parsing and never reach memory we keep).

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Deserializer};

/// The API group of Strimzi's custom resources.
pub const GROUP: &str = "kafka.strimzi.io";
/// The plural resource name, as RBAC and URLs spell it.
pub const PLURAL: &str = "kafkaconnectors";
/// `<plural>.<group>`, as `kubectl` and the API's messages spell it.
pub const RESOURCE: &str = "kafkaconnectors.kafka.strimzi.io";
/// The kind.
pub const KIND: &str = "KafkaConnector";
/// The label that ties a `KafkaConnector` to its `KafkaConnect` cluster.
pub const CLUSTER_LABEL: &str = "strimzi.io/cluster";
/// With `"true"` the Cluster Operator leaves the resource alone, `spec.state` included.
pub const PAUSE_RECONCILIATION: &str = "strimzi.io/pause-reconciliation";
/// Restart request for the connector (the operator removes it once done).
pub const RESTART: &str = "strimzi.io/restart";
/// Restart request for one task, by id (the operator removes it once done).
pub const RESTART_TASK: &str = "strimzi.io/restart-task";

/// Every annotation the agent writes starts with this.
pub const MARK_PREFIX: &str = "cdc-sentinel.io/";
/// `paused` or `stopped`: the state the agent set. Its presence *is* the mark.
pub const MARK_STATE: &str = "cdc-sentinel.io/held-state";
/// RFC 3339 time the hold began.
pub const MARK_SINCE: &str = "cdc-sentinel.io/held-since";
/// Why the agent holds the connector (e.g. `task_failed`, `probe_failed`, `maintenance`).
pub const MARK_REASON: &str = "cdc-sentinel.io/held-reason";
/// The database the agent waits for (host/port/service; never credentials).
pub const MARK_TARGET: &str = "cdc-sentinel.io/held-target";

/// Annotation values the agent writes are cut to this many bytes.
pub const MAX_MARK_VALUE: usize = 256;

/// The served API version of `kafka.strimzi.io` in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// Strimzi 0.49 and later (the only one from 1.0 on).
    V1,
    /// Strimzi 0.22 to 0.51.
    V1beta2,
}

impl ApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1",
            ApiVersion::V1beta2 => "v1beta2",
        }
    }
    /// `kafka.strimzi.io/v1`.
    pub fn group_version(self) -> String {
        format!("{GROUP}/{}", self.as_str())
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state a `KafkaConnector` asks the operator for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorState {
    Running,
    Paused,
    Stopped,
    /// A value this crate does not know (kept verbatim, cut to 64 bytes): treated as not running.
    Unknown(String),
}

impl ConnectorState {
    pub fn as_str(&self) -> &str {
        match self {
            ConnectorState::Running => "running",
            ConnectorState::Paused => "paused",
            ConnectorState::Stopped => "stopped",
            ConnectorState::Unknown(s) => s,
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "running" => ConnectorState::Running,
            "paused" => ConnectorState::Paused,
            "stopped" => ConnectorState::Stopped,
            other => ConnectorState::Unknown(cut(other, 64)),
        }
    }
}

impl fmt::Display for ConnectorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the agent holds a connector through its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldState {
    /// `spec.state: paused`. Kafka Connect refuses to pause a FAILED connector (and Strimzi
    /// 1.1+ refuses to ask): hold a FAILED connector with `Stopped`.
    Paused,
    /// `spec.state: stopped` (releases the database sessions).
    Stopped,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Paused => "paused",
            HoldState::Stopped => "stopped",
        }
    }
    pub fn as_connector_state(self) -> ConnectorState {
        match self {
            HoldState::Paused => ConnectorState::Paused,
            HoldState::Stopped => ConnectorState::Stopped,
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "paused" => Some(HoldState::Paused),
            "stopped" => Some(HoldState::Stopped),
            _ => None,
        }
    }
}

impl fmt::Display for HoldState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the agent asks for when it holds a connector; written as `cdc-sentinel.io/held-*`
/// annotations next to `spec.state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub state: HoldState,
    pub since: SystemTime,
    /// Why (the agent's reason label). Cut to [`MAX_MARK_VALUE`] bytes, control characters
    /// replaced.
    pub reason: String,
    /// The database target. Any `user:password@` in it is removed before it is written.
    pub target: String,
}

/// Our mark as read back from a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldMark {
    /// The state the agent set.
    pub state: HoldState,
    /// `None` if the annotation is missing or not RFC 3339 (somebody edited it).
    pub since: Option<SystemTime>,
    pub reason: String,
    pub target: String,
}

/// One `KafkaConnector` of the cluster, as far as the agent needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `metadata.name`, which Strimzi uses as the connector's name in Kafka Connect.
    pub name: String,
    /// The desired state: `spec.state`; without it the deprecated `spec.pause: true` (v1beta2)
    /// means paused; else running.
    pub state: ConnectorState,
    /// `spec.state` is set (not defaulted).
    pub state_explicit: bool,
    /// Our mark (`cdc-sentinel.io/held-state` present and valid). `None`: nobody, or a human,
    /// holds it.
    pub mark: Option<HoldMark>,
    /// Names of every `cdc-sentinel.io/` annotation present (a partial mark a human left
    /// behind included); `clear_mark` removes them all.
    pub our_annotations: Vec<String>,
    /// `strimzi.io/pause-reconciliation: "true"`: the operator ignores the resource, so
    /// `spec.state` has no effect; hold such a connector through REST.
    pub reconciliation_paused: bool,
    /// A `strimzi.io/restart` request the operator has not carried out yet.
    pub restart_pending: Option<String>,
    /// A `strimzi.io/restart-task` request the operator has not carried out yet.
    pub restart_task_pending: Option<String>,
    /// `spec.autoRestart.enabled`: Strimzi restarts FAILED tasks on its own schedule, whatever
    /// the database does.
    pub auto_restart: bool,
    pub resource_version: String,
    pub generation: i64,
    /// `status.observedGeneration`: the operator has reconciled `generation` when equal.
    pub observed_generation: Option<i64>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

impl Resource {
    /// The operator has seen the current spec (our latest `spec.state` included).
    pub fn reconciled(&self) -> bool {
        self.observed_generation
            .is_some_and(|g| g >= self.generation)
    }

    /// Parses one object from the API. Errors name the missing field.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let raw: RawObject = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        raw.into_resource()
    }
}

/// The `KafkaConnector`s of one Strimzi cluster at one moment (one list).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub taken_at: SystemTime,
    pub namespace: String,
    pub cluster: String,
    pub api_version: ApiVersion,
    /// The list's `metadata.resourceVersion`.
    pub resource_version: String,
    pub(crate) resources: BTreeMap<String, Resource>,
}

impl Snapshot {
    pub fn get(&self, connector: &str) -> Option<&Resource> {
        self.resources.get(connector)
    }
    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.resources.values()
    }
    pub fn len(&self) -> usize {
        self.resources.len()
    }
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing: only the fields above; annotations filtered while they are read.
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct RawList {
    #[serde(default)]
    pub metadata: RawListMeta,
    #[serde(default)]
    pub items: Vec<RawObject>,
}

#[derive(Deserialize, Default)]
pub(crate) struct RawListMeta {
    #[serde(default, rename = "resourceVersion")]
    pub resource_version: String,
    #[serde(default, rename = "continue")]
    pub continue_token: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RawObject {
    metadata: RawMeta,
    #[serde(default)]
    spec: Option<RawSpec>,
    #[serde(default)]
    status: Option<RawStatus>,
}

#[derive(Deserialize)]
struct RawMeta {
    name: Option<String>,
    #[serde(default, rename = "resourceVersion")]
    resource_version: String,
    #[serde(default)]
    generation: i64,
    #[serde(default, rename = "deletionTimestamp")]
    deletion_timestamp: Option<String>,
    #[serde(default, deserialize_with = "kept_annotations")]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawSpec {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    pause: Option<bool>,
    #[serde(default, rename = "autoRestart")]
    auto_restart: Option<RawAutoRestart>,
}

#[derive(Deserialize)]
struct RawAutoRestart {
    #[serde(default)]
    enabled: Option<bool>,
}

#[derive(Deserialize)]
struct RawStatus {
    #[serde(default, rename = "observedGeneration")]
    observed_generation: Option<i64>,
}

/// Keeps `cdc-sentinel.io/*` and the three `strimzi.io/` annotations the agent reads; every
/// other value (`last-applied-configuration` with the whole spec, ...) is dropped unread.
fn kept_annotations<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of annotations")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(k) = m.next_key::<String>()? {
                if k.starts_with(MARK_PREFIX)
                    || k == PAUSE_RECONCILIATION
                    || k == RESTART
                    || k == RESTART_TASK
                {
                    let v: String = m.next_value()?;
                    out.insert(k, cut(&v, 1024));
                } else {
                    m.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

impl RawObject {
    pub(crate) fn into_resource(self) -> Result<Resource, String> {
        let name = self.metadata.name.ok_or("an item has no metadata.name")?;
        let ann = self.metadata.annotations;
        let spec = self.spec;
        let (state, state_explicit) = match spec.as_ref().and_then(|s| s.state.as_deref()) {
            Some(s) => (ConnectorState::parse(s), true),
            None if spec.as_ref().and_then(|s| s.pause) == Some(true) => {
                (ConnectorState::Paused, false)
            }
            None => (ConnectorState::Running, false),
        };
        let mark = ann
            .get(MARK_STATE)
            .and_then(|s| HoldState::parse(s))
            .map(|state| HoldMark {
                state,
                since: ann
                    .get(MARK_SINCE)
                    .and_then(|s| humantime::parse_rfc3339(s).ok()),
                reason: ann.get(MARK_REASON).cloned().unwrap_or_default(),
                target: ann.get(MARK_TARGET).cloned().unwrap_or_default(),
            });
        Ok(Resource {
            state,
            state_explicit,
            mark,
            our_annotations: ann
                .keys()
                .filter(|k| k.starts_with(MARK_PREFIX))
                .cloned()
                .collect(),
            reconciliation_paused: ann
                .get(PAUSE_RECONCILIATION)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            restart_pending: ann.get(RESTART).cloned(),
            restart_task_pending: ann.get(RESTART_TASK).cloned(),
            auto_restart: spec
                .as_ref()
                .and_then(|s| s.auto_restart.as_ref())
                .and_then(|a| a.enabled)
                .unwrap_or(false),
            resource_version: self.metadata.resource_version,
            generation: self.metadata.generation,
            observed_generation: self.status.and_then(|s| s.observed_generation),
            deleting: self.metadata.deletion_timestamp.is_some(),
            name,
        })
    }
}

/// At most `max` bytes of `s`, cut on a character boundary.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A value safe to write as an annotation: no control characters, bounded.
pub(crate) fn clean_value(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cut(s.trim(), MAX_MARK_VALUE)
}

/// The target without any `user[:password]@` (belt and braces: the agent passes credential-free
/// targets, but an annotation is readable by everyone who can read the resource).
pub(crate) fn strip_userinfo(target: &str) -> String {
    let (scheme, rest) = match target.find("://") {
        Some(i) => (&target[..i + 3], &target[i + 3..]),
        None => ("", target),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => target.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(spec: serde_json::Value, annotations: serde_json::Value) -> serde_json::Value {
        json!({
            "apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaConnector",
            "metadata": {"name": "inv", "namespace": "kafka", "resourceVersion": "42", "generation": 3,
                         "labels": {"strimzi.io/cluster": "my-connect"}, "annotations": annotations},
            "spec": spec,
            "status": {"observedGeneration": 2}
        })
    }

    #[test]
    fn defaults_to_running_and_reads_the_deprecated_pause() {
        let r = Resource::from_json(&obj(json!({"class": "x"}), json!({}))).unwrap();
        assert_eq!(
            (r.state, r.state_explicit),
            (ConnectorState::Running, false)
        );
        let r = Resource::from_json(&obj(json!({"pause": true}), json!({}))).unwrap();
        assert_eq!((r.state, r.state_explicit), (ConnectorState::Paused, false));
        // state wins over pause, as in Strimzi's updateState.
        let r = Resource::from_json(&obj(json!({"pause": true, "state": "running"}), json!({})))
            .unwrap();
        assert_eq!((r.state, r.state_explicit), (ConnectorState::Running, true));
        let r = Resource::from_json(&obj(json!({"state": "stopped"}), json!({}))).unwrap();
        assert_eq!(r.state, ConnectorState::Stopped);
        assert_eq!(r.resource_version, "42");
        assert!(!r.reconciled(), "generation 3, observed 2");
    }

    #[test]
    fn reads_our_mark_and_only_the_annotations_it_needs() {
        let r = Resource::from_json(&obj(
            json!({"state": "paused", "config": {"database.password": "hunter2"}}),
            json!({
                "cdc-sentinel.io/held-state": "paused",
                "cdc-sentinel.io/held-since": "2026-11-20T02:00:05Z",
                "cdc-sentinel.io/held-reason": "task_failed",
                "cdc-sentinel.io/held-target": "postgres://db:5432/inventory",
                "kubectl.kubernetes.io/last-applied-configuration": "{\"spec\":{\"config\":{\"database.password\":\"hunter2\"}}}",
                "strimzi.io/restart": "includeTasks,onlyFailed"
            }),
        ))
        .unwrap();
        let m = r.mark.clone().unwrap();
        assert_eq!(m.state, HoldState::Paused);
        assert_eq!(
            m.since,
            Some(humantime::parse_rfc3339("2026-11-20T02:00:05Z").unwrap())
        );
        assert_eq!(
            (m.reason.as_str(), m.target.as_str()),
            ("task_failed", "postgres://db:5432/inventory")
        );
        assert_eq!(
            r.restart_pending.as_deref(),
            Some("includeTasks,onlyFailed")
        );
        assert_eq!(r.our_annotations.len(), 4);
        assert!(
            !format!("{r:?}").contains("hunter2"),
            "the password must not be kept: {r:?}"
        );
    }

    #[test]
    fn a_partial_or_mangled_mark_is_no_mark_but_is_still_ours_to_clean() {
        let r = Resource::from_json(&obj(
            json!({"state": "paused"}),
            json!({"cdc-sentinel.io/held-since": "yesterday"}),
        ))
        .unwrap();
        assert!(r.mark.is_none());
        assert_eq!(
            r.our_annotations,
            vec!["cdc-sentinel.io/held-since".to_string()]
        );
        let r = Resource::from_json(&obj(
            json!({"state": "paused"}),
            json!({"cdc-sentinel.io/held-state": "frozen"}),
        ))
        .unwrap();
        assert!(r.mark.is_none());
        let r = Resource::from_json(&obj(
            json!({"state": "paused"}),
            json!({"cdc-sentinel.io/held-state": "stopped", "cdc-sentinel.io/held-since": "soon"}),
        ))
        .unwrap();
        assert_eq!(r.mark.unwrap().since, None);
    }

    #[test]
    fn reconciliation_pause_and_auto_restart() {
        let r = Resource::from_json(&obj(
            json!({"autoRestart": {"enabled": true}}),
            json!({"strimzi.io/pause-reconciliation": "true"}),
        ))
        .unwrap();
        assert!(r.reconciliation_paused && r.auto_restart);
    }

    #[test]
    fn no_name_is_an_error_not_a_panic() {
        let e = Resource::from_json(&json!({"metadata": {}})).unwrap_err();
        assert!(e.contains("metadata.name"), "{e}");
        assert!(
            Resource::from_json(&json!({"metadata": {"name": "x", "annotations": null}})).is_ok()
        );
        assert!(Resource::from_json(&json!("nope")).is_err());
    }

    #[test]
    fn userinfo_is_stripped_and_values_are_bounded() {
        assert_eq!(
            strip_userinfo("postgres://app:s3cret@db:5432/inv"),
            "postgres://db:5432/inv"
        );
        assert_eq!(
            strip_userinfo("oracle://db1:1521/ORCL"),
            "oracle://db1:1521/ORCL"
        );
        assert_eq!(strip_userinfo("sys@db1:1521"), "db1:1521");
        assert_eq!(strip_userinfo("db:5432/path@x"), "db:5432/path@x");
        assert_eq!(clean_value("a\nb\tc"), "a b c");
        assert_eq!(clean_value(&"é".repeat(200)).len(), MAX_MARK_VALUE);
    }
}
