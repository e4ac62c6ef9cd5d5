//! The pure decision core: per connector, `step(record, observation, now) -> decision`.
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

use serde::{Deserialize, Serialize};

use crate::classify::{self, Attention, Failure};

/// Unix time in milliseconds.
pub type Millis = u64;

/// Where a connector is in its recovery. `Watching` has no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Watching,
    Holding,
    Waiting,
    Resuming,
    Verifying,
    TimedOut,
    NeedsAttention,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::Watching,
        Phase::Holding,
        Phase::Waiting,
        Phase::Resuming,
        Phase::Verifying,
        Phase::TimedOut,
        Phase::NeedsAttention,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Watching => "watching",
            Phase::Holding => "holding",
            Phase::Waiting => "waiting",
            Phase::Resuming => "resuming",
            Phase::Verifying => "verifying",
            Phase::TimedOut => "timed_out",
            Phase::NeedsAttention => "needs_attention",
        }
    }

    /// A recovery is under way: the agent holds (or is about to hold, or is resuming) it.
    pub fn in_recovery(self) -> bool {
        matches!(
            self,
            Phase::Holding | Phase::Waiting | Phase::Resuming | Phase::Verifying | Phase::TimedOut
        )
    }
}

/// How the agent holds a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum HoldWith {
    /// `PUT /connectors/{n}/pause`: tasks keep their database sessions, offsets keep committing.
    Pause,
    /// `PUT /connectors/{n}/stop` (Kafka >= 3.5): tasks are shut down and release the database.
    Stop,
}

/// What happens once the maximum wait has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AfterTimeout {
    /// Keep the connector held until a human resumes it (the runbook's behaviour).
    Hold,
    /// Resume it once the database is back, as if the wait had not timed out.
    Resume,
}

/// Why a recovery started (the `reason` label of `cdc_sentinel_recovery_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// A task or the connector is FAILED with a trace that says the database is unavailable.
    TaskFailed,
    /// The probe failed `down_after` times in a row while the connector read RUNNING.
    ProbeFailed,
    /// A planned maintenance window.
    Maintenance,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::TaskFailed => "task_failed",
            HoldReason::ProbeFailed => "probe_failed",
            HoldReason::Maintenance => "maintenance",
        }
    }
}

/// A connector action the supervisor sends to Kafka Connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Pause,
    Stop,
    Resume,
    /// `POST /connectors/{n}/restart?includeTasks=true&onlyFailed=true`
    RestartFailed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Stop => "stop",
            Action::Resume => "resume",
            Action::RestartFailed => "restart",
        }
    }
}

/// The outcome of one action, as the supervisor saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionResult {
    /// Accepted (202/204).
    Ok,
    /// `--dry-run`: logged, not sent.
    DryRun,
    /// 404: the connector no longer exists.
    NotFound,
    /// Anything else (409, 5xx, timeouts, 401, ...): retried with capped exponential backoff.
    Failed(String),
}

/// Kafka Connect's state of a connector or task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Unassigned,
    Running,
    Paused,
    Failed,
    Restarting,
    Stopped,
    /// Anything else a newer Kafka might report (reported as-is in logs, never acted upon).
    Unknown,
}

impl State {
    pub const EXPORTED: [State; 6] = [
        State::Unassigned,
        State::Running,
        State::Paused,
        State::Failed,
        State::Restarting,
        State::Stopped,
    ];

    pub fn parse(s: &str) -> State {
        match s {
            "UNASSIGNED" => State::Unassigned,
            "RUNNING" => State::Running,
            "PAUSED" => State::Paused,
            "FAILED" => State::Failed,
            "RESTARTING" => State::Restarting,
            "STOPPED" => State::Stopped,
            _ => State::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Unassigned => "UNASSIGNED",
            State::Running => "RUNNING",
            State::Paused => "PAUSED",
            State::Failed => "FAILED",
            State::Restarting => "RESTARTING",
            State::Stopped => "STOPPED",
            State::Unknown => "UNKNOWN",
        }
    }
}

/// One task as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskObs {
    pub id: u32,
    pub state: State,
    pub trace: Option<String>,
}

/// A connector as observed in the latest poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorObs {
    pub state: State,
    pub trace: Option<String>,
    pub tasks: Vec<TaskObs>,
}

impl ConnectorObs {
    fn failed_traces(&self) -> impl Iterator<Item = (String, &str)> {
        let c = (self.state == State::Failed)
            .then(|| ("connector".to_string(), self.trace.as_deref().unwrap_or("")));
        c.into_iter().chain(
            self.tasks
                .iter()
                .filter(|t| t.state == State::Failed)
                .map(|t| (format!("task {}", t.id), t.trace.as_deref().unwrap_or(""))),
        )
    }

    /// Ids of the FAILED items; `u32::MAX` stands for the connector itself.
    pub fn failed_ids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .tasks
            .iter()
            .filter(|t| t.state == State::Failed)
            .map(|t| t.id)
            .collect();
        if self.state == State::Failed {
            v.push(u32::MAX);
        }
        v
    }

    pub fn any_failed(&self) -> bool {
        self.state == State::Failed || self.tasks.iter().any(|t| t.state == State::Failed)
    }

    fn all_running(&self) -> bool {
        self.state == State::Running
            && !self.tasks.is_empty()
            && self.tasks.iter().all(|t| t.state == State::Running)
    }
}

/// The target's probe history, maintained by the probe runner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeObs {
    /// Failed probes in a row (0 after a success).
    pub consecutive_failures: u32,
    /// Successful probes in a row (0 after a failure).
    pub consecutive_successes: u32,
    /// When the current run of successes began.
    pub streak_started_at: Option<Millis>,
    /// Times of the latest successes of the current run (at most [`ProbeObs::KEEP`]).
    pub success_times: std::collections::VecDeque<Millis>,
    /// `ok` or the failure reason of the latest probe.
    pub last_reason: String,
    /// Human-readable detail of the latest probe ("connection refused").
    pub last_detail: String,
    /// Probes done so far.
    pub count: u64,
}

impl ProbeObs {
    /// How many success times are kept (and so the largest useful `--up-after`).
    pub const KEEP: usize = 64;

    /// Folds one probe result in.
    pub fn record(&mut self, up: bool, reason: &str, detail: &str, now: Millis) {
        self.count += 1;
        self.last_reason = reason.to_string();
        self.last_detail = detail.to_string();
        if up {
            if self.consecutive_successes == 0 {
                self.streak_started_at = Some(now);
            }
            self.consecutive_successes += 1;
            self.consecutive_failures = 0;
            if self.success_times.len() == Self::KEEP {
                self.success_times.pop_front();
            }
            self.success_times.push_back(now);
        } else {
            self.consecutive_failures += 1;
            self.consecutive_successes = 0;
            self.streak_started_at = None;
            self.success_times.clear();
        }
    }

    /// Successes in a row observed at or after `t`.
    pub fn successes_since(&self, t: Millis) -> u32 {
        self.success_times.iter().filter(|s| **s >= t).count() as u32
    }
}

/// Effective settings for one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub hold_with: HoldWith,
    pub after_timeout: AfterTimeout,
    pub max_wait: Millis,
    pub down_after: u32,
    pub up_after: u32,
    pub verify_timeout: Millis,
    pub verify_window: Millis,
    /// A hold (or a resume) not visible in the status after this long is sent again.
    pub confirm_timeout: Millis,
    /// First delay before another resume after a failed verification; doubles, capped.
    pub reattempt_base: Millis,
    pub reattempt_cap: Millis,
    /// Polls in a row a held connector must be missing before it counts as deleted.
    pub deleted_after: u32,
    pub dry_run: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            hold_with: HoldWith::Pause,
            after_timeout: AfterTimeout::Hold,
            max_wait: 30 * 60_000,
            down_after: 3,
            up_after: 2,
            verify_timeout: 120_000,
            verify_window: 30_000,
            confirm_timeout: 30_000,
            reattempt_base: 30_000,
            reattempt_cap: 600_000,
            deleted_after: 3,
            dry_run: false,
        }
    }
}

/// The durable record of a connector the agent is recovering (or that needs attention).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub phase: Phase,
    /// `task_failed`, `probe_failed`, `maintenance`, or the needs-attention reason.
    pub reason: String,
    /// The target label being waited on.
    pub target: Option<String>,
    pub started_at: Millis,
    /// The last time a hold was decided (probe successes must come after it).
    pub held_at: Millis,
    /// How this connector was held; resumed the same way even if the flag changed meanwhile.
    pub hold_with: HoldWith,
    /// The hold request was accepted by Kafka Connect.
    #[serde(default)]
    pub hold_sent_at: Option<Millis>,
    #[serde(default)]
    pub hold_confirmed: bool,
    /// Resume attempts made in this recovery.
    #[serde(default)]
    pub attempts: u32,
    /// No resume before this time (backoff after a failed verification).
    #[serde(default)]
    pub not_before: Millis,
    #[serde(default)]
    pub resume_done: bool,
    #[serde(default)]
    pub restart_pending: bool,
    #[serde(default)]
    pub verify_started_at: Millis,
    #[serde(default)]
    pub running_since: Option<Millis>,
    /// The resume and restart were seen taking effect (connector RUNNING, nothing FAILED) in
    /// this attempt. Until then a PAUSED/STOPPED connector or a FAILED task is just Kafka
    /// Connect's asynchronous effect, not a human nor a new failure.
    #[serde(default)]
    pub resume_seen: bool,
    /// FAILED items (task ids; `u32::MAX` for the connector) when the resume was decided: only
    /// those can still be listed FAILED from before the restart took effect.
    #[serde(default)]
    pub failed_at_resume: Vec<u32>,
    /// Restarts sent during this verification for tasks that failed only after the resume.
    #[serde(default)]
    pub verify_restarts: u32,
    /// The maximum wait was exceeded at least once in this recovery.
    #[serde(default)]
    pub timed_out: bool,
    /// Failed attempts of the pending action (for its backoff) and when to retry it.
    #[serde(default)]
    pub action_failures: u32,
    #[serde(default)]
    pub retry_at: Millis,
    /// Polls in a row in which the connector was missing.
    #[serde(default)]
    pub missing_polls: u32,
    /// The maximum wait counts from the later of this and `started_at`: the end of the
    /// maintenance window that applied to the connector while it was held (0: none).
    #[serde(default)]
    pub wait_from: Millis,
}

impl Record {
    fn new(phase: Phase, reason: &str, target: Option<&str>, now: Millis, s: &Settings) -> Record {
        Record {
            phase,
            reason: reason.to_string(),
            target: target.map(str::to_string),
            started_at: now,
            held_at: now,
            hold_with: s.hold_with,
            hold_sent_at: None,
            hold_confirmed: false,
            attempts: 0,
            not_before: 0,
            resume_done: false,
            restart_pending: false,
            verify_started_at: 0,
            running_since: None,
            resume_seen: false,
            failed_at_resume: Vec::new(),
            verify_restarts: 0,
            timed_out: false,
            action_failures: 0,
            retry_at: 0,
            missing_polls: 0,
            wait_from: 0,
        }
    }

    fn hold_action(&self) -> Action {
        match self.hold_with {
            HoldWith::Pause => Action::Pause,
            HoldWith::Stop => Action::Stop,
        }
    }

    fn held_state(&self) -> State {
        match self.hold_with {
            HoldWith::Pause => State::Paused,
            HoldWith::Stop => State::Stopped,
        }
    }
}

/// Why a recovery ended (the `outcome` label of `cdc_sentinel_recovery_duration_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Recovered,
    TimedOutRecovered,
    HandedBack,
    Deleted,
    NeedsAttention,
    DryRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Recovered => "recovered",
            Outcome::TimedOutRecovered => "timed_out_recovered",
            Outcome::HandedBack => "handed_back",
            Outcome::Deleted => "deleted",
            Outcome::NeedsAttention => "needs_attention",
            Outcome::DryRun => "dry_run",
        }
    }
}

/// Something worth one log line (and the matching metric); see `events.rs`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    FailureDetected {
        state: State,
        failed: Vec<String>,
        summary: String,
    },
    ProbeDown {
        failures: u32,
        reason: String,
        detail: String,
    },
    AttentionNeeded {
        reason: Attention,
        failed: Vec<String>,
        summary: String,
    },
    AttentionCleared,
    HoldStarted {
        reason: HoldReason,
    },
    HoldConfirmed {
        state: State,
    },
    HoldResent {
        after: Millis,
    },
    DatabaseBack {
        successes: u32,
        elapsed: Millis,
    },
    ResumeStarted {
        attempt: u32,
        restart_failed: bool,
    },
    VerifyStarted,
    Recovered {
        outcome: Outcome,
        elapsed: Millis,
        attempts: u32,
    },
    /// A task failed right after the resume while the database answers: restarted once more.
    LateFailureRestarted {
        failed: Vec<String>,
    },
    VerifyFailed {
        attempt: u32,
        why: String,
        retry_in: Millis,
    },
    TimedOut {
        elapsed: Millis,
        last_reason: String,
        last_detail: String,
    },
    HandedBack {
        state: State,
        elapsed: Millis,
    },
    Deleted {
        elapsed: Millis,
    },
    ActionFailed {
        action: Action,
        error: String,
        retry_in: Millis,
    },
    ActionOk {
        action: Action,
        dry_run: bool,
    },
}

/// The inputs of one decision.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub now: Millis,
    /// `None`: missing from this poll's snapshot.
    pub conn: Option<&'a ConnectorObs>,
    /// The target label, if one is known for this connector.
    pub target: Option<&'a str>,
    pub probe: Option<&'a ProbeObs>,
    pub settings: &'a Settings,
    /// A human took this connector back from the agent at this time; no new hold until its
    /// database has been seen up again.
    pub handed_back_at: Option<Millis>,
    /// `Some` while a maintenance window applies to this connector.
    pub maintenance: Option<Maintenance>,
}

/// A planned maintenance window under way for a connector (see `windows.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Maintenance {
    /// When it ends: nothing is resumed before, and the maximum wait counts from here.
    pub ends_at: Millis,
}

/// The result of one decision.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// The new record (`None`: watching). Persist it before sending `actions`.
    pub record: Option<Record>,
    pub actions: Vec<Action>,
    pub events: Vec<Event>,
    /// Wake the supervisor no later than this (action retries).
    pub wake_at: Option<Millis>,
    /// `Some(Some(t))`: remember a hand-back at `t`; `Some(None)`: forget it.
    pub handed_back: Option<Option<Millis>>,
}

/// Capped exponential backoff with deterministic jitter (±20%, from the connector name and
/// the attempt), so many connectors retrying after the same 409 spread out.
pub fn backoff(name: &str, attempt: u32, base: Millis, cap: Millis) -> Millis {
    let exp = base.saturating_mul(1u64 << attempt.min(20));
    let d = exp.min(cap);
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes().chain(attempt.to_le_bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    let spread = d / 5; // ±20%
    if spread == 0 {
        return d;
    }
    d - spread + h % (2 * spread + 1)
}

const ACTION_RETRY_BASE: Millis = 1_000;
const ACTION_RETRY_CAP: Millis = 30_000;

/// One decision for one connector.
pub fn step(name: &str, prev: Option<&Record>, input: &Input) -> Decision {
    let mut d = Decision::default();
    let now = input.now;
    let s = input.settings;

    let Some(mut rec) = prev.cloned() else {
        watching(input, &mut d);
        return d;
    };

    // Missing from the snapshot: Kafka Connect can list nothing while it starts, so only a
    // connector missing for several polls in a row counts as deleted. Never an action.
    let Some(conn) = input.conn else {
        rec.missing_polls += 1;
        if rec.phase == Phase::NeedsAttention || rec.missing_polls >= s.deleted_after {
            if rec.phase.in_recovery() {
                d.events.push(Event::Deleted {
                    elapsed: now.saturating_sub(rec.started_at),
                });
            }
            d.record = None;
        } else {
            d.record = Some(rec);
        }
        return d;
    };
    rec.missing_polls = 0;

    match rec.phase {
        Phase::Watching => {
            watching(input, &mut d);
            return d;
        }
        Phase::NeedsAttention => {
            match attention_of(conn) {
                Some((reason, _, _)) => {
                    rec.reason = reason.as_str().to_string();
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
    if rec.phase == Phase::Verifying && conn.state == State::Running && !conn.any_failed() {
        rec.resume_seen = true;
    }
    if human_took_over(&rec, conn, s) {
        d.events.push(Event::HandedBack {
            state: conn.state,
            elapsed: now.saturating_sub(rec.started_at),
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

    match rec.phase {
        Phase::Holding | Phase::TimedOut if !rec.hold_confirmed => {
            if conn.state == rec.held_state()
                || (rec.hold_with == HoldWith::Pause
                    && conn.state == State::Failed
                    && rec.hold_sent_at.is_some())
            {
                rec.hold_confirmed = true;
                rec.action_failures = 0;
                d.events.push(Event::HoldConfirmed { state: conn.state });
                if rec.phase == Phase::Holding {
                    rec.phase = Phase::Waiting;
                }
            } else if now >= rec.retry_at {
                match rec.hold_sent_at {
                    None => d.actions.push(rec.hold_action()),
                    Some(sent) if now.saturating_sub(sent) >= s.confirm_timeout => {
                        d.events.push(Event::HoldResent { after: now - sent });
                        rec.hold_sent_at = None;
                        d.actions.push(rec.hold_action());
                    }
                    Some(_) => {}
                }
            } else {
                d.wake_at = Some(rec.retry_at);
            }
        }
        _ => {}
    }

    // The maximum wait counts from the start of the recovery, or from the end of its window.
    let elapsed = now.saturating_sub(rec.started_at);
    let waited = now.saturating_sub(rec.started_at.max(rec.wait_from));
    if matches!(rec.phase, Phase::Holding | Phase::Waiting)
        && waited >= s.max_wait
        && !rec.timed_out
    {
        rec.phase = Phase::TimedOut;
        rec.timed_out = true;
        d.events.push(Event::TimedOut {
            elapsed: waited,
            last_reason: probe.last_reason.clone(),
            last_detail: probe.last_detail.clone(),
        });
    }

    match rec.phase {
        Phase::Waiting | Phase::TimedOut
            if db_back
                && now >= rec.not_before
                && rec.hold_confirmed
                && input.maintenance.is_none()
                && (rec.phase == Phase::Waiting || s.after_timeout == AfterTimeout::Resume) =>
        {
            d.events.push(Event::DatabaseBack {
                successes: probe.consecutive_successes,
                elapsed,
            });
            start_resume(&mut rec, conn, now, &mut d);
        }
        Phase::Resuming => {
            if now >= rec.retry_at {
                if !rec.resume_done {
                    d.actions.push(Action::Resume);
                }
                if rec.restart_pending {
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
            });
            return d;
        }
        Phase::Verifying => {
            if let Some(replacement) = verify(name, &mut rec, conn, &probe, now, s, &mut d) {
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

    // Paused or stopped by someone else: theirs, not ours.
    if matches!(conn.state, State::Paused | State::Stopped) {
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
            reason.as_str(),
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
        start_hold(HoldReason::Maintenance, target, now, s, d);
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
        start_hold(HoldReason::TaskFailed, target, now, s, d);
    } else if conn.state == State::Running && probe.consecutive_failures >= s.down_after {
        d.events.push(Event::ProbeDown {
            failures: probe.consecutive_failures,
            reason: probe.last_reason.clone(),
            detail: probe.last_detail.clone(),
        });
        start_hold(HoldReason::ProbeFailed, target, now, s, d);
    }
}

fn start_hold(reason: HoldReason, target: &str, now: Millis, s: &Settings, d: &mut Decision) {
    let rec = Record::new(Phase::Holding, reason.as_str(), Some(target), now, s);
    d.events.push(Event::HoldStarted { reason });
    d.actions.push(rec.hold_action());
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
fn human_took_over(rec: &Record, conn: &ConnectorObs, s: &Settings) -> bool {
    if s.dry_run {
        return false;
    }
    match rec.phase {
        // Before a hold is confirmed, a RUNNING connector is just the hold not yet in effect,
        // but the *other* hold state (STOPPED while we pause, PAUSED while we stop) is a human's.
        Phase::Holding => {
            rec.hold_sent_at.is_some()
                && conn.state
                    == match rec.hold_with {
                        HoldWith::Pause => State::Stopped,
                        HoldWith::Stop => State::Paused,
                    }
        }
        Phase::Waiting | Phase::TimedOut if rec.hold_confirmed => {
            let other_hold = match rec.hold_with {
                HoldWith::Pause => State::Stopped,
                HoldWith::Stop => State::Paused,
            };
            conn.state == State::Running || conn.state == other_hold
        }
        // After our resume took effect, a pause or stop is someone else's.
        Phase::Verifying => rec.resume_seen && matches!(conn.state, State::Paused | State::Stopped),
        _ => false,
    }
}

fn start_resume(rec: &mut Record, conn: &ConnectorObs, now: Millis, d: &mut Decision) {
    rec.phase = Phase::Resuming;
    rec.attempts += 1;
    rec.resume_done = false;
    rec.resume_seen = false;
    rec.restart_pending = conn.any_failed();
    rec.failed_at_resume = conn.failed_ids();
    rec.verify_restarts = 0;
    rec.action_failures = 0;
    rec.retry_at = 0;
    d.events.push(Event::ResumeStarted {
        attempt: rec.attempts,
        restart_failed: rec.restart_pending,
    });
    // Resume, then restart the FAILED tasks (resume alone leaves them dead). The supervisor
    // sends them in this order and stops at the first one that fails.
    d.actions.push(Action::Resume);
    if rec.restart_pending {
        d.actions.push(Action::RestartFailed);
    }
    rec.verify_started_at = now;
}

/// Returns `Some(replacement)` when the recovery ends here (recovered, or needs attention).
fn verify(
    name: &str,
    rec: &mut Record,
    conn: &ConnectorObs,
    probe: &ProbeObs,
    now: Millis,
    s: &Settings,
    d: &mut Decision,
) -> Option<Option<Record>> {
    // A FAILED item is a new failure once the restart was seen taking effect, or if it was not
    // FAILED when the resume was decided (a task paused during the outage reports its lost
    // connection on its first poll after the resume).
    let new_failure = conn.any_failed()
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
            let outcome = if rec.timed_out {
                Outcome::TimedOutRecovered
            } else {
                Outcome::Recovered
            };
            d.events.push(Event::Recovered {
                outcome,
                elapsed: now.saturating_sub(rec.started_at),
                attempts: rec.attempts,
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
        });
        d.events.push(Event::AttentionNeeded {
            reason,
            failed,
            summary,
        });
        return Some(Some(Record::new(
            Phase::NeedsAttention,
            reason.as_str(),
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
    rec.action_failures = 0;
    rec.retry_at = 0;
    d.actions.push(rec.hold_action());
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
            rec.action_failures = 0;
            rec.retry_at = 0;
            match action {
                Action::Pause | Action::Stop => {
                    rec.hold_sent_at = Some(now);
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
            }
        }
        ActionResult::NotFound => {
            ev.push(Event::ActionFailed {
                action,
                error: "connector not found (404)".into(),
                retry_in: 0,
            });
            rec.missing_polls = s.deleted_after.saturating_sub(1);
        }
        ActionResult::Failed(e) => {
            let retry_in = backoff(
                name,
                rec.action_failures,
                ACTION_RETRY_BASE,
                ACTION_RETRY_CAP,
            );
            rec.action_failures += 1;
            rec.retry_at = now + retry_in;
            ev.push(Event::ActionFailed {
                action,
                error: e.clone(),
                retry_in,
            });
        }
    }
    ev
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
#[path = "core_tests.rs"]
mod tests;
