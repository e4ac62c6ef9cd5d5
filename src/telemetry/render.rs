//! The Prometheus text exposition, written by hand from the stores in [`super::metrics`] with
//! the names and help of [`super::table`]. A 1,000-connector scrape is ~47,000 lines; going
//! through a registry's gather + encode costs ~500 ns a series, so every line is written here
//! directly, integers without `fmt`, connector names escaped once per poll.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::Bytes;
use cdc_sentinel_probe::Reason;

use super::metrics::{lock, ConnectorCounters, Histogram, Metrics, Snapshot, TargetSeries};
use super::table::{self as t, MetricDef};
use crate::core::{Action, ActionStatus, ConnState, HoldReason, Manager, Outcome, Phase};

/// The size of a streamed scrape's chunks: a 10,000-connector exposition (37 MiB) is ~600 of
/// them, and a scrape holds only a few at a time.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Where the exposition is written: one `String`, or chunks of about [`CHUNK`] bytes handed to
/// a scrape as they fill (blocking when it has not taken the previous ones yet, so a slow
/// client holds back the render instead of letting it pile up in memory). Derefs to the
/// `String` being filled; [`Out::row`] marks the places where a chunk may end.
pub(crate) struct Out {
    buf: String,
    tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
    /// The scrape went away: stop sending, keep the buffer empty.
    gone: bool,
}

impl std::ops::Deref for Out {
    type Target = String;
    fn deref(&self) -> &String {
        &self.buf
    }
}

impl std::ops::DerefMut for Out {
    fn deref_mut(&mut self) -> &mut String {
        &mut self.buf
    }
}

impl Out {
    /// After a connector's (or target's) lines: sends the chunk once it is full enough.
    pub(crate) fn row(&mut self) {
        let Some(tx) = &self.tx else { return };
        if self.gone {
            self.buf.clear();
        } else if self.buf.len() >= CHUNK {
            let chunk = std::mem::replace(&mut self.buf, String::with_capacity(CHUNK + 8192));
            self.gone = tx.blocking_send(Bytes::from(chunk)).is_err();
        }
    }
}

/// The whole exposition as one `String` (tests, the benchmark, small scrapes).
pub(crate) fn render(m: &Metrics) -> String {
    let views = m
        .snapshot
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .views
        .len();
    let mut out = Out {
        buf: String::with_capacity(64 * 1024 + views * 3300),
        tx: None,
        gone: false,
    };
    render_into(m, &mut out);
    out.buf
}

/// The exposition in chunks sent to `tx` as they fill, for a streamed scrape: its memory is a
/// few chunks, not the whole text. Blocks on a full channel: run it off the async runtime.
pub(crate) fn render_chunks(m: &Metrics, tx: tokio::sync::mpsc::Sender<Bytes>) {
    let mut out = Out {
        buf: String::with_capacity(CHUNK + 8192),
        tx: Some(tx),
        gone: false,
    };
    render_into(m, &mut out);
    if let (Some(tx), false) = (&out.tx, out.gone || out.buf.is_empty()) {
        let _ = tx.blocking_send(Bytes::from(out.buf));
    }
}

/// No lock is held while a chunk is sent: the supervisor and the probes must never wait on a
/// slow scrape. The snapshot is an `Arc`; counters and probe series are copied out first.
fn render_into(m: &Metrics, out: &mut Out) {
    let snap = m.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone();
    let dry_run = {
        let p = lock(&m.process);
        render_process(&p, out);
        p.dry_run
    };
    out.row();
    render_connectors(&snap, out);
    drop(snap);
    let counters = lock(&m.counters).clone();
    render_counters(&counters, dry_run, out);
    drop(counters);
    let targets = lock(&m.targets).clone();
    render_targets(&targets, out);
}

fn render_process(p: &super::metrics::Process, out: &mut String) {
    t::BUILD_INFO.header(out);
    out.push_str(t::BUILD_INFO.name);
    out.push_str("{revision=\"");
    esc(&p.revision, out);
    out.push_str("\",version=\"");
    esc(&p.version, out);
    out.push_str("\"} 1\n");
    t::DRY_RUN.header(out);
    plain(out, t::DRY_RUN.name, p.dry_run as u8);
    t::CONNECT_UP.header(out);
    plain(out, t::CONNECT_UP.name, p.connect_up as u8);
    t::CONNECT_LAST_SUCCESS.header(out);
    plain(out, t::CONNECT_LAST_SUCCESS.name, p.connect_last_success_s);
    t::CONNECT_REQUEST_DURATION.header(out);
    for ((code, op), h) in &p.connect_requests {
        let mut labels = String::from("code=\"");
        esc(code, &mut labels);
        labels.push_str("\",operation=\"");
        labels.push_str(op.as_str());
        labels.push('"');
        histogram(out, t::CONNECT_REQUEST_DURATION.name, &labels, h);
    }
    if let Some(k) = &p.kubernetes {
        t::KUBERNETES_UP.header(out);
        plain(out, t::KUBERNETES_UP.name, k.up as u8);
        t::KUBERNETES_REQUEST_DURATION.header(out);
        for ((code, verb), h) in &k.requests {
            let mut labels = String::from("code=\"");
            esc(code, &mut labels);
            labels.push_str("\",verb=\"");
            labels.push_str(verb.as_str());
            labels.push('"');
            histogram(out, t::KUBERNETES_REQUEST_DURATION.name, &labels, h);
        }
    }
    t::LEADER.header(out);
    plain(out, t::LEADER.name, p.leader as u8);
    t::LEADER_CHANGES.header(out);
    plain(out, t::LEADER_CHANGES.name, p.leader_changes);
    t::STATE_STORE_UP.header(out);
    plain(out, t::STATE_STORE_UP.name, p.state_store_up as u8);
    t::UNRECORDED_HOLDS.header(out);
    plain(out, t::UNRECORDED_HOLDS.name, p.unrecorded_holds);
    t::RECOVERY_DURATION.header(out);
    for o in Outcome::ALL {
        if let Some(h) = &p.recovery_duration[o.index()] {
            let labels = format!("outcome=\"{}\"", o.as_str());
            histogram(out, t::RECOVERY_DURATION.name, &labels, h);
        }
    }
}

fn plain(out: &mut String, name: &str, v: impl Value) {
    out.push_str(name);
    out.push(' ');
    v.push(out);
    out.push('\n');
}

/// `NAME_bucket{labels,le=...}` for every bound and +Inf, then `_sum` and `_count`.
fn histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    for (i, le) in h.bounds.iter().enumerate() {
        let _ = write!(out, "{name}_bucket{{{labels},le=\"{le}\"}} ");
        h.buckets[i].push(out);
        out.push('\n');
    }
    let _ = write!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} ");
    h.count.push(out);
    let _ = writeln!(out, "\n{name}_sum{{{labels}}} {}", h.sum);
    let _ = write!(out, "{name}_count{{{labels}}} ");
    h.count.push(out);
    out.push('\n');
}

fn target_line(out: &mut String, name: &str, label: &str, extra: Option<(&str, &str)>) {
    out.push_str(name);
    out.push_str("{target=\"");
    out.push_str(label);
    out.push('"');
    if let Some((k, v)) = extra {
        out.push(',');
        out.push_str(k);
        out.push_str("=\"");
        out.push_str(v);
        out.push('"');
    }
    out.push_str("} ");
}

fn render_targets(targets: &BTreeMap<String, TargetSeries>, out: &mut Out) {
    let labels: Vec<String> = targets.keys().map(|k| escaped(k)).collect();
    let all = || labels.iter().zip(targets.values());
    let probed = || all().filter(|(_, t)| t.last_reason.is_some());
    t::PROBE_SUCCESS.header(out);
    for (l, s) in probed() {
        target_line(out, t::PROBE_SUCCESS.name, l, None);
        ((s.last_reason == Some(Reason::Ok)) as u8).push(out);
        out.push('\n');
        out.row();
    }
    t::PROBE_DURATION.header(out);
    for (l, s) in probed() {
        histogram(
            out,
            t::PROBE_DURATION.name,
            &format!("target=\"{l}\""),
            &s.duration,
        );
        out.row();
    }
    t::PROBE_LAST_SUCCESS.header(out);
    for (l, s) in all() {
        if let Some(v) = s.last_success_s {
            target_line(out, t::PROBE_LAST_SUCCESS.name, l, None);
            v.push(out);
            out.push('\n');
        }
        out.row();
    }
    t::PROBE_FAILURES.header(out);
    for (l, s) in all() {
        for reason in Reason::failures() {
            target_line(
                out,
                t::PROBE_FAILURES.name,
                l,
                Some(("reason", reason.as_str())),
            );
            s.failures[reason.index()].push(out);
            out.push('\n');
        }
        out.row();
    }
    t::PROBE_BLIND.header(out);
    for (l, s) in all() {
        if let Some(b) = s.blind {
            target_line(out, t::PROBE_BLIND.name, l, None);
            (b as u8).push(out);
            out.push('\n');
        }
        out.row();
    }
    t::PROBE_LAST_REASON.header(out);
    for (l, s) in probed() {
        for reason in Reason::failures().chain([Reason::Ok]) {
            target_line(
                out,
                t::PROBE_LAST_REASON.name,
                l,
                Some(("reason", reason.as_str())),
            );
            ((s.last_reason == Some(reason)) as u8).push(out);
            out.push('\n');
        }
        out.row();
    }
}

pub(crate) fn escaped(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    esc(v, &mut out);
    out
}

fn render_counters(c: &BTreeMap<String, ConnectorCounters>, dry_run: bool, out: &mut Out) {
    let names: Vec<String> = c.keys().map(|k| escaped(k)).collect();
    let rows = || names.iter().zip(c.values());
    t::TASK_FAILURES.header(out);
    for (n, v) in rows() {
        line(out, t::TASK_FAILURES.name, n, &[], v.task_failures);
        out.row();
    }
    t::RECOVERY_TIMEOUTS.header(out);
    for (n, v) in rows() {
        line(out, t::RECOVERY_TIMEOUTS.name, n, &[], v.timeouts);
        out.row();
    }
    t::RECOVERIES_STARTED.header(out);
    for (n, v) in rows() {
        for r in HoldReason::ALL {
            line(
                out,
                t::RECOVERIES_STARTED.name,
                n,
                &[("reason", r.as_str())],
                v.started[r.index()],
            );
        }
        out.row();
    }
    t::ACTIONS.header(out);
    for (n, v) in rows() {
        for a in Action::ALL {
            for r in ActionStatus::ALL {
                let count = v.actions[a.index()][r.index()];
                // Zeros for the results this agent can produce, so increase() sees the first.
                if *r != ActionStatus::DryRun || dry_run || count > 0 {
                    line(
                        out,
                        t::ACTIONS.name,
                        n,
                        &[("action", a.as_str()), ("result", r.as_str())],
                        count,
                    );
                }
            }
        }
        out.row();
    }
}

pub(crate) fn esc(v: &str, out: &mut String) {
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
pub(crate) trait Value {
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

impl Value for f64 {
    fn push(self, out: &mut String) {
        if self.fract() == 0.0 && (0.0..1e15).contains(&self) {
            (self as u64).push(out)
        } else {
            let _ = write!(out, "{self}");
        }
    }
}

fn gauge_per_connector<'a>(
    out: &mut Out,
    def: &MetricDef,
    rows: impl Iterator<Item = (&'a super::ConnectorView, &'a String)>,
    value: impl Fn(&super::ConnectorView) -> Option<f64>,
) {
    def.header(out);
    for (v, n) in rows {
        if let Some(x) = value(v) {
            line(out, def.name, n, &[], x);
        }
        out.row();
    }
}

fn render_connectors(snap: &Snapshot, out: &mut Out) {
    let views = &snap.views;
    let all = || views.iter().zip(&snap.escaped);
    let selected = || all().filter(|(v, _)| v.selected);
    let watched = || all().filter(|(v, _)| v.selected || v.phase != Phase::Watching);
    t::CONNECTOR_STATE.header(out);
    for (v, n) in all() {
        for s in ConnState::KNOWN {
            line(
                out,
                t::CONNECTOR_STATE.name,
                n,
                &[("state", s.as_str())],
                (v.state == s) as u8,
            );
        }
        // A state a newer Kafka reports, under its own name.
        if let Some(other) = &v.state_name {
            line(out, t::CONNECTOR_STATE.name, n, &[("state", other)], 1u8);
        }
        out.row();
    }
    t::CONNECTOR_TASKS.header(out);
    for (v, n) in all() {
        for (i, s) in ConnState::KNOWN.iter().enumerate() {
            line(
                out,
                t::CONNECTOR_TASKS.name,
                n,
                &[("state", s.as_str())],
                v.tasks[i],
            );
        }
        out.row();
    }
    gauge_per_connector(out, &t::CONNECTOR_SELECTED, all(), |v| {
        Some(v.selected as u8 as f64)
    });
    t::CONNECTOR_TARGET_INFO.header(out);
    for (v, n) in selected() {
        if let Some(target) = &v.target {
            line(
                out,
                t::CONNECTOR_TARGET_INFO.name,
                n,
                &[("target", target)],
                1u8,
            );
        }
        out.row();
    }
    gauge_per_connector(out, &t::CONNECTOR_TARGET_UNKNOWN, selected(), |v| {
        Some(v.target.is_none() as u8 as f64)
    });
    gauge_per_connector(out, &t::MANAGED, all(), |v| Some(v.managed as u8 as f64));
    gauge_per_connector(out, &t::RECOVERY_ACTIVE, all(), |v| {
        Some(v.phase.in_recovery() as u8 as f64)
    });
    t::RECOVERY_PHASE.header(out);
    for (v, n) in watched() {
        for p in Phase::ALL {
            line(
                out,
                t::RECOVERY_PHASE.name,
                n,
                &[("phase", p.as_str())],
                (v.phase == *p) as u8,
            );
        }
        out.row();
    }
    t::RECOVERY_INFO.header(out);
    for (v, n) in all() {
        if let (Some(reason), false) = (v.reason, v.phase == Phase::Watching) {
            let target = v.target.as_deref().unwrap_or("");
            line(
                out,
                t::RECOVERY_INFO.name,
                n,
                &[("target", target), ("reason", reason.as_str())],
                1u8,
            );
        }
        out.row();
    }
    gauge_per_connector(out, &t::RECOVERY_STARTED, all(), |v| {
        v.started_at_ms
            .filter(|_| v.phase.in_recovery())
            .map(|t| t as f64 / 1000.0)
    });
    gauge_per_connector(out, &t::RECOVERY_MAX_WAIT, selected(), |v| {
        Some(v.max_wait_secs)
    });
    gauge_per_connector(out, &t::RECOVERY_RESUME_ATTEMPTS, watched(), |v| {
        Some(v.attempts as f64)
    });
    gauge_per_connector(out, &t::MAINTENANCE_ACTIVE, selected(), |v| {
        Some(v.maintenance as u8 as f64)
    });
    t::CONNECTOR_MANAGED_BY.header(out);
    for (v, n) in selected() {
        for m in Manager::ALL {
            line(
                out,
                t::CONNECTOR_MANAGED_BY.name,
                n,
                &[("manager", m.as_str())],
                (v.manager == *m) as u8,
            );
        }
        out.row();
    }
    gauge_per_connector(out, &t::SOURCE_OFFSET_POSITION, all(), |v| {
        v.offset.map(|o| o.position.metric_value())
    });
    gauge_per_connector(out, &t::SOURCE_OFFSET_ADVANCED, all(), |v| {
        v.offset.map(|o| o.advanced_at_ms as f64 / 1000.0)
    });
    gauge_per_connector(out, &t::CONNECTOR_STALLED, all(), |v| {
        v.offset.map(|o| o.stalled as u8 as f64)
    });
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
