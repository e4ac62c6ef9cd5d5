"""Loads monitoring/config.yaml (the defaults) and a user's override file merged over it, and
validates the result. Every problem is a KnobError whose message names the key and the fix."""

import copy
import math
import re

import yaml

DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
SEVERITY_CLASSES = ("critical", "warning")
RUNBOOK_FIELDS = ("alert", "alert_lower")


class KnobError(Exception):
    pass


def seconds(text, key):
    """A Prometheus duration (1h30m, 5m, 0s) in seconds; KnobError naming `key` otherwise."""
    m = DURATION_RE.match(str(text).strip()) if text is not None else None
    if not m or not str(text).strip() or not any(m.groups()):
        raise KnobError(f"{key}: {text!r} is not a duration: write e.g. 30s, 5m, 1h or 1h30m")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def duration(secs):
    """Seconds as a Prometheus duration: 90 -> 1m30s, 3600 -> 1h, 0 -> 0s."""
    if secs == 0:
        return "0s"
    out = ""
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs >= n:
            out += f"{secs // n}{unit}"
            secs %= n
    return out


def minutes_ceil(secs):
    return int(math.ceil(secs / 60))


def merge(base, override, path=""):
    """Maps merged key by key; an override key absent from base is an error naming it."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        here = f"{path}.{k}" if path else str(k)
        if k == "enabled" and path.startswith("alerts.") and path.count(".") == 1:
            out[k] = v  # every alert may be switched off
            continue
        if k not in base:
            known = ", ".join(sorted(map(str, base))) or "(none)"
            raise KnobError(f"{here}: unknown knob (known here: {known})")
        if isinstance(base[k], dict) and base[k] and not isinstance(v, dict):
            raise KnobError(f"{here}: must be a map of knobs, got {v!r}")
        if isinstance(base[k], dict) and base[k]:
            out[k] = merge(base[k], v, here)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_yaml(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise KnobError(f"{path}: cannot read it: {e.strerror}")
    except yaml.YAMLError as e:
        raise KnobError(f"{path}: not valid YAML: {e}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KnobError(f"{path}: must be a YAML map of knobs (see monitoring/config.yaml)")
    return data


def parse_selector(text):
    """[(label, op, value)] of a PromQL matcher list; KnobError if it is not one."""
    out = []
    rest = text.strip()
    pat = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
    while rest:
        m = pat.match(rest)
        if not m:
            raise KnobError(f"selector: {text!r} is not a list of PromQL label matchers: "
                            "write e.g. job=\"cdc-sentinel\" or job=\"a\", namespace=\"kafka\"")
        out.append((m.group(1), m.group(2), m.group(3)))
        rest = rest[m.end():]
    if not out:
        raise KnobError("selector: empty; write e.g. job=\"cdc-sentinel\"")
    return out


def validate(k):
    """Checks the merged knobs and adds derived values under `_` (seconds, parsed selector)."""
    d = {}
    if not isinstance(k.get("selector"), str):
        raise KnobError("selector: must be a string of PromQL matchers, e.g. job=\"cdc-sentinel\"")
    d["matchers"] = parse_selector(k["selector"])
    cl = k.get("cluster_labels")
    if not isinstance(cl, list) or not cl or not all(isinstance(x, str) and re.fullmatch(r"[a-zA-Z_]\w*", x) for x in cl):
        raise KnobError("cluster_labels: must be a non-empty list of label names, e.g. [job]")
    for bad in ("instance", "connector", "target"):
        if bad in cl:
            raise KnobError(f"cluster_labels: {bad!r} cannot name a Connect cluster (it differs between its agents or connectors)")
    tl = k.get("test_labels") or {}
    if not isinstance(tl, dict):
        raise KnobError("test_labels: must be a map label: value")
    labels = {}
    for name, op, value in d["matchers"]:
        if op == "=":
            labels[name] = value
        elif name not in tl:
            raise KnobError(f"selector: the promtool tests need a concrete value for {name} "
                            f"(matcher {name}{op}\"{value}\"): give it in test_labels: {{{name}: ...}}")
    labels.update({str(a): str(b) for a, b in tl.items()})
    for name in cl:
        labels.setdefault(name, f"test-{name}")
    d["test_labels"] = labels
    sev = k.get("severities")
    if not isinstance(sev, dict) or set(sev) != set(SEVERITY_CLASSES):
        raise KnobError("severities: must map critical and warning to severity label values")
    for cls, v in sev.items():
        if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", v):
            raise KnobError(f"severities.{cls}: {v!r} must be a plain label value such as {cls}")
    if sev["critical"] == sev["warning"]:
        raise KnobError("severities: critical and warning must differ (Alertmanager routes on them)")
    url = k.get("runbook_url")
    if not isinstance(url, str) or not re.match(r"^https?://", url):
        raise KnobError("runbook_url: must be an http(s) URL pattern, e.g. https://wiki.example.com/cdc/{alert}")
    if "{{" in url or "}}" in url:
        raise KnobError("runbook_url: use {alert} or {alert_lower}, not {{...}} (Prometheus would read it as a template)")
    for field in re.findall(r"\{([^{}]*)\}", url):
        if field not in RUNBOOK_FIELDS:
            raise KnobError(f"runbook_url: unknown placeholder {{{field}}}; use {{alert}} or {{alert_lower}}")
    alerts = k.get("alerts")
    d["alerts"] = {}
    for name, a in alerts.items():
        key = f"alerts.{name}"
        if not isinstance(a, dict):
            raise KnobError(f"{key}: must be a map (severity, for, ...)")
        if a.get("severity") not in SEVERITY_CLASSES:
            raise KnobError(f"{key}.severity: {a.get('severity')!r} must be critical or warning")
        if not isinstance(a.get("enabled", True), bool):
            raise KnobError(f"{key}.enabled: must be true or false")
        da = {"for": seconds(a.get("for"), f"{key}.for")}
        for sub in ("bridge", "window"):
            if sub in a:
                da[sub] = seconds(a[sub], f"{key}.{sub}")
                if da[sub] < 60 or da[sub] % 60:
                    raise KnobError(f"{key}.{sub}: {a[sub]!r} must be whole minutes, at least 1m")
        d["alerts"][name] = da
    ta = d["alerts"].get("CDCRecoveryTimedOut")
    if ta and ta["bridge"] < 600:
        raise KnobError("alerts.CDCRecoveryTimedOut.bridge: at least 10m, so an agent restart does not page twice")
    fl = alerts["CDCRecoveryFlapping"]
    if not isinstance(fl.get("recoveries"), int) or isinstance(fl.get("recoveries"), bool) or fl["recoveries"] < 2:
        raise KnobError("alerts.CDCRecoveryFlapping.recoveries: a whole number, at least 2")
    if d["alerts"]["CDCRecoveryFlapping"]["window"] < 60 * (fl["recoveries"] - 1) * 2:
        raise KnobError("alerts.CDCRecoveryFlapping.window: too short for that many recoveries "
                        "(at least 2m per recovery)")
    ka = alerts["CDCKubernetesApiFailing"]
    r = ka.get("error_ratio")
    if not isinstance(r, (int, float)) or isinstance(r, bool) or not 0 < r <= 1:
        raise KnobError("alerts.CDCKubernetesApiFailing.error_ratio: a number above 0 and at most 1, e.g. 0.1")
    if not isinstance(ka.get("failing_codes"), str) or not ka["failing_codes"]:
        raise KnobError("alerts.CDCKubernetesApiFailing.failing_codes: a regex of `code` values, e.g. 'error|401|403|5..'")
    if re.search(r'[\\"]', ka["failing_codes"]):
        raise KnobError("alerts.CDCKubernetesApiFailing.failing_codes: no backslashes or quotes; write e.g. 'error|401|403|5..'")
    try:
        re.compile(ka["failing_codes"])
    except re.error as e:
        raise KnobError(f"alerts.CDCKubernetesApiFailing.failing_codes: not a regex: {e}")
    db = k.get("dashboards")
    for name, uid in db["uids"].items():
        if not isinstance(uid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
            raise KnobError(f"dashboards.uids.{name}: {uid!r}: Grafana UIDs are 1-40 letters, digits, - or _")
    if len(set(db["uids"].values())) != len(db["uids"]):
        raise KnobError("dashboards.uids: two dashboards share a UID")
    if db["refresh"] not in ("", None) and db["refresh"] is not False:
        seconds(db["refresh"], "dashboards.refresh")
    if not isinstance(db.get("tags"), list):
        raise KnobError("dashboards.tags: must be a list")
    for key in ("title_prefix", "time_from", "timezone", "datasource"):
        if not isinstance(db.get(key), str):
            raise KnobError(f"dashboards.{key}: must be a string")
    k["_"] = d
    return k


def load(defaults_path, override_path=None):
    base = load_yaml(defaults_path)
    if override_path:
        base = merge(base, load_yaml(override_path))
    return validate(base)
