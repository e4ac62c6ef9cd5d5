"""A user's override file: what it may change, and the errors it gets otherwise (each naming
the key and the fix). Also: the generator takes names and label values only from the table of
metrics. python3 -m unittest discover -s monitoring/tests"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
MON = os.path.dirname(HERE)
sys.path.insert(0, MON)
sys.dont_write_bytecode = True

from lib import knobs, model, rules  # noqa: E402

DEFAULTS = os.path.join(MON, "config.yaml")
METRICS = os.path.join(MON, "metrics.json")


class Override(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def load(self, text):
        path = os.path.join(self.tmp, "mine.yaml")
        with open(path, "w") as f:
            f.write(text)
        return knobs.load(DEFAULTS, path)

    def error(self, text):
        with self.assertRaises(knobs.KnobError) as e:
            self.load(text)
        return str(e.exception)

    def rules(self, text, metrics=METRICS):
        return rules.Rules(model.Ctx(self.load(text), model.Metrics(metrics)))

    def test_one_line_changes_the_job_everywhere(self):
        r = self.rules('selector: \'job="kafka-connect-sidecars"\'\n')
        text = r.render("")
        self.assertNotIn('job="cdc-sentinel"', text)
        self.assertIn('up{job="kafka-connect-sidecars"} == 0', text)

    def test_one_line_changes_the_runbook_links(self):
        r = self.rules("runbook_url: 'https://wiki.example.com/cdc/{alert}'\n")
        self.assertEqual({a["runbook_url"] for a in r.alerts if a["alert"] == "CDCNoLeader"},
                         {"https://wiki.example.com/cdc/CDCNoLeader"})

    def test_one_line_changes_a_threshold(self):
        r = self.rules("alerts:\n  CDCConnectorRecovering: {for: 15m}\n")
        a = next(a for a in r.alerts if a["alert"] == "CDCConnectorRecovering")
        self.assertEqual(a["for"], 900)
        self.assertIn("for: 15m", r.render(""))

    def test_unknown_key_named(self):
        self.assertIn("jobname: unknown knob", self.error("jobname: x\n"))
        self.assertIn("alerts.CDCConnectorRecovering.threshold: unknown knob",
                      self.error("alerts:\n  CDCConnectorRecovering: {threshold: 3}\n"))
        self.assertIn("alerts.CDCNoSuchAlert: unknown knob", self.error("alerts:\n  CDCNoSuchAlert: {for: 1m}\n"))

    def test_bad_values_named(self):
        self.assertIn("alerts.CDCNoLeader.for: '2 minutes' is not a duration",
                      self.error("alerts:\n  CDCNoLeader: {for: 2 minutes}\n"))
        self.assertIn("alerts.CDCNoLeader.severity", self.error("alerts:\n  CDCNoLeader: {severity: high}\n"))
        self.assertIn("runbook_url: unknown placeholder {name}", self.error("runbook_url: 'https://w/{name}'\n"))
        self.assertIn("not {{...}}", self.error("runbook_url: 'https://w/{{alert}}'\n"))
        self.assertIn("selector:", self.error("selector: 'job=cdc'\n"))
        self.assertIn("test_labels: {namespace: ...}", self.error("selector: 'job=\"a\", namespace=~\"k.*\"'\n"))
        self.assertIn("cluster_labels: 'instance'", self.error("cluster_labels: [job, instance]\n"))
        self.assertIn("error_ratio", self.error("alerts:\n  CDCKubernetesApiFailing: {error_ratio: 2}\n"))
        self.assertIn("severities: critical and warning must differ",
                      self.error("severities: {critical: page, warning: page}\n"))
        self.assertIn("not valid YAML", self.error("alerts: [\n"))

    def test_alert_switched_off(self):
        r = self.rules("alerts:\n  CDCProbeBlind: {enabled: false}\n")
        self.assertNotIn("CDCProbeBlind", [a["alert"] for a in r.alerts])

    def test_names_and_values_come_from_the_table(self):
        with open(METRICS) as f:
            table = json.load(f)
        # a label value the agent no longer has
        for m in table["metrics"]:
            if m["name"] == "cdc_sentinel_recovery_phase":
                next(lb for lb in m["labels"] if lb["name"] == "phase")["values"].remove("timed_out")
        path = os.path.join(self.tmp, "metrics.json")
        with open(path, "w") as f:
            json.dump(table, f)
        with self.assertRaises(model.ModelError) as e:
            self.rules("{}\n", path)
        self.assertIn("cdc_sentinel_recovery_phase{phase} has no value 'timed_out'", str(e.exception))
        # a metric the agent no longer exports
        table["metrics"] = [m for m in table["metrics"] if m["name"] != "cdc_sentinel_leader"]
        with open(path, "w") as f:
            json.dump(table, f)
        with self.assertRaises(model.ModelError) as e:
            self.rules("{}\n", path)
        self.assertIn("cdc_sentinel_leader", str(e.exception))

    def test_command_line_exit_2_names_the_key(self):
        path = os.path.join(self.tmp, "mine.yaml")
        with open(path, "w") as f:
            f.write("alerts:\n  CDCNoLeader: {for: soon}\n")
        out = subprocess.run([sys.executable, os.path.join(MON, "generate.py"), "--config", path,
                              "--out", os.path.join(self.tmp, "out")], capture_output=True, text=True)
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn("alerts.CDCNoLeader.for", out.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "out")))


if __name__ == "__main__":
    unittest.main()
