#!/usr/bin/env python3
"""cdc-sentinel end to end with a real Prometheus and a real Alertmanager (python3, stdlib only).

Run through tests/e2e/prometheus/run.sh (it builds the agent and installs the tools, renders the
monitoring with the knobs to test, and runs this twice: default knobs, then non-default ones).

    scenario.py [--config KNOBS.yaml] [--quick]

The rules and dashboards come from monitoring/generate.py with the given knobs (default: the
repository's defaults), rendered into a temporary directory; the job name, the runbook link and
the severity label the checks expect come from the same knobs. --quick leaves out the short
outage. Binaries: CDC_SENTINEL_BIN (the agent) and CDC_SENTINEL_SIM_BIN (the simulator, the sim
crate's own binary). Starts, all on 127.0.0.1 and free ports:
- a database stand-in (a TCP listener in this process: accepts sessions and keeps them until the
  peer closes; "down" closes the listener and every session, "up" listens again on the port);
- the simulated Kafka Connect worker (the simulator) with two Debezium Oracle
  connectors on that database: e2e-ora (errors.max.retries=0: its task goes FAILED when the
  database goes away) and e2e-hidden (default unlimited retries: stays RUNNING);
- the agent (`cdc-sentinel run --db tcp://...`, max wait 20s, --after-timeout hold);
- Prometheus scraping the agent every 1s under the job name of the knobs' selector, evaluating
  the generated rules unmodified every 1s and alerting to
- Alertmanager, which sends every notification (send_resolved) to a webhook served here.
Scenario: healthy; a short outage the agent recovers from; an outage past the maximum wait
(timed_out, CDCRecoveryTimedOut fires after its real `for:` and reaches the webhook once with
its labels and annotations); the database returns, the connector stays held until a human
resumes it through the REST API, the agent hands it back and the alert resolves. Finally every
dashboard query is evaluated over the scenario's window.
Prints "ok"/"FAIL" per check, the timings, and last "N passed, N failed"; exit 1 on a failure.
Every process it starts it stops by PID, also on failure, SIGINT or SIGTERM.
"""

import ctypes
import http.server
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
GENERATE = os.path.join(REPO, "monitoring", "generate.py")
sys.path.insert(0, os.path.join(REPO, "monitoring"))
sys.dont_write_bytecode = True
from lib import knobs as knoblib  # noqa: E402

# Set in main() from the knobs under test.
CONFIG = None  # the override file, or None for the defaults
RULES = None  # the generated rules file
JOB = None  # the job name of the selector
RUNBOOK_URL = None  # the runbook link expected on the page
CRITICAL = None  # the severity label of a page
ORA, HIDDEN = "e2e-ora", "e2e-hidden"
MAX_WAIT = 20  # --max-wait, seconds
ALERT = "CDCRecoveryTimedOut"
SHORT_OUTAGE = 5  # seconds, at least: the agent holds both connectors, then waits with failing probes

# Dashboard queries that may return nothing over this scenario: (dashboard file, panel, ref_id)
# -> why. Every other query must return data.
MAY_BE_EMPTY = {
    ("cdc-sentinel-fleet.json", "Leader changes", "A"):
        "a sole agent becomes leader once, possibly before Prometheus' first scrape",
}
# Dashboard queries that must return data but may be 0 throughout this scenario. Every other
# query must return a non-zero value at least once.
MAY_BE_ZERO = {
    ("cdc-sentinel-fleet.json", "FAILED connectors", "A"):
        "Kafka Connect fails tasks, not the connector: e2e-ora's connector reads RUNNING "
        "while its task is FAILED",
    ("cdc-sentinel-fleet.json", "Needs attention", "A"):
        "no failure here is of the kind waiting cannot fix",
    ("cdc-sentinel-fleet.json", "Connectors without a database target", "A"):
        "the agent runs with --db, so every connector has a target",
    ("cdc-sentinel-fleet.json", "Agents", "D"):
        "cdc_sentinel_dry_run: the agent does not run with --dry-run",
    ("cdc-sentinel-fleet.json", "Stalled", "A"): "no connector stalls in this scenario",
    ("cdc-sentinel-fleet.json", "Connectors", "H"): "no connector stalls in this scenario",
    ("cdc-sentinel-recovery.json", "Stalled", "A"): "no connector stalls in this scenario",
    ("cdc-sentinel-probes.json", "Blind", "A"): "the agent always sees the database stand-in",
    ("cdc-sentinel-probes.json", "Databases", "E"): "the agent always sees the database stand-in",
    ("cdc-sentinel-fleet.json", "PAUSED or STOPPED without a hold record", "A"):
        "only the agent holds connectors here, and it records every hold",
}
# With --quick (no short outage, nothing recovered by itself) these may stay empty or 0 too.
QUICK_MAY_BE_EMPTY = {
    ("cdc-sentinel-recovery.json", "Average duration of finished recoveries", "A"):
        "without the short outage only the hand-back finishes, maybe after the last evaluation",
    ("cdc-sentinel-recovery.json", "Resume attempts in the current recovery", "A"):
        "without the short outage the agent never resumes: the human does",
    ("cdc-sentinel-recovery.json", "Recoveries now", "E"):
        "without the short outage the agent never resumes: the human does",
}
# With --quick nothing recovers by itself: only the hand-backs finish.
QUICK_EXPECT_LABELS = {
    ("cdc-sentinel-fleet.json", "Finished recoveries by outcome", "A"): ("outcome", {"handed_back"}),
    ("cdc-sentinel-recovery.json", "Actions on connectors", "A"): ("action", {"pause"}),
}
# What some panels must show, beyond "some data": (dashboard, panel, ref_id) -> (label, values
# that must all appear in the result over the scenario).
EXPECT_LABELS = {
    ("cdc-sentinel-fleet.json", "Finished recoveries by outcome", "A"): ("outcome", {"recovered", "handed_back"}),
    ("cdc-sentinel-fleet.json", "Connectors in recovery, by phase", "A"): ("phase", {"timed_out"}),
    ("cdc-sentinel-recovery.json", "Recoveries started", "A"): ("reason", {"task_failed", "probe_failed"}),
    ("cdc-sentinel-recovery.json", "Actions on connectors", "A"): ("action", {"pause", "resume", "restart"}),
    ("cdc-sentinel-recovery.json", "Timeouts", "A"): ("connector", {ORA, HIDDEN}),
    ("cdc-sentinel-probes.json", "Failed probes by reason", "A"): ("reason", {"refused"}),
}
# What some instant panels must read at the end of the scenario: (dashboard, panel, ref_id) ->
# (label, {value of the label: (low, high)}). Recoveries that finished: 2 recovered in the short
# outage (both connectors), 2 handed back after the long one (a human resumed both).
EXPECT_VALUES = {
    ("cdc-sentinel-fleet.json", "Finished recoveries by outcome", "A"):
        ("outcome", {"recovered": (1.5, 2.5), "handed_back": (1.5, 2.5)}),
}


# ---------------------------------------------------------------------------------------------
# Results


class Abort(Exception):
    """A failed check after which the rest of the scenario means nothing."""


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok    {name}", flush=True)
        else:
            self.failed.append(name)
            print(f"FAIL  {name}" + (f": {detail}" if detail else ""), flush=True)
        return ok

    def require(self, name, ok, detail=""):
        if not self.check(name, ok, detail):
            raise Abort(name)


R = Results()
SERVERS = []  # the webhook server, shut down on exit


def say(msg):
    print(f"--    {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Processes and servers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    # Children get SIGTERM if this process is killed outright (PR_SET_PDEATHSIG).
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:
        pass


class Procs:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []  # (name, Popen, log path)

    def start(self, name, argv):
        path = os.path.join(self.tmp, name + ".log")
        with open(path, "w") as log:
            p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        self.procs.append((name, p, path))
        return p

    def check_alive(self):
        for name, p, _ in self.procs:
            if p.poll() is not None:
                raise Abort(f"{name} (pid {p.pid}) exited with {p.returncode}")

    def stop_all(self):
        for name, p, _ in reversed(self.procs):
            if p.poll() is None:
                p.terminate()  # by PID
        for name, p, _ in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def print_tails(self, lines=40):
        for name, _, path in self.procs:
            try:
                with open(path, errors="replace") as f:
                    tail = f.read().splitlines()[-lines:]
            except OSError:
                continue
            print(f"\n---- last {len(tail)} lines of the {name} log", file=sys.stderr)
            for line in tail:
                print("    " + re.sub(r"\x1b\[[0-9;]*m", "", line), file=sys.stderr)


class Database:
    """The database stand-in: a TCP listener whose sessions stay open until the peer closes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.listener = None
        self.sessions = set()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    def up(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(128)
        with self.lock:
            self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()
        return time.time()

    def down(self):
        with self.lock:
            lst, self.listener = self.listener, None
            sessions, self.sessions = list(self.sessions), set()
        try:
            lst.shutdown(socket.SHUT_RDWR)  # wakes the accept() and stops listening at once
        except OSError:
            pass
        lst.close()
        for c in sessions:
            try:
                c.shutdown(socket.SHUT_RDWR)  # the session thread sees EOF and closes it
            except OSError:
                pass
        t = time.time()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            raise Abort(f"database stand-in: port {self.port} still accepts after down()")
        except ConnectionRefusedError:
            pass
        return t

    def _accept(self, lst):
        while True:
            try:
                conn, _ = lst.accept()
            except OSError:
                return
            with self.lock:
                if self.listener is not lst:
                    conn.close()
                    return
                self.sessions.add(conn)
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
        with self.lock:
            self.sessions.discard(conn)
        conn.close()


class Webhook(http.server.BaseHTTPRequestHandler):
    received = []  # (time, payload)
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"unparsable": body.decode(errors="replace")}
        with Webhook.lock:
            Webhook.received.append((time.time(), payload))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def notifications(alertname=None, connector=None, status=None):
    """[(time, alert)] : one entry per webhook POST that holds a matching alert."""
    out = []
    with Webhook.lock:
        got = list(Webhook.received)
    for t, payload in got:
        for a in payload.get("alerts", []):
            lb = a.get("labels", {})
            if ((alertname is None or lb.get("alertname") == alertname)
                    and (connector is None or lb.get("connector") == connector)
                    and (status is None or a.get("status") == status)):
                out.append((t, a))
                break
    return out


# ---------------------------------------------------------------------------------------------
# HTTP, metrics, Prometheus


def http_call(method, url, timeout=5):
    req = urllib.request.Request(url, method=method, data=b"" if method in ("PUT", "POST") else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return None, str(e).encode()


LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


EXPORTED = set()  # every series name the agent exported at some scrape of this run


def scrape(url):
    status, body = http_call("GET", url + "/metrics")
    if status != 200:
        return None
    out = []
    for line in body.decode().splitlines():
        m = LINE.match(line)
        if m:
            out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
            EXPORTED.add(m.group(1))
    return out


def value(samples, name, **labels):
    for n, lb, v in samples or []:
        if n == name and all(lb.get(k) == w for k, w in labels.items()):
            return v
    return None


def phase(samples, connector):
    for n, lb, v in samples or []:
        if n == "cdc_sentinel_recovery_phase" and lb.get("connector") == connector and v == 1:
            return lb.get("phase")
    return None


def wait_for(fn, timeout, interval=0.2):
    """fn's first truthy result within timeout seconds, else None."""
    deadline = time.time() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.time() > deadline:
            return None
        time.sleep(interval)


class Prom:
    def __init__(self, base):
        self.base = base

    def api(self, path, **params):
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        status, body = http_call("GET", url, timeout=15)
        try:
            return json.loads(body)
        except ValueError:
            return {"status": "error", "error": f"HTTP {status}: {body[:200]!r}"}


def parse_duration(s):
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", s):
        total += float(num) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    return total


def rule_for(name):
    """The `for:` of an alerting rule in the generated rules file, in seconds (0 without one)."""
    import yaml
    with open(RULES, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    for g in doc["groups"]:
        for r in g["rules"]:
            if r.get("alert") == name:
                return parse_duration(r.get("for", "0s"))
    raise Abort(f"no alert {name} in {RULES}")


def humanized_seconds(text):
    """Seconds from Prometheus' humanizeDuration output ('1m 22s', '20s', '1h 0m 5s')."""
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(d|h|m|s)\b", text):
        total += float(num) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[unit]
    return total


# ---------------------------------------------------------------------------------------------
# The scenario


def main():
    global CONFIG, RULES, JOB, RUNBOOK_URL, CRITICAL
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", help="knobs to render the monitoring with (default: the defaults)")
    ap.add_argument("--quick", action="store_true", help="leave out the short outage")
    args = ap.parse_args()
    CONFIG = args.config
    k = knoblib.load(os.path.join(REPO, "monitoring", "config.yaml"), CONFIG)
    eq = {m[0]: m[2] for m in k["_"]["matchers"] if m[1] == "="}
    if set(eq) != {"job"} or len(k["_"]["matchers"]) != 1:
        print("prometheus e2e: the knobs' selector must be one job=\"...\" matcher here", file=sys.stderr)
        return 2
    JOB = eq["job"]
    RUNBOOK_URL = k["runbook_url"].replace("{alert}", ALERT).replace("{alert_lower}", ALERT.lower())
    CRITICAL = k["severities"]["critical"]
    binary = os.environ.get("CDC_SENTINEL_BIN") or os.path.join(REPO, "target", "debug", "cdc-sentinel")
    sim_binary = os.environ.get("CDC_SENTINEL_SIM_BIN") or os.path.join(REPO, "target", "debug", "cdc-sentinel-sim")
    prometheus = shutil.which("prometheus")
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not (os.access(binary, os.X_OK) and os.access(sim_binary, os.X_OK) and prometheus and alertmanager):
        print(f"prometheus e2e: need {binary}, {sim_binary}, prometheus and prometheus-alertmanager "
              "(run tests/e2e/prometheus/run.sh)", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2

    def on_term(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)

    t_begin = time.time()
    tmp = tempfile.mkdtemp(prefix="prom-e2e-")
    gen = [sys.executable, GENERATE, "--out", os.path.join(tmp, "monitoring")] + (["--config", CONFIG] if CONFIG else [])
    out = subprocess.run(gen, capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stdout + out.stderr, file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    RULES = os.path.join(tmp, "monitoring", "alerts", "cdc-sentinel.rules.yml")
    say(f"monitoring rendered with {CONFIG or 'the default knobs'}: job {JOB}, runbook {RUNBOOK_URL}")
    procs = Procs(tmp)
    db = Database()
    times = {}
    try:
        scenario(binary, prometheus, alertmanager, tmp, procs, db, times, args.quick)
    except Abort as e:
        if str(e) not in R.failed:
            R.check("scenario", False, str(e))
        say("stopped early: the remaining checks depend on this one")
    except (KeyboardInterrupt, SystemExit):
        R.check("scenario", False, "interrupted")
        raise
    finally:
        procs.stop_all()
        if R.failed:
            procs.print_tails()
        if db.listener is not None:
            db.down()
        if SERVERS:
            SERVERS[0].shutdown()
            SERVERS[0].server_close()
        shutil.rmtree(tmp, ignore_errors=True)
        print_timings(times)
        print(f"\nruntime {time.time() - t_begin:.0f}s")
        print(f"\n{R.passed} passed, {len(R.failed)} failed")
    return 1 if R.failed else 0


def print_timings(times):
    if "outage" not in times:
        return
    t0 = times["outage"]
    print("\ntimings (seconds after the long outage started):")
    rows = [
        ("timed_out", "agent reports phase timed_out (cdc_sentinel_recovery_phase)"),
        ("pending", "Prometheus: CDCRecoveryTimedOut pending (first seen)"),
        ("fired", "webhook: CDCRecoveryTimedOut firing for e2e-ora"),
        ("db_back", "database back"),
        ("human", "human: PUT resume + POST restart"),
        ("handed_back", "agent: handed back (cdc_sentinel_managed 0)"),
        ("resolved", "webhook: CDCRecoveryTimedOut resolved for e2e-ora"),
    ]
    for key, what in rows:
        if key in times:
            print(f"  {times[key] - t0:7.1f}  {what}")
    if "fired" in times and "timed_out" in times:
        print(f"  ({times['fired'] - times['timed_out']:.1f}s from timed_out to the page; "
              f"{times['resolved'] - times['handed_back']:.1f}s from hand-back to the resolve)"
              if "resolved" in times and "handed_back" in times else
              f"  ({times['fired'] - times['timed_out']:.1f}s from timed_out to the page)")


def scenario(binary, prometheus, alertmanager, tmp, procs, db, times, quick=False):
    for_secs = rule_for(ALERT)
    say(f"{ALERT} has for: {for_secs:.0f}s in the generated rules; --max-wait {MAX_WAIT}s")

    # --- servers ---------------------------------------------------------------------------
    hook_port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    SERVERS.append(server)

    db.up()
    target = f"127.0.0.1:{db.port}"
    sim_port, agent_port, prom_port, am_port = free_port(), free_port(), free_port(), free_port()
    sim = f"http://127.0.0.1:{sim_port}"
    agent = f"http://127.0.0.1:{agent_port}"
    prom = Prom(f"http://127.0.0.1:{prom_port}")
    am = f"http://127.0.0.1:{am_port}"

    am_cfg = os.path.join(tmp, "alertmanager.yml")
    with open(am_cfg, "w") as f:
        f.write(f"""route:
  receiver: webhook
  group_by: ['...']   # one group per alert: each notification is about exactly one alert
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: 'http://127.0.0.1:{hook_port}/hook'
        send_resolved: true
""")
    prom_cfg = os.path.join(tmp, "prometheus.yml")
    with open(prom_cfg, "w") as f:
        f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - '{RULES}'
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{am_port}']
scrape_configs:
  - job_name: {JOB}
    static_configs:
      - targets: ['127.0.0.1:{agent_port}']
""")
    os.makedirs(os.path.join(tmp, "am"))
    procs.start("alertmanager", [alertmanager, f"--config.file={am_cfg}",
                                 f"--storage.path={os.path.join(tmp, 'am')}",
                                 f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="])
    procs.start("prometheus", [prometheus, f"--config.file={prom_cfg}",
                               f"--storage.tsdb.path={os.path.join(tmp, 'prom')}",
                               f"--web.listen-address=127.0.0.1:{prom_port}"])
    sim_binary = os.environ.get("CDC_SENTINEL_SIM_BIN") or os.path.join(REPO, "target", "debug", "cdc-sentinel-sim")
    procs.start("simulate", [sim_binary, "--listen", f"127.0.0.1:{sim_port}",
                             "--connector", f"{ORA}=oracle@{target}:failfast",
                             "--connector", f"{HIDDEN}=oracle@{target}"])
    R.require("simulated Kafka Connect answers GET /connectors",
              wait_for(lambda: http_call("GET", sim + "/connectors")[0] == 200, 20))
    procs.start("agent", [binary, "run", "--connect-url", sim, "--db", f"tcp://{target}",
                          "--poll-interval", "1s", "--probe-interval", "1s", "--probe-timeout", "500ms",
                          "--verify-window", "2s", "--max-wait", f"{MAX_WAIT}s",
                          "--web.listen-address", f"127.0.0.1:{agent_port}",
                          "--state-file", os.path.join(tmp, "state.json")])
    R.require("agent /readyz answers 200", wait_for(lambda: http_call("GET", agent + "/readyz")[0] == 200, 20))
    R.require("Alertmanager ready", wait_for(lambda: http_call("GET", am + "/-/ready")[0] == 200, 20))
    R.require("Prometheus ready", wait_for(lambda: http_call("GET", prom.base + "/-/ready")[0] == 200, 30))

    def rules_loaded():
        body = prom.api("/api/v1/rules")
        groups = body.get("data", {}).get("groups", [])
        return [r["name"] for g in groups for r in g["rules"] if r.get("type") == "alerting"]
    alerts = wait_for(rules_loaded, 10)
    R.require("Prometheus loaded the generated rules", alerts and ALERT in alerts,
              f"alerting rules: {alerts}")

    def scraped():
        res = prom.api("/api/v1/query", query=f'up{{job="{JOB}"}} == 1').get("data", {}).get("result")
        return bool(res)
    R.require(f"Prometheus scrapes the agent as job {JOB}", wait_for(scraped, 15))

    def status(conn):
        code, body = http_call("GET", f"{sim}/connectors/{conn}/status")
        if code != 200:
            return None, []
        s = json.loads(body)
        return s["connector"]["state"], [t["state"] for t in s.get("tasks", [])]

    m = lambda: scrape(agent)  # noqa: E731

    # --- 1. healthy --------------------------------------------------------------------------
    times["start"] = time.time()

    def healthy():
        s = m()
        return all(phase(s, c) == "watching" and value(s, "cdc_sentinel_connector_state",
                                                       connector=c, state="RUNNING") == 1
                   for c in (ORA, HIDDEN)) and value(s, "cdc_sentinel_probe_success", target=target) == 1
    R.require("1. healthy: both connectors RUNNING and watching, database probe succeeds",
              wait_for(healthy, 20))
    s = m()
    R.check(f"1. target label is {target} for both connectors",
            all(value(s, "cdc_sentinel_connector_target_info", connector=c, target=target) == 1
                for c in (ORA, HIDDEN)),
            str([x for x in s if x[0] == "cdc_sentinel_connector_target_info"]))
    time.sleep(6)
    procs.check_alive()

    def held(conn, reason):
        s = m()
        return (value(s, "cdc_sentinel_managed", connector=conn) == 1
                and value(s, "cdc_sentinel_recovery_info", connector=conn, target=target, reason=reason) == 1)

    # --- 2. a short outage the agent recovers from ------------------------------------------
    if quick:
        say("2. short outage: left out (--quick)")
    else:
        say("2. short outage: database down")
        t_short = db.down()
        R.require(f"2. {ORA} (task FAILED) is held with reason task_failed", wait_for(lambda: held(ORA, "task_failed"), 15))
        say(f"   {ORA} held {time.time() - t_short:.1f}s after the database went down")
        R.require(f"2. {HIDDEN} (RUNNING, retries hidden) is held with reason probe_failed",
                  wait_for(lambda: held(HIDDEN, "probe_failed"), 15))
        say(f"   {HIDDEN} held {time.time() - t_short:.1f}s after the database went down")
        time.sleep(max(0.0, t_short + SHORT_OUTAGE - time.time()))
        db.up()
        say(f"2. database back after {time.time() - t_short:.1f}s")

        def recovered():
            s = m()
            return (all(phase(s, c) == "watching" and value(s, "cdc_sentinel_managed", connector=c) == 0
                        for c in (ORA, HIDDEN))
                    and (value(s, "cdc_sentinel_recovery_duration_seconds_count", outcome="recovered") or 0) >= 2)
        R.require("2. both recover by themselves (phase watching, outcome recovered x2)", wait_for(recovered, 40))
        say(f"   recovered {time.time() - t_short:.1f}s after the outage started")
        s = m()
        R.check("2. one recovery each started: e2e-ora task_failed, e2e-hidden probe_failed",
                value(s, "cdc_sentinel_recoveries_started_total", connector=ORA, reason="task_failed") == 1
                and value(s, "cdc_sentinel_recoveries_started_total", connector=HIDDEN, reason="probe_failed") == 1,
                str([x for x in s if x[0] == "cdc_sentinel_recoveries_started_total" and x[2]]))
        st = wait_for(lambda: (lambda c, t: (c, t) if c == "RUNNING" and t and all(x == "RUNNING" for x in t) else None)(
            *status(ORA)), 10)
        R.check(f"2. Kafka Connect shows {ORA} and its tasks RUNNING again", st, str(status(ORA)))
        R.check("2. a short outage notifies nobody", not notifications(),
                str([a["labels"] for _, a in notifications()]))
        time.sleep(3)
        procs.check_alive()

    # --- 3. an outage longer than the maximum wait -------------------------------------------
    say(f"3. long outage: database down (max wait {MAX_WAIT}s)")
    times["outage"] = t_out = db.down()
    R.require(f"3. {ORA} held again", wait_for(lambda: held(ORA, "task_failed"), 15))
    R.require(f"3. {ORA} reaches phase timed_out",
              wait_for(lambda: phase(m(), ORA) == "timed_out", MAX_WAIT + 20, interval=0.1))
    times["timed_out"] = time.time()
    waited = times["timed_out"] - t_out
    R.check(f"3. timed_out after the maximum wait ({MAX_WAIT}s <= {waited:.1f}s <= {MAX_WAIT + 8}s)",
            MAX_WAIT <= waited <= MAX_WAIT + 8)
    s = m()
    R.check(f"3. {ORA} stays held: managed 1, connector PAUSED, cdc_sentinel_recovery_timeouts_total 1",
            value(s, "cdc_sentinel_managed", connector=ORA) == 1
            and value(s, "cdc_sentinel_connector_state", connector=ORA, state="PAUSED") == 1
            and value(s, "cdc_sentinel_recovery_timeouts_total", connector=ORA) == 1
            and status(ORA)[0] == "PAUSED",
            f"managed={value(s, 'cdc_sentinel_managed', connector=ORA)} status={status(ORA)} "
            f"timeouts={value(s, 'cdc_sentinel_recovery_timeouts_total', connector=ORA)}")

    def pending():
        res = prom.api("/api/v1/alerts").get("data", {}).get("alerts", [])
        return any(a["labels"].get("alertname") == ALERT and a["labels"].get("connector") == ORA for a in res)
    if wait_for(pending, 10, interval=0.25):
        times["pending"] = time.time()
    say(f"   waiting for {ALERT} to fire (for: {for_secs:.0f}s) and reach the webhook")
    fired = wait_for(lambda: notifications(ALERT, ORA, "firing"), for_secs + 40, interval=0.25)
    R.require(f"3. webhook receives {ALERT} firing for {ORA}", fired)
    times["fired"] = fired[0][0]
    delay = times["fired"] - times["timed_out"]
    R.check(f"3. it fired no earlier than its for: ({delay:.1f}s after timed_out, for: {for_secs:.0f}s)",
            delay >= for_secs - 1)
    a = fired[0][1]
    lb, ann = a.get("labels", {}), a.get("annotations", {})
    want = {"alertname": ALERT, "severity": CRITICAL, "job": JOB, "connector": ORA, "target": target}
    R.check(f"3. labels are exactly alertname, severity={CRITICAL}, job={JOB}, connector, target", lb == want,
            f"got {lb}, want {want}")
    summary, desc = ann.get("summary", ""), ann.get("description", "")
    R.check("3. summary names the connector", ORA in summary, repr(summary))
    held_for = re.search(rf"held \(paused or stopped\) connector {re.escape(ORA)} for ([0-9dhms. ]+?), past "
                         r"its maximum wait of ([0-9dhms. ]+?), ", desc)
    R.check("3. description: connector, time held and maximum wait",
            held_for and humanized_seconds(held_for.group(2)) == MAX_WAIT
            and humanized_seconds(held_for.group(1)) >= MAX_WAIT + for_secs - 1,
            f"{held_for.groups() if held_for else None} in {desc!r}")
    R.check("3. description: database target, last probe answer refused, reason task_failed",
            f"Database: {target}." in desc and "Last probe answer: refused." in desc
            and "Held because: task_failed." in desc, repr(desc))
    R.check("3. description: the resume and restart commands for the connector",
            f'curl -X PUT "$CONNECT_URL/connectors/{ORA}/resume"' in desc
            and f'curl -X POST "$CONNECT_URL/connectors/{ORA}/restart?includeTasks=true&onlyFailed=true"' in desc,
            repr(desc))
    R.check(f"3. runbook_url is {RUNBOOK_URL}", ann.get("runbook_url") == RUNBOOK_URL, repr(ann.get("runbook_url")))
    procs.check_alive()

    # --- 4. the database returns; a human resumes --------------------------------------------
    times["db_back"] = db.up()
    say("4. database back")
    R.check("4. the agent sees the database up",
            wait_for(lambda: value(m(), "cdc_sentinel_probe_last_reason", target=target, reason="ok") == 1, 10))
    time.sleep(4)  # > --up-after 2 probes + a poll: time the agent would need to resume it
    s = m()
    R.check(f"4. --after-timeout hold: {ORA} stays held and PAUSED with the database back",
            phase(s, ORA) == "timed_out" and value(s, "cdc_sentinel_managed", connector=ORA) == 1
            and status(ORA)[0] == "PAUSED",
            f"phase={phase(s, ORA)} managed={value(s, 'cdc_sentinel_managed', connector=ORA)} status={status(ORA)}")
    hidden_fired = wait_for(lambda: notifications(ALERT, HIDDEN, "firing"), 10)
    say(f"   {HIDDEN} (same database, held on failed probes) phase {phase(s, HIDDEN)}, "
        f"{ALERT} {'fired' if hidden_fired else 'did not fire'} for it")

    def human_resume(conn):
        c1, _ = http_call("PUT", f"{sim}/connectors/{conn}/resume")
        c2, _ = http_call("POST", f"{sim}/connectors/{conn}/restart?includeTasks=true&onlyFailed=true")
        return c1, c2
    times["human"] = time.time()
    codes = human_resume(ORA)
    R.check(f"4. human: PUT resume and POST restart?includeTasks=true&onlyFailed=true accepted {codes}",
            all(c is not None and 200 <= c < 300 for c in codes))
    R.require(f"4. the agent hands {ORA} back (managed 0, phase watching)",
              wait_for(lambda: (lambda s: phase(s, ORA) == "watching"
                                and value(s, "cdc_sentinel_managed", connector=ORA) == 0)(m()), 20, interval=0.1))
    times["handed_back"] = time.time()
    R.check("4. cdc_sentinel_recovery_duration_seconds_count{outcome=\"handed_back\"} counts it",
            (value(m(), "cdc_sentinel_recovery_duration_seconds_count", outcome="handed_back") or 0) >= 1)
    R.check(f"4. Kafka Connect shows {ORA} and its tasks RUNNING",
            wait_for(lambda: (lambda c, t: c == "RUNNING" and t and all(x == "RUNNING" for x in t))(*status(ORA)), 10),
            str(status(ORA)))
    resolved = wait_for(lambda: notifications(ALERT, ORA, "resolved"), 30, interval=0.25)
    R.check(f"4. webhook receives the resolve of {ALERT} for {ORA}", resolved)
    if resolved:
        times["resolved"] = resolved[0][0]

    if phase(m(), HIDDEN) == "timed_out":
        codes = human_resume(HIDDEN)
        R.check(f"4. {HIDDEN}: handed back after a human resume too",
                wait_for(lambda: value(m(), "cdc_sentinel_managed", connector=HIDDEN) == 0, 20), str(codes))
        R.check(f"4. {HIDDEN}: its {ALERT} resolves",
                wait_for(lambda: notifications(ALERT, HIDDEN, "resolved"), 30, interval=0.25))
    time.sleep(2)  # a duplicate or late notification would arrive by now
    procs.check_alive()

    # --- what reached the webhook, what Prometheus evaluated ---------------------------------
    for conn in (ORA, HIDDEN):
        firing = notifications(ALERT, conn, "firing")
        R.check(f"exactly one firing notification of {ALERT} for {conn} in the whole run", len(firing) == 1,
                f"{len(firing)} at {[round(t - times['outage'], 1) for t, _ in firing]}s after the outage")
        res = notifications(ALERT, conn, "resolved")
        R.check(f"exactly one resolved notification of {ALERT} for {conn}", len(res) == 1, f"{len(res)}")
    if hidden_fired:
        d = hidden_fired[0][1].get("annotations", {}).get("description", "")
        R.check(f"{HIDDEN}: description says it was held because of probe_failed",
                "Held because: probe_failed." in d, repr(d))
    seen = sorted({(a["labels"].get("alertname"), a["labels"].get("connector", a["labels"].get("target")),
                    a.get("status")) for _, p in Webhook.received for a in p.get("alerts", [])})
    say(f"webhook received {len(Webhook.received)} notifications: {seen}")
    others = [x for x in seen if x[0] != ALERT]
    R.check("no other alert fired (so no inhibition is needed in this scenario)", not others, str(others))
    window = int(time.time() - times["start"]) + 5
    body = prom.api("/api/v1/query", query=f"max_over_time(ALERTS[{window}s])")
    states = sorted({(r["metric"].get("alertname"), r["metric"].get("connector", r["metric"].get("target", "")),
                      r["metric"].get("alertstate")) for r in body.get("data", {}).get("result", [])})
    say(f"Prometheus alert states during the run (ALERTS): {states}")
    rules = prom.api("/api/v1/rules").get("data", {}).get("groups", [])
    bad = [(r["name"], r.get("lastError")) for g in rules for r in g["rules"] if r.get("health") != "ok"]
    R.check("every rule evaluates without error (health ok)", not bad, str(bad))

    # --- 5. every dashboard query over the scenario window ------------------------------------
    m()
    dashboards(prom, times["start"], time.time(), set(EXPORTED), quick)


def dashboards(prom, start, end, exported, quick):
    """Every dashboard query over the scenario. A query reading a metric family the agent does
    not export at all (a feature this build or this set-up lacks: leader election, Strimzi,
    offsets) is listed as skipped, never passed silently."""
    gen = [sys.executable, GENERATE, "--list-queries", "-", "--var", f"job={JOB}"] + (["--config", CONFIG] if CONFIG else [])
    out = subprocess.run(gen, capture_output=True, text=True)
    R.require("generate.py --list-queries", out.returncode == 0, out.stderr[-2000:])
    queries = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    R.require("dashboard queries listed", len(queries) > 0)
    families = set()
    for n in exported:
        families.add(n)
        families.add(re.sub(r"_(bucket|count|sum)$", "", n))
    keys = set()
    failures = []
    empty_ok, zero_ok, skipped = [], [], {}
    for q in queries:
        key = (os.path.basename(q["dashboard"]), q["panel"], q["ref_id"] or "")
        keys.add(key)
        name = f"{key[0]} {q['kind']} {q['panel']!r} {key[2]}".rstrip()
        absent = [f for f in q["metrics"] if f not in families]
        if absent:
            skipped.setdefault(", ".join(absent), []).append(name)
            continue
        body = prom.api("/api/v1/query_range", query=q["promql"], start=f"{start:.3f}", end=f"{end:.3f}", step="2")
        if body.get("status") != "success":
            failures.append(f"{name}: Prometheus rejected it: {body.get('error')}\n        {q['promql']}")
            continue
        result = body["data"]["result"]
        values = [float(v) for r in result for _, v in r["values"]]
        may_be_empty = key in MAY_BE_EMPTY or (quick and key in QUICK_MAY_BE_EMPTY)
        if not result:
            if may_be_empty:
                empty_ok.append(name)
            else:
                failures.append(f"{name}: no data over the scenario\n        {q['promql']}")
        elif not any(v != 0 and not math.isnan(v) for v in values):
            if key in MAY_BE_ZERO or may_be_empty:
                zero_ok.append(name)
            else:
                failures.append(f"{name}: only zeros/NaN over the scenario\n        {q['promql']}")
        want = (QUICK_EXPECT_LABELS if quick else {}).get(key, EXPECT_LABELS.get(key))
        if want and result:
            label, must = want
            got = {r["metric"].get(label) for r in result}
            if not must <= got:
                failures.append(f"{name}: {label} values {sorted(got, key=str)}, want at least "
                                f"{sorted(must)}\n        {q['promql']}")
        want = None if quick else EXPECT_VALUES.get(key)
        if want:
            label, ranges = want
            body = prom.api("/api/v1/query", query=q["promql"], time=f"{end:.3f}")
            got = {r["metric"].get(label): float(r["value"][1]) for r in body.get("data", {}).get("result", [])}
            for lv, (lo, hi) in ranges.items():
                if not lo <= got.get(lv, float("nan")) <= hi:
                    failures.append(f"{name}: at the end {label}={lv} reads {got.get(lv)}, want "
                                    f"{(lo + hi) / 2:g} (all: {got})\n        {q['promql']}")
    n_skipped = sum(len(v) for v in skipped.values())
    R.check(f"all {len(queries) - n_skipped} dashboard queries on exported metrics evaluate and show data over "
            f"the scenario ({len(zero_ok)} allowed to stay 0, {len(empty_ok)} allowed to stay empty)",
            not failures, "\n      " + "\n      ".join(failures))
    for fams, names in sorted(skipped.items()):
        say(f"skipped {len(names)} queries: the agent does not export {fams}")
    stale = [k for k in list(MAY_BE_EMPTY) + list(MAY_BE_ZERO) + list(EXPECT_LABELS) + list(EXPECT_VALUES)
             + list(QUICK_MAY_BE_EMPTY) if k not in keys]
    R.check("every MAY_BE_EMPTY / MAY_BE_ZERO / EXPECT_* entry names an existing query",
            not stale, str(stale))
    for n in zero_ok:
        say(f"0 throughout (allowed): {n}")
    for n in empty_ok:
        say(f"empty (allowed): {n}")


if __name__ == "__main__":
    sys.exit(main())
