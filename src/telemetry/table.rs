//! The one table of every metric the agent exports: name, type, help, the meaning for the
//! docs, and its labels with their allowed values (taken from the enums, never repeated).
//!
//! The exposition writes its `# HELP`/`# TYPE` lines and names from here; docs/metrics.md, the
//! README's table and monitoring/metrics.json (which the alert, dashboard and runbook generator
//! reads) are generated from here by `cdc-sentinel metrics-doc`, and a test fails when the
//! committed copies differ. Adding a metric: one entry below (and add it to [`ALL`]), then the
//! code that writes it; `tests/it/metrics_doc.rs` fails until a real scrape shows it.

use cdc_sentinel_probe::Reason;

use crate::core::labels::Label;
use crate::core::{
    Action, ActionStatus, ConnState, HoldReason, Manager, Outcome, Phase, RecordReason,
};

/// A metric's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// One label of a metric.
#[derive(Clone, Copy)]
pub struct LabelDef {
    pub name: &'static str,
    /// The closed set of values, when there is one (`None`: open-ended, like `connector`).
    pub values: Option<fn() -> Vec<&'static str>>,
}

/// When a metric is in a scrape.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// In every scrape (once there is something to say: a connector, a target).
    Always,
    /// Only with a feature, said in words for the docs (`tests/it/metrics_doc.rs` checks these
    /// with the feature's own tests instead).
    When(&'static str),
}

/// One metric.
pub struct MetricDef {
    pub name: &'static str,
    pub kind: Kind,
    /// The `# HELP` line.
    pub help: &'static str,
    /// The meaning, for docs/metrics.md and the README (Markdown).
    pub doc: &'static str,
    pub labels: &'static [LabelDef],
    pub presence: Presence,
}

impl MetricDef {
    /// The `# HELP` and `# TYPE` lines.
    pub fn header(&self, out: &mut String) {
        out.push_str("# HELP ");
        out.push_str(self.name);
        out.push(' ');
        out.push_str(self.help);
        out.push_str("\n# TYPE ");
        out.push_str(self.name);
        out.push(' ');
        out.push_str(self.kind.as_str());
        out.push('\n');
    }
}

const fn open(name: &'static str) -> LabelDef {
    LabelDef { name, values: None }
}

const fn closed(name: &'static str, values: fn() -> Vec<&'static str>) -> LabelDef {
    LabelDef {
        name,
        values: Some(values),
    }
}

const CONNECTOR: LabelDef = open("connector");
const TARGET: LabelDef = open("target");

fn states() -> Vec<&'static str> {
    ConnState::KNOWN.iter().map(|s| s.as_str()).collect()
}
fn failure_reasons() -> Vec<&'static str> {
    Reason::failures().map(Reason::as_str).collect()
}

/// The Kafka Connect REST operations the agent times (the `operation` label).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::EnumCount,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[strum(serialize_all = "snake_case")]
pub enum ConnectOp {
    /// `GET /connectors?expand=status&expand=info`
    List,
    /// `GET /`
    Root,
    /// `GET /health`
    Health,
    /// `GET /connectors/{n}/status`
    Status,
    Pause,
    Resume,
    Stop,
    Restart,
    /// `GET /connectors/{n}/offsets`
    Offsets,
}

crate::core::labels::labels!(ConnectOp);

impl From<Action> for ConnectOp {
    fn from(a: Action) -> ConnectOp {
        match a {
            Action::Pause => ConnectOp::Pause,
            Action::Resume => ConnectOp::Resume,
            Action::Stop => ConnectOp::Stop,
            Action::RestartFailed | Action::RestartTasks => ConnectOp::Restart,
        }
    }
}

pub const BUILD_INFO: MetricDef = MetricDef {
    name: "cdc_sentinel_build_info",
    kind: Kind::Gauge,
    help: "The running build; always 1.",
    doc: "always 1; the running build",
    labels: &[open("revision"), open("version")],
    presence: Presence::Always,
};
pub const DRY_RUN: MetricDef = MetricDef {
    name: "cdc_sentinel_dry_run",
    kind: Kind::Gauge,
    help: "1 when started with --dry-run (actions are logged and counted, never sent).",
    doc: "1 when started with `--dry-run` (actions are logged and counted with `result=\"dry_run\"`, never sent)",
    labels: &[],
    presence: Presence::Always,
};
pub const CONNECT_UP: MetricDef = MetricDef {
    name: "cdc_sentinel_connect_up",
    kind: Kind::Gauge,
    help: "1 if the last poll of Kafka Connect succeeded, else 0.",
    doc:
        "1 if the last poll of Kafka Connect succeeded (HTTP 200 and a well-formed answer), else 0",
    labels: &[],
    presence: Presence::Always,
};
pub const CONNECT_LAST_SUCCESS: MetricDef = MetricDef {
    name: "cdc_sentinel_connect_last_success_timestamp_seconds",
    kind: Kind::Gauge,
    help: "Unix time of the last successful poll of Kafka Connect.",
    doc: "Unix time of the last successful poll",
    labels: &[],
    presence: Presence::Always,
};
pub const CONNECT_REQUEST_DURATION: MetricDef = MetricDef {
    name: "cdc_sentinel_connect_request_duration_seconds",
    kind: Kind::Histogram,
    help: "Kafka Connect REST calls by operation and HTTP status (or error).",
    doc: "every Kafka Connect REST call; `code` is the HTTP status or `error` (no answer)",
    labels: &[open("code"), closed("operation", ConnectOp::names)],
    presence: Presence::Always,
};
pub const CONNECTOR_STATE: MetricDef = MetricDef {
    name: "cdc_sentinel_connector_state",
    kind: Kind::Gauge,
    help: "1 for the connector's current Kafka Connect state, 0 for the others.",
    doc: "1 for the connector's current Kafka Connect state, 0 for each other state; a state a newer Kafka reports that is none of these is exported under its own name (1)",
    labels: &[CONNECTOR, closed("state", states)],
    presence: Presence::Always,
};
pub const CONNECTOR_TASKS: MetricDef = MetricDef {
    name: "cdc_sentinel_connector_tasks",
    kind: Kind::Gauge,
    help: "Number of the connector's tasks in each state.",
    doc: "number of the connector's tasks in each state (zeros included)",
    labels: &[CONNECTOR, closed("state", states)],
    presence: Presence::Always,
};
pub const TASK_FAILURES: MetricDef = MetricDef {
    name: "cdc_sentinel_task_failures_total",
    kind: Kind::Counter,
    help: "Transitions of a task or the connector into FAILED observed.",
    doc: "transitions of a task (or the connector) into FAILED that the agent observed",
    labels: &[CONNECTOR],
    presence: Presence::Always,
};
pub const CONNECTOR_TARGET_INFO: MetricDef = MetricDef {
    name: "cdc_sentinel_connector_target_info",
    kind: Kind::Gauge,
    help: "1; the database target probed for this connector.",
    doc: "1; the database target the agent probes for this connector",
    labels: &[CONNECTOR, TARGET],
    presence: Presence::Always,
};
pub const CONNECTOR_SELECTED: MetricDef = MetricDef {
    name: "cdc_sentinel_connector_selected",
    kind: Kind::Gauge,
    help: "1 if the agent acts on this connector (--connector/--include/--exclude), else 0.",
    doc: "1 if the agent acts on the connector (`--connector`, `--include`, `--exclude`, `ignore` in the config file), 0 if it only watches it; present for every connector Kafka Connect lists",
    labels: &[CONNECTOR],
    presence: Presence::Always,
};
pub const CONNECTOR_TARGET_UNKNOWN: MetricDef = MetricDef {
    name: "cdc_sentinel_connector_target_unknown",
    kind: Kind::Gauge,
    help: "1 when no database target could be found for a selected connector.",
    doc: "1 when no database target could be found for a selected connector (no `--db`, nothing in its config, nothing in the config file); the agent will not act on it",
    labels: &[CONNECTOR],
    presence: Presence::Always,
};
pub const PROBE_SUCCESS: MetricDef = MetricDef {
    name: "cdc_sentinel_probe_success",
    kind: Kind::Gauge,
    help: "1 if the last probe of the target succeeded, else 0.",
    doc: "1 if the last probe of the target succeeded, else 0",
    labels: &[TARGET],
    presence: Presence::Always,
};
pub const PROBE_DURATION: MetricDef = MetricDef {
    name: "cdc_sentinel_probe_duration_seconds",
    kind: Kind::Histogram,
    help: "Duration of each database probe.",
    doc: "duration of each probe",
    labels: &[TARGET],
    presence: Presence::Always,
};
pub const PROBE_LAST_SUCCESS: MetricDef = MetricDef {
    name: "cdc_sentinel_probe_last_success_timestamp_seconds",
    kind: Kind::Gauge,
    help: "Unix time of the last successful probe of the target.",
    doc: "Unix time of the last successful probe (absent until one succeeded)",
    labels: &[TARGET],
    presence: Presence::Always,
};
pub const PROBE_FAILURES: MetricDef = MetricDef {
    name: "cdc_sentinel_probe_failures_total",
    kind: Kind::Counter,
    help: "Failed probes by reason.",
    doc: "failed probes by reason (zeros included)",
    labels: &[TARGET, closed("reason", failure_reasons)],
    presence: Presence::Always,
};
pub const PROBE_LAST_REASON: MetricDef = MetricDef {
    name: "cdc_sentinel_probe_last_reason",
    kind: Kind::Gauge,
    help: "1 for the reason of the target's most recent probe.",
    doc: "1 for the reason of the target's most recent probe (`ok` or one of the failure reasons), 0 for the others",
    labels: &[TARGET, closed("reason", Reason::names)],
    presence: Presence::Always,
};
pub const PROBE_BLIND: MetricDef = MetricDef {
    name: "cdc_sentinel_probe_blind",
    kind: Kind::Gauge,
    help: "1 while the agent cannot see the target while connectors on it read RUNNING.",
    doc: "1 while the target's probes fail in a way that says the agent cannot see it (`dns`, `protocol_error`, or never answered since the agent started) while selected connectors on it read RUNNING: the agent starts no hold on such failures (Debezium reading RUNNING means Connect reaches the database); 0 otherwise. Present for targets of running connectors",
    labels: &[TARGET],
    presence: Presence::Always,
};
pub const MANAGED: MetricDef = MetricDef {
    name: "cdc_sentinel_managed",
    kind: Kind::Gauge,
    help: "1 while a hold of the agent's is in effect on the connector.",
    doc: "1 while a hold of the agent's is in effect (it paused/stopped the connector and will resume it); 0 while it only tries to hold it, or after it gave up",
    labels: &[CONNECTOR],
    presence: Presence::Always,
};
pub const RECOVERY_ACTIVE: MetricDef = MetricDef {
    name: "cdc_sentinel_recovery_active",
    kind: Kind::Gauge,
    help: "1 while the connector is in a recovery.",
    doc: "1 while the connector is in a recovery (phase `holding`, `waiting`, `resuming`, `verifying` or `timed_out`)",
    labels: &[CONNECTOR],
    presence: Presence::Always,
};
pub const RECOVERY_PHASE: MetricDef = MetricDef {
    name: "cdc_sentinel_recovery_phase",
    kind: Kind::Gauge,
    help: "1 for the connector's current recovery phase, 0 for the others.",
    doc: "1 for the connector's current phase, 0 for the others",
    labels: &[CONNECTOR, closed("phase", Phase::names)],
    presence: Presence::Always,
};
pub const RECOVERY_INFO: MetricDef = MetricDef {
    name: "cdc_sentinel_recovery_info",
    kind: Kind::Gauge,
    help: "1 while the phase is not watching: the target and why.",
    doc: "1 while the phase is not `watching`: why. Recoveries: `task_failed` (a FAILED task/connector with an availability trace), `probe_failed` (`--down-after` failed probes while RUNNING), `maintenance` (held for a planned maintenance window: from its start until the database is back after its end). Phase `needs_attention`: the other reasons",
    labels: &[CONNECTOR, TARGET, closed("reason", RecordReason::names)],
    presence: Presence::Always,
};
pub const RECOVERY_STARTED: MetricDef = MetricDef {
    name: "cdc_sentinel_recovery_started_timestamp_seconds",
    kind: Kind::Gauge,
    help: "Unix time the current recovery started.",
    doc: "Unix time the current recovery started (absent when not in recovery)",
    labels: &[CONNECTOR],
    presence: Presence::Always,
};
pub const RECOVERY_MAX_WAIT: MetricDef = MetricDef {
    name: "cdc_sentinel_recovery_max_wait_seconds",
    kind: Kind::Gauge,
    help: "The maximum wait that applies to the connector.",
    doc: "the maximum wait that applies to the connector (`--max-wait` or its per-connector override)",
    labels: &[CONNECTOR],
    presence: Presence::Always,
};
pub const RECOVERY_RESUME_ATTEMPTS: MetricDef = MetricDef {
    name: "cdc_sentinel_recovery_resume_attempts",
    kind: Kind::Gauge,
    help: "Resume attempts made in the current recovery.",
    doc: "resume attempts made in the current recovery (0 until the first)",
    labels: &[CONNECTOR],
    presence: Presence::Always,
};
pub const RECOVERIES_STARTED: MetricDef = MetricDef {
    name: "cdc_sentinel_recoveries_started_total",
    kind: Kind::Counter,
    help: "Recoveries started (the agent decided to hold the connector).",
    doc: "recoveries started (the agent decided to hold the connector; zeros included)",
    labels: &[CONNECTOR, closed("reason", HoldReason::names)],
    presence: Presence::Always,
};
pub const RECOVERY_DURATION: MetricDef = MetricDef {
    name: "cdc_sentinel_recovery_duration_seconds",
    kind: Kind::Histogram,
    help: "Duration of finished recoveries by outcome.",
    doc: "duration of finished recoveries (every outcome present from the start with count 0, `dry_run` only under `--dry-run`): `recovered`, `timed_out_recovered` (`--after-timeout resume`), `handed_back` (a human resumed it), `deleted` (connector deleted while held), `needs_attention` (failed again in a way waiting cannot fix)",
    labels: &[closed("outcome", Outcome::names)],
    presence: Presence::Always,
};
pub const RECOVERY_TIMEOUTS: MetricDef = MetricDef {
    name: "cdc_sentinel_recovery_timeouts_total",
    kind: Kind::Counter,
    help: "Recoveries that reached the maximum wait.",
    doc: "recoveries that reached `--max-wait` (phase `timed_out`)",
    labels: &[CONNECTOR],
    presence: Presence::Always,
};
pub const MAINTENANCE_ACTIVE: MetricDef = MetricDef {
    name: "cdc_sentinel_maintenance_active",
    kind: Kind::Gauge,
    help: "1 while a maintenance window applies to the connector.",
    doc: "1 while a maintenance window (`--maintenance`, `[[maintenance]]` in the config file) applies to the connector, else 0; present for every selected connector. The connector may stay held after the window (reason `maintenance`) until its database is back; for a maintenance hold `--max-wait` counts from the window's end",
    labels: &[CONNECTOR],
    presence: Presence::Always,
};
pub const ACTIONS: MetricDef = MetricDef {
    name: "cdc_sentinel_actions_total",
    kind: Kind::Counter,
    help: "Actions on connectors by action and result.",
    doc: "actions on connectors (zeros included for every selected connector: `ok` and `error`, plus `dry_run` under `--dry-run`, so `increase()` sees the first action); through REST, or for a connector held through its Strimzi KafkaConnector `pause`/`stop`/`resume` are writes of its `spec.state` (`error` includes a write declined because a person's decision was found on the resource)",
    labels: &[
        CONNECTOR,
        closed("action", Action::names),
        closed("result", ActionStatus::names),
    ],
    presence: Presence::Always,
};

pub const LEADER: MetricDef = MetricDef {
    name: "cdc_sentinel_leader",
    kind: Kind::Gauge,
    help: "1 on the agent that leads (acts), 0 on standbys.",
    doc: "1 on the agent of a Kafka Connect cluster that leads (the only one that acts), 0 on standbys; a sole agent with a state file leads",
    labels: &[],
    presence: Presence::Always,
};
pub const LEADER_CHANGES: MetricDef = MetricDef {
    name: "cdc_sentinel_leader_changes_total",
    kind: Kind::Counter,
    help: "Times this agent became or stopped being the leader.",
    doc: "transitions of this agent into or out of leadership",
    labels: &[],
    presence: Presence::Always,
};
pub const STATE_STORE_UP: MetricDef = MetricDef {
    name: "cdc_sentinel_state_store_up",
    kind: Kind::Gauge,
    help: "1 if the last read/write of the state store succeeded.",
    doc: "1 if the last read or write of the state store (file or Kafka topic) succeeded, else 0",
    labels: &[],
    presence: Presence::Always,
};
pub const UNRECORDED_HOLDS: MetricDef = MetricDef {
    name: "cdc_sentinel_unrecorded_holds",
    kind: Kind::Gauge,
    help: "PAUSED/STOPPED connectors with no hold record.",
    doc: "selected connectors PAUSED or STOPPED with no hold record: a human's holds, or holds whose records were lost (the agent never resumes them)",
    labels: &[],
    presence: Presence::Always,
};
pub const CONNECTOR_MANAGED_BY: MetricDef = MetricDef {
    name: "cdc_sentinel_connector_managed_by",
    kind: Kind::Gauge,
    help: "1 for how the agent acts on the connector.",
    doc: "1 for how the agent acts on the connector, 0 for the other: `rest` (the Kafka Connect REST API) or `strimzi` (its KafkaConnector resource's `spec.state`); present for every selected connector",
    labels: &[CONNECTOR, closed("manager", Manager::names)],
    presence: Presence::Always,
};
pub const SOURCE_OFFSET_POSITION: MetricDef = MetricDef {
    name: "cdc_sentinel_source_offset_position",
    kind: Kind::Gauge,
    help: "The connector's committed source position as one number (Oracle SCN, PostgreSQL LSN, binlog file index * 1e10 + position).",
    doc: "the connector's committed source offset (`GET /connectors/{name}/offsets`, Kafka >= 3.5) as one number: the Oracle SCN (the larger of `scn` and every thread's `commit_scn`), the PostgreSQL LSN (the largest of `lsn`, `lsn_proc`, `lsn_commit`; `0/152A408` is 22193160), or for MySQL/MariaDB the binlog file index * 10^10 + position (`mysql-bin.000003` at 154 is 30000000154). Read at most every `--offsets-interval`",
    labels: &[CONNECTOR],
    presence: Presence::When("for selected Debezium Oracle, PostgreSQL, MySQL and MariaDB connectors once a position was read (Kafka Connect 3.5+)"),
};
pub const SOURCE_OFFSET_ADVANCED: MetricDef = MetricDef {
    name: "cdc_sentinel_source_offset_advanced_timestamp_seconds",
    kind: Kind::Gauge,
    help: "Unix time the connector's committed source position last advanced (or was first read).",
    doc: "Unix time the committed source position last advanced, as seen by reads every `--offsets-interval` (or was first read by this agent, or was reset)",
    labels: &[CONNECTOR],
    presence: Presence::When("with cdc_sentinel_source_offset_position"),
};
pub const CONNECTOR_STALLED: MetricDef = MetricDef {
    name: "cdc_sentinel_connector_stalled",
    kind: Kind::Gauge,
    help: "1 while a connector expected to progress reads RUNNING but its committed offset has not advanced for --stall-after.",
    doc: "1 while a connector expected to progress reads RUNNING (connector and every task) but its committed offset has not advanced for `--stall-after`, else 0. Expected to progress: `heartbeat.interval.ms` > 0 on Oracle, `heartbeat.interval.ms` > 0 with `heartbeat.action.query` on PostgreSQL/MySQL, or `expect_progress = true` in the config file; any other connector is always 0 (an idle table is normal)",
    labels: &[CONNECTOR],
    presence: Presence::When("with cdc_sentinel_source_offset_position (always 0 for a connector not expected to progress)"),
};
pub const KUBERNETES_UP: MetricDef = MetricDef {
    name: "cdc_sentinel_kubernetes_up",
    kind: Kind::Gauge,
    help: "1 if the last list of KafkaConnector resources succeeded.",
    doc: "1 if this poll's list of the cluster's KafkaConnector resources succeeded, else 0 (then the agent takes no action on any connector)",
    labels: &[],
    presence: Presence::When("with --strimzi-cluster"),
};
pub const KUBERNETES_REQUEST_DURATION: MetricDef = MetricDef {
    name: "cdc_sentinel_kubernetes_request_duration_seconds",
    kind: Kind::Histogram,
    help: "Duration of Kubernetes API requests.",
    doc: "every Kubernetes API request; `code` is the HTTP status or `error` (no answer)",
    labels: &[open("code"), closed("verb", KubeVerb::names)],
    presence: Presence::When("with --strimzi-cluster"),
};

/// The Kubernetes API requests the agent times (the `verb` label).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::EnumCount,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[strum(serialize_all = "snake_case")]
pub enum KubeVerb {
    /// API discovery: which `kafka.strimzi.io` versions the server has.
    Discover,
    List,
    Get,
    Patch,
}

crate::core::labels::labels!(KubeVerb);

/// Every metric, in the order of the docs.
pub static ALL: &[&MetricDef] = &[
    &BUILD_INFO,
    &DRY_RUN,
    &CONNECT_UP,
    &CONNECT_LAST_SUCCESS,
    &CONNECT_REQUEST_DURATION,
    &CONNECTOR_STATE,
    &CONNECTOR_TASKS,
    &TASK_FAILURES,
    &CONNECTOR_TARGET_INFO,
    &CONNECTOR_SELECTED,
    &CONNECTOR_TARGET_UNKNOWN,
    &PROBE_SUCCESS,
    &PROBE_DURATION,
    &PROBE_LAST_SUCCESS,
    &PROBE_FAILURES,
    &PROBE_LAST_REASON,
    &PROBE_BLIND,
    &MANAGED,
    &RECOVERY_ACTIVE,
    &RECOVERY_PHASE,
    &RECOVERY_INFO,
    &RECOVERY_STARTED,
    &RECOVERY_MAX_WAIT,
    &RECOVERY_RESUME_ATTEMPTS,
    &RECOVERIES_STARTED,
    &RECOVERY_DURATION,
    &RECOVERY_TIMEOUTS,
    &MAINTENANCE_ACTIVE,
    &ACTIONS,
    &CONNECTOR_MANAGED_BY,
    &UNRECORDED_HOLDS,
    &LEADER,
    &LEADER_CHANGES,
    &STATE_STORE_UP,
    &SOURCE_OFFSET_POSITION,
    &SOURCE_OFFSET_ADVANCED,
    &CONNECTOR_STALLED,
    &KUBERNETES_UP,
    &KUBERNETES_REQUEST_DURATION,
];

/// The Markdown table of docs/metrics.md and the README.
pub fn markdown_table() -> String {
    let mut s = String::from("| name | type | labels | meaning |\n|---|---|---|---|\n");
    for m in ALL {
        let labels: Vec<String> = m.labels.iter().map(|l| format!("`{}`", l.name)).collect();
        let mut meaning = m.doc.to_string();
        for l in m.labels {
            if let Some(values) = l.values {
                let v: Vec<String> = values().iter().map(|v| format!("`{v}`")).collect();
                meaning.push_str(&format!("; `{}`: {}", l.name, v.join(", ")));
            }
        }
        if let Presence::When(w) = m.presence {
            meaning.push_str(&format!(" (only {w})"));
        }
        s.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            m.name,
            m.kind.as_str(),
            labels.join(", "),
            meaning
        ));
    }
    s
}

/// monitoring/metrics.json: the table for the monitoring generator.
pub fn json() -> String {
    let metrics: Vec<serde_json::Value> = ALL
        .iter()
        .map(|m| {
            let labels: Vec<serde_json::Value> = m
                .labels
                .iter()
                .map(|l| match l.values {
                    Some(v) => serde_json::json!({"name": l.name, "values": v()}),
                    None => serde_json::json!({"name": l.name}),
                })
                .collect();
            serde_json::json!({
                "name": m.name,
                "type": m.kind.as_str(),
                "help": m.help,
                "doc": m.doc,
                "labels": labels,
            })
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&serde_json::json!({ "metrics": metrics }))
        .unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for m in ALL {
            assert!(seen.insert(m.name), "{} twice", m.name);
            assert!(m.name.starts_with("cdc_sentinel_"), "{}", m.name);
            match m.kind {
                Kind::Counter => assert!(m.name.ends_with("_total"), "{}", m.name),
                _ => assert!(!m.name.ends_with("_total"), "{}", m.name),
            }
            assert!(m.help.ends_with('.'), "{}: help is a sentence", m.name);
        }
    }
}
