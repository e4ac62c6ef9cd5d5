"""The agent's table of metrics (monitoring/metrics.json) and PromQL built from it: every metric
name, label name and closed-set label value in a generated rule, test or dashboard goes through
`Ctx.s()` / `Ctx.values()`, which fail on anything the table does not have."""

import json
import re

HIST_SUFFIXES = ("_bucket", "_count", "_sum")


class ModelError(Exception):
    pass


class Metrics:
    def __init__(self, path):
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise ModelError(f"{path}: cannot read the table of metrics: {e}")
        if not isinstance(data, dict) or not isinstance(data.get("metrics"), list):
            raise ModelError(f"{path}: expected {{\"metrics\": [...]}} (cdc-sentinel metrics-doc --format json)")
        self.by_name = {}
        for i, m in enumerate(data["metrics"]):
            where = f"{path}: metrics[{i}]"
            if not isinstance(m, dict) or not isinstance(m.get("name"), str):
                raise ModelError(f"{where}: needs a name")
            if m.get("type") not in ("gauge", "counter", "histogram"):
                raise ModelError(f"{where} {m['name']}: type must be gauge, counter or histogram")
            labels = {}
            for l in m.get("labels", []):
                if not isinstance(l, dict) or not isinstance(l.get("name"), str):
                    raise ModelError(f"{where} {m['name']}: every label needs a name")
                vals = l.get("values")
                if vals is not None and (not isinstance(vals, list) or not all(isinstance(v, str) for v in vals)):
                    raise ModelError(f"{where} {m['name']}: values of label {l['name']} must be a list of strings")
                labels[l["name"]] = vals
            self.by_name[m["name"]] = {"type": m["type"], "labels": labels, "help": m.get("help", ""),
                                       "doc": m.get("doc", "")}

    def resolve(self, series):
        """(metric name, its definition) for a series name, histograms' _bucket/_count/_sum too."""
        if series in self.by_name:
            d = self.by_name[series]
            if d["type"] == "histogram":
                raise ModelError(f"{series} is a histogram: use {series}_bucket, _count or _sum")
            return series, d
        for suf in HIST_SUFFIXES:
            base = series[: -len(suf)]
            if series.endswith(suf) and self.by_name.get(base, {}).get("type") == "histogram":
                return base, self.by_name[base]
        raise ModelError(f"metric {series!r} is not in monitoring/metrics.json")

    def label_values(self, metric, label):
        d = self.by_name.get(metric) or self.resolve(metric)[1]
        if label not in d["labels"]:
            raise ModelError(f"{metric} has no label {label!r} (labels: {sorted(d['labels'])})")
        vals = d["labels"][label]
        if vals is None:
            raise ModelError(f"{metric}{{{label}}} is open-ended: no list of values in metrics.json")
        return list(vals)


class Ctx:
    """Knobs + metrics -> PromQL pieces. `used` collects every metric name asked for."""

    def __init__(self, knobs, metrics):
        self.k = knobs
        self.m = metrics
        self.sel = knobs["selector"].strip()
        self.cl = list(knobs["cluster_labels"])
        self.used = set()

    # label lists
    def by(self, *extra):
        return ", ".join(self.cl + list(extra))

    def s(self, series, _sel=True, _raw=(), **matchers):
        """`series{selector, label="value", ...}`, checked against the table of metrics.

        A matcher value is "v" (=), or a tuple (op, v) with op in = != =~ !~. For closed-set
        labels, = and != values must be known, and a =~ / !~ alternation of plain words too."""
        base, d = self.m.resolve(series)
        self.used.add(series)
        parts = ([self.sel] if _sel else []) + list(_raw)
        for label, spec in matchers.items():
            op, value = ("=", spec) if isinstance(spec, str) else spec
            if label not in d["labels"] and not (label == "le" and series.endswith("_bucket")):
                raise ModelError(f"{base} has no label {label!r} (labels: {sorted(d['labels'])})")
            vals = d["labels"].get(label)
            if vals is not None:
                words = [value] if op in ("=", "!=") else (
                    value.split("|") if re.fullmatch(r"[\w|]+", value) else [])
                for w in words:
                    if w not in vals:
                        raise ModelError(f"{base}{{{label}}} has no value {w!r} (values: {vals})")
            parts.append(f'{label}{op}"{value}"')
        return f"{series}{{{', '.join(parts)}}}"

    def values(self, metric, label):
        self.used.add(metric)
        return self.m.label_values(metric, label)

    def value(self, metric, label, v):
        if v not in self.values(metric, label):
            raise ModelError(f"{metric}{{{label}}} has no value {v!r}")
        return v

    def name(self, series):
        """A bare metric name (for templates), checked."""
        self.m.resolve(series)
        self.used.add(series)
        return series
