#!/usr/bin/env python3
"""Evaluates every dashboard query on a real Prometheus holding synthetic cdc-sentinel data.

It writes two hours of samples for every metric in monitoring/metrics.json (three connectors:
one watching, one held while its database is down, one without a database target; a leading
and a standby agent), backfills them with `promtool tsdb create-blocks-from openmetrics`, starts
`prometheus` on 127.0.0.1 on that data, and runs each query from
`monitoring/generate.py --list-queries` through /api/v1/query. A query fails if Prometheus
rejects it, or if it returns nothing although the data has something for every panel to show;
a metric of the table that no synthetic series covers fails too. The real-agent end to end
(tests/e2e/prometheus/) runs the same queries on what the agent exports. Exit 0 on success, 1 on a failure, 2 if Prometheus is not
installed. Every process it starts it stops (by PID), also on failure.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

TESTS = os.path.dirname(os.path.abspath(__file__))
ALERTS = os.path.dirname(TESTS)
REPO = os.path.dirname(ALERTS)
GENERATE = os.path.join(REPO, "monitoring", "generate.py")
with open(os.path.join(REPO, "monitoring", "metrics.json"), encoding="utf-8") as _f:
    TABLE = {m["name"]: m for m in json.load(_f)["metrics"]}


def values(metric, label):
    return next(lb["values"] for lb in TABLE[metric]["labels"] if lb["name"] == label)


INSTANCE, STANDBY = "127.0.0.1:10150", "127.0.0.1:10151"
BASE = {"job": "cdc-sentinel"}  # the labels the knobs' selector selects; set in main()
STEP = 15
SPAN = 2 * 3600
STATES = values("cdc_sentinel_connector_state", "state")
PHASES = values("cdc_sentinel_recovery_phase", "phase")
REASONS = values("cdc_sentinel_probe_last_reason", "reason")
BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def labels(**kv):
    kv = {**BASE, "instance": kv.pop("_instance", INSTANCE), **kv}
    return "{" + ",".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


def synthetic(end):
    """OpenMetrics text: (name, type) families, each with samples every STEP seconds."""
    start = end - SPAN
    fams = {}

    def add(name, kind, lbl, fn):
        fams.setdefault((name, kind), []).append((lbl, fn))

    gauge = lambda v: (lambda t: v)  # noqa: E731
    per_min = lambda rate: (lambda t: float(int((t - start) / 60 * rate)))  # noqa: E731
    down_since = end - 40 * 60

    for inst, leads in ((INSTANCE, 1), (STANDBY, 0)):
        add("cdc_sentinel_build_info", "gauge", labels(_instance=inst, version="0.2.0", revision="abc1234"), gauge(1))
        add("cdc_sentinel_dry_run", "gauge", labels(_instance=inst), gauge(0))
        add("cdc_sentinel_connect_up", "gauge", labels(_instance=inst), gauge(1))
        add("cdc_sentinel_connect_last_success_timestamp_seconds", "gauge", labels(_instance=inst), lambda t: t)
        add("cdc_sentinel_leader", "gauge", labels(_instance=inst), gauge(leads))
        add("cdc_sentinel_leader_changes_total", "counter", labels(_instance=inst), per_min(0.05))
        add("cdc_sentinel_state_store_up", "gauge", labels(_instance=inst), gauge(1))
        add("cdc_sentinel_unrecorded_holds", "gauge", labels(_instance=inst), gauge(1))
        add("cdc_sentinel_kubernetes_up", "gauge", labels(_instance=inst), gauge(1))
        for verb, code in (("list", "200"), ("watch", "200"), ("patch", "403")):
            for i, le in enumerate(BUCKETS):
                add("cdc_sentinel_kubernetes_request_duration_seconds", "histogram",
                    labels(_instance=inst, verb=verb, code=code, le=le), per_min(min(6.0, 1.0 * (i + 1))))
    conns = {"inventory-cdc": ("RUNNING", "watching", "db1.example:1521/ORCLPDB1"),
             "orders-cdc": ("PAUSED", "waiting", "pg1.example:5432"),
             "legacy-cdc": ("RUNNING", "watching", None)}
    for c, (state, phase, target) in conns.items():
        for s in STATES:
            add("cdc_sentinel_connector_state", "gauge", labels(connector=c, state=s),
                gauge(1 if s == state else 0))
            n = {"RUNNING": 2 if state == "RUNNING" else 0,
                 "FAILED": 1 if c == "orders-cdc" else 0,
                 "PAUSED": 1 if c == "orders-cdc" else 0}.get(s, 0)
            add("cdc_sentinel_connector_tasks", "gauge", labels(connector=c, state=s), gauge(n))
        for p in PHASES:
            add("cdc_sentinel_recovery_phase", "gauge", labels(connector=c, phase=p),
                gauge(1 if p == phase else 0))
        held = c == "orders-cdc"
        add("cdc_sentinel_managed", "gauge", labels(connector=c), gauge(1 if held else 0))
        add("cdc_sentinel_connector_selected", "gauge", labels(connector=c), gauge(1))
        add("cdc_sentinel_maintenance_active", "gauge", labels(connector=c), gauge(0))
        for mgr in values("cdc_sentinel_connector_managed_by", "manager"):
            add("cdc_sentinel_connector_managed_by", "gauge", labels(connector=c, manager=mgr),
                gauge(1 if mgr == ("strimzi" if c == "legacy-cdc" else "rest") else 0))
        add("cdc_sentinel_source_offset_position", "gauge", labels(connector=c),
            (lambda t: float(1000 + (t - start) // 60)) if state == "RUNNING" else gauge(900))
        add("cdc_sentinel_source_offset_advanced_timestamp_seconds", "gauge", labels(connector=c),
            (lambda t: t) if c == "inventory-cdc" else gauge(down_since))
        add("cdc_sentinel_connector_stalled", "gauge", labels(connector=c), gauge(1 if c == "legacy-cdc" else 0))
        add("cdc_sentinel_recovery_active", "gauge", labels(connector=c), gauge(1 if held else 0))
        add("cdc_sentinel_recovery_max_wait_seconds", "gauge", labels(connector=c), gauge(1800))
        add("cdc_sentinel_recovery_resume_attempts", "gauge", labels(connector=c), gauge(2 if held else 0))
        add("cdc_sentinel_task_failures_total", "counter", labels(connector=c), per_min(0.2 if held else 0))
        add("cdc_sentinel_recoveries_started_total", "counter", labels(connector=c, reason="probe_failed"),
            per_min(0.2 if held else 0.05))
        add("cdc_sentinel_recovery_timeouts_total", "counter", labels(connector=c), per_min(0.1))
        for action in ("pause", "resume", "restart"):
            add("cdc_sentinel_actions_total", "counter", labels(connector=c, action=action, result="ok"),
                per_min(0.5))
        if target:
            add("cdc_sentinel_connector_target_info", "gauge", labels(connector=c, target=target), gauge(1))
        else:
            add("cdc_sentinel_connector_target_unknown", "gauge", labels(connector=c), gauge(1))
        if held:
            add("cdc_sentinel_recovery_info", "gauge",
                labels(connector=c, target=target, reason="probe_failed"), gauge(1))
            add("cdc_sentinel_recovery_started_timestamp_seconds", "gauge", labels(connector=c),
                gauge(down_since))
    for target, up in (("db1.example:1521/ORCLPDB1", True), ("pg1.example:5432", False)):
        add("cdc_sentinel_probe_success", "gauge", labels(target=target), gauge(1 if up else 0))
        add("cdc_sentinel_probe_blind", "gauge", labels(target=target), gauge(0 if up else 1))
        add("cdc_sentinel_probe_last_success_timestamp_seconds", "gauge", labels(target=target),
            (lambda t: t) if up else gauge(down_since))
        for r in REASONS:
            add("cdc_sentinel_probe_last_reason", "gauge", labels(target=target, reason=r),
                gauge(1 if r == ("ok" if up else "refused") else 0))
        add("cdc_sentinel_probe_failures_total", "counter", labels(target=target, reason="refused"),
            per_min(0 if up else 1))
        add("cdc_sentinel_probe_failures_total", "counter", labels(target=target, reason="timeout"),
            per_min(0.2))
        for i, le in enumerate(BUCKETS):
            add("cdc_sentinel_probe_duration_seconds", "histogram", labels(target=target, le=le),
                per_min(min(1.0, 0.2 * (i + 1))))
    for op, code in (("list", "200"), ("pause", "202"), ("list", "error")):
        for i, le in enumerate(BUCKETS):
            add("cdc_sentinel_connect_request_duration_seconds", "histogram",
                labels(operation=op, code=code, le=le), per_min(min(12.0, 2.0 * (i + 1))))
    for outcome in ("recovered", "handed_back"):
        for i, le in enumerate(BUCKETS + []):
            add("cdc_sentinel_recovery_duration_seconds", "histogram", labels(outcome=outcome, le=le),
                per_min(0.1 if le == "+Inf" else 0.0))

    missing = sorted(set(TABLE) - {name for name, _ in fams})
    if missing:
        raise SystemExit(f"dashboards_e2e: no synthetic series for {missing}: add them to synthetic()")
    out = []
    for (name, kind), series in fams.items():
        out.append(f"# TYPE {name} {kind}\n")
        for lbl, fn in series:
            suffix = ""
            if kind == "histogram":
                suffix = "_bucket"
            for t in range(start, end + 1, STEP):
                out.append(f"{name}{suffix}{lbl} {fn(t)} {t}\n")
        if kind == "histogram":
            # _count and _sum from the +Inf buckets
            for lbl, fn in series:
                if 'le="+Inf"' not in lbl:
                    continue
                base = lbl.replace(',le="+Inf"', "")
                for t in range(start, end + 1, STEP):
                    out.append(f"{name}_count{base} {fn(t)} {t}\n")
                for t in range(start, end + 1, STEP):
                    out.append(f"{name}_sum{base} {fn(t) * 0.3} {t}\n")
    out.append("# EOF\n")
    return "".join(out)


def main():
    global BASE
    config = None
    if len(sys.argv) == 3 and sys.argv[1] == "--config":
        config = sys.argv[2]
    elif len(sys.argv) != 1:
        print("usage: dashboards_e2e.py [--config KNOBS.yaml]", file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.join(REPO, "monitoring"))
    from lib import knobs
    BASE = knobs.load(os.path.join(REPO, "monitoring", "config.yaml"), config)["_"]["test_labels"]
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        print("dashboards_e2e: prometheus/promtool not found; install them with "
              "`apt-get install -y prometheus`", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="dash-e2e-")
    proc = None
    failures = []
    try:
        queries_path = os.path.join(tmp, "queries.jsonl")
        r = subprocess.run([sys.executable, GENERATE, "--list-queries", queries_path]
                           + [a for k, v in BASE.items() for a in ("--var", f"{k}={v}")]
                           + (["--config", config] if config else []),
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout + r.stderr, file=sys.stderr)
            return 1
        with open(queries_path, encoding="utf-8") as f:
            queries = [json.loads(line) for line in f]

        end = int(time.time()) // 60 * 60 - 60
        om = os.path.join(tmp, "data.om")
        with open(om, "w", encoding="utf-8") as f:
            f.write(synthetic(end))
        data = os.path.join(tmp, "data")
        r = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", om, data],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout[-2000:] + r.stderr[-2000:], file=sys.stderr)
            return 1
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 15s\n")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = open(os.path.join(tmp, "prometheus.log"), "w")
        proc = subprocess.Popen(
            [prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={data}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=30d"],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.flush()
                with open(os.path.join(tmp, "prometheus.log")) as f:
                    print(f.read()[-3000:], file=sys.stderr)
                print("dashboards_e2e: Prometheus did not become ready", file=sys.stderr)
                return 1
            time.sleep(0.3)

        for q in queries:
            url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q["promql"], "time": end})
            name = f"{q['dashboard']} {q['kind']} {q['panel']!r} {q['ref_id'] or ''}".rstrip()
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    body = json.load(resp)
            except urllib.error.HTTPError as e:
                body = json.load(e)
            if body.get("status") != "success":
                failures.append(f"{name}: Prometheus rejected it: {body.get('error')}\n    {q['promql']}")
            elif not body["data"]["result"]:
                failures.append(f"{name}: no result\n    {q['promql']}")
        print(f"dashboards_e2e: {len(queries)} queries evaluated on Prometheus, {len(failures)} failed")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("dashboards_e2e: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
