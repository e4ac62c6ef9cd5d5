#!/usr/bin/env python3
"""A fleet of agents against a real Kafka Connect 3.9 cluster of several workers.

  python3 tests/e2e/real-connect/fleet.py [--workers 2] [--keep]

Two (or three) real workers in one group (distinct REST ports; the same group.id and storage
topics) on one tansu broker, the two Debezium Postgres connectors of env.py on them, and one
agent beside each worker (--connect-url to that worker only) with
--state-store kafka://<tansu>/cdc-sentinel-state. The scenario:

  1. one agent leads, the others stand by (cdc_sentinel_leader 1 / 0);
  2. PostgreSQL stops: the leader holds both connectors;
  3. mid-recovery, the leader's worker and the leader agent are SIGKILLed together (a host
     lost): a standby is elected, takes over the holds, and waits for the connectors the dead
     worker owned (they keep their stale status under its id until Kafka Connect reassigns them,
     scheduled.rebalance.max.delay.ms, shortened here to 20 s);
  4. PostgreSQL starts again: the new leader resumes both connectors and restarts the FAILED
     tasks; rows inserted before the outage and after it all arrive on both topics (matched by
     content, not by id: PostgreSQL skips sequence values after a crash restart).

Every process is started here and stopped by its PID; everything binds 127.0.0.1. The agent
binary is $CDC_SENTINEL_BIN (default target/debug/cdc-sentinel). Prints its timings and wall
time; exits 1 on failure with the agents' and workers' log tails.
"""

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

import env as e2e
from env import EnvError, log, wait_until
from scenarios import Agent, ScenarioFailed, check, find_binary

FF, HID = "pg-failfast", "pg-hidden"
BOTH = (FF, HID)
SESSION = "6s"
REBALANCE_DELAY_MS = 20000


class FleetEnv(e2e.Env):
    """env.Env with several workers in one Connect group, each on its own REST port."""

    def __init__(self, workers=2, **kw):
        super().__init__(**kw)
        self.n = workers
        self.state["workers"] = []  # [{"port": P, "pid": PID}]

    # The base class talks to "the" worker: the first live one.
    @property
    def connect_url(self):
        for w in self.state.get("workers") or []:
            if e2e.pid_alive(w.get("pid")):
                return f"http://127.0.0.1:{w['port']}"
        ws = self.state.get("workers") or [{"port": self.state.get("connect_port")}]
        return f"http://127.0.0.1:{ws[0]['port']}"

    def worker_url(self, i):
        return f"http://127.0.0.1:{self.state['workers'][i]['port']}"

    def worker_log_i(self, i):
        return os.path.join(self.workdir, f"worker-{i + 1}.log")

    def _props(self, port):
        return f"""\
bootstrap.servers=127.0.0.1:{self.state['broker_port']}
group.id=test-connect-cluster
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false
offset.storage.topic=test-connect-offsets
offset.storage.replication.factor=1
offset.storage.partitions=1
config.storage.topic=test-connect-configs
config.storage.replication.factor=1
status.storage.topic=test-connect-status
status.storage.replication.factor=1
status.storage.partitions=1
offset.flush.interval.ms=5000
scheduled.rebalance.max.delay.ms={REBALANCE_DELAY_MS}
listeners=http://127.0.0.1:{port}
rest.advertised.host.name=127.0.0.1
rest.advertised.port={port}
plugin.discovery=service_load
plugin.path={self.paths['PLUGIN_PATH']}
"""

    def start_worker_i(self, i, timeout=180):
        ws = self.state["workers"]
        while len(ws) <= i:
            ws.append({"port": e2e.free_port(), "pid": None})
        port = ws[i]["port"]
        props = os.path.join(self.workdir, f"worker-{i + 1}.properties")
        with open(props, "w") as f:
            f.write(self._props(port))
        with open(os.path.join(self.workdir, "log4j2.properties"), "w") as f:
            f.write(e2e.LOG4J2)
        cmd = ["java", "-Xms256m", "-Xmx768m", "-XX:+UseSerialGC",
               f"-Dlog4j2.configurationFile={os.path.join(self.workdir, 'log4j2.properties')}",
               "-cp", os.path.join(self.paths["CONNECT_LIBS"], "*"),
               "org.apache.kafka.connect.cli.ConnectDistributed", props]
        p = self._spawn(cmd, self.worker_log_i(i))
        ws[i]["pid"] = p.pid
        self.state["connect_port"] = ws[0]["port"]
        self.save()
        url = f"http://127.0.0.1:{port}"

        def healthy():
            if p.poll() is not None:
                raise EnvError(f"worker {i + 1} exited with {p.returncode}\n{self.tail(self.worker_log_i(i))}")
            code, body = self.rest_to(url, "GET", "/health", timeout=3)
            return code == 200 and isinstance(body, dict) and body.get("status") == "healthy"

        t0 = time.monotonic()
        wait_until(healthy, timeout, f"worker {i + 1} {url}/health to say healthy", interval=0.5)
        log(f"worker {i + 1} pid {p.pid} on {url} healthy after {time.monotonic() - t0:.1f}s")

    @staticmethod
    def rest_to(base, method, path, timeout=15):
        """One REST call to one worker; (status, parsed JSON or text), (None, reason) if no answer."""
        req = urllib.request.Request(base + path, method=method)
        req.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                code, raw = r.status, r.read()
        except urllib.error.HTTPError as ex:
            code, raw = ex.code, ex.read()
        except OSError as ex:
            return None, str(ex)
        text = raw.decode(errors="replace")
        try:
            return code, json.loads(text) if text else None
        except ValueError:
            return code, text

    @staticmethod
    def tail(path, n=40):
        try:
            with open(path, errors="replace") as f:
                return "".join(ln for ln in f.readlines()[-n:] if "Python-urllib" not in ln)
        except OSError as ex:
            return f"(no log: {ex})"

    def kill_worker_i(self, i):
        pid = self.state["workers"][i].get("pid")
        if e2e.pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not e2e.pid_alive(pid), 10, f"worker {i + 1} to exit after SIGKILL")
        self.state["workers"][i]["pid"] = None
        self.save()

    def stop_worker(self, grace=30.0):
        for i, w in enumerate(self.state.get("workers") or []):
            e2e.stop_pid(w.get("pid"), f"Kafka Connect worker {i + 1}", grace=grace)
            w["pid"] = None
        self.save()

    def up(self):
        t0 = time.monotonic()
        self.start_broker()
        self.start_postgres()
        for i in range(self.n):
            self.start_worker_i(i)
        self.timings["workers_healthy_s"] = round(time.monotonic() - t0, 1)
        for name in BOTH:
            self.create_connector(name)
        for name in BOTH:
            self.wait_running(name, timeout=120)
        self.timings["startup_s"] = round(time.monotonic() - t0, 1)
        log(f"fleet environment up in {self.timings['startup_s']}s: workers "
            f"{[self.worker_url(i) for i in range(self.n)]}, broker {self.broker_url}")

    def owner(self, name):
        """The worker (index) whose id the connector's status names."""
        s = self.status(name)
        wid = s["connector"].get("worker_id", "")
        for i, w in enumerate(self.state["workers"]):
            if wid == f"127.0.0.1:{w['port']}":
                return i
        return None


class At:
    """What scenarios.Agent needs of an environment: the URL of its own worker."""

    def __init__(self, url):
        self.connect_url = url


def leaders(agents):
    out = []
    for a in agents:
        if a.proc and a.proc.poll() is None:
            try:
                out.append((a, a.value("cdc_sentinel_leader")))
            except ScenarioFailed:
                out.append((a, None))
    return out


def one_leader(agents, timeout):
    def found():
        ls = leaders(agents)
        lead = [a for a, v in ls if v == 1]
        if len(lead) > 1:
            raise ScenarioFailed(f"two agents lead at once: {[a.tag for a in lead]}")
        if len(lead) == 1 and all(v is not None for _, v in ls):
            return lead[0]
        return None

    return wait_until(found, timeout, "exactly one agent to lead", interval=0.2)


def run(env, binary, workdir, timings):
    store = f"kafka://127.0.0.1:{env.state['broker_port']}/cdc-sentinel-state"
    agents = []
    for i in range(env.n):
        a = Agent(binary, At(env.worker_url(i)), workdir, os.path.join(workdir, f"fleet-{i + 1}.json"),
                  f"fleet-{i + 1}", ["--state-store", store, "--kafka-session-timeout", SESSION,
                                     "--max-wait", "10m", "--verify-timeout", "60s"])
        agents.append(a)
    t0 = time.monotonic()
    for a in agents:
        a.start(timeout=60)
    leader = one_leader(agents, 90)
    timings["election_at_start_s"] = round(time.monotonic() - t0, 2)
    li = agents.index(leader)
    owners = {n: env.owner(n) for n in BOTH}
    log(f"leader: {leader.tag} beside worker {li + 1}; owners: {owners}")

    notes = [f"fleet-before-{i}" for i in range(5)]
    env.insert_rows(notes)
    for c in BOTH:
        env.wait_notes(c, notes, 90)
    # Every agent's probe saw the database up before it goes (a target never seen up is a blind
    # spot, never a reason to hold).
    for a in agents:
        a.wait_metric("cdc_sentinel_probe_success", {}, lambda v: v and v >= 1, 30,
                      f"agent {a.tag} to see PostgreSQL up")

    # The outage: the leader holds both.
    t_out = time.monotonic()
    env.stop_pg("immediate")
    for c in BOTH:
        wait_until(lambda c=c: env.states(c)[0] == "PAUSED", 90, f"{c} held (PAUSED)", interval=0.5)
    timings["held_after_outage_s"] = round(time.monotonic() - t_out, 2)
    for a in agents:
        for c in BOTH:
            wait_until(lambda a=a, c=c: a.phase(c) == "waiting", 30, f"agent {a.tag} sees {c} waiting")

    # Mid-recovery: the leader's host is lost, worker and agent at once.
    t_kill = time.monotonic()
    leader.kill()
    env.kill_worker_i(li)
    rest = [a for a in agents if a is not leader]
    new = one_leader(rest, 120)
    timings["failover_after_kill_s"] = round(time.monotonic() - t_kill, 2)
    log(f"new leader: {new.tag}")
    for c in BOTH:
        wait_until(lambda c=c: new.phase(c) == "waiting", 30, f"the new leader carries on {c}")

    env.start_pg()
    t_back = time.monotonic()
    for c in BOTH:
        wait_until(lambda c=c: (lambda st: st[0] == "RUNNING" and st[1] and all(t == "RUNNING" for t in st[1]))(env.states(c)),
                   180, f"{c} RUNNING with every task RUNNING", interval=0.5)
    timings["running_after_db_back_s"] = round(time.monotonic() - t_back, 2)
    after = [f"fleet-after-{i}" for i in range(5)]
    env.insert_rows(after)
    for c in BOTH:
        timings[f"rows_arrived_{c}_s"] = round(env.wait_notes(c, notes + after, 120), 2)
    for c in BOTH:
        wait_until(lambda c=c: new.phase(c) == "watching", 90, f"the recovery of {c} ends")
    check(new.value("cdc_sentinel_leader") == 1, "the new leader still leads")
    resumes = new.value("cdc_sentinel_actions_total", action="resume", result="ok") or 0
    check(resumes >= 2, f"the new leader resumed both connectors (resume ok: {resumes})")
    for a in rest:
        if a is not new:
            check(a.value("cdc_sentinel_leader") == 0, f"{a.tag} stands by")
            sent = sum(v for n, ls, v in a.metrics() if n == "cdc_sentinel_actions_total" and ls.get("result") == "ok")
            check(sent == 0, f"standby {a.tag} sent {sent} actions")
    with open(new.log_path, errors="replace") as f:
        text = f.read()
    between = "between workers" in text
    dead_owned = [c for c, o in owners.items() if o == li]
    timings["connectors_owned_by_the_dead_worker"] = ",".join(dead_owned) or "none"
    if dead_owned:
        check(between, f"the new leader waited for {dead_owned} (owned by the dead worker) to be reassigned")
    check("handed back" not in text, "nothing was taken for a human's hand-back")
    for a in agents:
        a.stop()
    return agents


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2, choices=[2, 3])
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    binary = find_binary()
    e2e.exit_on_signals()
    t_suite = time.monotonic()
    try:
        env = FleetEnv(workers=a.workers, keep=a.keep)
    except EnvError as ex:
        print(f"fleet.py: FAILED: {ex}", file=sys.stderr)
        return 1
    workdir = tempfile.mkdtemp(prefix="cdc-e2e-fleet-", dir=env.workdir)
    timings = {}
    ok, err, agents = False, None, []
    try:
        env.up()
        timings["environment_up_s"] = env.timings.get("startup_s")
        agents = run(env, binary, workdir, timings)
        ok = True
    except (ScenarioFailed, EnvError, TimeoutError) as ex:
        err = str(ex)
    except Exception as ex:
        err = f"{type(ex).__name__}: {ex}\n{traceback.format_exc()}"
    finally:
        if not ok:
            print(f"--- fleet scenario FAILED: {err}", file=sys.stderr)
            for f in sorted(os.listdir(workdir)):
                if f.endswith(".log"):
                    print(f"--- {f} ---\n{FleetEnv.tail(os.path.join(workdir, f), 40)}", file=sys.stderr)
            for i in range(env.n):
                print(f"--- worker-{i + 1}.log ---\n{FleetEnv.tail(env.worker_log_i(i), 25)}", file=sys.stderr)
        env.down()
    print(f"\n==== cdc-sentinel fleet on real Kafka Connect 3.9.0 ({a.workers} workers, "
          f"Debezium 3.6.3, PostgreSQL, tansu) ====")
    for k, v in timings.items():
        print(f"  {k:40} {v}")
    print(f"  {'wall time':40} {time.monotonic() - t_suite:.0f}s")
    print("PASS" if ok else f"FAIL: {err.splitlines()[0][:300] if err else ''}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
