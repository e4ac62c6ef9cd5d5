"""promtool unit tests of every alert, computed from the knobs: the stories are fixed, their
timings follow each alert's `for:` (and windows, counts), so every test sits just before and
just after the threshold it guards, whatever the knobs say. Most stories run two agents of one
Kafka Connect cluster (sentinel-1 leads, sentinel-2 stands by), as several agents per cluster
do, and check that no alert double counts or listens to a standby.

Series are Python lists, one value per minute from t=0 (None = no sample, STALE = a staleness
marker), rendered to promtool's notation. Expected texts are written here independently of the
templates in rules.py, and computed values (durations, counts) with the same arithmetic
Prometheus uses (humanize_duration)."""

import urllib.parse
import math
import re

import yaml

from .knobs import duration, minutes_ceil
from .model import ModelError
from .rules import ACTING, BLIND

STALE = "stale"
I1, I2, I3 = "sentinel-1:10150", "sentinel-2:10150", "sentinel-3:10150"


def humanize_duration(v):
    """Prometheus' humanizeDuration template function."""
    if v == 0:
        return "0s"
    sign = "-" if v < 0 else ""
    v = abs(v)
    if v >= 1:
        d = int(v)
        s, m, h, days = d % 60, (d // 60) % 60, (d // 3600) % 24, d // 86400
        if days:
            return f"{sign}{days}d {h}h {m}m {s}s"
        if h:
            return f"{sign}{h}h {m}m {s}s"
        if m:
            return f"{sign}{m}m {s}s"
        return f"{sign}{v:.4g}s"
    raise ValueError("sub-second durations are not used here")


def num(v):
    return str(int(v)) if float(v).is_integer() else repr(v)


def render_values(vals):
    """Python list -> promtool's expanding notation (runs as `vxN`, ramps as `a+bxN`)."""
    out, i = [], 0
    while i < len(vals):
        v = vals[i]
        j = i
        while j + 1 < len(vals) and vals[j + 1] == v and v != STALE:
            j += 1
        if j > i:
            # promtool: `_xN` is N missing samples, `vxN` is N+1 samples of v
            out.append(f"_x{j - i + 1}" if v is None else f"{num(v)}x{j - i}")
            i = j + 1
            continue
        if v is None:
            out.append("_")
        elif v == STALE:
            out.append("stale")
        else:
            # an arithmetic ramp of at least three samples
            k = i
            if i + 2 < len(vals) and all(isinstance(x, (int, float)) and x != STALE and x is not None
                                         for x in vals[i:i + 3]):
                d = vals[i + 1] - v
                if d != 0 and vals[i + 2] - vals[i + 1] == d:
                    k = i + 2
                    while (k + 1 < len(vals) and isinstance(vals[k + 1], (int, float))
                           and vals[k + 1] is not None and vals[k + 1] - vals[k] == d):
                        k += 1
            if k > i:
                sign = "+" if d > 0 else "-"
                out.append(f"{num(v)}{sign}{num(abs(d))}x{k - i}")
                i = k + 1
                continue
            out.append(num(v))
        i += 1
    return " ".join(out)


def seg(*parts):
    """seg((value, count), ...) -> list; value None = no sample, STALE = one staleness marker."""
    out = []
    for v, n in parts:
        out += [v] * n
    return out


def ramp(start, step, n):
    return [start + i * step for i in range(n)]


class LiteralStr(str):
    pass


def _literal(dumper, data):
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")


yaml.SafeDumper.add_representer(LiteralStr, _literal)


class Tests:
    def __init__(self, rules):
        self.r = rules
        self.c = rules.c
        self.k = rules.k
        self.base = dict(self.k["_"]["test_labels"])
        self.cluster = {l: self.base[l] for l in self.c.cl}
        self.alerts = {a["alert"]: a for a in rules.alerts}
        self.files = {}

    # ---- building blocks ---------------------------------------------------------------------
    def fm(self, alert):
        return minutes_ceil(self.r.secs(alert))

    def series(self, metric, values, inst=I1, **labels):
        if metric != "up":
            self.c.s(metric, _sel=False, **labels)  # names, labels, values checked against the table
        lab = dict(self.base)
        if inst is not None:
            lab["instance"] = inst
        lab.update(labels)
        body = ", ".join(f'{k}="{v}"' for k, v in lab.items())
        return {"series": f"{metric}{{{body}}}", "values": render_values(values)}

    def agents(self, n, leader=(I1,), standby=(I2,), up=None, connect_up=None):
        """up, connect_up, build_info and cdc_sentinel_leader of healthy agents for n minutes."""
        out = []
        for inst in list(leader) + list(standby):
            out.append(self.series("up", up or [1] * n, inst))
            out.append(self.series("cdc_sentinel_connect_up", connect_up or [1] * n, inst))
            out.append(self.series("cdc_sentinel_build_info", [1] * n, inst, version="0.2.0", revision="abc1234"))
            out.append(self.series("cdc_sentinel_leader", [1 if inst in leader else 0] * n, inst))
        return out

    def exp(self, alert, labels, summary, description):
        a = self.alerts[alert]
        lab = {"severity": a["severity"]}
        lab.update(labels)
        return {"exp_labels": lab,
                "exp_annotations": {"summary": summary, "description": LiteralStr(description),
                                    "runbook_url": a["runbook_url"]}}

    def check(self, alert, t, *expected):
        return {"eval_time": f"{t}m", "alertname": alert, "exp_alerts": list(expected)}

    def group(self, series, checks, exprs=None):
        g = {"interval": "1m", "input_series": series, "alert_rule_test": checks}
        if exprs:
            g["promql_expr_test"] = exprs
        return g

    def write(self, alert, fname, story, groups):
        if alert not in self.alerts:
            return
        doc = {"rule_files": ["../cdc-sentinel.rules.yml"], "evaluation_interval": "1m", "tests": groups}
        head = "".join(f"# {line}\n" for line in story.strip().split("\n"))
        head = ("# GENERATED by monitoring/generate.py from monitoring/config.yaml: do not edit.\n" + head)
        text = yaml.dump(doc, Dumper=yaml.SafeDumper, sort_keys=False, width=1000, allow_unicode=True)
        self.files[f"alerts/tests/{fname}.test.yml"] = head + text

    def cl(self, **extra):
        d = dict(self.cluster)
        d.update(extra)
        return d

    # ---- the stories --------------------------------------------------------------------------
    def build(self):
        for f in (self.timed_out, self.needs_attention, self.failed_unmanaged, self.recovering,
                  self.probe_failing, self.probe_blind, self.stalled, self.flapping,
                  self.connect_unreachable, self.kubernetes, self.state_store, self.no_leader,
                  self.split_brain, self.sentinel_down):
            f()
        return self.files

    # CDCRecoveryTimedOut ---------------------------------------------------------------------
    def timed_out(self):
        A = "CDCRecoveryTimedOut"
        if A not in self.alerts:
            return
        fm, B = self.fm(A), self.r.secs(A, "bridge") // 60
        # A name hostile to a shell: the remedy must paste as exactly the intended URL.
        C, T = "inventory v2/eu'; $(touch pwned)`id`", "db1.example:1521/ORCLPDB1"
        CU = urllib.parse.quote(C, safe="")
        labels = self.cl(connector=C, target=T)
        summary = f"Connector {C} is still held after its maximum wait: a human must resume it"

        def desc(waited, maxw="30m 0s", probe="service_unknown", because="probe_failed"):
            return (f"cdc-sentinel has held (paused or stopped) connector {C} for {waited}, past its maximum wait of {maxw}, and has given up: it will not resume it by itself. The connector captures no changes until a human acts.\n"
                    f"Database: {T}. Last probe answer: {probe}. Held because: {because}.\n"
                    "Do this:\n"
                    f"1. Make sure the database {T} is open and accepts connections (ask the DBA: a backup or restart may have overrun). Do not go on while it is down: the connector would fail again.\n"
                    f"2. Resume the connector: curl -X PUT \"$CONNECT_URL/connectors/{CU}/resume\"\n"
                    f"3. Restart its failed tasks: curl -X POST \"$CONNECT_URL/connectors/{CU}/restart?includeTasks=true&onlyFailed=true\"\n"
                    f"4. Check that the connector and every task are RUNNING: curl -s \"$CONNECT_URL/connectors/{CU}/status\"\n"
                    "cdc-sentinel sees the human resume, hands the connector back and this alert resolves.")
        unknown = desc("an unknown time", "(unknown)", "unknown", "unknown")

        def held(t):
            return humanize_duration(t * 60 - 60)

        S = self.series
        groups = []
        # 1. Two agents. Timed out from T0; a human resumes it at R. The standby exports a copy of
        # the state that lags two minutes behind: the alert follows the leader only.
        T0 = 31
        fire = T0 + fm
        R = fire + 28
        N = R + 20
        ser = self.agents(N)
        ser += [
            S("cdc_sentinel_connector_target_info", [1] * N, I1, connector=C, target=T),
            S("cdc_sentinel_recovery_phase", seg((0, T0), (1, R - T0), (0, N - R)), I1, connector=C, phase="timed_out"),
            S("cdc_sentinel_recovery_started_timestamp_seconds", seg((None, 1), (60, R - 1), (STALE, 1)), I1, connector=C),
            S("cdc_sentinel_recovery_max_wait_seconds", [1800] * N, I1, connector=C),
            S("cdc_sentinel_recovery_info", seg((None, 1), (1, R - 1), (STALE, 1)), I1, connector=C, target=T, reason="probe_failed"),
            S("cdc_sentinel_probe_last_reason", seg((0, 1), (1, R - 1), (0, N - R)), I1, target=T, reason="service_unknown"),
            S("cdc_sentinel_probe_last_reason", seg((1, 1), (0, R - 1), (1, N - R)), I1, target=T, reason="ok"),
            S("cdc_sentinel_connector_target_info", [1] * N, I2, connector=C, target=T),
            S("cdc_sentinel_recovery_phase", seg((0, T0 + 2), (1, R - T0 + 1), (0, N - R - 3)), I2, connector=C, phase="timed_out"),
            S("cdc_sentinel_recovery_started_timestamp_seconds", seg((None, 1), (30, R + 2), (STALE, 1)), I2, connector=C),
            S("cdc_sentinel_recovery_max_wait_seconds", [600] * N, I2, connector=C),
        ]
        checks = [self.check(A, T0 - 1)]
        if fire - 1 > T0 - 1:
            checks.append(self.check(A, fire - 1))
        checks += [
            self.check(A, fire, self.exp(A, labels, summary, desc(held(fire)))),
            self.check(A, R - 1, self.exp(A, labels, summary, desc(held(R - 1)))),
            # The leader handed it back at R; the standby's copy still says timed_out.
            self.check(A, R),
        ]
        groups.append(self.group(ser, checks))

        # 2. The only agent restarts while the connector is timed out: scrape fails D..D+2, at
        # D+3 it answers but has not polled Kafka Connect yet, at D+4 it reports again. One page.
        D = fire + 7
        N = D + 25
        gone = lambda before, after, gap=3: seg((before, D), (STALE, 1), (None, gap - 1)) + [after] * (N - D - gap)  # noqa: E731
        ser = [
            S("up", seg((1, D), (0, 3), (1, N - D - 3)), I1),
            S("cdc_sentinel_connect_up", seg((1, D), (STALE, 1), (None, 2), (0, 1), (1, N - D - 4)), I1),
            S("cdc_sentinel_leader", gone(1, 1), I1),
            S("cdc_sentinel_connector_target_info", gone(1, 1, 4), I1, connector=C, target=T),
            S("cdc_sentinel_recovery_phase", seg((0, T0), (1, D - T0), (STALE, 1), (None, 3), (1, N - D - 4)), I1, connector=C, phase="timed_out"),
            S("cdc_sentinel_recovery_started_timestamp_seconds", [None] + gone(60, 60, 4)[1:], I1, connector=C),
            S("cdc_sentinel_recovery_max_wait_seconds", gone(1800, 1800, 4), I1, connector=C),
            S("cdc_sentinel_recovery_info", [None] + gone(1, 1, 4)[1:], I1, connector=C, target=T, reason="probe_failed"),
            S("cdc_sentinel_probe_last_reason", [0] + gone(1, 1)[1:], I1, target=T, reason="service_unknown"),
        ]
        checks = [
            self.check(A, D - 1, self.exp(A, labels, summary, desc(held(D - 1)))),
            self.check(A, D + 1, self.exp(A, labels, summary, unknown)),
            self.check(A, D + 3, self.exp(A, labels, summary, desc("an unknown time", "(unknown)", "service_unknown", "unknown"))),
            # Had it resolved in between, it would only be pending here and this check would fail.
            self.check(A, D + 4, self.exp(A, labels, summary, desc(held(D + 4)))),
        ]
        blind = lambda t, n: {"eval_time": f"{t}m", "expr": BLIND, "exp_samples": (  # noqa: E731
            [{"labels": BLIND + "{" + ", ".join(f'{k}="{v}"' for k, v in self.cluster.items()) + "}", "value": n}] if n else [])}
        groups.append(self.group(ser, checks, [blind(D - 1, 0), blind(D + 1, 1), blind(D + 3, 1)]))

        # 3. Leader failover: sentinel-1 (leader) dies at D; sentinel-2 takes over at D+2 with the
        # state from the shared store. The alert keeps firing through the gap.
        ser = [
            S("up", seg((1, D), (0, N - D)), I1),
            S("cdc_sentinel_connect_up", seg((1, D), (STALE, 1)), I1),
            S("cdc_sentinel_leader", seg((1, D), (STALE, 1)), I1),
            S("cdc_sentinel_connector_target_info", seg((1, D), (STALE, 1)), I1, connector=C, target=T),
            S("cdc_sentinel_recovery_phase", seg((0, T0), (1, D - T0), (STALE, 1)), I1, connector=C, phase="timed_out"),
            S("cdc_sentinel_recovery_started_timestamp_seconds", seg((None, 1), (60, D - 1), (STALE, 1)), I1, connector=C),
            S("cdc_sentinel_recovery_max_wait_seconds", seg((1800, D), (STALE, 1)), I1, connector=C),
            S("cdc_sentinel_recovery_info", seg((None, 1), (1, D - 1), (STALE, 1)), I1, connector=C, target=T, reason="probe_failed"),
            S("up", [1] * N, I2),
            S("cdc_sentinel_connect_up", [1] * N, I2),
            S("cdc_sentinel_leader", seg((0, D + 2), (1, N - D - 2)), I2),
            S("cdc_sentinel_connector_target_info", [1] * N, I2, connector=C, target=T),
            S("cdc_sentinel_recovery_phase", seg((0, D + 2), (1, N - D - 2)), I2, connector=C, phase="timed_out"),
            S("cdc_sentinel_recovery_started_timestamp_seconds", seg((None, D + 2), (60, N - D - 2)), I2, connector=C),
            S("cdc_sentinel_recovery_max_wait_seconds", [1800] * N, I2, connector=C),
            S("cdc_sentinel_recovery_info", seg((None, D + 2), (1, N - D - 2)), I2, connector=C, target=T, reason="probe_failed"),
            S("cdc_sentinel_probe_last_reason", seg((0, D + 2), (1, N - D - 2)), I2, target=T, reason="refused"),
        ]
        checks = [
            self.check(A, D + 1, self.exp(A, labels, summary, unknown)),
            self.check(A, D + 2, self.exp(A, labels, summary, desc(held(D + 2), probe="refused"))),
        ]
        groups.append(self.group(ser, checks))

        # 4. The connector is deleted while timed out, the agent reporting normally: resolved at
        # the first evaluation without it.
        Del = fire + 7
        N = Del + 20
        ser = self.agents(N, standby=()) + [
            S("cdc_sentinel_connector_target_info", seg((1, Del), (STALE, 1)), I1, connector=C, target=T),
            S("cdc_sentinel_recovery_phase", seg((0, T0), (1, Del - T0), (STALE, 1)), I1, connector=C, phase="timed_out"),
        ]
        groups.append(self.group(ser, [self.check(A, Del - 1, self.exp(A, labels, summary, unknown)),
                                       self.check(A, Del)]))

        # 5. The bridge is bounded: an agent away for longer than the bridge no longer keeps the
        # alert (CDCSentinelDown has been firing meanwhile).
        Dn = fire + 7
        L = Dn - 1
        N = L + B + 4
        ser = [
            S("up", seg((1, Dn), (0, N - Dn)), I1),
            S("cdc_sentinel_connect_up", seg((1, Dn), (STALE, 1)), I1),
            S("cdc_sentinel_leader", seg((1, Dn), (STALE, 1)), I1),
            S("cdc_sentinel_connector_target_info", seg((1, Dn), (STALE, 1)), I1, connector=C, target=T),
            S("cdc_sentinel_recovery_phase", seg((0, T0), (1, Dn - T0), (STALE, 1)), I1, connector=C, phase="timed_out"),
        ]
        groups.append(self.group(ser, [self.check(A, L + B - 1, self.exp(A, labels, summary, unknown)),
                                       self.check(A, L + B + 1)]))
        self.write(A, "recovery_timed_out", f"""
{A}: fires {duration(self.r.secs(A))} after phase timed_out (not before) on the agent that leads, names
the connector, target, waited time, maximum wait, last probe answer and the reason; stays one
alert through an agent restart and a leader failover (bridge {duration(B * 60)}); resolves on the first
evaluation after a human resume (even while a standby's copy still says timed_out) or a deletion.""", groups)

    # CDCNeedsAttention -------------------------------------------------------------------------
    def needs_attention(self):
        A = "CDCNeedsAttention"
        if A not in self.alerts:
            return
        fm, S = self.fm(A), self.series

        def summary(c, reason):
            return f"Connector {c} failed in a way waiting cannot fix ({reason or 'reason unknown'}): a human must act"

        def desc(c, target, reason, advice):
            return (f"Connector {c} (database {target or 'unknown'}) is FAILED and cdc-sentinel classified the failure as {reason or 'unknown'}: it will not resume or restart it.\n"
                    f"{advice}\n"
                    f"Read the trace: curl -s \"$CONNECT_URL/connectors/{c}/status\". Pausing and resuming does not clear FAILED.")
        offset = ("The position the connector must continue from is no longer in the database's redo/archive logs (or WAL). Restarting cannot fix this: a new snapshot is needed. "
                  "Agree it with the owners of the downstream topics, then follow the runbook's re-snapshot steps.")

        def other(c):
            return f"The failure does not look like a database outage. Fix its cause, then restart the failed tasks: curl -X POST \"$CONNECT_URL/connectors/{c}/restart?includeTasks=true&onlyFailed=true\""

        groups = []
        # 1. orders-cdc lost its position in the WAL: needs_attention on the leader from St to E.
        St = 5
        fire = St + fm
        E = fire + 14
        N = E + 10
        C, T = "orders-cdc", "pg1.example:5432"
        ser = self.agents(N) + [
            S("cdc_sentinel_recovery_phase", seg((0, St), (1, E - St), (0, N - E)), I1, connector=C, phase="needs_attention"),
            S("cdc_sentinel_recovery_info", seg((None, St), (1, E - St), (STALE, 1)), I1, connector=C, target=T, reason="offset_unavailable"),
            S("cdc_sentinel_recovery_phase", [0] * N, I2, connector=C, phase="needs_attention"),
        ]
        e = self.exp(A, self.cl(connector=C, target=T, reason="offset_unavailable"),
                     summary(C, "offset_unavailable"), desc(C, T, "offset_unavailable", offset))
        groups.append(self.group(ser, [self.check(A, fire - 1), self.check(A, fire, e),
                                       self.check(A, E - 1, e), self.check(A, E)]))
        # 2. An unclassified failure; one whose recovery_info is missing (fallback branch); a
        # stall (CDCConnectorStalled's, not this alert's); and a connector only the standby
        # believes in needs_attention. All from St=2.
        St = 2
        fire = St + fm
        N = fire + 8
        na = seg((0, St), (1, N - St))
        ser = self.agents(N) + [
            S("cdc_sentinel_recovery_phase", na, I1, connector="erp-cdc", phase="needs_attention"),
            S("cdc_sentinel_recovery_info", seg((None, St), (1, N - St)), I1, connector="erp-cdc", target="ora2.example:1521/ERP", reason="unclassified_failure"),
            S("cdc_sentinel_recovery_phase", na, I1, connector="legacy-cdc", phase="needs_attention"),
            S("cdc_sentinel_recovery_phase", na, I1, connector="stuck-cdc", phase="needs_attention"),
            S("cdc_sentinel_recovery_info", seg((None, St), (1, N - St)), I1, connector="stuck-cdc", target="ora3.example:1521/DWH", reason="stalled"),
            S("cdc_sentinel_recovery_phase", [0] * N, I1, connector="ghost-cdc", phase="needs_attention"),
            S("cdc_sentinel_recovery_phase", na, I2, connector="ghost-cdc", phase="needs_attention"),
            S("cdc_sentinel_recovery_info", seg((None, St), (1, N - St)), I2, connector="ghost-cdc", target="pg9.example:5432", reason="authentication_failed"),
            S("cdc_sentinel_recovery_phase", [0] * N, I1, connector="fine-cdc", phase="needs_attention"),
        ]
        groups.append(self.group(ser, [
            self.check(A, fire - 1),
            self.check(A, fire,
                       self.exp(A, self.cl(connector="erp-cdc", target="ora2.example:1521/ERP", reason="unclassified_failure"),
                                summary("erp-cdc", "unclassified_failure"),
                                desc("erp-cdc", "ora2.example:1521/ERP", "unclassified_failure", other("erp-cdc"))),
                       self.exp(A, self.cl(connector="legacy-cdc"), summary("legacy-cdc", None),
                                desc("legacy-cdc", None, None, other("legacy-cdc")))),
        ]))
        self.write(A, "needs_attention", f"""
{A}: fires {duration(self.r.secs(A))} after phase needs_attention on the agent that leads, with the
reason from cdc_sentinel_recovery_info as a label and the matching advice; still fires (without
target and reason) if the info series is missing; not for stalls (CDCConnectorStalled) nor for a
standby's belief; resolves when the phase leaves needs_attention.""", groups)

    # CDCConnectorFailedUnmanaged ---------------------------------------------------------------
    def failed_unmanaged(self):
        A = "CDCConnectorFailedUnmanaged"
        if A not in self.alerts:
            return
        fm, S = self.fm(A), self.series
        summary = lambda c: f"Connector {c} is FAILED and cdc-sentinel is not recovering it"  # noqa: E731

        def desc(c, state, failed, total, why):
            return (f"Connector {c} is {state} with {failed} of {total} tasks FAILED, and cdc-sentinel is not recovering it: {why} A FAILED task never recovers by itself.\n"
                    f"1. Read the trace: curl -s \"$CONNECT_URL/connectors/{c}/status\"\n"
                    "2. If the trace shows the database is unavailable, wait until the database is back.\n"
                    f"3. Restart the failed parts: curl -X POST \"$CONNECT_URL/connectors/{c}/restart?includeTasks=true&onlyFailed=true\" (pause and resume do not clear FAILED).")
        unknown = "it does not know the connector's database (no --db, nothing usable in its config, nothing in the config file), so it never acts on it."
        human = "a human paused it (the agent never undoes that), or it failed outside a recovery."
        groups = []
        # 1. Both agents read the same Connect cluster. billing-cdc (no target known): task 1 of 2
        # FAILED from St until a human restarts it at H. hr-cdc: the connector FAILED. crm-cdc:
        # FAILED but the leader recovers it. erp-cdc: FAILED in needs_attention.
        St = 2
        fire = St + fm
        H = fire + 13
        N = H + 10
        ser = self.agents(N)
        for inst in (I1, I2):
            ser += [
                S("cdc_sentinel_connector_state", [1] * N, inst, connector="billing-cdc", state="RUNNING"),
                S("cdc_sentinel_connector_state", [0] * N, inst, connector="billing-cdc", state="FAILED"),
                S("cdc_sentinel_connector_tasks", seg((2, St), (1, H - St), (2, N - H)), inst, connector="billing-cdc", state="RUNNING"),
                S("cdc_sentinel_connector_tasks", seg((0, St), (1, H - St), (0, N - H)), inst, connector="billing-cdc", state="FAILED"),
                S("cdc_sentinel_connector_target_unknown", [1] * N, inst, connector="billing-cdc"),
                S("cdc_sentinel_recovery_active", [0] * N, inst, connector="billing-cdc"),
                S("cdc_sentinel_connector_state", seg((1, St), (0, N - St)), inst, connector="hr-cdc", state="RUNNING"),
                S("cdc_sentinel_connector_state", seg((0, St), (1, N - St)), inst, connector="hr-cdc", state="FAILED"),
                S("cdc_sentinel_connector_tasks", seg((0, St), (1, N - St)), inst, connector="hr-cdc", state="FAILED"),
                S("cdc_sentinel_connector_tasks", seg((1, St), (0, N - St)), inst, connector="hr-cdc", state="RUNNING"),
                S("cdc_sentinel_connector_target_unknown", [0] * N, inst, connector="hr-cdc"),
                S("cdc_sentinel_connector_tasks", seg((0, St), (1, N - St)), inst, connector="crm-cdc", state="FAILED"),
                S("cdc_sentinel_connector_tasks", seg((0, St), (1, N - St)), inst, connector="erp-cdc", state="FAILED"),
                S("cdc_sentinel_dry_run", [0] * N, inst),
            ]
        ser += [
            S("cdc_sentinel_recovery_active", seg((0, St), (1, N - St)), I1, connector="crm-cdc"),
            S("cdc_sentinel_recovery_active", [0] * N, I2, connector="crm-cdc"),
            S("cdc_sentinel_recovery_phase", seg((0, St), (1, N - St)), I1, connector="erp-cdc", phase="needs_attention"),
        ]
        e_hr = self.exp(A, self.cl(connector="hr-cdc"), summary("hr-cdc"), desc("hr-cdc", "FAILED", 1, 1, human))
        groups.append(self.group(ser, [
            self.check(A, fire - 1),
            self.check(A, fire, self.exp(A, self.cl(connector="billing-cdc"), summary("billing-cdc"),
                                         desc("billing-cdc", "RUNNING", 1, 2, unknown)), e_hr),
            self.check(A, H, e_hr),
        ]))
        # 2. An agent started with --dry-run says so.
        N = fm + 6
        ser = self.agents(N, standby=()) + [
            S("cdc_sentinel_connector_tasks", [1] * N, I1, connector="dry-cdc", state="FAILED"),
            S("cdc_sentinel_connector_state", [1] * N, I1, connector="dry-cdc", state="RUNNING"),
            S("cdc_sentinel_recovery_active", [0] * N, I1, connector="dry-cdc"),
            S("cdc_sentinel_connector_target_unknown", [0] * N, I1, connector="dry-cdc"),
            S("cdc_sentinel_dry_run", [1] * N, I1),
        ]
        checks = [self.check(A, fm - 1)] if fm else []
        checks.append(self.check(A, fm, self.exp(A, self.cl(connector="dry-cdc"), summary("dry-cdc"),
                                                 desc("dry-cdc", "RUNNING", 1, 1, "the agent runs with --dry-run and sends no actions."))))
        groups.append(self.group(ser, checks))
        # 3. No agent leads: a recovery one of them still reports does not count.
        ser = self.agents(N, leader=(), standby=(I1, I2)) + [
            S("cdc_sentinel_connector_tasks", [1] * N, I1, connector="orphan-cdc", state="FAILED"),
            S("cdc_sentinel_connector_state", [1] * N, I1, connector="orphan-cdc", state="RUNNING"),
            S("cdc_sentinel_recovery_active", [1] * N, I1, connector="orphan-cdc"),
        ]
        checks = [self.check(A, fm - 1)] if fm else []
        checks.append(self.check(A, fm, self.exp(A, self.cl(connector="orphan-cdc"), summary("orphan-cdc"),
                                                 desc("orphan-cdc", "RUNNING", 1, 1, "no agent of its Kafka Connect cluster acts (no leader)."))))
        groups.append(self.group(ser, checks))
        self.write(A, "failed_unmanaged", f"""
{A}: a FAILED connector or task with no recovery running on the agent that leads fires after
{duration(self.r.secs(A))} and says why the agent is not acting (no target, --dry-run, no leader, a human);
two agents reading the same cluster count each task once; a recovering or needs_attention
connector never fires.""", groups)

    # CDCConnectorRecovering ------------------------------------------------------------------
    def recovering(self):
        A = "CDCConnectorRecovering"
        if A not in self.alerts:
            return
        fm, S = self.fm(A), self.series
        St = 3
        fire = St + fm
        E = fire + 16
        N = E + 10
        inv, T1 = "inventory-cdc", "db1.example:1521/ORCLPDB1"
        orders, T2 = "orders-cdc", "pg1.example:5432"
        ser = self.agents(N) + [
            S("cdc_sentinel_recovery_active", seg((0, St), (1, E - St), (0, N - E)), I1, connector=inv),
            S("cdc_sentinel_recovery_info", seg((None, St), (1, E - St), (STALE, 1)), I1, connector=inv, target=T1, reason="probe_failed"),
            S("cdc_sentinel_recovery_phase", seg((0, St), (1, E - St), (0, N - E)), I1, connector=inv, phase="waiting"),
            S("cdc_sentinel_recovery_started_timestamp_seconds", seg((None, St), (180, E - St), (STALE, 1)), I1, connector=inv),
            S("cdc_sentinel_recovery_resume_attempts", [0] * N, I1, connector=inv),
            S("cdc_sentinel_recovery_max_wait_seconds", [1800] * N, I1, connector=inv),
            S("cdc_sentinel_probe_last_reason", seg((0, St), (1, E - St), (0, N - E)), I1, target=T1, reason="service_unknown"),
            S("cdc_sentinel_recovery_active", seg((0, St), (1, N - St)), I1, connector=orders),
            S("cdc_sentinel_recovery_info", seg((None, St), (1, N - St)), I1, connector=orders, target=T2, reason="task_failed"),
            S("cdc_sentinel_recovery_phase", seg((0, St), (1, N - St)), I1, connector=orders, phase="resuming"),
            S("cdc_sentinel_recovery_started_timestamp_seconds", seg((None, St), (150, N - St)), I1, connector=orders),
            S("cdc_sentinel_recovery_resume_attempts", [2] * N, I1, connector=orders),
            S("cdc_sentinel_recovery_max_wait_seconds", [3600] * N, I1, connector=orders),
            S("cdc_sentinel_probe_last_reason", [1] * N, I1, target=T2, reason="ok"),
            # a planned hold: never warns
            S("cdc_sentinel_recovery_active", seg((0, St), (1, N - St)), I1, connector="reporting-cdc"),
            S("cdc_sentinel_recovery_info", seg((None, St), (1, N - St)), I1, connector="reporting-cdc", target="dwh.example:5432", reason="maintenance"),
            # the standby: idle for these, and a stale belief about another one: never warns
            S("cdc_sentinel_recovery_active", [0] * N, I2, connector=inv),
            S("cdc_sentinel_recovery_active", seg((0, St), (1, N - St)), I2, connector="standby-cdc"),
            S("cdc_sentinel_recovery_info", seg((None, St), (1, N - St)), I2, connector="standby-cdc", target=T2, reason="probe_failed"),
        ]

        def e(c, t, reason, since, why, phase, attempts, probe, maxw):
            return self.exp(A, self.cl(connector=c, target=t, reason=reason),
                            f"cdc-sentinel is holding connector {c} while its database {t} is unavailable",
                            f"cdc-sentinel has held connector {c} for {since} because {why} (phase {phase}, {attempts} resume attempts so far). Last probe answer from {t}: {probe}.\n"
                            f"It resumes the connector by itself once the database is back, and pages (CDCRecoveryTimedOut) when its maximum wait of {maxw} is over. Nothing to do now unless the outage is unexpected: then tell the DBA.")
        e_inv = e(inv, T1, "probe_failed", humanize_duration(fire * 60 - 180), "its database stopped answering probes",
                  "waiting", 0, "service_unknown", "30m 0s")
        e_ord = lambda t: e(orders, T2, "task_failed", humanize_duration(t * 60 - 150),  # noqa: E731
                            "a task FAILED when its database became unavailable", "resuming", 2, "ok", "1h 0m 0s")
        groups = [self.group(ser, [self.check(A, fire - 1), self.check(A, fire, e_inv, e_ord(fire)),
                                   self.check(A, E, e_ord(E))])]
        self.write(A, "connector_recovering", f"""
{A}: a recovery active on the agent that leads for {duration(self.r.secs(A))} warns (no page), with how
long, why, the phase and the last probe answer; planned holds (reason maintenance) and a
standby's belief never warn.""", groups)

    # CDCDatabaseProbeFailing ------------------------------------------------------------------
    def probe_failing(self):
        A = "CDCDatabaseProbeFailing"
        if A not in self.alerts:
            return
        fm, S = self.fm(A), self.series
        St = 2
        fire = St + fm
        E = fire + 11
        N = E + 5
        T1, T2 = "db1.example:1521/ORCLPDB1", "new.example:1521/NEWDB"
        ser = self.agents(N) + [
            S("cdc_sentinel_probe_success", seg((1, St), (0, E - St), (1, N - E)), I1, target=T1),
            S("cdc_sentinel_probe_last_success_timestamp_seconds", [0] + [60] * (E - 1) + ramp(E * 60, 60, N - E), I1, target=T1),
            S("cdc_sentinel_probe_last_reason", seg((0, St), (1, E - St), (0, N - E)), I1, target=T1, reason="service_unknown"),
            S("cdc_sentinel_probe_last_reason", seg((1, St), (0, E - St), (1, N - E)), I1, target=T1, reason="ok"),
            S("cdc_sentinel_probe_success", seg((None, St), (0, N - St)), I1, target=T2),
            S("cdc_sentinel_probe_last_reason", seg((None, St), (1, N - St)), I1, target=T2, reason="refused"),
            S("cdc_sentinel_probe_success", [0] * N, I1, target="dwh.example:5432"),
            S("cdc_sentinel_recovery_info", [1] * N, I1, connector="reporting-cdc", target="dwh.example:5432", reason="maintenance"),
            # the standby reaches db1 from its own host: the leader's view decides
            S("cdc_sentinel_probe_success", [1] * N, I2, target=T1),
        ]
        for inst in (I1, I2):
            ser += [S("cdc_sentinel_connector_target_info", [1] * N, inst, connector="shipping-cdc", target=T1),
                    S("cdc_sentinel_connector_target_info", [1] * N, inst, connector="inventory-cdc", target=T1),
                    S("cdc_sentinel_connector_target_info", [1] * N, inst, connector="new-cdc", target=T2)]

        def e(t, answer, last, conns):
            return self.exp(A, self.cl(target=t), f"Database {t} fails every cdc-sentinel probe",
                            f"Every probe of database {t} fails; last answer: {answer}; last success: {last}.\n"
                            f"Connectors reading it: {conns}. cdc-sentinel holds them while the database is down and resumes them when it is back.\n"
                            "Check the database with the DBA (instance open? listener up but service not registered? processes exhausted?). The runbook explains each probe answer.")
        e_new = e(T2, "refused", "none since the agent started", "new-cdc")
        groups = [self.group(ser, [
            self.check(A, fire - 1),
            self.check(A, fire, e(T1, "service_unknown", humanize_duration(fire * 60 - 60) + " ago", "inventory-cdc, shipping-cdc"), e_new),
            self.check(A, E, e_new)])]
        self.write(A, "database_probe_failing", f"""
{A}: one warning per database after {duration(self.r.secs(A))} of failed probes by the agent that leads,
with the last answer, the last success and the connectors reading it (each once, however many
agents report it); not for databases on a planned hold.""", groups)

    # CDCProbeBlind -------------------------------------------------------------------------------
    def probe_blind(self):
        A = "CDCProbeBlind"
        if A not in self.alerts:
            return
        fm, S = self.fm(A), self.series
        St = 2
        fire = St + fm
        E = fire + 5
        N = E + 5
        T, C = "orders-db.internal:5432", "orders-cdc"
        ser = self.agents(N) + [
            S("cdc_sentinel_probe_blind", seg((0, St), (1, E - St), (0, N - E)), I1, target=T),
            S("cdc_sentinel_probe_last_reason", seg((0, St), (1, E - St), (0, N - E)), I1, target=T, reason="dns"),
            S("cdc_sentinel_probe_blind", [0] * N, I2, target=T),
            S("cdc_sentinel_probe_last_reason", [1] * N, I2, target=T, reason="ok"),
            S("cdc_sentinel_probe_blind", [0] * N, I1, target="pg1.example:5432"),
        ]
        for inst in (I1, I2):
            ser.append(S("cdc_sentinel_connector_target_info", [1] * N, inst, connector=C, target=T))
        e = self.exp(A, self.cl(target=T), f"cdc-sentinel cannot see database {T} and will not hold its connectors",
                     f"cdc-sentinel cannot see database {T} while its connectors read RUNNING (agents: {I1}; last answer: dns). "
                     "A failure like this (the name does not resolve, something that is not the database answers, or it was never seen up since the agent started) says nothing about the database, "
                     "so the agent will not hold its connectors on it: if the database goes down now, nothing protects them.\n"
                     f"Connectors reading it: {C}. From the agent's host or pod, check DNS (split DNS), NetworkPolicy or firewall rules, and that the port is the database's (not a proxy or a listener that accepts and closes).")
        self.write(A, "probe_blind", f"""
{A}: an agent that cannot see a database (here: its name does not resolve from sentinel-1)
while the connectors read RUNNING warns after {duration(self.r.secs(A))}, naming the blind agents and their
answer; a database every agent sees never warns.""",
                   [self.group(ser, [self.check(A, fire - 1), self.check(A, fire, e), self.check(A, E)])])

    # CDCConnectorStalled ------------------------------------------------------------------------
    def stalled(self):
        A = "CDCConnectorStalled"
        if A not in self.alerts:
            return
        fm, S = self.fm(A), self.series
        St = 3
        fire = St + fm
        E = fire + 5
        N = E + 5
        C, T = "orders-cdc", "pg1.example:5432"
        ser = self.agents(N)
        for inst in (I1, I2):
            ser += [
                S("cdc_sentinel_connector_state", [1] * N, inst, connector=C, state="RUNNING"),
                S("cdc_sentinel_connector_target_info", [1] * N, inst, connector=C, target=T),
                S("cdc_sentinel_source_offset_position", [123456789] * N, inst, connector=C),
                S("cdc_sentinel_source_offset_advanced_timestamp_seconds", [60] * N, inst, connector=C),
                S("cdc_sentinel_connector_stalled", [0] * N, inst, connector="fine-cdc"),
            ]
        ser += [S("cdc_sentinel_connector_stalled", seg((0, St), (1, E - St), (0, N - E)), I1, connector=C),
                S("cdc_sentinel_connector_stalled", [0] * N, I2, connector=C)]
        e = self.exp(A, self.cl(connector=C), f"Connector {C} reads RUNNING but captures nothing: its offset does not advance",
                     f"Connector {C} (database {T}) reads RUNNING, but its committed source offset has not advanced for {humanize_duration(fire * 60 - 60)} (position 123456789) although heartbeats should move it. It captures no changes and Kafka Connect does not know.\n"
                     "Check the source side: Oracle LogMiner session alive, archive logs still there (RMAN DELETE INPUT may have purged the one it needs); PostgreSQL replication slot active and its WAL retained; MySQL binlog retention. "
                     f"Then read the task's log: curl -s \"$CONNECT_URL/connectors/{C}/status\". A restart (curl -X POST \"$CONNECT_URL/connectors/{C}/restart?includeTasks=true&onlyFailed=false\") helps only if the position is still available.")
        self.write(A, "connector_stalled", f"""
{A}: a RUNNING connector whose committed offset stopped advancing (cdc_sentinel_connector_stalled
on any agent) pages after {duration(self.r.secs(A))}, once per connector however many agents report it,
with the position and how long it has not moved; resolves when it advances again.""",
                   [self.group(ser, [self.check(A, fire - 1), self.check(A, fire, e), self.check(A, E)])])

    # CDCRecoveryFlapping ----------------------------------------------------------------------
    def flapping(self):
        A = "CDCRecoveryFlapping"
        if A not in self.alerts:
            return
        S = self.series
        fm = self.fm(A)
        n = self.k["alerts"][A]["recoveries"]
        W = self.r.secs(A, "window") // 60
        w = duration(W * 60)
        s = max(1, (W // 2) // (n - 1))
        a = W + 10
        times = [a + i * s for i in range(n)]
        last = times[-1]
        N = a + W + 6 + fm
        C = "inventory-cdc"

        def counter(ts, length, start=0):
            return [start + sum(1 for x in ts if x <= t) for t in range(length)]

        def e(c, count, reasons):
            return self.exp(A, self.cl(connector=c),
                            f"cdc-sentinel keeps recovering connector {c}: {count} recoveries in the last {w}",
                            f"cdc-sentinel started {count} recoveries of connector {c} in the last {w} ({reasons}). Each time the database looked back, the connector was resumed and failed again.\n"
                            "Usual causes: the probe reaches a listener that accepts while the database is not open (probe a service that exists only while the database is open), or the database keeps restarting. Look at the recovery timeline dashboard for this connector.")
        groups = []
        # 1. n recoveries of one connector, the last one task_failed; another connector recovers once.
        ser = self.agents(N) + [
            S("cdc_sentinel_recoveries_started_total", counter(times[:-1], N), I1, connector=C, reason="probe_failed"),
            S("cdc_sentinel_recoveries_started_total", counter(times[-1:], N), I1, connector=C, reason="task_failed"),
            S("cdc_sentinel_recoveries_started_total", counter([a + 5], N), I1, connector="orders-cdc", reason="probe_failed"),
            S("cdc_sentinel_recoveries_started_total", [0] * N, I2, connector=C, reason="probe_failed"),
        ]
        e1 = e(C, n, f"probe_failed: {n - 1}, task_failed: 1")
        checks = [self.check(A, last - 1)]
        if fm:
            checks.append(self.check(A, last + fm - 1))
        checks += [self.check(A, last + fm, e1), self.check(A, a + W - 2, e1) if a + W - 2 >= last + fm else None,
                   self.check(A, a + W + 1)]
        groups.append(self.group(ser, [c for c in checks if c]))
        # 2. The leader changes half way: the first agent's recoveries and the next one's add up.
        h = n // 2
        lead2 = times[h - 1] + 1
        ser = [
            S("up", seg((1, lead2), (0, N - lead2)), I1),
            S("cdc_sentinel_leader", seg((1, lead2), (STALE, 1)), I1),
            S("cdc_sentinel_recoveries_started_total", counter(times[:h], lead2) + [STALE], I1, connector=C, reason="probe_failed"),
            S("up", [1] * N, I2),
            S("cdc_sentinel_leader", seg((0, lead2), (1, N - lead2)), I2),
            S("cdc_sentinel_recoveries_started_total", counter(times[h:], N), I2, connector=C, reason="probe_failed"),
        ]
        groups.append(self.group(ser, [self.check(A, last - 1),
                                       self.check(A, last + fm, e(C, n, f"probe_failed: {n}"))]))
        # 3. The agent restarts between recoveries (its counters start again).
        reset = times[h - 1] + 1
        vals = counter(times[:h], reset) + [STALE, None, None]
        vals += [h + sum(1 for x in times[h:] if x <= t) - h for t in range(reset + 3, N)]
        ser = [S("cdc_sentinel_recoveries_started_total", vals, I1, connector="orders-cdc", reason="probe_failed")]
        groups.append(self.group(ser, [self.check(A, last - 1),
                                       self.check(A, last + fm, e("orders-cdc", n, f"probe_failed: {n}"))]))
        self.write(A, "recovery_flapping", f"""
{A}: the {n}th recovery of one connector within {w} warns{f' after {duration(self.r.secs(A))}' if fm else ' at once (no for:)'},
with the count and the reasons; it resolves when the oldest one leaves the window; agent restarts
(counter resets) and a change of leader (the count moves to another agent) do not hide recoveries.""",
                   groups)

    # CDCKafkaConnectUnreachable ---------------------------------------------------------------
    def connect_unreachable(self):
        A = "CDCKafkaConnectUnreachable"
        if A not in self.alerts:
            return
        fm, S = self.fm(A), self.series
        cw = max(1, fm)
        St = 3
        fire = St + fm
        E = fire + 6
        N = E + 5
        ok200 = ramp(0, 12, St) + [12 * (St - 1)] * (E - St) + ramp(12 * (St - 1) + 12, 12, N - E)
        err = [0] * St + ramp(12, 12, E - St) + [12 * (E - St)] * (N - E)
        s2_401 = [None] * St + ramp(0, 12, N - St)
        last_ok = [0, 60] + [120] * (E - 2) + ramp(E * 60, 60, N - E)
        ser = [
            S("cdc_sentinel_connect_up", seg((1, St), (0, E - St), (1, N - E)), I1),
            S("cdc_sentinel_connect_last_success_timestamp_seconds", last_ok, I1),
            S("cdc_sentinel_connect_request_duration_seconds_count", ok200, I1, operation="list", code="200"),
            S("cdc_sentinel_connect_request_duration_seconds_count", err, I1, operation="list", code="error"),
            # sentinel-2 starts at St with wrong credentials: never a successful poll.
            S("cdc_sentinel_connect_up", seg((None, St), (0, N - St)), I2),
            S("cdc_sentinel_connect_last_success_timestamp_seconds", seg((None, St), (0, N - St)), I2),
            S("cdc_sentinel_connect_request_duration_seconds_count", s2_401, I2, operation="list", code="401"),
        ]

        def answers(by_code, t):
            """increase(...[cw]) per code as Prometheus computes it for these zero-based series."""
            out = []
            for code, vals in by_code:
                inside = [v for v in vals[max(0, t - cw):t + 1] if v is not None]
                if len(inside) >= 2 and inside[-1] - inside[0] > 0:
                    out.append(f"{code} x{inside[-1] - inside[0]}")
            return ", ".join(out) or "none recorded"

        def e(inst, last, answers):
            return self.exp(A, self.cl(instance=inst), f"cdc-sentinel at {inst} cannot reach Kafka Connect",
                            f"cdc-sentinel at {inst} cannot poll Kafka Connect; last successful poll: {last}. Recent answers (HTTP status or error): {answers}.\n"
                            "While this lasts this agent can neither see nor protect any connector (nor take over if it is a standby). Check: curl -s \"$CONNECT_URL/connectors\". 401 = the agent's Connect credentials; error = network, DNS, TLS or the workers are down; 409 or 500 during a rebalance pass by themselves.")
        s2 = lambda t: e(I2, "none since the agent started", answers([("401", s2_401)], t))  # noqa: E731
        groups = [self.group(ser, [
            self.check(A, fire - 1),
            self.check(A, fire, e(I1, humanize_duration(fire * 60 - 120) + " ago", answers([("200", ok200), ("error", err)], fire)), s2(fire)),
            self.check(A, E, s2(E))])]
        self.write(A, "connect_unreachable", f"""
{A}: an agent whose Kafka Connect polls fail for {duration(self.r.secs(A))} warns, with the last successful
poll and the recent answers (HTTP status or error); resolves on the next good poll. Per agent: a
standby that cannot reach Connect could not take over.""", groups)

    # CDCKubernetesApiFailing ------------------------------------------------------------------
    def kubernetes(self):
        A = "CDCKubernetesApiFailing"
        if A not in self.alerts:
            return
        fm, S = self.fm(A), self.series
        kk = self.k["alerts"][A]
        W = self.r.secs(A, "window") // 60
        ratio = kk["error_ratio"]
        St = 3
        fire = St + fm
        N = fire + 6
        cnt = "cdc_sentinel_kubernetes_request_duration_seconds_count"
        failing = lambda code: re.fullmatch(kk["failing_codes"], code) is not None  # noqa: E731
        pick = lambda cands, want: next((x for x in cands if failing(x) == want), None)  # noqa: E731
        c_down = pick(["error", "503", "500", "403"], True)
        c_rbac = pick(["403", "401", "500", "error"], True)
        c_some = pick(["500", "503", "error", "403"], True)
        c_fine = [x for x in ("409", "404", "200", "201") if not failing(x)][:3]
        if not (c_down and c_rbac and c_some and len(c_fine) == 3):
            raise ModelError(f"alerts.{A}.failing_codes: {kk['failing_codes']!r} must match some of error, 401, 403, 5xx "
                             "and none of 200, 404, 409")
        # sentinel-1: list and get fail (no answer) from St.
        ser = [
            S("cdc_sentinel_kubernetes_up", seg((1, St), (0, N - St)), I1),
            S(cnt, ramp(0, 4, St) + [4 * (St - 1)] * (N - St), I1, verb="list", code=c_fine[2]),
            S(cnt, ramp(0, 2, St) + [2 * (St - 1)] * (N - St), I1, verb="get", code=c_fine[2]),
            S(cnt, seg((None, St)) + ramp(0, 4, N - St), I1, verb="list", code=c_down),
            S(cnt, seg((None, St)) + ramp(0, 2, N - St), I1, verb="get", code=c_down),
        ]
        # sentinel-2: list and get fine, but its patches answer 403 (a missing RBAC verb), from St-1.
        hi = min(20, math.ceil(20 * min(1.0, ratio * 1.5)))
        S2 = St - 1
        ser += [
            S("cdc_sentinel_kubernetes_up", [1] * N, I2),
            S(cnt, seg((None, S2)) + ramp(0, 20 - hi, N - S2), I2, verb="list", code=c_fine[2]),
            S(cnt, seg((None, S2)) + ramp(0, hi, N - S2), I2, verb="patch", code=c_rbac),
        ]
        # sentinel-3: some failures, below the ratio; conflicts (409) and 404s do not count.
        lo = math.floor(20 * ratio * 0.5)
        ser += [
            S("cdc_sentinel_kubernetes_up", [1] * N, I3),
            S(cnt, ramp(0, 20 - lo - 6, N), I3, verb="list", code=c_fine[2]),
            S(cnt, ramp(0, 3, N), I3, verb="patch", code=c_fine[0]),
            S(cnt, ramp(0, 3, N), I3, verb="get", code=c_fine[1]),
            S(cnt, ramp(0, lo, N), I3, verb="get", code=c_some),
        ]

        def e(inst, what, failing):
            return self.exp(A, self.cl(instance=inst),
                            f"cdc-sentinel at {inst} cannot use the Kubernetes API: Strimzi-managed connectors are not protected (no connector at all while the list fails)",
                            f"cdc-sentinel at {inst} {what}. Failing requests in the last {duration(W * 60)} (verb code x count): {failing}.\n"
                            "While the list fails the agent takes no action on any connector of its Kafka Connect cluster (which of them Strimzi manages, and what people did to them, is unknown); while its writes fail it can neither hold nor resume connectors managed by Strimzi (KafkaConnector resources). "
                            "403 = its service account lacks an RBAC verb on kafkaconnectors (get, list, patch); 401 = its token; error = the API server is unreachable from the pod.")
        m1 = min(fire - St, W)
        m2 = min(fire - S2, W)
        checks = [self.check(A, fire - 1)] if fm else [self.check(A, St - 1)]
        checks.append(self.check(A, fire,
                                 e(I1, "cannot list KafkaConnector resources",
                                   f"get {c_down} x{2 * m1}, list {c_down} x{4 * m1}" if m1 else "none recorded"),
                                 e(I2, "gets errors from the Kubernetes API", f"patch {c_rbac} x{hi * m2}")))
        groups = [self.group(ser, checks)]
        self.write(A, "kubernetes_api_failing", f"""
{A}: an agent whose list of KafkaConnector resources fails, or whose Kubernetes API
requests fail ({kk['failing_codes']}) in at least {ratio} of them over {duration(W * 60)} (a 403 on patch: a missing
RBAC verb), warns after {duration(self.r.secs(A))}; conflicts (409), 404s and a share of failures below the
ratio do not.""", groups)

    # CDCStateStoreDown -------------------------------------------------------------------------
    def state_store(self):
        A = "CDCStateStoreDown"
        if A not in self.alerts:
            return
        fm, S = self.fm(A), self.series
        St = 2
        fire = St + fm
        E = fire + 5
        N = E + 5
        ser = self.agents(N) + [
            S("cdc_sentinel_state_store_up", seg((1, St), (0, E - St), (1, N - E)), I1),
            S("cdc_sentinel_state_store_up", [1] * N, I2),
        ]
        e = self.exp(A, self.cl(instance=I1), f"cdc-sentinel at {I1} cannot read or write its state store",
                     f"The last read or write of cdc-sentinel's state store (the --state-file, or the Kafka topic that holds the agents' hold records) failed at {I1}, the agent that leads. "
                     "The agent records a hold before it acts; without its store it cannot record new holds, and a standby cannot read the holds it would take over.\n"
                     "Check the file system (full, read-only, permissions) or the Kafka topic (brokers reachable, ACLs for the agent's principal), and the agent's log for the error.")
        self.write(A, "state_store_down", f"""
{A}: an agent whose state store (file or Kafka topic) fails for {duration(self.r.secs(A))} warns; per agent.""",
                   [self.group(ser, [self.check(A, fire - 1), self.check(A, fire, e), self.check(A, E)])])

    # CDCNoLeader -------------------------------------------------------------------------------
    def no_leader(self):
        A = "CDCNoLeader"
        if A not in self.alerts:
            return
        fm, S = self.fm(A), self.series
        St = 3
        fire = St + fm
        E = fire + 5
        N = E + 5
        cl_text = ", ".join(f"{l} {v}" for l, v in self.cluster.items())
        groups = []
        # 1. The leader steps down at St and nobody takes over until E.
        ser = [
            S("up", [1] * N, I1), S("up", [1] * N, I2),
            S("cdc_sentinel_build_info", [1] * N, I1, version="0.2.0", revision="abc1234"),
            S("cdc_sentinel_build_info", [1] * N, I2, version="0.2.0", revision="abc1234"),
            S("cdc_sentinel_leader", seg((1, St), (0, N - St)), I1),
            S("cdc_sentinel_leader", seg((0, E), (1, N - E)), I2),
            S("cdc_sentinel_state_store_up", seg((1, St), (0, N - St)), I1),
            S("cdc_sentinel_state_store_up", seg((1, St), (0, N - St)), I2),
        ]
        e = self.exp(A, self.cl(), f"No cdc-sentinel agent leads ({cl_text}): nothing protects its connectors",
                     f"2 agent(s) report ({I1}, {I2}) and none of them leads: no agent holds or resumes connectors, and the held ones stay held. "
                     f"The agents elect a leader through their shared state store; state store up: {I1}=0, {I2}=0.\n"
                     "Check the agents' logs for the election, and the state store (file lock, or the Kafka topic).")
        groups.append(self.group(ser, [self.check(A, fire - 1), self.check(A, fire, e), self.check(A, E)]))
        # 2. The leader cannot be scraped: CDCSentinelDown's business, not this one's.
        ser = [
            S("up", seg((1, St), (0, N - St)), I1), S("up", [1] * N, I2),
            S("cdc_sentinel_build_info", seg((1, St), (STALE, 1)), I1, version="0.2.0", revision="abc1234"),
            S("cdc_sentinel_build_info", [1] * N, I2, version="0.2.0", revision="abc1234"),
            S("cdc_sentinel_leader", seg((1, St), (STALE, 1)), I1),
            S("cdc_sentinel_leader", [0] * N, I2),
        ]
        groups.append(self.group(ser, [self.check(A, fire + 2)]))
        # 3. No agent scraped at all (absent: CDCSentinelDown's), and 4. a build without leader
        # election, which acts alone and so leads.
        ser = [S("up", seg((1, St), (0, N - St)), I1),
               S("cdc_sentinel_build_info", seg((1, St), (STALE, 1)), I1, version="0.2.0", revision="abc1234"),
               S("cdc_sentinel_leader", seg((0, St), (STALE, 1)), I1),
               S("up", [1] * N, I3),
               S("cdc_sentinel_build_info", [1] * N, I3, version="0.1.0", revision="0ld0ld0")]
        groups.append(self.group(ser[:3], [self.check(A, fire + 2)]))
        acting = {"eval_time": f"{fire}m", "expr": ACTING, "exp_samples": [
            {"labels": ACTING + "{" + ", ".join(f'{k}="{v}"' for k, v in self.cl(instance=I3).items()) + "}", "value": 1}]}
        groups.append(self.group(ser[3:5], [self.check(A, fire + 2)], [acting]))
        self.write(A, "no_leader", f"""
{A}: agents of a Kafka Connect cluster report but none leads for {duration(self.r.secs(A))}: warns with the
agents and their state store; quiet while an agent cannot be scraped or none is (CDCSentinelDown
covers those), and for a build without leader election (it acts alone, so it leads).""", groups)

    # CDCSplitBrain ------------------------------------------------------------------------------
    def split_brain(self):
        A = "CDCSplitBrain"
        if A not in self.alerts:
            return
        fm, S = self.fm(A), self.series
        St = 2 + max(fm, 1) + 3
        fire = St + fm
        E = fire + 5
        N = E + 5
        overlap = seg((0, 2), (1, fm), (0, St - 2 - fm)) if fm else seg((0, St))
        ser = [S("cdc_sentinel_leader", [1] * N, I1),
               S("cdc_sentinel_leader", overlap + [1] * (E - St) + [0] * (N - E), I2)]
        e = self.exp(A, self.cl(), "2 cdc-sentinel agents lead the same Kafka Connect cluster",
                     f"2 agents act on the same Kafka Connect cluster at once: {I1}, {I2}. This must never happen: they may undo each other's holds, or take each other's pause for a human's.\n"
                     "Stop all but one of them now (scale the standbys down, or stop the agents without leader election), then find out why: "
                     "agents with different state stores (different --state-file paths or topics), or builds without leader election running side by side.")
        checks = [self.check(A, 2 + fm - 1)] if fm else []
        checks += [self.check(A, fire - 1), self.check(A, fire, e), self.check(A, E)]
        self.write(A, "split_brain", f"""
{A}: two agents of one Kafka Connect cluster leading for {duration(self.r.secs(A))} pages; a handover
seen for less than that (one scrape of each saying 1) does not.""", [self.group(ser, checks)])

    # CDCSentinelDown ------------------------------------------------------------------------------
    def sentinel_down(self):
        A = "CDCSentinelDown"
        if A not in self.alerts:
            return
        fm, S = self.fm(A), self.series
        cl_text = ", ".join(f"{l} {v}" for l, v in self.cluster.items())
        eq = {m[0]: m[2] for m in self.k["_"]["matchers"] if m[1] == "="}
        eq_text = ", ".join(f"{l} {v}" for l, v in eq.items())
        sel = self.k["selector"].strip()

        def e_inst(inst):
            return self.exp(A, self.cl(instance=inst), f"cdc-sentinel at {inst} is down or cannot be scraped",
                            f"Prometheus cannot scrape cdc-sentinel at {inst} ({cl_text}). While this lasts it holds and resumes nothing, and the CDC alerts that rely on its metrics cannot fire.\n"
                            f"Check the process or container and its logs, then: cdc-sentinel healthcheck --url http://{inst}/readyz")
        e_absent = self.exp(A, eq, "No cdc-sentinel is being scraped" + (f" ({eq_text})" if eq else ""),
                            f"Prometheus has no cdc_sentinel_build_info{{{sel}}} series: no target is configured or discovered, or its targets are not cdc-sentinel (wrong port or path). "
                            "While this lasts it holds and resumes nothing, and the CDC alerts that rely on its metrics cannot fire.\n"
                            f"Check the scrape config that should give {sel} and Status > Targets in Prometheus.")
        St = 2
        fire = St + fm
        E = fire + 6
        N = E + 5
        groups = []
        ser = [S("up", seg((1, St), (0, E - St), (1, N - E)), I1),
               S("cdc_sentinel_build_info", seg((1, St), (STALE, 1), (None, E - St - 1), (1, N - E)), I1, version="0.2.0", revision="abc1234"),
               S("up", [1] * N, I2),
               S("cdc_sentinel_build_info", [1] * N, I2, version="0.2.0", revision="abc1234")]
        groups.append(self.group(ser, [self.check(A, fire - 1), self.check(A, fire, e_inst(I1)), self.check(A, E)]))
        # The only agent is down: one alert (the up == 0 form), not two.
        N = fm + 5
        early = [self.check(A, fm - 1)] if fm else []
        groups.append(self.group([S("up", [0] * N, I1)], early + [self.check(A, fm, e_inst(I1))]))
        # Absent form: no target of the job at all (only another job is scraped).
        other = {"series": 'up{job="node-exporter-for-the-cdc-test", instance="host-1:9100"}', "values": render_values([1] * N)}
        groups.append(self.group([other], early + [self.check(A, fm, e_absent)]))
        # Absent form: the job scrapes something that is not cdc-sentinel (wrong port); up is 1.
        groups.append(self.group([S("up", [1] * N, "sentinel-1:9100")], early + [self.check(A, fm, e_absent)]))
        self.write(A, "sentinel_down", f"""
{A}: a target that cannot be scraped for {duration(self.r.secs(A))}, or (absent form) no cdc-sentinel
metrics for the selector at all; the absent form stays quiet while the first form covers it.""", groups)
