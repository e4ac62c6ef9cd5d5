#!/usr/bin/env python3
"""Checks what a rendered set of rules means to the person paged, which neither promtool nor the
generator does (python3 + PyYAML). Run on the repository or on any --out directory:

    python3 monitoring/lint.py [DIR]          # DIR holds alerts/ (default: the repository)

- every alert has a severity label, and summary, description and runbook_url annotations;
- every runbook_url that points at alerts/runbook.md has a `## <AlertName>` section there;
- alerts/runbook.md has a section for every alert (DIR's copy);
- every alert has a promtool test where it fires and one where it does not (alerts/tests/).
Prints one line per alert with a problem; exit 1 if any.
"""

import glob
import os
import re
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def anchors(path):
    out = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
            if m:
                out.add(re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-"))
    return out


def main(argv):
    root = argv[1] if len(argv) > 1 else REPO
    rules_path = os.path.join(root, "alerts", "cdc-sentinel.rules.yml")
    with open(rules_path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    alerts = [r for g in doc["groups"] for r in g["rules"] if "alert" in r]
    runbook = os.path.join(root, "alerts", "runbook.md")
    have = anchors(runbook) if os.path.exists(runbook) else set()
    fires, quiet = set(), set()
    for path in glob.glob(os.path.join(root, "alerts", "tests", "*.yml")):
        with open(path, encoding="utf-8") as f:
            t = yaml.safe_load(f)
        for group in t.get("tests", []):
            for c in group.get("alert_rule_test", []):
                (fires if c.get("exp_alerts") else quiet).add(c["alertname"])
    problems = []
    for a in alerts:
        name = a["alert"]
        if not (a.get("labels") or {}).get("severity"):
            problems.append(f"{name}: no severity label")
        ann = a.get("annotations") or {}
        for key in ("summary", "description", "runbook_url"):
            if not str(ann.get(key, "")).strip():
                problems.append(f"{name}: no {key} annotation")
        url = str(ann.get("runbook_url", ""))
        if "alerts/runbook.md#" in url and url.rsplit("#", 1)[1] not in have:
            problems.append(f"{name}: runbook_url {url} points at a section alerts/runbook.md does not have")
        if name.lower() not in have:
            problems.append(f"{name}: alerts/runbook.md has no section '## {name}'")
        if name not in fires or name not in quiet:
            problems.append(f"{name}: needs promtool tests where it fires and where it does not "
                            f"(fires: {name in fires}, quiet: {name in quiet})")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"lint: {len(problems)} problem(s) in {rules_path}")
        return 1
    print(f"lint: {len(alerts)} alerts, each with severity, summary, description, runbook_url, "
          "a runbook section and tests on both sides")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
