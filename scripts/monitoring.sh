#!/usr/bin/env bash
# Your own copy of cdc-sentinel's alert rules, promtool tests, dashboards, runbook and
# Prometheus/Alertmanager examples, from a small file of knobs merged over the defaults
# (monitoring/config.yaml). Nobody edits the generated files: change a knob and run it again.
#
#   scripts/monitoring.sh --config mine.yaml --out dir/
#   scripts/monitoring.sh --out dir/                    # the defaults
#   scripts/monitoring.sh --check                       # the repository's copies are current
#
# mine.yaml holds only what you change, e.g.
#   selector: 'job="kafka-connect-sidecars"'
#   runbook_url: 'https://wiki.example.com/cdc/{alert}'
#   alerts:
#     CDCConnectorRecovering: {for: 15m}
# An unknown knob is an error that names it (exit 2). When promtool is installed, the rules are
# checked and their unit tests (timed from your knobs) run on the result.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)" # paths in the arguments stay relative to where you are
export PYTHONDONTWRITEBYTECODE=1

python3 -c 'import yaml' 2>/dev/null || {
  echo "monitoring.sh: needs python3 with PyYAML (Debian: apt-get install -y python3-yaml; or pip install pyyaml)" >&2
  exit 2
}
out=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --out) out="${args[$((i + 1))]:-}" ;;
    --out=*) out="${args[$i]#--out=}" ;;
  esac
done
python3 "$REPO/monitoring/generate.py" "$@"
if [[ -n "$out" ]]; then
  if command -v promtool >/dev/null 2>&1; then
    promtool check rules "$out/alerts/cdc-sentinel.rules.yml"
    (cd "$out/alerts" && promtool test rules tests/*.test.yml)
  else
    echo "monitoring.sh: promtool not found; check with: promtool check rules $out/alerts/cdc-sentinel.rules.yml" \
      "&& (cd $out/alerts && promtool test rules tests/*.test.yml)" >&2
  fi
  echo "monitoring.sh: load $out/alerts/cdc-sentinel.rules.yml in Prometheus, import $out/dashboards/*.json in Grafana," \
    "route with $out/deploy/alertmanager/alertmanager.yml, publish $out/alerts/runbook.md"
fi
