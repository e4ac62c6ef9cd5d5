//! What the agent observes: a connector and its tasks as Kafka Connect reports them, what its
//! Strimzi `KafkaConnector` says (with `--strimzi-cluster`), and the history of its database's
//! probes.

use cdc_sentinel_probe::Reason;

use super::labels::labels;
use super::record::HoldWith;
use super::Millis;

/// Kafka Connect's state of a connector or task (the `state` label of the connector metrics).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::EnumCount,
    strum::VariantArray,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnState {
    Unassigned,
    Running,
    Paused,
    Failed,
    Restarting,
    Stopped,
    /// Anything else a newer Kafka might report (reported as-is in logs, never acted upon).
    Unknown,
}

impl ConnState {
    /// The states Kafka Connect documents: the `state` label values.
    pub const KNOWN: [ConnState; 6] = [
        ConnState::Unassigned,
        ConnState::Running,
        ConnState::Paused,
        ConnState::Failed,
        ConnState::Restarting,
        ConnState::Stopped,
    ];

    /// Kafka Connect's name (`RUNNING`); anything else is [`ConnState::Unknown`].
    pub fn parse(s: &str) -> ConnState {
        match s.parse() {
            Ok(ConnState::Unknown) | Err(_) => ConnState::Unknown,
            Ok(st) => st,
        }
    }
}

/// One task as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskObs {
    pub id: u32,
    pub state: ConnState,
    pub trace: Option<String>,
}

/// A connector as observed in the latest poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorObs {
    pub state: ConnState,
    /// Kafka Connect's own word for a state this agent does not know (`DEGRADED`), shown and
    /// exported as it is; `None` for the known states.
    pub state_name: Option<String>,
    pub trace: Option<String>,
    pub tasks: Vec<TaskObs>,
}

impl ConnectorObs {
    pub(crate) fn failed_traces(&self) -> impl Iterator<Item = (String, &str)> {
        let c = (self.state == ConnState::Failed)
            .then(|| ("connector".to_string(), self.trace.as_deref().unwrap_or("")));
        c.into_iter().chain(
            self.tasks
                .iter()
                .filter(|t| t.state == ConnState::Failed)
                .map(|t| (format!("task {}", t.id), t.trace.as_deref().unwrap_or(""))),
        )
    }

    /// Ids of the FAILED items; `u32::MAX` stands for the connector itself.
    pub fn failed_ids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .tasks
            .iter()
            .filter(|t| t.state == ConnState::Failed)
            .map(|t| t.id)
            .collect();
        if self.state == ConnState::Failed {
            v.push(u32::MAX);
        }
        v
    }

    pub fn any_failed(&self) -> bool {
        self.state == ConnState::Failed || self.tasks.iter().any(|t| t.state == ConnState::Failed)
    }

    pub(crate) fn all_running(&self) -> bool {
        self.state == ConnState::Running
            && !self.tasks.is_empty()
            && self.tasks.iter().all(|t| t.state == ConnState::Running)
    }
}

/// The state a `KafkaConnector`'s `spec.state` asks Strimzi's operator for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Desired {
    Running,
    Paused,
    Stopped,
    /// A value the agent does not know: treated as a hold that is not the agent's.
    Other,
}

impl Desired {
    pub fn as_str(self) -> &'static str {
        match self {
            Desired::Running => "running",
            Desired::Paused => "paused",
            Desired::Stopped => "stopped",
            Desired::Other => "(unknown)",
        }
    }
}

impl From<HoldWith> for Desired {
    fn from(h: HoldWith) -> Desired {
        match h {
            HoldWith::Pause => Desired::Paused,
            HoldWith::Stop => Desired::Stopped,
        }
    }
}

/// What a connector's Strimzi `KafkaConnector` said in this poll's list (with
/// `--strimzi-cluster`). No resource: the connector is held through REST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceObs {
    /// `spec.state` (else the deprecated `spec.pause`, else running): the operator drives the
    /// connector to it at every reconciliation.
    pub desired: Desired,
    /// The agent's mark (`cdc-sentinel.io/held-state`): the hold state the agent set. `None`:
    /// no valid mark (never held by the agent, or a person removed it).
    pub mark: Option<HoldWith>,
    /// `strimzi.io/pause-reconciliation: "true"`: the operator ignores the resource, so
    /// `spec.state` has no effect and the connector is held through REST.
    pub reconciliation_paused: bool,
}

impl ResourceObs {
    /// The agent holds this connector through the resource: the operator applies its
    /// `spec.state` (and would undo a pause made through REST alone).
    pub fn manages(&self) -> bool {
        !self.reconciliation_paused
    }
}

/// The target's probe history, maintained by the probe runner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeObs {
    /// Failed probes in a row (0 after a success).
    pub consecutive_failures: u32,
    /// Successful probes in a row (0 after a failure).
    pub consecutive_successes: u32,
    /// When the current run of successes began.
    pub streak_started_at: Option<Millis>,
    /// Times of the latest successes of the current run (at most [`ProbeObs::KEEP`]).
    pub success_times: std::collections::VecDeque<Millis>,
    /// The reason of the latest probe (`None` before the first).
    pub last_reason: Option<Reason>,
    /// Human-readable detail of the latest probe ("connection refused").
    pub last_detail: String,
    /// Probes done so far.
    pub count: u64,
    /// The target answered at least once since the agent started.
    pub ever_up: bool,
    /// Failures in the current run of failures that say the database is gone (not a blind
    /// spot of the agent's, see [`blind`]).
    pub real_failures: u32,
}

/// Failure reasons that say "the agent cannot see the database" rather than "the database is
/// gone": a name the agent cannot resolve (split DNS), a peer that is not the database (a
/// proxy or a listener that accepts and closes).
pub fn blind(r: Reason) -> bool {
    matches!(r, Reason::Dns | Reason::ProtocolError)
}

impl ProbeObs {
    /// How many success times are kept (and so the largest useful `--up-after`).
    pub const KEEP: usize = 64;

    /// Folds one probe result in.
    pub fn record(&mut self, reason: Reason, detail: &str, now: Millis) {
        self.count += 1;
        self.last_reason = Some(reason);
        self.last_detail = detail.to_string();
        if reason.is_up() {
            if self.consecutive_successes == 0 {
                self.streak_started_at = Some(now);
            }
            self.consecutive_successes += 1;
            self.consecutive_failures = 0;
            if self.success_times.len() == Self::KEEP {
                self.success_times.pop_front();
            }
            self.success_times.push_back(now);
            self.ever_up = true;
            self.real_failures = 0;
        } else {
            if !blind(reason) {
                self.real_failures += 1;
            }
            self.consecutive_failures += 1;
            self.consecutive_successes = 0;
            self.streak_started_at = None;
            self.success_times.clear();
        }
    }

    /// The failures say the agent cannot see the target (a blind spot), not that the
    /// database is gone: the latest failure is a blind one, or the target never answered since
    /// the agent started. `None` while it answers.
    pub fn blind_spot(&self) -> Option<&'static str> {
        if self.consecutive_failures == 0 {
            return None;
        }
        match self.last_reason {
            Some(r) if blind(r) => Some(r.as_str()),
            _ if !self.ever_up => Some("never answered since the agent started"),
            _ => None,
        }
    }

    /// The latest probe's reason as a label value (`none` before the first probe).
    pub fn last_reason_str(&self) -> &'static str {
        self.last_reason.map_or("none", Reason::as_str)
    }

    /// Successes in a row observed at or after `t`.
    pub fn successes_since(&self, t: Millis) -> u32 {
        self.success_times.iter().filter(|s| **s >= t).count() as u32
    }
}

labels!(ConnState);
