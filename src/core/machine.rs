//! The pure decision core: per connector, `step(name, record, input) -> Decision`.
//!
//! No I/O, no sleeping, no clock: time is the `now` argument (Unix milliseconds), so a 30-minute
//! outage runs in microseconds in a test. The supervisor executes the actions a decision asks
//! for and reports each result back through [`apply_result`]. The only durable state is the
//! [`Record`]; `None` means the connector is simply being watched.
//!
//! Invariants (see ARCHITECTURE.md): the agent only resumes what it held itself; a connector a
//! human paused or stopped is never touched; a hold is written (by the supervisor, before the
//! action is sent) before it is requested; the database must be seen up `up_after` times in a
//! row *after* the hold before anything is resumed.
//!
//! With `--strimzi-cluster`, a connector whose `KafkaConnector` the operator reconciles is held
//! through that resource (`spec.state` and the agent's mark, [`Manager::Strimzi`]); what the
//! resource says is part of the input, and a person's word there (their `spec.state`, the
//! agent's mark removed) ends a recovery as a hand-back, as a REST resume does.

use super::backoff::backoff;
use super::classify::{self, Attention, Failure};
use super::decision::{Action, ActionResult, Decision, Event, Input, Outcome, Unheld};
use super::observe::{ConnState, ConnectorObs, Desired, ProbeObs, ResourceObs};
use super::offsets::Position;
use super::progress::{self, Verdict};
use super::record::{AfterTimeout, HoldReason, HoldWith, Manager, Phase, Record, RecordReason};
use super::settings::Settings;
use super::Millis;

/// One decision for one connector.
pub fn step(name: &str, prev: Option<&Record>, input: &Input) -> Decision {
    let mut d = Decision::default();
    let now = input.now;
    let s = input.settings;

    let Some(mut rec) = prev.cloned() else {
        watching(input, &mut d);
        return d;
    };

    // Missing from the snapshot. A worker that restarts lists nothing for a while, so a
    // listing alone never ends a record: only a deletion the supervisor confirmed (a healthy
    // worker answering 404 for the connector's status), several polls in a row. Meanwhile
    // nothing is sent, and the maximum wait keeps running.
    let Some(conn) = input.conn else {
        if input.gone {
            rec.missing_polls += 1;
        } else {
            rec.missing_polls = 0;
        }
        if rec.missing_polls >= s.deleted_after {
            if rec.phase.in_recovery() {
                d.events.push(Event::Deleted {
                    elapsed: now.saturating_sub(rec.started_at),
                });
            }
            d.record = None;
            return d;
        }
        if matches!(rec.phase, Phase::Holding | Phase::Waiting) {
            let probe = input.probe.cloned().unwrap_or_default();
            time_out(&mut rec, None, &probe, now, s, &mut d);
        }
        d.record = Some(rec);
        return d;
    };
    rec.missing_polls = 0;
    progress::track_hold(&mut rec, input.offsets);

    // A write through the KafkaConnector found a person's decision: the current truth.
    if rec.declined {
        d.events.push(Event::HandedBack {
            state: conn.state,
            elapsed: now.saturating_sub(rec.started_at),
            why: rec.last_error.take(),
        });
        d.handed_back = Some(Some(now));
        d.record = None;
        return d;
    }

    match rec.phase {
        Phase::Watching => {
            watching(input, &mut d);
            return d;
        }
        Phase::NeedsAttention if rec.reason == RecordReason::ResumeFailed => {
            // Still the agent's hold until someone resumes it (or deletes it).
            let why = resource_took_over(&rec, input.resource);
            if conn.state == ConnState::Running || why.is_some() {
                d.events.push(Event::HandedBack {
                    state: conn.state,
                    elapsed: now.saturating_sub(rec.started_at),
                    why,
                });
                d.handed_back = Some(Some(now));
                d.record = None;
            } else {
                d.record = Some(rec);
            }
            return d;
        }
        Phase::NeedsAttention if rec.reason == RecordReason::Stalled && !conn.any_failed() => {
            // Stalled after a resume: until its committed offset moves past the hold's; then
            // watched again (a FAILED task goes the way of any other needs-attention record).
            match progress::stall_over(&rec, input.offsets) {
                Some(ev) => {
                    d.events.push(ev);
                    watching(input, &mut d);
                }
                None => d.record = Some(rec),
            }
            return d;
        }
        Phase::NeedsAttention => {
            match attention_of(conn) {
                Some((reason, _, _)) => {
                    rec.reason = reason.into();
                    d.record = Some(rec);
                }
                None => {
                    d.events.push(Event::AttentionCleared);
                    // Re-evaluate at once as a watched connector (it may be failing anew).
                    let mut w = Decision::default();
                    watching(input, &mut w);
                    d.record = w.record;
                    d.actions = w.actions;
                    d.events.extend(w.events);
                }
            }
            return d;
        }
        _ => {}
    }

    // From here on the agent holds (or is recovering) this connector.
    if rec.phase == Phase::Verifying && conn.state == ConnState::Running && !conn.any_failed() {
        rec.resume_seen = true;
    }
    // A hold whose outcome was unknown, long enough ago that it can no longer land, and the
    // connector RUNNING: it never took effect. A PAUSED connector from now on is someone
    // else's (until the agent sends another hold).
    if rec.hold_pending
        && !rec.hold_confirmed
        && rec.hold_sent_at.is_none()
        && conn.state == ConnState::Running
        && now.saturating_sub(rec.hold_requested_at) >= s.late_landing
    {
        rec.hold_pending = false;
    }
    let why = (!s.dry_run)
        .then(|| resource_took_over(&rec, input.resource))
        .flatten();
    if why.is_some() || human_took_over(&rec, conn, now, s) {
        d.events.push(Event::HandedBack {
            state: conn.state,
            elapsed: now.saturating_sub(rec.started_at),
            why,
        });
        d.handed_back = Some(Some(now));
        d.record = None;
        return d;
    }

    let probe = input.probe.cloned().unwrap_or_default();
    // Only probes made after the (latest) hold count: successes from before it say nothing.
    let db_back = probe.successes_since(rec.held_at) >= s.up_after;

    // While a window applies, nothing is resumed (whatever started the hold), and the maximum
    // wait counts from no earlier than the window's end.
    if let Some(m) = input.maintenance {
        if !rec.timed_out {
            rec.wait_from = rec.wait_from.max(m.ends_at);
        }
        d.wake_at = Some(m.ends_at);
    }

    // The maximum wait counts from the start of the recovery, or from the end of its window:
    // once it has run out, no hold is sent any more (a hold that never took effect is given up).
    let elapsed = now.saturating_sub(rec.started_at);
    if matches!(rec.phase, Phase::Holding | Phase::Waiting) {
        time_out(&mut rec, Some(conn), &probe, now, s, &mut d);
    }

    match rec.phase {
        Phase::Holding | Phase::TimedOut if !rec.hold_confirmed => {
            let held = conn.state == rec.held_state()
                || (rec.hold_with == HoldWith::Pause
                    && conn.state == ConnState::Failed
                    && rec.hold_sent_at.is_some());
            if held && rec.hold_may_be_ours() {
                rec.hold_confirmed = true;
                clear_failures(&mut rec);
                if rec.gave_up_unheld {
                    d.events.push(Event::LateHoldLanded { state: conn.state });
                } else {
                    d.events.push(Event::HoldConfirmed { state: conn.state });
                }
                if rec.phase == Phase::Holding {
                    rec.phase = Phase::Waiting;
                }
            } else if rec.gave_up_unheld {
                // Given up: nothing more is sent. Once the database is back and the connector
                // runs (it was never held), the recovery is over.
                if db_back && conn.all_running() {
                    d.events.push(Event::EndedUnheld { elapsed });
                    d.record = None;
                    return d;
                }
            } else if now >= rec.retry_at {
                match rec.hold_sent_at {
                    None => {
                        route_hold(&mut rec, input, conn);
                        d.actions.push(rec.request_hold(now));
                    }
                    Some(sent) if now.saturating_sub(sent) >= s.confirm_timeout => {
                        d.events.push(Event::HoldResent { after: now - sent });
                        route_hold(&mut rec, input, conn);
                        rec.hold_sent_at = None;
                        d.actions.push(rec.request_hold(now));
                    }
                    Some(_) => {}
                }
            } else {
                d.wake_at = Some(rec.retry_at);
            }
        }
        _ => {}
    }

    match rec.phase {
        Phase::Waiting | Phase::TimedOut
            if db_back
                && now >= rec.not_before
                && rec.hold_confirmed
                && input.maintenance.is_none()
                && (rec.phase == Phase::Waiting
                    || s.after_timeout == AfterTimeout::Resume
                    || rec.gave_up_unheld) =>
        {
            d.events.push(Event::DatabaseBack {
                successes: probe.consecutive_successes,
                elapsed,
            });
            start_resume(&mut rec, conn, now, &mut d);
        }
        Phase::Resuming
            if rec
                .failing_since
                .is_some_and(|t| now.saturating_sub(t) >= s.resume_give_up) =>
        {
            // Resumes keep failing (a 404 for a connector still listed, 409s that never end):
            // no more blind retries; the connector stays held and a human is told why.
            let after = now.saturating_sub(rec.failing_since.unwrap_or(now));
            let error = rec.last_error.clone().unwrap_or_default();
            d.events.push(Event::Recovered {
                outcome: Outcome::NeedsAttention,
                elapsed,
                attempts: rec.attempts,
                judged: None,
            });
            d.events.push(Event::ResumeGaveUp { after, error });
            rec.phase = Phase::NeedsAttention;
            rec.reason = RecordReason::ResumeFailed;
            clear_failures(&mut rec);
        }
        Phase::Resuming
            if !rec.resume_done
                && (conn.state == ConnState::Running || release_landed(&rec, input.resource)) =>
        {
            // The resume whose answer was lost landed after all.
            rec.resume_done = true;
            clear_failures(&mut rec);
            if rec.restart_pending {
                d.actions.push(Action::RestartFailed);
            } else {
                let mut ev = Vec::new();
                enter_verify(&mut rec, now, false, &mut ev);
                d.events.extend(ev);
            }
        }
        Phase::Resuming => {
            if now >= rec.retry_at {
                if !rec.resume_done {
                    rec.resume_pending = true;
                    d.actions.push(Action::Resume);
                }
                // A restart retried after the resume was accepted waits for the connector to
                // read RUNNING: a PAUSED one is the resume not in effect yet, or a human's
                // pause since, whose tasks are not the agent's to restart.
                if rec.restart_pending && (!rec.resume_done || conn.state == ConnState::Running) {
                    d.actions.push(Action::RestartFailed);
                }
            } else {
                d.wake_at = Some(rec.retry_at);
            }
        }
        Phase::Verifying if s.dry_run => {
            // Nothing was really resumed, so there is nothing to verify.
            d.events.push(Event::Recovered {
                outcome: Outcome::DryRun,
                elapsed,
                attempts: rec.attempts,
                judged: None,
            });
            return d;
        }
        Phase::Verifying => {
            let offsets = input.offsets;
            if let Some(replacement) = verify(name, &mut rec, input, conn, &probe, offsets, &mut d)
            {
                d.record = replacement;
                return d;
            }
        }
        _ => {}
    }
    d.record = Some(rec);
    d
}

fn watching(input: &Input, d: &mut Decision) {
    let now = input.now;
    let s = input.settings;
    let Some(conn) = input.conn else { return };
    let probe = input.probe.cloned().unwrap_or_default();

    // A human's hand-back lasts until the database has been seen up again (and at least to
    // the end of a window under way: a human who resumed it during the window keeps it).
    let mut suppressed = false;
    if let Some(t) = input.handed_back_at {
        if probe.successes_since(t) >= s.up_after && input.maintenance.is_none() {
            d.handed_back = Some(None);
        } else {
            suppressed = true;
        }
    }

    // Paused or stopped by someone else: theirs, not ours. So is a connector whose
    // KafkaConnector asks for a hold (the operator will apply it): the agent has no record.
    if matches!(conn.state, ConnState::Paused | ConnState::Stopped)
        || input
            .resource
            .is_some_and(|r| r.manages() && r.desired != Desired::Running)
    {
        return;
    }

    if let Some((reason, failed, summary)) = attention_of(conn) {
        d.events.push(Event::AttentionNeeded {
            reason,
            failed,
            summary,
        });
        d.record = Some(Record::new(
            Phase::NeedsAttention,
            reason,
            input.target,
            now,
            s,
        ));
        return;
    }
    if suppressed {
        return;
    }
    let Some(target) = input.target else { return };

    // A planned window: held at its start (or at once, if it is under way), database up or not.
    if let Some(m) = input.maintenance {
        start_hold(HoldReason::Maintenance, target, input, conn, d);
        if let Some(r) = d.record.as_mut() {
            r.wait_from = m.ends_at;
        }
        d.wake_at = Some(m.ends_at);
        return;
    }
    if conn.any_failed() {
        let failed: Vec<(String, &str)> = conn.failed_traces().collect();
        let summary = failed
            .iter()
            .map(|(_, t)| classify::summarize(t))
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        d.events.push(Event::FailureDetected {
            state: conn.state,
            failed: failed.into_iter().map(|(w, _)| w).collect(),
            summary,
        });
        start_hold(HoldReason::TaskFailed, target, input, conn, d);
    } else if conn.state == ConnState::Running
        && probe.real_failures >= s.down_after
        && probe.blind_spot().is_none()
    {
        // Failures that say "the agent cannot see" (a name it cannot resolve, a peer that is
        // not the database, a target never seen up since the agent started) never start a
        // hold: Debezium reading RUNNING means Connect reaches the database. The supervisor
        // reports such blind spots instead.
        d.events.push(Event::ProbeDown {
            failures: probe.consecutive_failures,
            reason: probe.last_reason,
            detail: probe.last_detail.clone(),
        });
        start_hold(HoldReason::ProbeFailed, target, input, conn, d);
    }
}

fn start_hold(
    reason: HoldReason,
    target: &str,
    input: &Input,
    conn: &ConnectorObs,
    d: &mut Decision,
) {
    let mut rec = Record::new(
        Phase::Holding,
        reason,
        Some(target),
        input.now,
        input.settings,
    );
    route_hold(&mut rec, input, conn);
    let position: Option<Position> = input.offsets.and_then(|o| o.position);
    rec.held_position = position;
    d.events.push(Event::HoldStarted { reason, position });
    d.actions.push(rec.request_hold(input.now));
    d.record = Some(rec);
}

/// The needs-attention reason if any FAILED item's trace is not about availability.
fn attention_of(conn: &ConnectorObs) -> Option<(Attention, Vec<String>, String)> {
    let mut found: Option<(Attention, Vec<String>, String)> = None;
    for (what, trace) in conn.failed_traces() {
        if let Failure::Attention(a) = classify::classify(trace) {
            let f = found.get_or_insert_with(|| (a, Vec::new(), classify::summarize(trace)));
            f.1.push(what);
        }
    }
    found
}

/// A connector the agent holds shows a state the agent did not ask for.
fn human_took_over(rec: &Record, conn: &ConnectorObs, now: Millis, s: &Settings) -> bool {
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
fn route_hold(rec: &mut Record, input: &Input, conn: &ConnectorObs) {
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
fn resource_took_over(rec: &Record, res: Option<&ResourceObs>) -> Option<String> {
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
fn release_landed(rec: &Record, res: Option<&ResourceObs>) -> bool {
    rec.manager == Manager::Strimzi
        && rec.resume_pending
        && res.is_some_and(|r| r.desired == Desired::Running && r.mark.is_none())
}

/// Times the recovery out once the maximum wait has run out (from its start, or from the end
/// of the maintenance window that applied). A hold that never took effect is given up then: the
/// line says so, and no hold is sent afterwards.
fn time_out(
    rec: &mut Record,
    conn: Option<&ConnectorObs>,
    probe: &ProbeObs,
    now: Millis,
    s: &Settings,
    d: &mut Decision,
) {
    let waited = now.saturating_sub(rec.started_at.max(rec.wait_from));
    if rec.timed_out || waited < s.max_wait {
        return;
    }
    rec.phase = Phase::TimedOut;
    rec.timed_out = true;
    let unheld = (!rec.hold_confirmed).then(|| {
        rec.gave_up_unheld = true;
        Unheld {
            failures: rec.hold_failures,
            last_error: rec.last_error.clone(),
            state: conn.map_or(ConnState::Unknown, |c| c.state),
        }
    });
    d.events.push(Event::TimedOut {
        elapsed: waited,
        last_reason: probe.last_reason,
        last_detail: probe.last_detail.clone(),
        unheld,
        position: rec.held_position,
    });
}

fn clear_failures(rec: &mut Record) {
    rec.action_failures = 0;
    rec.slow_failures = 0;
    rec.failing_since = None;
    rec.retry_at = 0;
}

fn start_resume(rec: &mut Record, conn: &ConnectorObs, now: Millis, d: &mut Decision) {
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
fn verify(
    name: &str,
    rec: &mut Record,
    input: &Input,
    conn: &ConnectorObs,
    probe: &ProbeObs,
    offsets: Option<super::offsets::OffsetObs>,
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

/// Folds the result of an action into the record (the supervisor persists it afterwards).
pub fn apply_result(
    name: &str,
    rec: &mut Record,
    action: Action,
    result: &ActionResult,
    now: Millis,
    s: &Settings,
) -> Vec<Event> {
    let mut ev = Vec::new();
    match result {
        ActionResult::Ok | ActionResult::DryRun => {
            let dry = *result == ActionResult::DryRun;
            ev.push(Event::ActionOk {
                action,
                dry_run: dry,
            });
            clear_failures(rec);
            match action {
                Action::Pause | Action::Stop => {
                    rec.hold_sent_at = Some(now);
                    rec.hold_pending = false;
                    if dry {
                        rec.hold_confirmed = true;
                        if rec.phase == Phase::Holding {
                            rec.phase = Phase::Waiting;
                        }
                    }
                }
                Action::Resume => {
                    rec.resume_done = true;
                    if !rec.restart_pending {
                        enter_verify(rec, now, dry, &mut ev);
                    }
                }
                Action::RestartFailed => {
                    rec.restart_pending = false;
                    enter_verify(rec, now, dry, &mut ev);
                }
                // The one restart of a resume whose offset did not move: still verifying, from
                // the restart on (decided in core::progress).
                Action::RestartTasks => {
                    rec.verify_started_at = now;
                    rec.running_since = None;
                }
            }
        }
        ActionResult::Declined(why) => {
            // Nothing was written, and nothing will be: the next decision hands it back.
            if matches!(action, Action::Pause | Action::Stop) {
                rec.hold_pending = false;
            }
            if action == Action::Resume {
                rec.resume_pending = false;
            }
            rec.declined = true;
            rec.last_error = Some(why.clone());
            ev.push(Event::ActionDeclined {
                action,
                why: why.clone(),
            });
        }
        ActionResult::NotFound | ActionResult::Rejected(_) | ActionResult::Unknown(_) => {
            let error = match result {
                ActionResult::Rejected(e) | ActionResult::Unknown(e) => e.clone(),
                _ => "Kafka Connect does not know the connector (404)".into(),
            };
            let is_hold = matches!(action, Action::Pause | Action::Stop);
            let maybe_landed = matches!(result, ActionResult::Unknown(_));
            if is_hold {
                rec.hold_failures += 1;
                // Refused for certain, or possibly landed: only the latter can make a PAUSED
                // connector the agent's.
                rec.hold_pending = maybe_landed;
            }
            if action == Action::Resume {
                rec.resume_pending = maybe_landed;
            }
            let retry_in = retry_delay(name, rec, is_hold, now, s);
            rec.action_failures += 1;
            rec.last_error = Some(error.clone());
            rec.retry_at = now + retry_in;
            ev.push(Event::ActionFailed {
                action,
                error,
                retry_in,
            });
        }
    }
    ev
}

/// How soon a failed action is retried: at the poll interval while it has been failing for
/// less than `fast_retry_for` (a rebalance answers 409 to a few requests: the hold lands a poll
/// later, not after a long backoff), then with capped exponential backoff from 1 s.
fn retry_delay(name: &str, rec: &mut Record, is_hold: bool, now: Millis, s: &Settings) -> Millis {
    let since = *rec.failing_since.get_or_insert(now);
    if now.saturating_sub(since) < s.fast_retry_for {
        return s.fast_retry;
    }
    let cap = if is_hold {
        s.hold_retry_cap
    } else {
        s.resume_retry_cap
    };
    let d = backoff(name, rec.slow_failures, 1_000, cap);
    rec.slow_failures += 1;
    d
}

fn enter_verify(rec: &mut Record, now: Millis, dry: bool, ev: &mut Vec<Event>) {
    // (`dry`: nothing was sent, so no verification is announced.)
    rec.phase = Phase::Verifying;
    rec.verify_started_at = now;
    rec.running_since = None;
    if !dry {
        ev.push(Event::VerifyStarted);
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "machine_props.rs"]
mod props;
