#!/usr/bin/env python3
"""Validates the Grafana dashboards and lists their queries (python3, stdlib only).

    python3 alerts/check_dashboards.py [DASHBOARD.json ...]
        Checks every dashboard (default: dashboards/*.json). Exit 1 on any problem:
        - the file parses as JSON and looks like a dashboard (title, uid, panels, templating);
        - a `datasource` variable of type datasource, query prometheus; `connector` and `target`
          variables of type query using label_values(...);
        - no datasource UID literal anywhere (every datasource is `${datasource}`), no
          `${DS_...}` import placeholders, no `__inputs`;
        - every panel with queries uses the `${datasource}` variable; panel ids are unique;
        - every metric name in a PromQL expression (panels, variables, annotations) is in
          docs/metrics.md (histograms as _bucket/_sum/_count) or is a recording rule defined in
          alerts/*.yml;
        - dashboard variables appear only inside regex matchers (label=~"$var"), so every query
          can be evaluated outside Grafana with `.+` in their place; brackets and quotes balance.

    python3 alerts/check_dashboards.py --list-queries FILE [--var NAME=VALUE ...] [DASHBOARD ...]
        Also writes every query to FILE ('-' = stdout), one JSON object per line:
        {"dashboard", "uid", "kind" (panel|variable|annotation), "panel", "panel_id", "ref_id",
         "instant", "expr" (as in Grafana), "promql" (variables substituted, ready for
         /api/v1/query)}. Substitutions: $__interval and $__rate_interval -> 1m, $__range -> 1h,
        $__range_s -> 3600, dashboard variables -> .+ unless given with --var.
"""

import glob
import json
import os
import re
import sys

ALERTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(ALERTS_DIR)
METRICS_DOC = os.path.join(REPO, "docs", "metrics.md")

# PromQL words that are not metric names.
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan", "atan2", "start", "end",
    # aggregation operators (also written `sum by (x) (...)`, where no "(" follows the name)
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}
BUILTIN_VARS = {
    "__interval": "1m", "__rate_interval": "1m", "__range": "1h", "__range_s": "3600",
    "__range_ms": "3600000", "__interval_ms": "60000",
}


# ---------------------------------------------------------------------------------------------
# What exists


def documented_metrics(path=METRICS_DOC):
    """Queryable series names from the docs/metrics.md table: {name: type}."""
    names = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(\w+)\s*\|", line)
            if not m:
                continue
            name, kind = m.group(1), m.group(2)
            if kind == "histogram":
                for suffix in ("_bucket", "_sum", "_count"):
                    names[name + suffix] = "histogram" + suffix
                names[name] = "histogram (use _bucket, _sum or _count)"
            else:
                names[name] = kind
    if not names:
        raise SystemExit(f"no metrics found in {path}")
    return names


def rule_files():
    return sorted(glob.glob(os.path.join(ALERTS_DIR, "*.yml"))
                  + glob.glob(os.path.join(ALERTS_DIR, "*.yaml")))


def recording_rules():
    names = set()
    for path in rule_files():
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^\s*(?:-\s+)?record:\s*['\"]?([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
                if m:
                    names.add(m.group(1))
    return names


def known_names():
    metrics = documented_metrics()
    ok = {n for n, kind in metrics.items() if not kind.startswith("histogram (")}
    return metrics, ok | recording_rules()


# ---------------------------------------------------------------------------------------------
# PromQL scanning (enough to find metric names, not a parser)

STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
VAR_RE = re.compile(r"\$\{([a-zA-Z_]\w*)(?::\w+)?\}|\$([a-zA-Z_]\w*)|\[\[([a-zA-Z_]\w*)\]\]")


def strip_strings(expr):
    return STRING_RE.sub('""', expr)


def balanced(expr):
    """Brackets balance and strings close."""
    rest = STRING_RE.sub('""', expr)
    if re.search(r"[\"'`]", rest.replace('""', "")):
        return "unterminated string"
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in rest:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return f"unbalanced {ch!r}"
    if stack:
        return f"unclosed {stack[-1]!r}"
    return None


def metric_names(expr):
    """Metric names referenced by a PromQL expression."""
    s = strip_strings(expr)
    s = VAR_RE.sub("x", s)
    s = re.sub(r"\{[^{}]*\}", " ", s)          # label matchers
    s = re.sub(r"\[[^\[\]]*\]", " ", s)        # ranges and subqueries
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", r" \1 ", s)
    names = set()
    token = re.compile(r"(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[smhdwy]?)|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
    for m in token.finditer(s):
        ident, call = m.group(2), m.group(3)
        if not ident or call or ident in KEYWORDS:
            continue
        names.add(ident)
    return names


def variables_outside_regex(expr):
    """Dashboard variables used anywhere but inside a =~ / !~ matcher string."""
    bad = []
    # Variables inside regex matcher strings are fine; blank those strings out first.
    s = re.sub(r'(=~|!~)\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')', r"\1 ''", expr)
    for m in VAR_RE.finditer(s):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in BUILTIN_VARS:
            bad.append(name)
    return bad


def substitute(expr, values):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in BUILTIN_VARS:
            return BUILTIN_VARS[name]
        return values.get(name, ".+")
    return VAR_RE.sub(repl, expr)


LABEL_VALUES_RE = re.compile(r"^\s*label_values\s*\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$", re.S)


def variable_promql(query):
    """The PromQL inside a Prometheus variable query, or None (label_values(label), ...)."""
    m = LABEL_VALUES_RE.match(query)
    if m:
        return m.group(1)
    m = re.match(r"^\s*query_result\s*\((.*)\)\s*$", query, re.S)
    if m:
        return m.group(1)
    return None


# ---------------------------------------------------------------------------------------------
# Dashboards


def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def is_ds_var(value):
    return value in ("${datasource}", "$datasource")


def find_datasource_literals(node, path="$"):
    """Every datasource reference that is not the ${datasource} variable."""
    bad = []
    if isinstance(node, dict):
        for k, v in node.items():
            here = f"{path}.{k}"
            if k == "datasource":
                if isinstance(v, dict):
                    uid = v.get("uid")
                    if uid is not None and not is_ds_var(uid):
                        bad.append(f"{here}.uid = {uid!r}")
                    if v.get("type") not in (None, "prometheus", "datasource"):
                        bad.append(f"{here}.type = {v.get('type')!r}")
                elif isinstance(v, str) and not is_ds_var(v):
                    bad.append(f"{here} = {v!r}")
            bad.extend(find_datasource_literals(v, here))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            bad.extend(find_datasource_literals(v, f"{path}[{i}]"))
    elif isinstance(node, str) and "${DS_" in node:
        bad.append(f"{path} uses an import placeholder: {node!r}")
    return bad


def queries(dash):
    """(kind, panel title, panel id, refId, instant, expr) for every PromQL query."""
    out = []
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query", "")
        promql = variable_promql(q or "")
        if promql is not None:
            out.append(("variable", "$" + v.get("name", "?"), None, None, True, promql))
    for a in dash.get("annotations", {}).get("list", []):
        expr = a.get("expr") or (a.get("target") or {}).get("expr")
        if expr:
            out.append(("annotation", a.get("name", "?"), None, None, False, expr))
    for p in walk_panels(dash.get("panels")):
        for t in p.get("targets") or []:
            if "expr" in t:
                out.append(("panel", p.get("title", "?"), p.get("id"), t.get("refId"),
                            bool(t.get("instant")) and not t.get("range"), t["expr"]))
    return out


def check_dashboard(path, names_ok, metrics):
    errors = []

    def err(msg):
        errors.append(f"{os.path.relpath(path, REPO)}: {msg}")

    try:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        err(f"not valid JSON: {e}")
        return errors, None
    if not isinstance(dash, dict):
        err("not a JSON object")
        return errors, None
    for key in ("title", "uid", "panels", "templating", "schemaVersion"):
        if key not in dash:
            err(f"missing {key!r}")
    if "__inputs" in dash:
        err("has __inputs (exported for sharing with a fixed datasource); use the ${datasource} variable")

    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        err("needs a variable `datasource` of type datasource with query prometheus")
    for name in ("connector", "target"):
        v = variables.get(name)
        q = v.get("query") if v else None
        if isinstance(q, dict):
            q = q.get("query")
        if not v or v.get("type") != "query" or not LABEL_VALUES_RE.match(q or ""):
            err(f"needs a variable `{name}` of type query using label_values(...)")
        elif not is_ds_var((v.get("datasource") or {}).get("uid") if isinstance(v.get("datasource"), dict) else v.get("datasource")):
            err(f"variable `{name}` must query the ${{datasource}} variable")

    for lit in find_datasource_literals(dash):
        err(f"datasource must be the ${{datasource}} variable, found {lit}")

    ids = {}
    for p in walk_panels(dash.get("panels")):
        pid = p.get("id")
        if pid in ids:
            err(f"panel id {pid} used by {ids[pid]!r} and {p.get('title')!r}")
        ids[pid] = p.get("title")
        if "gridPos" not in p:
            err(f"panel {p.get('title')!r} has no gridPos")
        if p.get("targets"):
            ds_ref = p.get("datasource")
            uid = ds_ref.get("uid") if isinstance(ds_ref, dict) else ds_ref
            if not is_ds_var(uid):
                err(f"panel {p.get('title')!r} must use the ${{datasource}} variable")
            refs = [t.get("refId") for t in p["targets"]]
            if len(refs) != len(set(refs)):
                err(f"panel {p.get('title')!r} has duplicate refIds {refs}")

    qs = queries(dash)
    if not any(kind == "panel" for kind, *_ in qs):
        err("no panel queries")
    for kind, title, _pid, ref, _instant, expr in qs:
        where = f"{kind} {title!r}" + (f" query {ref}" if ref else "")
        problem = balanced(expr)
        if problem:
            err(f"{where}: {problem} in {expr!r}")
        for var in variables_outside_regex(expr):
            err(f"{where}: variable ${var} outside a =~ matcher in {expr!r}")
        for var in {m.group(1) or m.group(2) or m.group(3) for m in VAR_RE.finditer(expr)}:
            if var not in BUILTIN_VARS and var not in variables:
                err(f"{where}: undefined variable ${var}")
        for name in sorted(metric_names(expr)):
            if name not in names_ok:
                hint = ""
                if name in metrics:
                    hint = f" ({metrics[name]})"
                err(f"{where}: unknown metric {name!r}{hint}: not in docs/metrics.md nor a recording rule in alerts/")
    return errors, dash


def main(argv):
    args = argv[1:]
    list_to = None
    var_values = {}
    files = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--list-queries":
            if i + 1 >= len(args):
                print("--list-queries needs a FILE ('-' for stdout)", file=sys.stderr)
                return 2
            list_to = args[i + 1]
            i += 2
            continue
        if a == "--var":
            if i + 1 >= len(args) or "=" not in args[i + 1]:
                print("--var needs NAME=VALUE", file=sys.stderr)
                return 2
            k, v = args[i + 1].split("=", 1)
            var_values[k] = v
            i += 2
            continue
        if a in ("-h", "--help"):
            print(__doc__)
            return 0
        files.append(a)
        i += 1
    if not files:
        files = sorted(glob.glob(os.path.join(REPO, "dashboards", "*.json")))
    if not files:
        print("no dashboards found", file=sys.stderr)
        return 1

    metrics, names_ok = known_names()
    all_errors = []
    listed = []
    for path in files:
        errors, dash = check_dashboard(path, names_ok, metrics)
        all_errors.extend(errors)
        if dash is None:
            continue
        for kind, title, pid, ref, instant, expr in queries(dash):
            listed.append({
                "dashboard": os.path.relpath(os.path.abspath(path), REPO),
                "uid": dash.get("uid"),
                "kind": kind,
                "panel": title,
                "panel_id": pid,
                "ref_id": ref,
                "instant": instant,
                "expr": expr,
                "promql": substitute(expr, var_values),
            })

    if list_to is not None:
        text = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in listed)
        if list_to == "-":
            sys.stdout.write(text)
        else:
            with open(list_to, "w", encoding="utf-8") as f:
                f.write(text)

    for e in all_errors:
        print(e, file=sys.stderr)
    out = sys.stderr if list_to == "-" else sys.stdout
    if all_errors:
        print(f"dashboards: {len(all_errors)} problem(s) in {len(files)} file(s)", file=out)
        return 1
    print(f"dashboards: {len(files)} file(s), {len(listed)} queries OK", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
