//! Whose hold is it: the rules by which a state the agent did not ask for (on the connector, or
//! on its `KafkaConnector`) ends a recovery as a hand-back, and how the next hold is routed.

use crate::core::decision::Input;
use crate::core::observe::{ConnState, ConnectorObs, Desired, ResourceObs};
use crate::core::record::{HoldWith, Manager, Phase, Record, RecordReason};
use crate::core::settings::Settings;
use crate::core::Millis;

/// A connector the agent holds shows a state the agent did not ask for.
pub(super) fn human_took_over(
    rec: &Record,
    conn: &ConnectorObs,
    now: Millis,
    s: &Settings,
) -> bool {
    if s.dry_run {
        return false;
    }
    match rec.phase {
        // Before a hold is confirmed, a RUNNING connector is just the hold not yet in effect.
        // The *other* hold state (STOPPED while we pause, PAUSED while we stop) is a human's,
        // and so is our own hold state while none of our hold requests can have landed (all
        // of them were refused: a human paused it while the agent's pauses met 409s).
        Phase::Holding | Phase::TimedOut if !rec.hold_confirmed => {
            let other_hold = match rec.hold_with {
                HoldWith::Pause => ConnState::Stopped,
                HoldWith::Stop => ConnState::Paused,
            };
            conn.state == other_hold || (conn.state == rec.held_state() && !rec.hold_may_be_ours())
        }
        Phase::Waiting | Phase::TimedOut if rec.hold_confirmed => {
            let other_hold = match rec.hold_with {
                HoldWith::Pause => ConnState::Stopped,
                HoldWith::Stop => ConnState::Paused,
            };
            conn.state == ConnState::Running || conn.state == other_hold
        }
        // While the agent resumes (its resume refused or not yet sent), the other hold state is
        // a human's: a stop over the agent's pause is never resumed.
        // RUNNING while none of its resumes can have landed is a human's resume.
        Phase::Resuming => {
            let other_hold = match rec.hold_with {
                HoldWith::Pause => ConnState::Stopped,
                HoldWith::Stop => ConnState::Paused,
            };
            conn.state == other_hold
                || (conn.state == ConnState::Running && !rec.resume_done && !rec.resume_pending)
        }
        // After our resume took effect, a pause or stop is someone else's; so it is once the
        // accepted resume has had far longer than its asynchronous effect takes (the agent may
        // not have seen it take effect: a worker restarting meanwhile), never a reason to hold
        // again over a human's pause.
        // The other hold state (PAUSED when the agent holds with stop, and the reverse) was
        // never the agent's: a human's at once.
        Phase::Verifying => {
            let other_hold = match rec.hold_with {
                HoldWith::Pause => ConnState::Stopped,
                HoldWith::Stop => ConnState::Paused,
            };
            conn.state == other_hold
                || ((rec.resume_seen
                    || now.saturating_sub(rec.verify_started_at) >= s.confirm_timeout)
                    && matches!(conn.state, ConnState::Paused | ConnState::Stopped))
        }
        _ => false,
    }
}

/// How the next hold of this connector is made, decided when it is sent: through its
/// `KafkaConnector` while the operator reconciles it, else through REST. Through the resource a
/// connector whose connector object is FAILED is held with `stopped`: Kafka Connect cannot
/// pause a FAILED connector and Strimzi 1.1+ refuses to ask (a resume is `running` either way).
pub(super) fn route_hold(rec: &mut Record, input: &Input, conn: &ConnectorObs) {
    if input.resource.is_some_and(ResourceObs::manages) {
        rec.manager = Manager::Strimzi;
        if conn.state == ConnState::Failed {
            rec.hold_with = HoldWith::Stop;
        }
    } else {
        rec.manager = Manager::Rest;
    }
}

/// A connector the agent holds through its `KafkaConnector` shows, there, a decision of a
/// person's: `spec.state` changed from what the agent set (`running` is a hand-back, the
/// other hold state theirs), a hold without the agent's mark (the agent writes both in one
/// patch, so it is not the agent's), or the agent's mark removed where it must be. The
/// reason, for the hand-back line.
pub(super) fn resource_took_over(rec: &Record, res: Option<&ResourceObs>) -> Option<String> {
    if rec.manager != Manager::Strimzi {
        return None;
    }
    let r = res?;
    match r.mark {
        Some(m) if r.desired != Desired::from(m) => Some(format!(
            "its KafkaConnector's spec.state was set to {} over the agent's {}",
            r.desired.as_str(),
            Desired::from(m).as_str()
        )),
        Some(_) => None,
        None if r.desired != Desired::Running => Some(format!(
            "its KafkaConnector's spec.state is {} without the agent's mark: a person's hold",
            r.desired.as_str()
        )),
        None if mark_expected(rec) => Some(
            "the agent's cdc-sentinel.io/held-state annotation was removed from its KafkaConnector"
                .into(),
        ),
        None => None,
    }
}

/// The agent's mark must be on the resource: its hold was written (and no release of its own
/// can have landed).
fn mark_expected(rec: &Record) -> bool {
    match rec.phase {
        Phase::Holding | Phase::TimedOut if !rec.hold_confirmed => rec.hold_sent_at.is_some(),
        Phase::Waiting | Phase::TimedOut => true,
        Phase::Resuming => !rec.resume_done && !rec.resume_pending,
        Phase::NeedsAttention => rec.reason == RecordReason::ResumeFailed,
        Phase::Watching | Phase::Holding | Phase::Verifying => false,
    }
}

/// The agent's release (written ahead, its answer lost) shows on the resource: `running` and
/// no mark.
pub(super) fn release_landed(rec: &Record, res: Option<&ResourceObs>) -> bool {
    rec.manager == Manager::Strimzi
        && rec.resume_pending
        && res.is_some_and(|r| r.desired == Desired::Running && r.mark.is_none())
}
