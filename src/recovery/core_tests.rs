//! Scenario tests of the pure core: each reads like a runbook entry, on virtual time.

use super::*;

const ORA_DOWN: &str = "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\n\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\nCaused by: java.sql.SQLRecoverableException: IO Error: The Network Adapter could not establish the connection";
const SCN_GONE: &str = "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\nCaused by: io.debezium.DebeziumException: Online REDO LOG files or archive log files do not contain the offset scn 1234. Please perform a new snapshot.";
const MIN: Millis = 60_000;

fn conn(state: State, tasks: &[(State, Option<&str>)]) -> ConnectorObs {
    ConnectorObs {
        state,
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
    conn(State::Running, &[(State::Running, None)])
}
fn failed() -> ConnectorObs {
    conn(State::Running, &[(State::Failed, Some(ORA_DOWN))])
}
fn paused_failed() -> ConnectorObs {
    conn(State::Paused, &[(State::Failed, Some(ORA_DOWN))])
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
        }
    }
    fn probe(&mut self, up: bool) {
        let (r, d) = if up {
            ("ok", "")
        } else {
            ("refused", "connection refused")
        };
        self.probe.record(up, r, d, self.now);
    }
    /// One poll: decide, then "send" every action with the given result.
    fn poll_with(&mut self, c: Option<&ConnectorObs>, result: ActionResult) -> Vec<Action> {
        let input = Input {
            now: self.now,
            conn: c,
            target: Some("db:1521"),
            probe: Some(&self.probe),
            settings: &self.s,
            handed_back_at: self.handed_back,
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
    assert_eq!(w.rec.as_ref().unwrap().reason, "task_failed");

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
    for i in 1..=2 {
        w.probe(false);
        assert!(
            w.poll(&running()).is_empty(),
            "{i} failed probe(s) are not an outage yet"
        );
    }
    w.probe(false);
    assert_eq!(w.poll(&running()), vec![Action::Pause]);
    assert_eq!(w.rec.as_ref().unwrap().reason, "probe_failed");
    w.wait(2_000);
    w.poll(&conn(State::Paused, &[(State::Paused, None)]));
    assert_eq!(w.phase(), Phase::Waiting);
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    assert_eq!(
        w.poll(&conn(State::Paused, &[(State::Paused, None)])),
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
        } => Some((*elapsed, last_reason.clone())),
        _ => None,
    });
    assert_eq!(to, Some((30 * MIN, "refused".to_string())));
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
        assert!(w.poll(&conn(State::Stopped, &[])).is_empty());
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
        .poll(&conn(State::Running, &[(State::Running, None)]))
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
        State::Running,
        &[
            (State::Failed, Some(SCN_GONE)),
            (State::Failed, Some(ORA_DOWN)),
        ],
    );
    for _ in 0..5 {
        assert!(w.poll(&c).is_empty());
        w.wait(MIN);
    }
    assert_eq!(w.phase(), Phase::NeedsAttention);
    assert_eq!(w.rec.as_ref().unwrap().reason, "offset_unavailable");
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
        State::Running,
        &[(
            State::Failed,
            Some("org.apache.kafka.connect.errors.DataException: Failed to deserialize"),
        )],
    );
    assert!(w.poll(&c).is_empty());
    assert_eq!(w.rec.as_ref().unwrap().reason, "unclassified_failure");
}

#[test]
fn conflicts_are_retried_with_capped_exponential_backoff() {
    let mut w = World::new();
    w.probe(false);
    let busy = ActionResult::Failed(
        "409 Cannot complete request momentarily due to no known leader URL".into(),
    );
    assert_eq!(
        w.poll_with(Some(&failed()), busy.clone()),
        vec![Action::Pause]
    );
    let mut delays = vec![];
    for _ in 0..8 {
        let r = w.rec.as_ref().unwrap();
        let d = r.retry_at - w.now;
        delays.push(d);
        // Polling before retry_at sends nothing.
        assert!(w.poll_with(Some(&failed()), busy.clone()).is_empty());
        w.wait(d);
        assert_eq!(
            w.poll_with(Some(&failed()), busy.clone()),
            vec![Action::Pause]
        );
    }
    assert!(delays[1] > delays[0] && delays[2] > delays[1], "{delays:?}");
    assert!(
        delays.iter().all(|d| *d <= 36_000),
        "capped at 30s + jitter: {delays:?}"
    );
    assert!(
        w.count(|e| matches!(e, Event::ActionFailed { .. })) >= 9,
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
    // The task fails again during verification.
    w.wait(3_000);
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
fn verification_timeout_counts_as_a_failed_attempt() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    w.poll(&paused_failed());
    let restarting = conn(State::Running, &[(State::Restarting, None)]);
    w.wait(MIN);
    assert!(w.poll(&restarting).is_empty());
    w.wait(w.s.verify_timeout);
    assert_eq!(w.poll(&restarting), vec![Action::Pause]);
}

#[test]
fn a_connector_missing_from_one_poll_is_not_dropped() {
    let mut w = World::new();
    w.probe(false);
    w.poll(&failed());
    w.poll(&paused_failed());
    // Kafka Connect can list nothing while it starts: two empty polls change nothing.
    w.poll_with(None, ActionResult::Ok);
    w.poll_with(None, ActionResult::Ok);
    assert_eq!(w.phase(), Phase::Waiting);
    w.poll(&paused_failed());
    assert_eq!(w.rec.as_ref().unwrap().missing_polls, 0);
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
    w.poll(&conn(State::Stopped, &[(State::Failed, Some(ORA_DOWN))]));
    assert_eq!(w.phase(), Phase::Waiting);
    w.poll(&conn(State::Stopped, &[]));
    w.probe(true);
    w.wait(MIN);
    w.probe(true);
    assert_eq!(w.poll(&conn(State::Stopped, &[])), vec![Action::Resume]);
    assert!(!w.sent.contains(&Action::RestartFailed));
}

#[test]
fn failed_connector_refusing_paused_counts_as_held_once_accepted() {
    let mut w = World::new();
    w.probe(false);
    let mut c = failed();
    c.state = State::Failed;
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
