#!/usr/bin/env python3
"""Measures the Kafka state store on a real tansu broker and prints the figures:
election time at start, failover after the leader is SIGKILLed and after it is frozen
(SIGSTOP), and the resident memory of a leader and a standby holding 1,000 records of 300
bytes. Every process it starts listens on / talks to 127.0.0.1 only and is stopped by PID.

    cargo build -p cdc-sentinel-kafka --release --example agent_sim
    python3 kafka/measure.py [--session-ms 10000] [--records 1000] [--bytes 300]

Needs the tansu binary (bash scripts/tansu.sh, or CDC_SENTINEL_TANSU).
"""
import argparse, json, os, queue, signal, socket, subprocess, sys, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tansu_path():
    p = os.environ.get("CDC_SENTINEL_TANSU") or os.path.join(
        os.environ.get("CDC_SENTINEL_E2E_CACHE", os.path.expanduser("~/.cache/cdc-sentinel-e2e")), "bin", "tansu")
    if not os.path.isfile(p):
        sys.exit(f"tansu not found at {p}: run bash scripts/tansu.sh (or set CDC_SENTINEL_TANSU)")
    return p


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sim:
    def __init__(self, binary, url, session_ms):
        self.t0 = time.monotonic()
        self.p = subprocess.Popen([binary, url, str(session_ms)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.q = queue.Queue()
        self.state = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            i = line.find("SIM {")
            if i >= 0:
                ev = json.loads(line[i + 4:])
                if ev["event"] == "leadership":
                    self.state = ev["state"]
                self.q.put(ev)

    def send(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()

    def expect(self, event, limit=60):
        end = time.monotonic() + limit
        while True:
            ev = self.q.get(timeout=max(0.01, end - time.monotonic()))
            if ev["event"] == event:
                return ev

    def rss(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            st = dict(l.split(":", 1) for l in f if ":" in l)
        return int(st["VmRSS"].split()[0]), int(st["VmHWM"].split()[0])

    def stop(self):
        try:
            os.kill(self.p.pid, signal.SIGCONT)
            self.p.kill()
        except ProcessLookupError:
            pass
        self.p.wait()


def wait_leader(sims, limit=90):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        leaders = [s for s in sims if s.state == "leader"]
        if leaders:
            return leaders[0], time.monotonic() - t0
        time.sleep(0.01)
    sys.exit("no leader within %d s" % limit)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--session-ms", type=int, default=10000)
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--bytes", type=int, default=300)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/examples/agent_sim"))
    a = ap.parse_args()
    if not os.path.isfile(a.binary):
        sys.exit(f"{a.binary} missing: cargo build -p cdc-sentinel-kafka --release --example agent_sim")
    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    log = open(os.devnull, "w")
    broker = subprocess.Popen([tansu_path(), "broker", "--listener-url", addr, "--advertised-listener-url", addr,
                               "--storage-engine", "memory://tansu/"], stdout=log, stderr=log)
    sims = []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        url = f"kafka://127.0.0.1:{port}/cdc-sentinel-measure"
        print(f"tansu on 127.0.0.1:{port}; session timeout {a.session_ms} ms; agent_sim {a.binary}")

        first = Sim(a.binary, url, a.session_ms)
        sims.append(first)
        first.expect("open")
        leader, took = wait_leader(sims)
        print(f"election at start: {time.monotonic() - first.t0:.2f} s from process start to Leader")
        for _ in range(2):
            s = Sim(a.binary, url, a.session_ms)
            sims.append(s)
            s.expect("open")
        time.sleep(2)

        leader.send(f"fill {a.records} {a.bytes}")
        ev = leader.expect("fill", 120)
        assert ev["ok"], ev
        print(f"leader wrote {a.records} records of {a.bytes} bytes in {ev['ms']} ms (100 per transaction)")
        for s in sims:
            s.send("load")
            ev = s.expect("load", 60)
            assert ev["ok"] and ev["keys"] == a.records, ev
        time.sleep(3)  # a few leases, steady state
        standby = next(s for s in sims if s is not leader)
        (lr, lh), (sr, sh) = leader.rss(), standby.rss()
        print(f"RSS holding {a.records} records: leader {lr / 1024:.1f} MiB (peak {lh / 1024:.1f}), "
              f"standby {sr / 1024:.1f} MiB (peak {sh / 1024:.1f})")

        # SIGKILL the leader.
        os.kill(leader.p.pid, signal.SIGKILL)
        t0 = time.monotonic()
        rest = [s for s in sims if s is not leader]
        new, took = wait_leader(rest)
        print(f"failover after SIGKILL of the leader: {took:.2f} s (session timeout {a.session_ms / 1000:.0f} s)")
        new.send("load")
        ev = new.expect("load", 60)
        assert ev["ok"] and ev["keys"] == a.records, ev

        # Freeze the new leader.
        os.kill(new.p.pid, signal.SIGSTOP)
        others = [s for s in rest if s is not new]
        third, took = wait_leader(others)
        print(f"failover after SIGSTOP of the leader: {took:.2f} s")
        os.kill(new.p.pid, signal.SIGCONT)
        new.send("may_act")
        ev = new.expect("may_act", 30)
        print(f"the frozen leader after SIGCONT: may_act ok={ev['ok']} ({ev.get('error', '')})")
        new.send("write zombie x")
        ev = new.expect("write", 60)
        print(f"the frozen leader's next write: ok={ev['ok']} ({ev.get('kind', '')})")
        for s in sims:
            if s.p.poll() is None:
                s.send("close")
    finally:
        for s in sims:
            s.stop()
        broker.kill()
        broker.wait()


if __name__ == "__main__":
    main()
