#!/usr/bin/env python3
"""Checks what promtool does not about alerts/ (python3, stdlib only). Exit 1 on any problem.

- every alert has a `severity` label (critical or warning) and `summary`, `description` and
  `runbook_url` annotations; runbook_url is RUNBOOK_BASE#<alert name in lower case>, one base
  for all, and alerts/runbook.md has a `## <AlertName>` section (that anchor);
- the threshold tables in the rules file's header and in the runbook list every alert with the
  same severity and `for:` as the rule;
- every alert has promtool tests where it fires and where it does not (alerts/tests/*.yml);
- every metric name in the rules' expressions, the annotation templates and the test input
  series is in docs/metrics.md or is a recording rule (plus `up`, which Prometheus makes).

The rules file is read line by line, not with a YAML parser; it relies on the layout of
alerts/cdc-sentinel.rules.yml (`- alert:` / `- record:` items, `expr: |` blocks).
"""

import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_dashboards as cd  # noqa: E402

ALERTS_DIR = cd.ALERTS_DIR
RUNBOOK = os.path.join(ALERTS_DIR, "runbook.md")
SEVERITIES = {"critical", "warning"}
PROMETHEUS_SERIES = {"up"}


def parse_rules(path):
    """[{kind, name, line, expr, for, labels, annotations, text}] from a rules file."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    rules = []
    cur = None
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)- (alert|record):\s*(\S+)\s*$", line)
        if m:
            cur = {"kind": m.group(2), "name": m.group(3), "line": i + 1,
                   "indent": len(m.group(1)) + 2, "lines": []}
            rules.append(cur)
            continue
        if cur is not None:
            if line.strip() and not line.startswith(" " * cur["indent"]):
                cur = None
                continue
            cur["lines"].append(line)
    for r in rules:
        body = r["lines"]
        ind = r["indent"]
        r["text"] = "\n".join(body)
        r["labels"], r["annotations"], r["for"], r["expr"] = {}, {}, None, ""
        section = None
        j = 0
        while j < len(body):
            line = body[j]
            m = re.match(r"^ {%d}(\w+):\s*(.*)$" % ind, line)
            if m:
                key, val = m.group(1), m.group(2)
                section = key if key in ("labels", "annotations") else None
                if key == "for":
                    r["for"] = val.strip()
                if key == "expr":
                    if val.strip() in ("|", "|-", ">", ">-"):
                        block = []
                        j += 1
                        while j < len(body) and (not body[j].strip() or body[j].startswith(" " * (ind + 2))):
                            block.append(body[j])
                            j += 1
                        r["expr"] = "\n".join(block)
                        continue
                    r["expr"] = val.strip().strip("'\"")
            elif section:
                m = re.match(r"^ {%d}(\w+):\s*(.*)$" % (ind + 2), line)
                if m:
                    r[section][m.group(1)] = m.group(2).strip().strip("'\"")
            j += 1
    return rules


def header_table(path):
    """{alert: (severity, for)} from the `#   CDC... severity ... for` rows of a rules file."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^#\s+(CDC\w+)\s+(critical|warning)\s+.*?\s(\S+)\s*$", line)
            if m:
                out[m.group(1)] = (m.group(2), m.group(3))
    return out


def runbook_table(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 4 and re.fullmatch(r"CDC\w+", cells[0]):
                out[cells[0]] = (cells[1], cells[-1])
    return out


def runbook_anchors(path):
    anchors = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
            if m:
                a = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
                anchors.add(a)
    return anchors


def alert_tests(test_files):
    """{alert: [positive count, negative count]} from alert_rule_test entries."""
    counts = {}
    for path in test_files:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for i, line in enumerate(lines):
            m = re.match(r"^\s*alertname:\s*(\S+)\s*$", line)
            if not m:
                continue
            name = m.group(1)
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            c = counts.setdefault(name, [0, 0])
            if re.match(r"^\s*exp_alerts:\s*\[\]\s*$", nxt):
                c[1] += 1
            elif re.match(r"^\s*exp_alerts:\s*$", nxt):
                c[0] += 1
    return counts


def check(rule_paths, test_paths, runbook=RUNBOOK):
    """Every problem found, as messages; ([], count of alerts) when all is well."""
    errors = []
    _metrics, names_ok = cd.known_names()
    names_ok = names_ok | PROMETHEUS_SERIES
    if not rule_paths:
        return ["no rule files in alerts/"], 0
    anchors = runbook_anchors(runbook)
    rb_table = runbook_table(runbook)
    tests = alert_tests(test_paths)
    bases = set()
    alerts = {}
    for path in rule_paths:
        rel = os.path.relpath(path, cd.REPO)
        head = header_table(path)
        for r in parse_rules(path):
            where = f"{rel}:{r['line']} {r['name']}"
            if not r["expr"].strip():
                errors.append(f"{where}: no expr found")
            for name in sorted(cd.metric_names(r["expr"])):
                if name not in names_ok:
                    errors.append(f"{where}: unknown metric {name!r} in expr")
            if r["kind"] != "alert":
                continue
            name = r["name"]
            if name in alerts and alerts[name] != (r["labels"].get("severity"), r["for"]):
                errors.append(f"{where}: rules of the same alert differ in severity or for:")
            alerts[name] = (r["labels"].get("severity"), r["for"])
            sev = r["labels"].get("severity")
            if sev not in SEVERITIES:
                errors.append(f"{where}: severity {sev!r} is not one of {sorted(SEVERITIES)}")
            for key in ("summary", "description", "runbook_url"):
                if not r["annotations"].get(key):
                    errors.append(f"{where}: missing annotation {key!r}")
            url = r["annotations"].get("runbook_url", "")
            base, _, anchor = url.partition("#")
            bases.add(base)
            if anchor != name.lower():
                errors.append(f"{where}: runbook_url anchor {anchor!r} should be {name.lower()!r}")
            if not base.endswith("alerts/runbook.md"):
                errors.append(f"{where}: runbook_url {url!r} does not point at alerts/runbook.md")
            if name.lower() not in anchors:
                errors.append(f"{where}: alerts/runbook.md has no section '## {name}'")
            want = (sev, r["for"] or "-")
            if head.get(name) != want:
                errors.append(f"{where}: header table of {rel} says {head.get(name)}, rule says {want}")
            if rb_table.get(name) != want:
                errors.append(f"{where}: Thresholds table of alerts/runbook.md says {rb_table.get(name)}, rule says {want}")
            pos, neg = tests.get(name, [0, 0])
            if not pos or not neg:
                errors.append(f"{where}: needs promtool tests where it fires ({pos}) and where it does not ({neg})")
        for name in head:
            if name not in alerts:
                errors.append(f"{rel}: header table lists {name}, which is not an alert")
    for name in rb_table:
        if name not in alerts:
            errors.append(f"{os.path.basename(runbook)}: Thresholds table lists {name}, which is not an alert")
    if len(bases) > 1:
        errors.append(f"runbook_url bases differ: {sorted(bases)}")

    # Every cdc_sentinel name anywhere in the rules (templates included) and test files.
    token = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
    for path in rule_paths + test_paths:
        rel = os.path.relpath(path, cd.REPO)
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.lstrip().startswith("#"):
                    continue
                for t in token.findall(line):
                    if "cdc_sentinel" in t and t not in names_ok:
                        errors.append(f"{rel}:{n}: unknown metric {t!r}")

    return errors, len(alerts)


def main():
    rule_paths = cd.rule_files()
    test_paths = sorted(glob.glob(os.path.join(ALERTS_DIR, "tests", "*.yml")))
    errors, n = check(rule_paths, test_paths)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"rules: {len(errors)} problem(s)")
        return 1
    print(f"rules: {n} alerts; runbook sections, threshold tables, tests and metric names OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
