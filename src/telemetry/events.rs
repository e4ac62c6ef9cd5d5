//! One function for every decision the core reports: it writes the log line and moves the
//! matching metric together, so the log and `/metrics` never disagree.

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
        return if tenths % 10 == 0 {
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
        Event::HoldStarted { reason } => {
            m.recovery_started(n, *reason);
            let action = match c.hold_with {
                HoldWith::Pause => "pause",
                HoldWith::Stop => "stop",
            };
            if *reason == crate::core::HoldReason::Maintenance {
                tracing::info!(
                    connector = n,
                    target = t,
                    reason = reason.as_str(),
                    "{n}: holding it for a planned maintenance window: {action} requested; resumed after the window once {t} answers"
                );
            } else {
                tracing::warn!(
                    connector = n,
                    target = t,
                    reason = reason.as_str(),
                    "{n}: holding it while {t} is down ({}): {action} requested",
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
        } => {
            m.recovery_finished(*outcome, *elapsed as f64 / 1000.0);
            match outcome {
                Outcome::DryRun => tracing::info!(connector = n, "{n}: dry run: would verify the resume now; recovery ends here"),
                Outcome::NeedsAttention => tracing::warn!(connector = n, "{n}: recovery ended after {}: the connector failed again in a way waiting cannot fix", human(*elapsed)),
                _ => tracing::info!(connector = n, target = t, outcome = outcome.as_str(), "{n}: recovered after {} ({attempts} attempt{})", human(*elapsed), if *attempts == 1 { "" } else { "s" }),
            }
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
        } => {
            m.timed_out(n);
            let url = c.connect_url;
            tracing::error!(
                connector = n,
                target = t,
                last_probe = last_reason.map_or("none", |r| r.as_str()),
                "{n}: manual intervention required: database {t} still down after {} (max wait {}); last probe: {} ({last_detail}). The connector stays {held}. When the database is back: curl -X PUT {url}/connectors/{n}/resume && curl -X POST '{url}/connectors/{n}/restart?includeTasks=true&onlyFailed=true'",
                human(*elapsed),
                human(c.max_wait_ms),
                last_reason.map_or("none", |r| r.as_str())
            );
        }
        Event::HandedBack { state, elapsed } => {
            m.recovery_finished(Outcome::HandedBack, *elapsed as f64 / 1000.0);
            tracing::warn!(connector = n, target = t, "{n}: someone else changed it to {} during the recovery; handing it back after {} (no new hold until {t} is seen up again)", state.as_str(), human(*elapsed));
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

/// A `curl` command line a human can paste into a POSIX shell and that does exactly what it
/// says: every path segment (a connector name) and every query key and value is
/// percent-encoded, and the whole URL is one single-quoted shell word (a `'` inside, which can
/// only come from `base_url`, is written `'\''`). So a name such as
/// `a'; touch /tmp/pwned; echo '` or one with a space, `/`, `%`, a newline or any non-ASCII
/// character reaches Kafka Connect as that name, and the shell runs nothing else.
///
/// `curl("PUT", "http://connect:8083", &["connectors", "orders v2/eu", "resume"], &[])` is
/// `curl -X PUT 'http://connect:8083/connectors/orders%20v2%2Feu/resume'`.
pub fn curl(
    method: &str,
    base_url: &str,
    path_segments: &[&str],
    query: &[(&str, &str)],
) -> String {
    let mut url = base_url.trim_end_matches('/').to_string();
    for s in path_segments {
        url.push('/');
        url.push_str(&percent_encode(s));
    }
    for (i, (k, v)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(&percent_encode(k));
        url.push('=');
        url.push_str(&percent_encode(v));
    }
    format!("curl -X {} {}", shell_word(method), single_quoted(&url))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so the result is one path
/// segment (or one query key or value) whatever it holds.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One shell word: as is when it holds only letters and digits, else single-quoted.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return s.to_string();
    }
    single_quoted(s)
}

/// `'s'`, with every `'` in it written `'\''` (close the quote, an escaped quote, reopen).
fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
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

#[cfg(test)]
mod curl_tests {
    use super::*;

    /// Runs `cmd` in `sh` with `curl` replaced by a function that prints each argument it
    /// gets, NUL-terminated, and returns those arguments.
    fn shell_args(cmd: &str) -> Vec<String> {
        let syntax = std::process::Command::new("sh")
            .args(["-n", "-c", cmd])
            .output()
            .unwrap();
        assert!(syntax.status.success(), "sh -n rejects {cmd:?}");
        let marker =
            std::env::temp_dir().join(format!("cdc-sentinel-pwned-{}", std::process::id()));
        let script = format!("curl() {{ printf '%s\\0' \"$@\"; }}\n{cmd}\n");
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .env("PWNED", &marker)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!marker.exists(), "{cmd:?} ran something else");
        String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(str::to_string)
            .collect()
    }

    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_documented_example() {
        assert_eq!(
            curl(
                "PUT",
                "http://connect:8083",
                &["connectors", "orders v2/eu", "resume"],
                &[]
            ),
            "curl -X PUT 'http://connect:8083/connectors/orders%20v2%2Feu/resume'"
        );
    }

    #[test]
    fn hostile_names_reach_the_shell_as_one_argument_equal_to_the_url() {
        let names = [
            "orders v2/eu",
            "a'; touch \"$PWNED\"; echo '",
            "a\"; touch \"$PWNED\"; echo \"",
            "$(touch \"$PWNED\")",
            "`touch $PWNED`",
            "line one\nline two\r\n",
            "100% done %41",
            "zürich-订单-🚀",
            "back\\slash & pipe | semi ; glob * ? [x] ~home",
            "'",
            "",
        ];
        for base in [
            "http://connect:8083",
            "https://connect.example:8443/kafka-connect/",
            "http://it's:8083",
        ] {
            for name in names {
                let cmd = curl(
                    "POST",
                    base,
                    &["connectors", name, "restart"],
                    &[("includeTasks", "true"), ("onlyFailed", "true")],
                );
                assert!(!cmd.contains('\n'), "one line: {cmd:?}");
                let args = shell_args(&cmd);
                assert_eq!(args.len(), 3, "{cmd:?} -> {args:?}");
                assert_eq!(&args[..2], ["-X", "POST"], "{cmd:?}");
                let url = &args[2];
                let base = base.trim_end_matches('/');
                let rest = url.strip_prefix(base).unwrap_or_else(|| panic!("{url:?}"));
                let (path, query) = rest.split_once('?').unwrap();
                let segs: Vec<String> = path.split('/').skip(1).map(decode).collect();
                assert_eq!(segs, ["connectors", name, "restart"], "{cmd:?}");
                assert_eq!(query, "includeTasks=true&onlyFailed=true");
                // what reqwest would send: the same segments
                if !base.contains('\'') {
                    let parsed = reqwest::Url::parse(url).unwrap();
                    let sent: Vec<String> = parsed.path_segments().unwrap().map(decode).collect();
                    assert!(
                        sent.ends_with(&["connectors".into(), name.into(), "restart".into()]),
                        "{sent:?}"
                    );
                }
            }
        }
    }
}
