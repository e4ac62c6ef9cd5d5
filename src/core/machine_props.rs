//! A model-based property test of the decision core: random nights against a model of Kafka
//! Connect, the database and the humans around them, checking the invariants of
//! ARCHITECTURE.md after every step.
//!
//! The model ([`World`]) keeps what really happened: who paused the connector (the agent's
//! request landing, or a human), whether the agent's hold request may have landed, whether the
//! connector still exists. Each step the core sees only what a poll would show (nothing while
//! a worker restarts, `gone` only once deletion is confirmed), decides, and its actions meet a
//! random fate (accepted, refused, lost in a timeout that may or may not have applied them,
//! 404). Between steps: the database goes and comes back, tasks fail, humans pause, resume and
//! stop, workers restart, connectors are deleted, maintenance windows open, time jumps, and the
//! agent itself restarts (its record reloaded from its serialized form, its probe history
//! gone). Failing seeds found while writing this are kept below as regular tests.

use proptest::prelude::*;

use super::*;
use crate::core::decision::{Action, ActionResult, Decision, Event, Input, Maintenance};
use crate::core::observe::{ConnState, ConnectorObs, ProbeObs, TaskObs};
use crate::core::record::{HoldWith, Phase, Record, RecordReason};
use crate::core::settings::Settings;
use crate::core::Millis;
use cdc_sentinel_probe::Reason;

const ORA_DOWN: &str = "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\nCaused by: java.sql.SQLRecoverableException: IO Error: The Network Adapter could not establish the connection";
const SCN_GONE: &str = "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\nCaused by: io.debezium.DebeziumException: Online REDO LOG files or archive log files do not contain the offset scn 1234. Please perform a new snapshot.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Agent,
    Human,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Running,
    Paused,
    Stopped,
}

/// What really is.
#[derive(Debug, Clone)]
struct World {
    exists: bool,
    target: Target,
    /// Who set the current PAUSED/STOPPED target state.
    held_by: Option<Who>,
    /// The task is FAILED, with this trace.
    failed: Option<&'static str>,
    db_up: bool,
    /// The worker is restarting: the listing lacks every connector.
    restarting: bool,
    /// A hold request of the agent's met a timeout since the connector last ran: had it landed,
    /// a human's later pause would have changed nothing visible, so a PAUSED connector is
    /// honestly ambiguous (the agent counts it as its own, by design).
    ambiguous: bool,
    /// When the latest hold request with an unknown outcome was sent.
    ambiguous_at: Millis,
    /// What the agent's previous poll showed, and whose it was then.
    last_seen: Option<(Target, Option<Who>)>,
    /// A hold of the agent's landed (this target) and no poll has seen it yet: until one
    /// does, a RUNNING connector reads as "not in effect yet" and that target as the agent's,
    /// whatever humans did in between (Kafka Connect's effects are asynchronous).
    unobserved_hold: Option<Target>,
}

impl World {
    fn observe(&self) -> Option<ConnectorObs> {
        if !self.exists || self.restarting {
            return None;
        }
        let (state, task) = match self.target {
            Target::Running => (ConnState::Running, ConnState::Running),
            Target::Paused => (ConnState::Paused, ConnState::Paused),
            Target::Stopped => (ConnState::Stopped, ConnState::Unassigned),
        };
        let tasks = if self.target == Target::Stopped {
            vec![]
        } else {
            vec![TaskObs {
                id: 0,
                state: if self.failed.is_some() {
                    ConnState::Failed
                } else {
                    task
                },
                trace: self.failed.map(str::to_string),
            }]
        };
        Some(ConnectorObs {
            state,
            state_name: None,
            trace: None,
            tasks,
        })
    }

    /// An action of the agent's that took effect.
    fn apply(&mut self, a: Action) {
        if !self.exists {
            return;
        }
        match a {
            Action::Pause => {
                self.target = Target::Paused;
                self.held_by = Some(Who::Agent);
                self.unobserved_hold = Some(self.target);
            }
            Action::Stop => {
                self.target = Target::Stopped;
                self.held_by = Some(Who::Agent);
                self.unobserved_hold = Some(self.target);
            }
            Action::Resume => {
                self.target = Target::Running;
                self.held_by = None;
                self.ambiguous = false;
                self.unobserved_hold = None;
            }
            Action::RestartFailed | Action::RestartTasks => {
                if self.db_up {
                    self.failed = None;
                }
            }
        }
    }
}

/// One thing that happens between two polls.
#[derive(Debug, Clone)]
enum Op {
    /// Time passes (ms).
    Wait(u64),
    /// A probe of the database with this reason (`None`: the truth, ok or refused).
    Probe(Option<Reason>),
    DbDown,
    DbUp,
    /// The running task fails: an outage trace while the database is down, or one waiting
    /// cannot fix.
    TaskFails(bool),
    HumanPause,
    HumanStop,
    HumanResume,
    WorkerRestart(bool),
    Delete,
    /// The agent restarts: its record goes through its serialized form, probes start afresh.
    AgentRestart,
    /// A maintenance window opens (ends after this many ms) or closes.
    Window(Option<u64>),
    /// A poll, whose actions meet these fates in turn.
    Poll(Vec<Fate>),
}

#[derive(Debug, Clone, Copy)]
enum Fate {
    Accepted,
    Refused,
    /// A timeout or a 5xx: applied or not.
    Unknown(bool),
    NotFound,
}

fn op() -> impl Strategy<Value = Op> {
    let fate = prop_oneof![
        6 => Just(Fate::Accepted),
        2 => Just(Fate::Refused),
        1 => any::<bool>().prop_map(Fate::Unknown),
        1 => Just(Fate::NotFound),
    ];
    let reason = prop_oneof![
        3 => Just(None),
        1 => proptest::sample::select(Reason::ALL.to_vec()).prop_map(Some),
    ];
    prop_oneof![
        4 => (50u64..120_000).prop_map(Op::Wait),
        1 => Just(Op::Wait(30 * 60_000)),
        6 => reason.prop_map(Op::Probe),
        1 => Just(Op::DbDown),
        1 => Just(Op::DbUp),
        1 => any::<bool>().prop_map(Op::TaskFails),
        1 => Just(Op::HumanPause),
        1 => Just(Op::HumanStop),
        1 => Just(Op::HumanResume),
        1 => any::<bool>().prop_map(Op::WorkerRestart),
        1 => prop_oneof![20 => Just(None), 1 => Just(Some(()))].prop_map(|d| if d.is_some() { Op::Delete } else { Op::Wait(100) }),
        1 => Just(Op::AgentRestart),
        1 => proptest::option::of(60_000u64..3_600_000).prop_map(Op::Window),
        12 => proptest::collection::vec(fate, 0..3).prop_map(Op::Poll),
    ]
}

/// The agent as the supervisor runs it, for one connector.
struct Agent {
    s: Settings,
    rec: Option<Record>,
    probe: ProbeObs,
    handed_back: Option<Millis>,
    window_ends: Option<Millis>,
    now: Millis,
    /// TimedOut events in the current recovery.
    timeouts: u32,
}

fn check(world: &World, agent: &Agent, prev: Option<&Record>, d: &Decision, probe: &ProbeObs) {
    let s = &agent.s;
    for a in &d.actions {
        match a {
            Action::Resume => {
                // Never resume what the agent did not hold.
                assert_ne!(
                    world.held_by,
                    Some(Who::Human),
                    "resumed a human's hold; before: {prev:?}; decision: {d:?}; world: {world:?}"
                );
                // Never resume before --up-after fresh successes (a new resume, not a retry).
                if let Some(p) = prev {
                    if matches!(p.phase, Phase::Waiting | Phase::TimedOut) {
                        assert!(
                            probe.successes_since(p.held_at) >= s.up_after,
                            "resumed on {} successes since the hold at {}: {probe:?}",
                            probe.successes_since(p.held_at),
                            p.held_at
                        );
                    }
                }
            }
            Action::RestartFailed | Action::RestartTasks => {
                assert_ne!(
                    world.held_by,
                    Some(Who::Human),
                    "restarted a human's hold; before: {prev:?}; decision: {d:?}; world: {world:?}"
                );
                assert!(prev.is_some(), "a restart comes with a recovery");
            }
            Action::Pause | Action::Stop => {
                // Never act on a human's pause it could see.
                if let (Some(o), None) = (world.observe(), prev) {
                    assert!(
                        !matches!(o.state, ConnState::Paused | ConnState::Stopped),
                        "held a connector a human had paused: {d:?}"
                    );
                }
                // No hold after giving up.
                if let Some(p) = prev {
                    assert!(
                        !p.gave_up_unheld || p.hold_confirmed,
                        "a hold sent after giving up: {p:?}"
                    );
                }
            }
        }
    }
    // Never start a probe_failed hold on a blind spot.
    if prev.is_none() {
        if let Some(r) = &d.record {
            if r.reason == RecordReason::ProbeFailed {
                assert!(
                    probe.blind_spot().is_none(),
                    "held on a blind spot: {probe:?}"
                );
            }
        }
    }
    // A hold is never forgotten while its connector may exist.
    if prev.is_some() && d.record.is_none() && world.exists {
        assert!(
            !d.events.iter().any(|e| matches!(e, Event::Deleted { .. })),
            "dropped as deleted although it exists: {prev:?}"
        );
    }
    // The max wait fires once per recovery.
    assert!(
        agent.timeouts <= 1,
        "{} timeouts in one recovery",
        agent.timeouts
    );
}

fn run(ops: Vec<Op>, hold_with: HoldWith) {
    let mut s = Settings {
        hold_with,
        max_wait: 20 * 60_000,
        fast_retry: 1_000,
        ..Settings::default()
    };
    s.resume_give_up = 5 * 60_000;
    let mut w = World {
        exists: true,
        target: Target::Running,
        held_by: None,
        failed: None,
        db_up: true,
        restarting: false,
        ambiguous: false,
        ambiguous_at: 0,
        last_seen: None,
        unobserved_hold: None,
    };
    let mut a = Agent {
        s,
        rec: None,
        probe: ProbeObs::default(),
        handed_back: None,
        window_ends: None,
        now: 1_700_000_000_000,
        timeouts: 0,
    };
    for op in ops {
        match op {
            Op::Wait(ms) => a.now += ms,
            Op::Probe(r) => {
                let reason = r.unwrap_or(if w.db_up { Reason::Ok } else { Reason::Refused });
                a.probe.record(reason, "", a.now);
            }
            Op::DbDown => w.db_up = false,
            Op::DbUp => w.db_up = true,
            Op::TaskFails(outage) => {
                if w.target == Target::Running {
                    w.failed = Some(if outage && !w.db_up {
                        ORA_DOWN
                    } else {
                        SCN_GONE
                    });
                }
            }
            // A human writing the state it already has changes nothing anyone can see (the
            // write is idempotent): the hold stays whoever's it was.
            Op::HumanPause if w.target != Target::Paused => {
                w.target = Target::Paused;
                w.held_by = Some(Who::Human);
            }
            Op::HumanStop if w.target != Target::Stopped => {
                w.target = Target::Stopped;
                w.held_by = Some(Who::Human);
            }
            Op::HumanPause | Op::HumanStop => {}
            // (an earlier hold of the agent's with an unknown outcome stays ambiguous until a
            // poll sees the connector RUNNING: the agent cannot know of a resume it never saw)
            Op::HumanResume => {
                w.target = Target::Running;
                w.held_by = None;
            }
            Op::WorkerRestart(on) => {
                w.restarting = on;
                if on && w.db_up {
                    // A worker restart starts failed tasks afresh.
                    w.failed = None;
                }
            }
            Op::Delete => w.exists = false,
            Op::AgentRestart => {
                a.rec = a
                    .rec
                    .as_ref()
                    .map(|r| serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap());
                a.probe = ProbeObs::default();
            }
            Op::Window(end) => a.window_ends = end.map(|e| a.now + e),
            Op::Poll(fates) => {
                // Writes between two polls that leave the state the agent saw last are
                // invisible to it: the hold is still whoever's it was when it last looked.
                if let Some((t, owner)) = w.last_seen {
                    if t == w.target && owner == Some(Who::Agent) && !w.restarting {
                        w.held_by = owner;
                    }
                }
                if w.ambiguous && w.held_by == Some(Who::Human) {
                    w.held_by = Some(Who::Agent);
                }
                if !w.restarting && w.exists {
                    if let Some(t) = w.unobserved_hold {
                        if t == w.target {
                            w.held_by = Some(Who::Agent);
                            w.unobserved_hold = None;
                        }
                    }
                }
                // A poll that sees nothing (a worker restarting) learns nothing.
                if !w.restarting && w.exists {
                    w.last_seen = Some((w.target, w.held_by));
                    // a hold that can no longer land, seen not to have: not ambiguous any more
                    if w.target == Target::Running
                        && a.now.saturating_sub(w.ambiguous_at) >= a.s.late_landing
                    {
                        w.ambiguous = false;
                    }
                }
                let conn = w.observe();
                let gone = !w.exists;
                let maintenance = a
                    .window_ends
                    .filter(|e| *e > a.now)
                    .map(|ends_at| Maintenance { ends_at });
                let probe = a.probe.clone();
                let input = Input {
                    now: a.now,
                    conn: conn.as_ref(),
                    gone,
                    target: Some("db:1521"),
                    probe: Some(&probe),
                    settings: &a.s,
                    handed_back_at: a.handed_back,
                    maintenance,
                    resource: None,
                    offsets: None,
                };
                let prev = a.rec.clone();
                let d = step("inv", prev.as_ref(), &input);
                if prev.is_none() || d.record.is_none() {
                    a.timeouts = 0;
                }
                a.timeouts += d
                    .events
                    .iter()
                    .filter(|e| matches!(e, Event::TimedOut { .. }))
                    .count() as u32;
                check(&w, &a, prev.as_ref(), &d, &probe);
                if let Some(h) = d.handed_back {
                    a.handed_back = h;
                }
                a.rec = d.record.clone();
                let mut fates = fates.into_iter();
                for action in &d.actions {
                    let fate = fates.next().unwrap_or(Fate::Accepted);
                    let result = match fate {
                        Fate::Accepted if w.exists => {
                            w.apply(*action);
                            ActionResult::Ok
                        }
                        Fate::Accepted | Fate::NotFound => ActionResult::NotFound,
                        Fate::Refused => ActionResult::Rejected("409".into()),
                        Fate::Unknown(applied) => {
                            if applied {
                                w.apply(*action);
                            } else if matches!(action, Action::Pause | Action::Stop) {
                                w.ambiguous = true;
                                w.ambiguous_at = a.now;
                            }
                            ActionResult::Unknown("timeout".into())
                        }
                    };
                    let Some(rec) = a.rec.as_mut() else { break };
                    apply_result("inv", rec, *action, &result, a.now, &a.s);
                    if !matches!(result, ActionResult::Ok) {
                        break;
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("CDC_SENTINEL_PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512),
        .. ProptestConfig::default()
    })]

    #[test]
    fn invariants_hold_on_random_nights(ops in proptest::collection::vec(op(), 1..300)) {
        run(ops, HoldWith::Pause);
    }

    #[test]
    fn invariants_hold_on_random_nights_holding_with_stop(ops in proptest::collection::vec(op(), 1..300)) {
        run(ops, HoldWith::Stop);
    }
}

/// Found by the property test (holding with stop): the agent's stop lands while the database
/// is already back, its resume is refused once, a human pauses the connector during the
/// resume's retry, and the next poll must not restart the tasks of a human's pause.
#[test]
fn a_humans_pause_during_a_resume_retry_is_not_restarted() {
    run(
        vec![
            Op::DbDown,
            Op::TaskFails(true),
            Op::DbUp,
            Op::Probe(None),
            Op::Poll(vec![]),
            Op::Probe(None),
            Op::Poll(vec![Fate::Refused]),
            Op::Wait(1000),
            Op::Poll(vec![]),
            Op::HumanPause,
            Op::Poll(vec![]),
        ],
        HoldWith::Stop,
    );
}

/// Found by the property test: a maintenance pause times out, the maximum wait runs out with
/// the connector seen RUNNING long after the lost pause could have landed, and a human pauses
/// it later. That PAUSED is the human's and is never resumed.
#[test]
fn a_humans_pause_long_after_a_lost_hold_is_the_humans() {
    run(
        vec![
            Op::Window(Some(60_000)),
            Op::Poll(vec![Fate::Unknown(false)]),
            Op::Wait(1_300_000),
            Op::Poll(vec![]),
            Op::HumanPause,
            Op::Probe(None),
            Op::Probe(None),
            Op::Poll(vec![]),
        ],
        HoldWith::Pause,
    );
}

/// Found by the property test: a pause of the agent's times out (it may land later), a human
/// resumes and pauses again before any poll, and the next poll shows PAUSED. The agent cannot
/// tell this from its own pause landing, so it counts the hold as its own (by design, see
/// ARCHITECTURE.md); the model once called that resuming a human's hold.
#[test]
fn a_humans_resume_and_pause_unseen_after_an_unknown_pause_is_ambiguous() {
    run(
        vec![
            Op::Window(Some(60_000)),
            Op::Poll(vec![Fate::Unknown(false)]),
            Op::DbUp,
            Op::HumanResume,
            Op::HumanPause,
            Op::Probe(None),
            Op::WorkerRestart(false),
            Op::Wait(1_800_000),
            Op::Probe(None),
            Op::Poll(vec![]),
        ],
        HoldWith::Pause,
    );
}

/// Found by the property test: the resume is accepted, the restart of the FAILED task refused
/// (409), and a human pauses the connector before the retry: the retry waits for RUNNING and
/// never restarts the tasks of the human's pause.
#[test]
fn a_restart_retry_never_restarts_a_humans_pause() {
    run(
        vec![
            Op::DbDown,
            Op::TaskFails(true),
            Op::Poll(vec![]),
            Op::DbUp,
            Op::Probe(None),
            Op::Probe(None),
            Op::Poll(vec![Fate::Accepted, Fate::Refused]),
            Op::Poll(vec![]),
            Op::Wait(1000),
            Op::HumanPause,
            Op::Poll(vec![]),
        ],
        HoldWith::Pause,
    );
}
