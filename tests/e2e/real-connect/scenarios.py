#!/usr/bin/env python3
"""cdc-sentinel against a real Kafka Connect 3.9 worker and real Debezium Postgres connectors.

  python3 tests/e2e/real-connect/scenarios.py [--only 3[,5]] [--keep] [--list]

The agent binary is $CDC_SENTINEL_BIN (default target/debug/cdc-sentinel in this repository).
One environment (env.py) serves every scenario; between scenarios it is reset (PostgreSQL up,
both connectors RUNNING and streaming, no agent, a fresh state file). Each scenario asserts on the
worker's /status, on the agent's /metrics (names from docs/metrics.md) and on the rows that reach
the topics, and records its timings. Closing line: "N passed, M failed"; exit 1 on any failure.

Scenarios:
  1  outage with FAILED tasks: both held, neither resumed while down, both RUNNING again after
  2  no data lost: rows before/around/after the outage all arrive; committed offsets advance
  3  max wait exceeded: timed_out, stays held with the database back; a human hands it back
  4  a human's pause (or stop) during an outage is never undone
  5  the agent is SIGKILLed while waiting: a new process with the same state file finishes
  6  --hold-with stop: tasks torn down, resumed from committed offsets without loss
  7  the worker restarts during the hold: target state survives, no action on stale data
  8  a human stops a connector right after the agent paused it (before the agent saw its pause)
  9  pg-beat (heartbeats): recovered only once its committed LSN moves past the hold's
 10  pg-beat: its walsender frozen (SIGSTOP) -> RUNNING, nothing arrives, stall reported; SIGCONT clears
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import env as e2e
from env import EnvError, log, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
FF, HID = "pg-failfast", "pg-hidden"
BOTH = (FF, HID)

POLL = 1.0  # --poll-interval, seconds
PROBE = 1.0  # --probe-interval
DOWN_AFTER = 3
UP_AFTER = 2
VERIFY_WINDOW = 3.0


class ScenarioFailed(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise ScenarioFailed(msg)


# ---- the agent ----------------------------------------------------------------------------------

METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def parse_metrics(text):
    """Prometheus text format -> [(name, {label: value}, float)]."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = METRIC_LINE.match(line)
        if not m:
            raise ScenarioFailed(f"unparseable /metrics line: {line!r}")
        labels = {}
        if m.group(2):
            pos, s = 0, m.group(2)
            while pos < len(s):
                lm = LABEL.match(s, pos)
                if not lm:
                    raise ScenarioFailed(f"unparseable labels in /metrics line: {line!r}")
                labels[lm.group(1)] = lm.group(2).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                pos = lm.end()
        out.append((m.group(1), labels, float(m.group(3))))
    return out


class Agent:
    """One cdc-sentinel process, stopped by its PID."""

    def __init__(self, binary, env, workdir, state_file, tag, extra=()):
        self.binary, self.env, self.tag = binary, env, tag
        self.state_file = state_file
        self.port = e2e.free_port()
        self.log_path = os.path.join(workdir, f"agent-{tag}.log")
        self.args = [
            "run",
            "--connect-url", env.connect_url,
            "--poll-interval", f"{POLL:g}s",
            "--probe-interval", f"{PROBE:g}s",
            "--probe-timeout", "1s",
            "--down-after", str(DOWN_AFTER),
            "--up-after", str(UP_AFTER),
            "--verify-window", f"{VERIFY_WINDOW:g}s",
            "--verify-timeout", "30s",
            "--max-wait", "40s",
            "--state-file", state_file,
            "--web.listen-address", f"127.0.0.1:{self.port}",
            "--log-format", "text",
        ]
        # clap rejects a repeated single-value flag, so a scenario's flag replaces the default one
        extra = list(extra)
        while extra:
            flag, value = extra.pop(0), extra.pop(0)
            if flag in self.args:
                self.args[self.args.index(flag) + 1] = value
            else:
                self.args += [flag, value]
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=20):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDC_SENTINEL_")}
        env.setdefault("RUST_LOG", "info")
        with open(self.log_path, "ab") as lf:
            lf.write(f"\n=== {time.strftime('%H:%M:%S')} {self.binary} {' '.join(self.args)}\n".encode())
            lf.flush()
            self.proc = subprocess.Popen([self.binary, *self.args], stdin=subprocess.DEVNULL, stdout=lf,
                                         stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log(f"agent {self.tag} pid {self.proc.pid} on {self.url}")

        def ready():
            if self.proc.poll() is not None:
                raise ScenarioFailed(f"agent {self.tag} exited with {self.proc.returncode}:\n{self.log_tail(30)}")
            return self.http("/readyz")[0] == 200

        wait_until(ready, timeout, f"agent {self.tag} {self.url}/readyz to answer 200")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                log(f"agent {self.tag} ignored SIGTERM for 15s; SIGKILL")
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode if self.proc else None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def http(self, path, timeout=5):
        import urllib.error
        import urllib.request
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except OSError as e:
            return None, str(e)

    def metrics(self):
        code, text = self.http("/metrics")
        if code != 200:
            raise ScenarioFailed(f"agent {self.tag} GET /metrics -> {code} {text[:200]}")
        return parse_metrics(text)

    def value(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels`; None if there are none."""
        vals = [v for n, ls, v in self.metrics() if n == name and all(ls.get(k) == w for k, w in labels.items())]
        return sum(vals) if vals else None

    def phase(self, connector):
        for n, ls, v in self.metrics():
            if n == "cdc_sentinel_recovery_phase" and ls.get("connector") == connector and v == 1:
                return ls.get("phase")
        return None

    def wait_recovered(self, connector, timeout, what):
        """Recovered: back to watching after the verify window (managed turns 0 as soon as the
        resume is accepted, while the recovery is still being verified)."""
        return wait_until(lambda: self.phase(connector) == "watching", timeout, what, interval=0.25)

    def wait_metric(self, name, labels, pred, timeout, what=None):
        return wait_until(lambda: pred(self.value(name, **labels)), timeout,
                          what or f"agent metric {name}{labels} to satisfy the check",
                          interval=0.25)

    def log_tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError as e:
            return f"(no agent log: {e})"


# ---- a timeline of the worker's /status ---------------------------------------------------------

class Timeline:
    """Samples both connectors' /status every 0.2 s in a thread and keeps every change."""

    def __init__(self, env):
        self.env = env
        self.samples = {n: [] for n in BOTH}  # name -> [(t, conn_state, (task states))]
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)

    def _run(self):
        while not self._stop.is_set():
            for n in BOTH:
                code, s = self.env.rest("GET", f"/connectors/{n}/status", timeout=2)
                if code is None:
                    st = ("UNREACHABLE", ())
                elif code != 200 or not isinstance(s, dict):
                    st = (f"HTTP{code}", ())
                else:
                    st = (s["connector"]["state"], tuple(t["state"] for t in s.get("tasks", [])))
                lst = self.samples[n]
                if not lst or lst[-1][1:] != st:
                    lst.append((time.monotonic(), *st))
            self._stop.wait(0.2)

    def first(self, name, pred, after=0.0, wait=3.0):
        """Time of the first sample at or after `after` whose (state, tasks) satisfy pred. The
        sampler runs in its own thread, so give it up to `wait` seconds to record a state that
        a direct request has already seen."""
        deadline = time.monotonic() + wait
        while True:
            for t, c, tasks in list(self.samples[name]):
                if t >= after and pred(c, tasks):
                    return t
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def states_between(self, name, t0, t1):
        """Every (state, tasks) the connector showed between t0 and t1 (including the one at t0)."""
        out, before = [], None
        for t, c, tasks in self.samples[name]:
            if t <= t0:
                before = (c, tasks)
            elif t <= t1:
                out.append((c, tasks))
        return ([before] if before else []) + out

    def render(self, t0):
        lines = []
        for n in BOTH:
            for t, c, tasks in self.samples[n]:
                lines.append((t, f"  {t - t0:+7.2f}s {n:12} {c:11} {list(tasks)}"))
        return "\n".join(s for _, s in sorted(lines))


# ---- scenario context -----------------------------------------------------------------------------

class Ctx:
    def __init__(self, env, binary, workdir, number):
        self.env, self.binary, self.workdir, self.number = env, binary, workdir, number
        self.timings = {}
        self.notes = []
        self.agents = []
        self.state_file = os.path.join(workdir, f"state-{number}.json")
        self.rows = {n: [] for n in BOTH}  # notes expected on each topic in this scenario
        self.tl = None
        self.t0 = time.monotonic()
        self.cleanups = []  # run after the agents stop, last added first

    def agent(self, extra=(), tag=None):
        a = Agent(self.binary, self.env, self.workdir, self.state_file,
                  tag or f"s{self.number}-{len(self.agents) + 1}", extra)
        self.agents.append(a)
        return a.start()

    def insert(self, label, n=1):
        notes = [f"s{self.number}-{label}-{i}" for i in range(n)]
        ids = self.env.insert_rows(notes)
        for c in BOTH:
            self.rows[c].extend(notes)
        return ids

    def mark(self, key, seconds):
        self.timings[key] = round(seconds, 2)
        log(f"  s{self.number}: {key} = {seconds:.2f}s")

    def note(self, text):
        self.notes.append(text)
        log(f"  s{self.number}: {text}")

    def all_rows_arrive(self, timeout=90):
        """Every row this scenario inserted is on both topics, with nothing of this scenario extra."""
        for c in BOTH:
            self.env.wait_notes(c, self.rows[c], timeout)
            got = [n for n in self.env.topic_notes(c) if n and n.startswith(f"s{self.number}-")]
            extra = sorted(set(got) - set(self.rows[c]))
            check(not extra, f"{c}: rows on the topic that were never inserted: {extra[:5]}")
            dups = len(got) - len(set(got))
            if dups:
                self.note(f"{c}: {dups} duplicate row events (at-least-once delivery)")

    def stop_agents(self):
        for a in self.agents:
            a.stop()

    def cleanup(self):
        """Stops the agents, then undoes what the scenario set up (each step even if one fails)."""
        self.stop_agents()
        while self.cleanups:
            fn = self.cleanups.pop()
            try:
                fn()
            except Exception as ex:  # keep undoing; the scenario's own failure is reported anyway
                log(f"  s{self.number}: cleanup step failed: {ex}")


def wait_state(env, name, pred, timeout, what):
    return wait_until(lambda: pred(*env.states(name)), timeout, f"{name} {what}", interval=0.2)


def held_by(env, name, hold="PAUSED"):
    return env.states(name)[0] == hold


def all_running(c, tasks):
    return c == "RUNNING" and len(tasks) > 0 and all(t == "RUNNING" for t in tasks)


def reset(env, number):
    """PostgreSQL up, both connectors RUNNING with their target state STARTED and streaming."""
    if not env.pg_running():
        env.start_pg()
    for name in BOTH:
        code, s = env.rest("GET", f"/connectors/{name}/status")
        if code == 404:
            env.create_connector(name)
            continue
        check(code == 200, f"reset: GET /connectors/{name}/status -> {code} {s}")
        if s["connector"]["state"] in ("PAUSED", "STOPPED"):
            env.rest("PUT", f"/connectors/{name}/resume")
        if s["connector"]["state"] == "FAILED" or any(t["state"] == "FAILED" for t in s.get("tasks", [])):
            env.rest("POST", f"/connectors/{name}/restart?includeTasks=true&onlyFailed=true")
    for name in BOTH:
        env.wait_running(name, 60)
    # RUNNING is not streaming (a default-retries task can be inside its 10 s restart loop), so
    # wait for a fresh row on both topics.
    marker = f"reset-before-s{number}-{time.time_ns()}"
    env.insert_rows([marker])
    for name in BOTH:
        env.wait_notes(name, [marker], 60)


# ---- the scenarios -------------------------------------------------------------------------------

def s1_outage_failed_tasks(ctx):
    """Outage with FAILED tasks: pg-failfast held within about one poll of its task failing,
    pg-hidden held after --down-after failed probes, neither resumed while the database is down,
    both RUNNING again once it is back (pg-failfast's FAILED task restarted)."""
    env = ctx.env
    # --down-after 10 makes the two paths distinct: pg-failfast's task fails 1-8 s after the stop
    # (before 10 failed probes), pg-hidden shows nothing and can only be caught by the probes.
    down_after = 10
    a = ctx.agent(["--down-after", str(down_after)])
    target = f"127.0.0.1:{env.pg_port}"
    for c in BOTH:
        check(a.value("cdc_sentinel_connector_target_info", connector=c, target=target) == 1,
              f"agent did not derive target {target} for {c} from database.hostname/port")
        check(a.value("cdc_sentinel_managed", connector=c) == 0, f"{c} managed before any outage")
    a.wait_metric("cdc_sentinel_probe_success", {"target": target}, lambda v: v == 1, 10)
    ctx.insert("before", 3)
    for c in BOTH:
        env.wait_notes(c, ctx.rows[c], 60)

    with Timeline(env) as tl:
        ctx.tl = tl
        ctx.insert("just-before-stop", 3)
        t_stop = time.monotonic()
        env.stop_pg("immediate")
        wait_state(env, FF, lambda c, t: c == "PAUSED", 30, "to be held (PAUSED) by the agent")
        wait_state(env, HID, lambda c, t: c == "PAUSED", 30 + down_after, "to be held (PAUSED) by the agent")
        t_ff_failed = tl.first(FF, lambda c, tasks: "FAILED" in tasks, t_stop)
        t_ff_paused = tl.first(FF, lambda c, tasks: c == "PAUSED", t_stop)
        t_hid_paused = tl.first(HID, lambda c, tasks: c == "PAUSED", t_stop)
        check(t_ff_paused is not None and t_hid_paused is not None,
              f"the sampler never recorded the holds that direct reads saw:\n{tl.render(t_stop)}")
        check(t_ff_failed is not None and t_ff_failed <= t_ff_paused,
              f"{FF}'s task was not seen FAILED before the hold:\n{tl.render(t_stop)}")
        ctx.mark("ff_stop_to_FAILED_s", t_ff_failed - t_stop)
        ctx.mark("ff_FAILED_to_hold_s", t_ff_paused - t_ff_failed)
        ctx.mark("ff_failure_to_hold_s", t_ff_paused - t_stop)
        ctx.mark("hidden_failure_to_hold_s", t_hid_paused - t_stop)
        check(t_ff_paused - t_ff_failed <= POLL + 2.0,
              f"{FF} held {t_ff_paused - t_ff_failed:.1f}s after its task FAILED (poll interval {POLL}s)")
        # pg-hidden read RUNNING all along: only `down_after` failed probes (1 s apart) can hold it
        hid_before = tl.states_between(HID, t_stop, t_hid_paused - 0.01)
        check(all(s == ("RUNNING", ("RUNNING",)) for s in hid_before),
              f"{HID} should read RUNNING until held, saw {hid_before}")
        check(t_hid_paused - t_stop >= (down_after - 1) * PROBE - 0.5,
              f"{HID} held {t_hid_paused - t_stop:.1f}s after the stop, before {down_after} failed probes")
        for c, reason in ((FF, "task_failed"), (HID, "probe_failed")):
            a.wait_metric("cdc_sentinel_managed", {"connector": c}, lambda v: v == 1, 5)
            check(a.value("cdc_sentinel_recovery_info", connector=c, reason=reason) == 1,
                  f"{c}: expected cdc_sentinel_recovery_info reason={reason}")
            # waiting = the hold is confirmed in /status (the poll after the pause)
            a.wait_metric("cdc_sentinel_recovery_phase", {"connector": c, "phase": "waiting"}, lambda v: v == 1,
                          POLL + 4, f"{c} in phase waiting")
        check(a.value("cdc_sentinel_probe_success", target=target) == 0, "probe_success should be 0 while down")
        check(env.states(FF)[1] == ["FAILED"], f"{FF}'s task should stay FAILED while paused: {env.states(FF)}")

        # stay down a while: neither is resumed
        time.sleep(8)
        t_up = time.monotonic()
        # from the moment the sampler itself first recorded each hold: the direct reads above can
        # see PAUSED up to one sampling period before the sampler does
        held_at = {FF: t_ff_paused, HID: t_hid_paused}
        for c in BOTH:
            seen = tl.states_between(c, held_at[c], t_up)
            check(all(s[0] == "PAUSED" for s in seen), f"{c} left PAUSED while the database was down: {seen}")
        check(a.value("cdc_sentinel_actions_total", connector=FF, action="resume") in (None, 0),
              f"{FF}: a resume was sent while the database was down")
        check(a.value("cdc_sentinel_actions_total", connector=HID, action="resume") in (None, 0),
              f"{HID}: a resume was sent while the database was down")

        env.start_pg()
        ctx.insert("just-after-start", 3)
        for c in BOTH:
            wait_state(env, c, all_running, 60, "to be RUNNING again after the database came back")
            ctx.mark(f"{'ff' if c == FF else 'hidden'}_db_back_to_RUNNING_s", time.monotonic() - t_up)
        check(a.value("cdc_sentinel_actions_total", connector=FF, action="restart", result="ok") >= 1,
              f"{FF}: its FAILED task must have been restarted (actions_total restart ok)")
        for c in BOTH:
            a.wait_recovered(c, 30, f"{c} back to watching after the verify window")
            check(a.value("cdc_sentinel_recovery_phase", connector=c, phase="watching") == 1, f"{c} not watching")
        ctx.mark("end_to_end_stop_to_recovered_s", time.monotonic() - t_stop)
        ctx.insert("after", 3)
        ctx.all_rows_arrive()
        ctx.mark("end_to_end_stop_to_all_rows_s", time.monotonic() - t_stop)
        check(a.value("cdc_sentinel_recovery_duration_seconds_count", outcome="recovered") >= 2,
              "cdc_sentinel_recovery_duration_seconds{outcome=recovered} should count both recoveries")
        ctx.note(f"{FF} resume actions: {a.value('cdc_sentinel_actions_total', connector=FF, action='resume'):.0f}, "
                 f"{HID}: {a.value('cdc_sentinel_actions_total', connector=HID, action='resume'):.0f}")


def s2_no_data_lost(ctx):
    """Rows written before the outage, just before the stop, just after the start and after the
    recovery all arrive, each once with its id; the committed offsets advance after recovery."""
    env = ctx.env
    a = ctx.agent()
    ids = ctx.insert("before", 40)
    for c in BOTH:
        env.wait_notes(c, ctx.rows[c], 60)
    # wait for the offset flush (offset.flush.interval.ms=5000) to commit the rows above
    lsn0 = {}
    for c in BOTH:
        lsn0[c] = wait_until(lambda: env.committed_lsn(c), 20, f"{c} to commit a source offset")
    time.sleep(6)
    lsn0 = {c: env.committed_lsn(c) for c in BOTH}

    ids.update(ctx.insert("just-before-stop", 25))
    t_stop = time.monotonic()
    env.stop_pg("immediate")
    for c in BOTH:
        wait_state(env, c, lambda s, t: s == "PAUSED", 30, "to be held")
    ctx.mark("stop_to_both_held_s", time.monotonic() - t_stop)
    time.sleep(3)
    t_up = time.monotonic()
    env.start_pg()
    ids.update(ctx.insert("just-after-start", 25))
    for c in BOTH:
        a.wait_recovered(c, 60, f"{c} recovered (watching)")
    ctx.mark("db_back_to_both_recovered_s", time.monotonic() - t_up)
    ids.update(ctx.insert("after", 25))
    ctx.all_rows_arrive()
    ctx.mark("end_to_end_stop_to_all_rows_s", time.monotonic() - t_stop)

    # exactly: each row's create event carries the id PostgreSQL gave it
    for c in BOTH:
        for rec in env.consume(env.topic(c)):
            v = rec.get("value") or {}
            after = v.get("after") or {}
            n = after.get("note")
            if n in ids:
                check(after.get("id") == ids[n], f"{c}: row {n} arrived with id {after.get('id')}, inserted as {ids[n]}")
    for c in BOTH:
        lsn1 = wait_until(lambda: (env.committed_lsn(c) > lsn0[c]) and env.committed_lsn(c), 30,
                          f"{c}'s committed offset (GET /offsets) to advance past lsn {lsn0[c]}")
        ctx.note(f"{c}: committed lsn {lsn0[c]} -> {lsn1}")


def s3_timeout(ctx):
    """An outage longer than --max-wait: the recovery times out, the connector stays held even with
    the database back; a human's resume (+ restart of FAILED tasks) hands it back."""
    env = ctx.env
    max_wait = 8
    a = ctx.agent(["--max-wait", f"{max_wait}s"])
    ctx.insert("before", 3)
    t_stop = time.monotonic()
    env.stop_pg("immediate")
    for c in BOTH:
        wait_state(env, c, lambda s, t: s == "PAUSED", 30, "to be held")
    for c in BOTH:
        a.wait_metric("cdc_sentinel_recovery_phase", {"connector": c, "phase": "timed_out"}, lambda v: v == 1,
                      max_wait + 20, f"{c} to reach phase timed_out")
        check(a.value("cdc_sentinel_recovery_timeouts_total", connector=c) >= 1, f"{c}: recovery_timeouts_total")
        check(a.value("cdc_sentinel_recovery_max_wait_seconds", connector=c) == max_wait,
              f"{c}: recovery_max_wait_seconds should be {max_wait}")
    ctx.mark("stop_to_timed_out_s", time.monotonic() - t_stop)
    env.start_pg()
    ctx.insert("while-held", 3)
    t_up = time.monotonic()
    # the database is back; with --after-timeout hold the agent must leave both held
    a.wait_metric("cdc_sentinel_probe_success", {"target": f"127.0.0.1:{env.pg_port}"}, lambda v: v == 1, 10)
    time.sleep(UP_AFTER * PROBE + VERIFY_WINDOW + 3)
    for c in BOTH:
        check(env.states(c)[0] == "PAUSED", f"{c} resumed after the max wait: {env.states(c)}")
        check(a.value("cdc_sentinel_managed", connector=c) == 1, f"{c}: managed should stay 1 after the timeout")
        check(a.value("cdc_sentinel_recovery_phase", connector=c, phase="timed_out") == 1, f"{c}: left timed_out")
        check(a.value("cdc_sentinel_actions_total", connector=c, action="resume") in (None, 0),
              f"{c}: the agent sent a resume after the max wait")
    handed0 = a.value("cdc_sentinel_recovery_duration_seconds_count", outcome="handed_back") or 0
    # the human's runbook: resume, then restart the failed tasks
    t_human = time.monotonic()
    for c in BOTH:
        code, body = env.rest("PUT", f"/connectors/{c}/resume")
        check(code == 202, f"human PUT /connectors/{c}/resume -> {code} {body}")
        code, body = env.rest("POST", f"/connectors/{c}/restart?includeTasks=true&onlyFailed=true")
        check(code == 202, f"human POST /connectors/{c}/restart -> {code} {body}")
    for c in BOTH:
        a.wait_metric("cdc_sentinel_managed", {"connector": c}, lambda v: v == 0, 15, f"{c} handed back (managed 0)")
        wait_state(env, c, all_running, 60, "RUNNING after the human's resume")
    ctx.mark("human_resume_to_handed_back_s", time.monotonic() - t_human)
    a.wait_metric("cdc_sentinel_recovery_duration_seconds_count", {"outcome": "handed_back"},
                  lambda v: (v or 0) >= handed0 + 2, 10, "recovery_duration_seconds{outcome=handed_back} +2")
    ctx.insert("after", 3)
    ctx.all_rows_arrive()
    # the database is up: the agent must not take them again
    time.sleep(3)
    for c in BOTH:
        check(all_running(*env.states(c)), f"{c} not RUNNING after the hand-back: {env.states(c)}")
        check(a.value("cdc_sentinel_managed", connector=c) == 0, f"{c} taken again after the hand-back")
    ctx.note(f"database was back {t_human - t_up:.0f}s before the human resumed; nothing was resumed meanwhile")


def s4_human_pause(ctx):
    """A human pauses pg-hidden at the start of an outage and stops pg-failfast while the agent holds
    it: the agent never touches either afterwards, not even once the database is back."""
    env = ctx.env
    a = ctx.agent()
    ctx.insert("before", 3)
    t_stop = time.monotonic()
    env.stop_pg("immediate")
    code, body = env.rest("PUT", f"/connectors/{HID}/pause")
    check(code == 202, f"human PUT pause {HID} -> {code} {body}")
    ctx.mark("stop_to_human_pause_s", time.monotonic() - t_stop)
    wait_state(env, FF, lambda s, t: s == "PAUSED", 30, "held by the agent")
    # the agent has seen its own hold in /status (scenario 8 covers a human faster than that)
    a.wait_metric("cdc_sentinel_recovery_phase", {"connector": FF, "phase": "waiting"}, lambda v: v == 1, 10)
    code, body = env.rest("PUT", f"/connectors/{FF}/stop")
    check(code == 204, f"human PUT stop {FF} -> {code} {body}")
    a.wait_metric("cdc_sentinel_managed", {"connector": FF}, lambda v: v == 0, 10,
                  f"{FF} handed back (managed 0) after the human's stop")
    time.sleep(DOWN_AFTER * PROBE + 2)
    check(a.value("cdc_sentinel_managed", connector=HID) == 0, f"the agent took over {HID}, which a human paused")
    env.start_pg()
    ctx.insert("while-human-held", 3)
    t_up = time.monotonic()
    time.sleep(UP_AFTER * PROBE + VERIFY_WINDOW + 5)
    check(env.states(HID)[0] == "PAUSED", f"{HID}'s human pause was undone: {env.states(HID)}")
    check(env.states(FF)[0] == "STOPPED", f"{FF}'s human stop was undone: {env.states(FF)}")
    for c in BOTH:
        check(a.value("cdc_sentinel_managed", connector=c) == 0, f"{c} managed after the human took it")
        check(a.value("cdc_sentinel_actions_total", connector=c, action="resume") in (None, 0),
              f"{c}: the agent sent a resume")
    check(a.value("cdc_sentinel_actions_total", connector=HID) in (None, 0), f"{HID}: the agent sent an action")
    ctx.note(f"both still held by the human {time.monotonic() - t_up:.0f}s after the database came back")
    # the human finishes; nothing was lost
    for c in BOTH:
        env.rest("PUT", f"/connectors/{c}/resume")
    for c in BOTH:
        wait_state(env, c, all_running, 60, "RUNNING after the human's resume")
    ctx.insert("after", 3)
    ctx.all_rows_arrive()


def s5_agent_sigkill(ctx):
    """The agent is SIGKILLed while it waits for the database: a new process on the same state file
    knows it holds both, and resumes them (and restarts the FAILED task) once the database is back."""
    env = ctx.env
    a1 = ctx.agent()
    ctx.insert("before", 3)
    t_stop = time.monotonic()
    env.stop_pg("immediate")
    for c in BOTH:
        wait_state(env, c, lambda s, t: s == "PAUSED", 30, "held")
        a1.wait_metric("cdc_sentinel_recovery_phase", {"connector": c, "phase": "waiting"}, lambda v: v == 1, 10)
    a1.kill()
    ctx.note(f"agent 1 SIGKILLed {time.monotonic() - t_stop:.1f}s after the stop, both waiting")
    with open(ctx.state_file) as f:
        text = f.read()
    for c in BOTH:
        check(c in text, f"the state file {ctx.state_file} does not mention {c}")
    a2 = ctx.agent()
    for c in BOTH:
        check(a2.value("cdc_sentinel_managed", connector=c) == 1, f"agent 2 does not know it holds {c}")
        check(a2.phase(c) in ("waiting", "holding"), f"agent 2: {c} in phase {a2.phase(c)}")
    time.sleep(2)
    for c in BOTH:
        check(env.states(c)[0] == "PAUSED", f"{c} resumed by agent 2 while the database is down: {env.states(c)}")
    t_up = time.monotonic()
    env.start_pg()
    ctx.insert("just-after-start", 3)
    for c in BOTH:
        a2.wait_recovered(c, 60, f"{c} recovered by agent 2")
        check(all_running(*env.states(c)), f"{c} not RUNNING after agent 2's recovery: {env.states(c)}")
    ctx.mark("db_back_to_recovered_by_new_agent_s", time.monotonic() - t_up)
    ctx.insert("after", 3)
    ctx.all_rows_arrive()


def s6_hold_with_stop(ctx):
    """--hold-with stop: both STOPPED with their tasks torn down; resumed with fresh tasks from the
    committed offsets, without losing rows."""
    env = ctx.env
    a = ctx.agent(["--hold-with", "stop"])
    ctx.insert("before", 10)
    t_stop = time.monotonic()
    env.stop_pg("immediate")
    for c in BOTH:
        wait_state(env, c, lambda s, t: s == "STOPPED", 30, "held with STOPPED")
    ctx.mark("stop_to_both_STOPPED_s", time.monotonic() - t_stop)
    for c in BOTH:
        wait_state(env, c, lambda s, t: s == "STOPPED" and t == [], 30, "STOPPED with its tasks gone")
        a.wait_metric("cdc_sentinel_managed", {"connector": c}, lambda v: v == 1, 5)
        check(a.value("cdc_sentinel_actions_total", connector=c, action="stop", result="ok") >= 1,
              f"{c}: actions_total{{action=stop,result=ok}}")
    ctx.mark("stop_to_tasks_gone_s", time.monotonic() - t_stop)
    offs = {c: env.offsets(c) for c in BOTH}
    time.sleep(2)
    t_up = time.monotonic()
    env.start_pg()
    ctx.insert("just-after-start", 10)
    for c in BOTH:
        wait_state(env, c, all_running, 60, "RUNNING with fresh tasks")
        ctx.mark(f"{'ff' if c == FF else 'hidden'}_db_back_to_RUNNING_s", time.monotonic() - t_up)
    for c in BOTH:
        a.wait_recovered(c, 30, f"{c} recovered")
    ctx.insert("after", 10)
    ctx.all_rows_arrive()
    ctx.mark("end_to_end_stop_to_all_rows_s", time.monotonic() - t_stop)
    ctx.note(f"offsets while STOPPED: {json.dumps({c: o.get('offsets') for c, o in offs.items()})[:300]}")


def s7_worker_restart(ctx):
    """The Kafka Connect worker restarts while the agent holds both: the PAUSED target state survives
    the restart, the agent sends nothing while the REST API is away or just back, then recovers
    both once the database returns."""
    env = ctx.env
    a = ctx.agent(["--max-wait", "120s"])
    ctx.insert("before", 3)
    env.stop_pg("immediate")
    for c in BOTH:
        wait_state(env, c, lambda s, t: s == "PAUSED", 30, "held")
        a.wait_metric("cdc_sentinel_recovery_phase", {"connector": c, "phase": "waiting"}, lambda v: v == 1, 10,
                      f"{c}'s hold confirmed (phase waiting)")
    actions0 = {c: a.value("cdc_sentinel_actions_total", connector=c) or 0 for c in BOTH}
    with Timeline(env) as tl:
        ctx.tl = tl
        t_down = time.monotonic()
        env.stop_worker()
        a.wait_metric("cdc_sentinel_connect_up", {}, lambda v: v == 0, 10, "connect_up 0 with the worker gone")
        wait_until(lambda: a.http("/readyz")[0] == 503, 10, "agent /readyz 503 with the worker gone")
        ctx.mark("worker_stop_to_connect_up_0_s", time.monotonic() - t_down)
        time.sleep(3)
        env.start_worker()
        ctx.mark("worker_downtime_s", time.monotonic() - t_down)
        a.wait_metric("cdc_sentinel_connect_up", {}, lambda v: v == 1, 20, "connect_up 1 with the worker back")
        for c in BOTH:
            wait_state(env, c, lambda s, t: s == "PAUSED" and t and all(x == "PAUSED" for x in t), 60,
                       "PAUSED (target state from the config topic) after the worker restart")
        time.sleep(3)
        for c in BOTH:
            check(a.value("cdc_sentinel_managed", connector=c) == 1, f"agent lost its hold on {c} over the worker restart")
            check((a.value("cdc_sentinel_actions_total", connector=c) or 0) == actions0[c],
                  f"{c}: the agent sent an action while the worker was away or restarting")
        t_up = time.monotonic()
        env.start_pg()
        ctx.insert("just-after-start", 3)
        for c in BOTH:
            a.wait_recovered(c, 60, f"{c} recovered")
            check(all_running(*env.states(c)), f"{c} not RUNNING after the recovery: {env.states(c)}")
        ctx.mark("db_back_to_recovered_s", time.monotonic() - t_up)
    ctx.insert("after", 3)
    ctx.all_rows_arrive()


def s8_human_stop_before_confirm(ctx):
    """A human stops pg-failfast right after the agent paused it, before the agent's next poll has
    seen its own pause: the stop is the human's and is never turned back into a pause or resumed
    (not even after the agent's hold-confirmation timeout of max(6 polls, 30 s))."""
    env = ctx.env
    a = ctx.agent(["--max-wait", "120s"])
    ctx.insert("before", 3)
    env.stop_pg("immediate")
    wait_state(env, FF, lambda s, t: s == "PAUSED", 30, "paused by the agent")
    code, body = env.rest("PUT", f"/connectors/{FF}/stop")
    t_human = time.monotonic()
    check(code == 204, f"human PUT stop {FF} -> {code} {body}")
    phase_then = a.phase(FF)
    ctx.note(f"agent phase for {FF} when the human's stop landed: {phase_then}")
    wait_state(env, FF, lambda s, t: s == "STOPPED", 10, "STOPPED by the human")
    pauses0 = a.value("cdc_sentinel_actions_total", connector=FF, action="pause") or 0
    with Timeline(env) as tl:
        ctx.tl = tl
        # past the agent's confirmation timeout (30 s with --poll-interval 1s), database still down
        time.sleep(35)
        seen = tl.states_between(FF, t_human, time.monotonic())
        check(all(s[0] == "STOPPED" for s in seen[1:]),
              f"{FF}: the human's STOP was overridden while the database was down: {seen}")
        check((a.value("cdc_sentinel_actions_total", connector=FF, action="pause") or 0) == pauses0,
              f"{FF}: the agent sent another pause to a connector a human had stopped")
        check(a.value("cdc_sentinel_managed", connector=FF) == 0,
              f"{FF}: the agent still claims a connector a human stopped (phase {a.phase(FF)})")
        env.start_pg()
        ctx.insert("after-start", 3)
        time.sleep(UP_AFTER * PROBE + VERIFY_WINDOW + 4)
        check(env.states(FF)[0] == "STOPPED", f"{FF}'s human stop was undone: {env.states(FF)}")
        check(a.value("cdc_sentinel_actions_total", connector=FF, action="resume") in (None, 0),
              f"{FF}: the agent resumed a connector a human had stopped")
    for c in BOTH:
        env.rest("PUT", f"/connectors/{c}/resume")
    for c in BOTH:
        wait_state(env, c, all_running, 60, "RUNNING after the human's resume")
    ctx.all_rows_arrive()


# ---- committed offsets: recovery judged by progress, a real stall -----------------------------

BEAT = "pg-beat"  # env.ON_DEMAND: created by these scenarios only
OFFSETS_INTERVAL = 2  # --offsets-interval, seconds
# --stall-after must exceed the worker's offset.flush.interval.ms (5 s here) and a read interval.
STALL_AFTER = 12
BEAT_FLAGS = ["--connector", "pg-beat", "--offsets-interval", f"{OFFSETS_INTERVAL}s",
              "--stall-after", f"{STALL_AFTER}s"]
LSN_TEXT = re.compile(r"LSN ([0-9A-F]+)/([0-9A-F]+)")


def lsn(text):
    """`0/152A408` (PostgreSQL's notation, as the agent logs it) -> 22193160."""
    m = LSN_TEXT.fullmatch(text.strip()) or LSN_TEXT.search(text)
    check(m is not None, f"no LSN in {text!r}")
    return (int(m.group(1), 16) << 32) | int(m.group(2), 16)


def beat_up(ctx):
    """Creates pg-beat for this scenario (deleted after it, slot and all) and waits until it has
    committed an offset."""
    env = ctx.env
    t0 = time.monotonic()
    env.create_connector(BEAT)

    def delete():
        t = time.monotonic()
        env.delete_connector(BEAT)
        log(f"  s{ctx.number}: {BEAT} stopped, offsets reset, deleted, slot dropped in {time.monotonic() - t:.1f}s")
    ctx.cleanups.append(delete)
    env.wait_running(BEAT, 60)
    first = wait_until(lambda: env.committed_lsn(BEAT), 30, f"{BEAT} to commit a source offset")
    # heartbeats alone move it (the action query writes a logical message every second)
    wait_until(lambda: env.committed_lsn(BEAT) > first, 20,
               f"{BEAT}'s committed LSN to move on a quiet database (heartbeat.action.query)")
    ctx.mark("beat_created_and_moving_s", time.monotonic() - t0)


def agent_line(agent, needle, timeout=10):
    """The first line of the agent's log that contains `needle`."""
    def find():
        with open(agent.log_path, errors="replace") as f:
            return next((ln.rstrip("\n") for ln in f if needle in ln), None)
    return wait_until(find, timeout, f"the agent's log to say {needle!r}")


def s9_progress_after_recovery(ctx):
    """pg-beat has heartbeats, so its recovery is judged by progress: held (the hold line names the
    committed LSN), and once the database is back it counts as recovered only when the committed LSN
    read after the resume is past the hold's; GET /offsets shows the LSN advanced."""
    env = ctx.env
    beat_up(ctx)
    a = ctx.agent(BEAT_FLAGS)
    a.wait_metric("cdc_sentinel_source_offset_position", {"connector": BEAT}, lambda v: bool(v), 20)
    a.wait_metric("cdc_sentinel_connector_stalled", {"connector": BEAT}, lambda v: v == 0, 10)
    t_stop = time.monotonic()
    env.stop_pg("immediate")
    wait_state(env, BEAT, lambda c, t: c == "PAUSED", 30, "to be held (PAUSED) by the agent")
    ctx.mark("stop_to_held_s", time.monotonic() - t_stop)
    hold = agent_line(a, f"{BEAT}: holding it while")
    check("pause requested (committed LSN " in hold, f"the hold line names no position: {hold}")
    time.sleep(2)
    t_up = time.monotonic()
    env.start_pg()
    a.wait_metric("cdc_sentinel_recovery_duration_seconds_count", {"outcome": "recovered"},
                  lambda v: v == 1, 90, f"{BEAT} recovered")
    ctx.mark("db_back_to_recovered_by_progress_s", time.monotonic() - t_up)
    line = agent_line(a, f"{BEAT}: recovered after")
    m = re.search(r"judged by progress: held at (LSN \S+); resumed; now at (LSN \S+)", line)
    check(m is not None, f"the recovered line does not say it was judged by progress: {line}")
    held, now = lsn(m.group(1)), lsn(m.group(2))
    check(now > held, f"recovered at {m.group(2)}, not past the hold's {m.group(1)}")
    committed = env.committed_lsn(BEAT)
    check(committed > held, f"GET /offsets lsn {committed} is not past the hold's {held}")
    ctx.note(f"held at {m.group(1)} ({held}); resumed; now at {m.group(2)} ({now}); GET /offsets lsn {committed}")
    check(a.value("cdc_sentinel_actions_total", connector=BEAT, action="restart_tasks", result="ok") == 0,
          "a recovery that moved needed no restart of its tasks")


def s10_walsender_stall(ctx):
    """pg-beat's walsender is frozen with SIGSTOP: the task reads RUNNING while nothing arrives and
    its committed LSN stands still; the agent reports the stall (metric, one WARN line with the
    position) after --stall-after, takes no action, and clears it once SIGCONT lets data flow."""
    env = ctx.env
    beat_up(ctx)
    a = ctx.agent(BEAT_FLAGS)
    a.wait_metric("cdc_sentinel_source_offset_position", {"connector": BEAT}, lambda v: bool(v), 20)
    a.wait_metric("cdc_sentinel_connector_stalled", {"connector": BEAT}, lambda v: v == 0, 10)
    pid = env.walsender_pid(BEAT)
    check(pid is not None, f"no walsender holds {BEAT}'s slot")
    os.kill(pid, signal.SIGSTOP)
    t_stop = time.monotonic()

    def cont():
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    ctx.cleanups.append(cont)
    a.wait_metric("cdc_sentinel_connector_stalled", {"connector": BEAT}, lambda v: v == 1,
                  STALL_AFTER + 40, f"{BEAT} reported stalled")
    ctx.mark("sigstop_to_stalled_s", time.monotonic() - t_stop)
    # The stall counts from the last move, at most a flush (5 s) and a read before the SIGSTOP.
    check(time.monotonic() - t_stop >= STALL_AFTER - 5 - OFFSETS_INTERVAL - 1,
          f"reported {time.monotonic() - t_stop:.1f}s after the SIGSTOP, before --stall-after {STALL_AFTER}s")
    check(env.states(BEAT) == ("RUNNING", ["RUNNING"]), f"{BEAT} should read RUNNING: {env.states(BEAT)}")
    frozen = env.committed_lsn(BEAT)
    time.sleep(6)  # longer than offset.flush.interval.ms
    check(env.committed_lsn(BEAT) == frozen, "the committed LSN moved while the walsender was stopped")
    line = agent_line(a, f"{BEAT}: stalled: its committed LSN")
    check("while the connector reads RUNNING" in line, f"stall line: {line}")
    check(a.value("cdc_sentinel_recovery_active", connector=BEAT) == 0, "a stall while watching is reported, not acted on")
    acted = sum(v for n, ls, v in a.metrics() if n == "cdc_sentinel_actions_total" and ls.get("connector") == BEAT)
    check(acted == 0, f"{acted} actions for a stall")
    ctx.note(f"walsender pid {pid} stopped; committed lsn stood at {frozen}; {line.split(': stalled: ', 1)[-1][:90]}")
    t_cont = time.monotonic()
    cont()
    a.wait_metric("cdc_sentinel_connector_stalled", {"connector": BEAT}, lambda v: v == 0, 60,
                  f"{BEAT}'s stall cleared after SIGCONT")
    ctx.mark("sigcont_to_cleared_s", time.monotonic() - t_cont)
    check(env.committed_lsn(BEAT) > frozen, "the committed LSN did not move after SIGCONT")
    agent_line(a, f"{BEAT}: stall over after")
    with open(a.log_path, errors="replace") as f:
        n = sum(1 for ln in f if f"{BEAT}: stalled:" in ln)
    check(n == 1, f"{n} stall lines for one stall")


SCENARIOS = {
    1: ("outage with FAILED tasks", s1_outage_failed_tasks),
    2: ("no data lost", s2_no_data_lost),
    3: ("max wait exceeded, human hands back", s3_timeout),
    4: ("a human's pause during an outage is never undone", s4_human_pause),
    5: ("agent SIGKILLed during the wait", s5_agent_sigkill),
    6: ("--hold-with stop", s6_hold_with_stop),
    7: ("worker restart during the hold", s7_worker_restart),
    8: ("a human's stop within one poll of the agent's pause", s8_human_stop_before_confirm),
    9: ("recovery judged by the committed LSN moving (heartbeats)", s9_progress_after_recovery),
    10: ("a frozen walsender: stall reported, cleared after SIGCONT", s10_walsender_stall),
}


def find_binary():
    b = os.environ.get("CDC_SENTINEL_BIN") or os.path.join(REPO, "target", "debug", "cdc-sentinel")
    if not os.path.isabs(b):
        b = os.path.join(REPO, b)
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        print(f"scenarios.py: FAILED: the cdc-sentinel binary is missing at {b}\n"
              f"  build it first (cargo build) or point CDC_SENTINEL_BIN at it", file=sys.stderr)
        sys.exit(2)
    r = subprocess.run([b, "run", "--help"], capture_output=True, text=True, timeout=20)
    if r.returncode != 0 or "--hold-with" not in r.stdout:
        print(f"scenarios.py: FAILED: {b} has no 'run --hold-with' (exit {r.returncode}); "
              f"is it a cdc-sentinel with the run command?\n{r.stderr[:500]}", file=sys.stderr)
        sys.exit(2)
    return b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated scenario numbers (default: all)")
    ap.add_argument("--keep", action="store_true", help="keep the workdir (logs, state files)")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        for n, (title, fn) in SCENARIOS.items():
            print(f"{n}  {title}: {' '.join(fn.__doc__.split())}")
        return 0
    try:
        selected = [int(x) for x in a.only.split(",")] if a.only else list(SCENARIOS)
    except ValueError:
        ap.error("--only takes scenario numbers, e.g. --only 3 or --only 1,5")
    unknown = [n for n in selected if n not in SCENARIOS]
    if unknown:
        ap.error(f"no scenario {unknown}; there are {list(SCENARIOS)}")
    binary = find_binary()
    e2e.exit_on_signals()

    t_suite = time.monotonic()
    results = []  # (n, title, ok, timings, notes, error)
    try:
        env = e2e.Env(keep=a.keep)
    except EnvError as ex:
        print(f"scenarios.py: FAILED: {ex}", file=sys.stderr)
        return 1
    agent_dir = tempfile.mkdtemp(prefix="cdc-e2e-agent-", dir=env.workdir)
    try:
        try:
            env.up()
        except (EnvError, TimeoutError) as ex:
            print(f"scenarios.py: FAILED: the real environment did not come up: {ex}", file=sys.stderr)
            return 1
        for n in selected:
            title, fn = SCENARIOS[n]
            print(f"\n=== scenario {n}: {title}", flush=True)
            ctx = Ctx(env, binary, agent_dir, n)
            t0 = time.monotonic()
            ok, err = False, None
            try:
                reset(env, n)
                fn(ctx)
                ok = True
            except (ScenarioFailed, EnvError, TimeoutError) as ex:
                err = str(ex)
            except Exception as ex:  # a bug in the test itself: still report, still tear down
                err = f"{type(ex).__name__}: {ex}\n{traceback.format_exc()}"
            finally:
                ctx.cleanup()
            ctx.timings["scenario_s"] = round(time.monotonic() - t0, 1)
            if not ok:
                print(f"--- scenario {n} FAILED: {err}", file=sys.stderr)
                if ctx.tl:
                    print(f"--- /status timeline ---\n{ctx.tl.render(ctx.t0)}", file=sys.stderr)
                for ag in ctx.agents:
                    print(f"--- agent {ag.tag} log tail ({ag.log_path}) ---\n{ag.log_tail(40)}", file=sys.stderr)
                print(f"--- worker log tail ({env.worker_log}) ---\n{env.worker_log_tail(30)}", file=sys.stderr)
            print(f"=== scenario {n}: {'PASS' if ok else 'FAIL'} ({ctx.timings['scenario_s']}s)", flush=True)
            results.append((n, title, ok, ctx.timings, ctx.notes, err))
    finally:
        env.down()

    print("\n==== cdc-sentinel real-connect scenarios (Kafka Connect 3.9.0, Debezium 3.6.3, PostgreSQL) ====")
    print(f"environment startup: {env.timings.get('startup_s')}s; suite: {time.monotonic() - t_suite:.0f}s")
    for n, title, ok, timings, notes, err in results:
        print(f"[{'PASS' if ok else 'FAIL'}] {n} {title}")
        for k, v in timings.items():
            print(f"        {k:40} {v}")
        for t in notes:
            print(f"        - {t}")
        if err:
            print(f"        ! {err.splitlines()[0][:300]}")
    passed = sum(1 for r in results if r[2])
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
