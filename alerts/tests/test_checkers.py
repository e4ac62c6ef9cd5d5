"""Tests for alerts/check_dashboards.py and alerts/check_rules.py: each check catches what it
claims to catch, on a broken copy of the real dashboards and rules.

    python3 -m unittest discover -s alerts/tests -p 'test_*.py'
"""

import copy
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

TESTS = os.path.dirname(os.path.abspath(__file__))
ALERTS = os.path.dirname(TESTS)
REPO = os.path.dirname(ALERTS)
sys.path.insert(0, ALERTS)

import check_dashboards as cd  # noqa: E402
import check_rules as cr  # noqa: E402

FLEET = os.path.join(REPO, "dashboards", "cdc-sentinel-fleet.json")


class DashboardCheck(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.metrics, self.names_ok = cd.known_names()
        with open(FLEET, encoding="utf-8") as f:
            self.good = json.load(f)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def errors_for(self, dash):
        path = os.path.join(self.tmp, "d.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dash, f)
        errors, _ = cd.check_dashboard(path, self.names_ok, self.metrics)
        return "\n".join(errors)

    def first_query_panel(self, dash):
        return next(p for p in cd.walk_panels(dash["panels"]) if p.get("targets"))

    def test_real_dashboards_pass(self):
        for path in glob.glob(os.path.join(REPO, "dashboards", "*.json")):
            errors, _ = cd.check_dashboard(path, self.names_ok, self.metrics)
            self.assertEqual(errors, [], path)

    def test_datasource_uid_literal_in_a_target(self):
        d = copy.deepcopy(self.good)
        self.first_query_panel(d)["targets"][0]["datasource"] = {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}
        self.assertIn("P1809F7CD0C75ACF3", self.errors_for(d))

    def test_datasource_name_string_on_a_panel(self):
        d = copy.deepcopy(self.good)
        self.first_query_panel(d)["datasource"] = "Prometheus"
        self.assertIn("'Prometheus'", self.errors_for(d))

    def test_import_placeholder(self):
        d = copy.deepcopy(self.good)
        d["__inputs"] = [{"name": "DS_PROMETHEUS"}]
        self.first_query_panel(d)["datasource"] = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        out = self.errors_for(d)
        self.assertIn("__inputs", out)
        self.assertIn("DS_PROMETHEUS", out)

    def test_missing_datasource_variable(self):
        d = copy.deepcopy(self.good)
        d["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != "datasource"]
        self.assertIn("variable `datasource`", self.errors_for(d))

    def test_missing_target_variable(self):
        d = copy.deepcopy(self.good)
        d["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != "target"]
        self.assertIn("variable `target`", self.errors_for(d))

    def test_unknown_metric(self):
        d = copy.deepcopy(self.good)
        self.first_query_panel(d)["targets"][0]["expr"] = 'sum(cdc_sentinel_connectors_failed{job=~"$job"})'
        self.assertIn("unknown metric 'cdc_sentinel_connectors_failed'", self.errors_for(d))

    def test_bare_histogram_name(self):
        d = copy.deepcopy(self.good)
        self.first_query_panel(d)["targets"][0]["expr"] = 'rate(cdc_sentinel_probe_duration_seconds{job=~"$job"}[5m])'
        self.assertIn("use _bucket, _sum or _count", self.errors_for(d))

    def test_unknown_metric_in_variable_and_annotation(self):
        d = copy.deepcopy(self.good)
        v = next(v for v in d["templating"]["list"] if v["name"] == "connector")
        v["query"]["query"] = "label_values(cdc_sentinel_connector_status, connector)"
        d["annotations"]["list"] = [{"name": "a", "datasource": cd_ds(), "expr": "changes(foo_total[1m]) > 0"}]
        out = self.errors_for(d)
        self.assertIn("variable '$connector': unknown metric 'cdc_sentinel_connector_status'", out)
        self.assertIn("annotation 'a': unknown metric 'foo_total'", out)

    def test_recording_rule_names_are_allowed(self):
        d = copy.deepcopy(self.good)
        self.first_query_panel(d)["targets"][0]["expr"] = "sum(job_connector_target:cdc_sentinel_recovery_timed_out:max)"
        self.assertEqual(self.errors_for(d), "")

    def test_variable_outside_a_regex_matcher(self):
        d = copy.deepcopy(self.good)
        self.first_query_panel(d)["targets"][0]["expr"] = 'cdc_sentinel_managed{connector="$connector"}'
        self.assertIn("variable $connector outside a =~ matcher", self.errors_for(d))

    def test_undefined_variable(self):
        d = copy.deepcopy(self.good)
        self.first_query_panel(d)["targets"][0]["expr"] = 'cdc_sentinel_managed{cluster=~"$cluster"}'
        self.assertIn("undefined variable $cluster", self.errors_for(d))

    def test_unbalanced_expression(self):
        d = copy.deepcopy(self.good)
        self.first_query_panel(d)["targets"][0]["expr"] = 'sum(cdc_sentinel_managed{job=~"$job"}'
        self.assertIn("unclosed '('", self.errors_for(d))

    def test_duplicate_panel_ids(self):
        d = copy.deepcopy(self.good)
        panels = [p for p in d["panels"] if p.get("targets")]
        panels[1]["id"] = panels[0]["id"]
        self.assertIn(f"panel id {panels[0]['id']} used by", self.errors_for(d))

    def test_not_json(self):
        path = os.path.join(self.tmp, "bad.json")
        with open(path, "w") as f:
            f.write('{"title": "x",')
        errors, _ = cd.check_dashboard(path, self.names_ok, self.metrics)
        self.assertIn("not valid JSON", errors[0])

    def test_metric_names(self):
        self.assertEqual(cd.metric_names(
            'histogram_quantile(0.99, sum by (target, le) (rate(a_bucket{x=~"$t"}[$__rate_interval]))) * 1e3'),
            {"a_bucket"})
        self.assertEqual(cd.metric_names('max by (c) (x == 1) * on (job, c) group_left (t) y offset 5m'), {"x", "y"})
        self.assertEqual(cd.metric_names('label_replace(m, "dst", "$1", "src", "(.*)") unless sum(n) by (a)'), {"m", "n"})
        self.assertEqual(cd.metric_names("time() - count(max_over_time(z[1h:5m]))"), {"z"})


def cd_ds():
    return {"type": "prometheus", "uid": "${datasource}"}


class ListQueries(unittest.TestCase):
    def test_every_query_is_listed_ready_for_prometheus(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "q.jsonl")
            r = subprocess.run([sys.executable, os.path.join(ALERTS, "check_dashboards.py"),
                                "--list-queries", out, "--var", "job=cdc-sentinel"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out, encoding="utf-8") as f:
                rows = [json.loads(line) for line in f]
        kinds = {r["kind"] for r in rows}
        self.assertEqual(kinds, {"panel", "variable", "annotation"})
        self.assertEqual({r["dashboard"] for r in rows}, {
            "dashboards/cdc-sentinel-fleet.json", "dashboards/cdc-sentinel-recovery.json",
            "dashboards/cdc-sentinel-probes.json"})
        n_targets = 0
        for path in glob.glob(os.path.join(REPO, "dashboards", "*.json")):
            with open(path, encoding="utf-8") as f:
                n_targets += sum(len(p.get("targets") or []) for p in cd.walk_panels(json.load(f)["panels"]))
        self.assertEqual(sum(1 for r in rows if r["kind"] == "panel"), n_targets)
        for r in rows:
            self.assertNotIn("$", r["promql"], r)
        self.assertTrue(any('job=~"cdc-sentinel"' in r["promql"] for r in rows))
        self.assertTrue(any('connector=~".+"' in r["promql"] for r in rows))


class RulesCheck(unittest.TestCase):
    """check_rules.check() on a broken copy of the real rules, tests and runbook."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        for name in ("cdc-sentinel.rules.yml", "runbook.md"):
            shutil.copy(os.path.join(ALERTS, name), self.tmp)
        os.mkdir(os.path.join(self.tmp, "tests"))
        for path in glob.glob(os.path.join(TESTS, "*.yml")):
            shutil.copy(path, os.path.join(self.tmp, "tests"))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def edit(self, name, old, new):
        path = os.path.join(self.tmp, name)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(old, text)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new, 1))

    def errors(self):
        errors, _ = cr.check([os.path.join(self.tmp, "cdc-sentinel.rules.yml")],
                             sorted(glob.glob(os.path.join(self.tmp, "tests", "*.yml"))),
                             os.path.join(self.tmp, "runbook.md"))
        return "\n".join(errors)

    def test_real_files_pass(self):
        self.assertEqual(self.errors(), "")

    def test_wrong_runbook_anchor(self):
        self.edit("cdc-sentinel.rules.yml", "runbook.md#cdcneedsattention", "runbook.md#needs-attention")
        self.assertIn("anchor 'needs-attention' should be 'cdcneedsattention'", self.errors())

    def test_missing_runbook_section(self):
        self.edit("runbook.md", "## CDCRecoveryFlapping", "## Flapping")
        self.assertIn("no section '## CDCRecoveryFlapping'", self.errors())

    def test_for_changed_without_the_tables(self):
        self.edit("cdc-sentinel.rules.yml", "        for: 10m", "        for: 15m")
        out = self.errors()
        self.assertIn("CDCDatabaseProbeFailing: header table", out)
        self.assertIn("Thresholds table of alerts/runbook.md says ('warning', '10m'), rule says ('warning', '15m')", out)

    def test_bad_severity(self):
        self.edit("cdc-sentinel.rules.yml", "          severity: warning\n", "          severity: page\n")
        self.assertIn("severity 'page'", self.errors())

    def test_missing_annotation(self):
        self.edit("cdc-sentinel.rules.yml",
                  "          summary: 'cdc-sentinel at {{ $labels.instance }} cannot reach Kafka Connect'\n", "")
        self.assertIn("CDCKafkaConnectUnreachable: missing annotation 'summary'", self.errors())

    def test_alert_without_negative_test(self):
        path = os.path.join(self.tmp, "tests", "connect_unreachable.test.yml")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace("        exp_alerts: []\n", "        exp_alerts:\n"))
        self.assertIn("CDCKafkaConnectUnreachable: needs promtool tests where it fires (3) and where it does not (0)",
                      self.errors())

    def test_unknown_metric_in_a_template(self):
        self.edit("cdc-sentinel.rules.yml", "cdc_sentinel_recovery_max_wait_seconds{%s}",
                  "cdc_sentinel_max_wait_seconds{%s}")
        self.assertIn("unknown metric 'cdc_sentinel_max_wait_seconds'", self.errors())

    def test_unknown_metric_in_an_expr(self):
        self.edit("cdc-sentinel.rules.yml", 'cdc_sentinel_connect_up{job="cdc-sentinel"} == 0\n        for: 5m',
                  'connect_up{job="cdc-sentinel"} == 0\n        for: 5m')
        self.assertIn("unknown metric 'connect_up' in expr", self.errors())

    def test_unknown_metric_in_test_input(self):
        self.edit("tests/sentinel_down.test.yml", "'cdc_sentinel_build_info{", "'cdc_sentinel_build{")
        self.assertIn("unknown metric 'cdc_sentinel_build'", self.errors())


if __name__ == "__main__":
    unittest.main()
