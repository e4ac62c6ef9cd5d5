#!/usr/bin/env bash
# Checks everything monitoring: the generated files under alerts/, dashboards/, deploy/ and the
# docs are what monitoring/config.yaml + monitoring/metrics.json give, and they mean what they
# say. Run from anywhere:
#
#   alerts/check.sh
#
# Needs promtool, amtool, prometheus and prometheus-alertmanager (Debian:
#   apt-get update && apt-get install -y prometheus prometheus-alertmanager
# ) and python3 with PyYAML. Runs every step even after a failure, prints one line per step and
# a closing "N passed, N failed" line; exits 1 if any step failed, 2 if a tool is missing. The
# two end-to-end steps start Prometheus / Alertmanager on 127.0.0.1 (free ports) and stop them
# again (by PID).
set -u

cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the work tree

missing=()
for tool in promtool amtool prometheus python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ! command -v prometheus-alertmanager >/dev/null 2>&1 && ! command -v alertmanager >/dev/null 2>&1; then
  missing+=("prometheus-alertmanager")
fi
python3 -c 'import yaml' 2>/dev/null || missing+=("python3-yaml")
if ((${#missing[@]})); then
  echo "alerts/check.sh: missing ${missing[*]}." >&2
  echo "  Debian/Ubuntu: apt-get update && apt-get install -y prometheus prometheus-alertmanager python3 python3-yaml" >&2
  echo "  (promtool and prometheus come with 'prometheus', amtool with 'prometheus-alertmanager')." >&2
  exit 2
fi

passed=0
failed=0
failed_steps=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

step() {
  local name=$1
  shift
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    echo "ok    $name"
  else
    failed=$((failed + 1))
    failed_steps+=("$name")
    echo "FAIL  $name"
    sed 's/^/      /' "$log"
  fi
}

# The e-mail and Slack receivers are commented-out templates: check them uncommented too, so
# they still work when someone enables them.
check_am_templates() {
  local dir
  dir=$(mktemp -d)
  python3 - deploy/alertmanager/alertmanager.yml >"$dir/alertmanager.yml" <<'EOF' || { rm -rf "$dir"; return 1; }
import re, sys
section = None
for line in open(sys.argv[1], encoding="utf-8"):
    m = re.match(r"^(\w+):", line)
    if m:
        section = m.group(1)
    if section in ("global", "receivers"):
        line = re.sub(r"^(\s+)# ", r"\1", line)
    sys.stdout.write(line)
EOF
  grep -q "email_configs:" "$dir/alertmanager.yml" && grep -q "slack_configs:" "$dir/alertmanager.yml" \
    && amtool check-config "$dir/alertmanager.yml"
  local rc=$?
  rm -rf "$dir"
  return $rc
}

# Every critical alert routes to the paging receiver, every warning to the other one.
check_am_routes() {
  local rc=0 name sev want
  while read -r name sev; do
    case $sev in critical) want=cdc-page ;; *) want=cdc-warning ;; esac
    amtool config routes test --config.file=deploy/alertmanager/alertmanager.yml \
      --verify.receivers="$want" alertname="$name" severity="$sev" connector=x job=cdc-sentinel \
      2>/dev/null || { echo "$name (severity $sev) does not route to $want"; rc=1; }
  done < <(python3 -c '
import yaml
doc = yaml.safe_load(open("alerts/cdc-sentinel.rules.yml"))
for g in doc["groups"]:
    for r in g["rules"]:
        if "alert" in r:
            print(r["alert"], r["labels"]["severity"])
')
  return $rc
}

# The same story under knobs far from the defaults (other job and labels, severities, runbook
# links, for: durations, windows, counts, ratios, one alert switched off): the generated tests
# must follow every knob, so they keep testing the threshold they guard.
check_odd_knobs() {
  local dir rc=0
  dir=$(mktemp -d)
  python3 monitoring/generate.py --config monitoring/tests/odd.yaml --out "$dir" >/dev/null \
    && promtool check rules "$dir/alerts/cdc-sentinel.rules.yml" \
    && (cd "$dir/alerts" && promtool test rules tests/*.test.yml) \
    && python3 monitoring/lint.py "$dir" \
    && promtool check config "$dir/deploy/prometheus/prometheus.yml" \
    && amtool check-config "$dir/deploy/alertmanager/alertmanager.yml" \
    && ! grep -rq 'job="cdc-sentinel"' "$dir/alerts/cdc-sentinel.rules.yml" "$dir/alerts/tests" "$dir/dashboards" "$dir/deploy" \
    && grep -q "https://wiki.example.com/cdc/CDCRecoveryTimedOut" "$dir/alerts/cdc-sentinel.rules.yml" || rc=1
  rm -rf "$dir"
  return $rc
}

# Issue 15's definition of done: no configuration instruction tells anyone to edit files with
# sed (the pattern is bracketed so that this line does not find itself).
no_sed_instructions() {
  ! grep -rn 'sed -[i]' README.md docs alerts deploy
}

step "generated files match monitoring/config.yaml + metrics.json" python3 monitoring/generate.py --check
step "promtool check rules" promtool check rules alerts/cdc-sentinel.rules.yml
step "promtool test rules" promtool test rules alerts/tests/*.test.yml
step "non-default knobs: generate, promtool check + test, lint" check_odd_knobs
step "every alert: severity, summary, description, runbook section, tests" python3 monitoring/lint.py
step "knob overrides and their errors (unit tests)" python3 -m unittest discover -s monitoring/tests
step "promtool check config (Prometheus example)" promtool check config deploy/prometheus/prometheus.yml
step "amtool check-config (Alertmanager example)" amtool check-config deploy/alertmanager/alertmanager.yml
step "amtool check-config (e-mail/Slack templates enabled)" check_am_templates
step "amtool routes: critical pages, warning does not" check_am_routes
step "no configuration instruction says sed" no_sed_instructions
step "Alertmanager end to end: routing, grouping, inhibition" python3 alerts/tests/alertmanager_e2e.py
step "Prometheus end to end: every dashboard query" python3 alerts/tests/dashboards_e2e.py
step "Prometheus end to end: every dashboard query, non-default knobs" python3 alerts/tests/dashboards_e2e.py --config monitoring/tests/odd.yaml

echo
if ((failed)); then
  echo "failed: ${failed_steps[*]}"
fi
echo "check: $passed passed, $failed failed"
((failed == 0))
