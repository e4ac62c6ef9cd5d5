//! Stage 1, observe: one listing of Kafka Connect becomes an [`Observation`], with everything
//! the later stages need per connector computed once (its target, whether it is selected, its
//! settings, the maintenance window that applies).

use std::collections::BTreeMap;

use cdc_sentinel_probe::target::{Target, TargetError};

use crate::config::Config;
use crate::core::offsets::{Expect, Flavour};
use crate::core::{ConnState, ConnectorObs, Maintenance, Millis, ResourceObs, Settings, TaskObs};
use crate::runtime::connect::types::ExpandedMap;

/// One connector as seen in this poll.
pub(crate) struct Seen {
    pub conn: ConnectorObs,
    /// The database target derived for it (config file, `--db`, or its own config).
    pub target: Result<Target, TargetError>,
    pub selected: bool,
    pub settings: Settings,
    /// The workers its status names (connector and tasks), each once: see `owners`.
    pub workers: Vec<String>,
    /// Its Strimzi `KafkaConnector` (with `--strimzi-cluster`, filled in by
    /// `strimzi::annotate`). While the view is blind: the last one seen, for the metrics only.
    pub resource: Option<ResourceObs>,
    /// Whose committed offsets it has (`None`: not a connector the agent reads them for).
    pub flavour: Option<Flavour>,
    /// Whether its committed offset must move by itself.
    pub expect: Expect,
}

/// What one poll showed.
pub(crate) struct Observation {
    pub now: Millis,
    pub connectors: BTreeMap<String, Seen>,
    /// Why no decision may be taken on this observation (with `--strimzi-cluster`: the
    /// `KafkaConnector`s could not be listed, so which connectors the operator manages, and
    /// what people did to them, is unknown).
    pub blind: Option<String>,
}

pub(crate) fn observe(cfg: &Config, list: ExpandedMap, now: Millis) -> Observation {
    let mut connectors = BTreeMap::new();
    for (name, ex) in list {
        // A connector whose status is not known yet (just created) is not observed at all.
        let Some(st) = ex.status else { continue };
        let state = ConnState::parse(&st.connector.state);
        let mut workers: Vec<String> = st
            .connector
            .worker_id
            .iter()
            .chain(st.tasks.iter().filter_map(|t| t.worker_id.as_ref()))
            .cloned()
            .collect();
        workers.sort_unstable();
        workers.dedup();
        let conn = ConnectorObs {
            state,
            state_name: (state == ConnState::Unknown).then(|| st.connector.state.clone()),
            trace: st.connector.trace,
            tasks: st
                .tasks
                .into_iter()
                .map(|t| TaskObs {
                    id: t.id,
                    state: ConnState::parse(&t.state),
                    trace: t.trace,
                })
                .collect(),
        };
        let config = ex.info.map(|i| i.config).unwrap_or_default();
        let key = |k: &str| config.get(k).map(String::as_str);
        let flavour = key("connector.class").and_then(Flavour::of_class);
        let expect = Expect::of(
            flavour,
            cfg.expect_progress(&name),
            key("heartbeat.interval.ms"),
            key("heartbeat.action.query"),
        );
        let target = cfg.target_for(&name, &config);
        let seen = Seen {
            conn,
            target,
            selected: cfg.selector.selects(&name),
            settings: cfg.settings_for(&name),
            workers,
            resource: None,
            flavour,
            expect,
        };
        connectors.insert(name, seen);
    }
    Observation {
        now,
        connectors,
        blind: None,
    }
}

/// The maintenance window that applies to a connector now, if any.
pub(crate) fn maintenance(
    cfg: &Config,
    name: &str,
    target: Option<&str>,
    now: Millis,
) -> Option<Maintenance> {
    crate::core::windows::active_until(&cfg.maintenance, name, target, now)
        .map(|ends_at| Maintenance { ends_at })
}
