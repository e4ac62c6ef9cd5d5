"""Recording and alerting rules: queries built from the knobs and the table of metrics.

Several agents can report one Kafka Connect cluster (one per worker; one leads and acts, the
others stand by). Facts read from Kafka Connect (states, tasks, targets) are the same on every
agent and are deduplicated with max by (cluster labels, connector). Facts about the agent's own
decisions (phase, reason, hold, timestamps) are taken from the agent that acts only
(instance:cdc_sentinel_leader:acting), so a standby's stale copy never keeps an alert alive.
Counters of actions move only on the agent that acted and are summed over agents."""

from .knobs import duration

ACTING = "instance:cdc_sentinel_leader:acting"
BLIND = "cluster:cdc_sentinel_agent_blind:count"
TIMED_OUT = "cluster_connector_target:cdc_sentinel_recovery_timed_out:max"
RECORDS = (ACTING, BLIND, TIMED_OUT)


def indent(text, n):
    pad = " " * n
    return "\n".join(pad + line if line.strip() else "" for line in text.strip("\n").split("\n"))


def sq(text):
    """A YAML single-quoted scalar."""
    return "'" + text.replace("'", "''") + "'"


class Rules:
    def __init__(self, ctx):
        self.c = ctx
        self.k = ctx.k
        self.records = []
        self.alerts = []
        self.build()
        # pages first, in the order written below
        self.alerts.sort(key=lambda a: a["class"] != "critical")

    # ---- helpers --------------------------------------------------------------------------
    def lsel(self, *extra):
        """A Go-template expression: the selector of the alert's own cluster (+ extra labels)."""
        labels = self.c.cl + list(extra)
        fmt = ",".join(f"{l}=%q" for l in labels)
        return f'printf "{fmt}" ' + " ".join(f"$labels.{l}" for l in labels)

    def leader(self, expr):
        """expr restricted to the agent that acts."""
        return f"({expr} and on ({self.c.by('instance')}) {ACTING})"

    def knob(self, alert):
        return self.k["alerts"][alert]

    def secs(self, alert, key="for"):
        return self.k["_"]["alerts"][alert][key]

    def enabled(self, alert):
        return self.knob(alert).get("enabled", True)

    def runbook(self, alert):
        return self.k["runbook_url"].replace("{alert}", alert).replace("{alert_lower}", alert.lower())

    def record(self, name, expr, comment):
        self.records.append({"record": name, "expr": expr, "comment": comment})

    def alert(self, name, expr, summary, description, comment, when):
        if not self.enabled(name):
            return
        a = self.knob(name)
        self.alerts.append({
            "alert": name, "expr": expr, "for": self.secs(name),
            "severity": self.k["severities"][a["severity"]], "class": a["severity"],
            "summary": summary, "description": description, "comment": comment, "when": when,
            "runbook_url": self.runbook(name),
        })

    # ---- the rules --------------------------------------------------------------------------
    def build(self):
        c, s, by = self.c, self.c.s, self.c.by
        cl_inst = by("instance")
        tsel, csel = self.lsel("connector"), self.lsel()
        L = self.leader

        self.record(ACTING, f"""
max by ({cl_inst}) (
    {s('cdc_sentinel_leader')} == 1
  or
    ({s('cdc_sentinel_build_info')} unless on ({cl_inst}) {s('cdc_sentinel_leader')})
)""", "1 for each agent that acts: it leads (cdc_sentinel_leader 1), or it is a build without "
            "leader election (no cdc_sentinel_leader series), which always acts alone.")

        self.record(BLIND, f"""
(
    count by ({by()}) (up{{{c.sel}}})
  unless on ({by()})
    ({ACTING} and on ({cl_inst}) {s('cdc_sentinel_connect_up')} == 1)
)
or
absent(up{{{c.sel}}})""", "Present (value: agents of the cluster) while no agent that acts reports its "
            "connectors: the leader's scrape fails, it has no successful Kafka Connect poll (just "
            "restarted, or Connect unreachable), no agent leads (failover), or no agent is scraped "
            "at all. While present, a connector that vanished from the scrape is \"unknown\", not "
            "\"recovered\".")

        self.record(TIMED_OUT, f"""
max by ({by('connector', 'target')}) (
    {s('cdc_sentinel_connector_target_info')}
  * on ({by('instance', 'connector')}) group_left ()
    {L(s('cdc_sentinel_recovery_phase', phase='timed_out'))}
)""", "1 while the connector's recovery is in phase timed_out on the agent that acts, else 0; "
            "labels: cluster, connector, target.")

        # -- CDCRecoveryTimedOut
        bridge = duration(self.secs("CDCRecoveryTimedOut", "bridge"))
        self.alert("CDCRecoveryTimedOut", f"""
{TIMED_OUT} == 1
or
(
    (
        last_over_time({TIMED_OUT}[{bridge}]) == 1
      unless on ({by('connector')})
        {TIMED_OUT}
    )
  and on ({by()})
    {BLIND}
)""",
            "Connector {{ $labels.connector }} is still held after its maximum wait: a human must resume it",
            f"""{{{{- $c := $labels.connector }}}}{{{{ $cu := reReplaceAll "\\\\+" "%20" (urlquery $labels.connector) }}}}{{{{ $sel := {tsel} -}}}}
cdc-sentinel has held (paused or stopped) connector {{{{ $c }}}} for {{{{ with printf "time() - max({L(c.name('cdc_sentinel_recovery_started_timestamp_seconds') + '{%s}')})" $sel | query }}}}{{{{ . | first | value | humanizeDuration }}}}{{{{ else }}}}an unknown time{{{{ end }}}}, past its maximum wait of {{{{ with printf "max({L(c.name('cdc_sentinel_recovery_max_wait_seconds') + '{%s}')})" $sel | query }}}}{{{{ . | first | value | humanizeDuration }}}}{{{{ else }}}}(unknown){{{{ end }}}}, and has given up: it will not resume it by itself. The connector captures no changes until a human acts.
Database: {{{{ $labels.target }}}}. Last probe answer: {{{{ with printf "{L(c.name('cdc_sentinel_probe_last_reason') + '{%s,target=%q} == 1')}" ({csel}) $labels.target | query }}}}{{{{ . | first | label "reason" }}}}{{{{ else }}}}unknown{{{{ end }}}}. Held because: {{{{ with printf "{L(c.name('cdc_sentinel_recovery_info') + '{%s}')}" $sel | query }}}}{{{{ . | first | label "reason" }}}}{{{{ else }}}}unknown{{{{ end }}}}.
Do this:
1. Make sure the database {{{{ $labels.target }}}} is open and accepts connections (ask the DBA: a backup or restart may have overrun). Do not go on while it is down: the connector would fail again.
2. Resume the connector: curl -X PUT "$CONNECT_URL/connectors/{{{{ $cu }}}}/resume"
3. Restart its failed tasks: curl -X POST "$CONNECT_URL/connectors/{{{{ $cu }}}}/restart?includeTasks=true&onlyFailed=true"
4. Check that the connector and every task are RUNNING: curl -s "$CONNECT_URL/connectors/{{{{ $cu }}}}/status"
cdc-sentinel sees the human resume, hands the connector back and this alert resolves.""",
            f"Fires once per incident: while the agents cannot report (restart, scrape gap, Connect "
            f"unreachable, leader failover) the last known state (timed out) is kept for up to "
            f"{bridge} instead of resolving and paging again. Resolves as soon as the acting agent "
            f"reports the connector in any other phase (a human resumed it and the agent handed it "
            f"back), or reports without it (connector deleted).",
            f"phase `timed_out`: the agent waited `--max-wait` and gave up (kept through agent gaps of up to {bridge})")

        # -- CDCNeedsAttention
        na = L(f"{s('cdc_sentinel_recovery_phase', phase='needs_attention')} == 1")
        stalled_reason = c.value("cdc_sentinel_recovery_info", "reason", "stalled")
        reasons = {r: c.value("cdc_sentinel_recovery_info", "reason", r) for r in (
            "offset_unavailable", "history_topic_missing", "snapshot_not_allowed", "authentication_failed")}
        self.alert("CDCNeedsAttention", f"""
max by ({by('connector', 'target', 'reason')}) (
    {s('cdc_sentinel_recovery_info', reason=('!=', stalled_reason))}
  * on ({by('instance', 'connector')}) group_left ()
    {na}
)
or on ({by('connector')})
(
    max by ({by('connector')}) ({na})
  unless on ({by('connector')})
    {s('cdc_sentinel_recovery_info', reason=stalled_reason)}
)""",
            "Connector {{ $labels.connector }} failed in a way waiting cannot fix ({{ with $labels.reason }}{{ . }}{{ else }}reason unknown{{ end }}): a human must act",
            f"""{{{{- $c := $labels.connector }}}}{{{{ $cu := reReplaceAll "\\\\+" "%20" (urlquery $labels.connector) -}}}}
Connector {{{{ $c }}}} (database {{{{ with $labels.target }}}}{{{{ . }}}}{{{{ else }}}}unknown{{{{ end }}}}) is FAILED and cdc-sentinel classified the failure as {{{{ with $labels.reason }}}}{{{{ . }}}}{{{{ else }}}}unknown{{{{ end }}}}: it will not resume or restart it.
{{{{ if eq $labels.reason "{reasons['offset_unavailable']}" -}}}}
The position the connector must continue from is no longer in the database's redo/archive logs (or WAL). Restarting cannot fix this: a new snapshot is needed. Agree it with the owners of the downstream topics, then follow the runbook's re-snapshot steps.
{{{{- else if eq $labels.reason "{reasons['history_topic_missing']}" -}}}}
Debezium's schema history topic is missing. Recover it (snapshot.mode=recovery) or re-snapshot; see the runbook.
{{{{- else if eq $labels.reason "{reasons['snapshot_not_allowed']}" -}}}}
The connector stopped during its snapshot and is configured never to snapshot again. Change snapshot.mode (see the runbook), then restart it.
{{{{- else if eq $labels.reason "{reasons['authentication_failed']}" -}}}}
The database refused the connector's credentials or privileges. Fix them with the DBA, then restart the failed tasks: curl -X POST "$CONNECT_URL/connectors/{{{{ $cu }}}}/restart?includeTasks=true&onlyFailed=true"
{{{{- else -}}}}
The failure does not look like a database outage. Fix its cause, then restart the failed tasks: curl -X POST "$CONNECT_URL/connectors/{{{{ $cu }}}}/restart?includeTasks=true&onlyFailed=true"
{{{{- end }}}}
Read the trace: curl -s "$CONNECT_URL/connectors/{{{{ $cu }}}}/status". Pausing and resuming does not clear FAILED.""",
            "The reason comes from cdc_sentinel_recovery_info; if that series were ever missing the "
            "second branch still fires, without the target and reason labels. Reason stalled is "
            "CDCConnectorStalled's.",
            "phase `needs_attention`: a failure waiting cannot fix (not `stalled`: CDCConnectorStalled)")

        # -- CDCConnectorFailedUnmanaged
        failed = c.value("cdc_sentinel_connector_tasks", "state", "FAILED")
        self.alert("CDCConnectorFailedUnmanaged", f"""
(
    max by ({by('connector')}) ({s('cdc_sentinel_connector_state', state='FAILED')}) == 1
  or
    max by ({by('connector')}) ({s('cdc_sentinel_connector_tasks', state='FAILED')}) > 0
)
unless on ({by('connector')})
(
    (
        {s('cdc_sentinel_recovery_active')} == 1
      or
        {s('cdc_sentinel_recovery_phase', phase='needs_attention')} == 1
    )
  and on ({cl_inst})
    {ACTING}
)""",
            "Connector {{ $labels.connector }} is FAILED and cdc-sentinel is not recovering it",
            f"""{{{{- $c := $labels.connector }}}}{{{{ $cu := reReplaceAll "\\\\+" "%20" (urlquery $labels.connector) }}}}{{{{ $sel := {tsel} }}}}{{{{ $cl := {csel} -}}}}
Connector {{{{ $c }}}} is {{{{ with printf "max by (state) ({c.name('cdc_sentinel_connector_state')}{{%s}} == 1)" $sel | query }}}}{{{{ . | first | label "state" }}}}{{{{ else }}}}in an unknown state{{{{ end }}}} with {{{{ with printf "max(sum by (instance) ({c.name('cdc_sentinel_connector_tasks')}{{%s,state=\\"{failed}\\"}}))" $sel | query }}}}{{{{ . | first | value | printf "%.0f" }}}}{{{{ else }}}}?{{{{ end }}}} of {{{{ with printf "max(sum by (instance) ({c.name('cdc_sentinel_connector_tasks')}{{%s}}))" $sel | query }}}}{{{{ . | first | value | printf "%.0f" }}}}{{{{ else }}}}?{{{{ end }}}} tasks FAILED, and cdc-sentinel is not recovering it:
{{{{- if printf "{L(c.name('cdc_sentinel_connector_target_unknown') + '{%s} == 1')}" $sel | query }}}} it does not know the connector's database (no --db, nothing usable in its config, nothing in the config file), so it never acts on it.
{{{{- else if printf "{L(c.name('cdc_sentinel_dry_run') + '{%s} == 1')}" $cl | query }}}} the agent runs with --dry-run and sends no actions.
{{{{- else if not (printf "{ACTING}{{%s}}" $cl | query) }}}} no agent of its Kafka Connect cluster acts (no leader).
{{{{- else }}}} a human paused it (the agent never undoes that), or it failed outside a recovery.
{{{{- end }}}} A FAILED task never recovers by itself.
1. Read the trace: curl -s "$CONNECT_URL/connectors/{{{{ $cu }}}}/status"
2. If the trace shows the database is unavailable, wait until the database is back.
3. Restart the failed parts: curl -X POST "$CONNECT_URL/connectors/{{{{ $cu }}}}/restart?includeTasks=true&onlyFailed=true" (pause and resume do not clear FAILED).""",
            "FAILED (as any agent of the cluster reads Kafka Connect) with no recovery running and no "
            "needs_attention verdict on the agent that acts: the agent does not know the database, "
            "runs with --dry-run, a human paused the connector, the failure came outside a "
            "recovery, or no agent leads.",
            "connector or a task FAILED, no recovery running, not `needs_attention`")

        # -- CDCConnectorRecovering
        self.alert("CDCConnectorRecovering", f"""
max by ({by('connector', 'target', 'reason')}) (
    {s('cdc_sentinel_recovery_info', reason=('!=', c.value('cdc_sentinel_recovery_info', 'reason', 'maintenance')))}
  * on ({by('instance', 'connector')}) group_left ()
    {L(s('cdc_sentinel_recovery_active') + ' == 1')}
)""",
            "cdc-sentinel is holding connector {{ $labels.connector }} while its database {{ $labels.target }} is unavailable",
            f"""{{{{- $c := $labels.connector }}}}{{{{ $cu := reReplaceAll "\\\\+" "%20" (urlquery $labels.connector) }}}}{{{{ $sel := {tsel} }}}}{{{{ $cl := {csel} -}}}}
cdc-sentinel has held connector {{{{ $c }}}} for {{{{ with printf "time() - max({L(c.name('cdc_sentinel_recovery_started_timestamp_seconds') + '{%s}')})" $sel | query }}}}{{{{ . | first | value | humanizeDuration }}}}{{{{ else }}}}an unknown time{{{{ end }}}} because {{{{ if eq $labels.reason "{c.value('cdc_sentinel_recovery_info', 'reason', 'task_failed')}" }}}}a task FAILED when its database became unavailable{{{{ else if eq $labels.reason "{c.value('cdc_sentinel_recovery_info', 'reason', 'probe_failed')}" }}}}its database stopped answering probes{{{{ else }}}}of {{{{ $labels.reason }}}}{{{{ end }}}} (phase {{{{ with printf "{L(c.name('cdc_sentinel_recovery_phase') + '{%s} == 1')}" $sel | query }}}}{{{{ . | first | label "phase" }}}}{{{{ else }}}}unknown{{{{ end }}}}, {{{{ with printf "max({L(c.name('cdc_sentinel_recovery_resume_attempts') + '{%s}')})" $sel | query }}}}{{{{ . | first | value | printf "%.0f" }}}}{{{{ else }}}}?{{{{ end }}}} resume attempts so far). Last probe answer from {{{{ $labels.target }}}}: {{{{ with printf "{L(c.name('cdc_sentinel_probe_last_reason') + '{%s,target=%q} == 1')}" $cl $labels.target | query }}}}{{{{ . | first | label "reason" }}}}{{{{ else }}}}unknown{{{{ end }}}}.
It resumes the connector by itself once the database is back, and pages (CDCRecoveryTimedOut) when its maximum wait{{{{ with printf "max({L(c.name('cdc_sentinel_recovery_max_wait_seconds') + '{%s}')})" $sel | query }}}} of {{{{ . | first | value | humanizeDuration }}}}{{{{ end }}}} is over. Nothing to do now unless the outage is unexpected: then tell the DBA.""",
            "Not for planned holds (reason maintenance). Stays firing through timed_out; "
            "Alertmanager inhibits it while CDCRecoveryTimedOut fires for the same connector.",
            "a recovery is active, reason is not `maintenance`")

        # -- CDCDatabaseProbeFailing
        self.alert("CDCDatabaseProbeFailing", f"""
max by ({by('target')}) ({L(s('cdc_sentinel_probe_success'))}) == 0
unless on ({by('target')})
{L(s('cdc_sentinel_recovery_info', reason=c.value('cdc_sentinel_recovery_info', 'reason', 'maintenance')))}""",
            "Database {{ $labels.target }} fails every cdc-sentinel probe",
            f"""{{{{- $sel := {self.lsel('target')} -}}}}
Every probe of database {{{{ $labels.target }}}} fails; last answer: {{{{ with printf "{L(c.name('cdc_sentinel_probe_last_reason') + '{%s} == 1')}" $sel | query }}}}{{{{ . | first | label "reason" }}}}{{{{ else }}}}unknown{{{{ end }}}}; last success: {{{{ with printf "time() - max({L(c.name('cdc_sentinel_probe_last_success_timestamp_seconds') + '{%s}')})" $sel | query }}}}{{{{ . | first | value | humanizeDuration }}}} ago{{{{ else }}}}none since the agent started{{{{ end }}}}.
Connectors reading it: {{{{ range $i, $s := printf "max by (connector) ({c.name('cdc_sentinel_connector_target_info')}{{%s}})" $sel | query | sortByLabel "connector" }}}}{{{{ if $i }}}}, {{{{ end }}}}{{{{ $s.Labels.connector }}}}{{{{ else }}}}none{{{{ end }}}}. cdc-sentinel holds them while the database is down and resumes them when it is back.
Check the database with the DBA (instance open? listener up but service not registered? processes exhausted?). The runbook explains each probe answer.""",
            "One alert per database, as the agent that acts probes it; skipped while a connector "
            "reading it is on a planned hold (reason maintenance).",
            "every probe of a database fails (not during a `maintenance` hold)")

        # -- CDCProbeBlind
        self.alert("CDCProbeBlind", f"""
max by ({by('target')}) ({s('cdc_sentinel_probe_blind')}) == 1""",
            "cdc-sentinel cannot see database {{ $labels.target }} and will not hold its connectors",
            f"""{{{{- $sel := {self.lsel('target')} -}}}}
cdc-sentinel cannot see database {{{{ $labels.target }}}} while its connectors read RUNNING (agents: {{{{ range $i, $s := printf "{c.name('cdc_sentinel_probe_blind')}{{%s}} == 1" $sel | query | sortByLabel "instance" }}}}{{{{ if $i }}}}, {{{{ end }}}}{{{{ $s.Labels.instance }}}}{{{{ end }}}}; last answer: {{{{ range $i, $s := printf "max by (reason) ({c.name('cdc_sentinel_probe_last_reason')}{{%s}} == 1 and on ({cl_inst}) {c.name('cdc_sentinel_probe_blind')}{{%s}} == 1)" $sel $sel | query | sortByLabel "reason" }}}}{{{{ if $i }}}}, {{{{ end }}}}{{{{ $s.Labels.reason }}}}{{{{ else }}}}none yet{{{{ end }}}}). A failure like this (the name does not resolve, something that is not the database answers, or it was never seen up since the agent started) says nothing about the database, so the agent will not hold its connectors on it: if the database goes down now, nothing protects them.
Connectors reading it: {{{{ range $i, $s := printf "max by (connector) ({c.name('cdc_sentinel_connector_target_info')}{{%s}})" $sel | query | sortByLabel "connector" }}}}{{{{ if $i }}}}, {{{{ end }}}}{{{{ $s.Labels.connector }}}}{{{{ else }}}}none{{{{ end }}}}. From the agent's host or pod, check DNS (split DNS), NetworkPolicy or firewall rules, and that the port is the database's (not a proxy or a listener that accepts and closes).""",
            "One alert per database: any agent of the cluster that cannot see it (a standby that "
            "cannot see it will not protect its connectors after a failover either).",
            "the agent cannot see a database (dns, protocol error, never up) while its connectors read RUNNING")

        # -- CDCConnectorStalled
        self.alert("CDCConnectorStalled", f"""
max by ({by('connector')}) ({s('cdc_sentinel_connector_stalled')}) == 1""",
            "Connector {{ $labels.connector }} reads RUNNING but captures nothing: its offset does not advance",
            f"""{{{{- $c := $labels.connector }}}}{{{{ $cu := reReplaceAll "\\\\+" "%20" (urlquery $labels.connector) }}}}{{{{ $sel := {tsel} -}}}}
Connector {{{{ $c }}}} (database {{{{ with printf "max by (target) ({c.name('cdc_sentinel_connector_target_info')}{{%s}})" $sel | query }}}}{{{{ . | first | label "target" }}}}{{{{ else }}}}unknown{{{{ end }}}}) reads RUNNING, but its committed source offset has not advanced for {{{{ with printf "time() - max({c.name('cdc_sentinel_source_offset_advanced_timestamp_seconds')}{{%s}})" $sel | query }}}}{{{{ . | first | value | humanizeDuration }}}}{{{{ else }}}}longer than --stall-after{{{{ end }}}} (position {{{{ with printf "max({c.name('cdc_sentinel_source_offset_position')}{{%s}})" $sel | query }}}}{{{{ . | first | value | printf "%.0f" }}}}{{{{ else }}}}unknown{{{{ end }}}}) although heartbeats should move it. It captures no changes and Kafka Connect does not know.
Check the source side: Oracle LogMiner session alive, archive logs still there (RMAN DELETE INPUT may have purged the one it needs); PostgreSQL replication slot active and its WAL retained; MySQL binlog retention. Then read the task's log: curl -s "$CONNECT_URL/connectors/{{{{ $cu }}}}/status". A restart (curl -X POST "$CONNECT_URL/connectors/{{{{ $cu }}}}/restart?includeTasks=true&onlyFailed=false") helps only if the position is still available.""",
            "As any agent reads the connector's committed offsets (cdc_sentinel_connector_stalled "
            "needs heartbeats configured, so an idle table is not a stall).",
            "RUNNING, but the committed offset has not advanced for `--stall-after` (heartbeats configured)")

        # -- CDCRecoveryFlapping
        fl = self.knob("CDCRecoveryFlapping")
        window = duration(self.secs("CDCRecoveryFlapping", "window"))
        n = fl["recoveries"]
        self.alert("CDCRecoveryFlapping", f"""
sum by ({by('connector')}) (
  increase({s('cdc_sentinel_recoveries_started_total')}[{window}])
) >= {n}""",
            f"cdc-sentinel keeps recovering connector {{{{ $labels.connector }}}}: {{{{ $value | printf \"%.0f\" }}}} recoveries in the last {window}",
            f"""{{{{- $sel := {tsel} -}}}}
cdc-sentinel started {{{{ $value | printf "%.0f" }}}} recoveries of connector {{{{ $labels.connector }}}} in the last {window} ({{{{ range $i, $s := printf "sum by (reason) (increase({c.name('cdc_sentinel_recoveries_started_total')}{{%s}}[{window}])) > 0" $sel | query | sortByLabel "reason" }}}}{{{{ if $i }}}}, {{{{ end }}}}{{{{ $s.Labels.reason }}}}: {{{{ $s.Value | printf "%.0f" }}}}{{{{ end }}}}). Each time the database looked back, the connector was resumed and failed again.
Usual causes: the probe reaches a listener that accepts while the database is not open (probe a service that exists only while the database is open), or the database keeps restarting. Look at the recovery timeline dashboard for this connector.""",
            f"\"{n} or more\": increase() extrapolates, so {n - 1} recoveries can read {n - 1}.05. It may "
            "miss a recovery that created its counter series; the threshold is about a pattern, not "
            "an exact count. Agent restarts (counter resets) and leader changes (the count moves "
            "to another agent) are counted through.",
            f"{n} or more recoveries of one connector within {window}")

        # -- CDCKafkaConnectUnreachable
        cwin = duration(max(60, self.secs("CDCKafkaConnectUnreachable")))
        self.alert("CDCKafkaConnectUnreachable", f"""
{s('cdc_sentinel_connect_up')} == 0""",
            "cdc-sentinel at {{ $labels.instance }} cannot reach Kafka Connect",
            f"""{{{{- $sel := {self.lsel('instance')} -}}}}
cdc-sentinel at {{{{ $labels.instance }}}} cannot poll Kafka Connect; last successful poll: {{{{ with printf "{c.name('cdc_sentinel_connect_last_success_timestamp_seconds')}{{%s}} > 0" $sel | query }}}}{{{{ with printf "time() - {c.name('cdc_sentinel_connect_last_success_timestamp_seconds')}{{%s}}" $sel | query }}}}{{{{ . | first | value | humanizeDuration }}}} ago{{{{ end }}}}{{{{ else }}}}none since the agent started{{{{ end }}}}. Recent answers (HTTP status or error): {{{{ range $i, $s := printf "sum by (code) (increase({c.name('cdc_sentinel_connect_request_duration_seconds_count')}{{%s,operation=\\"{c.value('cdc_sentinel_connect_request_duration_seconds', 'operation', 'list')}\\"}}[{cwin}])) > 0" $sel | query | sortByLabel "code" }}}}{{{{ if $i }}}}, {{{{ end }}}}{{{{ $s.Labels.code }}}} x{{{{ $s.Value | printf "%.0f" }}}}{{{{ else }}}}none recorded{{{{ end }}}}.
While this lasts this agent can neither see nor protect any connector (nor take over if it is a standby). Check: curl -s "$CONNECT_URL/connectors". 401 = the agent's Connect credentials; error = network, DNS, TLS or the workers are down; 409 or 500 during a rebalance pass by themselves.""",
            "Per agent: a standby that cannot reach Kafka Connect could not take over either.",
            "the agent's last poll of Kafka Connect failed")

        # -- CDCKubernetesApiFailing
        kk = self.knob("CDCKubernetesApiFailing")
        kwin = duration(self.secs("CDCKubernetesApiFailing", "window"))
        kcount = "cdc_sentinel_kubernetes_request_duration_seconds_count"
        self.alert("CDCKubernetesApiFailing", f"""
max by ({cl_inst}) ({s('cdc_sentinel_kubernetes_up')}) == 0
or on ({cl_inst})
(
    sum by ({cl_inst}) (increase({s(kcount, code=('=~', kk['failing_codes']))}[{kwin}]))
  /
    sum by ({cl_inst}) (increase({s(kcount)}[{kwin}]))
  >= {kk['error_ratio']}
)""",
            "cdc-sentinel at {{ $labels.instance }} cannot use the Kubernetes API: Strimzi-managed connectors are not protected (no connector at all while the list fails)",
            f"""{{{{- $sel := {self.lsel('instance')} -}}}}
cdc-sentinel at {{{{ $labels.instance }}}} {{{{ if printf "{c.name('cdc_sentinel_kubernetes_up')}{{%s}} == 0" $sel | query }}}}cannot list KafkaConnector resources{{{{ else }}}}gets errors from the Kubernetes API{{{{ end }}}}. Failing requests in the last {kwin} (verb code x count): {{{{ range $i, $s := printf "sum by (verb, code) (increase({c.name(kcount)}{{%s,code=~\\"{kk['failing_codes']}\\"}}[{kwin}])) > 0" $sel | query | sortByLabel "verb" }}}}{{{{ if $i }}}}, {{{{ end }}}}{{{{ $s.Labels.verb }}}} {{{{ $s.Labels.code }}}} x{{{{ $s.Value | printf "%.0f" }}}}{{{{ else }}}}none recorded{{{{ end }}}}.
While the list fails the agent takes no action on any connector of its Kafka Connect cluster (which of them Strimzi manages, and what people did to them, is unknown); while its writes fail it can neither hold nor resume connectors managed by Strimzi (KafkaConnector resources). 403 = its service account lacks an RBAC verb on kafkaconnectors (get, list, patch); 401 = its token; error = the API server is unreachable from the pod.""",
            f"Per agent: the last list failed, or at least {kk['error_ratio']} of its Kubernetes "
            f"API requests in {kwin} answered {kk['failing_codes']}.",
            f"the agent's last list of KafkaConnectors failed, or >= {kk['error_ratio']} of its Kubernetes API requests in {kwin} failed")

        # -- CDCStateStoreDown
        self.alert("CDCStateStoreDown", f"""
{s('cdc_sentinel_state_store_up')} == 0""",
            "cdc-sentinel at {{ $labels.instance }} cannot read or write its state store",
            f"""{{{{- $sel := {self.lsel('instance')} -}}}}
The last read or write of cdc-sentinel's state store (the --state-file, or the Kafka topic that holds the agents' hold records) failed at {{{{ $labels.instance }}}}{{{{ if printf "{c.name('cdc_sentinel_leader')}{{%s}} == 1" $sel | query }}}}, the agent that leads{{{{ end }}}}. The agent records a hold before it acts; without its store it cannot record new holds, and a standby cannot read the holds it would take over.
Check the file system (full, read-only, permissions) or the Kafka topic (brokers reachable, ACLs for the agent's principal), and the agent's log for the error.""",
            "Per agent.",
            "the agent's last read or write of its state store (file or Kafka topic) failed")

        # -- CDCNoLeader
        self.alert("CDCNoLeader", f"""
count by ({by()}) ({s('cdc_sentinel_build_info')})
unless on ({by()})
{ACTING}
unless on ({by()})
up{{{c.sel}}} == 0""",
            "No cdc-sentinel agent leads (" + ", ".join(f"{l} {{{{ $labels.{l} }}}}" for l in c.cl) + "): nothing protects its connectors",
            f"""{{{{- $cl := {csel} -}}}}
{{{{ $value | printf "%.0f" }}}} agent(s) report ({{{{ range $i, $s := printf "{c.name('cdc_sentinel_leader')}{{%s}}" $cl | query | sortByLabel "instance" }}}}{{{{ if $i }}}}, {{{{ end }}}}{{{{ $s.Labels.instance }}}}{{{{ end }}}}) and none of them leads: no agent holds or resumes connectors, and the held ones stay held. The agents elect a leader through their shared state store; state store up: {{{{ range $i, $s := printf "{c.name('cdc_sentinel_state_store_up')}{{%s}}" $cl | query | sortByLabel "instance" }}}}{{{{ if $i }}}}, {{{{ end }}}}{{{{ $s.Labels.instance }}}}={{{{ $s.Value | printf "%.0f" }}}}{{{{ else }}}}unknown{{{{ end }}}}.
Check the agents' logs for the election, and the state store (file lock, or the Kafka topic).""",
            "Some agents of the cluster report and none acts. Quiet while an agent of the cluster "
            "cannot be scraped (it may be the leader: CDCSentinelDown covers it) and when no agent "
            "is scraped at all (CDCSentinelDown's absent form).",
            "agents report but none of them leads")

        # -- CDCSplitBrain
        self.alert("CDCSplitBrain", f"""
count by ({by()}) ({ACTING}) > 1""",
            "{{ $value | printf \"%.0f\" }} cdc-sentinel agents lead the same Kafka Connect cluster",
            f"""{{{{- $cl := {csel} -}}}}
{{{{ $value | printf "%.0f" }}}} agents act on the same Kafka Connect cluster at once: {{{{ range $i, $s := printf "{ACTING}{{%s}}" $cl | query | sortByLabel "instance" }}}}{{{{ if $i }}}}, {{{{ end }}}}{{{{ $s.Labels.instance }}}}{{{{ end }}}}. This must never happen: they may undo each other's holds, or take each other's pause for a human's.
Stop all but one of them now (scale the standbys down, or stop the agents without leader election), then find out why: agents with different state stores (different --state-file paths or topics), or builds without leader election running side by side.""",
            "An agent that predates leader election counts as leading.",
            "more than one agent of a Kafka Connect cluster leads")

        # -- CDCSentinelDown
        eq = [m[0] for m in self.k["_"]["matchers"] if m[1] == "="]
        self.alert("CDCSentinelDown", f"""
up{{{c.sel}}} == 0
or
(
    absent({s('cdc_sentinel_build_info')})
  unless on ()
    up{{{c.sel}}} == 0
)""",
            "{{ with $labels.instance }}cdc-sentinel at {{ . }} is down or cannot be scraped{{ else }}No cdc-sentinel is being scraped" + (
                " (" + ", ".join(f"{l} {{{{ $labels.{l} }}}}" for l in eq) + ")" if eq else "") + "{{ end }}",
            f"""{{{{- with $labels.instance -}}}}
Prometheus cannot scrape cdc-sentinel at {{{{ . }}}}{" (" + ", ".join(f"{l} {{{{ $labels.{l} }}}}" for l in c.cl) + ")"}.
{{{{- else -}}}}
Prometheus has no cdc_sentinel_build_info{{{c.sel}}} series: no target is configured or discovered, or its targets are not cdc-sentinel (wrong port or path).
{{{{- end }}}} While this lasts it holds and resumes nothing, and the CDC alerts that rely on its metrics cannot fire.
{{{{ with $labels.instance -}}}}
Check the process or container and its logs, then: cdc-sentinel healthcheck --url http://{{{{ . }}}}/readyz
{{{{- else -}}}}
Check the scrape config that should give {c.sel} and Status > Targets in Prometheus.
{{{{- end }}}}""",
            "Two forms in one rule: a target whose scrape fails (labels include instance), or the "
            "absent() form (only the selector's labels): no target at all, or targets that export "
            "no cdc-sentinel metrics (wrong port or path). The absent() form stays quiet while the "
            "first form covers it.",
            "the agent's scrape fails, or no agent is scraped at all")

    # ---- output -----------------------------------------------------------------------------
    def render(self, header):
        out = [header.rstrip("\n"), "", "groups:",
               "  # One group: rules in a group run in order at the same timestamp, so the alerts",
               "  # see the recording rules' results of this evaluation, not the previous one.",
               "  - name: cdc-sentinel", "    rules:"]
        for r in self.records + self.alerts:
            out.append("")
            for line in wrap(r["comment"], 92):
                out.append("      # " + line)
            if "record" in r:
                out.append(f"      - record: {r['record']}")
            else:
                out.append(f"      - alert: {r['alert']}")
            out.append("        expr: |")
            out.append(indent(r["expr"], 10))
            if "alert" in r:
                if r["for"]:
                    out.append(f"        for: {duration(r['for'])}")
                out.append("        labels:")
                out.append(f"          severity: {r['severity']}")
                out.append("        annotations:")
                out.append(f"          summary: {sq(r['summary'])}")
                out.append("          description: |-")
                out.append(indent(r["description"], 12))
                out.append(f"          runbook_url: {sq(r['runbook_url'])}")
        return "\n".join(out) + "\n"


def wrap(text, width):
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        lines.append(cur)
    return lines
