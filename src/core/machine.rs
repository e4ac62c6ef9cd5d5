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

use super::classify::{self, Attention, Failure};
use super::decision::{Action, Decision, Event, Input, Outcome, Unheld};
use super::observe::{ConnState, ConnectorObs, Desired, ProbeObs};
use super::offsets::Position;
use super::progress::{self};
use super::record::{AfterTimeout, HoldReason, HoldWith, Phase, Record, RecordReason};
use super::settings::Settings;
use super::Millis;

mod ownership;
mod results;
mod verify;

use ownership::{human_took_over, release_landed, resource_took_over, route_hold};
pub use results::apply_result;
use verify::{enter_verify, start_resume, verify};

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

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "machine_props.rs"]
mod props;
