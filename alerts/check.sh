#!/usr/bin/env bash
# Checks everything under alerts/, dashboards/ and deploy/: run from anywhere.
#
#   alerts/check.sh
#
# Needs promtool, amtool, prometheus and prometheus-alertmanager (Debian:
#   apt-get update && apt-get install -y prometheus prometheus-alertmanager
# ) and python3 (stdlib only). Runs every step even after a failure, prints one line per step
# and a closing "N passed, N failed" line; exits 1 if any step failed, 2 if a tool is missing.
# The two end-to-end steps start Prometheus / Alertmanager on 127.0.0.1 (free ports) and stop
# them again.
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
if ((${#missing[@]})); then
  echo "alerts/check.sh: missing ${missing[*]}." >&2
  echo "  Debian/Ubuntu: apt-get update && apt-get install -y prometheus prometheus-alertmanager python3" >&2
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
import sys; sys.path.insert(0, "alerts")
import check_rules
seen = set()
for r in check_rules.parse_rules("alerts/cdc-sentinel.rules.yml"):
    if r["kind"] == "alert" and r["name"] not in seen:
        seen.add(r["name"]); print(r["name"], r["labels"].get("severity"))
')
  return $rc
}

step "promtool check rules" promtool check rules alerts/cdc-sentinel.rules.yml
step "promtool test rules" promtool test rules alerts/tests/*.yml
step "promtool check config (Prometheus example)" promtool check config deploy/prometheus/prometheus.yml
step "amtool check-config (Alertmanager example)" amtool check-config deploy/alertmanager/alertmanager.yml
step "amtool check-config (e-mail/Slack templates enabled)" check_am_templates
step "amtool routes: critical pages, warning does not" check_am_routes
step "alert metadata, runbook, threshold tables, tests" python3 alerts/check_rules.py
step "dashboards up to date with dashboards/build.py" python3 dashboards/build.py --check
step "dashboards (check_dashboards.py)" python3 alerts/check_dashboards.py
step "docs/monitoring.md describes every panel" python3 dashboards/describe.py --check
step "checker unit tests" python3 -m unittest discover -s alerts/tests -p 'test_*.py'
step "Alertmanager end to end: routing, grouping, inhibition" python3 alerts/tests/alertmanager_e2e.py
step "Prometheus end to end: every dashboard query" python3 alerts/tests/dashboards_e2e.py

echo
if ((failed)); then
  echo "failed: ${failed_steps[*]}"
fi
echo "check: $passed passed, $failed failed"
((failed == 0))
