//! Every metric the agent exports (the contract is docs/metrics.md), on an owned registry.
//!
//! Counters and histograms live in a `prometheus` registry. Per-connector gauges are written at
//! scrape time from the latest poll's snapshot ([`ConnectorView`]s), so a deleted or deselected
//! connector disappears instead of exporting a stale value, and a poll costs one pointer swap.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, RwLock};

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
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
}

/// Cheap to clone: everything is behind `Arc`s.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    snapshot: Arc<RwLock<Arc<Vec<ConnectorView>>>>,
    seen: Arc<Mutex<HashSet<String>>>,
    pub connect_up: IntGauge,
    connect_last_success: prometheus::Gauge,
    connect_duration: HistogramVec,
    task_failures: IntCounterVec,
    probe_success: IntGaugeVec,
    probe_duration: HistogramVec,
    probe_last_success: GaugeVec,
    probe_failures: IntCounterVec,
    probe_last_reason: IntGaugeVec,
    actions: IntCounterVec,
    timeouts: IntCounterVec,
    recoveries_started: IntCounterVec,
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
        let probe_duration = reg(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    "cdc_sentinel_probe_duration_seconds",
                    "Duration of each database probe.",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
                &["target"],
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
            task_failures: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "cdc_sentinel_task_failures_total",
                        "Transitions of a task or the connector into FAILED observed.",
                    ),
                    &["connector"],
                )
                .expect("valid"),
            ),
            probe_success: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "cdc_sentinel_probe_success",
                        "1 if the last probe of the target succeeded, else 0.",
                    ),
                    &["target"],
                )
                .expect("valid"),
            ),
            probe_duration,
            probe_last_success: reg(
                &r,
                GaugeVec::new(
                    Opts::new(
                        "cdc_sentinel_probe_last_success_timestamp_seconds",
                        "Unix time of the last successful probe of the target.",
                    ),
                    &["target"],
                )
                .expect("valid"),
            ),
            probe_failures: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "cdc_sentinel_probe_failures_total",
                        "Failed probes by reason.",
                    ),
                    &["target", "reason"],
                )
                .expect("valid"),
            ),
            probe_last_reason: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "cdc_sentinel_probe_last_reason",
                        "1 for the reason of the target's most recent probe.",
                    ),
                    &["target", "reason"],
                )
                .expect("valid"),
            ),
            actions: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "cdc_sentinel_actions_total",
                        "REST actions on connectors by action and result.",
                    ),
                    &["connector", "action", "result"],
                )
                .expect("valid"),
            ),
            timeouts: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "cdc_sentinel_recovery_timeouts_total",
                        "Recoveries that reached the maximum wait.",
                    ),
                    &["connector"],
                )
                .expect("valid"),
            ),
            recoveries_started: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "cdc_sentinel_recoveries_started_total",
                        "Recoveries started (the agent decided to hold the connector).",
                    ),
                    &["connector", "reason"],
                )
                .expect("valid"),
            ),
            recovery_duration,
            registry: r,
            snapshot: Arc::new(RwLock::new(Arc::new(Vec::new()))),
            seen: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// Replaces the per-connector snapshot (after each successful poll).
    pub fn set_connectors(&self, views: Vec<ConnectorView>) {
        {
            let mut seen = self.seen.lock().expect("metrics lock");
            for v in views.iter().filter(|v| v.selected) {
                if !seen.contains(&v.name) {
                    seen.insert(v.name.clone());
                    // Zero series, so rate() and increase() work from the first failure on.
                    self.task_failures.with_label_values(&[&v.name]).inc_by(0);
                    self.timeouts.with_label_values(&[&v.name]).inc_by(0);
                    for reason in ["task_failed", "probe_failed"] {
                        self.recoveries_started
                            .with_label_values(&[&v.name, reason])
                            .inc_by(0);
                    }
                }
            }
        }
        *self.snapshot.write().expect("metrics lock") = Arc::new(views);
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
        self.task_failures.with_label_values(&[connector]).inc_by(n);
    }

    pub fn probe_result(&self, target: &str, r: &ProbeResult, now_ms: u64) {
        self.probe_success
            .with_label_values(&[target])
            .set(r.up() as i64);
        self.probe_duration
            .with_label_values(&[target])
            .observe(r.duration.as_secs_f64());
        if r.up() {
            self.probe_last_success
                .with_label_values(&[target])
                .set(now_ms as f64 / 1000.0);
        } else {
            self.probe_failures
                .with_label_values(&[target, r.reason.as_str()])
                .inc();
        }
        for reason in Reason::FAILURES.iter().copied().chain([Reason::Ok]) {
            if reason != Reason::Ok {
                self.probe_failures
                    .with_label_values(&[target, reason.as_str()])
                    .inc_by(0);
            }
            self.probe_last_reason
                .with_label_values(&[target, reason.as_str()])
                .set((reason == r.reason) as i64);
        }
    }

    /// Drops a target's series once no connector uses it.
    pub fn forget_target(&self, target: &str) {
        let _ = self.probe_success.remove_label_values(&[target]);
        let _ = self.probe_duration.remove_label_values(&[target]);
        let _ = self.probe_last_success.remove_label_values(&[target]);
        for reason in Reason::FAILURES.iter().copied().chain([Reason::Ok]) {
            let _ = self
                .probe_failures
                .remove_label_values(&[target, reason.as_str()]);
            let _ = self
                .probe_last_reason
                .remove_label_values(&[target, reason.as_str()]);
        }
    }

    pub fn action(&self, connector: &str, action: &str, result: &str) {
        self.actions
            .with_label_values(&[connector, action, result])
            .inc();
    }

    pub fn timed_out(&self, connector: &str) {
        self.timeouts.with_label_values(&[connector]).inc();
    }

    pub fn recovery_started(&self, connector: &str, reason: &str) {
        self.recoveries_started
            .with_label_values(&[connector, reason])
            .inc();
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
        out
    }
}

fn esc(v: &str, out: &mut String) {
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

fn line(
    out: &mut String,
    name: &str,
    connector: &str,
    extra: &[(&str, &str)],
    value: impl std::fmt::Display,
) {
    out.push_str(name);
    out.push_str("{connector=\"");
    esc(connector, out);
    out.push('"');
    for (k, v) in extra {
        out.push(',');
        out.push_str(k);
        out.push_str("=\"");
        esc(v, out);
        out.push('"');
    }
    let _ = writeln!(out, "}} {value}");
}

fn render_connectors(views: &[ConnectorView], out: &mut String) {
    out.reserve(views.len() * 1800);
    family(
        out,
        "cdc_sentinel_connector_state",
        "1 for the connector's current Kafka Connect state, 0 for the others.",
    );
    for v in views {
        for s in State::EXPORTED {
            line(
                out,
                "cdc_sentinel_connector_state",
                &v.name,
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
    for v in views {
        for (i, s) in State::EXPORTED.iter().enumerate() {
            line(
                out,
                "cdc_sentinel_connector_tasks",
                &v.name,
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
    for v in views {
        line(
            out,
            "cdc_sentinel_connector_selected",
            &v.name,
            &[],
            v.selected as u8,
        );
    }
    family(
        out,
        "cdc_sentinel_connector_target_info",
        "1; the database target probed for this connector.",
    );
    for v in views.iter().filter(|v| v.selected) {
        if let Some(t) = &v.target {
            line(
                out,
                "cdc_sentinel_connector_target_info",
                &v.name,
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
    for v in views.iter().filter(|v| v.selected) {
        line(
            out,
            "cdc_sentinel_connector_target_unknown",
            &v.name,
            &[],
            v.target.is_none() as u8,
        );
    }
    family(
        out,
        "cdc_sentinel_managed",
        "1 while the agent holds the connector (it will resume it).",
    );
    for v in views {
        line(out, "cdc_sentinel_managed", &v.name, &[], v.managed as u8);
    }
    family(
        out,
        "cdc_sentinel_recovery_active",
        "1 while the connector is in a recovery.",
    );
    for v in views {
        line(
            out,
            "cdc_sentinel_recovery_active",
            &v.name,
            &[],
            v.phase.in_recovery() as u8,
        );
    }
    family(
        out,
        "cdc_sentinel_recovery_phase",
        "1 for the connector's current recovery phase, 0 for the others.",
    );
    for v in views
        .iter()
        .filter(|v| v.selected || v.phase != Phase::Watching)
    {
        for p in Phase::ALL {
            line(
                out,
                "cdc_sentinel_recovery_phase",
                &v.name,
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
    for v in views {
        if let (Some(reason), false) = (&v.reason, v.phase == Phase::Watching) {
            let t = v.target.as_deref().unwrap_or("");
            line(
                out,
                "cdc_sentinel_recovery_info",
                &v.name,
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
    for v in views {
        if let (Some(t), true) = (v.started_at_ms, v.phase.in_recovery()) {
            line(
                out,
                "cdc_sentinel_recovery_started_timestamp_seconds",
                &v.name,
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
    for v in views.iter().filter(|v| v.selected) {
        line(
            out,
            "cdc_sentinel_recovery_max_wait_seconds",
            &v.name,
            &[],
            v.max_wait_secs,
        );
    }
    family(
        out,
        "cdc_sentinel_recovery_resume_attempts",
        "Resume attempts made in the current recovery.",
    );
    for v in views
        .iter()
        .filter(|v| v.selected || v.phase != Phase::Watching)
    {
        line(
            out,
            "cdc_sentinel_recovery_resume_attempts",
            &v.name,
            &[],
            v.attempts,
        );
    }
}

#[cfg(test)]
mod tests {
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
}
