#!/usr/bin/env python3
"""A real Kafka Connect 3.9 worker with real Debezium Postgres connectors, on 127.0.0.1.

Owns the end-to-end environment: a tansu broker (in-memory storage), a private PostgreSQL cluster
(initdb in a temp dir, wal_level=logical, trust auth), a Kafka Connect worker in distributed mode,
and two Debezium Postgres connectors on the same table:

  pg-failfast   errors.max.retries=0: its task goes FAILED as soon as the database goes away
  pg-hidden     Debezium's default retries: its task stays RUNNING through an outage

Every process is started by this module and stopped by its PID. Every wait is bounded.
The parts come from install.sh (paths in $CDC_SENTINEL_E2E_CACHE/paths.env).

Module use:   env = Env(); env.up(); ...; env.down()       (or `with Env() as env:`)
CLI use:      python3 env.py up [--workdir D]   -> starts everything detached, prints env.json
              python3 env.py --workdir D {down,status,offsets,stop-pg,start-pg,insert,consume,
                                          restart-worker,log}
"""

import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CACHE = os.environ.get(
    "CDC_SENTINEL_E2E_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "cdc-sentinel-e2e")
)

TABLE = "public.events"
DBNAME = "postgres"
DBUSER = "postgres"

# name -> slot, publication, topic prefix and extra settings. Each connector has its own slot,
# publication and topic, so one's failure and recovery does not disturb the other's data.
CONNECTORS = {
    "pg-failfast": {
        "slot": "failfast_slot",
        "publication": "failfast_pub",
        "prefix": "failfast",
        "extra": {"errors.max.retries": "0"},
    },
    "pg-hidden": {
        "slot": "hidden_slot",
        "publication": "hidden_pub",
        "prefix": "hidden",
        "extra": {},
    },
}

# Created only by the scenarios that need them (scenarios.py 9 and 10), and deleted after, slot
# and all: `pg-beat` has Debezium heartbeats that move its committed LSN on a quiet database
# (heartbeat.interval.ms alone does not: on PostgreSQL 15 the LSN stood still; the action query
# writes a logical decoding message every heartbeat, which reaches every slot).
ON_DEMAND = {
    "pg-beat": {
        "slot": "beat_slot",
        "publication": "beat_pub",
        "prefix": "beat",
        "extra": {
            "errors.max.retries": "0",
            "heartbeat.interval.ms": "1000",
            "heartbeat.action.query": "SELECT pg_logical_emit_message(false, 'heartbeat', now()::varchar)",
        },
    },
}


def connector_spec(name):
    return CONNECTORS.get(name) or ON_DEMAND[name]


LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d{ISO8601}] %p %m (%c{1})%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.telemetry.name = org.apache.kafka.common.telemetry
logger.telemetry.level = WARN
"""


class EnvError(Exception):
    """The environment could not be brought up or did not behave; the message says which part."""


def log(msg):
    print(f"[env {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def exit_on_signals():
    """SIGTERM/SIGHUP raise SystemExit so `finally:` teardowns run (SIGINT already raises)."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(pred, timeout, what, interval=0.25):
    """Polls pred() until it returns something truthy (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except Exception as e:  # a poll that raised is a "not yet" with a reason
            last = f"{type(e).__name__}: {e}"
            ok = False
        else:
            ok = bool(last)
        if ok:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last seen: {last!r})")
        time.sleep(interval)


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours still answers kill(0): reap it if it is ours
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_pid(pid, what, grace=30.0):
    """SIGTERM, wait up to `grace` seconds, then SIGKILL. Only the given PID."""
    if not pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    log(f"{what} (pid {pid}) ignored SIGTERM for {grace:.0f}s; SIGKILL")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_until(lambda: not pid_alive(pid), 10, f"{what} (pid {pid}) to exit after SIGKILL")


def read_paths(cache):
    path = os.path.join(cache, "paths.env")
    if not os.path.exists(path):
        raise EnvError(f"{path} is missing: run tests/e2e/real-connect/install.sh first")
    out = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                out[k] = v
    for key, check in (
        ("CONNECT_LIBS", lambda p: os.path.exists(os.path.join(p, "connect-runtime-3.9.0.jar"))),
        ("PLUGIN_PATH", lambda p: os.path.isdir(os.path.join(p, "debezium-postgres"))),
        ("TANSU", lambda p: os.access(p, os.X_OK)),
        ("PG_BIN", lambda p: os.access(os.path.join(p, "initdb"), os.X_OK)),
    ):
        if key not in out or not check(out[key]):
            raise EnvError(f"part {key} missing or broken ({out.get(key)!r}): rerun install.sh")
    return out


class Env:
    """One environment. All state needed to find and stop its processes is in workdir/env.json."""

    def __init__(self, workdir=None, cache=DEFAULT_CACHE, keep=False):
        self.paths = read_paths(cache)
        if shutil.which("java") is None:
            raise EnvError("java is not on PATH (Kafka Connect needs Java 17)")
        self.owns_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="cdc-e2e-")
        os.makedirs(self.workdir, exist_ok=True)
        os.chmod(self.workdir, 0o755)  # postgres (when we run as root) must reach its data dir
        self.keep = keep
        self.state = {
            "workdir": self.workdir,
            "broker_port": None,
            "broker_pid": None,
            "pg_port": None,
            "connect_port": None,
            "worker_pid": None,
        }
        self.timings = {}
        self._procs = {}  # Popen objects we own (for reaping)
        self._pg_as = self._pg_user()

    # ---- persistence (CLI) ----------------------------------------------------------------------
    @classmethod
    def load(cls, workdir, cache=DEFAULT_CACHE):
        env = cls(workdir=workdir, cache=cache, keep=True)
        with open(os.path.join(workdir, "env.json")) as f:
            env.state.update(json.load(f))
        env.owns_workdir = False
        return env

    def save(self):
        tmp = os.path.join(self.workdir, "env.json.part")
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=2)
        os.replace(tmp, os.path.join(self.workdir, "env.json"))

    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc):
        self.down()

    # ---- derived values -----------------------------------------------------------------------
    @property
    def connect_url(self):
        return f"http://127.0.0.1:{self.state['connect_port']}"

    @property
    def broker_url(self):
        return f"tcp://127.0.0.1:{self.state['broker_port']}"

    @property
    def pg_port(self):
        return self.state["pg_port"]

    @property
    def pgdata(self):
        return os.path.join(self.workdir, "pg", "data")

    @property
    def worker_log(self):
        return os.path.join(self.workdir, "worker.log")

    @staticmethod
    def topic(connector):
        return f"{connector_spec(connector)['prefix']}.{TABLE}"

    # ---- whole environment ----------------------------------------------------------------------
    def up(self):
        t0 = time.monotonic()
        self.start_broker()
        self.start_postgres()
        self.start_worker()
        self.timings["worker_healthy_s"] = round(time.monotonic() - t0, 1)
        for name in CONNECTORS:
            self.create_connector(name)
        for name in CONNECTORS:
            self.wait_running(name, timeout=60)
        self.timings["startup_s"] = round(time.monotonic() - t0, 1)
        log(f"environment up in {self.timings['startup_s']}s: connect {self.connect_url}, "
            f"broker {self.broker_url}, postgres 127.0.0.1:{self.pg_port}, workdir {self.workdir}")

    def down(self):
        """Stops everything this environment started, each by its PID. Safe to call twice."""
        errors = []
        for what, fn in (("worker", self.stop_worker), ("postgres", self._teardown_pg),
                         ("broker", self.stop_broker)):
            try:
                fn()
            except Exception as e:
                errors.append(f"{what}: {e}")
        if self.owns_workdir and not self.keep and not errors:
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif errors:
            log(f"teardown problems, workdir kept at {self.workdir}: {errors}")

    # ---- broker ---------------------------------------------------------------------------------
    def start_broker(self):
        port = free_port()
        url = f"tcp://127.0.0.1:{port}"
        cmd = [self.paths["TANSU"], "broker", "--listener-url", url, "--advertised-listener-url", url,
               "--storage-engine", "memory://tansu/"]
        p = self._spawn(cmd, os.path.join(self.workdir, "broker.log"))
        self.state.update(broker_port=port, broker_pid=p.pid)
        self.save()
        wait_until(lambda: p.poll() is None and port_open(port), 20,
                   f"the tansu broker to listen on {url} (log: {self.workdir}/broker.log)")

    def stop_broker(self):
        stop_pid(self.state.get("broker_pid"), "tansu broker", grace=10)
        self.state["broker_pid"] = None
        self.save()

    # ---- postgres -------------------------------------------------------------------------------
    @staticmethod
    def _pg_user():
        """initdb/postgres refuse to run as root: run them as the 'postgres' user then."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise EnvError("running as root but there is no 'postgres' user to run the cluster as "
                           "(Debian's postgresql package creates it)")
        return "postgres"

    def _pg_cmd(self, tool, *args):
        cmd = [os.path.join(self.paths["PG_BIN"], tool), *args]
        if self._pg_as:
            cmd = ["runuser", "-u", self._pg_as, "--", *cmd]
        return cmd

    def _run(self, cmd, what, timeout=60, check=True):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EnvError(f"{what}: no answer within {timeout}s ({' '.join(cmd)})")
        if check and r.returncode != 0:
            raise EnvError(f"{what} failed (exit {r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
        return r

    def start_postgres(self):
        pgdir = os.path.join(self.workdir, "pg")
        os.makedirs(pgdir, exist_ok=True)
        if self._pg_as:
            pw = pwd.getpwnam(self._pg_as)
            os.chown(pgdir, pw.pw_uid, pw.pw_gid)
        port = free_port()
        self.state["pg_port"] = port
        self.save()
        self._run(self._pg_cmd("initdb", "-D", self.pgdata, "-U", DBUSER, "--auth=trust", "-E", "UTF8",
                               "--locale=C", "--no-sync"), "initdb of the private PostgreSQL cluster", 120)
        with open(os.path.join(self.pgdata, "postgresql.conf"), "a") as f:
            f.write(
                "\n# cdc-sentinel e2e\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {port}\n"
                f"unix_socket_directories = '{pgdir}'\n"
                "wal_level = logical\n"
                "max_wal_senders = 10\n"
                "max_replication_slots = 10\n"
                # fsync=off only matters if the machine crashes; synchronous_commit stays on, else
                # `pg_ctl stop -m immediate` loses rows whose commit was already acknowledged.
                "fsync = off\n"
                "full_page_writes = off\n"
                "shared_buffers = 32MB\n"
            )
        self.start_pg()
        self.sql(f"CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, note text NOT NULL, "
                 "created_at timestamptz NOT NULL DEFAULT now())")

    def start_pg(self, timeout=60):
        """Starts the cluster (again) on the same port and data dir; returns once it accepts SQL."""
        t0 = time.monotonic()
        self._run(self._pg_cmd("pg_ctl", "-D", self.pgdata, "-l", os.path.join(self.workdir, "pg", "pg.log"),
                               "-w", "-t", str(int(timeout)), "start"), "pg_ctl start", timeout + 10)
        wait_until(lambda: self.sql("SELECT 1", timeout=5) == "1", timeout, "PostgreSQL to accept SQL")
        return time.monotonic() - t0

    def stop_pg(self, mode="immediate", timeout=60):
        """`pg_ctl stop -m MODE` (immediate: like a crash; the walsenders die at once)."""
        self._run(self._pg_cmd("pg_ctl", "-D", self.pgdata, "-m", mode, "-w", "-t", str(int(timeout)), "stop"),
                  f"pg_ctl stop -m {mode}", timeout + 10)

    def pg_running(self):
        r = self._run(self._pg_cmd("pg_ctl", "-D", self.pgdata, "status"), "pg_ctl status", 10, check=False)
        return r.returncode == 0

    def _pg_pid(self):
        try:
            with open(os.path.join(self.pgdata, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def _teardown_pg(self):
        if not os.path.exists(self.pgdata):
            return
        pid = self._pg_pid()
        if pid and pid_alive(pid):
            try:
                self.stop_pg("immediate", timeout=20)
            except EnvError as e:
                log(f"{e}; SIGKILL postmaster pid {pid}")
                os.kill(pid, signal.SIGKILL)

    def sql(self, query, timeout=15):
        """Runs one SQL statement with psql over TCP; returns its unaligned, tuples-only output."""
        cmd = [os.path.join(self.paths["PG_BIN"], "psql"), "-h", "127.0.0.1", "-p", str(self.pg_port),
               "-U", DBUSER, "-d", DBNAME, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t", "-c", query]
        env = dict(os.environ, PGCONNECT_TIMEOUT="5")
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise EnvError(f"psql: no answer within {timeout}s for {query!r}")
        if r.returncode != 0:
            raise EnvError(f"psql failed for {query!r}: {r.stderr.strip()}")
        return r.stdout.strip()

    def insert_rows(self, notes):
        """Inserts one row per note; returns {note: id}. Notes must be unique strings."""
        if isinstance(notes, str):
            notes = [notes]
        values = ",".join("('" + n.replace("'", "''") + "')" for n in notes)
        out = self.sql(f"INSERT INTO {TABLE}(note) VALUES {values} RETURNING id, note")
        rows = {}
        for line in out.splitlines():
            i, n = line.split("|", 1)
            rows[n] = int(i)
        return rows

    def slot_info(self):
        out = self.sql("SELECT slot_name, active, confirmed_flush_lsn FROM pg_replication_slots ORDER BY 1")
        return [dict(zip(("slot", "active", "confirmed_flush_lsn"), line.split("|"))) for line in out.splitlines()]

    # ---- Kafka Connect worker -------------------------------------------------------------------
    def _write_worker_config(self):
        port = self.state["connect_port"]
        props = f"""\
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
listeners=http://127.0.0.1:{port}
rest.advertised.host.name=127.0.0.1
rest.advertised.port={port}
plugin.discovery=service_load
plugin.path={self.paths['PLUGIN_PATH']}
"""
        with open(os.path.join(self.workdir, "worker.properties"), "w") as f:
            f.write(props)
        with open(os.path.join(self.workdir, "log4j2.properties"), "w") as f:
            f.write(LOG4J2)

    def start_worker(self, timeout=120):
        """Starts the worker (same port and config when restarted); returns seconds to /health."""
        if not self.state.get("connect_port"):
            self.state["connect_port"] = free_port()
            self._write_worker_config()
        t0 = time.monotonic()
        cmd = ["java", "-Xms256m", "-Xmx1g", "-XX:+UseSerialGC",
               f"-Dlog4j2.configurationFile={os.path.join(self.workdir, 'log4j2.properties')}",
               "-cp", os.path.join(self.paths["CONNECT_LIBS"], "*"),
               "org.apache.kafka.connect.cli.ConnectDistributed", os.path.join(self.workdir, "worker.properties")]
        p = self._spawn(cmd, self.worker_log)
        self.state["worker_pid"] = p.pid
        self.save()

        def healthy():
            if p.poll() is not None:
                raise EnvError(f"the Kafka Connect worker exited with {p.returncode}\n{self.worker_log_tail(40)}")
            code, body = self.rest("GET", "/health", timeout=3)
            return code == 200 and isinstance(body, dict) and body.get("status") == "healthy"

        try:
            wait_until(healthy, timeout, f"Kafka Connect {self.connect_url}/health to say healthy", interval=0.5)
        except TimeoutError as e:
            raise EnvError(f"{e}\n--- worker log tail ---\n{self.worker_log_tail(40)}")
        dt = time.monotonic() - t0
        log(f"Kafka Connect worker pid {p.pid} healthy after {dt:.1f}s")
        return dt

    def stop_worker(self, grace=30.0):
        stop_pid(self.state.get("worker_pid"), "Kafka Connect worker", grace=grace)
        self.state["worker_pid"] = None
        self.save()

    def kill_worker(self):
        """SIGKILL: a crashed worker (its items keep their stale status)."""
        pid = self.state.get("worker_pid")
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not pid_alive(pid), 10, "the killed worker to exit")
        self.state["worker_pid"] = None
        self.save()

    def restart_worker(self, timeout=120):
        """Stops the worker by PID and starts it again with the same config. The broker keeps running
        (it holds Connect's config/offset/status topics in memory)."""
        if not pid_alive(self.state.get("broker_pid")):
            raise EnvError("the broker is not running; a worker restart would lose every connector")
        t0 = time.monotonic()
        self.stop_worker()
        self.start_worker(timeout=timeout)
        return time.monotonic() - t0

    def worker_log_tail(self, n=60):
        """The last n lines of the worker log, without the test's own status GETs."""
        try:
            with open(self.worker_log, errors="replace") as f:
                lines = [ln for ln in f if not ("Python-urllib" in ln and '"GET ' in ln)]
                return "".join(lines[-n:])
        except OSError as e:
            return f"(no worker log: {e})"

    def worker_log_size(self):
        try:
            return os.path.getsize(self.worker_log)
        except OSError:
            return 0

    def worker_log_since(self, offset):
        with open(self.worker_log, errors="replace") as f:
            f.seek(offset)
            return f.read()

    # ---- REST -----------------------------------------------------------------------------------
    def rest(self, method, path, body=None, timeout=15):
        """One REST call; returns (status, parsed JSON or text). (None, reason) when no answer."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.connect_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                code, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, raw = e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            return None, str(e)
        text = raw.decode(errors="replace")
        try:
            return code, json.loads(text) if text else None
        except ValueError:
            return code, text

    def status(self, name):
        code, body = self.rest("GET", f"/connectors/{name}/status")
        if code != 200:
            raise EnvError(f"GET /connectors/{name}/status -> {code} {body}")
        return body

    def states(self, name):
        """(connector state, [task states]) from the real worker's /status."""
        s = self.status(name)
        return s["connector"]["state"], [t["state"] for t in s.get("tasks", [])]

    def offsets(self, name):
        code, body = self.rest("GET", f"/connectors/{name}/offsets")
        if code != 200:
            raise EnvError(f"GET /connectors/{name}/offsets -> {code} {body}")
        return body

    def committed_lsn(self, name):
        """The `lsn` of the connector's committed source offset (0 when none yet)."""
        offs = self.offsets(name).get("offsets", [])
        return max((int(o.get("offset", {}).get("lsn") or 0) for o in offs), default=0)

    def connector_config(self, name):
        c = connector_spec(name)
        cfg = {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "tasks.max": "1",
            "plugin.name": "pgoutput",
            "database.hostname": "127.0.0.1",
            "database.port": str(self.pg_port),
            "database.user": DBUSER,
            "database.dbname": DBNAME,
            "topic.prefix": c["prefix"],
            "slot.name": c["slot"],
            "publication.name": c["publication"],
            "publication.autocreate.mode": "filtered",
            "table.include.list": TABLE,
            "topic.creation.default.replication.factor": "1",
            "topic.creation.default.partitions": "1",
        }
        cfg.update(c["extra"])
        return cfg

    def create_connector(self, name):
        code, body = self.rest("PUT", f"/connectors/{name}/config", self.connector_config(name), timeout=60)
        if code not in (200, 201):
            raise EnvError(f"creating connector {name}: PUT /connectors/{name}/config -> {code} {body}")

    def delete_connector(self, name, timeout=60):
        """Stops the connector, resets its offsets (Kafka Connect keeps a deleted connector's
        offsets: one created again under the name would ask its new slot for a position the slot
        never had), deletes it, then drops its replication slot once no walsender holds it (a
        deleted Debezium connector leaves its slot, which would keep WAL forever)."""
        code, body = self.rest("PUT", f"/connectors/{name}/stop", timeout=60)
        if code == 204:
            def stopped():
                c, s = self.rest("GET", f"/connectors/{name}/status", timeout=5)
                return c == 200 and s["connector"]["state"] == "STOPPED" and not s.get("tasks")
            wait_until(stopped, timeout, f"{name} to be STOPPED with no tasks")
            code, body = self.rest("DELETE", f"/connectors/{name}/offsets", timeout=60)
            if code != 200:
                raise EnvError(f"DELETE /connectors/{name}/offsets -> {code} {body}")
        elif code != 404:
            raise EnvError(f"PUT /connectors/{name}/stop -> {code} {body}")
        code, body = self.rest("DELETE", f"/connectors/{name}", timeout=60)
        if code not in (204, 404):
            raise EnvError(f"DELETE /connectors/{name} -> {code} {body}")
        slot = connector_spec(name)["slot"]

        def dropped():
            active = self.sql(f"SELECT active FROM pg_replication_slots WHERE slot_name = '{slot}'")
            if active == "":
                return True
            if active == "f":
                self.sql(f"SELECT pg_drop_replication_slot('{slot}')")
                return True
            return False

        wait_until(dropped, timeout, f"the slot {slot} of the deleted {name} to be released and dropped")

    def walsender_pid(self, name):
        """PID of the walsender serving the connector's replication slot (its active_pid), or None."""
        slot = connector_spec(name)["slot"]
        out = self.sql(f"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '{slot}' AND active")
        pid = int(out) if out.strip().isdigit() else None
        if pid is not None:
            # the same process as pg_stat_replication lists for that connection
            listed = self.sql(f"SELECT count(*) FROM pg_stat_replication WHERE pid = {pid}")
            if listed != "1":
                raise EnvError(f"slot {slot}'s active_pid {pid} is not in pg_stat_replication")
        return pid

    def wait_running(self, name, timeout=60):
        """Until the connector and all its (>=1) tasks read RUNNING; returns seconds waited."""
        t0 = time.monotonic()

        def running():
            code, s = self.rest("GET", f"/connectors/{name}/status", timeout=5)
            if code != 200:
                return False
            tasks = [t["state"] for t in s.get("tasks", [])]
            return s["connector"]["state"] == "RUNNING" and tasks and all(t == "RUNNING" for t in tasks)

        try:
            wait_until(running, timeout, f"{name} and its tasks to be RUNNING")
        except TimeoutError as e:
            raise EnvError(f"{e}\nstatus: {self.rest('GET', f'/connectors/{name}/status')}\n"
                           f"--- worker log tail ---\n{self.worker_log_tail(40)}")
        return time.monotonic() - t0

    # ---- topics ---------------------------------------------------------------------------------
    def consume(self, topic, timeout=20):
        """Every record in partition 0 of `topic` (list of {"key","value"}), read with one bounded
        `tansu cat consume`; [] for a topic that does not exist yet.

        tansu 0.6.0 prints one JSON array per fetched batch, one per line, and stops after a fetch
        that waited --max-wait-time-ms for nothing; it ignores --fetch-offset, so we read from the
        start every time."""
        cmd = [self.paths["TANSU"], "cat", "consume", "--broker", self.broker_url, "--max-wait-time-ms", "300",
               "--partition-max-bytes", str(64 << 20), "--max-bytes", str(64 << 20), topic]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EnvError(f"tansu cat consume {topic}: no answer within {timeout}s")
        if r.returncode != 0:
            raise EnvError(f"tansu cat consume {topic} failed: {r.stderr.strip()}")
        out = []
        for line in r.stdout.splitlines():
            if line.strip():
                out.extend(json.loads(line))
        return out

    def topic_notes(self, connector):
        """The `note` of every create event on the connector's topic, in topic order (duplicates kept)."""
        notes = []
        for rec in self.consume(self.topic(connector)):
            v = rec.get("value")
            if isinstance(v, dict) and v.get("op") in ("c", "r") and isinstance(v.get("after"), dict):
                notes.append(v["after"].get("note"))
        return notes

    def wait_notes(self, connector, notes, timeout=60):
        """Until every note in `notes` is on the connector's topic; returns seconds waited."""
        want = set(notes)
        t0 = time.monotonic()
        last = None
        deadline = time.monotonic() + timeout
        while True:
            have = set(self.topic_notes(connector))
            missing = want - have
            if not missing:
                return time.monotonic() - t0
            last = sorted(missing)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {len(want)} rows on "
                                   f"{self.topic(connector)}: {len(missing)} missing, e.g. {last[:5]}")
            time.sleep(1.0)

    # ---- processes ------------------------------------------------------------------------------
    def _spawn(self, cmd, logfile):
        with open(logfile, "ab") as lf:
            lf.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(cmd)}\n".encode())
            lf.flush()
            # its own session: a Ctrl-C at the test's terminal reaches only us; we stop it by PID
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                                 cwd=self.workdir, start_new_session=True)
        self._procs[p.pid] = p
        return p


# ---- CLI ----------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default=os.environ.get("CDC_SENTINEL_E2E_WORKDIR"),
                    help="the environment's directory (env.json inside); env CDC_SENTINEL_E2E_WORKDIR")
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="start everything (detached) and print env.json")
    sub.add_parser("down", help="stop everything by PID")
    p = sub.add_parser("status", help="GET /connectors/N/status")
    p.add_argument("name", nargs="?")
    p = sub.add_parser("offsets", help="GET /connectors/N/offsets")
    p.add_argument("name", nargs="?")
    p = sub.add_parser("stop-pg", help="pg_ctl stop -m MODE")
    p.add_argument("--mode", default="immediate", choices=["immediate", "fast", "smart"])
    sub.add_parser("start-pg", help="pg_ctl start")
    p = sub.add_parser("insert", help="insert rows with the given notes")
    p.add_argument("notes", nargs="+")
    p = sub.add_parser("consume", help="records on a connector's topic (or a topic name)")
    p.add_argument("what")
    sub.add_parser("restart-worker", help="stop the worker by PID and start it again")
    p = sub.add_parser("log", help="the worker log tail")
    p.add_argument("-n", type=int, default=60)
    a = ap.parse_args(argv)

    if a.cmd == "up":
        env = Env(workdir=a.workdir, cache=a.cache, keep=True)
        try:
            env.up()
        except BaseException:
            env.keep = False
            env.down()
            raise
        print(json.dumps(dict(env.state, connect_url=env.connect_url, timings=env.timings), indent=2))
        print(f"# next: export CDC_SENTINEL_E2E_WORKDIR={env.workdir}", file=sys.stderr)
        return 0
    if not a.workdir:
        ap.error("--workdir (or CDC_SENTINEL_E2E_WORKDIR) is required")
    env = Env.load(a.workdir, cache=a.cache)
    names = [a.name] if getattr(a, "name", None) else list(CONNECTORS)
    if a.cmd == "down":
        env.down()
    elif a.cmd == "status":
        print(json.dumps({n: env.rest("GET", f"/connectors/{n}/status")[1] for n in names}, indent=2))
    elif a.cmd == "offsets":
        print(json.dumps({n: env.rest("GET", f"/connectors/{n}/offsets")[1] for n in names}, indent=2))
    elif a.cmd == "stop-pg":
        env.stop_pg(a.mode)
    elif a.cmd == "start-pg":
        env.start_pg()
    elif a.cmd == "insert":
        print(json.dumps(env.insert_rows(a.notes)))
    elif a.cmd == "consume":
        topic = Env.topic(a.what) if a.what in CONNECTORS else a.what
        print(json.dumps(env.consume(topic), indent=1))
    elif a.cmd == "restart-worker":
        print(f"restarted in {env.restart_worker():.1f}s")
    elif a.cmd == "log":
        sys.stdout.write(env.worker_log_tail(a.n))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (EnvError, TimeoutError) as e:
        print(f"env.py: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
