//! A resume judged by progress, on virtual time, through the core's `step` and
//! `apply_result` as the supervisor calls them.

use cdc_sentinel_probe::Reason;

use crate::core::decision::{Action, ActionResult, Event, Input, Outcome};
use crate::core::machine::{apply_result, step};
use crate::core::observe::{ConnState, ConnectorObs, ProbeObs, TaskObs};
use crate::core::offsets::{ByState, Expect, Judged, OffsetObs, Position};
use crate::core::record::{Phase, Record, RecordReason};
use crate::core::settings::Settings;
use crate::core::Millis;

const S: Millis = 1000;
const MIN: Millis = 60 * S;
const ORA_DOWN: &str = "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\nCaused by: java.sql.SQLRecoverableException: IO Error: The Network Adapter could not establish the connection";

fn conn(state: ConnState, task: ConnState, trace: Option<&str>) -> ConnectorObs {
    ConnectorObs {
        state,
        state_name: None,
        trace: None,
        tasks: vec![TaskObs {
            id: 0,
            state: task,
            trace: trace.map(str::to_string),
        }],
    }
}
fn running() -> ConnectorObs {
    conn(ConnState::Running, ConnState::Running, None)
}

struct World {
    s: Settings,
    rec: Option<Record>,
    probe: ProbeObs,
    now: Millis,
    offsets: Option<OffsetObs>,
    expect: Expect,
    events: Vec<Event>,
    sent: Vec<Action>,
}

impl World {
    fn new(expect: Expect) -> World {
        World {
            s: Settings::default(),
            rec: None,
            probe: ProbeObs::default(),
            now: 1_700_000_000_000,
            offsets: None,
            expect,
            events: vec![],
            sent: vec![],
        }
    }
    /// The supervisor's read of the committed offsets, now.
    fn read(&mut self, lsn: u64) {
        self.offsets = Some(OffsetObs {
            position: Some(Position::Lsn(lsn)),
            snapshot: false,
            read_at: self.now,
            expect: self.expect,
        });
    }
    fn poll(&mut self, c: &ConnectorObs) -> Vec<Action> {
        let input = Input {
            now: self.now,
            conn: Some(c),
            gone: false,
            target: Some("db:5432"),
            probe: Some(&self.probe),
            settings: &self.s,
            handed_back_at: None,
            maintenance: None,
            resource: None,
            offsets: self.offsets,
        };
        let d = step("pg", self.rec.as_ref(), &input);
        self.events.extend(d.events.clone());
        self.rec = d.record;
        for a in &d.actions {
            let rec = self.rec.as_mut().expect("actions come with a record");
            let ev = apply_result("pg", rec, *a, &ActionResult::Ok, self.now, &self.s);
            self.events.extend(ev);
        }
        self.sent.extend(d.actions.iter().copied());
        d.actions
    }
    fn wait(&mut self, ms: Millis) {
        self.now += ms;
    }
    fn phase(&self) -> Phase {
        self.rec.as_ref().map_or(Phase::Watching, |r| r.phase)
    }
    fn recovered(&self) -> Option<Option<Judged>> {
        self.events.iter().find_map(|e| match e {
            Event::Recovered {
                outcome: Outcome::Recovered,
                judged,
                ..
            } => Some(*judged),
            _ => None,
        })
    }

    /// A night: flowing at LSN 100, the task FAILS, held (the offset read at 120 while
    /// held), the database back, resumed and restarted: verifying, RUNNING.
    fn up_to_verifying(&mut self) {
        self.probe.record(Reason::Ok, "", self.now);
        self.read(100);
        assert!(self.poll(&running()).is_empty());
        self.wait(MIN);
        self.probe.record(Reason::Refused, "refused", self.now);
        let failed = conn(ConnState::Running, ConnState::Failed, Some(ORA_DOWN));
        assert_eq!(self.poll(&failed), vec![Action::Pause]);
        assert!(self.events.contains(&Event::HoldStarted {
            reason: crate::core::HoldReason::TaskFailed,
            position: Some(Position::Lsn(100)),
        }));
        self.wait(5 * S);
        self.read(120); // the paused task flushed what it had processed
        let paused = conn(ConnState::Paused, ConnState::Failed, Some(ORA_DOWN));
        self.poll(&paused);
        assert_eq!(self.phase(), Phase::Waiting);
        for _ in 0..2 {
            self.wait(MIN);
            self.probe.record(Reason::Ok, "", self.now);
        }
        self.read(120);
        assert_eq!(
            self.poll(&paused),
            vec![Action::Resume, Action::RestartFailed]
        );
        assert_eq!(self.phase(), Phase::Verifying);
        assert_eq!(
            self.rec.as_ref().unwrap().held_position,
            Some(Position::Lsn(120))
        );
        self.wait(S);
        self.poll(&running());
    }
}

#[test]
fn a_resume_is_recovered_only_once_its_offset_moves_past_the_holds() {
    let mut w = World::new(Expect::HeartbeatQuery);
    w.up_to_verifying();
    // RUNNING for the whole verify window, but the offset read since the resume still 120.
    w.wait(w.s.verify_window);
    w.read(120);
    w.poll(&running());
    assert_eq!(w.recovered(), None, "RUNNING is not enough");
    assert_eq!(w.phase(), Phase::Verifying);
    // An older read, even if higher, made before the resume says nothing: only reads since.
    w.wait(40 * S);
    w.read(180);
    w.poll(&running());
    assert_eq!(
        w.recovered(),
        Some(Some(Judged::Progress {
            held: Position::Lsn(120),
            now: Position::Lsn(180)
        }))
    );
    assert_eq!(w.rec, None, "back to watching");
    let line = Judged::Progress {
        held: Position::Lsn(120),
        now: Position::Lsn(180),
    }
    .to_string();
    assert_eq!(
        line,
        "judged by progress: held at LSN 0/78; resumed; now at LSN 0/B4"
    );
}

#[test]
fn a_read_from_before_the_resume_never_proves_progress() {
    let mut w = World::new(Expect::HeartbeatQuery);
    w.up_to_verifying();
    // A high position read before the resume (left over): not fresh.
    w.offsets = Some(OffsetObs {
        position: Some(Position::Lsn(999)),
        snapshot: false,
        read_at: w.now - 10 * S,
        expect: w.expect,
    });
    w.wait(w.s.verify_window);
    w.poll(&running());
    assert_eq!(w.recovered(), None);
}

#[test]
fn an_offset_standing_still_is_restarted_once_then_needs_attention_with_both_positions() {
    let mut w = World::new(Expect::Heartbeats);
    w.up_to_verifying();
    let resumed_at = w.now;
    // Ten minutes RUNNING with the offset read every 30 s at the hold's position.
    while w.now < resumed_at + w.s.stall_after - 30 * S {
        w.wait(30 * S);
        w.read(120);
        assert!(
            w.poll(&running()).is_empty(),
            "no action before --stall-after"
        );
    }
    assert_eq!(w.recovered(), None);
    w.wait(30 * S);
    w.read(120);
    assert_eq!(
        w.poll(&running()),
        vec![Action::RestartTasks],
        "restarted once"
    );
    assert!(w.events.iter().any(|e| matches!(
        e,
        Event::StallRestarted {
            held: Position::Lsn(120),
            now: Some(Position::Lsn(120)),
            ..
        }
    )));
    assert_eq!(w.phase(), Phase::Verifying);
    let restarted_at = w.now;
    // Still nothing: RESTARTING, then RUNNING, the offset never moves.
    w.wait(S);
    w.poll(&conn(ConnState::Running, ConnState::Restarting, None));
    while w.now < restarted_at + w.s.stall_after - 30 * S {
        w.wait(30 * S);
        w.read(120);
        assert!(w.poll(&running()).is_empty(), "one restart only");
    }
    w.wait(30 * S);
    w.read(120);
    assert!(w.poll(&running()).is_empty(), "no action: a human's turn");
    assert_eq!(w.phase(), Phase::NeedsAttention);
    let r = w.rec.clone().unwrap();
    assert_eq!(r.reason, RecordReason::Stalled);
    assert_eq!(r.held_position, Some(Position::Lsn(120)));
    assert!(w.events.iter().any(|e| matches!(
        e,
        Event::RecoveryStalled {
            held: Position::Lsn(120),
            now: Some(Position::Lsn(120)),
            ..
        }
    )));
    assert_eq!(w.recovered(), None, "never counted recovered");
    assert_eq!(
        w.sent
            .iter()
            .filter(|a| **a == Action::RestartTasks)
            .count(),
        1
    );
    // It stays until the offset moves; then it is back to watching.
    w.wait(5 * MIN);
    w.read(120);
    w.poll(&running());
    assert_eq!(w.phase(), Phase::NeedsAttention);
    w.wait(30 * S);
    w.read(121);
    w.poll(&running());
    assert_eq!(w.phase(), Phase::Watching);
    assert!(w.events.contains(&Event::StallOver {
        held: Position::Lsn(120),
        now: Position::Lsn(121)
    }));
}

#[test]
fn an_offset_that_went_back_is_never_counted_as_progress() {
    let mut w = World::new(Expect::Configured);
    w.up_to_verifying();
    let resumed_at = w.now;
    while w.now < resumed_at + w.s.stall_after {
        w.wait(30 * S);
        w.read(50); // offsets reset below the hold's
        w.poll(&running());
    }
    assert_eq!(w.recovered(), None);
    assert_eq!(w.sent.last(), Some(&Action::RestartTasks));
}

#[test]
fn connectors_not_expected_to_progress_keep_the_running_rule_and_the_log_says_why() {
    for (expect, why) in [
        (
            Expect::NoHeartbeats,
            ByState::NotExpected(Expect::NoHeartbeats),
        ),
        (
            Expect::HeartbeatsWithoutQuery,
            ByState::NotExpected(Expect::HeartbeatsWithoutQuery),
        ),
        (
            Expect::ConfiguredOff,
            ByState::NotExpected(Expect::ConfiguredOff),
        ),
    ] {
        let mut w = World::new(expect);
        w.up_to_verifying();
        w.wait(w.s.verify_window);
        w.read(120); // standing still: an idle table is normal
        w.poll(&running());
        assert_eq!(w.recovered(), Some(Some(Judged::State(why))), "{expect:?}");
        let line = Judged::State(why).to_string();
        assert!(
            line.starts_with("judged by its RUNNING state alone: "),
            "{line}"
        );
    }
    // No offsets at all (Kafka < 3.5, an unknown class): the RUNNING rule.
    let mut w = World::new(Expect::Heartbeats);
    w.up_to_verifying();
    w.offsets = None;
    w.wait(w.s.verify_window);
    w.poll(&running());
    assert_eq!(w.recovered(), Some(Some(Judged::State(ByState::NoOffsets))));
}

#[test]
fn offsets_unreadable_since_the_resume_fall_back_to_the_running_rule_after_stall_after() {
    let mut w = World::new(Expect::Heartbeats);
    w.up_to_verifying();
    let last_read = w.offsets;
    w.wait(w.s.verify_window);
    w.poll(&running());
    assert_eq!(w.recovered(), None, "waits for a read");
    w.wait(w.s.stall_after);
    w.offsets = last_read; // every read since failed
    w.poll(&running());
    assert_eq!(w.recovered(), Some(Some(Judged::State(ByState::NotRead))));
    assert!(
        !w.sent.contains(&Action::RestartTasks),
        "no restart without evidence"
    );
}

#[test]
fn the_hold_and_timeout_carry_the_position_and_it_survives_a_restart_of_the_agent() {
    let mut w = World::new(Expect::Heartbeats);
    w.probe.record(Reason::Ok, "", w.now);
    w.read(100);
    w.poll(&running());
    w.wait(MIN);
    w.probe.record(Reason::Refused, "refused", w.now);
    let failed = conn(ConnState::Running, ConnState::Failed, Some(ORA_DOWN));
    w.poll(&failed);
    w.read(110);
    let paused = conn(ConnState::Paused, ConnState::Failed, Some(ORA_DOWN));
    w.wait(S);
    w.poll(&paused);
    // The agent restarts: the record is read back from the state file.
    let json = serde_json::to_string(w.rec.as_ref().unwrap()).unwrap();
    assert!(json.contains(r#""held_position":{"lsn":110}"#), "{json}");
    w.rec = Some(serde_json::from_str(&json).unwrap());
    w.offsets = None;
    w.wait(w.s.max_wait);
    w.probe.record(Reason::Refused, "refused", w.now);
    w.poll(&paused);
    assert!(w.events.iter().any(|e| matches!(
        e,
        Event::TimedOut {
            position: Some(Position::Lsn(110)),
            ..
        }
    )));
    // A record written before positions existed still loads.
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v.as_object_mut().unwrap().remove("held_position");
    let old: Record = serde_json::from_value(v).unwrap();
    assert_eq!(old.held_position, None);
}

#[test]
fn a_stalled_connector_that_fails_is_judged_again_as_a_watched_one() {
    let mut w = World::new(Expect::Heartbeats);
    w.up_to_verifying();
    let mut n = 0;
    while w.phase() != Phase::NeedsAttention {
        w.wait(30 * S);
        w.read(120);
        w.poll(&running());
        n += 1;
        assert!(n < 100);
    }
    // Its task now FAILS with the database gone: held like any failure.
    w.wait(S);
    w.probe.record(Reason::Refused, "refused", w.now);
    let failed = conn(ConnState::Running, ConnState::Failed, Some(ORA_DOWN));
    assert_eq!(w.poll(&failed), vec![Action::Pause]);
    assert_eq!(w.phase(), Phase::Holding);
}
