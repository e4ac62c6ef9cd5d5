#!/usr/bin/env bash
# End to end with the real monitoring stack (issue 4): the agent against the simulated Kafka
# Connect worker and a TCP database stand-in, scraped by a real Prometheus that evaluates
# alerts/cdc-sentinel.rules.yml (unmodified, real `for:` durations) and alerts a real
# Alertmanager, whose webhook this test receives. Then every dashboard query is evaluated on the
# data the scenario produced. See scenario.py for the steps; about 2.5 minutes.
#
#   bash tests/e2e/prometheus/run.sh          # from anywhere; CI runs it from the repo root
#
# Needs prometheus and prometheus-alertmanager (Debian packages; installed here with apt-get if
# missing and we are root) and python3 (stdlib). Builds target/debug/cdc-sentinel when it is
# missing or older than src/ (set CDC_SENTINEL_BIN to use another binary), and the simulator
# target/debug/cdc-sentinel-sim (CDC_SENTINEL_SIM_BIN).
# Exit 0 when every check passed, 1 on a failed check, 2 when a tool is missing. Last line:
# "N passed, N failed".
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
    if ! cargo build --quiet --bin cdc-sentinel --bin cdc-sentinel-sim; then
      echo "prometheus e2e: cargo build of cdc-sentinel and cdc-sentinel-sim failed" >&2
      echo "0 passed, 1 failed"
      exit 1
    fi
  fi
  export CDC_SENTINEL_BIN="${CDC_SENTINEL_BIN:-$bin}"
  export CDC_SENTINEL_SIM_BIN="${CDC_SENTINEL_SIM_BIN:-$sim}"
fi

# exec: the Python script is then the process CI signals; it stops everything it started (by
# PID) on exit, on SIGTERM/SIGINT, and its children get SIGTERM if it is killed outright.
exec python3 "$HERE/scenario.py" "$@"
