#!/usr/bin/env python3
"""Writes the Grafana dashboards in this directory (python3, stdlib only).

The JSON files are the product (import them in Grafana, or provision them with
deploy/grafana/provisioning/); this script is how they are kept consistent. Edit it, then run
    python3 dashboards/build.py            # rewrite the JSON files
    python3 dashboards/build.py --check    # exit 1 if a JSON file differs from what it builds
alerts/check.sh runs --check, and alerts/check_dashboards.py validates the result.

Conventions (checked by alerts/check_dashboards.py):
- every query goes to the `${datasource}` variable (type prometheus); no datasource UID literal;
- dashboard variables appear only inside regex matchers (`label=~"$var"`), so a query can be
  evaluated outside Grafana by substituting `.+`;
- only metric names from docs/metrics.md (and recording rules defined in alerts/).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

DS = {"type": "prometheus", "uid": "${datasource}"}

# Label matchers shared by the queries. Variables only ever inside =~.
JOB = 'job=~"$job"'
CONN = 'job=~"$job", connector=~"$connector"'
TARGET = 'job=~"$job", target=~"$target"'

PHASES = ["watching", "holding", "waiting", "resuming", "verifying", "timed_out", "needs_attention"]
PHASE_COLORS = ["green", "yellow", "orange", "blue", "purple", "red", "dark-red"]
STATES = ["RUNNING", "PAUSED", "STOPPED", "RESTARTING", "UNASSIGNED", "FAILED"]
STATE_COLORS = ["green", "blue", "purple", "yellow", "text", "red"]
REASONS = ["ok", "refused", "timeout", "dns", "service_unknown", "blocked", "restricted",
           "no_handler", "starting_up", "too_many_connections", "protocol_error"]


class Layout:
    """Places panels left to right, wrapping at 24 columns."""

    def __init__(self):
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def place(self, panel, w, h):
        if self.x + w > 24:
            self.x = 0
            self.y += self.row_h
            self.row_h = 0
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["id"] = self.next_id
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel

    def row(self, title):
        if self.x:
            self.x = 0
            self.y += self.row_h
            self.row_h = 0
        panel = {"type": "row", "title": title, "collapsed": False, "panels": []}
        self.place(panel, 24, 1)
        self.x = 0
        self.y += 1
        self.row_h = 0
        return panel


def target(expr, legend="", ref="A", instant=False, table=False, interval=None):
    t = {
        "datasource": DS,
        "refId": ref,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
        "format": "table" if table else "time_series",
    }
    if interval:
        t["interval"] = interval
    return t


def value_mappings(names, colors):
    """Numeric codes 0..n-1 shown as names, for state timelines fed by code_expr()."""
    return [{
        "type": "value",
        "options": {str(i): {"text": n, "color": c, "index": i}
                    for i, (n, c) in enumerate(zip(names, colors))},
    }]


def code_expr(metric, label, values, matchers, by):
    """One series per `by` label whose value is the index of the label value currently at 1.

    `metric` is a 1-for-the-current-value gauge (cdc_sentinel_recovery_phase,
    cdc_sentinel_connector_state, cdc_sentinel_probe_last_reason)."""
    branches = []
    for i, v in enumerate(values):
        branches.append(f'({metric}{{{matchers}, {label}="{v}"}} == 1) * {i}')
    return f"max by ({by}) (\n    " + "\n  or ".join(branches) + "\n)"


def base_panel(kind, title, targets, description="", unit=None, mappings=None, thresholds=None,
               custom=None, options=None, decimals=None, color=None, overrides=None):
    defaults = {}
    if unit:
        defaults["unit"] = unit
    if decimals is not None:
        defaults["decimals"] = decimals
    if mappings:
        defaults["mappings"] = mappings
    defaults["thresholds"] = thresholds or {
        "mode": "absolute", "steps": [{"color": "green", "value": None}]}
    if color:
        defaults["color"] = color
    if custom:
        defaults["custom"] = custom
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
    }
    return p


def red_above(n):
    return {"mode": "absolute", "steps": [{"color": "green", "value": None},
                                          {"color": "red", "value": n}]}


def orange_above(n):
    return {"mode": "absolute", "steps": [{"color": "green", "value": None},
                                          {"color": "orange", "value": n}]}


def stat(title, expr, description, thresholds=None, mappings=None, unit=None):
    return base_panel(
        "stat", title, [target(expr, instant=True)], description, unit=unit,
        mappings=mappings, thresholds=thresholds, color={"mode": "thresholds"},
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background", "graphMode": "none", "justifyMode": "center",
            "textMode": "value", "orientation": "auto",
        })


def timeseries(title, targets, description, unit=None, stack=False, bars=False, step=False,
               overrides=None, decimals=None, min0=True):
    custom = {
        "drawStyle": "bars" if bars else "line",
        "lineInterpolation": "stepAfter" if step else "linear",
        "fillOpacity": 80 if bars else (30 if stack else 10),
        "lineWidth": 1,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
    }
    p = base_panel("timeseries", title, targets, description, unit=unit, custom=custom,
                   overrides=overrides, decimals=decimals, color={"mode": "palette-classic"},
                   options={"legend": {"displayMode": "table", "placement": "right",
                                       "showLegend": True, "calcs": ["lastNotNull", "max"]},
                            "tooltip": {"mode": "multi", "sort": "desc"}})
    if min0:
        p["fieldConfig"]["defaults"]["min"] = 0
    return p


def state_timeline(title, targets, description, mappings):
    return base_panel(
        "state-timeline", title, targets, description, mappings=mappings,
        color={"mode": "thresholds"},
        custom={"fillOpacity": 80, "lineWidth": 0},
        options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
                 "alignValue": "left", "legend": {"showLegend": True, "displayMode": "list",
                                                  "placement": "bottom"},
                 "tooltip": {"mode": "single"}})


def table(title, targets, description, rename, exclude, overrides=None):
    p = base_panel("table", title, targets, description, overrides=overrides,
                   options={"showHeader": True, "cellHeight": "sm",
                            "footer": {"show": False, "reducer": ["sum"], "fields": ""}})
    p["transformations"] = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {
            "excludeByName": {name: True for name in exclude},
            "renameByName": rename,
            "indexByName": {},
        }},
    ]
    return p


def bargauge(title, targets, description, unit=None, decimals=None):
    return base_panel(
        "bargauge", title, targets, description, unit=unit, decimals=decimals,
        color={"mode": "palette-classic"},
        options={"orientation": "horizontal", "displayMode": "basic", "showUnfilled": True,
                 "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})


def by_name_override(regex, props):
    return {"matcher": {"id": "byRegexp", "options": regex},
            "properties": [{"id": k, "value": v} for k, v in props.items()]}


def column_override(name, props):
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": k, "value": v} for k, v in props.items()]}


def variables(with_target=True):
    def query_var(name, label, query, multi):
        v = {
            "type": "query",
            "name": name,
            "label": label,
            "datasource": DS,
            "query": {"query": query, "refId": "StandardVariableQuery"},
            "definition": query,
            "refresh": 2,
            "sort": 1,
            "regex": "",
            "hide": 0,
            "multi": multi,
            "includeAll": multi,
            "current": {},
            "options": [],
        }
        if multi:
            v["allValue"] = ".+"
            v["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
        return v

    out = [
        {"type": "datasource", "name": "datasource", "label": "Data source",
         "query": "prometheus", "regex": "", "refresh": 1, "hide": 0, "current": {},
         "options": []},
        query_var("job", "Job", "label_values(cdc_sentinel_build_info, job)", False),
        query_var("connector", "Connector",
                  'label_values(cdc_sentinel_connector_state{job=~"$job"}, connector)', True),
    ]
    if with_target:
        out.append(query_var(
            "target", "Database",
            'label_values(cdc_sentinel_connector_target_info{job=~"$job", connector=~"$connector"}, target)',
            True))
    return out


def dashboard(uid, title, description, panels, annotations=None, with_target=True):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["cdc-sentinel"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "schemaVersion": 39,
        "version": 1,
        "links": [{"type": "dashboards", "title": "cdc-sentinel", "tags": ["cdc-sentinel"],
                   "asDropdown": True, "includeVars": True, "keepTime": True,
                   "targetBlank": False, "icon": "external link", "tooltip": "", "url": ""}],
        "annotations": {"list": annotations or []},
        "templating": {"list": variables(with_target)},
        "panels": panels,
    }


# ---------------------------------------------------------------------------------------------
# 1. Fleet overview


def fleet():
    L = Layout()
    P = []
    P.append(L.row("Now"))
    stats = [
        ("Connectors", f"count(max by (connector) (cdc_sentinel_connector_state{{{CONN}}}))",
         "Connectors the agent watches (after --connector/--include/--exclude).", None),
        ("RUNNING", f'sum(cdc_sentinel_connector_state{{{CONN}, state="RUNNING"}})',
         "Connectors in Kafka Connect state RUNNING. RUNNING is not healthy: a Debezium "
         "connector retries a database outage while it reads RUNNING (see Database probes).",
         None),
        ("FAILED connectors", f'sum(cdc_sentinel_connector_state{{{CONN}, state="FAILED"}})',
         "Connectors whose connector object is FAILED.", red_above(1)),
        ("Failed tasks", f'sum(cdc_sentinel_connector_tasks{{{CONN}, state="FAILED"}})',
         "Tasks in state FAILED across the selected connectors. A FAILED task never recovers "
         "by itself; pause/resume does not clear it.", red_above(1)),
        ("In recovery", f"sum(cdc_sentinel_recovery_active{{{CONN}}})",
         "Connectors the agent is holding (phases holding, waiting, resuming, verifying, "
         "timed_out).", orange_above(1)),
        ("Timed out", f'sum(cdc_sentinel_recovery_phase{{{CONN}, phase="timed_out"}})',
         "Recoveries past their maximum wait: held until a human resumes them "
         "(alert CDCRecoveryTimedOut).", red_above(1)),
        ("Needs attention", f'sum(cdc_sentinel_recovery_phase{{{CONN}, phase="needs_attention"}})',
         "Failures waiting cannot fix (offset gone, history topic missing, ...): "
         "alert CDCNeedsAttention.", red_above(1)),
    ]
    for title, expr, desc, th in stats:
        P.append(L.place(stat(title, expr, desc, thresholds=th), 3, 4))
    P.append(L.place(stat(
        "Kafka Connect", f"min(cdc_sentinel_connect_up{{{JOB}}})",
        "Whether every agent's last poll of Kafka Connect succeeded.",
        thresholds={"mode": "absolute", "steps": [{"color": "red", "value": None},
                                                  {"color": "green", "value": 1}]},
        mappings=[{"type": "value", "options": {
            "0": {"text": "UNREACHABLE", "color": "red", "index": 0},
            "1": {"text": "reachable", "color": "green", "index": 1}}}]), 3, 4))

    P.append(L.place(table(
        "Connectors",
        [
            target(f"max by (connector, state) (cdc_sentinel_connector_state{{{CONN}}}) == 1",
                   ref="A", instant=True, table=True),
            target(f"max by (connector, phase) (cdc_sentinel_recovery_phase{{{CONN}}}) == 1",
                   ref="B", instant=True, table=True),
            target(f"max by (connector, target) (cdc_sentinel_connector_target_info{{{CONN}}})",
                   ref="C", instant=True, table=True),
            target(f'sum by (connector) (cdc_sentinel_connector_tasks{{{CONN}, state="FAILED"}})',
                   ref="D", instant=True, table=True),
            target(f"sum by (connector) (cdc_sentinel_connector_tasks{{{CONN}}})",
                   ref="E", instant=True, table=True),
            target(f"max by (connector) (cdc_sentinel_managed{{{CONN}}})",
                   ref="F", instant=True, table=True),
        ],
        "One row per connector: Kafka Connect state, recovery phase, the database the agent "
        "probes for it, failed/total tasks, and whether the agent holds it.",
        rename={"connector": "Connector", "state": "State", "phase": "Recovery phase",
                "target": "Database", "Value #D": "Failed tasks", "Value #E": "Tasks",
                "Value #F": "Held by cdc-sentinel"},
        exclude=["Time", "Value #A", "Value #B", "Value #C"],
        overrides=[
            column_override("State", {
                "mappings": [{"type": "value", "options": {s: {"color": c, "index": i}
                                                           for i, (s, c) in enumerate(zip(STATES, STATE_COLORS))}}],
                "custom.cellOptions": {"type": "color-text"}}),
            column_override("Recovery phase", {
                "mappings": [{"type": "value", "options": {p: {"color": c, "index": i}
                                                           for i, (p, c) in enumerate(zip(PHASES, PHASE_COLORS))}}],
                "custom.cellOptions": {"type": "color-text"}}),
            column_override("Failed tasks", {
                "thresholds": red_above(1), "custom.cellOptions": {"type": "color-text"}}),
            column_override("Held by cdc-sentinel", {
                "mappings": [{"type": "value", "options": {
                    "0": {"text": "no", "index": 0}, "1": {"text": "yes", "color": "orange", "index": 1}}}]}),
        ]), 24, 8))

    P.append(L.row("Over time"))
    P.append(L.place(timeseries(
        "Connectors by state",
        [target(f"sum by (state) (cdc_sentinel_connector_state{{{CONN}}})", "{{state}}")],
        "How many selected connectors are in each Kafka Connect state.", stack=True, step=True,
        decimals=0), 12, 8))
    P.append(L.place(timeseries(
        "Failed tasks by connector",
        [target(f'sum by (connector) (cdc_sentinel_connector_tasks{{{CONN}, state="FAILED"}}) > 0',
                "{{connector}}")],
        "Tasks in state FAILED, per connector (connectors with none are hidden).", step=True,
        decimals=0), 12, 8))
    P.append(L.place(timeseries(
        "Connectors in recovery, by phase",
        [target(f'sum by (phase) (cdc_sentinel_recovery_phase{{{CONN}, phase!="watching"}}) > 0',
                "{{phase}}")],
        "Connectors in each non-watching phase. timed_out and needs_attention wait for a human.",
        stack=True, step=True, decimals=0,
        overrides=[by_name_override("timed_out|needs_attention",
                                    {"color": {"mode": "fixed", "fixedColor": "red"}})]), 12, 8))
    P.append(L.place(timeseries(
        "Recoveries started and timed out",
        [target(f"sum by (reason) (increase(cdc_sentinel_recoveries_started_total{{{CONN}}}[$__interval])) > 0",
                "started: {{reason}}", ref="A"),
         target(f"sum(increase(cdc_sentinel_recovery_timeouts_total{{{CONN}}}[$__interval])) > 0",
                "timed out", ref="B")],
        "Recoveries the agent started (by reason) and recoveries that reached their maximum "
        "wait, per interval.", bars=True, stack=True, decimals=0,
        overrides=[by_name_override("timed out", {"color": {"mode": "fixed", "fixedColor": "red"}})]),
        12, 8))

    P.append(L.row("Kafka Connect and the agents"))
    P.append(L.place(timeseries(
        "Kafka Connect reachable",
        [target(f"cdc_sentinel_connect_up{{{JOB}}}", "{{instance}}")],
        "1 if the agent's last poll of Kafka Connect succeeded (HTTP 200, well-formed).",
        step=True, decimals=0), 8, 8))
    P.append(L.place(timeseries(
        "Since the last successful Connect poll",
        [target(f"time() - cdc_sentinel_connect_last_success_timestamp_seconds{{{JOB}}}",
                "{{instance}}")],
        "Seconds since each agent last polled Kafka Connect successfully; a few poll "
        "intervals at most when healthy.", unit="s"), 8, 8))
    P.append(L.place(timeseries(
        "Kafka Connect REST calls",
        [target(f"sum by (operation, code) (rate(cdc_sentinel_connect_request_duration_seconds_count{{{JOB}}}[$__rate_interval]))",
                "{{operation}} {{code}}")],
        "Every REST call the agents make, by operation and HTTP status (`error` = no answer).",
        unit="reqps"), 8, 8))
    P.append(L.place(bargauge(
        "Finished recoveries by outcome",
        [target(f"sum by (outcome) (increase(cdc_sentinel_recovery_duration_seconds_count{{{JOB}}}[$__range]))",
                "{{outcome}}", instant=True)],
        "Recoveries that ended in the time range: recovered, timed_out_recovered "
        "(--after-timeout resume), handed_back (a human resumed it), deleted.", decimals=0), 8, 6))
    P.append(L.place(stat(
        "Connectors without a database target",
        f"sum(cdc_sentinel_connector_target_unknown{{{CONN}}})",
        "Selected connectors for which the agent found no database to probe: it will not act "
        "on them. Give a target with --db or in the config file.", thresholds=orange_above(1)),
        8, 6))
    P.append(L.place(table(
        "Agents",
        [target(f"max by (instance, version, revision) (cdc_sentinel_build_info{{{JOB}}})",
                ref="A", instant=True, table=True),
         target(f"max by (instance) (cdc_sentinel_dry_run{{{JOB}}})",
                ref="B", instant=True, table=True)],
        "Running agents, their build, and whether they run with --dry-run (actions logged, "
        "never sent).",
        rename={"instance": "Agent", "version": "Version", "revision": "Revision",
                "Value #B": "Dry run"},
        exclude=["Time", "Value #A"],
        overrides=[column_override("Dry run", {"mappings": [{"type": "value", "options": {
            "0": {"text": "no", "index": 0},
            "1": {"text": "YES", "color": "orange", "index": 1}}}],
            "custom.cellOptions": {"type": "color-text"}})]), 8, 6))

    return dashboard(
        "cdc-sentinel-fleet", "cdc-sentinel / Fleet overview",
        "Every connector cdc-sentinel watches: Kafka Connect states, failed tasks, recoveries, "
        "timeouts, and whether the agents reach Kafka Connect.", P)


# ---------------------------------------------------------------------------------------------
# 2. Recovery timeline


def recovery():
    L = Layout()
    P = []
    P.append(L.place(state_timeline(
        "Recovery phase",
        [target(code_expr("cdc_sentinel_recovery_phase", "phase", PHASES, CONN, "connector"),
                "{{connector}}")],
        "The agent's recovery phase per connector: watching -> holding -> waiting -> resuming "
        "-> verifying -> watching; timed_out and needs_attention wait for a human.",
        value_mappings(PHASES, PHASE_COLORS)), 24, 7))
    P.append(L.place(state_timeline(
        "Kafka Connect state",
        [target(code_expr("cdc_sentinel_connector_state", "state", STATES, CONN, "connector"),
                "{{connector}}")],
        "The connector's state in Kafka Connect. A hold shows as PAUSED (or STOPPED with "
        "--hold-with stop).",
        value_mappings(STATES, STATE_COLORS)), 24, 7))
    P.append(L.place(timeseries(
        "Actions on connectors",
        [target(f"sum by (connector, action, result) (increase(cdc_sentinel_actions_total{{{CONN}}}[$__interval])) > 0",
                "{{connector}} {{action}} {{result}}")],
        "pause / stop / resume / restart calls the agent made, per interval, with their "
        "result (ok, error, dry_run). Also shown as annotations on every panel.",
        bars=True, stack=True, decimals=0,
        overrides=[by_name_override(".* error$", {"color": {"mode": "fixed", "fixedColor": "red"}})]),
        12, 8))
    P.append(L.place(timeseries(
        "Time in recovery vs maximum wait",
        [target(f"time() - cdc_sentinel_recovery_started_timestamp_seconds{{{CONN}}}",
                "{{connector}} waited", ref="A"),
         target(f"cdc_sentinel_recovery_max_wait_seconds{{{CONN}}} and on (job, instance, connector) (cdc_sentinel_recovery_active{{{CONN}}} == 1)",
                "{{connector}} max wait", ref="B")],
        "How long the current recovery has lasted, against the maximum wait that applies to "
        "the connector; past it the phase becomes timed_out.", unit="s",
        overrides=[by_name_override(".* max wait$", {
            "custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
            "color": {"mode": "fixed", "fixedColor": "red"}})]), 12, 8))
    P.append(L.place(timeseries(
        "Failed tasks",
        [target(f'sum by (connector) (cdc_sentinel_connector_tasks{{{CONN}, state="FAILED"}})',
                "{{connector}}")],
        "Tasks in state FAILED.", step=True, decimals=0), 8, 7))
    P.append(L.place(timeseries(
        "Resume attempts in the current recovery",
        [target(f"cdc_sentinel_recovery_resume_attempts{{{CONN}}}", "{{connector}}")],
        "Resume attempts so far in the current recovery (0 until the first).", step=True,
        decimals=0), 8, 7))
    P.append(L.place(timeseries(
        "Held by cdc-sentinel",
        [target(f"cdc_sentinel_managed{{{CONN}}}", "{{connector}}")],
        "1 while the agent holds the connector (it paused or stopped it and will resume it).",
        step=True, decimals=0), 8, 7))
    P.append(L.place(timeseries(
        "Recoveries started",
        [target(f"sum by (connector, reason) (increase(cdc_sentinel_recoveries_started_total{{{CONN}}}[$__interval])) > 0",
                "{{connector}} {{reason}}")],
        "Recoveries started, by reason: task_failed, probe_failed, maintenance.", bars=True,
        stack=True, decimals=0), 8, 7))
    P.append(L.place(timeseries(
        "Task failures observed",
        [target(f"sum by (connector) (increase(cdc_sentinel_task_failures_total{{{CONN}}}[$__interval])) > 0",
                "{{connector}}")],
        "Transitions of a task (or the connector) into FAILED that the agent saw.", bars=True,
        stack=True, decimals=0), 8, 7))
    P.append(L.place(timeseries(
        "Timeouts",
        [target(f"sum by (connector) (increase(cdc_sentinel_recovery_timeouts_total{{{CONN}}}[$__interval])) > 0",
                "{{connector}}")],
        "Recoveries that reached their maximum wait (each one paged: CDCRecoveryTimedOut).",
        bars=True, stack=True, decimals=0), 8, 7))
    P.append(L.place(table(
        "Recoveries now",
        [target(f'max by (connector, phase) (cdc_sentinel_recovery_phase{{{CONN}, phase!="watching"}}) == 1',
                ref="A", instant=True, table=True),
         target(f"max by (connector, target, reason) (cdc_sentinel_recovery_info{{{CONN}}})",
                ref="B", instant=True, table=True),
         target(f"max by (connector) (time() - cdc_sentinel_recovery_started_timestamp_seconds{{{CONN}}})",
                ref="C", instant=True, table=True),
         target(f"max by (connector) (cdc_sentinel_recovery_max_wait_seconds{{{CONN}}} and on (job, instance, connector) cdc_sentinel_recovery_info{{{CONN}}})",
                ref="D", instant=True, table=True),
         target(f"max by (connector) (cdc_sentinel_recovery_resume_attempts{{{CONN}}} and on (job, instance, connector) cdc_sentinel_recovery_info{{{CONN}}})",
                ref="E", instant=True, table=True)],
        "Connectors not in phase watching: phase, why, database, how long, the maximum wait "
        "and resume attempts.",
        rename={"connector": "Connector", "phase": "Phase", "target": "Database",
                "reason": "Reason", "Value #C": "In recovery for", "Value #D": "Maximum wait",
                "Value #E": "Resume attempts"},
        exclude=["Time", "Value #A", "Value #B"],
        overrides=[column_override("In recovery for", {"unit": "s"}),
                   column_override("Maximum wait", {"unit": "s"}),
                   column_override("Phase", {
                       "mappings": [{"type": "value", "options": {p: {"color": c, "index": i}
                                                                  for i, (p, c) in enumerate(zip(PHASES, PHASE_COLORS))}}],
                       "custom.cellOptions": {"type": "color-text"}})]), 16, 7))
    P.append(L.place(bargauge(
        "Average duration of finished recoveries",
        [target(f"sum by (outcome) (increase(cdc_sentinel_recovery_duration_seconds_sum{{{JOB}}}[$__range])) / sum by (outcome) (increase(cdc_sentinel_recovery_duration_seconds_count{{{JOB}}}[$__range]))",
                "{{outcome}}", instant=True)],
        "Mean duration of the recoveries that ended in the time range, by outcome (all "
        "connectors of the job: this histogram has no connector label).", unit="s"), 8, 7))

    annotations = [
        {
            "name": "cdc-sentinel actions",
            "datasource": DS,
            "enable": True,
            "hide": False,
            "iconColor": "orange",
            "expr": f"sum by (connector, action, result) (increase(cdc_sentinel_actions_total{{{CONN}}}[1m])) > 0",
            "step": "1m",
            "titleFormat": "{{action}} {{connector}}",
            "textFormat": "result: {{result}}",
            "tagKeys": "connector,action,result",
            "useValueForTime": False,
        },
        {
            "name": "Recovery timed out",
            "datasource": DS,
            "enable": True,
            "hide": False,
            "iconColor": "red",
            "expr": f"sum by (connector) (increase(cdc_sentinel_recovery_timeouts_total{{{CONN}}}[1m])) > 0",
            "step": "1m",
            "titleFormat": "timed out: {{connector}}",
            "textFormat": "held until a human resumes it",
            "tagKeys": "connector",
            "useValueForTime": False,
        },
    ]
    return dashboard(
        "cdc-sentinel-recovery", "cdc-sentinel / Recovery timeline",
        "Per connector: the recovery phase over time, the Kafka Connect state, the actions "
        "the agent took, and the time in recovery against the maximum wait.", P, annotations)


# ---------------------------------------------------------------------------------------------
# 3. Database probes


def probes():
    L = Layout()
    P = []
    P.append(L.place(state_timeline(
        "Probe result",
        [target(f"max by (target) (cdc_sentinel_probe_success{{{TARGET}}})", "{{target}}")],
        "Whether the last probe of each database succeeded.",
        [{"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0},
                                       "1": {"text": "up", "color": "green", "index": 1}}}]),
        24, 6))
    P.append(L.place(state_timeline(
        "Last probe answer",
        [target(code_expr("cdc_sentinel_probe_last_reason", "reason", REASONS, TARGET, "target"),
                "{{target}}")],
        "What the database (or its listener) answered: ok, refused (no listener), timeout, "
        "dns, service_unknown (listener up, service not registered: instance down or "
        "starting), blocked/restricted (mounted, restricted or shutting down), no_handler / "
        "too_many_connections (overloaded), starting_up, protocol_error.",
        value_mappings(REASONS, ["green", "red", "red", "purple", "orange", "orange", "orange",
                                 "yellow", "yellow", "yellow", "purple"])), 24, 6))
    lat = []
    for ref, q, name in (("A", "0.5", "p50"), ("B", "0.9", "p90"), ("C", "0.99", "p99")):
        lat.append(target(
            f"histogram_quantile({q}, sum by (target, le) (rate(cdc_sentinel_probe_duration_seconds_bucket{{{TARGET}}}[$__rate_interval])))",
            "{{target}} " + name, ref=ref))
    P.append(L.place(timeseries(
        "Probe duration percentiles", lat,
        "p50, p90 and p99 of probe durations (from the cdc_sentinel_probe_duration_seconds "
        "histogram). A probe that hits --probe-timeout counts as a timeout failure.", unit="s"),
        12, 8))
    P.append(L.place(timeseries(
        "Failed probes by reason",
        [target(f"sum by (target, reason) (increase(cdc_sentinel_probe_failures_total{{{TARGET}}}[$__interval])) > 0",
                "{{target}} {{reason}}")],
        "Failed probes per interval, by reason.", bars=True, stack=True, decimals=0), 12, 8))
    P.append(L.place(bargauge(
        "Failures by reason in the time range",
        [target(f"sum by (reason) (increase(cdc_sentinel_probe_failures_total{{{TARGET}}}[$__range])) > 0",
                "{{reason}}", instant=True)],
        "All failed probes of the selected databases in the time range, by reason.",
        decimals=0), 8, 7))
    P.append(L.place(timeseries(
        "Since the last successful probe",
        [target(f"time() - cdc_sentinel_probe_last_success_timestamp_seconds{{{TARGET}}}",
                "{{target}}")],
        "Seconds since each database last answered a probe successfully (no line until it "
        "has once).", unit="s"), 8, 7))
    P.append(L.place(timeseries(
        "Probes per minute",
        [target(f"sum by (target) (rate(cdc_sentinel_probe_duration_seconds_count{{{TARGET}}}[$__rate_interval])) * 60",
                "{{target}}")],
        "How often each database is probed (--probe-interval; faster during a recovery if the "
        "agent probes more often then).", decimals=1), 8, 7))
    P.append(L.place(table(
        "Databases",
        [target(f"max by (target) (cdc_sentinel_probe_success{{{TARGET}}})",
                ref="A", instant=True, table=True),
         target(f"max by (target, reason) (cdc_sentinel_probe_last_reason{{{TARGET}}}) == 1",
                ref="B", instant=True, table=True),
         target(f"max by (target) (time() - cdc_sentinel_probe_last_success_timestamp_seconds{{{TARGET}}})",
                ref="C", instant=True, table=True),
         target(f'count by (target) (cdc_sentinel_connector_target_info{{{CONN}, target=~"$target"}})',
                ref="D", instant=True, table=True)],
        "Each probed database: up or down, the last answer, time since the last success, and "
        "how many selected connectors read it.",
        rename={"target": "Database", "Value #A": "Probe", "reason": "Last answer",
                "Value #C": "Since last success", "Value #D": "Connectors"},
        exclude=["Time", "Value #B"],
        overrides=[column_override("Since last success", {"unit": "s"}),
                   column_override("Probe", {"mappings": [{"type": "value", "options": {
                       "0": {"text": "down", "color": "red", "index": 0},
                       "1": {"text": "up", "color": "green", "index": 1}}}],
                       "custom.cellOptions": {"type": "color-text"}})]), 24, 7))
    return dashboard(
        "cdc-sentinel-probes", "cdc-sentinel / Database probes",
        "The agent's probes of each connector's database: results, answers, durations and "
        "failure reasons.", P)


DASHBOARDS = {
    "cdc-sentinel-fleet.json": fleet,
    "cdc-sentinel-recovery.json": recovery,
    "cdc-sentinel-probes.json": probes,
}


def render(build):
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv):
    check = "--check" in argv[1:]
    stale = []
    for name, build in DASHBOARDS.items():
        path = os.path.join(HERE, name)
        text = render(build)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    current = f.read()
            except FileNotFoundError:
                current = None
            if current != text:
                stale.append(name)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote dashboards/{name}")
    if stale:
        print("dashboards out of date (run python3 dashboards/build.py): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
