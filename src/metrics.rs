//! Every metric the agent exports (the contract is docs/metrics.md), on an owned registry.
//!
//! Process-wide counters and histograms live in a `prometheus` registry. Per-connector and
//! per-target series are written as text at scrape time from the agent's own state (the
//! registry's gather + encode costs ~500 ns a series, 4x the rest of a 1,000-connector scrape):
//! per-connector gauges from the latest poll's snapshot ([`ConnectorView`]s), so a deleted or
//! deselected connector disappears instead of exporting a stale value, and a poll costs one
//! pointer swap.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, RwLock};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::probe::{ProbeResult, Reason};
use crate::recovery::core::{Phase, State};

/// What the metrics need to know of one connector after a poll.
#[derive(Debug, Clone)]
pub struct ConnectorView {
    pub name: String,
    pub state: State,
    /// Task counts per state, in the order of [`State::EXPORTED`].
    pub tasks: [u32; 6],
    pub selected: bool,
    pub target: Option<String>,
    pub phase: Phase,
    /// `reason` of `cdc_sentinel_recovery_info` (phase != watching).
    pub reason: Option<String>,
    pub managed: bool,
    pub started_at_ms: Option<u64>,
    pub max_wait_secs: f64,
    pub attempts: u32,
    /// A maintenance window applies to the connector now.
    pub maintenance: bool,
}

/// Cheap to clone: everything is behind `Arc`s.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    /// Per-connector counters of the connectors in the latest poll (a deleted connector's go
    /// with it, so connector churn does not grow the scrape forever); rendered as text
    /// (thousands of connectors would make the registry's gather the slowest part of a scrape).
    counters: Arc<Mutex<BTreeMap<String, ConnectorCounters>>>,
    /// Results exported (zeros included) for every connector's actions: ok and error, plus
    /// dry_run when running with --dry-run.
    results: usize,
    connect_up: IntGauge,
    connect_last_success: prometheus::Gauge,
    connect_duration: HistogramVec,
    /// Per-target probe series, rendered as text like the per-connector ones (through the
    /// registry, 200 targets' histograms and reason series cost more than 1,000 connectors).
    targets: Arc<Mutex<BTreeMap<String, TargetSeries>>>,
    recovery_duration: HistogramVec,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    r.register(Box::new(c.clone()))
        .expect("metric names are unique");
    c
}

impl Metrics {
    pub fn new(version: &str, revision: &str, dry_run: bool) -> Metrics {
        let r = Registry::new();
        let build = reg(
            &r,
            IntGaugeVec::new(
                Opts::new("cdc_sentinel_build_info", "The running build; always 1."),
                &["version", "revision"],
            )
            .expect("valid"),
        );
        build.with_label_values(&[version, revision]).set(1);
        let dry = reg(
            &r,
            IntGauge::new(
                "cdc_sentinel_dry_run",
                "1 when started with --dry-run (actions are logged and counted, never sent).",
            )
            .expect("valid"),
        );
        dry.set(dry_run as i64);
        let connect_duration = reg(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    "cdc_sentinel_connect_request_duration_seconds",
                    "Kafka Connect REST calls by operation and HTTP status (or error).",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ]),
                &["operation", "code"],
            )
            .expect("valid"),
        );
        let recovery_duration = reg(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    "cdc_sentinel_recovery_duration_seconds",
                    "Duration of finished recoveries by outcome.",
                )
                .buckets(vec![
                    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0, 7200.0,
                    14400.0,
                ]),
                &["outcome"],
            )
            .expect("valid"),
        );
        // Every outcome from the start: the first finished recovery must count in increase().
        for o in crate::recovery::core::Outcome::ALL {
            if dry_run || o != crate::recovery::core::Outcome::DryRun {
                recovery_duration.with_label_values(&[o.as_str()]);
            }
        }
        Metrics {
            connect_up: reg(
                &r,
                IntGauge::new(
                    "cdc_sentinel_connect_up",
                    "1 if the last poll of Kafka Connect succeeded, else 0.",
                )
                .expect("valid"),
            ),
            connect_last_success: reg(
                &r,
                prometheus::Gauge::new(
                    "cdc_sentinel_connect_last_success_timestamp_seconds",
                    "Unix time of the last successful poll of Kafka Connect.",
                )
                .expect("valid"),
            ),
            connect_duration,
            recovery_duration,
            targets: Arc::new(Mutex::new(BTreeMap::new())),
            registry: r,
            snapshot: Arc::new(RwLock::new(Arc::new(Snapshot::default()))),
            counters: Arc::new(Mutex::new(BTreeMap::new())),
            results: if dry_run { 3 } else { 2 },
        }
    }

    /// Creates a target's probe series; its failure counters start at zero, so the first
    /// failure of each reason counts in `increase()` (a series born at 1 is invisible to it).
    pub fn target_added(&self, target: &str) {
        self.targets
            .lock()
            .expect("metrics lock")
            .entry(target.to_string())
            .or_insert_with(|| TargetSeries::new(target));
    }

    /// Replaces the per-connector snapshot (after each successful poll).
    pub fn set_connectors(&self, views: Vec<ConnectorView>) {
        {
            let mut c = self.counters.lock().expect("metrics lock");
            // A connector that left the listing (deleted, or renamed) takes its counters with
            // it, as it does its gauges. A re-created connector starts again from zero, which
            // rate() and increase() read as a counter reset.
            let present: std::collections::HashSet<&str> =
                views.iter().map(|v| v.name.as_str()).collect();
            c.retain(|name, _| present.contains(name.as_str()));
            for v in views.iter().filter(|v| v.selected) {
                if !c.contains_key(&v.name) {
                    // Zero series, so rate() and increase() work from the first failure on.
                    c.insert(v.name.clone(), ConnectorCounters::default());
                }
            }
        }
        let escaped = views.iter().map(|v| escaped(&v.name)).collect();
        *self.snapshot.write().expect("metrics lock") = Arc::new(Snapshot { views, escaped });
    }

    fn count(&self, connector: &str, f: impl FnOnce(&mut ConnectorCounters)) {
        let mut c = self.counters.lock().expect("metrics lock");
        match c.get_mut(connector) {
            Some(e) => f(e),
            None => f(c.entry(connector.to_string()).or_default()),
        }
    }

    pub fn connect_request(&self, operation: &str, code: &str, secs: f64) {
        self.connect_duration
            .with_label_values(&[operation, code])
            .observe(secs);
    }

    pub fn connect_poll(&self, ok: bool, now_ms: u64) {
        self.connect_up.set(ok as i64);
        if ok {
            self.connect_last_success.set(now_ms as f64 / 1000.0);
        }
    }

    pub fn task_failed(&self, connector: &str, n: u64) {
        self.count(connector, |c| c.task_failures += n);
    }

    pub fn probe_result(&self, target: &str, r: &ProbeResult, now_ms: u64) {
        let mut targets = self.targets.lock().expect("metrics lock");
        let t = targets
            .entry(target.to_string())
            .or_insert_with(|| TargetSeries::new(target));
        t.last_reason = Some(r.reason);
        let secs = r.duration.as_secs_f64();
        for (i, le) in PROBE_BUCKETS.iter().enumerate() {
            if secs <= *le {
                t.buckets[i] += 1;
            }
        }
        t.duration_sum += secs;
        t.duration_count += 1;
        if r.up() {
            t.last_success_s = Some(now_ms as f64 / 1000.0);
        } else if let Some(i) = Reason::FAILURES.iter().position(|x| *x == r.reason) {
            t.failures[i] += 1;
        }
    }

    /// Drops a target's series once no connector uses it.
    pub fn forget_target(&self, target: &str) {
        self.targets.lock().expect("metrics lock").remove(target);
    }

    pub fn action(&self, connector: &str, action: &str, result: &str) {
        let (Some(a), Some(r)) = (
            ACTIONS.iter().position(|x| *x == action),
            RESULTS.iter().position(|x| *x == result),
        ) else {
            return;
        };
        self.count(connector, |c| c.actions[a][r] += 1);
    }

    pub fn timed_out(&self, connector: &str) {
        self.count(connector, |c| c.timeouts += 1);
    }

    pub fn recovery_started(&self, connector: &str, reason: &str) {
        if let Some(i) = HOLD_REASONS.iter().position(|x| *x == reason) {
            self.count(connector, |c| c.started[i] += 1);
        }
    }

    pub fn recovery_finished(&self, outcome: &str, secs: f64) {
        self.recovery_duration
            .with_label_values(&[outcome])
            .observe(secs);
    }

    /// The text exposition of everything.
    pub fn render(&self) -> String {
        let mut buf = Vec::with_capacity(64 * 1024);
        let families = self.registry.gather();
        if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        let mut out = String::from_utf8(buf).unwrap_or_default();
        let snap = self.snapshot.read().expect("metrics lock").clone();
        render_connectors(&snap, &mut out);
        render_counters(
            &self.counters.lock().expect("metrics lock"),
            self.results,
            &mut out,
        );
        render_targets(&self.targets.lock().expect("metrics lock"), &mut out);
        out
    }
}

/// The latest poll's connectors, with their names already escaped for the exposition.
#[derive(Default)]
struct Snapshot {
    views: Vec<ConnectorView>,
    escaped: Vec<String>,
}

const ACTIONS: [&str; 4] = ["pause", "resume", "stop", "restart"];
const RESULTS: [&str; 3] = ["ok", "error", "dry_run"];
const HOLD_REASONS: [&str; 3] = ["task_failed", "probe_failed", "maintenance"];

/// Counters of one connector.
#[derive(Default, Clone)]
struct ConnectorCounters {
    task_failures: u64,
    timeouts: u64,
    started: [u64; 3],
    actions: [[u64; 3]; 4],
}

/// Upper bounds of `cdc_sentinel_probe_duration_seconds`, and as `le` labels.
const PROBE_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const PROBE_LE: [&str; 13] = [
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10",
];

/// The probe series of one target.
struct TargetSeries {
    /// `target="..."`, escaped once.
    label: String,
    /// Reason of the latest probe; `None` until the first one.
    last_reason: Option<Reason>,
    last_success_s: Option<f64>,
    /// Cumulative counts per bucket of [`PROBE_BUCKETS`].
    buckets: [u64; 13],
    duration_sum: f64,
    duration_count: u64,
    /// Per reason of [`Reason::FAILURES`].
    failures: [u64; 10],
}

impl TargetSeries {
    fn new(target: &str) -> TargetSeries {
        let mut label = String::from("target=\"");
        esc(target, &mut label);
        label.push('"');
        TargetSeries {
            label,
            last_reason: None,
            last_success_s: None,
            buckets: [0; 13],
            duration_sum: 0.0,
            duration_count: 0,
            failures: [0; 10],
        }
    }
}

fn target_line(out: &mut String, name: &str, t: &TargetSeries, extra: Option<(&str, &str)>) {
    out.push_str(name);
    out.push('{');
    out.push_str(&t.label);
    if let Some((k, v)) = extra {
        out.push(',');
        out.push_str(k);
        out.push_str("=\"");
        out.push_str(v);
        out.push('"');
    }
    out.push_str("} ");
}

fn render_targets(targets: &BTreeMap<String, TargetSeries>, out: &mut String) {
    let probed = || targets.values().filter(|t| t.last_reason.is_some());
    family(
        out,
        "cdc_sentinel_probe_success",
        "1 if the last probe of the target succeeded, else 0.",
    );
    for t in probed() {
        target_line(out, "cdc_sentinel_probe_success", t, None);
        ((t.last_reason == Some(Reason::Ok)) as u8).push(out);
        out.push('\n');
    }
    out.push_str("# HELP cdc_sentinel_probe_duration_seconds Duration of each database probe.\n# TYPE cdc_sentinel_probe_duration_seconds histogram\n");
    for t in probed() {
        for (i, le) in PROBE_LE.iter().enumerate() {
            target_line(
                out,
                "cdc_sentinel_probe_duration_seconds_bucket",
                t,
                Some(("le", le)),
            );
            t.buckets[i].push(out);
            out.push('\n');
        }
        target_line(
            out,
            "cdc_sentinel_probe_duration_seconds_bucket",
            t,
            Some(("le", "+Inf")),
        );
        t.duration_count.push(out);
        out.push('\n');
        target_line(out, "cdc_sentinel_probe_duration_seconds_sum", t, None);
        let _ = writeln!(out, "{}", t.duration_sum);
        target_line(out, "cdc_sentinel_probe_duration_seconds_count", t, None);
        t.duration_count.push(out);
        out.push('\n');
    }
    family(
        out,
        "cdc_sentinel_probe_last_success_timestamp_seconds",
        "Unix time of the last successful probe of the target.",
    );
    for t in targets.values() {
        if let Some(s) = t.last_success_s {
            target_line(
                out,
                "cdc_sentinel_probe_last_success_timestamp_seconds",
                t,
                None,
            );
            s.push(out);
            out.push('\n');
        }
    }
    counter_family(
        out,
        "cdc_sentinel_probe_failures_total",
        "Failed probes by reason.",
    );
    for t in targets.values() {
        for (i, reason) in Reason::FAILURES.iter().enumerate() {
            target_line(
                out,
                "cdc_sentinel_probe_failures_total",
                t,
                Some(("reason", reason.as_str())),
            );
            t.failures[i].push(out);
            out.push('\n');
        }
    }
    family(
        out,
        "cdc_sentinel_probe_last_reason",
        "1 for the reason of the target's most recent probe.",
    );
    for t in probed() {
        for reason in Reason::FAILURES.iter().copied().chain([Reason::Ok]) {
            target_line(
                out,
                "cdc_sentinel_probe_last_reason",
                t,
                Some(("reason", reason.as_str())),
            );
            ((t.last_reason == Some(reason)) as u8).push(out);
            out.push('\n');
        }
    }
}

fn escaped(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    esc(v, &mut out);
    out
}

fn counter_family(out: &mut String, name: &str, help: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    out.push_str(help);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push_str(" counter\n");
}

fn render_counters(c: &BTreeMap<String, ConnectorCounters>, results: usize, out: &mut String) {
    let names: Vec<String> = c.keys().map(|k| escaped(k)).collect();
    counter_family(
        out,
        "cdc_sentinel_task_failures_total",
        "Transitions of a task or the connector into FAILED observed.",
    );
    for (n, v) in names.iter().zip(c.values()) {
        line(
            out,
            "cdc_sentinel_task_failures_total",
            n,
            &[],
            v.task_failures,
        );
    }
    counter_family(
        out,
        "cdc_sentinel_recovery_timeouts_total",
        "Recoveries that reached the maximum wait.",
    );
    for (n, v) in names.iter().zip(c.values()) {
        line(
            out,
            "cdc_sentinel_recovery_timeouts_total",
            n,
            &[],
            v.timeouts,
        );
    }
    counter_family(
        out,
        "cdc_sentinel_recoveries_started_total",
        "Recoveries started (the agent decided to hold the connector).",
    );
    for (n, v) in names.iter().zip(c.values()) {
        for (i, reason) in HOLD_REASONS.iter().enumerate() {
            line(
                out,
                "cdc_sentinel_recoveries_started_total",
                n,
                &[("reason", reason)],
                v.started[i],
            );
        }
    }
    counter_family(
        out,
        "cdc_sentinel_actions_total",
        "REST actions on connectors by action and result.",
    );
    for (n, v) in names.iter().zip(c.values()) {
        for (a, action) in ACTIONS.iter().enumerate() {
            for (r, result) in RESULTS.iter().enumerate() {
                // Zeros for the results this agent can produce, so increase() sees the first.
                if r < results || v.actions[a][r] > 0 {
                    line(
                        out,
                        "cdc_sentinel_actions_total",
                        n,
                        &[("action", action), ("result", result)],
                        v.actions[a][r],
                    );
                }
            }
        }
    }
}

fn esc(v: &str, out: &mut String) {
    if !v.contains(['\\', '"', '\n']) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

fn line(out: &mut String, name: &str, connector: &str, extra: &[(&str, &str)], value: impl Value) {
    out.push_str(name);
    out.push_str("{connector=\"");
    out.push_str(connector); // escaped once per snapshot
    out.push('"');
    for (k, v) in extra {
        out.push(',');
        out.push_str(k);
        out.push_str("=\"");
        esc(v, out);
        out.push('"');
    }
    out.push_str("} ");
    value.push(out);
    out.push('\n');
}

/// A sample value, written without going through `fmt` for the integers that make up almost
/// every per-connector line (a 1,000-connector scrape has ~40,000 of them).
trait Value {
    fn push(self, out: &mut String);
}

impl Value for u64 {
    fn push(self, out: &mut String) {
        if self < 10 {
            out.push((b'0' + self as u8) as char);
            return;
        }
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut n = self;
        while n > 0 {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        // Only ASCII digits were written.
        out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
    }
}

impl Value for u32 {
    fn push(self, out: &mut String) {
        (self as u64).push(out)
    }
}

impl Value for u8 {
    fn push(self, out: &mut String) {
        (self as u64).push(out)
    }
}

impl Value for i32 {
    fn push(self, out: &mut String) {
        if self < 0 {
            out.push('-');
        }
        (self.unsigned_abs() as u64).push(out)
    }
}

impl Value for f64 {
    fn push(self, out: &mut String) {
        if self.fract() == 0.0 && (0.0..1e15).contains(&self) {
            (self as u64).push(out)
        } else {
            let _ = write!(out, "{self}");
        }
    }
}

fn render_connectors(snap: &Snapshot, out: &mut String) {
    let views = &snap.views;
    // About 3 KiB of exposition per connector: reserve it once instead of regrowing.
    out.reserve(views.len() * 3300);
    family(
        out,
        "cdc_sentinel_connector_state",
        "1 for the connector's current Kafka Connect state, 0 for the others.",
    );
    for (v, n) in views.iter().zip(&snap.escaped) {
        for s in State::EXPORTED {
            line(
                out,
                "cdc_sentinel_connector_state",
                n,
                &[("state", s.as_str())],
                (v.state == s) as u8,
            );
        }
    }
    family(
        out,
        "cdc_sentinel_connector_tasks",
        "Number of the connector's tasks in each state.",
    );
    for (v, n) in views.iter().zip(&snap.escaped) {
        for (i, s) in State::EXPORTED.iter().enumerate() {
            line(
                out,
                "cdc_sentinel_connector_tasks",
                n,
                &[("state", s.as_str())],
                v.tasks[i],
            );
        }
    }
    family(
        out,
        "cdc_sentinel_connector_selected",
        "1 if the agent acts on this connector (--connector/--include/--exclude), else 0.",
    );
    for (v, n) in views.iter().zip(&snap.escaped) {
        line(
            out,
            "cdc_sentinel_connector_selected",
            n,
            &[],
            v.selected as u8,
        );
    }
    family(
        out,
        "cdc_sentinel_connector_target_info",
        "1; the database target probed for this connector.",
    );
    for (v, n) in views.iter().zip(&snap.escaped).filter(|(v, _)| v.selected) {
        if let Some(t) = &v.target {
            line(
                out,
                "cdc_sentinel_connector_target_info",
                n,
                &[("target", t)],
                1,
            );
        }
    }
    family(
        out,
        "cdc_sentinel_connector_target_unknown",
        "1 when no database target could be found for a selected connector.",
    );
    for (v, n) in views.iter().zip(&snap.escaped).filter(|(v, _)| v.selected) {
        line(
            out,
            "cdc_sentinel_connector_target_unknown",
            n,
            &[],
            v.target.is_none() as u8,
        );
    }
    family(
        out,
        "cdc_sentinel_managed",
        "1 while the agent holds the connector (it will resume it).",
    );
    for (v, n) in views.iter().zip(&snap.escaped) {
        line(out, "cdc_sentinel_managed", n, &[], v.managed as u8);
    }
    family(
        out,
        "cdc_sentinel_recovery_active",
        "1 while the connector is in a recovery.",
    );
    for (v, n) in views.iter().zip(&snap.escaped) {
        line(
            out,
            "cdc_sentinel_recovery_active",
            n,
            &[],
            v.phase.in_recovery() as u8,
        );
    }
    family(
        out,
        "cdc_sentinel_recovery_phase",
        "1 for the connector's current recovery phase, 0 for the others.",
    );
    for (v, n) in views
        .iter()
        .zip(&snap.escaped)
        .filter(|(v, _)| v.selected || v.phase != Phase::Watching)
    {
        for p in Phase::ALL {
            line(
                out,
                "cdc_sentinel_recovery_phase",
                n,
                &[("phase", p.as_str())],
                (v.phase == p) as u8,
            );
        }
    }
    family(
        out,
        "cdc_sentinel_recovery_info",
        "1 while the phase is not watching: the target and why.",
    );
    for (v, n) in views.iter().zip(&snap.escaped) {
        if let (Some(reason), false) = (&v.reason, v.phase == Phase::Watching) {
            let t = v.target.as_deref().unwrap_or("");
            line(
                out,
                "cdc_sentinel_recovery_info",
                n,
                &[("target", t), ("reason", reason)],
                1,
            );
        }
    }
    family(
        out,
        "cdc_sentinel_recovery_started_timestamp_seconds",
        "Unix time the current recovery started.",
    );
    for (v, n) in views.iter().zip(&snap.escaped) {
        if let (Some(t), true) = (v.started_at_ms, v.phase.in_recovery()) {
            line(
                out,
                "cdc_sentinel_recovery_started_timestamp_seconds",
                n,
                &[],
                t as f64 / 1000.0,
            );
        }
    }
    family(
        out,
        "cdc_sentinel_recovery_max_wait_seconds",
        "The maximum wait that applies to the connector.",
    );
    for (v, n) in views.iter().zip(&snap.escaped).filter(|(v, _)| v.selected) {
        line(
            out,
            "cdc_sentinel_recovery_max_wait_seconds",
            n,
            &[],
            v.max_wait_secs,
        );
    }
    family(
        out,
        "cdc_sentinel_recovery_resume_attempts",
        "Resume attempts made in the current recovery.",
    );
    for (v, n) in views
        .iter()
        .zip(&snap.escaped)
        .filter(|(v, _)| v.selected || v.phase != Phase::Watching)
    {
        line(
            out,
            "cdc_sentinel_recovery_resume_attempts",
            n,
            &[],
            v.attempts,
        );
    }
    family(
        out,
        "cdc_sentinel_maintenance_active",
        "1 while a maintenance window applies to the connector.",
    );
    for (v, n) in views.iter().zip(&snap.escaped).filter(|(v, _)| v.selected) {
        line(
            out,
            "cdc_sentinel_maintenance_active",
            n,
            &[],
            v.maintenance as u8,
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_written_exactly() {
        let w = |f: &dyn Fn(&mut String)| {
            let mut s = String::new();
            f(&mut s);
            s
        };
        for n in [0u64, 1, 9, 10, 99, 12345, u64::MAX] {
            assert_eq!(w(&|s| n.push(s)), n.to_string());
        }
        assert_eq!(w(&|s| (-3i32).push(s)), "-3");
        assert_eq!(w(&|s| 1800.0f64.push(s)), "1800");
        assert_eq!(w(&|s| 1_700_000_000.25f64.push(s)), "1700000000.25");
        assert_eq!(w(&|s| 0.5f64.push(s)), "0.5");
    }

    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new("0.1.0", "abc", false);
        m.set_connectors(vec![ConnectorView {
            name: "we\"ird\\name\n".into(),
            state: State::Running,
            tasks: [0, 1, 0, 0, 0, 0],
            selected: true,
            target: Some("db:1521".into()),
            phase: Phase::Watching,
            reason: None,
            managed: false,
            started_at_ms: None,
            max_wait_secs: 1800.0,
            attempts: 0,
            maintenance: false,
        }]);
        let text = m.render();
        assert!(
            text.contains(
                r#"cdc_sentinel_connector_state{connector="we\"ird\\name\n",state="RUNNING"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"cdc_sentinel_build_info{revision="abc",version="0.1.0"} 1"#));
    }

    #[test]
    fn maintenance_active_for_every_selected_connector() {
        let m = Metrics::new("0.1.0", "abc", false);
        let view = |name: &str, selected: bool, maintenance: bool| ConnectorView {
            name: name.into(),
            state: State::Paused,
            tasks: [0, 0, 1, 0, 0, 0],
            selected,
            target: Some("db:1521".into()),
            phase: Phase::Waiting,
            reason: Some("maintenance".into()),
            managed: true,
            started_at_ms: Some(1_000),
            max_wait_secs: 1800.0,
            attempts: 0,
            maintenance,
        };
        m.set_connectors(vec![
            view("inv", true, true),
            view("crm", true, false),
            view("other", false, true),
        ]);
        let text = m.render();
        assert!(
            text.contains("# TYPE cdc_sentinel_maintenance_active gauge"),
            "{text}"
        );
        assert!(text.contains(r#"cdc_sentinel_maintenance_active{connector="inv"} 1"#));
        assert!(text.contains(r#"cdc_sentinel_maintenance_active{connector="crm"} 0"#));
        assert!(!text.contains(r#"cdc_sentinel_maintenance_active{connector="other"}"#));
        assert!(text.contains(
            r#"cdc_sentinel_recovery_info{connector="inv",target="db:1521",reason="maintenance"} 1"#
        ));
        assert!(text.contains(
            r#"cdc_sentinel_recoveries_started_total{connector="crm",reason="maintenance"} 0"#
        ));
    }

    fn probed(reason: Reason, ms: u64) -> ProbeResult {
        ProbeResult {
            reason,
            detail: String::new(),
            version: None,
            duration: std::time::Duration::from_micros(ms),
        }
    }

    #[test]
    fn probe_series_match_the_reference_encoder() {
        // The probe series are rendered by hand for speed; the prometheus crate's own encoder,
        // fed the same probes, is the reference for every line.
        let m = Metrics::new("0.1.0", "abc", false);
        let reference = Registry::new();
        let hist = HistogramVec::new(
            HistogramOpts::new(
                "cdc_sentinel_probe_duration_seconds",
                "Duration of each database probe.",
            )
            .buckets(PROBE_BUCKETS.to_vec()),
            &["target"],
        )
        .unwrap();
        reference.register(Box::new(hist.clone())).unwrap();
        let t = "db\"1:1521/ORCL";
        m.target_added(t);
        m.target_added("never-probed:5432");
        let probes = [
            (Reason::Ok, 400),
            (Reason::Refused, 3_000),
            (Reason::ServiceUnknown, 200_000),
            (Reason::ServiceUnknown, 7_000_000),
            (Reason::Timeout, 12_000_000),
        ];
        for (i, (reason, us)) in probes.iter().enumerate() {
            let r = probed(*reason, *us);
            m.probe_result(t, &r, 1_700_000_000_000 + i as u64 * 1000);
            hist.with_label_values(&[t])
                .observe(r.duration.as_secs_f64());
        }
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&reference.gather(), &mut buf)
            .unwrap();
        let want = String::from_utf8(buf).unwrap();
        let got = m.render();
        let ours: Vec<&str> = got
            .lines()
            .filter(|l| l.starts_with("cdc_sentinel_probe_duration_seconds"))
            .collect();
        let theirs: Vec<&str> = want.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(ours, theirs);
        assert!(got.contains("# TYPE cdc_sentinel_probe_duration_seconds histogram\n"));

        let expect = [
            r#"cdc_sentinel_probe_success{target="db\"1:1521/ORCL"} 0"#,
            r#"cdc_sentinel_probe_last_success_timestamp_seconds{target="db\"1:1521/ORCL"} 1700000000"#,
            r#"cdc_sentinel_probe_failures_total{target="db\"1:1521/ORCL",reason="service_unknown"} 2"#,
            r#"cdc_sentinel_probe_failures_total{target="db\"1:1521/ORCL",reason="refused"} 1"#,
            r#"cdc_sentinel_probe_failures_total{target="db\"1:1521/ORCL",reason="dns"} 0"#,
            r#"cdc_sentinel_probe_last_reason{target="db\"1:1521/ORCL",reason="timeout"} 1"#,
            r#"cdc_sentinel_probe_last_reason{target="db\"1:1521/ORCL",reason="ok"} 0"#,
            // a target not probed yet: its failure counters at zero, nothing else
            r#"cdc_sentinel_probe_failures_total{target="never-probed:5432",reason="timeout"} 0"#,
        ];
        for line in expect {
            assert!(got.lines().any(|l| l == line), "missing {line}\n{got}");
        }
        assert!(!got.contains(r#"cdc_sentinel_probe_success{target="never-probed:5432"}"#));
        assert!(!got.contains(r#"cdc_sentinel_probe_last_reason{target="never-probed:5432""#));
        assert_eq!(
            got.matches(r#"cdc_sentinel_probe_last_reason{target="db\"1:1521/ORCL""#)
                .count(),
            11
        );

        m.forget_target(t);
        assert!(
            !m.render().contains("db\\\"1"),
            "forgotten target still exported"
        );
    }
}
