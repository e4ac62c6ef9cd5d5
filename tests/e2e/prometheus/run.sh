#!/usr/bin/env bash
# End to end with the real monitoring stack (issues 4 and 15): the agent against the simulated
# Kafka Connect worker and a TCP database stand-in, scraped by a real Prometheus that evaluates
# the rules monitoring/generate.py renders (real `for:` durations) and alerts a real
# Alertmanager, whose webhook this test receives. Then every dashboard query is evaluated on the
# data the scenario produced. Two runs (see scenario.py):
#   1. the default knobs (monitoring/config.yaml), the full scenario, about 2.5 minutes;
#   2. tests/e2e/prometheus/custom.yaml (job kafka-connect-sidecars, runbook links on a wiki,
#      severity names page/ticket), without the short outage, about 1.5 minutes: the page must
#      reach the webhook with that job, severity and link.
#
#   bash tests/e2e/prometheus/run.sh          # from anywhere; CI runs it from the repo root
#
# Needs prometheus and prometheus-alertmanager (Debian packages; installed here with apt-get if
# missing and we are root) and python3 with PyYAML. Binaries, one variable each:
#   CDC_SENTINEL_BIN      the agent; default target/debug/cdc-sentinel
#   CDC_SENTINEL_SIM_BIN  the simulated Kafka Connect worker (the sim crate's own binary);
#                         default target/debug/cdc-sentinel-sim
# both built when missing or older than their sources.
# Exit 0 when every check passed, 1 on a failed check, 2 when a tool is missing. Last line:
# "N passed, N failed" (both runs).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
cd "$REPO"
export PYTHONDONTWRITEBYTECODE=1

have_am() { command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1; }
if ! command -v prometheus >/dev/null 2>&1 || ! have_am; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "prometheus e2e: installing prometheus prometheus-alertmanager with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
    # Debian starts the packaged services; this test runs its own private servers.
    (service prometheus stop >/dev/null 2>&1 || true)
    (service prometheus-alertmanager stop >/dev/null 2>&1 || true)
  fi
fi
if ! command -v prometheus >/dev/null 2>&1 || ! have_am || ! command -v python3 >/dev/null 2>&1; then
  echo "prometheus e2e: prometheus, prometheus-alertmanager and python3 are needed:" >&2
  echo "  apt-get update && apt-get install -y prometheus prometheus-alertmanager python3" >&2
  echo "0 passed, 1 failed"
  exit 2
fi

# The agent and the simulated Kafka Connect (the sim crate's own binary, not part of the agent).
if [[ -z "${CDC_SENTINEL_BIN:-}" || -z "${CDC_SENTINEL_SIM_BIN:-}" ]]; then
  bin="$REPO/target/debug/cdc-sentinel"
  sim="$REPO/target/debug/cdc-sentinel-sim"
  if [[ ! -x "$bin" || ! -x "$sim" ]] || [[ -n "$(find src probe sim Cargo.toml Cargo.lock -newer "$bin" -print -quit)" ]]; then
    echo "prometheus e2e: cargo build (the binaries are missing or older than the sources)"
    if ! { cargo build --quiet --bin cdc-sentinel && cargo build --quiet -p cdc-sentinel-sim; }; then
      echo "prometheus e2e: cargo build of cdc-sentinel and cdc-sentinel-sim failed" >&2
      echo "0 passed, 1 failed"
      exit 1
    fi
  fi
  export CDC_SENTINEL_BIN="${CDC_SENTINEL_BIN:-$bin}"
  export CDC_SENTINEL_SIM_BIN="${CDC_SENTINEL_SIM_BIN:-$sim}"
fi

# Each run stops everything it started (by PID) on exit, on SIGTERM/SIGINT, and its children
# get SIGTERM if it is killed outright. This script forwards SIGTERM/SIGINT to the run in progress.
child=""
trap '[[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null; wait; exit 143' TERM INT
total_passed=0
total_failed=0
rc=0
run() {
  local log
  log=$(mktemp)
  python3 "$HERE/scenario.py" "$@" > >(tee "$log") 2>&1 &
  child=$!
  local status=0
  wait "$child" || status=$?
  child=""
  sleep 0.2 # let tee flush
  local last
  last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
  rm -f "$log"
  if [[ -z "$last" ]]; then
    total_failed=$((total_failed + 1)) # the run died before its summary line
  else
    total_passed=$((total_passed + ${last%% passed*}))
    local f=${last#*, }
    total_failed=$((total_failed + ${f%% failed*}))
  fi
  if ((status > rc)); then rc=$status; fi
}
echo "==> run 1: default knobs (monitoring/config.yaml)"
run
echo
echo "==> run 2: non-default knobs (tests/e2e/prometheus/custom.yaml)"
run --config "$HERE/custom.yaml" --quick
echo
echo "$total_passed passed, $total_failed failed"
exit "$rc"
