//! What one decision takes in ([`Input`]) and gives out ([`Decision`]: the new record, the
//! actions to send, the events to report, when to wake up), and the closed sets it speaks in.

use cdc_sentinel_probe::Reason;

use super::classify::Attention;
use super::labels::labels;
use super::observe::{ConnState, ConnectorObs, ProbeObs, ResourceObs};
use super::offsets::{Judged, OffsetObs, Position};
use super::record::{HoldReason, Record};
use super::settings::Settings;
use super::Millis;

/// A connector action the supervisor sends to Kafka Connect (the `action` label of
/// `cdc_sentinel_actions_total`).
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
)]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    Pause,
    Stop,
    Resume,
    /// `POST /connectors/{n}/restart?includeTasks=true&onlyFailed=true`
    #[strum(serialize = "restart")]
    RestartFailed,
    /// `POST /connectors/{n}/restart?includeTasks=true&onlyFailed=false`: the connector and
    /// every task, once, for a resume whose committed offset does not move.
    RestartTasks,
}

/// The outcome of one action, as the supervisor saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionResult {
    /// Accepted (202/204).
    Ok,
    /// `--dry-run`: logged, not sent.
    DryRun,
    /// 404: Kafka Connect does not know the connector (deleted, or a worker still starting).
    NotFound,
    /// Refused, known not to have taken effect (409 rebalance, 400, 401, 403): retried.
    Rejected(String),
    /// No answer, or one that does not say whether it took effect (a timeout, a 5xx, the
    /// connection cut): retried, and a hold sent this way may still land.
    Unknown(String),
    /// Not written because the `KafkaConnector`, read right before the write, showed a
    /// person's decision (their hold, `spec.state` changed, the agent's mark removed): the
    /// current truth. Never retried: the recovery ends as handed back.
    Declined(String),
}

/// How an action ended, as counted (the `result` label of `cdc_sentinel_actions_total`).
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
)]
#[strum(serialize_all = "snake_case")]
pub enum ActionStatus {
    Ok,
    Error,
    DryRun,
}

impl ActionResult {
    pub fn status(&self) -> ActionStatus {
        match self {
            ActionResult::Ok => ActionStatus::Ok,
            ActionResult::DryRun => ActionStatus::DryRun,
            ActionResult::NotFound
            | ActionResult::Rejected(_)
            | ActionResult::Unknown(_)
            | ActionResult::Declined(_) => ActionStatus::Error,
        }
    }
}

/// Why a recovery ended (the `outcome` label of `cdc_sentinel_recovery_duration_seconds`).
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
)]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    Recovered,
    TimedOutRecovered,
    HandedBack,
    Deleted,
    NeedsAttention,
    DryRun,
}

/// Something worth one log line (and the matching metric); see `events.rs`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    FailureDetected {
        state: ConnState,
        failed: Vec<String>,
        summary: String,
    },
    ProbeDown {
        failures: u32,
        reason: Option<Reason>,
        detail: String,
    },
    AttentionNeeded {
        reason: Attention,
        failed: Vec<String>,
        summary: String,
    },
    AttentionCleared,
    HoldStarted {
        reason: HoldReason,
        /// The committed source position as last read, if any.
        position: Option<Position>,
    },
    HoldConfirmed {
        state: ConnState,
    },
    HoldResent {
        after: Millis,
    },
    DatabaseBack {
        successes: u32,
        elapsed: Millis,
    },
    ResumeStarted {
        attempt: u32,
        restart_failed: bool,
    },
    VerifyStarted,
    Recovered {
        outcome: Outcome,
        elapsed: Millis,
        attempts: u32,
        /// Which rule judged a recovered connector (progress of its offset, or its state).
        judged: Option<Judged>,
    },
    /// Resumed and RUNNING, but its committed offset has not moved past the hold's for
    /// `stall_after`: its tasks are restarted once.
    StallRestarted {
        held: Position,
        now: Option<Position>,
        after: Millis,
    },
    /// A connector that needed attention because it stalled moved past the hold's position:
    /// watched again.
    StallOver {
        held: Position,
        now: Position,
    },
    /// Still not past the hold's position `stall_after` after that restart: the recovery
    /// ends (outcome `needs_attention`) and the connector needs a human.
    RecoveryStalled {
        held: Position,
        now: Option<Position>,
        after: Millis,
        /// Since the recovery started.
        elapsed: Millis,
    },
    /// A task failed right after the resume while the database answers: restarted once more.
    LateFailureRestarted {
        failed: Vec<String>,
    },
    VerifyFailed {
        attempt: u32,
        why: String,
        retry_in: Millis,
    },
    TimedOut {
        elapsed: Millis,
        last_reason: Option<Reason>,
        last_detail: String,
        /// `Some` when no hold ever took effect: how many hold requests failed, the last
        /// error, and the state the connector reads (it is not held).
        unheld: Option<Unheld>,
        /// The committed source position of the hold.
        position: Option<Position>,
    },
    /// The maximum wait ran out before any hold took effect; now the database is back and the
    /// connector and its tasks run: nothing to resume, the recovery ends.
    EndedUnheld {
        elapsed: Millis,
    },
    /// A hold sent before the agent gave up took effect afterwards: it is resumed once the
    /// database is back (the on-call was told the connector was not held).
    LateHoldLanded {
        state: ConnState,
    },
    /// The resume kept failing past its bound: the connector stays held and needs a human.
    ResumeGaveUp {
        after: Millis,
        error: String,
    },
    HandedBack {
        state: ConnState,
        elapsed: Millis,
        /// What showed it beyond the connector's state (its `KafkaConnector`, a declined write).
        why: Option<String>,
    },
    Deleted {
        elapsed: Millis,
    },
    ActionFailed {
        action: Action,
        error: String,
        retry_in: Millis,
    },
    ActionOk {
        action: Action,
        dry_run: bool,
    },
    /// A write through the `KafkaConnector` found a person's decision first: not retried.
    ActionDeclined {
        action: Action,
        why: String,
    },
}

/// A hold that never took effect, for the timeout line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unheld {
    pub failures: u32,
    pub last_error: Option<String>,
    pub state: ConnState,
}

/// The inputs of one decision.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub now: Millis,
    /// `None`: missing from this poll's snapshot.
    pub conn: Option<&'a ConnectorObs>,
    /// Missing, and the supervisor confirmed it deleted (a healthy worker answers 404 for its
    /// status). A listing alone never is: a restarting worker lists nothing for a while.
    pub gone: bool,
    /// The target label, if one is known for this connector.
    pub target: Option<&'a str>,
    pub probe: Option<&'a ProbeObs>,
    pub settings: &'a Settings,
    /// A human took this connector back from the agent at this time; no new hold until its
    /// database has been seen up again.
    pub handed_back_at: Option<Millis>,
    /// `Some` while a maintenance window applies to this connector.
    pub maintenance: Option<Maintenance>,
    /// Its Strimzi `KafkaConnector` in this poll (with `--strimzi-cluster`); `None`: it has
    /// none, and is held through REST.
    pub resource: Option<&'a ResourceObs>,
    /// Its committed source offsets as last read (`None`: not read: Kafka < 3.5, not a
    /// connector whose offsets the agent knows, or no read yet).
    pub offsets: Option<OffsetObs>,
}

/// A planned maintenance window under way for a connector (see `windows.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Maintenance {
    /// When it ends: nothing is resumed before, and the maximum wait counts from here.
    pub ends_at: Millis,
}

/// The result of one decision.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// The new record (`None`: watching). Persist it before sending `actions`.
    pub record: Option<Record>,
    pub actions: Vec<Action>,
    pub events: Vec<Event>,
    /// Wake the supervisor no later than this (action retries).
    pub wake_at: Option<Millis>,
    /// `Some(Some(t))`: remember a hand-back at `t`; `Some(None)`: forget it.
    pub handed_back: Option<Option<Millis>>,
}

labels!(Action, ActionStatus, Outcome);
