//! A resume judged by progress. For a connector expected to progress (its committed offset
//! moves by itself: heartbeats, or the config file says so), RUNNING is not enough: Debezium
//! reads RUNNING inside its retry loop, after a restart into a database that is not open, or
//! with LogMiner stuck. Such a resume ends recovered only once the committed offset has moved
//! past the position of the hold (never backwards). If it has not within `stall_after` of the
//! resume, its tasks are restarted once; if it still has not `stall_after` later, the
//! connector needs a human (reason `stalled`, both positions in the line).
//!
//! Connectors not expected to progress keep the RUNNING-based verification; the recovered
//! line says which rule judged them ([`Judged`]).

use super::decision::{Action, Decision, Event};
use super::offsets::{ByState, Judged, Moved, OffsetObs};
use super::record::{Phase, Record, RecordReason};
use super::settings::Settings;
use super::Millis;

/// What the progress rule says of a resume that has read RUNNING for the verify window.
pub(crate) enum Verdict {
    Recovered(Judged),
    /// Not yet: waiting for the offset to move (or a restart was just decided).
    Wait,
    /// Needs a human: the replacement record.
    Stalled(Record),
}

/// Judges a verified-RUNNING resume by its committed offset.
pub(crate) fn judge(
    rec: &mut Record,
    offsets: Option<OffsetObs>,
    now: Millis,
    s: &Settings,
    d: &mut Decision,
) -> Verdict {
    let by_state = |why| Verdict::Recovered(Judged::State(why));
    let Some(o) = offsets else {
        return by_state(ByState::NoOffsets);
    };
    if !o.expect.progress() {
        return by_state(ByState::NotExpected(o.expect));
    }
    let Some(held) = rec.held_position else {
        return by_state(ByState::NoHeldPosition);
    };
    if o.snapshot {
        return by_state(ByState::Snapshot);
    }
    // Only a read made after the resume (or the restart) was accepted says anything.
    let fresh = o.read_at > rec.verify_started_at;
    if let (true, Some(p)) = (fresh, o.position) {
        if matches!(p.relative_to(&held), Moved::Ahead | Moved::Elsewhere) {
            return Verdict::Recovered(Judged::Progress { held, now: p });
        }
    }
    let waited = now.saturating_sub(rec.verify_started_at);
    if waited < s.stall_after {
        return Verdict::Wait;
    }
    if !fresh {
        return by_state(ByState::NotRead);
    }
    match rec.stall_restart_at {
        None => {
            d.events.push(Event::StallRestarted {
                held,
                now: o.position,
                after: waited,
            });
            d.actions.push(Action::RestartTasks);
            rec.stall_restart_at = Some(now);
            // A fresh verification: RUNNING again for the window, and `stall_after` to move.
            rec.verify_started_at = now;
            rec.running_since = None;
            Verdict::Wait
        }
        Some(_) => {
            d.events.push(Event::RecoveryStalled {
                held,
                now: o.position,
                after: waited,
                elapsed: now.saturating_sub(rec.started_at),
            });
            let mut r = Record::new(
                Phase::NeedsAttention,
                RecordReason::Stalled,
                rec.target.as_deref(),
                now,
                s,
            );
            r.held_position = Some(held);
            Verdict::Stalled(r)
        }
    }
}

/// A connector that needs attention because it stalled is over it once its committed offset
/// has moved past the position of the hold: the event that says so.
pub(crate) fn stall_over(rec: &Record, offsets: Option<OffsetObs>) -> Option<Event> {
    match (rec.held_position, offsets.and_then(|o| o.position)) {
        (Some(held), Some(now))
            if matches!(now.relative_to(&held), Moved::Ahead | Moved::Elsewhere) =>
        {
            Some(Event::StallOver { held, now })
        }
        _ => None,
    }
}

/// While held (before the resume), the latest committed position read is the hold's.
pub(crate) fn track_hold(rec: &mut Record, offsets: Option<OffsetObs>) {
    if matches!(rec.phase, Phase::Holding | Phase::Waiting | Phase::TimedOut) {
        if let Some(p) = offsets.and_then(|o| o.position) {
            rec.held_position = Some(p);
        }
    }
}

#[cfg(test)]
#[path = "progress_tests.rs"]
mod tests;
