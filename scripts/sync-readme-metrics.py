#!/usr/bin/env python3
"""Copies the metrics table of docs/metrics.md into README.md (between the "## Metrics" heading
and the next heading), so the two stay identical; tests/it/metrics_doc.rs checks they are."""
import pathlib, re, sys

root = pathlib.Path(__file__).resolve().parent.parent
table = "\n".join(l for l in (root / "docs/metrics.md").read_text().splitlines() if l.startswith("|"))
readme = (root / "README.md").read_text()
lines = readme.splitlines()
try:
    start = lines.index("## Metrics")
except ValueError:
    sys.exit("README.md has no '## Metrics' section")
end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
prose = [l for l in lines[start + 1:end] if not l.startswith("|")]
while prose and not prose[-1].strip():
    prose.pop()
new = lines[:start + 1] + prose + [""] + table.splitlines() + [""] + lines[end:]
(root / "README.md").write_text("\n".join(new) + "\n")
print("README.md metrics table synced")
