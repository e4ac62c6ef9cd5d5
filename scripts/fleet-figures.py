#!/usr/bin/env python3
"""Figures for the README's "Performance" section: two agents on one Kafka-compatible broker
(tansu), each beside its own worker of one simulated Kafka Connect cluster of 1,000 connectors.

    cargo build --release -p cdc-sentinel -p cdc-sentinel-sim
    bash scripts/tansu.sh
    python3 scripts/fleet-figures.py [--connectors 1000] [--session 10s] [--sample 60]

Prints: election time at start (process start to one leader); the leader's and the standby's
CPU (over --sample seconds) and resident memory (VmRSS now, VmHWM peak), first with every
connector running, then with every connector held (the database gone: 1,000 hold records in the
topic, read by the standby each poll); failover after SIGKILL of the leader and after SIGSTOP of
the leader (each new leader takes over the 1,000 records), and how soon the thawed one reports
cdc_sentinel_leader 0. The agents poll every 5 s (the default) and probe every 5 s. Everything binds 127.0.0.1; every process started is stopped by PID.
Timings are measured, never asserted.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tansu_path():
    p = os.environ.get("CDC_SENTINEL_TANSU") or os.path.join(
        os.environ.get("CDC_SENTINEL_E2E_CACHE", os.path.expanduser("~/.cache/cdc-sentinel-e2e")), "bin", "tansu")
    if not os.path.isfile(p):
        sys.exit(f"tansu not found at {p}: run `bash scripts/tansu.sh` (or set CDC_SENTINEL_TANSU)")
    return p


def database():
    """A TCP listener that accepts and keeps connections: the connectors' "database", probed
    with --db tcp://... (accepting means up)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(256)
    held = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
                held.append(c)
            except OSError:
                return

    def down():
        srv.close()
        for c in held:
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    return down, srv.getsockname()[1]


def wait_port(port, within=15):
    t0 = time.time()
    while time.time() - t0 < within:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {within}s")


def metric(port, name, labels=""):
    """The value of `name{labels...}` (labels: a fragment every matching line contains); the
    sum when several lines match."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            total = None
            for line in r.read().decode().splitlines():
                series, _, v = line.rpartition(" ")
                if series == name or (series.startswith(name + "{") and labels in series):
                    total = (total or 0) + float(v)
            return total
    except OSError:
        return None


def proc_times(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_mem(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024
    return out


class Agent:
    def __init__(self, binary, name, connect_url, store, db_port, session, workdir):
        self.name = name
        self.port = free_port()
        self.log = open(os.path.join(workdir, f"{name}.log"), "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDC_SENTINEL_")}
        self.started = time.time()
        self.proc = subprocess.Popen(
            [binary, "run", "--connect-url", connect_url, "--state-store", store,
             "--kafka-session-timeout", session, "--web.listen-address", f"127.0.0.1:{self.port}",
             "--db", f"tcp://127.0.0.1:{db_port}", "--probe-interval", "5s",
             "--state-file", os.path.join(workdir, f"{name}-state.json")],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def leads(self):
        return metric(self.port, "cdc_sentinel_leader")

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            self.proc.kill()
            self.proc.wait()


def wait_for(cond, within, what):
    t0 = time.time()
    while time.time() - t0 < within:
        if cond():
            return time.time() - t0
        time.sleep(0.05)
    raise SystemExit(f"{what}: not within {within}s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default=os.path.join(REPO, "target/release/cdc-sentinel"))
    ap.add_argument("--sim", default=os.path.join(REPO, "target/release/cdc-sentinel-sim"))
    ap.add_argument("--connectors", type=int, default=1000)
    ap.add_argument("--session", default="10s")
    ap.add_argument("--sample", type=int, default=60, help="seconds of CPU sampling")
    a = ap.parse_args()
    for b in (a.agent, a.sim):
        if not os.path.isfile(b):
            sys.exit(f"{b} is missing: cargo build --release -p cdc-sentinel -p cdc-sentinel-sim")
    work = tempfile.mkdtemp(prefix="cdc-fleet-figures-")
    procs = []
    agents = []
    try:
        kport = free_port()
        tansu = subprocess.Popen(
            [tansu_path(), "broker", "--listener-url", f"tcp://127.0.0.1:{kport}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{kport}", "--storage-engine", "memory://tansu/"],
            stdout=open(os.path.join(work, "tansu.log"), "w"), stderr=subprocess.STDOUT)
        procs.append(tansu)
        wait_port(kport)
        db_down, db_port = database()
        cport = free_port()
        sim = subprocess.Popen(
            [a.sim, "--listen", f"127.0.0.1:{cport}", "--workers", "2",
             "--generate", f"{a.connectors}@127.0.0.1:{db_port}"],
            stdout=subprocess.PIPE, stderr=open(os.path.join(work, "sim.log"), "w"), text=True)
        procs.append(sim)
        urls = sim.stdout.readline().split(" on ", 1)[1].split()
        store = f"kafka://127.0.0.1:{kport}/cdc-sentinel-state"
        print(f"tansu on 127.0.0.1:{kport}; simulated cluster of {a.connectors} connectors on "
              f"{' and '.join(urls)}; session timeout {a.session}; logs in {work}")

        agents = [Agent(a.agent, f"agent-{i + 1}", u, store, db_port, a.session, work) for i, u in enumerate(urls)]
        t = wait_for(lambda: any(x.leads() == 1 for x in agents), 120, "election at start")
        leader = next(x for x in agents if x.leads() == 1)
        standby = next(x for x in agents if x is not leader)
        print(f"election at start: {time.time() - leader.started:.2f} s from process start to one leader")

        def sample(what):
            before = {x.name: proc_times(x.proc.pid) for x in (leader, standby)}
            time.sleep(a.sample)
            for x, role in ((leader, "leader"), (standby, "standby")):
                cpu = (proc_times(x.proc.pid) - before[x.name]) / a.sample * 100
                m = proc_mem(x.proc.pid)
                print(f"{role}, {what}: CPU {cpu:.2f}% of one core over {a.sample} s; "
                      f"RSS {m['VmRSS']:.1f} MiB (peak {m['VmHWM']:.1f} MiB)")

        # Steady state: 1,000 connectors listed each poll, none held.
        time.sleep(20)
        sample(f"{a.connectors} connectors running")

        # The database goes away: every connector is held; the standby reads 1,000 records.
        t0 = time.time()
        db_down()
        wait_for(lambda: metric(leader.port, "cdc_sentinel_managed") == a.connectors, 300, "every connector held")
        wait_for(lambda: metric(standby.port, "cdc_sentinel_managed") == a.connectors, 120,
                 "the standby sees every hold record")
        print(f"database gone: {a.connectors} connectors held (records written, PAUSED) in {time.time() - t0:.1f} s")
        time.sleep(10)
        sample(f"{a.connectors} connectors held")

        # Failover after SIGKILL.
        t0 = time.time()
        leader.proc.kill()
        leader.proc.wait()
        wait_for(lambda: standby.leads() == 1, 120, "failover after SIGKILL")
        print(f"failover after SIGKILL of the leader: {time.time() - t0:.2f} s (session timeout {a.session}), "
              f"{a.connectors} hold records taken over")

        # A new standby beside the dead one's worker, then freeze the leader.
        fresh = Agent(a.agent, "agent-3", urls[agents.index(leader)], store, db_port, a.session, work)
        agents.append(fresh)
        wait_for(lambda: fresh.leads() == 0, 60, "the new agent stands by")
        time.sleep(5)
        frozen = standby
        t0 = time.time()
        os.kill(frozen.proc.pid, signal.SIGSTOP)
        wait_for(lambda: fresh.leads() == 1, 120, "failover after SIGSTOP")
        print(f"failover after SIGSTOP of the leader: {time.time() - t0:.2f} s (session timeout {a.session})")
        os.kill(frozen.proc.pid, signal.SIGCONT)
        t1 = time.time()
        wait_for(lambda: frozen.leads() == 0, 60, "the thawed agent reports leader 0")
        print(f"the thawed agent reported cdc_sentinel_leader 0 {time.time() - t1:.2f} s after SIGCONT")
    finally:
        for x in agents:
            x.stop()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    main()
