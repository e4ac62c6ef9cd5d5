#!/usr/bin/env python3
"""Generates cdc-sentinel's monitoring from one knob file (python3 + PyYAML).

    python3 monitoring/generate.py                      # rewrite the repository's generated files
    python3 monitoring/generate.py --check              # exit 1 (and show a diff) if any is stale
    python3 monitoring/generate.py --config mine.yaml --out dir/
                                                        # your knobs over the defaults, into dir/
    python3 monitoring/generate.py [--config F] --list-queries FILE
                                                        # every dashboard query, one JSON per line

Inputs: monitoring/config.yaml (the default knobs), an optional override file merged over it,
and monitoring/metrics.json (the agent's own table of metrics: every metric name, label name and
closed-set label value comes from there). Outputs, relative to the repository or to --out:

    alerts/cdc-sentinel.rules.yml        recording and alerting rules
    alerts/tests/*.test.yml              promtool tests, timed from the knobs
    alerts/runbook.md                    the runbook with its thresholds table filled in
    dashboards/*.json                    the Grafana dashboards
    deploy/prometheus/prometheus.yml     a scrape config with the job name of the selector
    deploy/alertmanager/alertmanager.yml routing by the severity names, inhibition
    docs/monitoring.md                   alert table and panel descriptions (repository only)

Exit codes: 0 ok, 1 stale files (--check), 2 bad knobs or bad table of metrics (the message
names the key and the fix).
"""

import argparse
import difflib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from lib import dashboards, deploy, docs, knobs, model, rules, ruletests  # noqa: E402

DEFAULTS = os.path.join(HERE, "config.yaml")
METRICS = os.path.join(HERE, "metrics.json")
GENERATED_DIRS = ("alerts/tests", "dashboards")  # every *.yml / *.json in them is generated


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


def build(override=None, metrics_path=METRICS, repo_docs=True):
    """{relative path: content} of every generated file."""
    k = knobs.load(DEFAULTS, override)
    ctx = model.Ctx(k, model.Metrics(metrics_path))
    r = rules.Rules(ctx)
    files = {}
    files["alerts/cdc-sentinel.rules.yml"] = r.render(docs.rules_header(r))
    files.update(ruletests.Tests(r).build())
    dash = dashboards.Dashboards(ctx)
    for name, d in dash.build().items():
        files[f"dashboards/{name}"] = json.dumps(d, indent=2, ensure_ascii=False) + "\n"
    files["alerts/runbook.md"] = docs.splice(read(os.path.join(REPO, "alerts", "runbook.md")),
                                             "alerts/runbook.md", docs.thresholds_table(r))
    files.update(deploy.render(r))
    if repo_docs:
        files["docs/monitoring.md"] = docs.splice(
            read(os.path.join(REPO, "docs", "monitoring.md")), "docs/monitoring.md",
            docs.alert_table(r), docs.panel_descriptions(dash))
    return files, dash


def stale_files(root, files):
    """Generated files that differ, and files in generated directories nobody generates."""
    out = []
    for rel, text in sorted(files.items()):
        if read(os.path.join(root, rel)) != text:
            out.append(rel)
    for d in GENERATED_DIRS:
        full = os.path.join(root, d)
        if os.path.isdir(full):
            for name in sorted(os.listdir(full)):
                rel = f"{d}/{name}"
                if name.endswith((".yml", ".json")) and rel not in files:
                    out.append(rel)
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="your knobs (YAML), merged over monitoring/config.yaml")
    ap.add_argument("--out", help="write into this directory instead of the repository")
    ap.add_argument("--metrics", default=METRICS, help="the table of metrics (default monitoring/metrics.json)")
    ap.add_argument("--check", action="store_true", help="fail if the repository's files are not what the defaults generate")
    ap.add_argument("--list-queries", metavar="FILE", help="write every dashboard query as JSON lines ('-' = stdout)")
    ap.add_argument("--var", action="append", type=lambda s: tuple(s.split("=", 1)), metavar="NAME=VALUE",
                    help="with --list-queries: a dashboard variable's value (default .+)")
    a = ap.parse_args(argv[1:])
    if a.check and (a.config or a.out):
        print("generate.py: --check compares the repository with the defaults; drop --config/--out", file=sys.stderr)
        return 2
    try:
        files, dash = build(a.config, a.metrics, repo_docs=not a.out)
    except (knobs.KnobError, model.ModelError, docs.DocError) as e:
        src = a.config or "monitoring/config.yaml"
        print(f"generate.py: {src}: {e}" if isinstance(e, knobs.KnobError) else f"generate.py: {e}", file=sys.stderr)
        return 2
    if a.list_queries:
        text = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in dashboards.list_queries(dash, dict(a.var or [])))
        if a.list_queries == "-":
            sys.stdout.write(text)
        else:
            with open(a.list_queries, "w", encoding="utf-8") as f:
                f.write(text)
        return 0
    if a.check:
        bad = stale_files(REPO, files)
        for rel in bad:
            old = read(os.path.join(REPO, rel))
            if old is None:
                print(f"missing: {rel}")
            elif rel not in files:
                print(f"not generated (delete it, or add it to the generator): {rel}")
            else:
                diff = difflib.unified_diff(old.splitlines(), files[rel].splitlines(),
                                            f"a/{rel}", f"b/{rel}", lineterm="", n=1)
                print("\n".join(list(diff)[:40]))
        if bad:
            print(f"generate.py --check: {len(bad)} generated file(s) differ from monitoring/config.yaml "
                  "+ monitoring/metrics.json: run python3 monitoring/generate.py (never edit them by hand)",
                  file=sys.stderr)
            return 1
        print(f"generate.py --check: {len(files)} generated files up to date")
        return 0
    root = os.path.abspath(a.out) if a.out else REPO
    if a.out:
        os.makedirs(root, exist_ok=True)
    else:
        for rel in stale_files(REPO, files):
            if rel not in files:
                os.remove(os.path.join(REPO, rel))
                print(f"removed {rel}")
    for rel, text in sorted(files.items()):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if read(path) != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote {os.path.relpath(path)}")
    n_alerts = sum(1 for t in files if t.startswith("alerts/tests/"))
    print(f"generate.py: {len(files)} files ({n_alerts} promtool test files) in {os.path.relpath(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
