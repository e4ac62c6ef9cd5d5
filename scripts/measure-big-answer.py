#!/usr/bin/env python3
"""Peak and resident memory of the agent when Kafka Connect answers far more than expected.

Serves GET /connectors?expand=... from a tiny local HTTP server with an answer of SIZE MB (valid
JSON: one connector whose FAILED trace holds the bulk), either chunked (no Content-Length, so
only an incremental cap can stop it) or with a Content-Length, runs the agent against it for a
few polls, and prints the agent's VmHWM (peak RSS) and VmRSS from /proc and its poll-failed
line. Everything binds to 127.0.0.1; the agent is stopped by its PID.

  scripts/measure-big-answer.py target/release/cdc-sentinel [--size-mb 200] [--mode chunked|length] [AGENT FLAGS]
"""
import argparse
import http.server
import os
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

CHUNK = 1 << 20


def body_parts(size):
    head = b'{"big":{"status":{"name":"big","connector":{"state":"RUNNING","worker_id":"w"},"tasks":[{"id":0,"state":"FAILED","worker_id":"w","trace":"'
    tail = b'"}],"type":"source"},"info":{"name":"big","config":{},"tasks":[],"type":"source"}}}'
    filler = size - len(head) - len(tail)
    yield head
    block = b"x" * CHUNK
    while filler > 0:
        n = min(filler, CHUNK)
        yield block[:n]
        filler -= n
    yield tail


def make_handler(size, mode):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            if not self.path.startswith("/connectors"):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            try:
                if mode == "length":
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    for p in body_parts(size):
                        self.wfile.write(p)
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for p in body_parts(size):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the agent stopped reading: what a cap does

    return H


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def proc_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("agent")
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--mode", choices=["chunked", "length"], default="chunked")
    ap.add_argument("--seconds", type=float, default=8.0)
    a, extra = ap.parse_known_args()  # anything else: extra agent flags
    extra = [x for x in extra if x != "--"]
    size = a.size_mb * 1000 * 1000
    srv = Server(("127.0.0.1", 0), make_handler(size, a.mode))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    with tempfile.TemporaryDirectory() as d:
        log = open(os.path.join(d, "agent.log"), "w+")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDC_SENTINEL_")}
        agent = subprocess.Popen(
            [a.agent, "run", "--connect-url", url, "--poll-interval", "1s",
             "--connect-timeout", "30s", "--web.listen-address", "127.0.0.1:0",
             "--state-file", os.path.join(d, "state.json"), "--db", "tcp://127.0.0.1:1", *extra],
            stdout=subprocess.DEVNULL, stderr=log, env=env)
        peak = rss = -1
        try:
            t0 = time.time()
            while time.time() - t0 < a.seconds and agent.poll() is None:
                peak = max(peak, proc_kib(agent.pid, "VmHWM"))
                rss = proc_kib(agent.pid, "VmRSS")
                time.sleep(0.1)
        finally:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(timeout=15)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
            srv.shutdown()
        log.seek(0)
        lines = [l.strip() for l in log if "poll failed" in l or "answer" in l]
    print(f"{os.path.basename(a.agent)}: {a.size_mb} MB answer ({a.mode}), {a.seconds:.0f}s of 1s polls: "
          f"peak RSS (VmHWM) {peak / 1024:.1f} MiB, RSS at the end {rss / 1024:.1f} MiB")
    for l in lines[:2]:
        print("  log:", l[:300])


if __name__ == "__main__":
    sys.exit(main())
