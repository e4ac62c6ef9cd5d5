"""The Grafana dashboards. Two halves: `queries()` holds every PromQL expression (built from the
table of metrics and the knobs, nothing else), the layout functions below place panels and only
name queries. Conventions the output keeps by construction: every query goes to the
`${datasource}` variable; dashboard variables appear only inside =~ matchers (so a query can be
evaluated outside Grafana with `.+` in their place); the knob selector is in every selector.

Several agents may report one Kafka Connect cluster: per-connector facts are deduplicated with
max by (cluster labels, connector) before they are counted (a standby reports the same
connectors, or reports them idle)."""

import re

# Presentation only: colours of known values; a value the table of metrics adds later still
# shows, in the fallback colour.
COLORS = {
    "phase": {"watching": "green", "holding": "yellow", "waiting": "orange", "resuming": "blue",
              "verifying": "purple", "timed_out": "red", "needs_attention": "dark-red"},
    "state": {"RUNNING": "green", "PAUSED": "blue", "STOPPED": "purple", "RESTARTING": "yellow",
              "UNASSIGNED": "text", "FAILED": "red"},
    "reason": {"ok": "green", "refused": "red", "timeout": "red", "dns": "purple",
               "service_unknown": "orange", "blocked": "orange", "restricted": "orange",
               "no_handler": "yellow", "starting_up": "yellow", "too_many_connections": "yellow",
               "protocol_error": "purple"},
}
FALLBACK = "text"
STATE_ORDER = ["RUNNING", "PAUSED", "STOPPED", "RESTARTING", "UNASSIGNED", "FAILED"]
DS = {"type": "prometheus", "uid": "${datasource}"}
BUILTIN_VARS = {"__interval": "1m", "__rate_interval": "1m", "__range": "1h", "__range_s": "3600",
                "__range_ms": "3600000", "__interval_ms": "60000"}
VAR_RE = re.compile(r"\$\{([a-zA-Z_]\w*)(?::\w+)?\}|\$([a-zA-Z_]\w*)|\[\[([a-zA-Z_]\w*)\]\]")


class Layout:
    """Places panels left to right, wrapping at 24 columns."""

    def __init__(self):
        self.x = self.y = self.row_h = 0
        self.next_id = 1

    def place(self, panel, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["id"] = self.next_id
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel = {"type": "row", "title": title, "collapsed": False, "panels": []}
        self.place(panel, 24, 1)
        self.x, self.y, self.row_h = 0, self.y + 1, 0
        return panel


def target(expr, legend="", ref="A", instant=False, table=False):
    return {"datasource": DS, "refId": ref, "expr": expr, "legendFormat": legend or "__auto",
            "range": not instant, "instant": instant, "format": "table" if table else "time_series"}


def value_mappings(names, colors):
    return [{"type": "value", "options": {str(i): {"text": n, "color": c, "index": i}
                                          for i, (n, c) in enumerate(zip(names, colors))}}]


def text_mappings(names, colors):
    return [{"type": "value", "options": {n: {"color": c, "index": i}
                                          for i, (n, c) in enumerate(zip(names, colors))}}]


def base_panel(kind, title, targets, description="", unit=None, mappings=None, thresholds=None,
               custom=None, options=None, decimals=None, color=None, overrides=None):
    defaults = {}
    if unit:
        defaults["unit"] = unit
    if decimals is not None:
        defaults["decimals"] = decimals
    if mappings:
        defaults["mappings"] = mappings
    defaults["thresholds"] = thresholds or {"mode": "absolute", "steps": [{"color": "green", "value": None}]}
    if color:
        defaults["color"] = color
    if custom:
        defaults["custom"] = custom
    return {"type": kind, "title": title, "description": description, "datasource": DS,
            "targets": targets, "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "options": options or {}}


def steps(*pairs):
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in pairs]}


def red_above(n):
    return steps(("green", None), ("red", n))


def orange_above(n):
    return steps(("green", None), ("orange", n))


def stat(title, expr, description, thresholds=None, mappings=None, unit=None):
    return base_panel("stat", title, [target(expr, instant=True)], description, unit=unit,
                      mappings=mappings, thresholds=thresholds, color={"mode": "thresholds"},
                      options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                               "colorMode": "background", "graphMode": "none", "justifyMode": "center",
                               "textMode": "value", "orientation": "auto"})


def timeseries(title, targets, description, unit=None, stack=False, bars=False, step=False,
               overrides=None, decimals=None, min0=True):
    custom = {"drawStyle": "bars" if bars else "line",
              "lineInterpolation": "stepAfter" if step else "linear",
              "fillOpacity": 80 if bars else (30 if stack else 10), "lineWidth": 1,
              "showPoints": "never", "spanNulls": False,
              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    p = base_panel("timeseries", title, targets, description, unit=unit, custom=custom,
                   overrides=overrides, decimals=decimals, color={"mode": "palette-classic"},
                   options={"legend": {"displayMode": "table", "placement": "right", "showLegend": True,
                                       "calcs": ["lastNotNull", "max"]},
                            "tooltip": {"mode": "multi", "sort": "desc"}})
    if min0:
        p["fieldConfig"]["defaults"]["min"] = 0
    return p


def state_timeline(title, targets, description, mappings):
    return base_panel("state-timeline", title, targets, description, mappings=mappings,
                      color={"mode": "thresholds"}, custom={"fillOpacity": 80, "lineWidth": 0},
                      options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
                               "alignValue": "left",
                               "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
                               "tooltip": {"mode": "single"}})


def table(title, targets, description, rename, exclude, overrides=None):
    p = base_panel("table", title, targets, description, overrides=overrides,
                   options={"showHeader": True, "cellHeight": "sm",
                            "footer": {"show": False, "reducer": ["sum"], "fields": ""}})
    p["transformations"] = [{"id": "merge", "options": {}},
                            {"id": "organize", "options": {"excludeByName": {n: True for n in exclude},
                                                           "renameByName": rename, "indexByName": {}}}]
    return p


def bargauge(title, targets, description, unit=None, decimals=None):
    return base_panel("bargauge", title, targets, description, unit=unit, decimals=decimals,
                      color={"mode": "palette-classic"},
                      options={"orientation": "horizontal", "displayMode": "basic", "showUnfilled": True,
                               "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})


def by_name(regex, props):
    return {"matcher": {"id": "byRegexp", "options": regex},
            "properties": [{"id": k, "value": v} for k, v in props.items()]}


def column(name, props):
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": k, "value": v} for k, v in props.items()]}


UPDOWN = [{"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0},
                                        "1": {"text": "up", "color": "green", "index": 1}}}]
YESNO = [{"type": "value", "options": {"0": {"text": "no", "index": 0},
                                       "1": {"text": "yes", "color": "orange", "index": 1}}}]


class Dashboards:
    def __init__(self, ctx):
        self.c = ctx
        self.k = ctx.k
        self.db = ctx.k["dashboards"]
        self._built = None
        self.Q = self.queries()

    # ---- selectors ------------------------------------------------------------------------------
    def cvars(self):
        return [f'{l}=~"${l}"' for l in self.c.cl]

    def J(self, series, **m):
        """Selector of the chosen cluster(s)."""
        return self.c.s(series, _raw=self.cvars(), **m)

    def C(self, series, **m):
        """... and the chosen connectors."""
        return self.c.s(series, _raw=self.cvars() + ['connector=~"$connector"'], **m)

    def T(self, series, **m):
        """... and the chosen databases."""
        return self.c.s(series, _raw=self.cvars() + ['target=~"$target"'], **m)

    def code_expr(self, metric, label, by, sel):
        """One series per `by` whose value is the index of the label value at 1 (values from the
        table of metrics, in its order)."""
        values = self.order(metric, label)
        branches = [f"({sel(metric, **{label: v})} == 1) * {i}" for i, v in enumerate(values)]
        return f"max by ({by}) (\n    " + "\n  or ".join(branches) + "\n)"

    def order(self, metric, label):
        values = self.c.values(metric, label)
        if label == "state":
            values = [v for v in STATE_ORDER if v in values] + [v for v in values if v not in STATE_ORDER]
        return values

    def colors(self, kind, values):
        return [COLORS[kind].get(v, FALLBACK) for v in values]

    # ---- every query -------------------------------------------------------------------------------
    def queries(self):
        C, J, T, cl = self.C, self.J, self.T, self.c.by
        conn = cl("connector")
        cic = cl("instance", "connector")
        q = {}
        # fleet, now
        q["connectors"] = f"count(max by ({conn}) ({C('cdc_sentinel_connector_state')}))"
        for state in ("RUNNING", "FAILED"):
            q[f"state_{state}"] = f"sum(max by ({conn}) ({C('cdc_sentinel_connector_state', state=state)}))"
        q["failed_tasks"] = f"sum(max by ({conn}) ({C('cdc_sentinel_connector_tasks', state='FAILED')}))"
        q["in_recovery"] = f"sum(max by ({conn}) ({C('cdc_sentinel_recovery_active')}))"
        for ph in ("timed_out", "needs_attention"):
            q[f"phase_{ph}"] = f"sum(max by ({conn}) ({C('cdc_sentinel_recovery_phase', phase=ph)}))"
        q["stalled"] = f"sum(max by ({conn}) ({C('cdc_sentinel_connector_stalled')}))"
        q["connect_up_min"] = f"min({J('cdc_sentinel_connect_up')})"
        q["acting_agents"] = f"sum({J('cdc_sentinel_leader')})"
        # the connectors table
        q["t_state"] = f"max by (connector, state) ({C('cdc_sentinel_connector_state')}) == 1"
        q["t_phase"] = f"max by (connector, phase) ({C('cdc_sentinel_recovery_phase')}) == 1"
        q["t_target"] = f"max by (connector, target) ({C('cdc_sentinel_connector_target_info')})"
        q["t_failed"] = f"max by (connector) ({C('cdc_sentinel_connector_tasks', state='FAILED')})"
        q["t_tasks"] = f"max by (connector) (sum by ({cic}) ({C('cdc_sentinel_connector_tasks')}))"
        q["t_managed"] = f"max by (connector) ({C('cdc_sentinel_managed')})"
        q["t_manager"] = f"max by (connector, manager) ({C('cdc_sentinel_connector_managed_by')}) == 1"
        q["t_stalled"] = f"max by (connector) ({C('cdc_sentinel_connector_stalled')})"
        # fleet, over time
        q["by_state"] = f"sum by (state) (max by ({cl('connector', 'state')}) ({C('cdc_sentinel_connector_state')}))"
        q["failed_by_conn"] = f"max by (connector) ({C('cdc_sentinel_connector_tasks', state='FAILED')}) > 0"
        q["by_phase"] = (f"sum by (phase) (max by ({cl('connector', 'phase')}) "
                         f"({C('cdc_sentinel_recovery_phase', phase=('!=', 'watching'))})) > 0")
        q["started_by_reason"] = f"sum by (reason) (increase({C('cdc_sentinel_recoveries_started_total')}[$__interval])) > 0"
        q["timeouts_sum"] = f"sum(increase({C('cdc_sentinel_recovery_timeouts_total')}[$__interval])) > 0"
        # agents
        q["connect_up"] = f"{J('cdc_sentinel_connect_up')}"
        q["since_poll"] = f"time() - {J('cdc_sentinel_connect_last_success_timestamp_seconds')}"
        q["rest_calls"] = (f"sum by (operation, code) (rate("
                           f"{J('cdc_sentinel_connect_request_duration_seconds_count')}[$__rate_interval]))")
        q["outcomes"] = (f"sum by (outcome) (increase("
                         f"{J('cdc_sentinel_recovery_duration_seconds_count')}[$__range]))")
        q["target_unknown"] = f"sum(max by ({conn}) ({C('cdc_sentinel_connector_target_unknown')}))"
        q["unrecorded_holds"] = f"max({J('cdc_sentinel_unrecorded_holds')})"
        q["leader"] = f"max by (instance) ({J('cdc_sentinel_leader')})"
        q["leader_changes"] = f"sum by (instance) (increase({J('cdc_sentinel_leader_changes_total')}[$__interval])) > 0"
        q["a_build"] = f"max by (instance, version, revision) ({J('cdc_sentinel_build_info')})"
        q["a_leader"] = f"max by (instance) ({J('cdc_sentinel_leader')})"
        q["a_store"] = f"max by (instance) ({J('cdc_sentinel_state_store_up')})"
        q["a_dry_run"] = f"max by (instance) ({J('cdc_sentinel_dry_run')})"
        q["a_k8s"] = f"max by (instance) ({J('cdc_sentinel_kubernetes_up')})"
        q["k8s_calls"] = (f"sum by (verb, code) (rate("
                          f"{J('cdc_sentinel_kubernetes_request_duration_seconds_count')}[$__rate_interval]))")
        q["k8s_p90"] = (f"histogram_quantile(0.9, sum by (verb, le) (rate("
                        f"{J('cdc_sentinel_kubernetes_request_duration_seconds_bucket')}[$__rate_interval])))")
        # recovery timeline
        q["phase_code"] = self.code_expr("cdc_sentinel_recovery_phase", "phase", "connector", C)
        q["state_code"] = self.code_expr("cdc_sentinel_connector_state", "state", "connector", C)
        q["actions"] = (f"sum by (connector, action, result) (increase("
                        f"{C('cdc_sentinel_actions_total')}[$__interval])) > 0")
        q["waited"] = f"max by (connector) (time() - {C('cdc_sentinel_recovery_started_timestamp_seconds')})"
        q["max_wait"] = (f"max by (connector) ({C('cdc_sentinel_recovery_max_wait_seconds')} "
                         f"and on ({cic}) ({C('cdc_sentinel_recovery_active')} == 1))")
        q["failed_tasks_conn"] = f"max by (connector) ({C('cdc_sentinel_connector_tasks', state='FAILED')})"
        q["attempts"] = f"max by (connector) ({C('cdc_sentinel_recovery_resume_attempts')})"
        q["managed"] = f"max by (connector) ({C('cdc_sentinel_managed')})"
        q["started"] = (f"sum by (connector, reason) (increase("
                        f"{C('cdc_sentinel_recoveries_started_total')}[$__interval])) > 0")
        q["task_failures"] = (f"max by (connector) (increase("
                              f"{C('cdc_sentinel_task_failures_total')}[$__interval])) > 0")
        q["timeouts"] = (f"sum by (connector) (increase("
                         f"{C('cdc_sentinel_recovery_timeouts_total')}[$__interval])) > 0")
        q["position"] = f"max by (connector) ({C('cdc_sentinel_source_offset_position')})"
        q["since_advanced"] = (f"time() - max by (connector) "
                               f"({C('cdc_sentinel_source_offset_advanced_timestamp_seconds')})")
        q["stalled_conn"] = f"max by (connector) ({C('cdc_sentinel_connector_stalled')})"
        q["r_phase"] = (f"max by (connector, phase) "
                        f"({C('cdc_sentinel_recovery_phase', phase=('!=', 'watching'))}) == 1")
        q["r_info"] = f"max by (connector, target, reason) ({C('cdc_sentinel_recovery_info')})"
        q["r_waited"] = q["waited"]
        q["r_max_wait"] = (f"max by (connector) ({C('cdc_sentinel_recovery_max_wait_seconds')} "
                           f"and on ({cic}) {C('cdc_sentinel_recovery_info')})")
        q["r_attempts"] = (f"max by (connector) ({C('cdc_sentinel_recovery_resume_attempts')} "
                           f"and on ({cic}) {C('cdc_sentinel_recovery_info')})")
        q["avg_duration"] = (f"sum by (outcome) (increase({J('cdc_sentinel_recovery_duration_seconds_sum')}[$__range])) "
                             f"/ sum by (outcome) (increase({J('cdc_sentinel_recovery_duration_seconds_count')}[$__range]))")
        q["ann_actions"] = (f"sum by (connector, action, result) (increase("
                            f"{C('cdc_sentinel_actions_total')}[1m])) > 0")
        q["ann_timeouts"] = (f"sum by (connector) (increase("
                             f"{C('cdc_sentinel_recovery_timeouts_total')}[1m])) > 0")
        # probes
        q["probe_up"] = f"max by (target) ({T('cdc_sentinel_probe_success')})"
        q["probe_reason_code"] = self.code_expr("cdc_sentinel_probe_last_reason", "reason", "target", T)
        q["blind"] = f"max by (target) ({T('cdc_sentinel_probe_blind')})"
        for name, quant in (("p50", "0.5"), ("p90", "0.9"), ("p99", "0.99")):
            q[f"probe_{name}"] = (f"histogram_quantile({quant}, sum by (target, le) (rate("
                                  f"{T('cdc_sentinel_probe_duration_seconds_bucket')}[$__rate_interval])))")
        q["probe_failures"] = (f"sum by (target, reason) (increase("
                               f"{T('cdc_sentinel_probe_failures_total')}[$__interval])) > 0")
        q["probe_failures_range"] = (f"sum by (reason) (increase("
                                     f"{T('cdc_sentinel_probe_failures_total')}[$__range])) > 0")
        q["since_probe"] = f"max by (target) (time() - {T('cdc_sentinel_probe_last_success_timestamp_seconds')})"
        q["probes_per_min"] = (f"sum by (target) (rate("
                               f"{T('cdc_sentinel_probe_duration_seconds_count')}[$__rate_interval])) * 60")
        q["d_up"] = q["probe_up"]
        q["d_reason"] = f"max by (target, reason) ({T('cdc_sentinel_probe_last_reason')}) == 1"
        q["d_since"] = q["since_probe"]
        both = self.c.s("cdc_sentinel_connector_target_info",
                        _raw=self.cvars() + ['connector=~"$connector"', 'target=~"$target"'])
        q["d_conns"] = f"count by (target) (max by ({cl('connector', 'target')}) ({both}))"
        q["d_blind"] = q["blind"]
        return q

    # ---- dashboards ------------------------------------------------------------------------------
    def variables(self):
        sel = self.k["selector"]
        ds_default = self.db["datasource"]

        def query_var(name, label, query, multi):
            v = {"type": "query", "name": name, "label": label, "datasource": DS,
                 "query": {"query": query, "refId": "StandardVariableQuery"}, "definition": query,
                 "refresh": 2, "sort": 1, "regex": "", "hide": 0, "multi": multi,
                 "includeAll": multi, "current": {}, "options": []}
            if multi:
                v["allValue"] = ".+"
                v["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
            return v

        out = [{"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus",
                "regex": "", "refresh": 1, "hide": 0,
                "current": {"selected": True, "text": ds_default, "value": ds_default} if ds_default else {},
                "options": []}]
        done = []
        for l in self.c.cl:
            self.c.used.add("cdc_sentinel_build_info")
            matchers = ", ".join([sel] + done)
            out.append(query_var(l, l.capitalize(), f"label_values(cdc_sentinel_build_info{{{matchers}}}, {l})", False))
            done.append(f'{l}=~"${l}"')
        cv = ", ".join([sel] + self.cvars())
        out.append(query_var("connector", "Connector",
                             f"label_values({self.c.name('cdc_sentinel_connector_state')}{{{cv}}}, connector)", True))
        out.append(query_var("target", "Database",
                             f'label_values({self.c.name("cdc_sentinel_connector_target_info")}{{{cv}, connector=~"$connector"}}, target)', True))
        return out

    def dashboard(self, key, title, description, panels, annotations=None):
        db = self.db
        d = {"uid": db["uids"][key], "title": db["title_prefix"] + title, "description": description,
             "tags": list(db["tags"]), "timezone": db["timezone"], "editable": True, "graphTooltip": 1,
             "refresh": db["refresh"] or "", "time": {"from": db["time_from"], "to": "now"},
             "timepicker": {}, "schemaVersion": 39, "version": 1,
             "links": [{"type": "dashboards", "title": "cdc-sentinel", "tags": list(db["tags"]),
                        "asDropdown": True, "includeVars": True, "keepTime": True, "targetBlank": False,
                        "icon": "external link", "tooltip": "", "url": ""}],
             "annotations": {"list": annotations or []},
             "templating": {"list": self.variables()}, "panels": panels}
        return d

    def build(self):
        if self._built is None:
            self._built = {"cdc-sentinel-fleet.json": self.fleet(),
                           "cdc-sentinel-recovery.json": self.recovery(),
                           "cdc-sentinel-probes.json": self.probes()}
        return self._built

    def fleet(self):
        Q, L, P = self.Q, Layout(), []
        phases = self.order("cdc_sentinel_recovery_phase", "phase")
        states = self.order("cdc_sentinel_connector_state", "state")
        P.append(L.row("Now"))
        for title, key, desc, th in (
            ("Connectors", "connectors", "Connectors the agents watch (after --connector/--include/--exclude).", None),
            ("RUNNING", "state_RUNNING", "Connectors in Kafka Connect state RUNNING. RUNNING is not healthy: a Debezium "
             "connector retries a database outage while it reads RUNNING (see Database probes), and a stalled one "
             "captures nothing.", None),
            ("FAILED connectors", "state_FAILED", "Connectors whose connector object is FAILED.", red_above(1)),
            ("Failed tasks", "failed_tasks", "Tasks in state FAILED across the selected connectors. A FAILED task never "
             "recovers by itself; pause/resume does not clear it.", red_above(1)),
            ("In recovery", "in_recovery", "Connectors the agent is holding (phases holding, waiting, resuming, "
             "verifying, timed_out).", orange_above(1)),
            ("Timed out", "phase_timed_out", "Recoveries past their maximum wait: held until a human resumes them "
             "(alert CDCRecoveryTimedOut).", red_above(1)),
            ("Needs attention", "phase_needs_attention", "Failures waiting cannot fix (offset gone, history topic "
             "missing, ...): alert CDCNeedsAttention.", red_above(1)),
            ("Stalled", "stalled", "RUNNING connectors whose committed offset has not advanced for --stall-after "
             "although heartbeats are configured: they capture nothing (alert CDCConnectorStalled).", red_above(1)),
        ):
            P.append(L.place(stat(title, Q[key], desc, thresholds=th), 3, 4))
        P.append(L.place(stat(
            "Kafka Connect", Q["connect_up_min"], "Whether every agent's last poll of Kafka Connect succeeded.",
            thresholds=steps(("red", None), ("green", 1)),
            mappings=[{"type": "value", "options": {"0": {"text": "UNREACHABLE", "color": "red", "index": 0},
                                                    "1": {"text": "reachable", "color": "green", "index": 1}}}]), 3, 4))
        P.append(L.place(stat(
            "Agents leading", Q["acting_agents"],
            "Agents that lead (act) per the selection: exactly 1 per Kafka Connect cluster. 0: nobody protects the "
            "connectors (CDCNoLeader); 2 or more: split brain (CDCSplitBrain).",
            thresholds=steps(("red", None), ("green", 1), ("red", 2))), 3, 4))
        P.append(L.place(table(
            "Connectors",
            [target(Q["t_state"], ref="A", instant=True, table=True),
             target(Q["t_phase"], ref="B", instant=True, table=True),
             target(Q["t_target"], ref="C", instant=True, table=True),
             target(Q["t_failed"], ref="D", instant=True, table=True),
             target(Q["t_tasks"], ref="E", instant=True, table=True),
             target(Q["t_managed"], ref="F", instant=True, table=True),
             target(Q["t_manager"], ref="G", instant=True, table=True),
             target(Q["t_stalled"], ref="H", instant=True, table=True)],
            "One row per connector: Kafka Connect state, recovery phase, the database the agent probes for it, "
            "failed/total tasks, whether a hold of the agent is in effect, how the agent acts on it (REST or "
            "Strimzi) and whether it is stalled.",
            rename={"connector": "Connector", "state": "State", "phase": "Recovery phase", "target": "Database",
                    "Value #D": "Failed tasks", "Value #E": "Tasks", "Value #F": "Held by cdc-sentinel",
                    "manager": "Managed through", "Value #H": "Stalled"},
            exclude=["Time", "Value #A", "Value #B", "Value #C", "Value #G"],
            overrides=[
                column("State", {"mappings": text_mappings(states, self.colors("state", states)),
                                 "custom.cellOptions": {"type": "color-text"}}),
                column("Recovery phase", {"mappings": text_mappings(phases, self.colors("phase", phases)),
                                          "custom.cellOptions": {"type": "color-text"}}),
                column("Failed tasks", {"thresholds": red_above(1), "custom.cellOptions": {"type": "color-text"}}),
                column("Held by cdc-sentinel", {"mappings": YESNO}),
                column("Stalled", {"mappings": [{"type": "value", "options": {
                    "0": {"text": "no", "index": 0}, "1": {"text": "STALLED", "color": "red", "index": 1}}}],
                    "custom.cellOptions": {"type": "color-text"}}),
            ]), 24, 8))

        P.append(L.row("Over time"))
        P.append(L.place(timeseries("Connectors by state", [target(Q["by_state"], "{{state}}")],
                                    "How many selected connectors are in each Kafka Connect state.",
                                    stack=True, step=True, decimals=0), 12, 8))
        P.append(L.place(timeseries("Failed tasks by connector", [target(Q["failed_by_conn"], "{{connector}}")],
                                    "Tasks in state FAILED, per connector (connectors with none are hidden).",
                                    step=True, decimals=0), 12, 8))
        P.append(L.place(timeseries(
            "Connectors in recovery, by phase", [target(Q["by_phase"], "{{phase}}")],
            "Connectors in each non-watching phase. timed_out and needs_attention wait for a human.",
            stack=True, step=True, decimals=0,
            overrides=[by_name("timed_out|needs_attention", {"color": {"mode": "fixed", "fixedColor": "red"}})]), 12, 8))
        P.append(L.place(timeseries(
            "Recoveries started and timed out",
            [target(Q["started_by_reason"], "started: {{reason}}", ref="A"),
             target(Q["timeouts_sum"], "timed out", ref="B")],
            "Recoveries the agent started (by reason) and recoveries that reached their maximum wait, per interval.",
            bars=True, stack=True, decimals=0,
            overrides=[by_name("timed out", {"color": {"mode": "fixed", "fixedColor": "red"}})]), 12, 8))

        P.append(L.row("Kafka Connect and the agents"))
        P.append(L.place(timeseries("Kafka Connect reachable", [target(Q["connect_up"], "{{instance}}")],
                                    "1 if the agent's last poll of Kafka Connect succeeded (HTTP 200, well-formed).",
                                    step=True, decimals=0), 8, 8))
        P.append(L.place(timeseries("Since the last successful Connect poll", [target(Q["since_poll"], "{{instance}}")],
                                    "Seconds since each agent last polled Kafka Connect successfully; a few poll "
                                    "intervals at most when healthy.", unit="s"), 8, 8))
        P.append(L.place(timeseries("Kafka Connect REST calls", [target(Q["rest_calls"], "{{operation}} {{code}}")],
                                    "Every REST call the agents make, by operation and HTTP status (`error` = no "
                                    "answer).", unit="reqps"), 8, 8))
        P.append(L.place(state_timeline(
            "Leader", [target(Q["leader"], "{{instance}}")],
            "Which agent leads (acts) over time; the others stand by. One at a time per Kafka Connect cluster.",
            [{"type": "value", "options": {"0": {"text": "standby", "color": "blue", "index": 0},
                                           "1": {"text": "leader", "color": "green", "index": 1}}}]), 12, 6))
        P.append(L.place(timeseries("Leader changes", [target(Q["leader_changes"], "{{instance}}")],
                                    "Transitions of each agent into or out of leadership, per interval. Frequent "
                                    "changes point at the state store or at agents restarting.",
                                    bars=True, stack=True, decimals=0), 12, 6))
        P.append(L.place(table(
            "Agents",
            [target(Q["a_build"], ref="A", instant=True, table=True),
             target(Q["a_leader"], ref="B", instant=True, table=True),
             target(Q["a_store"], ref="C", instant=True, table=True),
             target(Q["a_dry_run"], ref="D", instant=True, table=True),
             target(Q["a_k8s"], ref="E", instant=True, table=True)],
            "Running agents: build, whether each leads, whether its state store (file or Kafka topic) and the "
            "Kubernetes API answer, and whether it runs with --dry-run (actions logged, never sent).",
            rename={"instance": "Agent", "version": "Version", "revision": "Revision", "Value #B": "Leader",
                    "Value #C": "State store", "Value #D": "Dry run", "Value #E": "Kubernetes API"},
            exclude=["Time", "Value #A"],
            overrides=[column("Dry run", {"mappings": [{"type": "value", "options": {
                "0": {"text": "no", "index": 0}, "1": {"text": "YES", "color": "orange", "index": 1}}}],
                "custom.cellOptions": {"type": "color-text"}}),
                column("Leader", {"mappings": [{"type": "value", "options": {
                    "0": {"text": "standby", "index": 0}, "1": {"text": "leader", "color": "green", "index": 1}}}]}),
                column("State store", {"mappings": UPDOWN, "custom.cellOptions": {"type": "color-text"}}),
                column("Kubernetes API", {"mappings": UPDOWN, "custom.cellOptions": {"type": "color-text"}})]),
            12, 6))
        P.append(L.place(bargauge("Finished recoveries by outcome", [target(Q["outcomes"], "{{outcome}}", instant=True)],
                                  "Recoveries that ended in the time range: recovered, timed_out_recovered "
                                  "(--after-timeout resume), handed_back (a human resumed it), deleted.",
                                  decimals=0), 6, 6))
        P.append(L.place(stat("Connectors without a database target", Q["target_unknown"],
                              "Selected connectors for which the agent found no database to probe: it will not act "
                              "on them. Give a target with --db or in the config file.",
                              thresholds=orange_above(1)), 6, 6))
        P.append(L.place(stat("PAUSED or STOPPED without a hold record", Q["unrecorded_holds"],
                              "Connectors PAUSED or STOPPED that the agent has no hold record for: a human's holds "
                              "(the agent never resumes them), or holds whose records were lost.",
                              thresholds=orange_above(1)), 6, 6))
        P.append(L.place(timeseries("Kubernetes API requests", [target(Q["k8s_calls"], "{{verb}} {{code}}")],
                                    "Requests to the Kubernetes API for KafkaConnector resources (Strimzi), by verb and "
                                    "HTTP status (`error` = no answer; 403 = a missing RBAC verb).",
                                    unit="reqps"), 6, 6))
        P.append(L.place(timeseries("Kubernetes API latency (p90)", [target(Q["k8s_p90"], "{{verb}}")],
                                    "90th percentile duration of Kubernetes API requests by verb.", unit="s"), 6, 6))
        return self.dashboard("fleet", "Fleet overview",
                              "Every connector cdc-sentinel watches: Kafka Connect states, failed tasks, recoveries, "
                              "timeouts, stalls, and the agents: leader, Kafka Connect, state store, Kubernetes API.", P)

    def recovery(self):
        Q, L, P = self.Q, Layout(), []
        phases = self.order("cdc_sentinel_recovery_phase", "phase")
        states = self.order("cdc_sentinel_connector_state", "state")
        P.append(L.place(state_timeline(
            "Recovery phase", [target(Q["phase_code"], "{{connector}}")],
            "The agent's recovery phase per connector: watching -> holding -> waiting -> resuming -> verifying -> "
            "watching; timed_out and needs_attention wait for a human.",
            value_mappings(phases, self.colors("phase", phases))), 24, 7))
        P.append(L.place(state_timeline(
            "Kafka Connect state", [target(Q["state_code"], "{{connector}}")],
            "The connector's state in Kafka Connect. A hold shows as PAUSED (or STOPPED with --hold-with stop).",
            value_mappings(states, self.colors("state", states))), 24, 7))
        P.append(L.place(timeseries(
            "Actions on connectors", [target(Q["actions"], "{{connector}} {{action}} {{result}}")],
            "pause / stop / resume / restart calls the agent made, per interval, with their result (ok, error, "
            "dry_run). Also shown as annotations on every panel.", bars=True, stack=True, decimals=0,
            overrides=[by_name(".* error$", {"color": {"mode": "fixed", "fixedColor": "red"}})]), 12, 8))
        P.append(L.place(timeseries(
            "Time in recovery vs maximum wait",
            [target(Q["waited"], "{{connector}} waited", ref="A"),
             target(Q["max_wait"], "{{connector}} max wait", ref="B")],
            "How long the current recovery has lasted, against the maximum wait that applies to the connector; past "
            "it the phase becomes timed_out.", unit="s",
            overrides=[by_name(".* max wait$", {"custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
                                                "color": {"mode": "fixed", "fixedColor": "red"}})]), 12, 8))
        P.append(L.place(timeseries(
            "Source offset position", [target(Q["position"], "{{connector}}")],
            "The connector's last committed source position (SCN, LSN, binlog position): a line that stays flat "
            "while the database is written to is a stall.", decimals=0, min0=False), 12, 7))
        P.append(L.place(timeseries(
            "Since the offset last advanced", [target(Q["since_advanced"], "{{connector}}")],
            "Seconds since each connector's committed offset last moved, as the agents see it. With heartbeats "
            "configured it moves even when the captured tables are idle.", unit="s"), 12, 7))
        P.append(L.place(state_timeline(
            "Stalled", [target(Q["stalled_conn"], "{{connector}}")],
            "RUNNING, but the committed offset has not advanced for --stall-after (alert CDCConnectorStalled).",
            [{"type": "value", "options": {"0": {"text": "advancing", "color": "green", "index": 0},
                                           "1": {"text": "STALLED", "color": "red", "index": 1}}}]), 24, 5))
        P.append(L.place(timeseries("Failed tasks", [target(Q["failed_tasks_conn"], "{{connector}}")],
                                    "Tasks in state FAILED.", step=True, decimals=0), 8, 7))
        P.append(L.place(timeseries("Resume attempts in the current recovery", [target(Q["attempts"], "{{connector}}")],
                                    "Resume attempts so far in the current recovery (0 until the first).",
                                    step=True, decimals=0), 8, 7))
        P.append(L.place(timeseries("Held by cdc-sentinel", [target(Q["managed"], "{{connector}}")],
                                    "1 while a hold of the agent is in effect on the connector (it paused or stopped "
                                    "it and will resume it).", step=True, decimals=0), 8, 7))
        P.append(L.place(timeseries("Recoveries started", [target(Q["started"], "{{connector}} {{reason}}")],
                                    "Recoveries started, by reason: " + ", ".join(
                                        self.c.values("cdc_sentinel_recoveries_started_total", "reason")) + ".",
                                    bars=True, stack=True, decimals=0), 8, 7))
        P.append(L.place(timeseries("Task failures observed", [target(Q["task_failures"], "{{connector}}")],
                                    "Transitions of a task (or the connector) into FAILED that the agents saw.",
                                    bars=True, stack=True, decimals=0), 8, 7))
        P.append(L.place(timeseries("Timeouts", [target(Q["timeouts"], "{{connector}}")],
                                    "Recoveries that reached their maximum wait (each one paged: CDCRecoveryTimedOut).",
                                    bars=True, stack=True, decimals=0), 8, 7))
        P.append(L.place(table(
            "Recoveries now",
            [target(Q["r_phase"], ref="A", instant=True, table=True),
             target(Q["r_info"], ref="B", instant=True, table=True),
             target(Q["r_waited"], ref="C", instant=True, table=True),
             target(Q["r_max_wait"], ref="D", instant=True, table=True),
             target(Q["r_attempts"], ref="E", instant=True, table=True)],
            "Connectors not in phase watching: phase, why, database, how long, the maximum wait and resume attempts.",
            rename={"connector": "Connector", "phase": "Phase", "target": "Database", "reason": "Reason",
                    "Value #C": "In recovery for", "Value #D": "Maximum wait", "Value #E": "Resume attempts"},
            exclude=["Time", "Value #A", "Value #B"],
            overrides=[column("In recovery for", {"unit": "s"}), column("Maximum wait", {"unit": "s"}),
                       column("Phase", {"mappings": text_mappings(phases, self.colors("phase", phases)),
                                        "custom.cellOptions": {"type": "color-text"}})]), 16, 7))
        P.append(L.place(bargauge("Average duration of finished recoveries",
                                  [target(Q["avg_duration"], "{{outcome}}", instant=True)],
                                  "Mean duration of the recoveries that ended in the time range, by outcome (all "
                                  "connectors: this histogram has no connector label).", unit="s"), 8, 7))
        annotations = [
            {"name": "cdc-sentinel actions", "datasource": DS, "enable": True, "hide": False, "iconColor": "orange",
             "expr": Q["ann_actions"], "step": "1m", "titleFormat": "{{action}} {{connector}}",
             "textFormat": "result: {{result}}", "tagKeys": "connector,action,result", "useValueForTime": False},
            {"name": "Recovery timed out", "datasource": DS, "enable": True, "hide": False, "iconColor": "red",
             "expr": Q["ann_timeouts"], "step": "1m", "titleFormat": "timed out: {{connector}}",
             "textFormat": "held until a human resumes it", "tagKeys": "connector", "useValueForTime": False},
        ]
        return self.dashboard("recovery", "Recovery timeline",
                              "Per connector: the recovery phase over time, the Kafka Connect state, the actions the "
                              "agent took, the time in recovery against the maximum wait, and the source offset.",
                              P, annotations)

    def probes(self):
        Q, L, P = self.Q, Layout(), []
        reasons = self.c.values("cdc_sentinel_probe_last_reason", "reason")
        P.append(L.place(state_timeline("Probe result", [target(Q["probe_up"], "{{target}}")],
                                        "Whether the last probe of each database succeeded.", UPDOWN), 24, 6))
        P.append(L.place(state_timeline(
            "Last probe answer", [target(Q["probe_reason_code"], "{{target}}")],
            "What the database (or its listener) answered: ok, refused (no listener), timeout, dns, service_unknown "
            "(listener up, service not registered: instance down or starting), blocked/restricted (mounted, "
            "restricted or shutting down), no_handler / too_many_connections (overloaded), starting_up, "
            "protocol_error.", value_mappings(reasons, self.colors("reason", reasons))), 24, 6))
        P.append(L.place(state_timeline(
            "Blind", [target(Q["blind"], "{{target}}")],
            "1 while an agent cannot see the database (dns, protocol_error, or never seen up since it started) while "
            "its connectors read RUNNING: it will not hold them on such failures (alert CDCProbeBlind).",
            [{"type": "value", "options": {"0": {"text": "sees it", "color": "green", "index": 0},
                                           "1": {"text": "BLIND", "color": "purple", "index": 1}}}]), 24, 4))
        P.append(L.place(timeseries(
            "Probe duration percentiles",
            [target(Q["probe_p50"], "{{target}} p50", ref="A"), target(Q["probe_p90"], "{{target}} p90", ref="B"),
             target(Q["probe_p99"], "{{target}} p99", ref="C")],
            "p50, p90 and p99 of probe durations (from the cdc_sentinel_probe_duration_seconds histogram). A probe "
            "that hits --probe-timeout counts as a timeout failure.", unit="s"), 12, 8))
        P.append(L.place(timeseries("Failed probes by reason", [target(Q["probe_failures"], "{{target}} {{reason}}")],
                                    "Failed probes per interval, by reason (every agent's probes).",
                                    bars=True, stack=True, decimals=0), 12, 8))
        P.append(L.place(bargauge("Failures by reason in the time range",
                                  [target(Q["probe_failures_range"], "{{reason}}", instant=True)],
                                  "All failed probes of the selected databases in the time range, by reason.",
                                  decimals=0), 8, 7))
        P.append(L.place(timeseries("Since the last successful probe", [target(Q["since_probe"], "{{target}}")],
                                    "Seconds since each database last answered a probe successfully (no line until it "
                                    "has once).", unit="s"), 8, 7))
        P.append(L.place(timeseries("Probes per minute", [target(Q["probes_per_min"], "{{target}}")],
                                    "How often each database is probed (--probe-interval; faster during a recovery if "
                                    "the agent probes more often then).", decimals=1), 8, 7))
        P.append(L.place(table(
            "Databases",
            [target(Q["d_up"], ref="A", instant=True, table=True),
             target(Q["d_reason"], ref="B", instant=True, table=True),
             target(Q["d_since"], ref="C", instant=True, table=True),
             target(Q["d_conns"], ref="D", instant=True, table=True),
             target(Q["d_blind"], ref="E", instant=True, table=True)],
            "Each probed database: up or down, the last answer, time since the last success, how many selected "
            "connectors read it, and whether an agent is blind to it.",
            rename={"target": "Database", "Value #A": "Probe", "reason": "Last answer",
                    "Value #C": "Since last success", "Value #D": "Connectors", "Value #E": "Blind"},
            exclude=["Time", "Value #B"],
            overrides=[column("Since last success", {"unit": "s"}),
                       column("Probe", {"mappings": UPDOWN, "custom.cellOptions": {"type": "color-text"}}),
                       column("Blind", {"mappings": YESNO})]), 24, 7))
        return self.dashboard("probes", "Database probes",
                              "The agents' probes of each connector's database: results, answers, durations, "
                              "failure reasons, and databases an agent cannot see.", P)

    # ---- for tests: every query, as Grafana has it and ready for /api/v1/query -------------------
    def queries_of(self, d):
        out = []
        for v in d["templating"]["list"]:
            if v["type"] == "query":
                m = re.match(r"^label_values\((.*),\s*\w+\)$", v["query"]["query"], re.S)
                out.append(("variable", "$" + v["name"], None, None, True, m.group(1)))
        for a in d["annotations"]["list"]:
            out.append(("annotation", a["name"], None, None, False, a["expr"]))
        for p in d["panels"]:
            for t in p.get("targets") or []:
                out.append(("panel", p["title"], p["id"], t["refId"], bool(t["instant"]), t["expr"]))
        return out


def substitute(expr, values=None):
    values = values or {}

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in BUILTIN_VARS:
            return BUILTIN_VARS[name]
        return values.get(name, ".+")
    return VAR_RE.sub(repl, expr)


def list_queries(dash, values=None):
    """Every query of every dashboard: dashboard, uid, kind, panel, panel_id, ref_id, instant,
    expr (as in Grafana), promql (variables substituted), metrics (families it reads)."""
    out = []
    for name, d in sorted(dash.build().items()):
        for kind, title, pid, ref, instant, expr in dash.queries_of(d):
            fams = set()
            for n in re.findall(r"\b(cdc_sentinel_\w+)", expr):
                base = re.sub(r"_(bucket|count|sum)$", "", n)
                fams.add(n if n in dash.c.m.by_name else base)
            fams = sorted(fams)
            out.append({"dashboard": f"dashboards/{name}", "uid": d["uid"], "kind": kind, "panel": title,
                        "panel_id": pid, "ref_id": ref, "instant": instant, "expr": expr,
                        "promql": substitute(expr, values), "metrics": fams})
    return out
