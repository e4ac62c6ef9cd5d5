//! One function for every decision the core reports: it writes the log line and moves the
//! matching metric together, so the log and `/metrics` never disagree.

use crate::core::offsets::Judged;
use crate::core::text;
use crate::core::{ActionStatus, Event, HoldWith, Outcome};
use crate::telemetry::metrics::Metrics;

/// What an event needs to say beyond itself.
pub struct Ctx<'a> {
    pub connector: &'a str,
    pub target: Option<&'a str>,
    pub hold_with: HoldWith,
    pub max_wait_ms: u64,
    pub verify_window_ms: u64,
    pub connect_url: &'a str,
    /// `Some(namespace)` while the connector is held through its Strimzi `KafkaConnector`.
    pub resource_ns: Option<&'a str>,
}

/// A duration for a log line, short and not truncated: `250ms`, `1.2s`, `45s`, `3m 20s`,
/// `1h 30m`, `2d 3h`. Below a minute it keeps a tenth of a second; above, whole seconds (rounded).
pub fn human(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    // tenths of a second, rounded; 59.96s is 1m, not 60.0s
    let tenths = ms / 100 + u64::from(ms % 100 >= 50);
    if tenths < 600 {
        return if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        };
    }
    let secs = ms / 1000 + u64::from(ms % 1000 >= 500);
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ];
    // the two largest units from the first non-zero one, zeros left out: `1h 5s` would hide
    // that minutes were dropped, so a day or more shows days and hours only
    let first = parts.iter().position(|(v, _)| *v > 0).unwrap_or(3);
    let shown = if first == 0 {
        &parts[0..2]
    } else {
        &parts[first..]
    };
    shown
        .iter()
        .filter(|(v, _)| *v > 0)
        .map(|(v, u)| format!("{v}{u}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The agent's last line: what it left on disk.
pub fn stopped(dry_run: bool) {
    if dry_run {
        tracing::info!("stopped (dry run: no state was written)");
    } else {
        tracing::info!("stopped; state written");
    }
}

pub fn emit(m: &Metrics, c: &Ctx, ev: &Event) {
    let n = c.connector;
    let t = c.target.unwrap_or("(unknown target)");
    let held = match c.hold_with {
        HoldWith::Pause => "PAUSED",
        HoldWith::Stop => "STOPPED",
    };
    match ev {
        Event::FailureDetected {
            state,
            failed,
            summary,
        } => {
            tracing::warn!(
                connector = n,
                target = t,
                "{n}: failure detected: connector {}, FAILED: {}; trace: {summary}",
                state.as_str(),
                failed.join(", ")
            );
        }
        Event::ProbeDown {
            failures,
            reason,
            detail,
        } => {
            tracing::warn!(connector = n, target = t, reason = reason.map_or("none", |r| r.as_str()), "{n}: database {t} down for {failures} probes in a row ({detail}) while the connector reads RUNNING (Debezium retries hidden behind RUNNING)");
        }
        Event::AttentionNeeded {
            reason,
            failed,
            summary,
        } => {
            tracing::error!(
                connector = n,
                reason = reason.as_str(),
                "{n}: needs attention ({}): {}. FAILED: {}; trace: {summary}. No automatic action.",
                reason.as_str(),
                reason.advice(),
                failed.join(", ")
            );
        }
        Event::AttentionCleared => {
            tracing::info!(connector = n, "{n}: no longer FAILED; back to watching");
        }
        Event::HoldStarted { reason, position } => {
            m.recovery_started(n, *reason);
            let what = match (c.resource_ns, c.hold_with) {
                (Some(_), HoldWith::Pause) => "spec.state: paused requested on its KafkaConnector",
                (Some(_), HoldWith::Stop) => "spec.state: stopped requested on its KafkaConnector",
                (None, HoldWith::Pause) => "pause requested",
                (None, HoldWith::Stop) => "stop requested",
            };
            // The committed source position the recovery is judged against, when read.
            let at = position
                .map(|p| format!(" (committed {p})"))
                .unwrap_or_default();
            if *reason == crate::core::HoldReason::Maintenance {
                tracing::info!(
                    connector = n,
                    target = t,
                    reason = reason.as_str(),
                    "{n}: holding it for a planned maintenance window: {what}{at}; resumed after the window once {t} answers"
                );
            } else {
                tracing::warn!(
                    connector = n,
                    target = t,
                    reason = reason.as_str(),
                    "{n}: holding it while {t} is down ({}): {what}{at}",
                    reason.as_str()
                );
            }
        }
        Event::HoldConfirmed { state } => {
            tracing::info!(
                connector = n,
                target = t,
                "{n}: hold confirmed (connector {}); waiting for {t}, giving up after {}",
                state.as_str(),
                human(c.max_wait_ms)
            );
        }
        Event::HoldResent { after } => {
            tracing::warn!(
                connector = n,
                "{n}: hold not visible in the status after {}; sending it again",
                human(*after)
            );
        }
        Event::DatabaseBack { successes, elapsed } => {
            tracing::info!(
                connector = n,
                target = t,
                "{n}: database {t} back ({successes} successful probes in a row) after {}",
                human(*elapsed)
            );
        }
        Event::ResumeStarted {
            attempt,
            restart_failed,
        } => {
            let extra = if *restart_failed {
                " and restart of its FAILED tasks"
            } else {
                ""
            };
            tracing::info!(
                connector = n,
                attempt,
                "{n}: resume requested{extra} (attempt {attempt})"
            );
        }
        Event::VerifyStarted => {
            tracing::info!(
                connector = n,
                "{n}: resumed; verifying the connector and every task stay RUNNING for {}",
                human(c.verify_window_ms)
            );
        }
        Event::Recovered {
            outcome,
            elapsed,
            attempts,
            judged,
        } => {
            m.recovery_finished(*outcome, *elapsed as f64 / 1000.0);
            // Which rule judged it: its committed offset moving past the hold's, or RUNNING.
            let (rule, how) = match judged {
                Some(j @ Judged::Progress { .. }) => ("progress", format!("; {j}")),
                Some(j) => ("state", format!("; {j}")),
                None => ("none", String::new()),
            };
            match outcome {
                Outcome::DryRun => tracing::info!(connector = n, "{n}: dry run: would verify the resume now; recovery ends here"),
                Outcome::NeedsAttention => tracing::warn!(connector = n, "{n}: recovery ended after {}: the connector failed again in a way waiting cannot fix", human(*elapsed)),
                _ => tracing::info!(connector = n, target = t, outcome = outcome.as_str(), judged_by = rule, "{n}: recovered after {} ({attempts} attempt{}){how}", human(*elapsed), if *attempts == 1 { "" } else { "s" }),
            }
        }
        Event::StallRestarted { held, now, after } => {
            let now = now.map_or_else(|| "no position".to_string(), |p| p.to_string());
            tracing::warn!(connector = n, target = t, "{n}: RUNNING {} after the resume but its committed offset has not moved past the hold's (held at {held}; resumed; now at {now}): restarting its tasks once", human(*after));
        }
        Event::StallOver { held, now } => {
            tracing::info!(connector = n, "{n}: its committed offset moves again (held at {held}; now at {now}); back to watching");
        }
        Event::RecoveryStalled {
            held,
            now,
            after,
            elapsed,
        } => {
            m.recovery_finished(Outcome::NeedsAttention, *elapsed as f64 / 1000.0);
            let now = now.map_or_else(|| "no position".to_string(), |p| p.to_string());
            tracing::error!(connector = n, target = t, reason = "stalled", "{n}: needs attention (stalled): held at {held}; resumed; now at {now}: its committed offset did not move in the {} after a restart of its tasks, while it reads RUNNING. The recovery ends after {}; the connector is left RUNNING. Check what feeds it: the LogMiner session and the archive logs (purged by RMAN DELETE INPUT?), the replication slot and its walsender, the binlog retention; and the worker log", human(*after), human(*elapsed));
        }
        Event::LateFailureRestarted { failed } => {
            tracing::warn!(connector = n, "{n}: {} FAILED right after the resume while {t} answers (a task paused during the outage reports the lost connection on its first poll); restarting it", failed.join(", "));
        }
        Event::VerifyFailed {
            attempt,
            why,
            retry_in,
        } => {
            tracing::warn!(connector = n, attempt, "{n}: resume attempt {attempt} did not hold: {why}; holding again, next attempt no sooner than {}", human(*retry_in));
        }
        Event::TimedOut {
            elapsed,
            last_reason,
            last_detail,
            unheld,
            position,
        } => {
            let at = position
                .map(|p| format!(" Committed offset at the hold: {p}."))
                .unwrap_or_default();
            m.timed_out(n);
            let url = c.connect_url;
            let resume = match c.resource_ns {
                Some(ns) => text::kubectl_state(ns, n, "running"),
                None => text::curl("PUT", url, n, "/resume"),
            };
            let restart = text::curl("POST", url, n, "/restart?includeTasks=true&onlyFailed=true");
            let last = last_reason.map_or("none", |r| r.as_str());
            let waited = human(*elapsed);
            let max = human(c.max_wait_ms);
            // Never "still down" when the last probe succeeded.
            let db = match last_reason {
                Some(r) if r.is_up() => format!(
                    "database {t} answers again (last probe: ok) but not yet --up-after times in a row after {waited} (max wait {max})"
                ),
                Some(_) => format!(
                    "database {t} still down after {waited} (max wait {max}); last probe: {last} ({last_detail})"
                ),
                None => format!("database {t} not probed yet after {waited} (max wait {max})"),
            };
            match unheld {
                None => tracing::error!(
                    connector = n,
                    target = t,
                    last_probe = last,
                    "{n}: manual intervention required: {db}. The connector stays {held}.{at} When the database is back: {resume} && {restart}"
                ),
                Some(u) => {
                    let action = match c.hold_with {
                        HoldWith::Pause => "pause",
                        HoldWith::Stop => "stop",
                    };
                    let last_error = u.last_error.as_deref().unwrap_or("no answer yet");
                    tracing::error!(
                        connector = n,
                        target = t,
                        last_probe = last,
                        "{n}: manual intervention required: could not hold it: {} {action} attempt{} failed, last: {last_error}; the connector is {}, not held; {db}. The agent gives up and sends nothing more. When the database is back, check its tasks; if any is FAILED: {restart}",
                        u.failures,
                        if u.failures == 1 { "" } else { "s" },
                        u.state.as_str()
                    );
                }
            }
        }
        Event::EndedUnheld { elapsed } => {
            m.recovery_finished(Outcome::TimedOutRecovered, *elapsed as f64 / 1000.0);
            tracing::info!(connector = n, target = t, "{n}: database {t} back after {} and the connector, never held, runs: recovery over", human(*elapsed));
        }
        Event::LateHoldLanded { state } => {
            tracing::warn!(connector = n, target = t, "{n}: a hold sent before the agent gave up took effect late (connector {}); it will be resumed once {t} is back", state.as_str());
        }
        Event::ResumeGaveUp { after, error } => {
            let resume = match c.resource_ns {
                Some(ns) => text::kubectl_state(ns, n, "running"),
                None => text::curl("PUT", c.connect_url, n, "/resume"),
            };
            let restart = text::curl(
                "POST",
                c.connect_url,
                n,
                "/restart?includeTasks=true&onlyFailed=true",
            );
            tracing::error!(
                connector = n,
                reason = "resume_failed",
                "{n}: needs attention (resume_failed): the resume has failed for {} (last: {error}); the connector stays {held}. Check that it still exists and that --connect-url is the REST root, then: {resume} && {restart}",
                human(*after)
            );
        }
        Event::HandedBack {
            state,
            elapsed,
            why,
        } => {
            m.recovery_finished(Outcome::HandedBack, *elapsed as f64 / 1000.0);
            match why {
                Some(why) => tracing::warn!(connector = n, target = t, "{n}: someone else took it over during the recovery ({why}; connector {}); handing it back after {} (no new hold until {t} is seen up again)", state.as_str(), human(*elapsed)),
                None => tracing::warn!(connector = n, target = t, "{n}: someone else changed it to {} during the recovery; handing it back after {} (no new hold until {t} is seen up again)", state.as_str(), human(*elapsed)),
            }
        }
        Event::Deleted { elapsed } => {
            m.recovery_finished(Outcome::Deleted, *elapsed as f64 / 1000.0);
            tracing::warn!(
                connector = n,
                "{n}: deleted while held (after {}); recovery dropped",
                human(*elapsed)
            );
        }
        Event::ActionFailed {
            action,
            error,
            retry_in,
        } => {
            m.action(n, *action, ActionStatus::Error);
            if *retry_in > 0 {
                tracing::warn!(
                    connector = n,
                    action = action.as_str(),
                    "{n}: {} failed: {error}; retrying in {}",
                    action.as_str(),
                    human(*retry_in)
                );
            } else {
                tracing::warn!(
                    connector = n,
                    action = action.as_str(),
                    "{n}: {} failed: {error}",
                    action.as_str()
                );
            }
        }
        Event::ActionDeclined { action, why } => {
            m.action(n, *action, ActionStatus::Error);
            tracing::warn!(
                connector = n,
                action = action.as_str(),
                "{n}: {} not written: {why}; not retried, the recovery ends as handed back",
                action.as_str()
            );
        }
        Event::ActionOk { action, dry_run } => {
            if *dry_run {
                m.action(n, *action, ActionStatus::DryRun);
                tracing::info!(
                    connector = n,
                    action = action.as_str(),
                    "{n}: dry run: would {} (nothing sent)",
                    action.as_str()
                );
            } else {
                m.action(n, *action, ActionStatus::Ok);
                tracing::info!(
                    connector = n,
                    action = action.as_str(),
                    "{n}: {} accepted",
                    action.as_str()
                );
            }
        }
    }
}

#[cfg(test)]
mod human_tests {
    use super::human;

    #[test]
    fn durations_are_short_and_not_truncated() {
        for (ms, text) in [
            (0, "0ms"),
            (250, "250ms"),
            (999, "999ms"),
            (1000, "1s"),
            (1200, "1.2s"),
            (1249, "1.2s"),
            (1250, "1.3s"),
            (45_000, "45s"),
            (59_940, "59.9s"),
            (59_960, "1m"),
            (60_000, "1m"),
            (200_000, "3m 20s"),
            (200_400, "3m 20s"),
            (200_600, "3m 21s"),
            (1_800_000, "30m"),
            (3_600_000, "1h"),
            (5_400_000, "1h 30m"),
            (5_405_000, "1h 30m 5s"),
            (3_605_000, "1h 5s"),
            (86_400_000, "1d"),
            (2 * 86_400_000 + 3 * 3_600_000 + 59_000, "2d 3h"),
            (u64::MAX, "213503982334d 14h"),
        ] {
            assert_eq!(human(ms), text, "{ms} ms");
        }
    }
}
