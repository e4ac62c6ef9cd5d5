//! Scenario tests of the pure core: each reads like a runbook entry, on virtual time.

use super::*;
use crate::core::backoff::backoff;
use crate::core::{ActionResult, Maintenance, Manager, ResourceObs, TaskObs};
use cdc_sentinel_probe::Reason;

const ORA_DOWN: &str = "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\n\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\nCaused by: java.sql.SQLRecoverableException: IO Error: The Network Adapter could not establish the connection";
const SCN_GONE: &str = "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\nCaused by: io.debezium.DebeziumException: Online REDO LOG files or archive log files do not contain the offset scn 1234. Please perform a new snapshot.";
const MIN: Millis = 60_000;

fn conn(state: ConnState, tasks: &[(ConnState, Option<&str>)]) -> ConnectorObs {
    ConnectorObs {
        state,
        state_name: None,
        trace: None,
        tasks: tasks
            .iter()
            .enumerate()
            .map(|(i, (s, t))| TaskObs {
                id: i as u32,
                state: *s,
                trace: t.map(str::to_string),
            })
            .collect(),
    }
}

fn running() -> ConnectorObs {
    conn(ConnState::Running, &[(ConnState::Running, None)])
}
fn failed() -> ConnectorObs {
    conn(ConnState::Running, &[(ConnState::Failed, Some(ORA_DOWN))])
}
fn paused_failed() -> ConnectorObs {
    conn(ConnState::Paused, &[(ConnState::Failed, Some(ORA_DOWN))])
}

/// A connector, its record, the probe history, and virtual time.
struct World {
    s: Settings,
    rec: Option<Record>,
    probe: ProbeObs,
    now: Millis,
    handed_back: Option<Millis>,
    sent: Vec<Action>,
    events: Vec<Event>,
    windows: Vec<crate::core::windows::Window>,
    /// The supervisor confirmed the connector deleted (when it is missing).
    gone: bool,
    /// Its Strimzi KafkaConnector, if it has one.
    resource: Option<ResourceObs>,
    /// The committed offsets as last read (`None`: not read).
    offsets: Option<crate::core::offsets::OffsetObs>,
}

impl World {
    fn new() -> World {
        World {
            s: Settings::default(),
            rec: None,
            probe: ProbeObs::default(),
            now: 1_700_000_000_000,
            handed_back: None,
            sent: vec![],
            events: vec![],
            windows: vec![],
            gone: false,
            resource: None,
            offsets: None,
        }
    }
    fn probe(&mut self, up: bool) {
        let (r, d) = if up {
            (Reason::Ok, "")
        } else {
            (Reason::Refused, "connection refused")
        };
        self.probe.record(r, d, self.now);
    }
    /// One poll: decide, then "send" every action with the given result.
    fn poll_with(&mut self, c: Option<&ConnectorObs>, result: ActionResult) -> Vec<Action> {
        let input = Input {
            now: self.now,
            conn: c,
            gone: self.gone,
            target: Some("db:1521"),
            probe: Some(&self.probe),
            settings: &self.s,
            handed_back_at: self.handed_back,
            // As the supervisor does it: from the windows, as a function of now.
            maintenance: crate::core::windows::active_until(
                &self.windows,
                "inv",
                Some("db:1521"),
                self.now,
            )
            .map(|ends_at| Maintenance { ends_at }),
            resource: self.resource.as_ref(),
            offsets: self.offsets,
        };
        let d = step("inv", self.rec.as_ref(), &input);
        self.events.extend(d.events.clone());
        if let Some(h) = d.handed_back {
            self.handed_back = h;
        }
        self.rec = d.record;
        for a in &d.actions {
            let rec = self.rec.as_mut().expect("actions come with a record");
            let ev = apply_result("inv", rec, *a, &result, self.now, &self.s);
            self.events.extend(ev);
        }
        self.sent.extend(d.actions.iter().copied());
        d.actions
    }
    fn poll(&mut self, c: &ConnectorObs) -> Vec<Action> {
        self.poll_with(Some(c), ActionResult::Ok)
    }
    fn phase(&self) -> Phase {
        self.rec
            .as_ref()
            .map(|r| r.phase)
            .unwrap_or(Phase::Watching)
    }
    fn wait(&mut self, ms: Millis) {
        self.now += ms;
    }
    fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|e| f(e)).count()
    }
}

#[test]
fn nightly_backup_task_failed_held_waited_resumed_restarted_verified() {
    let mut w = World::new();
    w.probe(true);
    assert!(
        w.poll(&running()).is_empty(),
        "a healthy connector is left alone"
    );

    // 01:58 the backup takes Oracle down; the task goes FAILED with ORA network errors.
    w.wait(MIN);
    w.probe(false);
    assert_eq!(w.poll(&failed()), vec![Action::Pause], "held at once");
    assert_eq!(w.phase(), Phase::Holding);
    assert_eq!(w.rec.as_ref().unwrap().reason.as_str(), "task_failed");

    // Pause takes effect asynchronously; the FAILED task stays FAILED, which is expected.
    w.wait(5_000);
    assert!(w.poll(&paused_failed()).is_empty());
    assert_eq!(w.phase(), Phase::Waiting);

    // 25 minutes of probing a dead database: nothing resumed.
    for _ in 0..25 {
        w.wait(MIN);
        w.probe(false);
        assert!(w.poll(&paused_failed()).is_empty());
    }
    // Back: one success is not enough.
    w.wait(MIN);
    w.probe(true);
    assert!(
        w.poll(&paused_failed()).is_empty(),
        "one lucky probe resumes nothing"
    );
    w.wait(MIN);
    w.probe(true);
    assert_eq!(
        w.poll(&paused_failed()),
        vec![Action::Resume, Action::RestartFailed],
        "FAILED tasks are restarted: resume alone leaves them dead"
    );
    assert_eq!(w.phase(), Phase::Verifying);

    // Tasks restart into RUNNING and stay there for the verification window.
    w.wait(5_000);
    w.poll(&running());
    assert_eq!(w.phase(), Phase::Verifying);
    w.wait(w.s.verify_window);
    w.poll(&running());
    assert_eq!(w.phase(), Phase::Watching);
    assert!(w.events.iter().any(|e| matches!(
        e,
        Event::Recovered {
            outcome: Outcome::Recovered,
            attempts: 1,
            ..
        }
    )));
    assert_eq!(
        w.sent,
        vec![Action::Pause, Action::Resume, Action::RestartFailed]
    );
}

#[test]
fn outage_hidden_behind_running_is_held_after_down_after_failed_probes() {
    let mut w = World::new();
    // The database answered before (so its failures say "gone", not "the agent cannot see").
    w.probe(true);
    assert!(w.poll(&running()).is_empty());
    for i in 1..=2 {
        w.probe(false);
        assert!(
            w.poll(&running()).is_empty(),
            "{i} failed probe(s) are not an outage yet"
        );
    }
    w.probe(false);
    assert_eq!(w.poll(&running()), vec![Action::Pause]);
    assert_eq!(w.rec.as_ref().unwrap().reason.as_str(), "probe_failed");
    w.wait(2_000);
    w.poll(&conn(ConnState::Paused, &[(ConnState::Paused, None)]));
    assert_eq!(w.phase(), Phase::Waiting);
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    assert_eq!(
        w.poll(&conn(ConnState::Paused, &[(ConnState::Paused, None)])),
        vec![Action::Resume]
    );
    assert!(
        !w.sent.contains(&Action::RestartFailed),
        "nothing FAILED, nothing to restart"
    );
}

#[test]
fn outage_longer_than_max_wait_times_out_once_and_stays_held() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    for _ in 0..29 {
        w.wait(MIN);
        w.probe(false);
        w.poll(&paused_failed());
    }
    assert_eq!(w.phase(), Phase::Waiting);
    w.wait(MIN);
    w.probe(false);
    assert!(w.poll(&paused_failed()).is_empty());
    assert_eq!(w.phase(), Phase::TimedOut);
    for _ in 0..30 {
        w.wait(MIN);
        w.probe(false);
        assert!(w.poll(&paused_failed()).is_empty());
    }
    assert_eq!(
        w.count(|e| matches!(e, Event::TimedOut { .. })),
        1,
        "one alert-worthy line per incident"
    );
    let to = w.events.iter().find_map(|e| match e {
        Event::TimedOut {
            elapsed,
            last_reason,
            ..
        } => Some((*elapsed, *last_reason)),
        _ => None,
    });
    assert_eq!(to, Some((30 * MIN, Some(Reason::Refused))));
    // --after-timeout hold: the database comes back, the connector still stays held.
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    assert!(w.poll(&paused_failed()).is_empty());
    assert_eq!(w.phase(), Phase::TimedOut);
    // A human resumes it: the agent hands it back.
    w.poll(&failed());
    assert_eq!(w.phase(), Phase::Watching);
    assert!(w.handed_back.is_some());
}

#[test]
fn after_timeout_resume_resumes_once_the_database_is_back() {
    let mut w = World::new();
    w.s.after_timeout = AfterTimeout::Resume;
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    w.wait(31 * MIN);
    w.poll(&paused_failed());
    assert_eq!(w.phase(), Phase::TimedOut);
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    assert_eq!(
        w.poll(&paused_failed()),
        vec![Action::Resume, Action::RestartFailed]
    );
    w.poll(&running());
    w.wait(w.s.verify_window);
    w.poll(&running());
    assert!(w.events.iter().any(|e| matches!(
        e,
        Event::Recovered {
            outcome: Outcome::TimedOutRecovered,
            ..
        }
    )));
}

#[test]
fn flapping_database_up_for_one_probe_resumes_nothing() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    for _ in 0..10 {
        w.wait(MIN);
        w.probe(true);
        assert!(w.poll(&paused_failed()).is_empty());
        w.wait(MIN);
        w.probe(false);
        assert!(w.poll(&paused_failed()).is_empty());
    }
    assert_eq!(w.sent, vec![Action::Pause]);
}

#[test]
fn probe_successes_from_before_the_hold_do_not_count() {
    let mut w = World::new();
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    w.wait(30_000);
    // The task fails between two probes: the two old successes say nothing about now.
    assert_eq!(w.poll(&failed()), vec![Action::Pause]);
    assert!(w.poll(&paused_failed()).is_empty());
    assert_eq!(w.phase(), Phase::Waiting);
}

#[test]
fn human_pause_is_left_alone() {
    let mut w = World::new();
    for _ in 0..5 {
        w.probe(false);
        assert!(w.poll(&paused_failed()).is_empty());
        assert!(w.poll(&conn(ConnState::Stopped, &[])).is_empty());
    }
    assert_eq!(w.phase(), Phase::Watching);
    assert!(w.sent.is_empty());
}

#[test]
fn human_resume_during_recovery_ends_it_and_is_not_fought() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    assert_eq!(w.phase(), Phase::Waiting);
    // The on-call resumes it while the database is still down.
    w.wait(MIN);
    w.probe(false);
    assert!(w
        .poll(&conn(ConnState::Running, &[(ConnState::Running, None)]))
        .is_empty());
    assert_eq!(w.phase(), Phase::Watching);
    assert!(w
        .events
        .iter()
        .any(|e| matches!(e, Event::HandedBack { .. })));
    // The database is still down, the task still fails: the agent does not grab it back.
    for _ in 0..5 {
        w.wait(MIN);
        w.probe(false);
        assert!(w.poll(&failed()).is_empty());
    }
    // Once the database has been seen up, the agent watches over it again.
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    w.poll(&running());
    assert!(w.handed_back.is_none());
    w.probe(false);
    assert_eq!(w.poll(&failed()), vec![Action::Pause]);
}

#[test]
fn fatal_failure_needs_attention_and_no_action() {
    let mut w = World::new();
    w.probe(true);
    let c = conn(
        ConnState::Running,
        &[
            (ConnState::Failed, Some(SCN_GONE)),
            (ConnState::Failed, Some(ORA_DOWN)),
        ],
    );
    for _ in 0..5 {
        assert!(w.poll(&c).is_empty());
        w.wait(MIN);
    }
    assert_eq!(w.phase(), Phase::NeedsAttention);
    assert_eq!(
        w.rec.as_ref().unwrap().reason.as_str(),
        "offset_unavailable"
    );
    assert_eq!(
        w.count(|e| matches!(e, Event::AttentionNeeded { .. })),
        1,
        "logged once, not every poll"
    );
    // A human re-snapshots and restarts it: back to watching.
    w.poll(&running());
    assert_eq!(w.phase(), Phase::Watching);
}

#[test]
fn unclassified_failure_is_never_resumed_blindly() {
    let mut w = World::new();
    let c = conn(
        ConnState::Running,
        &[(
            ConnState::Failed,
            Some("org.apache.kafka.connect.errors.DataException: Failed to deserialize"),
        )],
    );
    assert!(w.poll(&c).is_empty());
    assert_eq!(
        w.rec.as_ref().unwrap().reason.as_str(),
        "unclassified_failure"
    );
}

#[test]
fn conflicts_are_retried_at_the_poll_interval_then_with_capped_backoff() {
    let mut w = World::new();
    w.s.max_wait = 60 * MIN;
    w.probe(false);
    let busy = ActionResult::Rejected(
        "409 Cannot complete request momentarily due to no known leader URL".into(),
    );
    assert_eq!(
        w.poll_with(Some(&failed()), busy.clone()),
        vec![Action::Pause]
    );
    let mut delays = vec![];
    for _ in 0..40 {
        let r = w.rec.as_ref().unwrap();
        let d = r.retry_at - w.now;
        delays.push(d);
        if d > 1 {
            // Polling before retry_at sends nothing.
            w.wait(d / 2);
            assert!(w.poll_with(Some(&failed()), busy.clone()).is_empty());
            w.wait(d - d / 2);
        } else {
            w.wait(d);
        }
        assert_eq!(
            w.poll_with(Some(&failed()), busy.clone()),
            vec![Action::Pause]
        );
    }
    // A hold is urgent: for the first 30 s of 409s, retried at every poll...
    let fast = delays.iter().take_while(|d| **d == w.s.fast_retry).count();
    assert_eq!(
        fast as u64,
        w.s.fast_retry_for / w.s.fast_retry,
        "{delays:?}"
    );
    // ...then backing off, capped at 30 s (with jitter).
    let slow = &delays[fast..];
    assert!(slow[1] > slow[0] && slow[2] > slow[1], "{delays:?}");
    assert!(
        slow.iter().all(|d| *d <= 36_000) && slow.iter().any(|d| *d >= 24_000),
        "capped at 30s + jitter: {delays:?}"
    );
    assert!(
        w.count(|e| matches!(e, Event::ActionFailed { .. })) >= 41,
        "every attempt is reported"
    );
    // The rebalance ends.
    w.wait(60_000);
    assert_eq!(w.poll(&failed()), vec![Action::Pause]);
    w.poll(&paused_failed());
    assert_eq!(w.phase(), Phase::Waiting);
}

#[test]
fn a_resume_that_does_not_hold_goes_back_to_holding_with_backoff() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    assert_eq!(
        w.poll(&paused_failed()),
        vec![Action::Resume, Action::RestartFailed]
    );
    // The restart takes effect, then the task fails again during verification: while the
    // database answers it is restarted once more, and if it fails yet again, held again.
    w.wait(1_000);
    assert!(w.poll(&running()).is_empty());
    w.wait(2_000);
    assert_eq!(w.poll(&failed()), vec![Action::RestartFailed]);
    w.wait(1_000);
    assert!(w.poll(&running()).is_empty());
    w.wait(1_000);
    assert_eq!(w.poll(&failed()), vec![Action::Pause]);
    assert_eq!(w.phase(), Phase::Holding);
    assert_eq!(w.rec.as_ref().unwrap().attempts, 1);
    w.poll(&paused_failed());
    // The database still looks up, but the next attempt waits for fresh probes and the backoff.
    let not_before = w.rec.as_ref().unwrap().not_before;
    assert!(not_before > w.now);
    w.probe(true);
    w.wait(1_000);
    w.probe(true);
    assert!(
        w.poll(&paused_failed()).is_empty(),
        "not before the backoff"
    );
    w.now = not_before;
    w.probe(true);
    assert_eq!(
        w.poll(&paused_failed()),
        vec![Action::Resume, Action::RestartFailed]
    );
    assert_eq!(w.rec.as_ref().unwrap().attempts, 2);
}

#[test]
fn paused_status_right_after_our_resume_is_not_a_human() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    w.poll(&paused_failed());
    assert_eq!(w.phase(), Phase::Verifying);
    // Resume is asynchronous: the next poll can still read PAUSED.
    w.wait(100);
    assert!(w.poll(&paused_failed()).is_empty());
    assert_eq!(w.phase(), Phase::Verifying);
    w.poll(&running());
    // Now it ran; a pause after that is someone else's.
    w.poll(&conn(ConnState::Paused, &[(ConnState::Paused, None)]));
    assert_eq!(w.phase(), Phase::Watching);
    assert!(w
        .events
        .iter()
        .any(|e| matches!(e, Event::HandedBack { .. })));
}

#[test]
fn verification_timeout_counts_as_a_failed_attempt() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    w.poll(&paused_failed());
    let restarting = conn(ConnState::Running, &[(ConnState::Restarting, None)]);
    w.wait(MIN);
    assert!(w.poll(&restarting).is_empty());
    w.wait(w.s.verify_timeout);
    assert_eq!(w.poll(&restarting), vec![Action::Pause]);
}

#[test]
fn a_connector_missing_from_the_listing_is_dropped_only_once_confirmed_deleted() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    // A restarting worker lists nothing for a while: any number of empty polls keep the hold,
    // send nothing, and the maximum wait keeps running.
    for _ in 0..50 {
        w.wait(5_000);
        assert!(w.poll_with(None, ActionResult::Ok).is_empty());
    }
    assert_eq!(w.phase(), Phase::Waiting);
    w.wait(30 * MIN);
    w.poll_with(None, ActionResult::Ok);
    assert_eq!(
        w.phase(),
        Phase::TimedOut,
        "the max wait ran on while it was missing"
    );
    assert_eq!(w.count(|e| matches!(e, Event::TimedOut { .. })), 1);
    w.poll(&paused_failed());
    assert_eq!(w.rec.as_ref().unwrap().missing_polls, 0);
    // Deleted: the supervisor confirmed it (a healthy worker answers 404 for its status).
    w.gone = true;
    for _ in 0..3 {
        w.poll_with(None, ActionResult::Ok);
    }
    assert_eq!(w.phase(), Phase::Watching);
    assert!(w.events.iter().any(|e| matches!(e, Event::Deleted { .. })));
}

#[test]
fn hold_with_stop_confirms_on_stopped_and_resumes_without_restart() {
    let mut w = World::new();
    w.s.hold_with = HoldWith::Stop;
    w.probe(false);
    assert_eq!(w.poll(&failed()), vec![Action::Stop]);
    // Tasks linger for a moment, then the list is empty.
    w.poll(&conn(
        ConnState::Stopped,
        &[(ConnState::Failed, Some(ORA_DOWN))],
    ));
    assert_eq!(w.phase(), Phase::Waiting);
    w.poll(&conn(ConnState::Stopped, &[]));
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    assert_eq!(w.poll(&conn(ConnState::Stopped, &[])), vec![Action::Resume]);
    assert!(!w.sent.contains(&Action::RestartFailed));
}

#[test]
fn failed_connector_refusing_paused_counts_as_held_once_accepted() {
    let mut w = World::new();
    w.probe(false);
    let mut c = failed();
    c.state = ConnState::Failed;
    c.trace = Some(ORA_DOWN.into());
    assert_eq!(w.poll(&c), vec![Action::Pause]);
    w.poll(&c);
    assert_eq!(
        w.phase(),
        Phase::Waiting,
        "a FAILED connector refuses PAUSED; the accepted pause is the hold"
    );
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    w.poll(&c);
    assert!(w.sent.contains(&Action::RestartFailed));
}

#[test]
fn an_unconfirmed_hold_is_sent_again() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.wait(w.s.confirm_timeout);
    assert_eq!(w.poll(&failed()), vec![Action::Pause]);
    assert!(w
        .events
        .iter()
        .any(|e| matches!(e, Event::HoldResent { .. })));
}

#[test]
fn record_survives_a_restart_mid_wait() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    let json = serde_json::to_string(w.rec.as_ref().unwrap()).unwrap();
    // A new process: fresh probe history, same record.
    let mut w2 = World::new();
    w2.now = w.now + 5 * MIN;
    w2.rec = Some(serde_json::from_str(&json).unwrap());
    w2.probe(false);
    assert!(
        w2.poll(&paused_failed()).is_empty(),
        "no action twice, no human-pause confusion"
    );
    assert_eq!(w2.phase(), Phase::Waiting);
    w2.probe(true);
    w2.wait(MIN);
    w2.probe(true);
    assert_eq!(
        w2.poll(&paused_failed()),
        vec![Action::Resume, Action::RestartFailed]
    );
}

#[test]
fn dry_run_logs_what_it_would_do_and_ends() {
    let mut w = World::new();
    w.s.dry_run = true;
    w.probe(false);
    assert_eq!(
        w.poll_with(Some(&failed()), ActionResult::DryRun),
        vec![Action::Pause]
    );
    assert_eq!(w.phase(), Phase::Waiting);
    // The connector is not really paused; that is not a human's resume.
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    assert_eq!(
        w.poll_with(Some(&failed()), ActionResult::DryRun),
        vec![Action::Resume, Action::RestartFailed]
    );
    w.poll_with(Some(&failed()), ActionResult::DryRun);
    assert!(w.events.iter().any(|e| matches!(
        e,
        Event::Recovered {
            outcome: Outcome::DryRun,
            ..
        }
    )));
    assert!(w
        .events
        .iter()
        .all(|e| !matches!(e, Event::ActionOk { dry_run: false, .. })));
}

#[test]
fn backoff_is_capped_and_spread() {
    let a = backoff("a", 10, 1_000, 30_000);
    let b = backoff("b", 10, 1_000, 30_000);
    assert!((24_000..=36_000).contains(&a) && (24_000..=36_000).contains(&b));
    assert_ne!(a, b, "two connectors do not retry in lock-step");
    assert_eq!(
        backoff("a", 3, 1_000, 30_000),
        backoff("a", 3, 1_000, 30_000)
    );
}

// --- Planned maintenance windows -------------------------------------------------------------

fn at(rfc3339: &str) -> Millis {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis() as Millis
}

fn window(when: &str) -> crate::core::windows::Window {
    crate::core::windows::Window {
        schedule: crate::core::windows::parse_when(when).unwrap(),
        connectors: vec![],
        targets: vec![],
        source: "test".into(),
    }
}

fn paused() -> ConnectorObs {
    conn(ConnState::Paused, &[(ConnState::Paused, None)])
}

impl World {
    /// A world at `start` with one window, the database up and the connector healthy.
    fn nightly(when: &str, start: &str) -> World {
        let mut w = World::new();
        w.windows = vec![window(when)];
        w.now = at(start);
        w.probe(true);
        assert!(w.poll(&running()).is_empty());
        w
    }
    /// Minute by minute until `t`: one probe (`up`) and one poll of `c` each minute. Returns
    /// the actions with the time they were decided.
    fn minutes_until(&mut self, t: Millis, c: &ConnectorObs, up: bool) -> Vec<(Millis, Action)> {
        let mut out = vec![];
        while self.now + MIN <= t {
            self.wait(MIN);
            self.probe(up);
            let now = self.now;
            out.extend(self.poll(c).into_iter().map(|a| (now, a)));
        }
        out
    }
    fn reason(&self) -> String {
        self.rec
            .as_ref()
            .map(|r| r.reason.as_str().to_string())
            .unwrap_or_default()
    }
}

#[test]
fn maintenance_window_holds_at_its_start_and_resumes_at_its_end_once_the_database_is_back() {
    // The runbook's night in Seoul: hold at 01:50, backup 01:55-02:20, resume at 02:30.
    let mut w = World::nightly(
        "Mon-Sun 01:50-02:30 Asia/Seoul",
        "2026-11-22T01:40:00+09:00",
    );
    let acts = w.minutes_until(at("2026-11-22T01:49:00+09:00"), &running(), true);
    assert!(acts.is_empty(), "nothing before the window");
    w.wait(MIN);
    w.probe(true);
    assert_eq!(
        w.poll(&running()),
        vec![Action::Pause],
        "held at 01:50 although the database is still up"
    );
    assert_eq!(w.reason(), "maintenance");
    assert!(w.events.contains(&Event::HoldStarted {
        reason: HoldReason::Maintenance,
        position: None,
    }));
    w.wait(5_000);
    assert!(w.poll(&paused()).is_empty());
    assert_eq!(w.phase(), Phase::Waiting, "same confirmation as any hold");
    w.now -= 5_000;
    assert!(w
        .minutes_until(at("2026-11-22T01:54:00+09:00"), &paused(), true)
        .is_empty());
    assert!(w
        .minutes_until(at("2026-11-22T02:19:00+09:00"), &paused(), false)
        .is_empty());
    assert!(w
        .minutes_until(at("2026-11-22T02:29:00+09:00"), &paused(), true)
        .is_empty());
    w.wait(MIN);
    w.probe(true);
    assert_eq!(w.poll(&paused()), vec![Action::Resume], "02:30: the end");
    w.wait(5_000);
    w.poll(&running());
    w.wait(w.s.verify_window);
    w.poll(&running());
    assert_eq!(w.phase(), Phase::Watching);
    assert!(w.events.iter().any(|e| matches!(
        e,
        Event::Recovered {
            outcome: Outcome::Recovered,
            ..
        }
    )));
    // The next night it happens again.
    w.now = at("2026-11-22T03:00:00+09:00");
    let acts = w.minutes_until(at("2026-11-23T01:50:00+09:00"), &running(), true);
    assert_eq!(acts, vec![(at("2026-11-23T01:50:00+09:00"), Action::Pause)]);
}

#[test]
fn overrunning_backup_times_out_with_reason_maintenance_counted_from_the_window_end() {
    let mut w = World::nightly(
        "Mon-Sun 01:50-02:30 Asia/Seoul",
        "2026-11-22T01:49:00+09:00",
    );
    let acts = w.minutes_until(at("2026-11-22T01:50:00+09:00"), &running(), true);
    assert_eq!(acts.len(), 1);
    // The backup takes the database down at 01:55 and is still running long after 02:30;
    // the task fails behind the pause meanwhile.
    w.minutes_until(at("2026-11-22T01:55:00+09:00"), &paused(), true);
    let acts = w.minutes_until(at("2026-11-22T02:59:00+09:00"), &paused_failed(), false);
    assert!(
        acts.is_empty(),
        "not resumed into a database still down: {acts:?}"
    );
    assert_eq!(
        w.phase(),
        Phase::Waiting,
        "the 30-minute wait starts at the end of the window, not at the hold"
    );
    let acts = w.minutes_until(at("2026-11-22T03:00:00+09:00"), &paused_failed(), false);
    assert!(acts.is_empty());
    assert_eq!(w.phase(), Phase::TimedOut);
    assert_eq!(w.reason(), "maintenance");
    assert!(w.events.iter().any(|e| matches!(
        e,
        Event::TimedOut { elapsed, .. } if *elapsed == 30 * MIN
    )));
    // No second recovery was started for the failed probes or the FAILED task.
    assert_eq!(w.count(|e| matches!(e, Event::HoldStarted { .. })), 1);
    assert_eq!(w.sent, vec![Action::Pause]);
    // --after-timeout hold: still held when it comes back; a human takes over.
    let acts = w.minutes_until(at("2026-11-22T03:10:00+09:00"), &paused_failed(), true);
    assert!(acts.is_empty());
    assert_eq!(w.count(|e| matches!(e, Event::TimedOut { .. })), 1);
}

#[test]
fn backup_finishing_early_still_resumes_only_at_the_window_end() {
    let mut w = World::nightly(
        "Mon-Sun 01:50-02:30 Asia/Seoul",
        "2026-11-22T01:49:00+09:00",
    );
    w.minutes_until(at("2026-11-22T01:50:00+09:00"), &running(), true);
    w.minutes_until(at("2026-11-22T01:52:00+09:00"), &paused(), true);
    w.minutes_until(at("2026-11-22T02:05:00+09:00"), &paused_failed(), false);
    // Back at 02:06, with far more than --up-after successes before 02:30.
    let acts = w.minutes_until(at("2026-11-22T02:29:00+09:00"), &paused_failed(), true);
    assert!(acts.is_empty(), "{acts:?}");
    assert_eq!(w.phase(), Phase::Waiting);
    let acts = w.minutes_until(at("2026-11-22T02:30:00+09:00"), &paused_failed(), true);
    assert_eq!(
        acts,
        vec![
            (at("2026-11-22T02:30:00+09:00"), Action::Resume),
            (at("2026-11-22T02:30:00+09:00"), Action::RestartFailed)
        ],
        "resumed at the end, and the FAILED task restarted"
    );
}

#[test]
fn spring_forward_night_in_new_york_holds_the_window_for_its_full_hour() {
    // 2026-03-08: 02:00 EST becomes 03:00 EDT; the window's 02:30 end does not exist.
    let mut w = World::nightly(
        "daily 01:30-02:30 America/New_York",
        "2026-03-08T01:20:00-05:00",
    );
    let acts = w.minutes_until(at("2026-03-08T01:30:00-05:00"), &running(), true);
    assert_eq!(acts, vec![(at("2026-03-08T01:30:00-05:00"), Action::Pause)]);
    let acts = w.minutes_until(at("2026-03-08T03:29:00-04:00"), &paused(), true);
    assert!(acts.is_empty(), "held until 03:30 EDT: {acts:?}");
    let acts = w.minutes_until(at("2026-03-08T03:30:00-04:00"), &paused(), true);
    assert_eq!(
        acts,
        vec![(at("2026-03-08T03:30:00-04:00"), Action::Resume)]
    );
}

#[test]
fn fall_back_night_in_new_york_holds_through_both_one_thirties() {
    // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 to 02:00 happens twice.
    let mut w = World::nightly(
        "daily 01:30-02:30 America/New_York",
        "2026-11-01T01:20:00-04:00",
    );
    let acts = w.minutes_until(at("2026-11-01T01:30:00-04:00"), &running(), true);
    assert_eq!(acts, vec![(at("2026-11-01T01:30:00-04:00"), Action::Pause)]);
    // Two hours of wall clock 01:30-02:30: the first 01:30 to the only 02:30.
    let acts = w.minutes_until(at("2026-11-01T02:29:00-05:00"), &paused(), true);
    assert!(acts.is_empty(), "{acts:?}");
    let acts = w.minutes_until(at("2026-11-01T02:30:00-05:00"), &paused(), true);
    assert_eq!(
        acts,
        vec![(at("2026-11-01T02:30:00-05:00"), Action::Resume)]
    );
}

#[test]
fn window_across_midnight_holds_until_the_next_day() {
    let mut w = World::nightly("daily 23:30-00:30 UTC", "2026-11-21T23:00:00Z");
    let acts = w.minutes_until(at("2026-11-21T23:30:00Z"), &running(), true);
    assert_eq!(acts, vec![(at("2026-11-21T23:30:00Z"), Action::Pause)]);
    let acts = w.minutes_until(at("2026-11-22T00:29:00Z"), &paused(), true);
    assert!(acts.is_empty(), "held past midnight: {acts:?}");
    let acts = w.minutes_until(at("2026-11-22T00:30:00Z"), &paused(), true);
    assert_eq!(acts, vec![(at("2026-11-22T00:30:00Z"), Action::Resume)]);
}

#[test]
fn a_connector_a_human_paused_before_the_window_stays_the_humans() {
    let mut w = World::nightly(
        "Mon-Sun 01:50-02:30 Asia/Seoul",
        "2026-11-22T01:40:00+09:00",
    );
    // The on-call paused it at 01:45 for their own reasons.
    let acts = w.minutes_until(at("2026-11-22T01:45:00+09:00"), &running(), true);
    assert!(acts.is_empty());
    let mut acts = w.minutes_until(at("2026-11-22T02:10:00+09:00"), &paused(), true);
    acts.extend(w.minutes_until(at("2026-11-22T03:10:00+09:00"), &paused(), false));
    assert!(acts.is_empty(), "neither held nor resumed: {acts:?}");
    assert_eq!(w.phase(), Phase::Watching);
    // Stopped by a human: the same.
    w.now = at("2026-11-23T01:40:00+09:00");
    let acts = w.minutes_until(
        at("2026-11-23T03:00:00+09:00"),
        &conn(ConnState::Stopped, &[]),
        true,
    );
    assert!(acts.is_empty());
    assert!(w.sent.is_empty());
}

#[test]
fn human_resume_during_a_window_is_not_fought() {
    let mut w = World::nightly(
        "Mon-Sun 01:50-02:30 Asia/Seoul",
        "2026-11-22T01:49:00+09:00",
    );
    w.minutes_until(at("2026-11-22T01:50:00+09:00"), &running(), true);
    w.minutes_until(at("2026-11-22T02:00:00+09:00"), &paused(), true);
    // The on-call resumes it at 02:01 (the backup was cancelled): handed back, not re-held,
    // although the database stays up and the window goes on.
    let acts = w.minutes_until(at("2026-11-22T02:40:00+09:00"), &running(), true);
    assert!(acts.is_empty(), "{acts:?}");
    assert!(w
        .events
        .iter()
        .any(|e| matches!(e, Event::HandedBack { .. })));
    assert_eq!(w.phase(), Phase::Watching);
    assert!(w.handed_back.is_none(), "forgotten once the window is over");
    assert_eq!(w.sent, vec![Action::Pause]);
}

#[test]
fn agent_started_in_the_middle_of_a_window_holds_at_once() {
    let mut w = World::new();
    w.windows = vec![window("Mon-Sun 01:50-02:30 Asia/Seoul")];
    w.now = at("2026-11-22T02:10:00+09:00");
    w.probe(true);
    assert_eq!(w.poll(&running()), vec![Action::Pause]);
    assert_eq!(w.reason(), "maintenance");
}

#[test]
fn agent_restarted_inside_a_window_remembers_its_maintenance_hold() {
    let mut w = World::nightly(
        "Mon-Sun 01:50-02:30 Asia/Seoul",
        "2026-11-22T01:49:00+09:00",
    );
    w.minutes_until(at("2026-11-22T01:50:00+09:00"), &running(), true);
    w.minutes_until(at("2026-11-22T02:00:00+09:00"), &paused(), true);
    let json = serde_json::to_string(w.rec.as_ref().unwrap()).unwrap();
    assert!(json.contains("\"reason\":\"maintenance\""), "{json}");

    // A new process at 02:05: fresh probe history, the record from the state file.
    let mut w2 = World::new();
    w2.windows = w.windows.clone();
    w2.now = at("2026-11-22T02:05:00+09:00");
    w2.rec = Some(serde_json::from_str(&json).unwrap());
    w2.probe(true);
    assert!(
        w2.poll(&paused()).is_empty(),
        "not a human's pause, not resumed"
    );
    let acts = w2.minutes_until(at("2026-11-22T02:29:00+09:00"), &paused(), true);
    assert!(acts.is_empty(), "{acts:?}");
    assert_eq!(w2.reason(), "maintenance");
    let acts = w2.minutes_until(at("2026-11-22T02:30:00+09:00"), &paused(), true);
    assert_eq!(
        acts,
        vec![(at("2026-11-22T02:30:00+09:00"), Action::Resume)]
    );

    // Restarted after the window with the backup still running: the wait counts from 02:30,
    // from the record alone (the window is not active any more).
    let mut w3 = World::new();
    w3.windows = w.windows.clone();
    w3.now = at("2026-11-22T02:45:00+09:00");
    w3.rec = Some(serde_json::from_str(&json).unwrap());
    let acts = w3.minutes_until(at("2026-11-22T02:59:00+09:00"), &paused(), false);
    assert!(acts.is_empty());
    assert_eq!(w3.phase(), Phase::Waiting);
    w3.minutes_until(at("2026-11-22T03:00:00+09:00"), &paused(), false);
    assert_eq!(w3.phase(), Phase::TimedOut);
}

#[test]
fn outage_recovery_under_way_when_a_window_starts_keeps_its_reason() {
    let mut w = World::nightly(
        "Mon-Sun 01:50-02:30 Asia/Seoul",
        "2026-11-22T01:39:00+09:00",
    );
    // 01:40 an unplanned outage: the task fails, the agent holds it.
    w.wait(MIN);
    w.probe(false);
    assert_eq!(w.poll(&failed()), vec![Action::Pause]);
    w.poll(&paused_failed());
    assert_eq!(w.reason(), "task_failed");
    // The window starts at 01:50; the database comes back at 02:00, mid-window.
    let mut acts = w.minutes_until(at("2026-11-22T01:59:00+09:00"), &paused_failed(), false);
    acts.extend(w.minutes_until(at("2026-11-22T02:29:00+09:00"), &paused_failed(), true));
    assert!(
        acts.is_empty(),
        "no second hold, no resume into the window: {acts:?}"
    );
    assert_eq!(w.reason(), "task_failed", "reason unchanged");
    assert_eq!(w.count(|e| matches!(e, Event::HoldStarted { .. })), 1);
    assert_eq!(
        w.count(|e| matches!(e, Event::TimedOut { .. })),
        0,
        "40 minutes held, but the wait counts from the window's end"
    );
    let acts = w.minutes_until(at("2026-11-22T02:30:00+09:00"), &paused_failed(), true);
    assert_eq!(
        acts,
        vec![
            (at("2026-11-22T02:30:00+09:00"), Action::Resume),
            (at("2026-11-22T02:30:00+09:00"), Action::RestartFailed)
        ]
    );
}

#[test]
fn a_record_from_before_windows_existed_still_loads() {
    let old = r#"{"phase":"waiting","reason":"probe_failed","target":"db:1521","started_at":1000,"held_at":1000,"hold_with":"pause","hold_confirmed":true}"#;
    let r: Record = serde_json::from_str(old).unwrap();
    assert_eq!(r.wait_from, 0);
    let mut w = World::new();
    w.now = 1000 + 30 * MIN;
    w.rec = Some(r);
    w.probe(false);
    w.poll(&paused());
    assert_eq!(
        w.phase(),
        Phase::TimedOut,
        "the wait still counts from its start"
    );
}

#[test]
fn a_task_that_fails_only_after_the_resume_is_restarted_while_the_database_answers() {
    let mut w = World::new();
    w.probe(true);
    w.poll(&running());
    // Held on failed probes while the task still read RUNNING: it is PAUSED, not FAILED.
    for _ in 0..3 {
        w.probe(false);
        w.poll(&running());
    }
    let paused = conn(ConnState::Paused, &[(ConnState::Paused, None)]);
    w.poll(&paused);
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    assert_eq!(
        w.poll(&paused),
        vec![Action::Resume],
        "nothing FAILED, nothing to restart"
    );
    // First poll after the resume: the task reports the lost connection.
    w.wait(500);
    assert_eq!(
        w.poll(&failed()),
        vec![Action::RestartFailed],
        "restarted at once, no new hold"
    );
    assert_eq!(w.phase(), Phase::Verifying);
    assert!(w
        .events
        .iter()
        .any(|e| matches!(e, Event::LateFailureRestarted { .. })));
    w.wait(500);
    w.poll(&running());
    w.wait(w.s.verify_window);
    w.poll(&running());
    assert!(w.events.iter().any(|e| matches!(
        e,
        Event::Recovered {
            outcome: Outcome::Recovered,
            attempts: 1,
            ..
        }
    )));
    // Only once per attempt: a second failure goes back to holding.
}

#[test]
fn a_late_failure_with_the_database_down_again_is_held_again() {
    let mut w = World::new();
    for _ in 0..3 {
        w.probe(false);
        w.poll(&running());
    }
    let paused = conn(ConnState::Paused, &[(ConnState::Paused, None)]);
    w.poll(&paused);
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    w.poll(&paused);
    w.probe(false);
    assert_eq!(w.poll(&failed()), vec![Action::Pause]);
}

#[test]
fn a_human_stop_racing_our_unconfirmed_pause_is_the_humans() {
    let mut w = World::new();
    w.probe(false);
    assert_eq!(w.poll(&failed()), vec![Action::Pause]);
    // Before our pause shows, the on-call stops it.
    assert!(w.poll(&conn(ConnState::Stopped, &[])).is_empty());
    assert_eq!(w.phase(), Phase::Watching);
    assert!(w
        .events
        .iter()
        .any(|e| matches!(e, Event::HandedBack { .. })));
    w.wait(w.s.confirm_timeout);
    assert!(
        w.poll(&conn(ConnState::Stopped, &[])).is_empty(),
        "never sent again"
    );
}

// ---- odd nights: 409 storms, a human's pause, blind spots, resumes that never land ----

fn conflict() -> ActionResult {
    ActionResult::Rejected(
        "Kafka Connect answered 409 for PUT /connectors/inv/pause: Cannot complete request momentarily due to no known leader URL".into(),
    )
}

#[test]
fn a_humans_pause_during_a_409_storm_is_not_adopted() {
    let mut w = World::new();
    w.probe(false);
    // Every pause of the agent's is refused (a rebalance).
    assert_eq!(
        w.poll_with(Some(&failed()), conflict()),
        vec![Action::Pause]
    );
    w.wait(w.s.fast_retry);
    assert_eq!(
        w.poll_with(Some(&failed()), conflict()),
        vec![Action::Pause]
    );
    assert!(!w.rec.as_ref().unwrap().hold_pending);
    // An operator pauses it by hand meanwhile: that is theirs, not the agent's hold.
    w.wait(w.s.fast_retry);
    assert!(w.poll_with(Some(&paused_failed()), conflict()).is_empty());
    assert_eq!(w.phase(), Phase::Watching, "handed back, not adopted");
    assert!(w.handed_back.is_some());
    assert_eq!(w.count(|e| matches!(e, Event::HoldConfirmed { .. })), 0);
    // So the database coming back resumes nothing.
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    assert!(w.poll(&paused_failed()).is_empty());
    assert!(!w.sent.contains(&Action::Resume));
}

#[test]
fn a_pause_whose_outcome_is_unknown_counts_as_the_agents_hold() {
    let mut w = World::new();
    w.probe(false);
    // No answer within the timeout: the pause may have landed.
    let timeout = ActionResult::Unknown("Kafka Connect did not answer within 60s".into());
    assert_eq!(w.poll_with(Some(&failed()), timeout), vec![Action::Pause]);
    assert!(w.rec.as_ref().unwrap().hold_pending);
    w.poll(&paused_failed());
    assert_eq!(w.phase(), Phase::Waiting, "its own pause, landed after all");
    // After a crash between the write-ahead and the answer, the same: the record says pending.
    let mut fresh = World::new();
    fresh.probe(false);
    fresh.poll_with(Some(&failed()), ActionResult::Ok);
    let mut r = fresh.rec.clone().unwrap();
    r.hold_sent_at = None;
    r.hold_pending = true;
    r.hold_confirmed = false;
    r.phase = Phase::Holding;
    fresh.rec = Some(r);
    fresh.poll(&paused_failed());
    assert_eq!(fresh.phase(), Phase::Waiting);
}

#[test]
fn records_from_older_agents_count_their_hold_as_pending() {
    let r: Record = serde_json::from_value(serde_json::json!({
        "phase": "holding", "reason": "task_failed", "target": "db:1521",
        "started_at": 1000, "held_at": 1000, "hold_with": "pause"
    }))
    .unwrap();
    assert!(
        r.hold_pending,
        "written ahead of its request by the old agent"
    );
}

#[test]
fn a_409_storm_that_outlasts_the_max_wait_gives_up_and_says_so() {
    let mut w = World::new();
    w.probe(true);
    w.poll(&running());
    for _ in 0..3 {
        w.probe(false);
        w.poll_with(Some(&running()), conflict());
    }
    assert_eq!(w.phase(), Phase::Holding);
    // Refused until the max wait runs out.
    while w.now < 1_700_000_000_000 + 31 * MIN {
        w.wait(1_000);
        w.probe(false);
        w.poll_with(Some(&running()), conflict());
    }
    assert_eq!(w.phase(), Phase::TimedOut);
    let to = w.events.iter().find_map(|e| match e {
        Event::TimedOut { unheld, .. } => Some(unheld.clone()),
        _ => None,
    });
    let unheld = to
        .expect("timed out")
        .expect("says the hold never took effect");
    assert!(unheld.failures > 30, "{unheld:?}");
    assert!(unheld.last_error.as_deref().unwrap().contains("409"));
    assert_eq!(unheld.state, ConnState::Running);
    let r = w.rec.as_ref().unwrap();
    assert!(
        r.gave_up_unheld && !r.hold_in_effect(),
        "managed is 0: nothing is held"
    );
    // Nothing is sent after giving up, whatever happens.
    let sent = w.sent.len();
    for _ in 0..20 {
        w.wait(5_000);
        w.probe(false);
        assert!(w.poll(&running()).is_empty());
    }
    assert_eq!(w.sent.len(), sent);
    // The database comes back and the connector, never held, runs: the recovery is over.
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    assert!(w.poll(&running()).is_empty());
    assert_eq!(w.phase(), Phase::Watching);
    assert_eq!(w.count(|e| matches!(e, Event::EndedUnheld { .. })), 1);
}

#[test]
fn a_hold_that_lands_after_giving_up_is_resumed_once_the_database_is_back() {
    let mut w = World::new();
    w.probe(true);
    w.poll(&running());
    for _ in 0..3 {
        w.probe(false);
        w.poll_with(
            Some(&running()),
            ActionResult::Unknown("no answer within 60s".into()),
        );
    }
    // The agent keeps retrying (at least every 30 s); the last retry before the maximum wait
    // runs out meets no answer either.
    w.wait(29 * MIN);
    w.probe(false);
    w.poll_with(Some(&running()), ActionResult::Unknown("no answer".into()));
    w.wait(2 * MIN);
    w.probe(false);
    w.poll_with(Some(&running()), ActionResult::Unknown("no answer".into()));
    assert_eq!(w.phase(), Phase::TimedOut);
    assert!(w.rec.as_ref().unwrap().gave_up_unheld);
    // That last pause was still in flight (within the action timeout plus Connect's own 90 s):
    // it lands now.
    w.poll(&paused());
    assert_eq!(w.count(|e| matches!(e, Event::LateHoldLanded { .. })), 1);
    assert!(w.rec.as_ref().unwrap().hold_in_effect());
    // With --after-timeout hold a deliberate hold stays; this one was never meant to.
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    assert_eq!(w.poll(&paused()), vec![Action::Resume]);
}

#[test]
fn the_timeout_line_never_says_still_down_when_the_last_probe_succeeded() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    w.wait(30 * MIN);
    w.probe(true); // one success: not yet --up-after (2)
    w.poll(&paused_failed());
    let last = w.events.iter().find_map(|e| match e {
        Event::TimedOut { last_reason, .. } => Some(*last_reason),
        _ => None,
    });
    assert_eq!(last, Some(Some(Reason::Ok)));
}

#[test]
fn blind_probes_never_start_a_hold() {
    // The name does not resolve from the agent (split DNS): Debezium reads RUNNING, so Connect
    // reaches the database. No hold, however many failures.
    let mut w = World::new();
    for _ in 0..20 {
        w.probe.record(Reason::Dns, "cannot resolve db", w.now);
        w.wait(60_000);
        assert!(w.poll(&running()).is_empty());
    }
    assert_eq!(w.phase(), Phase::Watching);
    // A listener that accepts and closes: the same, even after the database answered once.
    let mut w = World::new();
    w.probe(true);
    w.poll(&running());
    for _ in 0..20 {
        w.probe
            .record(Reason::ProtocolError, "closed after connect", w.now);
        w.wait(60_000);
        assert!(w.poll(&running()).is_empty());
    }
    // A target never seen up since the agent started (a NetworkPolicy drops the probes).
    let mut w = World::new();
    for _ in 0..20 {
        w.probe(false);
        w.wait(60_000);
        assert!(w.poll(&running()).is_empty());
    }
    assert_eq!(w.phase(), Phase::Watching);
    assert_eq!(
        w.probe.blind_spot(),
        Some("never answered since the agent started")
    );
    // A FAILED task with an outage trace is still held: Connect itself lost the database.
    assert_eq!(w.poll(&failed()), vec![Action::Pause]);
}

#[test]
fn blind_failures_keep_a_held_connector_held() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    // While held, a blind failure is still "not back": nothing is resumed.
    for _ in 0..5 {
        w.probe.record(Reason::Dns, "cannot resolve db", w.now);
        w.wait(MIN);
        assert!(w.poll(&paused_failed()).is_empty());
    }
    assert_eq!(w.phase(), Phase::Waiting);
}

#[test]
fn a_resume_that_keeps_failing_ends_in_needs_attention() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    // Resumes answered 404 for a connector that is still listed (a proxy, a wrong path).
    assert_eq!(
        w.poll_with(Some(&paused_failed()), ActionResult::NotFound),
        vec![Action::Resume, Action::RestartFailed]
    );
    let mut tries = 1;
    let mut delays = vec![];
    while w.phase() == Phase::Resuming {
        let d = w
            .rec
            .as_ref()
            .unwrap()
            .retry_at
            .saturating_sub(w.now)
            .max(1);
        delays.push(d);
        w.wait(d);
        w.probe(true);
        tries += w
            .poll_with(Some(&paused_failed()), ActionResult::NotFound)
            .len();
        assert!(tries < 500, "bounded");
    }
    assert!(
        delays.iter().any(|d| *d >= 5_000),
        "it backs off: {delays:?}"
    );
    assert!(
        delays.iter().all(|d| *d <= 12_000),
        "no long tail for resumes: {delays:?}"
    );
    assert_eq!(w.phase(), Phase::NeedsAttention);
    assert_eq!(w.reason(), "resume_failed");
    assert_eq!(w.count(|e| matches!(e, Event::ResumeGaveUp { .. })), 1);
    assert!(
        w.rec.as_ref().unwrap().hold_in_effect(),
        "still the agent's hold"
    );
    // Nothing more is sent; a human's resume ends it.
    w.wait(MIN);
    assert!(w.poll(&paused_failed()).is_empty());
    w.poll(&running());
    assert_eq!(w.phase(), Phase::Watching);
}

// ---- seeds the property test (machine_props.rs) found, kept as runbook entries ----

/// Resumed and accepted, but the worker restarted before the agent saw it run; by the time it
/// lists the connector again a human has paused it. Found by the property test: the agent
/// used to read the PAUSED state as "the resume did not hold" and pause it again (taking over
/// the human's pause, to resume it later).
#[test]
fn a_pause_seen_long_after_an_accepted_resume_is_a_humans() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    assert_eq!(
        w.poll(&paused_failed()),
        vec![Action::Resume, Action::RestartFailed]
    );
    assert_eq!(w.phase(), Phase::Verifying);
    // The worker restarts for a long time (the agent sees nothing), a human pauses it.
    for _ in 0..10 {
        w.wait(MIN);
        assert!(w.poll_with(None, ActionResult::Ok).is_empty());
    }
    assert!(w.poll(&paused()).is_empty(), "no pause over the human's");
    assert_eq!(w.phase(), Phase::Watching);
    assert!(w.handed_back.is_some());
}

/// The agent's resume is refused (409) and a human stops the connector meanwhile: found by the
/// property test, the agent used to retry its resume over the human's stop.
#[test]
fn a_stop_while_the_agents_resume_is_refused_is_a_humans() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    w.poll_with(Some(&paused_failed()), ActionResult::Rejected("409".into()));
    assert_eq!(w.phase(), Phase::Resuming);
    w.wait(5_000);
    assert!(w.poll(&conn(ConnState::Stopped, &[])).is_empty());
    assert_eq!(w.phase(), Phase::Watching, "handed back");
}

/// The agent's resume is refused and a human resumes it: RUNNING while none of the agent's
/// resumes can have landed is the human's; a resume whose answer was lost that lands is the
/// agent's own, and the recovery goes on.
#[test]
fn running_during_a_resume_is_a_humans_unless_the_agents_may_have_landed() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    w.poll_with(Some(&paused_failed()), ActionResult::Rejected("409".into()));
    w.wait(500);
    assert!(w.poll(&running()).is_empty());
    assert_eq!(w.phase(), Phase::Watching, "the human's resume");

    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    w.poll_with(
        Some(&paused_failed()),
        ActionResult::Unknown("no answer within 60s".into()),
    );
    w.wait(500);
    // Its own resume landed; the FAILED task still needs its restart.
    assert_eq!(w.poll(&failed()), vec![Action::RestartFailed]);
    assert_eq!(w.phase(), Phase::Verifying);
}

// ---------------------------------------------------------------------------------------------
// Strimzi: connectors held through their KafkaConnector (spec.state and the agent's mark).
// ---------------------------------------------------------------------------------------------

fn resource(desired: Desired, mark: Option<HoldWith>) -> Option<ResourceObs> {
    Some(ResourceObs {
        desired,
        mark,
        reconciliation_paused: false,
    })
}

fn failed_connector() -> ConnectorObs {
    let mut c = conn(ConnState::Failed, &[(ConnState::Failed, Some(ORA_DOWN))]);
    c.trace = Some(ORA_DOWN.into());
    c
}

/// Held through the resource, the hold written (the mark on it) and confirmed (PAUSED).
fn held_through_the_resource() -> World {
    let mut w = World::new();
    w.resource = resource(Desired::Running, None);
    w.probe(false);
    assert_eq!(w.poll(&failed()), vec![Action::Pause]);
    // What the patch wrote; the operator then pauses the connector.
    w.resource = resource(Desired::Paused, Some(HoldWith::Pause));
    w.wait(1000);
    assert!(w.poll(&paused_failed()).is_empty());
    assert_eq!(w.phase(), Phase::Waiting);
    w
}

fn handed_back_because(w: &World) -> Option<String> {
    w.events.iter().find_map(|e| match e {
        Event::HandedBack { why, .. } => Some(why.clone().unwrap_or_default()),
        _ => None,
    })
}

#[test]
fn an_operator_managed_connector_is_held_through_its_resource_a_failed_one_stopped() {
    let w = held_through_the_resource();
    let rec = w.rec.as_ref().unwrap();
    assert_eq!(rec.manager, Manager::Strimzi);
    assert_eq!(rec.hold_with, HoldWith::Pause);

    // A FAILED connector object cannot be paused (Kafka Connect; Strimzi 1.1+ refuses): stopped.
    let mut w = World::new();
    w.resource = resource(Desired::Running, None);
    w.probe(false);
    assert_eq!(w.poll(&failed_connector()), vec![Action::Stop]);
    let rec = w.rec.as_ref().unwrap();
    assert_eq!(
        (rec.manager, rec.hold_with),
        (Manager::Strimzi, HoldWith::Stop)
    );
    // The operator stops it: that is the agent's hold, confirmed.
    w.resource = resource(Desired::Stopped, Some(HoldWith::Stop));
    w.poll(&conn(ConnState::Stopped, &[]));
    assert_eq!(w.phase(), Phase::Waiting);

    // Under pause-reconciliation the operator ignores spec.state: held through REST.
    let mut w = World::new();
    w.resource = Some(ResourceObs {
        desired: Desired::Running,
        mark: None,
        reconciliation_paused: true,
    });
    w.probe(false);
    assert_eq!(w.poll(&failed()), vec![Action::Pause]);
    assert_eq!(w.rec.as_ref().unwrap().manager, Manager::Rest);
}

#[test]
fn a_persons_spec_state_hold_is_theirs_even_before_the_operator_applies_it() {
    for desired in [Desired::Paused, Desired::Stopped, Desired::Other] {
        let mut w = World::new();
        // The connector still reads RUNNING with a FAILED task: the operator has not caught up.
        w.resource = resource(desired, None);
        for _ in 0..5 {
            w.probe(false);
            assert!(w.poll(&failed()).is_empty(), "{desired:?}");
            w.wait(MIN);
        }
        assert_eq!(w.phase(), Phase::Watching);
    }
}

#[test]
fn spec_state_running_over_the_agents_hold_is_a_hand_back_and_is_not_fought() {
    let mut w = held_through_the_resource();
    w.wait(MIN);
    w.probe(false);
    // A person sets spec.state: running; the operator has not resumed it yet.
    w.resource = resource(Desired::Running, Some(HoldWith::Pause));
    assert!(w.poll(&paused_failed()).is_empty());
    assert_eq!(w.phase(), Phase::Watching);
    let why = handed_back_because(&w).expect("handed back");
    assert!(why.contains("spec.state was set to running"), "{why}");
    assert!(w.handed_back.is_some());
    // The mark goes (the supervisor clears it); the database is still down: no new hold.
    w.resource = resource(Desired::Running, None);
    for _ in 0..5 {
        w.wait(MIN);
        w.probe(false);
        assert!(w.poll(&failed()).is_empty());
    }
}

#[test]
fn the_agents_mark_removed_or_another_state_set_is_a_hand_back() {
    // The mark removed, spec.state left paused: the person keeps it held, as theirs.
    let mut w = held_through_the_resource();
    w.resource = resource(Desired::Paused, None);
    assert!(w.poll(&paused_failed()).is_empty());
    let why = handed_back_because(&w).expect("handed back");
    assert!(why.contains("without the agent's mark"), "{why}");
    // The mark removed and spec.state running.
    let mut w = held_through_the_resource();
    w.resource = resource(Desired::Running, None);
    assert!(w.poll(&paused_failed()).is_empty());
    let why = handed_back_because(&w).expect("handed back");
    assert!(why.contains("annotation was removed"), "{why}");
    // stopped over the agent's paused.
    let mut w = held_through_the_resource();
    w.resource = resource(Desired::Stopped, Some(HoldWith::Pause));
    assert!(w.poll(&paused_failed()).is_empty());
    assert!(handed_back_because(&w).is_some());
    assert_eq!(w.phase(), Phase::Watching);
}

#[test]
fn before_the_agents_hold_is_written_no_mark_is_no_hand_back() {
    let mut w = World::new();
    w.resource = resource(Desired::Running, None);
    w.probe(false);
    // The hold is refused (the API answered 5xx): the resource has no mark, and that is fine.
    w.poll_with(
        Some(&failed()),
        ActionResult::Rejected("Kubernetes API: 503".into()),
    );
    w.wait(5_000);
    assert_eq!(w.poll(&failed()), vec![Action::Pause], "retried");
    assert_eq!(w.phase(), Phase::Holding);
    assert!(handed_back_because(&w).is_none());
    // Written now (mark on); the operator has not paused it yet: still the agent's hold.
    w.resource = resource(Desired::Paused, Some(HoldWith::Pause));
    w.wait(1000);
    assert!(w.poll(&failed()).is_empty());
    assert_eq!(w.phase(), Phase::Holding);
}

#[test]
fn a_declined_write_ends_the_recovery_as_handed_back_and_is_never_retried() {
    let mut w = World::new();
    w.resource = resource(Desired::Running, None);
    w.probe(false);
    // Between the list and the write a person paused it through the resource.
    w.poll_with(
        Some(&failed()),
        ActionResult::Declined("spec.state is paused without our mark: a human's hold".into()),
    );
    assert!(w
        .events
        .iter()
        .any(|e| matches!(e, Event::ActionDeclined { .. })));
    w.wait(1000);
    w.resource = resource(Desired::Paused, None);
    assert!(w.poll(&failed()).is_empty(), "never retried");
    assert_eq!(w.phase(), Phase::Watching);
    let why = handed_back_because(&w).expect("handed back");
    assert!(why.contains("a human's hold"), "{why}");
    for _ in 0..3 {
        w.wait(MIN);
        w.probe(false);
        assert!(w.poll(&paused_failed()).is_empty());
    }
}

#[test]
fn a_release_whose_answer_was_lost_is_seen_on_the_resource_and_not_taken_for_a_person() {
    let mut w = held_through_the_resource();
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    // The release times out (it may have landed).
    let sent = w.poll_with(
        Some(&paused_failed()),
        ActionResult::Unknown("no answer within 10s".into()),
    );
    assert_eq!(sent, vec![Action::Resume, Action::RestartFailed]);
    assert_eq!(w.phase(), Phase::Resuming);
    // It had landed: running, no mark; the operator has not resumed the connector yet.
    w.resource = resource(Desired::Running, None);
    w.wait(1000);
    let sent = w.poll(&paused_failed());
    assert_eq!(sent, vec![Action::RestartFailed], "no second release");
    assert!(handed_back_because(&w).is_none());
    assert_eq!(w.phase(), Phase::Verifying);
    // After the release, a person's pause on the resource is theirs.
    w.resource = resource(Desired::Paused, None);
    w.wait(1000);
    assert!(w.poll(&running()).is_empty());
    assert!(handed_back_because(&w).is_some());
}

#[test]
fn without_a_resource_nothing_changes() {
    let mut w = World::new();
    w.probe(false);
    assert_eq!(w.poll(&failed()), vec![Action::Pause]);
    assert_eq!(w.rec.as_ref().unwrap().manager, Manager::Rest);
    w.poll(&paused_failed());
    assert_eq!(w.phase(), Phase::Waiting);
}
