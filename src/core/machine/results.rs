//! The results of the actions the supervisor sent, folded back into the record.

use crate::core::backoff::backoff;
use crate::core::decision::{Action, ActionResult, Event};
use crate::core::record::{Phase, Record};
use crate::core::settings::Settings;
use crate::core::Millis;

use super::*;

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
