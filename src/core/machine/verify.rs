//! The resume and its verification: what is sent when the database is back, and when the
//! recovery counts as recovered (RUNNING for the verify window, and progress where expected).

use crate::core::backoff::backoff;
use crate::core::classify::{self, Failure};
use crate::core::decision::{Action, Decision, Event, Input, Outcome};
use crate::core::observe::{ConnState, ConnectorObs, ProbeObs};
use crate::core::progress::{self, Verdict};
use crate::core::record::{Phase, Record};
use crate::core::Millis;

use super::*;

pub(super) fn start_resume(rec: &mut Record, conn: &ConnectorObs, now: Millis, d: &mut Decision) {
    rec.phase = Phase::Resuming;
    rec.attempts += 1;
    rec.resume_done = false;
    rec.resume_seen = false;
    rec.restart_pending = conn.any_failed();
    rec.failed_at_resume = conn.failed_ids();
    rec.verify_restarts = 0;
    clear_failures(rec);
    d.events.push(Event::ResumeStarted {
        attempt: rec.attempts,
        restart_failed: rec.restart_pending,
    });
    // Resume, then restart the FAILED tasks (resume alone leaves them dead). The supervisor
    // sends them in this order and stops at the first one that fails.
    rec.resume_pending = true;
    d.actions.push(Action::Resume);
    if rec.restart_pending {
        d.actions.push(Action::RestartFailed);
    }
    rec.verify_started_at = now;
}

/// Returns `Some(replacement)` when the recovery ends here (recovered, or needs attention).
#[allow(clippy::too_many_arguments)]
pub(super) fn verify(
    name: &str,
    rec: &mut Record,
    input: &Input,
    conn: &ConnectorObs,
    probe: &ProbeObs,
    offsets: Option<crate::core::offsets::OffsetObs>,
    d: &mut Decision,
) -> Option<Option<Record>> {
    let (now, s) = (input.now, input.settings);
    // A FAILED item is a new failure once the restart was seen taking effect, or if it was not
    // FAILED when the resume was decided (a task paused during the outage reports its lost
    // connection on its first poll after the resume).
    // Only judged on a connector seen RUNNING since the resume: while it still reads PAUSED
    // the resume has not taken effect yet (or a human paused it meanwhile), and restarting or
    // re-holding it then could act on a human's pause.
    let new_failure = conn.any_failed()
        && (conn.state == ConnState::Running || rec.resume_seen)
        && (rec.resume_seen
            || conn
                .failed_ids()
                .iter()
                .any(|id| !rec.failed_at_resume.contains(id)));
    let db_answers = probe.consecutive_failures == 0 && probe.consecutive_successes > 0;
    if new_failure
        && db_answers
        && rec.verify_restarts == 0
        && conn
            .failed_traces()
            .all(|(_, t)| classify::classify(t) == Failure::Unavailable)
    {
        // The database answers: restart the late failure instead of holding all over again.
        let failed: Vec<String> = conn.failed_traces().map(|(w, _)| w).collect();
        d.events.push(Event::LateFailureRestarted { failed });
        rec.verify_restarts += 1;
        rec.failed_at_resume = conn.failed_ids();
        rec.resume_seen = false;
        rec.running_since = None;
        rec.restart_pending = true;
        rec.verify_started_at = now;
        d.actions.push(Action::RestartFailed);
        return None;
    }
    let failure = if new_failure {
        let what: Vec<String> = conn.failed_traces().map(|(w, _)| w).collect();
        Some(format!("{} FAILED again", what.join(", ")))
    } else if probe.consecutive_failures >= s.down_after {
        Some(format!("database down again ({})", probe.last_detail))
    } else {
        None
    };
    if failure.is_none() && conn.all_running() {
        let since = *rec.running_since.get_or_insert(now);
        if now.saturating_sub(since) >= s.verify_window {
            // RUNNING is not enough for a connector expected to progress (core::progress).
            let judged = match progress::judge(rec, offsets, now, s, d) {
                Verdict::Recovered(j) => j,
                Verdict::Wait => return None,
                Verdict::Stalled(r) => return Some(Some(r)),
            };
            let outcome = if rec.timed_out {
                Outcome::TimedOutRecovered
            } else {
                Outcome::Recovered
            };
            d.events.push(Event::Recovered {
                outcome,
                elapsed: now.saturating_sub(rec.started_at),
                attempts: rec.attempts,
                judged: Some(judged),
            });
            return Some(None);
        }
        return None;
    }
    rec.running_since = None;
    let why = match failure {
        Some(w) => w,
        None if now.saturating_sub(rec.verify_started_at) >= s.verify_timeout => {
            format!(
                "not all RUNNING within {}s (connector {})",
                s.verify_timeout / 1000,
                conn.state.as_str()
            )
        }
        None => return None,
    };
    // A task whose new failure waiting cannot fix is not held again: it needs a human.
    if let Some((reason, failed, summary)) = attention_of(conn) {
        d.events.push(Event::Recovered {
            outcome: Outcome::NeedsAttention,
            elapsed: now.saturating_sub(rec.started_at),
            attempts: rec.attempts,
            judged: None,
        });
        d.events.push(Event::AttentionNeeded {
            reason,
            failed,
            summary,
        });
        return Some(Some(Record::new(
            Phase::NeedsAttention,
            reason,
            rec.target.as_deref(),
            now,
            s,
        )));
    }
    let retry_in = backoff(
        name,
        rec.attempts.saturating_sub(1),
        s.reattempt_base,
        s.reattempt_cap,
    );
    d.events.push(Event::VerifyFailed {
        attempt: rec.attempts,
        why,
        retry_in,
    });
    rec.phase = Phase::Holding;
    rec.held_at = now;
    rec.hold_sent_at = None;
    rec.hold_confirmed = false;
    rec.not_before = now + retry_in;
    clear_failures(rec);
    route_hold(rec, input, conn);
    d.actions.push(rec.request_hold(now));
    None
}

pub(super) fn enter_verify(rec: &mut Record, now: Millis, dry: bool, ev: &mut Vec<Event>) {
    // (`dry`: nothing was sent, so no verification is announced.)
    rec.phase = Phase::Verifying;
    rec.verify_started_at = now;
    rec.running_since = None;
    if !dry {
        ev.push(Event::VerifyStarted);
    }
}
