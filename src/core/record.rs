//! The durable record of a connector the agent holds (or that needs a human), and the closed
//! sets it is made of: phases, how it is held, why.

use serde::{Deserialize, Serialize};

use super::classify::Attention;
use super::decision::Action;
use super::labels::labels;
use super::observe::ConnState;
use super::offsets::Position;
use super::settings::Settings;
use super::Millis;

/// Where a connector is in its recovery. `Watching` has no record.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumCount,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Phase {
    Watching,
    Holding,
    Waiting,
    Resuming,
    Verifying,
    TimedOut,
    NeedsAttention,
}

impl Phase {
    /// A recovery is under way: the agent holds (or is about to hold, or is resuming) it.
    pub fn in_recovery(self) -> bool {
        match self {
            Phase::Holding
            | Phase::Waiting
            | Phase::Resuming
            | Phase::Verifying
            | Phase::TimedOut => true,
            Phase::Watching | Phase::NeedsAttention => false,
        }
    }
}

/// How the agent holds a connector.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumCount,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum HoldWith {
    /// `PUT /connectors/{n}/pause`: tasks keep their database sessions, offsets keep committing.
    Pause,
    /// `PUT /connectors/{n}/stop` (Kafka >= 3.5): tasks are shut down and release the database.
    Stop,
}

/// What happens once the maximum wait has passed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumCount,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AfterTimeout {
    /// Keep the connector held until a human resumes it (the runbook's behaviour).
    Hold,
    /// Resume it once the database is back, as if the wait had not timed out.
    Resume,
}

/// Why a recovery started (the `reason` label of `cdc_sentinel_recoveries_started_total`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumCount,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum HoldReason {
    /// A task or the connector is FAILED with a trace that says the database is unavailable.
    TaskFailed,
    /// The probe failed `down_after` times in a row while the connector read RUNNING.
    ProbeFailed,
    /// A planned maintenance window.
    Maintenance,
}

/// Why a connector has a record: the reason of its hold, or why it needs a human (the
/// `reason` label of `cdc_sentinel_recovery_info`; serialized as that label value).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumCount,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RecordReason {
    TaskFailed,
    ProbeFailed,
    Maintenance,
    OffsetUnavailable,
    HistoryTopicMissing,
    SnapshotNotAllowed,
    AuthenticationFailed,
    UnclassifiedFailure,
    /// The agent's resume kept failing past its bound: the connector is still held.
    ResumeFailed,
    /// Expected to progress, it read RUNNING after the resume (and after one restart of its
    /// tasks) but its committed offset did not move past the position of the hold.
    Stalled,
}

/// How the agent holds and resumes a connector (the `manager` label).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    strum::EnumCount,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Manager {
    /// The Kafka Connect REST API (pause/stop/resume).
    #[default]
    Rest,
    /// Strimzi's operator, through the connector's KafkaConnector `spec.state`.
    Strimzi,
}

impl From<HoldReason> for RecordReason {
    fn from(r: HoldReason) -> RecordReason {
        match r {
            HoldReason::TaskFailed => RecordReason::TaskFailed,
            HoldReason::ProbeFailed => RecordReason::ProbeFailed,
            HoldReason::Maintenance => RecordReason::Maintenance,
        }
    }
}

impl From<Attention> for RecordReason {
    fn from(a: Attention) -> RecordReason {
        match a {
            Attention::OffsetUnavailable => RecordReason::OffsetUnavailable,
            Attention::HistoryTopicMissing => RecordReason::HistoryTopicMissing,
            Attention::SnapshotNotAllowed => RecordReason::SnapshotNotAllowed,
            Attention::AuthenticationFailed => RecordReason::AuthenticationFailed,
            Attention::UnclassifiedFailure => RecordReason::UnclassifiedFailure,
        }
    }
}

/// The durable record of a connector the agent is recovering (or that needs attention).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub phase: Phase,
    /// Why it is held, or why it needs attention.
    pub reason: RecordReason,
    /// The target label being waited on.
    pub target: Option<String>,
    pub started_at: Millis,
    /// The last time a hold was decided (probe successes must come after it).
    pub held_at: Millis,
    /// How this connector was held; resumed the same way even if the flag changed meanwhile.
    pub hold_with: HoldWith,
    /// The hold request was accepted by Kafka Connect.
    #[serde(default)]
    pub hold_sent_at: Option<Millis>,
    /// A hold request was written ahead and may have reached Kafka Connect: it is being sent,
    /// or its outcome is unknown (a timeout, a 5xx, a crash after the write). A PAUSED or
    /// STOPPED connector is the agent's hold only while this is set or after a request was
    /// accepted; a known rejection (409, 4xx) clears it. Records written before this field
    /// existed were written ahead of their request, so it defaults to set.
    #[serde(default = "yes")]
    pub hold_pending: bool,
    /// When the latest hold request was written ahead (0: before this field existed).
    #[serde(default)]
    pub hold_requested_at: Millis,
    /// Like `hold_pending`, for the resume: written ahead, it may have landed (sent, or its
    /// outcome unknown); a known rejection clears it. A RUNNING connector while the agent's
    /// resume can not have landed is a human's resume.
    #[serde(default = "yes")]
    pub resume_pending: bool,
    /// Failed hold requests in this recovery (for the "could not hold it" line).
    #[serde(default)]
    pub hold_failures: u32,
    /// The error of the latest failed action.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the pending action started failing (fast retries for the first 30 s, then backoff).
    #[serde(default)]
    pub failing_since: Option<Millis>,
    /// Failures of the pending action after its fast-retry window (the backoff's exponent).
    #[serde(default)]
    pub slow_failures: u32,
    /// The maximum wait ran out before any hold took effect: no hold is sent any more.
    #[serde(default)]
    pub gave_up_unheld: bool,
    #[serde(default)]
    pub hold_confirmed: bool,
    /// Resume attempts made in this recovery.
    #[serde(default)]
    pub attempts: u32,
    /// No resume before this time (backoff after a failed verification).
    #[serde(default)]
    pub not_before: Millis,
    #[serde(default)]
    pub resume_done: bool,
    #[serde(default)]
    pub restart_pending: bool,
    #[serde(default)]
    pub verify_started_at: Millis,
    #[serde(default)]
    pub running_since: Option<Millis>,
    /// The resume and restart were seen taking effect (connector RUNNING, nothing FAILED) in
    /// this attempt. Until then a PAUSED/STOPPED connector or a FAILED task is just Kafka
    /// Connect's asynchronous effect, not a human nor a new failure.
    #[serde(default)]
    pub resume_seen: bool,
    /// FAILED items (task ids; `u32::MAX` for the connector) when the resume was decided: only
    /// those can still be listed FAILED from before the restart took effect.
    #[serde(default)]
    pub failed_at_resume: Vec<u32>,
    /// Restarts sent during this verification for tasks that failed only after the resume.
    #[serde(default)]
    pub verify_restarts: u32,
    /// The maximum wait was exceeded at least once in this recovery.
    #[serde(default)]
    pub timed_out: bool,
    /// Failed attempts of the pending action (for its backoff) and when to retry it.
    #[serde(default)]
    pub action_failures: u32,
    #[serde(default)]
    pub retry_at: Millis,
    /// Polls in a row in which the connector was missing.
    #[serde(default)]
    pub missing_polls: u32,
    /// The maximum wait counts from the later of this and `started_at`: the end of the
    /// maintenance window that applied to the connector while it was held (0: none).
    #[serde(default)]
    pub wait_from: Millis,
    /// How the latest hold was made: through REST, or through the connector's Strimzi
    /// `KafkaConnector` (`spec.state`, with the agent's mark). The resume goes the same way.
    #[serde(default)]
    pub manager: Manager,
    /// A hold or resume written through the `KafkaConnector` was declined (why: `last_error`):
    /// the API server's current object showed a person's decision (their hold, their
    /// `spec.state`, our mark removed). The next decision ends the recovery as handed back; it
    /// is never retried.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub declined: bool,
    /// The committed source position of the hold: the latest read while held (before the
    /// resume). A resume judged by progress ends recovered only once the position is past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_position: Option<Position>,
    /// When the one restart of its tasks for a resume whose offset did not move was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_restart_at: Option<Millis>,
}

impl Record {
    pub(crate) fn new(
        phase: Phase,
        reason: impl Into<RecordReason>,
        target: Option<&str>,
        now: Millis,
        s: &Settings,
    ) -> Record {
        Record {
            phase,
            reason: reason.into(),
            target: target.map(str::to_string),
            started_at: now,
            held_at: now,
            hold_with: s.hold_with,
            hold_sent_at: None,
            hold_pending: false,
            hold_requested_at: 0,
            resume_pending: false,
            hold_failures: 0,
            last_error: None,
            failing_since: None,
            slow_failures: 0,
            gave_up_unheld: false,
            hold_confirmed: false,
            attempts: 0,
            not_before: 0,
            resume_done: false,
            restart_pending: false,
            verify_started_at: 0,
            running_since: None,
            resume_seen: false,
            failed_at_resume: Vec::new(),
            verify_restarts: 0,
            timed_out: false,
            action_failures: 0,
            retry_at: 0,
            missing_polls: 0,
            wait_from: 0,
            manager: Manager::Rest,
            declined: false,
            held_position: None,
            stall_restart_at: None,
        }
    }

    pub(crate) fn hold_action(&self) -> Action {
        match self.hold_with {
            HoldWith::Pause => Action::Pause,
            HoldWith::Stop => Action::Stop,
        }
    }

    /// A hold of the agent's is in effect: the connector is paused or stopped because the
    /// agent asked (the meaning of `cdc_sentinel_managed`).
    pub fn hold_in_effect(&self) -> bool {
        match self.phase {
            Phase::Holding | Phase::Waiting | Phase::TimedOut => self.hold_confirmed,
            Phase::Resuming => self.hold_confirmed && !self.resume_done,
            Phase::NeedsAttention => self.reason == RecordReason::ResumeFailed,
            Phase::Watching | Phase::Verifying => false,
        }
    }

    /// Writes a hold request ahead (it may land from now on) and returns its action.
    pub(crate) fn request_hold(&mut self, now: Millis) -> super::decision::Action {
        self.hold_pending = true;
        self.hold_requested_at = now;
        self.hold_action()
    }

    /// A PAUSED/STOPPED connector can be the agent's own hold.
    pub(crate) fn hold_may_be_ours(&self) -> bool {
        self.hold_sent_at.is_some() || self.hold_pending
    }

    pub(crate) fn held_state(&self) -> ConnState {
        match self.hold_with {
            HoldWith::Pause => ConnState::Paused,
            HoldWith::Stop => ConnState::Stopped,
        }
    }
}

labels!(
    Phase,
    HoldWith,
    AfterTimeout,
    HoldReason,
    RecordReason,
    Manager
);

fn yes() -> bool {
    true
}
