//! Kafka Connect REST wire types (ConnectorInfo, ConnectorStateInfo) as the worker sends them,
//! tolerant of unknown fields (Kafka 4.1+ adds `version`) and of `info: null`.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

/// One value of `GET /connectors?expand=status&expand=info`.
#[derive(Debug, Deserialize, Default)]
pub struct Expanded {
    #[serde(default)]
    pub status: Option<StateInfo>,
    #[serde(default)]
    pub info: Option<Info>,
}

/// The whole answer, keyed by connector name.
pub type ExpandedMap = HashMap<String, Expanded>;

#[derive(Debug, Deserialize)]
pub struct StateInfo {
    pub connector: ItemState,
    #[serde(default)]
    pub tasks: Vec<TaskState>,
}

#[derive(Debug, Deserialize)]
pub struct ItemState {
    pub state: String,
    #[serde(default)]
    pub trace: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TaskState {
    pub id: u32,
    pub state: String,
    #[serde(default)]
    pub trace: Option<String>,
}

/// ConnectorInfo; only the configuration keys the agent reads are kept (see [`KEPT_KEYS`]), so
/// passwords in a connector's config never reach memory we log or export.
#[derive(Debug, Deserialize)]
pub struct Info {
    #[serde(default, deserialize_with = "kept_config")]
    pub config: BTreeMap<String, String>,
}

/// The configuration keys the agent uses (target derivation, protocol choice).
pub const KEPT_KEYS: &[&str] = &[
    "connector.class",
    "database.hostname",
    "database.port",
    "database.url",
    "connection.url",
    "database.dbname",
    "database.pdb.name",
    // whether its committed offset must move by itself (stall detection, recovery by progress)
    "heartbeat.interval.ms",
    "heartbeat.action.query",
];

fn kept_config<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a connector config object")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                if KEPT_KEYS.contains(&k.as_ref()) {
                    let v: serde_json::Value = m.next_value()?;
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => continue,
                        other => other.to_string(),
                    };
                    out.insert(k.into_owned(), v);
                } else {
                    m.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// `GET /connectors/{n}/offsets` (KIP-875): `{"offsets":[{"partition":{..},"offset":{..}}]}`.
/// Partition and offset are kept as JSON: their shape is the connector's (see `core::offsets`).
#[derive(Debug, Deserialize)]
pub struct ConnectorOffsets {
    #[serde(default)]
    pub offsets: Vec<PartitionOffset>,
}

#[derive(Debug, Deserialize)]
pub struct PartitionOffset {
    #[serde(default)]
    pub partition: serde_json::Value,
    #[serde(default)]
    pub offset: serde_json::Value,
}

impl ConnectorOffsets {
    /// The `offset` objects, for `core::offsets::parse`.
    pub fn values(&self) -> impl Iterator<Item = &serde_json::Value> {
        self.offsets.iter().map(|o| &o.offset)
    }
}

/// `GET /`.
#[derive(Debug, Deserialize)]
pub struct RootInfo {
    pub version: String,
    #[serde(default)]
    pub commit: Option<String>,
}

/// Parses `MAJOR.MINOR` out of a Kafka version string ("3.9.0", "7.7.1-ccs", "4.1.0-SNAPSHOT").
pub fn kafka_version(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_expanded_list_and_drops_secrets() {
        let body = r#"{
          "inv": {"status": {"name":"inv","connector":{"state":"RUNNING","worker_id":"w:8083","version":"3.6.3"},
                   "tasks":[{"id":0,"state":"FAILED","worker_id":"w:8083","trace":"boom"}],"type":"source"},
                  "info": {"name":"inv","config":{"connector.class":"io.debezium.connector.oracle.OracleConnector",
                   "database.hostname":"db","database.port":"1521","database.password":"hunter2","tasks.max":"1"},
                   "tasks":[{"connector":"inv","task":0}],"type":"source"}},
          "gone": {"status": {"name":"gone","connector":{"state":"UNASSIGNED","worker_id":"w"},"tasks":[],"type":"unknown"}, "info": null},
          "empty": {}
        }"#;
        let m: ExpandedMap = serde_json::from_str(body).unwrap();
        let inv = &m["inv"];
        assert_eq!(
            inv.status.as_ref().unwrap().tasks[0].trace.as_deref(),
            Some("boom")
        );
        let cfg = &inv.info.as_ref().unwrap().config;
        assert_eq!(cfg.get("database.port").map(String::as_str), Some("1521"));
        assert!(!format!("{m:?}").contains("hunter2"));
        assert!(m["gone"].info.is_none());
        assert!(m["empty"].status.is_none());
    }

    #[test]
    fn versions() {
        assert_eq!(kafka_version("3.9.0"), Some((3, 9)));
        assert_eq!(kafka_version("7.7.1-ccs"), Some((7, 7)));
        assert_eq!(kafka_version("garbage"), None);
    }
}
