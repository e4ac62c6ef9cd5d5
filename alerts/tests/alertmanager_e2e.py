#!/usr/bin/env python3
"""Runs the example Alertmanager config for real and checks routing and inhibition.

Starts `prometheus-alertmanager` (Debian's name; `alertmanager` also works) on 127.0.0.1 with
deploy/alertmanager/alertmanager.yml, changed only in what a test must change: the webhook
URLs point at a receiver this script runs, and group_wait is 1s instead of 10s/30s. Posts
alerts as Prometheus would, then checks:
- while CDCRecoveryTimedOut fires for connector a (database T), CDCConnectorRecovering and
  CDCConnectorFailedUnmanaged for a, and CDCDatabaseProbeFailing for T, are inhibited, and the
  same alerts for connector b / database T2 are not;
- while CDCProbeBlind fires for database T3, CDCDatabaseProbeFailing for T3 is inhibited;
- critical alerts reach the paging receiver, warnings the other one, inhibited ones neither;
- one notification group per connector.
Exit 0 on success, 1 on a failed check, 2 if Alertmanager is not installed.
Every process it starts it stops (by PID), also on failure.
"""

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, "deploy", "alertmanager", "alertmanager.yml")
JOB = "cdc-sentinel"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver(http.server.BaseHTTPRequestHandler):
    received = []  # (path, payload)
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with Receiver.lock:
            Receiver.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def alert(name, severity, **labels):
    return {"labels": {"alertname": name, "severity": severity, "job": JOB, **labels},
            "annotations": {"summary": name}, "generatorURL": "http://127.0.0.1/test"}


def main():
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not binary:
        print("alertmanager_e2e: prometheus-alertmanager not found; install it with "
              "`apt-get install -y prometheus-alertmanager`", file=sys.stderr)
        return 2

    hook_port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    tmp = tempfile.mkdtemp(prefix="am-e2e-")
    with open(CONFIG, encoding="utf-8") as f:
        cfg = f.read()
    cfg = re.sub(r"http://127\.0\.0\.1:9095/", f"http://127.0.0.1:{hook_port}/", cfg)
    cfg = re.sub(r"group_wait: \d+s", "group_wait: 1s", cfg)
    assert f":{hook_port}/alerts/cdc-page" in cfg and f":{hook_port}/alerts/cdc-warning" in cfg
    cfg_path = os.path.join(tmp, "alertmanager.yml")
    with open(cfg_path, "w", encoding="utf-8") as f:
        f.write(cfg)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(os.path.join(tmp, "alertmanager.log"), "w")
    proc = subprocess.Popen(
        [binary, f"--config.file={cfg_path}", f"--storage.path={tmp}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=log, stderr=subprocess.STDOUT)
    failures = []
    try:
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen(base + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.flush()
                with open(os.path.join(tmp, "alertmanager.log")) as f:
                    print(f.read()[-2000:], file=sys.stderr)
                print("alertmanager_e2e: Alertmanager did not become ready", file=sys.stderr)
                return 1
            time.sleep(0.2)

        T, T2, T3 = "db1.example:1521/ORCLPDB1", "pg2.example:5432", "split-dns.example:5432"
        alerts = [
            alert("CDCRecoveryTimedOut", "critical", connector="a", target=T),
            alert("CDCConnectorRecovering", "warning", connector="a", target=T, reason="probe_failed"),
            alert("CDCConnectorFailedUnmanaged", "critical", connector="a"),
            alert("CDCDatabaseProbeFailing", "warning", target=T),
            alert("CDCConnectorRecovering", "warning", connector="b", target=T2, reason="probe_failed"),
            alert("CDCConnectorFailedUnmanaged", "critical", connector="b"),
            alert("CDCDatabaseProbeFailing", "warning", target=T2),
            alert("CDCProbeBlind", "warning", target=T3),
            alert("CDCDatabaseProbeFailing", "warning", target=T3),
        ]
        req = urllib.request.Request(base + "/api/v2/alerts", data=json.dumps(alerts).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            if r.status != 200:
                failures.append(f"POST /api/v2/alerts answered {r.status}")

        def key(labels):
            return (labels["alertname"], labels.get("connector", ""), labels.get("target", ""))

        inhibited_expected = {
            ("CDCConnectorRecovering", "a", T),
            ("CDCConnectorFailedUnmanaged", "a", ""),
            ("CDCDatabaseProbeFailing", "", T),
            ("CDCDatabaseProbeFailing", "", T3),
        }
        # 1. What the API says is inhibited.
        state = {}
        deadline = time.time() + 10
        while time.time() < deadline:
            with urllib.request.urlopen(base + "/api/v2/alerts", timeout=5) as r:
                got = json.load(r)
            state = {key(a["labels"]): bool(a["status"]["inhibitedBy"]) for a in got}
            if len(state) == len(alerts) and {k for k, v in state.items() if v} == inhibited_expected:
                break
            time.sleep(0.3)
        for a in alerts:
            k = key(a["labels"])
            want = k in inhibited_expected
            if state.get(k) != want:
                failures.append(f"{k}: inhibited={state.get(k)}, want {want}")

        # 2. What reaches the receivers.
        def delivered():
            with Receiver.lock:
                out = {}
                for path, payload in Receiver.received:
                    for a in payload["alerts"]:
                        out.setdefault(path, set()).add(key(a["labels"]))
                groups = {(path, json.dumps(p["groupLabels"], sort_keys=True))
                          for path, p in Receiver.received}
                return out, groups

        want_page = {("CDCRecoveryTimedOut", "a", T), ("CDCConnectorFailedUnmanaged", "b", "")}
        want_warn = {("CDCConnectorRecovering", "b", T2), ("CDCDatabaseProbeFailing", "", T2),
                     ("CDCProbeBlind", "", T3)}
        deadline = time.time() + 20
        while time.time() < deadline:
            out, groups = delivered()
            if out.get("/alerts/cdc-page") == want_page and out.get("/alerts/cdc-warning") == want_warn:
                break
            time.sleep(0.3)
        time.sleep(1.5)  # anything inhibited that was going to slip through would arrive by now
        out, groups = delivered()
        if out.get("/alerts/cdc-page") != want_page:
            failures.append(f"paging receiver got {sorted(out.get('/alerts/cdc-page', []))}, want {sorted(want_page)}")
        if out.get("/alerts/cdc-warning") != want_warn:
            failures.append(f"warning receiver got {sorted(out.get('/alerts/cdc-warning', []))}, want {sorted(want_warn)}")
        group_labels = sorted(g for _, g in groups)
        want_groups = sorted([
            json.dumps({"connector": "a", "job": JOB, "target": T}, sort_keys=True),
            json.dumps({"connector": "b", "job": JOB}, sort_keys=True),
            json.dumps({"connector": "b", "job": JOB, "target": T2}, sort_keys=True),
            json.dumps({"job": JOB, "target": T2}, sort_keys=True),
            json.dumps({"job": JOB, "target": T3}, sort_keys=True),
        ])
        if group_labels != want_groups:
            failures.append(f"notification groups {group_labels}, want {want_groups}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    for f in failures:
        print("alertmanager_e2e: " + f, file=sys.stderr)
    if failures:
        return 1
    print("alertmanager_e2e: routing, grouping and inhibition OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
